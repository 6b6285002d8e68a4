"""Connectors to city data portals and the Census: paging, retries, caching, provenance."""

"""Boundary layers and the spatial join of requests to them."""

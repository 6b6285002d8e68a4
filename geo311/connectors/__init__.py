"""Connectors to city data portals and the Census: paging, retries, caching, provenance.

=================================  ==============================================
module                             holds
=================================  ==============================================
:mod:`~geo311.connectors._client`  the HTTP client: timeouts, retries, cache, redaction
:mod:`~geo311.connectors._paging`  the download skeleton: page store, progress,
                                   totals check and resume, provenance
:mod:`~geo311.connectors.arcgis`   :func:`fetch_arcgis`, :func:`city_layer_url`
:mod:`~geo311.connectors.socrata`  :func:`fetch_socrata`
:mod:`~geo311.connectors.open311`  :func:`fetch_open311`, :func:`open311_windows`
:mod:`~geo311.connectors.boundaries`  :func:`fetch_boundaries`
:mod:`~geo311.connectors.census`   :func:`fetch_acs`, :func:`fetch_tiger_tracts`
=================================  ==============================================
"""

from geo311.connectors._client import HttpClient
from geo311.connectors._paging import FetchProgress, FetchResult
from geo311.connectors.arcgis import city_layer_url, fetch_arcgis
from geo311.connectors.boundaries import fetch_boundaries
from geo311.connectors.census import fetch_acs, fetch_tiger_tracts
from geo311.connectors.open311 import fetch_open311, open311_windows
from geo311.connectors.socrata import fetch_socrata

__all__ = [
    "FetchProgress",
    "FetchResult",
    "HttpClient",
    "city_layer_url",
    "fetch_acs",
    "fetch_arcgis",
    "fetch_boundaries",
    "fetch_open311",
    "fetch_socrata",
    "fetch_tiger_tracts",
    "open311_windows",
]

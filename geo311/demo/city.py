"""The synthetic demo city in memory: :class:`DemoCity`, its layers and its profile.

:func:`make_demo_city` builds the geography (:mod:`geo311.demo.geography`) and
the raw export (:mod:`geo311.demo.requests`) from one seed;
:func:`demo_layers` and :func:`demo_manifest` describe the city to
:func:`geo311.pipeline.run` as a city profile with its layers already loaded.

Examples
--------
>>> city = make_demo_city(n_requests=1_000)
>>> sorted(city.layers)
['census_tracts', 'council_districts', 'neighborhoods']
>>> len(city.requests), int(city.layers["census_tracts"]["pop_2020"].sum()) == DEMO_POPULATION
(1000, True)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo311._errors import OptionError
from geo311.demo.geography import (
    DEMO_POPULATION,
    N_DISTRICTS,
    N_NEIGHBORHOODS,
    N_TRACTS,
    PROJECTED_CRS,
    TIMEZONE,
    build_geography,
)
from geo311.demo.requests import AS_OF_LOCAL, MIN_REQUESTS, build_requests
from geo311.io.proposal import toml_string
from geo311.join.layers import Layer, read_layer
from geo311.join.manifest import CityManifest, parse_manifest

__all__ = [
    "CITY",
    "LAYER_FILES",
    "LAYER_ID_FIELDS",
    "MANIFEST_FILE",
    "DemoCity",
    "demo_layers",
    "demo_manifest",
    "demo_manifest_toml",
    "make_demo_city",
]

log = logging.getLogger(__name__)

#: Id column of each demo layer (every layer's name column is ``name``).
LAYER_ID_FIELDS = {
    "neighborhoods": "nbhd_id",
    "council_districts": "district",
    "census_tracts": "geoid",
}
#: File of each demo layer, beside the manifest (:data:`MANIFEST_FILE`).
LAYER_FILES = {key: f"{key}.geojson" for key in LAYER_ID_FIELDS}
#: The demo's city key, as recorded in every table's metadata.
CITY = "demo"
#: File name of the demo's boundary manifest (:func:`demo_manifest_toml`).
MANIFEST_FILE = f"{CITY}.toml"
#: The demo city's title.
TITLE = "Demo City (synthetic)"
#: Where the demo's layers come from, as recorded in every table's metadata.
SOURCE = "geo311.demo (synthetic)"


@dataclass(frozen=True)
class DemoCity:
    """A synthetic city: boundary layers, a raw 311 export and what was planted in it.

    Attributes
    ----------
    layers : dict of str to geopandas.GeoDataFrame
        ``neighborhoods`` (``nbhd_id``, ``name``, ``district``),
        ``council_districts`` (``district``, ``name``) and ``census_tracts``
        (``geoid``, ``name``, ``pop_2020``, ``median_hh_income``), all with a
        ``synthetic`` column, in EPSG:4326.
    requests : pandas.DataFrame
        The raw export in Open311 GeoReport Bulk CSV layout (:data:`BULK_COLUMNS`),
        every value a string ("" when empty), exactly as written to the CSV.
    defects : dict of str to int
        Rows of each injected defect (keys of :data:`DEFECT_RATES`).
    as_of : pandas.Timestamp
        When the export was taken (UTC).
    timezone : str
        IANA time zone of the city's clocks.
    outline : geopandas.GeoDataFrame
        The city limits, one polygon, EPSG:4326.
    projected_crs : str
        CRS to measure areas and distances in.
    population : int
        Total population (sum of the tracts' ``pop_2020``).
    seed : int
        The seed the city was built from.
    """

    layers: dict[str, gpd.GeoDataFrame]
    requests: pd.DataFrame
    defects: dict[str, int]
    as_of: pd.Timestamp
    timezone: str
    outline: gpd.GeoDataFrame
    projected_crs: str
    population: int
    seed: int


def make_demo_city(*, seed: int = 311, n_requests: int = 50_000) -> DemoCity:
    """Build the synthetic demo city in memory, deterministically.

    Parameters
    ----------
    seed : int, default 311
        Seed of :func:`numpy.random.default_rng`; the same seed always gives
        the same city and the same export, value for value.
    n_requests : int, default 50,000
        Rows of the export, including the repeated rows planted as defects.
        At least :data:`MIN_REQUESTS`.

    Returns
    -------
    DemoCity
        Layers, the raw Bulk CSV frame, the planted defect counts, the export
        time and the time zone.

    Raises
    ------
    OptionError
        If ``n_requests`` is below :data:`MIN_REQUESTS` or ``seed`` is negative.

    Examples
    --------
    >>> city = make_demo_city(seed=1, n_requests=500)
    >>> city.requests.loc[0, "service_request_id"], city.timezone
    ('25-00000001', 'America/New_York')
    >>> city.defects["placeholder"] >= 10
    True
    """
    if n_requests < MIN_REQUESTS:
        msg = f"n_requests must be at least {MIN_REQUESTS} (got {n_requests})"
        raise OptionError(msg)
    if seed < 0:
        msg = f"seed must be a non-negative integer (got {seed})"
        raise OptionError(msg)
    rng = np.random.default_rng(seed)
    as_of = pd.Timestamp(AS_OF_LOCAL, tz=TIMEZONE).tz_convert("UTC")
    geo = build_geography(rng)
    as_of_naive = as_of.tz_localize(None).to_datetime64().astype("datetime64[s]")
    requests, defects = build_requests(rng, geo, n_requests, as_of_naive)
    outline = gpd.GeoDataFrame(
        {"name": [TITLE], "synthetic": [True]},
        geometry=[geo.outline],
        crs=PROJECTED_CRS,
    ).to_crs("EPSG:4326")
    log.info(
        "built synthetic demo city (seed %d): %s requests, %d neighborhoods, %d districts, "
        "%d tracts, %s planted defects",
        seed,
        f"{len(requests):,}",
        N_NEIGHBORHOODS,
        N_DISTRICTS,
        N_TRACTS,
        f"{sum(defects.values()):,}",
    )
    return DemoCity(
        layers=geo.layers,
        requests=requests,
        defects=defects,
        as_of=as_of,
        timezone=TIMEZONE,
        outline=outline,
        projected_crs=PROJECTED_CRS,
        population=DEMO_POPULATION,
        seed=seed,
    )


def demo_layers(city: DemoCity) -> dict[str, list[Layer]]:
    """Return the demo city's layers as validated :class:`geo311.Layer` objects.

    Each layer has one vintage, ``"synthetic"``, valid at all times.
    """
    return {
        key: [
            read_layer(
                frame,
                key=key,
                id_field=LAYER_ID_FIELDS[key],
                name_field="name",
                vintage="synthetic",
                source=SOURCE,
                projected_crs=city.projected_crs,
            ).layer
        ]
        for key, frame in city.layers.items()
    }


def demo_manifest_toml(city: DemoCity) -> str:
    """Return the boundary manifest of the demo city as TOML text.

    Its layers' files are :data:`LAYER_FILES`, relative to the manifest:
    :func:`geo311.demo.write_demo_inputs` writes the text as
    :data:`MANIFEST_FILE` in the folder of the layers, so the tables of a
    demo run name a manifest that ``geo311 maps`` (and :func:`geo311.load_layers`)
    can read back.

    Examples
    --------
    >>> print(demo_manifest_toml(make_demo_city(n_requests=100)).splitlines()[2])
    city = "demo"
    """
    lines = [
        f"# SYNTHETIC, NOT A REAL CITY: boundary manifest of the geo311 demo (seed {city.seed}).",
        "# Layer files are relative to this file.",
        f"city = {toml_string(CITY)}",
        f"title = {toml_string(TITLE)}",
        f"timezone = {toml_string(city.timezone)}",
        f"projected_crs = {toml_string(city.projected_crs)}",
        'district_layer = "council_districts"',
        'tract_layer = "census_tracts"',
        "site_layers = [" + ", ".join(map(toml_string, LAYER_ID_FIELDS)) + "]",
    ]
    for key, id_field in LAYER_ID_FIELDS.items():
        lines += [
            "",
            f"[layers.{key}]",
            f"title = {toml_string(key.replace('_', ' ').capitalize())}",
            f"id_field = {toml_string(id_field)}",
            'name_field = "name"',
            "",
            f"[[layers.{key}.vintages]]",
            'vintage = "synthetic"',
            f"source = {toml_string(SOURCE)}",
            f"publisher = {toml_string(SOURCE)}",
            f"file = {toml_string(LAYER_FILES[key])}",
            'crs = "EPSG:4326"',
        ]
    return "\n".join(lines) + "\n"


def demo_manifest(city: DemoCity) -> CityManifest:
    """Return the city profile of the demo city, for :func:`geo311.pipeline.run`.

    Parsed from :func:`demo_manifest_toml`; held in memory, it has no folder
    to find its layer files in: pass :func:`demo_layers` as ``boundaries``
    (or :func:`geo311.join.manifest.load_manifest` the file
    :func:`geo311.demo.write_demo_inputs` writes).

    Examples
    --------
    >>> manifest = demo_manifest(make_demo_city(n_requests=100))
    >>> manifest.timezone, list(manifest.layers)
    ('America/New_York', ['neighborhoods', 'council_districts', 'census_tracts'])
    """
    return parse_manifest(demo_manifest_toml(city), origin="the demo city's manifest")

"""The indicator tables of one layer, with denominators and equity, ready to write.

This is what ``geo311 indicators`` and the demo produce: for one boundary
layer, the per-area indicators (:func:`geo311.area_indicators`) with the
population interpolated from census tracts (:func:`geo311.layer_population`),
the citywide row, the time patterns, channel and service-type mix (each with
the citywide rows, ``area_id == "city"``), the area outlines for maps, and the
equity summary
(:func:`geo311.equity_summary`) — plus the metadata every table must carry
(layer and vintage, period, as-of, denominator source and year, exclusions).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd

from geo311._errors import SchemaError
from geo311.background import split_with_child
from geo311.indicators.area import area_indicators, city_indicators
from geo311.indicators.change import previous_period
from geo311.indicators.disparity import disparity_scores
from geo311.indicators.equity import equity_summary
from geo311.indicators.groups import group_indicators
from geo311.indicators.patterns import channel_mix, service_mix, time_patterns
from geo311.indicators.quintiles import population_quantiles
from geo311.indicators.scope import CITY_ID, _factorize
from geo311.indicators.shared import shared_selection
from geo311.io.atomic import check_overwrite
from geo311.io.writers import write_csv, write_geojson, write_metadata, write_xlsx
from geo311.join.layers import Layer, load_layers
from geo311.join.manifest import load_manifest
from geo311.population.layer import layer_population
from geo311.population.tracts import Denominators, read_tract_table

__all__ = [
    "LayerTables",
    "build_tables",
    "city_tables",
    "disparity_table",
    "layer_areas",
    "table_paths",
    "used_vintage",
    "write_tables",
]

log = logging.getLogger(__name__)


class LayerTables(NamedTuple):
    """Everything ``geo311 indicators`` writes for one layer."""

    indicators: pd.DataFrame  # one row per area, indexed by area_id
    city: pd.DataFrame  # one row, index "city"
    patterns: pd.DataFrame  # day of week / hour / month, tidy, areas then "city"
    channels: pd.DataFrame  # intake channel mix, tidy, areas then "city"
    services: pd.DataFrame  # top service types, tidy, areas then "city"
    equity: pd.DataFrame  # one row per equity measure
    metadata: dict[str, Any]
    areas: gpd.GeoDataFrame  # area_id, area_name, geometry (EPSG:4326)
    disparity: pd.DataFrame | None = None  # METRICS 13 per area, indexed by area_id
    # the headline figures of the previous period (areas, then "city"); None: not covered
    previous: pd.DataFrame | None = None


def layer_areas(layer: Layer) -> gpd.GeoDataFrame:
    """Return a layer's areas as :class:`LayerTables` keeps them: id, name, geometry, EPSG:4326."""
    return layer.gdf[["area_id", "area_name", "geometry"]].to_crs("EPSG:4326")


def used_vintage(requests: pd.DataFrame, key: str, vintages: Sequence[Layer]) -> Layer:
    """Return the vintage of layer ``key`` most requests were joined to (that has a local file).

    The vintage whose areas the layer's tables describe (:func:`build_tables`).

    Parameters
    ----------
    requests : pandas.DataFrame
        Joined requests (``<key>_vintage`` names each request's vintage).
    key : str
        The layer key.
    vintages : sequence of Layer
        The layer's vintages, in the manifest's order.

    Returns
    -------
    Layer
        The most used vintage with a file; without a ``<key>_vintage``
        column, the last vintage with a file.

    Raises
    ------
    SchemaError
        No vintage of the layer has a local file.
    """
    with_file = [v for v in vintages if v.has_file]
    if not with_file:
        msg = f"layer {key!r} has no vintage with a local file"
        raise SchemaError(msg)
    column = f"{key}_vintage"
    if column in requests:
        codes, values = _factorize(requests, column)  # encoded once for the run
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        # as value_counts of the text: observed values, most frequent first
        used = pd.Series(counts, index=values, dtype=np.int64).sort_values(ascending=False)
        for name in used.index:
            match = [v for v in with_file if v.vintage == name]
            if match:
                return match[0]
    return with_file[-1]


def _groups(areas: Layer, group: Layer) -> pd.Series:
    """Each area's group (e.g. council district), by the group covering its interior point."""
    points = gpd.GeoDataFrame(
        {"area_id": areas.gdf["area_id"]},
        geometry=areas.gdf.geometry.representative_point(),
        crs=areas.gdf.crs,
    )
    hit = gpd.sjoin(points, group.gdf[["area_id", "geometry"]], how="left", predicate="intersects")
    hit = hit[~hit.index.duplicated(keep="first")]
    return pd.Series(hit["area_id_right"].to_numpy(), index=hit["area_id_left"], name="group")


def disparity_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return the geographic disparity score of every area (METRICS 13) as a table.

    Parameters
    ----------
    table : pandas.DataFrame
        Per-area indicators (``area_name``, ``requests``, ``population``),
        indexed by ``area_id``; optionally ``population_moe`` (ACS 90% MOE) for
        the significance test.  Not modified.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``area_id``: ``area_name`` and the columns of
        :func:`geo311.indicators.disparity_scores` (``disparity = s_i - p_i``,
        the population share's interval and ``significance``).
    """
    moe = table["population_moe"] if "population_moe" in table.columns else None
    scores = disparity_scores(table["requests"], table["population"], population_moe=moe)
    scores.insert(0, "area_name", table["area_name"])
    scores.index.name = "area_id"
    return scores


def build_tables(
    requests: pd.DataFrame,
    *,
    key: str,
    vintages: Sequence[Layer],
    tracts: Layer | None = None,
    denominators: Denominators | None = None,
    group: Layer | None = None,
    as_of: Any = None,
    period: tuple[Any, Any] | None = None,
    service_types: Sequence[str] | None = None,
    agencies: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    demand: str = "resident",
    timezone: str | None = None,
    top_services: int = 10,
    max_days: float | None = None,
) -> LayerTables:
    """Compute the indicator, pattern, channel and equity tables of one layer.

    Parameters
    ----------
    requests : pandas.DataFrame
        Joined requests (from :func:`geo311.assign_areas`) with ``<key>_id``.
    key : str
        The layer key, e.g. ``"council_districts"``.
    vintages : sequence of Layer
        The layer's vintages; the one most requests were joined to is used.
    tracts : Layer, optional
        Census tracts to interpolate denominators from.  Without it there are
        no populations, so rates are flagged ``no_denominator``.
    denominators : Denominators, optional
        Tract table (e.g. ACS); default the tract layer's own columns.
    group : Layer, optional
        A coarser layer (council districts) for the Theil decomposition.
    as_of, period, service_types, agencies, sources, demand, timezone
        As in :func:`geo311.area_indicators`.
    top_services : int, default 10
        How many of each area's most requested service types to keep.
    max_days : float, optional
        Closed requests that took longer are implausible: left out of time to
        close and counted (``ttc_excluded_implausible``), as in
        :func:`geo311.area_indicators`.  Default: no limit.

    Returns
    -------
    LayerTables
        With ``disparity`` (:func:`disparity_table`) when there are
        populations.  The equity table's medians and Kaplan-Meier shares per
        quintile are computed from the pooled requests of each quintile
        (:func:`geo311.indicators.groups.group_indicators`); without a
        demographic variable (no ``median_hh_income``) the areas are ranked
        by population and every such row says so (``ranked_by``).
    """
    with shared_selection(requests):
        return _build_tables(
            requests,
            key=key,
            vintages=vintages,
            tracts=tracts,
            denominators=denominators,
            group=group,
            top_services=top_services,
            max_days=max_days,
            options={
                "as_of": as_of,
                "period": period,
                "service_types": service_types,
                "agencies": agencies,
                "sources": sources,
                "demand": demand,
                "timezone": timezone,
            },
        )


def _build_tables(
    requests: pd.DataFrame,
    *,
    key: str,
    vintages: Sequence[Layer],
    tracts: Layer | None,
    denominators: Denominators | None,
    group: Layer | None,
    top_services: int,
    max_days: float | None,
    options: dict[str, Any],
) -> LayerTables:
    layer = used_vintage(requests, key, vintages)
    if (layer.gdf["area_id"].astype(str) == CITY_ID).any():
        msg = (
            f"layer {key!r} ({layer.source}) has an area whose id is {CITY_ID!r}, the id the "
            "tables reserve for the citywide rows; give that area another id"
        )
        raise SchemaError(msg)
    demographics = pd.DataFrame(index=pd.Index(layer.gdf["area_id"], name="area_id"))
    population = None
    source = ""
    denominator_meta: dict[str, Any] = {}
    land = None
    if tracts is not None:
        demographics = layer_population(layer, tracts=tracts, table=denominators)
        population = demographics["population"]
        denominator_meta = {
            k: demographics.attrs.get(k)
            for k in (
                "source",
                "year",
                "variables",
                "totals",
                "population_method",
                "clip",
                "land_area",
                "unallocated",
                "min_share",
                "below_minimum",
                "min_population",
            )
        }
        source = f"{denominator_meta['source']} ({denominator_meta['year']})"
        if "land_km2" in demographics:
            land = demographics["land_km2"]
    indicators: dict[str, Any] = {
        "key": key,
        "areas": layer,
        "population": population,
        "population_source": source,
        "max_days": max_days,
        "land_km2": land,
        **options,
    }
    table = area_indicators(requests, **indicators)
    extra = [c for c in ("median_hh_income", "median_hh_income_moe") if c in demographics]
    equity_input = table.join(demographics[extra])
    group_column = None
    if group is not None and group.key != key:
        equity_input["group"] = _groups(layer, group).reindex(equity_input.index)
        group_column = "group"
    equity = pd.DataFrame()
    disparity = pd.DataFrame()
    if population is not None:
        demographic = "median_hh_income" if "median_hh_income" in equity_input else "population"
        quintiles = population_quantiles(equity_input[demographic], equity_input["population"])
        # the equity summary reads the groups' medians and shares only (it pools the
        # type-adjusted ratio from the area table): the groups' O/E is not computed
        grouped = group_indicators(
            requests, quintiles, key=key, max_days=max_days, type_adjusted=False, **options
        )
        equity = equity_summary(
            equity_input, demographic=demographic, group=group_column, grouped=grouped
        )
        disparity = disparity_table(table)
    city = city_indicators(requests, **indicators)
    previous = previous_period(requests, **indicators)

    def with_city(tabulate: Any, **extra: Any) -> pd.DataFrame:
        parts = [
            tabulate(requests, key=key, areas=layer, city=citywide, **options, **extra)
            for citywide in (False, True)
        ]
        return pd.concat(parts)

    patterns = with_city(time_patterns)
    channels = with_city(channel_mix)
    services = with_city(service_mix, top=top_services)
    metadata = {
        "layer": key,
        "vintage": layer.vintage,
        "layer_source": layer.source,
        "indicators": table.attrs.get("geo311", {}),
        "denominators": denominator_meta,
        "equity_group": group.key if group is not None and group_column else None,
        "previous_period": previous.metadata(),
    }
    log.info("computed indicators for %d %s (vintage %s)", len(table), key, layer.vintage)
    areas = layer_areas(layer)
    return LayerTables(
        table,
        city,
        patterns,
        channels,
        services,
        equity,
        metadata,
        areas,
        disparity,
        previous.table if previous.covered else None,
    )


def city_tables(
    requests: pd.DataFrame,
    *,
    city: str | Path,
    layers: Sequence[str],
    population: str | Path | None = None,
    tracts: str = "census_tracts",
    group: str | None = "council_districts",
    **options: Any,
) -> dict[str, LayerTables]:
    """Build :class:`LayerTables` for several layers of a city (what the CLI runs).

    Parameters
    ----------
    requests : pandas.DataFrame
        Joined requests with ``<layer>_id`` columns for every layer asked for.
    city : str or pathlib.Path
        Built-in city or manifest path; gives the layers, the tract layer and
        the time zone.
    layers : sequence of str
        Layer keys to tabulate.
    population : str or pathlib.Path, optional
        A tract table (CSV keyed by GEOID, see :func:`geo311.read_tract_table`);
        default: the population columns of the city's tract layer.
    tracts : str, default "census_tracts"
        The tract layer key in the manifest.
    group : str or None, default "council_districts"
        Layer used for the between/within Theil decomposition.
    **options
        ``as_of``, ``period``, ``service_types``, ``agencies``, ``sources``,
        ``demand``, ``timezone``, ``top_services``, ``max_days``: as in
        :func:`build_tables`.

    Returns
    -------
    dict of str to LayerTables
    """
    manifest = load_manifest(city)
    missing = [k for k in layers if f"{k}_id" not in requests]
    if missing:
        msg = (
            f"the requests were not joined to {missing}; run `geo311 join ... --city "
            f"{manifest.city}` with these layers first"
        )
        raise SchemaError(msg)
    wanted = list(dict.fromkeys([*layers, tracts, *([group] if group else [])]))
    loaded = load_layers(city, layers=[k for k in wanted if k in manifest.layers])
    tract_layer = next((v for v in loaded.get(tracts, []) if v.has_file), None)
    group_layer = next((v for v in loaded.get(group or "", []) if v.has_file), None)
    table = read_tract_table(population) if population is not None else None
    options.setdefault("timezone", manifest.timezone)
    with shared_selection(requests):
        return {
            key: build_tables(
                requests,
                key=key,
                vintages=loaded[key],
                tracts=tract_layer,
                denominators=table,
                group=group_layer,
                **options,
            )
            for key in layers
        }


def table_paths(out_dir: Path, keys: Sequence[str]) -> dict[str, Path]:
    """Return every file :func:`write_tables` writes, by ``<key>.<kind>`` (and ``equity``)."""
    paths = {"equity": out_dir / "equity.csv"}
    for key in keys:
        for kind, suffix in (
            ("csv", ".csv"),
            ("xlsx", ".xlsx"),
            ("json", ".json"),
            ("city", ".city.csv"),
            ("patterns", ".patterns.csv"),
            ("channels", ".channels.csv"),
            ("services", ".services.csv"),
            ("disparity", ".disparity.csv"),
            ("previous", ".previous.csv"),
            ("areas", ".geojson"),
        ):
            paths[f"{key}.{kind}"] = out_dir / f"{key}{suffix}"
    return paths


def _write_layer(layer_tables: LayerTables, key: str, paths: Mapping[str, Path]) -> None:
    """Write the files of one layer (see :func:`write_tables`)."""
    write_csv(layer_tables.indicators, paths[f"{key}.csv"])
    write_xlsx(layer_tables.indicators, paths[f"{key}.xlsx"], sheet=key)
    write_metadata(layer_tables.metadata, paths[f"{key}.json"])
    write_csv(layer_tables.city, paths[f"{key}.city"])
    write_csv(layer_tables.patterns, paths[f"{key}.patterns"])
    write_csv(layer_tables.channels, paths[f"{key}.channels"])
    write_csv(layer_tables.services, paths[f"{key}.services"])
    disparity = layer_tables.disparity if layer_tables.disparity is not None else pd.DataFrame()
    write_csv(disparity, paths[f"{key}.disparity"])
    previous = layer_tables.previous
    write_csv(previous if previous is not None else pd.DataFrame(), paths[f"{key}.previous"])
    write_geojson(layer_tables.areas, paths[f"{key}.areas"])


def write_tables(
    tables: Mapping[str, LayerTables], out_dir: Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write each layer's tables and one ``equity.csv`` for all layers, injection-safe.

    Per layer ``<key>``: ``<key>.csv`` and ``<key>.xlsx`` (the indicators, one row
    per area), ``<key>.json`` (metadata), ``<key>.city.csv``,
    ``<key>.patterns.csv``, ``<key>.channels.csv``, ``<key>.services.csv``,
    ``<key>.disparity.csv`` (METRICS 13 per area; empty without populations),
    ``<key>.previous.csv`` (the headline figures of the previous period, areas
    then ``city``; empty when the data do not cover it) and
    ``<key>.geojson`` (the area outlines the indicators belong to, EPSG:4326).
    ``equity.csv`` holds the equity measures of every layer, with a ``layer``
    column.

    Returns
    -------
    dict of str to pathlib.Path
        The files written (see :func:`table_paths`).
    """
    out_dir = Path(out_dir)
    paths = table_paths(out_dir, list(tables))
    check_overwrite(paths.values(), overwrite=overwrite)
    keys = list(tables)
    # the layers' files written by this process and a forked child, from either end
    split_with_child(
        len(keys),
        lambda task: _write_layer(tables[keys[task]], keys[task], paths),
        what="writing the indicator tables",
        advice="write them again",
    )
    equity = (
        pd.concat(
            [t.equity.assign(layer=key) for key, t in tables.items() if len(t.equity)],
            ignore_index=True,
        )
        if any(len(t.equity) for t in tables.values())
        else pd.DataFrame({"layer": []})
    )
    write_csv(equity, paths["equity"], index=False)
    return paths

"""Population, housing units and income per area of any layer, from census tracts.

:func:`layer_population` is the call the indicators use: it picks the
population columns of a tract table (:mod:`geo311.population.tracts`) and
interpolates them to the layer's areas
(:func:`geo311.population.interpolation.interpolate`), or passes them through
when the layer is the tract layer itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo311._errors import SchemaError
from geo311.join.layers import Layer
from geo311.population.interpolation import interpolate
from geo311.population.tracts import Denominators, tract_table_from_frame

__all__ = ["DEFAULT_EXTENSIVE", "DEFAULT_INTENSIVE", "layer_population"]

log = logging.getLogger(__name__)

#: Output name -> table columns tried in order for :func:`layer_population`'s
#: extensive variables: an exact column name, or for a Census variable code a
#: column starting with ``<code>_`` (``P1_001N`` finds ``P1_001N_pop_2020``).
DEFAULT_EXTENSIVE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "population": ("P1_001N", "pop_2020", "population"),
        "housing_units": ("H1_001N", "housing_units_2020", "housing_units"),
    }
)
#: The same for intensive variables (area-weighted means).
DEFAULT_INTENSIVE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"median_hh_income": ("B19013_001E", "median_hh_income")}
)

_CENSUS_CODE = re.compile(r"^[A-Z]+\d+[A-Z]*_\d{3}[A-Z]*$")  # P1_001N, B19013_001E


def _resolve(
    table: Denominators, spec: Mapping[str, str | Sequence[str]], *, required: set[str]
) -> dict[str, str]:
    """Output name -> table column: each candidate as a name, or a Census code as a prefix."""
    out: dict[str, str] = {}
    problems = []
    for name, wanted in spec.items():
        candidates = [wanted] if isinstance(wanted, str) else list(wanted)
        found = None
        for candidate in candidates:
            if candidate in table.variables:
                found = candidate
                break
            if not _CENSUS_CODE.match(candidate):
                continue
            prefixed = [v for v in table.variables if v.startswith(f"{candidate}_")]
            if len(prefixed) == 1:
                found = prefixed[0]
                break
        if found is not None:
            out[name] = found
        elif name in required:
            problems.append(f"{name!r} (looked for {candidates})")
        else:
            log.info(
                "%s: no column for %s (looked for %s); skipped", table.source, name, candidates
            )
    if problems:
        msg = (
            f"the denominator table {table.source!r} has no column for "
            f"{', '.join(problems)}; its variables are {list(table.variables)}"
        )
        raise SchemaError(msg)
    return out


def _tract_frame(tracts: gpd.GeoDataFrame | Layer, tract_id: str) -> gpd.GeoDataFrame:
    frame = tracts.gdf if isinstance(tracts, Layer) else tracts
    if tract_id not in frame.columns:
        msg = f"tracts have no id column {tract_id!r}; columns are {list(frame.columns)}"
        raise SchemaError(msg)
    return frame


def layer_population(
    layer: gpd.GeoDataFrame | Layer,
    *,
    tracts: gpd.GeoDataFrame | Layer,
    table: Denominators | None = None,
    extensive: Mapping[str, str | Sequence[str]] | None = None,
    intensive: Mapping[str, str | Sequence[str]] | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = None,
    projected_crs: str | CRS | None = None,
    tract_id: str = "area_id",
    target_id: str = "area_id",
) -> pd.DataFrame:
    """Interpolate population, housing units and median household income to a layer.

    Parameters
    ----------
    layer : Layer or geopandas.GeoDataFrame
        The target layer (neighbourhoods, council districts ...).
    tracts : Layer or geopandas.GeoDataFrame
        Census tract polygons with their GEOID in ``tract_id``.
    table : Denominators, optional
        Tract values (e.g. ``read_tract_table("tract_demographics.csv")``).
        Default: the numeric attribute columns of ``tracts``.
    extensive, intensive : mapping of str to str or sequence of str, optional
        Output column -> table column (or candidates, tried in order: an
        exact name, or a Census variable code such as ``P1_001N`` that the
        column name starts with, ``P1_001N_pop_2020``).  Default
        :data:`DEFAULT_EXTENSIVE` (population, housing_units) and
        :data:`DEFAULT_INTENSIVE` (median_hh_income); of the defaults only
        population is required.
    weights, weight_column : optional
        Dasymetric mask, as in :func:`interpolate`.
    projected_crs : str or pyproj.CRS, optional
        As in :func:`interpolate`; default the layer's (or the tracts')
        ``projected_crs``.
    tract_id, target_id : str, default "area_id"
        Id columns of the tracts and of the layer.

    Returns
    -------
    pandas.DataFrame
        Indexed by the layer's ids: the output columns (each followed by
        ``<name>_moe`` where the table has a MOE) and ``covered_share``.
        When the layer is the tract layer itself (same ids and geometries)
        the tract values pass through unchanged.  ``attrs``: those of
        :func:`interpolate` plus ``source``, ``year`` and ``variables``
        (output -> ``{"column", "year", "kind"}``), with ``totals`` keyed by
        output name.

    Raises
    ------
    SchemaError
        A tract of ``tracts`` has no row in the table (listing them), or a
        requested column is missing.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> tracts = gpd.GeoDataFrame(
    ...     {"area_id": ["24510000100", "24510000200"], "pop_2020": [100, 300]},
    ...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs="EPSG:26985",
    ... )
    >>> wards = gpd.GeoDataFrame(
    ...     {"area_id": ["A", "B"]},
    ...     geometry=[box(0, 0, 50, 100), box(50, 0, 200, 100)],
    ...     crs="EPSG:26985",
    ... )
    >>> layer_population(wards, tracts=tracts)["population"].tolist()
    [50.0, 350.0]
    """
    tract_frame = _tract_frame(tracts, tract_id)
    if table is None:
        table = tract_table_from_frame(
            pd.DataFrame(tract_frame.drop(columns=tract_frame.geometry.name)),
            id_column=tract_id,
            source=(tracts.source if isinstance(tracts, Layer) else "") or "tract layer",
            year=tracts.vintage if isinstance(tracts, Layer) else None,
        )
    ext = _resolve(
        table,
        extensive if extensive is not None else DEFAULT_EXTENSIVE,
        required=set(extensive) if extensive is not None else {"population"},
    )
    inten = _resolve(
        table,
        intensive if intensive is not None else DEFAULT_INTENSIVE,
        required=set(intensive) if intensive is not None else set(),
    )
    clash = sorted(set(ext) & set(inten))
    if clash:
        msg = f"layer_population: {clash} asked for as both extensive and intensive"
        raise SchemaError(msg)

    geoids = tract_frame[tract_id].astype(str)
    absent = sorted(set(geoids) - set(table.table.index))
    if absent:
        msg = (
            f"the denominator table {table.source!r} has no row for {len(absent)} of the "
            f"{len(geoids)} tracts: {absent[:10]}{' ...' if len(absent) > 10 else ''}"
        )
        raise SchemaError(msg)
    extra = len(set(table.table.index) - set(geoids))
    if extra:
        log.info("%s: %d table rows match no tract polygon; ignored", table.source, extra)

    columns = {**ext, **inten}
    rows = table.table.loc[geoids.to_numpy()]
    data: dict[str, Any] = {}
    moe: dict[str, str] = {}
    for name, column in columns.items():
        data[name] = rows[column].to_numpy(dtype="float64", na_value=np.nan)
        if column in table.moe:
            data[f"{name}_moe"] = rows[table.moe[column]].to_numpy(
                dtype="float64", na_value=np.nan
            )
            moe[name] = f"{name}_moe"
    source = gpd.GeoDataFrame(data, geometry=tract_frame.geometry.to_numpy(), crs=tract_frame.crs)
    source.attrs = {"source": table.source, "year": table.year}

    target_frame = layer.gdf if isinstance(layer, Layer) else layer
    crs = projected_crs
    if crs is None:
        for candidate in (layer, tracts):
            if isinstance(candidate, Layer) and candidate.projected_crs:
                crs = candidate.projected_crs
                break
    variables = {
        name: {
            "column": column,
            "year": table.column_year(column),
            "kind": "extensive" if name in ext else "intensive",
        }
        for name, column in columns.items()
    }
    if _same_polygons(target_frame, target_id, tract_frame, tract_id):
        result = _pass_through(
            source, geoids, list(columns), moe, target_frame[target_id], extensive=list(ext)
        )
        log.info(
            "population for %d tracts passed through unchanged from %s",
            len(result),
            table.source,
        )
    else:
        result = interpolate(
            source,
            layer,
            extensive=list(ext),
            intensive=list(inten),
            moe=moe,
            projected_crs=crs,
            weights=weights,
            weight_column=weight_column,
            target_id=target_id,
        )
    result.attrs.update(source=table.source, year=table.year, variables=variables)
    return result


def _same_polygons(
    target: gpd.GeoDataFrame, target_id: str, tracts: gpd.GeoDataFrame, tract_id: str
) -> bool:
    """Whether the target layer is the tract layer: same ids and equal geometries."""
    if target_id not in target.columns or len(target) != len(tracts):
        return False
    left = target[target_id].astype(str)
    right = tracts[tract_id].astype(str)
    if set(left) != set(right) or not left.is_unique:
        return False
    if target.crs is None or tracts.crs is None or not CRS(target.crs).equals(CRS(tracts.crs)):
        return False
    order = pd.Index(right).get_indexer(left)
    mine = np.asarray(target.geometry.array, dtype=object)
    theirs = np.asarray(tracts.geometry.array, dtype=object)[order]
    return bool(shapely.equals(mine, theirs).all())


def _pass_through(
    source: gpd.GeoDataFrame,
    geoids: pd.Series,
    names: Sequence[str],
    moe: Mapping[str, str],
    ids: pd.Series,
    *,
    extensive: Sequence[str],
) -> pd.DataFrame:
    """Return the tract values in the layer's order (the layer is the tract layer)."""
    order = [c for name in names for c in (name, moe.get(name)) if c is not None]
    rows = pd.Index(geoids.to_numpy()).get_indexer(ids.astype(str).to_numpy())
    values = source[order].to_numpy(dtype="float64")[rows]
    frame = pd.DataFrame(values, columns=order, index=pd.Index(ids.to_numpy(), name=ids.name))
    frame["covered_share"] = 1.0
    totals = {}
    for name in extensive:
        total = float(np.nansum(frame[name]))
        totals[name] = {
            "source": total,
            "target": total,
            "difference": 0.0,
            "relative_difference": 0.0,
        }
    frame.attrs.update(
        {
            "method": "identity",
            "crs": "",
            "extensive": list(extensive),
            "intensive": [n for n in names if n not in extensive],
            "weights": "none",
            "allocate_total": True,
            "moe_method": "unchanged",
            "n_source": len(frame),
            "n_target": len(frame),
            "pairs": len(frame),
            "sources_outside_targets": 0,
            "fallback_sources": 0,
            "fallback_targets": 0,
            "totals": totals,
        }
    )
    return frame

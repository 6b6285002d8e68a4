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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo311 import crs as geo311_crs
from geo311 import settings
from geo311._errors import SchemaError
from geo311.join.layers import DenominatorInputs, Layer
from geo311.population.ancillary import (
    ancillary_weights,
    city_outline,
    denominator_files_key,
)
from geo311.population.cache import cached_population, population_key
from geo311.population.interpolation import interpolate
from geo311.population.tracts import Denominators, tract_table_from_frame

__all__ = [
    "DEFAULT_EXTENSIVE",
    "DEFAULT_INTENSIVE",
    "MIN_POPULATION",
    "MIN_TRACT_SHARE",
    "layer_population",
]

log = logging.getLogger(__name__)

#: Output name -> table columns tried in order for :func:`layer_population`'s
#: extensive variables: an exact column name, or for a Census variable code a
#: column starting with ``<code>_`` (``P1_001N`` finds ``P1_001N_pop_2020``).
DEFAULT_EXTENSIVE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "population": ("population", "P1_001N", "pop_2020"),
        "housing_units": ("H1_001N", "housing_units_2020", "housing_units"),
    }
)
#: The same for intensive variables (area-weighted means).
DEFAULT_INTENSIVE: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"median_hh_income": ("B19013_001E", "median_hh_income")}
)

#: A target must cover at least this share of a tract's area to receive any of
#: its population (so a tract is never pushed through a sliver).
MIN_TRACT_SHARE = 0.01
#: Areas with fewer residents are flagged ``below_minimum`` (rates are then
#: "insufficient" in the indicator tables, whose ``min_population`` is also 100).
MIN_POPULATION = 100.0

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
    outline: gpd.GeoDataFrame | None = None,
    population_field: str | None = None,
    block_population: bool = True,
    dasymetric: bool = True,
    min_share: float = MIN_TRACT_SHARE,
    min_population: float = MIN_POPULATION,
    allocate_total: bool = True,
    use_cache: bool = True,
) -> pd.DataFrame:
    """Return population, housing units and median household income per area of a layer.

    The best denominator available is used by default:

    1. a block-based population carried by the layer (manifest
       ``population_field``, e.g. Baltimore's ``pop_2020``) is used as is;
    2. otherwise tract values are interpolated dasymetrically, weighted by
       the manifest's ``ancillary`` layer (e.g. housing units per m²), or by
       plain area when none is declared;
    3. tracts are first clipped to the city (the manifest's ``city_outline``,
       else the union of the layer), and a target covering less than
       ``min_share`` of a tract gets none of it; population left with no
       target is reported (``attrs["unallocated"]``, WARNING).

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
        Dasymetric mask, as in :func:`interpolate`; default the manifest's
        ``ancillary`` layer (:func:`geo311.population.ancillary.ancillary_weights`).
    projected_crs : str or pyproj.CRS, optional
        As in :func:`interpolate`; default the layer's (or the tracts')
        ``projected_crs``.
    tract_id, target_id : str, default "area_id"
        Id columns of the tracts and of the layer.
    outline : geopandas.GeoDataFrame, optional
        The city's land outline; default the manifest's ``city_outline``.
        Tracts are clipped to it (else to the union of the layer) and
        ``land_km2`` is measured inside it.
    population_field : str, optional
        A column of the layer with a block-based population; default the
        manifest's ``population_field`` for the vintage.
    block_population : bool, default True
        False: ignore the layer's block-based population and interpolate.
    dasymetric : bool, default True
        False: ignore the manifest's ancillary layer (plain area weights).
    min_share : float, default :data:`MIN_TRACT_SHARE` (0.01)
        As in :func:`interpolate`.
    min_population : float, default :data:`MIN_POPULATION` (100)
        Areas with fewer residents are flagged ``below_minimum``.
    allocate_total : bool, default True
        As in :func:`interpolate`.  True suits tracts that nest in the city
        (Baltimore, a county-equivalent): a tract's whole population goes to
        its part inside the outline.  Where tracts straddle the city line,
        pass False so the part outside keeps its share (reported as a
        difference in ``attrs["totals"]``).
    use_cache : bool, default True
        Keep the result in ``<cache dir>/population/``
        (:func:`geo311.population.cache.cached_population`), keyed by the
        content of every input, and reuse it on later runs.

    Returns
    -------
    pandas.DataFrame
        Indexed by the layer's ids: the output columns (each followed by
        ``<name>_moe`` where the table has a MOE; none for a block-based
        population), ``covered_share``, ``land_km2`` (area inside the
        outline; the whole area when no outline is declared) and
        ``population_flag`` (``"ok"``, ``"below_minimum"`` or
        ``"missing"``).  When the layer is the tract layer itself (same ids
        and geometries) the tract values pass through unchanged.  ``attrs``:
        those of :func:`interpolate` plus ``source``, ``year``,
        ``variables`` (output -> ``{"column", "year", "kind"}``, and
        ``"source"`` for a block-based population), ``population_method``
        (``"layer_field"``, ``"identity"``, ``"dasymetric"`` or
        ``"area_weighted"``), ``clip`` and ``land_area`` (what they were
        measured against), ``min_population`` and ``below_minimum`` (ids),
        with ``totals`` and ``unallocated`` keyed by output name.

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
    plan = _Plan(
        layer=layer,
        tracts=tracts,
        tract_frame=_tract_frame(tracts, tract_id),
        target_frame=layer.gdf if isinstance(layer, Layer) else layer,
        table=table,
        extensive=extensive,
        intensive=intensive,
        weights=weights,
        weight_column=weight_column,
        projected_crs=projected_crs,
        tract_id=tract_id,
        target_id=target_id,
        outline=outline,
        population_field=population_field,
        block_population=block_population,
        dasymetric=dasymetric,
        min_share=min_share,
        min_population=min_population,
        allocate_total=allocate_total,
    )
    return cached_population(
        plan.compute,
        key=plan.key(),
        cache_dir=settings.cache_dir() / "population" if use_cache else None,
    )


@dataclass(frozen=True, eq=False)
class _Plan:
    """The arguments of :func:`layer_population`: its cache key, and its computation.

    The key is made from the arguments as given (frames hashed whole, the
    manifest's outline and ancillary files by their bytes), so a warm run
    reads no file and derives nothing; everything derived from them (the
    tract table, the dasymetric weights, the outline, the CRS) is made in
    :meth:`compute`, whose log lines the cache keeps and replays.
    """

    layer: gpd.GeoDataFrame | Layer
    tracts: gpd.GeoDataFrame | Layer
    tract_frame: gpd.GeoDataFrame
    target_frame: gpd.GeoDataFrame
    table: Denominators | None
    extensive: Mapping[str, str | Sequence[str]] | None
    intensive: Mapping[str, str | Sequence[str]] | None
    weights: gpd.GeoDataFrame | None
    weight_column: str | None
    projected_crs: str | CRS | None
    tract_id: str
    target_id: str
    outline: gpd.GeoDataFrame | None
    population_field: str | None
    block_population: bool
    dasymetric: bool
    min_share: float
    min_population: float
    allocate_total: bool

    @property
    def inputs(self) -> DenominatorInputs | None:
        """The outline and ancillary files the layer's manifest declares, if any."""
        return self.layer.denominators if isinstance(self.layer, Layer) else None

    def key(self) -> str:
        """Content key of every input (:func:`geo311.population.cache.population_key`)."""
        options = {
            "extensive": _spec_json(self.extensive),
            "intensive": _spec_json(self.intensive),
            "weight_column": self.weight_column,
            "projected_crs": (
                None
                if self.projected_crs is None
                else CRS.from_user_input(self.projected_crs).to_wkt()
            ),
            "tract_id": self.tract_id,
            "target_id": self.target_id,
            "population_field": self.population_field,
            "block_population": self.block_population,
            "dasymetric": self.dasymetric,
            "min_share": self.min_share,
            "min_population": self.min_population,
            "allocate_total": self.allocate_total,
            "layer": _layer_json(self.layer),
            "tracts": _layer_json(self.tracts),
            "files": denominator_files_key(self.inputs),
        }
        table = self.table
        if table is not None:
            options["table"] = [
                table.source,
                table.year,
                list(table.variables),
                sorted(table.moe.items()),
            ]
        frames = {
            "tracts": self.tract_frame,
            "target": self.target_frame,
            "table": table.table if table is not None else None,
            "weights": self.weights,
            "outline": self.outline,
        }
        return population_key(frames, options)

    def compute(self) -> pd.DataFrame:
        """Resolve the columns; interpolate (or pass through); block population, land, flags."""
        tracts, tract_frame, target_frame = self.tracts, self.tract_frame, self.target_frame
        table = self.table
        if table is None:
            table = tract_table_from_frame(
                pd.DataFrame(tract_frame.drop(columns=tract_frame.geometry.name)),
                id_column=self.tract_id,
                source=(tracts.source if isinstance(tracts, Layer) else "") or "tract layer",
                year=tracts.vintage if isinstance(tracts, Layer) else None,
            )
        ext = _resolve(
            table,
            self.extensive if self.extensive is not None else DEFAULT_EXTENSIVE,
            required=set(self.extensive) if self.extensive is not None else {"population"},
        )
        inten = _resolve(
            table,
            self.intensive if self.intensive is not None else DEFAULT_INTENSIVE,
            required=set(self.intensive) if self.intensive is not None else set(),
        )
        clash = sorted(set(ext) & set(inten))
        if clash:
            msg = f"layer_population: {clash} asked for as both extensive and intensive"
            raise SchemaError(msg)
        geoids = tract_frame[self.tract_id].astype(str)
        columns = {**ext, **inten}
        source, moe = _source_values(table, tract_frame, geoids, columns)
        crs, area_crs = _crs(self.layer, tracts, target_frame, self.projected_crs)
        variables = {
            name: {
                "column": column,
                "year": table.column_year(column),
                "kind": "extensive" if name in ext else "intensive",
            }
            for name, column in columns.items()
        }
        outline = self.outline
        if outline is None and self.inputs is not None:
            outline = city_outline(self.inputs)
        if _same_polygons(target_frame, self.target_id, tract_frame, self.tract_id):
            result = _pass_through(
                source,
                geoids,
                list(columns),
                moe,
                target_frame[self.target_id],
                extensive=list(ext),
            )
            log.info(
                "population for %d tracts passed through unchanged from %s",
                len(result),
                table.source,
            )
        else:
            weights, weight_column = self.weights, self.weight_column
            if weights is None and self.dasymetric and self.inputs is not None:
                weights = ancillary_weights(self.inputs, projected_crs=area_crs.to_string())
                weight_column = "weight" if weights is not None else None
            result = interpolate(
                source,
                self.layer,
                extensive=list(ext),
                intensive=list(inten),
                moe=moe,
                projected_crs=crs,
                weights=weights,
                weight_column=weight_column,
                target_id=self.target_id,
                clip=(
                    outline if outline is not None else target_frame[[target_frame.geometry.name]]
                ),
                min_share=self.min_share,
                allocate_total=self.allocate_total,
            )
        result.attrs.update(
            source=table.source,
            year=table.year,
            variables=variables,
            population_method=result.attrs["method"],
            clip="city_outline" if outline is not None else "union of the layer",
        )
        _warn_unallocated(result, table.source)
        population_field = self.population_field
        if population_field is None and self.block_population and isinstance(self.layer, Layer):
            population_field = self.layer.population_field
        if population_field is not None and "population" in result:
            _use_block_population(result, self.layer, target_frame, population_field)
        _land_and_flags(
            result, target_frame, outline, area_crs, min_population=self.min_population
        )
        return result


def _spec_json(spec: Mapping[str, str | Sequence[str]] | None) -> Any:
    """Return a column spec of :func:`layer_population` as JSON (None: the defaults)."""
    if spec is None:
        return None
    return {
        name: [wanted] if isinstance(wanted, str) else list(wanted)
        for name, wanted in spec.items()
    }


def _layer_json(layer: gpd.GeoDataFrame | Layer) -> Any:
    """Return what a Layer adds to its frame for :func:`layer_population` (None: a frame)."""
    if not isinstance(layer, Layer):
        return None
    return [
        layer.key,
        layer.vintage,
        layer.source,
        layer.projected_crs,
        layer.population_field,
        layer.population_year,
        layer.population_source,
    ]


def _source_values(
    table: Denominators,
    tract_frame: gpd.GeoDataFrame,
    geoids: pd.Series,
    columns: Mapping[str, str],
) -> tuple[gpd.GeoDataFrame, dict[str, str]]:
    """Return the tract values (and MOEs) on the tract polygons, and name -> MOE column."""
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
    return source, moe


def _crs(
    layer: gpd.GeoDataFrame | Layer,
    tracts: gpd.GeoDataFrame | Layer,
    target_frame: gpd.GeoDataFrame,
    given: str | CRS | None,
) -> tuple[str | CRS | None, CRS]:
    """Return the CRS for interpolation (given, else a Layer's) and the one for areas."""
    crs = given
    if crs is None:
        for candidate in (layer, tracts):
            if isinstance(candidate, Layer) and candidate.projected_crs:
                crs = candidate.projected_crs
                break
    if crs is None and target_frame.crs is not None and CRS(target_frame.crs).is_projected:
        return crs, CRS(target_frame.crs)
    return crs, geo311_crs.projected_crs(target_frame, preferred=crs, where="layer_population")


def _warn_unallocated(result: pd.DataFrame, source: str) -> None:
    """WARNING with the population that reached no target (outside the city or a sliver)."""
    lost = result.attrs.get("unallocated", {})
    if any(v > 0 for v in lost.values()):
        log.warning(
            "%s: not allocated to any area (%d tracts outside the city or covered by no "
            "area for at least %.0f%% of their area): %s",
            source,
            result.attrs.get("sources_unallocated", 0),
            100 * result.attrs.get("min_share", 0.0),
            ", ".join(f"{name} {value:,.0f}" for name, value in lost.items()),
        )


def _use_block_population(
    result: pd.DataFrame,
    layer: gpd.GeoDataFrame | Layer,
    target_frame: gpd.GeoDataFrame,
    field: str,
) -> None:
    """Replace the interpolated population by the layer's block-based column."""
    if field not in target_frame.columns:
        msg = (
            f"layer {getattr(layer, 'key', '')!r}: no population field {field!r}; "
            f"columns are {list(target_frame.columns)}; fix population_field in the manifest"
        )
        raise SchemaError(msg)
    values = pd.to_numeric(target_frame[field], errors="coerce").to_numpy(dtype="float64")
    result["population"] = values
    if "population_moe" in result:
        result.drop(columns="population_moe", inplace=True)
    is_layer = isinstance(layer, Layer)
    result.attrs["variables"]["population"] = {
        "column": field,
        "year": layer.population_year if is_layer else "",
        "kind": "extensive",
        "source": layer.population_source if is_layer else "",
    }
    result.attrs["population_method"] = "layer_field"
    totals = result.attrs["totals"]["population"]
    totals["target"] = float(np.nansum(values))
    totals["difference"] = totals["target"] - totals["source"]
    totals["relative_difference"] = (
        totals["difference"] / totals["source"] if totals["source"] else 0.0
    )
    log.info("population of %d areas taken from the layer's field %r", len(values), field)


def _land_and_flags(
    result: pd.DataFrame,
    target_frame: gpd.GeoDataFrame,
    outline: gpd.GeoDataFrame | None,
    crs: CRS,
    *,
    min_population: float,
) -> None:
    """Add ``land_km2`` and ``population_flag``; record ``below_minimum`` in attrs."""
    geoms = np.asarray(target_frame.geometry.to_crs(crs).array, dtype=object)
    if outline is not None:
        land = shapely.make_valid(outline.to_crs(crs).union_all())
        geoms = shapely.intersection(geoms, land)
        result.attrs["land_area"] = "inside the city_outline"
    else:
        result.attrs["land_area"] = "the whole area (no city_outline declared; may include water)"
    result["land_km2"] = shapely.area(geoms) / 1e6
    if "population" not in result:
        return
    population = result["population"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        below = population < min_population
    result["population_flag"] = pd.array(
        np.where(np.isnan(population), "missing", np.where(below, "below_minimum", "ok")),
        dtype="string",
    )
    ids = result.index[below].tolist()
    result.attrs.update(min_population=min_population, below_minimum=ids)
    if ids:
        log.warning(
            "%d of %d areas have fewer than %g residents (flagged below_minimum; their rates "
            "are insufficient): %s%s",
            len(ids),
            len(result),
            min_population,
            ids[:10],
            " ..." if len(ids) > 10 else "",
        )


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
            "dropped_pairs": 0,
            "sources_unallocated": 0,
            "min_share": 0.0,
            "clipped": False,
            "unallocated": dict.fromkeys(extensive, 0.0),
            "totals": totals,
        }
    )
    return frame

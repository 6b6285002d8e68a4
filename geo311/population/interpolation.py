"""Areal and dasymetric interpolation of variables from source polygons (tracts) to targets.

Census counts and ACS estimates come per tract; indicators need them per
neighbourhood, council district, police district or any layer a user loads.

:func:`interpolate`
    Areal interpolation in a projected CRS.  *Extensive* variables (counts)
    are split by the share of each source polygon's area that falls in each
    target and summed; *intensive* variables (rates, medians) are averaged
    with weights equal to the intersection areas.  Margins of error are
    propagated.  With ``weights=`` the areas are replaced by the area of
    inhabited land (a dasymetric mask, e.g. from :func:`land_use_weights`).
:func:`land_use_weights`
    A dasymetric mask from a land-use classified layer.

Method
------
For source polygon *i* (a tract), target *j* and the intersection
``A_ij = area(s_i ∩ t_j)`` (or, with a mask, the weighted inhabited area
``Σ_k w_k · area(s_i ∩ t_j ∩ m_k)``):

* extensive: ``x_j = Σ_i (A_ij / D_i) x_i`` with ``D_i = Σ_j A_ij``, the part
  of source *i* that some target covers (``allocate_total=True``, so a layer
  that covers every tract receives the whole tract total, even when it leaves
  out the harbour water), or ``D_i = area(s_i)`` (``allocate_total=False``:
  the share of a tract lying outside every target is lost, and reported).
* intensive: ``x_j = Σ_i (A_ij / C_j) x_i`` with ``C_j = Σ_i A_ij`` over the
  sources with a value: the mean over the covered part of the target.
* MOE of an extensive sum: ``sqrt(Σ_i (A_ij / D_i · MOE_i)²)`` — the ACS
  handbook's approximation for a sum of estimates, each scaled by a fixed
  allocation share.  MOE of an intensive mean: ``sqrt(Σ_i (A_ij / C_j ·
  MOE_i)²)``, the same formula for a weighted mean with fixed weights and
  independent tract errors.  For a median this is an approximation (a mean
  of tract medians is not the median of the pooled households); it is exact
  when the target lies inside one tract.  Both keep the MOEs' confidence
  level (90 % for ACS).

Missing values: an extensive target that receives a share of a source with a
missing value is missing (the sum is unknown); an intensive mean is taken over
the sources that have a value (their weights re-normalised) and is missing only
when none covers the target.  On inputs without missing values the results
match ``tobler``'s ``area_interpolate`` to 1e-9 (relative) when tobler is given
a float64 area table; tobler's own table is float32, so its default agrees to
about 1e-7.  tobler replaces missing values by 0 (and writes the 0 into its
input); geo311 does neither.

Accuracy and dasymetric weights
-------------------------------
Against Baltimore's 2020 block counts (``scripts/interpolation_accuracy.py``),
plain areal weighting places 15.6 % of residents in the wrong 2010
neighbourhood (median absolute error 22 %) and 1.5 % in the wrong council
district.  Weighting by residential land (``land_use_weights`` of the NSA
``type`` column: parks, industrial areas and campuses get nobody) lowers this
to 11.0 % and 1.1 %; weighting land by the 2020 block housing units per m² of
the 2020 neighbourhood it lies in (the Baltimore manifest's ``ancillary``
layer, used by :func:`geo311.population.layer.layer_population`) to 5.5 % and
1.1 %.  A source with no weighted land keeps plain area, so totals are
unchanged.

Clipping and slivers
--------------------
``clip=`` cuts the sources to the city before anything is shared, and
``min_share=`` keeps a target that covers less than that share of a source's
whole area from receiving any of it (extensive variables only; intensive
means still use every overlapping source), so a tract that reaches the layer
through a sliver is reported as not allocated rather than pushed into it.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> tracts = gpd.GeoDataFrame(
...     {"pop": [100.0, 300.0], "income": [20_000.0, 60_000.0]},
...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
...     crs="EPSG:26985",
... )
>>> wards = gpd.GeoDataFrame(
...     {"area_id": ["west", "middle"]},
...     geometry=[box(0, 0, 50, 100), box(50, 0, 150, 100)],
...     crs="EPSG:26985",
... )
>>> out = interpolate(tracts, wards, extensive=["pop"], intensive=["income"])
>>> out["pop"].tolist(), out["income"].tolist(), out["covered_share"].tolist()
([50.0, 350.0], [20000.0, 40000.0], [1.0, 1.0])

The east half of the second tract lies outside every ward.  By default its
people go to the ward that covers the rest of the tract (``allocate_total``);
without that, they are lost and the loss is reported:

>>> lost = interpolate(tracts, wards, extensive="pop", allocate_total=False)
>>> lost["pop"].tolist(), lost.attrs["totals"]["pop"]["difference"]
([50.0, 200.0], -150.0)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS

from geo311._errors import CRSError, OptionError, SchemaError
from geo311.crs import projected_crs
from geo311.join.layers import Layer

__all__ = ["MOE_METHOD", "interpolate", "land_use_weights"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: How :func:`interpolate` propagates margins of error (recorded in ``attrs``).
MOE_METHOD = (
    "extensive: sqrt(sum((share * MOE)^2)), the ACS handbook approximation for sums; "
    "intensive: sqrt(sum((weight * MOE)^2)), a weighted mean of independent tract "
    "estimates with fixed weights (approximate for medians)"
)


def land_use_weights(
    areas: gpd.GeoDataFrame | Layer,
    *,
    column: str = "type",
    weights: Mapping[str, float] | None = None,
    default: float = 0.0,
) -> gpd.GeoDataFrame:
    """Turn a land-use classified polygon layer into a dasymetric weight layer.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame or Layer
        Polygons with a land-use class column (e.g. Baltimore's neighbourhood
        files, ``type``: Residential / Industrial area / Business park /
        Park/open space / Institutional area).  Not modified.
    column : str, default "type"
        The class column.
    weights : mapping of str to float, optional
        Relative residential density per class; default
        ``{"Residential": 1.0}``.
    default : float, default 0.0
        Weight of classes not in ``weights``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``column``, ``weight`` and geometry, in the input's CRS, without the
        zero-weight polygons; pass it as ``weights=`` with
        ``weight_column="weight"``.

    Raises
    ------
    SchemaError
        The class column is missing, or a weight is negative or not finite.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> areas = gpd.GeoDataFrame(
    ...     {"type": ["Residential", "Park/open space"]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:26985",
    ... )
    >>> land_use_weights(areas)[["type", "weight"]]
              type  weight
    0  Residential     1.0
    """
    frame = areas.gdf if isinstance(areas, Layer) else areas
    if column not in frame.columns:
        msg = f"land_use_weights: no column {column!r}; columns are {list(frame.columns)}"
        raise SchemaError(msg)
    table = dict(weights) if weights is not None else {"Residential": 1.0}
    values = [*table.values(), default]
    if not all(np.isfinite(v) and v >= 0 for v in values):
        msg = f"land_use_weights: weights must be finite and >= 0, got {table} (default {default})"
        raise SchemaError(msg)
    weight = frame[column].map(table).astype("float64").fillna(default)
    out = gpd.GeoDataFrame(
        {column: frame[column].to_numpy(), "weight": weight.to_numpy()},
        geometry=frame.geometry.to_numpy(),
        crs=frame.crs,
    )
    return out.loc[out["weight"] > 0].reset_index(drop=True)


def _names(values: Iterable[str] | str, what: str) -> list[str]:
    if isinstance(values, str):
        return [values]
    out = list(values)
    if len(set(out)) != len(out):
        msg = f"{what} variables repeat: {out}"
        raise SchemaError(msg)
    return out


def _crs_text(crs: Any) -> str:
    return "none" if crs is None else CRS.from_user_input(crs).to_string()


def _check_crs(frames: Mapping[str, gpd.GeoDataFrame]) -> None:
    missing = [name for name, frame in frames.items() if frame.crs is None]
    if missing:
        have = ", ".join(f"{name}: {_crs_text(f.crs)}" for name, f in frames.items())
        msg = (
            f"interpolate: {' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} "
            f"no CRS ({have}). Set the CRS the coordinates are in with "
            "frame.set_crs('EPSG:...') (not to_crs, which needs a CRS to start from); "
            "both inputs are then reprojected to projected_crs for the areas."
        )
        raise CRSError(msg)


def _area_crs(
    projected: str | CRS | None,
    default: str | None,
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame,
) -> CRS:
    """Choose the CRS for areas: given, the layer's, a projected input's, or UTM."""
    chosen = projected if projected is not None else default
    if chosen is None:
        for frame in (source, target):
            if CRS.from_user_input(frame.crs).is_projected:
                return CRS.from_user_input(frame.crs)
    return projected_crs(source, preferred=chosen, where="interpolate: source")


def _geoms(frame: gpd.GeoDataFrame, crs: CRS, role: str, notes: dict[str, int]) -> np.ndarray:
    geoms = np.asarray(frame.geometry.to_crs(crs).array, dtype=object)
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
        notes[f"{role}_repaired"] = int(invalid.sum())
        log.warning("%s: %d invalid geometries repaired for interpolation", role, invalid.sum())
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        notes[f"{role}_empty"] = int(empty.sum())
    return geoms


def _numeric(frame: pd.DataFrame, column: str, role: str) -> FloatArray:
    if column not in frame.columns:
        msg = f"interpolate: {role} has no column {column!r}; columns are {list(frame.columns)}"
        raise SchemaError(msg)
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        msg = f"interpolate: {role} column {column!r} is not numeric (dtype {values.dtype})"
        raise SchemaError(msg)
    out = values.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(out).any():
        msg = f"interpolate: {role} column {column!r} has infinite values"
        raise SchemaError(msg)
    return out


def _mask_area(geoms: np.ndarray, mask: np.ndarray, mask_weight: FloatArray) -> FloatArray:
    """Weighted area of each geometry lying inside the mask polygons."""
    if len(geoms) == 0 or len(mask) == 0:
        return np.zeros(len(geoms))
    geom_idx, mask_idx = shapely.STRtree(mask).query(geoms, predicate="intersects")
    inside = shapely.area(shapely.intersection(geoms[geom_idx], mask[mask_idx]))
    return np.asarray(
        np.bincount(geom_idx, weights=inside * mask_weight[mask_idx], minlength=len(geoms)),
        dtype="float64",
    )


def _share(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _sum_by(index: IntArray, values: FloatArray, size: int) -> FloatArray:
    return np.asarray(np.bincount(index, weights=values, minlength=size), dtype="float64")


def _weighted(
    index: IntArray, weight: FloatArray, values: FloatArray, size: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Σ weight·value per group, and a flag of groups touched by a missing value."""
    used = weight > 0
    nan = np.isnan(values) & used
    total = _sum_by(index, np.where(nan | ~used, 0.0, weight * values), size)
    touched = _sum_by(index, nan.astype("float64"), size) > 0
    return total, touched


def _rss(index: IntArray, weight: FloatArray, moe: FloatArray, size: int) -> FloatArray:
    used = weight > 0
    nan = np.isnan(moe) & used
    total = _sum_by(index, np.where(nan | ~used, 0.0, (weight * moe) ** 2), size)
    out = np.sqrt(total)
    out[_sum_by(index, nan.astype("float64"), size) > 0] = np.nan
    return out


@dataclass(frozen=True)
class _Pieces:
    """Overlapping source/target pairs and the measure each pair is allocated by."""

    src_idx: IntArray
    tgt_idx: IntArray
    area: FloatArray  # plain intersection area of each pair
    measure: FloatArray  # area, or weighted inhabited area with the per-source fallback
    shared: FloatArray  # measure, 0 for pairs below min_share (extensive variables)
    src_den: FloatArray  # per source: what its value is shared over
    n_src: int
    n_tgt: int
    covered: FloatArray  # per target: share of its area covered by sources
    fallback_sources: int
    weights_text: str
    dropped_pairs: int  # pairs below min_share of their source (no extensive share)


def _pieces(
    src: np.ndarray,
    tgt: np.ndarray,
    *,
    weights: gpd.GeoDataFrame | None,
    weight_column: str | None,
    crs: CRS,
    allocate_total: bool,
    clip: shapely.Geometry | None = None,
    min_share: float = 0.0,
) -> _Pieces:
    n_src, n_tgt = len(src), len(tgt)
    original = src  # allocate_total=False shares are of the whole, unclipped source
    whole = shapely.area(src)
    if clip is not None:
        src = shapely.intersection(src, clip)
    tgt_idx, src_idx = shapely.STRtree(src).query(tgt, predicate="intersects")
    pieces = shapely.intersection(src[src_idx], tgt[tgt_idx])
    area = shapely.area(pieces)
    keep = area > 0  # pairs that only touch along an edge share nothing
    small = area < min_share * whole[src_idx]
    src_idx, tgt_idx, pieces, area = src_idx[keep], tgt_idx[keep], pieces[keep], area[keep]
    small = small[keep]
    covered = _share(_sum_by(tgt_idx, area, n_tgt), shapely.area(tgt))
    measure = area
    src_whole = whole
    fallback = 0
    text = "area"
    if weights is not None:
        mask = np.asarray(weights.geometry.to_crs(crs).array, dtype=object)
        if weight_column is None:
            density = np.ones(len(mask))
        else:
            density = _numeric(weights, weight_column, "weights")
            if np.isnan(density).any() or (density < 0).any():
                msg = f"interpolate: weights column {weight_column!r} must be present and >= 0"
                raise SchemaError(msg)
        masked = _mask_area(pieces, mask, density)
        if allocate_total:
            src_masked = _sum_by(src_idx, masked, n_src)
        else:
            src_masked = _mask_area(original, mask, density)
        no_land = src_masked <= 0
        fallback = int(np.count_nonzero(no_land[np.unique(src_idx)]))
        measure = np.where(no_land[src_idx], area, masked)
        src_whole = np.where(no_land, src_whole, src_masked)
        text = f"dasymetric: {len(mask)} mask polygons" + (
            f", density column {weight_column!r}" if weight_column else ""
        )
    shared = np.where(small, 0.0, measure)  # extensive: slivers of a source get nothing
    src_den = _sum_by(src_idx, shared, n_src) if allocate_total else src_whole
    return _Pieces(
        src_idx=src_idx,
        tgt_idx=tgt_idx,
        area=area,
        measure=measure,
        shared=shared,
        src_den=src_den,
        n_src=n_src,
        n_tgt=n_tgt,
        covered=covered,
        fallback_sources=fallback,
        weights_text=text,
        dropped_pairs=int(small.sum()),
    )


def _extensive(
    p: _Pieces, x: FloatArray, moe: FloatArray | None
) -> tuple[FloatArray, FloatArray | None, dict[str, float]]:
    share = _share(p.shared, p.src_den[p.src_idx])
    est, touched = _weighted(p.tgt_idx, share, x[p.src_idx], p.n_tgt)
    est[touched] = np.nan
    est_moe = None if moe is None else _rss(p.tgt_idx, share, moe[p.src_idx], p.n_tgt)
    before, after = float(np.nansum(x)), float(np.nansum(est))
    total = {
        "source": before,
        "target": after,
        "difference": after - before,
        "relative_difference": (after - before) / before if before else 0.0,
    }
    return est, est_moe, total


def _intensive(
    p: _Pieces, x: FloatArray, moe: FloatArray | None, *, masked: bool
) -> tuple[FloatArray, FloatArray | None, int]:
    values = x[p.src_idx]
    has = ~np.isnan(values)
    den = _sum_by(p.tgt_idx, np.where(has, p.measure, 0.0), p.n_tgt)
    weight = p.measure
    fallback = 0
    if masked:  # a target with no inhabited land at all: plain area instead
        plain = _sum_by(p.tgt_idx, np.where(has, p.area, 0.0), p.n_tgt)
        no_land = (den <= 0) & (plain > 0)
        fallback = int(no_land.sum())
        weight = np.where(no_land[p.tgt_idx], p.area, p.measure)
        den = np.where(no_land, plain, den)
    share = _share(np.where(has, weight, 0.0), den[p.tgt_idx])
    est, _ = _weighted(p.tgt_idx, share, values, p.n_tgt)
    est[den <= 0] = np.nan
    est_moe = None
    if moe is not None:
        est_moe = _rss(p.tgt_idx, share, moe[p.src_idx], p.n_tgt)
        est_moe[den <= 0] = np.nan
    return est, est_moe, fallback


def _target_ids(frame: gpd.GeoDataFrame, target_id: str | None) -> pd.Index:
    if target_id is None:
        ids = frame.index.copy()
    elif target_id in frame.columns:
        ids = pd.Index(frame[target_id].to_numpy(), name=target_id)
    else:
        msg = (
            f"interpolate: target has no id column {target_id!r}; columns are "
            f"{list(frame.columns)} (target_id=None uses the index)"
        )
        raise SchemaError(msg)
    if ids.hasnans or not ids.is_unique:
        dupes = ids[ids.duplicated()].unique().tolist()[:10]
        msg = f"interpolate: target ids must be present and unique (duplicates: {dupes})"
        raise SchemaError(msg)
    return ids


def _moe_arrays(
    source: gpd.GeoDataFrame, variables: Sequence[str], moe: Mapping[str, str] | None
) -> dict[str, FloatArray]:
    if moe is None:
        chosen = {v: f"{v}_moe" for v in variables if f"{v}_moe" in source.columns}
    else:
        chosen = dict(moe)
        unknown = [v for v in chosen if v not in variables]
        if unknown:
            msg = f"interpolate: MOE given for {unknown}, which are not interpolated variables"
            raise SchemaError(msg)
    return {v: _numeric(source, c, "source") for v, c in chosen.items()}


def interpolate(
    source: gpd.GeoDataFrame,
    target: gpd.GeoDataFrame | Layer,
    *,
    extensive: Iterable[str] | str = (),
    intensive: Iterable[str] | str = (),
    moe: Mapping[str, str] | None = None,
    projected_crs: str | CRS | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = None,
    allocate_total: bool = True,
    target_id: str | None = "area_id",
    clip: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    min_share: float = 0.0,
) -> pd.DataFrame:
    """Move variables from source polygons (tracts) to target polygons by area.

    Parameters
    ----------
    source : geopandas.GeoDataFrame
        Source polygons with the variables as numeric columns; not modified.
        ``source.attrs["source"]`` / ``["year"]``, if set, are passed on.
    target : geopandas.GeoDataFrame or Layer
        Target polygons; not modified.
    extensive : str or iterable of str, default ()
        Count variables: split by area share and summed.
    intensive : str or iterable of str, default ()
        Rates, means and medians: area-weighted means.
    moe : mapping of str to str, optional
        Variable -> its margin-of-error column.  By default a column named
        ``<variable>_moe`` is used when present; ``{}`` propagates none.
    projected_crs : str or pyproj.CRS, optional
        Projected CRS the areas are measured in.  Default: the target
        Layer's ``projected_crs``, else the source's CRS if projected, else
        the target's if projected, else the UTM zone of the source.  Both
        inputs are reprojected to it, so they need not share a CRS.
    weights : geopandas.GeoDataFrame, optional
        Dasymetric mask: polygons of inhabited land (non-overlapping; any
        CRS).  Areas are then measured inside the mask only, weighted by
        ``weight_column``.  A source with no masked land in it falls back to
        plain area (counted in ``attrs["fallback_sources"]``), and so does an
        intensive target (``attrs["fallback_targets"]``), so nothing is lost.
        See :func:`land_use_weights`.
    weight_column : str, optional
        Column of ``weights`` with each polygon's relative density (>= 0);
        default 1 for every polygon.
    allocate_total : bool, default True
        True: each source's value is shared among the targets in proportion
        to the parts of it they cover, so the whole total arrives whenever a
        target touches the source.  False: shares are of the source's whole
        area (or masked land), so the value of a part outside every target is
        lost (the difference is reported in ``attrs["totals"]``).
    target_id : str or None, default "area_id"
        Target column that identifies the areas (unique); None uses the
        target's index.
    clip : geopandas.GeoDataFrame or GeoSeries, optional
        The city (any CRS): sources are cut to the union of its polygons
        first, so water or neighbouring towns in a tract receive nothing.  A
        source lying wholly outside it is not allocated.
    min_share : float, default 0.0
        A pair whose (clipped) intersection is smaller than this share of
        the *whole* source's area receives nothing (e.g. 0.01: a target must
        cover 1 % of a tract to get any of its people), so a tract is never
        pushed through a sliver.  A source left with no pair is not
        allocated (``attrs["unallocated"]``).

    Returns
    -------
    pandas.DataFrame
        Indexed by the target ids, in target order: each variable (float),
        followed by ``<variable>_moe`` when it has a MOE, then
        ``covered_share``, the share of the target's area covered by source
        polygons.  ``attrs`` holds ``method`` (``"area_weighted"`` or
        ``"dasymetric"``), ``crs``, ``weights``, ``allocate_total``,
        ``moe_method``, ``source``, ``year``, ``extensive``, ``intensive``,
        counts (``n_source``, ``n_target``, ``pairs``,
        ``sources_outside_targets``, ``fallback_sources``,
        ``fallback_targets``, ``dropped_pairs``, ``sources_unallocated``),
        ``min_share``, ``clipped`` (bool), ``unallocated`` (per extensive
        variable, the total of the sources that reach no target) and
        ``totals``: per extensive variable, its ``source`` and ``target``
        totals, ``difference`` and ``relative_difference``.

    Raises
    ------
    CRSError
        Source, target or weights has no CRS, or ``projected_crs`` is not a
        projected CRS.
    SchemaError
        A variable is missing or not numeric, a variable is both extensive
        and intensive, the target ids are missing or not unique, weights are
        negative.

    Notes
    -----
    The method and the MOE formulas are in the module docstring.  Pairs of
    polygons are found with a shapely STRtree and intersected in one
    vectorised call; sums use ``numpy.bincount``.
    """
    target_layer = target if isinstance(target, Layer) else None
    target_frame = target.gdf if isinstance(target, Layer) else target
    ext = _names(extensive, "extensive")
    inten = _names(intensive, "intensive")
    both = sorted(set(ext) & set(inten))
    if both:
        msg = f"interpolate: {both} given as both extensive and intensive"
        raise SchemaError(msg)
    frames = {"source": source, "target": target_frame}
    if weights is not None:
        frames["weights"] = weights
    _check_crs(frames)
    ids = _target_ids(target_frame, target_id)
    values = {v: _numeric(source, v, "source") for v in (*ext, *inten)}
    moes = _moe_arrays(source, list(values), moe)
    crs = _area_crs(
        projected_crs,
        target_layer.projected_crs if target_layer is not None else None,
        source,
        target_frame,
    )
    if not 0.0 <= min_share < 1.0:
        msg = f"interpolate: min_share must be a share in [0, 1), got {min_share!r}"
        raise OptionError(msg)
    clip_geom = None
    if clip is not None:
        _check_crs({"clip": clip})
        clip_geom = shapely.make_valid(clip.to_crs(crs).union_all())
    notes: dict[str, int] = {}
    p = _pieces(
        _geoms(source, crs, "source", notes),
        _geoms(target_frame, crs, "target", notes),
        weights=weights,
        weight_column=weight_column,
        crs=crs,
        allocate_total=allocate_total,
        clip=clip_geom,
        min_share=min_share,
    )

    out: dict[str, FloatArray] = {}
    totals: dict[str, dict[str, float]] = {}
    for var in ext:
        est, est_moe, totals[var] = _extensive(p, values[var], moes.get(var))
        out[var] = est
        if est_moe is not None:
            out[f"{var}_moe"] = est_moe
    fallback_targets = 0
    for var in inten:
        est, est_moe, fallback = _intensive(
            p, values[var], moes.get(var), masked=weights is not None
        )
        fallback_targets = max(fallback_targets, fallback)
        out[var] = est
        if est_moe is not None:
            out[f"{var}_moe"] = est_moe
    out["covered_share"] = p.covered

    result = pd.DataFrame(out, index=ids)
    outside = int(p.n_src - np.unique(p.src_idx).size)
    reached = _sum_by(p.src_idx, p.shared, p.n_src) > 0
    unallocated = {v: float(np.nansum(values[v][~reached])) for v in ext}
    attrs: dict[str, Any] = {
        "method": "area_weighted" if weights is None else "dasymetric",
        "crs": crs.to_string(),
        "weights": p.weights_text,
        "allocate_total": allocate_total,
        "moe_method": MOE_METHOD,
        "source": str(source.attrs.get("source", "")),
        "year": str(source.attrs.get("year", "")),
        "extensive": list(ext),
        "intensive": list(inten),
        "n_source": p.n_src,
        "n_target": p.n_tgt,
        "pairs": len(p.src_idx),
        "sources_outside_targets": outside,
        "fallback_sources": p.fallback_sources,
        "fallback_targets": fallback_targets,
        "dropped_pairs": p.dropped_pairs,
        "sources_unallocated": int((~reached).sum()),
        "min_share": min_share,
        "clipped": clip is not None,
        "unallocated": unallocated,
        "totals": totals,
    }
    attrs.update(notes)
    result.attrs.update(attrs)
    summary = "; ".join(
        f"{v} {t['source']:,.0f} -> {t['target']:,.0f} (difference {t['difference']:+,.3g})"
        for v, t in totals.items()
    )
    log.info(
        "interpolated %d extensive and %d intensive variables from %d sources to %d targets "
        "(%s, %s, %d pairs, %d sources outside the targets)%s",
        len(ext),
        len(inten),
        p.n_src,
        p.n_tgt,
        attrs["method"],
        attrs["crs"],
        len(p.src_idx),
        outside,
        f": {summary}" if summary else "",
    )
    return result

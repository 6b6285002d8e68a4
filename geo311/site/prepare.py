"""An indicator column ready to draw: its settings, statuses and classes, in EPSG:4326.

:func:`prepare` is shared by the interactive map (:mod:`geo311.site.maps`) and
the static PNG (:mod:`geo311.site.static`), so both show the same statuses
(ok / unstable / insufficient) and classes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from geo311._errors import CRSError, SchemaError
from geo311.catalogue import DATA_DICTIONARY
from geo311.crs import projected_crs
from geo311.site.classify import Classes, classify
from geo311.site.specs import (
    INDICATORS,
    NOT_REACHED,
    Indicator,
    days_floor,
    followup_days,
    indicator_spec,
    reached_state,
)

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "Prepared",
    "check_column",
    "days_text",
    "denominator",
    "followups",
    "numeric",
    "prepare",
    "to_wgs84",
    "utm_crs",
]

log = logging.getLogger(__name__)


def _statuses(
    frame: pd.DataFrame, values: pd.Series, spec: Indicator, min_count: int
) -> pd.Series:
    """Return each area's status: ok, unstable, insufficient or not reached.

    A time-to-close value the data do not reach (its flag says "not reached"
    or "beyond follow-up") is :data:`~geo311.site.specs.NOT_REACHED`: it has no
    value, yet it is a finding (slower than the follow-up), not missing data.
    """
    # marked in a plain array: setting a Series through a mask costs ~1 ms a call
    status = np.full(len(frame), "ok", dtype=object)
    if spec.count is not None and spec.count in frame.columns:
        counts = pd.to_numeric(frame[spec.count], errors="coerce")
        status[(counts < min_count).to_numpy(bool)] = "unstable"
    if spec.flag is not None and spec.flag in frame.columns:
        flags = frame[spec.flag].astype("string").str.strip().str.lower()
        status[(flags == "unstable").fillna(False).to_numpy(bool)] = "unstable"
        status[(flags == "insufficient").fillna(False).to_numpy(bool)] = "insufficient"
    missing = values.isna().to_numpy(bool)
    status[missing] = "insufficient"
    if spec.flag is not None and spec.flag in frame.columns:
        beyond = frame[spec.flag].map(reached_state).eq(NOT_REACHED).to_numpy(bool)
        status[beyond & missing] = NOT_REACHED
    return pd.Series(status, index=frame.index, dtype=object)


def followups(frame: pd.DataFrame, spec: Indicator) -> list[float]:
    """Return each area's follow-up horizon (days): ``ttc_followup_days``, else its flag's text."""
    days = numeric(frame, "ttc_followup_days")
    flags = frame[spec.flag] if spec.flag and spec.flag in frame else pd.Series(None, frame.index)
    return [followup_days(f, d) for f, d in zip(flags, days, strict=True)]


def days_text(days: float) -> str | None:
    """Return a follow-up horizon as "2.8 days" (rounded down), None when unknown."""
    text = days_floor(days)
    return f"{text} days" if text else None


def numeric(frame: pd.DataFrame, column: str | None) -> pd.Series:
    """Return ``column`` as floats (non-numbers as NaN); all NaN when it is absent or None."""
    if column is None or column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


class Prepared(NamedTuple):
    """An indicator column ready to draw: its settings, values, statuses and classes."""

    spec: Indicator
    values: pd.Series
    status: pd.Series
    classes: Classes
    min_count: int


def check_column(gdf: gpd.GeoDataFrame, column: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` when it has ``column``; else raise SchemaError listing its indicators."""
    if column not in gdf.columns:
        numeric = [c for c in gdf.columns if c in DATA_DICTIONARY or c in INDICATORS]
        msg = f"column {column!r} is not in the frame; indicator columns present: {numeric}"
        raise SchemaError(msg)
    return gdf


def prepare(
    frame: pd.DataFrame,
    column: str,
    *,
    scheme: str,
    k: int,
    bins: Sequence[float] | None,
    palette: str | Sequence[str] | None,
    min_count: int,
) -> Prepared:
    """Statuses and classes of ``column``, shared by :func:`choropleth` and :func:`static_map`."""
    spec = indicator_spec(column, list(frame.columns))
    values = numeric(frame, column)
    status = _statuses(frame, values, spec, min_count)
    classes = classify(
        values.where(~status.isin(["insufficient", NOT_REACHED])),
        scheme=scheme,
        k=k,
        bins=bins,
        palette=palette,
        center=spec.center if spec.palette == "diverging" else None,
        fmt=spec.fmt,
    )
    return Prepared(spec, values, status, classes, min_count)


def denominator(spec: Indicator, population_source: str | None) -> str | None:
    """Return the legend's denominator, with the population source when it is residents."""
    if spec.denominator and spec.uses_population:
        return f"{spec.denominator}, {population_source or 'source not stated'}"
    return spec.denominator


@functools.lru_cache(maxsize=64)
def _utm_crs_of_bounds(bounds: tuple[float, float, float, float]) -> Any:
    return projected_crs(bounds, where="the map")


def utm_crs(frame: gpd.GeoDataFrame) -> Any:
    """Return the UTM zone of a frame in EPSG:4326 (:func:`geo311.crs.projected_crs`), cached.

    The estimate depends only on the bounds (it looks up the UTM zone of their
    centre), and the pyproj database query behind it takes ~0.15 s: a site
    draws the same outlines on every page.
    """
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return _utm_crs_of_bounds((minx, miny, maxx, maxy))


def to_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4326 without its empty geometries (counted in a warning)."""
    import geopandas as gpd  # noqa: PLC0415

    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame, got {type(gdf).__name__}"
        raise TypeError(msg)
    if gdf.crs is None:
        msg = f"{what} has no CRS; set it first (gdf.set_crs('EPSG:4326') for lon/lat)"
        raise CRSError(msg)
    out = gdf.to_crs(4326)
    keep = ~(out.geometry.isna() | out.geometry.is_empty)
    if keep.all():
        return out  # a new frame already
    log.warning("%s: %d area(s) without geometry left off the map", what, int((~keep).sum()))
    return out[keep]

"""The rows of an indicator table: the areas of a layer, or those the requests name.

Given a :class:`~geo311.Layer` (or a frame of ``area_id``, ``area_name`` and
geometry), a table has one row per area, measured in km² in the layer's
projected CRS; without one, one row per area id found in the requests (and
in the population's index), with no land area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import CRSError, SchemaError
from geo311.crs import projected_crs
from geo311.indicators.scope import FloatArray, _factorize
from geo311.indicators.shared import Same, remember

__all__: list[str] = []


@dataclass(frozen=True)
class _Areas:
    """The rows of an indicator table: ids, names, land areas, vintage."""

    ids: pd.Index
    names: npt.NDArray[np.object_]
    km2: FloatArray
    vintage: str | None = None
    crs: str | None = None


def _labels(values: pd.Series) -> npt.NDArray[np.object_]:
    """Return text values as an object array of str, None where missing."""
    return np.array([None if pd.isna(v) else str(v) for v in values], dtype=object)


def _areas_from_layer(areas: Any) -> _Areas:
    """Read ids, names and km² from a :class:`~geo311.Layer` or (Geo)DataFrame."""
    vintage = None
    projected = None
    frame: Any = areas
    if hasattr(areas, "gdf") and hasattr(areas, "vintage"):
        frame = areas.gdf
        vintage = areas.vintage or None
        projected = areas.projected_crs
    if not isinstance(frame, pd.DataFrame):
        msg = f"areas must be a geo311 Layer or a (Geo)DataFrame, got {type(areas).__name__}"
        raise TypeError(msg)
    missing = [c for c in ("area_id", "area_name") if c not in frame.columns]
    if missing:
        msg = (
            f"areas lack the column(s) {missing}; pass a geo311 Layer or a frame with "
            "area_id, area_name and geometry (e.g. layer.gdf)"
        )
        raise SchemaError(msg)
    ids = pd.Index(frame["area_id"].astype("string").to_numpy(dtype=object), name="area_id")
    if ids.hasnans or ids.has_duplicates:
        dupes = sorted({str(v) for v in ids[ids.duplicated()]})[:5]
        msg = f"areas must have unique, non-missing area_id values; repeated: {dupes}"
        raise SchemaError(msg)
    names = _labels(frame["area_name"])
    km2 = np.full(len(ids), np.nan)
    crs_text = None
    geometry = getattr(frame, "geometry", None) if "geometry" in frame.columns else None
    if geometry is not None:
        crs = getattr(frame, "crs", None)
        if crs is None:
            msg = (
                "areas have no CRS; set it (e.g. .set_crs('EPSG:4326')) so that areas can "
                "be measured in a projected CRS"
            )
            raise CRSError(msg)
        geo: Any = frame  # a GeoDataFrame
        target = projected or (crs if crs.is_projected else projected_crs(geo, where="areas"))
        km2 = np.asarray(geo.geometry.to_crs(target).area, dtype=float) / 1e6
        crs_text = str(target)
    return _Areas(ids=ids, names=names, km2=km2, vintage=vintage, crs=crs_text)


def _areas_from_data(requests: pd.DataFrame, key: str, extra: pd.Index | None) -> _Areas:
    """Areas seen in the data (and in the population index), sorted; no land areas."""
    id_col, name_col = f"{key}_id", f"{key}_name"
    id_codes, id_values = _factorize(requests, id_col)
    seen = pd.Index(sorted(set(id_values)), dtype=object)
    if extra is not None:
        seen = seen.union(pd.Index(extra.astype(str), dtype=object))
    seen = pd.Index(sorted(seen), dtype=object, name="area_id")
    names = np.full(len(seen), None, dtype=object)
    if name_col in requests.columns:
        name_codes, name_values = _factorize(requests, name_col)
        rows = np.flatnonzero((id_codes >= 0) & (name_codes >= 0))
        # each id's name on the first row that has both
        found, first = np.unique(id_codes[rows], return_index=True)
        named = {
            id_values[i]: name_values[name_codes[rows[f]]]
            for i, f in zip(found, first, strict=True)
        }
        names = np.array([named.get(area) for area in seen], dtype=object)
    return _Areas(ids=seen, names=names, km2=np.full(len(seen), np.nan))


def _resolve_areas(requests: pd.DataFrame, key: str, areas: Any, population: Any) -> _Areas:
    """Return the areas of a table: those of ``areas``, else those of the data (see above)."""
    if areas is not None:  # measured once per block: every table of a layer reads it
        return remember(requests, ("areas", Same(areas)), lambda: _areas_from_layer(areas))
    extra = None
    if population is not None:
        extra = pd.Index(pd.Series(population).index)
    return _areas_from_data(requests, key, extra)

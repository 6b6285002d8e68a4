"""The canonical request schema every ingest produces, and its validator.

Column names follow Open311 GeoReport v2 / Bulk.  Timestamps are
timezone-aware UTC instants; the profile that produced a frame names the
city's IANA zone (kept in ``frame.attrs["timezone"]``) for local-time
bucketing.  Every source column is kept verbatim as a ``raw_<name>`` string
column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from geo311._errors import SchemaError

__all__ = [
    "CANONICAL_COLUMNS",
    "COORD_QUALITY",
    "COORD_USABLE",
    "Column",
    "column_names",
    "validate_requests",
]

Kind = Literal["string", "datetime", "float", "bool", "int"]


@dataclass(frozen=True)
class Column:
    """One column of the canonical request schema."""

    name: str
    kind: Kind
    required: bool
    description: str


CANONICAL_COLUMNS: tuple[Column, ...] = (
    Column("service_request_id", "string", True, "Request id as issued by the city (a string)."),
    Column("service_code", "string", False, "Service type code (a string even if numeric)."),
    Column("service_name", "string", False, "Service type name, e.g. 'SW-Dirty Alley'."),
    Column("description", "string", False, "Free text typed by the requester (never mapped)."),
    Column(
        "status", "string", False, "'open' or 'closed' (missing when the raw value is unknown)."
    ),
    Column("status_raw", "string", False, "The source's status value, verbatim."),
    Column("status_notes", "string", False, "Outcome / status notes, verbatim."),
    Column("requested_datetime", "datetime", True, "When the request was created (UTC)."),
    Column("updated_datetime", "datetime", False, "Last status update (UTC)."),
    Column("closed_datetime", "datetime", False, "When the request was closed (UTC)."),
    Column("expected_datetime", "datetime", False, "Due date the city set (UTC)."),
    Column("agency_responsible", "string", False, "Agency that owns the request."),
    Column("source", "string", False, "Intake channel (phone, web, app, internal, ...)."),
    Column("address", "string", False, "Street address as given."),
    Column("zipcode", "string", False, "ZIP code (a string, leading zeros kept)."),
    Column("lat", "float", False, "Latitude, WGS84 (EPSG:4326)."),
    Column("long", "float", False, "Longitude, WGS84 (EPSG:4326)."),
    Column("coord_quality", "string", True, "Coordinate check result, see COORD_QUALITY."),
    Column("is_duplicate", "bool", True, "Status/outcome marks the request a duplicate."),
    Column("is_transfer", "bool", True, "Status/outcome marks the request transferred/referred."),
    Column(
        "is_proactive", "bool", True, "Filed by city staff (proactive type or internal channel)."
    ),
    Column("qa_flags", "string", True, "'|'-separated data-quality flags; '' when none."),
    Column("input_file", "string", True, "File the row came from."),
    Column("input_row", "int", True, "1-based data row (record) number within that file."),
)

#: Values of ``coord_quality``, in order of precedence.
COORD_QUALITY: tuple[str, ...] = (
    "missing",  # no coordinates
    "zero",  # (0, 0) "null island"
    "out_of_range",  # |lat| > 90 or |long| > 180, not fixable by swapping
    "placeholder",  # a point shared by an implausible share of requests, or coarse
    "outside_area",  # valid but outside the profile's bounding area
    "swapped",  # lat/long were swapped in the source; fixed
    "ok",
)

#: Coordinate qualities whose point is placed on the map / joined.
COORD_USABLE: tuple[str, ...] = ("swapped", "ok")


def column_names() -> list[str]:
    """Return the canonical column names in schema order.

    Examples
    --------
    >>> column_names()[:3]
    ['service_request_id', 'service_code', 'service_name']
    """
    return [c.name for c in CANONICAL_COLUMNS]


def _kind_ok(series: pd.Series, kind: Kind) -> str | None:
    """Return a description of the dtype problem, or None when the dtype fits."""
    dtype = series.dtype
    if kind == "string":
        if pd.api.types.is_string_dtype(dtype):
            return None
        return f"expected strings, found dtype {dtype}"
    if kind == "datetime":
        if isinstance(dtype, pd.DatetimeTZDtype):
            return None if str(dtype.tz) == "UTC" else f"expected UTC, found time zone {dtype.tz}"
        return f"expected timezone-aware UTC datetimes, found dtype {dtype}"
    if kind == "float":
        return None if pd.api.types.is_float_dtype(dtype) else f"expected float, found {dtype}"
    if kind == "bool":
        return None if pd.api.types.is_bool_dtype(dtype) else f"expected bool, found {dtype}"
    return None if pd.api.types.is_integer_dtype(dtype) else f"expected integer, found {dtype}"


def validate_requests(requests: pd.DataFrame, *, name: str = "requests") -> pd.DataFrame:
    """Check a frame against the canonical request schema; report every problem at once.

    Parameters
    ----------
    requests : pandas.DataFrame or geopandas.GeoDataFrame
        A frame produced by :func:`geo311.requests_from_frame` or read back from
        a geo311 GeoParquet file.
    name : str, default "requests"
        How to name the frame (e.g. its file path) in the error message.

    Returns
    -------
    pandas.DataFrame
        The same frame, unchanged, so the call can be chained.  Extra columns
        (added by later stages, e.g. ``<layer>_id``) are allowed.

    Raises
    ------
    SchemaError
        Listing every missing column, wrong dtype, invalid value and duplicate id.

    Examples
    --------
    >>> import pandas as pd
    >>> validate_requests(pd.DataFrame({"service_request_id": ["1"]}))
    Traceback (most recent call last):
    ...
    geo311._errors.SchemaError: requests does not follow the geo311 request schema ...
    """
    problems: list[str] = []
    missing = [c.name for c in CANONICAL_COLUMNS if c.required and c.name not in requests]
    if missing:
        problems.append(f"missing required columns: {', '.join(missing)}")
    for col in CANONICAL_COLUMNS:
        if col.name not in requests:
            continue
        issue = _kind_ok(requests[col.name], col.kind)
        if issue:
            problems.append(f"column {col.name!r}: {issue}")
    if "status" in requests:
        bad = ~requests["status"].isna() & ~requests["status"].isin(["open", "closed"])
        if bad.any():
            values = sorted({str(v) for v in requests.loc[bad, "status"]})[:5]
            problems.append(f"column 'status': {int(bad.sum())} values not open/closed: {values}")
    if "coord_quality" in requests:
        bad = ~requests["coord_quality"].isin(COORD_QUALITY)
        if bad.any():
            problems.append(
                f"column 'coord_quality': {int(bad.sum())} values outside {list(COORD_QUALITY)}"
            )
    for col, limit in (("lat", 90.0), ("long", 180.0)):
        if col in requests and pd.api.types.is_float_dtype(requests[col].dtype):
            usable = requests.get("coord_quality", pd.Series("ok", index=requests.index))
            vals = requests[col].to_numpy(dtype=float, na_value=np.nan)
            bad = usable.isin(COORD_USABLE).to_numpy() & ~(np.abs(vals) <= limit)
            if bad.any():
                problems.append(f"column {col!r}: {int(bad.sum())} usable rows outside ±{limit}")
    if "service_request_id" in requests:
        ids = requests["service_request_id"].dropna()
        dupes = ids[ids.duplicated()]
        if len(dupes):
            problems.append(
                f"column 'service_request_id': {len(dupes)} duplicate ids, e.g. "
                f"{sorted(set(dupes.astype(str)))[:5]}"
            )
    crs = getattr(requests, "crs", None)
    if "geometry" in requests and crs is not None and crs.to_epsg() != 4326:
        problems.append(f"geometry CRS is {crs.to_string()}, expected EPSG:4326")
    if problems:
        lines = "\n  - ".join(problems)
        msg = (
            f"{name} does not follow the geo311 request schema ({len(problems)} problems):\n"
            f"  - {lines}\nBuild the frame with geo311.requests_from_frame() or "
            "geo311.read_requests() so that every column is mapped and typed."
        )
        raise SchemaError(msg)
    return requests

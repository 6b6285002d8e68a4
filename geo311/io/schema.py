"""The canonical request schema every ingest produces, and its validator.

Column names follow Open311 GeoReport v2 / Bulk.  Timestamps are
timezone-aware UTC instants; the profile that produced a frame names the
city's IANA zone (kept in ``frame.attrs["timezone"]``) for local-time
bucketing.  Asked to (``keep_raw=True``), a reader also keeps every source
column verbatim as a ``raw_<name>`` column of Arrow-backed strings (Open311
``extended_attributes`` members as ``raw_extended_attributes.<key>``;
``media_url`` and ``address_id`` only there).
A profile with a ``[jurisdictions]`` table adds two columns after the
canonical ones: ``jurisdiction`` (the row's jurisdiction, as written) and
``timezone`` (the IANA zone its wall-clock times were read in).
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
    "placeholder",  # a stand-in point (see geo311.clean.placeholders)
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


def _is_strings(series: pd.Series) -> bool:
    """Return True for strings: a string dtype, or objects or categories that are str or NA.

    Categoricals are the canonical dtype of repeated text (:mod:`geo311.io.dtypes`).
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return _is_strings(pd.Series(series.cat.categories, dtype=series.cat.categories.dtype))
    if series.dtype == object:
        return pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
    return pd.api.types.is_string_dtype(series.dtype)


_KIND_CHECKS = {
    "string": (_is_strings, "strings"),
    "float": (pd.api.types.is_float_dtype, "float"),
    "bool": (pd.api.types.is_bool_dtype, "bool"),
    "int": (pd.api.types.is_integer_dtype, "integer"),
}


def _kind_ok(series: pd.Series, kind: Kind) -> str | None:
    """Return a description of the dtype problem, or None when the dtype fits."""
    dtype = series.dtype
    if kind == "datetime":
        if isinstance(dtype, pd.DatetimeTZDtype):
            return None if str(dtype.tz) == "UTC" else f"expected UTC, found time zone {dtype.tz}"
        return f"expected timezone-aware UTC datetimes, found dtype {dtype}"
    check, label = _KIND_CHECKS[kind]
    return None if check(series) else f"expected {label}, found dtype {dtype}"


def _column_problems(requests: pd.DataFrame) -> list[str]:
    """List missing required columns and columns of the wrong dtype."""
    problems: list[str] = []
    missing = [c.name for c in CANONICAL_COLUMNS if c.required and c.name not in requests]
    if missing:
        problems.append(f"missing required columns: {', '.join(missing)}")
    for col in CANONICAL_COLUMNS:
        if col.name in requests:
            issue = _kind_ok(requests[col.name], col.kind)
            if issue:
                problems.append(f"column {col.name!r}: {issue}")
    return problems


def _value_problems(requests: pd.DataFrame) -> list[str]:
    """List values outside their vocabulary or range."""
    problems: list[str] = []
    if "status" in requests:
        status = requests["status"]
        bad = (status.notna() & ~status.isin(["open", "closed"])).to_numpy(dtype=bool)
        if bad.any():
            values = sorted({str(v) for v in status[bad]})[:5]
            problems.append(f"column 'status': {int(bad.sum())} values not open/closed: {values}")
    usable = np.ones(len(requests), dtype=bool)
    if "coord_quality" in requests:
        quality = requests["coord_quality"]
        bad = ~quality.isin(COORD_QUALITY).to_numpy(dtype=bool)
        if bad.any():
            problems.append(
                f"column 'coord_quality': {int(bad.sum())} values outside {list(COORD_QUALITY)}"
            )
        usable = quality.isin(COORD_USABLE).to_numpy(dtype=bool)
    for axis, limit in (("lat", 90.0), ("long", 180.0)):
        if axis in requests and pd.api.types.is_float_dtype(requests[axis].dtype):
            vals = requests[axis].to_numpy(dtype=float, na_value=np.nan)
            bad = usable & ~(np.abs(vals) <= limit)
            if bad.any():
                problems.append(f"column {axis!r}: {int(bad.sum())} usable rows outside ±{limit}")
    return problems


def _identity_problems(requests: pd.DataFrame) -> list[str]:
    """List repeated request ids and a geometry CRS other than EPSG:4326."""
    problems: list[str] = []
    if "service_request_id" in requests:
        ids = requests["service_request_id"].dropna()
        dupes = ids[ids.duplicated()]
        if len(dupes):
            problems.append(
                f"column 'service_request_id': {len(dupes)} duplicate ids, e.g. "
                f"{sorted(set(dupes.astype(str)))[:5]}"
            )
    if "geometry" in requests:
        crs = getattr(requests, "crs", None)
        if crs is None:
            problems.append(
                "geometry has no CRS, expected EPSG:4326 (if the points are longitude/latitude, "
                "set it with .set_crs('EPSG:4326'))"
            )
        elif crs.to_epsg() != 4326:
            problems.append(
                f"geometry CRS is {crs.to_string()}, expected EPSG:4326 "
                "(convert with .to_crs('EPSG:4326'))"
            )
    return problems


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
    problems = [
        *_column_problems(requests),
        *_value_problems(requests),
        *_identity_problems(requests),
    ]
    if problems:
        lines = "\n  - ".join(problems)
        msg = (
            f"{name} does not follow the geo311 request schema ({len(problems)} problems):\n"
            f"  - {lines}\nBuild the frame with geo311.requests_from_frame() or "
            "geo311.read_requests() so that every column is mapped and typed."
        )
        raise SchemaError(msg)
    return requests

"""Per-area indicators of 311 demand and service, with intervals, flags and denominators.

Every figure is defined in ``METRICS.md`` (items 1-9); the item is named
next to each column in :data:`DATA_DICTIONARY`.

Which requests count
--------------------
A request is *in scope* for a table when it has a creation time, was created
no later than ``as_of``, lies in ``period`` (``start <= requested < end``),
passes the service type / agency / channel filters and is assigned to an area
of the layer.  Of those, duplicates and transfers are excluded by default
(``include_duplicates`` / ``include_transfers``), and ``demand`` picks
resident-initiated (default), proactive or all requests.  The requests left
are *counted*; every indicator describes the same counted requests, and the
per-area columns ``requests_excluded`` (``= requests_all - requests``),
``requests_duplicate`` and ``requests_transfer`` say how many were set aside.

Time to close (METRICS 5-7) uses the counted requests whose duration is
valid: a closed request (closed time present, not after ``as_of``, status not
``open``) contributes ``closed - requested`` as an event; every other request
is open at ``as_of`` and contributes ``as_of - requested`` as a right-censored
observation (a request closed *after* ``as_of`` was open then).  Durations are
differences of UTC instants, so a daylight-saving change never adds or removes
an hour.  Closed requests with a negative duration (closed before created),
with status ``closed`` but no closed time, or longer than ``max_days`` are
excluded from time to close and the due-date figures and counted
(``ttc_excluded_*``) -- never clipped.

All functions are pure: inputs are never modified.

Examples
--------
>>> import pandas as pd
>>> t0 = pd.Timestamp("2025-01-06 09:00", tz="UTC")
>>> day = pd.Timedelta(days=1)
>>> requests = pd.DataFrame({
...     "requested_datetime": [t0, t0, t0 + day],
...     "closed_datetime": [t0 + 2 * day, pd.NaT, t0 + 3 * day],
...     "status": ["closed", "open", "closed"],
...     "is_duplicate": False, "is_transfer": False, "is_proactive": False,
...     "wards_id": ["A", "A", "B"],
... })
>>> table = area_indicators(requests, key="wards", as_of=t0 + 10 * day, min_count=1,
...                         population=pd.Series({"A": 1000.0, "B": 500.0}))
>>> table["requests"].to_dict(), table["rate_per_1k"].to_dict()
({'A': 2, 'B': 1}, {'A': 2.0, 'B': 2.0})
>>> table["ttc_median_days"].to_dict()  # A: S = 1/2 once the first closes at 2 days
{'A': 2.0, 'B': 2.0}
>>> table["ttc_median_days_closed_only"].to_dict()
{'A': 2.0, 'B': 2.0}
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import CRSError, SchemaError
from geo311.indicators.survival import survival_curves

__all__ = [
    "CITY_ID",
    "DATA_DICTIONARY",
    "DEMAND",
    "PATTERN_COLUMNS",
    "RATE_FLAGS",
    "ROW_COUNTS",
    "area_indicators",
    "channel_mix",
    "city_indicators",
    "data_dictionary",
    "service_mix",
    "time_patterns",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
TimeLike = str | date | datetime | pd.Timestamp
Demand = Literal["resident", "proactive", "all"]

#: ``demand`` choices: which requests count as demand (METRICS "Which requests count").
DEMAND: dict[str, str] = {
    "resident": "resident-initiated requests only (is_proactive is False)",
    "proactive": "requests filed by city staff only (is_proactive is True)",
    "all": "resident-initiated and proactive requests",
}
#: Values of ``rate_flag`` (METRICS 1).
RATE_FLAGS: dict[str, str] = {
    "ok": "population >= min_population and requests >= min_count",
    "unstable": "fewer than min_count requests: relative standard error above 1/sqrt(min_count)",
    "insufficient": "population unknown or below min_population: no rate is shown",
}
#: Keys of ``attrs["geo311"]["rows"]``: requests dropped or set aside at each step, in order.
ROW_COUNTS: dict[str, str] = {
    "rows": "rows in the input frame",
    "no_requested_datetime": "dropped: no creation time (cannot be placed in time)",
    "created_after_as_of": "dropped: created after as_of",
    "outside_period": "dropped: created outside the period",
    "filtered_out": "dropped: not of the service types / agencies / channels asked for",
    "not_assigned_to_area": "dropped: not placed in any area of the layer (see <layer>_join)",
    "area_id_not_in_layer": "dropped: <layer>_id not among the areas given",
    "in_scope": "left in scope (the requests_all of all areas together)",
    "duplicates_excluded": "set aside: marked duplicate (include_duplicates=False)",
    "transfers_excluded": "set aside: marked transferred and not duplicate (include_transfers)",
    "other_demand_excluded": "set aside: the other demand type (e.g. proactive when resident)",
    "counted": "counted requests (the requests of all areas together)",
    "ttc_excluded_negative": "counted, but excluded from time to close: closed before created",
    "ttc_excluded_no_closed_time": "counted, excluded from time to close: closed, no closed time",
    "ttc_excluded_implausible": "counted, excluded from time to close: longer than max_days",
}
#: ``area_id`` of the citywide row (:func:`city_indicators`, ``city=True``).
CITY_ID = "city"
#: Days at which the share of requests closed is reported (METRICS 5).
HORIZONS_DAYS: tuple[int, ...] = (1, 7, 30)
#: Columns of :func:`time_patterns` (besides the ``area_id`` index).
PATTERN_COLUMNS: tuple[str, ...] = (
    "pattern",
    "bucket",
    "bucket_order",
    "requests",
    "closures",
    "share",
    "closures_share",
)
_NS_PER_DAY = 86_400 * 10**9
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_UNKNOWN = "(unknown)"

_D = "METRICS.md"
#: Column name -> (meaning, unit, formula reference) for :func:`area_indicators`.
DATA_DICTIONARY: dict[str, tuple[str, str, str]] = {
    "area_id": ("Area id of the layer (the frame's index)", "text", "geographies"),
    "area_name": ("Area name of the layer", "text", "geographies"),
    "requests_all": (
        "In-scope requests in the area (period, filters, assigned), before exclusions",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests": (
        "Counted requests: in scope, duplicates/transfers excluded unless included, "
        "selected demand (resident-initiated by default)",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_excluded": (
        "requests_all - requests (duplicates, transfers, other demand type)",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_duplicate": (
        "In-scope requests marked duplicate",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_transfer": (
        "In-scope requests marked transferred",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_resident": (
        "Resident-initiated requests after duplicate/transfer exclusion",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_proactive": (
        "Proactive (staff-filed) requests after duplicate/transfer exclusion",
        "requests",
        f"{_D} Which requests count",
    ),
    "population": ("Residents (denominator; source and year in metadata)", "persons", f"{_D} 1"),
    "rate_per_1k": ("1000 * requests / population", "requests per 1,000 residents", f"{_D} 1"),
    "rate_per_1k_ci_low": (
        "Exact Poisson (Garwood) lower limit: chi2.ppf(a/2, 2y)/2 * 1000/P",
        "requests per 1,000 residents",
        f"{_D} 1",
    ),
    "rate_per_1k_ci_high": (
        "Exact Poisson (Garwood) upper limit: chi2.ppf(1-a/2, 2y+2)/2 * 1000/P",
        "requests per 1,000 residents",
        f"{_D} 1",
    ),
    "rate_flag": ("ok / unstable / insufficient (see RATE_FLAGS)", "category", f"{_D} 1"),
    "rate_ratio": (
        "Rate in the area / rate in the rest of the layer's areas with population",
        "ratio",
        f"{_D} 2",
    ),
    "rate_ratio_ci_low": (
        "exp(ln RR - z sqrt(1/y_i + 1/y_rest)); NaN when either count is 0",
        "ratio",
        f"{_D} 2",
    ),
    "rate_ratio_ci_high": (
        "exp(ln RR + z sqrt(1/y_i + 1/y_rest)); NaN when either count is 0",
        "ratio",
        f"{_D} 2",
    ),
    "rate_per_1k_eb": (
        "Marshall (1991) global empirical Bayes smoothed rate (areas with population > 0)",
        "requests per 1,000 residents",
        f"{_D} 3",
    ),
    "area_km2": ("Land area of the polygon, in the layer's projected CRS", "km²", f"{_D} 4"),
    "requests_per_km2": ("requests / area_km2", "requests per km²", f"{_D} 4"),
    "ttc_requests": (
        "Counted requests with a valid duration (used for time to close)",
        "requests",
        f"{_D} 5",
    ),
    "ttc_closed": (
        "Of ttc_requests, closed by as_of (events; the observed closures O)",
        "requests",
        f"{_D} 5",
    ),
    "ttc_open": ("Of ttc_requests, open at as_of (right-censored)", "requests", f"{_D} 5"),
    "ttc_excluded_negative": (
        "Counted requests closed before they were created: excluded from time to close",
        "requests",
        f"{_D} 6",
    ),
    "ttc_excluded_no_closed_time": (
        "Counted requests with status closed but no closed time: excluded from time to close",
        "requests",
        f"{_D} 6",
    ),
    "ttc_excluded_implausible": (
        "Counted requests closed after more than max_days: excluded from time to close",
        "requests",
        f"{_D} 6",
    ),
    "ttc_median_days": (
        "Kaplan-Meier median time to close, open requests censored at as_of; "
        "NaN when fewer than half have closed (not estimable)",
        "days",
        f"{_D} 5",
    ),
    "ttc_median_days_ci_low": (
        "Lower limit of the median: where the lower log(-log) Greenwood band of S reaches 0.5",
        "days",
        f"{_D} 5",
    ),
    "ttc_median_days_ci_high": (
        "Upper limit of the median: where the upper band of S reaches 0.5; NaN = not "
        "reached (the interval is open-ended)",
        "days",
        f"{_D} 5",
    ),
    "ttc_median_days_closed_only": (
        "Naive median over closed requests only (biased low; for comparison with dashboards)",
        "days",
        f"{_D} 5",
    ),
    "ttc_p90_days": (
        "Kaplan-Meier time by which 90% are closed (first t with S(t) <= 0.1); NaN when "
        "not reached (not estimable)",
        "days",
        f"{_D} 5",
    ),
    "ttc_expected_closures": (
        "Closures expected if every request closed at the citywide rate of its service "
        "type: sum of the type's Nelson-Aalen H(t) at each request's follow-up time",
        "requests",
        f"{_D} 7",
    ),
    "ttc_type_adjusted_ratio": (
        "Observed / expected closures (indirect standardisation by service type); "
        ">1 = closes faster than its type mix predicts, <1 = slower; 1 citywide",
        "ratio",
        f"{_D} 7",
    ),
    "ttc_type_adjusted_ratio_ci_low": (
        "Exact Poisson (Garwood) limit of O, divided by E",
        "ratio",
        f"{_D} 7",
    ),
    "ttc_type_adjusted_ratio_ci_high": (
        "Exact Poisson (Garwood) limit of O, divided by E",
        "ratio",
        f"{_D} 7",
    ),
    "ttc_crude_ratio": (
        "Observed / expected closures against the citywide curve of all types pooled "
        "(the unadjusted counterpart of ttc_type_adjusted_ratio)",
        "ratio",
        f"{_D} 7",
    ),
    "on_time_share": (
        "closed on or before due / (closed with due date + open with due date before as_of)",
        "share (0-1)",
        f"{_D} 8",
    ),
    "on_time_ci_low": ("Wilson lower limit of on_time_share", "share (0-1)", f"{_D} 8"),
    "on_time_ci_high": ("Wilson upper limit of on_time_share", "share (0-1)", f"{_D} 8"),
    "on_time": ("Requests closed on or before their due date", "requests", f"{_D} 8"),
    "sla_due": (
        "Denominator of on_time_share: closed with a due date + open and overdue",
        "requests",
        f"{_D} 8",
    ),
    "open_overdue": (
        "Open at as_of with a due date before as_of (failures)",
        "requests",
        f"{_D} 8",
    ),
    "open_on_track": (
        "Open at as_of, not yet due: excluded from on_time_share",
        "requests",
        f"{_D} 8",
    ),
    "no_due_date": ("Requests without a due date: excluded from on_time_share", "requests", _D),
}
for _h in HORIZONS_DAYS:
    DATA_DICTIONARY[f"closed_within_{_h}d_share"] = (
        f"Kaplan-Meier share closed within {_h} day(s): 1 - S({_h})",
        "share (0-1)",
        f"{_D} 5",
    )
    DATA_DICTIONARY[f"closed_within_{_h}d_ci_low"] = (
        f"1 - upper log(-log) Greenwood band of S({_h})",
        "share (0-1)",
        f"{_D} 5",
    )
    DATA_DICTIONARY[f"closed_within_{_h}d_ci_high"] = (
        f"1 - lower log(-log) Greenwood band of S({_h})",
        "share (0-1)",
        f"{_D} 5",
    )

_COLUMNS: tuple[str, ...] = (
    "area_name",
    "requests_all",
    "requests",
    "requests_excluded",
    "requests_duplicate",
    "requests_transfer",
    "requests_resident",
    "requests_proactive",
    "population",
    "rate_per_1k",
    "rate_per_1k_ci_low",
    "rate_per_1k_ci_high",
    "rate_flag",
    "rate_ratio",
    "rate_ratio_ci_low",
    "rate_ratio_ci_high",
    "rate_per_1k_eb",
    "area_km2",
    "requests_per_km2",
    "ttc_requests",
    "ttc_closed",
    "ttc_open",
    "ttc_excluded_negative",
    "ttc_excluded_no_closed_time",
    "ttc_excluded_implausible",
    "ttc_median_days",
    "ttc_median_days_ci_low",
    "ttc_median_days_ci_high",
    "ttc_median_days_closed_only",
    "ttc_p90_days",
    *(
        f"closed_within_{h}d_{part}"
        for h in HORIZONS_DAYS
        for part in ("share", "ci_low", "ci_high")
    ),
    "ttc_expected_closures",
    "ttc_type_adjusted_ratio",
    "ttc_type_adjusted_ratio_ci_low",
    "ttc_type_adjusted_ratio_ci_high",
    "ttc_crude_ratio",
    "on_time_share",
    "on_time_ci_low",
    "on_time_ci_high",
    "on_time",
    "sla_due",
    "open_overdue",
    "open_on_track",
    "no_due_date",
)
_INT_COLUMNS = frozenset(
    {
        "requests_all",
        "requests",
        "requests_excluded",
        "requests_duplicate",
        "requests_transfer",
        "requests_resident",
        "requests_proactive",
        "ttc_requests",
        "ttc_closed",
        "ttc_open",
        "ttc_excluded_negative",
        "ttc_excluded_no_closed_time",
        "ttc_excluded_implausible",
        "on_time",
        "sla_due",
        "open_overdue",
        "open_on_track",
        "no_due_date",
    }
)


def data_dictionary() -> pd.DataFrame:
    """Return :data:`DATA_DICTIONARY` as a table, in the column order of the indicator table.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``meaning``, ``unit``, ``reference`` (METRICS.md item);
        one row per column of :func:`area_indicators` plus ``area_id`` first.

    Examples
    --------
    >>> table = data_dictionary()
    >>> table.iloc[0]["name"], table.set_index("name").loc["rate_per_1k", "reference"]
    ('area_id', 'METRICS.md 1')
    """
    names = ["area_id", *_COLUMNS]
    return pd.DataFrame(
        [(name, *DATA_DICTIONARY[name]) for name in names],
        columns=["name", "meaning", "unit", "reference"],
    )


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Options:
    """The analytic choices shared by every function of this module."""

    key: str
    as_of: TimeLike | None
    period: tuple[TimeLike | None, TimeLike | None] | None
    service_types: tuple[str, ...] | None
    agencies: tuple[str, ...] | None
    sources: tuple[str, ...] | None
    demand: str
    include_duplicates: bool
    include_transfers: bool
    timezone: str | None
    max_days: float | None = None


def _as_tuple(name: str, values: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        return (values,)
    out = tuple(values)
    if not all(isinstance(v, str) for v in out):
        msg = f"{name} must be a string or a sequence of strings, got {values!r}"
        raise TypeError(msg)
    return out


def _options(
    *,
    key: str,
    as_of: TimeLike | None,
    period: tuple[TimeLike | None, TimeLike | None] | None,
    service_types: str | Sequence[str] | None,
    agencies: str | Sequence[str] | None,
    sources: str | Sequence[str] | None,
    demand: str,
    include_duplicates: bool,
    include_transfers: bool,
    timezone: str | None,
    max_days: float | None = None,
) -> _Options:
    """Check the shared keyword options; raise once, listing every problem."""
    problems: list[str] = []
    if not isinstance(key, str) or not key:
        problems.append(f"key must be a layer key such as 'neighborhoods', got {key!r}")
    if demand not in DEMAND:
        problems.append(f"demand must be one of {sorted(DEMAND)}, got {demand!r}")
    if period is not None and (not isinstance(period, tuple | list) or len(period) != 2):
        problems.append(f"period must be a (start, end) pair, got {period!r}")
    if max_days is not None and not (math.isfinite(max_days) and max_days > 0):
        problems.append(f"max_days must be a positive number of days, got {max_days!r}")
    if problems:
        msg = "; ".join(problems)
        raise ValueError(msg)
    return _Options(
        key=key,
        as_of=as_of,
        period=None if period is None else (period[0], period[1]),
        service_types=_as_tuple("service_types", service_types),
        agencies=_as_tuple("agencies", agencies),
        sources=_as_tuple("sources", sources),
        demand=demand,
        include_duplicates=bool(include_duplicates),
        include_transfers=bool(include_transfers),
        timezone=timezone,
        max_days=max_days,
    )


# --------------------------------------------------------------------------- areas


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
        target = projected or (crs if crs.is_projected else geo.estimate_utm_crs())
        km2 = np.asarray(geo.geometry.to_crs(target).area, dtype=float) / 1e6
        crs_text = str(target)
    return _Areas(ids=ids, names=names, km2=km2, vintage=vintage, crs=crs_text)


def _areas_from_data(requests: pd.DataFrame, key: str, extra: pd.Index | None) -> _Areas:
    """Areas seen in the data (and in the population index), sorted; no land areas."""
    id_col, name_col = f"{key}_id", f"{key}_name"
    ids = requests[id_col].astype("string")
    seen = pd.Index(sorted({str(v) for v in ids.dropna().unique()}), dtype=object)
    if extra is not None:
        seen = seen.union(pd.Index(extra.astype(str), dtype=object))
    seen = pd.Index(sorted(seen), dtype=object, name="area_id")
    names = np.full(len(seen), None, dtype=object)
    if name_col in requests.columns:
        pairs = pd.DataFrame({"id": ids, "name": requests[name_col].astype("string")}).dropna()
        first = pairs.drop_duplicates("id").set_index("id")["name"]
        names = _labels(first.reindex(seen))
    return _Areas(ids=seen, names=names, km2=np.full(len(seen), np.nan))


# --------------------------------------------------------------------------- selection


def _utc_ns(requests: pd.DataFrame, column: str) -> npt.NDArray[np.datetime64]:
    """Return a column as naive UTC ``datetime64[ns]`` (NaT where missing or absent)."""
    if column not in requests.columns:
        return np.full(len(requests), np.datetime64("NaT"), dtype="datetime64[ns]")
    values = requests[column]
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        msg = (
            f"column {column!r} must hold timezone-aware datetimes (UTC), found dtype "
            f"{values.dtype}; read requests with geo311.read_requests"
        )
        raise SchemaError(msg)
    return values.to_numpy(dtype="datetime64[ns]")


def _instant(value: TimeLike, timezone: str | None, what: str) -> pd.Timestamp:
    """Return a caller's time as a UTC instant; naive values are local wall time."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        msg = f"{what} {value!r} is not a date/time"
        raise ValueError(msg) from exc
    if stamp is pd.NaT:
        msg = f"{what} must be a date/time, got {value!r}"
        raise ValueError(msg)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone or "UTC")
    return stamp.tz_convert("UTC")


@dataclass
class _Scope:
    """The selected rows of one call, as arrays over the in-scope rows."""

    n_areas: int
    code: IntArray  # area code of every in-scope row
    counted: BoolArray
    duplicate: BoolArray
    transfer: BoolArray
    proactive: BoolArray
    flag_excluded: BoolArray
    start: npt.NDArray[np.datetime64]
    closed: npt.NDArray[np.datetime64]
    due: npt.NDArray[np.datetime64]
    event: BoolArray  # closed by as_of with a usable closed time
    duration_days: FloatArray  # to close (event) or to as_of (open); NaN when invalid
    negative: BoolArray
    no_closed_time: BoolArray
    implausible: BoolArray
    service: IntArray | None  # service type code into service_labels
    service_labels: list[str]
    source: IntArray | None  # channel code into source_labels
    source_labels: list[str]
    as_of: pd.Timestamp
    timezone: str | None
    period: tuple[pd.Timestamp | None, pd.Timestamp | None]
    funnel: dict[str, int] = field(default_factory=dict)
    vintages: list[str] = field(default_factory=list)
    as_of_source: str = "argument"

    @property
    def ttc_ok(self) -> BoolArray:
        """Counted rows with a valid duration."""
        return self.counted & ~(self.negative | self.no_closed_time | self.implausible)


_REQUIRED = (
    "requested_datetime",
    "closed_datetime",
    "status",
    "is_duplicate",
    "is_transfer",
    "is_proactive",
)


def _check_columns(requests: pd.DataFrame, opts: _Options) -> None:
    if not isinstance(requests, pd.DataFrame):
        msg = f"requests must be a pandas DataFrame, got {type(requests).__name__}"
        raise TypeError(msg)
    needed = [*_REQUIRED, f"{opts.key}_id"]
    if opts.agencies is not None:
        needed.append("agency_responsible")
    if opts.sources is not None:
        needed.append("source")
    missing = [c for c in needed if c not in requests.columns]
    if opts.service_types is not None and not (
        {"service_name", "service_code"} & set(requests.columns)
    ):
        missing.append("service_name or service_code")
    if missing:
        cols = set(requests.columns)
        layers = sorted(
            c[:-3]
            for c in cols
            if c.endswith("_id") and ({f"{c[:-3]}_join", f"{c[:-3]}_name"} & cols)
        )
        msg = (
            f"requests lack the column(s) {missing}; indicators read canonical requests joined "
            f"to the layer (geo311.assign_areas adds <layer>_id). Layers present: {layers}"
        )
        raise SchemaError(msg)


def _factorize(requests: pd.DataFrame, column: str) -> tuple[IntArray, list[str]]:
    """Integer codes of a text column (-1 where missing) and its distinct values as str.

    Every comparison on text columns is done once per distinct value and then
    gathered through the codes: far faster than element-wise string operations.
    """
    codes, uniques = pd.factorize(requests[column], use_na_sentinel=True)
    return codes.astype(np.int64, copy=False), [str(u) for u in uniques]


def _code_isin(codes: IntArray, uniques: Sequence[str], wanted: Sequence[str]) -> BoolArray:
    """``values.isin(wanted)`` through factorized codes; missing values never match."""
    hit = np.zeros(len(uniques) + 1, dtype=bool)
    hit[:-1] = np.isin(np.array(uniques, dtype=object), np.array(list(wanted), dtype=object))
    return hit[codes]  # code -1 reads the trailing False


def _service_codes(requests: pd.DataFrame) -> tuple[IntArray, list[str]] | None:
    """Service type code per request and the type labels.

    By ``service_name``, else ``service_code``, else one ``"(unknown)"`` type
    (always the last label).
    """
    columns = [c for c in ("service_name", "service_code") if c in requests.columns]
    if not columns:
        return None
    out = np.full(len(requests), -1, dtype=np.int64)
    labels: list[str] = []
    for column in columns:
        missing = out < 0
        if not missing.any():
            break
        codes, uniques = _factorize(requests, column)
        fill = missing & (codes >= 0)
        out[fill] = codes[fill] + len(labels)
        labels.extend(uniques)
    out[out < 0] = len(labels)  # neither name nor code: one "(unknown)" type
    return out, [*labels, _UNKNOWN]


def _default_as_of(requests: pd.DataFrame) -> pd.Timestamp:
    """Return the latest instant recorded in the data (created / updated / closed)."""
    latest: pd.Timestamp | None = None
    for column in ("requested_datetime", "updated_datetime", "closed_datetime"):
        if column in requests.columns and isinstance(requests[column].dtype, pd.DatetimeTZDtype):
            value = requests[column].max()
            if pd.notna(value) and (latest is None or value > latest):
                latest = pd.Timestamp(value)
    if latest is None:
        msg = "as_of was not given and the requests hold no timestamps to infer it from"
        raise ValueError(msg)
    return latest.tz_convert("UTC")


@dataclass(frozen=True)
class _When:
    """The resolved instants of a call (UTC)."""

    timezone: str | None
    as_of: pd.Timestamp
    as_of_source: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None

    @property
    def as_of_ns(self) -> np.datetime64:
        return _naive_ns(self.as_of)


def _naive_ns(stamp: pd.Timestamp) -> np.datetime64:
    """Return a UTC timestamp as a naive ``numpy.datetime64[ns]``."""
    return np.datetime64(stamp.tz_convert("UTC").tz_localize(None).as_unit("ns").to_datetime64())


def _when(requests: pd.DataFrame, opts: _Options) -> _When:
    timezone = opts.timezone or requests.attrs.get("timezone")
    if opts.as_of is None:
        as_of, source = _default_as_of(requests), "latest timestamp in the data"
    else:
        as_of, source = _instant(opts.as_of, timezone, "as_of"), "argument"
    start = end = None
    if opts.period is not None:
        start = None if opts.period[0] is None else _instant(opts.period[0], timezone, "start")
        end = None if opts.period[1] is None else _instant(opts.period[1], timezone, "end")
        if start is not None and end is not None and not start < end:
            msg = f"period start {start} must be before its end {end}"
            raise ValueError(msg)
    return _When(timezone, as_of, source, start, end)


def _scope_rows(
    requests: pd.DataFrame,
    opts: _Options,
    area_ids: pd.Index,
    *,
    when: _When,
    start: npt.NDArray[np.datetime64],
    funnel: dict[str, int],
) -> tuple[IntArray, IntArray]:
    """Return the in-scope row positions and their area codes; fill the row funnel."""
    n = len(requests)
    keep = ~np.isnat(start)
    funnel["no_requested_datetime"] = int(n - keep.sum())
    late = keep & (start > when.as_of_ns)
    funnel["created_after_as_of"] = int(late.sum())
    keep &= ~late
    if opts.period is not None:
        inside = keep.copy()
        if when.start is not None:
            inside &= start >= _naive_ns(when.start)
        if when.end is not None:
            inside &= start < _naive_ns(when.end)
        funnel["outside_period"] = int((keep & ~inside).sum())
        keep = inside
    passed = keep.copy()
    if opts.service_types is not None:
        hit = np.zeros(n, dtype=bool)
        for column in ("service_name", "service_code"):
            if column in requests.columns:
                hit |= _code_isin(*_factorize(requests, column), opts.service_types)
        passed &= hit
    for values, column in ((opts.agencies, "agency_responsible"), (opts.sources, "source")):
        if values is not None:
            passed &= _code_isin(*_factorize(requests, column), values)
    funnel["filtered_out"] = int((keep & ~passed).sum())
    keep = passed

    id_codes, id_values = _factorize(requests, f"{opts.key}_id")
    to_area = np.full(len(id_values) + 1, -1, dtype=np.int64)
    to_area[:-1] = area_ids.get_indexer(pd.Index(id_values, dtype=object))
    codes = to_area[id_codes]
    unassigned = id_codes < 0
    funnel["not_assigned_to_area"] = int((keep & unassigned).sum())
    unknown = keep & ~unassigned & (codes < 0)
    funnel["area_id_not_in_layer"] = int(unknown.sum())
    if unknown.any():
        examples = sorted({id_values[c] for c in np.unique(id_codes[unknown])})[:5]
        log.warning(
            "%s in-scope requests have a %s_id missing from the areas given, e.g. %s",
            f"{int(unknown.sum()):,}",
            opts.key,
            examples,
        )
    keep &= codes >= 0
    funnel["in_scope"] = int(keep.sum())
    rows = np.flatnonzero(keep)
    return rows, codes[rows]


def _demand(
    requests: pd.DataFrame, rows: IntArray, opts: _Options, funnel: dict[str, int]
) -> dict[str, BoolArray]:
    """Return the duplicate / transfer / proactive flags and the counted mask."""

    def flag(column: str) -> BoolArray:
        return requests[column].fillna(False).to_numpy(dtype=bool)[rows]

    duplicate = flag("is_duplicate")
    transfer = flag("is_transfer")
    proactive = flag("is_proactive")
    dup_out = duplicate & (not opts.include_duplicates)
    transfer_out = transfer & (not opts.include_transfers)
    flag_excluded = dup_out | transfer_out
    if opts.demand == "resident":
        wanted = ~proactive
    elif opts.demand == "proactive":
        wanted = proactive
    else:
        wanted = np.ones(len(rows), dtype=bool)
    counted = ~flag_excluded & wanted
    funnel["duplicates_excluded"] = int(dup_out.sum())
    funnel["transfers_excluded"] = int((transfer_out & ~dup_out).sum())
    funnel["other_demand_excluded"] = int((~flag_excluded & ~wanted).sum())
    funnel["counted"] = int(counted.sum())
    return {
        "duplicate": duplicate,
        "transfer": transfer,
        "proactive": proactive,
        "flag_excluded": flag_excluded,
        "counted": counted,
    }


def _closures(
    requests: pd.DataFrame,
    rows: IntArray,
    start: npt.NDArray[np.datetime64],
    when: _When,
    opts: _Options,
) -> dict[str, Any]:
    """Return closed times, due dates, events, durations (days) and the invalid-duration masks."""
    closed = _utc_ns(requests, "closed_datetime")[rows]
    due = _utc_ns(requests, "expected_datetime")[rows]
    status_codes, status_values = _factorize(requests, "status")
    status_codes = status_codes[rows]
    says_open = _code_isin(status_codes, status_values, ["open"])
    says_closed = _code_isin(status_codes, status_values, ["closed"])
    as_of_ns = when.as_of_ns
    has_close = ~np.isnat(closed)
    event = has_close & ~says_open & (closed <= as_of_ns)
    no_closed_time = says_closed & ~has_close
    end = np.where(event, closed, as_of_ns)
    # Differences of UTC instants in integer nanoseconds: exact across DST changes.
    duration = (end - start).astype(np.int64) / _NS_PER_DAY
    negative = event & (duration < 0)
    implausible = np.zeros(len(rows), dtype=bool)
    if opts.max_days is not None:
        implausible = event & (duration > opts.max_days)
    duration[negative | no_closed_time | implausible] = np.nan
    return {
        "closed": closed,
        "due": due,
        "event": event,
        "duration_days": duration,
        "negative": negative,
        "no_closed_time": no_closed_time,
        "implausible": implausible,
    }


def _select(
    requests: pd.DataFrame,
    opts: _Options,
    area_ids: pd.Index,
    *,
    city: bool = False,
    parts: frozenset[str] = frozenset({"service", "source", "vintage"}),
) -> _Scope:
    """Apply the scope rules of the module docstring; return arrays over in-scope rows.

    ``parts`` names the optional, costly columns to encode: ``service`` (type
    codes for the type adjustment), ``source`` (channel codes), ``vintage``.
    """
    _check_columns(requests, opts)
    when = _when(requests, opts)
    start_all = _utc_ns(requests, "requested_datetime")
    funnel: dict[str, int] = {"rows": len(requests)}
    rows, codes = _scope_rows(requests, opts, area_ids, when=when, start=start_all, funnel=funnel)
    flags = _demand(requests, rows, opts, funnel)
    start = start_all[rows]
    closure = _closures(requests, rows, start, when, opts)
    for name in ("negative", "no_closed_time", "implausible"):
        funnel[f"ttc_excluded_{name}"] = int((flags["counted"] & closure[name]).sum())

    vintages: list[str] = []
    vintage_col = f"{opts.key}_vintage"
    if "vintage" in parts and vintage_col in requests.columns:
        v_codes, v_values = _factorize(requests, vintage_col)
        vintages = sorted(v_values[c] for c in np.unique(v_codes[rows]) if c >= 0)
    service = _service_codes(requests) if "service" in parts else None
    source_codes: IntArray | None = None
    source_labels: list[str] = []
    if "source" in parts and "source" in requests.columns:
        all_codes, source_labels = _factorize(requests, "source")
        source_codes = all_codes[rows]
        source_codes[source_codes < 0] = len(source_labels)
        source_labels = [*source_labels, _UNKNOWN]
    return _Scope(
        n_areas=1 if city else len(area_ids),
        code=np.zeros(len(rows), dtype=np.int64) if city else codes,
        counted=flags["counted"],
        duplicate=flags["duplicate"],
        transfer=flags["transfer"],
        proactive=flags["proactive"],
        flag_excluded=flags["flag_excluded"],
        start=start,
        closed=closure["closed"],
        due=closure["due"],
        event=closure["event"],
        duration_days=closure["duration_days"],
        negative=closure["negative"],
        no_closed_time=closure["no_closed_time"],
        implausible=closure["implausible"],
        service=None if service is None else service[0][rows],
        service_labels=[] if service is None else service[1],
        source=source_codes,
        source_labels=source_labels,
        as_of=when.as_of,
        timezone=when.timezone,
        period=(when.start, when.end),
        funnel=funnel,
        vintages=vintages,
        as_of_source=when.as_of_source,
    )


# --------------------------------------------------------------------------- statistics


def _special() -> Any:
    """Return ``scipy.special``, imported on first use (``scipy.stats`` takes seconds)."""
    try:
        return importlib.import_module("scipy.special")
    except ImportError as exc:  # pragma: no cover - scipy is a dependency of the indicators
        msg = "geo311 indicators need scipy (exact Poisson and normal quantiles): install scipy"
        raise ImportError(msg) from exc


def _z(confidence: float) -> float:
    """Two-sided normal quantile, ``scipy.stats.norm.ppf(0.5 + confidence / 2)``."""
    if not 0.0 < confidence < 1.0:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence!r}"
        raise ValueError(msg)
    return float(_special().ndtri(0.5 + confidence / 2.0))


def _garwood(counts: npt.ArrayLike, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Exact Poisson (Garwood) limits of a count ``y``.

    ``chi2.ppf(a/2, 2y)/2`` and ``chi2.ppf(1-a/2, 2y+2)/2``, with the lower limit
    0 when ``y = 0``; ``scipy.stats.chi2.ppf(q, df)`` is ``chdtri(df, 1 - q)``.
    """
    chdtri = _special().chdtri
    alpha = 1.0 - confidence
    y = np.asarray(counts, dtype=float)
    low = np.zeros_like(y)
    positive = y > 0
    low[positive] = chdtri(2.0 * y[positive], 1.0 - alpha / 2.0) / 2.0
    high = chdtri(2.0 * y + 2.0, alpha / 2.0) / 2.0
    return low, high


def _wilson(
    successes: npt.ArrayLike, trials: npt.ArrayLike, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval (Newcombe 1998, method 3); NaN where there are no trials."""
    z = _z(confidence)
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 2.0 * (n + z**2)
        centre = (2.0 * n * p + z**2) / denom
        delta = z / denom * np.sqrt(4.0 * n * p * (1.0 - p) + z**2)
        low = np.where(k == 0, 0.0, centre - delta)
        high = np.where(k == n, 1.0, centre + delta)
    none = n == 0
    low[none] = np.nan
    high[none] = np.nan
    return low, high


def _rates(
    y: FloatArray,
    population: FloatArray,
    *,
    confidence: float,
    min_population: float,
    min_count: int,
) -> dict[str, Any]:
    """Rates, Garwood CIs, flags, rate ratios vs the rest, Marshall EB (METRICS 1-3)."""
    n = y.size
    known = np.isfinite(population) & (population > 0)
    sufficient = np.isfinite(population) & (population >= min_population) & known
    flag = np.where(~sufficient, "insufficient", np.where(y < min_count, "unstable", "ok"))
    rate = np.full(n, np.nan)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    g_low, g_high = _garwood(y, confidence)
    p = population[sufficient]
    rate[sufficient] = 1000.0 * y[sufficient] / p
    low[sufficient] = 1000.0 * g_low[sufficient] / p
    high[sufficient] = 1000.0 * g_high[sufficient] / p

    # Rate ratio against the rest of the areas that have a population.
    y_tot = float(y[known].sum())
    p_tot = float(population[known].sum())
    rr = np.full(n, np.nan)
    rr_low = np.full(n, np.nan)
    rr_high = np.full(n, np.nan)
    z = _z(confidence)
    y_rest = y_tot - y
    p_rest = p_tot - population
    can = sufficient & (p_rest > 0) & (y_rest > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (y / population) / (y_rest / p_rest)
        half = z * np.sqrt(1.0 / y + 1.0 / y_rest)
    rr[can] = ratio[can]
    both = can & (y > 0)
    rr_low[both] = np.exp(np.log(ratio[both]) - half[both])
    rr_high[both] = np.exp(np.log(ratio[both]) + half[both])

    # Marshall (1991) global empirical Bayes, rates per person.
    eb = np.full(n, np.nan)
    if known.any() and p_tot > 0:
        pk = population[known]
        rk = y[known] / pk
        b = y_tot / p_tot
        s2 = float(np.sum(pk * (rk - b) ** 2) / p_tot)
        a = max(s2 - b / float(pk.mean()), 0.0)
        # a > 0 implies b > 0 (all rates 0 gives s2 = 0); a == 0 shrinks fully to b.
        weight = a / (a + b / pk) if a > 0 else np.zeros_like(pk)
        eb[known] = 1000.0 * (weight * rk + (1.0 - weight) * b)
    return {
        "rate_per_1k": rate,
        "rate_per_1k_ci_low": low,
        "rate_per_1k_ci_high": high,
        "rate_flag": flag,
        "rate_ratio": rr,
        "rate_ratio_ci_low": rr_low,
        "rate_ratio_ci_high": rr_high,
        "rate_per_1k_eb": eb,
    }


def _closed_only_median(
    durations: FloatArray, codes: IntArray, n_groups: int, by_value: IntArray
) -> FloatArray:
    """Per-group median (``numpy.median`` semantics) given ``by_value = argsort(durations)``."""
    out = np.full(n_groups, np.nan)
    if durations.size == 0:
        return out
    narrow = np.uint16 if n_groups <= np.iinfo(np.uint16).max else np.int64
    values = durations[by_value[np.argsort(codes[by_value].astype(narrow), kind="stable")]]
    counts = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (values[lo] + values[hi]) / 2.0
    return out


def _time_to_close(scope: _Scope, confidence: float) -> dict[str, Any]:
    """Kaplan-Meier, naive median and type-mix O/E per area (METRICS 5-7)."""
    ok = scope.ttc_ok
    codes = scope.code[ok]
    durations = scope.duration_days[ok]
    events = scope.event[ok]
    n = scope.n_areas
    by_time = np.argsort(durations)  # shared by the three fits below
    km = survival_curves(durations, events, groups=codes, n_groups=n, order=by_time)
    lower, upper = km.confidence_bands(confidence=confidence)
    ci_low, ci_high = km.median_ci(bands=(lower, upper))
    out: dict[str, Any] = {
        "ttc_requests": np.bincount(codes, minlength=n),
        "ttc_closed": np.bincount(codes[events], minlength=n),
        "ttc_open": np.bincount(codes[~events], minlength=n),
        "ttc_median_days": km.median(),
        "ttc_median_days_ci_low": ci_low,
        "ttc_median_days_ci_high": ci_high,
        "ttc_median_days_closed_only": _closed_only_median(
            durations, np.where(events, codes, n), n + 1, by_time
        )[:n],
        "ttc_p90_days": km.time_at_survival(0.1),
    }
    horizons = np.asarray(HORIZONS_DAYS, dtype=float)
    groups = np.repeat(np.arange(n), horizons.size)
    rows = km._rows_at(groups, np.tile(horizons, n))
    found = rows >= 0
    for name, curve in (("share", km.survival), ("ci_low", upper), ("ci_high", lower)):
        flat = np.full(rows.size, np.nan)
        flat[found] = 1.0 - curve[rows[found]]
        grid = flat.reshape(n, horizons.size)
        for j, h in enumerate(HORIZONS_DAYS):
            out[f"closed_within_{h}d_{name}"] = grid[:, j]

    # Indirect standardisation: expected closures under the citywide curve of each type.
    observed = out["ttc_closed"].astype(float)
    expected = np.full(n, np.nan)
    crude = np.full(n, np.nan)
    if durations.size:
        pooled = survival_curves(durations, events, order=by_time)
        e_crude = pooled.cumulative_hazard_at_observations()
        crude_expected = np.bincount(codes, weights=e_crude, minlength=n)
        if scope.service is not None:
            typed = survival_curves(
                durations,
                events,
                groups=scope.service[ok],
                n_groups=len(scope.service_labels),
                order=by_time,
            )
            e_type = typed.cumulative_hazard_at_observations()
            expected = np.bincount(codes, weights=e_type, minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            crude = np.where(crude_expected > 0, observed / crude_expected, np.nan)
    g_low, g_high = _garwood(observed, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = expected > 0
        out["ttc_expected_closures"] = expected
        out["ttc_type_adjusted_ratio"] = np.where(usable, observed / expected, np.nan)
        out["ttc_type_adjusted_ratio_ci_low"] = np.where(usable, g_low / expected, np.nan)
        out["ttc_type_adjusted_ratio_ci_high"] = np.where(usable, g_high / expected, np.nan)
    out["ttc_crude_ratio"] = crude
    return out


def _due_dates(scope: _Scope, confidence: float) -> dict[str, Any]:
    """On-time share with open-overdue as failures, Wilson CI (METRICS 8)."""
    ok = scope.ttc_ok
    n = scope.n_areas
    as_of_ns = _naive_ns(scope.as_of)
    has_due = ~np.isnat(scope.due)
    closed_due = ok & scope.event & has_due
    on_time = closed_due & (scope.closed <= scope.due)
    is_open = ok & ~scope.event
    overdue = is_open & has_due & (scope.due < as_of_ns)
    on_track = is_open & has_due & ~(scope.due < as_of_ns)
    code = scope.code
    hits = np.bincount(code[on_time], minlength=n)
    trials = np.bincount(code[closed_due], minlength=n) + np.bincount(code[overdue], minlength=n)
    low, high = _wilson(hits, trials, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(trials > 0, hits / trials, np.nan)
    return {
        "on_time_share": share,
        "on_time_ci_low": low,
        "on_time_ci_high": high,
        "on_time": hits,
        "sla_due": trials,
        "open_overdue": np.bincount(code[overdue], minlength=n),
        "open_on_track": np.bincount(code[on_track], minlength=n),
        "no_due_date": np.bincount(code[ok & ~has_due], minlength=n),
    }


def _counts(scope: _Scope) -> dict[str, Any]:
    n = scope.n_areas
    code = scope.code
    kept = ~scope.flag_excluded
    all_ = np.bincount(code, minlength=n)
    counted = np.bincount(code[scope.counted], minlength=n)
    return {
        "requests_all": all_,
        "requests": counted,
        "requests_excluded": all_ - counted,
        "requests_duplicate": np.bincount(code[scope.duplicate], minlength=n),
        "requests_transfer": np.bincount(code[scope.transfer], minlength=n),
        "requests_resident": np.bincount(code[kept & ~scope.proactive], minlength=n),
        "requests_proactive": np.bincount(code[kept & scope.proactive], minlength=n),
        "ttc_excluded_negative": np.bincount(code[scope.counted & scope.negative], minlength=n),
        "ttc_excluded_no_closed_time": np.bincount(
            code[scope.counted & scope.no_closed_time], minlength=n
        ),
        "ttc_excluded_implausible": np.bincount(
            code[scope.counted & scope.implausible], minlength=n
        ),
    }


def _population(
    population: pd.Series | Mapping[str, float] | None, ids: pd.Index
) -> tuple[FloatArray, dict[str, Any]]:
    """Return the population per area id (NaN when unknown) and what was matched."""
    if population is None:
        return np.full(len(ids), np.nan), {"given": False}
    series = pd.Series(population) if not isinstance(population, pd.Series) else population
    values = pd.to_numeric(series, errors="coerce").astype(float)
    if (values < 0).any():
        bad = sorted(str(i) for i in values.index[values < 0])[:5]
        msg = f"population must not be negative; negative for area ids {bad}"
        raise ValueError(msg)
    index = pd.Index(values.index.astype(str), dtype=object)
    if index.has_duplicates:
        dupes = sorted(set(index[index.duplicated()]))[:5]
        msg = f"population has repeated area ids: {dupes}"
        raise ValueError(msg)
    values = pd.Series(values.to_numpy(), index=index)
    matched = values.reindex(ids)
    info = {
        "given": True,
        "areas_without_population": int(matched.isna().sum()),
        "ids_not_in_layer": int((~index.isin(ids)).sum()),
    }
    if info["areas_without_population"]:
        log.warning(
            "%d of %d areas have no population; their rates are flagged insufficient",
            info["areas_without_population"],
            len(ids),
        )
    return np.asarray(matched.to_numpy(dtype=float), dtype=np.float64), info


def _iso(value: pd.Timestamp | None) -> str | None:
    return None if value is None else value.isoformat()


def _metadata(
    scope: _Scope,
    opts: _Options,
    areas: _Areas,
    *,
    population_source: str,
    population_info: Mapping[str, Any],
    population_total: float,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """JSON-ready description of the table: what, when, denominators, exclusions."""
    vintages = list(scope.vintages)
    if areas.vintage and areas.vintage not in vintages:
        vintages.append(areas.vintage)
    return {
        "layer": opts.key,
        "vintages": vintages,
        "area_crs": areas.crs,
        "period": {"start": _iso(scope.period[0]), "end": _iso(scope.period[1])},
        "as_of": scope.as_of.isoformat(),
        "as_of_source": scope.as_of_source,
        "timezone": scope.timezone,
        "population_source": population_source,
        "population_total": population_total,
        "population": dict(population_info),
        "demand": opts.demand,
        "include_duplicates": opts.include_duplicates,
        "include_transfers": opts.include_transfers,
        "filters": {
            "service_types": None if opts.service_types is None else list(opts.service_types),
            "agencies": None if opts.agencies is None else list(opts.agencies),
            "sources": None if opts.sources is None else list(opts.sources),
        },
        "rows": dict(scope.funnel),
        "rows_explained": {k: ROW_COUNTS[k] for k in scope.funnel},
        "max_days": opts.max_days,
        **extra,
    }


def _table(
    scope: _Scope,
    areas: _Areas,
    population: FloatArray,
    *,
    confidence: float,
    min_population: float,
    min_count: int,
) -> pd.DataFrame:
    counts = _counts(scope)
    y = counts["requests"].astype(float)
    columns: dict[str, Any] = {
        "area_name": pd.array(areas.names, dtype="string"),
        **counts,
        "population": population,
        **_rates(
            y,
            population,
            confidence=confidence,
            min_population=min_population,
            min_count=min_count,
        ),
        "area_km2": areas.km2,
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        columns["requests_per_km2"] = np.where(areas.km2 > 0, y / areas.km2, np.nan)
    columns.update(_time_to_close(scope, confidence))
    columns.update(_due_dates(scope, confidence))
    frame = pd.DataFrame({c: columns[c] for c in _COLUMNS}, index=areas.ids)
    for column in _INT_COLUMNS:
        frame[column] = frame[column].astype(np.int64)
    frame["rate_flag"] = frame["rate_flag"].astype("string")
    return frame


def _check_thresholds(min_population: float, min_count: int, confidence: float) -> None:
    problems = []
    if not (math.isfinite(min_population) and min_population >= 0):
        problems.append(f"min_population must be a number >= 0, got {min_population!r}")
    if not (isinstance(min_count, int | np.integer) and min_count >= 0):
        problems.append(f"min_count must be an integer >= 0, got {min_count!r}")
    if not 0.0 < confidence < 1.0:
        problems.append(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if problems:
        msg = "; ".join(problems)
        raise ValueError(msg)


def _resolve_areas(requests: pd.DataFrame, key: str, areas: Any, population: Any) -> _Areas:
    if areas is not None:
        return _areas_from_layer(areas)
    extra = None
    if population is not None:
        extra = pd.Index(pd.Series(population).index)
    return _areas_from_data(requests, key, extra)


def _indicators(
    requests: pd.DataFrame,
    *,
    city: bool,
    key: str,
    areas: Any,
    population: pd.Series | Mapping[str, float] | None,
    population_source: str,
    as_of: TimeLike | None,
    period: tuple[TimeLike | None, TimeLike | None] | None,
    service_types: str | Sequence[str] | None,
    agencies: str | Sequence[str] | None,
    sources: str | Sequence[str] | None,
    demand: str,
    include_duplicates: bool,
    include_transfers: bool,
    min_population: float,
    min_count: int,
    confidence: float,
    timezone: str | None,
    max_days: float | None,
) -> pd.DataFrame:
    opts = _options(
        key=key,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        timezone=timezone,
        max_days=max_days,
    )
    _check_thresholds(min_population, min_count, confidence)
    _check_columns(requests, opts)
    layer_areas = _resolve_areas(requests, key, areas, population)
    pop, pop_info = _population(population, layer_areas.ids)
    scope = _select(requests, opts, layer_areas.ids, city=city)
    known = np.isfinite(pop)
    total = float(pop[known].sum()) if population is not None else float("nan")
    if city:
        table_areas = _Areas(
            ids=pd.Index([CITY_ID], dtype=object, name="area_id"),
            names=np.array(["City total"], dtype=object),
            km2=np.array([float(np.nansum(layer_areas.km2)) if layer_areas.km2.size
                          and np.isfinite(layer_areas.km2).all() else np.nan]),
            vintage=layer_areas.vintage,
            crs=layer_areas.crs,
        )  # fmt: skip
        table_pop = np.array([total])
    else:
        table_areas = layer_areas
        table_pop = pop
    frame = _table(
        scope,
        table_areas,
        table_pop,
        confidence=confidence,
        min_population=min_population,
        min_count=min_count,
    )
    frame.attrs["geo311"] = _metadata(
        scope,
        opts,
        table_areas,
        population_source=population_source,
        population_info=pop_info,
        population_total=total,
        extra={
            "areas": len(layer_areas.ids),
            "city": city,
            "confidence": confidence,
            "min_population": min_population,
            "min_count": min_count,
            "horizons_days": list(HORIZONS_DAYS),
            "type_adjustment": (
                "observed/expected closures; expected = sum over requests of the citywide "
                "Nelson-Aalen cumulative hazard of the request's service type at its "
                "follow-up time (closure, or as_of when open)"
            ),
        },
    )
    log.info(
        "indicators for %s%s: %s counted requests in %d areas (%s in scope, as of %s)",
        key,
        " (city)" if city else "",
        f"{scope.funnel['counted']:,}",
        len(table_areas.ids),
        f"{scope.funnel['in_scope']:,}",
        scope.as_of.isoformat(),
    )
    return frame


# --------------------------------------------------------------------------- public API


def area_indicators(
    requests: pd.DataFrame,
    *,
    key: str,
    areas: Any = None,
    population: pd.Series | Mapping[str, float] | None = None,
    population_source: str = "",
    as_of: TimeLike | None = None,
    period: tuple[TimeLike | None, TimeLike | None] | None = None,
    service_types: str | Sequence[str] | None = None,
    agencies: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    demand: Demand = "resident",
    include_duplicates: bool = False,
    include_transfers: bool = False,
    min_population: float = 100,
    min_count: int = 20,
    confidence: float = 0.95,
    timezone: str | None = None,
    max_days: float | None = None,
) -> pd.DataFrame:
    """Return one row of indicators per area of a layer (METRICS.md items 1-8).

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests joined to the layer (columns ``<key>_id``, and
        optionally ``<key>_name`` / ``<key>_vintage``; see
        :func:`geo311.assign_areas`).  Not modified.
    key : str
        Layer key, e.g. ``"neighborhoods"``.
    areas : geo311.Layer or geopandas.GeoDataFrame, optional
        The layer's areas (``area_id``, ``area_name``, ``geometry``); every
        area gets a row, including areas without requests, and ``area_km2`` is
        measured in the layer's projected CRS (or the UTM zone).  Default:
        the ids present in the data (and in ``population``), without land area.
    population : pandas.Series, optional
        Residents per ``area_id``.  Areas without a value are ``insufficient``.
    population_source : str
        Denominator source and year, recorded in the metadata.
    as_of : str or datetime-like, optional
        The export time: open requests are censored here, and requests
        created later are ignored.  Naive values are local wall time in
        ``timezone``.  Default: the latest timestamp in the data (recorded).
    period : (start, end), optional
        Half-open ``[start, end)`` on ``requested_datetime``; either end may
        be None.  Naive values are local wall time in ``timezone``.
    service_types, agencies, sources : str or sequence of str, optional
        Keep requests whose ``service_name`` or ``service_code``,
        ``agency_responsible`` or ``source`` (channel) is one of these.
    demand : {"resident", "proactive", "all"}, default "resident"
        Which requests count as demand (:data:`DEMAND`).
    include_duplicates, include_transfers : bool, default False
        Count requests marked duplicate / transferred.
    min_population : float, default 100
        Below this population the rate is ``insufficient`` (not shown).
    min_count : int, default 20
        Below this many requests the rate is ``unstable``.
    confidence : float, default 0.95
        Level of every interval.
    timezone : str, optional
        IANA zone for naive ``as_of`` / ``period`` values.  Default:
        ``requests.attrs["timezone"]``, else UTC.
    max_days : float, optional
        Closed requests that took longer are implausible: excluded from time
        to close and counted (``ttc_excluded_implausible``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``area_id`` (the layer's ids, in layer order), columns
        described in :data:`DATA_DICTIONARY`.  ``frame.attrs["geo311"]``
        holds the metadata: layer and vintages, period, as-of, time zone,
        denominator source and total, filters and the row funnel ``rows``
        (requests dropped at each scope step and set aside, and why: see
        :data:`ROW_COUNTS`, repeated in ``rows_explained``).

    Raises
    ------
    SchemaError
        When required columns are missing or timestamps are not tz-aware.
    ValueError
        For invalid options (listed together).

    Notes
    -----
    Write the table with the area id as its first column
    (``geo311.io.writers.write_csv(frame)``); merge it into a layer with
    ``gdf.merge(frame, left_on="area_id", right_index=True)``.
    """
    return _indicators(
        requests,
        city=False,
        key=key,
        areas=areas,
        population=population,
        population_source=population_source,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        min_population=min_population,
        min_count=min_count,
        confidence=confidence,
        timezone=timezone,
        max_days=max_days,
    )


def city_indicators(
    requests: pd.DataFrame,
    *,
    key: str,
    areas: Any = None,
    population: pd.Series | Mapping[str, float] | None = None,
    population_source: str = "",
    as_of: TimeLike | None = None,
    period: tuple[TimeLike | None, TimeLike | None] | None = None,
    service_types: str | Sequence[str] | None = None,
    agencies: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    demand: Demand = "resident",
    include_duplicates: bool = False,
    include_transfers: bool = False,
    min_population: float = 100,
    min_count: int = 20,
    confidence: float = 0.95,
    timezone: str | None = None,
    max_days: float | None = None,
) -> pd.DataFrame:
    """Return the citywide row: the same indicators over every area of the layer together.

    Takes exactly the arguments of :func:`area_indicators`, so that a
    district page can set its row beside the city's.  The city is the union
    of the layer's areas: requests not assigned to an area are left out (as
    in every area row), the population is the sum of the known area
    populations and ``area_km2`` the sum of the areas.  By construction
    ``ttc_type_adjusted_ratio`` and ``ttc_crude_ratio`` are 1 and the rate
    ratio is undefined (NaN).

    Returns
    -------
    pandas.DataFrame
        One row, index ``area_id == "city"`` (:data:`CITY_ID`), the columns of
        :func:`area_indicators`, metadata in ``attrs["geo311"]``.
    """
    return _indicators(
        requests,
        city=True,
        key=key,
        areas=areas,
        population=population,
        population_source=population_source,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        min_population=min_population,
        min_count=min_count,
        confidence=confidence,
        timezone=timezone,
        max_days=max_days,
    )


# --------------------------------------------------------------------------- time patterns


def _pattern_name(freq: str) -> str:
    upper = freq.upper()
    if upper.startswith("W"):
        return "week"
    if upper in {"MS", "M", "ME"}:
        return "month"
    if upper == "D":
        return "day"
    return "period"


def _trend_buckets(
    first: pd.Timestamp, last: pd.Timestamp, freq: str, timezone: str
) -> tuple[list[str], npt.NDArray[np.datetime64]]:
    """Return the labels and UTC edges of local buckets from ``first``'s through ``last``'s.

    Buckets start at local midnight (``freq`` anchored: month starts, Mondays
    ...); ``edges`` has one more entry than ``labels``: the end of the last bucket.
    """
    from pandas.tseries.frequencies import to_offset  # noqa: PLC0415

    offset = to_offset("MS" if freq.upper() in {"M", "ME"} else freq)
    local_first = first.tz_convert(timezone).normalize().tz_localize(None)
    local_last = last.tz_convert(timezone).tz_localize(None)
    begin = offset.rollback(local_first)
    starts = pd.date_range(begin, local_last, freq=offset)
    if len(starts) == 0:
        starts = pd.DatetimeIndex([begin])
    bounds = pd.DatetimeIndex([*starts, starts[-1] + offset])
    # Localise the wall-clock edges (DST aware), then compare instants in UTC.
    local = bounds.tz_localize(timezone, nonexistent="shift_forward", ambiguous=False)
    edges = local.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return [d.strftime("%Y-%m-%d") for d in starts], edges


def _grid(
    pattern: str,
    labels: Sequence[str],
    *,
    req_bucket: IntArray,
    req_code: IntArray,
    close_bucket: IntArray,
    close_code: IntArray,
    n_areas: int,
) -> dict[str, Any]:
    """Full area x bucket grid of request and closure counts with shares."""
    k = len(labels)
    size = n_areas * k
    good_r = req_bucket >= 0
    good_c = close_bucket >= 0
    req = np.bincount(req_code[good_r] * k + req_bucket[good_r], minlength=size)
    clo = np.bincount(close_code[good_c] * k + close_bucket[good_c], minlength=size)
    req_tot = np.repeat(req.reshape(n_areas, k).sum(axis=1), k)
    clo_tot = np.repeat(clo.reshape(n_areas, k).sum(axis=1), k)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(req_tot > 0, req / req_tot, np.nan)
        closures_share = np.where(clo_tot > 0, clo / clo_tot, np.nan)
    return {
        "area": np.repeat(np.arange(n_areas), k),
        "pattern": np.full(size, pattern, dtype=object),
        "bucket": np.tile(np.asarray(labels, dtype=object), n_areas),
        "bucket_order": np.tile(np.arange(k), n_areas),
        "requests": req,
        "closures": clo,
        "share": share,
        "closures_share": closures_share,
    }


def _local_parts(instants: npt.NDArray[np.datetime64], timezone: str) -> tuple[IntArray, IntArray]:
    """Day of week (Monday = 0) and hour of UTC instants, in local time."""
    local = pd.DatetimeIndex(instants).tz_localize("UTC").tz_convert(timezone)
    return local.dayofweek.to_numpy(np.int64), local.hour.to_numpy(np.int64)


def time_patterns(
    requests: pd.DataFrame,
    *,
    key: str,
    timezone: str | None = None,
    freq: str = "MS",
    areas: Any = None,
    as_of: TimeLike | None = None,
    period: tuple[TimeLike | None, TimeLike | None] | None = None,
    service_types: str | Sequence[str] | None = None,
    agencies: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    demand: Demand = "resident",
    include_duplicates: bool = False,
    include_transfers: bool = False,
    city: bool = False,
) -> pd.DataFrame:
    """Count requests and closures by local day of week, hour and month or week (METRICS 9).

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests joined to the layer.  Not modified.
    key : str
        Layer key.
    timezone : str, optional
        IANA zone of the city; every bucket is local wall time.  Default
        ``requests.attrs["timezone"]``; required one way or the other.
    freq : str, default "MS"
        Trend bucket: ``"MS"`` (calendar month), ``"W-MON"`` (weeks starting
        Monday), ``"D"`` ... (a pandas offset alias).  Buckets start at local
        midnight, so a month is a local calendar month.
    areas, as_of, period, service_types, agencies, sources, demand, include_duplicates, \
include_transfers
        As in :func:`area_indicators`; the requests counted are the same.
    city : bool, default False
        Return the citywide pattern (one area, ``area_id == "city"``) instead.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``area_id`` (repeated), columns :data:`PATTERN_COLUMNS`:
        ``pattern`` (``day_of_week``, ``hour`` or the trend: ``month`` /
        ``week`` / ``day`` / ``period``), ``bucket`` (``"Monday"``, ``"00"``
        .. ``"23"``, or the local start date ``"2025-01-01"``),
        ``bucket_order``, ``requests`` (counted requests created in the
        bucket), ``closures`` (those requests closed in the bucket, by their
        closing time), ``share`` and ``closures_share`` (of the area's total
        in that pattern; NaN when the area has none).  Every area x bucket
        appears, zeros included.  The trend spans ``period`` (or the creation
        times seen); closures after its last bucket are not shown.
    """
    opts = _options(
        key=key,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        timezone=timezone,
    )
    zone = timezone or requests.attrs.get("timezone")
    if not zone:
        msg = (
            "time_patterns needs the city's time zone: pass timezone='America/New_York' (or "
            "read requests with geo311.read_requests, which records it in attrs['timezone'])"
        )
        raise ValueError(msg)
    _check_columns(requests, opts)
    layer_areas = _resolve_areas(requests, key, areas, None)
    scope = _select(requests, opts, layer_areas.ids, city=city, parts=frozenset())
    ids = pd.Index([CITY_ID], dtype=object) if city else layer_areas.ids
    n = scope.n_areas
    counted = scope.counted
    closing = counted & scope.event & ~scope.negative & ~scope.no_closed_time
    req_code = scope.code[counted]
    close_code = scope.code[closing]
    req_dow, req_hour = _local_parts(scope.start[counted], zone)
    clo_dow, clo_hour = _local_parts(scope.closed[closing], zone)
    hours = [f"{h:02d}" for h in range(24)]
    parts = [
        _grid("day_of_week", _WEEKDAYS, req_bucket=req_dow, req_code=req_code,
              close_bucket=clo_dow, close_code=close_code, n_areas=n),
        _grid("hour", hours, req_bucket=req_hour, req_code=req_code,
              close_bucket=clo_hour, close_code=close_code, n_areas=n),
    ]  # fmt: skip
    first, last = scope.period
    starts = scope.start[counted]
    if first is None and starts.size:
        first = pd.Timestamp(starts.min()).tz_localize("UTC")
    if last is None and starts.size:
        last = pd.Timestamp(starts.max()).tz_localize("UTC")
    elif last is not None:
        last = last - pd.Timedelta(1, "ns")  # the period's end is exclusive
    if first is not None and last is not None:
        labels, edges = _trend_buckets(first, last, freq, zone)

        def bucket(instants: npt.NDArray[np.datetime64]) -> IntArray:
            pos = np.searchsorted(edges, instants, side="right") - 1
            return np.where((pos >= 0) & (pos < len(labels)), pos, -1).astype(np.int64)

        parts.append(
            _grid(
                _pattern_name(freq),
                labels,
                req_bucket=bucket(starts),
                req_code=req_code,
                close_bucket=bucket(scope.closed[closing]),
                close_code=close_code,
                n_areas=n,
            )
        )
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    area = data.pop("area")
    frame = pd.DataFrame(data, index=pd.Index(ids.to_numpy()[area], name="area_id"))
    frame["pattern"] = frame["pattern"].astype("string")
    frame["bucket"] = frame["bucket"].astype("string")
    frame.attrs["geo311"] = {
        "layer": key,
        "timezone": zone,
        "freq": freq,
        "as_of": scope.as_of.isoformat(),
        "period": {"start": _iso(scope.period[0]), "end": _iso(scope.period[1])},
        "demand": opts.demand,
        "rows": dict(scope.funnel),
        "city": city,
    }
    return frame


def _mix(
    requests: pd.DataFrame,
    opts: _Options,
    *,
    areas: Any,
    city: bool,
    by: Literal["source", "service_type"],
    top: int | None = None,
) -> pd.DataFrame:
    """Count counted requests per area x category: intake channel or service type.

    Every area x category seen appears (zeros included) in label order; with
    ``top``, only each area's ``top`` largest categories, largest first
    (ties by label), numbered in ``rank``.  ``attrs["geo311"]`` records the
    layer, as-of, period, demand and row funnel.
    """
    _check_columns(requests, opts)
    layer_areas = _resolve_areas(requests, opts.key, areas, None)
    part = "source" if by == "source" else "service"
    scope = _select(requests, opts, layer_areas.ids, city=city, parts=frozenset({part}))
    ids = pd.Index([CITY_ID], dtype=object) if city else layer_areas.ids
    values = scope.source if by == "source" else scope.service
    labels = scope.source_labels if by == "source" else scope.service_labels
    if values is None:  # pragma: no cover - the callers checked the column
        msg = f"requests have no column to count by {by}"
        raise SchemaError(msg)
    names = np.asarray(labels, dtype=object)
    present = np.unique(values[scope.counted])
    order = present[np.argsort(names[present], kind="stable")]
    categories = names[order]
    k = categories.size
    n = scope.n_areas
    rank = np.full(names.size, -1, dtype=np.int64)
    rank[order] = np.arange(k)
    counts = np.bincount(
        scope.code[scope.counted] * k + rank[values[scope.counted]], minlength=n * k
    )
    totals = np.repeat(counts.reshape(n, k).sum(axis=1), k)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(totals > 0, counts / totals, np.nan)
    frame = pd.DataFrame(
        {
            by: pd.array(np.tile(categories, n), dtype="string"),
            "requests": counts.astype(np.int64),
            "share": share,
        },
        index=pd.Index(np.repeat(ids.to_numpy(), k), name="area_id"),
    )
    frame.attrs["geo311"] = {
        "layer": opts.key,
        "as_of": scope.as_of.isoformat(),
        "period": {"start": _iso(scope.period[0]), "end": _iso(scope.period[1])},
        "demand": opts.demand,
        "rows": dict(scope.funnel),
        "city": city,
        "top": top,
    }
    if top is None:
        return frame
    area = np.repeat(np.arange(n), k)
    by_size = np.lexsort((np.tile(np.arange(k), n), -counts, area))
    place = np.empty_like(by_size)
    place[by_size] = np.arange(by_size.size) - np.repeat(np.arange(n) * k, k)
    keep = (place < top) & (counts > 0)
    frame = frame.iloc[by_size[keep[by_size]]].copy()
    frame.insert(0, "rank", place[by_size[keep[by_size]]] + 1)
    return frame


def channel_mix(
    requests: pd.DataFrame,
    *,
    key: str,
    areas: Any = None,
    as_of: TimeLike | None = None,
    period: tuple[TimeLike | None, TimeLike | None] | None = None,
    service_types: str | Sequence[str] | None = None,
    agencies: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    demand: Demand = "resident",
    include_duplicates: bool = False,
    include_transfers: bool = False,
    timezone: str | None = None,
    city: bool = False,
) -> pd.DataFrame:
    """Count requests per area by intake channel (``source``), with shares.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests joined to the layer.  Not modified.
    key, areas, as_of, period, service_types, agencies, sources, demand, \
include_duplicates, include_transfers, timezone
        As in :func:`area_indicators`.  Staff-filed channels (``internal``)
        only show with ``demand="all"`` or ``"proactive"``.
    city : bool, default False
        Return the citywide mix (``area_id == "city"``) instead.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``area_id`` (repeated), columns ``source`` (missing shown as
        ``"(unknown)"``), ``requests`` and ``share`` of the area's counted
        requests (NaN for an area without requests).  Every area x channel
        seen appears, zeros included, channels sorted by name.
    """
    opts = _options(
        key=key,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        timezone=timezone,
    )
    if "source" not in requests.columns:
        msg = "requests have no 'source' column (intake channel); channel mix needs it"
        raise SchemaError(msg)
    return _mix(requests, opts, areas=areas, city=city, by="source")


def service_mix(
    requests: pd.DataFrame,
    *,
    key: str,
    areas: Any = None,
    top: int | None = 10,
    as_of: TimeLike | None = None,
    period: tuple[TimeLike | None, TimeLike | None] | None = None,
    service_types: str | Sequence[str] | None = None,
    agencies: str | Sequence[str] | None = None,
    sources: str | Sequence[str] | None = None,
    demand: Demand = "resident",
    include_duplicates: bool = False,
    include_transfers: bool = False,
    timezone: str | None = None,
    city: bool = False,
) -> pd.DataFrame:
    """Count requests per area by service type, largest first.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests joined to the layer.  Not modified.
    key, areas, as_of, period, service_types, agencies, sources, demand, \
include_duplicates, include_transfers, timezone
        As in :func:`area_indicators`.
    top : int or None, default 10
        Keep each area's ``top`` most requested types (ties broken by name);
        ``None`` keeps every area x type seen, zeros included.
    city : bool, default False
        Return the citywide mix (``area_id == "city"``) instead.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``area_id`` (repeated), columns ``rank`` (1 = most
        requested; only with ``top``), ``service_type`` (``service_name``, else
        ``service_code``, else ``"(unknown)"``), ``requests`` and ``share`` of
        the area's counted requests.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.Timestamp("2025-03-03 12:00", tz="UTC")
    >>> requests = pd.DataFrame({
    ...     "requested_datetime": [t] * 4, "closed_datetime": t, "status": "open",
    ...     "is_duplicate": False, "is_transfer": False, "is_proactive": False,
    ...     "service_name": ["Pothole", "Graffiti", "Pothole", "Rats"],
    ...     "hood_id": ["A", "A", "A", "B"]})
    >>> top = service_mix(requests, key="hood", top=1, as_of=t)
    >>> top[["rank", "service_type", "requests"]].reset_index().values.tolist()
    [['A', 1, 'Pothole', 2], ['B', 1, 'Rats', 1]]
    """
    opts = _options(
        key=key,
        as_of=as_of,
        period=period,
        service_types=service_types,
        agencies=agencies,
        sources=sources,
        demand=demand,
        include_duplicates=include_duplicates,
        include_transfers=include_transfers,
        timezone=timezone,
    )
    if top is not None and top < 1:
        msg = f"top must be a positive number of service types or None, not {top!r}"
        raise ValueError(msg)
    return _mix(requests, opts, areas=areas, city=city, by="service_type", top=top)

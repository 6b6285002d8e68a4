"""When and how requests arrive: time patterns, intake channels and service types (METRICS 9).

:func:`time_patterns` counts requests and closures by local day of week, hour
and month (or week); :func:`channel_mix` and :func:`service_mix` count
requests per area by intake channel and by service type.  Each counts the
same requests as :func:`geo311.indicators.area_indicators` (see
:mod:`.scope`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import OptionError, SchemaError
from geo311.indicators.scope import (
    CITY_ID,
    AsOf,
    BoolArray,
    Demand,
    IntArray,
    TimeLike,
    _check_columns,
    _Options,
    _options,
    _Scope,
    _select,
)
from geo311.indicators.shared import Same, remember
from geo311.indicators.sources import _iso
from geo311.indicators.table_areas import _resolve_areas

__all__ = [
    "COVERAGE_FLAGS",
    "PATTERN_COLUMNS",
    "PATTERN_DICTIONARY",
    "channel_mix",
    "service_mix",
    "time_patterns",
]

#: Columns of :func:`time_patterns` (besides the ``area_id`` index) and what each holds.
PATTERN_DICTIONARY: Mapping[str, str] = MappingProxyType(
    {
        "pattern": "day_of_week, hour, or the trend (month / week / day / period)",
        "bucket": "Monday..Sunday, 00..23, or the trend bucket's local start date",
        "bucket_order": "position of the bucket in its pattern (for sorting)",
        "requests": "counted requests created in the bucket (local time)",
        "closures": "those requests closed in the bucket, by their closing time",
        "share": "requests / the area's requests in that pattern",
        "closures_share": "closures / the area's closures in that pattern",
        "covered_days": "days of the bucket the input files' date ranges cover (per weekday "
        "for day_of_week, all covered days for hour, per bucket for the trend)",
        "requests_per_covered_day": "requests / covered_days: comparable across weekdays and "
        "months that the data cover unevenly; empty when no day is covered",
        "coverage": "covered / partial (k of n days) / not covered (see COVERAGE_FLAGS)",
    }
)
PATTERN_COLUMNS: tuple[str, ...] = tuple(PATTERN_DICTIONARY)
#: Values of the ``coverage`` column of :func:`time_patterns`.
COVERAGE_FLAGS: Mapping[str, str] = MappingProxyType(
    {
        "covered": "every day of the bucket lies in a covered date range of the input files",
        "partial (k of n days)": "trend bucket (month, week) only partly covered by the data",
        "not covered": "no day of the bucket lies in the input files' date ranges (e.g. a "
        "weekday a short sample does not contain): its zero is not a count",
    }
)
_NS_PER_HOUR = 3_600 * 10**9
_NS_PER_DAY = 24 * _NS_PER_HOUR
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


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
) -> tuple[list[str], npt.NDArray[np.datetime64], pd.DatetimeIndex]:
    """Return the labels, UTC edges and local bounds of buckets from ``first``'s to ``last``'s.

    Buckets start at local midnight (``freq`` anchored: month starts, Mondays
    ...); ``edges`` and the local wall-clock ``bounds`` have one more entry
    than ``labels``: the end of the last bucket.
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
    return [d.strftime("%Y-%m-%d") for d in starts], edges, bounds


def _cell_counts(
    code: IntArray, bucket: npt.NDArray[np.integer[Any]], k: int, size: int
) -> IntArray:
    """Count rows per area x bucket cell; a bucket of -1 (outside the trend) is not counted."""
    inside = bucket >= 0
    if not inside.all():
        code, bucket = code[inside], bucket[inside]
    return np.bincount(code * k + bucket, minlength=size)


def _grid(
    pattern: str,
    labels: Sequence[str],
    *,
    req_bucket: npt.NDArray[np.integer[Any]],
    req_code: IntArray,
    close_bucket: npt.NDArray[np.integer[Any]],
    close_code: IntArray,
    n_areas: int,
    covered: IntArray,
    days: IntArray | None = None,
) -> dict[str, Any]:
    """Full area x bucket grid of request and closure counts with shares and coverage.

    ``covered`` counts the covered dates of each bucket; ``days`` its days
    (trend buckets), so that a bucket is ``partial`` when fewer are covered.
    """
    k = len(labels)
    size = n_areas * k
    req = _cell_counts(req_code, req_bucket, k, size)
    clo = _cell_counts(close_code, close_bucket, k, size)
    req_tot = np.repeat(req.reshape(n_areas, k).sum(axis=1), k)
    clo_tot = np.repeat(clo.reshape(n_areas, k).sum(axis=1), k)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(req_tot > 0, req / req_tot, np.nan)
        closures_share = np.where(clo_tot > 0, clo / clo_tot, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_day = np.where(np.tile(covered, n_areas) > 0, req / np.tile(covered, n_areas), np.nan)
    flags = np.where(covered > 0, "covered", "not covered").astype(object)
    if days is not None:
        part = (covered > 0) & (covered < days)
        pairs = zip(covered[part], days[part], strict=True)
        flags[part] = [f"partial ({c} of {d} days)" for c, d in pairs]
    return {
        "area": np.repeat(np.arange(n_areas), k),
        "pattern": np.full(size, pattern, dtype=object),
        "bucket": np.tile(np.asarray(labels, dtype=object), n_areas),
        "bucket_order": np.tile(np.arange(k), n_areas),
        "requests": req,
        "closures": clo,
        "share": share,
        "closures_share": closures_share,
        "covered_days": np.tile(covered, n_areas),
        "requests_per_covered_day": per_day,
        "coverage": np.tile(flags, n_areas),
    }


def _covered_dates(scope: _Scope, zone: str) -> pd.DatetimeIndex:
    """Local dates inside some input file's first-to-last creation date (and the period)."""
    low, high = scope.period
    dates: set[pd.Timestamp] = set()
    for source in scope.times.sources:
        if source.first_requested is None or source.last_requested is None:
            continue
        first = source.first_requested if low is None else max(source.first_requested, low)
        last = source.last_requested
        if high is not None:
            last = min(last, high - pd.Timedelta(1, "ns"))  # the period's end is exclusive
        if first > last:
            continue
        start = first.tz_convert(zone).tz_localize(None).normalize()
        end = last.tz_convert(zone).tz_localize(None).normalize()
        dates.update(pd.date_range(start, end, freq="D"))
    return pd.DatetimeIndex(sorted(dates))


#: Instants converted at once (local weekday and hour, trend bucket): the working
#: arrays (~50 bytes per instant) stay those of a block, whatever the number of requests.
_BLOCK = 1 << 20


def _local_parts(
    instants: npt.NDArray[np.datetime64], timezone: str
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int8]]:
    """Day of week (Monday = 0) and hour of UTC instants (not NaT), in local time.

    From the local wall-clock nanoseconds, converted a block of instants at a
    time: whole days since 1970-01-01 (a Thursday) give the weekday, whole
    hours the hour.
    """
    dow = np.empty(instants.size, dtype=np.int8)
    hour = np.empty(instants.size, dtype=np.int8)
    for lo in range(0, instants.size, _BLOCK):
        block = slice(lo, lo + _BLOCK)
        local = pd.DatetimeIndex(instants[block]).tz_localize("UTC").tz_convert(timezone)
        wall = local.tz_localize(None).to_numpy("datetime64[ns]").view(np.int64)
        days = wall // _NS_PER_DAY
        dow[block] = (days + 3) % 7
        hour[block] = wall // _NS_PER_HOUR - 24 * days
    return dow, hour


class _Times(NamedTuple):
    """The counted requests' local weekday and hour, and those of closures.

    The instants themselves are not kept (they are read from the frame again
    for the trend, once per selection): only the first and last creation.
    """

    closing: BoolArray  # in-scope rows: counted and closed with a valid closed time
    first: pd.Timestamp | None  # earliest creation of the counted requests (UTC)
    last: pd.Timestamp | None  # latest creation of the counted requests (UTC)
    req_dow: npt.NDArray[np.int8]
    req_hour: npt.NDArray[np.int8]
    clo_dow: npt.NDArray[np.int8]
    clo_hour: npt.NDArray[np.int8]


def _times(requests: pd.DataFrame, scope: _Scope, zone: str) -> _Times:
    """Return the :class:`_Times` of ``scope``'s selection, converted to local time once.

    They do not depend on the areas: the per-area and citywide patterns of
    every layer that shares the selection's arrays (see :mod:`.scope`) read
    the same ones, kept for the run.
    """

    def compute() -> _Times:
        closing = scope.counted & scope.event & ~scope.negative & ~scope.no_closed_time
        starts = scope.start[scope.counted]
        first = last = None
        if starts.size:
            first = pd.Timestamp(starts.min()).tz_localize("UTC")
            last = pd.Timestamp(starts.max()).tz_localize("UTC")
        req_dow, req_hour = _local_parts(starts, zone)
        del starts  # the closures' instants are read after the creations' go
        clo_dow, clo_hour = _local_parts(scope.closed[closing], zone)
        return _Times(closing, first, last, req_dow, req_hour, clo_dow, clo_hour)

    # the selection's remembered arrays identify its rows (and so their instants)
    arrays = (scope.counted, scope.event, scope.negative, scope.no_closed_time)
    key = ("pattern_times", zone, *(Same(a) for a in arrays))
    return remember(requests, key, compute, lasting=True)


def _trend_rows(
    requests: pd.DataFrame, scope: _Scope, times: _Times, edges: npt.NDArray[np.datetime64]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Return the trend bucket of each counted request and closure (-1: outside), once per run."""

    def bucket(instants: npt.NDArray[np.datetime64]) -> npt.NDArray[np.int32]:
        out = np.empty(instants.size, dtype=np.int32)
        for lo in range(0, instants.size, _BLOCK):  # the working arrays of a block only
            block = slice(lo, lo + _BLOCK)
            pos = np.searchsorted(edges, instants[block], side="right") - 1
            out[block] = np.where((pos >= 0) & (pos < edges.size - 1), pos, -1)
        return out

    def compute() -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
        return bucket(scope.start[scope.counted]), bucket(scope.closed[times.closing])

    # keyed by the selection's times (their arrays go with the selection, see .shared)
    key = ("pattern_trend", edges.tobytes(), Same(times.closing), Same(times.req_dow))
    return remember(requests, key, compute, lasting=True)


def time_patterns(
    requests: pd.DataFrame,
    *,
    key: str,
    timezone: str | None = None,
    freq: str = "MS",
    areas: Any = None,
    as_of: AsOf | None = None,
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
        As in :func:`geo311.indicators.area_indicators`; the requests counted are the same.
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
        in that pattern; NaN when the area has none), ``covered_days`` (local
        dates of the bucket inside some input file's first-to-last creation
        date, and inside ``period``: per weekday for ``day_of_week``, all of
        them for ``hour``, per bucket for the trend),
        ``requests_per_covered_day`` (``requests / covered_days``; NaN when
        none is covered) and ``coverage`` (:data:`COVERAGE_FLAGS`:
        ``covered``, ``partial (k of n days)`` for a trend bucket the data
        only partly cover, ``not covered`` -- e.g. the weekdays a Friday to
        Monday sample does not contain, whose zero is not a count).  Every
        area x bucket appears, zeros included.  The trend spans ``period``
        (or the creation times seen); closures after its last bucket are not
        shown.
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
        raise OptionError(msg)
    _check_columns(requests, opts)
    layer_areas = _resolve_areas(requests, key, areas, None)
    scope = _select(requests, opts, layer_areas.ids, city=city, parts=frozenset())
    ids = pd.Index([CITY_ID], dtype=object) if city else layer_areas.ids
    n = scope.n_areas
    times = _times(requests, scope, zone)
    req_code = scope.code[scope.counted]
    close_code = scope.code[times.closing]
    hours = [f"{h:02d}" for h in range(24)]
    dates = _covered_dates(scope, zone)
    by_weekday = np.bincount(dates.dayofweek.to_numpy(np.int64), minlength=7)
    parts = [
        _grid("day_of_week", _WEEKDAYS, req_bucket=times.req_dow, req_code=req_code,
              close_bucket=times.clo_dow, close_code=close_code, n_areas=n, covered=by_weekday),
        _grid("hour", hours, req_bucket=times.req_hour, req_code=req_code,
              close_bucket=times.clo_hour, close_code=close_code, n_areas=n,
              covered=np.full(24, len(dates), dtype=np.int64)),
    ]  # fmt: skip
    first, last = scope.period
    if first is None:
        first = times.first
    # the period's end is exclusive
    last = times.last if last is None else last - pd.Timedelta(1, "ns")
    if first is not None and last is not None:
        labels, edges, bounds = _trend_buckets(first, last, freq, zone)
        in_bucket = np.searchsorted(bounds.to_numpy(), dates.to_numpy(), side="right") - 1
        inside = (in_bucket >= 0) & (in_bucket < len(labels))
        covered = np.bincount(in_bucket[inside], minlength=len(labels)).astype(np.int64)
        spans = (bounds[1:].normalize() - bounds[:-1].normalize()).days.to_numpy(np.int64)
        req_bucket, close_bucket = _trend_rows(requests, scope, times, edges)
        parts.append(
            _grid(
                _pattern_name(freq),
                labels,
                req_bucket=req_bucket,
                req_code=req_code,
                close_bucket=close_bucket,
                close_code=close_code,
                n_areas=n,
                covered=covered,
                days=spans,
            )
        )
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    area = data.pop("area")
    frame = pd.DataFrame(data, index=pd.Index(ids.to_numpy()[area], name="area_id"))
    frame["pattern"] = frame["pattern"].astype("string")
    frame["bucket"] = frame["bucket"].astype("string")
    frame["coverage"] = frame["coverage"].astype("string")
    frame.attrs["geo311"] = {
        "layer": key,
        "timezone": zone,
        "freq": freq,
        "as_of": scope.as_of.isoformat(),
        "period": {"start": _iso(scope.period[0]), "end": _iso(scope.period[1])},
        "demand": opts.demand,
        "rows": dict(scope.funnel),
        "city": city,
        "sources": scope.times.metadata(),
        "covered_days": len(dates),
        "warnings": list(scope.times.warnings),
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
    counted = values[scope.counted]
    present = np.flatnonzero(np.bincount(counted, minlength=names.size))  # np.unique, sorted
    order = present[np.argsort(names[present], kind="stable")]
    categories = names[order]
    k = categories.size
    n = scope.n_areas
    rank = np.full(names.size, -1, dtype=np.int64)
    rank[order] = np.arange(k)
    counts = np.bincount(scope.code[scope.counted] * k + rank[counted], minlength=n * k)
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
    as_of: AsOf | None = None,
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
        As in :func:`geo311.indicators.area_indicators`.  Staff-filed channels (``internal``)
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
    as_of: AsOf | None = None,
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
        As in :func:`geo311.indicators.area_indicators`.
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
        raise OptionError(msg)
    return _mix(requests, opts, areas=areas, city=city, by="service_type", top=top)

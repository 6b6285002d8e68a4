"""Which requests an indicator table counts: the selection, done once per call.

A request is *in scope* for a table when it has a creation time, was created
no later than the as-of time of its own source (``input_file``; see
:mod:`.sources`), lies in ``period`` (``start <= requested < end``),
passes the service type / agency / channel filters and is assigned to an area
of the layer.  Of those, duplicates and transfers are excluded by default
(``include_duplicates`` / ``include_transfers``), and ``demand`` picks
resident-initiated (default), proactive or all requests.  The requests left
are *counted*; every indicator describes the same counted requests, and the
per-area columns ``requests_excluded`` (``= requests_all - requests``),
``requests_duplicate`` and ``requests_transfer`` say how many were set aside.

A request's duration for time to close is decided here too: a closed request
(closed time present, not after its source's as-of time, status not
``open``) contributes ``closed - requested`` as an event; every other request
is open at its source's as-of time and contributes ``as_of - requested`` as a
right-censored observation.
Durations are differences of UTC instants, so a daylight-saving change never
adds or removes an hour.  Closed requests with a negative duration, with
status ``closed`` but no closed time, or longer than ``max_days`` are marked
invalid -- never clipped.

:func:`_select` returns a :class:`_Scope`: arrays over the in-scope rows that
every indicator module (rates, time to close, compliance, patterns) reads,
and the row funnel (:data:`ROW_COUNTS`) that says what was dropped and why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import OptionError, SchemaError
from geo311.indicators.shared import Same, remember
from geo311.indicators.sources import (
    AsOf,
    TimeLike,
    _instant,
    _naive_ns,
    _source_times,
    _SourceTimes,
)

__all__ = ["CITY_ID", "DEMAND", "ROW_COUNTS", "AsOf", "Demand", "TimeLike"]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
#: factorized codes: the narrowest signed integers that hold them (see _factorize)
CodeArray = npt.NDArray[np.signedinteger[Any]]
BoolArray = npt.NDArray[np.bool_]
Demand = Literal["resident", "proactive", "all"]

#: ``demand`` choices: which requests count as demand (METRICS "Which requests count").
DEMAND: dict[str, str] = {
    "resident": "resident-initiated requests only (is_proactive is False)",
    "proactive": "requests filed by city staff only (is_proactive is True)",
    "all": "resident-initiated and proactive requests",
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
#: ``area_id`` of the citywide row (:func:`geo311.indicators.city_indicators`, ``city=True``).
CITY_ID = "city"

_NS_PER_DAY = 86_400 * 10**9
_UNKNOWN = "(unknown)"


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Options:
    """The analytic choices shared by every function of this module."""

    key: str
    as_of: AsOf | None
    period: tuple[TimeLike | None, TimeLike | None] | None
    service_types: tuple[str, ...] | None
    agencies: tuple[str, ...] | None
    sources: tuple[str, ...] | None
    demand: str
    include_duplicates: bool
    include_transfers: bool
    timezone: str | None
    max_days: float | None = None
    #: Areas pooled into groups: (area id, group id) pairs; the rows are then the groups.
    regroup: tuple[tuple[str, str], ...] | None = None


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
    as_of: AsOf | None,
    period: tuple[TimeLike | None, TimeLike | None] | None,
    service_types: str | Sequence[str] | None,
    agencies: str | Sequence[str] | None,
    sources: str | Sequence[str] | None,
    demand: str,
    include_duplicates: bool,
    include_transfers: bool,
    timezone: str | None,
    max_days: float | None = None,
    regroup: Mapping[str, str] | None = None,
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
        raise OptionError(msg)
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
        regroup=None if regroup is None else tuple((str(k), str(v)) for k, v in regroup.items()),
    )


# --------------------------------------------------------------------------- selection


def _utc_ns(
    requests: pd.DataFrame, column: str, rows: IntArray | None = None
) -> npt.NDArray[np.datetime64]:
    """Return a column (at ``rows``: without a full-length copy) as naive UTC ``datetime64[ns]``.

    NaT where missing or absent.
    """
    size = len(requests) if rows is None else len(rows)
    if column not in requests.columns:
        return np.full(size, np.datetime64("NaT"), dtype="datetime64[ns]")
    values = requests[column]
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        msg = (
            f"column {column!r} must hold timezone-aware datetimes (UTC), found dtype "
            f"{values.dtype}; read requests with geo311.read_requests"
        )
        raise SchemaError(msg)
    # not remembered: a few milliseconds per million rows, read when a selection needs it
    return (values.array if rows is None else values.array.take(rows)).to_numpy(
        dtype="datetime64[ns]"
    )


@dataclass
class _Scope:
    """The selected rows of one call, as arrays over the in-scope rows."""

    n_areas: int
    code: CodeArray  # area code of every in-scope row (int32)
    counted: BoolArray
    event: BoolArray  # closed by as_of with a usable closed time
    duration_days: FloatArray  # to close (event) or to as_of (open); NaN when invalid
    negative: BoolArray
    no_closed_time: BoolArray
    implausible: BoolArray
    service: CodeArray | None  # service type code into service_labels
    service_labels: list[str]
    source: CodeArray | None  # channel code into source_labels
    source_labels: list[str]
    times: _SourceTimes
    timezone: str | None
    period: tuple[pd.Timestamp | None, pd.Timestamp | None]
    #: the layer-free selection's durations, and the positions of these rows in it
    #: (None: the same rows), to read the time order off one sort per run
    layer_free: tuple[FloatArray, IntArray | None]
    #: the frame selected from and the positions of the in-scope rows in it, from which
    #: the flags and instants below are read when asked for: they are not kept for the run
    requests: pd.DataFrame
    rows: IntArray
    options: _Options
    funnel: dict[str, int] = field(default_factory=dict)
    vintages: list[str] = field(default_factory=list)

    @property
    def duplicate(self) -> BoolArray:
        """Whether each in-scope row is marked duplicate, read from the frame."""
        return _flag(self.requests, "is_duplicate", self.rows)

    @property
    def transfer(self) -> BoolArray:
        """Whether each in-scope row is marked transferred, read from the frame."""
        return _flag(self.requests, "is_transfer", self.rows)

    @property
    def proactive(self) -> BoolArray:
        """Whether each in-scope row was filed by city staff, read from the frame."""
        return _flag(self.requests, "is_proactive", self.rows)

    @property
    def flag_excluded(self) -> BoolArray:
        """Whether each in-scope row is set aside as a duplicate or a transfer."""
        return _set_aside(self.duplicate, self.transfer, self.options)

    @property
    def start(self) -> npt.NDArray[np.datetime64]:
        """Creation time of every in-scope row (naive UTC), read from the frame."""
        return _utc_ns(self.requests, "requested_datetime", self.rows)

    @property
    def closed(self) -> npt.NDArray[np.datetime64]:
        """Closed time of every in-scope row (naive UTC; NaT: none), read from the frame."""
        return _utc_ns(self.requests, "closed_datetime", self.rows)

    @property
    def due(self) -> npt.NDArray[np.datetime64]:
        """Due date of every in-scope row (naive UTC; NaT: none), read from the frame."""
        return _utc_ns(self.requests, "expected_datetime", self.rows)

    @property
    def as_of_rows(self) -> npt.NDArray[np.datetime64]:
        """The as-of time of each in-scope row's source (a broadcast when all are the same)."""
        return self.times.as_of_at(self.rows)

    @property
    def as_of(self) -> pd.Timestamp:
        """The latest of the sources' as-of times."""
        return self.times.as_of

    @property
    def as_of_source(self) -> str:
        """How the as-of times were chosen."""
        return self.times.as_of_source

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


def _code_dtype(n_values: int) -> type[np.signedinteger[Any]]:
    """Return the narrowest signed integer type holding codes -1 to ``n_values`` (one spare)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_values < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _factorize(requests: pd.DataFrame, column: str) -> tuple[CodeArray, list[str]]:
    """Integer codes of a text column (-1 where missing) and its distinct values as str.

    The codes number the values in order of first appearance, whatever the
    column's dtype; a categorical column (the canonical frame's, see
    :mod:`geo311.io.dtypes`) is encoded from its integer codes, without
    reading a string per row.  Every comparison on text columns is done once
    per distinct value and then gathered through the codes: far faster than
    element-wise string operations.  The codes are of the narrowest integer
    type that holds them and one more value (an "unknown" slot), usually one
    byte per request: they are kept for the whole run.
    Inside :func:`~geo311.indicators.shared.shared_selection` a column is
    encoded once for every table of the run.
    """

    def encode() -> tuple[CodeArray, list[str]]:
        codes, uniques = pd.factorize(requests[column], use_na_sentinel=True)
        return codes.astype(_code_dtype(len(uniques)), copy=False), [str(u) for u in uniques]

    return remember(requests, ("factorize", column), encode, lasting=True)


def _code_isin(codes: CodeArray, uniques: Sequence[str], wanted: Sequence[str]) -> BoolArray:
    """``values.isin(wanted)`` through factorized codes; missing values never match."""
    hit = np.zeros(len(uniques) + 1, dtype=bool)
    hit[:-1] = np.isin(np.array(uniques, dtype=object), np.array(list(wanted), dtype=object))
    return hit[codes]  # code -1 reads the trailing False


def _service_codes(requests: pd.DataFrame) -> tuple[CodeArray, list[str]] | None:
    """Service type code per request and the type labels.

    By ``service_name``, else ``service_code``, else one ``"(unknown)"`` type
    (always the last label).  The codes are narrow, as :func:`_factorize`'s.
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
        out[fill] = codes[fill].astype(np.int64) + len(labels)  # narrow codes must not wrap
        labels.extend(uniques)
    out[out < 0] = len(labels)  # neither name nor code: one "(unknown)" type
    labels.append(_UNKNOWN)
    return out.astype(_code_dtype(len(labels))), labels


@dataclass(frozen=True)
class _When:
    """The resolved instants of a call (UTC): per-source as-of times and the period."""

    timezone: str | None
    times: _SourceTimes
    start: pd.Timestamp | None
    end: pd.Timestamp | None


def _when(requests: pd.DataFrame, opts: _Options) -> _When:
    timezone = opts.timezone or requests.attrs.get("timezone")
    times = remember(
        requests,
        ("source_times", opts.as_of, timezone),
        lambda: _source_times(requests, opts.as_of, timezone),
        lasting=True,
    )
    start = end = None
    if opts.period is not None:
        start = None if opts.period[0] is None else _instant(opts.period[0], timezone, "start")
        end = None if opts.period[1] is None else _instant(opts.period[1], timezone, "end")
        if start is not None and end is not None and not start < end:
            msg = f"period start {start} must be before its end {end}; swap or correct the dates"
            raise OptionError(msg)
    return _When(timezone, times, start, end)


def _time_and_filter_rows(
    requests: pd.DataFrame,
    opts: _Options,
    *,
    when: _When,
    start: npt.NDArray[np.datetime64],
    funnel: dict[str, int],
) -> IntArray:
    """Return the rows that pass the time and filter rules (any layer); fill their funnel."""
    n = len(requests)
    keep = ~np.isnat(start)
    funnel["no_requested_datetime"] = int(n - keep.sum())
    late = keep & (start > when.times.as_of_ns)
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
    return _positions(passed)


def _positions(mask: BoolArray) -> IntArray:
    """Return ``np.flatnonzero(mask)`` in int32 when it fits: kept for the run, read often."""
    found = np.flatnonzero(mask)
    return found.astype(np.int32) if mask.size < np.iinfo(np.int32).max else found


def _area_codes(
    requests: pd.DataFrame,
    opts: _Options,
    area_ids: pd.Index,
    rows: IntArray,
    funnel: dict[str, int],
) -> CodeArray:
    """Return the area code of each of ``rows`` (-1: no area of the layer); fill the funnel.

    The codes are int32 (kept for a layer, read by every table): the products
    of a code and a number of cells that the tables count still fit.
    """
    id_codes, id_values = _factorize(requests, f"{opts.key}_id")
    if opts.regroup is not None:  # an area outside every group is not assigned
        group_of = dict(opts.regroup)
        in_group = np.array([v in group_of for v in id_values] + [False])
        id_codes = np.where(in_group[id_codes], id_codes, -1)
        id_values = [group_of.get(v, v) for v in id_values]
    to_area = np.full(len(id_values) + 1, -1, dtype=np.int32)
    to_area[:-1] = area_ids.get_indexer(pd.Index(id_values, dtype=object))
    id_codes = id_codes[rows]
    codes = to_area[id_codes]
    unassigned = id_codes < 0
    funnel["not_assigned_to_area"] = int(unassigned.sum())
    unknown = ~unassigned & (codes < 0)
    funnel["area_id_not_in_layer"] = int(unknown.sum())
    if unknown.any():
        examples = sorted({id_values[c] for c in np.unique(id_codes[unknown])})[:5]
        log.warning(
            "%s in-scope requests have a %s_id missing from the areas given, e.g. %s",
            f"{int(unknown.sum()):,}",
            opts.key,
            examples,
        )
    return codes


def _flag(requests: pd.DataFrame, column: str, rows: IntArray) -> BoolArray:
    """Return a flag column at ``rows`` (missing: False), without a full-length copy."""
    return np.asarray(requests[column].array.take(rows).to_numpy(dtype=bool, na_value=False))


def _set_aside(duplicate: BoolArray, transfer: BoolArray, opts: _Options) -> BoolArray:
    """Whether each row is set aside as a duplicate or a transfer (by the options)."""
    return (duplicate & (not opts.include_duplicates)) | (transfer & (not opts.include_transfers))


def _counted(requests: pd.DataFrame, rows: IntArray, opts: _Options) -> BoolArray:
    """Return the counted mask of ``rows``: not set aside, of the demand asked for.

    It is the one flag kept for the run; the others are read when needed.
    """
    excluded = _set_aside(
        _flag(requests, "is_duplicate", rows), _flag(requests, "is_transfer", rows), opts
    )
    if opts.demand == "all":
        return ~excluded
    proactive = _flag(requests, "is_proactive", rows)
    return ~excluded & (proactive if opts.demand == "proactive" else ~proactive)


def _demand_funnel(
    requests: pd.DataFrame,
    rows: IntArray,
    counted: BoolArray,
    opts: _Options,
    funnel: dict[str, int],
) -> None:
    """Count the in-scope requests set aside (duplicates, transfers, other demand) and counted."""
    duplicate = _flag(requests, "is_duplicate", rows)
    transfer = _flag(requests, "is_transfer", rows)
    dup_out = duplicate & (not opts.include_duplicates)
    transfer_out = transfer & (not opts.include_transfers)
    kept = ~_set_aside(duplicate, transfer, opts)
    funnel["duplicates_excluded"] = int(dup_out.sum())
    funnel["transfers_excluded"] = int((transfer_out & ~dup_out).sum())
    funnel["other_demand_excluded"] = int((kept & ~counted).sum())
    funnel["counted"] = int(counted.sum())


def _closures(
    requests: pd.DataFrame,
    rows: IntArray,
    start: npt.NDArray[np.datetime64],
    when: _When,
    opts: _Options,
) -> dict[str, Any]:
    """Return events, durations (days) and the invalid-duration masks.

    The closed times are read here and not kept: a selection reads its
    instants from the frame when asked (:class:`_Scope`).
    """
    closed = _utc_ns(requests, "closed_datetime", rows)
    status_codes, status_values = _factorize(requests, "status")
    status_codes = status_codes[rows]
    says_open = _code_isin(status_codes, status_values, ["open"])
    says_closed = _code_isin(status_codes, status_values, ["closed"])
    as_of_ns = when.times.as_of_at(rows)
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
        "event": event,
        "duration_days": duration,
        "negative": negative,
        "no_closed_time": no_closed_time,
        "implausible": implausible,
    }


def _layer_free_rows(
    requests: pd.DataFrame, opts: _Options
) -> tuple[IntArray, _When, dict[str, int], dict[str, Any]]:
    """Return the selection before the areas: rows, times, funnel so far, per-row arrays.

    The arrays (the counted mask, events, durations, invalid-duration masks)
    are what a selection keeps: the other flags and the instants are read
    from the frame when needed (see :class:`_Scope`).  Nothing here depends
    on the layer, so inside
    :func:`~geo311.indicators.shared.shared_selection` every layer of a run
    (and its citywide row and equity groups) starts from the same arrays.
    """
    when = _when(requests, opts)
    start_all = _utc_ns(requests, "requested_datetime")
    funnel: dict[str, int] = {"rows": len(requests)}
    rows = _time_and_filter_rows(requests, opts, when=when, start=start_all, funnel=funnel)
    start = start_all[rows]
    del start_all  # the full-length instants go before the closures are read
    closure = _closures(requests, rows, start, when, opts)
    return rows, when, funnel, {"counted": _counted(requests, rows, opts), **closure}


def _is_assigned_subset(key: Any) -> bool:
    """Whether ``key`` names the rows some layer places (see :func:`_selected_rows`)."""
    return isinstance(key, tuple) and key[:1] == ("layer_free_assigned",)


def _selected_rows(
    requests: pd.DataFrame, opts: _Options, area_ids: pd.Index
) -> tuple[
    IntArray,
    CodeArray,
    _When,
    dict[str, int],
    dict[str, Any],
    tuple[FloatArray, IntArray | None],
]:
    """Return the in-scope rows, their area codes, the times, the row funnel, per-row arrays.

    The layer-free selection is shared by every layer; its rows that have an
    area of the layer are taken out of it once for all the layers that place
    the same rows (often all of them), so that those layers read the same
    arrays and share what is computed from them (the time-to-close fits, the
    local times of the patterns).  Last, the layer-free durations and the
    positions of the rows in the layer-free selection (None: all of them).
    """
    free = replace(opts, key="", regroup=None)
    rows, when, funnel, arrays = remember(
        requests, ("layer_free", free), lambda: _layer_free_rows(requests, free), lasting=True
    )
    funnel = dict(funnel)
    codes = _area_codes(requests, opts, area_ids, rows, funnel)
    assigned = codes >= 0
    free_duration, free_row = arrays["duration_days"], None
    if not assigned.all():
        full = (rows, arrays)

        def subset() -> tuple[IntArray, dict[str, Any], IntArray]:
            return (
                full[0][assigned],
                {name: values[assigned] for name, values in full[1].items()},
                _positions(assigned),
            )

        # layers that leave out the same rows (e.g. those outside the city) share them;
        # once a layer places other rows, the copy (and what was computed from it) goes
        which = ("layer_free_assigned", free, np.packbits(assigned).tobytes())
        rows, arrays, free_row = remember(
            requests, which, subset, lasting=True, replaces=_is_assigned_subset
        )
        codes = codes[assigned]
    funnel["in_scope"] = int(rows.size)
    _demand_funnel(requests, rows, arrays["counted"], opts, funnel)
    for name in ("negative", "no_closed_time", "implausible"):
        funnel[f"ttc_excluded_{name}"] = int((arrays["counted"] & arrays[name]).sum())
    return rows, codes, when, funnel, arrays, (free_duration, free_row)


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
    rows, codes, when, funnel, arrays, layer_free = remember(
        requests,
        ("select", opts, tuple(area_ids)),
        lambda: _selected_rows(requests, opts, area_ids),
    )
    vintages: list[str] = []
    vintage_col = f"{opts.key}_vintage"
    if "vintage" in parts and vintage_col in requests.columns and opts.regroup is None:
        v_codes, v_values = _factorize(requests, vintage_col)
        seen = np.zeros(len(v_values) + 1, dtype=bool)
        seen[v_codes[rows]] = True  # code -1 (no vintage) marks the trailing slot
        vintages = sorted(v_values[c] for c in np.flatnonzero(seen[:-1]))

    def on_rows(what: Any, compute: Callable[[], Any]) -> Any:
        # a column read at the selected rows: once for every table of the selection
        return remember(requests, ("on_rows", what, Same(rows)), compute, lasting=True)

    service = None
    service_codes = None
    if "service" in parts:
        service = remember(
            requests, ("service_codes",), lambda: _service_codes(requests), lasting=True
        )
        if service is not None:
            all_types = service[0]
            service_codes = on_rows("service", lambda: all_types[rows])
    source_codes: CodeArray | None = None
    source_labels: list[str] = []
    if "source" in parts and "source" in requests.columns:
        all_codes, source_labels = _factorize(requests, "source")
        unknown = len(source_labels)
        source_codes = on_rows(
            "source", lambda: np.where(all_codes[rows] < 0, unknown, all_codes[rows])
        )
        source_labels = [*source_labels, _UNKNOWN]
    return _Scope(
        n_areas=1 if city else len(area_ids),
        code=np.broadcast_to(np.int32(0), (len(rows),)) if city else codes,  # no memory per row
        counted=arrays["counted"],
        event=arrays["event"],
        duration_days=arrays["duration_days"],
        negative=arrays["negative"],
        no_closed_time=arrays["no_closed_time"],
        implausible=arrays["implausible"],
        service=service_codes,
        service_labels=[] if service is None else service[1],
        source=source_codes,
        source_labels=source_labels,
        times=when.times,
        timezone=when.timezone,
        period=(when.start, when.end),
        layer_free=layer_free,
        requests=requests,
        rows=rows,
        options=opts,
        funnel=dict(funnel),
        vintages=vintages,
    )

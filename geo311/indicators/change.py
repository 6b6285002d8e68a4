"""Change against the previous period: the same indicators, the same rules, the window before.

The *previous period* of a run whose period is ``[start, end)`` is the window
of the same length immediately before it, ``[start - (end - start), start)``.
:func:`previous_period` tabulates it from the requests the run already holds,
with exactly the options of the run (service types, duplicates and transfers
rule, demand, each file's as-of time, time zone), so a change is never the
effect of a different selection.

The previous window counts only when the data *cover* it: every local day of
it lies within the creation dates of the input files (first to last request
of each file; files whose dates touch or overlap join up).  Otherwise there
is no previous period in the data and the result says why, in plain words,
rather than comparing with a window the files never held (which would look
like a fall to zero).  A run without a period covers every request in the
files, so it has no previous period either.

:func:`period_change` sets the previous figures beside the current ones:
absolute change and relative change in percent.

Examples
--------
>>> import pandas as pd
>>> previous_window(("2019-01-08", "2019-01-15"), timezone="UTC")
(Timestamp('2019-01-01 00:00:00+0000', tz='UTC'), Timestamp('2019-01-08 00:00:00+0000', tz='UTC'))
>>> now = pd.DataFrame({"requests": [110.0], "on_time_share": [0.5]}, index=["A"])
>>> before = pd.DataFrame({"requests": [100.0], "on_time_share": [0.4]}, index=["A"])
>>> period_change(now, before, columns=["requests"]).iloc[0].tolist()
[100.0, 10.0, 10.0]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from geo311.indicators.area import area_indicators, city_indicators
from geo311.indicators.shared import remember
from geo311.indicators.sources import AsOf, TimeLike, _instant, _source_times, _SourceTimes

__all__ = [
    "CHANGE_COLUMNS",
    "PreviousPeriod",
    "covered_days",
    "period_change",
    "previous_period",
    "previous_window",
]

#: The indicators compared with the previous period (the headline cards' figures).
CHANGE_COLUMNS: tuple[str, ...] = ("requests", "rate_per_1k", "ttc_median_days", "on_time_share")


class PreviousPeriod(NamedTuple):
    """The previous period of a run: its window, whether the data cover it, its indicators."""

    start: pd.Timestamp | None  # UTC; None when the run's period is open at its start
    end: pd.Timestamp | None
    covered: bool
    reason: str  # why there is no previous period, in plain words ("" when covered)
    table: pd.DataFrame  # CHANGE_COLUMNS per area and the citywide row; empty when not covered

    def metadata(self) -> dict[str, Any]:
        """Return the window and its coverage as JSON-ready values (no table)."""
        return {
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "days": None if self.start is None or self.end is None else self.days,
            "covered": self.covered,
            "reason": self.reason,
        }

    @property
    def days(self) -> float:
        """Length of the window in days."""
        if self.start is None or self.end is None:
            return float("nan")
        return (self.end - self.start) / pd.Timedelta(days=1)


def previous_window(
    period: tuple[TimeLike | None, TimeLike | None],
    *,
    timezone: str | None,
    as_of: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Return the window of the same length just before ``period``, in UTC.

    Parameters
    ----------
    period : (start, end)
        The run's period, ``start <= requested < end``; naive values are local
        times in ``timezone``.  An open end stands for ``as_of``.
    timezone : str or None
        IANA zone of naive values (UTC when None).
    as_of : pandas.Timestamp, optional
        The end of an open-ended period.

    Returns
    -------
    (start, end) or None
        None when the period has no start (or no end and no ``as_of``).
    """
    if period[0] is None:
        return None
    start = _instant(period[0], timezone, "period start")
    if period[1] is not None:
        end = _instant(period[1], timezone, "period end")
    elif as_of is not None:
        end = as_of.tz_convert("UTC")
    else:
        return None
    return start - (end - start), start


def _times(requests: pd.DataFrame, as_of: AsOf | None, zone: str | None) -> _SourceTimes:
    """Return the input files' times, shared with the tables of the run (see :mod:`.shared`)."""
    return remember(
        requests,
        ("source_times", as_of, zone),
        lambda: _source_times(requests, as_of, zone),
        lasting=True,
    )


def covered_days(requests: pd.DataFrame, *, timezone: str | None) -> list[tuple[dt.date, dt.date]]:
    """Return the local dates the input files cover, as merged (first, last) spans.

    Each input file (``input_file``; the whole frame without it) covers the
    local dates from its first to its last request; spans that overlap or
    touch (next day) are merged.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests with ``requested_datetime``.  Not modified.
    timezone : str or None
        IANA zone of the local dates (UTC when None).

    Returns
    -------
    list of (datetime.date, datetime.date)
        Sorted, disjoint spans, both ends included.
    """
    times = _times(requests, None, timezone) if len(requests) else None
    spans = []
    for source in times.sources if times is not None else ():
        if source.first_requested is None or source.last_requested is None:
            continue
        first = source.first_requested.tz_convert(timezone or "UTC").date()
        last = source.last_requested.tz_convert(timezone or "UTC").date()
        spans.append((first, last))
    merged: list[tuple[dt.date, dt.date]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + dt.timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _day(value: dt.date) -> str:
    return f"{value.day} {value.strftime('%b %Y')}"


def _uncovered(
    window: tuple[pd.Timestamp, pd.Timestamp],
    spans: Sequence[tuple[dt.date, dt.date]],
    timezone: str | None,
) -> str:
    """Return why the data do not cover ``window`` ("" when they do)."""
    zone = timezone or "UTC"
    first = window[0].tz_convert(zone).date()
    last = (window[1] - pd.Timedelta(1, "ns")).tz_convert(zone).date()
    if any(a <= first and last <= b for a, b in spans):
        return ""
    held = "; ".join(_day(a) if a == b else f"{_day(a)} to {_day(b)}" for a, b in spans)
    return (
        f"the previous period ({_day(first)} to {_day(last)}) is not covered by the files, "
        f"whose requests were made {held or 'on no known date'}"
    )


def previous_period(
    requests: pd.DataFrame,
    *,
    period: tuple[TimeLike | None, TimeLike | None] | None,
    timezone: str | None = None,
    as_of: AsOf | None = None,
    **options: Any,
) -> PreviousPeriod:
    """Tabulate the period before a run's, when the requests cover it.

    Parameters
    ----------
    requests : pandas.DataFrame
        The run's joined requests (every input file).  Not modified.
    period : (start, end) or None
        The run's period; None (every request) has no previous period.
    timezone : str, optional
        IANA zone of naive times and local dates; default
        ``requests.attrs["timezone"]``, else UTC.
    as_of : time or mapping of file to time, optional
        As in :func:`geo311.area_indicators` (the end of an open period is
        the latest as-of time).
    **options
        Every other option of :func:`geo311.area_indicators` (``key``,
        ``areas``, ``population``, ``service_types``, ``demand``,
        ``include_duplicates`` ...), the run's own, so both periods count
        requests by the same rules.

    Returns
    -------
    PreviousPeriod
        ``table`` holds :data:`CHANGE_COLUMNS` (and ``area_name``) per area
        and the citywide row (``area_id == "city"``) when the data cover the
        window; ``reason`` says in plain words why not otherwise.
    """
    zone = timezone or requests.attrs.get("timezone") or None
    empty = pd.DataFrame(columns=["area_name", *CHANGE_COLUMNS])
    if period is None:
        reason = "the run covers every request in the files; give a period to compare"
        return PreviousPeriod(None, None, False, reason, empty)
    latest = _times(requests, as_of, zone).as_of if len(requests) else None
    window = previous_window(period, timezone=zone, as_of=latest)
    if window is None:
        reason = "the period has no start date"
        return PreviousPeriod(None, None, False, reason, empty)
    reason = _uncovered(window, covered_days(requests, timezone=zone), zone)
    if reason:
        return PreviousPeriod(window[0], window[1], False, reason, empty)
    shared = {**options, "as_of": as_of, "timezone": zone, "period": window}
    parts = [area_indicators(requests, **shared), city_indicators(requests, **shared)]
    table = pd.concat([p[["area_name", *CHANGE_COLUMNS]] for p in parts])
    table.attrs = {}
    return PreviousPeriod(window[0], window[1], True, "", table)


def period_change(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    columns: Sequence[str] = CHANGE_COLUMNS,
) -> pd.DataFrame:
    """Return each indicator's previous value, change and relative change (%).

    Parameters
    ----------
    current, previous : pandas.DataFrame
        The indicators of the run and of its previous period (e.g.
        :attr:`PreviousPeriod.table`), indexed alike.  Not modified.
    columns : sequence of str, default :data:`CHANGE_COLUMNS`

    Returns
    -------
    pandas.DataFrame
        Indexed like ``current``: ``<column>_previous``, ``<column>_change``
        (current - previous) and ``<column>_change_pct`` (100 x change /
        previous; NaN when the previous value is 0 or missing).
    """
    out = pd.DataFrame(index=current.index)
    for column in columns:
        now, before = (
            pd.to_numeric(frame[column], errors="coerce").astype(float).reindex(current.index)
            if column in frame
            else pd.Series(np.nan, index=current.index)
            for frame in (current, previous)
        )
        change = now - before
        base = before.where(before != 0)
        out[f"{column}_previous"] = before
        out[f"{column}_change"] = change
        out[f"{column}_change_pct"] = 100 * change / base
    return out

"""Due dates: the on-time share with open-overdue requests as failures (METRICS 8)."""

from __future__ import annotations

from typing import Any

import numpy as np

from geo311.indicators._stats import wilson
from geo311.indicators.scope import _Scope

__all__: list[str] = []

_ON_TIME, _LATE, _OVERDUE, _ON_TRACK, _NO_DUE, _OTHER = range(6)
_KINDS = 6


def _due_dates(scope: _Scope, confidence: float) -> dict[str, Any]:
    """On-time share with open-overdue as failures, Wilson CI (METRICS 8)."""
    ok = scope.ttc_ok
    n = scope.n_areas
    as_of_ns = scope.as_of_rows  # each request's own source's as-of time
    has_due = ~np.isnat(scope.due)
    closed_due = ok & scope.event & has_due
    on_time = closed_due & (scope.closed <= scope.due)
    is_open = ok & ~scope.event
    overdue = is_open & has_due & (scope.due < as_of_ns)
    on_track = is_open & has_due & ~(scope.due < as_of_ns)
    # One count per area of the mutually exclusive kinds of row (the last: none of them).
    kind = np.full(scope.code.size, _OTHER, dtype=np.int64)
    kind[closed_due] = _LATE
    kind[on_time] = _ON_TIME
    kind[overdue] = _OVERDUE
    kind[on_track] = _ON_TRACK
    kind[ok & ~has_due] = _NO_DUE
    counts = np.bincount(scope.code * _KINDS + kind, minlength=n * _KINDS).reshape(n, _KINDS)
    hits = counts[:, _ON_TIME]
    trials = hits + counts[:, _LATE] + counts[:, _OVERDUE]
    low, high = wilson(hits, trials, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(trials > 0, hits / trials, np.nan)
    return {
        "on_time_share": share,
        "on_time_ci_low": low,
        "on_time_ci_high": high,
        "on_time": hits,
        "sla_due": trials,
        "open_overdue": counts[:, _OVERDUE],
        "open_on_track": counts[:, _ON_TRACK],
        "no_due_date": counts[:, _NO_DUE],
    }

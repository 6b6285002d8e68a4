"""Due dates: the on-time share with open-overdue requests as failures (METRICS 8)."""

from __future__ import annotations

from typing import Any

import numpy as np

from geo311.indicators._stats import wilson
from geo311.indicators.scope import _Scope

__all__: list[str] = []


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
    code = scope.code
    hits = np.bincount(code[on_time], minlength=n)
    trials = np.bincount(code[closed_due], minlength=n) + np.bincount(code[overdue], minlength=n)
    low, high = wilson(hits, trials, confidence)
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

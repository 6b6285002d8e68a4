"""Due dates: the on-time share with open-overdue requests as failures (METRICS 8)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311.indicators._stats import wilson
from geo311.indicators.scope import _Scope
from geo311.indicators.shared import Same, remember

__all__: list[str] = []

_ON_TIME, _LATE, _OVERDUE, _ON_TRACK, _NO_DUE, _OTHER = range(6)
_KINDS = 6


def _kinds(scope: _Scope) -> npt.NDArray[np.int8]:
    """Return the due-date kind of each in-scope row (exclusive; the last: none of them)."""
    ok = scope.ttc_ok
    due = scope.due  # read from the frame once (see _Scope)
    has_due = ~np.isnat(due)
    closed_due = ok & scope.event & has_due
    on_time = closed_due & (scope.closed <= due)
    is_open = ok & ~scope.event
    past_due = due < scope.as_of_rows  # each request's own source's as-of time
    overdue = is_open & has_due & past_due
    on_track = is_open & has_due & ~past_due
    kind = np.full(scope.code.size, _OTHER, dtype=np.int8)
    kind[closed_due] = _LATE
    kind[on_time] = _ON_TIME
    kind[overdue] = _OVERDUE
    kind[on_track] = _ON_TRACK
    kind[ok & ~has_due] = _NO_DUE
    return kind


def _due_dates(scope: _Scope, confidence: float, requests: pd.DataFrame) -> dict[str, Any]:
    """On-time share with open-overdue as failures, Wilson CI (METRICS 8).

    ``requests``: the frame ``scope`` was selected from; the rows' kinds do
    not depend on the areas, so every table of the same selection shares
    them (see :mod:`.shared`).
    """
    n = scope.n_areas
    # the selection's remembered arrays identify its rows (and so their due dates)
    arrays = (
        scope.event,
        scope.counted,
        scope.negative,
        scope.no_closed_time,
        scope.implausible,
    )
    key = ("due_kinds", *(Same(a) for a in arrays))
    kind = remember(requests, key, lambda: _kinds(scope), lasting=True)
    # One count per area of each kind of row.
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

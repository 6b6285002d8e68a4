"""Time to close per area, censoring-aware (METRICS 5-7).

Kaplan-Meier median, p90 and shares closed within :data:`geo311.catalogue.HORIZONS_DAYS`
with log(-log) Greenwood bands, the naive median over closed requests only
(for comparison with dashboards), and the type-mix adjusted ratio of
observed to expected closures (indirect standardisation by service type).
Open requests are right-censored at their source's as-of time (see :mod:`.scope`).

Only what the data reach is published (METRICS "Defaults"): an area's
*follow-up* (``ttc_followup_days``) is its longest observed duration, closed
or still open.  A share closed within ``d`` days needs follow-up ``>= d``, or
a curve that reached 0 (every request closed: the share is 1 at any ``d``);
otherwise it is empty and ``closed_within_<d>d_flag`` says
``beyond follow-up (N days)``.  A median (p90) the curve does not reach is
flagged ``not reached (> N days)``, distinct from ``insufficient`` (no timed
requests).  At a share of 0 (no closure by ``d``) or 1 (every request closed
by ``d``) the log(-log) band collapses to a point; the open limit is then the
Wilson limit of 0 of the requests followed past ``d`` days (or of all the
closures by ``d``), never ``[0, 0]`` or ``[1, 1]``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311.catalogue import HORIZONS_DAYS, TTC_FLAGS
from geo311.indicators._stats import garwood, wilson
from geo311.indicators.scope import BoolArray, FloatArray, IntArray, _Scope
from geo311.indicators.shared import Same, remember
from geo311.indicators.survival import SurvivalCurves, TimeOrder, survival_curves
from geo311.indicators.survival_batches import curve_batches, hazard_at_observations

StrArray = npt.NDArray[np.str_]

__all__ = ["HORIZONS_DAYS", "TTC_FLAGS"]


def _closed_only_median(km: SurvivalCurves, closed: IntArray) -> FloatArray:
    """Per-group median of the closed requests' durations (``numpy.median`` semantics).

    Read off the curve table: a group's rows hold its closures in time order
    (``events`` at each row's time), so its ``k``-th closure is at the row
    where the running count of events passes ``k`` -- no sort, no gather of
    the durations.
    """
    out = np.full(km.n_groups, np.nan)
    before = km.events_before
    has = closed > 0
    first = before[km.offsets[:-1][has]]  # the table's closures before the group's

    def time_of(k: IntArray) -> FloatArray:
        return km.time[np.searchsorted(before, k, side="right") - 1]

    lo = time_of(first + (closed[has] - 1) // 2)
    hi = time_of(first + closed[has] // 2)
    out[has] = (lo + hi) / 2.0
    return out


def _days(value: float) -> str:
    """Days rounded down to one decimal (so that "> N days" and "N days" stay true)."""
    return f"{math.floor(value * 10) / 10:.1f}" if np.isfinite(value) else "0.0"


def _quantile_flag(values: FloatArray, followup: FloatArray, timed: IntArray) -> StrArray:
    """``ok`` / ``not reached (> N days)`` / ``insufficient`` for a KM quantile."""
    reached = [f"not reached (> {_days(f)} days)" for f in followup]
    return np.where(timed == 0, "insufficient", np.where(np.isnan(values), reached, "ok"))


def _counts_at(
    km: SurvivalCurves, groups: IntArray, horizons: FloatArray, rows: IntArray
) -> tuple[IntArray, IntArray]:
    """Count requests followed to ``h`` days or more, and closures by ``h``, per (group, h).

    Read off the curve table: ``rows`` is each query's last row at or before
    ``h`` (-1 for an empty group).  Those still at risk at ``h`` are the
    row's at-risk count when the row is at ``h``, else those left after the
    row; the closures by ``h`` are the group's events up to the row.
    """
    followed = np.zeros(rows.size, dtype=np.int64)
    closed_by = np.zeros(rows.size, dtype=np.int64)
    found = rows >= 0
    row = rows[found]
    left = km.at_risk[row] - km.events[row] - km.censored[row]
    followed[found] = np.where(km.time[row] == horizons[found], km.at_risk[row], left)
    before = km.events_before
    closed_by[found] = before[row + 1] - before[km.offsets[groups[found]]]
    return followed, closed_by


def _shares(
    km: SurvivalCurves, timed: IntArray, *, followup: FloatArray, confidence: float
) -> dict[str, Any]:
    """KM shares closed within each horizon, within follow-up, with edge-safe intervals."""
    n = km.n_groups
    out: dict[str, Any] = {}
    horizons = np.asarray(HORIZONS_DAYS, dtype=float)
    groups = np.repeat(np.arange(n), horizons.size)
    queries = np.tile(horizons, n)
    rows = km._rows_at(groups, queries)
    found = rows >= 0
    followed_at, closed_at = (
        counts.reshape(n, horizons.size) for counts in _counts_at(km, groups, queries, rows)
    )
    lower, upper = km.confidence_bands(confidence=confidence, rows=rows[found])
    grids = {}
    for name, curve in (
        ("share", km.survival_of(rows[found])),
        ("ci_low", upper),
        ("ci_high", lower),
    ):
        flat = np.full(rows.size, np.nan)
        flat[found] = 1.0 - curve
        grids[name] = flat.reshape(n, horizons.size)
    # A curve that reaches 0 (every request closed) is known beyond its follow-up.
    ends = km.offsets[1:] - 1
    complete = np.zeros(n, dtype=bool)
    has = np.diff(km.offsets) > 0
    complete[has] = km.survival_of(ends[has]) == 0.0
    for j, h in enumerate(HORIZONS_DAYS):
        share, low, high = (grids[name][:, j].copy() for name in ("share", "ci_low", "ci_high"))
        # Edges: Wilson limit of 0 of those followed past h / all of the closures by h.
        followed = followed_at[:, j]
        closed_by = closed_at[:, j]
        none = share == 0.0
        high[none] = wilson(np.zeros(n), followed, confidence)[1][none]
        every = share == 1.0
        low[every] = wilson(closed_by, closed_by, confidence)[0][every]
        beyond = ~(followup >= h) & ~complete
        for values in (share, low, high):
            values[beyond] = np.nan
        out[f"closed_within_{h}d_share"] = share
        out[f"closed_within_{h}d_ci_low"] = low
        out[f"closed_within_{h}d_ci_high"] = high
        out[f"closed_within_{h}d_flag"] = np.where(
            timed == 0,
            "insufficient",
            np.where(beyond, [f"beyond follow-up ({_days(f)} days)" for f in followup], "ok"),
        )

    return out


class _Fits(NamedTuple):
    """What every table of one selection shares: the time order and the expected closures."""

    by_time: TimeOrder  # the valid durations sorted (positions int32 when they fit)
    crude: FloatArray | None  # per timed request: the citywide cumulative hazard at its time
    typed: FloatArray | None  # the same under its service type's citywide curve


def _time_order(requests: pd.DataFrame, scope: _Scope) -> TimeOrder:
    """Return the selection's timed requests sorted by duration, read off one sort for the run.

    The layer-free selection's durations (see :mod:`.scope`) are sorted once
    (only the order is kept for the run, not a sorted copy of the durations);
    a selection's rows are a part of them, so its order is that order kept
    to its own rows, and its sorted durations those of the run's kept to them.
    Remembered for the selection (the tables with and without the type
    adjustment share it).
    """

    def compute() -> TimeOrder:
        free, free_row = scope.layer_free
        # positions in int32 when they fit: kept for the run, and what the fits read
        index = np.int32 if free.size < np.iinfo(np.int32).max else np.int64

        def sort() -> IntArray:
            # Only the valid durations: a NaN (no valid duration) takes numpy's sort off its
            # vectorised path (four times slower), and those rows are never fitted.
            valid = np.flatnonzero(~np.isnan(free))
            return valid[np.argsort(free[valid])].astype(index)

        order = remember(requests, ("time_order", Same(free)), sort, lasting=True)
        ok = scope.ttc_ok
        rows = np.flatnonzero(ok) if free_row is None else free_row[ok]
        rank: IntArray = np.full(free.size, -1, dtype=index)
        rank[rows] = np.arange(rows.size)
        by_time = rank[order]
        kept = by_time >= 0
        positions = by_time[kept]
        return TimeOrder(positions, free[order[kept]], scope.event[ok][positions])

    return remember(requests, ("ttc_time_order", *_selection_key(scope)), compute, lasting=True)


def _pooled(
    requests: pd.DataFrame,
    scope: _Scope,
    durations: FloatArray,
    events: BoolArray,
    by_time: TimeOrder,
) -> SurvivalCurves:
    """Return the citywide curve (all areas pooled) of a selection.

    Kept by the innermost block only (a layer's), for the fits' expected
    closures and the layer's citywide row.
    """
    return remember(
        requests,
        ("ttc_pooled", *_selection_key(scope)),
        lambda: survival_curves(durations, events, order=by_time),
    )


def _fit(requests: pd.DataFrame, scope: _Scope, *, type_adjusted: bool) -> _Fits:
    ok = scope.ttc_ok
    durations = scope.duration_days[ok]
    events = scope.event[ok]
    by_time = _time_order(requests, scope)
    if not durations.size or not type_adjusted:
        return _Fits(by_time, None, None)
    pooled = _pooled(requests, scope, durations, events, by_time)
    typed = None
    if scope.service is not None:
        typed = hazard_at_observations(
            durations,
            events,
            groups=scope.service[ok],
            n_groups=len(scope.service_labels),
            order=by_time,
        )
    return _Fits(by_time, pooled.cumulative_hazard_at_observations(), typed)


def _selection_key(scope: _Scope) -> tuple[Any, ...]:
    """Identify the selection of ``scope`` by its arrays (remembered, see :mod:`.scope`)."""
    selection = (
        scope.duration_days,
        scope.event,
        scope.counted,
        scope.negative,
        scope.no_closed_time,
        scope.implausible,
    )
    types = None if scope.service is None else len(scope.service_labels)
    return (*(Same(a) for a in selection), types)


def _fits(requests: pd.DataFrame, scope: _Scope, *, type_adjusted: bool = True) -> _Fits:
    """Return the fits of ``scope``'s selection, computed once for the tables that share it.

    The per-area table and the citywide row of a layer -- and of every layer
    that places the same rows -- select the same rows (the same remembered
    arrays, see :mod:`.scope` and :mod:`.shared`): their time order and
    expected closures (citywide curves, all areas pooled) are the same.
    Keyed by the identity of the selection's arrays, so another selection
    never shares them; kept for the whole run.  Without ``type_adjusted``,
    only the time order (no curve, no expected closures).
    """
    key = ("ttc_fits", *_selection_key(scope), type_adjusted)
    return remember(
        requests, key, lambda: _fit(requests, scope, type_adjusted=type_adjusted), lasting=True
    )


def _type_adjusted(
    codes: IntArray, timed: IntArray, closed: IntArray, fits: _Fits, confidence: float
) -> dict[str, Any]:
    """Observed / expected closures by service type and pooled (METRICS 7).

    ``codes``: the area of each timed request; ``timed`` and ``closed``: per area.
    An area holding every timed request (the citywide row) has a ratio of 1 by
    construction: it gets no interval.
    """
    n = timed.size
    out: dict[str, Any] = {}
    # Indirect standardisation: expected closures under the citywide curve of each type.
    observed = closed.astype(float)
    expected = np.full(n, np.nan)
    crude = np.full(n, np.nan)
    if fits.crude is not None:
        crude_expected = np.bincount(codes, weights=fits.crude, minlength=n)
        if fits.typed is not None:
            expected = np.bincount(codes, weights=fits.typed, minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            crude = np.where(crude_expected > 0, observed / crude_expected, np.nan)
    g_low, g_high = garwood(observed, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = expected > 0
        out["ttc_expected_closures"] = expected
        out["ttc_type_adjusted_ratio"] = np.where(usable, observed / expected, np.nan)
        out["ttc_type_adjusted_ratio_ci_low"] = np.where(usable, g_low / expected, np.nan)
        out["ttc_type_adjusted_ratio_ci_high"] = np.where(usable, g_high / expected, np.nan)
    out["ttc_crude_ratio"] = crude
    whole = (timed > 0) & (timed == timed.sum())
    for side in ("ci_low", "ci_high"):
        out[f"ttc_type_adjusted_ratio_{side}"][whole] = np.nan
    return out


def _time_to_close(
    scope: _Scope, confidence: float, requests: pd.DataFrame, *, type_adjusted: bool = True
) -> dict[str, Any]:
    """Kaplan-Meier, naive median and type-mix O/E per area (METRICS 5-7).

    ``requests``: the frame ``scope`` was selected from, so that the tables
    of the same selection share their fits inside
    :func:`~geo311.indicators.shared.shared_selection`.  Without
    ``type_adjusted`` the O/E columns are empty (NaN) and the citywide
    curves they need are not fitted.  A table of one area (the citywide
    row) only depends on the selection: every layer that shares it reads
    the same columns.
    """
    if scope.n_areas != 1:
        return _columns(scope, confidence, requests, type_adjusted=type_adjusted)
    key = ("ttc_city", *_selection_key(scope), confidence, type_adjusted)
    return dict(
        remember(
            requests,
            key,
            lambda: _columns(scope, confidence, requests, type_adjusted=type_adjusted),
            lasting=True,
        )
    )


def _columns(
    scope: _Scope, confidence: float, requests: pd.DataFrame, *, type_adjusted: bool
) -> dict[str, Any]:
    ok = scope.ttc_ok
    codes = scope.code[ok]
    durations = scope.duration_days[ok]
    events = scope.event[ok]
    fits = _fits(requests, scope, type_adjusted=type_adjusted)
    if scope.n_areas == 1:  # one area (the citywide row): the pooled curve of the fits, if kept
        out = _curve_columns(_pooled(requests, scope, durations, events, fits.by_time), confidence)
    else:  # the areas' curves a batch of areas at a time: the same values, bounded memory
        batches = [
            _curve_columns(batch.curves, confidence)
            for batch in curve_batches(
                durations, events, groups=codes, n_groups=scope.n_areas, order=fits.by_time
            )
        ]
        out = {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
    out.update(_type_adjusted(codes, out["ttc_requests"], out["ttc_closed"], fits, confidence))
    return out


def _curve_columns(km: SurvivalCurves, confidence: float) -> dict[str, Any]:
    """Return the Kaplan-Meier columns of every group of ``km`` (METRICS 5)."""
    ci_low, ci_high = km.median_ci(confidence=confidence)
    timed = km.n_observations
    before = km.events_before
    closed = before[km.offsets[1:]] - before[km.offsets[:-1]]
    out: dict[str, Any] = {
        "ttc_requests": timed,
        "ttc_closed": closed,
        "ttc_open": timed - closed,
        "ttc_median_days": km.median(),
        "ttc_median_days_ci_low": ci_low,
        "ttc_median_days_ci_high": ci_high,
        "ttc_median_days_closed_only": _closed_only_median(km, closed),
        "ttc_p90_days": km.time_at_survival(0.1),
    }
    followup = np.full(km.n_groups, np.nan)  # the longest duration: the last time of the curve
    has = np.diff(km.offsets) > 0
    followup[has] = km.time[km.offsets[1:][has] - 1]
    out["ttc_followup_days"] = followup
    out["ttc_median_flag"] = _quantile_flag(out["ttc_median_days"], followup, out["ttc_requests"])
    out["ttc_p90_flag"] = _quantile_flag(out["ttc_p90_days"], followup, out["ttc_requests"])
    out.update(_shares(km, timed, followup=followup, confidence=confidence))
    return out

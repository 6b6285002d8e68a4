"""Time to close per area, censoring-aware (METRICS 5-7).

Kaplan-Meier median, p90 and shares closed within :data:`geo311.catalogue.HORIZONS_DAYS`
with log(-log) Greenwood bands, the naive median over closed requests only
(for comparison with dashboards), and the type-mix adjusted ratio of
observed to expected closures (indirect standardisation by service type).
Open requests are right-censored at ``as_of`` (see :mod:`.scope`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geo311.catalogue import HORIZONS_DAYS
from geo311.indicators._stats import garwood
from geo311.indicators.scope import FloatArray, IntArray, _Scope
from geo311.indicators.survival import survival_curves

__all__ = ["HORIZONS_DAYS"]


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
    g_low, g_high = garwood(observed, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        usable = expected > 0
        out["ttc_expected_closures"] = expected
        out["ttc_type_adjusted_ratio"] = np.where(usable, observed / expected, np.nan)
        out["ttc_type_adjusted_ratio_ci_low"] = np.where(usable, g_low / expected, np.nan)
        out["ttc_type_adjusted_ratio_ci_high"] = np.where(usable, g_high / expected, np.nan)
    out["ttc_crude_ratio"] = crude
    return out

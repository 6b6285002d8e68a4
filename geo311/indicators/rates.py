"""Demand counts and per-capita rates with their intervals and flags (METRICS 1-3).

:func:`_counts` tabulates the selected requests per area (all in scope,
counted, duplicates, transfers, resident-initiated, proactive, and those
excluded from time to close); :func:`_rates` turns the counted requests into
rates per 1,000 residents with exact Poisson intervals, the ``rate_flag``
small-number rule (:data:`RATE_FLAGS`), rate ratios against the rest of the
layer and Marshall's empirical Bayes smoothed rates; :func:`_population`
matches the residents per area.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import DataError
from geo311.catalogue import RATE_FLAGS
from geo311.indicators._stats import garwood, log_ratio_interval
from geo311.indicators.scope import FloatArray, _Scope
from geo311.indicators.shared import Same, remember

__all__ = ["RATE_FLAGS"]

log = logging.getLogger(__name__)


def _rates(
    y: FloatArray,
    population: FloatArray,
    *,
    confidence: float,
    min_population: float,
    min_count: int,
    given: bool = True,
) -> dict[str, Any]:
    """Rates, Garwood CIs, flags, rate ratios vs the rest, Marshall EB (METRICS 1-3).

    ``given=False``: the layer has no population at all, so every rate is
    flagged ``no_denominator`` rather than ``insufficient``.
    """
    n = y.size
    known = np.isfinite(population) & (population > 0)
    sufficient = np.isfinite(population) & (population >= min_population) & known
    flag = np.where(~sufficient, "insufficient", np.where(y < min_count, "unstable", "ok"))
    if not given:
        flag = np.full(n, "no_denominator")
    rate = np.full(n, np.nan)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    g_low, g_high = garwood(y, confidence)
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
    y_rest = y_tot - y
    p_rest = p_tot - population
    can = sufficient & (p_rest > 0) & (y_rest > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (y / population) / (y_rest / p_rest)
    rr[can] = ratio[can]
    both = can & (y > 0)
    rr_low[both], rr_high[both] = log_ratio_interval(
        ratio[both], 1.0 / y[both] + 1.0 / y_rest[both], confidence
    )
    # y_i = 0: exact conditional interval.  Given y_i + y_rest = N, y_i ~ Binomial(N, pi)
    # with pi = RR P_i / (RR P_i + P_rest); Clopper-Pearson at 0 gives pi_U = 1 - (a/2)^(1/N).
    zero = can & (y == 0)
    pi_high = 1.0 - ((1.0 - confidence) / 2.0) ** (1.0 / y_rest[zero])
    rr_low[zero] = 0.0
    rr_high[zero] = pi_high / (1.0 - pi_high) * p_rest[zero] / population[zero]

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
    eb[~sufficient] = np.nan  # published only where the rate is (not "insufficient")
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


#: The per-area counts of :func:`_counts`, each a bit of a row's flags (``requests_all``: all).
_COUNT_BITS = (
    "requests",
    "requests_duplicate",
    "requests_transfer",
    "requests_resident",
    "requests_proactive",
    "ttc_excluded_negative",
    "ttc_excluded_no_closed_time",
    "ttc_excluded_implausible",
)


def _count_flags(scope: _Scope) -> npt.NDArray[np.uint8]:
    """Return the flags of each in-scope row, one bit per count of :data:`_COUNT_BITS`."""
    proactive = scope.proactive  # the flags are read from the frame (see _Scope)
    kept = ~scope.flag_excluded
    masks = (
        scope.counted,
        scope.duplicate,
        scope.transfer,
        kept & ~proactive,
        kept & proactive,
        scope.counted & scope.negative,
        scope.counted & scope.no_closed_time,
        scope.counted & scope.implausible,
    )
    flags = np.zeros(scope.code.size, dtype=np.uint8)
    for bit, mask in enumerate(masks):
        flags |= mask.astype(np.uint8) << bit
    return flags


def _counts(scope: _Scope, requests: pd.DataFrame) -> dict[str, Any]:
    """Count the in-scope requests per area: all, counted, set aside and why.

    One count per area and combination of flags, then summed per flag; the
    rows' flags do not depend on the areas, so every table of the same
    selection (``requests``: the frame it was selected from) shares them.
    """
    n = scope.n_areas
    # the selection's remembered arrays identify its rows (and so their flags)
    arrays = (
        scope.counted,
        scope.negative,
        scope.no_closed_time,
        scope.implausible,
    )
    key = ("count_flags", *(Same(a) for a in arrays))
    flags = remember(requests, key, lambda: _count_flags(scope), lasting=True)
    combos = 1 << len(_COUNT_BITS)
    table = np.bincount(scope.code * combos + flags, minlength=n * combos).reshape(n, combos)
    has_bit = (np.arange(combos)[:, None] >> np.arange(len(_COUNT_BITS))) & 1
    per_flag = table @ has_bit  # integer matrix product: exact counts
    out: dict[str, Any] = {"requests_all": table.sum(axis=1)}
    out.update({name: per_flag[:, bit] for bit, name in enumerate(_COUNT_BITS)})
    out["requests_excluded"] = out["requests_all"] - out["requests"]
    # the table's column order: all, counted, excluded, then the other flags
    order = ("requests_all", "requests", "requests_excluded", *_COUNT_BITS[1:])
    return {name: out[name] for name in order}


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
        raise DataError(msg)
    index = pd.Index(values.index.astype(str), dtype=object)
    if index.has_duplicates:
        dupes = sorted(set(index[index.duplicated()]))[:5]
        msg = f"population has repeated area ids: {dupes}"
        raise DataError(msg)
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

"""Equity measures: how 311 demand and service vary with who lives where.

Every measure is defined in ``METRICS.md`` (items 10-13).  The inputs are
per-area tables indexed by the area id of one layer (the output of
:func:`geo311.indicators.core.area_indicators` joined to demographics from
:mod:`geo311.population.denominators`); the functions here never modify them.

Notation for area *i*: ``y_i`` requests, ``P_i`` residents, ``Y`` and ``P``
the totals over the areas used, ``s_i = y_i / Y`` request share and
``p_i = P_i / P`` population share.

Measures
--------
:func:`quintile_table` (METRICS 10)
    Population-weighted quantile groups of a demographic, every indicator
    pooled per group, and the worst/best ratio with a confidence interval.
:func:`concentration_index` (METRICS 11)
    ``CI = 2 sum w_i (h_i - hbar)(R_i - Rbar) / hbar`` with weighted
    fractional ranks, and a delta-method standard error.
:func:`gini` and :func:`theil` (METRICS 12)
    Population-weighted Gini from the Lorenz curve, and Theil's T with an
    exact between/within decomposition by a grouping.
:func:`disparity_scores` (METRICS 13)
    Urban Institute geographic disparity scores ``d_i = s_i - p_i`` with a
    significance test driven by the margin of error of the population.
:func:`equity_summary`
    All of the above in one tidy table, one row per number (``equity.csv``).

Which areas count
-----------------
Areas whose population is missing or zero have no residents to compare with
and are left out of every measure; areas whose demographic is missing are
left out of the quantile groups and the concentration index.  Each function
reports how many areas (and requests) it left out; none is dropped silently.

Examples
--------
>>> import pandas as pd
>>> areas = pd.DataFrame(
...     {"requests": [30, 20, 10, 10], "population": [1000, 1000, 1000, 1000],
...      "median_hh_income": [20_000, 40_000, 60_000, 80_000]},
...     index=pd.Index(["a", "b", "c", "d"], name="area_id"))
>>> gini(areas["requests"], areas["population"]).value
0.25
>>> concentration_index(areas["requests"] / areas["population"],
...                     areas["median_hh_income"], areas["population"]).value
-0.25
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import SchemaError

__all__ = [
    "DEFAULT_INDICATORS",
    "DEFAULT_POOLING",
    "DISPARITY_LABELS",
    "EQUITY_COLUMNS",
    "ConcentrationIndex",
    "GiniResult",
    "Pooling",
    "QuintileTable",
    "TheilResult",
    "concentration_index",
    "disparity_scores",
    "equity_summary",
    "gini",
    "pooled_rate",
    "pooled_share",
    "population_quantiles",
    "quintile_table",
    "theil",
    "weighted_mean",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

#: ACS margins of error are published at 90% confidence: SE = MOE / 1.645.
ACS_MOE_Z = 1.645
#: Midpoints closer than this (in quantile units) to a cut count as on the cut.
_CUT_TOLERANCE = 1e-9
_MISSING_GROUP = "(missing)"


# --------------------------------------------------------------------------
# Pooling rules (METRICS 10)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pooling:
    """How an area indicator is combined over the areas of a quantile group.

    Build one with :func:`pooled_rate`, :func:`pooled_share` or
    :func:`weighted_mean` rather than directly.

    Attributes
    ----------
    kind : {"rate", "share", "mean"}
        ``"rate"``: ``per * sum(numerator) / sum(denominator)`` with a
        Poisson numerator (exact Garwood interval per group; worst/best ratio
        with the log rate-ratio interval).  ``"share"``: ``sum(numerator) /
        sum(denominator)`` with a binomial numerator (Wilson interval per
        group; ratio with the Katz log interval).  ``"mean"``: the
        ``weight``-weighted mean of the area values (no interval).
    numerator, denominator : str or None
        Columns summed for ``"rate"`` and ``"share"``.  ``denominator=None``
        means the table's population column.
    per : float
        Multiplier of a rate (1000 for "per 1,000 residents").
    weight : str or None
        Weight column of ``"mean"``; ``None`` means the population column.
    """

    kind: Literal["rate", "share", "mean"]
    numerator: str | None = None
    denominator: str | None = None
    per: float = 1.0
    weight: str | None = None

    def columns(self, population: str) -> tuple[str, ...]:
        """Return the table columns the rule reads besides the indicator itself.

        Parameters
        ----------
        population : str
            The population column, used where the rule says ``None``.

        Returns
        -------
        tuple of str
        """
        if self.kind == "mean":
            return (self.weight or population,)
        return (str(self.numerator), self.denominator or population)

    def describe(self, population: str = "population") -> str:
        """Return a one-line statement of the rule, for notes and metadata.

        Parameters
        ----------
        population : str, default "population"
            The population column, used where the rule says ``None``.

        Returns
        -------
        str

        Examples
        --------
        >>> pooled_rate("requests").describe()
        'rate of pooled counts: 1000 * sum(requests) / sum(population)'
        >>> weighted_mean("ttc_requests").describe()
        'ttc_requests-weighted mean of area values'
        """
        if self.kind == "mean":
            return f"{self.weight or population}-weighted mean of area values"
        den = self.denominator or population
        if self.kind == "rate":
            scale = "" if self.per == 1 else f"{self.per:g} * "
            return f"rate of pooled counts: {scale}sum({self.numerator}) / sum({den})"
        return f"share of pooled counts: sum({self.numerator}) / sum({den})"


def pooled_rate(numerator: str, *, denominator: str | None = None, per: float = 1000.0) -> Pooling:
    """Pool a rate as ``per * sum(numerator) / sum(denominator)``.

    A rate of pooled counts, not a mean of area rates: each group's rate is
    what the group would show as one area.  The numerator is treated as a
    Poisson count and the denominator as fixed.

    Parameters
    ----------
    numerator : str
        Count column (e.g. ``"requests"``).
    denominator : str, optional
        Exposure column; the table's population column when omitted.
    per : float, default 1000
        Multiplier (1000 for a rate per 1,000 residents).

    Returns
    -------
    Pooling

    Examples
    --------
    >>> pooled_rate("ttc_closed", denominator="ttc_expected_closures", per=1).kind
    'rate'
    """
    return Pooling("rate", numerator=numerator, denominator=denominator, per=float(per))


def pooled_share(numerator: str, denominator: str) -> Pooling:
    """Pool a proportion as ``sum(numerator) / sum(denominator)``.

    Parameters
    ----------
    numerator : str
        Column counting successes (e.g. ``"on_time"``).
    denominator : str
        Column counting trials (e.g. ``"sla_due"``).

    Returns
    -------
    Pooling

    Examples
    --------
    >>> pooled_share("on_time", "sla_due").describe()
    'share of pooled counts: sum(on_time) / sum(sla_due)'
    """
    return Pooling("share", numerator=numerator, denominator=denominator)


def weighted_mean(weight: str | None = None) -> Pooling:
    """Pool an area summary as a weighted mean of the area values.

    For summaries that cannot be rebuilt from area totals (medians,
    Kaplan-Meier shares): the result is a weighted mean of area summaries,
    not the summary of the pooled requests, and carries no interval.

    Parameters
    ----------
    weight : str, optional
        Weight column; the table's population column when omitted.

    Returns
    -------
    Pooling

    Examples
    --------
    >>> weighted_mean().describe("residents")
    'residents-weighted mean of area values'
    """
    return Pooling("mean", weight=weight)


#: Pooling rules for the indicator columns of :func:`geo311.indicators.core.area_indicators`.
#: Any other indicator is pooled as a population-weighted mean.
DEFAULT_POOLING: Mapping[str, Pooling] = MappingProxyType(
    {
        "rate_per_1k": pooled_rate("requests", per=1000.0),
        "requests_per_km2": pooled_rate("requests", denominator="area_km2", per=1.0),
        "on_time_share": pooled_share("on_time", "sla_due"),
        "ttc_type_adjusted_ratio": pooled_rate(
            "ttc_closed", denominator="ttc_expected_closures", per=1.0
        ),
        "ttc_median_days": weighted_mean("ttc_requests"),
        "ttc_median_days_closed_only": weighted_mean("ttc_closed"),
        "ttc_p90_days": weighted_mean("ttc_requests"),
        "closed_within_1d_share": weighted_mean("ttc_requests"),
        "closed_within_7d_share": weighted_mean("ttc_requests"),
        "closed_within_30d_share": weighted_mean("ttc_requests"),
    }
)

#: Indicators :func:`equity_summary` reports when the table has them.
DEFAULT_INDICATORS: tuple[str, ...] = (
    "rate_per_1k",
    "ttc_median_days",
    "closed_within_7d_share",
    "on_time_share",
    "ttc_type_adjusted_ratio",
)

#: ``significance`` values of :func:`disparity_scores`.
DISPARITY_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "over": "request share above the population share's interval",
        "under": "request share below the population share's interval",
        "not significant": "request share inside the population share's interval",
        "not tested": "no margin of error for the population: the test cannot be made",
        "excluded": "population missing or zero: no share to compare with",
    }
)

#: Columns of :func:`equity_summary`, in order.
EQUITY_COLUMNS: tuple[str, ...] = (
    "measure",
    "indicator",
    "quantile",
    "group",
    "value",
    "ci_low",
    "ci_high",
    "n_areas",
    "population",
    "requests",
    "note",
)


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _special() -> Any:
    """``scipy.special``, imported on first use (``scipy.stats`` is slow to import)."""
    try:
        return importlib.import_module("scipy.special")
    except ImportError as exc:  # pragma: no cover - scipy comes with the indicators
        msg = "geo311 equity measures need scipy (normal and chi-square quantiles): "
        msg += "pip install scipy"
        raise ImportError(msg) from exc


def _z(confidence: float) -> float:
    """Two-sided normal quantile, ``scipy.stats.norm.ppf(0.5 + confidence / 2)``."""
    if not 0 < confidence < 1:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence!r}"
        raise ValueError(msg)
    return float(_special().ndtri(0.5 + confidence / 2))


def _as_float_series(values: Any, name: str, index: pd.Index | None = None) -> pd.Series:
    """Return ``values`` as a float Series aligned to ``index`` (a copy)."""
    if isinstance(values, pd.Series):
        out = pd.to_numeric(values, errors="coerce").astype(float)
        if index is not None and not out.index.equals(index):
            missing = index.difference(out.index)
            extra = out.index.difference(index)
            if len(missing) or len(extra):
                msg = (
                    f"{name} is indexed by other areas than the first argument "
                    f"(missing {list(missing[:5])}, extra {list(extra[:5])}); "
                    "pass Series with the same area ids"
                )
                raise ValueError(msg)
            out = out.reindex(index)
        return out
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        msg = f"{name} must be one-dimensional, got shape {arr.shape}"
        raise ValueError(msg)
    if index is not None and len(arr) != len(index):
        msg = f"{name} has {len(arr)} values, expected {len(index)}"
        raise ValueError(msg)
    return pd.Series(arr, index=index if index is not None else pd.RangeIndex(len(arr)))


def _garwood(count: float, exposure: float, per: float, z: float) -> tuple[float, float]:
    """Exact Poisson interval of ``per * count / exposure``."""
    if not exposure > 0 or math.isnan(count):
        return math.nan, math.nan
    special = _special()
    alpha = 2 * float(special.ndtr(-z))
    # scipy.stats.chi2.ppf(q, df) is scipy.special.chdtri(df, 1 - q)
    low = 0.0 if count == 0 else float(special.chdtri(2 * count, 1 - alpha / 2)) / 2
    high = float(special.chdtri(2 * count + 2, alpha / 2)) / 2
    return per * low / exposure, per * high / exposure


def _wilson(successes: float, trials: float, z: float) -> tuple[float, float]:
    """Wilson score interval of ``successes / trials``."""
    if not trials > 0 or math.isnan(successes):
        return math.nan, math.nan
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def _blocks(sorted_values: FloatArray) -> IntArray:
    """Block number of each element of a sorted array; ties share a block."""
    if len(sorted_values) == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    return (np.cumsum(starts) - 1).astype(np.intp)


def _tied_midpoint_ranks(rank_by: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted fractional rank of every element, in input order.

    ``R_i`` is the weight share of everything ranked below *i* plus half the
    weight of *i*'s tie block; every member of a block of equal ``rank_by``
    values gets the block's midpoint, so the result does not depend on the
    order of tied rows.
    """
    order = np.argsort(rank_by, kind="stable")
    block = _blocks(rank_by[order])
    total = weights.sum()
    block_w = np.bincount(block, weights=weights[order])
    before = np.cumsum(block_w) - block_w
    ranks = np.empty(len(rank_by))
    ranks[order] = ((before + block_w / 2) / total)[block]
    return ranks


# --------------------------------------------------------------------------
# METRICS 10: population-weighted quantile groups
# --------------------------------------------------------------------------


def population_quantiles(by: pd.Series, population: pd.Series, *, n: int = 5) -> pd.Series:
    """Assign each area to one of ``n`` population-weighted quantile groups of ``by``.

    Areas are sorted by ``by`` (ascending: group 1 holds the lowest values).
    Each area is kept whole and goes to the group that contains the
    **midpoint of its population** on the cumulative population scale: with
    ``C`` the residents of all areas ranked below it, an area of ``P_i``
    residents goes to group ``floor(n * (C + P_i / 2) / P) + 1``.  An area
    that straddles a cut therefore goes to the side holding more than half
    of its residents (a midpoint exactly on a cut goes up), so a group holds
    roughly, not exactly, ``1/n`` of the residents; the caller should report
    the actual shares.  Areas with equal ``by`` values form one block that is
    placed by the block's midpoint, so ties never split and the row order
    never matters.  A group can be empty when areas are few or large.

    Parameters
    ----------
    by : pandas.Series
        Ranking variable per area (e.g. median household income).
    population : pandas.Series
        Residents per area, same index as ``by``.
    n : int, default 5
        Number of groups (5 = quintiles).

    Returns
    -------
    pandas.Series
        Nullable integer group (1..n) per area, same index as ``by``; ``<NA>``
        where ``by`` or the population is missing or the population is zero.

    Examples
    --------
    >>> by = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=list("abcde"))
    >>> pop = pd.Series([100, 100, 100, 100, 100])
    >>> pop.index = by.index
    >>> population_quantiles(by, pop).tolist()
    [1, 2, 3, 4, 5]
    >>> population_quantiles(by, pop * [1, 1, 6, 1, 1]).tolist()
    [1, 1, 3, 5, 5]
    """
    if n < 1:
        msg = f"n must be a positive number of groups, got {n!r}"
        raise ValueError(msg)
    values = _as_float_series(by, "by")
    pop = _as_float_series(population, "population", values.index)
    if (pop < 0).any():
        bad = list(pop.index[pop < 0][:5])
        msg = f"population must not be negative; negative for areas {bad}"
        raise ValueError(msg)
    usable = values.notna().to_numpy() & pop.gt(0).to_numpy()
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    if not usable.any():
        return out
    x = values.to_numpy()[usable]
    w = pop.to_numpy()[usable]
    midpoint = _tied_midpoint_ranks(x, w)
    group = np.minimum(np.floor(midpoint * n + _CUT_TOLERANCE), n - 1).astype(np.int64) + 1
    out[usable] = group
    return out


@dataclass(frozen=True)
class QuintileTable:
    """Result of :func:`quintile_table`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per quantile group (index ``quantile``, 1 = lowest ``by``):
        ``by_min``, ``by_max``, ``areas``, ``population``,
        ``population_share``, ``requests`` (when the table has the column),
        then per indicator its pooled value, ``<indicator>_ci_low`` /
        ``<indicator>_ci_high`` (exact Poisson for rates, Wilson for shares,
        NaN for weighted means) and ``<indicator>_areas``, the areas that
        contributed (an area whose value is missing -- e.g. a Kaplan-Meier
        median not reached -- drops out of a weighted mean, which can bias
        it; compare with ``areas``).
    ratios : pandas.DataFrame
        One row per indicator (index ``indicator``): ``pooling`` (the rule),
        ``worst_quantile``, ``best_quantile``, ``worst``, ``best``, ``ratio``
        (= worst / best), ``ci_low``, ``ci_high``, ``ci_method``, ``note``.
    assignment : pandas.Series
        Group of each area (``<NA>`` = excluded), indexed by area id.
    excluded : Mapping[str, int]
        Areas left out, by reason (``missing_demographic``,
        ``missing_or_zero_population``).
    """

    table: pd.DataFrame
    ratios: pd.DataFrame
    assignment: pd.Series
    excluded: Mapping[str, int] = field(default_factory=dict)


def _check_columns(frame: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    missing = sorted({c for c in needed if c not in frame.columns})
    if missing:
        msg = (
            f"{what}: the table lacks the column(s) {missing}; it has "
            f"{list(frame.columns)[:20]}. Add them, or pass a pooling rule in counts= "
            "(e.g. counts={'x': weighted_mean()})"
        )
        raise SchemaError(msg)


class _Pooled(NamedTuple):
    """One indicator pooled over one group."""

    value: float
    low: float
    high: float
    numerator: float
    denominator: float
    areas: int  # areas that contributed a value


_NO_VALUE = _Pooled(math.nan, math.nan, math.nan, math.nan, math.nan, 0)


def _pool(
    frame: pd.DataFrame, indicator: str, rule: Pooling, population: str, z: float
) -> _Pooled:
    """Pool one indicator over the areas of one group."""
    if rule.kind == "mean":
        x = frame[indicator].to_numpy(dtype=float)
        w = frame[rule.weight or population].to_numpy(dtype=float)
        ok = ~np.isnan(x) & ~np.isnan(w) & (w > 0)
        wsum = float(w[ok].sum())
        if wsum <= 0:
            return _NO_VALUE
        value = float((w[ok] * x[ok]).sum() / wsum)
        return _Pooled(value, math.nan, math.nan, math.nan, wsum, int(ok.sum()))
    num_col, den_col = rule.columns(population)
    num = frame[num_col].to_numpy(dtype=float)
    den = frame[den_col].to_numpy(dtype=float)
    ok = ~np.isnan(num) & ~np.isnan(den)
    y = float(num[ok].sum())
    d = float(den[ok].sum())
    if not d > 0:
        return _Pooled(math.nan, math.nan, math.nan, y, d, 0)
    if rule.kind == "rate":
        low, high = _garwood(y, d, rule.per, z)
        return _Pooled(rule.per * y / d, low, high, y, d, int(ok.sum()))
    low, high = _wilson(y, d, z)
    return _Pooled(y / d, low, high, y, d, int(ok.sum()))


def _ratio_ci(
    rule: Pooling,
    worst: _Pooled,
    best: _Pooled,
    z: float,
) -> tuple[float, float, float, str, str]:
    """Return (ratio, ci_low, ci_high, ci_method, note) of worst / best."""
    w_val, b_val = worst.value, best.value
    if math.isnan(w_val) or math.isnan(b_val):
        return math.nan, math.nan, math.nan, "", "a group is empty or has no data"
    if b_val == 0:
        return math.nan, math.nan, math.nan, "", "ratio undefined: the best group's value is 0"
    ratio = w_val / b_val
    if rule.kind == "mean":
        return ratio, math.nan, math.nan, "", "no CI: weighted mean of area summaries"
    y1, n1, y2, n2 = worst.numerator, worst.denominator, best.numerator, best.denominator
    if y1 <= 0 or y2 <= 0:
        return ratio, math.nan, math.nan, "", "no CI: a group has a zero count"
    if rule.kind == "rate":
        var = 1 / y1 + 1 / y2
        method = "log rate ratio, Poisson counts: exp(ln RR +/- z sqrt(1/y1 + 1/y2))"
    else:
        var = max(1 / y1 - 1 / n1 + 1 / y2 - 1 / n2, 0.0)
        method = "Katz log ratio of proportions: exp(ln RR +/- z sqrt(1/x1-1/n1+1/x2-1/n2))"
    half = z * math.sqrt(var)
    return ratio, ratio * math.exp(-half), ratio * math.exp(half), method, ""


def _pooling_rules(
    indicators: Sequence[str], counts: Mapping[str, Pooling] | None
) -> dict[str, Pooling]:
    rules: dict[str, Pooling] = {}
    for name in indicators:
        if counts is not None and name in counts:
            rule = counts[name]
            if not isinstance(rule, Pooling):
                msg = (
                    f"counts[{name!r}] must be a Pooling (pooled_rate / pooled_share / "
                    f"weighted_mean), got {type(rule).__name__}"
                )
                raise TypeError(msg)
            rules[name] = rule
        else:
            rules[name] = DEFAULT_POOLING.get(name, weighted_mean())
    return rules


def quintile_table(
    areas: pd.DataFrame,
    *,
    by: str,
    indicators: Sequence[str],
    population: str = "population",
    counts: Mapping[str, Pooling] | None = None,
    worst: Literal["low", "high"] = "low",
    n: int = 5,
    requests: str | None = "requests",
    confidence: float = 0.95,
) -> QuintileTable:
    """Pool indicators over population-weighted quantile groups of a demographic (METRICS 10).

    Areas are grouped by :func:`population_quantiles` (each area whole, by
    the midpoint of its population; tied ``by`` values never split).  Each
    indicator is pooled per group by its rule:

    * rates (``pooled_rate``): a rate of pooled counts,
      ``per * sum(y) / sum(P)``, never a mean of area rates; the group's
      interval is the exact Poisson (Garwood) one;
    * shares (``pooled_share``): ``sum(successes) / sum(trials)``, Wilson
      interval;
    * anything else (``weighted_mean``): a weighted mean of the area values
      -- medians and Kaplan-Meier shares weighted by the requests they
      describe (see :data:`DEFAULT_POOLING`), unknown indicators by
      population -- with no interval, because an area summary cannot be
      rebuilt from area tables.

    The ratio compares the *worst* group (``worst="low"``: group 1, the
    lowest ``by``, e.g. the lowest-income fifth of residents; ``"high"``:
    group ``n``) with the opposite end: ``ratio = value(worst group) /
    value(best group)``, so a ratio above 1 means the disadvantaged group has
    the higher value -- worse for a time to close, better for an on-time
    share.  Its interval, for rates, is
    ``exp(ln RR +/- z sqrt(1/y1 + 1/y2))`` from the pooled counts; for shares
    the Katz log interval ``exp(ln RR +/- z sqrt(1/x1 - 1/n1 + 1/x2 -
    1/n2))``; for weighted means none.  Counts are treated as Poisson (or
    binomial) and denominators as fixed: overdispersion (one resident filing
    many requests) and the error of interpolated populations make the true
    uncertainty larger.

    Parameters
    ----------
    areas : pandas.DataFrame
        One row per area, indexed by area id.  Not modified.
    by : str
        Ranking column (e.g. ``"median_hh_income"``).
    indicators : sequence of str
        Indicator columns to pool.
    population : str, default "population"
        Residents column.
    counts : mapping of str to Pooling, optional
        Pooling rules that replace or extend :data:`DEFAULT_POOLING`.
    worst : {"low", "high"}, default "low"
        Which end of ``by`` is the disadvantaged one.
    n : int, default 5
        Number of groups.
    requests : str or None, default "requests"
        Count column reported per group when the table has it.
    confidence : float, default 0.95
        Confidence level of every interval.

    Returns
    -------
    QuintileTable

    Examples
    --------
    >>> areas = pd.DataFrame({
    ...     "income": [10, 20, 30, 40, 50], "population": [1000] * 5,
    ...     "requests": [40, 30, 20, 20, 10],
    ...     "rate_per_1k": [40.0, 30.0, 20.0, 20.0, 10.0]})
    >>> q = quintile_table(areas, by="income", indicators=["rate_per_1k"])
    >>> q.table["rate_per_1k"].tolist()
    [40.0, 30.0, 20.0, 20.0, 10.0]
    >>> float(q.ratios.loc["rate_per_1k", "ratio"])
    4.0
    """
    if worst not in ("low", "high"):
        msg = f"worst must be 'low' or 'high', got {worst!r}"
        raise ValueError(msg)
    if not areas.index.is_unique:
        dupes = list(areas.index[areas.index.duplicated()].unique()[:5])
        msg = f"areas must be indexed by unique area ids; repeated: {dupes}"
        raise SchemaError(msg)
    z = _z(confidence)
    indicators = list(indicators)
    rules = _pooling_rules(indicators, counts)
    needed = [by, population, *indicators]
    for rule in rules.values():
        needed.extend(rule.columns(population))
    _check_columns(areas, needed, "quintile_table")
    has_requests = requests is not None and requests in areas.columns

    by_values = pd.to_numeric(areas[by], errors="coerce")
    pop = pd.to_numeric(areas[population], errors="coerce")
    group = population_quantiles(by_values, pop, n=n)
    excluded = {
        "missing_demographic": int(by_values.isna().sum()),
        "missing_or_zero_population": int((by_values.notna() & ~pop.gt(0)).sum()),
    }
    used_pop = float(pop[group.notna()].sum())

    rows: list[dict[str, Any]] = []
    pooled: dict[tuple[str, int], _Pooled] = {}
    for q in range(1, n + 1):
        members = areas.loc[(group == q).fillna(value=False).to_numpy()]
        q_pop = float(pop.loc[members.index].sum())
        row: dict[str, Any] = {
            "quantile": q,
            "by_min": float(by_values.loc[members.index].min()) if len(members) else math.nan,
            "by_max": float(by_values.loc[members.index].max()) if len(members) else math.nan,
            "areas": len(members),
            "population": q_pop,
            "population_share": q_pop / used_pop if used_pop > 0 else math.nan,
        }
        if has_requests:
            row["requests"] = float(pd.to_numeric(members[str(requests)]).sum())
        for name, rule in rules.items():
            res = _pool(members, name, rule, population, z)
            pooled[name, q] = res
            row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = res[:3]
            row[f"{name}_areas"] = res.areas
        rows.append(row)
    table = pd.DataFrame(rows).set_index("quantile")

    worst_q, best_q = (1, n) if worst == "low" else (n, 1)
    ratio_rows = []
    for name, rule in rules.items():
        ratio, low, high, method, note = _ratio_ci(
            rule, pooled[name, worst_q], pooled[name, best_q], z
        )
        ratio_rows.append(
            {
                "indicator": name,
                "pooling": rule.describe(population),
                "worst_quantile": worst_q,
                "best_quantile": best_q,
                "worst": pooled[name, worst_q].value,
                "best": pooled[name, best_q].value,
                "ratio": ratio,
                "ci_low": low,
                "ci_high": high,
                "ci_method": method,
                "note": note,
            }
        )
    ratios = pd.DataFrame(
        ratio_rows,
        columns=[
            "indicator",
            "pooling",
            "worst_quantile",
            "best_quantile",
            "worst",
            "best",
            "ratio",
            "ci_low",
            "ci_high",
            "ci_method",
            "note",
        ],
    ).set_index("indicator")
    log.info(
        "quantile groups of %s: %d areas in %d groups; %d without %s, %d without population",
        by,
        int(group.notna().sum()),
        n,
        excluded["missing_demographic"],
        by,
        excluded["missing_or_zero_population"],
    )
    return QuintileTable(
        table=table, ratios=ratios, assignment=group, excluded=MappingProxyType(excluded)
    )


# --------------------------------------------------------------------------
# METRICS 11: concentration index
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConcentrationIndex:
    """Result of :func:`concentration_index`.

    Attributes
    ----------
    value : float
        The concentration index, in [-1, 1] for a non-negative outcome;
        negative = the outcome is concentrated where ``rank_by`` is low.
    se : float
        Delta-method standard error (see :func:`concentration_index`); NaN
        below ``min_areas`` areas.
    ci_low, ci_high : float
        ``value -/+ z * se``.
    n_areas : int
        Areas used.
    n_excluded : int
        Areas left out (missing outcome, rank or weight, or zero weight).
    note : str
        Why ``se`` is missing, when it is.
    """

    value: float
    se: float
    ci_low: float
    ci_high: float
    n_areas: int
    n_excluded: int
    note: str = ""


def concentration_index(
    outcome: Any,
    rank_by: Any,
    weights: Any = None,
    *,
    confidence: float = 0.95,
    min_areas: int = 50,
) -> ConcentrationIndex:
    """Concentration index of an outcome across areas ranked by another variable (METRICS 11).

    With weights normalised to sum to one (``w_i = P_i / P``), weighted mean
    outcome ``hbar = sum w_i h_i`` and weighted fractional rank ``R_i`` (the
    weight share ranked below area *i* plus half of its own weight), ::

        CI = 2 * sum_i w_i (h_i - hbar)(R_i - Rbar) / hbar

    where ``Rbar = sum w_i R_i`` (= 1/2).  Areas with equal ``rank_by`` share
    the midpoint rank of their block, so the index does not depend on how
    ties are ordered (O'Donnell et al. 2008, ch. 8).  ``CI = 0`` when the
    outcome does not vary with rank; with ``rank_by`` = income a negative
    value means the outcome is concentrated in lower-income areas.

    **Standard error.**  The delta-method variance of Kakwani, Wagstaff &
    van Doorslaer (1997), ``var = sum_i w_i^2 (a_i - (1 + CI))^2`` with ::

        a_i = (h_i / hbar)(2 R_i - 1 - CI) + 2 - q_{i-1} - q_i

    where ``q_{i-1}``, ``q_i`` are the concentration-curve ordinates (share
    of the total outcome) just below and just above area *i*'s tie block.
    With equal weights it is exactly their
    ``(1/n) [(1/n) sum a_i^2 - (1 + CI)^2]``; the ``w_i^2`` form is the usual
    linearisation of a weighted estimator.  It treats the areas as
    independent draws of (outcome, rank, weight) from a larger population of
    similar areas: it answers "how much would the index move with another set
    of areas like these", *not* "how much Poisson noise is in the counts",
    and it ignores any error in ``rank_by``.  It is asymptotic: in simulations
    (log-normal incomes and outcomes, populations 300-6,000) the 95% interval
    covered the true index 92.6-94.2% of the time with 100-278 areas, 92-93%
    with 50, 90-92% with 30 and only 84-89% with 14 (each figure +/- about 1%
    simulation error), partly because the index
    itself is biased towards 0 in small samples.  So the standard error and
    interval are returned only from ``min_areas`` areas (default 50); below
    that they are NaN and ``note`` says so (14 council districts get none).

    Parameters
    ----------
    outcome : array-like or pandas.Series
        ``h_i`` per area (e.g. requests per resident).
    rank_by : array-like or pandas.Series
        Ranking variable per area (e.g. median household income).
    weights : array-like or pandas.Series, optional
        ``P_i`` per area (population); equal weights when omitted.  Series
        are aligned on the index of ``outcome``.
    confidence : float, default 0.95
        Level of the normal interval ``CI -/+ z se``.
    min_areas : int, default 50
        Fewest areas for which the standard error is reported.

    Returns
    -------
    ConcentrationIndex

    Examples
    --------
    Four equal areas, outcome falling with rank: ``hbar = 2.5``, ``R = 1/8,
    3/8, 5/8, 7/8``, so ``CI = 2 * 1/4 * [(1.5)(-3/8) + (.5)(-1/8) + (-.5)(1/8)
    + (-1.5)(3/8)] / 2.5 = -0.25``.

    >>> ci = concentration_index([4, 3, 2, 1], [1, 2, 3, 4])
    >>> ci.value, ci.n_areas
    (-0.25, 4)
    """
    z = _z(confidence)
    h = _as_float_series(outcome, "outcome")
    r = _as_float_series(rank_by, "rank_by", h.index)
    w = (
        pd.Series(1.0, index=h.index)
        if weights is None
        else _as_float_series(weights, "weights", h.index)
    )
    if (w < 0).any():
        msg = "weights must not be negative"
        raise ValueError(msg)
    ok = (h.notna() & r.notna() & w.notna() & w.gt(0)).to_numpy()
    n_used = int(ok.sum())
    n_excluded = len(h) - n_used
    if n_used == 0:
        return ConcentrationIndex(
            math.nan, math.nan, math.nan, math.nan, 0, n_excluded, "no usable area"
        )
    hv, rv, wv = h.to_numpy()[ok], r.to_numpy()[ok], w.to_numpy()[ok]
    wv = wv / wv.sum()
    mean = float((wv * hv).sum())
    if mean == 0:
        return ConcentrationIndex(
            math.nan, math.nan, math.nan, math.nan, n_used, n_excluded, "mean outcome is 0"
        )
    ranks = _tied_midpoint_ranks(rv, wv)
    rbar = float((wv * ranks).sum())
    value = float(2 * (wv * (hv - mean) * (ranks - rbar)).sum() / mean)

    if n_used < max(min_areas, 3):
        note = f"no SE: {n_used} areas, fewer than min_areas={min_areas}"
        return ConcentrationIndex(value, math.nan, math.nan, math.nan, n_used, n_excluded, note)
    order = np.argsort(rv, kind="stable")
    block = _blocks(rv[order])
    share = np.bincount(block, weights=(wv * hv)[order]) / mean
    q_after = np.cumsum(share)  # concentration curve just above each tie block
    q_before = q_after - share
    q_sum = np.empty(n_used)
    q_sum[order] = (q_before + q_after)[block]
    a = (hv / mean) * (2 * ranks - 1 - value) + 2 - q_sum
    se = float(math.sqrt((wv**2 * (a - (1 + value)) ** 2).sum()))
    return ConcentrationIndex(value, se, value - z * se, value + z * se, n_used, n_excluded)


# --------------------------------------------------------------------------
# METRICS 12: Gini and Theil
# --------------------------------------------------------------------------


def _requests_population(
    requests: Any, population: Any
) -> tuple[pd.Series, pd.Series, pd.Series, int, float]:
    """Return (y, P, usable mask, areas excluded, requests excluded)."""
    y = _as_float_series(requests, "requests")
    pop = (
        pd.Series(1.0, index=y.index)
        if population is None
        else _as_float_series(population, "population", y.index)
    )
    if (y < 0).any() or (pop < 0).any():
        msg = "requests and population must not be negative"
        raise ValueError(msg)
    usable = y.notna() & pop.notna() & pop.gt(0)
    excluded = int((~usable).sum())
    requests_excluded = float(y[~usable].sum())
    return y, pop, usable, excluded, requests_excluded


@dataclass(frozen=True)
class GiniResult:
    """Result of :func:`gini`.

    Attributes
    ----------
    value : float
        Gini coefficient (0 = requests exactly proportional to residents).
    lorenz : pandas.DataFrame
        The Lorenz curve: ``population_share`` and ``requests_share``
        cumulated over areas sorted by requests per resident, from (0, 0).
    n_areas : int
        Areas used.
    n_excluded : int
        Areas left out (population missing or zero, or requests missing).
    requests_excluded : float
        Requests in the excluded areas.
    """

    value: float
    lorenz: pd.DataFrame
    n_areas: int
    n_excluded: int
    requests_excluded: float


def gini(requests: Any, population: Any = None) -> GiniResult:
    """Population-weighted Gini of requests from the Lorenz curve (METRICS 12).

    Areas are sorted by requests per resident, ``y_i / P_i``; the Lorenz
    curve joins ``(F_k, L_k)``, the cumulative population share and the
    cumulative request share, from (0, 0) to (1, 1).  The Gini is twice the
    area between the diagonal and the curve, by the trapezoid rule (exact for
    a piecewise-linear curve)::

        G = 1 - sum_k p_k (L_{k-1} + L_k)

    Tied rates give collinear segments, so their order does not matter.
    Replicating each area ``P_i`` times with ``y_i / P_i`` requests each gives
    the same curve, so with integer populations ``G`` equals the ordinary
    (unweighted) Gini of the replicated values, and with equal populations it
    equals the Gini of the raw request counts (PySAL ``inequality.gini.Gini``).

    Parameters
    ----------
    requests : array-like or pandas.Series
        Requests per area (zero allowed).
    population : array-like or pandas.Series, optional
        Residents per area; equal populations when omitted.  Areas with
        missing or zero population are excluded and counted.

    Returns
    -------
    GiniResult
        ``value`` is NaN when no area is usable or there are no requests.

    Examples
    --------
    Three areas of 1, 1 and 2 residents with 0, 1 and 3 requests (rates 0, 1,
    1.5): ``p = 1/4, 1/4, 1/2``, ``L = 0, 1/4, 1``, so ``G = 1 - [1/4 (0 + 0) +
    1/4 (0 + 1/4) + 1/2 (1/4 + 1)] = 1 - 11/16 = 0.3125``.

    >>> gini([0, 1, 3], [1, 1, 2]).value
    0.3125
    """
    y, pop, usable, n_excluded, req_excluded = _requests_population(requests, population)
    yv, pv = y[usable].to_numpy(), pop[usable].to_numpy()
    empty = pd.DataFrame({"population_share": [0.0], "requests_share": [0.0]})
    if len(yv) == 0 or yv.sum() <= 0:
        return GiniResult(math.nan, empty, len(yv), n_excluded, req_excluded)
    order = np.argsort(yv / pv, kind="stable")
    p = pv[order] / pv.sum()
    cum_l = np.r_[0.0, np.cumsum(yv[order]) / yv.sum()]
    value = float(1 - (p * (cum_l[:-1] + cum_l[1:])).sum())
    lorenz = pd.DataFrame(
        {"population_share": np.r_[0.0, np.cumsum(p)], "requests_share": cum_l},
        index=pd.Index([None, *y[usable].index[order]], name=y.index.name),
    )
    return GiniResult(value, lorenz, len(yv), n_excluded, req_excluded)


@dataclass(frozen=True)
class TheilResult:
    """Result of :func:`theil`.

    Attributes
    ----------
    value : float
        Theil's T, ``sum s_i ln(s_i / p_i)`` (0 = proportional; at most
        ``ln(1 / min p_i)``).
    between : float
        ``sum_g s_g ln(s_g / p_g)``; NaN without a grouping.
    within : float
        ``sum_g s_g T_g``; NaN without a grouping.  ``between + within ==
        value`` up to rounding.
    groups : pandas.DataFrame
        Per group (index ``group``): ``areas``, ``requests_share`` (``s_g``),
        ``population_share`` (``p_g``), ``theil`` (``T_g``, NaN for a group
        without requests), ``within_contribution`` (``s_g T_g``) and
        ``between_term`` (``s_g ln(s_g / p_g)``).  Empty without a grouping.
    n_areas : int
        Areas used.
    n_excluded : int
        Areas left out (population missing or zero, or requests missing).
    requests_excluded : float
        Requests in the excluded areas.
    n_missing_group : int
        Used areas without a group label, pooled as the group ``"(missing)"``.
    """

    value: float
    between: float
    within: float
    groups: pd.DataFrame
    n_areas: int
    n_excluded: int
    requests_excluded: float
    n_missing_group: int = 0


def _xlogx_ratio(s: FloatArray, p: FloatArray) -> FloatArray:
    """``s * ln(s / p)`` elementwise with ``0 ln 0 = 0``."""
    out = np.zeros_like(s, dtype=float)
    pos = s > 0
    out[pos] = s[pos] * np.log(s[pos] / p[pos])
    return out


def theil(requests: Any, population: Any = None, *, group: Any = None) -> TheilResult:
    """Population-weighted Theil T of requests, with a between/within decomposition (METRICS 12).

    ``T = sum_i s_i ln(s_i / p_i)`` with request shares ``s_i`` and population
    shares ``p_i`` over the usable areas; an area without requests adds
    nothing (``0 ln 0 = 0``).  Areas with missing or zero population are
    excluded and counted: an area with requests but no residents would make
    ``T`` infinite.  With a grouping ``g`` (e.g. council district of each
    neighbourhood) and ``s_g``, ``p_g`` the group sums, ::

        T = sum_g s_g ln(s_g / p_g)  +  sum_g s_g T_g
            (between)                   (within)

    where ``T_g = sum_{i in g} (s_i / s_g) ln((s_i / s_g) / (p_i / p_g))`` is
    Theil's T inside the group.  The identity is exact (term by term,
    ``ln(s_i / p_i) = ln(s_g / p_g) + ln((s_i/s_g) / (p_i/p_g))``).  With
    equal populations ``T`` is PySAL's ``inequality.theil.Theil`` of the
    request counts and the between part its ``TheilD(...).bg``.

    Parameters
    ----------
    requests : array-like or pandas.Series
        Requests per area.
    population : array-like or pandas.Series, optional
        Residents per area; equal populations when omitted.
    group : array-like or pandas.Series, optional
        Group label per area.  Missing labels form the group ``"(missing)"``
        (counted in ``n_missing_group``) so the total stays the total.

    Returns
    -------
    TheilResult
        ``value`` is NaN when no area is usable or there are no requests.

    Examples
    --------
    Two areas of equal population with 3 and 1 requests: ``s = 3/4, 1/4``,
    ``p = 1/2, 1/2``, ``T = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.1308``.

    >>> round(theil([3, 1], [10, 10]).value, 4)
    0.1308
    """
    y, pop, usable, n_excluded, req_excluded = _requests_population(requests, population)
    labels: pd.Series | None = None
    if group is not None:
        if isinstance(group, pd.Series):
            labels = group.reindex(y.index) if not group.index.equals(y.index) else group
        else:
            labels = pd.Series(np.asarray(group, dtype=object), index=y.index)
    yv, pv = y[usable].to_numpy(), pop[usable].to_numpy()
    empty_groups = pd.DataFrame(
        columns=[
            "areas",
            "requests_share",
            "population_share",
            "theil",
            "within_contribution",
            "between_term",
        ]
    )
    if len(yv) == 0 or yv.sum() <= 0:
        return TheilResult(
            math.nan, math.nan, math.nan, empty_groups, len(yv), n_excluded, req_excluded
        )
    s = yv / yv.sum()
    p = pv / pv.sum()
    value = float(_xlogx_ratio(s, p).sum())
    if labels is None:
        return TheilResult(
            value, math.nan, math.nan, empty_groups, len(yv), n_excluded, req_excluded
        )

    lab = labels[usable]
    n_missing = int(lab.isna().sum())
    lab = lab.astype(object).where(lab.notna(), _MISSING_GROUP)
    codes, uniques = pd.factorize(lab, sort=True)
    k = len(uniques)
    s_g = np.asarray(np.bincount(codes, weights=s, minlength=k), dtype=float)
    p_g = np.asarray(np.bincount(codes, weights=p, minlength=k), dtype=float)
    # within-group shares; a group without requests has no within term
    s_in = np.divide(s, s_g[codes], out=np.zeros_like(s), where=s_g[codes] > 0)
    p_in = p / p_g[codes]
    t_g = np.bincount(codes, weights=_xlogx_ratio(s_in, p_in), minlength=k)
    t_g = np.where(s_g > 0, t_g, np.nan)
    contribution = np.where(s_g > 0, s_g * np.nan_to_num(t_g), 0.0)
    between_terms = _xlogx_ratio(s_g, p_g)
    groups = pd.DataFrame(
        {
            "areas": np.bincount(codes, minlength=k),
            "requests_share": s_g,
            "population_share": p_g,
            "theil": t_g,
            "within_contribution": contribution,
            "between_term": between_terms,
        },
        index=pd.Index(list(uniques), name="group"),
    )
    return TheilResult(
        value,
        float(between_terms.sum()),
        float(contribution.sum()),
        groups,
        len(yv),
        n_excluded,
        req_excluded,
        n_missing,
    )


# --------------------------------------------------------------------------
# METRICS 13: geographic disparity scores
# --------------------------------------------------------------------------


def disparity_scores(
    requests: pd.Series,
    population: pd.Series,
    *,
    population_moe: pd.Series | None = None,
    z: float = 1.96,
) -> pd.DataFrame:
    """Urban Institute geographic disparity score of each area (METRICS 13).

    ``d_i = s_i - p_i``: the area's share of requests minus its share of
    residents, over the areas with a positive population (areas without are
    reported as ``"excluded"`` and left out of both totals).  Positive = more
    requests than its share of residents.

    The test asks whether ``s_i`` lies outside ``p_i -/+ z SE(p_i)``.  The
    population's standard error comes from its ACS margin of error,
    ``SE(P_i) = MOE_i / 1.645``, propagated to the share by the delta method
    with areas independent (``P = P_i + rest``)::

        SE(p_i) = sqrt((1 - p_i)^2 SE(P_i)^2 + p_i^2 sum_{j != i} SE(P_j)^2) / P

    Approximations: areas are treated as independent although areas
    interpolated from the same tract share its error; this is not the ACS
    handbook's proportion formula ``sqrt(SE_i^2 - p^2 SE_P^2) / P`` (which
    assumes a different covariance) but agrees with it to first order when
    ``p_i`` is small; and only the population's uncertainty is tested -- the
    request count's own noise is not.  An area whose MOE is missing adds
    nothing to the error of the total.  Areas whose MOE is missing (or every
    area when ``population_moe`` is None, e.g. decennial counts) get
    ``"not tested"``: without a margin of error the test cannot be made.  A
    zero MOE means an exact population, so any nonzero ``d_i`` is flagged.

    Parameters
    ----------
    requests : pandas.Series
        Requests per area, indexed by area id.
    population : pandas.Series
        Residents per area, same index.
    population_moe : pandas.Series, optional
        90% margin of error of ``population`` (ACS convention), same index.
    z : float, default 1.96
        Critical value of the test (1.96 = 95%).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``requests``: ``requests``, ``population``,
        ``request_share``, ``population_share``, ``disparity`` (``d_i``),
        ``population_share_se``, ``population_share_ci_low``,
        ``population_share_ci_high``, ``significance`` (see
        :data:`DISPARITY_LABELS`) and ``significant`` (nullable boolean, NA
        when not tested or excluded).  ``attrs`` records the counts.

    Examples
    --------
    >>> req = pd.Series({"a": 60, "b": 40})
    >>> pop = pd.Series({"a": 500, "b": 500})
    >>> d = disparity_scores(req, pop, population_moe=pd.Series({"a": 82.25, "b": 82.25}))
    >>> d["disparity"].round(2).tolist(), d["significance"].tolist()
    ([0.1, -0.1], ['over', 'under'])
    >>> disparity_scores(req, pop)["significance"].tolist()
    ['not tested', 'not tested']
    """
    y = _as_float_series(requests, "requests")
    pop = _as_float_series(population, "population", y.index)
    if (y < 0).any() or (pop < 0).any():
        msg = "requests and population must not be negative"
        raise ValueError(msg)
    moe = None if population_moe is None else _as_float_series(population_moe, "moe", y.index)
    if moe is not None and (moe < 0).any():
        msg = "population_moe must not be negative (ACS codes should be read as missing)"
        raise ValueError(msg)
    usable = pop.gt(0) & pop.notna() & y.notna()
    total_y = float(y[usable].sum())
    total_p = float(pop[usable].sum())
    out = pd.DataFrame(index=y.index)
    out["requests"] = y
    out["population"] = pop
    out["request_share"] = (y / total_y).where(usable) if total_y > 0 else math.nan
    out["population_share"] = (pop / total_p).where(usable) if total_p > 0 else math.nan
    out["disparity"] = out["request_share"] - out["population_share"]
    se = pd.Series(math.nan, index=y.index)
    if moe is not None and total_p > 0:
        var_i = (moe / ACS_MOE_Z) ** 2
        var_total = float(var_i[usable].sum(skipna=True))
        p = out["population_share"]
        se = np.sqrt((1 - p) ** 2 * var_i + p**2 * (var_total - var_i)) / total_p
        se = se.where(usable & moe.notna())
    out["population_share_se"] = se
    out["population_share_ci_low"] = out["population_share"] - z * se
    out["population_share_ci_high"] = out["population_share"] + z * se
    tested = se.notna() & out["request_share"].notna()
    over = tested & (out["request_share"] > out["population_share_ci_high"])
    under = tested & (out["request_share"] < out["population_share_ci_low"])
    label = np.select(
        [~usable, ~tested, over, under],
        ["excluded", "not tested", "over", "under"],
        default="not significant",
    )
    out["significance"] = pd.Series(label, index=y.index, dtype="str")
    out["significant"] = pd.array(np.where(tested, over | under, False), dtype="boolean")
    out.loc[~tested.to_numpy(), "significant"] = pd.NA
    out.attrs["disparity"] = {
        "z": z,
        "areas_excluded": int((~usable).sum()),
        "requests_excluded": float(y[~usable].sum()),
        "areas_not_tested": int((usable & ~tested).sum()),
        "moe_to_se": f"SE = MOE / {ACS_MOE_Z}",
    }
    return out


# --------------------------------------------------------------------------
# Everything in one tidy table
# --------------------------------------------------------------------------


def _row(measure: str, indicator: str, value: Any, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EQUITY_COLUMNS)
    row.update(measure=measure, indicator=indicator, value=float(value), note="")
    row.update(extra)
    return row


def _quantile_rows(
    quint: QuintileTable,
    rules: Mapping[str, Pooling],
    *,
    demographic: str,
    population: str,
    requests: str,
) -> list[dict[str, Any]]:
    qt = quint.table
    excl = quint.excluded
    excl_note = (
        f"{excl['missing_demographic']} area(s) without {demographic} and "
        f"{excl['missing_or_zero_population']} without population excluded"
    )
    rows: list[dict[str, Any]] = []
    for name, rule in rules.items():
        for q, grp in qt.iterrows():
            rows.append(
                _row(
                    "quantile_value",
                    name,
                    grp[name],
                    quantile=int(str(q)),
                    ci_low=float(grp[f"{name}_ci_low"]),
                    ci_high=float(grp[f"{name}_ci_high"]),
                    n_areas=int(grp[f"{name}_areas"]),
                    population=float(grp["population"]),
                    requests=float(grp[requests]) if requests in qt.columns else math.nan,
                    note=rule.describe(population)
                    + (
                        f"; {int(grp[f'{name}_areas'])} of {int(grp['areas'])} areas have a value"
                        if grp[f"{name}_areas"] < grp["areas"]
                        else ""
                    ),
                )
            )
        rr = quint.ratios.loc[name].to_dict()
        ends = qt.loc[[int(rr["worst_quantile"]), int(rr["best_quantile"])]]
        method = str(rr["ci_method"] or rr["note"])
        rows.append(
            _row(
                "quantile_ratio",
                name,
                rr["ratio"],
                ci_low=float(rr["ci_low"]),
                ci_high=float(rr["ci_high"]),
                n_areas=int(ends["areas"].sum()),
                population=float(ends["population"].sum()),
                requests=float(ends[requests].sum()) if requests in qt.columns else math.nan,
                note=(
                    f"group {rr['worst_quantile']} / group {rr['best_quantile']} of "
                    f"{demographic}; {method}; {excl_note}"
                ),
            )
        )
    return rows


def _concentration_rows(
    table: pd.DataFrame,
    rules: Mapping[str, Pooling],
    *,
    demographic: str,
    population: str,
    confidence: float,
) -> list[dict[str, Any]]:
    pop = pd.to_numeric(table[population], errors="coerce").astype(float)
    rank = pd.to_numeric(table[demographic], errors="coerce").astype(float)
    rows: list[dict[str, Any]] = []
    for name, rule in rules.items():
        if rule.kind == "rate" and (rule.denominator or population) == population:
            count = pd.to_numeric(table[str(rule.numerator)], errors="coerce").astype(float)
            outcome = rule.per * count / pop.where(pop > 0)
        else:
            outcome = pd.to_numeric(table[name], errors="coerce").astype(float)
        ci = concentration_index(outcome, rank, pop, confidence=confidence)
        used = outcome.notna() & rank.notna() & pop.gt(0)
        se_note = ci.note or "delta-method CI treating areas as independent draws"
        rows.append(
            _row(
                "concentration_index",
                name,
                ci.value,
                ci_low=ci.ci_low,
                ci_high=ci.ci_high,
                n_areas=ci.n_areas,
                population=float(pop[used].sum()),
                note=(
                    f"areas ranked by {demographic} (ascending), population weights; "
                    f"negative = concentrated where {demographic} is low; {se_note}; "
                    f"{ci.n_excluded} area(s) excluded (missing value, rank or population)"
                ),
            )
        )
    return rows


def _inequality_rows(
    table: pd.DataFrame, *, population: str, requests: str, group: str | None
) -> list[dict[str, Any]]:
    pop = pd.to_numeric(table[population], errors="coerce").astype(float)
    req = pd.to_numeric(table[requests], errors="coerce").astype(float)
    used = req.notna() & pop.gt(0)
    g = gini(req, pop)
    base = {
        "n_areas": g.n_areas,
        "population": float(pop[used].sum()),
        "requests": float(req[used].sum()),
    }
    zero_note = (
        f"{g.n_excluded} area(s) without population excluded ({g.requests_excluded:g} requests)"
    )
    th = theil(req, pop, group=None if group is None else table[group])
    rows = [
        _row(
            "gini",
            requests,
            g.value,
            note=f"Lorenz curve of request share vs population share; no CI; {zero_note}",
            **base,
        ),
        _row(
            "theil_t",
            requests,
            th.value,
            note=f"sum s_i ln(s_i / p_i); no CI; {zero_note}",
            **base,
        ),
    ]
    if group is None:
        return rows
    missing = f"; {th.n_missing_group} area(s) without {group}" if th.n_missing_group else ""
    rows.append(
        _row(
            "theil_t_between",
            requests,
            th.between,
            note=f"sum_g s_g ln(s_g / p_g) over {group}{missing}",
            **base,
        )
    )
    rows.append(
        _row(
            "theil_t_within",
            requests,
            th.within,
            note=f"sum_g s_g T_g over {group}; between + within = theil_t",
            **base,
        )
    )
    labels = table[group].astype(object).where(table[group].notna(), _MISSING_GROUP)
    for label, grp in th.groups.iterrows():
        members = used & (labels == label)
        rows.append(
            _row(
                "theil_t_group",
                requests,
                grp["theil"],
                group=str(label),
                n_areas=int(grp["areas"]),
                population=float(pop[members].sum()),
                requests=float(req[members].sum()),
                note=(
                    f"T_g inside {group} {label}; request share {grp['requests_share']:.4f}, "
                    f"population share {grp['population_share']:.4f}"
                ),
            )
        )
    return rows


def _disparity_rows(
    table: pd.DataFrame,
    *,
    population: str,
    requests: str,
    moe_col: str | None,
    z: float,
) -> list[dict[str, Any]]:
    pop = pd.to_numeric(table[population], errors="coerce").astype(float)
    req = pd.to_numeric(table[requests], errors="coerce").astype(float)
    moe = None if moe_col is None else pd.to_numeric(table[moe_col], errors="coerce")
    disp = disparity_scores(req, pop, population_moe=moe, z=z)
    why = (
        f"population MOE from {moe_col} (SE = MOE / {ACS_MOE_Z})"
        if moe_col is not None
        else "no population MOE: the test cannot be made"
    )
    tested = disp["significance"] != "excluded"
    return [
        _row(
            f"disparity_{label.replace(' ', '_')}",
            requests,
            float((disp["significance"] == label).sum()),
            n_areas=int(tested.sum()),
            population=float(disp.loc[tested, "population"].sum()),
            requests=float(disp.loc[tested, "requests"].sum()),
            note=f"number of areas by geographic disparity test (z = {z:g}); {why}",
        )
        for label in ("over", "under", "not significant", "not tested")
    ]


def equity_summary(
    table: pd.DataFrame,
    *,
    demographic: str = "median_hh_income",
    group: str | None = None,
    indicators: Sequence[str] | None = None,
    population: str = "population",
    requests: str = "requests",
    population_moe: str | None = None,
    counts: Mapping[str, Pooling] | None = None,
    worst: Literal["low", "high"] = "low",
    n: int = 5,
    confidence: float = 0.95,
    disparity_z: float = 1.96,
) -> pd.DataFrame:
    """Every equity measure of one layer in one tidy table (``equity.csv``).

    One row per number, with the columns of :data:`EQUITY_COLUMNS`:

    ``measure``
        ``quantile_value`` (an indicator pooled over one population-weighted
        quantile group of ``demographic``; ``quantile`` 1 = lowest),
        ``quantile_ratio`` (worst / best group), ``concentration_index``
        (indicator across areas ranked by ``demographic``, population
        weights), ``gini`` and ``theil_t`` (of requests vs residents),
        ``theil_t_between`` / ``theil_t_within`` / ``theil_t_group`` (with
        ``group``), and ``disparity_over`` / ``disparity_under`` /
        ``disparity_not_significant`` / ``disparity_not_tested`` (numbers of
        areas by :func:`disparity_scores` outcome).
    ``indicator``, ``quantile``, ``group``
        What the number describes.
    ``value``, ``ci_low``, ``ci_high``
        The number and its interval (NaN where the method has none; ``note``
        says why).
    ``n_areas``, ``population``, ``requests``
        Areas, residents and requests behind the number (for
        ``quantile_value``: ``n_areas`` counts the areas that contributed a
        value; ``population`` and ``requests`` are the group's).
    ``note``
        Method, caveats, exclusions.

    The concentration index of a rate indicator uses the area rate rebuilt
    from its counts (``per * y_i / P_i``), so areas whose published rate is
    suppressed for a small population still count with their small weight.

    Parameters
    ----------
    table : pandas.DataFrame
        Per-area table indexed by area id (indicators plus demographics).
        Not modified; its ``attrs`` are carried into the result's ``attrs``
        under ``"source"``.
    demographic : str, default "median_hh_income"
        Ranking column for quantile groups and the concentration index.
    group : str, optional
        Grouping column for the Theil decomposition (e.g. council district).
    indicators : sequence of str, optional
        Indicators to report; by default those of :data:`DEFAULT_INDICATORS`
        the table has.
    population, requests : str
        Residents and request-count columns.
    population_moe : str, optional
        90% MOE column of the population for the disparity test; by default
        ``"<population>_moe"`` when the table has it, else no test.
    counts : mapping of str to Pooling, optional
        Extra or replacement pooling rules (see :func:`quintile_table`).
    worst : {"low", "high"}, default "low"
        Disadvantaged end of ``demographic``.
    n : int, default 5
        Number of quantile groups.
    confidence : float, default 0.95
        Level of the intervals.
    disparity_z : float, default 1.96
        Critical value of the disparity test.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EQUITY_COLUMNS`; ``attrs["equity"]`` holds the options
        and the exclusion counts.

    Examples
    --------
    >>> t = pd.DataFrame({
    ...     "requests": [40, 30, 20, 20, 10], "population": [1000] * 5,
    ...     "rate_per_1k": [40.0, 30.0, 20.0, 20.0, 10.0],
    ...     "median_hh_income": [10, 20, 30, 40, 50]},
    ...     index=pd.Index(list("abcde"), name="area_id"))
    >>> s = equity_summary(t)
    >>> s.loc[s["measure"] == "quantile_ratio", ["indicator", "value"]].to_numpy().tolist()
    [['rate_per_1k', 4.0]]
    >>> round(s.loc[s["measure"] == "gini", "value"].item(), 4)
    0.2333
    """
    if indicators is None:
        chosen = [c for c in DEFAULT_INDICATORS if c in table.columns]
    else:
        chosen = list(indicators)
    needed = [demographic, population, requests, *chosen]
    moe_col = population_moe
    if moe_col is None and f"{population}_moe" in table.columns:
        moe_col = f"{population}_moe"
    needed += [c for c in (group, moe_col) if c is not None]
    _check_columns(table, needed, "equity_summary")
    quint = quintile_table(
        table,
        by=demographic,
        indicators=chosen,
        population=population,
        counts=counts,
        worst=worst,
        n=n,
        requests=requests,
        confidence=confidence,
    )
    rules = _pooling_rules(chosen, counts)
    rows = [
        *_quantile_rows(
            quint, rules, demographic=demographic, population=population, requests=requests
        ),
        *_concentration_rows(
            table, rules, demographic=demographic, population=population, confidence=confidence
        ),
        *_inequality_rows(table, population=population, requests=requests, group=group),
        *_disparity_rows(
            table, population=population, requests=requests, moe_col=moe_col, z=disparity_z
        ),
    ]
    out = pd.DataFrame(rows, columns=list(EQUITY_COLUMNS))
    out["quantile"] = out["quantile"].astype("Int64")
    out["n_areas"] = out["n_areas"].astype("Int64")
    for col in ("value", "ci_low", "ci_high", "population", "requests"):
        out[col] = out[col].astype(float)
    for col in ("measure", "indicator", "group", "note"):
        out[col] = pd.Series(out[col].tolist(), index=out.index, dtype="str")
    out.attrs = {
        "source": dict(table.attrs),
        "equity": {
            "definitions": "METRICS.md items 10-13",
            "demographic": demographic,
            "worst": worst,
            "quantiles": n,
            "group": group,
            "population": population,
            "requests": requests,
            "population_moe": moe_col,
            "confidence": confidence,
            "disparity_z": disparity_z,
            "indicators": chosen,
            "pooling": {k: r.describe(population) for k, r in rules.items()},
            "areas": len(table),
            "excluded": dict(quint.excluded),
        },
    }
    log.info(
        "equity summary of %d areas by %s: %d measures; %d without %s, %d without population",
        len(table),
        demographic,
        len(out),
        quint.excluded["missing_demographic"],
        demographic,
        quint.excluded["missing_or_zero_population"],
    )
    return out

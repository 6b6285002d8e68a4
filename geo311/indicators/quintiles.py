"""Population-weighted quantile groups of a demographic, indicators pooled per group (METRICS 10).

:func:`population_quantiles` puts each area whole into one of ``n`` groups
by the midpoint of its population; :func:`quintile_table` pools every
indicator over the areas of each group by its :class:`Pooling` rule (a rate
of pooled counts, a share of pooled counts, or a weighted mean of area
summaries) and compares the worst group with the best.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from geo311._errors import DataError, OptionError, SchemaError
from geo311.catalogue import CATALOGUE
from geo311.indicators._stats import (
    as_float_series,
    garwood,
    log_ratio_interval,
    tied_midpoint_ranks,
    wilson,
    z_value,
)

__all__ = [
    "DEFAULT_POOLING",
    "Pooling",
    "QuintileTable",
    "pooled_rate",
    "pooled_requests",
    "pooled_share",
    "population_quantiles",
    "quintile_table",
    "weighted_mean",
]

log = logging.getLogger(__name__)

#: Midpoints closer than this (in quantile units) to a cut count as on the cut.
_CUT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Pooling:
    """How an area indicator is combined over the areas of a quantile group.

    Build one with :func:`pooled_rate`, :func:`pooled_share` or
    :func:`weighted_mean` rather than directly.

    Attributes
    ----------
    kind : {"rate", "share", "mean", "requests"}
        ``"rate"``: ``per * sum(numerator) / sum(denominator)`` with a
        Poisson numerator (exact Garwood interval per group; worst/best ratio
        with the log rate-ratio interval).  ``"share"``: ``sum(numerator) /
        sum(denominator)`` with a binomial numerator (Wilson interval per
        group; ratio with the Katz log interval).  ``"mean"``: the
        ``weight``-weighted mean of the area values (no interval).
        ``"requests"``: computed from the pooled requests of the group -- one
        Kaplan-Meier curve per group, read from the ``grouped`` table of
        :func:`quintile_table` (built by
        :func:`geo311.indicators.groups.group_indicators`), with its interval.
    numerator, denominator : str or None
        Columns summed for ``"rate"`` and ``"share"``.  ``denominator=None``
        means the table's population column.
    per : float
        Multiplier of a rate (1000 for "per 1,000 residents").
    weight : str or None
        Weight column of ``"mean"``; ``None`` means the population column.
    """

    kind: Literal["rate", "share", "mean", "requests"]
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
        if self.kind == "requests":
            return ()
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
        if self.kind == "requests":
            return "computed from the pooled requests of the group (one Kaplan-Meier per group)"
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


def pooled_requests() -> Pooling:
    """Compute an indicator from the pooled requests of each group (one Kaplan-Meier each).

    For medians, p90 and Kaplan-Meier shares: the group's value is that of
    its requests taken together, censored as in the area tables -- never a
    mean of area medians, and no area drops out because its own median was
    not reached.  :func:`quintile_table` reads the values from its
    ``grouped`` table (:func:`geo311.indicators.groups.group_indicators`).

    Returns
    -------
    Pooling

    Examples
    --------
    >>> pooled_requests().kind
    'requests'
    """
    return Pooling("requests")


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


#: Pooling rules for the indicator columns of :func:`geo311.indicators.area_indicators`.
#: Any other indicator is pooled as a population-weighted mean.
DEFAULT_POOLING: Mapping[str, Pooling] = MappingProxyType(
    {
        "rate_per_1k": pooled_rate("requests", per=1000.0),
        "requests_per_km2": pooled_rate("requests", denominator="area_km2", per=1.0),
        "on_time_share": pooled_share("on_time", "sla_due"),
        "ttc_type_adjusted_ratio": pooled_rate(
            "ttc_closed", denominator="ttc_expected_closures", per=1.0
        ),
        "ttc_median_days": pooled_requests(),
        "ttc_median_days_closed_only": pooled_requests(),
        "ttc_p90_days": pooled_requests(),
        "closed_within_1d_share": pooled_requests(),
        "closed_within_7d_share": pooled_requests(),
        "closed_within_30d_share": pooled_requests(),
    }
)


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
        raise OptionError(msg)
    values = as_float_series(by, "by")
    pop = as_float_series(population, "population", values.index)
    if (pop < 0).any():
        bad = list(pop.index[pop < 0][:5])
        msg = f"population must not be negative; negative for areas {bad}"
        raise DataError(msg)
    usable = values.notna().to_numpy() & pop.gt(0).to_numpy()
    out = pd.Series(pd.NA, index=values.index, dtype="Int64")
    if not usable.any():
        return out
    x = values.to_numpy()[usable]
    w = pop.to_numpy()[usable]
    midpoint = tied_midpoint_ranks(x, w)
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
        contributed (an area whose value is missing drops out of a weighted
        mean, which can bias it; compare with ``areas``); for indicators
        computed from the pooled requests also ``<indicator>_state``
        (``ok``, ``not reached (> N days)``, ``beyond follow-up (N days)``,
        ``insufficient``).
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


def _from_group(grouped: pd.DataFrame | None, indicator: str, q: int, areas: int) -> _Pooled:
    """Read one indicator of one group from the table of pooled requests per group."""
    if grouped is None or q not in grouped.index or indicator not in grouped.columns:
        return _NO_VALUE
    spec = CATALOGUE.get(indicator)
    ci = () if spec is None or spec.ci is None or spec.ci[0] not in grouped.columns else spec.ci
    cells = grouped.loc[q, [indicator, *ci]].to_numpy(dtype=float)  # these cells, not the row
    value = float(cells[0])
    low, high = (float(cells[1]), float(cells[2])) if ci else (math.nan, math.nan)
    return _Pooled(value, low, high, math.nan, math.nan, areas if math.isfinite(value) else 0)


def _state(grouped: pd.DataFrame | None, indicator: str, q: int) -> str:
    """Return the state of a group's value (``ok``, ``not reached (> N days)`` ...)."""
    if grouped is None:
        return "no requests given: pass grouped= (pooled requests per group)"
    spec = CATALOGUE.get(indicator)
    column = None if spec is None else spec.state
    if q not in grouped.index:
        return "insufficient"
    if column is None or column not in grouped.columns:
        return "ok"
    return str(grouped.at[q, column])


def _pool(
    frame: pd.DataFrame, indicator: str, rule: Pooling, population: str, confidence: float
) -> _Pooled:
    """Pool one indicator over the areas of one group (rules of kind rate, share, mean)."""
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
        g_low, g_high = garwood([y], confidence)
        low, high = rule.per * float(g_low[0]) / d, rule.per * float(g_high[0]) / d
        return _Pooled(rule.per * y / d, low, high, y, d, int(ok.sum()))
    w_low, w_high = wilson([y], [d], confidence)
    return _Pooled(y / d, float(w_low[0]), float(w_high[0]), y, d, int(ok.sum()))


def _ratio_ci(
    rule: Pooling,
    worst: _Pooled,
    best: _Pooled,
    confidence: float,
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
    if rule.kind == "requests":
        return ratio, math.nan, math.nan, "", "no CI: ratio of two Kaplan-Meier estimates"
    y1, n1, y2, n2 = worst.numerator, worst.denominator, best.numerator, best.denominator
    if y1 <= 0 or y2 <= 0:
        return ratio, math.nan, math.nan, "", "no CI: a group has a zero count"
    if rule.kind == "rate":
        var = 1 / y1 + 1 / y2
        method = "log rate ratio, Poisson counts: exp(ln RR +/- z sqrt(1/y1 + 1/y2))"
    else:
        var = max(1 / y1 - 1 / n1 + 1 / y2 - 1 / n2, 0.0)
        method = "Katz log ratio of proportions: exp(ln RR +/- z sqrt(1/x1-1/n1+1/x2-1/n2))"
    low, high = log_ratio_interval([ratio], [var], confidence)
    return ratio, float(low[0]), float(high[0]), method, ""


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
    grouped: pd.DataFrame | None = None,
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
    * medians, p90 and Kaplan-Meier shares (``pooled_requests``, see
      :data:`DEFAULT_POOLING`): computed from the pooled requests of the
      group, one Kaplan-Meier curve per group, read from ``grouped`` (with
      its interval); without ``grouped`` they are empty, with a note;
    * anything else (``weighted_mean``): a weighted mean of the area values
      (unknown indicators by population) with no interval, because an area
      summary cannot be rebuilt from area tables.

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
    grouped : pandas.DataFrame, optional
        Indicators of the pooled requests of each group, indexed by group
        (1..n): :func:`geo311.indicators.groups.group_indicators` with the
        groups of :func:`population_quantiles` (as ``build_tables`` does).

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
        raise OptionError(msg)
    if not areas.index.is_unique:
        dupes = list(areas.index[areas.index.duplicated()].unique()[:5])
        msg = f"areas must be indexed by unique area ids; repeated: {dupes}"
        raise SchemaError(msg)
    z_value(confidence)  # check the level before any work
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

    # only the columns read: a group's rows are copied once per group
    read = [*needed, str(requests)] if has_requests else needed
    columns = areas[list(dict.fromkeys(read))]
    rows: list[dict[str, Any]] = []
    pooled: dict[tuple[str, int], _Pooled] = {}
    for q in range(1, n + 1):
        in_q = (group == q).fillna(value=False).to_numpy()
        members = columns.loc[in_q]
        q_pop = float(pop[in_q].sum())
        row: dict[str, Any] = {
            "quantile": q,
            "by_min": float(by_values[in_q].min()) if len(members) else math.nan,
            "by_max": float(by_values[in_q].max()) if len(members) else math.nan,
            "areas": len(members),
            "population": q_pop,
            "population_share": q_pop / used_pop if used_pop > 0 else math.nan,
        }
        if has_requests:
            row["requests"] = float(pd.to_numeric(members[str(requests)]).sum())
        for name, rule in rules.items():
            if rule.kind == "requests":
                res = _from_group(grouped, name, q, len(members))
            else:
                res = _pool(members, name, rule, population, confidence)
            pooled[name, q] = res
            row[name], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = res[:3]
            row[f"{name}_areas"] = res.areas
            if rule.kind == "requests":
                row[f"{name}_state"] = _state(grouped, name, q)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("quantile")

    worst_q, best_q = (1, n) if worst == "low" else (n, 1)
    ratio_rows = []
    for name, rule in rules.items():
        ratio, low, high, method, note = _ratio_ci(
            rule, pooled[name, worst_q], pooled[name, best_q], confidence
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

"""Equity measures: how 311 demand and service vary with who lives where.

Every measure is defined in ``METRICS.md`` (items 10-13).  The inputs are
per-area tables indexed by the area id of one layer (the output of
:func:`geo311.indicators.area_indicators` joined to demographics from
:mod:`geo311.population`); the functions here never modify them.

Notation for area *i*: ``y_i`` requests, ``P_i`` residents, ``Y`` and ``P``
the totals over the areas used, ``s_i = y_i / Y`` request share and
``p_i = P_i / P`` population share.

Measures
--------
:func:`quintile_table` (METRICS 10, :mod:`.quintiles`)
    Population-weighted quantile groups of a demographic, every indicator
    pooled per group, and the worst/best ratio with a confidence interval.
:func:`concentration_index` (METRICS 11, :mod:`.concentration`)
    ``CI = 2 sum w_i (h_i - hbar)(R_i - Rbar) / hbar`` with weighted
    fractional ranks, and a delta-method standard error.
:func:`gini` and :func:`theil` (METRICS 12, :mod:`.inequality`)
    Population-weighted Gini from the Lorenz curve, and Theil's T with an
    exact between/within decomposition by a grouping.
:func:`disparity_scores` (METRICS 13, :mod:`.disparity`)
    Urban Institute geographic disparity scores ``d_i = s_i - p_i`` with a
    significance test driven by the margin of error of the population.
:func:`equity_summary` (this module)
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

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd

from geo311.indicators.concentration import concentration_index
from geo311.indicators.disparity import ACS_MOE_Z, disparity_scores
from geo311.indicators.inequality import MISSING_GROUP, gini, theil
from geo311.indicators.quintiles import (
    Pooling,
    QuintileTable,
    _check_columns,
    _pooling_rules,
    quintile_table,
)

__all__ = ["BY_POPULATION", "DEFAULT_INDICATORS", "EQUITY_COLUMNS", "equity_summary"]

log = logging.getLogger(__name__)


#: Indicators :func:`equity_summary` reports when the table has them.
DEFAULT_INDICATORS: tuple[str, ...] = (
    "rate_per_1k",
    "ttc_median_days",
    "closed_within_7d_share",
    "on_time_share",
    "ttc_type_adjusted_ratio",
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
    "ranked_by",
)
#: ``ranked_by`` of the quantile and concentration rows when areas are ranked by residents.
BY_POPULATION = "population (no demographic variable given)"


def _row(measure: str, indicator: str, value: Any, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EQUITY_COLUMNS)
    row.update(measure=measure, indicator=indicator, value=float(value), note="", ranked_by="")
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
    ranked_by = _ranked_by(demographic, population)
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
                    note=rule.describe(population) + _coverage(rule, grp, name),
                    ranked_by=ranked_by,
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
                ranked_by=ranked_by,
            )
        )
    return rows


def _coverage(rule: Pooling, grp: pd.Series, name: str) -> str:
    """Say which areas (or, for pooled requests, which state) a group's value rests on."""
    if rule.kind == "requests":
        state = str(grp[f"{name}_state"])
        return "" if state == "ok" else f"; {state}"
    if grp[f"{name}_areas"] < grp["areas"]:
        return f"; {int(grp[f'{name}_areas'])} of {int(grp['areas'])} areas have a value"
    return ""


def _ranked_by(demographic: str, population: str) -> str:
    return BY_POPULATION if demographic == population else demographic


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
                ranked_by=_ranked_by(demographic, population),
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
    labels = table[group].astype(object).where(table[group].notna(), MISSING_GROUP)
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
    grouped: pd.DataFrame | None = None,
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
    ``ranked_by``
        For the quantile and concentration rows, what the areas are ranked
        by: ``demographic``, or :data:`BY_POPULATION` when ``demographic`` is
        the population column itself (no demographic variable was given: the
        ranking is by residents, said in every such row and logged as a
        WARNING).

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
    grouped : pandas.DataFrame, optional
        Indicators of the pooled requests of each quantile group (see
        :func:`quintile_table`); without it the medians and Kaplan-Meier
        shares of the groups are empty, with a note.

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
        grouped=grouped,
    )
    rules = _pooling_rules(chosen, counts)
    if demographic == population:
        log.warning(
            "equity measures rank areas by %s (no demographic variable given): the quantile "
            "and concentration rows are labelled ranked_by=%r",
            population,
            BY_POPULATION,
        )
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
    for col in ("measure", "indicator", "group", "note", "ranked_by"):
        out[col] = pd.Series(out[col].tolist(), index=out.index, dtype="str")
    out.attrs = {
        "source": dict(table.attrs),
        "equity": {
            "definitions": "METRICS.md items 10-13",
            "demographic": demographic,
            "ranked_by": _ranked_by(demographic, population),
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

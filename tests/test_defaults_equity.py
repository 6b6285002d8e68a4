"""Equity defaults (issue 13 item 4): pooled KM per quintile, explicit "by population"
ranking, per-area disparity scores, EB rates only where the rate is published."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from geo311.indicators import (
    BY_POPULATION,
    area_indicators,
    equity_summary,
    group_indicators,
    population_quantiles,
)

T0 = pd.Timestamp("2025-06-02 12:00", tz="UTC")
DAY = pd.Timedelta(days=1)
AS_OF = T0 + 10 * DAY

# Ten areas of 1,000 residents, incomes 10..100: quintile q holds areas 2q-1 and 2q.
# Durations (days; None = open at day 10, censored at 10):
#   a (q1): 1, None, None          -> its own median is not reached (S = 2/3)
#   b (q1): 2, 3, 4, 5
#   every other area: 1, 1, 2
_DURATIONS: dict[str, list[float | None]] = {
    "a": [1.0, None, None],
    "b": [2.0, 3.0, 4.0, 5.0],
    **{k: [1.0, 1.0, 2.0] for k in "cdefghij"},
}


def _requests() -> pd.DataFrame:
    rows = [(area, d) for area, ds in _DURATIONS.items() for d in ds]
    return pd.DataFrame(
        {
            "requested_datetime": pd.Series([T0] * len(rows), dtype="datetime64[ns, UTC]"),
            "closed_datetime": pd.Series(
                [pd.NaT if d is None else T0 + d * DAY for _, d in rows],
                dtype="datetime64[ns, UTC]",
            ),
            "status": ["open" if d is None else "closed" for _, d in rows],
            "is_duplicate": False,
            "is_transfer": False,
            "is_proactive": False,
            "ward_id": [a for a, _ in rows],
        }
    )


def _table() -> tuple[pd.DataFrame, pd.DataFrame]:
    requests = _requests()
    areas = list(_DURATIONS)
    population = pd.Series(1000.0, index=areas)
    table = area_indicators(requests, key="ward", population=population, as_of=AS_OF, min_count=1)
    table["median_hh_income"] = [10.0 * (i + 1) for i in range(len(areas))]
    return requests, table


def test_quintile_median_pools_the_requests_of_the_quintile() -> None:
    requests, table = _table()
    assert math.isnan(table.loc["a", "ttc_median_days"])  # a alone: not reached
    groups = population_quantiles(table["median_hh_income"], table["population"])
    assert groups.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    grouped = group_indicators(requests, groups, key="ward", as_of=AS_OF, min_count=1)
    summary = equity_summary(table, indicators=["ttc_median_days"], grouped=grouped)
    values = summary[summary["measure"] == "quantile_value"].set_index("quantile")["value"]
    # Q1 pooled: 1, 10c, 10c, 2, 3, 4, 5 -> S(1) = 6/7, S(2) = 5/7, S(3) = 4/7,
    # S(4) = 3/7 <= 1/2 -> median 4 (a's unreached median is not dropped; no mean of medians)
    kmf = KaplanMeierFitter().fit([1, 10, 10, 2, 3, 4, 5], [1, 0, 0, 1, 1, 1, 1])
    assert kmf.median_survival_time_ == 4.0
    assert values[1] == 4.0
    # Q2..Q5: 1, 1, 2 twice -> S(1) = 2/6 -> median 1
    assert values[[2, 3, 4, 5]].tolist() == [1.0, 1.0, 1.0, 1.0]
    ratio = summary[summary["measure"] == "quantile_ratio"].iloc[0]
    assert ratio["value"] == 4.0 and math.isnan(ratio["ci_low"])
    assert "no CI: ratio of two Kaplan-Meier estimates" in ratio["note"]
    # the pooled Q1 curve ends at S(5) = 3/7 * 2/3 = 2/7 > 0.1: p90 not reached (> 10 days)
    p90 = equity_summary(table, indicators=["ttc_p90_days"], grouped=grouped)
    q1 = p90[(p90["measure"] == "quantile_value") & (p90["quantile"] == 1)].iloc[0]
    assert math.isnan(q1["value"])
    assert "not reached (> 10.0 days)" in q1["note"]


def test_quintile_km_share_has_the_pooled_interval() -> None:
    requests, table = _table()
    groups = population_quantiles(table["median_hh_income"], table["population"])
    grouped = group_indicators(requests, groups, key="ward", as_of=AS_OF)
    summary = equity_summary(table, indicators=["closed_within_1d_share"], grouped=grouped)
    q1 = summary[(summary["measure"] == "quantile_value") & (summary["quantile"] == 1)].iloc[0]
    # 1 - S(1) = 1/7, with the log(-log) band of the pooled curve
    assert q1["value"] == pytest.approx(1 / 7)
    assert q1["ci_low"] == pytest.approx(grouped.loc[1, "closed_within_1d_ci_low"])
    assert 0 < q1["ci_low"] < 1 / 7 < q1["ci_high"] < 1


def test_groups_without_type_adjustment_change_no_other_column() -> None:
    requests, table = _table()
    requests["service_name"] = ["pothole", "graffiti"] * (len(requests) // 2) + ["pothole"] * (
        len(requests) % 2
    )
    groups = population_quantiles(table["median_hh_income"], table["population"])
    full = group_indicators(requests, groups, key="ward", as_of=AS_OF)
    lean = group_indicators(requests, groups, key="ward", as_of=AS_OF, type_adjusted=False)
    adjusted = [
        "ttc_expected_closures",
        "ttc_type_adjusted_ratio",
        "ttc_type_adjusted_ratio_ci_low",
        "ttc_type_adjusted_ratio_ci_high",
        "ttc_crude_ratio",
    ]
    assert full[["ttc_expected_closures", "ttc_crude_ratio"]].notna().all().all()
    assert lean[adjusted].isna().all().all()
    pd.testing.assert_frame_equal(lean.drop(columns=adjusted), full.drop(columns=adjusted))
    assert lean.attrs["geo311"]["type_adjustment"] is None


def test_quintile_km_without_requests_is_empty_with_a_note() -> None:
    _, table = _table()
    summary = equity_summary(table, indicators=["ttc_median_days"])
    rows = summary[summary["measure"] == "quantile_value"]
    assert rows["value"].isna().all()
    assert rows["note"].str.contains("pass grouped=").all()


def test_ranking_by_population_is_labelled(caplog) -> None:
    _, table = _table()
    table["population"] = [100.0 * (i + 1) for i in range(len(table))]
    with caplog.at_level(logging.WARNING, logger="geo311"):
        summary = equity_summary(table, demographic="population", indicators=["rate_per_1k"])
    ranked = summary[summary["measure"].isin(["quantile_value", "quantile_ratio",
                                              "concentration_index"])]  # fmt: skip
    assert (ranked["ranked_by"] == BY_POPULATION).all()
    assert (summary.loc[summary["measure"] == "gini", "ranked_by"] == "").all()
    assert summary.attrs["equity"]["ranked_by"] == BY_POPULATION
    assert any("no demographic variable" in r.getMessage() for r in caplog.records)
    by_income = equity_summary(table, indicators=["rate_per_1k"])
    assert set(by_income.loc[by_income["measure"] == "quantile_ratio", "ranked_by"]) == {
        "median_hh_income"
    }


def test_eb_rate_only_where_the_rate_is_published() -> None:
    # b has 50 residents (< 100): rate insufficient, and now no EB rate either.
    requests = _requests()
    population = pd.Series(1000.0, index=list(_DURATIONS))
    population["b"] = 50.0
    table = area_indicators(requests, key="ward", population=population, as_of=AS_OF, min_count=1)
    assert table.loc["b", "rate_flag"] == "insufficient"
    assert math.isnan(table.loc["b", "rate_per_1k"])
    assert math.isnan(table.loc["b", "rate_per_1k_eb"])
    # the EB estimate still uses b's residents (Marshall over areas with P > 0):
    # b = 31 / 9050, s2 = sum P (r - b)^2 / 9050; the other areas' values are unchanged
    p = population.to_numpy()
    y = np.array([len(v) for v in _DURATIONS.values()], dtype=float)
    r = y / p
    b = y.sum() / p.sum()
    s2 = float(np.sum(p * (r - b) ** 2) / p.sum())
    a = max(s2 - b / p.mean(), 0.0)
    w = a / (a + b / p)
    eb = 1000 * (w * r + (1 - w) * b)
    published = table["rate_flag"] != "insufficient"
    np.testing.assert_allclose(table.loc[published, "rate_per_1k_eb"], eb[published.to_numpy()])

"""Tests of the equity measures (geo311.indicators: quintiles, concentration, inequality, disparity, equity) (METRICS.md items 10-13).

Every expectation is either computed by hand in the test (the arithmetic is
written out) or taken from an independent reference: PySAL ``inequality``
for the Gini and Theil indices, scipy for the Poisson and Wilson intervals,
and textbook formulas coded separately here for the concentration index.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from inequality.gini import Gini
from inequality.theil import Theil, TheilD
from scipy import stats

from geo311._errors import DataError, InputError, OptionError, SchemaError
from geo311.indicators import (
    DISPARITY_LABELS,
    EQUITY_COLUMNS,
    concentration_index,
    disparity_scores,
    equity_summary,
    gini,
    pooled_rate,
    population_quantiles,
    quintile_table,
    theil,
    weighted_mean,
)

Z95 = stats.norm.ppf(0.975)


def _scalar(x: object) -> float:
    return float(np.asarray(x, dtype=float).ravel()[0])


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def ten_areas() -> pd.DataFrame:
    """Ten areas whose population-weighted quintiles are worked out by hand.

    Population 20,000, so each quintile should hold 4,000 residents.
    Midpoint rule, (C + P/2) / 20,000 with C = residents ranked below:
      a (500)/20k = .025 -> Q1      b 2,500/20k = .125 -> Q1   (Q1 = 4,000)
      c 5,000/20k = .25  -> Q2      d 7,000/20k = .35  -> Q2   (Q2 = 4,000)
      e 8,500/20k = .425 -> Q3      f 10,500/20k = .525 -> Q3  (Q3 = 4,000)
      g 13,000/20k = .65 -> Q4      h 15,000/20k = .75 -> Q4   (Q4 = 4,000)
      i 17,000/20k = .85 -> Q5      j 19,000/20k = .95 -> Q5   (Q5 = 4,000)
    """
    t = pd.DataFrame(
        {
            "area_name": list("ABCDEFGHIJ"),
            "median_hh_income": [10, 20, 30, 40, 50, 60, 70, 80, 90, 100.0],
            "population": [1000, 3000, 2000, 2000, 1000, 3000, 2000, 2000, 2000, 2000.0],
            "requests": [30, 30, 20, 20, 10, 30, 10, 10, 10, 10],
            "on_time": [8, 12, 5, 5, 5, 5, 5, 5, 18, 9],
            "sla_due": [10, 20, 10, 10, 10, 10, 10, 10, 20, 10],
            "ttc_requests": [10, 30, 10, 10, 10, 10, 10, 10, 10, 10],
            "ttc_median_days": [2.0, 5.0, 1, 1, 1, 1, 1, 1, 1.0, 3.0],
            "district": ["X", "X", "X", "Y", "Y", "Y", "Z", "Z", "Z", "Z"],
        },
        index=pd.Index(list("abcdefghij"), name="area_id"),
    )
    t["rate_per_1k"] = 1000 * t["requests"] / t["population"]
    t["on_time_share"] = t["on_time"] / t["sla_due"]
    t.loc["a", "rate_per_1k"] = np.nan  # a published rate suppressed: counts still pool
    return t


# ---------------------------------------------------------------- METRICS 10


def test_population_quantiles_midpoint_rule(ten_areas: pd.DataFrame) -> None:
    q = population_quantiles(ten_areas["median_hh_income"], ten_areas["population"])
    assert q.tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert str(q.dtype) == "Int64"


def test_population_quantiles_straddling_area_goes_where_its_midpoint_is() -> None:
    by = pd.Series([1.0, 2.0, 3.0], index=list("xyz"))
    # x: 100 residents, midpoint 50/1000 = .05 -> Q1; y: 700 residents straddle
    # cuts .2,.4,.6,.8, midpoint (100 + 350)/1000 = .45 -> Q3; z: 950/1000 -> Q5
    pop = pd.Series([100.0, 700.0, 200.0], index=by.index)
    assert population_quantiles(by, pop).tolist() == [1, 3, 5]
    # a midpoint exactly on a cut goes up: x at 1/5 -> Q2, y at 2.5/5 -> Q3, z at 4/5 -> Q5
    on_cut = pd.Series([2.0, 1.0, 2.0], index=by.index)
    assert population_quantiles(by, on_cut).tolist() == [2, 3, 5]
    # float populations whose midpoint is a cut only up to rounding: y's midpoint is
    # (1.5 + 0.9) / 6 = 0.4 exactly, but 5 * it computes as 1.9999999999999998
    floats = pd.Series([1.5, 1.8, 2.7], index=by.index)
    assert population_quantiles(by, floats).tolist() == [1, 3, 4]


def test_population_quantiles_ties_never_split_and_order_free() -> None:
    by = pd.Series([1.0, 2.0, 2.0, 2.0, 3.0], index=list("abcde"))
    pop = pd.Series(100.0, index=by.index)
    # block {b, c, d}: 300 residents, midpoint (100 + 150)/500 = .5 -> Q3 for all three
    q = population_quantiles(by, pop)
    assert q.tolist() == [1, 3, 3, 3, 5]
    perm = list("dbeac")
    assert population_quantiles(by[perm], pop[perm]).reindex(by.index).tolist() == q.tolist()


def test_population_quantiles_exclusions_and_few_areas() -> None:
    by = pd.Series([1.0, np.nan, 2.0, 3.0], index=list("abcd"))
    pop = pd.Series([100.0, 100.0, 0.0, 100.0], index=by.index)
    q = population_quantiles(by, pop)
    # missing demographic and zero population -> <NA>; a at .25 -> Q2, d at .75 -> Q4
    assert q.isna().tolist() == [False, True, True, False]
    assert q.dropna().tolist() == [2, 4]
    with pytest.raises(DataError, match="negative"):
        population_quantiles(by, -pop)


def test_quintile_table_hand_computed(ten_areas: pd.DataFrame) -> None:
    before = ten_areas.copy(deep=True)
    # the weighted mean of area medians is no longer the default for medians (issue 13:
    # they are pooled from requests); it stays available as an explicit rule
    q = quintile_table(
        ten_areas,
        by="median_hh_income",
        indicators=["rate_per_1k", "on_time_share", "ttc_median_days"],
        counts={"ttc_median_days": weighted_mean("ttc_requests")},
    )
    pd.testing.assert_frame_equal(ten_areas, before)
    t = q.table
    assert t["areas"].tolist() == [2] * 5
    assert t["population"].tolist() == [4000.0] * 5
    assert t["population_share"].tolist() == [0.2] * 5
    assert t["requests"].tolist() == [60.0, 40.0, 40.0, 20.0, 20.0]
    assert t["by_min"].tolist() == [10, 30, 50, 70, 90]
    # rate of pooled counts: Q1 = 1000 * (30 + 30) / (1000 + 3000) = 15, although
    # a's published rate is NaN and the mean of the area rates would be (30 + 10) / 2 = 20
    assert t["rate_per_1k"].tolist() == pytest.approx([15.0, 10.0, 10.0, 5.0, 5.0], abs=1e-12)
    # exact Poisson interval of the pooled count: chi2(.025, 120)/2, chi2(.975, 122)/2 per 4,000
    assert t.at[1, "rate_per_1k_ci_low"] == pytest.approx(
        stats.chi2.ppf(0.025, 120) / 2 / 4000 * 1000, rel=1e-12
    )
    assert t.at[1, "rate_per_1k_ci_high"] == pytest.approx(
        stats.chi2.ppf(0.975, 122) / 2 / 4000 * 1000, rel=1e-12
    )
    # share of pooled counts: Q1 = (8 + 12) / (10 + 20) = 2/3; Q5 = (18 + 9) / 30 = 0.9
    assert t.at[1, "on_time_share"] == pytest.approx(2 / 3, abs=1e-15)
    assert t.at[5, "on_time_share"] == pytest.approx(0.9, abs=1e-15)
    wilson = stats.binomtest(20, 30).proportion_ci(confidence_level=0.95, method="wilson")
    assert t.at[1, "on_time_share_ci_low"] == pytest.approx(wilson.low, abs=1e-12)
    assert t.at[1, "on_time_share_ci_high"] == pytest.approx(wilson.high, abs=1e-12)
    # request-weighted mean of area medians: Q1 = (10 * 2 + 30 * 5) / 40 = 4.25, Q5 = (1 + 3)/2
    assert t.at[1, "ttc_median_days"] == pytest.approx(4.25, abs=1e-15)
    assert t.at[5, "ttc_median_days"] == pytest.approx(2.0, abs=1e-15)
    assert np.isnan(t.at[1, "ttc_median_days_ci_low"])

    r = q.ratios
    # rate ratio Q1 / Q5 = 15 / 5 = 3, CI exp(ln 3 +/- z sqrt(1/60 + 1/20))
    half = Z95 * math.sqrt(1 / 60 + 1 / 20)
    assert r.at["rate_per_1k", "ratio"] == pytest.approx(3.0, abs=1e-12)
    assert r.at["rate_per_1k", "ci_low"] == pytest.approx(3 * math.exp(-half), rel=1e-12)
    assert r.at["rate_per_1k", "ci_high"] == pytest.approx(3 * math.exp(half), rel=1e-12)
    # share ratio (2/3) / 0.9, Katz: sqrt(1/20 - 1/30 + 1/27 - 1/30)
    half = Z95 * math.sqrt(1 / 20 - 1 / 30 + 1 / 27 - 1 / 30)
    rr = (2 / 3) / 0.9
    assert r.at["on_time_share", "ratio"] == pytest.approx(rr, rel=1e-12)
    assert r.at["on_time_share", "ci_low"] == pytest.approx(rr * math.exp(-half), rel=1e-12)
    assert r.at["on_time_share", "ci_high"] == pytest.approx(rr * math.exp(half), rel=1e-12)
    # weighted mean: 4.25 / 2 with no interval, and the table says why
    assert r.at["ttc_median_days", "ratio"] == pytest.approx(2.125, abs=1e-15)
    assert np.isnan(r.at["ttc_median_days", "ci_low"])
    assert "no CI" in r.at["ttc_median_days", "note"]
    assert r.at["rate_per_1k", "pooling"].startswith("rate of pooled counts")
    assert dict(q.excluded) == {"missing_demographic": 0, "missing_or_zero_population": 0}


def test_quintile_table_worst_high_and_custom_rule(ten_areas: pd.DataFrame) -> None:
    areas = ten_areas.assign(area_km2=[1.0, 1, 2, 2, 1, 1, 1, 1, 2, 2], per_km2=0.0)
    q = quintile_table(
        areas,
        by="median_hh_income",
        indicators=["rate_per_1k", "per_km2"],
        counts={"per_km2": pooled_rate("requests", denominator="area_km2", per=1)},
        worst="high",
    )
    # worst = Q5: 5 / 15
    assert q.ratios.at["rate_per_1k", "worst_quantile"] == 5
    assert q.ratios.at["rate_per_1k", "ratio"] == pytest.approx(1 / 3, rel=1e-12)
    # requests per km2: Q1 = 60 / 2 = 30, Q5 = 20 / 4 = 5 -> Q5 / Q1 = 1/6
    assert q.table["per_km2"].tolist() == pytest.approx([30.0, 10.0, 20.0, 10.0, 5.0])
    assert q.ratios.at["per_km2", "ratio"] == pytest.approx(1 / 6, rel=1e-12)
    # an indicator without a rule is a population-weighted mean
    q2 = quintile_table(areas, by="median_hh_income", indicators=["area_km2"])
    assert q2.ratios.at["area_km2", "pooling"] == "population-weighted mean of area values"
    # Q1: (1 * 1000 + 1 * 3000) / 4000 = 1; Q2: (2 * 2000 + 2 * 2000) / 4000 = 2; ...
    assert q2.table["area_km2"].tolist() == pytest.approx([1.0, 2.0, 1.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="Pooling"):
        quintile_table(areas, by="median_hh_income", indicators=["x"], counts={"x": "requests"})


def test_quintile_table_exclusions_zero_counts_and_missing_columns(
    ten_areas: pd.DataFrame,
) -> None:
    areas = ten_areas.copy()
    areas.loc["e", "median_hh_income"] = np.nan
    areas.loc["f", "population"] = 0.0
    areas.loc[["i", "j"], "requests"] = 0
    q = quintile_table(areas, by="median_hh_income", indicators=["rate_per_1k"])
    assert dict(q.excluded) == {"missing_demographic": 1, "missing_or_zero_population": 1}
    assert q.assignment.isna().sum() == 2
    assert q.table["population"].sum() == 16000.0
    # Q5 has no requests: the ratio Q1 / Q5 is undefined
    assert np.isnan(q.ratios.at["rate_per_1k", "ratio"])
    assert "undefined" in q.ratios.at["rate_per_1k", "note"]
    # a zero in the worst group gives ratio 0 and no log interval
    q = quintile_table(areas, by="median_hh_income", indicators=["rate_per_1k"], worst="high")
    assert q.ratios.at["rate_per_1k", "ratio"] == 0.0
    assert np.isnan(q.ratios.at["rate_per_1k", "ci_low"])
    assert "zero count" in q.ratios.at["rate_per_1k", "note"]
    # an area without a value drops out of a weighted mean, and the table says so
    areas.loc["b", "ttc_median_days"] = np.nan
    mean_rule = {"ttc_median_days": weighted_mean("ttc_requests")}
    q = quintile_table(
        areas, by="median_hh_income", indicators=["ttc_median_days"], counts=mean_rule
    )
    assert q.table.at[1, "ttc_median_days"] == 2.0  # a alone
    assert (q.table.at[1, "ttc_median_days_areas"], q.table.at[1, "areas"]) == (1, 2)
    s = equity_summary(areas, indicators=["ttc_median_days"], counts=mean_rule)
    row = s[(s["measure"] == "quantile_value") & (s["quantile"] == 1)].iloc[0]
    assert row["n_areas"] == 1
    assert "1 of 2 areas have a value" in row["note"]
    with pytest.raises(SchemaError, match="sla_due"):
        quintile_table(
            areas.drop(columns="sla_due"), by="median_hh_income", indicators=["on_time_share"]
        )
    with pytest.raises(SchemaError, match="unique"):
        quintile_table(pd.concat([areas, areas]), by="median_hh_income", indicators=[])


def test_quintile_table_fewer_than_five_areas(ten_areas: pd.DataFrame) -> None:
    three = ten_areas.loc[["c", "d", "g"]]  # 2,000 residents each: midpoints 1/6, 1/2, 5/6
    q = quintile_table(three, by="median_hh_income", indicators=["rate_per_1k"])
    assert q.table["areas"].tolist() == [1, 0, 1, 0, 1]
    assert np.isnan(q.table.at[2, "rate_per_1k"])
    # Q1 = c: 20 / 2000; Q5 = g: 10 / 2000 -> 2
    assert q.ratios.at["rate_per_1k", "ratio"] == pytest.approx(2.0)
    two = ten_areas.loc[["c", "d"]]  # midpoints .25 -> Q2 and .75 -> Q4: both ends empty
    q = quintile_table(two, by="median_hh_income", indicators=["rate_per_1k"])
    assert np.isnan(q.ratios.at["rate_per_1k", "ratio"])
    assert "empty" in q.ratios.at["rate_per_1k", "note"]


# ---------------------------------------------------------------- METRICS 11


def _unweighted_ci(h: np.ndarray, rank: np.ndarray) -> float:
    """Textbook unweighted CI: 2 cov(h, r) / mean(h), r = (i - 1/2) / n (no ties)."""
    order = np.argsort(rank)
    n = len(h)
    r = np.empty(n)
    r[order] = (np.arange(1, n + 1) - 0.5) / n
    return float(2 * np.cov(h, r, bias=True)[0, 1] / h.mean())


def _kakwani_se(h: np.ndarray, rank: np.ndarray) -> float:
    """O'Donnell et al. (2008) eq. 8.8, written with an explicit loop (no ties)."""
    hs = h[np.argsort(rank)]
    n = len(hs)
    mu = hs.mean()
    c = _unweighted_ci(h, rank)
    q_prev, total = 0.0, 0.0
    for i in range(1, n + 1):
        q_i = q_prev + hs[i - 1] / (n * mu)
        r_i = (i - 0.5) / n
        a_i = hs[i - 1] / mu * (2 * r_i - 1 - c) + 2 - q_prev - q_i
        total += a_i**2
        q_prev = q_i
    return math.sqrt((total / n - (1 + c) ** 2) / n)


def test_concentration_index_hand_computed() -> None:
    # weights 1,2,1 -> w = .25,.5,.25; hbar = .25*2 + .5*1 + .25*4 = 2
    # R = .125, .5, .875; Rbar = .5
    # sum w (h - hbar)(R - Rbar) = .25*0*(-.375) + .5*(-1)*0 + .25*2*.375 = .1875
    # CI = 2 * .1875 / 2 = .1875
    ci = concentration_index([2.0, 1.0, 4.0], [10, 20, 30], [1, 2, 1], min_areas=3)
    assert ci.value == pytest.approx(0.1875, abs=1e-15)
    assert ci.n_areas == 3
    assert ci.n_excluded == 0
    assert ci.se > 0
    assert ci.ci_low == pytest.approx(ci.value - Z95 * ci.se, rel=1e-12)
    # an outcome that does not vary has CI = 0
    assert concentration_index([5.0] * 4, [1, 2, 3, 4]).value == pytest.approx(0, abs=1e-15)


def test_concentration_index_equal_weights_matches_unweighted_formula_and_kakwani() -> None:
    rng = np.random.default_rng(11)
    h = rng.gamma(2.0, 3.0, 80)
    rank = rng.normal(size=80)
    ci = concentration_index(h, rank)
    assert ci.value == pytest.approx(_unweighted_ci(h, rank), abs=1e-12)
    assert ci.se == pytest.approx(_kakwani_se(h, rank), rel=1e-9)
    # equal weights of any size give the same answer
    ci5 = concentration_index(h, rank, np.full(80, 5.0))
    assert ci5.value == pytest.approx(ci.value, abs=1e-12)
    assert ci5.se == pytest.approx(ci.se, rel=1e-9)


def test_concentration_index_weights_equal_replication() -> None:
    # integer weights = replicating each area P_i times; the replicated units of an
    # area share h, so the unweighted index of the replicated data is the weighted one
    rng = np.random.default_rng(5)
    h = rng.gamma(2.0, 1.0, 12)
    rank = rng.permutation(12).astype(float)
    w = rng.integers(1, 7, 12)
    ci = concentration_index(h, rank, w)
    rep_h = np.repeat(h, w)
    rep_rank = np.repeat(rank, w) + np.concatenate([np.arange(k) * 1e-6 for k in w])
    assert ci.value == pytest.approx(_unweighted_ci(rep_h, rep_rank), abs=1e-12)


def test_concentration_index_convenient_regression() -> None:
    # O'Donnell et al. (2008) eq. 8.7: weighted least squares of 2 var(R) h / hbar on R
    # has slope CI
    rng = np.random.default_rng(9)
    h = rng.gamma(3.0, 1.0, 30)
    rank = rng.normal(size=30)
    w = rng.uniform(100, 5000, 30)
    wn = w / w.sum()
    ci = concentration_index(h, rank, w)
    order = np.argsort(rank)
    r = np.empty(30)
    r[order] = np.cumsum(wn[order]) - wn[order] / 2
    var_r = (wn * (r - (wn * r).sum()) ** 2).sum()
    y = 2 * var_r * h / (wn * h).sum()
    x = np.column_stack([np.ones(30), r])
    sw = np.sqrt(wn)
    beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
    assert ci.value == pytest.approx(beta[1], abs=1e-12)


def test_concentration_index_ties_get_midpoint_rank() -> None:
    # b and c tie on rank (block of weight 2 of 4 -> both R = (1 + 1)/4 = .5);
    # R = .125, .5, .5, .875 with equal weights; hbar = (1 + 2 + 4 + 1) / 4 = 2
    # sum w (h - hbar)(R - .5) = .25 * [(-1)(-.375) + 0 + 0 + (-1)(.375)] = 0
    h = pd.Series([1.0, 2.0, 4.0, 1.0], index=list("abcd"))
    rank = pd.Series([1.0, 2.0, 2.0, 3.0], index=h.index)
    assert concentration_index(h, rank).value == pytest.approx(0.0, abs=1e-15)
    perm = list("cabd")
    assert concentration_index(h[perm], rank[perm]).value == pytest.approx(0.0, abs=1e-15)
    # Series are aligned on the area id, not by position
    shuffled = rank[["d", "c", "b", "a"]]
    assert concentration_index(h, shuffled).value == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(InputError, match="other areas"):
        concentration_index(h, rank.rename({"a": "z"}))


def test_concentration_index_exclusions_and_se_threshold() -> None:
    h = pd.Series([1.0, np.nan, 3.0, 4.0, 2.0], index=list("abcde"))
    rank = pd.Series([1.0, 2.0, np.nan, 4.0, 5.0], index=h.index)
    w = pd.Series([1.0, 1.0, 1.0, 0.0, 1.0], index=h.index)
    ci = concentration_index(h, rank, w)
    # only a and e remain: R = .25, .75, hbar = 1.5; CI = 2 * .5 * [(-.5)(-.25) + (.5)(.25)] / 1.5
    assert ci.n_areas == 2
    assert ci.n_excluded == 3
    assert ci.value == pytest.approx(2 * 0.5 * 0.25 / 1.5, abs=1e-15)
    assert np.isnan(ci.se)
    assert "min_areas" in ci.note
    empty = concentration_index([np.nan], [1.0])
    assert np.isnan(empty.value)
    assert empty.n_excluded == 1
    with pytest.raises(DataError, match="negative"):
        concentration_index([1.0, 2.0], [1, 2], [1.0, -1.0])


def test_concentration_index_se_coverage_by_simulation() -> None:
    # areas drawn from a super-population: the 95% delta-method interval should
    # cover the super-population index about 95% of the time with 150 areas
    rng = np.random.default_rng(20240501)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        income = rng.lognormal(10.8, 0.5, n)
        pop = rng.uniform(300, 6000, n)
        h = np.exp(4.5 - 0.4 * np.log(income / 50_000) + rng.normal(0, 0.4, n))
        return h, income, pop

    truth = concentration_index(*draw(400_000)).value
    hits = [
        (c.ci_low <= truth <= c.ci_high)
        for c in (concentration_index(*draw(150)) for _ in range(800))
    ]
    assert 0.92 <= np.mean(hits) <= 0.975


def test_gini_equals_concentration_of_rate_ranked_by_itself() -> None:
    rng = np.random.default_rng(3)
    y = rng.poisson(30, 25).astype(float)
    pop = rng.integers(200, 4000, 25).astype(float)
    rate = y / pop
    assert gini(y, pop).value == pytest.approx(
        concentration_index(rate, rate, pop).value, abs=1e-12
    )


# ---------------------------------------------------------------- METRICS 12


def test_gini_hand_computed_with_zero_requests_and_zero_population() -> None:
    # rates 0, 1, 1.5 for 1, 1, 2 residents: p = 1/4, 1/4, 1/2; L = 0, 1/4, 1
    # G = 1 - [1/4 (0 + 0) + 1/4 (0 + 1/4) + 1/2 (1/4 + 1)] = 1 - 11/16 = 5/16
    y = pd.Series([0, 1, 3, 5], index=list("abcz"))
    pop = pd.Series([1, 1, 2, 0], index=y.index)
    g = gini(y, pop)
    assert g.value == pytest.approx(5 / 16, abs=1e-15)
    assert (g.n_areas, g.n_excluded, g.requests_excluded) == (3, 1, 5.0)
    assert g.lorenz.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
    assert g.lorenz["requests_share"].tolist() == pytest.approx([0, 0, 0.25, 1.0])
    assert np.isnan(gini([0, 0], [5, 5]).value)
    # perfectly proportional requests: 0
    assert gini([10, 20, 30], [100, 200, 300]).value == pytest.approx(0.0, abs=1e-15)


def test_gini_matches_pysal_with_equal_weights() -> None:
    rng = np.random.default_rng(1)
    y = rng.poisson(20, 57).astype(float)
    y[[3, 9]] = 0.0
    expected = Gini(y).g
    assert gini(y).value == pytest.approx(expected, abs=1e-9)
    assert gini(y, np.full(57, 1234.0)).value == pytest.approx(expected, abs=1e-9)


def test_gini_weighted_matches_pysal_on_replicated_residents() -> None:
    # an area of P_i residents = P_i units each with y_i / P_i requests
    rng = np.random.default_rng(2)
    pop = rng.integers(1, 9, 20)
    y = rng.poisson(5 * pop).astype(float)
    assert gini(y, pop).value == pytest.approx(Gini(np.repeat(y / pop, pop)).g, abs=1e-9)


def test_theil_hand_computed_and_decomposed() -> None:
    # y = 3, 1, 2, 2 over equal populations: s = 3/8, 1/8, 2/8, 2/8; p = 1/4 each
    # T = 3/8 ln(3/2) + 1/8 ln(1/2) + 0 + 0
    y = pd.Series([3.0, 1.0, 2.0, 2.0], index=list("abcd"))
    pop = pd.Series([5.0, 5.0, 5.0, 5.0], index=y.index)
    t_total = 3 / 8 * math.log(1.5) + 1 / 8 * math.log(0.5)
    # groups {a} and {b, c, d}: s_g = 3/8, 5/8; p_g = 1/4, 3/4
    between = 3 / 8 * math.log(1.5) + 5 / 8 * math.log((5 / 8) / (3 / 4))
    # inside {b, c, d}: shares 1/5, 2/5, 2/5 vs 1/3 each
    t_g2 = 1 / 5 * math.log(3 / 5) + 2 * (2 / 5) * math.log(6 / 5)
    res = theil(y, pop, group=pd.Series(["G1", "G2", "G2", "G2"], index=y.index))
    assert res.value == pytest.approx(t_total, abs=1e-15)
    assert res.between == pytest.approx(between, abs=1e-15)
    assert res.within == pytest.approx(5 / 8 * t_g2, abs=1e-15)
    assert res.groups.loc["G1", "theil"] == 0.0
    assert res.groups.loc["G2", "theil"] == pytest.approx(t_g2, abs=1e-15)
    assert res.groups["areas"].tolist() == [1, 3]
    assert res.between + res.within == pytest.approx(res.value, abs=1e-12)
    ungrouped = theil(y, pop)
    assert ungrouped.value == res.value
    assert np.isnan(ungrouped.between)
    assert ungrouped.groups.empty


def test_theil_zero_requests_zero_population_and_missing_group() -> None:
    y = pd.Series([0.0, 4.0, 4.0, 9.0, 0.0], index=list("abcde"))
    pop = pd.Series([10.0, 10.0, 20.0, 0.0, 10.0], index=y.index)
    group = pd.Series(["A", "A", None, "B", "C"], index=y.index)
    res = theil(y, pop, group=group)
    # d (no residents, 9 requests) excluded; a and e have 0 ln 0 = 0
    # s = 0, .5, .5, 0; p = .2, .2, .4, .2: T = .5 ln(2.5) + .5 ln(1.25)
    assert res.value == pytest.approx(0.5 * math.log(2.5) + 0.5 * math.log(1.25), abs=1e-15)
    assert (res.n_areas, res.n_excluded, res.requests_excluded) == (4, 1, 9.0)
    assert res.n_missing_group == 1
    assert "(missing)" in res.groups.index
    # group C has residents but no requests: no within term, T_g undefined
    assert np.isnan(res.groups.loc["C", "theil"])
    assert res.groups.loc["C", "within_contribution"] == 0.0
    assert res.between + res.within == pytest.approx(res.value, abs=1e-12)
    assert np.isnan(theil([0.0, 0.0], [1.0, 1.0]).value)
    with pytest.raises(DataError, match="negative"):
        theil([-1.0, 2.0], [1.0, 1.0])


def test_theil_matches_pysal_with_equal_weights() -> None:
    rng = np.random.default_rng(4)
    y = rng.poisson(15, 40).astype(float)
    y[[0, 7]] = 0.0  # PySAL adds a tiny value to zeros; the difference is ~1e-305
    part = rng.integers(0, 6, 40)
    ours = theil(y, group=part)
    ref = TheilD(y, part)
    assert ours.value == pytest.approx(_scalar(Theil(y).T), abs=1e-9)
    assert ours.between == pytest.approx(_scalar(ref.bg), abs=1e-9)
    assert ours.within == pytest.approx(_scalar(ref.wg), abs=1e-9)


def test_theil_weighted_matches_pysal_on_replicated_residents() -> None:
    rng = np.random.default_rng(6)
    pop = rng.integers(1, 8, 24)
    y = rng.poisson(4 * pop).astype(float)
    part = rng.integers(0, 4, 24)
    ours = theil(y, pop, group=part)
    rep = np.repeat(y / pop, pop)
    ref = TheilD(rep, np.repeat(part, pop))
    assert ours.value == pytest.approx(_scalar(Theil(rep).T), abs=1e-9)
    assert ours.between == pytest.approx(_scalar(ref.bg), abs=1e-9)
    assert ours.within == pytest.approx(_scalar(ref.wg), abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_theil_decomposition_identity(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 278
    pop = rng.uniform(50, 9000, n)
    y = rng.poisson(pop * rng.gamma(2, 0.02, n)).astype(float)
    y[rng.choice(n, 20, replace=False)] = 0.0
    district = rng.integers(1, 15, n)
    res = theil(y, pop, group=district)
    assert abs(res.between + res.within - res.value) < 1e-12
    assert abs(res.groups["between_term"].sum() - res.between) < 1e-12
    assert res.groups["areas"].sum() == n


# ---------------------------------------------------------------- METRICS 13


def test_disparity_scores_hand_computed() -> None:
    req = pd.Series([60.0, 40.0, 0.0], index=pd.Index(list("abc"), name="area_id"))
    pop = pd.Series([500.0, 500.0, 0.0], index=req.index)
    moe = pd.Series([82.25, 82.25, 5.0], index=req.index)
    before = (req.copy(), pop.copy(), moe.copy())
    d = disparity_scores(req, pop, population_moe=moe)
    for a, b in zip(before, (req, pop, moe), strict=True):
        pd.testing.assert_series_equal(a, b)
    # SE(P) = 82.25 / 1.645 = 50 each; P = 1000; p = .5
    # SE(p) = sqrt((1 - .5)^2 * 50^2 + .5^2 * 50^2) / 1000 = sqrt(1250) / 1000
    se = math.sqrt(1250) / 1000
    assert d.loc["a", "population_share_se"] == pytest.approx(se, rel=1e-12)
    assert d.loc["a", "population_share_ci_high"] == pytest.approx(0.5 + 1.96 * se, rel=1e-12)
    # s = .6 > .5 + 1.96 * .0354 = .569 -> over; s = .4 < .431 -> under
    assert d["disparity"].tolist()[:2] == pytest.approx([0.1, -0.1], abs=1e-15)
    assert d["significance"].tolist() == ["over", "under", "excluded"]
    assert d["significant"].tolist()[:2] == [True, True]
    assert pd.isna(d.loc["c", "significant"])
    assert np.isnan(d.loc["c", "request_share"])
    assert d.attrs["disparity"]["areas_excluded"] == 1
    assert set(d["significance"]) <= set(DISPARITY_LABELS)
    assert d.index.name == "area_id"
    # a wider MOE: SE(P) = 200, SE(p) = sqrt(.25 * 40000 * 2) / 1000 = .1414 -> not significant
    d = disparity_scores(req, pop, population_moe=moe * 4)
    assert d["significance"].tolist()[:2] == ["not significant", "not significant"]
    assert d["significant"].tolist()[:2] == [False, False]


def test_disparity_scores_without_moe_are_not_tested() -> None:
    req = pd.Series([60.0, 40.0, 10.0], index=list("abc"))
    pop = pd.Series([500.0, 500.0, 100.0], index=req.index)
    d = disparity_scores(req, pop)
    assert d["significance"].tolist() == ["not tested"] * 3
    assert d["significant"].isna().all()
    assert d["disparity"].sum() == pytest.approx(0.0, abs=1e-15)
    # MOE missing for one area only: that area is not tested
    d = disparity_scores(req, pop, population_moe=pd.Series([10.0, np.nan, 10.0], index=req.index))
    assert d.loc["b", "significance"] == "not tested"
    assert d.attrs["disparity"]["areas_not_tested"] == 1
    # an MOE of 0 is an exact population: any difference is significant
    d = disparity_scores(
        pd.Series([5.0, 5.0], index=["a", "b"]),
        pd.Series([50.0, 50.0], index=["a", "b"]),
        population_moe=pd.Series([0.0, 0.0], index=["a", "b"]),
    )
    assert d["significance"].tolist() == ["not significant", "not significant"]
    d = disparity_scores(
        pd.Series([6.0, 4.0], index=["a", "b"]),
        pd.Series([50.0, 50.0], index=["a", "b"]),
        population_moe=pd.Series([0.0, 0.0], index=["a", "b"]),
    )
    assert d["significance"].tolist() == ["over", "under"]
    with pytest.raises(DataError, match="negative"):
        disparity_scores(req, pop, population_moe=-pop)


def test_disparity_share_se_matches_monte_carlo() -> None:
    # the delta-method SE of p_i = P_i / sum P with independent normal errors
    rng = np.random.default_rng(8)
    pop = np.array([400.0, 2500.0, 6000.0, 1100.0])
    moe = np.array([120.0, 400.0, 900.0, 300.0])
    d = disparity_scores(pd.Series([1.0, 1, 1, 1]), pd.Series(pop), population_moe=pd.Series(moe))
    draws = pop + rng.normal(size=(400_000, 4)) * (moe / 1.645)
    sim = (draws / draws.sum(axis=1, keepdims=True)).std(axis=0)
    np.testing.assert_allclose(d["population_share_se"].to_numpy(), sim, rtol=0.01)


# ---------------------------------------------------------------- summary


def test_equity_summary_tidy_table(ten_areas: pd.DataFrame) -> None:
    table = ten_areas.copy()
    table.loc["e", "median_hh_income"] = np.nan
    table["population_moe"] = np.sqrt(table["population"]) * 1.645
    table.attrs = {"layer": "test", "vintage": 2020}
    before = table.copy(deep=True)
    s = equity_summary(table, group="district")
    pd.testing.assert_frame_equal(table, before)
    assert table.attrs == {"layer": "test", "vintage": 2020}
    assert tuple(s.columns) == EQUITY_COLUMNS
    assert s.attrs["source"] == {"layer": "test", "vintage": 2020}
    meta = s.attrs["equity"]
    assert meta["excluded"] == {"missing_demographic": 1, "missing_or_zero_population": 0}
    assert meta["population_moe"] == "population_moe"
    assert meta["indicators"] == ["rate_per_1k", "ttc_median_days", "on_time_share"]
    measures = set(s["measure"])
    assert {
        "quantile_value",
        "quantile_ratio",
        "concentration_index",
        "gini",
        "theil_t",
        "theil_t_between",
        "theil_t_within",
        "theil_t_group",
        "disparity_over",
        "disparity_under",
        "disparity_not_significant",
        "disparity_not_tested",
    } <= measures
    # the same numbers as the functions behind them
    q = quintile_table(
        table,
        by="median_hh_income",
        indicators=["rate_per_1k", "ttc_median_days", "on_time_share"],
    )
    ratio = s[(s["measure"] == "quantile_ratio") & (s["indicator"] == "rate_per_1k")].iloc[0]
    assert ratio["value"] == q.ratios.at["rate_per_1k", "ratio"]
    assert ratio["ci_low"] == q.ratios.at["rate_per_1k", "ci_low"]
    assert "1 area(s) without median_hh_income" in ratio["note"]
    rows = s[(s["measure"] == "quantile_value") & (s["indicator"] == "rate_per_1k")]
    assert rows["quantile"].tolist() == [1, 2, 3, 4, 5]
    assert rows["value"].tolist() == q.table["rate_per_1k"].tolist()
    assert rows["population"].sum() == 19000.0
    value = dict(zip(s["measure"], s["value"], strict=False))
    assert value["gini"] == gini(table["requests"], table["population"]).value
    assert abs(value["theil_t_between"] + value["theil_t_within"] - value["theil_t"]) < 1e-12
    groups = s[s["measure"] == "theil_t_group"]
    assert groups["group"].tolist() == ["X", "Y", "Z"]
    assert groups["requests"].sum() == table["requests"].sum()
    counts = s[s["measure"].str.startswith("disparity_")]
    assert counts["value"].sum() == 10
    assert value["disparity_not_tested"] == 0
    # concentration of the request rate rebuilt from counts (a's published rate is NaN)
    conc = s[(s["measure"] == "concentration_index") & (s["indicator"] == "rate_per_1k")].iloc[0]
    ok = table["median_hh_income"].notna()
    expected = concentration_index(
        (table["requests"] / table["population"])[ok],
        table["median_hh_income"][ok],
        table["population"][ok],
    )
    assert conc["value"] == pytest.approx(expected.value, abs=1e-15)
    assert conc["n_areas"] == 9
    assert np.isnan(conc["ci_low"])  # 9 areas < min_areas
    assert "min_areas" in conc["note"]
    assert s["quantile"].dtype == "Int64"


def test_equity_summary_options_and_errors(ten_areas: pd.DataFrame) -> None:
    s = equity_summary(ten_areas, indicators=["rate_per_1k"], worst="high", n=2)
    assert s.loc[s["measure"] == "quantile_value", "quantile"].tolist() == [1, 2]
    assert set(s["measure"]).isdisjoint({"theil_t_between", "theil_t_group"})
    assert s.loc[s["measure"] == "disparity_not_tested", "value"].item() == 10
    assert "no population MOE" in s.loc[s["measure"] == "disparity_not_tested", "note"].item()
    assert s.attrs["equity"]["pooling"] == {
        "rate_per_1k": "rate of pooled counts: 1000 * sum(requests) / sum(population)"
    }
    s = equity_summary(
        ten_areas, indicators=["ttc_median_days"], counts={"ttc_median_days": weighted_mean()}
    )
    assert (
        s.attrs["equity"]["pooling"]["ttc_median_days"]
        == "population-weighted mean of area values"
    )
    with pytest.raises(SchemaError, match="nope"):
        equity_summary(ten_areas, indicators=["nope"])
    with pytest.raises(SchemaError, match="median_hh_income"):
        equity_summary(ten_areas.drop(columns="median_hh_income"))
    with pytest.raises(OptionError, match="confidence"):
        equity_summary(ten_areas, confidence=95)


def test_equity_summary_few_areas_and_zero_population(ten_areas: pd.DataFrame) -> None:
    two = ten_areas.loc[["c", "d", "e"]].copy()
    two.loc["e", "population"] = 0.0
    s = equity_summary(two, indicators=["rate_per_1k"])
    ratio = s[s["measure"] == "quantile_ratio"].iloc[0]
    assert np.isnan(ratio["value"])
    assert "empty" in ratio["note"]
    gini_row = s[s["measure"] == "gini"].iloc[0]
    assert gini_row["n_areas"] == 2
    assert "1 area(s) without population excluded (10 requests)" in gini_row["note"]
    # c and d: 20 requests per 2,000 residents each -> no inequality
    assert gini_row["value"] == pytest.approx(0.0, abs=1e-15)

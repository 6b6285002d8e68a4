"""Time to close within the data (issue 13 item 3, METRICS 5 and "Defaults").

Shares closed within d days only where follow-up reaches d, "not reached (> N
days)" as its own state, intervals that never collapse at 0 or n, an exact
rate-ratio interval at y = 0, no interval on a ratio that is 1 by
construction, and ``max_days`` end to end.  Every expected value is worked
out in the comments.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from scipy import stats

from geo311.indicators import area_indicators, city_indicators

T0 = pd.Timestamp("2025-06-02 12:00", tz="UTC")
DAY = pd.Timedelta(days=1)
Z2 = stats.norm.ppf(0.975) ** 2


def _requests(areas: list[str], closed_after: list[float | None], due_after=None) -> pd.DataFrame:
    """One request per entry, all created at T0; ``None`` = still open."""
    n = len(areas)
    due_after = due_after if due_after is not None else [None] * n

    def at(days: float | None) -> pd.Timestamp:
        return pd.NaT if days is None else T0 + days * DAY

    return pd.DataFrame(
        {
            "requested_datetime": pd.Series([T0] * n, dtype="datetime64[ns, UTC]"),
            "closed_datetime": pd.Series(
                [at(d) for d in closed_after], dtype="datetime64[ns, UTC]"
            ),
            "expected_datetime": pd.Series(
                [at(d) for d in due_after], dtype="datetime64[ns, UTC]"
            ),
            "status": ["open" if d is None else "closed" for d in closed_after],
            "service_name": "Pothole",
            "is_duplicate": False,
            "is_transfer": False,
            "is_proactive": False,
            "ward_id": areas,
        }
    )


def test_share_beyond_follow_up_is_empty_with_its_reason() -> None:
    # A: 1 closed after 1 day, 2 open; as_of 2.85 days -> follow-up 2.85 days.
    frame = _requests(["A"] * 3, [1.0, None, None])
    table = area_indicators(frame, key="ward", as_of=T0 + 2.85 * DAY, min_count=1)
    a = table.loc["A"]
    assert a["ttc_followup_days"] == pytest.approx(2.85)
    assert a["closed_within_1d_share"] == pytest.approx(1 / 3)  # 1 - S(1) = 1 - 2/3
    assert a["closed_within_1d_flag"] == "ok"
    for h in (7, 30):  # 1 - S(2.85) would be extrapolated: not published
        assert math.isnan(a[f"closed_within_{h}d_share"])
        assert math.isnan(a[f"closed_within_{h}d_ci_low"])
        assert math.isnan(a[f"closed_within_{h}d_ci_high"])
        assert a[f"closed_within_{h}d_flag"] == "beyond follow-up (2.8 days)"
    # S ends at 2/3 > 1/2: the median is more than the follow-up, not "insufficient"
    assert math.isnan(a["ttc_median_days"])
    assert a["ttc_median_flag"] == "not reached (> 2.8 days)"
    assert a["ttc_p90_flag"] == "not reached (> 2.8 days)"
    assert table["closed_within_7d_flag"].dtype == "string"


def test_not_reached_is_distinct_from_insufficient_and_ok() -> None:
    # A: closes at 1, 2 -> median 1 (S = 1/2 at 1), p90 2 (S = 0 at 2).
    # B: no request.  C: 1 of 3 closed at 4 days, as_of 10 -> median not reached (> 10 days).
    frame = _requests(["A", "A", "C", "C", "C"], [1.0, 2.0, 4.0, None, None])
    areas = pd.Series({"A": 1000.0, "B": 1000.0, "C": 1000.0})
    table = area_indicators(frame, key="ward", population=areas, as_of=T0 + 10 * DAY)
    assert table["ttc_median_flag"].tolist() == [
        "ok",
        "insufficient",
        "not reached (> 10.0 days)",
    ]
    assert table["ttc_p90_flag"].tolist() == ["ok", "insufficient", "not reached (> 10.0 days)"]
    assert table.loc["A", "ttc_median_days"] == 1.0 and table.loc["A", "ttc_p90_days"] == 2.0
    assert table.loc["B", "closed_within_7d_flag"] == "insufficient"
    assert math.isnan(table.loc["B", "ttc_followup_days"])
    kmf = KaplanMeierFitter().fit([4.0, 10.0, 10.0], [True, False, False])
    assert math.isinf(kmf.median_survival_time_)  # lifelines agrees: not reached


def test_km_share_at_zero_is_never_zero_width() -> None:
    # 21 requests open for 8 days: 0 of 21 closed within 1 and 7 days.  The log(-log) band is
    # [1, 1] at S = 1; the upper limit becomes Wilson's for 0 of 21: z^2 / (21 + z^2).
    frame = _requests(["A"] * 21, [None] * 21)
    a = area_indicators(frame, key="ward", as_of=T0 + 8 * DAY).loc["A"]
    for h in (1, 7):
        assert a[f"closed_within_{h}d_share"] == 0.0
        assert a[f"closed_within_{h}d_ci_low"] == 0.0
        assert a[f"closed_within_{h}d_ci_high"] == pytest.approx(Z2 / (21 + Z2), rel=1e-12)
        assert a[f"closed_within_{h}d_ci_high"] > 0


def test_km_share_at_n_is_never_zero_width_and_matches_lifelines_inside() -> None:
    # 5 requests closed after 0.5, 0.5, 1, 2, 3 days: 1 - S(7) = 1 (all closed).
    # The band collapses to [1, 1]; the lower limit becomes Wilson's for 5 of 5: 5 / (5 + z^2).
    closes = [0.5, 0.5, 1.0, 2.0, 3.0]
    frame = _requests(["A"] * 5, closes)
    a = area_indicators(frame, key="ward", as_of=T0 + 40 * DAY).loc["A"]
    assert a["closed_within_7d_share"] == 1.0
    assert a["closed_within_7d_ci_high"] == 1.0
    assert a["closed_within_7d_ci_low"] == pytest.approx(5 / (5 + Z2), rel=1e-12)
    # within (0, 1) the band is lifelines' log(-log) band, unchanged
    kmf = KaplanMeierFitter().fit(closes, [True] * 5)
    band = kmf.confidence_interval_.loc[:1.0].iloc[-1]
    assert a["closed_within_1d_share"] == pytest.approx(0.6)
    assert a["closed_within_1d_ci_low"] == pytest.approx(1 - band.iloc[1], abs=1e-12)
    assert a["closed_within_1d_ci_high"] == pytest.approx(1 - band.iloc[0], abs=1e-12)


def test_on_time_share_at_zero_and_at_n_has_a_proper_interval() -> None:
    # A: 0 of 21 on time (closed after 2 days, due after 1); B: 21 of 21 on time.
    frame = pd.concat(
        [
            _requests(["A"] * 21, [2.0] * 21, [1.0] * 21),
            _requests(["B"] * 21, [1.0] * 21, [2.0] * 21),
        ],
        ignore_index=True,
    )
    table = area_indicators(frame, key="ward", as_of=T0 + 5 * DAY)
    low, high = stats.binomtest(0, 21).proportion_ci(method="wilson")
    assert table.loc["A", "on_time_share"] == 0.0
    assert table.loc["A", "on_time_ci_low"] == 0.0
    assert table.loc["A", "on_time_ci_high"] == pytest.approx(high, rel=1e-9)
    assert table.loc["A", "on_time_ci_high"] == pytest.approx(Z2 / (21 + Z2), rel=1e-12)
    low, high = stats.binomtest(21, 21).proportion_ci(method="wilson")
    assert table.loc["B", "on_time_share"] == 1.0
    assert table.loc["B", "on_time_ci_high"] == 1.0
    assert table.loc["B", "on_time_ci_low"] == pytest.approx(low, rel=1e-9)
    assert table.loc["B", "on_time_ci_low"] < 1


@pytest.mark.parametrize("rest", [1, 7, 40])
def test_rate_ratio_at_zero_requests_has_the_exact_conditional_interval(rest: int) -> None:
    # A has 0 requests of 1,000 residents, B has `rest` of 4,000.  Given N = rest, y_A is
    # Binomial(N, pi), pi = RR * 1000 / (RR * 1000 + 4000): pi_U (Clopper-Pearson at 0)
    # = 1 - 0.025 ** (1 / N), RR_U = pi_U / (1 - pi_U) * 4000 / 1000.
    frame = _requests(["B"] * rest, [1.0] * rest)
    population = pd.Series({"A": 1000.0, "B": 4000.0})
    a = area_indicators(frame, key="ward", population=population, as_of=T0 + 2 * DAY).loc["A"]
    pi_u = stats.binomtest(0, rest).proportion_ci(method="exact").high
    assert a["rate_ratio"] == 0.0
    assert a["rate_ratio_ci_low"] == 0.0
    assert a["rate_ratio_ci_high"] == pytest.approx(pi_u / (1 - pi_u) * 4.0, rel=1e-9)
    assert a["rate_ratio_ci_high"] == pytest.approx(
        (1 - 0.025 ** (1 / rest)) / 0.025 ** (1 / rest) * 4.0, rel=1e-12
    )


def test_rate_ratio_with_requests_keeps_the_log_interval() -> None:
    # A 4 of 1,000, B 8 of 4,000: RR = (4/1000)/(8/4000) = 2, CI exp(ln 2 -/+ z sqrt(1/4 + 1/8))
    frame = _requests(["A"] * 4 + ["B"] * 8, [1.0] * 12)
    population = pd.Series({"A": 1000.0, "B": 4000.0})
    a = area_indicators(frame, key="ward", population=population, as_of=T0 + 2 * DAY).loc["A"]
    half = math.sqrt(Z2) * math.sqrt(1 / 4 + 1 / 8)
    assert a["rate_ratio"] == pytest.approx(2.0)
    assert a["rate_ratio_ci_low"] == pytest.approx(2.0 * math.exp(-half), rel=1e-12)
    assert a["rate_ratio_ci_high"] == pytest.approx(2.0 * math.exp(half), rel=1e-12)


def test_type_adjusted_ratio_of_the_whole_city_has_no_interval() -> None:
    frame = _requests(["A", "A", "B", "B", "B"], [1.0, 3.0, 2.0, None, 5.0])
    kwargs = {"key": "ward", "as_of": T0 + 9 * DAY}
    city = city_indicators(frame, **kwargs).iloc[0]
    # sum over requests of the pooled Nelson-Aalen H at each follow-up = number of closures
    assert city["ttc_type_adjusted_ratio"] == pytest.approx(1.0, rel=1e-12)
    assert math.isnan(city["ttc_type_adjusted_ratio_ci_low"])
    assert math.isnan(city["ttc_type_adjusted_ratio_ci_high"])
    areas = area_indicators(frame, **kwargs)
    assert (
        areas[["ttc_type_adjusted_ratio_ci_low", "ttc_type_adjusted_ratio_ci_high"]]
        .notna()
        .all(axis=None)
    )


def _one_file(shared_data: Path, city: str, path: Path) -> pd.DataFrame:
    from geo311 import read_requests  # noqa: PLC0415
    from geo311.pipeline import join_city  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        requests, _ = read_requests([path], schema=city)
        return join_city(requests, city=city, layers=["council_districts"]).frame


def _check_within_follow_up(table: pd.DataFrame) -> None:
    """Every published KM share lies within follow-up (or its curve reached 0)."""
    for h in (1, 7, 30):
        share = table[f"closed_within_{h}d_share"]
        flag = table[f"closed_within_{h}d_flag"]
        beyond = flag.str.startswith("beyond follow-up")
        assert share[beyond].isna().all()
        published = share.notna()
        assert ((table["ttc_followup_days"] >= h) | (share == 1.0))[published].all()
        assert (flag[published] == "ok").all()
    reached = table["ttc_median_days"].notna()
    assert (table.loc[reached, "ttc_median_flag"] == "ok").all()
    states = table.loc[~reached, "ttc_median_flag"]
    assert states.str.match(r"not reached \(> \d+\.\d days\)|insufficient").all()


def test_baltimore_october_sample_reports_not_reached_not_insufficient(shared_data: Path) -> None:
    joined = _one_file(shared_data, "baltimore", shared_data / "baltimore" /
                       "sr311_2019_oct_sample.csv")  # fmt: skip
    # issue 13: follow-up ends after 2.85 days; the median is not reached citywide and in
    # 11 of 14 districts; 7- and 30-day shares are not extrapolated
    city = city_indicators(joined, key="council_districts").iloc[0]
    assert city["ttc_followup_days"] == pytest.approx(2.85, abs=0.005)
    assert city["ttc_median_flag"] == "not reached (> 2.8 days)"
    assert math.isnan(city["closed_within_7d_share"])
    assert city["closed_within_7d_flag"] == "beyond follow-up (2.8 days)"
    districts = area_indicators(joined, key="council_districts")
    assert (districts["ttc_median_flag"] == "not reached (> 2.8 days)").sum() == 11
    assert (districts["ttc_median_flag"] == "insufficient").sum() == 0
    _check_within_follow_up(districts)


def test_los_angeles_shares_stay_within_follow_up(shared_data: Path) -> None:
    path = shared_data / "los_angeles" / "records" / "myla311_2020-01-01_2020-01-03.csv.gz"
    joined = _one_file(shared_data, "los_angeles", path)
    districts = area_indicators(joined, key="council_districts")
    _check_within_follow_up(districts)
    _check_within_follow_up(city_indicators(joined, key="council_districts"))


def test_city_tables_pass_max_days_through(shared_data: Path) -> None:
    from geo311.indicators import city_tables  # noqa: PLC0415

    joined = _one_file(shared_data, "baltimore", shared_data / "baltimore" /
                       "sr311_2018_sample.csv")  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        tables = city_tables(
            joined, city="baltimore", layers=["council_districts"], group=None, max_days=30
        )["council_districts"]
    direct = area_indicators(joined, key="council_districts", max_days=30)
    excluded = tables.indicators["ttc_excluded_implausible"]
    assert excluded.sum() > 0
    assert excluded.to_dict() == direct["ttc_excluded_implausible"].to_dict()
    assert tables.metadata["indicators"]["max_days"] == 30

"""Per-area indicators (geo311.indicators: scope, rates, time_to_close, compliance, patterns), checked by hand and against reference libraries.

Every fixture is typed here; each test writes its arithmetic in comments.
References: ``scipy.stats.chi2`` (Garwood), ``scipy.stats.binomtest(...).proportion_ci
(method="wilson")``, lifelines ``KaplanMeierFitter``.  Times are UTC unless a
comment says "local" (America/New_York: EST = UTC-5, EDT = UTC-4).
"""

from __future__ import annotations

import copy
import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import DEMO_REQUESTS, DEMO_SEED, script_module
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from scipy import stats

import geo311
from geo311._errors import DataError, OptionError, SchemaError
from geo311.demo import demo_layers, make_demo_city
from geo311.indicators import (
    CITY_ID,
    DATA_DICTIONARY,
    PATTERN_COLUMNS,
    area_indicators,
    channel_mix,
    city_indicators,
    data_dictionary,
    service_mix,
    time_patterns,
)
from geo311.io.writers import write_csv

TZ = "America/New_York"
T0 = pd.Timestamp("2025-03-03 14:00", tz="UTC")  # Monday 09:00 EST
DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)
Z = stats.norm.ppf(0.975)
KEY = "ward"


def make_requests(rows: list[dict], *, key: str = KEY, timezone: str | None = TZ) -> pd.DataFrame:
    """Canonical requests joined to layer ``key``; unspecified fields take plain defaults.

    ``status`` defaults to "closed" when a closed time is given, else "open".
    """
    base = {
        "service_name": "Pothole",
        "service_code": "P1",
        "requested_datetime": T0,
        "closed_datetime": pd.NaT,
        "expected_datetime": pd.NaT,
        "agency_responsible": "Transportation",
        "source": "phone",
        "is_duplicate": False,
        "is_transfer": False,
        "is_proactive": False,
        "qa_flags": "",
        f"{key}_id": "A",
    }
    records = []
    for i, row in enumerate(rows):
        record = {**base, **row}
        if "status" not in row:
            record["status"] = "open" if pd.isna(record["closed_datetime"]) else "closed"
        record["service_request_id"] = f"R{i:04d}"
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for col in ("requested_datetime", "closed_datetime", "expected_datetime"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    for col in (
        "service_request_id",
        "service_name",
        "service_code",
        "status",
        "agency_responsible",
        "source",
        "qa_flags",
        f"{key}_id",
    ):
        frame[col] = frame[col].astype("string")
    frame[f"{key}_name"] = ("Ward " + frame[f"{key}_id"]).astype("string")
    frame[f"{key}_vintage"] = pd.array(["2022"] * len(frame), dtype="string")
    if timezone:
        frame.attrs["timezone"] = timezone
    return frame


def squares() -> gpd.GeoDataFrame:
    """Wards A (1 km x 2 km = 2 km²), B and C (1 km² each) in UTM 18N metres."""
    return gpd.GeoDataFrame(
        {"area_id": ["A", "B", "C"], "area_name": ["Ward A", "Ward B", "Ward C"]},
        geometry=[
            shapely.box(350_000, 4_350_000, 351_000, 4_352_000),
            shapely.box(351_000, 4_350_000, 352_000, 4_351_000),
            shapely.box(352_000, 4_350_000, 353_000, 4_351_000),
        ],
        crs="EPSG:32618",
    )


# --------------------------------------------------------------------------- fixture 1


@pytest.fixture
def counts_frame() -> pd.DataFrame:
    """A: 4 resident + 1 duplicate + 1 transfer + 1 proactive; B: 6 resident; C: none.

    Plus one request not assigned to any ward and one with an id not in the layer.
    """
    rows = [{"ward_id": "A"} for _ in range(4)]
    rows += [
        {"ward_id": "A", "is_duplicate": True},
        {"ward_id": "A", "is_transfer": True},
        {"ward_id": "A", "is_proactive": True, "source": "internal"},
    ]
    rows += [{"ward_id": "B"} for _ in range(6)]
    rows += [{"ward_id": pd.NA}, {"ward_id": "Z"}]
    return make_requests(rows)


POP = pd.Series({"A": 2000.0, "B": 1000.0, "C": 50.0})


def test_counts_and_exclusions(counts_frame: pd.DataFrame) -> None:
    t = area_indicators(counts_frame, key=KEY, areas=squares(), as_of=T0 + DAY)
    # A: 7 in scope; duplicate, transfer and proactive set aside -> 4 counted
    assert t.loc["A", ["requests_all", "requests", "requests_excluded"]].tolist() == [7, 4, 3]
    assert t.loc["A", ["requests_duplicate", "requests_transfer"]].tolist() == [1, 1]
    assert t.loc["A", ["requests_resident", "requests_proactive"]].tolist() == [4, 1]
    assert t.loc["B", ["requests_all", "requests", "requests_excluded"]].tolist() == [6, 6, 0]
    assert t.loc["C", ["requests_all", "requests"]].tolist() == [0, 0]
    rows = t.attrs["geo311"]["rows"]
    assert rows["rows"] == 15
    assert rows["not_assigned_to_area"] == 1
    assert rows["area_id_not_in_layer"] == 1
    assert rows["in_scope"] == 13
    assert rows["duplicates_excluded"] == rows["transfers_excluded"] == 1
    assert rows["other_demand_excluded"] == 1
    assert rows["counted"] == 10


@pytest.mark.parametrize(
    ("options", "a_requests"),
    [
        ({"demand": "all"}, 5),  # 4 resident + 1 proactive
        ({"demand": "proactive"}, 1),
        ({"include_duplicates": True}, 5),
        ({"include_duplicates": True, "include_transfers": True}, 6),
        ({"demand": "all", "include_duplicates": True, "include_transfers": True}, 7),
    ],
)
def test_demand_and_inclusion_options(counts_frame, options, a_requests) -> None:
    t = area_indicators(counts_frame, key=KEY, areas=squares(), as_of=T0 + DAY, **options)
    assert t.loc["A", "requests"] == a_requests
    assert t.loc["A", "requests_excluded"] == 7 - a_requests


def test_rates_garwood_flags_and_density(counts_frame: pd.DataFrame) -> None:
    t = area_indicators(
        counts_frame, key=KEY, areas=squares(), population=POP, as_of=T0 + DAY, min_count=5
    )
    # A: y = 4, P = 2000 -> 1000 * 4 / 2000 = 2.0 per 1,000
    #    Garwood: chi2.ppf(.025, 8)/2 = 1.089865 -> * 1000/2000 = 0.544933
    #             chi2.ppf(.975, 10)/2 = 10.241589 -> 5.120794
    assert t.loc["A", "rate_per_1k"] == pytest.approx(2.0)
    assert t.loc["A", "rate_per_1k_ci_low"] == pytest.approx(0.5449327, abs=1e-6)
    assert t.loc["A", "rate_per_1k_ci_high"] == pytest.approx(5.1207943, abs=1e-6)
    assert t.loc["A", "rate_per_1k_ci_low"] == pytest.approx(
        stats.chi2.ppf(0.025, 8) / 2 * 1000 / 2000, abs=1e-9
    )
    assert t.loc["A", "rate_per_1k_ci_high"] == pytest.approx(
        stats.chi2.ppf(0.975, 10) / 2 * 1000 / 2000, abs=1e-9
    )
    # B: y = 6, P = 1000 -> 6.0, [chi2.ppf(.025,12)/2, chi2.ppf(.975,14)/2] = [2.201894, 13.059474]
    assert t.loc["B", "rate_per_1k"] == pytest.approx(6.0)
    assert t.loc["B", "rate_per_1k_ci_low"] == pytest.approx(2.2018943, abs=1e-6)
    assert t.loc["B", "rate_per_1k_ci_high"] == pytest.approx(13.0594740, abs=1e-6)
    # flags: A has 4 < min_count 5 requests -> unstable; B ok; C has 50 < 100 residents
    assert t["rate_flag"].tolist() == ["unstable", "ok", "insufficient"]
    # insufficient: no rate, never shown as zero
    assert t.loc["C", ["rate_per_1k", "rate_per_1k_ci_low", "rate_ratio"]].isna().all()
    # density: A 4 / 2 km² = 2; B 6 / 1 km² = 6; C 0 / 1 = 0
    np.testing.assert_allclose(t["area_km2"], [2.0, 1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(t["requests_per_km2"], [2.0, 6.0, 0.0], rtol=1e-12)


def test_land_area_replaces_the_polygon_area(counts_frame: pd.DataFrame) -> None:
    """Given land areas (water excluded), density uses them; an area without one keeps its own."""
    land = pd.Series({"A": 0.5, "B": 0.8})  # C has none: its polygon's 1 km² stays
    options = {"key": KEY, "areas": squares(), "as_of": T0 + DAY, "land_km2": land}
    t = area_indicators(counts_frame, **options)
    np.testing.assert_allclose(t["area_km2"], [0.5, 0.8, 1.0], rtol=1e-12)
    np.testing.assert_allclose(t["requests_per_km2"], [4 / 0.5, 6 / 0.8, 0.0], rtol=1e-12)
    city = city_indicators(counts_frame, **options)
    assert city.loc["city", "area_km2"] == pytest.approx(2.3)


def test_rate_ratio_vs_rest_of_city(counts_frame: pd.DataFrame) -> None:
    t = area_indicators(
        counts_frame, key=KEY, areas=squares(), population=POP, as_of=T0 + DAY, min_count=5
    )
    # The rest of the city counts every other area with a population, C (50) included.
    # A: (4/2000) / ((6+0)/(1000+50)) = 0.002 / 0.0057143 = 0.35
    #    CI exp(ln 0.35 -/+ 1.96 sqrt(1/4 + 1/6)) = exp(-1.04982 -/+ 1.26515) = [0.098769, 1.240270]
    assert t.loc["A", "rate_ratio"] == pytest.approx(0.35, abs=1e-12)
    assert t.loc["A", "rate_ratio_ci_low"] == pytest.approx(0.0987688, abs=1e-6)
    assert t.loc["A", "rate_ratio_ci_high"] == pytest.approx(1.2402701, abs=1e-6)
    # B: (6/1000) / (4/2050) = 3.075; CI exp(ln 3.075 -/+ 1.96 sqrt(1/6 + 1/4)) = [0.86775, 10.8967]
    assert t.loc["B", "rate_ratio"] == pytest.approx(3.075, abs=1e-12)
    assert t.loc["B", "rate_ratio_ci_low"] == pytest.approx(0.8677545, abs=1e-6)
    assert t.loc["B", "rate_ratio_ci_high"] == pytest.approx(10.8966588, abs=1e-6)


def test_marshall_empirical_bayes(counts_frame: pd.DataFrame) -> None:
    t = area_indicators(counts_frame, key=KEY, areas=squares(), population=POP, as_of=T0 + DAY)
    # Rates per person r = (4/2000, 6/1000, 0/50) = (0.002, 0.006, 0); P = (2000, 1000, 50)
    # b = 10 / 3050 = 0.00327869
    # s2 = [2000 (0.002-b)² + 1000 (0.006-b)² + 50 (0-b)²] / 3050 = 3.67643e-6
    # A = s2 - b / mean(P) = 3.67643e-6 - 0.00327869/1016.667 = 4.51492e-7
    # w = A / (A + b / P) = (0.215938, 0.121037, 0.006838)
    # EB = w r + (1 - w) b -> per 1,000: (3.002571, 3.608069, 3.256268 -- not shown for C)
    b = 10 / 3050
    r = np.array([0.002, 0.006, 0.0])
    p = np.array([2000.0, 1000.0, 50.0])
    s2 = np.sum(p * (r - b) ** 2) / p.sum()
    a = s2 - b / p.mean()
    w = a / (a + b / p)
    expected = 1000 * (w * r + (1 - w) * b)
    # issue 13: C (50 residents) is estimated with, but its rate is insufficient: no EB shown
    expected[2] = np.nan
    np.testing.assert_allclose(t["rate_per_1k_eb"], expected, rtol=1e-12)
    np.testing.assert_allclose(t["rate_per_1k_eb"], [3.002571, 3.608069, np.nan], atol=1e-6)
    # shrunk towards b = 3.2787: A up from 2, B down from 6
    assert 2.0 < t.loc["A", "rate_per_1k_eb"] < b * 1000 < t.loc["B", "rate_per_1k_eb"] < 6.0


def test_eb_with_no_extra_variance_is_the_city_rate() -> None:
    # y = (2, 4) on P = (1000, 2000): both rates are 2 per 1,000 = b; s2 = 0 -> A = 0 -> EB = b
    rows = [{"ward_id": "A"}] * 2 + [{"ward_id": "B"}] * 4
    t = area_indicators(
        make_requests(rows), key=KEY, population={"A": 1000.0, "B": 2000.0}, as_of=T0 + DAY
    )
    np.testing.assert_allclose(t["rate_per_1k_eb"], [2.0, 2.0], rtol=1e-12)


# --------------------------------------------------------------------------- edge cases


def test_zero_request_area_and_zero_population() -> None:
    rows = [{"ward_id": "A"}] * 3
    pop = pd.Series({"A": 1000.0, "B": 500.0, "C": 0.0})
    t = area_indicators(make_requests(rows), key=KEY, areas=squares(), population=pop,
                        as_of=T0 + DAY)  # fmt: skip
    # B has no requests: a real zero with an interval [0, chi2.ppf(.975, 2)/2 * 1000/500]
    assert t.loc["B", "requests"] == 0
    assert t.loc["B", "rate_per_1k"] == 0.0
    assert t.loc["B", "rate_per_1k_ci_low"] == 0.0
    assert t.loc["B", "rate_per_1k_ci_high"] == pytest.approx(3.6888795 * 2, abs=1e-6)
    assert t.loc["B", "rate_flag"] == "unstable"
    assert t.loc["B", "rate_ratio"] == 0.0  # RR = 0 / rest; log CI undefined
    # issue 13: exact conditional interval instead of blank.  N = 0 + 3 requests;
    # pi_U = 1 - 0.025 ** (1/3) = 0.7076; RR_U = pi_U / (1 - pi_U) * P_rest / P_B (1000 / 500)
    assert t.loc["B", "rate_ratio_ci_low"] == 0.0
    pi_u = stats.binomtest(0, 3).proportion_ci(confidence_level=0.95, method="exact").high
    assert pi_u == pytest.approx(1 - 0.025 ** (1 / 3), rel=1e-12)
    assert t.loc["B", "rate_ratio_ci_high"] == pytest.approx(pi_u / (1 - pi_u) * 2.0, rel=1e-9)
    assert math.isnan(t.loc["B", "ttc_median_days"])
    assert t.loc["B", "ttc_requests"] == 0
    assert math.isnan(t.loc["B", "on_time_share"])
    # C: zero population -> insufficient, no rate, never a zero rate
    assert t.loc["C", "rate_flag"] == "insufficient"
    assert math.isnan(t.loc["C", "rate_per_1k"])
    assert math.isnan(t.loc["C", "rate_per_1k_eb"])  # EB needs P > 0


def test_missing_population_is_insufficient(caplog) -> None:
    rows = [{"ward_id": "A"}] * 25 + [{"ward_id": "B"}] * 25
    t = area_indicators(make_requests(rows), key=KEY, population={"A": 1000.0}, as_of=T0 + DAY)
    assert t["rate_flag"].tolist() == ["ok", "insufficient"]
    assert t.attrs["geo311"]["population"]["areas_without_population"] == 1
    assert "have no population" in caplog.text
    # no population at all: the layer has no denominator, and says so rather than 0
    no_pop = area_indicators(make_requests(rows), key=KEY, as_of=T0 + DAY)
    assert (no_pop["rate_flag"] == "no_denominator").all()
    assert no_pop["population"].isna().all() and no_pop["rate_per_1k"].isna().all()
    assert no_pop["requests"].tolist() == [25, 25]


def test_time_to_close_by_hand_and_against_lifelines() -> None:
    # Ward A: closed after 1, 2 and 3 days, one still open at as_of = T0 + 10 days.
    rows = [{"closed_datetime": T0 + k * DAY} for k in (1, 2, 3)] + [{}]
    t = area_indicators(make_requests(rows), key=KEY, as_of=T0 + 10 * DAY)
    a = t.loc["A"]
    # KM: S(1) = 3/4, S(2) = 3/4 * 2/3 = 1/2, S(3) = 1/2 * 1/2 = 1/4, then the open
    # request is censored at 10 days: S stays 1/4 -> median 2, p90 not reached.
    assert a["ttc_median_days"] == 2.0
    assert math.isnan(a["ttc_p90_days"])
    assert a["ttc_median_days_closed_only"] == 2.0  # median of 1, 2, 3
    assert a["closed_within_1d_share"] == pytest.approx(0.25)  # 1 - S(1)
    assert a["closed_within_7d_share"] == pytest.approx(0.75)  # 1 - S(3)
    # issue 13: follow-up ends at 10 days (the open request), so 30 days is not published
    assert math.isnan(a["closed_within_30d_share"])
    assert a["closed_within_30d_flag"] == "beyond follow-up (10.0 days)"
    assert a["closed_within_7d_flag"] == "ok" and a["ttc_followup_days"] == 10.0
    assert a["ttc_p90_flag"] == "not reached (> 10.0 days)" and a["ttc_median_flag"] == "ok"
    assert a[["ttc_requests", "ttc_closed", "ttc_open"]].tolist() == [4, 3, 1]
    kmf = KaplanMeierFitter().fit([1.0, 2.0, 3.0, 10.0], [1, 1, 1, 0])
    ci = median_survival_times(kmf.confidence_interval_)
    assert a["ttc_median_days_ci_low"] == pytest.approx(ci.iloc[0, 0], abs=1e-9)
    high = ci.iloc[0, 1]
    assert (math.isnan(a["ttc_median_days_ci_high"]) and math.isinf(high)) or (
        a["ttc_median_days_ci_high"] == pytest.approx(high, abs=1e-9)
    )
    for h in (1, 7):
        ref = kmf.survival_function_at_times([h]).iloc[0]
        assert a[f"closed_within_{h}d_share"] == pytest.approx(1 - ref, abs=1e-9)
        bands = kmf.confidence_interval_.loc[:h].iloc[-1]
        assert a[f"closed_within_{h}d_ci_low"] == pytest.approx(1 - bands.iloc[1], abs=1e-9)
        assert a[f"closed_within_{h}d_ci_high"] == pytest.approx(1 - bands.iloc[0], abs=1e-9)


def test_km_per_area_matches_lifelines_on_random_data() -> None:
    rng = np.random.default_rng(5)
    n = 600
    created = T0 + pd.to_timedelta(rng.uniform(0, 40, n), unit="D")
    close = created + pd.to_timedelta(np.round(rng.exponential(4, n), 2), unit="D")
    as_of = T0 + 40 * DAY
    rows = [
        {
            "ward_id": w,
            "requested_datetime": c,
            "closed_datetime": d if d <= as_of else pd.NaT,
        }
        for w, c, d in zip(rng.choice(["A", "B", "C"], n), created, close, strict=True)
    ]
    frame = make_requests(rows)
    t = area_indicators(frame, key=KEY, as_of=as_of)
    for ward in ("A", "B", "C"):
        sub = frame[frame["ward_id"] == ward]
        closed = sub["closed_datetime"].notna().to_numpy()
        end = sub["closed_datetime"].where(sub["closed_datetime"].notna(), as_of)
        durations = (end - sub["requested_datetime"]).dt.total_seconds().to_numpy() / 86400
        kmf = KaplanMeierFitter().fit(durations, closed)
        ci = median_survival_times(kmf.confidence_interval_)
        row = t.loc[ward]
        assert row["ttc_median_days"] == pytest.approx(kmf.median_survival_time_, abs=1e-9)
        assert row["ttc_median_days_ci_low"] == pytest.approx(ci.iloc[0, 0], abs=1e-9)
        assert row["ttc_median_days_ci_high"] == pytest.approx(ci.iloc[0, 1], abs=1e-9)
        at = kmf.survival_function_at_times([1, 7, 30]).to_numpy()
        got = row[[f"closed_within_{h}d_share" for h in (1, 7, 30)]].to_numpy(float)
        # issue 13: published only within the follow-up (or once every request closed)
        within = (np.array([1, 7, 30]) <= durations.max()) | (
            kmf.survival_function_.iloc[-1, 0] == 0.0
        )
        np.testing.assert_allclose(got[within], 1 - at[within], atol=1e-9)
        assert np.isnan(got[~within]).all()
        assert row["ttc_followup_days"] == pytest.approx(durations.max(), abs=1e-9)
        assert row["ttc_median_days_closed_only"] == pytest.approx(
            np.median(durations[closed]), abs=1e-9
        )


def test_all_open_single_and_instant() -> None:
    rows = [{"ward_id": "A"}, {"ward_id": "A"}]  # all open
    rows += [{"ward_id": "B", "closed_datetime": T0 + 3 * HOUR}]  # a single request
    rows += [{"ward_id": "C", "closed_datetime": T0}] * 2  # closed the instant they were filed
    t = area_indicators(make_requests(rows), key=KEY, as_of=T0 + 5 * DAY)
    assert math.isnan(t.loc["A", "ttc_median_days"])  # not estimable: nothing closed
    assert math.isnan(t.loc["A", "ttc_median_days_closed_only"])
    # issue 13: A's follow-up is 5 days: 30 days beyond it; at 1 day the share is 0 of 2
    # followed, with the Wilson upper limit z^2 / (2 + z^2), never [0, 0]
    assert math.isnan(t.loc["A", "closed_within_30d_share"])
    assert t.loc["A", "closed_within_30d_flag"] == "beyond follow-up (5.0 days)"
    assert t.loc["A", "ttc_median_flag"] == "not reached (> 5.0 days)"
    assert t.loc["A", "closed_within_1d_share"] == 0.0
    assert t.loc["A", "closed_within_1d_ci_low"] == 0.0
    z2 = stats.norm.ppf(0.975) ** 2
    assert t.loc["A", "closed_within_1d_ci_high"] == pytest.approx(z2 / (2 + z2), rel=1e-12)
    assert t.loc["A", "ttc_open"] == 2
    assert t.loc["B", "ttc_median_days"] == pytest.approx(3 / 24)  # S drops 1 -> 0 at 3 h
    assert t.loc["B", "closed_within_1d_share"] == 1.0
    assert t.loc["C", "ttc_median_days"] == 0.0  # S(0) = 0
    assert t.loc["C", "ttc_p90_days"] == 0.0
    assert t.loc["C", "closed_within_1d_share"] == 1.0
    # every request closed: known at 30 days too (nothing extrapolated); lower limit is the
    # Wilson lower limit of 2 of 2 closed, 2 / (2 + z^2), never [1, 1]
    assert t.loc["C", "closed_within_30d_share"] == 1.0
    assert t.loc["C", "closed_within_30d_flag"] == "ok"
    assert t.loc["C", "closed_within_30d_ci_low"] == pytest.approx(2 / (2 + z2), rel=1e-12)
    assert t.loc["C", "closed_within_30d_ci_high"] == 1.0


def test_negative_missing_and_implausible_durations_are_excluded_and_counted() -> None:
    rows = [
        {"closed_datetime": T0 + 2 * DAY, "expected_datetime": T0 + 3 * DAY},
        {"closed_datetime": T0 - HOUR, "expected_datetime": T0 + 3 * DAY},  # before created
        {"status": "closed", "expected_datetime": T0 + 3 * DAY},  # closed, no closed time
        {"closed_datetime": T0 + 400 * DAY},  # implausible with max_days=365
    ]
    as_of = T0 + 500 * DAY
    t = area_indicators(make_requests(rows), key=KEY, as_of=as_of, max_days=365)
    a = t.loc["A"]
    assert a["requests"] == 4  # still requests: demand is not a duration
    assert a["ttc_excluded_negative"] == 1
    assert a["ttc_excluded_no_closed_time"] == 1
    assert a["ttc_excluded_implausible"] == 1
    assert a["ttc_requests"] == 1
    assert a["ttc_median_days"] == 2.0  # never clipped to 0
    assert a["sla_due"] == 1  # the excluded ones are not judged on time either
    rows_meta = t.attrs["geo311"]["rows"]
    assert rows_meta["ttc_excluded_negative"] == 1
    without_limit = area_indicators(make_requests(rows), key=KEY, as_of=as_of)
    assert without_limit.loc["A", "ttc_requests"] == 2


def test_open_requests_are_censored_at_as_of_and_later_closures_were_open() -> None:
    rows = [
        {"closed_datetime": T0 + 1 * DAY},
        {"closed_datetime": T0 + 9 * DAY},  # closed after as_of: open at as_of
        {"requested_datetime": T0 + 6 * DAY},  # created after as_of: not counted at all
    ]
    t = area_indicators(make_requests(rows), key=KEY, as_of=T0 + 5 * DAY)
    # at as_of: one closed after 1 day, one open for 5 days -> S(1) = 1/2 -> median 1
    assert t.loc["A", "requests"] == 2
    assert t.loc["A", ["ttc_closed", "ttc_open"]].tolist() == [1, 1]
    assert t.loc["A", "ttc_median_days"] == 1.0
    assert t.attrs["geo311"]["rows"]["created_after_as_of"] == 1


def test_dst_durations_are_true_elapsed_time() -> None:
    rows = [
        # spring forward 2025-03-09: 01:30 EST (06:30Z) -> 03:30 EDT (07:30Z): 1 h, not 2
        {
            "ward_id": "A",
            "requested_datetime": pd.Timestamp("2025-03-09 06:30", tz="UTC"),
            "closed_datetime": pd.Timestamp("2025-03-09 07:30", tz="UTC"),
        },
        # fall back 2025-11-02: 00:30 EDT (04:30Z) -> 01:30 EST (06:30Z): 2 h, not 1
        {
            "ward_id": "B",
            "requested_datetime": pd.Timestamp("2025-11-02 04:30", tz="UTC"),
            "closed_datetime": pd.Timestamp("2025-11-02 06:30", tz="UTC"),
        },
    ]
    frame = make_requests(rows)
    # the wall clock says 2 h and 1 h:
    local = frame["closed_datetime"].dt.tz_convert(TZ).dt.tz_localize(None) - frame[
        "requested_datetime"
    ].dt.tz_convert(TZ).dt.tz_localize(None)
    assert local.tolist() == [2 * HOUR, HOUR]
    t = area_indicators(frame, key=KEY, as_of="2025-11-10 00:00")
    assert t.loc["A", "ttc_median_days"] == pytest.approx(1 / 24, abs=1e-12)
    assert t.loc["B", "ttc_median_days"] == pytest.approx(2 / 24, abs=1e-12)
    # the same instants held in a local-time column give the same durations
    for col in ("requested_datetime", "closed_datetime"):
        frame[col] = frame[col].dt.tz_convert(TZ)
    again = area_indicators(frame, key=KEY, as_of="2025-11-10 00:00")
    np.testing.assert_array_equal(again["ttc_median_days"], t["ttc_median_days"])


def test_as_of_defaults_to_the_latest_timestamp() -> None:
    rows = [{"closed_datetime": T0 + 2 * DAY}, {"requested_datetime": T0 + DAY}]
    t = area_indicators(make_requests(rows), key=KEY)
    meta = t.attrs["geo311"]
    assert meta["as_of"] == (T0 + 2 * DAY).isoformat()
    assert meta["as_of_source"] == "latest timestamp in the data"
    # the open request was open for 1 day at as_of; S(1) = 1/2 -> ... censored at 1
    assert t.loc["A", ["ttc_closed", "ttc_open"]].tolist() == [1, 1]


# --------------------------------------------------------------------------- due dates


def test_on_time_share_counts_open_overdue_as_failures() -> None:
    as_of = T0 + 10 * DAY
    rows = [
        {"closed_datetime": T0 + 2 * DAY, "expected_datetime": T0 + 3 * DAY},  # on time
        {"closed_datetime": T0 + 5 * DAY, "expected_datetime": T0 + 3 * DAY},  # late
        {"expected_datetime": T0 + 5 * DAY},  # open, overdue at as_of: a failure
        {"expected_datetime": T0 + 20 * DAY},  # open, not yet due: on track
        {"closed_datetime": T0 + 1 * DAY},  # no due date
        {"closed_datetime": T0 + 4 * DAY, "expected_datetime": T0 + 4 * DAY},  # at due: on time
        {"closed_datetime": T0 + 12 * DAY, "expected_datetime": T0 + 5 * DAY},  # open at as_of
    ]
    t = area_indicators(make_requests(rows), key=KEY, as_of=as_of)
    a = t.loc["A"]
    # on time 2 / (3 closed with a due date + 2 open and overdue) = 2/5 = 0.4
    assert a[["on_time", "sla_due", "open_overdue", "open_on_track", "no_due_date"]].tolist() == [
        2,
        5,
        2,
        1,
        1,
    ]
    assert a["on_time_share"] == pytest.approx(0.4)
    ci = stats.binomtest(2, 5).proportion_ci(confidence_level=0.95, method="wilson")
    assert a["on_time_ci_low"] == pytest.approx(ci.low, abs=1e-9)
    assert a["on_time_ci_high"] == pytest.approx(ci.high, abs=1e-9)
    # Wilson by hand: p = .4, n = 5, z = 1.95996: centre (2 + 1.92073) / (2 (5 + 3.84146))
    # = 0.44344, half-width z/(2(n+z²)) sqrt(4 n p q + z²) = 0.33172 -> [0.11762, 0.76928]
    assert a["on_time_ci_low"] == pytest.approx(0.117621, abs=1e-6)
    assert a["on_time_ci_high"] == pytest.approx(0.769276, abs=1e-6)


@pytest.mark.parametrize(("k", "n"), [(0, 4), (4, 4), (1, 1), (7, 13), (180, 200)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    rows = [
        {"closed_datetime": T0 + DAY, "expected_datetime": T0 + (2 if i < k else 0.5) * DAY}
        for i in range(n)
    ]
    t = area_indicators(make_requests(rows), key=KEY, as_of=T0 + 3 * DAY)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert t.loc["A", "on_time_share"] == pytest.approx(k / n)
    assert t.loc["A", "on_time_ci_low"] == pytest.approx(ci.low, abs=1e-9)
    assert t.loc["A", "on_time_ci_high"] == pytest.approx(ci.high, abs=1e-9)


# --------------------------------------------------------------------------- type mix


@pytest.fixture
def typed_frame() -> pd.DataFrame:
    """Fast type F: X closes after 1 and 2 days; Y after 3 and one open 4 days.

    Slow type S: Y closes after 10 and 12 days.  as_of = T0 + 20 days.
    """
    as_of = T0 + 20 * DAY
    rows = [
        {"ward_id": "X", "service_name": "F", "closed_datetime": T0 + 1 * DAY},
        {"ward_id": "X", "service_name": "F", "closed_datetime": T0 + 2 * DAY},
        {"ward_id": "Y", "service_name": "F", "closed_datetime": T0 + 3 * DAY},
        {"ward_id": "Y", "service_name": "F", "requested_datetime": as_of - 4 * DAY},
        {"ward_id": "Y", "service_name": "S", "closed_datetime": T0 + 10 * DAY},
        {"ward_id": "Y", "service_name": "S", "closed_datetime": T0 + 12 * DAY},
    ]
    return make_requests(rows)


def test_type_adjusted_ratio_by_hand(typed_frame: pd.DataFrame) -> None:
    t = area_indicators(typed_frame, key=KEY, as_of=T0 + 20 * DAY)
    # Nelson-Aalen of type F (times 1, 2, 3 closed, 4 open): H(1) = 1/4, H(2) = 1/4 + 1/3
    # = 7/12, H(3) = 7/12 + 1/2 = 13/12, H(4) = 13/12.  Type S (10, 12): H(10) = 1/2,
    # H(12) = 1/2 + 1 = 3/2.
    # X: E = H_F(1) + H_F(2) = 10/12 = 5/6; O = 2 -> O/E = 2.4 (faster than its types)
    # Y: E = H_F(3) + H_F(4) + H_S(10) + H_S(12) = 26/12 + 2 = 25/6; O = 3 -> 0.72
    # Check: total E = 5/6 + 25/6 = 5 = total closures.
    assert t.loc["X", "ttc_expected_closures"] == pytest.approx(5 / 6, abs=1e-12)
    assert t.loc["Y", "ttc_expected_closures"] == pytest.approx(25 / 6, abs=1e-12)
    assert t.loc["X", "ttc_type_adjusted_ratio"] == pytest.approx(2.4, abs=1e-12)
    assert t.loc["Y", "ttc_type_adjusted_ratio"] == pytest.approx(0.72, abs=1e-12)
    # Crude (all types pooled: 1, 2, 3, 4+, 10, 12): H(1) = 1/6, H(2) = 11/30,
    # H(3) = H(4) = 37/60, H(10) = 67/60, H(12) = 127/60.
    # X: E = 1/6 + 11/30 = 8/15 -> 2 / (8/15) = 3.75
    # Y: E = (37 + 37 + 67 + 127)/60 = 67/15 -> 3 / (67/15) = 45/67 = 0.67164
    assert t.loc["X", "ttc_crude_ratio"] == pytest.approx(3.75, abs=1e-12)
    assert t.loc["Y", "ttc_crude_ratio"] == pytest.approx(45 / 67, abs=1e-12)
    # CI: exact Poisson limits of O divided by E
    low = stats.chi2.ppf(0.025, 4) / 2 / (5 / 6)
    high = stats.chi2.ppf(0.975, 6) / 2 / (5 / 6)
    assert t.loc["X", "ttc_type_adjusted_ratio_ci_low"] == pytest.approx(low, abs=1e-9)
    assert t.loc["X", "ttc_type_adjusted_ratio_ci_high"] == pytest.approx(high, abs=1e-9)


def test_city_row_is_the_union_and_type_ratio_is_one(typed_frame, counts_frame) -> None:
    city = city_indicators(typed_frame, key=KEY, as_of=T0 + 20 * DAY)
    areas = area_indicators(typed_frame, key=KEY, as_of=T0 + 20 * DAY)
    assert city.index.tolist() == [CITY_ID]
    assert city.loc[CITY_ID, "ttc_type_adjusted_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert city.loc[CITY_ID, "ttc_crude_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert city.loc[CITY_ID, "ttc_expected_closures"] == pytest.approx(
        areas["ttc_expected_closures"].sum(), abs=1e-12
    )
    for col in ("requests", "requests_all", "ttc_closed", "ttc_open", "on_time", "sla_due"):
        assert city.loc[CITY_ID, col] == areas[col].sum()
    # Rates: the city population is the sum over the layer's areas
    c = city_indicators(
        counts_frame, key=KEY, areas=squares(), population=POP, as_of=T0 + DAY, min_count=5
    )
    assert c.loc[CITY_ID, "population"] == 3050.0
    assert c.loc[CITY_ID, "rate_per_1k"] == pytest.approx(1000 * 10 / 3050)
    assert c.loc[CITY_ID, "area_km2"] == pytest.approx(4.0)
    assert math.isnan(c.loc[CITY_ID, "rate_ratio"])
    assert c.attrs["geo311"]["city"] is True


# --------------------------------------------------------------------------- filters


def test_filters_and_period() -> None:
    rows = [
        {"service_name": "Pothole", "service_code": "P1"},
        {"service_name": "Rats", "service_code": "R1", "agency_responsible": "Health"},
        {"service_name": pd.NA, "service_code": "R1", "source": "web"},
        # local 2025-03-05 23:59 EST = 2025-03-06 04:59Z: inside a period ending 03-06 local
        {"requested_datetime": pd.Timestamp("2025-03-06 04:59", tz="UTC")},
        # local 2025-03-06 00:00 EST = 05:00Z: the period's end is exclusive
        {"requested_datetime": pd.Timestamp("2025-03-06 05:00", tz="UTC")},
    ]
    frame = make_requests(rows)
    as_of = T0 + 10 * DAY

    def count(**kw) -> int:
        return int(area_indicators(frame, key=KEY, as_of=as_of, **kw).loc["A", "requests"])

    assert count() == 5
    assert count(service_types=["Pothole"]) == 3  # by name (rows 1, 4, 5)
    assert count(service_types="R1") == 2  # by code, including the one without a name
    assert count(agencies=["Health"]) == 1
    assert count(sources=["web"]) == 1
    assert count(period=("2025-03-03", "2025-03-06")) == 4
    assert count(period=(None, "2025-03-06")) == 4
    assert count(period=("2025-03-06", None)) == 1
    t = area_indicators(frame, key=KEY, as_of=as_of, service_types=["Rats"], sources=["phone"])
    meta = t.attrs["geo311"]
    assert meta["rows"]["filtered_out"] == 4
    assert meta["filters"] == {"service_types": ["Rats"], "agencies": None, "sources": ["phone"]}
    p = area_indicators(frame, key=KEY, as_of=as_of, period=("2025-03-03", "2025-03-06"))
    assert p.attrs["geo311"]["period"]["end"] == "2025-03-06T05:00:00+00:00"
    assert p.attrs["geo311"]["rows"]["outside_period"] == 1


def test_row_order_does_not_matter() -> None:
    rng = np.random.default_rng(9)
    n = 300
    created = T0 + pd.to_timedelta(rng.uniform(0, 20, n), unit="D")
    rows = [
        {
            "ward_id": w,
            "requested_datetime": c,
            "closed_datetime": c + pd.Timedelta(days=float(d)) if d < 15 else pd.NaT,
            "expected_datetime": c + 3 * DAY,
            "service_name": s,
        }
        for w, c, d, s in zip(
            rng.choice(["A", "B"], n),
            created,
            np.round(rng.exponential(4, n), 3),
            rng.choice(["F", "S", "T"], n),
            strict=True,
        )
    ]
    frame = make_requests(rows)
    as_of = T0 + 30 * DAY
    one = area_indicators(frame, key=KEY, as_of=as_of)
    two = area_indicators(frame.sample(frac=1.0, random_state=1), key=KEY, as_of=as_of)
    pd.testing.assert_frame_equal(one, two, check_exact=False, rtol=1e-12)


# --------------------------------------------------------------------------- table contract


def test_index_columns_dictionary_and_metadata(counts_frame: pd.DataFrame) -> None:
    t = area_indicators(
        counts_frame,
        key=KEY,
        areas=squares(),
        population=POP,
        population_source="test census 2020",
        as_of=T0 + DAY,
    )
    assert t.index.name == "area_id"
    assert t.index.tolist() == ["A", "B", "C"]  # every area of the layer, in layer order
    assert "area_id" not in t.columns  # no index/column ambiguity in merges
    assert t["area_name"].tolist() == ["Ward A", "Ward B", "Ward C"]
    required = [
        "area_name", "requests", "requests_excluded", "population", "rate_per_1k",
        "rate_per_1k_ci_low", "rate_per_1k_ci_high", "rate_flag", "rate_ratio",
        "rate_ratio_ci_low", "rate_ratio_ci_high", "rate_per_1k_eb", "requests_per_km2",
        "ttc_median_days", "ttc_median_days_ci_low", "ttc_median_days_ci_high",
        "ttc_median_days_closed_only", "ttc_p90_days", "closed_within_1d_share",
        "closed_within_7d_share", "closed_within_30d_share", "ttc_type_adjusted_ratio",
        "on_time_share", "on_time_ci_low", "on_time_ci_high", "open_on_track",
    ]  # fmt: skip
    assert set(required) <= set(t.columns)
    assert set(t.columns) | {"area_id"} == set(DATA_DICTIONARY)
    assert data_dictionary()["name"].tolist() == ["area_id", *t.columns]
    for name, (meaning, unit, ref) in DATA_DICTIONARY.items():
        assert meaning and unit and ref, name
    assert t["requests"].dtype == np.int64
    assert t["rate_flag"].dtype == "string"
    meta = t.attrs["geo311"]
    json.dumps(meta)  # JSON-ready
    assert meta["layer"] == KEY
    assert meta["vintages"] == ["2022"]
    assert meta["population_source"] == "test census 2020"
    assert meta["population_total"] == 3050.0
    assert meta["as_of"] == (T0 + DAY).isoformat()
    assert meta["demand"] == "resident"
    assert meta["timezone"] == TZ
    merged = squares().merge(t, left_on="area_id", right_index=True)
    assert merged["requests"].tolist() == [4, 6, 0]


def test_write_csv_puts_area_id_first(counts_frame: pd.DataFrame, tmp_path) -> None:
    t = area_indicators(counts_frame, key=KEY, areas=squares(), as_of=T0 + DAY)
    path = write_csv(t, tmp_path / "wards.csv")
    back = pd.read_csv(path, dtype={"area_id": str})
    assert back.columns[0] == "area_id"
    assert back["area_id"].tolist() == ["A", "B", "C"]


def test_layer_input_measures_in_its_projected_crs(counts_frame: pd.DataFrame) -> None:
    gdf = squares().to_crs("EPSG:4326").rename(columns={"area_id": "wid", "area_name": "nm"})
    layer = geo311.read_layer(
        gdf, key=KEY, id_field="wid", name_field="nm", vintage="2022", projected_crs="EPSG:32618"
    ).layer
    t = area_indicators(counts_frame, key=KEY, areas=layer, as_of=T0 + DAY)
    np.testing.assert_allclose(t["area_km2"], [2.0, 1.0, 1.0], rtol=1e-6)
    assert t.attrs["geo311"]["area_crs"] == "EPSG:32618"
    assert t.attrs["geo311"]["vintages"] == ["2022"]


def test_areas_from_the_data_and_population() -> None:
    rows = [{"ward_id": "B"}, {"ward_id": "A"}]
    t = area_indicators(make_requests(rows), key=KEY, population={"C": 10.0}, as_of=T0 + DAY)
    assert t.index.tolist() == ["A", "B", "C"]
    assert t["area_name"].tolist()[:2] == ["Ward A", "Ward B"]
    assert pd.isna(t.loc["C", "area_name"])
    assert t["area_km2"].isna().all()


def test_inputs_are_not_modified(counts_frame: pd.DataFrame) -> None:
    frame = counts_frame.copy(deep=True)
    attrs = copy.deepcopy(frame.attrs)
    pop = POP.copy()
    layer = squares()
    layer_before = layer.copy()
    area_indicators(frame, key=KEY, areas=layer, population=pop, as_of=T0 + DAY)
    city_indicators(frame, key=KEY, areas=layer, population=pop, as_of=T0 + DAY)
    time_patterns(frame, key=KEY, areas=layer, as_of=T0 + DAY)
    channel_mix(frame, key=KEY, areas=layer, as_of=T0 + DAY)
    pd.testing.assert_frame_equal(frame, counts_frame)
    assert frame.attrs == attrs
    pd.testing.assert_series_equal(pop, POP)
    pd.testing.assert_frame_equal(layer, layer_before)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"demand": "everyone"}, OptionError, r"demand must be one of \['all', 'proactive'"),
        ({"period": ("2025-03-05", "2025-03-01")}, OptionError, "must be before"),
        ({"period": ("2025-03-05",)}, OptionError, "pair"),
        ({"confidence": 1.5}, OptionError, "confidence"),
        ({"min_count": -1}, OptionError, "min_count"),
        ({"max_days": 0}, OptionError, "max_days"),
        ({"key": "district"}, SchemaError, r"district_id.*Layers present: \['ward'\]"),
        ({"as_of": "not a date"}, OptionError, "as_of"),
        ({"population": {"A": -5.0}}, DataError, "negative"),
        ({"sources": [1]}, TypeError, "sources"),
    ],
)
def test_invalid_arguments(counts_frame, kwargs, error, message) -> None:
    call = {"key": KEY, "as_of": T0 + DAY, **kwargs}
    with pytest.raises(error, match=message) as info:
        area_indicators(counts_frame, **call)
    assert "\n" not in str(info.value)  # one line for the CLI


def test_no_timestamps_and_no_as_of_is_a_data_error() -> None:
    never = pd.Series(pd.NaT, index=[0], dtype="datetime64[ns, UTC]")
    frame = make_requests([{}]).assign(requested_datetime=never, closed_datetime=never)
    with pytest.raises(DataError, match="pass as_of="):
        area_indicators(frame, key=KEY)


def test_schema_problems() -> None:
    frame = make_requests([{}])
    with pytest.raises(SchemaError, match="is_proactive"):
        area_indicators(frame.drop(columns="is_proactive"), key=KEY)
    naive = frame.assign(requested_datetime=frame["requested_datetime"].dt.tz_localize(None))
    with pytest.raises(SchemaError, match="timezone-aware"):
        area_indicators(naive, key=KEY, as_of=T0)
    with pytest.raises(SchemaError, match="area_id"):
        area_indicators(frame, key=KEY, areas=squares().drop(columns="area_id"), as_of=T0)
    no_crs = squares().set_crs(None, allow_override=True)
    with pytest.raises(geo311.CRSError, match="no CRS"):
        area_indicators(frame, key=KEY, areas=no_crs, as_of=T0)


# --------------------------------------------------------------------------- time patterns


@pytest.fixture
def pattern_frame() -> pd.DataFrame:
    return make_requests(
        [
            # 2025-03-10 03:30Z = Sunday 2025-03-09 23:30 EDT; closed Monday 10:00 EDT
            {
                "requested_datetime": pd.Timestamp("2025-03-10 03:30", tz="UTC"),
                "closed_datetime": pd.Timestamp("2025-03-10 14:00", tz="UTC"),
            },
            # 2025-02-01 03:00Z = Friday 2025-01-31 22:00 EST (January locally);
            # closed Monday 2025-02-03 10:00 EST
            {
                "requested_datetime": pd.Timestamp("2025-02-01 03:00", tz="UTC"),
                "closed_datetime": pd.Timestamp("2025-02-03 15:00", tz="UTC"),
                "source": pd.NA,
            },
        ]
    )


def test_time_patterns_are_in_local_time(pattern_frame: pd.DataFrame) -> None:
    as_of = pd.Timestamp("2025-04-01", tz="UTC")
    p = time_patterns(pattern_frame, key=KEY, areas=squares(), as_of=as_of)
    assert list(p.columns) == list(PATTERN_COLUMNS)
    assert p.index.name == "area_id"
    a = p.loc["A"]
    dow = a[a["pattern"] == "day_of_week"].set_index("bucket")
    assert dow.index.tolist()[0] == "Monday"
    assert dow["requests"].to_dict() == {
        "Monday": 0, "Tuesday": 0, "Wednesday": 0, "Thursday": 0,
        "Friday": 1, "Saturday": 0, "Sunday": 1,
    }  # fmt: skip
    assert dow.loc["Monday", "closures"] == 2
    assert dow.loc["Sunday", "share"] == 0.5
    hour = a[a["pattern"] == "hour"].set_index("bucket")
    assert len(hour) == 24
    assert hour.loc["23", "requests"] == hour.loc["22", "requests"] == 1
    assert hour.loc["10", "closures"] == 2
    month = a[a["pattern"] == "month"].set_index("bucket")
    # local months January to March (the UTC date of the January request is February 1)
    assert month.index.tolist() == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert month["requests"].tolist() == [1, 0, 1]
    assert month["closures"].tolist() == [0, 1, 1]
    assert month["bucket_order"].tolist() == [0, 1, 2]
    # every area gets the full grid: B and C with zeros and NaN shares
    b = p.loc["B"]
    assert len(b) == 7 + 24 + 3
    assert (b["requests"] == 0).all()
    assert b["share"].isna().all()
    assert p.attrs["geo311"]["timezone"] == TZ


def test_weekly_trend_and_period(pattern_frame: pd.DataFrame) -> None:
    as_of = pd.Timestamp("2025-04-01", tz="UTC")
    p = time_patterns(pattern_frame, key=KEY, freq="W-MON", as_of=as_of, timezone=TZ)
    week = p.loc["A"][p.loc["A"]["pattern"] == "week"].set_index("bucket")
    # Friday 31 Jan falls in the week of Monday 27 Jan; Sunday 9 Mar in the week of 3 Mar
    assert week.index[0] == "2025-01-27"
    assert week.index[-1] == "2025-03-03"
    assert len(week) == 6
    assert week.loc["2025-01-27", "requests"] == week.loc["2025-03-03", "requests"] == 1
    assert week.loc["2025-02-03", "closures"] == 1  # Monday 3 Feb, 10:00 local
    assert week["closures"].sum() == 1  # 10 Mar is after the last week shown
    q = time_patterns(
        pattern_frame, key=KEY, as_of=as_of, period=("2025-02-01", "2025-04-01"), city=True
    )
    assert set(q.index) == {CITY_ID}
    month = q[q["pattern"] == "month"].set_index("bucket")
    assert month.index.tolist() == ["2025-02-01", "2025-03-01"]
    assert month["requests"].tolist() == [0, 1]  # the January request is outside the period


def test_time_patterns_need_a_timezone(pattern_frame: pd.DataFrame) -> None:
    frame = pattern_frame.copy()
    frame.attrs = {}
    with pytest.raises(OptionError, match="time zone"):
        time_patterns(frame, key=KEY)


def test_channel_mix(pattern_frame: pd.DataFrame) -> None:
    rows = [{"source": "phone"}, {"source": "web"}, {"source": "phone"}, {"source": pd.NA}]
    rows += [{"ward_id": "B", "source": "phone"}]
    rows += [{"source": "internal", "is_proactive": True}]
    frame = make_requests(rows)
    mix = channel_mix(frame, key=KEY, areas=squares(), as_of=T0 + DAY)
    a = mix.loc["A"].set_index("source")
    # resident demand: phone 2, web 1, unknown 1 of 4
    assert a.index.tolist() == ["(unknown)", "phone", "web"]
    assert a["requests"].tolist() == [1, 2, 1]
    np.testing.assert_allclose(a["share"], [0.25, 0.5, 0.25])
    assert mix.loc["B"].set_index("source")["share"].tolist() == [0.0, 1.0, 0.0]
    assert mix.loc["C"]["share"].isna().all()
    everyone = channel_mix(frame, key=KEY, as_of=T0 + DAY, demand="all", city=True)
    assert everyone.set_index("source")["requests"].to_dict() == {
        "(unknown)": 1, "internal": 1, "phone": 3, "web": 1,
    }  # fmt: skip


def test_service_mix_ranks_types_per_area() -> None:
    rows = [{"service_name": n} for n in ("Rats", "Pothole", "Rats", "Graffiti", "Pothole")]
    rows += [{"service_name": "Rats"}, {"service_name": pd.NA, "service_code": "X9"}]
    rows += [{"ward_id": "B", "service_name": pd.NA, "service_code": pd.NA}]
    rows += [{"ward_id": "B", "service_name": "Rats", "is_duplicate": True}]
    frame = make_requests(rows)
    before = frame.copy()
    top = service_mix(frame, key=KEY, areas=squares(), as_of=T0 + DAY, top=2)
    pd.testing.assert_frame_equal(frame, before)
    # A: Rats 3, Pothole 2, then Graffiti 1 and X9 1 (cut); the duplicate is not counted
    a = top.loc[["A"]]
    assert a["rank"].tolist() == [1, 2]
    assert a["service_type"].tolist() == ["Rats", "Pothole"]
    assert a["requests"].tolist() == [3, 2]
    np.testing.assert_allclose(a["share"], [3 / 7, 2 / 7])
    assert top.loc[["B"]]["service_type"].tolist() == ["(unknown)"]
    assert "C" not in top.index  # no requests, no rows
    # ties are broken by name: Graffiti before X9 at 1 each
    third = service_mix(frame, key=KEY, areas=squares(), as_of=T0 + DAY, top=4).loc[["A"]]
    assert third["service_type"].tolist() == ["Rats", "Pothole", "Graffiti", "X9"]
    every = service_mix(frame, key=KEY, areas=squares(), as_of=T0 + DAY, top=None)
    assert "rank" not in every
    assert len(every) == 3 * 5  # 3 areas x 5 types seen, zeros included
    assert every.groupby(level=0)["requests"].sum().to_dict() == {"A": 7, "B": 1, "C": 0}
    city = service_mix(frame, key=KEY, as_of=T0 + DAY, city=True, top=1)
    assert city.index.tolist() == ["city"]
    assert city["requests"].tolist() == [3]
    with pytest.raises(OptionError, match="top must be"):
        service_mix(frame, key=KEY, as_of=T0 + DAY, top=0)


def test_service_mix_with_more_types_than_one_byte_holds() -> None:
    # 200 names and a code-only type numbered after them: the codes, stored narrow, must not wrap
    rows = [{"service_name": f"Type {k:03d}"} for k in range(200)]
    rows += [{"service_name": pd.NA, "service_code": "Z1"}] * 2
    every = service_mix(make_requests(rows), key=KEY, as_of=T0 + DAY, city=True, top=None)
    counts = every.set_index("service_type")["requests"]
    assert len(counts) == 201
    assert counts["Z1"] == 2
    assert counts["Type 199"] == 1


# --------------------------------------------------------------------------- simulation


def test_poisson_interval_covers_the_true_rate() -> None:
    # 2,000 areas of 1,000 residents with true rates 2..40 per 1,000: one Poisson draw each.
    rng = np.random.default_rng(20250101)
    n_areas = 2000
    true_rate = rng.uniform(2, 40, n_areas)  # per 1,000 residents = expected count
    counts = rng.poisson(true_rate)
    ids = np.array([f"W{i:04d}" for i in range(n_areas)], dtype=object)
    frame = make_requests([{}])  # template row
    frame = frame.loc[np.zeros(int(counts.sum()), int)].reset_index(drop=True)
    frame["ward_id"] = pd.array(np.repeat(ids, counts), dtype="string")
    frame["service_request_id"] = pd.array([f"S{i}" for i in range(len(frame))], dtype="string")
    pop = pd.Series(1000.0, index=ids)
    t = area_indicators(frame, key=KEY, population=pop, as_of=T0 + DAY, min_count=0)
    t = t.loc[ids]
    assert (t["requests"].to_numpy() == counts).all()
    covered = (t["rate_per_1k_ci_low"] <= true_rate) & (true_rate <= t["rate_per_1k_ci_high"])
    assert covered.mean() >= 0.94


def test_km_median_unbiased_under_censoring_closed_only_biased_low() -> None:
    # 8,000 requests filed uniformly over the 20 days before as_of, exponential time to
    # close with mean 5 days: true median 5 ln 2 = 3.466 days; ~25% still open at as_of.
    rng = np.random.default_rng(42)
    n = 8000
    as_of = T0 + 20 * DAY
    created = as_of - pd.to_timedelta(rng.uniform(0, 20, n), unit="D")
    closes = created + pd.to_timedelta(rng.exponential(5.0, n), unit="D")
    frame = make_requests([{}]).loc[np.zeros(n, int)].reset_index(drop=True)
    frame["service_request_id"] = pd.array([f"S{i}" for i in range(n)], dtype="string")
    frame["requested_datetime"] = pd.Series(created).dt.tz_convert("UTC").to_numpy()
    closed = closes.where(closes <= as_of)
    frame["closed_datetime"] = pd.to_datetime(closed, utc=True)
    frame["status"] = pd.array(np.where(closed.isna(), "open", "closed"), dtype="string")
    t = area_indicators(frame, key=KEY, as_of=as_of)
    truth = 5.0 * math.log(2.0)
    assert abs(t.loc["A", "ttc_median_days"] / truth - 1) < 0.05
    assert t.loc["A", "ttc_median_days_closed_only"] < 0.9 * truth
    assert t.loc["A", "ttc_median_days_ci_low"] < truth < t.loc["A", "ttc_median_days_ci_high"]


# --------------------------------------------------------------------------- end to end


def test_demo_city_end_to_end(demo_site) -> None:
    paths = demo_site  # the session's demo (tests/conftest.py), built once
    requests = gpd.read_parquet(paths["requests"])
    city = make_demo_city(seed=DEMO_SEED, n_requests=DEMO_REQUESTS)
    layers = demo_layers(city)
    tracts = city.layers["census_tracts"]
    # (a crude stand-in denominator: the real one comes from geo311.population)
    pop = pd.Series(30_000.0 / 14, index=layers["council_districts"][0].gdf["area_id"])
    t = area_indicators(
        requests,
        key="council_districts",
        areas=layers["council_districts"][0],
        population=pop,
        as_of=city.as_of,
    )
    assert len(t) == 14
    meta = t.attrs["geo311"]
    assert meta["rows"]["ttc_excluded_negative"] == int(
        (requests["qa_flags"].str.contains("closed_before_created")
         & ~requests["is_duplicate"] & ~requests["is_transfer"]
         & requests["council_districts_id"].notna()).sum()
    )  # fmt: skip
    assert meta["rows"]["duplicates_excluded"] > 0
    assert t["requests"].sum() == meta["rows"]["counted"]
    assert (t["ttc_median_days"] >= t["ttc_median_days_ci_low"]).all()
    city_row = city_indicators(requests, key="council_districts", as_of=city.as_of)
    assert city_row.loc[CITY_ID, "requests"] == t["requests"].sum()
    assert city_row.loc[CITY_ID, "ttc_type_adjusted_ratio"] == pytest.approx(1.0)
    assert len(tracts) == 180


def test_empty_requests_give_a_full_table_of_zeros() -> None:
    empty = make_requests([{}]).iloc[:0]
    t = area_indicators(empty, key=KEY, areas=squares(), population=POP, as_of=T0)
    assert t.index.tolist() == ["A", "B", "C"]
    assert (t["requests"] == 0).all()
    assert t["rate_per_1k"].tolist()[:2] == [0.0, 0.0]
    assert t["ttc_median_days"].isna().all()
    assert time_patterns(empty, key=KEY, areas=squares(), as_of=T0)["requests"].sum() == 0
    assert channel_mix(empty, key=KEY, areas=squares(), as_of=T0).empty


def test_benchmark_script_runs_small(tmp_path, capsys) -> None:
    with script_module("bench_indicators") as module:
        argv = ["--rows", "4000", "--areas", "20", "--districts", "4", "--no-peak-reset"]
        argv += ["--out", str(tmp_path), "--dtypes", "canonical"]
        assert module.main(argv) == 0
        frame = module.canonical_dtypes(module.make_requests(50, 20, np.arange(20) // 5, 1))
    assert isinstance(frame["neighborhoods_id"].dtype, pd.CategoricalDtype)
    assert isinstance(frame["status"].dtype, pd.CategoricalDtype)
    report = json.loads((tmp_path / "bench_indicators.json").read_text(encoding="utf-8"))
    assert report["rows"] == 4000
    assert report["dtypes"] == "canonical"
    separate = [s for s in report["steps"] if s["separate_call"]]
    assert len(separate) == 7
    assert report["steps"][0]["rows_out"] == 20
    shared = next(s for s in report["steps"] if s["step"].endswith("selection shared"))
    assert shared["rows_out"] == sum(s["rows_out"] for s in separate)
    assert report["peak_rss_mib"] > 0
    assert "| **all indicators** |" in capsys.readouterr().out

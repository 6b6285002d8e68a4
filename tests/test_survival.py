"""Grouped Kaplan-Meier / Nelson-Aalen (geo311.indicators.survival): hand arithmetic and lifelines parity.

lifelines is the reference implementation (a dev dependency only).  Its
``KaplanMeierFitter`` defaults -- exponential Greenwood (log(-log)) bands at
95%, median = first time S <= 0.5, median CI = where each band reaches 0.5
(``median_survival_times(kmf.confidence_interval_)``), S at a time = the step
value at the last timeline point <= t -- are what geo311.indicators.survival implements.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import KaplanMeierFitter, NelsonAalenFitter
from lifelines.utils import median_survival_times, qth_survival_times

from geo311._errors import InputError, OptionError
from geo311.indicators import survival_batches
from geo311.indicators.survival import TimeOrder, _segmented_cumsum, survival_curves
from geo311.indicators.survival_batches import curve_batches, hazard_at_observations

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)
HORIZONS = [0.0, 0.5, 1.0, 2.5, 7.0, 30.0]


def _lifelines(durations, events):
    """Median, its CI, p90 (inf when not reached), S at HORIZONS, curve and bands."""
    kmf = KaplanMeierFitter().fit(np.asarray(durations, float), np.asarray(events, bool))
    ci = median_survival_times(kmf.confidence_interval_)
    return {
        "median": kmf.median_survival_time_,
        "ci_low": ci.iloc[0, 0],
        "ci_high": ci.iloc[0, 1],
        "p90": qth_survival_times(0.1, kmf.survival_function_),
        "at": kmf.survival_function_at_times(HORIZONS).to_numpy(),
        "time": kmf.survival_function_.index.to_numpy(),
        "survival": kmf.survival_function_.iloc[:, 0].to_numpy(),
        "lower": kmf.confidence_interval_.iloc[:, 0].to_numpy(),
        "upper": kmf.confidence_interval_.iloc[:, 1].to_numpy(),
    }


def _assert_matches_lifelines(durations, events) -> None:
    km = survival_curves(durations, events)
    ref = _lifelines(durations, events)
    low, high = km.median_ci(not_reached=np.inf)
    ours = [km.median(not_reached=np.inf)[0], low[0], high[0]]
    ours.append(km.time_at_survival(0.1, not_reached=np.inf)[0])
    theirs = [ref["median"], ref["ci_low"], ref["ci_high"], ref["p90"]]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(km.survival_at(HORIZONS)[0], ref["at"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(km.time, ref["time"])
    np.testing.assert_allclose(km.survival, ref["survival"], rtol=0, atol=1e-12)
    lower, upper = km.confidence_bands()
    np.testing.assert_allclose(lower, ref["lower"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(upper, ref["upper"], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- by hand


def test_hand_computed_curve_with_a_tie_of_event_and_censoring() -> None:
    # durations 2, 4, 4, 6; the second 4 and the 6 are censored (still open).
    km = survival_curves([2.0, 4.0, 4.0, 6.0], [True, True, False, False])
    # timeline 0, 2, 4, 6; at risk 4, 4, 3, 1 (the censored 4 is at risk at 4)
    assert km.time.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert km.at_risk.tolist() == [4, 4, 3, 1]
    assert km.events.tolist() == [0, 1, 1, 0]
    assert km.censored.tolist() == [0, 0, 1, 1]
    # S(2) = 3/4; S(4) = 3/4 * (3-1)/3 = 1/2; S(6) = 1/2 (censoring only)
    np.testing.assert_allclose(km.survival, [1.0, 0.75, 0.5, 0.5], atol=1e-15)
    # Greenwood: 1/(4*3) at 2; + 1/(3*2) at 4 -> 1/12 + 1/6 = 1/4
    np.testing.assert_allclose(km.greenwood, [0.0, 1 / 12, 0.25, 0.25], atol=1e-15)
    # Nelson-Aalen: 1/4 at 2; + 1/3 at 4 = 7/12
    np.testing.assert_allclose(km.cumulative_hazard, [0.0, 0.25, 7 / 12, 7 / 12], atol=1e-15)
    # median: first time with S <= 0.5 -> 4; p90 never reached (S ends at 0.5)
    assert km.median().tolist() == [4.0]
    assert math.isnan(km.time_at_survival(0.1)[0])
    assert km.time_at_survival(0.1, not_reached=np.inf).tolist() == [np.inf]
    # band at t = 4: v = ln 0.5, se = sqrt(1/4) = 0.5, c = z * se / v
    v = math.log(0.5)
    c = Z95 * 0.5 / v
    lower = math.exp(-math.exp(math.log(-v) - c))  # = exp(-exp(1.0473)) = 0.0578
    upper = math.exp(-math.exp(math.log(-v) + c))  # = exp(-exp(-1.7803)) = 0.8448
    lo_band, hi_band = km.confidence_bands()
    assert lo_band[2] == pytest.approx(lower, abs=1e-12)
    assert hi_band[2] == pytest.approx(upper, abs=1e-12)
    assert lo_band[0] == hi_band[0] == 1.0  # S = 1: the band is 1
    # S between timeline points is the step value: S(3.9) = S(2) = 0.75
    np.testing.assert_allclose(
        km.survival_at([1.0, 3.9, 4.0, 100.0]), [[1.0, 0.75, 0.5, 0.5]], atol=1e-15
    )
    _assert_matches_lifelines([2.0, 4.0, 4.0, 6.0], [True, True, False, False])


def test_median_ci_uses_where_each_band_reaches_one_half() -> None:
    durations = np.arange(1.0, 21.0)  # 1..20 days, all closed
    km = survival_curves(durations)
    lower, upper = km.confidence_bands()
    low, high = km.median_ci()
    # low = first time the lower band is <= 0.5; high = first time the upper band is
    assert low[0] == durations[np.argmax(lower[1:] <= 0.5)]
    assert high[0] == durations[np.argmax(upper[1:] <= 0.5)]
    assert low[0] <= km.median()[0] <= high[0]
    _assert_matches_lifelines(durations, np.ones(20, bool))


@pytest.mark.parametrize(
    ("durations", "events"),
    [
        pytest.param([3.0, 5.0, 8.0], [False, False, False], id="all-censored"),
        pytest.param([4.0], [True], id="single-event"),
        pytest.param([4.0], [False], id="single-censored"),
        pytest.param([0.0, 0.0, 0.0], [True, True, True], id="all-closed-instantly"),
        pytest.param([0.0, 1.0, 1.0, 2.0], [True, True, False, True], id="zero-and-ties"),
        pytest.param([1.0, 1.0, 1.0, 2.0, 2.0], [True, False, True, False, True], id="heavy-ties"),
        pytest.param([2.0, 2.0], [True, True], id="all-fail-at-once"),
        pytest.param([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [True] * 6, id="S-exactly-one-half"),
    ],
)
def test_edge_cases_match_lifelines(durations, events) -> None:
    _assert_matches_lifelines(durations, events)


def test_all_censored_and_instant_closures_by_hand() -> None:
    km = survival_curves([3.0, 5.0, 8.0], [False, False, False])
    assert km.survival.tolist() == [1.0, 1.0, 1.0, 1.0]  # nothing ever closed
    assert math.isnan(km.median()[0])  # "not estimable"
    assert np.isnan(km.median_ci()).all()
    instant = survival_curves([0.0, 0.0, 0.0], [True, True, True])
    # one row at time 0: n = 3, d = 3 -> S(0) = 0; median 0; Greenwood step n = d adds 0
    assert instant.time.tolist() == [0.0]
    assert instant.survival.tolist() == [0.0]
    assert instant.median().tolist() == [0.0]
    assert instant.greenwood.tolist() == [0.0]
    assert instant.survival_at([0.0, 1.0]).tolist() == [[0.0, 0.0]]


def test_single_observation() -> None:
    km = survival_curves([4.0], [True])
    # S = 1 on [0, 4), 0 from 4: the median and both CI limits are 4
    assert km.survival.tolist() == [1.0, 0.0]
    assert km.median().tolist() == [4.0]
    assert [v[0] for v in km.median_ci()] == [4.0, 4.0]


# --------------------------------------------------------------------------- groups


def _random_groups(rng: np.random.Generator, k: int):
    data = []
    for _ in range(k):
        n = int(rng.integers(1, 40))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            d = rng.integers(0, 8, n).astype(float)  # many ties, zeros
        elif kind == 1:
            d = np.round(rng.exponential(3, n), 1)
        else:
            d = rng.exponential(3, n)
        e = rng.random(n) < rng.uniform(0, 1)
        data.append((d, e))
    return data


@pytest.mark.parametrize("seed", range(12))
def test_grouped_fit_matches_lifelines_per_group(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = _random_groups(rng, int(rng.integers(1, 7)))
    durations = np.concatenate([d for d, _ in data])
    events = np.concatenate([e for _, e in data])
    groups = np.concatenate([np.full(len(d), g) for g, (d, _) in enumerate(data)])
    shuffle = rng.permutation(durations.size)  # input order must not matter
    km = survival_curves(durations[shuffle], events[shuffle], groups=groups[shuffle])
    median = km.median(not_reached=np.inf)
    low, high = km.median_ci(not_reached=np.inf)
    p90 = km.time_at_survival(0.1, not_reached=np.inf)
    at = km.survival_at(HORIZONS)
    lower, upper = km.confidence_bands()
    for g, (d, e) in enumerate(data):
        ref = _lifelines(d, e)
        got = [median[g], low[g], high[g], p90[g]]
        np.testing.assert_allclose(
            got, [ref["median"], ref["ci_low"], ref["ci_high"], ref["p90"]], atol=1e-9, rtol=0
        )
        np.testing.assert_allclose(at[g], ref["at"], atol=1e-9, rtol=0)
        rows = slice(km.offsets[g], km.offsets[g + 1])
        np.testing.assert_array_equal(km.time[rows], ref["time"])
        np.testing.assert_allclose(km.survival[rows], ref["survival"], atol=1e-12, rtol=0)
        np.testing.assert_allclose(lower[rows], ref["lower"], atol=1e-12, rtol=0)
        np.testing.assert_allclose(upper[rows], ref["upper"], atol=1e-12, rtol=0)
        naf = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(d, e)
        np.testing.assert_allclose(
            km.cumulative_hazard[rows], naf.cumulative_hazard_.iloc[:, 0], atol=1e-12, rtol=0
        )


def test_ties_exactly_at_one_half_follow_lifelines_rounding() -> None:
    # 1..n all closed: S = 1/2 exactly after n/2 closures in exact arithmetic, but
    # the floating-point product lands either side of 0.5; the arithmetic is done
    # in lifelines' order, so the median agrees with lifelines bit for bit.
    for n in range(2, 41, 2):
        _assert_matches_lifelines(np.arange(1.0, n + 1), np.ones(n, bool))


def test_empty_groups_give_nan() -> None:
    km = survival_curves([1.0, 2.0], [True, True], groups=[2, 2], n_groups=4)
    assert km.offsets.tolist() == [0, 0, 0, 3, 3]  # group 2 owns rows 0 (birth), 1, 2
    assert np.isnan(km.median()[:2]).all()
    assert km.median()[2] == 1.0  # S(1) = 1/2
    assert np.isnan(km.survival_at([1.0])[[0, 1, 3]]).all()
    assert km.n_observations.tolist() == [0, 0, 2, 0]
    assert km.n_events.tolist() == [0, 0, 2, 0]


def test_no_observations_at_all() -> None:
    km = survival_curves(np.array([]), np.array([], bool), groups=np.array([], int), n_groups=3)
    assert km.time.size == 0
    assert np.isnan(km.median()).all()
    assert np.isnan(km.survival_at([1.0])).all()


def test_negative_horizon_is_before_the_timeline() -> None:
    km = survival_curves([1.0, 2.0])
    assert np.isnan(km.survival_at([-1.0])[0, 0])


def test_order_argument_gives_the_same_curves() -> None:
    rng = np.random.default_rng(7)
    d = np.round(rng.exponential(2.0, 500), 2)
    e = rng.random(500) < 0.8
    g = rng.integers(0, 9, 500)
    plain = survival_curves(d, e, groups=g)
    given_order = survival_curves(d, e, groups=g, order=np.argsort(d, kind="stable"))
    for name in ("time", "group", "at_risk", "events", "survival", "greenwood"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(given_order, name))


def test_cumulative_hazard_over_the_observations_sums_to_the_events() -> None:
    # sum_i H(t_i) = sum_j d_j / n_j * #{i: t_i >= t_j} = sum_j d_j: the O/E balance
    rng = np.random.default_rng(11)
    d = np.round(rng.exponential(4.0, 3000), 1)
    e = rng.random(3000) < 0.7
    g = rng.integers(0, 5, 3000)
    km = survival_curves(d, e, groups=g)
    per_obs = km.cumulative_hazard_at_observations()
    np.testing.assert_allclose(per_obs, km.cumulative_hazard_at(g, d), atol=0, rtol=0)
    np.testing.assert_allclose(
        np.bincount(g, weights=per_obs), np.bincount(g, weights=e), rtol=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 1)),
            st.booleans(),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_grouped_equals_one_fit_per_group(rows) -> None:
    g = np.array([r[0] for r in rows])
    d = np.array([r[1] for r in rows])
    e = np.array([r[2] for r in rows])
    km = survival_curves(d, e, groups=g, n_groups=4)
    for k in range(4):
        mask = g == k
        if not mask.any():
            assert np.isnan(km.median()[k])
            continue
        one = survival_curves(d[mask], e[mask])
        rows_k = slice(km.offsets[k], km.offsets[k + 1])
        np.testing.assert_array_equal(km.survival[rows_k], one.survival)
        np.testing.assert_array_equal(km.greenwood[rows_k], one.greenwood)
        np.testing.assert_array_equal(km.median_ci()[0][k], one.median_ci()[0][0])


def test_curve_batches_are_bitwise_one_fit_of_every_group(monkeypatch: pytest.MonkeyPatch) -> None:
    # 12 groups: empty ones, one larger than a batch, ties and censoring
    rng = np.random.default_rng(5)
    sizes = [40, 0, 7, 300, 0, 55, 1, 90, 0, 33, 12, 60]
    g = np.repeat(np.arange(12), sizes)
    rng.shuffle(g)
    d = np.round(rng.exponential(3.0, g.size), 1)
    e = rng.random(g.size) < 0.75
    positions = np.argsort(d).astype(np.int32)
    order = TimeOrder(positions, d[positions], e[positions])
    whole = survival_curves(d, e, groups=g, n_groups=12, order=order)
    batches = list(curve_batches(d, e, groups=g, n_groups=12, order=order, most=100))
    # consecutive groups of at most 100 observations; the group of 300 alone
    assert [(b.start, b.curves.n_groups) for b in batches] == [
        (0, 3),
        (3, 1),
        (4, 3),
        (7, 2),
        (9, 2),
        (11, 1),
    ]
    per_group = {
        "median": lambda km: km.median(),
        "p90": lambda km: km.time_at_survival(0.1),
        "ci_low": lambda km: km.median_ci()[0],
        "ci_high": lambda km: km.median_ci()[1],
        "n": lambda km: km.n_observations,
        "at": lambda km: km.survival_at([0.5, 2.0, 7.0]),
    }
    for name, of in per_group.items():
        joined = np.concatenate([of(b.curves) for b in batches])
        assert joined.tobytes() == of(whole).tobytes(), name
    assert all(np.all(np.diff(b.observations) > 0) for b in batches)
    monkeypatch.setattr(survival_batches, "BATCH_OBSERVATIONS", 100)
    hazard = hazard_at_observations(d, e, groups=g, n_groups=12, order=order)
    assert hazard.tobytes() == whole.cumulative_hazard_at_observations().tobytes()
    # within a batch: one call, as survival_curves makes it
    (one,) = curve_batches(d, e, groups=g, n_groups=12, order=order, most=g.size)
    assert one.start == 0
    assert one.observations is None
    assert one.curves.survival.tobytes() == whole.survival.tobytes()


def test_segmented_cumsum_is_bitwise_per_segment() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 300, 50)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = rng.normal(size=int(offsets[-1]))
    out = _segmented_cumsum(values, offsets)
    for a, b in itertools.pairwise(offsets):
        np.testing.assert_array_equal(out[a:b], np.cumsum(values[a:b]))


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"durations": [1.0, -2.0]}, "negative"),
        ({"durations": [1.0, np.nan]}, "NaN or infinite"),
        ({"durations": [1.0, 2.0], "events": [True]}, "events has 1 values"),
        ({"durations": [1.0, 2.0], "groups": [0.5, 1.0]}, "integer codes"),
        ({"durations": [1.0, 2.0], "groups": [0, 3], "n_groups": 2}, r"\[0, 2\)"),
        ({"durations": [1.0, 2.0], "order": [0]}, "order has 1"),
    ],
)
def test_invalid_inputs_raise(kwargs, message) -> None:
    with pytest.raises(InputError, match=message):
        survival_curves(**kwargs)


def test_several_problems_are_reported_at_once() -> None:
    with pytest.raises(InputError, match=r"events has .*; 1 durations are NaN") as info:
        survival_curves([1.0, np.nan, -1.0], [True])
    assert "negative" in str(info.value)


def test_invalid_levels_raise() -> None:
    km = survival_curves([1.0])
    with pytest.raises(OptionError, match="level"):
        km.time_at_survival(1.5)
    with pytest.raises(OptionError, match="confidence"):
        km.confidence_bands(confidence=1.0)
    with pytest.raises(InputError, match="same shape"):
        km.cumulative_hazard_at([0, 0], [1.0])


def test_inputs_are_not_modified() -> None:
    d = np.array([3.0, 1.0, 2.0])
    e = np.array([True, False, True])
    g = np.array([1, 0, 1])
    copies = (d.copy(), e.copy(), g.copy())
    survival_curves(d, e, groups=g)
    for before, after in zip(copies, (d, e, g), strict=True):
        np.testing.assert_array_equal(before, after)


# --------------------------------------------------------------------------- simulation


def test_km_median_recovers_censored_exponential_and_closed_only_is_biased_low() -> None:
    # Requests created uniformly over the 20 days before the export, exponential
    # time to close with mean 5 days: true median 5 ln 2 = 3.466 days.  About a
    # quarter are still open at the export (censored at its time).
    rng = np.random.default_rng(2024)
    n = 20_000
    truth = 5.0 * math.log(2.0)
    close = rng.exponential(5.0, n)
    follow_up = rng.uniform(0.0, 20.0, n)
    event = close <= follow_up
    observed = np.where(event, close, follow_up)
    km = survival_curves(observed, event)
    assert abs(km.median()[0] / truth - 1) < 0.05
    closed_only = float(np.median(observed[event]))
    assert closed_only < 0.9 * truth  # biased low: long closures are still open

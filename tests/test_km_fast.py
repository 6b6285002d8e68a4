"""The fast paths of the Kaplan-Meier fit give exactly what the straightforward arithmetic gives."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from geo311._errors import InputError
from geo311.indicators.survival import (
    _LONG_SEGMENT,
    TimeOrder,
    _segmented_cumsum,
    survival_curves,
)
from geo311.indicators.time_to_close import _closed_only_median, _counts_at


def test_segmented_cumsum_is_bitwise_for_long_and_short_segments() -> None:
    rng = np.random.default_rng(11)
    lengths = np.concatenate(
        [rng.integers(0, 40, 30), [_LONG_SEGMENT - 1, _LONG_SEGMENT, 3 * _LONG_SEGMENT + 7, 0, 1]]
    )
    rng.shuffle(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = rng.normal(size=int(offsets[-1])) * 10.0 ** rng.integers(-8, 8, int(offsets[-1]))
    out = _segmented_cumsum(values, offsets)
    for a, b in itertools.pairwise(offsets):
        assert out[a:b].tobytes() == np.cumsum(values[a:b]).tobytes()


def _by_hand(durations, events):
    """One curve the textbook way: a Python loop over the distinct times."""
    times = np.unique(np.concatenate([[0.0], durations]))
    log_s = var = haz = 0.0
    rows = []
    for t in times:
        n = int((durations >= t).sum())
        d = int(((durations == t) & events).sum())
        with np.errstate(divide="ignore"):  # every subject at risk fails: S = 0
            log_s += np.log(n - d) - np.log(n)
        var += d / (n * (n - d)) if n - d else 0.0
        haz += d / n if n else 0.0
        rows.append((t, n, d, np.exp(log_s), var, haz))
    return np.array(rows)


@pytest.mark.parametrize("n_groups", [1, 3, 40])
def test_grouped_fit_equals_a_loop_over_times(n_groups: int) -> None:
    rng = np.random.default_rng(n_groups)
    size = 1500 if n_groups == 1 else 400  # one group: a segment past _LONG_SEGMENT
    durations = np.round(rng.exponential(5.0, size), 1)
    durations[:5] = 0.0  # closures at time 0 share the birth row
    events = rng.random(size) < 0.7
    groups = rng.integers(0, n_groups, size)
    km = survival_curves(durations, events, groups=groups, n_groups=n_groups + 1)
    assert km.n_observations[-1] == 0  # a trailing empty group
    for g in range(n_groups):
        mine = slice(km.offsets[g], km.offsets[g + 1])
        ref = _by_hand(durations[groups == g], events[groups == g])
        np.testing.assert_array_equal(km.time[mine], ref[:, 0])
        np.testing.assert_array_equal(km.at_risk[mine], ref[:, 1])
        np.testing.assert_array_equal(km.events[mine], ref[:, 2])
        np.testing.assert_allclose(km.survival[mine], ref[:, 3], rtol=1e-12)
        np.testing.assert_allclose(km.greenwood[mine], ref[:, 4], rtol=1e-12)
        np.testing.assert_allclose(km.cumulative_hazard[mine], ref[:, 5], rtol=1e-12)
    rows = km.observation_rows
    np.testing.assert_array_equal(km.group[rows], groups)
    np.testing.assert_array_equal(km.time[rows], durations)


def test_bands_at_some_rows_are_the_whole_bands_there() -> None:
    rng = np.random.default_rng(5)
    durations = np.round(rng.exponential(3.0, 3000), 2)
    events = rng.random(3000) < 0.8
    km = survival_curves(durations, events, groups=rng.integers(0, 7, 3000))
    lower, upper = km.confidence_bands(confidence=0.9)
    rows = rng.integers(0, km.time.size, 200)
    part_lower, part_upper = km.confidence_bands(confidence=0.9, rows=rows)
    assert part_lower.tobytes() == lower[rows].tobytes()
    assert part_upper.tobytes() == upper[rows].tobytes()
    searched = km.median_ci(confidence=0.9)  # bands evaluated where the search reads them
    given = km.median_ci(bands=(lower, upper))
    for mine, whole in zip(searched, given, strict=True):
        np.testing.assert_array_equal(mine, whole)


def test_followed_and_closed_by_a_horizon_read_off_the_table() -> None:
    rng = np.random.default_rng(8)
    durations = rng.choice([0.0, 0.5, 1.0, 1.0, 3.0, 7.0, 7.0, 12.5, 30.0, 45.0], 2000)
    events = rng.random(2000) < 0.6
    codes = rng.integers(0, 9, 2000)
    codes[codes == 4] = 5  # an empty group
    km = survival_curves(durations, events, groups=codes, n_groups=9)
    horizons = np.array([0.0, 1.0, 2.0, 7.0, 30.0, 60.0])
    groups = np.repeat(np.arange(9), horizons.size)
    queries = np.tile(horizons, 9)
    followed, closed_by = _counts_at(km, groups, queries, km._rows_at(groups, queries))
    for g, h, f, c in zip(groups, queries, followed, closed_by, strict=True):
        mine = codes == g
        assert f == (mine & (durations >= h)).sum()
        assert c == (mine & events & (durations <= h)).sum()


def test_survival_is_bitwise_the_textbook_product_limit() -> None:
    rng = np.random.default_rng(21)
    durations = np.round(rng.exponential(4.0, 2500), 1)
    events = rng.random(2500) < 0.75
    groups = rng.integers(0, 6, 2500)
    durations[groups == 5] = 2.0  # every request of group 5 closes at once: S falls to 0
    events[groups == 5] = True
    km = survival_curves(durations, events, groups=groups)
    n, d = km.at_risk, km.events
    with np.errstate(divide="ignore"):
        step = np.log(n - d) - np.log(n)
    expected = np.concatenate(
        [np.exp(np.cumsum(step[a:b])) for a, b in itertools.pairwise(km.offsets)]
    )
    rows = rng.integers(0, km.time.size, 300)
    assert km.survival_of(rows).tobytes() == expected[rows].tobytes()  # before the whole curve
    assert km.survival.tobytes() == expected.tobytes()
    assert km.survival_of(rows).tobytes() == expected[rows].tobytes()  # after it
    assert km.survival[km.offsets[-1] - 1] == 0.0


def test_closed_only_median_reads_the_closures_off_the_table() -> None:
    rng = np.random.default_rng(13)
    durations = rng.choice([0.0, 0.25, 1.0, 1.0, 2.5, 4.0, 9.0], 900) + rng.integers(0, 3, 900)
    events = rng.random(900) < 0.55
    codes = rng.integers(0, 8, 900)
    events[codes == 2] = False  # a group without closures
    codes[codes == 6] = 7  # an empty group
    km = survival_curves(durations, events, groups=codes, n_groups=8)
    closed = np.bincount(codes[events], minlength=8)
    got = _closed_only_median(km, closed)
    for g in range(8):
        mine = durations[(codes == g) & events]
        if mine.size:
            assert got[g] == np.median(mine)
        else:
            assert np.isnan(got[g])


@pytest.mark.parametrize("n_groups", [1, 5])
def test_a_time_order_with_its_values_gives_the_same_fit(n_groups: int) -> None:
    rng = np.random.default_rng(30 + n_groups)
    durations = np.round(rng.exponential(3.0, 1200), 1)
    events = rng.random(1200) < 0.7
    groups = rng.integers(0, n_groups, 1200)
    order = np.argsort(durations)
    given = TimeOrder(order, durations[order], events[order])
    plain = survival_curves(durations, events, groups=groups, n_groups=n_groups + 1)
    fast = survival_curves(durations, events, groups=groups, n_groups=n_groups + 1, order=given)
    for name in ("offsets", "group", "time", "at_risk", "events", "censored", "survival"):
        assert getattr(fast, name).tobytes() == getattr(plain, name).tobytes(), name
    assert fast.observation_rows.tobytes() == plain.observation_rows.tobytes()
    short = TimeOrder(order, durations[order][:-1], events[order])
    with pytest.raises(InputError, match="order has 1199 values for 1200 durations"):
        survival_curves(durations, events, groups=groups, order=short)

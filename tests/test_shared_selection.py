"""The selection shared by the tables of a run changes no figure and cannot go stale."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_indicators import DAY, POP, T0, make_requests, squares

from geo311.indicators import (
    area_indicators,
    channel_mix,
    city_indicators,
    group_indicators,
    service_mix,
    time_patterns,
)
from geo311.indicators.shared import Same, remember, shared_selection

AS_OF = T0 + 30 * DAY


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Three wards, two channels, two types, some closed, a duplicate, one unassigned."""
    rng = np.random.default_rng(15)
    rows = []
    for i in range(60):
        closed = T0 + pd.Timedelta(hours=float(rng.uniform(1, 400))) if i % 3 else pd.NaT
        rows.append(
            {
                "ward_id": "ABC"[i % 3] if i % 17 else pd.NA,
                "requested_datetime": T0 + pd.Timedelta(hours=i),
                "closed_datetime": closed,
                "service_name": "Pothole" if i % 2 else "Graffiti",
                "source": "web" if i % 5 else "phone",
                "is_duplicate": i % 11 == 0,
            }
        )
    return make_requests(rows)


def _tables(frame: pd.DataFrame) -> list[pd.DataFrame]:
    options = {"key": "ward", "areas": squares(), "as_of": AS_OF}
    groups = pd.Series({"A": 1, "B": 1, "C": 2})
    return [
        area_indicators(frame, population=POP, max_days=10, **options),
        city_indicators(frame, population=POP, **options),
        time_patterns(frame, **options),
        channel_mix(frame, demand="all", **options),
        service_mix(frame, city=True, **options),
        group_indicators(frame, groups, key="ward", as_of=AS_OF),
    ]


def _text(attrs: dict) -> str:
    """Metadata as text, so that NaN equals NaN."""
    return json.dumps(attrs, sort_keys=True, default=str)


def test_shared_tables_equal_separate_ones(frame: pd.DataFrame) -> None:
    alone = _tables(frame)
    with shared_selection(frame):
        shared = _tables(frame)
        again = _tables(frame)
    for one, other, third in zip(alone, shared, again, strict=True):
        pd.testing.assert_frame_equal(one, other, check_exact=True)
        pd.testing.assert_frame_equal(one, third, check_exact=True)
        assert _text(one.attrs) == _text(other.attrs) == _text(third.attrs)


def test_groups_pool_the_requests_of_their_areas(frame: pd.DataFrame) -> None:
    groups = pd.Series({"A": 1, "B": 1, "C": 2, "D": np.nan})
    pooled = group_indicators(frame, groups, key="ward", as_of=AS_OF)
    relabelled = frame.assign(ward_id=frame["ward_id"].map({"A": "1.0", "B": "1.0", "C": "2.0"}))
    relabelled = relabelled.drop(columns=["ward_name", "ward_vintage"])
    areas = pd.DataFrame({"area_id": ["1.0", "2.0"], "area_name": [1.0, 2.0]})
    expected = area_indicators(relabelled, key="ward", areas=areas, as_of=AS_OF)
    expected.index = pd.Index([1.0, 2.0], name="group")
    pd.testing.assert_frame_equal(pooled, expected, check_exact=True)
    assert pooled.attrs["geo311"]["rows"] == expected.attrs["geo311"]["rows"]


def test_remembered_answers_are_read_only_and_per_block(frame: pd.DataFrame) -> None:
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(3)

    with shared_selection(frame):
        first = remember(frame, ("test", 1), compute)
        assert remember(frame, ("test", 1), compute) is first
        remember(frame.copy(), ("test", 1), compute)  # another frame: computed
        with pytest.raises(ValueError, match="read-only"):
            first[0] = 5
    remember(frame, ("test", 1), compute)  # outside the block: computed again
    assert len(calls) == 3


def test_a_frame_changed_between_blocks_is_read_afresh(frame: pd.DataFrame) -> None:
    changed = frame.copy()
    with shared_selection(changed):
        before = area_indicators(changed, key="ward", as_of=AS_OF)
    changed["ward_id"] = pd.array(["A"] * len(changed), dtype="string")
    with shared_selection(changed):
        after = area_indicators(changed, key="ward", as_of=AS_OF)
    assert (
        after.loc["A", "requests_all"]
        == before["requests_all"].sum() + (before.attrs["geo311"]["rows"]["not_assigned_to_area"])
    )


def test_nested_blocks_keep_column_encodings_and_release_the_rest(frame: pd.DataFrame) -> None:
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(2)

    with shared_selection(frame):  # a run
        with shared_selection(frame):  # its first layer
            remember(frame, "column", compute, lasting=True)
            remember(frame, "layer", compute)
        with shared_selection(frame):  # its second layer
            remember(frame, "column", compute, lasting=True)  # kept by the run
            remember(frame, "layer", compute)  # released with the first layer
    assert len(calls) == 3


def test_replaced_answers_go_with_what_was_computed_from_them(frame: pd.DataFrame) -> None:
    calls: list[str] = []

    def rows(name: str) -> np.ndarray:
        return remember(
            frame,
            ("rows", name),
            lambda: calls.append(name) or np.arange(3),
            lasting=True,
            replaces=lambda key: key[0] == "rows",
        )

    def fit(values: np.ndarray) -> float:  # keyed by the very array it reads
        return remember(
            frame, ("fit", Same(values)), lambda: calls.append("fit") or 1.0, lasting=True
        )

    with shared_selection(frame):  # a run
        with shared_selection(frame):  # a layer: its rows, then a grouping's, both in use
            fit(rows("a"))
            rows("g")
            fit(rows("a"))  # still kept: this layer read it
        with shared_selection(frame):  # a layer placing the same rows shares them
            fit(rows("a"))
        with shared_selection(frame):  # one placing other rows: "a", "g" and the fit go
            rows("b")
            fit(rows("a"))
    assert calls == ["a", "fit", "g", "b", "a", "fit"]

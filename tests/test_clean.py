"""Coordinate checks, placeholder points, impossible times and repeated request ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo311.clean.placeholders import PlaceholderRule
from geo311.clean.quality import clean_requests, flag_coordinates

TS = "datetime64[us, UTC]"
# A made-up city: one degree square, west -77, south 39, east -76, north 40.
BBOX = (-77.0, 39.0, -76.0, 40.0)


def requests(n: int, **columns: object) -> pd.DataFrame:
    """A canonical-looking frame of ``n`` requests; ``columns`` override the defaults."""
    created = pd.Timestamp("2024-03-01 12:00", tz="UTC") + pd.to_timedelta(np.arange(n), "h")
    frame = pd.DataFrame(
        {
            "service_request_id": pd.array([f"R-{i}" for i in range(n)], dtype="string"),
            "service_name": pd.array(["Pothole"] * n, dtype="string"),
            "status": pd.array(["open"] * n, dtype="string"),
            "requested_datetime": pd.Series(created).astype(TS),
            "updated_datetime": pd.Series([pd.NaT] * n, dtype=TS),
            "closed_datetime": pd.Series([pd.NaT] * n, dtype=TS),
            "expected_datetime": pd.Series([pd.NaT] * n, dtype=TS),
            "address": pd.array([f"{i} Main St" for i in range(n)], dtype="string"),
            "lat": 39.500001 + np.arange(n) * 1.234567e-4,
            "long": -76.500001 - np.arange(n) * 1.234567e-4,
            "coord_quality": pd.array(["ok"] * n, dtype="string"),
            "qa_flags": pd.array([""] * n, dtype="string"),
        }
    )
    for name, values in columns.items():
        frame[name] = pd.Series(values, dtype=frame[name].dtype) if name in frame else values
    return frame


def times(*values: str | None) -> pd.Series:
    return pd.Series([None if v is None else pd.Timestamp(v, tz="UTC") for v in values], dtype=TS)


# --- flag_coordinates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon", "bbox", "quality", "fixed"),
    [
        pytest.param(39.5, -76.5, BBOX, "ok", (39.5, -76.5), id="ok"),
        pytest.param(np.nan, -76.5, BBOX, "missing", None, id="missing-lat"),
        pytest.param(39.5, np.nan, BBOX, "missing", None, id="missing-long"),
        pytest.param(np.nan, 0.0, BBOX, "missing", None, id="missing-beats-zero"),
        pytest.param(0.0, 0.0, BBOX, "zero", (0.0, 0.0), id="zero"),
        pytest.param(0.0, 0.0, None, "zero", (0.0, 0.0), id="zero-no-bbox"),
        pytest.param(0.0, -76.5, BBOX, "outside_area", (0.0, -76.5), id="half-zero-is-outside"),
        pytest.param(95.0, 200.0, BBOX, "out_of_range", (95.0, 200.0), id="out-of-range"),
        pytest.param(95.0, 200.0, None, "out_of_range", (95.0, 200.0), id="out-of-range-no-bbox"),
        pytest.param(200.0, 39.5, BBOX, "out_of_range", (200.0, 39.5), id="range-beats-outside"),
        pytest.param(40.7, -74.0, BBOX, "outside_area", (40.7, -74.0), id="outside-bbox"),
        pytest.param(40.7, -74.0, None, "ok", (40.7, -74.0), id="no-bbox-no-outside"),
        pytest.param(-76.5, 39.5, BBOX, "swapped", (39.5, -76.5), id="swapped-bbox"),
        pytest.param(-76.5, 39.5, None, "ok", (-76.5, 39.5), id="swap-unknowable-no-bbox"),
        pytest.param(-118.3, 34.1, None, "swapped", (34.1, -118.3), id="swapped-no-bbox"),
        pytest.param(-74.0, 40.7, BBOX, "outside_area", (-74.0, 40.7), id="swap-still-outside"),
    ],
)
def test_flag_coordinates(
    lat: float,
    lon: float,
    bbox: tuple[float, float, float, float] | None,
    quality: str,
    fixed: tuple[float, float] | None,
) -> None:
    frame = pd.DataFrame({"lat": [lat], "long": [lon]})
    out = flag_coordinates(frame, bbox=bbox).frame
    assert out.loc[0, "coord_quality"] == quality
    if fixed is not None:
        assert (out.loc[0, "lat"], out.loc[0, "long"]) == fixed


def test_flag_coordinates_ledger_and_no_mutation() -> None:
    frame = pd.DataFrame(
        {
            "lat": [39.5, np.nan, 0.0, 95.0, 40.7, -76.5, -76.4],
            "long": [-76.5, 1.0, 0.0, 200.0, -74.0, 39.5, 39.4],
        },
        index=[9, 8, 7, 6, 5, 4, 3],
    )
    before = frame.copy()
    out, ledger = flag_coordinates(frame, bbox=BBOX)
    pd.testing.assert_frame_equal(frame, before)
    assert out.index.equals(frame.index)
    stage = ledger.stage("coordinates")
    assert (stage.rows_in, stage.rows_out) == (7, 7)
    assert stage.flagged == {
        "coords_missing": 1,
        "coords_zero": 1,
        "coords_out_of_range": 1,
        "coords_outside_area": 1,
        "coords_swapped_fixed": 2,
    }
    assert out["coord_quality"].tolist() == [
        "ok",
        "missing",
        "zero",
        "out_of_range",
        "outside_area",
        "swapped",
        "swapped",
    ]


def test_flag_coordinates_reads_nullable_floats() -> None:
    frame = pd.DataFrame(
        {"lat": pd.array([39.5, None], dtype="Float64"), "long": pd.array([-76.5, None])}
    )
    out = flag_coordinates(frame, bbox=BBOX).frame
    assert out["coord_quality"].tolist() == ["ok", "missing"]


# --- stacks of requests at one point (placeholder tests: tests/test_placeholders.py) ----

HOTSPOT = (39.301234, -76.612345)  # an encampment reported again and again
CITY_HALL = (39.290411, -76.610798)  # one address, five kinds of review: listed below
CENTROID = (39.456789, -76.543210)


def city(
    *,
    hotspot: int = 38,
    city_hall_types: int = 5,
    city_hall: int = 12,
    centroid: int = 12,
) -> pd.DataFrame:
    """500 ordinary requests at distinct points plus three stacks of reports."""
    base = requests(500)
    rows = [base]
    rows.append(
        requests(
            hotspot,
            lat=[HOTSPOT[0]] * hotspot,
            long=[HOTSPOT[1]] * hotspot,
            address=["100 N Gay St"] * hotspot,
            service_name=["Homeless Encampment"] * hotspot,
        )
    )
    rows.append(
        requests(
            city_hall,
            lat=[CITY_HALL[0]] * city_hall,
            long=[CITY_HALL[1]] * city_hall,
            address=["200 N Holliday St"] * city_hall,
            service_name=[f"Review {i % city_hall_types}" for i in range(city_hall)],
        )
    )
    rows.append(
        requests(
            centroid,
            lat=[CENTROID[0]] * centroid,
            long=[CENTROID[1]] * centroid,
            address=[f"{i} Unknown Rd" for i in range(centroid)],
            service_name=["Dirty Alley"] * centroid,
        )
    )
    frame = pd.concat(rows, ignore_index=True)
    frame["service_request_id"] = pd.array([f"R-{i}" for i in range(len(frame))], dtype="string")
    return frame


#: The rule of a profile that lists the city-hall point (one address, five kinds of review).
LISTED = PlaceholderRule(points=(CITY_HALL,))


# --- clean_requests: time checks ---------------------------------------------------------


def test_time_flags() -> None:
    frame = requests(
        6,
        requested_datetime=times(
            "2024-03-01 12:00",
            "2024-03-01 12:00",
            "2024-07-01 00:00",  # after as_of
            "2024-03-01 12:00",
            "2024-03-01 12:00",
            "2024-03-01 12:00",
        ),
        closed_datetime=times(
            "2024-03-01 11:00",  # before created
            None,
            None,
            "2024-06-02 00:00",  # after as_of
            None,
            "2024-03-02 00:00",
        ),
        expected_datetime=times(None, "2024-02-28 00:00", None, None, None, None),
        status=["closed", "open", "open", "closed", "closed", "closed"],
        qa_flags=["unparsed_updated_datetime", "", "", "", "", ""],
    )
    out, ledger = clean_requests(frame, as_of="2024-06-01")
    assert out["qa_flags"].tolist() == [
        "unparsed_updated_datetime|closed_before_created",
        "due_before_created",
        "requested_in_future",
        "closed_in_future",
        "closed_without_close_time",
        "",
    ]
    flagged = ledger.stage("clean").flagged
    assert flagged == {
        "closed_before_created": 1,
        "due_before_created": 1,
        "requested_in_future": 1,
        "closed_in_future": 1,
        "closed_without_close_time": 1,
    }


def test_as_of_defaults_to_now_and_accepts_other_zones() -> None:
    frame = requests(2, requested_datetime=times("2024-03-01 12:00", "2100-01-01 00:00"))
    out = clean_requests(frame).frame
    assert out["qa_flags"].tolist() == ["", "requested_in_future"]
    # 08:00 in New York is 12:00 UTC: a request at 12:00 UTC is not in the future.
    at_noon = clean_requests(
        requests(1, requested_datetime=times("2024-03-01 12:00")),
        as_of=pd.Timestamp("2024-03-01 07:00", tz="America/New_York"),
    ).frame
    assert at_noon["qa_flags"].tolist() == [""]
    early = clean_requests(
        requests(1, requested_datetime=times("2024-03-01 12:00")),
        as_of=pd.Timestamp("2024-03-01 06:59", tz="America/New_York"),
    ).frame
    assert early["qa_flags"].tolist() == ["requested_in_future"]


def test_status_missing_is_not_closed_without_close_time() -> None:
    frame = requests(1, status=[None])
    assert clean_requests(frame, as_of="2025-01-01").frame["qa_flags"].tolist() == [""]


# --- clean_requests: repeated ids --------------------------------------------------------


def test_latest_update_wins_then_last_row() -> None:
    frame = requests(
        7,
        service_request_id=["A", "A", "B", "B", None, None, "C"],
        updated_datetime=times(
            "2024-03-05 00:00",  # A: latest update -> kept
            "2024-03-04 00:00",
            "2024-03-05 00:00",  # B: tie -> the last row is kept
            "2024-03-05 00:00",
            None,
            None,
            None,
        ),
        address=["a-new", "a-old", "b-first", "b-last", "x", "y", "c"],
    )
    out, ledger = clean_requests(frame, as_of="2025-01-01")
    assert out["address"].tolist() == ["a-new", "b-last", "x", "y", "c"]
    assert out.index.equals(pd.RangeIndex(5))
    stage = ledger.stage("clean")
    assert stage.dropped == {"duplicate_service_request_id": 2}
    assert stage.examples["duplicate_service_request_id"] == ["A", "B"]
    assert stage.rows_in == stage.rows_out + sum(stage.dropped.values())
    assert (stage.rows_in, stage.rows_out) == (7, 5)


def test_a_dated_update_beats_a_missing_one() -> None:
    frame = requests(
        3,
        service_request_id=["A", "A", "A"],
        updated_datetime=times(None, "2024-03-01 00:00", None),
        address=["first", "dated", "last"],
    )
    out = clean_requests(frame, as_of="2025-01-01").frame
    assert out["address"].tolist() == ["dated"]


def test_all_updates_missing_keeps_the_last_row() -> None:
    frame = requests(3, service_request_id=["A", "A", "A"], address=["1", "2", "3"])
    assert clean_requests(frame, as_of="2025-01-01").frame["address"].tolist() == ["3"]


def test_flags_count_only_the_rows_kept() -> None:
    frame = requests(
        2,
        service_request_id=["A", "A"],
        requested_datetime=times("2024-03-01 12:00", "2024-03-01 12:00"),
        closed_datetime=times("2024-03-01 11:00", "2024-03-02 12:00"),  # first is impossible
        updated_datetime=times("2024-03-01 11:00", "2024-03-02 12:00"),
        status=["closed", "closed"],
    )
    out, ledger = clean_requests(frame, as_of="2025-01-01")
    assert len(out) == 1
    assert out["qa_flags"].tolist() == [""]
    assert "closed_before_created" not in ledger.stage("clean").flagged


def test_repeated_exports_do_not_make_a_placeholder() -> None:
    # One request exported 12 times at one point with one address: not 12 requests.
    frame = city(city_hall=0, centroid=0)
    copies = requests(
        12,
        service_request_id=["DUP"] * 12,
        lat=[CITY_HALL[0]] * 12,
        long=[CITY_HALL[1]] * 12,
        address=[f"{i} Somewhere" for i in range(12)],
    )
    out = clean_requests(pd.concat([frame, copies], ignore_index=True), as_of="2025-01-01").frame
    assert "placeholder" not in set(out["coord_quality"])


# --- clean_requests: placeholders and the ledger -----------------------------------------


def test_placeholders_are_marked_and_counted() -> None:
    frame = city()
    frame.loc[0, "coord_quality"] = "missing"
    before = frame.copy()
    out, ledger = clean_requests(frame, as_of="2025-01-01", placeholders=LISTED)
    pd.testing.assert_frame_equal(frame, before)
    at_hall = (out["lat"] == CITY_HALL[0]).to_numpy()
    at_hotspot = (out["lat"] == HOTSPOT[0]).to_numpy()
    assert set(out.loc[at_hall, "coord_quality"]) == {"placeholder"}
    assert set(out.loc[at_hotspot, "coord_quality"]) == {"ok"}
    assert out.loc[0, "coord_quality"] == "missing"
    stage = ledger.stage("clean")
    assert stage.flagged["coords_placeholder"] == 24
    examples = stage.examples["coords_placeholder"]
    assert len(examples) == 2
    hall = "12 requests, 1 addresses, 0 without address, 5 service types (profile)"
    centroid = "12 requests, 12 addresses, 0 without address, 1 service types (many_addresses)"
    assert any(hall in e for e in examples)
    assert any(centroid in e for e in examples)
    assert [n for n in stage.notes if n.startswith("placeholder (")] == examples
    assert stage.rows_in == stage.rows_out == len(frame)
    assert stage.dropped == {}
    assert any(note.startswith("as_of 2025-01-01") for note in stage.notes)


def test_placeholder_thresholds_are_passed_through() -> None:
    out = clean_requests(city(), as_of="2025-01-01").frame
    at_hall = (out["lat"] == CITY_HALL[0]).to_numpy()
    at_centroid = (out["lat"] == CENTROID[0]).to_numpy()
    assert set(out.loc[at_hall, "coord_quality"]) == {"ok"}  # one address: not listed here
    assert set(out.loc[at_centroid, "coord_quality"]) == {"placeholder"}
    for options in ({"min_count": 13}, {"min_share": 0.05}, {"min_addresses": 13}):
        rule = PlaceholderRule(**options)  # type: ignore[arg-type]
        out = clean_requests(city(), as_of="2025-01-01", placeholders=rule).frame
        assert "placeholder" not in set(out["coord_quality"]), options
    out = clean_requests(city(), as_of="2025-01-01", fallback_points=[CITY_HALL]).frame
    assert set(out.loc[at_hall, "coord_quality"]) == {"placeholder"}


def test_swapped_and_outside_points_can_be_placeholders() -> None:
    frame = city(city_hall=0)
    at_centroid = (frame["lat"] == CENTROID[0]).to_numpy()
    frame.loc[at_centroid, "coord_quality"] = "outside_area"
    out = clean_requests(frame, as_of="2025-01-01").frame
    assert set(out.loc[at_centroid, "coord_quality"]) == {"placeholder"}

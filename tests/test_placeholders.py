"""Placeholder points: fake points shared by unrelated addresses vs busy real places."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_clean import CENTROID, CITY_HALL, HOTSPOT, city, requests

from geo311._errors import OptionError, ProfileError
from geo311.clean.placeholders import PLACEHOLDER_COLUMNS, PlaceholderRule, find_placeholders
from geo311.clean.quality import clean_requests
from geo311.io.profiles import get_profile, load_profile
from geo311.io.readers import requests_from_frame

PLAZA = (37.779277, -122.419232)  # a busy real address: one building, many kinds of request
FALLBACK = (37.759881, -122.436234)  # where the geocoder drops what it cannot match


def found_points(placeholders: pd.DataFrame) -> dict[tuple[float, float], str]:
    return {
        (float(lat), float(lon)): str(reason)
        for lat, lon, reason in placeholders[["lat", "long", "reason"]].itertuples(index=False)
    }


def unseen_city(rng: np.random.Generator) -> pd.DataFrame:
    """5,000 ordinary requests, a busy real address, a fallback point, round-number points.

    * 400 requests at one city-hall plaza address, 19 service types, the
      address written four ways (case, abbreviations, a city/ZIP tail, a suite);
    * 300 requests at the geocoder's fallback point, 250 different addresses;
    * 6 genuine requests whose coordinates end in zeros (``37.7800, -122.4100``).
    """
    n = 5_000
    ordinary = requests(
        n,
        lat=37.70 + rng.uniform(0, 0.1, n).round(6),
        long=-122.50 + rng.uniform(0, 0.1, n).round(6),
        address=[f"{100 + i} Street {i % 97}" for i in range(n)],
    )
    spellings = [
        "1 Dr Carlton B Goodlett Pl",
        "1 DR CARLTON B GOODLETT PLACE",
        "1 Dr. Carlton B. Goodlett Place, San Francisco, CA 94102",
        "1 Dr Carlton B Goodlett Pl Suite 200",
    ]
    plaza = requests(
        400,
        lat=[PLAZA[0]] * 400,
        long=[PLAZA[1]] * 400,
        address=[spellings[i % 4] for i in range(400)],
        service_name=[f"Type {i % 19}" for i in range(400)],
    )
    fallback = requests(
        300,
        lat=[FALLBACK[0]] * 300,
        long=[FALLBACK[1]] * 300,
        address=[f"{(i % 250) * 2 + 1} Unmatched Ave" for i in range(300)],
        service_name=["Graffiti"] * 300,
    )
    zeros = requests(
        6,
        lat=[37.78, 37.79, 37.7, 37.75, 37.72, 37.76],
        long=[-122.41, -122.42, -122.45, -122.4, -122.43, -122.47],
        address=[f"{900 + i} Round St" for i in range(6)],
    )
    frame = pd.concat([ordinary, plaza, fallback, zeros], ignore_index=True)
    frame["service_request_id"] = pd.array([f"S-{i}" for i in range(len(frame))], dtype="string")
    return frame


def test_busy_real_address_is_kept_and_the_fallback_is_caught() -> None:
    frame = unseen_city(np.random.default_rng(14))
    out, ledger = clean_requests(frame, as_of="2025-01-01")
    flagged = (out["coord_quality"] == "placeholder").to_numpy()
    at_plaza = (out["lat"] == PLAZA[0]).to_numpy()
    at_fallback = (out["lat"] == FALLBACK[0]).to_numpy()
    assert flagged[at_fallback].mean() >= 0.99
    assert flagged[at_fallback].all()
    assert not flagged[at_plaza].any()
    assert int(flagged.sum()) == 300  # no false placeholder anywhere else (zeros included)
    notes = [n for n in ledger.stage("clean").notes if n.startswith("placeholder (")]
    assert notes == [
        f"placeholder ({FALLBACK[0]}, {FALLBACK[1]}): 300 requests, 250 addresses, "
        "0 without address, 1 service types (many_addresses)"
    ]


def test_trailing_zero_coordinates_alone_are_not_evidence() -> None:
    frame = requests(4, lat=[39.29, 39.3, 39.291, 39.0], long=[-76.61, -76.6, -76.61, -77.0])
    # only the point cut to whole degrees (a ~100 km grid) is a placeholder
    assert found_points(find_placeholders(frame)) == {(39.0, -77.0): "coarse"}
    assert set(found_points(find_placeholders(frame, coarse_decimals=2))) == {
        (39.29, -76.61),
        (39.3, -76.6),
        (39.0, -77.0),
    }
    assert set(found_points(find_placeholders(frame, coarse_decimals=1))) == {
        (39.3, -76.6),
        (39.0, -77.0),
    }


def test_single_address_stack_is_never_many_addresses() -> None:
    placeholders = find_placeholders(city(), min_count=2, min_share=0.0, min_address_share=0.0)
    assert HOTSPOT not in found_points(placeholders)
    assert CITY_HALL not in found_points(placeholders)  # 5 types, 1 address
    assert found_points(placeholders) == {CENTROID: "many_addresses"}


def test_result_columns_and_counts() -> None:
    placeholders = find_placeholders(city(), points=[CITY_HALL])
    assert list(placeholders.columns) == list(PLACEHOLDER_COLUMNS)
    assert found_points(placeholders) == {CITY_HALL: "profile", CENTROID: "many_addresses"}
    hall = placeholders[placeholders["reason"] == "profile"].iloc[0]
    assert (hall["requests"], hall["addresses"], hall["unaddressed"], hall["types"]) == (
        12,
        1,
        0,
        5,
    )
    assert hall["share"] == pytest.approx(12 / 562)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {CENTROID}),
        ({"min_count": 13}, set()),
        ({"min_count": 12}, {CENTROID}),
        ({"min_share": 0.03}, set()),  # 12 of 562 is 2.1 %
        ({"min_share": 0.02}, {CENTROID}),
        ({"min_addresses": 12}, {CENTROID}),
        ({"min_addresses": 13}, set()),
        ({"min_address_share": 1.0}, {CENTROID}),  # 12 addresses for 12 requests
        (
            {"min_count": 2, "min_addresses": 1, "min_address_share": 0.0},
            {HOTSPOT, CITY_HALL, CENTROID},
        ),
    ],
)
def test_thresholds(kwargs: dict[str, float], expected: set[tuple[float, float]]) -> None:
    assert set(found_points(find_placeholders(city(), **kwargs))) == expected  # type: ignore[arg-type]


def test_address_share_separates_a_few_variants_from_unrelated_addresses() -> None:
    frame = city(centroid=0, city_hall=0)
    at = (frame["lat"] == HOTSPOT[0]).to_numpy()
    # 38 reports at the encampment, 5 of them giving a neighbour's address
    frame.loc[np.flatnonzero(at)[:5], "address"] = [f"{102 + 2 * i} N Gay St" for i in range(5)]
    assert find_placeholders(frame).empty  # 6 addresses for 38 requests: 16 % < 50 %
    assert set(found_points(find_placeholders(frame, min_address_share=0.15))) == {HOTSPOT}


def test_requests_without_an_address_count_as_different() -> None:
    frame = city(centroid=0, city_hall=0)
    at = (frame["lat"] == HOTSPOT[0]).to_numpy()
    frame.loc[np.flatnonzero(at)[:30], "address"] = [None, "", "  "] * 10
    found = find_placeholders(frame)
    assert found_points(found) == {HOTSPOT: "many_addresses"}
    assert (found.loc[0, "addresses"], found.loc[0, "unaddressed"]) == (1, 30)


def test_fallback_points_within_the_radius() -> None:
    near = (CITY_HALL[0] + 5e-5, CITY_HALL[1])  # 5.6 m north
    frame = city(centroid=0, hotspot=0)
    assert find_placeholders(frame).empty
    found = find_placeholders(frame, fallback_points={"city centroid": near})
    assert found_points(found) == {CITY_HALL: "fallback"}
    assert find_placeholders(frame, fallback_points=[near], radius_m=5.0).empty
    # the profile's listing wins over the fallback, which wins over the data rule
    both = find_placeholders(city(), points=[CITY_HALL], fallback_points=[CITY_HALL, CENTROID])
    assert found_points(both) == {CITY_HALL: "profile", CENTROID: "fallback"}


def test_only_located_points_are_considered() -> None:
    frame = requests(4, lat=[39.3] * 4, long=[-76.6] * 4)
    frame["coord_quality"] = pd.array(["zero", "missing", "out_of_range", "outside_area"])
    placeholders = find_placeholders(frame, points=[(39.3, -76.6)])
    assert placeholders["requests"].tolist() == [1]  # the outside_area row only


def test_no_located_points() -> None:
    frame = requests(2, coord_quality=["missing", "zero"])
    placeholders = find_placeholders(frame)
    assert placeholders.empty
    assert list(placeholders.columns) == list(PLACEHOLDER_COLUMNS)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"min_count": 0}, "min_count must be a whole number >= 1"),
        ({"min_count": 2.5}, "min_count must be a whole number >= 1"),
        ({"min_addresses": True}, "min_addresses must be a whole number >= 1"),
        ({"min_share": 1.5}, "min_share must be a number from 0 to 1"),
        ({"min_address_share": -0.1}, "min_address_share must be a number from 0 to 1"),
        ({"radius_m": 0}, "radius_m must be a number of metres > 0"),
        ({"coarse_decimals": 5}, "coarse_decimals must be a whole number from 0 to 4"),
        ({"points": [(95.0, 10.0)]}, "(95.0, 10.0) is not a [lat, long] pair"),
        ({"points": [(39.0,)]}, "is not a [lat, long] pair"),
        ({"fallback_points": [(39.0, "x")]}, "fallback_points: (39.0, 'x')"),
    ],
)
def test_bad_options_are_option_errors(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(OptionError, match=re.escape(words)):
        find_placeholders(city(), **kwargs)  # type: ignore[arg-type]


# --- the profile's [placeholders] table ---------------------------------------------------

PROFILE = """
name = "plaza_city"
timezone = "America/Los_Angeles"
[columns]
service_request_id = "id"
requested_datetime = "created"
address = "address"
[coordinates]
lat = "lat"
long = "long"
"""


def write_profile(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "plaza_city.toml"
    path.write_text(PROFILE + table, encoding="utf-8")
    return path


def test_profile_defaults_when_the_table_is_absent(tmp_path: Path) -> None:
    assert load_profile(write_profile(tmp_path, "")).placeholders == PlaceholderRule()
    assert get_profile("los_angeles").placeholders == PlaceholderRule()
    assert get_profile("open311").placeholders == PlaceholderRule()
    assert get_profile("baltimore").placeholders.points == ((39.291662, -76.610555),)


def test_profile_table_is_read(tmp_path: Path) -> None:
    table = (
        "[placeholders]\nmin_count = 20\nmin_share = 0.001\nmin_addresses = 5\n"
        "min_address_share = 0.6\nradius_m = 25.5\ncoarse_decimals = 2\n"
        "points = [[37.7793, -122.4192]]\n"
    )
    rule = load_profile(write_profile(tmp_path, table)).placeholders
    assert rule == PlaceholderRule(
        min_count=20,
        min_share=0.001,
        min_addresses=5,
        min_address_share=0.6,
        radius_m=25.5,
        coarse_decimals=2,
        points=((37.7793, -122.4192),),
    )


def test_profile_table_problems_are_listed(tmp_path: Path) -> None:
    table = "[placeholders]\nmin_count = -1\nmin_share = 2\nradius = 5\npoints = [[1, 2, 3]]\n"
    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(tmp_path, table))
    text = str(err.value)
    assert "[placeholders] has unknown keys ['radius']" in text
    assert "min_count must be a whole number >= 1, got -1" in text
    assert "min_share must be a number from 0 to 1, got 2" in text
    with pytest.raises(ProfileError, match=r"\[lat, long\] pair"):
        load_profile(write_profile(tmp_path, "[placeholders]\npoints = [[1, 2, 3]]\n"))


def test_reader_takes_the_profile_rule_and_keyword_overrides(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frame = unseen_city(np.random.default_rng(7))
    raw = pd.DataFrame(
        {
            "id": frame["service_request_id"].astype(str),
            "created": "2024-05-01T09:30:00-07:00",
            "address": frame["address"].astype(str),
            "lat": frame["lat"].map(repr),
            "long": frame["long"].map(repr),
        }
    )
    listed = write_profile(tmp_path, f"[placeholders]\npoints = [[{PLAZA[0]}, {PLAZA[1]}]]\n")
    with caplog.at_level(logging.WARNING, logger="geo311.clean.quality"):
        out, ledger = requests_from_frame(raw, schema=listed, as_of="2025-01-01")
    assert ledger.flagged["coords_placeholder"] == 700  # plaza (listed) + fallback
    assert "700 requests at 2 placeholder points" in caplog.text
    out, _ = requests_from_frame(
        raw, schema=listed, as_of="2025-01-01", placeholders={"min_count": 301}
    )
    assert int((out["coord_quality"] == "placeholder").sum()) == 400  # the listed plaza only
    out, _ = requests_from_frame(
        raw,
        schema=write_profile(tmp_path, ""),
        as_of="2025-01-01",
        placeholders={"min_addresses": 251, "radius_m": 9.0, "min_share": None},
        fallback_points=[(PLAZA[0], PLAZA[1] + 1e-4)],  # 8.8 m east
    )
    assert int((out["coord_quality"] == "placeholder").sum()) == 400
    assert out.loc[out["coord_quality"] == "placeholder", "geometry"].isna().all()
    with pytest.raises(OptionError, match=r"placeholder options \['min_variety'\] are unknown"):
        requests_from_frame(raw, schema=listed, placeholders={"min_variety": 3})
    with pytest.raises(OptionError, match="radius_m must be a number of metres > 0"):
        requests_from_frame(raw, schema=listed, placeholders={"radius_m": -1})

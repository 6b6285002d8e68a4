"""geo311.io.infer: proposing a schema profile for an unknown export.

Real exports (Baltimore CSV, Los Angeles .csv.gz) must give the source columns
of the built-in profiles for the required columns and the coordinates, and
the proposed TOML must ingest the file exactly as the built-in profile does.
Made-up exports (written here) exercise other header spellings, epoch
timestamps, WKT points, swapped coordinate columns and GeoJSON geometry.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo311._errors import InputFileError, OptionError, ProfileError
from geo311.io.infer import infer_profile
from geo311.io.profiles import REQUIRED, get_profile, load_profile
from geo311.io.proposal import ProfileProposal, toml_string
from geo311.io.readers import read_requests

BALTIMORE = ("baltimore", "sr311_2019_oct_sample.csv", "America/New_York")
BALTIMORE_2018 = ("baltimore", "sr311_2018_sample.csv", "America/New_York")
LA_2017 = ("los_angeles", "records/myla311_2017-12-27_2017-12-31.csv.gz", "America/Los_Angeles")
LA_2020 = ("los_angeles", "records/myla311_2020-01-01_2020-01-03.csv.gz", "America/Los_Angeles")
COMPARED = (
    "service_request_id",
    "requested_datetime",
    "closed_datetime",
    "status",
    "lat",
    "long",
)


def _write_profile(proposal: ProfileProposal, folder: Path) -> Path:
    path = folder / f"{proposal.name}.toml"
    path.write_text(proposal.to_toml(), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("city", "name", "zone"),
    [BALTIMORE, BALTIMORE_2018, LA_2017, LA_2020],
    ids=["baltimore-2019", "baltimore-2018", "la-2017", "la-2020"],
)
def test_real_exports_map_like_the_builtin_profile(
    shared_data: Path, city: str, name: str, zone: str
) -> None:
    path = shared_data / city / name
    proposal = infer_profile(path, city=city, timezone=zone)
    builtin = get_profile(city).resolve(proposal.header)
    if name == LA_2020[1]:  # its "location" column is empty throughout: nothing to map
        assert "location" not in proposal.mapping
        del builtin["location"]
    for target in (*REQUIRED, "lat", "long", "location"):
        if target in builtin:
            assert proposal.mapping[target].source == builtin[target], target
            assert proposal.mapping[target].confidence >= 0.9, target
    assert proposal.builtin_match == city
    # every timestamp column the built-in profile maps is read with a detected format
    assert proposal.timestamp_formats
    assert set(proposal.timestamp_formats) <= set(get_profile(city).timestamp_formats)
    assert "closed" in proposal.status_closed
    assert "open" in proposal.status_open
    assert not any("timezone" in q for q in proposal.questions)


@pytest.mark.parametrize(("city", "name", "zone"), [BALTIMORE, LA_2017], ids=["baltimore", "la"])
def test_proposed_profile_ingests_like_the_builtin(
    shared_data: Path, tmp_path: Path, city: str, name: str, zone: str
) -> None:
    path = shared_data / city / name
    proposal = infer_profile(path, city=f"{city}_inferred", timezone=zone)
    profile_path = _write_profile(proposal, tmp_path)
    profile = load_profile(profile_path)
    assert profile.name == f"{city}_inferred"
    assert profile.timezone == zone
    ours = read_requests(path, schema=profile_path).frame
    theirs = read_requests(path, schema=city).frame
    assert len(ours) == len(theirs) > 1000
    for column in COMPARED:
        pd.testing.assert_series_equal(ours[column], theirs[column], check_names=False)
    # the proposal leaves bbox and known placeholder points to the user, so nothing
    # is flagged outside the city, and only the built-in profile's listed points are
    # placeholders there (Baltimore's municipal building)
    assert (ours["coord_quality"] != "outside_area").all()
    listed = theirs["coord_quality"].eq("placeholder") & ours["coord_quality"].eq("ok")
    if not get_profile(city).placeholders.points:
        assert not listed.any()
    same = theirs["coord_quality"].astype(str).replace("outside_area", "ok").mask(listed, "ok")
    pd.testing.assert_series_equal(ours["coord_quality"].astype(str), same, check_names=False)


def _open311_like(path: Path) -> pd.DataFrame:
    """300 made-up requests with unusual headers, epoch-ms times and WKT points."""
    rng = np.random.default_rng(7)
    n = 300
    created = 1_700_000_000_000 + np.sort(rng.integers(0, 30 * 86_400_000, n))
    closed = np.where(rng.random(n) < 0.7, created + rng.integers(3_600_000, 5 * 86_400_000, n), 0)
    state = np.where(closed > 0, "Resolved", rng.choice(["Submitted", "In Progress"], n))
    frame = pd.DataFrame(
        {
            "Ticket #": [f"T-{i:05d}" for i in range(n)],
            "Category": rng.choice(["Pothole", "Graffiti", "Streetlight Out", "Missed Pickup"], n),
            "Current State": state,
            "Opened (ms)": created.astype(str),
            "Closed On": [str(c) if c else "" for c in closed],
            "Dept": rng.choice(["DOT", "DSS"], n),
            "Street Address": [f"{k} MAIN ST" for k in rng.integers(1, 9999, n)],
            "Geom": [
                f"POINT ({-87.7 + dx:.6f} {41.8 + dy:.6f})" for dx, dy in rng.random((n, 2)) * 0.2
            ],
        }
    )
    frame.to_csv(path, index=False)
    return frame


def test_open311_like_export_with_epoch_and_wkt(tmp_path: Path) -> None:
    frame = _open311_like(tmp_path / "tickets.csv")
    proposal = infer_profile(tmp_path / "tickets.csv", city="lakeside")
    sources = {t: g.source for t, g in proposal.mapping.items()}
    assert sources == {
        "service_request_id": "Ticket #",
        "service_name": "Category",
        "status_raw": "Current State",
        "requested_datetime": "Opened (ms)",
        "closed_datetime": "Closed On",
        "agency_responsible": "Dept",
        "address": "Street Address",
        "location": "Geom",
    }
    assert proposal.timestamp_formats == ("epoch_ms",)
    assert proposal.timestamps_have_offset  # epoch numbers are instants: no zone needed
    assert not any(q.startswith("timezone") for q in proposal.questions)
    assert proposal.status_open == ("in progress", "submitted")
    assert proposal.status_closed == ("resolved",)
    west, south, east, north = proposal.extent or (0, 0, 0, 0)
    assert -87.71 < west < east < -87.49 and 41.79 < south < north < 42.01

    requests = read_requests(
        tmp_path / "tickets.csv", schema=_write_profile(proposal, tmp_path), timezone="UTC"
    ).frame
    expected = pd.to_datetime(frame["Opened (ms)"].astype("int64"), unit="ms", utc=True)
    assert (requests["requested_datetime"].to_numpy() == expected.to_numpy()).all()
    closed = requests["status"] == "closed"
    assert closed.sum() == (frame["Current State"] == "Resolved").sum()
    assert requests.loc[closed, "closed_datetime"].notna().all()
    wkt_lon = frame["Geom"].str.extract(r"POINT \((\S+) ")[0].astype(float)
    np.testing.assert_allclose(requests["long"].to_numpy(dtype=float), wkt_lon.to_numpy())


def test_naive_times_without_zone_ask_for_it_and_status_from_close_times(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "case_number": ["C1", "C2", "C3", "C4"],
            "date_opened": [
                "03/01/2024 08:00",
                "03/02/2024 09:30",
                "03/05/2024 10:00",
                "03/06/2024 11:00",
            ],
            "date_closed": ["03/03/2024 08:00", "", "03/07/2024 10:00", ""],
            "stage": ["Z9", "A1", "Z9", "A1"],
        }
    ).to_csv(tmp_path / "cases.csv", index=False)
    proposal = infer_profile(tmp_path / "cases.csv")
    assert proposal.name == "cases"
    assert proposal.timezone == "UTC"
    assert any(q.startswith("timezone:") for q in proposal.questions)
    # every value reads as day/month and as month/day: asked, month first kept
    assert any("day/month" in q for q in proposal.questions)
    assert proposal.timestamp_formats == ("%m/%d/%Y %H:%M",)
    # status codes without open/closed words are split by whether rows have a close time
    assert proposal.status_closed == ("z9",)
    assert proposal.status_open == ("a1",)
    load_profile(_write_profile(proposal, tmp_path))


def test_undecidable_columns_become_questions(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "f1": [f"X{i}" for i in range(50)],
            "f2": [f"2024-01-{1 + i % 28:02d} 10:00:00" for i in range(50)],
            "f3": ["a", "b"] * 25,
        }
    ).to_csv(tmp_path / "opaque.csv", index=False)
    proposal = infer_profile(tmp_path / "opaque.csv", timezone="America/Denver")
    # the values alone point at the id and the time, with low confidence and a question each
    assert proposal.mapping["service_request_id"].source == "f1"
    assert proposal.mapping["requested_datetime"].source == "f2"
    assert all(proposal.mapping[t].confidence < 0.6 for t in REQUIRED)
    asked = " ".join(proposal.questions)
    assert "service_request_id: is 'f1' right?" in asked
    assert "requested_datetime: is 'f2' right?" in asked
    assert "coordinates:" in asked and "status:" in asked
    text = proposal.to_toml()
    assert "GUESS" in text
    assert load_profile(_write_profile(proposal, tmp_path)).columns["service_request_id"] == (
        "f1",
    )


def test_unreadable_times_are_mapped_by_name_and_asked_about(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "request_id": ["1", "2", "3"],
            "created": ["21.10.2019 11:49", "22.10.2019 08:00", "23.10.2019 17:30"],
        }
    ).to_csv(tmp_path / "dotted.csv", index=False)
    proposal = infer_profile(tmp_path / "dotted.csv", timezone="Europe/Berlin")
    assert proposal.mapping["requested_datetime"].source == "created"
    assert proposal.timestamp_formats == ()
    assert any(
        q.startswith("requested_datetime: is 'created' right?")
        and "no known timestamp format reads the values" in q
        for q in proposal.questions
    )
    # still a valid profile (ISO8601 stands in), for the user to give the format
    assert load_profile(_write_profile(proposal, tmp_path)).timestamp_formats == ("ISO8601",)


def test_swapped_coordinate_columns_are_put_right(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "request_id": ["1", "2", "3", "4"],
            "created": ["2024-01-01T10:00:00Z"] * 4,
            "latitude": [-118.25, -118.31, -118.44, -118.27],  # longitudes, by mistake
            "longitude": [34.05, 34.11, 34.02, 34.20],
        }
    ).to_csv(tmp_path / "swapped.csv", index=False)
    proposal = infer_profile(tmp_path / "swapped.csv")
    assert proposal.mapping["lat"].source == "longitude"
    assert proposal.mapping["long"].source == "latitude"
    assert proposal.timestamps_have_offset


def test_geojson_export_uses_its_point_geometry(tmp_path: Path) -> None:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-76.6 + i / 1000, 39.3]},
            "properties": {
                "service_request_id": f"r{i}",
                "requested_datetime": f"2024-05-0{1 + i % 9}T12:00:00-04:00",
                "status": "open" if i % 2 else "closed",
            },
        }
        for i in range(20)
    ]
    path = tmp_path / "requests.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    proposal = infer_profile(path, timezone="America/New_York")
    assert proposal.format == "geojson"
    assert proposal.geometry_points
    assert not any(q.startswith("coordinates") for q in proposal.questions)
    assert proposal.timestamp_formats == ("ISO8601",)
    profile = load_profile(_write_profile(proposal, tmp_path))
    assert profile.lat is None and profile.long is None
    requests = read_requests(path, schema=profile).frame
    assert requests["lat"].eq(39.3).all()
    assert (requests["status"] == ["closed", "open"] * 10).all()


def test_open311_json_maps_to_itself(tmp_path: Path) -> None:
    requests = [
        {
            "service_request_id": f"{1000 + i}",
            "status": "closed" if i % 3 else "open",
            "service_code": "PH" if i % 2 else "GR",
            "service_name": "Pothole" if i % 2 else "Graffiti",
            "requested_datetime": f"2024-04-{1 + i:02d}T09:00:00-05:00",
            "updated_datetime": f"2024-04-{2 + i:02d}T09:00:00-05:00",
            "address": f"{100 + i} W MAIN ST",
            "lat": 41.88 + i / 1000,
            "long": -87.63 - i / 1000,
        }
        for i in range(12)
    ]
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(requests))
    proposal = infer_profile(path, timezone="America/Chicago")
    assert proposal.format == "open311-json"
    sources = {t: g.source for t, g in proposal.mapping.items()}
    assert sources == {
        "service_request_id": "service_request_id",
        "service_code": "service_code",
        "service_name": "service_name",
        "status_raw": "status",
        "requested_datetime": "requested_datetime",
        "updated_datetime": "updated_datetime",
        "address": "address",
        "lat": "lat",
        "long": "long",
    }
    assert proposal.timestamps_have_offset
    assert proposal.builtin_match == "open311"
    ours = read_requests(path, schema=_write_profile(proposal, tmp_path)).frame
    theirs = read_requests(path, schema="open311", timezone="America/Chicago").frame
    for column in COMPARED:
        if column != "closed_datetime":
            pd.testing.assert_series_equal(ours[column], theirs[column], check_names=False)


def test_toml_strings_survive_odd_column_names(tmp_path: Path) -> None:
    odd = 'Ward "No." \\ Straße\tß'
    assert tomllib.loads(f"k = {toml_string(odd)}")["k"] == odd
    pd.DataFrame(
        {'ID "n"': ["1", "2", "3"], "Créé le": ["2024-01-01", "2024-01-02", "2024-01-03"]}
    ).to_csv(tmp_path / "odd.csv", index=False)
    proposal = infer_profile(tmp_path / "odd.csv", timezone="Europe/Paris")
    profile = load_profile(_write_profile(proposal, tmp_path))
    assert profile.columns["service_request_id"] == ('ID "n"',)
    assert profile.columns["requested_datetime"] == ("Créé le",)


def test_missing_required_columns_stay_unloadable_until_filled_in(tmp_path: Path) -> None:
    pd.DataFrame({"kind": ["a", "a", "b"], "note": ["x", "y", "z"]}).to_csv(
        tmp_path / "bare.csv", index=False
    )
    proposal = infer_profile(tmp_path / "bare.csv", timezone="UTC")
    assert "requested_datetime" not in proposal.mapping
    assert "requested_datetime: no column found; which one holds it?" in proposal.questions
    path = _write_profile(proposal, tmp_path)
    assert '# requested_datetime = ""  # no column found' in path.read_text()
    with pytest.raises(ProfileError, match="must map 'requested_datetime'"):
        load_profile(path)


def test_user_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        infer_profile(tmp_path / "missing.csv")
    (tmp_path / "header.csv").write_text("id,created\n")
    with pytest.raises(InputFileError, match="no rows"):
        infer_profile(tmp_path / "header.csv")
    (tmp_path / "ok.csv").write_text("id,created\n1,2024-01-01\n")
    with pytest.raises(OptionError, match="Mars/Phobos"):
        infer_profile(tmp_path / "ok.csv", timezone="Mars/Phobos")
    with pytest.raises(OptionError, match="sample_rows"):
        infer_profile(tmp_path / "ok.csv", sample_rows=0)


def test_sample_rows_limits_the_rows_read(tmp_path: Path) -> None:
    _open311_like(tmp_path / "tickets.csv")
    proposal = infer_profile(tmp_path / "tickets.csv", sample_rows=40)
    assert proposal.rows_sampled == 40
    assert proposal.mapping["requested_datetime"].source == "Opened (ms)"

"""Open311 GeoReport v2 in full: close times from notes and updates, extended attributes,
media kept out of the canonical columns, and one file mixing jurisdictions and time zones."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from test_load import check_ledger

from geo311._errors import ProfileError, SchemaError
from geo311.io.profiles import get_profile, load_profile
from geo311.io.readers import read_requests, requests_from_frame
from geo311.io.schema import column_names, validate_requests

FIXTURES = Path(__file__).parent / "fixtures"
AS_OF = "2025-01-01"
NOTES = ("open311_notes.json", "open311_notes.xml")
MULTI = FIXTURES / "open311_multicity.tsv"
MULTI_PROFILE = FIXTURES / "open311_multicity.toml"


def hours(text: str) -> pd.Timedelta:
    return pd.Timedelta(text)


def durations(frame: pd.DataFrame) -> dict[str, pd.Timedelta | None]:
    """Time to close per request id (None when still open)."""
    took = frame["closed_datetime"] - frame["requested_datetime"]
    return {
        str(i): (None if pd.isna(t) else t)
        for i, t in zip(frame["service_request_id"], took, strict=True)
    }


@pytest.fixture(params=NOTES)
def notes(request: pytest.FixtureRequest) -> tuple[pd.DataFrame, object]:
    return read_requests(
        FIXTURES / request.param, as_of=AS_OF, timezone="America/Chicago", keep_raw=True
    )


def test_close_times_from_notes_then_from_updates(notes) -> None:
    frame, ledger = notes
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert durations(frame) == {
        "N-1": hours("30h15min"),  # last closing note, not the later update
        "N-2": hours("8h45min"),  # no notes: status closed, closes at updated_datetime
        "N-3": None,  # a closing note, then reopened: its status says open
        "N-4": hours("1h"),  # untyped note "Closed - ..." read in Chicago time (naive)
        "N-5": hours("48h30min"),  # unreadable notes: falls back to updated_datetime
    }
    flags = dict(zip(frame["service_request_id"], frame["qa_flags"], strict=True))
    assert flags == {
        "N-1": "closed_time_from_notes",
        "N-2": "closed_time_from_updated",
        "N-3": "",
        "N-4": "closed_time_from_notes",
        "N-5": "unreadable_notes|closed_time_from_updated",
    }
    assert {k: ledger.flagged[k] for k in flags_of(ledger)} == {
        "closed_time_from_notes": 2,
        "closed_time_from_updated": 2,
        "unreadable_notes": 1,
    }
    assert "closed_without_close_time" not in ledger.flagged
    assert frame["status"].tolist() == ["closed", "closed", "open", "closed", "closed"]


def flags_of(ledger) -> list[str]:
    return [k for k in ledger.flagged if k.startswith(("closed_time", "unreadable"))]


def test_fields_extended_attributes_and_media(notes) -> None:
    frame, _ = notes
    rows = frame.set_index("service_request_id")
    assert rows.loc["N-1", "service_code"] == "4fd3b167e750846744000005"
    assert rows.loc["N-2", "service_name"] == "Graffiti Removal"
    assert rows["agency_responsible"].tolist() == ["CDOT", "Streets and Sanitation", *["CDOT"] * 3]
    # the channel lives in extended_attributes: it fills `source`
    assert rows["source"].tolist()[:4] == ["mobile app", "phone", "web", "phone"]
    assert pd.isna(rows.loc["N-5", "source"])
    # extended attributes are flattened into raw columns, one per member
    assert rows["raw_extended_attributes.ward"].tolist()[:3] == ["27", "43", "27"]
    assert rows.loc["N-1", "raw_extended_attributes.photo_count"] == "2"
    assert rows.loc["N-1", "raw_address_id"] == "A-1200"
    # media URLs and notes stay in raw columns; no canonical column carries them
    assert rows.loc["N-1", "raw_media_url"] == "https://media.example.org/requests/N-1.jpg"
    canonical = frame[column_names()]
    text = canonical.select_dtypes(exclude="number").astype("string").fillna("")
    assert not text.apply(lambda c: c.str.contains("media.example.org")).any().any()
    assert "media_url" not in column_names() and "address_id" not in column_names()


def test_json_and_xml_agree() -> None:
    from_json, _ = read_requests(
        FIXTURES / NOTES[0], as_of=AS_OF, timezone="America/Chicago", keep_raw=True
    )
    from_xml, _ = read_requests(
        FIXTURES / NOTES[1], as_of=AS_OF, timezone="America/Chicago", keep_raw=True
    )
    columns = [*column_names()[:-2], "raw_extended_attributes.channel"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(from_xml[columns]), pd.DataFrame(from_json[columns]), check_dtype=False
    )


def test_close_time_rules_are_off_unless_the_profile_turns_them_on(tmp_path: Path) -> None:
    raw = pd.DataFrame(
        {
            "service_request_id": ["a"],
            "status": ["closed"],
            "requested_datetime": ["2024-05-01T09:00:00Z"],
            "updated_datetime": ["2024-05-01T12:00:00Z"],
            "notes": ['[{"datetime": "2024-05-01T10:00:00Z", "type": "closed"}]'],
        }
    )
    on, ledger = requests_from_frame(raw, schema="open311", as_of=AS_OF)
    assert on.loc[0, "closed_datetime"] == pd.Timestamp("2024-05-01T10:00:00Z")
    assert ledger.flagged["closed_time_from_notes"] == 1
    profile = tmp_path / "plain.toml"
    profile.write_text(
        'name = "plain"\ntimezone = "UTC"\n[columns]\nservice_request_id = "service_request_id"\n'
        'requested_datetime = "requested_datetime"\nupdated_datetime = "updated_datetime"\n'
        'status_raw = "status"\n[status]\nclosed = ["closed"]\n',
        encoding="utf-8",
    )
    off, ledger = requests_from_frame(raw, schema=profile, as_of=AS_OF)
    assert pd.isna(off.loc[0, "closed_datetime"])
    assert ledger.flagged["closed_without_close_time"] == 1
    assert "closed_time_from_updated" not in ledger.flagged


def test_notes_close_only_unless_the_status_says_open() -> None:
    events = '[{"datetime": "2024-05-01T10:00:00Z", "type": "Closed"}]'
    raw = pd.DataFrame(
        {
            "service_request_id": ["open", "empty", "closed"],
            "status": ["open", None, "closed"],
            "requested_datetime": ["2024-05-01T09:00:00Z"] * 3,
            "notes": [events] * 3,
        }
    )
    out, ledger = requests_from_frame(raw, schema="open311", as_of=AS_OF)
    assert out["closed_datetime"].isna().tolist() == [True, False, False]
    assert out["status"].tolist() == ["open", "closed", "closed"]  # inferred from the note
    assert ledger.flagged["closed_time_from_notes"] == 2


# --- one file, several jurisdictions ------------------------------------------------------


def test_mixed_jurisdictions_in_one_call(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="geo311.io.readers"):
        frame, ledger = read_requests(MULTI, schema=MULTI_PROFILE, as_of=AS_OF, keep_raw=True)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["format"] == "csv"
    rows = frame.set_index("service_request_id")
    assert rows["timezone"].to_dict() == {
        "C-1": "America/Chicago",
        "C-2": "America/Chicago",
        "E-1": "America/Chicago",  # "Evanston": matched without regard to case
        "S-1": "America/Los_Angeles",
        "S-2": "America/Los_Angeles",
        "S-3": "America/Los_Angeles",
        "U-1": "America/Chicago",  # not in the table: the profile's zone, flagged
    }
    assert rows.loc["E-1", "jurisdiction"] == "Evanston"
    # the same wall time is two hours apart in Chicago and San Francisco
    created = rows["requested_datetime"]
    assert created["C-1"] == pd.Timestamp("2024-03-10T05:00:00Z")
    assert created["S-1"] == pd.Timestamp("2024-03-10T07:00:00Z")
    assert created["S-2"] - created["E-1"] == hours("2h")
    assert durations(frame) == {
        "C-1": hours("3h"),  # 23:00 -> 03:00 across the spring-forward night
        "C-2": hours("2h30min"),  # closed, no close time: updated_datetime, flagged
        "E-1": hours("1h"),
        "S-1": hours("3h"),
        "S-2": None,
        "S-3": hours("23h15min"),  # from updated_datetime, read in Los Angeles time
        "U-1": None,
    }
    assert ledger.flagged["unknown_jurisdiction"] == 1
    assert ledger.flagged["closed_time_from_updated"] == 2
    assert rows.loc["U-1", "qa_flags"] == "unknown_jurisdiction"
    assert frame.attrs["timezone"] is None  # two zones: bucket by the `timezone` column
    assert "1 of 7 rows flagged unknown_jurisdiction, e.g. ['oakpark']" in caplog.text
    assert rows.loc["S-1", "raw_media_url"] == "https://media.example.org/S-1.jpg"


def test_one_jurisdiction_sets_the_frame_zone(tmp_path: Path) -> None:
    lines = MULTI.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "sf.tsv"
    path.write_text("\n".join([lines[0], *[x for x in lines if x.startswith("sfgov")]]) + "\n")
    frame, _ = read_requests(path, schema=MULTI_PROFILE, as_of=AS_OF)
    assert frame.attrs["timezone"] == "America/Los_Angeles"
    # the override applies to jurisdictions the table does not list only
    frame, _ = read_requests(MULTI, schema=MULTI_PROFILE, as_of=AS_OF, timezone="America/Denver")
    rows = frame.set_index("service_request_id")
    assert rows.loc["U-1", "timezone"] == "America/Denver"
    assert rows.loc["U-1", "requested_datetime"] == pd.Timestamp("2024-03-11T14:00:00Z")
    assert rows.loc["C-1", "timezone"] == "America/Chicago"


def test_a_missing_jurisdiction_column_is_a_schema_error(tmp_path: Path) -> None:
    lines = MULTI.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "nojur.tsv"
    path.write_text("\n".join(x.split("\t", 1)[1] for x in lines) + "\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="the jurisdiction column 'jurisdiction_id'"):
        read_requests(path, schema=MULTI_PROFILE, as_of=AS_OF)


def test_single_city_profiles_add_no_columns() -> None:
    frame, _ = read_requests(FIXTURES / "open311_bulk_closed_date.csv", as_of=AS_OF)
    assert "timezone" not in frame and "jurisdiction" not in frame


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('[jurisdictions]\ncolumn = "city"\n', "[jurisdictions.timezones] must be a table"),
        (
            '[jurisdictions]\ncolumn = "city"\n[jurisdictions.timezones]\nx = "Mars/Olympus"\n',
            "[jurisdictions.timezones] x",
        ),
        (
            '[jurisdictions]\ncolumn = "city"\n[jurisdictions.timezones]\nx = 5\n',
            "[jurisdictions.timezones] x must be an IANA zone name",
        ),
        (
            '[jurisdictions]\n[jurisdictions.timezones]\nx = "UTC"\n',
            "'column' is required",
        ),
        (
            '[jurisdictions]\ncolumn = "c"\n[jurisdictions.timezones]\nA = "UTC"\na = "UTC"\n',
            "names a jurisdiction twice",
        ),
        ('[jurisdictions]\ncolumn = "c"\nzones = 1\n', "[jurisdictions] has unknown keys"),
        ("[timestamps]\nclosed_from_updated = 1\n", "closed_from_updated must be true or false"),
        ("[timestamps]\nclosed_from_notes = 3\n", "'closed_from_notes' must be a string"),
    ],
)
def test_profile_problems(tmp_path: Path, table: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\ntimezone = "UTC"\n[columns]\nservice_request_id = "id"\n'
        'requested_datetime = "t"\n' + table,
        encoding="utf-8",
    )
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert words in str(err.value)


def test_the_multicity_profile_reads() -> None:
    profile = load_profile(MULTI_PROFILE)
    assert profile.jurisdiction_column == "jurisdiction_id"
    assert dict(profile.jurisdiction_timezones) == {
        "chicago": "America/Chicago",
        "evanston": "America/Chicago",
        "sfgov.org": "America/Los_Angeles",
    }
    assert profile.closed_from_updated and profile.closed_from_notes is None
    open311 = get_profile("open311")
    assert (open311.closed_from_notes, open311.closed_from_updated) == ("notes", True)
    for name in ("baltimore", "los_angeles"):
        city = get_profile(name)
        assert (city.closed_from_notes, city.closed_from_updated) == (None, False)
        assert city.jurisdiction_column is None


def test_chicago_work_order_outcomes_are_not_transfers() -> None:
    # Chicago-style status_notes: work-order outcomes ("... Transfer Outcome") and
    # follow-on requests ("Transfer to Plumbing Violation") are results of the request;
    # only a request itself transferred or referred elsewhere is a transfer.
    frame, ledger = read_requests(
        FIXTURES / "open311_chicago_outcomes.json", as_of=AS_OF, timezone="America/Chicago"
    )
    check_ledger(frame, ledger)
    assert len(frame) == 11
    ids = frame.set_index("service_request_id")
    assert ids.index[ids["is_transfer"]].tolist() == ["CH-0010", "CH-0011"]
    assert ids.index[ids["is_duplicate"]].tolist() == ["CH-0007"]
    # "transfer" in the description, the service notice or the agency is not an outcome
    assert "transfer" in ids.at["CH-0005", "description"].lower()
    assert "Transfer" in ids.at["CH-0006", "agency_responsible"]
    assert not ids.loc[["CH-0004", "CH-0005", "CH-0006"], "is_transfer"].any()
    assert not ids.at["CH-0009", "is_transfer"]  # "preferred" is not "referred"
    assert ids.at["CH-0001", "source"] == "phone"  # extended_attributes.channel

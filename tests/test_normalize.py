"""Timestamp and location parsing, and mapping a raw frame onto the canonical columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from geo311._errors import SchemaError
from geo311.clean.quality import clean_requests, flag_coordinates
from geo311.io.normalize import normalize_frame, parse_location
from geo311.io.profiles import Profile, get_profile, load_profile
from geo311.io.schema import column_names, validate_requests
from geo311.io.timestamps import parse_timestamps

NY = "America/New_York"
BALTIMORE_FMT = "%m/%d/%Y %I:%M:%S %p"


def utc(*values: str) -> list[pd.Timestamp | None]:
    return [None if v is None else pd.Timestamp(v, tz="UTC") for v in values]


def as_list(series: pd.Series) -> list[pd.Timestamp | None]:
    return [None if pd.isna(v) else v for v in series]


def parse(values: list[object], *formats: str, timezone: str = NY, naive: str = "local"):
    return parse_timestamps(
        pd.Series(values, dtype=object), formats=formats, timezone=timezone, naive=naive
    )


# --- parse_timestamps: one format kind at a time ----------------------------------------


def test_strptime_local_wall_time() -> None:
    out = parse(["10/21/2019 11:49:49 AM", "01/15/2020 03:00:00 PM"], BALTIMORE_FMT)
    assert str(out.values.dtype) == "datetime64[us, UTC]"
    # EDT is UTC-4 in October, EST UTC-5 in January.
    assert as_list(out.values) == utc("2019-10-21 15:49:49", "2020-01-15 20:00:00")
    assert not out.unparsed.any()


def test_strptime_other_zone() -> None:
    out = parse(["12/31/2017 11:59:58 PM"], BALTIMORE_FMT, timezone="America/Los_Angeles")
    assert as_list(out.values) == utc("2018-01-01 07:59:58")


STRPTIME_CASES = [
    "10/21/2019 11:49:49 AM",
    "12/01/2019 12:00:01 AM",  # 12 AM is midnight
    "12/01/2019 12:00:01 pm",
    "1/5/2019 1:02:03 PM",  # not zero-padded: pandas reads it
    "02/29/2019 10:00:00 AM",  # no such day (Arrow would roll it to 1 March)
    "02/29/2020 10:00:00 AM",
    "13/21/2019 11:49:49 AM",
    "10/21/2019 00:49:49 AM",
    "10/21/2019 11:49:49 AMx",
    "10/21/2019 11:49:49",
    "10/21/2300 11:49:49 AM",  # outside pandas' nanosecond range
    "\u3000 10/21/2019 11:49:49 AM\x1c",  # Python's whitespace, stripped as str.strip does
    "\uff110/21/2019 11:49:49 AM",  # a full-width digit
    "",
    None,
]


@pytest.mark.parametrize("strings", ["str", "string[pyarrow]"])
def test_strptime_reads_what_pandas_reads_value_by_value(strings: str) -> None:
    values = pd.Series(STRPTIME_CASES, dtype=strings if strings != "str" else object)
    out = parse_timestamps(values, formats=(BALTIMORE_FMT,), timezone=NY)
    text = pd.Series(STRPTIME_CASES, dtype="string").str.strip()
    wall = pd.to_datetime(text.mask(text == ""), format=BALTIMORE_FMT, errors="coerce")
    expected = wall.dt.tz_localize(NY).dt.tz_convert("UTC")
    assert out.values.isna().tolist() == expected.isna().tolist()
    assert out.values.dropna().tolist() == expected.dropna().tolist()
    assert out.unparsed.tolist() == [*(expected.isna() & text.notna() & (text != ""))]
    assert out.values.notna().sum() == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018/05/08 07:51:45+00", "2018-05-08 07:51:45"),
        ("2018/05/08 07:51:45+0000", "2018-05-08 07:51:45"),
        ("2018/05/08 07:51:45-04:00", "2018-05-08 11:51:45"),
    ],
)
def test_strptime_with_offset(text: str, expected: str) -> None:
    out = parse([text], "%Y/%m/%d %H:%M:%S%z")
    assert as_list(out.values) == utc(expected)
    assert not out.ambiguous.any()


def test_iso8601_mixed_with_and_without_offsets() -> None:
    out = parse(
        [
            "2019-10-21T10:00:00Z",
            "2019-10-21T10:00:00",  # local (EDT)
            "2019-10-21 10:00:00-04:00",
            "2019-10-21T10:00:00.250+0000",
            "2019-10-21",  # a date alone is local midnight, not an offset of -21
            "2019-10-21T10:00",
        ],
        "ISO8601",
    )
    assert as_list(out.values) == utc(
        "2019-10-21 10:00:00",
        "2019-10-21 14:00:00",
        "2019-10-21 14:00:00",
        "2019-10-21 10:00:00.250",
        "2019-10-21 04:00:00",
        "2019-10-21 14:00:00",
    )
    assert not out.unparsed.any()


def test_epoch_milliseconds_strings_ints_and_floats() -> None:
    out = parse(["1571672989123", 1571672989000, 1571672989000.0, None], "epoch_ms")
    assert as_list(out.values) == [
        *utc("2019-10-21 15:49:49.123", "2019-10-21 15:49:49", "2019-10-21 15:49:49"),
        None,
    ]
    assert not out.unparsed.any()  # the empty value is missing, not unparsed


def test_epoch_seconds_exact_to_the_microsecond() -> None:
    out = parse(["1571672989", 1571672989.1, "1571672989.123456"], "epoch_s")
    assert as_list(out.values) == utc(
        "2019-10-21 15:49:49", "2019-10-21 15:49:49.100", "2019-10-21 15:49:49.123456"
    )


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        ("20190101", "epoch_ms"),  # a yyyymmdd date, not 1970 + 5 hours
        ("20190101", "epoch_s"),
        ("1571672989", "epoch_ms"),  # seconds are not milliseconds (1970-01-19)
        ("1571672989000", "epoch_s"),  # milliseconds are not seconds (year 51775)
        ("-1571672989000", "epoch_ms"),  # 1920
        ("99999999999999", "epoch_ms"),  # year 5138
        ("12", "epoch_s"),
        ("twelve", "epoch_s"),
    ],
)
def test_implausible_epoch_numbers_are_rejected(value: str, fmt: str) -> None:
    out = parse([value], fmt)
    assert out.values.isna().all()
    assert out.unparsed.tolist() == [True]


def test_naive_utc() -> None:
    out = parse(["2019-11-03T01:30:00", "10/21/2019 11:49:49 AM"], "ISO8601", BALTIMORE_FMT,
                naive="UTC")  # fmt: skip
    assert as_list(out.values) == utc("2019-11-03 01:30:00", "2019-10-21 11:49:49")
    assert not out.ambiguous.any()


def test_naive_must_be_local_or_utc() -> None:
    with pytest.raises(ValueError, match="naive"):
        parse(["2019-01-01"], "ISO8601", naive="utc")


def test_index_is_kept() -> None:
    values = pd.Series(["2019-01-01T00:00:00Z", "x"], index=[10, 20])
    out = parse_timestamps(values, formats=("ISO8601",), timezone=NY)
    assert out.values.index.tolist() == [10, 20]
    assert out.unparsed.tolist() == [False, True]


# --- parse_timestamps: choosing between formats ------------------------------------------


def test_best_format_is_chosen_over_the_listed_order() -> None:
    # Day-first data; "03/11/2019" is also a valid month-first date (March 11).
    values = ["21/10/2019 10:00", "22/10/2019 10:00", "03/11/2019 10:00"]
    out = parse(values, "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", timezone="UTC")
    assert as_list(out.values) == utc("2019-10-21 10:00", "2019-10-22 10:00", "2019-11-03 10:00")


def test_first_listed_format_wins_a_tie() -> None:
    out = parse(["03/11/2019 10:00"], "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", timezone="UTC")
    assert as_list(out.values) == utc("2019-03-11 10:00")


def test_mixed_column_falls_back_and_reports_unparsed_rows() -> None:
    values = [
        "10/21/2019 11:49:49 AM",
        "10/22/2019 01:00:00 PM",
        "2019-10-23T08:00:00-04:00",
        "1571672989000",
        "",
        None,
        "not a time",
        "31/31/2019",
    ]
    out = parse(values, BALTIMORE_FMT, "ISO8601", "epoch_ms")
    assert as_list(out.values) == [
        *utc(
            "2019-10-21 15:49:49",
            "2019-10-22 17:00:00",
            "2019-10-23 12:00:00",
            "2019-10-21 15:49:49",
        ),
        None,
        None,
        None,
        None,
    ]
    assert out.unparsed.tolist() == [False] * 6 + [True, True]


# --- parse_timestamps: daylight saving time ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("11/03/2019 01:30:00 AM", BALTIMORE_FMT), ("2019-11-03T01:30:00", "ISO8601")],
)
def test_repeated_autumn_hour_is_the_first_occurrence(text: str, fmt: str) -> None:
    out = parse([text, "11/03/2019 03:00:00 AM"], fmt, BALTIMORE_FMT)
    # 01:30 EDT (UTC-4), not 01:30 EST (UTC-5).
    assert as_list(out.values) == utc("2019-11-03 05:30", "2019-11-03 08:00")
    assert out.ambiguous.tolist() == [True, False]
    assert not out.nonexistent.any()


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("03/10/2019 02:30:00 AM", BALTIMORE_FMT), ("2019-03-10T02:30:00", "ISO8601")],
)
def test_skipped_spring_hour_is_shifted_forward(text: str, fmt: str) -> None:
    out = parse([text, "03/10/2019 01:59:00 AM"], fmt, BALTIMORE_FMT)
    # 02:30 does not exist; the first valid instant is 03:00 EDT = 07:00 UTC.
    assert as_list(out.values) == utc("2019-03-10 07:00", "2019-03-10 06:59")
    assert out.nonexistent.tolist() == [True, False]
    assert not out.ambiguous.any()


def test_instants_with_offsets_are_never_dst_flagged() -> None:
    out = parse(["2019-11-03T01:30:00-05:00"], "ISO8601")
    assert as_list(out.values) == utc("2019-11-03 06:30")
    assert not out.ambiguous.any()


@pytest.mark.parametrize(
    ("created", "closed", "hours"),
    [
        ("11/02/2019 12:00:00 PM", "11/03/2019 12:00:00 PM", 25),  # clocks go back
        ("03/09/2019 12:00:00 PM", "03/10/2019 12:00:00 PM", 23),  # clocks go forward
        ("11/03/2019 12:30:00 AM", "11/03/2019 01:30:00 AM", 1),  # first 01:30
        ("10/21/2019 11:00:00 AM", "10/22/2019 11:00:00 AM", 24),
    ],
)
def test_durations_across_dst_are_exact(created: str, closed: str, hours: int) -> None:
    out = parse([created, closed], BALTIMORE_FMT)
    start, end = out.values.iloc[0], out.values.iloc[1]
    assert end - start == pd.Timedelta(hours=hours)
    # One calendar day apart in local time, whatever the length.
    if hours in (23, 25):
        assert (end.tz_convert(NY).date() - start.tz_convert(NY).date()).days == 1


# --- parse_location ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lat", "lon"),
    [
        ("POINT (-118.294017712 34.0676390557)", 34.0676390557, -118.294017712),
        ("point(-118.5 34.2)", 34.2, -118.5),
        ("(39.31815082703674, -76.65235954194969)", 39.31815082703674, -76.65235954194969),
        ("39.3, -76.6", 39.3, -76.6),
        ("POINT (-1.185E2 3.42e1)", 34.2, -118.5),
        ("(3.93e1, -7.66e+1)", 39.3, -76.6),
        ("(.5, -.25)", 0.5, -0.25),
        ("garbage", np.nan, np.nan),
        ("POINT EMPTY", np.nan, np.nan),
        ("(39.3; -76.6)", np.nan, np.nan),
        ("", np.nan, np.nan),
        (None, np.nan, np.nan),
    ],
)
def test_parse_location(text: str | None, lat: float, lon: float) -> None:
    got_lat, got_lon = parse_location(pd.Series([text], dtype=object))
    assert got_lat.name == "lat"
    assert got_lon.name == "long"
    np.testing.assert_allclose(got_lat.to_numpy(dtype=float), [lat])
    np.testing.assert_allclose(got_lon.to_numpy(dtype=float), [lon])


# --- normalize_frame ---------------------------------------------------------------------


def baltimore_raw() -> pd.DataFrame:
    """Four rows in the 2019 portal CSV layout, read as strings (a few columns left out)."""
    return pd.DataFrame(
        {
            "SRRecordID": ["5004M00000ZwOMnQAN", "r2", "r3", "r4"],
            "ServiceRequestNum": ["19-00711545", " 19-2 ", "19-3", ""],
            "SRType": [
                "TRM-Street and Crosswalk Markings",
                "SW-Proactive Cleaning",
                "SW-Dirty Alley",
                "HCD-Illegal Dumping",
            ],
            "MethodReceived": ["Phone", "Phone", "Internal", "API"],
            "CreatedDate": [
                "10/21/2019 11:49:49 AM",
                "11/02/2019 12:00:00 PM",
                "11/03/2019 01:30:00 AM",
                "yesterday",
            ],
            "SRStatus": [" Open ", "Open (Duplicate)", "Closed (Transferred)", "Frobnicated"],
            "CloseDate": ["", "", "11/03/2019 12:00:00 PM", ""],
            "Outcome": ["", "", "", ""],
            "Address": ["LIBERTY HEIGHTS AVE & REISTERSTOWN RD", "1 A ST", "2 B ST", "3 C ST"],
            "ZipCode": ["21215", "01234", "", ""],
            "Neighborhood": ["Mondawmin", "X", "Y", "Z"],
            "Latitude": ["39.3181508270367", "", "0", ""],
            "Longitude": ["-76.6523595419497", "", "0", ""],
            "GeoLocation": [
                "(1.0, 2.0)",
                "(39.29, -76.61)",
                "(39.3, -76.6)",
                "",
            ],
        },
        index=[7, 3, 5, 1],  # an index that is neither 0-based nor sorted
    )


def test_mapping_of_a_baltimore_export() -> None:
    raw = baltimore_raw()
    result = normalize_frame(raw, profile=get_profile("baltimore"), input_file="b.csv")
    out = result.frame
    assert list(out.columns[: len(column_names())]) == column_names()
    assert out.index.equals(pd.RangeIndex(4))
    assert out["service_request_id"].tolist()[:3] == ["19-00711545", "19-2", "19-3"]
    assert pd.isna(out.loc[3, "service_request_id"])
    assert out.loc[0, "service_name"] == "TRM-Street and Crosswalk Markings"
    assert out.loc[1, "zipcode"] == "01234"  # leading zero kept
    assert out.loc[0, "source"] == "Phone"
    assert pd.isna(out.loc[0, "service_code"])  # not mapped by this profile
    assert as_list(out["requested_datetime"])[:3] == utc(
        "2019-10-21 15:49:49", "2019-11-02 16:00:00", "2019-11-03 05:30:00"
    )
    assert out["closed_datetime"].iloc[2] - out["requested_datetime"].iloc[2] == pd.Timedelta(
        hours=11, minutes=30
    )
    assert out["input_file"].tolist() == ["b.csv"] * 4
    assert result.flagged["unparsed_requested_datetime"] == 1
    assert result.examples["unparsed_requested_datetime"] == ["yesterday"]
    assert result.flagged["ambiguous_local_time"] == 1
    assert result.flagged["missing_service_request_id"] == 1
    assert out.loc[2, "qa_flags"] == "ambiguous_local_time"
    assert set(out.loc[3, "qa_flags"].split("|")) == {
        "unparsed_requested_datetime",
        "unknown_status",
        "missing_service_request_id",
    }


def test_raw_copies_of_every_source_column_verbatim() -> None:
    raw = baltimore_raw()
    out = normalize_frame(raw, profile=get_profile("baltimore"), keep_raw=True).frame
    raw_cols = [c for c in out.columns if c.startswith("raw_")]
    assert raw_cols == [f"raw_{c}" for c in raw.columns]
    for col in raw.columns:
        assert out[f"raw_{col}"].tolist() == raw[col].tolist(), col
        assert pd.api.types.is_string_dtype(out[f"raw_{col}"].dtype)
    assert out.loc[0, "raw_SRStatus"] == " Open "  # not stripped
    assert out.loc[0, "status_raw"] == "Open"  # the canonical copy is


def test_raw_copies_of_non_string_columns() -> None:
    raw = pd.DataFrame(
        {
            "service_request_id": ["a"],
            "requested_datetime": ["2024-01-01T00:00:00Z"],
            "lat": [39.25],
            "long": [-76.5],
            "count": [3],
        }
    )
    out = normalize_frame(raw, profile=get_profile("open311"), keep_raw=True).frame
    assert out.loc[0, "raw_lat"] == "39.25"
    assert out.loc[0, "raw_count"] == "3"
    assert out.loc[0, "lat"] == 39.25


def test_case_insensitive_matching_of_a_lowercase_header() -> None:
    raw = baltimore_raw()
    raw.columns = [c.lower() for c in raw.columns]
    out = normalize_frame(raw, profile=get_profile("baltimore"), keep_raw=True).frame
    assert out["service_request_id"].tolist()[:3] == ["19-00711545", "19-2", "19-3"]
    assert out.loc[0, "lat"] == pytest.approx(39.3181508270367)
    assert "raw_srstatus" in out.columns


def test_case_sensitive_profile_refuses_other_cases() -> None:
    raw = pd.DataFrame({"Service_Request_ID": ["1"], "Requested_Datetime": ["2024-01-01"]})
    with pytest.raises(SchemaError, match="needs columns it did not find"):
        normalize_frame(raw, profile=get_profile("open311"), input_file="bulk.csv")


@pytest.mark.parametrize("close_column", ["closed_datetime", "closed_date"])
def test_alternative_column_names(close_column: str) -> None:
    raw = pd.DataFrame(
        {
            "service_request_id": ["1"],
            "requested_datetime": ["2024-01-01T10:00:00-05:00"],
            close_column: ["2024-01-02T10:00:00-05:00"],
            "channel": ["phone"],
        }
    )
    out = normalize_frame(raw, profile=get_profile("open311")).frame
    assert as_list(out["closed_datetime"]) == utc("2024-01-02 15:00")
    assert out.loc[0, "source"] == "phone"


def test_baltimore_updated_time_falls_back_to_last_activity() -> None:
    raw = pd.DataFrame(
        {
            "ServiceRequestNum": ["1"],
            "SRType": ["x"],
            "CreatedDate": ["10/21/2019 11:49:49 AM"],
            "LastActivityDate": ["10/22/2019 09:00:00 AM"],
        }
    )
    out = normalize_frame(raw, profile=get_profile("baltimore")).frame
    assert as_list(out["updated_datetime"]) == utc("2019-10-22 13:00")


@pytest.mark.parametrize(
    ("raw_status", "expected"),
    [
        ("Open", "open"),
        ("OPEN", "open"),
        ("New", "open"),
        ("Pending", "open"),
        ("Hold", "open"),
        ("In Progress", "open"),
        ("Open (Duplicate)", "open"),
        ("New (Duplicate)", "open"),
        ("Closed", "closed"),
        ("Closed (Duplicate)", "closed"),
        ("Closed (Transferred)", "closed"),
    ],
)
def test_status_vocabulary(raw_status: str, expected: str) -> None:
    raw = pd.DataFrame(
        {
            "ServiceRequestNum": ["1"],
            "SRType": ["x"],
            "CreatedDate": ["10/21/2019 11:49:49 AM"],
            "SRStatus": [raw_status],
        }
    )
    result = normalize_frame(raw, profile=get_profile("baltimore"))
    assert result.frame.loc[0, "status"] == expected
    assert result.frame.loc[0, "status_raw"] == raw_status
    assert "unknown_status" not in result.flagged


def test_unknown_statuses_are_flagged_with_examples() -> None:
    raw = pd.DataFrame(
        {
            "service_request_id": list("abcd"),
            "requested_datetime": ["2024-01-01T00:00:00Z"] * 4,
            "status": ["resolved", "open", "resolved", "archived"],
        }
    )
    result = normalize_frame(raw, profile=get_profile("open311"))
    out = result.frame
    assert out["status"].isna().tolist() == [True, False, True, True]
    assert result.flagged["unknown_status"] == 3
    assert result.examples["unknown_status"] == ["resolved", "archived"]
    assert out.loc[0, "qa_flags"] == "unknown_status"


def test_status_inferred_from_close_time_when_raw_is_empty() -> None:
    raw = pd.DataFrame(
        {
            "service_request_id": list("abc"),
            "requested_datetime": ["2024-01-01T00:00:00Z"] * 3,
            "closed_datetime": ["2024-01-02T00:00:00Z", "", "2024-01-02T00:00:00Z"],
            "status": ["", "  ", "open"],
        }
    )
    result = normalize_frame(raw, profile=get_profile("open311"))
    assert result.frame["status"].tolist() == ["closed", "open", "open"]
    assert result.flagged["status_inferred_from_close_time"] == 2


def test_no_status_column_infers_without_flagging() -> None:
    raw = pd.DataFrame(
        {
            "service_request_id": list("ab"),
            "requested_datetime": ["2024-01-01T00:00:00Z"] * 2,
            "closed_datetime": ["2024-01-02T00:00:00Z", None],
        }
    )
    result = normalize_frame(raw, profile=get_profile("open311"))
    assert result.frame["status"].tolist() == ["closed", "open"]
    assert "status_inferred_from_close_time" not in result.flagged


def test_duplicate_transfer_and_proactive_rules() -> None:
    raw = pd.DataFrame(
        {
            "ServiceRequestNum": [str(i) for i in range(6)],
            "SRType": [
                "SW-Dirty Alley",
                "SW-Dirty Alley",
                "SW-Rat Rubout Proactive",
                "SW-Dirty Alley",
                "SW-Dirty Alley",
                "SW-Dirty Alley",
            ],
            "CreatedDate": ["10/21/2019 11:49:49 AM"] * 6,
            "SRStatus": [
                "Open (Duplicate)",
                "Closed (Transferred)",
                "Open",
                "Closed",
                "Closed",
                "Open",
            ],
            "Outcome": ["", "", "", "Duplicate of 19-1", "Transferred to BGE", ""],
            "MethodReceived": ["Phone", "Phone", "Phone", "Phone", "API", "Internal"],
        }
    )
    out = normalize_frame(raw, profile=get_profile("baltimore")).frame
    assert out["is_duplicate"].tolist() == [True, False, False, True, False, False]
    assert out["is_transfer"].tolist() == [False, True, False, False, True, False]
    assert out["is_proactive"].tolist() == [False, False, True, False, False, True]
    assert out["is_duplicate"].dtype == bool


def test_la_referred_out_is_a_closed_transfer() -> None:
    raw = pd.DataFrame(
        {
            "SRNumber": ["1-1", "1-2"],
            "CreatedDate": ["12/31/2017 11:59:58 PM"] * 2,
            "RequestType": ["Bulky Items"] * 2,
            "Status": ["Referred Out", "Closed"],
            "RequestSource": ["Driver Self Report", "Call"],
        }
    )
    out = normalize_frame(raw, profile=get_profile("los_angeles")).frame
    assert out["status"].tolist() == ["closed", "closed"]
    assert out["is_transfer"].tolist() == [True, False]
    assert out["is_proactive"].tolist() == [True, False]


def projected_profile(tmp_path: Path) -> Profile:
    text = """
name = "md_feet"
timezone = "America/New_York"
[columns]
service_request_id = "id"
requested_datetime = "created"
[coordinates]
lat = "Y"
long = "X"
location = "where"
crs = "EPSG:2248"
"""
    path = tmp_path / "md_feet.toml"
    path.write_text(text, encoding="utf-8")
    return load_profile(path)


def test_projected_coordinates_are_converted(tmp_path: Path) -> None:
    raw = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "created": ["2024-01-01T00:00:00Z"] * 3,
            "X": ["1422093.8135", "1400000", ""],
            "Y": ["591585.8962", "600000", ""],
            "where": ["", "", "(39.31, -76.62)"],
        }
    )
    out = normalize_frame(raw, profile=projected_profile(tmp_path)).frame
    to_wgs84 = Transformer.from_crs("EPSG:2248", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform([1422093.8135, 1400000.0], [591585.8962, 600000.0])
    np.testing.assert_allclose(out["long"].iloc[:2], lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(out["lat"].iloc[:2], lat, rtol=0, atol=1e-9)
    # City hall area, about (39.2904, -76.6122).
    assert out.loc[0, "lat"] == pytest.approx(39.2904, abs=1e-6)
    assert out.loc[0, "long"] == pytest.approx(-76.6122, abs=1e-6)
    # The location column is in degrees and only fills the row without X/Y.
    assert (out.loc[2, "lat"], out.loc[2, "long"]) == (39.31, -76.62)


def test_location_column_only_where_lat_long_missing() -> None:
    out = normalize_frame(baltimore_raw(), profile=get_profile("baltimore")).frame
    # Row 0 has Latitude/Longitude: its GeoLocation (1, 2) is ignored.
    assert out.loc[0, "lat"] == pytest.approx(39.3181508270367)
    assert out.loc[0, "long"] == pytest.approx(-76.6523595419497)
    # Row 1 has none: the location fills it.
    assert (out.loc[1, "lat"], out.loc[1, "long"]) == (39.29, -76.61)
    # Row 2 has (0, 0): present, so kept for the coordinate checks to judge.
    assert (out.loc[2, "lat"], out.loc[2, "long"]) == (0.0, 0.0)
    assert out["coord_quality"].tolist() == ["ok", "ok", "ok", "missing"]


def test_location_fills_a_row_with_only_one_coordinate() -> None:
    raw = baltimore_raw().iloc[:1].copy()
    raw["Longitude"] = [""]
    raw["GeoLocation"] = ["(39.3, -76.6)"]
    out = normalize_frame(raw, profile=get_profile("baltimore")).frame
    assert (out.loc[0, "lat"], out.loc[0, "long"]) == (39.3, -76.6)


def test_points_fill_what_is_left() -> None:
    raw = pd.DataFrame(
        {
            "service_request_id": ["a", "b"],
            "requested_datetime": ["2024-01-01T00:00:00Z"] * 2,
            "lat": ["39.1", ""],
            "long": ["-76.1", ""],
        }
    )
    points = pd.DataFrame({"lat": [1.0, 39.2], "long": [2.0, -76.2]}, index=[50, 51])
    out = normalize_frame(raw, profile=get_profile("open311"), points=points).frame
    assert out["lat"].tolist() == [39.1, 39.2]
    assert out["long"].tolist() == [-76.1, -76.2]


def test_input_rows_are_numbered_from_first_row() -> None:
    out = normalize_frame(baltimore_raw(), profile=get_profile("baltimore"), first_row=101).frame
    assert out["input_row"].tolist() == [101, 102, 103, 104]
    assert out["input_row"].dtype == "int64"


def test_timezone_override() -> None:
    raw = pd.DataFrame(
        {"service_request_id": ["a"], "requested_datetime": ["2024-07-01T12:00:00"]}
    )
    out = normalize_frame(raw, profile=get_profile("open311"), timezone="America/Chicago").frame
    assert as_list(out["requested_datetime"]) == utc("2024-07-01 17:00")
    default = normalize_frame(raw, profile=get_profile("open311")).frame
    assert as_list(default["requested_datetime"]) == utc("2024-07-01 12:00")


def test_the_input_frame_is_not_mutated() -> None:
    raw = baltimore_raw()
    before = raw.copy()
    points = pd.DataFrame({"lat": [1.0] * 4, "long": [2.0] * 4})
    normalize_frame(raw, profile=get_profile("baltimore"), first_row=3, points=points)
    pd.testing.assert_frame_equal(raw, before)


def test_empty_frame() -> None:
    raw = pd.DataFrame({"service_request_id": [], "requested_datetime": []}, dtype=object)
    result = normalize_frame(raw, profile=get_profile("open311"))
    assert len(result.frame) == 0
    assert result.flagged == {}


def test_normalized_frame_meets_the_schema_after_cleaning() -> None:
    profile = get_profile("baltimore")
    norm = normalize_frame(baltimore_raw(), profile=profile)
    coords = flag_coordinates(norm.frame, bbox=profile.bbox)
    cleaned = clean_requests(coords.frame, as_of="2024-01-01")
    assert validate_requests(cleaned.frame) is cleaned.frame

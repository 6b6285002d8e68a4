"""Adversarial inputs to ingest: each is refused with one clear line or flagged and counted.

Issue 11 found five ways to get exit 0 with wrong data and several tracebacks
instead of a message.  Every case is generated here, under ``tmp_path``, with
the error (class and the words the user needs) or the flag it must produce.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

import pandas as pd
import pytest

from geo311._errors import InputFileError, OptionError, ProfileError, SchemaError
from geo311.io.profiles import get_profile, load_profile
from geo311.io.readers import read_requests, requests_from_frame
from geo311.io.sniff import sniff_encoding
from geo311.io.values import check_timezone, parse_as_of, parse_period

AS_OF = "2025-01-01"
HEADER = ["service_request_id", "status", "requested_datetime", "address", "lat", "long"]


def _rows(n: int, *, address: str = "1 Main St") -> list[list[str]]:
    return [
        [f"R-{i}", "open", f"2024-03-{1 + i % 28:02d}T10:00:00Z", address, "42.36", "-71.05"]
        for i in range(n)
    ]


def _csv(rows: list[list[str]], *, sep: str = ",", header_sep: str | None = None) -> str:
    lines = [(header_sep or sep).join(HEADER)] + [sep.join(r) for r in rows]
    return "\n".join(lines) + "\n"


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    return text


# --------------------------------------------------------------------------- a. delimiters


def test_comma_header_with_semicolon_rows_names_both_and_the_row(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(_csv(_rows(50), sep=";", header_sep=","), encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_requests(path, as_of=AS_OF)
    text = _one_line(info)
    assert "mixed.csv" in text
    assert "','" in text
    assert "';'" in text
    assert "data row 1 (line 2)" in text


def test_one_semicolon_row_among_comma_rows_is_found(tmp_path: Path) -> None:
    rows = [",".join(r) for r in _rows(12)]
    rows[6] = ";".join(_rows(7)[6])
    path = tmp_path / "one_bad_row.csv"
    path.write_text(",".join(HEADER) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"one_bad_row\.csv.*data row 7 \(line 8\)"):
        read_requests(path, as_of=AS_OF)


def test_delimiters_inside_quotes_and_one_delimiter_throughout_are_read(tmp_path: Path) -> None:
    rows = _rows(5, address='"1 Main St; rear, left"')
    for sep in (",", ";"):
        path = tmp_path / f"quoted{sep == ';'}.csv"
        path.write_text(_csv(rows, sep=sep), encoding="utf-8")
        frame, ledger = read_requests(path, as_of=AS_OF)
        assert len(frame) == 5
        assert ledger.dropped == {}
        assert set(frame["address"]) == {"1 Main St; rear, left"}


# --------------------------------------------------------------------------- b. encodings


def _utf8_with_one_cp1252_byte(tmp_path: Path, *, straddle: bool = False) -> tuple[Path, int, int]:
    """A UTF-8 file (with é everywhere) where one row's é is the cp1252 byte 0xE9.

    With ``straddle`` the bad byte lies past the first 1 MiB read block and a
    valid two-byte é is split across the block boundary.
    """
    rows = _rows(40, address="12 Café Row")
    head = _csv(rows[:30]).encode("utf-8")
    if straddle:
        boundary = 1 << 20
        filler = b"P-0,open,2024-03-01T10:00:00Z,Elm St,42.36,-71.05\n"
        head += filler * ((boundary - len(head) - 200) // len(filler))
        prefix = b"P-1,open,2024-03-01T10:00:00Z,"
        pad = boundary - 1 - len(head) - len(prefix)
        head += prefix + b"x" * pad + "é Row,42.36,-71.05\n".encode()
        assert head[boundary - 1 : boundary + 1] == "é".encode()
    bad = ",".join(["X-1", "open", "2024-03-01T10:00:00Z", "7 Caf\xe9 Row", "42.36", "-71.05"])
    bad_bytes = bad.encode("cp1252") + b"\n"
    tail = "".join(",".join(r) + "\n" for r in rows[30:]).encode("utf-8")
    path = tmp_path / "mostly_utf8.csv"
    path.write_bytes(head + bad_bytes + tail)
    offset = len(head) + bad_bytes.index(b"\xe9")
    line = head.count(b"\n") + 1
    return path, line, offset


def test_one_cp1252_byte_in_a_utf8_file_is_refused_with_line_and_offset(tmp_path: Path) -> None:
    path, line, offset = _utf8_with_one_cp1252_byte(tmp_path)
    with pytest.raises(InputFileError) as info:
        read_requests(path, as_of=AS_OF)
    text = _one_line(info)
    assert "mostly_utf8.csv" in text
    assert f"line {line}, byte offset {offset}: byte 0xE9" in text
    assert "--encoding cp1252" in text


def test_the_bad_byte_is_located_across_read_blocks_and_in_gzip(tmp_path: Path) -> None:
    path, line, offset = _utf8_with_one_cp1252_byte(tmp_path, straddle=True)
    assert offset > 1 << 20
    zipped = tmp_path / "mostly_utf8.csv.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    for target in (path, zipped):
        with pytest.raises(InputFileError, match=f"line {line}, byte offset {offset}:"):
            sniff_encoding(target)


def test_a_declared_encoding_is_checked_over_the_whole_file(tmp_path: Path) -> None:
    path, line, offset = _utf8_with_one_cp1252_byte(tmp_path)
    with pytest.raises(InputFileError, match=f"line {line}, byte offset {offset}.*utf-8"):
        read_requests(path, encoding="utf-8", as_of=AS_OF)
    with pytest.raises(OptionError, match="--encoding 'klingon'"):
        read_requests(path, encoding="klingon", as_of=AS_OF)


def test_a_whole_cp1252_file_is_read_as_cp1252_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes(_csv(_rows(3, address="12 Café Row")).encode("cp1252"))
    with caplog.at_level(logging.WARNING, logger="geo311"):
        frame, _ = read_requests(path, as_of=AS_OF)
    assert set(frame["address"]) == {"12 Café Row"}  # no mojibake
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("windows.csv" in w and "cp1252" in w for w in warnings), warnings


# --------------------------------------------------------------------------- c. created time


def _profile_csv(profile_name: str, created: list[str]) -> str:
    """A CSV in a city profile's own column names with the given created times."""
    columns = {k: v[0] for k, v in get_profile(profile_name).columns.items()}
    names = [columns[c] for c in ("service_request_id", "service_name", "requested_datetime")]
    lines = [",".join(names)]
    lines += [f"SR-{i},Pothole,{value}" for i, value in enumerate(created)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("city", ["baltimore", "los_angeles"])
def test_created_time_empty_on_every_row_is_an_error(tmp_path: Path, city: str) -> None:
    path = tmp_path / f"{city}_no_dates.csv"
    path.write_text(_profile_csv(city, [""] * 5), encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        read_requests(path, schema=city, as_of=AS_OF)
    text = _one_line(info)
    assert f"{city}_no_dates.csv" in text
    assert "'CreatedDate' (requested_datetime, required) is empty on all 5 rows" in text


@pytest.mark.parametrize("city", ["baltimore", "los_angeles"])
def test_created_time_empty_on_some_rows_is_flagged_and_counted(
    tmp_path: Path, city: str, caplog: pytest.LogCaptureFixture
) -> None:
    created = ["10/21/2019 11:49:49 AM", "", "10/22/2019 08:00:00 AM", "  ", ""]
    path = tmp_path / f"{city}_some_dates.csv"
    path.write_text(_profile_csv(city, created), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="geo311"):
        frame, ledger = read_requests(path, schema=city, as_of=AS_OF)
    assert len(frame) == 5  # kept
    flagged = frame["qa_flags"].str.contains("missing_requested_datetime")
    assert flagged.tolist() == [False, True, False, True, True]
    assert ledger.stage("normalize").flagged["missing_requested_datetime"] == 3
    assert "unparsed_requested_datetime" not in ledger.flagged  # empty is not unparseable
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("3 of 5 rows have an empty 'CreatedDate'" in w for w in warnings), warnings


def test_requests_from_frame_refuses_an_all_empty_created_time() -> None:
    raw = pd.DataFrame({"service_request_id": ["a", "b"], "requested_datetime": ["", None]})
    with pytest.raises(SchemaError, match=r"<frame>: column 'requested_datetime'"):
        requests_from_frame(raw, schema="open311", as_of=AS_OF)


# --------------------------------------------------------------------------- d. no data rows


def test_header_only_csv_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_requests(path, as_of=AS_OF)
    assert "header_only.csv: a header but no data rows" in _one_line(info)


# --------------------------------------------------------------------------- e. paths


def test_a_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    with pytest.raises(InputFileError, match=r"pipe\.csv is not a regular file but a FIFO"):
        read_requests(path, as_of=AS_OF)


def test_a_symlink_loop_is_named_as_such(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(InputFileError, match=r"a\.csv is a symlink loop") as info:
        read_requests(a, as_of=AS_OF)
    assert "no such file" not in str(info.value)


def test_a_dangling_symlink_names_its_target(tmp_path: Path) -> None:
    link = tmp_path / "export.csv"
    link.symlink_to(tmp_path / "gone.csv")
    with pytest.raises(InputFileError, match=r"export\.csv is a symlink to .*gone\.csv"):
        read_requests(link, as_of=AS_OF)


def test_a_directory_is_refused_as_before(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="is a directory; pass the export file"):
        read_requests(tmp_path, as_of=AS_OF)


# --------------------------------------------------------------------------- option values


@pytest.mark.parametrize("name", ["America/New_York", "America/Los_Angeles", "UTC"])
def test_iana_time_zones_pass(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    ("name", "advice"),
    [
        ("Mars/Phobos", "not an IANA zone name; e.g. America/New_York"),
        ("America/NewYork", "did you mean America/New_York"),
        ("EST", "use the IANA name America/New_York"),
        ("EST5EDT", "use the IANA name America/New_York"),
        ("PST8PDT", "use the IANA name America/Los_Angeles"),
        ("UTC+5", "fixed UTC offset (+5 h)"),
        ("Etc/GMT+5", "fixed UTC offset (-5 h) ignores daylight saving time; use the IANA name "
         "of the city's region, e.g. America/New_York"),
        ("-08:00", "e.g. America/Los_Angeles"),
        ("", "is empty"),
    ],
)  # fmt: skip
def test_unknown_and_fixed_offset_zones_are_refused_with_the_name_to_use(
    name: str, advice: str
) -> None:
    with pytest.raises(OptionError) as info:
        check_timezone(name, option="timezone")
    text = _one_line(info)
    assert text.startswith("--timezone")
    assert advice in text


def test_utc_aliases_become_utc_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="geo311"):
        assert check_timezone("Etc/UTC") == "UTC"
    assert "'Etc/UTC' is UTC" in caplog.text


def test_a_profile_with_a_legacy_zone_is_refused(tmp_path: Path) -> None:
    text = (Path(get_profile("open311").path)).read_text(encoding="utf-8")
    path = tmp_path / "est.toml"
    path.write_text(text.replace('timezone = "UTC"', 'timezone = "EST"'), encoding="utf-8")
    with pytest.raises(ProfileError, match="profile timezone 'EST' is a legacy"):
        load_profile(path)


@pytest.mark.parametrize(
    ("value", "timezone", "expected"),
    [
        ("2019-11-01", None, "2019-11-01T00:00:00+00:00"),
        ("2019-11-01", "America/New_York", "2019-11-01T04:00:00+00:00"),
        ("2019-11-01T00:00:00-04:00", "America/Los_Angeles", "2019-11-01T04:00:00+00:00"),
        ("2019-11-01T04:00Z", None, "2019-11-01T04:00:00+00:00"),
        (pd.Timestamp("2019-11-01 09:00"), "America/Los_Angeles", "2019-11-01T16:00:00+00:00"),
    ],
)
def test_as_of_is_a_utc_instant(value: object, timezone: str | None, expected: str) -> None:
    stamp = parse_as_of(value, timezone=timezone)
    assert stamp is not None
    assert stamp.isoformat() == expected


def test_as_of_none_is_none() -> None:
    assert parse_as_of(None) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("now", "relative words are not read"),
        ("today", "relative words are not read"),
        ("yesterday-ish", "not an ISO 8601 date or time"),
        ("2019-13-45", "not a real date or time"),
        ("", "is empty"),
        ("11/01/2019", "not an ISO 8601 date or time"),
        (20191101, "must be a date or time, got int"),
        ("2019-11-03T01:30", "not a single instant in America/New_York"),
    ],
)
def test_bad_as_of_values_name_the_option_and_an_example(value: object, words: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_as_of(value, timezone="America/New_York")
    text = _one_line(info)
    assert text.startswith("--as-of")
    assert words in text
    assert "2019-11-0" in text  # an example of a valid value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("2019-10-01:2019-11-01", ("2019-10-01", "2019-11-01")),
        ("2019-10-01:", ("2019-10-01", None)),
        (":2019-11-01", (None, "2019-11-01")),
        ("2019-10-01T06:00:2019-10-02T06:30:00", ("2019-10-01T06:00", "2019-10-02T06:30:00")),
    ],
)
def test_period_splits_start_and_end(value: str | None, expected: object) -> None:
    assert parse_period(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2019-10-01", "expects START:END"),
        ("last month:", "relative words are not read"),
        ("2019-10-01:2019-02-30", "'2019-02-30' is not a real date"),
    ],
)
def test_bad_periods_are_refused(value: str, words: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_period(value)
    text = _one_line(info)
    assert text.startswith("--period")
    assert words in text


def test_ingest_checks_time_zone_and_as_of_before_reading(tmp_path: Path) -> None:
    missing = tmp_path / "not_there.csv"  # never opened: the options fail first
    with pytest.raises(OptionError, match="--timezone 'Mars/Phobos'"):
        read_requests(missing, timezone="Mars/Phobos")
    with pytest.raises(OptionError, match="--as-of 'yesterday-ish'"):
        read_requests(missing, as_of="yesterday-ish")
    raw = pd.DataFrame({"service_request_id": ["a"], "requested_datetime": ["2024-01-01"]})
    with pytest.raises(OptionError, match="--timezone 'EST'"):
        requests_from_frame(raw, timezone="EST")


# --------------------------------------------------------------------------- JSON structure


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"features": [None], "spatialReference": {}, "fields": []}, "feature 0 is not an object"),
        ({"type": "FeatureCollection", "features": [{"properties": [1]}]}, "feature 0"),
        ({"features": [], "fields": [{"name": "a"}, {"name": "a"}]}, "fields repeat a name"),
        ({"features": [{"attributes": {"a": 1}}], "spatialReference": 5}, "spatialReference"),
    ],
)
def test_malformed_featuresets_are_refused(tmp_path: Path, doc: object, words: str) -> None:
    path = tmp_path / "query.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_requests(path, as_of=AS_OF)
    text = _one_line(info)
    assert "query.json" in text
    assert words in text


def test_non_numeric_point_coordinates_count_as_missing(tmp_path: Path) -> None:
    feature = {"type": "Feature", "properties": {"service_request_id": "a",
               "requested_datetime": "2024-03-01T10:00:00Z"},
               "geometry": {"type": "Point", "coordinates": ["x", None]}}  # fmt: skip
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    frame, ledger = read_requests(path, as_of=AS_OF)
    assert frame["coord_quality"].tolist() == ["missing"]
    assert ledger.flagged["coords_missing"] == 1


@pytest.mark.parametrize(
    "geo",
    [
        b"{not json",
        b'{"primary_column": "geometry"}',
        b'{"primary_column": "g", "columns": {"g": 1}}',
    ],
)
def test_malformed_geoparquet_metadata_is_refused(tmp_path: Path, geo: bytes) -> None:
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    table = pa.table({"service_request_id": ["a"], "requested_datetime": ["2024-03-01"]})
    path = tmp_path / "broken.parquet"
    pq.write_table(table.replace_schema_metadata({b"geo": geo}), path)
    with pytest.raises(InputFileError) as info:
        read_requests(path, as_of=AS_OF)
    assert "broken.parquet: the GeoParquet 'geo' metadata is malformed" in _one_line(info)

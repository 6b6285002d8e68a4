"""Ingest of the real Baltimore and Los Angeles 311 exports in ../shared/data.

Expected values are computed here from the raw files with the standard
library (csv, datetime, zoneinfo), independently of geo311, wherever that is
possible; a few documented facts about the samples are asserted as well.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import pytest

import geo311
from geo311 import read_requests, validate_requests
from geo311.clean.placeholders import PlaceholderRule, find_placeholders
from geo311.geocode.addresses import normalize_address, normalize_addresses
from geo311.io.sniff import sniff_delimiter, sniff_encoding

AS_OF = "2025-01-01"  # after every record, so "in the future" flags mean a parse error


@dataclass(frozen=True)
class Source:
    """What is known about one real export, independently of geo311."""

    profile: str
    rows: int  # documented in the data's PROVENANCE.md
    zone: str
    created: str  # raw column of the creation time
    created_format: str  # its strptime format (after the "+00" fix-up, see _instant)
    closed: str
    status: str
    notes: str  # outcome / action column searched for duplicate and transfer words
    closed_words: tuple[str, ...]  # raw statuses (before any "(...)") that mean closed


BALTIMORE_2019 = Source(
    "baltimore", 3000, "America/New_York", "CreatedDate", "%m/%d/%Y %I:%M:%S %p",
    "CloseDate", "SRStatus", "Outcome", ("Closed",),
)  # fmt: skip
BALTIMORE_2018 = Source(
    "baltimore", 500, "America/New_York", "createddate", "%Y/%m/%d %H:%M:%S%z",
    "closedate", "srstatus", "outcome", ("Closed",),
)  # fmt: skip
LA_PORTAL = Source(
    "los_angeles", 10000, "America/Los_Angeles", "CreatedDate", "%m/%d/%Y %I:%M:%S %p",
    "ClosedDate", "Status", "ActionTaken", ("Closed", "Cancelled", "Referred Out"),
)  # fmt: skip
LA_SEED = Source(
    "los_angeles", 10000, "America/Los_Angeles", "createddate", "%Y-%m-%d %H:%M:%S",
    "closeddate", "status", "actiontaken", ("Closed", "Cancelled", "Referred Out"),
)  # fmt: skip

SOURCES = {
    "baltimore/sr311_2019_oct_sample.csv": BALTIMORE_2019,
    "baltimore/sr311_2018_sample.csv": BALTIMORE_2018,
    "los_angeles/records/myla311_2017-12-27_2017-12-31.csv.gz": replace(LA_PORTAL, rows=9999),
    "los_angeles/records/myla311_2018-01-01_2018-01-04.csv.gz": LA_PORTAL,
    "los_angeles/records/myla311_2018-12-27_2018-12-31.csv.gz": LA_PORTAL,
    "los_angeles/records/myla311_2020-01-01_2020-01-03.csv.gz": LA_SEED,
}
B2019 = "baltimore/sr311_2019_oct_sample.csv"
B2018 = "baltimore/sr311_2018_sample.csv"
# A request is a duplicate / a transfer when its status or outcome says so.
DUPLICATE_WORDS = ("duplicate",)
TRANSFER_WORDS = ("transfer", "referred")


@dataclass(frozen=True)
class Ingested:
    name: str
    source: Source
    raw: list[dict[str, str]]
    frame: gpd.GeoDataFrame
    ledger: geo311.Ledger


def read_raw(path: Path) -> list[dict[str, str]]:
    """Every record of a (gzipped) CSV, with the csv module."""
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
            return list(csv.DictReader(text))
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _instant(text: str, fmt: str, zone: str) -> pd.Timestamp | None:
    """Parse one raw time with datetime/zoneinfo; naive values are local in ``zone``."""
    text = text.strip()
    if not text:
        return None
    if text[-3] in "+-" and text[-2:].isdigit():  # "2018/05/08 07:51:45+00"
        text += "00"
    value = datetime.strptime(text, fmt)  # made aware just below
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return pd.Timestamp(value.astimezone(UTC))


def check_ledger(frame: pd.DataFrame, ledger: geo311.Ledger) -> None:
    for stage in ledger.stages:
        assert stage.rows_in == stage.rows_out + sum(stage.dropped.values()), stage
    for before, after in itertools.pairwise(ledger.stages):
        assert before.rows_out == after.rows_in, (before.stage, after.stage)
    assert ledger.rows_in == sum(item["rows"] for item in ledger.inputs)
    assert ledger.rows_out == len(frame)


def test_every_311_file_is_covered(shared_data: Path) -> None:
    found = {
        str(p.relative_to(shared_data))
        for pattern in ("baltimore/sr311_*.csv", "los_angeles/records/*.csv*")
        for p in shared_data.glob(pattern)
    }
    assert found == set(SOURCES)


def _short(name: str) -> str:
    return Path(name).name.split(".")[0]


@pytest.fixture(scope="module")
def ingest(shared_data: Path) -> Callable[[str], Ingested]:
    """Read each file once per module (geo311 and the csv module)."""
    cache: dict[str, Ingested] = {}

    def get(name: str) -> Ingested:
        if name not in cache:
            path = shared_data / name
            frame, ledger = read_requests(path, as_of=AS_OF, keep_raw=True)
            cache[name] = Ingested(name, SOURCES[name], read_raw(path), frame, ledger)
        return cache[name]

    return get


@pytest.fixture(params=list(SOURCES), ids=_short)
def ingested(request: pytest.FixtureRequest, ingest: Callable[[str], Ingested]) -> Ingested:
    return ingest(request.param)


def raw_of(data: Ingested) -> list[dict[str, str]]:
    """The raw records in the order of the ingested rows (matched by input_row)."""
    return [data.raw[i - 1] for i in data.frame["input_row"]]


def test_profile_detected_and_every_row_counted(ingested: Ingested) -> None:
    source, ledger = ingested.source, ingested.ledger
    assert len(ingested.raw) == source.rows
    assert ledger.inputs[0]["profile"] == source.profile
    assert ledger.inputs[0]["format"] == "csv"
    assert ledger.inputs[0]["rows"] == len(ingested.raw)
    assert ledger.rows_in == len(ingested.raw)
    check_ledger(ingested.frame, ledger)
    ids = [
        r[next(k for k in r if k.lower() in ("servicerequestnum", "srnumber"))]
        for r in ingested.raw
    ]
    repeated = len(ids) - len(set(ids))
    assert ledger.dropped.get("duplicate_service_request_id", 0) == repeated
    assert len(ingested.frame) == len(set(ids))


def test_result_follows_the_schema(ingested: Ingested) -> None:
    validate_requests(ingested.frame, name=ingested.name)
    assert ingested.frame.crs.to_epsg() == 4326
    assert ingested.frame.attrs["timezone"] == ingested.source.zone


def test_times_match_an_independent_parse(ingested: Ingested) -> None:
    source, frame = ingested.source, ingested.frame
    raw = raw_of(ingested)
    local_trouble = frame["qa_flags"].str.contains("ambiguous_local_time|nonexistent_local_time")
    assert not local_trouble.any()  # none expected in these months
    for column, canonical in (
        (source.created, "requested_datetime"),
        (source.closed, "closed_datetime"),
    ):
        expected = [_instant(r[column], source.created_format, source.zone) for r in raw]
        got = frame[canonical].tolist()
        mismatches = [
            (r[column], g, e)
            for r, g, e in zip(raw, got, expected, strict=True)
            if not (pd.isna(g) and e is None) and g != e
        ]
        assert mismatches == [], mismatches[:5]
    assert not any(k.startswith("unparsed_") for k in ingested.ledger.flagged)
    assert "requested_in_future" not in ingested.ledger.flagged


@pytest.mark.parametrize("name", [n for n in SOURCES if n.startswith("los_angeles")], ids=_short)
def test_los_angeles_times_are_pacific(name: str, ingest: Callable[[str], Ingested]) -> None:
    ingested = ingest(name)
    source = ingested.source
    local = pd.to_datetime(
        pd.Series([r[source.created] for r in raw_of(ingested)]), format=source.created_format
    )
    utc_wall = ingested.frame["requested_datetime"].dt.tz_localize(None).reset_index(drop=True)
    # every record is from late December or early January: Pacific Standard Time, UTC-8
    assert ((utc_wall - local) == pd.Timedelta(hours=8)).all()


def test_known_conversions(ingest: Callable[[str], Ingested]) -> None:
    frame = ingest(B2019).frame
    row = frame.set_index("service_request_id").loc["19-00711545"]
    assert row["raw_CreatedDate"] == "10/21/2019 11:49:49 AM"
    assert row["requested_datetime"] == pd.Timestamp("2019-10-21T15:49:49Z")
    frame = ingest(B2018).frame
    hit = frame[frame["raw_createddate"] == "2018/05/08 07:51:45+00"]
    assert len(hit) == 1
    assert hit["requested_datetime"].iloc[0] == pd.Timestamp("2018-05-08T07:51:45Z")


def test_statuses_map_to_open_or_closed(ingested: Ingested) -> None:
    source, frame = ingested.source, ingested.frame
    assert set(frame["status"]) <= {"open", "closed"}
    assert frame["status"].notna().all()
    assert "unknown_status" not in ingested.ledger.flagged
    closed = [r[source.status].split(" (")[0] in source.closed_words for r in raw_of(ingested)]
    assert (frame["status"] == "closed").tolist() == closed


def test_duplicates_and_transfers_are_marked(ingested: Ingested) -> None:
    source, frame = ingested.source, ingested.frame
    raw = raw_of(ingested)
    text = [f"{r[source.status]} {r[source.notes]}".casefold() for r in raw]
    duplicate = [any(w in t for w in DUPLICATE_WORDS) for t in text]
    transfer = [any(w in t for w in TRANSFER_WORDS) for t in text]
    assert frame["is_duplicate"].tolist() == duplicate
    assert frame["is_transfer"].tolist() == transfer
    # the explicit status markers are always among them
    for marker, column in (("(Duplicate)", "is_duplicate"), ("(Transferred)", "is_transfer")):
        marked = [marker in r[source.status] for r in raw]
        assert frame.loc[marked, column].all()


def test_baltimore_2019_duplicate_and_transfer_counts(ingest: Callable[[str], Ingested]) -> None:
    data = ingest(B2019)
    statuses = Counter(r["SRStatus"] for r in data.raw)
    duplicates = sum(n for s, n in statuses.items() if "(Duplicate)" in s)
    transfers = sum(n for s, n in statuses.items() if "(Transferred)" in s)
    assert (duplicates, transfers) == (57, 15)  # the sample's documented make-up
    frame = data.frame
    assert int(frame["is_duplicate"].sum()) == duplicates
    assert int(frame["is_transfer"].sum()) == transfers


def test_baltimore_city_hall_placeholder_is_flagged(ingest: Callable[[str], Ingested]) -> None:
    data = ingest(B2019)
    raw = data.raw
    points = Counter((r["Latitude"], r["Longitude"]) for r in raw if r["Latitude"])
    (lat, lon), count = points.most_common(1)[0]
    at_point = [r for r in raw if (r["Latitude"], r["Longitude"]) == (lat, lon)]
    assert count == 12
    assert {r["Address"].split(",")[0] for r in at_point} == {"200 N HOLLIDAY ST"}
    assert len({r["SRType"] for r in at_point}) >= 3  # unrelated requests, not one hotspot
    frame, ledger = data.frame, data.ledger
    hit = frame["raw_Latitude"].eq(lat) & frame["raw_Longitude"].eq(lon)
    assert frame.loc[hit, "coord_quality"].eq("placeholder").all()
    assert (frame["coord_quality"] == "placeholder").sum() == 12
    assert ledger.flagged["coords_placeholder"] == 12
    assert frame.loc[hit].geometry.isna().all()  # not placed on the map


def _mixed_stacks(data: Ingested) -> dict[tuple[str, str], int]:
    """Raw points (text) given with two or more different addresses -> their row count."""
    names = {c.lower(): c for c in data.raw[0]}
    lat, lon, address = names["latitude"], names["longitude"], names["address"]
    rows: Counter[tuple[str, str]] = Counter()
    addresses: dict[tuple[str, str], set[str]] = {}
    for r in data.raw:
        if r[lat].strip():
            rows[(r[lat], r[lon])] += 1
            addresses.setdefault((r[lat], r[lon]), set()).add(normalize_address(r[address]))
    return {p: rows[p] for p, seen in addresses.items() if len(seen) > 1}


def test_placeholders_only_where_the_profile_or_unrelated_addresses_say(
    ingested: Ingested,
) -> None:
    """No stack of unrelated addresses in the samples: listed and cut points are flagged.

    An independent look with the csv module: raw points given with different
    addresses are few and small in every sample (at most 4 rows: an LA
    "154 1/2 E 92nd St" next to "154 E 92nd St", two intersections geocoded
    to one corner, two Baltimore 2018 points cut to whole degrees outside the
    city), below the rule's 10 requests, so the many-addresses rule has
    nothing to find; what is flagged is the Baltimore profile's listed point
    (the municipal building where citation trials and reviews are filed) and
    the two points cut to whole degrees.
    """
    mixed = _mixed_stacks(ingested)
    assert max(mixed.values(), default=0) < PlaceholderRule().min_count
    cut = {(39.0, -77.0), (39.0, -76.0)} if ingested.name == B2018 else set()
    assert {(float(a), float(b)) for a, b in mixed if float(a) % 1 == float(b) % 1 == 0} == cut
    frame = ingested.frame
    unlisted = frame["coord_quality"].astype("string").replace("placeholder", "ok")
    data_only = find_placeholders(frame.assign(coord_quality=unlisted))
    assert set(data_only["reason"]) <= {"coarse"}
    assert set(zip(data_only["lat"], data_only["long"], strict=True)) == cut
    flagged = frame["coord_quality"] == "placeholder"
    listed = {B2019: 12, B2018: 2}.get(ingested.name, 0)
    assert int(flagged.sum()) == listed + int(data_only["requests"].sum())
    assert ingested.ledger.flagged.get("coords_placeholder", 0) == int(flagged.sum())
    notes = [n for n in ingested.ledger.stage("clean").notes if n.startswith("placeholder")]
    assert sum(n.endswith("(profile)") for n in notes) == (1 if listed else 0)
    assert sum(n.endswith("(coarse)") for n in notes) == len(cut)
    at_hall = normalize_addresses(frame["address"])["address"] == "200 N HOLLIDAY ST"
    assert int((flagged & at_hall).sum()) == listed


def test_geoparquet_round_trip_keeps_dtypes(
    ingest: Callable[[str], Ingested], tmp_path: Path
) -> None:
    frame = ingest(B2019).frame
    path = tmp_path / "requests.parquet"
    frame.to_parquet(path)
    back = gpd.read_parquet(path)
    validate_requests(back, name=str(path))
    assert back.crs.to_epsg() == 4326
    raw = [c for c in frame if c.startswith("raw_")]
    assert raw

    # Parquet keeps text as strings but not whether they were Arrow-backed
    # (geo311.pipeline.load_requests makes the free text Arrow-backed again)
    def kinds(f: pd.DataFrame) -> dict[str, object]:
        return {c: "string" if isinstance(t, pd.StringDtype) else t for c, t in f.dtypes.items()}

    assert kinds(back.drop(columns=raw)) == kinds(frame.drop(columns=raw))
    # the raw copies, Arrow-backed strings in memory, come back as strings
    assert all(pd.api.types.is_string_dtype(back[c]) for c in raw)
    pd.testing.assert_frame_equal(pd.DataFrame(back), pd.DataFrame(frame), check_dtype=False)
    # and the written file reads back through geo311 itself as canonical requests
    again, ledger = read_requests(path, schema="open311", as_of=AS_OF)
    check_ledger(again, ledger)
    validate_requests(again)
    for column in ("service_request_id", "requested_datetime", "closed_datetime", "status"):
        pd.testing.assert_series_equal(again[column], frame[column])
    pd.testing.assert_series_equal(again["lat"], frame["lat"])


def test_missing_created_times_match_an_independent_count(ingested: Ingested) -> None:
    """The per-row flag for an empty created time counts what the csv module sees."""
    empty = sum(not r[ingested.source.created].strip() for r in ingested.raw)
    flagged = ingested.frame["qa_flags"].str.contains("missing_requested_datetime")
    assert int(flagged.sum()) == empty
    assert ingested.ledger.flagged.get("missing_requested_datetime", 0) == empty


@pytest.mark.parametrize("name", list(SOURCES), ids=_short)
def test_real_exports_pass_the_strict_sniffers(
    shared_data: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Baltimore and LA exports are whole-file UTF-8 and comma-separated: nothing to warn."""
    path = shared_data / name
    with caplog.at_level(logging.WARNING, logger="geo311"):
        encoding = sniff_encoding(path)
        assert sniff_delimiter(path, encoding) == ","
    assert encoding == "utf-8-sig"
    assert not caplog.records

"""Tests of geo311.geocode (addresses, reference, cache, core): normalisation, the reference geocoder, the cache, the stage."""

from __future__ import annotations

import sqlite3
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo311._errors import Geo311Error, GeocodeError, OptionError
from geo311.geocode.addresses import normalize_address, normalize_addresses, split_address
from geo311.geocode.cache import GeocodeCache
from geo311.geocode.core import geocode
from geo311.geocode.protocol import GEOCODE_COLUMNS, Geocoder
from geo311.geocode.reference import ReferenceGeocoder

# ---------------------------------------------------------------- normalisation

NORMALISATION_CASES = [
    # (given, expected normalised, expected ZIP)
    ("3324 Sumter Avenue, Baltimore City, 21215", "3324 SUMTER AVE", "21215"),
    ("3324 SUMTER AVE, BC", "3324 SUMTER AVE", None),
    ("1 Willwood Ct, BALTIMORE, 21209-1234", "1 WILLWOOD CT", "21209"),
    ("100 North Charles Street Apt. 4B", "100 N CHARLES ST", None),
    ("12 Main St #4", "12 MAIN ST", None),
    ("5 N Charles St Ste 200", "5 N CHARLES ST", None),
    ("5 N Charles St Unit 7", "5 N CHARLES ST", None),
    ("e. north ave.", "E NORTH AVE", None),
    ("100 West North Avenue", "100 W NORTH AVE", None),
    ("3 South St", "3 SOUTH ST", None),
    ("1 Park Avenue South", "1 PARK AVE S", None),
    ("7 Harbor Boulevard", "7 HARBOR BLVD", None),
    ("9 Falls Road", "9 FALLS RD", None),
    ("9 Old Frederick Rd.", "9 OLD FREDERICK RD", None),
    ("1800 BLK Ramsay St", "1800 RAMSAY ST", None),
    ("1800 block of Ramsay Street", "1800 RAMSAY ST", None),
    ("100-104 Park Ave.", "100 PARK AVE", None),
    ("10 O'Donnell St", "10 ODONNELL ST", None),
    ("2 St Paul St", "2 SAINT PAUL ST", None),
    ("2 Saint Paul Street", "2 SAINT PAUL ST", None),
    ("1 Mt Royal Ave", "1 MOUNT ROYAL AVE", None),
    ("1 Main St Baltimore MD 21201", "1 MAIN ST BALTIMORE", "21201"),
    ("  1   main   st  ", "1 MAIN ST", None),
    # intersections: any connector, any order, same canonical form
    ("Liberty Heights Ave & Reisterstown Rd", "LIBERTY HEIGHTS AVE & REISTERSTOWN RD", None),
    (
        "Reisterstown Road and Liberty Heights Avenue",
        "LIBERTY HEIGHTS AVE & REISTERSTOWN RD",
        None,
    ),
    ("Reisterstown Rd at Liberty Heights Ave", "LIBERTY HEIGHTS AVE & REISTERSTOWN RD", None),
    ("Reisterstown Rd @ Liberty Heights Ave", "LIBERTY HEIGHTS AVE & REISTERSTOWN RD", None),
    (
        "E 22ND ST & SAINT PAUL ST, Baltimore City, 21218",
        "E 22ND ST & SAINT PAUL ST",
        "21218",
    ),
    ("St Paul St & E North Ave", "E NORTH AVE & SAINT PAUL ST", None),
    ("", "", None),
    ("   ", "", None),
    (None, "", None),
    (float("nan"), "", None),
    (pd.NA, "", None),
]


@pytest.mark.parametrize(("given", "expected", "zip_code"), NORMALISATION_CASES)
def test_split_address(given: object, expected: str, zip_code: str | None) -> None:
    assert split_address(given) == (expected, zip_code)
    assert normalize_address(given) == expected


def test_normalisation_is_idempotent() -> None:
    for given, expected, _ in NORMALISATION_CASES:
        assert normalize_address(expected) == expected, given


def test_normalize_addresses_vectorised_keeps_index() -> None:
    series = pd.Series(
        ["1 Main Street, X, 21201", None, "1 MAIN ST"], index=pd.Index([10, 5, 7], name="row")
    )
    before = series.copy()
    out = normalize_addresses(series)
    assert out.index.equals(series.index)
    assert out["address"].tolist() == ["1 MAIN ST", "", "1 MAIN ST"]
    assert out["zipcode"].isna().tolist() == [False, True, True]
    assert str(out["address"].dtype) == "string"
    pd.testing.assert_series_equal(series, before)


# ------------------------------------------------------------ reference table

# A hand-made reference table: address points on two streets in two ZIPs, one
# address present in both ZIPs at different places, two rows of the same
# address a few metres apart (merged), one address with conflicting rows, and
# one intersection point.
REFERENCE = pd.DataFrame(
    {
        "addr": [
            "100 Main Street",
            "102 Main St",
            "104 Main St",
            "100 Oak Avenue",
            "200 Elm Road",  # ZIP 21201
            "200 Elm Road",  # ZIP 21202, elsewhere
            "300 Pine St",
            "300 Pine St",  # same place, ~1 m apart
            "400 Birch St",
            "400 Birch St",  # conflicting: ~1.1 km apart
            "500 Cedar Ln",
            "500 Cedar Ct",  # same number, similar street, different place
            "Main St & Oak Ave",
        ],
        "zip": [
            "21201",
            "21201",
            "21201",
            "21201",
            "21201",
            "21202",
            "21201",
            "21201",
            "21201",
            "21201",
            "21203",
            "21203",
            "21201",
        ],
        "x": [
            -76.600,
            -76.601,
            -76.602,
            -76.610,
            -76.620,
            -76.700,
            -76.630,
            -76.63001,
            -76.640,
            -76.650,
            -76.660,
            -76.670,
            -76.605,
        ],
        "y": [
            39.30,
            39.30,
            39.30,
            39.31,
            39.32,
            39.40,
            39.33,
            39.33,
            39.34,
            39.34,
            39.35,
            39.36,
            39.305,
        ],
    }
)


@pytest.fixture
def ref() -> ReferenceGeocoder:
    return ReferenceGeocoder(
        REFERENCE, address_column="addr", lon_column="x", lat_column="y", zip_column="zip"
    )


def _ask(geocoder: ReferenceGeocoder, rows: list[tuple[str, str | None]]) -> pd.DataFrame:
    query = pd.DataFrame({"address": [a for a, _ in rows], "zipcode": [z for _, z in rows]})
    return geocoder.geocode_batch(query)


def test_reference_geocoder_follows_protocol(ref: ReferenceGeocoder) -> None:
    assert isinstance(ref, Geocoder)
    answer = _ask(ref, [("100 Main St", "21201")])
    assert list(answer.columns[: len(GEOCODE_COLUMNS)]) == list(GEOCODE_COLUMNS)
    assert answer["source"].tolist() == ["reference"]


def test_exact_match(ref: ReferenceGeocoder) -> None:
    answer = _ask(ref, [("100 MAIN STREET", "21201"), ("100 main st.", None)])
    assert answer["match"].tolist() == ["exact", "exact"]
    assert answer["score"].tolist() == [100.0, 100.0]
    assert answer["lon"].tolist() == [-76.600, -76.600]
    assert answer["matched_address"].tolist() == ["100 MAIN ST", "100 MAIN ST"]


def test_same_address_rows_close_together_are_merged(ref: ReferenceGeocoder) -> None:
    answer = _ask(ref, [("300 Pine St", "21201")])
    assert answer["match"].iloc[0] == "exact"
    assert answer["lon"].iloc[0] == pytest.approx(-76.630005)


def test_fuzzy_match_forgives_spelling_and_missing_type(ref: ReferenceGeocoder) -> None:
    answer = _ask(ref, [("100 Mian St", "21201"), ("104 Main", "21201")])
    assert answer["match"].tolist() == ["fuzzy", "fuzzy"]
    assert answer["matched_address"].tolist() == ["100 MAIN ST", "104 MAIN ST"]
    assert (answer["score"] >= 90).all()
    assert (answer["score"] < 100).all()


def test_fuzzy_never_changes_the_house_number(ref: ReferenceGeocoder) -> None:
    answer = _ask(ref, [("106 Main St", "21201")])
    assert answer["match"].iloc[0] == "none"
    assert "house number 106" in answer["reason"].iloc[0]
    assert np.isnan(answer["lon"].iloc[0])


def test_missing_rapidfuzz_names_the_extra(ref: ReferenceGeocoder, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rapidfuzz", None)
    assert _ask(ref, [("100 Main St", "21201")])["match"].iloc[0] == "exact"  # no import
    with pytest.raises(ImportError, match=r"pip install 'geo311\[geocode\]'"):
        _ask(ref, [("100 Mian St", "21201")])


def test_below_min_score_is_none(ref: ReferenceGeocoder) -> None:
    answer = _ask(ref, [("100 Maple Ter", "21201")])
    assert answer["match"].iloc[0] == "none"
    assert answer["score"].iloc[0] < 90
    assert "below" in answer["reason"].iloc[0]


def test_min_score_is_configurable() -> None:
    lenient = ReferenceGeocoder(
        REFERENCE,
        address_column="addr",
        lon_column="x",
        lat_column="y",
        zip_column="zip",
        min_score=50,
    )
    assert _ask(lenient, [("100 Maple Ter", "21201")])["match"].iloc[0] == "fuzzy"
    with pytest.raises(OptionError, match="min_score"):
        ReferenceGeocoder(
            REFERENCE, address_column="addr", lon_column="x", lat_column="y", min_score=101
        )


def test_zip_restriction(ref: ReferenceGeocoder) -> None:
    answer = _ask(ref, [("200 Elm Rd", "21201"), ("200 Elm Rd", "21202"), ("200 Elm Rd", "21299")])
    assert answer["match"].tolist() == ["exact", "exact", "none"]
    assert answer["lon"].iloc[0] == -76.620
    assert answer["lon"].iloc[1] == -76.700
    # fuzzy candidates come from the same ZIP only: 100 MAIN ST is in 21201
    assert _ask(ref, [("100 Mian St", "21202")])["match"].iloc[0] == "none"


def test_zip_taken_from_address_tail(ref: ReferenceGeocoder) -> None:
    answer = _ask(ref, [("200 Elm Road, Baltimore City, 21202", None)])
    assert answer["match"].iloc[0] == "exact"
    assert answer["lon"].iloc[0] == -76.700


def test_ambiguous_is_not_guessed(ref: ReferenceGeocoder) -> None:
    # the same address in two ZIPs and no ZIP given; conflicting rows; a fuzzy tie
    answer = _ask(ref, [("200 Elm Rd", None), ("400 Birch St", "21201"), ("500 Cedar", "21203")])
    assert answer["match"].tolist() == ["ambiguous"] * 3
    assert answer["lon"].isna().all()
    assert answer["matched_address"].isna().all()
    assert answer["reason"].str.contains("different locations").all()


def test_intersections(ref: ReferenceGeocoder) -> None:
    answer = _ask(
        ref,
        [
            ("Oak Avenue & Main Street", "21201"),
            ("main st and oak ave", None),
            ("Main St at Oak Av", "21201"),
            ("Main St & Elm Rd", "21201"),
        ],
    )
    assert answer["match"].tolist() == ["exact", "exact", "exact", "none"]
    assert answer["lat"].iloc[0] == 39.305
    no_points = ReferenceGeocoder(
        REFERENCE.iloc[:-1], address_column="addr", lon_column="x", lat_column="y"
    )
    answer = _ask(no_points, [("Main St & Oak Ave", None)])
    assert answer["match"].iloc[0] == "none"
    assert "no intersection points" in answer["reason"].iloc[0]


def test_deterministic_and_independent_of_row_order(ref: ReferenceGeocoder) -> None:
    rows = [
        ("100 Mian St", "21201"),
        ("200 Elm Rd", None),
        ("500 Cedar", "21203"),
        ("Main St & Oak Ave", "21201"),
        ("104 Main", "21201"),
    ]
    first = _ask(ref, rows)
    pd.testing.assert_frame_equal(first, _ask(ref, rows))
    shuffled = REFERENCE.sample(frac=1, random_state=3)
    other = ReferenceGeocoder(
        shuffled, address_column="addr", lon_column="x", lat_column="y", zip_column="zip"
    )
    assert other.fingerprint == ref.fingerprint
    reversed_answer = _ask(other, rows[::-1]).iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, reversed_answer)


def test_reference_table_not_mutated_and_bad_columns() -> None:
    table = REFERENCE.copy()
    ReferenceGeocoder(table, address_column="addr", lon_column="x", lat_column="y")
    pd.testing.assert_frame_equal(table, REFERENCE)
    with pytest.raises(GeocodeError, match="no column"):
        ReferenceGeocoder(table, address_column="street", lon_column="x", lat_column="y")
    with pytest.raises(Geo311Error, match="no row with an address"):
        ReferenceGeocoder(
            table.assign(x=np.nan), address_column="addr", lon_column="x", lat_column="y"
        )


def test_from_file_csv_parquet_geojson(tmp_path) -> None:
    csv = tmp_path / "points.csv"
    REFERENCE.to_csv(csv, index=False)
    parquet = tmp_path / "points.parquet"
    REFERENCE.to_parquet(parquet)
    geojson = tmp_path / "points.geojson"
    gpd.GeoDataFrame(
        REFERENCE[["addr", "zip"]],
        geometry=gpd.points_from_xy(REFERENCE["x"], REFERENCE["y"]),
        crs=4326,
    ).to_file(geojson, driver="GeoJSON")
    kwargs = {"address_column": "addr", "zip_column": "zip"}
    answers = []
    for geocoder in (
        ReferenceGeocoder.from_file(csv, lon_column="x", lat_column="y", **kwargs),
        ReferenceGeocoder.from_file(parquet, lon_column="x", lat_column="y", **kwargs),
        ReferenceGeocoder.from_file(geojson, **kwargs),
    ):
        answer = _ask(geocoder, [("100 Main St", "21201"), ("200 Elm Rd", "21202")])
        answers.append(answer[["lon", "lat", "match"]])
        assert geocoder.name.startswith("table:points.")
    for other in answers[1:]:
        pd.testing.assert_frame_equal(answers[0], other, atol=1e-9)
    with pytest.raises(GeocodeError, match="does not exist"):
        ReferenceGeocoder.from_file(tmp_path / "nope.csv", **kwargs)


# ------------------------------------------------------------------ the cache


class CountingGeocoder:
    """A fake geocoder: places every address at a point derived from its text."""

    name = "counting"
    fingerprint = "v1"
    max_batch_size = 2

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[str] = []

    def geocode_batch(self, addresses: pd.DataFrame) -> pd.DataFrame:
        self.calls += 1
        self.seen.extend(addresses["address"])
        n = len(addresses)
        known = addresses["address"].str.contains("MAIN")
        return pd.DataFrame(
            {
                "lon": np.where(known, -76.6, np.nan),
                "lat": np.where(known, 39.3, np.nan),
                "score": np.where(known, 100.0, np.nan),
                "match": np.where(known, "exact", "none"),
                "matched_address": addresses["address"].where(known),
                "source": [self.name] * n,
            },
            index=addresses.index,
        )


def _requests() -> pd.DataFrame:
    """Six requests: two good points, three needing coordinates, one without address."""
    return pd.DataFrame(
        {
            "service_request_id": ["a", "b", "c", "d", "e", "f"],
            "address": ["1 Main St", "1 MAIN STREET", "2 Elm Rd", "9 Main St", None, "3 Main St"],
            "zipcode": ["21201", "21201", None, "21201", None, None],
            "lat": [np.nan, 0.0, np.nan, 39.29, np.nan, 39.28],
            "long": [np.nan, 0.0, np.nan, -76.61, np.nan, -76.62],
            "coord_quality": pd.array(
                ["missing", "zero", "placeholder", "ok", "missing", "swapped"], dtype="string"
            ),
        },
        index=pd.Index([50, 40, 30, 20, 10, 0], name="row"),
    )


def test_cache_hit_within_and_across_cache_objects(tmp_path) -> None:
    path = tmp_path / "sub" / "geocode.sqlite"
    fake = CountingGeocoder()
    seen: list[tuple[int, int]] = []
    first = geocode(
        _requests(),
        geocoder=fake,
        cache=GeocodeCache(path),
        progress=lambda d, t: seen.append((d, t)),
    )
    # distinct addresses: "1 MAIN ST"/21201 (twice) and "2 ELM RD" -> one batch of 2
    assert fake.seen == ["1 MAIN ST", "2 ELM RD"]
    assert fake.calls == 1
    assert seen == [(2, 2)]
    second = geocode(_requests(), geocoder=fake, cache=GeocodeCache(path))
    assert fake.calls == 1
    pd.testing.assert_frame_equal(first.frame, second.frame)
    assert "2 from cache, 0 sent" in second.ledger.stage("geocode").notes[1]
    # a different fingerprint never reuses the answers
    fake.fingerprint = "v2"
    geocode(_requests(), geocoder=fake, cache=GeocodeCache(path))
    assert fake.calls == 2
    assert len(GeocodeCache(path)) == 4
    with sqlite3.connect(path) as con:
        keys = con.execute(
            "SELECT geocoder, address, zipcode FROM answers ORDER BY 1, 2"
        ).fetchall()
    assert keys[0] == ("counting|v1", "1 MAIN ST", "21201")


def test_batches_respect_max_batch_size_and_progress() -> None:
    fake = CountingGeocoder()
    frame = pd.DataFrame(
        {"address": [f"{i} Main St" for i in range(5)], "lat": np.nan, "long": np.nan}
    )
    seen: list[tuple[int, int]] = []
    geocode(frame, geocoder=fake, batch_size=1000, progress=lambda d, t: seen.append((d, t)))
    assert fake.calls == 3  # capped at max_batch_size=2
    assert seen == [(2, 5), (4, 5), (5, 5)]
    with pytest.raises(OptionError, match="batch_size must be at least 1, got 0"):
        geocode(frame, geocoder=fake, batch_size=0)


def test_default_cache_location(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "c"))
    cache = GeocodeCache()
    assert cache.path == tmp_path / "c" / "geocode.sqlite"
    assert cache.path.is_file()


# ------------------------------------------------------------------ the stage


def test_geocode_fills_only_rows_without_usable_coordinates() -> None:
    requests = _requests()
    before = requests.copy()
    frame, ledger = geocode(requests, geocoder=CountingGeocoder())
    pd.testing.assert_frame_equal(requests, before)  # input not mutated
    assert frame.index.equals(requests.index)
    got = frame.loc[[50, 40, 30, 20, 10, 0]]
    assert got["lat"].tolist()[:2] == [39.3, 39.3]
    assert np.isnan(got.loc[30, "lat"])  # unmatched placeholder keeps NaN
    assert got["coord_quality"].tolist() == ["ok", "ok", "placeholder", "ok", "missing", "swapped"]
    # good coordinates untouched, not sent
    assert got.loc[20, "lat"] == 39.29
    assert got.loc[0, "long"] == -76.62
    assert got["geocode_match"].tolist()[:3] == ["exact", "exact", "none"]
    assert got["geocode_match"].iloc[3:].isna().all()
    assert got["geocode_source"].tolist()[:2] == ["counting", "counting"]
    assert str(got["geocode_score"].dtype) == "Float64"
    stage = ledger.stage("geocode")
    assert stage.rows_in == stage.rows_out == 6
    assert stage.dropped == {}
    assert stage.flagged == {
        "matched_exact": 2,
        "unmatched": 1,
        "no_address": 1,
        "skipped_good_coordinates": 2,
        "filled_coordinates": 2,
    }


def test_only_missing_false_sends_all_but_never_overwrites() -> None:
    fake = CountingGeocoder()
    frame, ledger = geocode(_requests(), geocoder=fake, only_missing=False)
    assert sorted(fake.seen) == ["1 MAIN ST", "2 ELM RD", "3 MAIN ST", "9 MAIN ST"]
    assert frame.loc[20, "lat"] == 39.29  # answered 39.3, kept 39.29
    assert frame.loc[20, "geocode_match"] == "exact"
    assert frame.loc[0, "lat"] == 39.28
    flagged = ledger.stage("geocode").flagged
    assert flagged["matched_exact"] == 4
    assert "skipped_good_coordinates" not in flagged
    assert flagged["filled_coordinates"] == 2


def test_geocode_rebuilds_geometry_of_geodataframe() -> None:
    requests = _requests()
    gdf = gpd.GeoDataFrame(
        requests,
        geometry=gpd.points_from_xy(requests["long"], requests["lat"]),
        crs=4326,
    )
    gdf.loc[gdf["coord_quality"].isin(["missing", "zero", "placeholder"]), "geometry"] = None
    before = gdf.copy()
    frame, _ = geocode(gdf, geocoder=CountingGeocoder())
    assert isinstance(frame, gpd.GeoDataFrame)
    assert frame.crs.to_epsg() == 4326
    assert (frame.loc[50, "geometry"].x, frame.loc[50, "geometry"].y) == (-76.6, 39.3)
    assert frame.loc[40, "geometry"].y == 39.3
    assert frame.loc[30, "geometry"] is None
    assert frame.loc[20, "geometry"].y == 39.29
    pd.testing.assert_frame_equal(gdf, before)


def test_geocoded_point_outside_bbox_is_flagged() -> None:
    frame, _ = geocode(_requests(), geocoder=CountingGeocoder(), bbox=(-70.0, 40.0, -69.0, 41.0))
    assert frame.loc[50, "coord_quality"] == "outside_area"


def test_coord_quality_computed_when_absent() -> None:
    requests = _requests().drop(columns="coord_quality")
    frame, ledger = geocode(requests, geocoder=CountingGeocoder())
    assert frame.loc[50, "coord_quality"] == "ok"
    assert frame.loc[30, "coord_quality"] == "missing"
    assert ledger.stage("geocode").flagged["skipped_good_coordinates"] == 2


def test_geocode_errors() -> None:
    with pytest.raises(GeocodeError, match="geocode_batch"):
        geocode(_requests(), geocoder=object())  # type: ignore[arg-type]
    with pytest.raises(GeocodeError, match="'address' column"):
        geocode(_requests().drop(columns="address"), geocoder=CountingGeocoder())

    class Broken(CountingGeocoder):
        def geocode_batch(self, addresses: pd.DataFrame) -> pd.DataFrame:
            return super().geocode_batch(addresses).drop(columns="score")

    with pytest.raises(GeocodeError, match=r"broke the Geocoder contract.*score"):
        geocode(_requests(), geocoder=Broken())


def test_stage_with_reference_geocoder_is_row_order_independent(ref: ReferenceGeocoder) -> None:
    requests = pd.DataFrame(
        {
            "address": [
                "100 Mian St",
                "200 Elm Rd",
                "Oak Ave & Main St",
                "500 Cedar",
                "106 Main St",
            ],
            "zipcode": ["21201", None, "21201", "21203", "21201"],
            "lat": np.nan,
            "long": np.nan,
        }
    )
    frame, ledger = geocode(requests, geocoder=ref)
    assert frame["geocode_match"].tolist() == ["fuzzy", "ambiguous", "exact", "ambiguous", "none"]
    assert ledger.stage("geocode").flagged == {
        "matched_exact": 1,
        "matched_fuzzy": 1,
        "ambiguous": 2,
        "unmatched": 1,
        "filled_coordinates": 2,
    }
    shuffled, _ = geocode(requests.iloc[[3, 1, 4, 0, 2]], geocoder=ref)
    pd.testing.assert_frame_equal(frame, shuffled.loc[frame.index])


# ------------------------------------------------------------------ real data


def _metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Distances in metres, measured in Maryland State Plane (EPSG:2248, US feet)."""
    a = gpd.GeoSeries(gpd.points_from_xy(lon1, lat1), crs=4326).to_crs(2248)
    b = gpd.GeoSeries(gpd.points_from_xy(lon2, lat2), crs=4326).to_crs(2248)
    return a.distance(b, align=False).to_numpy() * 0.3048006096


def _typo(address: str) -> str:
    """Swap two letters in the middle of the street name (a typical keying error)."""
    number, _, street = address.partition(" ")
    words = street.split()
    longest = max(range(len(words)), key=lambda i: (len(words[i]), -i))
    word = words[longest]
    if len(word) >= 5:
        mid = len(word) // 2
        words[longest] = word[: mid - 1] + word[mid] + word[mid - 1] + word[mid + 1 :]
    return f"{number} {' '.join(words)}"


def test_real_baltimore_holdout(shared_data) -> None:
    """Hold out real Baltimore 2019 rows, blank their points, geocode them back.

    The reference table is built in the test from the sample rows that have an
    address and coordinates (never committed).  Held out: one row of every
    address that occurs more than once (its twin stays in the table), and 100
    addresses that occur once (nothing to match: a different house number is a
    different place).  Typed variants of the repeated set (spelled-out street
    types, swapped letters) check the fuzzy step.
    """
    raw = pd.read_csv(shared_data / "baltimore" / "sr311_2019_oct_sample.csv", dtype=str)
    rows = raw[raw["Address"].notna() & raw["Latitude"].notna()].reset_index(drop=True)
    rows["lat"] = rows["Latitude"].astype(float)
    rows["long"] = rows["Longitude"].astype(float)
    key = normalize_addresses(rows["Address"])["address"]
    counts = key.map(key.value_counts())
    repeated = rows[(counts > 1) & key.str.match(r"^\d")].groupby(key, sort=True).head(1)
    single = rows[counts == 1].sample(100, random_state=0)
    table = rows.drop(index=[*repeated.index, *single.index])
    ref = ReferenceGeocoder(
        table, address_column="Address", lon_column="long", lat_column="lat", zip_column="ZipCode"
    )

    def run(held: pd.DataFrame, addresses: pd.Series) -> tuple[pd.DataFrame, float, float]:
        requests = pd.DataFrame(
            {"address": addresses, "zipcode": held["ZipCode"], "lat": np.nan, "long": np.nan}
        )
        frame, ledger = geocode(requests, geocoder=ref)
        stage = ledger.stage("geocode")
        assert stage.rows_in == stage.rows_out == len(held)
        located = frame["lat"].notna().to_numpy()
        errors = _metres(
            frame["long"][located],
            frame["lat"][located],
            held["long"][located],
            held["lat"][located],
        )
        rate = located.mean()
        median = float(np.median(errors)) if len(errors) else float("nan")
        far = int((errors > 100).sum())
        print(
            f"\n{len(held)} rows: match rate {rate:.1%}, median error {median:.1f} m, "
            f"{far} located > 100 m off, {frame['geocode_match'].value_counts().to_dict()}"
        )
        assert far <= 0.02 * len(held)
        return frame, rate, median

    _, rate, median = run(repeated, repeated["Address"])
    assert len(repeated) > 150
    assert rate > 0.95
    assert median < 1.0  # the city geocoded both rows of an address to the same point

    spelled = (
        repeated["Address"]
        .str.replace(r" ST,", " STREET,", regex=True)
        .str.replace(r" AVE,", " AVENUE,", regex=True)
        .str.replace(r" RD,", " ROAD,", regex=True)
    )
    frame, rate, median = run(repeated, spelled)
    assert rate > 0.95
    assert median < 1.0
    assert (frame["geocode_match"] == "exact").mean() > 0.95

    typos = repeated["Address"].str.split(",").str[0].map(_typo)
    frame, rate, median = run(repeated, typos)
    assert (frame["geocode_match"] == "fuzzy").mean() > 0.5
    assert rate > 0.5
    assert median < 1.0

    undirected = repeated["Address"].str.replace(r"^(\d+) [NSEW] ", r"\1 ", regex=True)
    changed = undirected != repeated["Address"]
    frame, rate, median = run(repeated[changed], undirected[changed])
    assert changed.sum() > 30
    assert rate > 0.8
    assert median < 1.0

    frame, rate, _ = run(single, single["Address"])
    assert rate < 0.1  # no twin in the table: nothing to find, nothing guessed
    assert frame["geocode_match"].isin(["none", "ambiguous", "fuzzy"]).all()

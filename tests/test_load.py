"""The readers and the ingest funnel of geo311.io.readers, on small hand-made inputs.

Fixture files are described in tests/fixtures/README.md; variants that must be
damaged or re-encoded are written into ``tmp_path`` here.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

import geo311
from geo311 import (
    InputFileError,
    ProfileError,
    SchemaError,
    TimestampError,
    read_requests,
    requests_from_frame,
    sniff_format,
    validate_requests,
)
from geo311._errors import CRSError  # not re-exported by geo311 (yet)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
AS_OF = "2025-01-01"  # after every fixture's dates, so nothing is "in the future"
R_MERCATOR = 6378137.0


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def check_ledger(frame: pd.DataFrame, ledger: geo311.Ledger) -> None:
    """Every stage balances, stages chain, and the ends match inputs and output."""
    assert [s.stage for s in ledger.stages] == ["read", "normalize", "coordinates", "clean"]
    for stage in ledger.stages:
        assert stage.rows_in == stage.rows_out + sum(stage.dropped.values()), stage
    for before, after in itertools.pairwise(ledger.stages):
        assert before.rows_out == after.rows_in, (before.stage, after.stage)
    assert ledger.rows_in == sum(item["rows"] for item in ledger.inputs)
    assert ledger.rows_out == len(frame)


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns without the file name, as a plain DataFrame."""
    keep = [c for c in geo311.column_names() if c != "input_file"]
    return pd.DataFrame(frame[keep])


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("service_request_id")


def inverse_mercator(x: float, y: float) -> tuple[float, float]:
    """Spherical Web Mercator -> (lon, lat), by the textbook formula (not pyproj)."""
    lon = math.degrees(x / R_MERCATOR)
    lat = math.degrees(2 * math.atan(math.exp(y / R_MERCATOR)) - math.pi / 2)
    return lon, lat


# --------------------------------------------------------------------------- Open311


def test_open311_json_reads_every_field() -> None:
    path = FIXTURES / "open311_requests.json"
    frame, ledger = read_requests(path, as_of=AS_OF, keep_raw=True)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs == [
        {"path": str(path), "format": "open311-json", "rows": 5, "profile": "open311"}
    ]
    assert frame["service_request_id"].tolist() == [str(i) for i in range(638344, 638349)]
    assert frame["service_code"].tolist() == ["001", "002", "017", "001", "100"]
    assert frame["raw_service_code"].tolist() == ["001", "002", "017", "001", "100"]
    rows = by_id(frame)
    # offsets before and after the US DST start (2024-03-10 02:00 local) are honoured
    assert rows.loc["638344", "requested_datetime"] == utc("2024-03-10T06:30:00Z")
    assert rows.loc["638344", "updated_datetime"] == utc("2024-03-10T07:05:00Z")
    assert rows.loc["638345", "requested_datetime"] == utc("2024-03-11T13:15:00Z")
    assert rows.loc["638346", "requested_datetime"] == utc("2024-03-12T22:05:10Z")
    assert rows.loc["638348", "requested_datetime"] == utc("2024-03-13T12:00:00Z")
    assert pd.isna(rows.loc["638346", "expected_datetime"])
    assert rows.loc["638345", "status_notes"] == "Graffiti removed by crew 7."
    assert rows.loc["638344", "raw_media_url"] == "https://city.example.org/media/638344.jpg"
    assert rows.loc["638348", "description"] == "Signal stuck on red \u2013 café corner"
    assert rows["status"].tolist() == ["open", "closed", "open", "closed", "open"]
    # the request without lat/long keys
    assert rows.loc["638346", "coord_quality"] == "missing"
    assert np.isnan(rows.loc["638346", "lat"])
    assert frame.geometry.isna().tolist() == [False, False, True, False, False]
    assert frame.geometry.iloc[0].equals(shapely.Point(-76.6122, 39.2904))
    assert rows["is_duplicate"].tolist() == [False, False, False, True, False]
    assert rows["is_transfer"].tolist() == [False, False, False, False, True]
    # GeoReport v2 has no close time: a closed request closes at its last update, flagged
    assert ledger.flagged["closed_time_from_updated"] == 2
    assert "closed_without_close_time" not in ledger.flagged
    closed = rows["status"] == "closed"
    assert rows.loc[closed, "closed_datetime"].equals(rows.loc[closed, "updated_datetime"])
    assert rows.loc[~closed, "closed_datetime"].isna().all()
    assert rows.loc[closed, "qa_flags"].str.contains("closed_time_from_updated").all()
    assert ledger.flagged["coords_missing"] == 1
    assert frame["input_row"].tolist() == [1, 2, 3, 4, 5]
    assert frame.attrs["timezone"] == "UTC"


def test_open311_xml_gives_the_same_requests_as_json() -> None:
    from_json, _ = read_requests(FIXTURES / "open311_requests.json", as_of=AS_OF, keep_raw=True)
    from_xml, ledger = read_requests(FIXTURES / "open311_requests.xml", as_of=AS_OF, keep_raw=True)
    check_ledger(from_xml, ledger)
    validate_requests(from_xml)
    assert ledger.inputs[0]["format"] == "open311-xml"
    pd.testing.assert_frame_equal(canonical(from_xml), canonical(from_json))
    assert from_xml["raw_service_code"].tolist() == ["001", "002", "017", "001", "100"]
    assert from_xml["address"].iloc[2] == "E BALTIMORE ST & N GAY ST"


def test_open311_bulk_csv_with_closed_date() -> None:
    frame, ledger = read_requests(FIXTURES / "open311_bulk_closed_date.csv", as_of=AS_OF)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["profile"] == "open311"
    rows = by_id(frame)
    assert rows.loc["B-0001", "closed_datetime"] == utc("2023-11-06T14:45:00Z")
    assert rows.loc["B-0003", "closed_datetime"] == utc("2023-11-05T13:00:00Z")
    assert pd.isna(rows.loc["B-0002", "closed_datetime"])
    assert "closed_without_close_time" not in ledger.flagged
    # the same wall time in the repeated autumn hour, told apart by its offset
    gap = rows.loc["B-0003", "requested_datetime"] - rows.loc["B-0002", "requested_datetime"]
    assert gap == pd.Timedelta(hours=1)
    assert rows["source"].tolist() == ["phone", "web", "mobile app", "phone"]
    assert rows["service_code"].tolist() == ["001", "014", "001", "100"]
    assert rows.loc["B-0003", "description"] == 'Large pothole, "axle deep"'
    assert rows["is_duplicate"].tolist() == [False, False, True, False]
    assert rows["is_transfer"].tolist() == [False, False, False, True]
    assert rows.loc["B-0004", "coord_quality"] == "missing"


@pytest.mark.parametrize("suffix", ["json", "xml"])
def test_empty_open311_response_gives_no_rows(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"requests.{suffix}"
    text = "[]" if suffix == "json" else '<?xml version="1.0"?>\n<service_requests/>\n'
    path.write_text(text, encoding="utf-8")
    # on its own there is nothing to ingest: one clear error (issue 11)
    with pytest.raises(InputFileError, match=r"requests\.(json|xml): a header but no data rows"):
        read_requests(path, as_of=AS_OF)
    # beside a file with rows it contributes none, under the Open311 profile
    frame, ledger = read_requests([path, FIXTURES / "open311_requests.json"], as_of=AS_OF)
    assert ledger.inputs[0]["rows"] == 0
    assert ledger.inputs[0]["profile"] == "open311"
    assert len(frame) == ledger.inputs[1]["rows"]
    check_ledger(frame, ledger)
    validate_requests(frame)


# --------------------------------------------------------------------------- ArcGIS


def test_arcgis_featureset_in_web_mercator() -> None:
    path = FIXTURES / "arcgis_baltimore_featureset.json"
    frame, ledger = read_requests(path, as_of=AS_OF, keep_raw=True)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["format"] == "arcgis-json"
    assert ledger.inputs[0]["profile"] == "baltimore"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    for row, feature in zip(frame.itertuples(), features, strict=True):
        assert row.service_request_id == feature["attributes"]["ServiceRequestNum"]
        if feature["geometry"] is None:
            assert row.coord_quality == "missing"
            assert np.isnan(row.lat)
            continue
        lon, lat = inverse_mercator(feature["geometry"]["x"], feature["geometry"]["y"])
        assert row.long == pytest.approx(lon, abs=1e-7)
        assert row.lat == pytest.approx(lat, abs=1e-7)
        assert row.coord_quality == "ok"
    first = frame.iloc[0]
    assert first["raw_CreatedDate"] == "1571672989000"
    assert first["requested_datetime"] == utc("2019-10-21T15:49:49Z")
    assert first["updated_datetime"] == utc("2019-10-21T15:50:08Z")
    assert first["expected_datetime"] == utc("2020-04-18T15:49:49Z")
    assert (first["long"], first["lat"]) == (pytest.approx(-76.6105), pytest.approx(39.2904))
    assert frame["zipcode"].tolist()[:2] == ["21202", "21218"]  # integer field, no ".0"
    assert frame["raw_CouncilDistrict"].tolist()[:2] == ["11", "14"]
    assert frame["status"].tolist() == ["open", "closed", "open", "closed"]
    assert frame["closed_datetime"].isna().tolist() == [True, False, True, False]
    assert frame["is_duplicate"].tolist() == [False, False, False, True]


@pytest.mark.parametrize(
    ("spatial_reference", "crs"),
    [
        ({"wkid": 102100}, "EPSG:3857"),  # Web Mercator under its Esri code only
        ({"wkid": 102685}, "ESRI:102685"),  # Maryland State Plane feet: no EPSG code at all
        ({"wkid": 102685, "latestWkid": 2248}, "EPSG:2248"),
        ({"wkid": 4326}, "EPSG:4326"),
    ],
)
def test_arcgis_spatial_references(tmp_path: Path, spatial_reference: dict, crs: str) -> None:
    data = json.loads((FIXTURES / "arcgis_baltimore_featureset.json").read_text("utf-8"))
    lonlat = [(-76.6105, 39.2904), (-76.5890, 39.3300), None, (-76.6250, 39.3100)]
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    for feature, point in zip(data["features"], lonlat, strict=True):
        if point is not None:
            x, y = to_crs.transform(*point)
            feature["geometry"] = {"x": x, "y": y}
    data["spatialReference"] = spatial_reference
    path = tmp_path / "query.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    frame, _ = read_requests(path, as_of=AS_OF)
    got = list(zip(frame["long"], frame["lat"], strict=True))
    for (lon, lat), point in zip(got, lonlat, strict=True):
        if point is None:
            assert np.isnan(lon)
            assert np.isnan(lat)
        else:
            assert (lon, lat) == (pytest.approx(point[0]), pytest.approx(point[1]))


def test_arcgis_unknown_spatial_reference_is_an_input_error(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "arcgis_baltimore_featureset.json").read_text("utf-8"))
    data["spatialReference"] = {"wkid": 999999}
    path = tmp_path / "query.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"query\.json.*999999.*outSR=4326"):
        read_requests(path, as_of=AS_OF)


def test_arcgis_empty_featureset_keeps_its_fields(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "arcgis_baltimore_featureset.json").read_text("utf-8"))
    data["features"] = []
    path = tmp_path / "empty_query.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputFileError, match=r"empty_query\.json: a header but no data rows"):
        read_requests(path, as_of=AS_OF)
    full = FIXTURES / "arcgis_baltimore_featureset.json"
    frame, ledger = read_requests([path, full], as_of=AS_OF)
    assert ledger.inputs[0]["rows"] == 0
    assert ledger.inputs[0]["profile"] == "baltimore"
    assert len(frame) == ledger.inputs[1]["rows"]
    validate_requests(frame)


# --------------------------------------------------------------------------- GeoJSON


def test_geojson_points_give_the_coordinates() -> None:
    frame, ledger = read_requests(FIXTURES / "open311_points.geojson", as_of=AS_OF)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["format"] == "geojson"
    assert frame["lat"].tolist()[:2] == [39.2904, 39.2997]
    assert frame["long"].tolist()[:2] == [-76.6122, -76.5860]
    assert frame["coord_quality"].tolist() == ["ok", "ok", "missing"]
    assert frame["service_code"].tolist() == ["001", "014", "017"]
    assert frame["requested_datetime"].iloc[0] == utc("2024-05-01T13:30:00Z")
    assert frame["closed_datetime"].iloc[1] == utc("2024-05-02T19:00:00Z")


def test_geojson_legacy_crs_member_is_reprojected(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "open311_points.geojson").read_text("utf-8"))
    to_md = Transformer.from_crs("EPSG:4326", "EPSG:2248", always_xy=True)
    for feature in data["features"]:
        if feature["geometry"]:
            feature["geometry"]["coordinates"] = list(
                to_md.transform(*feature["geometry"]["coordinates"])
            )
    data["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2248"}}
    path = tmp_path / "stateplane.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    frame, _ = read_requests(path, as_of=AS_OF)
    assert frame["lat"].tolist()[:2] == [pytest.approx(39.2904), pytest.approx(39.2997)]
    assert frame["long"].tolist()[:2] == [pytest.approx(-76.6122), pytest.approx(-76.5860)]


# --------------------------------------------------------------------------- GeoParquet


def baltimore_gdf() -> gpd.GeoDataFrame:
    """Three Baltimore-style requests in Maryland State Plane feet (EPSG:2248)."""
    points = [shapely.Point(-76.6105, 39.2904), shapely.Point(-76.5890, 39.3300), None]
    frame = gpd.GeoDataFrame(
        {
            "ServiceRequestNum": ["19-00900001", "19-00900002", "19-00900003"],
            "SRType": ["SW-Dirty Alley", "TRM-Pothole", "ECC-Information Request"],
            # a naive datetime column: wall time in Baltimore
            "CreatedDate": pd.to_datetime(
                ["2019-10-21 11:49:49", "2019-12-02 08:00:00", "2019-12-03 09:30:00"]
            ),
            "SRStatus": ["Open", "Closed (Transferred)", "New"],
            "ZipCode": [21202, 21218, None],  # float64 with NaN in pandas
        },
        geometry=points,
        crs="EPSG:4326",
    )
    return frame.to_crs("EPSG:2248")


@pytest.mark.parametrize("encoding", ["WKB", "geoarrow"])
def test_geoparquet_in_a_projected_crs_is_reprojected(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "requests.parquet"
    baltimore_gdf().to_parquet(path, geometry_encoding=encoding)
    assert sniff_format(path) == "parquet"
    frame, ledger = read_requests(path, as_of=AS_OF)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["profile"] == "baltimore"
    assert frame["lat"].tolist()[:2] == [pytest.approx(39.2904), pytest.approx(39.33)]
    assert frame["long"].tolist()[:2] == [pytest.approx(-76.6105), pytest.approx(-76.589)]
    assert frame["coord_quality"].tolist() == ["ok", "ok", "missing"]
    assert frame["requested_datetime"].iloc[0] == utc("2019-10-21T15:49:49Z")  # EDT
    assert frame["requested_datetime"].iloc[1] == utc("2019-12-02T13:00:00Z")  # EST
    assert frame["zipcode"].tolist()[:2] == ["21202", "21218"]
    assert pd.isna(frame["zipcode"].iloc[2])
    assert frame["is_transfer"].tolist() == [False, True, False]
    assert "raw_geometry" not in frame
    assert frame.crs.to_epsg() == 4326
    chunked, chunked_ledger = read_requests(path, as_of=AS_OF, chunksize=1)
    pd.testing.assert_frame_equal(chunked, frame)
    assert chunked_ledger.to_dict() == ledger.to_dict()


def test_geoparquet_without_crs_raises(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.parquet"
    baltimore_gdf().set_crs(None, allow_override=True).to_parquet(path)
    with pytest.raises(CRSError, match=r"nocrs\.parquet.*no CRS.*set_crs"):
        read_requests(path, as_of=AS_OF)


# --------------------------------------------------------------------------- CSV variants

CSV_TEXT = (
    "service_request_id,service_code,status,requested_datetime,address,zipcode,lat,long\n"
    "A-1,001,open,2024-03-01T10:00:00-05:00,12 Café Row,02134,42.3601,-71.0589\n"
    "A-2,020,closed,2024-03-02T11:30:00-05:00,7 Main St,02135,42.3523,-71.1410\n"
)


def _write_variant(tmp_path: Path, variant: str) -> Path:
    if variant == "utf-8":
        path = tmp_path / "plain.csv"
        path.write_bytes(CSV_TEXT.encode("utf-8"))
    elif variant == "utf-8-bom":
        path = tmp_path / "bom.csv"
        path.write_bytes(b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"))
    elif variant == "cp1252":
        path = tmp_path / "windows.csv"
        path.write_bytes(CSV_TEXT.encode("cp1252"))
        assert b"Caf\xe9" in path.read_bytes()  # really not UTF-8
    elif variant == "gzip":
        path = tmp_path / "export.csv.gz"
        path.write_bytes(gzip.compress(CSV_TEXT.encode("utf-8")))
    elif variant == "crlf":
        path = tmp_path / "crlf.csv"
        path.write_bytes(CSV_TEXT.replace("\n", "\r\n").encode("utf-8"))
    elif variant == "semicolon":
        path = tmp_path / "semicolon.csv"
        path.write_bytes(CSV_TEXT.replace(",", ";").encode("utf-8"))
    else:
        path = tmp_path / "tab.tsv"
        path.write_bytes(CSV_TEXT.replace(",", "\t").encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def csv_reference(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    path = tmp_path_factory.mktemp("reference") / "reference.csv"
    path.write_bytes(CSV_TEXT.encode("utf-8"))
    return read_requests(path, as_of=AS_OF).frame


@pytest.mark.parametrize(
    "variant", ["utf-8", "utf-8-bom", "cp1252", "gzip", "crlf", "semicolon", "tab"]
)
def test_csv_variants_read_alike(
    tmp_path: Path, variant: str, csv_reference: pd.DataFrame
) -> None:
    path = _write_variant(tmp_path, variant)
    frame, ledger = read_requests(path, as_of=AS_OF, keep_raw=True)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["format"] == "csv"
    assert ledger.inputs[0]["profile"] == "open311"
    pd.testing.assert_frame_equal(canonical(frame), canonical(csv_reference))
    assert frame["address"].iloc[0] == "12 Café Row"
    assert frame["service_code"].tolist() == ["001", "020"]
    assert frame["zipcode"].tolist() == ["02134", "02135"]
    assert "raw_service_request_id" in frame  # the BOM is not part of the first column name


def test_semicolon_csv_with_commas_in_quoted_names(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(
        'service_request_id;requested_datetime;"Notes, internal"\n'
        'Q-1;2024-03-01T10:00:00Z;"a, b"\n',
        encoding="utf-8",
    )
    frame, _ = read_requests(path, as_of=AS_OF, keep_raw=True)
    assert frame["raw_Notes, internal"].tolist() == ["a, b"]
    assert frame["requested_datetime"].tolist() == [utc("2024-03-01T10:00:00Z")]


def test_explicit_encoding_is_used(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, "cp1252")
    frame, _ = read_requests(path, encoding="cp1252", as_of=AS_OF)
    assert frame["address"].iloc[0] == "12 Café Row"
    with pytest.raises(InputFileError, match=r"windows\.csv.*encoding utf-8"):
        read_requests(path, encoding="utf-8", as_of=AS_OF)


def test_timezone_override_for_naive_times(tmp_path: Path) -> None:
    path = tmp_path / "naive.csv"
    path.write_text(
        "service_request_id,requested_datetime\nN-1,2024-07-01T09:00:00\n"
        "N-2,2024-07-01T09:00:00+00:00\n",
        encoding="utf-8",
    )
    default, _ = read_requests(path, as_of=AS_OF)  # open311's zone is UTC
    chicago, _ = read_requests(path, timezone="America/Chicago", as_of=AS_OF)
    assert default["requested_datetime"].tolist() == [utc("2024-07-01T09:00:00Z")] * 2
    assert chicago["requested_datetime"].tolist() == [
        utc("2024-07-01T14:00:00Z"),  # CDT wall time
        utc("2024-07-01T09:00:00Z"),  # an explicit offset wins over the zone
    ]
    assert chicago.attrs["timezone"] == "America/Chicago"


def test_header_only_csv_gives_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "header_only.csv"
    path.write_text(CSV_TEXT.splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"header_only\.csv: a header but no data rows"):
        read_requests(path, as_of=AS_OF)
    both, both_ledger = read_requests([path, _write_variant(tmp_path, "utf-8")], as_of=AS_OF)
    assert both_ledger.inputs[0]["rows"] == 0
    assert both_ledger.inputs[0]["profile"] == "open311"
    assert len(both) == 2
    check_ledger(both, both_ledger)
    validate_requests(both)


def _truncated_gzip(path: Path) -> None:
    data = gzip.compress((CSV_TEXT * 2000).encode("utf-8"))
    path.write_bytes(data[: len(data) // 2])


UNREADABLE = {
    "zero-bytes.csv": (lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
    "blank.csv": (lambda p: p.write_bytes(b" \r\n\n  "), "only whitespace"),
    "a_directory.csv": (lambda p: p.mkdir(), "is a directory"),
    "never_written.csv": (lambda _path: None, "no such file"),
    "binary.csv": (lambda p: p.write_bytes(bytes(range(256)) * 8), "looks binary"),
    "image.csv": (
        lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256))),
        "neither UTF-8 nor cp1252",
    ),
    "truncated.csv.gz": (_truncated_gzip, "truncated"),
    "error.json": (
        lambda p: shutil.copy(FIXTURES / "open311_error.json", p),
        "Open311 error response.*Invalid api_key",
    ),
    "error.xml": (
        lambda p: p.write_text(
            "<?xml version='1.0'?><errors><error><code>403</code>"
            "<description>Invalid api_key</description></error></errors>",
            encoding="utf-8",
        ),
        "Open311 error response.*Invalid api_key",
    ),
    "arcgis_error.json": (
        lambda p: p.write_text(
            '{"error": {"code": 400, "message": "Invalid query parameters", "details": []}}',
            encoding="utf-8",
        ),
        "ArcGIS error response.*Invalid query parameters",
    ),
    "maintenance.xml": (
        lambda p: p.write_text("<html><body>Down for maintenance</body></html>", "utf-8"),
        "root <html>",
    ),
    "broken.json": (lambda p: p.write_text('[{"service_request_id": ', "utf-8"), "not valid JSON"),
    "fake.parquet": (lambda p: p.write_text(CSV_TEXT, "utf-8"), "not a readable Parquet"),
}


@pytest.mark.parametrize("name", list(UNREADABLE))
def test_unreadable_inputs_raise_input_file_error(tmp_path: Path, name: str) -> None:
    make, message = UNREADABLE[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(InputFileError, match=message) as info:
        read_requests(path, as_of=AS_OF)
    assert name in str(info.value)
    assert isinstance(info.value, geo311.Geo311Error)


def test_no_input_files_is_an_error() -> None:
    with pytest.raises(InputFileError, match="no input files"):
        read_requests([])


# --------------------------------------------------------------------------- schema / profile


def test_missing_required_columns_names_file_profile_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "no_created_date.csv"
    path.write_text(
        "ServiceRequestNum,SRType,SRStatus\n19-1,SW-Dirty Alley,Open\n", encoding="utf-8"
    )
    with pytest.raises(SchemaError) as info:
        read_requests(path, schema="baltimore", as_of=AS_OF)
    message = str(info.value)
    assert str(path) in message
    assert "'baltimore'" in message
    assert "requested_datetime" in message
    assert "CreatedDate" in message  # the source column the profile looked for
    found = message.split("Columns found:")[1]
    for column in ("ServiceRequestNum", "SRType", "SRStatus"):
        assert column in found


def test_unknown_header_without_schema_lists_the_candidates() -> None:
    path = FIXTURES / "springfield_standort.csv"
    with pytest.raises(ProfileError) as info:
        read_requests(path, as_of=AS_OF)
    message = str(info.value)
    assert str(path) in message
    assert "Vorgangsnummer" in message  # the header it saw
    for name in geo311.list_profiles():
        assert name in message
    assert "--schema" in message


def test_unknown_schema_name_lists_the_profiles() -> None:
    with pytest.raises(ProfileError, match=r"baltimore.*los_angeles.*open311"):
        read_requests(FIXTURES / "open311_requests.json", schema="atlantis")


# --------------------------------------------------------------------------- user profiles


def test_user_profile_with_location_column_and_berlin_times() -> None:
    path = FIXTURES / "springfield_standort.csv"
    profile = FIXTURES / "springfield_standort.toml"
    frame, ledger = read_requests(path, schema=str(profile), as_of=AS_OF)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["profile"] == "springfield_standort"
    assert frame.attrs["timezone"] == "Europe/Berlin"
    rows = by_id(frame)
    assert rows.loc["SPR-0001", "requested_datetime"] == utc("2019-10-21T09:49:00Z")  # CEST
    assert rows.loc["SPR-0002", "requested_datetime"] == utc("2020-01-05T07:00:00Z")  # CET
    assert rows.loc["SPR-0002", "closed_datetime"] == utc("2020-01-06T13:30:00Z")
    assert rows.loc["SPR-0005", "requested_datetime"] == utc("2019-07-01T21:15:00Z")
    # repeated autumn hour: the first (summer-time) occurrence, flagged
    assert rows.loc["SPR-0003", "requested_datetime"] == utc("2019-10-27T00:30:00Z")
    assert "ambiguous_local_time" in rows.loc["SPR-0003", "qa_flags"]
    # skipped spring hour: moved forward to 03:00 CEST, flagged
    assert rows.loc["SPR-0004", "requested_datetime"] == utc("2019-03-31T01:00:00Z")
    assert "nonexistent_local_time" in rows.loc["SPR-0004", "qa_flags"]
    assert ledger.flagged["ambiguous_local_time"] == 1
    assert ledger.flagged["nonexistent_local_time"] == 1
    assert rows["status"].tolist() == ["open", "closed", "open", "closed", "closed"]
    assert rows["status_raw"].tolist()[3] == "Erledigt (Doppelt)"
    assert rows["is_duplicate"].tolist() == [False, False, False, True, False]
    assert rows["is_transfer"].tolist() == [False, False, False, False, True]
    assert "unknown_status" not in ledger.flagged
    assert rows.loc["SPR-0001", ["lat", "long"]].tolist() == [51.3127, 9.4797]
    assert rows.loc["SPR-0004", ["lat", "long"]].tolist() == [51.305, 9.465]
    assert rows["coord_quality"].tolist() == ["ok", "ok", "missing", "ok", "ok"]
    assert rows.loc["SPR-0002", "address"] == "Am Markt 3"
    assert rows.loc["SPR-0003", "service_name"] == "Straßenbeleuchtung"


def test_user_profile_with_projected_coordinates(tmp_path: Path) -> None:
    profile = tmp_path / "my_city.toml"  # a profile the user keeps anywhere
    profile.write_text(
        (FIXTURES / "springfield_rechtswert.toml").read_text("utf-8"), encoding="utf-8"
    )
    frame, ledger = read_requests(
        FIXTURES / "springfield_rechtswert.csv", schema=profile, as_of=AS_OF, keep_raw=True
    )
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs[0]["profile"] == "springfield_rechtswert"
    assert frame["long"].tolist()[:2] == [
        pytest.approx(9.4797, abs=1e-6),
        pytest.approx(9.5012, abs=1e-6),
    ]
    assert frame["lat"].tolist()[:2] == [
        pytest.approx(51.3127, abs=1e-6),
        pytest.approx(51.3201, abs=1e-6),
    ]
    assert frame["coord_quality"].tolist() == ["ok", "ok", "missing"]
    assert frame["status"].tolist() == ["open", "closed", "open"]  # case-insensitive
    assert frame["requested_datetime"].tolist() == [
        utc("2019-10-21T09:49:00Z"),
        utc("2020-01-05T07:00:00Z"),
        utc("2020-02-15T17:20:00Z"),
    ]
    assert frame["raw_Rechtswert"].iloc[0] == "533433.51"


# --------------------------------------------------------------------------- timestamps


def _numbered_csv(rows: int, *, bad: dict[int, str] | None = None) -> str:
    """``rows`` requests R-0..R-(rows-1); ``bad`` replaces some requested times."""
    lines = ["service_request_id,status,requested_datetime,updated_datetime,lat,long"]
    for i in range(rows):
        created = (bad or {}).get(i, f"2024-03-{i % 28 + 1:02d}T10:{i % 60:02d}:00-05:00")
        lines.append(f"R-{i},open,{created},,39.{2900 + i:04d}1,-76.{6100 + i:04d}3")
    return "\n".join(lines) + "\n"


def test_unparseable_timestamps_below_the_limit_are_flagged(tmp_path: Path) -> None:
    path = tmp_path / "one_bad.csv"
    path.write_text(_numbered_csv(30, bad={5: "yesterday-ish"}), encoding="utf-8")
    frame, ledger = read_requests(path, as_of=AS_OF, keep_raw=True)  # 1 of 30 = 3.3% < 5%
    check_ledger(frame, ledger)
    assert len(frame) == 30
    assert ledger.flagged["unparsed_requested_datetime"] == 1
    examples = ledger.stage("normalize").examples
    assert examples[f"unparsed_requested_datetime ({path})"] == ["yesterday-ish"]
    row = by_id(frame).loc["R-5"]
    assert pd.isna(row["requested_datetime"])
    assert "unparsed_requested_datetime" in row["qa_flags"].split("|")
    assert row["raw_requested_datetime"] == "yesterday-ish"


def test_unparseable_timestamps_above_the_limit_raise(tmp_path: Path) -> None:
    path = tmp_path / "two_bad.csv"
    path.write_text(
        _numbered_csv(30, bad={5: "yesterday-ish", 6: "13/45/2024 10:00"}), encoding="utf-8"
    )
    with pytest.raises(TimestampError) as info:
        read_requests(path, as_of=AS_OF, chunksize=7)  # the two sit in different chunks
    message = str(info.value)
    assert str(path) in message
    assert "2 of 30 rows" in message
    assert "requested_datetime" in message
    assert "yesterday-ish" in message
    assert "13/45/2024 10:00" in message
    assert "--max-bad-timestamps" in message
    frame, ledger = read_requests(path, as_of=AS_OF, max_bad_timestamps=0.1)
    assert ledger.flagged["unparsed_requested_datetime"] == 2
    assert frame["requested_datetime"].isna().sum() == 2


def test_timestamp_limit_applies_to_each_file(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text(_numbered_csv(100), encoding="utf-8")
    other_format = tmp_path / "other_format.csv"
    other_format.write_text(
        "service_request_id,status,requested_datetime\nX-1,open,21.10.2019 11:49\n",
        encoding="utf-8",
    )
    # 1 bad row of 101 overall, but all of the second file
    with pytest.raises(TimestampError, match=r"other_format\.csv: 1 of 1 rows"):
        read_requests([good, other_format], as_of=AS_OF)


# --------------------------------------------------------------------------- chunks, files


def test_chunked_reading_gives_the_same_result(tmp_path: Path) -> None:
    text = _numbered_csv(30)
    # R-3 comes back on data row 31 with an update: the later state must win
    text += "R-3,closed,2024-03-04T10:03:00-05:00,2024-03-09T12:00:00-05:00,39.29031,-76.61033\n"
    path = tmp_path / "thirty_one.csv"
    path.write_text(text, encoding="utf-8")
    whole, whole_ledger = read_requests(path, as_of=AS_OF)
    chunked, chunked_ledger = read_requests(path, as_of=AS_OF, chunksize=7)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked_ledger.to_dict() == whole_ledger.to_dict()
    check_ledger(chunked, chunked_ledger)
    assert chunked_ledger.rows_in == 31
    assert chunked_ledger.dropped == {"duplicate_service_request_id": 1}
    # input_row is the data row within the file, across chunk boundaries
    expected_rows = [int(i.removeprefix("R-")) + 1 for i in chunked["service_request_id"]]
    expected_rows[chunked.index[chunked["service_request_id"] == "R-3"][0]] = 31
    assert chunked["input_row"].tolist() == expected_rows
    assert by_id(chunked).loc["R-3", "status"] == "closed"
    assert chunked["input_row"].tolist() == sorted(chunked["input_row"])


def test_repeated_ids_across_files_keep_the_latest_update(tmp_path: Path) -> None:
    header = "service_request_id,status,requested_datetime,updated_datetime,status_notes\n"
    first = tmp_path / "export_monday.csv"
    first.write_text(
        header + "X-1,open,2024-03-01T10:00:00Z,2024-03-02T10:00:00Z,old state\n"
        "X-2,open,2024-03-01T10:00:00Z,2024-03-05T10:00:00Z,newest state\n"
        'X-3,open,2024-03-01T10:00:00Z,2024-03-02T10:00:00Z,"tie, earlier file"\n'
        "X-4,open,2024-03-01T10:00:00Z,,only once\n"
        "X-5,open,2024-03-01T10:00:00Z,,no update time\n",
        encoding="utf-8",
    )
    second = tmp_path / "export_tuesday.csv"
    second.write_text(
        header + "X-1,closed,2024-03-01T10:00:00Z,2024-03-03T10:00:00Z,new state\n"
        "X-2,closed,2024-03-01T10:00:00Z,2024-03-04T10:00:00Z,older state\n"
        'X-3,open,2024-03-01T10:00:00Z,2024-03-02T10:00:00Z,"tie, later file"\n'
        "X-5,open,2024-03-01T10:00:00Z,2024-03-01T11:00:00Z,has an update time\n",
        encoding="utf-8",
    )
    frame, ledger = read_requests([first, second], as_of=AS_OF)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert [i["rows"] for i in ledger.inputs] == [5, 4]
    assert ledger.rows_in == 9
    assert ledger.rows_out == 5
    assert ledger.dropped == {"duplicate_service_request_id": 4}
    clean = ledger.stage("clean")
    assert clean.examples["duplicate_service_request_id"] == ["X-1", "X-2", "X-3", "X-5"]
    kept = by_id(frame)
    assert kept.loc["X-1", "status_notes"] == "new state"
    assert kept.loc["X-2", "status_notes"] == "newest state"
    assert kept.loc["X-3", "status_notes"] == "tie, later file"
    assert kept.loc["X-4", "status_notes"] == "only once"
    assert kept.loc["X-5", "status_notes"] == "has an update time"
    assert kept.loc["X-2", "input_file"] == str(first)
    assert kept.loc["X-3", ["input_file", "input_row"]].tolist() == [str(second), 3]


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("open311_requests.json", "open311-json"),
        ("open311_requests.xml", "open311-xml"),
        ("open311_bulk_closed_date.csv", "csv"),
        ("arcgis_baltimore_featureset.json", "arcgis-json"),
        ("open311_points.geojson", "geojson"),
        ("springfield_standort.csv", "csv"),
    ],
)
def test_sniff_format(name: str, fmt: str) -> None:
    assert sniff_format(FIXTURES / name) == fmt
    assert fmt in geo311.FORMATS


# --------------------------------------------------------------------------- requests_from_frame


INDEXES = {
    "range": None,
    "shuffled-int": [30, 10, 20],
    "string": ["c", "a", "b"],
}


@pytest.mark.parametrize("index", list(INDEXES))
def test_requests_from_frame_on_a_geodataframe(index: str) -> None:
    source = baltimore_gdf()
    if INDEXES[index] is not None:
        source.index = INDEXES[index]
    source.attrs["note"] = "mine"
    before = source.copy(deep=True)
    frame, ledger = requests_from_frame(source, name="from memory", as_of=AS_OF)
    # the input is not modified: values, dtypes, index, CRS, attrs
    pd.testing.assert_frame_equal(pd.DataFrame(source), pd.DataFrame(before))
    assert source.crs == before.crs
    assert source.attrs == {"note": "mine"}
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.inputs == [{"path": "from memory", "rows": 3, "profile": "baltimore"}]
    assert frame.index.equals(pd.RangeIndex(3))
    assert frame["lat"].tolist()[:2] == [pytest.approx(39.2904), pytest.approx(39.33)]
    assert frame["long"].tolist()[:2] == [pytest.approx(-76.6105), pytest.approx(-76.589)]
    assert frame["coord_quality"].tolist() == ["ok", "ok", "missing"]
    assert frame["requested_datetime"].iloc[0] == utc("2019-10-21T15:49:49Z")
    assert frame["input_file"].unique().tolist() == ["from memory"]
    assert frame["input_row"].tolist() == [1, 2, 3]
    assert "raw_geometry" not in frame
    assert frame.crs.to_epsg() == 4326


def test_requests_from_frame_does_not_modify_a_dataframe() -> None:
    source = pd.DataFrame(
        {
            "service_request_id": ["a1", "a2", "a1"],
            "service_code": ["001", "002", "001"],
            "status": ["open", "open", "closed"],
            "requested_datetime": ["2024-05-01T09:30:00-04:00"] * 3,
            "updated_datetime": [
                "2024-05-01T10:00:00-04:00",
                None,
                "2024-05-02T10:00:00-04:00",
            ],
            "lat": ["39.29041", " ", "39.29041"],
            "long": ["-76.61223", "", "-76.61223"],
        },
        index=[7, 3, 5],
    )
    before = source.copy(deep=True)
    frame, ledger = requests_from_frame(source, as_of=AS_OF)
    pd.testing.assert_frame_equal(source, before)
    check_ledger(frame, ledger)
    validate_requests(frame)
    assert ledger.dropped == {"duplicate_service_request_id": 1}
    assert frame["service_request_id"].tolist() == ["a2", "a1"]
    assert frame["status"].tolist() == ["open", "closed"]
    assert frame["input_row"].tolist() == [2, 3]
    assert frame["coord_quality"].tolist() == ["missing", "ok"]


def test_requests_from_frame_needs_a_crs_for_geometry() -> None:
    source = baltimore_gdf().set_crs(None, allow_override=True)
    with pytest.raises(CRSError, match=r"my frame.*no CRS"):
        requests_from_frame(source, name="my frame", as_of=AS_OF)


def test_requests_from_frame_non_point_geometry_counts_as_missing() -> None:
    source = gpd.GeoDataFrame(
        {
            "service_request_id": ["p1", "p2"],
            "requested_datetime": ["2024-05-01T09:30:00Z"] * 2,
        },
        geometry=[shapely.box(-76.62, 39.28, -76.61, 39.29), shapely.Point(-76.61234, 39.28765)],
        crs="EPSG:4326",
    )
    frame, _ = requests_from_frame(source, as_of=AS_OF)
    assert frame["coord_quality"].tolist() == ["missing", "ok"]


def test_requests_from_frame_unknown_header_names_the_frame() -> None:
    with pytest.raises(ProfileError, match=r"^my export: no schema profile"):
        requests_from_frame(pd.DataFrame({"Ticket": ["1"]}), name="my export")


# --- the Arrow CSV reader reads what pandas reads ------------------------------------------

ARROW_CSV_CASES = {
    "plain": b'a,b,c\n1,"x, y",\n2,"say ""hi""",z\n',
    "crlf_bom_quoted_newline": b'\xef\xbb\xbfa,b,c\r\n1,"two\r\nlines", c \r\n\r\n3,,\r\n',
    "gzip": b"a;b;c\n1;2;3\n",
    "duplicate_and_empty_names": b"a,a,\n1,2,3\n",
    "nul_byte": b"a,b,c\n1,x\x00y,3\n",  # pandas ends the field at NUL: left to pandas
    "lone_cr": b"a,b,c\r1,2,3\r\t4,5,6\r",  # pandas' own reading of CR-only lines
    "ragged": b"a,b,c\n1,2\n3,4,5\n",  # a short row: pandas fills it, Arrow refuses
    "header_only": b"a,b,c\n",
}


@pytest.mark.parametrize("case", sorted(ARROW_CSV_CASES))
def test_csv_chunks_hold_what_pandas_reads(tmp_path: Path, case: str) -> None:
    from geo311.io.formats import read_chunks  # noqa: PLC0415

    data = ARROW_CSV_CASES[case]
    path = tmp_path / ("f.csv.gz" if case == "gzip" else "f.csv")
    path.write_bytes(gzip.compress(data) if case == "gzip" else data)
    chunks = list(read_chunks(path, "csv", chunksize=2, encoding=None))
    got = pd.concat([c.raw for c in chunks], ignore_index=True)
    sep = ";" if case == "gzip" else ","
    expected = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep, encoding="utf-8-sig")
    assert list(got.columns) == list(expected.columns)
    assert got.astype(object).where(got.notna(), None).to_numpy().tolist() == (
        expected.astype(object).where(expected.notna(), None).to_numpy().tolist()
    )
    assert [c.first_row for c in chunks] == list(range(1, max(len(expected), 1) + 1, 2))
    by_arrow = case not in {"nul_byte", "lone_cr", "ragged"}
    assert all((dtype == "string[pyarrow]") == by_arrow for dtype in got.dtypes)


def test_unmapped_columns_are_read_only_with_keep_raw(tmp_path: Path) -> None:
    path = tmp_path / "bulk.csv"
    path.write_text(
        "service_request_id,requested_datetime,status,Ward\n"
        "A-1,2024-03-01T10:00:00Z,open,7\nA-2,2024-03-02T10:00:00Z,closed,8\n",
        encoding="utf-8",
    )
    lean, _ = read_requests(path, as_of=AS_OF)
    full, _ = read_requests(path, as_of=AS_OF, keep_raw=True)
    assert not [c for c in lean if c.startswith("raw_")]
    assert [c for c in full if c.startswith("raw_")] == [
        "raw_service_request_id",
        "raw_requested_datetime",
        "raw_status",
        "raw_Ward",
    ]
    assert full["raw_Ward"].dtype == "string[pyarrow]"
    assert full["raw_Ward"].tolist() == ["7", "8"]
    pd.testing.assert_frame_equal(pd.DataFrame(full[lean.columns]), pd.DataFrame(lean))


def test_request_points_are_the_coordinates_where_a_point_is_placed() -> None:
    from geo311.io.readers import request_points  # noqa: PLC0415 - the ingest's own helper

    quality = ["ok", "swapped", "outside_area", "missing", "placeholder", "zero", "ok"]
    frame = pd.DataFrame(
        {
            "coord_quality": pd.Categorical(quality),
            "long": pd.array([-76.6, -76.5, -70.0, None, -76.61, 0.0, None], dtype="Float64"),
            "lat": pd.array([39.3, 39.2, 40.0, None, 39.29, 0.0, None], dtype="Float64"),
        }
    )
    points = request_points(frame)
    assert points.crs == "EPSG:4326"
    # geopandas' way: a point from every pair, None where no point is placed
    expected = gpd.points_from_xy(frame["long"].astype(float), frame["lat"].astype(float))
    placed = [True, True, True, False, False, False, True]
    for got, want, has in zip(points, expected, placed, strict=True):
        if has:
            assert got is not None and shapely.to_wkb(got) == shapely.to_wkb(want)
        else:
            assert got is None

"""The fast (Geo)Parquet writer reads back as geopandas' own writer's files do."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely.geometry import LinearRing, LineString, Point, Polygon

from geo311.io.geoparquet import write_frame


def _requests(n: int = 50) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(3)
    x = -76.6 + rng.random(n) / 10
    y = 39.3 + rng.random(n) / 10
    points = list(gpd.points_from_xy(x, y))
    points[3] = None  # not placed
    points[7] = Point()  # empty
    frame = gpd.GeoDataFrame(
        {
            "service_request_id": pd.array([f"SR-{i}" for i in range(n)], dtype="string"),
            "service_name": pd.Categorical(rng.choice(["Pothole", "Trash"], n)),
            "requested_datetime": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "lat": y,
            "is_duplicate": rng.random(n) < 0.1,
        },
        geometry=points,
        crs="EPSG:4326",
    )
    frame.attrs = {"timezone": "America/New_York", "as_of": "2024-02-01T00:00:00Z"}
    return frame


def _written(frame: pd.DataFrame, tmp_path: Path) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    write_frame(frame, ours, row_group_size=16)
    frame.to_parquet(theirs, index=False, row_group_size=16)
    return ours, theirs


def _geo(path: Path) -> dict[str, object]:
    metadata = pq.read_schema(path).metadata
    assert metadata is not None
    doc: dict[str, object] = json.loads(metadata[b"geo"])
    return doc


def test_points_read_back_as_geopandas_writes_them(tmp_path: Path) -> None:
    frame = _requests()
    ours, theirs = _written(frame, tmp_path)
    back = gpd.read_parquet(ours)
    assert_geodataframe_equal(back, gpd.read_parquet(theirs))
    assert back.attrs == frame.attrs
    # the same WKB bytes as Shapely's, a null where the point is missing
    wkb = pq.read_table(ours).column("geometry").to_pylist()
    expected = shapely.to_wkb(np.asarray(frame.geometry.array, dtype=object))
    assert wkb[3] is None
    assert wkb == [None if g is None else bytes(g) for g in expected]
    assert pq.ParquetFile(ours).metadata.num_row_groups == 4
    geo, reference = _geo(ours), _geo(theirs)
    assert {k: v for k, v in geo.items() if k != "creator"} == {
        k: v for k, v in reference.items() if k != "creator"
    }
    assert geo["columns"]["geometry"]["geometry_types"] == ["Point"]  # type: ignore[index]


def test_other_geometries_and_crs(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b", "c", "d", "e"]},
        geometry=[
            Polygon([(0, 0), (1000, 0), (1000, 1000)]),
            LineString([(0, 0), (5, 5)]),
            LinearRing([(0, 0), (5, 5), (5, 0)]),  # a LineString to GeoParquet
            Point(1, 2, 3),
            None,
        ],
        crs="EPSG:26918",
    )
    ours, theirs = _written(frame, tmp_path)
    assert_geodataframe_equal(gpd.read_parquet(ours), gpd.read_parquet(theirs))
    geo = _geo(ours)["columns"]["geometry"]  # type: ignore[index]
    assert geo["geometry_types"] == ["LineString", "Point Z", "Polygon"]  # each name once
    reference = _geo(theirs)["columns"]["geometry"]  # type: ignore[index]
    assert sorted(set(reference.pop("geometry_types"))) == geo.pop("geometry_types")
    assert geo == reference


def test_all_missing_geometry_has_no_bbox(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[None, None], crs="EPSG:4326")
    ours, theirs = _written(frame, tmp_path)
    assert_geodataframe_equal(gpd.read_parquet(ours), gpd.read_parquet(theirs))
    assert "bbox" not in _geo(ours)["columns"]["geometry"]  # type: ignore[index]


def test_plain_frame_has_no_geo_metadata(tmp_path: Path) -> None:
    frame = pd.DataFrame(_requests().drop(columns="geometry"))
    path = tmp_path / "plain.parquet"
    write_frame(frame, path)
    assert b"geo" not in (pq.read_schema(path).metadata or {})
    pd.testing.assert_frame_equal(
        pd.read_parquet(path), pd.read_parquet(_written(frame, tmp_path)[1])
    )


@pytest.mark.parametrize(
    ("column", "dictionary"), [("service_name", True), ("service_request_id", False)]
)
def test_dictionary_pages_only_for_categoricals(
    tmp_path: Path, column: str, dictionary: bool
) -> None:
    path = tmp_path / "requests.parquet"
    write_frame(_requests(), path)
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(
        meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == column
    )
    assert chunk.has_dictionary_page is dictionary

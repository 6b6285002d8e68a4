"""validate_requests: one pass, every problem in one SchemaError, the frame returned as is."""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo311._errors import SchemaError
from geo311.io.schema import (
    CANONICAL_COLUMNS,
    COORD_QUALITY,
    COORD_USABLE,
    column_names,
    validate_requests,
)

TS = "datetime64[us, UTC]"


def good_frame() -> pd.DataFrame:
    """Three requests typed exactly as the canonical schema says."""
    n = 3
    data: dict[str, object] = {}
    for col in CANONICAL_COLUMNS:
        if col.kind == "string":
            data[col.name] = pd.array([pd.NA] * n, dtype="string")
        elif col.kind == "datetime":
            data[col.name] = pd.Series([pd.NaT] * n, dtype=TS)
        elif col.kind == "float":
            data[col.name] = np.full(n, np.nan)
        elif col.kind == "bool":
            data[col.name] = np.zeros(n, dtype=bool)
        else:
            data[col.name] = np.arange(1, n + 1, dtype="int64")
    frame = pd.DataFrame(data)
    frame["service_request_id"] = pd.array(["A-1", "A-2", "A-3"], dtype="string")
    frame["requested_datetime"] = pd.to_datetime(
        ["2024-03-01T15:00Z", "2024-03-02T15:00Z", "2024-03-03T15:00Z"], utc=True
    ).astype(TS)
    frame["status"] = pd.array(["open", "closed", pd.NA], dtype="string")
    frame["lat"] = [39.29, 39.30, np.nan]
    frame["long"] = [-76.61, -76.60, np.nan]
    frame["coord_quality"] = pd.array(["ok", "swapped", "missing"], dtype="string")
    frame["qa_flags"] = pd.array(["", "", ""], dtype="string")
    frame["input_file"] = pd.array(["a.csv"] * n, dtype="string")
    return frame


def test_column_names_follow_the_schema_order() -> None:
    assert column_names() == [c.name for c in CANONICAL_COLUMNS]
    assert len(set(column_names())) == len(CANONICAL_COLUMNS)
    assert set(COORD_USABLE) <= set(COORD_QUALITY)


def test_good_frame_passes_and_is_returned_unchanged() -> None:
    frame = good_frame()
    before = frame.copy()
    out = validate_requests(frame)
    assert out is frame
    pd.testing.assert_frame_equal(frame, before)


def test_extra_columns_and_object_strings_are_allowed() -> None:
    frame = good_frame()
    frame["neighborhood_id"] = ["n1", "n2", "n3"]
    frame["address"] = pd.Series(["1 Main St", None, "3 Main St"], dtype=object)
    assert validate_requests(frame) is frame


def test_geodataframe_in_wgs84_passes() -> None:
    frame = good_frame()
    gdf = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["long"], frame["lat"]), crs="EPSG:4326"
    )
    assert validate_requests(gdf) is gdf


def test_several_problems_in_one_error() -> None:
    frame = good_frame().drop(columns=["qa_flags", "input_row"])
    frame["closed_datetime"] = pd.to_datetime(["2024-03-02 10:00", None, None])  # naive
    frame["status"] = pd.array(["open", "resolved", "pending"], dtype="string")
    frame["service_request_id"] = pd.array(["A-1", "A-1", "A-3"], dtype="string")
    gdf = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["long"], frame["lat"]), crs="EPSG:3857"
    )
    with pytest.raises(SchemaError) as info:
        validate_requests(gdf, name="requests.parquet")
    text = str(info.value)
    assert text.startswith("requests.parquet does not follow the geo311 request schema")
    assert "(5 problems)" in text
    assert "missing required columns: qa_flags, input_row" in text
    assert "column 'closed_datetime': expected timezone-aware UTC datetimes" in text
    assert "column 'status': 2 values not open/closed: ['pending', 'resolved']" in text
    assert "column 'service_request_id': 1 duplicate ids, e.g. ['A-1']" in text
    assert "geometry CRS is EPSG:3857, expected EPSG:4326" in text


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        pytest.param(
            lambda f: f.assign(
                requested_datetime=f["requested_datetime"].dt.tz_convert("America/New_York")
            ),
            "expected UTC, found time zone America/New_York",
            id="non-utc",
        ),
        pytest.param(
            lambda f: f.assign(service_request_id=pd.Series([1, 2, 3], dtype=object)),
            "column 'service_request_id': expected strings",
            id="object-ints-as-ids",
        ),
        pytest.param(
            lambda f: f.assign(lat=["39.29", "39.30", None]),
            "column 'lat': expected float",
            id="text-lat",
        ),
        pytest.param(
            lambda f: f.assign(is_duplicate=[0, 1, 0]),
            "column 'is_duplicate': expected bool",
            id="int-flags",
        ),
        pytest.param(
            lambda f: f.assign(input_row=[1.0, 2.0, 3.0]),
            "column 'input_row': expected integer",
            id="float-rows",
        ),
        pytest.param(
            lambda f: f.assign(coord_quality=pd.array(["ok", "great", "missing"], dtype="string")),
            "column 'coord_quality': 1 values outside",
            id="coord-quality-vocabulary",
        ),
        pytest.param(
            lambda f: f.assign(lat=[95.0, 39.3, np.nan]),
            "column 'lat': 1 usable rows outside ±90.0",
            id="usable-lat-out-of-range",
        ),
    ],
)
def test_single_problem(change: Callable[[pd.DataFrame], pd.DataFrame], phrase: str) -> None:
    with pytest.raises(SchemaError) as info:
        validate_requests(change(good_frame()))
    assert phrase in str(info.value)
    assert "(1 problems)" in str(info.value)


def test_unusable_rows_may_hold_out_of_range_coordinates() -> None:
    frame = good_frame()
    frame["lat"] = [95.0, 39.3, np.nan]
    frame["coord_quality"] = pd.array(["out_of_range", "ok", "missing"], dtype="string")
    assert validate_requests(frame) is frame


def test_geometry_without_crs_is_a_problem() -> None:
    frame = good_frame()
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["long"], frame["lat"]))
    with pytest.raises(SchemaError, match="geometry has no CRS"):
        validate_requests(gdf)


def test_missing_ids_are_not_duplicates() -> None:
    frame = good_frame()
    frame["service_request_id"] = pd.array([pd.NA, pd.NA, "A-3"], dtype="string")
    assert validate_requests(frame) is frame


def test_schema_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="missing required columns"):
        validate_requests(pd.DataFrame({"x": [1]}))

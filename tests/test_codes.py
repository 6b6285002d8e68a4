"""The canonical frame's categorical columns: ingest, join, Parquet, indicators, writers."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo311 import area_indicators, assign_areas, read_requests
from geo311.io.dtypes import CATEGORY_COLUMNS, as_categorical, compact_requests, concat_requests
from geo311.io.writers import write_csv
from geo311.join.assign import JOIN_STATUS
from geo311.join.layers import Layer, read_layer
from geo311.pipeline import PipelineResult, load_requests
from geo311.publish import write_requests

AS_OF = "2024-07-01"
HEADER = "service_request_id,service_name,status,agency_responsible,requested_datetime,lat,long\n"


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def two_files(tmp_path: Path) -> list[Path]:
    """Two exports whose service types, agencies and statuses differ."""
    first = _csv(
        tmp_path / "a.csv",
        [
            "a1,Pothole,open,DOT,2024-05-01T09:00:00Z,39.01,-76.99",
            "a2,Graffiti,closed,DPW,2024-05-02T09:00:00Z,39.01,-76.97",
            "a3,Pothole,,DOT,2024-05-03T09:00:00Z,,",
        ],
    )
    second = _csv(
        tmp_path / "b.csv",
        [
            "b1,=HYPERLINK(1),open,Parks,2024-05-04T09:00:00Z,39.01,-76.99",
            "b2,Pothole,open,,2024-05-05T09:00:00Z,39.01,-76.97",
        ],
    )
    return [first, second]


def test_as_categorical_sorts_keeps_missing_and_is_idempotent() -> None:
    text = pd.Series(["b", None, "a", "b"], dtype="string", name="x", index=[5, 6, 7, 8])
    cat = as_categorical(text)
    assert cat.cat.categories.tolist() == ["a", "b"]
    assert cat.cat.categories.dtype == object
    assert cat.cat.codes.tolist() == [1, -1, 0, 1]
    assert cat.index.tolist() == [5, 6, 7, 8] and cat.name == "x"
    assert as_categorical(cat) is cat
    # unused categories go, a vocabulary is added
    assert as_categorical(cat[cat == "b"]).cat.categories.tolist() == ["b"]
    assert as_categorical(cat, ["c"]).cat.categories.tolist() == ["a", "b", "c"]


def test_concat_of_different_categories_stays_categorical() -> None:
    one = compact_requests(pd.DataFrame({"service_name": ["x", "y"], "status": ["open", None]}))
    two = compact_requests(pd.DataFrame({"service_name": ["z", "x"], "source": ["web", "app"]}))
    assert pd.concat([one, two])["service_name"].dtype == object  # what plain concat does
    out = concat_requests([one, two])
    assert out["service_name"].cat.categories.tolist() == ["x", "y", "z"]
    assert out["service_name"].tolist() == ["x", "y", "z", "x"]
    # a column absent from a part is missing there, and still categorical
    assert isinstance(out["source"].dtype, pd.CategoricalDtype)
    assert out["source"].isna().tolist() == [True, True, False, False]
    assert out.index.tolist() == [0, 1, 2, 3]


def test_read_requests_gives_categoricals_over_both_files(two_files: list[Path]) -> None:
    requests, _ = read_requests(two_files, schema="open311", as_of=AS_OF)
    for column in ("service_name", "status", "agency_responsible", "coord_quality", "input_file"):
        assert isinstance(requests[column].dtype, pd.CategoricalDtype), column
    assert requests["service_name"].cat.categories.tolist() == [
        "=HYPERLINK(1)",
        "Graffiti",
        "Pothole",
    ]
    assert requests["service_name"].tolist() == [
        "Pothole", "Graffiti", "Pothole", "=HYPERLINK(1)", "Pothole",
    ]  # fmt: skip
    assert requests["agency_responsible"].isna().tolist() == [False] * 4 + [True]
    assert requests["coord_quality"].tolist() == ["ok", "ok", "missing", "ok", "ok"]
    # a column no file fills keeps its string dtype (Parquet has no type for it otherwise)
    assert requests["service_code"].dtype == "string"
    assert set(CATEGORY_COLUMNS) >= {c for c in requests if requests[c].dtype == "category"}


def _squares() -> gpd.GeoDataFrame:
    boxes = [shapely.box(-77.0, 39.0, -76.98, 39.02), shapely.box(-76.98, 39.0, -76.96, 39.02)]
    return gpd.GeoDataFrame({"code": ["1", "2"], "nm": ["West", "East"]}, geometry=boxes, crs=4326)


@pytest.fixture
def vintages() -> list[Layer]:
    """Two vintages sharing the id "1" (renamed), and the second adding area "3"."""
    old = read_layer(_squares(), key="hoods", id_field="code", name_field="nm").layer
    new_frame = _squares()
    new_frame.loc[0, "nm"] = "West End"
    new_frame.loc[1, "code"] = "3"
    new = read_layer(new_frame, key="hoods", id_field="code", name_field="nm").layer
    return [
        dataclasses.replace(old, vintage="2010", valid_to=date(2024, 5, 3)),
        dataclasses.replace(new, vintage="2024", valid_from=date(2024, 5, 3)),
    ]


def test_join_columns_are_categoricals_over_the_layer(
    two_files: list[Path], vintages: list[Layer]
) -> None:
    requests, _ = read_requests(two_files, schema="open311", as_of=AS_OF)
    joined, _ = assign_areas(requests, {"hoods": vintages})
    ids = joined["hoods_id"]
    assert ids.cat.categories.tolist() == ["1", "2", "3"]  # "1" of both vintages: one category
    assert ids.cat.codes.dtype == np.int8
    assert ids.tolist()[:2] == ["1", "2"] and pd.isna(ids[2]) and ids.tolist()[3:] == ["1", "3"]
    assert joined["hoods_name"].cat.categories.tolist() == ["East", "West", "West End"]
    assert joined["hoods_vintage"].tolist() == ["2010", "2010", "2024", "2024", "2024"]
    assert joined["hoods_join"].cat.categories.tolist() == sorted(JOIN_STATUS)
    assert joined["hoods_join"].tolist()[2] == "missing_coords"
    # chunks joined apart concatenate with plain pd.concat into the same dtypes
    parts = [
        assign_areas(requests.iloc[a:b], {"hoods": vintages}).frame for a, b in ((0, 2), (2, 5))
    ]
    pd.testing.assert_frame_equal(pd.concat(parts), joined)


def test_geoparquet_round_trip_and_files_of_earlier_versions(
    two_files: list[Path], vintages: list[Layer], tmp_path: Path
) -> None:
    requests, ledger = read_requests(two_files, schema="open311", as_of=AS_OF)
    joined, _ = assign_areas(requests, {"hoods": vintages})
    path, _ = write_requests(PipelineResult(joined, ledger, "join"), tmp_path / "r.parquet")
    back = load_requests(path, stage="join").requests
    pd.testing.assert_frame_equal(pd.DataFrame(back), pd.DataFrame(joined))
    # a file written before: the same columns as text
    text = joined.copy()
    for column in text.columns:
        if isinstance(text[column].dtype, pd.CategoricalDtype):
            text[column] = text[column].astype("string")
    old = tmp_path / "old.parquet"
    text.to_parquet(old, index=False)
    again = load_requests(old, stage="join").requests
    for column in [*CATEGORY_COLUMNS, "hoods_id", "hoods_name", "hoods_vintage"]:
        if column in joined and isinstance(joined[column].dtype, pd.CategoricalDtype):
            assert again[column].tolist() == joined[column].tolist()
            assert isinstance(again[column].dtype, pd.CategoricalDtype), column
    assert again["hoods_join"].cat.categories.tolist() == sorted(JOIN_STATUS)


def test_indicators_same_on_text_and_categorical_columns(
    two_files: list[Path], vintages: list[Layer]
) -> None:
    requests, _ = read_requests(two_files, schema="open311", as_of=AS_OF)
    joined, _ = assign_areas(requests, {"hoods": vintages})
    text = joined.copy()
    for column in text.columns:
        if isinstance(text[column].dtype, pd.CategoricalDtype):
            text[column] = text[column].astype("string")
    options = {"key": "hoods", "areas": vintages[1], "as_of": AS_OF, "demand": "all"}
    pd.testing.assert_frame_equal(
        area_indicators(joined, **options), area_indicators(text, **options)
    )
    by_data = {"key": "hoods", "as_of": AS_OF, "demand": "all"}
    pd.testing.assert_frame_equal(
        area_indicators(joined, **by_data), area_indicators(text, **by_data)
    )


def test_csv_writer_neutralises_formulas_in_categorical_text(tmp_path: Path) -> None:
    frame = compact_requests(pd.DataFrame({"service_name": ["=HYPERLINK(1)", "Pothole"]}))
    text = (write_csv(frame, tmp_path / "t.csv", index=False)).read_text(encoding="utf-8")
    assert "'=HYPERLINK(1)" in text

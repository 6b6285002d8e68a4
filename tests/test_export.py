"""CSV/XLSX writers neutralise formula injection and keep numbers as numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from geo311.io.writers import neutralize_text, write_csv, write_metadata, write_xlsx

HOSTILE = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", "Plain", "Fells Point & Canton"]


@pytest.fixture
def table() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "area_name": pd.array(HOSTILE, dtype="string"),
            "rate": [-1.5, 0.0, 2.25, np.nan, 3.0, 4.0, 5.0, 6.0],
            "requests": np.arange(8, dtype="int64"),
        },
        index=pd.Index([f"A{i}" for i in range(8)], name="area_id"),
    )
    return frame


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1", "'=1"),
        ("+1", "'+1"),
        ("-x", "'-x"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("ok", "ok"),
        ("", ""),
        (-1.0, -1.0),
        (None, None),
    ],
)
def test_neutralize_text(value: object, expected: object) -> None:
    assert neutralize_text(value) == expected


def test_csv_protects_text_only(table: pd.DataFrame, tmp_path: Path) -> None:
    before = table.copy()
    path = write_csv(table, tmp_path / "t.csv")
    pd.testing.assert_frame_equal(table, before)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = [r["area_name"] for r in rows]
    assert names[:6] == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tTAB", "'\rCR"]
    assert names[6:] == ["Plain", "Fells Point & Canton"]
    assert rows[0]["rate"] == "-1.5"  # a negative number is not text and stays as is
    assert rows[0]["area_id"] == "A0"
    assert all(not r["area_name"].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows)


def test_xlsx_never_stores_formulas(table: pd.DataFrame, tmp_path: Path) -> None:
    path = write_xlsx(table, tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(path).active
    header = [c.value for c in ws[1]]
    assert header == ["area_id", "area_name", "rate", "requests"]
    for row in ws.iter_rows(min_row=2):
        assert all(cell.data_type != "f" for cell in row)
    names = [ws.cell(row=i, column=2) for i in range(2, 10)]
    # XML normalises a stored carriage return to a line feed when it is read back.
    assert [c.value for c in names] == [v.replace("\r", "\n") for v in HOSTILE]
    assert [c.quotePrefix for c in names] == [True] * 6 + [False] * 2
    assert ws.cell(row=2, column=3).value == -1.5
    assert ws.cell(row=2, column=3).data_type == "n"
    assert ws.cell(row=5, column=3).value is None  # NaN -> empty cell


def test_metadata_json(tmp_path: Path) -> None:
    meta = {"as_of": pd.Timestamp("2024-01-01", tz="UTC"), "n": np.int64(3), "p": Path("x")}
    data = json.loads(write_metadata(meta, tmp_path / "m.json").read_text())
    assert data == {"as_of": "2024-01-01T00:00:00+00:00", "n": 3, "p": "x"}


def test_geojson_reads_back_exactly_with_text_as_data(tmp_path: Path) -> None:
    import geopandas as gpd  # noqa: PLC0415
    import shapely  # noqa: PLC0415
    from geopandas.testing import assert_geodataframe_equal  # noqa: PLC0415

    from geo311.io.writers import write_geojson  # noqa: PLC0415

    rng = np.random.default_rng(7)
    corners = rng.uniform(-80.0, -70.0, (3, 2))
    shapes = [shapely.box(x, y, x + 0.1234567890123, y + 1e-9) for x, y in corners]
    names = ['"quoted" </script> é 東京', None, "=1+1"]
    areas = gpd.GeoDataFrame(
        {"area_id": ["1", "2", "03"], "area_name": names, "share": [0.1, np.nan, 1.0]},
        geometry=shapes,
        crs="EPSG:4326",
    )
    path = write_geojson(areas, tmp_path / "areas.geojson")
    document = json.loads(path.read_text(encoding="utf-8"))  # strict JSON: no NaN
    assert document["type"] == "FeatureCollection"
    assert document["features"][1]["properties"] == {
        "area_id": "2",
        "area_name": None,
        "share": None,
    }
    back = gpd.read_file(path)
    assert back.crs == "EPSG:4326"
    assert shapely.equals_exact(back.geometry.values, areas.geometry.values, tolerance=0).all()
    assert back["area_name"].tolist() == names
    assert back["area_id"].tolist() == ["1", "2", "03"]
    projected = write_geojson(areas.to_crs("EPSG:3857"), tmp_path / "p.geojson")
    assert_geodataframe_equal(gpd.read_file(projected), back, check_less_precise=True)

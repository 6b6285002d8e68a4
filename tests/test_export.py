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

"""The dependency-free XLSX writer: read back with openpyxl and pandas, cell by cell.

The reference for text is what openpyxl itself round-trips when it writes the
same value as an inline string (how geo311 wrote workbooks before).
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from geo311.io.writers import write_workbook, write_xlsx
from geo311.io.xlsx import MAX_TEXT, sheet_names

TRICKY = [
    "a\rb",
    "a\nb",
    "a\r\nb",
    "\r",
    "tab\tinside",
    "\tlead tab",
    "=1+1",
    "+33 1",
    "-3.2",
    "@SUM(A1)",
    '=HYPERLINK("http://x","y")',
    "résumé 東京 ✓",
    "emoji 🚮🐀",
    "<b>&amp; 'q' \"dq\" </t>",
    "  padded  ",
    " ",
    "#N/A",
    "123",
    "x" * 40_000,
    "y" * MAX_TEXT,
]


def _openpyxl_round_trip(texts: list[str], path: Path) -> list[object]:
    """Write ``texts`` the way geo311 did with openpyxl and read them back."""
    book = openpyxl.Workbook()
    sheet = book.active
    for text in texts:
        sheet.append([text])
        sheet.cell(sheet.max_row, 1).data_type = "s"
    book.save(path)
    return [row[0] for row in openpyxl.load_workbook(path).active.iter_rows(values_only=True)]


def _read(path: Path) -> openpyxl.Workbook:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return openpyxl.load_workbook(path)


def test_text_reads_back_as_openpyxl_wrote_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frame = pd.DataFrame({"text": TRICKY})
    write_workbook({"t": frame}, tmp_path / "new.xlsx", index=False)
    assert "sheet 't', column 'text': 1 text cell(s) cut to Excel's limit" in caplog.text
    cells = list(_read(tmp_path / "new.xlsx")["t"].iter_rows(min_row=2))
    expected = _openpyxl_round_trip(TRICKY, tmp_path / "old.xlsx")
    assert [row[0].value for row in cells] == expected
    assert all(row[0].data_type == "s" for row in cells)
    danger = {"\r", "\tlead tab", "=1+1", "+33 1", "-3.2", "@SUM(A1)", TRICKY[10]}
    assert [row[0].quotePrefix for row in cells] == [t in danger for t in TRICKY]
    assert len(cells[-2][0].value) == MAX_TEXT  # cut to Excel's cell limit, as openpyxl did


def test_values_types_missing_and_layout(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "name": pd.Categorical(["a", None, "=c"]),
            "count": pd.array([3, None, -7], dtype="Int64"),
            "rate": [0.1 + 0.2, float("nan"), 1.0],
            "big": [2**53 + 1, 0, -(10**16)],
            "flag": [True, False, None],
            "when": pd.to_datetime(["2019-10-01 08:30", "NaT", "2018-01-02 00:00"]),
            "tiny": np.array([1e-300, 5e-324, -0.0]),
            "inf": [float("inf"), float("-inf"), 0.25],
            "mixed": [np.float32(0.1), np.int64(4), float("inf")],
        },
        index=pd.Index(["x1", "x2", "x3"], name="area_id"),
    )
    path = write_xlsx(frame, tmp_path / "t.xlsx", sheet="rates")
    sheet = _read(path)["rates"]
    assert sheet.freeze_panes == "B2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "area_id", "name", "count", "rate", "big", "flag", "when", "tiny", "inf", "mixed"
    )  # fmt: skip
    assert rows[1] == (
        "x1", "a", 3, 0.30000000000000004, 2**53 + 1, True, "2019-10-01T08:30:00", 1e-300, None,
        0.10000000149011612,
    )  # fmt: skip
    assert rows[2] == ("x2", None, None, None, 0, False, None, 5e-324, None, 4)
    assert rows[3] == ("x3", "=c", -7, 1, -(10**16), None, "2018-01-02T00:00:00", 0, 0.25, None)
    # an integral float reads back as int, as from openpyxl's files
    assert [type(v) for v in rows[3][2:5]] == [int, int, int]
    assert sheet["B4"].quotePrefix and sheet["B4"].data_type == "s"
    back = pd.read_excel(path, sheet_name="rates")
    assert back["rate"].iloc[0] == 0.30000000000000004
    assert list(back.columns) == list(rows[0])


def test_characters_xml_cannot_carry_are_escaped_for_excel(tmp_path: Path) -> None:
    texts = ["bell\x07", "nul\x00", "vt\x0b", "lone \ud83d", "_x0041_ literal", "\ufffe"]
    write_workbook({"s": pd.DataFrame({"t": texts})}, tmp_path / "c.xlsx", index=False)
    values = [c.value for c in _read(tmp_path / "c.xlsx")["s"]["A"][1:]]
    assert values == [
        "bell_x0007_",
        "nul_x0000_",
        "vt_x000B_",
        "lone _xD83D_",
        "_x005F_x0041_ literal",
        "_xFFFE_",
    ]


def test_sheet_names_are_made_valid_and_distinct(tmp_path: Path) -> None:
    frame = pd.DataFrame({"v": [1]})
    names = ["Calls / 1000 [all]", "calls _ 1000 _all_", "n" * 40, "'quoted'", "a&b<c>"]
    path = write_workbook(dict.fromkeys(names, frame), tmp_path / "n.xlsx", index=False)
    assert _read(path).sheetnames == [
        "Calls _ 1000 _all_",
        "calls _ 1000 _all_1",
        "n" * 31,
        "quoted",
        "a&b<c>",
    ]
    assert sheet_names(["x" * 31, "X" * 31]) == ["x" * 31, "X" * 30 + "1"]


def test_package_is_deterministic_and_minimal(tmp_path: Path) -> None:
    frame = pd.DataFrame({"v": [1.5, 2.5]}, index=pd.Index([1, 2], name="id"))
    first = write_workbook({"a": frame, "b": frame}, tmp_path / "1.xlsx")
    second = write_workbook({"a": frame, "b": frame}, tmp_path / "2.xlsx")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as book:
        assert book.testzip() is None
        assert sorted(book.namelist()) == [
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/_rels/workbook.xml.rels",
            "xl/styles.xml",
            "xl/workbook.xml",
            "xl/worksheets/sheet1.xml",
            "xl/worksheets/sheet2.xml",
        ]
    assert pd.read_excel(first, sheet_name="b", index_col=0)["v"].tolist() == [1.5, 2.5]


def test_empty_workbook_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one sheet"):
        write_workbook({}, tmp_path / "e.xlsx")
    assert not (tmp_path / "e.xlsx").exists()


def test_numpy_times_in_object_columns_are_written_as_times(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "when": pd.Series(
                [np.datetime64("2019-10-01T08:30:00", "ns"), np.datetime64("NaT", "ns")],
                dtype=object,
            ),
            "took": pd.Series(
                [np.timedelta64(90, "s"), np.timedelta64("NaT", "ns")], dtype=object
            ),
        }
    )
    rows = list(
        _read(write_xlsx(frame, tmp_path / "t.xlsx", sheet="s"))["s"].iter_rows(values_only=True)
    )
    assert rows[1:] == [(0, "2019-10-01T08:30:00", "0 days 00:01:30"), (1, None, None)]

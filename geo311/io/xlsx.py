r"""A small writer of Excel workbooks (Office Open XML SpreadsheetML), no dependencies.

geo311 writes plain tables: a header row of column names, then rows of text,
numbers and booleans, with the first row and column frozen.  That needs only
a handful of package parts, which this module writes as text into a deflated
zip: ``[Content_Types].xml``, ``_rels/.rels``, ``xl/workbook.xml``,
``xl/_rels/workbook.xml.rels``, ``xl/styles.xml`` and one
``xl/worksheets/sheetN.xml`` per sheet.  Building the XML as strings is many
times faster than a general-purpose workbook library, which creates an
object and an XML element for every cell.

Cells
-----
* text is an inline string (``t="inlineStr"``), never a formula; a text cell
  the caller flags as dangerous gets the style with ``quotePrefix="1"``;
* numbers are ``<v>`` in Python's shortest round-trip form (an integral float
  without its ``.0``: Excel keeps one number type, and readers then give back
  the ``int`` older geo311 files gave); infinities, which Excel cannot hold,
  are left empty;
* booleans are ``t="b"``; missing values (``None``, NaN, ``pd.NA``, ``NaT``)
  are no cell at all, empty text an inline-string cell without text;
* timestamps, dates and times become ISO 8601 text; numpy scalars are unboxed;
  any other object is written as its ``str``.

Text is kept as typed, with three exceptions.  A carriage return is written
as is, so an XML reader sees a line feed (as files from openpyxl always did).
Text longer than Excel's 32,767-character cell limit is cut to it, with a
warning naming the sheet and column.  Characters that XML 1.0 cannot carry
(control characters other than tab, line feed and carriage return, lone
surrogates, U+FFFE/U+FFFF) are written as ``_xHHHH_``, the escape Excel and
LibreOffice decode back to the character; so that text which already looks
like such an escape shows as typed, its underscore is escaped as ``_x005F_``.
(openpyxl refused the whole workbook with ``IllegalCharacterError``.)

Sheet names are made valid for Excel: the characters ``[]:*?/\`` (which
openpyxl refused with ``ValueError``) and control characters become ``_``,
leading and trailing apostrophes are dropped, the name is cut to 31
characters, and a name already used (ignoring case) gets the next number.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["save_workbook", "sheet_names"]

log = logging.getLogger(__name__)

MAX_TEXT = 32_767  # characters in one Excel cell
MAX_SHEET_NAME = 31

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_CT_BOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_CT_STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

# Style 0 is the default cell format; style 1 adds Excel's quote prefix.
_STYLES = (
    f'{_DECL}<styleSheet xmlns="{_MAIN_NS}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile("_(?=x[0-9A-Fa-f]{4}_)")
_NOT_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip entry times: the same bytes for the same tables
# zlib level 3: ~2.5x faster than the default 6 on geo311's tables, files ~12 % larger
# (still smaller than openpyxl's).
_ZLIB_LEVEL = 3


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(text: str) -> str:
    return _escape(text).replace('"', "&quot;")


def _ooxml_text(text: str) -> str:
    """Return ``text`` with XML-illegal characters as ``_xHHHH_``, XML-escaped."""
    if "_x" in text:
        text = _LOOKS_ESCAPED.sub("_x005F_", text)
    if _NOT_XML.search(text):
        text = _NOT_XML.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return _escape(text)


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _number(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _plain(value: Any) -> Any:
    """Return the cell content for ``value``: ``None``, ``bool``, ``int``, ``float`` or ``str``."""
    if isinstance(value, np.datetime64 | np.timedelta64):  # .item() of ns is an int
        value = pd.Timestamp(value) if isinstance(value, np.datetime64) else pd.Timedelta(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, (dt.date, dt.time)):  # pd.Timestamp included
        return value.isoformat()
    return str(value)


def _cells(
    values: Sequence[Any],
    letter: str,
    first_row: int,
    dangerous: Callable[[str], bool],
    where: str,
) -> list[str]:
    """One ``<c>`` element per value (``""`` for an empty cell), rows from ``first_row``."""
    out = []
    cut = 0
    for row, raw in enumerate(values, first_row):
        value = _plain(raw)
        if value is None:
            out.append("")
        elif value == "":  # a text cell without text: blank, as openpyxl wrote it
            out.append(f'<c r="{letter}{row}" t="inlineStr"/>')
        elif isinstance(value, str):
            style = ' s="1"' if dangerous(value) else ""
            if len(value) > MAX_TEXT:
                value = value[:MAX_TEXT]
                cut += 1
            space = ' xml:space="preserve"' if value != value.strip() else ""
            out.append(
                f'<c r="{letter}{row}"{style} t="inlineStr">'
                f"<is><t{space}>{_ooxml_text(value)}</t></is></c>"
            )
        elif isinstance(value, bool):
            out.append(f'<c r="{letter}{row}" t="b"><v>{int(value)}</v></c>')
        else:
            out.append(f'<c r="{letter}{row}"><v>{_number(value)}</v></c>')
    if cut:
        log.warning(
            "%s: %d text cell(s) cut to Excel's limit of %d characters", where, cut, MAX_TEXT
        )
    return out


def _number_cells(values: list[float], letter: str, first_row: int) -> list[str]:
    """Like :func:`_cells` for a column of Python ``int`` or ``float`` (NaN and inf empty)."""
    return [
        f'<c r="{letter}{row}"><v>{_number(value)}</v></c>' if math.isfinite(value) else ""
        for row, value in enumerate(values, first_row)
    ]


def _sheet_xml(frame: pd.DataFrame, name: str, dangerous: Callable[[str], bool]) -> str:
    columns = []
    for j, col in enumerate(frame.columns):
        letter = _column_letters(j)
        where = f"sheet {name!r}, column {str(col)!r}"
        header = _cells([str(col)], letter, 1, dangerous, where)
        column = frame.iloc[:, j]
        if isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiu":  # the common case
            body = _number_cells(column.tolist(), letter, 2)
        else:
            body = _cells(column.tolist(), letter, 2, dangerous, where)
        columns.append(header + body)
    rows = []
    for r, cells in enumerate(zip(*columns, strict=True), 1):
        row = "".join(cells)
        if row:
            rows.append(f'<row r="{r}">{row}</row>')
    n_cols = len(frame.columns)
    extent = f"A1:{_column_letters(n_cols - 1)}{len(frame) + 1}" if n_cols else "A1"
    return (
        f'{_DECL}<worksheet xmlns="{_MAIN_NS}"><dimension ref="{extent}"/>'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane xSplit="1" ySplit="1" topLeftCell="B2" activePane="bottomRight" state="frozen"/>'
        '<selection pane="bottomRight" activeCell="B2" sqref="B2"/>'
        '</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


def sheet_names(names: Sequence[str]) -> list[str]:
    """Return valid, distinct Excel sheet names for ``names``, in order.

    Examples
    --------
    >>> sheet_names(["a/b", "A_B", "x" * 40, "'q'"])
    ['a_b', 'A_B1', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'q']
    """
    taken: set[str] = set()
    out = []
    for name in names:
        base = _NOT_IN_SHEET_NAME.sub("_", str(name)).strip("'")[:MAX_SHEET_NAME] or "Sheet"
        title, number = base, 0
        while title.casefold() in taken:
            number += 1
            title = base[: MAX_SHEET_NAME - len(str(number))] + str(number)
        taken.add(title.casefold())
        out.append(title)
    return out


def _package(names: list[str]) -> dict[str, str]:
    """Return the package parts other than the worksheets, by name."""
    count = range(1, len(names) + 1)
    types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT_SHEET}"/>'
        for i in count
    )
    sheets = "".join(
        f'<sheet name="{_escape_attr(name)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, name in zip(count, names, strict=True)
    )
    links = "".join(
        f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in count
    )
    styles_id = len(names) + 1
    return {
        "[Content_Types].xml": (
            f'{_DECL}<Types xmlns="{_CT_NS}">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT_BOOK}"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT_STYLES}"/>{types}</Types>'
        ),
        "_rels/.rels": (
            f'{_DECL}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'{_DECL}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            f'<bookViews><workbookView activeTab="0"/></bookViews><sheets>{sheets}</sheets>'
            "</workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_DECL}<Relationships xmlns="{_PKG_REL_NS}">{links}'
            f'<Relationship Id="rId{styles_id}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/styles.xml": _STYLES,
    }


def save_workbook(
    sheets: Mapping[str, pd.DataFrame], path: Path, *, dangerous: Callable[[str], bool]
) -> None:
    """Write each frame as a worksheet of one ``.xlsx`` file at ``path``.

    Parameters
    ----------
    sheets : mapping of str to pandas.DataFrame
        Worksheet name -> its table (the columns as they are, no index), in
        order; names are made valid with :func:`sheet_names`.
    path : pathlib.Path
        The file to write (the caller makes the write atomic).
    dangerous : callable
        ``dangerous(text)`` is true for text to be shown with Excel's quote
        prefix (text that could otherwise run as a formula when edited).

    Raises
    ------
    ValueError
        If ``sheets`` is empty: a workbook needs a worksheet.
    """
    if not sheets:
        msg = "a workbook needs at least one sheet"
        raise ValueError(msg)
    names = sheet_names(list(sheets))
    parts = _package(names)
    for i, (name, frame) in enumerate(zip(names, sheets.values(), strict=True), 1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _sheet_xml(frame, name, dangerous)
    with zipfile.ZipFile(path, "w") as book:
        for part, text in parts.items():
            info = zipfile.ZipInfo(part, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            book.writestr(info, text.encode("utf-8"), compresslevel=_ZLIB_LEVEL)

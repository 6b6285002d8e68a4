"""The "download the data" files of every page: CSV and XLSX of the figures the page shows.

Each page's figures (headline cards, tables, ranking) are gathered as
sections of areas and written beside the pages as ``data/<page>.csv``, one
tidy table (a row per section, area and measure: ``rate_per_1k``,
``rate_per_1k_ci_low``, ``rate_per_1k_rank``, ``requests_change`` ..., with
the number the page rounds for display and the page's flag for it, ``note``),
and ``data/<page>.xlsx``, a worksheet per section with a row per area (the
same numbers, the row's flags in ``notes``).  Only aggregates are written,
never a request or a requester's details.  Both files are written
atomically, every text cell guarded against formula injection
(:func:`geo311.io.writers.write_csv` / :func:`~geo311.io.writers.write_workbook`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from geo311.io.writers import write_csv, write_workbook
from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.text import table_rows, value_flags

__all__ = [
    "COLUMNS",
    "Section",
    "data_paths",
    "headline_section",
    "tidy",
    "write_downloads",
    "write_frame",
]


#: The columns of every download, in order.
COLUMNS = ("section", "area_id", "area_name", "measure", "value", "note")
#: The folder of the downloads, beside the pages.
DATA_DIR = "data"


class Section(NamedTuple):
    """One part of a page: numeric measures of areas, and each value's flag."""

    name: str  # e.g. "headline", "ranking", "areas"
    table: pd.DataFrame  # indexed by area_id, with area_name and numeric measure columns
    notes: Mapping[tuple[str, str], str] = {}  # (area_id, measure) -> flag on the page


def data_paths(page: Path) -> tuple[Path, Path]:
    """Return the CSV and XLSX of a page: ``data/<page stem>.csv`` and ``.xlsx`` beside it."""
    stem = page.parent / DATA_DIR / page.stem
    return stem.with_suffix(".csv"), stem.with_suffix(".xlsx")


def _values(section: Section) -> pd.DataFrame:
    """Return a section's measures as floats, indexed by area id as text."""
    measures = section.table.drop(columns=["area_name"], errors="ignore")
    cells = pd.to_numeric(pd.Series(measures.to_numpy(object).ravel()), errors="coerce")
    return pd.DataFrame(
        cells.to_numpy(float).reshape(measures.shape),
        index=pd.Index([str(i) for i in section.table.index], name="area_id"),
        columns=measures.columns,
    )


def _names(section: Section) -> list[str | None]:
    names = section.table.get("area_name", pd.Series(None, index=section.table.index))
    return [None if pd.isna(n) else str(n) for n in names]


def tidy(sections: Sequence[Section]) -> pd.DataFrame:
    """Return the sections as one tidy table (:data:`COLUMNS`), numbers as floats.

    Examples
    --------
    >>> t = pd.DataFrame({"area_name": ["North"], "requests": [12]}, index=["1"])
    >>> row = tidy([Section("headline", t, {("1", "requests"): "unstable"})]).iloc[0]
    >>> [str(v) for v in row]
    ['headline', '1', 'North', 'requests', '12.0', 'unstable']
    """
    return _tidy([(section, _values(section)) for section in sections])


def _tidy(sections: Sequence[tuple[Section, pd.DataFrame]]) -> pd.DataFrame:
    """:func:`tidy` of sections given with their :func:`_values`.

    The columns are gathered as arrays and made into one frame at the end
    (a frame per section, concatenated and converted, cost three times more).
    """
    cells: dict[str, list[Any]] = {column: [] for column in COLUMNS}
    for section, values in sections:
        rows, measures = values.shape
        ids = np.repeat(values.index.to_numpy(object), measures)
        measure = np.tile(np.array(values.columns, dtype=object), rows)
        cells["section"].append(np.full(rows * measures, section.name, dtype=object))
        cells["area_id"].append(ids)
        cells["area_name"].append(np.repeat(np.array(_names(section), dtype=object), measures))
        cells["measure"].append(measure)
        cells["value"].append(values.to_numpy(float).ravel())
        cells["note"].append(
            np.array(
                [section.notes.get(key, "") for key in zip(ids, measure, strict=True)],
                dtype=object,
            )
        )
    return pd.DataFrame(
        {
            column: pd.array(
                np.concatenate(parts) if parts else np.array([], dtype=object),
                dtype=float if column == "value" else "string",
            )
            for column, parts in cells.items()
        }
    )


def _sheet(section: Section, measures: pd.DataFrame) -> pd.DataFrame:
    """Return a section (its :func:`_values` given) as one worksheet: areas, measures, flags."""
    values = measures.copy()
    values.insert(0, "area_name", _names(section))
    flags: dict[str, list[str]] = {}
    for (area_id, measure), note in section.notes.items():
        flags.setdefault(str(area_id), []).append(f"{measure}: {note}")
    values["notes"] = ["; ".join(flags.get(i, [])) for i in values.index]
    return values


def write_downloads(sections: Sequence[Section], page: Path) -> list[dict[str, str]]:
    """Write a page's figures as CSV and XLSX; return the page's links to them.

    The CSV is :func:`tidy` (one row per section, area and measure); the
    workbook has a worksheet per section with a row per area (the same
    numbers, and the flags of each row in ``notes``).

    Parameters
    ----------
    sections : sequence of Section
        What the page shows.
    page : pathlib.Path
        The page the files belong to (links are relative to its folder).

    Returns
    -------
    list of dict
        ``{"href", "label"}`` per file written, CSV first.
    """
    values = [(section, _values(section)) for section in sections]  # read once for both
    sheets = {section.name: _sheet(section, measures) for section, measures in values}
    return _write(_tidy(values), sheets, page, data_paths(page)[0])


def write_frame(frame: pd.DataFrame, page: Path, *, csv: Path) -> list[dict[str, str]]:
    """Write one table as a page's CSV and a one-sheet XLSX beside it; return the links."""
    return _write(frame, {"data": frame}, page, csv, index=False)


def _write(
    frame: pd.DataFrame,
    sheets: Mapping[str, pd.DataFrame],
    page: Path,
    csv_path: Path,
    *,
    index: bool = True,
) -> list[dict[str, str]]:
    xlsx_path = csv_path.with_suffix(".xlsx")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(frame, csv_path, index=False)
    links = [{"href": csv_path.relative_to(page.parent).as_posix(), "label": "CSV"}]
    write_workbook(sheets, xlsx_path, index=index)
    links.append({"href": xlsx_path.relative_to(page.parent).as_posix(), "label": "Excel (XLSX)"})
    return links


def headline_section(
    name: str,
    table: pd.DataFrame,
    *,
    columns: Sequence[str],
    limits: Mapping[str, Any],
    extra: pd.DataFrame | None = None,
) -> Section:
    """Return a section of headline values: each with its 95% CI, the requests and flags.

    Parameters
    ----------
    name : str
        The section's name in the download.
    table : pandas.DataFrame
        Rows of areas (and the city), indexed by ``area_id``, with ``area_name``.
    columns : sequence of str
        Headline indicator columns shown (:data:`geo311.site.headlines.HEADLINE_INDICATORS`).
    limits : mapping
        The small-number rule (:func:`geo311.site.text.limits_of`).
    extra : pandas.DataFrame, optional
        More numeric columns of the same rows (ranks, change).
    """
    wanted: list[str] = []
    notes: dict[tuple[str, str], str] = {}
    rows = table_rows(table)
    for column in columns:
        h = HEADLINE_INDICATORS[column]
        wanted += [h.column, h.ci_low, h.ci_high]
        for area_id, row in rows:
            flags = value_flags(row, h, limits)
            if flags:
                notes[(str(area_id), h.column)] = "; ".join(flags)
    wanted.append("requests")
    if "ttc_median_days" in columns:  # "over N days (not reached)": N is the follow-up
        wanted.append("ttc_followup_days")
    frame = table.reindex(columns=["area_name", *dict.fromkeys(wanted)])
    if extra is not None:
        frame = frame.join(extra)
    return Section(name, frame, notes)

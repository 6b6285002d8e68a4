"""The "download the data" files of every page: CSV and XLSX of the figures the page shows.

Each page's figures (headline cards, tables, ranking) are gathered as
sections of areas and written as one tidy table, ``data/<page>.csv`` and
``data/<page>.xlsx`` beside the pages: one row per section, area and
measure (``rate_per_1k``, ``rate_per_1k_ci_low``, ``rate_per_1k_rank``,
``requests_change`` ...) with the number the page rounds for display, and the
page's flag for that value (``note``).  Only aggregates are written, never a
request or a requester's details.  Both files are written atomically, with
every text cell guarded against formula injection
(:func:`geo311.io.writers.write_csv` / :func:`~geo311.io.writers.write_xlsx`);
without openpyxl (the ``xlsx`` extra) only the CSV is written, and the page
links only it.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from geo311.io.writers import write_csv, write_xlsx
from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.text import value_flags

__all__ = [
    "COLUMNS",
    "Section",
    "data_paths",
    "headline_section",
    "tidy",
    "write_downloads",
    "write_frame",
]

log = logging.getLogger(__name__)

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


def tidy(sections: Sequence[Section]) -> pd.DataFrame:
    """Return the sections as one tidy table (:data:`COLUMNS`), numbers as floats.

    Examples
    --------
    >>> t = pd.DataFrame({"area_name": ["North"], "requests": [12]}, index=["1"])
    >>> row = tidy([Section("headline", t, {("1", "requests"): "unstable"})]).iloc[0]
    >>> [str(v) for v in row]
    ['headline', '1', 'North', 'requests', '12.0', 'unstable']
    """
    rows: list[dict[str, Any]] = []
    for section in sections:
        measures = [c for c in section.table.columns if c != "area_name"]
        for area_id, row in section.table.iterrows():
            name = row.get("area_name")
            for measure in measures:
                rows.append(
                    {
                        "section": section.name,
                        "area_id": str(area_id),
                        "area_name": None if pd.isna(name) else str(name),
                        "measure": str(measure),
                        "value": pd.to_numeric(row[measure], errors="coerce"),
                        "note": section.notes.get((str(area_id), str(measure)), ""),
                    }
                )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["value"] = frame["value"].astype(float)
    for column in ("section", "area_id", "area_name", "measure", "note"):
        frame[column] = frame[column].astype("string")
    return frame


def write_downloads(
    sections: Sequence[Section], page: Path, *, csv: Path | None = None
) -> list[dict[str, str]]:
    """Write a page's figures as CSV and XLSX; return the page's links to them.

    Parameters
    ----------
    sections : sequence of Section
        What the page shows.
    page : pathlib.Path
        The page the files belong to (links are relative to its folder).
    csv : pathlib.Path, optional
        Where the CSV goes (the XLSX beside it); default :func:`data_paths`.

    Returns
    -------
    list of dict
        ``{"href", "label"}`` per file written, CSV first.
    """
    return write_frame(tidy(sections), page, csv=csv)


def write_frame(
    frame: pd.DataFrame, page: Path, *, csv: Path | None = None
) -> list[dict[str, str]]:
    """Write one table as a page's CSV and XLSX (see :func:`write_downloads`); return the links."""
    csv_path = csv if csv is not None else data_paths(page)[0]
    xlsx_path = csv_path.with_suffix(".xlsx")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(frame, csv_path, index=False)
    links = [{"href": csv_path.relative_to(page.parent).as_posix(), "label": "CSV"}]
    if importlib.util.find_spec("openpyxl") is None:
        log.warning(
            "not writing %s: spreadsheets need openpyxl (pip install 'geo311[xlsx]')",
            xlsx_path.name,
        )
        return links
    write_xlsx(frame, xlsx_path, sheet="data", index=False)
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
    for column in columns:
        h = HEADLINE_INDICATORS[column]
        wanted += [h.column, h.ci_low, h.ci_high]
        for area_id, row in table.iterrows():
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

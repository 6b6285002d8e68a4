"""Sortable HTML tables of areas: the context the page templates render.

A table is a mapping (id, caption, headers, rows of cells); the templates
escape every cell text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from geo311.site.headlines import HEADLINE_INDICATORS, Headline, short_name
from geo311.site.text import (
    fmt,
    is_missing,
    not_reached_value,
    sort_value,
    table_rows,
    value_flags,
)

__all__ = [
    "area_table",
    "cell",
    "header",
    "natural_key",
    "plain_rows",
    "row_notes",
    "value_with_ci",
]


def cell(
    text: Any, *, sort: Any = None, numeric: bool = False, href: str | None = None
) -> dict[str, Any]:
    """Return one table cell: its text, sort key, alignment and optional link."""
    return {
        "text": "" if text is None else str(text),
        "sort": sort,
        "numeric": numeric,
        "href": href,
    }


def plain_rows(rows: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Return rows of cells as table rows without an area id."""
    return [{"id": None, "cells": cells} for cells in rows]


def header(label: str, *, numeric: bool = False, sort: str = "none") -> dict[str, Any]:
    """Return one column header: its label, alignment and initial sort state."""
    return {"label": label, "numeric": numeric, "sort": sort}


def value_with_ci(row: Mapping[str, Any] | pd.Series, h: Headline) -> str:
    """Return a value with its 95% interval in brackets, e.g. ``"5.8 (5.6 to 5.9)"``.

    A value the data do not reach reads "over 2.8 days (not reached)".
    """
    value = row.get(h.column)
    beyond = not_reached_value(row, h)
    if beyond is not None:
        return beyond
    if is_missing(value):
        return fmt(value, h.kind)
    low, high = row.get(h.ci_low), row.get(h.ci_high)
    if is_missing(low) and is_missing(high):
        return fmt(value, h.kind)
    lo = "?" if is_missing(low) else fmt(low, h.kind)
    hi = "open-ended" if is_missing(high) else fmt(high, h.kind)
    return f"{fmt(value, h.kind)} ({lo} to {hi})"


def natural_key(text: Any) -> tuple[tuple[int, int | str], ...]:
    """Return a sort key that orders "District 2" before "District 10" (as the table script does).

    Examples
    --------
    >>> sorted(["District 10", "district 2", "District 1"], key=natural_key)
    ['District 1', 'district 2', 'District 10']
    """
    text = "" if is_missing(text) else str(text)
    parts = re.split(r"(\d+)", text.casefold())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def area_table(
    table: pd.DataFrame,
    *,
    table_id: str,
    caption: str,
    limits: Mapping[str, Any],
    columns: Sequence[str],
    name_label: str = "Area",
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return a sortable table of areas: name, each headline with its CI, requests, flags."""
    headers = [header(name_label, sort="ascending")]
    for column in columns:
        h = HEADLINE_INDICATORS[column]
        headers.append(header(f"{h.title} (95% CI)", numeric=True))
    headers += [header("Requests", numeric=True), header("Notes")]
    order = table.sort_values("area_name", key=lambda names: names.map(natural_key), kind="stable")
    rows = []
    for area_id, row in table_rows(order):
        name = row.get("area_name")
        name = str(area_id) if is_missing(name) or name == "" else str(name)
        cells = [cell(name, sort=None, href=(links or {}).get(str(area_id)))]
        for column in columns:
            h = HEADLINE_INDICATORS[column]
            cells.append(cell(value_with_ci(row, h), sort=_sort_key(row, h), numeric=True))
        notes = row_notes(row, columns, limits)
        cells.append(
            cell(
                fmt(row.get("requests"), "count"),
                sort=sort_value(row.get("requests")),
                numeric=True,
            )
        )
        cells.append(cell("; ".join(notes)))
        rows.append({"id": str(area_id), "cells": cells})
    return {"id": table_id, "caption": caption, "headers": headers, "rows": rows}


def _sort_key(row: Mapping[str, Any] | pd.Series, h: Headline) -> str:
    """Sort key of a value; one not reached sorts as its follow-up (it is at least that)."""
    if not_reached_value(row, h) is not None:
        return sort_value(row.get("ttc_followup_days"))
    return sort_value(row.get(h.column))


def row_notes(
    row: Mapping[str, Any] | pd.Series, columns: Sequence[str], limits: Mapping[str, Any]
) -> list[str]:
    """Return the flags of one table row, short: unstable values are named together."""
    unstable: list[str] = []
    other: list[str] = []
    for column in columns:
        h = HEADLINE_INDICATORS[column]
        for flag in value_flags(row, h, limits):
            if flag.startswith("unstable"):
                unstable.append(short_name(h))
            else:
                other.append(f"{short_name(h)}: {flag.split(':')[0]}")
    if unstable:
        other.insert(0, f"unstable (fewer than {limits['min_count']}): {', '.join(unstable)}")
    return other

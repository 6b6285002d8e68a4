"""The ranking of every area of a layer by the main indicators, for the district pages.

Rank 1 is the highest value of each indicator (most requests per 1,000
residents, slowest median, highest on-time share); ties share the best rank.
An area without a value (population unknown, too few requests, median not
reached) is not ranked: it says so instead of taking a last place it may not
hold. Values resting on few requests keep their rank and carry the site's
small-number flag in the notes column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.html_tables import cell, header, natural_key, row_notes, value_with_ci
from geo311.site.layer import SiteLayer, singular
from geo311.site.text import fmt, is_missing, sort_value, table_rows

__all__ = ["MAX_RANKED_ROWS", "RANKED", "rank_areas", "ranking_table"]

#: The indicators areas are ranked by, in the order of the table's columns.
RANKED: tuple[str, ...] = ("rate_per_1k", "ttc_median_days", "on_time_share")
#: A layer with more areas gets only the page's own row (the overview lists every area):
#: hundreds of pages each repeating hundreds of rows would make the site quadratic.
MAX_RANKED_ROWS = 60


def rank_areas(table: pd.DataFrame, columns: tuple[str, ...] = RANKED) -> pd.DataFrame:
    """Return each area's rank by each indicator (1 = highest; NA when it has no value).

    Parameters
    ----------
    table : pandas.DataFrame
        Per-area indicators, indexed by ``area_id``.  Not modified.
    columns : tuple of str, default :data:`RANKED`

    Returns
    -------
    pandas.DataFrame
        ``<column>_rank`` (nullable integers), indexed like ``table``.

    Examples
    --------
    >>> t = pd.DataFrame({"rate_per_1k": [5.0, None, 7.0, 5.0]}, index=list("abcd"))
    >>> rank_areas(t, ("rate_per_1k",))["rate_per_1k_rank"].tolist()
    [2, <NA>, 1, 2]
    """
    out = pd.DataFrame(index=table.index)
    for column in columns:
        values = (
            pd.to_numeric(table[column], errors="coerce")
            if column in table
            else pd.Series(float("nan"), index=table.index)
        )
        out[f"{column}_rank"] = values.rank(method="min", ascending=False).astype("Int64")
    return out


def ranking_table(
    layer: SiteLayer,
    *,
    current: str | None,
    links: Mapping[str, str],
    limits: Mapping[str, Any],
    ranks: pd.DataFrame | None = None,
    max_rows: int = MAX_RANKED_ROWS,
) -> dict[str, Any]:
    """Return the sortable ranking of every area of ``layer``, ``current`` highlighted.

    Rows are ordered by requests per 1,000 residents (rank 1 first, unranked
    areas last, by name); each indicator has its value (95% CI) and its rank
    (``ranks``: :func:`rank_areas` of the layer, computed once per site).
    A layer of more than ``max_rows`` areas gets only the row of ``current``
    (its ranks among all areas); the overview page lists every area.
    """
    table = layer.indicators
    ranks = rank_areas(table) if ranks is None else ranks
    if len(table) > max_rows:
        order = [i for i in table.index if str(i) == current]
    else:
        first = ranks[f"{RANKED[0]}_rank"]
        names = table["area_name"].map(natural_key)
        order = sorted(
            table.index,
            key=lambda i: (
                is_missing(first[i]),
                0 if is_missing(first[i]) else first[i],
                names[i],
            ),
        )
    headers = [header(singular(layer.title).capitalize())]
    for column in RANKED:
        h = HEADLINE_INDICATORS[column]
        initial = "ascending" if column == RANKED[0] else "none"
        headers += [
            header(f"{h.title} (95% CI)", numeric=True),
            header(f"Rank by {h.title.lower()}", numeric=True, sort=initial),
        ]
    headers += [header("Requests", numeric=True), header("Notes")]
    rows = []
    by_id = dict(table_rows(table))
    for area_id in order:
        row = by_id[area_id]
        name = row.get("area_name")
        name = str(area_id) if is_missing(name) or name == "" else str(name)
        here = str(area_id) == current
        cells = [cell(f"{name} (this page)" if here else name, href=links.get(str(area_id)))]
        for column in RANKED:
            h = HEADLINE_INDICATORS[column]
            rank: Any = ranks.at[area_id, f"{column}_rank"]
            cells += [
                cell(value_with_ci(row, h), sort=sort_value(row.get(column)), numeric=True),
                cell(
                    "not ranked" if is_missing(rank) else f"{int(rank)} of {len(table)}",
                    sort="" if is_missing(rank) else str(int(rank)),
                    numeric=True,
                ),
            ]
        cells += [
            cell(
                fmt(row.get("requests"), "count"),
                sort=sort_value(row.get("requests")),
                numeric=True,
            ),
            cell("; ".join(row_notes(row, list(RANKED), limits))),
        ]
        rows.append({"id": str(area_id), "cells": cells, "current": here})
    caption = (
        f"All {len(table)} {layer.title.lower()} ranked; rank 1 is the highest value "
        "(click a column header to sort)"
    )
    if len(rows) < len(table):
        caption = (
            f"The ranks of this {singular(layer.title)} among all {len(table)} "
            f"{layer.title.lower()}; rank 1 is the highest value (the overview page lists "
            "every one)"
        )
    return {
        "id": "ranking-table",
        "caption": caption,
        "headers": headers,
        "rows": rows,
    }

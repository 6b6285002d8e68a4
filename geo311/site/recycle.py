"""The RecycleStat page: requests of the selected service types by day of week and district.

Baltimore's CitiStat looked at missed refuse and recycling pickups by day of
week and by geography ("RecycleStat").  When a run selects service types
(``geo311 run --type`` / ``--family``; every table then counts only those),
the site gets one such page, ``recycle-<slug>.html``: a heat table with a row
per area of the district layer (named as on the other pages) and a citywide
row, a column per weekday Monday..Sunday, each cell the count and the
requests per covered day.  Weekdays the input files do not cover say "no
data", never 0.  The page links a CSV of exactly the table
(``recycle-<slug>.csv``, written with :func:`geo311.io.writers.write_csv`).

Everything comes from the district layer's ``day_of_week`` time patterns
(:func:`geo311.indicators.time_patterns`), so the page counts the same
requests as every other table.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from geo311._errors import SchemaError
from geo311.io.writers import write_csv
from geo311.site.layer import SiteLayer
from geo311.site.render import Renderer
from geo311.site.text import demand_text, fmt, is_missing, period_text, slugify

__all__ = ["WEEKDAYS", "RecyclePlan", "recycle_page", "recycle_plan", "weekday_table"]

#: The columns of the page, in order.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The label of the citywide row.
CITY_LABEL = "Citywide"
#: Background of each heat class (light to dark blue, all readable with black text).
_HEAT = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6")
_CITY = "city"


class RecyclePlan(NamedTuple):
    """The RecycleStat page of a site and its CSV."""

    title: str  # the selection in words, e.g. "missed pickup"
    page: Path
    csv: Path


def recycle_plan(district: SiteLayer | None, out_dir: Path) -> RecyclePlan | None:
    """Return the RecycleStat page of a site, or None when the run selected no service types.

    Parameters
    ----------
    district : SiteLayer or None
        The district layer; its metadata's ``type_selection`` (written by
        :func:`geo311.pipeline.run` for ``types`` / ``families``) names the page.
    out_dir : pathlib.Path
        The site folder.

    Returns
    -------
    RecyclePlan or None
    """
    selection = (district.metadata.get("type_selection") or {}) if district else {}
    names = [*(selection.get("families") or {}), *(selection.get("terms") or {})]
    if not names:
        return None
    title = " + ".join(str(n) for n in names)
    stem = f"recycle-{slugify(title)}"
    return RecyclePlan(title, out_dir / f"{stem}.html", out_dir / f"{stem}.csv")


def weekday_table(district: SiteLayer) -> pd.DataFrame:
    """Return the requests of each area (then the city) by weekday: what the page shows.

    Parameters
    ----------
    district : SiteLayer
        The district layer, with its ``day_of_week`` time patterns.

    Returns
    -------
    pandas.DataFrame
        One row per area and weekday, areas in the order of the layer's
        table, then the citywide rows: ``area_id``, ``area`` (display name),
        ``weekday``, ``covered_days``, ``requests`` and
        ``requests_per_covered_day`` (both missing where no day of that
        weekday is covered: "no data").

    Raises
    ------
    SchemaError
        The patterns lack the day-of-week coverage columns.
    """
    patterns = district.patterns
    needed = {"area_id", "pattern", "bucket", "requests", "covered_days"}
    if not needed <= set(patterns.columns):
        msg = (
            f"the time patterns of layer {district.key!r} lack {sorted(needed - set(patterns))}; "
            "recompute them with this version of geo311 (geo311 indicators)"
        )
        raise SchemaError(msg)
    weekdays = patterns[patterns["pattern"] == "day_of_week"]
    labels = {**district.indicators["area_name"].astype(str).to_dict(), _CITY: CITY_LABEL}
    order = [*district.indicators.index.astype(str), _CITY]
    grid = pd.MultiIndex.from_product([order, WEEKDAYS], names=["area_id", "weekday"])
    table = (
        weekdays.assign(area_id=weekdays["area_id"].astype(str), weekday=weekdays["bucket"])
        .set_index(["area_id", "weekday"])[["covered_days", "requests"]]
        .reindex(grid)
    )
    covered = table["covered_days"].fillna(0).astype("int64")
    no_data = covered <= 0
    requests = table["requests"].fillna(0).astype("Int64").mask(no_data)
    out = pd.DataFrame(
        {
            "area_id": grid.get_level_values("area_id"),
            "area": [labels.get(a, a) for a in grid.get_level_values("area_id")],
            "weekday": grid.get_level_values("weekday"),
            "covered_days": covered.array,
            "requests": requests.array,
        }
    )
    rate = out["requests"].astype("Float64") / out["covered_days"].mask(no_data.to_numpy())
    out["requests_per_covered_day"] = rate.round(2)
    return out


def _heat(rate: Any, top: float) -> str:
    """Return the background of a cell: one of five classes of the largest area rate."""
    if is_missing(rate) or top <= 0:
        return ""
    level = min(len(_HEAT) - 1, int(np.floor(float(rate) / top * len(_HEAT))))
    return _HEAT[level]


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    areas = table[table["area_id"] != _CITY]
    top = float(areas["requests_per_covered_day"].max(skipna=True) or 0)
    rows = []
    for area_id, part in table.groupby("area_id", sort=False):
        cells = []
        for count, rate in zip(part["requests"], part["requests_per_covered_day"], strict=True):
            if is_missing(count):
                cells.append({"no_data": True, "count": "", "rate": "", "color": ""})
                continue
            cells.append(
                {
                    "no_data": False,
                    "count": fmt(count, "count"),
                    "rate": f"{rate:,.2f}",
                    "color": "" if area_id == _CITY else _heat(rate, top),
                }
            )
        rows.append({"id": str(area_id), "name": str(part["area"].iloc[0]), "cells": cells})
    return rows


def _selection_text(selection: Mapping[str, Any]) -> list[str]:
    out = [
        f"the {name} family: {', '.join(types)}"
        for name, types in (selection.get("families") or {}).items()
    ]
    out += [
        f'"{term}" matched {", ".join(types)}'
        for term, types in (selection.get("terms") or {}).items()
    ]
    return out


def recycle_page(render: Renderer, district: SiteLayer, plan: RecyclePlan) -> int:
    """Write the RecycleStat page and its CSV; return the page's bytes.

    Parameters
    ----------
    render : Renderer
        The site's renderer (autoescaping templates).
    district : SiteLayer
        The district layer, its tables counting only the selected types.
    plan : RecyclePlan
        Where the page and its CSV go (:func:`recycle_plan`).

    Returns
    -------
    int
    """
    table = weekday_table(district)
    write_csv(table, plan.csv, index=False)
    first = table[table["area_id"] == _CITY]
    header = [
        {"day": day, "covered": covered}
        for day, covered in zip(first["weekday"], first["covered_days"], strict=True)
    ]
    info = district.metadata.get("indicators") or {}
    selection = district.metadata.get("type_selection") or {}
    context = {
        "page_title": f"Requests by weekday: {plan.title}",
        "current": "recycle",
        "selection": _selection_text(selection),
        "period": period_text(district.metadata),
        "counted": demand_text(district.metadata),
        "timezone": str(info.get("timezone") or "the data's time zone"),
        "layer_title": district.title,
        "header": header,
        "rows": _rows(table),
        "heat": list(_HEAT),
        "csv_href": plan.csv.name,
    }
    return render.write("recycle.html", plan.page, **context)

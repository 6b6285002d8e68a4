"""The RecycleStat page: requests of the selected service types by day of week and district.

Baltimore's CitiStat looked at missed refuse and recycling pickups by day of
week and by geography ("RecycleStat").  When a run selects service types
(``geo311 run --type`` / ``--family``; every table then counts only those),
the site gets one such page, ``recycle-<slug>.html``: a heat table with a row
per area of the district layer (named as on the other pages) and a citywide
row, a column per weekday Monday..Sunday, each cell the count and the
requests per covered day, and above it one small map per weekday (the same
classes; inline SVG, no script).  Weekdays the input files do not cover say
"no data", never 0.  The page links a CSV of exactly the table
(``recycle-<slug>.csv`` and ``.xlsx``, written by :func:`geo311.site.downloads.write_frame`).

Everything comes from the district layer's ``day_of_week`` time patterns
(:func:`geo311.indicators.time_patterns`), so the page counts the same
requests as every other table.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geo311._errors import SchemaError
from geo311.site._svg import esc, nf
from geo311.site.downloads import write_frame
from geo311.site.layer import SiteLayer
from geo311.site.render import Renderer
from geo311.site.selection import selection_context
from geo311.site.text import fmt, is_missing, slugify

__all__ = ["WEEKDAYS", "RecyclePlan", "recycle_page", "recycle_plan", "weekday_table"]

#: The columns of the page, in order.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: The label of the citywide row.
CITY_LABEL = "Citywide"
#: Background of each heat class (light to dark blue, all readable with black text).
_HEAT = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6")
_CITY = "city"
_NO_DATA_FILL = "#d9d9d9"
_PANEL = 150.0  # width and height of a weekday map, px


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


def _legend(top: float) -> list[dict[str, str]]:
    """Return the heat classes in words: colour and range of requests per covered day."""
    if top <= 0:
        return [{"color": _HEAT[0], "text": "0 per day (no area has a request)"}]
    step = top / len(_HEAT)
    out = [
        {"color": colour, "text": f"{i * step:,.2f} to under {(i + 1) * step:,.2f} per day"}
        for i, colour in enumerate(_HEAT[:-1])
    ]
    return [*out, {"color": _HEAT[-1], "text": f"{top - step:,.2f} to {top:,.2f} per day"}]


def _top(table: pd.DataFrame) -> float:
    """Return the largest rate per covered day of an area (not the city): the top class."""
    areas = table[table["area_id"] != _CITY]
    return float(areas["requests_per_covered_day"].max(skipna=True) or 0)


def _rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    top = _top(table)
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


def _rings(geometry: BaseGeometry) -> list[list[tuple[float, float]]]:
    """Every ring (exteriors and holes) of a (multi)polygon as coordinate lists."""
    polygons = getattr(geometry, "geoms", [geometry])
    out = []
    for polygon in polygons:
        if polygon.is_empty or not hasattr(polygon, "exterior"):
            continue
        out.append(list(polygon.exterior.coords))
        out.extend(list(ring.coords) for ring in polygon.interiors)
    return out


def _paths(display: gpd.GeoDataFrame) -> dict[str, str]:
    """SVG path data of each area (id -> ``d``), fitted into a square panel.

    Longitudes are scaled by the cosine of the mid latitude (a local
    equirectangular view); shapes are simplified to about half a pixel.
    """
    west, south, east, north = (float(v) for v in display.total_bounds)
    aspect = float(np.cos(np.radians((south + north) / 2)))
    width, height = max((east - west) * aspect, 1e-9), max(north - south, 1e-9)
    scale = (_PANEL - 4) / max(width, height)
    shapes = display.geometry.simplify(0.5 / scale, preserve_topology=False)
    out = {}
    for area_id, shape in zip(display["area_id"].astype(str), shapes, strict=True):
        parts = []
        for ring in _rings(shape):
            points = [
                f"{(x - west) * aspect * scale + 2:.1f},{(north - y) * scale + 2:.1f}"
                for x, y in ring
            ]
            parts.append("M" + "L".join(points) + "Z")
        out[area_id] = "".join(parts)
    return out


def _weekday_maps(table: pd.DataFrame, display: gpd.GeoDataFrame) -> list[dict[str, str]]:
    """One small SVG map per weekday, areas shaded as in the table; uncovered days blank."""
    paths = _paths(display)
    areas = table[table["area_id"] != _CITY]
    top = _top(table)
    panels = []
    for day, part in areas.groupby("weekday", sort=False):
        covered = bool((part["covered_days"] > 0).any())
        shapes = []
        for area_id, name, count, rate in zip(
            part["area_id"], part["area"], part["requests"], part["requests_per_covered_day"],
            strict=True,
        ):  # fmt: skip
            if area_id not in paths:
                continue
            fill = (_heat(rate, top) or _HEAT[0]) if covered else _NO_DATA_FILL
            label = f"{name}: {count} requests ({rate:,.2f} per day)" if covered else name
            shapes.append(
                f'<path d="{paths[area_id]}" fill="{fill}" stroke="#4d4d4d" '
                f'stroke-width="0.5" fill-rule="evenodd"><title>{esc(label)}</title></path>'
            )
        status = "requests per covered day" if covered else "no data (not covered)"
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{nf(_PANEL)}" '
            f'height="{nf(_PANEL)}" viewBox="0 0 {nf(_PANEL)} {nf(_PANEL)}">'
            f"<title>{esc(f'{day}: {status}')}</title>{''.join(shapes)}</svg>"
        )
        panels.append({"day": str(day), "status": status, "svg": svg})
    return panels


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


def recycle_page(
    render: Renderer,
    district: SiteLayer,
    plan: RecyclePlan,
    *,
    display: gpd.GeoDataFrame | None = None,
) -> int:
    """Write the RecycleStat page and its CSV; return the page's bytes.

    Parameters
    ----------
    render : Renderer
        The site's renderer (autoescaping templates).
    district : SiteLayer
        The district layer, its tables counting only the selected types.
    plan : RecyclePlan
        Where the page and its CSV go (:func:`recycle_plan`).
    display : geopandas.GeoDataFrame, optional
        The district layer's display outlines (``area_id``, EPSG:4326) for
        the weekday maps; without them the page has the table alone.

    Returns
    -------
    int
    """
    table = weekday_table(district)
    downloads = write_frame(table, plan.page, csv=plan.csv)
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
        "type_terms": _selection_text(selection),
        "period": selection_context(district.metadata)["period"],
        "counted": selection_context(district.metadata)["counted"],
        "timezone": str(info.get("timezone") or "the data's time zone"),
        "layer_title": district.title,
        "header": header,
        "rows": _rows(table),
        "legend": _legend(_top(table)),
        "no_data_color": _NO_DATA_FILL,
        "maps": _weekday_maps(table, display) if display is not None and len(display) else [],
        "downloads": downloads,
    }
    return render.write("recycle.html", plan.page, **context)

"""The charts of a district page (service types, day of the week, month), with text tables.

The SVG and its table are made and escaped by :mod:`geo311.site.charts`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from geo311.site import charts
from geo311.site.text import fmt, is_missing, pct

__all__ = ["month_chart", "services_chart", "weekday_chart"]

_CITY = "city"


def _chart(
    chart_id: str,
    caption: str,
    svg: str,
    table: str,
) -> dict[str, str]:
    """One figure: the SVG and its text alternative, both escaped by :mod:`geo311.site.charts`.

    Backticks are additionally written as character references (as in the rest of the
    page): inert in HTML either way, but never left raw for a script to pick up.
    """
    return {
        "id": chart_id,
        "caption": caption,
        "svg": svg.replace("`", "&#96;"),
        "table": table.replace("`", "&#96;"),
    }


def services_chart(
    services: pd.DataFrame, area_id: str, *, area_label: str
) -> dict[str, str] | None:
    """Bar chart + table of an area's top service types, with the city's share of each."""
    mine = services[services["area_id"] == area_id].sort_values("rank", kind="stable")
    if mine.empty:
        return None
    city = services[services["area_id"] == _CITY].set_index("service_type")["share"]
    labels = [str(x) for x in mine["service_type"].fillna("(unknown)")]
    caption = f"Top {len(labels)} service types in {area_label}: share of its requests"
    values = [float(x) for x in mine["share"]]
    return _share_chart(
        "services", mine, labels, values, city, caption=caption, area_label=area_label,
        label_header="Service type", not_in_city="not in the city's top list",
    )  # fmt: skip


def _share_chart(
    name: str,
    mine: pd.DataFrame,
    labels: list[str],
    values: list[float],
    city: pd.Series,
    *,
    caption: str,
    area_label: str,
    label_header: str,
    not_in_city: str = "not available",
) -> dict[str, str]:
    """Bar chart of an area's shares with the city's beside them, and its data table."""
    compare = [float(city.get(label, np.nan)) for label in labels]
    requests = list(mine["requests"])
    svg = charts.bar_chart(
        labels,
        values,
        title=caption,
        unit="share of requests",
        compare=compare,
        compare_label="City",
        series_label=area_label,
        value_format=pct,
        chart_id=f"svg-{name}",
        show_title=False,
    )
    table = charts.chart_table(
        labels,
        {
            "Requests": [fmt(x, "count") for x in requests],
            f"Share in {area_label}": [pct(v) for v in values],
            "Share in the city": [not_in_city if is_missing(v) else pct(v) for v in compare],
        },
        caption=caption,
        label_header=label_header,
    )
    return _chart(f"chart-{name}", caption, svg, table)


def _pattern(patterns: pd.DataFrame, area_id: str, pattern: str) -> pd.DataFrame:
    rows = patterns[(patterns["area_id"] == area_id) & (patterns["pattern"] == pattern)]
    return rows.sort_values("bucket_order", kind="stable")


def weekday_chart(
    patterns: pd.DataFrame, area_id: str, *, area_label: str
) -> dict[str, str] | None:
    """Bar chart + table of an area's requests by day of the week, with the city's shares."""
    mine = _pattern(patterns, area_id, "day_of_week")
    city = _pattern(patterns, _CITY, "day_of_week").set_index("bucket")["share"]
    if mine.empty:
        return None
    labels = [str(x) for x in mine["bucket"]]
    caption = f"Requests by day of the week: share in {area_label} and in the city"
    values = [float(x) for x in mine["share"].fillna(0.0)]
    return _share_chart(
        "weekday", mine, labels, values, city, caption=caption, area_label=area_label,
        label_header="Day of the week",
    )  # fmt: skip


def _month_label(bucket: str) -> str:
    """Return ``"Jan 2025"`` for a month bucket like ``"2025-01-01"`` (other text unchanged).

    Examples
    --------
    >>> _month_label("2025-01-01"), _month_label("2025-03"), _month_label("week 3")
    ('Jan 2025', 'Mar 2025', 'week 3')
    """
    match = re.fullmatch(r"(\d{4})-(\d{2})(?:-\d{2})?(?:[T ].*)?", bucket.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        return bucket
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{months[int(match.group(2)) - 1]} {match.group(1)}"


def month_chart(patterns: pd.DataFrame, area_id: str, *, area_label: str) -> dict[str, str] | None:
    """Line chart + table of an area's requests by month, with the city's shares."""
    mine = _pattern(patterns, area_id, "month")
    city = _pattern(patterns, _CITY, "month").set_index("bucket")
    if len(mine) < 2:
        return None
    buckets = [str(x) for x in city.index] if len(city) else [str(x) for x in mine["bucket"]]
    by_month = mine.set_index("bucket")
    area_share = [float(by_month["share"].get(b, 0.0)) for b in buckets]
    city_share = [float(city["share"].get(b, np.nan)) for b in buckets]
    labels = [_month_label(b) for b in buckets]
    caption = f"Requests by month: share of each area's requests, {area_label} and the city"
    svg = charts.line_chart(
        labels,
        {area_label: area_share, "City": city_share},
        title=caption,
        unit="share of requests",
        value_format=pct,
        chart_id="svg-month",
        show_title=False,
    )
    table = charts.chart_table(
        labels,
        {
            f"Requests in {area_label}": [
                fmt(by_month["requests"].get(b, 0), "count") for b in buckets
            ],
            f"Share in {area_label}": [pct(v) for v in area_share],
            "Share in the city": [pct(v) for v in city_share],
        },
        caption=caption,
        label_header="Month",
    )
    return _chart("chart-month", caption, svg, table)

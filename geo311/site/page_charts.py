"""The charts of a district page (service types, day of the week, month), with text tables.

The SVG and its table are made and escaped by :mod:`geo311.site.charts`.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from geo311.site import charts
from geo311.site._svg import ValueFormat
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
    """Bar chart + table of an area's top service types, with the city's share of each.

    The tables keep the city's top service types only: a type of the area
    outside that list has a city share below the smallest one listed, and
    reads "under X% (not among the city's top N)" instead of "no data".
    """
    mine = services[services["area_id"] == area_id].sort_values("rank", kind="stable")
    if mine.empty:
        return None
    city = services[services["area_id"] == _CITY].set_index("service_type")["share"]
    labels = [str(x) for x in mine["service_type"].fillna("(unknown)")]
    caption = f"Top {len(labels)} service types in {area_label}: share of its requests"
    values = [float(x) for x in mine["share"]]
    below = (
        f"under {pct(float(city.min()))} (not among the city's top {len(city)})"
        if len(city)
        else "not available"
    )
    return _share_chart(
        "services", mine, labels, values, city, caption=caption, area_label=area_label,
        label_header="Service type", not_in_city=below,
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
        missing_text=not_in_city,
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


def _coverage(rows: pd.DataFrame) -> list[str]:
    """Coverage of each bucket ("covered", "partial (k of n days)", "not covered")."""
    if "coverage" not in rows:
        return ["covered"] * len(rows)
    return [str(c) if isinstance(c, str) else "covered" for c in rows["coverage"]]


def _per_covered_day(rows: pd.DataFrame, coverage: list[str]) -> list[float]:
    """Return requests per covered day of each bucket; NaN where no day of it is covered."""
    per_day = pd.to_numeric(rows["requests_per_covered_day"], errors="coerce")
    return [
        np.nan if c == NOT_COVERED else float(v) for v, c in zip(per_day, coverage, strict=True)
    ]


#: Coverage of a bucket (weekday, month) the data do not reach at all.
NOT_COVERED = "not covered"
_NO_DAY = "no data (not covered)"


def weekday_chart(
    patterns: pd.DataFrame, area_id: str, *, area_label: str
) -> dict[str, str] | None:
    """Bar chart + table of an area's requests by day of the week.

    When the data cover every weekday alike the chart compares the area's
    shares with the city's. When some weekday is not covered (a sample of
    Friday to Monday) or covered less, it shows requests per covered day, marks
    the weekdays without data "no data (not covered)" (never a zero bar) and
    says so in its title.
    """
    mine = _pattern(patterns, area_id, "day_of_week")
    city_rows = _pattern(patterns, _CITY, "day_of_week")
    if mine.empty:
        return None
    labels = [str(x) for x in mine["bucket"]]
    coverage = _coverage(mine)
    if all(c == "covered" for c in coverage) or "requests_per_covered_day" not in mine:
        caption = f"Requests by day of the week: share in {area_label} and in the city"
        values = [float(x) for x in mine["share"].fillna(0.0)]
        city = city_rows.set_index("bucket")["share"]
        return _share_chart(
            "weekday", mine, labels, values, city, caption=caption, area_label=area_label,
            label_header="Day of the week",
        )  # fmt: skip
    missing = [b for b, c in zip(labels, coverage, strict=True) if c == NOT_COVERED]
    caption = (
        f"Requests per covered day by day of the week in {area_label} (the data do not cover "
        "every day of the week alike"
        + (f"; no data for {', '.join(missing)}" if missing else "")
        + ")"
    )
    values = _per_covered_day(mine, coverage)
    city_rate = city_rows.set_index("bucket")["requests_per_covered_day"]
    city_per_day = [
        np.nan if c == NOT_COVERED else float(city_rate.get(b, np.nan))
        for b, c in zip(labels, coverage, strict=True)
    ]
    svg = charts.bar_chart(
        labels, values, title=caption, unit="requests per covered day",
        series_label=area_label, value_format="{:,.1f}", chart_id="svg-weekday",
        show_title=False, missing_text=_NO_DAY,
    )  # fmt: skip
    table = charts.chart_table(
        labels,
        {
            "Days covered": [fmt(x, "count") for x in mine["covered_days"]],
            f"Requests in {area_label}": [fmt(x, "count") for x in mine["requests"]],
            f"Per covered day in {area_label}": [
                _NO_DAY if is_missing(v) else fmt(v, "rate") for v in values
            ],
            "Per covered day in the city": [
                _NO_DAY if is_missing(v) else fmt(v, "rate") for v in city_per_day
            ],
            "Coverage": coverage,
        },
        caption=caption,
        label_header="Day of the week",
    )
    return _chart("chart-weekday", caption, svg, table)


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
    """Line chart + table of an area's requests by month.

    With every month fully covered, the chart compares the shares of the area
    and the city. When a month is covered only in part (3 weeks of one month,
    1 of the next), it shows requests per covered day instead, flags the
    partial months ("Oct 2019, partial: 4 of 31 days") and says so in its title.
    """
    mine = _pattern(patterns, area_id, "month")
    city = _pattern(patterns, _CITY, "month").set_index("bucket")
    if len(mine) < 2:
        return None
    buckets = [str(x) for x in city.index] if len(city) else [str(x) for x in mine["bucket"]]
    by_month = mine.set_index("bucket")
    coverage = [
        str(by_month["coverage"].get(b, "covered")) if "coverage" in by_month else "covered"
        for b in buckets
    ]
    labels = [
        _month_label(b) if c == "covered" else f"{_month_label(b)}, {c}"
        for b, c in zip(buckets, coverage, strict=True)
    ]
    requests = [fmt(by_month["requests"].get(b, 0), "count") for b in buckets]
    value_format: ValueFormat
    if all(c == "covered" for c in coverage) or "requests_per_covered_day" not in by_month:
        area_share = [float(by_month["share"].get(b, 0.0)) for b in buckets]
        city_share = [float(city["share"].get(b, np.nan)) for b in buckets]
        caption = f"Requests by month: share of each area's requests, {area_label} and the city"
        series = {area_label: area_share, "City": city_share}
        unit, value_format = "share of requests", pct
        columns = {
            f"Requests in {area_label}": requests,
            f"Share in {area_label}": [pct(v) for v in area_share],
            "Share in the city": [pct(v) for v in city_share],
        }
    else:
        per_day = [
            np.nan
            if c == NOT_COVERED
            else float(by_month["requests_per_covered_day"].get(b, np.nan))
            for b, c in zip(buckets, coverage, strict=True)
        ]
        caption = (
            f"Requests per covered day by month in {area_label} (some months are covered "
            "only in part by the data; each month shows its requests per day covered)"
        )
        series = {area_label: per_day}
        unit, value_format = "requests per covered day", "{:,.1f}"
        columns = {
            f"Requests in {area_label}": requests,
            f"Per covered day in {area_label}": [
                _NO_DAY if is_missing(v) else fmt(v, "rate") for v in per_day
            ],
            "Coverage": coverage,
        }
    svg = charts.line_chart(
        labels,
        series,
        title=caption,
        unit=unit,
        value_format=value_format,
        chart_id="svg-month",
        show_title=False,
    )
    table = charts.chart_table(labels, columns, caption=caption, label_header="Month")
    return _chart("chart-month", caption, svg, table)

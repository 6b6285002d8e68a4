"""Values, intervals, flags and notes of the site in plain words.

Every text made here is plain text; the autoescaping page templates escape
it (:mod:`geo311.site.render`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import pandas as pd

from geo311.site.headlines import Headline
from geo311.site.specs import MIN_COUNT, format_value

__all__ = [
    "card_context",
    "demand_text",
    "fmt",
    "is_missing",
    "is_synthetic",
    "layer_notes",
    "limits_of",
    "pct",
    "period_text",
    "population_source",
    "population_text",
    "shared_notes",
    "slugify",
    "sort_value",
    "value_flags",
]


def is_missing(value: Any) -> bool:
    """Return True for None, NA and NaN (text is never missing here).

    Examples
    --------
    >>> is_missing(float("nan")), is_missing(None), is_missing("District 1"), is_missing(0)
    (True, True, False, False)
    """
    if value is None or value is pd.NA:
        return True
    if isinstance(value, str):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt(value: Any, kind: str) -> str:
    """Format one indicator value for people ("not available" for a missing one).

    Examples
    --------
    >>> fmt(72.0712, "rate"), fmt(0.7275, "share"), fmt(1.16062, "ratio"), fmt(None, "days")
    ('72.1', '72.8%', '1.16', 'not available')
    >>> fmt(1234, "count")
    '1,234'
    """
    return format_value(value, _MAP_FORMATS.get(kind, kind), missing="not available")


#: ``Headline.kind`` -> the :func:`geo311.site.format_value` format.
_MAP_FORMATS = {"share": "percent"}


def _ci(low: Any, high: Any, kind: str) -> str:
    """Return a 95% interval in words.

    Examples
    --------
    >>> _ci(59.92, 81.34, "rate"), _ci(1.79, float("nan"), "days")
    ('95% CI 59.9 to 81.3', '95% CI 1.8 to not reached (open-ended)')
    """
    if is_missing(low) and is_missing(high):
        return "95% CI not available"
    upper = "not reached (open-ended)" if is_missing(high) else fmt(high, kind)
    lower = "not available" if is_missing(low) else fmt(low, kind)
    return f"95% CI {lower} to {upper}"


def sort_value(value: Any) -> str:
    """Return the ``data-sort`` text of a value (empty when missing)."""
    return "" if is_missing(value) else repr(float(value))


def _get(row: Mapping[str, Any] | pd.Series, column: str) -> Any:
    return row.get(column, None)


def value_flags(
    row: Mapping[str, Any] | pd.Series, headline: Headline, limits: Mapping[str, Any]
) -> list[str]:
    """Plain-words warnings for one value (empty when it can be read as is)."""
    min_count, min_pop = limits["min_count"], limits["min_population"]
    value = _get(row, headline.column)
    count = _get(row, headline.count)
    flags: list[str] = []
    if headline.column == "rate_per_1k":
        flag = str(_get(row, "rate_flag") or "")
        if flag == "unstable":
            flags.append(f"unstable: fewer than {min_count} requests")
        elif flag == "insufficient" or is_missing(value):
            flags.append(
                f"insufficient data: population unknown or below {min_pop:,}; no rate shown"
            )
        return flags
    if not is_missing(count) and float(count) == 0:
        what = {"sla_due": "no requests with a due date", "ttc_closed": "no closures"}
        return [what.get(headline.count, "no requests")]
    if headline.column == "ttc_median_days" and is_missing(value):
        flags.append("not estimable: fewer than half of the requests have closed")
    elif is_missing(value):
        flags.append("not available")
    if not is_missing(count) and float(count) < min_count:
        noun = {"sla_due": "requests with a due date", "ttc_closed": "closures"}
        flags.append(f"unstable: fewer than {min_count} {noun.get(headline.count, 'requests')}")
    return flags


def card_context(
    headline: Headline,
    area: Mapping[str, Any] | pd.Series | None,
    city: Mapping[str, Any] | pd.Series,
    *,
    area_label: str,
    limits: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the context of one card: area vs city (the city alone when ``area`` is None)."""
    h = headline
    unit = "" if h.kind == "share" else h.unit

    def side(row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
        value = _get(row, h.column)
        return {
            "raw": sort_value(value),
            "value": fmt(value, h.kind),
            "ci": _ci(_get(row, h.ci_low), _get(row, h.ci_high), h.kind),
            "flags": value_flags(row, h, limits),
        }

    city_side = side(city)
    area_side = side(area) if area is not None else city_side
    count = _get(area if area is not None else city, h.count)
    note = h.card_note
    if not is_missing(count):
        note = f"{note} {h.count_label}: {fmt(count, 'count')}."
    return {
        "column": h.column,
        "city_only": area is None,
        "title": h.title,
        "unit": unit,
        "area_label": area_label,
        "area_raw": area_side["raw"],
        "area_value": area_side["value"],
        "area_ci": area_side["ci"],
        "area_flags": area_side["flags"],
        "city_raw": city_side["raw"],
        "city_value": city_side["value"],
        "city_ci": city_side["ci"],
        "city_flags": city_side["flags"],
        "note": note,
    }


def slugify(text: str, *, taken: set[str] | None = None) -> str:
    """Return a file-name-safe slug of ``text``, unique among ``taken`` (which is updated).

    Examples
    --------
    >>> taken = set()
    >>> slugify("District 1", taken=taken), slugify("district-1", taken=taken)
    ('district-1', 'district-1-2')
    >>> slugify('</script><img src=x>')
    'script-img-src-x'
    >>> slugify("")
    'x'
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-") or "x"
    if taken is None:
        return slug
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    taken.add(candidate)
    return candidate


def is_synthetic(metadata: Mapping[str, Any]) -> bool:
    """Return True when the layer, its vintage or its population are synthetic."""
    text = (
        " ".join(str(metadata.get(k) or "") for k in ("vintage", "layer_source"))
        + " "
        + str((metadata.get("denominators") or {}).get("source") or "")
    )
    return "synthetic" in text.lower()


def limits_of(metadata: Mapping[str, Any]) -> dict[str, int]:
    """Return the unstable and insufficient thresholds the indicators were computed with.

    Examples
    --------
    >>> limits_of({"indicators": {"min_count": 10, "min_population": None}})
    {'min_count': 10, 'min_population': 100}
    """
    info = metadata.get("indicators") or {}
    defaults = {"min_count": MIN_COUNT, "min_population": 100}
    return {k: int(default if info.get(k) is None else info[k]) for k, default in defaults.items()}


def period_text(metadata: Mapping[str, Any]) -> str:
    """Return the period the indicators cover, in words."""
    info = metadata.get("indicators") or {}
    period = info.get("period") or {}
    start, end = period.get("start"), period.get("end")
    if not start and not end:
        return f"all requests created up to the as-of time ({info.get('as_of') or 'unknown'})"
    return f"from {start or 'the first request'} up to (not including) {end or 'the as-of time'}"


def population_text(metadata: Mapping[str, Any]) -> str:
    """Return the population source, year and total, in words."""
    denominators = metadata.get("denominators") or {}
    info = metadata.get("indicators") or {}
    source = denominators.get("source") or info.get("population_source") or ""
    year = denominators.get("year")
    if not source:
        return "no population given: rates are not available"
    variables = denominators.get("variables") or {}
    column_year = (variables.get("population") or {}).get("year")
    text = f"{source}"
    if year:
        text += f", year {year}"
    if column_year and column_year != year:
        text += f" (population column year {column_year})"
    total = info.get("population_total")
    if not is_missing(total):
        text += f"; {fmt(total, 'count')} residents in total"
    return text


def shared_notes(metadata: Mapping[str, Any]) -> list[str]:
    """Return the notes that hold for every layer of one ``geo311 indicators`` run."""
    info = metadata.get("indicators") or {}
    limits = limits_of(metadata)
    notes = [
        f"Period: {period_text(metadata)}. As of {info.get('as_of') or 'unknown'}; dates and days "
        f"of the week are in {info.get('timezone') or 'the data time zone'}.",
        f"Requests counted: {demand_text(metadata)}.",
        f"Rates need at least {limits['min_population']:,} residents; values based on fewer "
        f"than {limits['min_count']} requests are marked unstable.",
    ]
    if info.get("type_adjustment"):
        notes.append(f"Type adjustment: {info['type_adjustment']}.")
    return notes


def layer_notes(metadata: Mapping[str, Any], *, title: str) -> list[str]:
    """Vintage, denominator and exclusion notes of one layer, in plain words."""
    meta = metadata
    info = meta.get("indicators") or {}
    notes = [
        f"{title}: boundary vintage {meta.get('vintage') or 'unknown'}; source: "
        f"{meta.get('layer_source') or 'unknown'}.",
        f"{title}: population from {population_text(meta)}, interpolated from census tracts "
        "by area where the areas are not tracts.",
    ]
    rows = info.get("rows") or {}
    explained = info.get("rows_explained") or {}
    setaside = [
        f"{fmt(n, 'count')} {explained.get(k, k).split(': ', 1)[-1]}"
        for k, n in rows.items()
        if k not in {"rows", "in_scope", "counted"} and not is_missing(n) and n
    ]
    if rows:
        text = (
            f"{title}: of {fmt(rows.get('rows'), 'count')} requests in the input, "
            f"{fmt(rows.get('counted'), 'count')} are counted"
        )
        notes.append(f"{text}; set aside: {'; '.join(setaside)}." if setaside else f"{text}.")
    return notes


def demand_text(metadata: Mapping[str, Any]) -> str:
    """Return which requests were counted, in words."""
    info = metadata.get("indicators") or {}
    demand = info.get("demand") or "resident"
    words = {
        "resident": "resident-initiated requests (requests city staff file themselves are "
        "left out)",
        "proactive": "proactive requests filed by city staff only",
        "all": "resident-initiated and staff-filed requests",
    }.get(str(demand), str(demand))
    extra = []
    if not info.get("include_duplicates", False):
        extra.append("duplicates excluded")
    if not info.get("include_transfers", False):
        extra.append("transfers excluded")
    return f"{words}{'; ' + ', '.join(extra) if extra else ''}"


def population_source(metadata: Mapping[str, Any]) -> str:
    """Return the population source and year for legends, e.g. ``"ACS 5-year (2020)"``.

    The year is that of the population column when the metadata gives one
    (a table's own year may be a label such as ``"synthetic"``).

    Examples
    --------
    >>> meta = {"denominators": {"source": "demo (synthetic)", "year": "synthetic",
    ...         "variables": {"population": {"year": "2020"}}}}
    >>> population_source(meta)
    'demo (synthetic) (2020)'
    """
    denominators = metadata.get("denominators") or {}
    source = denominators.get("source") or (metadata.get("indicators") or {}).get(
        "population_source"
    )
    if not source:
        return ""
    variables = denominators.get("variables") or {}
    year = (variables.get("population") or {}).get("year") or denominators.get("year")
    return f"{source} ({year})" if year and str(year) not in str(source) else str(source)


def pct(value: float) -> str:
    """Return a 0-1 share as a percentage with one decimal."""
    return fmt(value, "share")

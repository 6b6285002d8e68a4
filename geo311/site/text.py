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
from geo311.site.specs import (
    INDICATORS,
    MIN_COUNT,
    NO_DENOMINATOR,
    NOT_REACHED,
    followup_days,
    format_value,
    not_reached_text,
    reached_state,
)

#: What :func:`population_words` says when a layer has no population.
NO_POPULATION = NO_DENOMINATOR

__all__ = [
    "card_context",
    "fmt",
    "is_missing",
    "is_synthetic",
    "layer_notes",
    "limits_of",
    "not_reached_value",
    "pct",
    "population_source",
    "population_words",
    "row_words",
    "shared_notes",
    "slugify",
    "sort_value",
    "table_rows",
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


def table_rows(table: pd.DataFrame) -> list[tuple[Any, dict[str, Any]]]:
    """Return the rows of ``table`` as (index label, {column: value}) pairs.

    The values are the ones ``DataFrame.iterrows`` gives (both read
    ``table.to_numpy()``), but each row is a plain dict: the pages read a few
    cells of every row of every table, and a pandas Series per row (with the
    frame's ``attrs`` copied into it) cost more than the rest of the page.

    Examples
    --------
    >>> t = pd.DataFrame({"area_name": ["North"], "requests": [12]}, index=["1"])
    >>> [(i, row["area_name"], int(row["requests"])) for i, row in table_rows(t)]
    [('1', 'North', 12)]
    """
    columns = list(table.columns)
    return [
        (label, dict(zip(columns, values, strict=True)))
        for label, values in zip(table.index, table.to_numpy(), strict=True)
    ]


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


def not_reached_value(row: Mapping[str, Any] | pd.Series, headline: Headline) -> str | None:
    """Return "over N days (not reached)" when the data do not reach the value, else None.

    A Kaplan-Meier median is not reached when fewer than half of the requests
    had closed by the end of the data (the table's flag says so); it is then
    known only to exceed the follow-up, which is a finding, not missing data.

    Examples
    --------
    >>> from geo311.site.headlines import HEADLINE_INDICATORS as H
    >>> row = {"ttc_median_days": None, "ttc_median_flag": "not reached (> 2.8 days)",
    ...        "ttc_followup_days": 2.8453}
    >>> not_reached_value(row, H["ttc_median_days"])
    'over 2.8 days (not reached)'
    >>> not_reached_value({"ttc_median_days": 1.5}, H["ttc_median_days"]) is None
    True
    """
    spec = INDICATORS.get(headline.column)
    if spec is None or spec.flag is None or not is_missing(_get(row, headline.column)):
        return None
    flag = _get(row, spec.flag)
    if reached_state(flag) != NOT_REACHED:
        return None
    return not_reached_text(spec.fmt, followup_days(flag, _get(row, "ttc_followup_days")))


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
        if flag == "no_denominator":
            flags.append(NO_DENOMINATOR)
        elif flag == "unstable":
            flags.append(f"unstable: fewer than {min_count} requests")
        elif flag == "insufficient" or is_missing(value):
            flags.append(
                f"insufficient data: population unknown or below {min_pop:,}; no rate shown"
            )
        return flags
    if not is_missing(count) and float(count) == 0:
        what = {"sla_due": "no requests with a due date", "ttc_closed": "no closures"}
        return [what.get(headline.count, "no requests")]
    if not_reached_value(row, headline) is not None:
        flags.append("not reached: fewer than half of the requests had closed when the data end")
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
        beyond = not_reached_value(row, h)
        return {
            "raw": sort_value(value),
            "value": fmt(value, h.kind) if beyond is None else beyond,
            "unit": unit if beyond is None else "",
            "ci": _ci(_get(row, h.ci_low), _get(row, h.ci_high), h.kind)
            if beyond is None or not is_missing(_get(row, h.ci_low))
            else "",
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
        "area_unit": area_side["unit"],
        "area_ci": area_side["ci"],
        "area_flags": area_side["flags"],
        "city_raw": city_side["raw"],
        "city_value": city_side["value"],
        "city_unit": city_side["unit"],
        "city_ci": city_side["ci"],
        "city_flags": city_side["flags"],
        "note": note,
        "change": [],
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


def shared_notes(metadata: Mapping[str, Any]) -> list[str]:
    """Return the notes that hold for every layer of one run, in plain words."""
    limits = limits_of(metadata)
    notes = [
        f"Rates need at least {limits['min_population']:,} residents; values based on fewer "
        f"than {limits['min_count']} requests are marked unstable.",
        "Median time to close: half of the requests closed within this time. Requests "
        "still open when the data were extracted count as still waiting; where fewer than "
        "half had closed by then, the median is shown as not reached (over the days the "
        "data cover).",
    ]
    if (metadata.get("indicators") or {}).get("type_adjustment"):
        notes.append(
            "Closure speed adjusted for request type: closures observed in an area divided by "
            "the closures expected if each of its requests closed as fast as requests of the "
            "same type do citywide."
        )
    return notes


#: Plain words of each step of the request count in the table metadata (``rows``).
_ROW_WORDS = {
    "rows": ("Rows", "rows in the input files"),
    "no_requested_datetime": ("No request time", "dropped: no time the request was made"),
    "created_after_as_of": ("Made after the extract", "dropped: made after the data were "
                            "extracted"),
    "filtered_out": ("Not selected", "dropped: not of the service types, agencies or ways of "
                     "reporting chosen"),
    "not_assigned_to_area": ("Not placed", "dropped: not placed in any area of the layer"),
    "area_id_not_in_layer": ("Unknown area", "dropped: its area is not among the layer's areas"),
    "in_scope": ("In scope", "left after these steps"),
    "duplicates_excluded": ("Duplicates", "set aside: repeat reports of a problem already "
                            "reported"),
    "transfers_excluded": ("Transfers", "set aside: passed on to another agency"),
    "other_demand_excluded": ("Other kind", "set aside: not the kind of request counted "
                              "(residents' or staff-filed, see the top of the page)"),
    "counted": ("Counted", "counted requests"),
    "ttc_excluded_negative": ("Not timed: closed before made", "counted, but not timed: "
                              "closed before it was made"),
    "ttc_excluded_no_closed_time": ("Not timed: no closing time", "counted, but not timed: "
                                    "closed without a closing time"),
    "ttc_excluded_implausible": ("Not timed: implausibly long", "counted, but not timed: "
                                 "open longer than the plausible maximum"),
}  # fmt: skip


def row_words(step: str) -> tuple[str, str]:
    """Return the label and meaning of one step of the request count, in plain words.

    Examples
    --------
    >>> row_words("duplicates_excluded")
    ('Duplicates', 'set aside: repeat reports of a problem already reported')
    >>> row_words("new_step")
    ('new step', '')
    """
    return _ROW_WORDS.get(step, (step.replace("_", " "), ""))


def layer_notes(metadata: Mapping[str, Any], *, title: str) -> list[str]:
    """Vintage, denominator and exclusion notes of one layer, in plain words."""
    meta = metadata
    info = meta.get("indicators") or {}
    population = population_words(meta)
    notes = [
        f"{title}: boundary vintage {meta.get('vintage') or 'unknown'}; source: "
        f"{meta.get('layer_source') or 'unknown'}.",
        f"{title}: population: {population}."
        if population != NO_POPULATION
        else f"{title}: {NO_POPULATION}, so no requests per 1,000 residents; the numbers "
        "of requests and requests per km² are still given.",
    ]
    rows = info.get("rows") or {}
    setaside = [
        f"{fmt(n, 'count')} {row_words(k)[1].split(': ', 1)[-1]}"
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


def population_source(metadata: Mapping[str, Any]) -> str:
    """Return the population source in words for legends ("" when there is none).

    Examples
    --------
    >>> population_source({"denominators": {"source": "tl_2020_24_tract.zip", "year": "2020"}})
    'Census 2020 population'
    >>> population_source({})
    ''
    """
    words = population_words(metadata)
    return "" if words == NO_POPULATION else words


def population_words(metadata: Mapping[str, Any]) -> str:
    """Return where the population comes from, in words ("Census 2020 population").

    Census TIGER/decennial files read "Census <year> population", American
    Community Survey tables "American Community Survey <year> population
    estimates"; any other table "population from the table given for this run
    (<year>)". File names are never shown.

    Examples
    --------
    >>> population_words({"denominators": {"source": "tl_2020_24_tract.zip (https://www2."
    ...     "census.gov/geo/tiger/TIGER2020/TRACT/)", "year": "2020"}})
    'Census 2020 population'
    >>> population_words({"denominators": {"source": "ACS 5-year B01003", "year": "2021"}})
    'American Community Survey 2021 population estimates'
    >>> population_words({})
    'no population denominator for this layer'
    """
    denominators = metadata.get("denominators") or {}
    info = metadata.get("indicators") or {}
    source = str(denominators.get("source") or info.get("population_source") or "")
    if not source:
        return NO_POPULATION
    variables = denominators.get("variables") or {}
    year = (variables.get("population") or {}).get("year") or denominators.get("year") or ""
    year = f" {year}" if re.fullmatch(r"\d{4}", str(year)) else ""
    text = source.lower()
    if "synthetic" in text:
        return f"made-up population of the demo city{f' ({year.strip()})' if year else ''}"
    if re.search(r"\bacs\b|american community survey", text):
        return f"American Community Survey{year} population estimates"
    if re.search(r"census|tiger|\btl_\d{4}|decennial", text):
        return f"Census{year} population"
    return f"population from the table given for this run{f' ({year.strip()})' if year else ''}"


def pct(value: float) -> str:
    """Return a 0-1 share as a percentage with one decimal."""
    return fmt(value, "share")

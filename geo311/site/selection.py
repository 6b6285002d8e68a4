"""The data behind every page in plain words: sources, their dates, which requests count.

:func:`selection_context` reads the metadata the indicator stage wrote for a
layer and returns what the box at the top of every page states: each input
file with the dates of its requests and the time its data were extracted (in
the city's time zone), warnings about the inputs (files whose extract times
differ), the period, which requests are counted and where the population
comes from. No option names, column names or file names of denominators:
"Census 2020 population", not ``tl_2020_24_tract.zip``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import pandas as pd

from geo311.site.text import fmt, is_missing, population_words

__all__ = ["counted_text", "plain_warning", "selection_context", "when"]


def when(value: Any, timezone: str | None, *, time: bool = True) -> str:
    """Return a timestamp as "21 Oct 2019, 11:50" in ``timezone`` ("unknown" when missing).

    Examples
    --------
    >>> when("2019-10-21T15:50:11+00:00", "America/New_York")
    '21 Oct 2019, 11:50'
    >>> when("2019-10-18T19:25:38+00:00", "America/New_York", time=False)
    '18 Oct 2019'
    >>> when(None, "UTC")
    'unknown'
    """
    if value is None or value == "" or is_missing(value):
        return "unknown"
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return str(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    if timezone:
        with contextlib.suppress(KeyError, ValueError):  # unknown zone: keep the stored time
            stamp = stamp.tz_convert(timezone)
    text = f"{stamp.day} {stamp.strftime('%b %Y')}"
    return f"{text}, {stamp.strftime('%H:%M')}" if time else text


def counted_text(metadata: Mapping[str, Any]) -> str:
    """Return which requests count, in plain words.

    Examples
    --------
    >>> counted_text({"indicators": {"demand": "resident"}})  # doctest: +NORMALIZE_WHITESPACE
    'Requests made by residents count; requests city staff file themselves, repeat reports
    of a problem already reported (duplicates) and requests passed on to another agency
    (transfers) are left out.'
    """
    info = metadata.get("indicators") or {}
    demand = str(info.get("demand") or "resident")
    who = {
        "resident": ("Requests made by residents count", "requests city staff file themselves"),
        "proactive": ("Only requests city staff file themselves count", "residents' requests"),
        "all": ("Requests made by residents and by city staff count", ""),
    }.get(demand, (f"Requests of type {demand!r} count", ""))
    left_out = [who[1]] if who[1] else []
    if not info.get("include_duplicates", False):
        left_out.append("repeat reports of a problem already reported (duplicates)")
    if not info.get("include_transfers", False):
        left_out.append("requests passed on to another agency (transfers)")
    if not left_out:
        return f"{who[0]}."
    listed = (
        left_out[0] if len(left_out) == 1 else ", ".join(left_out[:-1]) + " and " + left_out[-1]
    )
    return f"{who[0]}; {listed} are left out."


_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?")
_PLAIN = (
    ("are censored at its own as-of time", "count as open until its extract time"),
    ("censored at its own as-of time", "counted as open until its extract time"),
    ("as-of time", "extract time"),
    ("figures pool periods that differ by source", "the figures mix periods that differ by file"),
)


def plain_warning(text: str, timezone: str | None) -> str:
    """Return a metadata warning in plain words, its timestamps in the city's time zone.

    Examples
    --------
    >>> plain_warning("a.csv as of 2019-10-21 15:50:11+00:00; its open requests "
    ...     "are censored at its own as-of time", "America/New_York")
    'a.csv as of 21 Oct 2019, 11:50; its open requests count as open until its extract time'

    """
    out = _STAMP.sub(lambda m: when(m.group(0), timezone), text)
    for old, new in _PLAIN:
        out = out.replace(old, new)
    return out


def _filters_text(info: Mapping[str, Any]) -> str:
    filters = info.get("filters") or {}
    parts = []
    for key, words in (
        ("service_types", "service types"),
        ("agencies", "agencies"),
        ("sources", "ways of reporting"),
    ):
        chosen = filters.get(key)
        if chosen:
            values = [str(v) for v in ([chosen] if isinstance(chosen, str) else chosen)]
            parts.append(f"only these {words}: {', '.join(values)}")
    return "; ".join(parts) if parts else "all service types, agencies and ways of reporting"


def _source_line(source: Mapping[str, Any], timezone: str | None) -> str:
    name = PurePath(str(source.get("file") or "input")).name
    first = when(source.get("first_requested"), timezone, time=False)
    last = when(source.get("last_requested"), timezone, time=False)
    span = first if first == last else f"{first} to {last}"
    how = str(source.get("as_of_source") or "")
    how_words = " (the latest time in the file)" if "latest" in how else ""
    return (
        f"{name}: {fmt(source.get('rows'), 'count')} rows, requests made {span}; data as of "
        f"{when(source.get('as_of'), timezone)}{how_words}."
    )


def _period_text(info: Mapping[str, Any], timezone: str | None) -> str:
    period = info.get("period") or {}
    start, end = period.get("start"), period.get("end")
    if not start and not end:
        return "every request in the files, up to the time each file's data were extracted"
    begin = when(start, timezone) if start else "the first request"
    finish = f"up to (not including) {when(end, timezone)}" if end else "up to the extract time"
    return f"requests made from {begin} {finish}"


def selection_context(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Return the sources-and-selection box of a page: plain-words lines and warnings.

    Parameters
    ----------
    metadata : mapping
        A layer's table metadata (``LayerTables.metadata``).

    Returns
    -------
    dict
        ``sources`` (one line per input file), ``warnings`` (texts for the
        warning box, possibly empty), ``period``, ``counted``, ``filters``,
        ``population``, ``timezone`` and ``as_of`` (the latest extract time, in words).
    """
    info = metadata.get("indicators") or {}
    timezone = info.get("timezone") or None
    sources = [_source_line(s, timezone) for s in info.get("sources") or []]
    warnings = [plain_warning(str(w), timezone) for w in info.get("warnings") or []]
    total = info.get("population_total")
    population = population_words(metadata)
    if not is_missing(total) and total is not None:
        population += f" ({fmt(total, 'count')} residents)"
    return {
        "sources": sources,
        "warnings": warnings,
        "period": _period_text(info, timezone),
        "counted": counted_text(metadata),
        "filters": _filters_text(info),
        "population": population,
        "timezone": str(timezone or "the time zone of the data"),
        "as_of": when(info.get("as_of"), timezone),
    }

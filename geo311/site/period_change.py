"""Change vs the previous period on the district cards, in plain words.

The figures come from the indicator stage (:mod:`geo311.indicators.change`:
the same indicators, by the same rules, over the window of the same length
just before the run's period); this module only words them, with the
formats the cards use: "12 more than in the previous 7 days (+8%)". When the
data do not cover that window the cards say "no previous period in the
data" and the page says why, never a change from zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from geo311.indicators.change import CHANGE_COLUMNS, period_change
from geo311.indicators.scope import CITY_ID
from geo311.site.layer import SiteLayer
from geo311.site.selection import when
from geo311.site.text import fmt, is_missing

__all__ = [
    "NO_PREVIOUS",
    "change_sentence",
    "change_table",
    "period_change_context",
    "window_words",
]

#: What a card says when the data hold no previous period.
NO_PREVIOUS = "no previous period in the data"

#: The card each compared indicator is shown on.
CARD_OF = {
    "requests": "rate_per_1k",
    "rate_per_1k": "rate_per_1k",
    "ttc_median_days": "ttc_median_days",
    "on_time_share": "on_time_share",
}

# up and down words, and the format of the absolute change, per indicator
_WORDS = {
    "requests": ("more", "fewer", "count", "", "Requests"),
    "rate_per_1k": ("higher", "lower", "rate", "", "Per 1,000 residents"),
    "ttc_median_days": ("longer", "shorter", "days", " days", "Median"),
    "on_time_share": ("higher", "lower", "points", " percentage points", "On time"),
}


def window_words(days: float) -> str:
    """Return the previous window in words.

    Examples
    --------
    >>> window_words(7.0), window_words(1.0), window_words(1.5), window_words(2.75)
    ('the previous 7 days', 'the previous day', 'the previous 36 hours', 'the previous 2.8 days')
    """
    if abs(days - round(days)) < 1e-9:
        whole = round(days)
        return "the previous day" if whole == 1 else f"the previous {whole:,} days"
    if days < 2:
        return f"the previous {round(24 * days):,} hours"
    return f"the previous {days:.1f} days"


def change_sentence(
    column: str, change: Any, pct: Any, *, now: Any, before: Any, window: str
) -> str:
    """Return one indicator's change in words, formatted as the cards format the value.

    Parameters
    ----------
    column : str
        One of :data:`geo311.indicators.change.CHANGE_COLUMNS`.
    change, pct : float
        Absolute and relative (%) change (NaN when not comparable).
    now, before : float
        The value of the run's period and of the previous one (NaN when none).
    window : str
        The previous period in words (:func:`window_words`).

    Examples
    --------
    >>> change_sentence("requests", 12, 8.2, now=158, before=146, window="the previous 31 days")
    '12 more than in the previous 31 days (+8%)'
    >>> change_sentence(
    ...     "on_time_share", -0.031, -5.0, now=0.589, before=0.62, window="the previous day"
    ... )
    '3.1 percentage points lower than in the previous day (-5%)'
    >>> change_sentence("ttc_median_days", None, None, now=2.0, before=None, window="the day")
    'not comparable: no value in the day'
    """
    if is_missing(change):
        where = {
            (True, True): "either period",
            (False, True): window,
            (True, False): "this period",
        }.get((is_missing(now), is_missing(before)), "one of the periods")
        return f"not comparable: no value in {where}"
    up, down, kind, unit, _ = _WORDS[column]
    size = abs(float(change))
    text = f"{100 * size:.1f}" if kind == "points" else fmt(size, kind)
    if float(text.replace(",", "")) == 0:
        return f"the same as in {window}"
    words = f"{text}{unit} {up if float(change) > 0 else down} than in {window}"
    if not is_missing(pct) and math.isfinite(float(pct)):
        words += f" ({float(pct):+.0f}%)"
    return words


def change_table(layer: SiteLayer) -> pd.DataFrame | None:
    """Return the change of every area and the city (``area_id == "city"``); None without one."""
    if layer.previous is None:
        return None
    index = pd.Index([*layer.indicators.index, CITY_ID], name="area_id")
    current = pd.DataFrame(
        {
            column: pd.to_numeric(
                [
                    *layer.indicators.get(column, [None] * len(layer.indicators)),
                    layer.city.get(column),
                ],
                errors="coerce",
            )
            for column in CHANGE_COLUMNS
        },
        index=index,
    )
    return period_change(current, layer.previous)


def _value(layer: SiteLayer, area_id: str, column: str) -> Any:
    """Return an area's (or the city's) value of ``column`` in the run's period."""
    row = layer.city if area_id == CITY_ID else layer.indicators.loc[area_id]
    return row.get(column)


def period_change_context(
    layer: SiteLayer,
    changes: pd.DataFrame | None,
    area_id: str,
    *,
    area_label: str,
    min_count: int,
) -> dict[str, Any]:
    """Return the page's change statement and each card's change lines (by card column).

    Parameters
    ----------
    layer : SiteLayer
        The district layer (its metadata describe the previous period).
    changes : pandas.DataFrame or None
        :func:`change_table` of the layer.
    area_id, area_label : str
        The district and its name on the page.
    min_count : int
        The small-number rule: a change between periods either of which
        has fewer requests is marked unstable.

    Returns
    -------
    dict
        ``summary`` (one sentence: the window compared, or why there is
        none) and ``cards``: card column -> list of ``{"label", "text"}``.
    """
    info: Mapping[str, Any] = layer.metadata.get("previous_period") or {}
    timezone = (layer.metadata.get("indicators") or {}).get("timezone")
    cards: dict[str, list[dict[str, str]]] = {c: [] for c in dict.fromkeys(CARD_OF.values())}
    if changes is None or not info.get("covered"):
        reason = str(info.get("reason") or "the tables hold no previous period")
        for lines in cards.values():
            lines.append({"label": "Change", "text": NO_PREVIOUS})
        return {"summary": f"Change: {NO_PREVIOUS}: {reason}.", "cards": cards}
    window = window_words(float(info["days"]))
    end = pd.Timestamp(info["end"]) - pd.Timedelta(1, "ns")
    span = f"{when(info['start'], timezone, time=False)} to {when(end, timezone, time=False)}"
    for column in CHANGE_COLUMNS:
        _, _, _, _, what = _WORDS[column]
        for label, row_id in ((area_label, area_id), ("City", CITY_ID)):
            text = change_sentence(
                column,
                changes.at[row_id, f"{column}_change"],
                changes.at[row_id, f"{column}_change_pct"],
                now=_value(layer, row_id, column),
                before=changes.at[row_id, f"{column}_previous"],
                window=window,
            )
            counts: tuple[Any, Any] = (
                changes.at[row_id, "requests_previous"],
                _value(layer, row_id, "requests"),
            )
            if any(is_missing(n) or float(n) < min_count for n in counts):
                text += f"; unstable: fewer than {min_count} requests in a period"
            cards[CARD_OF[column]].append({"label": f"{what}, {label}", "text": text})
    summary = (
        f"Each card compares the period with {window} ({span}), counted by the same rules. "
        "Requests of the previous period had longer to be closed by the time the data "
        "were extracted."
    )
    return {"summary": summary, "cards": cards}

"""The equity summary of the index page: quintile groups of areas, in a table and a sentence.

The indicator stage ranks the areas of a layer (by a demographic variable,
or by population when none is given: ``ranked_by`` says which), splits them
into five groups of about equal size and pools each group's requests
(``quantile_value`` rows of ``LayerTables.equity``); ``quantile_ratio``
compares the first group with the last. This module states that in plain
words: which ranking, one row per group, and one sentence on the request
rate. A median the data do not reach reads "over N days (not reached)".
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from geo311.site.html_tables import cell, header, plain_rows
from geo311.site.layer import SiteLayer
from geo311.site.specs import followup_days, not_reached_text, reached_state
from geo311.site.text import fmt, is_missing

__all__ = ["equity_section"]

#: The indicators of the quintile table: column -> (header, format of the value).
_SHOWN = {
    "rate_per_1k": ("Requests per 1,000 residents", "rate"),
    "ttc_median_days": ("Median time to close (days)", "days"),
    "on_time_share": ("Share closed on time", "share"),
}


def _value(row: pd.Series | None, kind: str) -> str:
    if row is None:
        return "not available"
    value = row.get("value")
    if is_missing(value):
        last = str(row.get("note") or "").split("; ")[-1]
        if reached_state(last):
            return not_reached_text("days" if kind == "days" else "percent", followup_days(last))
        return "not available"
    text = fmt(value, kind)
    low, high = row.get("ci_low"), row.get("ci_high")
    if not is_missing(low) and not is_missing(high):
        text += f" ({fmt(low, kind)} to {fmt(high, kind)})"
    return text


def equity_section(layer: SiteLayer) -> dict[str, Any] | None:
    """Return the equity section of the index page for ``layer``, or None without quintiles.

    Returns
    -------
    dict or None
        ``title``, ``sentence`` (the request rate of the first and last group
        in words, with their ratio), ``ranked_by`` and ``table`` (one row per group).
    """
    equity = layer.equity
    if equity.empty or "measure" not in equity:
        return None
    quint = equity[equity["measure"] == "quantile_value"]
    if quint.empty:
        return None
    groups = sorted(int(q) for q in quint["quantile"].dropna().unique())
    named = quint["ranked_by"].dropna() if "ranked_by" in quint else pd.Series(dtype=object)
    ranked_by = str(named.iloc[0]) if len(named) else "the variable given"
    by = {
        (str(r["indicator"]), int(r["quantile"])): r
        for _, r in quint.iterrows()
        if not is_missing(r["quantile"])
    }
    rows = []
    for q in groups:
        first = next((by[(c, q)] for c in _SHOWN if (c, q) in by), pd.Series(dtype=object))
        end = " (lowest)" if q == groups[0] else " (highest)" if q == groups[-1] else ""
        counts = [fmt(first.get(c), "count") for c in ("n_areas", "population", "requests")]
        rows.append(
            [cell(f"Group {q}{end}")]
            + [cell(text, numeric=True) for text in counts]
            + [cell(_value(by.get((c, q)), kind), numeric=True) for c, (_, kind) in _SHOWN.items()]
        )
    areas = layer.title.lower()
    table = {
        "id": "equity-table",
        "caption": f"{layer.title} in {len(groups)} groups ranked by {ranked_by}",
        "headers": [
            header("Group"),
            header("Areas", numeric=True),
            header("Residents", numeric=True),
            header("Requests", numeric=True),
            *(header(label, numeric=True) for label, _ in _SHOWN.values()),
        ],
        "rows": plain_rows(rows),
    }
    return {
        "title": f"Equity: {areas} grouped by {ranked_by.split(' (')[0]}",
        "ranked_by": ranked_by,
        "sentence": _sentence(equity, by, groups, areas=areas, ranked_by=ranked_by),
        "table": table,
    }


def _sentence(
    equity: pd.DataFrame,
    by: dict[tuple[str, int], pd.Series],
    groups: list[int],
    *,
    areas: str,
    ranked_by: str,
) -> str:
    low, high = groups[0], groups[-1]
    text = (
        f"The {areas} are ranked by {ranked_by} and split into {len(groups)} groups of about "
        f"equal size; group {low} holds the lowest values, group {high} the highest."
    )
    first, last = by.get(("rate_per_1k", low)), by.get(("rate_per_1k", high))
    if first is None or last is None or is_missing(first["value"]) or is_missing(last["value"]):
        return text
    text += (
        f" Residents of group {low} made {fmt(first['value'], 'rate')} requests per 1,000 "
        f"residents, those of group {high} {fmt(last['value'], 'rate')}"
    )
    ratio = equity[
        (equity["measure"] == "quantile_ratio") & (equity["indicator"] == "rate_per_1k")
    ]
    if len(ratio) and not is_missing(ratio["value"].iloc[0]):
        r = ratio.iloc[0]
        text += f": {fmt(r['value'], 'ratio')} times as many"
        if not is_missing(r["ci_low"]) and not is_missing(r["ci_high"]):
            text += f" (95% CI {fmt(r['ci_low'], 'ratio')} to {fmt(r['ci_high'], 'ratio')})"
    return text + "."

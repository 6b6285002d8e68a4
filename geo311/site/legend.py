"""The legend of a choropleth layer and the SVG hatch patterns its areas are filled with.

The legend states the title, the unit and the denominator with its source
and year, one entry per class with its area count, and its own entries for
unstable (hatched over the class colour), insufficient-data areas (grey,
hatched) and areas whose time to close the data do not reach ("not
reached", crossed the other way in the darkest class colour over white: slower
than the follow-up, never mistaken for missing data). A sentence in words may
say how to read the colours (diverging layers). Every text is escaped here
with :func:`~geo311.site.escape.escape_html`; the HTML goes into the page body
as is, never through a template engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geo311.site.classify import NA_FILL, NA_HATCH, NOT_REACHED_HATCH, UNSTABLE_HATCH, Classes
from geo311.site.escape import escape_html
from geo311.site.specs import NOT_REACHED, flag_label

__all__ = ["LegendInput", "legend_and_patterns"]


def _swatch(fill: str) -> str:
    return (
        '<svg width="18" height="14" aria-hidden="true" focusable="false">'
        f'<rect width="18" height="14" fill="{escape_html(fill)}"/></svg>'
    )


def _hatch_pattern(
    pattern_id: str, background: str, line: str, *, width: float, angle: int = 45
) -> str:
    return (
        f'<pattern id="{escape_html(pattern_id)}" patternUnits="userSpaceOnUse" width="7" '
        f'height="7" patternTransform="rotate({angle})">'
        f'<rect width="7" height="7" fill="{escape_html(background)}"/>'
        f'<line x1="0" y1="0" x2="0" y2="7" stroke="{escape_html(line)}" '
        f'stroke-width="{width}" stroke-opacity="0.75"/></pattern>'
    )


@dataclass(frozen=True)
class LegendInput:
    """What a legend states: title, unit, denominator, classes and flagged-area counts."""

    title: str
    unit: str
    denominator: str | None
    classes: Classes
    n_unstable: int
    n_insufficient: int
    min_count: int
    scheme_label: str
    n_not_reached: int = 0
    followup: str | None = None  # the follow-up horizon in words, e.g. "2.8 days"
    note: str | None = None  # how to read the colours, in words


def legend_and_patterns(uid: str, info: LegendInput) -> tuple[str, dict[str, Any]]:
    """Escaped legend HTML + hidden SVG patterns, and the ids the script needs."""
    na_id = f"{uid}-hatch-na"
    nr_id = f"{uid}-hatch-not-reached"
    unstable_ids = [f"{uid}-hatch-unstable-{i}" for i in range(info.classes.k)]
    patterns = [_hatch_pattern(na_id, NA_FILL, NA_HATCH, width=2.2)]
    patterns += [
        _hatch_pattern(pid, color, UNSTABLE_HATCH, width=1.2)
        for pid, color in zip(unstable_ids, info.classes.colors, strict=True)
    ]
    legend_unstable = f"{uid}-hatch-unstable-legend"
    patterns.append(_hatch_pattern(legend_unstable, "#ffffff", UNSTABLE_HATCH, width=1.2))
    patterns.append(_hatch_pattern(nr_id, "#ffffff", NOT_REACHED_HATCH, width=2.6, angle=-45))
    svg = (
        '<svg class="geo311-patterns" aria-hidden="true" focusable="false" width="0" '
        f'height="0"><defs>{"".join(patterns)}</defs></svg>'
    )
    title_id = f"{uid}-legend-title"
    items = []
    for i, (color, label, count) in enumerate(
        zip(info.classes.colors, info.classes.labels, info.classes.counts, strict=True)
    ):
        items.append(
            f'<li class="geo311-legend-class" data-class="{i}">{_swatch(color)}'
            f"<span>{escape_html(label)}</span>"
            f' <span class="geo311-count">({count} area{"s" if count != 1 else ""})</span></li>'
        )
    for flag, pid, n in (
        (NOT_REACHED, nr_id, info.n_not_reached),
        ("unstable", legend_unstable, info.n_unstable),
        ("insufficient", na_id, info.n_insufficient),
    ):
        if n:
            text = flag_label(flag, info.min_count, followup=info.followup)
            items.append(
                f'<li class="geo311-legend-{flag.replace("_", "-")}" data-flag="{flag}">'
                f"{_swatch(f'url(#{pid})')}<span>{escape_html(text)}</span>"
                f' <span class="geo311-count">({n} area{"s" if n != 1 else ""})</span></li>'
            )
    parts = [
        # focusable: the legend scrolls when it is taller than its box (max-height in CSS)
        f'<div class="geo311-legend" id="{uid}-legend" role="group" tabindex="0" '
        f'aria-labelledby="{title_id}">',
        f'<p class="geo311-legend-title" id="{title_id}">{escape_html(info.title)}</p>',
        f'<p class="geo311-legend-unit">{escape_html(info.unit)}</p>' if info.unit else "",
        (
            '<p class="geo311-legend-denominator">'
            f"Denominator: {escape_html(info.denominator)}</p>"
            if info.denominator
            else ""
        ),
        f'<p class="geo311-legend-note">{escape_html(info.note)}</p>' if info.note else "",
        f"<ul>{''.join(items)}</ul>",
        f'<p class="geo311-legend-scheme">Classes: {escape_html(info.scheme_label)}</p>',
        "</div>",
    ]
    cfg = {"na": na_id, "notReached": nr_id, "unstable": unstable_ids}
    return svg + "".join(parts), cfg

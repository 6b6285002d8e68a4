"""Small accessible charts as inline SVG strings, readable without JavaScript.

Three pure functions, standard library only:

* :func:`bar_chart` — horizontal bars (long labels wrap), optionally with a
  comparison series drawn as a dashed outline bar under each bar;
* :func:`line_chart` — one line per series over ordered labels (months),
  with gaps where a value is missing;
* :func:`chart_table` — the same numbers as a small HTML ``<table>``.

Accessibility: every SVG has ``role="img"``, a ``<title>`` and a ``<desc>``
(a text summary naming every value) referenced by ``aria-labelledby``; the
values are printed as text beside the bars (colour is never the only channel:
the comparison is an outline, line series differ in dash pattern and marker
shape and are labelled directly); text is near-black on a white background
(contrast far above 4.5:1, see :func:`contrast_ratio`).  No script, no
external font or stylesheet, only presentation attributes, so the markup
works under a strict Content-Security-Policy.

Every label is escaped with ``html.escape(..., quote=True)`` (plus
backticks, and characters XML forbids are dropped), so the output is
well-formed XML and inert HTML whatever the labels contain.  Output is
deterministic; element ids derive from ``chart_id`` or, by default, from a
hash of the chart's content, so several charts on one page do not clash
(pass ``chart_id`` when the same chart appears twice).

Examples
--------
>>> svg = bar_chart(["Mon", "Tue"], [12, 30], title="Requests by day", unit="requests")
>>> svg.startswith("<svg") and 'role="img"' in svg
True
>>> nice_ticks(0, 87)
[0, 20, 40, 60, 80, 100]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from geo311._errors import OptionError
from geo311.site._svg import (
    BACKGROUND,
    BAR_COLOUR,
    COMPARE_COLOUR,
    FONT_SIZE,
    GRID_COLOUR,
    LINE_HEIGHT,
    MISSING_TEXT,
    MUTED_TEXT,
    PAD,
    TEXT_COLOUR,
    Scale,
    ValueFormat,
    as_numbers,
    chart_element_id,
    contrast_ratio,
    esc,
    formatter,
    nf,
    nice_ticks,
    num,
    svg_open,
    text_labels,
    text_width,
    tick_labels,
    title_text,
    value_range,
    wrap_label,
)
from geo311.site.line_chart import line_chart

__all__ = [
    "BACKGROUND",
    "TEXT_COLOUR",
    "bar_chart",
    "chart_table",
    "contrast_ratio",
    "line_chart",
    "nice_ticks",
]


# --------------------------------------------------------------------------- bar chart


def _bar_desc(
    names: Sequence[str],
    data: Sequence[float],
    other: Sequence[float] | None,
    fmt: Callable[[float], str],
    *,
    unit: str,
    compare_label: str,
) -> str:
    """Text alternative of a bar chart: size, extremes and every value."""
    pairs = [
        f"{name}: {fmt(v)}" + ("" if other is None else f" ({compare_label} {fmt(other[i])})")
        for i, (name, v) in enumerate(zip(names, data, strict=True))
    ]
    top, bottom = value_range(names, data, fmt)
    desc = f"Bar chart of {unit} for {len(names)} categor{'y' if len(names) == 1 else 'ies'}"
    desc += f", compared with {compare_label}" if other is not None else ""
    desc += f". Highest: {top}; lowest: {bottom}." if top else ". No data."
    return desc + " Values: " + "; ".join(pairs) + "."


def _bar_legend(y: float, series_label: str, compare_label: str) -> list[str]:
    """Legend: filled swatch for the bars, dashed outline swatch for the comparison."""
    second = PAD + 40 + text_width(series_label)
    return [
        '<g class="legend">',
        f'<rect x="{PAD}" y="{nf(y)}" width="14" height="10" fill="{BAR_COLOUR}"/>',
        f'<text x="{PAD + 20}" y="{nf(y + 9)}">{esc(series_label)}</text>',
        f'<rect x="{nf(second)}" y="{nf(y)}" width="14" height="10" fill="none" '
        f'stroke="{COMPARE_COLOUR}" stroke-width="1.5" stroke-dasharray="3 2"/>',
        f'<text x="{nf(second + 20)}" y="{nf(y + 9)}">{esc(compare_label)}</text>',
        "</g>",
    ]


def _x_grid(
    ticks: Sequence[float], texts: Sequence[str], x: Scale, top: float, bottom: float
) -> list[str]:
    parts = ['<g class="grid" aria-hidden="true">']
    for tick, text in zip(ticks, texts, strict=True):
        tx = x(float(tick))
        parts.append(
            f'<line x1="{nf(tx)}" y1="{nf(top)}" x2="{nf(tx)}" y2="{nf(bottom)}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
        )
        parts.append(
            f'<text class="tick" x="{nf(tx)}" y="{nf(bottom + 14)}" text-anchor="middle" '
            f'fill="{MUTED_TEXT}">{esc(text)}</text>'
        )
    parts.append("</g>")
    return parts


def _bar(
    value: float,
    *,
    tooltip: str,
    text: str,
    x: Scale,
    y: float,
    thickness: float,
    kind: str,
) -> str:
    """One bar (filled, or a dashed outline for the comparison) and its printed value."""
    zero = x(0.0)
    if math.isnan(value):
        return (
            f'<text class="{kind}-missing" x="{nf(zero + 4)}" y="{nf(y + thickness - 3)}" '
            f'fill="{MUTED_TEXT}" font-style="italic">{esc(text)}</text>'
        )
    end = x(value)
    if kind == "bar":
        style = f'fill="{BAR_COLOUR}"'
    else:
        style = f'fill="none" stroke="{COMPARE_COLOUR}" stroke-width="1.5" stroke-dasharray="3 2"'
    size = FONT_SIZE if kind == "bar" else FONT_SIZE - 1
    return (
        f'<rect class="{kind}" x="{nf(min(zero, end))}" y="{nf(y)}" '
        f'width="{nf(abs(end - zero))}" height="{nf(thickness)}" {style}>'
        f"<title>{esc(tooltip)}</title></rect>"
        f'<text class="{kind}-value" x="{nf(max(zero, end) + 5)}" y="{nf(y + thickness - 3)}" '
        f'font-size="{size}">{esc(text)}</text>'
    )


def _label_text(lines: Sequence[str], x: float, mid: float) -> str:
    """Draw a right-aligned, vertically centred, possibly multi-line category label."""
    first = mid - (len(lines) - 1) * LINE_HEIGHT / 2 + 4
    spans = "".join(
        f'<tspan x="{nf(x)}" dy="{0 if k == 0 else LINE_HEIGHT}">{esc(line)}</tspan>'
        for k, line in enumerate(lines)
    )
    return f'<text class="label" x="{nf(x)}" y="{nf(first)}" text-anchor="end">{spans}</text>'


def bar_chart(
    labels: Sequence[Any],
    values: Sequence[Any],
    *,
    title: str,
    unit: str,
    compare: Sequence[Any] | None = None,
    compare_label: str = "City",
    series_label: str = "This area",
    value_format: ValueFormat = "{:,.0f}",
    width: float = 640,
    height: float | None = None,
    chart_id: str | None = None,
    show_title: bool = True,
    missing_text: str = MISSING_TEXT,
) -> str:
    """Horizontal bar chart as an accessible inline SVG string.

    Parameters
    ----------
    labels : sequence
        Category names (1 to about 24), one bar each, top to bottom.  Long
        names wrap onto up to three lines (the full name stays in the
        tooltip, the description and the table).
    values : sequence of float
        One value per label; None/NaN is shown as the text "no data".
    title : str
        Chart title: the SVG ``<title>`` and, with ``show_title``, drawn on top.
    unit : str
        What the values measure ("requests", "share of requests"): the axis title.
    compare : sequence of float, optional
        A comparison value per label (e.g. the city), drawn as a dashed
        outline bar under each bar, with its value printed and a legend.
    compare_label, series_label : str
        Legend names of the comparison and of the main bars.
    value_format : str or callable, default ``"{:,.0f}"``
        Format of the printed values and the axis ticks (``"{:.0%}"``, or a
        function of a float returning text).
    width : float, default 640
        Width in pixels (the SVG also has a ``viewBox``, so CSS can scale it).
    height : float, optional
        Height in pixels; default (and minimum) what the rows need.
    chart_id : str, optional
        Prefix of the element ids; default a hash of the content.
    show_title : bool, default True
        Draw the title as visible text (the accessible title is always set).
    missing_text : str, default "no data"
        What a missing value (or comparison) reads, e.g. "no data (day not covered)".

    Returns
    -------
    str
        ``<svg ...>...</svg>``.

    Raises
    ------
    OptionError
        No labels, or ``values``/``compare`` not one per label.

    Examples
    --------
    >>> svg = bar_chart(
    ...     ["Mon", "Tue", "Wed"], [0.2, 0.5, 0.3], title="By day", unit="share",
    ...     compare=[0.3, 0.4, 0.3], value_format="{:.0%}", chart_id="days",
    ... )
    >>> svg.count('class="bar"'), svg.count('class="compare-bar"')
    (3, 3)
    >>> 'aria-labelledby="days-title days-desc"' in svg
    True
    """
    names = text_labels(labels)
    data = as_numbers(values, "values", len(names))
    other = None if compare is None else as_numbers(compare, "compare", len(names))
    fmt = formatter(value_format, missing=missing_text)
    cid = chart_element_id(chart_id, "bar", title, unit, names, data, other, compare_label, width)
    desc = _bar_desc(names, data, other, fmt, unit=unit, compare_label=compare_label)

    # horizontal layout: labels | bars | printed values
    texts = [fmt(v) for v in data + (other or [])]
    label_room = min(max(text_width(n) for n in names) + 8, 0.38 * width)
    wrapped = [wrap_label(n, int((label_room - 8) / text_width("x"))) for n in names]
    x0 = PAD + label_room
    x1 = max(x0 + 80, width - PAD - max(text_width(t) for t in texts) - 10)
    block = 30 if other is not None else 20
    rows = [max(block, len(lines) * LINE_HEIGHT + 4) + 8 for lines in wrapped]
    finite = [v for v in data + (other or []) if not math.isnan(v)]
    ticks = nice_ticks(min(finite, default=0.0), max(finite, default=0.0))
    x = Scale(ticks, x0, x1)

    parts, y = title_text(title, width, show_title)
    if other is not None:
        parts += _bar_legend(y, series_label, compare_label)
        y += 20
    top = y + 4
    bottom = top + sum(rows)
    parts += _x_grid(ticks, tick_labels(ticks, value_format), x, top, bottom)

    row_top = top
    thickness = 14.0 if other is not None else 18.0
    for i, name in enumerate(names):
        mid = row_top + rows[i] / 2
        bar_y = mid - (thickness + 13) / 2 if other is not None else mid - thickness / 2
        parts.append('<g class="row">')
        parts.append(_label_text(wrapped[i], x0 - 8, mid))
        parts.append(
            _bar(
                data[i],
                tooltip=f"{name} ({series_label}): {fmt(data[i])}",
                text=fmt(data[i]),
                x=x,
                y=bar_y,
                thickness=thickness,
                kind="bar",
            )
        )
        if other is not None:
            parts.append(
                _bar(
                    other[i],
                    tooltip=f"{name} ({compare_label}): {fmt(other[i])}",
                    text=fmt(other[i]),
                    x=x,
                    y=bar_y + thickness + 3,
                    thickness=10.0,
                    kind="compare-bar",
                )
            )
        parts.append("</g>")
        row_top += rows[i]
    parts.append(
        f'<line class="axis" x1="{nf(x(0.0))}" y1="{nf(top)}" x2="{nf(x(0.0))}" '
        f'y2="{nf(bottom)}" stroke="{TEXT_COLOUR}" stroke-width="1"/>'
    )
    parts.append(
        f'<text class="axis-title" x="{nf((x0 + x1) / 2)}" y="{nf(bottom + 32)}" '
        f'text-anchor="middle" fill="{MUTED_TEXT}">{esc(unit)}</text>'
    )
    total = max(float(height or 0), bottom + 44)
    return "\n".join([*svg_open(cid, width, total, title, desc), *parts, "</svg>"])


# --------------------------------------------------------------------------- table


def chart_table(
    labels: Sequence[Any],
    columns: Mapping[str, Sequence[Any]],
    *,
    caption: str,
    value_format: ValueFormat = "{:,.0f}",
    label_header: str = "",
    table_id: str | None = None,
) -> str:
    """Write the numbers behind a chart as a small accessible HTML table.

    Parameters
    ----------
    labels : sequence
        Row headers (``<th scope="row">``), one per row.
    columns : mapping of str to sequence
        Column header -> one value per label.  Numbers are formatted with
        ``value_format``; strings are shown as given (escaped); None/NaN
        shows "no data".
    caption : str
        The table's ``<caption>``.
    value_format : str or callable, default ``"{:,.0f}"``
        Format of numeric cells.
    label_header : str, default ""
        Header of the label column.
    table_id : str, optional
        ``id`` attribute of the table.

    Returns
    -------
    str
        ``<table>...</table>``.

    Examples
    --------
    >>> print(chart_table(["Mon"], {"Requests": [1234]}, caption="By day", label_header="Day"))
    <table class="geo311-chart-table">
    <caption>By day</caption>
    <thead><tr><th scope="col">Day</th><th scope="col">Requests</th></tr></thead>
    <tbody>
    <tr><th scope="row">Mon</th><td>1,234</td></tr>
    </tbody>
    </table>
    """
    names = text_labels(labels)
    fmt = formatter(value_format)
    cells: dict[str, list[str]] = {}
    for header, values in columns.items():
        column = list(values)
        if len(column) != len(names):
            msg = (
                f"column {header!r} has {len(column)} values but there are {len(names)} "
                "labels; pass one per label"
            )
            raise OptionError(msg)
        cells[str(header)] = [v if isinstance(v, str) else fmt(num(v)) for v in column]
    ident = "" if table_id is None else f' id="{chart_element_id(table_id)}"'
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in [label_header, *cells])
    body = [
        f'<tr><th scope="row">{esc(name)}</th>'
        + "".join(f"<td>{esc(cells[h][i])}</td>" for h in cells)
        + "</tr>"
        for i, name in enumerate(names)
    ]
    return "\n".join(
        [
            f'<table class="geo311-chart-table"{ident}>',
            f"<caption>{esc(caption)}</caption>",
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *body,
            "</tbody>",
            "</table>",
        ]
    )

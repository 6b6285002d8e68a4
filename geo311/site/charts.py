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

import hashlib
import html
import itertools
import math
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "BACKGROUND",
    "TEXT_COLOUR",
    "bar_chart",
    "chart_table",
    "contrast_ratio",
    "line_chart",
    "nice_ticks",
]

#: Colours.  Text is near-black and muted text dark grey on white (>= 7:1);
#: series strokes/fills are dark enough (>= 4.5:1) to stand out as graphics.
BACKGROUND = "#ffffff"
TEXT_COLOUR = "#1a1a1a"
MUTED_TEXT = "#474747"
GRID_COLOUR = "#d9d9d9"
BAR_COLOUR = "#2b5c8a"
COMPARE_COLOUR = "#1a1a1a"
#: Line series styles: (stroke, dash pattern, marker shape); they differ in more than colour.
LINE_STYLES: tuple[tuple[str, str, str], ...] = (
    ("#1f4e79", "", "circle"),
    ("#8a3b00", "7 4", "square"),
    ("#2d6a2d", "2 3", "triangle"),
    ("#5b2a86", "9 3 2 3", "diamond"),
)
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
FONT_SIZE = 12
_CHAR_WIDTH = 0.6  # average glyph width as a fraction of the font size (generous for sans)
_LINE_HEIGHT = 15
_PAD = 12
MISSING_TEXT = "no data"

ValueFormat = str | Callable[[float], str]

# characters XML 1.0 does not allow in text (C0 controls except tab/newline/CR, surrogates ...)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --------------------------------------------------------------------------- helpers


def _esc(text: Any) -> str:
    """Escape any value for XML/HTML text and attributes (backticks too)."""
    clean = _XML_INVALID.sub("", str(text))
    return html.escape(clean, quote=True).replace("`", "&#96;")


def _num(value: Any) -> float:
    """Return a finite float, or NaN for missing/non-finite values (None, NaN, pd.NA, inf)."""
    if value is None:
        return math.nan
    try:
        number = float(value)
    except TypeError:  # pd.NA and friends
        return math.nan
    return number if math.isfinite(number) else math.nan


def _numbers(values: Sequence[Any], name: str, size: int) -> list[float]:
    numbers = [_num(v) for v in values]
    if len(numbers) != size:
        msg = f"{name} has {len(numbers)} values but there are {size} labels; pass one per label"
        raise ValueError(msg)
    return numbers


def _labels(labels: Sequence[Any]) -> list[str]:
    texts = [str(label) for label in labels]
    if not texts:
        msg = "a chart needs at least one label"
        raise ValueError(msg)
    return texts


def _formatter(value_format: ValueFormat) -> Callable[[float], str]:
    def fmt(value: float) -> str:
        if math.isnan(value):
            return MISSING_TEXT
        if callable(value_format):
            return str(value_format(value))
        return value_format.format(value)

    return fmt


def _n(value: float) -> str:
    """Format a coordinate with one decimal, without ``-0`` or a trailing ``.0``."""
    text = f"{value:.1f}"
    if text in {"-0.0", "0.0"}:
        return "0"
    return text.removesuffix(".0")


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * _CHAR_WIDTH


def _chart_id(chart_id: str | None, *parts: Any) -> str:
    """Return a valid, deterministic XML id: the caller's (sanitised) or a content hash."""
    if chart_id is None:
        digest = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()
        return f"chart-{digest[:12]}"
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", chart_id)
    if not re.match(r"[A-Za-z_]", cleaned):
        cleaned = f"chart-{cleaned}"
    return cleaned


def contrast_ratio(foreground: str, background: str = BACKGROUND) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21).

    Examples
    --------
    >>> round(contrast_ratio("#000000", "#ffffff"), 1)
    21.0
    >>> contrast_ratio(TEXT_COLOUR) >= 4.5
    True
    """

    def luminance(colour: str) -> float:
        channels = [int(colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def nice_ticks(low: float, high: float, *, max_ticks: int = 6) -> list[float]:
    """Round axis ticks covering ``[low, high]`` and always including 0.

    The step is 1, 2 or 5 times a power of ten, the smallest giving at most
    ``max_ticks`` ticks.  A zero-width or missing range gives ``0..1``.

    Examples
    --------
    >>> nice_ticks(0, 87)
    [0, 20, 40, 60, 80, 100]
    >>> nice_ticks(0, 0.37)
    [0, 0.1, 0.2, 0.3, 0.4]
    >>> nice_ticks(-3, 7)
    [-5, 0, 5, 10]
    >>> nice_ticks(0, 0)
    [0, 0.2, 0.4, 0.6, 0.8, 1]
    """
    low = 0.0 if math.isnan(_num(low)) else min(0.0, float(low))
    high = 0.0 if math.isnan(_num(high)) else max(0.0, float(high))
    if high - low <= 0:
        high = 1.0
    intervals = max(1, max_ticks - 1)
    exponent = math.floor(math.log10((high - low) / intervals))
    for multiple in (1, 2, 5, 10):
        step = multiple * 10.0**exponent
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if last - first <= intervals:
            break
    ticks = [round(k * step, max(0, -exponent)) for k in range(first, last + 1)]
    return [int(t) if float(t).is_integer() else t for t in ticks]


def _decimals(value: float) -> int:
    """Fewest decimals (up to 6) that write ``value`` exactly."""
    return next((d for d in range(7) if abs(round(value, d) - value) < 1e-9), 6)


def _tick_labels(ticks: Sequence[float], value_format: ValueFormat) -> list[str]:
    """Format ticks with the value format, with enough decimals to show the step.

    Examples
    --------
    >>> _tick_labels([0, 0.5, 1], "{:,.0f}")
    ['0.0', '0.5', '1.0']
    >>> _tick_labels([0, 0.05, 0.1], "{:.0%}")
    ['0%', '5%', '10%']
    >>> _tick_labels([0, 0.005, 0.01], "{:.0%}")
    ['0.0%', '0.5%', '1.0%']
    """
    fmt = _formatter(value_format)
    step = float(ticks[1]) - float(ticks[0]) if len(ticks) > 1 else 1.0
    if isinstance(value_format, str):
        match = re.search(r"\.(\d+)([f%])", value_format)
        if match:
            scale = 100 if match.group(2) == "%" else 1
            need = _decimals(step * scale)
            if need > int(match.group(1)):
                widened = f".{need}{match.group(2)}"
                value_format = (
                    value_format[: match.start()] + widened + value_format[match.end() :]
                )
                fmt = _formatter(value_format)
    labels = [fmt(float(t)) for t in ticks]
    if len(set(labels)) < len(labels):  # a callable or precision-less format: plain numbers
        labels = [f"{float(t):,.{_decimals(step)}f}" for t in ticks]
    return labels


def _svg_open(cid: str, width: float, height: float, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" class="geo311-chart" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" width="{_n(width)}" height="{_n(height)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" font-family="{_esc(FONT_FAMILY)}" '
        f'font-size="{FONT_SIZE}" fill="{TEXT_COLOUR}">',
        f'<title id="{cid}-title">{_esc(title)}</title>',
        f'<desc id="{cid}-desc">{_esc(desc)}</desc>',
        f'<rect class="background" x="0" y="0" width="{_n(width)}" height="{_n(height)}" '
        f'fill="{BACKGROUND}"/>',
    ]


def _title_text(title: str, width: float, show: bool) -> tuple[list[str], float]:
    """Visible title lines (bold, wrapped) and the y below them."""
    if not show:
        return [], float(_PAD)
    chars = max(10, int((width - 2 * _PAD) / _text_width("x", FONT_SIZE + 2)))
    lines = textwrap.wrap(title, chars) or [""]
    out = [
        f'<text class="chart-title" x="{_PAD}" y="{_n(_PAD + 14 + i * 18)}" '
        f'font-size="{FONT_SIZE + 2}" font-weight="bold">{_esc(line)}</text>'
        for i, line in enumerate(lines)
    ]
    return out, _PAD + len(lines) * 18 + 4


def _wrap_label(label: str, chars: int, max_lines: int = 3) -> list[str]:
    lines = textwrap.wrap(label, max(4, chars), break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, chars - 1)].rstrip() + "\u2026"
    return lines


def _extremes(
    labels: Sequence[str], values: Sequence[float], fmt: Callable[[float], str]
) -> tuple[str, str]:
    """Highest and lowest ``label (value)`` of a series (first one on ties); empty if no data."""
    present = [(v, i) for i, v in enumerate(values) if not math.isnan(v)]
    if not present:
        return "", ""
    top = max(present, key=lambda p: (p[0], -p[1]))
    bottom = min(present, key=lambda p: (p[0], p[1]))
    return f"{labels[top[1]]} ({fmt(top[0])})", f"{labels[bottom[1]]} ({fmt(bottom[0])})"


class _Scale:
    """A linear map from the tick range onto pixels (``start`` maps to ``ticks[0]``)."""

    def __init__(self, ticks: Sequence[float], start: float, end: float) -> None:
        self.low, self.high = float(ticks[0]), float(ticks[-1])
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return self.start + fraction * (self.end - self.start)


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
    top, bottom = _extremes(names, data, fmt)
    desc = f"Bar chart of {unit} for {len(names)} categor{'y' if len(names) == 1 else 'ies'}"
    desc += f", compared with {compare_label}" if other is not None else ""
    desc += f". Highest: {top}; lowest: {bottom}." if top else ". No data."
    return desc + " Values: " + "; ".join(pairs) + "."


def _bar_legend(y: float, series_label: str, compare_label: str) -> list[str]:
    """Legend: filled swatch for the bars, dashed outline swatch for the comparison."""
    second = _PAD + 40 + _text_width(series_label)
    return [
        '<g class="legend">',
        f'<rect x="{_PAD}" y="{_n(y)}" width="14" height="10" fill="{BAR_COLOUR}"/>',
        f'<text x="{_PAD + 20}" y="{_n(y + 9)}">{_esc(series_label)}</text>',
        f'<rect x="{_n(second)}" y="{_n(y)}" width="14" height="10" fill="none" '
        f'stroke="{COMPARE_COLOUR}" stroke-width="1.5" stroke-dasharray="3 2"/>',
        f'<text x="{_n(second + 20)}" y="{_n(y + 9)}">{_esc(compare_label)}</text>',
        "</g>",
    ]


def _x_grid(
    ticks: Sequence[float], texts: Sequence[str], x: _Scale, top: float, bottom: float
) -> list[str]:
    parts = ['<g class="grid" aria-hidden="true">']
    for tick, text in zip(ticks, texts, strict=True):
        tx = x(float(tick))
        parts.append(
            f'<line x1="{_n(tx)}" y1="{_n(top)}" x2="{_n(tx)}" y2="{_n(bottom)}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
        )
        parts.append(
            f'<text class="tick" x="{_n(tx)}" y="{_n(bottom + 14)}" text-anchor="middle" '
            f'fill="{MUTED_TEXT}">{_esc(text)}</text>'
        )
    parts.append("</g>")
    return parts


def _bar(
    value: float,
    *,
    tooltip: str,
    text: str,
    x: _Scale,
    y: float,
    thickness: float,
    kind: str,
) -> str:
    """One bar (filled, or a dashed outline for the comparison) and its printed value."""
    zero = x(0.0)
    if math.isnan(value):
        return (
            f'<text class="{kind}-missing" x="{_n(zero + 4)}" y="{_n(y + thickness - 3)}" '
            f'fill="{MUTED_TEXT}" font-style="italic">{_esc(text)}</text>'
        )
    end = x(value)
    if kind == "bar":
        style = f'fill="{BAR_COLOUR}"'
    else:
        style = f'fill="none" stroke="{COMPARE_COLOUR}" stroke-width="1.5" stroke-dasharray="3 2"'
    size = FONT_SIZE if kind == "bar" else FONT_SIZE - 1
    return (
        f'<rect class="{kind}" x="{_n(min(zero, end))}" y="{_n(y)}" '
        f'width="{_n(abs(end - zero))}" height="{_n(thickness)}" {style}>'
        f"<title>{_esc(tooltip)}</title></rect>"
        f'<text class="{kind}-value" x="{_n(max(zero, end) + 5)}" y="{_n(y + thickness - 3)}" '
        f'font-size="{size}">{_esc(text)}</text>'
    )


def _label_text(lines: Sequence[str], x: float, mid: float) -> str:
    """Draw a right-aligned, vertically centred, possibly multi-line category label."""
    first = mid - (len(lines) - 1) * _LINE_HEIGHT / 2 + 4
    spans = "".join(
        f'<tspan x="{_n(x)}" dy="{0 if k == 0 else _LINE_HEIGHT}">{_esc(line)}</tspan>'
        for k, line in enumerate(lines)
    )
    return f'<text class="label" x="{_n(x)}" y="{_n(first)}" text-anchor="end">{spans}</text>'


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

    Returns
    -------
    str
        ``<svg ...>...</svg>``.

    Raises
    ------
    ValueError
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
    names = _labels(labels)
    data = _numbers(values, "values", len(names))
    other = None if compare is None else _numbers(compare, "compare", len(names))
    fmt = _formatter(value_format)
    cid = _chart_id(chart_id, "bar", title, unit, names, data, other, compare_label, width)
    desc = _bar_desc(names, data, other, fmt, unit=unit, compare_label=compare_label)

    # horizontal layout: labels | bars | printed values
    texts = [fmt(v) for v in data + (other or [])]
    label_room = min(max(_text_width(n) for n in names) + 8, 0.38 * width)
    wrapped = [_wrap_label(n, int((label_room - 8) / _text_width("x"))) for n in names]
    x0 = _PAD + label_room
    x1 = max(x0 + 80, width - _PAD - max(_text_width(t) for t in texts) - 10)
    block = 30 if other is not None else 20
    rows = [max(block, len(lines) * _LINE_HEIGHT + 4) + 8 for lines in wrapped]
    finite = [v for v in data + (other or []) if not math.isnan(v)]
    ticks = nice_ticks(min(finite, default=0.0), max(finite, default=0.0))
    x = _Scale(ticks, x0, x1)

    parts, y = _title_text(title, width, show_title)
    if other is not None:
        parts += _bar_legend(y, series_label, compare_label)
        y += 20
    top = y + 4
    bottom = top + sum(rows)
    parts += _x_grid(ticks, _tick_labels(ticks, value_format), x, top, bottom)

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
        f'<line class="axis" x1="{_n(x(0.0))}" y1="{_n(top)}" x2="{_n(x(0.0))}" '
        f'y2="{_n(bottom)}" stroke="{TEXT_COLOUR}" stroke-width="1"/>'
    )
    parts.append(
        f'<text class="axis-title" x="{_n((x0 + x1) / 2)}" y="{_n(bottom + 32)}" '
        f'text-anchor="middle" fill="{MUTED_TEXT}">{_esc(unit)}</text>'
    )
    total = max(float(height or 0), bottom + 44)
    return "\n".join([*_svg_open(cid, width, total, title, desc), *parts, "</svg>"])


# --------------------------------------------------------------------------- line chart


def _marker(
    shape: str, cx: float, cy: float, colour: str, tooltip: str, *, kind: str = "point"
) -> str:
    """Draw a point marker of the given shape, with a tooltip."""
    tip = f"<title>{_esc(tooltip)}</title>"
    common = f'class="{kind}" fill="{BACKGROUND}" stroke="{colour}" stroke-width="2"'
    if shape == "square":
        return (
            f'<rect {common} x="{_n(cx - 3.5)}" y="{_n(cy - 3.5)}" width="7" height="7">'
            f"{tip}</rect>"
        )
    if shape in {"triangle", "diamond"}:
        corners = (
            [(0, -4.5), (4.5, 3.5), (-4.5, 3.5)]
            if shape == "triangle"
            else [(0, -5), (5, 0), (0, 5), (-5, 0)]
        )
        points = " ".join(f"{_n(cx + dx)},{_n(cy + dy)}" for dx, dy in corners)
        return f'<polygon {common} points="{points}">{tip}</polygon>'
    return f'<circle {common} cx="{_n(cx)}" cy="{_n(cy)}" r="3.5">{tip}</circle>'


def _runs(values: Sequence[float]) -> list[list[int]]:
    """Split the indices of non-missing values into consecutive runs (NaN breaks a line)."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, value in enumerate(values):
        if math.isnan(value):
            if current:
                runs.append(current)
            current = []
        else:
            current.append(i)
    if current:
        runs.append(current)
    return runs


def _spread(positions: list[float], gap: float) -> list[float]:
    """Push label positions apart (downwards) so neighbours are at least ``gap`` apart."""
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    placed = list(positions)
    for before, after in itertools.pairwise(order):
        placed[after] = max(placed[after], placed[before] + gap)
    return placed


def _line_desc(
    names: Sequence[str],
    data: Mapping[str, Sequence[float]],
    fmt: Callable[[float], str],
    unit: str,
) -> str:
    """Text alternative of a line chart: the span, then per series start, end and extremes."""
    sentences = []
    for key, vals in data.items():
        present = [v for v in vals if not math.isnan(v)]
        if not present:
            sentences.append(f"{key}: no data.")
            continue
        top, bottom = _extremes(names, vals, fmt)
        missing = len(vals) - len(present)
        sentences.append(
            f"{key}: {fmt(present[0])} at the start, {fmt(present[-1])} at the end; "
            f"highest {top}, lowest {bottom}"
            + (f"; {missing} period(s) without data." if missing else ".")
        )
    span = names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}"
    periods = f"{len(names)} period{'s' if len(names) != 1 else ''}"
    return f"Line chart of {unit} over {periods} ({span}). " + " ".join(sentences)


def _line_legend(keys: Sequence[str], y: float) -> list[str]:
    """Legend: a line sample with its dash pattern and marker, then the series name."""
    parts = ['<g class="legend">']
    lx = float(_PAD)
    for k, key in enumerate(keys):
        colour, dash, shape = LINE_STYLES[k % len(LINE_STYLES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{_n(lx)}" y1="{_n(y + 5)}" x2="{_n(lx + 28)}" y2="{_n(y + 5)}" '
            f'stroke="{colour}" stroke-width="2"{dash_attr}/>'
        )
        parts.append(_marker(shape, lx + 14, y + 5, colour, key, kind="legend-marker"))
        parts.append(f'<text x="{_n(lx + 34)}" y="{_n(y + 9)}">{_esc(key)}</text>')
        lx += 34 + _text_width(key) + 18
    parts.append("</g>")
    return parts


def _y_grid(
    ticks: Sequence[float], texts: Sequence[str], y: _Scale, left: float, right: float
) -> list[str]:
    parts = ['<g class="grid" aria-hidden="true">']
    for tick, text in zip(ticks, texts, strict=True):
        ty = y(float(tick))
        colour = TEXT_COLOUR if tick == 0 else GRID_COLOUR
        parts.append(
            f'<line x1="{_n(left)}" y1="{_n(ty)}" x2="{_n(right)}" y2="{_n(ty)}" '
            f'stroke="{colour}" stroke-width="1"/>'
        )
        parts.append(
            f'<text class="tick" x="{_n(left - 6)}" y="{_n(ty + 4)}" text-anchor="end" '
            f'fill="{MUTED_TEXT}">{_esc(text)}</text>'
        )
    parts.append("</g>")
    return parts


def _x_labels(
    names: Sequence[str], px: Callable[[int], float], room: float, y: float
) -> list[str]:
    """Labels under the x axis, every k-th one so that they never overlap."""
    every = max(1, math.ceil((max(_text_width(n) for n in names) + 8) / room))
    parts = ['<g class="x-labels">']
    parts += [
        f'<text class="x-label" x="{_n(px(i))}" y="{_n(y)}" text-anchor="middle">'
        f"{_esc(name)}</text>"
        for i, name in enumerate(names)
        if i % every == 0
    ]
    parts.append("</g>")
    return parts


def _series_marks(
    k: int,
    key: str,
    vals: Sequence[float],
    names: Sequence[str],
    *,
    px: Callable[[int], float],
    py: _Scale,
    fmt: Callable[[float], str],
) -> list[str]:
    """One series: a polyline per run of values, and a marker with a tooltip per value."""
    colour, dash, shape = LINE_STYLES[k % len(LINE_STYLES)]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    parts = [f'<g class="series" data-series="{k}">']
    for run in _runs(vals):
        if len(run) > 1:
            points = " ".join(f"{_n(px(i))},{_n(py(vals[i]))}" for i in run)
            parts.append(
                f'<polyline class="line" points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash_attr}/>'
            )
        parts += [
            _marker(shape, px(i), py(vals[i]), colour, f"{key}, {names[i]}: {fmt(vals[i])}")
            for i in run
        ]
    parts.append("</g>")
    return parts


def _end_values(
    data: Mapping[str, Sequence[float]],
    *,
    px: Callable[[int], float],
    py: _Scale,
    fmt: Callable[[float], str],
) -> list[str]:
    """Print the last value of each series right of its last point, without overlaps."""
    ends = []
    for vals in data.values():
        last = next((i for i in range(len(vals) - 1, -1, -1) if not math.isnan(vals[i])), None)
        if last is not None:
            ends.append((px(last), py(vals[last]) + 4, fmt(vals[last])))
    placed = _spread([e[1] for e in ends], 14.0)
    return [
        f'<text class="end-value" x="{_n(ex + 8)}" y="{_n(ty)}">{_esc(text)}</text>'
        for (ex, _, text), ty in zip(ends, placed, strict=True)
    ]


def line_chart(
    labels: Sequence[Any],
    series: Mapping[str, Sequence[Any]],
    *,
    title: str,
    unit: str,
    value_format: ValueFormat = "{:,.0f}",
    width: float = 640,
    height: float = 320,
    chart_id: str | None = None,
    show_title: bool = True,
) -> str:
    """Line chart (e.g. a monthly trend, area vs city) as an accessible inline SVG string.

    Parameters
    ----------
    labels : sequence
        The ordered x values (1 to about 24), e.g. month names; shown along
        the axis, thinned when they would overlap.
    series : mapping of str to sequence of float
        Name -> one value per label.  Missing values (None/NaN) break the
        line; a lone value shows as a marker.  Series differ in colour, dash
        pattern and marker shape, have a legend, and the last value of each
        is printed at the line's end.
    title, unit : str
        Chart title (the SVG ``<title>``) and what the values measure.
    value_format : str or callable, default ``"{:,.0f}"``
        Format of the printed values and the axis ticks.
    width, height : float
        Size in pixels (the SVG also has a ``viewBox``).
    chart_id : str, optional
        Prefix of the element ids; default a hash of the content.
    show_title : bool, default True
        Draw the title as visible text.

    Returns
    -------
    str
        ``<svg ...>...</svg>``.

    Raises
    ------
    ValueError
        No labels, no series, or a series without one value per label.

    Examples
    --------
    >>> svg = line_chart(
    ...     ["Jan", "Feb", "Mar"], {"District 1": [5, None, 7], "City": [4, 5, 6]},
    ...     title="Requests by month", unit="requests",
    ... )
    >>> svg.count('class="point"'), svg.count('class="line"')
    (5, 1)
    """
    names = _labels(labels)
    if not series:
        msg = "line_chart needs at least one series"
        raise ValueError(msg)
    data = {str(k): _numbers(v, f"series {k!r}", len(names)) for k, v in series.items()}
    fmt = _formatter(value_format)
    cid = _chart_id(chart_id, "line", title, unit, names, data, width, height)
    desc = _line_desc(names, data, fmt, unit)

    finite = [v for vals in data.values() for v in vals if not math.isnan(v)]
    ticks = nice_ticks(min(finite, default=0.0), max(finite, default=0.0))
    tick_text = _tick_labels(ticks, value_format)
    end_texts = [fmt(v) for vals in data.values() for v in vals if not math.isnan(v)]

    parts, y = _title_text(title, width, show_title)
    parts += _line_legend(list(data), y)
    parts.append(
        f'<text class="axis-title" x="{_PAD}" y="{_n(y + 30)}" fill="{MUTED_TEXT}">'
        f"{_esc(unit)}</text>"
    )
    top = y + 42
    bottom = max(top + 60, height - 40)
    x0 = _PAD + max(_text_width(t) for t in tick_text) + 8
    x1 = width - _PAD - max((_text_width(t) for t in end_texts), default=0.0) - 12
    py = _Scale(ticks, bottom, top)

    def px(i: int) -> float:
        if len(names) == 1:
            return (x0 + x1) / 2
        return x0 + 8 + i * (x1 - x0 - 16) / (len(names) - 1)

    parts += _y_grid(ticks, tick_text, py, x0, x1)
    parts += _x_labels(names, px, (x1 - x0) / len(names), bottom + 16)
    for k, (key, vals) in enumerate(data.items()):
        parts += _series_marks(k, key, vals, names, px=px, py=py, fmt=fmt)
    parts += _end_values(data, px=px, py=py, fmt=fmt)
    if not finite:
        parts.append(
            f'<text class="no-data" x="{_n((x0 + x1) / 2)}" y="{_n((top + bottom) / 2)}" '
            f'text-anchor="middle" fill="{MUTED_TEXT}" font-style="italic">'
            f"{MISSING_TEXT}</text>"
        )
    total = max(float(height), bottom + 28)
    return "\n".join([*_svg_open(cid, width, total, title, desc), *parts, "</svg>"])


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
    names = _labels(labels)
    fmt = _formatter(value_format)
    cells: dict[str, list[str]] = {}
    for header, values in columns.items():
        column = list(values)
        if len(column) != len(names):
            msg = (
                f"column {header!r} has {len(column)} values but there are {len(names)} "
                "labels; pass one per label"
            )
            raise ValueError(msg)
        cells[str(header)] = [v if isinstance(v, str) else fmt(_num(v)) for v in column]
    ident = "" if table_id is None else f' id="{_chart_id(table_id)}"'
    head = "".join(f'<th scope="col">{_esc(h)}</th>' for h in [label_header, *cells])
    body = [
        f'<tr><th scope="row">{_esc(name)}</th>'
        + "".join(f"<td>{_esc(cells[h][i])}</td>" for h in cells)
        + "</tr>"
        for i, name in enumerate(names)
    ]
    return "\n".join(
        [
            f'<table class="geo311-chart-table"{ident}>',
            f"<caption>{_esc(caption)}</caption>",
            f"<thead><tr>{head}</tr></thead>",
            "<tbody>",
            *body,
            "</tbody>",
            "</table>",
        ]
    )

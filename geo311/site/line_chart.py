"""Line charts as inline SVG: one line per series over ordered labels, gaps where missing.

See :mod:`geo311.site.charts` for the accessibility and escaping rules every
chart follows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from geo311._errors import OptionError
from geo311.site._svg import (
    BACKGROUND,
    GRID_COLOUR,
    LINE_STYLES,
    MISSING_TEXT,
    MUTED_TEXT,
    PAD,
    TEXT_COLOUR,
    Scale,
    ValueFormat,
    as_numbers,
    chart_element_id,
    esc,
    formatter,
    nf,
    nice_ticks,
    svg_open,
    text_labels,
    text_width,
    tick_labels,
    title_text,
    value_range,
)

__all__ = ["line_chart"]


# --------------------------------------------------------------------------- line chart


def _marker(
    shape: str, cx: float, cy: float, colour: str, tooltip: str, *, kind: str = "point"
) -> str:
    """Draw a point marker of the given shape, with a tooltip."""
    tip = f"<title>{esc(tooltip)}</title>"
    common = f'class="{kind}" fill="{BACKGROUND}" stroke="{colour}" stroke-width="2"'
    if shape == "square":
        return (
            f'<rect {common} x="{nf(cx - 3.5)}" y="{nf(cy - 3.5)}" width="7" height="7">'
            f"{tip}</rect>"
        )
    if shape in {"triangle", "diamond"}:
        corners = (
            [(0, -4.5), (4.5, 3.5), (-4.5, 3.5)]
            if shape == "triangle"
            else [(0, -5), (5, 0), (0, 5), (-5, 0)]
        )
        points = " ".join(f"{nf(cx + dx)},{nf(cy + dy)}" for dx, dy in corners)
        return f'<polygon {common} points="{points}">{tip}</polygon>'
    return f'<circle {common} cx="{nf(cx)}" cy="{nf(cy)}" r="3.5">{tip}</circle>'


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
        top, bottom = value_range(names, vals, fmt)
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
    lx = float(PAD)
    for k, key in enumerate(keys):
        colour, dash, shape = LINE_STYLES[k % len(LINE_STYLES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{nf(lx)}" y1="{nf(y + 5)}" x2="{nf(lx + 28)}" y2="{nf(y + 5)}" '
            f'stroke="{colour}" stroke-width="2"{dash_attr}/>'
        )
        parts.append(_marker(shape, lx + 14, y + 5, colour, key, kind="legend-marker"))
        parts.append(f'<text x="{nf(lx + 34)}" y="{nf(y + 9)}">{esc(key)}</text>')
        lx += 34 + text_width(key) + 18
    parts.append("</g>")
    return parts


def _y_grid(
    ticks: Sequence[float], texts: Sequence[str], y: Scale, left: float, right: float
) -> list[str]:
    parts = ['<g class="grid" aria-hidden="true">']
    for tick, text in zip(ticks, texts, strict=True):
        ty = y(float(tick))
        colour = TEXT_COLOUR if tick == 0 else GRID_COLOUR
        parts.append(
            f'<line x1="{nf(left)}" y1="{nf(ty)}" x2="{nf(right)}" y2="{nf(ty)}" '
            f'stroke="{colour}" stroke-width="1"/>'
        )
        parts.append(
            f'<text class="tick" x="{nf(left - 6)}" y="{nf(ty + 4)}" text-anchor="end" '
            f'fill="{MUTED_TEXT}">{esc(text)}</text>'
        )
    parts.append("</g>")
    return parts


def _x_labels(
    names: Sequence[str], px: Callable[[int], float], room: float, y: float
) -> list[str]:
    """Labels under the x axis, every k-th one so that they never overlap."""
    every = max(1, math.ceil((max(text_width(n) for n in names) + 8) / room))
    parts = ['<g class="x-labels">']
    parts += [
        f'<text class="x-label" x="{nf(px(i))}" y="{nf(y)}" text-anchor="middle">'
        f"{esc(name)}</text>"
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
    py: Scale,
    fmt: Callable[[float], str],
) -> list[str]:
    """One series: a polyline per run of values, and a marker with a tooltip per value."""
    colour, dash, shape = LINE_STYLES[k % len(LINE_STYLES)]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    parts = [f'<g class="series" data-series="{k}">']
    for run in _runs(vals):
        if len(run) > 1:
            points = " ".join(f"{nf(px(i))},{nf(py(vals[i]))}" for i in run)
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
    py: Scale,
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
        f'<text class="end-value" x="{nf(ex + 8)}" y="{nf(ty)}">{esc(text)}</text>'
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
    OptionError
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
    names = text_labels(labels)
    if not series:
        msg = "line_chart needs at least one series"
        raise OptionError(msg)
    data = {str(k): as_numbers(v, f"series {k!r}", len(names)) for k, v in series.items()}
    fmt = formatter(value_format)
    cid = chart_element_id(chart_id, "line", title, unit, names, data, width, height)
    desc = _line_desc(names, data, fmt, unit)

    finite = [v for vals in data.values() for v in vals if not math.isnan(v)]
    ticks = nice_ticks(min(finite, default=0.0), max(finite, default=0.0))
    tick_text = tick_labels(ticks, value_format)
    end_texts = [fmt(v) for vals in data.values() for v in vals if not math.isnan(v)]

    parts, y = title_text(title, width, show_title)
    parts += _line_legend(list(data), y)
    parts.append(
        f'<text class="axis-title" x="{PAD}" y="{nf(y + 30)}" fill="{MUTED_TEXT}">'
        f"{esc(unit)}</text>"
    )
    top = y + 42
    bottom = max(top + 60, height - 40)
    x0 = PAD + max(text_width(t) for t in tick_text) + 8
    x1 = width - PAD - max((text_width(t) for t in end_texts), default=0.0) - 12
    py = Scale(ticks, bottom, top)

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
            f'<text class="no-data" x="{nf((x0 + x1) / 2)}" y="{nf((top + bottom) / 2)}" '
            f'text-anchor="middle" fill="{MUTED_TEXT}" font-style="italic">'
            f"{MISSING_TEXT}</text>"
        )
    total = max(float(height), bottom + 28)
    return "\n".join([*svg_open(cid, width, total, title, desc), *parts, "</svg>"])

"""Shared pieces of geo311's SVG charts: colours, text metrics, escaping, scales and ticks.

Internal to :mod:`geo311.site.charts` and :mod:`geo311.site.line_chart`.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from geo311._errors import OptionError

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
LINE_HEIGHT = 15
PAD = 12
MISSING_TEXT = "no data"

ValueFormat = str | Callable[[float], str]

# characters XML 1.0 does not allow in text (C0 controls except tab/newline/CR, surrogates ...)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --------------------------------------------------------------------------- helpers


def esc(text: Any) -> str:
    """Escape any value for XML/HTML text and attributes (backticks too)."""
    clean = _XML_INVALID.sub("", str(text))
    return html.escape(clean, quote=True).replace("`", "&#96;")


def num(value: Any) -> float:
    """Return a finite float, or NaN for missing/non-finite values (None, NaN, pd.NA, inf)."""
    if value is None:
        return math.nan
    try:
        number = float(value)
    except TypeError:  # pd.NA and friends
        return math.nan
    return number if math.isfinite(number) else math.nan


def as_numbers(values: Sequence[Any], name: str, size: int) -> list[float]:
    numbers = [num(v) for v in values]
    if len(numbers) != size:
        msg = f"{name} has {len(numbers)} values but there are {size} labels; pass one per label"
        raise OptionError(msg)
    return numbers


def text_labels(labels: Sequence[Any]) -> list[str]:
    texts = [str(label) for label in labels]
    if not texts:
        msg = "a chart needs at least one label"
        raise OptionError(msg)
    return texts


def formatter(value_format: ValueFormat, *, missing: str = MISSING_TEXT) -> Callable[[float], str]:
    def fmt(value: float) -> str:
        if math.isnan(value):
            return missing
        if callable(value_format):
            return str(value_format(value))
        return value_format.format(value)

    return fmt


def nf(value: float) -> str:
    """Format a coordinate with one decimal, without ``-0`` or a trailing ``.0``."""
    text = f"{value:.1f}"
    if text in {"-0.0", "0.0"}:
        return "0"
    return text.removesuffix(".0")


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * _CHAR_WIDTH


def chart_element_id(chart_id: str | None, *parts: Any) -> str:
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
    low = 0.0 if math.isnan(num(low)) else min(0.0, float(low))
    high = 0.0 if math.isnan(num(high)) else max(0.0, float(high))
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


def tick_labels(ticks: Sequence[float], value_format: ValueFormat) -> list[str]:
    """Format ticks with the value format, with enough decimals to show the step.

    Examples
    --------
    >>> tick_labels([0, 0.5, 1], "{:,.0f}")
    ['0.0', '0.5', '1.0']
    >>> tick_labels([0, 0.05, 0.1], "{:.0%}")
    ['0%', '5%', '10%']
    >>> tick_labels([0, 0.005, 0.01], "{:.0%}")
    ['0.0%', '0.5%', '1.0%']
    """
    fmt = formatter(value_format)
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
                fmt = formatter(value_format)
    labels = [fmt(float(t)) for t in ticks]
    if len(set(labels)) < len(labels):  # a callable or precision-less format: plain numbers
        labels = [f"{float(t):,.{_decimals(step)}f}" for t in ticks]
    return labels


def svg_open(cid: str, width: float, height: float, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" class="geo311-chart" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" width="{nf(width)}" height="{nf(height)}" '
        f'viewBox="0 0 {nf(width)} {nf(height)}" font-family="{esc(FONT_FAMILY)}" '
        f'font-size="{FONT_SIZE}" fill="{TEXT_COLOUR}">',
        f'<title id="{cid}-title">{esc(title)}</title>',
        f'<desc id="{cid}-desc">{esc(desc)}</desc>',
        f'<rect class="background" x="0" y="0" width="{nf(width)}" height="{nf(height)}" '
        f'fill="{BACKGROUND}"/>',
    ]


def title_text(title: str, width: float, show: bool) -> tuple[list[str], float]:
    """Visible title lines (bold, wrapped) and the y below them."""
    if not show:
        return [], float(PAD)
    chars = max(10, int((width - 2 * PAD) / text_width("x", FONT_SIZE + 2)))
    lines = textwrap.wrap(title, chars) or [""]
    out = [
        f'<text class="chart-title" x="{PAD}" y="{nf(PAD + 14 + i * 18)}" '
        f'font-size="{FONT_SIZE + 2}" font-weight="bold">{esc(line)}</text>'
        for i, line in enumerate(lines)
    ]
    return out, PAD + len(lines) * 18 + 4


def wrap_label(label: str, chars: int, max_lines: int = 3) -> list[str]:
    lines = textwrap.wrap(label, max(4, chars), break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(1, chars - 1)].rstrip() + "\u2026"
    return lines


def value_range(
    labels: Sequence[str], values: Sequence[float], fmt: Callable[[float], str]
) -> tuple[str, str]:
    """Highest and lowest ``label (value)`` of a series (first one on ties); empty if no data."""
    present = [(v, i) for i, v in enumerate(values) if not math.isnan(v)]
    if not present:
        return "", ""
    top = max(present, key=lambda p: (p[0], -p[1]))
    bottom = min(present, key=lambda p: (p[0], p[1]))
    return f"{labels[top[1]]} ({fmt(top[0])})", f"{labels[bottom[1]]} ({fmt(bottom[0])})"


class Scale:
    """A linear map from the tick range onto pixels (``start`` maps to ``ticks[0]``)."""

    def __init__(self, ticks: Sequence[float], start: float, end: float) -> None:
        self.low, self.high = float(ticks[0]), float(ticks[-1])
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        fraction = (value - self.low) / (self.high - self.low)
        return self.start + fraction * (self.end - self.start)

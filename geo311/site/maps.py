"""Choropleth maps of area indicators: interactive (Folium/Leaflet, offline) and static (PNG).

One GeoDataFrame that already holds the indicator columns (the layer's
boundaries merged with ``geo311 indicators`` output on ``area_id``) is the
input of both :func:`choropleth` and :func:`static_map`; both classify with
:func:`classify`, so the interactive map and the slide-deck PNG show the same
classes in the same colours.

Conventions (STYLE.md section 6, METRICS.md "Reporting rules"):

* classes come from mapclassify through the :data:`SCHEMES` registry; colours
  from colour-blind-safe ColorBrewer / viridis ramps defined here as hex
  (:data:`PALETTES`); ratios (1 = city) use a diverging ramp whose neutral
  middle colour is the class that holds 1;
* areas whose value is missing or whose flag is ``insufficient`` are drawn grey
  and hatched, with their own legend entry "insufficient data" (never black,
  never coloured as zero); ``unstable`` areas (fewer than 20 requests) keep
  their class colour under a hatch, with their own legend entry;
* every legend states the title, the unit and the denominator with its source
  and year; tooltips show only allow-listed fields (area name, value with its
  95% CI, requests, population, flag) and the GeoJSON embedded in the page
  holds nothing else;
* every string reaching the page is escaped for its context (HTML text and
  attributes with :func:`escape_html`, JSON inside ``<script>`` with
  :func:`json_for_script`); the browser code builds tooltips and labels with
  ``textContent``, never ``innerHTML``;
* pages work offline: Leaflet and the full-screen plugin are vendored in
  ``geo311/site/vendor`` (see ``scripts/vendor_assets.py``) and :func:`map_parts`
  inlines them or links them relatively; the only remote URL left is the tile
  template, and without network the polygons, legend and tooltips still draw
  on a plain background.

Folium, mapclassify and matplotlib are the ``maps`` extra
(``pip install 'geo311[maps]'``) and are imported only when a map is drawn.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import logging
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from geo311._errors import CRSError, Geo311Error, SchemaError
from geo311.indicators import DATA_DICTIONARY
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.site import assets as _assets

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

__all__ = [
    "DEFAULT_TILES",
    "INDICATORS",
    "MIN_COUNT",
    "PALETTES",
    "SCHEMES",
    "Classes",
    "Indicator",
    "MapParts",
    "choropleth",
    "classify",
    "escape_html",
    "finish",
    "format_value",
    "indicator_spec",
    "json_for_script",
    "map_parts",
    "save_map",
    "static_map",
    "write_assets",
]

log = logging.getLogger(__name__)

_EXTRA = "pip install 'geo311[maps]'"

#: Fewer counted requests than this makes an estimate "unstable" (METRICS.md 1).
MIN_COUNT = 20

#: Classification schemes: key -> mapclassify class name.
SCHEMES: dict[str, str] = {
    "quantiles": "Quantiles",
    "fisher_jenks": "FisherJenks",
    "equal_interval": "EqualInterval",
    "user_defined": "UserDefined",
}

#: Colour ramps as hex anchors, light to dark (sequential) or low-neutral-high
#: (diverging, odd length, neutral in the middle). ColorBrewer schemes (Cynthia
#: Brewer, Penn State; all marked colour-blind safe) and matplotlib's viridis,
#: sampled at even steps. Classes take evenly spaced colours along the ramp.
PALETTES: dict[str, tuple[str, ...]] = {
    "YlGnBu": (
        "#ffffd9", "#edf8b1", "#c6e9b4", "#7ecdbb", "#40b5c4",
        "#1d90c0", "#225da8", "#243392", "#081d58",
    ),
    "PuBu": (
        "#fff7fb", "#ece7f2", "#d0d1e6", "#a5bddb", "#73a9cf",
        "#358fc0", "#056faf", "#04598c", "#023858",
    ),
    "Blues": (
        "#f7fbff", "#deebf7", "#c6dbef", "#9dcae1", "#6aaed6",
        "#4191c6", "#2070b4", "#08509b", "#08306b",
    ),
    "viridis": (
        "#fde725", "#addc30", "#5ec962", "#28ae80", "#21918c",
        "#2c728e", "#3b528b", "#472d7b", "#440154",
    ),
    "PuOr": (
        "#7f3b08", "#b25706", "#e08214", "#fcb761", "#fee0b6", "#f6f6f7",
        "#d8daeb", "#b1aad1", "#8073ac", "#532687", "#2d004b",
    ),
    "BrBG": (
        "#543005", "#8b500a", "#bf812d", "#dec17b", "#f6e8c3", "#f4f5f5",
        "#c7eae5", "#7fccc0", "#35978f", "#01655d", "#003c30",
    ),
}  # fmt: skip
_DIVERGING = frozenset({"PuOr", "BrBG"})
DEFAULT_SEQUENTIAL = "YlGnBu"
DEFAULT_DIVERGING = "PuOr"

#: Insufficient data: light grey under darker grey hatching (not a palette colour).
NA_FILL = "#d9d9d9"
NA_HATCH = "#737373"
#: Hatch lines drawn over the class colour of unstable areas.
UNSTABLE_HATCH = "#252525"
#: Area outlines and the plain background shown when tiles cannot load.
AREA_STROKE = "#4d4d4d"
BACKGROUND = "#f2f2ef"

#: Default basemap: CARTO Positron (light), with the attribution its licence asks for.
DEFAULT_TILES = {
    "url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
    "attribution": (
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        'contributors &copy; <a href="https://carto.com/attributions">CARTO</a>'
    ),
    "subdomains": "abcd",
    "max_zoom": 20,
}


def _flag_label(flag: str, min_count: int) -> str:
    """Legend and tooltip text of an area status (ok / unstable / insufficient)."""
    if flag == "unstable":
        return f"unstable: fewer than {min_count} requests"
    return "insufficient data" if flag == "insufficient" else flag


_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_DASH = "\u2013"  # en dash between the ends of a range


# --------------------------------------------------------------------------- lazy imports


def _folium() -> ModuleType:
    """Import folium lazily, or raise ImportError naming the extra to install."""
    try:
        import folium  # noqa: PLC0415
        import folium.plugins  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = f"interactive maps need folium: {_EXTRA}"
        raise ImportError(msg) from exc
    return folium


def _mapclassify() -> ModuleType:
    """Import mapclassify lazily (quietly: it warns about optional numba)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mapclassify  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = f"classifying values needs mapclassify: {_EXTRA}"
        raise ImportError(msg) from exc
    return mapclassify


def _matplotlib() -> SimpleNamespace:
    """Import the matplotlib pieces static maps need, without touching pyplot."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
        from matplotlib.collections import PatchCollection  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
        from matplotlib.patches import Patch, PathPatch  # noqa: PLC0415
        from matplotlib.path import Path as MplPath  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = f"static maps need matplotlib: {_EXTRA}"
        raise ImportError(msg) from exc
    return SimpleNamespace(
        FigureCanvasAgg=FigureCanvasAgg,
        PatchCollection=PatchCollection,
        Figure=Figure,
        Patch=Patch,
        PathPatch=PathPatch,
        Path=MplPath,
    )


# --------------------------------------------------------------------------- escaping


def escape_html(value: object) -> str:
    """Escape text for HTML element content and quoted attribute values.

    ``& < > " '`` become character references, and so does the backtick
    (some old parsers treat it as an attribute quote).

    Examples
    --------
    >>> escape_html('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> escape_html("`${x}`")
    '&#96;${x}&#96;'
    """
    return html.escape(str(value), quote=True).replace("`", "&#96;")


_SCRIPT_UNSAFE = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
    "`": "\\u0060",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_SCRIPT_UNSAFE_RE = re.compile("[<>&'`\u2028\u2029]")


def json_for_script(obj: object) -> str:
    r"""Serialise ``obj`` as compact JSON that is safe inside an HTML ``<script>``.

    ``<``, ``>``, ``&``, quotes, backticks and U+2028/U+2029 are written as
    ``\\uXXXX`` escapes, so no string value can close the script element, open
    a comment, or end a JavaScript string or template literal. NaN is refused.

    Examples
    --------
    >>> json_for_script({"name": "</script><script>alert(1)</script>"})
    '{"name":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _SCRIPT_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group(0)], text)


# --------------------------------------------------------------------------- indicators


@dataclass(frozen=True)
class Indicator:
    """How one indicator column is titled, formatted, coloured and flagged on a map.

    Attributes
    ----------
    title : str
        Legend title and tooltip label.
    unit : str
        Unit stated under the legend title.
    fmt : str
        Number format: ``rate``, ``days``, ``percent`` (a 0-1 share shown as %),
        ``ratio``, ``count`` or ``number``.
    palette : str
        ``sequential`` or ``diverging`` (centred on 1, for ratios).
    ci : tuple of str or None
        Lower and upper 95% CI columns; None applies :func:`ci_columns`.
    flag : str or None
        Column with ``ok`` / ``unstable`` / ``insufficient`` (``rate_flag``).
    count : str or None
        Count column; fewer than ``min_count`` (default :data:`MIN_COUNT`)
        marks an area unstable.
    denominator : str or None
        What the indicator is relative to, stated in the legend.
    uses_population : bool
        Whether the denominator is residents (then the population source is
        quoted in the legend and the tooltip).
    open_ended : bool
        Whether a missing upper CI limit means "not reached" (the interval is
        open-ended, as for a Kaplan-Meier median) rather than "not available".
    """

    title: str
    unit: str
    fmt: str = "number"
    palette: str = "sequential"
    ci: tuple[str, str] | None = None
    flag: str | None = None
    count: str | None = None
    denominator: str | None = None
    uses_population: bool = False
    open_ended: bool = False


_RESIDENTS = "residents"
#: Map settings of the headline indicators (column -> :class:`Indicator`).
INDICATORS: dict[str, Indicator] = {
    "rate_per_1k": Indicator(
        "Requests per 1,000 residents",
        "requests per 1,000 residents",
        "rate",
        flag="rate_flag",
        denominator=_RESIDENTS,
        uses_population=True,
    ),
    "rate_per_1k_eb": Indicator(
        "Requests per 1,000 residents (smoothed)",
        "requests per 1,000 residents, empirical Bayes smoothed",
        "rate",
        flag="rate_flag",
        denominator=_RESIDENTS,
        uses_population=True,
    ),
    "rate_ratio": Indicator(
        "Request rate vs rest of city",
        "rate ratio (1 = rest of the city)",
        "ratio",
        palette="diverging",
        flag="rate_flag",
        denominator=_RESIDENTS,
        uses_population=True,
    ),
    "requests": Indicator("Requests", "requests", "count"),
    "requests_per_km2": Indicator(
        "Requests per km²", "requests per km²", "rate", denominator="land area (km²)"
    ),
    "ttc_median_days": Indicator(
        "Median days to close",
        "days (Kaplan-Meier median; open requests censored)",
        "days",
        count="ttc_requests",
        denominator="requests with a valid duration",
        open_ended=True,
    ),
    "ttc_type_adjusted_ratio": Indicator(
        "Closure speed for its service-type mix",
        "ratio of observed to expected closures (1 = city; above 1 = faster)",
        "ratio",
        palette="diverging",
        count="ttc_closed",
        denominator="expected closures for the area's mix of service types",
    ),
    "on_time_share": Indicator(
        "Closed on time",
        "% of requests with a due date",
        "percent",
        ci=("on_time_ci_low", "on_time_ci_high"),
        count="sla_due",
        denominator="requests with a due date (closed, or open and overdue)",
    ),
    **{
        f"closed_within_{h}d_share": Indicator(
            f"Closed within {h} day{'s' if h > 1 else ''}",
            "% of requests (Kaplan-Meier)",
            "percent",
            count="ttc_requests",
            denominator="requests with a valid duration",
        )
        for h in (1, 7, 30)
    },
}

_UNIT_FORMATS = {
    "share (0-1)": "percent",
    "days": "days",
    "ratio": "ratio",
    "requests": "count",
    "persons": "count",
}


def ci_columns(column: str, columns: Sequence[str]) -> tuple[str, str] | None:
    """Return the 95% CI columns of ``column`` among ``columns``, or None.

    The rule: ``<column>_ci_low``/``_ci_high``; for a ``<stem>_share`` column,
    ``<stem>_ci_low``/``_ci_high``.

    Examples
    --------
    >>> ci_columns("on_time_share", ["on_time_share", "on_time_ci_low", "on_time_ci_high"])
    ('on_time_ci_low', 'on_time_ci_high')
    >>> ci_columns("requests", ["requests"]) is None
    True
    """
    stems = [column]
    if column.endswith("_share"):
        stems.append(column.removesuffix("_share"))
    for stem in stems:
        pair = (f"{stem}_ci_low", f"{stem}_ci_high")
        if pair[0] in columns and pair[1] in columns:
            return pair
    return None


def indicator_spec(column: str, columns: Sequence[str] = ()) -> Indicator:
    """Return the map settings of ``column``: from :data:`INDICATORS`, else the data dictionary.

    Examples
    --------
    >>> indicator_spec("rate_ratio").palette
    'diverging'
    >>> indicator_spec("requests_resident").fmt
    'count'
    """
    spec = INDICATORS.get(column)
    if spec is None:
        description, unit, _ = DATA_DICTIONARY.get(column, (column, "", ""))
        fmt = _UNIT_FORMATS.get(unit, "rate" if " per " in unit else "number")
        palette = "diverging" if fmt == "ratio" else "sequential"
        title = column.replace("_", " ").capitalize()
        spec = Indicator(title, unit if unit != "share (0-1)" else "%", fmt, palette)
        log.debug(
            "no map settings for %s (%s); derived from the data dictionary", column, description
        )
    if spec.ci is None:
        found = ci_columns(column, columns)
        if found is not None:
            spec = Indicator(**{**spec.__dict__, "ci": found})
    return spec


def format_value(value: object, fmt: str, *, missing: str = "n/a") -> str:
    """Format one indicator value for people, as maps, legends and the site show it.

    Parameters
    ----------
    value : object
        A number; None, NA, NaN, infinities and non-numbers give ``missing``.
    fmt : str
        ``rate`` and ``days`` (one decimal), ``percent`` (a 0-1 share shown
        as %), ``ratio`` (two decimals), ``count`` (whole number) or
        ``number`` (four significant digits, never in exponent notation).
    missing : str, default "n/a"
        Text for a missing value.

    Returns
    -------
    str

    Examples
    --------
    >>> format_value(72.0712, "rate"), format_value(0.7275, "percent"), format_value(1234, "count")
    ('72.1', '72.8%', '1,234')
    >>> format_value(12345.0, "number"), format_value(float("nan"), "ratio")
    ('12,345', 'n/a')
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(number):
        return missing
    if fmt == "percent":
        return f"{100 * number:.1f}%"
    pattern = _FORMATS.get(fmt, "{:,.4g}" if abs(number) < 1000 else "{:,.0f}")
    return pattern.format(number)


_FORMATS = {"ratio": "{:.2f}", "count": "{:,.0f}", "rate": "{:,.1f}", "days": "{:,.1f}"}


# --------------------------------------------------------------------------- classes


class Classes(NamedTuple):
    """Classes of a choropleth: upper bounds, colours and legend labels.

    Attributes
    ----------
    scheme : str
        The :data:`SCHEMES` key used.
    bins : tuple of float
        Upper bound of each class (inclusive); class ``i`` holds
        ``bins[i-1] < v <= bins[i]`` and class 0 everything up to ``bins[0]``.
    lower : float
        The smallest classified value (NaN when there is none).
    colors : tuple of str
        Hex colour of each class.
    labels : tuple of str
        Legend text of each class (value range).
    counts : tuple of int
        Number of classified values in each class.
    yb : numpy.ndarray
        Class index of every input value; -1 for NaN (unclassified).
    """

    scheme: str
    bins: tuple[float, ...]
    lower: float
    colors: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[int, ...]
    yb: np.ndarray

    @property
    def k(self) -> int:
        """Number of classes."""
        return len(self.bins)

    def class_of(self, values: Sequence[float] | np.ndarray | pd.Series) -> np.ndarray:
        """Return the class index of each value (-1 for NaN); values beyond the ends clip."""
        arr = np.asarray(values, dtype=float)
        out = np.full(arr.shape, -1, dtype=int)
        if not self.bins:
            return out
        ok = np.isfinite(arr)
        idx = np.searchsorted(np.asarray(self.bins), arr[ok], side="left")
        out[ok] = np.minimum(idx, len(self.bins) - 1)
        return out


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _ramp(anchors: Sequence[str], t: float) -> str:
    """Colour at position ``t`` (0..1) along the anchors, linear in RGB."""
    t = min(max(t, 0.0), 1.0)
    pos = t * (len(anchors) - 1)
    i = min(int(pos), len(anchors) - 2) if len(anchors) > 1 else 0
    if len(anchors) == 1:
        return anchors[0].lower()
    frac = pos - i
    a, b = _hex_to_rgb(anchors[i]), _hex_to_rgb(anchors[i + 1])
    rgb = (round(x + (y - x) * frac) for x, y in zip(a, b, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _resolve_palette(palette: str | Sequence[str] | None, *, diverging: bool) -> tuple[str, ...]:
    if palette is None:
        return PALETTES[DEFAULT_DIVERGING if diverging else DEFAULT_SEQUENTIAL]
    if isinstance(palette, str):
        if palette not in PALETTES:
            msg = (
                f"unknown palette {palette!r}; choose one of {sorted(PALETTES)} "
                "or pass hex colours"
            )
            raise ValueError(msg)
        return PALETTES[palette]
    colors = tuple(palette)
    bad = [c for c in colors if not isinstance(c, str) or not _HEX.match(c)]
    if bad or not colors:
        msg = f"palette colours must be '#rrggbb' hex strings; got {bad or 'nothing'}"
        raise ValueError(msg)
    if diverging and len(colors) % 2 == 0:
        msg = "a diverging palette needs an odd number of colours (neutral in the middle)"
        raise ValueError(msg)
    return colors


def _sequential_colors(anchors: Sequence[str], n: int) -> tuple[str, ...]:
    if n == 1:
        return (_ramp(anchors, 0.6),)
    # skip the palest tenth of the ramp: it is hard to tell from the background
    return tuple(_ramp(anchors, 0.1 + 0.9 * j / (n - 1)) for j in range(n))


def _diverging_colors(
    anchors: Sequence[str], bins: Sequence[float], lower: float, center: float
) -> tuple[str, ...]:
    """Neutral middle colour for the class holding ``center``; shades deepen away from it."""
    lows = [lower, *bins[:-1]]
    below = [i for i, hi in enumerate(bins) if hi < center]
    above = [i for i, lo in enumerate(lows) if lo > center or (i > 0 and lo >= center)]
    neutral = [i for i in range(len(bins)) if i not in below and i not in above]
    half = len(anchors) // 2
    low_side = list(reversed(anchors[: half + 1]))  # neutral -> darkest low
    high_side = list(anchors[half:])  # neutral -> darkest high
    depth = max(len(below), len(above), 1)
    colors = [""] * len(bins)
    for i in neutral:
        colors[i] = anchors[half].lower()
    for d, i in enumerate(reversed(below), start=1):
        colors[i] = _ramp(low_side, 0.2 + 0.8 * d / depth)
    for d, i in enumerate(above, start=1):
        colors[i] = _ramp(high_side, 0.2 + 0.8 * d / depth)
    return tuple(colors)


def classify(
    values: Sequence[float] | np.ndarray | pd.Series,
    *,
    scheme: str = "quantiles",
    k: int = 5,
    bins: Sequence[float] | None = None,
    palette: str | Sequence[str] | None = None,
    center: float | None = None,
    fmt: str | Callable[[float], str] = "number",
) -> Classes:
    """Classify values with mapclassify and give each class a colour and a legend label.

    NaN values stay unclassified (class -1). With fewer distinct values than
    ``k`` each distinct value gets its own class. Bounds are never duplicated;
    quantiles over tied values never leave an empty class, while
    ``equal_interval`` keeps its equal widths (a class may be empty) and
    ``user_defined`` keeps the bins asked for, adding the maximum as a last
    bound when values exceed them.

    Parameters
    ----------
    values : array-like of float
        The indicator values (NaN = missing).
    scheme : str, default "quantiles"
        A key of :data:`SCHEMES`.
    k : int, default 5
        Number of classes (an upper limit, see above).
    bins : sequence of float, optional
        Upper class bounds; required by ``user_defined``.
    palette : str or sequence of str, optional
        A :data:`PALETTES` name or hex colours (ramp anchors). Defaults to
        YlGnBu, or PuOr when ``center`` is given.
    center : float, optional
        Use a diverging ramp whose neutral colour is the class holding this
        value (1 for ratios).
    fmt : str or callable, default "number"
        Number format of the labels (see :class:`Indicator`) or a function.

    Returns
    -------
    Classes

    Examples
    --------
    >>> c = classify([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], scheme="equal_interval", k=3)
    >>> c.bins
    (4.0, 7.0, 10.0)
    >>> c.yb.tolist()
    [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    >>> c.counts
    (4, 3, 3)
    >>> classify([1.0, float("nan"), 1.0], k=5).yb.tolist()
    [0, -1, 0]
    """
    if scheme not in SCHEMES:
        msg = f"unknown scheme {scheme!r}; valid schemes: {', '.join(SCHEMES)}"
        raise ValueError(msg)
    if scheme == "user_defined" and not bins:
        msg = "scheme='user_defined' needs bins= (upper class bounds)"
        raise ValueError(msg)
    if scheme != "user_defined" and (not isinstance(k, int | np.integer) or k < 1):
        msg = f"k must be a positive integer, got {k!r}"
        raise ValueError(msg)
    arr = np.asarray(pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce"), float)
    arr = np.where(np.isfinite(arr), arr, np.nan)
    y = arr[np.isfinite(arr)]
    formatter: Callable[[float], str] = (
        fmt if callable(fmt) else functools.partial(format_value, fmt=fmt)
    )
    if y.size == 0:
        empty = np.full(arr.shape, -1, dtype=int)
        return Classes(scheme, (), math.nan, (), (), (), empty)
    upper = _class_bounds(y, scheme=scheme, k=k, bins=bins)
    # user-defined bins (e.g. the city's, reused on a district map) may start below
    # every value shown: the first class then reads "up to <bound>", never "high - low"
    lower = min(float(y.min()), upper[0])
    yb = np.full(arr.shape, -1, dtype=int)
    finite = np.isfinite(arr)
    yb[finite] = np.minimum(np.searchsorted(upper, arr[finite], side="left"), len(upper) - 1)
    counts = tuple(int((yb == i).sum()) for i in range(len(upper)))
    diverging = center is not None
    anchors = _resolve_palette(palette, diverging=diverging)
    if center is not None:
        colors = _diverging_colors(anchors, upper, lower, center)
    else:
        colors = _sequential_colors(anchors, len(upper))
    labels = _labels(upper, lower, formatter, up_to=float(y.min()) > upper[0])
    return Classes(scheme, tuple(float(b) for b in upper), lower, colors, labels, counts, yb)


def _labels(
    upper: Sequence[float], lower: float, formatter: Callable[[float], str], *, up_to: bool
) -> tuple[str, ...]:
    """Legend text of each class; ``up_to``: every value exceeds the first bound."""
    out = []
    lows = [lower, *upper[:-1]]
    for lo, hi in zip(lows, upper, strict=True):
        a, b = formatter(lo), formatter(hi)
        out.append(a if a == b else f"{a} {_DASH} {b}")
    if up_to:
        out[0] = f"up to {formatter(upper[0])}"
    return tuple(out)


def _class_bounds(
    y: np.ndarray, *, scheme: str, k: int, bins: Sequence[float] | None
) -> list[float]:
    """Upper bounds of the classes of the finite values ``y``."""
    if scheme == "user_defined":
        assert bins is not None
        upper = sorted({float(b) for b in bins})
        if y.max() > upper[-1]:
            log.info("values exceed the last bin %s; adding the maximum %s", upper[-1], y.max())
            upper.append(float(y.max()))
        return upper
    distinct = np.unique(y)
    if distinct.size <= k:
        return [float(v) for v in distinct]
    mapclassify = _mapclassify()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not enough unique values", "numba not installed"
        result = getattr(mapclassify, SCHEMES[scheme])(y, k=k)
    upper = [float(b) for b in np.unique(np.asarray(result.bins, dtype=float))]
    upper[-1] = max(upper[-1], float(y.max()))
    if scheme != "quantiles":
        return upper  # an empty equal-interval class is information, not an artefact
    # drop empty classes (quantiles over tied values): merging an empty class is lossless
    idx = np.searchsorted(upper, y, side="left")
    kept = [b for i, b in enumerate(upper) if (idx == i).any()]
    if kept[-1] != upper[-1]:  # pragma: no cover - the top class always holds the maximum
        kept.append(upper[-1])
    return kept


# --------------------------------------------------------------------------- area table


def _statuses(
    frame: pd.DataFrame, values: pd.Series, spec: Indicator, min_count: int
) -> pd.Series:
    """Return each area's status: ok, unstable or insufficient."""
    status = pd.Series("ok", index=frame.index, dtype=object)
    if spec.count is not None and spec.count in frame.columns:
        counts = pd.to_numeric(frame[spec.count], errors="coerce")
        status[(counts < min_count).to_numpy()] = "unstable"
    if spec.flag is not None and spec.flag in frame.columns:
        flags = frame[spec.flag].astype("string").str.strip().str.lower()
        status[(flags == "unstable").fillna(False).to_numpy()] = "unstable"
        status[(flags == "insufficient").fillna(False).to_numpy()] = "insufficient"
    status[values.isna().to_numpy()] = "insufficient"
    return status


#: Tooltip labels of the count columns behind the unstable flag (:attr:`Indicator.count`).
_COUNT_LABELS = {
    "ttc_requests": "Requests timed",
    "ttc_closed": "Closures",
    "sla_due": "Requests due",
}


def _allowed_tooltip_columns() -> set[str]:
    return (set(DATA_DICTIONARY) | set(INDICATORS)) - {"area_id"}


def _tooltip_extras(
    tooltip: Sequence[str] | Mapping[str, str] | None, frame: pd.DataFrame
) -> list[tuple[str, str]]:
    if tooltip is None:
        return []
    pairs = (
        list(tooltip.items())
        if isinstance(tooltip, Mapping)
        else [(c, indicator_spec(c).title) for c in tooltip]
    )
    allowed = _allowed_tooltip_columns()
    refused = [c for c, _ in pairs if c not in allowed]
    if refused:
        msg = (
            f"tooltip columns {refused} are not indicator columns; tooltips show only "
            "columns of geo311.catalogue.DATA_DICTIONARY (never request text or addresses)"
        )
        raise SchemaError(msg)
    missing = [c for c, _ in pairs if c not in frame.columns]
    if missing:
        msg = f"tooltip columns {missing} are not in the frame"
        raise SchemaError(msg)
    return [(c, str(label)) for c, label in pairs]


def _area_names(frame: pd.DataFrame, area_name: str) -> pd.Series:
    """Return area names: ``area_name``, else an area_name/name/area_id column, else the index."""
    for candidate in (area_name, "area_name", "name", "area_id"):
        if candidate in frame.columns:
            names = frame[candidate]
            break
    else:
        names = pd.Series(frame.index, index=frame.index)
    return names.astype("string").fillna("(unnamed)").str.strip().astype(str)


def _value_text(row_value: float, low: float, high: float, spec: Indicator, status: str) -> str:
    if status == "insufficient":
        return _flag_label("insufficient", MIN_COUNT)
    text = format_value(row_value, spec.fmt)
    if spec.fmt == "days":
        text = f"{text} days"
    if math.isfinite(low) and (math.isfinite(high) or spec.open_ended):
        lo = format_value(low, spec.fmt)
        hi = format_value(high, spec.fmt, missing="not reached")
        text += f" (95% CI {lo}{_DASH}{hi})"
    return text


def _num(frame: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


# --------------------------------------------------------------------------- folium elements

_RUNTIME_CSS = """
.geo311-map.leaflet-container{background:%(bg)s;
  font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.geo311-legend{background:#fff;padding:6px 8px;border-radius:4px;
  box-shadow:0 1px 4px rgba(0,0,0,.35);max-width:17rem;max-height:45vh;overflow:auto;color:#222}
.geo311-legend-title{font-weight:600;margin:0 0 2px}
.geo311-legend-unit,.geo311-legend-denominator,.geo311-legend-scheme{
  font-size:11px;color:#444;margin:0 0 2px}
.geo311-legend ul{list-style:none;margin:4px 0 2px;padding:0}
.geo311-legend li{display:flex;align-items:center;gap:6px;margin:1px 0}
.geo311-legend svg{flex:none;border:1px solid #888}
.geo311-legend .geo311-count{color:#555;font-size:11px;white-space:nowrap}
.geo311-tooltip{width:max-content;max-width:22rem;white-space:normal}
.geo311-tooltip .geo311-tip-name{font-weight:600;margin:0 0 2px}
.geo311-tooltip dl{display:grid;grid-template-columns:auto auto;gap:0 8px;margin:0}
.geo311-tooltip dt{color:#444;white-space:nowrap}.geo311-tooltip dd{margin:0;font-weight:500}
.geo311-outline-label{background:rgba(255,255,255,.8);border:0;box-shadow:none;
  font-weight:600;padding:0 3px}
.geo311-outline-label:before{display:none}
.geo311-search{background:#fff;padding:3px}
.geo311-search input{font:inherit;width:12rem;padding:3px 4px;border:1px solid #888;
  border-radius:3px}
.geo311-visually-hidden{position:absolute!important;width:1px;height:1px;overflow:hidden;
  clip:rect(0 0 0 0);white-space:nowrap}
.geo311-patterns{position:absolute;width:0;height:0;overflow:hidden}
""" % {"bg": BACKGROUND}  # noqa: UP031 - CSS braces make str.format awkward

# The browser side, written for geo311. Every text is set with textContent or
# as a DOM property, never parsed as HTML.
_RUNTIME_JS = r"""
window.geo311 = window.geo311 || (function () {
  "use strict";
  function node(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    if (text !== undefined && text !== null) { el.textContent = String(text); }
    return el;
  }
  function registry(map) {
    if (!map._geo311) { map._geo311 = {areas: []}; }
    return map._geo311;
  }
  function tooltip(name, labels, values) {
    var box = node("div", "geo311-tip");
    box.appendChild(node("div", "geo311-tip-name", name));
    var dl = node("dl");
    for (var i = 0; i < labels.length; i++) {
      if (values[i] === null || values[i] === undefined || values[i] === "") { continue; }
      dl.appendChild(node("dt", "", labels[i]));
      dl.appendChild(node("dd", "", values[i]));
    }
    box.appendChild(dl);
    return box;
  }
  function features(geometries, properties) {
    var out = [];
    for (var i = 0; i < geometries.length; i++) {
      out.push({type: "Feature", geometry: geometries[i], properties: properties[i]});
    }
    return {type: "FeatureCollection", features: out};
  }
  function choropleth(map, geometries, properties, cfg) {
    function fill(p) {
      if (p.s === "insufficient" || p.c < 0) { return "url(#" + cfg.na + ")"; }
      if (p.s === "unstable") { return "url(#" + cfg.unstable[p.c] + ")"; }
      return cfg.colors[p.c];
    }
    function style(feature) {
      var p = feature.properties;
      var cls = "geo311-area geo311-" + p.s + (p.c >= 0 ? " geo311-class-" + p.c : "");
      return {fillColor: fill(p), fillOpacity: cfg.opacity, color: cfg.stroke, weight: 0.7,
              opacity: 0.9, className: cls};
    }
    var layer = L.geoJSON(features(geometries, properties), {
      style: style,
      onEachFeature: function (feature, sub) {
        var p = feature.properties;
        sub.bindTooltip(function () { return tooltip(p.name, cfg.labels, p.t); },
                        {sticky: true, className: "geo311-tooltip", direction: "top"});
        // keep hundreds of areas out of the Tab order: the search box reaches them instead
        sub.on("add", function () {
          var el = sub.getElement();
          if (el) { el.setAttribute("tabindex", "-1"); }
        });
        sub.on("mouseover", function () { sub.setStyle({weight: 2.5}); sub.bringToFront(); });
        sub.on("mouseout", function () { layer.resetStyle(sub); });
      }
    });
    registry(map).areas.push(layer);
    return layer;
  }
  function legend(map, layer, id) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var control = L.control({position: "bottomright"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "geo311-legend-control leaflet-control");
      box.appendChild(el);
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    layer.on("add", function () { control.addTo(map); });
    layer.on("remove", function () { control.remove(); });
    if (map.hasLayer(layer)) {
      control.addTo(map);
    } else if (el.parentNode) {
      el.parentNode.removeChild(el);  // shown again, in its control, when the layer is
    }
  }
  function outlines(map, geometries, labels) {
    var group = L.featureGroup();
    var props = labels.map(function (label) { return {name: label[1]}; });
    L.geoJSON(features(geometries, props), {interactive: false, style: {
      color: "#1a1a1a", weight: 2.2, opacity: 0.9, fill: false, className: "geo311-outline"
    }}).addTo(group);
    for (var i = 0; i < labels.length; i++) {
      L.tooltip({permanent: true, direction: "center", className: "geo311-outline-label",
                 interactive: false})
        .setLatLng(labels[i][0]).setContent(node("span", "", labels[i][1])).addTo(group);
    }
    return group;
  }
  function search(map, opts) {
    var control = L.control({position: "topleft"});
    control.onAdd = function () {
      var box = L.DomUtil.create("div", "geo311-search leaflet-bar leaflet-control");
      box.setAttribute("role", "search");
      var label = node("label", "geo311-visually-hidden", opts.label);
      label.htmlFor = opts.id;
      var input = node("input");
      input.type = "search"; input.id = opts.id; input.placeholder = opts.placeholder;
      input.autocomplete = "off"; input.setAttribute("list", opts.id + "-names");
      var list = node("datalist"); list.id = opts.id + "-names";
      var status = node("span", "geo311-visually-hidden");
      status.setAttribute("role", "status");
      [label, input, list, status].forEach(function (child) { box.appendChild(child); });
      function fillList() {
        var seen = Object.create(null);  // no inherited keys: an area may be called "constructor"
        list.textContent = "";
        registry(map).areas.forEach(function (layer) {
          layer.eachLayer(function (sub) {
            var name = sub.feature.properties.name;
            if (seen[name]) { return; }
            seen[name] = true;
            var option = document.createElement("option");
            option.value = name;
            list.appendChild(option);
          });
        });
      }
      function go() {
        var wanted = input.value.trim().toLowerCase();
        if (!wanted) { return; }
        var layers = registry(map).areas.slice().sort(function (a, b) {
          return (map.hasLayer(b) ? 1 : 0) - (map.hasLayer(a) ? 1 : 0);
        });
        for (var i = 0; i < layers.length; i++) {
          var hit = null;
          layers[i].eachLayer(function (sub) {
            var name = String(sub.feature.properties.name).toLowerCase();
            if (!hit && name === wanted) { hit = sub; }
          });
          if (hit) {
            map.fitBounds(hit.getBounds(), {maxZoom: 15});
            if (map.hasLayer(layers[i])) { hit.openTooltip(hit.getBounds().getCenter()); }
            status.textContent = "";
            return;
          }
        }
        status.textContent = opts.notFound;
      }
      input.addEventListener("focus", fillList);
      input.addEventListener("change", go);
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    control.addTo(map);
    return control;
  }
  return {choropleth: choropleth, legend: legend, outlines: outlines, search: search,
          tooltip: tooltip};
}());
"""


@functools.cache
def _elements() -> SimpleNamespace:
    """Define geo311's folium element classes (folium is imported only now)."""
    _folium()  # a friendly ImportError when the extra is missing
    from branca.element import Element, MacroElement  # noqa: PLC0415
    from folium import Map  # noqa: PLC0415
    from folium.map import Layer  # noqa: PLC0415
    from folium.plugins import Fullscreen as FoliumFullscreen  # noqa: PLC0415
    from folium.template import Template  # noqa: PLC0415

    leaflet_js = _assets.cdn_url("leaflet", "leaflet.js")
    leaflet_css = _assets.cdn_url("leaflet", "leaflet.css")
    fullscreen_js = _assets.cdn_url("leaflet.fullscreen", "Control.FullScreen.js")
    fullscreen_css = _assets.cdn_url("leaflet.fullscreen", "Control.FullScreen.css")

    class Geo311Map(Map):
        """A folium Map that loads only Leaflet and sizes itself to its container."""

        default_js = [("leaflet", leaflet_js)]  # noqa: RUF012
        default_css = [("leaflet_css", leaflet_css)]  # noqa: RUF012
        _template = Template(
            """
{% macro header(this, kwargs) %}<style>#{{ this.get_name() }}{position:relative;
width:100%;height:100%;min-height:{{ this.min_height }}}</style>{% endmacro %}
{% macro html(this, kwargs) %}<div class="folium-map geo311-map" id="{{ this.get_name() }}"
 role="region" aria-label="{{ this.aria_label }}"></div>{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.map("{{ this.get_name() }}", {
  center: {{ this.location|tojson }}, crs: L.CRS.{{ this.crs }},
  ...{{ this.options|tojavascript }}});
{% endmacro %}
"""
        )

        def __init__(self, *, label: str, min_height: str, **kwargs: Any) -> None:
            super().__init__(tiles=None, **kwargs)
            self.aria_label = escape_html(label)
            self.min_height = min_height

    class Chrome(MacroElement):
        """Runtime CSS/JS (once per page) and the area search box."""

        _template = Template(
            """
{% macro script(this, kwargs) %}
geo311.search({{ this._parent.get_name() }}, {{ this.search_json }});
{% endmacro %}
"""
        )

        def __init__(self) -> None:
            super().__init__()
            self._name = "Geo311Chrome"

        def render(self, **kwargs: Any) -> Any:
            figure: Any = self.get_root()
            parent: Any = self._parent
            figure.header.add_child(
                Element(f"<style>{_RUNTIME_CSS}</style>"), name="geo311_runtime_css"
            )
            figure.header.add_child(
                Element(f"<script>{_RUNTIME_JS}</script>"), name="geo311_runtime_js"
            )
            self.search_json = json_for_script(
                {
                    "id": f"{parent.get_name()}-search",
                    "label": "Find an area by name",
                    "placeholder": "Find an area\u2026",
                    "notFound": "No area with that name",
                }
            )
            return super().render(**kwargs)

    class Fullscreen(FoliumFullscreen):
        """folium's full-screen control, loading the vendored leaflet.fullscreen."""

        default_js = [("leaflet_fullscreen", fullscreen_js)]  # noqa: RUF012
        default_css = [("leaflet_fullscreen_css", fullscreen_css)]  # noqa: RUF012

    class ChoroplethLayer(Layer):
        """One indicator as a GeoJSON overlay, with its legend and hatch patterns."""

        _template = Template(
            """
{% macro html(this, kwargs) %}{{ this.html_text }}{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geo311.choropleth({{ this._parent.get_name() }}, {{ this.geometry }},
{{ this.props_json }},
{{ this.cfg_json }});
geo311.legend({{ this._parent.get_name() }}, {{ this.get_name() }}, {{ this.legend_id_json }});
{% endmacro %}
"""
        )

        def __init__(
            self,
            *,
            name: str,
            geometry: str,
            props_json: str,
            build: Callable[[str], tuple[str, dict[str, Any]]],
            show: bool,
        ) -> None:
            super().__init__(name=escape_html(name), overlay=True, control=True, show=show)
            self._name = "Geo311Choropleth"
            self.geometry = geometry
            self.props_json = props_json
            self._build = build

        def render(self, **kwargs: Any) -> Any:
            self.html_text, cfg = self._build(self.get_name())
            self.cfg_json = json_for_script(cfg)
            self.legend_id_json = json_for_script(f"{self.get_name()}-legend")
            return super().render(**kwargs)

    class OutlineLayer(Layer):
        """Boundaries drawn as outlines with their names (e.g. council districts)."""

        _template = Template(
            """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geo311.outlines({{ this._parent.get_name() }}, {{ this.geometry }},
{{ this.labels_json }});
{% endmacro %}
"""
        )

        def __init__(self, *, name: str, geometry: str, labels_json: str, show: bool) -> None:
            super().__init__(name=escape_html(name), overlay=True, control=True, show=show)
            self._name = "Geo311Outlines"
            self.geometry = geometry
            self.labels_json = labels_json

    class Geometries(MacroElement):
        """Area geometries embedded once per map and shared by the layers drawing them."""

        _template = Template(
            """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = {{ this.geometries_json }};
{% endmacro %}
"""
        )

        def __init__(self, *, key: str, geometries_json: str) -> None:
            super().__init__()
            self._name = "Geo311Geometry"
            self._id = key
            self.geometries_json = geometries_json

    return SimpleNamespace(
        Map=Geo311Map,
        Geometries=Geometries,
        Chrome=Chrome,
        Fullscreen=Fullscreen,
        ChoroplethLayer=ChoroplethLayer,
        OutlineLayer=OutlineLayer,
    )


# --------------------------------------------------------------------------- legend / patterns


def _swatch(fill: str) -> str:
    return (
        '<svg width="18" height="14" aria-hidden="true" focusable="false">'
        f'<rect width="18" height="14" fill="{escape_html(fill)}"/></svg>'
    )


def _hatch_pattern(pattern_id: str, background: str, line: str, *, width: float) -> str:
    return (
        f'<pattern id="{escape_html(pattern_id)}" patternUnits="userSpaceOnUse" width="7" '
        'height="7" patternTransform="rotate(45)">'
        f'<rect width="7" height="7" fill="{escape_html(background)}"/>'
        f'<line x1="0" y1="0" x2="0" y2="7" stroke="{escape_html(line)}" '
        f'stroke-width="{width}" stroke-opacity="0.75"/></pattern>'
    )


@dataclass(frozen=True)
class _LegendInput:
    title: str
    unit: str
    denominator: str | None
    classes: Classes
    n_unstable: int
    n_insufficient: int
    min_count: int
    scheme_label: str


def _legend_and_patterns(uid: str, info: _LegendInput) -> tuple[str, dict[str, Any]]:
    """Escaped legend HTML + hidden SVG patterns, and the ids the script needs."""
    na_id = f"{uid}-hatch-na"
    unstable_ids = [f"{uid}-hatch-unstable-{i}" for i in range(info.classes.k)]
    patterns = [_hatch_pattern(na_id, NA_FILL, NA_HATCH, width=2.2)]
    patterns += [
        _hatch_pattern(pid, color, UNSTABLE_HATCH, width=1.2)
        for pid, color in zip(unstable_ids, info.classes.colors, strict=True)
    ]
    legend_unstable = f"{uid}-hatch-unstable-legend"
    patterns.append(_hatch_pattern(legend_unstable, "#ffffff", UNSTABLE_HATCH, width=1.2))
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
        ("unstable", legend_unstable, info.n_unstable),
        ("insufficient", na_id, info.n_insufficient),
    ):
        if n:
            items.append(
                f'<li class="geo311-legend-{flag}" data-flag="{flag}">{_swatch(f"url(#{pid})")}'
                f"<span>{escape_html(_flag_label(flag, info.min_count))}</span>"
                f' <span class="geo311-count">({n} area{"s" if n != 1 else ""})</span></li>'
            )
    parts = [
        f'<div class="geo311-legend" id="{uid}-legend" role="group" aria-labelledby="{title_id}">',
        f'<p class="geo311-legend-title" id="{title_id}">{escape_html(info.title)}</p>',
        f'<p class="geo311-legend-unit">{escape_html(info.unit)}</p>' if info.unit else "",
        (
            '<p class="geo311-legend-denominator">'
            f"Denominator: {escape_html(info.denominator)}</p>"
            if info.denominator
            else ""
        ),
        f"<ul>{''.join(items)}</ul>",
        f'<p class="geo311-legend-scheme">Classes: {escape_html(info.scheme_label)}</p>',
        "</div>",
    ]
    cfg = {"na": na_id, "unstable": unstable_ids}
    return svg + "".join(parts), cfg


# --------------------------------------------------------------------------- GeoJSON


def _geometries_json(geoms: Any) -> str:
    """Compact JSON array of GeoJSON geometries, coordinates rounded to 6 decimals (~0.1 m)."""
    import shapely  # noqa: PLC0415

    rounded = shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.round(xy, 6))
    return "[" + ",".join(shapely.to_geojson(rounded)) + "]"


def _shared_geometry(m: folium.Map, geoms: Any) -> str:
    """Embed ``geoms`` once per map (layers of the same areas share them); return the JS name."""
    el = _elements()
    text = _geometries_json(geoms)
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    element = el.Geometries(key=key, geometries_json=text)
    if element.get_name() not in m._children:
        m.add_child(element, name=element.get_name())
    return str(element.get_name())


@functools.lru_cache(maxsize=64)
def _utm_crs_of_bounds(bounds: tuple[float, float, float, float]) -> Any:
    import geopandas as gpd  # noqa: PLC0415
    from shapely import box  # noqa: PLC0415

    return gpd.GeoSeries([box(*bounds)], crs=4326).estimate_utm_crs()


def _utm_crs(frame: gpd.GeoDataFrame) -> Any:
    """``frame.estimate_utm_crs()`` for a frame in EPSG:4326, cached by its bounds.

    The estimate depends only on the bounds (it looks up the UTM zone of their
    centre), and the pyproj database query behind it takes ~0.15 s: a site
    draws the same outlines on every page.
    """
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return _utm_crs_of_bounds((minx, miny, maxx, maxy))


def _to_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    import geopandas as gpd  # noqa: PLC0415

    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame, got {type(gdf).__name__}"
        raise TypeError(msg)
    if gdf.crs is None:
        msg = f"{what} has no CRS; set it first (gdf.set_crs('EPSG:4326') for lon/lat)"
        raise CRSError(msg)
    out = gdf.to_crs(4326)
    keep = ~(out.geometry.isna() | out.geometry.is_empty)
    if not keep.all():
        log.info("%s: %d area(s) without geometry left off the map", what, int((~keep).sum()))
    return out[keep]


# --------------------------------------------------------------------------- choropleth


def _new_map(frame: gpd.GeoDataFrame, *, tiles: bool | str, label: str) -> folium.Map:
    folium = _folium()
    el = _elements()
    m = el.Map(
        label=label,
        min_height="24rem",
        location=[0.0, 0.0],
        keyboard=True,
        prefer_canvas=False,
        zoom_snap=0.25,
    )
    if tiles:
        url = DEFAULT_TILES["url"] if tiles is True else str(tiles)
        attribution = DEFAULT_TILES["attribution"] if tiles is True else ""
        folium.TileLayer(
            tiles=url,
            attr=attribution or "basemap tiles",
            name="basemap",
            control=False,
            max_zoom=DEFAULT_TILES["max_zoom"],
            subdomains=DEFAULT_TILES["subdomains"],
        ).add_to(m)
    minx, miny, maxx, maxy = frame.total_bounds
    if np.isfinite([minx, miny, maxx, maxy]).all():
        m.location = [float((miny + maxy) / 2), float((minx + maxx) / 2)]
        m.fit_bounds([[float(miny), float(minx)], [float(maxy), float(maxx)]])
    return m


def _ensure_chrome(m: folium.Map) -> None:
    el = _elements()
    if not any(isinstance(child, el.Chrome) for child in m._children.values()):
        m.add_child(el.Chrome())
        m.add_child(
            el.Fullscreen(position="topleft", title="Full screen", title_cancel="Exit full screen")
        )


def finish(m: folium.Map, *, collapsed: bool = False) -> folium.Map:
    """Put exactly one ``LayerControl`` last on ``m`` (moving an existing one) and return ``m``.

    :func:`choropleth` calls this itself; call it again after adding other
    folium layers to ``m`` so the control lists them too.
    """
    folium = _folium()
    controls = [k for k, v in m._children.items() if isinstance(v, folium.LayerControl)]
    for key in controls:
        del m._children[key]
    m.add_child(folium.LayerControl(collapsed=collapsed, position="topright"))
    return m


def choropleth(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    scheme: str = "quantiles",
    k: int = 5,
    bins: Sequence[float] | None = None,
    palette: str | Sequence[str] | None = None,
    m: folium.Map | None = None,
    name: str | None = None,
    title: str | None = None,
    unit: str | None = None,
    population_source: str | None = None,
    tooltip: Sequence[str] | Mapping[str, str] | None = None,
    outlines: gpd.GeoDataFrame | None = None,
    tiles: bool | str = True,
    show: bool = True,
    area_name: str = "area_name",
    outline_name: str = "name",
    outlines_title: str = "Boundaries",
    opacity: float = 0.8,
    min_count: int = MIN_COUNT,
    scheme_label: str | None = None,
) -> folium.Map:
    """Draw one indicator of a layer as an offline-ready choropleth layer.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Areas with the indicator columns already merged in (any CRS; drawn in
        EPSG:4326). Not modified.
    column : str
        The indicator to map (see :data:`INDICATORS`; other numeric columns
        get settings derived from the data dictionary).
    scheme, k, bins, palette
        Classification and colours, see :func:`classify`. Ratios (diverging
        indicators) are centred on 1.
    m : folium.Map, optional
        Add the indicator as another switchable layer of this map (the
        ``LayerControl`` is moved last automatically).
    name : str, optional
        Layer name in the layer control (default: the title).
    title, unit : str, optional
        Legend title and unit (defaults from :data:`INDICATORS`).
    population_source : str, optional
        Denominator source and year, e.g. ``"ACS 2020 5-year"``; quoted in the
        legend and the tooltip of population-based indicators.
    tooltip : sequence of str or mapping of str to str, optional
        Extra indicator columns for the tooltip (a mapping gives labels). Only
        columns of the data dictionary are accepted.
    outlines : geopandas.GeoDataFrame, optional
        Boundaries drawn on top as labelled outlines (column ``outline_name``).
    tiles : bool or str, default True
        True: the light CARTO Positron basemap; False: none; a string: a tile
        URL template. Ignored when ``m`` is given.
    show : bool, default True
        Whether the layer (and its legend) is visible initially.
    area_name : str, default "area_name"
        Column with the area names (falls back to ``area_id``).
    outline_name, outlines_title : str
        Name column of ``outlines`` and its layer name.
    opacity : float, default 0.8
        Fill opacity of the areas.
    min_count : int, default :data:`MIN_COUNT`
        Areas whose count column (see :class:`Indicator`) is below this are
        unstable; pass the ``min_count`` the indicators were computed with.
    scheme_label : str, optional
        How the classes were made, shown under the legend (default: the
        scheme's name), e.g. "citywide quantiles" when ``bins`` are the city's.

    Returns
    -------
    folium.Map
        ``m`` or a new map; render it with :func:`map_parts` or :func:`save_map`.
    """
    el = _elements()
    frame = _to_wgs84(_check_column(gdf, column), "gdf")
    prep = _prepare(
        frame, column, scheme=scheme, k=k, bins=bins, palette=palette, min_count=min_count
    )
    spec, status, classes = prep.spec, prep.status, prep.classes
    title = spec.title if title is None else str(title)
    properties, labels = _properties(
        frame,
        prep,
        title=title,
        population_source=population_source,
        area_name=area_name,
        tooltip=tooltip,
    )
    info = _LegendInput(
        title=title,
        unit=spec.unit if unit is None else str(unit),
        denominator=_denominator(spec, population_source),
        classes=classes,
        n_unstable=int((status == "unstable").sum()),
        n_insufficient=int((status == "insufficient").sum()),
        min_count=min_count,
        scheme_label=classes.scheme.replace("_", " ") if scheme_label is None else scheme_label,
    )
    if m is None:
        m = _new_map(frame, tiles=tiles, label=f"Map: {title}")

    def build(uid: str) -> tuple[str, dict[str, Any]]:
        legend_html, ids = _legend_and_patterns(uid, info)
        cfg = {
            **ids,
            "colors": list(classes.colors),
            "labels": labels,
            "opacity": opacity,
            "stroke": AREA_STROKE,
        }
        return legend_html, cfg

    _ensure_chrome(m)
    layer = el.ChoroplethLayer(
        name=title if name is None else str(name),
        geometry=_shared_geometry(m, frame.geometry.to_numpy()),
        props_json=json_for_script(properties),
        build=build,
        show=show,
    )
    m.add_child(layer)
    if outlines is not None:
        m.add_child(_outline_layer(m, outlines, name=outlines_title, name_column=outline_name))
    log.info(
        "mapped %s for %d areas in %d classes (%s); %d unstable, %d insufficient",
        column,
        len(frame),
        classes.k,
        classes.scheme,
        info.n_unstable,
        info.n_insufficient,
    )
    return finish(m)


class _Prepared(NamedTuple):
    """An indicator column ready to draw: its settings, values, statuses and classes."""

    spec: Indicator
    values: pd.Series
    status: pd.Series
    classes: Classes
    min_count: int


def _check_column(gdf: gpd.GeoDataFrame, column: str) -> gpd.GeoDataFrame:
    if column not in gdf.columns:
        numeric = [c for c in gdf.columns if c in DATA_DICTIONARY or c in INDICATORS]
        msg = f"column {column!r} is not in the frame; indicator columns present: {numeric}"
        raise SchemaError(msg)
    return gdf


def _prepare(
    frame: pd.DataFrame,
    column: str,
    *,
    scheme: str,
    k: int,
    bins: Sequence[float] | None,
    palette: str | Sequence[str] | None,
    min_count: int,
) -> _Prepared:
    """Statuses and classes of ``column``, shared by :func:`choropleth` and :func:`static_map`."""
    spec = indicator_spec(column, list(frame.columns))
    values = _num(frame, column)
    status = _statuses(frame, values, spec, min_count)
    classes = classify(
        values.where(status != "insufficient"),
        scheme=scheme,
        k=k,
        bins=bins,
        palette=palette,
        center=1.0 if spec.palette == "diverging" else None,
        fmt=spec.fmt,
    )
    return _Prepared(spec, values, status, classes, min_count)


def _denominator(spec: Indicator, population_source: str | None) -> str | None:
    """Return the legend's denominator, with the population source when it is residents."""
    if spec.denominator and spec.uses_population:
        return f"{spec.denominator}, {population_source or 'source not stated'}"
    return spec.denominator


def _properties(
    frame: pd.DataFrame,
    prep: _Prepared,
    *,
    title: str,
    population_source: str | None,
    area_name: str,
    tooltip: Sequence[str] | Mapping[str, str] | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the allow-listed GeoJSON properties of every area, and the tooltip labels."""
    spec, values, status, classes = prep.spec, prep.values, prep.status, prep.classes
    names = _area_names(frame, area_name)
    low, high = (_num(frame, c) for c in (spec.ci or (None, None)))
    requests = _num(frame, "requests")
    population = _num(frame, "population")
    extras = _tooltip_extras(tooltip, frame)
    count = spec.count
    if count is not None and count in frame and count not in {"requests", *dict(extras)}:
        # the count that makes the area unstable, e.g. requests with a due date
        extras.append((count, _COUNT_LABELS.get(count, count)))
    labels = [title, "Requests", "Population", "Data quality"]
    labels += [label for _, label in extras]
    extra_fmts = [(col, indicator_spec(col).fmt) for col, _ in extras]
    source = f" ({population_source})" if population_source else ""
    has_requests = "requests" in frame.columns
    has_population = "population" in frame.columns
    props = []
    for i in range(len(frame)):
        st = str(status.iloc[i])
        texts: list[str | None] = [
            _value_text(values.iloc[i], low.iloc[i], high.iloc[i], spec, st),
            format_value(requests.iloc[i], "count") if has_requests else None,
            (format_value(population.iloc[i], "count") + source) if has_population else None,
            _flag_label(st, prep.min_count),
        ]
        for col, fmt in extra_fmts:
            raw = frame[col].iloc[i]
            texts.append(raw if isinstance(raw, str) else format_value(raw, fmt))
        cls = -1 if st == "insufficient" else int(classes.yb[i])
        props.append({"name": names.iloc[i], "c": cls, "s": st, "t": texts})
    return props, labels


def _outline_layer(
    m: folium.Map, outlines: gpd.GeoDataFrame, *, name: str, name_column: str
) -> Any:
    el = _elements()
    frame = _to_wgs84(outlines, "outlines")
    names = _area_names(frame, name_column)
    # label at a point inside each area (a centroid can fall outside)
    points = frame.to_crs(_utm_crs(frame)).representative_point().to_crs(4326)
    labels = [[[round(p.y, 6), round(p.x, 6)], n] for p, n in zip(points, names, strict=True)]
    return el.OutlineLayer(
        name=name,
        geometry=_shared_geometry(m, frame.geometry.to_numpy()),
        labels_json=json_for_script(labels),
        show=True,
    )


# --------------------------------------------------------------------------- rendering


class MapParts(NamedTuple):
    """A rendered map, split for embedding in a page.

    Attributes
    ----------
    head : str
        ``<style>``/``<script>`` (inline) or ``<link>``/``<script src>``
        (external) elements for the page ``<head>``.
    body : str
        The map container, its legends and hatch patterns, where the map goes.
    script : str
        One ``<script>`` element that draws the map; put it at the end of ``<body>``.
    """

    head: str
    body: str
    script: str


_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>\s*</script>", re.I)
_LINK_HREF = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*>", re.I)
_META_CONTENT_TYPE = re.compile(r"<meta http-equiv=\"content-type\"[^>]*>\s*", re.I)
_EXTERNAL = re.compile(r"^(https?:)?//", re.I)


def map_parts(m: folium.Map, *, assets: str = "inline", asset_prefix: str = "assets/") -> MapParts:
    """Render ``m`` into head, body and script parts that need no CDN.

    Parameters
    ----------
    m : folium.Map
        A map from :func:`choropleth`.
    assets : {"inline", "external"}
        ``inline``: vendored Leaflet files are embedded (one self-contained
        page). ``external``: they are linked as ``asset_prefix + file``; copy
        them with :func:`write_assets`.
    asset_prefix : str
        Relative URL of the folder :func:`write_assets` fills (external mode).

    Raises
    ------
    Geo311Error
        When the map references a script or stylesheet that is not vendored
        (e.g. a folium plugin geo311 does not ship), naming the URLs.
    """
    if assets not in {"inline", "external"}:
        msg = f"assets must be 'inline' or 'external', got {assets!r}"
        raise ValueError(msg)
    figure: Any = m.get_root()
    figure.render()
    head = figure.header.render()
    body = figure.html.render()
    script = figure.script.render()
    unknown: list[str] = []
    seen: set[str] = set()

    def swap(match: re.Match[str]) -> str:
        url = match.group(1)
        path = _assets.url_to_asset(url)
        if path is None:
            if _EXTERNAL.match(url):
                unknown.append(url)
            return match.group(0)
        if path in seen:
            return ""
        seen.add(path)
        if assets == "inline":
            return _assets.inline_tag(path)
        return _assets.link_tag(path, asset_prefix)

    head = _META_CONTENT_TYPE.sub("", head)
    head = _LINK_HREF.sub(swap, _SCRIPT_SRC.sub(swap, head))
    for part in (body, script):
        unknown += [u for u in _SCRIPT_SRC.findall(part) if _EXTERNAL.match(u)]
        unknown += [u for u in _LINK_HREF.findall(part) if _EXTERNAL.match(u)]
    if unknown:
        msg = (
            f"the map loads scripts/stylesheets that are not vendored: {sorted(set(unknown))}; "
            "use geo311 map layers only, or vendor the files (scripts/vendor_assets.py)"
        )
        raise Geo311Error(msg)
    if "</script" in script.lower():
        msg = "the map script contains '</script'; an element did not escape its data"
        raise Geo311Error(msg)
    return MapParts(head=head.strip(), body=body.strip(), script=f"<script>\n{script}\n</script>")


def write_assets(site_dir: str | Path) -> list[Path]:
    """Copy the vendored Leaflet files (and their licences) to ``site_dir / "assets"``.

    These are the files :func:`map_parts` links with ``assets="external"``.
    Returns the written paths.
    """
    written = _assets.copy_assets(Path(site_dir) / "assets")
    log.info("wrote %d vendored map assets to %s", len(written), Path(site_dir) / "assets")
    return written


_PAGE_CSS = (
    "html,body{height:100%;margin:0}"
    "body{display:flex;flex-direction:column;font-family:system-ui,-apple-system,'Segoe UI',"
    "Roboto,sans-serif;color:#222}"
    "h1{font-size:1.05rem;margin:.4rem .75rem}"
    "main{flex:1;min-height:0;position:relative}"
    "main>.geo311-map{position:absolute;top:0;right:0;bottom:0;left:0;min-height:0}"
)


def save_map(
    m: folium.Map,
    path: str | Path,
    *,
    title: str,
    assets: str = "inline",
    overwrite: bool = False,
) -> Path:
    """Write ``m`` as a standalone, offline, accessible HTML page.

    With ``assets="external"`` the vendored files are written to an
    ``assets/`` folder beside the page.

    Returns
    -------
    pathlib.Path
        The page written.
    """
    path = Path(path)
    check_overwrite([path], overwrite=overwrite)
    parts = map_parts(m, assets=assets, asset_prefix="assets/")
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape_html(title)}</title>\n<style>{_PAGE_CSS}</style>\n"
        f"{parts.head}\n</head>\n<body>\n<h1>{escape_html(title)}</h1>\n"
        f"<main>\n{parts.body}\n</main>\n{parts.script}\n</body>\n</html>\n"
    )
    with atomic_write(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    if assets == "external":
        write_assets(path.parent)
    log.info("wrote map page %s (%s bytes)", path, f"{len(page.encode()):,}")
    return path


# --------------------------------------------------------------------------- static PNG


def _polygon_paths(geom: Any, mpl: SimpleNamespace) -> list[Any]:
    """Matplotlib paths (exterior + holes) of a (multi)polygon."""
    polys = getattr(geom, "geoms", [geom])
    paths = []
    for poly in polys:
        if poly.is_empty:
            continue
        rings = [np.asarray(poly.exterior.coords)] + [np.asarray(r.coords) for r in poly.interiors]
        verts = np.concatenate(rings)
        codes = np.concatenate(
            [
                np.r_[mpl.Path.MOVETO, np.full(len(r) - 2, mpl.Path.LINETO), mpl.Path.CLOSEPOLY]
                for r in rings
            ]
        )
        paths.append(mpl.Path(verts, codes))
    return paths


def _static_legend(
    ax: Any,
    mpl: SimpleNamespace,
    *,
    prep: _Prepared,
    unit: str,
    population_source: str | None,
) -> None:
    """Draw the legend of a static map: classes, flag entries, unit and denominator."""
    classes, status = prep.classes, prep.status
    handles = [
        mpl.Patch(facecolor=c, edgecolor=AREA_STROKE, label=lab)
        for c, lab in zip(classes.colors, classes.labels, strict=True)
    ]
    if (status == "unstable").any():
        handles.append(
            mpl.Patch(facecolor="white", edgecolor=UNSTABLE_HATCH, hatch="....",
                      label=_flag_label("unstable", prep.min_count))
        )  # fmt: skip
    if (status == "insufficient").any():
        handles.append(
            mpl.Patch(facecolor=NA_FILL, edgecolor=NA_HATCH, hatch="////",
                      label=_flag_label("insufficient", prep.min_count))
        )  # fmt: skip
    legend_title = unit
    denominator = _denominator(prep.spec, population_source)
    if denominator:
        legend_title += f"\nDenominator: {denominator}"
    ax.legend(
        handles=handles,
        title=legend_title,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize=8,
        title_fontsize=8,
        alignment="left",
        frameon=True,
        framealpha=0.9,
    )


def static_map(
    gdf: gpd.GeoDataFrame,
    column: str,
    path: str | Path,
    *,
    scheme: str = "quantiles",
    k: int = 5,
    bins: Sequence[float] | None = None,
    palette: str | Sequence[str] | None = None,
    title: str | None = None,
    unit: str | None = None,
    population_source: str | None = None,
    outlines: gpd.GeoDataFrame | None = None,
    overwrite: bool = False,
    dpi: int = 150,
    figsize: tuple[float, float] = (10.0, 7.0),
    min_count: int = MIN_COUNT,
) -> Path:
    """Write a PNG choropleth with the same classes and colours as :func:`choropleth`.

    Insufficient-data areas are grey and hatched, unstable ones hatched over
    their class colour; the legend states the unit and the denominator. Uses
    a standalone matplotlib ``Figure`` with the Agg canvas (pyplot is not touched).
    The parameters shared with :func:`choropleth` mean the same there.

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    path = Path(path)
    check_overwrite([path], overwrite=overwrite)
    mpl = _matplotlib()
    frame = _to_wgs84(_check_column(gdf, column), "gdf")
    crs = _utm_crs(frame)
    frame = frame.to_crs(crs)
    prep = _prepare(
        frame, column, scheme=scheme, k=k, bins=bins, palette=palette, min_count=min_count
    )
    status, classes = prep.status, prep.classes
    title = prep.spec.title if title is None else str(title)
    unit = prep.spec.unit if unit is None else str(unit)
    fig = mpl.Figure(figsize=figsize, dpi=dpi)
    mpl.FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.64, 0.86))
    ax.set_axis_off()
    ax.set_aspect("equal")
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for geom, st, cls in zip(frame.geometry, status, classes.yb, strict=True):
        key: tuple[str, str | None]
        if st == "insufficient":
            key = (NA_FILL, "////")
        else:
            key = (classes.colors[cls], "...." if st == "unstable" else None)
        groups.setdefault(key, []).extend(mpl.PathPatch(p) for p in _polygon_paths(geom, mpl))
    for (face, hatch), patches in groups.items():
        edge = NA_HATCH if face == NA_FILL else (UNSTABLE_HATCH if hatch else AREA_STROKE)
        ax.add_collection(
            mpl.PatchCollection(
                patches,
                facecolor=face,
                edgecolor=edge,
                hatch=hatch,
                linewidth=0.3 if hatch is None else 0.2,
                match_original=False,
            )
        )
    if outlines is not None:
        lines = _to_wgs84(outlines, "outlines").to_crs(crs)
        ax.add_collection(
            mpl.PatchCollection(
                [mpl.PathPatch(p) for g in lines.geometry for p in _polygon_paths(g, mpl)],
                facecolor="none",
                edgecolor="#1a1a1a",
                linewidth=1.2,
            )
        )
    minx, miny, maxx, maxy = frame.total_bounds
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    _static_legend(ax, mpl, prep=prep, unit=unit, population_source=population_source)
    fig.suptitle(title, fontsize=12, x=0.02, y=0.97, ha="left")
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    log.info("wrote static map of %s to %s", column, path)
    return path

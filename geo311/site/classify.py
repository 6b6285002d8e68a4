"""Classes and colours of a choropleth: mapclassify schemes, colour-blind-safe ramps.

Classes follow mapclassify's schemes (:data:`SCHEMES`): quantiles and equal
intervals are computed here with mapclassify's own arithmetic (the same bounds
to the last bit, tested against it; importing mapclassify, which loads scipy and
scikit-learn, cost more than the rest of a site), Fisher-Jenks by mapclassify; colours
from ColorBrewer / viridis ramps defined here as hex (:data:`PALETTES`);
ratios (1 = city) use a diverging ramp whose neutral middle colour is the
class that holds 1. The interactive map and the static PNG both classify
with :func:`classify`, so they show the same classes in the same colours.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import warnings
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NamedTuple

import numpy as np
import pandas as pd

from geo311._errors import OptionError
from geo311.site.specs import DASH, format_value

__all__ = [
    "AREA_STROKE",
    "DEFAULT_DIVERGING",
    "DEFAULT_SEQUENTIAL",
    "NA_FILL",
    "NA_HATCH",
    "NOT_REACHED_HATCH",
    "PALETTES",
    "SCHEMES",
    "UNSTABLE_HATCH",
    "Classes",
    "classify",
]

log = logging.getLogger(__name__)

EXTRA = "pip install 'geo311[maps]'"

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
#: "Not reached" (slower than the data follow requests): dark blue hatching the other
#: way over white, apart from both the grey of insufficient data and every class colour.
NOT_REACHED_HATCH = "#08306b"
#: Hatch lines drawn over the class colour of unstable areas.
UNSTABLE_HATCH = "#252525"
#: Area outlines.
AREA_STROKE = "#4d4d4d"

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


def _mapclassify() -> ModuleType:
    """Import mapclassify lazily (quietly: it warns about optional numba)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mapclassify  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = f"classifying values needs mapclassify: {EXTRA}"
        raise ImportError(msg) from exc
    return mapclassify


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
            raise OptionError(msg)
        return PALETTES[palette]
    colors = tuple(palette)
    bad = [c for c in colors if not isinstance(c, str) or not _HEX.match(c)]
    if bad or not colors:
        msg = f"palette colours must be '#rrggbb' hex strings; got {bad or 'nothing'}"
        raise OptionError(msg)
    if diverging and len(colors) % 2 == 0:
        msg = "a diverging palette needs an odd number of colours (neutral in the middle)"
        raise OptionError(msg)
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
        raise OptionError(msg)
    if scheme == "user_defined" and not bins:
        msg = "scheme='user_defined' needs bins= (upper class bounds)"
        raise OptionError(msg)
    if scheme != "user_defined" and (not isinstance(k, int | np.integer) or k < 1):
        msg = f"k must be a positive integer, got {k!r}"
        raise OptionError(msg)
    arr = np.asarray(pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce"), float)
    arr = np.where(np.isfinite(arr), arr, np.nan)
    y = arr[np.isfinite(arr)]
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
    up_to = float(y.min()) > upper[0]
    labels = (
        _labels(upper, lower, fmt, up_to=up_to)
        if callable(fmt)
        else _readable_labels(upper, lower, fmt, up_to=up_to)
    )
    return Classes(scheme, tuple(float(b) for b in upper), lower, colors, labels, counts, yb)


def _labels(
    upper: Sequence[float], lower: float, formatter: Callable[[float], str], *, up_to: bool
) -> tuple[str, ...]:
    """Legend text of each class; ``up_to``: every value exceeds the first bound."""
    out = []
    lows = [lower, *upper[:-1]]
    for lo, hi in zip(lows, upper, strict=True):
        a, b = formatter(lo), formatter(hi)
        out.append(a if a == b else f"{a} {DASH} {b}")
    if up_to:
        out[0] = f"up to {formatter(upper[0])}"
    return tuple(out)


def _readable_labels(
    upper: Sequence[float], lower: float, fmt: str, *, up_to: bool
) -> tuple[str, ...]:
    """Legend labels with as few decimals as keep different class limits apart.

    Limits that differ never read alike ("0.0 - 0.0"): the format's own
    decimals first, then up to 6. Equal limits read as one value.

    Examples
    --------
    >>> labels = _readable_labels([0.02, 0.04, 0.9], 0.01, "rate", up_to=False)
    >>> [label.replace(DASH, "-") for label in labels]
    ['0.01 - 0.02', '0.02 - 0.04', '0.04 - 0.90']
    """
    bounds = [lower, *upper]
    for decimals in (None, 2, 3, 4, 5, 6):
        formatter = functools.partial(format_value, fmt=fmt, decimals=decimals)
        if fmt == "count" or len({formatter(b) for b in bounds}) == len(set(bounds)):
            break
    return _labels(upper, lower, formatter, up_to=up_to)


def _quantile_bounds(y: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of ``k`` quantile classes, as ``mapclassify.Quantiles`` computes them.

    The percentiles ``100/k, 200/k, ..., 100`` of ``y``, each interpolated
    between the two order statistics around it with the weights of
    ``scipy.stats.scoreatpercentile`` (the same operations, so the same bits);
    repeated bounds collapse.
    """
    ordered = np.sort(y)
    step = 100.0 / k
    percents = np.arange(step, 100 + step, step)
    percents[-1] = min(percents[-1], 100.0)
    bounds = []
    for percent in percents:
        at = percent / 100.0 * (len(ordered) - 1)
        low = int(at)
        if low == at:
            bounds.append(ordered[low] / 1.0)
        else:
            w_low, w_high = (low + 1) - at, at - low
            bounds.append((ordered[low] * w_low + ordered[low + 1] * w_high) / (w_low + w_high))
    return np.unique(np.asarray(bounds, dtype=float))


def _equal_interval_bounds(y: np.ndarray, k: int) -> np.ndarray:
    """Upper bounds of ``k`` classes of equal width, as ``mapclassify.EqualInterval`` has them."""
    high, low = max(y), min(y)
    width = (high - low) * 1.0 / k
    cuts = np.arange(low + width, high + width, width)[:k]
    cuts[-1] = high
    return cuts


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
    if scheme == "quantiles":
        found = _quantile_bounds(y, k)
    elif scheme == "equal_interval":
        found = _equal_interval_bounds(y, k)
    else:
        mapclassify = _mapclassify()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "not enough unique values", "numba not installed"
            found = getattr(mapclassify, SCHEMES[scheme])(y, k=k).bins
    upper = [float(b) for b in np.unique(np.asarray(found, dtype=float))]
    upper[-1] = max(upper[-1], float(y.max()))
    if scheme != "quantiles":
        return upper  # an empty equal-interval class is information, not an artefact
    # drop empty classes (quantiles over tied values): merging an empty class is lossless
    idx = np.searchsorted(upper, y, side="left")
    kept = [b for i, b in enumerate(upper) if (idx == i).any()]
    if kept[-1] != upper[-1]:  # pragma: no cover - the top class always holds the maximum
        kept.append(upper[-1])
    return kept

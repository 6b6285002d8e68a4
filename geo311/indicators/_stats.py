"""Statistical helpers shared by the indicator, survival and equity modules: one of each.

* :func:`z_value` -- the two-sided normal quantile of a confidence level;
* :func:`garwood` -- exact Poisson (Garwood) limits of a count;
* :func:`wilson` -- Wilson score interval of a proportion;
* :func:`log_ratio_interval` -- ``exp(ln R -/+ z sqrt(var))`` for a ratio of
  rates or proportions whose logarithm has variance ``var``;
* :func:`tied_midpoint_ranks` and :func:`tie_blocks` -- weighted fractional
  ranks that do not depend on the order of ties;
* :func:`as_float_series` -- a per-area input as a float Series aligned on
  the areas of another.

``scipy.special`` is imported on first use (``scipy.stats`` takes seconds).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import InputError, OptionError

__all__ = [
    "as_float_series",
    "garwood",
    "log_ratio_interval",
    "special",
    "tie_blocks",
    "tied_midpoint_ranks",
    "wilson",
    "z_value",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def special() -> Any:
    """Return ``scipy.special``, imported on first use (``scipy.stats`` takes seconds)."""
    try:
        return importlib.import_module("scipy.special")
    except ImportError as exc:  # pragma: no cover - scipy is a dependency of the indicators
        msg = "geo311 indicators need scipy (exact Poisson and normal quantiles): install scipy"
        raise ImportError(msg) from exc


def z_value(confidence: float) -> float:
    """Two-sided normal quantile, ``scipy.stats.norm.ppf(0.5 + confidence / 2)``."""
    if not 0.0 < confidence < 1.0:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence!r}: pass e.g. 0.95"
        raise OptionError(msg)
    return float(special().ndtri(0.5 + confidence / 2.0))


def garwood(counts: npt.ArrayLike, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Exact Poisson (Garwood) limits of a count ``y``.

    ``chi2.ppf(a/2, 2y)/2`` and ``chi2.ppf(1-a/2, 2y+2)/2``, with the lower limit
    0 when ``y = 0``; ``scipy.stats.chi2.ppf(q, df)`` is ``chdtri(df, 1 - q)``.
    """
    chdtri = special().chdtri
    alpha = 1.0 - confidence
    y = np.asarray(counts, dtype=float)
    low = np.zeros_like(y)
    positive = y > 0
    low[positive] = chdtri(2.0 * y[positive], 1.0 - alpha / 2.0) / 2.0
    high = chdtri(2.0 * y + 2.0, alpha / 2.0) / 2.0
    return low, high


def wilson(
    successes: npt.ArrayLike, trials: npt.ArrayLike, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval (Newcombe 1998, method 3); NaN where there are no trials."""
    z = z_value(confidence)
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 2.0 * (n + z**2)
        centre = (2.0 * n * p + z**2) / denom
        delta = z / denom * np.sqrt(4.0 * n * p * (1.0 - p) + z**2)
        low = np.where(k == 0, 0.0, centre - delta)
        high = np.where(k == n, 1.0, centre + delta)
    none = n == 0
    low[none] = np.nan
    high[none] = np.nan
    return low, high


def log_ratio_interval(
    ratio: npt.ArrayLike, variance: npt.ArrayLike, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Return ``exp(ln ratio -/+ z sqrt(variance))``, the usual interval of a ratio.

    ``variance`` is that of ``ln ratio``: ``1/y1 + 1/y2`` for a ratio of two
    Poisson rates, ``1/x1 - 1/n1 + 1/x2 - 1/n2`` for a ratio of two
    proportions (Katz).
    """
    z = z_value(confidence)
    log_ratio = np.log(np.asarray(ratio, dtype=float))
    half = z * np.sqrt(np.asarray(variance, dtype=float))
    return np.exp(log_ratio - half), np.exp(log_ratio + half)


def tie_blocks(sorted_values: FloatArray) -> IntArray:
    """Block number of each element of a sorted array; ties share a block."""
    if len(sorted_values) == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    return (np.cumsum(starts) - 1).astype(np.intp)


def tied_midpoint_ranks(rank_by: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted fractional rank of every element, in input order.

    ``R_i`` is the weight share of everything ranked below *i* plus half the
    weight of *i*'s tie block; every member of a block of equal ``rank_by``
    values gets the block's midpoint, so the result does not depend on the
    order of tied rows.
    """
    order = np.argsort(rank_by, kind="stable")
    block = tie_blocks(rank_by[order])
    total = weights.sum()
    block_w = np.bincount(block, weights=weights[order])
    before = np.cumsum(block_w) - block_w
    ranks = np.empty(len(rank_by))
    ranks[order] = ((before + block_w / 2) / total)[block]
    return ranks


def as_float_series(values: Any, name: str, index: pd.Index | None = None) -> pd.Series:
    """Return ``values`` as a float Series aligned to ``index`` (a copy)."""
    if isinstance(values, pd.Series):
        out = pd.to_numeric(values, errors="coerce").astype(float)
        if index is not None and not out.index.equals(index):
            missing = index.difference(out.index)
            extra = out.index.difference(index)
            if len(missing) or len(extra):
                msg = (
                    f"{name} is indexed by other areas than the first argument "
                    f"(missing {list(missing[:5])}, extra {list(extra[:5])}); "
                    "pass Series with the same area ids"
                )
                raise InputError(msg)
            out = out.reindex(index)
        return out
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        msg = f"{name} must be one-dimensional (one value per area), got shape {arr.shape}"
        raise InputError(msg)
    if index is not None and len(arr) != len(index):
        msg = f"{name} has {len(arr)} values, expected one per area ({len(index)})"
        raise InputError(msg)
    return pd.Series(arr, index=index if index is not None else pd.RangeIndex(len(arr)))

"""Interval helpers shared by the indicator and equity modules: one implementation each.

* :func:`_z` -- the two-sided normal quantile of a confidence level;
* :func:`_garwood` -- exact Poisson (Garwood) limits of a count;
* :func:`_wilson` -- Wilson score interval of a proportion;
* :func:`_log_ratio_interval` -- ``exp(ln R -/+ z sqrt(var))`` for a ratio of
  rates or proportions whose log has variance ``var``.

``scipy.special`` is imported on first use (``scipy.stats`` takes seconds).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _special() -> Any:
    """Return ``scipy.special``, imported on first use (``scipy.stats`` takes seconds)."""
    try:
        return importlib.import_module("scipy.special")
    except ImportError as exc:  # pragma: no cover - scipy is a dependency of the indicators
        msg = "geo311 indicators need scipy (exact Poisson and normal quantiles): install scipy"
        raise ImportError(msg) from exc


def _z(confidence: float) -> float:
    """Two-sided normal quantile, ``scipy.stats.norm.ppf(0.5 + confidence / 2)``."""
    if not 0.0 < confidence < 1.0:
        msg = f"confidence must lie strictly between 0 and 1, got {confidence!r}"
        raise ValueError(msg)
    return float(_special().ndtri(0.5 + confidence / 2.0))


def _garwood(counts: npt.ArrayLike, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Exact Poisson (Garwood) limits of a count ``y``.

    ``chi2.ppf(a/2, 2y)/2`` and ``chi2.ppf(1-a/2, 2y+2)/2``, with the lower limit
    0 when ``y = 0``; ``scipy.stats.chi2.ppf(q, df)`` is ``chdtri(df, 1 - q)``.
    """
    chdtri = _special().chdtri
    alpha = 1.0 - confidence
    y = np.asarray(counts, dtype=float)
    low = np.zeros_like(y)
    positive = y > 0
    low[positive] = chdtri(2.0 * y[positive], 1.0 - alpha / 2.0) / 2.0
    high = chdtri(2.0 * y + 2.0, alpha / 2.0) / 2.0
    return low, high


def _wilson(
    successes: npt.ArrayLike, trials: npt.ArrayLike, confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval (Newcombe 1998, method 3); NaN where there are no trials."""
    z = _z(confidence)
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

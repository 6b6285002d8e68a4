"""Inequality of requests against residents: weighted Gini and Theil's T (METRICS 12).

Notation for area *i*: ``y_i`` requests, ``P_i`` residents, ``s_i = y_i / Y``
request share and ``p_i = P_i / P`` population share over the areas used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import DataError
from geo311.indicators._stats import as_float_series

__all__ = ["GiniResult", "TheilResult", "gini", "theil"]

FloatArray = npt.NDArray[np.float64]

#: Group label of the areas without one in :func:`theil`.
MISSING_GROUP = "(missing)"


def _requests_population(
    requests: Any, population: Any
) -> tuple[pd.Series, pd.Series, pd.Series, int, float]:
    """Return (y, P, usable mask, areas excluded, requests excluded)."""
    y = as_float_series(requests, "requests")
    pop = (
        pd.Series(1.0, index=y.index)
        if population is None
        else as_float_series(population, "population", y.index)
    )
    if (y < 0).any() or (pop < 0).any():
        msg = "requests and population must not be negative"
        raise DataError(msg)
    usable = y.notna() & pop.notna() & pop.gt(0)
    excluded = int((~usable).sum())
    requests_excluded = float(y[~usable].sum())
    return y, pop, usable, excluded, requests_excluded


@dataclass(frozen=True)
class GiniResult:
    """Result of :func:`gini`.

    Attributes
    ----------
    value : float
        Gini coefficient (0 = requests exactly proportional to residents).
    lorenz : pandas.DataFrame
        The Lorenz curve: ``population_share`` and ``requests_share``
        cumulated over areas sorted by requests per resident, from (0, 0).
    n_areas : int
        Areas used.
    n_excluded : int
        Areas left out (population missing or zero, or requests missing).
    requests_excluded : float
        Requests in the excluded areas.
    """

    value: float
    lorenz: pd.DataFrame
    n_areas: int
    n_excluded: int
    requests_excluded: float


def gini(requests: Any, population: Any = None) -> GiniResult:
    """Population-weighted Gini of requests from the Lorenz curve (METRICS 12).

    Areas are sorted by requests per resident, ``y_i / P_i``; the Lorenz
    curve joins ``(F_k, L_k)``, the cumulative population share and the
    cumulative request share, from (0, 0) to (1, 1).  The Gini is twice the
    area between the diagonal and the curve, by the trapezoid rule (exact for
    a piecewise-linear curve)::

        G = 1 - sum_k p_k (L_{k-1} + L_k)

    Tied rates give collinear segments, so their order does not matter.
    Replicating each area ``P_i`` times with ``y_i / P_i`` requests each gives
    the same curve, so with integer populations ``G`` equals the ordinary
    (unweighted) Gini of the replicated values, and with equal populations it
    equals the Gini of the raw request counts (PySAL ``inequality.gini.Gini``).

    Parameters
    ----------
    requests : array-like or pandas.Series
        Requests per area (zero allowed).
    population : array-like or pandas.Series, optional
        Residents per area; equal populations when omitted.  Areas with
        missing or zero population are excluded and counted.

    Returns
    -------
    GiniResult
        ``value`` is NaN when no area is usable or there are no requests.

    Examples
    --------
    Three areas of 1, 1 and 2 residents with 0, 1 and 3 requests (rates 0, 1,
    1.5): ``p = 1/4, 1/4, 1/2``, ``L = 0, 1/4, 1``, so ``G = 1 - [1/4 (0 + 0) +
    1/4 (0 + 1/4) + 1/2 (1/4 + 1)] = 1 - 11/16 = 0.3125``.

    >>> gini([0, 1, 3], [1, 1, 2]).value
    0.3125
    """
    y, pop, usable, n_excluded, req_excluded = _requests_population(requests, population)
    yv, pv = y[usable].to_numpy(), pop[usable].to_numpy()
    empty = pd.DataFrame({"population_share": [0.0], "requests_share": [0.0]})
    if len(yv) == 0 or yv.sum() <= 0:
        return GiniResult(math.nan, empty, len(yv), n_excluded, req_excluded)
    order = np.argsort(yv / pv, kind="stable")
    p = pv[order] / pv.sum()
    cum_l = np.r_[0.0, np.cumsum(yv[order]) / yv.sum()]
    value = float(1 - (p * (cum_l[:-1] + cum_l[1:])).sum())
    lorenz = pd.DataFrame(
        {"population_share": np.r_[0.0, np.cumsum(p)], "requests_share": cum_l},
        index=pd.Index([None, *y[usable].index[order]], name=y.index.name),
    )
    return GiniResult(value, lorenz, len(yv), n_excluded, req_excluded)


@dataclass(frozen=True)
class TheilResult:
    """Result of :func:`theil`.

    Attributes
    ----------
    value : float
        Theil's T, ``sum s_i ln(s_i / p_i)`` (0 = proportional; at most
        ``ln(1 / min p_i)``).
    between : float
        ``sum_g s_g ln(s_g / p_g)``; NaN without a grouping.
    within : float
        ``sum_g s_g T_g``; NaN without a grouping.  ``between + within ==
        value`` up to rounding.
    groups : pandas.DataFrame
        Per group (index ``group``): ``areas``, ``requests_share`` (``s_g``),
        ``population_share`` (``p_g``), ``theil`` (``T_g``, NaN for a group
        without requests), ``within_contribution`` (``s_g T_g``) and
        ``between_term`` (``s_g ln(s_g / p_g)``).  Empty without a grouping.
    n_areas : int
        Areas used.
    n_excluded : int
        Areas left out (population missing or zero, or requests missing).
    requests_excluded : float
        Requests in the excluded areas.
    n_missing_group : int
        Used areas without a group label, pooled as the group ``"(missing)"``.
    """

    value: float
    between: float
    within: float
    groups: pd.DataFrame
    n_areas: int
    n_excluded: int
    requests_excluded: float
    n_missing_group: int = 0


def _xlogx_ratio(s: FloatArray, p: FloatArray) -> FloatArray:
    """``s * ln(s / p)`` elementwise with ``0 ln 0 = 0``."""
    out = np.zeros_like(s, dtype=float)
    pos = s > 0
    out[pos] = s[pos] * np.log(s[pos] / p[pos])
    return out


def theil(requests: Any, population: Any = None, *, group: Any = None) -> TheilResult:
    """Population-weighted Theil T of requests, with a between/within decomposition (METRICS 12).

    ``T = sum_i s_i ln(s_i / p_i)`` with request shares ``s_i`` and population
    shares ``p_i`` over the usable areas; an area without requests adds
    nothing (``0 ln 0 = 0``).  Areas with missing or zero population are
    excluded and counted: an area with requests but no residents would make
    ``T`` infinite.  With a grouping ``g`` (e.g. council district of each
    neighbourhood) and ``s_g``, ``p_g`` the group sums, ::

        T = sum_g s_g ln(s_g / p_g)  +  sum_g s_g T_g
            (between)                   (within)

    where ``T_g = sum_{i in g} (s_i / s_g) ln((s_i / s_g) / (p_i / p_g))`` is
    Theil's T inside the group.  The identity is exact (term by term,
    ``ln(s_i / p_i) = ln(s_g / p_g) + ln((s_i/s_g) / (p_i/p_g))``).  With
    equal populations ``T`` is PySAL's ``inequality.theil.Theil`` of the
    request counts and the between part its ``TheilD(...).bg``.

    Parameters
    ----------
    requests : array-like or pandas.Series
        Requests per area.
    population : array-like or pandas.Series, optional
        Residents per area; equal populations when omitted.
    group : array-like or pandas.Series, optional
        Group label per area.  Missing labels form the group ``"(missing)"``
        (counted in ``n_missing_group``) so the total stays the total.

    Returns
    -------
    TheilResult
        ``value`` is NaN when no area is usable or there are no requests.

    Examples
    --------
    Two areas of equal population with 3 and 1 requests: ``s = 3/4, 1/4``,
    ``p = 1/2, 1/2``, ``T = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.1308``.

    >>> round(theil([3, 1], [10, 10]).value, 4)
    0.1308
    """
    y, pop, usable, n_excluded, req_excluded = _requests_population(requests, population)
    labels: pd.Series | None = None
    if group is not None:
        if isinstance(group, pd.Series):
            labels = group.reindex(y.index) if not group.index.equals(y.index) else group
        else:
            labels = pd.Series(np.asarray(group, dtype=object), index=y.index)
    yv, pv = y[usable].to_numpy(), pop[usable].to_numpy()
    empty_groups = pd.DataFrame(
        columns=[
            "areas",
            "requests_share",
            "population_share",
            "theil",
            "within_contribution",
            "between_term",
        ]
    )
    if len(yv) == 0 or yv.sum() <= 0:
        return TheilResult(
            math.nan, math.nan, math.nan, empty_groups, len(yv), n_excluded, req_excluded
        )
    s = yv / yv.sum()
    p = pv / pv.sum()
    value = float(_xlogx_ratio(s, p).sum())
    if labels is None:
        return TheilResult(
            value, math.nan, math.nan, empty_groups, len(yv), n_excluded, req_excluded
        )

    lab = labels[usable]
    n_missing = int(lab.isna().sum())
    lab = lab.astype(object).where(lab.notna(), MISSING_GROUP)
    codes, uniques = pd.factorize(lab, sort=True)
    k = len(uniques)
    s_g = np.asarray(np.bincount(codes, weights=s, minlength=k), dtype=float)
    p_g = np.asarray(np.bincount(codes, weights=p, minlength=k), dtype=float)
    # within-group shares; a group without requests has no within term
    s_in = np.divide(s, s_g[codes], out=np.zeros_like(s), where=s_g[codes] > 0)
    p_in = p / p_g[codes]
    t_g = np.bincount(codes, weights=_xlogx_ratio(s_in, p_in), minlength=k)
    t_g = np.where(s_g > 0, t_g, np.nan)
    contribution = np.where(s_g > 0, s_g * np.nan_to_num(t_g), 0.0)
    between_terms = _xlogx_ratio(s_g, p_g)
    groups = pd.DataFrame(
        {
            "areas": np.bincount(codes, minlength=k),
            "requests_share": s_g,
            "population_share": p_g,
            "theil": t_g,
            "within_contribution": contribution,
            "between_term": between_terms,
        },
        index=pd.Index(list(uniques), name="group"),
    )
    return TheilResult(
        value,
        float(between_terms.sum()),
        float(contribution.sum()),
        groups,
        len(yv),
        n_excluded,
        req_excluded,
        n_missing,
    )

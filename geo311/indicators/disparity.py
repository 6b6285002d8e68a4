"""Geographic disparity scores: request share minus population share (METRICS 13).

The Urban Institute Spatial Equity Data Tool score, with a significance test
driven by the margin of error of the population.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from geo311._errors import DataError
from geo311.indicators._stats import as_float_series

__all__ = ["ACS_MOE_Z", "DISPARITY_LABELS", "disparity_scores"]

#: ACS margins of error are published at 90% confidence: SE = MOE / 1.645.
ACS_MOE_Z = 1.645

#: ``significance`` values of :func:`disparity_scores`.
DISPARITY_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "over": "request share above the population share's interval",
        "under": "request share below the population share's interval",
        "not significant": "request share inside the population share's interval",
        "not tested": "no margin of error for the population: the test cannot be made",
        "excluded": "population missing or zero: no share to compare with",
    }
)


def disparity_scores(
    requests: pd.Series,
    population: pd.Series,
    *,
    population_moe: pd.Series | None = None,
    z: float = 1.96,
) -> pd.DataFrame:
    """Urban Institute geographic disparity score of each area (METRICS 13).

    ``d_i = s_i - p_i``: the area's share of requests minus its share of
    residents, over the areas with a positive population (areas without are
    reported as ``"excluded"`` and left out of both totals).  Positive = more
    requests than its share of residents.

    The test asks whether ``s_i`` lies outside ``p_i -/+ z SE(p_i)``.  The
    population's standard error comes from its ACS margin of error,
    ``SE(P_i) = MOE_i / 1.645``, propagated to the share by the delta method
    with areas independent (``P = P_i + rest``)::

        SE(p_i) = sqrt((1 - p_i)^2 SE(P_i)^2 + p_i^2 sum_{j != i} SE(P_j)^2) / P

    Approximations: areas are treated as independent although areas
    interpolated from the same tract share its error; this is not the ACS
    handbook's proportion formula ``sqrt(SE_i^2 - p^2 SE_P^2) / P`` (which
    assumes a different covariance) but agrees with it to first order when
    ``p_i`` is small; and only the population's uncertainty is tested -- the
    request count's own noise is not.  An area whose MOE is missing adds
    nothing to the error of the total.  Areas whose MOE is missing (or every
    area when ``population_moe`` is None, e.g. decennial counts) get
    ``"not tested"``: without a margin of error the test cannot be made.  A
    zero MOE means an exact population, so any nonzero ``d_i`` is flagged.

    Parameters
    ----------
    requests : pandas.Series
        Requests per area, indexed by area id.
    population : pandas.Series
        Residents per area, same index.
    population_moe : pandas.Series, optional
        90% margin of error of ``population`` (ACS convention), same index.
    z : float, default 1.96
        Critical value of the test (1.96 = 95%).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``requests``: ``requests``, ``population``,
        ``request_share``, ``population_share``, ``disparity`` (``d_i``),
        ``population_share_se``, ``population_share_ci_low``,
        ``population_share_ci_high``, ``significance`` (see
        :data:`DISPARITY_LABELS`) and ``significant`` (nullable boolean, NA
        when not tested or excluded).  ``attrs`` records the counts.

    Examples
    --------
    >>> req = pd.Series({"a": 60, "b": 40})
    >>> pop = pd.Series({"a": 500, "b": 500})
    >>> d = disparity_scores(req, pop, population_moe=pd.Series({"a": 82.25, "b": 82.25}))
    >>> d["disparity"].round(2).tolist(), d["significance"].tolist()
    ([0.1, -0.1], ['over', 'under'])
    >>> disparity_scores(req, pop)["significance"].tolist()
    ['not tested', 'not tested']
    """
    y = as_float_series(requests, "requests")
    pop = as_float_series(population, "population", y.index)
    if (y < 0).any() or (pop < 0).any():
        msg = "requests and population must not be negative"
        raise DataError(msg)
    moe = None if population_moe is None else as_float_series(population_moe, "moe", y.index)
    if moe is not None and (moe < 0).any():
        msg = "population_moe must not be negative (ACS codes should be read as missing)"
        raise DataError(msg)
    usable = pop.gt(0) & pop.notna() & y.notna()
    total_y = float(y[usable].sum())
    total_p = float(pop[usable].sum())
    out = pd.DataFrame(index=y.index)
    out["requests"] = y
    out["population"] = pop
    out["request_share"] = (y / total_y).where(usable) if total_y > 0 else math.nan
    out["population_share"] = (pop / total_p).where(usable) if total_p > 0 else math.nan
    out["disparity"] = out["request_share"] - out["population_share"]
    se = pd.Series(math.nan, index=y.index)
    if moe is not None and total_p > 0:
        var_i = (moe / ACS_MOE_Z) ** 2
        var_total = float(var_i[usable].sum(skipna=True))
        p = out["population_share"]
        se = np.sqrt((1 - p) ** 2 * var_i + p**2 * (var_total - var_i)) / total_p
        se = se.where(usable & moe.notna())
    out["population_share_se"] = se
    out["population_share_ci_low"] = out["population_share"] - z * se
    out["population_share_ci_high"] = out["population_share"] + z * se
    tested = se.notna() & out["request_share"].notna()
    over = tested & (out["request_share"] > out["population_share_ci_high"])
    under = tested & (out["request_share"] < out["population_share_ci_low"])
    label = np.select(
        [~usable, ~tested, over, under],
        ["excluded", "not tested", "over", "under"],
        default="not significant",
    )
    out["significance"] = pd.Series(label, index=y.index, dtype="str")
    out["significant"] = pd.array(np.where(tested, over | under, False), dtype="boolean")
    out.loc[~tested.to_numpy(), "significant"] = pd.NA
    out.attrs["disparity"] = {
        "z": z,
        "areas_excluded": int((~usable).sum()),
        "requests_excluded": float(y[~usable].sum()),
        "areas_not_tested": int((usable & ~tested).sum()),
        "moe_to_se": f"SE = MOE / {ACS_MOE_Z}",
    }
    return out

"""Indicators of groups of areas, computed from the pooled requests of each group.

A quintile of residents (or any grouping of areas) is described by the
requests of its areas taken together: one Kaplan-Meier curve per group,
censored exactly as in the area tables.  :func:`group_indicators` counts
each request for its area's group and runs
:func:`geo311.indicators.area_indicators` on the groups, so a group's median,
p90 and shares closed within d days (with their intervals and follow-up
flags) are those of its pooled requests -- never a mean of area medians, and
no area drops out because its own median was not reached.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from geo311._errors import InputError
from geo311.indicators.area import _regrouped_indicators

__all__ = ["group_indicators"]


def group_indicators(
    requests: pd.DataFrame,
    groups: pd.Series,
    *,
    key: str,
    type_adjusted: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """Return the indicators of each group of areas, from the group's pooled requests.

    Parameters
    ----------
    requests : pandas.DataFrame
        Requests joined to layer ``key`` (column ``<key>_id``).  Not modified.
    groups : pandas.Series
        Group of each area (e.g. the quintile of
        :func:`geo311.indicators.population_quantiles`), indexed by area id;
        areas with a missing group are left out.
    key : str
        Layer key of ``requests``.
    type_adjusted : bool, default True
        Compute the type-mix adjusted closure ratios (METRICS 7) of the
        groups.  False leaves ``ttc_expected_closures``,
        ``ttc_type_adjusted_ratio*`` and ``ttc_crude_ratio`` empty (NaN) and
        skips the citywide curves they need -- for callers that read only the
        pooled medians and shares (the equity summary pools the adjusted
        ratio from the area table instead).
    **options
        As in :func:`geo311.indicators.area_indicators` (``as_of``,
        ``period``, ``service_types``, ``agencies``, ``sources``, ``demand``,
        ``timezone``, ``max_days``, ``min_count``, ``confidence``...).  The
        warnings about differing input files are not logged again (the area
        table of the same requests logs them).

    Returns
    -------
    pandas.DataFrame
        One row per group (every group value of ``groups``, sorted, groups
        without requests included), the columns of
        :func:`geo311.indicators.area_indicators`, without population (rates
        are empty) or land area.  ``attrs["geo311"]`` holds the metadata.

    Raises
    ------
    InputError
        When ``groups`` is not indexed by unique area ids.

    Examples
    --------
    >>> t0 = pd.Timestamp("2025-01-06", tz="UTC")
    >>> day = pd.Timedelta(days=1)
    >>> requests = pd.DataFrame({
    ...     "requested_datetime": [t0] * 4,
    ...     "closed_datetime": [t0 + day, t0 + 3 * day, pd.NaT, t0 + 2 * day],
    ...     "status": ["closed", "closed", "open", "closed"],
    ...     "is_duplicate": False, "is_transfer": False, "is_proactive": False,
    ...     "ward_id": ["a", "b", "b", "c"]})
    >>> groups = pd.Series({"a": 1, "b": 1, "c": 2})
    >>> group_indicators(requests, groups, key="ward", as_of=t0 + 5 * day)[
    ...     "ttc_median_days"].to_dict()
    {1: 3.0, 2: 2.0}
    """
    if not groups.index.is_unique:
        repeated = sorted({str(v) for v in groups.index[groups.index.duplicated()]})[:5]
        msg = f"groups must be indexed by unique area ids; repeated: {repeated}"
        raise InputError(msg)
    known = groups.dropna()
    labels = dict(zip(known.index.astype(str), known.astype(str), strict=True))
    order = sorted(known.unique())
    areas = pd.DataFrame({"area_id": [str(g) for g in order], "area_name": order})
    table = _regrouped_indicators(
        requests, regroup=labels, type_adjusted=type_adjusted, key=key, areas=areas, **options
    )
    table.index = pd.Index(order, name="group")
    return table

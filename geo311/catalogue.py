"""The indicator catalogue: every column of the per-area indicator table, described once.

(first step of the move: the data dictionary of ``geo311.indicators``.)
"""

from __future__ import annotations

import pandas as pd

__all__ = [
    "DATA_DICTIONARY",
    "HORIZONS_DAYS",
    "INTEGER_COLUMNS",
    "TABLE_COLUMNS",
    "data_dictionary",
]

#: Days at which the share of requests closed is reported (METRICS 5).
HORIZONS_DAYS: tuple[int, ...] = (1, 7, 30)

_D = "METRICS.md"
#: Column name -> (meaning, unit, formula reference) for :func:`area_indicators`.
DATA_DICTIONARY: dict[str, tuple[str, str, str]] = {
    "area_id": ("Area id of the layer (the frame's index)", "text", "geographies"),
    "area_name": ("Area name of the layer", "text", "geographies"),
    "requests_all": (
        "In-scope requests in the area (period, filters, assigned), before exclusions",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests": (
        "Counted requests: in scope, duplicates/transfers excluded unless included, "
        "selected demand (resident-initiated by default)",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_excluded": (
        "requests_all - requests (duplicates, transfers, other demand type)",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_duplicate": (
        "In-scope requests marked duplicate",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_transfer": (
        "In-scope requests marked transferred",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_resident": (
        "Resident-initiated requests after duplicate/transfer exclusion",
        "requests",
        f"{_D} Which requests count",
    ),
    "requests_proactive": (
        "Proactive (staff-filed) requests after duplicate/transfer exclusion",
        "requests",
        f"{_D} Which requests count",
    ),
    "population": ("Residents (denominator; source and year in metadata)", "persons", f"{_D} 1"),
    "rate_per_1k": ("1000 * requests / population", "requests per 1,000 residents", f"{_D} 1"),
    "rate_per_1k_ci_low": (
        "Exact Poisson (Garwood) lower limit: chi2.ppf(a/2, 2y)/2 * 1000/P",
        "requests per 1,000 residents",
        f"{_D} 1",
    ),
    "rate_per_1k_ci_high": (
        "Exact Poisson (Garwood) upper limit: chi2.ppf(1-a/2, 2y+2)/2 * 1000/P",
        "requests per 1,000 residents",
        f"{_D} 1",
    ),
    "rate_flag": ("ok / unstable / insufficient (see RATE_FLAGS)", "category", f"{_D} 1"),
    "rate_ratio": (
        "Rate in the area / rate in the rest of the layer's areas with population",
        "ratio",
        f"{_D} 2",
    ),
    "rate_ratio_ci_low": (
        "exp(ln RR - z sqrt(1/y_i + 1/y_rest)); NaN when either count is 0",
        "ratio",
        f"{_D} 2",
    ),
    "rate_ratio_ci_high": (
        "exp(ln RR + z sqrt(1/y_i + 1/y_rest)); NaN when either count is 0",
        "ratio",
        f"{_D} 2",
    ),
    "rate_per_1k_eb": (
        "Marshall (1991) global empirical Bayes smoothed rate (areas with population > 0)",
        "requests per 1,000 residents",
        f"{_D} 3",
    ),
    "area_km2": ("Land area of the polygon, in the layer's projected CRS", "km²", f"{_D} 4"),
    "requests_per_km2": ("requests / area_km2", "requests per km²", f"{_D} 4"),
    "ttc_requests": (
        "Counted requests with a valid duration (used for time to close)",
        "requests",
        f"{_D} 5",
    ),
    "ttc_closed": (
        "Of ttc_requests, closed by as_of (events; the observed closures O)",
        "requests",
        f"{_D} 5",
    ),
    "ttc_open": ("Of ttc_requests, open at as_of (right-censored)", "requests", f"{_D} 5"),
    "ttc_excluded_negative": (
        "Counted requests closed before they were created: excluded from time to close",
        "requests",
        f"{_D} 6",
    ),
    "ttc_excluded_no_closed_time": (
        "Counted requests with status closed but no closed time: excluded from time to close",
        "requests",
        f"{_D} 6",
    ),
    "ttc_excluded_implausible": (
        "Counted requests closed after more than max_days: excluded from time to close",
        "requests",
        f"{_D} 6",
    ),
    "ttc_median_days": (
        "Kaplan-Meier median time to close, open requests censored at as_of; "
        "NaN when fewer than half have closed (not estimable)",
        "days",
        f"{_D} 5",
    ),
    "ttc_median_days_ci_low": (
        "Lower limit of the median: where the lower log(-log) Greenwood band of S reaches 0.5",
        "days",
        f"{_D} 5",
    ),
    "ttc_median_days_ci_high": (
        "Upper limit of the median: where the upper band of S reaches 0.5; NaN = not "
        "reached (the interval is open-ended)",
        "days",
        f"{_D} 5",
    ),
    "ttc_median_days_closed_only": (
        "Naive median over closed requests only (biased low; for comparison with dashboards)",
        "days",
        f"{_D} 5",
    ),
    "ttc_p90_days": (
        "Kaplan-Meier time by which 90% are closed (first t with S(t) <= 0.1); NaN when "
        "not reached (not estimable)",
        "days",
        f"{_D} 5",
    ),
    "ttc_expected_closures": (
        "Closures expected if every request closed at the citywide rate of its service "
        "type: sum of the type's Nelson-Aalen H(t) at each request's follow-up time",
        "requests",
        f"{_D} 7",
    ),
    "ttc_type_adjusted_ratio": (
        "Observed / expected closures (indirect standardisation by service type); "
        ">1 = closes faster than its type mix predicts, <1 = slower; 1 citywide",
        "ratio",
        f"{_D} 7",
    ),
    "ttc_type_adjusted_ratio_ci_low": (
        "Exact Poisson (Garwood) limit of O, divided by E",
        "ratio",
        f"{_D} 7",
    ),
    "ttc_type_adjusted_ratio_ci_high": (
        "Exact Poisson (Garwood) limit of O, divided by E",
        "ratio",
        f"{_D} 7",
    ),
    "ttc_crude_ratio": (
        "Observed / expected closures against the citywide curve of all types pooled "
        "(the unadjusted counterpart of ttc_type_adjusted_ratio)",
        "ratio",
        f"{_D} 7",
    ),
    "on_time_share": (
        "closed on or before due / (closed with due date + open with due date before as_of)",
        "share (0-1)",
        f"{_D} 8",
    ),
    "on_time_ci_low": ("Wilson lower limit of on_time_share", "share (0-1)", f"{_D} 8"),
    "on_time_ci_high": ("Wilson upper limit of on_time_share", "share (0-1)", f"{_D} 8"),
    "on_time": ("Requests closed on or before their due date", "requests", f"{_D} 8"),
    "sla_due": (
        "Denominator of on_time_share: closed with a due date + open and overdue",
        "requests",
        f"{_D} 8",
    ),
    "open_overdue": (
        "Open at as_of with a due date before as_of (failures)",
        "requests",
        f"{_D} 8",
    ),
    "open_on_track": (
        "Open at as_of, not yet due: excluded from on_time_share",
        "requests",
        f"{_D} 8",
    ),
    "no_due_date": ("Requests without a due date: excluded from on_time_share", "requests", _D),
}
for _h in HORIZONS_DAYS:
    DATA_DICTIONARY[f"closed_within_{_h}d_share"] = (
        f"Kaplan-Meier share closed within {_h} day(s): 1 - S({_h})",
        "share (0-1)",
        f"{_D} 5",
    )
    DATA_DICTIONARY[f"closed_within_{_h}d_ci_low"] = (
        f"1 - upper log(-log) Greenwood band of S({_h})",
        "share (0-1)",
        f"{_D} 5",
    )
    DATA_DICTIONARY[f"closed_within_{_h}d_ci_high"] = (
        f"1 - lower log(-log) Greenwood band of S({_h})",
        "share (0-1)",
        f"{_D} 5",
    )

TABLE_COLUMNS: tuple[str, ...] = (
    "area_name",
    "requests_all",
    "requests",
    "requests_excluded",
    "requests_duplicate",
    "requests_transfer",
    "requests_resident",
    "requests_proactive",
    "population",
    "rate_per_1k",
    "rate_per_1k_ci_low",
    "rate_per_1k_ci_high",
    "rate_flag",
    "rate_ratio",
    "rate_ratio_ci_low",
    "rate_ratio_ci_high",
    "rate_per_1k_eb",
    "area_km2",
    "requests_per_km2",
    "ttc_requests",
    "ttc_closed",
    "ttc_open",
    "ttc_excluded_negative",
    "ttc_excluded_no_closed_time",
    "ttc_excluded_implausible",
    "ttc_median_days",
    "ttc_median_days_ci_low",
    "ttc_median_days_ci_high",
    "ttc_median_days_closed_only",
    "ttc_p90_days",
    *(
        f"closed_within_{h}d_{part}"
        for h in HORIZONS_DAYS
        for part in ("share", "ci_low", "ci_high")
    ),
    "ttc_expected_closures",
    "ttc_type_adjusted_ratio",
    "ttc_type_adjusted_ratio_ci_low",
    "ttc_type_adjusted_ratio_ci_high",
    "ttc_crude_ratio",
    "on_time_share",
    "on_time_ci_low",
    "on_time_ci_high",
    "on_time",
    "sla_due",
    "open_overdue",
    "open_on_track",
    "no_due_date",
)
INTEGER_COLUMNS = frozenset(
    {
        "requests_all",
        "requests",
        "requests_excluded",
        "requests_duplicate",
        "requests_transfer",
        "requests_resident",
        "requests_proactive",
        "ttc_requests",
        "ttc_closed",
        "ttc_open",
        "ttc_excluded_negative",
        "ttc_excluded_no_closed_time",
        "ttc_excluded_implausible",
        "on_time",
        "sla_due",
        "open_overdue",
        "open_on_track",
        "no_due_date",
    }
)


def data_dictionary() -> pd.DataFrame:
    """Return :data:`DATA_DICTIONARY` as a table, in the column order of the indicator table.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``meaning``, ``unit``, ``reference`` (METRICS.md item);
        one row per column of :func:`area_indicators` plus ``area_id`` first.

    Examples
    --------
    >>> table = data_dictionary()
    >>> table.iloc[0]["name"], table.set_index("name").loc["rate_per_1k", "reference"]
    ('area_id', 'METRICS.md 1')
    """
    names = ["area_id", *TABLE_COLUMNS]
    return pd.DataFrame(
        [(name, *DATA_DICTIONARY[name]) for name in names],
        columns=["name", "meaning", "unit", "reference"],
    )

"""The indicator catalogue: every column of the per-area indicator table, described once.

One :class:`IndicatorSpec` per column of
:func:`geo311.indicators.area_indicators` (plus ``area_id``, its index), in
the table's column order.  Each says what the column means and how it is
computed (``meaning``, ``unit``, ``reference``: the data dictionary), how to
show it to people (a plain-language ``label``, the number ``fmt``, whether a
higher value is worse or better), which columns hold its interval
(``ci``), when it rests on too few requests or residents to be shown plainly
(``small_number``), the METRICS.md section that defines it (``section``),
and -- for the indicators the site maps or puts on a page -- the map legend
(``map``) and the headline card (``headline``).

The indicator code, the data dictionary and (after the site reads it) the
maps, district pages and exports all read this one table.

Examples
--------
>>> spec = indicator("ttc_median_days")
>>> spec.label, spec.fmt, spec.direction, spec.ci
('Median days to close', 'days', 'higher is worse', ('ttc_median_days_ci_low', \
'ttc_median_days_ci_high'))
>>> [h.name for h in headline_indicators()]
['rate_per_1k', 'ttc_median_days', 'on_time_share', 'ttc_type_adjusted_ratio']
>>> headline_indicators()[0].headline.short
'rate'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import pandas as pd

from geo311._errors import OptionError

__all__ = [
    "CATALOGUE",
    "CATEGORY_COLUMNS",
    "DATA_DICTIONARY",
    "FLAG_VALUES",
    "HEADLINES",
    "HORIZONS_DAYS",
    "INTEGER_COLUMNS",
    "MAPPED",
    "MIN_COUNT",
    "MIN_POPULATION",
    "RATE_FLAGS",
    "TABLE_COLUMNS",
    "TTC_FLAGS",
    "Direction",
    "Format",
    "Headline",
    "IndicatorSpec",
    "MapStyle",
    "SmallNumberRule",
    "data_dictionary",
    "headline_indicators",
    "indicator",
    "mapped_indicators",
    "plain_indicators",
]

Direction = Literal["higher is worse", "higher is better", "neutral"]
#: ``rate``, ``days``, ``ratio``, ``count``, ``number`` and ``percent`` (a 0-1
#: share shown as %) are the number formats of the maps and pages; ``text`` and
#: ``category`` mark the columns that are not numbers.
Format = Literal["rate", "days", "percent", "ratio", "count", "number", "text", "category"]

#: Days at which the share of requests closed is reported (METRICS 5).
HORIZONS_DAYS: tuple[int, ...] = (1, 7, 30)
#: Values of ``rate_flag`` (METRICS 1).
RATE_FLAGS: Mapping[str, str] = MappingProxyType(
    {
        "ok": "population >= min_population and requests >= min_count",
        "unstable": "fewer than min_count requests: relative standard error above "
        "1/sqrt(min_count)",
        "insufficient": "population unknown or below min_population: no rate is shown",
        "no_denominator": "the layer has no population at all (no tract layer, no "
        "population given): no rate is computed; counts and requests per km² are",
    }
)
#: Values of ``ttc_median_flag``, ``ttc_p90_flag`` and ``closed_within_<d>d_flag``
#: (METRICS 5); N is the area's follow-up in days, rounded down to 0.1.
TTC_FLAGS: Mapping[str, str] = MappingProxyType(
    {
        "ok": "estimated from the data",
        "not reached (> N days)": "median / p90 only: fewer than half (for p90, 90%) of the "
        "requests closed within the N days the data follow them, so the value is more "
        "than N days -- not the same as too little data",
        "beyond follow-up (N days)": "share within d days only: the data follow the area's "
        "requests for N < d days and some are still open, so the share is not estimated",
        "insufficient": "no request with a valid duration",
    }
)
#: Default small-number rule: fewer requests than this mark a value unstable.
MIN_COUNT = 20
#: Default small-number rule: fewer residents than this leave a rate insufficient.
MIN_POPULATION = 100


@dataclass(frozen=True)
class SmallNumberRule:
    """When a value rests on too few requests or residents to be shown plainly.

    Attributes
    ----------
    count : str or None
        Column counting the requests behind the value; fewer than
        ``min_count`` marks the area unstable.
    count_label : str or None
        How ``count`` is labelled for people ("Requests timed").
    min_count : int
        The default threshold (the caller's ``min_count`` applies when given).
    flag : str or None
        Column already holding ``ok`` / ``unstable`` / ``insufficient``
        (``rate_flag``), which then decides.
    min_population : float or None
        Residents below which the flag says ``insufficient`` (rates only).
    """

    count: str | None = None
    count_label: str | None = None
    min_count: int = MIN_COUNT
    flag: str | None = None
    min_population: float | None = None


@dataclass(frozen=True)
class MapStyle:
    """How a mapped indicator's legend reads and is coloured.

    Attributes
    ----------
    unit : str
        Unit stated under the legend title (the title is the spec's ``label``).
    palette : {"sequential", "diverging"}
        ``diverging`` is centred on 1, for ratios.
    denominator : str or None
        What the indicator is relative to, stated in the legend.
    uses_population : bool
        Whether the denominator is residents (then the population source is
        quoted in the legend and the tooltip).
    open_ended : bool
        Whether a missing upper CI limit means "not reached" (as for a
        Kaplan-Meier median) rather than "not available".
    """

    unit: str
    palette: Literal["sequential", "diverging"] = "sequential"
    denominator: str | None = None
    uses_population: bool = False
    open_ended: bool = False


@dataclass(frozen=True)
class Headline:
    """How a headline indicator is titled, formatted and explained on its page and card.

    Attributes
    ----------
    short : str
        A few words for tight spaces ("median days").
    title, unit : str
        Page and card title, and the unit under it.
    kind : {"rate", "days", "share", "ratio"}
        How the page formats values (``share`` is shown as %).
    count, count_label : str
        The column counting the requests behind the value, and its label.
    read : tuple of str
        "How to read" sentences; ``{min_count}`` and ``{min_population}``
        are filled in with the thresholds used.
    card_note : str
        One line under the card's value.
    slug : str
        File-name part of the indicator's map page.
    """

    short: str
    title: str
    unit: str
    kind: Literal["rate", "days", "share", "ratio"]
    count: str
    count_label: str
    read: tuple[str, ...]
    card_note: str
    slug: str


@dataclass(frozen=True)
class IndicatorSpec:
    """Everything known about one indicator column (see the module docstring).

    Attributes
    ----------
    name : str
        Column name in the indicator table.
    label : str
        Plain-language label (map legend title, tooltip label).
    meaning : str
        What the column holds and how it is computed (the data dictionary).
    unit : str
        Unit, as the data dictionary states it.
    reference : str
        Where it is defined: ``"METRICS.md <item or section>"``.
    section : str or None
        The METRICS.md section (a ``##`` heading) that defines it; None for
        the area id and name.
    fmt : Format
        Number format for people.
    direction : Direction
        ``"higher is worse"``, ``"higher is better"`` or ``"neutral"``.
    ci : (str, str) or None
        Lower and upper limit columns of the value's interval.
    integer : bool
        Whether the column holds whole counts (``int64``).
    small_number : SmallNumberRule or None
        When the value is unstable or insufficient.
    map : MapStyle or None
        Legend settings, for the indicators the site maps.
    headline : Headline or None
        Page and card settings, for the headline indicators.
    state : str or None
        Column saying why the value is empty (``not reached (> N days)``,
        ``beyond follow-up (N days)``, ``insufficient``) or ``ok``, for the
        Kaplan-Meier quantities.
    plain : str or None
        What the value means and how it is computed, in plain words for the
        site's data dictionary and methods box; None for the columns the
        site does not show.
    """

    name: str
    label: str
    meaning: str
    unit: str
    reference: str
    section: str | None
    fmt: Format
    direction: Direction = "neutral"
    ci: tuple[str, str] | None = None
    integer: bool = False
    small_number: SmallNumberRule | None = None
    map: MapStyle | None = None
    headline: Headline | None = None
    state: str | None = None
    plain: str | None = None


# --------------------------------------------------------------------------- the entries

_D = "METRICS.md"
_WHO = "Which requests count"
_VOLUME = "Volume and rates"
_TTC = "Time to close (censoring-aware)"
_DUE = "Due dates (SLA)"
_SECTIONS = {
    f"{_D} {_WHO}": _WHO,
    **{f"{_D} {item}": _VOLUME for item in (1, 2, 3, 4)},
    **{f"{_D} {item}": _TTC for item in (5, 6, 7)},
    f"{_D} 8": _DUE,
}
#: Unit (of the data dictionary) -> number format; other units with " per " are rates.
_UNIT_FORMATS: dict[str, Format] = {
    "share (0-1)": "percent",
    "days": "days",
    "ratio": "ratio",
    "requests": "count",
    "persons": "count",
    "text": "text",
    "category": "category",
}
_RESIDENTS = "residents"
_TIMED = "requests with a valid duration"
_RATE_RULE = SmallNumberRule(flag="rate_flag", min_population=MIN_POPULATION)
_TIMED_RULE = SmallNumberRule(count="ttc_requests", count_label="Requests timed")


def _spec(
    name: str,
    label: str,
    meaning: str,
    unit: str,
    reference: str,
    *,
    direction: Direction = "neutral",
    ci: bool = False,
    integer: bool = False,
    section: str | None = None,
    small_number: SmallNumberRule | None = None,
    map_style: MapStyle | None = None,
    headline: Headline | None = None,
    state: str | None = None,
    plain: str | None = None,
) -> IndicatorSpec:
    """Build one entry; ``ci=True`` names the ``<stem>_ci_low`` / ``_ci_high`` columns."""
    stem = name.removesuffix("_share")
    fmt = _UNIT_FORMATS.get(unit, "rate" if " per " in unit else "number")
    return IndicatorSpec(
        name=name,
        label=label,
        meaning=meaning,
        unit=unit,
        reference=reference,
        section=section or _SECTIONS.get(reference),
        fmt=fmt,
        direction=direction,
        ci=(f"{stem}_ci_low", f"{stem}_ci_high") if ci else None,
        integer=integer,
        small_number=small_number,
        map=map_style,
        headline=headline,
        state=state,
        plain=plain,
    )


def _limits(
    name: str, label: str, low: str, high: str, *, unit: str, reference: str, direction: Direction
) -> tuple[IndicatorSpec, IndicatorSpec]:
    """Return the lower and upper interval columns of an indicator."""
    stem = name.removesuffix("_share")
    return (
        _spec(
            f"{stem}_ci_low", f"{label}: lower limit", low, unit, reference, direction=direction
        ),
        _spec(
            f"{stem}_ci_high", f"{label}: upper limit", high, unit, reference, direction=direction
        ),
    )


_RATE_HEADLINE = Headline(
    short="rate",
    title="Requests per 1,000 residents",
    unit="requests per 1,000 residents",
    kind="rate",
    count="requests",
    count_label="Requests",
    read=(
        "Darker colours mean more 311 requests per 1,000 residents over the period.",
        "A high rate can mean more problems, or more residents who know about and use "
        "311; compare with the time-to-close and on-time maps before drawing "
        "conclusions.",
        "Rates from fewer than {min_count} requests are marked unstable (their 95% "
        "interval is wide); areas with fewer than {min_population} residents get no "
        "rate and are shown as insufficient data, never as zero.",
    ),
    card_note="Residents' requests divided by population, with an exact Poisson 95% interval.",
    slug="rate_per_1k",
)
_MEDIAN_HEADLINE = Headline(
    short="median days",
    title="Median time to close",
    unit="days",
    kind="days",
    count="ttc_requests",
    count_label="Requests timed",
    read=(
        "Half of the requests in an area were closed within this many days; darker "
        "colours mean slower service.",
        "Requests still open when the data were extracted count as waiting at least that "
        "long, so the median is not biased low by leaving them out.",
        "Where fewer than half of the requests had closed when the data end, the median is "
        "only known to be longer than the days the data cover: the area is hatched as not "
        "reached (over N days), apart from areas without data.",
    ),
    card_note="Half of the requests closed within this time; requests still open when the "
    "data were extracted count as still waiting.",
    slug="ttc_median_days",
)
_ON_TIME_HEADLINE = Headline(
    short="on time",
    title="Share closed on time",
    unit="% of requests with a due date",
    kind="share",
    count="sla_due",
    count_label="Requests due",
    read=(
        "The share of requests with a due date that were closed by it; open requests "
        "past their due date count as late.",
        "Open requests that are not yet due, and requests without a due date, are left out.",
    ),
    card_note="Closed by the due date, out of requests due by the time the data were "
    "extracted (Wilson 95% interval).",
    slug="on_time_share",
)
_ADJUSTED_HEADLINE = Headline(
    short="type-adjusted",
    title="Closure speed adjusted for request type",
    unit="ratio to the city (1 = city)",
    kind="ratio",
    count="ttc_closed",
    count_label="Closures",
    read=(
        "Observed closures divided by the closures expected if every request closed as "
        "fast as the citywide average for its service type.",
        "Above 1: the area's requests close faster than its mix of request types "
        "predicts; below 1: slower. This removes the effect of some areas asking for "
        "slow services (e.g. tree work) more than others.",
    ),
    card_note="Observed / expected closures, standardised by service type (exact "
    "Poisson 95% interval).",
    slug="ttc_type_adjusted_ratio",
)


def _closed_within(h: int) -> tuple[IndicatorSpec, ...]:
    label = f"Closed within {h} day{'s' if h > 1 else ''}"
    ref = f"{_D} 5"
    better: Direction = "higher is better"
    share = _spec(
        f"closed_within_{h}d_share",
        label,
        f"Kaplan-Meier share closed within {h} day(s): 1 - S({h}); empty when the area's "
        f"follow-up (ttc_followup_days) is shorter than {h} day(s), see closed_within_{h}d_flag",
        "share (0-1)",
        ref,
        direction=better,
        ci=True,
        small_number=_TIMED_RULE,
        map_style=MapStyle("% of requests (Kaplan-Meier)", denominator=_TIMED),
        state=f"closed_within_{h}d_flag",
    )
    return (
        share,
        *_limits(
            share.name,
            label,
            f"1 - upper log(-log) Greenwood band of S({h}); at a share of 1, the Wilson lower "
            f"limit of all the closures within {h} day(s)",
            f"1 - lower log(-log) Greenwood band of S({h}); at a share of 0, the Wilson upper "
            f"limit of 0 of the requests followed for {h} day(s) or more",
            unit="share (0-1)",
            reference=ref,
            direction=better,
        ),
        _spec(
            f"closed_within_{h}d_flag",
            f"{label}: why it is shown or not",
            f"ok; 'beyond follow-up (N days)' when the area's requests are followed for only "
            f"N < {h} days and some are still open (the share is then empty, never "
            "extrapolated); 'insufficient' when no request has a valid duration",
            "category",
            ref,
        ),
    )


def _entries() -> tuple[IndicatorSpec, ...]:
    """Every column of the indicator table, in table order (``area_id`` first)."""
    who = f"{_D} {_WHO}"
    worse: Direction = "higher is worse"
    better: Direction = "higher is better"
    rate_unit = "requests per 1,000 residents"
    rate_label = "Requests per 1,000 residents"
    rate_ratio_label = "Request rate vs rest of city"
    median_label = "Median days to close"
    adjusted_label = "Closure speed for its service-type mix"
    return (
        _spec("area_id", "Area id", "Area id of the layer (the frame's index)", "text",
              "geographies"),
        _spec("area_name", "Area name", "Area name of the layer", "text", "geographies"),
        _spec("requests_all", "Requests in scope, before exclusions",
              "In-scope requests in the area (period, filters, assigned), before exclusions",
              "requests", who, integer=True),
        _spec("requests", "Requests",
              "Counted requests: in scope, duplicates/transfers excluded unless included, "
              "selected demand (resident-initiated by default)",
              "requests", who, integer=True,
              map_style=MapStyle("requests"),
              plain="The 311 service requests made in the area during the period, as selected "
              "at the top of each page (by default requests from residents; repeated reports of "
              "the same problem and requests passed on to another agency are set aside)."),
        _spec("requests_excluded", "Requests set aside",
              "requests_all - requests (duplicates, transfers, other demand type)",
              "requests", who, integer=True),
        _spec("requests_duplicate", "Duplicate requests", "In-scope requests marked duplicate",
              "requests", who, integer=True),
        _spec("requests_transfer", "Transferred requests", "In-scope requests marked transferred",
              "requests", who, integer=True),
        _spec("requests_resident", "Requests from residents",
              "Resident-initiated requests after duplicate/transfer exclusion",
              "requests", who, integer=True),
        _spec("requests_proactive", "Requests filed by city staff",
              "Proactive (staff-filed) requests after duplicate/transfer exclusion",
              "requests", who, integer=True),
        _spec("population", "Residents",
              "Residents (denominator; source and year in metadata)", "persons", f"{_D} 1",
              plain="The number of people living in the area, from the population source "
              "named on each page; every rate per 1,000 residents divides by it."),
        _spec("rate_per_1k", rate_label, "1000 * requests / population", rate_unit,
              f"{_D} 1", ci=True, small_number=_RATE_RULE,
              map_style=MapStyle(rate_unit, denominator=_RESIDENTS, uses_population=True),
              headline=_RATE_HEADLINE,
              plain="The area's requests divided by its residents, times 1,000: how many "
              "requests were made for every 1,000 people living there."),
        *_limits("rate_per_1k", rate_label,
                 "Exact Poisson (Garwood) lower limit: chi2.ppf(a/2, 2y)/2 * 1000/P",
                 "Exact Poisson (Garwood) upper limit: chi2.ppf(1-a/2, 2y+2)/2 * 1000/P",
                 unit=rate_unit, reference=f"{_D} 1", direction="neutral"),
        _spec("rate_flag", "Rate reliability",
              "ok / unstable / insufficient / no_denominator (see FLAG_VALUES)", "category",
              f"{_D} 1"),
        _spec("rate_ratio", rate_ratio_label,
              "Rate in the area / rate in the rest of the layer's areas with population",
              "ratio", f"{_D} 2", ci=True, small_number=_RATE_RULE,
              map_style=MapStyle("rate ratio (1 = rest of the city)", palette="diverging",
                                 denominator=_RESIDENTS, uses_population=True)),
        *_limits("rate_ratio", rate_ratio_label,
                 "exp(ln RR - z sqrt(1/y_i + 1/y_rest)); 0 when y_i = 0; NaN when y_rest = 0",
                 "exp(ln RR + z sqrt(1/y_i + 1/y_rest)); when y_i = 0, the exact conditional "
                 "(Clopper-Pearson) limit of y_i given y_i + y_rest, as a rate ratio; NaN when "
                 "y_rest = 0",
                 unit="ratio", reference=f"{_D} 2", direction="neutral"),
        _spec("rate_per_1k_eb", "Requests per 1,000 residents (smoothed)",
              "Marshall (1991) global empirical Bayes smoothed rate, estimated over the areas "
              "with population > 0 and shown only where rate_per_1k is (not 'insufficient')",
              rate_unit, f"{_D} 3", small_number=_RATE_RULE,
              map_style=MapStyle("requests per 1,000 residents, empirical Bayes smoothed",
                                 denominator=_RESIDENTS, uses_population=True)),
        _spec("area_km2", "Land area (km²)",
              "Land area of the polygon, in the layer's projected CRS", "km²", f"{_D} 4"),
        _spec("requests_per_km2", "Requests per km²", "requests / area_km2",
              "requests per km²", f"{_D} 4",
              map_style=MapStyle("requests per km²", denominator="land area (km²)"),
              plain="The area's requests divided by its land area in square kilometres, for "
              "layers without a population."),
        _spec("ttc_requests", "Requests timed",
              "Counted requests with a valid duration (used for time to close)",
              "requests", f"{_D} 5", integer=True),
        _spec("ttc_closed", "Requests closed",
              "Of ttc_requests, closed by the as-of time of their input file (events; the "
              "observed closures O)",
              "requests", f"{_D} 5", integer=True),
        _spec("ttc_open", "Requests still open",
              "Of ttc_requests, open at their input file's as-of time (right-censored there)",
              "requests", f"{_D} 5", integer=True),
        _spec("ttc_followup_days", "Days the data follow requests",
              "Follow-up: the longest observed duration in the area, closed or still open at its "
              "source's as-of time; Kaplan-Meier figures beyond it are not published",
              "days", f"{_D} 5"),
        _spec("ttc_excluded_negative", "Closed before created (left out of time to close)",
              "Counted requests closed before they were created: excluded from time to close",
              "requests", f"{_D} 6", integer=True),
        _spec("ttc_excluded_no_closed_time", "Closed without a closed time (left out)",
              "Counted requests with status closed but no closed time: excluded from time to "
              "close",
              "requests", f"{_D} 6", integer=True),
        _spec("ttc_excluded_implausible", "Implausibly long to close (left out)",
              "Counted requests closed after more than max_days: excluded from time to close",
              "requests", f"{_D} 6", integer=True),
        _spec("ttc_median_days", median_label,
              "Kaplan-Meier median time to close, open requests censored at the as-of time of "
              "their own input file; empty when not reached (see ttc_median_flag)",
              "days", f"{_D} 5", direction=worse, ci=True, small_number=_TIMED_RULE,
              map_style=MapStyle("days (median; requests still open count as waiting)",
                                 denominator=_TIMED, open_ended=True),
              headline=_MEDIAN_HEADLINE, state="ttc_median_flag",
              plain="Half of the area's requests were closed within this many days. Requests "
              "still open when the data were extracted count as waiting at least until then, so "
              "leaving them out cannot make service look faster; where fewer than half had "
              "closed, the page says the median is longer than the days the data cover."),
        *_limits("ttc_median_days", median_label,
                 "Lower limit of the median: where the lower log(-log) Greenwood band of S "
                 "reaches 0.5",
                 "Upper limit of the median: where the upper band of S reaches 0.5; NaN = not "
                 "reached (the interval is open-ended)",
                 unit="days", reference=f"{_D} 5", direction=worse),
        _spec("ttc_median_days_closed_only", "Median days to close, closed requests only",
              "Naive median over closed requests only (biased low; for comparison with "
              "dashboards)",
              "days", f"{_D} 5", direction=worse),
        _spec("ttc_median_flag", "Median days to close: state",
              "ok; 'not reached (> N days)' when fewer than half of the requests closed within "
              "the N days the data follow them (the median is more than N days); "
              "'insufficient' when no request has a valid duration",
              "category", f"{_D} 5"),
        _spec("ttc_p90_days", "Days until 90% are closed",
              "Kaplan-Meier time by which 90% are closed (first t with S(t) <= 0.1); empty when "
              "not reached (see ttc_p90_flag)",
              "days", f"{_D} 5", direction=worse, state="ttc_p90_flag"),
        _spec("ttc_p90_flag", "Days until 90% are closed: state",
              "ok; 'not reached (> N days)' when fewer than 90% closed within the N days the "
              "data follow them; 'insufficient' when no request has a valid duration",
              "category", f"{_D} 5"),
        *(spec for h in HORIZONS_DAYS for spec in _closed_within(h)),
        _spec("ttc_expected_closures", "Closures expected for the service-type mix",
              "Closures expected if every request closed at the citywide rate of its service "
              "type: sum of the type's Nelson-Aalen H(t) at each request's follow-up time",
              "requests", f"{_D} 7"),
        _spec("ttc_type_adjusted_ratio", adjusted_label,
              "Observed / expected closures (indirect standardisation by service type); "
              ">1 = closes faster than its type mix predicts, <1 = slower; 1 citywide",
              "ratio", f"{_D} 7", direction=better, ci=True,
              small_number=SmallNumberRule(count="ttc_closed", count_label="Closures"),
              map_style=MapStyle(
                  "ratio of observed to expected closures (1 = city; above 1 = faster)",
                  palette="diverging",
                  denominator="expected closures for the area's mix of service types"),
              headline=_ADJUSTED_HEADLINE,
              plain="How fast the area's requests closed compared with the city's usual speed "
              "for each service type: 1 means as expected, above 1 faster, below 1 slower. It "
              "takes out the effect of some areas asking for slow services more than others."),
        *_limits("ttc_type_adjusted_ratio", adjusted_label,
                 "Exact Poisson (Garwood) limit of O, divided by E; empty for an area holding "
                 "every timed request (the city row: 1 by construction)",
                 "Exact Poisson (Garwood) limit of O, divided by E; empty for an area holding "
                 "every timed request (the city row: 1 by construction)",
                 unit="ratio", reference=f"{_D} 7", direction=better),
        _spec("ttc_crude_ratio", "Closure speed, not adjusted for service type",
              "Observed / expected closures against the citywide curve of all types pooled "
              "(the unadjusted counterpart of ttc_type_adjusted_ratio)",
              "ratio", f"{_D} 7", direction=better),
        _spec("on_time_share", "Closed on time",
              "closed on or before due / (closed with due date + open with due date before "
              "the as-of time of the request's own input file)",
              "share (0-1)", f"{_D} 8", direction=better, ci=True,
              small_number=SmallNumberRule(count="sla_due", count_label="Requests due"),
              map_style=MapStyle(
                  "% of requests with a due date",
                  denominator="requests with a due date (closed, or open and overdue)"),
              headline=_ON_TIME_HEADLINE,
              plain="Of the requests with a due date, the share closed by that date. Open "
              "requests past their due date count as late; open requests not yet due and "
              "requests without a due date are left out."),
        *_limits("on_time_share", "Closed on time", "Wilson lower limit of on_time_share",
                 "Wilson upper limit of on_time_share", unit="share (0-1)",
                 reference=f"{_D} 8", direction=better),
        _spec("on_time", "Requests closed on time",
              "Requests closed on or before their due date", "requests", f"{_D} 8",
              integer=True),
        _spec("sla_due", "Requests due",
              "Denominator of on_time_share: closed with a due date + open and overdue",
              "requests", f"{_D} 8", integer=True),
        _spec("open_overdue", "Open and overdue",
              "Open at its input file's as-of time with a due date before it (failures)",
              "requests", f"{_D} 8",
              direction=worse, integer=True),
        _spec("open_on_track", "Open, not yet due",
              "Open at its input file's as-of time, not yet due: excluded from on_time_share",
              "requests", f"{_D} 8", integer=True),
        _spec("no_due_date", "Requests without a due date",
              "Requests without a due date: excluded from on_time_share", "requests", _D,
              section=_DUE, integer=True),
    )  # fmt: skip


#: Every column of the indicator table (``area_id`` first), in table order.
CATALOGUE: Mapping[str, IndicatorSpec] = MappingProxyType({s.name: s for s in _entries()})
#: The headline indicators (a map page and a card each), in page order.
HEADLINES: tuple[str, ...] = (
    "rate_per_1k",
    "ttc_median_days",
    "on_time_share",
    "ttc_type_adjusted_ratio",
)
#: The indicators with map settings, in the order the maps list them.
MAPPED: tuple[str, ...] = (
    "rate_per_1k",
    "rate_per_1k_eb",
    "rate_ratio",
    "requests",
    "requests_per_km2",
    "ttc_median_days",
    "ttc_type_adjusted_ratio",
    "on_time_share",
    *(f"closed_within_{h}d_share" for h in HORIZONS_DAYS),
)
#: Columns of :func:`geo311.indicators.area_indicators`, in order (``area_id`` is the index).
TABLE_COLUMNS: tuple[str, ...] = tuple(name for name in CATALOGUE if name != "area_id")
#: Columns that hold whole counts (``int64``).
INTEGER_COLUMNS: frozenset[str] = frozenset(s.name for s in CATALOGUE.values() if s.integer)
#: Columns that hold a category (flag) as text (``string``).
CATEGORY_COLUMNS: tuple[str, ...] = tuple(
    s.name for s in CATALOGUE.values() if s.fmt == "category"
)
#: Flag (category) column -> value -> plain meaning, for the data dictionary and legends.
FLAG_VALUES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "rate_flag": RATE_FLAGS,
        "ttc_median_flag": TTC_FLAGS,
        "ttc_p90_flag": TTC_FLAGS,
        **{f"closed_within_{h}d_flag": TTC_FLAGS for h in HORIZONS_DAYS},
    }
)
#: Column name -> (meaning, unit, formula reference): the data dictionary.
DATA_DICTIONARY: Mapping[str, tuple[str, str, str]] = MappingProxyType(
    {s.name: (s.meaning, s.unit, s.reference) for s in CATALOGUE.values()}
)


def indicator(name: str) -> IndicatorSpec:
    """Return the catalogue entry of one indicator column.

    Parameters
    ----------
    name : str
        A column of the indicator table (e.g. ``"rate_per_1k"``).

    Returns
    -------
    IndicatorSpec

    Raises
    ------
    OptionError
        When ``name`` is not in the catalogue.

    Examples
    --------
    >>> indicator("on_time_share").ci
    ('on_time_ci_low', 'on_time_ci_high')
    """
    spec = CATALOGUE.get(name)
    if spec is None:
        msg = (
            f"unknown indicator {name!r}: use one of the {len(CATALOGUE)} columns in "
            "geo311.catalogue.CATALOGUE (e.g. 'rate_per_1k', 'ttc_median_days')"
        )
        raise OptionError(msg)
    return spec


def headline_indicators() -> tuple[IndicatorSpec, ...]:
    """Return the headline indicators (each has a ``headline``), in page order.

    Returns
    -------
    tuple of IndicatorSpec
    """
    return tuple(CATALOGUE[name] for name in HEADLINES)


def mapped_indicators() -> tuple[IndicatorSpec, ...]:
    """Return the indicators with map settings (each has a ``map``), in map order.

    Returns
    -------
    tuple of IndicatorSpec
    """
    return tuple(CATALOGUE[name] for name in MAPPED)


def plain_indicators() -> tuple[IndicatorSpec, ...]:
    """Return the indicators the site shows (each has a ``plain`` text), in table order.

    Returns
    -------
    tuple of IndicatorSpec

    Examples
    --------
    >>> [s.name for s in plain_indicators()][:3]
    ['requests', 'population', 'rate_per_1k']
    """
    return tuple(spec for spec in CATALOGUE.values() if spec.plain)


def data_dictionary() -> pd.DataFrame:
    """Return the data dictionary as a table, in the column order of the indicator table.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``meaning``, ``unit``, ``reference`` (METRICS.md
        item) and ``values`` (for a flag column, each value and what it means:
        :data:`FLAG_VALUES`; else empty); one row per column of
        :func:`geo311.indicators.area_indicators` plus ``area_id`` first.

    Examples
    --------
    >>> table = data_dictionary()
    >>> table.iloc[0]["name"], table.set_index("name").loc["rate_per_1k", "reference"]
    ('area_id', 'METRICS.md 1')
    """
    values = {
        name: "; ".join(f"{value}: {meaning}" for value, meaning in flags.items())
        for name, flags in FLAG_VALUES.items()
    }
    return pd.DataFrame(
        [(name, *DATA_DICTIONARY[name], values.get(name, "")) for name in CATALOGUE],
        columns=["name", "meaning", "unit", "reference", "values"],
    )

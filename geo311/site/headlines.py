"""The headline indicators: the four that get a map page per layer and a card per area.

Each :class:`Headline` says how its column of the indicator table is titled,
formatted and explained on the site's pages.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HEADLINE_INDICATORS", "Headline", "short_name"]


@dataclass(frozen=True)
class Headline:
    """How one headline indicator is labelled, formatted and explained."""

    column: str
    slug: str
    title: str
    unit: str
    kind: str  # "rate" | "days" | "share" | "ratio": how values are formatted
    ci_low: str
    ci_high: str
    count: str  # the column counting the requests behind the value
    count_label: str
    read: tuple[str, ...]  # "how to read" sentences
    card_note: str


#: The headline indicators that get a map page and a card, by column of ``<key>.csv``.
HEADLINE_INDICATORS: dict[str, Headline] = {
    h.column: h
    for h in (
        Headline(
            column="rate_per_1k",
            slug="rate_per_1k",
            title="Requests per 1,000 residents",
            unit="requests per 1,000 residents",
            kind="rate",
            ci_low="rate_per_1k_ci_low",
            ci_high="rate_per_1k_ci_high",
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
            card_note="Residents' requests divided by population, with an exact Poisson 95% "
            "interval.",
        ),
        Headline(
            column="ttc_median_days",
            slug="ttc_median_days",
            title="Median time to close",
            unit="days",
            kind="days",
            ci_low="ttc_median_days_ci_low",
            ci_high="ttc_median_days_ci_high",
            count="ttc_requests",
            count_label="Requests timed",
            read=(
                "Half of the requests in an area were closed within this many days; darker "
                "colours mean slower service.",
                "Requests still open when the data were extracted count as waiting at least "
                "that long, so the median is not biased low by leaving them out.",
                "Where fewer than half of the requests had closed when the data end, the "
                "median is only known to be longer than the days the data cover: the area "
                "is hatched as not reached (over N days), apart from areas without data.",
            ),
            card_note="Half of the requests closed within this time; requests still open when "
            "the data were extracted count as still waiting.",
        ),
        Headline(
            column="on_time_share",
            slug="on_time_share",
            title="Share closed on time",
            unit="% of requests with a due date",
            kind="share",
            ci_low="on_time_ci_low",
            ci_high="on_time_ci_high",
            count="sla_due",
            count_label="Requests due",
            read=(
                "The share of requests with a due date that were closed by it; open requests "
                "past their due date count as late.",
                "Open requests that are not yet due, and requests without a due date, are left "
                "out.",
            ),
            card_note="Closed by the due date, out of requests due by the time the data were "
            "extracted (Wilson 95% interval).",
        ),
        Headline(
            column="ttc_type_adjusted_ratio",
            slug="ttc_type_adjusted_ratio",
            title="Closure speed adjusted for request type",
            unit="ratio to the city (1 = city)",
            kind="ratio",
            ci_low="ttc_type_adjusted_ratio_ci_low",
            ci_high="ttc_type_adjusted_ratio_ci_high",
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
        ),
    )
}


def short_name(h: Headline) -> str:
    """Return the short name of a headline in table notes ("rate", "on time" ...)."""
    return {
        "rate_per_1k": "rate",
        "ttc_median_days": "median days",
        "on_time_share": "on time",
        "ttc_type_adjusted_ratio": "type-adjusted",
    }[h.column]

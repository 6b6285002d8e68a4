"""The headline indicators: the four that get a map page per layer and a card per area.

Each :class:`Headline` says how its column of the indicator table is titled,
formatted and explained on the site's pages; the words come from the one
indicator catalogue, :mod:`geo311.catalogue`.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo311.catalogue import headline_indicators, indicator

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


#: The headline indicators that get a map page and a card, by column of ``<key>.csv``,
#: as :mod:`geo311.catalogue` describes them.
HEADLINE_INDICATORS: dict[str, Headline] = {
    spec.name: Headline(
        column=spec.name,
        slug=spec.headline.slug,
        title=spec.headline.title,
        unit=spec.headline.unit,
        kind=spec.headline.kind,
        ci_low=spec.ci[0],
        ci_high=spec.ci[1],
        count=spec.headline.count,
        count_label=spec.headline.count_label,
        read=spec.headline.read,
        card_note=spec.headline.card_note,
    )
    for spec in headline_indicators()
    if spec.headline is not None and spec.ci is not None
}


def short_name(h: Headline) -> str:
    """Return the short name of a headline in table notes ("rate", "on time" ...)."""
    spec = indicator(h.column).headline
    return spec.short if spec is not None else h.column

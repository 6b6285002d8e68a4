"""One page per area of the district layer: cards, map of its smaller areas, charts, notes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo311.indicators.scope import CITY_ID
from geo311.site.downloads import Section, headline_section, write_downloads
from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.html_tables import area_table
from geo311.site.layer import SiteLayer, singular
from geo311.site.map_page import area_map, city_bins, headline_choropleth, map_frame
from geo311.site.page_charts import month_chart, services_chart, weekday_chart
from geo311.site.period_change import period_change_context
from geo311.site.ranking import RANKED, rank_areas, ranking_table
from geo311.site.render import Renderer
from geo311.site.text import card_context, layer_notes, limits_of, population_source, shared_notes

__all__ = ["district_page"]


def district_page(
    render: Renderer,
    district: SiteLayer,
    hoods: SiteLayer | None,
    *,
    area_id: str,
    name: str,
    page: Path,
    membership: pd.DataFrame,
    display: Mapping[str, gpd.GeoDataFrame],
    changes: pd.DataFrame | None = None,
    links: Mapping[str, str] | None = None,
    ranks: pd.DataFrame | None = None,
) -> int:
    """Write the page of one district and its data files; return the page's bytes.

    The page has the headline cards (district and city, with the change vs
    the previous period from ``changes``, :func:`geo311.site.period_change.change_table`),
    the map of its smaller areas, charts, the ranking of every district
    (``links``: district id -> page; ``ranks``: :func:`geo311.site.ranking.rank_areas`
    of the layer) and the smaller areas' table.
    """
    ranks = rank_areas(district.indicators) if ranks is None else ranks
    limits = limits_of(district.metadata)
    row = district.indicators.loc[[area_id]].iloc[0]
    change = period_change_context(
        district, changes, area_id, area_label=name, min_count=int(limits["min_count"])
    )
    cards = []
    for h in HEADLINE_INDICATORS.values():
        card = card_context(h, row, district.city, area_label=name, limits=limits)
        card["change"] = change["cards"].get(h.column, [])
        cards.append(card)
    ranking = ranking_table(
        district, current=area_id, links=links or {}, limits=limits, ranks=ranks
    )
    outline = display[district.key]
    outline = outline[outline["area_id"] == area_id]
    notes = shared_notes(district.metadata) + layer_notes(district.metadata, title=district.title)
    table = None
    hood_frame: gpd.GeoDataFrame | None = None
    rate = area_map(district)
    if hoods is not None:
        members = membership.index[membership["district_id"] == area_id]
        inside = hoods.indicators.loc[hoods.indicators.index.isin(members)]
        hood_display = display[hoods.key]
        hood_frame = map_frame(
            hood_display[hood_display["area_id"].isin(members)], hoods.indicators, [rate.column]
        )
        if len(inside):
            table = area_table(
                inside,
                table_id="areas-table",
                caption=f"{hoods.title} of {name} (click a column header to sort)",
                limits=limits_of(hoods.metadata),
                columns=list(HEADLINE_INDICATORS),
                name_label=singular(hoods.title).capitalize(),
            )
        notes += _membership_notes(hoods, district, membership, area_id, name)
        notes += layer_notes(hoods.metadata, title=hoods.title)
    if hoods is not None and hood_frame is not None and len(hood_frame):
        frame, shown, outlines = hood_frame, hoods, outline
        map_title = f"{rate.title} in the {hoods.title.lower()} of {name}"
        # the citywide classes of the neighbourhood map, so colours compare across districts
        bins: list[float] | None = city_bins(hoods.indicators, rate.column)
        scheme_label: str | None = (
            f"quantiles of all {hoods.title.lower()} in the city (same colours as the city map)"
        )
        if bins is not None and len(bins) <= 1:
            bins, scheme_label = None, None
    else:
        frame = map_frame(outline, district.indicators, [rate.column])
        shown, outlines = district, None
        map_title = f"{rate.title} in {name}"
        bins, scheme_label = None, None
    m = headline_choropleth(
        frame,
        rate.column,
        population_source=population_source(shown.metadata),
        outlines=outlines,
        outlines_title=name,
        tiles=render.tiles,
        limits=limits_of(shown.metadata),
        bins=bins,
        scheme_label=scheme_label,
    )
    minx, miny, maxx, maxy = (
        float(v) for v in pd.concat([frame.geometry, outline.geometry]).total_bounds
    )
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    ranked_ids = [r["id"] for r in ranking["rows"]]
    sections = _sections(
        district,
        area_id=area_id,
        name=name,
        changes=changes,
        limits=limits,
        ranks=ranks.loc[ranked_ids],
    )
    if table is not None and hoods is not None:
        inside = hoods.indicators.loc[[r["id"] for r in table["rows"]]]
        sections.append(
            headline_section(
                "areas",
                inside,
                columns=list(HEADLINE_INDICATORS),
                limits=limits_of(hoods.metadata),
            )
        )
    context = {
        "page_title": name,
        "current": "district",
        "district_name": name,
        "map_title": map_title,
        "lede": f"311 requests in {name} compared with the whole city, with the "
        f"{hoods.title.lower() if hoods is not None else 'areas'} it contains.",
        "map_parts": render.parts(m),
        "has_sortable": True,
        "cards": cards,
        "change_summary": change["summary"],
        "ranking": ranking,
        "downloads": write_downloads(sections, page),
        "services_chart": services_chart(district.services, area_id, area_label=name),
        "weekday_chart": weekday_chart(district.patterns, area_id, area_label=name),
        "month_chart": month_chart(district.patterns, area_id, area_label=name),
        "areas_heading": f"{hoods.title} in {name}" if hoods is not None else "Areas",
        "table": table,
        "notes": notes,
    }
    return render.write("district.html", page, **context)


def _sections(
    district: SiteLayer,
    *,
    area_id: str,
    name: str,
    changes: pd.DataFrame | None,
    limits: Mapping[str, int],
    ranks: pd.DataFrame,
) -> list[Section]:
    """Return the figures of the cards (district, city, change) and of the ranking's rows."""
    rows = pd.DataFrame(
        [district.indicators.loc[area_id], district.city], index=[area_id, CITY_ID]
    )
    rows["area_name"] = [name, "City"]
    extra = changes.loc[[area_id, CITY_ID]] if changes is not None else None
    cards = headline_section(
        "headline", rows, columns=list(HEADLINE_INDICATORS), limits=limits, extra=extra
    )
    ranking = headline_section(
        "ranking",
        district.indicators.loc[ranks.index],
        columns=list(RANKED),
        limits=limits,
        extra=ranks,
    )
    return [cards, ranking]


def _membership_notes(
    hoods: SiteLayer,
    district: SiteLayer,
    membership: pd.DataFrame,
    area_id: str,
    name: str,
) -> list[str]:
    hood_title = hoods.title.lower()
    names = hoods.indicators["area_name"]
    members = membership[membership["district_id"] == area_id]
    notes = [
        f"Each of the {hood_title} belongs to the {singular(district.title)} "
        f"that holds most of its area ({hoods.metadata.get('vintage') or '?'} {hood_title} vs "
        f"{district.metadata.get('vintage') or '?'} districts, measured in a projected CRS); "
        f"{len(members):,} are assigned to {name}."
    ]
    split = members[members["split"]]
    for hood_id, row in split.iterrows():
        label = names.get(hood_id, hood_id)
        notes.append(
            f"{label} is split: {100 * row['share_outside']:.1f}% of its area lies outside "
            f"{name}; its figures cover the whole area."
        )
    return notes

"""The choropleth pages of a layer: one per headline indicator, one with all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import pandas as pd

from geo311.indicators.scope import CITY_ID
from geo311.site import maps
from geo311.site.downloads import headline_section, write_downloads
from geo311.site.escape import escape_html
from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.html_tables import area_table, value_with_ci
from geo311.site.layer import SiteLayer
from geo311.site.render import Renderer
from geo311.site.static import StaticCanvas, StaticShapes, write_static
from geo311.site.text import (
    layer_notes,
    limits_of,
    not_reached_value,
    population_source,
    shared_notes,
    table_rows,
)

__all__ = [
    "DISPARITY_NOTE",
    "DISPARITY_TITLE",
    "AreaMap",
    "area_map",
    "city_bins",
    "disparity_layer",
    "embed_snippet",
    "headline_choropleth",
    "map_frame",
    "map_page",
    "map_png",
]


def city_bins(table: pd.DataFrame, column: str) -> list[float]:
    """Class bounds of the citywide map of ``column`` (so district maps use the same colours)."""
    if column not in table:
        return []
    spec = maps.indicator_spec(column, list(table.columns))
    values = pd.to_numeric(table[column], errors="coerce")
    if spec.flag and spec.flag in table:
        values = values.where(table[spec.flag].astype("string") != "insufficient")
    return list(maps.classify(values, scheme="quantiles", k=5).bins)


class AreaMap(NamedTuple):
    """The indicator a district page maps: its column and title."""

    column: str
    title: str


def area_map(layer: SiteLayer) -> AreaMap:
    """Return what a district page maps for ``layer``: residents' rate, or requests per km².

    A layer without any population (:attr:`SiteLayer.no_denominator`) has no
    rates, so its page maps requests per km² rather than an all-grey map.
    """
    if layer.no_denominator:
        return AreaMap("requests_per_km2", maps.indicator_spec("requests_per_km2").title)
    rate = HEADLINE_INDICATORS["rate_per_1k"]
    return AreaMap(rate.column, rate.title)


def map_frame(
    display: gpd.GeoDataFrame, table: pd.DataFrame, columns: Sequence[str]
) -> gpd.GeoDataFrame:
    """Return the display outlines with only the columns a map shows (keeps pages small)."""
    wanted: list[str | None] = ["area_name"]
    for column in columns:
        h = HEADLINE_INDICATORS.get(column)
        spec = maps.indicator_spec(column, list(table.columns))
        wanted += [column, *((h.ci_low, h.ci_high, h.count) if h is not None else ())]
        wanted += [spec.count, spec.flag, *(spec.ci or ())]
    wanted += ["population", "requests", "ttc_followup_days"]
    keep = [c for c in dict.fromkeys(wanted) if c and c in table.columns]
    # a headline column the tables lack is drawn as insufficient data, not refused
    data = table[keep].reindex(columns=[*keep, *(c for c in columns if c not in keep)])
    frame = display[["area_id", "geometry"]].merge(
        data, left_on="area_id", right_index=True, how="left"
    )
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=display.crs)


def headline_choropleth(
    frame: gpd.GeoDataFrame,
    column: str,
    *,
    population_source: str,
    outlines: gpd.GeoDataFrame | None,
    outlines_title: str,
    tiles: bool,
    limits: Mapping[str, Any],
    bins: Sequence[float] | None = None,
    scheme_label: str | None = None,
    m: Any = None,
    show: bool = True,
) -> Any:
    """Draw a headline indicator (or requests per km²) with its title, unit and threshold."""
    h = HEADLINE_INDICATORS.get(column) or maps.indicator_spec(column)
    return maps.choropleth(
        frame,
        column,
        m=m,
        show=show,
        scheme="user_defined" if bins else "quantiles",
        k=5,
        bins=list(bins) if bins else None,
        title=h.title,
        unit=h.unit,
        population_source=population_source or None,
        outlines=outlines,
        outline_name="area_name",
        outlines_title=outlines_title,
        tiles=tiles,
        min_count=limits["min_count"],
        scheme_label=scheme_label,
    )


#: The disparity layer (METRICS 13) in words: its title, legend sentence and how to read it.
DISPARITY_TITLE = "Requests vs residents (disparity)"
DISPARITY_NOTE = (
    "Above 0 (purple): more requests than its share of residents; below 0 (orange): fewer "
    "requests than its share of residents; 0: requests in step with residents."
)
DISPARITY_READ = (
    f"The layer \"{DISPARITY_TITLE}\" shows each area's share of the city's requests minus "
    "its share of the city's residents, in percentage points: above 0, the area makes more "
    "requests than its share of residents; below 0, fewer. The colours are centred on 0."
)


def _has_disparity(layer: SiteLayer) -> bool:
    column = layer.disparity.get("disparity")
    return column is not None and bool(pd.to_numeric(column, errors="coerce").notna().any())


def disparity_layer(frame: gpd.GeoDataFrame, layer: SiteLayer, *, m: Any) -> Any:
    """Add the layer's disparity scores (METRICS 13) to ``m`` as a hidden switchable layer."""
    scores = pd.to_numeric(layer.disparity["disparity"], errors="coerce")
    drawn = frame.assign(disparity=scores.reindex(frame["area_id"].astype(str)).to_numpy())
    return maps.choropleth(
        drawn,
        "disparity",
        m=m,
        show=False,
        scheme="quantiles",
        k=5,
        title=DISPARITY_TITLE,
        population_source=population_source(layer.metadata) or None,
        tiles=False,
        min_count=limits_of(layer.metadata)["min_count"],
        legend_note=DISPARITY_NOTE,
    )


def embed_snippet(page: Path, title: str) -> str:
    """Return the ``<iframe>`` that shows the map of ``page`` inside another web page.

    The address is the page's file name (relative: it works from any page in
    the same folder as the site) opened at its map (``#map``); ``title`` names
    the frame for screen readers. Both are escaped for the attribute.

    Examples
    --------
    >>> snippet = embed_snippet(Path("site/map-wards.html"), 'Requests "by" ward')
    >>> snippet.startswith('<iframe src="map-wards.html#map" title="Requests &quot;by&quot; ward"')
    True
    """
    return (
        f'<iframe src="{escape_html(page.name)}#map" title="{escape_html(title)}" '
        'width="100%" height="600" style="border:0" loading="lazy"></iframe>'
    )


def map_page(
    render: Renderer,
    layer: SiteLayer,
    columns: Sequence[str],
    *,
    page: Path,
    display: gpd.GeoDataFrame,
    outlines: gpd.GeoDataFrame | None,
    outlines_title: str,
    png: Path | None,
) -> int:
    """Write a choropleth page: one indicator, or several as switchable layers (first shown)."""
    heads = [HEADLINE_INDICATORS[c] for c in columns]
    h = heads[0]
    limits = limits_of(layer.metadata)
    areas_title = layer.title.lower()
    frame = map_frame(display, layer.indicators, list(columns))
    m = None
    for i, column in enumerate(columns):
        m = headline_choropleth(
            frame,
            column,
            population_source=population_source(layer.metadata),
            outlines=outlines if i == 0 else None,
            outlines_title=outlines_title,
            tiles=render.tiles,
            limits=limits,
            m=m,
            show=i == 0,
        )
    disparity = len(columns) > 1 and _has_disparity(layer)
    if disparity:
        m = disparity_layer(frame, layer, m=m)
    values = layer.indicators[columns[0]]
    if columns[0] == "rate_per_1k" and "rate_flag" in layer.indicators:
        values = values.where(layer.indicators["rate_flag"].astype("string") != "insufficient")
    shown = int(values.notna().sum())
    if len(columns) > 1:
        title = f"Headline indicators by {areas_title}"
        lede = (
            f"{len(columns)} indicators for each of the {len(values):,} {areas_title}, one "
            f"layer each: {', '.join(x.title.lower() for x in heads)}."
        )
        how = [
            f'The map opens on {h.title.lower()}; choose another indicator under "Map '
            'layers" (top right of the map; Tab reaches it, the arrow keys move between '
            "indicators). Each has its own legend, shown while its layer is on.",
            "Colours are 5 quantile classes of each indicator: each holds about a fifth of "
            "the areas with a value. Hover or tap an area for its value, 95% interval and "
            "counts; the table below has every indicator.",
        ]
        if disparity:
            how.append(DISPARITY_READ)
    else:
        title = f"{h.title} by {areas_title}"
        lede = (
            f"{h.title} ({h.unit}) in each of the {len(values):,} {areas_title}; city: "
            f"{value_with_ci(layer.city, h)}."
        )
        how = [sentence.format(**limits) for sentence in h.read]
        how.append(
            f"Colours are 5 quantile classes: each holds about a fifth of the {shown:,} areas "
            f"with a value ({h.unit}); the legend gives the class limits. Hover or tap an area "
            "for its value, 95% interval and counts."
        )
        rows = table_rows(layer.indicators)
        beyond = sum(not_reached_value(row, h) is not None for _, row in rows)
        if beyond:
            how.append(
                f"{beyond:,} area(s) have not reached this value within the data (fewer than "
                "half of their requests had closed when the data end); they are hatched as "
                '"not reached", with the days the data cover, never drawn as missing data.'
            )
        missing = len(values) - shown - beyond
        if missing:
            how.append(f"{missing:,} area(s) have no value and are drawn as insufficient data.")
    if outlines is not None:
        how.append(
            f"Thick labelled lines are the {outlines_title.lower()} boundaries (switch them off "
            'under "Map layers"). Where two names would overlap, only the larger area\'s is '
            "written; zoom in for the others."
        )
    notes = shared_notes(layer.metadata) + layer_notes(layer.metadata, title=layer.title)
    city = layer.city.to_frame(CITY_ID).T.assign(area_name="City")
    sections = [
        headline_section(name, rows, columns=list(columns), limits=limits)
        for name, rows in (("areas", layer.indicators), ("city", city))
    ]
    context = {
        "page_title": title,
        "current": "map",
        "downloads": write_downloads(sections, page),
        "lede": lede,
        "map_parts": render.parts(m),
        "has_sortable": True,
        "png": png.relative_to(page.parent).as_posix() if png is not None else None,
        "embed": embed_snippet(page, title),
        "how_to_read": how,
        "table": area_table(
            layer.indicators,
            table_id="areas-table",
            caption=f"{title} in every area (click a column header to sort)",
            limits=limits,
            columns=list(columns),
        ),
        "notes": notes,
    }
    return render.write("map.html", page, **context)


def map_png(
    layer: SiteLayer,
    column: str,
    path: Path,
    *,
    display: gpd.GeoDataFrame,
    shapes: StaticShapes,
    canvas: StaticCanvas,
) -> Path:
    """Write the static PNG of one headline map page; return its path.

    ``shapes`` are the :func:`~geo311.site.static.static_shapes` of ``display``
    (with the outlines drawn over it), shared by the layer's maps; ``canvas``
    is shared by every PNG of the site.
    """
    h = HEADLINE_INDICATORS[column]
    return write_static(
        canvas,
        shapes,
        map_frame(display, layer.indicators, [column]),
        column,
        path,  # existence was checked with every other output
        scheme="quantiles",
        k=5,
        bins=None,
        palette=None,
        title=f"{h.title} by {layer.title.lower()}",
        unit=h.unit,
        population_source=population_source(layer.metadata),
        min_count=limits_of(layer.metadata)["min_count"],
    )

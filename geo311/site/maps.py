"""Choropleth maps of area indicators: interactive (Folium/Leaflet, offline) and their pages.

One GeoDataFrame that already holds the indicator columns (the layer's
boundaries merged with the indicator table on ``area_id``) is the input of
both :func:`choropleth` and :func:`geo311.site.static.static_map`; both
classify with :func:`geo311.site.classify.classify`, so the interactive map
and the slide-deck PNG show the same classes in the same colours.

Conventions (STYLE.md section 6, METRICS.md "Reporting rules"):

* areas whose value is missing or whose flag is ``insufficient`` are drawn grey
  and hatched, with their own legend entry "insufficient data" (never black,
  never coloured as zero); areas whose time to close the data do not reach
  (a median "not reached", a share past the follow-up) have their own hatch
  and legend entry and read "over N days (not reached)"; ``unstable`` areas
  (fewer than 20 requests) keep their class colour under a hatch, with their own legend entry
  (:mod:`geo311.site.legend`);
* tooltips show only allow-listed fields (area name, value with its 95% CI,
  requests, population, flag) and the data embedded in the page holds
  nothing else;
* text is data, never template source: the map's elements
  (:mod:`geo311.site.elements`) render once, the browser reads names and
  values from JSON data blocks and builds tooltips and labels with
  ``textContent``, never ``innerHTML``;
* layers are switched with native form controls (a radio group of the
  indicators, a checkbox per other layer; :func:`finish`), and outline names
  are written largest area first, hidden where they would overlap another
  name or the map's edge;
* pages work offline: Leaflet and the full-screen plugin are vendored in
  ``geo311/site/vendor`` (see ``scripts/vendor_assets.py``) and :func:`map_parts`
  inlines them or links them relatively; the only remote URL left is the tile
  template, and without network the polygons, legend and tooltips still draw
  on a plain background.

Folium, mapclassify and matplotlib are the ``maps`` extra
(``pip install 'geo311[maps]'``) and are imported only when a map is drawn.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from geo311._errors import Geo311Error, OptionError, SchemaError
from geo311.cache import update_with_geometries
from geo311.catalogue import DATA_DICTIONARY
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.site import assets as _assets
from geo311.site.classify import AREA_STROKE, PALETTES, SCHEMES, Classes, classify
from geo311.site.elements import DEFAULT_TILES, default_tile_provider, elements, folium_module
from geo311.site.escape import escape_html, json_for_script
from geo311.site.legend import LegendInput, legend_and_patterns
from geo311.site.prepare import (
    Prepared,
    check_column,
    days_text,
    denominator,
    followups,
    numeric,
    prepare,
    to_wgs84,
    utm_crs,
)
from geo311.site.specs import (
    DASH,
    INDICATORS,
    MIN_COUNT,
    NO_DENOMINATOR,
    NOT_REACHED,
    Indicator,
    flag_label,
    format_value,
    indicator_spec,
    not_reached_text,
)
from geo311.site.static import static_map

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

__all__ = [
    "DEFAULT_TILES",
    "INDICATORS",
    "MIN_COUNT",
    "PALETTES",
    "SCHEMES",
    "Classes",
    "Indicator",
    "MapParts",
    "choropleth",
    "classify",
    "escape_html",
    "finish",
    "format_value",
    "indicator_spec",
    "json_for_script",
    "map_parts",
    "save_map",
    "static_map",
    "write_assets",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- tooltips


#: Tooltip labels of the count columns behind the unstable flag (:attr:`Indicator.count`).
_COUNT_LABELS = {
    "ttc_requests": "Requests timed",
    "ttc_closed": "Closures",
    "sla_due": "Requests due",
}


def _allowed_tooltip_columns() -> set[str]:
    return (set(DATA_DICTIONARY) | set(INDICATORS)) - {"area_id"}


def _tooltip_extras(
    tooltip: Sequence[str] | Mapping[str, str] | None, frame: pd.DataFrame
) -> list[tuple[str, str]]:
    if tooltip is None:
        return []
    pairs = (
        list(tooltip.items())
        if isinstance(tooltip, Mapping)
        else [(c, indicator_spec(c).title) for c in tooltip]
    )
    allowed = _allowed_tooltip_columns()
    refused = [c for c, _ in pairs if c not in allowed]
    if refused:
        msg = (
            f"tooltip columns {refused} are not indicator columns; tooltips show only "
            "columns of geo311.catalogue.DATA_DICTIONARY (never request text or addresses)"
        )
        raise SchemaError(msg)
    missing = [c for c, _ in pairs if c not in frame.columns]
    if missing:
        msg = f"tooltip columns {missing} are not in the frame"
        raise SchemaError(msg)
    return [(c, str(label)) for c, label in pairs]


def _area_names(frame: pd.DataFrame, area_name: str) -> pd.Series:
    """Return area names: ``area_name``, else an area_name/name/area_id column, else the index."""
    for candidate in (area_name, "area_name", "name", "area_id"):
        if candidate in frame.columns:
            names = frame[candidate]
            break
    else:
        names = pd.Series(frame.index, index=frame.index)
    return names.astype("string").fillna("(unnamed)").str.strip().astype(str)


def _value_text(
    row_value: float, low: float, high: float, spec: Indicator, *, status: str, followup: float
) -> str:
    if status == "insufficient":
        return flag_label("insufficient", MIN_COUNT)
    if status == NOT_REACHED:
        return not_reached_text(spec.fmt, followup)
    text = format_value(row_value, spec.fmt)
    if spec.fmt == "days":
        text = f"{text} days"
    if math.isfinite(low) and (math.isfinite(high) or spec.open_ended):
        lo = format_value(low, spec.fmt)
        hi = format_value(high, spec.fmt, missing="not reached")
        text += f" (95% CI {lo}{DASH}{hi})"
    return text


# --------------------------------------------------------------------------- GeoJSON


#: Geometry JSON (and its key) by a digest of the geometries' WKB, newest last: the pages
#: of a site embed each layer's outlines again and again.
_GEOMETRY_JSON: dict[bytes, tuple[str, str]] = {}
_GEOMETRY_JSON_SIZE = 32


def _geometries_json(geoms: Any) -> str:
    """Compact JSON array of GeoJSON geometries, coordinates rounded to 6 decimals (~0.1 m)."""
    import shapely  # noqa: PLC0415

    rounded = shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.round(xy, 6))
    return "[" + ",".join(shapely.to_geojson(rounded)) + "]"


def _geometry_entry(geoms: Any) -> tuple[str, str]:
    """Return :func:`_geometries_json` of ``geoms`` and its key, made once per geometry set."""
    digest = hashlib.sha256()
    update_with_geometries(digest, geoms)
    key = digest.digest()
    found = _GEOMETRY_JSON.pop(key, None)  # put back last: the newest
    if found is None:
        text = _geometries_json(geoms)
        found = (text, hashlib.sha256(text.encode("utf-8")).hexdigest()[:20])
    _GEOMETRY_JSON[key] = found
    while len(_GEOMETRY_JSON) > _GEOMETRY_JSON_SIZE:
        del _GEOMETRY_JSON[next(iter(_GEOMETRY_JSON))]
    return found


def _shared_geometry(m: folium.Map, geoms: Any) -> str:
    """Embed ``geoms`` once per map (layers of the same areas share them); return the JS name."""
    el = elements()
    text, key = _geometry_entry(geoms)
    element = el.Geometries(key=key, geometries_json=text)
    if element.get_name() not in m._children:
        m.add_child(element, name=element.get_name())
    return str(element.get_name())


# --------------------------------------------------------------------------- choropleth


def _new_map(frame: gpd.GeoDataFrame, *, tiles: bool | str, label: str) -> folium.Map:
    el = elements()
    m = el.Map(
        label=label,
        min_height="24rem",
        location=[0.0, 0.0],
        keyboard=True,
        prefer_canvas=False,
        zoom_snap=0.25,
    )
    if tiles:
        url = DEFAULT_TILES["url"] if tiles is True else str(tiles)
        attribution = DEFAULT_TILES["attribution"] if tiles is True else ""
        el.TileLayer(
            tiles=default_tile_provider() if tiles is True else url,
            attr=attribution or "basemap tiles",
            name="basemap",
            control=False,
            max_zoom=DEFAULT_TILES["max_zoom"],
            subdomains=DEFAULT_TILES["subdomains"],
        ).add_to(m)
    minx, miny, maxx, maxy = frame.total_bounds
    if np.isfinite([minx, miny, maxx, maxy]).all():
        m.location = [float((miny + maxy) / 2), float((minx + maxx) / 2)]
        m.fit_bounds([[float(miny), float(minx)], [float(maxy), float(maxx)]])
    return m


def _ensure_chrome(m: folium.Map) -> None:
    el = elements()
    if not any(isinstance(child, el.Chrome) for child in m._children.values()):
        m.add_child(el.Chrome())
        m.add_child(
            el.Fullscreen(position="topleft", title="Full screen", title_cancel="Exit full screen")
        )


def finish(m: folium.Map, *, collapsed: bool = False) -> folium.Map:
    """Put exactly one layer switcher last on ``m`` (moving an existing one) and return ``m``.

    The switcher lists the indicators as a radio group (one shown at a time,
    with its legend) and every other layer with a ``control`` (outlines,
    folium layers added to ``m``) as a checkbox; a folium ``LayerControl``
    already on ``m`` is replaced. :func:`choropleth` calls this itself; call
    it again after adding other folium layers to ``m`` so the switcher lists
    them too. ``collapsed`` starts it folded (it also starts folded on maps
    narrower than 560 px).
    """
    folium = folium_module()
    switcher = elements().LayerSwitcher
    controls = [
        k for k, v in m._children.items() if isinstance(v, (folium.LayerControl, switcher))
    ]
    for key in controls:
        del m._children[key]
    m.add_child(switcher(collapsed=collapsed))
    return m


def choropleth(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    scheme: str = "quantiles",
    k: int = 5,
    bins: Sequence[float] | None = None,
    palette: str | Sequence[str] | None = None,
    m: folium.Map | None = None,
    name: str | None = None,
    title: str | None = None,
    unit: str | None = None,
    population_source: str | None = None,
    tooltip: Sequence[str] | Mapping[str, str] | None = None,
    outlines: gpd.GeoDataFrame | None = None,
    tiles: bool | str = True,
    show: bool = True,
    area_name: str = "area_name",
    outline_name: str = "name",
    outlines_title: str = "Boundaries",
    opacity: float = 0.8,
    min_count: int = MIN_COUNT,
    scheme_label: str | None = None,
    legend_note: str | None = None,
) -> folium.Map:
    """Draw one indicator of a layer as an offline-ready choropleth layer.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Areas with the indicator columns already merged in (any CRS; drawn in
        EPSG:4326). Not modified.
    column : str
        The indicator to map (see :data:`INDICATORS`; other numeric columns
        get settings derived from the data dictionary).
    scheme, k, bins, palette
        Classification and colours, see :func:`classify`. Ratios (diverging
        indicators) are centred on 1.
    m : folium.Map, optional
        Add the indicator as another switchable layer of this map (the
        layer switcher is moved last automatically, see :func:`finish`).
    name : str, optional
        Layer name in the layer switcher (default: the title).
    title, unit : str, optional
        Legend title and unit (defaults from :data:`INDICATORS`).
    population_source : str, optional
        Denominator source and year, e.g. ``"ACS 2020 5-year"``; quoted in the
        legend and the tooltip of population-based indicators.
    tooltip : sequence of str or mapping of str to str, optional
        Extra indicator columns for the tooltip (a mapping gives labels). Only
        columns of the data dictionary are accepted.
    outlines : geopandas.GeoDataFrame, optional
        Boundaries drawn on top as labelled outlines (column ``outline_name``).
    tiles : bool or str, default True
        True: the light CARTO Positron basemap; False: none; a string: a tile
        URL template. Ignored when ``m`` is given.
    show : bool, default True
        Whether the layer (and its legend) is visible initially.
    area_name : str, default "area_name"
        Column with the area names (falls back to ``area_id``).
    outline_name, outlines_title : str
        Name column of ``outlines`` and its layer name.
    opacity : float, default 0.8
        Fill opacity of the areas.
    min_count : int, default :data:`MIN_COUNT`
        Areas whose count column (see :class:`Indicator`) is below this are
        unstable; pass the ``min_count`` the indicators were computed with.
    scheme_label : str, optional
        How the classes were made, shown under the legend (default: the
        scheme's name), e.g. "citywide quantiles" when ``bins`` are the city's.
    legend_note : str, optional
        How to read the colours in words, shown in the legend (e.g. what the
        two sides of a diverging palette mean).

    Returns
    -------
    folium.Map
        ``m`` or a new map; render it with :func:`map_parts` or :func:`save_map`.
    """
    el = elements()
    frame = to_wgs84(check_column(gdf, column), "gdf")
    prep = prepare(
        frame, column, scheme=scheme, k=k, bins=bins, palette=palette, min_count=min_count
    )
    spec, status, classes = prep.spec, prep.status, prep.classes
    title = spec.title if title is None else str(title)
    properties, labels = _properties(
        frame,
        prep,
        title=title,
        population_source=population_source,
        area_name=area_name,
        tooltip=tooltip,
    )
    info = LegendInput(
        title=title,
        unit=spec.unit if unit is None else str(unit),
        denominator=denominator(spec, population_source),
        classes=classes,
        n_unstable=int((status == "unstable").sum()),
        n_insufficient=int((status == "insufficient").sum()),
        min_count=min_count,
        scheme_label=classes.scheme.replace("_", " ") if scheme_label is None else scheme_label,
        n_not_reached=int((status == NOT_REACHED).sum()),
        followup=days_text(min(followups(frame[status == NOT_REACHED], spec), default=np.nan)),
        note=legend_note,
    )
    if m is None:
        m = _new_map(frame, tiles=tiles, label=f"Map: {title}")

    def build(uid: str) -> tuple[str, dict[str, Any]]:
        legend_html, ids = legend_and_patterns(uid, info)
        cfg = {
            **ids,
            "colors": list(classes.colors),
            "labels": labels,
            "opacity": opacity,
            "stroke": AREA_STROKE,
        }
        return legend_html, cfg

    _ensure_chrome(m)
    layer = el.ChoroplethLayer(
        name=title if name is None else str(name),
        geometry=_shared_geometry(m, frame.geometry.to_numpy()),
        props_json=json_for_script(properties),
        build=build,
        show=show,
    )
    m.add_child(layer)
    if outlines is not None:
        m.add_child(_outline_layer(m, outlines, name=outlines_title, name_column=outline_name))
    log.info(
        "mapped %s for %d areas in %d classes (%s); %d unstable, %d insufficient, %d not reached",
        column,
        len(frame),
        classes.k,
        classes.scheme,
        info.n_unstable,
        info.n_insufficient,
        info.n_not_reached,
    )
    return finish(m)


def _properties(
    frame: pd.DataFrame,
    prep: Prepared,
    *,
    title: str,
    population_source: str | None,
    area_name: str,
    tooltip: Sequence[str] | Mapping[str, str] | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the allow-listed GeoJSON properties of every area, and the tooltip labels."""
    spec, values, status, classes = prep.spec, prep.values, prep.status, prep.classes
    names = _area_names(frame, area_name)
    low, high = (numeric(frame, c) for c in (spec.ci or (None, None)))
    requests = numeric(frame, "requests")
    population = numeric(frame, "population")
    followup = followups(frame, spec)
    extras = _tooltip_extras(tooltip, frame)
    count = spec.count
    if count is not None and count in frame and count not in {"requests", *dict(extras)}:
        # the count that makes the area unstable, e.g. requests with a due date
        extras.append((count, _COUNT_LABELS.get(count, count)))
    labels = [title, "Requests", "Population", "Data quality"]
    labels += [label for _, label in extras]
    extra_fmts = [(col, indicator_spec(col).fmt) for col, _ in extras]
    source = f" ({population_source})" if population_source else ""
    has_requests = "requests" in frame.columns
    has_population = "population" in frame.columns
    # a layer without any population says so, never "n/a" (nor 0) area by area
    no_denominator = not population_source and bool(population.isna().all())
    # cells as the .iloc of each Series gives them, read once: .iloc per cell cost more
    # than all the formatting
    value_cells, low_cells, high_cells = values.array, low.array, high.array
    request_cells, population_cells = requests.array, population.array
    status_cells, name_cells = status.array, names.array
    extra_cells = [(frame[col].array, fmt) for col, fmt in extra_fmts]
    props = []
    for i in range(len(frame)):
        st = str(status_cells[i])
        texts: list[str | None] = [
            _value_text(
                value_cells[i], low_cells[i], high_cells[i], spec, status=st, followup=followup[i]
            ),
            format_value(request_cells[i], "count") if has_requests else None,
            (
                NO_DENOMINATOR
                if no_denominator
                else format_value(population_cells[i], "count") + source
            )
            if has_population
            else None,
            flag_label(st, prep.min_count, followup=days_text(followup[i])),
        ]
        for cells, fmt in extra_cells:
            raw = cells[i]
            texts.append(raw if isinstance(raw, str) else format_value(raw, fmt))
        cls = -1 if st in {"insufficient", NOT_REACHED} else int(classes.yb[i])
        props.append({"name": name_cells[i], "c": cls, "s": st, "t": texts})
    return props, labels


def _outline_layer(
    m: folium.Map, outlines: gpd.GeoDataFrame, *, name: str, name_column: str
) -> Any:
    el = elements()
    frame = to_wgs84(outlines, "outlines")
    names = _area_names(frame, name_column)
    # label at a point inside each area (a centroid can fall outside), largest area first:
    # where labels would overlap the browser shows the first and hides the others
    projected = frame.geometry.to_crs(utm_crs(frame))
    points = projected.representative_point().to_crs(4326)
    order = np.argsort(-projected.area.to_numpy(), kind="stable")
    labels = [
        [[round(points.iloc[i].y, 6), round(points.iloc[i].x, 6)], names.iloc[i]] for i in order
    ]
    return el.OutlineLayer(
        name=name,
        geometry=_shared_geometry(m, frame.geometry.to_numpy()),
        labels_json=json_for_script(labels),
        show=True,
    )


# --------------------------------------------------------------------------- rendering


class MapParts(NamedTuple):
    """A rendered map, split for embedding in a page.

    Attributes
    ----------
    head : str
        ``<style>``/``<script>`` (inline) or ``<link>``/``<script src>``
        (external) elements for the page ``<head>``.
    body : str
        The map container, its legends and hatch patterns and its data blocks
        (``<script type="application/json">``, never run), where the map goes.
    script : str
        One ``<script>`` element that draws the map; put it at the end of ``<body>``.
    """

    head: str
    body: str
    script: str


_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>\s*</script>", re.I)
_LINK_HREF = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*>", re.I)
_META_CONTENT_TYPE = re.compile(r"<meta http-equiv=\"content-type\"[^>]*>\s*", re.I)
_EXTERNAL = re.compile(r"^(https?:)?//", re.I)
_SCRIPT_OPEN = re.compile(r"<script\b", re.I)
_DATA_OPEN = re.compile(r'<script type="application/json" id="[^"<>]*">')


def map_parts(m: folium.Map, *, assets: str = "inline", asset_prefix: str = "assets/") -> MapParts:
    """Render ``m`` into head, body and script parts that need no CDN.

    Parameters
    ----------
    m : folium.Map
        A map from :func:`choropleth`.
    assets : {"inline", "external"}
        ``inline``: vendored Leaflet files are embedded (one self-contained
        page). ``external``: they are linked as ``asset_prefix + file``; copy
        them with :func:`write_assets`.
    asset_prefix : str
        Relative URL of the folder :func:`write_assets` fills (external mode).

    Raises
    ------
    Geo311Error
        When the map references a script or stylesheet that is not vendored
        (e.g. a folium plugin geo311 does not ship), naming the URLs.
    """
    if assets not in {"inline", "external"}:
        msg = f"assets must be 'inline' or 'external', got {assets!r}"
        raise OptionError(msg)
    figure: Any = m.get_root()
    figure.render()
    head = figure.header.render()
    body = figure.html.render()
    script = figure.script.render()
    unknown: list[str] = []
    seen: set[str] = set()

    def swap(match: re.Match[str]) -> str:
        url = match.group(1)
        path = _assets.url_to_asset(url)
        if path is None:
            if _EXTERNAL.match(url):
                unknown.append(url)
            return match.group(0)
        if path in seen:
            return ""
        seen.add(path)
        if assets == "inline":
            return _assets.inline_tag(path)
        return _assets.link_tag(path, asset_prefix)

    head = _META_CONTENT_TYPE.sub("", head)
    head = _LINK_HREF.sub(swap, _SCRIPT_SRC.sub(swap, head))
    for part in (body, script):
        unknown += [u for u in _SCRIPT_SRC.findall(part) if _EXTERNAL.match(u)]
        unknown += [u for u in _LINK_HREF.findall(part) if _EXTERNAL.match(u)]
    if unknown:
        msg = (
            f"the map loads scripts/stylesheets that are not vendored: {sorted(set(unknown))}; "
            "use geo311 map layers only, or vendor the files (scripts/vendor_assets.py)"
        )
        raise Geo311Error(msg)
    if "</script" in script.lower():
        msg = "the map script contains '</script'; an element did not escape its data"
        raise Geo311Error(msg)
    if len(_SCRIPT_OPEN.findall(body)) != len(_DATA_OPEN.findall(body)):
        msg = "the map body holds a <script> that is not a JSON data block; an element leaked code"
        raise Geo311Error(msg)
    return MapParts(head=head.strip(), body=body.strip(), script=f"<script>\n{script}\n</script>")


def write_assets(site_dir: str | Path) -> list[Path]:
    """Copy the vendored Leaflet files (and their licences) to ``site_dir / "assets"``.

    These are the files :func:`map_parts` links with ``assets="external"``.
    Returns the written paths.
    """
    written = _assets.copy_assets(Path(site_dir) / "assets")
    log.info("wrote %d vendored map assets to %s", len(written), Path(site_dir) / "assets")
    return written


_PAGE_CSS = (
    "html,body{height:100%;margin:0}"
    "body{display:flex;flex-direction:column;font-family:system-ui,-apple-system,'Segoe UI',"
    "Roboto,sans-serif;color:#222}"
    "h1{font-size:1.05rem;margin:.4rem .75rem}"
    "main{flex:1;min-height:0;position:relative}"
    "main>.geo311-map{position:absolute;top:0;right:0;bottom:0;left:0;min-height:0}"
)


def save_map(
    m: folium.Map,
    path: str | Path,
    *,
    title: str,
    assets: str = "inline",
    overwrite: bool = False,
) -> Path:
    """Write ``m`` as a standalone, offline, accessible HTML page.

    With ``assets="external"`` the vendored files are written to an
    ``assets/`` folder beside the page.

    Returns
    -------
    pathlib.Path
        The page written.
    """
    path = Path(path)
    check_overwrite([path], overwrite=overwrite)
    parts = map_parts(m, assets=assets, asset_prefix="assets/")
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape_html(title)}</title>\n<style>{_PAGE_CSS}</style>\n"
        f"{parts.head}\n</head>\n<body>\n<h1>{escape_html(title)}</h1>\n"
        f"<main>\n{parts.body}\n</main>\n{parts.script}\n</body>\n</html>\n"
    )
    with atomic_write(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    if assets == "external":
        write_assets(path.parent)
    log.info("wrote map page %s (%s bytes)", path, f"{len(page.encode()):,}")
    return path

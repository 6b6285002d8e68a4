"""The folium elements of a geo311 map; none of them renders its output a second time.

branca's ``MacroElement.render`` wraps the output of each macro in
``Element(output)``, which compiles that output as a Jinja template and
renders it again when the page is rendered. Any text in the output (an area
name such as ``{{ 7*4407 }}``) would then run as template code. Every
element geo311 adds to a map therefore derives from :class:`SafeMacro`
(through :func:`elements`), which puts the macro output into the page
verbatim, and the macros themselves carry no input-derived text: data for the
browser (geometries, area names, tooltips, legend settings) goes into
``<script type="application/json">`` blocks (:func:`~geo311.site.escape.data_block`)
that the runtime script (``templates/map_runtime.js``) reads with ``JSON.parse``.
Legend HTML is escaped by :mod:`geo311.site.legend` and inserted verbatim.

Leaflet and the full-screen plugin are loaded from the vendored copies
(:mod:`geo311.site.assets`); the runtime CSS and JS are package data files.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from geo311.site import assets as _assets
from geo311.site.classify import EXTRA
from geo311.site.escape import data_block, escape_html, json_for_script

__all__ = [
    "DEFAULT_TILES",
    "default_tile_provider",
    "elements",
    "folium_module",
    "runtime_css",
    "runtime_js",
]

_TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Default basemap: CARTO Positron (light), with the attribution its licence asks for.
DEFAULT_TILES = {
    "url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
    "attribution": (
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> '
        'contributors &copy; <a href="https://carto.com/attributions">CARTO</a>'
    ),
    "subdomains": "abcd",
    "max_zoom": 20,
}


@functools.cache
def default_tile_provider() -> Any:
    """Return :data:`DEFAULT_TILES` as an ``xyzservices.TileProvider`` (folium's dependency).

    folium takes a provider as it is, but looks a tile URL up among every
    provider it knows first (7 ms a map, in vain for a URL).
    """
    import xyzservices  # noqa: PLC0415

    return xyzservices.TileProvider(
        name="basemap", url=DEFAULT_TILES["url"], attribution=DEFAULT_TILES["attribution"]
    )


@functools.cache
def runtime_js() -> str:
    """Return the browser side of geo311's maps (``templates/map_runtime.js``)."""
    return (_TEMPLATES / "map_runtime.js").read_text(encoding="utf-8")


@functools.cache
def runtime_css() -> str:
    """Return the style sheet of geo311's maps (``templates/map_runtime.css``)."""
    return (_TEMPLATES / "map_runtime.css").read_text(encoding="utf-8")


def folium_module() -> ModuleType:
    """Import folium lazily, or raise ImportError naming the extra to install."""
    try:
        import folium  # noqa: PLC0415
        import folium.plugins  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        msg = f"interactive maps need folium: {EXTRA}"
        raise ImportError(msg) from exc
    return folium


@functools.cache
def elements() -> SimpleNamespace:
    """Define geo311's folium element classes (folium is imported only now)."""
    folium_module()  # a friendly ImportError when the extra is missing
    from branca.element import Element, Figure, MacroElement  # noqa: PLC0415
    from folium import Map  # noqa: PLC0415
    from folium.map import FitBounds, Layer  # noqa: PLC0415
    from folium.plugins import Fullscreen as FoliumFullscreen  # noqa: PLC0415
    from folium.raster_layers import TileLayer  # noqa: PLC0415
    from folium.template import Template  # noqa: PLC0415

    leaflet_js = _assets.cdn_url("leaflet", "leaflet.js")
    leaflet_css = _assets.cdn_url("leaflet", "leaflet.css")
    fullscreen_js = _assets.cdn_url("leaflet.fullscreen", "Control.FullScreen.js")
    fullscreen_css = _assets.cdn_url("leaflet.fullscreen", "Control.FullScreen.css")

    class Verbatim(Element):
        """Text that goes into the page as it is: never compiled as a template."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self._name = "Verbatim"
            self.text = text

        def render(self, **kwargs: Any) -> str:  # noqa: ARG002 - branca's signature
            return self.text

    class SafeMacro(MacroElement):
        """A MacroElement whose macro output is put into the page verbatim (rendered once)."""

        def render(self, **kwargs: Any) -> Any:
            figure = self.get_root()
            if not isinstance(figure, Figure):  # pragma: no cover - branca asserts the same
                msg = f"{type(self).__name__} can only be rendered inside a Figure"
                raise TypeError(msg)
            module = self._template.module
            for part in ("header", "html", "script"):
                macro = getattr(module, part, None)
                if macro is not None:
                    getattr(figure, part).add_child(
                        Verbatim(str(macro(self, kwargs))), name=self.get_name()
                    )
            for child in self._children.values():
                child.render(**kwargs)

    class SafeFitBounds(FitBounds, SafeMacro):
        """folium's FitBounds, rendered once, without animation.

        The map opens on this view at once: labels are placed, and a page
        printed or captured right after loading shows the whole area.
        """

        def __init__(self, bounds: Any, **kwargs: Any) -> None:
            super().__init__(bounds, **kwargs)
            self.options["animate"] = False

    class SafeTileLayer(TileLayer, SafeMacro):
        """folium's TileLayer, rendered once."""

    class Geo311Map(Map, SafeMacro):
        """A folium Map that loads only Leaflet, sizes itself to its container, renders once."""

        default_js = [("leaflet", leaflet_js)]  # noqa: RUF012
        default_css = [("leaflet_css", leaflet_css)]  # noqa: RUF012
        _template = Template(
            """
{% macro header(this, kwargs) %}<style>#{{ this.get_name() }}{position:relative;
width:100%;height:100%;min-height:{{ this.min_height }}}</style>{% endmacro %}
{% macro html(this, kwargs) %}<div class="folium-map geo311-map" id="{{ this.get_name() }}"
 role="region" aria-label="{{ this.aria_label }}"></div>{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.map("{{ this.get_name() }}", {
  center: {{ this.location|tojson }}, crs: L.CRS.{{ this.crs }},
  ...{{ this.options|tojavascript }}});
{% endmacro %}
"""
        )

        def __init__(self, *, label: str, min_height: str, **kwargs: Any) -> None:
            super().__init__(tiles=None, **kwargs)
            self.aria_label = escape_html(label)
            self.min_height = min_height

        def fit_bounds(
            self,
            bounds: Any,
            padding_top_left: Any = None,
            padding_bottom_right: Any = None,
            padding: Any = None,
            max_zoom: int | None = None,
        ) -> None:
            """Fit the map to ``bounds`` (as folium's ``Map.fit_bounds``)."""
            self.add_child(
                SafeFitBounds(
                    bounds,
                    padding_top_left=padding_top_left,
                    padding_bottom_right=padding_bottom_right,
                    padding=padding,
                    max_zoom=max_zoom,
                )
            )

    class Chrome(SafeMacro):
        """Runtime CSS/JS (once per page) and the area search box."""

        _template = Template(
            """
{% macro script(this, kwargs) %}
geo311.search({{ this._parent.get_name() }}, {{ this.search_json }});
{% endmacro %}
"""
        )

        def __init__(self) -> None:
            super().__init__()
            self._name = "Geo311Chrome"

        def render(self, **kwargs: Any) -> Any:
            figure: Any = self.get_root()
            parent: Any = self._parent
            figure.header.add_child(
                Verbatim(f"<style>{runtime_css()}</style>"), name="geo311_runtime_css"
            )
            figure.header.add_child(
                Verbatim(f"<script>{runtime_js()}</script>"), name="geo311_runtime_js"
            )
            self.search_json = json_for_script(
                {
                    "id": f"{parent.get_name()}-search",
                    "label": "Find an area by name",
                    "placeholder": "Find an area\u2026",
                    "notFound": "No area with that name",
                }
            )
            super().render(**kwargs)

    class Fullscreen(FoliumFullscreen, SafeMacro):
        """folium's full-screen control, loading the vendored leaflet.fullscreen."""

        default_js = [("leaflet_fullscreen", fullscreen_js)]  # noqa: RUF012
        default_css = [("leaflet_fullscreen_css", fullscreen_css)]  # noqa: RUF012

    class Geometries(SafeMacro):
        """Area geometries embedded once per map and shared by the layers drawing them."""

        _template = Template(
            """
{% macro html(this, kwargs) %}{{ this.block }}{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geo311.data("{{ this.get_name() }}-data");
{% endmacro %}
"""
        )

        def __init__(self, *, key: str, geometries_json: str) -> None:
            super().__init__()
            self._name = "Geo311Geometry"
            self._id = key
            self.block = data_block(f"{self.get_name()}-data", geometries_json)

    class ChoroplethLayer(Layer, SafeMacro):
        """One indicator as a GeoJSON overlay, with its legend, hatch patterns and data."""

        _template = Template(
            """
{% macro html(this, kwargs) %}{{ this.html_text }}{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geo311.choropleth({{ this._parent.get_name() }}, {{ this.geometry }},
geo311.data("{{ this.get_name() }}-data"));
geo311.legend({{ this._parent.get_name() }}, {{ this.get_name() }},
  "{{ this.get_name() }}-legend");
{% endmacro %}
"""
        )

        def __init__(
            self,
            *,
            name: str,
            geometry: str,
            props_json: str,
            build: Any,
            show: bool,
        ) -> None:
            super().__init__(name=name, overlay=True, control=True, show=show)
            self._name = "Geo311Choropleth"
            self.geometry = geometry
            self.props_json = props_json
            self._build = build

        def render(self, **kwargs: Any) -> Any:
            legend_html, cfg = self._build(self.get_name())
            payload = f'{{"properties":{self.props_json},"config":{json_for_script(cfg)}}}'
            self.html_text = legend_html + data_block(f"{self.get_name()}-data", payload)
            super().render(**kwargs)

    class OutlineLayer(Layer, SafeMacro):
        """Boundaries drawn as outlines with their names (e.g. council districts)."""

        _template = Template(
            """
{% macro html(this, kwargs) %}{{ this.block }}{% endmacro %}
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = geo311.outlines({{ this._parent.get_name() }}, {{ this.geometry }},
geo311.data("{{ this.get_name() }}-data"));
{% endmacro %}
"""
        )

        def __init__(self, *, name: str, geometry: str, labels_json: str, show: bool) -> None:
            super().__init__(name=name, overlay=True, control=True, show=show)
            self._name = "Geo311Outlines"
            self.geometry = geometry
            self.block = data_block(f"{self.get_name()}-data", labels_json)

    class LayerSwitcher(SafeMacro):
        """The map's layer switcher: indicators as a radio group, other layers as checkboxes.

        Built by ``geo311.switcher`` in the browser from native form controls
        (Tab reaches them, arrow keys move between indicators, Space toggles a
        checkbox). The layer names travel in a JSON data block; the script
        names only the layers' JavaScript variables.
        """

        _template = Template(
            """
{% macro html(this, kwargs) %}{{ this.block }}{% endmacro %}
{% macro script(this, kwargs) %}
geo311.switcher({{ this._parent.get_name() }}, [{{ this.indicators|join(", ") }}],
  [{{ this.overlays|join(", ") }}], geo311.data("{{ this.get_name() }}-data"));
{% endmacro %}
"""
        )

        def __init__(self, *, collapsed: bool = False) -> None:
            super().__init__()
            self._name = "Geo311Switcher"
            self.collapsed = collapsed

        def render(self, **kwargs: Any) -> Any:
            parent: Any = self._parent
            shown = [c for c in parent._children.values() if isinstance(c, Layer) and c.control]
            indicators = [c for c in shown if isinstance(c, ChoroplethLayer)]
            overlays = [c for c in shown if not isinstance(c, ChoroplethLayer)]
            self.indicators = [c.get_name() for c in indicators]
            self.overlays = [c.get_name() for c in overlays]
            settings = {
                "id": f"{self.get_name()}-layers",
                "title": "Map layers",
                "indicatorLegend": "Indicator shown",
                "overlayLegend": "Also show",
                "indicators": [str(c.layer_name) for c in indicators],
                "overlays": [str(c.layer_name) for c in overlays],
                "collapsed": self.collapsed,
            }
            self.block = data_block(f"{self.get_name()}-data", json_for_script(settings))
            super().render(**kwargs)

    return SimpleNamespace(
        Map=Geo311Map,
        Geometries=Geometries,
        Chrome=Chrome,
        Fullscreen=Fullscreen,
        ChoroplethLayer=ChoroplethLayer,
        OutlineLayer=OutlineLayer,
        TileLayer=SafeTileLayer,
        LayerSwitcher=LayerSwitcher,
        SafeMacro=SafeMacro,
    )

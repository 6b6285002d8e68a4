"""geo311.site.maps: classification, palettes, allow-listed tooltips, escaping, offline assets.

The maps are checked at the HTML level here (a browser suite drives Chromium
separately). The areas are a hand-made 3x3 grid of unit squares near Baltimore
with indicator values typed in below.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

pytest.importorskip("folium")
mapclassify = pytest.importorskip("mapclassify")

from geo311._errors import CRSError, Geo311Error, OutputExistsError, SchemaError  # noqa: E402
from geo311.site import assets as _assets  # noqa: E402
from geo311.site import classify, maps, prepare  # noqa: E402
from geo311.site.elements import elements  # noqa: E402

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "`${alert(1)}`",
    "</script><script>alert(1)</script>",
    "\"'><svg onload=alert(1)>",
]


def grid(**overrides: object) -> gpd.GeoDataFrame:
    """Nine 0.01-degree squares; rates 10..90, two flagged areas, one NaN value."""
    cells = [box(-76.7 + 0.01 * c, 39.3 + 0.01 * r, -76.69 + 0.01 * c, 39.31 + 0.01 * r)
             for r in range(3) for c in range(3)]  # fmt: skip
    rate = np.arange(10.0, 100.0, 10.0)
    frame = pd.DataFrame(
        {
            "area_id": [f"A{i}" for i in range(9)],
            "area_name": [f"Area {i}" for i in range(9)],
            "requests": [100, 120, 15, 140, 150, 160, 170, 180, 0],
            "population": [2000.0, 2100, 2200, 2300, 2400, 2500, 2600, 2700, 50],
            "rate_per_1k": rate,
            "rate_per_1k_ci_low": rate - 5,
            "rate_per_1k_ci_high": rate + 5,
            "rate_flag": ["ok", "ok", "unstable", "ok", "ok", "ok", "ok", "ok", "insufficient"],
            "ttc_type_adjusted_ratio": [0.6, 0.8, 0.9, 1.0, 1.0, 1.1, 1.2, 1.5, np.nan],
            "on_time_share": [0.5, 0.6, 0.7, 0.8, 0.9, 0.55, 0.65, 0.75, 0.85],
            "on_time_ci_low": [0.4] * 9,
            "on_time_ci_high": [0.95] * 9,
            "sla_due": [50] * 9,
        }
    )
    frame.loc[5, "rate_per_1k"] = np.nan
    for key, value in overrides.items():
        frame[key] = value
    return gpd.GeoDataFrame(frame, geometry=cells, crs="EPSG:4326")


def render(m, **kwargs) -> str:
    parts = maps.map_parts(m, **kwargs)
    return "\n".join(parts)


def data_blocks(body: str) -> dict[str, object]:
    """The JSON data blocks of a map body, by element id (never run by the browser)."""
    blocks = re.findall(r'<script type="application/json" id="([^"]+)">(.*?)</script>', body, re.S)
    return {key: json.loads(text) for key, text in blocks}


def embedded_features(parts: maps.MapParts) -> list[dict]:
    """Parse the per-area properties every choropleth layer embeds (geometry is shared)."""
    out = []
    blocks = data_blocks(parts.body)
    calls = r'geo311\.choropleth\(\w+, (\w+),\ngeo311\.data\("([\w-]+)"\)\)'
    for geometry, data_id in re.findall(calls, parts.script):
        assert re.search(rf'var {geometry} = geo311\.data\("{geometry}-data"\)', parts.script)
        assert isinstance(blocks[f"{geometry}-data"], list)  # the shared geometries
        out.extend({"properties": p} for p in blocks[data_id]["properties"])
    assert out
    return out


# --------------------------------------------------------------------------- classification


def test_quantiles_match_hand_computed_and_mapclassify():
    y = np.arange(1.0, 11.0)
    c = maps.classify(y, scheme="quantiles", k=5)
    # np.percentile(1..10, [20, 40, 60, 80, 100]) with linear interpolation
    assert c.bins == pytest.approx((2.8, 4.6, 6.4, 8.2, 10.0))
    ref = mapclassify.Quantiles(y, k=5)
    assert c.bins == pytest.approx(tuple(ref.bins))
    assert c.yb.tolist() == ref.yb.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert c.counts == (2, 2, 2, 2, 2)
    assert c.lower == 1.0


def test_equal_interval_and_user_defined_match_mapclassify():
    y = np.array([0.0, 1.0, 3.0, 5.0, 9.0, 10.0])
    c = maps.classify(y, scheme="equal_interval", k=5)
    assert c.bins == pytest.approx((2.0, 4.0, 6.0, 8.0, 10.0))
    assert c.yb.tolist() == mapclassify.EqualInterval(y, k=5).yb.tolist() == [0, 0, 1, 2, 4, 4]
    assert c.counts == (2, 1, 1, 0, 2)  # equal widths kept: the empty class is information
    u = maps.classify(y, scheme="user_defined", bins=[2, 6])
    ref = mapclassify.UserDefined(y, bins=[2, 6])
    assert u.bins == pytest.approx(tuple(ref.bins)) == (2.0, 6.0, 10.0)  # max added as last bound
    assert u.yb.tolist() == ref.yb.tolist() == [0, 0, 1, 1, 2, 2]
    assert u.labels == ("0 \u2013 2", "2 \u2013 6", "6 \u2013 10")


def test_fisher_jenks_matches_mapclassify():
    y = np.array([1.0, 2, 3, 10, 11, 12, 30, 31, 32])
    c = maps.classify(y, scheme="fisher_jenks", k=3)
    assert c.bins == pytest.approx((3.0, 12.0, 32.0))
    assert c.yb.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_fewer_distinct_values_than_k_and_ties():
    c = maps.classify([3.0, 3.0, 7.0, 7.0, 7.0], k=5)
    assert c.bins == (3.0, 7.0)
    assert c.counts == (2, 3)
    assert len(set(c.colors)) == 2
    # quantiles over ties give mapclassify an empty middle class; it is dropped
    tied = maps.classify([1, 1, 1, 1, 2, 3, 4, 5], k=4)
    assert all(n > 0 for n in tied.counts)
    assert len(tied.bins) == len(set(tied.bins))
    one = maps.classify([42.0], k=5)
    assert one.bins == (42.0,)
    assert one.labels == ("42",)
    assert one.yb.tolist() == [0]


def test_nan_stays_unclassified_and_all_nan():
    c = maps.classify([1.0, np.nan, 2.0, np.nan, 3.0], k=3)
    assert c.yb.tolist() == [0, -1, 1, -1, 2]
    assert c.class_of([np.nan, 0.5, 2.5, 99.0]).tolist() == [-1, 0, 2, 2]
    empty = maps.classify([np.nan, np.nan], k=5)
    assert empty.bins == ()
    assert empty.yb.tolist() == [-1, -1]


def test_invalid_scheme_lists_valid_keys_and_user_defined_needs_bins():
    with pytest.raises(ValueError, match="quantiles, fisher_jenks, equal_interval, user_defined"):
        maps.classify([1, 2, 3], scheme="natural_breaks")
    with pytest.raises(ValueError, match="bins="):
        maps.classify([1, 2, 3], scheme="user_defined")
    with pytest.raises(ValueError, match="k must be"):
        maps.classify([1, 2, 3], k=0)


# --------------------------------------------------------------------------- palettes


def _dark(color: str) -> bool:
    return max(int(color[i : i + 2], 16) for i in (1, 3, 5)) < 0x30


def test_sequential_palette_ordered_light_to_dark_and_never_black():
    c = maps.classify(np.arange(20.0), k=5)
    lum = [sum(int(col[i : i + 2], 16) for i in (1, 3, 5)) for col in c.colors]
    assert lum == sorted(lum, reverse=True)
    for ramp in maps.PALETTES.values():
        assert not any(_dark(col) for col in ramp)
    assert not _dark(classify.NA_FILL)
    assert classify.NA_FILL not in maps.PALETTES[classify.DEFAULT_SEQUENTIAL]


def test_diverging_palette_centred_on_one():
    neutral = maps.PALETTES["PuOr"][5]
    c = maps.classify([0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.6], k=7, center=1.0)
    k_one = c.class_of([1.0])[0]
    assert c.colors[k_one] == neutral
    assert neutral not in [col for i, col in enumerate(c.colors) if i != k_one]
    low, high = c.colors[0], c.colors[-1]
    assert low != high
    assert c.colors[k_one - 1] != c.colors[k_one + 1]
    # all values above 1: no neutral class at all
    above = maps.classify([1.2, 1.4, 1.6], k=3, center=1.0)
    assert neutral not in above.colors
    with pytest.raises(ValueError, match="unknown palette"):
        maps.classify([1, 2], palette="rainbow")
    with pytest.raises(ValueError, match="hex"):
        maps.classify([1, 2], palette=["red", "blue"])


def test_choropleth_uses_diverging_palette_for_ratio():
    html = render(maps.choropleth(grid(), "ttc_type_adjusted_ratio", tiles=False))
    assert maps.PALETTES["PuOr"][5] in html
    assert maps.PALETTES["YlGnBu"][-1] not in html


# --------------------------------------------------------------------------- allow-list


def test_properties_are_allow_listed_only():
    gdf = grid(
        description="<b>pothole</b> at 12 Secret St, call Jane 555-0100",
        address="12 Secret St",
        requester_email="jane@example.org",
    )
    parts = maps.map_parts(maps.choropleth(gdf, "rate_per_1k", tiles=False))
    html = "\n".join(parts)
    for secret in ("Secret St", "555-0100", "jane@example.org", "pothole", "requester"):
        assert secret not in html
    features = embedded_features(parts)
    assert len(features) == 9
    assert all(set(f["properties"]) == {"name", "c", "s", "t"} for f in features)
    first = features[0]["properties"]
    assert first["name"] == "Area 0"
    assert first["t"][0] == "10.0 (95% CI 5.0\u201315.0)"
    assert first["t"][1:] == ["100", "2,000", "ok"]


def test_tooltip_extras_refuse_non_indicator_columns():
    gdf = grid(address="12 Secret St")
    with pytest.raises(SchemaError, match="never request text or addresses"):
        maps.choropleth(gdf, "rate_per_1k", tooltip=["address"], tiles=False)
    html = render(
        maps.choropleth(gdf, "rate_per_1k", tooltip={"on_time_share": "On time"}, tiles=False)
    )
    assert '"On time"' in html
    assert "50.0%" in html


def test_input_frame_not_mutated_and_other_crs_reprojected():
    gdf = grid().to_crs(2248)
    before = gdf.copy()
    html = render(maps.choropleth(gdf, "rate_per_1k", tiles=False))
    pd.testing.assert_frame_equal(pd.DataFrame(gdf), pd.DataFrame(before))
    assert "[-76.7,39.3]" in html  # lon/lat again, rounded to 6 decimals
    assert re.search(r"-76\.\d{7,}", html) is None
    with pytest.raises(CRSError):
        maps.choropleth(grid().set_crs(None, allow_override=True), "rate_per_1k")
    with pytest.raises(SchemaError, match="not in the frame"):
        maps.choropleth(grid(), "no_such_column")


# --------------------------------------------------------------------------- escaping


def test_escape_helpers():
    assert maps.escape_html(PAYLOADS[3]) == "&quot;&#x27;&gt;&lt;svg onload=alert(1)&gt;"
    text = maps.json_for_script({"a": "</script>\u2028`${x}`&'"})
    assert text == '{"a":"\\u003c/script\\u003e\\u2028\\u0060${x}\\u0060\\u0026\\u0027"}'
    assert json.loads(text) == {"a": "</script>\u2028`${x}`&'"}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_strings_are_escaped_everywhere(payload, tmp_path):
    names = [payload] + [f"Area {i}" for i in range(1, 9)]
    outline = gpd.GeoDataFrame(
        {"name": [payload]}, geometry=[box(-76.7, 39.3, -76.67, 39.33)], crs="EPSG:4326"
    )
    m = maps.choropleth(
        grid(area_name=names),
        "rate_per_1k",
        title=payload,
        unit=payload,
        name=payload,
        population_source=payload,
        outlines=outline,
        outlines_title=payload,
    )
    m = maps.choropleth(grid(area_name=names), "on_time_share", m=m, name=payload, show=False)
    parts = maps.map_parts(m)
    html = "\n".join(parts)
    assert payload not in html
    assert payload.lower() not in html.lower()
    # the legend (HTML text) carries the HTML-escaped form
    assert maps.escape_html(payload) in parts.body
    # the data blocks carry the JSON-escaped form (area names, population source)
    assert maps.json_for_script(payload).strip('"') in parts.body
    assert payload in json.dumps(data_blocks(parts.body), ensure_ascii=False)
    # layer names reach the layer switcher as data (set with textContent), never as markup
    blocks = data_blocks(parts.body)
    switcher = next(b for b in blocks.values() if isinstance(b, dict) and "overlays" in b)
    assert switcher["indicators"] == [payload, payload]
    assert switcher["overlays"] == [payload]
    # nothing can close the script element early: exactly one </script> in the script part
    assert parts.script.lower().count("</script") == 1
    # the body's scripts are JSON data blocks only, closed exactly where they end
    assert parts.body.lower().count("<script") == len(blocks) >= 3
    assert parts.body.lower().count("</script") == len(blocks)
    markup = re.sub(r'<script type="application/json".*?</script>', "", parts.body, flags=re.S)
    assert "onerror=alert" not in markup.replace("&lt;img src=x onerror=alert", "")
    page = Path(maps.save_map(m, tmp_path / "page.html", title=payload)).read_text()
    assert payload not in page
    assert f"<title>{maps.escape_html(payload)}</title>" in page


# --------------------------------------------------------------------------- flags


def test_insufficient_and_nan_areas_get_their_own_style_and_legend_entry():
    parts = maps.map_parts(maps.choropleth(grid(), "rate_per_1k", tiles=False))
    status = {f["properties"]["name"]: f["properties"] for f in embedded_features(parts)}
    assert status["Area 8"]["s"] == "insufficient"  # flagged, although it has a value (90)
    assert status["Area 5"]["s"] == "insufficient"  # NaN rate
    assert status["Area 8"]["c"] == status["Area 5"]["c"] == -1
    assert status["Area 8"]["t"][0] == "insufficient data"
    assert status["Area 2"]["s"] == "unstable"
    assert status["Area 2"]["c"] >= 0  # keeps its class colour
    assert 'class="geo311-legend-insufficient" data-flag="insufficient"' in parts.body
    assert 'insufficient data</span> <span class="geo311-count">(2 areas)' in parts.body
    assert 'class="geo311-legend-unstable" data-flag="unstable"' in parts.body
    assert "unstable: fewer than 20 requests" in parts.body
    # grey hatch pattern and one hatch per class for unstable areas
    assert f'fill="{classify.NA_FILL}"' in parts.body
    assert parts.body.count("-hatch-unstable-") >= 2
    # insufficient values do not take part in the classification (90 would be the max)
    assert "80.0</span>" in parts.body and "90.0</span>" not in parts.body


def test_count_column_marks_unstable_for_other_indicators():
    gdf = grid(sla_due=[5, 50, 50, 50, 50, 50, 50, 50, 50])
    parts = maps.map_parts(maps.choropleth(gdf, "on_time_share", tiles=False))
    status = [f["properties"]["s"] for f in embedded_features(parts)]
    assert status[0] == "unstable"
    assert status.count("insufficient") == 0
    assert "Denominator: requests with a due date" in parts.body
    assert "(95% CI 40.0%\u201395.0%)" in parts.body


def test_legend_states_title_unit_denominator_and_source():
    parts = maps.map_parts(
        maps.choropleth(grid(), "rate_per_1k", population_source="ACS 2020 5-year", tiles=False)
    )
    assert 'class="geo311-legend"' in parts.body
    assert "Requests per 1,000 residents</p>" in parts.body
    assert "Denominator: residents, ACS 2020 5-year" in parts.body
    assert "2,000 (ACS 2020 5-year)" in parts.body
    page = "\n".join(parts)
    assert "geo311-tooltip" in page
    assert '"geo311-area ' in page
    assert "branca" not in parts.head and "d3" not in re.findall(r"src=\"([^\"]+)", parts.head)


# --------------------------------------------------------------------------- composition


def test_two_indicators_one_layer_switcher_and_outlines():
    folium = pytest.importorskip("folium")
    outlines = gpd.GeoDataFrame(
        {"name": ["District 1"]}, geometry=[box(-76.7, 39.3, -76.67, 39.33)], crs="EPSG:4326"
    )
    m = maps.choropleth(grid(), "rate_per_1k", outlines=outlines)
    m = maps.choropleth(grid(), "ttc_type_adjusted_ratio", m=m, show=False)
    switcher = elements().LayerSwitcher
    children = list(m._children.values())
    assert sum(isinstance(c, switcher) for c in children) == 1
    assert isinstance(children[-1], switcher)
    parts = maps.map_parts(m)
    assert "L.control.layers(" not in parts.script
    assert parts.script.count("geo311.switcher(") == 1
    assert parts.script.count("geo311.choropleth(") == 2
    assert parts.script.count("geo311.outlines(") == 1
    assert parts.script.count("geo311.search(") == 1
    assert parts.script.count("L.control.fullscreen(") == 1
    assert '"District 1"' in parts.body
    # the switcher's names are data: two indicators as radios, the outlines as a checkbox
    blocks = data_blocks(parts.body).values()
    settings = next(b for b in blocks if isinstance(b, dict) and "overlays" in b)
    assert len(settings["indicators"]) == 2
    assert settings["overlays"] == ["Boundaries"]
    assert parts.body.count('class="geo311-legend"') == 2
    assert "light_all/{z}/{x}/{y}" in parts.script
    no_tiles = maps.map_parts(maps.choropleth(grid(), "rate_per_1k", tiles=False))
    assert "L.tileLayer" not in no_tiles.script
    # finish() is idempotent, and replaces a folium LayerControl someone added
    folium.LayerControl().add_to(m)
    maps.finish(m)
    children = list(m._children.values())
    assert sum(isinstance(c, switcher) for c in children) == 1
    assert not any(isinstance(c, folium.LayerControl) for c in children)


# --------------------------------------------------------------------------- offline assets


_URL = re.compile(r"https?://[^\s\"'<>)]+")


def test_inline_output_is_self_contained():
    m = maps.choropleth(grid(), "rate_per_1k")
    parts = maps.map_parts(m, assets="inline")
    assert "<script src" not in parts.head and "<link" not in parts.head
    leaflet = (_assets.vendor_dir() / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
    assert leaflet[:2000] in parts.head
    assert "Control.FullScreen" in parts.head or "fullscreen" in parts.head
    assert "data:image/png;base64," in parts.head  # layer-control icon inlined
    assert "images/marker-icon.png" not in parts.head  # markers not vendored, not requested
    assert "jquery" not in parts.head.lower() and "bootstrap" not in parts.head.lower()
    html = "\n".join(parts)
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", html):
        assert not _URL.search(tag), tag
    urls = set(_URL.findall(parts.script + parts.body))
    allowed_hosts = ("basemaps.cartocdn.com", "openstreetmap.org", "carto.com")
    assert all(any(h in u for h in allowed_hosts) for u in urls), urls


def test_external_mode_links_files_that_write_assets_writes(tmp_path):
    m = maps.choropleth(grid(), "rate_per_1k", tiles=False)
    parts = maps.map_parts(m, assets="external", asset_prefix="assets/")
    refs = re.findall(r'(?:src|href)="(assets/[^"]+)"', parts.head)
    assert any(r.endswith("leaflet.js") for r in refs)
    assert any(r.endswith("leaflet.css") for r in refs)
    assert "L.map(" not in parts.head  # Leaflet itself is not inlined
    written = maps.write_assets(tmp_path)
    for ref in refs:
        assert (tmp_path / ref).is_file(), ref
    assert (tmp_path / "assets" / "leaflet" / "images" / "layers.png") in written
    assert (tmp_path / "assets" / "leaflet" / "LICENSE").is_file()
    css = (tmp_path / "assets" / "leaflet" / "leaflet.css").read_text()
    for ref in re.findall(r"url\(([^)#]+)\)", css):
        if ref != "none":
            assert (tmp_path / "assets" / "leaflet" / ref.strip("'\"")).is_file(), ref


def test_save_map_page_is_accessible_and_refuses_overwrite(tmp_path):
    m = maps.choropleth(grid(), "rate_per_1k", tiles=False)
    page = maps.save_map(m, tmp_path / "map.html", title="Requests by area")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in text
    assert "<title>Requests by area</title>" in text
    assert "<h1>Requests by area</h1>" in text
    assert 'role="region" aria-label="Map: Requests per 1,000 residents"' in text
    assert '"keyboard": true' in text
    assert "user-scalable=no" not in text
    with pytest.raises(OutputExistsError):
        maps.save_map(m, page, title="again")
    ext = maps.save_map(m, tmp_path / "ext" / "map.html", title="x", assets="external")
    assert (ext.parent / "assets" / "leaflet" / "leaflet.js").is_file()


def test_unvendored_plugin_is_refused():
    folium = pytest.importorskip("folium")
    m = maps.choropleth(grid(), "rate_per_1k", tiles=False)
    folium.plugins.MiniMap().add_to(m)
    with pytest.raises(Geo311Error, match="not vendored"):
        maps.map_parts(m)
    with pytest.raises(ValueError, match="inline"):
        maps.map_parts(maps.choropleth(grid(), "rate_per_1k", tiles=False), assets="cdn")


def test_vendor_folder_licences_and_versions_consistent():
    root = Path(str(_assets.vendor_dir()))
    versions = json.loads((root / "VERSIONS.json").read_text())
    packages = {p["package"]: p for p in versions["packages"]}
    assert packages["leaflet"]["version"] == "1.9.4"
    assert "leaflet.fullscreen" in packages
    listed = set()
    for entry in versions["packages"]:
        assert entry["integrity"].startswith("sha512-")
        licence = root / entry["license_file"]
        assert licence.is_file()
        assert "copyright" in licence.read_text().lower()
        for item in entry["files"]:
            data = (root / item["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == item["sha256"], item["path"]
            assert len(data) == item["bytes"]
            listed.add(item["path"])
        listed.add(entry["license_file"])
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk - {"VERSIONS.json"} == listed
    assert not (root / "__init__.py").exists()
    assert not any("marker-icon" in p for p in on_disk)


def test_test_only_vendor_folder_matches_its_versions():
    """tests/vendor (axe-core for the browser tests) is what VERSIONS.json says, licence included."""
    root = Path(__file__).resolve().parent / "vendor"
    versions = json.loads((root / "VERSIONS.json").read_text())
    (entry,) = versions["packages"]
    assert entry["package"] == "axe-core"
    assert entry["version"] in (root / "README.md").read_text()
    assert "Mozilla Public License" in (root / entry["license_file"]).read_text()
    for item in entry["files"]:
        data = (root / item["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"], item["path"]


# --------------------------------------------------------------------------- static PNG


def test_static_map_png(tmp_path):
    outlines = gpd.GeoDataFrame(
        {"name": ["D1"]}, geometry=[box(-76.7, 39.3, -76.67, 39.33)], crs="EPSG:4326"
    )
    path = maps.static_map(
        grid(), "rate_per_1k", tmp_path / "rate.png", population_source="ACS 2020",
        outlines=outlines, dpi=60,
    )  # fmt: skip
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000
    with pytest.raises(OutputExistsError):
        maps.static_map(grid(), "rate_per_1k", path)
    again = maps.static_map(grid(), "ttc_type_adjusted_ratio", path, overwrite=True, dpi=60)
    assert again.read_bytes() != data


def test_static_map_uses_choropleth_classes_and_colours(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image")
    gdf = grid(rate_per_1k=[10.0] * 4 + [90.0] * 5, rate_flag=["ok"] * 9)
    path = maps.static_map(gdf, "rate_per_1k", tmp_path / "two.png", k=2, dpi=50)
    pixels = (matplotlib_image.imread(path)[..., :3] * 255).round().astype(int)
    classes = maps.classify(gdf["rate_per_1k"], k=2)
    for color in classes.colors:
        rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
        assert (np.abs(pixels - rgb).sum(axis=-1) <= 3).sum() > 100, color
    html = render(maps.choropleth(gdf, "rate_per_1k", k=2, tiles=False))
    assert all(c in html for c in classes.colors)


# --------------------------------------------------------------------------- real data


def test_baltimore_neighbourhood_page_fits_size_budget(shared_data, tmp_path):
    path = shared_data / "baltimore" / "neighborhoods_2010.geojson"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    hoods = gpd.read_file(path)
    utm = hoods.estimate_utm_crs()
    hoods = hoods.set_geometry(hoods.to_crs(utm).simplify(5).to_crs(4326))
    rng = np.random.default_rng(0)
    n = len(hoods)
    hoods = hoods.assign(
        area_name=hoods["name"],
        requests=rng.integers(0, 500, n),
        population=hoods["pop_2020"].astype(float),
        rate_per_1k=rng.gamma(5, 10, n),
        rate_flag="ok",
    )
    page = maps.save_map(maps.choropleth(hoods, "rate_per_1k"), tmp_path / "b.html", title="B")
    assert n == 278
    assert page.stat().st_size <= 1_500_000


def test_user_defined_bins_below_every_value_label_the_first_class_up_to() -> None:
    # a district map reusing the city's bins: its values all lie above the first bound
    classes = maps.classify([70.0, 80.0, 95.0], scheme="user_defined", bins=[64, 75, 90, 120])
    assert classes.labels[0] == "up to 64"
    assert classes.counts[0] == 0
    assert classes.labels[1] == f"64 {chr(0x2013)} 75"
    assert classes.yb.tolist() == [1, 2, 3]


# --------------------------------------------------------------------------- review regressions


def test_number_labels_never_use_exponent_notation() -> None:
    # a column without map settings (fmt "number") with values in the tens of thousands
    labels = maps.classify([10_000.0, 20_000, 30_000, 40_000], k=2).labels
    assert labels == ("10,000 \u2013 25,000", "25,000 \u2013 40,000")
    assert maps.format_value(12_345.0, "number") == "12,345"
    assert maps.format_value(pd.NA, "count") == "n/a"
    assert maps.format_value(None, "rate", missing="not available") == "not available"


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (np.linspace(0.01, 0.04, 12), "rate"),  # rates far below the format's one decimal
        (np.linspace(0.0101, 0.0104, 12), "rate"),  # breaks under 0.0001 apart
        (np.linspace(0.5001, 0.5004, 12), "percent"),  # shares 0.01 percentage points apart
        (np.linspace(2.001, 2.004, 12), "days"),
    ],
)
def test_close_breaks_give_distinct_ordered_legend_labels(values: np.ndarray, fmt: str) -> None:
    classes = maps.classify(values, k=5, fmt=fmt)
    labels = [label.replace("%", "") for label in classes.labels]
    assert len(labels) == 5
    assert len(set(labels)) == len(labels), labels  # never two alike, never "0.0 - 0.0"
    ranges = [[float(x) for x in label.split(f" {chr(0x2013)} ")] for label in labels]
    assert all(len(r) == 2 and r[0] < r[1] for r in ranges), labels  # no empty-looking range
    lows, highs = [r[0] for r in ranges], [r[1] for r in ranges]
    assert lows == sorted(lows) and highs == sorted(highs)
    assert lows[1:] == highs[:-1]  # consecutive classes meet at the same shown break
    # the fewest decimals that keep the breaks apart: one fewer makes two of them alike
    decimals = len(labels[0].split(f" {chr(0x2013)} ")[0].split(".")[1])
    shown = [f"{100 * b if fmt == 'percent' else b:.{decimals - 1}f}" for b in classes.bins]
    assert decimals == 1 or len(set(shown)) < len(shown), (labels, shown)


def test_up_to_label_only_when_every_value_exceeds_the_first_bound() -> None:
    # the first class holds the minimum itself: its label is that value, not "up to"
    assert maps.classify([3.0, 3.0, 7.0, 7.0, 7.0], k=5).labels == ("3", "3 \u2013 7")
    tied = maps.classify([1, 1, 1, 1, 2, 3, 4, 5], k=4)
    assert not tied.labels[0].startswith("up to")


def test_open_ended_median_interval_is_shown_as_not_reached() -> None:
    gdf = grid(
        ttc_median_days=[2.0] * 9,
        ttc_median_days_ci_low=[1.5] * 9,
        ttc_median_days_ci_high=[3.0] + [np.nan] * 8,
        ttc_requests=[50] * 9,
    )
    parts = maps.map_parts(maps.choropleth(gdf, "ttc_median_days", tiles=False))
    texts = [f["properties"]["t"][0] for f in embedded_features(parts)]
    assert texts[0] == "2.0 days (95% CI 1.5\u20133.0)"
    assert texts[1] == "2.0 days (95% CI 1.5\u2013not reached)"


def test_type_adjusted_ratio_is_unstable_by_observed_closures() -> None:
    # the ratio's interval is Poisson on the observed closures O: few closures = unstable
    gdf = grid(ttc_requests=[200] * 9, ttc_closed=[5] + [100] * 8)
    parts = maps.map_parts(maps.choropleth(gdf, "ttc_type_adjusted_ratio", tiles=False))
    status = [f["properties"]["s"] for f in embedded_features(parts)]
    assert status[:8] == ["unstable"] + ["ok"] * 7


def test_min_count_sets_unstable_threshold_and_legend_text(tmp_path) -> None:
    gdf = grid(sla_due=[15] + [50] * 8)
    parts = maps.map_parts(maps.choropleth(gdf, "on_time_share", tiles=False, min_count=10))
    status = [f["properties"]["s"] for f in embedded_features(parts)]
    assert "unstable" not in status
    parts = maps.map_parts(maps.choropleth(gdf, "on_time_share", tiles=False, min_count=30))
    assert "unstable: fewer than 30 requests" in parts.body
    assert "fewer than 20" not in "\n".join(parts)
    path = maps.static_map(gdf, "on_time_share", tmp_path / "m.png", min_count=30, dpi=40)
    assert path.is_file()


def test_scheme_label_names_how_the_classes_were_made() -> None:
    m = maps.choropleth(
        grid(), "rate_per_1k", scheme="user_defined", bins=[30, 60], tiles=False,
        scheme_label="citywide <quantiles>",
    )  # fmt: skip
    body = maps.map_parts(m).body
    assert "Classes: citywide &lt;quantiles&gt;</p>" in body
    assert "user defined" not in body


def test_utm_crs_is_estimated_once_per_extent(monkeypatch) -> None:
    calls = []
    original = prepare.projected_crs

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(prepare, "projected_crs", counting)
    prepare._utm_crs_of_bounds.cache_clear()
    outline = gpd.GeoDataFrame(
        {"name": ["D"]}, geometry=[box(-76.7, 39.3, -76.67, 39.33)], crs="EPSG:4326"
    )
    for _ in range(3):
        maps.choropleth(grid(), "rate_per_1k", outlines=outline, tiles=False)
    assert len(calls) == 1


def test_tooltip_shows_the_count_behind_the_unstable_flag() -> None:
    gdf = grid(sla_due=[5] + [50] * 8)
    parts = maps.map_parts(maps.choropleth(gdf, "on_time_share", tiles=False))
    first = embedded_features(parts)[0]["properties"]
    assert first["s"] == "unstable"
    assert first["t"][1] == "100"  # all requests ...
    assert first["t"][-1] == "5"  # ... but only 5 with a due date: why it is unstable
    assert '"Requests due"' in parts.body


@pytest.mark.parametrize("payload", ["{{7*4407}}", "{{'x'|upper}}", "{% raw %}", "{{ lipsum }}"])
def test_template_code_in_names_is_never_rendered(payload) -> None:
    # names, titles and layer names were once compiled again as Jinja by branca
    names = [payload] + [f"Area {i}" for i in range(1, 9)]
    outline = gpd.GeoDataFrame(
        {"name": [payload]}, geometry=[box(-76.7, 39.3, -76.67, 39.33)], crs="EPSG:4326"
    )
    m = maps.choropleth(
        grid(area_name=names), "rate_per_1k", title=payload, name=payload, unit=payload,
        population_source=payload, outlines=outline, outlines_title=payload, tiles=False,
    )  # fmt: skip
    parts = maps.map_parts(m)
    page = "\n".join(parts)
    assert "30849" not in page and "<function" not in page
    assert embedded_features(parts)[0]["properties"]["name"] == payload
    assert maps.escape_html(payload) in parts.body  # the legend title, as text
    blocks = json.dumps(data_blocks(parts.body), ensure_ascii=False)
    assert blocks.count(payload) >= 2  # the area name and the outline label

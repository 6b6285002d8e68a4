"""The shortcuts that make the site fast give what the slow ways gave.

Each shortcut is checked against the straightforward code it replaced, on
small hand-made frames: rows as dicts against ``DataFrame.iterrows``,
matplotlib paths read at once against polygon-by-polygon, maps drawn on
one reused canvas against maps drawn alone, the cached geometry JSON
against serialising again, the finaliser's fast path against escaping
every string, the basemap given as a provider against its URL, the tidy
download against a frame per section concatenated, and the layer without
``attrs`` against the tables it came from (which keep theirs).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

pytest.importorskip("folium")
pytest.importorskip("matplotlib")

from matplotlib.path import Path as MplPath
from PIL import Image

from geo311.indicators.tables import LayerTables
from geo311.site import downloads, maps, static
from geo311.site.downloads import Section
from geo311.site.escape import escape_html
from geo311.site.layer import site_layer
from geo311.site.render import environment
from geo311.site.text import table_rows


def _mixed_table() -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "area_name": pd.array(["North", None, "=South"], dtype="string"),
            "requests": pd.array([12, None, 3], dtype="Int64"),
            "rate_per_1k": [1.5, math.nan, 0.25],
            "rate_flag": ["ok", "insufficient", "unstable"],
            "big": [2**40, 0, -1],
        },
        index=pd.Index(["1", "2", "3"], name="area_id"),
    )
    table.attrs["geo311"] = {"nested": {"deep": list(range(5))}}
    return table


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a is b or bool(a == b)


@pytest.mark.parametrize("numeric_only", [False, True])
def test_table_rows_give_the_values_and_types_iterrows_gives(numeric_only: bool) -> None:
    table = _mixed_table()
    if numeric_only:  # iterrows upcasts a row of numbers to one dtype: so does table_rows
        table = table[["rate_per_1k", "big"]]
    rows = table_rows(table)
    expected = list(table.iterrows())
    assert [label for label, _ in rows] == [label for label, _ in expected]
    for (_, got), (_, want) in zip(rows, expected, strict=True):
        assert list(got) == list(want.index)
        assert all(_same(got[c], want[c]) for c in want.index), (got, want.to_dict())


def _polygon_by_polygon(geom: Polygon | MultiPolygon) -> list[MplPath]:
    """The per-polygon construction the site used before (the reference)."""
    paths = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty:
            continue
        rings = [np.asarray(poly.exterior.coords)] + [np.asarray(r.coords) for r in poly.interiors]
        codes = np.concatenate(
            [np.r_[MplPath.MOVETO, np.full(len(r) - 2, MplPath.LINETO), MplPath.CLOSEPOLY]
             for r in rings]
        )  # fmt: skip
        paths.append(MplPath(np.concatenate(rings), codes))
    return paths


def test_paths_read_at_once_match_polygon_by_polygon() -> None:
    holed = box(0, 0, 10, 10).difference(box(2, 2, 4, 4)).difference(box(6, 6, 8, 9))
    geoms = [
        holed,
        MultiPolygon([box(20, 0, 21, 1), box(22, 0, 23, 2).difference(box(22.2, 0.2, 22.5, 0.5))]),
        box(30, 30, 31, 31),
        MultiPolygon([box(40, 0, 41, 1), Polygon()]),  # an empty part is left out
    ]
    got = static._polygon_paths(np.array(geoms, dtype=object), static._matplotlib())
    assert len(got) == len(geoms)
    for paths, geom in zip(got, geoms, strict=True):
        want = _polygon_by_polygon(geom)
        assert len(paths) == len(want)
        for p, w in zip(paths, want, strict=True):
            np.testing.assert_array_equal(p.vertices, w.vertices)
            np.testing.assert_array_equal(p.codes, w.codes)


def test_geometry_json_is_made_once_per_geometry_set_and_equals_a_fresh_one() -> None:
    a = np.array([box(-76.6, 39.3, -76.59, 39.31), box(-76.59, 39.3, -76.58, 39.31)], dtype=object)
    b = np.array([box(-76.6, 39.3, -76.59, 39.32)], dtype=object)
    first = maps._geometry_entry(a)
    again = maps._geometry_entry(np.array(list(a), dtype=object))  # equal geometries, new array
    assert again is first
    assert first[0] == maps._geometries_json(a)
    other = maps._geometry_entry(b)
    assert other[0] == maps._geometries_json(b) and other[1] != first[1]
    for i in range(maps._GEOMETRY_JSON_SIZE + 5):  # the cache stays bounded
        maps._geometry_entry(np.array([box(i, 0, i + 1, 1)], dtype=object))
    assert len(maps._GEOMETRY_JSON) == maps._GEOMETRY_JSON_SIZE


@pytest.mark.parametrize(
    "text",
    ["plain 1,234", "72.1%", "<img src=x onerror=alert(1)>", "a & b", "it's", '"q"', "`${x}`", ""],
)
def test_the_finaliser_escapes_as_escape_html_does(text: str) -> None:
    page = environment().from_string("<p title='{{ v }}'>{{ v }}</p>").render(v=text)
    assert page == f"<p title='{escape_html(text)}'>{escape_html(text)}</p>"


def test_a_site_layer_has_no_attrs_and_the_tables_keep_theirs() -> None:
    indicators = _mixed_table()
    city = indicators.head(1).set_axis(["city"])
    city.attrs["geo311"] = {"x": 1}
    areas = gpd.GeoDataFrame(
        {"area_id": ["1", "2", "3"], "area_name": ["North", "Mid", "South"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)],
        crs="EPSG:4326",
    )
    tidy = pd.DataFrame({"area_id": ["1", "city"], "requests": [1, 2]})
    tidy.attrs["geo311"] = {"x": 1}
    tables = LayerTables(
        indicators=indicators, city=city, patterns=tidy, channels=tidy, services=tidy,
        equity=tidy, metadata={"vintage": "2020"}, areas=areas,
    )  # fmt: skip
    layer = site_layer("wards", tables, title="Wards")
    for frame in (layer.indicators, layer.patterns, layer.services, layer.equity):
        assert frame.attrs == {}
    assert layer.city.attrs == {}
    assert indicators.attrs == {"geo311": {"nested": {"deep": [0, 1, 2, 3, 4]}}}
    assert tidy.attrs == {"geo311": {"x": 1}} and city.attrs == {"geo311": {"x": 1}}
    assert layer.metadata == {"vintage": "2020"}


def test_static_map_paths_of_areas_without_polygons() -> None:
    """No polygon to draw (empty geometries only, or no area) gives empty paths."""
    mpl = static._matplotlib()
    assert static._polygon_paths([Polygon(), MultiPolygon()], mpl) == [[], []]
    assert static._polygon_paths([], mpl) == []


def _cells() -> gpd.GeoDataFrame:
    """Six squares with every status: classes, unstable, insufficient, not reached."""
    cells = [box(-76.7 + 0.01 * c, 39.3 + 0.01 * r, -76.69 + 0.01 * c, 39.31 + 0.01 * r)
             for r in range(2) for c in range(3)]  # fmt: skip
    frame = pd.DataFrame(
        {
            "area_id": [f"A{i}" for i in range(6)],
            "requests": [100, 120, 15, 140, 150, 0],
            "population": [2000.0, 2100, 2200, 2300, 2400, 50],
            "rate_per_1k": [10.0, 20, 30, 40, 50, np.nan],
            "rate_flag": ["ok", "ok", "unstable", "ok", "ok", "insufficient"],
            "ttc_median_days": [1.5, 2.0, np.nan, 3.0, 0.5, np.nan],
            "ttc_flag": ["ok", "ok", "not reached", "unstable", "ok", "insufficient"],
            "ttc_followup_days": [30.0] * 6,
        }
    )
    return gpd.GeoDataFrame(frame, geometry=cells, crs="EPSG:4326")


def test_a_reused_canvas_draws_what_a_new_figure_draws(tmp_path: Path) -> None:
    """Maps drawn one after another on one canvas have the pixels of maps drawn alone."""
    gdf = _cells()
    lines = gpd.GeoDataFrame(geometry=[box(-76.7, 39.3, -76.68, 39.32)], crs="EPSG:4326")
    canvas = static.StaticCanvas(dpi=30)
    shapes = static.static_shapes(gdf, outlines=lines)
    options = {"scheme": "quantiles", "k": 3, "bins": None, "palette": None, "unit": None,
               "population_source": "ACS", "min_count": 30}  # fmt: skip
    drawn = []
    for i, column in enumerate(["rate_per_1k", "ttc_median_days", "rate_per_1k"]):
        title = f"Map {i}"
        shared = static.write_static(
            canvas, shapes, gdf, column, tmp_path / f"shared-{i}.png", title=title, **options
        )
        alone = static.static_map(
            gdf, column, tmp_path / f"alone-{i}.png", outlines=lines, dpi=30, title=title,
            k=3, population_source="ACS", min_count=30,
        )  # fmt: skip
        with Image.open(shared) as a, Image.open(alone) as b:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        drawn.append(len(canvas.axes.collections))
    assert drawn[0] == drawn[2] == 7  # its own: 2 classes, 2 flags (fill + hatch each), lines


def test_shapes_must_belong_to_the_frame_drawn(tmp_path: Path) -> None:
    gdf = _cells()
    shapes = static.static_shapes(gdf.head(4))
    with pytest.raises(ValueError, match="6 areas to draw, its shapes 4"):
        static.write_static(
            static.StaticCanvas(dpi=20), shapes, gdf, "rate_per_1k", tmp_path / "x.png",
            scheme="quantiles", k=3, bins=None, palette=None, title=None, unit=None,
            population_source=None, min_count=30,
        )  # fmt: skip


def test_the_default_basemap_as_a_provider_gives_the_layer_its_url_gave() -> None:
    """folium looks a URL up among every provider first: the provider skips that, same layer."""
    from folium.raster_layers import TileLayer  # noqa: PLC0415

    from geo311.site.elements import DEFAULT_TILES, default_tile_provider  # noqa: PLC0415

    options = {"attr": "tiles", "name": "basemap", "control": False, "max_zoom": 20,
               "subdomains": DEFAULT_TILES["subdomains"]}  # fmt: skip
    by_url = TileLayer(tiles=DEFAULT_TILES["url"], **options)
    by_provider = TileLayer(tiles=default_tile_provider(), **options)
    assert by_provider.tiles == by_url.tiles == DEFAULT_TILES["url"]
    assert by_provider.options == by_url.options
    assert by_provider.tile_name == by_url.tile_name


def _tidy_by_concat(sections: list[Section]) -> pd.DataFrame:
    """A frame per section, concatenated, then converted (the reference)."""
    parts = []
    for section in sections:
        values = downloads._values(section)
        rows, measures = values.shape
        ids = np.repeat(values.index.to_numpy(object), measures)
        part = pd.DataFrame(
            {
                "section": section.name,
                "area_id": ids,
                "area_name": np.repeat(
                    np.array(downloads._names(section), dtype=object), measures
                ),
                "measure": np.tile(np.array(values.columns, dtype=object), rows),
                "value": values.to_numpy().ravel(),
            }
        )
        part["note"] = [
            section.notes.get((a, m), "") for a, m in zip(ids, part["measure"], strict=True)
        ]
        parts.append(part)
    frame = pd.DataFrame(columns=list(downloads.COLUMNS)) if not parts else pd.concat(parts)
    frame = frame.reset_index(drop=True)
    frame["value"] = frame["value"].astype(float)
    for column in ("section", "area_id", "area_name", "measure", "note"):
        frame[column] = frame[column].astype("string")
    return frame


def test_the_tidy_download_equals_the_frames_concatenated() -> None:
    table = _mixed_table()
    empty = table.head(0)
    sections = [
        Section("headline", table[["area_name", "requests", "rate_per_1k"]],
                {("1", "rate_per_1k"): "unstable", ("3", "requests"): "few"}),
        Section("empty", empty[["area_name", "big"]]),
        Section("no names", table[["big", "rate_flag"]].set_axis([7, 8, 9])),
    ]  # fmt: skip
    for chosen in (sections, sections[1:2], []):
        got, want = downloads.tidy(chosen), _tidy_by_concat(chosen)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert list(got.dtypes) == list(want.dtypes)

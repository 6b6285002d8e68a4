"""Tests for geo311.join.layers: manifests, finding files, layer validation, real layers.

Hand-made layers are built here in code: 100 m squares in EPSG:26985 (NAD83 /
Maryland, metres) placed inside Baltimore, so that every area and overlap has
a known value in square metres.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from geo311._errors import CRSError, InputFileError, SchemaError
from geo311.crs import _utm_code, _utm_code_from_database
from geo311.join.layers import (
    Layer,
    LayerResult,
    find_layer_file,
    layer_from_file,
    load_layers,
    read_layer,
)
from geo311.join.manifest import CityManifest, ManifestError, list_cities, load_manifest
from geo311.join.validate import OVERLAP_PAIR_MIN_M2

MD = "EPSG:26985"  # NAD83 / Maryland, metres
X0, Y0 = 433_000.0, 180_000.0  # a point in Baltimore, in MD metres
SIDE = 100.0
SQ_MI = 2_589_988.110336


def cell(col: float, row: float, size: float = SIDE) -> Polygon:
    """The square at grid position (col, row), ``size`` metres wide."""
    x, y = X0 + col * SIDE, Y0 + row * SIDE
    return box(x, y, x + size, y + size)


def grid(n: int = 3, *, crs: str | None = MD, skip: tuple[int, ...] = ()) -> gpd.GeoDataFrame:
    """An n x n grid of 100 m squares, ids 1..n*n (integers), names 'r{row}c{col}'."""
    rows = [
        {
            "code": r * n + c + 1,
            "label": f"r{r}c{c}",
            "pop": 10 * (r * n + c),
            "geometry": cell(c, r),
        }
        for r in range(n)
        for c in range(n)
        if r * n + c + 1 not in skip
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def read(frame: gpd.GeoDataFrame, **kwargs: object) -> LayerResult:
    options: dict[str, object] = {
        "key": "areas",
        "id_field": "code",
        "name_field": "label",
        "projected_crs": MD,
    }
    options.update(kwargs)
    return read_layer(frame, **options)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_user_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the user's data dir and cache out of every test."""
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- hand-made layers


def test_projected_grid_is_normalised_and_measured() -> None:
    source = grid()
    before = source.copy()
    layer, ledger = read(source)
    frame = layer.frame
    assert frame is not None
    assert frame.crs.to_string() == "EPSG:4326"
    assert list(frame.columns[:3]) == ["area_id", "area_name", "aliases"]
    assert frame["area_id"].tolist() == [str(i) for i in range(1, 10)]
    assert str(frame["area_id"].dtype) == "string"
    assert str(frame["area_name"].dtype) == "string"
    assert frame["aliases"].isna().all()
    assert "pop" in frame.columns and "code" not in frame.columns
    assert frame.index.equals(pd.RangeIndex(9))
    assert layer.qa["features"] == 9
    assert layer.qa["overlap_m2"] == pytest.approx(0.0, abs=1e-3)
    assert layer.qa["overlap_pairs"] == 0
    assert layer.qa["gap_count"] == 0
    assert layer.qa["gap_m2"] == 0.0
    assert layer.qa["area_m2"] == pytest.approx(9 * SIDE * SIDE, rel=1e-6)
    assert layer.projected_crs == MD
    assert ledger.rows_in == ledger.rows_out == 9
    assert any("reprojected from EPSG:26985" in n for n in ledger.stage("layer:areas").notes)
    # the input is untouched
    pd.testing.assert_frame_equal(source, before)
    assert source.crs.to_string() == MD


def test_computed_utm_zone_is_the_proj_database_zone() -> None:
    """Arithmetic zones inside a zone, the database's answer on edges and near the poles."""
    rng = np.random.default_rng(7)
    points = [
        *zip(rng.uniform(-180, 180, 12), rng.uniform(-79.9, 83.9, 12), strict=True),
        (-76.61, 39.29),  # Baltimore
        (-118.4, 34.05),  # Los Angeles
        (-177.0 + 1e-4, -0.5),  # zone 1, just south of the equator
        (179.99, 10.0),  # zone 60
        (-78.0, 40.0),  # on the meridian between zones 17 and 18: asks the database
        (10.0, 0.0),  # on the equator: asks the database
        (10.0, 85.0),  # beyond the zones: None from the database
    ]
    for lon, lat in points:
        assert _utm_code(lon, lat) == _utm_code_from_database.__wrapped__(lon, lat), (lon, lat)


def test_lonlat_grid_measured_in_estimated_utm() -> None:
    step = 0.01  # degrees
    rows = [
        {
            "code": f"{r}{c}",
            "label": f"cell {r}{c}",
            "geometry": box(
                -76.62 + c * step,
                39.29 + r * step,
                -76.62 + (c + 1) * step,
                39.29 + (r + 1) * step,
            ),
        }
        for r in range(3)
        for c in range(3)
    ]
    layer, _ = read_layer(
        gpd.GeoDataFrame(rows, crs="EPSG:4326"), key="grid", id_field="code", name_field="label"
    )
    assert layer.projected_crs == "EPSG:32618"  # UTM 18N
    assert layer.qa["gap_count"] == 0
    assert layer.qa["overlap_pairs"] == 0
    # 0.03 deg square at 39.3 N: 3.33 km tall, 2.58 km wide
    assert layer.qa["area_m2"] == pytest.approx(3_330 * 2_580, rel=0.02)


def test_overlapping_pair_is_measured_once() -> None:
    frame = gpd.GeoDataFrame(
        {
            "code": [1, 2, 3],
            "label": ["a", "b", "c"],
            # b overlaps a by 20 m x 100 m; c only shares an edge with b
            "geometry": [cell(0, 0), cell(0.8, 0), cell(1.8, 0)],
        },
        crs=MD,
    )
    layer, _ = read(frame)
    assert layer.qa["overlap_m2"] == pytest.approx(20 * SIDE, rel=1e-5)
    assert layer.qa["overlap_pairs"] == 1
    assert layer.qa["gap_count"] == 0


def test_tiny_overlaps_are_summed_but_not_counted_as_pairs() -> None:
    sliver = 0.001  # 1 mm x 100 m = 0.1 m2 < OVERLAP_PAIR_MIN_M2
    frame = gpd.GeoDataFrame(
        {
            "code": [1, 2],
            "label": ["a", "b"],
            "geometry": [cell(0, 0), cell(1 - sliver / SIDE, 0)],
        },
        crs=MD,
    )
    layer, _ = read(frame)
    assert 0 < layer.qa["overlap_m2"] < OVERLAP_PAIR_MIN_M2
    assert layer.qa["overlap_pairs"] == 0


def test_gap_in_the_middle_is_counted() -> None:
    layer, _ = read(grid(skip=(5,)))
    assert layer.qa["features"] == 8
    assert layer.qa["gap_count"] == 1
    assert layer.qa["gap_m2"] == pytest.approx(SIDE * SIDE, rel=1e-5)
    assert layer.qa["area_m2"] == pytest.approx(8 * SIDE * SIDE, rel=1e-5)


def test_island_inside_a_gap_is_not_gap() -> None:
    frame = grid(skip=(5,))
    island = gpd.GeoDataFrame(
        {
            "code": [5],
            "label": ["island"],
            "pop": [0],
            "geometry": [box(X0 + 125, Y0 + 125, X0 + 175, Y0 + 175)],
        },
        crs=MD,
    )
    layer, _ = read(pd.concat([frame, island], ignore_index=True))
    assert layer.qa["gap_count"] == 1
    assert layer.qa["gap_m2"] == pytest.approx(SIDE * SIDE - 50 * 50, rel=1e-5)


def test_multipolygons_with_holes() -> None:
    outer = box(X0, Y0, X0 + 300, Y0 + 300)
    hole = box(X0 + 100, Y0 + 100, X0 + 200, Y0 + 200)
    donut = outer.difference(hole)
    far = box(X0 + 1000, Y0, X0 + 1100, Y0 + 100)
    # area 2 fills the hole and has a second part far away
    frame = gpd.GeoDataFrame(
        {
            "code": [1, 2],
            "label": ["donut", "plug"],
            "geometry": [MultiPolygon([donut]), MultiPolygon([hole, far])],
        },
        crs=MD,
    )
    layer, _ = read(frame)
    assert layer.frame is not None
    assert list(layer.frame.geom_type) == ["MultiPolygon", "MultiPolygon"]
    assert layer.qa["overlap_pairs"] == 0
    assert layer.qa["gap_count"] == 0
    assert layer.qa["area_m2"] == pytest.approx(300 * 300 + 100 * 100, rel=1e-5)
    # without the plug the hole is a gap
    alone, _ = read(frame.iloc[:1])
    assert alone.qa["gap_count"] == 1
    assert alone.qa["gap_m2"] == pytest.approx(100 * 100, rel=1e-5)


def test_bow_tie_is_repaired_and_counted() -> None:
    x, y = X0, Y0
    bow_tie = Polygon([(x, y), (x + SIDE, y + SIDE), (x + SIDE, y), (x, y + SIDE)])
    assert not bow_tie.is_valid
    frame = gpd.GeoDataFrame(
        {"code": [1, 2], "label": ["tie", "ok"], "geometry": [bow_tie, cell(3, 0)]}, crs=MD
    )
    layer, ledger = read(frame)
    assert layer.frame is not None
    assert layer.frame.is_valid.all()
    assert set(layer.frame.geom_type) <= {"Polygon", "MultiPolygon"}
    assert layer.qa["invalid_repaired"] == 1
    stage = ledger.stage("layer:areas")
    assert stage.flagged["invalid_geometry_repaired"] == 1
    assert stage.examples["invalid_geometry_repaired"] == ["1"]
    assert stage.rows_in == stage.rows_out == 2
    # two triangles, half the square
    repaired = layer.frame.to_crs(MD).geometry.iloc[0]
    assert repaired.area == pytest.approx(SIDE * SIDE / 2, rel=1e-5)
    assert frame.geometry.iloc[0].equals(bow_tie)  # input untouched


def test_empty_null_and_collapsed_geometries_are_dropped_with_counts() -> None:
    x, y = X0, Y0
    # a "polygon" with two distinct points: make_valid turns it into a line
    collapsed = Polygon([(x, y), (x + 100, y), (x + 100, y), (x, y)])
    frame = grid()
    extra = gpd.GeoDataFrame(
        {
            "code": [10, 11, 12],
            "label": ["null", "empty", "flat"],
            "pop": [0, 0, 0],
            "geometry": [None, Polygon(), collapsed],
        },
        crs=MD,
    )
    layer, ledger = read(pd.concat([frame, extra], ignore_index=True), allow_invalid=True)
    stage = ledger.stage("layer:areas")
    assert stage.rows_in == 12
    assert stage.rows_out == 9
    assert stage.dropped == {"empty_geometry": 2, "invalid_geometry_unrepairable": 1}
    assert stage.rows_in == stage.rows_out + sum(stage.dropped.values())
    assert layer.qa["empty_dropped"] == 2
    assert layer.qa["unrepairable_dropped"] == 1
    assert layer.frame is not None and "12" not in set(layer.frame["area_id"])


def test_empty_geometries_may_share_ids_with_nothing_left() -> None:
    frame = gpd.GeoDataFrame({"code": [1], "label": ["x"], "geometry": [None]}, crs=MD)
    with pytest.raises(SchemaError, match="no non-empty polygons"):
        read(frame, allow_invalid=True)


def test_layer_without_crs_is_refused() -> None:
    with pytest.raises(CRSError, match=r"set_crs\('EPSG:4326'\)") as info:
        read(grid(crs=None))
    assert "has no CRS" in str(info.value)


def test_file_without_crs_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        grid(crs=None).to_file(path, engine="pyogrio")
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(CRSError, match=r"nocrs\.shp"):
        read_layer(path, key="areas", id_field="code", name_field="label")


def test_duplicate_ids_are_listed() -> None:
    frame = grid()
    frame["code"] = [1, 1, 2, 3, 4, 4, 4, 5, 6]
    with pytest.raises(SchemaError, match="duplicate ids") as info:
        read(frame)
    message = str(info.value)
    assert "'1' (2 features)" in message
    assert "'4' (3 features)" in message
    assert "dissolve" in message


def test_ids_that_differ_only_in_type_are_duplicates() -> None:
    frame = grid(n=2)
    frame["code"] = pd.Series([1, "1", 2.0, "x"], dtype=object)
    with pytest.raises(SchemaError, match=r"'1' \(2 features\)"):
        read(frame)


def test_missing_ids_are_refused() -> None:
    frame = grid(n=2)
    frame["code"] = [1.0, None, 3.0, 4.0]
    with pytest.raises(SchemaError, match=r"without an id.*rows \[1\]"):
        read(frame)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3, 4], ["1", "2", "3", "4"]),
        ([1.0, 2.0, 3.0, 40.0], ["1", "2", "3", "40"]),
        ([1.5, 2.0, 3.0, 4.0], ["1.5", "2", "3", "4"]),
        ([" 07", "08 ", "A1", "24510010100"], ["07", "08", "A1", "24510010100"]),
    ],
)
def test_ids_are_normalised_to_strings(values: list[object], expected: list[str]) -> None:
    frame = grid(n=2)
    frame["code"] = values
    layer, _ = read(frame)
    assert layer.frame is not None
    assert layer.frame["area_id"].tolist() == expected


def test_missing_fields_name_the_fields_found() -> None:
    with pytest.raises(SchemaError) as info:
        read(grid(), id_field="district", name_field="label", alias_fields=["old_name"])
    message = str(info.value)
    assert "'district'" in message and "'old_name'" in message
    assert "Fields found: code, label, pop" in message


def test_point_layer_is_refused() -> None:
    frame = gpd.GeoDataFrame(
        {"code": [1, 2, 3], "label": ["a", "b", "c"]},
        geometry=[Point(X0, Y0), Point(X0 + 1, Y0), LineString([(X0, Y0), (X0 + 5, Y0)])],
        crs=MD,
    )
    with pytest.raises(SchemaError, match="must hold areas") as info:
        read(frame)
    assert "'Point': 2" in str(info.value) and "'LineString': 1" in str(info.value)


def test_aliases_join_former_names() -> None:
    frame = grid(n=2)
    frame["old"] = ["Old One", None, "r1c0", ""]  # same-as-name and blank are not aliases
    frame["older"] = ["Oldest One", "Old Two", None, None]
    layer, _ = read(frame, alias_fields=["old", "older"])
    assert layer.frame is not None
    aliases = layer.frame["aliases"]
    assert str(aliases.dtype) == "string"
    assert aliases.iloc[0] == "Old One|Oldest One"
    assert aliases.iloc[1] == "Old Two"
    assert aliases.iloc[2:].isna().all()
    assert "old" in layer.frame.columns  # kept as an attribute too


def test_alias_kept_when_name_missing() -> None:
    frame = grid(n=2)
    frame["label"] = [None, "b", "c", "d"]
    frame["old"] = ["Old A", None, None, None]
    layer, ledger = read(frame, alias_fields=["old"])
    assert layer.frame is not None
    assert layer.frame["aliases"].iloc[0] == "Old A"
    assert pd.isna(layer.frame["area_name"].iloc[0])
    assert ledger.stage("layer:areas").flagged == {"missing_name": 1}


def test_clashing_source_columns_are_renamed() -> None:
    frame = grid(n=2)
    frame["area_name"] = "something else"
    layer, ledger = read(frame)
    assert layer.frame is not None
    assert "source_area_name" in layer.frame.columns
    assert layer.frame["area_name"].tolist() == ["r0c0", "r0c1", "r1c0", "r1c1"]
    assert any("renamed" in n for n in ledger.stage("layer:areas").notes)


def test_projected_crs_must_be_metres() -> None:
    with pytest.raises(CRSError, match="not metres"):
        read(grid(), projected_crs="EPSG:2248")


def test_sha256_of_file_and_of_frame(tmp_path: Path) -> None:
    path = tmp_path / "grid.geojson"
    grid().to_crs(4326).to_file(path, engine="pyogrio")
    layer, _ = read_layer(path, key="areas", id_field="code", name_field="label")
    assert layer.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert layer.path == path
    assert layer.source == str(path)
    first, _ = read(grid())
    second, _ = read(grid())
    moved, _ = read(grid(skip=(9,)))
    assert first.sha256 == second.sha256 != moved.sha256


def test_vintage_metadata_and_stage_name() -> None:
    layer, ledger = read(
        grid(), vintage="2010", valid_from=date(2010, 1, 1), valid_to=date(2020, 1, 1), source="x"
    )
    assert layer.vintage == "2010"
    assert layer.valid_on(date(2015, 6, 1))
    assert not layer.valid_on(date(2020, 1, 1))
    assert [s.stage for s in ledger.stages] == ["layer:areas:2010"]
    assert repr(layer) == "<Layer areas 2010: 9 areas>"


def test_one_info_line_with_the_figures(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="geo311.join.validate"):
        read(grid(skip=(5,)))
    lines = [r.getMessage() for r in caplog.records if r.name == "geo311.join.validate"]
    assert len(lines) == 1
    assert "8 areas" in lines[0] and "1 gap(s) totalling 10,000.0 m2" in lines[0]
    assert "measured in EPSG:26985" in lines[0]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a layer\n")
    with pytest.raises(InputFileError, match="cannot read"):
        read_layer(path, key="x", id_field="a", name_field="b")
    with pytest.raises(InputFileError, match="does not exist"):
        read_layer(tmp_path / "absent.geojson", key="x", id_field="a", name_field="b")


def test_layer_from_file(tmp_path: Path) -> None:
    path = tmp_path / "wards.gpkg"
    grid().to_file(path, engine="pyogrio")
    layer = layer_from_file("wards", path, id_field="code", name_field="label", projected_crs=MD)
    assert isinstance(layer, Layer)
    assert layer.key == "wards" and layer.vintage == ""
    assert layer.qa["features"] == 9
    with pytest.raises(ManifestError, match="snake_case"):
        layer_from_file("My Wards", path, id_field="code", name_field="label")


def test_layer_without_file_has_no_gdf() -> None:
    layer = Layer(key="council_districts", vintage="2024", frame=None, source="https://x")
    assert not layer.has_file
    assert repr(layer) == "<Layer council_districts 2024: no local file>"
    with pytest.raises(ValueError, match="no local file"):
        _ = layer.gdf


# --------------------------------------------------------------------------- manifests


def test_builtin_cities() -> None:
    assert {"baltimore", "los_angeles"} <= set(list_cities())
    for city in list_cities():
        manifest = load_manifest(city)
        assert isinstance(manifest, CityManifest)
        assert manifest.city == city


def test_baltimore_manifest() -> None:
    m = load_manifest("baltimore")
    assert m.timezone == "America/New_York"
    assert m.projected_crs == "EPSG:26985"
    assert list(m.layers) == [
        "neighborhoods",
        "council_districts",
        "census_tracts",
        "csas",
        "police_districts",
        "zip_codes",
    ]
    nbhd = m.layer("neighborhoods")
    assert [v.vintage for v in nbhd.vintages] == ["2010", "2020"]
    assert nbhd.vintages[0].valid_to == nbhd.vintages[1].valid_from == date(2023, 3, 1)
    assert nbhd.alias_fields == ("name_2010",)
    council = m.layer("council_districts")
    assert council.vintage("2012").valid_to == date(2024, 12, 1)
    assert council.vintage("2024").file is None
    assert council.vintage("2024").source.startswith("https://")
    assert [v.vintage for v in council.missing_files] == ["2024"]
    police = m.layer("police_districts")
    assert [v.vintage for v in police.vintages] == ["1959_2022", "2023"]
    assert police.vintage("2023").valid_from == date(2023, 7, 9)
    assert {k: (v.column, v.match) for k, v in m.labels().items()} == {
        "neighborhoods": ("Neighborhood", "name"),
        "council_districts": ("CouncilDistrict", "id"),
        "police_districts": ("PoliceDistrict", "name"),
        "zip_codes": ("ZipCode", "id"),
    }
    # the 2019 sample falls in the 2010 NSA and the 2012 council plan
    day = date(2019, 10, 20)
    assert [v.vintage for v in nbhd.vintages if v.valid_on(day)] == ["2010"]
    assert [v.vintage for v in council.vintages if v.valid_on(day)] == ["2012"]


def test_los_angeles_manifest() -> None:
    m = load_manifest("los_angeles")
    assert m.projected_crs == "EPSG:26945"
    assert {k: (v.column, v.match) for k, v in m.labels().items()} == {
        "neighborhood_councils": ("NC", "id"),
        "council_districts": ("CD", "id"),
    }
    nc = m.layer("neighborhood_councils")
    assert (nc.id_field, nc.name_field) == ("nc_id", "name")
    cd = m.layer("council_districts")
    assert (cd.id_field, cd.name_field) == ("external_id", "name")
    assert cd.vintage("2012").file == "boundaries/council_districts_2012.geojson"
    assert cd.vintage("2021").file is None


def test_site_shape_of_the_builtin_cities(shared_data: Path) -> None:
    """district_layer, site_layers and display names, checked against the real names."""
    balt = load_manifest("baltimore")
    assert balt.district_layer == "council_districts"
    assert balt.site_layers == ("neighborhoods", "council_districts", "census_tracts")
    la = load_manifest("los_angeles")
    assert la.district_layer == "council_districts"
    assert la.site_layers == ("neighborhood_councils", "council_districts")
    expected = {
        ("baltimore", "council_districts", "2012"): "Council District 1",  # name "District 1"
        ("baltimore", "neighborhoods", "2010"): "Abell",
        ("baltimore", "census_tracts", "2020"): "Census Tract 101",  # namelsad
        ("los_angeles", "council_districts", "2012"): "Council District 10",  # name "10"
        ("los_angeles", "neighborhood_councils", "2018"): "LINCOLN HEIGHTS NC",
    }
    for (city, key, vintage), shown in expected.items():
        manifest = load_manifest(city)
        spec = manifest.layer(key)
        path = shared_data / city / spec.vintage(vintage).file  # type: ignore[operator]
        first = gpd.read_file(path, ignore_geometry=True, rows=1).iloc[0]
        assert spec.display_name(first[spec.id_field], first[spec.name_field]) == shown


def test_display_formats_substitute_text_only() -> None:
    spec = load_manifest("baltimore").layer("council_districts")
    assert spec.display == "Council District {id}"
    assert spec.display_name("{name.__class__}", "x") == "Council District {name.__class__}"
    nbhd = load_manifest("baltimore").layer("neighborhoods")
    assert nbhd.display_name("7", "{{7*7}} {id}") == "{{7*7}} {id}"  # a name is never a format
    assert nbhd.display_name("7", None) == "7"  # a missing name shows the id
    assert nbhd.display_name("7", pd.NA) == "7"


FUTURE_LAYER = """
[layers.plans]
title = "Future plan"
id_field = "code"
name_field = "label"

[[layers.plans.vintages]]
vintage = "1"
source = "x"
publisher = "x"
crs = "EPSG:4326"
"""


def site_manifest(tmp_path: Path, *, top: str = "", display: str = "") -> CityManifest:
    """Grid Town (:func:`write_city`) plus a layer without any file, with extra keys."""
    path = write_city(tmp_path, files=False)
    text = path.read_text()
    text = text.replace('projected_crs = "EPSG:26985"\n', f'projected_crs = "EPSG:26985"\n{top}\n')
    text = text.replace('match = "id" }\n', f'match = "id" }}\n{display}\n')
    path.write_text(text + FUTURE_LAYER)
    return load_manifest(path)


def test_site_shape_defaults(tmp_path: Path) -> None:
    m = site_manifest(tmp_path)
    assert m.district_layer is None
    assert m.site_layers == ("wards", "blocks")  # "plans" has no local file
    assert m.layer("wards").display == "{name}"
    m = site_manifest(
        tmp_path,
        top='district_layer = "wards"\nsite_layers = ["plans", "wards"]',
        display='display = "Ward {id}: {name} {{sic}}"',
    )
    assert m.district_layer == "wards" and m.site_layers == ("plans", "wards")
    assert m.layer("wards").display_name(3, "North") == "Ward 3: North {sic}"


@pytest.mark.parametrize(
    ("display", "message"),
    [
        ('"{name.__class__}"', "'{name.__class__}' is not allowed"),
        ('"{0}"', "'{0}' is not allowed"),
        ('"{}"', "'{}' is not allowed"),
        ('"{name!r}"', "'{name!r}' is not allowed"),
        ('"{id:>5}"', "'{id:>5}' is not allowed"),
        ('"{population}"', "'{population}' is not allowed"),
        ('"{name"', "is not a valid format"),
        ('""', "must be a non-empty string"),
        ("3", "must be a non-empty string"),
    ],
)
def test_display_is_validated_at_load(tmp_path: Path, display: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        site_manifest(tmp_path, display=f"display = {display}")
    assert "[layers.wards] display" in str(info.value) and message in str(info.value)


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ('district_layer = "wardz"', "district_layer 'wardz' must be one of the layers: wards"),
        ("district_layer = 3", "district_layer 3 must be one of the layers"),
        ('site_layers = ["wards", "hoods"]', "site_layers ['hoods'] are not layers"),
        ('site_layers = ["wards", "wards"]', "site_layers repeat ['wards']"),
        ("site_layers = []", "site_layers must be a non-empty list"),
        ('site_layers = "wards"', "site_layers must be a non-empty list"),
    ],
)
def test_district_and_site_layers_are_validated(tmp_path: Path, top: str, message: str) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        site_manifest(tmp_path, top=top)


def test_unknown_city_lists_the_cities() -> None:
    with pytest.raises(ManifestError, match="built-in cities: baltimore, los_angeles"):
        load_manifest("gotham")


def test_unknown_layer_and_vintage_list_the_valid_ones() -> None:
    m = load_manifest("baltimore")
    with pytest.raises(ManifestError, match="layers: neighborhoods, council_districts"):
        m.layer("wards")
    with pytest.raises(ManifestError, match="vintages: 2010, 2020"):
        m.layer("neighborhoods").vintage("1990")


BAD_MANIFEST = """
city = "Bad City"
timezone = "Mars/Olympus"
projected_crs = "EPSG:2229"
colour = "red"

[layers.wards]
title = "Wards"
name_field = "name"
label = { column = "Ward", match = "code" }

[[layers.wards.vintages]]
vintage = "old"
valid_from = 2020-01-01
valid_to = 2010-01-01
source = "https://example.org/wards"
publisher = "City"
crs = "EPSG:4326"
file = "../outside.geojson"

[[layers.wards.vintages]]
vintage = "new"
valid_from = 2015-01-01
source = "https://example.org/wards"
crs = "not a crs"

[[layers.wards.vintages]]
vintage = "newer"
valid_from = 2018-01-01
valid_to = 2019-01-01T00:00:00
source = "https://example.org/wards"
publisher = "City"
crs = "EPSG:4326"
"""


def test_invalid_manifest_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD_MANIFEST)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    expected = [
        "unknown top-level keys ['colour']",
        "must be lower-case snake_case",
        "'title' is required",
        "not an IANA zone",
        "US survey foot",
        "'id_field' is required",
        "match must be 'name' or 'id'",
        "valid_from 2020-01-01 is not before valid_to 2010-01-01",
        "file must be a relative path",
        "(new): 'publisher' is required",
        "'not a crs' is not a CRS",
        "must be a date, not a date-time",
        "vintages 'new' and 'newer' have overlapping validity dates",
    ]
    missing = [e for e in expected if e not in message]
    assert not missing, message
    assert message.count("\n  - ") >= len(expected)


def test_manifest_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("city = \n")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(broken)


def write_city(root: Path, *, files: bool = True) -> Path:
    """A small city: a 2-vintage grid layer (one without a file) and a one-vintage layer."""
    manifest = root / "gridtown.toml"
    manifest.write_text(
        """
city = "gridtown"
title = "Grid Town"
timezone = "America/New_York"
projected_crs = "EPSG:26985"

[layers.wards]
title = "Wards"
id_field = "code"
name_field = "label"
alias_fields = ["old"]
label = { column = "Ward", match = "id" }

[[layers.wards.vintages]]
vintage = 2000
valid_to = 2010-01-01
source = "https://example.org/wards-2000"
publisher = "Grid Town"
file = "wards_2000.geojson"
crs = "EPSG:4326"

[[layers.wards.vintages]]
vintage = "2010"
valid_from = "2010-01-01"
source = "https://example.org/wards-2010"
publisher = "Grid Town"
crs = "EPSG:4326"
note = "no local copy"

[layers.blocks]
title = "Blocks"
id_field = "code"
name_field = "label"

[[layers.blocks.vintages]]
vintage = "2020"
source = "tl_2020_blocks.zip"
publisher = "Census"
file = "sub/blocks.gpkg"
crs = "EPSG:26985"
"""
    )
    if files:
        data = root / "data" / "gridtown"
        (data / "sub").mkdir(parents=True)
        grid().to_crs(4326).to_file(data / "wards_2000.geojson", engine="pyogrio")
        # four blocks of 150 m: the same 300 m square the nine wards cover
        blocks = grid(n=2)
        blocks["geometry"] = blocks.geometry.scale(1.5, 1.5, origin=(X0, Y0))
        blocks.to_file(data / "sub" / "blocks.gpkg", engine="pyogrio")
    return manifest


def test_load_layers_from_a_manifest_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = write_city(tmp_path)
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path / "data"))
    layers = load_layers(manifest)
    assert list(layers) == ["wards", "blocks"]
    old, new = layers["wards"]
    assert (old.vintage, new.vintage) == ("2000", "2010")
    assert old.frame is not None and len(old.frame) == 9
    assert old.valid_to == date(2010, 1, 1) and old.valid_from is None
    assert old.path == tmp_path / "data" / "gridtown" / "wards_2000.geojson"
    assert old.projected_crs == "EPSG:26985"
    assert old.title == "Wards"
    assert new.frame is None and new.note == "no local copy"  # declared without a file
    assert new.valid_from == date(2010, 1, 1)
    assert layers["blocks"][0].qa["features"] == 4  # alias field 'old' absent: skipped


def test_load_layers_selects_layers_vintages_and_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_city(tmp_path)
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path / "data"))
    only = load_layers(manifest, layers=["wards"], vintages={"wards": "2000"})
    assert [lay.vintage for lay in only["wards"]] == ["2000"]
    supplied = tmp_path / "wards_2010.gpkg"
    grid(n=2).to_file(supplied, engine="pyogrio")
    with_path = load_layers(manifest, layers="wards", paths={"wards:2010": supplied})
    assert [lay.has_file for lay in with_path["wards"]] == [True, True]
    assert with_path["wards"][1].path == supplied
    pinned = load_layers(
        manifest, layers=["wards"], vintages={"wards": ["2010"]}, paths={"wards": supplied}
    )
    assert pinned["wards"][0].qa["features"] == 4
    with pytest.raises(ManifestError, match="say which one"):
        load_layers(manifest, layers=["wards"], paths={"wards": supplied})
    with pytest.raises(ManifestError, match="layers: wards, blocks"):
        load_layers(manifest, layers=["wards", "rivers"])
    with pytest.raises(ManifestError, match="vintages: 2000, 2010"):
        load_layers(manifest, vintages={"wards": "1990"})


def test_load_layers_reports_every_missing_file_at_once(tmp_path: Path) -> None:
    manifest = write_city(tmp_path, files=False)
    with pytest.raises(InputFileError) as info:
        load_layers(manifest)
    message = str(info.value)
    assert "wards 2000:" in message and "blocks 2020:" in message
    assert "https://example.org/wards-2000" in message and "tl_2020_blocks.zip" in message
    assert "wards-2010" not in message  # the vintage without a file is not "missing"


def test_load_layers_accepts_a_parsed_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = load_manifest(write_city(tmp_path))
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path / "data"))
    assert load_layers(manifest, layers=["blocks"])["blocks"][0].key == "blocks"


# --------------------------------------------------------------------------- finding files


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    cache = tmp_path / "cache"
    for root in (data / "gridtown", cache / "boundaries" / "gridtown"):
        root.mkdir(parents=True)
        (root / "wards.geojson").write_text("{}")
    explicit = tmp_path / "mine.geojson"
    explicit.write_text("{}")
    monkeypatch.setenv("GEO311_DATA_DIR", str(data))
    monkeypatch.setenv("GEO311_CACHE_DIR", str(cache))
    assert find_layer_file("gridtown", "wards.geojson", path=explicit) == explicit
    assert find_layer_file("gridtown", "wards.geojson") == data / "gridtown" / "wards.geojson"
    (data / "gridtown" / "wards.geojson").unlink()
    found = find_layer_file("gridtown", "wards.geojson")
    assert found == cache / "boundaries" / "gridtown" / "wards.geojson"
    monkeypatch.delenv("GEO311_DATA_DIR")
    assert find_layer_file("gridtown", "wards.geojson") == found


def test_explicit_path_does_not_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gridtown").mkdir()
    (tmp_path / "gridtown" / "wards.geojson").write_text("{}")
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path))
    with pytest.raises(InputFileError, match="given explicitly"):
        find_layer_file("gridtown", "wards.geojson", path=tmp_path / "typo.geojson")


def test_missing_file_error_lists_places_and_remedies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO311_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(InputFileError) as info:
        find_layer_file("gridtown", "wards.geojson", source="https://example.org/wards")
    message = str(info.value)
    assert str(tmp_path / "data" / "gridtown" / "wards.geojson") in message
    assert str(tmp_path / "cache" / "boundaries" / "gridtown" / "wards.geojson") in message
    assert "set GEO311_DATA_DIR" in message
    assert "https://example.org/wards" in message
    assert "geo311 fetch boundaries gridtown" in message
    monkeypatch.delenv("GEO311_DATA_DIR")
    with pytest.raises(InputFileError, match="GEO311_DATA_DIR is not set"):
        find_layer_file("gridtown", "wards.geojson")


# --------------------------------------------------------------------------- real data

EXPECTED_FEATURES = {
    ("baltimore", "neighborhoods", "2010"): 278,
    ("baltimore", "neighborhoods", "2020"): 279,
    ("baltimore", "council_districts", "2012"): 14,
    ("baltimore", "census_tracts", "2020"): 199,
    ("baltimore", "csas", "2010"): 56,
    ("baltimore", "police_districts", "1959_2022"): 9,
    ("baltimore", "police_districts", "2023"): 9,
    ("baltimore", "zip_codes", "2010"): 32,
    ("los_angeles", "neighborhood_councils", "2018"): 99,
    ("los_angeles", "council_districts", "2012"): 15,
}


@pytest.fixture(scope="module")
def real_layers(shared_data: Path) -> dict[str, dict[str, list[Layer]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        return {city: load_layers(city) for city in ("baltimore", "los_angeles")}


def test_every_vintage_with_a_file_loads(real_layers: dict[str, dict[str, list[Layer]]]) -> None:
    loaded = {
        (city, key, lay.vintage): lay
        for city, layers in real_layers.items()
        for key, vintages in layers.items()
        for lay in vintages
        if lay.has_file
    }
    assert {k: lay.qa["features"] for k, lay in loaded.items()} == EXPECTED_FEATURES
    for city in real_layers:
        manifest = load_manifest(city)
        for key, spec in manifest.layers.items():
            assert [lay.vintage for lay in real_layers[city][key]] == [
                v.vintage for v in spec.vintages
            ]
    for lay in loaded.values():
        frame = lay.gdf
        assert frame.crs.to_string() == "EPSG:4326"
        assert frame["area_id"].is_unique and frame["area_id"].notna().all()
        assert frame.is_valid.all()
        assert len(lay.sha256) == 64
        assert lay.qa["invalid_repaired"] == 0  # the data build repaired its files already


def test_layers_without_local_copy(real_layers: dict[str, dict[str, list[Layer]]]) -> None:
    balt = {lay.vintage: lay for lay in real_layers["baltimore"]["council_districts"]}
    assert balt["2024"].frame is None and balt["2012"].frame is not None
    la = {lay.vintage: lay for lay in real_layers["los_angeles"]["council_districts"]}
    assert la["2021"].frame is None


def test_real_ids_and_names(real_layers: dict[str, dict[str, list[Layer]]]) -> None:
    balt = real_layers["baltimore"]
    council = balt["council_districts"][0].gdf
    assert sorted(council["area_id"], key=int) == [str(i) for i in range(1, 15)]
    n2020 = balt["neighborhoods"][1].gdf
    renamed = n2020.set_index("area_name")["aliases"]
    assert renamed["Mount Clare"] == "New Southwest/Mount Clare"
    assert renamed["Baltimore Peninsula"] == "Port Covington"
    # 13 areas carry a 2010 name; 4 differ from the new name only in case and are skipped
    assert n2020["aliases"].notna().sum() == 9
    assert balt["neighborhoods"][0].gdf["aliases"].isna().all()
    assert balt["census_tracts"][0].gdf["area_id"].str.startswith("24510").all()
    nc = real_layers["los_angeles"]["neighborhood_councils"][0].gdf
    assert nc.set_index("area_id").loc["128", "area_name"] == "HISTORIC CULTURAL NORTH NC"


def test_baltimore_qa_matches_validation_figures(
    real_layers: dict[str, dict[str, list[Layer]]], shared_data: Path
) -> None:
    figures = json.loads((shared_data / "baltimore" / "validation_figures.json").read_text())
    checked = 0
    for vintages in real_layers["baltimore"].values():
        for lay in vintages:
            if not lay.has_file:
                continue
            assert lay.path is not None
            ref = figures["layers"][lay.path.name]
            qa = lay.qa
            assert qa["features"] == ref["features"]
            assert qa["gap_count"] == ref["internal_gap_count"], lay
            assert qa["gap_m2"] / SQ_MI == pytest.approx(
                ref["internal_gap_sqmi"], abs=1e-4, rel=0.01
            )
            assert qa["overlap_m2"] / SQ_MI == pytest.approx(
                ref["overlap_sqmi"], abs=1e-4, rel=0.05
            )
            assert qa["area_m2"] / SQ_MI == pytest.approx(ref["union_area_sqmi"], abs=0.002)
            checked += 1
    assert checked == 8


def test_baltimore_headline_figures(real_layers: dict[str, dict[str, list[Layer]]]) -> None:
    balt = real_layers["baltimore"]
    n2010 = balt["neighborhoods"][0].qa
    assert n2010["overlap_m2"] / SQ_MI < 0.00005  # "no overlaps"
    assert n2010["gap_count"] == 20 and n2010["gap_m2"] / SQ_MI < 0.0001  # sliver holes
    old, new = (lay.qa for lay in balt["police_districts"])
    assert old["gap_m2"] / SQ_MI == pytest.approx(4.1152, abs=0.001)  # harbour
    assert new["gap_m2"] / SQ_MI == pytest.approx(3.94, abs=0.001)
    assert old["overlap_pairs"] == new["overlap_pairs"] == 0


def test_los_angeles_layers_overlap_for_real(
    real_layers: dict[str, dict[str, list[Layer]]],
) -> None:
    nc = real_layers["los_angeles"]["neighborhood_councils"][0]
    assert nc.projected_crs == "EPSG:26945"
    # certified NCs overlap (e.g. Lake Balboa and Encino share the Sepulveda Basin)
    assert nc.qa["overlap_m2"] > 20e6
    assert nc.qa["overlap_pairs"] > 100

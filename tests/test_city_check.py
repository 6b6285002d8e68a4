"""Tests for geo311.join.check (``city check``) and manifest-relative layer paths (issue 14).

The broken city is a 3 x 3 grid of 100 m cells in EPSG:26985 (inside
Maryland), written next to its manifest, with one defect of each kind worked
out by hand: the centre cell removed (a 10,000 m² hole), the south-west cell
widened to 110 m (1,000 m² over its neighbour), two cells sharing the id
"8", a vintage whose file does not exist, and a land outline that is the
grid's 300 m square, so the broken layer covers 80,000 / 90,000 of it.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely import box

from geo311._errors import InputFileError
from geo311.join.check import CityCheck, check_city
from geo311.join.files import find_layer_file
from geo311.join.layers import load_layers

MD = "EPSG:26985"
X0, Y0 = 433_000.0, 180_000.0

MD_FILE = 'publisher = "hand", crs = "EPSG:26985"'
MANIFEST = f"""
city = "gridtown"
title = "Grid Town"
timezone = "America/New_York"
projected_crs = "EPSG:26985"
city_outline = {{ file = "outline.gpkg", crs = "EPSG:26985" }}

[layers.wards]
title = "Wards"
id_field = "code"
name_field = "label"
display = "Ward {{id}}"
vintages = [
    {{ vintage = "2010", valid_to = 2020-01-01, source = "hand", file = "wards_2010.gpkg", {MD_FILE} }},
    {{ vintage = "2020", valid_from = 2020-01-01, source = "https://example.org/wards-2020", file = "missing.gpkg", {MD_FILE} }},
]

[layers.blocks]
title = "Blocks"
id_field = "code"
name_field = "label"
vintages = [{{ vintage = "2020", source = "hand", file = "sub/blocks.gpkg", {MD_FILE} }}]
"""


def cells(*, broken: bool) -> gpd.GeoDataFrame:
    boxes = [(100 * i, 100 * j, 100 * i + 100, 100 * j + 100) for j in range(3) for i in range(3)]
    codes = [str(k + 1) for k in range(9)]
    if broken:
        boxes[0] = (0, 0, 110, 100)  # overlaps cell 2 by 10 m x 100 m
        codes[6] = "8"  # cells 7 and 8 share an id
        del boxes[4], codes[4]  # the centre cell: a hole
    geoms = [box(X0 + a, Y0 + b, X0 + c, Y0 + d) for a, b, c, d in boxes]
    return gpd.GeoDataFrame({"code": codes, "label": codes}, geometry=geoms, crs=MD)


def write_city(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    cells(broken=True).to_file(root / "wards_2010.gpkg")
    cells(broken=False).to_file(root / "sub" / "blocks.gpkg")
    outline = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 300, Y0 + 300)], crs=MD)
    outline.to_file(root / "outline.gpkg")
    path = root / "gridtown.toml"
    path.write_text(MANIFEST)
    return path


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CityCheck:
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    return check_city(write_city(tmp_path / "city"))


def findings(report: CityCheck, layer: str, vintage: str, check: str) -> pd.DataFrame:
    frame = report.to_frame()
    return frame[
        (frame["layer"] == layer) & (frame["vintage"] == vintage) & (frame["check"] == check)
    ]


def test_broken_grid_findings(broken: CityCheck) -> None:
    assert not broken.ok
    gaps = findings(broken, "wards", "2010", "gaps")
    assert gaps["severity"].tolist() == ["warning"]
    assert gaps["value"].iloc[0] == pytest.approx(10_000, abs=1e-3)
    assert "in 1 holes" in gaps["message"].iloc[0]
    overlaps = findings(broken, "wards", "2010", "overlaps")
    assert overlaps["value"].iloc[0] == pytest.approx(1_000, abs=1e-3)
    assert "in 1 pairs" in overlaps["message"].iloc[0]
    ids = findings(broken, "wards", "2010", "ids")
    assert ids["severity"].tolist() == ["error"]
    assert "duplicate ids ['8']" in ids["message"].iloc[0]
    missing = findings(broken, "wards", "2020", "file")
    assert missing["severity"].tolist() == ["error"]
    assert "missing.gpkg" in missing["message"].iloc[0]
    coverage = findings(broken, "wards", "2010", "coverage")
    assert coverage["severity"].tolist() == ["warning"]
    assert coverage["value"].iloc[0] == pytest.approx(80_000 / 90_000)
    assert "of the city outline" in coverage["message"].iloc[0]


def test_clean_layer_of_the_broken_city(broken: CityCheck) -> None:
    blocks = broken.to_frame()
    blocks = blocks[blocks["layer"] == "blocks"]
    assert set(blocks["severity"]) == {"info"}
    assert findings(broken, "blocks", "2020", "coverage")["value"].iloc[0] == pytest.approx(1.0)
    assert findings(broken, "blocks", "2020", "gaps")["value"].iloc[0] == 0.0
    display = findings(broken, "wards", "2010", "display")["message"].iloc[0]
    assert display == "'Ward {id}' gives 'Ward 1'"
    outline = findings(broken, "", "", "outline")
    assert outline["value"].iloc[0] == pytest.approx(90_000, rel=1e-9)


def test_report_text_and_frame(broken: CityCheck) -> None:
    text = broken.to_text()
    lines = text.splitlines()
    assert lines[0].startswith("city check gridtown (")
    assert "FAILED, 2 errors" in lines[0]
    assert len(lines) == 1 + len(broken.findings)
    assert any(line.startswith("ERROR   wards 2010") and "duplicate" in line for line in lines)
    frame = broken.to_frame()
    assert list(frame.columns) == ["severity", "layer", "vintage", "check", "message", "value"]
    assert frame["severity"].value_counts()["error"] == broken.count("error") == 2


def test_more_defects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    path = write_city(tmp_path)
    frame = cells(broken=False).rename(columns={"label": "nom"})
    frame.loc[8, "geometry"] = None
    frame.to_file(tmp_path / "sub" / "blocks.gpkg", mode="w")
    blocks = f'file = "sub/blocks.gpkg", {MD_FILE}'
    declared = (
        'file = "sub/blocks.gpkg", publisher = "hand", crs = "EPSG:4326", population_field = "pop"'
    )
    path.write_text(MANIFEST.replace(blocks, declared))
    report = check_city(path)
    assert (
        "fields ['label'] missing"
        in findings(report, "blocks", "2020", "fields")["message"].iloc[0]
    )
    null = findings(report, "blocks", "2020", "geometry")
    assert "1 null or empty geometries (rows [8])" in null["message"].iloc[0]
    crs = findings(report, "blocks", "2020", "crs")
    assert crs["severity"].iloc[0] == "warning"
    assert "the manifest says EPSG:4326" in crs["message"].iloc[0]
    population = findings(report, "blocks", "2020", "population")
    assert population["severity"].tolist() == ["error"]


def test_invalid_manifest_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(MANIFEST.replace('timezone = "America/New_York"', 'timezone = "Mars/Olympus"'))
    report = check_city(path)
    assert not report.ok
    assert report.to_frame()["check"].tolist() == ["manifest"]
    assert "Mars/Olympus" in report.findings[0].message


def test_files_resolve_next_to_the_manifest_and_in_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    path = write_city(tmp_path / "city")
    layers = load_layers(path, layers=["blocks"])
    assert layers["blocks"][0].path == tmp_path / "city" / "sub" / "blocks.gpkg"
    # data_dir comes first: <data_dir>/<city>/<file>, then <data_dir>/<file>
    other = tmp_path / "other" / "gridtown" / "sub"
    other.mkdir(parents=True)
    cells(broken=False).to_file(other / "blocks.gpkg")
    found = load_layers(path, layers=["blocks"], data_dir=tmp_path / "other")
    assert found["blocks"][0].path == other / "blocks.gpkg"
    flat = find_layer_file("gridtown", "sub/blocks.gpkg", data_dir=tmp_path / "other" / "gridtown")
    assert flat == other / "blocks.gpkg"
    with pytest.raises(InputFileError, match=r"(?s)nowhere.gpkg.*data_dir; not found"):
        find_layer_file("gridtown", "nowhere.gpkg", data_dir=tmp_path / "other")


def test_baltimore_passes_with_its_known_defects(shared_data: Path) -> None:
    report = check_city("baltimore", data_dir=shared_data)
    assert report.ok, report.to_text()
    overlaps = findings(report, "neighborhoods", "2020", "overlaps")
    assert overlaps["value"].iloc[0] == pytest.approx(294.3, abs=0.5)
    assert "12 pairs" in overlaps["message"].iloc[0]
    gaps = findings(report, "police_districts", "2023", "gaps")
    assert gaps["value"].iloc[0] / 1e6 == pytest.approx(10.20, abs=0.01)
    assert findings(report, "council_districts", "2024", "file")["severity"].tolist() == [
        "warning"
    ]
    coverage = report.to_frame().query("check == 'coverage'")
    assert (coverage["value"] > 0.95).all()
    assert findings(report, "neighborhoods", "2020", "population")["value"].iloc[0] == 585_708


def test_los_angeles_passes_with_its_known_defects(shared_data: Path) -> None:
    report = check_city("los_angeles", data_dir=shared_data)
    assert report.ok, report.to_text()
    overlaps = findings(report, "neighborhood_councils", "2018", "overlaps")
    assert overlaps["value"].iloc[0] / 1e6 == pytest.approx(26.4, abs=0.05)
    coverage = findings(report, "neighborhood_councils", "2018", "coverage")
    assert coverage["severity"].tolist() == ["warning"]
    assert "of the other layers' union" in coverage["message"].iloc[0]
    assert 0.88 < coverage["value"].iloc[0] < 0.92
    assert findings(report, "", "", "outline")["message"].iloc[0].startswith("no city_outline")

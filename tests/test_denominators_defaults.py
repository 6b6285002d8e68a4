"""Best denominators by default (issue 13 item 2): block population, dasymetric, clip, slivers.

A generated city in EPSG:26985 (metres, inside Maryland so the layers pass
the area-of-use check), every figure worked out by hand:

* tracts T1 = [0,100]x[0,100] (1,000 people), T2 = [100,200]x[0,100] (3,000),
  T3 = [200,300]x[0,100] (500);
* wards W1 = [0,60]x[0,100] and W2 = [60,200.5]x[0,100]: W2 touches T3 by a
  0.5 m sliver;
* the land outline is [0,300]x[0,80]: the strip y > 80 is water;
* the ancillary layer: H1 = [0,50]x[0,100] with 100 housing units (0.02 per
  m²) and H2 = [50,200]x[0,100] with 150 (0.01 per m²).

Clipped to land, T1 is [0,100]x[0,80]; its part in W1 weighs
4,000 m² x 0.02 + 800 m² x 0.01 = 88, its part in W2 3,200 m² x 0.01 = 32, so
W1 gets 1,000 x 88 / 120 and W2 1,000 x 32 / 120 + 3,000.  T3 is covered by
W2 for 0.5 x 80 = 40 m², 0.4 % of its 10,000 m² (< 1 %): its 500 people are
not allocated.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely import box

from geo311._errors import SchemaError
from geo311.indicators import area_indicators
from geo311.join.layers import load_layers
from geo311.join.manifest import ManifestError, load_manifest
from geo311.population.layer import MIN_TRACT_SHARE, layer_population
from geo311.population.tracts import read_tract_table

MD = "EPSG:26985"
X0, Y0 = 433_000.0, 180_000.0

HAND = 'source = "hand", publisher = "hand", crs = "EPSG:26985"'
BLOCKS = (
    'population_field = "pop_blocks", population_source = "2020 blocks, by hand", '
    "population_year = 2020"
)
MANIFEST = f"""
city = "gridtown"
title = "Grid Town"
timezone = "America/New_York"
projected_crs = "EPSG:26985"
city_outline = {{ file = "outline.gpkg", crs = "EPSG:26985", source = "hand" }}
ancillary = {{ layer = "landuse", vintage = "2020", field = "hu" }}

[layers.wards]
title = "Wards"
id_field = "code"
name_field = "label"
vintages = [
    {{ vintage = "2000", valid_to = 2010-01-01, file = "wards.gpkg", {HAND}, {BLOCKS} }},
    {{ vintage = "2010", valid_from = 2010-01-01, file = "wards.gpkg", {HAND} }},
]

[layers.tracts]
title = "Tracts"
id_field = "geoid"
name_field = "label"
vintages = [{{ vintage = "2020", file = "tracts.gpkg", {HAND} }}]

[layers.landuse]
title = "Land use"
id_field = "code"
name_field = "label"
vintages = [{{ vintage = "2020", file = "landuse.gpkg", {HAND} }}]
"""


def frame(values: dict[str, list], boxes: list[tuple[float, float, float, float]]):
    shifted = [box(X0 + a, Y0 + b, X0 + c, Y0 + d) for a, b, c, d in boxes]
    return gpd.GeoDataFrame(values, geometry=shifted, crs=MD)


def write_city(root: Path, manifest: str = MANIFEST) -> Path:
    """The city above, its files next to the manifest (paths relative to it)."""
    path = root / "gridtown.toml"
    path.write_text(manifest)
    frame(
        {
            "geoid": ["24510000100", "24510000200", "24510000300"],
            "label": ["T1", "T2", "T3"],
            "population": [1000.0, 3000.0, 500.0],
        },
        [(0, 0, 100, 100), (100, 0, 200, 100), (200, 0, 300, 100)],
    ).to_file(root / "tracts.gpkg")
    frame(
        {"code": ["W1", "W2"], "label": ["One", "Two"], "pop_blocks": [700.0, 3800.0]},
        [(0, 0, 60, 100), (60, 0, 200.5, 100)],
    ).to_file(root / "wards.gpkg")
    frame({"name": ["land"]}, [(0, 0, 300, 80)]).to_file(root / "outline.gpkg")
    frame(
        {"code": ["H1", "H2"], "label": ["H1", "H2"], "hu": [100.0, 150.0]},
        [(0, 0, 50, 100), (50, 0, 200, 100)],
    ).to_file(root / "landuse.gpkg")
    return path


@pytest.fixture
def city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    layers = load_layers(write_city(tmp_path), min_coverage=0)
    return {
        "with_field": layers["wards"][0],
        "without_field": layers["wards"][1],
        "tracts": layers["tracts"][0],
    }


W1_T1 = 1000 * 88 / 120
W2_T1 = 1000 * 32 / 120


def test_manifest_keys_are_parsed(tmp_path: Path) -> None:
    manifest = load_manifest(write_city(tmp_path))
    assert manifest.city_outline is not None
    assert manifest.city_outline.file == "outline.gpkg"
    assert manifest.ancillary is not None
    assert (manifest.ancillary.layer, manifest.ancillary.field) == ("landuse", "hu")
    spec = manifest.layer("wards").vintages[0]
    assert spec.population_field == "pop_blocks"
    assert spec.population_year == "2020"
    assert manifest.layer("wards").vintages[1].population_field is None


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('layer = "landuse"', 'layer = "nowhere"', "ancillary layer 'nowhere' must be one of"),
        ('vintage = "2020", field', 'vintage = "1999", field', "'1999' is not a vintage"),
        ("population_year = 2020", "population_year = 2020, bogus = 1", r"\['bogus'\]"),
        ('source = "hand" }', 'source = "hand", colour = "red" }', r"city_outline has .*colour"),
    ],
)
def test_manifest_key_errors(tmp_path: Path, old: str, new: str, error: str) -> None:
    path = write_city(tmp_path, MANIFEST.replace(old, new, 1))
    with pytest.raises(ManifestError, match=error):
        load_manifest(path)


def test_population_source_needs_a_field(tmp_path: Path) -> None:
    text = MANIFEST.replace('population_field = "pop_blocks", ', "")
    with pytest.raises(ManifestError, match="need population_field"):
        load_manifest(write_city(tmp_path, text))


def test_block_population_is_used_as_is(city: dict) -> None:
    out = layer_population(city["with_field"], tracts=city["tracts"])
    assert out["population"].tolist() == [700.0, 3800.0]
    assert "population_moe" not in out
    assert out.attrs["population_method"] == "layer_field"
    assert out.attrs["variables"]["population"] == {
        "column": "pop_blocks",
        "year": "2020",
        "kind": "extensive",
        "source": "2020 blocks, by hand",
    }
    assert out.attrs["totals"]["population"]["target"] == 4500.0
    assert out.attrs["totals"]["population"]["difference"] == 0.0


def test_dasymetric_clipped_by_hand(city: dict, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="geo311.population.layer"):
        out = layer_population(city["without_field"], tracts=city["tracts"])
    assert out["population"].tolist() == pytest.approx([W1_T1, W2_T1 + 3000])
    assert out.attrs["population_method"] == "dasymetric"
    assert out.attrs["clip"] == "city_outline"
    # T3 reaches W2 only through a 40 m² sliver (0.4 % < 1 %): not allocated
    assert out.attrs["unallocated"] == {"population": 500.0}
    assert out.attrs["sources_unallocated"] == 1
    assert out.attrs["totals"]["population"]["difference"] == pytest.approx(-500)
    assert "population 500" in caplog.text
    # land areas inside the outline: 60 x 80 and 140.5 x 80 m²
    assert out["land_km2"].tolist() == pytest.approx([0.0048, 0.01124])
    assert out.attrs["land_area"] == "inside the city_outline"


def test_the_block_field_can_be_ignored(city: dict) -> None:
    out = layer_population(city["with_field"], tracts=city["tracts"], block_population=False)
    assert out["population"].tolist() == pytest.approx([W1_T1, W2_T1 + 3000])


def test_without_the_sliver_rule_the_tract_goes_through_the_sliver(city: dict) -> None:
    out = layer_population(city["without_field"], tracts=city["tracts"], min_share=0.0)
    assert out["population"].tolist() == pytest.approx([W1_T1, W2_T1 + 3500])
    assert out.attrs["unallocated"] == {"population": 0.0}
    assert MIN_TRACT_SHARE == 0.01


def test_tracts_straddling_the_city_keep_their_outside_share(city: dict) -> None:
    # shares of the whole tracts: T1 60 x 80 / 10,000 -> W1 480, 40 x 80 -> W2 320;
    # T2 100 x 80 / 10,000 -> W2 2,400; the water strip (20 %) and T3 are lost
    out = layer_population(
        city["without_field"], tracts=city["tracts"], dasymetric=False, allocate_total=False
    )
    assert out["population"].tolist() == pytest.approx([480.0, 2720.0])
    assert out.attrs["totals"]["population"]["difference"] == pytest.approx(3200 - 4500)
    assert out.attrs["unallocated"] == {"population": 500.0}


def test_plain_area_when_dasymetric_is_off(city: dict) -> None:
    # clipped to land, T1 is split 60 / 40 between W1 and W2
    out = layer_population(city["without_field"], tracts=city["tracts"], dasymetric=False)
    assert out["population"].tolist() == pytest.approx([600.0, 3400.0])
    assert out.attrs["population_method"] == "area_weighted"


def test_without_outline_clips_to_the_layer_and_land_is_the_whole_area(city: dict) -> None:
    bare = dataclasses.replace(city["without_field"], denominators=None)
    out = layer_population(bare, tracts=city["tracts"])
    assert out["population"].tolist() == pytest.approx([600.0, 3400.0])
    assert out.attrs["clip"] == "union of the layer"
    assert out["land_km2"].tolist() == pytest.approx([0.006, 0.01405])
    assert "no city_outline" in out.attrs["land_area"]


def test_class_weights_as_ancillary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = MANIFEST.replace('field = "hu" }', 'field = "label", classes = { H1 = 1.0 } }')
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    layers = load_layers(write_city(tmp_path, text), min_coverage=0)
    out = layer_population(layers["wards"][1], tracts=layers["tracts"][0])
    # only H1 = [0,50] is inhabited: all of T1 goes to W1; T2 has no H1 land -> plain area
    assert out["population"].tolist() == pytest.approx([1000.0, 3000.0])


def test_missing_block_field_is_a_schema_error(city: dict) -> None:
    broken = dataclasses.replace(city["with_field"], population_field="nope")
    with pytest.raises(SchemaError, match="no population field 'nope'"):
        layer_population(broken, tracts=city["tracts"])


def test_small_areas_are_flagged_and_insufficient(city: dict) -> None:
    tiny = city["with_field"].gdf.copy()
    tiny["pop_blocks"] = [99.0, 4000.0]
    layer = dataclasses.replace(city["with_field"], frame=tiny)
    out = layer_population(layer, tracts=city["tracts"])
    assert out["population_flag"].tolist() == ["below_minimum", "ok"]
    assert out.attrs["below_minimum"] == ["W1"]
    requests = pd.DataFrame(
        {
            "service_request_id": pd.array(["R1", "R2"], dtype="string"),
            "service_name": pd.array(["Pothole"] * 2, dtype="string"),
            "service_code": pd.array(["P"] * 2, dtype="string"),
            "status": pd.array(["open"] * 2, dtype="string"),
            "requested_datetime": pd.to_datetime(["2025-03-03 14:00"] * 2, utc=True),
            "closed_datetime": pd.to_datetime([None, None], utc=True),
            "expected_datetime": pd.to_datetime([None, None], utc=True),
            "agency_responsible": pd.array(["DOT"] * 2, dtype="string"),
            "source": pd.array(["phone"] * 2, dtype="string"),
            "is_duplicate": [False, False],
            "is_transfer": [False, False],
            "is_proactive": [False, False],
            "qa_flags": pd.array(["", ""], dtype="string"),
            "wards_id": pd.array(["W1", "W2"], dtype="string"),
            "wards_name": pd.array(["One", "Two"], dtype="string"),
            "wards_vintage": pd.array(["2000", "2000"], dtype="string"),
        }
    )
    requests.attrs["timezone"] = "America/New_York"
    table = area_indicators(
        requests,
        key="wards",
        areas=layer,
        population=out["population"],
        as_of=pd.Timestamp("2025-03-04", tz="UTC"),
    )
    assert table.loc["W1", "rate_flag"] == "insufficient"
    assert table.loc["W2", "rate_flag"] != "insufficient"


def test_read_tract_table_maps_any_column_names(tmp_path: Path) -> None:
    path = tmp_path / "pop.csv"
    path.write_text("GEOID20,P1_total\n24510000100,1000\n24510000200,3000\n")
    table = read_tract_table(path, id_column="GEOID20", population_column="P1_total")
    assert table.table["population"].tolist() == [1000, 3000]
    with pytest.raises(SchemaError, match="no population column 'pop'"):
        read_tract_table(path, id_column="GEOID20", population_column="pop")
    clash = tmp_path / "clash.csv"
    clash.write_text("geoid,population,pop20\n24510000100,1,2\n")
    with pytest.raises(SchemaError, match="replace its existing 'population'"):
        read_tract_table(clash, population_column="pop20")

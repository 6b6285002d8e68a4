"""Tests for the on-disk caches of validated layers and layer populations (issue 15).

The layers' city is two 2 x 2 grids of 100 m cells in EPSG:26985 (inside Maryland):
"wards", whose first cell is a bow tie (repaired with a WARNING), and
"blocks".  A warm load must give the same frames, figures and log lines as a
cold one, without validating again.  The population fixture is two 100 m
tracts of 100 and 60 residents split by two wards at x = 50 m: 50 and 110
residents, the first below the minimum of 100 (a WARNING to replay).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely import Polygon, box

import geo311.join.layers as layers_module
import geo311.population.layer as population_layer
from geo311.cache import captured_logs, update_with_frame
from geo311.join.layer_specs import AncillarySpec
from geo311.join.layers import DenominatorInputs, Layer, load_layers
from geo311.population.layer import layer_population
from geo311.population.tracts import Denominators, tract_table_from_frame

MD = "EPSG:26985"
X0, Y0 = 433_000.0, 180_000.0
MD_FILE = 'source = "hand", publisher = "hand", crs = "EPSG:26985"'
MANIFEST = f"""
city = "cachetown"
title = "Cache Town"
timezone = "America/New_York"
projected_crs = "EPSG:26985"

[layers.wards]
title = "Wards"
id_field = "code"
name_field = "label"
vintages = [{{ vintage = "2010", file = "wards.gpkg", {MD_FILE} }}]

[layers.blocks]
title = "Blocks"
id_field = "code"
name_field = "label"
vintages = [{{ vintage = "2020", file = "blocks.gpkg", {MD_FILE} }}]
"""


def cells(*, bow_tie: bool, side: float = 100.0) -> gpd.GeoDataFrame:
    geoms = [
        box(X0 + side * i, Y0 + side * j, X0 + side * (i + 1), Y0 + side * (j + 1))
        for j in range(2)
        for i in range(2)
    ]
    if bow_tie:
        geoms[0] = Polygon([(X0, Y0), (X0 + side, Y0 + side), (X0 + side, Y0), (X0, Y0 + side)])
    codes = ["1", "2", "3", "4"]
    return gpd.GeoDataFrame({"code": codes, "label": codes}, geometry=geoms, crs=MD)


@pytest.fixture
def city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "city"
    root.mkdir()
    cells(bow_tie=True).to_file(root / "wards.gpkg")
    cells(bow_tie=False).to_file(root / "blocks.gpkg")
    path = root / "cachetown.toml"
    path.write_text(MANIFEST)
    return path


def entries(city: Path) -> list[Path]:
    return sorted((city.parent.parent / "cache" / "layers").glob("*.npz"))


def load(city: Path, caplog: pytest.LogCaptureFixture) -> tuple[dict[str, list[Layer]], list]:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="geo311"):
        layers = load_layers(city)
    lines = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    return layers, lines


def assert_same_layers(a: dict[str, list[Layer]], b: dict[str, list[Layer]]) -> None:
    assert list(a) == list(b)
    for key, vintages in a.items():
        for left, right in zip(vintages, b[key], strict=True):
            pd.testing.assert_frame_equal(left.gdf, right.gdf)
            assert left.gdf.crs == right.gdf.crs
            assert dict(left.qa) == dict(right.qa)
            assert (left.projected_crs, left.sha256) == (right.projected_crs, right.sha256)


def forbid_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        msg = "validated again instead of using the cache"
        raise AssertionError(msg)

    monkeypatch.setattr(layers_module, "validate_frame", refuse)


def test_warm_load_equals_cold_and_replays_the_log(
    city: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold, cold_lines = load(city, caplog)
    assert len(entries(city)) == 2
    repaired = [line for line in cold_lines if "repaired with make_valid" in line[2]]
    assert len(repaired) == 1 and repaired[0][:2] == ("geo311.join.validate", logging.WARNING)
    assert cold["wards"][0].qa["invalid_repaired"] == 1
    forbid_validation(monkeypatch)
    warm, warm_lines = load(city, caplog)
    assert_same_layers(cold, warm)
    assert warm_lines == cold_lines  # the same facts, in the same order


def test_warning_replayed_when_the_cold_run_logged_nothing(
    city: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with caplog.at_level(logging.CRITICAL, logger="geo311"):
        load_layers(city)  # cold, with the log silenced
    forbid_validation(monkeypatch)
    _, warm_lines = load(city, caplog)
    summaries = [m for n, _, m in warm_lines if n == "geo311.join.validate" and "areas (" in m]
    assert len(summaries) == 2
    assert any("repaired with make_valid" in m for _, _, m in warm_lines)


def test_changed_file_is_validated_again(city: Path, caplog: pytest.LogCaptureFixture) -> None:
    cold, _ = load(city, caplog)
    cells(bow_tie=False, side=90.0).to_file(city.parent / "blocks.gpkg")
    changed, lines = load(city, caplog)
    assert len(entries(city)) == 3  # wards reused, blocks stored under a new key
    assert changed["blocks"][0].qa["area_m2"] == pytest.approx(4 * 90.0**2)
    assert cold["blocks"][0].qa["area_m2"] == pytest.approx(4 * 100.0**2)
    pd.testing.assert_frame_equal(changed["wards"][0].gdf, cold["wards"][0].gdf)
    assert any("layer:blocks:2020" in m for _, _, m in lines)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_entry_is_rebuilt_with_a_warning(
    city: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cold, cold_lines = load(city, caplog)
    for path in entries(city):
        data = path.read_bytes()
        damaged = {"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 9, "empty": b""}
        path.write_bytes(damaged[damage])
    healed, lines = load(city, caplog)
    assert_same_layers(cold, healed)
    warnings = [(n, lvl) for n, lvl, m in lines if "removing it and rebuilding" in m]
    assert warnings == [("geo311.cache", logging.WARNING)] * 2
    rest = [line for line in lines if "removing it and rebuilding" not in line[2]]
    assert rest == cold_lines
    again, _ = load(city, caplog)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "cache" in r.name]
    assert_same_layers(cold, again)


def test_failed_validation_caches_nothing(city: Path, tmp_path: Path) -> None:
    broken = gpd.GeoDataFrame(
        {"code": ["1", "1"], "label": ["a", "b"]},
        geometry=[box(X0, Y0, X0 + 1, Y0 + 1), box(X0 + 1, Y0, X0 + 2, Y0 + 1)],
        crs=MD,
    )
    broken.to_file(city.parent / "blocks.gpkg")
    with pytest.raises(ValueError, match="duplicate"):
        load_layers(city, layers=["blocks"])
    assert entries(city) == []


def test_cache_can_be_turned_off(city: Path) -> None:
    load_layers(city, use_cache=False)
    assert entries(city) == []


def test_frame_digest_follows_values_geometries_and_crs() -> None:
    def digest(frame: gpd.GeoDataFrame) -> str:
        h = hashlib.sha256()
        update_with_frame(h, frame)
        return h.hexdigest()

    base = cells(bow_tie=False)
    other_value = base.assign(label=["1", "2", "3", "5"])
    other_geometry = cells(bow_tie=False, side=99.0)
    assert len({digest(base), digest(other_value), digest(other_geometry)}) == 3
    assert len({digest(base), digest(base.to_crs("EPSG:4326"))}) == 2
    assert digest(base) == digest(base.copy())


# --------------------------------------------------------------------------- population


def tracts_and_wards(
    pop: tuple[int, int] = (100, 60),
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    tracts = gpd.GeoDataFrame(
        {"area_id": ["24510000100", "24510000200"], "pop_2020": list(pop)},
        geometry=[box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 200, Y0 + 100)],
        crs=MD,
    )
    wards = gpd.GeoDataFrame(
        {"area_id": ["A", "B"]},
        geometry=[box(X0, Y0, X0 + 50, Y0 + 100), box(X0 + 50, Y0, X0 + 200, Y0 + 100)],
        crs=MD,
    )
    return tracts, wards


def populate(
    caplog: pytest.LogCaptureFixture, pop: tuple[int, int] = (100, 60)
) -> tuple[pd.DataFrame, list]:
    tracts, wards = tracts_and_wards(pop)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="geo311"):
        result = layer_population(wards, tracts=tracts)
    return result, [(r.name, r.levelno, r.getMessage()) for r in caplog.records]


@pytest.fixture
def population_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path))
    return tmp_path / "population"


def test_warm_population_equals_cold_and_replays_the_log(
    population_cache: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold, cold_lines = populate(caplog)
    assert cold["population"].tolist() == [50.0, 110.0]
    assert len(list(population_cache.glob("*.npz"))) == 1
    below = [line for line in cold_lines if "fewer than 100 residents" in line[2]]
    assert [line[:2] for line in below] == [("geo311.population.layer", logging.WARNING)]

    def refuse(*_: object, **__: object) -> None:
        msg = "interpolated again instead of using the cache"
        raise AssertionError(msg)

    monkeypatch.setattr(population_layer, "interpolate", refuse)
    warm, warm_lines = populate(caplog)
    pd.testing.assert_frame_equal(warm, cold, check_exact=True)
    assert warm.attrs == cold.attrs
    assert warm_lines == cold_lines


def test_changed_tract_values_are_interpolated_again(
    population_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    populate(caplog)
    changed, _ = populate(caplog, pop=(200, 60))
    assert changed["population"].tolist() == [100.0, 160.0]
    assert len(list(population_cache.glob("*.npz"))) == 2
    tracts, wards = tracts_and_wards()
    layer_population(wards, tracts=tracts, min_share=0.2)  # another option, another entry
    assert len(list(population_cache.glob("*.npz"))) == 3


def test_a_changed_table_is_interpolated_again(population_cache: Path) -> None:
    """A tract table given to layer_population is part of the key, values and all."""
    tracts, wards = tracts_and_wards()

    def table(pop: list[int]) -> Denominators:
        frame = pd.DataFrame({"geoid": ["24510000100", "24510000200"], "population": pop})
        return tract_table_from_frame(frame, source="table")

    first = layer_population(wards, tracts=tracts, table=table([100, 60]))
    second = layer_population(wards, tracts=tracts, table=table([200, 60]))
    assert first["population"].tolist() == [50.0, 110.0]
    assert second["population"].tolist() == [100.0, 160.0]
    assert len(list(population_cache.glob("*.npz"))) == 2


def test_damaged_population_entry_is_rebuilt_with_a_warning(
    population_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cold, cold_lines = populate(caplog)
    (entry,) = population_cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    healed, lines = populate(caplog)
    pd.testing.assert_frame_equal(healed, cold, check_exact=True)
    assert healed.attrs == cold.attrs
    warnings = [(n, lvl) for n, lvl, m in lines if "removing it and rebuilding" in m]
    assert warnings == [("geo311.cache", logging.WARNING)]
    assert [line for line in lines if "removing it" not in line[2]] == cold_lines
    populate(caplog)
    assert not [r for r in caplog.records if r.name == "geo311.cache"]


def manifest_wards(tmp_path: Path, units: tuple[int, int]) -> Layer:
    """The wards as a manifest layer whose city declares an outline and an ancillary layer.

    The ancillary polygons split the city at x = 25 m with ``units`` housing
    units, so the dasymetric weights move people between the wards.
    """
    _, wards = tracts_and_wards()
    outline = tmp_path / "outline.gpkg"
    gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 200, Y0 + 100)], crs=MD).to_file(outline)
    ancillary = tmp_path / "housing.gpkg"
    gpd.GeoDataFrame(
        {"units": list(units)},
        geometry=[box(X0, Y0, X0 + 25, Y0 + 100), box(X0 + 25, Y0, X0 + 200, Y0 + 100)],
        crs=MD,
    ).to_file(ancillary)
    inputs = DenominatorInputs(
        outline=outline,
        outline_crs=MD,
        ancillary=ancillary,
        ancillary_spec=AncillarySpec(layer="blocks", vintage="2020", field="units"),
    )
    return Layer(key="wards", vintage="2010", frame=wards, projected_crs=MD, denominators=inputs)


def test_warm_population_reads_no_denominator_file_and_follows_their_bytes(
    population_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key holds the outline and ancillary files' hashes: a hit reads neither as a layer."""
    tracts, _ = tracts_and_wards()
    wards = manifest_wards(tmp_path, (100, 10))
    cold = layer_population(wards, tracts=tracts)
    assert cold.attrs["population_method"] == "dasymetric"
    assert cold["population"].iloc[0] > 50  # the dense strip lies in ward A

    def refuse(path: Path) -> None:
        msg = f"read {path} on a warm run"
        raise AssertionError(msg)

    layers_module.read_boundary_content.cache_clear()  # as in a new process
    with monkeypatch.context() as patch:
        patch.setattr(layers_module, "read_boundary_file", refuse)
        warm = layer_population(wards, tracts=tracts)
    pd.testing.assert_frame_equal(warm, cold, check_exact=True)
    assert len(list(population_cache.glob("*.npz"))) == 1

    edited = layer_population(manifest_wards(tmp_path, (10, 100)), tracts=tracts)
    assert edited["population"].iloc[0] < cold["population"].iloc[0]
    assert len(list(population_cache.glob("*.npz"))) == 2


def test_an_ancillary_boundary_file_is_read_once_for_validation_and_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocks are a layer and the dasymetric mask: a cold run reads their file once."""
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "city"
    root.mkdir()
    cells(bow_tie=False).to_file(root / "wards.gpkg")
    cells(bow_tie=False).assign(units=[10, 20, 30, 40]).to_file(root / "blocks.gpkg")
    declared = 'ancillary = { layer = "blocks", vintage = "2020", field = "units" }\n'
    (root / "cachetown.toml").write_text(
        MANIFEST.replace("\n[layers.wards]", declared + "[layers.wards]")
    )
    reads: list[str] = []
    read = layers_module.read_boundary_file

    def counted(path: Path) -> gpd.GeoDataFrame:
        reads.append(path.name)
        return read(path)

    monkeypatch.setattr(layers_module, "read_boundary_file", counted)
    layers = load_layers(root / "cachetown.toml")
    tracts, _ = tracts_and_wards()
    result = layer_population(
        layers["wards"][0], tracts=tracts.assign(area_id=["24510000100", "24510000200"])
    )
    assert result.attrs["population_method"] == "dasymetric"
    assert sorted(reads) == ["blocks.gpkg", "wards.gpkg"]


def test_captured_lines_are_written_even_when_the_work_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("geo311.population.layer")
    before = (log.level, log.propagate)

    def fail() -> None:
        log.warning("half done")
        msg = "broken input"
        raise ValueError(msg)

    with (
        caplog.at_level(logging.WARNING, logger="geo311"),
        pytest.raises(ValueError, match="broken"),
    ):
        captured_logs(fail, ["geo311.population"])
    assert [r.getMessage() for r in caplog.records] == ["half done"]
    assert (log.level, log.propagate) == before
    assert logging.getLogger("geo311.population").propagate


def test_a_shapefile_key_follows_its_sidecars(tmp_path: Path) -> None:
    """Names live in the .dbf and the CRS in the .prj: editing either changes the key."""
    path = tmp_path / "wards.shp"
    frame = gpd.GeoDataFrame({"ward": ["1"], "label": ["North"]}, geometry=[box(0, 0, 1, 1)])
    frame.set_crs("EPSG:4326").to_file(path)
    shp = layers_module._sha256_file(path)
    first = layers_module._content_sha256(path, shp)
    frame.assign(label=["South"]).set_crs("EPSG:4326").to_file(path)  # same .shp bytes
    assert layers_module._sha256_file(path) == shp
    renamed = layers_module._content_sha256(path, shp)
    frame.assign(label=["South"]).set_crs("EPSG:3857").to_file(path)
    assert len({first, renamed, layers_module._content_sha256(path, shp)}) == 3
    geojson = tmp_path / "wards.geojson"
    frame.set_crs("EPSG:4326").to_file(geojson)
    digest = layers_module._sha256_file(geojson)
    assert layers_module._content_sha256(geojson, digest) == digest

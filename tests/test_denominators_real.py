"""Default denominators on the real layers (issue 13 item 2 "done when").

Baltimore: the neighbourhood and council-district files carry ``pop_2020``
summed from 2020 census blocks (shared/data/baltimore/PROVENANCE.md); the
default denominators must match it (used as is), tract interpolation alone
(the same layers with ``pop_2020`` removed) must misplace at most 10 % of
residents, and every area under 100 residents must be flagged.  Los Angeles
ships no tract polygons and no land outline: its layers declare no
denominators and load without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from conftest import script_module

from geo311.join.files import manifest_folder
from geo311.join.layers import load_layers
from geo311.join.manifest import load_manifest


@pytest.fixture(scope="module")
def script() -> Iterator[ModuleType]:
    with script_module("interpolation_accuracy") as module:
        yield module


@pytest.fixture(scope="module")
def rows(script: ModuleType, shared_data: Path) -> dict[tuple[str, str], dict]:
    return {(r["layer"], r["vintage"]): r for r in script.defaults_table(shared_data)}


def test_baltimore_manifest_declares_block_population_outline_and_ancillary() -> None:
    manifest = load_manifest("baltimore")
    assert manifest.city_outline is not None
    assert manifest.city_outline.file == "city_boundary_land.geojson"
    assert manifest.ancillary is not None
    declared = {
        (key, v.vintage)
        for key, spec in manifest.layers.items()
        for v in spec.vintages
        if v.population_field == "pop_2020"
    }
    assert declared == {
        ("neighborhoods", "2010"),
        ("neighborhoods", "2020"),
        ("council_districts", "2012"),
        ("census_tracts", "2020"),
    }


@pytest.mark.parametrize(
    ("layer", "vintage", "alone", "old"),
    [
        ("neighborhoods", "2010", 0.10, 0.15),
        ("neighborhoods", "2020", 0.10, 0.15),
        ("council_districts", "2012", 0.015, 0.014),
    ],
)
def test_baltimore_misplaced_shares(rows: dict, layer: str, vintage: str, alone, old) -> None:
    row = rows[layer, vintage]
    assert row["method"] == "layer_field"
    assert row["default"] == pytest.approx(0.0, abs=1e-12)
    assert row["tracts_only"] <= alone
    assert row["plain_area"] > old  # the old default was worse
    assert row["tracts_only"] < row["plain_area"]
    assert row["unallocated"] == pytest.approx(0.0)


def test_baltimore_layers_without_truth_are_dasymetric(rows: dict) -> None:
    for key in [("csas", "2010"), ("police_districts", "2023"), ("zip_codes", "2010")]:
        assert rows[key]["method"] == "dasymetric"
        assert rows[key]["default"] is None


def test_baltimore_small_neighbourhoods_are_flagged(rows: dict, shared_data: Path) -> None:
    # 19 neighbourhoods of each set have fewer than 100 block residents (issue 13)
    assert rows["neighborhoods", "2010"]["below_100"] == 19
    assert rows["neighborhoods", "2020"]["below_100"] == 19


def test_los_angeles_declares_no_denominators(shared_data: Path) -> None:
    manifest = load_manifest("los_angeles")
    assert manifest_folder(manifest) is None  # built in: files are not looked for beside it
    assert manifest.city_outline is None
    assert manifest.ancillary is None
    layers = load_layers("los_angeles", data_dir=shared_data)
    for vintages in layers.values():
        for layer in vintages:
            assert layer.denominators is None
            assert layer.population_field is None


def test_defaults_report_lists_every_row(script: ModuleType, rows: dict) -> None:
    text = script.defaults_report(list(rows.values()))
    lines = text.splitlines()
    assert lines[0] == "# Default denominators vs 2020 block population (Baltimore)"
    table = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert len(table) == len(rows) == 7
    assert "| neighborhoods | 2010 | 278 | layer_field | 0.0% |" in text
    assert "| csas | 2010 | 56 | dasymetric | no block truth |" in text

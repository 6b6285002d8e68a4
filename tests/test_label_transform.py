"""Tests for geo311.join.label_transform: a manifest's label transform, checked and applied.

The synthetic city "wardville" has three wards in a row (ids "1", "2", "3")
and an export whose ``Ward`` column says "Ward 3", "WARD 02", "City Hall" ...
as a real city's might: label QA only agrees once the manifest declares a
transform.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geo311 import join_city, load_manifest, requests_from_frame
from geo311.join.label_transform import parse_label_transform
from geo311.join.manifest import ManifestError

U = 0.01
X0, Y0 = -118.30, 34.05
NOW = "2024-05-01T09:30:00Z"

MANIFEST = """
city = "wardville"
title = "Wardville"
timezone = "America/Los_Angeles"
projected_crs = "EPSG:26945"

[layers.wards]
title = "Wards"
id_field = "ward"
name_field = "ward_name"
display = "Ward {{id}}"
{label}

[[layers.wards.vintages]]
vintage = "2020"
source = "synthetic"
publisher = "tests"
file = "wards.geojson"
crs = "EPSG:4326"
"""
TRANSFORM = '{ strip_prefix = ["Ward", "W"], map = { "City Hall" = "1", "Citywide" = "" } }'


def transform(**steps: object) -> pd.Series:
    """Apply a transform declared as ``steps`` to the module's sample labels."""
    problems: list[str] = []
    spec = parse_label_transform(steps, "[layers.x] label.transform", problems)
    assert spec is not None, problems
    return spec.apply(SAMPLE)


SAMPLE = pd.Series(
    ["Ward 3", "WARD 02", " w7 ", "CD 04", "District 7", "7", "Citywide", "Ward", None],
    index=range(10, 19),
)


# --------------------------------------------------------------------------- the steps


def test_strip_prefix_ignores_case_and_keeps_labels_without_it() -> None:
    got = transform(strip_prefix=["Ward", "W"])
    assert got.tolist()[:6] == ["3", "02", "7", "CD 04", "District 7", "7"]
    assert got.iloc[7] == "Ward"  # the prefix alone is a label, not an empty one
    assert pd.isna(got.iloc[8])
    assert got.index.equals(SAMPLE.index)
    assert SAMPLE.iloc[1] == "WARD 02"  # the input is not modified


def test_only_the_longest_prefix_that_fits_is_removed() -> None:
    problems: list[str] = []
    spec = parse_label_transform({"strip_prefix": ["W", "Ward"]}, "w", problems)
    assert spec is not None
    assert spec.apply(pd.Series(["Ward W3", "W3"])).tolist() == ["W3", "3"]


def test_strip_suffix() -> None:
    problems: list[str] = []
    spec = parse_label_transform({"strip_suffix": " nc"}, "w", problems)
    assert spec is not None
    assert spec.apply(pd.Series(["Boyle Heights NC", "NC", "Venice"])).tolist() == [
        "Boyle Heights",
        "NC",
        "Venice",
    ]


def test_regex_takes_its_group_and_keeps_what_it_does_not_match() -> None:
    got = transform(regex=r"(\d+)\s*$")
    assert got.tolist()[:7] == ["3", "02", "7", "04", "7", "7", "Citywide"]


def test_zero_pad_pads_only_numbers() -> None:
    got = transform(regex=r"(\d+)$", zero_pad=2)
    assert got.tolist()[:7] == ["03", "02", "07", "04", "07", "07", "Citywide"]


def test_map_is_checked_first_and_empty_means_no_label() -> None:
    got = transform(map={"district 7": "9", "CITYWIDE": ""}, strip_prefix="Ward")
    assert got.iloc[4] == "9"  # mapped, whatever the other steps would do
    assert got.iloc[0] == "3"
    assert pd.isna(got.iloc[6])
    assert transform(map={"7": 7}).iloc[5] == "7"  # integer replacements are text


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ('{ regex = "(\\\\d+" }', "label.transform: regex '(\\\\d+' is not a valid regular"),
        ('{ regex = "\\\\d+" }', "regex '\\\\d+' must have exactly one capture group"),
        ('{ regex = "(W)(\\\\d+)" }', "it has 2; write other groups as (?:...)"),
        ("{ zero_pad = 0 }", "zero_pad must be a width from 1 to 20, got 0"),
        ('{ zero_pad = "2" }', "zero_pad must be a width from 1 to 20, got '2'"),
        ("{ strip_prefix = 3 }", "strip_prefix must be non-empty text or a list of texts"),
        ('{ strip_suffix = [""] }', "strip_suffix must be non-empty text"),
        ('{ map = { "A" = 1.5 } }', "map must be a table of label = replacement"),
        ('{ map = { "a" = "1", "A" = "2" } }', "map lists 'A' twice"),
        ("{ pad = 2 }", "label.transform has unknown keys ['pad']"),
        ('"Ward"', "label.transform must be a table"),
    ],
)
def test_invalid_transforms_name_the_file_layer_and_key(
    tmp_path: Path, declared: str, message: str
) -> None:
    path = tmp_path / "wardville.toml"
    label = f'label = {{ column = "Ward", match = "id", transform = {declared} }}'
    path.write_text(MANIFEST.format(label=label), encoding="utf-8")
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    text = str(caught.value)
    assert str(path) in text.splitlines()[0]
    (line,) = [ln for ln in text.splitlines() if "[layers.wards] label.transform" in ln]
    assert message in line


# --------------------------------------------------------------------------- label QA


@pytest.fixture(scope="module")
def wardville(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The wards' folder (boundary file; manifests written by the tests) and its requests."""
    folder = tmp_path_factory.mktemp("wardville")
    wards = gpd.GeoDataFrame(
        {"ward": ["1", "2", "3"], "ward_name": ["North", "Middle", "South"]},
        geometry=[box(X0 + i * U, Y0, X0 + (i + 1) * U, Y0 + U) for i in range(3)],
        crs="EPSG:4326",
    )
    wards.to_file(folder / "wards.geojson", driver="GeoJSON")
    labels = ["Ward 1", "WARD 2", "ward 3", "W3", "Ward 01", "City Hall", "Citywide", "Ward 2"]
    wards_in = [1, 2, 3, 3, 1, 1, 2, 2]
    raw = pd.DataFrame(
        {
            "service_request_id": [f"r{i}" for i in range(len(labels))],
            "status": "open",
            "requested_datetime": NOW,
            "lat": str(Y0 + U / 2),
            "long": [str(X0 + (w - 0.5) * U) for w in wards_in],
            "Ward": labels,
        }
    )
    requests, _ = requests_from_frame(raw, schema="open311", as_of="2025-01-01", keep_raw=True)
    return folder, requests


def _qa(folder: Path, requests: pd.DataFrame, label: str, name: str) -> object:
    path = folder / f"{name}.toml"
    path.write_text(MANIFEST.format(label=label), encoding="utf-8")
    joined = join_city(requests, city=path, qa=True)
    (check,) = joined.checks
    return check


def test_ward_labels_agree_only_with_a_transform(wardville) -> None:
    folder, requests = wardville
    plain = _qa(folder, requests, 'label = { column = "Ward", match = "id" }', "plain")
    assert (plain.compared, plain.agree) == (8, 0)
    assert plain.categories["unknown_label"] == 8
    label = f'label = {{ column = "Ward", match = "id", transform = {TRANSFORM} }}'
    check = _qa(folder, requests, label, "transformed")
    assert check.agreement == 1.0
    assert check.compared == 7
    assert check.not_compared["no_label"] == 1  # "Citywide" maps to no label
    assert check.to_dict()["transform"] == {
        "map": {"city hall": "1", "citywide": ""},
        "strip_prefix": ["Ward", "W"],
    }


def test_mismatches_show_the_label_and_what_it_became(wardville) -> None:
    folder, requests = wardville
    label = 'label = { column = "Ward", match = "id", transform = { strip_prefix = "Ward" } }'
    check = _qa(folder, requests, label, "prefix_only")
    assert check.agree == 5  # "W3" and "City Hall" are left as they are; "Citywide" too
    assert {
        "label": "City Hall",
        "compared_as": "City Hall",
        "assigned": "1",
        "category": "unknown_label",
        "count": 1,
    } in check.top_mismatches
    assert "'W3' (as 'W3') -> '3'  [unknown_label]" in check.summary()

"""Service type selection: the user's words resolved to exact names, never silently empty."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import geo311
from geo311._errors import OptionError
from geo311.indicators.selection import resolve_types, service_types_present
from geo311.join.manifest import ManifestError, load_manifest

FAMILIES = {"missed pickup": ("SW-Mixed Refuse", "SW-Recycling", "SW-Not In This Sample")}


@pytest.fixture
def requests() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "service_name": [
                "SW-Mixed Refuse",
                "SW-Recycling",
                "SW-Recycling",
                "SW-Trash Can/Recycling Container Complaint",
                "Pothole",
                None,
            ],
            "service_code": [None, None, None, None, None, "STREETLIGHT-OUT"],
        }
    )


def test_terms_match_ignoring_case_and_by_part_of_the_name(requests: pd.DataFrame) -> None:
    before = requests.copy()
    chosen = resolve_types(requests, types=["mixed  REFUSE", "recycling"])
    assert chosen is not None
    assert dict(chosen.matches) == {
        # the name after its agency prefix: not every type that mentions recycling
        "mixed  REFUSE": ("SW-Mixed Refuse",),
        "recycling": ("SW-Recycling",),
    }
    assert chosen.types == ("SW-Mixed Refuse", "SW-Recycling")
    assert chosen.metadata()["terms"]["recycling"] == list(chosen.matches["recycling"])
    pd.testing.assert_frame_equal(requests, before)
    # a part of names: every type containing it is used, and said so
    part = resolve_types(requests, types=["REcycl"])
    assert part is not None
    assert part.types == ("SW-Recycling", "SW-Trash Can/Recycling Container Complaint")
    assert "SW-Trash Can/Recycling Container Complaint" in part.describe()


def test_a_whole_name_matches_only_itself(requests: pd.DataFrame) -> None:
    chosen = resolve_types(requests, types=["sw-recycling"])
    assert chosen is not None
    assert chosen.types == ("SW-Recycling",)


def test_service_codes_are_matched_too(requests: pd.DataFrame) -> None:
    chosen = resolve_types(requests, types=["streetlight"])
    assert chosen is not None
    assert chosen.types == ("STREETLIGHT-OUT",)


def test_nothing_asked_is_no_selection(requests: pd.DataFrame) -> None:
    assert resolve_types(requests) is None
    assert resolve_types(requests, types=[], families=[]) is None


def test_a_typo_raises_with_suggestions(requests: pd.DataFrame) -> None:
    with pytest.raises(OptionError, match=r'"recyclng".*did you mean "SW-Recycling"'):
        resolve_types(requests, types=["recyclng"])
    with pytest.raises(OptionError, match='did you mean "SW-Mixed Refuse"'):
        resolve_types(requests, types=["mixd refuse"])


def test_a_term_far_from_every_name_lists_the_most_frequent(requests: pd.DataFrame) -> None:
    with pytest.raises(OptionError, match='most frequent are "SW-Recycling"'):
        resolve_types(requests, types=["zzzz"])


def test_a_blank_term_is_refused(requests: pd.DataFrame) -> None:
    with pytest.raises(OptionError, match="needs a service type name"):
        resolve_types(requests, types=["  "])


def test_families_pick_their_types_present(
    requests: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    chosen = resolve_types(requests, families=["Missed Pickup"], family_types=FAMILIES)
    assert chosen is not None
    assert dict(chosen.families) == {"missed pickup": ("SW-Mixed Refuse", "SW-Recycling")}
    assert chosen.label == "missed pickup"
    assert "SW-Not In This Sample" in caplog.text  # a member absent from the data: a warning
    assert any(r.levelname == "WARNING" for r in caplog.records)


def test_an_unknown_family_suggests_the_city_families(requests: pd.DataFrame) -> None:
    with pytest.raises(OptionError, match=r'"missed pickups".*did you mean "missed pickup"'):
        resolve_types(requests, families=["missed pickups"], family_types=FAMILIES)
    with pytest.raises(OptionError, match=r"add a \[families\] table"):
        resolve_types(requests, families=["missed pickup"], family_types={})


def test_a_family_with_none_of_its_types_present_raises(requests: pd.DataFrame) -> None:
    with pytest.raises(OptionError, match="none of which is among the service types"):
        resolve_types(requests, families=["bulky"], family_types={"bulky": ["Bulky Items"]})


def test_types_present_counts_names_and_codes(requests: pd.DataFrame) -> None:
    present = service_types_present(requests)
    assert present.index[0] == "SW-Recycling"
    assert present["SW-Recycling"] == 2
    assert present["STREETLIGHT-OUT"] == 1
    assert service_types_present(pd.DataFrame({"x": [1]})).empty


def test_the_city_manifests_define_families() -> None:
    assert load_manifest("baltimore").families["missed pickup"] == (
        "SW-Mixed Refuse",
        "SW-Recycling",
    )
    assert "Bulky Items" in load_manifest("los_angeles").families["bulky items"]


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('"missed pickup" = []', "non-empty list"),
        ('"missed pickup" = "SW-Recycling"', "non-empty list"),
        ('"a" = ["x"]\n"A" = ["y"]', "defined twice"),
    ],
)
def test_manifest_families_are_validated_at_load(tmp_path: Path, table: str, problem: str) -> None:
    text = (Path(geo311.__file__).parent / "boundaries" / "baltimore.toml").read_text(
        encoding="utf-8"
    )
    start = text.index("[families]")
    end = text.index("\n[layers.", start)
    bad = text[:start] + "[families]\n" + table + "\n" + text[end:]
    path = tmp_path / "city.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ManifestError, match=problem):
        load_manifest(path)

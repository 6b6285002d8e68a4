"""Tests for geo311.population (tracts, interpolation, layer): tract tables, areal interpolation, per-layer denominators.

Hand-made geometries are squares in EPSG:26985 (NAD83 / Maryland, metres)
near the origin of the projection, so every area is a round number of square
metres and every expectation is worked out by hand in the test.  The real-data
tests read ``shared/data/baltimore`` (see PROVENANCE.md there): the tract table
and the neighbourhood and council-district files whose ``pop_2020`` column was
built from 2020 census blocks, the near-truth the interpolation is scored
against.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import script_module
from scipy.sparse import csr_matrix
from shapely import box

from geo311._errors import CRSError, InputFileError, SchemaError
from geo311.join.layers import read_layer
from geo311.population.interpolation import interpolate, land_use_weights
from geo311.population.layer import layer_population
from geo311.population.tracts import Denominators, read_tract_table, tract_table_from_frame

MD = "EPSG:26985"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "interpolation_accuracy.py"
BALTIMORE_TOTAL = 585_708


def squares(values: dict[str, list[float]], boxes: list[tuple[float, ...]], crs=MD):
    return gpd.GeoDataFrame(values, geometry=[box(*b) for b in boxes], crs=crs)


@pytest.fixture
def grid() -> gpd.GeoDataFrame:
    """2 x 2 source squares of 100 m (10,000 m² each): SW, SE, NW, NE."""
    return squares(
        {
            "pop": [100.0, 200.0, 300.0, 400.0],
            "pop_moe": [10.0, 20.0, 30.0, 40.0],
            "income": [10.0, 20.0, 30.0, 40.0],
            "income_moe": [1.0, 2.0, 3.0, 4.0],
        },
        [(0, 0, 100, 100), (100, 0, 200, 100), (0, 100, 100, 200), (100, 100, 200, 200)],
    )


def snapshot(frame: gpd.GeoDataFrame):
    return frame.copy(deep=True), copy.deepcopy(frame.attrs), frame.geometry.to_wkb().tolist()


def assert_unchanged(frame: gpd.GeoDataFrame, before) -> None:
    copy_, attrs, wkb = before
    pd.testing.assert_frame_equal(pd.DataFrame(frame), pd.DataFrame(copy_))
    assert frame.attrs == attrs
    assert frame.geometry.to_wkb().tolist() == wkb
    assert frame.crs == copy_.crs


# --------------------------------------------------------------------------- hand-made


def test_extensive_and_intensive_by_hand(grid) -> None:
    # Target "C" = [50,200] x [50,150] overlaps SW in [50,100]x[50,100] = 2,500 m²,
    # SE in [100,200]x[50,100] = 5,000, NW in [50,100]x[100,150] = 2,500,
    # NE in [100,200]x[100,150] = 5,000: 15,000 m² in all.
    # Target "rest" is the remainder of the 200 x 200 block, so the two tile the sources.
    rest = shapely.difference(box(0, 0, 200, 200), box(50, 50, 200, 150))
    target = gpd.GeoDataFrame(
        {"area_id": ["C", "rest"]}, geometry=[box(50, 50, 200, 150), rest], crs=MD
    )
    out = interpolate(grid, target, extensive="pop", intensive="income")
    # extensive: 100*0.25 + 200*0.5 + 300*0.25 + 400*0.5 = 25 + 100 + 75 + 200 = 400
    assert out.loc["C", "pop"] == pytest.approx(400.0, rel=1e-12)
    # the rest gets 1,000 - 400 = 600: 75 + 100 + 225 + 200
    assert out.loc["rest", "pop"] == pytest.approx(600.0, rel=1e-12)
    # intensive: (10*2500 + 20*5000 + 30*2500 + 40*5000) / 15000 = 400000/15000
    assert out.loc["C", "income"] == pytest.approx(400_000 / 15_000, rel=1e-12)
    # rest: SW 7500, SE 5000, NW 7500, NE 5000 of 25,000 m²
    # (10*7500 + 20*5000 + 30*7500 + 40*5000) / 25000 = 600000/25000 = 24
    assert out.loc["rest", "income"] == pytest.approx(24.0, rel=1e-12)
    # MOE, extensive: sqrt((0.25*10)^2 + (0.5*20)^2 + (0.25*30)^2 + (0.5*40)^2)
    #   = sqrt(6.25 + 100 + 56.25 + 400) = sqrt(562.5)
    assert out.loc["C", "pop_moe"] == pytest.approx(math.sqrt(562.5), rel=1e-12)
    # MOE, intensive: weights 1/6, 1/3, 1/6, 1/3 -> sqrt((1/6)^2 + (2/3)^2 + (3/6)^2 + (4/3)^2)
    #   = sqrt((1 + 16 + 9 + 64) / 36) = sqrt(2.5)
    assert out.loc["C", "income_moe"] == pytest.approx(math.sqrt(2.5), rel=1e-12)
    assert list(out.columns) == ["pop", "pop_moe", "income", "income_moe", "covered_share"]
    assert out.index.name == "area_id"
    assert out.index.tolist() == ["C", "rest"]
    assert out["covered_share"].tolist() == pytest.approx([1.0, 1.0])
    totals = out.attrs["totals"]["pop"]
    assert totals["source"] == 1000.0
    assert totals["target"] == pytest.approx(1000.0, rel=1e-12)
    assert abs(totals["difference"]) < 1e-9
    assert out.attrs["method"] == "area_weighted"
    assert out.attrs["crs"] == MD
    assert out.attrs["pairs"] == 8


def test_moe_of_a_target_inside_one_source_is_that_share(grid) -> None:
    # a 50 x 50 square inside SW: a quarter of SW -> pop 25, MOE 0.25 * 10 = 2.5;
    # intensive: the SW value and its MOE unchanged (one source, weight 1)
    target = squares({"area_id": ["q"]}, [(0, 0, 50, 50)])
    out = interpolate(grid, target, extensive="pop", intensive="income")
    assert out.loc["q", "pop"] == pytest.approx(100.0)  # allocate_total: SW's only target
    out = interpolate(grid, target, extensive="pop", intensive="income", allocate_total=False)
    assert out.loc["q", "pop"] == pytest.approx(25.0)
    assert out.loc["q", "pop_moe"] == pytest.approx(2.5)
    assert out.loc["q", "income"] == pytest.approx(10.0)
    assert out.loc["q", "income_moe"] == pytest.approx(1.0)


def test_explicit_moe_mapping_and_none(grid) -> None:
    renamed = grid.rename(columns={"pop_moe": "pop_M"})
    out = interpolate(renamed, squares({"area_id": ["a"]}, [(0, 0, 200, 200)]), extensive="pop")
    assert "pop_moe" not in out.columns  # no <var>_moe column, no MOE
    out = interpolate(
        renamed,
        squares({"area_id": ["a"]}, [(0, 0, 200, 200)]),
        extensive="pop",
        moe={"pop": "pop_M"},
    )
    # one target covering all: sqrt(10^2 + 20^2 + 30^2 + 40^2) = sqrt(3000)
    assert out.loc["a", "pop_moe"] == pytest.approx(math.sqrt(3000))
    with pytest.raises(SchemaError, match="not interpolated"):
        interpolate(renamed, renamed.assign(area_id=list("abcd")), moe={"x": "pop_M"})


def test_intensive_with_partial_coverage(grid) -> None:
    # target [150,250] x [0,100]: half over SE (value 20), half outside every source.
    # intensive = mean over the covered part = 20 (not diluted by the empty half);
    # extensive with allocate_total: SE's only target -> all of SE's 200;
    # without: half of SE's area -> 100.
    target = squares({"area_id": ["edge"]}, [(150, 0, 250, 100)])
    out = interpolate(grid, target, extensive="pop", intensive="income")
    assert out.loc["edge", "income"] == pytest.approx(20.0)
    assert out.loc["edge", "income_moe"] == pytest.approx(2.0)
    assert out.loc["edge", "pop"] == pytest.approx(200.0)
    assert out.loc["edge", "covered_share"] == pytest.approx(0.5)
    # three sources touch no target at all: their 800 are not allocated
    assert out.attrs["sources_outside_targets"] == 3
    assert out.attrs["totals"]["pop"]["difference"] == pytest.approx(-800.0)
    half = interpolate(grid, target, extensive="pop", allocate_total=False)
    assert half.loc["edge", "pop"] == pytest.approx(100.0)
    assert half.attrs["totals"]["pop"]["difference"] == pytest.approx(-900.0)


def test_target_not_fully_covered_and_target_outside(grid) -> None:
    # "big" = [-100,200] x [0,200]: the whole grid (40,000 m²) plus 20,000 m² outside;
    # "away" lies outside every source.
    target = squares({"area_id": ["big", "away"]}, [(-100, 0, 200, 200), (500, 500, 600, 600)])
    out = interpolate(grid, target, extensive="pop", intensive="income")
    assert out.loc["big", "pop"] == pytest.approx(1000.0)
    assert out.loc["big", "covered_share"] == pytest.approx(40_000 / 60_000)
    # equal areas: (10 + 20 + 30 + 40) / 4 = 25
    assert out.loc["big", "income"] == pytest.approx(25.0)
    # nothing reaches "away": 0 people, no mean, no MOE, 0 coverage
    assert out.loc["away", "pop"] == 0.0
    assert out.loc["away", "pop_moe"] == 0.0
    assert np.isnan(out.loc["away", "income"])
    assert np.isnan(out.loc["away", "income_moe"])
    assert out.loc["away", "covered_share"] == 0.0


def test_allocate_total_false_loses_the_part_outside(grid) -> None:
    # targets cover only the bottom row [0,200] x [0,50]: half of SW and of SE.
    target = squares({"area_id": ["w", "e"]}, [(0, 0, 100, 50), (100, 0, 200, 50)])
    kept = interpolate(grid, target, extensive="pop")
    lost = interpolate(grid, target, extensive="pop", allocate_total=False)
    assert kept["pop"].tolist() == pytest.approx([100.0, 200.0])
    assert lost["pop"].tolist() == pytest.approx([50.0, 100.0])
    # NW and NE (700 people) touch no target either way
    assert kept.attrs["totals"]["pop"]["difference"] == pytest.approx(-700.0)
    assert lost.attrs["totals"]["pop"]["difference"] == pytest.approx(-850.0)
    assert lost.attrs["allocate_total"] is False


def test_missing_values(grid) -> None:
    # SE has no pop and no income. Extensive: a target receiving a share of SE is missing
    # (its sum is unknown); intensive: the mean over the sources with a value.
    holes = grid.assign(pop=[100.0, np.nan, 300.0, 400.0], income=[10.0, np.nan, 30.0, 40.0])
    target = squares({"area_id": ["bottom", "west"]}, [(0, 0, 200, 100), (0, 100, 100, 200)])
    out = interpolate(holes, target, extensive="pop", intensive="income")
    assert np.isnan(out.loc["bottom", "pop"])
    assert out.loc["west", "pop"] == pytest.approx(300.0)
    # bottom: SW only has a value -> 10 (weights re-normalised over SW)
    assert out.loc["bottom", "income"] == pytest.approx(10.0)
    assert out.loc["bottom", "income_moe"] == pytest.approx(1.0)
    assert out.attrs["totals"]["pop"]["source"] == 800.0  # missing values skipped


def test_integer_columns_and_index_target(grid) -> None:
    ints = grid.assign(pop=[100, 200, 300, 400])
    target = squares({"name": ["all"]}, [(0, 0, 200, 200)]).set_index(pd.Index([7], name="k"))
    out = interpolate(ints, target, extensive="pop", target_id=None)
    assert out.index.tolist() == [7]
    assert out.index.name == "k"
    assert out.loc[7, "pop"] == pytest.approx(1000.0)


def test_inputs_are_not_mutated(grid) -> None:
    holes = grid.assign(income=[10.0, np.nan, 30.0, 40.0])
    holes.attrs["source"] = "hand"
    target = squares({"area_id": ["a", "b"]}, [(0, 0, 150, 200), (150, 0, 200, 200)], crs=MD)
    target = target.to_crs("EPSG:4326")
    mask = squares({"weight": [2.0]}, [(0, 0, 60, 200)])
    before = [snapshot(holes), snapshot(target), snapshot(mask)]
    out = interpolate(
        holes, target, extensive="pop", intensive="income", weights=mask, weight_column="weight"
    )
    for frame, snap in zip([holes, target, mask], before, strict=True):
        assert_unchanged(frame, snap)
    assert out.attrs["source"] == "hand"
    out.loc["a", "pop"] = -1.0  # the output shares nothing with the inputs
    assert_unchanged(holes, before[0])


def test_crs_errors(grid) -> None:
    target = squares({"area_id": ["a"]}, [(0, 0, 100, 100)])
    bare = grid.set_crs(None, allow_override=True)
    with pytest.raises(CRSError) as info:
        interpolate(bare, target, extensive="pop")
    message = str(info.value)
    assert "source" in message
    assert "none" in message
    assert MD in message
    assert "set_crs" in message
    with pytest.raises(CRSError, match=r"target has no CRS .*source: EPSG:26985"):
        interpolate(grid, target.set_crs(None, allow_override=True), extensive="pop")
    with pytest.raises(CRSError, match="weights"):
        interpolate(
            grid, target, extensive="pop", weights=target.set_crs(None, allow_override=True)
        )
    with pytest.raises(CRSError, match="not projected"):
        interpolate(grid, target, extensive="pop", projected_crs="EPSG:4326")
    with pytest.raises(CRSError, match="not a CRS"):
        interpolate(grid, target, extensive="pop", projected_crs="EPSG:nonsense")


def test_inputs_in_different_crs_are_reprojected(grid) -> None:
    target = squares({"area_id": ["a", "b"]}, [(0, 0, 150, 200), (150, 0, 200, 200)])
    same = interpolate(grid, target, extensive="pop", intensive="income")
    other = interpolate(grid, target.to_crs("EPSG:4326"), extensive="pop", intensive="income")
    # a: SW + NW whole + half of SE and NE = 100 + 300 + 100 + 200 = 700; b: 100 + 200 = 300
    assert same["pop"].tolist() == pytest.approx([700.0, 300.0], rel=1e-12)
    pd.testing.assert_frame_equal(same, other, rtol=1e-9)
    assert other.attrs["crs"] == MD  # measured in the source's projected CRS


def test_default_crs_is_utm_for_geographic_inputs(grid) -> None:
    geo = grid.to_crs("EPSG:4326")
    target = squares({"area_id": ["a"]}, [(0, 0, 150, 200)]).to_crs("EPSG:4326")
    out = interpolate(geo, target, extensive="pop")
    assert out.attrs["crs"].startswith("EPSG:326")  # a WGS 84 / UTM zone
    assert out.loc["a", "pop"] == pytest.approx(1000.0)


def test_bad_arguments(grid) -> None:
    target = squares({"area_id": ["a", "a"]}, [(0, 0, 100, 100), (100, 0, 200, 100)])
    with pytest.raises(SchemaError, match="unique"):
        interpolate(grid, target, extensive="pop")
    with pytest.raises(SchemaError, match="no id column 'area_id'"):
        interpolate(grid, target.rename(columns={"area_id": "x"}), extensive="pop")
    with pytest.raises(SchemaError, match="no column 'people'"):
        interpolate(grid, target.assign(area_id=["a", "b"]), extensive="people")
    with pytest.raises(SchemaError, match="both extensive and intensive"):
        interpolate(grid, target.assign(area_id=["a", "b"]), extensive="pop", intensive="pop")
    with pytest.raises(SchemaError, match="not numeric"):
        interpolate(grid.assign(label="x"), target.assign(area_id=["a", "b"]), extensive="label")
    mask = squares({"weight": [-1.0]}, [(0, 0, 10, 10)])
    with pytest.raises(SchemaError, match=">= 0"):
        interpolate(
            grid,
            target.assign(area_id=["a", "b"]),
            extensive="pop",
            weights=mask,
            weight_column="weight",
        )


def test_tracts_onto_themselves_is_the_identity(grid) -> None:
    # neighbouring squares share edges: those pairs have zero area and are dropped,
    # so every value passes through exactly (no floating-point residue).
    target = grid.assign(area_id=list("abcd"))
    out = interpolate(grid, target, extensive="pop", intensive="income")
    assert out["pop"].tolist() == grid["pop"].tolist()
    assert out["income"].tolist() == grid["income"].tolist()
    assert out["pop_moe"].tolist() == grid["pop_moe"].tolist()
    assert out.attrs["pairs"] == 4


def test_logs_one_info_line_with_totals(grid, caplog) -> None:
    target = squares({"area_id": ["a"]}, [(0, 0, 200, 200)])
    with caplog.at_level(logging.INFO, logger="geo311.population.interpolation"):
        interpolate(grid, target, extensive="pop", intensive="income")
    lines = [r.getMessage() for r in caplog.records if r.name == "geo311.population.interpolation"]
    assert len(lines) == 1
    assert "pop 1,000 -> 1,000" in lines[0]
    assert "4 sources to 1 targets" in lines[0]


# --------------------------------------------------------------------------- dasymetric


def test_dasymetric_by_hand() -> None:
    # one 100 x 100 source with 100 people; targets: west and east halves.
    # mask: [0,25] x [0,100] with density 1 (2,500 m² in west) and [50,100] x [0,50]
    # with density 3 (2,500 m² in east, weighted 7,500).
    # west = 100 * 2500 / (2500 + 7500) = 25; east = 100 * 7500 / 10000 = 75.
    source = squares({"pop": [100.0], "pop_moe": [20.0]}, [(0, 0, 100, 100)])
    target = squares({"area_id": ["west", "east"]}, [(0, 0, 50, 100), (50, 0, 100, 100)])
    mask = squares({"density": [1.0, 3.0]}, [(0, 0, 25, 100), (50, 0, 100, 50)])
    plain = interpolate(source, target, extensive="pop")
    assert plain["pop"].tolist() == pytest.approx([50.0, 50.0])
    out = interpolate(source, target, extensive="pop", weights=mask, weight_column="density")
    assert out["pop"].tolist() == pytest.approx([25.0, 75.0], rel=1e-12)
    # MOE: 0.25 * 20 = 5 and 0.75 * 20 = 15
    assert out["pop_moe"].tolist() == pytest.approx([5.0, 15.0], rel=1e-12)
    assert out.attrs["method"] == "dasymetric"
    assert "2 mask polygons" in out.attrs["weights"]
    # without a density column every mask polygon counts 1: 2500 vs 2500 -> 50 / 50
    flat = interpolate(source, target, extensive="pop", weights=mask)
    assert flat["pop"].tolist() == pytest.approx([50.0, 50.0])


def test_dasymetric_intensive_by_hand() -> None:
    # sources A = [0,100]^2 (value 10), B = [100,200] x [0,100] (value 30);
    # target T = [50,150] x [0,100] overlaps each in 5,000 m².
    # plain: (10*5000 + 30*5000) / 10000 = 20.
    # mask [50,110] x [0,100]: 5,000 m² of A's part, 1,000 m² of B's part
    # -> (10*5000 + 30*1000) / 6000 = 80000 / 6000.
    source = squares({"v": [10.0, 30.0]}, [(0, 0, 100, 100), (100, 0, 200, 100)])
    target = squares({"area_id": ["T"]}, [(50, 0, 150, 100)])
    mask = squares({}, [(50, 0, 110, 100)])
    assert interpolate(source, target, intensive="v").loc["T", "v"] == pytest.approx(20.0)
    out = interpolate(source, target, intensive="v", weights=mask)
    assert out.loc["T", "v"] == pytest.approx(80_000 / 6_000, rel=1e-12)


def test_dasymetric_fallbacks() -> None:
    # Source 0 = [0,100] x [0,100] (100 people, v 5) has masked land [0,10] x [0,100];
    # source 1 = [100,200] x [0,100] (60 people, v 7) has none, so it falls back to
    # plain area (all its area counts as inhabited) and its people are not lost.
    # Targets: a = [0,20], gap = [20,60], b = [60,150], park = [150,200] (x ranges).
    source = squares(
        {"pop": [100.0, 60.0], "v": [5.0, 7.0]}, [(0, 0, 100, 100), (100, 0, 200, 100)]
    )
    target = squares(
        {"area_id": ["a", "gap", "b", "park"]},
        [(0, 0, 20, 100), (20, 0, 60, 100), (60, 0, 150, 100), (150, 0, 200, 100)],
    )
    mask = squares({}, [(0, 0, 10, 100)])
    out = interpolate(source, target, extensive="pop", intensive="v", weights=mask)
    # extensive: all of source 0's masked land is in a -> a = 100, gap = 0;
    # source 1 by plain area: [100,150] -> b = 30, [150,200] -> park = 30.
    assert out["pop"].tolist() == pytest.approx([100.0, 0.0, 30.0, 30.0])
    assert out.attrs["fallback_sources"] == 1
    assert out.attrs["totals"]["pop"]["difference"] == pytest.approx(0.0, abs=1e-9)
    # intensive: a = 5 (masked land of source 0); b's inhabited land is its part of
    # source 1 only -> 7; park -> 7; gap has no inhabited land at all -> plain area
    # over its only source -> 5 (counted as a fallback target).
    assert out["v"].tolist() == pytest.approx([5.0, 5.0, 7.0, 7.0])
    assert out.attrs["fallback_targets"] == 1


def test_dasymetric_allocate_total_false() -> None:
    # source [0,100]^2, 100 people; mask covers [0,40] x [0,100] (4,000 m²);
    # target [0,20] x [0,100] holds 2,000 m² of it -> 100 * 2000/4000 = 50
    source = squares({"pop": [100.0]}, [(0, 0, 100, 100)])
    target = squares({"area_id": ["t"]}, [(0, 0, 20, 100)])
    mask = squares({}, [(0, 0, 40, 100)])
    out = interpolate(source, target, extensive="pop", weights=mask, allocate_total=False)
    assert out.loc["t", "pop"] == pytest.approx(50.0)


def test_land_use_weights() -> None:
    areas = squares(
        {"type": ["Residential", "Park/open space", "Industrial area"], "x": [1, 2, 3]},
        [(0, 0, 1, 1), (1, 0, 2, 1), (2, 0, 3, 1)],
    )
    before = snapshot(areas)
    out = land_use_weights(areas)
    assert out["type"].tolist() == ["Residential"]
    assert out["weight"].tolist() == [1.0]
    assert out.crs == areas.crs
    mixed = land_use_weights(areas, weights={"Residential": 1, "Industrial area": 0.5})
    assert mixed["weight"].tolist() == [1.0, 0.5]
    assert land_use_weights(areas, default=0.1)["weight"].tolist() == [1.0, 0.1, 0.1]
    assert_unchanged(areas, before)
    layer, _ = read_layer(
        areas.assign(code=[1, 2, 3], label=["a", "b", "c"]),
        key="n",
        id_field="code",
        name_field="label",
    )
    assert len(land_use_weights(layer)) == 1
    with pytest.raises(SchemaError, match="no column 'kind'"):
        land_use_weights(areas, column="kind")
    with pytest.raises(SchemaError, match=">= 0"):
        land_use_weights(areas, weights={"Residential": -1})


# --------------------------------------------------------------------------- tobler


def voronoi(seed: int, n: int, crs=MD) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    points = shapely.multipoints(rng.uniform(0, 1000, size=(n, 2)))
    frame = box(0, 0, 1000, 1000)
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=frame))
    cells = shapely.intersection(cells, frame)
    return gpd.GeoDataFrame(geometry=cells, crs=crs)


def overlay_table(source: gpd.GeoDataFrame, target: gpd.GeoDataFrame) -> csr_matrix:
    """Float64 intersection-area table computed by geopandas overlay (independent path)."""
    left = source[["geometry"]].assign(_s=np.arange(len(source)))
    right = target[["geometry"]].assign(_t=np.arange(len(target)))
    pieces = gpd.overlay(left, right, how="intersection", keep_geom_type=True)
    return csr_matrix(
        (pieces.area.to_numpy(), (pieces["_s"].to_numpy(), pieces["_t"].to_numpy())),
        shape=(len(source), len(target)),
        dtype=np.float64,
    )


def tobler_reference(source, target, extensive, intensive, *, table=None, allocate_total=True):
    area_interpolate = pytest.importorskip("tobler.area_weighted").area_interpolate
    with warnings.catch_warnings():
        # tobler's scipy.sparse.diags call warns about an int32 cast (FutureWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return area_interpolate(
            source.copy(),  # tobler writes 0 into NaN cells of its input
            target.copy(),
            extensive_variables=extensive,
            intensive_variables=intensive,
            table=table,
            allocate_total=allocate_total,
        )


@pytest.mark.parametrize("allocate_total", [True, False])
def test_agrees_with_tobler_on_random_tessellations(allocate_total: bool) -> None:
    pytest.importorskip("tobler")
    source = voronoi(1, 60)
    rng = np.random.default_rng(2)
    source["pop"] = rng.integers(0, 5000, len(source)).astype(float)
    source["income"] = rng.uniform(20_000, 150_000, len(source))
    # targets: another tessellation, shifted so part of it lies outside the sources
    target = voronoi(3, 25).translate(150, -80).to_frame("geometry")
    target = gpd.GeoDataFrame(target, crs=MD).assign(area_id=lambda f: [f"t{i}" for i in f.index])
    mine = interpolate(
        source, target, extensive="pop", intensive="income", allocate_total=allocate_total
    )
    table = overlay_table(source, target)
    ref = tobler_reference(
        source, target, ["pop"], ["income"], table=table, allocate_total=allocate_total
    )
    covered = mine["covered_share"].to_numpy() > 0
    np.testing.assert_allclose(mine["pop"].to_numpy(), ref["pop"].to_numpy(), rtol=1e-9)
    # tobler reports 0 for an uncovered target's mean; geo311 reports it missing
    np.testing.assert_allclose(
        mine["income"].to_numpy()[covered], ref["income"].to_numpy()[covered], rtol=1e-9
    )
    assert np.isnan(mine["income"].to_numpy()[~covered]).all()
    # tobler's own area table is float32, so its default path agrees to ~1e-7 only
    default = tobler_reference(source, target, ["pop"], ["income"], allocate_total=allocate_total)
    np.testing.assert_allclose(mine["pop"].to_numpy(), default["pop"].to_numpy(), rtol=1e-5)


# --------------------------------------------------------------------------- tract tables


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_tract_table_real(shared_data: Path) -> None:
    path = shared_data / "baltimore" / "tract_demographics.csv"
    d = read_tract_table(path)
    assert isinstance(d, Denominators)
    assert d.source == "tract_demographics.csv"
    assert d.year == "2020, 2022"
    assert len(d.table) == 199
    assert d.table.index.name == "geoid"
    assert all(isinstance(g, str) and len(g) == 11 for g in d.table.index)
    assert d.table.index[0] == "24510010100"
    income = "B19013_001E_median_hh_income_acs2022"
    assert dict(d.moe) == {income: f"{income}_moe"}
    assert "B19013_001M_median_hh_income_moe_acs2022" not in d.table.columns
    assert d.table.loc["24510010100", f"{income}_moe"] == 34054.0
    assert d.table[income].isna().sum() == 3
    assert d.table["P1_001N_pop_2020"].sum() == BALTIMORE_TOTAL
    assert "namelsad" not in d.table.columns  # text
    assert d.column_year("P1_001N_pop_2020") == "2020"
    assert d.column_year(income) == "2022"
    assert d.column_year("aland") == "2020, 2022"
    assert "199 tracts" in repr(d)


def test_read_tract_table_from_geojson(shared_data: Path) -> None:
    d = read_tract_table(shared_data / "baltimore" / "census_tracts_2020.geojson", year="2020")
    assert d.table["pop_2020"].sum() == BALTIMORE_TOTAL
    assert "tractce" not in d.table.columns  # "010100": a code, not a number
    assert d.year == "2020"


def test_geoids_keep_leading_zeros_and_are_normalised(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        "GEOID,pop\n01001020100,10\n1001020200,20\n1400000US01001020300,30\n",
    )
    d = read_tract_table(path, id_column="GEOID", source="mine", year="2020")
    assert d.table.index.tolist() == ["01001020100", "01001020200", "01001020300"]
    assert d.source == "mine"
    assert d.table["pop"].tolist() == [10, 20, 30]


def test_moe_column_conventions(tmp_path: Path) -> None:
    path = write(
        tmp_path / "acs.csv",
        "geoid,inc_E,inc_M,pop,pop_moe,B01001_001E_total,B01001_001M,rent_M\n"
        "24510010100,100,10,5,1,7,2,3\n",
    )
    d = read_tract_table(path)
    assert d.variables == ("inc_E", "pop", "B01001_001E_total", "rent_M")
    assert dict(d.moe) == {
        "inc_E": "inc_E_moe",
        "pop": "pop_moe",
        "B01001_001E_total": "B01001_001E_total_moe",
    }
    # rent_M has no rent / rent_E: an ordinary variable
    assert list(d.table.columns) == [
        "inc_E",
        "inc_E_moe",
        "pop",
        "pop_moe",
        "B01001_001E_total",
        "B01001_001E_total_moe",
        "rent_M",
    ]
    assert d.year == ""


def test_acs_codes_and_markers(tmp_path: Path) -> None:
    path = write(
        tmp_path / "acs.csv",
        "geoid,inc,inc_moe,note\n"
        "24510010100,-666666666,-222222222,a\n"
        "24510010200,**,***,b\n"
        "24510010300,5000,-555555555,c\n",
    )
    d = read_tract_table(path)
    assert d.table["inc"].isna().tolist() == [True, True, False]
    assert d.table["inc_moe"].tolist()[2] == 0.0  # controlled estimate
    assert d.table["inc_moe"].isna().tolist() == [True, True, False]
    assert "note" not in d.table.columns


def test_tract_table_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        read_tract_table(tmp_path / "nope.csv")
    path = write(tmp_path / "a.csv", "GEO,pop\n24510010100,1\n")
    with pytest.raises(SchemaError, match=r"a\.csv: no id column 'geoid'.*\['GEO', 'pop'\]"):
        read_tract_table(path)
    path = write(tmp_path / "b.csv", "geoid,pop\n24510010100,1\n24510010100,2\n")
    with pytest.raises(SchemaError, match=r"b\.csv.*more than once.*'24510010100'"):
        read_tract_table(path)
    path = write(tmp_path / "c.csv", 'geoid,pop\n24510010100,1\n24510010200,"1,234"\n')
    with pytest.raises(SchemaError, match=r"c\.csv: column 'pop'.*row 2: '1,234'"):
        read_tract_table(path)
    path = write(tmp_path / "d.csv", "geoid,pop\n2451001,1\n,2\n")
    with pytest.raises(SchemaError, match=r"no GEOID.*not 11-digit tract codes.*'2451001'"):
        read_tract_table(path)
    path = write(tmp_path / "e.csv", "geoid,x_moe\n24510010100,1\n")
    with pytest.raises(SchemaError, match="no estimate column 'x'"):
        read_tract_table(path)
    path = write(tmp_path / "f.csv", "geoid,pop,pop_moe\n24510010100,1,-4\n")
    with pytest.raises(SchemaError, match="negative"):
        read_tract_table(path)
    path = write(tmp_path / "g.csv", "geoid,name\n24510010100,Tract 1\n")
    with pytest.raises(SchemaError, match="not numeric columns"):
        read_tract_table(path, variables=["name"])
    # a bad value in a column not asked for does not matter
    path = write(tmp_path / "h.csv", "geoid,pop,x\n24510010100,1,2\n24510010200,2,oops\n")
    assert read_tract_table(path, variables=["pop"]).variables == ("pop",)
    with pytest.raises(SchemaError, match="column 'x'"):
        read_tract_table(path, variables=["pop", "x"])


def test_tract_table_from_frame_is_pure_and_selects() -> None:
    frame = pd.DataFrame(
        {"geoid": ["24510010100", "24510010200"], "a": [1, 2], "b": [3.0, 4.0], "b_moe": [1, 1]}
    )
    before = frame.copy()
    d = tract_table_from_frame(frame, variables=["b"], source="s", year="2020")
    pd.testing.assert_frame_equal(frame, before)
    assert d.variables == ("b",)
    assert list(d.table.columns) == ["b", "b_moe"]
    with pytest.raises(SchemaError, match="not in the table"):
        Denominators(table=d.table, source="x", year="", variables=("zzz",))


# --------------------------------------------------------------------------- layer_population


def test_layer_population_hand_made() -> None:
    tracts = squares(
        {
            "geoid": ["24510000100", "24510000200"],
            "pop": [100.0, 300.0],
            "inc_E": [20_000.0, 60_000.0],
            "inc_M": [1_000.0, 3_000.0],
        },
        [(0, 0, 100, 100), (100, 0, 200, 100)],
    )
    table = tract_table_from_frame(tracts.drop(columns="geometry"), source="hand", year="2022")
    layer = squares({"code": ["A", "B"]}, [(0, 0, 50, 100), (50, 0, 200, 100)])
    out = layer_population(
        layer,
        tracts=tracts,
        table=table,
        extensive={"population": "pop"},
        intensive={"median_hh_income": "inc_E"},
        tract_id="geoid",
        target_id="code",
    )
    # A: half of tract 1 -> 50 people, income 20,000 (MOE 1,000);
    # B: half of tract 1 + tract 2 -> 350; income (20000*5000 + 60000*10000) / 15000
    assert out["population"].tolist() == pytest.approx([50.0, 350.0])
    assert out.loc["B", "median_hh_income"] == pytest.approx(700_000_000 / 15_000)
    # MOE of B: weights 1/3, 2/3 -> sqrt((1000/3)^2 + (2000)^2)
    assert out.loc["B", "median_hh_income_moe"] == pytest.approx(
        math.sqrt((1000 / 3) ** 2 + 2000**2)
    )
    assert list(out.columns) == [
        "population",
        "median_hh_income",
        "median_hh_income_moe",
        "covered_share",
        "land_km2",
        "population_flag",
    ]
    # No outline: land area is the whole area (A is 50 m x 100 m); A has 50 < 100 residents.
    assert out["land_km2"].tolist() == pytest.approx([0.005, 0.015])
    assert out["population_flag"].tolist() == ["below_minimum", "ok"]
    assert out.attrs["below_minimum"] == ["A"]
    assert out.attrs["source"] == "hand"
    assert out.attrs["year"] == "2022"
    assert out.attrs["variables"]["median_hh_income"] == {
        "column": "inc_E",
        "year": "2022",
        "kind": "intensive",
    }
    assert out.attrs["totals"]["population"]["target"] == pytest.approx(400.0)
    # the table from the tracts' own attributes, default column names resolved
    own = layer_population(
        layer,
        tracts=tracts.rename(columns={"pop": "pop_2020"}),
        tract_id="geoid",
        target_id="code",
    )
    assert own["population"].tolist() == pytest.approx([50.0, 350.0])
    assert "median_hh_income" not in own.columns  # not in the tract attributes: skipped


def test_layer_population_errors() -> None:
    tracts = squares({"geoid": ["24510000100", "24510000200"]}, [(0, 0, 1, 1), (1, 0, 2, 1)])
    table = tract_table_from_frame(
        pd.DataFrame({"geoid": ["24510000100"], "P1_001N": [5]}), source="short"
    )
    layer = squares({"area_id": ["x"]}, [(0, 0, 2, 1)])
    with pytest.raises(SchemaError, match=r"no row for 1 of the 2 tracts: \['24510000200'\]"):
        layer_population(layer, tracts=tracts, table=table, tract_id="geoid")
    with pytest.raises(SchemaError, match="no column for 'population'"):
        layer_population(
            layer,
            tracts=tracts,
            table=tract_table_from_frame(
                pd.DataFrame({"geoid": ["24510000100", "24510000200"], "x": [1, 2]})
            ),
            tract_id="geoid",
        )
    with pytest.raises(SchemaError, match="no id column 'area_id'"):
        layer_population(layer, tracts=tracts, table=table)


# --------------------------------------------------------------------------- real data


def ape_table(estimate: pd.Series, truth: pd.Series) -> pd.Series:
    """Absolute percentage error per area with a block-based truth > 0."""
    keep = truth > 0
    return (estimate[keep] - truth[keep]).abs() / truth[keep]


@pytest.fixture(scope="module")
def baltimore(shared_data: Path):
    folder = shared_data / "baltimore"
    tracts = gpd.read_file(folder / "census_tracts_2020.geojson")
    table = read_tract_table(folder / "tract_demographics.csv")
    layers = {
        "neighborhoods_2010": ("nbhd_id", gpd.read_file(folder / "neighborhoods_2010.geojson")),
        "neighborhoods_2020": ("nbhd_id", gpd.read_file(folder / "neighborhoods_2020.geojson")),
        "council_districts_2012": (
            "district",
            gpd.read_file(folder / "council_districts_2012.geojson"),
        ),
    }
    residential = land_use_weights(layers["neighborhoods_2020"][1])
    results = {}
    for name, (id_field, frame) in layers.items():
        for weighting, mask in (("area", None), ("residential", residential)):
            out = layer_population(
                frame,
                tracts=tracts,
                table=table,
                tract_id="geoid",
                target_id=id_field,
                projected_crs=MD,
                weights=mask,
            )
            truth = frame.set_index(id_field)["pop_2020"]
            results[name, weighting] = (out, truth.loc[out.index])
    return {"tracts": tracts, "table": table, "layers": layers, "results": results}


# Measured with EPSG:26985, allocate_total=True (scripts/interpolation_accuracy.py):
# MAPE over areas whose block-based pop_2020 > 0.
MEASURED_MAPE = {
    ("neighborhoods_2010", "area"): 3.8800,
    ("neighborhoods_2020", "area"): 4.1046,
    ("council_districts_2012", "area"): 0.02942,
    ("neighborhoods_2010", "residential"): 1.6523,
    ("neighborhoods_2020", "residential"): 1.7635,
    ("council_districts_2012", "residential"): 0.02207,
}


@pytest.mark.parametrize(
    "layer", ["neighborhoods_2010", "neighborhoods_2020", "council_districts_2012"]
)
@pytest.mark.parametrize("weighting", ["area", "residential"])
def test_real_totals_equal_tract_total(baltimore, layer: str, weighting: str) -> None:
    out, _ = baltimore["results"][layer, weighting]
    total = out["population"].sum()
    assert abs(total - BALTIMORE_TOTAL) / BALTIMORE_TOTAL < 1e-6
    assert out.attrs["totals"]["population"]["source"] == BALTIMORE_TOTAL
    assert abs(out.attrs["totals"]["population"]["difference"]) < 1e-6
    assert out["housing_units"].sum() == pytest.approx(293_249, rel=1e-6)
    assert out.attrs["sources_outside_targets"] == 0
    assert out.attrs["fallback_sources"] == 0
    # every area has an income estimate with a MOE, within the tract range
    income = baltimore["table"].table["B19013_001E_median_hh_income_acs2022"]
    assert out["median_hh_income"].notna().all()
    assert out["median_hh_income_moe"].notna().all()
    assert out["median_hh_income"].between(income.min(), income.max()).all()
    assert out.attrs["source"] == "tract_demographics.csv"
    assert out.attrs["variables"]["population"]["column"] == "P1_001N_pop_2020"


def test_real_layer_unions_differ_from_tract_union(baltimore) -> None:
    # The tracts include the harbour water (238.4 km²); the neighbourhoods are land
    # only (210.3 km²). With allocate_total=True every tract's population goes to the
    # neighbourhoods covering its land, so the total is kept; with shares of the whole
    # tract area the water share of the tracts is lost (about 17,200 people, ~2.9%).
    tracts = baltimore["tracts"].to_crs(MD)
    _, n10 = baltimore["layers"]["neighborhoods_2010"]
    n10 = n10.to_crs(MD)
    tract_union, layer_union = tracts.union_all(), n10.union_all()
    only_tracts = tract_union.difference(layer_union).area / 1e6
    only_layer = layer_union.difference(tract_union).area / 1e6
    assert 27 < only_tracts < 30  # km², mostly water
    assert only_layer < 0.3  # slivers along the shoreline and city line
    source = tracts[["geometry"]].assign(pop=tracts["pop_2020"].astype(float))
    lost = interpolate(
        source, n10.rename(columns={"nbhd_id": "area_id"}), extensive="pop", allocate_total=False
    )
    difference = lost.attrs["totals"]["pop"]["difference"]
    assert -18_500 < difference < -16_000


@pytest.mark.parametrize(
    "layer", ["neighborhoods_2010", "neighborhoods_2020", "council_districts_2012"]
)
def test_real_accuracy_against_block_truth(baltimore, layer: str) -> None:
    plain, truth = baltimore["results"][layer, "area"]
    better, _ = baltimore["results"][layer, "residential"]
    mape_plain = ape_table(plain["population"], truth).mean()
    mape_better = ape_table(better["population"], truth).mean()
    assert mape_plain <= MEASURED_MAPE[layer, "area"] * 1.01
    assert mape_better <= MEASURED_MAPE[layer, "residential"] * 1.01
    # residential weighting reduces the error, by MAPE and by people misplaced
    assert mape_better < 0.8 * mape_plain
    misplaced_plain = (plain["population"] - truth).abs().sum() / 2
    misplaced_better = (better["population"] - truth).abs().sum() / 2
    assert misplaced_better < 0.85 * misplaced_plain


def test_real_tracts_pass_through(baltimore, shared_data: Path) -> None:
    layer, _ = read_layer(
        shared_data / "baltimore" / "census_tracts_2020.geojson",
        key="census_tracts",
        id_field="geoid",
        name_field="namelsad",
        projected_crs=MD,
    )
    table = baltimore["table"]
    out = layer_population(layer, tracts=layer, table=table)
    assert out.attrs["method"] == "identity"
    income = "B19013_001E_median_hh_income_acs2022"
    expected = table.table.loc[out.index]
    np.testing.assert_array_equal(out["population"], expected["P1_001N_pop_2020"])
    np.testing.assert_array_equal(out["median_hh_income"], expected[income])
    np.testing.assert_array_equal(out["median_hh_income_moe"], expected[f"{income}_moe"])
    assert out["population"].sum() == BALTIMORE_TOTAL
    # the interpolation itself is an identity too (shared edges have zero area)
    frame = layer.gdf.iloc[::-1]  # another order: pass-through follows the layer's order
    reordered = layer_population(frame, tracts=layer, table=table)
    assert reordered.index.tolist() == frame["area_id"].tolist()
    source = gpd.GeoDataFrame(
        {"pop": expected["P1_001N_pop_2020"].to_numpy(dtype=float)},
        geometry=layer.gdf.geometry.to_numpy(),
        crs=layer.gdf.crs,
    )
    again = interpolate(source, layer, extensive="pop")
    np.testing.assert_array_equal(again["pop"].to_numpy(), source["pop"].to_numpy())


def test_real_agrees_with_tobler(baltimore) -> None:
    pytest.importorskip("tobler")
    tracts = baltimore["tracts"].to_crs(MD)
    table = baltimore["table"].table
    income = "B19013_001E_median_hh_income_acs2022"
    source = tracts[["geoid", "geometry"]].join(table, on="geoid")
    source = source.loc[source[income].notna()].reset_index(drop=True)  # tobler zero-fills NaN
    source = source.astype({"P1_001N_pop_2020": float, "H1_001N_housing_units_2020": float})
    _, districts = baltimore["layers"]["council_districts_2012"]
    target = districts.to_crs(MD).rename(columns={"district": "area_id"})
    mine = interpolate(source, target, extensive=["P1_001N_pop_2020"], intensive=[income], moe={})
    ref = tobler_reference(
        source, target, ["P1_001N_pop_2020"], [income], table=overlay_table(source, target)
    )
    np.testing.assert_allclose(mine["P1_001N_pop_2020"], ref["P1_001N_pop_2020"], rtol=1e-9)
    np.testing.assert_allclose(mine[income], ref[income], rtol=1e-9)


# --------------------------------------------------------------------------- script


@pytest.fixture(scope="module")
def script():
    with script_module("interpolation_accuracy") as module:
        yield module


def test_script_scores_by_hand(script) -> None:
    truth = pd.Series([100.0, 200.0, 0.0, 50.0], index=list("abcd"))
    estimate = pd.Series([110.0, 150.0, 5.0, 50.0], index=list("abcd"))
    score = script.score(estimate, truth)
    # APE over truth > 0: 10/100 = 0.10, 50/200 = 0.25, 0/50 = 0 -> mean 0.35/3, median 0.10
    assert score["mape"] == pytest.approx(0.35 / 3)
    assert score["median_ape"] == pytest.approx(0.10)
    assert score["zero_truth_areas"] == 1
    # misplaced = sum |error| / 2 = (10 + 50 + 5 + 0) / 2 = 32.5 of 350
    assert score["misplaced_share"] == pytest.approx(32.5 / 350)


def test_script_runs_on_one_layer(script, shared_data: Path, capsys) -> None:
    script.main(
        [
            "--data-dir",
            str(shared_data),
            "--layers",
            "council_districts_2012",
            "--weights",
            "area",
            "--no-defaults",
        ]
    )
    text = capsys.readouterr().out
    assert "| council_districts_2012 | area |" in text
    assert "585,708" in text

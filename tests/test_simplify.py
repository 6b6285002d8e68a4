"""Tests for geo311.site.simplify: coverage simplification for display."""

from __future__ import annotations

import itertools
import logging
import math
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely import Polygon, box

from geo311._errors import CRSError, SchemaError
from geo311.site import display_cache
from geo311.site.simplify import DisplayGeometry, simplify_for_display

MD = "EPSG:26985"  # NAD83 / Maryland, metres: Baltimore's neighbourhood of the projection
X0, Y0 = 430_000.0, 180_000.0  # near Baltimore in EPSG:26985
CELL = 1000.0


def _wiggle(a: tuple[float, float], b: tuple[float, float], seed: int) -> np.ndarray:
    """A polyline from a to b with 201 vertices wiggling up to 2 m off the straight line."""
    t = np.linspace(0.0, 1.0, 201)
    rng = np.random.default_rng(seed)
    offset = 1.2 * np.sin(2 * np.pi * 7 * t) + rng.uniform(-0.8, 0.8, t.size)
    offset[[0, -1]] = 0.0
    (ax, ay), (bx, by) = a, b
    length = math.hypot(bx - ax, by - ay)
    nx, ny = -(by - ay) / length, (bx - ax) / length
    return np.column_stack([ax + t * (bx - ax) + offset * nx, ay + t * (by - ay) + offset * ny])


def _grid(n: int = 3) -> list[Polygon]:
    """An n x n grid of 1 km cells whose shared edges wiggle identically on both sides.

    Cell (0, 0) also has a 30 m deep notch in its bottom edge, a real feature
    (larger than any test tolerance) that simplification must keep.
    """
    nodes = {(i, j): (X0 + i * CELL, Y0 + j * CELL) for i in range(n + 1) for j in range(n + 1)}
    edges: dict[tuple[tuple[int, int], tuple[int, int]], np.ndarray] = {}

    def edge(p: tuple[int, int], q: tuple[int, int]) -> np.ndarray:
        key = (min(p, q), max(p, q))
        if key not in edges:
            line = _wiggle(nodes[key[0]], nodes[key[1]], seed=len(edges))
            if key == ((0, 0), (1, 0)):  # the notch, pointing into cell (0, 0)
                line[90:111, 1] = Y0 + 30.0
            edges[key] = line
        line = edges[key]
        return line if (p, q) == key else line[::-1]

    cells = []
    for j in range(n):
        for i in range(n):
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1), (i, j)]
            ring = np.vstack([edge(p, q)[:-1] for p, q in itertools.pairwise(corners)])
            cells.append(Polygon(ring))
    return cells


@pytest.fixture
def grid() -> gpd.GeoDataFrame:
    cells = _grid(3)
    frame = gpd.GeoDataFrame(
        {"name": [f"cell {k}" for k in range(9)], "count": np.arange(9) * 10},
        geometry=cells,
        crs=MD,
        index=[f"d{k}" for k in (5, 3, 8, 1, 0, 2, 7, 6, 4)],  # not sorted, not a RangeIndex
    )
    assert shapely.coverage_is_valid(frame.geometry.to_numpy())
    assert frame.geometry.is_valid.all()
    return frame


def _measure(geoms: np.ndarray) -> dict[str, float]:
    """Pairwise overlap area, gap area (holes of the union) and union area, in m²."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[keep]], geoms[right[keep]])).sum()
    union = shapely.union_all(geoms)
    parts = shapely.get_parts(union)
    filled = shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))
    return {
        "overlap": float(overlap),
        "gap": float(shapely.area(filled) - shapely.area(union)),
        "union": float(shapely.area(union)),
        "sum": float(shapely.area(geoms).sum()),
    }


def _hausdorff(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, crs: str) -> float:
    """Independent check: shapely's discrete Hausdorff distance between the boundaries."""
    a = before.to_crs(crs).geometry.boundary.to_numpy()
    b = after.to_crs(crs).geometry.boundary.to_numpy()
    return float(shapely.hausdorff_distance(a, b).max())


# --------------------------------------------------------------------------- hand-made grid


def test_grid_simplified_as_coverage(grid: gpd.GeoDataFrame) -> None:
    original = grid.copy()
    result = simplify_for_display(grid, tolerance_m=5.0, crs=MD)

    assert isinstance(result, DisplayGeometry)
    assert_geodataframe_equal(grid, original)  # input not modified
    out = result.gdf
    assert out.crs.to_epsg() == 4326
    assert list(out.index) == list(grid.index)
    assert list(out.columns) == list(grid.columns)
    assert out["name"].tolist() == grid["name"].tolist()
    assert out.geometry.is_valid.all()
    assert not out.geometry.is_empty.any()

    # vertices: 9 cells x 4 edges x 200 + closing vertex; the wiggles go, the notch stays
    assert result.vertices_before == 9 * (4 * 200 + 1)
    assert result.vertices_before == shapely.get_num_coordinates(grid.geometry).sum()
    assert result.vertices_after == shapely.get_num_coordinates(out.geometry).sum()
    assert result.vertices_after < result.vertices_before / 20

    # displacement: within the budget, bigger than the rounding alone, matches shapely
    assert result.tolerance_m == 5.0
    assert 1.0 < result.max_displacement_m <= 5.0
    assert result.max_displacement_m == pytest.approx(_hausdorff(grid, out, MD), abs=1e-6)

    # topology: shared edges stay shared, no overlaps, no gaps, the union barely moves
    before = _measure(grid.geometry.to_numpy())
    after = _measure(out.to_crs(MD).geometry.to_numpy())
    assert after["overlap"] < 1e-3
    assert after["gap"] < 1e-3
    assert after["sum"] == pytest.approx(after["union"], abs=1e-3)
    perimeter = 4 * 3 * CELL
    assert abs(after["union"] - before["union"]) <= result.max_displacement_m * perimeter
    assert after["union"] == pytest.approx(before["union"], rel=1e-3)
    assert shapely.coverage_is_valid(out.geometry.to_numpy())

    # the 30 m notch in cell 0 survives (it is larger than the tolerance)
    notch_tip = shapely.Point(X0 + 500.0, Y0 + 29.0)
    cell0 = out.to_crs(MD).geometry.iloc[0]
    assert not cell0.contains(notch_tip)
    assert cell0.contains(shapely.Point(X0 + 500.0, Y0 + 40.0))


def test_coordinates_rounded_to_decimals(grid: gpd.GeoDataFrame) -> None:
    for decimals in (6, 5):
        out = simplify_for_display(grid, tolerance_m=5.0, decimals=decimals, crs=MD).gdf
        coords = shapely.get_coordinates(out.geometry.to_numpy())
        scaled = coords * 10**decimals
        assert np.abs(scaled - np.round(scaled)).max() < 1e-6
    coarse = simplify_for_display(grid, tolerance_m=5.0, decimals=5, crs=MD)
    fine = simplify_for_display(grid, tolerance_m=5.0, decimals=6, crs=MD)
    assert coarse.max_displacement_m <= 5.0
    assert shapely.coverage_is_valid(coarse.gdf.geometry.to_numpy())
    # the coarser grid eats part of the budget, so fewer vertices can go
    assert coarse.vertices_after >= fine.vertices_after


def test_displacement_includes_rounding() -> None:
    # a plain square keeps all its vertices; only rounding moves it
    square = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 100, Y0 + 100)], crs=MD)
    result = simplify_for_display(square, tolerance_m=5.0, decimals=6, crs=MD)
    assert result.vertices_after == result.vertices_before == 5
    assert 0 < result.max_displacement_m < 0.1
    assert result.max_displacement_m == pytest.approx(_hausdorff(square, result.gdf, MD), abs=1e-9)


def test_smaller_tolerance_keeps_more(grid: gpd.GeoDataFrame) -> None:
    tight = simplify_for_display(grid, tolerance_m=1.0, crs=MD)
    loose = simplify_for_display(grid, tolerance_m=5.0, crs=MD)
    assert tight.max_displacement_m <= 1.0
    assert tight.vertices_after > loose.vertices_after
    assert tight.max_displacement_m == pytest.approx(_hausdorff(grid, tight.gdf, MD), abs=1e-6)


def test_default_crs_is_estimated_utm(grid: gpd.GeoDataFrame) -> None:
    result = simplify_for_display(grid.to_crs("EPSG:4326"), tolerance_m=5.0)
    assert result.max_displacement_m <= 5.0
    utm = grid.estimate_utm_crs()
    assert result.max_displacement_m == pytest.approx(
        _hausdorff(grid.to_crs("EPSG:4326"), result.gdf, utm), abs=1e-6
    )


def test_feet_crs_converted_to_metres(grid: gpd.GeoDataFrame) -> None:
    # EPSG:2248 (Maryland, US survey feet): tolerance and displacement stay in metres
    feet = simplify_for_display(grid, tolerance_m=5.0, crs="EPSG:2248")
    assert feet.max_displacement_m <= 5.0
    assert feet.max_displacement_m == pytest.approx(_hausdorff(grid, feet.gdf, MD), abs=1e-3)
    assert feet.vertices_after < feet.vertices_before / 20


def test_log_line(grid: gpd.GeoDataFrame, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
        result = simplify_for_display(grid, tolerance_m=5.0, crs=MD)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 1
    assert f"{result.vertices_before:,} -> {result.vertices_after:,} vertices" in lines[0]
    assert f"max displacement {result.max_displacement_m:.2f} m" in lines[0]
    assert "(coverage," in lines[0]


def test_tiny_areas_survive(caplog: pytest.LogCaptureFixture) -> None:
    # a 5 m and a 2 cm square sitting inside a big square's holes: all must stay non-empty
    big = box(X0, Y0, X0 + 1000, Y0 + 1000)
    small = box(X0 + 100, Y0 + 100, X0 + 105, Y0 + 105)
    tiny = box(X0 + 500, Y0 + 500, X0 + 500.02, Y0 + 500.02)
    frame = gpd.GeoDataFrame(
        {"kind": ["big", "small", "tiny"]},
        geometry=[big.difference(small).difference(tiny), small, tiny],
        crs=MD,
    )
    with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
        result = simplify_for_display(frame, tolerance_m=50.0, crs=MD)
    geoms = result.gdf.to_crs(MD).geometry
    assert not geoms.is_empty.any()
    assert (geoms.area > 0).all()
    assert geoms.is_valid.all()
    # VW may reduce the 2 cm square to a triangle (half its area), never to nothing;
    # on the 0.1 m grid it would collapse, so it and the big area's hole stay unrounded
    assert 0.0001 < geoms.iloc[2].area <= 0.0004 + 1e-9
    assert shapely.get_num_interior_rings(geoms.iloc[0]) == 2
    assert "2 kept unrounded" in caplog.text
    assert "no longer match" in caplog.text  # the rounded 5 m square vs the unrounded hole
    assert result.max_displacement_m <= 50.0


def test_missing_and_empty_rows_pass_through() -> None:
    frame = gpd.GeoDataFrame(
        {"k": [1, 2, 3]},
        geometry=[box(X0, Y0, X0 + 10, Y0 + 10), None, Polygon()],
        crs=MD,
    )
    out = simplify_for_display(frame, crs=MD).gdf
    assert out.geometry.iloc[0].area > 0
    assert out.geometry.iloc[1] is None
    assert out.geometry.iloc[2].is_empty


def test_unmatched_borders_are_cleaned(caplog: pytest.LogCaptureFixture) -> None:
    # left cell has an extra vertex on the shared edge; right cell overlaps by 0.05 m
    left = Polygon([(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 40), (X0 + 100, Y0 + 100),
                    (X0, Y0 + 100)])  # fmt: skip
    right = box(X0 + 99.95, Y0, X0 + 200, Y0 + 100)
    frame = gpd.GeoDataFrame(geometry=[left, right], crs=MD)
    assert not shapely.coverage_is_valid(frame.geometry.to_numpy())
    with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
        result = simplify_for_display(frame, tolerance_m=1.0, crs=MD)
    assert "coverage_clean" in caplog.text
    assert "cleaned coverage" in caplog.text
    after = _measure(result.gdf.to_crs(MD).geometry.to_numpy())
    assert after["overlap"] < 1e-3
    assert after["gap"] < 1e-3
    assert result.max_displacement_m <= 1.0
    assert shapely.coverage_is_valid(result.gdf.geometry.to_numpy())


def test_fallback_per_polygon(
    grid: gpd.GeoDataFrame,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import geo311.site.simplify as simplify_module  # noqa: PLC0415

    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path))
    # move one cell by 3 m: not a coverage; with clean=False each polygon is simplified alone
    shifted = grid.copy()
    shifted.loc["d5", "geometry"] = shapely.affinity.translate(grid.geometry.iloc[0], 3.0, 0.0)
    with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
        result = simplify_for_display(shifted, tolerance_m=5.0, crs=MD, clean=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "polygon by polygon" in warnings[0]
    assert "clean=False" in warnings[0]
    assert "(per polygon," in caplog.text
    # the fallback is cached too (on disk, for a new process) and warns again on every use
    monkeypatch.setattr(simplify_module, "_choose", None)  # a cache miss would fail here
    display_cache._SIMPLIFIED.clear()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
        again = simplify_for_display(shifted, tolerance_m=5.0, crs=MD, clean=False)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == warnings
    assert again.max_displacement_m == result.max_displacement_m
    assert again.gdf.geometry.equals(result.gdf.geometry)
    assert result.max_displacement_m <= 5.0
    assert result.max_displacement_m == pytest.approx(
        _hausdorff(shifted, result.gdf, MD), abs=1e-6
    )
    assert result.vertices_after < result.vertices_before / 5
    assert result.gdf.geometry.is_valid.all()


def test_rounding_beyond_tolerance_warns(caplog: pytest.LogCaptureFixture) -> None:
    # 2 decimals of a degree is ~1 km: no simplification can stay within 5 m
    square = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 5000, Y0 + 5000)], crs=MD)
    with caplog.at_level(logging.WARNING, logger="geo311.site.simplify"):
        result = simplify_for_display(square, tolerance_m=5.0, decimals=2, crs=MD)
    assert "rounding to 2 decimals alone" in caplog.text
    assert result.max_displacement_m > 5.0
    assert not result.gdf.geometry.is_empty.any()


def test_geometry_column_name_kept() -> None:
    frame = gpd.GeoDataFrame(
        {"v": [1]}, geometry=gpd.GeoSeries([box(X0, Y0, X0 + 50, Y0 + 50)]), crs=MD
    ).rename_geometry("shape")
    out = simplify_for_display(frame, crs=MD).gdf
    assert out.geometry.name == "shape"
    assert list(out.columns) == ["v", "shape"]
    assert out.crs.to_epsg() == 4326


def test_errors() -> None:
    square = box(X0, Y0, X0 + 10, Y0 + 10)
    with pytest.raises(CRSError, match="set_crs"):
        simplify_for_display(gpd.GeoDataFrame(geometry=[square]))
    with pytest.raises(CRSError, match="not projected"):
        simplify_for_display(gpd.GeoDataFrame(geometry=[square], crs=MD), crs="EPSG:4326")
    with pytest.raises(CRSError, match="pyproj"):
        simplify_for_display(gpd.GeoDataFrame(geometry=[square], crs=MD), crs="EPSG:nope")
    points = gpd.GeoDataFrame(geometry=[square, shapely.Point(X0, Y0)], crs=MD)
    with pytest.raises(SchemaError, match=r"positions \[1\].*Point"):
        simplify_for_display(points)
    with pytest.raises(ValueError, match="tolerance_m"):
        simplify_for_display(gpd.GeoDataFrame(geometry=[square], crs=MD), tolerance_m=-1)
    with pytest.raises(ValueError, match="decimals"):
        simplify_for_display(gpd.GeoDataFrame(geometry=[square], crs=MD), decimals=-1)


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize(
    ("name", "areas"), [("neighborhoods_2010", 278), ("council_districts_2012", 14)]
)
def test_real_baltimore_layers(shared_data, name: str, areas: int) -> None:
    path = shared_data / "baltimore" / f"{name}.geojson"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    layer = gpd.read_file(path)
    assert len(layer) == areas
    started = time.perf_counter()
    result = simplify_for_display(layer)
    elapsed = time.perf_counter() - started

    assert len(result.gdf) == areas
    assert list(result.gdf.index) == list(layer.index)
    assert not result.gdf.geometry.is_empty.any()
    assert result.gdf.geometry.is_valid.all()
    assert result.max_displacement_m <= 10.0
    assert result.max_displacement_m <= result.tolerance_m == 5.0
    utm = layer.estimate_utm_crs()
    assert result.max_displacement_m == pytest.approx(_hausdorff(layer, result.gdf, utm), abs=1e-3)
    assert result.vertices_after < 0.4 * result.vertices_before

    before = _measure(layer.to_crs(MD).geometry.to_numpy())
    after = _measure(result.gdf.to_crs(MD).geometry.to_numpy())
    assert after["overlap"] <= before["overlap"] + 1e-3
    assert after["gap"] <= before["gap"] + 1e-3
    assert after["union"] == pytest.approx(before["union"], rel=1e-5)
    assert shapely.coverage_is_valid(result.gdf.geometry.to_numpy())
    assert elapsed < 60
    print(  # figures for the record (pytest -s)
        f"\n{name}: vertices {result.vertices_before} -> {result.vertices_after}, "
        f"max displacement {result.max_displacement_m:.2f} m, overlap m2 "
        f"{before['overlap']:.3f} -> {after['overlap']:.3f}, gap m2 {before['gap']:.3f} -> "
        f"{after['gap']:.3f}, {elapsed:.1f} s"
    )


def test_the_same_layer_is_simplified_once(caplog) -> None:
    """A second call with the same geometries and options reuses the first answer."""
    import geo311.site.simplify as simplify_module  # noqa: PLC0415

    layer = gpd.GeoDataFrame(
        {"name": list("abcd")},
        geometry=[shapely.Point(x, y).buffer(0.01, 64) for x, y in
                  [(-76.60, 39.30), (-76.58, 39.30), (-76.60, 39.32), (-76.58, 39.32)]],
        crs="EPSG:4326",
    )  # fmt: skip
    display_cache._SIMPLIFIED.clear()
    first = simplify_for_display(layer)
    calls = []
    choose = simplify_module._choose

    def counting(*args, **kwargs):
        calls.append(1)
        return choose(*args, **kwargs)

    monkey = pytest.MonkeyPatch()
    monkey.setattr(simplify_module, "_choose", counting)
    try:
        with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
            second = simplify_for_display(layer)
            other = simplify_for_display(layer, tolerance_m=2.0)  # other options: computed
    finally:
        monkey.undo()
    assert calls == [1]  # only the call with other options searched
    assert second.gdf.geometry.equals(first.gdf.geometry)
    assert second.max_displacement_m == first.max_displacement_m
    assert second.gdf is not first.gdf
    assert any("simplified 4 area(s)" in r.getMessage() for r in caplog.records)
    assert other.tolerance_m == 2.0


def test_a_simplified_layer_is_cached_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A new process reads the display geometry back; a damaged entry is rebuilt."""
    import geo311.site.simplify as simplify_module  # noqa: PLC0415

    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path))
    layer = gpd.GeoDataFrame(
        {"name": list("ab")},
        geometry=[shapely.Point(-76.60, 39.30).buffer(0.01, 64), None],
        crs="EPSG:4326",
    )
    display_cache._SIMPLIFIED.clear()
    first = simplify_for_display(layer)
    (entry,) = (tmp_path / "display").glob("*.npz")
    calls = []
    choose = simplify_module._choose
    monkeypatch.setattr(
        simplify_module, "_choose", lambda *a, **k: calls.append(1) or choose(*a, **k)
    )
    display_cache._SIMPLIFIED.clear()  # as in a new process
    second = simplify_for_display(layer)
    assert calls == []
    assert second.gdf.geometry.iloc[0].equals_exact(first.gdf.geometry.iloc[0], tolerance=0)
    assert second.gdf.geometry.isna().tolist() == [False, True]
    assert (second.max_displacement_m, second.vertices_after) == (
        first.max_displacement_m,
        first.vertices_after,
    )
    entry.write_bytes(b"not an npz")
    display_cache._SIMPLIFIED.clear()
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        third = simplify_for_display(layer)
    assert calls == [1]
    assert "unreadable" in caplog.text
    assert str(entry) in caplog.text
    assert third.gdf.geometry.iloc[0].equals_exact(first.gdf.geometry.iloc[0], tolerance=0)
    assert display_cache._read_entry(entry).after == first.vertices_after  # rewritten


def _grid_evaluator() -> tuple[np.ndarray, Any]:
    from pyproj import CRS  # noqa: PLC0415

    from geo311.site.simplify import _evaluator  # noqa: PLC0415

    cells = np.array(_grid(3), dtype=object)
    return cells, _evaluator(cells, CRS(MD), 1.0, 6, 2.0)


def test_measuring_some_rows_gives_their_figures_of_the_whole_measure() -> None:
    cells, evaluate = _grid_evaluator()
    simplified = shapely.coverage_simplify(cells, 40.0, simplify_boundary=True)
    whole = evaluate(simplified, 40.0, None)
    rows = np.array([7, 0, 4])
    part = evaluate(simplified, 40.0, rows)
    assert whole.displacement.max() > 2.0  # the notch is cut: some rows exceed 2 m
    np.testing.assert_array_equal(part.displacement, whole.displacement[rows])
    assert shapely.equals_exact(part.geoms, whole.geoms[rows], 0).all()


def test_a_rejected_trial_checks_the_rows_that_failed_before_first() -> None:
    from geo311.site.simplify import _Trials  # noqa: PLC0415

    cells, evaluate = _grid_evaluator()
    measured: list[int] = []

    def counting(simplified: np.ndarray, parameter: float, rows: np.ndarray | None) -> Any:
        measured.append(len(cells) if rows is None else len(rows))
        return evaluate(simplified, parameter, rows)

    def simplify(parameter: float) -> np.ndarray:
        return shapely.coverage_simplify(cells, parameter, simplify_boundary=True)

    trial = _Trials(simplify, counting, 2.0)
    verdicts = [trial(p)[1] for p in (40.0, 30.0, 0.5)]
    full = [float(evaluate(simplify(p), p, None).displacement.max()) <= 2.0 for p in (40, 30, 0.5)]
    assert verdicts == full == [False, False, True]
    assert measured[0] == len(cells)  # nothing failed before: every row
    assert 0 < measured[1] < len(cells)  # only the rows that failed at 40
    assert measured[-1] == len(cells)  # a fitting candidate is measured in full
    candidate, fits = trial(0.5)
    assert fits
    assert candidate is not None
    assert candidate.displacement.size == len(cells)


def _overlapping_squares() -> gpd.GeoDataFrame:
    """Two 200 m squares whose corners lie 30 m inside each other."""
    left = box(X0, Y0, X0 + 200, Y0 + 200)
    right = box(X0 + 170, Y0 + 50, X0 + 370, Y0 + 250)
    return gpd.GeoDataFrame(geometry=[left, right], crs=MD)


def test_overlaps_deeper_looks_at_the_deepest_unmatched_vertex() -> None:
    from geo311.site.simplify import _overlaps_deeper  # noqa: PLC0415

    polygons = _overlapping_squares().geometry.to_numpy()
    invalid = shapely.coverage_invalid_edges(polygons)
    assert _overlaps_deeper(polygons, invalid, 29.9)
    assert not _overlaps_deeper(polygons, invalid, 30.1)
    cells = np.array(_grid(2), dtype=object)  # an exact coverage: nothing unmatched
    assert not _overlaps_deeper(cells, shapely.coverage_invalid_edges(cells), 0.0)


def test_deep_overlaps_are_simplified_per_polygon_without_cleaning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frame = _overlapping_squares()
    with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
        deep = simplify_for_display(frame, tolerance_m=1.0, crs=MD)  # 30 m > 20 x 1 m
    assert "overlap their neighbours by more than 20 m" in caplog.text
    assert "coverage_clean" not in caplog.text
    assert "(per polygon," in caplog.text
    assert deep.max_displacement_m <= 1.0
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="geo311.site.simplify"):
        simplify_for_display(frame, tolerance_m=2.0, crs=MD)  # 30 m < 20 x 2 m: cleaned
    assert "cleaned the layer into an exact coverage" in caplog.text

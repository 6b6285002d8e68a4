"""Tests for geo311.join.spatial_index: exact point-in-polygon assignment with one tie rule.

Every check compares against an independent reference: shapely's exact
``intersects_xy`` (covers) over candidate polygons found with an STRtree, plus
the documented tie rule (prefer areas covering the point nudged north-east,
then the lowest position).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Point, Polygon, box

from geo311.io.atomic import atomic_write
from geo311.join import spatial_index
from geo311.join.index_cache import (
    IndexMismatchError,
    cached_index,
    cached_outline,
    load_index,
    outline,
    save_index,
)
from geo311.join.spatial_index import AreaIndex, Located, default_cell_size

# --------------------------------------------------------------------------- reference


def reference(geoms, x, y, nudge) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force answer: (area, tie) by covers tests, independent of the grid."""
    # Own copies, prepared (same exact answers as unprepared, much faster).
    geoms = shapely.from_wkb(shapely.to_wkb(np.asarray(geoms, dtype=object)))
    shapely.prepare(geoms)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, m = len(x), len(geoms)
    area = np.full(n, -1, dtype=np.int64)
    tie = np.zeros(n, dtype=bool)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if not len(finite) or not m:
        return area, tie
    tree = shapely.STRtree(geoms)
    owner, cand = tree.query(shapely.points(x[finite], y[finite]))
    point = finite[owner]
    hit = shapely.intersects_xy(geoms[cand], x[point], y[point])
    point, cand = point[hit], cand[hit]
    count = np.bincount(point, minlength=n)
    nudged = shapely.intersects_xy(geoms[cand], x[point] + nudge[0], y[point] + nudge[1])
    rank = np.where(nudged, cand, cand + m)
    best = np.full(n, 2 * m, dtype=np.int64)
    np.minimum.at(best, point, rank)
    covered = count >= 1
    area[covered] = best[covered] % m
    tie[:] = count >= 2
    return area, tie


def assert_exact(index: AreaIndex, geoms, x, y) -> Located:
    found = index.locate(x, y)
    area, tie = reference(geoms, x, y, index.nudge)
    bad = np.flatnonzero((found.area != area) | (found.tie != tie))
    assert not len(bad), (
        f"{len(bad)} points differ, e.g. {[(x[i], y[i], found.area[i], area[i]) for i in bad[:5]]}"
    )
    return found


def grid_squares(n: int = 3) -> list[Polygon]:
    """An n x n tiling of unit squares; area n*row + col covers [col, col+1] x [row, row+1]."""
    return [box(c, r, c + 1, r + 1) for r in range(n) for c in range(n)]


CELL_SIZES = [None, 0.01, 0.25, 0.5, 1.0, 1.5, 10.0]

# --------------------------------------------------------------------------- hand-made


@pytest.mark.parametrize("cell_size", CELL_SIZES)
def test_three_by_three_grid(cell_size):
    index = AreaIndex.build(grid_squares(), cell_size=cell_size)
    cases = {
        # point: (area, tie)
        (0.5, 0.5): (0, False),
        (2.5, 2.5): (8, False),
        (1.5, 1.5): (4, False),
        (1.0, 0.5): (1, True),  # shared vertical edge: the eastern square
        (2.0, 2.25): (8, True),
        (0.5, 1.0): (3, True),  # shared horizontal edge: the northern square
        (2.5, 2.0): (8, True),
        (1.0, 1.0): (4, True),  # corner of four: the north-eastern square
        (2.0, 2.0): (8, True),
        (1.0, 0.0): (1, True),  # outer boundary, two squares
        (0.0, 0.5): (0, False),  # outer boundary, one square
        (3.0, 1.5): (5, False),  # east boundary: nudge leaves the layer, only one covers
        (3.0, 3.0): (8, False),
        (0.0, 0.0): (0, False),
        (-1.0, -1.0): (-1, False),
        (3.0000001, 1.0): (-1, False),
        (1.5, -1e-12): (-1, False),
        (np.nan, 1.0): (-1, False),
        (1.0, np.nan): (-1, False),
        (np.inf, 1.0): (-1, False),
        (-np.inf, -np.inf): (-1, False),
    }
    x = np.array([p[0] for p in cases])
    y = np.array([p[1] for p in cases])
    found = index.locate(x, y)
    assert isinstance(found, Located)
    assert found.area.dtype == np.int64
    assert found.tie.dtype == bool
    assert found.area.tolist() == [v[0] for v in cases.values()]
    assert found.tie.tolist() == [v[1] for v in cases.values()]
    assert_exact(index, grid_squares(), x, y)


@pytest.mark.parametrize("cell_size", CELL_SIZES)
def test_grid_lines_and_vertices_everywhere(cell_size):
    geoms = grid_squares()
    index = AreaIndex.build(geoms, cell_size=cell_size)
    ticks = np.linspace(-0.5, 3.5, 33)  # includes every integer and half
    x, y = (a.ravel() for a in np.meshgrid(ticks, ticks))
    found = assert_exact(index, geoms, x, y)
    inside = (x >= 0) & (x <= 3) & (y >= 0) & (y <= 3)
    assert np.array_equal(found.area >= 0, inside)


def test_holes_and_enclave():
    ring = Polygon(box(0, 0, 10, 10).exterior.coords, [box(3, 3, 7, 7).exterior.coords])
    enclave = box(3, 3, 7, 7)
    empty_hole = Polygon(box(10, 0, 20, 10).exterior.coords, [box(13, 3, 17, 7).exterior.coords])
    geoms = [ring, enclave, empty_hole]
    index = AreaIndex.build(geoms)
    x = np.array([1, 5, 3, 7, 5, 15, 13, 10, 10, 10, 20, 3])
    y = np.array([1, 5, 5, 5, 7, 5, 5, 5, 0, 10, 10, 3])
    found = index.locate(x, y)
    # (10, 10): the nudged point leaves both areas, so the lower position wins.
    assert found.area.tolist() == [0, 1, 1, 0, 0, -1, 2, 2, 2, 0, 2, 1]
    assert found.tie.tolist() == [False, False, True, True, True, False, False, True, True, True,
                                  False, True]  # fmt: skip
    assert_exact(index, geoms, x, y)


def test_multipolygons_with_holes():
    donut = Polygon(box(0, 0, 4, 4).exterior.coords, [box(1, 1, 3, 3).exterior.coords])
    multi = MultiPolygon([donut, box(10, 0, 12, 2)])
    middle = box(4, 0, 10, 4)
    # Invalid on purpose (two parts share an edge): answered exactly as GEOS answers.
    inner = MultiPolygon([box(1, 1, 2, 3), box(2, 1, 3, 3)])
    geoms = [multi, middle, inner]
    index = AreaIndex.build(geoms, cell_size=0.7)
    x = np.array([0.5, 11, 7, 1.5, 2.5, 2.0, 4.0, 10.0, 5, 12.5])
    y = np.array([0.5, 1, 2, 2, 2, 2.0, 2.0, 1.0, 5, 1])
    found = index.locate(x, y)
    assert found.area.tolist() == [0, 0, 1, 2, 2, 2, 1, 0, -1, -1]
    assert found.tie.tolist() == [False] * 6 + [True, True, False, False]
    assert_exact(index, geoms, x, y)


def test_overlapping_polygons():
    geoms = [box(0, 0, 2, 2), box(1, 1, 3, 3), box(0, 0, 2, 2)]  # the third duplicates the first
    index = AreaIndex.build(geoms)
    x = np.array([0.5, 1.5, 2.0, 2.5, 1.0, 2.0])
    y = np.array([0.5, 1.5, 1.5, 2.5, 1.0, 3.0])
    found = index.locate(x, y)
    # Overlaps are ties; the nudge cannot separate them, so the lowest position wins.
    assert found.area.tolist() == [0, 0, 1, 1, 0, 1]
    assert found.tie.tolist() == [True, True, True, False, True, False]
    assert_exact(index, geoms, x, y)


@pytest.mark.parametrize("cell_size", [0.25, 0.5, 1.0, 2.0, None])
def test_vertices_and_horizontal_edges_on_cell_centre_lines(cell_size):
    # With xmin = ymin = 0 the grid starts at -cell_size, so cell centres fall on
    # multiples of a quarter: these vertices and horizontal edges sit on scanlines.
    diamond = Polygon([(2, 0.25), (3.75, 1.75), (3.5, 1.75), (2, 3.75), (0.25, 1.75)])
    frame = Polygon(box(0, 0, 4, 4).exterior.coords, [diamond.exterior.coords])
    steps = Polygon([(4, 0), (6, 0), (6, 0.75), (5, 0.75), (5, 1.75), (4.5, 1.75), (4, 4)])
    geoms = [frame, diamond, steps]
    index = AreaIndex.build(geoms, cell_size=cell_size)
    ticks = np.arange(-0.5, 6.5, 0.125)
    x, y = (a.ravel() for a in np.meshgrid(ticks, ticks))
    found = assert_exact(index, geoms, x, y)
    assert found.tie.any()


def test_none_and_empty_geometries_never_match():
    geoms = [None, box(0, 0, 1, 1), Polygon()]
    index = AreaIndex.build(geoms)
    found = index.locate([0.5, 2.0], [0.5, 0.5])
    assert found.area.tolist() == [1, -1]


def test_empty_layer():
    index = AreaIndex.build([])
    found = index.locate(np.array([0.0, np.nan]), np.array([0.0, 1.0]))
    assert found.area.tolist() == [-1, -1]
    assert not found.tie.any()


def test_shapes_and_inputs():
    index = AreaIndex.build(np.array(grid_squares(), dtype=object))
    found = index.locate(np.full((2, 2), 0.5), np.full((2, 2), 1.5))
    assert found.area.shape == (2, 2)
    assert (found.area == 3).all()
    empty = index.locate(np.array([]), np.array([]))
    assert empty.area.shape == (0,)
    with pytest.raises(ValueError, match="same shape"):
        index.locate([0.5, 1.0], [0.5])


def test_geoseries_input():
    geopandas = pytest.importorskip("geopandas")
    series = geopandas.GeoSeries(grid_squares(), crs="EPSG:3857")
    index = AreaIndex.build(series)
    assert index.fingerprint == AreaIndex.build(grid_squares()).fingerprint
    assert index.locate([2.5], [0.5]).area.tolist() == [2]


def test_rejects_non_polygons():
    with pytest.raises(TypeError, match="Polygon or MultiPolygon"):
        AreaIndex.build([box(0, 0, 1, 1), Point(0, 0)])


@pytest.mark.parametrize("cell_size", [0.0, -1.0, float("nan"), float("inf")])
def test_rejects_bad_cell_size(cell_size):
    with pytest.raises(ValueError, match="cell_size"):
        AreaIndex.build(grid_squares(), cell_size=cell_size)


def test_rejects_grid_too_large():
    with pytest.raises(ValueError, match="larger cell_size"):
        AreaIndex.build(grid_squares(), cell_size=1e-5)


def test_default_cell_size_follows_boundary_length_with_memory_cap():
    size = default_cell_size([box(0, 0, 100, 100)])
    assert size == pytest.approx(spatial_index.EDGE_SHARE * 100 * 100 / 400)
    finer = default_cell_size(grid_squares(10))  # more boundary in the same box
    assert finer < default_cell_size(grid_squares(2)) * 10 / 2
    # A long wiggly boundary would ask for tiny cells; memory caps the grid.
    teeth = Polygon([(i * 1e-3, (i % 2) * 1e-3) for i in range(100_001)] + [(100, 50), (0, 50)])
    capped = default_cell_size([teeth])
    assert (100 / capped) * (50 / capped) <= spatial_index.MAX_DEFAULT_CELLS * 1.05
    assert default_cell_size([]) == 1.0
    assert default_cell_size([None, Polygon()]) == 1.0
    index = AreaIndex.build([box(0, 0, 100, 100)])
    assert index.cell_size == size
    assert index.grid.dtype == np.int32


def test_nudge_is_tiny_relative_to_extent():
    index = AreaIndex.build([box(-76.7, 39.2, -76.5, 39.4)])
    dx, dy = index.nudge
    assert 1e-12 < dx < 1e-8
    assert dy == pytest.approx(dx * spatial_index.NUDGE_SLOPE)


# --------------------------------------------------------------------------- properties


def warped_tiling(
    seed: int, nx: int, ny: int, *, jitter: float, scale: float, shift: float, snap: bool = False
):
    """Quads of a jittered nx x ny lattice: a valid tiling with exactly shared edges.

    With ``snap`` the jitter is rounded to quarters, so vertices line up with
    each other and with cell centres and borders (collinear and horizontal edges).
    """
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx + 1, dtype=float), np.arange(ny + 1, dtype=float))
    jx = rng.uniform(-jitter, jitter, (ny - 1, nx - 1))
    jy = rng.uniform(-jitter, jitter, (ny - 1, nx - 1))
    if snap:
        jx, jy = np.round(jx * 4) / 4, np.round(jy * 4) / 4
    gx[1:-1, 1:-1] += jx
    gy[1:-1, 1:-1] += jy
    gx = gx * scale + shift
    gy = gy * scale - shift / 2
    quads = []
    for j in range(ny):
        for i in range(nx):
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
            quads.append(Polygon([(gx[b, a], gy[b, a]) for a, b in corners]))
    return quads


def probe_points(geoms, index: AreaIndex, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points plus many placed exactly on vertices, edges' lines and cell borders."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    pad = 0.1 * max(xmax - xmin, ymax - ymin)
    uniform = rng.uniform([xmin - pad, ymin - pad], [xmax + pad, ymax + pad], (n, 2))
    vertices = shapely.get_coordinates(geoms)
    on_vertex = vertices[rng.integers(0, len(vertices), n)]
    # Same x (or y) as a vertex: exercises the half-open scanline rule.
    across = uniform.copy()
    across[: n // 2, 0] = on_vertex[: n // 2, 0]
    across[n // 2 :, 1] = on_vertex[n // 2 :, 1]
    # Points along segments (mostly not exactly on them after rounding, some exactly).
    t = rng.choice([0.0, 0.25, 0.5, 1.0, rng.uniform()], n)
    a = vertices[rng.integers(0, len(vertices), n)]
    b = np.roll(a, 1, axis=0)
    along = a + t[:, None] * (b - a)
    # Exactly on the grid's cell borders.
    ny, nx = index.shape
    borders = np.column_stack(
        [
            index.origin[0] + rng.integers(0, nx + 1, n) * index.cell_size,
            index.origin[1] + rng.integers(0, ny + 1, n) * index.cell_size,
        ]
    )
    xy = np.concatenate([uniform, on_vertex, across, along, borders])
    return xy[:, 0].copy(), xy[:, 1].copy()


tilings = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "nx": st.integers(1, 6),
        "ny": st.integers(1, 6),
        "jitter": st.sampled_from([0.0, 0.1, 0.3]),
        "scale": st.sampled_from([1.0, 0.001, 137.5]),
        "shift": st.sampled_from([0.0, -76.6, 1.4e6]),
        "snap": st.booleans(),
    }
)
cell_fractions = st.sampled_from([None, 0.05, 0.33, 0.5, 1.0, 3.0])

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _build(tiling, fraction):
    geoms = warped_tiling(**tiling)
    size = None if fraction is None else fraction * tiling["scale"]
    return geoms, AreaIndex.build(geoms, cell_size=size)


@SETTINGS
@given(tiling=tilings, fraction=cell_fractions, seed=st.integers(0, 2**16))
def test_property_matches_brute_force(tiling, fraction, seed):
    geoms, index = _build(tiling, fraction)
    x, y = probe_points(geoms, index, seed, 200)
    found = assert_exact(index, geoms, x, y)
    # The union of a tiling: covered by some tile <=> assigned to exactly one area.
    covered = np.zeros(len(x), dtype=bool)
    for geom in geoms:
        covered |= shapely.intersects_xy(geom, x, y)
    assert np.array_equal(found.area >= 0, covered)
    assert found.area.max() < len(geoms)


@SETTINGS
@given(tiling=tilings, fraction=cell_fractions, seed=st.integers(0, 2**16), data=st.data())
def test_property_independent_of_order_and_chunks(tiling, fraction, seed, data):
    geoms, index = _build(tiling, fraction)
    x, y = probe_points(geoms, index, seed, 100)
    whole = index.locate(x, y)
    order = np.random.default_rng(seed).permutation(len(x))
    shuffled = index.locate(x[order], y[order])
    assert np.array_equal(shuffled.area, whole.area[order])
    assert np.array_equal(shuffled.tie, whole.tie[order])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(x)), max_size=5)))
    pieces = [
        index.locate(x[a:b], y[a:b]) for a, b in zip([0, *cuts], [*cuts, len(x)], strict=True)
    ]
    assert np.array_equal(np.concatenate([p.area for p in pieces]), whole.area)
    assert np.array_equal(np.concatenate([p.tie for p in pieces]), whole.tie)


def test_prepared_and_unprepared_agree():
    # The reference uses prepared copies; check that preparing changes no answer.
    geoms = warped_tiling(11, 4, 4, jitter=0.3, scale=1.0, shift=0.0)
    index = AreaIndex.build(geoms)
    x, y = probe_points(geoms, index, 11, 200)
    plain = np.column_stack([shapely.intersects_xy(g, x, y) for g in geoms])
    copies = shapely.from_wkb(shapely.to_wkb(np.asarray(geoms, dtype=object)))
    shapely.prepare(copies)
    fast = np.column_stack([shapely.intersects_xy(g, x, y) for g in copies])
    assert np.array_equal(plain, fast)


def test_internal_chunking(monkeypatch):
    geoms = warped_tiling(7, 5, 4, jitter=0.3, scale=1.0, shift=0.0)
    index = AreaIndex.build(geoms)
    x, y = probe_points(geoms, index, 3, 500)
    whole = index.locate(x, y)
    monkeypatch.setattr(spatial_index, "_CHUNK", 37)
    chunked = index.locate(x, y)
    assert np.array_equal(chunked.area, whole.area)
    assert np.array_equal(chunked.tie, whole.tie)


# --------------------------------------------------------------------------- storage


def test_save_load_round_trip(tmp_path):
    geoms = warped_tiling(1, 4, 3, jitter=0.2, scale=1.0, shift=0.0)
    index = AreaIndex.build(geoms, cell_size=0.3)
    path = tmp_path / "layer.npz"
    save_index(index, path)
    assert path.is_file()
    assert not list(tmp_path.glob("*.tmp"))
    loaded = load_index(path, geoms)
    assert loaded.fingerprint == index.fingerprint
    assert loaded.cell_size == index.cell_size
    assert loaded.shape == index.shape
    assert loaded.nudge == index.nudge
    assert np.array_equal(loaded.grid, index.grid)
    x, y = probe_points(geoms, index, 5, 200)
    a, b = index.locate(x, y), loaded.locate(x, y)
    assert np.array_equal(a.area, b.area)
    assert np.array_equal(a.tie, b.tie)


def test_fingerprint_depends_on_geometry_order_and_cell_size():
    geoms = grid_squares()
    base = AreaIndex.build(geoms, cell_size=0.5).fingerprint
    assert len(base) == 64
    assert AreaIndex.build(list(geoms), cell_size=0.5).fingerprint == base
    assert AreaIndex.build(geoms[::-1], cell_size=0.5).fingerprint != base
    assert AreaIndex.build(geoms, cell_size=0.25).fingerprint != base


def test_load_detects_mismatch(tmp_path):
    geoms = grid_squares()
    path = tmp_path / "grid.npz"
    save_index(AreaIndex.build(geoms), path)
    moved = [*geoms[:-1], box(2, 2, 3, 3.0000001)]
    with pytest.raises(IndexMismatchError, match="other geometries"):
        load_index(path, moved)
    with pytest.raises(IndexMismatchError):
        load_index(path, geoms[:-1])
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["format_version"] = np.int64(spatial_index.FORMAT_VERSION + 1)
    np.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(IndexMismatchError, match="format"):
        load_index(tmp_path / "future.npz", geoms)


def test_load_detects_damaged_arrays(tmp_path):
    geoms = grid_squares()
    path = tmp_path / "grid.npz"
    save_index(AreaIndex.build(geoms, cell_size=0.5), path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    for name, damaged in [
        ("grid", arrays["grid"][:-1]),
        ("grid", arrays["grid"].astype(np.int64)),
        ("edge_candidates", arrays["edge_candidates"][:-1]),
        ("edge_candidates", arrays["edge_candidates"] + 100),
    ]:
        np.savez(tmp_path / "bad.npz", **{**arrays, name: damaged})
        with pytest.raises(IndexMismatchError, match="damaged"):
            load_index(tmp_path / "bad.npz", geoms)


def test_cells_are_clamped_onto_the_outside_ring():
    index = AreaIndex.build(grid_squares(), cell_size=0.4)
    x = np.array([-100.0, 100.0, np.nan, 0.5, 2.5])  # the last two: interior cells
    y = np.array([1.0, 1.0, 1.0, 0.5, 2.5])
    codes = index.grid[index.cells(x, y)]
    assert codes[:3].tolist() == [-1, -1, -1]
    assert codes[3:].tolist() == [0, 8]


def test_cached_index_reuses_file(tmp_path, monkeypatch):
    geoms = grid_squares()
    cache = tmp_path / "cache"
    first = cached_index(geoms, cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert [f.name for f in files] == [f"{first.fingerprint}.npz"]

    def refuse(*args, **kwargs):
        msg = "rebuilt although cached"
        raise AssertionError(msg)

    monkeypatch.setattr(AreaIndex, "_build", refuse)
    second = cached_index(geoms, cache_dir=cache)
    assert second.fingerprint == first.fingerprint
    assert np.array_equal(second.grid, first.grid)


def test_cached_index_rebuilds_corrupt_file(tmp_path, caplog):
    geoms = grid_squares()
    index = cached_index(geoms, cache_dir=tmp_path)
    path = tmp_path / f"{index.fingerprint}.npz"
    path.write_bytes(b"not an npz file")
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        again = cached_index(geoms, cache_dir=tmp_path)
    assert "rebuilding" in caplog.text
    assert np.array_equal(again.grid, index.grid)
    assert load_index(path, geoms).fingerprint == index.fingerprint


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: _truncate(p, 0.5), id="truncated-half"),
        pytest.param(lambda p: _truncate(p, 0.98), id="truncated-tail"),
        pytest.param(lambda p: _truncate(p, 0.0), id="empty"),
        pytest.param(lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 40), id="zip-garbage"),
        pytest.param(lambda p: p.write_bytes(np.random.default_rng(1).bytes(5000)), id="noise"),
    ],
)
def test_cached_index_heals_damaged_file(tmp_path, caplog, damage):
    """A damaged index file is removed, rebuilt and rewritten; later loads use it again."""
    geoms = grid_squares()
    index = cached_index(geoms, cache_dir=tmp_path)
    path = tmp_path / f"{index.fingerprint}.npz"
    damage(path)
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        again = cached_index(geoms, cache_dir=tmp_path)
    assert "unreadable" in caplog.text and "removing it and rebuilding" in caplog.text
    assert str(path) in caplog.text
    assert np.array_equal(again.grid, index.grid)
    assert load_index(path, geoms).fingerprint == index.fingerprint  # the file is whole again
    assert sorted(f.name for f in tmp_path.iterdir()) == [path.name]  # no temp files left


def test_cached_index_heals_other_format_version(tmp_path, caplog):
    geoms = grid_squares()
    index = cached_index(geoms, cache_dir=tmp_path)
    path = tmp_path / f"{index.fingerprint}.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["format_version"] = np.int64(spatial_index.FORMAT_VERSION + 1)
    with path.open("wb") as stream:
        np.savez(stream, **arrays)
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        cached_index(geoms, cache_dir=tmp_path)
    assert "IndexMismatchError" in caplog.text
    with np.load(path) as data:
        assert int(data["format_version"]) == spatial_index.FORMAT_VERSION


def test_cached_index_heals_unreadable_permission(tmp_path, caplog, monkeypatch):
    geoms = grid_squares()
    index = cached_index(geoms, cache_dir=tmp_path)
    path = tmp_path / f"{index.fingerprint}.npz"
    real_open = Path.open

    def no_read(self, mode="r", *args, **kwargs):
        if self == path and "r" in mode:
            msg = f"[Errno 13] Permission denied: {str(self)!r}"
            raise PermissionError(msg)
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", no_read)
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        again = cached_index(geoms, cache_dir=tmp_path)
    monkeypatch.undo()
    assert "PermissionError" in caplog.text and "removing it and rebuilding" in caplog.text
    assert np.array_equal(again.grid, index.grid)
    assert load_index(path, geoms).fingerprint == index.fingerprint


def test_outline_cache_heals_and_is_atomic(tmp_path, caplog, monkeypatch):
    geoms = grid_squares()
    first = cached_outline(geoms, key="sha:abc", cache_dir=tmp_path)
    path = tmp_path / "outline-sha-abc.wkb"
    assert first.equals(outline(geoms)) and path.is_file()
    _truncate(path, 0.5)
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        again = cached_outline(geoms, key="sha:abc", cache_dir=tmp_path)
    assert "unreadable" in caplog.text
    assert again.equals(first)
    assert shapely.from_wkb(path.read_bytes()).equals(first)
    # A write that fails half-way leaves neither a partial entry nor a temp file.
    path.unlink()

    def fail(self, data):
        with self.open("wb") as stream:
            stream.write(data[:10])  # half-written, then the disk fills up
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(Path, "write_bytes", fail)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        third = cached_outline(geoms, key="sha:abc", cache_dir=tmp_path)
    assert "could not cache" in caplog.text and third.equals(first)
    assert not list(tmp_path.iterdir())


def test_cached_index_survives_unwritable_cache(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        index = cached_index(grid_squares(), cache_dir=blocker / "cache")
    assert "could not cache" in caplog.text
    assert index.locate([0.5], [0.5]).area.tolist() == [0]


def test_cached_index_without_cache_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    index = cached_index(grid_squares(), cache_dir=None, cell_size=0.5)
    assert index.cell_size == 0.5
    assert not list(tmp_path.iterdir())


def test_repr_mentions_size():
    text = repr(AreaIndex.build(grid_squares()))
    assert "9 areas" in text
    assert "edge cells" in text


# --------------------------------------------------------------------------- real data


def test_baltimore_neighborhoods_match_brute_force(shared_data):
    geopandas = pytest.importorskip("geopandas")
    path = shared_data / "baltimore" / "neighborhoods_2010.geojson"
    geoms = geopandas.read_file(path).geometry.to_numpy()
    index = AreaIndex.build(geoms)
    rng = np.random.default_rng(2010)
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    random = rng.uniform([xmin, ymin], [xmax, ymax], (200_000, 2))
    vertices = shapely.get_coordinates(geoms)
    xy = np.concatenate([random, vertices])
    found = assert_exact(index, geoms, xy[:, 0], xy[:, 1])
    # Every vertex is on some boundary, and shared ones are ties.
    on_vertex = found.area[len(random) :]
    assert (on_vertex >= 0).all()
    assert found.tie[len(random) :].sum() > len(vertices) * 0.4
    # Null island, swapped lat/long and missing coordinates are outside every area.
    odd = index.locate([0.0, 39.29, np.nan, -76.61], [0.0, -76.61, 39.29, np.nan])
    assert odd.area.tolist() == [-1, -1, -1, -1]


def test_concurrent_writers_of_one_entry_use_their_own_temporary_files(tmp_path):
    """Threads of one process (a Dask worker) share a pid: each writer gets its own name."""
    target = tmp_path / "entry.bin"
    with atomic_write(target) as first, atomic_write(target) as second:
        assert first != second
        first.write_bytes(b"first")
        second.write_bytes(b"second")
    assert target.read_bytes() == b"first"  # the last to finish wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["entry.bin"]

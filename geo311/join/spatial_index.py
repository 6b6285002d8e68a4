"""Exact, fast point-in-polygon assignment for one boundary layer.

:class:`AreaIndex` answers "which area of this layer covers each point?" for
millions of points at a time, with the same answer as testing every point
against every polygon with :func:`shapely.intersects_xy` (interior *or*
boundary), and one documented rule for points that several areas cover.

Semantics
---------
Point ``i`` is in area ``j`` when polygon ``j`` covers it.  When no area
covers the point (or ``x``/``y`` is NaN or infinite) the answer is ``-1``.
When two or more areas cover it -- a shared edge or vertex, or an overlap --
``tie`` is True and exactly one area is chosen:

    *a boundary point belongs to the area on its north-east side.*

Concretely, among the areas that cover ``(x, y)``, those that also cover the
nudged point ``(x + d, y + 0.618 d)`` are preferred, and among the preferred
(or, when none covers the nudged point, among all covering areas) the lowest
position wins.  ``d`` is ``1e-9`` times the larger side of the layer's
bounding box (never less than 64 units in the last place of the
coordinates), about 20 micrometres for a city in degrees.  The slope 0.618 (the
golden ratio's conjugate) keeps the nudge off horizontal, vertical and
diagonal edges, so on a shared vertical edge the eastern area wins, on a
horizontal edge the northern one, and at a four-way corner the north-eastern.

Design
------
A uniform grid of square cells (``cell_size`` in the layer's own units) spans
the layer's bounding box plus two cells on each side; the outermost ring of
cells is always "outside", and points off the grid (or with NaN coordinates)
are clamped onto it, so they need no separate test.  Each cell holds one
``int32``:

* ``j >= 0``: no polygon edge comes near the cell and area ``j`` alone covers
  it, so every point in the cell is answered by lookup;
* ``-1``: no edge comes near and no area covers it;
* ``-2 - k``: an *edge cell*; ``k`` indexes a candidate list (CSR arrays
  ``edge_ptr``/``edge_candidates``) and its points get exact tests against
  those prepared polygons only.

The build does no per-cell geometry operation:

1. *Edge cells.*  Every ring segment is cut into pieces no longer than a cell;
   each piece marks the cells its bounding box meets, padded by a small
   epsilon (a millionth of a cell, and never less than 1024 units in the last
   place of the coordinates; cells must be at least 10,000 such units wide) so
   rounding can only ever mark too many cells, never too few.
   Cells are found with the same formula that :meth:`AreaIndex.locate` uses
   (:func:`_cell_of`: ``(v - origin) * (1 / cell_size)`` clamped to the grid,
   then truncated), so both sides agree on the cell borders to the last bit.
2. *Interior labels by scanlines.*  For every grid row, the crossings of the
   row's centre line with every ring are computed (half-open in ``y``, so a
   vertex on the line is counted once), sorted per (row, polygon part) and
   paired even-odd; the cells whose centres fall between a pair are inside
   that part.  Coverage counts and label sums go into difference arrays, so
   the cost is one cumulative sum over the grid.  Cells covered by more than
   one area (overlaps) become edge cells.
3. *Candidates.*  An edge cell's candidates are the areas whose edges touch it
   plus the areas that cover its centre.  This is complete: an area that
   covers some point of the cell but whose boundary does not touch the cell
   covers the whole cell, centre included.

Why lookups are exact: the cell formula is monotone, so the points it sends
to a cell form a rectangle that differs from the cell by a few ulps, far less
than the epsilon.  If no edge was marked in the cell, no boundary crosses
that rectangle, so every such point is inside exactly the areas that hold the
cell's centre.  And the scanline label of that centre is exact, because the
crossing of any edge that stays clear of the cell lies well away from the
centre (crossings are clamped to their segment's x-range, so even nearly
horizontal edges cannot land on the wrong side).

Measured on the Baltimore layers (``scripts/bench_join.py``; 2 CPUs): the
neighbourhoods (278 areas, ~130,000 vertices) build in about 0.16 s into a
2013 x 2093 grid (17.6 MiB) whose edge cells hold ~4 % of city points; three
layers answer 5 million points in about 0.9 s from a warm cache and 1.2 s
cold, against about 34 s for ``points_from_xy`` + ``sjoin(predicate="within")``.
Whole-layer R-trees were measured as the alternative: shapely's ``STRtree``
(box query plus exact test, ~0.9 s per million points and layer, plus 1 s to
make point objects) and ``rtree`` (~4 s per million for the box query alone)
are both far slower than one array lookup per point, so neither is used here,
and ``rtree`` is not a dependency.

Indexes are plain arrays, saved as ``.npz`` and keyed by a SHA-256
fingerprint of the geometries' WKB, the cell size and the format version
(:func:`geo311.join.index_cache.cached_index`), so boundary files that rarely
change are indexed once.

Examples
--------
>>> import numpy as np
>>> from shapely import box
>>> index = AreaIndex.build([box(0, 0, 1, 1), box(1, 0, 2, 1)])
>>> found = index.locate(np.array([0.5, 1.0, 5.0]), np.array([0.5, 0.5, 0.5]))
>>> found.area.tolist(), found.tie.tolist()
([0, 1, -1], [False, True, False])
"""

from __future__ import annotations

import hashlib
import logging
import math
import struct
from typing import Any, NamedTuple

import numpy as np
import shapely

from geo311._errors import InputError, OptionError

__all__ = ["AreaIndex", "Located", "default_cell_size"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Version of the index layout; part of every fingerprint and saved file."""

NUDGE_FRACTION = 1e-9
"""Tie-break nudge distance as a fraction of the layer's larger extent."""

NUDGE_SLOPE = 0.6180339887498949
"""The nudge goes ``(d, NUDGE_SLOPE * d)``: east, and a little less north."""

EDGE_SHARE = 0.02
"""Share of the bounding box that :func:`default_cell_size` lets edge cells cover."""

MAX_DEFAULT_CELLS = 1 << 22
"""Largest grid :func:`default_cell_size` chooses (16 MiB of ``int32``)."""

MAX_CELLS = 1 << 26
"""Largest grid :meth:`AreaIndex.build` accepts (256 MiB of ``int32``)."""

_POLYGON_TYPES = (3, 6)  # shapely type ids of Polygon and MultiPolygon
_OUTSIDE = -1
_CHUNK = 1 << 20
_FIRST_EDGE = -2


class Located(NamedTuple):
    """Result of :meth:`AreaIndex.locate`, one entry per point.

    Attributes
    ----------
    area : numpy.ndarray of int64
        Position of the covering area in the layer's geometries, or ``-1``
        when no area covers the point or its coordinates are not finite.
    tie : numpy.ndarray of bool
        True where two or more areas cover the point (shared edge, shared
        vertex or overlap); ``area`` then holds the one chosen by the
        north-east rule described in the module docstring.
    """

    area: np.ndarray
    tie: np.ndarray


# --------------------------------------------------------------------------- helpers


def _as_geometry_array(geometries: Any) -> np.ndarray:
    """Return ``geometries`` as a 1-D object array, checking every geometry's type."""
    if hasattr(geometries, "to_numpy"):  # GeoSeries / GeometryArray
        geometries = geometries.to_numpy()
    geoms = np.asarray(geometries, dtype=object)
    if geoms.ndim != 1:
        geoms = geoms.reshape(-1)
    types = shapely.get_type_id(geoms)
    bad = ~np.isin(types, (-1, *_POLYGON_TYPES))
    if bad.any():
        where = np.flatnonzero(bad)
        names = sorted({str(shapely.get_type_id(geoms[i])) for i in where[:5]})
        msg = (
            f"AreaIndex needs Polygon or MultiPolygon geometries; {int(bad.sum())} of "
            f"{len(geoms)} are not (positions {where[:5].tolist()}, shapely type ids "
            f"{names}); convert or drop them first"
        )
        raise TypeError(msg)
    return geoms


def _wkb(geoms: np.ndarray) -> np.ndarray:
    """Return the little-endian WKB of every geometry (``None`` stays ``None``)."""
    return shapely.to_wkb(geoms, byte_order=1, include_srid=False)


def _fingerprint(wkbs: np.ndarray, cell_size: float) -> str:
    """Return the SHA-256 over format version, every geometry's WKB and the cell size."""
    digest = hashlib.sha256()
    digest.update(b"geo311.AreaIndex")
    digest.update(struct.pack("<qq", FORMAT_VERSION, len(wkbs)))
    for blob in wkbs:
        if blob is None:
            digest.update(struct.pack("<q", -1))
        else:
            digest.update(struct.pack("<q", len(blob)))
            digest.update(blob)
    digest.update(struct.pack("<d", float(cell_size)))
    return digest.hexdigest()


def _layer_bounds(geoms: np.ndarray) -> tuple[float, float, float, float] | None:
    """Return the layer's bounding box, or None when it has no coordinates."""
    if len(geoms) == 0:
        return None
    xmin, ymin, xmax, ymax = (float(v) for v in shapely.total_bounds(geoms))
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        return None
    return xmin, ymin, xmax, ymax


def default_cell_size(geometries: Any) -> float:
    """Return the cell size :meth:`AreaIndex.build` picks when none is given.

    Points in edge cells cost exact tests, so the size is chosen so that edge
    cells cover about :data:`EDGE_SHARE` of the layer's bounding box: with
    ``L`` the total length of all rings, edge cells number roughly ``L / w``
    and cover ``L * w``, giving ``w = EDGE_SHARE * area(box) / L``.  The grid
    is capped at :data:`MAX_DEFAULT_CELLS` cells (16 MiB as ``int32``).  The
    result is rounded to two significant digits so it reads well in a cache
    key.  ``scripts/bench_join.py`` records the measurements behind the
    constants.

    Parameters
    ----------
    geometries : sequence of shapely Polygon or MultiPolygon
        The layer.

    Returns
    -------
    float
        Cell size in the layer's coordinate units; ``1.0`` for a layer with no
        area.

    Examples
    --------
    >>> from shapely import box
    >>> default_cell_size([box(0, 0, 10, 10)])  # 0.02 * 100 / 40
    0.05
    """
    geoms = _as_geometry_array(geometries)
    bounds = _layer_bounds(geoms)
    if bounds is None:
        return 1.0
    box_area = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1])
    length = float(np.sum(shapely.length(geoms[shapely.get_type_id(geoms) >= 0])))
    if not (box_area > 0 and length > 0):
        return 1.0
    by_edges = EDGE_SHARE * box_area / length
    by_memory = math.sqrt(box_area / MAX_DEFAULT_CELLS)
    return float(f"{max(by_edges, by_memory):.2g}")


def _nudge(bounds: tuple[float, float, float, float] | None) -> tuple[float, float]:
    """Return the tie-break offset ``(dx, dy)`` for a layer with these bounds."""
    if bounds is None:
        return (1e-9, 1e-9 * NUDGE_SLOPE)
    extent = max(bounds[2] - bounds[0], bounds[3] - bounds[1])
    magnitude = max(abs(v) for v in bounds)
    distance = max(NUDGE_FRACTION * extent, 64 * float(np.spacing(max(magnitude, 1.0))))
    return (distance, distance * NUDGE_SLOPE)


class _Segments(NamedTuple):
    """Every ring segment ``(ax, ay) -> (bx, by)`` with its polygon part and area."""

    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    part: np.ndarray
    area: np.ndarray


class _Grid(NamedTuple):
    """Grid geometry: lower-left corner, cell side, columns and rows."""

    x0: float
    y0: float
    w: float
    nx: int
    ny: int


def _segments(geoms: np.ndarray) -> _Segments:
    """Return every ring segment of the layer, with its polygon part and area."""
    parts, area_of_part = shapely.get_parts(geoms, return_index=True)
    rings, part_of_ring = shapely.get_rings(parts, return_index=True)
    coords, ring_of_coord = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of_coord[:-1] == ring_of_coord[1:]
    start = np.flatnonzero(same_ring)
    part = part_of_ring[ring_of_coord[start]]
    return _Segments(
        ax=coords[start, 0],
        ay=coords[start, 1],
        bx=coords[start + 1, 0],
        by=coords[start + 1, 1],
        part=part.astype(np.int64),
        area=area_of_part[part].astype(np.int64),
    )


def _cell_of(values: np.ndarray, origin: float, inverse: float, n: int) -> np.ndarray:
    """Return the grid column (or row) of every value: the one formula build and locate share.

    ``(v - origin) * inverse`` is clamped to ``[0, n - 1]`` (NaN goes to 0) and
    truncated.  It is monotone in ``v``, so each cell's points form an interval.
    """
    scaled = values - origin
    scaled *= inverse
    np.fmax(scaled, 0, out=scaled)
    np.fmin(scaled, n - 1, out=scaled)
    return scaled.astype(np.intp)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Return the distinct values, ascending (a plain sort beats hashing here)."""
    values = np.sort(values)
    if len(values) == 0:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _expand_ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(owner, value)`` listing ``starts[i] + 0 .. counts[i]-1`` for every i."""
    counts = counts.astype(np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    value = np.repeat(starts.astype(np.int64) - offsets, counts) + np.arange(int(counts.sum()))
    return owner, value


# --------------------------------------------------------------------------- the index


class AreaIndex:
    """Grid index that assigns points to the one area of a layer covering them.

    Build with :meth:`AreaIndex.build` (or :func:`cached_index`), query with
    :meth:`AreaIndex.locate`.  The constructor takes the finished arrays and
    is not meant to be called directly.

    Attributes
    ----------
    geometries : numpy.ndarray of shapely geometries
        Private, prepared copies of the layer's polygons, in input order.
    fingerprint : str
        SHA-256 of the format version, the geometries' WKB and the cell size.
    cell_size : float
        Side of the square grid cells, in the layer's units.
    origin : tuple of float
        ``(x0, y0)``, the lower-left corner of cell ``(0, 0)``.
    shape : tuple of int
        ``(rows, columns)`` of the grid.
    grid : numpy.ndarray of int32
        Flat cell codes, row-major: area position, ``-1`` (outside) or
        ``-2 - k`` (edge cell ``k``).
    edge_ptr, edge_candidates : numpy.ndarray
        CSR candidate lists: edge cell ``k`` tests the areas
        ``edge_candidates[edge_ptr[k]:edge_ptr[k + 1]]``.
    nudge : tuple of float
        The tie-break offset ``(dx, dy)``.
    """

    def __init__(
        self,
        *,
        geometries: np.ndarray,
        fingerprint: str,
        cell_size: float,
        origin: tuple[float, float],
        shape: tuple[int, int],
        grid: np.ndarray,
        edge_ptr: np.ndarray,
        edge_candidates: np.ndarray,
        nudge: tuple[float, float],
    ) -> None:
        self.geometries = geometries
        self.fingerprint = fingerprint
        self.cell_size = float(cell_size)
        self.origin = (float(origin[0]), float(origin[1]))
        self.shape = (int(shape[0]), int(shape[1]))
        self.grid = grid
        self.edge_ptr = edge_ptr
        self.edge_candidates = edge_candidates
        self.nudge = (float(nudge[0]), float(nudge[1]))
        self._inverse = 1.0 / self.cell_size

    # ----------------------------------------------------------------- build

    @classmethod
    def build(cls, geometries: Any, *, cell_size: float | None = None) -> AreaIndex:
        """Build the index for one layer of polygons.

        Parameters
        ----------
        geometries : sequence or array of shapely Polygon / MultiPolygon
            The layer's areas, all in one CRS; ``None`` or empty entries never
            cover anything.  Geometries should be valid (as
            ``geographies.py`` makes them): for invalid ones "covers" is
            whatever GEOS says.  The index keeps prepared copies.
        cell_size : float, optional
            Grid cell side in the layer's units; :func:`default_cell_size`
            when omitted.

        Returns
        -------
        AreaIndex

        Raises
        ------
        TypeError
            If a geometry is not a Polygon or MultiPolygon.
        OptionError
            If ``cell_size`` is not positive and finite, or so small that the
            grid would exceed :data:`MAX_CELLS` cells.
        """
        geoms = _as_geometry_array(geometries)
        wkbs = _wkb(geoms)
        size = default_cell_size(geoms) if cell_size is None else float(cell_size)
        return cls._build(wkbs, size, _fingerprint(wkbs, size))

    @classmethod
    def _build(cls, wkbs: np.ndarray, cell_size: float, fingerprint: str) -> AreaIndex:
        if not (math.isfinite(cell_size) and cell_size > 0):
            msg = f"cell_size must be a positive finite number, got {cell_size!r}"
            raise OptionError(msg)
        geoms = shapely.from_wkb(wkbs)
        shapely.prepare(geoms)
        bounds = _layer_bounds(geoms)
        w = cell_size
        if bounds is None:
            return cls(
                geometries=geoms,
                fingerprint=fingerprint,
                cell_size=w,
                origin=(0.0, 0.0),
                shape=(1, 1),
                grid=np.full(1, _OUTSIDE, dtype=np.int32),
                edge_ptr=np.zeros(1, dtype=np.int64),
                edge_candidates=np.zeros(0, dtype=np.int32),
                nudge=_nudge(None),
            )
        xmin, ymin, xmax, ymax = bounds
        magnitude = max(abs(v) for v in bounds)
        ulp = float(np.spacing(max(magnitude, 1.0)))
        if w < 1e4 * ulp:
            msg = (
                f"cell_size {w!r} is too small for coordinates of magnitude {magnitude:g} "
                f"(floating-point spacing {ulp:g}); use at least {1e4 * ulp:g}"
            )
            raise OptionError(msg)
        # Two spare cells on every side: the outer ring is never near an edge, so
        # points clamped onto it (off the grid, NaN) are answered "outside".
        x0, y0 = xmin - 2 * w, ymin - 2 * w
        nx = math.floor((xmax - x0) / w) + 3
        ny = math.floor((ymax - y0) / w) + 3
        if nx * ny > MAX_CELLS:
            msg = (
                f"cell_size {w!r} gives a {ny} x {nx} grid ({nx * ny:,} cells), more than "
                f"the {MAX_CELLS:,} allowed; use a larger cell_size"
            )
            raise OptionError(msg)
        segments = _segments(geoms)
        grid_spec = _Grid(x0, y0, w, nx, ny)
        n_areas = len(geoms)
        # Far above rounding in the cell formula, far below a cell (w >= 1e4 ulp).
        eps = max(w * 1e-6, 1024 * ulp)

        edge_cell, edge_area = _edge_cells(segments, grid_spec, n_areas=n_areas, eps=eps)
        count, label, multi_cell, multi_area = _interior_labels(segments, grid_spec)

        # Candidate pairs (cell, area): edge touches, plus centre coverage of those cells.
        is_edge = np.zeros(nx * ny, dtype=bool)
        is_edge[edge_cell] = True
        is_edge[multi_cell] = True
        centre_cells = np.flatnonzero(is_edge & (count == 1))
        pair_cell = np.concatenate([edge_cell, multi_cell, centre_cells])
        pair_area = np.concatenate([edge_area, multi_area, label[centre_cells]])
        key = _sorted_unique(pair_cell * n_areas + pair_area)
        pair_cell, pair_area = np.divmod(key, n_areas)
        cells = np.flatnonzero(is_edge)
        # Pairs are sorted by cell id, and edge numbers follow cell ids, so CSR is direct.
        rank = np.searchsorted(cells, pair_cell)
        edge_ptr = np.concatenate([[0], np.cumsum(np.bincount(rank, minlength=len(cells)))])

        grid = label
        grid[cells] = (_FIRST_EDGE - np.arange(len(cells))).astype(np.int32)
        frame = grid.reshape(ny, nx)
        ring = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
        if (ring != _OUTSIDE).any():  # pragma: no cover - guarded by the margins above
            msg = "internal error: the grid's outer ring is not outside every area"
            raise RuntimeError(msg)
        index = cls(
            geometries=geoms,
            fingerprint=fingerprint,
            cell_size=w,
            origin=(x0, y0),
            shape=(ny, nx),
            grid=grid,
            edge_ptr=edge_ptr.astype(np.int64),
            edge_candidates=pair_area.astype(np.int32),
            nudge=_nudge(bounds),
        )
        logger.debug(
            "built area index: %d areas, %d x %d grid of %g, %d edge cells",
            n_areas,
            ny,
            nx,
            w,
            len(cells),
        )
        return index

    # ----------------------------------------------------------------- query

    def locate(self, x: Any, y: Any) -> Located:
        """Return the covering area of every point, with tie flags.

        Parameters
        ----------
        x, y : array_like of float
            Coordinates in the layer's CRS, same shape.  NaN or infinite
            coordinates give ``-1``.

        Returns
        -------
        Located
            ``area`` (int64, ``-1`` where uncovered) and ``tie`` (bool), each
            of the input's shape.
        """
        xs = np.asarray(x, dtype=np.float64)
        ys = np.asarray(y, dtype=np.float64)
        if xs.shape != ys.shape:
            msg = f"x and y must have the same shape, got {xs.shape} and {ys.shape}"
            raise InputError(msg)
        shape = xs.shape
        xs = xs.reshape(-1)
        ys = ys.reshape(-1)
        area = np.empty(len(xs), dtype=np.int64)
        tie = np.zeros(len(xs), dtype=bool)
        # Chunks bound the temporaries (about 40 bytes a point) and stay cache-friendly.
        for start in range(0, len(xs), _CHUNK):
            stop = start + _CHUNK
            self._locate_chunk(xs[start:stop], ys[start:stop], area[start:stop], tie[start:stop])
        return Located(area.reshape(shape), tie.reshape(shape))

    def cells(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the flat grid cell of every point (for diagnostics and benchmarks).

        Points off the grid or with NaN coordinates map to the outer ring of
        cells, which is always "outside".  ``index.grid[index.cells(x, y)]``
        is each point's cell code; codes ``<= -2`` mark edge cells.

        Parameters
        ----------
        x, y : numpy.ndarray of float
            1-D coordinates in the layer's CRS.

        Returns
        -------
        numpy.ndarray of intp
        """
        ny, nx = self.shape
        flat = _cell_of(np.asarray(y, dtype=np.float64), self.origin[1], self._inverse, ny)
        flat *= nx
        flat += _cell_of(np.asarray(x, dtype=np.float64), self.origin[0], self._inverse, nx)
        return flat

    def _locate_chunk(
        self, xs: np.ndarray, ys: np.ndarray, area: np.ndarray, tie: np.ndarray
    ) -> None:
        """Answer one chunk of points into the ``area`` and ``tie`` views."""
        code = self.grid[self.cells(xs, ys)]
        area[:] = code
        edge = np.flatnonzero(code <= _FIRST_EDGE)
        if len(edge):
            area[edge] = _OUTSIDE
            self._resolve_edges(xs, ys, edge, _FIRST_EDGE - code[edge], area=area, tie=tie)

    def _resolve_edges(
        self,
        xs: np.ndarray,
        ys: np.ndarray,
        points: np.ndarray,
        cells: np.ndarray,
        *,
        area: np.ndarray,
        tie: np.ndarray,
    ) -> None:
        """Exact-test the points in edge cells; write answers into ``area``/``tie``."""
        starts = self.edge_ptr[cells]
        counts = self.edge_ptr[cells + 1] - starts
        owner, pos = _expand_ranges(starts, counts)
        cand = self.edge_candidates[pos].astype(np.int64)
        # Test polygon by polygon: the same prepared geometry stays hot in cache.
        by_area = np.argsort(cand, kind="stable")
        owner, cand = owner[by_area], cand[by_area]
        px = xs[points][owner]
        py = ys[points][owner]
        hit = shapely.intersects_xy(self.geometries[cand], px, py)
        owner, cand, px, py = owner[hit], cand[hit], px[hit], py[hit]
        covering = np.bincount(owner, minlength=len(points))
        single = covering[owner] == 1
        area[points[owner[single]]] = cand[single]
        several = ~single
        if not several.any():
            return
        owner, cand = owner[several], cand[several]
        nudged = shapely.intersects_xy(
            self.geometries[cand], px[several] + self.nudge[0], py[several] + self.nudge[1]
        )
        # Prefer areas covering the nudged point, then the lowest position.
        n_areas = len(self.geometries)
        rank = np.where(nudged, cand, cand + n_areas)
        best = np.full(len(points), 2 * n_areas, dtype=np.int64)
        np.minimum.at(best, owner, rank)
        tied = np.flatnonzero(covering >= 2)
        area[points[tied]] = best[tied] % n_areas
        tie[points[tied]] = True

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (not counting the geometries)."""
        return int(self.grid.nbytes + self.edge_ptr.nbytes + self.edge_candidates.nbytes)

    @property
    def n_edge_cells(self) -> int:
        """Number of grid cells whose points need exact tests."""
        return len(self.edge_ptr) - 1

    def __repr__(self) -> str:
        ny, nx = self.shape
        return (
            f"AreaIndex({len(self.geometries)} areas, {ny} x {nx} cells of {self.cell_size:g}, "
            f"{self.n_edge_cells:,} edge cells, {self.nbytes / 2**20:.1f} MiB, "
            f"fingerprint {self.fingerprint[:12]})"
        )


# --------------------------------------------------------------------------- build steps


def _edge_cells(
    segments: _Segments, grid: _Grid, *, n_areas: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(cell, area)`` pairs for every cell a segment of ``area`` may touch.

    Segments are cut into pieces at most one cell long, so each piece's padded
    bounding box spans at most three cells per axis.
    """
    x0, y0, w, nx, ny = grid
    sx0, sy0, sx1, sy1 = segments.ax, segments.ay, segments.bx, segments.by
    pieces = np.maximum(np.ceil(np.maximum(np.abs(sx1 - sx0), np.abs(sy1 - sy0)) / w), 1)
    seg, step = _expand_ranges(np.zeros(len(pieces), dtype=np.int64), pieces.astype(np.int64))
    total = pieces[seg]
    t0 = step / total
    t1 = (step + 1) / total
    dx = (sx1 - sx0)[seg]
    dy = (sy1 - sy0)[seg]
    ax, bx = sx0[seg] + t0 * dx, sx0[seg] + t1 * dx
    ay, by = sy0[seg] + t0 * dy, sy0[seg] + t1 * dy
    inverse = 1.0 / w
    i_lo = _cell_of(np.minimum(ax, bx) - eps, x0, inverse, nx)
    i_hi = _cell_of(np.maximum(ax, bx) + eps, x0, inverse, nx)
    j_lo = _cell_of(np.minimum(ay, by) - eps, y0, inverse, ny)
    j_hi = _cell_of(np.maximum(ay, by) + eps, y0, inverse, ny)
    piece_area = segments.area[seg]
    cells = []
    areas = []
    for di in range(3):
        for dj in range(3):
            keep = (i_lo + di <= i_hi) & (j_lo + dj <= j_hi)
            cells.append((j_lo[keep] + dj) * nx + i_lo[keep] + di)
            areas.append(piece_area[keep])
    key = _sorted_unique(np.concatenate(cells) * n_areas + np.concatenate(areas))
    cell, which = np.divmod(key, n_areas)
    return cell, which


def _run_sums(
    begin: np.ndarray, end: np.ndarray, value: np.ndarray, ny: int, width: int
) -> np.ndarray:
    """Sum ``value`` over runs ``[begin, end)`` of a ``(ny, width)`` grid; drop the last column."""
    grid = np.zeros(ny * width, dtype=np.int32)
    np.add.at(grid, begin, value)
    np.add.at(grid, end, -value)
    rows = grid.reshape(ny, width)
    np.cumsum(rows, axis=1, out=rows)
    return rows[:, : width - 1].reshape(-1)


def _interior_labels(
    segments: _Segments, grid: _Grid
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Label cells by whether their centres are inside each polygon part.

    Returns
    -------
    count : numpy.ndarray of int32
        Per cell, how many parts cover its centre.
    label : numpy.ndarray of int32
        Per cell, the area covering its centre where ``count == 1``, else ``-1``.
    multi_cell, multi_area : numpy.ndarray of int64
        ``(cell, area)`` pairs for the cells with ``count >= 2``.
    """
    x0, y0, w, nx, ny = grid
    sx0, sy0, sx1, sy1 = segments.ax, segments.ay, segments.bx, segments.by
    part, area = segments.part, segments.area
    centre_y = y0 + (np.arange(ny) + 0.5) * w
    lo_y = np.minimum(sy0, sy1)
    hi_y = np.maximum(sy0, sy1)
    slanted = lo_y < hi_y
    # Candidate rows by arithmetic, then the exact half-open test on the centre values.
    first = np.clip(np.floor((lo_y - y0) / w - 0.5), 0, ny - 1).astype(np.int64)
    last = np.clip(np.ceil((hi_y - y0) / w - 0.5), 0, ny - 1).astype(np.int64)
    span = np.where(slanted, last - first + 1, 0)
    seg, row = _expand_ranges(first, span)
    cy = centre_y[row]
    crosses = (lo_y[seg] <= cy) & (cy < hi_y[seg])
    seg, row, cy = seg[crosses], row[crosses], cy[crosses]
    ax, ay, bx, by = sx0[seg], sy0[seg], sx1[seg], sy1[seg]
    cross_x = ax + (cy - ay) * ((bx - ax) / (by - ay))
    cross_x = np.clip(cross_x, np.minimum(ax, bx), np.maximum(ax, bx))
    n_parts = int(part.max()) + 1 if len(part) else 1
    group = row * n_parts + part[seg]
    order = np.lexsort((cross_x, group))
    group, cross_x = group[order], cross_x[order]
    # Each ring crosses a line an even number of times, so pairs line up globally.
    enter, leave = cross_x[0::2], cross_x[1::2]
    pair_group = group[0::2]
    pair_row, pair_part = np.divmod(pair_group, n_parts)
    part_area = np.zeros(n_parts, dtype=np.int64)
    part_area[part] = area
    pair_area = part_area[pair_part]
    col_first = np.ceil((enter - x0) / w - 0.5)
    col_last = np.floor((leave - x0) / w - 0.5)
    col_first = np.clip(col_first, 0, nx).astype(np.int64)
    col_last = np.clip(col_last, -1, nx - 1).astype(np.int64)
    used = col_first <= col_last
    pair_row, col_first, col_last, pair_area = (
        pair_row[used],
        col_first[used],
        col_last[used],
        pair_area[used],
    )
    # Difference arrays over rows of nx + 1 slots: +1 where a run starts, -1 after it ends.
    # int32 throughout; label sums may wrap where several parts overlap, but they are
    # only read where exactly one part covers, and wrapping arithmetic is exact there.
    width = nx + 1
    begin = pair_row * width + col_first
    end = pair_row * width + col_last + 1
    count = _run_sums(begin, end, np.ones(len(begin), dtype=np.int32), ny, width)
    label = _run_sums(begin, end, pair_area.astype(np.int32), ny, width)
    label[count != 1] = _OUTSIDE
    # Overlaps: list every area covering the centre of a doubly covered cell.
    multi_rows = np.zeros(ny, dtype=bool)
    multi_rows[np.flatnonzero(count >= 2) // nx] = True
    if not multi_rows.any():
        empty = np.zeros(0, dtype=np.int64)
        return count, label, empty, empty
    in_rows = multi_rows[pair_row]
    owner, col = _expand_ranges(col_first[in_rows], col_last[in_rows] - col_first[in_rows] + 1)
    cell = pair_row[in_rows][owner] * nx + col
    keep = count[cell] >= 2
    return count, label, cell[keep], pair_area[in_rows][owner][keep]

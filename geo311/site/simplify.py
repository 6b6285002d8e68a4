"""Simplify a polygon layer for display, keeping neighbours' shared borders shared.

Boundary files are digitised at survey precision (Baltimore's neighbourhoods
carry ~130,000 vertices); a web map needs a fraction of that.
:func:`simplify_for_display` simplifies a layer *as a coverage*: every border
between two neighbours is simplified once, so both sides stay identical and no
gap or overlap opens between them.  It then reprojects to EPSG:4326 and rounds
the coordinates to ``decimals`` places (a shared vertex rounds identically on
both sides, so shared borders stay shared).

How the tolerance is honoured
-----------------------------
``shapely.coverage_simplify`` (GEOS >= 3.12) uses Visvalingam-Whyatt: it drops
the vertex whose triangle with its two neighbours has the smallest area, while
that area is below ``tolerance**2``.  That is an *area* criterion, not a
distance: a narrow spike with a short base has a small triangle however far it
reaches, so a VW tolerance of 5 m can move a Baltimore neighbourhood border by
50 m.  There is no exact mapping from a distance to a VW tolerance, so the VW
tolerance is *searched*: starting from ``tolerance_m`` (a triangle with base
``2 * tolerance_m`` and height ``tolerance_m`` is exactly at the threshold),
it is doubled while the result stays within ``tolerance_m`` and otherwise
halved, then bisected; the largest VW tolerance whose **measured**
displacement (after reprojection and rounding) is within ``tolerance_m`` is
kept.  The search evaluates at most :data:`MAX_EVALUATIONS` candidates; a
candidate is first measured on the areas that exceeded the tolerance in the
last rejected one, and only measured in full when they all fit.

Displacement is the discrete Hausdorff distance between each input boundary
and its displayed boundary (the displayed one re-projected to the working
CRS), taken both ways over the vertices of each boundary, in metres; the
reported figure is the maximum over areas.  It agrees with
``shapely.hausdorff_distance`` on the boundaries (it is computed with a
spatial index so the search stays fast).

When the layer is not a valid coverage (neighbours' vertices do not match
exactly, or areas overlap: common in real boundary files) it is first cleaned
with ``shapely.coverage_clean`` (snapping nearby vertices, giving overlaps to
one neighbour, leaving gaps as they are); the cleaning's own movement counts
in the measured displacement.  A layer whose areas overlap deeply (a vertex
of an unmatched border more than :data:`_DEEP_OVERLAP` tolerances inside a
neighbour, as Los Angeles' neighbourhood councils do by up to ~2 km) is not
cleaned: giving such an overlap to one neighbour moves the other's border by
about as much, so no coverage result could fit, and cleaning it is slow.  If
cleaning fails or is skipped, or no coverage result fits the tolerance, each
polygon is simplified on its own with
``shapely.simplify(..., preserve_topology=True)`` (Douglas-Peucker, whose
displacement is bounded by its tolerance) and a WARNING says so: shared
borders may then no longer match exactly.

Cache
-----
A coverage result is kept in memory and on disk, so a second run does not
simplify its layers again (:mod:`geo311.site.display_cache`).

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> squares = gpd.GeoDataFrame(
...     {"name": ["west", "east"]},
...     geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)],
...     crs="EPSG:26985",
... )
>>> display = simplify_for_display(squares, tolerance_m=5)
>>> display.gdf.crs.to_string(), list(display.gdf.columns)
('EPSG:4326', ['name', 'geometry'])
>>> display.vertices_before, display.vertices_after
(10, 10)
>>> display.max_displacement_m < 0.1  # only the rounding to 6 decimals
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from geo311._errors import CRSError, OptionError, SchemaError
from geo311.crs import projected_crs
from geo311.site import display_cache
from geo311.site.displacement import boundary_index, displacement, restrict
from geo311.site.display_cache import Simplified

if TYPE_CHECKING:
    from geo311.background import Background

__all__ = [
    "MAX_EVALUATIONS",
    "METRES_PER_DEGREE",
    "DisplayGeometry",
    "simplify_for_display",
    "simplify_in_background",
]

log = logging.getLogger(__name__)

#: Ground length of one degree of latitude (metres), to size the rounding grid.
METRES_PER_DEGREE = 111_320.0
#: Most candidate simplifications the tolerance search evaluates per method.
MAX_EVALUATIONS = 10
#: Bisection stops when the bracket is narrower than this fraction of its top.
_RELATIVE_PRECISION = 0.1
_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon
#: A layer whose areas overlap deeper than this many tolerances is not cleaned
#: into a coverage but simplified polygon by polygon straight away.
_DEEP_OVERLAP = 20.0
#: Vertices tried at a time when looking for such an overlap.
_DEPTH_CHUNK = 1024


class DisplayGeometry(NamedTuple):
    """A layer simplified for display, and how much it moved.

    Attributes
    ----------
    gdf : geopandas.GeoDataFrame
        Same index, columns and row order as the input; EPSG:4326; geometry
        simplified and coordinates rounded.
    tolerance_m : float
        The displacement budget asked for, in metres.
    max_displacement_m : float
        Largest Hausdorff distance (metres, in the working projected CRS)
        between an input boundary and its displayed boundary, including the
        effect of cleaning, reprojection and coordinate rounding.
    vertices_before, vertices_after : int
        Coordinates in the input and in the displayed geometries.
    """

    gdf: gpd.GeoDataFrame
    tolerance_m: float
    max_displacement_m: float
    vertices_before: int
    vertices_after: int


class _Candidate(NamedTuple):
    """One evaluated simplification: displayed geometries and their measurement."""

    geoms: np.ndarray  # EPSG:4326, rounded, repaired
    displacement: np.ndarray  # per row, metres
    repaired: int  # rows made valid after reprojection
    unrounded: int  # rows kept unrounded because rounding would break them
    restored: int  # rows whose simplification came out empty, kept unsimplified
    parameter: float  # the simplifier's tolerance, metres


# --------------------------------------------------------------------------- checks


def _working_crs(gdf: gpd.GeoDataFrame, crs: Any) -> tuple[CRS, float]:
    """Return the projected CRS to work in and its metres per unit."""
    if gdf.crs is None:
        msg = (
            "the layer has no CRS, so its coordinates cannot be reprojected for display; "
            "set the CRS it was digitised in first, e.g. gdf.set_crs('EPSG:4326') for "
            "longitude/latitude"
        )
        raise CRSError(msg)
    if crs is None:
        work = projected_crs(gdf, where="the layer")
    else:
        try:
            work = CRS.from_user_input(crs)
        except PyprojCRSError as exc:
            msg = f"crs={crs!r} is not a CRS pyproj understands ({exc}); pass e.g. 'EPSG:26985'"
            raise CRSError(msg) from exc
    if not work.is_projected:
        msg = (
            f"crs={work.to_string()} is not projected; simplification tolerances are "
            "distances, so pass a projected CRS (metres or feet), e.g. 'EPSG:26985'"
        )
        raise CRSError(msg)
    factor = work.axis_info[0].unit_conversion_factor if work.axis_info else 1.0
    return work, float(factor or 1.0)


def _check_geometries(geoms: np.ndarray) -> np.ndarray:
    """Return the mask of rows to simplify; raise when a row is not polygonal."""
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    kinds = shapely.get_type_id(geoms)
    wrong = np.flatnonzero(present & ~np.isin(kinds, _POLYGONAL))
    if wrong.size:
        names = sorted({geoms[i].geom_type for i in wrong})
        msg = (
            f"simplify_for_display needs Polygon/MultiPolygon geometries; {wrong.size} "
            f"row(s) at positions {wrong[:10].tolist()} are {', '.join(names)} "
            "(not polygons); drop them or buffer them into polygons first"
        )
        raise SchemaError(msg)
    return present


def _polygonal_part(geom: Any) -> Any:
    """Return the polygonal part of a repaired geometry (an empty Polygon if none)."""
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in _POLYGONAL]
    if not parts:
        return shapely.Polygon()
    merged = shapely.union_all(parts)
    return merged if shapely.get_type_id(merged) in _POLYGONAL else _polygonal_part(merged)


def _repair(geoms: np.ndarray) -> tuple[np.ndarray, int]:
    """Make invalid non-missing geometries valid (polygonal parts only); count them."""
    out = geoms.copy()
    bad = np.flatnonzero(~shapely.is_missing(out) & ~shapely.is_valid(out))
    for i in bad:
        out[i] = _polygonal_part(shapely.make_valid(out[i]))
    return out, int(bad.size)


# --------------------------------------------------------------------------- evaluate


def _round(geoms: np.ndarray, decimals: int) -> np.ndarray:
    return shapely.transform(geoms, lambda xy: np.round(xy, decimals))


def _ring_counts(geoms: np.ndarray) -> np.ndarray:
    """Count the rings (shells and holes) of each row."""
    parts, row = shapely.get_parts(geoms, return_index=True)
    rings = 1 + shapely.get_num_interior_rings(parts)
    return np.bincount(row, weights=rings, minlength=len(geoms)).astype(int)


def _display(
    projected: np.ndarray, original: np.ndarray, work: CRS, decimals: int
) -> tuple[np.ndarray, int, int, int]:
    """Reproject to EPSG:4326 and round; never let a row vanish or turn invalid.

    A row that rounding would make invalid, empty or lose a ring (a sliver or
    hole smaller than the rounding grid) is kept unrounded rather than
    repaired: ``make_valid`` would drop the collapsed ring.  ``make_valid`` is
    only used on the rare row that reprojection itself made invalid.
    """
    present = ~shapely.is_missing(original) & ~shapely.is_empty(original)
    restored = np.flatnonzero(
        present & (shapely.is_missing(projected) | shapely.is_empty(projected))
    )
    if restored.size:
        projected = projected.copy()
        projected[restored] = original[restored]
    lonlat, repaired = _repair(gpd.GeoSeries(projected, crs=work).to_crs("EPSG:4326").to_numpy())
    rounded = _round(lonlat, decimals)
    broken = np.flatnonzero(
        present
        & (
            ~shapely.is_valid(rounded)
            | shapely.is_empty(rounded)
            | ~(shapely.area(rounded) > 0)
            | (_ring_counts(rounded) != _ring_counts(lonlat))
        )
    )
    rounded[broken] = lonlat[broken]
    return rounded, repaired, int(broken.size), int(restored.size)


#: ``evaluate(simplified, parameter, rows)``: measure a candidate, on ``rows`` only if given.
_Evaluate = Callable[[np.ndarray, float, "np.ndarray | None"], _Candidate]


def _evaluator(
    original: np.ndarray, work: CRS, factor: float, decimals: int, tolerance_m: float
) -> _Evaluate:
    """Return the measure of a candidate: displayed geometries and per-row displacement.

    Every step is row by row (reprojection, rounding, repair, the distances
    from a vertex to its own row's boundary), so measuring a subset of rows
    gives those rows' figures of the whole measure, bit for bit.
    """
    radius = max(tolerance_m, 1e-3) / factor
    reference = boundary_index(original, radius)

    def evaluate(simplified: np.ndarray, parameter: float, rows: np.ndarray | None) -> _Candidate:
        base, against = original, reference
        if rows is not None:
            base, simplified = original[rows], simplified[rows]
            against = restrict(reference, rows)
        geoms, repaired, unrounded, restored = _display(simplified, base, work, decimals)
        back = gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(work).to_numpy()
        moved = displacement(against, boundary_index(back, radius), radius) * factor
        return _Candidate(geoms, moved, repaired, unrounded, restored, parameter)

    return evaluate


class _Trials:
    """Evaluate simplifier tolerances, counting the evaluations.

    Only a fitting candidate is kept, so a candidate is first measured on the
    rows that exceeded the tolerance in the last rejected one (the same
    borders tend to fail again): if one of them still exceeds it, the
    candidate is rejected without measuring the other rows.  Otherwise every
    row is measured, so the verdict and a fitting candidate are the same as
    with a full measure.
    """

    def __init__(
        self, simplify: Callable[[float], np.ndarray], evaluate: _Evaluate, tolerance_m: float
    ) -> None:
        self.simplify, self.evaluate, self.tolerance_m = simplify, evaluate, tolerance_m
        self.count = 0
        self.suspects = np.zeros(0, dtype=np.intp)  # rows over the tolerance last time

    def _over(self, displacement: np.ndarray) -> np.ndarray:
        return np.flatnonzero(~(displacement <= self.tolerance_m))

    def __call__(self, parameter: float) -> tuple[_Candidate | None, bool]:
        """Return the candidate and whether it fits (None for a rejected one)."""
        self.count += 1
        simplified = self.simplify(parameter)
        if self.suspects.size:
            check = self.evaluate(simplified, parameter, self.suspects)
            over = self._over(check.displacement)
            if over.size:
                self.suspects = self.suspects[over]
                return None, False
        candidate = self.evaluate(simplified, parameter, None)
        over = self._over(candidate.displacement)
        if over.size:
            self.suspects = over
            return None, False
        return candidate, True


def _bracket(trial: _Trials, *, grow: bool) -> tuple[_Candidate | None, float, float]:
    """Best fitting candidate so far and a bracket ``low`` (fits) < ``high`` (does not)."""
    start = trial.tolerance_m
    candidate, fits = trial(start)
    if fits:
        best, low = candidate, start
        while grow and trial.count < MAX_EVALUATIONS // 2:
            candidate, fits = trial(low * 2)
            if not fits:
                return best, low, low * 2
            best, low = candidate, low * 2
        return best, low, math.inf
    high = start
    while trial.count < MAX_EVALUATIONS // 2:
        candidate, fits = trial(high / 2)
        if fits:
            return candidate, high / 2, high
        high /= 2
    candidate, fits = trial(0.0)
    return (candidate if fits else None), 0.0, high


def _search(
    simplify: Callable[[float], np.ndarray],
    evaluate: _Evaluate,
    tolerance_m: float,
    *,
    grow: bool,
) -> _Candidate | None:
    """Largest simplifier tolerance (metres) whose measured displacement fits ``tolerance_m``.

    Start at ``tolerance_m``; if it fits, double while it fits (``grow``),
    otherwise halve until it fits (ending with 0, no simplification); then
    bisect the bracket geometrically.  Return None when nothing fits.
    """
    trial = _Trials(simplify, evaluate, tolerance_m)
    if tolerance_m <= 0:
        candidate, fits = trial(0.0)
        return candidate if fits else None
    best, low, high = _bracket(trial, grow=grow)
    if best is None or math.isinf(high):
        return best
    while trial.count < MAX_EVALUATIONS and high - low > _RELATIVE_PRECISION * high:
        parameter = math.sqrt(low * high) if low > 0 else high / 2
        candidate, fits = trial(parameter)
        if fits:
            best, low = candidate, parameter
        else:
            high = parameter
    return best


# --------------------------------------------------------------------------- public


def _overlaps_deeper(polygons: np.ndarray, invalid: np.ndarray, depth: float) -> bool:
    """Whether a vertex of an unmatched border lies more than ``depth`` inside another area.

    ``invalid`` holds each area's borders not matching its neighbours'
    (``shapely.coverage_invalid_edges``); ``depth`` is in CRS units.  The
    vertices are tried in chunks, stopping at the first one that deep.
    """
    coords, row = shapely.get_coordinates(invalid, return_index=True)
    if not len(coords):
        return False
    tree, rings = shapely.STRtree(polygons), shapely.boundary(polygons)
    for first in range(0, len(coords), _DEPTH_CHUNK):
        points = shapely.points(coords[first : first + _DEPTH_CHUNK])
        point, area = tree.query(points, predicate="within")
        other = row[first + point] != area
        if not shapely.dwithin(points[point[other]], rings[area[other]], depth).all():
            return True
    return False


def _coverage_base(
    projected: np.ndarray,
    present: np.ndarray,
    *,
    gap_width: float,
    clean: bool,
    deep: float,
    factor: float,
) -> tuple[np.ndarray | None, str]:
    """Return the layer as a valid coverage (cleaned if needed and allowed), or None and why.

    ``gap_width`` is in CRS units: gaps narrower than it count as a defect
    (rounding could turn them into overlaps) and cleaning merges them into a
    neighbour.  A layer whose areas overlap deeper than ``deep`` (CRS units
    of ``factor`` metres; see :func:`_overlaps_deeper`) is not cleaned:
    giving an overlap that deep to one neighbour moves the other's border by
    about as much, far beyond any tolerance the search could meet.
    """
    polygons = projected[present]
    # coverage_is_valid runs the same validation, so keep its edges for the log line
    narrow = _unmatched(shapely.coverage_invalid_edges(polygons, gap_width=gap_width))
    if not narrow:
        return projected, "coverage"
    if not clean:
        if shapely.coverage_is_valid(polygons):
            return projected, "coverage"
        return None, "the layer is not a valid coverage and clean=False"
    invalid = shapely.coverage_invalid_edges(polygons)
    if _overlaps_deeper(polygons, invalid, deep):
        reason = (
            f"areas overlap their neighbours by more than {deep * factor:g} m "
            f"({_DEEP_OVERLAP:g} times the tolerance), so no cleaned coverage could stay "
            "within it"
        )
        return None, reason
    bad = _unmatched(invalid)
    cleaned = shapely.coverage_clean(polygons, gap_width=gap_width)
    lost = int(np.count_nonzero(shapely.is_empty(cleaned) | ~(shapely.area(cleaned) > 0)))
    if lost or not shapely.is_valid(cleaned).all() or not shapely.coverage_is_valid(cleaned):
        reason = (
            f"the layer is not a valid coverage ({narrow} area(s) with unmatched borders or "
            f"narrow gaps) and shapely.coverage_clean could not repair it ({lost} area(s) lost)"
        )
        return None, reason
    log.info(
        "cleaned the layer into an exact coverage with shapely.coverage_clean: %d of %d "
        "area(s) had borders not matching their neighbours' (overlaps resolved, vertices "
        "snapped), %d had them or gaps narrower than %.2g units (merged into a neighbour)",
        bad,
        polygons.size,
        narrow,
        gap_width,
    )
    out = projected.copy()
    out[present] = cleaned
    return out, "cleaned coverage"


def _unmatched(invalid_edges: np.ndarray) -> int:
    """Count the areas with a border that does not match its neighbours' (non-empty edges)."""
    return int(np.count_nonzero(~shapely.is_empty(invalid_edges)))


def _check_display_coverage(geoms: np.ndarray, present: np.ndarray) -> None:
    """Warn when the displayed layer is no longer an exact coverage (rounding artefacts)."""
    count = _unmatched(shapely.coverage_invalid_edges(geoms[present]))
    if count:
        log.warning(
            "after rounding, %d displayed area(s) have borders that no longer match their "
            "neighbours' exactly (slivers narrower than the rounding grid); raise decimals "
            "or gap_width_m to avoid it",
            count,
        )


def _choose(
    projected: np.ndarray,
    present: np.ndarray,
    evaluate: _Evaluate,
    *,
    factor: float,
    tolerance_m: float,
    gap_width: float,
    clean: bool,
) -> tuple[_Candidate | None, str, str]:
    """Simplify as a coverage if possible, else polygon by polygon.

    Returns the candidate, the method used and, for the per-polygon fallback
    of a layer with areas, why the coverage could not be kept (else ``""``).
    """
    if not present.any():
        return None, "per polygon", ""
    base, note = _coverage_base(
        projected,
        present,
        gap_width=gap_width,
        clean=clean,
        deep=_DEEP_OVERLAP * tolerance_m / factor if tolerance_m > 0 else math.inf,
        factor=factor,
    )
    if base is not None:
        coverage = base

        def coverage_simplify(parameter: float) -> np.ndarray:
            out = coverage.copy()
            out[present] = shapely.coverage_simplify(
                coverage[present], parameter / factor, simplify_boundary=True
            )
            return out

        result = _search(coverage_simplify, evaluate, tolerance_m, grow=True)
        if result is not None:
            return result, note, ""
        note = (
            f"no coverage simplification ({note}) stays within {tolerance_m:g} m "
            "(cleaning and rounding alone move boundaries further)"
        )

    def each_simplify(parameter: float) -> np.ndarray:
        return shapely.simplify(projected, parameter / factor, preserve_topology=True)

    return _search(each_simplify, evaluate, tolerance_m, grow=False), "per polygon", note


def _options(tolerance_m: float, decimals: int, gap_width_m: float | None) -> tuple[int, float]:
    """Check the numeric options; return ``decimals`` as int and the gap width in metres."""
    if not (math.isfinite(tolerance_m) and tolerance_m >= 0):
        msg = f"tolerance_m must be a finite distance >= 0 in metres, got {tolerance_m!r}"
        raise OptionError(msg)
    if int(decimals) != decimals or decimals < 0:
        msg = f"decimals must be a whole number >= 0, got {decimals!r}"
        raise OptionError(msg)
    if gap_width_m is None:
        gap_width_m = 2 * METRES_PER_DEGREE * 10.0 ** -int(decimals)
    if not (math.isfinite(gap_width_m) and gap_width_m >= 0):
        msg = f"gap_width_m must be a finite width >= 0 in metres, got {gap_width_m!r}"
        raise OptionError(msg)
    return int(decimals), float(gap_width_m)


def simplify_for_display(
    gdf: gpd.GeoDataFrame,
    *,
    tolerance_m: float = 5.0,
    decimals: int = 6,
    crs: Any = None,
    clean: bool = True,
    gap_width_m: float | None = None,
) -> DisplayGeometry:
    """Simplify a polygon layer for a web map without opening gaps between neighbours.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Polygon layer with a CRS.  Missing or empty geometries pass through.
        Not modified.
    tolerance_m : float, default 5.0
        Largest allowed displacement of any boundary, in metres (including
        rounding).  0 keeps every vertex and only reprojects and rounds.
    decimals : int, default 6
        Decimal places kept in the EPSG:4326 coordinates (6 is ~0.1 m).
    crs : str, int or pyproj.CRS, optional
        Projected CRS to measure and simplify in (default: the layer's
        estimated UTM zone).  Units other than metres are converted.
    clean : bool, default True
        Clean a layer that is not an exact coverage with
        ``shapely.coverage_clean`` before simplifying it as a coverage; with
        False such a layer is simplified polygon by polygon.
    gap_width_m : float, optional
        Gaps between areas narrower than this (metres) are treated as
        digitising slivers: a layer with one is cleaned and the sliver merged
        into a neighbour.  Default: two rounding steps (``2 * 111,320 m *
        10**-decimals``, 0.22 m for 6 decimals), because rounding can turn a
        narrower gap into an overlap.  0 keeps every gap.

    Returns
    -------
    DisplayGeometry
        The displayed frame, the tolerance, the measured maximum displacement
        and the vertex counts before and after.

    Raises
    ------
    CRSError
        The layer has no CRS, or ``crs`` is not a projected CRS.
    SchemaError
        A geometry is neither Polygon nor MultiPolygon.
    OptionError
        ``tolerance_m`` is negative or not finite, or ``decimals`` is negative.

    Notes
    -----
    The search for the coverage (Visvalingam-Whyatt) tolerance is described
    in the module docstring.  A row whose simplification comes out empty is
    kept unsimplified, and a row that rounding would make invalid or rob of a
    ring (a sliver or hole smaller than the rounding grid) is kept unrounded,
    so no non-empty area ever disappears; both, and the rare rows that
    reprojection made invalid (repaired with ``make_valid``), are counted in
    the log line.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Polygon
    >>> zigzag = [(x * 10.0, 1000.0 + (x % 2) * 0.5) for x in range(101)]
    >>> area = Polygon([(0, 0), (1000, 0), *zigzag[::-1]])
    >>> layer = gpd.GeoDataFrame(geometry=[area], crs="EPSG:32618")
    >>> display = simplify_for_display(layer, tolerance_m=2)
    >>> display.vertices_before, display.vertices_after
    (104, 5)
    >>> display.max_displacement_m <= 2
    True
    """
    key = _key(
        gdf, tolerance_m=tolerance_m, decimals=decimals, crs=crs, clean=clean, gap=gap_width_m
    )
    decimals, gap_width_m = _options(tolerance_m, decimals, gap_width_m)
    source = gdf.geometry.to_numpy()
    cached = display_cache.lookup(key)
    if cached is not None:  # the same geometries with the same options: the same answer
        if cached.warning:
            log.warning(*cached.warning)
        log.info(*cached.message)
        return DisplayGeometry(
            _with_geometry(gdf, cached.geoms),
            float(tolerance_m),
            cached.worst,
            cached.before,
            cached.after,
        )
    work, factor = _working_crs(gdf, crs)
    present = _check_geometries(source)
    reprojected = gpd.GeoSeries(source, crs=gdf.crs).to_crs(work).to_numpy()
    projected, invalid_input = _repair(reprojected)
    if invalid_input:
        log.info(
            "repaired %d invalid polygon(s) in a working copy before simplifying", invalid_input
        )
    evaluate = _evaluator(projected, work, factor, decimals, tolerance_m)

    result, method, fallback = _choose(
        projected,
        present,
        evaluate,
        factor=factor,
        tolerance_m=tolerance_m,
        gap_width=gap_width_m / factor,
        clean=clean,
    )
    warning: tuple[Any, ...] = ()
    if fallback:
        warning = (
            "simplifying polygon by polygon, so shared borders may no longer match exactly: %s",
            fallback,
        )
        log.warning(*warning)
    reusable = result is not None
    if result is None:  # rounding alone exceeds the budget (or nothing to simplify)
        result = evaluate(projected, 0.0, None)
        if present.any():
            log.warning(
                "rounding to %d decimals alone moves boundaries by %.2f m, more than "
                "tolerance_m=%g; keeping every vertex (raise decimals to stay within it)",
                decimals,
                float(result.displacement.max(initial=0.0)),
                tolerance_m,
            )

    if method != "per polygon":
        _check_display_coverage(result.geoms, present)
    out = _with_geometry(gdf, result.geoms)
    before = int(shapely.get_num_coordinates(source).sum())
    after = int(shapely.get_num_coordinates(result.geoms).sum())
    worst = float(result.displacement.max(initial=0.0))
    message = (
        "simplified %d area(s) for display (%s, tolerance %g m, parameter %.3g m, %d decimals): "
        "%s -> %s vertices (%.0f%% fewer), max displacement %.2f m; %d made valid, "
        "%d kept unrounded, %d kept unsimplified",
        int(present.sum()),
        method,
        tolerance_m,
        result.parameter,
        decimals,
        f"{before:,}",
        f"{after:,}",
        100 * (1 - after / before) if before else 0.0,
        worst,
        result.repaired,
        result.unrounded,
        result.restored,
    )
    log.info(*message)
    if reusable and not invalid_input:
        entry = Simplified(result.geoms, worst, before, after, message, warning)
        display_cache.store(key, entry)
    return DisplayGeometry(out, float(tolerance_m), worst, before, after)


def simplify_in_background(
    frames: Sequence[gpd.GeoDataFrame], *, tolerance_m: float = 5.0
) -> Background[None] | None:
    """Start :func:`simplify_for_display` of the frames not cached yet, in a forked child.

    The child fills the cache, its log lines silenced: a later
    :func:`simplify_for_display` of the same frame (other options default)
    reads the result and logs it once.  Used by :func:`geo311.run_city` to
    prepare the site's display geometry while the indicator tables are
    computed.

    Parameters
    ----------
    frames : sequence of geopandas.GeoDataFrame
        Polygon layers, as for :func:`simplify_for_display`.  Not modified.
    tolerance_m : float, default 5.0
        As for :func:`simplify_for_display`.

    Returns
    -------
    Background or None
        The child (its result is None once the cache is filled); None when
        every frame is cached already or no child can be forked
        (:func:`geo311.background.can_fork`).
    """
    from geo311.background import Background, can_fork  # noqa: PLC0415 - only for this

    cold = [frame for frame in frames if not _cached(frame, tolerance_m=tolerance_m)]
    if not cold or not can_fork():
        return None
    return Background(
        partial(_fill_cache, cold, tolerance_m),
        what="simplifying the boundaries for display",
        advice="build the site again",
        background=True,
    )


def _fill_cache(frames: Sequence[gpd.GeoDataFrame], tolerance_m: float) -> None:
    """Simplify the frames in a forked child, silently: the caller reads and logs the results."""
    logging.disable(logging.CRITICAL)
    for frame in frames:
        simplify_for_display(frame, tolerance_m=tolerance_m)


def _cached(gdf: gpd.GeoDataFrame, *, tolerance_m: float) -> bool:
    """Whether :func:`simplify_for_display` of ``gdf`` (other options default) is cached."""
    key = _key(gdf, tolerance_m=tolerance_m, decimals=6, crs=None, clean=True, gap=None)
    return display_cache.is_cached(key)


def _key(
    gdf: gpd.GeoDataFrame,
    *,
    tolerance_m: float,
    decimals: int,
    crs: Any,
    clean: bool,
    gap: float | None,
) -> str:
    """Return the cache key of :func:`simplify_for_display` of ``gdf`` with these options."""
    decimals, gap_width_m = _options(tolerance_m, decimals, gap)
    options = (tolerance_m, decimals, str(crs), clean, gap_width_m)
    return display_cache.cache_key(gdf, options)


def _with_geometry(gdf: gpd.GeoDataFrame, geoms: np.ndarray) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` whose geometry is a copy of ``geoms`` (EPSG:4326)."""
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(geoms.copy(), index=gdf.index, crs="EPSG:4326")
    return out.set_crs("EPSG:4326", allow_override=True)

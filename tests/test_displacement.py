"""Tests for geo311.site.displacement: boundary displacement measured row by row."""

from __future__ import annotations

import numpy as np
import shapely
from shapely import Polygon, box

from geo311.site.displacement import boundary_index, displacement, restrict


def _areas() -> np.ndarray:
    ring = [(0, 0), (40, 0), (40, 3), (45, 20), (40, 37), (40, 40), (0, 40)]
    holed = Polygon(
        [(100, 0), (160, 0), (160, 60), (100, 60)], [[(120, 20), (140, 20), (130, 40)]]
    )
    pair = shapely.MultiPolygon([box(200, 0, 220, 20), box(230, 0, 250, 20)])
    return np.array([Polygon(ring), holed, None, pair, box(300, 0, 310, 10)], dtype=object)


def test_restrict_builds_what_indexing_the_rows_afresh_builds() -> None:
    areas = _areas()
    rows = np.array([4, 1, 3])
    kept = restrict(boundary_index(areas, 2.0), rows)
    fresh = boundary_index(areas[rows], 2.0)
    for name in ("coords", "row", "starts", "ends", "seg_row"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(fresh, name))
    assert shapely.equals_exact(kept.probes, fresh.probes, 0).all()
    assert shapely.equals_exact(kept.segments, fresh.segments, 0).all()
    assert shapely.equals_exact(kept.geoms, fresh.geoms, 0).all()


def test_displacement_of_some_rows_matches_the_whole_and_hausdorff() -> None:
    areas = _areas()
    moved = areas.copy()
    moved[0] = Polygon([(0, 0), (40, 0), (40, 40), (0, 40)])  # the 5 m bump cut off
    moved[4] = shapely.affinity.translate(areas[4], 0.5, 0.0)
    whole = displacement(boundary_index(areas, 2.0), boundary_index(moved, 2.0), 2.0)
    expected = [
        0.0 if a is None else shapely.hausdorff_distance(a.boundary, b.boundary)
        for a, b in zip(areas, moved, strict=True)
    ]
    np.testing.assert_allclose(whole, expected)
    assert whole[0] == 5.0
    rows = np.array([0, 4])
    part = displacement(
        restrict(boundary_index(areas, 2.0), rows), boundary_index(moved[rows], 2.0), 2.0
    )
    np.testing.assert_array_equal(part, whole[rows])

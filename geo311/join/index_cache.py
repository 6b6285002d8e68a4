"""On-disk cache of the join's built structures: area indexes and layer outlines.

Boundary files rarely change, so :func:`cached_index` saves each layer's
:class:`~geo311.join.spatial_index.AreaIndex` as ``<fingerprint>.npz`` (the
fingerprint covers the format version, every geometry's WKB and the cell
size) and :func:`cached_outline` saves the layer's outline as
``outline-<key>.wkb``.

The cache heals itself: an entry that cannot be used -- truncated, garbage,
another format version, built for other geometries, unreadable for lack of
permission -- is removed, rebuilt and rewritten, with one WARNING naming the
file and the reason.  Every write goes to a temporary file in the same folder
and is moved into place with :func:`os.replace`, so an interrupted run never
leaves a half-written entry under the final name.  A cache folder that cannot
be written is skipped with a WARNING; the join still runs.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from shapely import box
>>> folder = Path(tempfile.mkdtemp())
>>> first = cached_index([box(0, 0, 1, 1), box(1, 0, 2, 1)], cache_dir=folder)
>>> again = cached_index([box(0, 0, 1, 1), box(1, 0, 2, 1)], cache_dir=folder)
>>> again.fingerprint == first.fingerprint, len(list(folder.glob("*.npz")))
(True, 1)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import shapely

from geo311._errors import Geo311Error
from geo311.cache import read_cached, write_cached
from geo311.io.atomic import atomic_write
from geo311.join.spatial_index import (
    _FIRST_EDGE,
    FORMAT_VERSION,
    AreaIndex,
    _as_geometry_array,
    _fingerprint,
    _layer_bounds,
    _nudge,
    _wkb,
    default_cell_size,
)

__all__ = [
    "IndexMismatchError",
    "cached_index",
    "cached_outline",
    "load_index",
    "outline",
    "save_index",
]

_T = TypeVar("_T")


class IndexMismatchError(Geo311Error, ValueError):
    """A saved index does not belong to the geometries it is loaded for."""


# --------------------------------------------------------------------------- index files


def save_index(index: AreaIndex, path: str | os.PathLike[str]) -> None:
    """Write the index arrays to an ``.npz`` file, atomically.

    Parameters
    ----------
    index : AreaIndex
        The index to save.  The geometries are not stored: :func:`load_index`
        takes them and checks the fingerprint.
    path : str or path-like
        Destination file; its folder is created when missing.
    """
    with atomic_write(Path(path)) as tmp, tmp.open("wb") as stream:
        np.savez(
            stream,
            format_version=np.int64(FORMAT_VERSION),
            fingerprint=np.str_(index.fingerprint),
            n_areas=np.int64(len(index.geometries)),
            cell_size=np.float64(index.cell_size),
            origin=np.array(index.origin, dtype=np.float64),
            shape=np.array(index.shape, dtype=np.int64),
            nudge=np.array(index.nudge, dtype=np.float64),
            grid=index.grid,
            edge_ptr=index.edge_ptr,
            edge_candidates=index.edge_candidates,
        )


def load_index(path: str | os.PathLike[str], geometries: Any) -> AreaIndex:
    """Read an index written by :func:`save_index` and attach the geometries.

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.
    geometries : sequence or array of shapely Polygon / MultiPolygon
        The layer the index was built for, in the same order.

    Returns
    -------
    AreaIndex

    Raises
    ------
    IndexMismatchError
        If the file has another format version, the geometries' (or cell
        size's) fingerprint differs from the one stored, or the file's
        arrays do not fit together.
    """
    geoms = _as_geometry_array(geometries)
    return _read_index(Path(path), _wkb(geoms))


def _read_index(path: Path, wkbs: np.ndarray) -> AreaIndex:
    # Open the file here: np.load leaves its own handle open when the zip is damaged.
    with path.open("rb") as stream, np.load(stream, allow_pickle=False) as data:
        version = int(data["format_version"])
        if version != FORMAT_VERSION:
            msg = (
                f"{path} holds an area index of format {version}, this geo311 reads "
                f"format {FORMAT_VERSION}; delete the file to rebuild it"
            )
            raise IndexMismatchError(msg)
        stored = str(data["fingerprint"])
        cell_size = float(data["cell_size"])
        expected = _fingerprint(wkbs, cell_size)
        if stored != expected:
            msg = (
                f"{path} was built for other geometries (fingerprint {stored[:12]}, "
                f"these give {expected[:12]} with {len(wkbs)} areas and cell size "
                f"{cell_size:g}); rebuild it with AreaIndex.build"
            )
            raise IndexMismatchError(msg)
        origin = data["origin"]
        ny, nx = (int(v) for v in data["shape"])
        grid = data["grid"]
        edge_ptr = data["edge_ptr"]
        edge_candidates = data["edge_candidates"]
    n_edges = len(edge_ptr) - 1
    intact = (
        grid.dtype == np.int32
        and grid.shape == (ny * nx,)
        and n_edges >= 0
        and int(edge_ptr[0]) == 0
        and int(edge_ptr[-1]) == len(edge_candidates)
        and (len(grid) == 0 or int(grid.min()) >= _FIRST_EDGE - n_edges + 1)
        and (len(grid) == 0 or int(grid.max()) < len(wkbs))
        and (len(edge_candidates) == 0 or int(edge_candidates.max()) < len(wkbs))
    )
    if not intact:
        msg = f"{path} is damaged (its arrays do not fit together); delete it to rebuild"
        raise IndexMismatchError(msg)
    geoms = shapely.from_wkb(wkbs)
    shapely.prepare(geoms)
    return AreaIndex(
        geometries=geoms,
        fingerprint=stored,
        cell_size=cell_size,
        origin=(float(origin[0]), float(origin[1])),
        shape=(ny, nx),
        grid=grid,
        edge_ptr=edge_ptr,
        edge_candidates=edge_candidates,
        # Recomputed, not read: the tie rule always follows spatial_index's constants.
        nudge=_nudge(_layer_bounds(geoms)),
    )


# --------------------------------------------------------------------------- healing cache


def _cached(
    path: Path | None,
    *,
    what: str,
    read: Callable[[Path], _T],
    build: Callable[[], _T],
    write: Callable[[_T, Path], None],
) -> _T:
    """Return ``read(path)``; when that fails remove the entry, then ``build`` and ``write``."""
    value = read_cached(path, what=what, read=read)
    if value is None:
        value = build()
        write_cached(value, path, what=what, write=write)
    return value


def cached_index(
    geometries: Any, *, cache_dir: Path | None, cell_size: float | None = None
) -> AreaIndex:
    """Load the layer's index from ``cache_dir`` or build it (and save it there).

    Parameters
    ----------
    geometries : sequence or array of shapely Polygon / MultiPolygon
        The layer.
    cache_dir : pathlib.Path or None
        Folder of cached indexes, named ``<fingerprint>.npz``; created when
        missing.  ``None`` builds without caching.
    cell_size : float, optional
        As for :meth:`AreaIndex.build`; part of the fingerprint.

    Returns
    -------
    AreaIndex
        A cached file that cannot be read, or belongs to something else, is
        removed, rebuilt and rewritten; a cache folder that cannot be written
        is skipped.  Both are logged at WARNING.
    """
    geoms = _as_geometry_array(geometries)
    wkbs = _wkb(geoms)
    size = default_cell_size(geoms) if cell_size is None else float(cell_size)
    fingerprint = _fingerprint(wkbs, size)
    return _cached(
        Path(cache_dir) / f"{fingerprint}.npz" if cache_dir is not None else None,
        what="area index",
        read=lambda path: _read_index(path, wkbs),
        build=lambda: AreaIndex._build(wkbs, size, fingerprint),
        write=save_index,
    )


# --------------------------------------------------------------------------- outlines


def outline(geometries: Any) -> shapely.Geometry:
    """Return the union of a layer's areas with interior holes filled, prepared.

    Parameters
    ----------
    geometries : sequence or array of shapely Polygon / MultiPolygon
        The layer.

    Returns
    -------
    shapely.Geometry
        Points inside it but in no area lie in a gap between areas.

    Examples
    --------
    >>> from shapely import box
    >>> ring = [box(0, 0, 3, 1), box(0, 2, 3, 3), box(0, 1, 1, 2), box(2, 1, 3, 2)]
    >>> outline(ring).area  # the hole in the middle is filled
    9.0
    """
    parts = shapely.get_parts(shapely.union_all(_as_geometry_array(geometries)))
    filled = shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))
    shapely.prepare(filled)
    return filled


def _read_outline(path: Path) -> shapely.Geometry:
    geom = shapely.from_wkb(path.read_bytes())
    if shapely.get_type_id(geom) not in (3, 6):  # Polygon, MultiPolygon
        msg = f"{path} holds a {shapely.get_type_id(geom)} geometry, not a polygon outline"
        raise ValueError(msg)
    shapely.prepare(geom)
    return geom


def _write_outline(geom: shapely.Geometry, path: Path) -> None:
    with atomic_write(path) as tmp:
        tmp.write_bytes(shapely.to_wkb(geom))


def cached_outline(geometries: Any, *, key: str, cache_dir: Path | None) -> shapely.Geometry:
    """Load the layer's :func:`outline` from ``cache_dir`` or compute it (and save it there).

    The union is the slow part of a warm join, hence the cache.

    Parameters
    ----------
    geometries : sequence or array of shapely Polygon / MultiPolygon
        The layer.
    key : str
        A content key of the layer (e.g. its file's SHA-256); names the file
        ``outline-<key>.wkb``.
    cache_dir : pathlib.Path or None
        The cache folder; ``None`` computes without caching.

    Returns
    -------
    shapely.Geometry
        Prepared.  An unreadable cached file is removed and rewritten, with a
        WARNING.
    """
    return _cached(
        Path(cache_dir) / f"outline-{key.replace(':', '-')}.wkb" if cache_dir else None,
        what="layer outline",
        read=_read_outline,
        build=lambda: outline(geometries),
        write=_write_outline,
    )

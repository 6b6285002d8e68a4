"""The cache of display geometry: in memory and on disk, by layer and options.

:func:`geo311.site.simplify.simplify_for_display` keeps a coverage result in
memory (a site draws a layer on many pages) and on disk, in
``<cache dir>/display/`` (:func:`geo311.settings.cache_dir`), so that a
second run does not simplify its layers again.  An entry is named by a
SHA-256 of the geometries (WKB, in order), their CRS, the options and the
geo311 version, written atomically, and holds the displayed geometries as
WKB; an entry that cannot be read is removed and rebuilt with a WARNING
(:func:`geo311.cache.read_cached`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import shapely

from geo311.cache import read_cached, update_with_geometries, write_cached
from geo311.io.atomic import atomic_write
from geo311.settings import cache_dir

__all__ = ["Simplified", "cache_key", "is_cached", "lookup", "store"]

#: Display geometries kept per process: a site draws the same layer on many
#: pages and a run draws it again, so a layer is simplified once per extent.
_CACHE_SIZE = 8
_SIMPLIFIED: OrderedDict[str, Simplified] = OrderedDict()
#: Version of the on-disk entries; part of their name, with the geo311 version.
_DISK_FORMAT = 2


class Simplified(NamedTuple):
    """A cached simplification: geometries, max displacement, vertices, the log lines."""

    geoms: np.ndarray
    worst: float
    before: int
    after: int
    message: tuple[Any, ...]
    warning: tuple[Any, ...]  # the per-polygon fallback's WARNING, repeated on every use


def cache_key(gdf: gpd.GeoDataFrame, options: tuple[Any, ...]) -> str:
    """Digest of a layer's geometries (in order), its CRS and the simplification options."""
    digest = hashlib.sha256(repr((str(gdf.crs), options)).encode())
    update_with_geometries(digest, gdf.geometry.to_numpy())
    return digest.hexdigest()


def lookup(key: str) -> Simplified | None:
    """Return the entry of ``key`` from memory or disk (None: not cached), kept in memory."""
    entry = _SIMPLIFIED.get(key) or read_cached(
        _disk_path(key), what="display geometry", read=_read_entry
    )
    if entry is not None:
        _remember(key, entry)
    return entry


def store(key: str, entry: Simplified) -> None:
    """Keep ``entry`` in memory and write it to disk."""
    _remember(key, entry)
    write_cached(entry, _disk_path(key), what="display geometry", write=_write_entry)


def is_cached(key: str) -> bool:
    """Whether :func:`lookup` would find ``key`` (in memory, or a file on disk)."""
    return key in _SIMPLIFIED or _disk_path(key).is_file()


def _remember(key: str, entry: Simplified) -> None:
    """Keep ``entry`` in the in-process cache, most recent last, at most :data:`_CACHE_SIZE`."""
    _SIMPLIFIED[key] = entry
    _SIMPLIFIED.move_to_end(key)
    while len(_SIMPLIFIED) > _CACHE_SIZE:
        _SIMPLIFIED.popitem(last=False)


def _disk_path(key: str) -> Path:
    from geo311 import __version__  # noqa: PLC0415 - the package imports this module

    version = "".join(c if c.isalnum() or c in ".-" else "-" for c in __version__)
    return cache_dir() / "display" / f"{key}.v{_DISK_FORMAT}-{version}.npz"


def _write_entry(entry: Simplified, path: Path) -> None:
    wkbs = shapely.to_wkb(entry.geoms)
    sizes = np.array([-1 if w is None else len(w) for w in wkbs], dtype=np.int64)
    blob = np.frombuffer(b"".join(w for w in wkbs if w is not None), dtype=np.uint8)
    with atomic_write(path) as tmp, tmp.open("wb") as stream:
        np.savez(
            stream,
            key=np.str_(path.name.split(".")[0]),
            sizes=sizes,
            blob=blob,
            numbers=np.array([entry.worst, entry.before, entry.after], dtype=np.float64),
            message=np.str_(json.dumps([_plain(v) for v in entry.message])),
            warning=np.str_(json.dumps([_plain(v) for v in entry.warning])),
        )


def _plain(value: Any) -> Any:
    """Return a numpy scalar as the Python number JSON can write."""
    return value.item() if isinstance(value, np.generic) else value


def _read_entry(path: Path) -> Simplified:
    with path.open("rb") as stream, np.load(stream, allow_pickle=False) as data:
        stored = str(data["key"])
        sizes = data["sizes"]
        blob = data["blob"].tobytes()
        worst, before, after = (float(v) for v in data["numbers"])
        message = tuple(json.loads(str(data["message"])))
        warning = tuple(json.loads(str(data["warning"])))
    if stored != path.name.split(".")[0] or int(sizes[sizes > 0].sum()) != len(blob):
        msg = f"{path} does not hold the entry its name says (or is cut short)"
        raise ValueError(msg)
    ends = np.cumsum(np.maximum(sizes, 0))
    wkbs = [None if n < 0 else blob[e - n : e] for n, e in zip(sizes, ends, strict=True)]
    geoms = shapely.from_wkb(np.array(wkbs, dtype=object))
    return Simplified(geoms, worst, int(before), int(after), message, warning)

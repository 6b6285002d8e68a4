"""Helpers shared by geo311's on-disk caches (area indexes, display geometry, layers, population).

Every cache keeps answers that are pure functions of their inputs under
:func:`geo311.settings.cache_dir`, named by a content key, and heals itself:

* :func:`read_cached` returns an entry, or None after removing one that
  cannot be used (with a WARNING naming it and the reason), so the caller
  rebuilds it; :func:`write_cached` saves an entry (atomically, by the
  caller's writer) and turns a folder that cannot be written into a WARNING.
* :func:`captured_logs` runs a computation with the log lines of some loggers
  collected, so an entry can keep them and :func:`replay_logs` can write them
  again when the entry is reused: a warm run reports what a cold one did.
* :func:`cached_with_logs` is the two together for a computation that logs:
  the entry keeps the value and its log lines; :func:`write_blobs` and
  :func:`read_blobs` store such an entry as named byte strings in an ``.npz``
  (no pickle) with its format version and key, checked on reading.
* :func:`update_with_frame` and :func:`update_with_geometries` feed a
  (Geo)DataFrame's contents into a hash, for content keys.

Examples
--------
>>> import hashlib
>>> from shapely import box
>>> a, b = hashlib.sha256(), hashlib.sha256()
>>> update_with_geometries(a, [box(0, 0, 1, 1)])
>>> update_with_geometries(b, [box(0, 0, 1, 2)])
>>> a.hexdigest() == b.hexdigest()
False
"""

from __future__ import annotations

import logging
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo311.io.atomic import atomic_write

__all__ = [
    "LogLine",
    "cached_with_logs",
    "captured_logs",
    "log_lines",
    "read_blobs",
    "read_cached",
    "replay_logs",
    "update_with_frame",
    "update_with_geometries",
    "write_blobs",
    "write_cached",
]

logger = logging.getLogger(__name__)
#: Held while :func:`captured_logs` has the loggers redirected (threads take turns).
_CAPTURING = threading.RLock()

#: What reading a damaged cache entry can raise: missing or unreadable file,
#: a zip archive cut short, arrays or JSON that do not parse, a bad WKB blob,
#: a Parquet blob cut short (pyarrow's ArrowInvalid is a ValueError).
_UNREADABLE = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    zipfile.BadZipFile,
    shapely.errors.GEOSException,
)
_T = TypeVar("_T")
#: One log line: logger name, level, message.
LogLine = tuple[str, int, str]


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...


def read_cached(path: Path | None, *, what: str, read: Callable[[Path], _T]) -> _T | None:
    """Return ``read(path)``, or None when there is no entry or it cannot be used.

    An entry that cannot be used (``read`` raised one of the errors of a
    damaged file) is removed, with one WARNING naming it and the reason, so
    the caller rebuilds it.

    Parameters
    ----------
    path : pathlib.Path or None
        The cache entry (None: no cache).
    what : str
        Names the entry in log lines ("area index").
    read : callable
        Reads and checks the file; raises ``OSError``, ``ValueError`` ... when it is damaged.

    Returns
    -------
    object or None
    """
    if path is None or not path.exists():
        return None
    try:
        value = read(path)
    except _UNREADABLE as exc:
        logger.warning(
            "cached %s %s is unreadable (%s: %s); removing it and rebuilding",
            what,
            path,
            type(exc).__name__,
            exc,
        )
        try:
            path.unlink()
        except OSError as unlink_error:
            logger.warning("cannot remove %s (%s)", path, unlink_error)
        return None
    logger.debug("loaded %s %s", what, path)
    return value


def write_cached(
    value: _T, path: Path | None, *, what: str, write: Callable[[_T, Path], None]
) -> None:
    """Save ``value`` with ``write`` (which must write atomically); a failure is a WARNING.

    Parameters
    ----------
    value : object
        What to save.
    path : pathlib.Path or None
        The cache entry (None: no cache, nothing written).
    what : str
        Names the entry in log lines.
    write : callable
        Writes ``value`` to ``path`` atomically (:func:`geo311.io.atomic.atomic_write`).
    """
    if path is None:
        return
    try:
        write(value, path)
    except (OSError, TypeError, ValueError) as exc:  # no room or rights; cannot be encoded
        logger.warning("could not cache the %s in %s (%s); continuing", what, path, exc)
    else:
        logger.debug("saved %s %s", what, path)


class _Collect(logging.Handler):
    """Keeps every record it is given as a :data:`LogLine`."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[LogLine] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.levelno, record.getMessage()))


def replay_logs(lines: Iterable[LogLine]) -> None:
    """Write ``lines`` (from :func:`captured_logs`) through their loggers, at their levels."""
    for name, level, message in lines:
        logging.getLogger(name).log(level, "%s", message)


def captured_logs(build: Callable[[], _T], loggers: Sequence[str]) -> tuple[_T, list[LogLine]]:
    """Run ``build`` collecting the lines of ``loggers`` (every level), then write them.

    While ``build`` runs, the loggers (and their children) log at every level
    into a collector only; afterwards the lines are written with
    :func:`replay_logs`, whether ``build`` returned or raised.  A cold run thus
    logs exactly what a warm run replays from the cache, whatever the
    logging configuration was when the entry was made.

    Parameters
    ----------
    build : callable
        The computation.
    loggers : sequence of str
        Names of the loggers to collect.

    Returns
    -------
    tuple
        ``(build(), lines)``.
    """
    collect = _Collect()
    try:
        with _CAPTURING:  # one capture at a time, so each restores what it found
            saved = []
            for name in loggers:
                log = logging.getLogger(name)
                saved.append((log, log.level, log.propagate))
                log.addHandler(collect)
                log.setLevel(logging.DEBUG)
                log.propagate = False
            try:
                value = build()
            finally:
                for log, level, propagate in reversed(saved):
                    log.removeHandler(collect)
                    log.setLevel(level)
                    log.propagate = propagate
    finally:
        replay_logs(collect.lines)
    return value, collect.lines


def log_lines(raw: Iterable[Sequence[Any]]) -> list[LogLine]:
    """Log lines read back from JSON (lists) as :data:`LogLine` tuples."""
    return [(str(name), int(level), str(message)) for name, level, message in raw]


def write_blobs(path: Path, *, version: int, key: str, **blobs: bytes) -> None:
    """Write an entry atomically: its format ``version``, ``key`` and named byte strings (npz)."""
    arrays: dict[str, Any] = {n: np.frombuffer(data, dtype=np.uint8) for n, data in blobs.items()}
    arrays.update(format_version=np.int64(version), key=np.str_(key))
    with atomic_write(path) as tmp, tmp.open("wb") as stream:
        np.savez(stream, **arrays)


def read_blobs(path: Path, *, version: int, key: str) -> dict[str, bytes]:
    """Return the byte strings of an entry from :func:`write_blobs` (without pickle).

    Raises ValueError when the entry has another format version or key, as
    for a damaged entry (:func:`read_cached` removes it and the caller rebuilds).
    """
    with path.open("rb") as stream, np.load(stream, allow_pickle=False) as data:
        stored_version = int(data["format_version"])
        stored_key = str(data["key"])
        blobs = {n: data[n].tobytes() for n in data.files if n not in ("format_version", "key")}
    if stored_version != version or stored_key != key:
        msg = f"entry of format {stored_version} for key {stored_key[:12]}, expected {version}"
        raise ValueError(msg)
    return blobs


def cached_with_logs(
    build: Callable[[], _T],
    path: Path | None,
    *,
    what: str,
    loggers: Sequence[str],
    read: Callable[[Path], tuple[_T, list[LogLine]]],
    write: Callable[[tuple[_T, list[LogLine]], Path], None],
) -> _T:
    """Return ``build()``, from the entry at ``path`` when it holds one, with its log lines.

    A cold run captures the lines ``loggers`` write during ``build``
    (:func:`captured_logs`, which writes them too) and saves them with the
    value; a warm run writes them again (:func:`replay_logs`).  ``path`` None
    computes without caching.  A damaged entry is removed and rebuilt with a
    WARNING (:func:`read_cached`); a failing ``build`` raises and saves nothing.
    """
    hit = read_cached(path, what=what, read=read)
    if hit is not None:
        value, lines = hit
        replay_logs(lines)
        return value
    value, lines = captured_logs(build, loggers)
    write_cached((value, lines), path, what=what, write=write)
    return value


def update_with_geometries(digest: _Hash, geometries: Any) -> None:
    """Feed the WKB of ``geometries`` (in order; a missing one counts too) into ``digest``."""
    for wkb in shapely.to_wkb(np.asarray(geometries, dtype=object)):
        digest.update(b"\x00" if wkb is None else len(wkb).to_bytes(8, "little") + wkb)


def update_with_frame(digest: _Hash, frame: pd.DataFrame | None) -> None:
    """Feed a (Geo)DataFrame's columns, dtypes, index, values, CRS and geometries into ``digest``.

    None feeds a marker of its own, so "no frame" differs from an empty one.
    """
    if frame is None:
        digest.update(b"none")
        return
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    plain = pd.DataFrame(frame.drop(columns=geometry) if geometry is not None else frame)
    digest.update(repr((list(map(str, plain.columns)), list(map(str, plain.dtypes)))).encode())
    digest.update(pd.util.hash_pandas_object(plain, index=True).to_numpy().tobytes())
    if geometry is not None:
        digest.update(b"" if frame.crs is None else frame.crs.to_wkt().encode())
        update_with_geometries(digest, frame.geometry.to_numpy())

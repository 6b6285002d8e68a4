"""On-disk cache of the population of each layer's areas.

Interpolating tract values to a layer (overlaying tracts, a dasymetric mask
and the layer) costs seconds and depends only on the polygons and values
involved.  :func:`cached_population` keeps the per-area table of
:func:`geo311.population.layer.layer_population`, its ``attrs`` and the log
lines it wrote in ``<cache dir>/population/<key>.npz``.  The key is a hash of
every input as given (:func:`population_key`): the tract layer's frame (or
the tract table given), the layer's frame, the dasymetric weights and city
outline when given as frames, else the bytes of the manifest's ``ancillary``
and ``city_outline`` files, the options, the entry format and the geo311
version.  Making it reads no file as a layer and derives nothing, so a warm
run skips reading the ancillary and outline files as well as interpolating.

Entries are read without pickle (the table as Parquet, ``attrs`` and log
lines as JSON); one that cannot be used is removed and rebuilt with a WARNING
(:func:`geo311.cache.read_cached`), and every write is atomic.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo311.cache import (
    LogLine,
    cached_with_logs,
    log_lines,
    read_blobs,
    update_with_frame,
    write_blobs,
)

__all__ = ["LOGGED_BY", "cached_population", "population_key"]

#: Version of the entries' layout and meaning; bump it when the computation changes.
FORMAT_VERSION = 1
#: Loggers whose lines the computation writes, captured and replayed with the entry.
LOGGED_BY = ("geo311.population", "geo311.crs")


def population_key(frames: dict[str, pd.DataFrame | None], options: dict[str, Any]) -> str:
    """Return the content key of a population computation.

    Parameters
    ----------
    frames : dict of str to (Geo)DataFrame or None
        Every frame the computation reads (tract layer or table, layer,
        weights, outline), hashed whole: values, dtypes, index, CRS and
        geometries.
    options : dict
        Every other input (JSON-serialisable).

    Returns
    -------
    str
        A hex digest that also covers :data:`FORMAT_VERSION` and the geo311 version.
    """
    from geo311 import __version__  # noqa: PLC0415 - the package imports this module

    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT_VERSION, __version__, options], sort_keys=True).encode())
    for name in sorted(frames):
        digest.update(name.encode())
        update_with_frame(digest, frames[name])
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """JSON encoding of the numpy scalars and arrays found in ``attrs``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    msg = f"cannot store a {type(value).__name__} in a population cache entry"
    raise TypeError(msg)


def _write_entry(entry: tuple[pd.DataFrame, list[LogLine]], path: Path, key: str) -> None:
    result, lines = entry
    table = io.BytesIO()
    bare = result.copy()
    bare.attrs = {}
    bare.to_parquet(table)
    meta = json.dumps({"attrs": result.attrs, "log": lines}, default=_plain)
    write_blobs(
        path,
        version=FORMAT_VERSION,
        key=key,
        table=table.getvalue(),
        meta=meta.encode("utf-8"),
    )


def _read_entry(path: Path, key: str) -> tuple[pd.DataFrame, list[LogLine]]:
    blobs = read_blobs(path, version=FORMAT_VERSION, key=key)
    meta = json.loads(blobs["meta"].decode("utf-8"))
    result = pd.read_parquet(io.BytesIO(blobs["table"]))
    result.attrs = dict(meta["attrs"])
    return result, log_lines(meta["log"])


def cached_population(
    build: Callable[[], pd.DataFrame], *, key: str, cache_dir: Path | None
) -> pd.DataFrame:
    """Return ``build()`` (a layer's population table), from the cache when it holds it.

    Parameters
    ----------
    build : callable
        Computes the table.
    key : str
        Its :func:`population_key`.
    cache_dir : pathlib.Path or None
        Folder of the entries; None computes without caching.

    Returns
    -------
    pandas.DataFrame
        With its ``attrs``.  The log lines of the computation are written
        (again, on a warm run) at their levels.  A damaged entry is removed and
        rebuilt with a WARNING; a failing computation raises and caches nothing.
    """
    return cached_with_logs(
        build,
        cache_dir / f"{key}.npz" if cache_dir is not None else None,
        what="layer population",
        loggers=LOGGED_BY,
        read=lambda path: _read_entry(path, key),
        write=lambda entry, path: _write_entry(entry, path, key),
    )

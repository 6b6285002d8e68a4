"""On-disk cache of validated boundary layers.

Reading and validating a city's boundary files (:func:`geo311.join.validate.validate_frame`:
reprojection, repairs, overlap and gap measures) costs seconds and gives the
same answer every run while the files do not change.  :func:`cached_validation`
keeps that answer in ``<cache dir>/layers/<key>.npz``; the key covers the
file's SHA-256, every validation option, the path named in messages, the
entry format and the geo311 version.

An entry holds the validated frame (GeoParquet bytes), the union of the areas
(WKB), the QA figures, the ledger, the measuring CRS and the log lines the
validation wrote, which are written again on a warm run, so a warm run
reports the same facts (repaired polygons, CRS notes, the summary) as a cold
one.  Entries are read without pickle; one that cannot be used is removed and
rebuilt with a WARNING (:func:`geo311.cache.read_cached`), and
every write is atomic.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo311.cache import LogLine, captured_logs, read_cached, replay_logs, write_cached
from geo311.io.atomic import atomic_write
from geo311.join.validate import Validated
from geo311.ledger import Ledger

__all__ = ["LOGGED_BY", "cached_validation", "layer_cache_key"]

#: Version of the entries' layout and meaning; bump it when validation changes.
FORMAT_VERSION = 2
#: Loggers whose lines a validation writes, captured and replayed with the entry.
LOGGED_BY = ("geo311.join.validate", "geo311.crs")


def layer_cache_key(file_sha256: str, options: dict[str, Any]) -> str:
    """Return the entry name for a file's bytes validated with ``options``.

    Parameters
    ----------
    file_sha256 : str
        SHA-256 of the boundary file.
    options : dict
        Every argument of the validation (JSON-serialisable), including the
        path that names the layer in messages.

    Returns
    -------
    str
        A hex digest that also covers :data:`FORMAT_VERSION` and the geo311 version.
    """
    from geo311 import __version__  # noqa: PLC0415 - the package imports this module

    text = json.dumps([FORMAT_VERSION, __version__, file_sha256, options], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8)


def _write_entry(entry: tuple[str, Validated, list[LogLine]], path: Path) -> None:
    key, validated, lines = entry
    frame = io.BytesIO()
    validated.frame.to_parquet(frame)
    meta = {
        "qa": validated.qa,
        "ledger": validated.ledger.to_dict(),
        "measure_crs": validated.measure_crs,
        "frame_crs": validated.frame.crs.srs,
        "log": lines,
    }
    with atomic_write(path) as tmp, tmp.open("wb") as stream:
        np.savez(
            stream,
            format_version=np.int64(FORMAT_VERSION),
            key=np.str_(key),
            frame=_bytes(frame.getvalue()),
            union=_bytes(shapely.to_wkb(validated.union)),
            meta=_bytes(json.dumps(meta).encode("utf-8")),
        )


def _read_entry(path: Path, key: str) -> tuple[Validated, list[LogLine]]:
    with path.open("rb") as stream, np.load(stream, allow_pickle=False) as data:
        version = int(data["format_version"])
        stored = str(data["key"])
        frame_bytes = data["frame"].tobytes()
        union_bytes = data["union"].tobytes()
        meta_bytes = data["meta"].tobytes()
    if version != FORMAT_VERSION or stored != key:
        msg = f"entry of format {version} for key {stored[:12]}, expected {FORMAT_VERSION}"
        raise ValueError(msg)
    meta = json.loads(meta_bytes.decode("utf-8"))
    # GeoParquet keeps the CRS as PROJJSON: give the frame back the CRS as it was declared.
    frame = gpd.read_parquet(io.BytesIO(frame_bytes)).set_crs(
        meta["frame_crs"], allow_override=True
    )
    union = shapely.from_wkb(union_bytes)
    lines = [(str(n), int(level), str(m)) for n, level, m in meta["log"]]
    validated = Validated(
        frame,
        dict(meta["qa"]),
        Ledger.from_dict(meta["ledger"]),
        str(meta["measure_crs"]),
        union,
    )
    return validated, lines


def cached_validation(
    build: Callable[[], Validated],
    *,
    file_sha256: str,
    options: dict[str, Any],
    cache_dir: Path | None,
) -> Validated:
    """Return ``build()`` (a layer's validation), from the cache when it holds it.

    Parameters
    ----------
    build : callable
        Reads and validates the layer (:func:`geo311.join.validate.validate_frame`).
    file_sha256 : str
        SHA-256 of the boundary file.
    options : dict
        Every validation argument (JSON-serialisable), part of the key.
    cache_dir : pathlib.Path or None
        Folder of the entries; None validates without caching.

    Returns
    -------
    Validated
        The log lines of the validation are written (again, on a warm run) at
        their levels.  A damaged entry is removed and rebuilt with a WARNING; a
        failing validation raises and caches nothing.
    """
    key = layer_cache_key(file_sha256, options)
    path = cache_dir / f"{key}.npz" if cache_dir is not None else None
    hit = read_cached(path, what="validated layer", read=lambda p: _read_entry(p, key))
    if hit is not None:
        validated, lines = hit
        replay_logs(lines)
        return validated
    validated, lines = captured_logs(build, LOGGED_BY)
    write_cached((key, validated, lines), path, what="validated layer", write=_write_entry)
    return validated

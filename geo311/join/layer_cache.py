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
import shapely

from geo311.cache import LogLine, cached_with_logs, log_lines, read_blobs, write_blobs
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


def _write_entry(entry: tuple[Validated, list[LogLine]], path: Path, key: str) -> None:
    validated, lines = entry
    frame = io.BytesIO()
    validated.frame.to_parquet(frame)
    meta = {
        "qa": validated.qa,
        "ledger": validated.ledger.to_dict(),
        "measure_crs": validated.measure_crs,
        "frame_crs": validated.frame.crs.srs,
        "log": lines,
    }
    write_blobs(
        path,
        version=FORMAT_VERSION,
        key=key,
        frame=frame.getvalue(),
        union=shapely.to_wkb(validated.union),
        meta=json.dumps(meta).encode("utf-8"),
    )


def _read_entry(path: Path, key: str) -> tuple[Validated, list[LogLine]]:
    blobs = read_blobs(path, version=FORMAT_VERSION, key=key)
    meta = json.loads(blobs["meta"].decode("utf-8"))
    # GeoParquet keeps the CRS as PROJJSON: give the frame back the CRS as it was declared.
    frame = gpd.read_parquet(io.BytesIO(blobs["frame"])).set_crs(
        meta["frame_crs"], allow_override=True
    )
    validated = Validated(
        frame,
        dict(meta["qa"]),
        Ledger.from_dict(meta["ledger"]),
        str(meta["measure_crs"]),
        shapely.from_wkb(blobs["union"]),
    )
    return validated, log_lines(meta["log"])


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
    return cached_with_logs(
        build,
        cache_dir / f"{key}.npz" if cache_dir is not None else None,
        what="validated layer",
        loggers=LOGGED_BY,
        read=lambda path: _read_entry(path, key),
        write=lambda entry, path: _write_entry(entry, path, key),
    )

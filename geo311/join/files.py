"""Where a city's boundary files are found, and a check that they all are before any work.

:func:`find_layer_file` looks in order: an explicit path, a ``data_dir`` given
by the caller, the folder of a user's manifest file (:func:`manifest_folder`),
``$GEO311_DATA_DIR/<city>/``, then the user cache
(``<cache>/boundaries/<city>/``; :func:`fetched_file_name` names what
``geo311 fetch boundaries`` stores there).  :func:`check_layer_files` runs this
for every file a manifest declares and reports every missing one at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from geo311 import settings
from geo311._errors import InputFileError
from geo311.join.manifest import CityManifest

__all__ = ["check_layer_files", "fetched_file_name", "find_layer_file", "manifest_folder"]


def fetched_file_name(key: str, vintage: str) -> str:
    """Return the cache file name ``geo311 fetch boundaries`` uses for a vintage without a file.

    >>> fetched_file_name("council_districts", "2024")
    'council_districts_2024.geojson'
    """
    return f"{key}_{vintage}.geojson"


def find_layer_file(
    city: str,
    file_name: str,
    *,
    path: str | Path | None = None,
    source: str = "",
    data_dir: str | Path | None = None,
    manifest_dir: str | Path | None = None,
) -> Path:
    """Find a boundary file: explicit path, data dirs, the manifest's folder, then the cache.

    Parameters
    ----------
    city : str
        City key; names the sub-folder searched in the data and cache folders.
    file_name : str
        The file's name relative to the city folder (a manifest ``file``).
    path : str or pathlib.Path, optional
        Use this file and nothing else.
    source : str, optional
        The vintage's official source, quoted in the error message.
    data_dir : str or pathlib.Path, optional
        A data folder given by the caller (``--data-dir``).
    manifest_dir : str or pathlib.Path, optional
        The folder of a user's manifest file: its ``file`` paths are relative
        to it.

    Returns
    -------
    pathlib.Path
        The first existing file among: ``path``; ``<data_dir>/<city>/<file_name>``
        and ``<data_dir>/<file_name>``; ``<manifest_dir>/<file_name>``;
        ``$GEO311_DATA_DIR/<city>/<file_name>``;
        ``<cache_dir>/boundaries/<city>/<file_name>``.

    Raises
    ------
    InputFileError
        Listing every place looked at and how to get the file.
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if explicit.is_file():
            return explicit
        msg = (
            f"boundary file {explicit} (given explicitly for {city}/{file_name}) does not "
            "exist (or is not a file)"
        )
        raise InputFileError(msg)
    places = _places(city, file_name, data_dir=data_dir, manifest_dir=manifest_dir)
    for candidate, _ in places:
        if candidate.is_file():
            return candidate
    looked = [f"{candidate} ({why}; not found)" for candidate, why in places]
    if settings.data_dir() is None:
        looked.insert(
            len(looked) - 1, f"$GEO311_DATA_DIR/{city}/{file_name} (GEO311_DATA_DIR is not set)"
        )
    where = source or "the official source named in the city's boundary manifest"
    msg = (
        f"boundary file {file_name!r} for {city} not found. Looked in:\n  - "
        + "\n  - ".join(looked)
        + f"\nTo get it: pass --data-dir (data_dir=) or set GEO311_DATA_DIR to a folder "
        f"holding {city}/{file_name}; or "
        f"download it from {where} and pass its path explicitly; or, for a layer "
        f"served by ArcGIS, run `geo311 fetch boundaries {city}`."
    )
    raise InputFileError(msg)


def _places(
    city: str,
    file_name: str,
    *,
    data_dir: str | Path | None,
    manifest_dir: str | Path | None,
) -> list[tuple[Path, str]]:
    """Return where :func:`find_layer_file` looks for a file, in order, each with why."""
    places: list[tuple[Path, str]] = []
    if data_dir is not None:
        given = Path(data_dir).expanduser()
        places += [(given / city / file_name, "data_dir"), (given / file_name, "data_dir")]
    if manifest_dir is not None:
        places.append((Path(manifest_dir) / file_name, "next to the manifest"))
    data = settings.data_dir()
    if data is not None:
        places.append((data / city / file_name, "GEO311_DATA_DIR"))
    places.append((settings.cache_dir() / "boundaries" / city / file_name, "user cache"))
    return places


#: How :func:`check_layer_files` names the first place looked in.
_PLACE_NAMES = {
    "data_dir": "--data-dir",
    "next to the manifest": "the manifest's folder",
    "user cache": "the user cache (no --data-dir given, GEO311_DATA_DIR not set)",
}


def check_layer_files(
    manifest: CityManifest,
    *,
    layers: Iterable[str] | None = None,
    data_dir: str | Path | None = None,
) -> None:
    """Check, before any work, that every boundary file the layers declare can be found.

    Parameters
    ----------
    manifest : CityManifest
    layers : iterable of str, optional
        Layer keys to check (default every layer of the manifest); keys the
        manifest does not have are left to the join to report.
    data_dir : str or pathlib.Path, optional
        As in :func:`load_layers`; it must be an existing folder.

    Raises
    ------
    InputFileError
        One line naming ``data_dir`` when it is not a folder, or every
        missing layer file with the first path tried and what to pass.

    Examples
    --------
    >>> from geo311.join.manifest import load_manifest
    >>> check_layer_files(load_manifest("baltimore"), data_dir="no/such/folder")
    Traceback (most recent call last):
    ...
    geo311._errors.InputFileError: --data-dir no/such/folder is not a folder; ...
    """
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        msg = (
            f"--data-dir {data_dir} is not a folder; give the folder that holds "
            f"{manifest.city}/ and its boundary files"
        )
        raise InputFileError(msg)
    keys = [k for k in (manifest.layers if layers is None else layers) if k in manifest.layers]
    where = {"data_dir": data_dir, "manifest_dir": manifest_folder(manifest)}
    missing: list[str] = []
    first_place = ""
    for key in dict.fromkeys(keys):
        for spec in manifest.layers[key].vintages:
            if spec.file is None:
                continue
            places = _places(manifest.city, spec.file, **where)
            if not any(p.is_file() for p, _ in places):
                first, first_place = places[0]
                missing.append(f"{key} {spec.vintage} ({first})")
    if missing:
        where_first = _PLACE_NAMES.get(first_place, first_place)
        msg = (
            f"boundary files of {manifest.city} not found, looked first in {where_first}: "
            f"{', '.join(missing)}; pass "
            f"--data-dir DIR (data_dir=) or set GEO311_DATA_DIR to a folder holding "
            f"{manifest.city}/<file>, or choose other layers with --layer"
        )
        raise InputFileError(msg)


def manifest_folder(manifest: CityManifest) -> Path | None:
    """Return the folder of a manifest read from a user's file (None for a built-in one)."""
    if not manifest.path or manifest.path.startswith("geo311/boundaries/"):
        return None
    return Path(manifest.path).expanduser().resolve().parent

"""Boundary layers: per-city manifests, finding the files, reading and validating them.

A city's boundary layers are declared in a manifest, ``boundaries/<city>.toml``
(shipped inside the package; format in ``boundaries/README.md``).  Each layer
(``neighborhoods``, ``council_districts`` ...) has one or more *vintages*, each
valid over a date range and taken from a named official source.

:func:`read_layer` turns one polygon file or GeoDataFrame into a validated
:class:`Layer`: CRS required, reprojected to EPSG:4326, invalid polygons
repaired (and counted), empty geometries dropped (and counted), duplicate or
missing ids rejected, ids normalised to strings, and the overlaps and gaps
between areas measured in square metres in a projected CRS.
:func:`load_layers` does this for every vintage of a city's layers, finding the
files in order: an explicit path, ``$GEO311_DATA_DIR/<city>/``, then the user
cache (``<cache>/boundaries/<city>/``).

Examples
--------
>>> manifest = load_manifest("baltimore")
>>> manifest.projected_crs
'EPSG:26985'
>>> [v.vintage for v in manifest.layer("council_districts").vintages]
['2012', '2024']
>>> manifest.layer("council_districts").vintages[1].file is None  # no local copy
True
>>> manifest.labels()["neighborhoods"]
('Neighborhood', 'name')
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from geo311 import settings
from geo311._errors import CRSError, InputFileError, SchemaError
from geo311.ledger import Ledger

__all__ = [
    "CityManifest",
    "LabelSpec",
    "Layer",
    "LayerResult",
    "LayerSpec",
    "ManifestError",
    "VintageSpec",
    "fetched_file_name",
    "find_layer_file",
    "layer_from_file",
    "list_cities",
    "load_layers",
    "load_manifest",
    "read_layer",
]

log = logging.getLogger(__name__)

#: Columns every layer frame starts with (then the source's other attributes, then geometry).
LAYER_COLUMNS = ("area_id", "area_name", "aliases")
#: Separator of the names in the ``aliases`` column.
ALIAS_SEP = "|"
#: Pairs of areas overlapping by less than this (m²) are digitising noise: their
#: area still counts in ``overlap_m2`` but the pair is not counted in ``overlap_pairs``.
OVERLAP_PAIR_MIN_M2 = 1.0
SQ_MI = 2_589_988.110336  # square metres in a square mile, for log lines

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"city", "title", "timezone", "projected_crs", "layers"}
_LAYER_KEYS = {"title", "id_field", "name_field", "alias_fields", "label", "vintages"}
_VINTAGE_KEYS = {"vintage", "valid_from", "valid_to", "source", "publisher", "file", "crs", "note"}
_LABEL_KEYS = {"column", "match"}
_LABEL_MATCH = ("name", "id")
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


class ManifestError(SchemaError):
    """A boundary manifest (or a layer declaration) is unknown or invalid."""


# --------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class VintageSpec:
    """One vintage of a layer, as declared in a manifest.

    Attributes
    ----------
    vintage : str
        Its name, e.g. ``"2010"`` or ``"1959_2022"``.
    valid_from, valid_to : datetime.date or None
        Half-open validity ``valid_from <= day < valid_to``; None is open-ended.
    source : str
        The official source: a service URL or a TIGER/Line file name.
    publisher : str
        Who publishes it.
    file : str or None
        Local file name relative to the city's data folder; None when no
        local copy exists (the join then reports the vintage as missing).
    crs : str
        CRS of the local file (or of the source when there is no file).
    note : str
        Free text: how the dates were chosen, known defects.
    """

    vintage: str
    valid_from: date | None
    valid_to: date | None
    source: str
    publisher: str
    file: str | None
    crs: str
    note: str = ""

    @property
    def has_file(self) -> bool:
        """Whether a local file is declared for this vintage."""
        return self.file is not None

    def valid_on(self, day: date) -> bool:
        """Return True when ``day`` lies in ``[valid_from, valid_to)``."""
        after = self.valid_from is None or day >= self.valid_from
        before = self.valid_to is None or day < self.valid_to
        return after and before


@dataclass(frozen=True)
class LabelSpec:
    """The source 311 column that carries the city's own label for a layer.

    Attributes
    ----------
    column : str
        Source column name (e.g. ``"Neighborhood"``); canonical frames keep it
        as ``raw_<column>``.
    match : {"name", "id"}
        Whether the column holds area names or area ids.
    """

    column: str
    match: str


@dataclass(frozen=True)
class LayerSpec:
    """A layer as declared in a manifest: fields, label, and its vintages.

    Attributes
    ----------
    key : str
        Layer key, e.g. ``"neighborhoods"``; join columns are ``<key>_id`` etc.
    title : str
        Human-readable name.
    id_field, name_field : str
        Source fields holding the area id and name.
    alias_fields : tuple of str
        Fields holding former names; those absent from a vintage's file are skipped.
    label : LabelSpec or None
        The 311 column with the city's own label for this layer, if any.
    vintages : tuple of VintageSpec
        Ordered by ``valid_from`` (open start first).
    """

    key: str
    title: str
    id_field: str
    name_field: str
    alias_fields: tuple[str, ...]
    label: LabelSpec | None
    vintages: tuple[VintageSpec, ...]

    def vintage(self, name: str) -> VintageSpec:
        """Return the vintage called ``name`` (ManifestError listing the vintages if absent)."""
        for spec in self.vintages:
            if spec.vintage == name:
                return spec
        msg = (
            f"layer {self.key!r} has no vintage {name!r}; "
            f"vintages: {', '.join(v.vintage for v in self.vintages)}"
        )
        raise ManifestError(msg)

    @property
    def missing_files(self) -> tuple[VintageSpec, ...]:
        """Vintages declared without a local file."""
        return tuple(v for v in self.vintages if not v.has_file)


@dataclass(frozen=True)
class CityManifest:
    """A parsed city boundary manifest.

    Attributes
    ----------
    city : str
        Registry key and the name of the city's data folder.
    title : str
        Human-readable name.
    timezone : str
        IANA zone of the city.
    projected_crs : str
        A metre-based projected CRS for areas, distances and tolerances.
    layers : dict of str to LayerSpec
        In manifest order.
    path : str
        Where the manifest was read from.
    """

    city: str
    title: str
    timezone: str
    projected_crs: str
    layers: Mapping[str, LayerSpec]
    path: str = field(default="", compare=False)

    def layer(self, key: str) -> LayerSpec:
        """Return layer ``key`` (ManifestError listing the layers if absent)."""
        if key not in self.layers:
            msg = (
                f"the {self.city} manifest has no layer {key!r}; layers: {', '.join(self.layers)}"
            )
            raise ManifestError(msg)
        return self.layers[key]

    def labels(self) -> dict[str, tuple[str, str]]:
        """Layer key -> (source label column, ``"name"`` or ``"id"``), for the join QA."""
        return {
            key: (spec.label.column, spec.label.match)
            for key, spec in self.layers.items()
            if spec.label is not None
        }


@cache
def _crs_problem(value: str, *, metres: bool) -> str | None:
    """Return why ``value`` is not an acceptable CRS, or None."""
    try:
        crs = CRS.from_user_input(value)
    except PyprojCRSError:
        return f"{value!r} is not a CRS pyproj understands (e.g. 'EPSG:4326')"
    if metres:
        if not crs.is_projected:
            return f"{value!r} is not a projected CRS; areas need one in metres"
        units = {axis.unit_name for axis in crs.axis_info}
        if not units <= {"metre", "meter"}:
            return (
                f"{value!r} measures in {', '.join(sorted(units))}, not metres; "
                "choose the metre-based variant of the zone (e.g. EPSG:26945, not EPSG:2229)"
            )
    return None


def _date(value: Any, where: str, problems: list[str]) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        problems.append(f"{where} must be a date, not a date-time ({value.isoformat()})")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.append(f"{where} must be an ISO date such as 2012-12-01, got {value!r}")
    return None


def _text(data: Mapping[str, Any], key: str, where: str, problems: list[str]) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: {key!r} is required (a non-empty string)")
        return ""
    return value.strip()


def _parse_vintage(data: Any, where: str, problems: list[str]) -> VintageSpec | None:
    if not isinstance(data, Mapping):
        problems.append(f"{where} must be a table")
        return None
    extra = sorted(set(data) - _VINTAGE_KEYS)
    if extra:
        problems.append(f"{where} has unknown keys {extra}; allowed: {sorted(_VINTAGE_KEYS)}")
    name = data.get("vintage")
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)  # vintage = 2010 written without quotes
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: 'vintage' is required (a string such as \"2010\")")
        name = "?"
    where = f"{where} ({name})"
    start = _date(data.get("valid_from"), f"{where} valid_from", problems)
    end = _date(data.get("valid_to"), f"{where} valid_to", problems)
    if start is not None and end is not None and start >= end:
        problems.append(f"{where}: valid_from {start} is not before valid_to {end}")
    source = _text(data, "source", where, problems)
    publisher = _text(data, "publisher", where, problems)
    crs = _text(data, "crs", where, problems)
    if crs:
        problem = _crs_problem(crs, metres=False)
        if problem:
            problems.append(f"{where}: crs {problem}")
    file = data.get("file")
    if file is not None:
        parts = PurePosixPath(file).parts if isinstance(file, str) else ()
        if not parts or PurePosixPath(file).is_absolute() or ".." in parts or "\\" in file:
            problems.append(
                f"{where}: file must be a relative path inside the city folder using '/', "
                f"got {file!r}"
            )
    note = data.get("note", "")
    if not isinstance(note, str):
        problems.append(f"{where}: note must be a string")
        note = ""
    return VintageSpec(
        vintage=name,
        valid_from=start,
        valid_to=end,
        source=source,
        publisher=publisher,
        file=file if isinstance(file, str) else None,
        crs=crs,
        note=" ".join(note.split()),
    )


def _overlapping(vintages: Sequence[VintageSpec]) -> list[tuple[str, str]]:
    lo, hi = date.min, date.max
    out = []
    for i, a in enumerate(vintages):
        for b in vintages[i + 1 :]:
            if (a.valid_from or lo) < (b.valid_to or hi) and (b.valid_from or lo) < (
                a.valid_to or hi
            ):
                out.append((a.vintage, b.vintage))
    return out


def _parse_layer(key: str, data: Any, problems: list[str]) -> LayerSpec | None:
    where = f"[layers.{key}]"
    if not isinstance(data, Mapping):
        problems.append(f"{where} must be a table")
        return None
    if not _SLUG.match(key):
        problems.append(f"{where}: layer keys must be lower-case snake_case (they name columns)")
    extra = sorted(set(data) - _LAYER_KEYS)
    if extra:
        problems.append(f"{where} has unknown keys {extra}; allowed: {sorted(_LAYER_KEYS)}")
    title = _text(data, "title", where, problems)
    id_field = _text(data, "id_field", where, problems)
    name_field = _text(data, "name_field", where, problems)
    aliases = data.get("alias_fields", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        problems.append(f"{where}: alias_fields must be a list of field names")
        aliases = []
    label = None
    raw_label = data.get("label")
    if raw_label is not None:
        if not isinstance(raw_label, Mapping):
            problems.append(f"{where}: label must be a table {{column = ..., match = ...}}")
        else:
            extra = sorted(set(raw_label) - _LABEL_KEYS)
            if extra:
                problems.append(f"{where} label has unknown keys {extra}")
            column = _text(raw_label, "column", f"{where} label", problems)
            match = raw_label.get("match")
            if match not in _LABEL_MATCH:
                problems.append(f"{where} label: match must be 'name' or 'id', got {match!r}")
            elif column:
                label = LabelSpec(column=column, match=match)
    raw_vintages = data.get("vintages")
    if not isinstance(raw_vintages, list) or not raw_vintages:
        problems.append(f"{where}: needs at least one [[layers.{key}.vintages]] entry")
        raw_vintages = []
    vintages = [
        v
        for i, item in enumerate(raw_vintages)
        if (v := _parse_vintage(item, f"{where} vintage #{i + 1}", problems)) is not None
    ]
    names = [v.vintage for v in vintages]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"{where}: vintage names repeat: {dupes}")
    problems.extend(
        f"{where}: vintages {a!r} and {b!r} have overlapping validity dates"
        for a, b in _overlapping(vintages)
    )
    vintages.sort(key=lambda v: v.valid_from or date.min)
    return LayerSpec(
        key=key,
        title=title,
        id_field=id_field,
        name_field=name_field,
        alias_fields=tuple(aliases),
        label=label,
        vintages=tuple(vintages),
    )


def _parse_manifest(data: Mapping[str, Any], origin: str, *, expect: str | None) -> CityManifest:
    problems: list[str] = []
    extra = sorted(set(data) - _TOP_KEYS)
    if extra:
        problems.append(f"unknown top-level keys {extra}; allowed: {sorted(_TOP_KEYS)}")
    city = _text(data, "city", "top level", problems)
    if city and not _SLUG.match(city):
        problems.append(f"city {city!r} must be lower-case snake_case (it names the data folder)")
    if city and expect is not None and city != expect:
        problems.append(f"city is {city!r} but the file is {expect}.toml; they must agree")
    title = _text(data, "title", "top level", problems)
    timezone = _text(data, "timezone", "top level", problems)
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {timezone!r} is not an IANA zone (e.g. 'America/New_York')")
    projected = _text(data, "projected_crs", "top level", problems)
    if projected:
        problem = _crs_problem(projected, metres=True)
        if problem:
            problems.append(f"projected_crs {problem}")
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, Mapping) or not raw_layers:
        problems.append("needs at least one [layers.<key>] table")
        raw_layers = {}
    layers = {
        key: spec
        for key, value in raw_layers.items()
        if (spec := _parse_layer(key, value, problems)) is not None
    }
    if problems:
        msg = f"invalid boundary manifest {origin}:\n  - " + "\n  - ".join(problems)
        raise ManifestError(msg)
    return CityManifest(
        city=city,
        title=title,
        timezone=timezone,
        projected_crs=projected,
        layers=MappingProxyType(layers),
        path=origin,
    )


def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"boundary manifest {origin} is not valid TOML: {exc}"
        raise ManifestError(msg) from exc


def list_cities() -> list[str]:
    """Return the cities that have a built-in boundary manifest.

    Returns
    -------
    list of str
        Sorted city keys, e.g. ``["baltimore", "los_angeles"]``.

    Examples
    --------
    >>> "baltimore" in list_cities()
    True
    """
    folder = resources.files("geo311") / "boundaries"
    return sorted(e.name[: -len(".toml")] for e in folder.iterdir() if e.name.endswith(".toml"))


@cache
def _builtin_manifest(city: str) -> CityManifest:
    entry = resources.files("geo311") / "boundaries" / f"{city}.toml"
    origin = f"geo311/boundaries/{city}.toml"
    return _parse_manifest(
        _read_toml(entry.read_text(encoding="utf-8"), origin), origin, expect=city
    )


def load_manifest(city: str | Path) -> CityManifest:
    """Return a city's boundary manifest, built-in by name or from a TOML file.

    Parameters
    ----------
    city : str or pathlib.Path
        A built-in city key (see :func:`list_cities`) or the path of a manifest
        TOML in the format of ``boundaries/README.md``.

    Returns
    -------
    CityManifest

    Raises
    ------
    ManifestError
        For an unknown city (listing the built-in ones), a file that is not
        TOML, or an invalid manifest (listing every problem at once).
    """
    text = str(city)
    if not isinstance(city, Path) and text in list_cities():
        return _builtin_manifest(text)
    path = Path(text).expanduser()
    if isinstance(city, Path) or text.endswith(".toml") or path.exists():
        if not path.is_file():
            msg = f"boundary manifest {path} does not exist (or is not a file)"
            raise ManifestError(msg)
        return _parse_manifest(
            _read_toml(path.read_text(encoding="utf-8"), str(path)), str(path), expect=None
        )
    msg = (
        f"no boundary manifest for city {text!r}; built-in cities: {', '.join(list_cities())}. "
        "Or pass the path of your own manifest TOML (see boundaries/README.md)."
    )
    raise ManifestError(msg)


# --------------------------------------------------------------------------- finding files


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
) -> Path:
    """Find a boundary file: explicit path, then ``$GEO311_DATA_DIR/<city>/``, then the cache.

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

    Returns
    -------
    pathlib.Path
        The first existing file among: ``path``;
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
    looked: list[str] = []
    data = settings.data_dir()
    if data is None:
        looked.append(f"$GEO311_DATA_DIR/{city}/{file_name} (GEO311_DATA_DIR is not set)")
    else:
        candidate = data / city / file_name
        if candidate.is_file():
            return candidate
        looked.append(f"{candidate} (GEO311_DATA_DIR; not found)")
    cached = settings.cache_dir() / "boundaries" / city / file_name
    if cached.is_file():
        return cached
    looked.append(f"{cached} (user cache; not found)")
    where = source or "the official source named in the city's boundary manifest"
    msg = (
        f"boundary file {file_name!r} for {city} not found. Looked in:\n  - "
        + "\n  - ".join(looked)
        + f"\nTo get it: set GEO311_DATA_DIR to a folder holding {city}/{file_name}; or "
        f"download it from {where} and pass its path explicitly; or, for a layer "
        f"served by ArcGIS, run `geo311 fetch boundaries {city}`."
    )
    raise InputFileError(msg)


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True, eq=False)
class Layer:
    """One validated vintage of a boundary layer.

    Attributes
    ----------
    key : str
        Layer key (``"neighborhoods"``).
    vintage : str
        Vintage name (``"2010"``); empty for a user layer.
    frame : geopandas.GeoDataFrame or None
        EPSG:4326, RangeIndex, columns ``area_id`` (string, unique),
        ``area_name`` (string), ``aliases`` (string: former names joined by
        ``"|"``, or NA), the source's other attribute columns, ``geometry``
        (Polygon / MultiPolygon, valid, non-empty).  None when the vintage has
        no local file.
    valid_from, valid_to : datetime.date or None
        Half-open validity; None is open-ended.
    source : str
        Official source (URL or file name), or the path read for a user layer.
    path : pathlib.Path or None
        The file read, if any.
    sha256 : str
        Hash of the file's bytes (or, for a frame, of the validated ids and
        geometries): a key for caching spatial indexes.
    projected_crs : str or None
        The metre-based CRS the QA figures were measured in; reuse it for
        distances and tolerances.
    qa : dict
        ``features``, ``invalid_repaired``, ``empty_dropped``,
        ``unrepairable_dropped``; and, measured in ``projected_crs``:
        ``overlap_m2`` (sum of pairwise overlaps), ``overlap_pairs`` (pairs
        overlapping by at least :data:`OVERLAP_PAIR_MIN_M2`), ``gap_m2`` and
        ``gap_count`` (holes in the union of the areas), ``area_m2`` (area of
        the union).  Empty without a frame.
    title, note : str
        From the manifest.
    """

    key: str
    vintage: str
    frame: gpd.GeoDataFrame | None
    valid_from: date | None = None
    valid_to: date | None = None
    source: str = ""
    path: Path | None = None
    sha256: str = ""
    projected_crs: str | None = None
    qa: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    note: str = ""

    @property
    def has_file(self) -> bool:
        """Whether the vintage was loaded (False: declared without a local file)."""
        return self.frame is not None

    @property
    def gdf(self) -> gpd.GeoDataFrame:
        """The frame, for code that needs one (ValueError when there is no local file)."""
        if self.frame is None:
            msg = (
                f"layer {self.key!r} vintage {self.vintage!r} has no local file "
                f"(source: {self.source or 'unknown'}); pass its path to load it"
            )
            raise ValueError(msg)
        return self.frame

    def valid_on(self, day: date) -> bool:
        """Return True when ``day`` lies in ``[valid_from, valid_to)``."""
        after = self.valid_from is None or day >= self.valid_from
        before = self.valid_to is None or day < self.valid_to
        return after and before

    def __repr__(self) -> str:
        size = "no local file" if self.frame is None else f"{len(self.frame)} areas"
        vintage = f" {self.vintage}" if self.vintage else ""
        return f"<Layer {self.key}{vintage}: {size}>"


class LayerResult(NamedTuple):
    """A validated layer and the ledger of reading it.

    Unpack it (``layer, ledger = read_layer(...)``) or use the attributes.
    """

    layer: Layer
    ledger: Ledger


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_file(path: Path) -> gpd.GeoDataFrame:
    if not path.is_file():
        msg = f"boundary file {path} does not exist (or is not a file)"
        raise InputFileError(msg)
    try:
        return gpd.read_file(path, engine="pyogrio", use_arrow=True)
    except RuntimeError as exc:  # pyogrio's DataSourceError / DataLayerError
        msg = f"cannot read {path} as a vector layer (GeoJSON, GeoPackage, shapefile ...): {exc}"
        raise InputFileError(msg) from exc


def _id_text(value: Any) -> Any:
    if value is None or value is pd.NA:
        return pd.NA
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return pd.NA
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    return text or pd.NA


def _normalise_ids(values: pd.Series) -> pd.Series:
    """Ids as strings: integers (also integral floats) without a decimal part, text stripped."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64").astype("string")
    return values.map(_id_text, na_action="ignore").astype("string")


def _text_column(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask((text == "").fillna(False))


def _aliases(frame: pd.DataFrame, names: pd.Series, fields: Sequence[str]) -> pd.Series:
    """Former names per row joined by ``|``, or NA; one equal to the name (any case) is skipped."""
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    if not fields:
        return out
    folded = names.str.casefold()
    columns = []
    for name in fields:
        text = _text_column(frame[name])
        columns.append(text.mask((text.str.casefold() == folded).fillna(False)))
    rows = zip(*(c.tolist() for c in columns), strict=True)
    joined = [ALIAS_SEP.join(dict.fromkeys(v for v in row if isinstance(v, str))) for row in rows]
    return pd.Series(joined, index=frame.index, dtype="string").mask(lambda s: s == "")


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """Keep the polygonal parts of a (repaired) geometry; None when there are none."""
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom
    polys = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in _POLYGONAL]
    if not polys:
        return None
    merged = shapely.union_all(polys)
    return merged if shapely.get_type_id(merged) in _POLYGONAL else _polygonal(merged)


def _measure(geoms: np.ndarray, crs: str) -> dict[str, Any]:
    """Overlaps and gaps between areas, in square metres in ``crs``.

    Overlap is the sum of the areas of pairwise intersections whose interiors
    meet (a pair that only shares an edge adds nothing); ``overlap_pairs``
    counts the pairs overlapping by at least :data:`OVERLAP_PAIR_MIN_M2`.
    Gaps are the holes of the union of all areas: their count (interior
    rings) and area (the union with holes filled, minus the union, so areas
    on islands inside a hole are not counted as gap).
    """
    projected = gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(crs).to_numpy()
    broken = ~shapely.is_valid(projected)
    if broken.any():  # reprojection can rarely break validity; repair the measuring copy only
        projected[broken] = shapely.make_valid(projected[broken])
    left, right = shapely.STRtree(projected).query(projected, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    inner = shapely.relate_pattern(projected[left], projected[right], "2********")
    overlaps = shapely.area(shapely.intersection(projected[left[inner]], projected[right[inner]]))
    union = shapely.union_all(projected)
    parts = shapely.get_parts(union)
    parts = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    holes = int(shapely.get_num_interior_rings(parts).sum())
    filled = shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))
    return {
        "overlap_m2": round(float(overlaps.sum()), 3),
        "overlap_pairs": int(np.count_nonzero(overlaps >= OVERLAP_PAIR_MIN_M2)),
        "gap_m2": round(float(shapely.area(filled) - shapely.area(union)), 3) if holes else 0.0,
        "gap_count": holes,
        "area_m2": round(float(shapely.area(union)), 3),
    }


def _measure_crs(projected_crs: str | CRS | None, frame: gpd.GeoDataFrame, origin: str) -> str:
    if projected_crs is None:
        return str(frame.estimate_utm_crs().to_string())
    text = projected_crs.to_string() if isinstance(projected_crs, CRS) else str(projected_crs)
    problem = _crs_problem(text, metres=True)
    if problem:
        msg = f"{origin}: projected_crs {problem}"
        raise CRSError(msg)
    return text


def _check_frame(frame: Any, *, key: str, fields: Sequence[str], origin: str) -> list[str]:
    """Check type, CRS and fields; return the attribute (non-geometry) columns."""
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{origin}: layer {key!r} must be a GeoDataFrame, got {type(frame).__name__}"
        raise SchemaError(msg)
    if frame.crs is None:
        msg = (
            f"{origin}: layer {key!r} has no CRS, so its coordinates cannot be placed on "
            "the map. Declare the CRS the data was made in, e.g. "
            "`gdf = gdf.set_crs('EPSG:4326')` for longitude/latitude, before reading it; "
            "for a file, add the CRS to it (a .prj beside a shapefile, or "
            "`ogr2ogr -a_srs EPSG:XXXX out.gpkg in.shp`)."
        )
        raise CRSError(msg)
    geometry_name = frame.geometry.name
    attributes = [str(c) for c in frame.columns if c != geometry_name]
    missing = [f for f in dict.fromkeys(fields) if f not in attributes]
    if missing:
        msg = (
            f"{origin}: layer {key!r} has no field(s) {', '.join(map(repr, missing))}. "
            f"Fields found: {', '.join(attributes) or '(none)'}. "
            "Name the fields that hold the area id and name (id_field=, name_field=, "
            "or --id-field/--name-field, or the manifest)."
        )
        raise SchemaError(msg)
    return attributes


def _check_polygonal(
    geoms: np.ndarray, empty: np.ndarray, ids: pd.Series, *, key: str, origin: str
) -> None:
    wrong = ~empty & ~np.isin(shapely.get_type_id(geoms), _POLYGONAL)
    if wrong.any():
        kinds = {
            k: int(n)
            for k, n in pd.Series([g.geom_type for g in geoms[wrong]]).value_counts().items()
        }
        msg = (
            f"{origin}: layer {key!r} must hold areas (Polygon/MultiPolygon), but "
            f"{int(wrong.sum())} feature(s) are {kinds} (ids "
            f"{ids[wrong].head(5).tolist()}). Use a polygon layer: points and lines "
            "cannot contain requests."
        )
        raise SchemaError(msg)


def _check_ids(ids: pd.Series, keep: np.ndarray, *, key: str, id_field: str, origin: str) -> None:
    kept = ids[keep]
    missing = kept.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(keep)[missing][:10].tolist()
        msg = (
            f"{origin}: layer {key!r} has {int(missing.sum())} feature(s) without an id in "
            f"{id_field!r} (rows {rows}). Every area needs an id: fill them or choose "
            "another id field."
        )
        raise SchemaError(msg)
    counts = kept.value_counts()
    dupes = counts[counts > 1]
    if len(dupes):
        listing = ", ".join(f"{i!r} ({n} features)" for i, n in dupes.head(20).items())
        more = f" and {len(dupes) - 20} more" if len(dupes) > 20 else ""
        msg = (
            f"{origin}: layer {key!r} has duplicate ids in {id_field!r}: {listing}{more}. "
            "Ids must be unique: dissolve the parts of each area first "
            f"(`gdf.dissolve(by={id_field!r})`) or choose a unique id field."
        )
        raise SchemaError(msg)


def _repair(geoms: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repair invalid polygons; return (geometries, repaired mask, unrepairable mask)."""
    geoms = geoms.copy()
    invalid = keep & ~shapely.is_valid(geoms)
    unrepairable = np.zeros(len(geoms), dtype=bool)
    for pos in np.flatnonzero(invalid):
        fixed = _polygonal(shapely.make_valid(geoms[pos]))
        if fixed is None or shapely.is_empty(fixed):
            unrepairable[pos] = True
        else:
            geoms[pos] = fixed
    return geoms, invalid & ~unrepairable, unrepairable


def _summary(qa: Mapping[str, Any], crs: str) -> str:
    dropped = qa["empty_dropped"] + qa["unrepairable_dropped"]
    return (
        f"{qa['features']} areas ({qa['invalid_repaired']} repaired, {dropped} dropped); "
        f"overlaps {qa['overlap_m2']:,.1f} m2 in {qa['overlap_pairs']} pair(s); "
        f"{qa['gap_count']} gap(s) totalling {qa['gap_m2']:,.1f} m2 "
        f"({qa['gap_m2'] / SQ_MI:.4f} sq mi); union {qa['area_m2'] / 1e6:,.3f} km2 "
        f"({qa['area_m2'] / SQ_MI:.3f} sq mi); measured in {crs}"
    )


def _validate(
    source_frame: gpd.GeoDataFrame,
    *,
    key: str,
    id_field: str,
    name_field: str,
    alias_fields: Sequence[str],
    projected_crs: str | CRS | None,
    origin: str,
    stage: str,
) -> tuple[gpd.GeoDataFrame, dict[str, Any], Ledger, str]:
    """Check and normalise one layer; return (frame, qa, ledger, measuring CRS)."""
    attributes = _check_frame(
        source_frame, key=key, fields=[id_field, name_field, *alias_fields], origin=origin
    )
    rows_in = len(source_frame)
    geoms = source_frame.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    ids = _normalise_ids(source_frame[id_field]).reset_index(drop=True)
    _check_polygonal(geoms, empty, ids, key=key, origin=origin)
    _check_ids(ids, ~empty, key=key, id_field=id_field, origin=origin)

    notes: list[str] = []
    if not CRS.from_user_input(source_frame.crs).equals("EPSG:4326", ignore_axis_order=True):
        notes.append(f"reprojected from {source_frame.crs.to_string()} to EPSG:4326")
        geoms = source_frame.geometry.to_crs("EPSG:4326").to_numpy()
    geoms, repaired, unrepairable = _repair(geoms, ~empty)
    positions = np.flatnonzero(~empty & ~unrepairable)
    if not len(positions):
        msg = f"{origin}: layer {key!r} has no non-empty polygons left ({rows_in} features read)"
        raise SchemaError(msg)

    names = _text_column(source_frame[name_field]).iloc[positions].reset_index(drop=True)
    kept = source_frame.iloc[positions].reset_index(drop=True)
    others = [c for c in attributes if c not in (id_field, name_field)]
    renamed = {c: f"source_{c}" for c in others if c in LAYER_COLUMNS}
    if renamed:
        notes.append(f"source columns renamed to avoid clashes: {renamed}")
    data: dict[str, Any] = {
        "area_id": ids.iloc[positions].reset_index(drop=True),
        "area_name": names,
        "aliases": _aliases(kept, names, alias_fields),
    }
    data.update({renamed.get(c, c): kept[c] for c in others})
    out = gpd.GeoDataFrame(data, geometry=list(geoms[positions]), crs="EPSG:4326")

    measure_crs = _measure_crs(projected_crs, out, origin)
    qa: dict[str, Any] = {
        "features": len(out),
        "invalid_repaired": int(repaired.sum()),
        "empty_dropped": int(empty.sum()),
        "unrepairable_dropped": int(unrepairable.sum()),
        **_measure(out.geometry.to_numpy(), measure_crs),
    }
    summary = _summary(qa, measure_crs)
    ledger = Ledger()
    ledger.inputs.append({"path": origin, "rows": rows_in, "layer": key})
    ledger.record(
        stage,
        rows_in=rows_in,
        rows_out=len(out),
        dropped={
            "empty_geometry": qa["empty_dropped"],
            "invalid_geometry_unrepairable": qa["unrepairable_dropped"],
        },
        flagged={
            "invalid_geometry_repaired": qa["invalid_repaired"],
            "missing_name": int(names.isna().sum()),
        },
        examples={
            "invalid_geometry_repaired": ids[repaired].tolist(),
            "invalid_geometry_unrepairable": ids[unrepairable].tolist(),
            "empty_geometry": ids[empty].dropna().tolist(),
        },
        notes=[*notes, summary],
    )
    log.info("%s: %s", stage, summary)
    return out, qa, ledger, measure_crs


def _frame_digest(frame: gpd.GeoDataFrame) -> str:
    digest = hashlib.sha256()
    digest.update("\x1f".join(frame["area_id"].tolist()).encode("utf-8"))
    for wkb in shapely.to_wkb(frame.geometry.to_numpy()):
        digest.update(wkb)
    return digest.hexdigest()


def read_layer(
    data: str | Path | gpd.GeoDataFrame,
    *,
    key: str,
    id_field: str,
    name_field: str,
    alias_fields: Sequence[str] = (),
    vintage: str = "",
    valid_from: date | None = None,
    valid_to: date | None = None,
    source: str = "",
    projected_crs: str | CRS | None = None,
) -> LayerResult:
    """Read and validate one boundary layer.

    Parameters
    ----------
    data : str, pathlib.Path or geopandas.GeoDataFrame
        A polygon file any GDAL driver reads (GeoJSON, GeoPackage, shapefile
        ...) or a GeoDataFrame.  Not modified.
    key : str
        Layer key, e.g. ``"neighborhoods"``.
    id_field, name_field : str
        Fields holding the area id (must be unique) and name.
    alias_fields : sequence of str, default ()
        Fields holding former names, joined into ``aliases``.
    vintage : str, default ""
        Vintage name.
    valid_from, valid_to : datetime.date, optional
        Half-open validity of the vintage.
    source : str, default ""
        Official source; defaults to the path read.
    projected_crs : str or pyproj.CRS, optional
        Metre-based CRS to measure overlaps and gaps in; by default the UTM
        zone of the layer (``estimate_utm_crs()``).

    Returns
    -------
    LayerResult
        ``(layer, ledger)``: the :class:`Layer` and a ledger with one stage
        ``layer:<key>[:<vintage>]`` counting dropped empty geometries and
        repaired invalid ones (rows in = rows out + dropped).

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    CRSError
        The layer has no CRS, or ``projected_crs`` is not in metres.
    SchemaError
        Missing id/name/alias fields (naming those found), non-polygon
        geometries, missing or duplicate ids (listing them).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> squares = gpd.GeoDataFrame(
    ...     {"code": [1, 2], "label": ["West", "East"]},
    ...     geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)],
    ...     crs="EPSG:26985",
    ... )
    >>> layer, ledger = read_layer(
    ...     squares, key="wards", id_field="code", name_field="label", projected_crs="EPSG:26985"
    ... )
    >>> layer.frame["area_id"].tolist(), layer.frame.crs.to_string()
    (['1', '2'], 'EPSG:4326')
    >>> layer.qa["overlap_m2"], layer.qa["gap_count"], round(layer.qa["area_m2"])
    (0.0, 0, 2000000)
    """
    stage = f"layer:{key}" + (f":{vintage}" if vintage else "")
    if isinstance(data, gpd.GeoDataFrame):
        path = None
        frame = data
        origin = source or f"layer {key!r} (GeoDataFrame)"
    else:
        path = Path(data).expanduser()
        frame = _read_file(path)
        origin = str(path)
    out, qa, ledger, measure_crs = _validate(
        frame,
        key=key,
        id_field=id_field,
        name_field=name_field,
        alias_fields=tuple(alias_fields),
        projected_crs=projected_crs,
        origin=origin,
        stage=stage,
    )
    if path is not None:
        ledger.inputs[-1]["path"] = str(path)
    layer = Layer(
        key=key,
        vintage=vintage,
        frame=out,
        valid_from=valid_from,
        valid_to=valid_to,
        source=source or (str(path) if path is not None else ""),
        path=path,
        sha256=_sha256_file(path) if path is not None else _frame_digest(out),
        projected_crs=measure_crs,
        qa=qa,
    )
    return LayerResult(layer, ledger)


def layer_from_file(
    name: str,
    path: str | Path,
    *,
    id_field: str,
    name_field: str,
    alias_fields: Sequence[str] = (),
    projected_crs: str | CRS | None = None,
) -> Layer:
    """Read a user's own polygon file as a layer (``--layer NAME=PATH``).

    Parameters
    ----------
    name : str
        Layer key; lower-case snake_case, as it names the join's columns.
    path : str or pathlib.Path
        The polygon file.
    id_field, name_field : str
        Fields holding the area id and name.
    alias_fields : sequence of str, default ()
        Fields holding former names.
    projected_crs : str or pyproj.CRS, optional
        Metre-based CRS for the QA figures (default: the layer's UTM zone).

    Returns
    -------
    Layer
        Without vintage or validity dates; its ledger is logged, not returned
        (use :func:`read_layer` for it).

    Raises
    ------
    ManifestError
        If ``name`` is not a valid layer key.
    """
    if not _SLUG.match(name):
        msg = f"layer name {name!r} must be lower-case snake_case (e.g. 'school_zones')"
        raise ManifestError(msg)
    return read_layer(
        path,
        key=name,
        id_field=id_field,
        name_field=name_field,
        alias_fields=alias_fields,
        projected_crs=projected_crs,
    ).layer


def _selected(
    manifest: CityManifest,
    layers: Iterable[str] | str | None,
    vintages: Mapping[str, str | Sequence[str]] | None,
) -> dict[str, list[VintageSpec]]:
    keys = [layers] if isinstance(layers, str) else list(layers or manifest.layers)
    unknown = [k for k in keys if k not in manifest.layers]
    if unknown:
        msg = (
            f"the {manifest.city} manifest has no layer(s) {unknown}; "
            f"layers: {', '.join(manifest.layers)}"
        )
        raise ManifestError(msg)
    chosen = {key: list(manifest.layers[key].vintages) for key in dict.fromkeys(keys)}
    for key, wanted in (vintages or {}).items():
        if key not in chosen:
            msg = f"vintages given for layer {key!r}, which is not among those loaded: {keys}"
            raise ManifestError(msg)
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        chosen[key] = [manifest.layers[key].vintage(n) for n in names]
    return chosen


def _explicit_paths(
    paths: Mapping[str, str | Path] | None, chosen: Mapping[str, Sequence[VintageSpec]]
) -> dict[tuple[str, str], Path]:
    out: dict[tuple[str, str], Path] = {}
    for spec, value in (paths or {}).items():
        key, _, vintage = spec.partition(":")
        if key not in chosen:
            msg = f"path given for layer {key!r}, which is not among those loaded: {list(chosen)}"
            raise ManifestError(msg)
        names = [v.vintage for v in chosen[key]]
        if not vintage:
            if len(names) != 1:
                msg = (
                    f"layer {key!r} has vintages {names}; say which one the file is: "
                    f"paths={{'{key}:{names[-1]}': ...}} (or pin one with vintages=)"
                )
                raise ManifestError(msg)
            vintage = names[0]
        if vintage not in names:
            msg = f"layer {key!r} has no vintage {vintage!r} among those loaded: {names}"
            raise ManifestError(msg)
        out[key, vintage] = Path(value).expanduser()
    return out


def load_layers(
    city: str | Path | CityManifest,
    *,
    layers: Iterable[str] | str | None = None,
    vintages: Mapping[str, str | Sequence[str]] | None = None,
    paths: Mapping[str, str | Path] | None = None,
) -> dict[str, list[Layer]]:
    """Load and validate every vintage of a city's boundary layers.

    Parameters
    ----------
    city : str, pathlib.Path or CityManifest
        City key, manifest path, or a parsed manifest.
    layers : iterable of str, optional
        Layer keys to load (default: all in the manifest).
    vintages : mapping of str to str or sequence of str, optional
        Restrict a layer to some vintages, e.g. ``{"neighborhoods": "2010"}``.
    paths : mapping of str to path, optional
        Explicit files: ``{"neighborhoods": p}`` when one vintage is loaded, or
        ``{"neighborhoods:2020": p}``.  A path also supplies a vintage that the
        manifest declares without a local file.

    Returns
    -------
    dict of str to list of Layer
        Layer key -> its vintages in date order.  A vintage declared without
        a local file (and given no path) is included with ``frame=None`` so
        the join can report requests that fall in it; the manifest's
        :attr:`LayerSpec.missing_files` lists the same.

    Raises
    ------
    ManifestError
        Unknown city, layer or vintage (listing the valid ones).
    InputFileError
        One message for every declared file not found, listing where each
        was looked for and how to get it.
    """
    manifest = city if isinstance(city, CityManifest) else load_manifest(city)
    chosen = _selected(manifest, layers, vintages)
    explicit = _explicit_paths(paths, chosen)
    found: dict[tuple[str, str], Path] = {}
    problems: list[str] = []
    for key, specs in chosen.items():
        for spec in specs:
            given = explicit.get((key, spec.vintage))
            if given is None and spec.file is None:
                fetched = (
                    settings.cache_dir()
                    / "boundaries"
                    / manifest.city
                    / fetched_file_name(key, spec.vintage)
                )
                if not fetched.is_file():
                    continue
                given = fetched  # downloaded by `geo311 fetch boundaries`
            file_name = spec.file if spec.file is not None else Path(str(given)).name
            try:
                found[key, spec.vintage] = find_layer_file(
                    manifest.city, file_name, path=given, source=spec.source
                )
            except InputFileError as exc:
                problems.append(f"{key} {spec.vintage}: {exc}")
    if problems:
        msg = "\n".join(problems)
        raise InputFileError(msg)

    out: dict[str, list[Layer]] = {}
    for key, specs in chosen.items():
        layer_spec = manifest.layers[key]
        out[key] = []
        for spec in specs:
            declared = Layer(
                key=key,
                vintage=spec.vintage,
                frame=None,
                valid_from=spec.valid_from,
                valid_to=spec.valid_to,
                source=spec.source,
                title=layer_spec.title,
                note=spec.note,
            )
            path = found.get((key, spec.vintage))
            if path is None:
                log.info(
                    "%s %s: declared without a local file (%s)", key, spec.vintage, spec.source
                )
                out[key].append(declared)
                continue
            frame = _read_file(path)
            if not _same_crs(frame.crs, spec.crs):
                log.warning(
                    "%s: CRS %s differs from the manifest's %s; using the file's",
                    path,
                    frame.crs.to_string() if frame.crs is not None else "(none)",
                    spec.crs,
                )
            validated, qa, _, measure_crs = _validate(
                frame,
                key=key,
                id_field=layer_spec.id_field,
                name_field=layer_spec.name_field,
                alias_fields=[a for a in layer_spec.alias_fields if a in frame.columns],
                projected_crs=manifest.projected_crs,
                origin=str(path),
                stage=f"layer:{key}:{spec.vintage}",
            )
            out[key].append(
                replace(
                    declared,
                    frame=validated,
                    path=path,
                    sha256=_sha256_file(path),
                    projected_crs=measure_crs,
                    qa=qa,
                )
            )
    return out


def _same_crs(actual: Any, declared: str) -> bool:
    if actual is None:
        return True  # _validate raises the CRSError with the fix
    return bool(CRS.from_user_input(actual).equals(declared, ignore_axis_order=True))

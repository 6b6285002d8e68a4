"""Boundary manifests: the city TOML that declares a city's layers, and its dataclasses.

A city's boundary layers are declared in a manifest, ``boundaries/<city>.toml``
(shipped inside the package; format in ``boundaries/README.md``).  Each layer
(``neighborhoods``, ``council_districts`` ...) has one or more *vintages*, each
valid over a date range and taken from a named official source.
:func:`load_manifest` parses and checks one, reporting every problem at once
as a :class:`ManifestError`.

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
LabelSpec(column='Neighborhood', match='name', transform=None)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from geo311.crs import crs_problem
from geo311.join.display import display_problem
from geo311.join.label_transform import parse_label_transform
from geo311.join.layer_specs import (
    DEFAULT_DISPLAY,
    AncillarySpec,
    LabelSpec,
    LayerSpec,
    ManifestError,
    OutlineSpec,
    VintageSpec,
)

__all__ = [
    "AncillarySpec",
    "CityManifest",
    "LabelSpec",
    "LayerSpec",
    "ManifestError",
    "OutlineSpec",
    "VintageSpec",
    "is_layer_key",
    "list_cities",
    "load_manifest",
    "parse_manifest",
]

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {
    "city",
    "title",
    "timezone",
    "projected_crs",
    "district_layer",
    "tract_layer",
    "site_layers",
    "layers",
    "city_outline",
    "ancillary",
    "families",
}
_LAYER_KEYS = {"title", "id_field", "name_field", "alias_fields", "label", "display", "vintages"}
_VINTAGE_KEYS = {
    "vintage",
    "valid_from",
    "valid_to",
    "source",
    "publisher",
    "file",
    "crs",
    "note",
    "population_field",
    "population_source",
    "population_year",
}
_OUTLINE_KEYS = {"file", "crs", "source", "note"}
_ANCILLARY_KEYS = {"layer", "vintage", "field", "classes", "note"}
_LABEL_KEYS = {"column", "match", "transform"}
_LABEL_MATCH = ("name", "id")


def is_layer_key(name: str) -> bool:
    """Return whether ``name`` is a valid layer key (lower-case snake_case; it names columns).

    >>> is_layer_key("school_zones"), is_layer_key("School Zones")
    (True, False)
    """
    return bool(_SLUG.match(name))


# --------------------------------------------------------------------------- manifests
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
    district_layer : str or None
        The layer whose areas each get a page (district pages); None when
        the manifest names none.
    tract_layer : str or None
        The census-tract layer population denominators are interpolated
        from; by default ``census_tracts`` when the city has that layer,
        None (no denominators) otherwise.
    site_layers : tuple of str
        The layers ``geo311 run`` maps, in order; by default every layer
        with a local file declared for some vintage.
    city_outline : OutlineSpec or None
        The city's land outline, if declared.
    ancillary : AncillarySpec or None
        The dasymetric ancillary layer, if declared.
    families : dict of str to tuple of str
        ``[families]``: named groups of exact service type names
        (``"missed pickup" = ["SW-Mixed Refuse", "SW-Recycling"]``) that
        ``--family`` selects; keys are matched case-insensitively.
    """

    city: str
    title: str
    timezone: str
    projected_crs: str
    layers: Mapping[str, LayerSpec]
    path: str = field(default="", compare=False)
    district_layer: str | None = None
    tract_layer: str | None = None
    site_layers: tuple[str, ...] = ()
    city_outline: OutlineSpec | None = None
    ancillary: AncillarySpec | None = None
    families: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def layer(self, key: str) -> LayerSpec:
        """Return layer ``key`` (ManifestError listing the layers if absent)."""
        if key not in self.layers:
            msg = (
                f"the {self.city} manifest has no layer {key!r}; layers: {', '.join(self.layers)}"
            )
            raise ManifestError(msg)
        return self.layers[key]

    def labels(self) -> dict[str, LabelSpec]:
        """Layer key -> its declared label (column, match, transform), for the join QA."""
        return {key: spec.label for key, spec in self.layers.items() if spec.label is not None}


def _unknown_crs(value: str) -> str | None:
    """Return why ``value`` is not a CRS pyproj understands, or None."""
    try:
        CRS.from_user_input(value)
    except PyprojCRSError:
        return f"{value!r} is not a CRS pyproj understands (e.g. 'EPSG:4326')"
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
        problem = _unknown_crs(crs)
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
    population = _optional_text(data, "population_field", where, problems)
    population_source = _optional_text(data, "population_source", where, problems)
    year = data.get("population_year", "")
    year = str(year) if isinstance(year, int) and not isinstance(year, bool) else year
    if not isinstance(year, str):
        problems.append(f'{where}: population_year must be a year such as "2020"')
        year = ""
    if population is None and (population_source or year):
        problems.append(f"{where}: population_source/population_year need population_field")
    return VintageSpec(
        vintage=name,
        valid_from=start,
        valid_to=end,
        source=source,
        publisher=publisher,
        file=file if isinstance(file, str) else None,
        crs=crs,
        note=" ".join(note.split()),
        population_field=population,
        population_source=population_source or "",
        population_year=year,
    )


def _optional_text(
    data: Mapping[str, Any], key: str, where: str, problems: list[str]
) -> str | None:
    """Return an optional key: absent is None, given must be a non-empty string."""
    if key not in data:
        return None
    return _text(data, key, where, problems) or None


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


def _parse_label(raw_label: Any, where: str, problems: list[str]) -> LabelSpec | None:
    if raw_label is None:
        return None
    if not isinstance(raw_label, Mapping):
        problems.append(f"{where}: label must be a table {{column = ..., match = ...}}")
        return None
    extra = sorted(set(raw_label) - _LABEL_KEYS)
    if extra:
        problems.append(f"{where} label has unknown keys {extra}")
    column = _text(raw_label, "column", f"{where} label", problems)
    match = raw_label.get("match")
    if match not in _LABEL_MATCH:
        problems.append(f"{where} label: match must be 'name' or 'id', got {match!r}")
        return None
    transform = None
    if "transform" in raw_label:
        transform = parse_label_transform(
            raw_label["transform"], f"{where} label.transform", problems
        )
    return LabelSpec(column=column, match=match, transform=transform) if column else None


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
    label = _parse_label(data.get("label"), where, problems)
    display = data.get("display", DEFAULT_DISPLAY)
    problem = display_problem(display)
    if problem:
        problems.append(f"{where} display {display!r}: {problem}")
        display = DEFAULT_DISPLAY
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
        display=display,
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
        problem = crs_problem(projected, metres=True)
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
    district_layer = _layer_key(data.get("district_layer"), "district_layer", layers, problems)
    tracts = data.get("tract_layer", "census_tracts" if "census_tracts" in layers else None)
    tract_layer = _layer_key(tracts, "tract_layer", layers, problems)
    site_layers = _site_layers(data.get("site_layers"), layers, problems)
    outline = _parse_outline(data.get("city_outline"), problems)
    ancillary = _parse_ancillary(data.get("ancillary"), layers, problems)
    families = _families(data.get("families", {}), problems)
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
        district_layer=district_layer,
        tract_layer=tract_layer,
        site_layers=site_layers,
        city_outline=outline,
        ancillary=ancillary,
        families=MappingProxyType(families),
    )


def _layer_key(value: Any, key: str, layers: Mapping[str, Any], problems: list[str]) -> str | None:
    """Check a top-level key that names one of the layers (None when absent)."""
    if value is not None and (not isinstance(value, str) or value not in layers):
        problems.append(f"{key} {value!r} must be one of the layers: {', '.join(layers)}")
        return None
    return value


def _table(value: Any, where: str, allowed: set[str], problems: list[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(f"{where} must be a table")
        return {}
    extra = sorted(set(value) - allowed)
    if extra:
        problems.append(f"{where} has unknown keys {extra}; allowed: {sorted(allowed)}")
    return value


def _parse_outline(value: Any, problems: list[str]) -> OutlineSpec | None:
    if value is None:
        return None
    data = _table(value, "city_outline", _OUTLINE_KEYS, problems)
    spec = _parse_vintage(
        {"vintage": "outline", "source": "-", "publisher": "-", **data}, "city_outline", problems
    )
    if spec is None or spec.file is None:
        problems.append("city_outline: 'file' is required")
        return None
    source = data.get("source", "")
    return OutlineSpec(file=spec.file, crs=spec.crs, source=str(source), note=spec.note)


def _parse_ancillary(
    value: Any, layers: Mapping[str, LayerSpec], problems: list[str]
) -> AncillarySpec | None:
    if value is None:
        return None
    data = _table(value, "ancillary", _ANCILLARY_KEYS, problems)
    layer = _text(data, "layer", "ancillary", problems)
    vintage = str(data.get("vintage", ""))
    field_name = _text(data, "field", "ancillary", problems)
    if layer and layer not in layers:
        problems.append(
            f"ancillary layer {layer!r} must be one of the layers: {', '.join(layers)}"
        )
        return None
    if layer and vintage not in {v.vintage for v in layers[layer].vintages}:
        problems.append(f"ancillary vintage {vintage!r} is not a vintage of layer {layer!r}")
        return None
    classes = data.get("classes")
    if classes is not None and (
        not isinstance(classes, Mapping)
        or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and w >= 0
            for w in classes.values()
        )
    ):
        problems.append("ancillary classes must be a table of class = weight (>= 0)")
        classes = None
    note = data.get("note", "")
    if not (layer and field_name):
        return None
    return AncillarySpec(
        layer=layer,
        vintage=vintage,
        field=field_name,
        classes=MappingProxyType({str(k): float(w) for k, w in classes.items()})
        if classes is not None
        else None,
        note=" ".join(str(note).split()),
    )


def _families(value: Any, problems: list[str]) -> dict[str, tuple[str, ...]]:
    """Check ``[families]``: names (unique ignoring case) to non-empty lists of type names."""
    if not isinstance(value, Mapping):
        problems.append(f"[families] must be a table of name = [service types], got {value!r}")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for name, types in value.items():
        if (
            not isinstance(types, list)
            or not types
            or not all(isinstance(t, str) and t.strip() for t in types)
        ):
            problems.append(
                f"family {name!r} must be a non-empty list of service type names, got {types!r}"
            )
            continue
        if name.strip().casefold() in {k.casefold() for k in out}:
            problems.append(f"family {name!r} is defined twice (names ignore case)")
            continue
        out[name.strip()] = tuple(dict.fromkeys(t.strip() for t in types))
    return out


def _site_layers(
    value: Any, layers: Mapping[str, LayerSpec], problems: list[str]
) -> tuple[str, ...]:
    """Check ``site_layers``; default every layer with a local file for some vintage."""
    if value is None:
        return tuple(k for k, spec in layers.items() if any(v.has_file for v in spec.vintages))
    if not isinstance(value, list) or not value or not all(isinstance(k, str) for k in value):
        problems.append(f"site_layers must be a non-empty list of layer keys, got {value!r}")
        return ()
    unknown = [k for k in value if k not in layers]
    if unknown:
        problems.append(f"site_layers {unknown} are not layers; layers: {', '.join(layers)}")
    repeated = sorted({k for k in value if value.count(k) > 1})
    if repeated:
        problems.append(f"site_layers repeat {repeated}")
    return tuple(k for k in dict.fromkeys(value) if k in layers)


def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"boundary manifest {origin} is not valid TOML: {exc}"
        raise ManifestError(msg) from exc


def parse_manifest(text: str, *, origin: str = "manifest text") -> CityManifest:
    """Parse a boundary manifest held in memory as TOML text.

    A manifest parsed from text has no folder of its own: its vintages'
    ``file`` paths are looked for only in the data folders.  Write the text
    to a file and :func:`load_manifest` that file to have them found beside it.

    Parameters
    ----------
    text : str
        The manifest, in the format of ``boundaries/README.md``.
    origin : str, default "manifest text"
        What error messages call it.

    Returns
    -------
    CityManifest
        With an empty :attr:`CityManifest.path`.

    Raises
    ------
    ManifestError
        Text that is not TOML, or an invalid manifest (every problem at once).

    Examples
    --------
    >>> manifest = parse_manifest('''
    ... city = "town"
    ... title = "Town"
    ... timezone = "Europe/Paris"
    ... projected_crs = "EPSG:2154"
    ... [layers.wards]
    ... title = "Wards"
    ... id_field = "ward"
    ... name_field = "name"
    ... [[layers.wards.vintages]]
    ... vintage = "2020"
    ... source = "town hall"
    ... publisher = "Town"
    ... crs = "EPSG:4326"
    ... ''')
    >>> manifest.city, list(manifest.layers), manifest.path
    ('town', ['wards'], '')
    """
    return replace(_parse_manifest(_read_toml(text, origin), origin, expect=None), path="")


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

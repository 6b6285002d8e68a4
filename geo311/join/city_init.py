"""Propose a city boundary manifest from a folder of boundary files (``geo311 city init``).

:func:`init_city` reads every polygon file in a folder (GeoJSON, Shapefile,
GeoPackage, FlatGeobuf: anything pyogrio reads) and proposes one manifest
layer per file:

* the **id field**: unique, never missing, short values (integer-like or
  text), preferring names such as ``*_id``, ``code``, ``geoid`` and avoiding
  GIS bookkeeping (``objectid``, ``fid``) and measures (``area``, ``pop``);
* the **name field**: unique-ish text, preferring ``name``/``*name*``/``label``;
* the **CRS** the file declares (a file without one is read as EPSG:4326
  only when its coordinates are longitudes/latitudes; otherwise
  :class:`~geo311._errors.CRSError`);
* a **district layer**: 5 to 60 areas whose file name or fields say council,
  ward or district;
* the **site layers**: every layer with more than one area;
* a **time zone**, guessed from the nearest of a small table of US cities
  (a guess: the proposal says so and asks);
* the **projected CRS**, in metres as the manifest requires: the NAD83 State
  Plane zone whose area of use covers the layers, in the state of the table
  city found for the time zone; else the WGS 84 UTM zone of the layers'
  centre (``estimate_utm_crs``);
* with a **sample export**, the proposed schema profile
  (:func:`geo311.io.infer.infer_profile`) and, per layer, the export column
  that carries the city's own label (ids or names) for the join QA.

:meth:`CityProposal.to_toml` writes a manifest that the manifest loader of
:mod:`geo311.join` reads, with file paths relative to the manifest, which is
meant to sit in the folder itself (:attr:`CityProposal.manifest_path`): the
loader finds a manifest's files beside it, whatever the folder is called.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_crs_info
from pyproj.enums import PJType

from geo311._errors import CRSError, InputFileError, OptionError
from geo311.io.infer import infer_profile, read_sample
from geo311.io.proposal import ProfileProposal, toml_string

__all__ = ["CityProposal", "LayerProposal", "guess_timezone", "init_city"]

log = logging.getLogger(__name__)

#: File suffixes read as boundary layers.
BOUNDARY_SUFFIXES: Final = (".geojson", ".json", ".shp", ".gpkg", ".fgb")
#: Rows of a sample export read to find label columns.
SAMPLE_ROWS: Final = 5000
#: Farthest a city may be from its table entry for the time-zone guess, in km.
TIMEZONE_RADIUS_KM: Final = 400.0
#: Reference cities: (name, longitude, latitude, IANA zone, state as EPSG names
#: its State Plane zones).  Only for a first guess of a US city's time zone and
#: State Plane CRS; the nearest entry within TIMEZONE_RADIUS_KM wins.
US_CITY_ZONES: Final = (
    ("New York", -74.006, 40.713, "America/New_York", "New York"),
    ("Boston", -71.059, 42.360, "America/New_York", "Massachusetts"),
    ("Hartford", -72.685, 41.764, "America/New_York", "Connecticut"),
    ("Buffalo", -78.878, 42.886, "America/New_York", "New York"),
    ("Philadelphia", -75.165, 39.953, "America/New_York", "Pennsylvania"),
    ("Pittsburgh", -79.996, 40.441, "America/New_York", "Pennsylvania"),
    ("Baltimore", -76.612, 39.290, "America/New_York", "Maryland"),
    ("Washington", -77.037, 38.907, "America/New_York", "Maryland"),
    ("Richmond", -77.436, 37.541, "America/New_York", "Virginia"),
    ("Raleigh", -78.638, 35.780, "America/New_York", "North Carolina"),
    ("Charlotte", -80.843, 35.227, "America/New_York", "North Carolina"),
    ("Atlanta", -84.388, 33.749, "America/New_York", "Georgia"),
    ("Jacksonville", -81.656, 30.332, "America/New_York", "Florida"),
    ("Tampa", -82.458, 27.951, "America/New_York", "Florida"),
    ("Miami", -80.192, 25.762, "America/New_York", "Florida"),
    ("Columbus", -82.999, 39.961, "America/New_York", "Ohio"),
    ("Cleveland", -81.694, 41.499, "America/New_York", "Ohio"),
    ("Cincinnati", -84.512, 39.103, "America/New_York", "Ohio"),
    ("Detroit", -83.046, 42.331, "America/Detroit", "Michigan"),
    ("Indianapolis", -86.158, 39.768, "America/Indiana/Indianapolis", "Indiana"),
    ("Louisville", -85.759, 38.253, "America/Kentucky/Louisville", "Kentucky"),
    ("Chicago", -87.630, 41.878, "America/Chicago", "Illinois"),
    ("Milwaukee", -87.906, 43.039, "America/Chicago", "Wisconsin"),
    ("Minneapolis", -93.265, 44.978, "America/Chicago", "Minnesota"),
    ("Des Moines", -93.625, 41.587, "America/Chicago", "Iowa"),
    ("St. Louis", -90.199, 38.627, "America/Chicago", "Missouri"),
    ("Kansas City", -94.579, 39.100, "America/Chicago", "Missouri"),
    ("Omaha", -95.935, 41.257, "America/Chicago", "Nebraska"),
    ("Fargo", -96.790, 46.877, "America/Chicago", "North Dakota"),
    ("Sioux Falls", -96.731, 43.545, "America/Chicago", "South Dakota"),
    ("Nashville", -86.781, 36.163, "America/Chicago", "Tennessee"),
    ("Memphis", -90.049, 35.150, "America/Chicago", "Tennessee"),
    ("Birmingham", -86.802, 33.521, "America/Chicago", "Alabama"),
    ("Little Rock", -92.290, 34.746, "America/Chicago", "Arkansas"),
    ("New Orleans", -90.072, 29.951, "America/Chicago", "Louisiana"),
    ("Houston", -95.369, 29.760, "America/Chicago", "Texas"),
    ("Dallas", -96.797, 32.777, "America/Chicago", "Texas"),
    ("Austin", -97.743, 30.267, "America/Chicago", "Texas"),
    ("San Antonio", -98.494, 29.424, "America/Chicago", "Texas"),
    ("Oklahoma City", -97.516, 35.468, "America/Chicago", "Oklahoma"),
    ("El Paso", -106.485, 31.762, "America/Denver", "Texas"),
    ("Albuquerque", -106.650, 35.084, "America/Denver", "New Mexico"),
    ("Denver", -104.990, 39.739, "America/Denver", "Colorado"),
    ("Cheyenne", -104.820, 41.140, "America/Denver", "Wyoming"),
    ("Rapid City", -103.231, 44.081, "America/Denver", "South Dakota"),
    ("Billings", -108.500, 45.783, "America/Denver", "Montana"),
    ("Salt Lake City", -111.891, 40.761, "America/Denver", "Utah"),
    ("Boise", -116.202, 43.615, "America/Boise", "Idaho"),
    ("Phoenix", -112.074, 33.448, "America/Phoenix", "Arizona"),
    ("Tucson", -110.975, 32.222, "America/Phoenix", "Arizona"),
    ("Las Vegas", -115.140, 36.170, "America/Los_Angeles", "Nevada"),
    ("Los Angeles", -118.244, 34.052, "America/Los_Angeles", "California"),
    ("San Diego", -117.161, 32.716, "America/Los_Angeles", "California"),
    ("Fresno", -119.787, 36.738, "America/Los_Angeles", "California"),
    ("San Francisco", -122.419, 37.775, "America/Los_Angeles", "California"),
    ("San Jose", -121.886, 37.338, "America/Los_Angeles", "California"),
    ("Sacramento", -121.494, 38.582, "America/Los_Angeles", "California"),
    ("Portland", -122.677, 45.515, "America/Los_Angeles", "Oregon"),
    ("Seattle", -122.332, 47.606, "America/Los_Angeles", "Washington"),
    ("Spokane", -117.426, 47.659, "America/Los_Angeles", "Washington"),
    ("Anchorage", -149.900, 61.218, "America/Anchorage", "Alaska"),
    ("Honolulu", -157.858, 21.307, "Pacific/Honolulu", "Hawaii"),
    ("San Juan", -66.106, 18.466, "America/Puerto_Rico", "Puerto Rico"),
)
_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_VINTAGE = re.compile(r"^(?P<key>.*?)_(?P<vintage>(?:19|20)\d\d(?:_(?:19|20)\d\d)?)$")
_ID_NAME = re.compile(r"(?:^|_)(?:id|code|geoid|fips|number|num|no|key)$|id$|code$")
_ID_HINTS: Final = ("district", "ward", "zip", "precinct", "tract", "beat")
_GENERIC: Final = frozenset({"objectid", "fid", "ogc_fid", "gid", "oid", "index", "rowid"})
#: Words (between non-letters) of fields that hold measures, not ids or names.
_MEASURES: Final = frozenset({
    "area", "acre", "acres", "land", "water", "aland", "awater", "pop", "population",
    "housing", "units", "length", "len", "shape", "lat", "lon", "intptlat", "intptlon",
    "count", "perimeter", "sqmi", "income",
})  # fmt: skip
_DISTRICT_WORDS: Final = {"council": 3, "ward": 3, "district": 2, "supervisor": 2, "police": -2}


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")
    return slug if slug and slug[0].isalpha() else f"layer_{slug}".rstrip("_")


@dataclass(frozen=True)
class LayerProposal:
    """One proposed manifest layer, read from one file.

    Attributes
    ----------
    key, title, vintage : str
        Layer key (from the file name, a trailing year split off as the vintage).
    file : str
        Path relative to the manifest, with ``/``.
    areas : int
        Number of features.
    crs : str
        The file's CRS (``EPSG:4326`` when none was declared and the
        coordinates are longitudes/latitudes; see ``crs_declared``).
    crs_declared : bool
    id_field, name_field : str
    id_candidates, name_candidates : tuple of str
        Every field that qualified, best first.
    bounds : tuple of float
        ``(west, south, east, north)`` in degrees.
    label : tuple of (str, str) or None
        ``(column, "id" | "name")``: the sample export's column holding the
        city's own label for this layer.
    label_share : float
        Share of the sample's non-empty labels found among the layer's values.
    label_prefix : str or None
        Text the sample's labels put before the layer's ids ("ward" of
        "Ward 3"), proposed as the label's ``strip_prefix`` transform.
    """

    key: str
    title: str
    vintage: str
    file: str
    areas: int
    crs: str
    crs_declared: bool
    id_field: str
    name_field: str
    id_candidates: tuple[str, ...]
    name_candidates: tuple[str, ...]
    bounds: tuple[float, float, float, float]
    label: tuple[str, str] | None = None
    label_share: float = 0.0
    label_prefix: str | None = None


@dataclass(frozen=True)
class CityProposal:
    """A proposed city manifest (and, with a sample export, a schema profile).

    Attributes
    ----------
    city, title : str
    folder : str
        The folder of boundary files.
    manifest_path : str
        Where the manifest belongs (``<folder>/<city>.toml``): layer files
        are written relative to it.
    timezone : str
        Guessed IANA zone (``"UTC"`` when no guess could be made).
    timezone_note : str
        How it was guessed.
    projected_crs : str
        A metre-based CRS: a State Plane zone, else the UTM zone of the layers.
    projected_note : str
        How it was chosen.
    layers : mapping of str to LayerProposal
    district_layer : str or None
    site_layers : tuple of str
    profile : ProfileProposal or None
        The proposed schema profile of the sample export, if one was given.
    questions : tuple of str
        What the user must decide or fill in, one line each.
    """

    city: str
    title: str
    folder: str
    manifest_path: str
    timezone: str
    timezone_note: str
    projected_crs: str
    projected_note: str
    layers: Mapping[str, LayerProposal]
    district_layer: str | None
    site_layers: tuple[str, ...]
    profile: ProfileProposal | None
    questions: tuple[str, ...]

    def to_toml(self) -> str:
        """Return the proposal as a boundary manifest TOML (format: ``boundaries/README.md``).

        Returns
        -------
        str
        """
        lines = [
            f"# Boundary manifest proposed by `geo311 city init` from the files in {self.folder}",
            "# Every vintage's source and publisher must be filled in; check every guess.",
        ]
        if self.questions:
            lines.append("# Questions to settle:")
            lines.extend(f"#   - {q}" for q in self.questions)
        lines += [
            "",
            f"city = {toml_string(self.city)}",
            f"title = {toml_string(self.title)}",
            f"# GUESS: {self.timezone_note}",
            f"timezone = {toml_string(self.timezone)}",
            f"# {self.projected_note}",
            f"projected_crs = {toml_string(self.projected_crs)}",
        ]
        if self.district_layer is not None:
            lines.append(f"district_layer = {toml_string(self.district_layer)}")
        if self.site_layers:
            lines.append("site_layers = [" + ", ".join(map(toml_string, self.site_layers)) + "]")
        for key, layer in self.layers.items():
            lines += ["", f"[layers.{key}]", f"title = {toml_string(layer.title)}"]
            others = [f for f in layer.id_candidates if f != layer.id_field]
            lines.append(
                f"id_field = {toml_string(layer.id_field)}"
                + (f"  # also unique: {', '.join(others)}" if others else "")
            )
            lines.append(f"name_field = {toml_string(layer.name_field)}")
            if layer.label is not None:
                column, match = layer.label
                transform = (
                    f", transform = {{ strip_prefix = {toml_string(layer.label_prefix)} }}"
                    if layer.label_prefix
                    else ""
                )
                lines.append(
                    f"label = {{ column = {toml_string(column)}, match = {toml_string(match)}"
                    f"{transform} }}  # {layer.label_share:.0%} of the sample's labels found"
                    + (" once the prefix is stripped" if layer.label_prefix else "")
                )
            lines += [
                "",
                f"[[layers.{key}.vintages]]",
                f"vintage = {toml_string(layer.vintage)}",
                f"source = {toml_string(f'local file {layer.file}: name the official source')}",
                'publisher = "unknown: name the publisher"',
                f"file = {toml_string(layer.file)}",
                f"crs = {toml_string(layer.crs)}",
                f"note = {toml_string(f'{layer.areas} areas. Proposed by geo311 city init.')}",
            ]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- fields


def _as_text(values: pd.Series) -> pd.Series | None:
    """Return the values as strings when they are ids/names (text or whole numbers)."""
    present = values.dropna()
    if present.empty:
        return None
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = present.to_numpy(dtype=float)
        if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.floor(numbers)):
            return None
        return present.astype("int64").astype(str)
    if not all(isinstance(v, str) for v in present):
        return None
    return present.astype(str).str.strip()


def _is_measure(field: str) -> bool:
    return any(word in _MEASURES for word in re.split(r"[^a-z]+", field))


def _id_fields(frame: pd.DataFrame) -> list[str]:
    """Return the fields that can be ids (unique, complete, short), best first."""
    scored = []
    for column in frame.columns:
        text = _as_text(frame[column])
        if text is None or len(text) < len(frame) or not text.is_unique or (text == "").any():
            continue
        length = float(text.str.len().mean())
        if length > 20:
            continue
        lower = str(column).casefold()
        if _is_measure(lower):
            continue
        score = 3.0 if _ID_NAME.search(lower) else 0.0
        score += 2.0 if any(h in lower for h in _ID_HINTS) else 0.0
        score -= 2.0 if lower in _GENERIC else 0.0
        score -= 1.0 if "name" in lower else 0.0
        scored.append((score - length / 20, str(column)))
    return [c for _, c in sorted(scored, key=lambda s: (-s[0], s[1]))]


def _name_fields(frame: pd.DataFrame, id_field: str) -> list[str]:
    """Return the fields that can be names (text or whole numbers, mostly distinct), best first."""
    scored = []
    for column in frame.columns:
        text = _as_text(frame[column])
        if text is None or column == id_field:
            continue
        lower = str(column).casefold()
        if text.str.match(r"https?://|/").mean() > 0.5:
            continue
        named = "name" in lower or lower in ("label", "title")
        score = 4.0 if lower == "name" else 3.0 if named else 0.0
        score -= 1.0 if lower.endswith("key") else 0.0
        score -= 3.0 if _is_measure(lower) else 0.0
        score += 2.0 * text.nunique() / len(frame) * len(text) / len(frame)
        score += 1.5 if text.str.contains(r"[A-Za-z]", regex=True).mean() > 0.5 else 0.0
        scored.append((score, str(column)))
    return [c for _, c in sorted(scored, key=lambda s: (-s[0], s[1]))]


# --------------------------------------------------------------------------- files


def _layer_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.casefold() in BOUNDARY_SUFFIXES
    )


def _read(path: Path, questions: list[str]) -> gpd.GeoDataFrame | None:
    """Read the first layer of a polygon file; note and skip what is not one."""
    try:
        names = gpd.list_layers(path)["name"].tolist()
        frame = gpd.read_file(path, engine="pyogrio", layer=names[0])
    except (RuntimeError, IndexError) as exc:  # pyogrio's DataSourceError / DataLayerError
        questions.append(f"{path.name}: skipped, not a readable vector file ({exc})")
        return None
    if len(names) > 1:
        questions.append(
            f"{path.name}: holds {len(names)} layers; only the first ({names[0]!r}) was read"
        )
    kinds = set(frame.geom_type.dropna())
    if not kinds or not kinds <= {"Polygon", "MultiPolygon"}:
        questions.append(
            f"{path.name}: skipped, its geometries are {sorted(kinds) or 'empty'}, not polygons"
        )
        return None
    return frame


def _crs(frame: gpd.GeoDataFrame, path: Path, questions: list[str]) -> tuple[str, bool]:
    """Return the file's CRS as text and whether it was declared."""
    if frame.crs is not None:
        epsg = frame.crs.to_epsg()
        return (f"EPSG:{epsg}" if epsg else frame.crs.to_wkt()), True
    west, south, east, north = (float(v) for v in frame.total_bounds)
    if -180 <= west <= east <= 180 and -90 <= south <= north <= 90:
        questions.append(
            f"{path.name}: declares no CRS; its coordinates are longitudes/latitudes, so "
            "EPSG:4326 was assumed"
        )
        return "EPSG:4326", False
    msg = (
        f"{path}: declares no CRS and its coordinates ({west:.0f}, {south:.0f}, {east:.0f}, "
        f"{north:.0f}) are not longitudes/latitudes; add the CRS to the file (e.g. a .prj, or "
        "gdf.set_crs('EPSG:2248').to_file(...)) and run city init again"
    )
    raise CRSError(msg)


def _keys(paths: Sequence[Path], folder: Path) -> dict[Path, tuple[str, str]]:
    """Layer key and vintage per file, keys unique.

    A trailing year of the file name becomes the vintage; files whose keys
    then clash are keyed by their path (without, then with, its suffix).
    """
    out = {}
    for path in paths:
        stem = _slug(path.stem)
        found = _VINTAGE.match(stem)
        out[path] = (found["key"], found["vintage"]) if found else (stem, "current")
    for suffix in (False, True):
        keys = [key for key, _ in out.values()]
        for path, (key, vintage) in out.items():
            if keys.count(key) > 1:
                relative = path.relative_to(folder)
                relative = relative if suffix else relative.with_suffix("")
                out[path] = (_slug(relative.as_posix()), vintage)
    keys = [key for key, _ in out.values()]
    if len(set(keys)) < len(keys):
        msg = f"{folder}: its files' names give clashing layer keys {sorted(keys)}; rename them"
        raise InputFileError(msg)
    return out


def _propose_layer(
    path: Path, key: str, vintage: str, folder: Path, questions: list[str]
) -> tuple[LayerProposal, pd.DataFrame] | None:
    """Return the proposed layer of one file and its attributes, or None when it is skipped."""
    frame = _read(path, questions)
    if frame is None:
        return None
    crs, declared = _crs(frame, path, questions)
    attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    ids = _id_fields(attrs)
    if not ids:
        questions.append(
            f"{path.name}: skipped, no field is unique, complete and short enough to be an id; "
            "add one (e.g. a number per area)"
        )
        return None
    names = _name_fields(attrs, ids[0]) or ids[:1]
    lonlat = frame.to_crs(4326) if declared else frame
    bounds = tuple(float(v) for v in lonlat.total_bounds)
    title = re.sub(r"_+", " ", key).strip().capitalize()
    layer = LayerProposal(
        key=key,
        title=title,
        vintage=vintage,
        file=path.relative_to(folder).as_posix(),
        areas=len(frame),
        crs=crs,
        crs_declared=declared,
        id_field=ids[0],
        name_field=names[0],
        id_candidates=tuple(ids),
        name_candidates=tuple(names),
        bounds=(bounds[0], bounds[1], bounds[2], bounds[3]),
    )
    return layer, attrs


# --------------------------------------------------------------------------- city-wide choices


def guess_timezone(lon: float, lat: float) -> tuple[str | None, str]:
    """Guess a US city's IANA zone from the nearest city of :data:`US_CITY_ZONES`.

    Parameters
    ----------
    lon, lat : float
        A point of the city, in degrees.

    Returns
    -------
    (zone, note)
        The zone (None when no table city lies within
        :data:`TIMEZONE_RADIUS_KM`) and a sentence saying how it was chosen.

    Examples
    --------
    >>> guess_timezone(-76.6, 39.3)[0]
    'America/New_York'
    >>> guess_timezone(2.35, 48.86)[0] is None
    True
    """
    best, km = _nearest_city(lon, lat)
    if best is None:
        note = (
            f"no city of geo311's US table lies within {TIMEZONE_RADIUS_KM:.0f} km of "
            f"({lat:.3f}, {lon:.3f}); set the city's IANA zone"
        )
        return None, note
    note = f"zone of the nearest city in geo311's US table, {best[0]} ({km:.0f} km); check it"
    return best[3], note


def _nearest_city(
    lon: float, lat: float
) -> tuple[tuple[str, float, float, str, str] | None, float]:
    """Return the nearest table city within TIMEZONE_RADIUS_KM (or None) and its distance."""
    best = min(US_CITY_ZONES, key=lambda c: _km(lon, lat, c[1], c[2]))
    km = _km(lon, lat, best[1], best[2])
    return (best if km <= TIMEZONE_RADIUS_KM else None), km


def _state_plane(bounds: tuple[float, float, float, float], state: str) -> str | None:
    """Return the metre-based NAD83 State Plane zone of ``state`` whose area covers ``bounds``.

    Among EPSG's ``NAD83 / <state> ...`` projected CRSs in metres whose area of
    use contains the bounds, the one with the smallest area of use (a zone,
    not a statewide Albers or Lambert) wins; None when there is none.
    """
    infos = query_crs_info(
        auth_name="EPSG",
        pj_types=PJType.PROJECTED_CRS,
        area_of_interest=AreaOfInterest(*bounds),
        contains=True,
    )
    found = []
    for info in infos:
        if info.deprecated or not info.name.startswith(f"NAD83 / {state}"):
            continue
        if {a.unit_name for a in CRS.from_epsg(int(info.code)).axis_info} != {"metre"}:
            continue
        area = info.area_of_use
        size = (area.east - area.west) * (area.north - area.south) if area else math.inf
        found.append((size, f"EPSG:{info.code}"))
    return min(found)[1] if found else None


def _projected_crs(bounds: tuple[float, float, float, float]) -> tuple[str, str]:
    """Return a metre-based CRS for the layers and a sentence saying how it was chosen."""
    west, south, east, north = bounds
    utm = gpd.GeoSeries.from_xy([west, east], [south, north], crs=4326).estimate_utm_crs()
    utm_code = f"EPSG:{utm.to_epsg()}"
    city, _ = _nearest_city((west + east) / 2, (south + north) / 2)
    plane = _state_plane(bounds, city[4]) if city is not None else None
    if city is None or plane is None:
        note = "The UTM zone of the layers' centre (metres); a State Plane zone also works."
        return utm_code, note
    note = (
        f"GUESS: {CRS.from_user_input(plane).name}, the State Plane zone (metres) covering "
        f"the layers, in {city[4]} (the state of {city[0]}); the UTM zone {utm_code} also works."
    )
    return plane, note


def _km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _district_layer(layers: Mapping[str, LayerProposal]) -> str | None:
    """Return the layer of 5-60 areas whose name says council, ward or district (best first)."""
    scored = []
    for key, layer in layers.items():
        if not 5 <= layer.areas <= 60:
            continue
        words = f"{key} {layer.id_field} {layer.name_field}".casefold()
        score = sum(w for word, w in _DISTRICT_WORDS.items() if word in words)
        if score > 0:
            scored.append((score, -layer.areas, key))
    return max(scored)[2] if scored else None


#: A label made of some text and a number ("Ward 3", "CD-04", "w7"): the text.
_PREFIXED = r"^(\D*[^\W\d])[\s#:.-]*\d+$"


def _prefix(values: pd.Series) -> str | None:
    """Return the text before a number that at least 80% of the labels share, or None."""
    found = values.str.extract(_PREFIXED, expand=False)
    common = found.value_counts()
    if common.empty or common.iloc[0] < 0.8 * len(values):
        return None
    return str(common.index[0])


def _label_columns(
    raw: pd.DataFrame, layers: Mapping[str, LayerProposal], frames: Mapping[str, pd.DataFrame]
) -> dict[str, tuple[tuple[str, str], float, str | None]]:
    """Find, per layer, the sample column whose values are the layer's ids or names.

    A column whose labels share a prefix before a number ("Ward 3") is also
    tried without it; the prefix is then proposed as a label transform.
    """
    out: dict[str, tuple[tuple[str, str], float, str | None]] = {}
    variants: list[tuple[str, str | None, pd.Series]] = []
    for column in raw.columns:
        values = _norm_labels(raw[column])
        variants.append((str(column), None, values))
        prefix = _prefix(values) if not values.empty else None
        if prefix is not None:
            variants.append((str(column), prefix, _norm_labels(raw[column], strip=prefix)))
    for key, layer in layers.items():
        if layer.areas < 2:
            continue
        best: tuple[float, str, str, float, str | None] | None = None
        for match, field in (("id", layer.id_field), ("name", layer.name_field)):
            wanted = set(_norm_labels(frames[key][field]))
            for column, prefix, values in variants:
                if values.empty:
                    continue
                share = float(values.isin(wanted).mean())
                coverage = len(set(values) & wanted) / len(wanted)
                if share < 0.8 or coverage < 0.3:
                    continue
                score = share * coverage + (0.01 if match == "id" else 0.0)
                if best is None or score > best[0]:
                    best = (score, column, match, share, prefix)
        if best is not None:
            out[key] = ((best[1], best[2]), best[3], best[4])
    return out


def _norm_labels(values: pd.Series, *, strip: str | None = None) -> pd.Series:
    """Labels compared case-blind, trimmed, whole numbers without ``.0`` or leading zeros.

    ``strip``: a (case-folded) prefix removed first, with the separators after it.
    """
    text = values.dropna().astype(str).str.strip().str.casefold()
    if strip:
        cut = text.str.startswith(strip)
        text = text.where(~cut, text.str.slice(len(strip)).str.lstrip(" #:.-"))
    text = text[text != ""]
    whole = text.str.fullmatch(r"0*\d+(?:\.0+)?")
    return text.where(~whole, text.str.replace(r"\.0+$", "", regex=True).str.lstrip("0"))


# --------------------------------------------------------------------------- entry point


def init_city(folder: str | Path, *, city: str, sample: str | Path | None = None) -> CityProposal:
    """Propose a city manifest from a folder of boundary files.

    Parameters
    ----------
    folder : str or pathlib.Path
        A folder holding the boundary files (searched recursively): GeoJSON,
        Shapefile, GeoPackage or FlatGeobuf polygons.  Not modified.
    city : str
        The city key, lower-case snake_case (names the manifest and the data folder).
    sample : str or pathlib.Path, optional
        A 311 export of the city: its schema profile is proposed too
        (:attr:`CityProposal.profile`), and the columns carrying the city's
        own area labels become the layers' ``label``.

    Returns
    -------
    CityProposal
        ``to_toml()`` gives the manifest, to be saved as ``manifest_path``.

    Raises
    ------
    OptionError
        ``city`` is not lower-case snake_case.
    InputFileError
        The folder is missing or holds no readable polygon file.
    CRSError
        A file declares no CRS and its coordinates are not longitudes/latitudes.
    """
    if not _SLUG.match(city):
        msg = f"city {city!r} must be lower-case snake_case (e.g. 'kansas_city')"
        raise OptionError(msg)
    root = Path(folder).expanduser()
    if not root.is_dir():
        msg = f"{root}: no such folder; pass the folder that holds the city's boundary files"
        raise InputFileError(msg)
    questions: list[str] = []
    layers: dict[str, LayerProposal] = {}
    frames: dict[str, pd.DataFrame] = {}
    paths = _layer_files(root)
    for path, (key, vintage) in _keys(paths, root).items():
        proposed = _propose_layer(path, key, vintage, root, questions)
        if proposed is not None:
            layers[key], frames[key] = proposed
    if not layers:
        msg = (
            f"{root}: no polygon layer found among {len(paths)} file(s) with suffixes "
            f"{', '.join(BOUNDARY_SUFFIXES)}" + (f" ({'; '.join(questions)})" if questions else "")
        )
        raise InputFileError(msg)
    bounds = np.array([layer.bounds for layer in layers.values()])
    west, south = bounds[:, 0].min(), bounds[:, 1].min()
    east, north = bounds[:, 2].max(), bounds[:, 3].max()
    lon, lat = float((west + east) / 2), float((south + north) / 2)
    zone, zone_note = guess_timezone(lon, lat)
    if zone is None:
        questions.append(f"timezone: {zone_note}")
    projected, projected_note = _projected_crs((west, south, east, north))
    profile = None
    if sample is not None:
        profile = infer_profile(sample, city=city, timezone=zone)
        _, raw, _ = read_sample(sample, rows=SAMPLE_ROWS)
        for key, (label, share, prefix) in _label_columns(raw, layers, frames).items():
            layers[key] = replace(layers[key], label=label, label_share=share, label_prefix=prefix)
    groups: dict[str, list[str]] = {}
    for key in layers:
        found = _VINTAGE.match(key)
        groups.setdefault(found["key"] if found else key, []).append(key)
    questions += [
        f"layers {', '.join(keys)} look like vintages of one layer; merge them into one "
        "[layers.<key>] with a [[vintages]] entry each and valid_from/valid_to dates"
        for keys in groups.values()
        if len(keys) > 1
    ]
    district = _district_layer(layers)
    if district is None:
        questions.append(
            "district_layer: no layer of 5-60 areas is named council, ward or district; "
            "name the layer whose areas get their own page"
        )
    questions.append("every vintage: fill in source (the official URL) and publisher")
    proposal = CityProposal(
        city=city,
        title=city.replace("_", " ").title(),
        folder=str(root),
        manifest_path=str(root / f"{city}.toml"),
        timezone=zone or "UTC",
        timezone_note=zone_note,
        projected_crs=projected,
        projected_note=projected_note,
        layers=layers,
        district_layer=district,
        site_layers=tuple(k for k, layer in layers.items() if layer.areas > 1),
        profile=profile,
        questions=tuple(questions),
    )
    log.info(
        "%s: proposed %d layers (district layer %s), time zone %s, projected CRS %s",
        root,
        len(layers),
        district,
        proposal.timezone,
        proposal.projected_crs,
    )
    return proposal

"""Fill missing coordinates from addresses: pluggable geocoders and an on-disk cache.

The stage is :func:`geocode`.  It sends each *distinct* normalised address of
the rows that lack usable coordinates to a geocoder, once, remembering every
answer in a :class:`GeocodeCache` (SQLite) so that a repeated run never asks
again, and writes the answers back without ever overwriting good coordinates.

A geocoder is anything that follows the :class:`Geocoder` protocol: a
``name`` and a ``geocode_batch(frame)`` method that takes a frame of
``address``/``zipcode`` and returns one row per input row with ``lon``,
``lat``, ``score``, ``match``, ``matched_address`` and ``source``.  The
offline :class:`ReferenceGeocoder` matches against a user-supplied table of
address points; online geocoders (the US Census batch geocoder, an ArcGIS
``findAddressCandidates`` locator) implement the same protocol on top of the
HTTP layer.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"address": ["1 Main Street"], "lon": [-76.6], "lat": [39.3]})
>>> ref = ReferenceGeocoder(table, address_column="address", lon_column="lon",
...                         lat_column="lat")
>>> ref.geocode_batch(pd.DataFrame({"address": ["1 MAIN ST."], "zipcode": [None]}))[
...     ["lon", "lat", "match"]]
    lon   lat  match
0 -76.6  39.3  exact
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from geo311._errors import GeocodeError
from geo311.clean.quality import flag_coordinates
from geo311.io.schema import COORD_USABLE
from geo311.ledger import Ledger, Result
from geo311.settings import cache_dir

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "GEOCODE_COLUMNS",
    "NEEDS_GEOCODING",
    "GeocodeCache",
    "GeocodeError",
    "Geocoder",
    "ReferenceGeocoder",
    "geocode",
    "normalize_address",
    "normalize_addresses",
    "split_address",
]

log = logging.getLogger(__name__)

#: Columns every geocoder returns from ``geocode_batch``, in this order.
GEOCODE_COLUMNS: Final = ("lon", "lat", "score", "match", "matched_address", "source")

#: ``coord_quality`` values whose rows :func:`geocode` fills by default.
NEEDS_GEOCODING: Final = ("missing", "zero", "out_of_range", "placeholder")

Match = Literal["exact", "fuzzy", "ambiguous", "none"]
MATCH_VALUES: Final = ("exact", "fuzzy", "ambiguous", "none")

_INSTALL_HINT: Final = "pip install 'geo311[geocode]'"
_CACHE_SCHEMA_VERSION: Final = 1
_METRES_PER_DEGREE: Final = 111_320.0


# --------------------------------------------------------------------------
# Address normalisation
# --------------------------------------------------------------------------

_DIRECTIONALS: Final = {
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
}
_DIRECTION_ABBREVIATIONS: Final = frozenset(_DIRECTIONALS.values())

# USPS Publication 28 suffixes most common in US cities (full word -> standard).
_STREET_TYPES: Final = {
    "ALLEY": "ALY",
    "AVENUE": "AVE",
    "AV": "AVE",
    "AVN": "AVE",
    "BOULEVARD": "BLVD",
    "BOUL": "BLVD",
    "CIRCLE": "CIR",
    "CIRCL": "CIR",
    "COURT": "CT",
    "CRESCENT": "CRES",
    "DRIVE": "DR",
    "DRV": "DR",
    "EXPRESSWAY": "EXPY",
    "FREEWAY": "FWY",
    "HIGHWAY": "HWY",
    "LANE": "LN",
    "PARKWAY": "PKWY",
    "PKY": "PKWY",
    "PLACE": "PL",
    "PLAZA": "PLZ",
    "ROAD": "RD",
    "SQUARE": "SQ",
    "STREET": "ST",
    "STR": "ST",
    "TERRACE": "TER",
    "TRAIL": "TRL",
    "TURNPIKE": "TPKE",
    "WAY": "WAY",
    "WALK": "WALK",
}
_STREET_TYPE_ABBREVIATIONS: Final = frozenset(_STREET_TYPES.values())
# Prefix words abbreviated in city data ("ST PAUL ST"): spelled out, so that
# "ST PAUL" and "SAINT PAUL" meet.
_PREFIX_WORDS: Final = {"ST": "SAINT", "STE": "SAINTE", "MT": "MOUNT", "FT": "FORT"}
_UNIT_WORDS: Final = frozenset(
    {"APT", "APARTMENT", "UNIT", "STE", "SUITE", "RM", "ROOM", "FL", "FLOOR", "BLDG", "LOT"}
)
_BLOCK_WORDS: Final = frozenset({"BLK", "BLOCK"})

_ZIP_RE: Final = re.compile(r"\b(\d{5})(?:-\d{4})?\s*$")
_STATE_TAIL_RE: Final = re.compile(r"\s+(?:[A-Z]{2})\s*$")
_INTERSECTION_RE: Final = re.compile(r"\s*(?:&|@|\bAND\b|\bAT\b|/)\s*")
_NUMBER_RANGE_RE: Final = re.compile(r"^(\d+)\s*-\s*\d+\b")
_HOUSE_NUMBER_RE: Final = re.compile(r"^(\d+[A-Z]?)\s+(.+)$")


def _is_blank(text: object) -> bool:
    """Return True for None, NA/NaN and whitespace-only strings."""
    if text is None:
        return True
    if isinstance(text, str):
        return not text.strip()
    try:
        return bool(pd.isna(text))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _normalize_street(text: str) -> str:
    """Normalise one street phrase (no commas, upper case, punctuation removed)."""
    text = _NUMBER_RANGE_RE.sub(r"\1", text)
    tokens = text.split()
    # Unit designators: drop the designator and everything after it.
    for i, token in enumerate(tokens):
        if token.startswith("#") or (token in _UNIT_WORDS and i > 0 and i + 1 < len(tokens)):
            # "STE" before a name is "Sainte", not "suite": keep "1 STE MARIE ST".
            if token == "STE" and i + 2 < len(tokens):
                continue
            tokens = tokens[:i]
            break
    kept: list[str] = []
    for i, token in enumerate(tokens):
        after_block = token == "OF" and i > 0 and tokens[i - 1] in _BLOCK_WORDS
        if token not in _BLOCK_WORDS and not after_block:
            kept.append(token)
    tokens = kept
    if not tokens:
        return ""
    out: list[str] = []
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i < last else None
        if token in _DIRECTIONALS:
            # A directional word is the street's name when a type follows it
            # ("E NORTH AVE") or when it stands alone after a number.
            is_name = nxt is not None and (
                nxt in _STREET_TYPES or nxt in _STREET_TYPE_ABBREVIATIONS
            )
            out.append(token if is_name else _DIRECTIONALS[token])
        elif token in _STREET_TYPES and (
            nxt is None or (i + 1 == last and nxt in _DIRECTION_ABBREVIATIONS | set(_DIRECTIONALS))
        ):
            out.append(_STREET_TYPES[token])
        elif (
            token in _PREFIX_WORDS
            and nxt is not None
            and not nxt.isdigit()
            and (not out or out[-1][0].isdigit() or out[-1] in _DIRECTION_ABBREVIATIONS)
        ):
            is_suffix = i + 1 == last and (nxt in _DIRECTIONALS or nxt in _DIRECTION_ABBREVIATIONS)
            out.append(token if is_suffix else _PREFIX_WORDS[token])
        else:
            out.append(token)
    return " ".join(out)


def split_address(text: object) -> tuple[str, str | None]:
    """Normalise an address and return it with the ZIP code found in its tail.

    Parameters
    ----------
    text : str or None
        A free-text street address or intersection, possibly followed by
        ``, city, state ZIP`` parts.

    Returns
    -------
    tuple of (str, str or None)
        The normalised address (``""`` when blank) and the five-digit ZIP
        code found after it, or None.

    Examples
    --------
    >>> split_address("1800 Blk Ramsay Street, Baltimore City, 21223")
    ('1800 RAMSAY ST', '21223')
    >>> split_address("W. Baltimore St & N. Abington Ave, BC")
    ('N ABINGTON AVE & W BALTIMORE ST', None)
    """
    if _is_blank(text):
        return "", None
    upper = str(text).upper().replace("\u00a0", " ").strip()
    head, _, tail = upper.partition(",")
    zip_code: str | None = None
    found = _ZIP_RE.search(tail) if tail else None
    if found:
        zip_code = found.group(1)
    elif not tail:
        # "1 MAIN ST BALTIMORE MD 21201" without commas: only a trailing
        # state + ZIP is recognisable without a street dictionary.
        found = _ZIP_RE.search(head)
        if found and _STATE_TAIL_RE.search(head[: found.start()]):
            zip_code = found.group(1)
            head = _STATE_TAIL_RE.sub("", head[: found.start()])
    head = head.replace(".", "").replace("'", "")
    head = re.sub(r"[^A-Z0-9&@/#\s-]", " ", head)
    head = re.sub(r"(?<=[A-Z])-(?=[A-Z])|\s-\s|-\s|\s-", " ", head)
    head = re.sub(r"\s+", " ", head).strip()
    parts = [p for p in _INTERSECTION_RE.split(head) if p.strip()]
    if len(parts) >= 2:
        streets = sorted({_normalize_street(p) for p in parts} - {""})
        return " & ".join(streets), zip_code
    return _normalize_street(head), zip_code


def normalize_address(text: object) -> str:
    """Return the canonical form of one address (case, punctuation, words, tails).

    Upper case; punctuation dropped; directionals (``NORTH`` -> ``N``) and
    street types (``STREET`` -> ``ST``, ``AVENUE`` -> ``AVE`` ...) abbreviated
    the USPS way, except where the word is the street's name (``E NORTH AVE``);
    ``ST``/``MT``/``FT`` before a name spelled out (``SAINT PAUL ST``); units
    (``APT 2``, ``#3``, ``STE 100``) and block words (``1800 BLK``) removed;
    city/state/ZIP tails after the first comma removed (see
    :func:`split_address` to keep the ZIP).  Intersections written ``A & B``,
    ``A AND B``, ``A AT B``, ``A @ B`` or ``A / B`` become ``A & B`` with the
    streets sorted, so the order does not matter.

    Parameters
    ----------
    text : str or None
        The address as given.

    Returns
    -------
    str
        The normalised address; ``""`` for a blank input.

    Examples
    --------
    >>> normalize_address("3324 Sumter Avenue, Baltimore City, 21215")
    '3324 SUMTER AVE'
    >>> normalize_address("100 North Charles Street Apt. 4B")
    '100 N CHARLES ST'
    >>> normalize_address("e. north ave.")
    'E NORTH AVE'
    >>> normalize_address("Reisterstown Rd and Liberty Heights Ave")
    'LIBERTY HEIGHTS AVE & REISTERSTOWN RD'
    >>> normalize_address(None)
    ''
    """
    return split_address(text)[0]


def normalize_addresses(addresses: pd.Series) -> pd.DataFrame:
    """Normalise a Series of addresses; each distinct value is parsed once.

    Parameters
    ----------
    addresses : pandas.Series
        Free-text addresses (NA allowed).

    Returns
    -------
    pandas.DataFrame
        Same index; ``address`` (normalised, ``""`` when blank) and ``zipcode``
        (from the address tail, NA when absent), both ``string`` dtype.

    Examples
    --------
    >>> import pandas as pd
    >>> normalize_addresses(pd.Series(["1 Main Street, X, 21201", None])).to_dict("list")
    {'address': ['1 MAIN ST', ''], 'zipcode': ['21201', None]}
    """
    values = addresses.astype(object).where(addresses.notna(), None)
    parsed = {v: split_address(v) for v in pd.unique(values.to_numpy(dtype=object))}
    pairs = [parsed[v] for v in values]
    return pd.DataFrame(
        {
            "address": pd.array([p[0] for p in pairs], dtype="string"),
            "zipcode": pd.array([p[1] for p in pairs], dtype="string"),
        },
        index=addresses.index,
    )


def _clean_zip(value: object) -> str | None:
    """Return a five-digit ZIP code from a value such as ``21215``, ``'21215-1234'``."""
    if _is_blank(value):
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0", text):
        text = text[:-2]
    found = re.match(r"^(\d{5})(?:-?\d{4})?$", text)
    if found:
        return found.group(1)
    if text.isdigit() and len(text) < 5:
        return text.zfill(5)
    return None


def _query_keys(addresses: pd.DataFrame) -> pd.DataFrame:
    """Return normalised ``address`` and ``zipcode`` (column first, else the tail)."""
    if "address" not in addresses:
        msg = (
            "geocoder input needs an 'address' column (and optionally 'zipcode'); "
            f"found {list(addresses.columns)}"
        )
        raise GeocodeError(msg)
    parsed = normalize_addresses(addresses["address"])
    if "zipcode" in addresses:
        given = pd.array([_clean_zip(z) for z in addresses["zipcode"]], dtype="string")
        parsed["zipcode"] = pd.Series(given, index=addresses.index).fillna(parsed["zipcode"])
    return parsed


# --------------------------------------------------------------------------
# The geocoder protocol
# --------------------------------------------------------------------------


@runtime_checkable
class Geocoder(Protocol):
    """What :func:`geocode` needs from a geocoder.

    Attributes
    ----------
    name : str
        Short identifier written to ``geocode_source`` (e.g. ``"census"``,
        ``"arcgis:baltimore"``, ``"table:addresses.parquet"``).

    Notes
    -----
    Two optional attributes are honoured when present:

    ``fingerprint`` (str)
        Identifies the geocoder's version and configuration (benchmark,
        locator URL, score threshold, reference table hash).  The cache keys
        on it, so a new configuration never reuses old answers.  Defaults
        to ``name``.
    ``max_batch_size`` (int)
        The most addresses one ``geocode_batch`` call accepts (10,000 for
        the Census batch geocoder); :func:`geocode` splits batches to fit.

    A geocoder never raises for an address it cannot place: it answers
    ``match="none"``.  It raises (a :class:`GeocodeError`, or the HTTP layer's
    error) only when the whole batch failed, so nothing is cached for it.
    """

    name: str

    def geocode_batch(self, addresses: pd.DataFrame) -> pd.DataFrame:
        """Geocode a batch of addresses.

        Parameters
        ----------
        addresses : pandas.DataFrame
            Columns ``address`` (normalised, non-empty) and ``zipcode``
            (five-digit string or NA), any index.

        Returns
        -------
        pandas.DataFrame
            Same index and length, columns :data:`GEOCODE_COLUMNS`: ``lon``,
            ``lat`` (WGS84 degrees, NaN unless matched), ``score`` (0-100,
            NaN when not applicable), ``match`` (``'exact'``, ``'fuzzy'``,
            ``'ambiguous'`` or ``'none'``), ``matched_address`` and
            ``source``; optionally ``reason`` explaining a non-match.
        """
        ...


def _fingerprint(geocoder: Geocoder) -> str:
    """Return the cache identity of a geocoder."""
    value = getattr(geocoder, "fingerprint", None)
    return f"{geocoder.name}|{value}" if value else str(geocoder.name)


def _check_answer(answer: pd.DataFrame, batch: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check a geocoder's answer against the contract; return it aligned to ``batch``."""
    problems: list[str] = []
    missing = [c for c in GEOCODE_COLUMNS if c not in answer]
    if missing:
        problems.append(f"missing columns {missing}")
    if len(answer) != len(batch) or not answer.index.equals(batch.index):
        problems.append(f"{len(answer)} rows for {len(batch)} addresses, or a different index")
    if not problems:
        bad = ~answer["match"].isin(MATCH_VALUES)
        if bad.any():
            problems.append(
                f"match values outside {list(MATCH_VALUES)}: {set(answer['match'][bad])}"
            )
    if problems:
        msg = f"geocoder {name!r} broke the Geocoder contract: " + "; ".join(problems)
        raise GeocodeError(msg)
    return answer


# --------------------------------------------------------------------------
# The offline reference geocoder
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One distinct normalised address (per ZIP) of the reference table."""

    address: str
    zipcode: str | None
    number: str | None
    lon: float
    lat: float
    conflicting: bool  # rows of this address disagree on the location


def _split_number(address: str) -> tuple[str | None, str]:
    """Split ``'12 MAIN ST'`` into ``('12', 'MAIN ST')``; intersections have no number."""
    if "&" in address:
        return None, address
    found = _HOUSE_NUMBER_RE.match(address)
    return (found.group(1), found.group(2)) if found else (None, address)


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return an equirectangular distance in metres (accurate at city scale)."""
    dx = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2)) * _METRES_PER_DEGREE
    dy = (lat2 - lat1) * _METRES_PER_DEGREE
    return math.hypot(dx, dy)


def _import_rapidfuzz() -> ModuleType:
    """Import rapidfuzz or explain which extra provides it."""
    try:
        import rapidfuzz  # noqa: PLC0415 - optional extra, imported when needed
    except ImportError as exc:
        msg = f"fuzzy address matching needs rapidfuzz; install it with {_INSTALL_HINT}"
        raise ImportError(msg) from exc
    return rapidfuzz


class ReferenceGeocoder:
    """Geocode against a table of address points (offline, deterministic).

    Matching, for each normalised query address and its ZIP code:

    1. **exact**: the same normalised address (in the same ZIP when both
       sides know it); score 100.
    2. **fuzzy**: otherwise, the best score -- the mean of rapidfuzz's
       ``token_sort_ratio`` and ``token_set_ratio``, so that a missing street
       type or directional costs little -- among the reference addresses in
       the same ZIP with the same house number (a different number is a
       different place, so the fuzzy step forgives spelling, missing or
       different street types and directionals, never numbers); intersections
       are compared with intersections only.  The best score must reach
       ``min_score``.
    3. **ambiguous**: when the best candidates (exact, or tied on the best
       fuzzy score) lie more than ``tie_tolerance_m`` apart; no guess.
    4. **none**: otherwise, with a ``reason``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per address point (or parcel centroid).  Rows whose address
        appears several times are merged when their points lie within
        ``tie_tolerance_m`` of each other (the median is used) and marked
        conflicting otherwise.
    address_column, lon_column, lat_column : str
        Columns of the address text and WGS84 coordinates.
    zip_column : str, optional
        Column of ZIP codes; when absent, a ZIP at the end of the address
        text (``..., 21215``) is used.
    min_score : float, default 90
        Lowest fuzzy score (0-100) accepted.
    tie_tolerance_m : float, default 25
        Points closer than this are the same location.
    name : str, default "reference"
        Written to ``geocode_source``.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"address": ["12 Main St", "14 Main St"],
    ...                       "x": [-76.60, -76.61], "y": [39.30, 39.31]})
    >>> ref = ReferenceGeocoder(table, address_column="address", lon_column="x",
    ...                         lat_column="y")
    >>> ref.geocode_batch(pd.DataFrame({"address": ["12 Main Street", "12 Mian St"]}))[
    ...     ["score", "match", "matched_address"]]
       score  match matched_address
    0  100.0  exact      12 MAIN ST
    1   90.0  fuzzy      12 MAIN ST
    """

    version: Final = "1"

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        address_column: str,
        lon_column: str,
        lat_column: str,
        zip_column: str | None = None,
        min_score: float = 90,
        tie_tolerance_m: float = 25.0,
        name: str = "reference",
    ) -> None:
        columns = [address_column, lon_column, lat_column]
        if zip_column is not None:
            columns.append(zip_column)
        missing = [c for c in columns if c not in table]
        if missing:
            msg = (
                f"reference table has no column(s) {missing}; columns are "
                f"{list(table.columns)}. Pass address_column=, lon_column=, lat_column= "
                "(and zip_column=) naming the table's columns."
            )
            raise GeocodeError(msg)
        if not 0 <= min_score <= 100:
            msg = f"min_score must lie in 0-100, got {min_score}"
            raise ValueError(msg)
        self.name = name
        self.min_score = float(min_score)
        self.tie_tolerance_m = float(tie_tolerance_m)
        self._entries = self._build(table, address_column, lon_column, lat_column, zip_column)
        by_address: dict[str, list[_Entry]] = {}
        by_group: dict[tuple[str | None, bool], list[_Entry]] = {}
        for entry in self._entries:
            by_address.setdefault(entry.address, []).append(entry)
            group = (entry.number, "&" in entry.address)
            by_group.setdefault(group, []).append(entry)
        self._by_address = by_address
        self._by_group = by_group
        self.has_intersections = any("&" in e.address for e in self._entries)
        digest = hashlib.sha256()
        for e in self._entries:
            digest.update(f"{e.address}|{e.zipcode}|{e.lon:.7f}|{e.lat:.7f}\n".encode())
        self.fingerprint = (
            f"reference-v{self.version};min_score={self.min_score:g};"
            f"tol={self.tie_tolerance_m:g};table={digest.hexdigest()[:16]}"
        )
        self.max_batch_size: int | None = None

    def _build(
        self,
        table: pd.DataFrame,
        address_column: str,
        lon_column: str,
        lat_column: str,
        zip_column: str | None,
    ) -> list[_Entry]:
        """Normalise, validate and merge the reference rows into sorted entries."""
        lon = pd.to_numeric(table[lon_column], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(table[lat_column], errors="coerce").to_numpy(dtype=float)
        keys = normalize_addresses(table[address_column].reset_index(drop=True))
        if zip_column is not None:
            given = pd.Series(pd.array([_clean_zip(z) for z in table[zip_column]], dtype="string"))
            keys["zipcode"] = given.fillna(keys["zipcode"])
        ok = (
            (keys["address"] != "").to_numpy(dtype=bool)
            & np.isfinite(lon)
            & np.isfinite(lat)
            & (np.abs(lat) <= 90)
            & (np.abs(lon) <= 180)
            & ~((np.abs(lat) < 1e-9) & (np.abs(lon) < 1e-9))
        )
        if not ok.any():
            msg = (
                f"reference table has no row with an address and valid coordinates "
                f"(of {len(table):,} rows); check {address_column!r}, {lon_column!r}, "
                f"{lat_column!r}"
            )
            raise GeocodeError(msg)
        frame = pd.DataFrame(
            {
                "address": keys["address"].to_numpy(dtype=object)[ok],
                "zipcode": keys["zipcode"].astype(object).to_numpy()[ok],
                "lon": lon[ok],
                "lat": lat[ok],
            }
        )
        frame["zipcode"] = frame["zipcode"].where(frame["zipcode"].notna(), "")
        entries: list[_Entry] = []
        for (address, zip_code), group in frame.groupby(["address", "zipcode"], sort=True):
            xs = group["lon"].to_numpy()
            ys = group["lat"].to_numpy()
            mx, my = float(np.median(xs)), float(np.median(ys))
            spread = max(_distance_m(mx, my, x, y) for x, y in zip(xs, ys, strict=True))
            entries.append(
                _Entry(
                    address=str(address),
                    zipcode=str(zip_code) or None,
                    number=_split_number(str(address))[0],
                    lon=mx,
                    lat=my,
                    conflicting=spread > self.tie_tolerance_m,
                )
            )
        return entries

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        address_column: str,
        lon_column: str | None = None,
        lat_column: str | None = None,
        zip_column: str | None = None,
        min_score: float = 90,
        tie_tolerance_m: float = 25.0,
        name: str | None = None,
    ) -> ReferenceGeocoder:
        """Read an address-point table from CSV, Parquet or GeoJSON/GeoPackage.

        Parameters
        ----------
        path : str or pathlib.Path
            ``.csv``, ``.parquet``, or any vector format geopandas reads
            (``.geojson``, ``.gpkg``, ``.shp``); vector geometries are reduced
            to representative points in EPSG:4326.
        address_column : str
            Column of the address text.
        lon_column, lat_column : str, optional
            Coordinate columns; required for CSV/plain Parquet, ignored when
            the file has point geometry.
        zip_column, min_score, tie_tolerance_m
            As for :class:`ReferenceGeocoder`.
        name : str, optional
            Defaults to ``"table:<file name>"``.

        Returns
        -------
        ReferenceGeocoder
        """
        path = Path(path)
        if not path.is_file():
            msg = f"reference address table {path} does not exist or is not a file"
            raise GeocodeError(msg)
        suffix = path.suffix.lower()
        table: pd.DataFrame
        if suffix in {".csv", ".txt"}:
            table = pd.read_csv(path, dtype=str, keep_default_na=True)
        elif suffix == ".parquet" and lon_column is not None and lat_column is not None:
            table = pd.read_parquet(path)
        else:
            import geopandas as gpd  # noqa: PLC0415 - only vector inputs need it

            gdf = gpd.read_parquet(path) if suffix == ".parquet" else gpd.read_file(path)
            if gdf.crs is None:
                msg = f"{path} has no CRS; set one (e.g. EPSG:4326) before using it as a table"
                raise GeocodeError(msg)
            points = gdf.geometry.to_crs(4326).representative_point()
            table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            lon_column, lat_column = "__lon", "__lat"
            table[lon_column] = points.x.to_numpy()
            table[lat_column] = points.y.to_numpy()
        if lon_column is None or lat_column is None:
            msg = f"reading {path}: pass lon_column= and lat_column= for a table without geometry"
            raise GeocodeError(msg)
        return cls(
            table,
            address_column=address_column,
            lon_column=lon_column,
            lat_column=lat_column,
            zip_column=zip_column,
            min_score=min_score,
            tie_tolerance_m=tie_tolerance_m,
            name=name or f"table:{path.name}",
        )

    def _same_place(self, entries: Sequence[_Entry]) -> bool:
        """Return True when all entries are unconflicted and within tolerance."""
        if any(e.conflicting for e in entries):
            return False
        first = entries[0]
        return all(
            _distance_m(first.lon, first.lat, e.lon, e.lat) <= self.tie_tolerance_m
            for e in entries[1:]
        )

    @staticmethod
    def _in_zip(entries: Iterable[_Entry], zip_code: str | None) -> list[_Entry]:
        """Keep entries in ``zip_code`` (entries of unknown ZIP always qualify)."""
        if zip_code is None:
            return list(entries)
        return [e for e in entries if e.zipcode in (None, zip_code)]

    def _answer(self, entries: Sequence[_Entry], score: float, match: str) -> dict[str, Any]:
        """Return the answer for a set of best candidates (ambiguous if they disagree)."""
        if self._same_place(entries):
            best = entries[0]
            return {
                "lon": best.lon,
                "lat": best.lat,
                "score": score,
                "match": match,
                "matched_address": best.address,
                "reason": None,
            }
        names = sorted({e.address + (f" {e.zipcode}" if e.zipcode else "") for e in entries})
        return {
            "lon": np.nan,
            "lat": np.nan,
            "score": score,
            "match": "ambiguous",
            "matched_address": None,
            "reason": f"{len(entries)} candidates at different locations: {'; '.join(names[:3])}",
        }

    def _one(self, address: str, zip_code: str | None) -> dict[str, Any]:
        """Geocode one normalised address."""
        none: dict[str, Any] = {
            "lon": np.nan,
            "lat": np.nan,
            "score": np.nan,
            "match": "none",
            "matched_address": None,
        }
        if not address:
            return {**none, "reason": "no address"}
        is_intersection = "&" in address
        if is_intersection and not self.has_intersections:
            return {**none, "reason": "reference table has no intersection points"}
        exact = self._in_zip(self._by_address.get(address, ()), zip_code)
        if exact:
            return self._answer(exact, 100.0, "exact")
        number = _split_number(address)[0]
        pool = self._in_zip(self._by_group.get((number, is_intersection), ()), zip_code)
        if not pool:
            what = f"house number {number}" if number else "this kind of address"
            where = f" in ZIP {zip_code}" if zip_code else ""
            return {**none, "reason": f"no reference address with {what}{where}"}
        rapidfuzz = _import_rapidfuzz()
        choices = [e.address for e in pool]
        scores = np.zeros(len(choices))
        for scorer in (rapidfuzz.fuzz.token_sort_ratio, rapidfuzz.fuzz.token_set_ratio):
            scores += rapidfuzz.process.cdist([address], choices, scorer=scorer, dtype=np.float64)[
                0
            ]
        scores /= 2
        best = float(np.round(scores.max(), 6))
        if best < self.min_score:
            return {
                **none,
                "score": best,
                "reason": f"best fuzzy score {best:.1f} below {self.min_score:g}",
            }
        tied = [e for e, s in zip(pool, scores, strict=True) if np.round(s, 6) == best]
        return self._answer(tied, best, "fuzzy")

    def geocode_batch(self, addresses: pd.DataFrame) -> pd.DataFrame:
        """Geocode a batch; see :class:`Geocoder` for the contract.

        Parameters
        ----------
        addresses : pandas.DataFrame
            ``address`` (raw or normalised) and optionally ``zipcode``.

        Returns
        -------
        pandas.DataFrame
            :data:`GEOCODE_COLUMNS` plus ``reason``, same index.
        """
        keys = _query_keys(addresses)
        memo: dict[tuple[str, str | None], dict[str, Any]] = {}
        rows = []
        for address, zip_code in zip(keys["address"], keys["zipcode"], strict=True):
            key = (str(address), None if pd.isna(zip_code) else str(zip_code))
            if key not in memo:
                memo[key] = self._one(*key)
            rows.append(memo[key])
        out = pd.DataFrame(rows, index=addresses.index, columns=[*GEOCODE_COLUMNS, "reason"])
        out["lon"] = out["lon"].astype(float)
        out["lat"] = out["lat"].astype(float)
        out["score"] = out["score"].astype(float)
        out["source"] = self.name
        return out

    def __repr__(self) -> str:
        return (
            f"ReferenceGeocoder(name={self.name!r}, addresses={len(self._entries):,}, "
            f"min_score={self.min_score:g})"
        )


# --------------------------------------------------------------------------
# The on-disk cache
# --------------------------------------------------------------------------


class GeocodeCache:
    """Persistent answers of geocoders, in SQLite, keyed by geocoder and address.

    The key is (geocoder fingerprint, normalised address, ZIP code), so a new
    geocoder configuration or reference table never reuses old answers.
    Every answer is kept, including ``'none'`` and ``'ambiguous'``.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The database file; defaults to ``settings.cache_dir() / "geocode.sqlite"``.
        Parent directories are created.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> cache = GeocodeCache(pathlib.Path(tempfile.mkdtemp()) / "g.sqlite")
    >>> len(cache)
    0
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "geocode.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS answers ("
                " geocoder TEXT NOT NULL, address TEXT NOT NULL, zipcode TEXT NOT NULL,"
                " answer TEXT NOT NULL, PRIMARY KEY (geocoder, address, zipcode))"
            )
            con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                (str(_CACHE_SCHEMA_VERSION),),
            )
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            msg = f"cannot open the geocode cache {self.path}: {exc}"
            raise GeocodeError(msg) from exc

    def __len__(self) -> int:
        con = self._connect()
        try:
            return int(con.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
        finally:
            con.close()

    def get_many(
        self, geocoder: str, keys: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], dict[str, Any]]:
        """Return the cached answers among ``keys`` (absent keys are left out)."""
        found: dict[tuple[str, str | None], dict[str, Any]] = {}
        con = self._connect()
        try:
            for address, zip_code in keys:
                row = con.execute(
                    "SELECT answer FROM answers WHERE geocoder=? AND address=? AND zipcode=?",
                    (geocoder, address, zip_code or ""),
                ).fetchone()
                if row is not None:
                    found[(address, zip_code)] = json.loads(row[0])
        finally:
            con.close()
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(
        self, geocoder: str, answers: dict[tuple[str, str | None], dict[str, Any]]
    ) -> None:
        """Store answers (replacing older answers for the same key)."""
        rows = [
            (geocoder, address, zip_code or "", json.dumps(answer, sort_keys=True))
            for (address, zip_code), answer in answers.items()
        ]
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", rows)

    def clear(self, geocoder: str | None = None) -> int:
        """Delete the answers of one geocoder fingerprint (or all); return how many."""
        with self._connect() as con:
            if geocoder is None:
                cur = con.execute("DELETE FROM answers")
            else:
                cur = con.execute("DELETE FROM answers WHERE geocoder=?", (geocoder,))
            return int(cur.rowcount)

    def __repr__(self) -> str:
        return f"GeocodeCache({str(self.path)!r})"


# --------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------


def _json_value(value: object) -> object:
    """Return a JSON-safe scalar (NaN/NA become None)."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if isinstance(value, np.generic) else value


def _run_geocoder(
    geocoder: Geocoder,
    keys: list[tuple[str, str | None]],
    *,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Send ``keys`` to the geocoder in batches; return the answers by key."""
    limit = getattr(geocoder, "max_batch_size", None)
    size = max(1, min(batch_size, limit) if limit else batch_size)
    answers: dict[tuple[str, str | None], dict[str, Any]] = {}
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        batch = pd.DataFrame(
            {
                "address": pd.array([k[0] for k in chunk], dtype="string"),
                "zipcode": pd.array([k[1] for k in chunk], dtype="string"),
            }
        )
        answer = _check_answer(geocoder.geocode_batch(batch), batch, geocoder.name)
        fields = [c for c in [*GEOCODE_COLUMNS, "reason"] if c in answer]
        for key, row in zip(chunk, answer[fields].itertuples(index=False), strict=True):
            answers[key] = {f: _json_value(v) for f, v in zip(fields, row, strict=True)}
        if progress is not None:
            progress(min(start + size, len(keys)), len(keys))
    return answers


def _coord_quality(frame: pd.DataFrame) -> pd.Series:
    """Return ``coord_quality``, computing it with :func:`flag_coordinates` if absent."""
    if "coord_quality" in frame:
        return frame["coord_quality"].astype("string")
    if "lat" in frame and "long" in frame:
        flagged = flag_coordinates(frame[["lat", "long"]]).frame
        return flagged["coord_quality"].astype("string")
    return pd.Series("missing", index=frame.index, dtype="string")


def geocode(
    requests: pd.DataFrame,
    *,
    geocoder: Geocoder,
    only_missing: bool = True,
    cache: GeocodeCache | None = None,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> Result:
    """Fill coordinates from addresses for rows that lack usable ones.

    Each distinct (normalised address, ZIP) is looked up in the cache and
    sent to the geocoder at most once.  Rows keep their coordinates unless
    their ``coord_quality`` is one of :data:`NEEDS_GEOCODING` (``missing``,
    ``zero``, ``out_of_range``, ``placeholder``) *and* the geocoder found an
    exact or fuzzy match; ``ambiguous`` and ``none`` answers change nothing.

    Parameters
    ----------
    requests : pandas.DataFrame or geopandas.GeoDataFrame
        Canonical frame with ``address`` and, when present, ``zipcode``,
        ``lat``, ``long`` and ``coord_quality`` (computed with
        :func:`geo311.clean.quality.flag_coordinates` when absent).
    geocoder : Geocoder
        E.g. a :class:`ReferenceGeocoder`.
    only_missing : bool, default True
        Send only rows that need coordinates.  With False every row with an
        address is sent (its answer recorded in the ``geocode_*`` columns, for
        checking a geocoder against known points), but good coordinates are
        still never overwritten.
    cache : GeocodeCache, optional
        Persistent answers; None geocodes without a cache (pass
        ``GeocodeCache()`` for the default location).
    batch_size : int, default 1000
        Addresses per ``geocode_batch`` call (capped by the geocoder's
        ``max_batch_size``).
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch, counting distinct
        addresses sent to the geocoder (cache hits excluded).
    bbox : tuple of float, optional
        ``(west, south, east, north)``; new points are checked with
        :func:`~geo311.clean.quality.flag_coordinates` against it, so a geocoded point
        outside the city becomes ``outside_area``.

    Returns
    -------
    Result
        A new frame (input untouched) with ``lat``/``long``/``coord_quality``
        (and ``geometry`` for a GeoDataFrame) filled for newly located rows,
        plus ``geocode_source``, ``geocode_score``, ``geocode_match`` (NA for
        rows not sent), and a one-stage ledger ``"geocode"`` flagging
        ``matched_exact``, ``matched_fuzzy``, ``ambiguous``, ``unmatched``,
        ``no_address``, ``skipped_good_coordinates`` and
        ``skipped_outside_area`` rows.  No row is dropped.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"a": ["5 Oak Rd, X, 21201"], "x": [-76.6], "y": [39.3]})
    >>> ref = ReferenceGeocoder(table, address_column="a", lon_column="x", lat_column="y")
    >>> df = pd.DataFrame({"address": ["5 OAK ROAD", "9 ELM ST"], "zipcode": ["21201", None],
    ...                    "lat": [None, 39.2], "long": [None, -76.5]})
    >>> frame, ledger = geocode(df, geocoder=ref)
    >>> frame[["lat", "long", "coord_quality", "geocode_match"]]
        lat  long coord_quality geocode_match
    0  39.3 -76.6            ok         exact
    1  39.2 -76.5            ok          <NA>
    """
    if not isinstance(geocoder, Geocoder):
        msg = (
            f"geocoder must have a 'name' and a 'geocode_batch(frame)' method, got "
            f"{type(geocoder).__name__}; use e.g. ReferenceGeocoder.from_file(...)"
        )
        raise GeocodeError(msg)
    if batch_size < 1:
        msg = f"batch_size must be at least 1, got {batch_size}"
        raise ValueError(msg)
    if "address" not in requests:
        msg = (
            f"geocoding needs an 'address' column; found {list(requests.columns)[:12]}. "
            "Map the source's address field to 'address' in its schema profile."
        )
        raise GeocodeError(msg)

    out = requests.copy()
    n = len(out)
    quality = _coord_quality(out)
    needs = quality.isin(NEEDS_GEOCODING).to_numpy(dtype=bool)
    good = quality.isin(COORD_USABLE).to_numpy(dtype=bool)
    keys = _query_keys(out)
    has_address = (keys["address"] != "").to_numpy(dtype=bool)
    send = has_address & (np.ones(n, dtype=bool) if not only_missing else needs)

    key_list = list(
        zip(
            keys["address"].astype(object),
            keys["zipcode"].astype(object).where(keys["zipcode"].notna(), None),
            strict=True,
        )
    )
    distinct = sorted({k for k, s in zip(key_list, send, strict=True) if s}, key=_sort_key)
    fingerprint = _fingerprint(geocoder)
    answers, hits = _lookup(
        geocoder, distinct, cache=cache, batch_size=batch_size, progress=progress
    )

    def field(name: str) -> list[Any]:
        return [answers[k].get(name) if s else None for k, s in zip(key_list, send, strict=True)]

    match = pd.array(field("match"), dtype="string")
    lon = np.array([np.nan if v is None else v for v in field("lon")], dtype=float)
    lat = np.array([np.nan if v is None else v for v in field("lat")], dtype=float)
    match_np = np.asarray(match.fillna("").astype(object))
    located = np.isin(match_np, ["exact", "fuzzy"]) & np.isfinite(lon) & np.isfinite(lat)
    fill = located & needs
    _write_points(out, quality, lat=lat, lon=lon, rows=fill, bbox=bbox)
    out["geocode_source"] = pd.Series(pd.array(field("source"), dtype="string"), index=out.index)
    out["geocode_score"] = pd.Series(pd.array(field("score"), dtype="Float64"), index=out.index)
    out["geocode_match"] = pd.Series(match, index=out.index)

    flagged = {
        "matched_exact": int((match_np == "exact").sum()),
        "matched_fuzzy": int((match_np == "fuzzy").sum()),
        "ambiguous": int((match_np == "ambiguous").sum()),
        "unmatched": int((match_np == "none").sum()),
        "no_address": int((needs & ~has_address).sum()),
        "skipped_good_coordinates": int((good & ~send).sum()),
        "skipped_outside_area": int(((quality == "outside_area").to_numpy(bool) & ~send).sum()),
        "filled_coordinates": int(fill.sum()),
    }
    examples = {
        reason: sorted({k[0] for k, m in zip(key_list, match_np, strict=True) if m == value})
        for reason, value in (("unmatched", "none"), ("ambiguous", "ambiguous"))
    }
    ledger = Ledger()
    ledger.record(
        "geocode",
        rows_in=n,
        rows_out=n,
        flagged=flagged,
        examples=examples,
        notes=[
            f"geocoder {fingerprint}",
            f"{len(distinct):,} distinct addresses: {hits:,} from cache, "
            f"{len(distinct) - hits:,} sent to the geocoder",
        ],
    )
    log.info(
        "geocoded %s of %s rows needing coordinates (%s exact, %s fuzzy, %s ambiguous, "
        "%s unmatched, %s without address); %s distinct addresses, %s from cache",
        f"{int(fill.sum()):,}",
        f"{int(needs.sum()):,}",
        f"{flagged['matched_exact']:,}",
        f"{flagged['matched_fuzzy']:,}",
        f"{flagged['ambiguous']:,}",
        f"{flagged['unmatched']:,}",
        f"{flagged['no_address']:,}",
        f"{len(distinct):,}",
        f"{hits:,}",
    )
    return Result(out, ledger)


def _lookup(
    geocoder: Geocoder,
    keys: list[tuple[str, str | None]],
    *,
    cache: GeocodeCache | None,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[tuple[str, str | None], dict[str, Any]], int]:
    """Answer ``keys`` from the cache, then the geocoder; return answers and cache hits."""
    fingerprint = _fingerprint(geocoder)
    answers = cache.get_many(fingerprint, keys) if cache is not None else {}
    hits = len(answers)
    todo = [k for k in keys if k not in answers]
    fresh = _run_geocoder(geocoder, todo, batch_size=batch_size, progress=progress)
    if cache is not None and fresh:
        cache.put_many(fingerprint, fresh)
    answers.update(fresh)
    return answers, hits


def _write_points(
    out: pd.DataFrame,
    quality: pd.Series,
    *,
    lat: np.ndarray,
    lon: np.ndarray,
    rows: np.ndarray,
    bbox: tuple[float, float, float, float] | None,
) -> None:
    """Write geocoded points into ``rows`` of ``out`` (in place), re-flagging them."""
    if not rows.any():
        out["coord_quality"] = quality
        return
    new = flag_coordinates(pd.DataFrame({"lat": lat[rows], "long": lon[rows]}), bbox=bbox).frame
    n = len(out)
    for column, values in (("lat", new["lat"]), ("long", new["long"])):
        current = (
            out[column].to_numpy(dtype=float, na_value=np.nan).copy()
            if column in out
            else np.full(n, np.nan)
        )
        current[rows] = values.to_numpy(dtype=float)
        out[column] = current
    q = quality.astype(object).to_numpy().copy()
    q[rows] = new["coord_quality"].astype(object).to_numpy()
    out["coord_quality"] = pd.Series(q, index=out.index, dtype="string")
    _rebuild_geometry(out, rows)


def _sort_key(key: tuple[str, str | None]) -> tuple[str, str]:
    """Order (address, zip) keys deterministically with None ZIPs first."""
    return key[0], key[1] or ""


def _rebuild_geometry(frame: pd.DataFrame, rows: np.ndarray) -> None:
    """Set point geometries of ``rows`` from ``long``/``lat`` (GeoDataFrames only)."""
    geometry_name = getattr(frame, "_geometry_column_name", None)
    if geometry_name is None or geometry_name not in frame:
        return
    import geopandas as gpd  # noqa: PLC0415 - geometry only exists with geopandas

    crs = frame.crs
    points = gpd.points_from_xy(
        frame["long"].to_numpy(dtype=float)[rows],
        frame["lat"].to_numpy(dtype=float)[rows],
        crs="EPSG:4326",
    )
    series = gpd.GeoSeries(points, crs="EPSG:4326")
    if crs is not None and not crs.equals(series.crs):
        series = series.to_crs(crs)
    usable = np.isin(
        frame["coord_quality"].to_numpy(dtype=object)[rows], [*COORD_USABLE, "outside_area"]
    )
    values = frame[geometry_name].array.copy()
    positions = np.flatnonzero(rows)
    new_values = series.array
    for pos, geom, ok in zip(positions, new_values, usable, strict=True):
        values[pos] = geom if ok else None
    frame[geometry_name] = gpd.GeoSeries(values, index=frame.index, crs=crs)

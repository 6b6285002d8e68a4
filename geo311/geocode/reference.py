"""The offline :class:`ReferenceGeocoder`: match addresses against a table of address points.

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
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from geo311._errors import GeocodeError, OptionError
from geo311.geocode.addresses import address_keys, clean_zip, normalize_addresses
from geo311.geocode.protocol import GEOCODE_COLUMNS

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["ReferenceGeocoder"]

_INSTALL_HINT: Final = "pip install 'geo311[geocode]'"
_METRES_PER_DEGREE: Final = 111_320.0
_HOUSE_NUMBER_RE: Final = re.compile(r"^(\d+[A-Z]?)\s+(.+)$")


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
            msg = f"min_score must lie in 0-100, got {min_score}; pass a score such as 90"
            raise OptionError(msg)
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
            given = pd.Series(pd.array([clean_zip(z) for z in table[zip_column]], dtype="string"))
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
        """Geocode a batch; see :class:`~geo311.geocode.protocol.Geocoder` for the contract.

        Parameters
        ----------
        addresses : pandas.DataFrame
            ``address`` (raw or normalised) and optionally ``zipcode``.

        Returns
        -------
        pandas.DataFrame
            :data:`GEOCODE_COLUMNS` plus ``reason``, same index.
        """
        keys = address_keys(addresses)
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

"""Schema profiles: declarative TOML descriptions of one source format each.

A profile maps a city's export columns onto the canonical schema, names the
timestamp formats and the city's time zone, the status vocabulary, where the
coordinates are, and the city's bounding box.  Built-in profiles live in
``geo311/schemas/*.toml``; a user passes their own file path anywhere a
profile name is accepted.  See ``geo311/schemas/README.md`` for the format.

Examples
--------
>>> profile = get_profile("baltimore")
>>> profile.timezone
'America/New_York'
>>> detect_profile(["SRRecordID", "ServiceRequestNum", "SRType", "CreatedDate"]).name
'baltimore'
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pyproj import CRS
from pyproj.exceptions import CRSError

from geo311._errors import ProfileError, SchemaError
from geo311.schema import CANONICAL_COLUMNS

__all__ = ["Profile", "detect_profile", "get_profile", "list_profiles", "load_profile"]

#: Canonical columns a profile may map from source columns.
MAPPABLE = (
    "service_request_id",
    "service_code",
    "service_name",
    "description",
    "status_raw",
    "status_notes",
    "requested_datetime",
    "updated_datetime",
    "closed_datetime",
    "expected_datetime",
    "agency_responsible",
    "source",
    "address",
    "zipcode",
)
REQUIRED = ("service_request_id", "requested_datetime")
TIMESTAMP_COLUMNS = tuple(c.name for c in CANONICAL_COLUMNS if c.kind == "datetime")
SPECIAL_FORMATS = ("ISO8601", "epoch_ms", "epoch_s")

_TOP_KEYS = {
    "name", "title", "description", "timezone", "formats", "detect", "case_sensitive",
    "bbox", "columns", "timestamps", "coordinates", "status", "proactive",
}  # fmt: skip
_SECTION_KEYS = {
    "timestamps": {"formats", "naive"},
    "coordinates": {"lat", "long", "location", "crs"},
    "status": {"open", "closed", "duplicate", "transfer"},
    "proactive": {"service_name", "source"},
}


@dataclass(frozen=True)
class Profile:
    """A parsed schema profile.

    Attributes
    ----------
    name, title, description : str
        Registry key and human-readable text.
    timezone : str
        IANA zone of the city; naive timestamps are read as local times there
        when ``naive == "local"``.
    formats : tuple of str
        File formats this profile is known to read (informational).
    detect : tuple of str
        Source columns that must all be present for auto-detection to pick it.
    case_sensitive : bool
        Whether source column names must match case exactly.
    bbox : tuple of float or None
        ``(west, south, east, north)`` in degrees; rows outside are flagged.
    columns : dict of str to tuple of str
        Canonical column -> candidate source columns, first present wins.
    timestamp_formats : tuple of str
        strptime formats, or ``ISO8601``/``epoch_ms``/``epoch_s``, tried in order.
    naive : str
        ``"local"`` or ``"UTC"``: how to read timestamps without an offset.
    lat, long, location : str or None
        Coordinate columns; ``location`` holds ``POINT (x y)`` or ``(lat, lon)``.
    crs : str
        CRS of the ``lat``/``long`` columns (``long`` is x, ``lat`` is y).
    status_open, status_closed : tuple of str
        Raw status values (case-insensitive, a trailing ``(...)`` ignored).
    duplicate_patterns, transfer_patterns : tuple of str
        Case-insensitive substrings of status or notes marking duplicates/transfers.
    proactive_service_names, proactive_sources : tuple of str
        Substrings of service names / exact channels marking staff-filed requests.
    path : str
        Where the profile was read from.
    """

    name: str
    title: str
    description: str
    timezone: str
    formats: tuple[str, ...]
    detect: tuple[str, ...]
    case_sensitive: bool
    bbox: tuple[float, float, float, float] | None
    columns: Mapping[str, tuple[str, ...]]
    timestamp_formats: tuple[str, ...]
    naive: str
    lat: str | None
    long: str | None
    location: str | None
    crs: str
    status_open: tuple[str, ...]
    status_closed: tuple[str, ...]
    duplicate_patterns: tuple[str, ...] = ()
    transfer_patterns: tuple[str, ...] = ()
    proactive_service_names: tuple[str, ...] = ()
    proactive_sources: tuple[str, ...] = ()
    path: str = field(default="", compare=False)

    def _find(self, wanted: str, present: Iterable[str]) -> str | None:
        present = list(present)
        if wanted in present:
            return wanted
        if not self.case_sensitive:
            folded = {p.casefold(): p for p in present}
            return folded.get(wanted.casefold())
        return None

    def matches(self, columns: Iterable[str]) -> bool:
        """Return True when every ``detect`` column is among ``columns``."""
        present = list(columns)
        return all(self._find(c, present) is not None for c in self.detect)

    def resolve(self, columns: Iterable[str], *, source: str = "input") -> dict[str, str]:
        """Map canonical names to the source columns present in a header.

        Parameters
        ----------
        columns : iterable of str
            The header of the file or frame.
        source : str
            Name of the file, for the error message.

        Returns
        -------
        dict of str to str
            Canonical name -> actual source column, for every mapped column found,
            plus the coordinate roles ``lat``, ``long``, ``location`` when present.

        Raises
        ------
        SchemaError
            Naming the file, the profile, the missing columns and those found.
        """
        present = list(columns)
        out: dict[str, str] = {}
        for canonical, candidates in self.columns.items():
            for cand in candidates:
                hit = self._find(cand, present)
                if hit is not None:
                    out[canonical] = hit
                    break
        for role in ("lat", "long", "location"):
            wanted = getattr(self, role)
            hit = self._find(wanted, present) if wanted else None
            if hit is not None:
                out[role] = hit
        missing = [f"{c} (one of {', '.join(self.columns[c])})" for c in REQUIRED if c not in out]
        if missing:
            msg = (
                f"{source}: profile {self.name!r} needs columns it did not find: "
                f"{'; '.join(missing)}. Columns found: {', '.join(present) or '(none)'}. "
                "Pass --schema with the profile that matches this file, or write a profile "
                "TOML that maps these columns (see `geo311 schemas`)."
            )
            raise SchemaError(msg)
        return out


def _tuple(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    msg = f"{where} must be a string or a list of strings, got {value!r}"
    raise ProfileError(msg)


def _parse(data: Mapping[str, Any], origin: str) -> Profile:  # noqa: PLR0912
    problems: list[str] = []
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        problems.append(f"unknown keys {unknown}; allowed: {sorted(_TOP_KEYS)}")
    for section, allowed in _SECTION_KEYS.items():
        extra = sorted(set(data.get(section, {})) - allowed)
        if extra:
            problems.append(f"[{section}] has unknown keys {extra}; allowed: {sorted(allowed)}")
    for key in ("name", "timezone"):
        if not isinstance(data.get(key), str) or not data.get(key):
            problems.append(f"'{key}' is required (a string)")
    tz = data.get("timezone")
    if isinstance(tz, str) and tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {tz!r} is not an IANA zone (e.g. 'America/New_York')")
    raw_columns = data.get("columns", {})
    columns: dict[str, tuple[str, ...]] = {}
    for key, value in raw_columns.items():
        if key not in MAPPABLE:
            problems.append(f"[columns] {key!r} is not a mappable column; use one of {MAPPABLE}")
            continue
        try:
            columns[key] = _tuple(value, f"[columns] {key}")
        except ProfileError as exc:
            problems.append(str(exc))
    problems.extend(f"[columns] must map {req!r}" for req in REQUIRED if req not in columns)
    ts = data.get("timestamps", {})
    formats = _tuple(ts.get("formats", ["ISO8601"]), "[timestamps] formats")
    naive = ts.get("naive", "local")
    if naive not in ("local", "UTC"):
        problems.append(f"[timestamps] naive must be 'local' or 'UTC', got {naive!r}")
    coords = data.get("coordinates", {})
    crs = coords.get("crs", "EPSG:4326")
    try:
        CRS.from_user_input(crs)
    except CRSError:
        problems.append(f"[coordinates] crs {crs!r} is not a CRS pyproj understands")
    if bool(coords.get("lat")) != bool(coords.get("long")):
        problems.append("[coordinates] needs both 'lat' and 'long' (or neither)")
    bbox = data.get("bbox")
    if bbox is not None:
        ok = isinstance(bbox, list) and len(bbox) == 4
        ok = ok and all(isinstance(v, int | float) for v in bbox)
        if not ok or not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            problems.append(f"bbox must be [west, south, east, north] in degrees, got {bbox!r}")
    status = data.get("status", {})
    if problems:
        msg = f"invalid schema profile {origin}:\n  - " + "\n  - ".join(problems)
        raise ProfileError(msg)
    detect = _tuple(data.get("detect", [columns[r][0] for r in REQUIRED]), "detect")
    proactive = data.get("proactive", {})
    return Profile(
        name=data["name"],
        title=data.get("title", data["name"]),
        description=data.get("description", ""),
        timezone=data["timezone"],
        formats=_tuple(data.get("formats", []), "formats"),
        detect=detect,
        case_sensitive=bool(data.get("case_sensitive", False)),
        bbox=tuple(float(v) for v in bbox) if bbox is not None else None,  # type: ignore[arg-type]
        columns=columns,
        timestamp_formats=formats,
        naive=naive,
        lat=coords.get("lat"),
        long=coords.get("long"),
        location=coords.get("location"),
        crs=crs,
        status_open=tuple(s.casefold() for s in _tuple(status.get("open", []), "open")),
        status_closed=tuple(s.casefold() for s in _tuple(status.get("closed", []), "closed")),
        duplicate_patterns=tuple(
            s.casefold() for s in _tuple(status.get("duplicate", []), "duplicate")
        ),
        transfer_patterns=tuple(
            s.casefold() for s in _tuple(status.get("transfer", []), "transfer")
        ),
        proactive_service_names=tuple(
            s.casefold() for s in _tuple(proactive.get("service_name", []), "service_name")
        ),
        proactive_sources=tuple(
            s.casefold() for s in _tuple(proactive.get("source", []), "source")
        ),
        path=origin,
    )


def load_profile(path: str | Path) -> Profile:
    """Read a profile from a TOML file.

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML file in the format of ``geo311/schemas/README.md``.

    Returns
    -------
    Profile

    Raises
    ------
    ProfileError
        If the file is missing, not TOML, or lists every problem it has.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"schema profile file {path} does not exist (or is not a file)"
        raise ProfileError(msg)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"schema profile {path} is not valid TOML: {exc}"
        raise ProfileError(msg) from exc
    return _parse(data, str(path))


def _builtin() -> dict[str, Profile]:
    out: dict[str, Profile] = {}
    for entry in sorted((resources.files("geo311") / "schemas").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            profile = _parse(data, f"geo311/schemas/{entry.name}")
            out[profile.name] = profile
    return out


_BUILTIN: dict[str, Profile] | None = None


def list_profiles() -> dict[str, Profile]:
    """Return the built-in profiles by name.

    Returns
    -------
    dict of str to Profile
    """
    global _BUILTIN  # noqa: PLW0603 - parsed once per process, read-only afterwards
    if _BUILTIN is None:
        _BUILTIN = _builtin()
    return dict(_BUILTIN)


def get_profile(schema: str | Path | Profile) -> Profile:
    """Return a profile from a built-in name, a TOML path, or a Profile.

    Parameters
    ----------
    schema : str, pathlib.Path or Profile
        ``"baltimore"``, ``"los_angeles"``, ``"open311"``, or a path to a TOML file.

    Returns
    -------
    Profile

    Raises
    ------
    ProfileError
        For an unknown name; the message lists the valid names.
    """
    if isinstance(schema, Profile):
        return schema
    text = str(schema)
    builtin = list_profiles()
    if text in builtin:
        return builtin[text]
    if isinstance(schema, Path) or text.endswith(".toml") or Path(text).exists():
        return load_profile(text)
    msg = (
        f"unknown schema profile {text!r}; built-in profiles: {', '.join(builtin)}. "
        "Or pass the path of your own profile TOML."
    )
    raise ProfileError(msg)


def detect_profile(columns: Iterable[str], *, source: str = "input") -> Profile:
    """Choose the built-in profile whose ``detect`` columns are all in the header.

    Parameters
    ----------
    columns : iterable of str
        The header of the file.
    source : str
        Name of the file, for the error message.

    Returns
    -------
    Profile

    Raises
    ------
    ProfileError
        When no profile or more than one matches; lists the candidates and how to choose.
    """
    present = list(columns)
    builtin = list_profiles()
    hits = [p for p in builtin.values() if p.matches(present)]
    if len(hits) == 1:
        return hits[0]
    listing = "; ".join(f"{p.name} (needs {', '.join(p.detect)})" for p in builtin.values())
    if not hits:
        msg = (
            f"{source}: no schema profile recognises this header "
            f"({', '.join(present[:12])}{', ...' if len(present) > 12 else ''}). "
            f"Profiles: {listing}. Choose one with --schema NAME, or describe the export in "
            "your own TOML and pass --schema path.toml."
        )
    else:
        msg = (
            f"{source}: the header matches several profiles: {', '.join(p.name for p in hits)}. "
            "Choose one with --schema NAME."
        )
    raise ProfileError(msg)

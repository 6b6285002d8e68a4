"""Schema profiles: declarative TOML descriptions of one source format each.

A profile maps a city's export columns onto the canonical schema, names the
timestamp formats and the city's time zone, the status vocabulary, where the
coordinates are, and the city's bounding box.  Built-in profiles live in
``geo311/io/schemas/*.toml``; a user passes their own file path anywhere a
profile name is accepted.  The keys are those of :class:`Profile` as laid out
in the built-in files (top-level keys plus ``[columns]``, ``[timestamps]``,
``[coordinates]``, ``[status]``, ``[proactive]``, ``[fetch]``,
``[placeholders]`` and ``[jurisdictions]`` tables).

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

from pyproj import CRS
from pyproj.exceptions import CRSError

from geo311._errors import OptionError, ProfileError, SchemaError
from geo311.clean.placeholders import PlaceholderRule
from geo311.io.schema import CANONICAL_COLUMNS
from geo311.io.values import check_timezone

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
    "bbox", "columns", "timestamps", "coordinates", "status", "proactive", "fetch",
    "placeholders", "jurisdictions",
}  # fmt: skip
_SECTION_KEYS = {
    "timestamps": {"formats", "naive", "closed_from_notes", "closed_from_updated"},
    "coordinates": {"lat", "long", "location", "crs"},
    "status": {"open", "closed", "duplicate", "transfer"},
    "proactive": {"service_name", "source"},
    "fetch": {"arcgis_layer"},
    "jurisdictions": {"column", "timezones"},
    "placeholders": {
        "min_count", "min_share", "min_addresses", "min_address_share", "radius_m",
        "coarse_decimals", "points",
    },
}  # fmt: skip


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
    closed_from_notes : str or None
        ``[timestamps] closed_from_notes``: source column holding Open311
        ``notes`` events (a JSON list of ``{datetime, type, description}``);
        the last closing event is the close time of a row that has none.
    closed_from_updated : bool
        ``[timestamps] closed_from_updated``: a closed row with no close
        time (and none from notes) closes at its ``updated_datetime``.
    lat, long, location : str or None
        Coordinate columns; ``location`` holds ``POINT (x y)`` or ``(lat, lon)``.
    crs : str
        CRS of the ``lat``/``long`` columns (``long`` is x, ``lat`` is y).
    status_open, status_closed : tuple of str
        Raw status values (case-insensitive, a trailing ``(...)`` ignored).
    duplicate_patterns, transfer_patterns : tuple of str
        Text of status or notes marking duplicates/transfers, matched at the start
        of a word and ignoring case ("transfer" matches "Transferred", "referred"
        does not match "preferred").
    proactive_service_names, proactive_sources : tuple of str
        Word starts of service names / exact channels marking staff-filed requests.
    placeholders : PlaceholderRule
        ``[placeholders]``: thresholds of the placeholder-point rule and the
        points the city knows to be placeholders (defaults when absent).
    arcgis_layer : str or None
        ``[fetch] arcgis_layer``: the city's ArcGIS 311 layer URL, with
        ``{year}`` where the portal publishes one layer per year
        (``geo311 fetch requests --city NAME --year Y``).
    jurisdiction_column : str or None
        ``[jurisdictions] column``: source column naming each row's
        jurisdiction (``jurisdiction_id``, a city column) in a file mixing
        several cities.
    jurisdiction_timezones : dict of str to str
        ``[jurisdictions.timezones]``: jurisdiction -> IANA zone (matched
        without regard to case); other jurisdictions use ``timezone``.
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
    arcgis_layer: str | None = None
    placeholders: PlaceholderRule = field(default_factory=PlaceholderRule)
    closed_from_notes: str | None = None
    closed_from_updated: bool = False
    jurisdiction_column: str | None = None
    jurisdiction_timezones: Mapping[str, str] = field(default_factory=dict)
    path: str = field(default="", compare=False)

    def _find(self, wanted: str, present: Iterable[str]) -> str | None:
        present = list(present)
        if wanted in present:
            return wanted
        if not self.case_sensitive:
            folded = {p.casefold(): p for p in present if isinstance(p, str)}
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
            plus the roles ``lat``, ``long``, ``location``, ``notes`` and
            ``jurisdiction`` when present.

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
        roles = {
            "lat": self.lat,
            "long": self.long,
            "location": self.location,
            "notes": self.closed_from_notes,
            "jurisdiction": self.jurisdiction_column,
        }
        for role, wanted in roles.items():
            hit = self._find(wanted, present) if wanted else None
            if hit is not None:
                out[role] = hit
        missing = [f"{c} (one of {', '.join(self.columns[c])})" for c in REQUIRED if c not in out]
        if self.jurisdiction_column and "jurisdiction" not in out:
            missing.append(f"the jurisdiction column {self.jurisdiction_column!r}")
        if missing:
            found = ", ".join(map(str, present)) or "(none)"
            msg = (
                f"{source}: profile {self.name!r} needs columns it did not find: "
                f"{'; '.join(missing)}. Columns found: {found}. "
                "Pass --schema with the profile that matches this file, or write a profile "
                "TOML that maps these columns (see `geo311 schemas`)."
            )
            raise SchemaError(msg)
        return out


class _Problems:
    """Collect every problem of one profile so they can be reported together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    def table(self, data: Mapping[str, Any], key: str) -> dict[str, Any]:
        """Return ``data[key]`` as a table, or ``{}`` after noting a non-table value."""
        value = data.get(key, {})
        if isinstance(value, dict):
            return value
        self.add(f"[{key}] must be a table of settings, got {value!r}")
        return {}

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        """Return a string or list of strings as a tuple; note anything else."""
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.add(f"{where} must be a string or a list of strings, got {value!r}")
        return ()

    def folded(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        """Return a vocabulary list, case-folded (matching is case-insensitive)."""
        return tuple(s.casefold() for s in self.strings(table.get(key, []), where))

    def text(self, data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
        """Return an optional (or required) non-empty string setting."""
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            kind = "is required (a non-empty string)" if required else "must be a string"
            self.add(f"'{key}' {kind}, got {value!r}")
            return None
        return value


def _check_keys(data: Mapping[str, Any], problems: _Problems) -> None:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        problems.add(f"unknown keys {unknown}; allowed: {sorted(_TOP_KEYS)}")
    for section, allowed in _SECTION_KEYS.items():
        table = data.get(section, {})
        extra = sorted(set(table) - allowed) if isinstance(table, dict) else []
        if extra:
            problems.add(f"[{section}] has unknown keys {extra}; allowed: {sorted(allowed)}")


def _parse_timezone(data: Mapping[str, Any], problems: _Problems) -> str:
    tz = problems.text(data, "timezone", required=True)
    if tz is None:
        return ""
    try:
        return check_timezone(tz, option="profile timezone")
    except OptionError as exc:
        problems.add(str(exc))
    return tz


def _parse_columns(data: Mapping[str, Any], problems: _Problems) -> dict[str, tuple[str, ...]]:
    columns: dict[str, tuple[str, ...]] = {}
    for key, value in problems.table(data, "columns").items():
        if key not in MAPPABLE:
            problems.add(f"[columns] {key!r} is not a mappable column; use one of {MAPPABLE}")
            continue
        names = problems.strings(value, f"[columns] {key}")
        if names:
            columns[key] = names
    for req in REQUIRED:
        if req not in columns:
            problems.add(f"[columns] must map {req!r} (the source column(s) holding it)")
    return columns


def _parse_closures(data: Mapping[str, Any], problems: _Problems) -> tuple[str | None, bool]:
    """Return ``[timestamps] closed_from_notes`` and ``closed_from_updated``."""
    ts = problems.table(data, "timestamps")
    notes = problems.text(ts, "closed_from_notes")
    updated = ts.get("closed_from_updated", False)
    if not isinstance(updated, bool):
        problems.add(f"[timestamps] closed_from_updated must be true or false, got {updated!r}")
        updated = False
    return notes, updated


def _parse_jurisdictions(
    data: Mapping[str, Any], problems: _Problems
) -> tuple[str | None, dict[str, str]]:
    """Return ``[jurisdictions] column`` and its table of time zones (zones checked)."""
    table = problems.table(data, "jurisdictions")
    if not table:
        return None, {}
    column = problems.text(table, "column", required=True)
    zones = table.get("timezones", {})
    if not isinstance(zones, dict) or not zones:
        problems.add(
            '[jurisdictions.timezones] must be a table of jurisdiction = "IANA zone" '
            f'(e.g. chicago = "America/Chicago"), got {zones!r}'
        )
        return column, {}
    out: dict[str, str] = {}
    for key, zone in zones.items():
        where = f"[jurisdictions.timezones] {key}"
        if not isinstance(zone, str):
            problems.add(f"{where} must be an IANA zone name (a string), got {zone!r}")
            continue
        try:
            out[key] = check_timezone(zone, option=where)
        except OptionError as exc:
            problems.add(str(exc))
    folded = [k.casefold() for k in out]
    if len(set(folded)) < len(folded):
        problems.add("[jurisdictions.timezones] names a jurisdiction twice (case is ignored)")
    return column, out


def _parse_timestamps(data: Mapping[str, Any], problems: _Problems) -> tuple[tuple[str, ...], str]:
    ts = problems.table(data, "timestamps")
    formats = problems.strings(ts.get("formats", ["ISO8601"]), "[timestamps] formats")
    odd = [f for f in formats if f not in SPECIAL_FORMATS and "%" not in f]
    if odd:
        problems.add(
            f"[timestamps] formats {odd} are neither strptime patterns (with %-codes) "
            f"nor one of {list(SPECIAL_FORMATS)}"
        )
    naive = ts.get("naive", "local")
    if naive not in ("local", "UTC"):
        problems.add(f"[timestamps] naive must be 'local' or 'UTC', got {naive!r}")
    return formats, str(naive)


def _parse_coordinates(
    data: Mapping[str, Any], problems: _Problems
) -> tuple[str | None, str | None, str | None, str]:
    coords = problems.table(data, "coordinates")
    roles: dict[str, str | None] = {}
    for role in ("lat", "long", "location"):
        value = coords.get(role)
        if value is not None and (not isinstance(value, str) or not value):
            problems.add(f"[coordinates] {role} must be a column name (a string), got {value!r}")
            value = None
        roles[role] = value
    if bool(roles["lat"]) != bool(roles["long"]):
        problems.add("[coordinates] needs both 'lat' and 'long' (or neither)")
    crs = coords.get("crs", "EPSG:4326")
    if not (isinstance(crs, str) and _is_crs(crs)):
        problems.add(
            f"[coordinates] crs {crs!r} is not a CRS pyproj understands "
            "(write it as a string, e.g. 'EPSG:2248')"
        )
        crs = "EPSG:4326"
    return roles["lat"], roles["long"], roles["location"], crs


def _is_crs(text: str) -> bool:
    try:
        CRS.from_user_input(text)
    except CRSError:
        return False
    return True


def _parse_bbox(
    data: Mapping[str, Any], problems: _Problems
) -> tuple[float, float, float, float] | None:
    bbox = data.get("bbox")
    if bbox is None:
        return None
    numbers = (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
    )
    if numbers:
        west, south, east, north = (float(v) for v in bbox)
        lon_ok = -180 <= west < east <= 180
        lat_ok = -90 <= south < north <= 90
        if lon_ok and lat_ok:
            return (west, south, east, north)
    problems.add(
        f"bbox must be [west, south, east, north] in degrees (west < east within ±180, "
        f"south < north within ±90), got {bbox!r}"
    )
    return None


def _parse_placeholders(data: Mapping[str, Any], problems: _Problems) -> PlaceholderRule:
    """Return the ``[placeholders]`` rule (defaults for keys left out)."""
    table = problems.table(data, "placeholders")
    options = {k: v for k, v in table.items() if k in _SECTION_KEYS["placeholders"]}
    if "points" in options:
        points = options["points"]
        options["points"] = tuple(points) if isinstance(points, list) else (points,)
    try:
        return PlaceholderRule(**options)
    except OptionError as exc:
        problems.add(f"[placeholders] {exc}")
    return PlaceholderRule()


def _parse(data: Mapping[str, Any], origin: str) -> Profile:
    """Validate a profile's TOML data; raise one ProfileError listing every problem."""
    problems = _Problems()
    _check_keys(data, problems)
    name = problems.text(data, "name", required=True) or ""
    timezone = _parse_timezone(data, problems)
    title = problems.text(data, "title") or name
    description = problems.text(data, "description") or ""
    case_sensitive = data.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        problems.add(f"'case_sensitive' must be true or false, got {case_sensitive!r}")
    columns = _parse_columns(data, problems)
    timestamp_formats, naive = _parse_timestamps(data, problems)
    lat, long, location, crs = _parse_coordinates(data, problems)
    bbox = _parse_bbox(data, problems)
    closed_from_notes, closed_from_updated = _parse_closures(data, problems)
    jurisdiction_column, jurisdiction_timezones = _parse_jurisdictions(data, problems)
    status = problems.table(data, "status")
    proactive = problems.table(data, "proactive")
    default_detect = [columns[r][0] for r in REQUIRED if r in columns]
    profile = Profile(
        name=name,
        title=title,
        description=description,
        timezone=timezone,
        formats=problems.strings(data.get("formats", []), "formats"),
        detect=problems.strings(data.get("detect", default_detect), "detect"),
        case_sensitive=bool(case_sensitive),
        bbox=bbox,
        columns=columns,
        timestamp_formats=timestamp_formats,
        naive=naive,
        lat=lat,
        long=long,
        location=location,
        crs=crs,
        status_open=problems.folded(status, "open", "[status] open"),
        status_closed=problems.folded(status, "closed", "[status] closed"),
        duplicate_patterns=problems.folded(status, "duplicate", "[status] duplicate"),
        transfer_patterns=problems.folded(status, "transfer", "[status] transfer"),
        proactive_service_names=problems.folded(
            proactive, "service_name", "[proactive] service_name"
        ),
        proactive_sources=problems.folded(proactive, "source", "[proactive] source"),
        arcgis_layer=problems.text(problems.table(data, "fetch"), "arcgis_layer"),
        placeholders=_parse_placeholders(data, problems),
        closed_from_notes=closed_from_notes,
        closed_from_updated=closed_from_updated,
        jurisdiction_column=jurisdiction_column,
        jurisdiction_timezones=jurisdiction_timezones,
        path=origin,
    )
    if problems.items:
        msg = (
            f"invalid schema profile {origin} ({len(problems.items)} problems):\n  - "
            + "\n  - ".join(problems.items)
        )
        raise ProfileError(msg)
    return profile


def load_profile(path: str | Path) -> Profile:
    """Read a profile from a TOML file.

    Parameters
    ----------
    path : str or pathlib.Path
        A TOML file laid out like the built-in ``geo311/io/schemas/*.toml``.

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
    for entry in sorted(
        (resources.files("geo311.io") / "schemas").iterdir(), key=lambda e: e.name
    ):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            profile = _parse(data, f"geo311/io/schemas/{entry.name}")
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
    if isinstance(schema, Path) or text.endswith(".toml") or Path(text).is_file():
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

    def listing(profiles: Iterable[Profile]) -> str:
        return "; ".join(f"{p.name} (needs {', '.join(p.detect)})" for p in profiles)

    if not hits:
        msg = (
            f"{source}: no schema profile recognises this header "
            f"({', '.join(map(str, present[:12]))}{', ...' if len(present) > 12 else ''}). "
            f"Profiles: {listing(builtin.values())}. Choose one with --schema NAME, or "
            "describe the export in your own TOML and pass --schema path.toml."
        )
    else:
        msg = (
            f"{source}: the header matches several profiles: {listing(hits)}. "
            "Choose one with --schema NAME."
        )
    raise ProfileError(msg)

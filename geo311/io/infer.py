"""Propose a schema profile for an unknown 311 export (``geo311 schemas infer FILE``).

:func:`infer_profile` reads the header and a sample of rows of a file in any
format the readers know (:mod:`geo311.io.sniff`, :mod:`geo311.io.formats`) and
proposes, for every canonical column of :data:`geo311.io.profiles.MAPPABLE`
and the coordinate roles ``lat``/``long``/``location``, the source column that
holds it, with a confidence from two kinds of evidence:

* the **name**: how close the header is to the canonical name, to common
  spellings of it, and to the source names of the built-in profiles;
* the **values**: ids are unique, timestamps parse with some format,
  latitudes lie within ±90 and longitudes within ±180, a location column holds
  points, a status column has a small vocabulary, ZIP codes have five digits.

It also detects the timestamp formats, splits the status vocabulary into open
and closed values, and lists what it cannot decide as questions for the user.
:meth:`ProfileProposal.to_toml` writes a profile that
:func:`geo311.io.profiles.load_profile` reads, with every guess commented.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = pd.DataFrame({
...     "ticket_id": ["A1", "A2", "A3"],
...     "opened_at": ["2024-03-01 08:00:00", "2024-03-02 09:30:00", "2024-03-02 10:00:00"],
...     "state": ["Open", "Closed", "Closed"],
... }).to_csv(folder / "export.csv", index=False)
>>> proposal = infer_profile(folder / "export.csv", timezone="America/Chicago")
>>> proposal.mapping["service_request_id"].source, proposal.mapping["requested_datetime"].source
('ticket_id', 'opened_at')
>>> proposal.status_open, proposal.status_closed
(('open',), ('closed',))
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from geo311._errors import InputFileError, OptionError
from geo311.io.formats import read_chunks
from geo311.io.normalize import parse_location, parse_timestamps, word_start_regex
from geo311.io.profiles import MAPPABLE, REQUIRED, TIMESTAMP_COLUMNS, list_profiles
from geo311.io.proposal import CONFIDENT, ColumnGuess, ProfileProposal
from geo311.io.sniff import sniff_format
from geo311.io.values import check_timezone

__all__ = ["infer_profile", "read_sample"]

log = logging.getLogger(__name__)

#: Targets a source column can be proposed for: the mappable canonical columns
#: and the coordinate roles of a profile's ``[coordinates]`` table.
TARGETS: Final = (*MAPPABLE, "lat", "long", "location")
#: Below this confidence no column is proposed (unless the column is required).
PLAUSIBLE: Final = 0.5

#: Common spellings of each target besides its canonical name (compared without
#: case, spaces or punctuation), on top of the built-in profiles' source names.
_SPELLINGS: Final[Mapping[str, tuple[str, ...]]] = {
    "service_request_id": (
        "id", "requestid", "requestnumber", "srnumber", "srid", "ticketid", "ticket",
        "ticketnumber", "caseid", "casenumber", "case", "servicerequestnumber", "incidentid",
    ),
    "service_code": ("code", "typecode", "requesttypecode", "categorycode", "problemcode"),
    "service_name": (
        "type", "requesttype", "servicetype", "category", "complainttype", "problem",
        "problemtype", "issuetype", "subject", "srtype", "service", "casetype",
    ),
    "description": ("details", "comments", "descriptor", "requestdetails", "text"),
    "status_raw": ("status", "state", "srstatus", "casestatus", "requeststatus"),
    "status_notes": ("resolution", "outcome", "resolutiondescription", "notes", "actiontaken"),
    "requested_datetime": (
        "created", "createddate", "createdat", "createdon", "opened", "openedat", "opendate",
        "openeddate", "dateopened", "requesteddate", "requested", "submitted", "submittedat",
        "reporteddate", "datereported", "dateentered", "received", "receiveddate",
    ),
    "updated_datetime": (
        "updated", "updatedat", "updateddate", "lastupdated", "modified", "lastmodified",
        "statusdate",
    ),
    "closed_datetime": (
        "closed", "closedat", "closeddate", "closedate", "dateclosed", "resolveddate",
        "resolvedat", "completed", "completeddate", "completiondate",
    ),
    "expected_datetime": ("due", "duedate", "expected", "expecteddate", "targetdate", "sladate"),
    "agency_responsible": (
        "agency", "agencyname", "department", "dept", "owner", "responsibleagency", "division",
    ),
    "source": ("channel", "origin", "method", "requestsource", "methodreceived", "intake"),
    "address": ("streetaddress", "incidentaddress", "fulladdress", "locationaddress"),
    "zipcode": ("zip", "zipcode", "postalcode", "postcode", "incidentzip"),
    "lat": ("latitude", "lat", "y", "ycoord", "ycoordinate", "pointy"),
    "long": ("longitude", "lon", "lng", "long", "x", "xcoord", "xcoordinate", "pointx"),
    "location": ("location", "geolocation", "geom", "geometry", "wkt", "point", "thegeom"),
}  # fmt: skip

#: Timestamp formats tried on every column, in order of preference on ties.
CANDIDATE_FORMATS: Final = (
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y/%m/%d %H:%M:%S%z", "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S", "%m/%d/%Y", "%d/%m/%Y", "ISO8601", "epoch_ms", "epoch_s",
)  # fmt: skip
#: Formats that read the same text with day and month swapped.
_DAY_FIRST: Final = {
    "%d/%m/%Y %H:%M:%S": "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M": "%m/%d/%Y %H:%M",
    "%d/%m/%Y": "%m/%d/%Y",
}
_OFFSET = re.compile(r"\d:\d{2}(?:[.,]\d+)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)\s*$")
_ZIP = re.compile(r"^\d{5}(?:-\d{4})?$")
_TRAILING_NOTE = re.compile(r"\s*\(.*\)\s*$")
#: Words in a status value that say it is open or closed.
_CLOSED_WORDS: Final = (
    "closed", "close", "complete", "completed", "resolved", "cancelled", "canceled", "cancel",
    "done", "finished", "rejected", "archived", "referred out",
)  # fmt: skip
_OPEN_WORDS: Final = (
    "open", "new", "pending", "progress", "assigned", "hold", "received", "acknowledged",
    "submitted", "reopened", "active", "waiting", "scheduled", "queued", "started",
)  # fmt: skip
#: Words proposed as duplicate / transfer markers when the values hold them (matched at
#: the start of a word, as normalize does): a request "Transferred" or "Referred"
#: elsewhere, never a bare "transfer" (Chicago's "... Transfer Outcome" is a result).
_KIND_PATTERNS: Final = {
    "duplicate": ("duplicate",),
    "transfer": ("transferred", "referred", "referral"),
}
#: Targets whose values must pass their check for the column to be proposed.
_STRICT: Final = frozenset({"service_request_id", *TIMESTAMP_COLUMNS, "lat", "long", "location"})


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.casefold())


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class _Stats:
    """What the values of one sampled column look like."""

    filled: float
    distinct: int
    unique: float
    numeric: float
    numbers: np.ndarray
    mean_length: float
    timestamp_format: str | None
    timestamp_share: float
    timestamp_ties: tuple[str, ...]
    location_share: float
    zip_share: float
    address_share: float


def _timestamp_fit(values: pd.Series) -> tuple[str | None, float, tuple[str, ...]]:
    """Return the best format, the share of values it reads, and every format reading as many.

    Only up to 200 distinct values are tried, and only when most look like
    dates (digits with ``-``, ``/`` or ``:``) or epoch numbers (9 to 13 digits).
    """
    sample = pd.Series(values.unique()[:200], dtype="string")
    looks = sample.str.contains(r"\d[-/:]\d|^\d{9,13}(?:\.\d*)?$", regex=True)
    if sample.empty or looks.mean() < 0.8:
        return None, 0.0, ()
    shares = []
    for fmt in CANDIDATE_FORMATS:
        parsed = parse_timestamps(sample, formats=(fmt,), timezone="UTC", naive="UTC")
        shares.append(1.0 - float(parsed.unparsed.mean()))
    best = max(shares)
    if best == 0.0:
        return None, 0.0, ()
    ties = tuple(f for f, s in zip(CANDIDATE_FORMATS, shares, strict=True) if s == best)
    return ties[0], best, ties


def _nonempty(values: pd.Series) -> pd.Series:
    text = values.dropna().astype(str).str.strip()
    return text[text != ""]


def _stats(values: pd.Series, rows: int) -> _Stats:
    text = _nonempty(values)
    n = len(text)
    if n == 0:
        empty = np.array([], dtype=float)
        return _Stats(0.0, 0, 0.0, 0.0, empty, 0.0, None, 0.0, (), 0.0, 0.0, 0.0)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    fmt, ts_share, ties = _timestamp_fit(text)
    lat, lon = parse_location(text.iloc[:500])
    located = float((lat.notna() & lon.notna()).mean())
    return _Stats(
        filled=n / rows,
        distinct=int(text.nunique()),
        unique=text.nunique() / n,
        numeric=float(np.isfinite(numbers).mean()),
        numbers=numbers[np.isfinite(numbers)],
        mean_length=float(text.str.len().mean()),
        timestamp_format=fmt,
        timestamp_share=ts_share,
        timestamp_ties=ties,
        location_share=located,
        zip_share=float(text.str.match(_ZIP).mean()),
        address_share=float(text.str.contains(r"^\W*\d+\W+.*[A-Za-z]{2}", regex=True).mean()),
    )


def _known_names() -> dict[str, set[str]]:
    """Target -> normalised names that mean it: canonical, common spellings, built-in sources."""
    names = {t: {_norm(t), *(_norm(s) for s in _SPELLINGS.get(t, ()))} for t in TARGETS}
    for profile in list_profiles().values():
        for target, sources in profile.columns.items():
            names[target].update(_norm(s) for s in sources)
        for role in ("lat", "long", "location"):
            names[role].update(_norm(s) for s in [getattr(profile, role)] if s)
    return names


def _name_score(column: str, known: set[str]) -> tuple[float, str]:
    col = _norm(column)
    if not col:
        return 0.0, ""
    if col in known:
        return 1.0, "name matches"
    best = 0.0
    for name in known:
        if len(name) >= 4 and (name in col or col in name):
            best = max(best, 0.7)
        ratio = difflib.SequenceMatcher(None, col, name).ratio()
        if ratio >= 0.75:
            best = max(best, 0.8 * ratio)
    return best, ("name resembles" if best else "")


def _degrees(stats: _Stats, limit: float) -> float:
    """Share-based score for coordinates in degrees within ±limit, not all integers."""
    if stats.numeric < 0.9 or not len(stats.numbers):
        return 0.0
    inside = float((np.abs(stats.numbers) <= limit).mean())
    fractional = float((stats.numbers != np.floor(stats.numbers)).mean())
    return inside if fractional > 0.5 and stats.distinct > 1 else 0.0


def _text_like(stats: _Stats) -> bool:
    return stats.numeric < 0.5 and stats.timestamp_share < 0.5 and stats.location_share < 0.5


def _timestamp_check(stats: _Stats) -> tuple[float, str]:
    if stats.timestamp_format is None:
        return 0.0, "no known timestamp format reads the values"
    share = stats.timestamp_share if stats.timestamp_share >= 0.9 else 0.0
    return share, f"{stats.timestamp_share:.0%} parse as {stats.timestamp_format}"


def _id_check(stats: _Stats) -> tuple[float, str]:
    if stats.timestamp_share >= 0.9 or stats.location_share >= 0.5:
        return 0.0, "values are timestamps or points, not ids"
    score = 1.0 if stats.unique >= 0.999 else 0.5 if stats.unique >= 0.95 else 0.0
    return score * min(1.0, stats.filled / 0.99), f"{stats.unique:.1%} of values unique"


def _axis_check(limit: float) -> Callable[[_Stats], tuple[float, str]]:
    """Score coordinates within ±limit; latitudes within ±180 only score half (swapped?)."""

    def check(stats: _Stats) -> tuple[float, str]:
        score = _degrees(stats, limit)
        if score >= 0.9:
            return score, f"{score:.0%} numbers within ±{limit:g}"
        if _degrees(stats, 180.0) >= 0.9:
            return 0.5, f"numbers beyond ±{limit:g} but within ±180"
        return 0.0, "not degrees"

    return check


def _address_check(stats: _Stats) -> tuple[float, str]:
    fits = stats.address_share >= 0.5 and stats.unique >= 0.1
    return (stats.address_share if fits else 0.0), "street-number-and-name text"


_CHECKS: Final[Mapping[str, Callable[[_Stats], tuple[float, str]]]] = {
    **dict.fromkeys(TIMESTAMP_COLUMNS, _timestamp_check),
    "service_request_id": _id_check,
    "lat": _axis_check(90.0),
    "long": _axis_check(180.0),
    "location": lambda s: (s.location_share, f"{s.location_share:.0%} read as points"),
    "zipcode": lambda s: (s.zip_share, f"{s.zip_share:.0%} look like ZIP codes"),
    "address": _address_check,
}


def _text_check(target: str, stats: _Stats) -> tuple[float, str]:
    """Score a text column for a vocabulary (status, agency ...) or free-text target."""
    distinct = f"{stats.distinct} distinct values"
    if target == "status_raw":
        return (1.0 if stats.distinct <= 15 else 0.5 if stats.distinct <= 30 else 0.0), distinct
    if target in ("agency_responsible", "source"):
        return (0.8 if stats.distinct <= 60 else 0.2), distinct
    if target in ("service_name", "service_code"):
        fits = stats.distinct >= 2 and stats.unique <= 0.5
        return (0.8 if fits else 0.2), distinct
    long_text = stats.mean_length >= 20
    return (0.8 if long_text else 0.4), f"mean length {stats.mean_length:.0f}"


def _value_score(target: str, stats: _Stats) -> tuple[float, str]:
    """Return how well the values fit ``target`` (0 to 1) and why."""
    if stats.filled == 0:
        return 0.0, "column is empty in the sample"
    check = _CHECKS.get(target)
    if check is not None:
        return check(stats)
    if not _text_like(stats):
        return 0.0, "values are numbers, timestamps or points"
    return _text_check(target, stats)


def _score_all(raw: pd.DataFrame, stats: Mapping[str, _Stats]) -> list[ColumnGuess]:
    known = _known_names()
    guesses = []
    for column in raw.columns:
        for target in TARGETS:
            name, name_why = _name_score(str(column), known[target])
            value, value_why = _value_score(target, stats[column])
            confidence = 0.55 * name + 0.45 * value
            if target in _STRICT and value == 0.0:
                confidence = min(confidence, 0.3)
            if confidence > 0:
                reasons = tuple(r for r in (name_why, value_why) if r)
                guesses.append(
                    ColumnGuess(target, str(column), round(confidence, 3), name, value, reasons)
                )
    return guesses


def _assign(
    guesses: list[ColumnGuess], stats: Mapping[str, _Stats]
) -> tuple[dict[str, ColumnGuess], list[str]]:
    """Pick one column per target and one target per column, best confidence first.

    Ties go to the more complete column (e.g. of two timestamp columns both
    named like an update time, the one filled in more rows).
    """
    chosen: dict[str, ColumnGuess] = {}
    used: set[str] = set()
    questions: list[str] = []
    ranked = sorted(
        guesses, key=lambda g: (-g.confidence, -stats[g.source].filled, g.target, g.source)
    )
    for guess in ranked:
        if guess.target in chosen or guess.source in used:
            continue
        # a required column is proposed on weak evidence too: by its values alone, or
        # by its name when the values fail their check (then the question says why)
        weak = guess.confidence > 0.3 or guess.name_score >= 0.7
        if guess.confidence < PLAUSIBLE and not (guess.target in REQUIRED and weak):
            continue
        chosen[guess.target] = guess
        used.add(guess.source)
    for target, guess in chosen.items():
        rivals = [
            g
            for g in ranked
            if g.target == target
            and g.source != guess.source
            and g.source not in used
            and g.confidence >= guess.confidence - 0.1
            and g.confidence >= PLAUSIBLE
        ]
        if rivals:
            names = ", ".join(repr(r.source) for r in rivals[:3])
            questions.append(
                f"{target}: proposed {guess.source!r} ({guess.confidence:.2f}); "
                f"{names} fit almost as well"
            )
        elif guess.confidence < CONFIDENT:
            questions.append(
                f"{target}: is {guess.source!r} right? (confidence {guess.confidence:.2f}: "
                f"{'; '.join(guess.reasons)})"
            )
    return {t: chosen[t] for t in TARGETS if t in chosen}, questions


def _fix_axes(
    mapping: dict[str, ColumnGuess], stats: Mapping[str, _Stats]
) -> dict[str, ColumnGuess]:
    """Swap lat and long when only the "long" column stays within ±90."""
    if "lat" not in mapping or "long" not in mapping:
        return mapping
    lat, lon = mapping["lat"], mapping["long"]
    if _degrees(stats[lat.source], 90.0) < 0.9 <= _degrees(stats[lon.source], 90.0):
        conf = min(lat.confidence, lon.confidence)
        out = dict(mapping)
        out["lat"] = ColumnGuess("lat", lon.source, conf, 0.0, 1.0, ("values within ±90",))
        out["long"] = ColumnGuess("long", lat.source, conf, 0.0, 1.0, ("values beyond ±90",))
        return out
    return mapping


# --------------------------------------------------------------------------- vocabulary


def _status_vocabulary(
    raw: pd.DataFrame, mapping: Mapping[str, ColumnGuess]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Split the status values into open, closed and unclassified (case-folded)."""
    if "status_raw" not in mapping:
        return (), (), ()
    status = raw[mapping["status_raw"].source].astype("string").str.strip().str.casefold()
    status = status.str.replace(_TRAILING_NOTE, "", regex=True)
    closed_col = mapping.get("closed_datetime")
    has_close = raw[closed_col.source].fillna("").str.strip().ne("") if closed_col else None
    opened: list[str] = []
    closed: list[str] = []
    unknown: list[str] = []
    for value in sorted(v for v in status.dropna().unique() if v):
        words = set(re.findall(r"[a-z]+", value))
        if any(w in value if " " in w else w in words for w in _CLOSED_WORDS):
            closed.append(value)
        elif any(w in words for w in _OPEN_WORDS):
            opened.append(value)
        elif has_close is not None:
            share = float(has_close[status == value].mean())
            (closed if share >= 0.9 else opened if share <= 0.1 else unknown).append(value)
        else:
            unknown.append(value)
    return tuple(opened), tuple(closed), tuple(unknown)


def _kind_patterns(raw: pd.DataFrame, mapping: Mapping[str, ColumnGuess], kind: str) -> list[str]:
    """Return the duplicate or transfer words present in the status or notes values."""
    text = pd.Series(dtype="string")
    for target in ("status_raw", "status_notes"):
        if target in mapping:
            text = pd.concat([text, raw[mapping[target].source].astype("string")])
    folded = text.dropna().str.casefold()
    return [
        p
        for p in _KIND_PATTERNS[kind]
        if folded.str.contains(word_start_regex([p]), regex=True).any()
    ]


def _timestamp_formats(
    raw: pd.DataFrame, mapping: Mapping[str, ColumnGuess], stats: Mapping[str, _Stats]
) -> tuple[tuple[str, ...], bool, list[str]]:
    """Return the timestamp formats, whether the values are instants, and questions."""
    formats: list[str] = []
    offset = False
    questions: list[str] = []
    for target in TIMESTAMP_COLUMNS:
        if target not in mapping:
            continue
        column = mapping[target].source
        found = stats[column]
        if found.timestamp_format is None:
            continue
        text = _nonempty(raw[column])
        for day_first, month_first in _DAY_FIRST.items():
            if day_first in found.timestamp_ties and month_first in found.timestamp_ties:
                questions.append(
                    f"{column}: every value reads both as day/month and as month/day "
                    f"({text.iloc[0]!r}); keep {month_first!r} or change it to {day_first!r}"
                )
        if found.timestamp_format not in formats:
            formats.append(found.timestamp_format)
        epoch = found.timestamp_format.startswith("epoch")
        offset = offset or epoch or bool(text.str.contains(_OFFSET, regex=True).mean() > 0.5)
    return tuple(formats), offset, questions


def _extent(
    raw: pd.DataFrame, mapping: Mapping[str, ColumnGuess], points: pd.DataFrame | None
) -> tuple[float, float, float, float] | None:
    """Return the 1st-99th percentile box of the sample's points in degrees, if any."""
    if "lat" in mapping and "long" in mapping:
        lat = pd.to_numeric(raw[mapping["lat"].source], errors="coerce")
        lon = pd.to_numeric(raw[mapping["long"].source], errors="coerce")
    elif "location" in mapping:
        lat, lon = parse_location(raw[mapping["location"].source])
    elif points is not None:
        lat, lon = points["lat"], points["long"]
    else:
        return None
    ok = lat.between(-90, 90) & lon.between(-180, 180) & ~((lat == 0) & (lon == 0))
    if ok.sum() < 2:
        return None
    west, east = np.percentile(lon[ok].to_numpy(dtype=float), [1, 99])
    south, north = np.percentile(lat[ok].to_numpy(dtype=float), [1, 99])
    return (float(west), float(south), float(east), float(north))


# --------------------------------------------------------------------------- entry point


def read_sample(path: str | Path, *, rows: int) -> tuple[str, pd.DataFrame, pd.DataFrame | None]:
    """Read the first ``rows`` rows of an export as source-column strings.

    Parameters
    ----------
    path : str or pathlib.Path
        A file in any format of :data:`geo311.io.sniff.FORMATS`.
    rows : int
        How many rows to keep.

    Returns
    -------
    (format, raw, points)
        The sniffed format, the source columns as strings, and the file's own
        points in EPSG:4326 (None when the format carries no geometry).

    Raises
    ------
    InputFileError
        The file is missing, unreadable, of no supported format, or has no rows.
    """
    path = Path(path)
    fmt = sniff_format(path)
    chunk = next(iter(read_chunks(path, fmt, chunksize=rows, encoding=None)))
    raw = chunk.raw.iloc[:rows]
    points = chunk.points.iloc[:rows] if chunk.points is not None else None
    if raw.empty:
        msg = f"{path}: the file has a header but no rows; use a file with data"
        raise InputFileError(msg)
    return fmt, raw, points


def _questions(
    mapping: Mapping[str, ColumnGuess],
    *,
    offset: bool,
    timezone: str | None,
    unclassified: Sequence[str],
    geometry: bool,
) -> list[str]:
    out = [f"{t}: no column found; which one holds it?" for t in REQUIRED if t not in mapping]
    if timezone is None and not offset:
        out.append(
            "timezone: the timestamps carry no UTC offset; set the city's IANA zone "
            "(written as UTC for now), e.g. 'America/Chicago'"
        )
    if "status_raw" not in mapping:
        out.append("status: no status column found; is a request's state kept anywhere?")
    if unclassified:
        out.append(f"status: are {list(unclassified)} open or closed?")
    if not geometry and not ({"lat", "long"} <= set(mapping) or "location" in mapping):
        out.append(
            "coordinates: no latitude/longitude or point column found; for x/y in a projected "
            "CRS, name the columns and set [coordinates] crs"
        )
    return out


def infer_profile(
    path: str | Path,
    *,
    city: str | None = None,
    timezone: str | None = None,
    sample_rows: int = 5000,
) -> ProfileProposal:
    """Propose a schema profile for an unknown 311 export from its header and a sample.

    Parameters
    ----------
    path : str or pathlib.Path
        A file in any format of :data:`geo311.io.sniff.FORMATS` (CSV incl.
        ``.gz``, GeoJSON, Open311 JSON/XML, ArcGIS JSON, Parquet).
    city : str, optional
        The profile's name; by default the file's stem.
    timezone : str, optional
        The city's IANA zone; when omitted and the timestamps carry no UTC
        offset, the profile says ``"UTC"`` and a question asks for the zone.
    sample_rows : int, default 5000
        Rows read from the start of the file.

    Returns
    -------
    ProfileProposal
        The mapping with confidences, timestamp formats, status vocabulary and
        open questions; ``to_toml()`` writes it as a profile.

    Raises
    ------
    InputFileError
        The file is missing, unreadable, of no supported format, or has no rows.
    OptionError
        ``timezone`` is not an IANA zone, or ``sample_rows`` is below 1.
    """
    if sample_rows < 1:
        msg = f"sample_rows must be at least 1, got {sample_rows}"
        raise OptionError(msg)
    zone = check_timezone(timezone) if timezone is not None else None
    path = Path(path)
    fmt, raw, points = read_sample(path, rows=sample_rows)
    geometry = points is not None and bool(points["lat"].notna().any())
    stats = {c: _stats(raw[c], len(raw)) for c in raw.columns}
    mapping, questions = _assign(_score_all(raw, stats), stats)
    mapping = _fix_axes(mapping, stats)
    formats, offset, ts_questions = _timestamp_formats(raw, mapping, stats)
    opened, closed, unknown = _status_vocabulary(raw, mapping)
    questions += ts_questions
    questions += _questions(
        mapping, offset=offset, timezone=zone, unclassified=unknown, geometry=geometry
    )
    header = tuple(str(c) for c in raw.columns)
    matches = [p.name for p in list_profiles().values() if p.matches(header)]
    name = city or re.sub(r"[^a-z0-9]+", "_", path.name.split(".")[0].casefold()).strip("_")
    proposal = ProfileProposal(
        name=name or "city",
        path=str(path),
        format=fmt,
        rows_sampled=len(raw),
        header=header,
        mapping=mapping,
        timestamp_formats=formats,
        timestamps_have_offset=offset,
        timezone=zone or "UTC",
        status_open=opened,
        status_closed=closed,
        status_unclassified=unknown,
        duplicate_patterns=tuple(_kind_patterns(raw, mapping, "duplicate")),
        transfer_patterns=tuple(_kind_patterns(raw, mapping, "transfer")),
        geometry_points=geometry,
        extent=_extent(raw, mapping, points),
        builtin_match=matches[0] if len(matches) == 1 else None,
        questions=tuple(questions),
    )
    log.info("%s: proposed %d of %d columns; %d questions", path, len(mapping), len(header),
             len(questions))  # fmt: skip
    return proposal

"""Apply a schema profile to a raw source frame: map, type and parse.

This stage is row-wise: it never drops or reorders rows, so it can run chunk
by chunk.  Cross-row checks (placeholders, duplicate ids) live in
:mod:`geo311.clean`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from geo311._flags import add_flags
from geo311.profiles import MAPPABLE, TIMESTAMP_COLUMNS, Profile
from geo311.schema import CANONICAL_COLUMNS

__all__ = ["NormalizeResult", "normalize_frame", "parse_location", "parse_timestamps"]

log = logging.getLogger(__name__)

TS_DTYPE = "datetime64[us, UTC]"
_NUM = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
_WKT_POINT = re.compile(rf"^\s*POINT\s*\(\s*({_NUM})\s+({_NUM})\s*\)\s*$", re.IGNORECASE)
_LATLON_PAIR = re.compile(rf"^\s*\(?\s*({_NUM})\s*,\s*({_NUM})\s*\)?\s*$")
_HAS_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"
# Plausible epoch ranges (1973..2100) so that e.g. 20190101 is not read as ms.
_EPOCH_RANGE = {"epoch_ms": (1e11, 4.1e12, "ms"), "epoch_s": (1e8, 4.1e9, "s")}


@dataclass
class TimestampParse:
    """Parsed instants plus the rows that needed care."""

    values: pd.Series
    unparsed: np.ndarray
    ambiguous: np.ndarray
    nonexistent: np.ndarray


def _localize(naive: pd.Series, timezone: str) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Localize naive wall times; flag autumn-repeated and spring-skipped times."""
    strict = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    trouble = (strict.isna() & naive.notna()).to_numpy()
    ambiguous = np.zeros(len(naive), dtype=bool)
    nonexistent = np.zeros(len(naive), dtype=bool)
    if trouble.any():
        sub = naive[trouble]
        # Repeated autumn hour: read as the first occurrence (daylight time).
        # Skipped spring hour: shifted forward to the first valid instant.
        loose = sub.dt.tz_localize(
            timezone, ambiguous=np.ones(len(sub), dtype=bool), nonexistent="shift_forward"
        )
        shifted = (loose.dt.tz_localize(None) != sub).to_numpy()
        nonexistent[trouble] = shifted
        ambiguous[trouble] = ~shifted
        strict = strict.copy()
        strict[trouble] = loose
    return strict.dt.tz_convert("UTC"), ambiguous, nonexistent


def _parse_with(
    text: pd.Series, fmt: str, timezone: str
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parse ``text`` with one format; return UTC values (NaT where it fails)."""
    n = len(text)
    none = np.zeros(n, dtype=bool)
    if fmt in _EPOCH_RANGE:
        low, high, unit = _EPOCH_RANGE[fmt]
        num = pd.to_numeric(text, errors="coerce").astype("float64")
        num = num.where((num.abs() >= low) & (num.abs() <= high))
        out = pd.to_datetime(num, unit=unit, utc=True, errors="coerce")
        return out.astype(TS_DTYPE), none, none
    if fmt == "ISO8601":
        aware_rows = text.str.contains(_HAS_OFFSET, regex=True).fillna(False).to_numpy(bool)
        out = pd.Series(pd.NaT, index=text.index, dtype=TS_DTYPE)
        amb = none.copy()
        nonex = none.copy()
        if aware_rows.any():
            aware = pd.to_datetime(text[aware_rows], format="ISO8601", utc=True, errors="coerce")
            out[aware_rows] = aware.astype(TS_DTYPE)
        if (~aware_rows).any():
            naive = pd.to_datetime(text[~aware_rows], format="ISO8601", errors="coerce")
            local, a, b = _localize(naive, timezone)
            out[~aware_rows] = local.astype(TS_DTYPE)
            amb[~aware_rows] = a
            nonex[~aware_rows] = b
        return out, amb, nonex
    if "%z" in fmt or "%Z" in fmt:
        out = pd.to_datetime(text, format=fmt, utc=True, errors="coerce")
        return out.astype(TS_DTYPE), none, none
    naive = pd.to_datetime(text, format=fmt, errors="coerce")
    local, amb, nonex = _localize(naive, timezone)
    return local.astype(TS_DTYPE), amb, nonex


def parse_timestamps(
    values: pd.Series, *, formats: tuple[str, ...], timezone: str, naive: str = "local"
) -> TimestampParse:
    """Parse timestamp strings to UTC instants with a list of candidate formats.

    The format that parses most of the first 500 values is applied to the whole
    column first; rows it cannot read are retried with the other formats in
    order.  Values without a UTC offset are wall times in ``timezone`` (or UTC
    when ``naive == "UTC"``).

    Parameters
    ----------
    values : pandas.Series
        Raw values (strings, or numbers for epoch formats).
    formats : tuple of str
        strptime patterns, ``"ISO8601"``, ``"epoch_ms"`` or ``"epoch_s"``.
    timezone : str
        IANA zone for naive wall times.
    naive : {"local", "UTC"}
        How to read values that carry no offset.

    Returns
    -------
    TimestampParse
        ``values`` as ``datetime64[us, UTC]`` plus boolean arrays of unparsed,
        ambiguous (autumn repeated hour) and non-existent (spring gap) rows.

    Examples
    --------
    >>> import pandas as pd
    >>> out = parse_timestamps(pd.Series(["10/21/2019 11:49:49 AM"]),
    ...                        formats=("%m/%d/%Y %I:%M:%S %p",), timezone="America/New_York")
    >>> str(out.values.iloc[0])
    '2019-10-21 15:49:49+00:00'
    """
    zone = "UTC" if naive == "UTC" else timezone
    text = values.astype("string").str.strip()
    text = text.mask(text == "")
    present = text.notna().to_numpy()
    result = pd.Series(pd.NaT, index=values.index, dtype=TS_DTYPE)
    ambiguous = np.zeros(len(values), dtype=bool)
    nonexistent = np.zeros(len(values), dtype=bool)
    remaining = present.copy()
    if present.any():
        sample = text[present].iloc[:500]
        scores = [int(_parse_with(sample, f, zone)[0].notna().sum()) for f in formats]
        order = sorted(range(len(formats)), key=lambda i: -scores[i])
        for i in order:
            if not remaining.any():
                break
            parsed, amb, nonex = _parse_with(text[remaining], formats[i], zone)
            ok = parsed.notna().to_numpy()
            rows = np.flatnonzero(remaining)[ok]
            result.iloc[rows] = parsed.to_numpy()[ok]
            ambiguous[rows] = amb[ok]
            nonexistent[rows] = nonex[ok]
            remaining[rows] = False
    return TimestampParse(result, remaining, ambiguous, nonexistent)


def parse_location(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Read points from a location column: ``POINT (lon lat)`` WKT or ``(lat, lon)``.

    Parameters
    ----------
    values : pandas.Series
        Strings such as ``"POINT (-118.29 34.06)"`` or ``"(39.31, -76.65)"``.

    Returns
    -------
    (lat, long) : tuple of pandas.Series
        Floats, NaN where the value is empty or not a recognised point.

    Examples
    --------
    >>> import pandas as pd
    >>> lat, lon = parse_location(pd.Series(["POINT (-118.5 34.2)", "(39.3, -76.6)", "x"]))
    >>> lat.tolist()[:2], lon.tolist()[:2]
    ([34.2, 39.3], [-118.5, -76.6])
    """
    text = values.astype("string")
    wkt = text.str.extract(_WKT_POINT).astype("float64")
    pair = text.str.extract(_LATLON_PAIR).astype("float64")
    lat = wkt[1].fillna(pair[0])
    lon = wkt[0].fillna(pair[1])
    return lat.rename("lat"), lon.rename("long")


@dataclass
class NormalizeResult:
    """A canonical frame (not yet cleaned) and the counts of what was flagged."""

    frame: pd.DataFrame
    flagged: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)


def _clean_text(series: pd.Series) -> pd.Series:
    text = series.astype("string").str.strip()
    return text.mask(text == "")


def _contains_any(text: pd.Series, patterns: tuple[str, ...]) -> np.ndarray:
    if not patterns:
        return np.zeros(len(text), dtype=bool)
    regex = "|".join(re.escape(p) for p in patterns)
    hit = text.str.casefold().str.contains(regex, regex=True)
    return hit.fillna(False).to_numpy(dtype=bool)


def _coordinates(
    raw: pd.DataFrame, mapped: dict[str, str], profile: Profile, points: pd.DataFrame | None
) -> tuple[pd.Series, pd.Series]:
    """Return (lat, long) in EPSG:4326 from columns, a location column, or geometry."""
    index = raw.index
    lat = pd.Series(np.nan, index=index)
    lon = pd.Series(np.nan, index=index)
    if "lat" in mapped and "long" in mapped:
        y = pd.to_numeric(_clean_text(raw[mapped["lat"]]), errors="coerce").astype("float64")
        x = pd.to_numeric(_clean_text(raw[mapped["long"]]), errors="coerce").astype("float64")
        crs = CRS.from_user_input(profile.crs)
        if not crs.equals(CRS.from_epsg(4326)):
            fwd = Transformer.from_crs(crs, 4326, always_xy=True)
            ok = (x.notna() & y.notna()).to_numpy()
            lon_v, lat_v = fwd.transform(x.to_numpy()[ok], y.to_numpy()[ok])
            x = pd.Series(np.nan, index=index)
            y = pd.Series(np.nan, index=index)
            x[ok] = lon_v
            y[ok] = lat_v
        lat, lon = y, x
    if "location" in mapped:
        loc_lat, loc_lon = parse_location(raw[mapped["location"]])
        fill = (lat.isna() | lon.isna()).to_numpy()
        lat = lat.where(~fill, loc_lat)
        lon = lon.where(~fill, loc_lon)
    if points is not None:
        fill = (lat.isna() | lon.isna()).to_numpy()
        lat = lat.where(~fill, points["lat"].to_numpy())
        lon = lon.where(~fill, points["long"].to_numpy())
    return lat.astype("float64"), lon.astype("float64")


def normalize_frame(
    raw: pd.DataFrame,
    *,
    profile: Profile,
    input_file: str = "<frame>",
    first_row: int = 1,
    timezone: str | None = None,
    points: pd.DataFrame | None = None,
) -> NormalizeResult:
    """Map a raw frame onto the canonical columns and parse its values.

    Parameters
    ----------
    raw : pandas.DataFrame
        Source columns as read (any dtype; they are kept as ``raw_*`` strings).
    profile : Profile
        The schema profile describing ``raw``.
    input_file : str
        Name recorded in ``input_file`` and in messages.
    first_row : int
        Row number (1-based) of ``raw``'s first row within its file.
    timezone : str, optional
        Override the profile's time zone (e.g. for a generic Open311 source).
    points : pandas.DataFrame, optional
        ``lat``/``long`` columns in EPSG:4326 from the file's own geometry, used
        where the mapped coordinate columns are empty.

    Returns
    -------
    NormalizeResult
        The canonical frame with ``coord_quality`` still unset ('ok' where a
        point exists, 'missing' otherwise) and the flag counts of this stage.
    """
    zone = timezone or profile.timezone
    mapped = profile.resolve(raw.columns, source=input_file)
    index = pd.RangeIndex(len(raw))
    raw = raw.set_axis(index, axis=0)
    out = pd.DataFrame(index=index)
    flags = pd.Series("", index=index, dtype="string")
    examples: dict[str, list[str]] = {}
    for name in MAPPABLE:
        if name in TIMESTAMP_COLUMNS:
            continue
        source = mapped.get(name)
        out[name] = (
            _clean_text(raw[source])
            if source is not None
            else pd.Series(pd.NA, index=index, dtype="string")
        )
    masks: dict[str, np.ndarray] = {}
    ambiguous = np.zeros(len(raw), dtype=bool)
    nonexistent = np.zeros(len(raw), dtype=bool)
    for name in TIMESTAMP_COLUMNS:
        source = mapped.get(name)
        if source is None:
            out[name] = pd.Series(pd.NaT, index=index, dtype=TS_DTYPE)
            continue
        parsed = parse_timestamps(
            raw[source], formats=profile.timestamp_formats, timezone=zone, naive=profile.naive
        )
        out[name] = parsed.values
        masks[f"unparsed_{name}"] = parsed.unparsed
        ambiguous |= parsed.ambiguous
        nonexistent |= parsed.nonexistent
        if parsed.unparsed.any():
            bad = raw[source][parsed.unparsed].astype("string")
            examples[f"unparsed_{name}"] = list(dict.fromkeys(bad.tolist()))[:5]
    masks["ambiguous_local_time"] = ambiguous
    masks["nonexistent_local_time"] = nonexistent
    # Status: map the vocabulary; infer from the close time only when raw is empty.
    status_raw = out["status_raw"]
    folded = status_raw.str.casefold()
    base = folded.str.replace(r"\s*\(.*\)\s*$", "", regex=True)
    is_open = (folded.isin(profile.status_open) | base.isin(profile.status_open)).to_numpy(bool)
    is_closed = (folded.isin(profile.status_closed) | base.isin(profile.status_closed)).to_numpy(
        bool
    )
    empty = status_raw.isna().to_numpy()
    unknown = ~is_open & ~is_closed & ~empty
    status = np.full(len(raw), None, dtype=object)
    status[is_open] = "open"
    status[is_closed] = "closed"
    status[empty] = np.where(out["closed_datetime"].notna().to_numpy()[empty], "closed", "open")
    out["status"] = pd.Series(status, index=index, dtype="string")
    masks["unknown_status"] = unknown
    if unknown.any():
        examples["unknown_status"] = list(dict.fromkeys(status_raw[unknown].tolist()))[:5]
    if "status_raw" in mapped:
        masks["status_inferred_from_close_time"] = empty
    lat, lon = _coordinates(raw, mapped, profile, points)
    out["lat"] = lat
    out["long"] = lon
    missing = (lat.isna() | lon.isna()).to_numpy()
    out["coord_quality"] = pd.Series(np.where(missing, "missing", "ok"), dtype="string")
    outcome_text = out["status_raw"].fillna("") + " " + out["status_notes"].fillna("")
    out["is_duplicate"] = _contains_any(outcome_text, profile.duplicate_patterns)
    out["is_transfer"] = _contains_any(outcome_text, profile.transfer_patterns)
    proactive = _contains_any(out["service_name"], profile.proactive_service_names)
    if profile.proactive_sources:
        proactive |= out["source"].str.casefold().isin(profile.proactive_sources).to_numpy(bool)
    out["is_proactive"] = proactive
    masks["missing_service_request_id"] = out["service_request_id"].isna().to_numpy()
    out["qa_flags"] = add_flags(flags, masks)
    out["input_file"] = pd.Series(input_file, index=index, dtype="string")
    out["input_row"] = np.arange(first_row, first_row + len(raw), dtype="int64")
    raw_cols = {f"raw_{c}": raw[c].astype("string") for c in raw.columns}
    out = pd.concat([out[[c.name for c in CANONICAL_COLUMNS]], pd.DataFrame(raw_cols)], axis=1)
    flagged = {k: int(v.sum()) for k, v in masks.items() if v.any()}
    return NormalizeResult(out, flagged, examples)

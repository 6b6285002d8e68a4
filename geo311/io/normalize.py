"""Apply a schema profile to a raw source frame: map, type and parse.

This stage is row-wise: it never drops or reorders rows, so it can run chunk
by chunk.  Cross-row checks (placeholders, duplicate ids) live in
:mod:`geo311.clean.quality`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyproj import CRS, Transformer

from geo311._flags import add_flags
from geo311.io.closures import derive_close_times
from geo311.io.profiles import MAPPABLE, REQUIRED, TIMESTAMP_COLUMNS, Profile
from geo311.io.schema import CANONICAL_COLUMNS
from geo311.io.text import arrow_strings, arrow_text, strip_text
from geo311.io.timestamps import TS_DTYPE, parse_timestamps
from geo311.io.values import check_timezone

__all__ = ["NormalizeResult", "normalize_frame", "parse_location", "word_start_regex"]

log = logging.getLogger(__name__)

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_WKT_POINT = re.compile(rf"^\s*POINT\s*\(\s*({_NUM})\s+({_NUM})\s*\)\s*$", re.IGNORECASE)
_LATLON_PAIR = re.compile(rf"^\s*\(?\s*({_NUM})\s*,\s*({_NUM})\s*\)?\s*$")

Flags = npt.NDArray[np.bool_]


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


def _on_distinct(series: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply ``func`` to the distinct values of ``series`` and spread the result back.

    311 columns repeat a few values millions of times (statuses, types,
    channels); string work on the distinct values only is what keeps ingest
    fast.  Missing values stay missing.
    """
    codes, distinct = pd.factorize(series, use_na_sentinel=True)
    mapped = func(pd.Series(distinct, dtype="string"))
    # one more entry for code -1: None as the result's dtype holds it (NA, or False)
    missing = pd.Series([None], dtype=object).astype(mapped.dtype)
    table = pd.concat([mapped, missing], ignore_index=True).array
    return pd.Series(table.take(codes), index=series.index, dtype=mapped.dtype)


def _clean_text(series: pd.Series) -> pd.Series:
    """Return a column as stripped Arrow-backed strings, '' as missing.

    Python-backed strings only where Arrow cannot hold the text (e.g. lone
    surrogates).
    """
    if series.dtype == "string[pyarrow]":  # as read from CSV
        return strip_text(series)

    return arrow_strings(_on_distinct(series.astype("string"), strip_text))


#: Plain decimals (sign, digits, one point; no exponent): Arrow reads them as the
#: correctly rounded double.  At most 300 characters, so none overflows.
_PLAIN_DECIMAL = r"^[-+]?(?:[0-9]+[.]?[0-9]*|[.][0-9]+)$"
_PLAIN_MAX_CHARS = 300


def _numbers(series: pd.Series) -> npt.NDArray[np.float64]:
    """Return a column as floats, NaN where empty or not a number.

    Plain decimals (:data:`_PLAIN_DECIMAL`, the usual coordinates) are cast
    by Arrow, whose reading is the correctly rounded double -- the value
    Python's ``float`` gives; :func:`pandas.to_numeric` is off by one unit in
    the last place for many decimals of 16 or more digits, as exports write
    coordinates.  Any other text (exponents, ``inf``, other digits) goes
    through :func:`pandas.to_numeric`.
    """
    text = _clean_text(series)
    out = np.full(len(text), np.nan)
    rest = text.notna().to_numpy(dtype=bool)
    arr = arrow_text(text) if text.dtype == "string[pyarrow]" else None
    if arr is not None:
        short = pc.less_equal(pc.binary_length(arr), _PLAIN_MAX_CHARS)
        plain = pc.fill_null(pc.and_(short, pc.match_substring_regex(arr, _PLAIN_DECIMAL)), False)
        fast = plain.to_numpy(zero_copy_only=False)
        values = pc.cast(pc.if_else(plain, arr, pa.scalar("0")), pa.float64())
        out[fast] = values.to_numpy(zero_copy_only=False)[fast]
        rest &= ~fast
    if rest.any():
        num = pd.to_numeric(text[rest], errors="coerce")
        out[rest] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _coordinates(
    raw: pd.DataFrame, mapped: dict[str, str], profile: Profile, points: pd.DataFrame | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return (lat, long) in EPSG:4326 from columns, a location column, or geometry.

    The mapped ``lat``/``long`` columns win; the location column and then the
    file's own geometry only fill rows where either of them is missing.  The
    columns are in ``profile.crs`` (``long`` is x); the location column and
    ``points`` are always in degrees.
    """
    n = len(raw)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    if "lat" in mapped and "long" in mapped:
        lat = _numbers(raw[mapped["lat"]])
        lon = _numbers(raw[mapped["long"]])
        crs = CRS.from_user_input(profile.crs)
        if not crs.equals(CRS.from_epsg(4326)):
            ok = ~np.isnan(lat) & ~np.isnan(lon)
            fwd = Transformer.from_crs(crs, 4326, always_xy=True)
            x, y = fwd.transform(lon[ok], lat[ok])
            lon = np.full(n, np.nan)
            lat = np.full(n, np.nan)
            lon[ok] = x
            lat[ok] = y
    if "location" in mapped:
        # Parse the location text only where the coordinate columns are empty.
        fill = np.isnan(lat) | np.isnan(lon)
        if fill.any():
            loc_lat, loc_lon = parse_location(raw[mapped["location"]][fill])
            lat = lat.copy()
            lon = lon.copy()
            lat[fill] = loc_lat.to_numpy(dtype=np.float64, na_value=np.nan)
            lon[fill] = loc_lon.to_numpy(dtype=np.float64, na_value=np.nan)
    if points is not None:
        fill = np.isnan(lat) | np.isnan(lon)
        lat = np.where(fill, points["lat"].to_numpy(dtype=np.float64, na_value=np.nan), lat)
        lon = np.where(fill, points["long"].to_numpy(dtype=np.float64, na_value=np.nan), lon)
    return lat, lon


def _text_columns(raw: pd.DataFrame, mapped: dict[str, str]) -> pd.DataFrame:
    """Return the mapped text columns, stripped, '' as missing; unmapped ones all missing."""
    out = pd.DataFrame(index=raw.index)
    for name in MAPPABLE:
        if name in TIMESTAMP_COLUMNS:
            continue
        source = mapped.get(name)
        out[name] = (
            _clean_text(raw[source])
            if source is not None
            else pd.Series(pd.NA, index=raw.index, dtype="string[pyarrow]")
        )
    return out


def _timestamp_columns(
    out: pd.DataFrame,
    raw: pd.DataFrame,
    mapped: dict[str, str],
    profile: Profile,
    zone: str | pd.Series,
) -> tuple[dict[str, Flags], dict[str, list[str]]]:
    """Add the parsed timestamp columns to ``out``; return their flags and examples."""
    masks: dict[str, Flags] = {}
    examples: dict[str, list[str]] = {}
    ambiguous = np.zeros(len(raw), dtype=bool)
    nonexistent = np.zeros(len(raw), dtype=bool)
    for name in TIMESTAMP_COLUMNS:
        source = mapped.get(name)
        if source is None:
            out[name] = pd.Series(pd.NaT, index=raw.index, dtype=TS_DTYPE)
            continue
        parsed = parse_timestamps(
            raw[source], formats=profile.timestamp_formats, timezone=zone, naive=profile.naive
        )
        out[name] = parsed.values
        masks[f"unparsed_{name}"] = parsed.unparsed
        if name in REQUIRED:  # empty where it is required: kept, flagged and counted
            masks[f"missing_{name}"] = parsed.values.isna().to_numpy(dtype=bool) & ~parsed.unparsed
        ambiguous |= parsed.ambiguous
        nonexistent |= parsed.nonexistent
        if parsed.unparsed.any():
            bad = raw[source].loc[parsed.unparsed].astype("string")
            examples[f"unparsed_{name}"] = _distinct(bad)
    masks["ambiguous_local_time"] = ambiguous
    masks["nonexistent_local_time"] = nonexistent
    return masks, examples


def _distinct(values: pd.Series) -> list[str]:
    """Return up to five distinct values, in order of first appearance."""
    return [str(v) for v in dict.fromkeys(values.tolist())][:5]


def _status_words(status_raw: pd.Series, profile: Profile) -> tuple[Flags, Flags]:
    """Return the rows whose raw status is an open word and those whose is a closed word.

    A trailing parenthesised qualifier is ignored ("Open (Duplicate)" is open).
    """

    def among(words: tuple[str, ...]) -> Flags:
        def test(values: pd.Series) -> pd.Series:
            folded = values.str.casefold()
            base = folded.str.replace(r"\s*\(.*\)\s*$", "", regex=True)
            return folded.isin(words) | base.isin(words)

        return _on_distinct(status_raw, test).fillna(False).to_numpy(dtype=bool)

    return among(profile.status_open), among(profile.status_closed)


def _status(
    out: pd.DataFrame, is_open: Flags, is_closed: Flags, *, has_status: bool
) -> tuple[pd.Series, dict[str, Flags], dict[str, list[str]]]:
    """Map raw statuses to open/closed; infer it from the close time where raw is empty.

    Values outside the profile's vocabulary give a missing status and a flag.
    """
    status_raw = out["status_raw"]
    empty = status_raw.isna().to_numpy(dtype=bool)
    unknown = ~is_open & ~is_closed & ~empty
    has_close = out["closed_datetime"].notna().to_numpy(dtype=bool)
    status = np.full(len(out), None, dtype=object)
    status[is_open] = "open"
    status[is_closed] = "closed"
    status[empty] = np.where(has_close[empty], "closed", "open")
    masks = {"unknown_status": unknown}
    examples = {"unknown_status": _distinct(status_raw.loc[unknown])} if unknown.any() else {}
    if has_status:
        masks["status_inferred_from_close_time"] = empty
    return pd.Series(status, index=out.index, dtype="string"), masks, examples


def _row_zones(
    raw: pd.DataFrame, mapped: dict[str, str], profile: Profile, zone: str
) -> tuple[pd.Series | None, pd.Series | None, dict[str, Flags], dict[str, list[str]]]:
    """Return each row's jurisdiction and IANA zone when the profile mixes jurisdictions.

    Rows whose jurisdiction is empty or not in ``[jurisdictions.timezones]``
    get ``zone`` (the profile's, or the caller's override) and are flagged
    ``unknown_jurisdiction``.
    """
    if "jurisdiction" not in mapped:
        return None, None, {}, {}
    jurisdiction = _clean_text(raw[mapped["jurisdiction"]])
    table = {k.casefold(): v for k, v in profile.jurisdiction_timezones.items()}
    zones = _on_distinct(jurisdiction, lambda v: v.str.casefold().map(table).astype("string"))
    unknown = zones.isna().to_numpy(dtype=bool)
    zones = zones.fillna(zone)
    examples = {}
    if unknown.any():
        examples["unknown_jurisdiction"] = _distinct(jurisdiction.loc[unknown].fillna("(empty)"))
    return jurisdiction, zones, {"unknown_jurisdiction": unknown}, examples


def word_start_regex(patterns: Sequence[str]) -> str:
    r"""Return a regex finding any of ``patterns`` (literal text) at the start of a word.

    A word starts after anything but a letter or digit; the patterns of a
    profile (``[status] duplicate``/``transfer``, ``[proactive] service_name``)
    are matched this way in case-folded text.

    Examples
    --------
    >>> import re
    >>> regex = word_start_regex(["transfer", "referred"])
    >>> [bool(re.search(regex, t)) for t in ("closed (transferred)", "preferred", "x_referred")]
    [True, False, True]
    """
    return r"(?<![^\W_])(?:" + "|".join(re.escape(p) for p in patterns) + ")"


def _contains_any(text: pd.Series, patterns: tuple[str, ...]) -> Flags:
    """Return rows whose text has any pattern at the start of a word, ignoring case.

    "transfer" matches "Closed (Transferred)" and "TRANSFER", "referred" matches
    "Referred Out" but not "preferred".
    """
    if not patterns:
        return np.zeros(len(text), dtype=bool)
    regex = word_start_regex([p.casefold() for p in patterns])
    hit = _on_distinct(text, lambda v: v.str.casefold().str.contains(regex, regex=True))
    return hit.fillna(False).to_numpy(dtype=bool)


def _request_kinds(out: pd.DataFrame, profile: Profile) -> dict[str, Flags]:
    """Return the is_duplicate / is_transfer / is_proactive columns (METRICS.md rules)."""
    outcome = out["status_raw"].fillna("") + " " + out["status_notes"].fillna("")
    proactive = _contains_any(out["service_name"], profile.proactive_service_names)
    if profile.proactive_sources:
        channel = _on_distinct(
            out["source"], lambda v: v.str.casefold().isin(profile.proactive_sources)
        ).fillna(False)
        proactive = proactive | channel.to_numpy(dtype=bool)
    return {
        "is_duplicate": _contains_any(outcome, profile.duplicate_patterns),
        "is_transfer": _contains_any(outcome, profile.transfer_patterns),
        "is_proactive": proactive,
    }


def normalize_frame(
    raw: pd.DataFrame,
    *,
    profile: Profile,
    input_file: str = "<frame>",
    first_row: int = 1,
    timezone: str | None = None,
    points: pd.DataFrame | None = None,
    keep_raw: bool = False,
) -> NormalizeResult:
    """Map a raw frame onto the canonical columns and parse its values.

    Parameters
    ----------
    raw : pandas.DataFrame
        Source columns as read (any dtype).  Not modified.
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
        where the mapped coordinate columns are empty.  Aligned by position.
    keep_raw : bool, default False
        Also return every column of ``raw`` verbatim as ``raw_<name>``
        (Arrow-backed strings).

    Returns
    -------
    NormalizeResult
        The canonical frame (a fresh ``RangeIndex``) with ``coord_quality``
        still unset ('ok' where a point exists, 'missing' otherwise) and the
        flag counts of this stage.

    Examples
    --------
    >>> import pandas as pd
    >>> from geo311.io.profiles import get_profile
    >>> raw = pd.DataFrame({"service_request_id": ["7"], "status": ["Open"],
    ...                     "requested_datetime": ["2019-10-21T11:49:49-04:00"]})
    >>> result = normalize_frame(raw, profile=get_profile("open311"), keep_raw=True)
    >>> result.frame.loc[0, ["status", "raw_status"]].tolist()
    ['open', 'Open']
    """
    zone = check_timezone(timezone) if timezone is not None else profile.timezone
    mapped = profile.resolve(raw.columns, source=input_file)
    index = pd.RangeIndex(len(raw))
    raw = raw.set_axis(index, axis=0)
    out = _text_columns(raw, mapped)
    jurisdiction, zones, masks, examples = _row_zones(raw, mapped, profile, zone)
    row_zone = zone if zones is None else zones
    ts_masks, ts_examples = _timestamp_columns(out, raw, mapped, profile, row_zone)
    masks.update(ts_masks)
    examples.update(ts_examples)
    is_open, is_closed = _status_words(out["status_raw"], profile)
    closures = derive_close_times(
        out["closed_datetime"],
        updated=out["updated_datetime"],
        notes=raw[mapped["notes"]] if "notes" in mapped else None,
        is_open=is_open,
        is_closed=is_closed,
        closed_words=profile.status_closed,
        formats=profile.timestamp_formats,
        zones=row_zone,
        naive=profile.naive,
        from_updated=profile.closed_from_updated,
    )
    out["closed_datetime"] = closures.closed
    masks.update(closures.flags)
    examples.update(closures.examples)
    status, status_masks, status_examples = _status(
        out, is_open, is_closed, has_status="status_raw" in mapped
    )
    out["status"] = status
    masks.update(status_masks)
    examples.update(status_examples)
    lat, lon = _coordinates(raw, mapped, profile, points)
    out["lat"] = lat
    out["long"] = lon
    missing = np.isnan(lat) | np.isnan(lon)
    out["coord_quality"] = pd.Series(
        np.where(missing, "missing", "ok"), index=index, dtype="string"
    )
    for name, flags in _request_kinds(out, profile).items():
        out[name] = flags
    masks["missing_service_request_id"] = out["service_request_id"].isna().to_numpy(dtype=bool)
    out["qa_flags"] = add_flags(pd.Series("", index=index, dtype="string"), masks)
    out["input_file"] = pd.Series(input_file, index=index, dtype="string")
    out["input_row"] = np.arange(first_row, first_row + len(raw), dtype="int64")
    extra = {}
    if jurisdiction is not None and zones is not None:
        extra = {"jurisdiction": jurisdiction, "timezone": zones.astype("string")}
    raw_cols = {f"raw_{c}": arrow_strings(raw[c]) for c in raw.columns} if keep_raw else {}
    canonical = out[[c.name for c in CANONICAL_COLUMNS]]
    out = pd.concat(
        [canonical, pd.DataFrame(extra), pd.DataFrame(raw_cols)],
        axis=1,
    )
    flagged = {k: int(v.sum()) for k, v in masks.items() if v.any()}
    return NormalizeResult(out, flagged, examples)

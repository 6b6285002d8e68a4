"""Parse timestamp text to UTC instants: strptime patterns, ISO 8601 and epochs.

Values without a UTC offset are wall times in a time zone -- one zone for
the whole column, or one per row when a file mixes jurisdictions (see the
profile's ``[jurisdictions]`` table).  Repeated autumn and skipped spring
wall times are resolved and reported, never silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo311._errors import OptionError
from geo311.io.text import arrow_text, strip_text

__all__ = ["TS_DTYPE", "TimestampParse", "parse_timestamps"]

TS_DTYPE: Final = "datetime64[us, UTC]"
# A UTC offset after a time of day ("...10:00:00Z", "...10:00-04:00").  The time
# is required so that a date such as "2019-10-21" is not read as offset "-21".
_HAS_OFFSET = r"\d:\d{2}(?:[.,]\d+)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)\s*$"
# Plausible epoch ranges (1973..2099) so that e.g. 20190101 is not read as ms:
# format -> (lowest, highest, microseconds per unit).
_EPOCH_RANGE = {"epoch_ms": (1e11, 4.1e12, 1e3), "epoch_s": (1e8, 4.1e9, 1e6)}

#: strptime fields Arrow reads exactly as pandas does when they are zero-padded:
#: directive -> (width, lowest, highest) of their values.  Years stay within
#: pandas' nanosecond range; ``%p`` is checked as letters (AM/PM, any case).
_FIXED_FIELDS: Final = {
    "%Y": (4, 1700, 2259),
    "%m": (2, 1, 12),
    "%d": (2, 1, 31),
    "%H": (2, 0, 23),
    "%I": (2, 1, 12),
    "%M": (2, 0, 59),
    "%S": (2, 0, 59),
    "%p": (2, 0, 0),
}
_LITERALS: Final = " /:-.,_T"
#: The bytes ``%p`` takes, first and second letter: AM or PM in any case.
_AM_PM: Final = tuple(
    np.isin(np.arange(256), np.frombuffer(letters, dtype=np.uint8)) for letters in (b"AaPp", b"Mm")
)

Flags = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class _FixedShape:
    """The zero-padded shape of a strptime format: each token at its byte offset."""

    tokens: tuple[tuple[str, int], ...]  # (directive or literal character, offset)
    width: int


def _fixed_shape(fmt: str) -> _FixedShape | None:
    """Return the zero-padded shape of ``fmt``, or None unless it has one reading.

    None unless ``fmt`` is made only of the fields of :data:`_FIXED_FIELDS`
    (year, month and day among them; ``%I`` exactly with ``%p``) and simple
    separators.  A value of that shape (:func:`_of_shape`) has one reading,
    the same in Arrow's ``strptime`` and in pandas.
    """
    tokens = re.findall(r"%.|.", fmt, flags=re.DOTALL)
    if not {"%Y", "%m", "%d"} <= set(tokens) or ("%I" in tokens) != ("%p" in tokens):
        return None
    if "%H" in tokens and "%p" in tokens:
        return None
    placed = []
    offset = 0
    for token in tokens:
        if token in _FIXED_FIELDS:
            placed.append((token, offset))
            offset += _FIXED_FIELDS[token][0]
        elif token in _LITERALS or (token.isascii() and token.isalnum()):
            placed.append((token, offset))
            offset += 1
        else:
            return None
    return _FixedShape(tuple(placed), offset)


def _bytes_of_width(arr: pa.Array, width: int) -> tuple[np.ndarray, npt.NDArray[np.uint8]]:
    """Return the rows of ``arr`` that are ``width`` bytes long, and their bytes (rows x width)."""
    _, offsets_buffer, data_buffer = arr.buffers()
    kind = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    window = slice(arr.offset, arr.offset + len(arr) + 1)
    offsets: npt.NDArray[np.int64] = np.frombuffer(offsets_buffer, dtype=kind)[window].astype(
        np.int64
    )
    fits = np.diff(offsets) == width
    if arr.null_count:
        fits &= arr.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(fits)
    if data_buffer is None or not len(rows):
        return rows, np.empty((0, width), dtype=np.uint8)
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    if len(rows) == len(arr):  # every value of the width: the bytes are one block
        start = int(offsets[0])
        return rows, data[start : start + len(rows) * width].reshape(len(rows), width)
    return rows, data[offsets[rows][:, None] + np.arange(width)]


def _of_shape(arr: pa.Array, shape: _FixedShape) -> tuple[Flags, npt.NDArray[np.int64]]:
    """Which values have exactly ``shape`` (ASCII, zero-padded, fields in range); their days.

    Checked on the bytes: a value of the shape is ``shape.width`` ASCII
    characters, so ``shape.width`` bytes.  Days are 0 where the shape fails.
    """
    rows, block = _bytes_of_width(arr, shape.width)
    fields = [(t, at) for t, at in shape.tokens if t in _FIXED_FIELDS and t != "%p"]
    literals = [(t, at) for t, at in shape.tokens if t not in _FIXED_FIELDS]
    digit_columns = [at + i for t, at in fields for i in range(_FIXED_FIELDS[t][0])]
    digits = block[:, digit_columns] - np.uint8(ord("0"))  # not a digit: wraps past 9
    ok = (digits <= 9).all(axis=1)
    if literals:
        wanted = np.frombuffer("".join(t for t, _ in literals).encode(), dtype=np.uint8)
        ok &= (block[:, [at for _, at in literals]] == wanted).all(axis=1)
    for token, at in shape.tokens:
        if token == "%p":
            ok &= _AM_PM[0][block[:, at]] & _AM_PM[1][block[:, at + 1]]
    day = np.zeros(len(rows), dtype=np.int64)
    column = 0
    for token, _ in fields:
        width, lowest, highest = _FIXED_FIELDS[token]
        value = np.zeros(len(rows), dtype=np.int64)
        for i in range(width):
            value = value * 10 + digits[:, column + i]
        column += width
        ok &= (value >= lowest) & (value <= highest)
        if token == "%d":
            day = value
    fits = np.zeros(len(arr), dtype=bool)
    days = np.zeros(len(arr), dtype=np.int64)
    fits[rows] = ok
    days[rows[ok]] = day[ok]
    return fits, days


def _strptime(text: pd.Series, fmt: str) -> pd.Series:
    """Return ``pd.to_datetime(text, format=fmt, errors="coerce")``, read by Arrow where it can.

    Values of the exact zero-padded shape of ``fmt`` (see :func:`_fixed_shape`)
    are read by Arrow's ``strptime``; an impossible date (e.g. 30 February),
    which Arrow would roll over, and every other value go through pandas, so
    the result is pandas' own value by value.
    """
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    rest = np.ones(len(text), dtype=bool)
    shape = _fixed_shape(fmt)
    arr = arrow_text(text) if shape is not None and len(text) else None
    if shape is not None and arr is not None:
        if isinstance(arr, pa.ChunkedArray):  # e.g. a column of Arrow's CSV blocks
            arr = arr.combine_chunks()
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            arr = arr.cast(pa.large_string())  # offsets and bytes, as _of_shape reads them
        fits, days = _of_shape(arr, shape)
        parsed = pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
        # the day Arrow read is the day written: no date rolled over
        read_day = pc.fill_null(pc.day(parsed), 0).to_numpy(zero_copy_only=False)
        done = fits & (read_day == days)
        # only those: Arrow may read other values as years beyond nanoseconds' range
        kept = pc.if_else(pa.array(done), parsed, pa.scalar(None, parsed.type))
        stamps = pc.cast(kept, pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        out[done] = stamps[done]
        rest = ~done
    rest &= text.notna().to_numpy(dtype=bool)  # a missing value is NaT either way
    if rest.any():
        subset = text.loc[rest].astype("string")
        parsed_rest = pd.to_datetime(subset, format=fmt, errors="coerce")
        out[rest] = parsed_rest.to_numpy(dtype="datetime64[ns]")
    return pd.Series(out, index=text.index)


@dataclass
class TimestampParse:
    """Parsed instants plus the rows that needed care."""

    values: pd.Series
    unparsed: np.ndarray
    ambiguous: np.ndarray
    nonexistent: np.ndarray


def _utc_naive(series: pd.Series) -> npt.NDArray[np.datetime64]:
    """Return tz-aware ``series`` as naive UTC ``datetime64[us]`` values."""
    return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _localize(naive: pd.Series, timezone: str) -> tuple[pd.Series, Flags, Flags]:
    """Localize naive wall times; flag autumn-repeated and spring-skipped times."""
    if isinstance(naive.dtype, pd.DatetimeTZDtype):  # already carries its zone
        none = np.zeros(len(naive), dtype=bool)
        return naive.dt.tz_convert("UTC"), none, none.copy()
    strict = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    trouble = (strict.isna() & naive.notna()).to_numpy(dtype=bool)
    ambiguous = np.zeros(len(naive), dtype=bool)
    nonexistent = np.zeros(len(naive), dtype=bool)
    if trouble.any():
        sub = naive.loc[trouble]
        # Repeated autumn hour: read as the first occurrence (daylight time).
        # Skipped spring hour: shifted forward to the first valid instant.
        loose = sub.dt.tz_localize(
            timezone, ambiguous=np.ones(len(sub), dtype=bool), nonexistent="shift_forward"
        )
        shifted = (loose.dt.tz_localize(None) != sub).to_numpy(dtype=bool)
        nonexistent[trouble] = shifted
        ambiguous[trouble] = ~shifted
        strict = strict.copy()
        strict.loc[trouble] = loose
    return strict.dt.tz_convert("UTC"), ambiguous, nonexistent


def _parse_epoch(text: pd.Series, fmt: str) -> npt.NDArray[np.datetime64]:
    """Read epoch numbers in their plausible range; exact to the microsecond."""
    low, high, micros = _EPOCH_RANGE[fmt]
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        ok = (num >= low) & (num <= high)
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    out[ok] = np.round(num[ok] * micros).astype("int64").astype("datetime64[us]")
    return out


def _parse_iso(text: pd.Series, timezone: str) -> tuple[npt.NDArray[np.datetime64], Flags, Flags]:
    """Read ISO 8601 values; those with an offset are instants, the others wall times."""
    n = len(text)
    aware = text.str.contains(_HAS_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    ambiguous = np.zeros(n, dtype=bool)
    nonexistent = np.zeros(n, dtype=bool)
    if aware.any():
        parsed = pd.to_datetime(text.loc[aware], format="ISO8601", utc=True, errors="coerce")
        out[aware] = _utc_naive(parsed)
    if (~aware).any():
        naive = pd.to_datetime(text.loc[~aware], format="ISO8601", errors="coerce")
        local, amb, nonex = _localize(naive, timezone)
        out[~aware] = _utc_naive(local)
        ambiguous[~aware] = amb
        nonexistent[~aware] = nonex
    return out, ambiguous, nonexistent


def _parse_with(
    text: pd.Series, fmt: str, timezone: str
) -> tuple[npt.NDArray[np.datetime64], Flags, Flags]:
    """Parse ``text`` with one format; return naive-UTC values (NaT where it fails)."""
    none = np.zeros(len(text), dtype=bool)
    if fmt in _EPOCH_RANGE:
        return _parse_epoch(text.astype("string"), fmt), none, none.copy()
    if fmt == "ISO8601":
        return _parse_iso(text.astype("string"), timezone)
    if "%z" in fmt or "%Z" in fmt:
        parsed = pd.to_datetime(text.astype("string"), format=fmt, utc=True, errors="coerce")
        return _utc_naive(parsed), none, none.copy()
    naive = _strptime(text, fmt)
    local, amb, nonex = _localize(naive, timezone)
    return _utc_naive(local), amb, nonex


def parse_timestamps(
    values: pd.Series,
    *,
    formats: tuple[str, ...],
    timezone: str | pd.Series,
    naive: str = "local",
) -> TimestampParse:
    """Parse timestamp strings to UTC instants with a list of candidate formats.

    The format that parses most of the first 500 non-empty values is applied
    to the whole column first (zone by zone); rows it cannot read are retried with the other
    formats, best-scoring first (ties in the order given).  Values without a
    UTC offset are wall times in ``timezone`` (or UTC when ``naive == "UTC"``):
    a wall time repeated when clocks go back is read as its first occurrence
    and one skipped when clocks go forward is moved to the first valid
    instant; both are reported.  Empty values are missing, not unparsed.

    Parameters
    ----------
    values : pandas.Series
        Raw values (strings, or numbers for epoch formats).
    formats : tuple of str
        strptime patterns, ``"ISO8601"``, ``"epoch_ms"`` or ``"epoch_s"``.
        Epoch numbers are only accepted between 1973 and 2099.
    timezone : str or pandas.Series
        IANA zone for naive wall times: one for every value, or one per value
        (a Series aligned with ``values`` by position, e.g. each row's
        jurisdiction's zone).  Zones are not checked here (see
        :func:`geo311.io.values.check_timezone`).
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
    if naive not in ("local", "UTC"):
        msg = f"naive must be 'local' or 'UTC', got {naive!r}; set naive = \"local\" or \"UTC\""
        raise OptionError(msg)
    n = len(values)
    if naive == "UTC" or not isinstance(timezone, pd.Series):
        codes = np.zeros(n, dtype=np.intp)  # one zone for every row
        names = np.array(["UTC" if naive == "UTC" else timezone], dtype=object)
    else:
        codes, names = pd.factorize(timezone.to_numpy(dtype=object), use_na_sentinel=False)
    text = strip_text(values)
    result = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    ambiguous = np.zeros(n, dtype=bool)
    nonexistent = np.zeros(n, dtype=bool)
    present = text.notna().to_numpy(dtype=bool)
    remaining = present.copy()
    if remaining.any():
        sample = text.iloc[np.flatnonzero(remaining)[:500]]
        first = str(names[codes[remaining][0]])
        scores = [int((~np.isnat(_parse_with(sample, f, first)[0])).sum()) for f in formats]
        order = sorted(range(len(formats)), key=lambda i: -scores[i])
        for i in order:
            for code in pd.unique(codes[remaining]):
                todo = remaining & (codes == code)
                # every value still to read: parse the column as it is (missing values
                # give NaT) rather than copy nearly all of it
                whole = bool(np.array_equal(todo, present))
                part = text if whole else text.loc[todo]
                parsed, amb, nonex = _parse_with(part, formats[i], str(names[code]))
                if whole:
                    parsed, amb, nonex = parsed[todo], amb[todo], nonex[todo]
                ok = ~np.isnat(parsed)
                rows = np.flatnonzero(todo)[ok]
                result[rows] = parsed[ok]
                ambiguous[rows] = amb[ok]
                nonexistent[rows] = nonex[ok]
                remaining[rows] = False
            if not remaining.any():
                break
    out = pd.Series(result, index=values.index).dt.tz_localize("UTC")
    return TimestampParse(out, remaining, ambiguous, nonexistent)

"""Each input file's as-of time and date range: requests are censored at their own source's.

Requests read from several files (``input_file``, set by
:func:`geo311.read_requests`) come from extracts taken at different times.  A
request still open in an October 2019 extract is only known to be open at
that extract's time, not at the time of a later file, so every row is given
the as-of time of *its own* source:

* ``as_of`` not given: each file's latest recorded instant (created, updated
  or closed);
* ``as_of`` a date/time: that instant for every row;
* ``as_of`` a mapping ``{input_file: time}``: that time for the files named
  (by their ``input_file`` value or its file name) and each other file's own
  latest instant.

Never "now", never the latest instant of all files.  Rows of a frame without
an ``input_file`` column form one source.  :func:`_source_times` also records
per source the rows, first and last creation times and as-of time, and says
(a warning in the table metadata and in the log) when the sources' as-of
times or date ranges differ by more than :data:`SOURCE_TOLERANCE`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import DataError, OptionError

__all__ = ["SOURCE_TOLERANCE", "AsOf", "TimeLike"]

log = logging.getLogger(__name__)

TimeLike = str | date | datetime | pd.Timestamp
#: ``as_of``: one instant for every row, or instants per input file.
AsOf = TimeLike | Mapping[str, TimeLike]
#: Sources whose as-of times or first/last creation times differ by more are reported.
SOURCE_TOLERANCE = pd.Timedelta(days=1)

_NO_FILE = "(requests frame)"
_TIME_COLUMNS = ("requested_datetime", "updated_datetime", "closed_datetime")


def _naive_ns(stamp: pd.Timestamp) -> np.datetime64:
    """Return a UTC timestamp as a naive ``numpy.datetime64[ns]``."""
    return np.datetime64(stamp.tz_convert("UTC").tz_localize(None).as_unit("ns").to_datetime64())


def _instant(value: TimeLike, timezone: str | None, what: str) -> pd.Timestamp:
    """Return a caller's time as a UTC instant; naive values are local wall time."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        msg = f"{what} {value!r} is not a date/time; pass e.g. '2025-01-31' or a Timestamp"
        raise OptionError(msg) from exc
    if stamp is pd.NaT:
        msg = f"{what} must be a date/time, got {value!r}"
        raise OptionError(msg)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(timezone or "UTC")
    return stamp.tz_convert("UTC")


def _latest_ns(requests: pd.DataFrame, codes: npt.NDArray[np.intp], n: int) -> npt.NDArray[Any]:
    """Latest created / updated / closed instant of each source (NaT when it has none)."""
    latest = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    for column in _TIME_COLUMNS:
        if column in requests.columns and isinstance(requests[column].dtype, pd.DatetimeTZDtype):
            values = requests[column].to_numpy(dtype="datetime64[ns]")
            per = pd.Series(values).groupby(codes).max().reindex(range(n))
            found = per.to_numpy(dtype="datetime64[ns]")
            better = ~np.isnat(found) & (np.isnat(latest) | (found > latest))
            latest[better] = found[better]
    return latest


@dataclass(frozen=True)
class _Source:
    """One input file: its rows, creation-time range and as-of time."""

    name: str
    rows: int
    first_requested: pd.Timestamp | None
    last_requested: pd.Timestamp | None
    as_of: pd.Timestamp | None
    as_of_source: str

    def metadata(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "rows": self.rows,
            "first_requested": _iso(self.first_requested),
            "last_requested": _iso(self.last_requested),
            "as_of": _iso(self.as_of),
            "as_of_source": self.as_of_source,
        }


@dataclass(frozen=True)
class _SourceTimes:
    """The sources of a requests frame and the as-of instant of every row."""

    sources: tuple[_Source, ...]
    #: as-of of every input row (naive UTC); one value broadcast (no memory per
    #: row) when every source has the same as-of, e.g. a single input file
    as_of_ns: npt.NDArray[np.datetime64]
    warnings: tuple[str, ...]

    def as_of_at(self, rows: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.datetime64]:
        """Return the as-of time of ``rows`` (a read-only broadcast when all are the same)."""
        if self.as_of_ns.strides == (0,):
            return np.broadcast_to(self.as_of_ns[:1], (len(rows),))
        return self.as_of_ns[rows]

    @property
    def as_of(self) -> pd.Timestamp:
        """The latest as-of time of the sources (the table's as-of)."""
        return max(s.as_of for s in self.sources if s.as_of is not None)

    @property
    def as_of_source(self) -> str:
        """How the as-of times were chosen, in words."""
        kinds = {s.as_of_source for s in self.sources if s.as_of is not None}
        if kinds == {"argument"}:
            return "argument"
        if kinds == {"latest timestamp in the file"}:
            if len(self.sources) == 1:
                return "latest timestamp in the data"
            return "latest timestamp of each input file"
        return "argument for some input files, latest timestamp of each other file"

    def metadata(self) -> list[dict[str, Any]]:
        return [s.metadata() for s in self.sources]


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return None if stamp is None else stamp.isoformat()


def _file_codes(requests: pd.DataFrame) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Each row's source code and the sources' names (sorted; a missing name is ``_NO_FILE``).

    Encoded from the column's distinct values (a categorical's codes), not
    from one string per row.
    """
    if "input_file" not in requests.columns or requests.empty:
        return np.zeros(len(requests), dtype=np.intp), [_NO_FILE]
    codes, uniques = pd.factorize(requests["input_file"], use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    names = sorted({*labels, *([_NO_FILE] if (codes < 0).any() else [])})
    position = {name: i for i, name in enumerate(names)}
    # the last slot is read by the missing names (code -1)
    remap = np.array([*(position[label] for label in labels), position.get(_NO_FILE, -1)])
    return remap.astype(np.intp)[codes], names


def _mapped(
    as_of: Mapping[str, TimeLike], names: list[str], timezone: str | None
) -> dict[int, pd.Timestamp]:
    """Match ``{file: time}`` keys to sources (full value or file name); unknown keys raise."""
    by_key: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        for key in {name, PurePath(name).name}:
            by_key.setdefault(key, []).append(i)
    out: dict[int, pd.Timestamp] = {}
    unknown = []
    for key, value in as_of.items():
        hits = by_key.get(str(key), [])
        if len(hits) != 1:
            unknown.append(str(key))
            continue
        out[hits[0]] = _instant(value, timezone, f"as_of for {key}")
    if unknown:
        known = sorted({PurePath(n).name for n in names})
        msg = (
            f"as_of names input files that are not (uniquely) among the requests: {unknown}; "
            f"use one of {known} (or the full input_file value)"
        )
        raise OptionError(msg)
    return out


def _spread(values: list[pd.Timestamp]) -> bool:
    return len(values) > 1 and max(values) - min(values) > SOURCE_TOLERANCE


def _warnings(sources: tuple[_Source, ...]) -> tuple[str, ...]:
    used = [s for s in sources if s.as_of is not None]
    out = []
    if _spread([s.as_of for s in used if s.as_of is not None]):
        listed = "; ".join(f"{PurePath(s.name).name} as of {s.as_of}" for s in used)
        out.append(
            "input files were extracted at different times (more than a day apart): "
            f"{listed}; each file's open requests are censored at its own as-of time"
        )
    firsts = [s.first_requested for s in used if s.first_requested is not None]
    lasts = [s.last_requested for s in used if s.last_requested is not None]
    if _spread(firsts) or _spread(lasts):
        listed = "; ".join(
            f"{PurePath(s.name).name} {s.first_requested} to {s.last_requested}" for s in used
        )
        out.append(
            "input files cover different dates (more than a day apart): "
            f"{listed}; figures pool periods that differ by source"
        )
    return tuple(out)


def _source_times(
    requests: pd.DataFrame, as_of: AsOf | None, timezone: str | None
) -> _SourceTimes:
    """Resolve the as-of instant of every row from its own source (see the module docstring)."""
    codes, names = _file_codes(requests)
    n = len(names)
    chosen: dict[int, pd.Timestamp] = {}
    if isinstance(as_of, Mapping):
        chosen = _mapped(as_of, names, timezone)
    elif as_of is not None:
        chosen = dict.fromkeys(range(n), _instant(as_of, timezone, "as_of"))
    latest = _latest_ns(requests, codes, n)
    if len(chosen) < n and all(np.isnat(latest[i]) for i in range(n) if i not in chosen):
        msg = (
            "as_of was not given and the requests hold no timestamps to infer it from; pass as_of="
        )
        raise DataError(msg)
    rows = np.bincount(codes, minlength=n)
    first = last = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if "requested_datetime" in requests.columns and isinstance(
        requests["requested_datetime"].dtype, pd.DatetimeTZDtype
    ):
        grouped = pd.Series(requests["requested_datetime"].to_numpy("datetime64[ns]")).groupby(
            codes
        )
        first = grouped.min().reindex(range(n)).to_numpy(dtype="datetime64[ns]")
        last = grouped.max().reindex(range(n)).to_numpy(dtype="datetime64[ns]")

    def stamp(value: np.datetime64) -> pd.Timestamp | None:
        return None if np.isnat(value) else pd.Timestamp(value).tz_localize("UTC")

    sources = tuple(
        _Source(
            name=names[i],
            rows=int(rows[i]),
            first_requested=stamp(first[i]),
            last_requested=stamp(last[i]),
            as_of=chosen[i] if i in chosen else stamp(latest[i]),
            as_of_source="argument" if i in chosen else "latest timestamp in the file",
        )
        for i in range(n)
    )
    per_source = np.array(
        [np.datetime64("NaT") if s.as_of is None else _naive_ns(s.as_of) for s in sources],
        dtype="datetime64[ns]",
    )
    one = len(per_source) == 1 or bool((per_source == per_source[0]).all())
    return _SourceTimes(
        sources=sources,
        as_of_ns=np.broadcast_to(per_source[:1], codes.shape) if one else per_source[codes],
        warnings=_warnings(sources),
    )


def _log_warnings(times: _SourceTimes, what: str) -> None:
    """Log each source warning once per table, at WARNING."""
    for text in times.warnings:
        log.warning("%s: %s", what, text)

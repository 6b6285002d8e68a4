"""The cross-row cleaning of the out-of-core run, from the parts on disk.

:func:`geo311.clean_requests` needs every request at once: a repeated id may
recur in another file, and a placeholder point is one that many requests
share.  Here the same verdicts come from summaries kept on disk, so that the
memory needed does not grow with the history:

1. **repeated ids** -- while the parts are written, a 64-bit hash of each id
   (:func:`id_hashes`) is spilled to disk in 64 buckets by its low bits
   (:class:`Spill`); the hashes that occur more than once are found bucket
   by bucket, and only the rows of those ids (id, update time, position)
   are read back and given :func:`geo311.clean.quality.repeated_ids` -- the
   rule only compares rows sharing an id, so its verdict on them is the
   whole frame's (a hash collision only adds a candidate, never a drop);
2. **placeholder points** -- the point of each located request kept (its
   coordinates rounded to 1e-6 degrees, packed in one integer) is spilled the
   same way; counted bucket by bucket, the *candidate* points are those with
   as many requests as ``min_count`` or a reason of
   :func:`geo311.clean.placeholders.point_reasons`, and only the rows at them
   are read back and given :func:`geo311.find_placeholders`, with the number
   of located requests of the whole run -- the points it finds and their
   figures are the whole frame's;
3. **time flags** are row by row: counted here for the ledger, and set on the
   rows when each part is joined (:func:`geo311.scale.parts.cleaned_part`).

What stays in memory is one bucket (a 64th of the values) at a time and the
candidates' rows.  The ``clean`` stage of the ledger is recorded by the same
:func:`geo311.clean.quality.clean_ledger` as in memory, so the two are equal.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311.clean.placeholders import (
    LOCATED,
    PlaceholderRule,
    find_placeholders,
    point_keys,
    point_of_key,
    point_reasons,
)
from geo311.clean.quality import clean_ledger, repeated_ids, time_flags
from geo311.io.values import parse_as_of
from geo311.ledger import Ledger
from geo311.progress import ProgressHook, report

__all__ = ["Cleaning", "Spill", "clean_parts", "id_hashes"]

log = logging.getLogger(__name__)

_ID = "service_request_id"
_POINT = ("lat", "long", "coord_quality")
_TIMES = ("requested_datetime", "closed_datetime", "expected_datetime", "status")


def id_hashes(ids: pd.Series) -> npt.NDArray[np.uint64]:
    """Return a 64-bit hash of each request id (0 where the id is missing).

    Parameters
    ----------
    ids : pandas.Series
        ``service_request_id`` values, any string dtype.

    Returns
    -------
    numpy.ndarray of uint64
        Equal ids hash equal; a missing id hashes to 0, and a present one
        that happens to hash to 0 is moved to 1 (it may then only collide).
    """
    present = ids.notna().to_numpy(dtype=bool)
    out = np.zeros(len(ids), dtype=np.uint64)
    text = ids.to_numpy(dtype=object)[present].astype(str).astype(object)
    hashed = pd.util.hash_array(text, categorize=False)
    out[present] = np.where(hashed == 0, np.uint64(1), hashed)
    return out


class Spill:
    """64-bit values written to disk in buckets by their low bits, read back a bucket at a time.

    Equal values always land in the same bucket, so whatever is decided per
    distinct value (occurs twice, counts) is decided bucket by bucket, with
    memory for one bucket (a 64th of the values) instead of all of them.

    Parameters
    ----------
    folder : pathlib.Path
        An existing folder for the bucket files.
    name : str
        Prefix of the bucket files.
    dtype : numpy dtype
        ``uint64`` (id hashes) or ``int64`` (point keys).
    """

    BUCKETS = 64

    def __init__(self, folder: Path, name: str, dtype: Any) -> None:
        self.files = [folder / f"{name}-{b:02d}.bin" for b in range(self.BUCKETS)]
        self.dtype = np.dtype(dtype)
        self.count = 0

    def add(self, values: np.ndarray) -> None:
        """Append ``values`` to their buckets."""
        values = np.asarray(values, dtype=self.dtype)
        bucket = (values.view(np.uint64) & np.uint64(self.BUCKETS - 1)).astype(np.intp)
        order = np.argsort(bucket, kind="stable")
        ends = np.searchsorted(bucket[order], np.arange(1, self.BUCKETS + 1))
        start = 0
        for file, end in zip(self.files, ends, strict=True):
            if end > start:
                with file.open("ab") as fh:
                    values[order[start:end]].tofile(fh)
            start = int(end)
        self.count += len(values)

    def absorb(self, other: Spill) -> None:
        """Append the values of ``other`` (same dtype and bucket count) to this spill's buckets."""
        for mine, theirs in zip(self.files, other.files, strict=True):
            if theirs.exists():
                with mine.open("ab") as out, theirs.open("rb") as source:
                    shutil.copyfileobj(source, out)
        self.count += other.count

    def buckets(self) -> Iterator[np.ndarray]:
        """Yield the values of each bucket (in no particular order)."""
        for file in self.files:
            if file.exists():
                yield np.fromfile(file, dtype=self.dtype)


@dataclass(frozen=True)
class Cleaning:
    """The cleaning's verdict on the parts.

    Attributes
    ----------
    drop : list of numpy.ndarray
        Per part, the positions (within it) of the rows dropped as repeated ids.
    placeholders : pandas.DataFrame
        The placeholder points found, as :func:`geo311.find_placeholders` returns them.
    as_of : pandas.Timestamp
        The time the time flags are checked against.
    ledger : Ledger
        The ``clean`` stage.
    """

    drop: list[npt.NDArray[np.int64]]
    placeholders: pd.DataFrame
    as_of: pd.Timestamp
    ledger: Ledger


def _read(paths: Sequence[Path], columns: Sequence[str]) -> Iterator[pd.DataFrame]:
    for path in paths:
        yield pd.read_parquet(path, columns=list(columns))


def _repeated(
    paths: Sequence[Path], starts: Sequence[int], ids: Spill
) -> tuple[npt.NDArray[np.int64], pd.Series]:
    """Return the global positions of the rows dropped as repeated ids, and their ids."""
    found = []
    for bucket in ids.buckets():
        ordered = np.sort(bucket)
        found.append(np.unique(ordered[1:][ordered[1:] == ordered[:-1]]))
    twice = np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)
    none = (np.zeros(0, dtype=np.int64), pd.Series([], dtype="string"))
    if not len(twice):
        return none
    rows = []
    for start, part in zip(starts, _read(paths, [_ID, "updated_datetime"]), strict=True):
        hit = np.flatnonzero(np.isin(id_hashes(part[_ID]), twice))
        if len(hit):
            rows.append(part.iloc[hit].set_axis(hit + start))
    candidates = pd.concat(rows)
    drop = repeated_ids(candidates.reset_index(drop=True))
    return candidates.index.to_numpy(dtype=np.int64)[drop], candidates[_ID][drop]


def _kept(part: pd.DataFrame, drop: np.ndarray) -> pd.DataFrame:
    return part.drop(index=part.index[drop]) if len(drop) else part


def clean_parts(
    paths: Sequence[Path],
    *,
    starts: Sequence[int],
    rows: int,
    ids: Spill,
    as_of: pd.Timestamp | str | None,
    placeholders: PlaceholderRule,
    fallback_points: Any = (),
    progress: ProgressHook | None = None,
) -> Cleaning:
    """Clean the requests of the parts as :func:`geo311.clean_requests` would all of them.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        The parts (Parquet), in input order.
    starts : sequence of int
        Each part's first row among all rows read.
    rows : int
        Rows read in all.
    ids : Spill
        The :func:`id_hashes` of every id present; the points are spilled
        beside them, in the same folder.
    as_of, placeholders, fallback_points
        As in :func:`geo311.clean_requests`.
    progress : ProgressHook, optional
        Told the parts read so far by the pass over every part's kept rows
        (step ``"clean"``).

    Returns
    -------
    Cleaning
    """
    as_of_ts = parse_as_of(as_of)
    if as_of_ts is None:
        as_of_ts = pd.Timestamp.now(tz="UTC")
    dropped, dropped_ids = _repeated(paths, starts, ids)
    bounds = np.searchsorted(dropped, [*starts, rows])
    drop = [dropped[bounds[i] : bounds[i + 1]] - start for i, start in enumerate(starts)]
    # Pass over the kept rows: time flags, and the point of every located request.
    flagged: dict[str, int] = {}
    marked = 0  # rows already marked a placeholder upstream
    points = Spill(ids.files[0].parent, "points", np.int64)
    report(progress, "clean", 0, len(paths), unit="parts")
    for done, (part, gone) in enumerate(
        zip(_read(paths, [*_POINT, *_TIMES]), drop, strict=True), start=1
    ):
        kept = _kept(part, gone)
        for reason, mask in time_flags(kept, as_of_ts).items():
            flagged[reason] = flagged.get(reason, 0) + int(mask.sum())
        marked += int((kept["coord_quality"] == "placeholder").sum())
        at = kept["coord_quality"].isin(LOCATED).to_numpy(dtype=bool)
        lat = kept["lat"].to_numpy(dtype=float)[at]
        lon = kept["long"].to_numpy(dtype=float)[at]
        points.add(point_keys(lat, lon))
        report(progress, "clean", done, len(paths), unit="parts")
    found = _placeholders(
        paths, drop, points=points, rule=placeholders, fallback_points=fallback_points
    )
    flagged["coords_placeholder"] = marked + int(found["requests"].sum())
    ledger = clean_ledger(
        rows_in=rows,
        dropped_ids=dropped_ids,
        flagged=flagged,
        placeholders=found,
        as_of=as_of_ts,
    )
    log.info(
        "cleaned %s requests in %d parts: %s repeated ids dropped",
        f"{rows:,}",
        len(paths),
        f"{len(dropped):,}",
    )
    return Cleaning(drop=drop, placeholders=found, as_of=as_of_ts, ledger=ledger)


def _placeholders(
    paths: Sequence[Path],
    drop: Sequence[np.ndarray],
    *,
    points: Spill,
    rule: PlaceholderRule,
    fallback_points: Any,
) -> pd.DataFrame:
    """Find the placeholder points from the rows at candidate points, read back in input order."""
    chosen = []
    for bucket in points.buckets():
        keys, sizes = np.unique(bucket, return_counts=True)
        lat, lon = point_of_key(keys)
        reasons = point_reasons(lat, lon, rule=rule, fallback_points=fallback_points)
        chosen.append(keys[(sizes >= rule.min_count) | (reasons != "")])
    candidates = np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)
    rows = []
    if len(candidates):
        columns = [*_POINT, "address", "service_name"]
        for part, gone in zip(_read(paths, columns), drop, strict=True):
            kept = _kept(part, gone)
            at = kept["coord_quality"].isin(LOCATED).to_numpy(dtype=bool)
            lat_k = kept["lat"].to_numpy(dtype=float)
            lon_k = kept["long"].to_numpy(dtype=float)
            hit = np.zeros(len(kept), dtype=bool)
            hit[at] = np.isin(point_keys(lat_k[at], lon_k[at]), candidates)
            if hit.any():
                rows.append(kept.loc[hit])
    subset = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=list(_POINT))
    return find_placeholders(
        subset,
        **rule.options(),
        fallback_points=fallback_points,
        located=points.count,
    )

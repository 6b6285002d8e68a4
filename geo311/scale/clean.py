"""The cross-row cleaning of the out-of-core run, from the parts on disk.

:func:`geo311.clean_requests` needs every request at once: a repeated id may
recur in another file, and a placeholder point is one that many requests
share.  Here the same verdicts come from summaries, so that what is held per
request does not grow with the columns of the export:

1. **repeated ids** -- while the parts are written, only a 64-bit hash of
   each id is kept (:func:`id_hashes`); the ids whose hash occurs more than
   once are the only candidates, and their rows alone (id, update time,
   position) are read back and given :func:`geo311.clean.quality.repeated_ids`
   -- the rule only compares rows sharing an id, so its verdict on them is the
   whole frame's (a hash collision only adds a candidate, never a drop);
2. **placeholder points** -- each part's located points are counted (a point
   is its coordinates rounded to 1e-6 degrees, packed in one integer), the
   counts are added across parts, and only the rows at *candidate* points (as
   many requests as ``min_count``, or a reason of
   :func:`geo311.clean.placeholders.point_reasons`) are read back and given
   :func:`geo311.find_placeholders`, with the number of located requests of
   the whole run -- the points it finds and their figures are the whole
   frame's;
3. **time flags** are row by row: counted here for the ledger, and set on the
   rows when each part is joined (:func:`geo311.scale.parts.cleaned_part`).

The ``clean`` stage of the ledger is recorded by the same
:func:`geo311.clean.quality.clean_ledger` as in memory, so the two are equal.
"""

from __future__ import annotations

import logging
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

__all__ = ["Cleaning", "clean_parts", "id_hashes"]

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
    paths: Sequence[Path], starts: Sequence[int], hashes: Sequence[np.ndarray]
) -> tuple[npt.NDArray[np.int64], pd.Series]:
    """Return the global positions of the rows dropped as repeated ids, and their ids."""
    every = np.sort(np.concatenate(hashes)) if hashes else np.zeros(0, dtype=np.uint64)
    twice = np.unique(every[1:][(every[1:] == every[:-1]) & (every[1:] != 0)])
    del every
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
    hashes: Sequence[np.ndarray],
    as_of: pd.Timestamp | str | None,
    placeholders: PlaceholderRule,
    fallback_points: Any = (),
) -> Cleaning:
    """Clean the requests of the parts as :func:`geo311.clean_requests` would all of them.

    Parameters
    ----------
    paths : sequence of pathlib.Path
        The parts (Parquet), in input order.
    starts : sequence of int
        Each part's first row among all rows read.
    hashes : sequence of numpy.ndarray
        Each part's :func:`id_hashes`.
    as_of, placeholders, fallback_points
        As in :func:`geo311.clean_requests`.

    Returns
    -------
    Cleaning
    """
    as_of_ts = parse_as_of(as_of)
    if as_of_ts is None:
        as_of_ts = pd.Timestamp.now(tz="UTC")
    rows_in = int(sum(len(h) for h in hashes))
    dropped, dropped_ids = _repeated(paths, starts, hashes)
    bounds = np.searchsorted(dropped, [*starts, rows_in])
    drop = [dropped[bounds[i] : bounds[i + 1]] - start for i, start in enumerate(starts)]
    # Pass over the kept rows: time flags, and how many located requests each point has.
    flagged: dict[str, int] = {}
    marked = 0  # rows already marked a placeholder upstream
    counted: list[tuple[np.ndarray, np.ndarray]] = []
    for part, gone in zip(_read(paths, [*_POINT, *_TIMES]), drop, strict=True):
        kept = _kept(part, gone)
        for reason, mask in time_flags(kept, as_of_ts).items():
            flagged[reason] = flagged.get(reason, 0) + int(mask.sum())
        marked += int((kept["coord_quality"] == "placeholder").sum())
        at = kept["coord_quality"].isin(LOCATED).to_numpy(dtype=bool)
        lat = kept["lat"].to_numpy(dtype=float)[at]
        lon = kept["long"].to_numpy(dtype=float)[at]
        counted.append(np.unique(point_keys(lat, lon), return_counts=True))
    keys, inverse = np.unique(np.concatenate([k for k, _ in counted]), return_inverse=True)
    sizes = np.bincount(inverse, weights=np.concatenate([n for _, n in counted]))
    del counted, inverse
    found = _placeholders(
        paths, drop, keys=keys, sizes=sizes, rule=placeholders, fallback_points=fallback_points
    )
    flagged["coords_placeholder"] = marked + int(found["requests"].sum())
    ledger = clean_ledger(
        rows_in=rows_in,
        dropped_ids=dropped_ids,
        flagged=flagged,
        placeholders=found,
        as_of=as_of_ts,
    )
    log.info(
        "cleaned %s requests in %d parts: %s repeated ids dropped",
        f"{rows_in:,}",
        len(paths),
        f"{len(dropped):,}",
    )
    return Cleaning(drop=drop, placeholders=found, as_of=as_of_ts, ledger=ledger)


def _placeholders(
    paths: Sequence[Path],
    drop: Sequence[np.ndarray],
    *,
    keys: npt.NDArray[np.int64],
    sizes: np.ndarray,
    rule: PlaceholderRule,
    fallback_points: Any,
) -> pd.DataFrame:
    """Find the placeholder points from the rows at candidate points, read back in input order."""
    lat, lon = point_of_key(keys)
    reasons = point_reasons(lat, lon, rule=rule, fallback_points=fallback_points)
    candidates = keys[(sizes >= rule.min_count) | (reasons != "")]
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
        located=int(sizes.sum()),
    )

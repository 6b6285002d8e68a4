"""Close times an export does not state outright: from ``notes`` events or the update time.

GeoReport v2 has no close-time field.  Endpoints that publish their request
history do so as ``notes``: a list of events ``{datetime, type, summary,
description}``, one of which closes the request.  Others only say
``status = closed`` and when the request was last updated.  A profile turns
each source on (``[timestamps] closed_from_notes`` / ``closed_from_updated``);
an explicit close time always wins, then the last closing event in the notes,
then ``updated_datetime`` for a closed row.  Every row whose close time comes
from notes or from the update time is flagged (``closed_time_from_notes``,
``closed_time_from_updated``) and counted; notes that cannot be read are
flagged ``unreadable_notes``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311.io.timestamps import parse_timestamps

__all__ = ["Closures", "derive_close_times"]

Flags = npt.NDArray[np.bool_]

#: Event members that may carry the event's kind, tried in order.
_KIND_MEMBERS = ("type", "status")
#: Event members that may describe it, tried in order when the kind says nothing.
_TEXT_MEMBERS = ("description", "summary")


@dataclass
class Closures:
    """Close times after filling, and the rows that were filled or unreadable."""

    closed: pd.Series
    flags: dict[str, Flags]
    examples: dict[str, list[str]]


def _events(text: str) -> list[dict[str, object]] | None:
    """Return the events of one ``notes`` value, or None when it is not a list of objects."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        return None
    return value


def _closing(event: dict[str, object], words: re.Pattern[str]) -> bool:
    """Return True when an event's kind -- or, lacking one, its text -- says it closed."""
    for member in _KIND_MEMBERS:
        kind = event.get(member)
        if isinstance(kind, str) and kind.strip():
            return words.fullmatch(kind.strip().casefold()) is not None
    for member in _TEXT_MEMBERS:
        text = event.get(member)
        if isinstance(text, str) and text.strip():
            return words.match(text.strip().casefold()) is not None
    return False


def _note_close_times(
    notes: pd.Series,
    *,
    closed_words: tuple[str, ...],
    formats: tuple[str, ...],
    zones: str | pd.Series,
    naive: str,
) -> tuple[pd.Series, Flags]:
    """Return each row's last closing event time (UTC, NaT when none) and unreadable rows."""
    n = len(notes)
    unreadable = np.zeros(n, dtype=bool)
    pattern = "|".join(re.escape(w) for w in closed_words) or r"(?!)"
    words = re.compile(rf"(?:{pattern})\b")
    rows: list[int] = []
    stamps: list[object] = []
    parsed_values: dict[str, list[dict[str, object]] | None] = {}
    for i, text in enumerate(notes.tolist()):
        if text is None or text is pd.NA or not str(text).strip():
            continue
        key = str(text)
        if key not in parsed_values:
            parsed_values[key] = _events(key)
        events = parsed_values[key]
        if events is None:
            unreadable[i] = True
            continue
        for event in events:
            if _closing(event, words):
                rows.append(i)
                stamps.append(event.get("datetime"))
    out = pd.Series(pd.NaT, index=notes.index, dtype="datetime64[us, UTC]")
    if not rows:
        return out, unreadable
    where = np.asarray(rows, dtype=np.int64)
    row_zones = zones if isinstance(zones, str) else zones.iloc[where].reset_index(drop=True)
    text_stamps = pd.Series(
        [s if isinstance(s, str | int | float) else None for s in stamps], dtype="string"
    )
    parsed = parse_timestamps(text_stamps, formats=formats, timezone=row_zones, naive=naive)
    bad = parsed.unparsed | parsed.values.isna().to_numpy(dtype=bool)
    unreadable[where[bad]] = True
    closing = pd.DataFrame({"row": where[~bad], "at": parsed.values[~bad].to_numpy()})
    last = closing.groupby("row")["at"].max()
    values = out.to_numpy(copy=True)
    values[last.index.to_numpy(dtype=np.int64)] = last.to_numpy(dtype="datetime64[us]")
    return pd.Series(values, index=notes.index).dt.tz_localize("UTC"), unreadable


def derive_close_times(
    closed: pd.Series,
    *,
    updated: pd.Series,
    notes: pd.Series | None,
    is_open: Flags,
    is_closed: Flags,
    closed_words: tuple[str, ...],
    formats: tuple[str, ...],
    zones: str | pd.Series,
    naive: str = "local",
    from_updated: bool = False,
) -> Closures:
    """Fill missing close times from notes events, then from the update time.

    Parameters
    ----------
    closed, updated : pandas.Series
        Explicit close and last-update times (UTC), one per row.
    notes : pandas.Series or None
        Raw ``notes`` text (a JSON list of events) per row, or None when the
        profile reads no notes or the file has none.
    is_open, is_closed : numpy.ndarray of bool
        Rows whose raw status is one of the profile's open / closed words.
        Notes never close a row whose status says open; the update time
        only closes a row whose status says closed.
    closed_words : tuple of str
        The profile's closed status words (case-folded): an event closes
        when its ``type`` (or ``status``) is one of them, or, when it has
        neither, when its ``description`` (or ``summary``) starts with one.
    formats, zones, naive
        How to read the events' ``datetime`` values, as in
        :func:`geo311.io.timestamps.parse_timestamps` (``zones`` may give one
        zone per row).
    from_updated : bool, default False
        Whether a closed row without any close time closes at ``updated``.

    Returns
    -------
    Closures
        The filled close times and the boolean flags
        ``closed_time_from_notes``, ``closed_time_from_updated`` and
        ``unreadable_notes`` (with up to five example values).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> at = pd.Series(pd.to_datetime(["2024-05-02T10:00:00Z"]))
    >>> notes = pd.Series(['[{"datetime": "2024-05-01T09:00:00-05:00", "type": "closed"}]'])
    >>> none = pd.Series([pd.NaT], dtype=at.dtype)
    >>> out = derive_close_times(none, updated=at, notes=notes,
    ...     is_open=np.array([False]), is_closed=np.array([True]), closed_words=("closed",),
    ...     formats=("ISO8601",), zones="UTC", from_updated=True)
    >>> str(out.closed.iloc[0]), int(out.flags["closed_time_from_notes"].sum())
    ('2024-05-01 14:00:00+00:00', 1)
    """
    flags: dict[str, Flags] = {}
    examples: dict[str, list[str]] = {}
    out = closed.copy()
    if notes is not None:
        from_notes, unreadable = _note_close_times(
            notes, closed_words=closed_words, formats=formats, zones=zones, naive=naive
        )
        fill = (out.isna() & from_notes.notna()).to_numpy(dtype=bool) & ~is_open
        out = out.mask(fill, from_notes)
        flags["closed_time_from_notes"] = fill
        flags["unreadable_notes"] = unreadable
        if unreadable.any():
            examples["unreadable_notes"] = [
                str(v)[:80] for v in dict.fromkeys(notes[unreadable].tolist())
            ][:5]
    if from_updated:
        fill = (out.isna() & updated.notna()).to_numpy(dtype=bool) & is_closed
        out = out.mask(fill, updated)
        flags["closed_time_from_updated"] = fill
    return Closures(out, flags, examples)

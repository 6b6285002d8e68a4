"""Selection work shared by every indicator of a run: done once per requests frame.

A layer's tables read the same requests many times: the per-area table, the
citywide row, the time patterns, the channel and service-type mixes (each per
area and citywide) and the equity groups -- and a run does it for every layer.
Each of these calls selects the requests (:func:`geo311.indicators.scope._select`):
it encodes text columns as integer codes, resolves every source's as-of time,
applies the period / type / duplicate rules and computes durations.  The
answers only depend on the frame and on the options, so inside
:func:`shared_selection` they are computed once and reused:

>>> import pandas as pd
>>> frame = pd.DataFrame({"status": ["open", "closed", "open"]})
>>> with shared_selection(frame):
...     first = remember(frame, ("codes", "status"), lambda: pd.factorize(frame["status"])[0])
...     again = remember(frame, ("codes", "status"), lambda: None)
>>> again is first
True

Outside the block, or for another frame, :func:`remember` just computes.
Blocks nest: what every layer can share (``lasting=True``: the encodings of
whole columns, the layer-free selection and what is computed from it) is
kept by the outermost block of the frame -- a run's -- and everything else
by the innermost -- one layer's --, released when its tables are done.  The
rows a layer places (its part of the layer-free selection, a copy of its
arrays) are kept for the layers that place the same rows, but only until a
layer places other rows: a run then holds one or two such copies at a time,
not one per layer (``replaces``).  The
frame must not be changed inside the block (the functions that open it never
change their inputs).  Remembered arrays are made read-only, so a caller that
tried to change one in place would fail loudly instead of altering another
table's figures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

__all__ = ["Same", "remember", "shared_selection"]

T = TypeVar("T")


@dataclass
class _Memo:
    """The remembered answers for one frame, as (key, value) pairs (keys need not hash)."""

    frame: pd.DataFrame
    entries: list[tuple[Any, Any]] = field(default_factory=list)
    #: the replaceable lasting answers (see :func:`remember`) this block read, by id
    used: set[int] = field(default_factory=set)


_CURRENT: ContextVar[tuple[_Memo, ...]] = ContextVar("geo311_shared_selection", default=())


@contextmanager
def shared_selection(*frames: pd.DataFrame) -> Iterator[None]:
    """Reuse the selection work on ``frames`` inside the block (see the module docstring).

    Parameters
    ----------
    *frames : pandas.DataFrame
        Request frames the block's indicator calls read.  They are not
        modified, and must not be modified inside the block.

    Yields
    ------
    None
    """
    token = _CURRENT.set(_CURRENT.get() + tuple(_Memo(f) for f in frames))
    try:
        yield
    finally:
        _CURRENT.reset(token)


class Same:
    """A key part equal only to the very same object (a layer, a frame), which it keeps alive.

    >>> a = [1]
    >>> Same(a) == Same(a), Same(a) == Same([1])
    (True, False)
    """

    __slots__ = ("obj",)
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.obj is self.obj


def _read_only(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple | list):
        for item in value:
            _read_only(item)
    elif isinstance(value, dict):
        for item in value.values():
            _read_only(item)
    return value


def _arrays(value: Any, ids: set[int]) -> None:
    """Add the ids of the numpy arrays ``value`` holds (in containers and dataclasses)."""
    if isinstance(value, np.ndarray):
        ids.add(id(value))
    elif isinstance(value, tuple | list):
        for item in value:
            _arrays(item, ids)
    elif isinstance(value, dict):
        for item in value.values():
            _arrays(item, ids)
    elif is_dataclass(value) and not isinstance(value, type):
        for item in fields(value):
            _arrays(getattr(value, item.name), ids)


def _names(key: Any, ids: set[int]) -> bool:
    """Whether ``key`` names (as :class:`Same`) one of the objects ``ids``."""
    if isinstance(key, Same):
        return id(key.obj) in ids
    return isinstance(key, tuple) and any(_names(part, ids) for part in key)


def _forget(memos: list[_Memo], stale: list[tuple[Any, Any]]) -> None:
    """Drop the entries ``stale`` and every answer keyed by their arrays, transitively."""
    ids: set[int] = set()
    dropped = {id(entry) for entry in stale}
    for _, value in stale:
        _arrays(value, ids)
    grew = True
    while grew:  # an answer computed from a dropped one (its key names its arrays) goes too
        grew = False
        for memo in memos:
            for entry in memo.entries:
                if id(entry) not in dropped and _names(entry[0], ids):
                    dropped.add(id(entry))
                    _arrays(entry[1], ids)
                    grew = True
    for memo in memos:
        memo.entries = [entry for entry in memo.entries if id(entry) not in dropped]


def remember(
    frame: pd.DataFrame,
    key: Any,
    compute: Callable[[], T],
    *,
    lasting: bool = False,
    replaces: Callable[[Any], bool] | None = None,
) -> T:
    """Return ``compute()``, remembered under ``key`` inside :func:`shared_selection`.

    Parameters
    ----------
    frame : pandas.DataFrame
        The requests the answer is computed from.
    key : object
        What was computed, with every option it depends on; compared with ``==``.
    compute : callable
        Computes the answer; its numpy arrays are made read-only when remembered.
    lasting : bool, default False
        Keep the answer in the outermost block of ``frame`` (e.g. a column's
        encoding, useful to every layer), not the innermost.
    replaces : callable, optional
        For large lasting answers of which a run needs one or two at a time
        (e.g. the rows a layer places): when this answer is computed, the
        lasting answers whose key ``replaces(key)`` accepts are forgotten --
        with every answer keyed by their arrays (:class:`Same`) -- unless a
        block open inside the outermost one (a layer's) has read them.

    Returns
    -------
    object
        The answer (the same object on every call with an equal key).
    """
    memos = [m for m in _CURRENT.get() if m.frame is frame]
    if not memos:
        return compute()
    for memo in memos:
        for stored, value in memo.entries:
            if type(stored) is type(key) and stored == key:
                if replaces is not None:
                    memos[-1].used.add(id(value))
                return value
    value = _read_only(compute())
    target = memos[0] if lasting else memos[-1]
    if replaces is not None:
        in_use = set().union(*(memo.used for memo in memos[1:]))
        stale = [e for e in target.entries if replaces(e[0]) and id(e[1]) not in in_use]
        if stale:
            _forget(memos, stale)
        memos[-1].used.add(id(value))
    target.entries.append((key, value))
    return value

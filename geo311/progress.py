"""Progress of long steps, reported to whoever runs the library (the CLI draws bars).

The library never prints.  A function with long work takes a keyword-only
``progress=`` hook (default None: nothing is reported) and calls it after
each unit of work with the step's name, the units done so far and the total
(None when it is not known in advance, e.g. the rows of a file still being
read).  ``geo311`` passes a hook that draws a progress bar on a terminal
(:mod:`geo311.cli.progress`); any callable of this shape works.

Examples
--------
>>> seen = []
>>> def hook(step, done, total, *, unit):
...     seen.append(f"{step} {done}/{total} {unit}")
>>> report(hook, "site", 1, 3, unit="pages")
>>> report(None, "site", 2, 3, unit="pages")  # no hook: nothing happens
>>> seen
['site 1/3 pages']
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ProgressHook", "report"]


class ProgressHook(Protocol):
    """A callable told how far a step has got: ``hook(step, done, total, unit=...)``.

    Parameters
    ----------
    step : str
        What is running: ``"ingest"``, ``"clean"`` (the out-of-core run's
        cleaning across rows), ``"boundaries"``, ``"join"``, ``"indicators"``
        or ``"site"``.
    done : int
        Units of the step done so far (cumulative, never decreasing).
    total : int or None
        Units in the whole step, or None when unknown; a step with a total
        is finished when ``done == total``.
    unit : str
        What is counted (``"rows"``, ``"files"``, ``"layers"``, ``"pages"``).
    """

    def __call__(self, step: str, done: int, total: int | None, *, unit: str) -> None:
        """Record that ``done`` of ``total`` units of ``step`` are finished."""


def report(
    progress: ProgressHook | None, step: str, done: int, total: int | None, *, unit: str
) -> None:
    """Call ``progress`` (when given) with how far ``step`` has got.

    Parameters
    ----------
    progress : ProgressHook or None
        The caller's hook; None reports nothing.
    step, done, total, unit
        As in :class:`ProgressHook`.
    """
    if progress is not None:
        progress(step, done, total, unit=unit)

"""What a command shows on stderr while it runs: log lines and progress bars.

Log lines, by verbosity (``-v`` / ``-q`` on the ``geo311`` group):

* default: one INFO line per stage with counts, from the loggers in
  :data:`STAGE_LOGGERS`, and every WARNING; third-party INFO (pyogrio's
  "Created 278 records", matplotlib, PIL ...) is not shown;
* ``-v``: every geo311 line down to DEBUG, third-party WARNINGs;
* ``-vv``: everything, third-party DEBUG included;
* ``-q``: WARNINGs only; ``-qq``: errors only.

Progress bars (tqdm) are drawn on stderr for a step that is still running
after :data:`BAR_DELAY_S` seconds, when stderr is a terminal and ``CI`` is not
set, or always with ``--progress``; never with ``--no-progress``.  The library
reports progress through a hook (:mod:`geo311.progress`); :func:`progress_bars`
supplies one.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from tqdm import tqdm

from geo311.progress import ProgressHook

__all__ = [
    "BAR_DELAY_S",
    "STAGE_LOGGERS",
    "Bars",
    "progress_bars",
    "setup_logging",
    "show_bars",
    "verbosity",
]

#: geo311 loggers whose INFO lines are shown by default: one line per stage, with counts.
STAGE_LOGGERS = frozenset(
    {
        "geo311.io.readers",  # rows read per file, requests kept
        "geo311.join.assign",  # requests assigned per layer
        "geo311.indicators.tables",  # areas tabulated per layer
        "geo311.geocode.core",  # addresses geocoded
        "geo311.cli.geocode",  # geocoder batches answered (slow, online)
        "geo311.connectors._paging",  # pages downloaded (slow, online)
        "geo311.connectors.boundaries",  # boundary files fetched
    }
)

#: A step's bar appears only once the step has run this long (s): short inputs show none.
BAR_DELAY_S = 2.0


class _Shown(logging.Filter):
    """Let through what the verbosity shows (see the module docstring)."""

    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or self.verbosity >= 2:
            return True
        ours = record.name == "geo311" or record.name.startswith("geo311.")
        if self.verbosity == 1:
            return ours
        return ours and record.levelno >= logging.INFO and record.name in STAGE_LOGGERS


class _Format(logging.Formatter):
    """Plain INFO lines by default; level and logger name on the others and with ``-v``."""

    def __init__(self, verbosity: int) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.verbosity = verbosity

    def format(self, record: logging.LogRecord) -> str:
        if self.verbosity <= 0:
            message = record.getMessage()
            return message if record.levelno == logging.INFO else f"{record.levelname}: {message}"
        return super().format(record)


class _BarSafeHandler(logging.StreamHandler):
    """Write log lines above any progress bar on the same stream (``tqdm.write``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # logging must never raise
            self.handleError(record)


def setup_logging(verbosity: int, stream: IO[str] | None = None) -> None:
    """Send log lines to stderr as the verbosity says (see the module docstring).

    Parameters
    ----------
    verbosity : int
        ``-v`` count minus ``-q`` count.
    stream : file, optional
        Default ``sys.stderr`` as it is now (a test runner's capture included).
    """
    handler = _BarSafeHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(_Shown(verbosity))
    handler.setFormatter(_Format(verbosity))
    levels = {-1: logging.WARNING, 0: logging.INFO}
    level = logging.ERROR if verbosity < -1 else levels.get(verbosity, logging.DEBUG)
    logging.basicConfig(level=level, handlers=[handler], force=True)


def verbosity() -> int:
    """Return the ``-v`` count minus the ``-q`` count of the running command (0 outside one)."""
    ctx = click.get_current_context(silent=True)
    return int(ctx.meta.get("geo311.verbosity", 0)) if ctx is not None else 0


def show_bars(option: bool | None) -> bool:
    """Say whether to draw bars: as ``--progress``/``--no-progress`` say, else on a terminal.

    Without either option, bars are drawn when stderr is a terminal and the
    ``CI`` environment variable is not set.
    """
    if option is not None:
        return option
    return sys.stderr.isatty() and not os.environ.get("CI")


class Bars:
    """A :class:`~geo311.progress.ProgressHook` drawing one tqdm bar per step on a stream.

    A bar ends when its step reaches its total, when another step starts,
    or at :meth:`close`; finished bars are cleared (the summary follows).

    Parameters
    ----------
    stream : file
        Where the bars are drawn (stderr).
    delay : float, default BAR_DELAY_S
        Seconds a step runs before its bar appears.
    redraw_s : float, default 0.5
        Least time between two redraws of a bar.
    """

    def __init__(
        self, stream: IO[str], *, delay: float = BAR_DELAY_S, redraw_s: float = 0.5
    ) -> None:
        self.stream = stream
        self.delay = delay
        self.redraw_s = redraw_s
        self._step: str | None = None
        self._bar: Any = None

    def __call__(self, step: str, done: int, total: int | None, *, unit: str) -> None:
        """Move the bar of ``step`` to ``done`` (of ``total``), starting it if new."""
        if step != self._step:
            self.close()
            self._step = step
            self._bar = tqdm(
                total=total,
                desc=step,
                unit=f" {unit}",
                unit_scale=total is None,
                file=self.stream,
                delay=self.delay,
                mininterval=self.redraw_s,
                leave=False,
                dynamic_ncols=True,
            )
        self._bar.update(done - self._bar.n)
        if total is not None and done >= total:
            self.close()

    def close(self) -> None:
        """End the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
        self._step, self._bar = None, None


@contextmanager
def progress_bars(option: bool | None) -> Iterator[ProgressHook | None]:
    """Yield a hook drawing bars on stderr (see :func:`show_bars`), or None for no bars.

    Parameters
    ----------
    option : bool or None
        ``--progress`` (True), ``--no-progress`` (False), or neither (None).
    """
    if not show_bars(option):
        yield None
        return
    bars = Bars(sys.stderr)
    try:
        yield bars
    finally:
        bars.close()

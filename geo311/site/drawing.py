"""The site's PNGs drawn while its pages are written: in a forked process on Linux.

Matplotlib holds the GIL while it draws, so a thread would not overlap the
drawing with the page writing.  On Linux with more than one CPU, a child
process forked from the site builder draws the PNGs while the builder writes
the HTML pages: forking shares the builder's memory (the projected areas, the
tables), so nothing is pickled but the list of files written.  Elsewhere
(``fork`` is unsafe on macOS and absent on Windows), or on one CPU, the PNGs
are drawn in this process when :meth:`Drawing.result` is called.

The child writes each PNG atomically (:func:`geo311.io.atomic.atomic_write`)
and sends back the paths it wrote, or the exception it raised, which
:meth:`Drawing.result` raises again in the builder.  :meth:`Drawing.cancel`
ends a child whose result is no longer wanted (the builder failed), before the
builder removes its staging folder.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["Drawing", "can_fork"]

log = logging.getLogger(__name__)

_ENDED_MSG = (
    "the process drawing the static maps ended without a result (exit code {code}); "
    "build the site again, or without PNGs (--no-png)"
)


def can_fork() -> bool:
    """Whether the PNGs are drawn by a forked process: Linux, with more than one CPU."""
    return sys.platform == "linux" and (os.cpu_count() or 1) > 1


def _child(draw: Callable[[], list[Path]], conn: Any) -> None:
    """Run ``draw`` in the forked process; send its paths, or the exception it raised."""
    outcome: tuple[str, Any]
    try:
        outcome = ("paths", [str(p) for p in draw()])
    except BaseException as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(f"{type(exc).__name__}: {exc}")
        outcome = ("error", exc)
    conn.send(outcome)
    conn.close()


class Drawing:
    """PNGs being drawn: by a forked child process, or in this process when asked for.

    Parameters
    ----------
    draw : callable
        Draws every PNG and returns their paths.
    background : bool, optional
        Draw in a forked child process; default :func:`can_fork`.

    Used as a context manager, the child is ended on leaving the block if its
    result was not taken (the block raised).
    """

    def __init__(self, draw: Callable[[], list[Path]], *, background: bool | None = None) -> None:
        self._draw = draw
        self._process: Any = None
        self._conn: Any = None
        if background if background is not None else can_fork():
            import multiprocessing  # noqa: PLC0415 - only where the child is forked

            context = multiprocessing.get_context("fork")
            receive, send = context.Pipe(duplex=False)
            # the child would write out again what the builder's buffers still hold
            sys.stdout.flush()
            sys.stderr.flush()
            self._process = context.Process(
                target=_child, args=(draw, send), name="geo311-png", daemon=True
            )
            self._process.start()
            send.close()  # the child holds the sending end: the pipe ends with it
            self._conn = receive
            log.debug("drawing the PNGs in process %d", self._process.pid)

    def result(self) -> list[Path]:
        """Return the paths of the PNGs drawn, once all are; raise what the drawing raised."""
        if self._process is None:
            return self._draw()
        process, self._process = self._process, None
        try:
            kind, value = self._conn.recv()
        except EOFError:  # the child ended before sending (killed, or out of memory)
            process.join()
            raise RuntimeError(_ENDED_MSG.format(code=process.exitcode)) from None
        finally:
            self._conn.close()
        process.join()
        if kind == "error":
            raise value
        return [Path(p) for p in value]

    def __enter__(self) -> Drawing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def cancel(self) -> None:
        """End the child, if one is still drawing (its result is no longer wanted)."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.join()
        self._conn.close()
        self._process = None

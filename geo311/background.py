"""Work done by a forked child process while this one goes on: on Linux, with CPUs to spare.

Much of geo311's one-process work holds the GIL (matplotlib drawing, pandas),
so threads would not overlap it.  On Linux with more than one CPU,
:class:`Background` forks a child that runs a function while the caller goes
on: forking shares the caller's memory (layers, tables), so nothing is pickled
but the function's result.  Elsewhere (``fork`` is unsafe on macOS and absent
on Windows), or on one CPU, the function runs in this process when
:meth:`Background.result` is called.

The child sends back its result, or the exception it raised, which
:meth:`Background.result` raises again in the caller.  The result is
pickled into a temporary file the caller made before forking, and read
from there: a pipe carries a large result (a file's prepared chunks, tens of
MB) at a few hundred MB/s, the page cache several times faster.  Where the
file cannot be written (a full disk), the result goes through the pipe.
:meth:`Background.cancel` ends a child whose result is no longer wanted (the
caller failed), e.g. before the caller removes a staging folder the child
writes into.  :class:`SharedTasks` lets the caller and the child take tasks
from the two ends of one list until they meet; :func:`split_with_child`
does a list of tasks that way and returns every result in order.

Used by: the site, whose child draws the PNGs, then writes pages from the
back while the builder writes them from the front; :func:`geo311.run_city`,
which simplifies the site's boundaries for display while it computes the
indicator tables (:func:`geo311.site.simplify.simplify_in_background`);
:func:`geo311.run`, which computes the layers' indicator tables in two
processes, and its out-of-core join, which joins the parts in two;
:func:`geo311.indicators.tables.write_tables`, which writes the layers' files
in two; and
:func:`geo311.io.readers.read_file`, whose child reads a large file, hands
every other chunk over (:mod:`geo311.io.relay`) and prepares the others.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["Background", "SharedTasks", "can_fork", "split_with_child"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_ENDED_MSG = "the process {what} ended without a result (exit code {code}); {advice}"


def can_fork() -> bool:
    """Whether :class:`Background` forks by default: Linux, with more than one CPU to run on.

    The CPUs this process may run on (its affinity, e.g. under ``taskset`` or
    a container's ``cpuset``), not those of the machine.  Never in a daemon
    process (a Dask worker), which may not have children.
    """
    if sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2:
        return False
    import multiprocessing  # noqa: PLC0415 - imported by Background anyway

    return not multiprocessing.current_process().daemon


def _send_error(conn: Any, exc: BaseException) -> None:
    """Send ``exc`` to the caller as its class and arguments; one that cannot go, as words.

    Not the exception object itself: a library that changes how exceptions
    pickle (``tblib``, installed by ``dask.distributed``) cannot rebuild some of
    them (an error deriving from both ValueError and OSError) in the caller.
    """
    try:
        conn.send(("error", (type(exc), exc.args)))
    except Exception:
        conn.send(("error", (RuntimeError, (f"{type(exc).__name__}: {exc}",))))


def _rebuilt(kind: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    """Return the child's exception made again from its class and arguments."""
    try:
        return kind(*args)
    except Exception:  # a class whose arguments are not those it was made with
        return RuntimeError(f"{kind.__name__}: {', '.join(map(str, args))}")


def _child(work: Callable[[], Any], conn: Any, spill: Path | None) -> None:
    """Run ``work`` in the forked process; send its result, or the exception it raised.

    The result is pickled into the file ``spill`` (the caller reads it from
    there), or sent through ``conn`` when there is none or it cannot be written.
    """
    try:
        result = work()
    except BaseException as exc:
        _send_error(conn, exc)
    else:
        try:
            if _spilled(result, spill):
                conn.send(("file", None))
            else:
                conn.send(("result", result))  # pickled whole before anything is sent
        except Exception as exc:
            _send_error(conn, exc)
    conn.close()


def _spilled(result: Any, spill: Path | None) -> bool:
    """Pickle ``result`` into ``spill``; False where there is no file or no room in it."""
    if spill is None:
        return False
    try:
        with spill.open("wb") as fh:
            pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        return False
    return True


class Background(Generic[_T]):
    """``work()`` being done by a forked child process, or here when its result is asked for.

    Parameters
    ----------
    work : callable
        What to do; its result must pickle.
    what : str
        What the child does, for the message if it ends without a result
        (e.g. ``"drawing the static maps"``).
    advice : str
        What to do then.
    background : bool, optional
        Fork a child; default :func:`can_fork`.

    Used as a context manager, the child is ended on leaving the block if its
    result was not taken (the block raised).
    """

    def __init__(
        self,
        work: Callable[[], _T],
        *,
        what: str,
        advice: str,
        background: bool | None = None,
    ) -> None:
        self._work = work
        self._what, self._advice = what, advice
        self._process: Any = None
        self._conn: Any = None
        self._spill: Path | None = None  # the file the child pickles its result into
        if background if background is not None else can_fork():
            import multiprocessing  # noqa: PLC0415 - only where a child is forked

            context = multiprocessing.get_context("fork")
            receive, send = context.Pipe(duplex=False)
            try:
                handle, spill = tempfile.mkstemp(prefix="geo311-result-", suffix=".pickle")
            except OSError as exc:  # no temporary folder to write in: the pipe carries it
                log.debug("the child's result comes through its pipe: %s", exc)
            else:
                os.close(handle)
                self._spill = Path(spill)
            # the child would write out again what this process's buffers still hold
            sys.stdout.flush()
            sys.stderr.flush()
            self._process = context.Process(
                target=_child,
                args=(work, send, self._spill),
                name="geo311-background",
                daemon=True,
            )
            self._process.start()
            send.close()  # the child holds the sending end: the pipe ends with it
            self._conn = receive
            log.debug("%s in process %d", what, self._process.pid)

    def __enter__(self) -> Background[_T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def result(self) -> _T:
        """Return the result of ``work()``, once done; raise what it raised."""
        if self._process is None:
            return self._work()
        process, self._process = self._process, None
        try:
            kind, value = self._conn.recv()
            if kind == "file" and self._spill is not None:
                with self._spill.open("rb") as fh:
                    value = pickle.load(fh)  # written by our own child
        except EOFError:  # the child ended before sending (killed, or out of memory)
            process.join()
            msg = _ENDED_MSG.format(what=self._what, code=process.exitcode, advice=self._advice)
            raise RuntimeError(msg) from None
        finally:
            self._conn.close()
            self._remove_spill()
        process.join()
        if kind == "error":
            raise _rebuilt(*value)
        return value

    def _remove_spill(self) -> None:
        spill, self._spill = self._spill, None
        if spill is not None:
            try:
                spill.unlink(missing_ok=True)
            except OSError as exc:  # a temporary file left behind does not fail the run
                log.debug("could not remove %s: %s", spill, exc)

    def cancel(self) -> None:
        """End the child, if one is still working (its result is no longer wanted)."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.join()
        self._conn.close()
        self._process = None
        self._remove_spill()


class _Counter:
    """An integer with a ``value``, as ``multiprocessing.RawValue`` has (this process only)."""

    def __init__(self, value: int) -> None:
        self.value = value


class SharedTasks:
    """Tasks ``0 .. n-1`` that this process takes from the front and a forked child from the back.

    Each task is taken once: the two ends meet wherever the two processes'
    speeds make them meet, so the work is balanced without knowing in advance
    what each task costs (e.g. the site's pages, which the child writes once
    its PNGs are drawn).  The counters live in memory shared with a child
    forked after this object is made (``shared=True``; :attr:`shared` says
    whether they are: a system without shared semaphores has none); without
    a child, this process takes every task from the front and the child's
    share is empty.

    Parameters
    ----------
    n : int
        Number of tasks.
    shared : bool
        Share the counters with a child forked later (``fork`` start method).

    Examples
    --------
    >>> tasks = SharedTasks(3, shared=False)
    >>> tasks.front(), tasks.back(), tasks.front(), tasks.front()
    (0, 2, 1, None)
    """

    def __init__(self, n: int, *, shared: bool) -> None:
        self._front: Any
        self._back: Any
        self._lock: Any = None
        if shared:
            import multiprocessing  # noqa: PLC0415 - only where a child is forked

            context = multiprocessing.get_context("fork")
            try:
                self._lock = context.Lock()
            except OSError as exc:  # no shared semaphores here (e.g. no /dev/shm)
                log.debug("tasks not shared with a child: %s", exc)
            else:
                self._front, self._back = context.RawValue("l", 0), context.RawValue("l", n)
        if self._lock is None:
            import threading  # noqa: PLC0415

            self._lock = threading.Lock()
            self._front, self._back = _Counter(0), _Counter(n)
        #: Whether a child forked from now on shares the tasks (else it must take none).
        self.shared = not isinstance(self._front, _Counter)

    def front(self) -> int | None:
        """Take the first task not taken yet; None when none is left."""
        with self._lock:
            if self._front.value >= self._back.value:
                return None
            self._front.value += 1
            return int(self._front.value - 1)

    def back(self) -> int | None:
        """Take the last task not taken yet; None when none is left."""
        with self._lock:
            if self._front.value >= self._back.value:
                return None
            self._back.value -= 1
            return int(self._back.value)

    def take_back(self, do: Callable[[int], _T]) -> dict[int, _T]:
        """Do the tasks from the back until none is left; return each one's result by index.

        A forked child's share; nothing where the tasks are not :attr:`shared`
        (this process, taking them from the front, does them all).
        """
        done = {}
        while self.shared and (task := self.back()) is not None:
            done[task] = do(task)
        return done


def split_with_child(
    n: int,
    do: Callable[[int], _T],
    *,
    what: str,
    advice: str,
    done: Callable[[int], object] | None = None,
    child: bool = True,
) -> list[_T]:
    """Do tasks ``0 .. n-1``, this process from the front and a forked child from the back.

    The two meet wherever their speeds make them meet (:class:`SharedTasks`);
    the child sends back the results of its share when it runs out of tasks.
    Without a child (``child`` False, :func:`can_fork` False, fewer than two
    tasks), this process does every task.

    Parameters
    ----------
    n : int
        Number of tasks.
    do : callable
        ``do(task)`` does one task; its result must pickle.
    what, advice : str
        As in :class:`Background`.
    done : callable, optional
        Called with the number of tasks this process has done, after each.
    child : bool, default True
        Fork a child where one can be forked; False keeps the work (and its
        memory) in this process.

    Returns
    -------
    list
        Each task's result, in task order.
    """
    tasks = SharedTasks(n, shared=child and n > 1 and can_fork())
    results: dict[int, _T] = {}
    with Background(
        partial(tasks.take_back, do), what=what, advice=advice, background=tasks.shared
    ) as forked:
        while (task := tasks.front()) is not None:
            results[task] = do(task)
            if done is not None:
                done(len(results))
        results.update(forked.result())
    return [results[task] for task in range(n)]

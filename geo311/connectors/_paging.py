"""The download skeleton every connector shares: page store, progress, totals, provenance.

A connector (:mod:`~geo311.connectors.arcgis`, :mod:`~geo311.connectors.socrata`,
:mod:`~geo311.connectors.open311`, :mod:`~geo311.connectors.census`) does
the same five things around its own paging rule:

1. refuse to overwrite an output (:func:`prepare_out`) and open an HTTP
   client unless the caller lent one (:func:`open_client`);
2. save pages as they arrive into a work folder next to the output
   (``.<name>.partial/``) with a ``state.json`` recording the last complete
   page and the connector's cursor (:class:`PageStore`), so an interrupted
   run (error, Ctrl-C, crash) continues from there when called again with the
   same query; a run with a different query discards the stale work folder;
3. report progress, one log line and one callback per page (:class:`Progress`);
4. page by offset, and compare the rows fetched with the count the server
   reports, resuming from where the paging stopped while they differ
   (:class:`Pager`);
5. write the output atomically once every page is in, then a
   ``<file>.provenance.json`` sidecar, and drop the work folder (:func:`finish`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geo311._errors import FetchError, OptionError, OutputExistsError
from geo311.connectors._client import HttpClient, redact_url, write_provenance
from geo311.io.atomic import atomic_write

__all__ = [
    "FetchProgress",
    "FetchResult",
    "PageStore",
    "Pager",
    "Progress",
    "ProgressCallback",
    "check_page_size",
    "finish",
    "open_client",
    "prepare_out",
    "write_json_list",
]

log = logging.getLogger(__name__)

_STATE_VERSION = 1


@dataclass(frozen=True)
class FetchProgress:
    """What a progress callback receives after every saved page.

    Attributes
    ----------
    pages : int
        Pages saved so far (including pages resumed from an earlier run).
    rows : int
        Rows saved so far (before de-duplication).
    seconds : float
        Time spent in this run.
    total : int or None
        Rows expected in all, when the source says (the ArcGIS or Socrata count).
    """

    pages: int
    rows: int
    seconds: float
    total: int | None = None


@dataclass(frozen=True)
class FetchResult:
    """What a connector returns.

    Attributes
    ----------
    path : pathlib.Path
        The output file.
    rows : int
        Rows written (after de-duplication).
    pages : int
        Pages fetched in all, including pages resumed from an earlier run.
    seconds : float
        Wall time of this run.
    resumed_pages : int
        Pages that came from an interrupted earlier run.
    provenance : pathlib.Path
        The ``.provenance.json`` sidecar.
    """

    path: Path
    rows: int
    pages: int
    seconds: float
    resumed_pages: int = 0
    provenance: Path = field(default_factory=Path)

    @property
    def rows_per_second(self) -> float:
        """Rows written per second of this run."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


ProgressCallback = Callable[[FetchProgress], None]


# -- resumable page store ----------------------------------------------------------------------


class PageStore:
    """Pages of one download, saved next to the output until the download completes."""

    def __init__(self, out: Path, *, query: Mapping[str, Any]) -> None:
        self.out = out
        self.dir = out.with_name(f".{out.name}.partial")
        self.fingerprint = hashlib.sha256(
            json.dumps(query, sort_keys=True, default=str).encode()
        ).hexdigest()
        self.state: dict[str, Any] = {}
        state_file = self.dir / "state.json"
        if state_file.is_file():
            try:
                state = json.loads(state_file.read_text(encoding="utf-8"))
            except ValueError:
                state = {}
            if state.get("fingerprint") == self.fingerprint and state.get("v") == _STATE_VERSION:
                self.state = state
                log.info(
                    "resuming %s after page %d (%s rows saved)",
                    out,
                    state["pages"],
                    f"{state['rows']:,}",
                )
            else:
                log.info("discarding %s: it belongs to a different query", self.dir)
                shutil.rmtree(self.dir)
        if not self.state:
            self.state = {
                "v": _STATE_VERSION,
                "fingerprint": self.fingerprint,
                "pages": 0,
                "rows": 0,
            }
        self.resumed_pages = int(self.state["pages"])

    @property
    def pages(self) -> int:
        return int(self.state["pages"])

    @property
    def rows(self) -> int:
        return int(self.state["rows"])

    def _write(self, name: str, data: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.dir / name) as tmp:
            tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")

    def load(self, name: str) -> Any:
        path = self.dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def save_extra(self, name: str, data: Any) -> None:
        """Save connector data that must survive a restart (e.g. the object-id list)."""
        self._write(name, data)

    def add_page(self, records: list[Any], **cursor: Any) -> None:
        """Save one complete page, then record it (and the cursor) in the state file."""
        number = self.pages + 1
        self._write(f"page-{number:06d}.json", records)
        self.state.update(cursor)
        self.state["pages"] = number
        self.state["rows"] = self.rows + len(records)
        self._write("state.json", self.state)

    def set_cursor(self, **cursor: Any) -> None:
        """Record a cursor move that saved no page."""
        self.state.update(cursor)
        self._write("state.json", self.state)

    def iter_pages(self) -> Iterator[list[Any]]:
        for number in range(1, self.pages + 1):
            yield json.loads((self.dir / f"page-{number:06d}.json").read_text(encoding="utf-8"))

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class Progress:
    """Log and report progress, one line per page."""

    def __init__(self, label: str, store: PageStore, callback: ProgressCallback | None) -> None:
        self.label = label
        self.store = store
        self.callback = callback
        self.started = time.monotonic()
        self.start_rows = store.rows

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def page(self, *, total: int | None = None) -> None:
        seconds = self.seconds
        new_rows = self.store.rows - self.start_rows
        rate = new_rows / seconds if seconds > 0 else 0.0
        of_total = f" of {total:,}" if total is not None else ""
        log.info(
            "%s: page %d, %s%s rows (%s rows/s)",
            self.label,
            self.store.pages,
            f"{self.store.rows:,}",
            of_total,
            f"{rate:,.0f}",
        )
        if self.callback is not None:
            self.callback(FetchProgress(self.store.pages, self.store.rows, seconds, total))


@dataclass
class Pager(ABC):
    """One query of one service, read into a page store by offset.

    A connector subclasses it and says how to fetch the page at an offset
    (:meth:`page_at`); :meth:`pages` is the paging loop every offset-paged
    service shares.

    Attributes
    ----------
    http : HttpClient
    url : str
        The query URL (may hold credentials: shown only through ``redact_url``).
    base : dict
        The query parameters every page repeats.
    store : PageStore
    tracker : Progress
    size : int
        Rows asked for per page.
    """

    http: HttpClient
    url: str
    base: dict[str, Any]
    store: PageStore
    tracker: Progress
    size: int

    @abstractmethod
    def page_at(self, offset: int, *, cache: bool | None) -> tuple[list[Any], bool]:
        """Return the rows at ``offset`` and whether the server says more follow."""

    @abstractmethod
    def count(self) -> int:
        """Ask the server how many rows the query matches (never from the cache)."""

    def fetched(self) -> int:
        """Return the distinct rows saved so far (every saved row unless overridden)."""
        return self.store.rows

    def resume(self, expected: int) -> None:
        """Fetch and save what follows the last saved page, bypassing the HTTP cache."""
        self.pages(expected, fresh=True)

    def complete(self, expected: int) -> int:
        """Compare the rows fetched with the server's count; resume while they differ.

        When :meth:`fetched` differs from ``expected`` the server is asked again
        (:meth:`count`: the data may have changed while they were read); if the
        rows still differ, :meth:`resume` asks for the pages after the last one
        saved.  That happens at most ``http.retries`` times.

        Parameters
        ----------
        expected : int
            The server's count, asked before paging.

        Returns
        -------
        int
            The rows fetched, equal to the server's latest count.

        Raises
        ------
        FetchError
            The rows still differ from the server's count after the resumes;
            the message names the URL (without credentials), both numbers and
            what to do.
        """
        rounds = self.http.retries
        source = redact_url(self.url)
        got = self.fetched()
        for attempt in range(rounds + 1):
            if got == expected:
                return got
            expected = self.count()
            if got == expected:
                return got
            if attempt == rounds:
                break
            log.warning(
                "%s: the server counts %s rows but %s arrived; resuming after the last page "
                "(%d of %d)",
                source,
                f"{expected:,}",
                f"{got:,}",
                attempt + 1,
                rounds,
            )
            self.resume(expected)
            got = self.fetched()
        msg = (
            f"{source}: the server counts {expected:,} rows for this query but {got:,} arrived "
            f"after {rounds} resume(s); the data may be changing while they are read or the "
            "server drops rows: run the same command again later (saved pages are reused), "
            "narrow the where clause, or lower --page-size"
        )
        raise FetchError(msg)

    def pages(self, expected: int, *, fresh: bool = False) -> None:
        """Page from the saved offset until no more rows come.

        Paging ends at an empty page, or at a page the server marks as the
        last (short, or flagged) once ``expected`` rows have arrived: a short
        page before the count is reached is not the end.  A resume
        (``fresh=True``) continues even after the last page and bypasses the
        HTTP cache.
        """
        if self.store.state.get("done") and not fresh:
            return
        offset = int(self.store.state.get("offset", 0))
        while True:
            rows, more = self.page_at(offset, cache=False if fresh else None)
            offset += len(rows)
            more = bool(rows) and (more or offset < expected)
            if rows or self.store.pages == 0:
                self.store.add_page(rows, offset=offset, done=not more)
                self.tracker.page(total=expected)
            if not more:
                return


def prepare_out(out: str | Path, *, overwrite: bool) -> Path:
    """Return ``out`` as a Path with its folder created; refuse an existing file.

    Raises
    ------
    OutputExistsError
        ``out`` exists and ``overwrite`` is False.
    """
    path = Path(out)
    if path.exists() and not overwrite:
        msg = f"output exists: {path}; pass --overwrite (overwrite=True) to replace it"
        raise OutputExistsError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def check_page_size(page_size: int | None) -> None:
    """Refuse a page size below 1 (None means "the server's default").

    Raises
    ------
    OptionError
        ``page_size`` is zero or negative.
    """
    if page_size is not None and page_size < 1:
        msg = f"page_size (--page-size) must be a positive number of rows, got {page_size}"
        raise OptionError(msg)


@contextmanager
def open_client(
    client: HttpClient | None, *, cache: bool = False, refresh: bool = False
) -> Iterator[HttpClient]:
    """Yield ``client``, or a new :class:`HttpClient` closed on exit when none was lent."""
    if client is not None:
        yield client
        return
    with HttpClient(cache=cache, refresh=refresh) as http:
        yield http


def write_json_list(out: Path, rows: Iterable[Any]) -> int:
    """Write ``rows`` atomically as a JSON list, one row per line; return how many."""
    count = 0
    with atomic_write(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
        fh.write("[")
        for row in rows:
            fh.write((",\n" if count else "\n") + json.dumps(row, separators=(",", ":")))
            count += 1
        fh.write("\n]\n")
    return count


def finish(
    store: PageStore,
    progress: Progress,
    *,
    out: Path,
    rows: int,
    source_url: str,
    params: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> FetchResult:
    """Write the provenance sidecar of ``out``, drop the work folder, log and return the result."""
    sidecar = write_provenance(
        out,
        source_url=source_url,
        params=params,
        rows=rows,
        extra={"pages": store.pages, **extra},
    )
    store.discard()
    seconds = progress.seconds
    log.info(
        "wrote %s: %s rows from %d pages in %.1f s (%s rows/s)",
        out,
        f"{rows:,}",
        store.pages,
        seconds,
        f"{rows / seconds if seconds > 0 else 0:,.0f}",
    )
    return FetchResult(out, rows, store.pages, seconds, store.resumed_pages, sidecar)

"""Chunks a forked child reads and hands to this process: Arrow files mapped, not pickled.

When two processes share a large CSV (:func:`geo311.io.readers.read_file`),
one of them reads (parses) the file and both prepare its chunks.  The reader
hands every other chunk to the other process through a :class:`ChunkRelay`:
a chunk of Arrow strings is written as an Arrow IPC file in a temporary
folder, which the receiver memory-maps (no copy, nothing pickled) and
removes at once; any other chunk (pandas strings, points) is pickled through
the relay's pipe.  A chunk is acknowledged when the receiver asks for the
next one (it is done with it), and the reader waits when :data:`AHEAD`
chunks are not yet acknowledged, so the files on disk never hold more than
a few chunks.

The receiver sees an end of the relay (:meth:`ChunkRelay.received` stops)
when the reader closes its end -- also when it fails or is killed: the
reader's own error then comes from its process (:class:`geo311.background.Background`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from geo311.io.formats import ARROW_STRINGS, Chunk

__all__ = ["AHEAD", "ChunkRelay"]

#: Chunks handed over and not yet acknowledged before the reader waits.
AHEAD = 2


def _maps_as_arrow(chunk: Chunk) -> bool:
    """Whether ``chunk`` comes back from an Arrow file exactly: Arrow strings, a plain index."""
    raw = chunk.raw
    index = raw.index
    return (
        chunk.points is None
        and isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and raw.columns.is_unique
        and all(isinstance(c, str) for c in raw.columns)
        and all(dtype == ARROW_STRINGS for dtype in raw.dtypes)
    )


class ChunkRelay:
    """A one-way relay of chunks from a reading child to this process, with acknowledgements.

    Make it before forking the child; the child calls :meth:`hand` and
    :meth:`count` inside :meth:`sending`, this process iterates
    :meth:`received`, then calls :meth:`close`.

    Parameters
    ----------
    folder : pathlib.Path, optional
        Where the Arrow files go (default: a new folder in the system's
        temporary folder, removed by :meth:`close`).
    """

    def __init__(self, folder: Path | None = None) -> None:
        import multiprocessing  # noqa: PLC0415 - only where a child is forked

        self._own_folder = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="geo311-read-")) if folder is None else folder
        context = multiprocessing.get_context("fork")
        # two one-way pipes: a reader that ends with acknowledgements unread leaves this
        # process an end of file on the chunks' pipe, not a reset connection
        self._chunks_in, self._chunks_out = context.Pipe(duplex=False)
        self._acks_in, self._acks_out = context.Pipe(duplex=False)
        self._waiting = 0  # chunks handed over, not yet acknowledged (the reader's count)

    # -- the reading child ---------------------------------------------------------------

    @contextlib.contextmanager
    def sending(self) -> Iterator[ChunkRelay]:
        """Use in the child around its reading: closes the receiver's ends, and its own after.

        Closing its own ends, also on an error, ends the receiver's :meth:`received`.
        """
        self._chunks_in.close()
        self._acks_out.close()
        try:
            yield self
        finally:
            self._chunks_out.close()
            self._acks_in.close()

    def hand(self, index: int, chunk: Chunk) -> None:
        """Hand chunk ``index`` over; first wait while :data:`AHEAD` are unacknowledged."""
        while self._waiting >= AHEAD:
            self._acks_in.recv()
            self._waiting -= 1
        message: tuple[Any, ...] = ("chunk", index, chunk)
        if _maps_as_arrow(chunk):
            path = self.folder / f"chunk-{index:06d}.arrow"
            try:
                _write_arrow(chunk.raw, path)
            except OSError:  # a full disk: the pipe still carries it, more slowly
                path.unlink(missing_ok=True)
            else:
                message = ("file", index, str(path), chunk.first_row, chunk.header)
        self._chunks_out.send(message)
        self._waiting += 1

    def count(self, index: int, rows: int) -> None:
        """Tell the receiver that chunk ``index`` (kept by the reader) has ``rows`` rows."""
        self._chunks_out.send(("rows", index, rows))

    # -- this process --------------------------------------------------------------------

    def received(self) -> Iterator[tuple[int, Chunk | int]]:
        """Yield ``(index, chunk)`` for each chunk handed over, ``(index, rows)`` for the others.

        In the reader's order; stops when the reader has closed its end.  A
        chunk is acknowledged when the next item is asked for.
        """
        self._chunks_out.close()
        self._acks_in.close()
        while True:
            try:
                message = self._chunks_in.recv()
            except EOFError:
                return
            kind, index = message[0], message[1]
            if kind == "rows":
                yield index, int(message[2])
                continue
            if kind == "file":
                _, _, path, first_row, header = message
                yield index, Chunk(_read_arrow(Path(path)), None, first_row, header)
            else:
                yield index, message[2]
            # done with that chunk: the reader may hand over one more
            with contextlib.suppress(BrokenPipeError):  # the reader has finished: none waits
                self._acks_out.send(True)

    def close(self) -> None:
        """Close this process's ends; remove the folder if the relay made it."""
        for end in (self._chunks_in, self._chunks_out, self._acks_in, self._acks_out):
            end.close()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def _write_arrow(raw: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa  # noqa: PLC0415 - a core dep; keep import cost local

    table = pa.Table.from_pandas(raw, preserve_index=False)  # Arrow strings: no copy
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_arrow(path: Path) -> pd.DataFrame:
    """Map the Arrow file at ``path``, remove it (the mapping stays), return it as a frame."""
    import pyarrow as pa  # noqa: PLC0415

    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    path.unlink()
    return table.to_pandas(types_mapper=lambda _: ARROW_STRINGS)

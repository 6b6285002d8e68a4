"""The chunk relay: a forked reader hands chunks over through mapped Arrow files or its pipe."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest

from geo311.background import Background, can_fork
from geo311.io.formats import ARROW_STRINGS, Chunk
from geo311.io.relay import AHEAD, ChunkRelay

pytestmark = pytest.mark.skipif(not can_fork(), reason="forks on Linux with 2+ CPUs")


def _chunk(n: int, first_row: int, *, arrow: bool = True) -> Chunk:
    frame = pd.DataFrame(
        {
            "id": [f"r{first_row + i}" for i in range(n)],
            "note": ['Café, "quoted"\nline' if i % 3 == 0 else "" for i in range(n)],
        }
    )
    if arrow:
        frame = frame.astype(ARROW_STRINGS)
    return Chunk(frame, None, first_row, ["id", "note", "unread"])


def _hand_all(relay: ChunkRelay, chunks: list[Chunk], seen: Path) -> int:
    """The reader's side: hand every chunk, noting how many files were waiting after each."""
    with relay.sending():
        for index, chunk in enumerate(chunks):
            relay.hand(index, chunk)
            files = len(list(relay.folder.glob("*.arrow")))
            with seen.open("a") as out:
                out.write(f"{files}\n")
        relay.count(len(chunks), 7)
    return os.getpid()


def test_chunks_arrive_equal_in_order_and_their_files_go(tmp_path: Path) -> None:
    chunks = [_chunk(50, 1), _chunk(40, 51, arrow=False), _chunk(30, 91), _chunk(5, 121)]
    relay = ChunkRelay()
    seen = tmp_path / "seen.txt"
    try:
        child = Background(lambda: _hand_all(relay, chunks, seen), what="t", advice="t")
        time.sleep(0.3)  # the reader runs ahead until it must wait for an acknowledgement
        got = []
        for index, item in relay.received():
            if isinstance(item, Chunk):
                # memory-mapped files are removed as soon as they are mapped
                assert not list(relay.folder.glob(f"chunk-{index:06d}.arrow"))
            got.append((index, item))  # asking for the next acknowledges it
        assert child.result() != os.getpid()
    finally:
        relay.close()
    assert [i for i, _ in got] == [0, 1, 2, 3, 4]
    assert got[-1][1] == 7  # a chunk the reader kept: its rows
    for (_, item), sent in zip(got, chunks, strict=False):
        assert isinstance(item, Chunk)
        pd.testing.assert_frame_equal(item.raw, sent.raw, check_exact=True)
        assert (item.first_row, item.header, item.points) == (sent.first_row, sent.header, None)
    # never more files waiting than the chunks not yet acknowledged
    assert max(int(n) for n in seen.read_text().split()) <= AHEAD
    assert not relay.folder.exists()


def test_a_reader_that_fails_ends_the_relay(tmp_path: Path) -> None:
    relay = ChunkRelay()

    def fail() -> None:
        with relay.sending():
            relay.hand(0, _chunk(10, 1))
            msg = "cannot read row 11"
            raise ValueError(msg)

    try:
        child = Background(fail, what="reading", advice="t")
        got = [index for index, _ in relay.received()]
        with pytest.raises(ValueError, match="cannot read row 11"):
            child.result()
    finally:
        relay.close()
    assert got == [0]


def test_without_room_for_a_file_the_pipe_carries_the_chunk(tmp_path: Path) -> None:
    folder = tmp_path / "gone"  # a folder that does not exist: writing there fails
    relay = ChunkRelay(folder)

    def hand() -> None:
        with relay.sending():
            relay.hand(0, _chunk(20, 1))

    try:
        child = Background(hand, what="reading", advice="t")
        (index, item), *_ = list(relay.received())
        child.result()
    finally:
        relay.close()
    assert index == 0 and isinstance(item, Chunk)
    pd.testing.assert_frame_equal(item.raw, _chunk(20, 1).raw)
    assert not folder.exists()

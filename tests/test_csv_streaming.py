"""The Arrow CSV reader streams block by block, and hands over to pandas where Arrow stops."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo311.io import formats
from geo311.io.formats import read_chunks


def write_csv(path: Path, rows: int, *, bad: dict[int, str] | None = None) -> Path:
    """A CSV of ``rows`` data rows; every 10th has a quoted line break; ``bad`` replaces rows."""
    lines = ["id,text,n"]
    for i in range(1, rows + 1):
        text = f'"line {i}\nmore"' if i % 10 == 0 else f"t{i}"
        lines.append((bad or {}).get(i, f"R{i},{text},{i}"))
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return path


def chunks_of(path: Path, size: int) -> list[formats.Chunk]:
    return list(read_chunks(path, "csv", chunksize=size, encoding=None))


def values(chunks: list[formats.Chunk]) -> list[list[object]]:
    frame = pd.concat([c.raw for c in chunks], ignore_index=True).astype(object)
    return frame.where(frame.notna(), None).to_numpy().tolist()


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 256 bytes: a few rows each, so that chunks span many blocks."""
    monkeypatch.setattr(formats, "_ARROW_BLOCK", 256)


@pytest.mark.parametrize(
    ("case", "bad"),
    [
        ("clean", {}),
        ("ragged_row", {231: "R231,short"}),  # Arrow refuses a short row; pandas fills it
        ("nul_byte", {177: "R177,x\x00y,177"}),  # pandas ends the field at NUL
        ("row_over_a_block", {301: 'R301,"' + "long text\n" * 60 + '",301'}),  # 600 bytes
    ],
)
def test_streamed_chunks_equal_pandas(tmp_path: Path, case: str, bad: dict[int, str]) -> None:
    path = write_csv(tmp_path / f"{case}.csv", 400, bad=bad)
    chunks = chunks_of(path, 23)
    expected = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert values(chunks) == expected.astype(object).to_numpy().tolist()
    assert [c.first_row for c in chunks] == list(range(1, 401, 23))
    assert all(len(c.raw) == 23 for c in chunks[:-1])
    by_arrow = [c.raw.dtypes.iloc[0] == "string[pyarrow]" for c in chunks]
    if case == "clean":
        assert all(by_arrow)
    elif case == "nul_byte":  # seen by the byte scan before reading: pandas throughout
        assert not any(by_arrow)
    else:  # Arrow up to the chunk before the bad row, pandas from there on
        stop = next(i for i, arrow in enumerate(by_arrow) if not arrow)
        assert stop > 0
        assert not any(by_arrow[stop:])
        assert chunks[stop].first_row <= next(iter(bad))


def test_first_chunk_comes_before_the_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory holds about one chunk: the reader has read a few blocks when it yields one."""
    from pyarrow import csv as pacsv  # noqa: PLC0415

    path = write_csv(tmp_path / "long.csv", 3000)
    read: list[int] = []
    open_csv = pacsv.open_csv

    def counting(*args: object, **kwargs: object) -> object:
        for batch in open_csv(*args, **kwargs):  # type: ignore[arg-type]
            read.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pacsv, "open_csv", counting)
    stream = read_chunks(path, "csv", chunksize=50, encoding=None)
    first = next(stream)
    assert (len(first.raw), first.first_row) == (50, 1)
    assert sum(read) < 50 + max(read)  # the blocks for one chunk, not the file
    assert sum(len(c.raw) for c in stream) == 2950
    assert sum(read) == 3000

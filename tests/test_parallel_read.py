"""A large file is read by two processes: the same requests and ledger as one process reads.

Without a sink (in memory), :func:`geo311.io.readers.read_file` forks a child
that reads a file of at least ``PARALLEL_MIN_BYTES``, hands every other chunk
over and prepares the others;
here that size is lowered so that the real samples, read in small chunks,
take that path.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from geo311._errors import InputFileError
from geo311.io import readers, relay
from geo311.io.readers import read_file, read_requests

pytestmark = pytest.mark.skipif(not readers.can_fork(), reason="forks on Linux with 2+ CPUs")


def _inputs(shared_data: Path, city: str) -> list[Path]:
    if city == "baltimore":
        folder = shared_data / "baltimore"
        return [folder / "sr311_2019_oct_sample.csv", folder / "sr311_2018_sample.csv"]
    folder = shared_data / "los_angeles" / "records"
    return [
        folder / "myla311_2017-12-27_2017-12-31.csv.gz",
        folder / "myla311_2020-01-01_2020-01-03.csv.gz",
    ]


class _Counted(readers.Background):
    started: ClassVar[list[int]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _Counted.started.append(1)


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the helper children started; every file is large enough to get one."""
    _Counted.started = []
    monkeypatch.setattr(readers, "Background", _Counted)
    monkeypatch.setattr(readers, "PARALLEL_MIN_BYTES", 0)
    return _Counted.started


def _without_times(ledger: Any) -> dict[str, Any]:
    record = ledger.to_dict()
    for stage in record["stages"]:
        stage["notes"] = [n for n in stage["notes"] if not n.startswith("as_of")]
    return record


@pytest.mark.parametrize(("city", "rows"), [("baltimore", 700), ("los_angeles", 2500)])
def test_two_files_read_by_two_processes_equal_one_process(
    shared_data: Path, city: str, rows: int, children: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _inputs(shared_data, city)  # 3,000 + 500 rows; 10,000 + 10,000 rows
    options: dict[str, Any] = {"schema": city, "chunksize": rows, "as_of": "2021-01-01T00:00:00Z"}
    both = read_requests(paths, **options)
    assert len(children) == len(paths)  # one helper per file
    monkeypatch.setattr(readers, "PARALLEL_MIN_BYTES", 2**62)
    one = read_requests(paths, **options)
    assert len(children) == len(paths)
    pd.testing.assert_frame_equal(
        pd.DataFrame(both.frame), pd.DataFrame(one.frame), check_exact=True
    )
    assert both.ledger.to_dict() == one.ledger.to_dict()
    for _, numbers in both.frame.groupby("input_file", observed=True, sort=False)["input_row"]:
        assert numbers.tolist() == list(range(1, len(numbers) + 1))  # every chunk, in order


def test_a_file_of_one_chunk_and_a_kept_chunk_start_no_child(
    shared_data: Path, children: list[int]
) -> None:
    path = _inputs(shared_data, "baltimore")[1]  # 500 rows
    options: dict[str, Any] = {
        "schema": "baltimore",
        "timezone": None,
        "encoding": None,
        "max_bad_timestamps": 0.05,
        "keep_raw": False,
    }
    whole = read_file(path, chunksize=None, sink=None, **options)
    assert len(children) == 1 and len(whole.parts) == 1  # started, found no second chunk
    kept: list[int] = []

    def sink(frame: pd.DataFrame) -> pd.DataFrame:
        kept.append(len(frame))
        return frame.iloc[:0]

    read_file(path, chunksize=100, sink=sink, **options)  # type: ignore[arg-type]
    assert kept == [100] * 5
    assert len(children) == 1  # the out-of-core ingest writes each chunk at once, in order


def _in_the_child(monkeypatch: pytest.MonkeyPatch, act: Callable[[Any], None]) -> None:
    """Make the helper child ``act`` on each chunk it prepares (this process prepares as usual)."""
    here = os.getpid()
    prepare = readers._prepare_chunk

    def patched(chunk: Any, **options: Any) -> Any:
        if os.getpid() != here:
            act(chunk)
        return prepare(chunk, **options)

    monkeypatch.setattr(readers, "_prepare_chunk", patched)


def test_the_childs_error_is_raised_here(
    shared_data: Path, children: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _inputs(shared_data, "baltimore")[0]

    def fail(chunk: Any) -> None:
        msg = f"{path}: row {chunk.first_row}: broken in the child"
        raise InputFileError(msg)

    _in_the_child(monkeypatch, fail)
    with pytest.raises(InputFileError, match="broken in the child"):
        read_requests([path], schema="baltimore", chunksize=1000)
    assert len(children) == 1


def test_a_child_that_dies_is_one_clear_error(
    shared_data: Path, children: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _inputs(shared_data, "baltimore")[0]
    _in_the_child(monkeypatch, lambda _: os._exit(9))
    with pytest.raises(
        RuntimeError, match=r"the process reading .*sr311_2019_oct_sample.csv ended"
    ):
        read_requests([path], schema="baltimore", chunksize=1000)


def test_a_format_read_whole_is_read_by_one_process(tmp_path: Path, children: list[int]) -> None:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-76.61, 39.29]},
            "properties": {
                "service_request_id": f"r{i}",
                "service_name": "Pothole",
                "status": "open",
                "requested_datetime": "2019-10-01T12:00:00Z",
            },
        }
        for i in range(3)
    ]
    path = tmp_path / "requests.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    frame, _ = read_requests([path], schema="open311", as_of="2019-10-02T00:00:00Z")
    assert len(frame) == 3
    assert children == []  # a GeoJSON is one chunk: a child would only read it again


def test_a_file_pandas_reads_is_handed_over_through_the_pipe(
    shared_data: Path, tmp_path: Path, children: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a last line ended by a lone carriage return leaves the whole file to pandas: its
    # chunks are not Arrow strings, so the relay pickles them through its pipe instead of
    # mapping a file
    text = _inputs(shared_data, "baltimore")[0].read_bytes()
    assert text.endswith(b"\n") and b"\r" not in text
    path = tmp_path / "lone_cr.csv"
    path.write_bytes(text[:-1] + b"\r")
    options: dict[str, Any] = {"schema": "baltimore", "chunksize": 700, "as_of": "2021-01-01"}
    both = read_requests([path], **options)
    assert len(children) == 1
    monkeypatch.setattr(readers, "PARALLEL_MIN_BYTES", 2**62)
    one = read_requests([path], **options)
    pd.testing.assert_frame_equal(
        pd.DataFrame(both.frame), pd.DataFrame(one.frame), check_exact=True
    )
    assert both.ledger.to_dict() == one.ledger.to_dict()
    assert len(both.frame) > 2000


def test_without_a_temporary_folder_one_process_reads(
    shared_data: Path, children: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _inputs(shared_data, "baltimore")[0]
    options: dict[str, Any] = {"schema": "baltimore", "chunksize": 700, "as_of": "2021-01-01"}
    both = read_requests([path], **options)
    assert len(children) == 1

    def no_folder(**_: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(relay.tempfile, "mkdtemp", no_folder)
    alone = read_requests([path], **options)
    assert len(children) == 1  # no second child
    pd.testing.assert_frame_equal(
        pd.DataFrame(alone.frame), pd.DataFrame(both.frame), check_exact=True
    )

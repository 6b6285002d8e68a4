"""The Dask path (``scheduler="local:2"``) gives exactly the single-process run's tables."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pandas.testing import assert_frame_equal
from test_scale import assert_same_run, demo_inputs

from geo311._errors import NetworkError
from geo311.pipeline import PipelineResult, load_requests, run
from geo311.publish import write_requests

pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

Progress = list[tuple[str, int, int | None]]


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[PipelineResult, PipelineResult, Progress, Path]:
    """The in-memory run, one on a LocalCluster of 2 worker processes, its progress and parts."""
    inputs, manifest, as_of = demo_inputs(tmp_path_factory.mktemp("dask-demo"), 4_000)
    options = {"city": manifest, "as_of": as_of, "layers": ["neighborhoods", "council_districts"]}
    expected = run(inputs, **options)
    progress: Progress = []

    def hook(step: str, done: int, total: int | None, *, unit: str) -> None:
        progress.append((step, done, total))

    kept = tmp_path_factory.mktemp("dask-kept") / "joined"
    got = run(inputs, **options, chunk_rows=700, scheduler="local:2", progress=hook, dataset=kept)
    return expected, got, progress, kept


def test_tables_on_two_workers_equal_one_process(runs: tuple) -> None:
    expected, got, _, _ = runs
    assert_same_run(expected, got)


def test_the_workers_write_the_kept_parts(runs: tuple, tmp_path: Path) -> None:
    expected, _, _, kept = runs
    assert len(list(kept.glob("part-*.parquet"))) == 7
    path, _ = write_requests(expected, tmp_path / "in-memory.parquet")
    want = load_requests(path, stage="join").requests
    back = load_requests(kept, stage="join").requests
    assert_frame_equal(back, want, check_categorical=False)


def test_every_file_is_read_on_the_cluster_and_reported(runs: tuple) -> None:
    expected, _, progress, _ = runs
    read = [p for p in progress if p[0] == "ingest"]
    assert len(read) == 2  # once per input file, when its worker is done (not per chunk)
    assert read[-1] == ("ingest", expected.ledger.rows_in, None)


def test_every_part_is_joined_on_the_cluster_and_reported(runs: tuple) -> None:
    _, _, progress, _ = runs
    joined = [p for p in progress if p[0] == "join"]
    assert joined[0] == ("join", 0, 7)  # 4,300 rows in parts of 700
    assert joined[-1] == ("join", 7, 7)


def test_a_scheduler_that_does_not_answer_is_one_clear_error() -> None:
    from geo311.scale.cluster import dask_client  # noqa: PLC0415

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "0.2s"}),
        pytest.raises(NetworkError, match=r"tcp://127.0.0.1:9: no Dask scheduler answered"),
        dask_client("tcp://127.0.0.1:9"),
    ):
        pass


def test_local_workers_allocate_as_the_process_that_starts_them() -> None:
    from geo311.allocation import _hugepage_switch, worker_environment  # noqa: PLC0415
    from geo311.scale.cluster import dask_client  # noqa: PLC0415

    switch = _hugepage_switch()
    before = switch(False)  # as `geo311` sets it; numpy's default is to ask
    environ = dict(os.environ)
    try:
        here = worker_environment()
        with dask_client("local:1") as client:
            there = client.run(worker_environment)
    finally:
        switch(before)
    assert here["NUMPY_MADVISE_HUGEPAGE"] == "0"
    assert list(there.values()) == [here]
    assert dict(os.environ) == environ  # the nanny's settings did not stay here

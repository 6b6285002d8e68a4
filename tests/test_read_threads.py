"""Chunks are normalized on two threads while the next is read: same result, in order."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from geo311.demo import write_demo_inputs
from geo311.demo.city import make_demo_city
from geo311.io import readers
from geo311.io.readers import _in_order, read_requests


def test_results_come_in_order_with_a_bounded_number_taken_ahead() -> None:
    taken: list[int] = []
    done: list[int] = []
    lock = threading.Lock()

    def items() -> object:
        for i in range(12):
            taken.append(i)
            yield i

    def work(i: int) -> int:
        time.sleep(0.02 * (i % 3))  # later items often finish first
        with lock:
            done.append(i)
        return i * i

    out = []
    for value in _in_order(items(), work, threads=2):
        # at most 2 taken beyond the one being yielded's successor
        assert len(taken) - len(out) <= 3
        out.append(value)
    assert out == [i * i for i in range(12)]
    assert sorted(done) == list(range(12))
    assert done != list(range(12))  # they did run at once


def test_a_failure_is_raised_in_order_and_the_rest_is_not_worked_on() -> None:
    started: list[int] = []

    def work(i: int) -> int:
        started.append(i)
        if i == 3:
            msg = "row 3 is bad"
            raise ValueError(msg)
        return i

    got = []
    with pytest.raises(ValueError, match="row 3 is bad"):
        for value in _in_order(iter(range(100)), work, threads=2):
            got.append(value)
    assert got == [0, 1, 2]
    assert max(started) <= 6  # a few taken ahead, not the whole input


def test_one_thread_works_in_the_calling_thread() -> None:
    where = list(_in_order(range(3), lambda _: threading.current_thread(), threads=1))
    assert where == [threading.main_thread()] * 3


def test_two_files_read_on_two_threads_equal_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = make_demo_city(seed=24, n_requests=3_000)
    raw = pd.read_csv(write_demo_inputs(city, tmp_path)["raw_requests"], dtype=str)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    raw.iloc[:2_000].to_csv(first, index=False)
    raw.iloc[1_700:].to_csv(second, index=False)  # repeats rows of the first file
    monkeypatch.setattr(readers, "_PREPARE_THREADS", 1)
    one = read_requests([first, second], chunksize=250, as_of=city.as_of)
    monkeypatch.setattr(readers, "_PREPARE_THREADS", 2)
    two = read_requests([first, second], chunksize=250, as_of=city.as_of)
    pd.testing.assert_frame_equal(one.frame, two.frame, check_exact=True)
    assert one.ledger.to_dict() == two.ledger.to_dict()
    assert one.ledger.stage("clean").dropped  # the repeated rows were found across files

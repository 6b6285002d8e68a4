"""How a ``geo311`` command allocates memory (:mod:`geo311.allocation`)."""

from __future__ import annotations

import gc

import pyarrow as pa
import pytest

from geo311.allocation import (
    _hugepage_switch,
    collector_paused,
    no_numpy_hugepages,
    tune_memory,
    use_jemalloc,
    worker_environment,
)


def test_the_command_line_uses_jemalloc_unless_a_pool_is_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = pa.default_memory_pool()
    try:
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "system")
        assert use_jemalloc() == before.backend_name  # the user's choice is kept
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL")
        try:
            pa.jemalloc_memory_pool()
        except NotImplementedError:
            pytest.skip("this pyarrow build has no jemalloc")
        assert use_jemalloc() == "jemalloc"
        jemalloc = pa.jemalloc_memory_pool()
        held = jemalloc.bytes_allocated()
        values = pa.array(range(100_000))  # allocated from the new default pool
        assert jemalloc.bytes_allocated() >= held + values.nbytes
    finally:
        pa.set_memory_pool(before)


def _hugepages() -> bool:
    return worker_environment()["NUMPY_MADVISE_HUGEPAGE"] == "1"


def test_the_command_line_turns_numpy_huge_pages_off_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _hugepages()
    switch = _hugepage_switch()
    try:
        switch(True)
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        assert no_numpy_hugepages() is True  # the user's choice is kept
        assert _hugepages() is True
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
        assert no_numpy_hugepages() is False
        assert _hugepages() is False
        switch(True)
        pool = pa.default_memory_pool()
        try:
            assert tune_memory()[1] is False
            assert _hugepages() is False
            assert worker_environment()["ARROW_DEFAULT_MEMORY_POOL"] == tune_memory()[0]
        finally:
            pa.set_memory_pool(pool)
    finally:
        switch(before)


def test_the_collector_is_paused_for_the_block_and_left_as_it_was() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        with pytest.raises(ValueError, match="inside"), collector_paused():
            msg = "inside"
            raise ValueError(msg)
        assert gc.isenabled()  # back on after an error too
        gc.disable()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a collector the caller turned off stays off
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()

"""How a ``geo311`` command allocates memory (:mod:`geo311.cli.allocator`)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from geo311.cli.allocator import no_numpy_hugepages, tune_memory, use_jemalloc


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
    """Return numpy's huge-page setting, unchanged."""
    setting = np._core.multiarray._set_madvise_hugepage
    enabled = bool(setting(True))
    setting(enabled)
    return enabled


def test_the_command_line_turns_numpy_huge_pages_off_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = _hugepages()
    setting = np._core.multiarray._set_madvise_hugepage
    try:
        setting(True)
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        assert no_numpy_hugepages() is True  # the user's choice is kept
        assert _hugepages() is True
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
        assert no_numpy_hugepages() is False
        assert _hugepages() is False
        setting(True)
        pool = pa.default_memory_pool()
        try:
            assert tune_memory()[1] is False
            assert _hugepages() is False
        finally:
            pa.set_memory_pool(pool)
    finally:
        setting(before)

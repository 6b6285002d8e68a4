"""How geo311's processes allocate memory: jemalloc for Arrow, no huge pages for numpy.

pyarrow's default pool in its current Linux wheels (mimalloc) returns freed
memory to the system quickly, so an ingest that builds and drops arrays of a
million values chunk after chunk faults the same pages in again and again;
jemalloc keeps freed pages longer for reuse.  Measured on Linux, on a 1M-row
ingest: 3.5-7.9 s of system time against 1.9-4.5 s with jemalloc, about 1 s
more wall time, and a peak RSS of 875-951 MiB against 785-801 MiB.
The command line owns its process, so it picks the pool; the
library leaves the choice to its caller (call :func:`use_jemalloc` or set
``ARROW_DEFAULT_MEMORY_POOL``).  A pool set in ``ARROW_DEFAULT_MEMORY_POOL``
is always kept.

numpy asks the kernel for transparent huge pages for every large array
(``madvise(MADV_HUGEPAGE)``).  Where the kernel's huge pages are ``madvise``
only, with ``defrag`` set to ``madvise`` (a common setting, and this
project's machines'), each such array then waits for the kernel to compact
memory into 2 MiB pages when first written: measured on a 1M-row ingest,
4.2-4.4 s of system time against 2.8-3.0 s without it, and 10.7-12.1 s wall
against 9.6-9.8 s; ``geo311 run`` on 1M rows 18.8-19.9 s against 15.6-15.8
s.  The command line turns it off (:func:`tune_memory`) unless
``NUMPY_MADVISE_HUGEPAGE`` is set.

Worker processes a run starts (a ``LocalCluster`` for ``--scheduler
local:N``) allocate as the process that starts them: both settings travel in
their environment (:func:`worker_environment`).

Shapely's geometries are objects Python's cyclic garbage collector tracks:
making a million of them (a request's point each) sets off some 1,400
collections, the later ones walking every geometry made so far.
:func:`collector_paused` pauses the collector around such bulk work (points
and polygons read or made hold no references, so make no cycles): 1M request
points 0.81 -> 0.37 s in a 1M-row ingest, ``geopandas.read_parquet`` of 1M
requests 1.55-2.15 -> 1.04-1.10 s.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "collector_paused",
    "no_numpy_hugepages",
    "tune_memory",
    "use_jemalloc",
    "worker_environment",
]

log = logging.getLogger(__name__)


def use_jemalloc() -> str:
    """Make jemalloc Arrow's default memory pool, unless the user chose one.

    Returns
    -------
    str
        The pool in use afterwards (``"jemalloc"``, or the user's or build's
        default where the build has no jemalloc, as on Windows).
    """
    import pyarrow as pa  # noqa: PLC0415 - pandas imports it anyway; kept off `geo311 --help`

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except NotImplementedError:  # a build without jemalloc
            log.debug("pyarrow has no jemalloc; keeping %s", pa.default_memory_pool().backend_name)
    return str(pa.default_memory_pool().backend_name)


def _hugepage_switch() -> Any:
    """Return numpy's switch for huge pages: private, kept since numpy 1.20."""
    try:
        multiarray = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy 1.26
        multiarray = importlib.import_module("numpy.core.multiarray")
    return multiarray._set_madvise_hugepage


def _numpy_hugepages() -> bool:
    """Return whether numpy asks for huge pages, without changing it."""
    switch = _hugepage_switch()
    enabled = bool(switch(True))
    switch(enabled)
    return enabled


def no_numpy_hugepages() -> bool:
    """Stop numpy asking for huge pages for new arrays, unless ``NUMPY_MADVISE_HUGEPAGE`` is set.

    Returns
    -------
    bool
        Whether numpy asks for huge pages afterwards (the user's setting, or
        False).
    """
    if os.environ.get("NUMPY_MADVISE_HUGEPAGE"):
        return _numpy_hugepages()
    _hugepage_switch()(False)
    return False


def tune_memory() -> tuple[str, bool]:
    """Set what a ``geo311`` command sets: :func:`use_jemalloc` and :func:`no_numpy_hugepages`.

    Returns
    -------
    (str, bool)
        Arrow's memory pool and whether numpy asks for huge pages.
    """
    return use_jemalloc(), no_numpy_hugepages()


def worker_environment() -> dict[str, str]:
    """Return the environment that makes a new Python process allocate as this one does.

    Returns
    -------
    dict of str to str
        ``NUMPY_MADVISE_HUGEPAGE`` (``"0"`` or ``"1"``, read by numpy when
        imported) and ``ARROW_DEFAULT_MEMORY_POOL`` (this process's pool).
    """
    import pyarrow as pa  # noqa: PLC0415

    return {
        "NUMPY_MADVISE_HUGEPAGE": "1" if _numpy_hugepages() else "0",
        "ARROW_DEFAULT_MEMORY_POOL": str(pa.default_memory_pool().backend_name),
    }


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (as it was, after it).

    For making or reading many Shapely geometries at once (see the module
    docstring); what the block allocates is collected as usual afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

"""The Arrow memory pool of a ``geo311`` command: jemalloc where the build has it.

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
"""

from __future__ import annotations

import logging
import os

__all__ = ["use_jemalloc"]

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

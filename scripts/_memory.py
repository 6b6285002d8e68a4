"""Peak-memory readings shared by the benchmark scripts (Linux-first)."""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def status_mib(field: str) -> float | None:
    """Return a ``VmRSS``/``VmHWM`` figure from /proc/self/status in MiB, if available."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB.

    ``VmHWM`` on Linux: unlike ``ru_maxrss`` it is the process's own peak (a
    child started by fork + exec inherits its parent's ``ru_maxrss``) and it
    can be reset (:func:`reset_peak_rss`).  ``ru_maxrss`` elsewhere.
    """
    hwm = status_mib("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def reset_peak_rss() -> float:
    """Reset the kernel's peak mark where possible (Linux); return the current RSS in MiB.

    Reading inputs leaves a transient peak that would hide the measured step's
    own working memory; writing ``5`` to ``/proc/self/clear_refs`` resets it.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return peak_rss_mib()
    return status_mib("VmRSS") or peak_rss_mib()

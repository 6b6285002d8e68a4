"""Environment settings: where data and caches live.

Only facts about the environment belong here.  Analytic choices (thresholds,
time zones, periods) are function arguments so that a call's signature
reproduces its result.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_dir"]


def data_dir() -> Path | None:
    """Return the reference-data directory named by ``GEO311_DATA_DIR``, if set.

    Returns
    -------
    pathlib.Path or None
        The directory holding ``<city>/`` folders of boundary and 311 files, or
        ``None`` when the variable is unset or empty.
    """
    value = os.environ.get("GEO311_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Return the user cache directory (``GEO311_CACHE_DIR`` or the XDG default).

    Returns
    -------
    pathlib.Path
        ``$GEO311_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/geo311`` or
        ``~/.cache/geo311``.  The directory is not created here.
    """
    value = os.environ.get("GEO311_CACHE_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "geo311"

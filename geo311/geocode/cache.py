"""The on-disk answer cache of geocoders (SQLite), keyed by geocoder fingerprint and address."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from geo311._errors import GeocodeError
from geo311.settings import cache_dir

__all__ = ["GeocodeCache"]

_CACHE_SCHEMA_VERSION: Final = 1


class GeocodeCache:
    """Persistent answers of geocoders, in SQLite, keyed by geocoder and address.

    The key is (geocoder fingerprint, normalised address, ZIP code), so a new
    geocoder configuration or reference table never reuses old answers.
    Every answer is kept, including ``'none'`` and ``'ambiguous'``.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The database file; defaults to ``settings.cache_dir() / "geocode.sqlite"``.
        Parent directories are created.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> cache = GeocodeCache(pathlib.Path(tempfile.mkdtemp()) / "g.sqlite")
    >>> len(cache)
    0
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / "geocode.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS answers ("
                " geocoder TEXT NOT NULL, address TEXT NOT NULL, zipcode TEXT NOT NULL,"
                " answer TEXT NOT NULL, PRIMARY KEY (geocoder, address, zipcode))"
            )
            con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                (str(_CACHE_SCHEMA_VERSION),),
            )
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as exc:
            msg = f"cannot open the geocode cache {self.path}: {exc}"
            raise GeocodeError(msg) from exc

    def __len__(self) -> int:
        con = self._connect()
        try:
            return int(con.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
        finally:
            con.close()

    def get_many(
        self, geocoder: str, keys: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], dict[str, Any]]:
        """Return the cached answers among ``keys`` (absent keys are left out)."""
        found: dict[tuple[str, str | None], dict[str, Any]] = {}
        con = self._connect()
        try:
            for address, zip_code in keys:
                row = con.execute(
                    "SELECT answer FROM answers WHERE geocoder=? AND address=? AND zipcode=?",
                    (geocoder, address, zip_code or ""),
                ).fetchone()
                if row is not None:
                    found[(address, zip_code)] = json.loads(row[0])
        finally:
            con.close()
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(
        self, geocoder: str, answers: dict[tuple[str, str | None], dict[str, Any]]
    ) -> None:
        """Store answers (replacing older answers for the same key)."""
        rows = [
            (geocoder, address, zip_code or "", json.dumps(answer, sort_keys=True))
            for (address, zip_code), answer in answers.items()
        ]
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", rows)

    def clear(self, geocoder: str | None = None) -> int:
        """Delete the answers of one geocoder fingerprint (or all); return how many."""
        with self._connect() as con:
            if geocoder is None:
                cur = con.execute("DELETE FROM answers")
            else:
                cur = con.execute("DELETE FROM answers WHERE geocoder=?", (geocoder,))
            return int(cur.rowcount)

    def __repr__(self) -> str:
        return f"GeocodeCache({str(self.path)!r})"

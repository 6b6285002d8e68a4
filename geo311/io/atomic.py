"""Output-file helpers shared by the library's writers and the CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from geo311._errors import OutputExistsError


def check_overwrite(paths: Iterable[Path], *, overwrite: bool) -> None:
    """Raise OutputExistsError naming every existing output unless ``overwrite``.

    Parameters
    ----------
    paths : iterable of pathlib.Path
        Files that are about to be written.
    overwrite : bool
        When True, existing files may be replaced and nothing is checked.
    """
    if overwrite:
        return
    existing = [str(p) for p in paths if p.exists()]
    if existing:
        msg = f"output exists: {', '.join(existing)}; pass --overwrite (overwrite=True) to replace"
        raise OutputExistsError(msg)


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling path and move it onto ``path`` only on success.

    A crash or an exception never leaves a truncated file that looks complete.
    The temporary name is unique to this writer (process id and a random
    part), so threads of one process and hosts sharing a folder -- Dask
    workers writing to one cache -- never write into each other's file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)

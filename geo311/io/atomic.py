"""Output-file helpers shared by the library's writers and the CLI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from geo311._errors import OutputExistsError

if TYPE_CHECKING:
    import pandas as pd

#: Rows per Parquet row group of saved requests: a reader streams them a group at a time.
ROW_GROUP_ROWS = 131_072


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


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` atomically, without its index, in row groups.

    A GeoDataFrame is written as GeoParquet
    (:func:`geo311.io.geoparquet.write_frame`).  Row groups hold
    :data:`ROW_GROUP_ROWS` rows, so that a reader can stream the file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from geo311.io.geoparquet import write_frame  # noqa: PLC0415 - pyarrow, shapely

    with atomic_write(path) as tmp:
        write_frame(frame, tmp, row_group_size=ROW_GROUP_ROWS)
    return path

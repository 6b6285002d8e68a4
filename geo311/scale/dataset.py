"""The requests of an out-of-core run, kept as a GeoParquet dataset.

With ``chunk_rows`` or ``scheduler``, :func:`geo311.pipeline.run` can keep
every joined part (``dataset=``, ``geo311 run --keep-requests DIR``) -- or,
for a run that stops after the ingest (``geo311 ingest --chunk-rows``), every
ingested part once cleaned (:func:`keep_ingest`): a folder
of ``part-NNNNN.parquet`` files in input order, each a GeoParquet file in
EPSG:4326 with the columns the in-memory run's :func:`geo311.write_requests`
writes, in row groups of :data:`geo311.io.atomic.ROW_GROUP_ROWS`, and the
row ledger beside the folder (``<name>.ledger.json``).  Read in order they
are exactly the in-memory run's requests
(:func:`read_dataset`, which :func:`geo311.load_requests` calls for a
folder); pyarrow, DuckDB or dask-geopandas read the folder as one table.

Each part is written where it is joined -- in this process or on a Dask
worker, which must then see the folder at the same path -- into a staging
folder beside the target (``.<name>.partial-<random>``).  Only when every
part is written is the staging folder moved onto the target
(:func:`publish_dataset`), so an interrupted run never leaves a folder that
looks complete.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from geo311._errors import InputError
from geo311.allocation import collector_paused
from geo311.io.atomic import ROW_GROUP_ROWS, atomic_write, check_overwrite, write_parquet
from geo311.ledger import Ledger, ledger_path
from geo311.scale.combine import DROPPED, compact, concat_parts
from geo311.scale.parts import SELECTION_COLUMNS, Verdict, cleaned_part

__all__ = [
    "PART_GLOB",
    "discard_dataset",
    "keep_ingest",
    "publish_dataset",
    "read_compact",
    "read_dataset",
    "saved_parts",
    "start_dataset",
]

#: The files of a dataset, in input order when sorted by name.
PART_GLOB = "part-*.parquet"
_PARTIAL = ".partial-"


def start_dataset(target: str | Path, *, overwrite: bool = False) -> Path:
    """Make the staging folder of a dataset that will replace ``target`` when published.

    Parameters
    ----------
    target : str or pathlib.Path
        The dataset folder to write.
    overwrite : bool, default False
        Allow an existing ``target`` to be replaced (when published).

    Returns
    -------
    pathlib.Path
        An empty folder beside ``target``, on the same file system.

    Raises
    ------
    OutputExistsError
        ``target`` exists and ``overwrite`` is False.
    """
    target = Path(target)
    check_overwrite([target], overwrite=overwrite)
    if target.exists() and not target.is_dir():
        msg = f"{target} is a file: the kept requests of an out-of-core run are a folder"
        raise InputError(msg)
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}{_PARTIAL}*"):
        shutil.rmtree(leftover, ignore_errors=True)  # left by an interrupted run
    staging = target.with_name(f".{target.name}{_PARTIAL}{uuid.uuid4().hex[:12]}")
    staging.mkdir()
    return staging


def write_part(joined: gpd.GeoDataFrame, staging: Path, name: str) -> Path:
    """Write one joined part into the staging folder (atomically), as GeoParquet.

    Parameters
    ----------
    joined : geopandas.GeoDataFrame
        The part's joined requests.  Not modified.
    staging : pathlib.Path
        The folder of :func:`start_dataset`.
    name : str
        The part's file name (``part-NNNNN.parquet``, so that names sort in input order).

    Returns
    -------
    pathlib.Path
    """
    return write_parquet(joined, staging / name)


def publish_dataset(staging: Path, target: str | Path, *, ledger: Ledger) -> Path:
    """Move a finished staging folder onto ``target`` (an existing one is replaced).

    Parameters
    ----------
    staging : pathlib.Path
        The folder of :func:`start_dataset`, every part written.
    target : str or pathlib.Path
    ledger : Ledger
        The requests' row ledger, written beside ``target`` afterwards
        (``<name>.ledger.json``).

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    target = Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}{_PARTIAL}old-{uuid.uuid4().hex[:12]}")
        target.replace(old)
    staging.replace(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    with atomic_write(ledger_path(target)) as tmp:
        ledger.write_json(tmp)
    return target


def keep_ingest(
    parts: Sequence[Verdict], target: str | Path, *, ledger: Ledger, overwrite: bool
) -> Path:
    """Write every ingested part's cleaned rows as a dataset (for a run ending at the ingest).

    Each part is what the in-memory ingest holds of those rows
    (:func:`geo311.scale.parts.cleaned_part`: placeholder points marked,
    time flags set, points built), so that the dataset read back equals the
    in-memory ingest's requests.

    Parameters
    ----------
    parts : sequence of Verdict
        The parts and the cleaning's verdict on each.
    target : str or pathlib.Path
        The dataset folder.
    ledger : Ledger
        The ingest's row ledger.
    overwrite : bool
        Replace an existing ``target``.

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    staging = start_dataset(target, overwrite=overwrite)
    try:
        for verdict in parts:
            write_part(cleaned_part(verdict), staging, verdict.path.name)
    except BaseException:
        discard_dataset(staging)
        raise
    return publish_dataset(staging, target, ledger=ledger)


def discard_dataset(staging: Path) -> None:
    """Remove the staging folder of a run that did not finish."""
    shutil.rmtree(staging, ignore_errors=True)


def _part_paths(folder: Path) -> list[Path]:
    paths = sorted(folder.glob(PART_GLOB))
    if not paths:
        msg = (
            f"{folder}: no {PART_GLOB} files; give a GeoParquet file or the folder "
            "geo311 run --chunk-rows --keep-requests wrote"
        )
        raise InputError(msg)
    return paths


def read_compact(path: str | Path) -> pd.DataFrame:
    """Read saved joined requests a row group at a time, keeping only what the indicators read.

    The geometry, coordinates, ids, free text and source columns
    (:func:`geo311.scale.combine.compact`) are never read, so the memory
    needed is that of the compact columns, as in the out-of-core run.

    Parameters
    ----------
    path : str or pathlib.Path
        A GeoParquet file of :func:`geo311.write_requests`, or a dataset folder.

    Returns
    -------
    pandas.DataFrame
        The compact columns of every request, in order (index 0..n-1).
    """
    path = Path(path)
    frames: list[pd.DataFrame] = []
    for part in _part_paths(path) if path.is_dir() else [path]:
        schema = pq.read_schema(part)
        wanted = [n for n in schema.names if n not in DROPPED and not n.startswith("raw_")]
        # text read as Arrow dictionaries: categoricals without a Python string per value
        text = [
            n
            for n in wanted
            if pa.types.is_string(schema.field(n).type)
            or pa.types.is_large_string(schema.field(n).type)
        ]
        reader = pq.ParquetFile(part, read_dictionary=text)
        frames.extend(
            compact(batch.to_pandas())
            for batch in reader.iter_batches(batch_size=ROW_GROUP_ROWS, columns=wanted)
        )
    out = concat_parts(frames)
    out.attrs = dict(frames[0].attrs) if frames else {}
    return out


def saved_parts(folder: str | Path) -> tuple[pd.DataFrame, list[Verdict]]:
    """Return a kept ingest's parts as the out-of-core join takes them, without reading them whole.

    Parameters
    ----------
    folder : str or pathlib.Path
        A dataset of :func:`keep_ingest`.

    Returns
    -------
    (pandas.DataFrame, list of Verdict)
        The :data:`~geo311.scale.parts.SELECTION_COLUMNS` of every request
        (what the pipeline reads before the join), and one verdict per part
        that keeps every row and cleans nothing again.
    """
    selection = []
    verdicts = []
    first = 0
    for path in _part_paths(Path(folder)):
        names = pq.read_schema(path).names
        frame = pd.read_parquet(path, columns=[c for c in SELECTION_COLUMNS if c in names])
        verdicts.append(
            Verdict(
                path=path,
                drop=None,
                first=first,
                placeholders=None,
                as_of=None,
                timezone=frame.attrs.get("timezone"),
            )
        )
        selection.append(frame)
        first += len(frame)
    out = concat_parts(selection)
    out.attrs = dict(selection[0].attrs)
    return out, verdicts


def read_dataset(folder: str | Path) -> gpd.GeoDataFrame:
    """Read a kept dataset's parts in order into one GeoDataFrame (index 0..n-1).

    A text column stored as a dictionary in every part comes back
    categorical over the sorted union of the parts' values.

    Raises
    ------
    InputError
        The folder holds no ``part-*.parquet`` file.
    """
    with collector_paused():  # a Shapely geometry per request
        parts = [gpd.read_parquet(path) for path in _part_paths(Path(folder))]
    frame = gpd.GeoDataFrame(concat_parts(parts), geometry="geometry", crs=parts[0].crs)
    frame.attrs = dict(parts[0].attrs)
    return frame

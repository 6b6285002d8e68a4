"""The out-of-core ingest and join that :func:`geo311.pipeline.run` uses with ``chunk_rows``.

:func:`ingest_parts` reads the inputs chunk by chunk into Parquet parts (each
file on a worker of a Dask cluster, ``scheduler``) and cleans them across rows
from there (see :mod:`geo311.scale.parts` and
:mod:`geo311.scale.clean`);
:func:`join_parts` joins the parts in this process and a forked child (or
on a Dask cluster, ``scheduler``) and reduces them to the compact columns
the indicators read (see :mod:`geo311.scale.combine`).  The indicators then run on those columns
exactly as on the in-memory requests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from geo311._errors import InputFileError, OptionError
from geo311.background import split_with_child
from geo311.io.readers import combine_files, read_requests
from geo311.io.values import check_timezone, parse_as_of
from geo311.join.assign import assign_areas
from geo311.join.layers import Layer, load_layers
from geo311.join.manifest import CityManifest
from geo311.ledger import Ledger, Result
from geo311.progress import ProgressHook, report
from geo311.scale.cluster import parse_scheduler
from geo311.scale.combine import combine, compact
from geo311.scale.dataset import write_part
from geo311.scale.parts import PartWriter, Verdict, cleaned_part

__all__ = ["StagedIngest", "check_options", "ingest_parts", "join_part", "join_parts"]


@dataclass(frozen=True)
class StagedIngest:
    """The parts of an out-of-core ingest, on disk, with the cleaning's verdict on each.

    Attributes
    ----------
    parts : list of Verdict
        Each part with the cleaning's verdict on its rows.
    folder : tempfile.TemporaryDirectory or None
        Holds the parts; removed once they are joined.  None for the parts
        of a kept dataset (:func:`geo311.scale.dataset.saved_parts`), which
        are the user's.
    """

    parts: list[Verdict]
    folder: tempfile.TemporaryDirectory[str] | None

    def close(self) -> None:
        """Remove the parts' temporary folder (a kept dataset's parts stay)."""
        if self.folder is not None:
            self.folder.cleanup()


def check_options(
    *,
    chunk_rows: int | None,
    scheduler: str | None,
    keep_raw: bool,
    extra_layers: object,
    inputs: object,
) -> None:
    """Refuse what the out-of-core run cannot do, in one line saying what to do instead.

    Checked before the ingest, so that a mistyped option fails at once.
    """
    if scheduler is not None:
        parse_scheduler(scheduler)
    if chunk_rows is not None and chunk_rows < 1:
        msg = f"chunk_rows={chunk_rows}: give a number of rows of at least 1 (e.g. 1000000)"
        raise OptionError(msg)
    refused = {
        "keep_raw / qa (the source columns for the label checks)": keep_raw,
        "extra_layers (user layer files; add them to the city manifest)": bool(extra_layers),
        "inputs already read (a PipelineResult; give the export files)": not isinstance(
            inputs, str | Path | Sequence
        ),
    }
    for what, given in refused.items():
        if given:
            msg = f"the out-of-core run (chunk_rows / scheduler) does not take {what}"
            raise OptionError(msg)


def _ingest_on_cluster(
    inputs: str | Path | Sequence[str | Path],
    *,
    chunk_rows: int,
    folder: Path,
    scheduler: str,
    schema: Any = None,
    timezone: str | None = None,
    encoding: str | None = None,
    as_of: Any = None,
    max_bad_timestamps: float = 0.05,
    placeholders: Mapping[str, Any] | None = None,
    progress: ProgressHook | None = None,
) -> tuple[pd.DataFrame, Ledger, PartWriter]:
    """Read each input on a worker; return the selection, ledger and writer of all the parts."""
    from geo311.scale.cluster import dask_client, read_files  # noqa: PLC0415

    paths = [Path(inputs)] if isinstance(inputs, str | Path) else [Path(p) for p in inputs]
    if not paths:
        msg = "no input files given"
        raise InputFileError(msg)
    options = {
        "schema": schema,
        "timezone": check_timezone(timezone) if timezone is not None else None,
        "chunksize": chunk_rows,
        "encoding": encoding,
        "max_bad_timestamps": max_bad_timestamps,
    }
    as_of_ts = parse_as_of(as_of)  # checked before the workers start
    with dask_client(scheduler) as client:
        reads, writers = read_files(
            client, paths, folder=folder, options=options, progress=progress
        )
    writer = PartWriter.merged(folder, writers, progress=progress)
    kept, ledger = combine_files(
        reads, as_of=as_of_ts, placeholders=placeholders, fallback_points=(), sink=writer
    )
    return kept, ledger, writer


def ingest_parts(
    inputs: str | Path | Sequence[str | Path],
    *,
    chunk_rows: int,
    scratch: Path | None = None,
    scheduler: str | None = None,
    **options: Any,
) -> tuple[Result, StagedIngest]:
    """Read the inputs chunk by chunk into Parquet parts and clean them across rows from there.

    Parameters
    ----------
    inputs : path or sequence of paths
        311 export files.
    chunk_rows : int
        Rows per chunk, hence per part.
    scratch : pathlib.Path, optional
        Folder in which the parts' temporary folder is made (default the
        system's); on a cluster, one every worker reads at the same path.
    scheduler : str, optional
        Read each input file on a worker of this Dask cluster
        (:func:`geo311.scale.cluster.read_files`); the parts, verdicts and
        ledger are the same as when read here.
    **options
        Passed to :func:`geo311.read_requests` (``schema``, ``timezone``,
        ``encoding``, ``as_of``, ``max_bad_timestamps``, ``placeholders``,
        ``progress``).

    Returns
    -------
    (Result, StagedIngest)
        The selection columns of every request kept (see
        :data:`~geo311.scale.parts.SELECTION_COLUMNS`) and the ingest's row
        ledger (equal to the in-memory ingest's); and the parts with the
        cleaning's verdict on each.
    """
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    folder = tempfile.TemporaryDirectory(prefix="geo311-parts-", dir=scratch)
    if scheduler is None:
        writer = PartWriter(Path(folder.name), progress=options.get("progress"))
        kept, ledger = read_requests(inputs, chunksize=chunk_rows, sink=writer, **options)
    else:
        kept, ledger, writer = _ingest_on_cluster(
            inputs, chunk_rows=chunk_rows, folder=Path(folder.name), scheduler=scheduler, **options
        )
    staged = StagedIngest(writer.verdicts(timezone=kept.attrs.get("timezone")), folder)
    return Result(kept, ledger), staged


def join_part(
    verdict: Verdict,
    *,
    layers: Mapping[str, Sequence[Layer]],
    options: Mapping[str, Any],
    keep: Path | None = None,
) -> tuple[pd.DataFrame, Ledger]:
    """Join one part to the layers (keep it, with ``keep``) and reduce it to its compact columns.

    Parameters
    ----------
    verdict : Verdict
        The part and the cleaning's verdict on it.
    layers : mapping of str to sequence of Layer
        The layers, loaded once for every part.
    options : mapping
        ``vintages``, ``tolerance_m``, ``cache_dir`` and ``timezone`` of
        :func:`geo311.assign_areas`.
    keep : pathlib.Path, optional
        The staging folder of a kept dataset (:mod:`geo311.scale.dataset`):
        the joined part is written there, under the part's own file name.

    Returns
    -------
    (pandas.DataFrame, Ledger)
        The part's compact requests and its join ledger.
    """
    joined, ledger = assign_areas(cleaned_part(verdict), layers, **options)
    if keep is not None:
        write_part(joined, keep, verdict.path.name)
    return compact(joined), ledger


def _join_here(
    join: Callable[[Verdict], tuple[pd.DataFrame, Ledger]],
    parts: Sequence[Verdict],
    *,
    progress: ProgressHook | None,
) -> list[tuple[pd.DataFrame, Ledger]]:
    """Join ``parts`` in this process and, where one can be forked, a child; keep their order.

    This process takes the parts from the front and the child from the back
    (:func:`geo311.background.split_with_child`) until the two meet; the
    child sends back its compact parts when it is done.
    """
    joined = split_with_child(
        len(parts),
        lambda task: join(parts[task]),
        what="joining parts",
        advice="run again, or with --scheduler local:N",
        done=lambda count: report(progress, "join", count, len(parts), unit="parts"),
    )
    report(progress, "join", len(parts), len(parts), unit="parts")
    return joined


def join_parts(
    manifest: CityManifest | None,
    *,
    staged: StagedIngest,
    layers: Sequence[str] | None,
    boundaries: Mapping[str, Sequence[Layer]] | None,
    vintages: Mapping[str, str] | None,
    tolerance_m: float,
    cache_dir: Path | None,
    data_dir: str | Path | None,
    scheduler: str | None,
    progress: ProgressHook | None,
    keep: Path | None = None,
) -> tuple[pd.DataFrame, Ledger, dict[str, list[Layer]]]:
    """Join every part (here, or on the workers of ``scheduler``) and combine them exactly.

    The layers are loaded once, as :func:`geo311.join_city` loads them (or
    taken from ``boundaries``), and shipped once to each worker.

    Parameters
    ----------
    manifest : CityManifest or None
        The city whose layers are joined (unless ``boundaries``).
    staged : StagedIngest
    layers : sequence of str, optional
        Layer keys (default every layer of ``boundaries`` or of the city).
    boundaries : mapping of str to sequence of Layer, optional
        Layers already loaded.
    vintages, tolerance_m, cache_dir
        As in :func:`geo311.assign_areas`.
    data_dir : str or pathlib.Path, optional
        Folder searched first for the city's boundary files.
    scheduler : str, optional
        ``local:N`` or ``tcp://HOST:PORT`` (see :mod:`geo311.scale.cluster`);
        default this process and, on Linux with 2+ CPUs, a forked child.
    progress : ProgressHook, optional
        Told the parts joined so far (step ``"join"``).
    keep : pathlib.Path, optional
        The staging folder of a kept dataset: every joined part is written
        there (see :func:`join_part`).

    Returns
    -------
    (pandas.DataFrame, Ledger, dict)
        Compact requests of every part, the join ledger, the layers joined.
    """
    if boundaries is not None:
        chosen = {k: list(boundaries[k]) for k in (layers or boundaries)}
    elif manifest is not None:
        chosen = load_layers(manifest, layers=layers, data_dir=data_dir, progress=progress)
    else:
        msg = "the out-of-core join needs a city (city=, --city) or loaded boundaries"
        raise OptionError(msg)
    options = {
        "vintages": vintages,
        "tolerance_m": tolerance_m,
        "cache_dir": cache_dir,
        "timezone": manifest.timezone if manifest is not None else None,
    }
    total = len(staged.parts)
    report(progress, "join", 0, total, unit="parts")
    try:
        if scheduler is None:
            join = partial(join_part, layers=chosen, options=options, keep=keep)
            results = _join_here(join, staged.parts, progress=progress)
        else:
            from geo311.scale.cluster import dask_client, map_parts  # noqa: PLC0415

            with dask_client(scheduler) as client:
                results = map_parts(
                    client,
                    staged.parts,
                    layers=chosen,
                    options=options,
                    keep=keep,
                    progress=progress,
                )
    finally:
        staged.close()
    requests, ledger = combine(results, chosen)
    return requests, ledger, chosen

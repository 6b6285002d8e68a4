"""The Dask path: the inputs read and the parts joined on the workers of a Dask cluster.

``scheduler`` is ``local:N`` -- a ``LocalCluster`` of N single-threaded worker
processes on 127.0.0.1, started for the run and closed after it -- or the
address of a running scheduler (``tcp://HOST:8786``, ``tls://...``).  Each
input file is read on a worker into its own parts (:func:`read_files`), which
the client then numbers in input order and cleans across rows as always.  The
layers are shipped once to every worker (``scatter(..., broadcast=True)``);
each task reads one part from the shared folder, joins it and returns its
compact columns and ledger, which :func:`geo311.scale.combine.combine`
reduces exactly.  Dask is imported only here, and only when a scheduler is
asked for (``pip install 'geo311[dask]'``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from geo311._errors import InputFileError, NetworkError, OptionError
from geo311.allocation import worker_environment
from geo311.io.readers import FileRead, read_file
from geo311.join.layers import Layer
from geo311.ledger import Ledger
from geo311.progress import ProgressHook, report
from geo311.scale.parts import PartWriter, Verdict

__all__ = ["dask_client", "map_parts", "parse_scheduler"]

_HOW = (
    "write local:N (N worker processes on this machine) or tcp://HOST:PORT "
    "(the scheduler of a running Dask cluster)"
)


def parse_scheduler(scheduler: str) -> tuple[str, int | str]:
    """Return ``("local", N)`` or ``("address", "tcp://...")`` for a ``--scheduler`` value.

    Raises
    ------
    OptionError
        Anything else, in one line saying what to write.

    Examples
    --------
    >>> parse_scheduler("local:2")
    ('local', 2)
    >>> parse_scheduler("tcp://10.0.0.5:8786")
    ('address', 'tcp://10.0.0.5:8786')
    """
    text = scheduler.strip()
    if text.startswith("local:"):
        count = text.removeprefix("local:")
        if count.isdigit() and int(count) >= 1:
            return "local", int(count)
    elif text.startswith(("tcp://", "tls://")) and ":" in text.split("://", 1)[1]:
        return "address", text
    msg = f"--scheduler {scheduler!r}: {_HOW}"
    raise OptionError(msg)


@contextmanager
def _workers_allocate_as_here() -> Iterator[None]:
    """Start the block's local Dask workers with this process's memory settings.

    See :func:`geo311.allocation.worker_environment`.  A nanny sets the
    variables of ``distributed.nanny.pre-spawn-environ`` in its own process
    -- this one, for a ``LocalCluster`` -- and prefers values already there,
    so they are set here too for the block, and put back after it.
    """
    import dask  # noqa: PLC0415 - optional extra

    wanted = worker_environment()
    spawn = "distributed.nanny.pre-spawn-environ"
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        with dask.config.set({spawn: {**dask.config.get(spawn), **wanted}}):
            yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def dask_client(scheduler: str) -> Iterator[Any]:
    """Connect a ``dask.distributed.Client`` for ``scheduler`` (starting a LocalCluster if local).

    Yields
    ------
    distributed.Client
        Closed (with the LocalCluster) on leaving.

    Raises
    ------
    OptionError
        A malformed ``scheduler``, or Dask not installed.
    NetworkError
        No scheduler answered at the address (within Dask's connect timeout,
        ``distributed.comm.timeouts.connect``).
    """
    kind, value = parse_scheduler(scheduler)
    try:
        from distributed import Client, LocalCluster  # noqa: PLC0415 - optional extra
    except ImportError:
        msg = f"--scheduler {scheduler}: Dask is not installed; pip install 'geo311[dask]'"
        raise OptionError(msg) from None
    if kind == "local":
        with (
            _workers_allocate_as_here(),
            LocalCluster(
                n_workers=int(value),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    else:
        try:
            client = Client(str(value))
        except OSError as exc:
            msg = (
                f"--scheduler {value}: no Dask scheduler answered ({exc}); start one "
                "(`dask scheduler` and `dask worker ADDRESS` on the machines) or fix the address"
            )
            raise NetworkError(msg) from None
        with client:
            yield client


def map_parts(
    client: Any,
    parts: Sequence[Verdict],
    *,
    layers: Mapping[str, Sequence[Layer]],
    options: Mapping[str, Any],
    keep: Path | None = None,
    progress: ProgressHook | None = None,
) -> list[tuple[pd.DataFrame, Ledger]]:
    """Join every part on the cluster's workers; return their results in input order.

    Parameters
    ----------
    client : distributed.Client
    parts : sequence of Verdict
    layers : mapping of str to sequence of Layer
        Shipped once to every worker.
    options, keep
        As in :func:`geo311.scale.stream.join_part` (``keep`` must be a
        folder every worker sees at the same path).
    progress : ProgressHook, optional
        Told the parts joined so far (step ``"join"``).

    Returns
    -------
    list of (DataFrame, Ledger)
    """
    from distributed import as_completed  # noqa: PLC0415 - optional extra

    from geo311.scale.stream import join_part  # noqa: PLC0415 - stream imports this module

    [shipped] = client.scatter([dict(layers)], broadcast=True)
    futures = client.map(
        join_part, list(parts), layers=shipped, options=dict(options), keep=keep, pure=False
    )
    for done, _ in enumerate(as_completed(futures), start=1):
        report(progress, "join", done, len(futures), unit="parts")
    return list(client.gather(futures))


def _read_on_worker(
    path: Path, index: int, *, folder: Path, options: Mapping[str, Any]
) -> tuple[FileRead, PartWriter]:
    """Read one input file into its own parts (a subfolder of ``folder``), on a worker."""
    if not path.is_file():
        msg = (
            f"{path}: not found on the Dask worker; with --scheduler the exports are read "
            "by the workers, so put them on storage every worker sees at the same path"
        )
        raise InputFileError(msg)
    sub = folder / f"file-{index:05d}"
    sub.mkdir()
    writer = PartWriter(sub)
    return read_file(path, sink=writer, keep_raw=False, **options), writer


def read_files(
    client: Any,
    paths: Sequence[Path],
    *,
    folder: Path,
    options: Mapping[str, Any],
    progress: ProgressHook | None = None,
) -> tuple[list[FileRead], list[PartWriter]]:
    """Read every input file on the cluster's workers, each into its own parts, in input order.

    Parameters
    ----------
    client : distributed.Client
    paths : sequence of pathlib.Path
        The exports; every worker must see them at these paths.
    folder : pathlib.Path
        The parts' folder, on storage every worker sees at this path.
    options : mapping
        ``schema``, ``timezone`` (checked), ``chunksize``, ``encoding`` and
        ``max_bad_timestamps`` of :func:`geo311.io.readers.read_file`.
    progress : ProgressHook, optional
        Told the rows read so far as each file is done (step ``"ingest"``).

    Returns
    -------
    (list of FileRead, list of PartWriter)
        Each file's read and the writer of its parts (see
        :meth:`geo311.scale.parts.PartWriter.merged`).
    """
    from distributed import as_completed  # noqa: PLC0415 - optional extra

    futures = [
        client.submit(
            _read_on_worker, path, index, folder=folder, options=dict(options), pure=False
        )
        for index, path in enumerate(paths)
    ]
    position = {future.key: index for index, future in enumerate(futures)}
    done: dict[int, tuple[FileRead, PartWriter]] = {}
    for future, result in as_completed(futures, with_results=True):
        done[position[future.key]] = result
        report(progress, "ingest", sum(r.rows for r, _ in done.values()), None, unit="rows")
    ordered = [done[index] for index in range(len(paths))]
    return [read for read, _ in ordered], [writer for _, writer in ordered]

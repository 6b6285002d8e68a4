"""The ingest on disk: normalized chunks as Parquet parts, cleaning verdicts per part.

:class:`PartWriter` is the ``sink`` of :func:`geo311.read_requests`: it writes
each normalized chunk to ``part-NNNNN.parquet`` and keeps in memory only a
hash of each request id and the :data:`SELECTION_COLUMNS` (as categoricals and
one time), which the pipeline's type selection and layer choice read.  Its
:meth:`PartWriter.clean` cleans across rows from the parts
(:func:`geo311.scale.clean.clean_parts`) and cuts the verdict into one
:class:`Verdict` per part; :func:`cleaned_part` applies a verdict to its part
read back: the result is exactly the in-memory ingest's rows of that part,
index included.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from geo311._flags import add_flags
from geo311.clean.placeholders import PlaceholderRule
from geo311.clean.quality import mark_placeholders, time_flags
from geo311.io.dtypes import compact_requests
from geo311.io.geoparquet import write_frame
from geo311.io.readers import request_points
from geo311.ledger import Result
from geo311.progress import ProgressHook
from geo311.scale.clean import Cleaning, Spill, clean_parts, id_hashes

__all__ = ["SELECTION_COLUMNS", "PartWriter", "Verdict", "cleaned_part"]

#: What the ingest keeps of each request in memory: the columns the pipeline's
#: type selection (service types) and layer choice (request dates) read, and
#: each row's time zone with a profile mixing jurisdictions.
SELECTION_COLUMNS = ("service_code", "service_name", "requested_datetime", "timezone")


@dataclass
class PartWriter:
    """Write each chunk to a Parquet part in ``folder`` (its id hashes beside it).

    What it keeps in memory of each chunk is its :data:`SELECTION_COLUMNS`.

    Parameters
    ----------
    folder : pathlib.Path
        An existing folder (every worker of a cluster must be able to read it).
    progress : ProgressHook, optional
        Told the parts cleaned so far (step ``"clean"``).

    Attributes
    ----------
    paths : list of pathlib.Path
        The parts written, in input order.
    starts : list of int
        The position of each part's first row in the whole input.
    rows : int
        Rows written so far.
    cleaning : Cleaning or None
        The verdict of :meth:`clean`, once called.
    """

    folder: Path
    progress: ProgressHook | None = None
    paths: list[Path] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    rows: int = 0
    cleaning: Cleaning | None = None

    def __post_init__(self) -> None:
        # the request ids, hashed (geo311.scale.clean.id_hashes), spilled to disk by bucket
        self._ids = Spill(self.folder, "ids", np.uint64)

    def _next_path(self) -> Path:
        return self.folder / f"part-{len(self.paths):05d}.parquet"

    @classmethod
    def merged(
        cls, folder: Path, writers: Sequence[PartWriter], *, progress: ProgressHook | None = None
    ) -> PartWriter:
        """Return one writer over the parts of ``writers`` (e.g. one per input file), in order.

        Their parts are moved into ``folder`` under one numbering and their
        id hashes appended to its spill; their own folders are removed.

        Parameters
        ----------
        folder : pathlib.Path
            An existing folder on the file system of the writers' folders.
        writers : sequence of PartWriter
            In input order; not used afterwards.
        progress : ProgressHook, optional
            As in :class:`PartWriter`.

        Returns
        -------
        PartWriter
        """
        out = cls(folder, progress=progress)
        for writer in writers:
            for path, start in zip(writer.paths, writer.starts, strict=True):
                out.starts.append(out.rows + start)
                out.paths.append(path.replace(out._next_path()))
            out.rows += writer.rows
            out._ids.absorb(writer._ids)
            shutil.rmtree(writer.folder, ignore_errors=True)
        return out

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Store ``chunk``; return its :data:`SELECTION_COLUMNS` (the chunk is not modified)."""
        frame = chunk.reset_index(drop=True)
        path = self._next_path()
        write_frame(frame, path)
        hashes = id_hashes(frame["service_request_id"])
        self._ids.add(hashes[hashes != 0])  # a missing id is never a repeat
        self.starts.append(self.rows)
        self.rows += len(frame)
        self.paths.append(path)
        return compact_requests(frame[[c for c in SELECTION_COLUMNS if c in frame.columns]])

    def clean(
        self,
        selection: pd.DataFrame,
        *,
        as_of: pd.Timestamp | str | None,
        placeholders: PlaceholderRule,
        fallback_points: Any = (),
    ) -> Result:
        """Clean across the rows of every part (:func:`geo311.scale.clean.clean_parts`).

        Parameters
        ----------
        selection : pandas.DataFrame
            What :meth:`__call__` returned for every part, concatenated.
        as_of, placeholders, fallback_points
            As in :func:`geo311.clean_requests`.

        Returns
        -------
        Result
            The selection columns of the rows kept and the ``clean`` stage of
            the ledger, equal to the in-memory cleaning's.
        """
        self.cleaning = clean_parts(
            self.paths,
            starts=self.starts,
            rows=self.rows,
            ids=self._ids,
            as_of=as_of,
            placeholders=placeholders,
            fallback_points=fallback_points,
            progress=self.progress,
        )
        dropped = np.concatenate(
            [d + start for d, start in zip(self.cleaning.drop, self.starts, strict=True)]
        )
        keep = np.ones(len(selection), dtype=bool)
        keep[dropped] = False
        kept = selection.reset_index(drop=True)
        return Result(
            kept if keep.all() else kept.loc[keep].reset_index(drop=True), self.cleaning.ledger
        )

    def verdicts(self, *, timezone: str | None) -> list[Verdict]:
        """Cut the cleaning's verdict into one :class:`Verdict` per part.

        Parameters
        ----------
        timezone : str or None
            The requests' ``attrs["timezone"]``.

        Returns
        -------
        list of Verdict
        """
        if self.cleaning is None:
            msg = "PartWriter.verdicts() before clean(): read the inputs with this writer first"
            raise RuntimeError(msg)
        out = []
        first = 0
        ends = [*self.starts[1:], self.rows]
        for path, drop, start, end in zip(
            self.paths, self.cleaning.drop, self.starts, ends, strict=True
        ):
            out.append(
                Verdict(
                    path=path,
                    drop=drop if len(drop) else None,
                    first=first,
                    placeholders=self.cleaning.placeholders,
                    as_of=self.cleaning.as_of,
                    timezone=timezone,
                )
            )
            first += end - start - len(drop)
        return out


@dataclass(frozen=True)
class Verdict:
    """The cleaning's decision on one part's rows.

    Attributes
    ----------
    path : pathlib.Path
        The part.
    drop : numpy.ndarray or None
        Positions (within the part) of the rows dropped; None: none (the
        positions kept would take memory per request until the run ends).
    first : int
        Position of the first kept row among all requests kept (the index).
    placeholders : pandas.DataFrame or None
        The placeholder points of the whole run; None: the part was cleaned
        already (a part of a kept ingest, :mod:`geo311.scale.dataset`).
    as_of : pandas.Timestamp or None
        The time the time flags are checked against (None with ``placeholders``).
    timezone : str or None
        The requests' ``attrs["timezone"]``.
    """

    path: Path
    drop: np.ndarray | None
    first: int
    placeholders: pd.DataFrame | None
    as_of: pd.Timestamp | None
    timezone: str | None


def cleaned_part(verdict: Verdict) -> gpd.GeoDataFrame:
    """Read a part back and apply its verdict: the in-memory ingest's rows of that part.

    Parameters
    ----------
    verdict : Verdict

    Returns
    -------
    geopandas.GeoDataFrame
        The part's kept rows, placeholder points marked in ``coord_quality``
        and time flags added to ``qa_flags`` (row by row, as
        :func:`geo311.clean_requests` does), with their points
        (:func:`geo311.io.readers.request_points`, as the in-memory ingest
        builds them), indexed by their position among all requests kept.
    """
    # a kept part's points are built again from lat/long, as the ingest built them
    names = [n for n in pq.read_schema(verdict.path).names if n != "geometry"]
    frame = pd.read_parquet(verdict.path, columns=names)
    if verdict.drop is not None:
        kept = np.delete(np.arange(len(frame)), verdict.drop)
        frame = frame.iloc[kept].reset_index(drop=True)
    if verdict.placeholders is not None and verdict.as_of is not None:
        frame["coord_quality"] = mark_placeholders(frame, verdict.placeholders)
        frame["qa_flags"] = add_flags(frame["qa_flags"], time_flags(frame, verdict.as_of))
    frame = compact_requests(frame)
    gdf = gpd.GeoDataFrame(frame, geometry=request_points(frame))
    gdf.index = pd.RangeIndex(verdict.first, verdict.first + len(gdf))
    gdf.attrs["timezone"] = verdict.timezone
    return gdf

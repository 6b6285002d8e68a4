"""The ingest on disk: normalized chunks as Parquet parts, cleaning verdicts per part.

:class:`PartWriter` is the ``sink`` of :func:`geo311.read_requests`: it writes
each normalized chunk to ``part-NNNNN.parquet`` and hands back only the
:data:`KEY_COLUMNS` (plus the row's position in the whole input, ``_row``),
which :func:`geo311.clean_requests` then cleans as it would the full frame
(the reader builds no points for them).
:func:`verdicts` cuts the cleaned key rows into one :class:`Verdict` per
part, and :func:`cleaned_part` applies a verdict to its part read back: the
result is exactly the in-memory ingest's rows of that part, index included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo311.io.readers import request_points

__all__ = ["KEY_COLUMNS", "PartWriter", "Verdict", "cleaned_part", "verdicts"]

#: The columns :func:`geo311.clean_requests` (repeated ids, placeholder points,
#: time flags) and the pipeline's type selection and layer choice read.
KEY_COLUMNS = (
    "service_request_id",
    "service_code",
    "service_name",
    "status",
    "requested_datetime",
    "updated_datetime",
    "closed_datetime",
    "expected_datetime",
    "address",
    "lat",
    "long",
    "coord_quality",
    "qa_flags",
    "timezone",  # each row's zone, with a profile mixing jurisdictions
)

#: Position of a key row in the whole input (all files, all chunks).
ROW = "_row"

#: What the cleaning decides per row: the rest of a part's columns are kept as read.
_DECIDED = ("coord_quality", "qa_flags")


def _arrow_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with its ``string`` columns held by Arrow (same values, a tenth the bytes).

    A Python string object costs ~50 bytes before its text; an Arrow string
    array stores the text and a 4-byte offset.  The values and their missing
    entries (``pd.NA``) are unchanged, and so is every number computed from them.
    """
    python = [c for c, t in frame.dtypes.items() if t == "string" and t.storage == "python"]
    # a new frame either way: the caller adds a column to it
    return (
        frame.astype(dict.fromkeys(python, "string[pyarrow]"))
        if python
        else frame.copy(deep=False)
    )


@dataclass
class PartWriter:
    """Write each chunk to a Parquet part in ``folder``; return its key columns.

    Parameters
    ----------
    folder : pathlib.Path
        An existing folder (every worker of a cluster must be able to read it).

    Attributes
    ----------
    paths : list of pathlib.Path
        The parts written, in input order.
    starts : list of int
        The position of each part's first row in the whole input.
    rows : int
        Rows written so far.
    """

    folder: Path
    paths: list[Path] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    rows: int = 0

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Store ``chunk``; return its key columns and ``_row`` (the chunk is not modified)."""
        frame = chunk.reset_index(drop=True)
        path = self.folder / f"part-{len(self.paths):05d}.parquet"
        frame.to_parquet(path, index=False)
        keys = _arrow_strings(frame[[c for c in KEY_COLUMNS if c in frame.columns]])
        keys[ROW] = np.arange(self.rows, self.rows + len(frame), dtype=np.int64)
        self.paths.append(path)
        self.starts.append(self.rows)
        self.rows += len(frame)
        return keys


@dataclass(frozen=True)
class Verdict:
    """The cleaning's decision on one part's rows.

    Attributes
    ----------
    path : pathlib.Path
        The part.
    take : numpy.ndarray
        Positions (within the part) of the rows kept, in order.
    first : int
        Position of the first kept row among all requests kept (the index).
    decided : pandas.DataFrame
        ``coord_quality`` and ``qa_flags`` of the kept rows, after the cleaning.
    timezone : str or None
        The requests' ``attrs["timezone"]``.
    """

    path: Path
    take: np.ndarray
    first: int
    decided: pd.DataFrame
    timezone: str | None


def verdicts(cleaned: pd.DataFrame, writer: PartWriter) -> list[Verdict]:
    """Cut the cleaned key rows into one :class:`Verdict` per part written by ``writer``.

    Parameters
    ----------
    cleaned : pandas.DataFrame
        The key columns after :func:`geo311.clean_requests` (rows kept in input
        order, with ``_row``).
    writer : PartWriter

    Returns
    -------
    list of Verdict
    """
    rows = cleaned[ROW].to_numpy(dtype=np.int64)
    bounds = np.searchsorted(rows, [*writer.starts, writer.rows])
    zone = cleaned.attrs.get("timezone")
    out = []
    for i, (path, start) in enumerate(zip(writer.paths, writer.starts, strict=True)):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        out.append(
            Verdict(
                path=path,
                take=rows[lo:hi] - start,
                first=lo,
                decided=cleaned.iloc[lo:hi][list(_DECIDED)].reset_index(drop=True),
                timezone=zone,
            )
        )
    return out


def cleaned_part(verdict: Verdict) -> gpd.GeoDataFrame:
    """Read a part back and apply its verdict: the in-memory ingest's rows of that part.

    Parameters
    ----------
    verdict : Verdict

    Returns
    -------
    geopandas.GeoDataFrame
        The part's kept rows with the cleaned ``coord_quality`` and
        ``qa_flags`` and their points (:func:`geo311.io.readers.request_points`,
        as the in-memory ingest builds them), indexed by their position among
        all requests kept.
    """
    part = pd.read_parquet(verdict.path)
    frame = part.iloc[verdict.take].reset_index(drop=True)
    for column in _DECIDED:
        frame[column] = verdict.decided[column].array
    gdf = gpd.GeoDataFrame(frame, geometry=request_points(frame))
    gdf.index = pd.RangeIndex(verdict.first, verdict.first + len(gdf))
    gdf.attrs["timezone"] = verdict.timezone
    return gdf

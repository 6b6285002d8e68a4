"""Read 311 exports in any supported format into the canonical schema.

Every reader turns its file into raw frames of source columns (strings) plus,
where the format carries geometry, the points in EPSG:4326; every path then
goes through the same steps as :func:`requests_from_frame`: profile mapping
(:mod:`geo311.io.normalize`), row-wise coordinate checks and the cross-row
cleaning of :mod:`geo311.clean.quality`.

Supported inputs: CSV (plain or ``.gz``; UTF-8 with or without BOM, or
cp1252; comma-, semicolon-, tab- or pipe-delimited), Parquet / GeoParquet
(WKB or GeoArrow point geometry), GeoJSON, Open311 GeoReport v2 JSON and XML,
and ArcGIS FeatureSet JSON (``f=json``, EPSG or Esri spatial references).
Geometry without a CRS (a GeoDataFrame or GeoParquet column whose CRS is
unset) raises :class:`geo311._errors.CRSError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo311._errors import InputFileError, SchemaError, TimestampError
from geo311.allocation import collector_paused
from geo311.background import Background, can_fork
from geo311.clean.placeholders import PlaceholderRule
from geo311.clean.quality import clean_requests, flag_coordinates
from geo311.io.dtypes import compact_requests, concat_requests
from geo311.io.formats import (
    CHUNKED,
    Chunk,
    as_strings,
    geometry_xy,
    no_crs,
    points_from_xy,
    read_chunks,
)
from geo311.io.normalize import normalize_frame
from geo311.io.profiles import REQUIRED, TIMESTAMP_COLUMNS, Profile, detect_profile, get_profile
from geo311.io.relay import ChunkRelay
from geo311.io.schema import COORD_USABLE
from geo311.io.sniff import sniff_format
from geo311.io.values import check_timezone, parse_as_of
from geo311.ledger import Ledger, Result, StageLedger
from geo311.progress import ProgressHook, report

__all__ = [
    "FileRead",
    "RequestSink",
    "combine_files",
    "read_file",
    "read_requests",
    "request_points",
    "requests_from_frame",
]

log = logging.getLogger(__name__)

#: CSV and Parquet files this large on disk (about 100,000 rows of CSV, more
#: compressed) are read by two processes when there is no sink (see
#: :func:`read_file`); the other formats are read whole, so a second process
#: would only read them again.
PARALLEL_MIN_BYTES = 32 * 2**20

#: Row flags of values the reader derived or could not place, logged per input.
_DERIVED = (
    "closed_time_from_notes",
    "closed_time_from_updated",
    "unreadable_notes",
    "unknown_jurisdiction",
)

FallbackPoints = Iterable[tuple[float, float]] | Mapping[str, tuple[float, float]]


class RequestSink(Protocol):
    """Where :func:`read_requests` sends each normalized chunk, and who cleans across rows.

    :class:`geo311.scale.parts.PartWriter` stores the chunks on disk and keeps
    only what the pipeline reads before the join.
    """

    def __call__(self, chunk: pd.DataFrame) -> pd.DataFrame:
        """Take one normalized chunk; return what to keep of it in memory."""
        ...

    def clean(
        self,
        frame: pd.DataFrame,
        *,
        as_of: pd.Timestamp | None,
        placeholders: PlaceholderRule,
        fallback_points: FallbackPoints,
    ) -> Result:
        """Clean across the rows of every chunk; return what was kept of the rows kept."""
        ...


def _prepare(
    raw: pd.DataFrame,
    *,
    profile: Profile,
    name: str,
    first_row: int,
    timezone: str | None,
    points: pd.DataFrame | None,
    keep_raw: bool,
) -> Result:
    """Normalize one chunk and check its coordinates (row-wise, no drops)."""
    norm = normalize_frame(
        raw,
        profile=profile,
        input_file=name,
        first_row=first_row,
        timezone=timezone,
        points=points,
        keep_raw=keep_raw,
    )
    coords = flag_coordinates(norm.frame, bbox=profile.bbox)
    ledger = Ledger()
    ledger.record(
        "normalize",
        rows_in=len(raw),
        rows_out=len(norm.frame),
        flagged=norm.flagged,
        examples={f"{k} ({name})": v for k, v in norm.examples.items()},
    )
    return Result(compact_requests(coords.frame), ledger.extend(coords.ledger))


def _check_input(
    norm: StageLedger,
    *,
    name: str,
    sources: dict[str, str],
    max_bad_timestamps: float,
) -> None:
    """Refuse one input whose timestamps or required columns cannot carry the analysis.

    Checked per input, so that a small file in a format the profile cannot read
    is not hidden by a large one that parses.  Raises TimestampError when more
    than ``max_bad_timestamps`` of a timestamp column is unparseable, and
    SchemaError when a required column (``sources``: canonical -> source
    column) is empty on every row; rows empty in a required column on only
    some rows are kept, flagged ``missing_<column>`` and logged at WARNING.
    """
    rows = max(norm.rows_in, 1)
    for column in TIMESTAMP_COLUMNS:
        reason = f"unparsed_{column}"
        bad = norm.flagged.get(reason, 0)
        if bad / rows > max_bad_timestamps:
            examples = norm.examples.get(f"{reason} ({name})", [])
            msg = (
                f"{name}: {bad:,} of {norm.rows_in:,} rows ({bad / rows:.1%}) have a "
                f"{column} the profile's timestamp formats cannot parse, e.g. {examples}. "
                "Add the format to the profile's [timestamps] formats, or accept the loss by "
                f"raising --max-bad-timestamps (now {max_bad_timestamps:.1%})."
            )
            raise TimestampError(msg)
    for reason in _DERIVED:
        count = norm.flagged.get(reason, 0)
        if count:
            log.warning(
                "%s: %s of %s rows flagged %s%s",
                name,
                f"{count:,}",
                f"{norm.rows_in:,}",
                reason,
                f", e.g. {norm.examples[f'{reason} ({name})']}"
                if f"{reason} ({name})" in norm.examples
                else "",
            )
    for column in REQUIRED:
        empty = norm.flagged.get(f"missing_{column}", 0)
        source = sources.get(column, column)
        if norm.rows_in and empty == norm.rows_in:
            msg = (
                f"{name}: column {source!r} ({column}, required) is empty on all "
                f"{norm.rows_in:,} rows; check that the profile maps the right column "
                "(--schema) or re-export the file with it filled"
            )
            raise SchemaError(msg)
        if empty:
            log.warning(
                "%s: %s of %s rows have an empty %r (%s); kept and flagged missing_%s",
                name,
                f"{empty:,}",
                f"{norm.rows_in:,}",
                source,
                column,
                column,
            )


def _mapped(header: list[str], *, profile: Profile | None, source: str) -> list[str]:
    """Return the columns of ``header`` that ``profile`` (detected when None) reads."""
    found = profile if profile is not None else detect_profile(header, source=source)
    wanted = set(found.resolve(header, source=source).values())
    return [c for c in header if c in wanted]


def request_points(requests: pd.DataFrame) -> gpd.array.GeometryArray:
    """Return the requests' points in EPSG:4326: None where ``coord_quality`` places none.

    A point is kept for usable coordinates (``ok``, ``swapped``) and for
    ``outside_area``; placeholders and missing, zero or out-of-range
    coordinates get none.
    """
    has_point = requests["coord_quality"].isin([*COORD_USABLE, "outside_area"]).to_numpy(bool)
    xs = requests["long"].to_numpy(float, na_value=np.nan)[has_point]
    ys = requests["lat"].to_numpy(float, na_value=np.nan)[has_point]
    # points only where there is one: Shapely makes an empty point for NaN coordinates
    # as slowly as a real one, and each would be replaced by None
    geometry = np.full(len(requests), None, dtype=object)
    with collector_paused():
        geometry[has_point] = shapely.points(xs, ys)
    return gpd.array.from_shapely(geometry, crs="EPSG:4326")


def _finish(
    parts: list[pd.DataFrame],
    ledger: Ledger,
    *,
    timezones: set[str],
    as_of: pd.Timestamp | None,
    placeholders: PlaceholderRule,
    fallback_points: FallbackPoints,
    sink: RequestSink | None = None,
) -> Result:
    """Clean across rows (the ``sink``'s way, if any) and build the GeoDataFrame.

    With a ``sink`` the requests are what it kept of each chunk, without points.
    """
    frame = concat_requests(parts)
    parts.clear()  # the chunks' memory goes as soon as they are joined
    cleaner = clean_requests if sink is None else sink.clean
    cleaned = cleaner(
        frame, as_of=as_of, placeholders=placeholders, fallback_points=fallback_points
    )
    del frame
    out = compact_requests(cleaned.frame)
    gdf = gpd.GeoDataFrame(out, geometry=request_points(out)) if sink is None else out
    if "timezone" in out:  # a profile mixing jurisdictions: each row's own zone
        timezones = set(out["timezone"].dropna())
    gdf.attrs["timezone"] = next(iter(timezones)) if len(timezones) == 1 else None
    full = ledger.extend(cleaned.ledger)
    log.info(
        "ingested %s rows -> %s requests (%s dropped)",
        f"{full.rows_in:,}",
        f"{full.rows_out:,}",
        f"{sum(full.dropped.values()):,}",
    )
    return Result(gdf, full)


def requests_from_frame(
    frame: pd.DataFrame,
    *,
    schema: str | Path | Profile | None = None,
    timezone: str | None = None,
    name: str = "<frame>",
    as_of: pd.Timestamp | str | None = None,
    max_bad_timestamps: float = 0.05,
    placeholders: Mapping[str, Any] | None = None,
    fallback_points: FallbackPoints = (),
    keep_raw: bool = False,
) -> Result:
    """Turn a raw export frame into canonical requests (the funnel every reader uses).

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        Source columns as exported.  A GeoDataFrame's point geometry is used
        where the profile's coordinate columns are empty.  Not modified.
    schema : str, pathlib.Path or Profile, optional
        Profile name or TOML path; detected from the columns when omitted.
    timezone : str, optional
        Override the profile's IANA time zone (checked with
        :func:`geo311.io.values.check_timezone`).  With a profile that mixes
        jurisdictions it applies to rows whose jurisdiction is not in its
        ``[jurisdictions.timezones]``.
    name : str
        How to name the input in ``input_file`` and in messages.
    as_of : timestamp or str, optional
        When the export was taken (default: now): an ISO 8601 date or time,
        naive values read as UTC (see :func:`geo311.io.values.parse_as_of`).
    max_bad_timestamps : float, default 0.05
        Largest share of an input's rows with an unparseable (non-empty)
        timestamp in any one timestamp column before failing; below it the
        rows are kept, flagged ``unparsed_<column>`` and counted in the ledger.
    placeholders : mapping, optional
        Overrides of the profile's ``[placeholders]`` table, same keys
        (``min_count``, ``min_share``, ``min_addresses``,
        ``min_address_share``, ``radius_m``, ``points``; see
        :class:`~geo311.clean.placeholders.PlaceholderRule`); a value of None
        keeps the profile's.
    fallback_points : iterable or mapping of (lat, long)
        Known geocoder fallback points, e.g. the city's and ZIP codes'
        centroids; requests within ``radius_m`` of one are placeholders.
    keep_raw : bool, default False
        Also keep every source column verbatim as ``raw_<name>`` (Arrow-backed
        strings), e.g. for the label checks of :func:`geo311.join_city`
        (``qa=True``).

    Returns
    -------
    Result
        ``(requests, ledger)``: a GeoDataFrame in EPSG:4326 following
        :mod:`geo311.io.schema`, and its row ledger.  A profile with a
        ``[jurisdictions]`` table adds the columns ``jurisdiction`` and
        ``timezone`` (each row's IANA zone, for local-time bucketing);
        ``attrs["timezone"]`` is then set only when every row has the same.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"service_request_id": ["a1"], "status": ["open"],
    ...                     "requested_datetime": ["2024-05-01T09:30:00-04:00"],
    ...                     "lat": ["39.29"], "long": ["-76.61"]})
    >>> requests, ledger = requests_from_frame(raw, as_of="2024-06-01")
    >>> str(requests.loc[0, "requested_datetime"]), ledger.rows_out
    ('2024-05-01 13:30:00+00:00', 1)
    """
    zone = check_timezone(timezone) if timezone is not None else None
    as_of_ts = parse_as_of(as_of)
    profile = (
        get_profile(schema) if schema is not None else detect_profile(frame.columns, source=name)
    )
    points = None
    raw = pd.DataFrame(frame)
    if isinstance(frame, gpd.GeoDataFrame):
        x, y = geometry_xy(frame.geometry.to_numpy(), where=name)
        if frame.crs is None and not np.isnan(x).all():
            raise no_crs(name)
        points = points_from_xy(x, y, frame.crs)
        raw = raw.drop(columns=[frame.geometry.name])
    ledger = Ledger(inputs=[{"path": name, "rows": len(raw), "profile": profile.name}])
    ledger.record("read", rows_in=len(raw), rows_out=len(raw))
    prepared = _prepare(
        as_strings(raw),
        profile=profile,
        name=name,
        first_row=1,
        timezone=zone,
        points=points,
        keep_raw=keep_raw,
    )
    _check_input(
        prepared.ledger.stage("normalize"),
        name=name,
        sources=profile.resolve(raw.columns, source=name),
        max_bad_timestamps=max_bad_timestamps,
    )
    rule = profile.placeholders
    return _finish(
        [prepared.frame],
        ledger.extend(prepared.ledger),
        timezones={zone or profile.timezone},
        as_of=as_of_ts,
        placeholders=rule.updated(**(placeholders or {})),
        fallback_points=fallback_points,
    )


def read_requests(
    paths: str | Path | Sequence[str | Path],
    *,
    schema: str | Path | Profile | None = None,
    timezone: str | None = None,
    chunksize: int | None = None,
    encoding: str | None = None,
    as_of: pd.Timestamp | str | None = None,
    max_bad_timestamps: float = 0.05,
    placeholders: Mapping[str, Any] | None = None,
    fallback_points: FallbackPoints = (),
    progress: ProgressHook | None = None,
    keep_raw: bool = False,
    sink: RequestSink | None = None,
) -> Result:
    """Read one or more 311 export files into canonical requests.

    Parameters
    ----------
    paths : path or sequence of paths
        Files in any format of :data:`~geo311.io.sniff.FORMATS` (detected per file).
    schema : str, pathlib.Path or Profile, optional
        Profile for every file; detected per file from its header when omitted.
    timezone : str, optional
        Override the profile's IANA time zone.
    chunksize : int, optional
        Rows per chunk for CSV and Parquet (default 200,000).  Each chunk is
        normalized and released before the next is read.
    encoding : str, optional
        CSV text encoding; sniffed (UTF-8 with or without BOM, else cp1252).
    as_of, max_bad_timestamps, placeholders, fallback_points, keep_raw
        As in :func:`requests_from_frame`; the placeholder settings not
        overridden come from the first file's profile.  Without ``keep_raw``
        a CSV's columns that the profile does not map are not read at all.
    progress : ProgressHook, optional
        Told the rows read so far (step ``"ingest"``, total unknown) after
        each chunk (see :mod:`geo311.progress`).
    sink : RequestSink, optional
        Given each chunk once normalized and its coordinates checked; what it
        returns is kept instead of the chunk, and its ``clean`` method cleans
        across rows instead of :func:`geo311.clean_requests` (the out-of-core
        run of :mod:`geo311.scale` stores the chunks on disk and cleans from
        there).  The requests returned are then what it kept, without points
        (see :func:`request_points`).

    Returns
    -------
    Result
        ``(requests, ledger)`` as in :func:`requests_from_frame`; requests
        repeated across files are deduplicated by the rule of
        :func:`geo311.clean_requests`.

    Raises
    ------
    InputFileError, SchemaError, ProfileError, TimestampError, CRSError, OptionError
        With the file, the problem and what to do.  ``max_bad_timestamps``
        applies to each file on its own.  Refused (nothing is guessed): a path
        that is not a regular file; text that is not valid in one encoding
        for the whole file (see :mod:`geo311.io.sniff`); a CSV whose data rows
        use another delimiter than its header; a required column empty on
        every row of a file; inputs with no data rows at all; an invalid
        ``timezone`` or ``as_of`` (see :mod:`geo311.io.values`).
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        msg = "no input files given"
        raise InputFileError(msg)
    zone = check_timezone(timezone) if timezone is not None else None
    as_of_ts = parse_as_of(as_of)
    reads: list[FileRead] = []
    for item in items:
        reads.append(
            read_file(
                item,
                schema=schema,
                timezone=zone,
                chunksize=chunksize,
                encoding=encoding,
                max_bad_timestamps=max_bad_timestamps,
                keep_raw=keep_raw,
                sink=sink,
                progress=progress,
                rows_before=sum(r.rows for r in reads),
            )
        )
    return combine_files(
        reads,
        as_of=as_of_ts,
        placeholders=placeholders,
        fallback_points=fallback_points,
        sink=sink,
    )


@dataclass
class FileRead:
    """One input file read and normalized, before the cleaning across rows.

    Attributes
    ----------
    parts : list of pandas.DataFrame
        Its chunks normalized, or what the sink kept of each.
    ledger : Ledger
        Its ``normalize`` and coordinate stages, and its entry in ``inputs``.
    timezone : str
        The zone its naive times were read in.
    rule : PlaceholderRule
        Its profile's placeholder thresholds.
    """

    parts: list[pd.DataFrame]
    ledger: Ledger
    timezone: str
    rule: PlaceholderRule

    @property
    def rows(self) -> int:
        """Data rows read from the file."""
        return int(self.ledger.inputs[-1]["rows"])


def _prepare_chunk(
    chunk: Chunk, *, profile: Profile, name: str, timezone: str | None, keep_raw: bool
) -> Result:
    """:func:`_prepare` one chunk of a file."""
    return _prepare(
        chunk.raw,
        profile=profile,
        name=name,
        first_row=chunk.first_row,
        timezone=timezone,
        points=chunk.points,
        keep_raw=keep_raw,
    )


def _profile_of(chunk: Chunk, profile: Profile | None, path: Path) -> Profile:
    """Return the profile given, or the one a file's first chunk shows."""
    if profile is not None:
        return profile
    return detect_profile(chunk.header or chunk.raw.columns, source=str(path))


def _read_and_prepare_odd(
    read: Callable[[], Iterator[Chunk]],
    relay: ChunkRelay,
    *,
    profile: Profile | None,
    **options: Any,
) -> dict[int, Result]:
    """Read a file, hand its even chunks over and prepare the odd ones: the helper child's share.

    The first chunk is not handed over: the other process reads it itself
    meanwhile (:func:`_first_then_relayed`).  Each odd chunk is prepared once
    the even chunk after it has been handed over, so that the other process
    always has a chunk to prepare.
    """
    out = {}
    held: tuple[int, Chunk, Profile] | None = None
    with relay.sending():
        for index, chunk in enumerate(read()):
            profile = _profile_of(chunk, profile, Path(options["name"]))
            if index % 2 == 1:
                relay.count(index, len(chunk.raw))
                held = (index, chunk, profile)
                continue
            if index:
                relay.hand(index, chunk)
            if held is not None:
                out[held[0]] = _prepare_chunk(held[1], profile=held[2], **options)
                held = None
    if held is not None:
        out[held[0]] = _prepare_chunk(held[1], profile=held[2], **options)
    return out


def _first_then_relayed(
    read: Callable[[], Iterator[Chunk]], relay: ChunkRelay
) -> Iterator[tuple[int, Chunk | int]]:
    """Yield this process's share of a relayed file: its first chunk read here, then the relay's.

    The helper child reads the first chunk too (it must, to read on), so this
    process need not wait for it.
    """
    chunks = read()
    first = next(chunks, None)
    close = getattr(chunks, "close", None)
    if close is not None:  # a generator: its file is closed now
        close()
    if first is not None:
        yield 0, first
    yield from relay.received()


def _start_helper(
    read: Callable[[], Iterator[Chunk]],
    *,
    path: Path,
    profile: Profile | None,
    options: dict[str, Any],
) -> tuple[ChunkRelay | None, Background[dict[int, Result]] | None]:
    """Fork the child that reads ``path`` and hands every other chunk over; (None, None) if none.

    Without a temporary folder for the relay, this process reads the file alone.
    """
    try:
        relay = ChunkRelay()
    except OSError as exc:
        log.debug("%s is read by one process: %s", path, exc)
        return None, None
    try:
        helper = Background(
            partial(_read_and_prepare_odd, read, relay, profile=profile, **options),
            what=f"reading {path}",
            advice="read it again (the machine may be short of memory)",
        )
    except BaseException:
        relay.close()
        raise
    return relay, helper


class _Prepared:
    """A file's prepared chunks, handed on in the file's order as they become available."""

    def __init__(self, sink: RequestSink | None) -> None:
        self.sink = sink
        self.parts: list[pd.DataFrame] = []
        self.ledger = Ledger()
        self._waiting: dict[int, Result] = {}

    def add(self, index: int, result: Result) -> None:
        """Take chunk ``index``; hand on every chunk whose predecessors all came."""
        self._waiting[index] = result
        while len(self.parts) in self._waiting:
            frame, ledger = self._waiting.pop(len(self.parts))
            self.parts.append(frame if self.sink is None else self.sink(frame))
            self.ledger = self.ledger.extend(ledger)


def read_file(
    item: str | Path,
    *,
    schema: str | Path | Profile | None,
    timezone: str | None,
    chunksize: int | None,
    encoding: str | None,
    max_bad_timestamps: float,
    keep_raw: bool,
    sink: RequestSink | None,
    progress: ProgressHook | None = None,
    rows_before: int = 0,
) -> FileRead:
    """Read one input file chunk by chunk: normalized, coordinates checked, checked as a whole.

    The per-file half of :func:`read_requests` (whose options these are;
    ``timezone`` already checked); :func:`combine_files` is the other half.
    The out-of-core run of a Dask cluster reads each file on a worker.

    Without a ``sink``, a CSV or Parquet file of :data:`PARALLEL_MIN_BYTES`
    or more is read by two processes where
    :func:`geo311.background.can_fork`: a forked child reads (parses) the
    file, hands the chunks at even positions to this process
    (:class:`geo311.io.relay.ChunkRelay`) and prepares the others; the
    chunks are handed on in the file's order, so the result is the same.

    Parameters
    ----------
    rows_before : int, default 0
        Rows read from earlier files (for ``progress``).

    Returns
    -------
    FileRead
    """
    path = Path(item)
    fmt = sniff_format(path)
    profile = get_profile(schema) if schema is not None else None
    select = None if keep_raw else partial(_mapped, profile=profile, source=str(path))
    read = partial(read_chunks, path, fmt, chunksize=chunksize, encoding=encoding, select=select)
    options: dict[str, Any] = {"name": str(path), "timezone": timezone, "keep_raw": keep_raw}
    # in memory (no sink), a child forked now, while this process holds little, reads a
    # large file and hands every other chunk over; with a sink, each chunk goes to it at
    # once, in order
    relay: ChunkRelay | None = None
    helper: Background[dict[int, Result]] | None = None
    if (
        sink is None
        and fmt in CHUNKED
        and can_fork()
        and path.stat().st_size >= PARALLEL_MIN_BYTES
    ):
        relay, helper = _start_helper(read, path=path, profile=profile, options=options)
    rows = 0
    prepared = _Prepared(sink)
    sources: dict[str, str] = {}
    try:
        chunks: Iterator[tuple[int, Chunk | int]] = (
            enumerate(read()) if relay is None else _first_then_relayed(read, relay)
        )
        for index, chunk in chunks:
            if isinstance(chunk, int):  # the rows of a chunk the helper prepares
                rows += chunk
            else:
                profile = _profile_of(chunk, profile, path)
                if not sources:
                    sources = profile.resolve(chunk.raw.columns, source=str(path))
                prepared.add(index, _prepare_chunk(chunk, profile=profile, **options))
                rows += len(chunk.raw)
            report(progress, "ingest", rows_before + rows, None, unit="rows")
        if helper is not None:
            for index, result in helper.result().items():
                prepared.add(index, result)
    finally:
        if helper is not None:
            helper.cancel()
        if relay is not None:
            relay.close()
    parts, ledger = prepared.parts, prepared.ledger
    if profile is None:
        msg = f"{path}: no rows and no header could be read"
        raise InputFileError(msg)
    _check_input(
        ledger.stage("normalize"),
        name=str(path),
        sources=sources,
        max_bad_timestamps=max_bad_timestamps,
    )
    ledger.inputs.append({"path": str(path), "format": fmt, "rows": rows, "profile": profile.name})
    log.info("read %s rows from %s (%s, profile %s)", f"{rows:,}", path, fmt, profile.name)
    return FileRead(parts, ledger, timezone or profile.timezone, profile.placeholders)


def combine_files(
    reads: Sequence[FileRead],
    *,
    as_of: pd.Timestamp | None,
    placeholders: Mapping[str, Any] | None,
    fallback_points: FallbackPoints,
    sink: RequestSink | None,
) -> Result:
    """Join the files read (in input order), clean across their rows, build the requests.

    The second half of :func:`read_requests` (whose options these are;
    ``as_of`` already parsed): the placeholder thresholds not overridden
    come from the first file's profile.

    Returns
    -------
    Result
        As :func:`read_requests`.
    """
    ledger = Ledger()
    parts: list[pd.DataFrame] = []
    for done in reads:
        ledger = ledger.extend(done.ledger)
        parts.extend(done.parts)
    total = sum(i["rows"] for i in ledger.inputs)
    empty = [i["path"] for i in ledger.inputs if not i["rows"]]
    if not total:
        msg = (
            f"{', '.join(empty)}: a header but no data rows, so there are no requests to "
            "ingest; check the export's date range or filters and download it again"
        )
        raise InputFileError(msg)
    if empty:
        log.warning("%s: a header but no data rows; nothing read from it", ", ".join(empty))
    read = Ledger(inputs=ledger.inputs)
    read.record("read", rows_in=total, rows_out=total)
    return _finish(
        parts,
        Ledger(stages=[*read.stages, *ledger.stages], inputs=ledger.inputs),
        timezones={done.timezone for done in reads},
        as_of=as_of,
        placeholders=reads[0].rule.updated(**(placeholders or {})),
        fallback_points=fallback_points,
        sink=sink,
    )

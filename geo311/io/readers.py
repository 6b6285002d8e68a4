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

import codecs
import gzip
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError

from geo311._errors import CRSError, InputFileError, TimestampError
from geo311.clean.quality import clean_requests, flag_coordinates
from geo311.io.normalize import normalize_frame
from geo311.io.profiles import TIMESTAMP_COLUMNS, Profile, detect_profile, get_profile
from geo311.io.schema import COORD_USABLE
from geo311.ledger import Ledger, Result, StageLedger

__all__ = ["FORMATS", "read_requests", "requests_from_frame", "sniff_format"]

log = logging.getLogger(__name__)

#: Input formats and what they are.
FORMATS = {
    "csv": "CSV, plain or .gz (UTF-8, UTF-8 with BOM, or cp1252; , ; TAB or | delimited)",
    "parquet": "Parquet or GeoParquet",
    "geojson": "GeoJSON FeatureCollection of points",
    "open311-json": "Open311 GeoReport v2 requests.json",
    "open311-xml": "Open311 GeoReport v2 requests.xml",
    "arcgis-json": "ArcGIS FeatureSet JSON (FeatureServer/MapServer query, f=json)",
}
_BLOCK = 1 << 20
#: Fields of an Open311 GeoReport v2 request, the header of an empty response.
_OPEN311_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
    "lat", "long", "media_url",
)  # fmt: skip
#: Delimiters tried, in order, on the header line of a CSV file.
_DELIMITERS = (",", ";", "\t", "|")
#: Read errors of a damaged file (truncated or corrupt gzip: EOFError, BadGzipFile).
_READ_ERRORS = (OSError, EOFError)


@dataclass
class _Chunk:
    raw: pd.DataFrame
    points: pd.DataFrame | None
    first_row: int


def _open_binary(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _check_path(path: Path) -> None:
    if not path.exists():
        msg = f"{path}: no such file"
        raise InputFileError(msg)
    if path.is_dir():
        msg = f"{path} is a directory; pass the export file(s) inside it"
        raise InputFileError(msg)
    if path.stat().st_size == 0:
        msg = f"{path} is empty (0 bytes); re-download the export"
        raise InputFileError(msg)


def sniff_format(path: str | Path) -> str:
    """Guess the input format of a file from its name and first bytes.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    str
        A key of :data:`FORMATS`.

    Raises
    ------
    InputFileError
        If the file is missing, empty, a directory, or of no supported format.
    """
    path = Path(path)
    _check_path(path)
    name = path.name.lower().removesuffix(".gz")
    try:
        with _open_binary(path) as fh:
            head = fh.read(4096)
    except (OSError, EOFError) as exc:
        msg = f"{path}: cannot read the file ({exc})"
        raise InputFileError(msg) from exc
    if not head.strip():
        msg = f"{path} holds no data (only whitespace)"
        raise InputFileError(msg)
    if head.startswith(b"PAR1") or name.endswith((".parquet", ".geoparquet", ".pq")):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<") or name.endswith(".xml"):
        return "open311-xml"
    if text.startswith((b"{", b"[")) or name.endswith((".json", ".geojson")):
        return _sniff_json(path)
    if b"\x00" in head:
        msg = f"{path} looks binary, not CSV; supported formats: {', '.join(FORMATS)}"
        raise InputFileError(msg)
    return "csv"


def _load_json(path: Path) -> Any:
    try:
        with _open_binary(path) as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid JSON ({exc})"
        raise InputFileError(msg) from exc
    except _READ_ERRORS as exc:
        msg = f"{path}: cannot read the file ({exc}); is it truncated?"
        raise InputFileError(msg) from exc


def _sniff_json(path: Path) -> str:
    data = _load_json(path)
    if isinstance(data, list):
        return "open311-json"
    if isinstance(data, dict):
        if "error" in data:
            msg = f"{path}: the file is an ArcGIS error response: {data['error']}"
            raise InputFileError(msg)
        features = data.get("features")
        if isinstance(features, list):
            if features and isinstance(features[0], dict) and "attributes" in features[0]:
                return "arcgis-json"
            if data.get("type") == "FeatureCollection":
                return "geojson"
            return "arcgis-json" if "fields" in data else "geojson"
    msg = (
        f"{path}: JSON that is neither an Open311 request list, an ArcGIS FeatureSet nor "
        "a GeoJSON FeatureCollection"
    )
    raise InputFileError(msg)


def _sniff_encoding(path: Path) -> str:
    """Return 'utf-8-sig' or 'cp1252' after decoding the whole file in blocks."""
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        offset = 0
        try:
            with _open_binary(path) as fh:
                while block := fh.read(_BLOCK):
                    decoder.decode(block)
                    offset += len(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            log.debug("%s is not %s (failed near byte %d)", path, encoding, offset)
            continue
        except _READ_ERRORS as exc:
            msg = f"{path}: cannot read the file ({exc}); is it truncated?"
            raise InputFileError(msg) from exc
        return encoding
    msg = (
        f"{path}: the text is neither UTF-8 nor cp1252 (Windows-1252); re-export it as UTF-8 "
        "or pass the right --encoding"
    )
    raise InputFileError(msg)


def _as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Return every column as nullable strings (JSON nulls stay missing)."""
    out = {}
    for col in frame.columns:
        values = frame[col]
        if values.dtype == object:
            values = values.map(
                lambda v: json.dumps(v) if isinstance(v, dict | list) else v, na_action="ignore"
            )
        if pd.api.types.is_float_dtype(values.dtype):
            # integers that JSON stored as floats (epoch ms) lose no digits this way
            as_int = values.dropna()
            if len(as_int) and (as_int == np.floor(as_int)).all() and as_int.abs().max() < 2**53:
                values = values.astype("Int64")
        out[str(col)] = values.astype("string")
    return pd.DataFrame(out, index=frame.index)


def _parse_crs(value: Any, *, where: str) -> CRS:
    """Return the CRS a file names, or raise InputFileError saying where it came from."""
    try:
        return CRS.from_user_input(value)
    except PyprojCRSError as exc:
        msg = f"{where}: the CRS {value!r} cannot be understood ({exc})"
        raise InputFileError(msg) from exc


def _arcgis_crs(sr: dict[str, Any], *, where: str) -> CRS:
    """Return the CRS of an ArcGIS ``spatialReference`` (EPSG or Esri wkid, or WKT)."""
    if not sr:
        return CRS.from_epsg(4326)
    for key in ("latestWkid", "wkid"):
        code = sr.get(key)
        if code is None:
            continue
        # Esri-only codes (e.g. 102685, Maryland State Plane feet) are not EPSG codes.
        for authority in ("EPSG", "ESRI"):
            try:
                return CRS.from_authority(authority, int(code))
            except (PyprojCRSError, ValueError, TypeError):
                continue
    if sr.get("wkt"):
        return _parse_crs(sr["wkt"], where=f"{where}: spatialReference wkt")
    msg = (
        f"{where}: spatialReference {sr} is neither an EPSG nor an Esri code pyproj knows; "
        "query the layer again with outSR=4326"
    )
    raise InputFileError(msg)


def _geometry_xy(geoms: np.ndarray, *, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Return x and y of point geometries; NaN where missing, empty or not a point."""
    import shapely  # noqa: PLC0415

    geoms = np.asarray(geoms, dtype=object)
    other = ~shapely.is_missing(geoms) & (shapely.get_type_id(geoms) != 0)
    if other.any():
        kinds = sorted(set(shapely.get_type_id(geoms[other]).tolist()))
        names = [shapely.GeometryType(k).name for k in kinds]
        log.info(
            "%s: %s geometries are not points (%s); their coordinates count as missing",
            where,
            f"{int(other.sum()):,}",
            ", ".join(names),
        )
    x = shapely.get_x(geoms).astype(float)
    y = shapely.get_y(geoms).astype(float)
    x[other] = np.nan
    y[other] = np.nan
    return x, y


def _no_crs(where: str) -> CRSError:
    msg = (
        f"{where} has point geometries but no CRS, so they cannot be put in EPSG:4326. "
        "Set the CRS the coordinates are in (e.g. gdf.set_crs('EPSG:2248')) and try again."
    )
    return CRSError(msg)


def _points_from_xy(x: np.ndarray, y: np.ndarray, crs: CRS | None) -> pd.DataFrame:
    if crs is not None and not crs.equals(CRS.from_epsg(4326)):
        ok = ~(np.isnan(x) | np.isnan(y))
        lon = np.full(len(x), np.nan)
        lat = np.full(len(x), np.nan)
        lon[ok], lat[ok] = Transformer.from_crs(crs, 4326, always_xy=True).transform(x[ok], y[ok])
        return pd.DataFrame({"lat": lat, "long": lon})
    return pd.DataFrame({"lat": y, "long": x})


def _sniff_delimiter(path: Path, encoding: str) -> str:
    """Return the most frequent of ``, ; TAB |`` outside quotes in the header line.

    Ties go to the earlier one in that order, and a header without any of them
    (a single column) is read as comma-separated.
    """
    with _open_binary(path) as fh:
        line = fh.readline(1 << 16)
    header = re.sub(r'"[^"]*"', "", line.decode(encoding, errors="replace"))
    counts = [header.count(d) for d in _DELIMITERS]
    return _DELIMITERS[counts.index(max(counts))] if max(counts) else ","


def _read_csv(path: Path, *, chunksize: int | None, encoding: str | None) -> Iterator[_Chunk]:
    enc = encoding or _sniff_encoding(path)
    if enc == "cp1252":
        log.info("%s is not UTF-8; reading it as cp1252 (Windows-1252)", path)
    try:
        sep = _sniff_delimiter(path, enc)
        if sep != ",":
            log.info("%s: the header is delimited by %r, reading it so", path, sep)
        options: dict[str, Any] = {"dtype": str, "encoding": enc, "sep": sep}
        reader = pd.read_csv(
            path,
            keep_default_na=False,
            chunksize=chunksize or 200_000,
            compression="infer",
            **options,
        )
        first = 1
        with reader:
            for chunk in reader:
                yield _Chunk(chunk, None, first)
                first += len(chunk)
        if first == 1:  # a header and no rows: still yield the header
            yield _Chunk(pd.read_csv(path, nrows=0, **options), None, 1)
    except pd.errors.EmptyDataError as exc:
        msg = f"{path}: no header row (the file is empty)"
        raise InputFileError(msg) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, LookupError) as exc:
        msg = f"{path}: cannot be read as CSV in encoding {enc}: {exc}"
        raise InputFileError(msg) from exc
    except InputFileError:
        raise
    except _READ_ERRORS as exc:
        msg = f"{path}: cannot read the file ({exc}); is it truncated?"
        raise InputFileError(msg) from exc


def _read_parquet(path: Path, *, chunksize: int | None) -> Iterator[_Chunk]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - pyarrow is a core dep; keep import cost local

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        msg = f"{path}: not a readable Parquet file ({exc})"
        raise InputFileError(msg) from exc
    meta = pf.schema_arrow.metadata or {}
    geo = json.loads(meta[b"geo"]) if b"geo" in meta else None
    geom_col = geo.get("primary_column") if geo else None
    crs = None
    encoding = "WKB"
    where = f"{path} (GeoParquet column {geom_col!r})"
    if geo and geom_col:
        column_meta = geo["columns"][geom_col]
        encoding = column_meta.get("encoding", "WKB")
        if encoding not in ("WKB", "point"):
            msg = (
                f"{where}: geometry encoding {encoding!r} is not read; write the file with "
                "point geometries, or with geometry_encoding='WKB'"
            )
            raise InputFileError(msg)
        # GeoParquet: an absent "crs" means OGC:CRS84; an explicit null means "unknown".
        crs_info = column_meta.get("crs", "OGC:CRS84")
        crs = _parse_crs(crs_info, where=where) if crs_info is not None else None
    first = 1
    for batch in pf.iter_batches(batch_size=chunksize or 200_000):
        frame = batch.to_pandas()
        points = None
        if geom_col and geom_col in frame:
            frame = frame.drop(columns=[geom_col])
            column = batch.column(geom_col)
            if encoding == "point":  # GeoArrow native points: struct<x, y>
                missing = column.is_null().to_numpy(zero_copy_only=False)
                x = column.field("x").to_numpy(zero_copy_only=False).astype(float)
                y = column.field("y").to_numpy(zero_copy_only=False).astype(float)
                x[missing] = np.nan
                y[missing] = np.nan
            else:
                import shapely  # noqa: PLC0415

                geoms = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
                x, y = _geometry_xy(geoms, where=where)
            if crs is None and not np.isnan(x).all():
                raise _no_crs(where)
            points = _points_from_xy(x, y, crs)
        yield _Chunk(_as_strings(frame), points, first)
        first += len(frame)


def _read_geojson(path: Path) -> Iterator[_Chunk]:
    data = _load_json(path)
    features = data.get("features", []) if isinstance(data, dict) else []
    props = pd.DataFrame([f.get("properties") or {} for f in features])
    x = np.full(len(features), np.nan)
    y = np.full(len(features), np.nan)
    for i, feat in enumerate(features):
        geom = feat.get("geometry") or {}
        if geom.get("type") == "Point" and len(geom.get("coordinates") or []) >= 2:
            x[i], y[i] = geom["coordinates"][:2]
    crs = None
    named = (data.get("crs") or {}).get("properties", {}).get("name")
    if named:  # the legacy (2008) "crs" member; RFC 7946 files are always lon/lat
        crs = _parse_crs(named, where=f"{path}: GeoJSON crs member")
    yield _Chunk(_as_strings(props), _points_from_xy(x, y, crs), 1)


def _read_arcgis(path: Path) -> Iterator[_Chunk]:
    data = _load_json(path)
    features = data.get("features", [])
    attrs = pd.DataFrame([f.get("attributes") or {} for f in features])
    if not features:  # an empty result still names its fields: keep them as the header
        fields = data.get("fields") or []
        names = [f["name"] for f in fields if isinstance(f, dict) and "name" in f]
        attrs = pd.DataFrame(columns=names, dtype="string")
    x = np.array([(f.get("geometry") or {}).get("x", np.nan) for f in features], dtype=float)
    y = np.array([(f.get("geometry") or {}).get("y", np.nan) for f in features], dtype=float)
    crs = _arcgis_crs(data.get("spatialReference") or {}, where=str(path))
    yield _Chunk(_as_strings(attrs), _points_from_xy(x, y, crs), 1)


def _read_open311_json(path: Path) -> Iterator[_Chunk]:
    data = _load_json(path)
    if data and all(isinstance(r, dict) and set(r) <= {"code", "description"} for r in data):
        msg = f"{path}: the file is an Open311 error response: {data}"
        raise InputFileError(msg)
    if not all(isinstance(r, dict) for r in data):
        msg = f"{path}: an Open311 requests.json must be a list of request objects"
        raise InputFileError(msg)
    yield _Chunk(_as_strings(_open311_frame(data)), None, 1)


def _open311_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return the requests as a frame; an empty response keeps the GeoReport v2 header."""
    if not rows:
        return pd.DataFrame(columns=list(_OPEN311_FIELDS), dtype="string")
    return pd.DataFrame(rows)


def _read_open311_xml(path: Path) -> Iterator[_Chunk]:
    try:
        with _open_binary(path) as fh:
            root = ET.parse(fh).getroot()
    except ET.ParseError as exc:
        msg = f"{path}: not well-formed XML ({exc})"
        raise InputFileError(msg) from exc
    except _READ_ERRORS as exc:
        msg = f"{path}: cannot read the file ({exc}); is it truncated?"
        raise InputFileError(msg) from exc
    if root.tag == "errors":
        detail = [e.findtext("description") for e in root]
        msg = f"{path}: the file is an Open311 error response: {detail}"
        raise InputFileError(msg)
    rows = [{child.tag: child.text for child in req} for req in root.iter("request")]
    if not rows and root.tag != "service_requests":
        msg = (
            f"{path}: XML with root <{root.tag}> and no <request> elements is not an Open311 "
            "requests.xml (an HTML error page?)"
        )
        raise InputFileError(msg)
    yield _Chunk(_as_strings(_open311_frame(rows)), None, 1)


def _chunks(
    path: Path, fmt: str, *, chunksize: int | None, encoding: str | None
) -> Iterator[_Chunk]:
    if fmt == "csv":
        return _read_csv(path, chunksize=chunksize, encoding=encoding)
    if fmt == "parquet":
        return _read_parquet(path, chunksize=chunksize)
    readers = {
        "geojson": _read_geojson,
        "arcgis-json": _read_arcgis,
        "open311-json": _read_open311_json,
        "open311-xml": _read_open311_xml,
    }
    return readers[fmt](path)


def _prepare(
    raw: pd.DataFrame,
    *,
    profile: Profile,
    name: str,
    first_row: int,
    timezone: str | None,
    points: pd.DataFrame | None,
) -> Result:
    """Normalize one chunk and check its coordinates (row-wise, no drops)."""
    norm = normalize_frame(
        raw,
        profile=profile,
        input_file=name,
        first_row=first_row,
        timezone=timezone,
        points=points,
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
    return Result(coords.frame, ledger.extend(coords.ledger))


def _check_timestamps(norm: StageLedger, *, name: str, max_bad_timestamps: float) -> None:
    """Raise TimestampError when one input has too many unparseable timestamps.

    Checked per input, so that a small file in a format the profile cannot read
    is not hidden by a large one that parses.
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


def _finish(
    parts: list[pd.DataFrame],
    ledger: Ledger,
    *,
    timezones: set[str],
    as_of: pd.Timestamp | str | None,
    placeholder_min_count: int,
    placeholder_min_share: float,
) -> Result:
    """Clean across rows and build the GeoDataFrame."""
    frame = pd.concat(parts, ignore_index=True)
    cleaned = clean_requests(
        frame,
        as_of=as_of,
        placeholder_min_count=placeholder_min_count,
        placeholder_min_share=placeholder_min_share,
    )
    out = cleaned.frame
    has_point = out["coord_quality"].isin([*COORD_USABLE, "outside_area"]).to_numpy(bool)
    xs = np.where(has_point, out["long"].to_numpy(float, na_value=np.nan), np.nan)
    ys = np.where(has_point, out["lat"].to_numpy(float, na_value=np.nan), np.nan)
    geometry = gpd.points_from_xy(xs, ys, crs="EPSG:4326")
    geometry[~has_point] = None
    gdf = gpd.GeoDataFrame(out, geometry=geometry, crs="EPSG:4326")
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
    placeholder_min_count: int = 10,
    placeholder_min_share: float = 0.002,
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
        Override the profile's IANA time zone.
    name : str
        How to name the input in ``input_file`` and in messages.
    as_of : timestamp or str, optional
        When the export was taken (default: now); see :func:`geo311.clean_requests`.
    max_bad_timestamps : float, default 0.05
        Largest share of an input's rows with an unparseable (non-empty)
        timestamp in any one timestamp column before failing; below it the
        rows are kept, flagged ``unparsed_<column>`` and counted in the ledger.
    placeholder_min_count, placeholder_min_share
        See :func:`geo311.find_placeholders`.

    Returns
    -------
    Result
        ``(requests, ledger)``: a GeoDataFrame in EPSG:4326 following
        :mod:`geo311.io.schema`, and its row ledger.

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
    profile = (
        get_profile(schema) if schema is not None else detect_profile(frame.columns, source=name)
    )
    points = None
    raw = pd.DataFrame(frame)
    if isinstance(frame, gpd.GeoDataFrame):
        x, y = _geometry_xy(frame.geometry.to_numpy(), where=name)
        if frame.crs is None and not np.isnan(x).all():
            raise _no_crs(name)
        points = _points_from_xy(x, y, frame.crs)
        raw = raw.drop(columns=[frame.geometry.name])
    ledger = Ledger(inputs=[{"path": name, "rows": len(raw), "profile": profile.name}])
    ledger.record("read", rows_in=len(raw), rows_out=len(raw))
    prepared = _prepare(
        _as_strings(raw),
        profile=profile,
        name=name,
        first_row=1,
        timezone=timezone,
        points=points,
    )
    _check_timestamps(
        prepared.ledger.stage("normalize"), name=name, max_bad_timestamps=max_bad_timestamps
    )
    return _finish(
        [prepared.frame],
        ledger.extend(prepared.ledger),
        timezones={timezone or profile.timezone},
        as_of=as_of,
        placeholder_min_count=placeholder_min_count,
        placeholder_min_share=placeholder_min_share,
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
    placeholder_min_count: int = 10,
    placeholder_min_share: float = 0.002,
) -> Result:
    """Read one or more 311 export files into canonical requests.

    Parameters
    ----------
    paths : path or sequence of paths
        Files in any format of :data:`FORMATS` (detected per file).
    schema : str, pathlib.Path or Profile, optional
        Profile for every file; detected per file from its header when omitted.
    timezone : str, optional
        Override the profile's IANA time zone.
    chunksize : int, optional
        Rows per chunk for CSV and Parquet (default 200,000).  Each chunk is
        normalized and released before the next is read.
    encoding : str, optional
        CSV text encoding; sniffed (UTF-8 with or without BOM, else cp1252).
    as_of, max_bad_timestamps, placeholder_min_count, placeholder_min_share
        As in :func:`requests_from_frame`.

    Returns
    -------
    Result
        ``(requests, ledger)`` as in :func:`requests_from_frame`; requests
        repeated across files are deduplicated by the rule of
        :func:`geo311.clean_requests`.

    Raises
    ------
    InputFileError, SchemaError, ProfileError, TimestampError, CRSError
        With the file, the problem and what to do.  ``max_bad_timestamps``
        applies to each file on its own.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        msg = "no input files given"
        raise InputFileError(msg)
    ledger = Ledger()
    parts: list[pd.DataFrame] = []
    timezones: set[str] = set()
    for item in items:
        path = Path(item)
        fmt = sniff_format(path)
        profile = get_profile(schema) if schema is not None else None
        rows = 0
        file_ledger = Ledger()
        for chunk in _chunks(path, fmt, chunksize=chunksize, encoding=encoding):
            if profile is None:
                profile = detect_profile(chunk.raw.columns, source=str(path))
            prepared = _prepare(
                chunk.raw,
                profile=profile,
                name=str(path),
                first_row=chunk.first_row,
                timezone=timezone,
                points=chunk.points,
            )
            parts.append(prepared.frame)
            file_ledger = file_ledger.extend(prepared.ledger)
            rows += len(chunk.raw)
        if profile is None:
            msg = f"{path}: no rows and no header could be read"
            raise InputFileError(msg)
        _check_timestamps(
            file_ledger.stage("normalize"), name=str(path), max_bad_timestamps=max_bad_timestamps
        )
        ledger = ledger.extend(file_ledger)
        timezones.add(timezone or profile.timezone)
        ledger.inputs.append(
            {"path": str(path), "format": fmt, "rows": rows, "profile": profile.name}
        )
        log.info("read %s rows from %s (%s, profile %s)", f"{rows:,}", path, fmt, profile.name)
    total = sum(i["rows"] for i in ledger.inputs)
    read = Ledger(inputs=ledger.inputs)
    read.record("read", rows_in=total, rows_out=total)
    return _finish(
        parts,
        Ledger(stages=[*read.stages, *ledger.stages], inputs=ledger.inputs),
        timezones=timezones,
        as_of=as_of,
        placeholder_min_count=placeholder_min_count,
        placeholder_min_share=placeholder_min_share,
    )

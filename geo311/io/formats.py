"""Turn each input format into raw frames of source columns (plus points where it has them).

One reader per format of :data:`geo311.io.sniff.FORMATS`; each yields
:class:`Chunk` objects -- the source columns as strings, the file's own point
geometry in EPSG:4326 when the format carries one, and the 1-based number of
the chunk's first row -- that :mod:`geo311.io.readers` maps onto the canonical
schema.  Geometry without a CRS raises :class:`geo311._errors.CRSError`.
"""

from __future__ import annotations

import codecs
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError

from geo311._errors import CRSError, InputFileError
from geo311.allocation import collector_paused
from geo311.io.sniff import READ_ERRORS, load_json, open_binary, sniff_delimiter, sniff_encoding

__all__ = [
    "ARROW_STRINGS",
    "CHUNKED",
    "Chunk",
    "as_strings",
    "geometry_xy",
    "no_crs",
    "points_from_xy",
    "read_chunks",
]

log = logging.getLogger(__name__)

#: Formats read in chunks of ``chunksize`` rows; the others are read whole.
CHUNKED = frozenset({"csv", "parquet"})

#: Fields of an Open311 GeoReport v2 request, the header of an empty response.
_OPEN311_FIELDS = (
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
    "lat", "long", "media_url",
)  # fmt: skip


@dataclass
class Chunk:
    """Source columns of some rows (strings), their points if the format has them.

    ``header`` is the file's whole header when only some of its columns were read.
    """

    raw: pd.DataFrame
    points: pd.DataFrame | None
    first_row: int
    header: list[str] | None = None


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
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


def geometry_xy(geoms: np.ndarray, *, where: str) -> tuple[np.ndarray, np.ndarray]:
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


def no_crs(where: str) -> CRSError:
    """Return the error for point geometries without a CRS, naming where they came from."""
    msg = (
        f"{where} has point geometries but no CRS, so they cannot be put in EPSG:4326. "
        "Set the CRS the coordinates are in (e.g. gdf.set_crs('EPSG:2248')) and try again."
    )
    return CRSError(msg)


def points_from_xy(x: np.ndarray, y: np.ndarray, crs: CRS | None) -> pd.DataFrame:
    """Return ``lat``/``long`` in EPSG:4326 from x/y in ``crs`` (None: already degrees)."""
    if crs is not None and not crs.equals(CRS.from_epsg(4326)):
        ok = ~(np.isnan(x) | np.isnan(y))
        lon = np.full(len(x), np.nan)
        lat = np.full(len(x), np.nan)
        lon[ok], lat[ok] = Transformer.from_crs(crs, 4326, always_xy=True).transform(x[ok], y[ok])
        return pd.DataFrame({"lat": lat, "long": lon})
    return pd.DataFrame({"lat": y, "long": x})


#: File name endings pandas reads as compressed; Arrow reads only gzip here.
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar", ".tgz")
#: Bytes Arrow parses at once (per thread) when reading a CSV.  Its streaming reader
#: reads ~40 blocks ahead: 4 MiB blocks hold ~150 MiB in flight (16 MiB held ~600 MiB)
#: and read a 1M-row export as fast (0.7 s against 1.2 s).  A row longer than a block
#: makes Arrow stop there, and pandas reads on from that row.
_ARROW_BLOCK = 1 << 22

Select = Callable[[list[str]], list[str]]
#: The dtype of every column of the chunks the Arrow CSV reader yields.
ARROW_STRINGS = pd.StringDtype("pyarrow")


def _pandas_only_bytes(path: Path) -> bool:
    """Return True when the file holds bytes that pandas' tokenizer reads its own way.

    Those are a carriage return not followed by a line feed (pandas reads
    lines ended by a lone CR in ways of its own: a header re-read as data,
    fields shifted after LF CR) and a NUL byte (pandas ends a field there;
    Arrow keeps it).  Such files are left to pandas.  One pass over the bytes.
    """
    previous = b""
    with open_binary(path) as fh:
        while block := fh.read(_ARROW_BLOCK):
            if b"\x00" in block:
                return True
            if previous == b"\r" and not block.startswith(b"\n"):
                return True
            if b"\r" in block and block.count(b"\r") != block.count(b"\r\n") + block.endswith(
                b"\r"
            ):
                return True
            previous = block[-1:]
    return previous == b"\r"


def _arrow_may_read(path: Path, *, header: list[str], encoding: str) -> bool:
    """Return False for a CSV file Arrow would read otherwise than pandas (see _arrow_chunks)."""
    name = path.name.lower()
    gzip = path.name.endswith(".gz")
    if encoding not in ("utf-8", "utf-8-sig") or (name.endswith(_COMPRESSED) and not gzip):
        return False
    if len(header) < 2:  # pandas skips whitespace-only lines of a single column as blank
        return False
    with open_binary(path) as fh:
        first = fh.readline(1 << 20).removeprefix(codecs.BOM_UTF8)
    if not first.strip(b"\r\n") or b"\x00" in first or first.count(b'"') % 2:
        return False
    return not _pandas_only_bytes(path)


def _arrow_chunks(
    path: Path, *, header: list[str], columns: list[str], encoding: str, sep: str, size: int
) -> Generator[Chunk, None, int]:
    """Yield the CSV's data rows in chunks of ``size`` rows of Arrow strings, read as pandas would.

    The file is read block by block (4 MiB), so memory holds about one
    chunk whatever the file's size.  Only the ``columns`` wanted are
    converted.  Arrow stops where it would read otherwise than pandas: a
    file in another encoding than UTF-8 or another compression than gzip, a
    single column, a header that spans lines or follows a blank line, a
    carriage return not followed by a line feed or a NUL byte anywhere (all
    checked before reading), or, found on the way, a row that Arrow refuses
    (a field count other than the header's, ...).  Column names are pandas'
    own (duplicates numbered, empty ones ``Unnamed: i``).

    Returns
    -------
    int
        0 when every row was read; else the number (1-based, data rows) of the
        first row not yielded, from which pandas reads on.
    """
    import pyarrow as pa  # noqa: PLC0415 - a core dep; keep import cost local
    from pyarrow import csv as pacsv  # noqa: PLC0415

    if not _arrow_may_read(path, header=header, encoding=encoding):
        return 1
    first = 1  # the next data row to yield
    pending: list[Any] = []  # record batches read, not yet yielded
    held = 0
    gzip = path.name.endswith(".gz")
    with pa.input_stream(str(path), compression="gzip" if gzip else None) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=header, skip_rows=1, block_size=_ARROW_BLOCK
                ),
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string()),
                    include_columns=columns,
                    strings_can_be_null=False,
                ),
            )
            for batch in reader:
                pending.append(batch)
                held += batch.num_rows
                while held >= size:
                    table = pa.Table.from_batches(pending)
                    yield Chunk(
                        table.slice(0, size).to_pandas(types_mapper=lambda _: ARROW_STRINGS),
                        None,
                        first,
                        header,
                    )
                    rest = table.slice(size)
                    pending, held, first = rest.to_batches(), held - size, first + size
        except pa.ArrowInvalid as exc:
            log.debug("%s: rows from %d read with pandas, not Arrow (%s)", path, first, exc)
            return first
    if held or first == 1:  # the last rows; or a header and no rows: still yield the header
        table = pa.Table.from_batches(pending, schema=reader.schema)
        yield Chunk(table.to_pandas(types_mapper=lambda _: ARROW_STRINGS), None, first, header)
    return 0


def _read_csv(
    path: Path, *, chunksize: int | None, encoding: str | None, select: Select | None
) -> Iterator[Chunk]:
    enc = sniff_encoding(path, declared=encoding)
    size = chunksize or 200_000
    try:
        sep = sniff_delimiter(path, enc)
        if sep != ",":
            log.info("%s: the header is delimited by %r, reading it so", path, sep)
        options: dict[str, Any] = {"dtype": str, "encoding": enc, "sep": sep}
        header = [str(c) for c in pd.read_csv(path, nrows=0, **options).columns]
        columns = select(header) if select is not None else header
        first = yield from _arrow_chunks(
            path, header=header, columns=columns, encoding=enc, sep=sep, size=size
        )
        if not first:
            return
        if first > 1:  # Arrow read the rows before: pandas skips them (records, not lines)
            options["skiprows"] = range(1, first)
        reader = pd.read_csv(
            path, keep_default_na=False, chunksize=size, compression="infer", **options
        )
        with reader:
            for chunk in reader:
                yield Chunk(chunk[columns], None, first, header)
                first += len(chunk)
        if first == 1:  # a header and no rows: still yield the header
            yield Chunk(pd.read_csv(path, nrows=0, **options)[columns], None, 1, header)
    except pd.errors.EmptyDataError as exc:
        msg = f"{path}: no header row (the file is empty)"
        raise InputFileError(msg) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, LookupError) as exc:
        msg = f"{path}: cannot be read as CSV in encoding {enc}: {exc}"
        raise InputFileError(msg) from exc
    except InputFileError:
        raise
    except READ_ERRORS as exc:
        msg = f"{path}: cannot read the file ({exc}); is it truncated?"
        raise InputFileError(msg) from exc


def _geo_metadata(meta: dict[bytes, bytes], *, where: str) -> tuple[str | None, dict[str, Any]]:
    """Return the primary geometry column of GeoParquet ``geo`` metadata and its entry."""
    if b"geo" not in meta:
        return None, {}
    problem = None
    try:
        geo = json.loads(meta[b"geo"])
        column = geo.get("primary_column")
        entry = geo["columns"][column] if column else {}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        problem = repr(exc)
    else:
        if not isinstance(entry, dict):
            problem = f"column entry {entry!r} is not an object"
    if problem is not None:
        msg = (
            f"{where}: the GeoParquet 'geo' metadata is malformed ({problem}); write the file "
            "again with geopandas or pyarrow"
        )
        raise InputFileError(msg)
    return column, entry


def _read_parquet(path: Path, *, chunksize: int | None) -> Iterator[Chunk]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - pyarrow is a core dep; keep import cost local

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        msg = f"{path}: not a readable Parquet file ({exc})"
        raise InputFileError(msg) from exc
    geom_col, column_meta = _geo_metadata(pf.schema_arrow.metadata or {}, where=str(path))
    crs = None
    encoding = "WKB"
    where = f"{path} (GeoParquet column {geom_col!r})"
    if geom_col:
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

                with collector_paused():  # a Shapely geometry per row
                    geoms = shapely.from_wkb(column.to_numpy(zero_copy_only=False))
                x, y = geometry_xy(geoms, where=where)
            if crs is None and not np.isnan(x).all():
                raise no_crs(where)
            points = points_from_xy(x, y, crs)
        yield Chunk(as_strings(frame), points, first)
        first += len(frame)


def _objects(items: Any, member: str, *, where: str) -> list[dict[str, Any]]:
    """Return ``items[i][member]`` of a list of JSON objects (None -> {}), or raise naming i."""
    if not isinstance(items, list):
        msg = f"{where}: 'features' must be a list of objects, got {type(items).__name__}"
        raise InputFileError(msg)
    out = []
    for i, item in enumerate(items):
        value = item.get(member) if isinstance(item, dict) else item
        if not isinstance(item, dict) or not isinstance(value, dict | None):
            msg = (
                f"{where}: feature {i} is not an object with an object {member!r} "
                f"({str(item)[:60]}); the file is not a valid export"
            )
            raise InputFileError(msg)
        out.append(value or {})
    return out


def _number(value: Any) -> float:
    """Return a JSON coordinate as a float; NaN (missing) when it is not a finite number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if np.isfinite(value) else np.nan
    return np.nan


def _read_geojson(path: Path) -> Iterator[Chunk]:
    data = load_json(path)
    features = data.get("features", []) if isinstance(data, dict) else []
    props = pd.DataFrame(_objects(features, "properties", where=str(path)))
    geoms = _objects(features, "geometry", where=str(path))
    x = np.full(len(features), np.nan)
    y = np.full(len(features), np.nan)
    for i, geom in enumerate(geoms):
        coords = geom.get("coordinates")
        if geom.get("type") == "Point" and isinstance(coords, list) and len(coords) >= 2:
            x[i], y[i] = _number(coords[0]), _number(coords[1])
    crs = None
    member = data.get("crs")
    named = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    if named:  # the legacy (2008) "crs" member; RFC 7946 files are always lon/lat
        crs = _parse_crs(named, where=f"{path}: GeoJSON crs member")
    yield Chunk(as_strings(props), points_from_xy(x, y, crs), 1)


def _read_arcgis(path: Path) -> Iterator[Chunk]:
    data = load_json(path)
    features = data.get("features", [])
    attrs = pd.DataFrame(_objects(features, "attributes", where=str(path)))
    if not features:  # an empty result still names its fields: keep them as the header
        fields = data.get("fields") or []
        names = [
            f["name"] for f in fields if isinstance(f, dict) and isinstance(f.get("name"), str)
        ]
        if len(set(names)) < len(names):
            msg = f"{path}: the FeatureSet's fields repeat a name ({names}); query the layer again"
            raise InputFileError(msg)
        attrs = pd.DataFrame(columns=names, dtype="string")
    geoms = _objects(features, "geometry", where=str(path))
    x = np.array([_number(g.get("x")) for g in geoms], dtype=float)
    y = np.array([_number(g.get("y")) for g in geoms], dtype=float)
    sr = data.get("spatialReference") or {}
    if not isinstance(sr, dict):
        msg = f"{path}: spatialReference must be an object, got {sr!r}"
        raise InputFileError(msg)
    crs = _arcgis_crs(sr, where=str(path))
    yield Chunk(as_strings(attrs), points_from_xy(x, y, crs), 1)


def _read_open311_json(path: Path) -> Iterator[Chunk]:
    data = load_json(path)
    if data and all(isinstance(r, dict) and set(r) <= {"code", "description"} for r in data):
        msg = f"{path}: the file is an Open311 error response: {data}"
        raise InputFileError(msg)
    if not all(isinstance(r, dict) for r in data):
        msg = f"{path}: an Open311 requests.json must be a list of request objects"
        raise InputFileError(msg)
    yield Chunk(as_strings(_open311_frame(data)), None, 1)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """Return a request with its object members flattened one level (``member.key``).

    ``extended_attributes`` (an object of city-specific fields) becomes
    ``extended_attributes.<key>`` source columns, each kept as a raw column;
    lists (``notes`` events) stay whole and are stored as JSON text.
    """
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _open311_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Return the requests as a frame; an empty response keeps the GeoReport v2 header."""
    if not rows:
        return pd.DataFrame(columns=list(_OPEN311_FIELDS), dtype="string")
    return pd.DataFrame([_flat(r) for r in rows])


def _xml_value(element: ET.Element) -> Any:
    """Return an XML request member: its text, an object of its children, or a list of them.

    ``<notes><note><datetime>..</datetime>..</note>..</notes>`` (children that
    have children of their own) is a list of objects, like the JSON ``notes``;
    ``<extended_attributes><x>..</x></extended_attributes>`` is an object.
    """
    children = list(element)
    if not children:
        return element.text
    if all(len(child) for child in children):
        return [{g.tag: g.text for g in child} for child in children]
    return {child.tag: child.text for child in children}


def _read_open311_xml(path: Path) -> Iterator[Chunk]:
    try:
        with open_binary(path) as fh:
            root = ET.parse(fh).getroot()
    except ET.ParseError as exc:
        msg = f"{path}: not well-formed XML ({exc})"
        raise InputFileError(msg) from exc
    except READ_ERRORS as exc:
        msg = f"{path}: cannot read the file ({exc}); is it truncated?"
        raise InputFileError(msg) from exc
    if root.tag == "errors":
        detail = [e.findtext("description") for e in root]
        msg = f"{path}: the file is an Open311 error response: {detail}"
        raise InputFileError(msg)
    rows = [{child.tag: _xml_value(child) for child in req} for req in root.iter("request")]
    if not rows and root.tag != "service_requests":
        msg = (
            f"{path}: XML with root <{root.tag}> and no <request> elements is not an Open311 "
            "requests.xml (an HTML error page?)"
        )
        raise InputFileError(msg)
    yield Chunk(as_strings(_open311_frame(rows)), None, 1)


def read_chunks(
    path: Path,
    fmt: str,
    *,
    chunksize: int | None,
    encoding: str | None,
    select: Select | None = None,
) -> Iterator[Chunk]:
    """Return the chunks of one file of format ``fmt`` (a key of :data:`~geo311.io.sniff.FORMATS`).

    Parameters
    ----------
    path : pathlib.Path
    fmt : str
        As returned by :func:`~geo311.io.sniff.sniff_format`.
    chunksize : int, optional
        Rows per chunk for CSV and Parquet (default 200,000); other formats
        are read whole.
    encoding : str, optional
        Declared CSV encoding; sniffed when omitted.
    select : callable, optional
        Given a CSV's header, the columns to read (in header order); other
        formats are read whole.  CSV values come as Arrow-backed strings when
        Arrow reads the file as pandas would, else as Python strings.

    Returns
    -------
    iterator of Chunk
    """
    if fmt not in CHUNKED:
        readers = {
            "geojson": _read_geojson,
            "arcgis-json": _read_arcgis,
            "open311-json": _read_open311_json,
            "open311-xml": _read_open311_xml,
        }
        return readers[fmt](path)
    if fmt == "csv":
        return _read_csv(path, chunksize=chunksize, encoding=encoding, select=select)
    return _read_parquet(path, chunksize=chunksize)

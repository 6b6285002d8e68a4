"""Check an input path and find out what it holds: format, text encoding, CSV delimiter.

Nothing here guesses silently.  A path that is not a regular file is refused
with what it is instead; a text file is decoded strictly in one encoding for
the whole file (never value by value); a CSV whose data rows are split by a
different delimiter than its header is refused.

Encoding rule (when none is declared): a file that decodes as UTF-8 (with or
without a BOM) is UTF-8.  Otherwise, if it holds no valid UTF-8 multi-byte
character at all, it is a single-byte Windows export and the whole file is
read as cp1252, with a WARNING naming the file and the first non-UTF-8 byte.
A file that mixes valid UTF-8 with bytes that are not UTF-8 is refused,
naming the line and byte offset of the first bad byte: reading it either way
would garble some of its values.  A declared encoding is checked over the
whole file the same way.
"""

from __future__ import annotations

import codecs
import csv
import errno
import gzip
import io
import json
import logging
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from geo311._errors import InputFileError, OptionError

__all__ = [
    "FORMATS",
    "READ_ERRORS",
    "check_path",
    "load_json",
    "open_binary",
    "sniff_delimiter",
    "sniff_encoding",
    "sniff_format",
]

log = logging.getLogger(__name__)

#: Input formats and what they are.
FORMATS: Final = {
    "csv": "CSV, plain or .gz (UTF-8, UTF-8 with BOM, or cp1252; , ; TAB or | delimited)",
    "parquet": "Parquet or GeoParquet",
    "geojson": "GeoJSON FeatureCollection of points",
    "open311-json": "Open311 GeoReport v2 requests.json",
    "open311-xml": "Open311 GeoReport v2 requests.xml",
    "arcgis-json": "ArcGIS FeatureSet JSON (FeatureServer/MapServer query, f=json)",
}
#: Read errors of a damaged file (truncated or corrupt gzip: EOFError, BadGzipFile).
READ_ERRORS: Final = (OSError, EOFError)
_BLOCK: Final = 1 << 20
#: Delimiters tried, in order, on the header line of a CSV file.
_DELIMITERS: Final = (",", ";", "\t", "|")
#: Data records compared with the header to catch a delimiter mismatch.
_DELIMITER_SAMPLE: Final = 1000


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing ``.gz``."""
    if path.name.lower().endswith(".gz"):
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def check_path(path: Path) -> None:
    """Raise InputFileError unless ``path`` is a non-empty regular file.

    Parameters
    ----------
    path : pathlib.Path

    Raises
    ------
    InputFileError
        For a missing file, a dangling symlink, a symlink loop, a directory,
        a FIFO, socket or device, and an empty file -- each said as such.
    """
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        if path.is_symlink():
            msg = f"{path} is a symlink to {path.readlink()}, which does not exist"
        else:
            msg = f"{path}: no such file"
        raise InputFileError(msg) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            msg = f"{path} is a symlink loop (it points back to itself); link the real file"
        else:
            msg = f"{path}: cannot access the file ({exc.strerror})"
        raise InputFileError(msg) from exc
    if stat.S_ISDIR(info.st_mode):
        msg = (
            f"{path} is a directory; pass the export file(s) inside it (a dataset kept by "
            "geo311 ingest --chunk-rows or --keep-requests is passed alone)"
        )
        raise InputFileError(msg)
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a socket or device"
        msg = f"{path} is not a regular file but {kind}; save the export to a file and pass that"
        raise InputFileError(msg)
    if info.st_size == 0:
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
        If the file is missing, empty, not a regular file, or of no supported format.
    """
    path = Path(path)
    check_path(path)
    name = path.name.lower().removesuffix(".gz")
    try:
        with open_binary(path) as fh:
            head = fh.read(4096)
    except READ_ERRORS as exc:
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


def load_json(path: Path) -> Any:
    """Parse a JSON file; raise InputFileError saying why it cannot be read."""
    try:
        with open_binary(path) as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid JSON ({exc})"
        raise InputFileError(msg) from exc
    except READ_ERRORS as exc:
        msg = f"{path}: cannot read the file ({exc}); is it truncated?"
        raise InputFileError(msg) from exc


def _sniff_json(path: Path) -> str:
    data = load_json(path)
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


@dataclass(frozen=True)
class _BadByte:
    """Where strict decoding first failed."""

    offset: int  # from the start of the (decompressed) text
    line: int  # 1-based
    byte: int


#: Encodings in which every ASCII byte is the ASCII character, whatever came before.
_ASCII_SUPERSETS = frozenset({"utf-8", "utf-8-sig", "cp1252"})


def _line_at(path: Path, offset: int) -> int:
    """Return the 1-based line of the byte at ``offset`` (newlines before it, plus one)."""
    lines = 1
    with open_binary(path) as fh:
        while offset > 0:
            block = fh.read(min(_BLOCK, offset))
            if not block:
                break
            lines += block.count(b"\n")
            offset -= len(block)
    return lines


def _first_bad_byte(path: Path, encoding: str) -> _BadByte | None:
    """Decode the whole file strictly in blocks; return the first undecodable byte, if any.

    Lines are counted only once a bad byte is found (counting them in every
    block would double the time of a file that decodes).
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0  # bytes handed to the decoder so far
    try:
        with open_binary(path) as fh:
            while True:
                block = fh.read(_BLOCK)
                final = not block
                state = decoder.getstate()
                pending = state[0]
                # ASCII decodes as itself: nothing to check once no bytes are pending
                # (and a utf-8-sig decoder has seen where a BOM could be)
                idle = state == (b"", 0)
                if block and idle and block.isascii() and encoding in _ASCII_SUPERSETS:
                    offset += len(block)
                    continue
                try:
                    decoder.decode(block, final=final)
                except UnicodeDecodeError as exc:
                    data = pending + block
                    bad = offset - len(pending) + exc.start
                    return _BadByte(offset=bad, line=_line_at(path, bad), byte=data[exc.start])
                if final:
                    return None
                offset += len(block)
    except READ_ERRORS as exc:
        msg = f"{path}: cannot read the file ({exc}); is it truncated?"
        raise InputFileError(msg) from exc


def _has_utf8_characters(path: Path) -> bool:
    """Return True if the file holds at least one valid UTF-8 multi-byte character."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with open_binary(path) as fh:
        while block := fh.read(_BLOCK):
            text = decoder.decode(block)
            if re.search("[^\x00-\x7f\ufffd]", text):
                return True
    return bool(re.search("[^\x00-\x7f\ufffd]", decoder.decode(b"", final=True)))


def sniff_encoding(path: Path, *, declared: str | None = None) -> str:
    """Return the text encoding to read the whole of ``path`` with (see the module rule).

    Parameters
    ----------
    path : pathlib.Path
        A text file (``.gz`` is decompressed).
    declared : str, optional
        The encoding the user named; checked, not guessed.

    Returns
    -------
    str
        ``declared``, ``"utf-8-sig"`` or ``"cp1252"``.

    Raises
    ------
    OptionError
        If ``declared`` is not an encoding Python knows.
    InputFileError
        If the file does not decode in ``declared``, mixes UTF-8 with other
        bytes, or is neither UTF-8 nor cp1252; the message names the line and
        byte offset of the first bad byte.
    """
    if declared is not None:
        try:
            codecs.lookup(declared)
        except LookupError as exc:
            msg = f"--encoding {declared!r} is not a known text encoding; e.g. utf-8 or cp1252"
            raise OptionError(msg) from exc
        bad = _first_bad_byte(path, declared)
        if bad is not None:
            msg = (
                f"{path}: line {bad.line}, byte offset {bad.offset}: byte 0x{bad.byte:02X} does "
                f"not decode in encoding {declared}; fix that byte or pass the file's real "
                "--encoding"
            )
            raise InputFileError(msg)
        return declared
    bad = _first_bad_byte(path, "utf-8-sig")
    if bad is None:
        return "utf-8-sig"
    where = f"line {bad.line}, byte offset {bad.offset}: byte 0x{bad.byte:02X}"
    if _has_utf8_characters(path):
        msg = (
            f"{path}: {where} is not UTF-8, though the rest of the file is UTF-8 (a character "
            "pasted from another encoding?); fix that byte, or pass --encoding cp1252 to read "
            "the whole file as cp1252"
        )
        raise InputFileError(msg)
    if _first_bad_byte(path, "cp1252") is not None:
        msg = (
            f"{path}: the text is neither UTF-8 nor cp1252 (Windows-1252) ({where}); re-export "
            "it as UTF-8 or pass the right --encoding"
        )
        raise InputFileError(msg)
    log.warning(
        "%s is not UTF-8 (%s); reading the whole file as cp1252 (Windows-1252). "
        "Pass --encoding to choose another encoding.",
        path,
        where,
    )
    return "cp1252"


def _unquoted(line: str) -> str:
    return re.sub(r'"[^"]*"', "", line)


def sniff_delimiter(path: Path, encoding: str) -> str:
    """Return the delimiter of a CSV file, checked against its first data rows.

    The delimiter is the most frequent of ``, ; TAB |`` outside quotes in the
    header line (ties go to the earlier one; a header without any of them is
    one column, read as comma-separated).  The first 1,000 data records are
    then read with it: a record whose field count differs from the header's
    while another delimiter splits it into exactly the header's fields means
    the header and the data disagree.

    Parameters
    ----------
    path : pathlib.Path
    encoding : str
        As returned by :func:`sniff_encoding`.

    Returns
    -------
    str

    Raises
    ------
    InputFileError
        Naming both delimiters and the first data row that uses the other one.
    """
    with open_binary(path) as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        header = text.readline()
        counts = [_unquoted(header).count(d) for d in _DELIMITERS]
        sep = _DELIMITERS[counts.index(max(counts))] if max(counts) else ","
        reader = csv.reader(text, delimiter=sep)
        try:
            fields = len(next(csv.reader([header], delimiter=sep), []))
            if fields >= 2:
                _compare_rows(reader, path=path, sep=sep, fields=fields)
        except csv.Error as exc:  # pandas reads (or refuses) such files with its own rules
            log.debug("%s: delimiter check stopped at line %d (%s)", path, reader.line_num, exc)
    return sep


def _compare_rows(reader: Any, *, path: Path, sep: str, fields: int) -> None:
    """Raise InputFileError at the first sampled record another delimiter fits better."""
    for row_number, record in enumerate(reader, start=1):
        if row_number > _DELIMITER_SAMPLE:
            return
        line = sep.join(record)
        if len(record) in (0, fields) or "\n" in line or "\r" in line:
            continue
        for other in _DELIMITERS:
            if other != sep and len(next(csv.reader([line], delimiter=other))) == fields:
                msg = (
                    f"{path}: the header is separated by {sep!r} but data row "
                    f"{row_number} (line {reader.line_num + 1}) by {other!r}; re-export the "
                    "file with one delimiter, or fix its header line"
                )
                raise InputFileError(msg)

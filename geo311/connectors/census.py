"""Download US Census Bureau data: ACS 5-year tract tables and TIGER/Line tract shapes.

:func:`fetch_acs` asks the Census Data API (``/data/<year>/acs/acs5``) for the
estimates and margins of error of whole ACS tables, one request per table,
for every tract of a county, and writes ONE CSV that
:func:`geo311.population.tracts.read_tract_table` reads with the MOEs paired:

* ``geoid`` -- state + county + tract FIPS, 11 characters, leading zeros kept;
* ``NAME`` -- the Census tract label (a text column, ignored by the reader);
* ``<VAR>E`` / ``<VAR>M`` -- estimate and margin of error of each variable,
  e.g. ``B19013_001E`` and ``B19013_001M``, with the Census special values
  (``-666666666`` "not computed", ``-555555555`` "controlled" ...) kept as
  the API sent them, so the reader turns them into missing values (or an MOE
  of 0);
* friendly aliases (``population``, ``median_hh_income`` ...; see
  :data:`ACS_ALIASES`), each a copy of its variable's estimate with the MOE
  in ``<alias>_moe``, when the variable was fetched.

:func:`fetch_tiger_tracts` downloads ``tl_<year>_<state>_tract.zip`` and
unpacks it safely (:func:`safe_extract_zip`: no absolute paths, no ``..``,
no symlinks, bounded size) into a folder that appears only once complete.

The Census Data API has no count query and answers a whole county in one
response per table, so there is no paging to check against a total; each
answer is checked instead (a header row with the state, county and tract
columns, every row as wide as the header, 11-digit GEOIDs), and an answer cut
short mid-JSON is asked for again like a dropped connection.

Both write a ``.provenance.json`` sidecar (:func:`geo311.connectors._client.write_provenance`);
an API key read from the environment is sent but written nowhere: not in the
sidecar, the logs or error messages.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import shutil
import stat
import struct
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import IO, Any

from geo311._errors import FetchError, OptionError, OutputExistsError
from geo311.connectors import _paging
from geo311.connectors._client import (
    CutShortError,
    HttpClient,
    decode_json,
    sha256_file,
    write_provenance,
)
from geo311.io.atomic import atomic_write

__all__ = [
    "ACS_ALIASES",
    "ACS_DEFAULT_TABLES",
    "fetch_acs",
    "fetch_tiger_tracts",
    "safe_extract_zip",
]

log = logging.getLogger(__name__)

#: The ACS tables fetched by default: total population, median household
#: income, race, Hispanic origin by race, and poverty status.
ACS_DEFAULT_TABLES: tuple[str, ...] = ("B01003", "B19013", "B02001", "B03002", "B17001")

#: Friendly column name -> ACS variable it copies (estimate; its MOE goes to
#: ``<alias>_moe``).  ``population`` and ``median_hh_income`` are the names
#: :func:`geo311.population.layer.layer_population` looks for.
ACS_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "population": "B01003_001",  # total population
        "median_hh_income": "B19013_001",  # median household income, inflation-adjusted $
        "race_total": "B02001_001",
        "white_alone": "B02001_002",
        "black_alone": "B02001_003",
        "asian_alone": "B02001_005",
        "hispanic": "B03002_012",  # Hispanic or Latino, any race
        "nh_white": "B03002_003",  # not Hispanic, white alone
        "nh_black": "B03002_004",  # not Hispanic, Black alone
        "poverty_universe": "B17001_001",  # persons for whom poverty status is determined
        "below_poverty": "B17001_002",  # income in the past 12 months below poverty level
    }
)

#: First ACS 5-year release served by the API (2005-2009).
_FIRST_ACS5_YEAR = 2009
#: The API answers at most 50 variables per request; E and M count separately.
_MAX_GET = 48
_TABLE = re.compile(r"^[BC]\d{5}[A-Z]{0,3}$")
_VARIABLE = re.compile(r"^(?P<code>[BC]\d{5}[A-Z]{0,3}_\d{3})(?P<kind>[EM])?$")
_VALUE_COLUMN = re.compile(r"^[BC]\d{5}[A-Z]{0,3}_\d{3}[EM]$")
_GEOGRAPHY = ("state", "county", "tract")
#: Most members a TIGER ZIP may hold (a tract ZIP has seven).
_MAX_MEMBERS = 1000
_SYMLINK = stat.S_IFLNK


# -- ACS -----------------------------------------------------------------------------------------


def _fips(value: str | int, *, digits: int, name: str) -> str:
    text = str(value).strip()
    if text.isdigit() and len(text) <= digits:
        return text.zfill(digits)
    msg = f"{name} must be a {digits}-digit FIPS code (e.g. {'24' if digits == 2 else '510'}), "
    msg += f"got {value!r}"
    raise OptionError(msg)


def _variable_codes(variables: Sequence[str]) -> list[str]:
    """Return ACS variable codes without their E/M suffix, in order, without repeats."""
    codes: dict[str, None] = {}
    for variable in variables:
        match = _VARIABLE.match(str(variable).strip().upper())
        if match is None:
            msg = f"{variable!r} is not an ACS variable code such as 'B19013_001' or 'B19013_001E'"
            raise OptionError(msg)
        codes[match.group("code")] = None
    return list(codes)


def _requests(tables: Sequence[str], codes: Sequence[str]) -> list[str]:
    """Return the ``get`` parameter of each request: one per table, then variable chunks."""
    gets = [f"NAME,group({table})" for table in tables]
    columns = [f"{code}{kind}" for code in codes for kind in "EM"]
    gets += [
        "NAME," + ",".join(columns[i : i + _MAX_GET]) for i in range(0, len(columns), _MAX_GET)
    ]
    return gets


def _acs_rows(data: Any, *, url: str, get: str) -> list[list[Any]]:
    """Check one API answer (header row + data rows) and return it."""
    if (
        not isinstance(data, list)
        or not data
        or not all(isinstance(row, list) for row in data)
        or not all(isinstance(name, str) for name in data[0])
    ):
        msg = (
            f"GET {url} (get={get}) did not return the Census API's JSON array of rows "
            f"(got {type(data).__name__}); check base_url points at https://api.census.gov/data"
        )
        raise FetchError(msg)
    header = data[0]
    missing = [g for g in _GEOGRAPHY if g not in header]
    if missing:
        msg = f"GET {url} (get={get}): the answer has no {missing} column(s); columns: {header}"
        raise FetchError(msg)
    width = len(header)
    short = [i for i, row in enumerate(data[1:], start=1) if len(row) != width]
    if short:
        msg = f"GET {url} (get={get}): rows {short[:5]} do not have {width} values"
        raise FetchError(msg)
    return data


def _census_get(http: HttpClient, url: str, params: Mapping[str, Any], *, get: str) -> Any:
    """GET one Census API query and decode it, with errors phrased for the Census API."""
    try:
        return http.get_json(url, params=params, cache=False, decode=_census_decode)
    except FetchError as exc:
        text = str(exc)
        if " 400 " in text or " 404 " in text:
            text += (
                f". The Census API rejected get={get}: check the table/variable codes exist "
                "in this ACS year, the year (5-year data from 2009) and the state/county FIPS"
            )
        elif " 401 " in text or " 403 " in text:
            text += ". Check the Census API key (a new key must be activated by e-mail first)"
        raise FetchError(text) from None


def _census_decode(body: bytes, *, url: str, content_type: str = "") -> Any:
    """Decode a Census API answer; its error answers (empty, plain text, HTML) explained.

    A body cut short raises :class:`CutShortError` from :func:`decode_json`, so
    the client asks again.  The content type is not consulted: the body decides.
    """
    del content_type
    if not body.strip():
        # The API answers 204 No Content when the geography has no rows.
        msg = (
            f"GET {url} returned no data: check the state and county FIPS codes "
            "and that the year has tract-level ACS 5-year estimates"
        )
        raise FetchError(msg)
    if body.lstrip()[:1] not in (b"[", b"{", b"<"):
        text = body[:200].decode("utf-8", "replace").strip()
        msg = f"GET {url} returned an error instead of JSON: {text!r}"
        if "key" in text.lower():
            msg += "; check the Census API key in the environment variable"
        raise FetchError(msg)
    try:
        return decode_json(body, url=url)
    except CutShortError:
        raise
    except FetchError as exc:
        msg = f"{exc}; for the Census API an HTML page often means an invalid key"
        raise FetchError(msg) from None


def _merge(pages: Sequence[list[list[Any]]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Merge answers by GEOID; return rows and the value columns in first-seen order."""
    rows: dict[str, dict[str, Any]] = {}
    codes: dict[str, None] = {}
    for page in pages:
        header, body = page[0], page[1:]
        index = {name: i for i, name in enumerate(header)}
        value_columns = [c for c in header if _VALUE_COLUMN.match(c)]
        codes.update(dict.fromkeys(c[:-1] for c in value_columns))
        for record in body:
            geoid = "".join(str(record[index[g]]).strip() for g in _GEOGRAPHY)
            row = rows.setdefault(geoid, {})
            if "NAME" in index and record[index["NAME"]] is not None:
                row.setdefault("NAME", record[index["NAME"]])
            for column in value_columns:
                row[column] = record[index[column]]
    bad = [g for g in rows if not re.fullmatch(r"\d{11}", g)]
    if bad:
        msg = f"the Census API answered tract GEOIDs that are not 11 digits: {bad[:5]}"
        raise FetchError(msg)
    columns = [f"{code}{kind}" for code in codes for kind in "EM"]
    return rows, columns


def _write_acs(
    out: Path, rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str], *, aliases: bool
) -> dict[str, str]:
    """Write the merged table as CSV; return the aliases written (alias -> variable)."""
    present = set(columns)
    written = {
        alias: code
        for alias, code in ACS_ALIASES.items()
        if aliases and f"{code}E" in present and f"{code}M" in present
    }
    header = ["geoid", "NAME", *columns]
    for alias in written:
        header += [alias, f"{alias}_moe"]
    with atomic_write(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for geoid in sorted(rows):
            row = rows[geoid]
            cells = [geoid, row.get("NAME", ""), *(_cell(row.get(c)) for c in columns)]
            for code in written.values():
                cells += [_cell(row.get(f"{code}E")), _cell(row.get(f"{code}M"))]
            writer.writerow(cells)
    return written


def _cell(value: Any) -> Any:
    """Return a CSV cell: null as empty, numbers and Census codes as sent."""
    return "" if value is None else value


def fetch_acs(
    out: str | Path,
    *,
    state: str | int,
    county: str | int,
    year: int = 2022,
    tables: Sequence[str] = ACS_DEFAULT_TABLES,
    variables: Sequence[str] | None = None,
    aliases: bool = True,
    base_url: str = "https://api.census.gov/data",
    api_key_env: str | None = "CENSUS_API_KEY",
    client: HttpClient | None = None,
    overwrite: bool = False,
) -> _paging.FetchResult:
    """Download ACS 5-year estimates and MOEs for every tract of a county into one CSV.

    One request per table (``get=NAME,group(<table>)``) plus, for
    ``variables``, requests of at most 24 variables (estimate and MOE each);
    the answers are joined on the tract GEOID.  Answers are saved as they
    arrive, so an interrupted run continues with the next table, and the CSV
    appears (atomically) only when every request succeeded.

    Parameters
    ----------
    out : path
        The CSV to write; read it with :func:`geo311.population.tracts.read_tract_table`.
        Columns: ``geoid``, ``NAME``, ``<VAR>E``/``<VAR>M`` per variable, then
        the aliases (see the module docstring).
    state : str or int
        State FIPS code, e.g. ``"24"`` (Maryland).
    county : str or int
        County FIPS code within the state, e.g. ``"510"`` (Baltimore city).
    year : int, default 2022
        Last year of the 5-year period (2022: ACS 2018-2022).
    tables : sequence of str
        ACS detailed tables fetched whole (every ``_NNNE``/``_NNNM``
        variable); default :data:`ACS_DEFAULT_TABLES`.  Pass ``()`` to fetch
        only ``variables``.
    variables : sequence of str, optional
        Further variables, as ``B17001_002`` or ``B17001_002E`` (the estimate
        and its MOE are both fetched).
    aliases : bool, default True
        Add the :data:`ACS_ALIASES` columns for the variables fetched.
    base_url : str, default "https://api.census.gov/data"
        The Census Data API root (override for a mirror or tests).
    api_key_env : str or None, default "CENSUS_API_KEY"
        Environment variable holding a Census API key; sent as ``key`` when
        set (the API allows a few hundred keyless queries a day) and written
        nowhere.
    client : HttpClient, optional
        A configured client (retries, rate limit); one with defaults otherwise.
    overwrite : bool, default False
        Replace an existing ``out``.

    Returns
    -------
    FetchResult
        ``rows`` is the number of tracts; ``pages`` the number of requests.

    Raises
    ------
    OutputExistsError
        ``out`` exists and ``overwrite`` is False.
    OptionError
        Malformed FIPS codes, table or variable codes, or year.
    FetchError
        The API refused the query (unknown variable, bad geography, bad key),
        answered something that is not its JSON table, or could not be reached.

    Examples
    --------
    >>> result = fetch_acs("baltimore_acs.csv", state="24", county="510")  # doctest: +SKIP
    >>> from geo311.population.tracts import read_tract_table
    >>> read_tract_table(result.path).moe["median_hh_income"]  # doctest: +SKIP
    'median_hh_income_moe'
    """
    state_fips = _fips(state, digits=2, name="state")
    county_fips = _fips(county, digits=3, name="county")
    if int(year) < _FIRST_ACS5_YEAR:
        msg = f"ACS 5-year tract data start with {_FIRST_ACS5_YEAR}, got year={year} (--year)"
        raise OptionError(msg)
    table_codes = list(dict.fromkeys(str(t).strip().upper() for t in tables))
    wrong = [t for t in table_codes if not _TABLE.match(t)]
    if wrong:
        msg = f"{wrong} are not ACS detailed table codes such as 'B19013' (--table)"
        raise OptionError(msg)
    codes = _variable_codes(variables or ())
    if not table_codes and not codes:
        msg = "nothing to fetch: give tables= or variables= (--table or --variable)"
        raise OptionError(msg)
    out_path = _paging.prepare_out(out, overwrite=overwrite)
    url = f"{base_url.rstrip('/')}/{int(year)}/acs/acs5"
    geography = {"for": "tract:*", "in": f"state:{state_fips} county:{county_fips}"}
    gets = _requests(table_codes, codes)
    key = os.environ.get(api_key_env, "").strip() if api_key_env else ""
    if not key:
        log.info("no Census API key in $%s: keyless queries are rate-limited", api_key_env)
    store = _paging.PageStore(
        out_path, query={"c": "census-acs", "url": url, **geography, "get": gets}
    )
    tracker = _paging.Progress(f"Census ACS {url}", store, None)
    with _paging.open_client(client) as http:
        for get in gets[store.pages :]:
            params = {"get": get, **geography, **({"key": key} if key else {})}
            data = _census_get(http, url, params, get=get)
            store.add_page(_acs_rows(data, url=url, get=get))
            tracker.page()
        rows, columns = _merge(list(store.iter_pages()))
        written = _write_acs(out_path, rows, columns, aliases=aliases)
    return _paging.finish(
        store,
        tracker,
        out=out_path,
        rows=len(rows),
        source_url=url,
        params={"get": gets, **geography},
        extra={
            "connector": "census-acs",
            "dataset": f"ACS 5-year {int(year) - 4}-{int(year)}",
            "tables": table_codes,
            "variables": len(columns) // 2,
            "aliases": written,
            "credentials": f"key from ${api_key_env}" if key else "none",
        },
    )


# -- TIGER/Line ----------------------------------------------------------------------------------


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Return why a ZIP member may not be extracted, or None when it is safe."""
    name = info.filename
    if not name or "\x00" in name:
        return "an empty or NUL-bearing name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return "an absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "a '..' path component"
    if stat.S_IFMT(info.external_attr >> 16) == _SYMLINK:
        return "a symbolic link"
    return None


def _copy_bounded(source: IO[bytes], target: IO[bytes], *, budget: int) -> int:
    """Copy at most ``budget`` bytes; return the bytes copied or -1 if there were more."""
    copied = 0
    while block := source.read(1 << 20):
        copied += len(block)
        if copied > budget:
            return -1
        target.write(block)
    return copied


def safe_extract_zip(archive: str | Path, dest: str | Path, *, max_bytes: int) -> list[Path]:
    """Extract a ZIP into a new folder ``dest``, refusing anything unsafe.

    Refused (before anything is written): members with absolute paths, ``..``
    components or NUL bytes, symbolic links, more than 1,000 members, and
    archives whose declared uncompressed size exceeds ``max_bytes``.  Sizes
    are also counted while extracting, so a member that lies about its size
    cannot exceed the limit either.  The members are extracted into a
    temporary sibling of ``dest`` that is renamed to ``dest`` only when all of
    them are in; on any error it is removed.

    Parameters
    ----------
    archive : path
        The ZIP file.
    dest : path
        Folder to create; it must not exist yet.
    max_bytes : int
        Largest total uncompressed size accepted.

    Returns
    -------
    list of pathlib.Path
        The extracted files, under ``dest``.

    Raises
    ------
    FetchError
        The archive is not a ZIP, or is unsafe or too large (nothing is left behind).
    OutputExistsError
        ``dest`` exists (a ``FileExistsError``).
    """
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        msg = f"{dest} exists; remove it first"
        raise OutputExistsError(msg)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            problems = [
                f"{info.filename!r} ({reason})"
                for info in infos
                if (reason := _unsafe_reason(info)) is not None
            ]
            if problems:
                msg = f"refusing to extract {archive.name}: unsafe members " + ", ".join(
                    problems[:5]
                )
                raise FetchError(msg)
            if len(infos) > _MAX_MEMBERS:
                msg = f"refusing to extract {archive.name}: {len(infos):,} members"
                raise FetchError(msg)
            declared = sum(info.file_size for info in infos)
            if declared > max_bytes:
                msg = (
                    f"refusing to extract {archive.name}: {declared:,} bytes uncompressed, more "
                    f"than max_bytes={max_bytes:,} (a corrupt file or a ZIP bomb?)"
                )
                raise FetchError(msg)
            return _extract_members(zf, infos, archive=archive, dest=dest, max_bytes=max_bytes)
    except zipfile.BadZipFile as exc:
        msg = f"{archive.name} is not a readable ZIP archive ({exc})"
        raise FetchError(msg) from exc


def _extract_members(
    zf: zipfile.ZipFile,
    infos: Sequence[zipfile.ZipInfo],
    *,
    archive: Path,
    dest: Path,
    max_bytes: int,
) -> list[Path]:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    root = tmp.resolve()
    extracted: list[Path] = []
    budget = max_bytes
    try:
        for info in infos:
            relative = PurePosixPath(info.filename.replace("\\", "/"))
            target = (tmp / relative).resolve()
            if not target.is_relative_to(root):  # belt and braces after _unsafe_reason
                msg = f"refusing to extract {archive.name}: {info.filename!r} leaves the folder"
                raise FetchError(msg)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as source, target.open("wb") as sink:
                copied = _copy_bounded(source, sink, budget=budget)
            if copied < 0:
                msg = (
                    f"refusing to extract {archive.name}: more than max_bytes={max_bytes:,} "
                    "bytes uncompressed (sizes in the archive understated; a ZIP bomb?)"
                )
                raise FetchError(msg)
            budget -= copied
            extracted.append(dest / relative)
        tmp.replace(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return extracted


def _dbf_records(path: Path) -> int:
    """Return the record count in a dBase header (the features of a shapefile)."""
    with path.open("rb") as fh:
        header = fh.read(8)
    return int(struct.unpack("<I", header[4:8])[0]) if len(header) == 8 else 0


def fetch_tiger_tracts(
    out_dir: str | Path,
    *,
    state: str | int,
    year: int = 2020,
    base_url: str = "https://www2.census.gov/geo/tiger",
    client: HttpClient | None = None,
    max_bytes: int = 200_000_000,
    overwrite: bool = False,
) -> Path:
    """Download the TIGER/Line census tract shapefile of a state and unpack it safely.

    Fetches ``<base_url>/TIGER<year>/TRACT/tl_<year>_<state>_tract.zip`` and
    extracts it with :func:`safe_extract_zip` into
    ``<out_dir>/tl_<year>_<state>_tract/``, which appears only once complete.
    A ``<shp>.provenance.json`` sidecar in that folder records the URL, the
    archive's sha256 and the feature count.

    Parameters
    ----------
    out_dir : path
        Parent folder of the extracted shapefile folder.
    state : str or int
        State FIPS code, e.g. ``"24"``.
    year : int, default 2020
        TIGER/Line vintage.
    base_url : str, default "https://www2.census.gov/geo/tiger"
        Root of the TIGER/Line tree (override for a mirror or tests).
    client : HttpClient, optional
        A configured client; one with defaults otherwise.
    max_bytes : int, default 200,000,000
        Largest download and largest total uncompressed size accepted.
    overwrite : bool, default False
        Replace an existing extracted folder.

    Returns
    -------
    pathlib.Path
        The ``.shp`` file; read it with ``geopandas.read_file``.

    Raises
    ------
    OutputExistsError
        The folder exists and ``overwrite`` is False.
    FetchError
        Download failure, a body that is not a ZIP, an unsafe or oversized
        archive, or an archive without the expected shapefile.
    """
    state_fips = _fips(state, digits=2, name="state")
    stem = f"tl_{int(year)}_{state_fips}_tract"
    url = f"{base_url.rstrip('/')}/TIGER{int(year)}/TRACT/{stem}.zip"
    out_root = Path(out_dir)
    dest = out_root / stem
    if dest.exists() and not overwrite:
        msg = f"output exists: {dest}; pass --overwrite (overwrite=True) to replace it"
        raise OutputExistsError(msg)
    out_root.mkdir(parents=True, exist_ok=True)
    with _paging.open_client(client) as http:
        body = http.get_bytes(url, headers={"Accept": "application/zip, */*"})
    if len(body) > max_bytes:
        msg = f"GET {url} returned {len(body):,} bytes, more than max_bytes={max_bytes:,}"
        raise FetchError(msg)
    if not body.startswith(b"PK"):
        head = body[:120].decode("utf-8", "replace").strip()
        msg = (
            f"GET {url} did not return a ZIP archive (starts {head!r}); check the year and "
            "state FIPS, or base_url"
        )
        raise FetchError(msg)
    archive = out_root / f".{stem}.{os.getpid()}.zip"
    staged = out_root / f".{stem}.{os.getpid()}.new"
    try:
        archive.write_bytes(body)
        try:
            files = safe_extract_zip(archive, staged, max_bytes=max_bytes)
        except FetchError as exc:
            msg = f"GET {url}: {exc}"
            raise FetchError(msg) from None
        shp = staged / f"{stem}.shp"
        needed = [staged / f"{stem}{ext}" for ext in (".shp", ".shx", ".dbf")]
        absent = [p.name for p in needed if not p.is_file()]
        if absent:
            names = sorted(p.name for p in files)
            msg = f"GET {url}: the archive lacks {absent}; it holds {names}"
            raise FetchError(msg)
        write_provenance(
            shp,
            source_url=url,
            params=None,
            rows=_dbf_records(staged / f"{stem}.dbf"),
            extra={
                "connector": "census-tiger",
                "archive_sha256": sha256_file(archive),
                "archive_bytes": len(body),
                "members": sorted(str(p.relative_to(staged)) for p in files),
            },
        )
        _swap_in(staged, dest)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staged, ignore_errors=True)
    log.info("extracted %s into %s", url, dest)
    return dest / f"{stem}.shp"


def _swap_in(staged: Path, dest: Path) -> None:
    """Move ``staged`` onto ``dest``, replacing an older folder only once the new one is in."""
    if not dest.exists():
        staged.replace(dest)
        return
    old = dest.with_name(f".{dest.name}.{os.getpid()}.old")
    shutil.rmtree(old, ignore_errors=True)
    dest.replace(old)
    try:
        staged.replace(dest)
    except BaseException:
        old.replace(dest)
        raise
    shutil.rmtree(old, ignore_errors=True)

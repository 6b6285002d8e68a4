"""Census connectors (ACS API, TIGER/Line ZIPs) against the loopback replay server.

The Census API answers and the TIGER ZIPs are built here: a JSON array of
rows with a header row, estimates and MOEs and Census special values; a tiny
shapefile written with geopandas and zipped.  Nothing touches the internet.
"""

from __future__ import annotations

import io
import json
import logging
import math
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from replay import (
    Hit,
    ReplayServer,
    Reply,
    server_fixture,  # noqa: F401 - fixtures, used by name
)

from geo311._errors import OutputExistsError
from geo311.connectors._client import FetchError, HttpClient
from geo311.connectors.census import ACS_ALIASES, fetch_acs, fetch_tiger_tracts, safe_extract_zip
from geo311.population.tracts import read_tract_table

pytest.importorskip("httpx")

ACS = "/data/2022/acs/acs5"
TIGER = "/geo/tiger/TIGER2020/TRACT/tl_2020_24_tract.zip"
SECRET = "c3nsus-K3Y-value-0123456789"
TRACTS = ["010100", "010200", "271101"]

#: Per table: variable -> (estimates, MOEs) for TRACTS, as the API sends them (strings).
TABLES: dict[str, dict[str, tuple[list[Any], list[Any]]]] = {
    "B01003": {"B01003_001": (["3197", "3113", "0"], ["-555555555", "-555555555", "11"])},
    "B19013": {
        "B19013_001": (["152969", "117243", "-666666666"], ["34054", "37708", "-222222222"])
    },
    "B17001": {
        "B17001_001": (["3150", "3100", "0"], ["380", "402", "11"]),
        "B17001_002": (["120", "301", None], ["85", "160", None]),
    },
}


def _group(table: str) -> list[list[Any]]:
    """The answer to get=NAME,group(<table>): E, EA, M, MA per variable, then geography."""
    header: list[str] = []
    for var in TABLES[table]:
        header += [f"{var}E", f"{var}EA", f"{var}M", f"{var}MA"]
    header += ["GEO_ID", "NAME", "state", "county", "tract"]
    rows: list[list[Any]] = [header]
    for i, tract in enumerate(TRACTS):
        row: list[Any] = []
        for est, moe in TABLES[table].values():
            row += [est[i], None, moe[i], None]
        name = f"Census Tract {int(tract) / 100:g}; Baltimore city; Maryland"
        row += [f"1400000US24510{tract}", name, "24", "510", tract]
        rows.append(row)
    return rows


def _variables(names: list[str]) -> list[list[Any]]:
    """The answer to get=NAME,<var>E,<var>M,...: the asked columns, then geography."""
    known = {v: vals for table in TABLES.values() for v, vals in table.items()}
    rows: list[list[Any]] = [[*names, "state", "county", "tract"]]
    for i, tract in enumerate(TRACTS):
        row: list[Any] = []
        for name in names:
            if name == "NAME":
                row.append(f"Census Tract {tract}")
            else:
                est, moe = known[name[:-1]]
                row.append((est if name.endswith("E") else moe)[i])
        rows.append([*row, "24", "510", tract])
    return rows


def census_api(hit: Hit) -> Reply:
    """A small Census Data API: group() and explicit variable lists for tracts of 24/510."""
    if hit.query.get("for") != "tract:*" or hit.query.get("in") != "state:24 county:510":
        return Reply("error: unknown/unsupported geography hierarchy", status=400)
    get = hit.query.get("get", "")
    if get.startswith("NAME,group(") and get.endswith(")"):
        table = get[len("NAME,group(") : -1]
        if table not in TABLES:
            return Reply(
                f"error: error: unknown variable 'group({table})'",
                status=400,
                content_type="text/plain",
            )
        return Reply(_group(table))
    return Reply(_variables(get.split(",")))


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[HttpClient]:
    with HttpClient(
        timeout=2, retries=1, sleep=lambda _s: None, cache_path=tmp_path / "http-cache"
    ) as http:
        yield http


@pytest.fixture(autouse=True)
def _environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CENSUS_API_KEY", raising=False)


# -- ACS ---------------------------------------------------------------------------------------


def test_acs_tables_merged_into_a_tract_table_with_moes(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    server.route(ACS, census_api)
    out = tmp_path / "acs.csv"
    result = fetch_acs(
        out,
        state=24,
        county="510",
        tables=("B01003", "B19013"),
        variables=["B17001_002E"],
        base_url=f"{server.url}/data",
        client=client,
    )
    assert result.path == out
    assert result.rows == 3
    assert result.pages == 3  # two group() queries and one variable list
    text = out.read_text(encoding="utf-8")
    header = text.splitlines()[0].split(",")
    assert header[:2] == ["geoid", "NAME"]
    assert header[2:8] == [
        "B01003_001E",
        "B01003_001M",
        "B19013_001E",
        "B19013_001M",
        "B17001_002E",
        "B17001_002M",
    ]
    assert not any(c.endswith(("EA", "MA")) for c in header)  # annotations left out
    assert {"population", "population_moe", "median_hh_income", "below_poverty"} <= set(header)
    assert "-666666666" in text  # special values kept as sent
    assert "24510271101" in text

    hits = server.hits_for(ACS)
    assert [h.query["get"] for h in hits] == [
        "NAME,group(B01003)",
        "NAME,group(B19013)",
        "NAME,B17001_002E,B17001_002M",
    ]
    assert all("key" not in h.query for h in hits)  # no key in the environment

    table = read_tract_table(out)
    frame = table.table
    assert list(frame.index) == ["24510010100", "24510010200", "24510271101"]
    assert table.moe["B19013_001E"] == "B19013_001E_moe"
    assert table.moe["B17001_002E"] == "B17001_002E_moe"
    assert table.moe["median_hh_income"] == "median_hh_income_moe"
    assert frame.loc["24510010100", "B19013_001E"] == 152969
    assert frame.loc["24510010100", "B19013_001E_moe"] == 34054
    assert math.isnan(frame.loc["24510271101", "B19013_001E"])  # -666666666
    assert math.isnan(frame.loc["24510271101", "B19013_001E_moe"])  # -222222222
    assert frame.loc["24510010200", "B01003_001E_moe"] == 0  # -555555555: controlled
    assert math.isnan(frame.loc["24510271101", "B17001_002E"])  # null
    assert frame.loc["24510010200", "population"] == 3113
    assert "NAME" not in frame.columns

    record = json.loads(result.provenance.read_text(encoding="utf-8"))
    assert record["rows"] == 3
    assert record["connector"] == "census-acs"
    assert record["params"]["in"] == "state:24 county:510"
    assert record["credentials"] == "none"
    assert record["aliases"]["population"] == ACS_ALIASES["population"]
    assert not list(tmp_path.glob(".acs.csv*"))  # work folder and temp files gone


def test_acs_default_tables_are_requested(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    server.route(ACS, census_api)
    with pytest.raises(FetchError, match=r"group\(B02001\)") as info:
        fetch_acs(
            tmp_path / "acs.csv",
            state="24",
            county="510",
            base_url=f"{server.url}/data",
            client=client,
        )
    gets = [h.query["get"] for h in server.hits_for(ACS)]
    assert gets == ["NAME,group(B01003)", "NAME,group(B19013)", "NAME,group(B02001)"]
    assert "unknown variable" in str(info.value)  # the API's own words
    assert "table/variable codes" in str(info.value)  # and what to check
    assert not (tmp_path / "acs.csv").exists()


def test_acs_api_key_is_sent_but_never_written(
    server: ReplayServer,
    client: HttpClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("CENSUS_API_KEY", SECRET)
    server.route(ACS, census_api)
    caplog.set_level(logging.DEBUG)
    result = fetch_acs(
        tmp_path / "acs.csv",
        state="24",
        county="510",
        tables=("B01003",),
        base_url=f"{server.url}/data",
        client=client,
    )
    assert server.hits_for(ACS)[0].query["key"] == SECRET
    sidecar = result.provenance.read_text(encoding="utf-8")
    assert SECRET not in sidecar
    assert json.loads(sidecar)["credentials"] == "key from $CENSUS_API_KEY"
    assert SECRET not in caplog.text
    assert "GET" in caplog.text  # the request was logged, with the key scrubbed
    assert SECRET not in (tmp_path / "acs.csv").read_text(encoding="utf-8")

    # an error names the URL but not the key, in the message and in the logs
    caplog.clear()
    with pytest.raises(FetchError) as info:
        fetch_acs(
            tmp_path / "bad.csv",
            state="24",
            county="510",
            tables=("B99999",),
            base_url=f"{server.url}/data",
            client=client,
        )
    message = str(info.value)
    assert server.url in message
    assert SECRET not in message
    assert "key=" not in message  # the HTTP layer leaves credentials out of shown URLs
    assert SECRET not in caplog.text
    assert info.value.__cause__ is None
    # the filters are removed afterwards
    assert not logging.getLogger("httpx").filters or all(
        getattr(f, "secret", None) != SECRET for f in logging.getLogger("httpx").filters
    )


def test_acs_error_bodies_are_explained(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    out = tmp_path / "acs.csv"
    kwargs: dict[str, Any] = {
        "state": "24",
        "county": "510",
        "tables": ("B01003",),
        "base_url": f"{server.url}/data",
        "client": client,
    }
    server.route(ACS, Reply(b"", status=204))
    with pytest.raises(FetchError, match="returned no data: check the state and county"):
        fetch_acs(out, **kwargs)
    server.route(
        ACS,
        Reply("<html><body><h1>Invalid Key</h1></body></html>", content_type="text/html"),
    )
    with pytest.raises(FetchError, match=r"HTML page.*invalid key"):
        fetch_acs(out, **kwargs)
    server.route(ACS, Reply("error: invalid 'for' argument", content_type="text/plain"))
    with pytest.raises(FetchError, match="returned an error instead of JSON"):
        fetch_acs(out, **kwargs)
    server.route(ACS, Reply({"error": "nope"}))
    with pytest.raises(FetchError, match="JSON array of rows"):
        fetch_acs(out, **kwargs)
    server.route(ACS, Reply([["B01003_001E", "NAME"], ["1", "x"]]))
    with pytest.raises(FetchError, match="no \\['state', 'county', 'tract'\\] column"):
        fetch_acs(out, **kwargs)
    assert not out.exists()


def test_acs_resumes_after_a_failed_table(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    out = tmp_path / "acs.csv"
    kwargs: dict[str, Any] = {
        "state": "24",
        "county": "510",
        "tables": ("B01003", "B19013", "B17001"),
        "base_url": f"{server.url}/data",
        "client": client,
    }

    def flaky(hit: Hit) -> Reply:
        if hit.query["get"] == "NAME,group(B19013)":
            return Reply("error: service unavailable", status=404, content_type="text/plain")
        return census_api(hit)

    server.route(ACS, flaky)
    with pytest.raises(FetchError):
        fetch_acs(out, **kwargs)
    assert not out.exists()
    server.route(ACS, census_api)
    result = fetch_acs(out, **kwargs)
    assert result.resumed_pages == 1
    assert result.pages == 3
    gets = [h.query["get"] for h in server.hits_for(ACS)]
    assert gets.count("NAME,group(B01003)") == 1  # not asked again
    assert read_tract_table(out).moe["B17001_002E"] == "B17001_002E_moe"


def test_acs_validates_its_arguments(client: HttpClient, tmp_path: Path) -> None:
    out = tmp_path / "acs.csv"
    with pytest.raises(ValueError, match="state must be a 2-digit FIPS"):
        fetch_acs(out, state="Maryland", county="510", client=client)
    with pytest.raises(ValueError, match="county must be a 3-digit FIPS"):
        fetch_acs(out, state="24", county="5100", client=client)
    with pytest.raises(ValueError, match="start with 2009"):
        fetch_acs(out, state="24", county="510", year=2005, client=client)
    with pytest.raises(ValueError, match="not ACS detailed table codes"):
        fetch_acs(out, state="24", county="510", tables=("population",), client=client)
    with pytest.raises(ValueError, match="not an ACS variable code"):
        fetch_acs(out, state="24", county="510", variables=["pop"], client=client)
    with pytest.raises(ValueError, match="nothing to fetch"):
        fetch_acs(out, state="24", county="510", tables=(), client=client)
    out.write_text("old", encoding="utf-8")
    with pytest.raises(OutputExistsError):
        fetch_acs(out, state="24", county="510", client=client)


# -- TIGER/Line --------------------------------------------------------------------------------


def _shapefile_zip(tmp_path: Path, stem: str = "tl_2020_24_tract") -> bytes:
    """A two-tract shapefile written with geopandas, zipped flat as the Census Bureau does."""
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import box  # noqa: PLC0415

    frame = gpd.GeoDataFrame(
        {"GEOID": ["24510010100", "24510010200"], "NAMELSAD": ["Tract 101", "Tract 102"]},
        geometry=[box(-76.60, 39.28, -76.59, 39.29), box(-76.59, 39.28, -76.58, 39.29)],
        crs="EPSG:4269",
    )
    folder = tmp_path / "shape-src"
    folder.mkdir()
    frame.to_file(folder / f"{stem}.shp", engine="pyogrio")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(folder.iterdir()):
            zf.write(part, arcname=part.name)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _zip_reply(body: bytes) -> Reply:
    return Reply(body, content_type="application/zip")


def test_tiger_tracts_downloaded_and_extracted(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    gpd = pytest.importorskip("geopandas")
    server.route(TIGER, _zip_reply(_shapefile_zip(tmp_path)))
    out_dir = tmp_path / "tiger"
    shp = fetch_tiger_tracts(out_dir, state=24, base_url=f"{server.url}/geo/tiger", client=client)
    assert shp == out_dir / "tl_2020_24_tract" / "tl_2020_24_tract.shp"
    tracts = gpd.read_file(shp)
    assert list(tracts["GEOID"]) == ["24510010100", "24510010200"]
    assert tracts.crs.to_epsg() == 4269
    record = json.loads(shp.with_name(shp.name + ".provenance.json").read_text("utf-8"))
    assert record["rows"] == 2
    assert record["connector"] == "census-tiger"
    assert record["source_url"].endswith("/TIGER2020/TRACT/tl_2020_24_tract.zip")
    assert "tl_2020_24_tract.dbf" in record["members"]
    assert [p.name for p in out_dir.iterdir()] == ["tl_2020_24_tract"]  # nothing else left

    with pytest.raises(OutputExistsError):
        fetch_tiger_tracts(out_dir, state="24", base_url=f"{server.url}/geo/tiger", client=client)
    again = fetch_tiger_tracts(
        out_dir, state="24", base_url=f"{server.url}/geo/tiger", client=client, overwrite=True
    )
    assert again == shp
    assert len(gpd.read_file(again)) == 2
    assert [p.name for p in out_dir.iterdir()] == ["tl_2020_24_tract"]


def test_tiger_zip_with_parent_entries_is_rejected(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    body = _zip({"tl_2020_24_tract.shp": b"x" * 100, "../evil.txt": b"owned"})
    server.route(TIGER, _zip_reply(body))
    out_dir = tmp_path / "tiger"
    with pytest.raises(FetchError, match=r"unsafe members '\.\./evil\.txt'.*'\.\.' path") as info:
        fetch_tiger_tracts(out_dir, state="24", base_url=f"{server.url}/geo/tiger", client=client)
    assert "tl_2020_24_tract.zip" in str(info.value)
    assert not (tmp_path / "evil.txt").exists()
    assert list(out_dir.iterdir()) == []  # nothing half-extracted, no temp files


def test_tiger_zip_bomb_is_rejected(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    body = _zip({"tl_2020_24_tract.shp": b"\0" * 2_000_000})
    assert len(body) < 10_000  # compresses to almost nothing
    server.route(TIGER, _zip_reply(body))
    out_dir = tmp_path / "tiger"
    with pytest.raises(FetchError, match=r"more than max_bytes=1,000,000.*ZIP bomb"):
        fetch_tiger_tracts(
            out_dir,
            state="24",
            base_url=f"{server.url}/geo/tiger",
            client=client,
            max_bytes=1_000_000,
        )
    assert list(out_dir.iterdir()) == []


def test_tiger_body_that_is_not_a_zip(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    server.route(TIGER, Reply("<html>Maintenance</html>", content_type="text/html"))
    out_dir = tmp_path / "tiger"
    with pytest.raises(FetchError, match="did not return a ZIP archive"):
        fetch_tiger_tracts(out_dir, state="24", base_url=f"{server.url}/geo/tiger", client=client)
    server.route(TIGER, _zip_reply(_zip({"readme.txt": b"no shapes"})))
    with pytest.raises(FetchError, match=r"lacks \['tl_2020_24_tract.shp'"):
        fetch_tiger_tracts(out_dir, state="24", base_url=f"{server.url}/geo/tiger", client=client)
    assert list(out_dir.iterdir()) == []
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_tiger_tracts(out_dir, state="25", base_url=f"{server.url}/geo/tiger", client=client)


@pytest.mark.parametrize(
    ("members", "symlink", "reason"),
    [
        ({"/etc/cron.d/evil": b"x"}, None, "absolute path"),
        ({"C:/evil.txt": b"x"}, None, "absolute path"),
        ({"ok/../../evil.txt": b"x"}, None, r"'\.\.' path component"),
        ({"ok.txt": b"x"}, "link", "symbolic link"),
    ],
)
def test_safe_extract_refuses_unsafe_members(
    tmp_path: Path, members: dict[str, bytes], symlink: str | None, reason: str
) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip(members, symlink=symlink))
    dest = tmp_path / "out"
    with pytest.raises(FetchError, match=reason):
        safe_extract_zip(archive, dest, max_bytes=1_000_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_safe_extract_counts_bytes_actually_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"a.bin": b"1" * 5000, "b.bin": b"2" * 5000}))
    # a member that understates its size in the directory is still stopped (zipfile reads
    # no more than the stated size and then fails the CRC; the byte count is a second guard)
    real = zipfile.ZipFile.infolist

    def lying(self: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
        infos = real(self)
        for info in infos:
            info.file_size = 1
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying)
    with pytest.raises(FetchError, match=r"Bad CRC|understated"):
        safe_extract_zip(archive, tmp_path / "out", max_bytes=6000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]
    monkeypatch.undo()
    files = safe_extract_zip(archive, tmp_path / "out", max_bytes=10_000)
    assert sorted(p.name for p in files) == ["a.bin", "b.bin"]
    assert (tmp_path / "out" / "a.bin").read_bytes() == b"1" * 5000
    with pytest.raises(FileExistsError):
        safe_extract_zip(archive, tmp_path / "out", max_bytes=10_000)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(FetchError, match="not a readable ZIP"):
        safe_extract_zip(bad, tmp_path / "out2", max_bytes=10_000)


def test_bounded_copy_stops_at_the_budget() -> None:
    from geo311.connectors.census import _copy_bounded  # noqa: PLC0415

    sink = io.BytesIO()
    assert _copy_bounded(io.BytesIO(b"x" * 10), sink, budget=10) == 10
    assert _copy_bounded(io.BytesIO(b"x" * 11), io.BytesIO(), budget=10) == -1


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_fetch_census_and_tiger(server: ReplayServer, tmp_path: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415 - only these tests drive the CLI

    from geo311.cli import main  # noqa: PLC0415
    from geo311.population.tracts import read_tract_table  # noqa: PLC0415

    server.route(ACS, census_api)
    server.route(TIGER, _zip_reply(_shapefile_zip(tmp_path)))
    runner = CliRunner()
    out = tmp_path / "acs.csv"
    args = ["fetch", "census", "--state", "24", "--county", "510", "--year", "2022"]
    args += ["--table", "B01003", "--base-url", f"{server.url}/data", "--out", str(out)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "tracts from 1 requests" in result.output
    denominators = read_tract_table(out)
    assert denominators.table.index.str.startswith("24510").all()
    assert "population" in denominators.variables
    assert runner.invoke(main, args).exit_code == 2  # exists: --overwrite needed

    tiger = ["fetch", "tiger", "--state", "24", "--base-url", f"{server.url}/geo/tiger"]
    result = runner.invoke(main, [*tiger, "--out-dir", str(tmp_path / "tiger")])
    assert result.exit_code == 0, result.output
    assert "tl_2020_24_tract.shp" in result.output

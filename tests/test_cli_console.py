"""What the command line shows while and after it runs (issue 17) and --data-dir (issue 14).

Log lines by verbosity, progress bars, the closing summary of ``geo311 run``,
and boundary files found through ``--data-dir`` or next to the manifest,
with one clear line before the ingest when they are missing.  The run
uses a two-ward city typed in below, so it costs seconds.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely import box

from geo311.cli import main
from geo311.cli.console import Bars, setup_logging, show_bars
from geo311.progress import ProgressHook

# Two wards side by side in central Baltimore (EPSG:4326), with populations.
WARDS = gpd.GeoDataFrame(
    {"code": ["1", "2"], "label": ["West", "East"], "pop": [1000, 2000]},
    geometry=[box(-76.63, 39.28, -76.608, 39.31), box(-76.608, 39.28, -76.59, 39.31)],
    crs="EPSG:4326",
)

MANIFEST = """\
city = "twoward"
title = "Two Ward Town"
timezone = "America/New_York"
projected_crs = "EPSG:26985"
district_layer = "wards"

[layers.wards]
title = "Wards"
id_field = "code"
name_field = "label"

[[layers.wards.vintages]]
vintage = "2020"
source = "typed in for the tests"
publisher = "geo311 tests"
file = "layers/wards.geojson"
crs = "EPSG:4326"
population_field = "pop"
population_source = "typed in"
population_year = 2020
"""

# Six requests, three in each ward, and one row repeated (dropped as a duplicate).
EXPORT = """\
service_request_id,service_code,service_name,status,requested_datetime,closed_date,lat,long
T-1,001,Pothole,closed,2024-03-01T10:00:00-05:00,2024-03-02T09:00:00-05:00,39.2904,-76.6122
T-2,002,Graffiti,open,2024-03-05T14:30:00-05:00,,39.3001,-76.6150
T-3,001,Pothole,closed,2024-03-06T08:00:00-05:00,2024-03-08T08:00:00-05:00,39.2950,-76.6200
T-4,001,Pothole,closed,2024-03-07T09:00:00-05:00,2024-03-07T17:00:00-05:00,39.2904,-76.6000
T-5,002,Graffiti,open,2024-03-08T11:00:00-05:00,,39.3001,-76.5950
T-6,001,Pothole,closed,2024-03-09T12:00:00-05:00,2024-03-12T12:00:00-05:00,39.2950,-76.6050
T-6,001,Pothole,closed,2024-03-09T12:00:00-05:00,2024-03-12T12:00:00-05:00,39.2950,-76.6050
"""


@pytest.fixture
def city(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The manifest (its layer file beside it, in layers/) and the export; no data dir set."""
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "twoward"
    (folder / "layers").mkdir(parents=True)
    WARDS.to_file(folder / "layers" / "wards.geojson", driver="GeoJSON")
    manifest = folder / "twoward.toml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    export = tmp_path / "export.csv"
    export.write_text(EXPORT, encoding="utf-8")
    return {"manifest": manifest, "export": export, "folder": folder}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


# --------------------------------------------------------------------------- log lines


def _shown(verbosity: int) -> str:
    stream = io.StringIO()
    setup_logging(verbosity, stream)
    logging.getLogger("pyogrio._io").info("Created 278 records")
    logging.getLogger("matplotlib.font_manager").debug("findfont: scoring")
    logging.getLogger("geo311.io.readers").info("read 3,000 rows from a.csv")
    logging.getLogger("geo311.site.maps").info("mapped rate_per_1k for 278 areas")
    logging.getLogger("geo311.join.validate").debug("checked 278 areas")
    logging.getLogger("geo311.indicators.equity").warning("ranked by population")
    return stream.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_default_shows_stage_lines_and_warnings_only() -> None:
    assert _shown(0).splitlines() == [
        "read 3,000 rows from a.csv",
        "WARNING: ranked by population",
    ]


@pytest.mark.usefixtures("restore_logging")
def test_verbose_adds_every_geo311_line_then_third_party_debug() -> None:
    once = _shown(1)
    assert "INFO geo311.site.maps: mapped rate_per_1k for 278 areas" in once
    assert "DEBUG geo311.join.validate: checked 278 areas" in once
    assert "pyogrio" not in once
    assert "matplotlib" not in once
    twice = _shown(2)
    assert "INFO pyogrio._io: Created 278 records" in twice
    assert "DEBUG matplotlib.font_manager: findfont: scoring" in twice


@pytest.mark.usefixtures("restore_logging")
def test_quiet_shows_warnings_then_nothing() -> None:
    assert _shown(-1).splitlines() == ["WARNING: ranked by population"]
    assert _shown(-2) == ""


# --------------------------------------------------------------------------- progress


def test_bars_only_on_a_terminal_unless_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    assert show_bars(True) is True
    assert show_bars(False) is False
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # what a test runner captures
    assert show_bars(None) is False
    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stderr", terminal)
    assert show_bars(None) is True
    monkeypatch.setenv("CI", "true")
    assert show_bars(None) is False


def test_bars_follow_the_steps_and_wait_for_long_ones() -> None:
    stream = io.StringIO()
    bars = Bars(stream, delay=0, redraw_s=0)
    bars("ingest", 200_000, None, unit="rows")
    bars("ingest", 400_000, None, unit="rows")
    bars("site", 1, 3, unit="pages")  # a new step ends the ingest's bar
    bars("site", 3, 3, unit="pages")  # the total ends the step
    bars.close()
    drawn = stream.getvalue()
    assert "ingest: 400k rows" in drawn
    assert "site: 100%" in drawn and "3/3" in drawn
    slow = io.StringIO()
    waiting = Bars(slow, delay=60)  # a step shorter than the delay draws nothing
    waiting("join", 1, 2, unit="layers")
    waiting("join", 2, 2, unit="layers")
    assert slow.getvalue() == ""


# --------------------------------------------------------------------------- geo311 run


def test_run_ends_with_what_it_wrote_and_where_to_open_it(
    city: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, int, int | None, str]] = []

    @contextmanager
    def recorded(option: bool | None) -> Iterator[ProgressHook]:
        assert option is None  # neither --progress nor --no-progress

        def hook(step: str, done: int, total: int | None, *, unit: str) -> None:
            seen.append((step, done, total, unit))

        yield hook

    monkeypatch.setattr("geo311.cli.run.progress_bars", recorded)
    site = tmp_path / "site"
    args = ["run", str(city["export"]), "--city", str(city["manifest"]), "--no-tiles"]
    result = CliRunner().invoke(main, [*args, "--no-png", "--out", str(site)])
    assert result.exit_code == 0, result.output
    # the library told the hook how far each step got
    assert ("ingest", 7, None, "rows") in seen
    assert [s for s in seen if s[0] == "boundaries"] == [
        ("boundaries", 0, 1, "files"),
        ("boundaries", 1, 1, "files"),
    ]
    assert ("join", 1, 1, "layers") in seen
    assert ("indicators", 1, 1, "layers") in seen
    site_steps = [s[1] for s in seen if s[0] == "site"]
    # 0, each page this process wrote, then all 7 with those a forked process wrote
    assert site_steps[0] == 0 and site_steps[-1] == 7
    assert site_steps == sorted(set(site_steps))
    # files next to the manifest (layers/wards.geojson) are found without any data dir
    assert "assigned 6 requests to 2 wards (vintage 2020); 0 outside" in result.output
    summary = result.stdout.splitlines()[-5:]  # the log lines went to stderr
    assert summary[0] == f"site: 7 pages (3 map pages, 2 district pages) and 0 PNGs in {site}"
    assert summary[1] == f"open: {(site / 'index.html').resolve().as_uri()}"
    assert (site / "index.html").is_file()
    tables = site / "indicators"
    written = sorted(p.name for p in tables.iterdir())
    assert summary[2] == f"tables: {len(written)} files for 1 layer (wards) in {tables}"
    assert summary[3] == "requests: 7 rows in, 6 kept, 1 dropped (duplicate_service_request_id 1)"
    assert re.fullmatch(r"done in \d+\.\d s", summary[4])
    assert "%|" not in result.output  # no progress bar in captured output
    assert "INFO" not in result.output


def test_data_dir_finds_the_files_and_a_missing_one_stops_before_the_ingest(
    city: dict[str, Path], tmp_path: Path
) -> None:
    moved = tmp_path / "data" / "twoward"
    moved.parent.mkdir()
    city["folder"].rename(moved)  # the manifest's folder no longer holds the layer
    manifest = tmp_path / "twoward.toml"
    (moved / "twoward.toml").rename(manifest)
    out = tmp_path / "joined.parquet"
    ingested = tmp_path / "ingested.parquet"
    runner = CliRunner()
    assert runner.invoke(main, ["-q", "ingest", str(city["export"]), "--out", str(ingested)])
    join = ["join", str(ingested), "--city", str(manifest), "--out", str(out)]
    found = runner.invoke(main, ["-q", *join, "--data-dir", str(tmp_path / "data")])
    assert found.exit_code == 0, found.output
    assert gpd.read_parquet(out)["wards_id"].notna().sum() == 6

    nowhere = tmp_path / "no-such-export.csv"  # an ingest would fail on this first
    run_args = ["run", str(nowhere), "--city", str(manifest), "--out", str(tmp_path / "s")]
    missing = runner.invoke(main, run_args)
    assert missing.exit_code == 2
    error = missing.output.splitlines()[0]
    assert error.startswith("Error: boundary files of twoward not found")
    assert "wards 2020" in error and "--data-dir" in error
    assert f"looked first in the manifest's folder: wards 2020 ({tmp_path / 'layers'}" in error
    empty = tmp_path / "empty"
    empty.mkdir()
    wrong = runner.invoke(main, [*run_args, "--data-dir", str(empty)])
    assert wrong.exit_code == 2
    assert str(empty / "twoward" / "layers" / "wards.geojson") in wrong.output
    absent = runner.invoke(main, [*run_args, "--data-dir", str(tmp_path / "absent")])
    assert absent.exit_code == 2
    assert f"--data-dir {tmp_path / 'absent'} is not a folder" in absent.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("command", ["run", "join", "indicators", "city check"])
def test_data_dir_is_offered(command: str) -> None:
    result = CliRunner().invoke(main, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "--data-dir" in result.output


@pytest.mark.parametrize(
    "command", ["ingest", "join", "indicators", "maps", "run", "demo", "geocode"]
)
def test_progress_is_offered(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "--progress / --no-progress" in result.output

"""The geo311 command line, in-process with CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

import geo311
from geo311.cli import main

BULK_CSV = """service_request_id,service_code,service_name,status,requested_datetime,closed_date,lat,long
A-1,001,Pothole,closed,2024-03-01T10:00:00-05:00,2024-03-02T09:00:00-05:00,39.2904,-76.6122
A-2,002,Graffiti,open,2024-03-05T14:30:00-05:00,,39.3001,-76.6050
A-2,002,Graffiti,open,2024-03-05T14:30:00-05:00,,39.3001,-76.6050
A-3,001,Pothole,open,not a time,,,
"""


@pytest.fixture
def bulk_csv(tmp_path: Path) -> Path:
    path = tmp_path / "bulk.csv"
    path.write_text(BULK_CSV, encoding="utf-8")
    return path


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert geo311.__version__ in result.output


def test_schemas_lists_every_profile() -> None:
    result = CliRunner().invoke(main, ["schemas"])
    assert result.exit_code == 0
    for name in geo311.list_profiles():
        assert name in result.output


def test_schemas_prints_a_profile_that_loads_back(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schemas", "los_angeles"])
    assert result.exit_code == 0
    copy = tmp_path / "copy.toml"
    copy.write_text(result.output, encoding="utf-8")
    assert geo311.load_profile(copy) == geo311.get_profile("los_angeles")


def test_ingest_writes_parquet_and_ledger(bulk_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    args = ["ingest", str(bulk_csv), "--out", str(out), "--max-bad-timestamps", "0.5"]
    result = CliRunner().invoke(main, [*args, "--as-of", "2024-04-01"])
    assert result.exit_code == 0, result.output
    frame = gpd.read_parquet(out)
    assert frame.crs.to_epsg() == 4326
    assert sorted(frame["service_request_id"]) == ["A-1", "A-2", "A-3"]
    assert frame.set_index("service_request_id").loc["A-1", "service_code"] == "001"
    ledger = json.loads((tmp_path / "out.ledger.json").read_text())
    assert ledger["rows_in"] == 4
    assert ledger["rows_out"] == 3
    assert ledger["dropped"] == {"duplicate_service_request_id": 1}
    assert ledger["flagged"]["unparsed_requested_datetime"] == 1
    assert "rows in: 4" in result.output
    geo311.validate_requests(frame)


def test_ingest_refuses_to_overwrite(bulk_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["ingest", str(bulk_csv), "--out", str(out)])
    assert result.exit_code == 2
    assert "output exists" in result.output
    assert "--overwrite" in result.output
    assert out.read_bytes() == b"keep me"


def test_ingest_overwrite_replaces(bulk_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"old")
    args = ["ingest", str(bulk_csv), "--out", str(out), "--overwrite"]
    result = CliRunner().invoke(main, [*args, "--max-bad-timestamps", "0.5"])
    assert result.exit_code == 0, result.output
    assert len(gpd.read_parquet(out)) == 3


def test_too_many_bad_timestamps_is_one_clear_line(bulk_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    result = CliRunner().invoke(main, ["ingest", str(bulk_csv), "--out", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--max-bad-timestamps" in result.output
    assert "not a time" in result.output
    assert not out.exists()


def test_missing_input_is_one_clear_line(tmp_path: Path) -> None:
    args = ["ingest", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.parquet")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "no such file" in result.output
    assert "Traceback" not in result.output


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    args = ["-v", "ingest", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o.parquet")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, geo311.InputFileError)


def test_unknown_schema_lists_choices(bulk_csv: Path, tmp_path: Path) -> None:
    args = ["ingest", str(bulk_csv), "--schema", "atlantis", "--out", str(tmp_path / "o.parquet")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    for name in geo311.list_profiles():
        assert name in result.output


def test_installed_entry_point_runs(bulk_csv: Path, tmp_path: Path) -> None:
    exe = shutil.which("geo311", path=str(Path(sys.executable).parent))
    assert exe is not None, "the geo311 console script is not installed beside this Python"
    out = tmp_path / "sub.parquet"
    proc = subprocess.run(
        [exe, "-q", "ingest", str(bulk_csv), "--out", str(out), "--max-bad-timestamps", "0.5"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    bad = subprocess.run(
        [exe, "ingest", str(tmp_path), "--out", str(tmp_path / "x.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "is a directory" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_geocode_fills_missing_coordinates_from_a_table(tmp_path: Path) -> None:
    raw = tmp_path / "bulk.csv"
    raw.write_text(
        "service_request_id,service_name,status,requested_datetime,address,lat,long\n"
        "G-1,Pothole,open,2024-03-01T10:00:00-05:00,100 N HOLLIDAY STREET,,\n"
        "G-2,Pothole,open,2024-03-01T11:00:00-05:00,9 NOWHERE LANE,,\n"
        "G-3,Pothole,open,2024-03-01T12:00:00-05:00,5 ELM ST,39.3001,-76.6050\n",
        encoding="utf-8",
    )
    table = tmp_path / "points.csv"
    table.write_text(
        "addr,x,y\n100 N Holliday St,-76.6105,39.2917\n5 Elm St,-76.7000,39.2000\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    ingested = tmp_path / "req.parquet"
    args = ["-q", "ingest", str(raw), "--out", str(ingested), "--as-of", "2024-04-01"]
    assert runner.invoke(main, args).exit_code == 0
    out = tmp_path / "geo.parquet"
    result = runner.invoke(main, [
        "-q", "geocode", str(ingested), "--geocoder", f"table:{table}",
        "--address-column", "addr", "--lon-column", "x", "--lat-column", "y",
        "--out", str(out),
    ], env={"GEO311_CACHE_DIR": str(tmp_path / "cache")})  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = gpd.read_parquet(out).set_index("service_request_id")
    assert (frame.loc["G-1", "lat"], frame.loc["G-1", "long"]) == (39.2917, -76.6105)
    assert frame.loc["G-1", "geocode_match"] == "exact"
    assert frame.loc["G-2", "geocode_match"] == "none"
    assert pd.isna(frame.loc["G-2", "lat"])
    # Good coordinates are never replaced, even when the table disagrees.
    assert (frame.loc["G-3", "lat"], frame.loc["G-3", "long"]) == (39.3001, -76.6050)
    ledger = json.loads((tmp_path / "geo.ledger.json").read_text())
    assert ledger["stages"][-1]["stage"] == "geocode"
    assert ledger["rows_in"] == ledger["rows_out"] == 3
    for wrong in ("nominatim", "arcgis:", "table:", "census:x"):
        bad = runner.invoke(
            main,
            ["geocode", str(ingested), "--geocoder", wrong, "--out", str(tmp_path / "x.parquet")],
        )
        assert bad.exit_code == 2
        assert "census" in bad.output
        assert "arcgis:URL" in bad.output
        assert "table:FILE" in bad.output


def test_demo_command_refuses_to_overwrite_before_building(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "README.txt").write_text("mine", encoding="utf-8")
    args = ["demo", "--requests", "100", "--no-png", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.startswith("Error: output exists")
    assert "--overwrite" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["README.txt"]


def test_placeholder_thresholds_are_options(tmp_path: Path) -> None:
    """--placeholder NAME=VALUE overrides the profile: 3 addresses at one point flag it at 3."""
    rows = [
        f"S-{i},001,Pothole,open,2024-03-0{i}T10:00:00-05:00,,39.2904,-76.6122,{i}00 Main St"
        for i in range(1, 4)
    ]
    export = tmp_path / "stack.csv"
    header = "service_request_id,service_code,service_name,status,requested_datetime,"
    export.write_text(header + "closed_date,lat,long,address\n" + "\n".join(rows) + "\n")

    def quality(*options: str) -> list[str]:
        out = tmp_path / "o.parquet"
        args = ["ingest", str(export), "--out", str(out), "--overwrite", *options]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return sorted(set(gpd.read_parquet(out)["coord_quality"]))

    assert quality() == ["ok"]  # three requests are below the default of 10
    assert quality("--placeholder", "min_count=3") == ["placeholder"]
    bad = CliRunner().invoke(main, ["ingest", str(export), "--out", str(tmp_path / "x.parquet"),
                                    "--placeholder", "min_count=many"])  # fmt: skip
    assert bad.exit_code == 2
    assert "--placeholder min_count='many'" in bad.output


def test_schemas_infer_writes_a_profile_that_ingests(tmp_path: Path) -> None:
    export = tmp_path / "city.csv"
    export.write_text(
        "Ticket,Opened,Closed,Kind,Lat,Lon\n"
        "T-1,2024-03-01 10:00,2024-03-02 09:00,Pothole,39.2904,-76.6122\n"
        "T-2,2024-03-05 14:30,,Graffiti,39.3001,-76.6050\n"
        "T-3,2024-03-06 08:15,2024-03-06 12:00,Pothole,39.2950,-76.6100\n",
        encoding="utf-8",
    )
    profile = tmp_path / "city.toml"
    args = [
        "schemas",
        "infer",
        str(export),
        "--timezone",
        "America/New_York",
        "--out",
        str(profile),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "service_request_id" in result.output  # the mapping is shown
    out = tmp_path / "r.parquet"
    ingested = CliRunner().invoke(
        main, ["ingest", str(export), "--schema", str(profile), "--out", str(out)]
    )
    assert ingested.exit_code == 0, ingested.output
    frame = gpd.read_parquet(out)
    assert sorted(frame["service_request_id"]) == ["T-1", "T-2", "T-3"]
    assert frame["requested_datetime"].notna().all()
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_city_init_then_check(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "la"
    folder.mkdir()
    for path in (shared_data / "los_angeles" / "boundaries").glob("*.geojson"):
        shutil.copy(path, folder / path.name)
    result = CliRunner().invoke(main, ["city", "init", str(folder), "--city", "la_copy"])
    assert result.exit_code == 0, result.output
    manifest = folder / "la_copy.toml"
    assert manifest.is_file()
    checked = CliRunner().invoke(main, ["city", "check", str(manifest)])
    assert checked.exit_code == 0, checked.output
    assert "0 errors" in checked.output
    (folder / "council_districts_2012.geojson").unlink()  # a layer file goes missing
    broken = CliRunner().invoke(main, ["city", "check", str(manifest)])
    assert broken.exit_code == 1
    assert "ERROR" in broken.output


@pytest.mark.parametrize("command", ["run", "indicators"])
def test_type_and_family_options_are_offered(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "--type" in result.output
    assert "--family" in result.output


def test_run_type_typo_exits_2_before_the_join(tmp_path: Path, shared_data: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("\n".join(BULK_CSV.splitlines()[:-1]) + "\n", encoding="utf-8")
    args = ["run", str(good), "--city", "baltimore", "--out", str(tmp_path / "s")]
    args += ["--data-dir", str(shared_data)]  # the boundary files are checked first
    result = CliRunner().invoke(main, [*args, "--type", "pothoel", "--as-of", "2024-04-01"])
    assert result.exit_code == 2
    assert 'did you mean "Pothole"' in result.output
    result = CliRunner().invoke(
        main, [*args, "--family", "missed pickup", "--as-of", "2024-04-01"]
    )
    assert result.exit_code == 2
    assert "none of which is among the service types" in result.output
    assert not (tmp_path / "s").exists()

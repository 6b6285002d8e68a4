"""Bad option values and inputs on the command line: one line, exit status 2, no traceback.

Each case runs in-process (CliRunner) and once as a real subprocess of the
installed ``geo311`` entry point.  Fixtures are tiny files written here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from geo311.cli import main

HEADER = "service_request_id,service_name,status,requested_datetime,lat,long\n"
ONE_ROW = HEADER + "A-1,Pothole,open,2019-10-01T10:00:00-04:00,39.2904,-76.6122\n"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A one-row Open311-style export in Baltimore."""
    path = tmp_path / "one.csv"
    path.write_text(ONE_ROW, encoding="utf-8")
    return path


@pytest.fixture
def header_only(tmp_path: Path) -> Path:
    """An export with its header and no rows."""
    path = tmp_path / "header.csv"
    path.write_text(HEADER, encoding="utf-8")
    return path


def _cases(tmp_path: Path, export: Path, header_only: Path) -> dict[str, list[str]]:
    return {
        "as_of": ["run", str(export), "--city", "baltimore", "--as-of", "notadate",
                  "--out", str(tmp_path / "x")],
        "timezone": ["ingest", str(export), "--timezone", "Mars/Base",
                     "--out", str(tmp_path / "x.parquet")],
        "period": ["run", str(export), "--city", "baltimore", "--period", "2019-13-45:",
                   "--out", str(tmp_path / "p")],
        "vintage": ["run", str(export), "--city", "baltimore", "--vintage", "neighborhoods",
                    "--out", str(tmp_path / "v")],
        "header_only": ["run", str(header_only), "--city", "baltimore", "--no-png", "--no-tiles",
                        "--out", str(tmp_path / "h")],
    }  # fmt: skip


@pytest.fixture
def cases(tmp_path: Path, export: Path, header_only: Path) -> dict[str, list[str]]:
    """Command lines, by case, each with one bad option value or input."""
    return _cases(tmp_path, export, header_only)


EXPECTED = {
    "as_of": "--as-of 'notadate'",
    "timezone": "--timezone 'Mars/Base'",
    "period": "--period",
    "vintage": "NAME=VALUE",
    "header_only": "header.csv",
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_bad_value_is_one_line_and_exit_2(
    case: str, tmp_path: Path, cases: dict[str, list[str]], shared_data: Path
) -> None:
    args = cases[case]
    result = CliRunner().invoke(main, ["-q", *args], env={"GEO311_DATA_DIR": str(shared_data)})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert 1 <= len(lines) <= 3, result.output
    assert lines[0].startswith("Error: ")
    assert EXPECTED[case] in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "x.parquet").exists()


def test_verbose_shows_the_traceback_of_a_bad_option(tmp_path: Path, export: Path) -> None:
    args = ["-v", *_cases(tmp_path, export, export)["timezone"]]
    result = CliRunner().invoke(main, args)
    assert type(result.exception).__name__ == "OptionError"


def test_a_bug_is_not_dressed_as_a_user_error(
    tmp_path: Path, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        msg = "bug"
        raise KeyError(msg)

    monkeypatch.setattr("geo311.cli.ingest.run", broken)
    result = CliRunner().invoke(
        main, ["ingest", str(export), "--out", str(tmp_path / "o.parquet")]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, KeyError)


def test_installed_entry_point_prints_at_most_three_lines(
    tmp_path: Path, export: Path, header_only: Path, shared_data: Path
) -> None:
    exe = shutil.which("geo311", path=str(Path(sys.executable).parent))
    assert exe is not None, "the geo311 console script is not installed beside this Python"
    env = {**os.environ, "GEO311_DATA_DIR": str(shared_data)}
    cases = _cases(tmp_path, export, header_only)
    for case in ("as_of", "timezone", "header_only"):
        proc = subprocess.run(
            [exe, "-q", *cases[case]], capture_output=True, text=True, check=False, env=env
        )
        assert proc.returncode == 2, (case, proc.stderr)
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        assert 1 <= len(lines) <= 3, (case, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert EXPECTED[case] in proc.stderr

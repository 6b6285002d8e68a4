"""The out-of-core run (``chunk_rows``) gives exactly the in-memory run's tables and ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from pandas.testing import assert_frame_equal

from geo311._errors import OptionError
from geo311.cli import main
from geo311.demo.city import make_demo_city
from geo311.pipeline import PipelineResult, load_requests, run
from geo311.publish import write_requests
from geo311.scale.cluster import parse_scheduler
from geo311.scale.parts import SELECTION_COLUMNS

#: Rows per chunk: small and odd, so that parts end inside runs of repeated ids.
CHUNK = 997


def _ledger(result: PipelineResult) -> dict:
    """The ledger without the clock: without an as-of time each run cleans as of its own now."""
    out = result.ledger.to_dict()
    for stage in out["stages"]:
        stage["notes"] = [n for n in stage["notes"] if not n.startswith("as_of ")]
    return out


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def assert_same_run(expected: PipelineResult, got: PipelineResult) -> None:
    """Every table of every layer, the ledger and the metadata are equal."""
    assert _ledger(got) == _ledger(expected)
    assert got.metadata == expected.metadata
    assert list(got.tables) == list(expected.tables)
    for key, tables in expected.tables.items():
        for name, value in tables._asdict().items():
            other = getattr(got.tables[key], name)
            if isinstance(value, pd.DataFrame):
                assert_frame_equal(other, value, obj=f"{key}.{name}")
            else:  # metadata: as JSON, where NaN (no population total) equals NaN
                assert _json(other) == _json(value), f"{key}.{name}"


def demo_inputs(root: Path, n_requests: int) -> tuple[list[Path], Path, str]:
    """Two CSV files of a demo city (the second repeating rows of the first) and its manifest."""
    from geo311.demo import write_demo_inputs  # noqa: PLC0415

    city = make_demo_city(seed=16, n_requests=n_requests)
    paths = write_demo_inputs(city, root)
    raw = pd.read_csv(paths["raw_requests"], dtype=str, keep_default_na=False)
    half = len(raw) // 2
    first, second = root / "first.csv", root / "second.csv"
    raw.iloc[:half].to_csv(first, index=False)
    # an export taken later repeats the end of the earlier one: ids repeated across files
    raw.iloc[half - 300 :].to_csv(second, index=False)
    return [first, second], paths["manifest"], str(city.as_of)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, str, PipelineResult]:
    inputs, manifest, as_of = demo_inputs(tmp_path_factory.mktemp("scale-demo"), 8_000)
    return inputs, manifest, as_of, run(inputs, city=manifest, as_of=as_of)


def test_demo_tables_equal_in_memory(demo: tuple) -> None:
    inputs, manifest, as_of, expected = demo
    got = run(inputs, city=manifest, as_of=as_of, chunk_rows=CHUNK)
    assert_same_run(expected, got)
    clean = got.ledger.stage("clean")
    assert clean.dropped["duplicate_service_request_id"] >= 300  # across files and parts
    assert clean.flagged["coords_placeholder"] > 0
    assert len(got.requests) == expected.ledger.rows_out
    assert "geometry" not in got.requests
    assert got.requests.attrs == expected.requests.attrs


def test_the_parts_are_joined_by_two_processes_and_equal_one(
    demo: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo311 import background  # noqa: PLC0415
    from geo311.scale import stream  # noqa: PLC0415

    if not background.can_fork():
        pytest.skip("parts are joined by a forked child on Linux with 2+ CPUs")
    inputs, manifest, as_of, _ = demo
    options = {
        "city": manifest,
        "as_of": as_of,
        "layers": ["neighborhoods"],
        "chunk_rows": 2_000,  # 4 parts or more: both processes get some
        "stop_after": "join",
    }
    join_part = stream.join_part

    def marked(*args: Any, **kwargs: Any) -> Any:
        (tmp_path / f"pid-{os.getpid()}").touch()
        return join_part(*args, **kwargs)

    monkeypatch.setattr(stream, "join_part", marked)
    both = run(inputs, **options)
    assert len(list(tmp_path.glob("pid-*"))) == 2  # this process and the child joined parts
    monkeypatch.setattr(background, "can_fork", lambda: False)
    one = run(inputs, **options)
    assert both.ledger.to_dict() == one.ledger.to_dict()
    assert_frame_equal(both.requests, one.requests)


def test_demo_one_layer_and_stop_after_join(demo: tuple) -> None:
    inputs, manifest, as_of, _ = demo
    options = {"city": manifest, "as_of": as_of, "layers": ["council_districts"]}
    expected = run(inputs, **options, stop_after="join")
    got = run(inputs, **options, stop_after="join", chunk_rows=2_500)
    assert got.ledger.to_dict() == expected.ledger.to_dict()
    codes = [c for c, t in got.requests.dtypes.items() if t == "category"]
    assert {"council_districts_id", "service_name", "status"} <= set(codes)
    values = got.requests.astype(dict.fromkeys(codes, "string"))  # the same text, as codes
    want = pd.DataFrame(expected.requests[list(values.columns)]).astype(
        dict.fromkeys(codes, "string")
    )
    assert_frame_equal(values, want)


def test_stop_after_ingest_keeps_the_selection_columns(demo: tuple) -> None:
    inputs, manifest, as_of, _ = demo
    got = run(inputs, city=manifest, as_of=as_of, chunk_rows=CHUNK, stop_after="ingest")
    expected = run(inputs, city=manifest, as_of=as_of, stop_after="ingest")
    assert got.ledger.to_dict() == expected.ledger.to_dict()
    assert list(got.requests.columns) == [c for c in SELECTION_COLUMNS if c in expected.requests]
    columns = list(got.requests.columns)
    assert_frame_equal(got.requests, pd.DataFrame(expected.requests[columns]), check_dtype=False)


def test_baltimore_two_files(shared_data: Path, baltimore_run: tuple) -> None:
    site, inputs, _ = baltimore_run  # the in-memory run, shared with the site tests
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        got = run(
            inputs,
            city="baltimore",
            schema="baltimore",
            layers=["neighborhoods", "council_districts", "census_tracts"],
            chunk_rows=400,
        )
    assert_same_run(site.result, got)


def test_los_angeles_two_files(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "los_angeles"
    inputs = [
        folder / "records" / "myla311_2017-12-27_2017-12-31.csv.gz",
        folder / "records" / "myla311_2018-01-01_2018-01-04.csv.gz",
    ]
    options = {
        "city": "los_angeles",
        "as_of": "2018-01-05",
        "data_dir": shared_data,
        # both layers: the neighbourhood council set of 2018-10 is not valid on these dates,
        # so it is mapped only when asked for (its requests flagged outside its validity)
        "layers": ["neighborhood_councils", "council_districts"],
    }
    expected = run(inputs, **options)
    got = run(inputs, **options, chunk_rows=3_001, dataset=tmp_path / "joined")
    assert_same_run(expected, got)
    # the kept parts (neighbourhood councils and council districts) are the joined requests
    path, _ = write_requests(expected, tmp_path / "in-memory.parquet")
    want = load_requests(path, stage="join").requests
    assert {"neighborhood_councils_id", "council_districts_id"} <= set(want.columns)
    back = load_requests(tmp_path / "joined", stage="join").requests
    assert_frame_equal(back, want, check_categorical=False)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"chunk_rows": 0}, "at least 1"),
        ({"chunk_rows": 10, "keep_raw": True}, "keep_raw"),
        ({"chunk_rows": 10, "qa": True}, "keep_raw / qa"),
        ({"scheduler": "local:0"}, "local:N"),
        ({"scheduler": "http://host:8786"}, "tcp://HOST:PORT"),
    ],
)
def test_refused_options_say_what_to_write(demo: tuple, options: dict, words: str) -> None:
    inputs, manifest, as_of, _ = demo
    with pytest.raises(OptionError, match=words):
        run(inputs, city=manifest, as_of=as_of, **options)


def test_a_saved_result_is_not_chunked(demo: tuple) -> None:
    _, manifest, as_of, expected = demo
    with pytest.raises(OptionError, match="give the export files"):
        run(expected, city=manifest, as_of=as_of, chunk_rows=10)


def test_parse_scheduler() -> None:
    assert parse_scheduler(" local:4 ") == ("local", 4)
    assert parse_scheduler("tls://10.0.0.1:8786") == ("address", "tls://10.0.0.1:8786")
    for bad in ("local", "local:x", "tcp://", "dask://h:1"):
        with pytest.raises(OptionError, match="--scheduler"):
            parse_scheduler(bad)


def test_cli_unknown_scheduler_is_one_line(demo: tuple, tmp_path: Path) -> None:
    pytest.importorskip("folium")
    inputs, manifest, _, _ = demo
    args = ["run", *map(str, inputs), "--city", str(manifest), "--out", str(tmp_path / "site")]
    result = CliRunner().invoke(main, [*args, "--scheduler", "spark://host:7077"])
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (
        "Error: --scheduler 'spark://host:7077': write local:N (N worker processes on this "
        "machine) or tcp://HOST:PORT (the scheduler of a running Dask cluster)"
    )
    assert "Traceback" not in result.output


def test_dask_is_imported_only_with_a_scheduler() -> None:
    code = (
        "import sys, geo311, geo311.cli, geo311.publish, geo311.scale.stream; "
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_join_notes_name_the_vintages_of_every_part_in_layer_order() -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from geo311.ledger import Ledger  # noqa: PLC0415
    from geo311.scale.combine import combine  # noqa: PLC0415

    def part(used: str, rows: int) -> tuple[pd.DataFrame, Ledger]:
        ledger = Ledger()
        ledger.record(
            "join:wards",
            rows_in=rows,
            rows_out=rows,
            flagged={"outside": 1},
            notes=[f"vintages used: {used}", "tolerance_m=0.0"],
        )
        return pd.DataFrame({"wards_id": pd.Categorical(["b"] * rows)}), ledger

    layers = {"wards": [SimpleNamespace(vintage=v) for v in ("2010", "2020", "2030")]}
    requests, ledger = combine([part("2020", 2), part("2010, 2020", 3), part("none", 1)], layers)
    stage = ledger.stage("join:wards")
    assert (stage.rows_in, stage.flagged) == (6, {"outside": 3})
    assert stage.notes == ["vintages used: 2010, 2020", "tolerance_m=0.0"]
    assert len(requests) == 6


def test_an_export_a_worker_cannot_see_is_one_clear_error(tmp_path: Path) -> None:
    from geo311._errors import InputFileError  # noqa: PLC0415
    from geo311.scale.cluster import _read_on_worker  # noqa: PLC0415

    with pytest.raises(InputFileError, match="storage every worker sees at the same path"):
        _read_on_worker(tmp_path / "export.csv", 0, folder=tmp_path, options={})

"""The out-of-core run keeps its joined parts as a GeoParquet dataset equal to the in-memory file."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.dataset as pads
import pytest
from click.testing import CliRunner
from pandas.testing import assert_frame_equal
from test_scale import CHUNK, demo_inputs

from geo311._errors import InputError, OptionError, OutputExistsError
from geo311.cli import main
from geo311.ledger import ledger_path
from geo311.pipeline import PipelineResult, load_requests, run
from geo311.publish import write_requests

LAYERS = ["neighborhoods", "council_districts"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, str, PipelineResult]:
    """Two demo export files and the in-memory run joined to two layers, reloaded from its file."""
    root = tmp_path_factory.mktemp("dataset-demo")
    inputs, manifest, as_of = demo_inputs(root, 3_000)
    joined = run(inputs, city=manifest, as_of=as_of, layers=LAYERS, stop_after="join")
    path, _ = write_requests(joined, root / "in-memory.parquet")
    return inputs, manifest, as_of, load_requests(path, stage="join")


def assert_same_requests(expected: PipelineResult, folder: Path) -> None:
    """The dataset read back equals the in-memory run's file read back; so do their ledgers."""
    back = load_requests(folder, stage="join")
    assert_frame_equal(back.requests, expected.requests, check_categorical=False)
    for column, dtype in expected.requests.dtypes.items():
        assert back.requests[column].dtype.name == dtype.name, column
    assert back.requests.crs == expected.requests.crs
    assert back.ledger.to_dict() == expected.ledger.to_dict()


def test_kept_parts_read_back_as_the_in_memory_requests(demo: tuple, tmp_path: Path) -> None:
    inputs, manifest, as_of, expected = demo
    folder = tmp_path / "joined"
    got = run(
        inputs,
        city=manifest,
        as_of=as_of,
        layers=LAYERS,
        stop_after="join",
        chunk_rows=CHUNK,
        dataset=folder,
    )
    parts = sorted(folder.glob("part-*.parquet"))
    assert len(parts) == -(-got.ledger.stage("clean").rows_in // CHUNK) > 2  # one per chunk
    assert_same_requests(expected, folder)
    assert ledger_path(folder).name == "joined.ledger.json"
    one = gpd.read_parquet(parts[1])  # every part is a GeoParquet file of its own
    assert one.crs == "EPSG:4326"
    assert "neighborhoods_id" in one
    assert pads.dataset(folder).count_rows() == len(expected.requests)  # one table to readers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined", "joined.ledger.json"]


def test_an_existing_dataset_needs_overwrite(demo: tuple, tmp_path: Path) -> None:
    inputs, manifest, as_of, expected = demo
    folder = tmp_path / "joined"
    folder.mkdir()
    (folder / "part-00000.parquet").write_text("an older run")
    options = {"city": manifest, "as_of": as_of, "layers": LAYERS, "chunk_rows": 1_500}
    with pytest.raises(OutputExistsError, match="joined"):
        run(inputs, **options, dataset=folder)
    run(inputs, **options, dataset=folder, overwrite=True, stop_after="join")
    assert_same_requests(expected, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined", "joined.ledger.json"]


def test_an_interrupted_join_leaves_no_dataset(
    demo: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo311.scale import stream  # noqa: PLC0415

    inputs, manifest, as_of, _ = demo
    keep_part = stream.write_part

    def fail_third(joined: gpd.GeoDataFrame, staging: Path, name: str) -> Path:
        # the third part, in whichever process joins it (a forked child joins some)
        if name == "part-00002.parquet":
            raise KeyboardInterrupt
        return keep_part(joined, staging, name)

    monkeypatch.setattr(stream, "write_part", fail_third)
    with pytest.raises(KeyboardInterrupt):
        run(
            inputs,
            city=manifest,
            as_of=as_of,
            layers=LAYERS,
            chunk_rows=CHUNK,
            dataset=tmp_path / "j",
        )
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its staging copy


def test_a_dataset_in_memory_is_refused(demo: tuple, tmp_path: Path) -> None:
    inputs, manifest, as_of, _ = demo
    with pytest.raises(OptionError, match="only the out-of-core run"):
        run(inputs, city=manifest, as_of=as_of, dataset=tmp_path / "j")


def test_a_folder_without_parts_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no part-\*\.parquet files"):
        load_requests(tmp_path)


def test_cli_ingest_run_and_indicators_pass_datasets_along(demo: tuple, tmp_path: Path) -> None:
    pytest.importorskip("folium")
    inputs, manifest, as_of, expected = demo
    ingested = tmp_path / "ingested"
    args = ["ingest", *map(str, inputs), "--as-of", as_of, "--chunk-rows", "1000"]
    result = CliRunner().invoke(main, [*args, "--out", str(ingested)])
    assert result.exit_code == 0, result.output
    assert f"wrote {ingested} and {tmp_path / 'ingested.ledger.json'}" in result.output
    assert "requested: " in result.output
    assert len(list(ingested.glob("part-*.parquet"))) == 4
    kept = tmp_path / "kept"
    args = ["run", str(ingested), "--city", str(manifest), "--as-of", as_of]
    args += ["--out", str(tmp_path / "site"), "--no-png", "--chunk-rows", "1000"]
    args += ["--keep-requests", str(kept), *[f"--layer={k}" for k in LAYERS]]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"joined requests: {kept}" in result.output
    assert len(list(kept.glob("part-*.parquet"))) == 4  # 3,300 rows in chunks of 1,000
    back = load_requests(kept, stage="join")
    assert_frame_equal(back.requests, expected.requests, check_categorical=False)
    result = CliRunner().invoke(
        main,
        ["indicators", str(kept), "--city", str(manifest), "--as-of", as_of,
         "--layer", "council_districts", "--out", str(tmp_path / "tables")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "tables" / "council_districts.csv").is_file()


def test_compact_reading_gives_the_same_tables(demo: tuple, tmp_path: Path) -> None:
    _, manifest, as_of, expected = demo
    path = tmp_path / "joined.parquet"
    write_requests(expected, path)
    compact = load_requests(path, stage="join", compact=True)
    assert not {"geometry", "lat", "long", "description", "service_request_id"} & set(
        compact.requests.columns
    )
    assert len(compact.requests) == len(expected.requests)
    options = {"city": manifest, "as_of": as_of, "layers": LAYERS}
    want, got = run(expected, **options), run(compact, **options)
    for key in LAYERS:
        for name, frame in want.tables[key]._asdict().items():
            if isinstance(frame, pd.DataFrame):
                assert_frame_equal(getattr(got.tables[key], name), frame, obj=f"{key}.{name}")


@pytest.fixture(scope="module")
def ingested(demo: tuple, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PipelineResult]:
    """A kept out-of-core ingest of the demo files, and the in-memory ingest's file read back."""
    inputs, _, as_of, _ = demo
    root = tmp_path_factory.mktemp("ingested")
    run(inputs, as_of=as_of, stop_after="ingest", chunk_rows=CHUNK, dataset=root / "ingested")
    memory = run(inputs, as_of=as_of, stop_after="ingest")
    path, _ = write_requests(memory, root / "in-memory.parquet")
    return root / "ingested", load_requests(path)


def test_a_kept_ingest_reads_back_as_the_in_memory_ingest(ingested: tuple) -> None:
    folder, expected = ingested
    back = load_requests(folder)
    assert len(list(folder.glob("part-*.parquet"))) == 4  # 3,300 rows in parts of 997
    assert_frame_equal(back.requests, expected.requests, check_categorical=False)
    assert back.requests.attrs == expected.requests.attrs
    assert back.ledger.to_dict() == expected.ledger.to_dict()


@pytest.mark.parametrize("chunked", [True, False])
def test_a_run_continues_from_a_kept_ingest(demo: tuple, ingested: tuple, chunked: bool) -> None:
    _, manifest, as_of, _ = demo
    folder, _ = ingested
    expected = run(load_requests(folder), city=manifest, as_of=as_of, layers=LAYERS)
    got = run(
        folder, city=manifest, as_of=as_of, layers=LAYERS, chunk_rows=CHUNK if chunked else None
    )
    assert got.ledger.to_dict() == expected.ledger.to_dict()
    for key in LAYERS:
        for name, frame in expected.tables[key]._asdict().items():
            if isinstance(frame, pd.DataFrame):
                assert_frame_equal(getattr(got.tables[key], name), frame, obj=f"{key}.{name}")
    assert list(folder.glob("part-*.parquet"))  # the user's parts are never removed


def test_a_run_continues_from_a_kept_join(demo: tuple, tmp_path: Path) -> None:
    inputs, manifest, as_of, expected = demo
    options = {"city": manifest, "as_of": as_of, "layers": LAYERS}
    run(inputs, **options, stop_after="join", chunk_rows=CHUNK, dataset=tmp_path / "joined")
    want = run(expected, **options)
    for chunked in (CHUNK, None):
        got = run(tmp_path / "joined", **options, chunk_rows=chunked)
        assert got.stage == "indicators"
        assert ("geometry" in got.requests) is (chunked is None)  # out of core: compact columns
        for key in LAYERS:
            assert_frame_equal(got.tables[key].indicators, want.tables[key].indicators)

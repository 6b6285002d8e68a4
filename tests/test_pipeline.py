"""The one pipeline: `geo311 run` on the real samples, and `run` stage by stage in memory."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from geo311 import background, pipeline
from geo311._errors import ConfigError, OutputExistsError, SchemaError
from geo311.cli import main
from geo311.indicators import patterns, survival_batches
from geo311.indicators.tables import LayerTables
from geo311.join import assign
from geo311.join.manifest import ManifestError, load_manifest
from geo311.pipeline import PipelineResult, load_requests, run, site_layers
from geo311.publish import run_city, write_indicators, write_requests
from geo311.site import display_cache

pytest.importorskip("folium")

SAMPLES = ("sr311_2019_oct_sample.csv", "sr311_2018_sample.csv")


@pytest.fixture(scope="module")
def baltimore_site(baltimore_run: tuple) -> tuple:
    return baltimore_run


def test_run_builds_the_site_for_three_layers(baltimore_site: tuple) -> None:
    result, inputs, root = baltimore_site
    site = root / "site"
    assert (site / "index.html").is_file()
    layers = {p.name.removesuffix(".csv") for p in (site / "indicators").glob("*.csv")}
    assert {"neighborhoods", "council_districts", "census_tracts"} <= layers
    neighborhoods = pd.read_csv(site / "indicators" / "neighborhoods.csv", dtype={"area_id": str})
    assert len(neighborhoods) == 278  # the 2010 NSA set the 2018-2019 samples fall in
    assert (
        json.loads((site / "indicators" / "neighborhoods.json").read_text())["vintage"] == "2010"
    )
    districts = pd.read_csv(site / "indicators" / "council_districts.csv", dtype={"area_id": str})
    assert len(districts) == 14
    pages = sorted(p.name for p in site.glob("district-*.html"))
    assert len(pages) == 14
    # every input row is accounted for, and the counted requests add up across layers
    rows_in = sum(len(pd.read_csv(p, usecols=[0])) for p in inputs)
    assert result.ledger.rows_in == rows_in
    joined = gpd.read_parquet(result.requests_path)
    counted = (
        joined["requested_datetime"].notna()
        & ~joined["is_duplicate"]
        & ~joined["is_transfer"]
        & ~joined["is_proactive"]
    )
    for key, table in (("neighborhoods", neighborhoods), ("council_districts", districts)):
        assert table["requests"].sum() == (counted & joined[f"{key}_id"].notna()).sum()


def test_run_keeps_request_level_data_out_of_the_site(baltimore_site: tuple) -> None:
    result, _, root = baltimore_site
    site = root / "site"
    published = [p for p in site.rglob("*") if p.is_file()]
    assert not [p for p in published if p.suffix == ".parquet"]
    assert not [p for p in published if "ledger" in p.name]
    joined = gpd.read_parquet(result.requests_path)
    assert "neighborhoods_id" in joined
    addresses = set(joined["address"].dropna().astype(str).head(200))
    text = "".join(p.read_text("utf-8", errors="ignore") for p in published if p.suffix == ".html")
    assert not [a for a in addresses if len(a) > 8 and a in text]
    assert (root / "work" / "joined.ledger.json").is_file()


def test_run_refuses_request_data_inside_the_site(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO311_DATA_DIR", str(shared_data))
    with pytest.raises(SchemaError, match="must not be published"):
        run_city(
            shared_data / "baltimore" / SAMPLES[1],
            tmp_path / "site",
            city="baltimore",
            keep_requests=tmp_path / "site" / "requests.parquet",
        )


def test_cli_run_and_maps(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO311_DATA_DIR", str(shared_data))
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    for module, memo in (
        (assign, "_INDEXES"),
        (assign, "_OUTLINES"),
        (display_cache, "_SIMPLIFIED"),
    ):
        monkeypatch.setattr(module, memo, OrderedDict())  # as in a new process
    runner = CliRunner()
    sample = str(shared_data / "baltimore" / SAMPLES[1])
    site = tmp_path / "site"
    # the council districts alone: 14 areas to index and simplify from an empty cache
    # (the command on the 278 neighbourhoods is conftest's missed_pickup_run)
    args = ["run", sample, "--city", "baltimore", "--layer", "council_districts"]
    args += ["--no-tiles", "--no-png", "--out", str(site)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (site / "index.html").is_file()
    # the grid indexes (shared with geo311 join) and display geometry, for the next run
    assert list((tmp_path / "cache" / "indexes").glob("*.npz"))
    assert list((tmp_path / "cache" / "display").glob("*.npz"))
    assert "district pages" in result.output
    again = runner.invoke(main, args)
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    rebuilt = tmp_path / "rebuilt"
    maps_args = ["maps", str(site / "indicators"), "--no-tiles", "--no-png", "--out", str(rebuilt)]
    result = runner.invoke(main, maps_args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in rebuilt.glob("*.html")) == sorted(
        p.name for p in site.glob("*.html")
    )


def test_baltimore_site_meets_size_and_displacement_budgets(baltimore_site: tuple) -> None:
    result, _, root = baltimore_site
    site = result.site
    sizes = {path.name: size for path, size in site.sizes.items()}
    maps = [name for name in sizes if name.startswith("map-neighborhoods")]
    assert "map-neighborhoods.html" in maps  # all four indicators as switchable layers
    assert maps
    assert max(sizes[name] for name in maps) <= 1_500_000  # 278 neighbourhoods, self-contained
    districts = [name for name in sizes if name.startswith("district-")]
    assert max(sizes[name] for name in districts) <= 1_000_000
    assert set(site.max_displacement_m) >= {"neighborhoods", "council_districts", "census_tracts"}
    assert max(site.max_displacement_m.values()) <= 10.0
    recorded = json.loads((root / "site" / "site.json").read_text(encoding="utf-8"))
    assert recorded


# --------------------------------------------------------------------------- the core


def _dates(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True))


def test_site_layers_are_the_manifests_with_a_file_for_the_dates() -> None:
    la = load_manifest("los_angeles")
    assert site_layers(la, _dates("2020-01-02T10:00Z")) == [
        "neighborhood_councils",
        "council_districts",
    ]
    # the certified councils start on 2018-10-29; the 2021 districts have no local file
    assert site_layers(la, _dates("2017-12-28T10:00Z")) == ["council_districts"]
    assert site_layers(la, _dates("2023-05-01T10:00Z")) == ["neighborhood_councils"]
    # the days are the city's: 05:00 UTC on the 29th is still the 28th in Los Angeles
    assert site_layers(la, _dates("2018-10-29T05:00Z", "NaT")) == ["council_districts"]
    assert "neighborhood_councils" in site_layers(la, _dates("2018-10-29T08:00Z"))
    baltimore = load_manifest("baltimore")
    mapped = ["neighborhoods", "council_districts", "census_tracts"]
    assert list(baltimore.site_layers) == mapped  # csas, police, ZIPs are joined on request
    assert site_layers(baltimore, _dates("2019-10-01T10:00Z")) == mapped
    assert site_layers(baltimore) == mapped
    # the 2024 council districts are declared without a local file
    assert "council_districts" not in site_layers(baltimore, _dates("2025-01-10T10:00Z"))
    wards = replace(baltimore, site_layers=("police_districts", "zip_codes"))
    assert site_layers(wards, _dates("2019-10-01T10:00Z")) == ["police_districts", "zip_codes"]


def test_district_and_tract_layers_come_from_the_manifest(tmp_path: Path) -> None:
    for city in ("baltimore", "los_angeles"):
        assert load_manifest(city).district_layer == "council_districts"
    assert load_manifest("baltimore").tract_layer == "census_tracts"
    assert load_manifest("los_angeles").tract_layer is None  # no tract polygons shipped
    # another city names its tract layer: no default key is assumed
    repo = Path(__file__).resolve().parents[1]
    text = (repo / "boundaries" / "los_angeles.toml").read_text(encoding="utf-8")
    renamed = tmp_path / "la.toml"
    renamed.write_text('tract_layer = "council_districts"\n' + text, encoding="utf-8")
    assert load_manifest(renamed).tract_layer == "council_districts"
    renamed.write_text('tract_layer = "tracts"\n' + text, encoding="utf-8")
    with pytest.raises(ManifestError, match="tract_layer 'tracts' must be one of the layers"):
        load_manifest(renamed)


@pytest.fixture(scope="module")
def stages(shared_data: Path) -> dict[str, PipelineResult]:
    """The 2018 Baltimore sample (500 rows) through each stage, in memory."""
    sample = shared_data / "baltimore" / SAMPLES[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        ingested = run(sample, city="baltimore", stop_after="ingest")
        joined = run(ingested, city="baltimore", layers=LAYERS, stop_after="join")
        tabulated = run(joined, city="baltimore", layers=LAYERS)
        direct = run(sample, city="baltimore", layers=LAYERS)
    return {"ingest": ingested, "join": joined, "indicators": tabulated, "direct": direct}


LAYERS = ["neighborhoods", "council_districts"]


@pytest.fixture
def data_env(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reference data folder, also set as GEO311_DATA_DIR for the test."""
    monkeypatch.setenv("GEO311_DATA_DIR", str(shared_data))
    return shared_data


def test_run_stops_after_each_stage(stages: dict[str, PipelineResult]) -> None:
    ingested, joined, tabulated = stages["ingest"], stages["join"], stages["indicators"]
    assert ingested.stage == "ingest"
    assert ingested.ledger.rows_in == 500
    assert not [c for c in ingested.requests if c.endswith("_id") and c != "service_request_id"]
    assert ingested.tables == {}
    assert joined.stage == "join"
    assert {"neighborhoods_id", "council_districts_id"} <= set(joined.requests)
    assert [s.stage for s in joined.ledger.stages][-2:] == [
        "join:neighborhoods",
        "join:council_districts",
    ]
    assert tabulated.stage == "indicators"
    assert list(tabulated.tables) == LAYERS
    assert tabulated.district_layer == "council_districts"
    assert tabulated.tables["neighborhoods"].metadata["equity_group"] == "council_districts"
    assert set(tabulated.equity["layer"]) == set(LAYERS)
    assert len(tabulated.equity) == sum(len(t.equity) for t in tabulated.tables.values())


def test_a_saved_ingest_joins_a_user_layer_file(
    stages: dict[str, PipelineResult], shared_data: Path
) -> None:
    """A result as input with extra_layers (and no chunk_rows) stays in memory."""
    wards = shared_data / "baltimore" / "council_districts_2012.geojson"
    joined = run(
        stages["ingest"],
        extra_layers={"wards": wards},
        id_field="district",
        name_field="name",
        stop_after="join",
    )
    assert joined.stage == "join"
    assert joined.requests["wards_id"].notna().sum() > 400
    assert joined.ledger.rows_in == stages["ingest"].ledger.rows_in


def test_continuing_a_run_gives_the_same_tables_as_one_run(
    stages: dict[str, PipelineResult],
) -> None:
    for key in LAYERS:
        pd.testing.assert_frame_equal(
            stages["indicators"].tables[key].indicators, stages["direct"].tables[key].indicators
        )


def test_saved_stage_resumes_with_its_ledger(
    stages: dict[str, PipelineResult],
    data_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("geo311.io.atomic.ROW_GROUP_ROWS", 100)  # streamed in row groups
    path, ledger = write_requests(stages["join"], tmp_path / "joined.parquet")
    groups = pq.ParquetFile(path).metadata.num_row_groups
    assert groups == -(-len(stages["join"].requests) // 100) > 1
    assert ledger.name == "joined.ledger.json"
    with pytest.raises(OutputExistsError, match=r"joined\.parquet"):
        write_requests(stages["join"], path)
    write_requests(stages["join"], path, overwrite=True)
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temporary file left behind
    back = load_requests(path, stage="join")
    assert back.ledger.to_dict() == stages["join"].ledger.to_dict()
    resumed = run(back, city="baltimore", layers=LAYERS)
    for key in LAYERS:
        pd.testing.assert_frame_equal(
            resumed.tables[key].indicators, stages["direct"].tables[key].indicators
        )
    written = write_indicators(resumed, tmp_path / "indicators")
    assert written["neighborhoods.csv"].is_file()
    with pytest.raises(OutputExistsError):
        write_indicators(resumed, tmp_path / "indicators")


def test_run_refuses_what_it_cannot_do(stages: dict[str, PipelineResult], data_env: Path) -> None:
    with pytest.raises(ConfigError, match="needs a city"):
        run(stages["ingest"], stop_after="join")
    with pytest.raises(ConfigError, match="los_angeles manifest has no tract layer"):
        run(stages["join"], city="los_angeles", population="tracts.csv")  # before any work
    with pytest.raises(SchemaError, match="not joined to \\['census_tracts'\\]"):
        run(stages["join"], city="baltimore", layers=["census_tracts"])
    no_group = run(stages["join"], city="baltimore", layers=LAYERS, district_layer="")
    assert no_group.district_layer is None
    assert no_group.tables["neighborhoods"].metadata["equity_group"] is None


def test_los_angeles_maps_its_neighbourhood_councils_and_districts(data_env: Path) -> None:
    export = data_env / "los_angeles" / "records" / "myla311_2020-01-01_2020-01-03.csv.gz"
    result = run(export, city="los_angeles")
    assert result.layers == ("neighborhood_councils", "council_districts")
    assert result.district_layer == "council_districts"
    assert len(result.tables["neighborhood_councils"].indicators) == 99
    assert len(result.tables["council_districts"].indicators) == 15
    for tables in result.tables.values():  # no tract polygons: no denominator, never 0
        for table in (tables.indicators, tables.city):
            assert (table["rate_flag"] == "no_denominator").all()
            assert table["population"].isna().all()
            assert table["rate_per_1k"].isna().all()
            assert (table["requests_per_km2"] > 0).all()
    assert result.ledger.rows_in == 10_000
    assert result.metadata["city"] == "los_angeles"


def test_cli_indicators_names_a_layer_without_denominator(data_env: Path, tmp_path: Path) -> None:
    export = data_env / "los_angeles" / "records" / "myla311_2020-01-01_2020-01-03.csv.gz"
    joined = run(export, city="los_angeles", layers=["council_districts"], stop_after="join")
    path, _ = write_requests(joined, tmp_path / "la.parquet")
    args = ["indicators", str(path), "--city", "los_angeles", "--layer", "council_districts"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "15 areas, " in result.output
    assert "no population denominator for this layer" in result.output
    assert "population 0" not in result.output


def test_cli_run_pages_any_political_layer(data_env: Path, tmp_path: Path) -> None:
    sample = str(data_env / "baltimore" / SAMPLES[1])
    site = tmp_path / "site"
    args = ["-q", "run", sample, "--city", "baltimore", "--layer", "council_districts"]
    args += ["--district-layer", "police_districts", "--no-tiles", "--no-png", "--out", str(site)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert " 9 district pages)" in result.output  # the nine 1959-2022 police districts
    assert len(list(site.glob("district-*.html"))) == 9
    tables = {p.name.removesuffix(".csv") for p in (site / "indicators").glob("*.csv")}
    assert {"council_districts", "police_districts"} <= tables


def test_stage_commands_give_the_tables_of_one_run(
    stages: dict[str, PipelineResult],
    data_env: Path,
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    sample = str(data_env / "baltimore" / SAMPLES[1])
    ingested, joined = tmp_path / "ingested.parquet", tmp_path / "joined.parquet"
    commands = [
        ["ingest", sample, "--out", str(ingested)],
        ["join", str(ingested), "--city", "baltimore", "--layers", ",".join(LAYERS)],
        ["indicators", str(joined), "--city", "baltimore", "--out", str(tmp_path / "cli")],
    ]
    commands[1] += ["--out", str(joined)]
    commands[2] += [arg for key in LAYERS for arg in ("--layer", key)]
    for args in commands:
        result = runner.invoke(main, ["-q", *args])
        assert result.exit_code == 0, result.output
    write_indicators(stages["direct"], tmp_path / "api")
    for name in ("neighborhoods.csv", "council_districts.csv", "equity.csv"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "api" / name).read_bytes()
    ledger = json.loads((tmp_path / "joined.ledger.json").read_text(encoding="utf-8"))
    assert [s["stage"] for s in ledger["stages"]][-2:] == [f"join:{k}" for k in LAYERS]


@pytest.mark.parametrize(
    "case",
    [
        ("baltimore", [f"baltimore/{name}" for name in SAMPLES], ["census_tracts", *LAYERS]),
        (
            "los_angeles",
            [
                "los_angeles/records/myla311_2017-12-27_2017-12-31.csv.gz",
                "los_angeles/records/myla311_2018-01-01_2018-01-04.csv.gz",
            ],
            ["neighborhood_councils", "council_districts"],
        ),
    ],
)
def test_tables_computed_by_two_processes_in_batches_equal_one_whole_computation(
    data_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    case: tuple[str, list[str], list[str]],
) -> None:
    city, files, layers = case
    joined = run([data_env / f for f in files], city=city, layers=layers, stop_after="join")
    assert len(joined.requests) > 5 * 500  # many batches below
    with caplog.at_level("DEBUG", logger="geo311.background"):
        alone = run(joined, city=city, layers=layers)  # too few requests to share the layers
        assert "computing indicator tables" not in caplog.text
        monkeypatch.setattr(pipeline, "SHARED_TABLES_MIN_ROWS", 0)
        # and the curves fitted, local times and trend buckets found, a few hundred at a time
        monkeypatch.setattr(survival_batches, "BATCH_OBSERVATIONS", 300)
        monkeypatch.setattr(patterns, "_BLOCK", 500)
        shared = run(joined, city=city, layers=layers)
    if background.can_fork():
        assert "computing indicator tables in process" in caplog.text
    written = write_indicators(shared, tmp_path / "shared")  # each layer in either process
    monkeypatch.setattr(background, "can_fork", lambda: False)
    for name, path in write_indicators(alone, tmp_path / "alone").items():
        assert path.read_bytes() == written[name].read_bytes(), name
    assert list(shared.tables) == list(alone.tables) == layers
    for key in layers:
        for field in LayerTables._fields:
            ours, theirs = getattr(shared.tables[key], field), getattr(alone.tables[key], field)
            if isinstance(ours, pd.DataFrame):
                pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
            else:  # metadata: NaN read back from the child is another float object
                assert json.dumps(ours, default=str) == json.dumps(theirs, default=str), key

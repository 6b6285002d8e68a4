"""Per-layer tables, and the `geo311 join` / `geo311 indicators` commands end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from geo311.cli import main
from geo311.demo import demo_layers, make_demo_city
from geo311.indicators import area_indicators, disparity_scores
from geo311.indicators.tables import LayerTables, build_tables, table_paths, write_tables
from geo311.io.readers import requests_from_frame
from geo311.join.assign import assign_areas


@pytest.fixture(scope="module")
def demo() -> tuple:
    city = make_demo_city(n_requests=4_000)
    requests, _ = requests_from_frame(
        city.requests, schema="open311", timezone=city.timezone, as_of=city.as_of
    )
    layers = demo_layers(city)
    joined, _ = assign_areas(requests, layers)
    return city, layers, joined


@pytest.fixture(scope="module")
def districts(demo: tuple) -> LayerTables:
    """The council district tables of the demo city (the joined requests are not modified)."""
    city, layers, joined = demo
    before = joined.copy()
    tables = build_tables(
        joined,
        key="council_districts",
        vintages=layers["council_districts"],
        tracts=layers["census_tracts"][0],
        as_of=city.as_of,
        timezone=city.timezone,
    )
    pd.testing.assert_frame_equal(joined, before)
    return tables


def test_tables_carry_population_and_metadata(demo: tuple, districts: LayerTables) -> None:
    city, _, joined = demo
    tables = districts
    frame = tables.indicators
    assert frame.index.name == "area_id"
    assert len(frame) == 14
    # The districts tile the city, so interpolated population adds up to the tract total.
    assert frame["population"].sum() == pytest.approx(city.population, rel=1e-9)
    counted = (
        joined["council_districts_id"].notna()
        & joined["requested_datetime"].notna()  # undated rows cannot be placed in a period
        & ~joined["is_duplicate"]
        & ~joined["is_transfer"]
        & ~joined["is_proactive"]
    ).sum()
    assert frame["requests"].sum() == counted
    assert tables.metadata["vintage"] == "synthetic"
    assert tables.metadata["denominators"]["totals"]["population"]["difference"] == pytest.approx(
        0, abs=1e-6
    )
    assert set(tables.equity["measure"]) >= {"quantile_ratio", "gini", "theil_t"}
    # patterns, channels and service types carry the citywide rows after the areas'
    for tidy in (tables.patterns, tables.channels, tables.services):
        assert tidy.index[-1] == "city"
        assert set(tidy.index) == {*frame.index, "city"}
    services = tables.services
    assert services.groupby(level=0)["rank"].max().max() <= 10
    city_top = services.loc[["city"]]
    assert city_top["requests"].is_monotonic_decreasing
    assert (
        city_top["requests"].iloc[0]
        == joined.loc[
            joined["council_districts_id"].notna()
            & joined["requested_datetime"].notna()
            & ~joined["is_duplicate"]
            & ~joined["is_transfer"]
            & ~joined["is_proactive"],
            "service_name",
        ]
        .value_counts()
        .iloc[0]
    )
    assert tables.areas.crs.to_epsg() == 4326
    assert tables.areas["area_id"].tolist() == frame.index.tolist()


def test_write_tables_protects_text(demo: tuple, tmp_path: Path) -> None:
    city, layers, joined = demo
    tables = build_tables(
        joined,
        key="neighborhoods",
        vintages=layers["neighborhoods"],
        tracts=layers["census_tracts"][0],
        group=layers["council_districts"][0],
        as_of=city.as_of,
        timezone=city.timezone,
    )
    hostile = tables.indicators.copy()
    hostile["area_name"] = hostile["area_name"].astype("string")
    hostile.iloc[0, hostile.columns.get_loc("area_name")] = '=HYPERLINK("http://x")'
    paths = write_tables({"neighborhoods": tables._replace(indicators=hostile)}, tmp_path)
    assert set(paths) == set(table_paths(tmp_path, ["neighborhoods"]))
    text = paths["neighborhoods.csv"].read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    sheet = openpyxl.load_workbook(paths["neighborhoods.xlsx"]).active
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    equity = pd.read_csv(paths["equity"])
    assert set(equity["layer"]) == {"neighborhoods"}
    assert json.loads(paths["neighborhoods.json"].read_text())["layer"] == "neighborhoods"
    outlines = gpd.read_file(paths["neighborhoods.areas"])
    assert len(outlines) == len(tables.indicators)
    assert outlines.crs.to_epsg() == 4326
    top = pd.read_csv(paths["neighborhoods.services"])
    assert {"area_id", "rank", "service_type", "requests", "share"} <= set(top.columns)
    with pytest.raises(FileExistsError):
        write_tables({"neighborhoods": tables}, tmp_path)


def test_cli_join_and_indicators_on_real_baltimore(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEO311_DATA_DIR", str(shared_data))
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    ingested = tmp_path / "req.parquet"
    files = [
        str(shared_data / "baltimore" / f)
        for f in ("sr311_2019_oct_sample.csv", "sr311_2018_sample.csv")
    ]
    result = runner.invoke(main, ["-q", "ingest", *files, "--keep-raw", "--out", str(ingested)])
    assert result.exit_code == 0, result.output
    joined = tmp_path / "joined.parquet"
    result = runner.invoke(
        main,
        [
            "-q",
            "join",
            str(ingested),
            "--city",
            "baltimore",
            "--layers",
            "neighborhoods,council_districts,census_tracts",
            "--qa",
            "--out",
            str(joined),
        ],
    )
    assert result.exit_code == 0, result.output
    qa = json.loads((tmp_path / "joined.qa.json").read_text())
    by_layer = {c["layer"]: c for c in qa}
    assert by_layer["neighborhoods"]["agreement"] >= 0.992
    assert by_layer["council_districts"]["agreement"] >= 0.997
    ledger = json.loads((tmp_path / "joined.ledger.json").read_text())
    assert [s["stage"] for s in ledger["stages"]][:4] == [
        "read",
        "normalize",
        "coordinates",
        "clean",
    ]
    assert "join:neighborhoods" in [s["stage"] for s in ledger["stages"]]
    out = tmp_path / "ind"
    result = runner.invoke(
        main,
        [
            "-q",
            "indicators",
            str(joined),
            "--city",
            "baltimore",
            "--layer",
            "council_districts",
            "--layer",
            "neighborhoods",
            "--population",
            str(shared_data / "baltimore" / "tract_demographics.csv"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    for key in ("council_districts", "neighborhoods"):
        table = pd.read_csv(out / f"{key}.csv", dtype={"area_id": str})
        assert table["population"].sum() == pytest.approx(585_708, rel=1e-9)
        assert np.isfinite(table["rate_per_1k"]).any()
    assert len(pd.read_csv(out / "council_districts.csv")) == 14
    assert len(pd.read_csv(out / "neighborhoods.csv")) == 278
    frame = gpd.read_parquet(joined)
    assert frame["neighborhoods_vintage"].dropna().unique().tolist() == ["2010"]


def test_cli_indicators_needs_joined_layers(
    demo: tuple, tmp_path: Path, shared_data: Path
) -> None:
    _, _, joined = demo
    path = tmp_path / "j.parquet"
    joined.drop(columns=[c for c in joined if c.startswith("neighborhoods_")]).to_parquet(path)
    result = CliRunner().invoke(
        main,
        [
            "indicators",
            str(path),
            "--city",
            "baltimore",
            "--layer",
            "neighborhoods",
            "--data-dir",
            str(shared_data),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 2
    assert "not joined" in result.output
    assert "Traceback" not in result.output


def test_an_area_called_city_is_refused(demo: tuple) -> None:
    from geo311._errors import SchemaError  # noqa: PLC0415

    city, layers, joined = demo
    layer = layers["council_districts"][0]
    first = layer.gdf["area_id"].iloc[0]
    renamed = layer.gdf.copy()
    renamed["area_id"] = renamed["area_id"].replace({first: "city"})
    clashing = joined.copy()
    ids = clashing["council_districts_id"].cat.rename_categories({first: "city"})
    clashing["council_districts_id"] = ids
    with pytest.raises(SchemaError, match="reserve for the citywide rows"):
        build_tables(
            clashing,
            key="council_districts",
            vintages=[dataclasses.replace(layer, frame=renamed)],
            as_of=city.as_of,
            timezone=city.timezone,
        )


# issue 13: max_days end to end, and METRICS 13 per area


def test_max_days_reaches_build_tables(demo: tuple) -> None:
    city, layers, joined = demo
    options = {"key": "council_districts", "as_of": city.as_of, "timezone": city.timezone}
    tables = build_tables(joined, vintages=layers["council_districts"], max_days=2.0, **options)
    direct = area_indicators(joined, areas=layers["council_districts"][0], max_days=2.0, **options)
    excluded = tables.indicators["ttc_excluded_implausible"]
    assert excluded.sum() > 0
    np.testing.assert_array_equal(excluded.to_numpy(), direct["ttc_excluded_implausible"])
    assert tables.city["ttc_excluded_implausible"].iloc[0] == excluded.sum()
    assert tables.metadata["indicators"]["max_days"] == 2.0
    default = build_tables(joined, vintages=layers["council_districts"], **options)
    assert default.indicators["ttc_excluded_implausible"].sum() == 0


def test_build_tables_writes_disparity_scores_per_area(
    districts: LayerTables, tmp_path: Path
) -> None:
    tables = districts
    disparity = tables.disparity
    assert disparity is not None
    assert disparity.index.tolist() == tables.indicators.index.tolist()
    frame = tables.indicators
    share = frame["requests"] / frame["requests"].sum()
    pop_share = frame["population"] / frame["population"].sum()
    np.testing.assert_allclose(disparity["disparity"], share - pop_share, atol=1e-15)
    assert disparity["disparity"].sum() == pytest.approx(0.0, abs=1e-12)
    expected = disparity_scores(frame["requests"], frame["population"])
    pd.testing.assert_series_equal(
        disparity["significance"], expected["significance"], check_names=False
    )
    assert disparity["area_name"].tolist() == frame["area_name"].tolist()
    # the equity table's quintile medians come from the pooled requests of each quintile
    rows = tables.equity[
        (tables.equity["measure"] == "quantile_value")
        & (tables.equity["indicator"] == "ttc_median_days")
    ]
    assert rows["note"].str.startswith("computed from the pooled requests").all()
    paths = write_tables({"council_districts": tables}, tmp_path)
    written = pd.read_csv(paths["council_districts.disparity"], dtype={"area_id": str})
    assert written["area_id"].tolist() == frame.index.tolist()
    assert written["disparity"].to_numpy() == pytest.approx(disparity["disparity"].to_numpy())

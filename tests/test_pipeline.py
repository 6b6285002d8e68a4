"""`geo311 run`: the real Baltimore samples in, the council-district site out."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from geo311._errors import SchemaError
from geo311.cli import main
from geo311.pipeline import run_city

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
    runner = CliRunner()
    sample = str(shared_data / "baltimore" / SAMPLES[1])
    site = tmp_path / "site"
    args = ["run", sample, "--city", "baltimore", "--no-tiles", "--no-png", "--out", str(site)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (site / "index.html").is_file()
    assert "district pages" in result.output
    again = runner.invoke(main, args)
    assert again.exit_code == 1
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

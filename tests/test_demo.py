"""The synthetic demo city: determinism, geometry, population, requests, defects, writing.

Expected defect counts come from ``DemoCity.defects`` (what the generator says
it planted), never from numbers typed here, so the tests follow the generator
when its rates change.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from conftest import DEMO_REQUESTS, DEMO_SEED
from geopandas.testing import assert_geodataframe_equal

import geo311
from geo311.cli import main
from geo311.demo import (
    BULK_COLUMNS,
    DEFECT_RATES,
    DEMO_POPULATION,
    INDICATOR_LAYERS,
    MIN_REQUESTS,
    SERVICE_TYPES,
    DemoCity,
    demo_layers,
    demo_manifest,
    demo_paths,
    make_demo_city,
    write_demo,
    write_demo_inputs,
)
from geo311.ledger import Ledger
from geo311.pipeline import run

N = DEMO_REQUESTS
SEED = DEMO_SEED
LAYER_IDS = {"neighborhoods": "nbhd_id", "council_districts": "district", "census_tracts": "geoid"}


@pytest.fixture(scope="module")
def city() -> DemoCity:
    return make_demo_city(seed=SEED, n_requests=N)


@pytest.fixture(scope="module")
def written(demo_site: dict[str, Path]) -> dict[str, Path]:
    return demo_site


def _projected(city: DemoCity, layer: str) -> np.ndarray:
    return np.asarray(city.layers[layer].to_crs(city.projected_crs).geometry.array)


def _outline(city: DemoCity) -> shapely.Geometry:
    return city.outline.to_crs(city.projected_crs).geometry.iloc[0]


# --------------------------------------------------------------------------- determinism


def test_same_seed_builds_the_same_city() -> None:
    a = make_demo_city(seed=5, n_requests=1_000)
    b = make_demo_city(seed=5, n_requests=1_000)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    assert a.layers.keys() == b.layers.keys()
    for name in a.layers:
        assert_geodataframe_equal(a.layers[name], b.layers[name], check_less_precise=False)
    assert a.defects == b.defects
    assert a.as_of == b.as_of


def test_another_seed_builds_another_city() -> None:
    a = make_demo_city(seed=5, n_requests=1_000)
    b = make_demo_city(seed=6, n_requests=1_000)
    assert not a.requests["lat"].equals(b.requests["lat"])
    assert (
        not a.layers["neighborhoods"]
        .geometry.geom_equals(b.layers["neighborhoods"].geometry)
        .all()
    )


def test_same_seed_writes_identical_files(written: dict[str, Path], tmp_path: Path) -> None:
    first = written  # the whole demo, through the pipeline
    second = write_demo_inputs(make_demo_city(seed=SEED, n_requests=N), tmp_path / "b")
    keys = [
        "raw_requests",
        "layer_neighborhoods",
        "layer_council_districts",
        "layer_census_tracts",
    ]
    for key in keys:
        assert first[key].read_bytes() == second[key].read_bytes(), key


def test_csv_holds_exactly_the_requests_frame(city: DemoCity, written: dict[str, Path]) -> None:
    back = pd.read_csv(written["raw_requests"], dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, city.requests, check_dtype=False)


# --------------------------------------------------------------------------- layers


def test_layers_are_valid_labelled_and_in_wgs84(city: DemoCity) -> None:
    assert set(city.layers) == set(LAYER_IDS)
    for name, layer in city.layers.items():
        assert layer.crs.to_epsg() == 4326, name
        assert layer.geometry.is_valid.all(), name
        assert not layer.geometry.is_empty.any(), name
        assert set(layer.geom_type) <= {"Polygon", "MultiPolygon"}, name
        ids = layer[LAYER_IDS[name]]
        assert ids.is_unique, name
        assert all(isinstance(v, str) for v in ids), name
        assert layer["name"].str.endswith("(synthetic)").all(), name
        assert layer["synthetic"].all(), name


def test_layer_sizes(city: DemoCity) -> None:
    assert 200 <= len(city.layers["neighborhoods"]) <= 300
    assert 10 <= len(city.layers["council_districts"]) <= 20
    assert 150 <= len(city.layers["census_tracts"]) <= 220


@pytest.mark.parametrize("layer", list(LAYER_IDS))
def test_each_layer_tiles_the_city_without_gaps_or_overlaps(city: DemoCity, layer: str) -> None:
    geoms = _projected(city, layer)
    city_area = _outline(city).area
    total = shapely.area(geoms).sum()
    union = shapely.union_all(geoms)
    assert total == pytest.approx(city_area, rel=1e-6)  # no gaps (given no overlaps)
    assert union.area == pytest.approx(city_area, rel=1e-6)
    assert (total - union.area) / city_area < 1e-6  # no overlaps
    assert shapely.symmetric_difference(union, _outline(city)).area / city_area < 1e-6


def test_districts_are_unions_of_whole_neighborhoods(city: DemoCity) -> None:
    nbhds = _projected(city, "neighborhoods")
    districts = _projected(city, "council_districts")
    covers = shapely.covers(districts[None, :], nbhds[:, None])
    assert (covers.sum(axis=1) == 1).all()  # every neighborhood within exactly one district
    ids = city.layers["council_districts"]["district"].to_numpy()
    assert (
        ids[covers.argmax(axis=1)] == city.layers["neighborhoods"]["district"].to_numpy()
    ).all()
    assert set(city.layers["neighborhoods"]["district"]) == set(ids)  # no empty district


def test_tracts_are_a_different_tessellation(city: DemoCity) -> None:
    tracts = _projected(city, "census_tracts")
    districts = _projected(city, "council_districts")
    share = shapely.area(shapely.intersection(tracts[:, None], districts[None, :]))
    share = share / shapely.area(tracts)[:, None]
    split = (share > 0.01).sum(axis=1) > 1
    assert split.sum() >= 10  # many tracts straddle district lines


def test_tract_population_and_income(city: DemoCity) -> None:
    tracts = city.layers["census_tracts"]
    assert pd.api.types.is_integer_dtype(tracts["pop_2020"])
    assert int(tracts["pop_2020"].sum()) == DEMO_POPULATION == city.population
    assert (tracts["pop_2020"] > 0).all()
    assert pd.api.types.is_integer_dtype(tracts["median_hh_income"])
    assert (tracts["median_hh_income"] > 0).all()
    assert tracts["median_hh_income"].nunique() > len(tracts) // 2
    assert tracts["geoid"].str.fullmatch(r"\d{11}").all()


def test_city_is_in_open_ocean(city: DemoCity) -> None:
    west, south, east, north = city.outline.total_bounds
    assert -148.5 < west < east < -145.5
    assert 37.0 < south < north < 39.0
    assert city.timezone == "America/New_York"


# --------------------------------------------------------------------------- requests


def test_requests_follow_the_bulk_csv_layout(city: DemoCity) -> None:
    req = city.requests
    assert tuple(req.columns) == BULK_COLUMNS
    assert len(req) == N
    for column in req:
        assert pd.api.types.is_string_dtype(req[column]), column
        assert req[column].notna().all(), column  # empty values are "", as in the file
    assert set(req["status"]) == {"open", "closed"}
    assert set(req["source"]) <= {"phone", "web", "app", "internal", "email"}
    assert req["service_code"].str.fullmatch(r"[A-Z]{2}-\d{3}").all()
    assert req["service_code"].nunique() == len(SERVICE_TYPES)
    assert req["description"].str.startswith("[synthetic]").all()
    stamp = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"
    assert req["expected_datetime"].str.fullmatch(stamp).all()
    offsets = set(req["expected_datetime"].str[-6:])
    assert offsets == {"-05:00", "-04:00"}  # daylight saving time in America/New_York
    closed = req["status"] == "closed"
    assert (req.loc[closed, "closed_datetime"] != "").all()
    assert (req.loc[~closed, "closed_datetime"] == "").all()


def test_proactive_types_come_through_the_internal_channel(city: DemoCity) -> None:
    proactive = {t.code for t in SERVICE_TYPES if t.proactive}
    assert proactive
    is_proactive = city.requests["service_code"].isin(proactive)
    assert (city.requests.loc[is_proactive, "source"] == "internal").all()
    assert (city.requests.loc[~is_proactive, "source"] != "internal").all()


def _requests_frame(written: dict[str, Path]) -> gpd.GeoDataFrame:
    return gpd.read_parquet(written["requests"])


def test_time_patterns(written: dict[str, Path]) -> None:
    req = _requests_frame(written)
    local = req["requested_datetime"].dropna().dt.tz_convert("America/New_York")
    assert (local.dt.year == 2025).all()
    weekend = local.dt.day_of_week >= 5
    per_weekday = (~weekend).sum() / 261  # 2025 has 261 weekdays and 104 weekend days
    per_weekend_day = weekend.sum() / 104
    assert per_weekday > 1.3 * per_weekend_day
    hour = local.dt.hour
    assert ((hour >= 8) & (hour < 18)).mean() > 0.5
    # Censoring: requests filed late in the year are more often still open.
    open_share = (req["status"] == "open").groupby(local.dt.month).mean()
    assert open_share.loc[12] > 2 * open_share.loc[1:11].mean()


def test_durations_are_right_skewed(written: dict[str, Path]) -> None:
    req = _requests_frame(written)
    hours = (req["closed_datetime"] - req["requested_datetime"]).dt.total_seconds() / 3600
    hours = hours[hours > 0]
    assert hours.mean() > 1.5 * hours.median()


def test_demand_per_capita_falls_with_income(city: DemoCity, written: dict[str, Path]) -> None:
    req = _requests_frame(written)
    tracts = city.layers["census_tracts"]
    located = req.loc[req["coord_quality"].isin(["ok", "swapped"]), ["geometry"]]
    joined = gpd.sjoin(located, tracts[["geoid", "geometry"]], predicate="intersects")
    counts = joined.groupby("geoid").size().reindex(tracts["geoid"], fill_value=0)
    per_capita = counts.to_numpy() / tracts["pop_2020"].to_numpy()
    quartile = pd.qcut(tracts["median_hh_income"], 4, labels=False).to_numpy()
    poorest = per_capita[quartile == 0].mean()
    richest = per_capita[quartile == 3].mean()
    assert poorest > 1.1 * richest


# --------------------------------------------------------------------------- ingest and defects


def test_defect_counts_follow_the_rates(city: DemoCity) -> None:
    assert set(city.defects) == set(DEFECT_RATES)
    for key, (rate, minimum) in DEFECT_RATES.items():
        assert city.defects[key] == max(minimum, round(rate * N)), key


def test_ledger_finds_every_planted_defect(city: DemoCity, written: dict[str, Path]) -> None:
    defects = city.defects
    ledger = Ledger.read_json(written["ledger"])
    csv_rows = len(pd.read_csv(written["raw_requests"], dtype=str, keep_default_na=False))
    assert ledger.rows_in == csv_rows == N
    assert ledger.dropped == {"duplicate_service_request_id": defects["duplicate_rows"]}
    assert ledger.rows_out == N - defects["duplicate_rows"]
    expected = {
        "coords_missing": defects["coords_missing"],
        "coords_zero": defects["coords_zero"],
        "coords_swapped_fixed": defects["coords_swapped"],
        "coords_placeholder": defects["placeholder"],
        "unparsed_requested_datetime": defects["unparseable_requested_datetime"],
        "closed_before_created": defects["closed_before_created"],
    }
    flagged = ledger.flagged
    assert {k: flagged.get(k, 0) for k in expected} == expected
    never_planted = [
        "coords_out_of_range",
        "coords_outside_area",
        "due_before_created",
        "requested_in_future",
        "closed_in_future",
        "closed_without_close_time",
        "unknown_status",
        "missing_service_request_id",
    ]
    assert {k: flagged[k] for k in never_planted if k in flagged} == {}


def test_ingested_requests_carry_the_outcome_defects(
    city: DemoCity, written: dict[str, Path]
) -> None:
    defects = city.defects
    req = geo311.validate_requests(_requests_frame(written))
    assert req.crs.to_epsg() == 4326
    assert req["service_request_id"].is_unique
    assert int(req["is_duplicate"].sum()) == defects["marked_duplicate"]
    assert int(req["is_transfer"].sum()) == defects["transferred"]
    quality = req["coord_quality"].value_counts()
    assert quality["missing"] == defects["coords_missing"]
    assert quality["zero"] == defects["coords_zero"]
    assert quality["swapped"] == defects["coords_swapped"]
    assert quality["placeholder"] == defects["placeholder"]
    at_hall = req[req["coord_quality"] == "placeholder"]
    assert at_hall["service_name"].nunique() >= 3
    assert at_hall["address"].nunique() >= 3


def test_readme_says_synthetic(written: dict[str, Path]) -> None:
    text = written["readme"].read_text(encoding="utf-8")
    assert text.startswith("SYNTHETIC DATA")
    for key in ("raw_requests", "layer_neighborhoods", "requests", "ledger"):
        assert written[key].relative_to(written["readme"].parent).as_posix() in text


def test_write_demo_writes_every_file(written: dict[str, Path]) -> None:
    assert all(path.is_file() and path.stat().st_size > 0 for path in written.values())
    tracts = gpd.read_file(written["layer_census_tracts"])
    assert tracts.crs.to_epsg() == 4326
    assert int(tracts["pop_2020"].sum()) == DEMO_POPULATION
    assert not any(p.name.endswith(".tmp") for p in written["readme"].parent.rglob("*"))


# --------------------------------------------------------------------------- refusals


def test_refuses_to_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "site"
    paths = demo_paths(out)
    for path in paths.values():  # an earlier demo's files: every output is there
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine", encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(geo311.OutputExistsError) as refused:
        write_demo(out, n_requests=MIN_REQUESTS)
    for path in paths.values():  # every existing output is named, none is touched
        assert str(path) in str(refused.value), path.name
        assert path.read_text(encoding="utf-8") == "mine", path.name
    assert sorted(tmp_path.rglob("*")) == before  # refused before writing anything

    # overwrite=True goes past the refusal and writes over the old files; stopped at the
    # pipeline (the whole build, written into a fresh folder, is conftest's demo_site)
    class StoppedError(Exception):
        pass

    def stop(*args: object, **kwargs: object) -> None:
        raise StoppedError

    monkeypatch.setattr("geo311.demo.run", stop)
    with pytest.raises(StoppedError):
        write_demo(out, n_requests=MIN_REQUESTS, png=False, overwrite=True)
    raw = pd.read_csv(paths["raw_requests"], dtype=str, keep_default_na=False)
    assert len(raw) == MIN_REQUESTS
    assert paths["manifest"].read_text(encoding="utf-8") != "mine"


def test_smallest_city_still_plants_every_defect() -> None:
    city = make_demo_city(n_requests=MIN_REQUESTS)
    assert len(city.requests) == MIN_REQUESTS
    assert all(count >= 1 for count in city.defects.values())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_requests": MIN_REQUESTS - 1}, "n_requests"), ({"seed": -1}, "seed")],
)
def test_rejects_bad_arguments(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_demo_city(**kwargs)


def test_demo_city_runs_through_the_pipeline_core(tmp_path: Path) -> None:
    small = make_demo_city(seed=SEED, n_requests=MIN_REQUESTS)
    paths = write_demo_inputs(small, tmp_path)
    layers = demo_layers(small)
    manifest = demo_manifest(small)
    assert list(manifest.layers) == list(layers) == list(LAYER_IDS)
    options = {
        "city": manifest,
        "boundaries": layers,
        "schema": "open311",
        "timezone": small.timezone,
        "as_of": small.as_of,
    }
    joined = run(paths["raw_requests"], stop_after="join", **options)
    assert joined.layers == tuple(LAYER_IDS)
    assert joined.ledger.rows_in == MIN_REQUESTS
    assert joined.requests["council_districts_id"].notna().any()
    with pytest.raises(geo311.ConfigError, match="wards"):
        run(paths["raw_requests"], layers=["wards"], **options)


# --------------------------------------------------------------------------- geo311 maps


def _page(path: Path) -> str:
    """A page without folium's random ids, float digits past the 9th, or the PNG link."""
    text = re.sub(r"[0-9a-f]{32}", "ID", path.read_text(encoding="utf-8"))
    text = re.sub(r"\d+\.\d{9,}", lambda m: f"{float(m[0]):.9g}", text)
    return re.sub(r'<p><a href="png/[^"]*">[^<]*</a></p>', "", text)


def _pages(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.html"))


def _error_line(output: str) -> str:
    (line,) = [x for x in output.splitlines() if x.startswith("Error:")]
    return line


@pytest.fixture(scope="module")
def rebuilt(written: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`geo311 maps <demo>/indicators` with no city option (no PNGs, to save time)."""
    out = tmp_path_factory.mktemp("maps") / "site"
    indicators = written["indicators_equity"].parent
    result = CliRunner().invoke(main, ["maps", str(indicators), "--no-png", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_written_manifest_describes_the_city_and_finds_its_layers(
    city: DemoCity, written: dict[str, Path]
) -> None:
    manifest = geo311.load_manifest(written["manifest"])
    assert manifest == demo_manifest(make_demo_city(seed=SEED, n_requests=MIN_REQUESTS))
    (districts,) = geo311.load_layers(written["manifest"], layers=["council_districts"])[
        "council_districts"
    ]
    assert sorted(districts.gdf["area_id"]) == sorted(city.layers["council_districts"]["district"])


def test_tables_record_the_manifest_and_the_layer_order(written: dict[str, Path]) -> None:
    for key in INDICATOR_LAYERS:
        meta = json.loads(written[f"indicators_{key}.json"].read_text(encoding="utf-8"))
        assert meta["city"] == "demo"
        assert meta["city_manifest"] == "../layers/demo.toml"  # relative: the folder can move
        assert meta["layers"] == list(INDICATOR_LAYERS)


def test_maps_rebuilds_the_demo_site_from_its_tables(
    written: dict[str, Path], rebuilt: Path
) -> None:
    site = written["site_index"].parent
    assert _pages(rebuilt) == _pages(site)
    first_district = next(name for name in _pages(site) if name.startswith("district-"))
    for name in (
        first_district,  # its neighbourhoods, not tracts: the layers keep the run's order
        "map-council_districts-rate_per_1k.html",
        "map-neighborhoods-ttc_median_days.html",
        "map-council_districts.html",  # with its disparity layer, read back from the tables
    ):
        assert _page(rebuilt / name) == _page(site / name), name


def test_maps_names_the_city_when_its_manifest_is_missing(
    written: dict[str, Path], tmp_path: Path
) -> None:
    moved = tmp_path / "indicators"  # the tables without the demo's layers folder
    shutil.copytree(written["indicators_equity"].parent, moved)
    runner = CliRunner()
    base = ["maps", str(moved), "--no-png", "--no-tiles", "--layer", "council_districts"]
    result = runner.invoke(main, [*base, "--out", str(tmp_path / "site")])
    assert result.exit_code != 0
    line = _error_line(result.output)
    assert "'demo'" in line
    assert str(moved / "../layers/demo.toml") in line
    assert "--city PATH" in line
    assert not (tmp_path / "site").exists()

    for path in moved.glob("*.json"):  # tables that record no manifest file
        meta = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(meta, dict) and meta.pop("city_manifest", None):
            path.write_text(json.dumps(meta), encoding="utf-8")
    result = runner.invoke(main, [*base, "--out", str(tmp_path / "site")])
    line = _error_line(result.output)
    assert "'demo'" in line
    assert "baltimore" in line
    assert "--city PATH" in line

    city = ["--city", str(written["manifest"]), "--district-layer", ""]
    result = runner.invoke(main, [*base, *city, "--out", str(tmp_path / "site")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "site" / "map-council_districts-rate_per_1k.html").read_text("utf-8")
    assert "Council districts" in page


def test_run_on_a_manifest_by_path_then_maps(
    written: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gis = tmp_path / "gis"
    gis.mkdir()
    for key in LAYER_IDS:
        shutil.copy(written[f"layer_{key}"], gis)
    text = written["manifest"].read_text(encoding="utf-8")
    (gis / "mycity.toml").write_text(text.replace('city = "demo"', 'city = "mycity"'), "utf-8")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    args = ["run", str(written["raw_requests"]), "--city", "gis/mycity.toml"]
    args += ["--schema", "open311", "--layer", "council_districts", "--district-layer", ""]
    result = runner.invoke(main, [*args, "--no-png", "--no-tiles", "--out", "out"])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out/indicators/council_districts.json").read_text("utf-8"))
    assert (meta["city"], meta["city_manifest"]) == ("mycity", "../../gis/mycity.toml")

    monkeypatch.chdir(gis)  # another working folder: found relative to the tables
    again = ["maps", "../out/indicators", "--no-png", "--no-tiles", "--out", "../again"]
    result = runner.invoke(main, again)
    assert result.exit_code == 0, result.output
    assert _pages(tmp_path / "again") == _pages(tmp_path / "out")
    name = "map-council_districts-rate_per_1k.html"
    assert _page(tmp_path / "again" / name) == _page(tmp_path / "out" / name)

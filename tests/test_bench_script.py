"""Keep scripts/bench_ingest.py working: tiny synthetic files, real geo311 and baseline runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import script_module

import geo311

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_ingest.py"


@pytest.fixture(scope="module")
def bench():
    with script_module("bench_ingest") as module:
        yield module


@pytest.fixture(scope="module")
def small_csv(bench, tmp_path_factory) -> Path:
    info = bench.ensure_csv(tmp_path_factory.mktemp("bench"), 2_000, 7)
    return Path(info["path"])


def test_csv_layout(bench, small_csv: Path) -> None:
    with small_csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    assert ",".join(header) == bench.HEADER
    assert len(body) == 2_000
    assert all(len(r) == len(header) for r in body)
    df = pd.DataFrame(body, columns=header)
    assert set(df["SRStatus"]) <= set(bench.STATUS_MAP)
    assert df["ServiceRequestNum"].is_unique
    for col in bench.DATE_COLUMNS:
        given = df[col][df[col] != ""]
        parsed = pd.to_datetime(given, format=bench.DATE_FORMAT, errors="coerce")
        assert parsed.notna().all(), col
    assert (df["CreatedDate"] != "").all()
    empty = df["Latitude"] == ""
    assert 0.01 < empty.mean() < 0.08
    assert ((df["Longitude"] == "") == empty).all()
    assert ((df["GeoLocation"] == "") == empty).all()
    lat = df.loc[~empty, "Latitude"].astype(float)
    lon = df.loc[~empty, "Longitude"].astype(float)
    assert lat.between(39.20, 39.37).all()
    assert lon.between(-76.71, -76.53).all()
    pair = df.loc[~empty, "GeoLocation"].str.extract(r"^\(([-\d.]+), ([-\d.]+)\)$").astype(float)
    assert np.allclose(pair[0], lat, atol=1e-9)
    assert np.allclose(pair[1], lon, atol=1e-9)


def test_generation_is_deterministic_and_cached(bench, small_csv: Path, tmp_path: Path) -> None:
    again = bench.ensure_csv(small_csv.parents[1], 2_000, 7)
    assert again["reused"]
    fresh = bench.ensure_csv(tmp_path, 2_000, 7)
    assert not fresh["reused"]
    assert Path(fresh["path"]).read_bytes() == small_csv.read_bytes()
    other = bench.ensure_csv(tmp_path, 2_000, 8)
    assert Path(other["path"]).read_bytes() != small_csv.read_bytes()


def test_geo311_and_baseline_agree(bench, small_csv: Path) -> None:
    result = geo311.read_requests(small_csv, schema="baltimore", as_of=bench.AS_OF, chunksize=700)
    ours = result.frame
    normalize = next(s for s in result.ledger.stages if s.stage == "normalize")
    assert not [k for k in normalize.flagged if k.startswith("unparsed_")]
    base = bench.run_method("baseline", small_csv)
    assert len(ours) == len(base) == 2_000
    created = base["CreatedDate"]
    known = created.notna().to_numpy()
    assert known.mean() > 0.99  # only DST-ambiguous/skipped wall times become NaT
    assert (ours["requested_datetime"].to_numpy()[known] == created.to_numpy()[known]).all()
    assert (ours["status"].to_numpy() == base["status"].to_numpy()).all()
    assert bench.frame_stats("geo311", ours)["rows_out"] == 2_000
    assert bench.frame_stats("baseline", base)["points_missing"] == (
        (base["Latitude"].isna()).sum()
    )


def test_summary_ratios(bench) -> None:
    def run(wall: float, peak: float) -> dict[str, float]:
        return {
            "wall_s": wall,
            "cpu_s": wall,
            "peak_rss_mb": peak,
            "rss_after_import_mb": 100.0,
            "rows_out": 10,
            "created_missing": 0,
            "points_missing": 0,
        }

    runs = {
        "geo311": [run(3.0, 300.0), run(5.0, 320.0), run(4.0, 310.0)],
        "baseline": [run(2.0, 200.0), run(2.0, 200.0), run(9.0, 200.0)],
    }
    summary = {s["method"]: s for s in bench.summarise(runs, 1_000)}
    assert summary["geo311"]["median_wall_s"] == 4.0
    assert summary["geo311"]["time_vs_baseline"] == pytest.approx(2.0)
    assert summary["geo311"]["peak_vs_baseline"] == pytest.approx(1.55)
    assert summary["baseline"]["rows_per_s"] == pytest.approx(500.0)
    table = bench.markdown_table(list(summary.values()))
    assert table.count("\n") == 3
    assert "| geo311 | 1,000 | 4.00 |" in table


def test_main_runs_children(bench, tmp_path: Path, capsys) -> None:
    argv = ["--rows", "300", "--repeat", "1", "--methods", "geo311", "baseline"]
    code = bench.main([*argv, "--out", str(tmp_path)])
    assert code == 0
    doc = json.loads((tmp_path / "bench_ingest.json").read_text(encoding="utf-8"))
    assert doc["machine"]["pandas"] == pd.__version__
    (report,) = doc["benchmarks"]
    methods = {s["method"]: s for s in report["summary"]}
    assert set(methods) == {"geo311", "baseline"}
    for s in methods.values():
        assert s["rows_out"] == 300
        assert s["median_wall_s"] > 0
        assert s["median_peak_rss_mb"] >= s["median_rss_after_import_mb"] > 10
    assert "| baseline | 300 |" in capsys.readouterr().out


def test_bench_site_pages_on_real_data(shared_data: Path, tmp_path: Path, capsys) -> None:
    with script_module("bench_site") as bench_site:
        code = bench_site.main(["--repeat", "1", "--no-site", "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "bench_site.json").read_text(encoding="utf-8"))
    assert report["setup"]["requests"] == 3_500
    assert "site" not in report
    pages = report["pages"]
    assert pages["areas"] == 278
    base, ours = pages["methods"]["geopandas"], pages["methods"]["geo311"]
    for run in (base, ours):
        assert 0 < run["seconds"] < 120
        assert run["bytes"] > 100_000
        assert run["peak_rss_mib"] >= run["rss_before_mib"] > 10
    assert pages["time_ratio"] == pytest.approx(ours["seconds"] / base["seconds"])
    assert pages["bytes_ratio"] == pytest.approx(ours["bytes"] / base["bytes"])
    html = Path(ours["page"]).read_text(encoding="utf-8")
    assert ours["offline"]
    assert '<script src="http' not in html
    assert base["external_files"] > 0  # explore's page loads Leaflet etc. from CDNs
    assert 0 < ours["max_displacement_m"] <= 5.0
    assert ours["vertices_after"] < ours["vertices_before"]
    assert "| **geo311 / geopandas** |" in capsys.readouterr().out


def test_bench_e2e_data_and_ratios(shared_data: Path, tmp_path: Path) -> None:
    # The generated export reads with the Baltimore profile, and the summary's ratios
    # are the ratios of the medians it reports (the full run takes minutes: not here).
    with script_module("bench_e2e") as bench_e2e:
        assert bench_e2e.parse_rows("50k") == 50_000
        assert bench_e2e.parse_rows("1M") == 1_000_000
        assert bench_e2e.parse_rows("1_000") == 1_000
        export = tmp_path / "requests.csv"
        bench_e2e.generate(export, 500)
        stages = [stage for stage, *_ in bench_e2e.COMPARISONS]
        tasks = dict.fromkeys(t for _, geo, base, _ in bench_e2e.COMPARISONS for t in (geo, base))
        runs = {  # task number n: rounds of n and 3n seconds, peaks 100n and 300n MiB
            task: [
                {"seconds": n, "peak_rss_mib": 100.0 * n},
                {"seconds": 3.0 * n, "peak_rss_mib": 300.0 * n},
            ]
            for n, task in enumerate(tasks, start=1)
        }
        summary = bench_e2e.summarise(runs)
        printed = bench_e2e.table(summary)
        like_for_like = bench_e2e.geo311_memory()  # what a geo311 command sets itself
    assert like_for_like["NUMPY_MADVISE_HUGEPAGE"] == "0"
    assert like_for_like["ARROW_DEFAULT_MEMORY_POOL"] in ("jemalloc", "mimalloc", "system")
    requests, ledger = geo311.read_requests(export)
    assert len(requests) + sum(ledger.stages[0].dropped.values()) == 500
    assert requests.attrs["timezone"] == "America/New_York"
    assert (requests["coord_quality"] == "ok").mean() > 0.9
    assert [s["stage"] for s in summary] == stages
    number = {task: n for n, task in enumerate(tasks, start=1)}
    for s in summary:
        g, b = number[s["geo311_task"]], number[s["straightforward_task"]]
        assert s["time_ratio_per_round"] == pytest.approx([g / b, g / b])
        assert s["geo311_s"] == pytest.approx(2.0 * g)  # median of g and 3g
        assert s["peak_ratio"] == pytest.approx(g / b)
        assert f"| {s['stage']} |" in printed


def test_parquet_methods_write_the_same_rows(bench, small_csv: Path) -> None:
    ours = bench.run_method("geo311-parquet", small_csv)
    plain = bench.run_method("plain-parquet", small_csv)
    assert len(ours) == len(plain) == 2_000
    assert bench.frame_stats("geo311-parquet", ours)["created_missing"] == 0
    assert bench.frame_stats("plain-parquet", plain)["created_missing"] == 0

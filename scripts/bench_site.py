"""Benchmark geo311's map page and static site against geopandas ``explore`` on real data.

Setup (not timed): the two real Open Baltimore 311 samples (3,500 requests)
are read with ``geo311.read_requests``, joined to the neighbourhoods, council
districts and census tracts with ``geo311.join_city`` and tabulated with
``geo311.indicators.tables.city_tables`` into an indicators folder
(``geo311.indicators.tables.write_tables``).  The neighbourhood outlines of that folder
(``neighborhoods.geojson``, 278 areas at full resolution) merged with its
indicator table (``neighborhoods.csv``) are the input of both page methods.

Each mode is measured in its own subprocess, so that peak memory belongs to
that mode alone: the worker reads its inputs, warms up, then (on Linux) resets
the kernel's peak-RSS mark, so "working MiB" is the mode's own peak above the
memory held before it; "peak RSS" includes the interpreter and imports.

``geopandas``
    One choropleth page of ``rate_per_1k`` the straightforward way:
    ``gdf.explore(column="rate_per_1k", scheme="quantiles", k=5, tooltip=[...])``
    then ``m.save(path)``.  The page links Leaflet, jQuery, Bootstrap and more
    from CDNs, so it does not work offline.
``geo311``
    The same page with ``geo311.simplify_for_display`` (5 m budget, topology
    kept), ``geo311.choropleth`` and ``geo311.save_map(..., assets="inline")``:
    one self-contained page (vendored Leaflet inlined; only the basemap tiles
    come from the network).
``site-png``, ``site-no-png``
    ``geo311.site.build.build_site`` of the tables held in memory (read from the
    folder before timing, titled and labelled by the Baltimore manifest, as
    ``geo311.write_site`` does): index, one map page per layer and headline
    indicator, one page per council district and a PNG per map; then with
    ``png=False``.  The worker builds the site once untimed (the display
    simplification is then cached on disk, the templates compiled) and times
    the second build: the warm-cache figure of a rerun.  On Linux the PNGs are
    drawn by a forked process while the pages are written; its CPU time counts
    in the site's, and its peak RSS is reported apart.
``explore-x3``
    What a script would do for the same tables: ``explore`` + ``save`` of
    ``rate_per_1k`` for each of the 3 layers, the site's baseline.
    The site modes and this one are skipped with ``--no-site`` (which also
    tabulates the neighbourhoods only).

Imports and first-call set-up (folium, mapclassify, matplotlib) are warmed on
a tiny frame before timing.  Each measurement can be repeated
(``--repeat``); the fastest run is kept, since on a shared machine the noise
only ever adds time.  The data are found in ``$GEO311_DATA_DIR/baltimore`` or
``<repo>/../shared/data/baltimore``.

Usage::

    python scripts/bench_site.py --repeat 3 --out bench-out
    python scripts/bench_site.py --repeat 1 --no-site      # the two pages only

Writes ``<out>/bench_site.json`` (and the pages and sites measured) and prints
Markdown tables; without ``--out`` everything goes to a new temporary folder.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _memory import peak_rss_mib, reset_peak_rss  # scripts/_memory.py

REPO = Path(__file__).resolve().parents[1]
CITY = "baltimore"
SAMPLES = ("sr311_2019_oct_sample.csv", "sr311_2018_sample.csv")
LAYERS = ("neighborhoods", "council_districts", "census_tracts")
LAYER = "neighborhoods"
COLUMN = "rate_per_1k"
TOOLTIP = [
    "area_name",
    "rate_per_1k",
    "rate_per_1k_ci_low",
    "rate_per_1k_ci_high",
    "requests",
    "population",
    "rate_flag",
]
PAGE_TITLE = "Requests per 1,000 residents by neighbourhood"
PAGE_MODES = ("geopandas", "geo311")
SITE_MODES = ("site-png", "site-no-png", "explore-x3")
_RESULT_MARK = "@@BENCH_RESULT@@ "
_EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']((?:https?:)?//[^\"']+)", re.I)
_EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']((?:https?:)?//[^\"']+)", re.I)


def data_dir() -> Path:
    """Return ``$GEO311_DATA_DIR`` or ``<repo>/../shared/data``."""
    override = os.environ.get("GEO311_DATA_DIR", "").strip()
    return Path(override) if override else REPO.parent / "shared" / "data"


@contextmanager
def _data_dir_env(path: Path) -> Iterator[None]:
    """Point ``GEO311_DATA_DIR`` at ``path`` for geo311's layer loader, then restore it."""
    old = os.environ.get("GEO311_DATA_DIR")
    os.environ["GEO311_DATA_DIR"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("GEO311_DATA_DIR", None)
        else:
            os.environ["GEO311_DATA_DIR"] = old


# --------------------------------------------------------------------------- setup


def build_indicators(folder: Path, layers: tuple[str, ...]) -> dict[str, Any]:
    """Ingest, join and tabulate the real samples into ``folder`` (the untimed setup)."""
    import geo311  # noqa: PLC0415
    import geo311.indicators.tables  # noqa: PLC0415

    source = data_dir()
    paths = [source / CITY / name for name in SAMPLES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        msg = f"{missing[0]} not found; set GEO311_DATA_DIR to the folder holding {CITY}/"
        raise SystemExit(msg)
    started = time.perf_counter()
    with _data_dir_env(source.resolve()):
        requests = geo311.read_requests(paths, schema=CITY)
        joined = geo311.join_city(requests.frame, city=CITY, layers=list(layers))
        group = "council_districts" if "council_districts" in layers else None
        tables = geo311.indicators.tables.city_tables(
            joined.frame, city=CITY, layers=list(layers), group=group
        )
    geo311.indicators.tables.write_tables(tables, folder, overwrite=True)
    return {
        "requests": len(requests.frame),
        "layers": list(layers),
        "folder": str(folder),
        "seconds": time.perf_counter() - started,
    }


def read_merged(folder: Path, layer: str = LAYER) -> Any:
    """A layer's outlines merged with its indicator table, as an analyst would."""
    import geopandas as gpd  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    areas = gpd.read_file(folder / f"{layer}.geojson")
    table = pd.read_csv(folder / f"{layer}.csv", dtype={"area_id": str})
    areas["area_id"] = areas["area_id"].astype(str)
    return areas.merge(table.drop(columns="area_name"), on="area_id", how="left")


# --------------------------------------------------------------------------- pages


def page_facts(path: Path) -> dict[str, Any]:
    """Bytes of a page and the scripts/stylesheets it fetches from other servers."""
    html = path.read_text(encoding="utf-8")
    external = _EXTERNAL_SCRIPT.findall(html) + _EXTERNAL_LINK.findall(html)
    return {
        "bytes": path.stat().st_size,
        "external_files": len(external),
        "external_urls": sorted(set(external)),
        "offline": not external,
    }


def run_geopandas(gdf: Any, path: Path) -> dict[str, Any]:
    """``explore`` + ``save``: the straightforward geopandas page."""
    m = gdf.explore(column=COLUMN, scheme="quantiles", k=5, tooltip=TOOLTIP)
    m.save(path)
    return {"areas": len(gdf)}


def run_geo311(gdf: Any, path: Path) -> dict[str, Any]:
    """``simplify_for_display`` + ``choropleth`` + ``save_map(assets="inline")``."""
    import geo311  # noqa: PLC0415

    began = time.perf_counter()
    shown = geo311.simplify_for_display(gdf)
    simplify_s = time.perf_counter() - began
    m = geo311.choropleth(shown.gdf, COLUMN, scheme="quantiles", k=5)
    geo311.save_map(m, path, title=PAGE_TITLE, assets="inline", overwrite=True)
    return {
        "areas": len(gdf),
        "simplify_seconds": simplify_s,
        "max_displacement_m": shown.max_displacement_m,
        "vertices_before": shown.vertices_before,
        "vertices_after": shown.vertices_after,
    }


def warm_up(gdf: Any, scratch: Path, *, mode: str) -> None:
    """Import folium, mapclassify (and matplotlib) and render ``mode`` once on a tiny frame."""
    import geo311  # noqa: PLC0415

    scratch.mkdir(parents=True, exist_ok=True)
    tiny = gdf.head(8)
    if mode == "geopandas":
        run_geopandas(tiny, scratch / "geopandas.html")
    else:
        run_geo311(tiny, scratch / "geo311.html")
    if mode == "site-png":
        geo311.static_map(tiny, COLUMN, scratch / "tiny.png", overwrite=True)
    shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------- measuring


def run_explore_x3(frames: dict[str, Any], out: Path) -> dict[str, Any]:
    """``explore`` + ``save`` of every layer: the script's three maps."""
    for layer, gdf in frames.items():
        run_geopandas(gdf, out / f"explore-{layer}.html")
    return {"pages": len(frames), "areas": sum(len(g) for g in frames.values())}


def site_call(indicators: Path) -> Callable[[Path, bool], Any]:
    """Read the tables into memory; return a call building their site (as ``write_site`` does)."""
    from geo311.io.tables import read_tables  # noqa: PLC0415
    from geo311.join.manifest import load_manifest  # noqa: PLC0415
    from geo311.site.build import build_site  # noqa: PLC0415

    tables = read_tables(indicators, layers=list(LAYERS))
    specs = load_manifest(CITY).layers

    def call(site: Path, png: bool) -> Any:
        return build_site(
            tables,
            site,
            district_layer="council_districts",
            titles={k: specs[k].title for k in tables},
            area_labels={k: specs[k].display for k in tables},
            png=png,
            overwrite=True,
        )

    return call


def cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for (the site's PNG process)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def children_peak_rss_mib() -> float:
    """Largest peak RSS of the children this process waited for (0 without any), in MiB.

    The site's PNG process is forked: the pages it shares with the builder
    count in both peaks.
    """
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def run_site(build: Callable[[Path, bool], Any], site: Path, *, png: bool) -> dict[str, Any]:
    """Build the site with basemap tiles; return its page/PNG counts and sizes."""
    result = build(site, png)
    sizes = [result.sizes[p] for p in result.pages]
    return {
        "pages": len(result.pages),
        "pngs": len(result.pngs),
        "page_bytes": sum(sizes),
        "png_bytes": sum(p.stat().st_size for p in result.pngs),
        "largest_page_bytes": max(sizes),
        "external_files": sum(page_facts(p)["external_files"] for p in result.pages),
        "max_displacement_m": max(result.max_displacement_m.values()),
        "site": str(site),
    }


def worker(mode: str, indicators: Path, out: Path) -> dict[str, Any]:
    """Read the inputs, warm up, then measure one run of ``mode`` in this process."""
    gdf = read_merged(indicators)
    warm_up(gdf, out / f"warm-up-{os.getpid()}", mode=mode)
    call: Callable[[], dict[str, Any]]
    if mode == "geopandas":
        call = functools.partial(run_geopandas, gdf, out / "page-geopandas.html")
    elif mode == "geo311":
        call = functools.partial(run_geo311, gdf, out / "page-geo311.html")
    elif mode == "explore-x3":
        frames = {layer: read_merged(indicators, layer) for layer in LAYERS}
        call = functools.partial(run_explore_x3, frames, out)
    else:
        build = site_call(indicators)
        png = mode == "site-png"
        scratch = out / f"warm-up-site-{os.getpid()}"
        build(scratch, png)  # untimed: fills the display cache, compiles the templates
        shutil.rmtree(scratch, ignore_errors=True)
        call = functools.partial(run_site, build, out / mode, png=png)
    del gdf  # the page methods hold it through their call
    gc.collect()
    before = reset_peak_rss()
    start, cpu_start = time.perf_counter(), cpu_seconds()
    info = call()
    seconds = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_start
    peak = peak_rss_mib()
    if mode in PAGE_MODES:
        page = out / f"page-{mode}.html"
        info.update(page_facts(page), page=str(page))
    return {
        "mode": mode,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_before_mib": before,
        "peak_rss_mib": peak,
        "working_mib": peak - before,
        "child_peak_rss_mib": children_peak_rss_mib(),
        **info,
    }


def run_mode(mode: str, indicators: Path, out: Path) -> dict[str, Any]:
    """Run one mode in a fresh interpreter (so its peak memory is its own); return the result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode]
    command += ["--indicators", str(indicators), "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(_RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        msg = f"{mode} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(_RESULT_MARK))
    return result


def bench(modes: tuple[str, ...], indicators: Path, out: Path, *, repeat: int) -> dict[str, Any]:
    """Run every mode ``repeat`` times, interleaved so drift hits all alike; keep the fastest."""
    best: dict[str, Any] = {}
    for attempt in range(repeat):
        for mode in modes:
            print(f"{mode} #{attempt + 1}", file=sys.stderr, flush=True)
            got = run_mode(mode, indicators, out)
            if mode not in best or got["seconds"] < best[mode]["seconds"]:
                best[mode] = got
    return best


# --------------------------------------------------------------------------- report


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables."""
    pages = report["pages"]
    base, ours = pages["methods"]["geopandas"], pages["methods"]["geo311"]
    lines = [
        f"One choropleth page of {COLUMN}, {pages['areas']} Baltimore neighbourhoods "
        f"({ours['vertices_before']:,} vertices), best of {report['repeat']}",
        "",
        "| method | wall s | CPU s | of which simplify s | page bytes | offline "
        "| max displacement m | peak RSS MiB | working MiB |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
        f"| geopandas `explore` + `save` | {base['seconds']:.2f} | {base['cpu_seconds']:.2f} | - "
        f"| {base['bytes']:,} | no ({base['external_files']} CDN files) | 0 "
        f"| {base['peak_rss_mib']:,.0f} | {base['working_mib']:,.0f} |",
        f"| geo311 `simplify_for_display` + `choropleth` + `save_map` (inline) "
        f"| {ours['seconds']:.2f} | {ours['cpu_seconds']:.2f} | {ours['simplify_seconds']:.2f} "
        f"| {ours['bytes']:,} | {'yes' if ours['offline'] else 'no'} "
        f"| {ours['max_displacement_m']:.2f} | {ours['peak_rss_mib']:,.0f} "
        f"| {ours['working_mib']:,.0f} |",
        f"| **geo311 / geopandas** | **{pages['time_ratio']:.2f}x** | "
        f"{pages['cpu_ratio']:.2f}x | | **{pages['bytes_ratio']:.2f}x** "
        f"| | | | {_ratio(ours['working_mib'], base['working_mib'])} |",
        "",
        f"The geopandas page fetches {base['external_files']} scripts/stylesheets "
        "(Leaflet, jQuery, Bootstrap, ...) from CDNs and shows nothing offline; its bytes "
        'exclude them. The geo311 page inlines its vendored Leaflet (no `<script src="http`); '
        f"only basemap tiles need the network. geo311 draws {ours['vertices_after']:,} vertices "
        f"instead of {ours['vertices_before']:,}, no boundary moved more than "
        f"{ours['max_displacement_m']:.2f} m.",
    ]
    site = report.get("site")
    if site:
        base3 = site["explore-x3"]
        lines += [
            "",
            f"The whole site of the tables in memory ({', '.join(report['setup']['layers'])}), "
            f"second build in the process (warm cache), best of {report['repeat']}; "
            "the ratio is against `explore` + `save` of the 3 layers in the same run "
            f"({base3['seconds']:.2f} s, {base3['cpu_seconds']:.2f} CPU s, "
            f"{base3['peak_rss_mib']:,.0f} MiB peak RSS)",
            "",
            "| build_site | wall s | CPU s | vs explore x3 (wall, CPU) | pages | PNGs "
            "| page bytes | largest page bytes | PNG bytes | CDN files | max displacement m "
            "| peak RSS MiB | working MiB |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for label in ("site-png", "site-no-png"):
            run = site[label]
            lines.append(
                f"| tiles=True, png={label == 'site-png'} | {run['seconds']:.2f} "
                f"| {run['cpu_seconds']:.2f} | {_ratio(run['seconds'], base3['seconds'])}, "
                f"{_ratio(run['cpu_seconds'], base3['cpu_seconds'])} | {run['pages']} "
                f"| {run['pngs']} | {run['page_bytes']:,} | {run['largest_page_bytes']:,} "
                f"| {run['png_bytes']:,} | {run['external_files']} "
                f"| {run['max_displacement_m']:.2f} | {run['peak_rss_mib']:,.0f} "
                f"| {run['working_mib']:,.0f} |"
            )
        child = site["site-png"].get("child_peak_rss_mib", 0.0)
        if child:
            lines += [
                "",
                "With PNGs, CPU s counts the forked process that draws them while the pages "
                f"are written; its peak RSS was {child:,.0f} MiB (pages shared with the "
                "builder count in both peaks).",
            ]
    if report.get("load_average"):
        load = ", ".join(f"{v:.1f}" for v in report["load_average"])
        lines += ["", f"Load average at the end of the run: {load} (on {os.cpu_count()} CPUs)."]
    return "\n".join(lines)


def _ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}x" if base > 0 else "-"


def machine_info() -> dict[str, Any]:
    """Interpreter, CPUs and the versions of the libraries measured."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for package in ("geo311", "geopandas", "shapely", "folium", "mapclassify", "matplotlib"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    return info


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (or one worker)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each measurement this often, keep the fastest"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the outputs (default: a new temp dir)"
    )
    parser.add_argument("--no-site", action="store_true", help="measure the two pages only")
    parser.add_argument("--worker", choices=PAGE_MODES + SITE_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--indicators", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.worker, args.indicators, args.out)
        print(_RESULT_MARK + json.dumps(result), flush=True)
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be positive")
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="bench_site-"))
    out.mkdir(parents=True, exist_ok=True)

    layers = (LAYER,) if args.no_site else LAYERS
    print("setup: ingest, join and tabulate the real samples", file=sys.stderr, flush=True)
    indicators = out / "indicators"
    setup = build_indicators(indicators, layers)
    pages = bench(PAGE_MODES, indicators, out, repeat=args.repeat)
    base, ours = pages["geopandas"], pages["geo311"]
    report: dict[str, Any] = {
        "repeat": args.repeat,
        "setup": setup,
        "pages": {
            "areas": ours["areas"],
            "methods": pages,
            "time_ratio": ours["seconds"] / base["seconds"],
            "cpu_ratio": ours["cpu_seconds"] / base["cpu_seconds"],
            "bytes_ratio": ours["bytes"] / base["bytes"],
        },
    }
    if not args.no_site:
        report["site"] = bench(SITE_MODES, indicators, out, repeat=args.repeat)
    report["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    report["machine"] = machine_info()
    path = out / "bench_site.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

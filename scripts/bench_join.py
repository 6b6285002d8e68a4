"""Benchmark the spatial join: geopandas ``sjoin`` against the grid ``AreaIndex``.

Synthetic requests are spread like real ones over real Baltimore: "address
sites" are drawn inside the 2020 census tracts in proportion to their 2020
population, and each request is a site plus a few metres of jitter.  A few
requests sit exactly on neighbourhood boundary vertices (street intersections,
which is where "corner of X and Y" requests are geocoded), a few are scattered
over and around the city, and a few have no coordinates.

Each size is measured in three modes, each in its own subprocess so that peak
memory belongs to that mode alone (on Linux the kernel's peak-RSS mark is reset
after the inputs are read, so "working MiB" is the mode's own peak above that):

``sjoin``
    ``geopandas.points_from_xy`` once, then ``sjoin(predicate="within")`` per
    layer -- the straightforward way.
``cold``
    :func:`geo311.join.index_cache.cached_index` with an empty cache (build and
    save the three indexes), then ``locate`` per layer.
``warm``
    The same with the cache filled by the cold run (load, then locate).

Reading the boundary files and the points is excluded from every mode.  The
assignments are compared with ``sjoin``; every difference is classified, and a
random sample plus every difference is checked against a brute-force
``shapely.intersects_xy`` over all polygons.  Optionally (``--trees``) shapely's
``STRtree`` and ``rtree`` are measured for the same access pattern.

Each mode can be repeated (``--repeat``); the fastest run is kept, since on a
shared machine the noise only ever adds time.

Usage::

    python scripts/bench_join.py --points 100000 1000000 5000000 --repeat 3 --trees
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from _memory import peak_rss_mib, reset_peak_rss  # scripts/_memory.py

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("neighborhoods_2010", "council_districts_2012", "census_tracts_2020")
# "assign" is the whole geo311.assign_areas (status columns, ids, names) with warm indexes.
MODES = ("sjoin", "cold", "warm", "assign")
N_SITES = 200_000
SEED = 311
JITTER_DEG = 4e-5  # about 4 m of latitude, 3.5 m of longitude in Baltimore
SHARE_ON_VERTEX = 0.005
SHARE_SCATTERED = 0.005
SHARE_MISSING = 0.002


def data_dir() -> Path:
    """Return ``$GEO311_DATA_DIR`` or ``<repo>/../shared/data``."""
    override = os.environ.get("GEO311_DATA_DIR", "").strip()
    return Path(override) if override else REPO.parent / "shared" / "data"


def read_layer(name: str) -> Any:
    """Read one Baltimore layer as a GeoDataFrame with a fresh RangeIndex."""
    import geopandas as gpd  # noqa: PLC0415 -- keep worker start-up lean

    path = data_dir() / "baltimore" / f"{name}.geojson"
    if not path.is_file():
        msg = f"{path} not found; set GEO311_DATA_DIR to the folder holding baltimore/"
        raise SystemExit(msg)
    return gpd.read_file(path).reset_index(drop=True)


def _sample_inside(geom: Any, count: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``count`` uniform points inside ``geom`` by rejection from its box."""
    xmin, ymin, xmax, ymax = shapely.bounds(geom)
    shapely.prepare(geom)
    found: list[np.ndarray] = []
    need = count
    while need > 0:
        draw = max(64, int(need * 2.5))
        px = rng.uniform(xmin, xmax, draw)
        py = rng.uniform(ymin, ymax, draw)
        keep = shapely.intersects_xy(geom, px, py)
        got = np.column_stack([px[keep], py[keep]])[:need]
        found.append(got)
        need -= len(got)
    return np.concatenate(found)


def address_sites(tracts: Any, rng: np.random.Generator) -> np.ndarray:
    """Return ``N_SITES`` points inside the tracts, allotted by 2020 population."""
    pop = tracts["pop_2020"].to_numpy(dtype=float)
    counts = rng.multinomial(N_SITES, pop / pop.sum())
    geoms = tracts.geometry.to_numpy()
    parts = [_sample_inside(geoms[i], int(c), rng) for i, c in enumerate(counts) if c]
    return np.concatenate(parts)


def synthetic_points(n: int, tracts: Any, neighborhoods: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` request coordinates (lon, lat) spread like real 311 requests."""
    sites = address_sites(tracts, np.random.default_rng(SEED))
    rng = np.random.default_rng([SEED, n])
    n_vertex = int(n * SHARE_ON_VERTEX)
    n_scatter = int(n * SHARE_SCATTERED)
    n_missing = int(n * SHARE_MISSING)
    n_site = n - n_vertex - n_scatter - n_missing
    pick = sites[rng.integers(0, len(sites), n_site)]
    near = pick + rng.normal(0.0, JITTER_DEG, pick.shape)
    vertices = shapely.get_coordinates(neighborhoods.geometry.to_numpy())
    on_vertex = vertices[rng.integers(0, len(vertices), n_vertex)]
    xmin, ymin, xmax, ymax = neighborhoods.total_bounds
    pad_x, pad_y = 0.1 * (xmax - xmin), 0.1 * (ymax - ymin)
    scattered = np.column_stack(
        [
            rng.uniform(xmin - pad_x, xmax + pad_x, n_scatter),
            rng.uniform(ymin - pad_y, ymax + pad_y, n_scatter),
        ]
    )
    missing = np.full((n_missing, 2), np.nan)
    xy = np.concatenate([near, on_vertex, scattered, missing])
    xy = xy[rng.permutation(n)]
    return np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])


# --------------------------------------------------------------------------- workers


def run_sjoin(x: np.ndarray, y: np.ndarray, layers: dict[str, Any]) -> dict[str, Any]:
    """Time points_from_xy + sjoin(within) per layer; return timings and assignments."""
    import geopandas as gpd  # noqa: PLC0415

    timings: dict[str, float] = {}
    areas: dict[str, np.ndarray] = {}
    start = time.perf_counter()
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    timings["points"] = time.perf_counter() - start
    for name, layer in layers.items():
        began = time.perf_counter()
        joined = gpd.sjoin(points, layer[["geometry"]], how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        right = joined["index_right"].to_numpy(dtype=float, na_value=np.nan)
        area = np.where(np.isnan(right), -1, right).astype(np.int64)
        timings[f"join:{name}"] = time.perf_counter() - began
        areas[name] = area
    timings["total"] = time.perf_counter() - start
    return {"timings": timings, "areas": areas, "ties": {}}


def run_index(
    x: np.ndarray, y: np.ndarray, layers: dict[str, Any], cache_dir: Path
) -> dict[str, Any]:
    """Time cached_index (build or load) + locate per layer."""
    from geo311.join.index_cache import cached_index  # noqa: PLC0415

    timings: dict[str, float] = {}
    areas: dict[str, np.ndarray] = {}
    ties: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    for name, layer in layers.items():
        began = time.perf_counter()
        index = cached_index(layer.geometry.to_numpy(), cache_dir=cache_dir)
        timings[f"index:{name}"] = time.perf_counter() - began
        began = time.perf_counter()
        found = index.locate(x, y)
        timings[f"locate:{name}"] = time.perf_counter() - began
        areas[name] = found.area
        ties[name] = found.tie
        code = index.grid[index.cells(x, y)]
        info[name] = {
            "cell_size": index.cell_size,
            "grid": list(index.shape),
            "edge_cells": index.n_edge_cells,
            "index_mib": index.nbytes / 2**20,
            "npz_mib": (cache_dir / f"{index.fingerprint}.npz").stat().st_size / 2**20,
            "share_points_in_edge_cells": float((code <= -2).sum() / len(x)),
        }
    # The diagnostics above (cell codes, file size) are not part of the join.
    timings["total"] = sum(v for k, v in timings.items() if k.split(":")[0] in {"index", "locate"})
    return {"timings": timings, "areas": areas, "ties": ties, "index": info}


ID_FIELDS = {
    "neighborhoods_2010": "nbhd_id",
    "council_districts_2012": "district",
    "census_tracts_2020": "geoid",
}


def prepare_assign(layers: dict[str, Any]) -> dict[str, Any]:
    """Validate the layers as geo311 Layers (file reading and validation are not timed)."""
    from geo311.join.layers import read_layer as geo311_layer  # noqa: PLC0415

    return {
        name: [geo311_layer(layer, key=name, id_field=ID_FIELDS[name], name_field="name").layer]
        for name, layer in layers.items()
    }


def run_assign(
    x: np.ndarray, y: np.ndarray, layers: dict[str, Any], cache_dir: Path
) -> dict[str, Any]:
    """Time the whole geo311.assign_areas on a request frame (indexes loaded from cache)."""
    import pandas as pd  # noqa: PLC0415

    from geo311.join.assign import assign_areas  # noqa: PLC0415

    frame = pd.DataFrame(
        {
            "lat": y,
            "long": x,
            "coord_quality": np.where(np.isnan(x), "missing", "ok"),
            "requested_datetime": pd.Timestamp("2019-06-01", tz="UTC"),
        }
    )
    start = time.perf_counter()
    joined, _ = assign_areas(frame, layers, cache_dir=cache_dir)
    total = time.perf_counter() - start
    areas: dict[str, np.ndarray] = {}
    ties: dict[str, np.ndarray] = {}
    for name, (layer,) in layers.items():
        ids = pd.Index(layer.gdf["area_id"])
        areas[name] = ids.get_indexer(joined[f"{name}_id"].fillna("").to_numpy(object))
        ties[name] = (joined[f"{name}_join"] == "edge_tie").to_numpy(bool)
    return {"timings": {"total": total}, "areas": areas, "ties": ties}


def worker(args: argparse.Namespace) -> None:
    """Run one mode on one points file; write timings, memory and assignments."""
    layers = {name: read_layer(name) for name in LAYERS}
    if args.worker == "assign":
        layers = prepare_assign(layers)
    with np.load(args.points_file) as data:
        x, y = data["x"], data["y"]
    gc.collect()
    baseline = reset_peak_rss()
    if args.worker == "sjoin":
        result = run_sjoin(x, y, layers)
    elif args.worker == "assign":
        result = run_assign(x, y, layers, Path(args.cache_dir))
    else:
        result = run_index(x, y, layers, Path(args.cache_dir))
    peak = peak_rss_mib()
    arrays = {f"area:{k}": v for k, v in result.pop("areas").items()}
    arrays.update({f"tie:{k}": v for k, v in result.pop("ties").items()})
    np.savez(args.result_file, **arrays)
    result.update({"rss_baseline_mib": baseline, "rss_peak_mib": peak, "n": len(x)})
    Path(args.result_file).with_suffix(".json").write_text(json.dumps(result, indent=2))


def run_mode(mode: str, points_file: Path, cache_dir: Path, out: Path, n: int) -> dict[str, Any]:
    """Run one mode in a fresh interpreter and collect its result."""
    result_file = out / f"result-{mode}-{n}.npz"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        mode,
        "--points-file",
        str(points_file),
        "--cache-dir",
        str(cache_dir),
        "--result-file",
        str(result_file),
    ]
    subprocess.run(command, check=True)
    result = json.loads(result_file.with_suffix(".json").read_text())
    with np.load(result_file) as data:
        result["arrays"] = {k: data[k] for k in data.files}
    result_file.unlink()
    result_file.with_suffix(".json").unlink()
    return result


# --------------------------------------------------------------------------- checks


def compare(
    x: np.ndarray,
    y: np.ndarray,
    *,
    layers: dict[str, Any],
    sjoin: dict[str, Any],
    index: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Classify every disagreement between sjoin and the index; brute-force a sample."""
    report: dict[str, Any] = {}
    for name, layer in layers.items():
        ours = index["arrays"][f"area:{name}"]
        tie = index["arrays"][f"tie:{name}"]
        theirs = sjoin["arrays"][f"area:{name}"]
        geoms = shapely.from_wkb(shapely.to_wkb(layer.geometry.to_numpy()))
        only_ours = np.flatnonzero((ours >= 0) & (theirs < 0))
        only_theirs = np.flatnonzero((ours < 0) & (theirs >= 0))
        differ = np.flatnonzero((ours >= 0) & (theirs >= 0) & (ours != theirs))
        boundaries = shapely.boundary(geoms)
        on_edge = shapely.intersects_xy(boundaries[ours[only_ours]], x[only_ours], y[only_ours])
        sample = rng.choice(len(x), size=min(len(x), 100_000), replace=False)
        check = np.unique(np.concatenate([sample, only_ours, only_theirs, differ]))
        covers = np.column_stack([shapely.intersects_xy(g, x[check], y[check]) for g in geoms])
        n_cover = covers.sum(axis=1)
        got = ours[check]
        exact = (
            np.all((n_cover == 0) == (got < 0))
            and np.all(tie[check] == (n_cover >= 2))
            and np.all(covers[np.flatnonzero(got >= 0), got[got >= 0]])
            and np.all(got[n_cover == 1] == covers[n_cover == 1].argmax(axis=1))
        )
        report[name] = {
            "assigned_by_index": int((ours >= 0).sum()),
            "assigned_by_sjoin": int((theirs >= 0).sum()),
            "ties": int(tie.sum()),
            "index_only": len(only_ours),
            "index_only_on_boundary": int(on_edge.sum()),
            "index_only_ties": int(tie[only_ours].sum()),
            "sjoin_only": len(only_theirs),
            "different_area": len(differ),
            "different_area_ties": int(tie[differ].sum()),
            "brute_force_checked": len(check),
            "brute_force_identical": bool(exact),
        }
    return report


class _Timer:
    """Collect wall-clock seconds of named steps into a dict."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result

    def __call__(self, label: str, func: Any) -> Any:
        began = time.perf_counter()
        value = func()
        self.result[label] = time.perf_counter() - began
        return value


def _rtree_index(geoms: np.ndarray) -> Any:
    """Return an rtree bulk-loaded with the polygons' boxes, or None if rtree is missing."""
    try:
        from rtree import index as rtree_index  # noqa: PLC0415
    except ImportError:
        return None
    bounds = shapely.bounds(geoms)
    return rtree_index.Index((i, tuple(b), None) for i, b in enumerate(bounds))


def _rtree_pairs(tree: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (point, polygon) pairs whose polygon box holds the point, via rtree."""
    xy = np.column_stack([x, y])
    ids, counts = tree.intersection_v(xy, xy)
    owner = np.repeat(np.arange(len(x)), counts.astype(np.intp))
    return owner, ids.astype(np.intp)


def compare_whole_join(x: np.ndarray, y: np.ndarray, geoms: np.ndarray) -> dict[str, Any]:
    """Time the trees as the whole join: every covering pair, no grid, no tie rule."""
    result: dict[str, Any] = {"points": len(x)}
    timed = _Timer(result)
    points = timed("strtree_points_from_xy_s", lambda: shapely.points(x, y))
    tree = timed("strtree_build_s", lambda: shapely.STRtree(geoms))
    # What sjoin does: a tree over the points, queried with each (prepared) polygon.
    point_tree = timed("strtree_point_tree_build_s", lambda: shapely.STRtree(points))
    timed("strtree_polygons_into_point_tree_s", lambda: point_tree.query(geoms, "intersects"))
    # Box candidates from a polygon tree, then the same exact test for both trees.
    owner, cand = timed("strtree_box_query_s", lambda: tree.query(points))
    result["box_candidates_per_point"] = len(owner) / len(x)
    timed(
        "exact_test_of_box_candidates_s",
        lambda: shapely.intersects_xy(geoms[cand], x[owner], y[owner]),
    )
    rtree = timed("rtree_build_s", lambda: _rtree_index(geoms))
    if rtree is None:
        result["rtree"] = "not installed"
        return result
    owner_r, _ = timed("rtree_box_query_s", lambda: _rtree_pairs(rtree, x, y))
    result["rtree_box_candidates_per_point"] = len(owner_r) / len(x)
    return result


def compare_candidates(
    x: np.ndarray, y: np.ndarray, geoms: np.ndarray, index: Any
) -> dict[str, Any]:
    """Time candidate lookup + exact test for the points that fall in edge cells."""
    result: dict[str, Any] = {}
    timed = _Timer(result)
    code = index.grid[index.cells(x, y)]
    edge = np.flatnonzero(code <= -2)
    ex, ey = x[edge], y[edge]
    result["edge_points"] = len(edge)
    timed("grid_locate_all_points_s", lambda: index.locate(x, y))

    def grid_pairs() -> Any:
        cell = -2 - code[edge]
        start = index.edge_ptr[cell]
        counts = index.edge_ptr[cell + 1] - start
        owner = np.repeat(np.arange(len(edge)), counts)
        offset = np.repeat(start - (np.cumsum(counts) - counts), counts)
        cand = index.edge_candidates[offset + np.arange(len(owner))]
        result["grid_pairs"] = len(owner)
        return shapely.intersects_xy(geoms[cand], ex[owner], ey[owner])

    def strtree_pairs() -> Any:
        owner, cand = shapely.STRtree(geoms).query(shapely.points(ex, ey))
        result["strtree_pairs"] = len(owner)
        return shapely.intersects_xy(geoms[cand], ex[owner], ey[owner])

    timed("grid_candidates_and_test_s", grid_pairs)
    timed("strtree_candidates_and_test_s", strtree_pairs)
    rtree = _rtree_index(geoms)
    if rtree is not None:

        def rtree_pairs() -> Any:
            owner, cand = _rtree_pairs(rtree, ex, ey)
            result["rtree_pairs"] = len(owner)
            return shapely.intersects_xy(geoms[cand], ex[owner], ey[owner])

        timed("rtree_candidates_and_test_s", rtree_pairs)
    return result


def compare_trees(x: np.ndarray, y: np.ndarray, layer: Any, cache_dir: Path) -> dict[str, Any]:
    """Measure shapely's STRtree against rtree, as whole join and as candidate step."""
    from geo311.join.index_cache import cached_index  # noqa: PLC0415

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    geoms = shapely.from_wkb(shapely.to_wkb(layer.geometry.to_numpy()))
    shapely.prepare(geoms)
    index = cached_index(layer.geometry.to_numpy(), cache_dir=cache_dir)
    index.locate(x[:1000], y[:1000])  # warm the prepared geometries of both
    shapely.intersects_xy(geoms, x[0], y[0])
    return {
        "whole_join": compare_whole_join(x, y, geoms),
        "edge_cell_candidates": compare_candidates(x, y, geoms, index),
    }


# --------------------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    """Render the measurements as Markdown tables."""
    lines = [
        "| points | mode | seconds | points/s/layer | speed-up vs sjoin "
        "| peak RSS MiB | working MiB | working MiB per 1M points |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in results["runs"]:
        n = run["n"]
        base = run["modes"]["sjoin"]["timings"]["total"]
        for mode in MODES:
            got = run["modes"][mode]
            total = got["timings"]["total"]
            working = got["rss_peak_mib"] - got["rss_baseline_mib"]
            lines.append(
                f"| {n:,} | {mode} | {total:.2f} | {n * len(LAYERS) / total:,.0f} "
                f"| {base / total:.1f}x | {got['rss_peak_mib']:.0f} | {working:.0f} "
                f"| {working / (n / 1e6):.0f} |"
            )
    lines += [
        "",
        "| layer | areas | vertices | cell size | grid | edge cells | index MiB | npz MiB "
        "| build+save s | load s | points in edge cells |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    last = results["runs"][-1]
    for name in LAYERS:
        info = last["modes"]["cold"]["index"][name]
        layer = results["layers"][name]
        lines.append(
            f"| {name} | {layer['areas']} | {layer['vertices']:,} | {info['cell_size']:g} "
            f"| {info['grid'][0]} x {info['grid'][1]} | {info['edge_cells']:,} "
            f"| {info['index_mib']:.1f} | {info['npz_mib']:.1f} "
            f"| {last['modes']['cold']['timings'][f'index:{name}']:.3f} "
            f"| {last['modes']['warm']['timings'][f'index:{name}']:.3f} "
            f"| {info['share_points_in_edge_cells']:.1%} |"
        )
    lines += [
        "",
        "| points | layer | ties | index only (on boundary) | sjoin only | different area (ties) "
        "| brute-force identical |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for run in results["runs"]:
        for name, row in run["agreement"].items():
            lines.append(
                f"| {run['n']:,} | {name} | {row['ties']:,} | {row['index_only']:,} "
                f"({row['index_only_on_boundary']:,}) | {row['sjoin_only']:,} "
                f"| {row['different_area']:,} ({row['different_area_ties']:,}) "
                f"| {row['brute_force_identical']} "
                f"({row['brute_force_checked']:,} points) |"
            )
    if results.get("trees"):
        lines += ["", "| STRtree vs rtree, neighborhoods_2010 | value |", "|---|---:|"]
        for part, values in results["trees"].items():
            for key, value in values.items():
                shown = f"{value:.3f}" if isinstance(value, float) else f"{value:,}"
                lines.append(f"| {part}: {key} | {shown} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the benchmark (or one worker)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--out", type=Path, default=REPO / "bench-out")
    parser.add_argument(
        "--trees", action="store_true", help="also measure STRtree and rtree (on <= 1M points)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each mode this often, keep the fastest"
    )
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--points-file", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    layers = {name: read_layer(name) for name in LAYERS}
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "layers": {
            name: {
                "areas": len(layer),
                "vertices": int(shapely.get_num_coordinates(layer.geometry.to_numpy()).sum()),
            }
            for name, layer in layers.items()
        },
        "runs": [],
    }
    small = [p for p in args.points if p <= 1_000_000]
    tree_n = max(small) if args.trees and small else None
    for n in args.points:
        x, y = synthetic_points(n, layers["census_tracts_2020"], layers["neighborhoods_2010"])
        points_file = out / f"points-{n}.npz"
        np.savez(points_file, x=x, y=y)
        cache_dir = out / f"index-cache-{n}"
        modes: dict[str, Any] = {}
        for attempt in range(args.repeat):
            shutil.rmtree(cache_dir, ignore_errors=True)  # every cold run starts empty
            for mode in MODES:
                print(f"{n:>10,} points: {mode} #{attempt + 1}", file=sys.stderr, flush=True)
                got = run_mode(mode, points_file, cache_dir, out, n)
                best = modes.get(mode)
                if best is None or got["timings"]["total"] < best["timings"]["total"]:
                    modes[mode] = got
        agreement = compare(
            x,
            y,
            layers=layers,
            sjoin=modes["sjoin"],
            index=modes["cold"],
            rng=np.random.default_rng(SEED),
        )
        warm_same = all(
            np.array_equal(modes["cold"]["arrays"][k], modes[other]["arrays"][k])
            for k in modes["cold"]["arrays"]
            for other in ("warm", "assign")
        )
        for got in modes.values():
            got.pop("arrays")
        results["runs"].append(
            {"n": n, "modes": modes, "agreement": agreement, "warm_equals_cold": warm_same}
        )
        if n == tree_n:
            results["trees"] = compare_trees(x, y, layers["neighborhoods_2010"], cache_dir)
        points_file.unlink()
    table = markdown(results)
    print(table)
    (out / "bench_join.json").write_text(json.dumps(results, indent=2))
    (out / "bench_join.md").write_text(table + "\n")


if __name__ == "__main__":
    main()

"""Benchmark every indicator of :mod:`geo311.indicators` on a large synthetic city.

The city is a grid of square neighbourhoods (278 by default) grouped into
council districts (14), laid over Baltimore's UTM zone; requests are generated
column by column in the canonical schema (already joined to both layers):
skewed demand per neighbourhood, 40 service types with their own log-normal
time to close and due date, a year of creation times with weekday/hour
profiles, open requests at the export time, duplicates, transfers, proactive
requests and a few closed-before-created rows.

Measured, after the data is built (and the process's peak-RSS mark reset,
on Linux, so the peak is the indicators' own):

* ``area_indicators`` for neighbourhoods and districts (with populations),
* ``city_indicators``,
* ``time_patterns`` (day of week, hour, month) and ``channel_mix`` for both layers;
* the same calls again inside one ``shared_selection`` block, as a run makes
  them (the requests selected once for all of them);
* ``build_tables`` for three layers -- neighbourhoods, districts and the
  census tracts (a grid of the same squares with 11-digit GEOIDs and a
  ``population`` column, the denominators' source) -- inside one
  ``shared_selection`` block: every table ``geo311 indicators`` computes
  (indicators, citywide rows, previous period, patterns, channel and service
  mixes, equity, disparity), populations interpolated from the tracts;
* the straightforward pandas way for the three layers, for the ratio:
  ``groupby`` count and median days to close of the closed requests.

``--dtypes text`` (default) holds every text column as pandas ``string``;
``--dtypes canonical`` holds them as a real run does: the columns of
:data:`geo311.io.dtypes.CATEGORY_COLUMNS` and the layers' ``_id`` /
``_name`` / ``_vintage`` columns as categoricals (what ``read_requests`` and
``assign_areas`` return).  The pandas way reads the same frame.

Usage::

    python scripts/bench_indicators.py                 # 1,000,000 requests
    python scripts/bench_indicators.py --rows 200000 --out bench-out
    python scripts/bench_indicators.py --dtypes canonical   # the frame a run reads

Writes ``<out>/bench_indicators.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _memory import peak_rss_mib, reset_peak_rss, status_mib  # scripts/_memory.py

AS_OF = pd.Timestamp("2025-01-06 17:00", tz="UTC")
YEAR_START = pd.Timestamp("2024-01-01 05:00", tz="UTC")
TIMEZONE = "America/New_York"
PROJECTED_CRS = "EPSG:32618"  # UTM 18N, Baltimore's zone
CELL_M = 900.0
N_TYPES = 40
TABLES_STEP = "build_tables, 3 layers (what geo311 indicators computes)"
PLAIN_STEP = "pandas groupby count + median, 3 layers"
CHANNELS = ("phone", "web", "app", "email", "internal")
CHANNEL_P = (0.42, 0.2, 0.25, 0.05, 0.08)


# --------------------------------------------------------------------------- memory


# --------------------------------------------------------------------------- data


def make_areas(n_areas: int, n_districts: int) -> tuple[Any, Any, np.ndarray]:
    """Square neighbourhoods on a grid and districts made of column bands of them."""
    import geopandas as gpd  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    cols = int(np.ceil(np.sqrt(n_areas)))
    i = np.arange(n_areas)
    x0 = 350_000.0 + (i % cols) * CELL_M
    y0 = 4_350_000.0 + (i // cols) * CELL_M
    boxes = shapely.box(x0, y0, x0 + CELL_M, y0 + CELL_M)
    district_of = np.minimum(i * n_districts // n_areas, n_districts - 1)
    ids = np.array([f"N{k:03d}" for k in i], dtype=object)
    hoods = gpd.GeoDataFrame(
        {"area_id": ids, "area_name": [f"Neighbourhood {k}" for k in i]},
        geometry=boxes,
        crs=PROJECTED_CRS,
    ).to_crs("EPSG:4326")
    dist_ids = np.array([f"{d + 1:02d}" for d in range(n_districts)], dtype=object)
    dist_geom = [shapely.union_all(boxes[district_of == d]) for d in range(n_districts)]
    districts = gpd.GeoDataFrame(
        {"area_id": dist_ids, "area_name": [f"District {d + 1}" for d in range(n_districts)]},
        geometry=dist_geom,
        crs=PROJECTED_CRS,
    ).to_crs("EPSG:4326")
    return hoods, districts, district_of


def tract_ids(n_areas: int) -> np.ndarray:
    """The 11-digit GEOIDs of the census tracts: one per neighbourhood square."""
    return np.array([f"24510{k:06d}" for k in range(n_areas)], dtype=object)


def make_layers(hoods: Any, districts: Any, population: pd.Series) -> dict[str, Any]:
    """The three layers as validated :class:`geo311.Layer` objects (tracts carry population)."""
    from geo311.join.layers import read_layer  # noqa: PLC0415

    tracts = hoods.assign(area_id=tract_ids(len(hoods)), population=population.to_numpy())
    frames = {"neighborhoods": hoods, "council_districts": districts, "census_tracts": tracts}
    return {
        key: read_layer(
            frame,
            key=key,
            id_field="area_id",
            name_field="area_name",
            vintage="bench",
            source="synthetic",
            projected_crs=PROJECTED_CRS,
        ).layer
        for key, frame in frames.items()
    }


def make_requests(n: int, n_areas: int, district_of: np.ndarray, seed: int) -> pd.DataFrame:
    """Canonical requests already joined to ``neighborhoods`` and ``council_districts``."""
    rng = np.random.default_rng(seed)
    weights = rng.lognormal(0.0, 0.6, n_areas)
    area = rng.choice(n_areas, size=n, p=weights / weights.sum())
    type_p = rng.dirichlet(np.full(N_TYPES, 0.8))
    stype = rng.choice(N_TYPES, size=n, p=type_p)
    median_days = rng.lognormal(1.0, 1.0, N_TYPES)
    sla_days = np.ceil(rng.uniform(1, 30, N_TYPES))
    # creation: a year, fewer at night and on weekends (by rejection-free weighting)
    seconds = rng.uniform(0, 366 * 86_400, n)
    created = YEAR_START + pd.to_timedelta(seconds.astype(np.int64), unit="s")
    slow = 1.0 + 0.5 * (area % 7 == 0)
    duration_days = median_days[stype] * slow * rng.lognormal(0.0, 1.0, n)
    never = rng.random(n) < 0.03
    closed = created + pd.to_timedelta((duration_days * 86_400).astype(np.int64), unit="s")
    negative = rng.random(n) < 0.0005
    closed = closed.where(~negative, created - pd.Timedelta(hours=3))
    is_open = never | (closed > AS_OF)
    status = np.where(is_open, "open", "closed")
    closed = closed.where(~is_open)
    due = created + pd.to_timedelta(sla_days[stype], unit="D")
    names = np.array([f"Type {k:02d}" for k in range(N_TYPES)], dtype=object)
    hood_ids = np.array([f"N{k:03d}" for k in range(n_areas)], dtype=object)
    dist_ids = np.array([f"{d + 1:02d}" for d in range(district_of.max() + 1)], dtype=object)
    frame = pd.DataFrame(
        {
            "service_request_id": pd.array(np.char.add("R", np.arange(n).astype(str)), "string"),
            "service_code": pd.array(np.char.add("T", stype.astype(str)), "string"),
            "service_name": pd.array(names[stype], "string"),
            "status": pd.array(status, "string"),
            "requested_datetime": pd.Series(created, dtype="datetime64[us, UTC]"),
            "closed_datetime": pd.Series(closed, dtype="datetime64[us, UTC]"),
            "expected_datetime": pd.Series(due, dtype="datetime64[us, UTC]"),
            "agency_responsible": pd.array(
                np.char.add("Agency ", (stype % 6).astype(str)), "string"
            ),
            "source": pd.array(np.asarray(CHANNELS)[rng.choice(5, n, p=CHANNEL_P)], "string"),
            "is_duplicate": rng.random(n) < 0.01,
            "is_transfer": rng.random(n) < 0.005,
            "is_proactive": rng.random(n) < 0.08,
            "qa_flags": pd.array(np.where(negative, "closed_before_created", ""), "string"),
            "neighborhoods_id": pd.array(hood_ids[area], "string"),
            "neighborhoods_name": pd.array(
                np.char.add("Neighbourhood ", area.astype(str)), "string"
            ),
            "neighborhoods_vintage": pd.array(np.full(n, "bench"), "string"),
            "council_districts_id": pd.array(dist_ids[district_of[area]], "string"),
            "council_districts_vintage": pd.array(np.full(n, "bench"), "string"),
            "census_tracts_id": pd.array(tract_ids(n_areas)[area], "string"),
            "census_tracts_vintage": pd.array(np.full(n, "bench"), "string"),
        }
    )
    frame.attrs["timezone"] = TIMEZONE
    return frame


def canonical_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the dtypes of a run's: category columns and layer columns as categoricals."""
    from geo311.io.dtypes import as_categorical, compact_requests  # noqa: PLC0415

    out = compact_requests(frame)
    for column in out.columns:
        if column.endswith(("_id", "_name", "_vintage")) and column != "service_request_id":
            out[column] = as_categorical(out[column])
    out.attrs = dict(frame.attrs)
    return out


# --------------------------------------------------------------------------- run


def run(
    rows: int,
    n_areas: int,
    n_districts: int,
    seed: int,
    *,
    reset_peak: bool = True,
    repeat: int = 1,
    dtypes: str = "text",
) -> dict[str, Any]:
    """Build the data, then time every indicator call (best of ``repeat``); return the figures."""
    import geo311.indicators as ind  # noqa: PLC0415

    built = time.perf_counter()
    hoods, districts, district_of = make_areas(n_areas, n_districts)
    requests = make_requests(rows, n_areas, district_of, seed)
    if dtypes == "canonical":
        requests = canonical_dtypes(requests)
    rng = np.random.default_rng(seed + 1)
    pop = pd.Series(rng.integers(500, 6_000, n_areas).astype(float), index=hoods["area_id"])
    pop.iloc[:3] = [0.0, 40.0, np.nan]  # an empty park, a tiny area, an unknown one
    dist_pop = pop.groupby(districts["area_id"].to_numpy()[district_of]).sum()
    layers = make_layers(hoods, districts, pop.fillna(0.0))
    build_s = time.perf_counter() - built
    # Warm the lazy imports (scipy.special) so the first timed call is not charged for them.
    ind.area_indicators(requests.iloc[:1000], key="neighborhoods", as_of=AS_OF)
    gc.collect()
    rss_before = reset_peak_rss() if reset_peak else (status_mib("VmRSS") or peak_rss_mib())
    common = {"as_of": AS_OF, "period": ("2024-01-01", "2025-01-01")}
    steps: list[tuple[str, Callable[[], Any]]] = [
        (
            f"area_indicators neighborhoods ({n_areas})",
            lambda: ind.area_indicators(
                requests, key="neighborhoods", areas=hoods, population=pop, **common
            ),
        ),
        (
            f"area_indicators council_districts ({n_districts})",
            lambda: ind.area_indicators(
                requests, key="council_districts", areas=districts, population=dist_pop, **common
            ),
        ),
        (
            "city_indicators",
            lambda: ind.city_indicators(
                requests, key="council_districts", areas=districts, population=dist_pop, **common
            ),
        ),
        (
            "time_patterns neighborhoods",
            lambda: ind.time_patterns(requests, key="neighborhoods", areas=hoods, **common),
        ),
        (
            "time_patterns council_districts",
            lambda: ind.time_patterns(
                requests, key="council_districts", areas=districts, **common
            ),
        ),
        (
            "channel_mix neighborhoods",
            lambda: ind.channel_mix(requests, key="neighborhoods", demand="all", **common),
        ),
        (
            "channel_mix council_districts",
            lambda: ind.channel_mix(requests, key="council_districts", demand="all", **common),
        ),
    ]
    from geo311.indicators.shared import shared_selection  # noqa: PLC0415
    from geo311.indicators.tables import build_tables  # noqa: PLC0415

    def shared() -> list[Any]:
        with shared_selection(requests):
            return [call() for _, call in steps]

    def tables() -> list[Any]:
        with shared_selection(requests):  # as geo311.pipeline runs the layers
            return [
                build_tables(
                    requests,
                    key=key,
                    vintages=[layers[key]],
                    tracts=layers["census_tracts"],
                    group=layers["council_districts"],
                    timezone=TIMEZONE,
                    **common,
                ).indicators
                for key in layers
            ]

    def plain() -> list[Any]:
        days = (requests["closed_datetime"] - requests["requested_datetime"]).dt.total_seconds()
        frame = requests.assign(days=days / 86_400)
        return [
            frame.groupby(f"{key}_id", observed=True)["days"].agg(["size", "median"])
            for key in layers
        ]

    results = []
    total = cpu_total = 0.0
    extra = [
        ("all of the above, selection shared", shared),
        (TABLES_STEP, tables),
        (PLAIN_STEP, plain),
    ]
    for name, call in [*steps, *extra]:
        seconds = cpu = float("inf")
        for _ in range(repeat):  # the fastest of the repeats: the least disturbed by load
            start, cpu_start = time.perf_counter(), time.process_time()
            out = call()
            seconds = min(seconds, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - cpu_start)
        if (name, call) not in extra:
            total += seconds
            cpu_total += cpu
        results.append(
            {
                "step": name,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "rows_out": sum(len(o) for o in out) if isinstance(out, list) else len(out),
                "separate_call": (name, call) not in extra,
            }
        )
        del out
    peak = peak_rss_mib()
    seconds = {s["step"]: s for s in results}
    return {
        "repeat": repeat,
        "tables_vs_groupby": seconds[TABLES_STEP]["seconds"] / seconds[PLAIN_STEP]["seconds"],
        "tables_vs_groupby_cpu": (
            seconds[TABLES_STEP]["cpu_seconds"] / seconds[PLAIN_STEP]["cpu_seconds"]
        ),
        "rows": rows,
        "dtypes": dtypes,
        "areas": n_areas,
        "districts": n_districts,
        "seed": seed,
        "build_seconds": build_s,
        "steps": results,
        "total_seconds": total,
        "total_cpu_seconds": cpu_total,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "peak_above_inputs_mib": peak - rss_before,
        "input_memory_mib": float(requests.memory_usage(deep=True).sum() / 2**20),
    }


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    lines = [
        f"Indicators on {report['rows']:,} synthetic requests ({report['dtypes']} columns), "
        f"{report['areas']} neighbourhoods, {report['districts']} districts "
        f"(fastest of {report['repeat']} runs of each step)",
        "",
        "| step | wall s | CPU s | rows out |",
        "|---|---:|---:|---:|",
    ]
    row = "| {step} | {seconds:.2f} | {cpu_seconds:.2f} | {rows_out:,} |"
    lines += [row.format(**s) for s in report["steps"] if s.get("separate_call", True)]
    lines += [
        f"| **all indicators** | **{report['total_seconds']:.2f}** | "
        f"**{report['total_cpu_seconds']:.2f}** | |",
        *(row.format(**s) for s in report["steps"] if not s.get("separate_call", True)),
        "",
        f"build_tables / pandas groupby, same run: {report['tables_vs_groupby']:.2f}x wall, "
        f"{report['tables_vs_groupby_cpu']:.2f}x CPU",
        "",
        "| memory | MiB |",
        "|---|---:|",
        f"| input frame (deep) | {report['input_memory_mib']:,.0f} |",
        f"| process RSS before the indicators | {report['rss_before_mib']:,.0f} |",
        f"| peak RSS during the indicators | {report['peak_rss_mib']:,.0f} |",
        f"| peak above the inputs | {report['peak_above_inputs_mib']:,.0f} |",
    ]
    if report.get("load_average"):
        load = ", ".join(f"{v:.1f}" for v in report["load_average"])
        lines += ["", f"Load average at the end of the run: {load} (on {os.cpu_count()} CPUs)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--areas", type=int, default=278)
    parser.add_argument("--districts", type=int, default=14)
    parser.add_argument("--seed", type=int, default=311)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument(
        "--no-peak-reset",
        action="store_true",
        help="do not reset the process's peak-RSS mark (e.g. when run inside pytest)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every step this many times, keep the fastest"
    )
    parser.add_argument(
        "--dtypes",
        choices=("text", "canonical"),
        default="text",
        help="text columns as pandas strings, or as a run holds them (categoricals)",
    )
    args = parser.parse_args(argv)
    report = run(
        args.rows,
        args.areas,
        args.districts,
        args.seed,
        reset_peak=not args.no_peak_reset,
        repeat=max(1, args.repeat),
        dtypes=args.dtypes,
    )
    report["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pandas": pd.__version__,
        "numpy": np.__version__,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "bench_indicators.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown(report))
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark the layer and population caches: boundary loading and denominators, cold and warm.

For Baltimore (neighbourhoods, council districts, census tracts) and Los
Angeles (its manifest's layers), the CPU time of
:func:`geo311.join.layers.load_layers` plus
:func:`geo311.population.layer.layer_population` for every loaded vintage
(against the city's tract layer; Los Angeles declares none, so it has no
populations) is measured in three modes, each in its own subprocess:

``off``
    No cache (``use_cache=False``): read, validate and interpolate, the
    straightforward way.
``cold``
    An empty cache folder: the same work, plus writing the entries.
``warm``
    The folder the cold run filled: the entries are read back.

Each mode can be repeated (``--repeat``); the fastest run is kept.  Peak
memory is the subprocess's peak resident set size.

Usage::

    GEO311_DATA_DIR=/path/to/data python scripts/bench_layer_cache.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _memory import peak_rss_mib  # scripts/_memory.py

CITIES = {
    "baltimore": ["neighborhoods", "council_districts", "census_tracts"],
    "los_angeles": None,
}
MODES = ("off", "cold", "warm")


def measure(mode: str) -> dict[str, dict[str, float]]:
    """Run one mode in this process; return CPU seconds per city and step."""
    from geo311.join.layers import load_layers  # noqa: PLC0415 - after the environment is set
    from geo311.join.manifest import load_manifest  # noqa: PLC0415
    from geo311.population.layer import layer_population  # noqa: PLC0415

    use = mode != "off"
    out: dict[str, dict[str, float]] = {}
    for city, layers in CITIES.items():
        manifest = load_manifest(city)
        start = time.process_time()
        loaded = load_layers(city, layers=layers, use_cache=use)
        loading = time.process_time() - start
        tracts = next((x for x in loaded.get(manifest.tract_layer or "", []) if x.has_file), None)
        count = 0
        start = time.process_time()
        for vintages in loaded.values():
            for layer in vintages:
                if tracts is not None and layer.has_file:
                    layer_population(layer, tracts=tracts, use_cache=use)
                    count += 1
        out[city] = {
            "load_layers_s": loading,
            "populations": count,
            "populations_s": time.process_time() - start,
        }
    out["peak_mib"] = {"rss": peak_rss_mib()}
    return out


def run(mode: str, cache: Path) -> dict[str, dict[str, float]]:
    """Run ``mode`` in a subprocess with ``cache`` as GEO311_CACHE_DIR."""
    env = {**os.environ, "GEO311_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def _total(result: dict[str, dict[str, float]]) -> float:
    return sum(v.get("load_layers_s", 0) + v.get("populations_s", 0) for v in result.values())


def main() -> None:
    """Measure every mode and print a table of the fastest runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    best: dict[str, dict[str, dict[str, float]]] = {}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            for mode in MODES:
                result = run(mode, Path(folder))
                if mode not in best or _total(result) < _total(best[mode]):
                    best[mode] = result
    print(f"{'mode':<6} {'city':<12} {'load_layers s':>14} {'populations s':>14} {'peak MiB':>9}")
    for mode in MODES:
        for city in CITIES:
            row = best[mode][city]
            print(
                f"{mode:<6} {city:<12} {row['load_layers_s']:>14.2f} "
                f"{row['populations_s']:>10.2f} ({row['populations']:.0f}) "
                f"{best[mode]['peak_mib']['rss']:>9.0f}"
            )
    for city in CITIES:
        off = best["off"][city]["load_layers_s"] + best["off"][city]["populations_s"]
        warm = best["warm"][city]["load_layers_s"] + best["warm"][city]["populations_s"]
        print(
            f"{city}: warm is {off / warm:.1f}x faster than no cache ({off:.2f} s -> {warm:.2f} s)"
        )


if __name__ == "__main__":
    main()

"""How accurate is tract -> layer areal interpolation of population?  A Markdown report.

Baltimore's neighbourhood (2010 and 2020 NSA sets) and 2012 council-district
files carry ``pop_2020`` summed from 2020 census *blocks* (PROVENANCE.md), a
near-truth at a much finer grain than the tracts.  This script interpolates
the tract population (``tract_demographics.csv``, ``P1_001N``) to each layer
with :func:`geo311.population.layer.layer_population` and scores it against that
truth, for several weightings:

``area``
    plain areal weighting (what tobler's ``area_interpolate`` does);
``land``
    dasymetric: only land counts (mask ``city_boundary_land.geojson``, the
    shoreline-clipped city), so harbour water in the tracts gets nobody;
``residential_2010`` / ``residential_2020``
    dasymetric: only neighbourhoods whose ``type`` is Residential count (the
    classification carried by the 2010 / 2020 NSA files); parks, industrial
    areas, business parks and institutional campuses get nobody unless a tract
    has no residential land at all.

Fairness: the ``type`` labels are a land-use classification of whole
neighbourhoods, not a population count, so they are legitimate ancillary
data.  But when the target layer is the layer the labels come from, the mask
follows the target's own boundaries; the cross-vintage rows (2010 labels on
the 2020 set and vice versa) and the council districts, drawn independently
of the labels, show how much of the gain survives without that advantage.

Reported per layer and weighting: the interpolated total against the tract
total (585,708), the mean and median absolute percentage error over areas
whose block-based population is > 0 (MAPE is dominated by near-empty areas, so
also over areas with >= 100 residents), the share of people placed in the
wrong area (sum of |error| / 2 over the total), the run time, and the five
worst areas.  Also how the layers' footprints differ from the tracts' and what
that does to the total when shares of whole tract areas are used
(``allocate_total=False``).

First, the table of what ``geo311 run`` uses by default (``defaults_table``):
for every Baltimore layer loaded from the manifest, the misplaced share of
the population :func:`layer_population` returns (the layer's block-based
``pop_2020`` where the manifest declares it), of tract interpolation alone (the
same layer with ``pop_2020`` removed from a copy: dasymetric by the manifest's
``ancillary`` layer, tracts clipped to ``city_outline``, 1 % minimum tract
share) and of the old plain area weighting; layers without ``pop_2020``
(CSAs, police districts, ZIP codes) have no block truth to score against.

Data are found in ``--data-dir``, ``$GEO311_DATA_DIR`` or ``<repo>/../shared/data``.

Usage::

    python scripts/interpolation_accuracy.py
    python scripts/interpolation_accuracy.py --layers council_districts_2012 --weights area land
    python scripts/interpolation_accuracy.py --defaults-only
    python scripts/interpolation_accuracy.py --no-defaults --weights area
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo311.join.layers import Layer, load_layers
from geo311.population.interpolation import interpolate, land_use_weights
from geo311.population.layer import layer_population
from geo311.population.tracts import Denominators, read_tract_table

REPO = Path(__file__).resolve().parents[1]
CRS = "EPSG:26985"  # NAD83 / Maryland (metres), the Baltimore manifest's projected CRS
TRACT_TOTAL = 585_708
#: layer name -> (file, id field)
LAYERS = {
    "neighborhoods_2010": ("neighborhoods_2010.geojson", "nbhd_id"),
    "neighborhoods_2020": ("neighborhoods_2020.geojson", "nbhd_id"),
    "council_districts_2012": ("council_districts_2012.geojson", "district"),
}
WEIGHTINGS = ("area", "land", "residential_2010", "residential_2020")


def data_dir(given: str | None) -> Path:
    """Return the folder holding ``baltimore/``."""
    if given:
        return Path(given)
    env = os.environ.get("GEO311_DATA_DIR", "").strip()
    return Path(env) if env else REPO.parent / "shared" / "data"


def score(estimate: pd.Series, truth: pd.Series) -> dict[str, float]:
    """Accuracy of ``estimate`` against ``truth`` (same index).

    APEs are over areas whose truth is > 0; ``misplaced_share`` is
    ``sum |estimate - truth| / 2 / sum truth``, the share of people placed in
    the wrong area (each misplaced person is counted once as a surplus and
    once as a deficit).
    """
    estimate = estimate.loc[truth.index].astype(float)
    positive = truth > 0
    ape = (estimate[positive] - truth[positive]).abs() / truth[positive]
    big = truth >= 100
    ape_big = (estimate[big] - truth[big]).abs() / truth[big]
    return {
        "total": float(estimate.sum()),
        "difference": float(estimate.sum() - truth.sum()),
        "mape": float(ape.mean()),
        "mape_100": float(ape_big.mean()),
        "median_ape": float(ape.median()),
        "misplaced_share": float((estimate - truth).abs().sum() / 2 / truth.sum()),
        "zero_truth_areas": int((~positive).sum()),
        "zero_truth_people": float(estimate[~positive].sum()),
    }


def misplaced(estimate: pd.Series, truth: pd.Series) -> float:
    """Return ``0.5 * sum |estimate - truth| / sum truth`` (aligned on the index)."""
    estimate = estimate.loc[truth.index].astype(float)
    return float((estimate - truth).abs().sum() / 2 / truth.sum())


def without_field(layer: Layer) -> Layer:
    """Return a copy of ``layer`` with its block-based population column removed."""
    if layer.population_field is None:
        return layer
    frame = layer.gdf.drop(columns=layer.population_field)
    return replace(layer, frame=frame, population_field=None)


def defaults_table(data: Path) -> list[dict[str, Any]]:
    """Score the default denominators of every Baltimore layer against ``pop_2020``.

    Returns one row per layer vintage with a file (tracts excepted): ``layer``,
    ``vintage``, ``method`` (of the default), ``default`` (misplaced share of
    the default, or None without truth), ``tracts_only`` (the copy without
    ``pop_2020``), ``plain_area`` (the old area weighting, unclipped, no
    minimum share), ``unallocated`` (people not allocated by the tract
    interpolation) and ``below_100`` (areas flagged below the minimum).
    """
    layers = load_layers("baltimore", data_dir=data)
    tracts = next(v for v in layers["census_tracts"] if v.has_file)
    table = read_tract_table(data / "baltimore" / "tract_demographics.csv")
    rows = []
    for key, vintages in layers.items():
        for layer in vintages:
            if key == "census_tracts" or not layer.has_file:
                continue
            truth = None
            if "pop_2020" in layer.gdf:
                truth = layer.gdf.set_index("area_id")["pop_2020"].astype(float)
            default = layer_population(layer, tracts=tracts, table=table)
            alone = layer_population(without_field(layer), tracts=tracts, table=table)
            source = gpd.GeoDataFrame(
                {"population": table.table.loc[tracts.gdf["area_id"], "P1_001N_pop_2020"]},
                geometry=tracts.gdf.geometry.to_numpy(),
                crs=tracts.gdf.crs,
            )
            plain = interpolate(source, layer, extensive="population", projected_crs=CRS)
            rows.append(
                {
                    "layer": key,
                    "vintage": layer.vintage,
                    "areas": len(default),
                    "method": default.attrs["population_method"],
                    "default": None if truth is None else misplaced(default["population"], truth),
                    "tracts_only": None
                    if truth is None
                    else misplaced(alone["population"], truth),
                    "plain_area": None if truth is None else misplaced(plain["population"], truth),
                    "unallocated": alone.attrs["unallocated"]["population"],
                    "below_100": len(default.attrs["below_minimum"]),
                }
            )
    return rows


def defaults_report(rows: list[dict[str, Any]]) -> str:
    """Render :func:`defaults_table` as Markdown."""

    def share(x: float | None) -> str:
        return "no block truth" if x is None else pct(x)

    lines = [
        "# Default denominators vs 2020 block population (Baltimore)",
        "",
        "Misplaced share = 0.5 Σ|est - truth| / Σ truth against the layer's `pop_2020`.",
        "",
        "| layer | vintage | areas | default | misplaced (default) "
        "| misplaced (tract interpolation alone) | misplaced (old plain area) "
        "| unallocated people | areas < 100 |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines.extend(
        f"| {r['layer']} | {r['vintage']} | {r['areas']} | {r['method']} "
        f"| {share(r['default'])} | {share(r['tracts_only'])} | {share(r['plain_area'])} "
        f"| {r['unallocated']:,.0f} | {r['below_100']} |"
        for r in rows
    )
    return "\n".join(lines)


def masks(folder: Path, names: Sequence[str]) -> dict[str, gpd.GeoDataFrame | None]:
    """Dasymetric masks by weighting name (None for plain area)."""
    out: dict[str, gpd.GeoDataFrame | None] = {}
    for name in names:
        if name == "area":
            out[name] = None
        elif name == "land":
            out[name] = gpd.read_file(folder / "city_boundary_land.geojson")
        elif name.startswith("residential_"):
            vintage = name.removeprefix("residential_")
            out[name] = land_use_weights(
                gpd.read_file(folder / f"neighborhoods_{vintage}.geojson")
            )
        else:
            msg = f"unknown weighting {name!r}; choose from {', '.join(WEIGHTINGS)}"
            raise SystemExit(msg)
    return out


def run(
    folder: Path, layers: Sequence[str], weightings: Sequence[str], repeat: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Interpolate every layer with every weighting; return rows and footprint facts."""
    tracts = gpd.read_file(folder / "census_tracts_2020.geojson")
    table: Denominators = read_tract_table(folder / "tract_demographics.csv")
    weights = masks(folder, weightings)
    rows: list[dict[str, Any]] = []
    footprints: dict[str, Any] = {}
    tract_union = tracts.to_crs(CRS).union_all()
    for layer in layers:
        file, id_field = LAYERS[layer]
        frame = gpd.read_file(folder / file)
        truth = frame.set_index(id_field)["pop_2020"].astype(float)
        names = frame.set_index(id_field)["name"]
        for weighting in weightings:
            best = np.inf
            out = None
            for _ in range(repeat):
                start = time.perf_counter()
                out = layer_population(
                    frame,
                    tracts=tracts,
                    table=table,
                    extensive={"population": "P1_001N"},
                    intensive={},
                    weights=weights[weighting],
                    tract_id="geoid",
                    target_id=id_field,
                    projected_crs=CRS,
                )
                best = min(best, time.perf_counter() - start)
            assert out is not None
            estimate = out["population"]
            rows.append(
                {
                    "layer": layer,
                    "weighting": weighting,
                    "seconds": best,
                    "estimate": estimate,
                    "truth": truth.loc[estimate.index],
                    "names": names.loc[estimate.index],
                    **score(estimate, truth.loc[estimate.index]),
                }
            )
        projected = frame.to_crs(CRS)
        layer_union = projected.union_all()
        source = gpd.GeoDataFrame(
            {"pop": tracts["pop_2020"].astype(float)}, geometry=tracts.geometry, crs=tracts.crs
        )
        whole = interpolate(
            source,
            projected.rename(columns={id_field: "area_id"}),
            extensive="pop",
            allocate_total=False,
            projected_crs=CRS,
        )
        footprints[layer] = {
            "layer_km2": layer_union.area / 1e6,
            "tracts_only_km2": tract_union.difference(layer_union).area / 1e6,
            "layer_only_km2": layer_union.difference(tract_union).area / 1e6,
            "lost_without_allocate_total": whole.attrs["totals"]["pop"]["difference"],
        }
    footprints["tracts_km2"] = tract_union.area / 1e6
    return rows, footprints


def pct(x: float) -> str:
    """Format a share as a percentage."""
    return f"{100 * x:.1f}%"


def report(rows: list[dict[str, Any]], footprints: dict[str, Any], *, worst: int) -> str:
    """Render the Markdown report."""
    lines = [
        "# Tract -> layer population interpolation vs 2020 block counts (Baltimore)",
        "",
        f"Tract total {TRACT_TOTAL:,}; areas measured in {CRS}; allocate_total=True; "
        "APE over areas with block population > 0.",
        "",
        "| layer | weights | total | vs 585,708 | MAPE | MAPE (pop >= 100) | median APE "
        "| people misplaced | seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['weighting']} | {r['total']:,.3f} "
            f"| {r['total'] - TRACT_TOTAL:+.2e} | {pct(r['mape'])} | {pct(r['mape_100'])} "
            f"| {pct(r['median_ape'])} | {pct(r['misplaced_share'])} | {r['seconds']:.2f} |"
        )
    lines += [
        "",
        "## Footprints: tract union vs layer union",
        "",
        f"Tract union: {footprints['tracts_km2']:.2f} km² (includes harbour water).",
        "",
        "| layer | layer union km² | in tracts only km² | in layer only km² "
        "| total change if shares were of whole tract areas |",
        "|---|---:|---:|---:|---:|",
    ]
    for layer, f in footprints.items():
        if layer == "tracts_km2":
            continue
        lines.append(
            f"| {layer} | {f['layer_km2']:.2f} | {f['tracts_only_km2']:.2f} "
            f"| {f['layer_only_km2']:.3f} | {f['lost_without_allocate_total']:+,.0f} |"
        )
    for r in rows:
        ape = (r["estimate"] - r["truth"]).abs() / r["truth"].where(r["truth"] > 0)
        top = ape.sort_values(ascending=False).head(worst).index
        lines += [
            "",
            f"### {r['layer']}, {r['weighting']}: {worst} worst areas "
            f"({r['zero_truth_areas']} areas with 0 block population received "
            f"{r['zero_truth_people']:,.0f} people)",
            "",
            "| area | block-based truth | interpolated | error |",
            "|---|---:|---:|---:|",
        ]
        lines.extend(
            f"| {r['names'][i]} | {r['truth'][i]:,.0f} | {r['estimate'][i]:,.0f} "
            f"| {100 * (r['estimate'][i] - r['truth'][i]) / r['truth'][i]:+,.0f}% |"
            for i in top
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding baltimore/ (default: see docstring)")
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    parser.add_argument("--weights", nargs="+", choices=WEIGHTINGS, default=list(WEIGHTINGS))
    parser.add_argument("--worst", type=int, default=5, help="worst areas listed (default 5)")
    parser.add_argument("--repeat", type=int, default=1, help="timing runs, best kept")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--defaults-only", action="store_true", help="print only the default-denominators table"
    )
    which.add_argument(
        "--no-defaults", action="store_true", help="leave out the default-denominators table"
    )
    args = parser.parse_args(argv)
    folder = data_dir(args.data_dir) / "baltimore"
    if not folder.is_dir():
        print(f"no data folder {folder}; pass --data-dir or set GEO311_DATA_DIR", file=sys.stderr)
        return 2
    if not args.no_defaults:
        print(defaults_report(defaults_table(folder.parent)))
        if args.defaults_only:
            return 0
        print()
    rows, footprints = run(folder, args.layers, args.weights, max(1, args.repeat))
    print(report(rows, footprints, worst=args.worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End to end: ``geo311`` against the geopandas script a user would write, stage by stage.

Synthetic requests in the Open Baltimore portal layout (the columns and
``10/21/2019 11:49:49 AM`` local timestamps of ``geo311/io/schemas/baltimore.toml``)
are written to one CSV: the rows come from ``bench_ingest``'s generator, their
service type, agency, intake method and status are redrawn from the real October
2019 sample (``sr311_2019_oct_sample.csv``, open and closed rows drawn apart so
close dates stay consistent), and their coordinates from ``bench_join``'s
population-weighted points over the real tracts and neighbourhoods (a few on
boundary vertices, scattered or missing).  The layers are the ``site_layers`` of
``geo311/boundaries/baltimore.toml`` in their 2019 vintage.

Every measurement is one child process (interpreter start and imports included),
started from this lean launcher, interleaved for ``--rounds`` rounds:

``end to end``
    ``geo311 run CSV --city baltimore --out DIR --overwrite --no-png`` (no PNGs,
    since the script writes none), with a fresh ``GEO311_CACHE_DIR`` (cold) and
    with one filled by an untimed run (warm); against the script: ``read_csv``,
    ``CreatedDate``/``CloseDate`` parsed with their format, ``points_from_xy``,
    per layer ``sjoin(predicate="within")``, groupby count + median days to
    close, ``explore`` saved to HTML (3 maps).
``ingest``
    ``geo311 ingest`` to GeoParquet against ``read_csv`` + ``points_from_xy`` +
    ``to_parquet``, without and with the 4 timestamps parsed and localised
    (``bench_ingest.run_baseline``).
``indicators``
    ``geo311 indicators`` on the joined requests of the warm-up run
    (``--keep-requests``) against ``read_parquet`` + per layer groupby count +
    median days to close.
``site``
    ``geo311 maps --no-png`` on the warm-up run's indicator tables against
    ``explore`` of the same tables x 3.

The stage commands are found from ``geo311 --help`` at run time; a stage whose
command (or option) is missing is skipped with a message.  Times are the median
over rounds; ratios are geo311 / straightforward per round (then their median).
Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (the child and the
children it waited for); on Linux a child's figure is never below the
launcher's own peak (fork + exec inherits it), which is reported too.

``--script-memory geo311`` runs the straightforward tasks with the memory
settings a ``geo311`` command gives itself (asked of
:func:`geo311.allocation.worker_environment` after
:func:`~geo311.allocation.tune_memory`: no huge pages for numpy, jemalloc for
Arrow), for a like-for-like comparison; by default they run as a user's
script would, with numpy's and pyarrow's defaults.

Usage::

    python scripts/bench_e2e.py                       # 1,000,000 rows, 3 rounds
    python scripts/bench_e2e.py --rows 200k --rounds 2 --json bench-out/e2e.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _memory import peak_rss_mib  # scripts/_memory.py

REPO = Path(__file__).resolve().parents[1]
CITY = "baltimore"
MANIFEST = REPO / "geo311" / "boundaries" / f"{CITY}.toml"
SAMPLE = "sr311_2019_oct_sample.csv"
#: The day whose layer vintages the synthetic 2019 requests are joined to.
VINTAGE_DAY = dt.date(2019, 10, 1)
DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"
#: Columns redrawn, as one tuple per row, from the real sample.
DRAWN = ("SRType", "Agency", "MethodReceived", "SRStatus")
#: Column positions in ``bench_ingest.HEADER``.
COLUMN_AT = {"SRType": 2, "MethodReceived": 3, "SRStatus": 5, "CloseDate": 8, "Agency": 9}
LAT, LON, GEOLOCATION = 19, 20, 21
SEED = 311
_RESULT_MARK = "@@E2E@@ "

#: (stage label, geo311 task, straightforward task, geo311 command it needs)
COMPARISONS = (
    ("end to end, cold cache", "run-cold", "script", "run"),
    ("end to end, warm cache", "run-warm", "script", "run"),
    ("ingest", "ingest-geo311", "ingest-plain", "ingest"),
    ("ingest, 4 timestamps parsed", "ingest-geo311", "ingest-timestamps", "ingest"),
    ("indicators, 3 layers", "indicators-geo311", "indicators-pandas", "indicators"),
    ("site, 3 layers", "maps-geo311", "site-explore", "maps"),
)
WORKERS = (
    "generate",
    "script",
    "ingest-plain",
    "ingest-timestamps",
    "indicators-pandas",
    "site-explore",
)


def parse_rows(text: str) -> int:
    """Parse a row count such as ``2000``, ``50k``, ``1M`` or ``1_000_000``."""
    found = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", text.replace("_", "").replace(",", "")
    )
    if not found:
        msg = f"--rows {text!r}: expected a count like 2000, 50k or 1M"
        raise argparse.ArgumentTypeError(msg)
    rows = float(found[1]) * {"": 1, "k": 1e3, "m": 1e6}[found[2].lower()]
    if rows < 1 or rows != int(rows):
        msg = f"--rows {text!r}: expected a positive whole number of rows"
        raise argparse.ArgumentTypeError(msg)
    return int(rows)


def site_layers() -> dict[str, dict[str, str]]:
    """Return, per site layer of the manifest, its id and name fields and 2019 file."""
    manifest = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))
    layers: dict[str, dict[str, str]] = {}
    for key in manifest["site_layers"]:
        spec = manifest["layers"][key]
        (vintage,) = (
            v
            for v in spec["vintages"]
            if v.get("valid_from", dt.date.min) <= VINTAGE_DAY < v.get("valid_to", dt.date.max)
        )
        layers[key] = {"id": spec["id_field"], "name": spec["name_field"], "file": vintage["file"]}
    return layers


# --------------------------------------------------------------------------- data (child)


def generate(path: Path, rows: int, *, seed: int = SEED) -> dict[str, Any]:
    """Write ``rows`` synthetic requests to ``path``; return the machine description."""
    import bench_ingest  # noqa: PLC0415 -- numpy-heavy, kept out of the launcher
    import bench_join  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    layers = site_layers()
    tracts = bench_join.read_layer(Path(layers["census_tracts"]["file"]).stem)
    neighborhoods = bench_join.read_layer(Path(layers["neighborhoods"]["file"]).stem)
    lon, lat = bench_join.synthetic_points(rows, tracts, neighborhoods)
    sample = pd.read_csv(bench_join.data_dir() / CITY / SAMPLE, usecols=list(DRAWN), dtype=str)
    sample = sample[list(DRAWN)].fillna("")  # usecols keeps the file's column order
    is_closed = sample["SRStatus"].str.startswith("Closed").to_numpy()
    drawn = {
        closed: sample[is_closed == closed].to_numpy().astype(np.dtypes.StringDType())
        for closed in (False, True)
    }
    sdt = np.dtypes.StringDType()
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(bench_ingest.HEADER + "\n")
        for block, start in enumerate(range(0, rows, bench_ingest.GEN_BLOCK)):
            n = min(bench_ingest.GEN_BLOCK, rows - start)
            rng = np.random.default_rng([seed, block])
            cols = bench_ingest._block(rng, start, n)  # bench_ingest's rows
            closed = cols[COLUMN_AT["CloseDate"]] != ""
            for flag in (False, True):
                rows_of = np.flatnonzero(closed == flag)
                pick = drawn[flag][rng.integers(0, len(drawn[flag]), len(rows_of))]
                for j, name in enumerate(DRAWN):
                    cols[COLUMN_AT[name]][rows_of] = pick[:, j]
            # Rows without a place and at the shared placeholder point keep theirs;
            # the others get a point over the real city (a few missing: empty).
            x, y = lon[start : start + n], lat[start : start + n]
            real = (cols[LAT] != "") & (cols[LAT] != bench_ingest.PLACEHOLDER[1])
            cols[LAT] = np.where(real, y.astype(sdt), cols[LAT]).astype(sdt)
            cols[LON] = np.where(real, x.astype(sdt), cols[LON]).astype(sdt)
            pair = np.strings.add(np.strings.add('"(', cols[LAT]), ", ")
            pair = np.strings.add(np.strings.add(pair, cols[LON]), ')"')
            cols[GEOLOCATION] = np.where(real, pair, cols[GEOLOCATION]).astype(sdt)
            for col in (LAT, LON, GEOLOCATION):
                cols[col][real & np.isnan(x)] = ""
            fh.write("\n".join(map(",".join, zip(*(c.tolist() for c in cols), strict=True))))
            fh.write("\n")
    return bench_ingest.machine_info()


# --------------------------------------------------------------- the straightforward way (child)


def straightforward_run(csv: Path, out: Path) -> None:
    """read_csv -> points -> 3 x sjoin(within) -> groupby count + median -> 3 explore maps."""
    import bench_join  # noqa: PLC0415
    import geopandas as gpd  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    df = pd.read_csv(csv)
    created = pd.to_datetime(df["CreatedDate"], format=DATE_FORMAT)
    closed = pd.to_datetime(df["CloseDate"], format=DATE_FORMAT)
    df["days_to_close"] = (closed - created).dt.total_seconds() / 86_400
    points = gpd.points_from_xy(df["Longitude"], df["Latitude"])
    requests = gpd.GeoDataFrame(df, geometry=points, crs="EPSG:4326")
    for key, spec in site_layers().items():
        areas = bench_join.read_layer(Path(spec["file"]).stem)  # gpd.read_file
        areas = areas[[spec["id"], spec["name"], "geometry"]]
        joined = gpd.sjoin(requests, areas, predicate="within")
        stats = joined.groupby(spec["id"])["days_to_close"].agg(["size", "median"])
        table = areas.merge(stats, left_on=spec["id"], right_index=True, how="left")
        table.explore(column="size", tooltip=[spec["name"], "size", "median"]).save(
            out / f"{key}.html"
        )


def ingest_plain(csv: Path, out: Path, *, timestamps: bool) -> None:
    """read_csv (+ the 4 timestamps parsed and localised) + points + to_parquet."""
    import geopandas as gpd  # noqa: PLC0415

    if timestamps:
        import bench_ingest  # noqa: PLC0415

        frame = bench_ingest.run_baseline(csv)
    else:
        import pandas as pd  # noqa: PLC0415

        df = pd.read_csv(csv)
        points = gpd.points_from_xy(df["Longitude"], df["Latitude"])
        frame = gpd.GeoDataFrame(df, geometry=points, crs="EPSG:4326")
    frame.to_parquet(out / "requests.parquet")


def indicators_pandas(joined: Path, out: Path) -> None:
    """read_parquet, then per layer groupby count + median days to close, to CSV."""
    import geopandas as gpd  # noqa: PLC0415

    requests = gpd.read_parquet(joined)
    days = (requests["closed_datetime"] - requests["requested_datetime"]).dt.total_seconds()
    requests["days_to_close"] = days / 86_400
    for key in site_layers():
        stats = requests.groupby(f"{key}_id")["days_to_close"].agg(["size", "median"])
        stats.to_csv(out / f"{key}.csv")


def site_explore(indicators: Path, out: Path) -> None:
    """The indicator table of each layer on its outlines, ``explore`` x 3 saved to HTML."""
    import geopandas as gpd  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    for key in site_layers():
        outlines = gpd.read_file(indicators / f"{key}.geojson")
        table = pd.read_csv(indicators / f"{key}.csv", dtype={"area_id": str})
        merged = outlines[["area_id", "geometry"]].merge(table, on="area_id")
        merged.explore(column="requests", tooltip=["area_name", "requests"]).save(
            out / f"{key}.html"
        )


def worker(name: str, source: Path, out: Path, rows: int) -> dict[str, Any]:
    """Run one straightforward task (or the generator) in this process."""
    out.mkdir(parents=True, exist_ok=True)
    if name == "generate":
        return generate(source, rows)
    if name == "script":
        straightforward_run(source, out)
    elif name in {"ingest-plain", "ingest-timestamps"}:
        ingest_plain(source, out, timestamps=name == "ingest-timestamps")
    elif name == "indicators-pandas":
        indicators_pandas(source, out)
    else:
        site_explore(source, out)
    return {}


# --------------------------------------------------------------------------- the launcher


def geo311_cli() -> list[str]:
    """Return the command that starts the geo311 CLI of this interpreter's environment."""
    script = Path(sys.executable).with_name("geo311")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from geo311.cli import main; sys.exit(main())"]


def cli_options(cli: list[str]) -> dict[str, set[str]]:
    """Return each geo311 command and its options, read from ``--help`` at run time."""
    top = subprocess.run([*cli, "--help"], capture_output=True, text=True, check=True).stdout
    commands = re.findall(r"^  (\w[\w-]*)  ", top.split("Commands:", 1)[-1], flags=re.M)
    found: dict[str, set[str]] = {}
    for command in commands:
        text = subprocess.run(
            [*cli, command, "--help"], capture_output=True, text=True, check=True
        ).stdout
        found[command] = set(re.findall(r"(--[\w-]+)", text))
    return found


def measure(command: list[str], *, env: dict[str, str], log: Path) -> dict[str, float]:
    """Run ``command`` as a child; return its wall seconds and peak RSS (MiB)."""
    with log.open("w", encoding="utf-8") as fh:
        began = time.perf_counter()
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        msg = f"{' '.join(command)} failed (exit {proc.returncode}):\n{tail}"
        raise SystemExit(msg)
    scale = 2**20 if sys.platform == "darwin" else 2**10  # bytes on macOS, KiB elsewhere
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / scale}


def worker_command(name: str, source: Path, out: Path, rows: int | None = None) -> list[str]:
    """The command that runs straightforward task ``name`` in a fresh interpreter."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, str(source)]
    return [*command, str(out), *(["--rows", str(rows)] if rows else [])]


def plan(
    cli: list[str], options: dict[str, set[str]], *, csv: Path, work: Path, prep: dict[str, Path]
) -> dict[str, list[str]]:
    """Return the command of every task whose stage can run."""
    layers = [arg for key in site_layers() for arg in ("--layer", key)]
    no_png = ["--no-png"] if "--no-png" in options.get("run", set()) else []
    out = {task: work / "out" / task for _, geo, base, _ in COMPARISONS for task in (geo, base)}
    tasks: dict[str, list[str]] = {}
    if "run" in options:
        run = [*cli, "run", str(csv), "--city", CITY, "--overwrite", *no_png]
        tasks["run-cold"] = [*run, "--out", str(out["run-cold"])]
        tasks["run-warm"] = [*run, "--out", str(out["run-warm"])]
        tasks["script"] = worker_command("script", csv, out["script"])
    if "ingest" in options:
        target = out["ingest-geo311"] / "requests.parquet"
        tasks["ingest-geo311"] = [*cli, "ingest", str(csv), "--schema", CITY, "--overwrite"]
        tasks["ingest-geo311"] += ["--out", str(target)]
        for name in ("ingest-plain", "ingest-timestamps"):
            tasks[name] = worker_command(name, csv, out[name])
    if "indicators" in options and "joined" in prep:
        joined = str(prep["joined"])
        tasks["indicators-geo311"] = [*cli, "indicators", joined, "--city", CITY, *layers]
        tasks["indicators-geo311"] += ["--out", str(out["indicators-geo311"]), "--overwrite"]
        tasks["indicators-pandas"] = worker_command(
            "indicators-pandas", prep["joined"], out["indicators-pandas"]
        )
    if "maps" in options and "indicators" in prep:
        maps_png = ["--no-png"] if "--no-png" in options["maps"] else []
        tasks["maps-geo311"] = [*cli, "maps", str(prep["indicators"]), "--overwrite", *maps_png]
        tasks["maps-geo311"] += ["--out", str(out["maps-geo311"])]
        tasks["site-explore"] = worker_command(
            "site-explore", prep["indicators"], out["site-explore"]
        )
    return tasks


def summarise(runs: dict[str, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """Median time and peak per side and the geo311 / straightforward ratios, per stage."""
    rows = []
    for stage, geo, base, _ in COMPARISONS:
        if geo not in runs or base not in runs:
            continue
        ratios = [g["seconds"] / b["seconds"] for g, b in zip(runs[geo], runs[base], strict=True)]
        median = {
            (side, key): statistics.median(r[key] for r in runs[side])
            for side in (geo, base)
            for key in ("seconds", "peak_rss_mib")
        }
        rows.append(
            {
                "stage": stage,
                "geo311_task": geo,
                "straightforward_task": base,
                "geo311_s": median[geo, "seconds"],
                "geo311_peak_mib": median[geo, "peak_rss_mib"],
                "straightforward_s": median[base, "seconds"],
                "straightforward_peak_mib": median[base, "peak_rss_mib"],
                "time_ratio_per_round": ratios,
                "time_ratio": statistics.median(ratios),
                "peak_ratio": median[geo, "peak_rss_mib"] / median[base, "peak_rss_mib"],
            }
        )
    return rows


def table(summary: list[dict[str, Any]]) -> str:
    """Render the summary as a Markdown table."""
    head = ["stage", "geo311 s", "geo311 peak MiB", "straightforward s"]
    head += ["straightforward peak MiB", "time ratio per round", "time ratio (median)"]
    head += ["peak ratio"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for s in summary:
        cells = [s["stage"], f"{s['geo311_s']:.2f}", f"{s['geo311_peak_mib']:,.0f}"]
        cells += [f"{s['straightforward_s']:.2f}", f"{s['straightforward_peak_mib']:,.0f}"]
        cells.append(", ".join(f"{r:.2f}x" for r in s["time_ratio_per_round"]))
        cells += [f"{s['time_ratio']:.2f}x", f"{s['peak_ratio']:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def geo311_memory() -> dict[str, str]:
    """Return the environment that gives a process the memory settings of a geo311 command."""
    code = (
        "import json; from geo311.allocation import tune_memory, worker_environment; "
        "tune_memory(); print(json.dumps(worker_environment()))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    settings: dict[str, str] = json.loads(done.stdout)
    return settings


def bench(rows: int, rounds: int, work: Path, *, script_memory: str = "default") -> dict[str, Any]:
    """Generate the data, prepare the stage inputs, run every task interleaved."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    csv = work / "requests.csv"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"generating {rows:,} rows in {csv} ...", flush=True)
    gen = measure(worker_command("generate", csv, work, rows), env=env, log=logs / "generate.log")
    lines = (logs / "generate.log").read_text(encoding="utf-8").splitlines()
    machine = json.loads(
        next(ln for ln in lines if ln.startswith(_RESULT_MARK))[len(_RESULT_MARK) :]
    )
    cli = geo311_cli()
    options = cli_options(cli)
    warm_env = {**env, "GEO311_CACHE_DIR": str(work / "cache-warm")}
    memory = geo311_memory() if script_memory == "geo311" else {}
    baselines = {base for _, _, base, _ in COMPARISONS}
    prep: dict[str, Path] = {}
    if "run" in options:
        print(
            "untimed warm-up run (fills the warm cache, keeps the joined requests) ...", flush=True
        )
        command = [*cli, "run", str(csv), "--city", CITY, "--out", str(work / "prep")]
        if "--keep-requests" in options["run"]:
            prep["joined"] = work / "prep-joined.parquet"
            command += ["--keep-requests", str(prep["joined"])]
        measure([*command, "--no-png", "--overwrite"], env=warm_env, log=logs / "prep.log")
        prep["indicators"] = work / "prep" / "indicators"
    tasks = plan(cli, options, csv=csv, work=work, prep=prep)
    skipped = {
        stage: f"`geo311 {command}` (or its input) is missing in this geo311"
        for stage, geo, base, command in COMPARISONS
        if geo not in tasks or base not in tasks
    }
    for stage, why in skipped.items():
        print(f"skipping stage {stage!r}: {why}", flush=True)
    runs: dict[str, list[dict[str, float]]] = {task: [] for task in tasks}
    for i in range(rounds):
        for task, command in tasks.items():
            cache = tempfile.mkdtemp(prefix="geo311-cold-", dir=work)
            task_env = {**env, "GEO311_CACHE_DIR": cache} if task == "run-cold" else warm_env
            if task in baselines:
                task_env = {**task_env, **memory}
            result = measure(command, env=task_env, log=logs / f"{task}-{i + 1}.log")
            shutil.rmtree(cache)
            runs[task].append(result)
            print(
                f"  round {i + 1}/{rounds} {task}: {result['seconds']:.2f} s, "
                f"peak {result['peak_rss_mib']:,.0f} MiB",
                flush=True,
            )
    return {
        "machine": machine,
        "script_memory": memory,
        "generate_s": gen["seconds"],
        "launcher_peak_rss_mib": peak_rss_mib(),
        "commands": tasks,
        "skipped": skipped,
        "runs": runs,
        "summary": summarise(runs),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=parse_rows, default=1_000_000, help="e.g. 50k, 1M")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--work", type=Path, help="keep data and outputs here (default: temp)")
    parser.add_argument(
        "--script-memory",
        choices=("default", "geo311"),
        default="default",
        help="memory settings of the straightforward tasks: numpy's and pyarrow's defaults, "
        "or those a geo311 command gives itself (like for like)",
    )
    parser.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        source, out = args.paths
        result = worker(args.worker, source, out, args.rows)
        print(_RESULT_MARK + json.dumps(result), flush=True)
        return 0
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        work = args.work or Path(tmp)
        report = bench(args.rows, args.rounds, work, script_memory=args.script_memory)
    m = report["machine"]
    print(
        f"\n{args.rows:,} rows, {args.rounds} rounds; machine: {m['cpu_count']} CPUs, "
        f"Python {m['python']}, {m['platform']}; geo311 run and maps with --no-png; "
        f"straightforward tasks' memory settings: {report['script_memory'] or 'defaults'}; "
        f"launcher peak RSS {report['launcher_peak_rss_mib']:.0f} MiB\n"
    )
    print(table(report["summary"]), flush=True)
    if args.json:
        config = {"rows": args.rows, "rounds": args.rounds, "seed": SEED}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"config": config, **report}, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

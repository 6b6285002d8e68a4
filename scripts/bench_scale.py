"""Time and peak memory of ``geo311 run`` as history grows: in memory, out of core, on Dask.

For each size in ``--rows`` one synthetic Baltimore export is written (the rows
of ``bench_e2e.generate``: ``bench_ingest``'s generator, service types and
statuses drawn from the real sample, population-weighted points over the real
tracts; written in blocks, so the generator never holds the rows as text)
and, with ``--files N``, cut into N exports of consecutive rows (as yearly
files), then ``ingest -> join -> indicators -> site`` runs on it, each way in its own
child process (which allocates memory as the ``geo311`` command does,
:func:`geo311.allocation.tune_memory`):

``in memory``
    ``run_city`` as ``geo311 run`` does it (only up to ``--in-memory-max``
    rows: it needs ~1.9 GB per million);
``chunked``
    ``run_city(..., chunk_rows=--chunk-rows)`` (``geo311 run --chunk-rows``);
``--scheduler``
    the same with ``scheduler=`` (e.g. ``local:2``: a LocalCluster of 2 worker
    processes started by the run).

Each child reports the seconds of each stage (from the progress hook that
draws ``geo311 run``'s bars) and the whole run, and the process's peak RSS
so far at the end of each stage (which stage set the peak).  Peak RSS is
measured twice overall:
the child's ``ru_maxrss`` from ``os.wait4`` (the largest single process of its
tree), and the largest sum over the process tree sampled every 0.2 s with
psutil (a Dask run's client plus its workers).

Usage::

    python scripts/bench_scale.py --rows 1M,5M --scheduler local:2
    python scripts/bench_scale.py --rows 2M --files 4 --scheduler local:2   # 4 "years"
    python scripts/bench_scale.py --rows 35M --chunk-rows 2M --in-memory-max 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_MARK = "@@SCALE@@ "
LAYERS = ("neighborhoods", "council_districts", "census_tracts")


def child(mode: str, csvs: list[Path], out: Path, chunk_rows: int) -> None:
    """Run ingest -> join -> indicators -> site on ``csvs``; print the stage times as JSON."""
    from _memory import peak_rss_mib  # noqa: PLC0415 - scripts/_memory.py

    from geo311.allocation import tune_memory  # noqa: PLC0415
    from geo311.publish import run_city  # noqa: PLC0415

    tune_memory()  # as `geo311 run` does
    began = time.perf_counter()
    stages: dict[str, list[float]] = {}
    peaks: dict[str, float] = {}  # the process's high-water mark when each stage last reported

    def hook(step: str, done: int, total: int | None, *, unit: str) -> None:  # noqa: ARG001
        now = time.perf_counter() - began
        stages.setdefault(step, [now, now])[1] = now
        peaks[step] = peak_rss_mib()

    options: dict[str, Any] = {}
    if mode != "in memory":
        options["chunk_rows"] = chunk_rows
    if mode not in {"in memory", "chunked"}:
        options["scheduler"] = mode
    result = run_city(
        csvs,
        out,
        city="baltimore",
        layers=list(LAYERS),
        png=False,
        overwrite=True,
        progress=hook,
        **options,
    )
    seconds = time.perf_counter() - began
    record = {
        "seconds": seconds,
        "requests": result.ledger.rows_out,
        "peak_mib_by_stage": {k: round(v) for k, v in peaks.items()},
        # a stage runs from the previous stage's last report to its own last report
        "stages": {
            k: round(v[1] - prev, 1)
            for (k, v), prev in zip(
                stages.items(), [0.0, *(v[1] for v in stages.values())], strict=False
            )
        },
    }
    print(_MARK + json.dumps(record), flush=True)


def _tree_rss_mib(pid: int) -> float:
    import psutil  # noqa: PLC0415

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def measure(command: list[str], *, env: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``command``; return its report, wall seconds and peak RSS (single process, tree)."""
    peak_tree = 0.0
    with log.open("w", encoding="utf-8") as fh:
        began = time.perf_counter()
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, env=env)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.wait(0.2):
                peak_tree = max(peak_tree, _tree_rss_mib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        msg = f"{' '.join(command)} failed:\n{tail}"
        raise SystemExit(msg)
    lines = [x for x in log.read_text(encoding="utf-8").splitlines() if x.startswith(_MARK)]
    report = json.loads(lines[-1].removeprefix(_MARK))
    return {
        **report,
        "wall_seconds": seconds,
        "peak_rss_mib": usage.ru_maxrss / 2**10,
        "peak_tree_rss_mib": peak_tree,
    }


def generate(path: Path, rows: int) -> None:
    """Write ``rows`` synthetic Baltimore requests to ``path`` (in a child: numpy-heavy)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import bench_e2e; "
        "bench_e2e.generate(__import__('pathlib').Path(sys.argv[2]), int(sys.argv[3]))"
    )
    script_dir = str(Path(__file__).resolve().parent)
    subprocess.run([sys.executable, "-c", code, script_dir, str(path), str(rows)], check=True)


def split(csv: Path, rows: int, files: int) -> list[Path]:
    """Cut ``csv`` (one request per line) into ``files`` exports of consecutive rows, as years."""
    if files == 1:
        return [csv]
    bounds = [rows * i // files for i in range(files + 1)]
    paths = [csv.with_name(f"{csv.stem}_{i + 1}_of_{files}.csv") for i in range(files)]
    with csv.open("rb") as source:
        header = source.readline()
        for path, first, end in zip(paths, bounds, bounds[1:], strict=False):
            with path.open("wb") as out:
                out.write(header)
                for _ in range(end - first):
                    out.write(source.readline())
        if source.readline():
            msg = f"{csv}: more lines than rows; the generator wrote a line break inside a row"
            raise SystemExit(msg)
    csv.unlink()
    return paths


def bench(
    sizes: Sequence[int],
    *,
    modes_of: dict[int, list[str]],
    chunk_rows: int,
    files: int,
    work: Path,
) -> list[dict[str, Any]]:
    """Generate each size, run each mode on it; return one record per (size, mode)."""
    env = {**os.environ, "GEO311_CACHE_DIR": str(work / "cache")}
    records = []
    for rows in sizes:
        csv = work / f"requests_{rows}.csv"
        began = time.perf_counter()
        generate(csv, rows)
        csvs = split(csv, rows, files)
        print(
            f"{rows:,} rows in {files} file(s): generated in {time.perf_counter() - began:.0f} s",
            flush=True,
        )
        for mode in modes_of[rows]:
            command = [sys.executable, __file__, "--child", mode, str(work / "site")]
            command += [*map(str, csvs), "--chunk-rows", str(chunk_rows)]
            got = measure(command, env=env, log=work / f"log_{rows}_{mode.replace(':', '')}.txt")
            record = {"rows": rows, "files": files, "mode": mode, **got}
            records.append(record)
            print(line(record), flush=True)
        for path in csvs:
            path.unlink()
    return records


def line(record: dict[str, Any]) -> str:
    """One row of the printed table."""
    peaks = record.get("peak_mib_by_stage", {})
    stages = ", ".join(
        f"{k} {v:.0f}s" + (f" {peaks[k]:,} MiB" if k in peaks else "")
        for k, v in record["stages"].items()
    )
    return (
        f"{record['rows']:>11,}  {record['mode']:<10}  {record['seconds']:7.0f} s  "
        f"peak {record['peak_rss_mib']:7,.0f} MiB (tree {record['peak_tree_rss_mib']:7,.0f})"
        f"  [{stages}]"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the benchmark (or one child)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_e2e import parse_rows  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1M,5M", help="sizes, e.g. 1M,5M,35M")
    parser.add_argument("--chunk-rows", type=parse_rows, default=1_000_000)
    parser.add_argument("--scheduler", help="also run on this scheduler, e.g. local:2")
    parser.add_argument(
        "--in-memory-max",
        type=lambda text: 0 if text.strip() == "0" else parse_rows(text),
        default=1_000_000,
        help="largest size also run in memory (0: none)",
    )
    parser.add_argument(
        "--files", type=int, default=1, help="cut each export into this many files (years)"
    )
    parser.add_argument("--work", type=Path, help="folder for the CSVs (default a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the records here")
    parser.add_argument("--child", nargs="+", metavar="MODE OUT CSV", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, out, *csvs = args.child
        child(mode, [Path(c) for c in csvs], Path(out), args.chunk_rows)
        return 0
    sizes = [parse_rows(x) for x in args.rows.split(",")]
    modes_of = {
        n: [
            *(["in memory"] if n <= args.in_memory_max else []),
            "chunked",
            *([args.scheduler] if args.scheduler else []),
        ]
        for n in sizes
    }
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.work) as tmp:
        print(f"{'rows':>11}  {'mode':<10}  {'time':>9}  peak RSS  [stages]")
        records = bench(
            sizes,
            modes_of=modes_of,
            chunk_rows=args.chunk_rows,
            files=args.files,
            work=Path(tmp),
        )
    if args.json:
        args.json.write_text(json.dumps(records, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

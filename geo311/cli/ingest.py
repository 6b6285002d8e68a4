"""``geo311 ingest``: read 311 exports into one canonical GeoParquet file plus its ledger."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from geo311.cli.console import progress_bars
from geo311.cli.options import (
    as_of_opt,
    keep_raw_opt,
    out_opt,
    overwrite_opt,
    placeholder_opt,
    progress_opt,
    schema_opt,
    timezone_opt,
)
from geo311.io.atomic import check_overwrite
from geo311.ledger import ledger_path
from geo311.pipeline import run
from geo311.publish import write_requests


def _summary(requests: pd.DataFrame) -> str:
    """Dates, statuses and coordinate quality (those the requests hold: out of core, dates)."""
    lines = []
    if len(requests):
        times = requests["requested_datetime"].dropna()
        if len(times):
            lines.append(f"requested: {times.min():%Y-%m-%d} .. {times.max():%Y-%m-%d} (UTC)")
        # as text: the observed values only, in the order of their counts
        for column, label in (("status", "status"), ("coord_quality", "coordinates")):
            if column in requests:
                counts = requests[column].astype("string").value_counts(dropna=column != "status")
                lines.append(f"{label}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return "\n".join(lines)


@click.command("ingest")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@schema_opt
@timezone_opt
@out_opt("Output GeoParquet file (a folder of them with --chunk-rows).")
@click.option("--chunksize", type=click.IntRange(min=1), help="Rows per chunk for CSV/Parquet.")
@click.option("--encoding", help="CSV text encoding (default: sniff UTF-8/cp1252).")
@as_of_opt
@placeholder_opt
@click.option(
    "--max-bad-timestamps",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="Largest share of rows with unparseable timestamps before failing.",
)
@keep_raw_opt
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    help="Run out of core: OUT is then a folder of GeoParquet parts of this many rows "
    "(before the cleaning), which geo311 run OUT --chunk-rows N continues from.",
)
@overwrite_opt
@progress_opt
def ingest_cmd(
    inputs: tuple[Path, ...],
    schema: str | None,
    timezone: str | None,
    out: Path,
    chunksize: int | None,
    encoding: str | None,
    as_of: str | dict[str, str] | None,
    placeholders: dict[str, float] | None,
    max_bad_timestamps: float,
    keep_raw: bool,
    chunk_rows: int | None,
    overwrite: bool,
    progress: bool | None,
) -> None:
    """Read 311 exports INPUTS into one canonical GeoParquet file plus its ledger."""
    check_overwrite([out, ledger_path(out)], overwrite=overwrite)  # before the slow part
    with progress_bars(progress) as bars:
        result = run(
            list(inputs),
            schema=schema,
            timezone=timezone,
            chunksize=chunksize,
            encoding=encoding,
            as_of=as_of,
            placeholders=placeholders,
            max_bad_timestamps=max_bad_timestamps,
            keep_raw=keep_raw,
            stop_after="ingest",
            progress=bars,
            chunk_rows=chunk_rows,
            dataset=out if chunk_rows is not None else None,
            overwrite=overwrite,
        )
    if chunk_rows is None:
        written, ledger_file = write_requests(result, out, overwrite=overwrite)
    else:  # written part by part by the run
        written, ledger_file = out, ledger_path(out)
    click.echo(result.ledger.summary())
    click.echo(_summary(result.requests))
    click.echo(f"wrote {written} and {ledger_file}")

"""``geo311 demo``: the synthetic demo city through every pipeline stage."""

from __future__ import annotations

import time
from pathlib import Path

import click

from geo311.cli.console import progress_bars
from geo311.cli.options import no_png_opt, out_opt, overwrite_opt, progress_opt
from geo311.cli.summary import echo_summary
from geo311.ledger import Ledger


@click.command("demo")
@out_opt("Output directory.", default=Path("demo-site"))
@click.option("--seed", type=int, default=311, show_default=True, help="Random seed.")
@click.option(
    "--requests",
    "n_requests",
    type=click.IntRange(min=100),
    default=50_000,
    show_default=True,
    help="Number of synthetic requests.",
)
@no_png_opt
@overwrite_opt
@progress_opt
def demo_cmd(
    out: Path, seed: int, n_requests: int, no_png: bool, overwrite: bool, progress: bool | None
) -> None:
    """Build the synthetic demo city and run every pipeline stage on it."""
    from geo311.demo import write_demo  # noqa: PLC0415 - keep CLI start-up light

    started = time.perf_counter()
    with progress_bars(progress) as bars:
        written = write_demo(
            out,
            seed=seed,
            n_requests=n_requests,
            png=not no_png,
            overwrite=overwrite,
            progress=bars,
        )
    inputs = ("raw_requests", "manifest", "requests", "ledger", "readme")
    for key in (*inputs, *(k for k in written if k.startswith("layer_"))):
        click.echo(f"{key}: {written[key]}")
    echo_summary(
        out_dir=written["site_index"].parent,
        pages=[p for k, p in written.items() if k.startswith("page_")],
        pngs=sum(k.startswith("png_") for k in written),
        tables={
            k.removeprefix("indicators_"): p
            for k, p in written.items()
            if k.startswith("indicators_")
        },
        ledger=Ledger.read_json(written["ledger"]),
        started=started,
    )

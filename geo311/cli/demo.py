"""``geo311 demo``: the synthetic demo city through every pipeline stage."""

from __future__ import annotations

from pathlib import Path

import click

from geo311.cli.options import no_png_opt, out_opt, overwrite_opt


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
def demo_cmd(out: Path, seed: int, n_requests: int, no_png: bool, overwrite: bool) -> None:
    """Build the synthetic demo city and run every pipeline stage on it."""
    from geo311.demo import write_demo  # noqa: PLC0415 - keep CLI start-up light

    written = write_demo(
        out, seed=seed, n_requests=n_requests, png=not no_png, overwrite=overwrite
    )
    pages = [k for k in written if k.startswith("page_")]
    pngs = [k for k in written if k.startswith("png_")]
    for key, path in written.items():
        if key not in pages and key not in pngs:
            click.echo(f"{key}: {path}")
    click.echo(f"site: {len(pages)} pages and {len(pngs)} PNGs; open {written['site_index']}")

"""``geo311 maps``: the site (choropleths, district pages, PNGs) of an indicators folder."""

from __future__ import annotations

import time
from pathlib import Path

import click

from geo311.cli.console import progress_bars, verbosity
from geo311.cli.options import (
    city_opt,
    district_layer_opt,
    layers_opt,
    no_png_opt,
    no_tiles_opt,
    out_opt,
    overwrite_opt,
    progress_opt,
)
from geo311.cli.summary import echo_summary, site_details
from geo311.ledger import Ledger


@click.command("maps")
@click.argument("indicators_dir", metavar="INDICATORS_DIR", type=click.Path(path_type=Path))
@out_opt("Site folder.")
@click.option(
    "--self-contained/--assets-dir",
    default=True,
    show_default=True,
    help="Inline Leaflet into every page, or write it once to SITE/assets/.",
)
@no_tiles_opt
@no_png_opt
@city_opt(required=False)
@district_layer_opt()
@click.option(
    "--neighborhood-layer",
    help="Areas listed inside the district pages (default: the first other layer).",
)
@layers_opt
@click.option(
    "--ledger",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Row ledger to summarise (<requests>.ledger.json of `geo311 join`).",
)
@click.option("--title", help="Site title.")
@click.option(
    "--simplify-m",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Largest boundary displacement allowed by display simplification (metres).",
)
@progress_opt
@overwrite_opt
def maps_cmd(
    indicators_dir: Path,
    out: Path,
    self_contained: bool,
    no_tiles: bool,
    no_png: bool,
    city: str | None,
    district_layer: str | None,
    neighborhood_layer: str | None,
    layers: tuple[str, ...],
    ledger: Path | None,
    title: str | None,
    simplify_m: float,
    progress: bool | None,
    overwrite: bool,
) -> None:
    """Build the site (choropleths, district pages, PNGs) from INDICATORS_DIR.

    Layer titles and area names come from the city the tables record: its
    manifest file (recorded relative to INDICATORS_DIR) or a built-in city;
    --city overrides it.
    """
    from geo311.publish import write_site  # noqa: PLC0415 - needs the maps extra

    started = time.perf_counter()
    rows = Ledger.read_json(ledger) if ledger is not None else None
    with progress_bars(progress) as bars:
        site = write_site(
            None,
            out,
            tables_dir=indicators_dir,
            city=city,
            layers=list(layers) or None,
            district_layer=district_layer,
            neighborhood_layer=neighborhood_layer,
            ledger=rows,
            self_contained=self_contained,
            tiles=not no_tiles,
            png=not no_png,
            title=title,
            simplify_tolerance_m=simplify_m,
            overwrite=overwrite,
            progress=bars,
        )
    echo_summary(
        out_dir=site.out_dir,
        pages=site.pages,
        pngs=len(site.pngs),
        ledger=rows,
        started=started,
        details=site_details(site) if verbosity() > 0 else (),
    )

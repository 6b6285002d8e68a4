"""``geo311 maps``: the site (choropleths, district pages, PNGs) of an indicators folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from geo311.cli.options import (
    city_opt,
    district_layer_opt,
    layers_opt,
    no_png_opt,
    no_tiles_opt,
    out_opt,
    overwrite_opt,
)


def site_summary(site: Any) -> None:
    """Echo what a site build wrote: pages, district pages, PNGs, sizes, displacement."""
    pages = [p for p in site.pages if p.suffix == ".html"]
    districts = [p for p in pages if p.name.startswith("district-")]
    largest = max(pages, key=lambda p: site.sizes[p])
    moved = ", ".join(f"{k} {v:.1f} m" for k, v in site.max_displacement_m.items())
    click.echo(
        f"wrote {len(pages)} pages ({len(districts)} district pages) and {len(site.pngs)} PNGs "
        f"to {site.out_dir}; largest page {largest.name} {site.sizes[largest] / 1e6:.2f} MB; "
        f"display simplification moved boundaries at most: {moved}"
    )
    click.echo(f"open {site.out_dir / 'index.html'}")


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
@click.option("--ledger", type=click.Path(path_type=Path), help="Row ledger to summarise.")
@click.option("--title", help="Site title.")
@click.option(
    "--simplify-m",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Largest boundary displacement allowed by display simplification (metres).",
)
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
    overwrite: bool,
) -> None:
    """Build the site (choropleths, district pages, PNGs) from INDICATORS_DIR."""
    from geo311.publish import write_site  # noqa: PLC0415 - needs the maps extra

    site = write_site(
        None,
        out,
        tables_dir=indicators_dir,
        city=city,
        layers=list(layers) or None,
        district_layer=district_layer,
        neighborhood_layer=neighborhood_layer,
        ledger=ledger,
        self_contained=self_contained,
        tiles=not no_tiles,
        png=not no_png,
        title=title,
        simplify_tolerance_m=simplify_m,
        overwrite=overwrite,
    )
    site_summary(site)

"""``geo311 run``: ingest, join, indicators and the site in one command."""

from __future__ import annotations

import time
from pathlib import Path

import click

from geo311.cli.console import progress_bars, verbosity
from geo311.cli.options import (
    as_of_opt,
    city_opt,
    data_dir_opt,
    district_layer_opt,
    echo_selection,
    family_opt,
    keep_raw_opt,
    layers_opt,
    max_days_opt,
    no_png_opt,
    no_tiles_opt,
    out_opt,
    overwrite_opt,
    period_opt,
    placeholder_opt,
    population_opt,
    progress_opt,
    schema_opt,
    timezone_opt,
    types_opt,
    vintage_opt,
)
from geo311.cli.summary import echo_summary, site_details
from geo311.settings import cache_dir


@click.command("run")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@city_opt(required=True)
@data_dir_opt
@schema_opt
@timezone_opt
@layers_opt
@district_layer_opt()
@vintage_opt
@population_opt
@as_of_opt
@placeholder_opt
@max_days_opt
@period_opt
@types_opt
@family_opt
@no_tiles_opt
@no_png_opt
@click.option(
    "--keep-requests",
    type=click.Path(path_type=Path),
    help="Also save the joined requests (GeoParquet) here, outside the site; with "
    "--chunk-rows/--scheduler a folder of one GeoParquet file per chunk.",
)
@keep_raw_opt
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    help="Run out of core: read and join this many rows at a time (e.g. 1000000); "
    "the tables are the same as in memory.",
)
@click.option(
    "--scheduler",
    help="Read the files and join the chunks on a Dask cluster: local:N (N worker "
    "processes here) or "
    "tcp://HOST:PORT (a running scheduler; needs geo311[dask]).",
)
@out_opt("Site folder.")
@overwrite_opt
@progress_opt
def run_cmd(
    inputs: tuple[Path, ...],
    city: str,
    data_dir: Path | None,
    schema: str | None,
    timezone: str | None,
    layers: tuple[str, ...],
    district_layer: str | None,
    vintages: dict[str, str],
    population: Path | None,
    as_of: str | dict[str, str] | None,
    placeholders: dict[str, float] | None,
    max_days: float | None,
    period: tuple[str | None, str | None] | None,
    types: tuple[str, ...],
    families: tuple[str, ...],
    no_tiles: bool,
    no_png: bool,
    keep_requests: Path | None,
    keep_raw: bool,
    chunk_rows: int | None,
    scheduler: str | None,
    out: Path,
    overwrite: bool,
    progress: bool | None,
) -> None:
    """Ingest INPUTS, join them to CITY's layers, compute indicators and build the site."""
    from geo311.indicators.tables import table_paths  # noqa: PLC0415
    from geo311.publish import run_city  # noqa: PLC0415 - needs the maps extra

    started = time.perf_counter()
    with progress_bars(progress) as bars:
        result = run_city(
            list(inputs),
            out,
            city=city,
            schema=schema,
            timezone=timezone,
            layers=list(layers) or None,
            district_layer=district_layer,
            vintages=vintages,
            population=population,
            as_of=as_of,
            placeholders=placeholders,
            max_days=max_days,
            period=period,
            types=list(types) or None,
            families=list(families) or None,
            tiles=not no_tiles,
            png=not no_png,
            keep_requests=keep_requests,
            keep_raw=keep_raw,
            cache_dir=cache_dir() / "indexes",  # shared with geo311 join
            overwrite=overwrite,
            data_dir=data_dir,
            progress=bars,
            chunk_rows=chunk_rows,
            scheduler=scheduler,
        )
    if verbosity() > 0:
        click.echo(result.ledger.summary())
    echo_selection(result.result.metadata)
    if result.requests_path is not None:
        click.echo(f"joined requests: {result.requests_path} (kept out of the site)")
    echo_summary(
        out_dir=result.site.out_dir,
        pages=result.site.pages,
        pngs=len(result.site.pngs),
        tables=table_paths(result.indicators_dir, list(result.result.tables)),
        ledger=result.ledger,
        started=started,
        details=site_details(result.site) if verbosity() > 0 else (),
    )

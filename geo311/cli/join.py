"""``geo311 join``: assign ingested requests to every boundary layer."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geo311.cli.console import progress_bars
from geo311.cli.options import (
    city_opt,
    data_dir_opt,
    out_opt,
    overwrite_opt,
    pairs,
    progress_opt,
    vintage_opt,
)
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.join.manifest import load_manifest
from geo311.ledger import Ledger, ledger_path
from geo311.pipeline import load_requests, run
from geo311.publish import write_requests
from geo311.settings import cache_dir


@click.command("join")
@click.argument("requests_path", metavar="REQUESTS", type=click.Path(path_type=Path))
@city_opt(required=False)
@data_dir_opt
@click.option("--layers", help="Comma-separated layer keys of the city (default: all).")
@click.option(
    "--layer", "extra", multiple=True, callback=pairs, help="Your own polygon file: NAME=PATH."
)
@click.option("--id-field", help="Id column of the --layer files.")
@click.option("--name-field", help="Name column of the --layer files.")
@vintage_opt
@click.option(
    "--tolerance-m",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Assign points this close (metres) to the nearest area.",
)
@click.option("--qa", is_flag=True, help="Compare with the source's own area labels.")
@click.option(
    "--near-m",
    type=click.FloatRange(min=0),
    default=50.0,
    show_default=True,
    help="Distance that counts a label mismatch as near a boundary.",
)
@out_opt("Output GeoParquet.")
@overwrite_opt
@progress_opt
def join_cmd(
    requests_path: Path,
    city: str | None,
    data_dir: Path | None,
    layers: str | None,
    extra: dict[str, str],
    id_field: str | None,
    name_field: str | None,
    vintages: dict[str, str],
    tolerance_m: float,
    qa: bool,
    near_m: float,
    out: Path,
    overwrite: bool,
    progress: bool | None,
) -> None:
    """Assign each request in REQUESTS (from `geo311 ingest`) to every boundary layer."""
    qa_path = out.with_name(out.name.removesuffix(".parquet") + ".qa.json")
    check_overwrite([out, ledger_path(out), *([qa_path] if qa else [])], overwrite=overwrite)
    if layers:
        keys: list[str] | None = [k.strip() for k in layers.split(",")]
    else:  # every layer of the city, with or without a local file for these dates
        keys = list(load_manifest(city).layers) if city else None
    upstream = load_requests(requests_path, stage="ingest")
    with progress_bars(progress) as bars:
        result = run(
            upstream,
            city=city,
            layers=keys,
            extra_layers=extra,
            id_field=id_field,
            name_field=name_field,
            vintages=vintages,
            tolerance_m=tolerance_m,
            qa=qa,
            near_m=near_m,
            cache_dir=cache_dir() / "indexes",
            district_layer="",
            stop_after="join",
            data_dir=data_dir,
            progress=bars,
        )
    written, ledger_file = write_requests(result, out, overwrite=overwrite)
    joined = result.ledger.stages[len(upstream.ledger.stages) :]
    click.echo(Ledger(stages=joined).summary())  # this command's stages only
    if qa:
        with atomic_write(qa_path) as tmp:
            tmp.write_text(json.dumps([c.to_dict() for c in result.checks], indent=2) + "\n")
        click.echo("\nAgreement with the source's own labels:")
        for check in result.checks:
            click.echo(check.summary())
        if not result.checks:
            click.echo(
                "  (no label columns for these layers in the requests; "
                "ingest with --keep-raw to keep the source's columns)"
            )
    click.echo(f"wrote {written}, {ledger_file}" + (f", {qa_path}" if qa else ""))

"""``geo311 indicators``: per-area indicator tables of joined requests."""

from __future__ import annotations

from pathlib import Path

import click

from geo311.cli.console import progress_bars
from geo311.cli.options import (
    as_of_opt,
    city_opt,
    data_dir_opt,
    echo_selection,
    family_opt,
    max_days_opt,
    out_opt,
    overwrite_opt,
    period_opt,
    population_opt,
    progress_opt,
    types_opt,
)
from geo311.io.atomic import check_overwrite
from geo311.pipeline import load_requests, run
from geo311.publish import write_indicators


@click.command("indicators")
@click.argument("requests_path", metavar="JOINED", type=click.Path(path_type=Path))
@city_opt(required=True)
@data_dir_opt
@click.option("--layer", "layers", multiple=True, required=True, help="Layer key (repeatable).")
@population_opt
@click.option(
    "--group",
    help="Layer for the between/within Theil decomposition ('' for none; default: the "
    "city's district layer).",
)
@as_of_opt
@max_days_opt
@period_opt
@types_opt
@family_opt
@click.option("--agency", "agencies", multiple=True, help="Only these agencies.")
@click.option("--channel", "sources", multiple=True, help="Only these intake channels.")
@click.option(
    "--demand",
    type=click.Choice(["resident", "proactive", "all"]),
    default="resident",
    show_default=True,
    help="Which requests count as demand.",
)
@out_opt("Output folder.")
@overwrite_opt
@progress_opt
def indicators_cmd(
    requests_path: Path,
    city: str,
    data_dir: Path | None,
    layers: tuple[str, ...],
    population: Path | None,
    group: str | None,
    as_of: str | dict[str, str] | None,
    max_days: float | None,
    period: tuple[str | None, str | None] | None,
    types: tuple[str, ...],
    families: tuple[str, ...],
    agencies: tuple[str, ...],
    sources: tuple[str, ...],
    demand: str,
    out: Path,
    overwrite: bool,
    progress: bool | None,
) -> None:
    """Per-area indicators, equity summary and metadata for each --layer of JOINED."""
    from geo311.indicators.tables import table_paths  # noqa: PLC0415

    check_overwrite(table_paths(out, list(layers)).values(), overwrite=overwrite)
    with progress_bars(progress) as bars:
        result = run(
            load_requests(requests_path, stage="join", compact=True),
            city=city,
            layers=list(layers),
            district_layer=group,
            population=population,
            as_of=as_of,
            max_days=max_days,
            period=period,
            types=list(types) or None,
            families=list(families) or None,
            agencies=list(agencies) or None,
            sources=list(sources) or None,
            demand=demand,
            stop_after="indicators",
            data_dir=data_dir,
            progress=bars,
        )
    written = write_indicators(result, out, overwrite=overwrite)
    echo_selection(result.metadata)
    for key, tables in result.tables.items():
        frame = tables.indicators
        known = frame["population"].notna().any() if "population" in frame else False
        people = (
            f"population {frame['population'].sum():,.0f}"
            if known
            else "no population denominator for this layer"
        )
        click.echo(
            f"{key} ({tables.metadata['vintage']}): {len(frame)} areas, "
            f"{int(frame['requests'].sum()):,} requests counted, {people}"
        )
    click.echo(f"wrote {len(written)} files to {out}")

"""``geo311 fetch``: download 311 requests, census tables, TIGER tracts and boundaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from geo311.cli.options import out_opt, overwrite_opt


@click.group("fetch")
def fetch_group() -> None:
    """Download data from a city's portal (resumable, with a provenance sidecar)."""


@fetch_group.command("requests")
@click.option(
    "--city",
    help="A profile that registers its ArcGIS 311 layer (baltimore), with --year.",
)
@click.option("--year", type=int, help="Year of the city's yearly 311 layer.")
@click.option("--arcgis", "arcgis_url", help="An ArcGIS FeatureServer/MapServer layer URL.")
@click.option("--socrata", "socrata_url", help="A Socrata dataset URL (…/resource/<id>.json).")
@click.option(
    "--open311", "open311_url", help="An Open311 GeoReport v2 endpoint (…/requests.json)."
)
@click.option("--where", help="Filter: ArcGIS `where` or Socrata `$where`.")
@click.option("--start", help="Open311: first day (ISO date).")
@click.option("--end", help="Open311: day after the last (ISO date).")
@click.option("--page-size", type=click.IntRange(min=1), help="Rows per request.")
@click.option("--refresh", is_flag=True, help="Ignore the HTTP cache.")
@out_opt("Output file.")
@overwrite_opt
def fetch_requests_cmd(
    city: str | None,
    year: int | None,
    arcgis_url: str | None,
    socrata_url: str | None,
    open311_url: str | None,
    where: str | None,
    start: str | None,
    end: str | None,
    page_size: int | None,
    refresh: bool,
    out: Path,
    overwrite: bool,
) -> None:
    """Fetch 311 requests from exactly one source into OUT (then `geo311 ingest OUT`)."""
    from geo311 import connectors as fetch  # noqa: PLC0415 - needs the optional httpx

    chosen = [s for s in (city, arcgis_url, socrata_url, open311_url) if s]
    if len(chosen) != 1:
        msg = (
            "give exactly one source: --city baltimore --year Y, --arcgis, --socrata or --open311"
        )
        raise click.UsageError(msg)
    common: dict[str, Any] = {"overwrite": overwrite, "refresh": refresh, "cache": True}
    if city is not None or arcgis_url is not None:
        if city is not None and year is None:
            msg = f"--city {city} needs --year"
            raise click.UsageError(msg)
        url = arcgis_url or fetch.city_layer_url(str(city), int(year or 0))
        result = fetch.fetch_arcgis(url, out, where=where or "1=1", page_size=page_size, **common)
    elif socrata_url is not None:
        result = fetch.fetch_socrata(
            socrata_url, out, where=where, page_size=page_size or 50_000, **common
        )
    else:
        if not (start and end):
            msg = "--open311 needs --start and --end"
            raise click.UsageError(msg)
        result = fetch.fetch_open311(
            str(open311_url), out, start=start, end=end, page_size=page_size, **common
        )
    click.echo(
        f"wrote {result.path}: {result.rows:,} rows in {result.pages} pages "
        f"({result.rows_per_second:,.0f} rows/s); provenance {result.provenance}"
    )


@fetch_group.command("census")
@click.option("--state", required=True, help="State FIPS code, e.g. 24 (Maryland).")
@click.option("--county", required=True, help="County FIPS code, e.g. 510 (Baltimore city).")
@click.option(
    "--year", type=int, default=2022, show_default=True, help="Last year of the ACS 5-year span."
)
@click.option(
    "--table",
    "tables",
    multiple=True,
    help="ACS table (repeatable; default B01003 B19013 B02001 B03002 B17001).",
)
@click.option("--variable", "variables", multiple=True, help="A single variable, e.g. B17001_002.")
@click.option("--base-url", help="The Census Data API root, for a mirror.")
@out_opt("Output CSV.")
@overwrite_opt
def fetch_census_cmd(
    state: str,
    county: str,
    year: int,
    tables: tuple[str, ...],
    variables: tuple[str, ...],
    base_url: str | None,
    out: Path,
    overwrite: bool,
) -> None:
    """Download ACS 5-year estimates and MOEs for a county's tracts ($CENSUS_API_KEY).

    The CSV is what `geo311 indicators --population FILE` reads.
    """
    from geo311.connectors.census import ACS_DEFAULT_TABLES, fetch_acs  # noqa: PLC0415

    extra: dict[str, Any] = {"base_url": base_url} if base_url else {}
    result = fetch_acs(
        out,
        state=state,
        county=county,
        year=year,
        tables=tables or ACS_DEFAULT_TABLES,
        variables=variables or None,
        overwrite=overwrite,
        **extra,
    )
    click.echo(
        f"wrote {result.path}: {result.rows:,} tracts from {result.pages} requests; "
        f"provenance {result.provenance}"
    )


@fetch_group.command("tiger")
@click.option("--state", required=True, help="State FIPS code, e.g. 24.")
@click.option("--year", type=int, default=2020, show_default=True, help="TIGER/Line vintage.")
@click.option("--out-dir", required=True, type=click.Path(path_type=Path), help="Parent folder.")
@click.option("--base-url", help="Root of the TIGER/Line tree, for a mirror.")
@overwrite_opt
def fetch_tiger_cmd(
    state: str, year: int, out_dir: Path, base_url: str | None, overwrite: bool
) -> None:
    """Download a state's TIGER/Line census tract shapefile, unpacked safely into OUT_DIR."""
    from geo311.connectors.census import fetch_tiger_tracts  # noqa: PLC0415

    extra: dict[str, Any] = {"base_url": base_url} if base_url else {}
    shp = fetch_tiger_tracts(out_dir, state=state, year=year, overwrite=overwrite, **extra)
    click.echo(f"wrote {shp}")


@fetch_group.command("boundaries")
@click.argument("city")
@click.option("--layer", "layers", multiple=True, help="Layer key (repeatable; default: all).")
@click.option("--vintage", "vintages", multiple=True, help="Only this vintage (repeatable).")
@click.option("--refresh", is_flag=True, help="Ignore the HTTP cache.")
@overwrite_opt
def fetch_boundaries_cmd(
    city: str, layers: tuple[str, ...], vintages: tuple[str, ...], refresh: bool, overwrite: bool
) -> None:
    """Download CITY's ArcGIS-served boundary layers into the cache the loader searches."""
    from geo311.connectors.boundaries import fetch_boundaries  # noqa: PLC0415

    results = fetch_boundaries(
        city,
        layers=layers or None,
        vintages=vintages or None,
        refresh=refresh,
        overwrite=overwrite,
    )
    for result in results:
        click.echo(f"wrote {result.path}: {result.rows:,} features ({result.provenance.name})")

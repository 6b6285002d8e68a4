"""The ``geo311`` command line: a thin layer over the library.

Each command parses its options and calls one library function.  Errors
reach the user as one line and a non-zero exit; ``-v`` shows tracebacks.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import click
import pandas as pd

from geo311 import __version__
from geo311._errors import Geo311Error
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.io.profiles import get_profile, list_profiles
from geo311.io.readers import read_requests
from geo311.join.assign import join_city
from geo311.ledger import Ledger
from geo311.ledger import ledger_path as ledger_file
from geo311.settings import cache_dir

log = logging.getLogger("geo311")


class _Geo311Group(click.Group):
    """A click group that turns geo311 errors into one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (Geo311Error, OSError) as exc:
            if ctx.meta.get("geo311.verbosity", 0) > 0:
                raise
            click.secho(f"Error: {exc}", err=True, fg="red")
            click.echo("(run with -v for the full traceback)", err=True)
            ctx.exit(1)


def _setup_logging(verbosity: int) -> None:
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    if verbosity < -1:
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


@click.group(cls=_Geo311Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="geo311")
@click.option("-v", "--verbose", count=True, help="More output (-v debug and tracebacks).")
@click.option("-q", "--quiet", count=True, help="Less output (-q warnings only, -qq errors).")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: int) -> None:
    """geo311: geospatial equity analysis of city 311 service requests."""
    verbosity = verbose - quiet
    ctx.meta["geo311.verbosity"] = verbosity
    _setup_logging(verbosity)


@main.command("schemas")
@click.argument("name", required=False)
def schemas_cmd(name: str | None) -> None:
    """List the schema profiles, or print profile NAME's TOML (a template for a new city)."""
    if name:
        if name in list_profiles():
            resource = resources.files("geo311.io") / "schemas" / f"{name}.toml"
            click.echo(resource.read_text(encoding="utf-8"))
        else:
            click.echo(Path(get_profile(name).path).read_text(encoding="utf-8"))
        return
    for profile in list_profiles().values():
        click.secho(f"{profile.name}", bold=True, nl=False)
        click.echo(f"  {profile.title}")
        click.echo(f"    reads: {', '.join(profile.formats)}   time zone: {profile.timezone}")
        click.echo(f"    detected by columns: {', '.join(profile.detect)}")
    click.echo("\nPrint one with `geo311 schemas NAME`; use your own with --schema path.toml.")


def _summary(requests: pd.DataFrame) -> str:
    lines = []
    if len(requests):
        times = requests["requested_datetime"].dropna()
        if len(times):
            lines.append(f"requested: {times.min():%Y-%m-%d} .. {times.max():%Y-%m-%d} (UTC)")
        status = requests["status"].value_counts(dropna=False)
        lines.append("status: " + ", ".join(f"{k} {v:,}" for k, v in status.items()))
        quality = requests["coord_quality"].value_counts()
        lines.append("coordinates: " + ", ".join(f"{k} {v:,}" for k, v in quality.items()))
    return "\n".join(lines)


@main.command("ingest")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--schema", help="Profile name or profile TOML path (default: detect).")
@click.option("--timezone", help="Override the profile's IANA time zone, e.g. America/Chicago.")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Output GeoParquet file."
)
@click.option("--chunksize", type=click.IntRange(min=1), help="Rows per chunk for CSV/Parquet.")
@click.option("--encoding", help="CSV text encoding (default: sniff UTF-8/cp1252).")
@click.option("--as-of", "as_of", help="When the export was taken (default: now).")
@click.option(
    "--max-bad-timestamps",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="Largest share of rows with unparseable timestamps before failing.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def ingest_cmd(
    inputs: tuple[Path, ...],
    schema: str | None,
    timezone: str | None,
    out: Path,
    chunksize: int | None,
    encoding: str | None,
    as_of: str | None,
    max_bad_timestamps: float,
    overwrite: bool,
) -> None:
    """Read 311 exports INPUTS into one canonical GeoParquet file plus its ledger."""
    ledger_path = ledger_file(out)
    check_overwrite([out, ledger_path], overwrite=overwrite)
    requests, ledger = read_requests(
        list(inputs),
        schema=schema,
        timezone=timezone,
        chunksize=chunksize,
        encoding=encoding,
        as_of=as_of,
        max_bad_timestamps=max_bad_timestamps,
    )
    with atomic_write(out) as tmp:
        requests.to_parquet(tmp, index=False)
    with atomic_write(ledger_path) as tmp:
        ledger.write_json(tmp)
    click.echo(ledger.summary())
    click.echo(_summary(requests))
    click.echo(f"wrote {out} and {ledger_path}")


@main.command("demo")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("demo-site"),
    show_default=True,
    help="Output directory.",
)
@click.option("--seed", type=int, default=311, show_default=True, help="Random seed.")
@click.option(
    "--requests",
    "n_requests",
    type=click.IntRange(min=100),
    default=50_000,
    show_default=True,
    help="Number of synthetic requests.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def demo_cmd(out: Path, seed: int, n_requests: int, overwrite: bool) -> None:
    """Build the synthetic demo city and run every pipeline stage on it."""
    from geo311.demo import write_demo  # noqa: PLC0415 - keep CLI start-up light

    written = write_demo(out, seed=seed, n_requests=n_requests, overwrite=overwrite)
    pages = [k for k in written if k.startswith("page_")]
    pngs = [k for k in written if k.startswith("png_")]
    for key, path in written.items():
        if key not in pages and key not in pngs:
            click.echo(f"{key}: {path}")
    click.echo(f"site: {len(pages)} pages and {len(pngs)} PNGs; open {written['site_index']}")


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            msg = f"{option} expects NAME=VALUE, got {value!r}"
            raise click.BadParameter(msg)
        out[name.strip()] = rest.strip()
    return out


@main.command("join")
@click.argument("requests_path", metavar="REQUESTS", type=click.Path(path_type=Path))
@click.option("--city", help="Built-in city (baltimore, los_angeles) or a manifest TOML.")
@click.option("--layers", help="Comma-separated layer keys of the city (default: all).")
@click.option("--layer", "extra", multiple=True, help="Your own polygon file: NAME=PATH.")
@click.option("--id-field", help="Id column of the --layer files.")
@click.option("--name-field", help="Name column of the --layer files.")
@click.option("--vintage", "pins", multiple=True, help="Pin a vintage: LAYER=VINTAGE.")
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
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output GeoParquet.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def join_cmd(
    requests_path: Path,
    city: str | None,
    layers: str | None,
    extra: tuple[str, ...],
    id_field: str | None,
    name_field: str | None,
    pins: tuple[str, ...],
    tolerance_m: float,
    qa: bool,
    near_m: float,
    out: Path,
    overwrite: bool,
) -> None:
    """Assign each request in REQUESTS (from `geo311 ingest`) to every boundary layer."""
    import geopandas as gpd  # noqa: PLC0415 - keep CLI start-up light

    ledger_path = ledger_file(out)
    qa_path = out.with_name(out.name.removesuffix(".parquet") + ".qa.json")
    check_overwrite([out, ledger_path, *([qa_path] if qa else [])], overwrite=overwrite)
    requests = gpd.read_parquet(requests_path)
    result = join_city(
        requests,
        city=city,
        layers=[k.strip() for k in layers.split(",")] if layers else None,
        extra_layers=_pairs(extra, "--layer"),
        id_field=id_field,
        name_field=name_field,
        vintages=_pairs(pins, "--vintage"),
        tolerance_m=tolerance_m,
        qa=qa,
        near_m=near_m,
        cache_dir=cache_dir() / "indexes",
    )
    upstream = ledger_file(requests_path)
    ledger = (
        Ledger.read_json(upstream).extend(result.ledger) if upstream.exists() else result.ledger
    )
    with atomic_write(out) as tmp:
        result.frame.to_parquet(tmp, index=False)
    with atomic_write(ledger_path) as tmp:
        ledger.write_json(tmp)
    click.echo(result.ledger.summary())
    if qa:
        with atomic_write(qa_path) as tmp:
            tmp.write_text(json.dumps([c.to_dict() for c in result.checks], indent=2) + "\n")
        click.echo("\nAgreement with the source's own labels:")
        for check in result.checks:
            click.echo(check.summary())
        if not result.checks:
            click.echo("  (no label columns for these layers in the requests)")
    click.echo(f"wrote {out}, {ledger_path}" + (f", {qa_path}" if qa else ""))


def _period(value: str | None) -> tuple[str | None, str | None] | None:
    if not value:
        return None
    start, sep, end = value.partition(":")
    if not sep:
        msg = f"--period expects START:END (either side may be empty), got {value!r}"
        raise click.BadParameter(msg)
    return (start or None, end or None)


@main.command("indicators")
@click.argument("requests_path", metavar="JOINED", type=click.Path(path_type=Path))
@click.option("--city", required=True, help="Built-in city or manifest TOML (layers, tracts).")
@click.option("--layer", "layers", multiple=True, required=True, help="Layer key (repeatable).")
@click.option("--population", type=click.Path(path_type=Path), help="Tract table CSV (GEOID).")
@click.option(
    "--group",
    default="council_districts",
    show_default=True,
    help="Layer for the between/within Theil decomposition ('' for none).",
)
@click.option("--as-of", "as_of", help="Censoring time for open requests (default: latest).")
@click.option("--period", help="START:END, half-open, local dates or times.")
@click.option("--type", "service_types", multiple=True, help="Only these service types.")
@click.option("--agency", "agencies", multiple=True, help="Only these agencies.")
@click.option("--channel", "sources", multiple=True, help="Only these intake channels.")
@click.option(
    "--demand",
    type=click.Choice(["resident", "proactive", "all"]),
    default="resident",
    show_default=True,
    help="Which requests count as demand.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def indicators_cmd(
    requests_path: Path,
    city: str,
    layers: tuple[str, ...],
    population: Path | None,
    group: str,
    as_of: str | None,
    period: str | None,
    service_types: tuple[str, ...],
    agencies: tuple[str, ...],
    sources: tuple[str, ...],
    demand: str,
    out: Path,
    overwrite: bool,
) -> None:
    """Per-area indicators, equity summary and metadata for each --layer of JOINED."""
    import geopandas as gpd  # noqa: PLC0415 - keep CLI start-up light

    from geo311.indicators.tables import city_tables, table_paths, write_tables  # noqa: PLC0415

    check_overwrite(table_paths(out, list(layers)).values(), overwrite=overwrite)
    requests = gpd.read_parquet(requests_path)
    tables = city_tables(
        requests,
        city=city,
        layers=list(layers),
        population=population,
        group=group or None,
        as_of=as_of,
        period=_period(period),
        service_types=list(service_types) or None,
        agencies=list(agencies) or None,
        sources=list(sources) or None,
        demand=demand,
    )
    written = write_tables(tables, out, overwrite=overwrite)
    for key, result in tables.items():
        frame = result.indicators
        total = frame["population"].sum() if "population" in frame else float("nan")
        click.echo(
            f"{key} ({result.metadata['vintage']}): {len(frame)} areas, "
            f"{int(frame['requests'].sum()):,} requests counted, population {total:,.0f}"
        )
    click.echo(f"wrote {len(written)} files to {out}")


def _make_geocoder(
    spec: str,
    *,
    address_column: str,
    lon_column: str | None,
    lat_column: str | None,
    zip_column: str | None,
    min_score: int | None,
    city_name: str | None,
    state: str | None,
    census_url: str | None,
) -> Any:
    """Build the geocoder a ``--geocoder`` value names: census, arcgis:URL or table:FILE."""
    kind, _, target = spec.partition(":")
    if kind == "table" and target:
        from geo311.geocode.core import ReferenceGeocoder  # noqa: PLC0415

        return ReferenceGeocoder.from_file(
            target,
            address_column=address_column,
            lon_column=lon_column,
            lat_column=lat_column,
            zip_column=zip_column,
            min_score=90 if min_score is None else min_score,
        )
    if kind == "census" and not target:
        from geo311.geocode.online import CensusBatchGeocoder  # noqa: PLC0415

        extra: dict[str, Any] = {"base_url": census_url} if census_url else {}
        return CensusBatchGeocoder(city=city_name, state=state, **extra)
    if kind == "arcgis" and target:
        from geo311.geocode.online import ArcGISLocator  # noqa: PLC0415

        return ArcGISLocator(target, min_score=80 if min_score is None else min_score)
    msg = (
        f"--geocoder {spec!r}: use census (US Census batch geocoder), arcgis:URL (an ArcGIS "
        "GeocodeServer) or table:FILE (an address-point table)"
    )
    raise click.BadParameter(msg)


@main.command("geocode")
@click.argument("requests_path", metavar="REQUESTS", type=click.Path(path_type=Path))
@click.option(
    "--geocoder",
    required=True,
    help="census | arcgis:URL (a GeocodeServer) | table:FILE (CSV, Parquet or GeoJSON).",
)
@click.option(
    "--address-column",
    default="address",
    show_default=True,
    help="table: address column of the reference table.",
)
@click.option("--lon-column", help="table: longitude column (not needed for GeoJSON).")
@click.option("--lat-column", help="table: latitude column (not needed for GeoJSON).")
@click.option("--zip-column", help="table: ZIP column, if any.")
@click.option(
    "--min-score",
    type=click.IntRange(0, 100),
    help="Lowest score accepted: table fuzzy matches (default 90), arcgis candidates (80).",
)
@click.option("--city-name", help="census: city written with every address, e.g. Baltimore.")
@click.option("--state", help="census: state written with every address, e.g. MD.")
@click.option("--census-url", help="census: the geocoder's root URL, for a mirror.")
@click.option("--all-rows", is_flag=True, help="Also send rows with good coordinates (kept).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output GeoParquet.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def geocode_cmd(
    requests_path: Path,
    geocoder: str,
    address_column: str,
    lon_column: str | None,
    lat_column: str | None,
    zip_column: str | None,
    min_score: int | None,
    city_name: str | None,
    state: str | None,
    census_url: str | None,
    all_rows: bool,
    out: Path,
    overwrite: bool,
) -> None:
    """Fill coordinates of REQUESTS rows that lack usable ones, from their addresses.

    Answers are kept in a SQLite cache (in the geo311 cache folder), so a
    second run never asks again for an address it has seen.
    """
    import geopandas as gpd  # noqa: PLC0415 - keep CLI start-up light

    from geo311.geocode.core import GeocodeCache, geocode  # noqa: PLC0415

    chosen = _make_geocoder(
        geocoder,
        address_column=address_column,
        lon_column=lon_column,
        lat_column=lat_column,
        zip_column=zip_column,
        min_score=min_score,
        city_name=city_name,
        state=state,
        census_url=census_url,
    )
    ledger_path = ledger_file(out)
    check_overwrite([out, ledger_path], overwrite=overwrite)
    requests = gpd.read_parquet(requests_path)
    try:
        result, stage = geocode(
            requests,
            geocoder=chosen,
            only_missing=not all_rows,
            cache=GeocodeCache(cache_dir() / "geocode.sqlite"),
            progress=lambda done, total: log.info(
                "geocoder answered %s of %s addresses", f"{done:,}", f"{total:,}"
            ),
        )
    finally:
        if hasattr(chosen, "close"):
            chosen.close()
    upstream = ledger_file(requests_path)
    ledger = Ledger.read_json(upstream).extend(stage) if upstream.exists() else stage
    with atomic_write(out) as tmp:
        result.to_parquet(tmp, index=False)
    with atomic_write(ledger_path) as tmp:
        ledger.write_json(tmp)
    click.echo(stage.summary())
    click.echo(f"wrote {out} and {ledger_path}")


@main.group("fetch")
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
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
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
    from geo311.connectors import fetch  # noqa: PLC0415 - needs the optional httpx

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
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output CSV.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
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
@click.option("--overwrite", is_flag=True, help="Replace an existing extracted folder.")
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
@click.option("--overwrite", is_flag=True, help="Replace files fetched before.")
def fetch_boundaries_cmd(
    city: str, layers: tuple[str, ...], vintages: tuple[str, ...], refresh: bool, overwrite: bool
) -> None:
    """Download CITY's ArcGIS-served boundary layers into the cache the loader searches."""
    from geo311.connectors.fetch import fetch_boundaries  # noqa: PLC0415

    results = fetch_boundaries(
        city,
        layers=layers or None,
        vintages=vintages or None,
        refresh=refresh,
        overwrite=overwrite,
    )
    for result in results:
        click.echo(f"wrote {result.path}: {result.rows:,} features ({result.provenance.name})")


@main.command("maps")
@click.argument("indicators_dir", metavar="INDICATORS_DIR", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Site folder.")
@click.option(
    "--self-contained/--assets-dir",
    default=True,
    show_default=True,
    help="Inline Leaflet into every page, or write it once to SITE/assets/.",
)
@click.option("--no-tiles", is_flag=True, help="No basemap (the pages never go online).")
@click.option("--no-png", is_flag=True, help="Skip the static PNG of each map.")
@click.option(
    "--district-layer",
    default="council_districts",
    show_default=True,
    help="Layer with one page per area ('' for none).",
)
@click.option(
    "--neighborhood-layer",
    default="neighborhoods",
    show_default=True,
    help="Areas shown inside the district pages.",
)
@click.option("--layer", "layers", multiple=True, help="Layers to map (default: all).")
@click.option("--ledger", type=click.Path(path_type=Path), help="Row ledger to summarise.")
@click.option("--title", help="Site title.")
@click.option(
    "--simplify-m",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Largest boundary displacement allowed by display simplification (metres).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing pages.")
def maps_cmd(
    indicators_dir: Path,
    out: Path,
    self_contained: bool,
    no_tiles: bool,
    no_png: bool,
    district_layer: str,
    neighborhood_layer: str,
    layers: tuple[str, ...],
    ledger: Path | None,
    title: str | None,
    simplify_m: float,
    overwrite: bool,
) -> None:
    """Build the site (choropleths, district pages, PNGs) from INDICATORS_DIR."""
    from geo311.io.tables import read_tables  # noqa: PLC0415
    from geo311.site.build import build_site  # noqa: PLC0415 - needs the maps extra

    site = build_site(
        read_tables(indicators_dir),
        out,
        district_layer=district_layer or None,
        area_layers=list(layers) or None,
        neighborhood_layer=neighborhood_layer,
        self_contained=self_contained,
        tiles=not no_tiles,
        png=not no_png,
        ledger=ledger,
        title=title,
        overwrite=overwrite,
        simplify_tolerance_m=simplify_m,
    )
    _site_summary(site)


def _site_summary(site: Any) -> None:
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


@main.command("run")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--city", required=True, help="Built-in city (baltimore) or a manifest TOML.")
@click.option("--schema", help="Profile of the exports (default: detect).")
@click.option("--layer", "layers", multiple=True, help="Layer to map (repeatable).")
@click.option("--vintage", "pins", multiple=True, help="Pin a vintage: LAYER=VINTAGE.")
@click.option("--population", type=click.Path(path_type=Path), help="Tract table CSV (GEOID).")
@click.option("--as-of", "as_of", help="Censoring time for open requests (default: latest).")
@click.option("--period", help="START:END, half-open, local dates or times.")
@click.option("--no-tiles", is_flag=True, help="No basemap (the pages never go online).")
@click.option("--no-png", is_flag=True, help="Skip the static PNG of each map.")
@click.option(
    "--keep-requests",
    type=click.Path(path_type=Path),
    help="Also save the joined requests (GeoParquet) here, outside the site.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Site folder.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
def run_cmd(
    inputs: tuple[Path, ...],
    city: str,
    schema: str | None,
    layers: tuple[str, ...],
    pins: tuple[str, ...],
    population: Path | None,
    as_of: str | None,
    period: str | None,
    no_tiles: bool,
    no_png: bool,
    keep_requests: Path | None,
    out: Path,
    overwrite: bool,
) -> None:
    """Ingest INPUTS, join them to CITY's layers, compute indicators and build the site."""
    from geo311.pipeline import run_city  # noqa: PLC0415 - needs the maps extra

    result = run_city(
        list(inputs),
        out,
        city=city,
        schema=schema,
        layers=list(layers) or None,
        vintages=_pairs(pins, "--vintage"),
        population=population,
        as_of=as_of,
        period=_period(period),
        tiles=not no_tiles,
        png=not no_png,
        keep_requests=keep_requests,
        overwrite=overwrite,
    )
    click.echo(result.ledger.summary())
    _site_summary(result.site)

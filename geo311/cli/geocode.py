"""``geo311 geocode``: fill missing coordinates from addresses."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from geo311.cli.console import progress_bars
from geo311.cli.options import out_opt, overwrite_opt, progress_opt
from geo311.io.atomic import check_overwrite
from geo311.ledger import ledger_path
from geo311.pipeline import load_requests
from geo311.publish import write_requests
from geo311.settings import cache_dir

log = logging.getLogger(__name__)


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
        from geo311.geocode.reference import ReferenceGeocoder  # noqa: PLC0415

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


@click.command("geocode")
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
@out_opt("Output GeoParquet.")
@overwrite_opt
@progress_opt
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
    progress: bool | None,
) -> None:
    """Fill coordinates of REQUESTS rows that lack usable ones, from their addresses.

    Answers are kept in a SQLite cache (in the geo311 cache folder), so a
    second run never asks again for an address it has seen.
    """
    from geo311.geocode.cache import GeocodeCache  # noqa: PLC0415
    from geo311.geocode.core import geocode  # noqa: PLC0415

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
    check_overwrite([out, ledger_path(out)], overwrite=overwrite)
    upstream = load_requests(requests_path, stage="ingest")
    try:
        with progress_bars(progress) as bars:

            def answered(done: int, total: int) -> None:  # a bar, else a log line per batch
                if bars is not None:
                    bars("geocode", done, total, unit="addresses")
                else:
                    log.info("geocoder answered %s of %s addresses", f"{done:,}", f"{total:,}")

            located, stage = geocode(
                upstream.requests,
                geocoder=chosen,
                only_missing=not all_rows,
                cache=GeocodeCache(cache_dir() / "geocode.sqlite"),
                progress=answered,
            )
    finally:
        if hasattr(chosen, "close"):
            chosen.close()
    result = replace(upstream, requests=located, ledger=upstream.ledger.extend(stage))
    written, ledger_file = write_requests(result, out, overwrite=overwrite)
    click.echo(stage.summary())
    click.echo(f"wrote {written} and {ledger_file}")

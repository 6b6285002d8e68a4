"""The whole pipeline in one call: 311 exports in, a council-district site out.

:func:`run_city` is what ``geo311 run`` does: read the exports with a schema
profile (:func:`geo311.read_requests`), assign every request to the city's
boundary layers (:func:`geo311.join_city`), compute the indicator tables of
the mapped layers (:func:`geo311.indicators.tables.city_tables`) and build the site
(:func:`geo311.site.pages.build_site`).

The site folder receives only aggregates: the pages, the indicator tables
(``indicators/``) and the PNGs.  Request-level data (addresses, descriptions)
and the row ledger (whose examples quote raw values) stay out of it; pass
``keep_requests=`` to save the joined requests and their ledger elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from geo311._errors import SchemaError
from geo311.indicators.tables import city_tables, table_paths, write_tables
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.io.readers import read_requests
from geo311.join.assign import join_city
from geo311.join.layers import load_manifest
from geo311.ledger import Ledger, ledger_path

__all__ = ["DEFAULT_SITE_LAYERS", "RunResult", "run_city"]

log = logging.getLogger(__name__)

#: Layers mapped by default, when the city's manifest has them.
DEFAULT_SITE_LAYERS = ("neighborhoods", "council_districts", "census_tracts")


class RunResult(NamedTuple):
    """What :func:`run_city` returns."""

    site: Any  # geo311.site.pages.SiteResult
    ledger: Ledger
    indicators_dir: Path
    requests_path: Path | None


def run_city(
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    city: str | Path,
    schema: str | Path | None = None,
    layers: Sequence[str] | None = None,
    vintages: dict[str, str] | None = None,
    population: str | Path | None = None,
    as_of: Any = None,
    period: tuple[Any, Any] | None = None,
    district_layer: str = "council_districts",
    self_contained: bool = True,
    tiles: bool = True,
    png: bool = True,
    keep_requests: str | Path | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Read 311 exports, join them to a city's layers and build its site.

    Parameters
    ----------
    inputs : path or sequence of paths
        311 export files (any format :func:`geo311.read_requests` reads).
    out_dir : path
        The site folder: pages, ``png/``, ``site.json`` and ``indicators/``.
    city : str or pathlib.Path
        Built-in city (``"baltimore"``) or a boundary manifest.
    schema : str or pathlib.Path, optional
        Profile of the exports; detected from their headers when omitted.
    layers : sequence of str, optional
        Layers to map; default those of :data:`DEFAULT_SITE_LAYERS` the city
        has.  The district layer is always included.
    vintages : dict, optional
        Pin a layer to one vintage, e.g. ``{"neighborhoods": "2010"}``.
    population : path, optional
        Tract table (e.g. from ``geo311 fetch census``); default the tract
        layer's own population columns.
    as_of, period
        As in :func:`geo311.area_indicators`.
    district_layer : str, default "council_districts"
        The layer that gets one page per area.
    self_contained, tiles, png
        As in :func:`geo311.site.pages.build_site`.
    keep_requests : path, optional
        Also write the joined requests (GeoParquet) here, with their ledger
        beside them (``<name>.ledger.json``).  Never inside ``out_dir``.
    overwrite : bool, default False
        Replace existing outputs.

    Returns
    -------
    RunResult

    Raises
    ------
    SchemaError
        ``keep_requests`` inside the site folder, or no layer to map.
    """
    from geo311.site.build import build_site  # noqa: PLC0415 - needs the maps extra

    out_dir = Path(out_dir)
    manifest = load_manifest(city)
    wanted = list(layers) if layers else [k for k in DEFAULT_SITE_LAYERS if k in manifest.layers]
    if district_layer in manifest.layers and district_layer not in wanted:
        wanted.append(district_layer)
    if not wanted:
        msg = f"no layers to map for {manifest.city}: pass layers= (--layer)"
        raise SchemaError(msg)
    indicators_dir = out_dir / "indicators"
    kept = Path(keep_requests) if keep_requests is not None else None
    if kept is not None:
        if kept.resolve().is_relative_to(out_dir.resolve()):
            msg = (
                f"keep_requests={kept} lies inside the site folder {out_dir}: request-level "
                "data must not be published with the site; choose another folder"
            )
            raise SchemaError(msg)
        check_overwrite([kept, ledger_path(kept)], overwrite=overwrite)

    if not overwrite:  # fail before the slow steps, not after them
        tables_out = table_paths(indicators_dir, wanted).values()
        check_overwrite([out_dir / "index.html", *tables_out], overwrite=False)
    requests, ledger = read_requests(inputs, schema=schema, as_of=as_of)
    joined = join_city(requests, city=city, layers=wanted, vintages=vintages)
    ledger = ledger.extend(joined.ledger)
    tables = city_tables(
        joined.frame,
        city=city,
        layers=wanted,
        population=population,
        group=district_layer if district_layer in wanted else None,
        as_of=as_of,
        period=period,
    )
    write_tables(tables, indicators_dir, overwrite=overwrite)
    if kept is not None:
        with atomic_write(kept) as tmp:
            joined.frame.to_parquet(tmp, index=False)
        with atomic_write(ledger_path(kept)) as tmp:
            ledger.write_json(tmp)
    site = build_site(
        tables,
        out_dir,
        district_layer=district_layer,
        self_contained=self_contained,
        tiles=tiles,
        png=png,
        ledger=ledger,
        overwrite=overwrite,
    )
    log.info(
        "built the %s site in %s from %s requests", manifest.city, out_dir, f"{len(requests):,}"
    )
    return RunResult(site, ledger, indicators_dir, kept)

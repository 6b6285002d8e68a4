"""Write a pipeline result: requests, indicator tables and the site (``geo311 run``).

The writers each write one part of a :class:`~geo311.pipeline.PipelineResult`,
atomically, refusing to replace existing files unless ``overwrite=True``:
:func:`write_requests` (GeoParquet + ledger), :func:`write_indicators` (the
indicator tables) and :func:`write_site` (the pages).  :func:`run_city` is
:func:`geo311.run` followed by the three writers, as ``geo311 run`` does.

The site folder receives only aggregates: the pages, the indicator tables
(``indicators/``) and the PNGs.  Request-level data (addresses, descriptions)
and the row ledger (whose examples quote raw values) stay out of it; pass
``keep_requests=`` to save the joined requests and their ledger elsewhere.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from geo311._errors import ConfigError, SchemaError
from geo311.indicators.tables import (
    LayerTables,
    layer_areas,
    table_paths,
    used_vintage,
    write_tables,
)
from geo311.io.atomic import atomic_write, check_overwrite, write_parquet
from geo311.join.files import manifest_folder
from geo311.join.manifest import CityManifest, ManifestError, list_cities, load_manifest
from geo311.ledger import Ledger, ledger_path
from geo311.pipeline import PipelineResult, run
from geo311.progress import ProgressHook
from geo311.site.simplify import simplify_in_background

if TYPE_CHECKING:
    import geopandas as gpd

    from geo311.background import Background

__all__ = ["RunResult", "run_city", "write_indicators", "write_requests", "write_site"]

log = logging.getLogger(__name__)

#: Metadata key of the city's manifest file, relative to the tables folder.
MANIFEST_KEY = "city_manifest"


# --------------------------------------------------------------------------- writers


def write_requests(
    result: PipelineResult, path: str | Path, *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write a result's requests as GeoParquet and its ledger beside them, atomically.

    Row groups hold :data:`geo311.io.atomic.ROW_GROUP_ROWS` requests, so that
    a reader can stream the file instead of loading it whole.

    Parameters
    ----------
    result : PipelineResult
    path : str or pathlib.Path
        The GeoParquet file; the ledger goes to ``<name>.ledger.json``.
    overwrite : bool, default False
        Replace existing files.

    Returns
    -------
    tuple of pathlib.Path
        The GeoParquet and ledger paths.

    Raises
    ------
    OutputExistsError
        Either file exists and ``overwrite`` is False.
    """
    path = Path(path)
    ledger_file = ledger_path(path)
    check_overwrite([path, ledger_file], overwrite=overwrite)
    write_parquet(result.requests, path)
    with atomic_write(ledger_file) as tmp:
        result.ledger.write_json(tmp)
    return path, ledger_file


def write_indicators(
    result: PipelineResult, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write a result's indicator tables (CSV, XLSX, JSON, GeoJSON) and ``equity.csv``.

    Each table's metadata (``<key>.json``) names the city and the result's
    layers in order (``layers``); for a city whose manifest was read from a
    file (not a built-in one), also that file, as a path relative to
    ``out_dir`` (``city_manifest``).  :func:`write_site` of the folder
    (``geo311 maps``) then builds the same site as from the result, as long
    as the folder and the manifest keep their places relative to each other.

    Parameters
    ----------
    result : PipelineResult
        A result of the indicators stage.
    out_dir : str or pathlib.Path
        Folder of the tables (``<site>/indicators`` for a site).
    overwrite : bool, default False
        Replace existing files.

    Returns
    -------
    dict of str to pathlib.Path
        As :func:`geo311.indicators.tables.write_tables`.
    """
    out_dir = Path(out_dir)
    where = _manifest_from(out_dir, result.city)
    record = {"layers": list(result.tables), **({} if where is None else {MANIFEST_KEY: where})}
    tables = {
        key: built._replace(metadata={**built.metadata, **record})
        for key, built in result.tables.items()
    }
    return write_tables(tables, out_dir, overwrite=overwrite)


def _manifest_from(folder: Path, manifest: CityManifest | None) -> str | None:
    """Return where a file manifest lies, seen from ``folder`` (None for a built-in one)."""
    if manifest is None or manifest_folder(manifest) is None:
        return None
    file = Path(manifest.path).expanduser().resolve()
    try:
        return Path(os.path.relpath(file, folder.resolve())).as_posix()
    except ValueError:  # on another drive (Windows): no relative path exists
        return file.as_posix()


def _in_run_order(tables: Mapping[str, LayerTables]) -> dict[str, LayerTables]:
    """Order tables read from a folder as the result that wrote them had its layers."""
    recorded = next(iter(tables.values())).metadata.get("layers") if tables else None
    order = [key for key in recorded if key in tables] if isinstance(recorded, list) else []
    return {key: tables[key] for key in [*order, *(k for k in tables if k not in order)]}


def _recorded_manifest(tables_dir: Path, recorded: Mapping[str, Any]) -> CityManifest | None:
    """Return the manifest of the city the tables' metadata name, None when they name none.

    The file recorded relative to the tables (``city_manifest``) when there
    is one, else the built-in city of the recorded name.
    """
    name = recorded.get("city")
    where = recorded.get(MANIFEST_KEY)
    if isinstance(where, str) and where:
        path = tables_dir / where
        if path.is_file():
            return load_manifest(path)
        looked = f"looked at {path} (recorded as {where!r} in their metadata)"
    elif not name:
        return None
    elif str(name) in list_cities():
        return load_manifest(str(name))
    else:
        cities = ", ".join(list_cities())
        looked = f"their metadata record no manifest file and it is not built in ({cities})"
    msg = (
        f"boundary manifest of city {name!r} not found for the tables in {tables_dir}: "
        f"{looked}; pass the manifest with --city PATH (city= in Python)"
    )
    raise ManifestError(msg)


def write_site(
    result: PipelineResult | None,
    out_dir: str | Path,
    *,
    tables_dir: str | Path | None = None,
    city: str | Path | CityManifest | None = None,
    layers: Sequence[str] | None = None,
    district_layer: str | None = None,
    neighborhood_layer: str | None = None,
    ledger: Ledger | str | Path | None = None,
    self_contained: bool = True,
    tiles: bool = True,
    png: bool = True,
    title: str | None = None,
    simplify_tolerance_m: float = 5.0,
    overwrite: bool = False,
    progress: ProgressHook | None = None,
) -> Any:
    """Write the site of a result: index, a map page per layer, district pages, PNGs.

    The pages are built from the tables held in ``result``; nothing is read
    back from disk.  How layers are titled and how their areas are named on
    the pages ("Council District 5") comes from the city's manifest.

    Parameters
    ----------
    result : PipelineResult or None
        A result of the indicators stage; None to build the site of a
        tables folder alone (``geo311 maps``), then ``tables_dir`` is needed.
    out_dir : str or pathlib.Path
        The site folder.
    tables_dir : str or pathlib.Path, optional
        A folder :func:`write_indicators` wrote; read only when ``result`` is None.
    city : str, pathlib.Path or CityManifest, optional
        The city whose layer titles and area names the pages use; default
        the result's city, or the city recorded in the tables' metadata:
        the manifest file :func:`write_indicators` recorded relative to
        ``tables_dir``, else the built-in city of the recorded name.
    layers : sequence of str, optional
        Layers to map; default every layer of the tables.
    district_layer : str, optional
        Layer with one page per area; default the result's (or the one
        recorded in the tables, or the city's), ``""`` for none.
    neighborhood_layer, self_contained, tiles, png, title, simplify_tolerance_m, progress
        As in :func:`geo311.site.build.build_site`.
    ledger : Ledger or path, optional
        Row ledger summarised on the index; default the result's.
    overwrite : bool, default False
        Replace existing pages.

    Returns
    -------
    geo311.site.build.SiteResult

    Raises
    ------
    ConfigError
        Neither a result nor a tables folder.
    ManifestError
        The tables name a city whose manifest is neither where they record
        it nor built in, and ``city`` is not given.
    """
    from geo311.io.tables import read_tables  # noqa: PLC0415 - needs the maps extra
    from geo311.site.build import build_site  # noqa: PLC0415 - needs the maps extra

    if result is None and tables_dir is None:
        msg = "write_site needs a pipeline result or the folder of indicator tables (tables_dir=)"
        raise ConfigError(msg)
    if result is not None:
        tables: Mapping[str, LayerTables] = result.tables
        ledger = result.ledger if ledger is None else ledger
    else:
        tables = read_tables(Path(str(tables_dir)), layers=layers)
        tables = tables if layers else _in_run_order(tables)  # read in name order
    recorded = next(iter(tables.values())).metadata if tables else {}
    if isinstance(city, CityManifest):
        manifest: CityManifest | None = city
    elif city is not None:
        manifest = load_manifest(city)
    elif result is not None:
        manifest = result.city
    else:  # the city the tables were computed for
        manifest = _recorded_manifest(Path(str(tables_dir)), recorded)
    if district_layer is None:
        if result is not None:
            district_layer = result.district_layer
        elif "district_layer" in recorded:
            district_layer = recorded["district_layer"] or ""
        elif manifest is not None:
            district_layer = manifest.district_layer
    specs = manifest.layers if manifest is not None else {}
    return build_site(
        tables,
        Path(out_dir),
        district_layer=district_layer or None,
        titles={k: specs[k].title for k in tables if k in specs},
        area_labels={k: specs[k].display for k in tables if k in specs},
        area_layers=list(layers) if layers else None,
        neighborhood_layer=neighborhood_layer,
        self_contained=self_contained,
        tiles=tiles,
        png=png,
        ledger=ledger,
        title=title,
        overwrite=overwrite,
        simplify_tolerance_m=simplify_tolerance_m,
        progress=progress,
    )


# --------------------------------------------------------------------------- geo311 run


class RunResult(NamedTuple):
    """What :func:`run_city` returns."""

    site: Any  # geo311.site.build.SiteResult
    ledger: Ledger
    indicators_dir: Path
    requests_path: Path | None
    result: PipelineResult


def _display_areas(joined: PipelineResult) -> list[gpd.GeoDataFrame]:
    """Return the areas a site of ``joined``'s tables draws: each layer's vintage, EPSG:4326.

    As the layer's tables keep them (:func:`geo311.indicators.tables.layer_areas`):
    the site's display geometry is cached by the areas' geometry.
    """
    out = []
    for key in joined.layers:
        vintages = joined.boundaries.get(key, [])
        if any(v.has_file for v in vintages):
            out.append(layer_areas(used_vintage(joined.requests, key, vintages)))
    return out


def _display_ready(child: Background[None]) -> None:
    """Wait for the display geometry simplified ahead; if it failed, the site computes it."""
    try:
        child.result()
    except Exception as exc:  # the site simplifies what is not cached, and says why it fails
        log.debug("the display geometry was not prepared ahead: %s", exc)


def run_city(
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    *,
    city: str | Path,
    schema: str | Path | None = None,
    timezone: str | None = None,
    layers: Sequence[str] | None = None,
    district_layer: str | None = None,
    vintages: Mapping[str, str] | None = None,
    population: str | Path | None = None,
    as_of: Any = None,
    period: tuple[Any, Any] | None = None,
    max_days: float | None = None,
    placeholders: Mapping[str, Any] | None = None,
    types: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    self_contained: bool = True,
    tiles: bool = True,
    png: bool = True,
    keep_requests: str | Path | None = None,
    keep_raw: bool = False,
    cache_dir: Path | None = None,
    overwrite: bool = False,
    data_dir: str | Path | None = None,
    progress: ProgressHook | None = None,
    chunk_rows: int | None = None,
    scheduler: str | None = None,
) -> RunResult:
    """Read 311 exports, join them to a city's layers and build its site (``geo311 run``).

    :func:`run` followed by :func:`write_indicators`, :func:`write_requests`
    (with ``keep_requests``) and :func:`write_site`.

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
    timezone : str, optional
        Override the profile's IANA time zone.
    layers : sequence of str, optional
        Layers to map; default :func:`site_layers`.  The district layer is
        always included.
    district_layer : str, optional
        The layer that gets one page per area; default the manifest's ``district_layer``
        of the city, ``""`` for none.
    vintages : dict, optional
        Pin a layer to one vintage, e.g. ``{"neighborhoods": "2010"}``.
    population, as_of, period, max_days, placeholders, types, families, keep_raw
        As in :func:`run`.  With ``types`` or ``families`` every table counts
        only the selected types, and the site has a RecycleStat page of them
        (requests by weekday and district, ``recycle-<slug>.html``).
    self_contained, tiles, png
        As in :func:`write_site`.
    keep_requests : path, optional
        Also write the joined requests (GeoParquet) here, with their ledger
        beside them (``<name>.ledger.json``).  Never inside ``out_dir``.
        With ``chunk_rows`` or ``scheduler`` it is a folder: a GeoParquet
        dataset of one file per part (see :mod:`geo311.scale.dataset`).
    cache_dir : pathlib.Path, optional
        Folder of the join's cached grid indexes, as in :func:`run`
        (``geo311 run`` and ``geo311 join`` share ``<cache dir>/indexes``).
    overwrite : bool, default False
        Replace existing outputs.
    data_dir : str or pathlib.Path, optional
        Folder searched first for the city's boundary files, as in :func:`run`.
    progress : ProgressHook, optional
        Told how far each long step has got, the site's pages included
        (see :mod:`geo311.progress`).
    chunk_rows, scheduler
        The out-of-core run and its Dask path, as in :func:`run`.

    Returns
    -------
    RunResult

    Raises
    ------
    SchemaError
        ``keep_requests`` inside the site folder, or no layer to map.
    """
    out_dir = Path(out_dir)
    manifest = load_manifest(city)
    district = district_layer if district_layer is not None else manifest.district_layer
    wanted = list(layers or [])
    if wanted and district and district in manifest.layers and district not in wanted:
        wanted.append(district)
    indicators_dir = out_dir / "indicators"
    kept = Path(keep_requests) if keep_requests is not None else None
    out_of_core = chunk_rows is not None or scheduler is not None
    if kept is not None:
        if kept.resolve().is_relative_to(out_dir.resolve()):
            msg = (
                f"keep_requests={kept} lies inside the site folder {out_dir}: request-level "
                "data must not be published with the site; choose another folder"
            )
            raise SchemaError(msg)
        check_overwrite([kept, ledger_path(kept)], overwrite=overwrite)
    if not overwrite:  # fail before the slow steps, not after them
        tables_out = table_paths(indicators_dir, wanted).values() if wanted else []
        check_overwrite([out_dir / "index.html", *tables_out], overwrite=False)
    early: list[Background[None]] = []

    def display_early(joined: PipelineResult) -> None:
        # the site's display geometry, simplified by a forked child while the tables are
        started = simplify_in_background(_display_areas(joined))
        if started is not None:
            early.append(started)

    try:
        result = run(
            inputs,
            city=city,
            schema=schema,
            timezone=timezone,
            layers=wanted or None,
            district_layer=district or "",
            vintages=vintages,
            population=population,
            as_of=as_of,
            period=period,
            max_days=max_days,
            placeholders=placeholders,
            types=types,
            families=families,
            data_dir=data_dir,
            progress=progress,
            keep_raw=keep_raw,
            cache_dir=cache_dir,
            chunk_rows=chunk_rows,
            scheduler=scheduler,
            dataset=kept if out_of_core else None,  # written part by part as they are joined
            overwrite=True,  # existence checked above
            on_joined=display_early,
        )
        write_indicators(result, indicators_dir, overwrite=overwrite)
        if kept is not None and not out_of_core:
            write_requests(result, kept, overwrite=True)  # existence checked above
        for child in early:
            _display_ready(child)
    finally:
        for child in early:
            child.cancel()
    site = write_site(
        result,
        out_dir,
        self_contained=self_contained,
        tiles=tiles,
        png=png,
        overwrite=overwrite,
        progress=progress,
    )
    log.info(
        "built the %s site in %s from %s requests",
        manifest.city,
        out_dir,
        f"{len(result.requests):,}",
    )
    return RunResult(site, result.ledger, indicators_dir, kept, result)

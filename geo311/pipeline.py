"""THE orchestration: 311 exports and a city profile in, a :class:`PipelineResult` in memory out.

Every way of running geo311 goes through :func:`run`: ``geo311 run`` and the
stage commands (``ingest``, ``join``, ``indicators`` stop early with
``stop_after=``, or resume from a saved stage with :func:`load_requests`),
``geo311 demo`` (synthetic inputs, see :mod:`geo311.demo`), the examples and
the Python API.  The stages, in order::

    inputs --ingest--> requests + ledger --join--> <layer>_id columns
           --indicators--> tables per layer (+ equity) --> write_site

:func:`run` writes nothing; :mod:`geo311.publish` writes a result's parts
(requests, indicator tables, the site), and its :func:`~geo311.publish.run_city`
is :func:`run` followed by those writers, as ``geo311 run`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from geo311 import settings
from geo311._errors import ConfigError, InputError, OptionError, SchemaError
from geo311.allocation import collector_paused
from geo311.background import split_with_child
from geo311.indicators.selection import TypeSelection, resolve_types
from geo311.indicators.shared import shared_selection
from geo311.indicators.tables import LayerTables, build_tables
from geo311.io.atomic import check_overwrite
from geo311.io.dtypes import as_categorical, compact_requests
from geo311.io.readers import read_requests
from geo311.join.assign import JOIN_STATUS, assign_areas, join_city
from geo311.join.files import check_layer_files
from geo311.join.label_qa import LabelCheck
from geo311.join.layers import Layer, load_layers
from geo311.join.manifest import CityManifest, load_manifest
from geo311.ledger import Ledger, ledger_path
from geo311.population.tracts import read_tract_table
from geo311.progress import ProgressHook, report
from geo311.result import STAGES, PipelineResult, Stage

if TYPE_CHECKING:
    from geo311.scale.stream import StagedIngest

__all__ = [
    "STAGES",
    "PipelineResult",
    "Stage",
    "load_requests",
    "run",
    "site_layers",
]

log = logging.getLogger(__name__)

#: Rows per chunk of the out-of-core run when only a scheduler is given.
DEFAULT_CHUNK_ROWS = 1_000_000


# --------------------------------------------------------------------------- layer choice


def site_layers(manifest: CityManifest, requested: pd.Series | None = None) -> list[str]:
    """Return the layers a city maps by default: the manifest's ``site_layers``.

    Layers without a local file for any of the requests' dates are left out
    (with a warning), since no request could be joined to them.

    Parameters
    ----------
    manifest : CityManifest
    requested : pandas.Series, optional
        ``requested_datetime`` of the requests; without it every layer the
        manifest maps counts.

    Returns
    -------
    list of str
    """
    days: set[Any] = set()
    if requested is not None:
        local = pd.to_datetime(requested, utc=True).dropna().dt.tz_convert(manifest.timezone)
        # the city's calendar days: wall-clock times cut to the day, no date object per request
        wall = local.dt.tz_localize(None).to_numpy(dtype="datetime64[D]")
        days = {pd.Timestamp(day).date() for day in np.unique(wall)}
    chosen = []
    for key in manifest.site_layers:
        files = [v for v in manifest.layers[key].vintages if v.has_file]
        if files and (not days or any(v.valid_on(day) for v in files for day in days)):
            chosen.append(key)
        else:
            log.warning(
                "not mapping %s: none of its vintages with a local file is valid on the "
                "requests' dates; supply its file (see boundaries/README.md)",
                key,
            )
    return chosen


# --------------------------------------------------------------------------- stages


def _first_with_file(vintages: Sequence[Layer] | None) -> Layer | None:
    return next((v for v in vintages or () if v.has_file), None)


def _join(
    result: PipelineResult,
    manifest: CityManifest | None,
    *,
    city: str | Path | None,
    layers: Sequence[str] | None,
    boundaries: Mapping[str, Sequence[Layer]] | None,
    options: dict[str, Any],
) -> PipelineResult:
    """Assign every request to the boundary layers (the ``join`` stage).

    With ``options["staged"]`` (an out-of-core ingest) the parts are joined
    one at a time, or on the cluster of ``options["scheduler"]``, and kept
    as the GeoParquet dataset ``options["dataset"]`` when given.
    """
    if "staged" in options:
        return _join_parts(result, manifest, layers=layers, boundaries=boundaries, options=options)
    if boundaries is not None:
        unknown = [k for k in layers or () if k not in boundaries]
        if unknown:
            msg = f"no boundary layer {unknown} among the layers given: {', '.join(boundaries)}"
            raise ConfigError(msg)
        chosen = {k: list(boundaries[k]) for k in (layers or boundaries)}
        frame, ledger = assign_areas(
            result.requests,
            chosen,
            vintages=options["vintages"],
            tolerance_m=options["tolerance_m"],
            cache_dir=options["cache_dir"],
            timezone=manifest.timezone if manifest is not None else None,
            progress=options["progress"],
        )
        checks: list[LabelCheck] = []
    else:
        frame, ledger, chosen, checks = join_city(
            result.requests, city=city, layers=layers, **options
        )
    return _joined(result, frame, ledger, chosen, checks)


def _joined(
    result: PipelineResult,
    frame: pd.DataFrame,
    ledger: Ledger,
    chosen: dict[str, list[Layer]],
    checks: list[LabelCheck],
) -> PipelineResult:
    """Return ``result`` after the join: the joined frame, its ledger appended, its layers."""
    return replace(
        result,
        requests=frame,
        ledger=result.ledger.extend(ledger),
        stage="join",
        layers=tuple(chosen),
        boundaries=chosen,
        checks=checks,
    )


def _join_parts(
    result: PipelineResult,
    manifest: CityManifest | None,
    *,
    layers: Sequence[str] | None,
    boundaries: Mapping[str, Sequence[Layer]] | None,
    options: dict[str, Any],
) -> PipelineResult:
    """Run the out-of-core ``join`` stage; keep the joined parts as ``options["dataset"]``."""
    from geo311.scale.dataset import (  # noqa: PLC0415
        discard_dataset,
        publish_dataset,
        start_dataset,
    )
    from geo311.scale.stream import join_parts  # noqa: PLC0415

    target = options["dataset"]
    keep = None if target is None else start_dataset(target, overwrite=options["overwrite"])
    join_options = {k: v for k, v in options.items() if k not in ("dataset", "overwrite")}
    try:
        frame, ledger, chosen = join_parts(
            manifest, layers=layers, boundaries=boundaries, keep=keep, **join_options
        )
    except BaseException:
        if keep is not None:
            discard_dataset(keep)
        raise
    joined = _joined(result, frame, ledger, chosen, [])
    if keep is not None:
        publish_dataset(keep, target, ledger=joined.ledger)
    return joined


def _check_dataset(
    path: Path, chunk_rows: int | None, scheduler: str | None, *, overwrite: bool
) -> None:
    """Refuse a ``dataset`` the run would not write, or an existing one without ``overwrite``."""
    if chunk_rows is None and scheduler is None:
        msg = (
            f"dataset={path}: only the out-of-core run (chunk_rows / scheduler) keeps its "
            "joined parts; in memory, save the requests with write_requests"
        )
        raise OptionError(msg)
    check_overwrite([path, ledger_path(path)], overwrite=overwrite)


#: Requests from which a run's layers are tabulated by two processes (:func:`_tabulate`).
SHARED_TABLES_MIN_ROWS = 200_000


def _tabulate(
    result: PipelineResult,
    manifest: CityManifest,
    *,
    layers: Sequence[str],
    district: str | None,
    boundaries: Mapping[str, Sequence[Layer]] | None,
    population: str | Path | None,
    selection: TypeSelection | None,
    options: dict[str, Any],
    data_dir: str | Path | None = None,
    progress: ProgressHook | None = None,
    on_joined: Callable[[PipelineResult], object] | None = None,
    in_child: bool = True,
) -> PipelineResult:
    """Compute each layer's indicator tables (``selection``: only its types, in the metadata).

    ``on_joined`` is called with ``result`` first (see :func:`run`).  The
    layers are shared with a forked child (``in_child``, where one can be
    forked): the two take them from the two ends of the list.  The child
    does again the selection work the layers share, so it pays only on many
    requests (:data:`SHARED_TABLES_MIN_ROWS`).
    """
    if on_joined is not None:
        on_joined(result)
    missing = [k for k in layers if f"{k}_id" not in result.requests]
    if missing:
        msg = (
            f"the requests were not joined to {missing}; run `geo311 join ... --city "
            f"{manifest.city}` with these layers first"
        )
        raise SchemaError(msg)
    given = {k: list(v) for k, v in (boundaries or {}).items()}
    loaded: dict[str, list[Layer]] = {**result.boundaries, **given}
    tract_layer = manifest.tract_layer
    needed = dict.fromkeys([*layers, *filter(None, [tract_layer, district])])
    to_load = [k for k in needed if k not in loaded and k in manifest.layers]
    if to_load:
        loaded.update(load_layers(manifest, layers=to_load, data_dir=data_dir, progress=progress))
    tracts = _first_with_file(loaded.get(tract_layer or ""))
    group = _first_with_file(loaded.get(district or ""))
    table = read_tract_table(population) if population is not None else None
    if selection is not None:
        exact = [*(options["service_types"] or ()), *selection.types]
        options = {**options, "service_types": list(dict.fromkeys(exact))}
    # the city and its district layer travel with the tables, so a site built
    # later from a tables folder (geo311 maps) keeps the run's shape
    where: dict[str, Any] = {"city": manifest.city, "district_layer": district}
    if selection is not None:
        where["type_selection"] = selection.metadata()

    def tabulate(task: int) -> LayerTables:
        built = build_tables(
            result.requests,
            key=layers[task],
            vintages=loaded[layers[task]],
            tracts=tracts,
            denominators=table,
            group=group,
            timezone=manifest.timezone,
            **options,
        )
        return built._replace(metadata={**built.metadata, **where})

    report(progress, "indicators", 0, len(layers), unit="layers")
    # the layers shared with a forked child, each process's selection work done once
    with shared_selection(result.requests):
        built = split_with_child(
            len(layers),
            tabulate,
            what="computing indicator tables",
            advice="run again",
            done=lambda count: report(progress, "indicators", count, len(layers), unit="layers"),
            child=in_child,
        )
    tables = dict(zip(layers, built, strict=True))
    report(progress, "indicators", len(layers), len(layers), unit="layers")
    return replace(result, stage="indicators", layers=tuple(layers), tables=tables)


def run(
    inputs: str | Path | Sequence[str | Path] | PipelineResult,
    *,
    city: str | Path | CityManifest | None = None,
    schema: str | Path | None = None,
    timezone: str | None = None,
    chunksize: int | None = None,
    encoding: str | None = None,
    max_bad_timestamps: float = 0.05,
    placeholders: Mapping[str, Any] | None = None,
    keep_raw: bool = False,
    layers: Sequence[str] | None = None,
    district_layer: str | None = None,
    boundaries: Mapping[str, Sequence[Layer]] | None = None,
    extra_layers: Mapping[str, str | Path] | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    vintages: Mapping[str, str] | None = None,
    tolerance_m: float = 0.0,
    qa: bool = False,
    near_m: float = 50.0,
    cache_dir: Path | None = None,
    population: str | Path | None = None,
    as_of: Any = None,
    period: tuple[Any, Any] | None = None,
    service_types: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    agencies: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    demand: str = "resident",
    max_days: float | None = None,
    stop_after: Stage | None = None,
    data_dir: str | Path | None = None,
    progress: ProgressHook | None = None,
    chunk_rows: int | None = None,
    scheduler: str | None = None,
    dataset: str | Path | None = None,
    overwrite: bool = False,
    on_joined: Callable[[PipelineResult], object] | None = None,
) -> PipelineResult:
    """Run the pipeline: ingest -> join -> indicators, stopping where asked.

    Parameters
    ----------
    inputs : path, sequence of paths or PipelineResult
        311 export files (any format :func:`geo311.read_requests` reads), or
        a result to continue from (e.g. :func:`load_requests` of a saved
        stage): stages up to its ``stage`` are not run again.
    city : str, pathlib.Path or CityManifest, optional
        Built-in city (``"baltimore"``), a boundary manifest, or a parsed one.
        Needed by the join (unless ``extra_layers`` only) and the indicators.
    schema, timezone, chunksize, encoding, max_bad_timestamps, placeholders, keep_raw
        Ingest: as in :func:`geo311.read_requests` (``placeholders``
        overrides the profile's placeholder thresholds); the source columns
        are also kept with ``qa``, whose label checks read them.
    layers : sequence of str, optional
        Layers to join and tabulate; default every layer of ``boundaries``
        when given, else the layers of joined requests, else
        :func:`site_layers` of the city and its district layer.
    district_layer : str, optional
        The layer with one page per area and the group of the Theil
        decomposition; default the manifest's ``district_layer``; ``""``
        for none.
    boundaries : mapping of str to sequence of Layer, optional
        Boundary layers already loaded (e.g. the synthetic demo's); default
        the city manifest's files.
    extra_layers, id_field, name_field, vintages, tolerance_m, qa, near_m, cache_dir
        Join: as in :func:`geo311.join_city`.
    population : path, optional
        Tract table (e.g. from ``geo311 fetch census``); default the tract
        layer's own population columns.  A city without a tract layer has no
        population denominator (rates are flagged ``no_denominator``), and a
        table given for it is a ConfigError.
    as_of, period, service_types, agencies, sources, demand, max_days
        Ingest (a single ``as_of``) and indicators: as in
        :func:`geo311.area_indicators`; ``as_of`` may map input files to
        their extract times.  ``service_types`` are exact names.
    types, families : sequence of str, optional
        Service types as a user writes them (parts of names, any case) and
        families of the city manifest, resolved once before the join
        (:func:`geo311.indicators.selection.resolve_types`); the matches are
        recorded in ``metadata["type_selection"]`` and each table's metadata.
    stop_after : {"ingest", "join", "indicators"}, optional
        Last stage to run (default all).
    data_dir : str or pathlib.Path, optional
        Folder searched first for the city's boundary files (``--data-dir``;
        then the manifest's folder, ``$GEO311_DATA_DIR``, the cache: see
        :func:`geo311.join.files.find_layer_file`).  Every file the run
        will read is checked before the ingest starts.
    progress : ProgressHook, optional
        Told how far each long step has got (ingest, boundaries, join,
        indicators; see :mod:`geo311.progress`).
    chunk_rows : int, optional
        Run out of core (:mod:`geo311.scale`): read and join this many rows
        at a time, the requests' geometry and free text never all in memory.
        Every table and the ledger equal the in-memory run's; the result's
        ``requests`` are then the compact columns the indicators read (after
        the ingest alone: the columns the cleaning reads).  Not with
        ``keep_raw``, ``qa``, ``extra_layers`` or a result as ``inputs``.
    scheduler : str, optional
        Read the input files (one per task) and join the chunks on a Dask
        cluster: ``local:N`` (N worker processes on this machine) or
        ``tcp://HOST:PORT`` (needs ``geo311[dask]``; the workers must see the
        inputs and the cache dir at the same paths; see
        docs/running-on-a-cluster.md).  Implies the out-of-core run
        (``chunk_rows`` default 1,000,000).
    dataset : str or pathlib.Path, optional
        With ``chunk_rows`` or ``scheduler``: keep the joined requests (the
        ingested ones, with ``stop_after="ingest"``) as a GeoParquet dataset
        in this folder, one file per part, with the ledger beside it
        (``<name>.ledger.json``; see :mod:`geo311.scale.dataset`).
        :func:`load_requests` reads it back.
    overwrite : bool, default False
        Replace an existing ``dataset``.
    on_joined : callable, optional
        Called with the joined result (its requests and the boundary layers
        used) once the requests are joined, before the indicators are
        computed: :func:`geo311.run_city` starts the site's display geometry
        there, so that it is computed while the tables are.

    Returns
    -------
    PipelineResult

    Raises
    ------
    ConfigError
        No city for a stage that needs one; a population table for a city without
        a tract layer.
    InputError
        No requests to go past the ingest with (e.g. a header-only file).
    InputFileError
        ``data_dir`` is not a folder, or a boundary file of the layers the
        run reads is missing (raised before the ingest).
    SchemaError
        Continuing from requests that were not joined to the layers asked for.
    OptionError
        A ``types`` term or family that selects no service type present
        (the message suggests the closest names); ``dataset`` without the
        out-of-core run.
    OutputExistsError
        ``dataset`` or its ledger exists and ``overwrite`` is False.
    """
    last = STAGES.index(stop_after or "indicators")
    if dataset is not None:  # before the slow ingest
        _check_dataset(Path(dataset), chunk_rows, scheduler, overwrite=overwrite)
    manifest = city if isinstance(city, CityManifest) or city is None else load_manifest(city)
    _check_files(  # before the slow ingest
        manifest, inputs, layers, district_layer, boundaries, last=STAGES[last], data_dir=data_dir
    )
    result, staged = _ingest(
        inputs,
        manifest,
        read_options={
            "schema": schema,
            "timezone": timezone,
            "encoding": encoding,
            # one time for every file checks the ingest's time flags; per-file
            # times ({file: time}) are applied by the indicators
            "as_of": None if isinstance(as_of, Mapping) else as_of,
            "max_bad_timestamps": max_bad_timestamps,
            "placeholders": placeholders,
            "progress": progress,
        },
        chunksize=chunksize,
        keep_raw=keep_raw or qa,
        scale={
            "chunk_rows": chunk_rows,
            "scheduler": scheduler,
            "extra_layers": extra_layers,
            "dataset": dataset,
            "overwrite": overwrite,
        },
        keep_parts=last > STAGES.index("ingest"),
    )
    done = STAGES.index(result.stage)
    if last <= done:
        return replace(result, metadata=_metadata(result, as_of=as_of, period=period))
    if not len(result.requests):
        names = ", ".join(str(i.get("path")) for i in result.ledger.inputs) or "the requests"
        msg = (
            f"{names}: no requests to join or tabulate (a file with a header and no rows?); "
            "check the export"
        )
        raise InputError(msg)
    if manifest is None and (last == STAGES.index("indicators") or not extra_layers):
        msg = f"the {STAGES[last]} stage needs a city: pass city= (--city) with the city's layers"
        raise ConfigError(msg)
    _check_population(population, manifest)
    selection = resolve_types(  # before the slow join
        result.requests,
        types=types,
        families=families,
        family_types=manifest.families if manifest is not None else None,
    )
    district = None
    if manifest is not None:
        district = district_layer if district_layer is not None else manifest.district_layer
        district = district or None
    if layers:
        wanted = list(layers)
    elif boundaries is not None:  # layers already loaded: all of them
        wanted = list(boundaries)
    else:
        wanted = _default_layers(manifest, result.requests, district)
    if done < STAGES.index("join"):
        join_options: dict[str, Any] = {
            "vintages": vintages,
            "tolerance_m": tolerance_m,
            "cache_dir": cache_dir,
            "progress": progress,
        }
        if staged is not None:
            join_options |= {"staged": staged, "scheduler": scheduler, "data_dir": data_dir}
            join_options |= {"dataset": dataset, "overwrite": overwrite}
            # the selection columns chose the types and layers; the parts hold the requests
            # (a copy: an empty view would keep every request's selection columns alive)
            result = replace(result, requests=result.requests.iloc[:0].copy())
        elif boundaries is None:
            join_options |= {
                "data_dir": data_dir,
                "extra_layers": extra_layers,
                "id_field": id_field,
                "name_field": name_field,
                "qa": qa,
                "near_m": near_m,
            }
        result = _join(
            result,
            manifest,
            city=city.path if isinstance(city, CityManifest) else city,
            layers=wanted or None,
            boundaries=boundaries,
            options=join_options,
        )
    if last == STAGES.index("indicators") and manifest is not None:  # None raised above
        result = _tabulate(
            result,
            manifest,
            layers=wanted or list(result.layers),
            district=district,
            boundaries=boundaries,
            population=population,
            selection=selection,
            data_dir=data_dir,
            progress=progress,
            on_joined=on_joined,
            # out of core, one process: a child's working memory would add to the run's;
            # on few requests the child's share of the work would not pay for it
            in_child=chunk_rows is None
            and scheduler is None
            and len(result.requests) >= SHARED_TABLES_MIN_ROWS,
            options={
                "as_of": as_of,
                "period": period,
                "service_types": service_types,
                "agencies": agencies,
                "sources": sources,
                "demand": demand,
                "max_days": max_days,
            },
        )
    result = replace(result, district_layer=district)
    meta = _metadata(result, as_of=as_of, period=period, selection=selection)
    return replace(result, metadata=meta)


def _ingest(
    inputs: str | Path | Sequence[str | Path] | PipelineResult,
    manifest: CityManifest | None,
    *,
    read_options: dict[str, Any],
    chunksize: int | None,
    keep_raw: bool,
    scale: dict[str, Any],
    keep_parts: bool,
) -> tuple[PipelineResult, StagedIngest | None]:
    """Read the inputs (the ``ingest`` stage): in memory, or into parts on disk (``scale``).

    The out-of-core ingest (``scale["chunk_rows"]`` or ``["scheduler"]``)
    also returns its parts for the join, unless ``keep_parts`` is False: they
    are then kept as the dataset ``scale["dataset"]``, if given, and removed.
    """
    out_of_core = scale["chunk_rows"] is not None or scale["scheduler"] is not None
    folder = _dataset_input(inputs)
    if folder is not None:
        return _saved_dataset(folder, manifest, out_of_core=out_of_core)
    if isinstance(inputs, PipelineResult) and not out_of_core:
        return replace(inputs, city=manifest or inputs.city), None
    if not out_of_core:
        requests, ledger = read_requests(
            inputs,  # type: ignore[arg-type]  # not a PipelineResult, see above
            chunksize=chunksize,
            keep_raw=keep_raw,
            **read_options,
        )
        return PipelineResult(requests, ledger, "ingest", city=manifest), None
    from geo311.scale.stream import check_options, ingest_parts  # noqa: PLC0415

    check_options(
        chunk_rows=scale["chunk_rows"],
        scheduler=scale["scheduler"],
        keep_raw=keep_raw,
        extra_layers=scale["extra_layers"],
        inputs=inputs,
    )
    keys, staged = ingest_parts(
        inputs,  # type: ignore[arg-type]  # checked: paths
        chunk_rows=scale["chunk_rows"] or DEFAULT_CHUNK_ROWS,
        scratch=settings.cache_dir() / "parts",  # GEO311_CACHE_DIR: shared with a cluster
        scheduler=scale["scheduler"],
        **read_options,
    )
    if not keep_parts:
        if scale["dataset"] is not None:
            from geo311.scale.dataset import keep_ingest  # noqa: PLC0415

            keep_ingest(
                staged.parts, scale["dataset"], ledger=keys.ledger, overwrite=scale["overwrite"]
            )
        staged.close()
    result = PipelineResult(keys.frame, keys.ledger, "ingest", city=manifest)
    return result, staged if keep_parts else None


def _dataset_input(inputs: object) -> Path | None:
    """Return the folder of a kept dataset when it is the only input, else None.

    Any other folder is left to the reader, which refuses it in one line.
    """
    from geo311.scale.dataset import PART_GLOB  # noqa: PLC0415

    if isinstance(inputs, str | Path):
        inputs = [inputs]
    if isinstance(inputs, Sequence) and len(inputs) == 1 and isinstance(inputs[0], str | Path):
        path = Path(inputs[0])
        if path.is_dir() and any(path.glob(PART_GLOB)):
            return path
    return None


def _saved_dataset(
    folder: Path, manifest: CityManifest | None, *, out_of_core: bool
) -> tuple[PipelineResult, StagedIngest | None]:
    """Continue from a dataset a run kept (:mod:`geo311.scale.dataset`): ingested or joined.

    Out of core, a kept ingest's parts are joined one at a time as they are
    and a joined dataset is read a row group at a time, only the columns the
    indicators read; in memory either is read whole (:func:`load_requests`).
    """
    from geo311.scale.dataset import PART_GLOB, saved_parts  # noqa: PLC0415
    from geo311.scale.stream import StagedIngest  # noqa: PLC0415

    first = next(iter(sorted(folder.glob(PART_GLOB))), None)
    names = pq.read_schema(first).names if first is not None else []
    stage: Stage = "join" if any(str(n).endswith("_join") for n in names) else "ingest"
    if stage == "join" or not out_of_core:
        result = load_requests(folder, stage=stage, compact=out_of_core)
        return replace(result, city=manifest), None
    selection, parts = saved_parts(folder)
    ledger = _saved_ledger(folder)
    return PipelineResult(selection, ledger, "ingest", city=manifest), StagedIngest(parts, None)


def _check_population(population: str | Path | None, manifest: CityManifest | None) -> None:
    """Refuse a tract table for a city without a tract layer (nothing to attach it to)."""
    if population is not None and manifest is not None and manifest.tract_layer is None:
        msg = (
            f"population {population}: the {manifest.city} manifest has no tract layer "
            "(tract_layer), so a tract table cannot reach its areas; add the census tract "
            "polygons as a layer, or leave the population out (rates then show no denominator)"
        )
        raise ConfigError(msg)


def _metadata(
    result: PipelineResult, *, as_of: Any, period: Any, selection: TypeSelection | None = None
) -> dict[str, Any]:
    """Describe a run: city, last stage, layers, district layer, as-of, period, type selection."""
    return {
        **({} if selection is None else {"type_selection": selection.metadata()}),
        "city": result.city.city if result.city is not None else None,
        "stage": result.stage,
        "layers": list(result.layers),
        "district_layer": result.district_layer,
        "as_of": None if as_of is None else str(as_of),
        "period": None if period is None else [str(p) for p in period],
    }


def _check_files(
    manifest: CityManifest | None,
    inputs: object,
    layers: Sequence[str] | None,
    district_layer: str | None,
    boundaries: Mapping[str, Sequence[Layer]] | None,
    *,
    last: Stage,
    data_dir: str | Path | None,
) -> None:
    """Check the manifest's files of the layers a run reads: asked for or joined, district, tracts.

    Nothing to check without a manifest, with layers already loaded
    (``boundaries``) or for an ingest alone.
    """
    if manifest is None or boundaries is not None or last == "ingest":
        return
    joined = []
    if isinstance(inputs, PipelineResult):
        joined = [k for k in manifest.layers if f"{k}_id" in inputs.requests]
    keys = list(layers or joined or manifest.site_layers)
    district = district_layer if district_layer is not None else manifest.district_layer
    keys.append(district or "")
    if last == "indicators":
        keys.append(manifest.tract_layer or "")
    check_layer_files(manifest, layers=[k for k in keys if k], data_dir=data_dir)


def _default_layers(
    manifest: CityManifest | None, requests: pd.DataFrame, district: str | None
) -> list[str]:
    if manifest is None:
        return []
    joined = [k for k in manifest.layers if f"{k}_id" in requests]
    if joined:  # continuing from joined requests: their layers
        return joined
    chosen = site_layers(manifest, requests.get("requested_datetime"))
    if district is not None and district in manifest.layers and district not in chosen:
        chosen.append(district)
    if not chosen:
        msg = f"no layers to map for {manifest.city}: pass layers= (--layer)"
        raise SchemaError(msg)
    return chosen


# --------------------------------------------------------------------------- saved stages


def load_requests(
    path: str | Path, *, stage: Stage = "ingest", compact: bool = False
) -> PipelineResult:
    """Read requests saved by :func:`write_requests` (GeoParquet + ledger) to continue a run.

    Parameters
    ----------
    path : str or pathlib.Path
        The GeoParquet file, or the dataset folder an out-of-core run kept
        (``dataset=``; :func:`geo311.scale.dataset.read_dataset`); its
        ledger ``<name>.ledger.json`` is read when present.
    stage : {"ingest", "join"}, default "ingest"
        The stage the file was saved after.
    compact : bool, default False
        Read only the columns the indicators read, a row group at a time
        (:func:`geo311.scale.dataset.read_compact`): no geometry,
        coordinates, ids or free text, so that joined requests of any size
        can be tabulated in the memory of the out-of-core run.  The tables
        are the same.

    Returns
    -------
    PipelineResult
        With an empty ledger when the file has none beside it.  The text
        columns of :data:`geo311.io.dtypes.CATEGORY_COLUMNS` and the join
        columns are categoricals, also when the file was written by a
        version of geo311 that kept them as text.
    """
    path = Path(path)
    if compact or path.is_dir():
        from geo311.scale.dataset import read_compact, read_dataset  # noqa: PLC0415

        requests = compact_requests(read_compact(path) if compact else read_dataset(path))
    else:
        with collector_paused():  # a Shapely geometry per request
            requests = compact_requests(gpd.read_parquet(path))
    joined = [c[: -len("_join")] for c in requests.columns if str(c).endswith("_join")]
    for key in (k for k in joined if f"{k}_id" in requests.columns):
        # files written before the join columns were categoricals hold them as text
        for suffix in ("id", "name", "vintage", "join"):
            column = requests.get(f"{key}_{suffix}")
            if column is not None and not isinstance(column.dtype, pd.CategoricalDtype):
                vocabulary = list(JOIN_STATUS) if suffix == "join" else []
                requests[f"{key}_{suffix}"] = as_categorical(column, vocabulary)
    return PipelineResult(requests, _saved_ledger(path), stage)


def _saved_ledger(path: Path) -> Ledger:
    """Return the ledger saved beside requests ``path`` (empty when there is none)."""
    ledger_file = ledger_path(path)
    return Ledger.read_json(ledger_file) if ledger_file.exists() else Ledger()

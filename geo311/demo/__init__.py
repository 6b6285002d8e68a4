"""A synthetic demo city: boundary layers and a raw 311 export with known defects.

Nothing in this module describes a real place or real people.  The city sits
in the open North Pacific (around 38°N, 147°W, about 1,700 km from any coast)
so that its coordinates can never be mistaken for a real city's.  A longitude
beyond ±90° also makes a swapped lat/long pair detectable by the ``open311``
profile, which has no bounding box (a swapped latitude is then out of range).
Its clocks nevertheless run on ``America/New_York`` time so that the export
has the daylight-saving shifts of an East Coast city.  Every layer carries a
``synthetic`` column and ``(synthetic)`` in its names, every request
description starts with ``[synthetic]`` and every agency ends with
``(demo)``.

:func:`make_demo_city` builds the city in memory
(:mod:`geo311.demo.city`, from :mod:`geo311.demo.geography` and
:mod:`geo311.demo.requests`); :func:`write_demo` writes it to disk and runs
it through the one pipeline (:func:`geo311.pipeline.run`).  Both are
deterministic: the same seed gives byte-identical files.

What the city holds
-------------------
- a city outline: an irregular blob of roughly 250 km²;
- ``neighborhoods`` (250 areas) and ``council_districts`` (14), each district
  the exact union of whole neighborhoods;
- ``census_tracts`` (180), a separate tessellation that does not nest in the
  others, with ``pop_2020`` (summing to :data:`DEMO_POPULATION`) and
  ``median_hh_income``;
- one calendar year (2025) of requests in Open311 GeoReport Bulk CSV layout,
  exported on 2026-01-05 12:00 local time.

How the requests are drawn
--------------------------
Each of 16 service types (:data:`SERVICE_TYPES`) has a share of all requests,
an agency, a due date (SLA) in days, a log-normal time to close, a season, an
hour-of-day profile and a weekend factor.  A request's census tract is drawn
in proportion to ``pop_2020 * (median_hh_income / city median) **
elasticity`` with a per-type elasticity (rats and housing complaints come more
from poorer tracts, tree maintenance from richer ones), and its point
uniformly inside that tract.  Time to close is stretched in poorer tracts, so
equity measures have something to find.  A request not closed by the export
time is ``open``.

Deliberate defects (:data:`DEFECT_RATES`) are injected into disjoint sets of
rows and counted in :attr:`DemoCity.defects`, so a test can check that each
cleaning rule finds exactly what was planted.

Examples
--------
>>> paths = demo_paths(Path("site"))
>>> paths["raw_requests"].as_posix(), paths["site_index"].as_posix()
('site/raw/demo_requests.csv', 'site/index.html')
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from geo311.demo.city import (
    LAYER_FILES,
    MANIFEST_FILE,
    DemoCity,
    demo_layers,
    demo_manifest,
    demo_manifest_toml,
    make_demo_city,
)
from geo311.demo.geography import DEMO_POPULATION, N_DISTRICTS, N_NEIGHBORHOODS, N_TRACTS
from geo311.demo.requests import (
    BULK_COLUMNS,
    DEFECT_RATES,
    MIN_REQUESTS,
    SERVICE_TYPES,
    YEAR,
    ServiceType,
)
from geo311.indicators.tables import LayerTables, table_paths
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.join.layers import Layer
from geo311.join.manifest import load_manifest
from geo311.ledger import Ledger
from geo311.pipeline import PipelineResult, run
from geo311.progress import ProgressHook
from geo311.publish import write_indicators, write_requests, write_site

__all__ = [
    "BULK_COLUMNS",
    "DEFECT_RATES",
    "DEMO_POPULATION",
    "INDICATOR_LAYERS",
    "MIN_REQUESTS",
    "SERVICE_TYPES",
    "DemoCity",
    "ServiceType",
    "demo_layers",
    "demo_manifest",
    "demo_manifest_toml",
    "demo_paths",
    "demo_tables",
    "make_demo_city",
    "write_demo",
    "write_demo_inputs",
]

log = logging.getLogger(__name__)

#: Layers the demo tabulates indicators for.
INDICATOR_LAYERS = ("neighborhoods", "council_districts", "census_tracts")


# --------------------------------------------------------------------------- writing


def demo_paths(out_dir: Path) -> dict[str, Path]:
    """Return every file :func:`write_demo` writes, by key, under ``out_dir``.

    Examples
    --------
    >>> sorted(k for k in demo_paths(Path("site")) if k.startswith("layer_"))
    ['layer_census_tracts', 'layer_council_districts', 'layer_neighborhoods']
    >>> demo_paths(Path("site"))["manifest"].as_posix()
    'site/layers/demo.toml'
    >>> demo_paths(Path("site"))["indicators_equity"].as_posix()
    'site/indicators/equity.csv'
    """
    out_dir = Path(out_dir)
    paths = {"raw_requests": out_dir / "raw" / "demo_requests.csv"}
    for name, file in LAYER_FILES.items():
        paths[f"layer_{name}"] = out_dir / "layers" / file
    paths["manifest"] = out_dir / "layers" / MANIFEST_FILE
    paths["requests"] = out_dir / "requests.parquet"
    paths["ledger"] = out_dir / "requests.ledger.json"
    for name, path in table_paths(out_dir / "indicators", INDICATOR_LAYERS).items():
        paths[f"indicators_{name}"] = path
    paths["readme"] = out_dir / "README.txt"
    paths["site_index"] = out_dir / "index.html"
    paths["site_manifest"] = out_dir / "site.json"
    return paths


def _readme(city: DemoCity, ledger: Ledger, paths: dict[str, Path], out_dir: Path) -> str:
    def rel(key: str) -> str:
        return paths[key].relative_to(out_dir).as_posix()

    defects = "\n".join(f"  {key:<32} {count:>7,}" for key, count in city.defects.items())
    return f"""\
SYNTHETIC DATA -- NOT A REAL CITY

Everything in this folder was generated by geo311.demo (seed {city.seed}).
The city, its neighbourhoods, districts, census tracts, population, incomes,
addresses and service requests are invented.  The city lies in the open
North Pacific (around 38N, 147W) so that it cannot be mistaken for a real
place; its clocks run on {city.timezone} time.

Population {city.population:,}; requests filed in {YEAR}; export taken
{city.as_of.tz_convert(city.timezone).isoformat()} ({city.as_of.isoformat()}).

Files (layers in EPSG:4326)
  {rel("raw_requests"):<34} the raw export, Open311 GeoReport Bulk CSV layout
  {rel("layer_neighborhoods"):<34} {N_NEIGHBORHOODS} neighbourhoods (nbhd_id, name, district)
  {rel("layer_council_districts"):<34} {N_DISTRICTS} council districts, unions of neighbourhoods
  {rel("layer_census_tracts"):<34} {N_TRACTS} census tracts (geoid, pop_2020, median_hh_income)
  {rel("manifest"):<34} the boundary manifest of the three layers (geo311 run --city,
  {"":<34} geo311 maps; the tables' metadata point to it)
  {rel("requests"):<34} the requests in the geo311 canonical schema, each assigned to
  {"":<34} every layer (<layer>_id, _name, _vintage, _join columns), GeoParquet
  {rel("ledger"):<34} the row ledger of every stage (rows in/out, drops, flags)
  indicators/<layer>.csv, .xlsx{"":<5} per-area indicators (rates with intervals, Kaplan-Meier
  {"":<34} time to close, on-time share, ...) for neighborhoods,
  {"":<34} council districts and tracts; .json metadata; .city/.patterns/
  {"":<34} .channels/.services (with citywide rows); .geojson outlines
  indicators/equity.csv{"":<13} equity measures (income quintiles, Gini, Theil, ...)
  {rel("site_index"):<34} the site: open it in a browser (works offline)
  map-<layer>-<indicator>.html{"":<6} one choropleth page per layer and headline indicator
  district-<id>.html{"":<16} one page per council district
  png/<layer>-<indicator>.png{"":<7} the maps as pictures, for slides
  {rel("site_manifest"):<34} the site's pages, sizes and display displacement
  {rel("readme"):<34} this file

Defects planted in the raw export (rows)
{defects}

Row ledger (ingest and join)
{ledger.summary()}
"""


def write_demo_inputs(
    city: DemoCity, out_dir: Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write the demo's inputs: the raw export (CSV), the layers (GeoJSON) and their manifest.

    The manifest (:func:`demo_manifest_toml`) names the layer files relative
    to itself, so :func:`geo311.load_manifest` of it describes the city
    and finds its layers wherever the folder is moved.

    Parameters
    ----------
    city : DemoCity
    out_dir : pathlib.Path
        Output folder (``raw/`` and ``layers/`` inside it).
    overwrite : bool, default False
        Replace existing files.

    Returns
    -------
    dict of str to pathlib.Path
        ``raw_requests``, ``layer_<name>`` and ``manifest``, keyed as in :func:`demo_paths`.
    """
    paths = {
        k: p
        for k, p in demo_paths(Path(out_dir)).items()
        if k in {"raw_requests", "manifest"} or k.startswith("layer_")
    }
    check_overwrite(paths.values(), overwrite=overwrite)
    with atomic_write(paths["raw_requests"]) as tmp:
        city.requests.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    for name, layer in city.layers.items():
        with atomic_write(paths[f"layer_{name}"]) as tmp:
            layer.to_file(tmp, driver="GeoJSON", layer=name)
    with atomic_write(paths["manifest"]) as tmp:
        tmp.write_text(demo_manifest_toml(city), encoding="utf-8")
    return paths


def demo_tables(
    city: DemoCity,
    requests: pd.DataFrame,
    layers: Mapping[str, Sequence[Layer]],
    *,
    keys: Sequence[str] = INDICATOR_LAYERS,
) -> dict[str, LayerTables]:
    """Tabulate the demo's indicators for joined requests, as :func:`write_demo` does.

    Populations come from the demo tracts; the council districts group the
    Theil decomposition; as-of and time zone are the city's.

    Parameters
    ----------
    city : DemoCity
    requests : pandas.DataFrame
        Demo requests joined to ``layers`` (:func:`geo311.assign_areas`).
    layers : mapping
        :func:`demo_layers` of the city.
    keys : sequence of str, default INDICATOR_LAYERS
        Layers to tabulate.

    Returns
    -------
    dict of str to LayerTables
    """
    joined = PipelineResult(requests, Ledger(), "join")
    done = run(joined, city=demo_manifest(city), boundaries=layers, layers=keys, as_of=city.as_of)
    return done.tables


def write_demo(
    out_dir: Path,
    *,
    seed: int = 311,
    n_requests: int = 50_000,
    png: bool = True,
    overwrite: bool = False,
    progress: ProgressHook | None = None,
) -> dict[str, Path]:
    """Build the demo city, write it out and run the pipeline on it.

    Steps, in order: refuse existing outputs; build the city
    (:func:`make_demo_city`); write the raw CSV, the layers and their
    manifest (:func:`write_demo_inputs`); run the pipeline on the CSV
    (:func:`geo311.pipeline.run` with the ``open311`` profile, the city's
    profile read from the written manifest, so the tables' metadata point
    to it and ``geo311 maps <out_dir>/indicators`` rebuilds the site, and
    its layers :func:`demo_layers`: ingest, join to the three layers, indicator and
    equity tables with populations interpolated from the tracts); write the
    requests as GeoParquet with the row ledger of every stage
    (:func:`geo311.publish.write_requests`), the tables
    (:func:`geo311.publish.write_indicators`) and ``README.txt``; build the
    site in the same folder (:func:`geo311.publish.write_site`:
    ``index.html``, a choropleth page per layer and indicator, a page per
    council district, ``png/``).  Every file is written atomically.  The
    site needs the ``maps`` extra.

    Parameters
    ----------
    out_dir : pathlib.Path
        Output folder; created when missing.
    seed, n_requests
        Passed to :func:`make_demo_city`.
    png : bool, default True
        Also draw the static PNG of each map (``png/``).
    overwrite : bool, default False
        Replace existing outputs.
    progress : ProgressHook, optional
        Told how far the pipeline and the site have got (see :mod:`geo311.progress`).

    Returns
    -------
    dict of str to pathlib.Path
        Every written file, keyed as in :func:`demo_paths`, plus the site's
        pages (``page_<name>``) and PNGs (``png_<name>``).

    Raises
    ------
    OutputExistsError
        Naming the existing files, when any output exists and ``overwrite`` is False.
    """
    out_dir = Path(out_dir)
    paths = demo_paths(out_dir)
    check_overwrite(paths.values(), overwrite=overwrite)

    city = make_demo_city(seed=seed, n_requests=n_requests)
    write_demo_inputs(city, out_dir, overwrite=True)  # existence checked above

    result = run(
        paths["raw_requests"],
        city=load_manifest(paths["manifest"]),
        schema="open311",
        timezone=city.timezone,
        as_of=city.as_of,
        layers=INDICATOR_LAYERS,
        boundaries=demo_layers(city),
        progress=progress,
    )
    write_requests(result, paths["requests"], overwrite=True)  # existence checked above
    write_indicators(result, out_dir / "indicators", overwrite=True)
    with atomic_write(paths["readme"]) as tmp:
        tmp.write_text(_readme(city, result.ledger, paths, out_dir), encoding="utf-8")
    site = write_site(result, out_dir, png=png, overwrite=True, progress=progress)
    written = {**paths, **{f"page_{p.stem}": p for p in site.pages if p.suffix == ".html"}}
    written.update({f"png_{p.stem}": p for p in site.pngs})
    log.info("wrote the synthetic demo to %s (%d files)", out_dir, len(written))
    return written

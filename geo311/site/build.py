"""The static site of a city's indicator tables: an index, choropleth pages, district pages, PNGs.

:func:`build_site` takes the tables the indicator stage returned, in memory
(:class:`~geo311.indicators.tables.LayerTables` per layer; nothing is read
back from disk), and writes::

    index.html                      coverage, exclusions, citywide figures, links
    dictionary.html                 data dictionary: every indicator shown, in plain words
    map-<layer>-<indicator>.html    one choropleth per layer and headline indicator
    map-<layer>.html                every headline indicator as a switchable layer
    district-<id>.html              one page per area of the district layer
    recycle-<slug>.html (+ .csv, .xlsx)  requests by weekday x district of the selected
                                    service types (a run with --type / --family)
    data/<page>.csv, .xlsx          the figures of each page, to download
    png/<layer>-<indicator>.png     a static image of every map page
    site.json                       manifest: pages and sizes, displacement, counts

Every page is one self-contained HTML file by default (Leaflet, the site's CSS
and its small table-sorting script inlined). Every string that comes from the
data (area and service names, vintages, sources, titles) reaches a page as a
value: the autoescaping templates of :mod:`geo311.site.render` or the JSON
data blocks of the maps; none is ever compiled as template source.

The site is built in a temporary folder next to ``out_dir`` and moved into
place when complete; ``site.json`` is moved last and marks a finished site.
A folder with pages but without ``site.json`` is the output of an
interrupted build, and a rerun says so.

Smaller areas are assigned to the district that holds most of their area
(:func:`~geo311.site.membership.district_membership`, computed in a projected
CRS); those split across districts are listed in the district pages' notes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import geopandas as gpd
import pandas as pd

from geo311._errors import InputFileError, OptionError, OutputExistsError
from geo311.background import Background, SharedTasks, can_fork
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.ledger import Ledger
from geo311.progress import ProgressHook, report
from geo311.site import maps
from geo311.site.district_page import district_page
from geo311.site.downloads import data_paths
from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.index_page import index_page
from geo311.site.layer import SiteLayer, check_label_format, default_title, site_layer
from geo311.site.map_page import map_page, map_png
from geo311.site.membership import district_membership
from geo311.site.methods import DICTIONARY_PAGE, dictionary_page, methods_box
from geo311.site.period_change import change_table
from geo311.site.ranking import rank_areas
from geo311.site.recycle import RecyclePlan, recycle_page, recycle_plan
from geo311.site.render import Renderer, SitePlan, environment
from geo311.site.selection import selection_context
from geo311.site.specs import NO_DENOMINATOR
from geo311.site.static import StaticCanvas, StaticShapes, static_shapes
from geo311.site.text import is_missing, is_synthetic, slugify

if TYPE_CHECKING:
    from geo311.indicators.tables import LayerTables

__all__ = ["MANIFEST", "SiteResult", "build_site"]

log = logging.getLogger(__name__)

#: The manifest, written last: a site folder without it is incomplete.
MANIFEST = "site.json"
_PARTIAL = ".partial-"


class SiteResult(NamedTuple):
    """What :func:`build_site` wrote."""

    out_dir: Path
    pages: list[Path]
    sizes: dict[Path, int]  # page -> bytes
    max_displacement_m: dict[str, float]  # layer -> largest display displacement
    pngs: list[Path]


_EMPTY_MEMBERSHIP = pd.DataFrame(
    {
        "district_id": pd.Series(dtype="string"),
        "share_in_district": pd.Series(dtype=float),
        "share_outside": pd.Series(dtype=float),
        "split": pd.Series(dtype=bool),
    }
)


def _available(layer: SiteLayer, column: str) -> bool:
    return column in layer.indicators and bool(layer.indicators[column].notna().any())


def _plan(
    layers: Mapping[str, SiteLayer],
    area_layers: Sequence[str],
    district: SiteLayer | None,
    out_dir: Path,
    *,
    png: bool,
) -> SitePlan:
    pages: list[tuple[str, str, Path, Path | None]] = []
    combined: list[tuple[str, list[str], Path]] = []
    skipped = []
    for key in area_layers:
        safe = key if re.fullmatch(r"[A-Za-z0-9_]+", key) else slugify(key)
        shown = [c for c in HEADLINE_INDICATORS if _available(layers[key], c)]
        if len(shown) > 1:
            combined.append((key, shown, out_dir / f"map-{safe}.html"))
        for column, h in HEADLINE_INDICATORS.items():
            if column not in shown:
                why = (
                    NO_DENOMINATOR
                    if layers[key].no_denominator and maps.indicator_spec(column).uses_population
                    else "no area has a value"
                )
                skipped.append(f"{h.title} by {layers[key].title.lower()}: {why}.")
                continue
            stem = f"{safe}-{h.slug}"
            pages.append(
                (
                    key,
                    column,
                    out_dir / f"map-{stem}.html",
                    out_dir / "png" / f"{stem}.png" if png else None,
                )
            )
    districts = []
    if district is not None:
        taken: set[str] = set()
        for area_id in district.indicators.index.tolist():
            slug = slugify(str(area_id), taken=taken)
            name = district.indicators.at[area_id, "area_name"]
            name = str(area_id) if is_missing(name) else str(name)
            districts.append((str(area_id), name, out_dir / f"district-{slug}.html"))
    return SitePlan(
        pages,
        combined,
        skipped,
        districts,
        out_dir / "index.html",
        out_dir / MANIFEST,
        out_dir / DICTIONARY_PAGE,
    )


def _choose_neighborhoods(
    keys: Sequence[str], preferred: str | None, district_layer: str | None
) -> str | None:
    """Return the layer shown inside district pages: ``preferred``, else the first other."""
    if preferred and preferred in keys and preferred != district_layer:
        return preferred
    others = [k for k in keys if k != district_layer]
    if preferred and others:
        log.warning(
            "neighborhood_layer %r is not among the layers (%s); the district pages show %s",
            preferred,
            ", ".join(keys),
            others[0],
        )
    return others[0] if others else None


def _common(
    site_title: str,
    synthetic: bool,
    as_of: str,
    selection: dict[str, Any],
    *,
    recycle_link: dict[str, str] | None,
    methods: dict[str, Any],
) -> dict[str, Any]:
    from geo311 import __version__  # noqa: PLC0415

    return {
        "recycle_link": recycle_link,
        "site_title": site_title,
        "synthetic": synthetic,
        "as_of": as_of,
        "selection": selection,
        "methods": methods,
        "version": __version__,
        "map_parts": None,
        "has_sortable": False,
        "current": "",
    }


def _recycle_files(recycle: RecyclePlan | None) -> tuple[Path, ...]:
    """Return the data files of the RecycleStat page (none without one)."""
    return () if recycle is None else (recycle.csv, recycle.csv.with_suffix(".xlsx"))


def _read_ledger(ledger: Ledger | str | Path | None) -> Ledger | None:
    if ledger is None or isinstance(ledger, Ledger):
        return ledger
    path = Path(ledger)
    if not path.is_file():
        msg = f"ledger {path} not found; `geo311 ingest` and `geo311 join` write <out>.ledger.json"
        raise InputFileError(msg)
    return Ledger.read_json(path)


def _simplified(areas: gpd.GeoDataFrame, *, tolerance_m: float) -> tuple[gpd.GeoDataFrame, float]:
    from geo311.site.simplify import simplify_for_display  # noqa: PLC0415

    shown = simplify_for_display(
        areas[["area_id", "area_name", "geometry"]], tolerance_m=tolerance_m
    )
    return shown.gdf, float(shown.max_displacement_m)


def _site_layers(
    tables: Mapping[str, LayerTables],
    *,
    needed: Sequence[str],
    titles: Mapping[str, str] | None,
    area_labels: Mapping[str, str] | None,
) -> dict[str, SiteLayer]:
    """Check the titles and label formats, then prepare the layers the site needs."""
    titles, area_labels = dict(titles or {}), dict(area_labels or {})
    for key, fmt in area_labels.items():
        check_label_format(fmt, what=f"area label of layer {key!r}")
    return {
        key: site_layer(
            key,
            tables[key],
            title=str(titles.get(key) or default_title(key)),
            label=area_labels.get(key, "{name}"),
        )
        for key in needed
    }


def _check_layers(
    keys: Sequence[str],
    *,
    area_layers: Sequence[str] | None,
    district_layer: str | None,
) -> list[str]:
    """Return the layers to map; raise OptionError naming a layer the tables lack."""
    if not keys:
        msg = "build_site got no layer tables; pass {layer key: LayerTables} (geo311.city_tables)"
        raise OptionError(msg)
    wanted = list(area_layers) if area_layers is not None else list(keys)
    for option, asked in (("area_layers", wanted), ("district_layer", [district_layer])):
        unknown = [k for k in asked if k is not None and k not in keys]
        if unknown:
            msg = (
                f"{option} {', '.join(map(repr, unknown))} is not among the layer tables "
                f"({', '.join(keys)}); tabulate it first or choose one of these"
            )
            raise OptionError(msg)
    return wanted


def _incomplete(out_dir: Path, outputs: Sequence[Path]) -> bool:
    """Return True when ``out_dir`` holds pages of a site whose manifest was never written."""
    leftovers = list(out_dir.parent.glob(f".{out_dir.name}{_PARTIAL}*"))
    for folder in leftovers:
        log.warning("removing %s, left by an interrupted site build", folder)
        shutil.rmtree(folder, ignore_errors=True)
    if (out_dir / MANIFEST).exists():
        return False
    return any(p.exists() for p in outputs)


def _check_output(out_dir: Path, outputs: Sequence[Path], *, overwrite: bool) -> None:
    if _incomplete(out_dir, outputs):
        if not overwrite:
            msg = (
                f"{out_dir} holds an incomplete site from an interrupted build ({MANIFEST}, "
                "written last, is missing); pass --overwrite (overwrite=True) to replace it"
            )
            raise OutputExistsError(msg)
        log.warning("replacing the incomplete site in %s (no %s)", out_dir, MANIFEST)
        return
    check_overwrite(outputs, overwrite=overwrite)


def _publish(staging: Path, out_dir: Path) -> None:
    """Move a finished site from ``staging`` into ``out_dir``, the manifest last."""
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        if out_dir.exists():
            out_dir.rmdir()
        staging.replace(out_dir)  # the whole folder appears at once
        return
    (out_dir / MANIFEST).unlink(missing_ok=True)  # until the end, the folder is not finished
    files = sorted(p for p in staging.rglob("*") if p.is_file() and p.name != MANIFEST)
    for src in files:
        dest = out_dir / src.relative_to(staging)
        dest.parent.mkdir(parents=True, exist_ok=True)
        src.replace(dest)
    (staging / MANIFEST).replace(out_dir / MANIFEST)
    shutil.rmtree(staging)


def build_site(
    tables: Mapping[str, LayerTables],
    out_dir: str | Path,
    *,
    district_layer: str | None = None,
    titles: Mapping[str, str] | None = None,
    area_labels: Mapping[str, str] | None = None,
    ledger: Ledger | str | Path | None = None,
    self_contained: bool = True,
    tiles: bool = True,
    png: bool = True,
    overwrite: bool = False,
    area_layers: Sequence[str] | None = None,
    neighborhood_layer: str | None = None,
    title: str | None = None,
    simplify_tolerance_m: float = 5.0,
    progress: ProgressHook | None = None,
) -> SiteResult:
    """Write the static site of a city's indicator tables: index, maps, district pages, PNGs.

    Parameters
    ----------
    tables : mapping of str to LayerTables
        The indicator tables of each layer, as :func:`geo311.city_tables`
        returns them (or :func:`geo311.io.tables.read_tables` reads them).
        Not modified.
    out_dir : str or pathlib.Path
        Site folder; built next to it and moved into place when complete.
    district_layer : str, optional
        Layer with one page per area; None: no district pages.
    titles : mapping of str to str, optional
        Plural title of each layer ("Council districts"); default from the key.
    area_labels : mapping of str to str, optional
        How an area of each layer is named on pages, tables and maps: a
        format with only ``{id}`` and ``{name}``, e.g. ``"Council District {id}"``
        (default ``"{name}"``).
    ledger : Ledger, str or pathlib.Path, optional
        The row ledger (or a ``requests.ledger.json``) whose per-stage counts
        the index reports.
    self_contained : bool, default True
        Inline Leaflet in every page; otherwise link ``assets/`` (written too).
    tiles : bool, default True
        Draw a background tile layer (the only thing fetched from the internet).
    png : bool, default True
        Write ``png/<layer>-<indicator>.png`` for every map page.  On Linux
        with more than one CPU they are drawn by a forked process while the
        pages are written (see :mod:`geo311.background`).
    overwrite : bool, default False
        Replace existing pages (and an incomplete site of an interrupted build).
    area_layers : sequence of str, optional
        Layers to map; default every layer of ``tables``.
    neighborhood_layer : str, optional
        Areas shown inside the district pages; default (or when absent) the
        first layer of ``tables`` that is not the district layer.
    title : str, optional
        Site title.
    simplify_tolerance_m : float, default 5.0
        Display simplification tolerance (metres, topology kept).
    progress : ProgressHook, optional
        Told the pages written so far (step ``"site"``; see :mod:`geo311.progress`).

    Returns
    -------
    SiteResult

    Raises
    ------
    OptionError
        A layer asked for is not among the tables.
    ConfigError
        An area label uses anything but ``{id}`` and ``{name}``.
    OutputExistsError
        A page exists and ``overwrite`` is False, or ``out_dir`` holds an
        incomplete site (the message says so).
    """
    out_dir = Path(out_dir)
    keys = list(tables)
    wanted = _check_layers(keys, area_layers=area_layers, district_layer=district_layer)
    hood_key = (
        _choose_neighborhoods(keys, neighborhood_layer, district_layer) if district_layer else None
    )
    asked = [*wanted, *([district_layer] if district_layer else [])]
    needed = list(dict.fromkeys([*asked, *([hood_key] if hood_key else [])]))
    layers = _site_layers(tables, needed=needed, titles=titles, area_labels=area_labels)
    district = layers[district_layer] if district_layer else None
    final = _plan(layers, wanted, district, out_dir, png=png)
    recycle = recycle_plan(district, out_dir)
    recycle_files = [recycle.page, *_recycle_files(recycle)] if recycle is not None else []
    _check_output(out_dir, [*final.outputs(), *recycle_files], overwrite=overwrite)
    ledger_obj = _read_ledger(ledger)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # not tempfile.mkdtemp: its 0700 mode would become the published folder's
    staging = out_dir.parent / f".{out_dir.name}{_PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        result = _write_site(
            layers,
            _plan(layers, wanted, district, staging, png=png),
            staging,
            wanted=wanted,
            district=district,
            hood_key=hood_key,
            ledger=ledger_obj,
            progress=progress,
            options={
                "title": title or "311 service requests by area",
                "self_contained": self_contained,
                "tiles": tiles,
                "simplify_tolerance_m": simplify_tolerance_m,
            },
        )
        _publish(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)

    def moved(path: Path) -> Path:
        return out_dir / path.relative_to(staging)

    pages = [moved(p) for p in result.pages]
    log.info(
        "wrote a site of %d pages (%d maps, %d districts) and %d PNGs to %s",
        len(pages), len(final.maps), len(final.districts), len(result.pngs), out_dir,
    )  # fmt: skip
    return SiteResult(
        out_dir,
        pages,
        {moved(p): n for p, n in result.sizes.items()},
        result.max_displacement_m,
        [moved(p) for p in result.pngs],
    )


def _write_pngs(
    layers: Mapping[str, SiteLayer],
    plan: SitePlan,
    display: Mapping[str, gpd.GeoDataFrame],
    *,
    outlines: gpd.GeoDataFrame | None,
    district_key: str | None,
) -> list[Path]:
    """Write the PNG of every map page that has one; return their paths.

    They share one canvas, and each layer's areas are projected once for all its maps.
    """
    wanted = [(key, column, png) for key, column, _, png in plan.maps if png is not None]
    if not wanted:
        return []
    canvas = StaticCanvas()
    shapes: dict[str, StaticShapes] = {}
    pngs: list[Path] = []
    for key, column, png in wanted:
        if key not in shapes:
            lines = outlines if key != district_key else None
            shapes[key] = static_shapes(display[key], outlines=lines)
        pngs.append(
            map_png(
                layers[key], column, png, display=display[key], shapes=shapes[key], canvas=canvas
            )
        )
    return pngs


def _page_work(
    render: Renderer,
    layers: Mapping[str, SiteLayer],
    plan: SitePlan,
    display: Mapping[str, gpd.GeoDataFrame],
    *,
    district: SiteLayer | None,
    hoods: SiteLayer | None,
    membership: pd.DataFrame,
    recycle: RecyclePlan | None,
    outlines: gpd.GeoDataFrame | None,
    outlines_title: str,
) -> list[tuple[Path, Callable[[], int]]]:
    """Return each page of ``plan`` but the index and the dictionary, with what writes it.

    Writing a page returns its size in bytes; the pages do not depend on each
    other, so they can be written in any order, by any process.  ``outlines``
    (the district layer's display geometry) are drawn on the other layers' maps.
    """
    district_key = district.key if district is not None else None
    work: list[tuple[Path, Callable[[], int]]] = []
    for key, columns, page, png in [
        *((key, [column], page, png) for key, column, page, png in plan.maps),
        *((key, columns, page, None) for key, columns, page in plan.combined),
    ]:
        work.append((page, partial(
            map_page, render, layers[key], columns, page=page, display=display[key],
            outlines=outlines if key != district_key else None,
            outlines_title=outlines_title, png=png,
        )))  # fmt: skip
    if district is None:
        return work
    changes = change_table(district)
    ranks = rank_areas(district.indicators)
    links = {i: page.name for i, _, page in plan.districts}
    for area_id, name, page in plan.districts:
        work.append((page, partial(
            district_page, render, district, hoods, area_id=area_id, name=name, page=page,
            membership=membership, display=display, changes=changes, links=links, ranks=ranks,
        )))  # fmt: skip
    if recycle is not None:
        shown = display[district.key]
        work.append(
            (recycle.page, partial(recycle_page, render, district, recycle, display=shown))
        )
    return work


def _child_share(
    draw: Callable[[], list[Path]],
    work: Sequence[tuple[Path, Callable[[], int]]],
    tasks: SharedTasks,
) -> tuple[list[Path], dict[Path, int]]:
    """Draw the PNGs, then write pages from the back of ``work``: the forked process's share.

    Returns the PNGs' paths and the size in bytes of each page written.
    """
    pngs = draw()
    sizes = tasks.take_back(lambda task: work[task][1]())
    return pngs, {work[task][0]: size for task, size in sizes.items()}


def _write_site(
    layers: Mapping[str, SiteLayer],
    plan: SitePlan,
    out_dir: Path,
    *,
    wanted: Sequence[str],
    district: SiteLayer | None,
    hood_key: str | None,
    ledger: Ledger | None,
    options: Mapping[str, Any],
    progress: ProgressHook | None = None,
) -> SiteResult:
    """Write every page, PNG and the manifest of ``plan`` into ``out_dir`` (the staging folder)."""
    reference = district or layers[wanted[0] if wanted else next(iter(layers))]
    info = reference.metadata.get("indicators") or {}
    synthetic = any(is_synthetic(layer.metadata) for layer in layers.values())
    recycle = recycle_plan(district, out_dir)
    link = None if recycle is None else {"href": recycle.page.name, "text": recycle.title}
    selection = selection_context(reference.metadata)
    common = _common(
        options["title"],
        synthetic,
        selection["as_of"],
        selection,
        recycle_link=link,
        methods=methods_box(reference.metadata),
    )
    self_contained, tiles = bool(options["self_contained"]), bool(options["tiles"])
    render = Renderer(environment(), common, tiles=tiles, self_contained=self_contained)

    total = len(plan.maps) + len(plan.combined) + len(plan.districts) + 2 + (recycle is not None)
    report(progress, "site", 0, total, unit="pages")
    display: dict[str, gpd.GeoDataFrame] = {}
    displacement: dict[str, float] = {}
    for key, layer in layers.items():
        display[key], displacement[key] = _simplified(
            layer.areas, tolerance_m=options["simplify_tolerance_m"]
        )

    sizes: dict[Path, int] = {}
    district_key = district.key if district is not None else None
    outlines = display[district_key] if district_key else None
    outlines_title = district.title if district is not None else "Boundaries"
    membership = _EMPTY_MEMBERSHIP
    hoods = layers[hood_key] if hood_key is not None and district is not None else None
    if district is not None and hoods is not None:
        membership = district_membership(hoods.areas, district.areas)
    work = _page_work(
        render, layers, plan, display, district=district, hoods=hoods, membership=membership,
        recycle=recycle, outlines=outlines, outlines_title=outlines_title,
    )  # fmt: skip

    # a forked process (where one can be) draws the PNGs while this one writes pages
    # from the front of the list; then it writes pages from the back until the two meet
    draw = partial(
        _write_pngs, layers, plan, display, outlines=outlines, district_key=district_key
    )
    tasks = SharedTasks(len(work), shared=can_fork())
    with Background(
        partial(_child_share, draw, work, tasks),
        what="drawing the static maps and writing pages",
        advice="build the site again, or without PNGs (--no-png)",
        background=can_fork(),
    ) as child:
        while (task := tasks.front()) is not None:
            page, write = work[task]
            sizes[page] = write()
            report(progress, "site", len(sizes), total, unit="pages")
        has_maps = bool(plan.maps or plan.combined or plan.districts)
        assets = list(maps.write_assets(out_dir)) if has_maps and not self_contained else []
        sizes[plan.dictionary] = dictionary_page(render, reference.metadata, page=plan.dictionary)
        report(progress, "site", len(sizes), total, unit="pages")
        sizes[plan.index] = index_page(
            render, layers, plan, reference=reference, district=district, ledger=ledger,
            out_dir=out_dir,
        )  # fmt: skip
        pngs, written = child.result()
    sizes.update(written)
    report(progress, "site", len(sizes), total, unit="pages")
    pages = [
        plan.index,
        plan.dictionary,
        *(p for _, _, p, _ in plan.maps),
        *(p for *_, p in plan.combined),
        *(p for *_, p in plan.districts),
        *([recycle.page] if recycle is not None else []),
    ]
    manifest = {
        "title": common["site_title"],
        "as_of": str(info.get("as_of") or "unknown"),
        "synthetic": synthetic,
        "self_contained": self_contained,
        "tiles": tiles,
        "simplify_tolerance_m": options["simplify_tolerance_m"],
        "pages": [{"path": p.relative_to(out_dir).as_posix(), "bytes": sizes[p]} for p in pages],
        "pngs": [
            {"path": p.relative_to(out_dir).as_posix(), "bytes": p.stat().st_size} for p in pngs
        ],
        "assets": [p.relative_to(out_dir).as_posix() for p in assets],
        "downloads": sorted(
            p.relative_to(out_dir).as_posix()
            for page in pages
            for p in (*data_paths(page), *_recycle_files(recycle))
            if p.is_file()
        ),
        "max_displacement_m": {k: round(v, 3) for k, v in displacement.items()},
        "counts": {
            "layers": len(wanted),
            "map_pages": len(plan.maps),
            "combined_map_pages": len(plan.combined),
            "district_pages": len(plan.districts),
            "pngs": len(pngs),
            "skipped_maps": len(plan.skipped),
            "split_areas": int(membership["split"].sum()),
        },
        "skipped": plan.skipped,
    }
    with atomic_write(plan.manifest) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
    return SiteResult(out_dir, pages, sizes, displacement, pngs)

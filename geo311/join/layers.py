"""Boundary layers: reading and validating a city's layer files.

A city's boundary layers are declared in a manifest (:mod:`geo311.join.manifest`).
:func:`read_layer` turns one polygon file or GeoDataFrame into a validated
:class:`Layer` (the checks are in :mod:`geo311.join.validate`): CRS required,
reprojected to EPSG:4326, invalid polygons repaired (and counted), duplicate
or missing ids rejected, ids normalised to strings, and the overlaps and gaps
between areas measured in square metres in a projected CRS.
:func:`load_layers` does this for every vintage of a city's layers, finding the
files with :func:`geo311.join.files.find_layer_file`.  It also finds the files a manifest
declares for population denominators (``city_outline``, ``ancillary``) and
attaches them to each :class:`Layer` (:class:`DenominatorInputs`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geo311 import settings
from geo311._errors import InputFileError, LayerError, OptionError
from geo311.join.files import fetched_file_name, find_layer_file, manifest_folder
from geo311.join.layer_cache import cached_validation
from geo311.join.manifest import (
    AncillarySpec,
    CityManifest,
    ManifestError,
    VintageSpec,
    is_layer_key,
    load_manifest,
)
from geo311.join.validate import Validated, raise_or_warn, validate_frame
from geo311.ledger import Ledger
from geo311.progress import ProgressHook, report

__all__ = [
    "DenominatorInputs",
    "Layer",
    "LayerResult",
    "file_content_sha256",
    "layer_from_file",
    "load_layers",
    "read_boundary_content",
    "read_boundary_file",
    "read_layer",
]

log = logging.getLogger(__name__)

#: Lattice points per side on which the layers' coverage of each other is measured.
COVERAGE_SAMPLES = 200

# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class DenominatorInputs:
    """Files a manifest declares for population denominators (found on disk).

    Attributes
    ----------
    outline : pathlib.Path or None
        The city's land outline (manifest ``city_outline``).
    outline_crs : str
        Its declared CRS.
    ancillary : pathlib.Path or None
        The file of the dasymetric ancillary layer vintage.
    ancillary_spec : AncillarySpec or None
        Which field of it weighs land (manifest ``ancillary``).
    """

    outline: Path | None = None
    outline_crs: str = ""
    ancillary: Path | None = None
    ancillary_spec: AncillarySpec | None = None


@dataclass(frozen=True, eq=False)
class Layer:
    """One validated vintage of a boundary layer.

    Attributes
    ----------
    key : str
        Layer key (``"neighborhoods"``).
    vintage : str
        Vintage name (``"2010"``); empty for a user layer.
    frame : geopandas.GeoDataFrame or None
        EPSG:4326, RangeIndex, columns ``area_id`` (string, unique),
        ``area_name`` (string), ``aliases`` (string: former names joined by
        ``"|"``, or NA), the source's other attribute columns, ``geometry``
        (Polygon / MultiPolygon, valid, non-empty).  None when the vintage has
        no local file.
    valid_from, valid_to : datetime.date or None
        Half-open validity; None is open-ended.
    source : str
        Official source (URL or file name), or the path read for a user layer.
    path : pathlib.Path or None
        The file read, if any.
    sha256 : str
        Hash of the file's bytes (or, for a frame, of the validated ids and
        geometries): a key for caching spatial indexes.
    projected_crs : str or None
        The metre-based CRS the QA figures were measured in; reuse it for
        distances and tolerances.
    qa : dict
        ``features``, ``invalid_repaired``, ``empty_dropped``,
        ``unrepairable_dropped``; and, measured in ``projected_crs``:
        ``overlap_m2`` (sum of pairwise overlaps), ``overlap_pairs`` (pairs
        overlapping by at least :data:`OVERLAP_PAIR_MIN_M2`), ``gap_m2`` and
        ``gap_count`` (holes in the union of the areas), ``area_m2`` (area of
        the union).  Empty without a frame.
    title, note : str
        From the manifest.
    population_field : str or None
        Field of ``frame`` with a block-based population (manifest
        ``population_field``), with ``population_source`` and
        ``population_year``.
    denominators : DenominatorInputs or None
        The city's land outline and dasymetric ancillary layer, when the
        manifest declares them and their files are found.
    """

    key: str
    vintage: str
    frame: gpd.GeoDataFrame | None
    valid_from: date | None = None
    valid_to: date | None = None
    source: str = ""
    path: Path | None = None
    sha256: str = ""
    projected_crs: str | None = None
    qa: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    note: str = ""
    population_field: str | None = None
    population_source: str = ""
    population_year: str = ""
    denominators: DenominatorInputs | None = None

    @property
    def has_file(self) -> bool:
        """Whether the vintage was loaded (False: declared without a local file)."""
        return self.frame is not None

    @property
    def gdf(self) -> gpd.GeoDataFrame:
        """The frame, for code that needs one (LayerError when there is no local file)."""
        if self.frame is None:
            msg = (
                f"layer {self.key!r} vintage {self.vintage!r} has no local file "
                f"(source: {self.source or 'unknown'}); pass its path to load it"
            )
            raise LayerError(msg)
        return self.frame

    def valid_on(self, day: date) -> bool:
        """Return True when ``day`` lies in ``[valid_from, valid_to)``."""
        after = self.valid_from is None or day >= self.valid_from
        before = self.valid_to is None or day < self.valid_to
        return after and before

    def __repr__(self) -> str:
        size = "no local file" if self.frame is None else f"{len(self.frame)} areas"
        vintage = f" {self.vintage}" if self.vintage else ""
        return f"<Layer {self.key}{vintage}: {size}>"


class LayerResult(NamedTuple):
    """A validated layer and the ledger of reading it.

    Unpack it (``layer, ledger = read_layer(...)``) or use the attributes.
    """

    layer: Layer
    ledger: Ledger


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _content_sha256(path: Path, sha256: str) -> str:
    """SHA-256 of what a boundary file reads: for a shapefile, with its sidecars.

    A shapefile's ids and names are in its ``.dbf``, its CRS in its ``.prj``
    and its encoding in its ``.cpg``: a change to any of them must change the
    layer cache's key, not only a change to the ``.shp`` (``sha256``).
    """
    if path.suffix.lower() != ".shp":
        return sha256
    digest = hashlib.sha256(sha256.encode("ascii"))
    for part in sorted(path.parent.iterdir()):
        if part != path and part.is_file() and part.stem == path.stem:
            digest.update(f"\0{part.suffix.lower()}\0{_sha256_file(part)}".encode())
    return digest.hexdigest()


def file_content_sha256(path: Path) -> str:
    """Return the SHA-256 of what reading a vector file depends on (a shapefile's sidecars too).

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    str
        Hex digest: of the file's bytes, or for a shapefile of the ``.shp``
        and its sidecars (``.dbf``, ``.prj``, ``.cpg`` ...).
    """
    return _content_sha256(path, _sha256_file(path))


def read_boundary_file(path: Path) -> gpd.GeoDataFrame:
    """Read a vector file as it is (InputFileError, naming the path, when it cannot be)."""
    if not path.is_file():
        msg = f"boundary file {path} does not exist (or is not a file)"
        raise InputFileError(msg)
    try:
        return gpd.read_file(path, engine="pyogrio", use_arrow=True)
    except RuntimeError as exc:  # pyogrio's DataSourceError / DataLayerError
        msg = f"cannot read {path} as a vector layer (GeoJSON, GeoPackage, shapefile ...): {exc}"
        raise InputFileError(msg) from exc


@lru_cache(maxsize=8)
def read_boundary_content(path: Path, sha256: str) -> gpd.GeoDataFrame:  # noqa: ARG001 - key
    """Read a vector file once per process and content, for callers that do not modify it.

    A city's ancillary layer is also one of its boundary layers: validating
    it and weighing land with it read the file once.  Keyed by
    :func:`file_content_sha256` too, so a file edited while the process runs
    is read again.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    sha256 : str
        Its :func:`file_content_sha256`.

    Returns
    -------
    geopandas.GeoDataFrame
        Shared between callers: do not modify it.
    """
    return read_boundary_file(path)


def _frame_digest(frame: gpd.GeoDataFrame) -> str:
    digest = hashlib.sha256()
    digest.update("\x1f".join(frame["area_id"].tolist()).encode("utf-8"))
    for wkb in shapely.to_wkb(frame.geometry.to_numpy()):
        digest.update(wkb)
    return digest.hexdigest()


def read_layer(
    data: str | Path | gpd.GeoDataFrame,
    *,
    key: str,
    id_field: str,
    name_field: str,
    alias_fields: Sequence[str] = (),
    vintage: str = "",
    valid_from: date | None = None,
    valid_to: date | None = None,
    source: str = "",
    projected_crs: str | CRS | None = None,
    crs: str | None = None,
    allow_invalid: bool = False,
) -> LayerResult:
    """Read and validate one boundary layer.

    Parameters
    ----------
    data : str, pathlib.Path or geopandas.GeoDataFrame
        A polygon file any GDAL driver reads (GeoJSON, GeoPackage, shapefile
        ...) or a GeoDataFrame.  Not modified.
    key : str
        Layer key, e.g. ``"neighborhoods"``.
    id_field, name_field : str
        Fields holding the area id (must be unique) and name.
    alias_fields : sequence of str, default ()
        Fields holding former names, joined into ``aliases``.
    vintage : str, default ""
        Vintage name.
    valid_from, valid_to : datetime.date, optional
        Half-open validity of the vintage.
    source : str, default ""
        Official source; defaults to the path read.
    projected_crs : str or pyproj.CRS, optional
        Metre-based CRS to measure overlaps and gaps in; by default the UTM
        zone of the layer (:func:`geo311.crs.projected_crs`).  The layer must
        lie in its area of use.
    crs : str, optional
        The CRS the coordinates are in, for data that declare none (a
        shapefile without ``.prj``, a GeoJSON without a CRS member holding
        projected coordinates, which GDAL reads as EPSG:4326).
    allow_invalid : bool, default False
        Log a WARNING and go on, instead of raising, for null or empty
        geometries and polygons that cannot be repaired (both dropped and
        counted in the ledger) and for coordinates outside the area of use
        of the CRS.

    Returns
    -------
    LayerResult
        ``(layer, ledger)``: the :class:`Layer` and a ledger with one stage
        ``layer:<key>[:<vintage>]`` counting dropped empty geometries and
        repaired invalid ones (rows in = rows out + dropped).  Invalid
        polygons that ``make_valid`` repairs are kept and logged at WARNING.

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    LayerError
        Null or empty geometries, or invalid polygons that cannot be
        repaired (unless ``allow_invalid``).
    CRSError
        The layer has no CRS and none is declared; its coordinates do not fit
        its CRS (projected numbers in EPSG:4326, x and y swapped); they lie
        outside the area of use of its CRS or ``projected_crs`` (unless
        ``allow_invalid``); or ``projected_crs`` is not in metres.
    SchemaError
        Missing id/name/alias fields (naming those found), non-polygon
        geometries, missing or duplicate ids (listing them).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> squares = gpd.GeoDataFrame(
    ...     {"code": [1, 2], "label": ["West", "East"]},
    ...     geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)],
    ...     crs="EPSG:26985",
    ... )
    >>> layer, ledger = read_layer(
    ...     squares, key="wards", id_field="code", name_field="label", projected_crs="EPSG:26985"
    ... )
    >>> layer.frame["area_id"].tolist(), layer.frame.crs.to_string()
    (['1', '2'], 'EPSG:4326')
    >>> layer.qa["overlap_m2"], layer.qa["gap_count"], round(layer.qa["area_m2"])
    (0.0, 0, 2000000)
    """
    stage = f"layer:{key}" + (f":{vintage}" if vintage else "")
    if isinstance(data, gpd.GeoDataFrame):
        path = None
        frame = data
        origin = source or f"layer {key!r} (GeoDataFrame)"
    else:
        path = Path(data).expanduser()
        frame = read_boundary_file(path)
        origin = str(path)
    out, qa, ledger, measure_crs, _ = validate_frame(
        frame,
        key=key,
        id_field=id_field,
        name_field=name_field,
        alias_fields=tuple(alias_fields),
        projected_crs=projected_crs,
        origin=origin,
        stage=stage,
        crs=crs,
        allow_invalid=allow_invalid,
    )
    if path is not None:
        ledger.inputs[-1]["path"] = str(path)
    layer = Layer(
        key=key,
        vintage=vintage,
        frame=out,
        valid_from=valid_from,
        valid_to=valid_to,
        source=source or (str(path) if path is not None else ""),
        path=path,
        sha256=_sha256_file(path) if path is not None else _frame_digest(out),
        projected_crs=measure_crs,
        qa=qa,
    )
    return LayerResult(layer, ledger)


def layer_from_file(
    name: str,
    path: str | Path,
    *,
    id_field: str,
    name_field: str,
    alias_fields: Sequence[str] = (),
    projected_crs: str | CRS | None = None,
    crs: str | None = None,
    allow_invalid: bool = False,
) -> Layer:
    """Read a user's own polygon file as a layer (``--layer NAME=PATH``).

    Parameters
    ----------
    name : str
        Layer key; lower-case snake_case, as it names the join's columns.
    path : str or pathlib.Path
        The polygon file.
    id_field, name_field : str
        Fields holding the area id and name.
    alias_fields : sequence of str, default ()
        Fields holding former names.
    projected_crs : str or pyproj.CRS, optional
        Metre-based CRS for the QA figures (default: the layer's UTM zone).
    crs, allow_invalid
        As in :func:`read_layer`.

    Returns
    -------
    Layer
        Without vintage or validity dates; its ledger is logged, not returned
        (use :func:`read_layer` for it).

    Raises
    ------
    ManifestError
        If ``name`` is not a valid layer key.
    """
    if not is_layer_key(name):
        msg = f"layer name {name!r} must be lower-case snake_case (e.g. 'school_zones')"
        raise ManifestError(msg)
    return read_layer(
        path,
        key=name,
        id_field=id_field,
        name_field=name_field,
        alias_fields=alias_fields,
        projected_crs=projected_crs,
        crs=crs,
        allow_invalid=allow_invalid,
    ).layer


def _selected(
    manifest: CityManifest,
    layers: Iterable[str] | str | None,
    vintages: Mapping[str, str | Sequence[str]] | None,
) -> dict[str, list[VintageSpec]]:
    keys = [layers] if isinstance(layers, str) else list(layers or manifest.layers)
    unknown = [k for k in keys if k not in manifest.layers]
    if unknown:
        msg = (
            f"the {manifest.city} manifest has no layer(s) {unknown}; "
            f"layers: {', '.join(manifest.layers)}"
        )
        raise ManifestError(msg)
    chosen = {key: list(manifest.layers[key].vintages) for key in dict.fromkeys(keys)}
    for key, wanted in (vintages or {}).items():
        if key not in chosen:
            msg = f"vintages given for layer {key!r}, which is not among those loaded: {keys}"
            raise ManifestError(msg)
        names = [wanted] if isinstance(wanted, str) else list(wanted)
        chosen[key] = [manifest.layers[key].vintage(n) for n in names]
    return chosen


def _explicit_paths(
    paths: Mapping[str, str | Path] | None, chosen: Mapping[str, Sequence[VintageSpec]]
) -> dict[tuple[str, str], Path]:
    out: dict[tuple[str, str], Path] = {}
    for spec, value in (paths or {}).items():
        key, _, vintage = spec.partition(":")
        if key not in chosen:
            msg = f"path given for layer {key!r}, which is not among those loaded: {list(chosen)}"
            raise ManifestError(msg)
        names = [v.vintage for v in chosen[key]]
        if not vintage:
            if len(names) != 1:
                msg = (
                    f"layer {key!r} has vintages {names}; say which one the file is: "
                    f"paths={{'{key}:{names[-1]}': ...}} (or pin one with vintages=)"
                )
                raise ManifestError(msg)
            vintage = names[0]
        if vintage not in names:
            msg = f"layer {key!r} has no vintage {vintage!r} among those loaded: {names}"
            raise ManifestError(msg)
        out[key, vintage] = Path(value).expanduser()
    return out


def load_layers(
    city: str | Path | CityManifest,
    *,
    layers: Iterable[str] | str | None = None,
    vintages: Mapping[str, str | Sequence[str]] | None = None,
    paths: Mapping[str, str | Path] | None = None,
    allow_invalid: bool = False,
    min_coverage: float = 0.5,
    data_dir: str | Path | None = None,
    progress: ProgressHook | None = None,
    use_cache: bool = True,
) -> dict[str, list[Layer]]:
    """Load and validate every vintage of a city's boundary layers.

    Parameters
    ----------
    city : str, pathlib.Path or CityManifest
        City key, manifest path, or a parsed manifest.
    layers : iterable of str, optional
        Layer keys to load (default: all in the manifest).
    vintages : mapping of str to str or sequence of str, optional
        Restrict a layer to some vintages, e.g. ``{"neighborhoods": "2010"}``.
    paths : mapping of str to path, optional
        Explicit files: ``{"neighborhoods": p}`` when one vintage is loaded, or
        ``{"neighborhoods:2020": p}``.  A path also supplies a vintage that the
        manifest declares without a local file.
    allow_invalid : bool, default False
        As in :func:`read_layer`; also turns the coverage error below into a
        WARNING.
    min_coverage : float, default 0.5
        Share of the area of the other loaded layers (the union of all their
        vintages) that each vintage must cover, e.g. to catch a truncated
        download holding a few areas only.  Checked when two or more layers
        are loaded.

    Returns
    -------
    dict of str to list of Layer
        Layer key -> its vintages in date order.  A vintage declared without
        a local file (and given no path) is included with ``frame=None`` so
        the join can report requests that fall in it; the manifest's
        :attr:`LayerSpec.missing_files` lists the same.

    Raises
    ------
    ManifestError
        Unknown city, layer or vintage (listing the valid ones).
    InputFileError
        One message for every declared file not found, listing where each
        was looked for and how to get it.
    LayerError, CRSError
        A layer fails the checks of :func:`read_layer`, or a vintage covers
        less than ``min_coverage`` of the other layers (unless
        ``allow_invalid``).
    data_dir : str or pathlib.Path, optional
        A data folder searched before ``$GEO311_DATA_DIR`` (see
        :func:`find_layer_file`).  A manifest read from a file also has its
        ``file`` paths looked up relative to its own folder.
    progress : ProgressHook, optional
        Told the boundary files read and validated so far (step
        ``"boundaries"``; see :mod:`geo311.progress`).
    use_cache : bool, default True
        Keep each validated file in ``<cache dir>/layers/``
        (:func:`geo311.join.layer_cache.cached_validation`) and reuse it while the
        file's bytes, the options and the geo311 version are the same.
    """
    if not 0 <= min_coverage <= 1:
        msg = f"min_coverage must be a share between 0 and 1, got {min_coverage!r}"
        raise OptionError(msg)
    manifest = city if isinstance(city, CityManifest) else load_manifest(city)
    chosen = _selected(manifest, layers, vintages)
    explicit = _explicit_paths(paths, chosen)
    where: dict[str, Any] = {"data_dir": data_dir, "manifest_dir": manifest_folder(manifest)}
    found: dict[tuple[str, str], Path] = {}
    problems: list[str] = []
    for key, specs in chosen.items():
        for spec in specs:
            given = explicit.get((key, spec.vintage))
            if given is None and spec.file is None:
                fetched = (
                    settings.cache_dir()
                    / "boundaries"
                    / manifest.city
                    / fetched_file_name(key, spec.vintage)
                )
                if not fetched.is_file():
                    continue
                given = fetched  # downloaded by `geo311 fetch boundaries`
            file_name = spec.file if spec.file is not None else Path(str(given)).name
            try:
                found[key, spec.vintage] = find_layer_file(
                    manifest.city, file_name, path=given, source=spec.source, **where
                )
            except InputFileError as exc:
                problems.append(f"{key} {spec.vintage}: {exc}")
    if problems:
        msg = "\n".join(problems)
        raise InputFileError(msg)

    denominators = _denominator_inputs(manifest, where)
    out: dict[str, list[Layer]] = {}
    unions: dict[tuple[str, str], shapely.Geometry] = {}
    for key, specs in chosen.items():
        layer_spec = manifest.layers[key]
        out[key] = []
        for spec in specs:
            declared = Layer(
                key=key,
                vintage=spec.vintage,
                frame=None,
                valid_from=spec.valid_from,
                valid_to=spec.valid_to,
                source=spec.source,
                title=layer_spec.title,
                note=spec.note,
                population_field=spec.population_field,
                population_source=spec.population_source,
                population_year=spec.population_year,
                denominators=denominators,
            )
            path = found.get((key, spec.vintage))
            if path is None:
                log.info(
                    "%s %s: declared without a local file (%s)", key, spec.vintage, spec.source
                )
                out[key].append(declared)
                continue
            report(progress, "boundaries", len(unions), len(found), unit="files")
            sha256 = _sha256_file(path)
            content = _content_sha256(path, sha256)
            options: dict[str, Any] = {
                "key": key,
                "id_field": layer_spec.id_field,
                "name_field": layer_spec.name_field,
                "alias_fields": list(layer_spec.alias_fields),
                "projected_crs": manifest.projected_crs,
                "origin": str(path),
                "stage": f"layer:{key}:{spec.vintage}",
                "crs": spec.crs,
                "allow_invalid": allow_invalid,
            }
            validated, qa, _, measure_crs, unions[key, spec.vintage] = cached_validation(
                partial(_validate_file, path, content, **options),
                file_sha256=content,
                options=options,
                cache_dir=settings.cache_dir() / "layers" if use_cache else None,
            )
            out[key].append(
                replace(
                    declared,
                    frame=validated,
                    path=path,
                    sha256=sha256,
                    projected_crs=measure_crs,
                    qa=qa,
                )
            )
    report(progress, "boundaries", len(unions), len(found), unit="files")
    _check_coverage(out, unions, min_coverage=min_coverage, allow_invalid=allow_invalid)
    return out


def _validate_file(
    path: Path, content: str, *, alias_fields: Sequence[str], **options: Any
) -> Validated:
    """Read a boundary file (of :func:`file_content_sha256` ``content``) and validate it."""
    frame = read_boundary_content(path, content)
    return validate_frame(
        frame, alias_fields=[a for a in alias_fields if a in frame.columns], **options
    )


def _optional_file(
    manifest: CityManifest, file_name: str, where: Mapping[str, Any], what: str
) -> Path | None:
    try:
        return find_layer_file(manifest.city, file_name, **where)
    except InputFileError as exc:
        log.warning("%s: %s not found, so not used: %s", manifest.city, what, exc)
        return None


def _denominator_inputs(
    manifest: CityManifest, where: Mapping[str, Any]
) -> DenominatorInputs | None:
    """Find the outline and ancillary files a manifest declares (WARNING when absent)."""
    outline = manifest.city_outline
    ancillary = manifest.ancillary
    if outline is None and ancillary is None:
        return None
    outline_path = None
    if outline is not None:
        outline_path = _optional_file(manifest, outline.file, where, "city_outline")
    ancillary_path = None
    if ancillary is not None:
        file_name = manifest.layers[ancillary.layer].vintage(ancillary.vintage).file
        if file_name is not None:
            ancillary_path = _optional_file(manifest, file_name, where, "ancillary layer")
    return DenominatorInputs(
        outline=outline_path,
        outline_crs=outline.crs if outline is not None else "",
        ancillary=ancillary_path,
        ancillary_spec=ancillary if ancillary_path is not None else None,
    )


def _check_coverage(
    layers: Mapping[str, Sequence[Layer]],
    unions: Mapping[tuple[str, str], shapely.Geometry],
    *,
    min_coverage: float,
    allow_invalid: bool,
) -> None:
    """Each vintage must cover ``min_coverage`` of the union of the other layers' areas.

    The shares are measured on a regular lattice of :data:`COVERAGE_SAMPLES`
    points per side over all the layers' bounds (a share to about a percent
    needs no vertex-level overlay, which costs seconds on real layers).
    """
    keys = sorted({key for key, _ in unions})
    if len(keys) < 2 or min_coverage == 0:
        return
    xmin, ymin, xmax, ymax = shapely.total_bounds(list(unions.values()))
    steps = (np.arange(COVERAGE_SAMPLES) + 0.5) / COVERAGE_SAMPLES
    xs, ys = np.meshgrid(xmin + steps * (xmax - xmin), ymin + steps * (ymax - ymin))
    inside = {}
    for which, union in unions.items():
        shapely.prepare(union)
        inside[which] = shapely.contains_xy(union, xs.ravel(), ys.ravel())
    for key in keys:
        others = [k for k in keys if k != key]
        reference = np.logical_or.reduce([v for (k, _), v in inside.items() if k != key])
        total = int(reference.sum())
        if not total:
            continue
        for layer in layers[key]:
            covered = inside.get((key, layer.vintage))
            if covered is None:
                continue
            share = int((covered & reference).sum()) / total
            if share < min_coverage:
                raise_or_warn(
                    f"{layer.path}: layer {key!r} vintage {layer.vintage!r} covers only "
                    f"{share:.1%} of the area of the other layers ({', '.join(others)}), "
                    f"less than min_coverage={min_coverage:g}; is the file complete (not a "
                    "partial download or a filtered export) and in the right CRS? Replace it",
                    allow_invalid=allow_invalid,
                    then="use it anyway",
                )

"""``geo311 city check``: validate every layer and vintage of a city manifest in one report.

:func:`check_city` reads a manifest (built-in city or a user's TOML file),
finds each vintage's file (explicit ``data_dir``, the manifest's own folder,
``$GEO311_DATA_DIR``, the cache: :func:`geo311.join.files.find_layer_file`)
and reports, without stopping at the first problem:

* file found and readable; CRS declared and agreeing with the manifest;
* id and name fields present, ids present and unique; the ``display``
  format rendered for one area; a declared ``population_field`` present and
  numeric;
* null, empty, non-polygon and invalid geometries;
* overlaps and gaps within the layer (m² and count, in the manifest's
  ``projected_crs``), as :func:`geo311.join.validate.validate_frame` measures
  them;
* coverage of the city outline (manifest ``city_outline``) or, without one,
  of the union of the other layers;
* the ``city_outline`` and ``ancillary`` files.

Every finding has a severity: ``error`` (the layer cannot be used as
declared), ``warning`` (usable, but worth reading: overlaps, gaps, repairs,
partial coverage) or ``info`` (a measured figure).  :attr:`CityCheck.ok` is
True when there is no error.

Usage::

    report = check_city("path/to/my_city.toml", data_dir="data")
    print(report.to_text())       # one line per finding, errors first in each layer
    report.ok                     # False when any finding is an error
    report.to_frame()             # severity, layer, vintage, check, message, value
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo311._errors import Geo311Error
from geo311.join.files import find_layer_file, manifest_folder
from geo311.join.layers import read_boundary_file
from geo311.join.manifest import CityManifest, LayerSpec, ManifestError, VintageSpec
from geo311.join.manifest import load_manifest as _load_manifest
from geo311.join.validate import validate_frame

__all__ = ["SEVERITIES", "CityCheck", "Finding", "check_city"]

log = logging.getLogger(__name__)

#: Severities, most serious first.
SEVERITIES = ("error", "warning", "info")
#: A layer covering less than this share of the reference area is an error;
#: less than :data:`COVERAGE_WARNING`, a warning.
COVERAGE_ERROR = 0.5
COVERAGE_WARNING = 0.95
#: Overlaps or gaps below this many m² are noise (an info, not a warning).
NOISE_M2 = 1.0


@dataclass(frozen=True)
class Finding:
    """One line of a city check.

    Attributes
    ----------
    severity : {"error", "warning", "info"}
    layer, vintage : str
        Empty for city-level findings (manifest, outline, ancillary).
    check : str
        What was checked: ``file``, ``crs``, ``fields``, ``ids``,
        ``geometry``, ``overlaps``, ``gaps``, ``coverage``, ``display``,
        ``population``, ``manifest``, ``outline``, ``ancillary``.
    message : str
        One line saying what was found (and, for errors, what to do).
    value : float or None
        The measured figure (m², share, count), when there is one.
    """

    severity: str
    layer: str
    vintage: str
    check: str
    message: str
    value: float | None = None


@dataclass(frozen=True)
class CityCheck:
    """The report of :func:`check_city`.

    Attributes
    ----------
    city : str
        City key (``""`` when the manifest could not be parsed).
    manifest : str
        Where the manifest was read from.
    findings : tuple of Finding
        In manifest order: city-level findings, then each layer vintage's.
    """

    city: str
    manifest: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Whether no finding is an error."""
        return not any(f.severity == "error" for f in self.findings)

    def count(self, severity: str) -> int:
        """Return how many findings have ``severity``."""
        return sum(f.severity == severity for f in self.findings)

    def to_text(self) -> str:
        """Return a readable report: a summary line, then one line per finding."""
        head = (
            f"city check {self.city or '?'} ({self.manifest}): "
            f"{'OK' if self.ok else 'FAILED'}, {self.count('error')} errors, "
            f"{self.count('warning')} warnings"
        )
        lines = [head]
        for f in self.findings:
            where = " ".join(x for x in (f.layer, f.vintage) if x) or "city"
            lines.append(f"{f.severity.upper():<8}{where:<30} {f.check:<11}{f.message}")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """Return the findings as a table (columns of :class:`Finding`)."""
        columns = ["severity", "layer", "vintage", "check", "message", "value"]
        rows = [[getattr(f, c) for c in columns] for f in self.findings]
        frame = pd.DataFrame(rows, columns=columns)
        for column in columns[:-1]:
            frame[column] = frame[column].astype("string")
        frame["value"] = frame["value"].astype("float64")
        return frame


@contextmanager
def _warnings_captured(records: list[logging.LogRecord]) -> Iterator[None]:
    """Collect the WARNING records validate_frame logs (CRS, repairs, area of use)."""

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Keep(level=logging.WARNING)
    logger = logging.getLogger("geo311.join")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


class _Checker:
    """Collects the findings of one manifest."""

    def __init__(self, manifest: CityManifest, data_dir: str | Path | None) -> None:
        self.manifest = manifest
        self.where: dict[str, Any] = {
            "data_dir": data_dir,
            "manifest_dir": manifest_folder(manifest),
        }
        self.findings: list[Finding] = []
        self.unions: dict[tuple[str, str], shapely.Geometry] = {}

    def add(
        self,
        severity: str,
        layer: str,
        vintage: str,
        check: str,
        message: str,
        *,
        value: float | None = None,
    ) -> None:
        self.findings.append(Finding(severity, layer, vintage, check, message, value))

    def find(self, file_name: str, source: str = "") -> Path:
        return find_layer_file(self.manifest.city, file_name, source=source, **self.where)

    # ----------------------------------------------------------------- one vintage

    def vintage(self, spec: LayerSpec, vintage: VintageSpec) -> None:
        key, name = spec.key, vintage.vintage
        if vintage.file is None:
            self.add(
                "warning",
                key,
                name,
                "file",
                f"no local file declared (source: {vintage.source}); requests dated "
                "in this vintage cannot be joined",
            )
            return
        try:
            path = self.find(vintage.file, vintage.source)
            frame = read_boundary_file(path)
        except Geo311Error as exc:
            self.add("error", key, name, "file", str(exc).splitlines()[0])
            return
        self.add("info", key, name, "file", f"{path} ({len(frame)} features)", value=len(frame))
        self._crs(key, name, frame, vintage.crs)
        broken = self._fields_and_ids(spec, name, frame)
        self._geometry(key, name, frame)
        if vintage.population_field is not None:
            self._population(key, name, frame, vintage.population_field)
        self._measure(spec, vintage, frame, path, broken=broken)

    def _crs(self, key: str, name: str, frame: gpd.GeoDataFrame, declared: str) -> None:
        if frame.crs is None:
            self.add(
                "warning",
                key,
                name,
                "crs",
                f"the file declares no CRS; the manifest's {declared} is used",
            )
        elif not frame.crs.equals(declared):
            self.add(
                "warning",
                key,
                name,
                "crs",
                f"the file is in {frame.crs.to_string()}, the manifest says {declared}; "
                "the file's CRS is used: correct the manifest",
            )
        else:
            self.add("info", key, name, "crs", f"{frame.crs.to_string()} (as declared)")

    def _fields_and_ids(self, spec: LayerSpec, name: str, frame: gpd.GeoDataFrame) -> bool:
        """Check id/name fields, ids and the display format; return whether ids are broken."""
        missing = [f for f in (spec.id_field, spec.name_field) if f not in frame.columns]
        if missing:
            self.add(
                "error",
                spec.key,
                name,
                "fields",
                f"fields {missing} missing; the file has {list(frame.columns[:-1])}: "
                "fix id_field / name_field in the manifest",
            )
        if spec.id_field not in frame.columns:
            return True
        ids = frame[spec.id_field].astype("string").str.strip().replace("", pd.NA)
        problems = []
        if ids.isna().any():
            problems.append(f"{int(ids.isna().sum())} features without an id")
        dupes = sorted(ids[ids.duplicated() & ids.notna()].unique().tolist())
        if dupes:
            problems.append(f"duplicate ids {dupes[:10]}{' ...' if len(dupes) > 10 else ''}")
        if problems:
            self.add(
                "error",
                spec.key,
                name,
                "ids",
                f"{'; '.join(problems)} in {spec.id_field!r}: ids must be present and unique",
                value=float(len(dupes)),
            )
        if not ids.empty and ids.notna().any():
            first = ids.dropna().index[0]
            label = frame.at[first, spec.name_field] if spec.name_field in frame else None
            shown = spec.display_name(ids[first], label)
            self.add("info", spec.key, name, "display", f"{spec.display!r} gives {shown!r}")
        return bool(problems) or bool(missing)

    def _geometry(self, key: str, name: str, frame: gpd.GeoDataFrame) -> None:
        geoms = frame.geometry.to_numpy()
        null = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if null.any():
            self.add(
                "error",
                key,
                name,
                "geometry",
                f"{int(null.sum())} null or empty geometries (rows "
                f"{np.flatnonzero(null)[:10].tolist()}): remove them or supply the shapes",
                value=float(null.sum()),
            )
        kinds = shapely.get_type_id(geoms[~null])
        other = ~np.isin(kinds, [3, 6])  # Polygon, MultiPolygon
        if other.any():
            self.add(
                "error",
                key,
                name,
                "geometry",
                f"{int(other.sum())} geometries are not polygons",
                value=float(other.sum()),
            )
        invalid = ~shapely.is_valid(geoms[~null])
        if invalid.any():
            self.add(
                "warning",
                key,
                name,
                "geometry",
                f"{int(invalid.sum())} invalid polygons (repaired with make_valid when loaded)",
                value=float(invalid.sum()),
            )

    def _population(self, key: str, name: str, frame: gpd.GeoDataFrame, column: str) -> None:
        if column not in frame.columns:
            self.add(
                "error",
                key,
                name,
                "population",
                f"population_field {column!r} is not a field of the file",
            )
            return
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = int(values.isna().sum())
        severity = "warning" if bad else "info"
        self.add(
            severity,
            key,
            name,
            "population",
            f"{column!r}: total {values.sum():,.0f}"
            + (f"; {bad} values missing or not numeric" if bad else ""),
            value=float(values.sum()),
        )

    def _measure(
        self,
        spec: LayerSpec,
        vintage: VintageSpec,
        frame: gpd.GeoDataFrame,
        path: Path,
        *,
        broken: bool,
    ) -> None:
        """Overlaps and gaps as loading measures them (broken ids replaced by row numbers)."""
        key, name = spec.key, vintage.vintage
        if broken:
            frame = frame.assign(_row=np.arange(len(frame)).astype(str))
        keep = ~(shapely.is_missing(frame.geometry.to_numpy()) | frame.geometry.is_empty)
        records: list[logging.LogRecord] = []
        try:
            with _warnings_captured(records):
                checked = validate_frame(
                    frame.loc[keep],
                    key=key,
                    id_field="_row" if broken else spec.id_field,
                    name_field="_row" if broken else spec.name_field,
                    alias_fields=[a for a in spec.alias_fields if a in frame.columns],
                    projected_crs=self.manifest.projected_crs,
                    origin=str(path),
                    stage=f"layer:{key}:{name}",
                    crs=vintage.crs,
                    allow_invalid=True,
                )
        except Geo311Error as exc:
            self.add("error", key, name, "geometry", str(exc).splitlines()[0])
            return
        for record in records:
            text = record.getMessage()
            if "invalid polygon" not in text and "repaired" not in text:
                self.add("warning", key, name, "crs", text.splitlines()[0])
        qa = checked.qa
        self.unions[key, name] = checked.union
        for check, m2, count in (
            ("overlaps", "overlap_m2", "overlap_pairs"),
            ("gaps", "gap_m2", "gap_count"),
        ):
            severity = "warning" if qa[m2] >= NOISE_M2 else "info"
            what = "pairs of areas overlapping by >= 1 m²" if check == "overlaps" else "holes"
            self.add(
                severity,
                key,
                name,
                check,
                f"{qa[m2]:,.1f} m² in {qa[count]} {what}",
                value=float(qa[m2]),
            )

    # ----------------------------------------------------------------- city level

    def outline(self) -> shapely.Geometry | None:
        spec = self.manifest.city_outline
        if spec is None:
            self.add(
                "info",
                "",
                "",
                "outline",
                "no city_outline declared: coverage is measured against the other "
                "layers, and land areas include water",
            )
            return None
        try:
            frame = read_boundary_file(self.find(spec.file, spec.source))
        except Geo311Error as exc:
            self.add("error", "", "", "outline", str(exc).splitlines()[0])
            return None
        crs = frame.crs if frame.crs is not None else spec.crs
        union = gpd.GeoSeries(frame.geometry.to_numpy(), crs=crs).to_crs(
            self.manifest.projected_crs
        )
        shape = shapely.make_valid(union.union_all())
        self.add(
            "info",
            "",
            "",
            "outline",
            f"{spec.file}: {shape.area / 1e6:,.2f} km²",
            value=shape.area,
        )
        return shape

    def ancillary(self) -> None:
        spec = self.manifest.ancillary
        if spec is None:
            return
        file_name = self.manifest.layers[spec.layer].vintage(spec.vintage).file
        try:
            if file_name is None:
                msg = f"layer {spec.layer} vintage {spec.vintage} has no file"
                raise ManifestError(msg)
            frame = read_boundary_file(self.find(file_name))
        except Geo311Error as exc:
            self.add("error", "", "", "ancillary", str(exc).splitlines()[0])
            return
        if spec.field not in frame.columns:
            self.add(
                "error", "", "", "ancillary", f"field {spec.field!r} missing from {file_name}"
            )
        else:
            self.add(
                "info", "", "", "ancillary", f"{spec.layer} {spec.vintage} field {spec.field!r}"
            )

    def coverage(self, outline: shapely.Geometry | None) -> None:
        for (key, name), union in self.unions.items():
            if outline is not None:
                reference, what = outline, "the city outline"
            else:
                others = [u for (k, _), u in self.unions.items() if k != key]
                if not others:
                    continue
                reference, what = shapely.union_all(others), "the other layers' union"
            total = shapely.area(reference)
            if total <= 0:
                continue
            share = float(shapely.area(shapely.intersection(union, reference)) / total)
            severity = (
                "error"
                if share < COVERAGE_ERROR
                else "warning"
                if share < COVERAGE_WARNING
                else "info"
            )
            self.add(severity, key, name, "coverage", f"covers {share:.1%} of {what}", value=share)


def check_city(manifest: str | Path, *, data_dir: str | Path | None = None) -> CityCheck:
    """Validate every layer and vintage of a city manifest; report every finding at once.

    Parameters
    ----------
    manifest : str or pathlib.Path
        A built-in city key or the path of a manifest TOML.  Files of a
        manifest read from a path are also looked for next to it.
    data_dir : str or pathlib.Path, optional
        A data folder searched first (``<data_dir>/<city>/<file>``, then
        ``<data_dir>/<file>``).

    Returns
    -------
    CityCheck
        ``ok`` when no finding is an error; ``to_text()`` and ``to_frame()``
        for the report.  An invalid manifest gives one ``manifest`` error per
        problem (nothing else can be checked).
    """
    try:
        parsed = _load_manifest(manifest)
    except ManifestError as exc:
        lines = [line.strip(" -") for line in str(exc).splitlines()]
        found = [Finding("error", "", "", "manifest", line) for line in lines[1:] or lines]
        return CityCheck(city="", manifest=str(manifest), findings=tuple(found))
    checker = _Checker(parsed, data_dir)
    outline = checker.outline()
    checker.ancillary()
    for spec in parsed.layers.values():
        for vintage in spec.vintages:
            checker.vintage(spec, vintage)
    checker.coverage(outline)
    report = CityCheck(parsed.city, parsed.path, tuple(_ordered(checker.findings, parsed)))
    log.info(
        "city check %s: %d errors, %d warnings",
        parsed.city,
        report.count("error"),
        report.count("warning"),
    )
    return report


def _ordered(findings: list[Finding], manifest: CityManifest) -> list[Finding]:
    """City-level findings first, then layers in manifest order (stable within each)."""
    order: Mapping[str, int] = {key: i + 1 for i, key in enumerate(manifest.layers)}
    return sorted(findings, key=lambda f: order.get(f.layer, 0))

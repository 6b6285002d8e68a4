"""Checking and normalising one boundary layer frame: CRS, geometries, ids, names, QA figures.

:func:`validate_frame` is the one pass every layer goes through (whether read
from a file, a manifest vintage or a GeoDataFrame), before it is used:

* fields present, polygons only, ids present and unique (normalised to strings);
* null or empty geometries: :class:`~geo311._errors.LayerError`;
* a CRS that cannot fit the coordinates -- none at all, x and y swapped, or
  projected numbers in a geographic CRS (a GeoJSON without a CRS member) --
  :class:`~geo311._errors.CRSError`, unless a declared CRS settles it;
* coordinates outside the area of use of the CRS or of the city's projected
  CRS: :class:`~geo311._errors.CRSError`;
* invalid polygons: repaired with ``make_valid`` (logged at WARNING), or a
  LayerError when nothing polygonal is left;
* overlaps and gaps between areas measured in square metres (one INFO line).

With ``allow_invalid=True`` the null/empty, unrepairable and area-of-use
problems are logged at WARNING with the same text instead (:func:`raise_or_warn`)
and the layer is used: the bad features dropped and counted in the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo311._errors import CRSError, DataError, LayerError, SchemaError
from geo311.crs import area_of_use_problem, crs_problem, describe_bounds, is_lonlat, projected_crs
from geo311.ledger import Ledger

__all__ = [
    "ALIAS_SEP",
    "LAYER_COLUMNS",
    "OVERLAP_PAIR_MIN_M2",
    "Validated",
    "raise_or_warn",
    "validate_frame",
]

log = logging.getLogger(__name__)

#: Columns every layer frame starts with (then the source's other attributes, then geometry).
LAYER_COLUMNS = ("area_id", "area_name", "aliases")
#: Separator of the names in the ``aliases`` column.
ALIAS_SEP = "|"
#: Pairs of areas overlapping by less than this (m²) are digitising noise: their
#: area still counts in ``overlap_m2`` but the pair is not counted in ``overlap_pairs``.
OVERLAP_PAIR_MIN_M2 = 1.0
SQ_MI = 2_589_988.110336  # square metres in a square mile, for log lines
_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def _id_text(value: Any) -> Any:
    if value is None or value is pd.NA:
        return pd.NA
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return pd.NA
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    return text or pd.NA


def _normalise_ids(values: pd.Series) -> pd.Series:
    """Ids as strings: integers (also integral floats) without a decimal part, text stripped."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("Int64").astype("string")
    return values.map(_id_text, na_action="ignore").astype("string")


def _text_column(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.mask((text == "").fillna(False))


def _aliases(frame: pd.DataFrame, names: pd.Series, fields: Sequence[str]) -> pd.Series:
    """Former names per row joined by ``|``, or NA; one equal to the name (any case) is skipped."""
    out = pd.Series(pd.NA, index=frame.index, dtype="string")
    if not fields:
        return out
    folded = names.str.casefold()
    columns = []
    for name in fields:
        text = _text_column(frame[name])
        columns.append(text.mask((text.str.casefold() == folded).fillna(False)))
    rows = zip(*(c.tolist() for c in columns), strict=True)
    joined = [ALIAS_SEP.join(dict.fromkeys(v for v in row if isinstance(v, str))) for row in rows]
    return pd.Series(joined, index=frame.index, dtype="string").mask(lambda s: s == "")


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """Keep the polygonal parts of a (repaired) geometry; None when there are none."""
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom
    polys = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in _POLYGONAL]
    if not polys:
        return None
    merged = shapely.union_all(polys)
    return merged if shapely.get_type_id(merged) in _POLYGONAL else _polygonal(merged)


def _measure(geoms: np.ndarray, crs: str) -> tuple[dict[str, Any], shapely.Geometry]:
    """Overlaps and gaps between areas, in square metres in ``crs``; and the union of the areas.

    Overlap is the sum of the areas of pairwise intersections whose interiors
    meet (a pair that only shares an edge adds nothing); ``overlap_pairs``
    counts the pairs overlapping by at least :data:`OVERLAP_PAIR_MIN_M2`.
    Gaps are the holes of the union of all areas: their count (interior
    rings) and area (the union with holes filled, minus the union, so areas
    on islands inside a hole are not counted as gap).
    """
    projected = gpd.GeoSeries(geoms, crs="EPSG:4326").to_crs(crs).to_numpy()
    broken = ~shapely.is_valid(projected)
    if broken.any():  # reprojection can rarely break validity; repair the measuring copy only
        projected[broken] = shapely.make_valid(projected[broken])
    left, right = shapely.STRtree(projected).query(projected, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    inner = shapely.relate_pattern(projected[left], projected[right], "2********")
    overlaps = shapely.area(shapely.intersection(projected[left[inner]], projected[right[inner]]))
    union = shapely.union_all(projected)
    parts = shapely.get_parts(union)
    parts = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
    holes = int(shapely.get_num_interior_rings(parts).sum())
    filled = shapely.union_all(shapely.polygons(shapely.get_exterior_ring(parts)))
    figures = {
        "overlap_m2": round(float(overlaps.sum()), 3),
        "overlap_pairs": int(np.count_nonzero(overlaps >= OVERLAP_PAIR_MIN_M2)),
        "gap_m2": round(float(shapely.area(filled) - shapely.area(union)), 3) if holes else 0.0,
        "gap_count": holes,
        "area_m2": round(float(shapely.area(union)), 3),
    }
    return figures, union


def _measure_crs(projected: str | CRS | None, frame: gpd.GeoDataFrame, origin: str) -> str:
    if projected is not None:
        text = projected.to_string() if isinstance(projected, CRS) else str(projected)
        problem = crs_problem(text, metres=True)
        if problem:
            msg = f"{origin}: projected_crs {problem}"
            raise CRSError(msg)
        return text
    return str(projected_crs(frame, where=origin).to_string())


def _check_frame(frame: Any, *, key: str, fields: Sequence[str], origin: str) -> list[str]:
    """Check type and fields; return the attribute (non-geometry) columns."""
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"{origin}: layer {key!r} must be a GeoDataFrame, got {type(frame).__name__}"
        raise SchemaError(msg)
    geometry_name = frame.geometry.name
    attributes = [str(c) for c in frame.columns if c != geometry_name]
    missing = [f for f in dict.fromkeys(fields) if f not in attributes]
    if missing:
        msg = (
            f"{origin}: layer {key!r} has no field(s) {', '.join(map(repr, missing))}. "
            f"Fields found: {', '.join(attributes) or '(none)'}. "
            "Name the fields that hold the area id and name (id_field=, name_field=, "
            "or --id-field/--name-field, or the manifest)."
        )
        raise SchemaError(msg)
    return attributes


def _check_polygonal(
    geoms: np.ndarray, empty: np.ndarray, ids: pd.Series, *, key: str, origin: str
) -> None:
    wrong = ~empty & ~np.isin(shapely.get_type_id(geoms), _POLYGONAL)
    if wrong.any():
        kinds = {
            k: int(n)
            for k, n in pd.Series([g.geom_type for g in geoms[wrong]]).value_counts().items()
        }
        msg = (
            f"{origin}: layer {key!r} must hold areas (Polygon/MultiPolygon), but "
            f"{int(wrong.sum())} feature(s) are {kinds} (ids "
            f"{ids[wrong].head(5).tolist()}). Use a polygon layer: points and lines "
            "cannot contain requests."
        )
        raise SchemaError(msg)


def _check_ids(ids: pd.Series, keep: np.ndarray, *, key: str, id_field: str, origin: str) -> None:
    kept = ids[keep]
    missing = kept.isna().to_numpy()
    if missing.any():
        rows = np.flatnonzero(keep)[missing][:10].tolist()
        msg = (
            f"{origin}: layer {key!r} has {int(missing.sum())} feature(s) without an id in "
            f"{id_field!r} (rows {rows}). Every area needs an id: fill them or choose "
            "another id field."
        )
        raise SchemaError(msg)
    counts = kept.value_counts()
    dupes = counts[counts > 1]
    if len(dupes):
        listing = ", ".join(f"{i!r} ({n} features)" for i, n in dupes.head(20).items())
        more = f" and {len(dupes) - 20} more" if len(dupes) > 20 else ""
        msg = (
            f"{origin}: layer {key!r} has duplicate ids in {id_field!r}: {listing}{more}. "
            "Ids must be unique: dissolve the parts of each area first "
            f"(`gdf.dissolve(by={id_field!r})`) or choose a unique id field."
        )
        raise SchemaError(msg)


def raise_or_warn(
    problem: str,
    *,
    allow_invalid: bool,
    then: str,
    error: type[DataError] = LayerError,
) -> None:
    """Raise ``error(problem ...)``, or log the same at WARNING when ``allow_invalid``.

    Parameters
    ----------
    problem : str
        One line: the file or layer, what is wrong, how many, and the fix.
    allow_invalid : bool
        The caller's opt-in: warn and go on instead of raising.
    then : str
        What going on means ("drop them", "use it anyway").
    error : type, default LayerError
        The error class raised.
    """
    if allow_invalid:
        log.warning("%s (allow_invalid=True: %s)", problem, then)
        return
    msg = f"{problem}; or pass allow_invalid=True to {then}"
    raise error(msg)


def _ids_or_rows(ids: pd.Series, mask: np.ndarray) -> str:
    """Name the features under ``mask`` by id, or by row where they have none."""
    rows = np.flatnonzero(mask)
    named = [str(ids.iloc[r]) if not pd.isna(ids.iloc[r]) else f"row {r}" for r in rows[:10]]
    return ", ".join(named) + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def _check_empty(empty: np.ndarray, ids: pd.Series, *, key: str, origin: str, allow: bool) -> None:
    n = int(empty.sum())
    if n:
        raise_or_warn(
            f"{origin}: layer {key!r} has {n} null or empty geometr{'y' if n == 1 else 'ies'} "
            f"({_ids_or_rows(ids, empty)}); those areas cannot hold requests, which would "
            "count as outside. Fix or remove those features in the file",
            allow_invalid=allow,
            then="drop them",
        )


def _native_bounds(geoms: np.ndarray) -> tuple[float, float, float, float] | None:
    present = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(present):
        return None
    xmin, ymin, xmax, ymax = (float(v) for v in shapely.total_bounds(present))
    return (xmin, ymin, xmax, ymax)


def _settle_crs(
    frame: gpd.GeoDataFrame, *, declared: str | None, key: str, origin: str
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Return the frame with the CRS its coordinates are in, and notes on what was decided.

    A frame without a CRS takes the declared one.  A geographic CRS whose
    coordinates cannot be longitude/latitude (a GeoJSON without a CRS member
    is read as EPSG:4326 whatever it holds) is replaced by a declared
    projected CRS, or refused: as swapped axes when exchanging x and y would
    fit, else with the fix of declaring the CRS.
    """
    if frame.crs is None:
        if declared is None:
            msg = (
                f"{origin}: layer {key!r} has no CRS, so its coordinates cannot be placed on "
                "the map. Declare the CRS the data was made in, e.g. "
                "`gdf = gdf.set_crs('EPSG:4326')` for longitude/latitude, before reading it; "
                "for a file, add the CRS to it (a .prj beside a shapefile, or "
                "`ogr2ogr -a_srs EPSG:XXXX out.gpkg in.shp`) or declare it "
                '(crs = "EPSG:..." in the manifest, or crs= to read_layer)'
            )
            raise CRSError(msg)
        return frame.set_crs(declared), [f"no CRS in the data; using the declared {declared}"]
    actual = CRS.from_user_input(frame.crs)
    bounds = _native_bounds(frame.geometry.to_numpy())
    if actual.is_geographic and bounds is not None and not is_lonlat(bounds):
        swapped = (bounds[1], bounds[0], bounds[3], bounds[2])
        if is_lonlat(swapped):
            msg = (
                f"{origin}: layer {key!r}: x and y look swapped: the coordinates "
                f"({describe_bounds(bounds)}) are not longitude/latitude in "
                f"{actual.to_string()}, exchanged they would be; write longitude as x and "
                "latitude as y"
            )
            raise CRSError(msg)
        if declared is not None and not CRS.from_user_input(declared).is_geographic:
            log.warning(
                "%s: coordinates (%s) are not longitude/latitude, so the file's %s (what a "
                "GeoJSON without a CRS is read as) cannot be right; using the declared %s",
                origin,
                describe_bounds(bounds),
                actual.to_string(),
                declared,
            )
            frame = frame.set_crs(declared, allow_override=True)
            return frame, [f"coordinates read in the declared {declared}, not {actual}"]
        msg = (
            f"{origin}: layer {key!r}: coordinates ({describe_bounds(bounds)}) look projected "
            f"but the CRS is {actual.to_string()} (a GeoJSON without a CRS is read as "
            'EPSG:4326); declare the CRS in the manifest (crs = "EPSG:...") or pass crs= '
            "to read_layer"
        )
        raise CRSError(msg)
    if declared is not None and not actual.equals(declared, ignore_axis_order=True):
        log.warning(
            "%s: CRS %s differs from the declared %s; using the file's",
            origin,
            actual.to_string(),
            declared,
        )
    return frame, []


def _check_area_of_use(
    frame: gpd.GeoDataFrame,
    *,
    projected: str | CRS | None,
    key: str,
    origin: str,
    allow: bool,
) -> None:
    bounds = _native_bounds(frame.geometry.to_numpy())
    if bounds is None:
        return
    within = (projected,) if projected is not None else ()
    problem = area_of_use_problem(bounds, frame.crs, within=within)
    if problem is None:
        return
    if problem.swapped:  # no layer is usable with its axes exchanged
        msg = f"{origin}: layer {key!r}: {problem.message}"
        raise CRSError(msg)
    raise_or_warn(
        f"{origin}: layer {key!r}: {problem.message}",
        allow_invalid=allow,
        then="use the layer anyway",
        error=CRSError,
    )


def _repair(geoms: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repair invalid polygons; return (geometries, repaired mask, unrepairable mask)."""
    geoms = geoms.copy()
    invalid = keep & ~shapely.is_valid(geoms)
    unrepairable = np.zeros(len(geoms), dtype=bool)
    for pos in np.flatnonzero(invalid):
        fixed = _polygonal(shapely.make_valid(geoms[pos]))
        if fixed is None or shapely.is_empty(fixed):
            unrepairable[pos] = True
        else:
            geoms[pos] = fixed
    return geoms, invalid & ~unrepairable, unrepairable


def _summary(qa: Mapping[str, Any], crs: str) -> str:
    dropped = qa["empty_dropped"] + qa["unrepairable_dropped"]
    return (
        f"{qa['features']} areas ({qa['invalid_repaired']} repaired, {dropped} dropped); "
        f"overlaps {qa['overlap_m2']:,.1f} m2 in {qa['overlap_pairs']} pair(s); "
        f"{qa['gap_count']} gap(s) totalling {qa['gap_m2']:,.1f} m2 "
        f"({qa['gap_m2'] / SQ_MI:.4f} sq mi); union {qa['area_m2'] / 1e6:,.3f} km2 "
        f"({qa['area_m2'] / SQ_MI:.3f} sq mi); measured in {crs}"
    )


class Validated(NamedTuple):
    """What :func:`validate_frame` returns."""

    frame: gpd.GeoDataFrame  # EPSG:4326, area_id, area_name, aliases, attributes, geometry
    qa: dict[str, Any]
    ledger: Ledger
    measure_crs: str
    union: shapely.Geometry  # union of the areas in measure_crs, for coverage checks


def validate_frame(
    source_frame: gpd.GeoDataFrame,
    *,
    key: str,
    id_field: str,
    name_field: str,
    alias_fields: Sequence[str],
    projected_crs: str | CRS | None,
    origin: str,
    stage: str,
    crs: str | None = None,
    allow_invalid: bool = False,
) -> Validated:
    """Check and normalise one layer.

    Parameters
    ----------
    source_frame : geopandas.GeoDataFrame
        The layer as read; not modified.
    key, id_field, name_field, alias_fields
        Layer key and the source fields of id, name and former names.
    projected_crs : str or pyproj.CRS or None
        Metre-based CRS to measure in (default: the layer's UTM zone); its
        area of use must overlap the layer.
    origin : str
        Names the layer (its path) in messages.
    stage : str
        The ledger stage, ``layer:<key>[:<vintage>]``.
    crs : str, optional
        The CRS the data are declared in (a manifest vintage's ``crs``): used
        when the data carry none, or when a geographic CRS cannot fit the
        coordinates (a GeoJSON without a CRS holding projected coordinates).
    allow_invalid : bool, default False
        Warn instead of raising for null or empty geometries (dropped),
        polygons that cannot be repaired (dropped) and coordinates outside the
        area of use of the CRS.

    Returns
    -------
    Validated

    Raises
    ------
    LayerError
        Null or empty geometries, or invalid polygons that cannot be repaired
        (unless ``allow_invalid``).
    CRSError
        No CRS and none declared; swapped axes; projected coordinates in a
        geographic CRS without a projected one declared; coordinates outside
        the area of use of the CRS or of ``projected_crs`` (unless
        ``allow_invalid``).
    SchemaError
        Missing fields, non-polygon geometries, missing or duplicate ids.
    """
    attributes = _check_frame(
        source_frame, key=key, fields=[id_field, name_field, *alias_fields], origin=origin
    )
    rows_in = len(source_frame)
    geoms = source_frame.geometry.to_numpy()
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    ids = _normalise_ids(source_frame[id_field]).reset_index(drop=True)
    _check_polygonal(geoms, empty, ids, key=key, origin=origin)
    _check_ids(ids, ~empty, key=key, id_field=id_field, origin=origin)
    _check_empty(empty, ids, key=key, origin=origin, allow=allow_invalid)
    located, notes = _settle_crs(source_frame, declared=crs, key=key, origin=origin)
    _check_area_of_use(
        located, projected=projected_crs, key=key, origin=origin, allow=allow_invalid
    )

    if not CRS.from_user_input(located.crs).equals("EPSG:4326", ignore_axis_order=True):
        notes.append(f"reprojected from {located.crs.to_string()} to EPSG:4326")
        geoms = located.geometry.to_crs("EPSG:4326").to_numpy()
    geoms, repaired, unrepairable = _repair(geoms, ~empty)
    if repaired.any():
        log.warning(
            "%s: layer %r: %d invalid polygon(s) (%s) repaired with make_valid, which keeps "
            "the area their rings enclose; fix them in the file to silence this",
            origin,
            key,
            int(repaired.sum()),
            _ids_or_rows(ids, repaired),
        )
    if unrepairable.any():
        n = int(unrepairable.sum())
        which = _ids_or_rows(ids, unrepairable)
        raise_or_warn(
            f"{origin}: layer {key!r} has {n} invalid polygon(s) ({which}) "
            "that make_valid cannot turn into an area (they collapse to lines or points); "
            "fix or remove them in the file",
            allow_invalid=allow_invalid,
            then="drop them",
        )
    positions = np.flatnonzero(~empty & ~unrepairable)
    if not len(positions):
        msg = f"{origin}: layer {key!r} has no non-empty polygons left ({rows_in} features read)"
        raise SchemaError(msg)

    names = _text_column(source_frame[name_field]).iloc[positions].reset_index(drop=True)
    kept = source_frame.iloc[positions].reset_index(drop=True)
    others = [c for c in attributes if c not in (id_field, name_field)]
    renamed = {c: f"source_{c}" for c in others if c in LAYER_COLUMNS}
    if renamed:
        notes.append(f"source columns renamed to avoid clashes: {renamed}")
    data: dict[str, Any] = {
        "area_id": ids.iloc[positions].reset_index(drop=True),
        "area_name": names,
        "aliases": _aliases(kept, names, alias_fields),
    }
    data.update({renamed.get(c, c): kept[c] for c in others})
    out = gpd.GeoDataFrame(data, geometry=list(geoms[positions]), crs="EPSG:4326")

    measure_crs = _measure_crs(projected_crs, out, origin)
    measured, union = _measure(out.geometry.to_numpy(), measure_crs)
    qa: dict[str, Any] = {
        "features": len(out),
        "invalid_repaired": int(repaired.sum()),
        "empty_dropped": int(empty.sum()),
        "unrepairable_dropped": int(unrepairable.sum()),
        **measured,
    }
    summary = _summary(qa, measure_crs)
    ledger = Ledger()
    ledger.inputs.append({"path": origin, "rows": rows_in, "layer": key})
    ledger.record(
        stage,
        rows_in=rows_in,
        rows_out=len(out),
        dropped={
            "empty_geometry": qa["empty_dropped"],
            "invalid_geometry_unrepairable": qa["unrepairable_dropped"],
        },
        flagged={
            "invalid_geometry_repaired": qa["invalid_repaired"],
            "missing_name": int(names.isna().sum()),
        },
        examples={
            "invalid_geometry_repaired": ids[repaired].tolist(),
            "invalid_geometry_unrepairable": ids[unrepairable].tolist(),
            "empty_geometry": ids[empty].dropna().tolist(),
        },
        notes=[*notes, summary],
    )
    log.info("%s: %s", stage, summary)
    return Validated(out, qa, ledger, measure_crs, union)

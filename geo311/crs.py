"""Coordinate reference systems: the one place geo311 chooses a projected CRS.

Data are exchanged in EPSG:4326; areas, distances and tolerances are measured
in a projected CRS.  :func:`projected_crs` makes that choice everywhere: the
city's own CRS when one is given (a manifest's ``projected_crs``), otherwise
the UTM zone of the data's centre, estimated from its bounds in EPSG:4326
(the same zone as ``GeoDataFrame.estimate_utm_crs()``).  It refuses, with a
:class:`~geo311._errors.CRSError` that says what to do, data without a CRS
and data whose coordinates cannot be longitude/latitude although their CRS
says so (a GeoJSON without a CRS member is read as EPSG:4326 whatever its
coordinates are).

:func:`lonlat_bounds` and :func:`area_of_use_problem` support the boundary
layer checks: whether coordinates lie where the declared CRS can be used, or
look like x and y swapped.

Examples
--------
>>> projected_crs((-76.71, 39.20, -76.53, 39.37)).to_string()  # Baltimore's bounds
'EPSG:32618'
>>> projected_crs((-76.71, 39.20, -76.53, 39.37), preferred="EPSG:26985").to_string()
'EPSG:26985'
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
from pyproj import CRS, Transformer
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info
from pyproj.exceptions import CRSError as PyprojCRSError
from pyproj.exceptions import ProjError

from geo311._errors import CRSError

__all__ = [
    "AREA_OF_USE_MARGIN",
    "AreaOfUseProblem",
    "area_of_use_problem",
    "crs_problem",
    "describe_bounds",
    "is_lonlat",
    "lonlat_bounds",
    "projected_crs",
]

Bounds = tuple[float, float, float, float]

#: Degrees by which a CRS's area of use is widened before data are called outside
#: it: projected CRSs are routinely used a little past their nominal area (a UTM
#: zone for a city just across its edge, a state plane for a neighbouring county),
#: while a wrong CRS or swapped axes put the data thousands of kilometres away.
AREA_OF_USE_MARGIN = 5.0


@cache
def crs_problem(value: str, *, metres: bool = False) -> str | None:
    """Return why ``value`` is not a usable projected CRS, or None.

    Parameters
    ----------
    value : str
        A CRS as pyproj reads it (``"EPSG:26985"``).
    metres : bool, default False
        Also require metre units on every axis (areas in m²).

    Returns
    -------
    str or None
        A phrase to follow the value's name in a message, or None when fine.

    Examples
    --------
    >>> crs_problem("EPSG:26985", metres=True) is None
    True
    >>> crs_problem("EPSG:4326")
    "'EPSG:4326' is not projected; areas need a projected CRS in metres"
    """
    try:
        crs = CRS.from_user_input(value)
    except PyprojCRSError:
        return f"{value!r} is not a CRS pyproj understands (e.g. 'EPSG:4326')"
    if not crs.is_projected:
        return f"{value!r} is not projected; areas need a projected CRS in metres"
    units = {axis.unit_name for axis in crs.axis_info}
    if metres and not units <= {"metre", "meter"}:
        return (
            f"{value!r} measures in {', '.join(sorted(units))}, not metres; "
            "choose the metre-based variant of the zone (e.g. EPSG:26945, not EPSG:2229)"
        )
    return None


def _four(values: Any) -> Bounds:
    """Return four numbers as a bounds tuple (CRSError-free: the caller checks them)."""
    west, south, east, north = (float(v) for v in values)
    return (west, south, east, north)


def is_lonlat(bounds: Bounds) -> bool:
    """Whether ``(west, south, east, north)`` are finite longitudes and latitudes."""
    west, south, east, north = bounds
    finite = all(math.isfinite(v) for v in bounds)
    return finite and -180 <= west <= east <= 180 and -90 <= south <= north <= 90


def lonlat_bounds(data: Any, *, where: str = "the data") -> Bounds:
    """Return the bounds of a frame in EPSG:4326 as ``(west, south, east, north)``.

    Parameters
    ----------
    data : geopandas.GeoDataFrame, geopandas.GeoSeries or tuple of 4 floats
        A frame with a CRS, or bounds already in longitude/latitude.
    where : str, default "the data"
        Names the data in error messages (a file, a layer).

    Returns
    -------
    tuple of float

    Raises
    ------
    CRSError
        The frame has no CRS, or its CRS is geographic but its coordinates are
        not longitude/latitude (e.g. a GeoJSON without a CRS member holding
        projected coordinates), or the bounds are not longitude/latitude.
    """
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        if data.crs is None:
            msg = (
                f"{where} has no CRS; set the CRS its coordinates are in with "
                "set_crs('EPSG:...') (for a boundary file: crs = \"EPSG:...\" in the manifest)"
            )
            raise CRSError(msg)
        native = _four(data.total_bounds)
        crs = CRS.from_user_input(data.crs)
        if crs.is_geographic:
            bounds = native
            if not is_lonlat(bounds):
                msg = (
                    f"{where}: coordinates reach {describe_bounds(bounds)}, which is not "
                    f"longitude/latitude although the CRS is {crs.to_string()} (a GeoJSON "
                    "without a CRS is read as EPSG:4326); declare the CRS the coordinates "
                    'are in (in the manifest: crs = "EPSG:...")'
                )
                raise CRSError(msg)
            return bounds
        transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        return _four(transformer.transform_bounds(*native))
    values = [float(v) for v in data]
    bounds = _four(values) if len(values) == 4 else (math.nan,) * 4
    if not is_lonlat(bounds):
        msg = (
            f"{where}: bounds {values} are not longitude/latitude (west, south, east, north "
            "in EPSG:4326); reproject the data to EPSG:4326 first"
        )
        raise CRSError(msg)
    return bounds


def describe_bounds(bounds: Bounds) -> str:
    """Bounds as ``"x 1 to 2, y 3 to 4"`` for messages."""
    west, south, east, north = bounds
    return f"x {west:,.6g} to {east:,.6g}, y {south:,.6g} to {north:,.6g}"


def projected_crs(
    data: Any, *, preferred: str | CRS | None = None, where: str = "the data"
) -> CRS:
    """Choose the projected CRS to measure areas, distances and tolerances in.

    Parameters
    ----------
    data : geopandas.GeoDataFrame, geopandas.GeoSeries or tuple of 4 floats
        The data to measure, with a CRS, or its bounds in longitude/latitude.
    preferred : str or pyproj.CRS, optional
        The city's own projected CRS (a manifest's ``projected_crs``); used
        when given, after checking that it is projected.
    where : str, default "the data"
        Names the data in error messages.

    Returns
    -------
    pyproj.CRS
        ``preferred``, or else the WGS 84 UTM zone of the centre of the data's
        bounds in EPSG:4326.

    Raises
    ------
    CRSError
        ``preferred`` is not a projected CRS; or, without ``preferred``, the
        data have no CRS, their coordinates are not longitude/latitude although
        their CRS is geographic, or no UTM zone covers them.
    """
    if preferred is not None:
        text = preferred.to_string() if isinstance(preferred, CRS) else str(preferred)
        problem = crs_problem(text)
        if problem:
            msg = (
                f"{where}: projected_crs {problem}; use the city's projected CRS "
                "(e.g. EPSG:26985) or leave it out to use the UTM zone"
            )
            raise CRSError(msg)
        return preferred if isinstance(preferred, CRS) else CRS.from_user_input(text)
    west, south, east, north = lonlat_bounds(data, where=where)
    x_centre = float(np.mean([west, east])) if west <= east else _antimeridian_centre(west, east)
    y_centre = float(np.mean([south, north]))
    code = _utm_code(x_centre, y_centre)
    if code is None:
        msg = (
            f"{where}: no UTM zone covers the centre of the data ({x_centre:.4f}, "
            f"{y_centre:.4f}); give a projected CRS explicitly (projected_crs=)"
        )
        raise CRSError(msg)
    return CRS.from_epsg(code)


#: How far from a zone's edge, the equator or the zones' polar limits (degrees)
#: a point must be for its zone to be computed rather than looked up.
_ZONE_MARGIN = 1e-6


def _utm_code(x_centre: float, y_centre: float) -> str | None:
    """EPSG code of the WGS 84 UTM zone of a point, or None.

    Inside a zone (not on its edge meridians, the equator or beyond 80 S /
    84 N, where the EPSG areas of use end) the code is arithmetic: zone
    ``floor((lon + 180) / 6) + 1``, EPSG 326zz north and 327zz south -- the
    zone the PROJ database gives for such a point (tested).  A site asks
    this for the centre of every district page, and each database query
    costs about 0.1 s.  Points on an edge ask the database, which decides
    between the zones that touch them.

    >>> _utm_code(-76.61, 39.29), _utm_code(-118.4, 34.0), _utm_code(151.2, -33.9)
    ('32618', '32611', '32756')
    """
    zone = (x_centre + 180.0) / 6.0
    inside = (
        -80.0 + _ZONE_MARGIN < y_centre < 84.0 - _ZONE_MARGIN
        and abs(y_centre) > _ZONE_MARGIN
        and _ZONE_MARGIN < zone * 6.0 < 360.0 - _ZONE_MARGIN
        and abs(zone - round(zone)) * 6.0 > _ZONE_MARGIN
    )
    if not inside:
        return _utm_code_from_database(x_centre, y_centre)
    return str((32600 if y_centre > 0 else 32700) + int(zone) + 1)


@cache
def _utm_code_from_database(x_centre: float, y_centre: float) -> str | None:
    """EPSG code of the WGS 84 UTM zone of a point, or None (a PROJ database query).

    Remembered per process (a layer's centre is asked for by several stages).
    """
    found = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(
            west_lon_degree=x_centre,
            south_lat_degree=y_centre,
            east_lon_degree=x_centre,
            north_lat_degree=y_centre,
        ),
    )
    return found[0].code if found else None


def _antimeridian_centre(west: float, east: float) -> float:
    """Centre longitude of bounds that cross the antimeridian (west > east)."""
    centre = float(np.mean([west, east + 360]))
    return centre - 360 if centre > 180 else centre


def _crs_text(crs: str | CRS) -> str:
    return crs.to_string() if isinstance(crs, CRS) else str(crs)


@cache
def _area_of_use(crs: str) -> tuple[str, Bounds] | None:
    """``("EPSG:xxxx (name)", widened bounds)`` of a CRS's area of use, or None if unknown."""
    parsed = CRS.from_user_input(crs)
    use = parsed.area_of_use
    if use is None:
        return None
    m = AREA_OF_USE_MARGIN
    widened = (
        max(use.west - m, -180.0),
        max(use.south - m, -90.0),
        min(use.east + m, 180.0),
        min(use.north + m, 90.0),
    )
    return f"{parsed.to_string()} ({parsed.name})", widened


def _overlaps(a: Bounds, b: Bounds) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _lonlat_or_none(native: Bounds, crs: CRS) -> Bounds | None:
    """Bounds of ``native`` (in ``crs``) in longitude/latitude, or None when they have none."""
    if crs.is_geographic:
        return native if is_lonlat(native) else None
    try:
        transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        out = _four(transformer.transform_bounds(*native))
    except ProjError:
        return None
    return out if is_lonlat(out) else None


class AreaOfUseProblem(NamedTuple):
    """What :func:`area_of_use_problem` found wrong with a layer's position."""

    swapped: bool  # exchanging x and y would make the data fit
    message: str  # the end of a sentence naming the bounds, the CRS and the fix


def area_of_use_problem(
    native: Bounds, crs: str | CRS, *, within: tuple[str | CRS, ...] = ()
) -> AreaOfUseProblem | None:
    """Say whether data with these bounds can lie in ``crs``: fine, swapped, or elsewhere.

    The data's bounds (in ``crs``) are turned into longitude/latitude and
    must overlap the area of use of ``crs`` and of every CRS in ``within``
    (e.g. the city's projected CRS, whose area of use is the state), each
    widened by :data:`AREA_OF_USE_MARGIN` degrees.  When
    they do not, but the bounds with x and y exchanged would, the axes look
    swapped.

    Parameters
    ----------
    native : tuple of 4 floats
        ``(xmin, ymin, xmax, ymax)`` in ``crs``.
    crs : str or pyproj.CRS
        The CRS the coordinates are declared in.
    within : tuple of str or pyproj.CRS, default ()
        Further CRSs whose area of use the data must overlap.

    Returns
    -------
    AreaOfUseProblem or None
        ``None`` when the data fit; otherwise whether the axes look swapped,
        and a message: ``"x and y look swapped ..."`` or ``"coordinates lie
        outside the area of use of EPSG:xxxx ...; is the CRS right?"``.

    Examples
    --------
    >>> maryland = ("EPSG:26985",)
    >>> area_of_use_problem((-76.7, 39.2, -76.5, 39.4), "EPSG:4326", within=maryland)
    >>> found = area_of_use_problem((39.2, -76.7, 39.4, -76.5), "EPSG:4326", within=maryland)
    >>> found.swapped, found.message[:20]
    (True, 'x and y look swapped')
    """
    declared = CRS.from_user_input(crs)
    areas = [a for item in (declared, *within) if (a := _area_of_use(_crs_text(item)))]

    def fits(bounds: Bounds) -> str | None:
        lonlat = _lonlat_or_none(bounds, declared)
        for name, area in areas:
            if lonlat is None or not _overlaps(lonlat, area):
                west, south, east, north = area
                return (
                    f"{name} (longitude {west:g} to {east:g}, latitude {south:g} to "
                    f"{north:g}, with a margin of {AREA_OF_USE_MARGIN:g} degrees)"
                )
        return None

    outside = fits(native)
    if outside is None:
        return None
    swapped: Bounds = (native[1], native[0], native[3], native[2])
    if fits(swapped) is None:
        return AreaOfUseProblem(
            swapped=True,
            message=(
                f"x and y look swapped: with {describe_bounds(native)} the data lie outside "
                f"the area of use of {outside}, exchanged they would fit; swap the "
                "coordinates (x is longitude/easting, y latitude/northing)"
            ),
        )
    return AreaOfUseProblem(
        swapped=False,
        message=(
            f"coordinates ({describe_bounds(native)} in {declared.to_string()}) lie outside "
            f"the area of use of {outside}; is the CRS right?"
        ),
    )

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

:func:`make_demo_city` builds the city in memory; :func:`write_demo` writes it
to disk and runs the pipeline on it.  Both are deterministic: the same seed
gives byte-identical files.

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
>>> city = make_demo_city(n_requests=1_000)
>>> sorted(city.layers)
['census_tracts', 'council_districts', 'neighborhoods']
>>> len(city.requests), int(city.layers["census_tracts"]["pop_2020"].sum()) == DEMO_POPULATION
(1000, True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import Transformer

from geo311.indicators.tables import LayerTables, build_tables, table_paths, write_tables
from geo311.io.atomic import atomic_write, check_overwrite
from geo311.io.readers import read_requests
from geo311.join.assign import assign_areas
from geo311.join.layers import Layer, read_layer
from geo311.ledger import Ledger
from geo311.site.build import build_site

__all__ = [
    "BULK_COLUMNS",
    "DEFECT_RATES",
    "DEMO_POPULATION",
    "SERVICE_TYPES",
    "DemoCity",
    "ServiceType",
    "demo_paths",
    "make_demo_city",
    "write_demo",
]

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
GeomArray = npt.NDArray[np.object_]

#: IANA time zone of the demo city's clocks.
TIMEZONE = "America/New_York"
#: Projected CRS (UTM zone 6N) in which the city is built and areas are measured.
PROJECTED_CRS = "EPSG:32606"
#: Longitude and latitude of the city centre: open ocean, nowhere near a real city.
CENTER_LONLAT = (-147.0, 38.0)
#: Total 2020 population of the demo city (the census tracts' ``pop_2020`` sum).
DEMO_POPULATION = 600_000
#: Calendar year the requests were filed in.
YEAR = 2025
#: When the export was taken, local wall time in :data:`TIMEZONE`.
AS_OF_LOCAL = "2026-01-05 12:00"
#: Fewest requests :func:`make_demo_city` accepts (every defect needs a few rows).
MIN_REQUESTS = 100

N_NEIGHBORHOODS = 250
N_DISTRICTS = 14
N_TRACTS = 180
N_ZIPCODES = 16
RADIUS_M = 9_000.0  # mean radius of the outline
MIN_TRACT_POP = 100
STATE_COUNTY_FIPS = "99001"  # state code 99 is not assigned to any US state
REFERENCE_INCOME = 60_000.0  # income at which demand and service speed are neutral
SLOWER_WHEN_POORER = 0.25  # time to close scales with (income / reference) ** -this
NEVER_CLOSED_SHARE = 0.03  # requests left open however long the export waited
_MAX_SAMPLING_ROUNDS = 500

#: Columns of the Open311 GeoReport Bulk CSV export, in file order.
BULK_COLUMNS: tuple[str, ...] = (
    "service_request_id",
    "service_code",
    "service_name",
    "description",
    "status",
    "status_notes",
    "requested_datetime",
    "updated_datetime",
    "closed_datetime",
    "expected_datetime",
    "agency_responsible",
    "source",
    "address",
    "zipcode",
    "lat",
    "long",
)

#: Injected defects: reason -> (share of the export's rows, fewest rows).
#: ``placeholder`` needs at least 10 rows at one point to be recognisable
#: (see :func:`geo311.find_placeholders`).
DEFECT_RATES: dict[str, tuple[float, int]] = {
    "coords_missing": (0.02, 1),
    "coords_zero": (0.003, 1),
    "placeholder": (0.01, 12),
    "coords_swapped": (0.002, 1),
    "duplicate_rows": (0.001, 1),
    "unparseable_requested_datetime": (0.0005, 1),
    "closed_before_created": (0.0005, 1),
    "marked_duplicate": (0.01, 1),
    "transferred": (0.005, 1),
}

#: Relative request rates by local hour of day (0-23), per profile.
HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    "day": (2, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 13, 12, 12, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3),
    "evening": (10, 8, 5, 3, 2, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 5, 7, 9, 12, 14, 15, 13),
    "office": (0, 0, 0, 0, 0, 0, 2, 10, 14, 14, 12, 10, 8, 10, 12, 10, 4, 0, 0, 0, 0, 0, 0, 0),
}


@dataclass(frozen=True)
class ServiceType:
    """One synthetic service type and how its requests behave.

    Attributes
    ----------
    code, name, agency : str
        Open311 ``service_code``, ``service_name`` and ``agency_responsible``.
    sla_days : float
        Days from creation to the due date (``expected_datetime``).
    weight : float
        Relative share of all requests.
    median_hours, sigma : float
        Log-normal time to close: median in hours and log-scale spread.
    income_elasticity : float
        Demand scales with ``(tract income / reference income) ** income_elasticity``.
    hours : str
        Key of :data:`HOUR_PROFILES`.
    weekend : float
        Weekend daily rate relative to a weekday.
    peak_day : int
        Day of the year (1-366) when the type is most frequent.
    seasonality : float
        Amplitude of the yearly cycle (0 = flat).
    proactive : bool
        Filed by city staff through the ``internal`` channel.
    phrase : str
        What a requester would write.
    """

    code: str
    name: str
    agency: str
    sla_days: float
    weight: float
    median_hours: float
    sigma: float
    income_elasticity: float
    hours: str = "day"
    weekend: float = 0.55
    peak_day: int = 182
    seasonality: float = 0.1
    proactive: bool = False
    phrase: str = ""


#: The demo city's service types.
SERVICE_TYPES: tuple[ServiceType, ...] = (
    ServiceType("SW-101", "SW-Dirty Alley", "Public Works (demo)", 10, 10, 70, 1.1, -0.8,
                peak_day=200, seasonality=0.2, phrase="Trash and debris piled up in the alley."),
    ServiceType("SW-102", "SW-Bulk Trash", "Public Works (demo)", 14, 8, 140, 0.8, -0.3,
                peak_day=130, seasonality=0.2, phrase="Old couch and mattress to collect."),
    ServiceType("SW-103", "SW-Illegal Dumping", "Public Works (demo)", 10, 6, 96, 1.1, -1.0,
                phrase="Someone dumped tires and bags on the lot."),
    ServiceType("SW-104", "SW-Rat Rubout", "Public Works (demo)", 7, 6, 110, 0.9, -0.9,
                peak_day=200, seasonality=0.4, phrase="Rats seen running near the trash cans."),
    ServiceType("SW-105", "SW-Missed Trash Collection", "Public Works (demo)", 2, 6, 30, 0.9,
                -0.2, phrase="Trash was not picked up on collection day."),
    ServiceType("SW-106", "SW-Cleaning (Proactive)", "Public Works (demo)", 5, 6, 20, 0.7, -0.7,
                hours="office", weekend=0.03, proactive=True,
                phrase="Crew-initiated block cleaning."),
    ServiceType("TR-201", "TR-Pothole", "Transportation (demo)", 3, 8, 60, 1.2, 0.0,
                peak_day=60, seasonality=0.5, phrase="Deep pothole in the travel lane."),
    ServiceType("TR-202", "TR-Street Light Out", "Transportation (demo)", 5, 6, 90, 1.0, 0.1,
                peak_day=350, seasonality=0.2, phrase="Street light has been out for days."),
    ServiceType("TR-203", "TR-Traffic Signal Repair", "Transportation (demo)", 1, 2, 8, 1.0, 0.2,
                phrase="Signal stuck on red at the intersection."),
    ServiceType("TR-204", "TR-Abandoned Vehicle", "Transportation (demo)", 30, 5, 200, 1.0, -0.5,
                phrase="Car with flat tires has not moved in weeks."),
    ServiceType("WW-301", "WW-Water Leak", "Water & Wastewater (demo)", 2, 5, 40, 1.3, -0.1,
                peak_day=20, seasonality=0.3, phrase="Water bubbling up from the sidewalk."),
    ServiceType("FO-401", "FO-Tree Maintenance", "Forestry (demo)", 60, 4, 600, 1.0, 0.6,
                peak_day=170, seasonality=0.5, phrase="Dead branch hanging over the street."),
    ServiceType("HC-501", "HCD-Housing Complaint", "Housing & Community Development (demo)",
                30, 5, 400, 1.1, -1.2, phrase="No heat in the apartment building."),
    ServiceType("HC-502", "HCD-Vacant Building Inspection (Proactive)",
                "Housing & Community Development (demo)", 20, 2, 150, 0.8, -1.0,
                hours="office", weekend=0.03, proactive=True,
                phrase="Scheduled inspection of a vacant building."),
    ServiceType("GS-601", "GS-Graffiti Removal", "General Services (demo)", 7, 4, 80, 1.0, -0.3,
                phrase="Graffiti on the wall of the corner store."),
    ServiceType("PD-701", "PD-Noise Complaint", "Police (demo)", 1, 4, 3, 1.0, 0.3,
                hours="evening", weekend=1.4, peak_day=190, seasonality=0.35,
                phrase="Loud music from a party next door."),
)  # fmt: skip

_CHANNELS = ("phone", "web", "app", "email")
_CHANNEL_SHARES = (0.45, 0.2, 0.3, 0.05)
_CLOSED_NOTES = ("Completed.", "Work completed by crew.", "Inspected; resolved.", "Closed.")
_OPEN_NOTES = ("", "Assigned to crew.", "Scheduled.", "Under review.")
_TRANSFER_NOTES = (
    "Transferred to Transportation (demo).",
    "Transferred to Public Works (demo).",
    "Referred to the State Highway Administration (demo).",
)
_STREETS = (
    "Elm", "Oak", "Maple", "Cedar", "Pine", "Birch", "Walnut", "Chestnut", "Harbor",
    "Mill", "Church", "Market", "Union", "Water", "Bay", "Ridge", "Lake", "Park",
    "Garden", "Orchard", "Spring", "Meadow", "Hill", "Forest", "River", "Franklin",
    "Madison", "Monroe", "Lincoln", "Clay",
)  # fmt: skip
_STREET_KINDS = ("St", "Ave", "Rd", "Way", "Ln")
_NAME_FIRST = (
    "Alder", "Ashby", "Bayview", "Beacon", "Briar", "Brook", "Clover", "Copper", "Crest",
    "Demo", "Dover", "Fair", "Fox", "Glen", "Harbor", "Hazel", "Heron", "Juniper",
    "Kestrel", "Lark", "Linden", "Marsh", "Orchard", "Quarry", "Raven", "Sable", "Thistle",
    "Tide", "Wren", "Willow",
)  # fmt: skip
_NAME_SECOND = (
    "Heights", "Park", "Hill", "Village", "Square", "Gardens", "Point", "Terrace",
    "Crossing", "Hollow", "Landing", "Green",
)  # fmt: skip


@dataclass(frozen=True)
class DemoCity:
    """A synthetic city: boundary layers, a raw 311 export and what was planted in it.

    Attributes
    ----------
    layers : dict of str to geopandas.GeoDataFrame
        ``neighborhoods`` (``nbhd_id``, ``name``, ``district``),
        ``council_districts`` (``district``, ``name``) and ``census_tracts``
        (``geoid``, ``name``, ``pop_2020``, ``median_hh_income``), all with a
        ``synthetic`` column, in EPSG:4326.
    requests : pandas.DataFrame
        The raw export in Open311 GeoReport Bulk CSV layout (:data:`BULK_COLUMNS`),
        every value a string ("" when empty), exactly as written to the CSV.
    defects : dict of str to int
        Rows of each injected defect (keys of :data:`DEFECT_RATES`).
    as_of : pandas.Timestamp
        When the export was taken (UTC).
    timezone : str
        IANA time zone of the city's clocks.
    outline : geopandas.GeoDataFrame
        The city limits, one polygon, EPSG:4326.
    projected_crs : str
        CRS to measure areas and distances in.
    population : int
        Total population (sum of the tracts' ``pop_2020``).
    seed : int
        The seed the city was built from.
    """

    layers: dict[str, gpd.GeoDataFrame]
    requests: pd.DataFrame
    defects: dict[str, int]
    as_of: pd.Timestamp
    timezone: str
    outline: gpd.GeoDataFrame
    projected_crs: str
    population: int
    seed: int


# --------------------------------------------------------------------------- geometry


def _city_outline(rng: np.random.Generator, center: tuple[float, float]) -> shapely.Polygon:
    """Return an irregular, star-shaped blob around ``center`` (projected metres)."""
    theta = np.linspace(0.0, 2.0 * np.pi, 361)[:-1]
    radius = np.ones_like(theta)
    for k in range(2, 7):
        amplitude = rng.uniform(0.03, 0.10) / np.sqrt(k - 1)
        radius += amplitude * np.cos(k * theta + rng.uniform(0.0, 2.0 * np.pi))
    x = center[0] + RADIUS_M * radius * np.cos(theta)
    y = center[1] + 0.8 * RADIUS_M * radius * np.sin(theta)
    return shapely.Polygon(np.column_stack([x, y]))


def _sample_in(
    rng: np.random.Generator, polygons: GeomArray, which: IntArray
) -> tuple[FloatArray, FloatArray]:
    """Draw one uniform point inside ``polygons[which[i]]`` for every ``i`` (rejection)."""
    bounds = shapely.bounds(polygons)
    shapely.prepare(polygons)
    x = np.empty(len(which))
    y = np.empty(len(which))
    todo = np.arange(len(which))
    for _ in range(_MAX_SAMPLING_ROUNDS):
        if todo.size == 0:
            return x, y
        box = bounds[which[todo]]
        cx = box[:, 0] + rng.random(todo.size) * (box[:, 2] - box[:, 0])
        cy = box[:, 1] + rng.random(todo.size) * (box[:, 3] - box[:, 1])
        hit = shapely.contains_xy(polygons[which[todo]], cx, cy)
        x[todo[hit]] = cx[hit]
        y[todo[hit]] = cy[hit]
        todo = todo[~hit]
    msg = f"could not place {todo.size} points inside their polygons; this is a geo311 bug"
    raise RuntimeError(msg)


def _density(x: FloatArray, y: FloatArray, downtown: tuple[float, float]) -> FloatArray:
    """Relative population density: highest downtown, falling off with distance."""
    return np.exp(-np.hypot(x - downtown[0], y - downtown[1]) / 5_000.0)


def _weighted_points(
    rng: np.random.Generator,
    outline: shapely.Polygon,
    n: int,
    downtown: tuple[float, float],
    power: float,
) -> FloatArray:
    """Draw ``n`` points in ``outline`` with density proportional to ``_density ** power``."""
    polys = np.array([outline], dtype=object)
    out: list[FloatArray] = []
    have = 0
    while have < n:
        x, y = _sample_in(rng, polys, np.zeros(2 * n, dtype=np.int64))
        keep = rng.random(2 * n) < _density(x, y, downtown) ** power
        pts = np.column_stack([x[keep], y[keep]])
        out.append(pts)
        have += len(pts)
    return np.concatenate(out)[:n]


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """Return only the polygon parts of a clipped cell (drop stray lines/points)."""
    if shapely.get_type_id(geom) in (3, 6):  # Polygon, MultiPolygon
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) == 3]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _tessellate(points: FloatArray, outline: shapely.Polygon) -> GeomArray:
    """Voronoi cells of ``points`` clipped to ``outline``, in the order of the points."""
    diagram = shapely.voronoi_polygons(
        shapely.multipoints(points), extend_to=outline, ordered=True
    )
    cells = shapely.intersection(shapely.get_parts(diagram), outline)
    cells = np.array([_polygonal(c) for c in cells], dtype=object)
    if not shapely.is_valid(cells).all() or shapely.is_empty(cells).any():
        msg = "a synthetic area came out empty or invalid; this is a geo311 bug"
        raise RuntimeError(msg)
    return cells


def _kmeans(rng: np.random.Generator, points: FloatArray, weights: FloatArray, k: int) -> IntArray:
    """Group ``points`` into ``k`` compact clusters (weighted Lloyd iterations)."""
    centers = points[rng.choice(len(points), size=k, replace=False, p=weights / weights.sum())]
    labels = np.zeros(len(points), dtype=np.int64)
    for _ in range(30):
        dist = np.hypot(*(points[:, None, :] - centers[None, :, :]).transpose(2, 0, 1))
        labels = dist.argmin(axis=1).astype(np.int64)
        for j in range(k):
            members = labels == j
            if not members.any():  # re-seed an empty cluster at the worst-served point
                worst = int(dist[np.arange(len(points)), labels].argmax())
                centers[j] = points[worst]
                labels[worst] = j
                continue
            w = weights[members]
            centers[j] = (points[members] * w[:, None]).sum(axis=0) / w.sum()
    return labels


def _largest_remainder(raw: FloatArray, total: int) -> IntArray:
    """Integers proportional to ``raw`` summing exactly to ``total``."""
    exact = raw / raw.sum() * total
    out = np.floor(exact).astype(np.int64)
    short = total - int(out.sum())
    order = np.argsort(-(exact - out), kind="stable")
    out[order[:short]] += 1
    return out


@dataclass(frozen=True)
class _Geography:
    """Projected geometries and attributes the request generator needs."""

    outline: shapely.Polygon
    tracts: GeomArray
    tract_pop: IntArray
    tract_income: IntArray
    tract_zip: npt.NDArray[np.str_]
    city_hall: tuple[float, float]
    layers: dict[str, gpd.GeoDataFrame]


def _build_geography(rng: np.random.Generator) -> _Geography:
    """Build the outline and the three layers (projected CRS, then EPSG:4326)."""
    to_xy = Transformer.from_crs("EPSG:4326", PROJECTED_CRS, always_xy=True)
    cx, cy = to_xy.transform(*CENTER_LONLAT)
    outline = _city_outline(rng, (cx, cy))
    downtown = (cx + rng.uniform(-1500, 1500), cy + rng.uniform(-1500, 1500))
    rich_side = rng.uniform(0.0, 2.0 * np.pi)

    # Neighborhoods: mildly denser downtown; districts group whole neighborhoods.
    nb_points = _weighted_points(rng, outline, N_NEIGHBORHOODS, downtown, power=0.3)
    nb_cells = _tessellate(nb_points, outline)
    nb_centroids = shapely.get_coordinates(shapely.centroid(nb_cells))
    nb_weight = shapely.area(nb_cells) * _density(nb_centroids[:, 0], nb_centroids[:, 1], downtown)
    cluster = _kmeans(rng, nb_centroids, nb_weight, N_DISTRICTS)
    # Number the districts clockwise from north around the city centre.
    angle = np.zeros(N_DISTRICTS)
    for j in range(N_DISTRICTS):
        mean = nb_centroids[cluster == j].mean(axis=0)
        angle[j] = np.arctan2(mean[0] - cx, mean[1] - cy) % (2.0 * np.pi)
    rank = np.empty(N_DISTRICTS, dtype=np.int64)
    rank[np.argsort(angle, kind="stable")] = np.arange(N_DISTRICTS)
    district_of = rank[cluster]
    district_ids = [f"{j + 1:02d}" for j in range(N_DISTRICTS)]
    district_geoms = [shapely.union_all(nb_cells[district_of == j]) for j in range(N_DISTRICTS)]
    combos = rng.permutation(len(_NAME_FIRST) * len(_NAME_SECOND))[:N_NEIGHBORHOODS]
    nb_names = [
        f"{_NAME_FIRST[c // len(_NAME_SECOND)]} {_NAME_SECOND[c % len(_NAME_SECOND)]} (synthetic)"
        for c in combos
    ]

    # Census tracts: denser downtown so that tracts hold similar populations.
    tr_points = _weighted_points(rng, outline, N_TRACTS, downtown, power=1.0)
    tracts = _tessellate(tr_points, outline)
    tr_centroids = shapely.get_coordinates(shapely.centroid(tracts))
    tx, ty = tr_centroids[:, 0], tr_centroids[:, 1]
    raw_pop = shapely.area(tracts) * _density(tx, ty, downtown) * rng.lognormal(0, 0.2, N_TRACTS)
    pop = MIN_TRACT_POP + _largest_remainder(raw_pop, DEMO_POPULATION - MIN_TRACT_POP * N_TRACTS)
    along = ((tx - cx) * np.cos(rich_side) + (ty - cy) * np.sin(rich_side)) / RADIUS_M
    near_downtown = np.exp(-np.hypot(tx - downtown[0], ty - downtown[1]) / 3_000.0)
    log_income = (
        np.log(58_000.0) + 0.5 * along - 0.25 * near_downtown + rng.normal(0, 0.22, N_TRACTS)
    )
    income = np.round(np.clip(np.exp(log_income), 18_000, 250_000)).astype(np.int64)
    zip_centers = _weighted_points(rng, outline, N_ZIPCODES, downtown, power=0.3)
    zip_of = np.hypot(
        tx[:, None] - zip_centers[None, :, 0], ty[:, None] - zip_centers[None, :, 1]
    ).argmin(axis=1)
    tract_zip = np.array([f"003{z + 1:02d}" for z in zip_of])
    tract_codes = [f"{(i + 1) * 100:06d}" for i in range(N_TRACTS)]

    def frame(
        data: dict[str, object], geoms: GeomArray | list[shapely.Geometry]
    ) -> gpd.GeoDataFrame:
        out = gpd.GeoDataFrame(
            {**data, "synthetic": True}, geometry=list(geoms), crs=PROJECTED_CRS
        ).to_crs("EPSG:4326")
        out.attrs["synthetic"] = True
        return out

    layers = {
        "neighborhoods": frame(
            {
                "nbhd_id": [f"N{i + 1:03d}" for i in range(N_NEIGHBORHOODS)],
                "name": nb_names,
                "district": [district_ids[j] for j in district_of],
            },
            nb_cells,
        ),
        "council_districts": frame(
            {
                "district": district_ids,
                "name": [f"Council District {j + 1} (synthetic)" for j in range(N_DISTRICTS)],
            },
            district_geoms,
        ),
        "census_tracts": frame(
            {
                "geoid": [STATE_COUNTY_FIPS + code for code in tract_codes],
                "name": [f"Census Tract {int(code) / 100:g} (synthetic)" for code in tract_codes],
                "pop_2020": pop,
                "median_hh_income": income,
            },
            tracts,
        ),
    }
    hall = (downtown[0] + 250.0, downtown[1] - 180.0)
    return _Geography(outline, tracts, pop, income, tract_zip, hall, layers)


# --------------------------------------------------------------------------- requests


def _utc_seconds(wall: npt.NDArray[np.datetime64], timezone: str) -> npt.NDArray[np.datetime64]:
    """Read naive local wall times as instants (UTC, naive ``datetime64[s]``).

    Times in the autumn repeated hour are read as daylight time; times in the
    spring gap are moved forward to the first valid instant.
    """
    local = pd.DatetimeIndex(wall).tz_localize(
        timezone, ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward"
    )
    return local.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[s]")


def _iso_local(instants: npt.NDArray[np.datetime64], timezone: str) -> npt.NDArray[np.str_]:
    """Format UTC instants as local ISO 8601 with the UTC offset ('' for NaT).

    Vectorised: ``DatetimeIndex.strftime`` is far too slow for 50,000 rows.
    """
    utc = pd.DatetimeIndex(instants).tz_localize("UTC")
    wall = utc.tz_convert(timezone).tz_localize(None)
    offset_min = ((wall - utc.tz_localize(None)) // pd.Timedelta(minutes=1)).to_numpy()
    missing = np.isnat(instants)
    text = np.datetime_as_string(wall.to_numpy().astype("datetime64[s]"), unit="s")
    offsets, where = np.unique(np.where(missing, 0, offset_min), return_inverse=True)
    labels = np.array(
        [f"{'-' if m < 0 else '+'}{abs(int(m)) // 60:02d}:{abs(int(m)) % 60:02d}" for m in offsets]
    )
    return np.where(missing, "", np.strings.add(text, labels[where]))


def _fmt_coord(values: FloatArray) -> npt.NDArray[np.str_]:
    """Six decimals (~0.1 m), as a geocoder would write them."""
    return np.char.mod("%.6f", values)


@dataclass
class _Draw:
    """True (defect-free) requests, one array per attribute, sorted by creation."""

    kind: IntArray
    requested: npt.NDArray[np.datetime64]
    closed: npt.NDArray[np.datetime64]
    updated: npt.NDArray[np.datetime64]
    tract: IntArray
    x: FloatArray
    y: FloatArray


def _draw_requests(
    rng: np.random.Generator, geo: _Geography, n: int, as_of: np.datetime64
) -> _Draw:
    """Draw type, time, place and time to close of ``n`` defect-free requests."""
    types = SERVICE_TYPES
    weights = np.array([t.weight for t in types])
    kind = rng.choice(len(types), size=n, p=weights / weights.sum()).astype(np.int64)
    days = np.arange(f"{YEAR}-01-01", f"{YEAR + 1}-01-01", dtype="datetime64[D]")
    day_of_year = np.arange(1, len(days) + 1)
    weekend = ((days.astype(np.int64) + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    wall = np.empty(n, dtype="datetime64[s]")
    tract = np.empty(n, dtype=np.int64)
    income_ratio = geo.tract_income / REFERENCE_INCOME
    for j, stype in enumerate(types):
        rows = np.flatnonzero(kind == j)
        season = 1.0 + stype.seasonality * np.cos(
            2.0 * np.pi * (day_of_year - stype.peak_day) / len(days)
        )
        per_day = season * np.where(weekend, stype.weekend, 1.0)
        day = rng.choice(len(days), size=rows.size, p=per_day / per_day.sum())
        hours = np.asarray(HOUR_PROFILES[stype.hours], dtype=float)
        hour = rng.choice(24, size=rows.size, p=hours / hours.sum())
        second = rng.integers(0, 3600, size=rows.size)
        wall[rows] = days[day].astype("datetime64[s]") + (hour * 3600 + second).astype(
            "timedelta64[s]"
        )
        demand = geo.tract_pop * income_ratio**stype.income_elasticity
        tract[rows] = rng.choice(len(demand), size=rows.size, p=demand / demand.sum())
    requested = _utc_seconds(wall, TIMEZONE)
    order = np.argsort(requested, kind="stable")
    kind, requested, tract = kind[order], requested[order], tract[order]

    median = np.array([t.median_hours for t in types])[kind]
    sigma = np.array([t.sigma for t in types])[kind]
    slower = income_ratio[tract] ** -SLOWER_WHEN_POORER
    hours_to_close = rng.lognormal(np.log(median), sigma) * slower
    seconds = np.maximum(np.ceil(hours_to_close * 3600.0), 60).astype(np.int64)
    closed = requested + seconds.astype("timedelta64[s]")
    never = rng.random(n) < NEVER_CLOSED_SHARE
    closed[never | (closed > as_of)] = np.datetime64("NaT")
    # Open requests were last touched somewhere between creation and the export.
    waited = (as_of - requested).astype(np.int64)
    touched = requested + (rng.random(n) * 0.3 * waited).astype("timedelta64[s]")
    updated = np.where(np.isnat(closed), touched, closed)
    x, y = _sample_in(rng, geo.tracts, tract)
    return _Draw(kind, requested, closed, updated, tract, x, y)


def _defect_counts(n: int) -> dict[str, int]:
    return {k: max(minimum, round(rate * n)) for k, (rate, minimum) in DEFECT_RATES.items()}


@dataclass
class _Columns:
    """The export columns that defects are planted in: text as written, or instants."""

    ids: npt.NDArray[np.str_]
    lat: npt.NDArray[np.str_]
    long: npt.NDArray[np.str_]
    requested_text: npt.NDArray[np.str_]
    requested: npt.NDArray[np.datetime64]
    closed: npt.NDArray[np.datetime64]
    updated: npt.NDArray[np.datetime64]
    notes: npt.NDArray[np.object_]


def _choose_defect_rows(
    rng: np.random.Generator, n: int, defects: dict[str, int]
) -> dict[str, IntArray]:
    """Pick disjoint sets of rows for the defects planted in place (not the repeats).

    Row 0 is never picked: a request marked duplicate must point at an earlier one.
    """
    order = rng.permutation(np.arange(1, n))
    planted: dict[str, IntArray] = {}
    start = 0
    for key in DEFECT_RATES:
        if key == "duplicate_rows":
            continue
        planted[key] = np.sort(order[start : start + defects[key]])
        start += defects[key]
    if start + defects["duplicate_rows"] > n:
        msg = f"{n} requests are too few for the planted defects"
        raise ValueError(msg)
    return planted


def _plant_location_defects(
    cols: _Columns, planted: dict[str, IntArray], city_hall: tuple[float, float]
) -> None:
    """Blank, zero, swap or move to city hall the coordinates of the chosen rows."""
    rows = planted["coords_missing"]
    cols.lat[rows] = ""
    cols.long[rows] = ""
    rows = planted["coords_zero"]
    cols.lat[rows] = "0"
    cols.long[rows] = "0"
    rows = planted["placeholder"]  # many unrelated requests filed "at" city hall
    cols.lat[rows] = _fmt_coord(np.full(rows.size, city_hall[1]))
    cols.long[rows] = _fmt_coord(np.full(rows.size, city_hall[0]))
    rows = planted["coords_swapped"]
    cols.lat[rows], cols.long[rows] = cols.long[rows].copy(), cols.lat[rows].copy()


def _plant_outcome_defects(
    rng: np.random.Generator, cols: _Columns, planted: dict[str, IntArray]
) -> None:
    """Plant bad close times, duplicate and transfer notes, and unreadable timestamps."""
    rows = planted["closed_before_created"]
    early = rng.integers(1800, 48 * 3600, rows.size).astype("timedelta64[s]")
    cols.closed[rows] = cols.requested[rows] - early
    cols.updated[rows] = cols.requested[rows]
    for key in ("marked_duplicate", "transferred"):
        rows = planted[key]
        quick = rng.integers(600, 24 * 3600, rows.size).astype("timedelta64[s]")
        cols.closed[rows] = cols.requested[rows] + quick
        cols.updated[rows] = cols.closed[rows]
    rows = planted["marked_duplicate"]
    earlier = (rng.random(rows.size) * rows).astype(np.int64)
    cols.notes[rows] = np.strings.add("Duplicate of ", cols.ids[earlier])
    rows = planted["transferred"]
    pick = rng.integers(0, len(_TRANSFER_NOTES), rows.size)
    cols.notes[rows] = np.array(_TRANSFER_NOTES)[pick]
    rows = planted["unparseable_requested_datetime"]
    junk = np.array(["N/A", "#VALUE!", "2025-02-30T09:15:00-05:00", "00/00/0000"])
    cols.requested_text[rows] = junk[rng.integers(0, len(junk), rows.size)]


def _bulk_frame(
    rng: np.random.Generator, draw: _Draw, cols: _Columns, geo: _Geography
) -> pd.DataFrame:
    """Lay the requests out as Open311 GeoReport Bulk CSV columns (all strings)."""
    n = len(draw.kind)

    def per_type(attribute: str) -> npt.NDArray[np.generic]:
        return np.array([getattr(t, attribute) for t in SERVICE_TYPES])[draw.kind]

    channel = np.array(_CHANNELS)[rng.choice(len(_CHANNELS), size=n, p=_CHANNEL_SHARES)]
    street = np.strings.add(
        np.array(_STREETS)[rng.integers(0, len(_STREETS), n)],
        np.strings.add(" ", np.array(_STREET_KINDS)[rng.integers(0, len(_STREET_KINDS), n)]),
    )
    address = np.strings.add(np.strings.add(rng.integers(100, 6000, n).astype(str), " "), street)
    due = draw.requested + (per_type("sla_days") * 86400).astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "service_request_id": cols.ids,
            "service_code": per_type("code"),
            "service_name": per_type("name"),
            "description": np.strings.add("[synthetic] ", per_type("phrase").astype(str)),
            "status": np.where(np.isnat(cols.closed), "open", "closed"),
            "status_notes": cols.notes.astype(str),
            "requested_datetime": cols.requested_text,
            "updated_datetime": _iso_local(cols.updated, TIMEZONE),
            "closed_datetime": _iso_local(cols.closed, TIMEZONE),
            "expected_datetime": _iso_local(due, TIMEZONE),
            "agency_responsible": per_type("agency"),
            "source": np.where(per_type("proactive").astype(bool), "internal", channel),
            "address": address,
            "zipcode": geo.tract_zip[draw.tract],
            "lat": cols.lat,
            "long": cols.long,
        }
    )


def _add_repeats(
    rng: np.random.Generator,
    frame: pd.DataFrame,
    *,
    cols: _Columns,
    planted: dict[str, IntArray],
    count: int,
    as_of: np.datetime64,
) -> pd.DataFrame:
    """Repeat ``count`` clean rows as later snapshots (same id, later update), in place."""
    n = len(frame)
    dirty = np.zeros(n, dtype=bool)
    for rows in planted.values():
        dirty[rows] = True
    source = np.sort(rng.choice(np.flatnonzero(~dirty), size=count, replace=False))
    later = rng.integers(3600, 72 * 3600, source.size).astype("timedelta64[s]")
    repeat = frame.iloc[source].copy()
    updated = np.minimum(cols.updated[source] + later, as_of)
    repeat["updated_datetime"] = _iso_local(updated, TIMEZONE)
    position = np.concatenate([np.arange(n), source]).astype(np.float64)
    position[n:] += 0.5  # each repeat right after its original
    out = pd.concat([frame, repeat], ignore_index=True)
    return out.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)


def _build_requests(
    rng: np.random.Generator, geo: _Geography, n_requests: int, as_of: np.datetime64
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Draw the requests, plant the counted defects, and lay them out as Bulk CSV."""
    defects = _defect_counts(n_requests)
    n = n_requests - defects["duplicate_rows"]  # distinct requests; the rest are repeats
    draw = _draw_requests(rng, geo, n, as_of)
    to_lonlat = Transformer.from_crs(PROJECTED_CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(draw.x, draw.y)
    notes = np.where(
        np.isnat(draw.closed),
        np.array(_OPEN_NOTES)[rng.integers(0, len(_OPEN_NOTES), n)],
        np.array(_CLOSED_NOTES)[rng.integers(0, len(_CLOSED_NOTES), n)],
    )
    serial = np.strings.zfill(np.arange(1, n + 1).astype(str), 8)
    cols = _Columns(
        ids=np.strings.add(f"{YEAR % 100:02d}-", serial),
        lat=_fmt_coord(np.asarray(lat)),
        long=_fmt_coord(np.asarray(lon)),
        requested_text=_iso_local(draw.requested, TIMEZONE),
        requested=draw.requested,
        closed=draw.closed.copy(),
        updated=draw.updated.copy(),
        notes=notes.astype(object),
    )
    planted = _choose_defect_rows(rng, n, defects)
    _plant_location_defects(cols, planted, to_lonlat.transform(*geo.city_hall))
    _plant_outcome_defects(rng, cols, planted)
    frame = _bulk_frame(rng, draw, cols, geo)
    out = _add_repeats(
        rng, frame, cols=cols, planted=planted, count=defects["duplicate_rows"], as_of=as_of
    )
    out.attrs["synthetic"] = True
    return out, defects


def make_demo_city(*, seed: int = 311, n_requests: int = 50_000) -> DemoCity:
    """Build the synthetic demo city in memory, deterministically.

    Parameters
    ----------
    seed : int, default 311
        Seed of :func:`numpy.random.default_rng`; the same seed always gives
        the same city and the same export, value for value.
    n_requests : int, default 50,000
        Rows of the export, including the repeated rows planted as defects.
        At least :data:`MIN_REQUESTS`.

    Returns
    -------
    DemoCity
        Layers, the raw Bulk CSV frame, the planted defect counts, the export
        time and the time zone.

    Raises
    ------
    ValueError
        If ``n_requests`` is below :data:`MIN_REQUESTS` or ``seed`` is negative.

    Examples
    --------
    >>> city = make_demo_city(seed=1, n_requests=500)
    >>> city.requests.loc[0, "service_request_id"], city.timezone
    ('25-00000001', 'America/New_York')
    >>> city.defects["placeholder"] >= 10
    True
    """
    if n_requests < MIN_REQUESTS:
        msg = f"n_requests must be at least {MIN_REQUESTS} (got {n_requests})"
        raise ValueError(msg)
    if seed < 0:
        msg = f"seed must be a non-negative integer (got {seed})"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    as_of = pd.Timestamp(AS_OF_LOCAL, tz=TIMEZONE).tz_convert("UTC")
    geo = _build_geography(rng)
    as_of_naive = as_of.tz_localize(None).to_datetime64().astype("datetime64[s]")
    requests, defects = _build_requests(rng, geo, n_requests, as_of_naive)
    outline = gpd.GeoDataFrame(
        {"name": ["Demo City (synthetic)"], "synthetic": [True]},
        geometry=[geo.outline],
        crs=PROJECTED_CRS,
    ).to_crs("EPSG:4326")
    log.info(
        "built synthetic demo city (seed %d): %s requests, %d neighborhoods, %d districts, "
        "%d tracts, %s planted defects",
        seed,
        f"{len(requests):,}",
        N_NEIGHBORHOODS,
        N_DISTRICTS,
        N_TRACTS,
        f"{sum(defects.values()):,}",
    )
    return DemoCity(
        layers=geo.layers,
        requests=requests,
        defects=defects,
        as_of=as_of,
        timezone=TIMEZONE,
        outline=outline,
        projected_crs=PROJECTED_CRS,
        population=DEMO_POPULATION,
        seed=seed,
    )


# --------------------------------------------------------------------------- writing


def demo_paths(out_dir: Path) -> dict[str, Path]:
    """Return every file :func:`write_demo` writes, by key, under ``out_dir``.

    Examples
    --------
    >>> sorted(k for k in demo_paths(Path("site")) if k.startswith("layer_"))
    ['layer_census_tracts', 'layer_council_districts', 'layer_neighborhoods']
    >>> demo_paths(Path("site"))["indicators_equity"].as_posix()
    'site/indicators/equity.csv'
    """
    out_dir = Path(out_dir)
    paths = {"raw_requests": out_dir / "raw" / "demo_requests.csv"}
    for name in ("neighborhoods", "council_districts", "census_tracts"):
        paths[f"layer_{name}"] = out_dir / "layers" / f"{name}.geojson"
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


#: Layers the demo tabulates indicators for.
INDICATOR_LAYERS = ("neighborhoods", "council_districts", "census_tracts")

#: Id column of each demo layer (every layer's name column is ``name``).
LAYER_ID_FIELDS = {
    "neighborhoods": "nbhd_id",
    "council_districts": "district",
    "census_tracts": "geoid",
}


def demo_layers(city: DemoCity) -> dict[str, list[Layer]]:
    """Return the demo city's layers as validated :class:`geo311.Layer` objects.

    Each layer has one vintage, ``"synthetic"``, valid at all times.
    """
    return {
        key: [
            read_layer(
                frame,
                key=key,
                id_field=LAYER_ID_FIELDS[key],
                name_field="name",
                vintage="synthetic",
                source="geo311.demo (synthetic)",
                projected_crs=city.projected_crs,
            ).layer
        ]
        for key, frame in city.layers.items()
    }


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
    return {
        key: build_tables(
            requests,
            key=key,
            vintages=layers[key],
            tracts=layers["census_tracts"][0],
            group=layers["council_districts"][0],
            as_of=city.as_of,
            timezone=city.timezone,
        )
        for key in keys
    }


def write_demo(
    out_dir: Path,
    *,
    seed: int = 311,
    n_requests: int = 50_000,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Build the demo city, write it out and run the pipeline on it.

    Steps, in order: refuse existing outputs; build the city
    (:func:`make_demo_city`); write the raw CSV and the layers; ingest the CSV
    with the ``open311`` profile (:func:`geo311.read_requests`); assign every
    request to the three layers (:func:`geo311.assign_areas`); write the
    requests as GeoParquet and the row ledger of every stage; compute and
    write the indicator and equity tables of the neighbourhoods, council
    districts and tracts, with populations interpolated from the tracts
    (:func:`geo311.indicators.tables.build_tables`); write ``README.txt``; build the
    site in the same folder (:func:`geo311.site.pages.build_site`: ``index.html``,
    a choropleth page per layer and indicator, a page per council district,
    ``png/``).  Every file is written atomically.  The site needs the
    ``maps`` extra.

    Parameters
    ----------
    out_dir : pathlib.Path
        Output folder; created when missing.
    seed, n_requests
        Passed to :func:`make_demo_city`.
    overwrite : bool, default False
        Replace existing outputs.

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

    with atomic_write(paths["raw_requests"]) as tmp:
        city.requests.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    for name, layer in city.layers.items():
        with atomic_write(paths[f"layer_{name}"]) as tmp:
            layer.to_file(tmp, driver="GeoJSON", layer=name)

    requests, ledger = read_requests(
        paths["raw_requests"], schema="open311", timezone=city.timezone, as_of=city.as_of
    )
    layers = demo_layers(city)
    requests, join_ledger = assign_areas(requests, layers)
    ledger = ledger.extend(join_ledger)
    with atomic_write(paths["requests"]) as tmp:
        requests.to_parquet(tmp, index=False)
    tables = demo_tables(city, requests, layers)
    write_tables(tables, out_dir / "indicators", overwrite=True)  # existence checked above
    with atomic_write(paths["ledger"]) as tmp:
        ledger.write_json(tmp)

    with atomic_write(paths["readme"]) as tmp:
        tmp.write_text(_readme(city, ledger, paths, out_dir), encoding="utf-8")
    site = build_site(
        tables, out_dir, district_layer="council_districts", ledger=paths["ledger"], overwrite=True
    )
    written = {**paths, **{f"page_{p.stem}": p for p in site.pages if p.suffix == ".html"}}
    written.update({f"png_{p.stem}": p for p in site.pngs})
    log.info("wrote the synthetic demo to %s (%d files)", out_dir, len(written))
    return written

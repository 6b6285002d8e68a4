"""The demo city's geography: outline, neighbourhoods, council districts, census tracts.

Everything is built in a projected CRS (:data:`PROJECTED_CRS`) around a point in
the open North Pacific and returned in EPSG:4326; see :mod:`geo311.demo`.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer

__all__ = [
    "CENTER_LONLAT",
    "DEMO_POPULATION",
    "PROJECTED_CRS",
    "TIMEZONE",
    "build_geography",
]

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

N_NEIGHBORHOODS = 250
N_DISTRICTS = 14
N_TRACTS = 180
N_ZIPCODES = 16
RADIUS_M = 9_000.0  # mean radius of the outline
MIN_TRACT_POP = 100
STATE_COUNTY_FIPS = "99001"  # state code 99 is not assigned to any US state
_MAX_SAMPLING_ROUNDS = 500

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


def sample_in(
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
        x, y = sample_in(rng, polys, np.zeros(2 * n, dtype=np.int64))
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
class Geography:
    """Projected geometries and attributes the request generator needs."""

    outline: shapely.Polygon
    tracts: GeomArray
    tract_pop: IntArray
    tract_income: IntArray
    tract_zip: npt.NDArray[np.str_]
    city_hall: tuple[float, float]
    layers: dict[str, gpd.GeoDataFrame]


def build_geography(rng: np.random.Generator) -> Geography:
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
    return Geography(outline, tracts, pop, income, tract_zip, hall, layers)

"""Placeholder points: coordinates that stand in for an unknown location.

A point is a placeholder when

1. *many addresses* share it: at least ``min_count`` requests (and at least
   ``min_share`` of all located requests) sit on the exact point (rounded to
   1e-6°, ~0.1 m), and their addresses are unrelated -- at least
   ``min_addresses`` different street addresses (number and street,
   normalised by :func:`geo311.geocode.addresses.normalize_addresses`; a
   request without an address counts as one more unknown address), making up
   at least ``min_address_share`` of the requests there.  A geocoder that
   drops unmatched addresses on the city centroid produces exactly that;
2. it is a *known fallback* the caller names (the centroid of the city or of
   a ZIP code the geocoder falls back to), within ``radius_m`` metres;
3. the city *profile lists* it (``[placeholders] points``), within
   ``radius_m`` metres;
4. its coordinates were *cut* to ``coarse_decimals`` decimals or fewer --
   by default whole degrees (``39.0, -77.0``), a grid of ~100 km no geocoder
   emits.

Repeated requests at one real address -- a city-hall plaza with 400 requests
of 19 types, an encampment reported every day -- are not placeholders,
however many service types they span; neither is a point whose 4-decimal
coordinates happen to end in zeros (``37.7800, -122.4100``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._errors import OptionError
from geo311.geocode.addresses import normalize_addresses

__all__ = [
    "PLACEHOLDER_COLUMNS",
    "PlaceholderRule",
    "find_placeholders",
    "point_keys",
    "point_of_key",
    "point_reasons",
]

#: Coordinate qualities that place a point somewhere (a placeholder candidate).
LOCATED: Final = ("ok", "swapped", "outside_area")

#: Columns of :func:`find_placeholders`' result, in order.
PLACEHOLDER_COLUMNS: Final = (
    "lat",
    "long",
    "requests",
    "share",
    "addresses",
    "unaddressed",
    "types",
    "reason",
)

_OFFSET = 2**31  # longitudes in micro-degrees, shifted to be non-negative in 32 bits

#: Metres per degree of latitude (and of longitude at the equator), WGS84 mean.
_M_PER_DEG: Final = 111_195.0

Point = tuple[float, float]


@dataclass(frozen=True)
class PlaceholderRule:
    """The thresholds of :func:`find_placeholders` and the points a profile lists.

    The ``[placeholders]`` table of a schema profile sets these; keys left out
    keep the defaults below.

    Attributes
    ----------
    min_count : int, default 10
        Fewest requests at one exact point before address variety counts.
    min_share : float, default 0.0
        Smallest share of all located requests at that point (0 to 1).
    min_addresses : int, default 3
        Fewest different addresses there (each request without one counts).
    min_address_share : float, default 0.5
        Smallest ratio of different addresses to requests at the point.
    radius_m : float, default 10.0
        How close (metres) a request must be to a listed or fallback point.
    coarse_decimals : int, default 0
        A point whose latitude and longitude both have at most this many
        decimals is a placeholder (0: whole degrees; 2 was geo311's old,
        too eager, rule).  From 0 to 4.
    points : tuple of (lat, long)
        Placeholder points the profile lists, in degrees.
    """

    min_count: int = 10
    min_share: float = 0.0
    min_addresses: int = 3
    min_address_share: float = 0.5
    radius_m: float = 10.0
    coarse_decimals: int = 0
    points: tuple[Point, ...] = ()

    def __post_init__(self) -> None:
        checks = {
            "min_count": (_count, "a whole number >= 1"),
            "min_addresses": (_count, "a whole number >= 1"),
            "min_share": (_fraction, "a number from 0 to 1"),
            "min_address_share": (_fraction, "a number from 0 to 1"),
            "radius_m": (_positive, "a number of metres > 0"),
            "coarse_decimals": (_decimals, "a whole number from 0 to 4"),
        }
        problems = [
            f"{name} must be {want}, got {getattr(self, name)!r}"
            for name, (ok, want) in checks.items()
            if not ok(getattr(self, name))
        ]
        if problems:
            msg = f"placeholder options: {'; '.join(problems)}"
            raise OptionError(msg)
        object.__setattr__(self, "points", tuple(_as_points(self.points, "placeholder points")))

    def updated(self, **options: Any) -> PlaceholderRule:
        """Return the rule with the options that are not None replaced.

        Raises
        ------
        OptionError
            For a name that is not a field, or a value out of range.
        """
        unknown = sorted(set(options) - {f.name for f in fields(self)})
        if unknown:
            msg = (
                f"placeholder options {unknown} are unknown; use "
                f"{', '.join(f.name for f in fields(self))}"
            )
            raise OptionError(msg)
        return replace(self, **{k: v for k, v in options.items() if v is not None})

    def options(self) -> dict[str, Any]:
        """Return the rule as keyword options of :func:`find_placeholders`."""
        return asdict(self)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _decimals(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4


def _fraction(value: object) -> bool:
    return _number(value) and 0 <= value <= 1  # type: ignore[operator]


def _positive(value: object) -> bool:
    return _number(value) and value > 0  # type: ignore[operator]


def _points_near(
    lat: np.ndarray, lon: np.ndarray, targets: Sequence[Point], radius_m: float
) -> np.ndarray:
    """Return which (lat, lon) lie within ``radius_m`` of any target (equirectangular)."""
    near = np.zeros(len(lat), dtype=bool)
    for t_lat, t_lon in targets:
        dy = (lat - t_lat) * _M_PER_DEG
        dx = (lon - t_lon) * _M_PER_DEG * np.cos(np.radians(t_lat))
        near |= dx * dx + dy * dy <= radius_m * radius_m
    return near


def _as_points(points: Iterable[Any], what: str) -> list[Point]:
    """Return ``points`` as (lat, long) floats, or raise OptionError naming the bad one."""
    out = []
    for p in points:
        ok = (
            isinstance(p, list | tuple)
            and len(p) == 2
            and all(_number(v) for v in p)
            and abs(p[0]) <= 90
            and abs(p[1]) <= 180
        )
        if not ok:
            msg = (
                f"{what}: {p!r} is not a [lat, long] pair in degrees; write it as [39.29, -76.61]"
            )
            raise OptionError(msg)
        out.append((float(p[0]), float(p[1])))
    return out


def point_keys(lat: np.ndarray, lon: np.ndarray) -> npt.NDArray[np.int64]:
    """Pack points rounded to 1e-6 degrees into one integer each (a point's identity).

    Two points get the same key exactly when ``round(6)`` makes them equal
    (numpy rounds by scaling, ``rint`` and scaling back, so the micro-degree
    integers name the same classes); :func:`point_of_key` gives back those rounded
    values.  Only for coordinates in range (|lat| <= 90, |long| <= 180).
    """
    lat_u = np.rint(lat * 1e6).astype(np.int64)
    lon_u = np.rint(lon * 1e6).astype(np.int64)
    return (lat_u << 32) + (lon_u + _OFFSET)


def point_of_key(keys: npt.NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray]:
    """Return the points of :func:`point_keys`: latitudes and longitudes rounded to 1e-6."""
    lon_u = (keys & 0xFFFFFFFF) - _OFFSET
    lat_u = (keys - (lon_u + _OFFSET)) >> 32
    return lat_u / 1e6, lon_u / 1e6


def _fallbacks(points: Iterable[Point] | Mapping[str, Point]) -> list[Point]:
    """Return the fallback points (a mapping's values) checked as (lat, long) pairs."""
    return _as_points(
        points.values() if isinstance(points, Mapping) else points, "fallback_points"
    )


def point_reasons(
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    rule: PlaceholderRule,
    fallback_points: Iterable[Point] | Mapping[str, Point] = (),
) -> np.ndarray:
    """Return why each point is a placeholder whatever its requests, or ``""``.

    Parameters
    ----------
    lat, lon : numpy.ndarray
        Distinct points, rounded to 1e-6 degrees.
    rule : PlaceholderRule
        Its listed points, ``radius_m`` and ``coarse_decimals``.
    fallback_points : iterable or mapping of (lat, long)
        As in :func:`find_placeholders`.

    Returns
    -------
    numpy.ndarray of str
        ``"profile"``, ``"fallback"``, ``"coarse"`` (in that precedence) or ``""``.
    """
    known = _fallbacks(fallback_points)
    return np.select(
        [
            _points_near(lat, lon, rule.points, rule.radius_m),
            _points_near(lat, lon, known, rule.radius_m),
            (np.round(lat, rule.coarse_decimals) == lat)
            & (np.round(lon, rule.coarse_decimals) == lon),
        ],
        ["profile", "fallback", "coarse"],
        default="",
    )


def find_placeholders(
    requests: pd.DataFrame,
    *,
    min_count: int = 10,
    min_share: float = 0.0,
    min_addresses: int = 3,
    min_address_share: float = 0.5,
    radius_m: float = 10.0,
    coarse_decimals: int = 0,
    points: Iterable[Point] = (),
    fallback_points: Iterable[Point] | Mapping[str, Point] = (),
    located: int | None = None,
) -> pd.DataFrame:
    """Find points that stand in for unknown locations (see the module docstring).

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical frame with ``lat``, ``long``, ``coord_quality``, ``address``
        and ``service_name``.  Only located rows (``ok``, ``swapped``,
        ``outside_area``) are considered.  Not modified.
    min_count, min_share, min_addresses, min_address_share, radius_m, coarse_decimals
        Thresholds, as in :class:`PlaceholderRule`.
    points : iterable of (lat, long)
        Placeholder points listed by the profile (reason ``"profile"``).
    fallback_points : iterable of (lat, long), or mapping of label to (lat, long)
        Where the geocoder puts what it cannot match, e.g. the city's and the
        ZIP codes' centroids (reason ``"fallback"``).
    located : int, optional
        How many located requests the shares are of; default those in
        ``requests``.  Lets a caller that holds only the rows at candidate
        points (every row of each point with ``min_count`` requests or more,
        or with a reason of :func:`point_reasons`) get the whole answer.

    Returns
    -------
    pandas.DataFrame
        One row per placeholder point, most requests first, columns
        :data:`PLACEHOLDER_COLUMNS`: the point, its ``requests`` and their
        ``share`` of located requests, distinct ``addresses`` (normalised),
        ``unaddressed`` requests, distinct service ``types`` and ``reason``
        (``"profile"``, ``"fallback"``, ``"many_addresses"`` or
        ``"coarse"``, in that precedence).

    Raises
    ------
    OptionError
        When a threshold is out of range or a listed or fallback point is
        not a (lat, long) pair in degrees.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lat": [39.3] * 12, "long": [-76.6] * 12,
    ...                    "coord_quality": ["ok"] * 12, "service_name": ["Pothole"] * 12,
    ...                    "address": [f"{100 + i} Main St" for i in range(12)]})
    >>> find_placeholders(df)[["requests", "addresses", "reason"]].to_dict("records")
    [{'requests': 12, 'addresses': 12, 'reason': 'many_addresses'}]
    """
    rule = PlaceholderRule(
        min_count=min_count,
        min_share=min_share,
        min_addresses=min_addresses,
        min_address_share=min_address_share,
        radius_m=radius_m,
        coarse_decimals=coarse_decimals,
        points=tuple(points),
    )
    _fallbacks(fallback_points)  # refused at once, also when no request is located
    at_point = requests["coord_quality"].isin(LOCATED).to_numpy(dtype=bool)
    if not at_point.any():
        return pd.DataFrame(columns=list(PLACEHOLDER_COLUMNS))
    # the located rows' columns are read where needed, never the whole frame copied
    lat = requests["lat"].to_numpy(dtype=float)[at_point]
    at = point_keys(lat, requests["long"].to_numpy(dtype=float)[at_point])
    distinct, codes = np.unique(at, return_inverse=True)  # points by latitude, then longitude
    sizes = np.bincount(codes)
    lat_v, lon_v = point_of_key(distinct)
    given = point_reasons(lat_v, lon_v, rule=rule, fallback_points=fallback_points)
    # Addresses are normalised only where a point can be a placeholder (fast on big files).
    wanted = ((sizes >= rule.min_count) | (given != ""))[codes]
    if not wanted.any():
        return pd.DataFrame(columns=list(PLACEHOLDER_COLUMNS))
    rows = np.flatnonzero(at_point)[wanted]
    keys = normalize_addresses(requests["address"].iloc[rows].astype("string"))["address"]
    pts = pd.DataFrame(
        {
            "point": codes[wanted],
            "address": keys.mask(keys == "").to_numpy(dtype=object),
            "service_name": requests["service_name"].iloc[rows].to_numpy(dtype=object),
        }
    )
    grouped = pts.groupby("point", sort=False).agg(
        requests=("point", "size"),
        addresses=("address", "nunique"),
        addressed=("address", "count"),
        types=("service_name", "nunique"),
    )
    at = grouped.index.to_numpy(dtype=np.int64)
    grouped["lat"] = lat_v[at]
    grouped["long"] = lon_v[at]
    grouped["unaddressed"] = grouped["requests"] - grouped["addressed"]
    grouped["share"] = grouped["requests"] / (len(lat) if located is None else located)
    different = grouped["addresses"] + grouped["unaddressed"]
    many = (
        (grouped["requests"] >= rule.min_count)
        & (grouped["share"] >= rule.min_share)
        & (different >= rule.min_addresses)
        & (different >= rule.min_address_share * grouped["requests"])
    ).to_numpy(dtype=bool)
    reason = given[at]  # precedence: profile, fallback, many_addresses, coarse
    grouped["reason"] = np.where(
        many & ~np.isin(reason, ["profile", "fallback"]), "many_addresses", reason
    )
    found = grouped[grouped["reason"] != ""]
    found = found.sort_values("requests", ascending=False, kind="stable")
    return found[list(PLACEHOLDER_COLUMNS)].reset_index(drop=True)

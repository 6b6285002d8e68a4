"""The demo city's raw 311 export: service types, drawn requests and planted defects.

See :mod:`geo311.demo` for how the requests are drawn and which defects are
planted; :func:`build_requests` returns the export as the Bulk CSV frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import Transformer

from geo311.demo.geography import (
    PROJECTED_CRS,
    TIMEZONE,
    FloatArray,
    Geography,
    IntArray,
    sample_in,
)

__all__ = [
    "BULK_COLUMNS",
    "DEFECT_RATES",
    "HOUR_PROFILES",
    "MIN_REQUESTS",
    "SERVICE_TYPES",
    "ServiceType",
    "build_requests",
]

#: Calendar year the requests were filed in.
YEAR = 2025
#: When the export was taken, local wall time in :data:`TIMEZONE`.
AS_OF_LOCAL = "2026-01-05 12:00"
#: Fewest requests :func:`make_demo_city` accepts (every defect needs a few rows).
MIN_REQUESTS = 100
REFERENCE_INCOME = 60_000.0  # income at which demand and service speed are neutral
SLOWER_WHEN_POORER = 0.25  # time to close scales with (income / reference) ** -this
NEVER_CLOSED_SHARE = 0.03  # requests left open however long the export waited


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
    rng: np.random.Generator, geo: Geography, n: int, as_of: np.datetime64
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
    x, y = sample_in(rng, geo.tracts, tract)
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
    rng: np.random.Generator, draw: _Draw, cols: _Columns, geo: Geography
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


def build_requests(
    rng: np.random.Generator, geo: Geography, n_requests: int, as_of: np.datetime64
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

"""Data-quality checks: coordinates, placeholders, impossible times, duplicate ids.

Nothing here drops a row silently.  Coordinate problems set
``coord_quality`` (see :data:`geo311.io.schema.COORD_QUALITY`); time problems
add reasons to ``qa_flags``; the only rows removed are repeated
``service_request_id`` values, one kept per id by a documented rule and the
rest counted in the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo311._flags import add_flags, count_flags
from geo311.clean.placeholders import LOCATED, PlaceholderRule, find_placeholders, point_keys
from geo311.io.values import parse_as_of
from geo311.ledger import Ledger, Result

__all__ = [
    "clean_ledger",
    "clean_requests",
    "flag_coordinates",
    "mark_placeholders",
    "repeated_ids",
    "time_flags",
]

log = logging.getLogger(__name__)

BBox = tuple[float, float, float, float]


def _inside(lat: np.ndarray, lon: np.ndarray, bbox: BBox) -> np.ndarray:
    west, south, east, north = bbox
    with np.errstate(invalid="ignore"):
        return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def flag_coordinates(requests: pd.DataFrame, *, bbox: BBox | None = None) -> Result:
    """Classify each row's coordinates; fix unambiguous lat/long swaps.

    Row-wise, so it may run chunk by chunk.  Precedence: ``missing`` (no
    value), ``zero`` (0, 0), ``out_of_range``, ``outside_area`` (outside
    ``bbox``), ``swapped`` (fixed), ``ok``.  A swap is unambiguous when the
    swapped point falls inside ``bbox`` and the given one does not, or, with no
    ``bbox``, when the latitude exceeds ±90 and the longitude would fit as one.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical frame with ``lat``, ``long``.
    bbox : tuple of float, optional
        ``(west, south, east, north)`` of the city, in degrees.

    Returns
    -------
    Result
        A new frame with ``lat``/``long`` swapped back where fixed and
        ``coord_quality`` set, and a one-stage ledger ("coordinates").

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lat": [39.3, -76.6, 0.0, None], "long": [-76.6, 39.3, 0.0, 1.0]})
    >>> flag_coordinates(df, bbox=(-77, 39, -76, 40)).frame["coord_quality"].tolist()
    ['ok', 'swapped', 'zero', 'missing']
    """
    out = requests.copy()
    lat = out["lat"].to_numpy(dtype=float, na_value=np.nan)
    lon = out["long"].to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(lat) | np.isnan(lon)
    zero = ~missing & (np.abs(lat) < 1e-9) & (np.abs(lon) < 1e-9)
    usable = ~missing & ~zero
    with np.errstate(invalid="ignore"):
        in_range = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if bbox is not None:
            swap = usable & ~_inside(lat, lon, bbox) & _inside(lon, lat, bbox)
        else:
            swap = usable & (np.abs(lat) > 90) & (np.abs(lon) <= 90)
    lat2 = np.where(swap, lon, lat)
    lon2 = np.where(swap, lat, lon)
    out_of_range = usable & ~swap & ~in_range
    outside = np.zeros(len(out), dtype=bool)
    if bbox is not None:
        outside = usable & ~out_of_range & ~_inside(lat2, lon2, bbox)
    quality = np.select(
        [missing, zero, out_of_range, outside, swap],
        ["missing", "zero", "out_of_range", "outside_area", "swapped"],
        default="ok",
    )
    out["lat"] = lat2
    out["long"] = lon2
    out["coord_quality"] = pd.Series(quality, index=out.index, dtype="string")
    counts = {
        "coords_missing": int(missing.sum()),
        "coords_zero": int(zero.sum()),
        "coords_out_of_range": int(out_of_range.sum()),
        "coords_outside_area": int(outside.sum()),
        "coords_swapped_fixed": int(swap.sum()),
    }
    ledger = Ledger()
    ledger.record("coordinates", rows_in=len(out), rows_out=len(out), flagged=counts)
    return Result(out, ledger)


def repeated_ids(requests: pd.DataFrame) -> npt.NDArray[np.bool_]:
    """Return the rows to drop because their ``service_request_id`` recurs later in rank.

    Among rows sharing an id the one kept has the latest ``updated_datetime``;
    on a tie (or when none has one) the one that comes last.  Rows without an
    id are never dropped.  Only rows sharing an id matter, so the rows of the
    repeated ids alone, in input order, give the same verdict on them.

    Parameters
    ----------
    requests : pandas.DataFrame
        ``service_request_id`` and ``updated_datetime``, in input order.

    Returns
    -------
    numpy.ndarray of bool
        True for each row to drop.
    """
    ids = requests["service_request_id"]
    if not ids.dropna().duplicated().any():
        return np.zeros(len(requests), dtype=bool)
    order = pd.DataFrame(
        {
            "id": requests["service_request_id"].array,
            "updated": requests["updated_datetime"].array,
            "pos": np.arange(len(requests)),
        }
    ).sort_values(["updated", "pos"], na_position="first", kind="stable")
    repeated = order["id"].notna() & order["id"].duplicated(keep="last")
    drop = np.zeros(len(requests), dtype=bool)
    drop[order.loc[repeated, "pos"].to_numpy(dtype=np.int64)] = True
    return drop


def mark_placeholders(requests: pd.DataFrame, placeholders: pd.DataFrame) -> pd.Series:
    """Return ``coord_quality`` with the rows at placeholder points marked ``placeholder``.

    Row by row, so it may run on any subset of the requests.

    Parameters
    ----------
    requests : pandas.DataFrame
        ``lat``, ``long`` and ``coord_quality``.  Not modified.
    placeholders : pandas.DataFrame
        The points found by :func:`~geo311.clean.placeholders.find_placeholders`.

    Returns
    -------
    pandas.Series
        The new ``coord_quality`` (same index).
    """
    quality = requests["coord_quality"]
    if placeholders.empty:
        return quality
    found = point_keys(
        placeholders["lat"].to_numpy(dtype=float), placeholders["long"].to_numpy(dtype=float)
    )
    hit = quality.isin(LOCATED).to_numpy(dtype=bool)
    lat = requests["lat"].to_numpy(dtype=float)[hit]
    lon = requests["long"].to_numpy(dtype=float)[hit]
    hit[hit] = np.isin(point_keys(lat, lon), found)
    if (
        isinstance(quality.dtype, pd.CategoricalDtype)
        and "placeholder" not in quality.cat.categories
    ):
        quality = quality.cat.add_categories(["placeholder"])
    return quality.mask(hit, "placeholder")


def time_flags(requests: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, npt.NDArray[np.bool_]]:
    """Return the impossible-time checks, one boolean array per reason (row by row).

    Parameters
    ----------
    requests : pandas.DataFrame
        ``requested_datetime``, ``closed_datetime``, ``expected_datetime`` and ``status``.
    as_of : pandas.Timestamp
        Times after it are in the future.

    Returns
    -------
    dict of str to numpy.ndarray of bool
        One mask per reason of the ``clean`` ledger stage.
    """
    req = requests["requested_datetime"]
    closed = requests["closed_datetime"]
    due = requests["expected_datetime"]
    no_close_time = (requests["status"] == "closed").fillna(False) & closed.isna()
    return {
        "closed_before_created": (closed < req).to_numpy(dtype=bool),
        "due_before_created": (due < req).to_numpy(dtype=bool),
        "requested_in_future": (req > as_of).to_numpy(dtype=bool),
        "closed_in_future": (closed > as_of).to_numpy(dtype=bool),
        "closed_without_close_time": no_close_time.to_numpy(dtype=bool),
    }


def clean_ledger(
    *,
    rows_in: int,
    dropped_ids: pd.Series,
    flagged: Mapping[str, int],
    placeholders: pd.DataFrame,
    as_of: pd.Timestamp,
) -> Ledger:
    """Return the ``clean`` stage of the ledger (and log the placeholder points found).

    One place for what :func:`clean_requests` records, so that a cleaning
    done in pieces (the out-of-core run of :mod:`geo311.scale`) records the
    same stage from its sums.

    Parameters
    ----------
    rows_in : int
        Rows before the repeated ids were dropped.
    dropped_ids : pandas.Series
        The ``service_request_id`` of every row dropped as a repeated id.
    flagged : mapping of str to int
        Rows kept raising each time flag (see :func:`time_flags`) and
        ``coords_placeholder``.
    placeholders : pandas.DataFrame
        The placeholder points found (:func:`~geo311.clean.placeholders.find_placeholders`).
    as_of : pandas.Timestamp
        The time the cleaning was done as of.

    Returns
    -------
    Ledger
        One stage, ``clean``.
    """
    lines = [
        f"placeholder ({r.lat}, {r.long}): {r.requests} requests, {r.addresses} addresses, "
        f"{r.unaddressed} without address, {r.types} service types ({r.reason})"
        for r in placeholders.itertuples()
    ]
    examples: dict[str, list[str]] = {}
    if len(dropped_ids):
        examples["duplicate_service_request_id"] = sorted(set(dropped_ids.astype(str)))[:5]
    if lines:
        examples["coords_placeholder"] = lines
        log.warning(
            "%s requests at %d placeholder points flagged coords_placeholder (not placed): %s",
            f"{int(placeholders['requests'].sum()):,}",
            len(lines),
            "; ".join(lines[:3]),
        )
    ledger = Ledger()
    ledger.record(
        "clean",
        rows_in=rows_in,
        rows_out=rows_in - len(dropped_ids),
        dropped={"duplicate_service_request_id": len(dropped_ids)},
        flagged=dict(flagged),
        examples=examples,
        notes=[f"as_of {as_of.isoformat()}", *lines],
    )
    return ledger


def clean_requests(
    requests: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str | None = None,
    placeholders: PlaceholderRule | None = None,
    fallback_points: Iterable[tuple[float, float]] | Mapping[str, tuple[float, float]] = (),
) -> Result:
    """Drop repeated request ids (counted), then run the cross-row checks.

    Duplicate-id rule: among rows sharing an id, keep the one with the latest
    ``updated_datetime`` (its most recent state); on a tie, the one that comes
    last in input order (later files and later rows are newer exports).  Rows
    without an id are kept and flagged ``missing_service_request_id`` upstream.

    Checks on the rows kept: placeholder points (see
    :func:`~geo311.clean.placeholders.find_placeholders`); closed before
    created; due before created; created or closed after ``as_of``; status
    closed without a close time.
    Repeated ids are removed first so that a request exported twice neither
    counts twice towards a placeholder nor raises its flags twice.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical frame from :func:`geo311.io.normalize.normalize_frame` after
        :func:`flag_coordinates`.  Not modified.
    as_of : timestamp or str, optional
        When the export was taken; default: now (UTC).  Times after it are
        flagged as being in the future.  An ISO 8601 date or time; a naive
        value is read as UTC (see :func:`geo311.io.values.parse_as_of`).
    placeholders : PlaceholderRule, optional
        Thresholds and listed points for
        :func:`~geo311.clean.placeholders.find_placeholders` (default:
        ``PlaceholderRule()``; the readers pass the profile's, updated by
        their ``placeholder_*`` options).
    fallback_points : iterable or mapping of (lat, long)
        Known geocoder fallback points (city or ZIP centroids), passed on.

    Returns
    -------
    Result
        The cleaned frame (original row order, index reset) and a one-stage
        ledger ("clean") whose flag counts refer to the rows kept and whose
        examples list placeholder points and dropped ids; its notes list
        every placeholder point with its count and reason.
    """
    as_of_ts = parse_as_of(as_of)
    if as_of_ts is None:
        as_of_ts = pd.Timestamp.now(tz="UTC")
    frame = requests.reset_index(drop=True)
    drop = repeated_ids(frame)
    dropped_ids = frame.loc[drop, "service_request_id"].astype(str)
    out = frame.loc[~drop].reset_index(drop=True) if drop.any() else frame
    rule = placeholders if placeholders is not None else PlaceholderRule()
    found = find_placeholders(out, **rule.options(), fallback_points=fallback_points)
    out["coord_quality"] = mark_placeholders(out, found)
    masks = time_flags(out, as_of_ts)
    out["qa_flags"] = add_flags(out["qa_flags"], masks)
    flagged = {k: int(v.sum()) for k, v in masks.items()}
    flagged["coords_placeholder"] = int((out["coord_quality"] == "placeholder").sum())
    ledger = clean_ledger(
        rows_in=len(frame),
        dropped_ids=dropped_ids,
        flagged=flagged,
        placeholders=found,
        as_of=as_of_ts,
    )
    log.info(
        "cleaned %s requests: %s repeated ids dropped, %s flags raised",
        f"{len(frame):,}",
        f"{int(drop.sum()):,}",
        f"{sum(count_flags(out['qa_flags']).values()):,}",
    )
    return Result(out, ledger)

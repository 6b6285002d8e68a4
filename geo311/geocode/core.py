"""Fill missing coordinates from addresses: pluggable geocoders and an on-disk cache.

The stage is :func:`geocode`.  It sends each *distinct* normalised address of
the rows that lack usable coordinates to a geocoder, once, remembering every
answer in a :class:`~geo311.geocode.cache.GeocodeCache` (SQLite) so that a repeated run never asks
again, and writes the answers back without ever overwriting good coordinates.

A geocoder is anything that follows the
:class:`~geo311.geocode.protocol.Geocoder` protocol: a ``name`` and a
``geocode_batch(frame)`` method that takes a frame of ``address``/``zipcode``
and returns one row per input row with ``lon``, ``lat``, ``score``, ``match``,
``matched_address`` and ``source``.  The offline
:class:`~geo311.geocode.reference.ReferenceGeocoder` matches against a
user-supplied table of address points; online geocoders (the US Census batch
geocoder, an ArcGIS ``findAddressCandidates`` locator) implement the same
protocol on top of the HTTP layer.

Modules: :mod:`~geo311.geocode.addresses` (normalisation),
:mod:`~geo311.geocode.protocol` (the contract), :mod:`~geo311.geocode.reference`
(offline table matching), :mod:`~geo311.geocode.cache` (answers on disk),
:mod:`~geo311.geocode.online` (Census and ArcGIS) and this module (the stage).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import pandas as pd

from geo311._errors import GeocodeError, OptionError
from geo311.clean.quality import flag_coordinates
from geo311.geocode.addresses import address_keys
from geo311.geocode.cache import GeocodeCache
from geo311.geocode.protocol import GEOCODE_COLUMNS, Geocoder, check_answer, geocoder_fingerprint
from geo311.io.schema import COORD_USABLE
from geo311.ledger import Ledger, Result

__all__ = ["NEEDS_GEOCODING", "geocode"]

log = logging.getLogger(__name__)

#: ``coord_quality`` values whose rows :func:`geocode` fills by default.
NEEDS_GEOCODING: Final = ("missing", "zero", "out_of_range", "placeholder")


def _json_value(value: object) -> object:
    """Return a JSON-safe scalar (NaN/NA become None)."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    try:
        if pd.isna(value):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if isinstance(value, np.generic) else value


def _run_geocoder(
    geocoder: Geocoder,
    keys: list[tuple[str, str | None]],
    *,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Send ``keys`` to the geocoder in batches; return the answers by key."""
    limit = getattr(geocoder, "max_batch_size", None)
    size = max(1, min(batch_size, limit) if limit else batch_size)
    answers: dict[tuple[str, str | None], dict[str, Any]] = {}
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        batch = pd.DataFrame(
            {
                "address": pd.array([k[0] for k in chunk], dtype="string"),
                "zipcode": pd.array([k[1] for k in chunk], dtype="string"),
            }
        )
        answer = check_answer(geocoder.geocode_batch(batch), batch, geocoder.name)
        fields = [c for c in [*GEOCODE_COLUMNS, "reason"] if c in answer]
        for key, row in zip(chunk, answer[fields].itertuples(index=False), strict=True):
            answers[key] = {f: _json_value(v) for f, v in zip(fields, row, strict=True)}
        if progress is not None:
            progress(min(start + size, len(keys)), len(keys))
    return answers


def _coord_quality(frame: pd.DataFrame) -> pd.Series:
    """Return ``coord_quality``, computing it with :func:`flag_coordinates` if absent."""
    if "coord_quality" in frame:
        return frame["coord_quality"].astype("string")
    if "lat" in frame and "long" in frame:
        flagged = flag_coordinates(frame[["lat", "long"]]).frame
        return flagged["coord_quality"].astype("string")
    return pd.Series("missing", index=frame.index, dtype="string")


def geocode(
    requests: pd.DataFrame,
    *,
    geocoder: Geocoder,
    only_missing: bool = True,
    cache: GeocodeCache | None = None,
    batch_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> Result:
    """Fill coordinates from addresses for rows that lack usable ones.

    Each distinct (normalised address, ZIP) is looked up in the cache and
    sent to the geocoder at most once.  Rows keep their coordinates unless
    their ``coord_quality`` is one of :data:`NEEDS_GEOCODING` (``missing``,
    ``zero``, ``out_of_range``, ``placeholder``) *and* the geocoder found an
    exact or fuzzy match; ``ambiguous`` and ``none`` answers change nothing.

    Parameters
    ----------
    requests : pandas.DataFrame or geopandas.GeoDataFrame
        Canonical frame with ``address`` and, when present, ``zipcode``,
        ``lat``, ``long`` and ``coord_quality`` (computed with
        :func:`geo311.clean.quality.flag_coordinates` when absent).
    geocoder : Geocoder
        E.g. a :class:`~geo311.geocode.reference.ReferenceGeocoder`.
    only_missing : bool, default True
        Send only rows that need coordinates.  With False every row with an
        address is sent (its answer recorded in the ``geocode_*`` columns, for
        checking a geocoder against known points), but good coordinates are
        still never overwritten.
    cache : GeocodeCache, optional
        Persistent answers; None geocodes without a cache (pass
        ``GeocodeCache()`` for the default location).
    batch_size : int, default 1000
        Addresses per ``geocode_batch`` call (capped by the geocoder's
        ``max_batch_size``).
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch, counting distinct
        addresses sent to the geocoder (cache hits excluded).
    bbox : tuple of float, optional
        ``(west, south, east, north)``; new points are checked with
        :func:`~geo311.clean.quality.flag_coordinates` against it, so a geocoded point
        outside the city becomes ``outside_area``.

    Returns
    -------
    Result
        A new frame (input untouched) with ``lat``/``long``/``coord_quality``
        (and ``geometry`` for a GeoDataFrame) filled for newly located rows,
        plus ``geocode_source``, ``geocode_score``, ``geocode_match`` (NA for
        rows not sent), and a one-stage ledger ``"geocode"`` flagging
        ``matched_exact``, ``matched_fuzzy``, ``ambiguous``, ``unmatched``,
        ``no_address``, ``skipped_good_coordinates`` and
        ``skipped_outside_area`` rows.  No row is dropped.

    Examples
    --------
    >>> import pandas as pd
    >>> from geo311.geocode.reference import ReferenceGeocoder
    >>> table = pd.DataFrame({"a": ["5 Oak Rd, X, 21201"], "x": [-76.6], "y": [39.3]})
    >>> ref = ReferenceGeocoder(table, address_column="a", lon_column="x", lat_column="y")
    >>> df = pd.DataFrame({"address": ["5 OAK ROAD", "9 ELM ST"], "zipcode": ["21201", None],
    ...                    "lat": [None, 39.2], "long": [None, -76.5]})
    >>> frame, ledger = geocode(df, geocoder=ref)
    >>> frame[["lat", "long", "coord_quality", "geocode_match"]]
        lat  long coord_quality geocode_match
    0  39.3 -76.6            ok         exact
    1  39.2 -76.5            ok          <NA>
    """
    if not isinstance(geocoder, Geocoder):
        msg = (
            f"geocoder must have a 'name' and a 'geocode_batch(frame)' method, got "
            f"{type(geocoder).__name__}; use e.g. ReferenceGeocoder.from_file(...)"
        )
        raise GeocodeError(msg)
    if batch_size < 1:
        msg = f"batch_size must be at least 1, got {batch_size}; pass a positive batch size"
        raise OptionError(msg)
    if "address" not in requests:
        msg = (
            f"geocoding needs an 'address' column; found {list(requests.columns)[:12]}. "
            "Map the source's address field to 'address' in its schema profile."
        )
        raise GeocodeError(msg)

    out = requests.copy()
    n = len(out)
    quality = _coord_quality(out)
    needs = quality.isin(NEEDS_GEOCODING).to_numpy(dtype=bool)
    good = quality.isin(COORD_USABLE).to_numpy(dtype=bool)
    keys = address_keys(out)
    has_address = (keys["address"] != "").to_numpy(dtype=bool)
    send = has_address & (np.ones(n, dtype=bool) if not only_missing else needs)

    key_list = list(
        zip(
            keys["address"].astype(object),
            keys["zipcode"].astype(object).where(keys["zipcode"].notna(), None),
            strict=True,
        )
    )
    distinct = sorted({k for k, s in zip(key_list, send, strict=True) if s}, key=_sort_key)
    fingerprint = geocoder_fingerprint(geocoder)
    answers, hits = _lookup(
        geocoder, distinct, cache=cache, batch_size=batch_size, progress=progress
    )

    def field(name: str) -> list[Any]:
        return [answers[k].get(name) if s else None for k, s in zip(key_list, send, strict=True)]

    match = pd.array(field("match"), dtype="string")
    lon = np.array([np.nan if v is None else v for v in field("lon")], dtype=float)
    lat = np.array([np.nan if v is None else v for v in field("lat")], dtype=float)
    match_np = np.asarray(match.fillna("").astype(object))
    located = np.isin(match_np, ["exact", "fuzzy"]) & np.isfinite(lon) & np.isfinite(lat)
    fill = located & needs
    _write_points(out, quality, lat=lat, lon=lon, rows=fill, bbox=bbox)
    out["geocode_source"] = pd.Series(pd.array(field("source"), dtype="string"), index=out.index)
    out["geocode_score"] = pd.Series(pd.array(field("score"), dtype="Float64"), index=out.index)
    out["geocode_match"] = pd.Series(match, index=out.index)

    flagged = {
        "matched_exact": int((match_np == "exact").sum()),
        "matched_fuzzy": int((match_np == "fuzzy").sum()),
        "ambiguous": int((match_np == "ambiguous").sum()),
        "unmatched": int((match_np == "none").sum()),
        "no_address": int((needs & ~has_address).sum()),
        "skipped_good_coordinates": int((good & ~send).sum()),
        "skipped_outside_area": int(((quality == "outside_area").to_numpy(bool) & ~send).sum()),
        "filled_coordinates": int(fill.sum()),
    }
    examples = {
        reason: sorted({k[0] for k, m in zip(key_list, match_np, strict=True) if m == value})
        for reason, value in (("unmatched", "none"), ("ambiguous", "ambiguous"))
    }
    ledger = Ledger()
    ledger.record(
        "geocode",
        rows_in=n,
        rows_out=n,
        flagged=flagged,
        examples=examples,
        notes=[
            f"geocoder {fingerprint}",
            f"{len(distinct):,} distinct addresses: {hits:,} from cache, "
            f"{len(distinct) - hits:,} sent to the geocoder",
        ],
    )
    log.info(
        "geocoded %s of %s rows needing coordinates (%s exact, %s fuzzy, %s ambiguous, "
        "%s unmatched, %s without address); %s distinct addresses, %s from cache",
        f"{int(fill.sum()):,}",
        f"{int(needs.sum()):,}",
        f"{flagged['matched_exact']:,}",
        f"{flagged['matched_fuzzy']:,}",
        f"{flagged['ambiguous']:,}",
        f"{flagged['unmatched']:,}",
        f"{flagged['no_address']:,}",
        f"{len(distinct):,}",
        f"{hits:,}",
    )
    return Result(out, ledger)


def _lookup(
    geocoder: Geocoder,
    keys: list[tuple[str, str | None]],
    *,
    cache: GeocodeCache | None,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[tuple[str, str | None], dict[str, Any]], int]:
    """Answer ``keys`` from the cache, then the geocoder; return answers and cache hits."""
    fingerprint = geocoder_fingerprint(geocoder)
    answers = cache.get_many(fingerprint, keys) if cache is not None else {}
    hits = len(answers)
    todo = [k for k in keys if k not in answers]
    fresh = _run_geocoder(geocoder, todo, batch_size=batch_size, progress=progress)
    if cache is not None and fresh:
        cache.put_many(fingerprint, fresh)
    answers.update(fresh)
    return answers, hits


def _write_points(
    out: pd.DataFrame,
    quality: pd.Series,
    *,
    lat: np.ndarray,
    lon: np.ndarray,
    rows: np.ndarray,
    bbox: tuple[float, float, float, float] | None,
) -> None:
    """Write geocoded points into ``rows`` of ``out`` (in place), re-flagging them."""
    if not rows.any():
        out["coord_quality"] = quality
        return
    new = flag_coordinates(pd.DataFrame({"lat": lat[rows], "long": lon[rows]}), bbox=bbox).frame
    n = len(out)
    for column, values in (("lat", new["lat"]), ("long", new["long"])):
        current = (
            out[column].to_numpy(dtype=float, na_value=np.nan).copy()
            if column in out
            else np.full(n, np.nan)
        )
        current[rows] = values.to_numpy(dtype=float)
        out[column] = current
    q = quality.astype(object).to_numpy().copy()
    q[rows] = new["coord_quality"].astype(object).to_numpy()
    out["coord_quality"] = pd.Series(q, index=out.index, dtype="string")
    _rebuild_geometry(out, rows)


def _sort_key(key: tuple[str, str | None]) -> tuple[str, str]:
    """Order (address, zip) keys deterministically with None ZIPs first."""
    return key[0], key[1] or ""


def _rebuild_geometry(frame: pd.DataFrame, rows: np.ndarray) -> None:
    """Set point geometries of ``rows`` from ``long``/``lat`` (GeoDataFrames only)."""
    geometry_name = getattr(frame, "_geometry_column_name", None)
    if geometry_name is None or geometry_name not in frame:
        return
    import geopandas as gpd  # noqa: PLC0415 - geometry only exists with geopandas

    crs = frame.crs
    points = gpd.points_from_xy(
        frame["long"].to_numpy(dtype=float)[rows],
        frame["lat"].to_numpy(dtype=float)[rows],
        crs="EPSG:4326",
    )
    series = gpd.GeoSeries(points, crs="EPSG:4326")
    if crs is not None and not crs.equals(series.crs):
        series = series.to_crs(crs)
    usable = np.isin(
        frame["coord_quality"].to_numpy(dtype=object)[rows], [*COORD_USABLE, "outside_area"]
    )
    values = frame[geometry_name].array.copy()
    positions = np.flatnonzero(rows)
    new_values = series.array
    for pos, geom, ok in zip(positions, new_values, usable, strict=True):
        values[pos] = geom if ok else None
    frame[geometry_name] = gpd.GeoSeries(values, index=frame.index, crs=crs)

"""Assign every request to one area of every boundary layer, exactly and fast.

:func:`assign_areas` adds three columns per layer key ``<key>``:

``<key>_id``, ``<key>_name``
    The area's id and name (missing when the request was not placed).
``<key>_vintage``
    The boundary vintage used for the request.
``<key>_join``
    How the request was placed, or why not (:data:`JOIN_STATUS`).

All four are :class:`pandas.Categorical` columns (an ``int8``/``int16`` code
per row) over sorted ``str`` categories that depend on the layer only, not on
the requests: every id, name and vintage of the layer's vintages (an id found
in several vintages is one category) and every status of
:data:`JOIN_STATUS`.  So chunks joined one by one concatenate with
:func:`pandas.concat` into the same categoricals, and ``value_counts`` lists
the areas and statuses without requests too (with 0).

Boundary rule: a point belongs to an area when the polygon *covers* it
(interior or boundary).  A point on an edge or vertex shared by several areas
is given to exactly one of them — the area on its north-east side (see
:mod:`geo311.join.spatial_index`) — and counted as ``edge_tie``.  A point is never
duplicated and never dropped: points outside every polygon stay in the frame
with the reason.

Vintages: each request is joined to the vintage valid on its
``requested_datetime`` (``valid_from <= t < valid_to``, on the city's local
calendar: a manifest date is local midnight), or to
a vintage the caller pins.  A request dated outside every vintage's validity
uses the nearest vintage in time and is counted as ``vintage_outside_validity``;
a request whose valid vintage has no local file is not placed
(``no_vintage_file``) rather than silently joined to another plan.

The function is pure in its inputs: it can run chunk by chunk.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo311._errors import OptionError, SchemaError
from geo311.crs import projected_crs
from geo311.join.index_cache import cached_index, cached_outline
from geo311.join.label_qa import LabelCheck, compare_labels
from geo311.join.layers import Layer, layer_from_file, load_layers
from geo311.join.manifest import LabelSpec, ManifestError, load_manifest
from geo311.join.spatial_index import AreaIndex
from geo311.join.validate import raise_or_warn
from geo311.ledger import Ledger, Result
from geo311.progress import ProgressHook, report

__all__ = ["JOIN_STATUS", "MIN_REQUESTS_CHECKED", "CityJoin", "assign_areas", "join_city"]

log = logging.getLogger(__name__)

#: Values of ``<key>_join``.
JOIN_STATUS: dict[str, str] = {
    "assigned": "inside exactly one area",
    "edge_tie": "on a boundary shared by several areas; given to the north-east one",
    "snapped": "outside every area but within the tolerance of the nearest one",
    "missing_coords": "the request has no coordinates",
    "bad_coords": "coordinates at (0, 0) or out of range",
    "placeholder": "coordinates are a placeholder point (see geo311.find_placeholders)",
    "outside": "outside the area covered by the layer",
    "gap": "inside the layer's outline but in a gap between areas (e.g. water)",
    "no_vintage_file": "the vintage valid at the request date has no local boundary file",
    "no_date": "no requested_datetime to choose a vintage with",
}

#: A layer vintage that places none of at least this many located requests dated in
#: it is refused (LayerError): its coordinates are wrong, or the requests are from
#: another city.  Below it, a few requests all just outside the city are plausible.
MIN_REQUESTS_CHECKED = 10

_STATUS = tuple(JOIN_STATUS)
_CODE = {status: np.int8(i) for i, status in enumerate(_STATUS)}
_JOINABLE = ("ok", "swapped", "outside_area")
_REASON_BY_QUALITY = {
    "missing": "missing_coords",
    "zero": "bad_coords",
    "out_of_range": "bad_coords",
    "placeholder": "placeholder",
}
_REQUIRED = ("lat", "long", "coord_quality", "requested_datetime")
# Built indexes and outlines, by layer content hash: boundary files rarely change.
# Bounded, least recently used first out: a default index grid can take 16 MiB.
_CACHE_SIZE = 32
_INDEXES: OrderedDict[str, AreaIndex] = OrderedDict()
_OUTLINES: OrderedDict[str, shapely.Geometry] = OrderedDict()
_T = TypeVar("_T")


def _layer_key(layer: Layer) -> str:
    """Content key of a layer's geometries.

    ``Layer.sha256`` when set (the file's hash, from :func:`read_layer`);
    otherwise a hash of the geometries themselves.  Never an object id, which
    Python reuses once a frame is freed and would hand out a stale index.
    """
    if layer.sha256:
        return layer.sha256
    digest = hashlib.sha256()
    for wkb in shapely.to_wkb(layer.gdf.geometry.to_numpy()):
        digest.update(wkb)
    return "wkb:" + digest.hexdigest()


def _remember(cache: OrderedDict[str, _T], key: str, make: Callable[[], _T]) -> _T:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = make()
    cache[key] = value
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return value


def _index(layer: Layer, key: str, cache_dir: Path | None) -> AreaIndex:
    return _remember(
        _INDEXES,
        key,
        lambda: cached_index(layer.gdf.geometry.to_numpy(), cache_dir=cache_dir),
    )


def _outline(layer: Layer, key: str, cache_dir: Path | None) -> shapely.Geometry:
    """Return the layer's union with interior holes filled (its outline), prepared."""
    return _remember(
        _OUTLINES,
        key,
        lambda: cached_outline(layer.gdf.geometry.to_numpy(), key=key, cache_dir=cache_dir),
    )


def _check_call(
    requests: pd.DataFrame,
    layers: Mapping[str, Sequence[Layer]],
    pins: Mapping[str, str],
    tolerance_m: float,
) -> None:
    """Raise once for every problem with the arguments of :func:`assign_areas`."""
    missing = [c for c in _REQUIRED if c not in requests.columns]
    if missing:
        msg = (
            f"requests lack the column(s) {missing} that the join reads; read them with "
            "geo311.read_requests or geo311.requests_from_frame to get canonical columns"
        )
        raise SchemaError(msg)
    problems = [f"layer {key!r} has no vintages" for key, vints in layers.items() if not vints]
    problems.extend(
        f"a vintage is pinned for layer {key!r}, which is not joined; layers: {list(layers)}"
        for key in pins
        if key not in layers
    )
    for key, pinned in pins.items():
        names = [v.vintage for v in layers.get(key, ())]
        if key in layers and pinned not in names:
            problems.append(f"vintage {pinned!r} of layer {key!r} is not one of {names}")
    if problems:
        msg = "; ".join(problems)
        raise ManifestError(msg)
    if not (math.isfinite(tolerance_m) and tolerance_m >= 0):
        msg = f"tolerance_m must be a finite number of metres >= 0, got {tolerance_m!r}"
        raise OptionError(msg)


def _local_times(times: pd.Series, timezone: str) -> np.ndarray:
    """Wall-clock times in ``timezone`` (vintage dates are local calendar days)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert(timezone).dt.tz_localize(None)
    return times.to_numpy(dtype="datetime64[us]", na_value=np.datetime64("NaT"))


def _choose_vintage(
    times: pd.Series, vintages: Sequence[Layer], pinned: str | None, timezone: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per row: position into ``vintages`` (-1 none), outside-validity, no-date."""
    n = len(times)
    if pinned is not None:
        names = [v.vintage for v in vintages]
        return np.full(n, names.index(pinned)), np.zeros(n, bool), np.zeros(n, bool)
    stamp = _local_times(times, timezone)
    no_date = np.isnat(stamp)
    if len(vintages) == 1:
        # Nothing to choose between: undated rows are joined too.
        only = vintages[0]
        valid = np.ones(n, dtype=bool)
        if only.valid_from:
            valid &= stamp >= np.datetime64(only.valid_from, "us")
        if only.valid_to:
            valid &= stamp < np.datetime64(only.valid_to, "us")
        return np.zeros(n, dtype=int), ~valid & ~no_date, np.zeros(n, dtype=bool)
    lows = np.array(
        [
            np.datetime64(v.valid_from, "us") if v.valid_from else np.datetime64("NaT")
            for v in vintages
        ]
    )
    highs = np.array(
        [np.datetime64(v.valid_to, "us") if v.valid_to else np.datetime64("NaT") for v in vintages]
    )
    choice = np.full(n, -1)
    best_from = np.full(n, np.datetime64("NaT", "us"))
    for i in range(len(vintages)):
        ok = ~no_date
        if not np.isnat(lows[i]):
            ok &= stamp >= lows[i]
        if not np.isnat(highs[i]):
            ok &= stamp < highs[i]
        # Overlapping validity: the later-starting vintage wins.
        later = np.isnat(best_from) | (~np.isnat(lows[i]) & (lows[i] > best_from))
        take = ok & ((choice < 0) | later)
        choice[take] = i
        best_from[take] = lows[i]
    outside = (choice < 0) & ~no_date
    if outside.any():
        # Nearest vintage in time: distance to its validity interval.
        dist = np.zeros((len(vintages), int(outside.sum())), dtype="float64")
        t = stamp[outside].astype("int64").astype("float64")
        for i in range(len(vintages)):
            lo = lows[i].astype("int64") if not np.isnat(lows[i]) else -np.inf
            hi = highs[i].astype("int64") if not np.isnat(highs[i]) else np.inf
            dist[i] = np.maximum(lo - t, 0) + np.maximum(t - hi, 0)
        choice[outside] = np.argmin(dist, axis=0)
    return choice, outside, no_date


def _snap(layer: Layer, lon: np.ndarray, lat: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Nearest area within ``tolerance_m`` metres (projected CRS), else -1; ties -> lowest."""
    crs = projected_crs(layer.gdf, preferred=layer.projected_crs, where=f"layer {layer.key!r}")
    areas = layer.gdf.geometry.to_crs(crs).to_numpy()
    points = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs).to_numpy()
    pairs = shapely.STRtree(areas).query_nearest(
        points, max_distance=tolerance_m, all_matches=True
    )
    out = np.full(len(lon), -1)
    if pairs.size:
        pairs = pairs[:, np.lexsort((pairs[1], pairs[0]))]
        first = np.r_[True, pairs[0, 1:] != pairs[0, :-1]]
        out[pairs[0, first]] = pairs[1, first]
    return out


def assign_areas(
    requests: pd.DataFrame,
    layers: Mapping[str, Sequence[Layer]],
    *,
    vintages: Mapping[str, str] | None = None,
    tolerance_m: float = 0.0,
    cache_dir: Path | None = None,
    timezone: str | None = None,
    allow_invalid: bool = False,
    progress: ProgressHook | None = None,
) -> Result:
    """Add ``<key>_id``, ``<key>_name``, ``<key>_vintage``, ``<key>_join`` per layer.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests (``lat``, ``long``, ``coord_quality``,
        ``requested_datetime``), e.g. from :func:`geo311.read_requests`.  Not
        modified.
    layers : mapping of str to sequence of Layer
        Layer key -> its vintages (from :func:`geo311.join.layers.load_layers`).
        A vintage whose ``frame`` is None has no local file.
    vintages : mapping of str to str, optional
        Pin a vintage per layer key instead of choosing by request date.
    tolerance_m : float, default 0
        Assign located points outside every area to the nearest area within
        this many metres (measured in the layer's projected CRS); counted as
        ``snapped``.
    cache_dir : pathlib.Path, optional
        Where built spatial indexes are cached on disk, keyed by content.
    timezone : str, optional
        IANA zone in which vintage dates are read (local midnight); default
        ``requests.attrs["timezone"]``, else UTC.
    allow_invalid : bool, default False
        Log a WARNING instead of raising LayerError when a layer vintage
        contains none of the located requests dated in it (checked when
        there are at least :data:`MIN_REQUESTS_CHECKED`).
    progress : ProgressHook, optional
        Told the layers joined so far (step ``"join"``; see :mod:`geo311.progress`).

    Returns
    -------
    Result
        The frame with the new columns, and a ledger with one stage per layer
        (``join:<key>``) flagging every status other than ``assigned``.

    Raises
    ------
    SchemaError
        ``requests`` lacks a column the join reads (naming them).
    ManifestError
        A layer without vintages, or a pinned vintage or layer that does not
        exist (listing every such problem and the valid names).
    OptionError
        ``tolerance_m`` is negative or not finite.
    LayerError
        A layer vintage contains none of the located requests dated in it
        (its coordinates are in another CRS or swapped, or the requests are
        from another city), unless ``allow_invalid``.
    """
    pins = dict(vintages or {})
    zone = timezone or requests.attrs.get("timezone") or "UTC"
    _check_call(requests, layers, pins, tolerance_m)
    out = requests.copy()
    n = len(out)
    ledger = Ledger()
    quality = out["coord_quality"].astype("string").to_numpy(dtype=object, na_value="missing")
    status = np.full(n, _CODE["outside"], dtype=np.int8)
    for value, reason in _REASON_BY_QUALITY.items():
        status[quality == value] = _CODE[reason]
    points = _Points(
        lon=out["long"].to_numpy(dtype="float64", na_value=np.nan),
        lat=out["lat"].to_numpy(dtype="float64", na_value=np.nan),
        joinable=np.isin(quality, _JOINABLE),
        status=status,
    )
    for done, (key, vints) in enumerate(layers.items(), start=1):
        choice, outside_validity, no_date = _choose_vintage(
            out["requested_datetime"], vints, pins.get(key), zone
        )
        cols, codes = _join_layer(
            points,
            vints,
            choice,
            no_date,
            tolerance_m=tolerance_m,
            cache_dir=cache_dir,
            allow_invalid=allow_invalid,
        )
        for suffix, values in cols.items():
            out[f"{key}_{suffix}"] = pd.Series(values, index=out.index)
        tally = np.bincount(codes, minlength=len(_STATUS))
        counts = dict(zip(_STATUS, tally.tolist(), strict=True))
        flagged = {s: int(c) for s, c in counts.items() if s != "assigned" and c}
        flagged["vintage_outside_validity"] = int(outside_validity.sum())
        used = [v.vintage for i, v in enumerate(vints) if (choice == i).any()]
        ledger.record(
            f"join:{key}",
            rows_in=n,
            rows_out=n,
            flagged=flagged,
            notes=[f"vintages used: {', '.join(used) or 'none'}", f"tolerance_m={tolerance_m}"],
        )
        log.info(
            "assigned %s requests to %s %s (vintage %s); %s outside, %s in gaps, "
            "%s on shared edges",
            f"{int(counts['assigned'] + counts['edge_tie']):,}",
            "/".join(str(len(v.gdf)) for v in vints if v.has_file and v.vintage in used),
            key,
            ", ".join(used) or "none",
            f"{int(counts['outside']):,}",
            f"{int(counts['gap']):,}",
            f"{int(counts['edge_tie']):,}",
        )
        report(progress, "join", done, len(layers), unit="layers")
    return Result(out, ledger)


class _Points(NamedTuple):
    lon: np.ndarray
    lat: np.ndarray
    joinable: np.ndarray
    status: np.ndarray  # int8 status codes of rows that are not joined, from coord_quality


def _categorical(codes: np.ndarray, labels: np.ndarray) -> pd.Categorical:
    """Return ``labels[codes]`` as a categorical over every label, sorted.

    A code of -1 and a missing label are missing values.  Labels repeated in
    ``labels`` (an area id in several vintages) are one category.
    """
    text = [None if pd.isna(v) else str(v) for v in labels]
    categories = sorted({t for t in text if t is not None})
    position = {c: i for i, c in enumerate(categories)}
    recode = np.array([-1 if t is None else position[t] for t in text] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(
        recode[codes], categories=pd.Index(categories, dtype=object), validate=False
    )


def _join_layer(
    points: _Points,
    vints: Sequence[Layer],
    choice: np.ndarray,
    no_date: np.ndarray,
    *,
    tolerance_m: float,
    cache_dir: Path | None,
    allow_invalid: bool,
) -> tuple[dict[str, pd.Categorical], np.ndarray]:
    """Place every row in one layer; return the id/name/vintage/join columns and status codes.

    Work is done on integer codes (area positions, status numbers); the columns
    are categoricals over those codes, so no label is repeated per row.
    """
    n = len(points.lon)
    ids = [v.gdf["area_id"].to_numpy(dtype=object) if v.has_file else np.array([]) for v in vints]
    names = [
        v.gdf["area_name"].to_numpy(dtype=object) if v.has_file else np.array([]) for v in vints
    ]
    offsets = np.cumsum([0] + [len(a) for a in ids])
    area_code = np.full(n, -1, dtype=np.int64)  # position in the concatenated vintages
    status = points.status.copy()
    status[no_date & points.joinable] = _CODE["no_date"]
    lon, lat = points.lon, points.lat
    for i, layer in enumerate(vints):
        rows = np.flatnonzero(choice == i)
        if not layer.has_file:
            status[rows[points.joinable[rows]]] = _CODE["no_vintage_file"]
            continue
        rows = rows[points.joinable[rows]]
        if not len(rows):
            continue
        content = _layer_key(layer)
        located = _index(layer, content, cache_dir).locate(lon[rows], lat[rows])
        area = located.area.copy()
        hit = area >= 0
        status[rows[hit]] = np.where(located.tie[hit], _CODE["edge_tie"], _CODE["assigned"])
        missed = rows[~hit]
        if len(missed) and tolerance_m > 0:
            near = _snap(layer, lon[missed], lat[missed], tolerance_m)
            got = near >= 0
            area[np.flatnonzero(~hit)[got]] = near[got]
            status[missed[got]] = _CODE["snapped"]
            missed = missed[~got]
        if len(missed):
            inside = shapely.intersects_xy(
                _outline(layer, content, cache_dir), lon[missed], lat[missed]
            )
            status[missed] = np.where(inside, _CODE["gap"], _CODE["outside"])
        placed = area >= 0
        if len(rows) >= MIN_REQUESTS_CHECKED and not placed.any():
            _nothing_placed(layer, len(rows), allow_invalid=allow_invalid)
        area_code[rows[placed]] = offsets[i] + area[placed]
    columns = {
        "id": _categorical(area_code, np.concatenate(ids)),
        "name": _categorical(area_code, np.concatenate(names)),
        "vintage": _categorical(choice, np.array([v.vintage for v in vints], dtype=object)),
        "join": _categorical(status, np.array(_STATUS, dtype=object)),
    }
    return columns, status


def _nothing_placed(layer: Layer, n: int, *, allow_invalid: bool) -> None:
    """Refuse (or warn about) a layer vintage that holds none of its located requests."""
    vintage = f" vintage {layer.vintage!r}" if layer.vintage else ""
    raise_or_warn(
        f"{layer.path or layer.source or 'a GeoDataFrame'}: layer {layer.key!r}{vintage} "
        f"contains none of the {n:,} located requests dated in it; are the layer's "
        "coordinates in the CRS it declares (x and y not swapped), and are the requests "
        "from the same city? Check the boundary file and --city",
        allow_invalid=allow_invalid,
        then="count them all as outside",
    )


class CityJoin(NamedTuple):
    """What :func:`join_city` returns."""

    frame: pd.DataFrame
    ledger: Ledger
    layers: dict[str, list[Layer]]
    checks: list[LabelCheck]


def join_city(
    requests: pd.DataFrame,
    *,
    city: str | Path | None = None,
    layers: Sequence[str] | None = None,
    extra_layers: Mapping[str, str | Path] | None = None,
    id_field: str | None = None,
    name_field: str | None = None,
    vintages: Mapping[str, str] | None = None,
    tolerance_m: float = 0.0,
    qa: bool = False,
    near_m: float = 50.0,
    cache_dir: Path | None = None,
    allow_invalid: bool = False,
    data_dir: str | Path | None = None,
    progress: ProgressHook | None = None,
) -> CityJoin:
    """Load a city's boundary layers (and any user layers) and assign requests to them.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests.  Not modified.
    city : str or pathlib.Path, optional
        A built-in city (``"baltimore"``, ``"los_angeles"``) or a manifest TOML.
    layers : sequence of str, optional
        Layer keys of the city to use (default: every layer).
    extra_layers : mapping of str to path, optional
        User polygon files by layer name, read with ``id_field``/``name_field``.
    id_field, name_field : str, optional
        Id and name columns of the ``extra_layers`` files.
    vintages, tolerance_m, cache_dir
        As in :func:`assign_areas`.
    qa : bool, default False
        Compare the assignment with the city's own labels (manifest ``label``).
    near_m : float, default 50
        Distance for the ``near_boundary`` mismatch category.
    allow_invalid : bool, default False
        Warn instead of raising for layers that fail validation (see
        :func:`geo311.join.layers.load_layers`) or hold none of the requests.
    data_dir : str or pathlib.Path, optional
        A folder searched first for the city's boundary files (``--data-dir``;
        see :func:`geo311.join.files.find_layer_file`).
    progress : ProgressHook, optional
        Told the boundary files read and the layers joined so far (steps
        ``"boundaries"`` and ``"join"``; see :mod:`geo311.progress`).

    Returns
    -------
    CityJoin
        ``(frame, ledger, layers, checks)``.

    Raises
    ------
    SchemaError
        A user layer without ``id_field``/``name_field``, or whose file lacks them.
    ManifestError
        No layer to join, or an unknown city, layer or vintage.
    InputFileError
        A boundary file is missing (saying where it was looked for).
    LayerError, CRSError
        A layer fails validation or contains none of the requests (unless
        ``allow_invalid``).
    """
    chosen: dict[str, list[Layer]] = {}
    labels: dict[str, LabelSpec] = {}
    timezone = None
    if city is not None:
        manifest = load_manifest(city)
        chosen.update(
            load_layers(
                manifest,
                layers=layers,
                allow_invalid=allow_invalid,
                data_dir=data_dir,
                progress=progress,
            )
        )
        labels = {k: v for k, v in manifest.labels().items() if k in chosen}
        timezone = manifest.timezone
    for name, path in (extra_layers or {}).items():
        if id_field is None or name_field is None:
            msg = (
                f"layer {name!r} ({path}): give its id and name fields (--id-field, --name-field)"
            )
            raise SchemaError(msg)
        chosen[name] = [
            layer_from_file(
                name, path, id_field=id_field, name_field=name_field, allow_invalid=allow_invalid
            )
        ]
    if not chosen:
        msg = (
            "no boundary layers to join: give a city (--city) or a layer file (--layer NAME=PATH)"
        )
        raise ManifestError(msg)
    if qa and labels and not any(str(c).startswith("raw_") for c in requests.columns):
        msg = (
            "qa=True compares the export's own area labels, but these requests carry no "
            "source columns: read them with keep_raw=True (geo311 ingest --keep-raw)"
        )
        raise OptionError(msg)
    frame, ledger = assign_areas(
        requests,
        chosen,
        vintages=vintages,
        tolerance_m=tolerance_m,
        cache_dir=cache_dir,
        timezone=timezone,
        allow_invalid=allow_invalid,
        progress=progress,
    )
    checks = compare_labels(frame, chosen, labels, near_m=near_m) if qa else []
    return CityJoin(frame, ledger, chosen, checks)

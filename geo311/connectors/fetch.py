"""Download 311 requests from city portals: ArcGIS layers, Socrata SODA and Open311.

Each connector is a plain function that pages through one source and writes
ONE output file that :func:`geo311.read_requests` reads with the matching
profile, plus a ``<file>.provenance.json`` sidecar
(:func:`geo311.connectors._client.write_provenance`).

Downloads are resumable.  Pages are saved as they arrive into a work folder
next to the output (``.<name>.partial/``) together with a small
``state.json`` recording the last complete page; an interrupted run (error,
Ctrl-C, crash) continues from there when called again with the same query,
and the output file only appears, atomically, once every page is in.  A run
with a different query discards the stale work folder.

=================  ============================================  =====================
connector          source                                         read it with
=================  ============================================  =====================
:func:`fetch_arcgis`   ArcGIS FeatureServer/MapServer layer query  ``schema="baltimore"``
:func:`fetch_socrata`  Socrata SODA ``/resource/<id>.json``        ``schema="los_angeles"``
:func:`fetch_open311`  Open311 GeoReport v2 ``requests.json``      ``schema="open311"``
=================  ============================================  =====================

:func:`fetch_boundaries` downloads the boundary layers a city manifest
declares with an ArcGIS service as their source, into the cache folder the
boundary loader searches (``<cache>/boundaries/<city>/``), as GeoJSON.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from geo311 import settings
from geo311._errors import OutputExistsError, ProfileError
from geo311.connectors._client import FetchError, HttpClient, redact_url, write_provenance
from geo311.io.atomic import atomic_write

__all__ = [
    "FetchProgress",
    "FetchResult",
    "city_layer_url",
    "fetch_arcgis",
    "fetch_boundaries",
    "fetch_open311",
    "fetch_socrata",
    "open311_windows",
]

log = logging.getLogger(__name__)

#: The widest window an Open311 GeoReport v2 ``requests.json`` query may span.
OPEN311_MAX_WINDOW_DAYS = 90
_STATE_VERSION = 1


@dataclass(frozen=True)
class FetchProgress:
    """What a progress callback receives after every saved page.

    Attributes
    ----------
    pages : int
        Pages saved so far (including pages resumed from an earlier run).
    rows : int
        Rows saved so far (before de-duplication).
    seconds : float
        Time spent in this run.
    total : int or None
        Rows expected in all, when the source says (ArcGIS object-id batches).
    """

    pages: int
    rows: int
    seconds: float
    total: int | None = None


@dataclass(frozen=True)
class FetchResult:
    """What a connector returns.

    Attributes
    ----------
    path : pathlib.Path
        The output file.
    rows : int
        Rows written (after de-duplication).
    pages : int
        Pages fetched in all, including pages resumed from an earlier run.
    seconds : float
        Wall time of this run.
    resumed_pages : int
        Pages that came from an interrupted earlier run.
    provenance : pathlib.Path
        The ``.provenance.json`` sidecar.
    """

    path: Path
    rows: int
    pages: int
    seconds: float
    resumed_pages: int = 0
    provenance: Path = field(default_factory=Path)

    @property
    def rows_per_second(self) -> float:
        """Rows written per second of this run."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


ProgressCallback = Callable[[FetchProgress], None]


# -- resumable page store ----------------------------------------------------------------------


class _PageStore:
    """Pages of one download, saved next to the output until the download completes."""

    def __init__(self, out: Path, *, query: Mapping[str, Any]) -> None:
        self.out = out
        self.dir = out.with_name(f".{out.name}.partial")
        self.fingerprint = hashlib.sha256(
            json.dumps(query, sort_keys=True, default=str).encode()
        ).hexdigest()
        self.state: dict[str, Any] = {}
        state_file = self.dir / "state.json"
        if state_file.is_file():
            try:
                state = json.loads(state_file.read_text(encoding="utf-8"))
            except ValueError:
                state = {}
            if state.get("fingerprint") == self.fingerprint and state.get("v") == _STATE_VERSION:
                self.state = state
                log.info(
                    "resuming %s after page %d (%s rows saved)",
                    out,
                    state["pages"],
                    f"{state['rows']:,}",
                )
            else:
                log.info("discarding %s: it belongs to a different query", self.dir)
                shutil.rmtree(self.dir)
        if not self.state:
            self.state = {
                "v": _STATE_VERSION,
                "fingerprint": self.fingerprint,
                "pages": 0,
                "rows": 0,
            }
        self.resumed_pages = int(self.state["pages"])

    @property
    def pages(self) -> int:
        return int(self.state["pages"])

    @property
    def rows(self) -> int:
        return int(self.state["rows"])

    def _write(self, name: str, data: Any) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.dir / name) as tmp:
            tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")

    def load(self, name: str) -> Any:
        path = self.dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def save_extra(self, name: str, data: Any) -> None:
        """Save connector data that must survive a restart (e.g. the object-id list)."""
        self._write(name, data)

    def add_page(self, records: list[Any], **cursor: Any) -> None:
        """Save one complete page, then record it (and the cursor) in the state file."""
        number = self.pages + 1
        self._write(f"page-{number:06d}.json", records)
        self.state.update(cursor)
        self.state["pages"] = number
        self.state["rows"] = self.rows + len(records)
        self._write("state.json", self.state)

    def set_cursor(self, **cursor: Any) -> None:
        """Record a cursor move that saved no page."""
        self.state.update(cursor)
        self._write("state.json", self.state)

    def iter_pages(self) -> Iterator[list[Any]]:
        for number in range(1, self.pages + 1):
            yield json.loads((self.dir / f"page-{number:06d}.json").read_text(encoding="utf-8"))

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class _Progress:
    """Log and report progress, one line per page."""

    def __init__(self, label: str, store: _PageStore, callback: ProgressCallback | None) -> None:
        self.label = label
        self.store = store
        self.callback = callback
        self.started = time.monotonic()
        self.start_rows = store.rows

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def page(self, *, total: int | None = None) -> None:
        seconds = self.seconds
        new_rows = self.store.rows - self.start_rows
        rate = new_rows / seconds if seconds > 0 else 0.0
        of_total = f" of {total:,}" if total is not None else ""
        log.info(
            "%s: page %d, %s%s rows (%s rows/s)",
            self.label,
            self.store.pages,
            f"{self.store.rows:,}",
            of_total,
            f"{rate:,.0f}",
        )
        if self.callback is not None:
            self.callback(FetchProgress(self.store.pages, self.store.rows, seconds, total))


def _prepare_out(out: str | Path, *, overwrite: bool) -> Path:
    path = Path(out)
    if path.exists() and not overwrite:
        msg = f"output exists: {path}; pass --overwrite (overwrite=True) to replace it"
        raise OutputExistsError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _client(client: HttpClient | None, *, refresh: bool, cache: bool, **kw: Any) -> HttpClient:
    if client is not None:
        return client
    return HttpClient(cache=cache, refresh=refresh, **kw)


def _finish(
    store: _PageStore,
    progress: _Progress,
    *,
    out: Path,
    rows: int,
    source_url: str,
    params: Mapping[str, Any],
    extra: Mapping[str, Any],
) -> FetchResult:
    sidecar = write_provenance(
        out,
        source_url=source_url,
        params=params,
        rows=rows,
        extra={"pages": store.pages, **extra},
    )
    store.discard()
    seconds = progress.seconds
    log.info(
        "wrote %s: %s rows from %d pages in %.1f s (%s rows/s)",
        out,
        f"{rows:,}",
        store.pages,
        seconds,
        f"{rows / seconds if seconds > 0 else 0:,.0f}",
    )
    return FetchResult(out, rows, store.pages, seconds, store.resumed_pages, sidecar)


# -- ArcGIS --------------------------------------------------------------------------------------


def city_layer_url(city: str | Path, year: int) -> str:
    """Return the ArcGIS 311 layer URL a schema profile registers for one year.

    Profiles name the layer in ``[fetch] arcgis_layer``, with ``{year}`` where
    the portal publishes one layer per year (Open Baltimore's
    ``311_Customer_Service_Requests_<YEAR>``).  Confirm the URL against the
    live portal (open it with ``?f=json``) before relying on it.

    Parameters
    ----------
    city : str or pathlib.Path
        Profile name (``"baltimore"``) or profile TOML path.
    year : int

    Returns
    -------
    str

    Raises
    ------
    ProfileError
        The profile registers no ArcGIS layer.

    Examples
    --------
    >>> city_layer_url("baltimore", 2024).rsplit("/services/", 1)[1]
    '311_Customer_Service_Requests_2024/FeatureServer/0'
    """
    from geo311.io.profiles import get_profile  # noqa: PLC0415

    if not 1990 <= int(year) <= 2100:
        msg = f"year must be a four-digit year, got {year!r}"
        raise ValueError(msg)
    profile = get_profile(city)
    if not profile.arcgis_layer:
        msg = (
            f"profile {profile.name!r} registers no ArcGIS 311 layer ([fetch] arcgis_layer); "
            "pass the layer URL with --arcgis instead"
        )
        raise ProfileError(msg)
    return profile.arcgis_layer.replace("{year}", str(int(year)))


def _arcgis_check(data: Any, *, url: str) -> dict[str, Any]:
    """Return an ArcGIS JSON object, or raise FetchError for an ``{"error": ...}`` body."""
    if not isinstance(data, dict):
        msg = f"GET {url} returned {type(data).__name__} JSON, not an ArcGIS response object"
        raise FetchError(msg)
    error = data.get("error")
    if error:
        detail = error if isinstance(error, dict) else {"message": str(error)}
        extra = "; ".join(str(d) for d in detail.get("details") or [] if d)
        msg = (
            f"ArcGIS error from {url}: {detail.get('code', '?')} {detail.get('message', '')}"
            f"{' (' + extra + ')' if extra else ''}; check the layer URL (it must end in "
            "/FeatureServer/<n> or /MapServer/<n>), the where clause and the field names"
        )
        raise FetchError(msg)
    return data


def fetch_arcgis(
    layer_url: str,
    out: str | Path,
    *,
    where: str = "1=1",
    out_fields: str = "*",
    page_size: int | None = None,
    out_sr: int = 4326,
    overwrite: bool = False,
    client: HttpClient | None = None,
    cache: bool = False,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> FetchResult:
    """Download every feature of an ArcGIS FeatureServer/MapServer layer query.

    Reads the layer description (``?f=json``) for ``maxRecordCount``, the
    object-id field and ``advancedQueryCapabilities.supportsPagination``.
    Layers that page are read with ``resultOffset``/``resultRecordCount``
    ordered by object id, continuing while the server reports
    ``exceededTransferLimit`` or returns a full page; layers that do not are
    read by asking for every object id (``returnIdsOnly=true``) and fetching
    them in batches (``objectIds=``).  Features are de-duplicated by object id.

    Parameters
    ----------
    layer_url : str
        e.g. ``https://host/arcgis/rest/services/<name>/FeatureServer/0``
        (see :func:`city_layer_url`).
    out : path
        The ArcGIS FeatureSet JSON to write (``fields``, ``spatialReference``,
        ``features``); read it with ``read_requests(out, schema="baltimore")``
        for Baltimore's layers.  Dates stay epoch milliseconds, as the
        profiles expect.
    where : str, default "1=1"
        SQL filter, e.g. ``"CreatedDate >= DATE '2025-01-01'"``.
    out_fields : str, default "*"
        Comma-separated field names.
    page_size : int, optional
        Features per request; the layer's ``maxRecordCount`` when omitted and
        never more than it.
    out_sr : int, default 4326
        EPSG code of the output geometry.
    overwrite : bool, default False
        Replace an existing ``out``.
    client : HttpClient, optional
        A configured client (retries, rate limit, cache); one with defaults
        otherwise.
    cache, refresh : bool
        For the default client: keep responses in the on-disk cache; ignore it.
    progress : callable, optional
        Called with a :class:`FetchProgress` after every page.

    Returns
    -------
    FetchResult

    Raises
    ------
    FetchError
        When the layer answers with an ArcGIS error, an HTML page or bad JSON,
        or when retries are exhausted.  Saved pages are kept; calling again
        resumes.
    """
    out_path = _prepare_out(out, overwrite=overwrite)
    layer_url = layer_url.rstrip("/")
    query_url = f"{layer_url}/query"
    http = _client(client, cache=cache, refresh=refresh)
    try:
        meta = _arcgis_check(
            http.get_json(layer_url, params={"f": "json"}), url=redact_url(layer_url)
        )
        max_records = int(meta.get("maxRecordCount") or 1000)
        size = min(page_size or max_records, max_records)
        if size < 1:
            msg = f"page_size must be a positive number, got {page_size}"
            raise ValueError(msg)
        advanced = meta.get("advancedQueryCapabilities") or {}
        paging = bool(advanced.get("supportsPagination", meta.get("supportsPagination", False)))
        oid_field = meta.get("objectIdField") or next(
            (f["name"] for f in meta.get("fields") or [] if f.get("type") == "esriFieldTypeOID"),
            None,
        )
        base = {"where": where, "outFields": out_fields, "outSR": out_sr, "f": "json"}
        store = _PageStore(
            out_path, query={"c": "arcgis", "url": redact_url(query_url), **base, "size": size}
        )
        tracker = _Progress(f"ArcGIS {redact_url(layer_url)}", store, progress)
        if paging and oid_field:
            _arcgis_pages(http, query_url, base, store, tracker, size=size, oid_field=oid_field)
        elif paging:
            log.info("%s names no object-id field; paging unordered", layer_url)
            _arcgis_pages(http, query_url, base, store, tracker, size=size, oid_field=None)
        else:
            _arcgis_batches(http, query_url, base, store, tracker, size=size)
        rows = _arcgis_assemble(store, out_path, meta=meta, oid_field=oid_field)
    finally:
        if client is None:
            http.close()
    return _finish(
        store,
        tracker,
        out=out_path,
        rows=rows,
        source_url=query_url,
        params=base,
        extra={"connector": "arcgis", "page_size": size, "paging": paging},
    )


def _arcgis_pages(
    http: HttpClient,
    url: str,
    base: Mapping[str, Any],
    store: _PageStore,
    tracker: _Progress,
    *,
    size: int,
    oid_field: str | None,
) -> None:
    if store.state.get("done"):
        return
    offset = int(store.state.get("offset", 0))
    while True:
        params = {**base, "resultOffset": offset, "resultRecordCount": size}
        if oid_field:
            params["orderByFields"] = oid_field
        page = _arcgis_check(http.get_json(url, params=params), url=redact_url(url))
        features = page.get("features") or []
        if store.pages == 0:
            store.save_extra("header.json", _arcgis_header(page))
        # trust the flag when the server sends it; otherwise a full page means "ask again"
        flag = page.get("exceededTransferLimit")
        more = bool(flag) if flag is not None else len(features) >= size
        offset += len(features)
        if features or store.pages == 0:
            store.add_page(features, offset=offset, done=not (features and more))
            tracker.page()
        if not features or not more:
            return


def _arcgis_batches(
    http: HttpClient,
    url: str,
    base: Mapping[str, Any],
    store: _PageStore,
    tracker: _Progress,
    *,
    size: int,
) -> None:
    ids = store.load("ids.json")
    if ids is None:
        answer = _arcgis_check(
            http.get_json(
                url, params={"where": base["where"], "returnIdsOnly": "true", "f": "json"}
            ),
            url=redact_url(url),
        )
        ids = sorted(answer.get("objectIds") or [])
        store.save_extra("ids.json", ids)
        log.info(
            "%s: no paging; fetching %s object ids in batches", redact_url(url), f"{len(ids):,}"
        )
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    params = {k: v for k, v in base.items() if k != "where"}
    for number in range(store.pages, len(batches)):
        batch = batches[number]
        page = _arcgis_check(
            http.get_json(url, params={**params, "objectIds": ",".join(map(str, batch))}),
            url=redact_url(url),
        )
        features = page.get("features") or []
        if store.load("header.json") is None:
            store.save_extra("header.json", _arcgis_header(page))
        if len(features) < len(batch):
            log.warning(
                "%s: batch %d asked for %d object ids and got %d features (deleted meanwhile?)",
                redact_url(url),
                number + 1,
                len(batch),
                len(features),
            )
        store.add_page(features)
        tracker.page(total=len(ids))


def _arcgis_header(page: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("objectIdFieldName", "geometryType", "spatialReference", "fields")
    return {k: page[k] for k in keep if k in page}


def _arcgis_assemble(
    store: _PageStore, out: Path, *, meta: Mapping[str, Any], oid_field: str | None
) -> int:
    header = store.load("header.json") or {}
    key = header.get("objectIdFieldName") or oid_field
    seen: set[Any] = set()
    duplicates = 0
    rows = 0
    with atomic_write(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
        document = {
            "objectIdFieldName": key,
            "geometryType": header.get("geometryType", meta.get("geometryType")),
            "spatialReference": header.get("spatialReference") or {"wkid": 4326},
            "fields": header.get("fields") or meta.get("fields") or [],
        }
        # stream the features so a large layer is never held twice in memory
        fh.write(json.dumps(document)[:-1] + ', "features": [')
        for page in store.iter_pages():
            for feature in page:
                oid = (feature.get("attributes") or {}).get(key) if key else None
                if oid is not None:
                    if oid in seen:
                        duplicates += 1
                        continue
                    seen.add(oid)
                fh.write((",\n" if rows else "\n") + json.dumps(feature, separators=(",", ":")))
                rows += 1
        fh.write("\n]}\n")
    if duplicates:
        log.warning("dropped %s features repeated across pages (by %s)", f"{duplicates:,}", key)
    return rows


# -- boundaries ----------------------------------------------------------------------------------

#: An ArcGIS REST layer: ``.../FeatureServer/<n>`` or ``.../MapServer/<n>``.
_ARCGIS_LAYER = re.compile(r"^https?://\S+/(FeatureServer|MapServer)/\d+/?$", re.IGNORECASE)


def fetch_boundaries(
    city: str | Path,
    *,
    layers: Sequence[str] | None = None,
    vintages: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    client: HttpClient | None = None,
    cache: bool = True,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> list[FetchResult]:
    """Download a city's ArcGIS-served boundary layers into the boundary cache, as GeoJSON.

    Every vintage of the chosen layers whose manifest ``source`` is an ArcGIS
    REST layer (``.../FeatureServer/<n>`` or ``.../MapServer/<n>``) is fetched
    with :func:`fetch_arcgis` (resumable, paged) in EPSG:4326 and converted to
    GeoJSON named as the manifest's ``file`` or, for a vintage declared
    without one, ``<layer>_<vintage>.geojson``
    (:func:`geo311.join.layers.fetched_file_name`).  There
    :func:`geo311.load_layers` finds it.  Vintages whose source is not an
    ArcGIS layer (a download page, a TIGER/Line ZIP) are skipped with a log
    line naming the source.

    Parameters
    ----------
    city : str or pathlib.Path
        Built-in city key or a manifest path.
    layers : sequence of str, optional
        Layer keys (default: every layer with an ArcGIS source).
    vintages : sequence of str, optional
        Only these vintages.
    out_dir : path, optional
        Where to write; default ``<cache>/boundaries/<city>/``.
    overwrite : bool, default False
        Replace files fetched before.
    client, cache, refresh, progress
        As in :func:`fetch_arcgis`.

    Returns
    -------
    list of FetchResult
        One per file written, each with its ``.provenance.json`` sidecar.

    Raises
    ------
    ManifestError
        Unknown city or layer (listing the valid ones).
    FetchError
        A layer that cannot be downloaded, or none of the chosen layers has
        an ArcGIS source.
    OutputExistsError
        A file exists and ``overwrite`` is False.
    """
    import geopandas as gpd  # noqa: PLC0415 - keep the connectors importable without it

    from geo311.join.layers import fetched_file_name  # noqa: PLC0415
    from geo311.join.manifest import load_manifest  # noqa: PLC0415

    manifest = load_manifest(city)
    keys = list(layers) if layers else list(manifest.layers)
    for key in keys:
        manifest.layer(key)  # raises for an unknown layer, listing the valid ones
    folder = (
        Path(out_dir)
        if out_dir is not None
        else settings.cache_dir() / "boundaries" / manifest.city
    )
    chosen = [
        (key, spec)
        for key in keys
        for spec in manifest.layers[key].vintages
        if vintages is None or spec.vintage in vintages
    ]
    served = [(k, v) for k, v in chosen if _ARCGIS_LAYER.match(v.source.strip())]
    for key, spec in chosen:
        if (key, spec) not in served:
            log.info("%s %s: not served by ArcGIS (%s); skipped", key, spec.vintage, spec.source)
    if not served:
        msg = (
            f"none of the chosen {manifest.city} layers/vintages ({', '.join(keys)}) is served "
            "by an ArcGIS layer; download them from the sources in the manifest "
            f"(`geo311 schemas` lists profiles; boundaries/{manifest.city}.toml lists sources)"
        )
        raise FetchError(msg)
    targets = [folder / (v.file or fetched_file_name(k, v.vintage)) for k, v in served]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        msg = f"already fetched: {', '.join(existing)}; pass --overwrite (overwrite=True)"
        raise OutputExistsError(msg)
    results = []
    for (key, spec), target in zip(served, targets, strict=True):
        raw = target.with_name(f"{target.stem}.esri.json")
        fetched = fetch_arcgis(
            spec.source.strip(),
            raw,
            overwrite=True,
            client=client,
            cache=cache,
            refresh=refresh,
            progress=progress,
        )
        try:
            frame = gpd.read_file(f"ESRIJSON:{raw}")
        except Exception as exc:
            msg = f"{spec.source}: the downloaded layer {raw} is not readable ESRI JSON ({exc})"
            raise FetchError(msg) from exc
        if frame.crs is None:
            frame = frame.set_crs("EPSG:4326")
        with atomic_write(target) as tmp:
            frame.to_crs("EPSG:4326").to_file(tmp, driver="GeoJSON")
        wanted = {manifest.layers[key].id_field, manifest.layers[key].name_field} - {None}
        absent = sorted(str(f) for f in wanted if f not in frame.columns)
        if absent:
            log.warning(
                "%s %s: the service has no field(s) %s that the manifest names; its fields are "
                "%s. Point id_field/name_field in the manifest at them before joining.",
                key,
                spec.vintage,
                absent,
                [c for c in frame.columns if c != "geometry"],
            )
        sidecar = write_provenance(
            target,
            source_url=spec.source.strip(),
            params={"where": "1=1", "outSR": 4326},
            rows=len(frame),
            extra={
                "connector": "arcgis-boundaries",
                "city": manifest.city,
                "layer": key,
                "vintage": spec.vintage,
                "pages": fetched.pages,
            },
        )
        for leftover in (raw, fetched.provenance):
            leftover.unlink(missing_ok=True)
        results.append(
            FetchResult(
                target, len(frame), fetched.pages, fetched.seconds, fetched.resumed_pages, sidecar
            )
        )
        log.info("%s %s: %d features -> %s", key, spec.vintage, len(frame), target)
    return results


# -- Socrata -------------------------------------------------------------------------------------


def _socrata_url(dataset_url: str) -> str:
    url = dataset_url.split("?", 1)[0].rstrip("/")
    for suffix in (".csv", ".geojson"):
        if url.endswith(suffix):
            return url[: -len(suffix)] + ".json"
    return url if url.endswith(".json") else url + ".json"


def fetch_socrata(
    dataset_url: str,
    out: str | Path,
    *,
    where: str | None = None,
    order: str = ":id",
    select: str | None = None,
    page_size: int = 50_000,
    app_token_env: str | None = "SOCRATA_APP_TOKEN",
    overwrite: bool = False,
    client: HttpClient | None = None,
    cache: bool = False,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> FetchResult:
    """Download a Socrata (SODA 2) dataset page by page into one CSV or JSON file.

    Pages are requested with ``$limit``/``$offset`` in a stable ``$order``
    until a page returns fewer than ``page_size`` rows.

    Parameters
    ----------
    dataset_url : str
        The dataset's resource endpoint, e.g.
        ``https://data.lacity.org/resource/<4x4-id>.json`` (a ``.csv``
        endpoint or one without suffix is read as JSON).
    out : path
        ``.csv`` (columns in first-seen order; point columns written as
        ``POINT (lon lat)``) or ``.json`` (a list of row objects).  Read it with
        ``read_requests(out, schema="los_angeles")`` for MyLA311.
    where : str, optional
        SoQL ``$where``, e.g. ``"createddate >= '2024-01-01'"``.
    order : str, default ":id"
        SoQL ``$order``; must be stable across pages (``:id`` is).
    select : str, optional
        SoQL ``$select``.
    page_size : int, default 50,000
        ``$limit`` per request.
    app_token_env : str or None, default "SOCRATA_APP_TOKEN"
        Environment variable holding an app token (raises the rate limit);
        sent as the ``X-App-Token`` header and written nowhere.
    overwrite, client, cache, refresh, progress
        As in :func:`fetch_arcgis`.

    Returns
    -------
    FetchResult
    """
    out_path = _prepare_out(out, overwrite=overwrite)
    if page_size < 1:
        msg = f"page_size must be a positive number, got {page_size}"
        raise ValueError(msg)
    url = _socrata_url(dataset_url)
    token = os.environ.get(app_token_env, "").strip() if app_token_env else ""
    headers = {"X-App-Token": token} if token else None
    base: dict[str, Any] = {"$order": order}
    if where:
        base["$where"] = where
    if select:
        base["$select"] = select
    store = _PageStore(out_path, query={"c": "socrata", "url": url, **base, "size": page_size})
    tracker = _Progress(f"Socrata {redact_url(url)}", store, progress)
    http = _client(client, cache=cache, refresh=refresh)
    try:
        if not store.state.get("done"):
            offset = int(store.state.get("offset", 0))
            while True:
                params = {**base, "$limit": page_size, "$offset": offset}
                page = http.get_json(url, params=params, headers=headers)
                if isinstance(page, dict):
                    detail = page.get("message") or page.get("code") or page
                    msg = f"Socrata error from {redact_url(url)}: {detail}; check $where/$order"
                    raise FetchError(msg)
                if not isinstance(page, list):
                    msg = f"GET {redact_url(url)} returned {type(page).__name__}, not a row list"
                    raise FetchError(msg)
                offset += len(page)
                last = len(page) < page_size
                if page or store.pages == 0:
                    store.add_page(page, offset=offset, done=last)
                    tracker.page()
                if last:
                    break
        rows = _write_rows(store, out_path)
    finally:
        if client is None:
            http.close()
    return _finish(
        store,
        tracker,
        out=out_path,
        rows=rows,
        source_url=url,
        params=base,
        extra={
            "connector": "socrata",
            "page_size": page_size,
            "credentials": f"X-App-Token from ${app_token_env}" if token else "none",
        },
    )


def _cell(value: Any) -> Any:
    """Return a CSV cell: points as ``POINT (x y)``, other nested values as JSON."""
    if isinstance(value, dict):
        coords = value.get("coordinates")
        if value.get("type") == "Point" and isinstance(coords, list) and len(coords) >= 2:
            return f"POINT ({coords[0]} {coords[1]})"
        if "latitude" in value and "longitude" in value:
            return f"POINT ({value['longitude']} {value['latitude']})"
        return json.dumps(value)
    if isinstance(value, list):
        return json.dumps(value)
    return value


def _write_rows(store: _PageStore, out: Path) -> int:
    """Write the saved pages of row objects as CSV or a JSON list; return the row count."""
    rows = 0
    as_json = out.name.lower().endswith(".json")
    with atomic_write(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        if as_json:
            fh.write("[")
            for page in store.iter_pages():
                for row in page:
                    fh.write((",\n" if rows else "\n") + json.dumps(row, separators=(",", ":")))
                    rows += 1
            fh.write("\n]\n")
            return rows
        columns: dict[str, None] = {}
        for page in store.iter_pages():  # first pass: the union of columns, in order
            for row in page:
                columns.update(dict.fromkeys(row))
        writer = csv.DictWriter(fh, fieldnames=list(columns), restval="")
        writer.writeheader()
        for page in store.iter_pages():
            for row in page:
                writer.writerow({k: _cell(v) for k, v in row.items()})
                rows += 1
    return rows


# -- Open311 -------------------------------------------------------------------------------------


def _as_utc(value: str | date | datetime, *, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            msg = f"{name}={value!r} is not an ISO 8601 date or date-time (e.g. 2025-01-31)"
            raise ValueError(msg) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def open311_windows(
    start: str | date | datetime,
    end: str | date | datetime,
    *,
    window_days: int = OPEN311_MAX_WINDOW_DAYS,
) -> list[tuple[datetime, datetime]]:
    """Split ``[start, end)`` into consecutive windows of at most ``window_days`` days (UTC).

    Examples
    --------
    >>> [(a.date().isoformat(), b.date().isoformat())
    ...  for a, b in open311_windows("2025-01-01", "2025-06-30")]
    [('2025-01-01', '2025-04-01'), ('2025-04-01', '2025-06-30')]
    """
    if not 1 <= window_days <= OPEN311_MAX_WINDOW_DAYS:
        msg = (
            f"window_days must be between 1 and {OPEN311_MAX_WINDOW_DAYS} "
            f"(GeoReport v2 limit), got {window_days}"
        )
        raise ValueError(msg)
    lo, hi = _as_utc(start, name="start"), _as_utc(end, name="end")
    if hi <= lo:
        msg = f"end ({_iso(hi)}) must be after start ({_iso(lo)})"
        raise ValueError(msg)
    windows = []
    while lo < hi:
        upper = min(lo + timedelta(days=window_days), hi)
        windows.append((lo, upper))
        lo = upper
    return windows


def _open311_url(endpoint: str) -> str:
    url = endpoint.split("?", 1)[0].rstrip("/")
    if url.endswith(("requests.json", "requests.xml")):
        return url.removesuffix(".xml") + ".json" if url.endswith(".xml") else url
    return url + "/requests.json"


def fetch_open311(
    endpoint: str,
    out: str | Path,
    *,
    start: str | date | datetime,
    end: str | date | datetime,
    window_days: int = OPEN311_MAX_WINDOW_DAYS,
    page_size: int | None = None,
    extensions: bool = True,
    status: str | None = None,
    service_code: str | None = None,
    jurisdiction_id: str | None = None,
    api_key_env: str | None = None,
    overwrite: bool = False,
    client: HttpClient | None = None,
    cache: bool = False,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
) -> FetchResult:
    """Download Open311 GeoReport v2 requests between two dates into one JSON list.

    The period is split into ``start_date``/``end_date`` windows of at most
    90 days (the GeoReport v2 limit).  With ``page_size`` each window is read
    with the ``page``/``page_size`` extension until a page returns fewer rows
    than ``page_size`` (or repeats the previous page, from a server that
    ignores the extension).  Requests are de-duplicated by
    ``service_request_id``; the copy fetched last wins.

    Parameters
    ----------
    endpoint : str
        The GeoReport v2 base (``https://host/open311/v2``) or its
        ``requests.json`` URL.
    out : path
        JSON file to write (a list of request objects); read it with
        ``read_requests(out, schema="open311")``.
    start, end : str, date or datetime
        ``[start, end)``; naive values are UTC.
    window_days : int, default 90
        Window length, 1-90.
    page_size : int, optional
        Use the ``page``/``page_size`` extension with this many rows per page.
        Without it each window is one request; servers cap that (often at
        1,000 rows), so shorten ``window_days`` when a window comes back full.
    extensions : bool, default True
        Send ``extensions=true`` (extra fields such as ``closed_datetime``).
    status, service_code, jurisdiction_id : str, optional
        Standard GeoReport v2 filters.
    api_key_env : str, optional
        Environment variable holding an API key, sent as ``api_key`` and
        written nowhere.
    overwrite, client, cache, refresh, progress
        As in :func:`fetch_arcgis`.

    Returns
    -------
    FetchResult
    """
    out_path = _prepare_out(out, overwrite=overwrite)
    if page_size is not None and page_size < 1:
        msg = f"page_size must be a positive number, got {page_size}"
        raise ValueError(msg)
    windows = open311_windows(start, end, window_days=window_days)
    url = _open311_url(endpoint)
    base: dict[str, Any] = {"extensions": "true"} if extensions else {}
    filters = {"status": status, "service_code": service_code, "jurisdiction_id": jurisdiction_id}
    base |= {k: v for k, v in filters.items() if v}
    secret = _open311_secret(api_key_env)
    query = {"c": "open311", "url": url, **base, "start": _iso(windows[0][0])}
    query |= {"end": _iso(windows[-1][1]), "days": window_days, "size": page_size}
    store = _PageStore(out_path, query=query)
    tracker = _Progress(f"Open311 {redact_url(url)}", store, progress)
    http = _client(client, cache=cache, refresh=refresh)
    try:
        _open311_pages(
            http, url, base, store, tracker, windows=windows, secret=secret, page_size=page_size
        )
        rows_written = _open311_assemble(store, out_path)
    finally:
        if client is None:
            http.close()
    return _finish(
        store,
        tracker,
        out=out_path,
        rows=rows_written,
        source_url=url,
        params={**base, "start_date": _iso(windows[0][0]), "end_date": _iso(windows[-1][1])},
        extra={
            "connector": "open311",
            "windows": len(windows),
            "window_days": window_days,
            "page_size": page_size,
        },
    )


def _open311_secret(api_key_env: str | None) -> dict[str, str]:
    """Return ``{"api_key": <value>}`` from the environment variable, or {}."""
    if not api_key_env:
        return {}
    value = os.environ.get(api_key_env, "").strip()
    if not value:
        msg = f"api_key_env={api_key_env!r} names an unset environment variable; set it first"
        raise FetchError(msg)
    return {"api_key": value}


def _open311_pages(
    http: HttpClient,
    url: str,
    base: Mapping[str, Any],
    store: _PageStore,
    tracker: _Progress,
    *,
    windows: list[tuple[datetime, datetime]],
    secret: Mapping[str, str],
    page_size: int | None,
) -> None:
    window = int(store.state.get("window", 0))
    page_no = int(store.state.get("page", 1))
    previous_ids: list[Any] | None = None
    while window < len(windows):
        lo, hi = windows[window]
        params = {**base, "start_date": _iso(lo), "end_date": _iso(hi)}
        if page_size:
            params |= {"page": page_no, "page_size": page_size}
        data = http.get_json(url, params={**params, **secret})
        rows = _open311_check(data, url=redact_url(url))
        ids = [r.get("service_request_id") for r in rows]
        repeated = bool(page_size) and page_no > 1 and ids == previous_ids and bool(ids)
        window_done = not page_size or len(rows) < page_size or repeated
        next_window, next_page = (window + 1, 1) if window_done else (window, page_no + 1)
        if not repeated:
            store.add_page(rows, window=next_window, page=next_page)
            tracker.page()
        else:
            log.info("%s ignores page=; one page per window", redact_url(url))
            store.set_cursor(window=next_window, page=next_page)
        previous_ids = ids if not window_done else None
        window, page_no = next_window, next_page


def _open311_check(data: Any, *, url: str) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        for key in ("service_requests", "requests"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        msg = f"GET {url} did not return a GeoReport v2 list of requests; check the endpoint"
        raise FetchError(msg)
    if data and all(set(r) <= {"code", "description"} for r in data):
        detail = "; ".join(f"{r.get('code')}: {r.get('description')}" for r in data)
        msg = f"Open311 error from {url}: {detail}; check the dates, filters and endpoint"
        raise FetchError(msg)
    return data


def _open311_assemble(store: _PageStore, out: Path) -> int:
    merged: dict[Any, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for page in store.iter_pages():
        for row in page:
            key = row.get("service_request_id")
            if key in (None, ""):
                anonymous.append(row)
            else:
                merged.pop(key, None)  # keep the last copy, in its latest position
                merged[key] = row
    rows = list(merged.values()) + anonymous
    duplicates = store.rows - len(rows)
    if duplicates:
        log.info("dropped %s requests repeated across windows/pages", f"{duplicates:,}")
    if anonymous:
        log.warning("%s requests have no service_request_id", f"{len(anonymous):,}")
    with atomic_write(out) as tmp, tmp.open("w", encoding="utf-8") as fh:
        fh.write("[")
        for i, row in enumerate(rows):
            fh.write((",\n" if i else "\n") + json.dumps(row, separators=(",", ":")))
        fh.write("\n]\n")
    return len(rows)

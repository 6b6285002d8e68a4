"""Download every feature of an ArcGIS FeatureServer/MapServer layer query.

:func:`fetch_arcgis` writes ONE ArcGIS FeatureSet JSON file that
:func:`geo311.read_requests` reads with the city's profile (Open Baltimore's
311 layers: ``schema="baltimore"``), plus a ``<file>.provenance.json``
sidecar; the download is resumable (:mod:`geo311.connectors._paging`).

Totals are checked: the layer is asked for its count (``returnCountOnly=true``
with the same where clause, or the object-id list when the layer cannot
page), paging continues past a short page while fewer features than that have
arrived, and a difference left at the end is resumed from the last saved
page (by offset, or by the object ids still missing) up to the client's
retry budget before a :class:`~geo311.FetchError` says how many features
were expected and how many arrived.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo311._errors import FetchError, OptionError, ProfileError
from geo311.connectors import _paging
from geo311.connectors._client import HttpClient, redact_url
from geo311.io.atomic import atomic_write

__all__ = ["city_layer_url", "fetch_arcgis"]

log = logging.getLogger(__name__)


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
    OptionError
        ``year`` is not a four-digit year.
    ProfileError
        The profile registers no ArcGIS layer.

    Examples
    --------
    >>> city_layer_url("baltimore", 2024).rsplit("/services/", 1)[1]
    '311_Customer_Service_Requests_2024/FeatureServer/0'
    """
    from geo311.io.profiles import get_profile  # noqa: PLC0415

    if not 1990 <= int(year) <= 2100:
        msg = f"year (--year) must be a four-digit year between 1990 and 2100, got {year!r}"
        raise OptionError(msg)
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
    progress: _paging.ProgressCallback | None = None,
) -> _paging.FetchResult:
    """Download every feature of an ArcGIS FeatureServer/MapServer layer query.

    Reads the layer description (``?f=json``) for ``maxRecordCount``, the
    object-id field and ``advancedQueryCapabilities.supportsPagination``.
    Layers that page are first asked for their count (``returnCountOnly``)
    and then read with ``resultOffset``/``resultRecordCount`` ordered by
    object id, continuing while the server reports ``exceededTransferLimit``,
    returns a full page, or fewer features than the count have arrived;
    layers that do not page are read by asking for every object id
    (``returnIdsOnly=true``) and fetching them in batches (``objectIds=``).
    Features are de-duplicated by object id, and their number must equal the
    server's count (see the module docstring).

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
        otherwise.  Its ``retries`` is also the number of times a count
        mismatch is resumed.
    cache, refresh : bool
        For the default client: keep responses in the on-disk cache; ignore it.
    progress : callable, optional
        Called with a :class:`FetchProgress` after every page.

    Returns
    -------
    FetchResult

    Raises
    ------
    OptionError
        ``page_size`` below 1.
    FetchError
        When the layer answers with an ArcGIS error, an HTML page or bad JSON,
        when retries are exhausted, or when the features fetched still differ
        from the layer's count after the resumes.  Saved pages are kept;
        calling again resumes.
    """
    out_path = _paging.prepare_out(out, overwrite=overwrite)
    _paging.check_page_size(page_size)
    layer_url = layer_url.rstrip("/")
    query_url = f"{layer_url}/query"
    source = redact_url(query_url)
    with _paging.open_client(client, cache=cache, refresh=refresh) as http:
        meta = _arcgis_check(
            http.get_json(layer_url, params={"f": "json"}), url=redact_url(layer_url)
        )
        max_records = int(meta.get("maxRecordCount") or 1000)
        size = min(page_size or max_records, max_records)
        _paging.check_page_size(size)
        advanced = meta.get("advancedQueryCapabilities") or {}
        paging = bool(advanced.get("supportsPagination", meta.get("supportsPagination", False)))
        oid_field = meta.get("objectIdField") or next(
            (f["name"] for f in meta.get("fields") or [] if f.get("type") == "esriFieldTypeOID"),
            None,
        )
        base = {"where": where, "outFields": out_fields, "outSR": out_sr, "f": "json"}
        store = _paging.PageStore(
            out_path, query={"c": "arcgis", "url": source, **base, "size": size}
        )
        tracker = _paging.Progress(f"ArcGIS {redact_url(layer_url)}", store, progress)
        pager = _Pager(http, query_url, base, store, tracker, size, oid_field, paging)
        if paging:
            if not oid_field:
                log.info("%s names no object-id field; paging unordered", redact_url(layer_url))
            expected = pager.count()
            pager.pages(expected)
        else:
            expected = pager.batches()
        pager.complete(expected)
        rows = _arcgis_assemble(store, out_path, meta=meta, key=pager.key())
    return _paging.finish(
        store,
        tracker,
        out=out_path,
        rows=rows,
        source_url=query_url,
        params=base,
        extra={"connector": "arcgis", "page_size": size, "paging": paging},
    )


@dataclass
class _Pager(_paging.Pager):
    """Read one layer query into a page store: by offset, or by object-id batches."""

    oid_field: str | None
    paging: bool

    def count(self) -> int:
        """Ask the layer how many features match the where clause (``returnCountOnly``)."""
        params = {"where": self.base["where"], "returnCountOnly": "true", "f": "json"}
        answer = _arcgis_check(
            self.http.get_json(self.url, params=params, cache=False), url=redact_url(self.url)
        )
        count = answer.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            msg = (
                f"GET {redact_url(self.url)} with returnCountOnly=true answered no feature "
                f"count ({str(answer)[:120]}); check the layer URL ends in /FeatureServer/<n> "
                "or /MapServer/<n>"
            )
            raise FetchError(msg)
        return count

    def fetched(self) -> int:
        """Return the distinct features saved (by object id)."""
        return len(self.distinct())

    def resume(self, expected: int) -> None:
        """Continue by offset, or fetch the object ids still missing (no paging)."""
        if self.paging:
            self.pages(expected, fresh=True)
        else:
            self.missing(expected)

    def _query(self, params: Mapping[str, Any], *, cache: bool | None) -> dict[str, Any]:
        page = _arcgis_check(
            self.http.get_json(self.url, params=params, cache=cache), url=redact_url(self.url)
        )
        if self.store.load("header.json") is None:
            self.store.save_extra("header.json", _arcgis_header(page))
        return page

    def page_at(self, offset: int, *, cache: bool | None) -> tuple[list[Any], bool]:
        """Return the features at ``offset`` (ordered by object id) and whether more follow."""
        params = {**self.base, "resultOffset": offset, "resultRecordCount": self.size}
        if self.oid_field:
            params["orderByFields"] = self.oid_field
        page = self._query(params, cache=cache)
        features = page.get("features") or []
        # trust the flag when the server sends it; otherwise a full page means "ask again"
        flag = page.get("exceededTransferLimit")
        return features, bool(flag) if flag is not None else len(features) >= self.size

    def batches(self) -> int:
        """Fetch every object id of the query in batches; return how many ids there are."""
        ids = self.store.load("ids.json")
        if ids is None:
            ids = self._ids()
            log.info(
                "%s: no paging; fetching %s object ids in batches",
                redact_url(self.url),
                f"{len(ids):,}",
            )
        batches = [ids[i : i + self.size] for i in range(0, len(ids), self.size)]
        for number in range(self.store.pages, len(batches)):
            self._batch(batches[number], total=len(ids), cache=None)
        return len(ids)

    def missing(self, expected: int) -> None:
        """Ask for the object ids again and fetch those not saved yet (a resume)."""
        ids = self._ids()
        seen = self.distinct()
        wanted = [oid for oid in ids if oid not in seen]
        for i in range(0, len(wanted), self.size):
            self._batch(wanted[i : i + self.size], total=expected, cache=False)

    def _ids(self) -> list[Any]:
        params = {"where": self.base["where"], "returnIdsOnly": "true", "f": "json"}
        answer = _arcgis_check(
            self.http.get_json(self.url, params=params, cache=False), url=redact_url(self.url)
        )
        ids = sorted(answer.get("objectIds") or [])
        self.store.save_extra("ids.json", ids)
        return ids

    def _batch(self, batch: list[Any], *, total: int, cache: bool | None) -> None:
        params = {k: v for k, v in self.base.items() if k != "where"}
        params["objectIds"] = ",".join(map(str, batch))
        features = self._query(params, cache=cache).get("features") or []
        if len(features) < len(batch):
            log.warning(
                "%s: a batch asked for %d object ids and got %d features (deleted meanwhile?)",
                redact_url(self.url),
                len(batch),
                len(features),
            )
        self.store.add_page(features)
        self.tracker.page(total=total)

    def key(self) -> str | None:
        """Return the object-id field the saved features are keyed by (None when unknown)."""
        header = self.store.load("header.json") or {}
        return header.get("objectIdFieldName") or self.oid_field

    def distinct(self) -> set[Any]:
        """Return the distinct features saved: object ids, or positions without a key."""
        key = self.key()
        seen: set[Any] = set()
        position = 0
        for page in self.store.iter_pages():
            for feature in page:
                oid = (feature.get("attributes") or {}).get(key) if key else None
                seen.add(oid if oid is not None else ("row", position))
                position += 1
        return seen


def _arcgis_header(page: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("objectIdFieldName", "geometryType", "spatialReference", "fields")
    return {k: page[k] for k in keep if k in page}


def _arcgis_assemble(
    store: _paging.PageStore, out: Path, *, meta: Mapping[str, Any], key: str | None
) -> int:
    """Write the saved features as one FeatureSet, each object id once; return the count."""
    header = store.load("header.json") or {}
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

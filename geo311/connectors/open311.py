"""Download Open311 GeoReport v2 requests between two dates into one JSON list.

:func:`fetch_open311` writes ONE file that :func:`geo311.read_requests` reads
with ``schema="open311"``, plus a ``<file>.provenance.json`` sidecar; the
download is resumable (:mod:`geo311.connectors._paging`).

GeoReport v2 has no count query, so unlike the ArcGIS and Socrata
connectors the rows fetched cannot be checked against a server total: a
window is complete when it (or its last ``page``) comes back with fewer rows
than asked for.  A server that caps a window silently (often at 1,000 rows)
is only caught with ``page_size``; without it, shorten ``window_days`` when a
window comes back with as many rows as the server's cap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from geo311._errors import ConfigError, FetchError, OptionError
from geo311.connectors import _paging
from geo311.connectors._client import HttpClient, redact_url

__all__ = ["OPEN311_MAX_WINDOW_DAYS", "fetch_open311", "open311_windows"]

log = logging.getLogger(__name__)

#: The widest window an Open311 GeoReport v2 ``requests.json`` query may span.
OPEN311_MAX_WINDOW_DAYS = 90


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
            raise OptionError(msg) from None
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
        raise OptionError(msg)
    lo, hi = _as_utc(start, name="start"), _as_utc(end, name="end")
    if hi <= lo:
        msg = f"end ({_iso(hi)}) must be after start ({_iso(lo)})"
        raise OptionError(msg)
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
    progress: _paging.ProgressCallback | None = None,
) -> _paging.FetchResult:
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
        As in :func:`geo311.connectors.arcgis.fetch_arcgis`.

    Returns
    -------
    FetchResult

    Raises
    ------
    OptionError
        Dates that are not ISO 8601, an end before the start, ``window_days``
        outside 1-90 or ``page_size`` below 1.
    ConfigError
        ``api_key_env`` names an unset environment variable.
    FetchError
        An Open311 error answer, an HTML page or retries exhausted.  Saved
        pages are kept; calling again resumes at the failed window.
    """
    out_path = _paging.prepare_out(out, overwrite=overwrite)
    _paging.check_page_size(page_size)
    windows = open311_windows(start, end, window_days=window_days)
    url = _open311_url(endpoint)
    base: dict[str, Any] = {"extensions": "true"} if extensions else {}
    filters = {"status": status, "service_code": service_code, "jurisdiction_id": jurisdiction_id}
    base |= {k: v for k, v in filters.items() if v}
    secret = _open311_secret(api_key_env)
    query = {"c": "open311", "url": url, **base, "start": _iso(windows[0][0])}
    query |= {"end": _iso(windows[-1][1]), "days": window_days, "size": page_size}
    store = _paging.PageStore(out_path, query=query)
    tracker = _paging.Progress(f"Open311 {redact_url(url)}", store, progress)
    with _paging.open_client(client, cache=cache, refresh=refresh) as http:
        _open311_pages(
            http, url, base, store, tracker, windows=windows, secret=secret, page_size=page_size
        )
        rows_written = _open311_assemble(store, out_path)
    return _paging.finish(
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
        raise ConfigError(msg)
    return {"api_key": value}


def _open311_pages(
    http: HttpClient,
    url: str,
    base: Mapping[str, Any],
    store: _paging.PageStore,
    tracker: _paging.Progress,
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


def _open311_assemble(store: _paging.PageStore, out: Path) -> int:
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
    return _paging.write_json_list(out, rows)

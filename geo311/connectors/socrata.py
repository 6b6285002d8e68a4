"""Download a Socrata (SODA 2) dataset page by page into one CSV or JSON file.

:func:`fetch_socrata` writes ONE file that :func:`geo311.read_requests` reads
with the city's profile (MyLA311: ``schema="los_angeles"``), plus a
``<file>.provenance.json`` sidecar; the download is resumable
(:mod:`geo311.connectors._paging`).

Totals are checked: the dataset is asked for its count
(``$select=count(*)`` with the same ``$where``), paging continues past a
short page while fewer rows than that have arrived, and a difference left at
the end is resumed from the last saved page (``$offset``) up to the client's
retry budget before a :class:`~geo311.FetchError` says how many rows were
expected and how many arrived.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geo311._errors import FetchError
from geo311.connectors import _paging
from geo311.connectors._client import HttpClient, redact_url
from geo311.io.atomic import atomic_write

__all__ = ["fetch_socrata"]


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
    progress: _paging.ProgressCallback | None = None,
) -> _paging.FetchResult:
    """Download a Socrata (SODA 2) dataset page by page into one CSV or JSON file.

    The dataset is first asked for its row count (``$select=count(*)`` with
    the same ``$where``); pages are then requested with ``$limit``/``$offset``
    in a stable ``$order`` until a page returns fewer than ``page_size`` rows
    and the count has arrived.  The rows fetched must equal the count (see the
    module docstring).

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
        As in :func:`geo311.connectors.arcgis.fetch_arcgis`.

    Returns
    -------
    FetchResult

    Raises
    ------
    OptionError
        ``page_size`` below 1.
    FetchError
        An error answer, retries exhausted, or rows that still differ from
        the dataset's count after the resumes.  Saved pages are kept; calling
        again resumes.
    """
    out_path = _paging.prepare_out(out, overwrite=overwrite)
    _paging.check_page_size(page_size)
    url = _socrata_url(dataset_url)
    token = os.environ.get(app_token_env, "").strip() if app_token_env else ""
    headers = {"X-App-Token": token} if token else None
    base: dict[str, Any] = {"$order": order}
    if where:
        base["$where"] = where
    if select:
        base["$select"] = select
    store = _paging.PageStore(
        out_path, query={"c": "socrata", "url": url, **base, "size": page_size}
    )
    tracker = _paging.Progress(f"Socrata {redact_url(url)}", store, progress)
    with _paging.open_client(client, cache=cache, refresh=refresh) as http:
        pager = _SocrataPager(http, url, base, store, tracker, page_size, headers)
        expected = pager.count()
        pager.pages(expected)
        pager.complete(expected)
        rows = _write_rows(store, out_path)
    return _paging.finish(
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


@dataclass
class _SocrataPager(_paging.Pager):
    """Read one SoQL query into a page store by ``$limit``/``$offset``."""

    headers: Mapping[str, str] | None

    def _get(self, params: Mapping[str, Any], *, cache: bool | None) -> Any:
        answer = self.http.get_json(self.url, params=params, headers=self.headers, cache=cache)
        if isinstance(answer, dict):
            detail = answer.get("message") or answer.get("code") or answer
            msg = f"Socrata error from {redact_url(self.url)}: {detail}; check $where/$order"
            raise FetchError(msg)
        if not isinstance(answer, list):
            msg = f"GET {redact_url(self.url)} returned {type(answer).__name__}, not a row list"
            raise FetchError(msg)
        return answer

    def page_at(self, offset: int, *, cache: bool | None) -> tuple[list[Any], bool]:
        """Return the rows at ``offset`` and whether the page was full (more may follow)."""
        page = self._get({**self.base, "$limit": self.size, "$offset": offset}, cache=cache)
        return page, len(page) >= self.size

    def count(self) -> int:
        """Ask the dataset how many rows match ``$where`` (``count(*)``, never cached)."""
        params = {"$select": "count(*)"}
        if "$where" in self.base:
            params["$where"] = self.base["$where"]
        answer = self._get(params, cache=False)
        row = answer[0] if len(answer) == 1 and isinstance(answer[0], dict) else {}
        values = list(row.values())
        if len(values) == 1 and str(values[0]).isdigit():
            return int(values[0])
        msg = (
            f"GET {redact_url(self.url)} with $select=count(*) answered no row count "
            f"({str(answer)[:120]}); check the dataset URL is a /resource/<id>.json endpoint"
        )
        raise FetchError(msg)


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


def _write_rows(store: _paging.PageStore, out: Path) -> int:
    """Write the saved pages of row objects as CSV or a JSON list; return the row count."""
    if out.name.lower().endswith(".json"):
        return _paging.write_json_list(out, itertools.chain.from_iterable(store.iter_pages()))
    columns: dict[str, None] = {}
    for page in store.iter_pages():  # first pass: the union of columns, in order
        for row in page:
            columns.update(dict.fromkeys(row))
    rows = 0
    with atomic_write(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), restval="")
        writer.writeheader()
        for page in store.iter_pages():
            for row in page:
                writer.writerow({k: _cell(v) for k, v in row.items()})
                rows += 1
    return rows

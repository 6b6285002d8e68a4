"""Connectors and the HTTP layer against a loopback replay server (no internet).

The responses are built here from the real Open Baltimore and MyLA311 sample
files in ``shared_data`` (rows turned into ArcGIS features with epoch-ms
dates, SODA row objects, and Open311 request objects); no copy is stored.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from replay import (  # noqa: F401 - fixtures, used by name
    Hit,
    ReplayServer,
    Reply,
    client_fixture,
    isolated_cache_fixture,
    serve,
    server_fixture,
    sleeps_fixture,
)

import geo311
from geo311.connectors._client import FetchError, HttpClient, _parse_retry_after, redact_url
from geo311.connectors._paging import FetchProgress
from geo311.connectors.arcgis import city_layer_url, fetch_arcgis
from geo311.connectors.open311 import fetch_open311, open311_windows
from geo311.connectors.socrata import fetch_socrata

pytest.importorskip("httpx")

LAYER = "/arcgis/rest/services/311_Customer_Service_Requests_2019/FeatureServer/0"
SOCRATA = "/resource/abcd-1234.json"
OPEN311 = "/open311/v2/requests.json"
SECRET = "s3cr3t-T0KEN-value"


# -- building realistic responses from the shared data -----------------------------------------


def _epoch_ms(text: str, zone: ZoneInfo) -> int | None:
    if not text:
        return None
    moment = datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=zone)
    return int(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def baltimore_rows(shared_data: Path) -> list[dict[str, str]]:
    with (shared_data / "baltimore" / "sr311_2019_oct_sample.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def arcgis_layer(baltimore_rows: list[dict[str, str]]) -> dict[str, Any]:
    """The 2019 sample as an ArcGIS hosted layer: fields plus features with epoch-ms dates."""
    zone = ZoneInfo("America/New_York")
    dates = {"CreatedDate", "StatusDate", "DueDate", "CloseDate", "LastActivityDate"}
    names = [n for n in baltimore_rows[0] if n not in {"GeoLocation"}]
    fields = [{"name": "OBJECTID", "type": "esriFieldTypeOID", "alias": "OBJECTID"}] + [
        {"name": n, "type": "esriFieldTypeDate" if n in dates else "esriFieldTypeString"}
        for n in names
    ]
    features = []
    for i, row in enumerate(baltimore_rows, start=1):
        attributes: dict[str, Any] = {"OBJECTID": i}
        for name in names:
            value = row[name]
            attributes[name] = _epoch_ms(value, zone) if name in dates else (value or None)
        geometry = None
        if row["Longitude"] and row["Latitude"]:
            geometry = {"x": float(row["Longitude"]), "y": float(row["Latitude"])}
        features.append({"attributes": attributes, "geometry": geometry})
    return {"fields": fields, "features": features}


def arcgis_handler(
    layer: dict[str, Any],
    *,
    max_records: int = 1000,
    server_cap: int | None = None,
    paging: bool = True,
    fail: Any = None,
    path: str = LAYER,
    geometry_type: str = "esriGeometryPoint",
) -> Any:
    """Emulate a FeatureServer layer: metadata, counts, paged, ids-only and objectIds queries.

    ``server_cap`` makes the server return fewer features than asked for (with
    ``exceededTransferLimit``), as real servers do; ``fail(hit)`` may return a
    Reply to inject a fault.
    """
    features = layer["features"]
    meta = {
        "name": "311_Customer_Service_Requests_2019",
        "type": "Feature Layer",
        "geometryType": geometry_type,
        "objectIdField": "OBJECTID",
        "maxRecordCount": max_records,
        "fields": layer["fields"],
        "advancedQueryCapabilities": {"supportsPagination": paging},
    }
    header = {
        "objectIdFieldName": "OBJECTID",
        "geometryType": geometry_type,
        "spatialReference": {"wkid": 4326, "latestWkid": 4326},
        "fields": layer["fields"],
    }

    def handle(hit: Hit) -> Reply:  # noqa: PLR0911 - one branch per kind of query
        if fail is not None and (reply := fail(hit)) is not None:
            return reply
        q = hit.query
        if hit.path == path:
            return Reply(meta)
        if q.get("returnCountOnly") == "true":
            return Reply({"count": len(features)})
        if q.get("returnIdsOnly") == "true":
            return Reply(
                {
                    "objectIdFieldName": "OBJECTID",
                    "objectIds": [f["attributes"]["OBJECTID"] for f in features],
                }
            )
        if "objectIds" in q:
            wanted = {int(x) for x in q["objectIds"].split(",")}
            if len(wanted) > max_records:
                return Reply({"error": {"code": 400, "message": "too many ids"}})
            chosen = [f for f in features if f["attributes"]["OBJECTID"] in wanted]
            return Reply({**header, "features": chosen})
        if not paging and "resultOffset" in q:
            return Reply({"error": {"code": 400, "message": "Pagination is not supported."}})
        offset = int(q.get("resultOffset", 0))
        count = min(int(q.get("resultRecordCount", max_records)), max_records)
        if server_cap:
            count = min(count, server_cap)
        chunk = features[offset : offset + count]
        body = {**header, "features": chunk}
        if offset + len(chunk) < len(features):
            body["exceededTransferLimit"] = True
        return Reply(body)

    return handle


@pytest.fixture(scope="module")
def la_rows(shared_data: Path) -> list[dict[str, Any]]:
    """2,500 MyLA311 rows as SODA JSON objects (lower-case keys, nulls omitted, strings)."""
    path = shared_data / "los_angeles" / "records" / "myla311_2020-01-01_2020-01-03.csv.gz"
    rows: list[dict[str, Any]] = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            obj: dict[str, Any] = {k: v for k, v in row.items() if v != ""}
            for key in ("createddate", "closeddate", "updateddate", "servicedate"):
                if key in obj:  # SODA floating timestamps
                    obj[key] = obj[key].replace(" ", "T") + ".000"
            if "latitude" in obj and "longitude" in obj:
                obj["location"] = {
                    "type": "Point",
                    "coordinates": [float(obj["longitude"]), float(obj["latitude"])],
                }
            rows.append(obj)
            if len(rows) == 2500:
                break
    return rows


def socrata_handler(rows: list[dict[str, Any]], *, token: str | None = None) -> Any:
    def handle(hit: Hit) -> Reply:
        if token is not None and hit.headers.get("x-app-token") != token:
            return Reply({"code": "forbidden", "message": "bad token"}, status=403)
        if hit.query.get("$select") == "count(*)":
            return Reply([{"count": str(len(rows))}])
        assert hit.query["$order"] == ":id"
        offset, limit = int(hit.query["$offset"]), int(hit.query["$limit"])
        return Reply(rows[offset : offset + limit])

    return handle


@pytest.fixture(scope="module")
def open311_rows(baltimore_rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The Baltimore rows as GeoReport v2 requests, spread over 2019 (one every ~3 hours)."""
    start = datetime(2019, 1, 1, tzinfo=UTC)
    out = []
    for i, row in enumerate(baltimore_rows):
        when = start + timedelta(minutes=175 * i)
        out.append(
            {
                "service_request_id": row["ServiceRequestNum"],
                "status": "closed" if row["SRStatus"].lower().startswith("closed") else "open",
                "service_name": row["SRType"],
                "service_code": row["SRType"].split("-")[0],
                "requested_datetime": when.isoformat(),
                "address": row["Address"] or None,
                "lat": float(row["Latitude"]) if row["Latitude"] else None,
                "long": float(row["Longitude"]) if row["Longitude"] else None,
            }
        )
    return out


def open311_handler(rows: list[dict[str, Any]], *, paging: bool) -> Any:
    """Filter by [start_date, end_date] (end inclusive, so boundary rows repeat); page if asked."""

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    def handle(hit: Hit) -> Reply:
        lo, hi = parse(hit.query["start_date"]), parse(hit.query["end_date"])
        if hi - lo > timedelta(days=90):
            return Reply([{"code": 400, "description": "date range over 90 days"}], status=400)
        chosen = [r for r in rows if lo <= parse(r["requested_datetime"]) <= hi]
        if paging and "page" in hit.query:
            size = int(hit.query["page_size"])
            first = (int(hit.query["page"]) - 1) * size
            chosen = chosen[first : first + size]
        return Reply(chosen)

    return handle


# -- fixtures ----------------------------------------------------------------------------------


pytestmark = pytest.mark.usefixtures("isolated_cache")


def _ids(features: list[dict[str, Any]]) -> list[int]:
    return [f["attributes"]["OBJECTID"] for f in features]


def page_hits(server: ReplayServer, path: str) -> list[Hit]:
    """Return the requests for pages of ``path``, leaving out the count queries."""
    counts = ("returnCountOnly", "$select")
    return [h for h in server.hits_for(path) if not any(k in h.query for k in counts)]


# -- ArcGIS ------------------------------------------------------------------------------------


def test_arcgis_paging_with_exceeded_transfer_limit(
    server: ReplayServer, client: HttpClient, arcgis_layer: dict[str, Any], tmp_path: Path
) -> None:
    # the server returns at most 700 features per request whatever is asked, and says so
    server.route(LAYER, arcgis_handler(arcgis_layer, max_records=1000, server_cap=700))
    server.route(f"{LAYER}/query", arcgis_handler(arcgis_layer, max_records=1000, server_cap=700))
    seen: list[FetchProgress] = []
    out = tmp_path / "baltimore_2019.json"
    result = fetch_arcgis(server.url + LAYER, out, client=client, progress=seen.append)

    data = json.loads(out.read_text())
    assert _ids(data["features"]) == _ids(arcgis_layer["features"])  # exact, no duplicates
    assert result.rows == 3000
    assert result.pages == 5  # 700 * 4 + 200
    assert [p.rows for p in seen] == [700, 1400, 2100, 2800, 3000]
    offsets = [h.query["resultOffset"] for h in page_hits(server, f"{LAYER}/query")]
    assert offsets == ["0", "700", "1400", "2100", "2800"]
    assert all(h.query["orderByFields"] == "OBJECTID" for h in page_hits(server, f"{LAYER}/query"))
    assert not (tmp_path / ".baltimore_2019.json.partial").exists()

    requests, _ledger = geo311.read_requests(out, schema="baltimore")
    assert len(requests) == 3000
    source = {r["ServiceRequestNum"] for r in arcgis_layer["features"] for r in [r["attributes"]]}
    assert set(requests["service_request_id"]) == source
    assert requests["requested_datetime"].min().year == 2019

    sidecar = json.loads(result.provenance.read_text())
    assert sidecar["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert sidecar["rows"] == 3000
    assert sidecar["pages"] == 5
    assert sidecar["source_url"] == server.url + LAYER + "/query"
    assert sidecar["params"]["where"] == "1=1"
    assert sidecar["geo311_version"] == geo311.__version__
    datetime.fromisoformat(sidecar["fetched_at"])


def test_arcgis_without_pagination_uses_object_id_batches(
    server: ReplayServer, client: HttpClient, arcgis_layer: dict[str, Any], tmp_path: Path
) -> None:
    handler = arcgis_handler(arcgis_layer, max_records=1000, paging=False)
    server.route(LAYER, handler)
    server.route(f"{LAYER}/query", handler)
    out = tmp_path / "batches.json"
    result = fetch_arcgis(server.url + LAYER, out, client=client, page_size=800)

    hits = server.hits_for(f"{LAYER}/query")
    assert hits[0].query["returnIdsOnly"] == "true"
    assert [len(h.query["objectIds"].split(",")) for h in hits[1:]] == [800, 800, 800, 600]
    assert all("resultOffset" not in h.query for h in hits)
    data = json.loads(out.read_text())
    assert _ids(data["features"]) == _ids(arcgis_layer["features"])
    assert result.rows == 3000
    assert len(geo311.read_requests(out, schema="baltimore")[0]) == 3000


def test_arcgis_page_size_never_exceeds_max_record_count(
    server: ReplayServer, client: HttpClient, arcgis_layer: dict[str, Any], tmp_path: Path
) -> None:
    handler = arcgis_handler(arcgis_layer, max_records=1000)
    server.route(LAYER, handler)
    server.route(f"{LAYER}/query", handler)
    result = fetch_arcgis(server.url + LAYER, tmp_path / "o.json", client=client, page_size=5000)
    assert {h.query["resultRecordCount"] for h in page_hits(server, f"{LAYER}/query")} == {"1000"}
    assert result.rows == 3000


def test_arcgis_error_body_names_url_and_fix(
    server: ReplayServer, client: HttpClient, arcgis_layer: dict[str, Any], tmp_path: Path
) -> None:
    server.route(LAYER, arcgis_handler(arcgis_layer))
    server.route(
        f"{LAYER}/query",
        Reply(
            {
                "error": {
                    "code": 400,
                    "message": "Unable to complete operation.",
                    "details": ["'Invalid field: Foo' parameter is invalid"],
                }
            }
        ),
    )
    out = tmp_path / "o.json"
    with pytest.raises(
        FetchError, match=r"ArcGIS error from http://127\.0\.0\.1:\d+/.*/query: 400"
    ) as info:
        fetch_arcgis(server.url + LAYER, out, client=client, where="Foo = 1")
    assert "Invalid field" in str(info.value)
    assert "where clause" in str(info.value)
    assert not out.exists()


def test_arcgis_resumes_after_interruption(
    server: ReplayServer, arcgis_layer: dict[str, Any], tmp_path: Path
) -> None:
    broken = {"on": True}

    def fail(hit: Hit) -> Reply | None:
        if broken["on"] and hit.query.get("resultOffset") == "1000":  # page 3 of 500
            return Reply("Service Unavailable", status=503, content_type="text/plain")
        return None

    handler = arcgis_handler(arcgis_layer, max_records=1000, fail=fail)
    server.route(LAYER, handler)
    server.route(f"{LAYER}/query", handler)
    out = tmp_path / "resume.json"
    with HttpClient(retries=1, sleep=lambda _s: None) as http:
        with pytest.raises(FetchError, match="after 2 attempt"):
            fetch_arcgis(server.url + LAYER, out, client=http, page_size=500)
        assert not out.exists()
        assert (tmp_path / ".resume.json.partial" / "state.json").is_file()
        first_run = [h.query.get("resultOffset") for h in page_hits(server, f"{LAYER}/query")]
        assert first_run == ["0", "500", "1000", "1000"]

        broken["on"] = False
        server.hits.clear()
        result = fetch_arcgis(server.url + LAYER, out, client=http, page_size=500)
    offsets = [h.query.get("resultOffset") for h in page_hits(server, f"{LAYER}/query")]
    # pages 1-2 are never asked again; the last full page is followed by an empty probe
    assert offsets == ["1000", "1500", "2000", "2500", "3000"]
    assert result.resumed_pages == 2
    assert result.pages == 6
    assert _ids(json.loads(out.read_text())["features"]) == _ids(arcgis_layer["features"])
    assert not (tmp_path / ".resume.json.partial").exists()


def test_a_different_query_discards_stale_partial_work(
    server: ReplayServer, client: HttpClient, arcgis_layer: dict[str, Any], tmp_path: Path
) -> None:
    handler = arcgis_handler(arcgis_layer)
    server.route(LAYER, handler)
    server.route(f"{LAYER}/query", handler)
    stale = tmp_path / ".o.json.partial"
    stale.mkdir()
    (stale / "state.json").write_text('{"v": 1, "fingerprint": "other", "pages": 9, "rows": 9}')
    result = fetch_arcgis(server.url + LAYER, tmp_path / "o.json", client=client)
    assert result.resumed_pages == 0
    assert result.rows == 3000


def test_refuses_to_overwrite(tmp_path: Path, client: HttpClient) -> None:
    out = tmp_path / "o.json"
    out.write_text("{}")
    with pytest.raises(geo311.OutputExistsError, match="overwrite"):
        fetch_arcgis("http://127.0.0.1:9/x/FeatureServer/0", out, client=client)


def test_city_layer_url_comes_from_the_profile() -> None:
    url = city_layer_url("baltimore", 2025)
    assert url.startswith("https://")
    assert url.endswith("/311_Customer_Service_Requests_2025/FeatureServer/0")
    with pytest.raises(ValueError, match="four-digit"):
        city_layer_url("baltimore", 25)
    with pytest.raises(geo311.ProfileError, match="--arcgis"):
        city_layer_url("los_angeles", 2025)


# -- Socrata -----------------------------------------------------------------------------------


def test_socrata_pages_to_csv_with_token_kept_secret(  # noqa: PLR0917 - fixtures
    server: ReplayServer,
    client: HttpClient,
    la_rows: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SOCRATA_APP_TOKEN", SECRET)
    server.route(SOCRATA, socrata_handler(la_rows, token=SECRET))
    out = tmp_path / "la.csv"
    with caplog.at_level(logging.DEBUG):
        result = fetch_socrata(server.url + SOCRATA, out, page_size=1000, client=client)
    assert [h.query["$offset"] for h in page_hits(server, SOCRATA)] == ["0", "1000", "2000"]
    assert result.rows == 2500
    assert result.pages == 3

    with out.open(encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert [r["srnumber"] for r in written] == [r["srnumber"] for r in la_rows]
    assert written[0]["location"].startswith("POINT (-118.")
    requests, _ = geo311.read_requests(out, schema="los_angeles")
    assert len(requests) == 2500
    assert requests["lat"].notna().sum() > 2000

    sidecar_text = result.provenance.read_text()
    for text in (sidecar_text, caplog.text, out.read_text()):
        assert SECRET not in text
    assert json.loads(sidecar_text)["params"] == {"$order": ":id"}
    assert json.loads(sidecar_text)["credentials"] == "X-App-Token from $SOCRATA_APP_TOKEN"


def test_socrata_error_message_has_no_token(
    server: ReplayServer, client: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", SECRET)
    server.route(SOCRATA, Reply({"code": "forbidden", "message": "Invalid app_token"}, status=403))
    with pytest.raises(FetchError) as info:
        fetch_socrata(
            server.url + SOCRATA, tmp_path / "x.csv", app_token_env="MY_TOKEN", client=client
        )
    message = str(info.value)
    assert SECRET not in message
    assert "Invalid app_token" in message
    assert "environment variable" in message
    assert server.hits[0].headers["x-app-token"] == SECRET


def test_socrata_json_output_and_resume(
    server: ReplayServer, la_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    calls = {"n": 0}
    inner = socrata_handler(la_rows)

    def flaky(hit: Hit) -> Reply:
        if "$offset" not in hit.query:  # the count queries
            return inner(hit)
        calls["n"] += 1
        if calls["n"] == 2:
            return Reply(b'[{"srnumber": "1-', content_type="application/json")  # cut short
        return inner(hit)

    server.route(SOCRATA, flaky)
    out = tmp_path / "la.json"
    with HttpClient(retries=0) as http:
        with pytest.raises(FetchError, match="malformed JSON"):
            fetch_socrata(server.url + SOCRATA, out, page_size=1000, client=http)
        result = fetch_socrata(server.url + SOCRATA, out, page_size=1000, client=http)
    assert [h.query["$offset"] for h in page_hits(server, SOCRATA)] == [
        "0",
        "1000",
        "1000",
        "2000",
    ]
    assert result.resumed_pages == 1
    assert [r["srnumber"] for r in json.loads(out.read_text())] == [r["srnumber"] for r in la_rows]


# -- Open311 -----------------------------------------------------------------------------------


def test_open311_windows_split_and_dedupe(
    server: ReplayServer, client: HttpClient, open311_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    server.route(OPEN311, open311_handler(open311_rows, paging=False))
    out = tmp_path / "o311.json"
    result = fetch_open311(
        server.url + "/open311/v2", out, start="2019-01-01", end="2019-12-31", client=client
    )
    hits = server.hits_for(OPEN311)
    assert len(hits) == 5  # 364 days in windows of <= 90
    for hit in hits:
        lo = datetime.fromisoformat(hit.query["start_date"].replace("Z", "+00:00"))
        hi = datetime.fromisoformat(hit.query["end_date"].replace("Z", "+00:00"))
        assert hi - lo <= timedelta(days=90)
        assert hit.query["extensions"] == "true"
    expected = [r for r in open311_rows if r["requested_datetime"] <= "2019-12-31T00:00:00+00:00"]
    data = json.loads(out.read_text())
    ids = [r["service_request_id"] for r in data]
    assert len(ids) == len(set(ids))
    assert set(ids) == {r["service_request_id"] for r in expected}
    assert result.rows == len(set(ids))
    requests, _ = geo311.read_requests(out, schema="open311")
    assert len(requests) == result.rows


def test_open311_page_extension(
    server: ReplayServer, client: HttpClient, open311_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    server.route(OPEN311, open311_handler(open311_rows, paging=True))
    out = tmp_path / "o311.json"
    result = fetch_open311(
        server.url + OPEN311,
        out,
        start="2019-01-01",
        end="2019-03-01",
        page_size=200,
        client=client,
    )
    in_range = [r for r in open311_rows if r["requested_datetime"] <= "2019-03-01T00:00:00+00:00"]
    pages = [int(h.query["page"]) for h in server.hits_for(OPEN311)]
    assert pages == list(range(1, len(in_range) // 200 + 2))
    assert result.rows == len(in_range)


def test_open311_server_ignoring_pages_is_not_looped(
    server: ReplayServer, client: HttpClient, open311_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    server.route(OPEN311, open311_handler(open311_rows, paging=False))
    result = fetch_open311(
        server.url + OPEN311, tmp_path / "o.json", start="2019-01-01", end="2019-01-10",
        page_size=10, client=client,
    )  # fmt: skip
    assert len(server.hits_for(OPEN311)) == 2  # page 2 repeats page 1: stop
    assert result.pages == 1


def test_open311_api_key_never_shown(
    server: ReplayServer,
    client: HttpClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("O311_KEY", SECRET)
    server.route(OPEN311, Reply([{"code": 403, "description": "Invalid api_key"}], status=403))
    with caplog.at_level(logging.DEBUG), pytest.raises(FetchError) as info:
        fetch_open311(
            server.url + OPEN311, tmp_path / "o.json", start="2019-01-01", end="2019-02-01",
            api_key_env="O311_KEY", client=client,
        )  # fmt: skip
    assert server.hits[0].query["api_key"] == SECRET
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text
    assert "Invalid api_key" in str(info.value)
    assert str(server.url + OPEN311) in str(info.value)


def test_open311_resumes_at_the_failed_window(
    server: ReplayServer, open311_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    inner = open311_handler(open311_rows, paging=False)
    broken = {"on": True}

    def handle(hit: Hit) -> Reply:
        if broken["on"] and hit.query["start_date"].startswith("2019-06-30"):  # window 3
            return Reply("<html><body>Bad gateway</body></html>", content_type="text/html")
        return inner(hit)

    server.route(OPEN311, handle)
    out = tmp_path / "o.json"
    with pytest.raises(FetchError, match="HTML page"):
        fetch_open311(server.url + OPEN311, out, start="2019-01-01", end="2019-12-31")
    assert not out.exists()
    broken["on"] = False
    server.hits.clear()
    result = fetch_open311(server.url + OPEN311, out, start="2019-01-01", end="2019-12-31")
    assert [h.query["start_date"][:10] for h in server.hits] == [
        "2019-06-30", "2019-09-28", "2019-12-27",
    ]  # fmt: skip
    assert result.resumed_pages == 2
    ids = [r["service_request_id"] for r in json.loads(out.read_text())]
    assert len(ids) == len(set(ids)) == result.rows


def test_open311_window_limit() -> None:
    with pytest.raises(ValueError, match="between 1 and 90"):
        open311_windows("2019-01-01", "2019-12-31", window_days=120)
    assert len(open311_windows("2019-01-01", "2019-12-31", window_days=30)) == 13


# -- the HTTP layer ----------------------------------------------------------------------------


def test_429_retry_after_is_honoured_and_capped(
    server: ReplayServer, sleeps: list[float], tmp_path: Path
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.route(
        "/x",
        [
            Reply({"error": "slow down"}, status=429, headers={"Retry-After": "3"}),
            Reply({"error": "slow down"}, status=429, headers={"Retry-After": later}),
            Reply({"error": "slow down"}, status=429, headers={"Retry-After": "86400"}),
            Reply({"ok": True}),
        ],
    )
    with HttpClient(retries=3, sleep=sleeps.append, max_retry_after=60) as http:
        assert http.get_json(server.url + "/x") == {"ok": True}
    assert sleeps[0] == 3
    assert 25 <= sleeps[1] <= 30
    assert sleeps[2] == 60  # capped
    assert len(server.hits) == 4


def test_retries_are_bounded(server: ReplayServer, sleeps: list[float]) -> None:
    server.route("/x", Reply("oops", status=503, content_type="text/plain"))
    http = HttpClient(retries=2, sleep=sleeps.append, backoff=1, max_backoff=1.5)
    with http, pytest.raises(FetchError, match=r"/x failed after 3 attempt\(s\): HTTP 503"):
        http.get_json(server.url + "/x")
    assert len(server.hits) == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0  # full jitter in [backoff/2, backoff]
    assert 0.75 <= sleeps[1] <= 1.5  # doubled, capped by max_backoff


def test_500_then_success(server: ReplayServer, client: HttpClient) -> None:
    server.route("/x", [Reply("boom", status=500, content_type="text/plain"), Reply([1, 2])])
    assert client.get_json(server.url + "/x") == [1, 2]
    assert len(server.hits) == 2


def test_404_is_not_retried(server: ReplayServer, client: HttpClient) -> None:
    server.route("/x", Reply({"error": {"message": "Dataset not found"}}, status=404))
    with pytest.raises(FetchError, match=r"404.*Dataset not found.*check the URL"):
        client.get_json(server.url + "/x")
    assert len(server.hits) == 1


def test_timeout_is_retried_then_reported(server: ReplayServer, sleeps: list[float]) -> None:
    server.route("/slow", [Reply({"a": 1}, delay=0.6), Reply({"a": 2})])
    with HttpClient(timeout=0.2, retries=1, sleep=sleeps.append) as http:
        assert http.get_json(server.url + "/slow") == {"a": 2}
    server.route("/slower", Reply({"a": 1}, delay=0.6))
    with (
        HttpClient(timeout=0.2, retries=1, sleep=sleeps.append) as http,
        pytest.raises(
            FetchError, match=r"/slower failed after 2 attempt.*timed out.*GEO311_HTTP_TIMEOUT"
        ),
    ):
        http.get_json(server.url + "/slower")


def test_connection_dropped_mid_body_is_retried(server: ReplayServer, client: HttpClient) -> None:
    body = {"features": [{"attributes": {"OBJECTID": i}} for i in range(500)]}
    server.route("/drop", [Reply(body, drop_after=1000), Reply(body)])
    assert client.get_json(server.url + "/drop") == body
    assert len(server.hits) == 2


def test_connection_refused(client: HttpClient) -> None:
    with serve() as gone:
        url = gone.url
    with pytest.raises(FetchError, match=r"connection failed"):
        client.get_json(url + "/x")


def test_malformed_json_names_the_url(server: ReplayServer, client: HttpClient) -> None:
    server.route("/bad", Reply(b'{"features": [1, 2,'))
    with pytest.raises(
        FetchError, match=r"GET http://127\.0\.0\.1:\d+/bad\?f=json returned malformed JSON"
    ):
        client.get_json(server.url + "/bad", params={"f": "json"})


def test_html_page_with_status_200(server: ReplayServer, client: HttpClient) -> None:
    page = (
        "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon</body></html>"
    )
    server.route("/html", Reply(page, content_type="text/html; charset=utf-8"))
    server.route("/html-as-json", Reply(page))  # lying content type
    for path in ("/html", "/html-as-json"):
        with pytest.raises(FetchError, match=f"{path} returned an HTML page.*Maintenance"):
            client.get_json(server.url + path)


def test_cache_hit_sends_no_second_request(server: ReplayServer, tmp_path: Path) -> None:
    server.route("/meta", Reply({"maxRecordCount": 2000}))
    with HttpClient(cache=True) as http:
        first = http.get_json(server.url + "/meta", params={"f": "json", "$$app_token": SECRET})
        again = http.get_json(server.url + "/meta", params={"f": "json", "$$app_token": "other"})
        assert first == again == {"maxRecordCount": 2000}
        assert len(server.hits) == 1
        other = http.get_json(server.url + "/meta", params={"f": "pjson"})
        assert other == first
        assert len(server.hits) == 2
    cached = list((tmp_path / "cache" / "http").rglob("*.json"))
    assert len(cached) == 2
    for path in cached:
        assert SECRET not in path.name
        assert SECRET not in path.read_text()
    with HttpClient(cache=True, refresh=True) as http:
        http.get_json(server.url + "/meta", params={"f": "json"})
    assert len(server.hits) == 3


def test_user_agent_and_rate_limit(server: ReplayServer, sleeps: list[float]) -> None:
    server.route("/x", Reply({}))
    with HttpClient(rate_limit=20, sleep=sleeps.append) as http:
        for _ in range(3):
            http.get_json(server.url + "/x")
    assert server.hits[0].headers["user-agent"].startswith(f"geo311/{geo311.__version__} (+http")
    assert len(sleeps) >= 1
    assert all(0 < s <= 0.05 for s in sleeps)


def test_redaction_helpers() -> None:
    shown = redact_url(f"https://u:pw@x.org/a?$$app_token={SECRET}&q=1")
    assert SECRET not in shown
    assert "pw" not in shown
    assert shown.endswith("app_token=REDACTED&q=1")
    assert _parse_retry_after("soon") is None
    assert _parse_retry_after("-5") == 0


def test_each_connector_delivers_every_row(  # noqa: PLR0917 - fixtures
    server: ReplayServer,
    client: HttpClient,
    arcgis_layer: dict[str, Any],
    la_rows: list[dict[str, Any]],
    open311_rows: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Every row arrives once through each connector; rows/s is printed, never asserted."""
    handler = arcgis_handler(arcgis_layer, max_records=1000)
    server.route(LAYER, handler)
    server.route(f"{LAYER}/query", handler)
    server.route(SOCRATA, socrata_handler(la_rows))
    server.route(OPEN311, open311_handler(open311_rows, paging=True))
    runs = {
        "arcgis": lambda: fetch_arcgis(server.url + LAYER, tmp_path / "a.json", client=client),
        "socrata": lambda: fetch_socrata(
            server.url + SOCRATA, tmp_path / "s.csv", page_size=1000, client=client
        ),
        "open311": lambda: fetch_open311(
            server.url + OPEN311, tmp_path / "o.json", start="2019-01-01", end="2020-01-01",
            page_size=500, client=client,
        ),
    }  # fmt: skip
    expected = {
        "arcgis": len(arcgis_layer["features"]),
        "socrata": len(la_rows),
        "open311": len(open311_rows),
    }
    for name, run in runs.items():
        started = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - started
        rate = result.rows / seconds
        print(
            f"\n{name} replay: {result.rows} rows, {result.pages} pages in {seconds:.3f} s = {rate:,.0f} rows/s"
        )
        assert result.rows == expected[name]


def test_cli_fetch_socrata_then_ingest(
    server: ReplayServer, la_rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    from click.testing import CliRunner  # noqa: PLC0415 - only this test drives the CLI

    from geo311.cli import main  # noqa: PLC0415

    server.route(SOCRATA, socrata_handler(la_rows))
    out = tmp_path / "la.csv"
    runner = CliRunner()
    args = ["fetch", "requests", "--socrata", server.url + SOCRATA, "--page-size", "1000"]
    result = runner.invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2,500 rows in 3 pages" in result.output
    assert json.loads((tmp_path / "la.csv.provenance.json").read_text())["rows"] == 2500
    again = runner.invoke(main, [*args, "--out", str(out)])
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    ingested = tmp_path / "la.parquet"
    assert runner.invoke(main, ["-q", "ingest", str(out), "--out", str(ingested)]).exit_code == 0
    none = runner.invoke(main, ["fetch", "requests", "--out", str(tmp_path / "x.csv")])
    assert none.exit_code == 2
    assert "exactly one source" in none.output


# -- boundaries --------------------------------------------------------------------------------

WARDS = "/arcgis/rest/services/Wards/MapServer/3"


def ward_layer() -> dict[str, Any]:
    """Three square wards as ArcGIS polygon features (rings in lon/lat)."""
    fields = [
        {"name": "OBJECTID", "type": "esriFieldTypeOID"},
        {"name": "code", "type": "esriFieldTypeString"},
        {"name": "label", "type": "esriFieldTypeString"},
    ]
    features = []
    for i in range(3):
        x0 = -76.70 + 0.01 * i
        ring = [[x0, 39.30], [x0, 39.31], [x0 + 0.01, 39.31], [x0 + 0.01, 39.30], [x0, 39.30]]
        features.append(
            {
                "attributes": {"OBJECTID": i + 1, "code": f"W{i + 1}", "label": f"Ward {i + 1}"},
                "geometry": {"rings": [ring]},
            }
        )
    return {"fields": fields, "features": features}


def test_fetch_boundaries_into_the_cache_the_loader_searches(
    server: ReplayServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from geo311.cli import main  # noqa: PLC0415
    from geo311.join.layers import load_layers  # noqa: PLC0415

    cache = tmp_path / "cache"
    monkeypatch.setenv("GEO311_CACHE_DIR", str(cache))
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    handler = arcgis_handler(
        ward_layer(), max_records=2, path=WARDS, geometry_type="esriGeometryPolygon"
    )
    server.route(WARDS, handler)
    server.route(f"{WARDS}/query", handler)
    manifest = tmp_path / "gridtown.toml"
    manifest.write_text(
        f"""
city = "gridtown"
title = "Grid Town"
timezone = "America/New_York"
projected_crs = "EPSG:26985"

[layers.wards]
title = "Wards"
id_field = "code"
name_field = "label"

[[layers.wards.vintages]]
vintage = "2000"
valid_to = 2010-01-01
source = "https://example.org/wards-2000.zip"
publisher = "Grid Town"
file = "wards_2000.geojson"
crs = "EPSG:4326"

[[layers.wards.vintages]]
vintage = "2010"
valid_from = 2010-01-01
source = "{server.url}{WARDS}"
publisher = "Grid Town"
crs = "EPSG:4326"
""",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(main, ["fetch", "boundaries", str(manifest), "--layer", "wards"])
    assert result.exit_code == 0, result.output
    target = cache / "boundaries" / "gridtown" / "wards_2010.geojson"
    assert f"wrote {target}: 3 features" in result.output
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "wards_2010.geojson", "wards_2010.geojson.provenance.json",
    ]  # fmt: skip
    record = json.loads(target.with_name(target.name + ".provenance.json").read_text())
    assert (record["layer"], record["vintage"], record["rows"]) == ("wards", "2010", 3)
    assert record["pages"] == 2  # two features per page
    # the loader now finds the vintage the manifest declares without a file
    [layer] = load_layers(manifest, layers="wards", vintages={"wards": "2010"})["wards"]
    assert layer.has_file
    assert list(layer.gdf["area_id"]) == ["W1", "W2", "W3"]
    assert list(layer.gdf["area_name"]) == ["Ward 1", "Ward 2", "Ward 3"]
    again = runner.invoke(main, ["fetch", "boundaries", str(manifest)])
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    none = runner.invoke(main, ["fetch", "boundaries", str(manifest), "--vintage", "2000"])
    assert none.exit_code == 2
    assert "is served by an ArcGIS layer" in none.output

"""Connectors check totals and retry cut-short pages (issue 11), against the loopback server.

The layers and datasets are generated here: 2,500 numbered rows, served by
small emulations of an ArcGIS layer and a Socrata dataset that misbehave on
purpose (short pages without ``exceededTransferLimit``, an empty page in the
middle, a count the rows never reach, a status-200 body cut mid-JSON).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from replay import (  # noqa: F401 - fixtures, used by name
    Hit,
    ReplayServer,
    Reply,
    client_fixture,
    isolated_cache_fixture,
    server_fixture,
    sleeps_fixture,
)

from geo311._errors import ConfigError, FetchError, OptionError
from geo311.connectors import (
    FetchProgress,
    HttpClient,
    fetch_acs,
    fetch_arcgis,
    fetch_open311,
    fetch_socrata,
)
from geo311.connectors.arcgis import city_layer_url

pytest.importorskip("httpx")

LAYER = "/arcgis/rest/services/Requests/FeatureServer/0"
QUERY = f"{LAYER}/query"
SOCRATA = "/resource/wxyz-9876.json"
ROWS = 2500
SECRET = "pa55-w0rd-S3CRET"

Fault = Callable[[Hit], "Reply | None"]


def _features(n: int = ROWS) -> list[dict[str, Any]]:
    return [
        {"attributes": {"OBJECTID": i, "code": f"SR-{i:05d}"}, "geometry": {"x": -76.6, "y": 39.3}}
        for i in range(1, n + 1)
    ]


def arcgis_layer(
    features: list[dict[str, Any]],
    *,
    max_records: int = 1000,
    cap: int | None = None,
    flag: bool = True,
    paging: bool = True,
    count: int | None = None,
    fault: Fault | None = None,
) -> Callable[[Hit], Reply]:
    """A FeatureServer layer: ``cap`` rows per page at most; ``flag=False`` never says "more"."""
    meta = {
        "objectIdField": "OBJECTID",
        "maxRecordCount": max_records,
        "geometryType": "esriGeometryPoint",
        "fields": [{"name": "OBJECTID", "type": "esriFieldTypeOID"}, {"name": "code"}],
        "advancedQueryCapabilities": {"supportsPagination": paging},
    }
    header = {"objectIdFieldName": "OBJECTID", "spatialReference": {"wkid": 4326}}

    def handle(hit: Hit) -> Reply:
        q = hit.query
        if hit.path == LAYER:
            return Reply(meta)
        if fault is not None and (reply := fault(hit)) is not None:
            return reply
        if q.get("returnCountOnly") == "true":
            return Reply({"count": len(features) if count is None else count})
        if q.get("returnIdsOnly") == "true":
            return Reply({"objectIds": [f["attributes"]["OBJECTID"] for f in features]})
        if "objectIds" in q:
            wanted = {int(x) for x in q["objectIds"].split(",")}
            chosen = [f for f in features if f["attributes"]["OBJECTID"] in wanted]
            return Reply({**header, "features": chosen})
        offset = int(q["resultOffset"])
        size = min(int(q["resultRecordCount"]), max_records, cap or max_records)
        chunk = features[offset : offset + size]
        body: dict[str, Any] = {**header, "features": chunk}
        if flag and offset + len(chunk) < len(features):
            body["exceededTransferLimit"] = True
        return Reply(body)

    return handle


def socrata_dataset(
    rows: list[dict[str, Any]], *, count: int | None = None, fault: Fault | None = None
) -> Callable[[Hit], Reply]:
    def handle(hit: Hit) -> Reply:
        if fault is not None and (reply := fault(hit)) is not None:
            return reply
        if hit.query.get("$select") == "count(*)":
            return Reply([{"count": str(len(rows) if count is None else count)}])
        offset, limit = int(hit.query["$offset"]), int(hit.query["$limit"])
        return Reply(rows[offset : offset + limit])

    return handle


def _once(predicate: Callable[[Hit], bool], reply: Reply) -> Fault:
    """A fault that answers ``reply`` to the first request matching ``predicate`` only."""
    fired = {"done": False}

    def fault(hit: Hit) -> Reply | None:
        if not fired["done"] and predicate(hit):
            fired["done"] = True
            return reply
        return None

    return fault


def _pages(server: ReplayServer, path: str, key: str) -> list[str]:
    return [h.query[key] for h in server.hits_for(path) if key in h.query]


def _counts(server: ReplayServer, path: str) -> int:
    return sum(
        h.query.get("returnCountOnly") == "true" or h.query.get("$select") == "count(*)"
        for h in server.hits_for(path)
    )


def _oids(out: Path) -> list[int]:
    return [f["attributes"]["OBJECTID"] for f in json.loads(out.read_text())["features"]]


pytestmark = pytest.mark.usefixtures("isolated_cache")


# -- ArcGIS ------------------------------------------------------------------------------------


def test_arcgis_short_pages_without_the_flag_are_not_the_end(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    # maxRecordCount says 1,000 but the server sends 600 a page and never sets the flag:
    # before, the fetch ended after the first page with 600 of 2,500 rows and exit 0
    features = _features()
    server.route(LAYER, arcgis_layer(features, cap=600, flag=False))
    server.route(QUERY, arcgis_layer(features, cap=600, flag=False))
    out = tmp_path / "a.json"
    result = fetch_arcgis(server.url + LAYER, out, client=client)
    assert _oids(out) == list(range(1, ROWS + 1))
    assert result.rows == ROWS
    assert _pages(server, QUERY, "resultOffset") == ["0", "600", "1200", "1800", "2400"]
    assert _counts(server, QUERY) == 1  # asked once, before paging; it matched


def test_arcgis_count_mismatch_resumes_from_the_last_page(
    server: ReplayServer, client: HttpClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # one empty page at offset 1,000 (no flag) ends the paging; the count says 2,500
    fault = _once(lambda h: h.query.get("resultOffset") == "1000", Reply({"features": []}))
    features = _features()
    server.route(LAYER, arcgis_layer(features, flag=False, fault=fault))
    server.route(QUERY, arcgis_layer(features, flag=False, fault=fault))
    out = tmp_path / "a.json"
    with caplog.at_level(logging.WARNING):
        result = fetch_arcgis(server.url + LAYER, out, client=client)
    assert _oids(out) == list(range(1, ROWS + 1))  # every row once, in order
    assert result.rows == ROWS
    assert _pages(server, QUERY, "resultOffset") == ["0", "1000", "1000", "2000"]
    assert _counts(server, QUERY) == 2  # before paging, and again before resuming
    assert "counts 2,500 rows but 1,000 arrived; resuming" in caplog.text
    sidecar = json.loads(result.provenance.read_text())
    assert sidecar["rows"] == ROWS


def test_arcgis_count_mismatch_that_persists_is_an_error(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    features = _features()
    server.route(LAYER, arcgis_layer(features, count=ROWS + 100))
    server.route(QUERY, arcgis_layer(features, count=ROWS + 100))
    out = tmp_path / "a.json"
    url = server.url.replace("http://", f"http://analyst:{SECRET}@") + LAYER
    with pytest.raises(FetchError) as info:
        fetch_arcgis(url, out, client=client)
    message = str(info.value)
    assert f"{server.url}{QUERY}: the server counts 2,600 rows" in message
    assert "but 2,500 arrived after 3 resume(s)" in message
    assert "run the same command again later" in message
    assert SECRET not in message
    assert "\n" not in message
    assert not out.exists()
    assert (tmp_path / ".a.json.partial" / "state.json").is_file()  # kept for the next run
    assert _counts(server, QUERY) == 1 + 4  # before paging, then once per round


def test_arcgis_object_id_batches_refetch_what_a_batch_left_out(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    # a layer that cannot page: the first batch comes back 100 features short, once
    inner = arcgis_layer(_features(), paging=False)
    fired = {"short": False}

    def handle(hit: Hit) -> Reply:
        reply = inner(hit)
        if not fired["short"] and hit.query.get("objectIds", "").startswith("1,2,3,"):
            fired["short"] = True
            return Reply({**reply.body, "features": reply.body["features"][:-100]})
        return reply

    server.route(LAYER, handle)
    server.route(QUERY, handle)
    out = tmp_path / "a.json"
    result = fetch_arcgis(server.url + LAYER, out, client=client)
    assert sorted(_oids(out)) == list(range(1, ROWS + 1))
    assert len(_oids(out)) == ROWS  # no duplicates
    assert result.rows == ROWS
    batches = [
        h.query["objectIds"].split(",") for h in server.hits_for(QUERY) if "objectIds" in h.query
    ]
    assert [len(b) for b in batches] == [1000, 1000, 500, 100]  # the last one: the missing ids
    assert batches[-1] == [str(i) for i in range(901, 1001)]


def test_arcgis_page_cut_mid_json_is_retried_with_backoff(
    server: ReplayServer, client: HttpClient, sleeps: list[float], tmp_path: Path
) -> None:
    inner = arcgis_layer(_features())
    fired = {"cut": False}

    def handle(hit: Hit) -> Reply:
        reply = inner(hit)
        if not fired["cut"] and hit.query.get("resultOffset") == "1000":
            fired["cut"] = True
            whole = reply.payload()
            return Reply(whole[: len(whole) // 2])  # status 200, complete HTTP, half the JSON
        return reply

    server.route(LAYER, handle)
    server.route(QUERY, handle)
    out = tmp_path / "a.json"
    result = fetch_arcgis(server.url + LAYER, out, client=client)
    assert _oids(out) == list(range(1, ROWS + 1))  # every row once, no duplicates
    assert result.rows == ROWS
    assert result.pages == 3
    assert _pages(server, QUERY, "resultOffset") == ["0", "1000", "1000", "2000"]
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] <= 0.5  # the same backoff as a dropped connection


def test_a_page_always_cut_short_fails_after_the_retries(
    server: ReplayServer, sleeps: list[float], tmp_path: Path
) -> None:
    server.route("/x", Reply(b'{"features": [{"attributes": {"OBJECTID": 1'))
    with (
        HttpClient(retries=2, sleep=sleeps.append) as http,
        pytest.raises(FetchError) as info,
    ):
        http.get_json(server.url + "/x")
    assert "returned malformed JSON" in str(info.value)
    assert "[3 attempt(s)]" in str(info.value)
    assert len(server.hits) == 3
    assert len(sleeps) == 2


# -- Socrata -----------------------------------------------------------------------------------


def _rows(n: int = ROWS) -> list[dict[str, Any]]:
    return [{"srnumber": f"1-{i:07d}", "requesttype": "Bulky Items"} for i in range(n)]


def test_socrata_count_mismatch_resumes_and_cut_pages_are_retried(
    server: ReplayServer, client: HttpClient, sleeps: list[float], tmp_path: Path
) -> None:
    rows = _rows()
    empty_at_1000 = _once(lambda h: h.query.get("$offset") == "1000", Reply([]))
    cut_at_2000 = _once(lambda h: h.query.get("$offset") == "2000", Reply(b'[{"srnumber": "1-'))

    def fault(hit: Hit) -> Reply | None:
        return empty_at_1000(hit) or cut_at_2000(hit)

    server.route(SOCRATA, socrata_dataset(rows, fault=fault))
    out = tmp_path / "s.json"
    result = fetch_socrata(server.url + SOCRATA, out, page_size=1000, client=client)
    written = [r["srnumber"] for r in json.loads(out.read_text())]
    assert written == [r["srnumber"] for r in rows]  # every row once, in order
    assert result.rows == ROWS
    assert _pages(server, SOCRATA, "$offset") == ["0", "1000", "1000", "2000", "2000"]
    assert _counts(server, SOCRATA) == 2
    count_hits = [h for h in server.hits_for(SOCRATA) if h.query.get("$select") == "count(*)"]
    assert all("$where" not in h.query for h in count_hits)
    assert len(sleeps) == 1  # the cut page only; the resume does not wait


def test_socrata_count_uses_the_same_where_and_a_persistent_gap_fails(
    server: ReplayServer,
    client: HttpClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOCRATA_APP_TOKEN", SECRET)
    server.route(SOCRATA, socrata_dataset(_rows(), count=ROWS - 1))
    where = "createddate >= '2024-01-01'"
    with pytest.raises(FetchError) as info:
        fetch_socrata(server.url + SOCRATA, tmp_path / "s.csv", where=where, client=client)
    message = str(info.value)
    assert "the server counts 2,499 rows for this query but 2,500 arrived" in message
    assert SECRET not in message
    counts = [h for h in server.hits_for(SOCRATA) if h.query.get("$select") == "count(*)"]
    assert {h.query["$where"] for h in counts} == {where}
    assert all(h.headers["x-app-token"] == SECRET for h in server.hits)


def test_open311_has_no_count_and_asks_for_none(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    requests = [
        {"service_request_id": str(i), "requested_datetime": f"2024-01-{1 + i % 28:02d}T10:00:00Z"}
        for i in range(50)
    ]
    server.route("/open311/v2/requests.json", Reply(requests))
    result = fetch_open311(
        server.url + "/open311/v2", tmp_path / "o.json", start="2024-01-01", end="2024-02-01",
        client=client,
    )  # fmt: skip
    assert result.rows == 50
    assert len(server.hits) == 1


def test_census_answer_cut_short_is_retried(
    server: ReplayServer, client: HttpClient, sleeps: list[float], tmp_path: Path
) -> None:
    table = [
        ["NAME", "B01003_001E", "B01003_001M", "state", "county", "tract"],
        ["Tract 1", "1200", "90", "24", "510", "010100"],
        ["Tract 2", "2300", "120", "24", "510", "010200"],
    ]
    whole = json.dumps(table).encode()
    server.route("/data/2022/acs/acs5", [Reply(whole[:40]), Reply(whole)])
    result = fetch_acs(
        tmp_path / "acs.csv", state="24", county="510", tables=("B01003",),
        base_url=f"{server.url}/data", client=client,
    )  # fmt: skip
    assert result.rows == 2
    assert len(server.hits) == 2
    assert len(sleeps) == 1


# -- option errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda out: fetch_socrata("http://127.0.0.1:9/r.json", out, page_size=0), "page_size"),
        (lambda out: fetch_arcgis("http://127.0.0.1:9/x/0", out, page_size=-5), "page_size"),
        (
            lambda out: fetch_open311("http://127.0.0.1:9", out, start="2024-13-45", end="2025"),
            "start='2024-13-45' is not an ISO 8601 date",
        ),
        (
            lambda out: fetch_open311(
                "http://127.0.0.1:9", out, start="2024-02-01", end="2024-01-01"
            ),
            "must be after start",
        ),
        (lambda out: fetch_acs(out, state="MD", county="510"), "2-digit FIPS"),
        (lambda out: fetch_acs(out, state="24", county="510", tables=("X1",)), "table codes"),
        (lambda _out: city_layer_url("baltimore", 25), "four-digit year"),
    ],
    ids=["socrata-page", "arcgis-page", "open311-date", "open311-order", "fips", "table", "year"],
)
def test_bad_options_raise_option_error_in_one_line(
    call: Callable[[Path], object], words: str, tmp_path: Path
) -> None:
    with pytest.raises(OptionError) as info:
        call(tmp_path / "out.json")
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_client_settings_are_config_or_option_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OptionError, match="retries must be 0 or more"):
        HttpClient(retries=-1)
    with pytest.raises(OptionError, match="rate_limit must be a positive number"):
        HttpClient(rate_limit=0)
    monkeypatch.setenv("GEO311_HTTP_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="GEO311_HTTP_TIMEOUT='soon' is not a number"):
        HttpClient()
    monkeypatch.setenv("GEO311_HTTP_TIMEOUT", "-3")
    with pytest.raises(ConfigError, match="must be a positive number of seconds"):
        HttpClient()


def test_open311_key_from_an_unset_variable_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_O311_KEY", raising=False)
    with pytest.raises(ConfigError, match="'NO_SUCH_O311_KEY' names an unset environment"):
        fetch_open311(
            "http://127.0.0.1:9", tmp_path / "o.json", start="2024-01-01", end="2024-02-01",
            api_key_env="NO_SUCH_O311_KEY",
        )  # fmt: skip


def test_progress_reports_the_servers_count(
    server: ReplayServer, client: HttpClient, tmp_path: Path
) -> None:
    server.route(SOCRATA, socrata_dataset(_rows()))
    seen: list[FetchProgress] = []
    fetch_socrata(
        server.url + SOCRATA, tmp_path / "s.csv", page_size=1000, client=client,
        progress=seen.append,
    )  # fmt: skip
    assert [(p.rows, p.total) for p in seen] == [(1000, ROWS), (2000, ROWS), (2500, ROWS)]

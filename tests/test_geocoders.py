"""Online geocoders (Census batch, ArcGIS locator) against a loopback replay server.

The Census answers and ArcGIS candidates are built here, per request, from the
uploaded CSV or the query string, so each test states what the service knows.
Uploads reach the replay server's ``post_routes`` with the parsed form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from replay import Hit, ReplayServer, Reply, serve

from geo311._errors import FetchError, GeocodeError, OptionError
from geo311.connectors._client import HttpClient
from geo311.geocode.cache import GeocodeCache
from geo311.geocode.core import geocode
from geo311.geocode.online import CENSUS_NON_EXACT_SCORE, ArcGISLocator, CensusBatchGeocoder
from geo311.geocode.protocol import GEOCODE_COLUMNS, Geocoder

pytest.importorskip("httpx")

BATCH = "/geocoder/locations/addressbatch"
LOCATOR = "/arcgis/rest/services/Locators/Composite/GeocodeServer"
FIND = f"{LOCATOR}/findAddressCandidates"


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with serve() as replay:
        yield replay


@pytest.fixture
def client(tmp_path) -> Iterator[HttpClient]:
    with HttpClient(retries=2, backoff=0.0, sleep=lambda _s: None, cache_path=tmp_path) as c:
        yield c


# -- a fake Census service ---------------------------------------------------------------------

# What the fake Census service knows: normalised street -> (kind, matched address, lon, lat).
# kind: "Exact", "Non_Exact", "Tie", "DROP" (row left out of the answer); unknown -> No_Match.
CENSUS_WORLD: dict[str, tuple[str, str, float, float]] = {
    "100 N HOLLIDAY ST": ("Exact", "100 N HOLLIDAY ST, BALTIMORE, MD, 21202", -76.6103, 39.2910),
    "3324 SUMTER AVE": ("Exact", "3324 SUMTER AVE, BALTIMORE, MD, 21215", -76.6750, 39.3380),
    "400 E PRATT ST": ("Exact", "400 E PRATT ST, BALTIMORE, MD, 21202", -76.6105, 39.2866),
    "1800 RAMSEY ST": ("Non_Exact", "1800 RAMSAY ST, BALTIMORE, MD, 21223", -76.6460, 39.2840),
    "5 OAK RD": ("Non_Exact", "5 OAK RD, BALTIMORE, MD, 21201", -76.6200, 39.3000),
    "200 MAIN ST": ("Tie", "", np.nan, np.nan),
    "77 LOST LN": ("DROP", "", np.nan, np.nan),
}


def census_answer(upload: bytes) -> bytes:
    """Answer a batch upload the way the Census service does (no header, quoted)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row_id, street, city, state, zip_code in csv.reader(io.StringIO(upload.decode())):
        given = f"{street}, {city}, {state}, {zip_code}"
        kind, matched, lon, lat = CENSUS_WORLD.get(street, ("No_Match", "", np.nan, np.nan))
        if kind == "DROP":
            continue
        if kind in ("Exact", "Non_Exact"):
            writer.writerow([row_id, given, "Match", kind, matched, f"{lon},{lat}", "123456", "L"])
        elif kind == "Tie":
            writer.writerow([row_id, given, "Tie"])
        else:
            writer.writerow([row_id, given, "No_Match"])
    return out.getvalue().encode()


def census_route(server: ReplayServer) -> None:
    server.post_routes[BATCH] = lambda form: Reply(
        census_answer(form["addressFile"]), content_type="text/csv"
    )


def batch(rows: list[tuple[str, str | None]], index: list[Any] | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "address": pd.array([r[0] for r in rows], dtype="string"),
            "zipcode": pd.array([r[1] for r in rows], dtype="string"),
        },
        index=index,
    )


CENSUS_SET = [
    ("100 N HOLLIDAY ST", "21202"),  # exact
    ("3324 SUMTER AVE", "21215"),  # exact
    ("400 E PRATT ST", None),  # exact, no ZIP
    ("1800 RAMSEY ST", "21223"),  # non-exact -> fuzzy
    ("200 MAIN ST", None),  # tie -> ambiguous
    ("9 NOWHERE ST", "21201"),  # no match
    ("77 LOST LN", None),  # absent from the answer -> none
    ("N AVE & S ST", None),  # intersection: not sent
]


def census(server: ReplayServer, client: HttpClient, **kw: Any) -> CensusBatchGeocoder:
    return CensusBatchGeocoder(
        base_url=f"{server.url}/geocoder", client=client, city="Baltimore", state="MD", **kw
    )


# -- Census batch geocoder ---------------------------------------------------------------------


def test_census_follows_protocol_and_maps_every_answer(server, client) -> None:
    census_route(server)
    geocoder = census(server, client)
    assert isinstance(geocoder, Geocoder)
    index = [10, 11, 12, 13, 14, 15, 16, 17]
    answer = geocoder.geocode_batch(batch(CENSUS_SET, index))
    assert list(answer.index) == index
    assert list(answer.columns[: len(GEOCODE_COLUMNS)]) == list(GEOCODE_COLUMNS)
    assert list(answer["match"]) == [
        "exact",
        "exact",
        "exact",
        "fuzzy",
        "ambiguous",
        "none",
        "none",
        "none",
    ]
    assert answer.loc[10, ["lon", "lat"]].tolist() == [-76.6103, 39.2910]
    assert answer.loc[10, "score"] == 100
    assert answer.loc[13, "score"] == CENSUS_NON_EXACT_SCORE
    assert answer.loc[13, "matched_address"].startswith("1800 RAMSAY ST")
    assert answer.loc[[14, 15, 16, 17], "lon"].isna().all()
    assert answer.loc[14, "score"] != answer.loc[14, "score"]  # NaN
    assert "Tie" in answer.loc[14, "reason"]
    assert "No_Match" in answer.loc[15, "reason"]
    assert "absent" in answer.loc[16, "reason"]
    assert "intersection" in answer.loc[17, "reason"]
    assert set(answer["source"]) == {"census"}

    # one multipart POST: the benchmark, and a header-less CSV of the 7 street addresses
    [form] = server.forms
    assert form["benchmark"] == b"Public_AR_Current"
    rows = list(csv.reader(io.StringIO(form["addressFile"].decode())))
    assert len(rows) == 7
    assert rows[0] == ["1", "100 N HOLLIDAY ST", "Baltimore", "MD", "21202"]
    assert rows[2] == ["3", "400 E PRATT ST", "Baltimore", "MD", ""]
    matched = answer["match"].isin(["exact", "fuzzy"]).mean()
    assert matched == pytest.approx(4 / 8)


def test_census_fingerprint_and_batch_limit(server, client) -> None:
    a = census(server, client)
    b = census(server, client, benchmark="Public_AR_Census2020")
    assert a.fingerprint != b.fingerprint
    assert "Public_AR_Census2020" in b.fingerprint
    assert server.url in a.fingerprint
    assert a.max_batch_size == 10_000
    with pytest.raises(GeocodeError, match="at most 10,000"):
        a.geocode_batch(batch([("1 A ST", None)] * 10_001))
    with pytest.raises(OptionError, match="benchmark"):
        CensusBatchGeocoder(benchmark=" ")


def test_census_batches_split_at_max_batch_size(server, client) -> None:
    census_route(server)
    geocoder = census(server, client)
    geocoder.max_batch_size = 3  # the instance attribute wins over the class's 10,000
    requests = pd.DataFrame(
        {"address": [a for a, _ in CENSUS_SET], "zipcode": [z for _, z in CENSUS_SET]}
    )
    done: list[tuple[int, int]] = []
    frame, _ = geocode(requests, geocoder=geocoder, progress=lambda d, t: done.append((d, t)))
    # 8 distinct addresses, 3 per batch -> 3 uploads (the intersection travels in a batch
    # but is never written into the upload)
    assert len(server.hits_for(BATCH)) == 3
    sent = [len(list(csv.reader(io.StringIO(f["addressFile"].decode())))) for f in server.forms]
    assert sum(sent) == 7
    assert max(sent) <= 3
    assert done[-1] == (8, 8)
    assert frame["geocode_match"].value_counts().to_dict() == {
        "exact": 3,
        "none": 3,
        "fuzzy": 1,
        "ambiguous": 1,
    }


def test_census_errors(server, client) -> None:
    geocoder = census(server, client)
    server.post_routes[BATCH] = lambda _f: Reply(
        "<html><body><h1>Service Unavailable</h1></body></html>", content_type="text/html"
    )
    with pytest.raises(
        GeocodeError,
        match=r"POST http://127\.0\.0\.1:\d+/geocoder/locations/addressbatch returned an HTML page",
    ):
        geocoder.geocode_batch(batch([("100 N HOLLIDAY ST", None)]))
    server.post_routes[BATCH] = lambda _f: Reply("nonsense", content_type="text/plain")
    with pytest.raises(GeocodeError, match="batch CSV format"):
        geocoder.geocode_batch(batch([("100 N HOLLIDAY ST", None)]))
    server.post_routes[BATCH] = lambda _f: Reply(
        "bad benchmark", status=400, content_type="text/plain"
    )
    with pytest.raises(FetchError, match=r"POST .*addressbatch failed: HTTP 400.*bad benchmark"):
        geocoder.geocode_batch(batch([("100 N HOLLIDAY ST", None)]))


def test_census_retries_a_503_then_succeeds(server, client) -> None:
    replies = [Reply("busy", status=503, content_type="text/plain")]

    def flaky(form: dict[str, bytes]) -> Reply:
        if replies:
            return replies.pop()
        return Reply(census_answer(form["addressFile"]), content_type="text/csv")

    server.post_routes[BATCH] = flaky
    answer = census(server, client).geocode_batch(batch([("100 N HOLLIDAY ST", None)]))
    assert list(answer["match"]) == ["exact"]
    assert len(server.hits_for(BATCH)) == 2
    # the upload was sent whole both times
    assert server.forms[0] == server.forms[1]


def test_census_blank_batch_sends_nothing(server, client) -> None:
    answer = census(server, client).geocode_batch(batch([("A ST & B ST", None)]))
    assert list(answer["match"]) == ["none"]
    assert server.hits == []


# -- ArcGIS locator ----------------------------------------------------------------------------


def cand(score: float, x: float, y: float, addr: str, addr_type: str = "PointAddress") -> dict:
    return {
        "address": addr,
        "location": {"x": x, "y": y},
        "score": score,
        "attributes": {"Addr_type": addr_type, "Match_addr": addr, "Score": score},
    }


# SingleLine -> candidates the fake locator returns
LOCATOR_WORLD: dict[str, list[dict]] = {
    "100 N HOLLIDAY ST, 21202": [
        cand(100, -76.6103, 39.2910, "100 N Holliday St, Baltimore, MD, 21202"),
        cand(88, -76.6110, 39.2920, "100 Holliday St, Baltimore, MD, 21202"),
    ],
    "1800 RAMSEY ST": [cand(91.5, -76.6460, 39.2840, "1800 Ramsay St, Baltimore, MD, 21223")],
    "12 MAPLE AVE": [cand(72, -76.60, 39.30, "12 Maple Ave, Baltimore, MD")],  # below threshold
    "200 MAIN ST": [  # equal scores, ~1.4 km apart
        cand(95, -76.60, 39.30, "200 Main St, Baltimore, MD, 21201"),
        cand(95, -76.61, 39.31, "200 Main St, Baltimore, MD, 21230"),
    ],
    "300 TWIN ST": [  # equal scores, same building
        cand(100, -76.60000, 39.30000, "300 Twin St"),
        cand(100, -76.60005, 39.30005, "300 Twin St"),
    ],
    "9 ZIP ONLY ST, 21201": [cand(100, -76.62, 39.29, "21201", addr_type="Postal")],
    "N CHARLES ST & E NORTH AVE": [
        cand(100, -76.6165, 39.3118, "N Charles St & E North Ave", addr_type="StreetInt")
    ],
}

LOCATOR_SET = [
    ("100 N HOLLIDAY ST", "21202"),  # exact
    ("1800 RAMSEY ST", None),  # fuzzy 91.5
    ("12 MAPLE AVE", None),  # below threshold -> none
    ("200 MAIN ST", None),  # tie far apart -> ambiguous
    ("300 TWIN ST", None),  # tie, same place -> exact
    ("9 ZIP ONLY ST", "21201"),  # Postal -> none
    ("N CHARLES ST & E NORTH AVE", None),  # intersection -> exact
    ("5 UNKNOWN WAY", None),  # no candidates -> none
]


def locator_route(server: ReplayServer) -> None:
    def answer(hit: Hit) -> Reply:
        line = hit.query["SingleLine"]
        return Reply(
            {
                "spatialReference": {"wkid": 4326, "latestWkid": 4326},
                # a known line, else the street without its ZIP
                "candidates": LOCATOR_WORLD.get(line, LOCATOR_WORLD.get(line.split(",")[0], [])),
            }
        )

    server.route(FIND, answer)


def test_arcgis_candidates(server, client) -> None:
    locator_route(server)
    locator = ArcGISLocator(f"{server.url}{LOCATOR}", client=client)
    assert isinstance(locator, Geocoder)
    assert locator.name == "arcgis:Composite"
    answer = locator.geocode_batch(batch(LOCATOR_SET))
    assert list(answer["match"]) == [
        "exact",
        "fuzzy",
        "none",
        "ambiguous",
        "exact",
        "none",
        "exact",
        "none",
    ]
    assert answer.loc[0, ["lon", "lat", "score"]].tolist() == [-76.6103, 39.2910, 100]
    assert answer.loc[0, "matched_address"] == "100 N Holliday St, Baltimore, MD, 21202"
    assert answer.loc[1, "score"] == 91.5
    assert "72 < min_score 80" in answer.loc[2, "reason"]
    assert np.isnan(answer.loc[2, "lon"])
    assert "apart" in answer.loc[3, "reason"]
    assert np.isnan(answer.loc[3, "lon"])
    assert "Postal" in answer.loc[5, "reason"]
    assert answer.loc[7, "reason"] == "no candidates"
    hit = server.hits_for(FIND)[0]
    assert hit.query == {
        "SingleLine": "100 N HOLLIDAY ST, 21202",
        "outFields": "Addr_type,Match_addr,Score",
        "outSR": "4326",
        "f": "json",
        "maxLocations": "2",
    }
    assert len(server.hits_for(FIND)) == len(LOCATOR_SET)


def test_arcgis_threshold_and_fingerprint(server, client) -> None:
    locator_route(server)
    strict = ArcGISLocator(f"{server.url}{FIND}", min_score=95, client=client)
    assert strict.url == f"{server.url}{LOCATOR}"  # the endpoint suffix is accepted
    answer = strict.geocode_batch(batch([("1800 RAMSEY ST", None), ("12 MAPLE AVE", None)]))
    assert list(answer["match"]) == ["none", "none"]
    lax = ArcGISLocator(f"{server.url}{LOCATOR}", min_score=70, client=client)
    assert list(lax.geocode_batch(batch([("12 MAPLE AVE", None)]))["match"]) == ["fuzzy"]
    assert strict.fingerprint != lax.fingerprint
    secret = ArcGISLocator(f"{server.url}{LOCATOR}", params={"token": "s3cr3t"}, client=client)
    assert "s3cr3t" not in secret.fingerprint
    with pytest.raises(ValueError, match="min_score"):
        ArcGISLocator("https://x.org/GeocodeServer", min_score=120)


def test_arcgis_projects_other_spatial_references(server, client) -> None:
    # Maryland State Plane (EPSG:2248, US feet) coordinates of a Baltimore point
    x, y = Transformer.from_crs(4326, 2248, always_xy=True).transform(-76.6103, 39.2910)
    server.route(FIND, Reply({"candidates": [cand(100, x, y, "100 N Holliday St")]}))
    locator = ArcGISLocator(f"{server.url}{LOCATOR}", out_sr=2248, client=client)
    answer = locator.geocode_batch(batch([("100 N HOLLIDAY ST", None)]))
    assert server.hits_for(FIND)[0].query["outSR"] == "2248"
    assert answer.loc[0, "lon"] == pytest.approx(-76.6103, abs=1e-6)
    assert answer.loc[0, "lat"] == pytest.approx(39.2910, abs=1e-6)


def test_arcgis_error_bodies_name_the_url(server, client) -> None:
    locator = ArcGISLocator(f"{server.url}{LOCATOR}", client=client)
    server.route(
        FIND,
        Reply({"error": {"code": 498, "message": "Invalid Token", "details": ["expired"]}}),
    )
    with pytest.raises(
        GeocodeError,
        match=r"GET http://127\.0\.0\.1:\d+/arcgis/.*/findAddressCandidates answered with an error: Invalid Token \(expired\)",
    ):
        locator.geocode_batch(batch([("1 A ST", None)]))
    server.route(FIND, Reply({"features": []}))
    with pytest.raises(GeocodeError, match="no 'candidates' list"):
        locator.geocode_batch(batch([("1 A ST", None)]))
    server.route(FIND, Reply("<html><body>Maintenance</body></html>", content_type="text/html"))
    with pytest.raises(FetchError, match="HTML page"):
        locator.geocode_batch(batch([("1 A ST", None)]))


def test_arcgis_secret_param_never_in_errors(server, client) -> None:
    server.route(FIND, Reply({"error": {"code": 400, "message": "Bad"}}))
    locator = ArcGISLocator(f"{server.url}{LOCATOR}", params={"token": "s3cr3t"}, client=client)
    with pytest.raises(GeocodeError) as info:
        locator.geocode_batch(batch([("1 A ST", None)]))
    assert "s3cr3t" not in str(info.value)
    assert server.hits_for(FIND)[0].query["token"] == "s3cr3t"


# -- through geocode(): cache reuse and filling only missing coordinates -----------------------


def _requests() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "address": [
                "100 North Holliday Street",  # missing -> exact
                "1800 Ramsey St",  # missing -> fuzzy
                "200 Main St",  # missing -> tie
                "9 Nowhere St, Baltimore, 21201",  # missing -> no match
                "400 E. Pratt St",  # good coordinates: never sent, never overwritten
                "100 N HOLLIDAY ST",  # same normalised address as row 0: asked once
                None,  # no address
            ],
            "zipcode": ["21202", "21223", None, None, "21202", "21202", None],
            "lat": [np.nan, 0.0, np.nan, np.nan, 39.2866, np.nan, np.nan],
            "long": [np.nan, 0.0, np.nan, np.nan, -76.6105, np.nan, np.nan],
        }
    )


def test_geocode_with_census_fills_only_missing_and_cache_is_reused(
    server, client, tmp_path
) -> None:
    census_route(server)
    geocoder = census(server, client)
    cache = GeocodeCache(tmp_path / "geocode.sqlite")
    requests = _requests()
    frame, ledger = geocode(requests, geocoder=geocoder, cache=cache)
    assert len(server.hits_for(BATCH)) == 1
    assert len(list(csv.reader(io.StringIO(server.forms[0]["addressFile"].decode())))) == 4
    assert frame.loc[0, ["lat", "long"]].tolist() == [39.2910, -76.6103]
    assert frame.loc[5, ["lat", "long"]].tolist() == [39.2910, -76.6103]
    assert frame.loc[1, ["lat", "long"]].tolist() == [39.2840, -76.6460]  # zero -> filled
    assert frame.loc[[2, 3, 6], "lat"].isna().all()
    assert frame.loc[4, ["lat", "long"]].tolist() == [39.2866, -76.6105]  # untouched
    assert pd.isna(frame.loc[4, "geocode_match"])
    assert list(frame["geocode_match"].fillna("-")) == [
        "exact",
        "fuzzy",
        "ambiguous",
        "none",
        "-",
        "exact",
        "-",
    ]
    assert frame.loc[1, "geocode_score"] == CENSUS_NON_EXACT_SCORE
    assert frame.loc[0, "geocode_source"] == "census"
    assert requests["lat"].isna().sum() == 5  # input untouched
    flagged = ledger.stage("geocode").flagged
    assert flagged["filled_coordinates"] == 3  # rows 0, 1 and 5; never row 4
    assert flagged["matched_exact"] == 2
    assert flagged["ambiguous"] == 1
    assert flagged["unmatched"] == 1

    # second run: every answer (none and ambiguous included) comes from the cache
    again, _ = geocode(requests, geocoder=census(server, client), cache=cache)
    assert len(server.hits_for(BATCH)) == 1
    pd.testing.assert_frame_equal(again, frame)
    # another benchmark is another fingerprint: asked again
    geocode(
        requests, geocoder=census(server, client, benchmark="Public_AR_Census2020"), cache=cache
    )
    assert len(server.hits_for(BATCH)) == 2


def test_geocode_with_arcgis_and_cache(server, client, tmp_path) -> None:
    locator_route(server)
    cache = GeocodeCache(tmp_path / "geocode.sqlite")
    locator = ArcGISLocator(f"{server.url}{LOCATOR}", client=client)
    frame, _ = geocode(_requests(), geocoder=locator, cache=cache)
    assert len(server.hits_for(FIND)) == 4  # 4 distinct addresses need coordinates
    assert frame.loc[0, ["lat", "long"]].tolist() == [39.2910, -76.6103]
    assert frame.loc[1, "geocode_match"] == "fuzzy"
    assert list(frame["geocode_match"].fillna("-")) == [
        "exact",
        "fuzzy",
        "ambiguous",
        "none",
        "-",
        "exact",
        "-",
    ]
    assert frame.loc[4, ["lat", "long"]].tolist() == [39.2866, -76.6105]
    geocode(
        _requests(), geocoder=ArcGISLocator(f"{server.url}{LOCATOR}", client=client), cache=cache
    )
    assert len(server.hits_for(FIND)) == 4


def test_failed_batch_is_not_cached(server, client, tmp_path) -> None:
    cache = GeocodeCache(tmp_path / "geocode.sqlite")
    server.route(FIND, Reply({"error": {"code": 500, "message": "Locator down"}}))
    locator = ArcGISLocator(f"{server.url}{LOCATOR}", client=client)
    with pytest.raises(GeocodeError, match="Locator down"):
        geocode(_requests(), geocoder=locator, cache=cache)
    assert len(cache) == 0


# -- match rates on the test address sets ------------------------------------------------------


def test_match_rates_on_test_sets(server, client, capsys) -> None:
    census_route(server)
    locator_route(server)
    rates = {}
    for name, geocoder, rows in (
        ("census", census(server, client), CENSUS_SET),
        ("arcgis", ArcGISLocator(f"{server.url}{LOCATOR}", client=client), LOCATOR_SET),
    ):
        counts = geocoder.geocode_batch(batch(rows))["match"].value_counts().to_dict()
        rates[name] = counts
        with capsys.disabled():
            print(f"\n{name}: {len(rows)} addresses -> {counts}")
    assert rates["census"] == {"exact": 3, "none": 3, "fuzzy": 1, "ambiguous": 1}
    assert rates["arcgis"] == {"exact": 3, "none": 3, "fuzzy": 1, "ambiguous": 1}


def test_http_post_multipart(server, client) -> None:
    server.post_routes["/echo"] = lambda form: Reply(
        form["f"] + b"|" + form["k"], content_type="text/plain"
    )
    body = client.post_multipart(
        f"{server.url}/echo", files={"f": ("a.csv", b"1,2\n", "text/csv")}, data={"k": "v"}
    )
    assert body == b"1,2\n|v"
    with pytest.raises(FetchError, match=r"POST http://127\.0\.0\.1:\d+/nowhere failed: HTTP 404"):
        client.post_multipart(f"{server.url}/nowhere", files={"f": ("a", b"x", "text/plain")})


# -- the CLI -----------------------------------------------------------------------------------


def _ingested(tmp_path, rows: list[str]):
    """Canonical requests (GeoParquet) from a tiny Bulk CSV whose rows lack coordinates."""
    from click.testing import CliRunner  # noqa: PLC0415

    from geo311.cli import main  # noqa: PLC0415

    raw = tmp_path / "bulk.csv"
    lines = ["service_request_id,service_name,status,requested_datetime,address,zipcode,lat,long"]
    lines += [
        f"C-{i},Pothole,open,2024-03-01T10:00:00-05:00,{address},{zip_code},,"
        for i, (address, zip_code) in enumerate(rows)
    ]
    raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "req.parquet"
    args = ["-q", "ingest", str(raw), "--out", str(out), "--as-of", "2024-04-01"]
    assert CliRunner().invoke(main, args).exit_code == 0
    return out


@pytest.mark.parametrize("kind", ["census", "arcgis"])
def test_cli_geocodes_with_online_services(server, tmp_path, kind) -> None:
    import geopandas as gpd  # noqa: PLC0415
    from click.testing import CliRunner  # noqa: PLC0415

    from geo311.cli import main  # noqa: PLC0415

    requests = _ingested(tmp_path, [("100 N HOLLIDAY ST", "21202"), ("9 NOWHERE ST", "21201")])
    if kind == "census":
        census_route(server)
        choice = ["--geocoder", "census", "--census-url", f"{server.url}/geocoder"]
        choice += ["--city-name", "Baltimore", "--state", "MD"]
    else:
        locator_route(server)
        choice = ["--geocoder", f"arcgis:{server.url}{LOCATOR}", "--min-score", "85"]
    out = tmp_path / "geo.parquet"
    env = {"GEO311_CACHE_DIR": str(tmp_path / "cache")}
    runner = CliRunner()
    result = runner.invoke(main, ["geocode", str(requests), *choice, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    frame = gpd.read_parquet(out).set_index("service_request_id")
    assert frame.loc["C-0", "geocode_match"] in {"exact", "fuzzy"}
    assert frame.loc["C-0", "lat"] == pytest.approx(39.29, abs=0.01)
    assert frame.loc["C-1", "geocode_match"] == "none"
    assert pd.isna(frame.loc["C-1", "lat"])
    # a second run answers from the SQLite cache: the service is not asked again
    asked = len(server.hits)
    again = runner.invoke(
        main,
        ["geocode", str(requests), *choice, "--out", str(out), "--overwrite"],
        env=env,
    )
    assert again.exit_code == 0, again.output
    assert len(server.hits) == asked

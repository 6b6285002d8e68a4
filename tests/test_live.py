"""The connectors and geocoders against the real services (skipped unless GEO311_NETWORK=1).

The default test run never touches the internet: these tests are marked
``network`` and skipped by ``conftest.py``.  Run them by hand, from a machine
with internet access, to check that the services still answer the way the
replay server in the other tests imitates them:

    GEO311_NETWORK=1 python -m pytest tests/test_live.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo311.connectors._client import HttpClient
from geo311.connectors.arcgis import city_layer_url
from geo311.connectors.census import fetch_acs
from geo311.connectors.open311 import fetch_open311
from geo311.geocode.online import CensusBatchGeocoder
from geo311.population.tracts import read_tract_table

pytestmark = pytest.mark.network


def test_census_acs_population_of_baltimore_tracts(tmp_path: Path) -> None:
    result = fetch_acs(tmp_path / "acs.csv", state="24", county="510", tables=("B01003",))
    table = read_tract_table(result.path).table
    assert 150 < len(table) < 250  # Baltimore city has about 200 tracts
    assert 500_000 < table["population"].sum() < 700_000


def test_census_batch_geocoder_places_city_hall() -> None:
    with CensusBatchGeocoder(city="Baltimore", state="MD") as census:
        answer = census.geocode_batch(
            pd.DataFrame({"address": ["100 N HOLLIDAY ST"], "zipcode": ["21202"]})
        )
    assert answer["match"].iloc[0] in {"exact", "fuzzy"}
    assert answer["lat"].iloc[0] == pytest.approx(39.29, abs=0.01)


def test_open_baltimore_layer_is_registered_and_answers() -> None:
    with HttpClient() as http:
        meta = http.get_json(city_layer_url("baltimore", 2024), params={"f": "json"})
    assert "error" not in meta, meta
    assert meta.get("maxRecordCount", 0) > 0


def test_an_open311_endpoint_answers(tmp_path: Path) -> None:
    result = fetch_open311(
        "http://311api.cityofchicago.org/open311/v2/requests.json",
        tmp_path / "chicago.json",
        start="2024-01-01",
        end="2024-01-02",
    )
    assert result.rows > 0  # Chicago files hundreds of requests a day
    assert result.provenance.is_file()

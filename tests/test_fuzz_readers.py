"""Fuzz the readers: any small file either raises a Geo311Error or balances its ledger.

Hypothesis writes small CSV files (random header subsets, cells with
delimiters, quotes, newlines and non-ASCII text, random delimiters, quoting,
encodings and stray bytes) and JSON files (Open311 lists, ArcGIS FeatureSets
and GeoJSON with random values), reads them with :func:`read_requests`, and
asserts that the only way to fail is a :class:`geo311._errors.Geo311Error`
and that every successful read keeps the ledger invariant: each stage's rows
in equal its rows out plus its drops by reason, the stages chain, and the
ends match the inputs and the frame.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_load import check_ledger

from geo311._errors import Geo311Error
from geo311.io.readers import read_requests

AS_OF = "2025-01-01"
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Open311 names (so the profile is found and rows reach every stage) and strangers.
COLUMNS = [
    "service_request_id", "requested_datetime", "status", "service_name", "closed_datetime",
    "updated_datetime", "address", "lat", "long", "zipcode", "Notiz", "x;y", 'quo"te', "",
]  # fmt: skip
CELL = st.one_of(
    st.sampled_from(["", " ", "open", "closed", "2024-03-01T10:00:00Z", "2024-03-01 10:00",
                     "10/21/2019 11:49:49 AM", "42.36", "-71.05", "0", "NaN", "1e400", "A-1"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.text(alphabet=',;|\t"\'\n\r \\é€\x00', max_size=6),
)  # fmt: skip
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | CELL,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(COLUMNS), inner),
    max_leaves=6,
)


def read_or_refuse(name: str, data: bytes) -> None:
    """Write ``data`` to a file and read it: a Geo311Error or a balanced ledger."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            frame, ledger = read_requests(path, as_of=AS_OF)
        except Geo311Error:
            return
        check_ledger(frame, ledger)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    columns = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=8, unique=True))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=len(columns) + 1), max_size=8))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    body_delimiter = draw(st.sampled_from([delimiter, delimiter, ",", ";"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, None]))
    out = io.StringIO()
    if quoting is None:  # no quoting at all: cells with delimiters break the rows
        out.write(delimiter.join(columns) + "\n")
        out.writelines(body_delimiter.join(r) + "\n" for r in rows)
    else:
        csv.writer(out, delimiter=delimiter, quoting=quoting).writerow(columns)
        body = csv.writer(out, delimiter=body_delimiter, quoting=quoting)
        body.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]))
    data = out.getvalue().encode(encoding, errors="replace")
    if draw(st.booleans()):  # stray bytes somewhere in the file
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


@st.composite
def json_files(draw: st.DrawFn) -> bytes:
    records = st.dictionaries(st.sampled_from(COLUMNS), JSON_VALUE, max_size=8)
    kind = draw(st.sampled_from(["open311", "arcgis", "geojson", "any"]))
    doc: Any
    if kind == "open311":
        doc = draw(st.lists(records | JSON_VALUE, max_size=6))
    elif kind == "arcgis":
        feature = st.fixed_dictionaries(
            {"attributes": records | JSON_VALUE},
            optional={"geometry": st.dictionaries(st.sampled_from(["x", "y"]), JSON_VALUE)},
        )
        doc = {
            "features": draw(st.lists(feature | JSON_VALUE, max_size=6)),
            "spatialReference": draw(
                st.sampled_from([{}, {"wkid": 4326}, {"wkid": 102685}, {"wkid": "x"}])
                | st.dictionaries(st.sampled_from(["wkid", "latestWkid", "wkt"]), JSON_VALUE)
            ),
        }
        if draw(st.booleans()):
            doc["fields"] = draw(st.lists(st.fixed_dictionaries({"name": JSON_VALUE})))
    elif kind == "geojson":
        geometry = st.fixed_dictionaries(
            {"type": st.sampled_from(["Point", "LineString", "Nonsense"]),
             "coordinates": JSON_VALUE | st.lists(st.floats(), max_size=3)}
        )  # fmt: skip
        feature = st.fixed_dictionaries(
            {"type": st.just("Feature"), "properties": records | JSON_VALUE},
            optional={"geometry": geometry | JSON_VALUE},
        )
        doc = {"type": "FeatureCollection", "features": draw(st.lists(feature, max_size=6))}
        if draw(st.booleans()):
            doc["crs"] = {"type": "name", "properties": {"name": draw(JSON_VALUE)}}
    else:
        doc = draw(JSON_VALUE)
    return json.dumps(doc).encode("utf-8")  # NaN and Infinity included, as Python writes them


@FUZZ
@given(data=csv_files())
def test_csv_reader_refuses_or_balances(data: bytes) -> None:
    read_or_refuse("export.csv", data)


@FUZZ
@given(data=json_files())
def test_json_readers_refuse_or_balance(data: bytes) -> None:
    read_or_refuse("export.json", data)

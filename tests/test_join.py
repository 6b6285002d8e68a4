"""Tests for geo311.join.assign: every request placed in every layer exactly once, or explained.

Hand-made layers live in Los Angeles, in EPSG:4326: a 3x3 grid of districts
about 1.2 km wide whose edges are written as decimal literals, so a point typed
as the same literal lies *exactly* on the edge (the canonical reader parses
``repr(float)`` strings back to the same double).  A point given to two
decimals only is a genuine point (round numbers alone are no evidence of a
placeholder) and is joined like any other.  Longitudes are below -90, so a point with latitude and
longitude swapped is recognised (|lat| > 90) and fixed by the reader.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, box

import geo311.join.assign as join_module
from geo311 import (
    JOIN_STATUS,
    CRSError,
    Geo311Error,
    InputFileError,
    Layer,
    ManifestError,
    SchemaError,
    assign_areas,
    join_city,
    read_layer,
    requests_from_frame,
)

# Grid edges (west to east, south to north); each cell about 1.15 km x 1.39 km.
XS = (-118.3037, -118.2912, -118.2787, -118.2662)
YS = (34.0413, 34.0538, 34.0663, 34.0788)
XM = tuple(round((a + b) / 2, 6) for a, b in itertools.pairwise(XS))  # column centre lines
YM = tuple(round((a + b) / 2, 6) for a, b in itertools.pairwise(YS))  # row centre lines
UTM_11N = "EPSG:32611"  # the UTM zone of Los Angeles, metres
WHEN = "2024-05-01T09:30:00Z"
AS_OF = "2025-01-01"


def cell_id(row: int, col: int) -> str:
    """Id of the grid cell at (row, col); row 0 is the southern row."""
    return str(row * 3 + col + 1)


def grid_frame() -> gpd.GeoDataFrame:
    """The 3x3 grid: ``code`` 1..9 (row-major from the south-west), ``nm`` 'r{row}c{col}'."""
    rows = [
        {
            "code": row * 3 + col + 1,
            "nm": f"r{row}c{col}",
            "geometry": box(XS[col], YS[row], XS[col + 1], YS[row + 1]),
        }
        for row in range(3)
        for col in range(3)
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def make_layer(
    frame: gpd.GeoDataFrame,
    key: str = "grid",
    *,
    vintage: str = "",
    valid_from: date | None = None,
    valid_to: date | None = None,
    projected_crs: str | None = None,
) -> Layer:
    return read_layer(
        frame,
        key=key,
        id_field="code",
        name_field="nm",
        vintage=vintage,
        valid_from=valid_from,
        valid_to=valid_to,
        projected_crs=projected_crs,
    ).layer


def text(value: float | str | None) -> str | None:
    """How a coordinate is written in the raw export (exact round trip for floats)."""
    return repr(value) if isinstance(value, float) else value


def raw_requests(points: list[tuple], when: str | None = WHEN) -> pd.DataFrame:
    """Raw Open311 rows from ``(lat, long)`` or ``(lat, long, requested_datetime)`` tuples."""
    rows = []
    for i, point in enumerate(points):
        lat, lon, *rest = point
        rows.append(
            {
                "service_request_id": f"r{i}",
                "status": "open",
                "requested_datetime": rest[0] if rest else when,
                "lat": text(lat),
                "long": text(lon),
                "address": f"{i} Test St",
            }
        )
    return pd.DataFrame(rows)


def canonical(points: list[tuple], when: str | None = WHEN) -> pd.DataFrame:
    """Canonical requests through the reader (coordinates checked and flagged)."""
    frame, _ = requests_from_frame(raw_requests(points, when), schema="open311", as_of=AS_OF)
    # Guard: a point meant to lie exactly on an edge must reach the join unchanged.
    for (lat, lon, *_), row in zip(points, frame.itertuples(), strict=True):
        if isinstance(lat, float) and row.coord_quality == "ok":
            assert (row.lat, row.long) == (lat, lon), "coordinate changed by the reader"
    return frame


def bare(lon: np.ndarray, lat: np.ndarray, when: str = WHEN) -> pd.DataFrame:
    """The columns assign_areas reads, built directly (for many generated points)."""
    n = len(lon)
    return pd.DataFrame(
        {
            "service_request_id": [f"p{i}" for i in range(n)],
            "lat": np.asarray(lat, dtype="float64"),
            "long": np.asarray(lon, dtype="float64"),
            "coord_quality": pd.array(["ok"] * n, dtype="string"),
            "requested_datetime": pd.Series([pd.Timestamp(when)] * n, dtype="datetime64[us, UTC]"),
        }
    )


def values(series: pd.Series) -> list:
    """The series as a plain list, missing values as None."""
    return [None if pd.isna(v) else v for v in series.astype(object)]


def cell_interior(row: int, col: int, j: int, k: int) -> tuple[float, float]:
    """The j-th of k points strictly inside cell (row, col), on its diagonal."""
    f = (j + 1) / (k + 1)
    return (
        round(YS[row] + f * (YS[row + 1] - YS[row]), 7),
        round(XS[col] + f * (XS[col + 1] - XS[col]), 7),
    )


@pytest.fixture(scope="module")
def grid() -> Layer:
    return make_layer(grid_frame())


# --------------------------------------------------------------------------- the 3x3 grid

# (what, lat, long, expected status, expected id); ids are row*3 + col + 1.
CASES: list[tuple[str, object, object, str, str | None]] = [
    ("shared vertical edge -> east", YM[1], XS[1], "edge_tie", cell_id(1, 1)),
    ("shared vertical edge, top row", YM[2], XS[2], "edge_tie", cell_id(2, 2)),
    ("shared horizontal edge -> north", YS[1], XM[2], "edge_tie", cell_id(1, 2)),
    ("shared horizontal edge, left column", YS[2], XM[0], "edge_tie", cell_id(2, 0)),
    ("four-way corner -> north-east", YS[1], XS[1], "edge_tie", cell_id(1, 1)),
    ("four-way corner 2 -> north-east", YS[2], XS[2], "edge_tie", cell_id(2, 2)),
    ("vertex on the west outline", YS[1], XS[0], "edge_tie", cell_id(1, 0)),
    ("vertex on the south outline", YS[0], XS[2], "edge_tie", cell_id(0, 2)),
    ("outer edge, one area", YM[0], XS[0], "assigned", cell_id(0, 0)),
    ("outer corner, one area", YS[3], XS[3], "assigned", cell_id(2, 2)),
    ("outside, east", YM[1], round(XS[3] + 0.0213, 6), "outside", None),
    ("outside, south", round(YS[0] - 0.0117, 6), XM[1], "outside", None),
    ("swapped lat/long, fixed", XM[0], YM[0], "assigned", cell_id(0, 0)),
    ("no coordinates", None, None, "missing_coords", None),
    ("null island", "0", "0", "bad_coords", None),
    ("out of range", "95.5", "200.25", "bad_coords", None),
    ("round-number point, a genuine request", "34.05", "-118.28", "assigned", cell_id(0, 1)),
]


def test_join_statuses_are_documented() -> None:
    assert {c[3] for c in CASES} <= set(JOIN_STATUS)


@pytest.fixture(scope="module")
def grid_join(grid: Layer) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    """Known counts (k points inside cell k) followed by the boundary cases."""
    interior = [
        cell_interior(row, col, j, row * 3 + col + 1)
        for row in range(3)
        for col in range(3)
        for j in range(row * 3 + col + 1)
    ]
    cases = [(lat, lon) for _, lat, lon, *_ in CASES]
    requests = canonical(interior + cases)
    out, ledger = assign_areas(requests, {"grid": [grid]})
    return requests, out, ledger


def test_known_counts_per_district(grid_join) -> None:
    _, out, _ = grid_join
    inside = out.iloc[:45]
    assert (inside["grid_join"] == "assigned").all()
    assert Counter(inside["grid_id"]) == {str(k): k for k in range(1, 10)}
    assert (
        inside["grid_name"]
        == "r"
        + ((inside["grid_id"].astype(int) - 1) // 3).astype(str)
        + "c"
        + ((inside["grid_id"].astype(int) - 1) % 3).astype(str)
    ).all()
    assert (inside["grid_vintage"] == "").all()


@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0] for c in CASES])
def test_boundary_and_bad_points(grid_join, case: int) -> None:
    requests, out, _ = grid_join
    what, _, _, status, area = CASES[case]
    row = out.iloc[45 + case]
    assert row["grid_join"] == status, what
    if area is None:
        assert pd.isna(row["grid_id"]) and pd.isna(row["grid_name"])
    else:
        assert row["grid_id"] == area
        r, c = divmod(int(area) - 1, 3)
        assert row["grid_name"] == f"r{r}c{c}"
    if what.startswith("swapped"):
        assert requests.iloc[45 + case]["coord_quality"] == "swapped"


def test_outer_edge_between_two_areas_goes_to_one_of_them(grid: Layer) -> None:
    # On the north / east outline the north-east nudge leaves the layer; the
    # point still goes to exactly one of the two areas that cover it.
    requests = canonical([(YS[1], XS[3]), (YS[3], XS[1])])
    out, _ = assign_areas(requests, {"grid": [grid]})
    assert out["grid_join"].tolist() == ["edge_tie", "edge_tie"]
    assert out.loc[0, "grid_id"] in {cell_id(0, 2), cell_id(1, 2)}
    assert out.loc[1, "grid_id"] in {cell_id(2, 0), cell_id(2, 1)}


def test_every_request_placed_once_and_ledger_counts(grid_join) -> None:
    requests, out, ledger = grid_join
    assert len(out) == len(requests) == 45 + len(CASES)
    assert out.index.equals(requests.index)
    assert out["service_request_id"].is_unique
    assert not out["grid_join"].isna().any()
    statuses = Counter(out["grid_join"])
    expected = Counter({"assigned": 45}) + Counter(c[3] for c in CASES)
    assert statuses == expected
    stage = ledger.stage("join:grid")
    assert stage.rows_in == stage.rows_out == len(requests)
    assert stage.dropped == {}
    assert stage.flagged == {s: n for s, n in expected.items() if s != "assigned"}
    assert ledger.rows_in == ledger.rows_out == len(requests)
    placed = out["grid_join"].isin(["assigned", "edge_tie", "snapped"])
    assert (out["grid_id"].notna() == placed).all()


def test_input_frame_not_mutated(grid: Layer) -> None:
    requests = canonical([cell_interior(1, 1, 0, 1), (YS[1], XS[1]), (None, None)])
    before = requests.copy(deep=True)
    columns = list(requests.columns)
    out, _ = assign_areas(requests, {"grid": [grid]}, tolerance_m=30.0)
    assert list(requests.columns) == columns
    pd.testing.assert_frame_equal(requests, before)
    assert out is not requests
    assert {"grid_id", "grid_name", "grid_vintage", "grid_join"} <= set(out.columns)
    assert list(out.columns[: len(columns)]) == columns


def test_index_preserved_and_rows_not_duplicated(grid: Layer) -> None:
    points = [cell_interior(r, c, 0, 1) for r in range(3) for c in range(3)]
    requests = canonical([*points, (YS[1], XS[1])])
    requests.index = pd.Index([10, 3, 3, 7, 1, 0, 99, 5, 4, 2], name="rid")  # one repeat
    out, _ = assign_areas(requests, {"grid": [grid]})
    assert out.index.equals(requests.index)
    assert out["grid_id"].tolist() == [str(i) for i in range(1, 10)] + [cell_id(1, 1)]


def test_several_layers_at_once(grid: Layer) -> None:
    halves = gpd.GeoDataFrame(
        {"code": ["W", "E"], "nm": ["West", "East"]},
        geometry=[box(XS[0], YS[0], XM[1], YS[3]), box(XM[1], YS[0], XS[3], YS[3])],
        crs="EPSG:4326",
    )
    requests = canonical([cell_interior(0, 0, 0, 1), cell_interior(2, 2, 0, 1)])
    out, ledger = assign_areas(
        requests, {"grid": [grid], "halves": [make_layer(halves, "halves")]}
    )
    assert out["grid_id"].tolist() == ["1", "9"]
    assert out["halves_name"].tolist() == ["West", "East"]
    assert [s.stage for s in ledger.stages] == ["join:grid", "join:halves"]


def test_empty_requests(grid: Layer) -> None:
    requests = canonical([cell_interior(0, 0, 0, 1)]).iloc[:0]
    out, ledger = assign_areas(requests, {"grid": [grid]})
    assert len(out) == 0 and "grid_id" in out.columns
    assert ledger.stage("join:grid").rows_in == 0


def test_bad_arguments_rejected(grid: Layer) -> None:
    requests = canonical([cell_interior(0, 0, 0, 1)])
    with pytest.raises(ManifestError, match="'grid' has no vintages"):
        assign_areas(requests, {"grid": []})
    with pytest.raises(SchemaError, match=r"\['coord_quality', 'requested_datetime'\]"):
        assign_areas(requests[["lat", "long"]], {"grid": [grid]})
    with pytest.raises(ValueError, match="tolerance_m"):
        assign_areas(requests, {"grid": [grid]}, tolerance_m=-1.0)
    with pytest.raises(ValueError, match="tolerance_m"):
        assign_areas(requests, {"grid": [grid]}, tolerance_m=float("nan"))


def test_layer_changed_in_place_is_not_served_a_stale_index() -> None:
    # A Layer built by hand has no file hash; its geometry is the cache key.
    frame = read_layer(grid_frame(), key="grid", id_field="code", name_field="nm").layer.gdf
    layer = Layer(key="grid", vintage="", frame=frame)
    requests = canonical([cell_interior(0, 0, 0, 1), cell_interior(2, 2, 0, 1)])
    first, _ = assign_areas(requests, {"grid": [layer]})
    assert first["grid_id"].tolist() == ["1", "9"]
    frame.geometry = frame.geometry.to_numpy()[::-1]  # same frame object, areas swapped
    again, _ = assign_areas(requests, {"grid": [layer]})
    assert again["grid_id"].tolist() == ["9", "1"]


def test_index_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, grid: Layer) -> None:
    monkeypatch.setattr(join_module, "_CACHE_SIZE", 2)
    requests = canonical([(round(YM[1] + 0.5, 6), XM[1])])  # outside: outlines are built too
    for shift in (0.0, 1.0, 2.0, 3.0):
        moved = grid_frame()
        moved.geometry = moved.geometry.translate(yoff=shift)
        assign_areas(requests, {"grid": [make_layer(moved, projected_crs=UTM_11N)]})
    assert len(join_module._INDEXES) <= 2
    assert len(join_module._OUTLINES) <= 2


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_cache_heals_between_joins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, grid: Layer, damage: str
) -> None:
    """A cache file cut short (e.g. by a killed run) is removed and rebuilt, not a crash."""
    cache = tmp_path / "indexes"
    requests = canonical(
        [cell_interior(0, 0, 0, 1), cell_interior(2, 2, 0, 1), (round(YM[1] + 0.5, 6), XM[1])]
    )
    join_module._INDEXES.clear()  # built here, so written to this cache folder
    join_module._OUTLINES.clear()
    first, _ = assign_areas(requests, {"grid": [grid]}, cache_dir=cache)
    files = sorted(cache.iterdir())
    assert {f.suffix for f in files} == {".npz", ".wkb"}  # the index and the outline
    for path in files:
        data = path.read_bytes()
        path.write_bytes(
            {"truncate": data[: len(data) // 2], "garbage": b"\x00garbage" * 7, "empty": b""}[
                damage
            ]
        )
    join_module._INDEXES.clear()  # a new process: nothing held in memory
    join_module._OUTLINES.clear()
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        again, _ = assign_areas(requests, {"grid": [grid]}, cache_dir=cache)
    pd.testing.assert_frame_equal(again, first)
    healed = [r for r in caplog.records if "removing it and rebuilding" in r.getMessage()]
    assert len(healed) == 2 and all(r.levelno == logging.WARNING for r in healed)
    assert sorted(cache.iterdir()) == files  # rewritten whole, no temp files left
    join_module._INDEXES.clear()
    join_module._OUTLINES.clear()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="geo311.join.index_cache"):
        third, _ = assign_areas(requests, {"grid": [grid]}, cache_dir=cache)
    pd.testing.assert_frame_equal(third, first)
    assert not caplog.records  # the rebuilt entries read cleanly


# --------------------------------------------------------------------------- holes and gaps

U = 0.0011  # unit of the hand-made shapes below, in degrees
X0, Y0 = -118.4013, 34.1017


def at(i: float, j: float) -> tuple[float, float]:
    """(x, y) of the point i units east and j units north of (X0, Y0).

    Rounded to 7 decimals, so that the coordinate's shortest text form parses
    back to the very same double (the reader's float parser is not exact for
    17-digit strings).
    """
    return round(X0 + i * U, 7), round(Y0 + j * U, 7)


def ubox(i0: float, j0: float, i1: float, j1: float) -> Polygon:
    return box(*at(i0, j0), *at(i1, j1))


@pytest.fixture(scope="module")
def moat() -> Layer:
    """'ring': a 10x10 square with a 4x4 hole, plus an island; 'core' in the hole.

    The core fills the west three quarters of the hole and shares its west
    edge; the rest of the hole is a moat that belongs to no area (a gap).
    """
    ring = MultiPolygon(
        [
            Polygon(ubox(0, 0, 10, 10).exterior.coords, [ubox(3, 3, 7, 7).exterior.coords]),
            ubox(12, 0, 14, 2),
        ]
    )
    frame = gpd.GeoDataFrame(
        {"code": ["ring", "core"], "nm": ["Ring", "Core"]},
        geometry=[ring, ubox(3, 4, 6, 6)],
        crs="EPSG:4326",
    )
    layer = make_layer(frame, "moat")
    assert layer.qa["gap_count"] == 1
    return layer


MOAT_CASES = [
    ("ring body", (1, 1), "assigned", "ring"),
    ("island of the multipolygon", (13, 1), "assigned", "ring"),
    ("core", (4.5, 5), "assigned", "core"),
    ("moat (hole not filled)", (6.5, 5), "gap", None),
    ("moat south of core", (4.5, 3.5), "gap", None),
    ("between ring and island", (11, 1), "outside", None),
    ("far away", (30, 30), "outside", None),
    ("hole edge, ring only", (5, 3), "assigned", "ring"),
    ("edge shared by ring and core -> east", (3, 5), "edge_tie", "core"),
    ("core edge facing the moat", (4.5, 6), "assigned", "core"),
]


def test_multipolygon_with_hole_and_gap(moat: Layer) -> None:
    points = [at(*c[1])[::-1] for c in MOAT_CASES]
    out, ledger = assign_areas(canonical(points), {"moat": [moat]})
    got = list(zip(values(out["moat_join"]), values(out["moat_id"]), strict=True))
    assert got == [(c[2], c[3]) for c in MOAT_CASES]
    assert ledger.stage("join:moat").flagged == {"gap": 2, "outside": 2, "edge_tie": 1}


def test_invalid_polygon_is_repaired_and_joins() -> None:
    bowtie = Polygon([at(0, 0), at(2, 2), at(2, 0), at(0, 2)])
    assert not bowtie.is_valid
    frame = gpd.GeoDataFrame(
        {"code": ["bow", "box"], "nm": ["Bow", "Box"]},
        geometry=[bowtie, ubox(2, 0, 4, 2)],
        crs="EPSG:4326",
    )
    layer, read_ledger = read_layer(frame, key="bows", id_field="code", name_field="nm")
    assert layer.qa["invalid_repaired"] == 1
    assert read_ledger.stage("layer:bows").flagged
    points = [at(0.5, 1), at(1.5, 1), at(1, 1.8), at(3, 1), at(2, 1)]
    out, _ = assign_areas(canonical([p[::-1] for p in points]), {"bows": [layer]})
    assert values(out["bows_id"]) == [
        "bow",
        "bow",
        None,
        "box",
        "box",
    ]
    assert out["bows_join"].tolist() == ["assigned", "assigned", "outside", "assigned", "edge_tie"]


def test_layer_without_crs_raises() -> None:
    frame = grid_frame().set_crs(None, allow_override=True)
    assert frame.crs is None
    with pytest.raises(CRSError, match="CRS"):
        read_layer(frame, key="grid", id_field="code", name_field="nm")


# --------------------------------------------------------------------------- vintages

INSIDE_5_WEST = (YM[1], round((XS[1] + XM[1]) / 2, 6))  # in cell 5 and in the western half


@pytest.fixture(scope="module")
def wards() -> list[Layer]:
    """Three vintages: the grid (2015-2019), two halves (2020-2021), a plan with no file."""
    halves = gpd.GeoDataFrame(
        {"code": ["W", "E"], "nm": ["West", "East"]},
        geometry=[box(XS[0], YS[0], XM[1], YS[3]), box(XM[1], YS[0], XS[3], YS[3])],
        crs="EPSG:4326",
    )
    return [
        make_layer(
            grid_frame(), "wards", vintage="2015", valid_from=date(2015, 1, 1),
            valid_to=date(2020, 1, 1),
        ),
        make_layer(
            halves, "wards", vintage="2020", valid_from=date(2020, 1, 1),
            valid_to=date(2022, 1, 1),
        ),
        Layer(
            key="wards", vintage="2022", frame=None, valid_from=date(2022, 1, 1),
            valid_to=date(2030, 1, 1), source="https://example.org/wards-2022",
        ),
    ]  # fmt: skip


VINTAGE_CASES = [
    # (requested_datetime, vintage, status, id)
    ("2016-07-04T12:00:00Z", "2015", "assigned", "5"),
    ("2019-12-31T23:59:59.999999Z", "2015", "assigned", "5"),
    ("2020-01-01T00:00:00Z", "2020", "assigned", "W"),  # valid_from is inclusive
    ("2021-12-31T23:59:59Z", "2020", "assigned", "W"),
    ("2022-01-01T00:00:00Z", "2022", "no_vintage_file", None),
    ("2010-03-01T08:00:00Z", "2015", "assigned", "5"),  # before every vintage: nearest
    ("2031-01-01T00:00:00Z", "2022", "no_vintage_file", None),  # after every vintage
    (None, None, "no_date", None),
]


def test_vintage_by_request_date(wards: list[Layer]) -> None:
    points = [(*INSIDE_5_WEST, when) for when, *_ in VINTAGE_CASES]
    points.append((None, None, "2020-06-01T00:00:00Z"))
    requests = canonical(points)
    out, ledger = assign_areas(requests, {"wards": wards})
    columns = [values(out[f"wards_{c}"]) for c in ("vintage", "join", "id")]
    got = list(zip(*columns, strict=True))
    assert got[:-1] == [tuple(c[1:]) for c in VINTAGE_CASES]
    assert got[-1] == ("2020", "missing_coords", None)
    stage = ledger.stage("join:wards")
    assert stage.flagged == {
        "no_vintage_file": 2,
        "no_date": 1,
        "missing_coords": 1,
        "vintage_outside_validity": 2,
    }
    assert "vintages used: 2015, 2020, 2022" in stage.notes


def test_vintage_dates_are_local_calendar_days(wards: list[Layer]) -> None:
    # 2019-12-31 20:00 in New York is 2020-01-01 01:00 UTC: still the 2015 vintage there.
    requests = canonical([(*INSIDE_5_WEST, "2020-01-01T01:00:00Z")])
    in_utc, _ = assign_areas(requests, {"wards": wards})
    in_new_york, _ = assign_areas(requests, {"wards": wards}, timezone="America/New_York")
    assert values(in_utc["wards_vintage"]) == ["2020"]
    assert values(in_new_york["wards_vintage"]) == ["2015"]
    assert values(in_new_york["wards_id"]) == ["5"]


def test_pinned_vintage(wards: list[Layer]) -> None:
    points = [(*INSIDE_5_WEST, when) for when, *_ in VINTAGE_CASES]
    out, ledger = assign_areas(canonical(points), {"wards": wards}, vintages={"wards": "2020"})
    assert (out["wards_vintage"] == "2020").all()
    assert (out["wards_id"] == "W").all()
    assert (out["wards_join"] == "assigned").all()
    assert ledger.stage("join:wards").flagged == {}
    with pytest.raises(ManifestError, match="vintage '1999' of layer 'wards' is not one of"):
        assign_areas(canonical(points), {"wards": wards}, vintages={"wards": "1999"})
    # A pin for a layer that is not joined is a typo, not something to ignore.
    with pytest.raises(ManifestError, match="'ward', which is not joined"):
        assign_areas(canonical(points), {"wards": wards}, vintages={"ward": "2020"})


def test_single_vintage_joins_undated_and_out_of_range_dates(grid: Layer) -> None:
    dated = make_layer(
        grid_frame(), vintage="2018", valid_from=date(2018, 1, 1), valid_to=date(2019, 1, 1)
    )
    points = [
        (*INSIDE_5_WEST, None),
        (*INSIDE_5_WEST, "2017-12-31T23:00:00Z"),  # before: joined, counted
        (*INSIDE_5_WEST, "2018-01-01T00:00:00Z"),  # valid_from is inclusive
        (*INSIDE_5_WEST, "2018-12-31T23:59:59Z"),
    ]
    out, ledger = assign_areas(canonical(points), {"grid": [dated]})
    assert out["grid_id"].tolist() == ["5"] * 4
    assert (out["grid_vintage"] == "2018").all()
    assert ledger.stage("join:grid").flagged == {"vintage_outside_validity": 1}


# --------------------------------------------------------------------------- tolerance


def east_of_grid(metres: float, layer: Layer) -> tuple[float, float]:
    """(lat, long) ``metres`` east of the grid's east edge at YM[1], in the layer's CRS."""
    forward = Transformer.from_crs(4326, layer.projected_crs, always_xy=True)
    x, y = forward.transform(XS[3], YM[1])
    lon, lat = forward.transform(x + metres, y, direction="INVERSE")
    return round(lat, 7), round(lon, 7)


def test_tolerance_snaps_only_near_points(grid: Layer) -> None:
    near, far = east_of_grid(20.0, grid), east_of_grid(200.0, grid)
    inside = cell_interior(1, 2, 0, 1)
    requests = canonical([near, far, inside, (None, None)])
    # The distances really are about 20 m and 200 m in the projected CRS.
    edge = grid.gdf.geometry.to_crs(grid.projected_crs).union_all()
    pts = gpd.GeoSeries(gpd.points_from_xy(requests["long"], requests["lat"]), crs=4326).to_crs(
        grid.projected_crs
    )
    assert pts.iloc[0].distance(edge) == pytest.approx(20.0, abs=0.5)
    assert pts.iloc[1].distance(edge) == pytest.approx(200.0, abs=1.0)

    plain, _ = assign_areas(requests, {"grid": [grid]})
    assert plain["grid_join"].tolist() == ["outside", "outside", "assigned", "missing_coords"]

    out, ledger = assign_areas(requests, {"grid": [grid]}, tolerance_m=50.0)
    assert out["grid_join"].tolist() == ["snapped", "outside", "assigned", "missing_coords"]
    assert out.loc[0, "grid_id"] == cell_id(1, 2)
    assert out.loc[2, "grid_id"] == cell_id(1, 2)
    assert pd.isna(out.loc[1, "grid_id"])
    stage = ledger.stage("join:grid")
    assert stage.flagged == {"snapped": 1, "outside": 1, "missing_coords": 1}
    assert "tolerance_m=50.0" in stage.notes

    wide, _ = assign_areas(requests, {"grid": [grid]}, tolerance_m=250.0)
    assert wide["grid_join"].tolist()[:2] == ["snapped", "snapped"]


# --------------------------------------------------------------------------- properties


def lattice(k: float) -> float:
    return X0 + (k / 2) * U


def lattice_y(k: float) -> float:
    return Y0 + (k / 2) * U


@st.composite
def tilings(draw: st.DrawFn) -> tuple[list, int, int]:
    """Rectangles cut into an irregular grid, cells merged into areas (possibly multipart).

    Returns ``(areas, width, height)`` with the areas' polygons and the grid
    size in half units (cut lines lie on even half-unit positions).
    """
    widths = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    heights = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    xcuts = np.cumsum([0, *widths]) * 2
    ycuts = np.cumsum([0, *heights]) * 2
    n_cells = len(widths) * len(heights)
    n_areas = draw(st.integers(1, min(n_cells, 6)))
    labels = draw(st.lists(st.integers(0, n_areas - 1), min_size=n_cells, max_size=n_cells))
    used = sorted(set(labels))
    cells: dict[int, list[Polygon]] = {u: [] for u in used}
    for pos, label in enumerate(labels):
        i, j = divmod(pos, len(heights))
        cells[label].append(
            box(
                lattice(xcuts[i]),
                lattice_y(ycuts[j]),
                lattice(xcuts[i + 1]),
                lattice_y(ycuts[j + 1]),
            )
        )
    areas = [shapely.union_all(cells[u]) for u in used]
    return areas, int(xcuts[-1]), int(ycuts[-1])


def tiling_layer(areas: list) -> Layer:
    frame = gpd.GeoDataFrame(
        {
            "code": [f"a{i}" for i in range(len(areas))],
            "nm": [f"Area {i}" for i in range(len(areas))],
        },
        geometry=areas,
        crs="EPSG:4326",
    )
    # Naming the CRS saves estimating the UTM zone for every example.
    return make_layer(frame, "tiles", projected_crs=UTM_11N)


@st.composite
def tiling_and_points(draw: st.DrawFn) -> tuple[Layer, np.ndarray, np.ndarray, int]:
    """A tiling layer and points in it: ``n`` on the half-unit lattice first, then others."""
    areas, width, height = draw(tilings())
    n = draw(st.integers(1, 40))
    # Points on the half-unit lattice: cell centres, edges and vertices alike.
    on_lattice = draw(
        st.lists(st.tuples(st.integers(0, width), st.integers(0, height)), min_size=n, max_size=n)
    )
    anywhere = draw(
        st.lists(
            st.tuples(st.floats(0, width, allow_nan=False), st.floats(0, height, allow_nan=False)),
            max_size=10,
        )
    )
    lon = np.array([lattice(i) for i, _ in on_lattice + anywhere])
    lat = np.array([lattice_y(j) for _, j in on_lattice + anywhere])
    return tiling_layer(areas), lon, lat, n


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(tiling_and_points())
def test_every_point_of_a_tiling_gets_exactly_one_covering_area(case) -> None:
    layer, lon, lat, n_lattice = case
    out, ledger = assign_areas(bare(lon, lat), {"tiles": [layer]})
    geoms = layer.gdf.geometry.to_numpy()
    ids = layer.gdf["area_id"].tolist()
    covers = np.array([shapely.intersects_xy(g, lon, lat) for g in geoms])  # areas x points
    n_cover = covers.sum(axis=0)
    assert (n_cover >= 1).all()  # the points all lie in the union
    assert len(out) == len(lon)
    assert out["tiles_join"].isin(["assigned", "edge_tie"]).all()
    assert ((out["tiles_join"] == "edge_tie").to_numpy() == (n_cover >= 2)).all()
    chosen = np.array([ids.index(a) for a in out["tiles_id"]])
    assert covers[chosen, np.arange(len(lon))].all()
    # North-east rule: where an area covers a lattice point nudged a little
    # north-east (less than half a unit, so into the cell north-east of it),
    # that area wins.
    lattice_rows = np.arange(n_lattice)
    nudged = np.array(
        [
            shapely.intersects_xy(g, lon[:n_lattice] + 0.1 * U, lat[:n_lattice] + 0.0618 * U)
            for g in geoms
        ]
    ).reshape(len(geoms), n_lattice)
    has_ne = nudged.any(axis=0)
    assert (nudged[chosen[:n_lattice], lattice_rows] | ~has_ne).all()
    assert ledger.stage("join:tiles").flagged.get("edge_tie", 0) == int((n_cover >= 2).sum())


@PROPERTY
@given(tiling_and_points(), st.data())
def test_result_independent_of_row_order_and_chunking(case, data: st.DataObject) -> None:
    layer, lon, lat, _ = case
    lon = np.r_[lon, np.nan, lattice(-5)]  # one row without coordinates, one outside
    lat = np.r_[lat, np.nan, lattice_y(1)]
    requests = bare(lon, lat)
    requests.loc[len(requests) - 2, "coord_quality"] = "missing"
    layers = {"tiles": [layer]}
    whole, whole_ledger = assign_areas(requests, layers)

    order = data.draw(st.permutations(range(len(requests))))
    shuffled, _ = assign_areas(requests.iloc[list(order)], layers)
    pd.testing.assert_frame_equal(shuffled.loc[whole.index], whole)

    cuts = sorted(data.draw(st.lists(st.integers(0, len(requests)), max_size=4)))
    bounds = [0, *cuts, len(requests)]
    parts = [assign_areas(requests.iloc[a:b], layers) for a, b in itertools.pairwise(bounds)]
    joined = pd.concat([p.frame for p in parts])
    pd.testing.assert_frame_equal(joined, whole)
    merged = parts[0].ledger
    for part in parts[1:]:
        merged = merged.extend(part.ledger)
    assert merged.stage("join:tiles").flagged == whole_ledger.stage("join:tiles").flagged
    assert merged.stage("join:tiles").rows_in == len(requests)


# --------------------------------------------------------------------------- join_city


@pytest.fixture
def wards_file(tmp_path: Path) -> Path:
    path = tmp_path / "wards.geojson"
    grid_frame().rename(columns={"code": "WARD_NO", "nm": "WARD_NAME"}).to_file(
        path, driver="GeoJSON"
    )
    return path


def test_join_city_with_a_user_layer_file(wards_file: Path) -> None:
    requests = canonical([cell_interior(0, 0, 0, 1), (YS[1], XS[1]), (None, None)])
    result = join_city(
        requests, extra_layers={"wards": wards_file}, id_field="WARD_NO", name_field="WARD_NAME"
    )
    assert result.frame["wards_id"].tolist()[:2] == ["1", cell_id(1, 1)]
    assert result.frame["wards_name"].tolist()[:2] == ["r0c0", "r1c1"]
    assert result.frame["wards_join"].tolist() == ["assigned", "edge_tie", "missing_coords"]
    assert list(result.layers) == ["wards"]
    assert result.layers["wards"][0].path == wards_file
    assert result.checks == []
    assert result.ledger.stage("join:wards").flagged == {"edge_tie": 1, "missing_coords": 1}


def test_join_city_user_layer_needs_its_fields(wards_file: Path) -> None:
    requests = canonical([cell_interior(0, 0, 0, 1)])
    # Geo311Error: the CLI shows these as one line, not a traceback.
    with pytest.raises(SchemaError, match="--id-field"):
        join_city(requests, extra_layers={"wards": wards_file}, name_field="WARD_NAME")
    with pytest.raises(SchemaError, match="WARD_NUMBER") as info:
        join_city(
            requests,
            extra_layers={"wards": wards_file},
            id_field="WARD_NUMBER",
            name_field="WARD_NAME",
        )
    assert "WARD_NO" in str(info.value)  # the message names the fields the file has


def test_join_city_needs_some_layer() -> None:
    with pytest.raises(Geo311Error, match="no boundary layers"):
        join_city(canonical([cell_interior(0, 0, 0, 1)]))


def test_join_city_finds_files_in_data_dir(
    tmp_path: Path, wards_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEO311_DATA_DIR", raising=False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "gridville"
    folder.mkdir(parents=True)
    (folder / "wards.geojson").write_bytes(wards_file.read_bytes())
    manifest = tmp_path / "elsewhere" / "gridville.toml"
    manifest.parent.mkdir()
    manifest.write_text(
        'city = "gridville"\ntitle = "Grid"\ntimezone = "America/Los_Angeles"\n'
        'projected_crs = "EPSG:26945"\n[layers.wards]\ntitle = "Wards"\n'
        'id_field = "WARD_NO"\nname_field = "WARD_NAME"\n[[layers.wards.vintages]]\n'
        'vintage = "1"\nsource = "hand"\npublisher = "hand"\nfile = "wards.geojson"\n'
        'crs = "EPSG:4326"\n'
    )
    requests = canonical([cell_interior(0, 0, 0, 1)])
    with pytest.raises(InputFileError, match=r"wards\.geojson"):
        join_city(requests, city=manifest)
    result = join_city(requests, city=manifest, data_dir=tmp_path / "data")
    assert result.frame["wards_id"].tolist() == ["1"]
    assert result.layers["wards"][0].path == folder / "wards.geojson"

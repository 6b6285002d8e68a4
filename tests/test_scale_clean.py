"""The out-of-core cleaning (from parts on disk) decides exactly as ``clean_requests`` does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from geo311.clean.placeholders import PlaceholderRule, point_keys, point_of_key
from geo311.clean.quality import clean_requests
from geo311.scale import clean as scale_clean
from geo311.scale.clean import Spill, id_hashes
from geo311.scale.parts import PartWriter, cleaned_part

TS = "datetime64[us, UTC]"
AS_OF = "2024-06-01"
CITY_HALL = (39.290385, -76.612189)  # listed by the profile: a reason without many requests
FALLBACK = (39.33, -76.68)  # the geocoder's fallback, given by the caller


def export(n: int = 240, seed: int = 3) -> pd.DataFrame:
    """Requests with every cross-row case, spread so that parts cut through them."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 2000, n), "h")
    lat = 39.2 + rng.random(n) * 0.1
    lon = -76.7 + rng.random(n) * 0.1
    ids = [f"R-{i}" for i in range(n)]
    for a, b in [(3, 150), (10, 11), (40, 200), (41, 201), (41, 239)]:
        ids[b] = ids[a]  # repeated ids, in and across parts
    ids[5] = None  # no id: never dropped
    ids[6] = None
    updated = pd.Series(created + pd.to_timedelta(rng.integers(0, 100, n), "h")).astype(TS)
    updated.iloc[150] = updated.iloc[3]  # a tie: the later row wins
    lat[20:45] = 39.31  # 25 requests of many addresses on one point: many_addresses
    lon[20:45] = -76.61
    lat[60:62], lon[60:62] = CITY_HALL  # two rows at a listed point (fewer than min_count)
    lat[70:73], lon[70:73] = FALLBACK
    lat[80:82], lon[80:82] = 39.0, -77.0  # cut to whole degrees
    lat[90:112] = 39.25  # 22 requests at one real address: a candidate, not a placeholder
    lon[90:112] = -76.65
    quality = np.array(["ok"] * n, dtype=object)
    quality[[7, 8]] = "missing"
    quality[30] = "outside_area"
    closed = pd.Series(created + pd.to_timedelta(rng.integers(-5, 300, n), "h")).astype(TS)
    closed[rng.random(n) < 0.3] = pd.NaT
    status = np.where(closed.isna(), "open", "closed")
    status[12] = "closed"  # closed without a close time
    frame = pd.DataFrame(
        {
            "service_request_id": pd.array(ids, dtype="string"),
            "service_code": pd.array(["PH"] * n, dtype="string"),
            "service_name": pd.array(rng.choice(["Pothole", "Graffiti"], n), dtype="string"),
            "status": pd.array(status, dtype="string"),
            "requested_datetime": pd.Series(created).astype(TS),
            "updated_datetime": updated,
            "closed_datetime": closed,
            "expected_datetime": pd.Series(created + pd.Timedelta("3D")).astype(TS),
            "address": pd.array(
                [f"{i} Main St" for i in range(90)]
                + ["5 Elm St"] * 22
                + [f"{i} Oak Ave" for i in range(n - 112)],
                dtype="string",
            ),
            "lat": lat,
            "long": lon,
            "coord_quality": pd.array(quality, dtype="string"),
            "qa_flags": pd.array([""] * n, dtype="string"),
        }
    )
    frame.loc[210, "requested_datetime"] = pd.Timestamp("2025-01-01", tz="UTC")  # in the future
    return frame


RULE = PlaceholderRule(min_count=20, points=(CITY_HALL,))


def streamed(frame: pd.DataFrame, folder: Path, rows: int) -> tuple[pd.DataFrame, PartWriter]:
    """Write ``frame`` in parts of ``rows`` rows, clean them, read them back cleaned (as text)."""
    writer = PartWriter(folder)
    kept = pd.concat([writer(frame.iloc[i : i + rows]) for i in range(0, len(frame), rows)])
    result = writer.clean(kept, as_of=AS_OF, placeholders=RULE, fallback_points=[FALLBACK])
    parts = [cleaned_part(v) for v in writer.verdicts(timezone="UTC")]
    joined = pd.concat([pd.DataFrame(p.drop(columns="geometry")).astype(str) for p in parts])
    assert len(result.frame) == len(joined)
    return joined, writer


@pytest.mark.parametrize("rows", [13, 1000])
def test_same_rows_flags_and_ledger_as_in_memory(tmp_path: Path, rows: int) -> None:
    frame = export()
    expected = clean_requests(frame, as_of=AS_OF, placeholders=RULE, fallback_points=[FALLBACK])
    got, writer = streamed(frame, tmp_path, rows)
    assert writer.cleaning is not None
    assert writer.cleaning.ledger.to_dict() == expected.ledger.to_dict()
    clean = expected.ledger.stage("clean")
    assert clean.dropped["duplicate_service_request_id"] == 5
    assert clean.flagged["coords_placeholder"] == 24 + 3 + 2 + 2  # one of the 25 was a repeat
    assert {n.split("(")[-1] for n in clean.notes if n.startswith("placeholder")} == {
        "many_addresses)",
        "profile)",
        "fallback)",
        "coarse)",
    }
    columns = list(expected.frame.columns)
    assert_frame_equal(got[columns], expected.frame[columns].astype(str))


def test_hash_collisions_only_add_candidates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every id hashing alike makes every row a candidate: the verdict stays exact."""
    frame = export()
    expected = clean_requests(frame, as_of=AS_OF, placeholders=RULE, fallback_points=[FALLBACK])

    def colliding(ids: pd.Series) -> np.ndarray:
        return np.where(ids.notna().to_numpy(dtype=bool), 7, 0).astype(np.uint64)

    monkeypatch.setattr(scale_clean, "id_hashes", colliding)
    monkeypatch.setattr("geo311.scale.parts.id_hashes", colliding)
    got, writer = streamed(frame, tmp_path, 50)
    assert writer.cleaning is not None
    assert writer.cleaning.ledger.to_dict() == expected.ledger.to_dict()
    assert got["service_request_id"].astype(str).tolist() == (
        expected.frame["service_request_id"].astype(str).tolist()
    )


def test_id_hashes() -> None:
    ids = pd.Series(["A-1", None, "A-1", "A-2"], dtype="string")
    hashed = id_hashes(ids)
    assert hashed[1] == 0
    assert hashed[0] == hashed[2] != hashed[3]
    assert 0 not in hashed[[0, 2, 3]]
    assert (id_hashes(ids.astype("string[pyarrow]")) == hashed).all()


def test_point_keys_name_the_same_points_as_rounding() -> None:
    rng = np.random.default_rng(0)
    lat = np.concatenate([rng.uniform(-90, 90, 5000), [39.1234565, 39.1234575, -0.0000005, 90.0]])
    lon = np.concatenate([rng.uniform(-180, 180, 5000), [-76.5, -76.5, 0.0000005, -180.0]])
    lat = np.concatenate([lat, lat + 4e-7])  # near twins: some round together, some apart
    lon = np.concatenate([lon, lon])
    keys = point_keys(lat, lon)
    by_rounding = pd.DataFrame({"a": lat.round(6), "b": lon.round(6)}).groupby(["a", "b"]).ngroup()
    pairs = pd.DataFrame({"key": keys, "rounded": by_rounding.to_numpy()}).drop_duplicates()
    # one key per rounded point and one rounded point per key: the same classes
    assert len(pairs) == pairs["key"].nunique() == pairs["rounded"].nunique() < len(lat)
    back_lat, back_lon = point_of_key(keys)
    assert (back_lat == lat.round(6)).all()
    assert (back_lon == lon.round(6)).all()


def test_spill_keeps_equal_values_in_one_bucket(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    values = rng.integers(-(2**62), 2**62, 5000, dtype=np.int64)
    values = np.concatenate([values, values[:700]])  # 700 values twice
    spill = Spill(tmp_path, "points", np.int64)
    for part in np.array_split(values, 7):
        spill.add(part)
    buckets = list(spill.buckets())
    assert spill.count == len(values) == sum(len(b) for b in buckets)
    assert 1 < len(buckets) <= Spill.BUCKETS
    assert sorted(np.concatenate(buckets).tolist()) == sorted(values.tolist())
    twice = sum(int((np.unique(b, return_counts=True)[1] == 2).sum()) for b in buckets)
    assert twice == len(np.unique(values[:700]))


def test_cleaning_reports_its_progress_part_by_part(tmp_path: Path) -> None:
    seen: list[tuple[str, int, int | None, str]] = []

    def hook(step: str, done: int, total: int | None, *, unit: str) -> None:
        seen.append((step, done, total, unit))

    frame = export()
    writer = PartWriter(tmp_path, progress=hook)
    kept = pd.concat([writer(frame.iloc[i : i + 100]) for i in range(0, len(frame), 100)])
    writer.clean(kept, as_of=AS_OF, placeholders=RULE, fallback_points=[FALLBACK])
    assert seen == [("clean", done, 3, "parts") for done in range(4)]


def test_writers_of_several_files_merge_into_the_same_verdict(tmp_path: Path) -> None:
    """Parts written per input file (as Dask workers do), merged in order, clean exactly."""
    frame = export()
    expected = clean_requests(frame, as_of=AS_OF, placeholders=RULE, fallback_points=[FALLBACK])
    cut = 150  # repeated ids and placeholder points fall on both sides
    writers, kept = [], []
    for index, piece in enumerate((frame.iloc[:cut], frame.iloc[cut:])):
        sub = tmp_path / f"file-{index}"
        sub.mkdir()
        writer = PartWriter(sub)
        kept += [writer(piece.iloc[i : i + 40]) for i in range(0, len(piece), 40)]
        writers.append(writer)
    merged = PartWriter.merged(tmp_path, writers)
    assert [p.name for p in merged.paths] == [f"part-{i:05d}.parquet" for i in range(7)]
    assert merged.starts == [0, 40, 80, 120, 150, 190, 230]
    assert merged.rows == len(frame)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == []  # theirs removed
    result = merged.clean(
        pd.concat(kept), as_of=AS_OF, placeholders=RULE, fallback_points=[FALLBACK]
    )
    assert result.ledger.to_dict() == expected.ledger.to_dict()
    parts = [cleaned_part(v) for v in merged.verdicts(timezone="UTC")]
    ids = pd.concat([p["service_request_id"] for p in parts]).astype(str).tolist()
    assert ids == expected.frame["service_request_id"].astype(str).tolist()

"""The row ledger: invariant, merging chunk ledgers, JSON round trip, summary."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from geo311.ledger import MAX_EXAMPLES, Ledger, Result, StageLedger


def _two_stage_ledger() -> Ledger:
    ledger = Ledger(inputs=[{"path": "a.csv", "rows": 10, "profile": "baltimore"}])
    ledger.record("read", rows_in=10, rows_out=10)
    ledger.record(
        "clean",
        rows_in=10,
        rows_out=8,
        dropped={"duplicate_service_request_id": 2},
        flagged={"closed_before_created": 3, "requested_in_future": 0},
        examples={"duplicate_service_request_id": ["19-1", "19-2"]},
        notes=["as_of 2024-06-01"],
    )
    return ledger


def test_invariant_violation_raises() -> None:
    with pytest.raises(RuntimeError) as info:
        StageLedger("clean", rows_in=10, rows_out=8, dropped={"duplicate": 1})
    text = str(info.value)
    assert "'clean'" in text
    assert "10 in, 8 out, 1 dropped" in text
    assert "+1 unaccounted" in text


def test_invariant_violation_raises_through_record() -> None:
    ledger = Ledger()
    with pytest.raises(RuntimeError, match="invariant"):
        ledger.record("read", rows_in=3, rows_out=4)
    assert ledger.stages == []


def test_negative_counts_raise() -> None:
    with pytest.raises(RuntimeError, match="negative"):
        StageLedger("x", rows_in=10, rows_out=12, dropped={"odd": -2})
    with pytest.raises(RuntimeError, match="negative"):
        StageLedger("x", rows_in=1, rows_out=1, flagged={"odd": -1})


def test_zero_counts_are_left_out_and_examples_capped() -> None:
    stage = StageLedger(
        "clean",
        rows_in=5,
        rows_out=5,
        dropped={"none": 0},
        flagged={"a": 2, "b": 0},
        examples={"a": list(range(10))},
    )
    assert stage.dropped == {}
    assert stage.flagged == {"a": 2}
    assert stage.examples == {"a": [str(i) for i in range(MAX_EXAMPLES)]}


def test_recording_a_stage_twice_merges_it() -> None:
    ledger = Ledger()
    ledger.record("normalize", rows_in=4, rows_out=4, flagged={"a": 1}, examples={"a": ["x"]})
    ledger.record("normalize", rows_in=6, rows_out=6, flagged={"a": 2, "b": 1})
    assert len(ledger.stages) == 1
    stage = ledger.stage("normalize")
    assert (stage.rows_in, stage.rows_out) == (10, 10)
    assert stage.flagged == {"a": 3, "b": 1}


def test_merged_adds_counts_and_deduplicates_examples_and_notes() -> None:
    first = StageLedger(
        "clean",
        rows_in=10,
        rows_out=9,
        dropped={"dup": 1},
        flagged={"a": 1},
        examples={"dup": ["1", "2"]},
        notes=["n1"],
    )
    second = StageLedger(
        "clean",
        rows_in=5,
        rows_out=3,
        dropped={"dup": 1, "other": 1},
        flagged={"b": 4},
        examples={"dup": ["2", "3"], "other": ["9"]},
        notes=["n1", "n2"],
    )
    merged = first.merged(second)
    assert (merged.rows_in, merged.rows_out) == (15, 12)
    assert merged.dropped == {"dup": 2, "other": 1}
    assert merged.flagged == {"a": 1, "b": 4}
    assert merged.examples == {"dup": ["1", "2", "3"], "other": ["9"]}
    assert merged.notes == ["n1", "n2"]
    # The inputs are untouched.
    assert first.dropped == {"dup": 1}
    assert first.examples == {"dup": ["1", "2"]}


def test_merging_different_stages_is_refused() -> None:
    with pytest.raises(ValueError, match="'read' and 'clean'"):
        StageLedger("read", 1, 1).merged(StageLedger("clean", 1, 1))


def test_extend_adds_chunk_ledgers() -> None:
    chunk1 = Ledger(inputs=[{"path": "a.csv", "rows": 3}])
    chunk1.record("normalize", rows_in=3, rows_out=3, flagged={"unparsed_closed_datetime": 1})
    chunk2 = Ledger(inputs=[{"path": "b.csv", "rows": 4}])
    chunk2.record("normalize", rows_in=4, rows_out=4, flagged={"unparsed_closed_datetime": 2})
    chunk2.record("coordinates", rows_in=4, rows_out=4, flagged={"coords_missing": 1})
    both = chunk1.extend(chunk2)
    assert [s.stage for s in both.stages] == ["normalize", "coordinates"]
    assert both.stage("normalize").rows_in == 7
    assert both.flagged == {"unparsed_closed_datetime": 3, "coords_missing": 1}
    assert [i["path"] for i in both.inputs] == ["a.csv", "b.csv"]
    # Neither operand changes.
    assert chunk1.stage("normalize").rows_in == 3
    assert len(chunk1.stages) == 1
    assert len(chunk1.inputs) == 1


def test_totals() -> None:
    ledger = _two_stage_ledger()
    assert ledger.rows_in == 10
    assert ledger.rows_out == 8
    assert ledger.dropped == {"duplicate_service_request_id": 2}
    assert ledger.flagged == {"closed_before_created": 3}
    empty = Ledger()
    assert (empty.rows_in, empty.rows_out, empty.dropped, empty.flagged) == (0, 0, {}, {})


def test_unknown_stage_lists_the_stages() -> None:
    with pytest.raises(KeyError, match=r"'geocode'.*\['read', 'clean'\]"):
        _two_stage_ledger().stage("geocode")


def test_json_round_trip(tmp_path: Path) -> None:
    ledger = _two_stage_ledger()
    path = ledger.write_json(tmp_path / "ledger.json")
    assert path == tmp_path / "ledger.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["rows_in"] == 10
    assert data["rows_out"] == 8
    assert data["stages"][1]["dropped"] == {"duplicate_service_request_id": 2}
    again = Ledger.read_json(path)
    assert again == ledger
    assert again.to_dict() == ledger.to_dict()


def test_from_dict_rechecks_the_invariant() -> None:
    data = _two_stage_ledger().to_dict()
    data["stages"][1]["rows_out"] = 9
    with pytest.raises(RuntimeError, match="invariant"):
        Ledger.from_dict(data)


def test_summary_text() -> None:
    text = _two_stage_ledger().summary()
    lines = text.splitlines()
    assert lines[0] == "rows in: 10   rows out: 8"
    assert "  input a.csv: 10 rows (baltimore)" in lines
    assert "read: 10 in -> 10 out" in lines
    assert "clean: 10 in -> 8 out" in lines
    assert "  dropped 2: duplicate_service_request_id" in lines
    assert "  flagged 3: closed_before_created" in lines


def test_summary_uses_thousands_separators() -> None:
    ledger = Ledger()
    ledger.record("read", rows_in=1234567, rows_out=1234567)
    assert "read: 1,234,567 in -> 1,234,567 out" in ledger.summary()


def test_result_unpacks() -> None:
    frame = pd.DataFrame({"a": [1]})
    ledger = Ledger()
    out, led = Result(frame, ledger)
    assert out is frame
    assert led is ledger

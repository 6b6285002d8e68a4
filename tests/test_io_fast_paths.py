"""The fast paths of ingest (Arrow, ASCII) give the values of the slow ones, value by value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo311.io import sniff
from geo311.io.dtypes import compact_requests
from geo311.io.formats import _pandas_only_bytes
from geo311.io.normalize import _numbers, _on_distinct
from geo311.io.timestamps import parse_timestamps

#: Plain decimals: read as the correctly rounded double (Python's ``float``).
DECIMALS = [
    "39.2904",
    "-76.6122",
    "+5",
    ".5",
    "-.5",
    "5.",
    "-0",
    "-0.0",
    "007",
    "123456789012345",
    "1234567890123456",
    "0.1000000000000001",
    "12345678.9012345",
    "-12345678.9012345",
    "+1234567890.123456",
    "39.3433590109232",
    "-76.58325185889457",  # 16 digits, as exports write a double
    "00000000000000000000000000000000000001.5",  # pandas reads 0.0
    " 3.25 ",
]
#: Anything else: pandas' own reading.
OTHERS = [
    "1e5",
    "1E-3",
    "1" + "0" * 300,  # longer than the Arrow path takes
    "nan",
    "inf",
    "0x10",
    "1_000",
    "١٢",  # Arabic-Indic digits
    "abc",
    ".",
    "1.2.3",
    "",
    "   ",
    None,
]


def _bits(values: np.ndarray) -> list[str]:
    return ["nan" if np.isnan(v) else v.hex() for v in values]


def _pandas(values: list[str | None]) -> np.ndarray:
    stripped = pd.Series(values, dtype="string").str.strip()
    parsed = pd.to_numeric(stripped.mask(stripped == ""), errors="coerce")
    return parsed.to_numpy(dtype=float, na_value=np.nan)


@pytest.mark.parametrize("storage", ["pyarrow", "python"])
def test_decimals_are_correctly_rounded_and_other_text_is_read_by_pandas(storage: str) -> None:
    got = _numbers(pd.Series(DECIMALS + OTHERS, dtype=f"string[{storage}]"))
    expected = np.array([float(v) for v in DECIMALS])
    assert _bits(got[: len(DECIMALS)]) == _bits(expected)
    assert _bits(got[len(DECIMALS) :]) == _bits(_pandas(OTHERS))


def test_random_doubles_written_in_full_read_back_exactly() -> None:
    rng = np.random.default_rng(7)
    doubles = np.concatenate([rng.uniform(-180, 180, 20_000), rng.uniform(-1, 1, 5_000)])
    text = [repr(float(v)) for v in doubles]  # up to 17 significant digits
    ints = rng.integers(-(10**9), 10**9, 20_000)
    places = rng.integers(0, 9, 20_000)
    text += [f"{i / 10**p:.{p}f}" for i, p in zip(ints, places, strict=True)]
    got = _numbers(pd.Series(text, dtype="string[pyarrow]"))
    assert _bits(got) == _bits(np.array([float(v) for v in text]))
    # the reason for the Arrow path: pandas misreads some of them by one unit in the last place
    assert (_pandas(text) != got).any()


def test_on_distinct_spreads_missing_as_the_result_dtype_holds_it() -> None:
    values = pd.Series(["a", None, "b", "a"], dtype="string[pyarrow]")
    flags = _on_distinct(values, lambda v: v.isin(["a"]))  # numpy bool: missing -> False
    assert flags.dtype == bool
    assert flags.tolist() == [True, False, False, True]
    upper = _on_distinct(values, lambda v: v.str.upper())
    assert upper.tolist() == ["A", pd.NA, "B", "A"]
    nullable = _on_distinct(values, lambda v: v.eq("b"))
    assert nullable.tolist() == [False, pd.NA, True, False]


def test_timestamps_with_empty_values_parse_as_row_by_row() -> None:
    text = ["10/21/2019 11:49:49 AM", "", None, "13/01/2019 01:00:00 PM", "11/03/2019 01:30:00 AM"]
    out = parse_timestamps(
        pd.Series(text, dtype="string[pyarrow]"),
        formats=("%m/%d/%Y %I:%M:%S %p",),
        timezone="America/New_York",
    )
    one_by_one = [
        parse_timestamps(
            pd.Series([t], dtype="string"),
            formats=("%m/%d/%Y %I:%M:%S %p",),
            timezone="America/New_York",
        )
        for t in text
    ]
    assert out.values.tolist() == [o.values.iloc[0] for o in one_by_one]
    assert out.unparsed.tolist() == [bool(o.unparsed[0]) for o in one_by_one]
    assert out.unparsed.tolist() == [False, False, False, True, False]
    assert out.ambiguous.tolist() == [False, False, False, False, True]


@pytest.mark.parametrize(
    ("data", "pandas_only"),
    [
        (b"a,b\n1,2\n", False),
        (b"a,b\r\n1,2\r\n", False),
        (b"a,b\n1,x\x00y\n", True),  # NUL in a value
        (b"a,b\r1,2\r", True),  # lone CR
    ],
)
def test_files_arrow_would_read_otherwise_go_to_pandas(
    tmp_path: Path, data: bytes, pandas_only: bool
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    assert _pandas_only_bytes(path) is pandas_only


def test_compact_requests_keeps_free_text_arrow_backed() -> None:
    frame = pd.DataFrame(
        {
            "service_request_id": pd.array(["1", "2"], dtype="string[python]"),
            "address": pd.array([None, "1 Main St"], dtype="string[python]"),
            "service_code": pd.array([None, None], dtype="string[python]"),
            "status": ["open", "closed"],
        }
    )
    out = compact_requests(frame)
    for column in ("service_request_id", "address", "service_code"):
        assert out[column].dtype == "string[pyarrow]", column
        assert out[column].tolist() == frame[column].tolist()
    assert isinstance(out["status"].dtype, pd.CategoricalDtype)
    assert frame["address"].dtype == "string[python]"  # input not modified


@pytest.mark.parametrize(
    ("encoding", "data", "where"),
    [
        ("utf-8", b"abc\ndef\nghi\n\xff\n", (12, 4)),  # bad byte after ASCII blocks
        ("utf-8", b"abc\ndef\n\xc3\xa9\xc3x\n", (10, 3)),  # a character split over blocks
        ("utf-8-sig", b"\xef\xbb\xbfab\ncdefgh\xc3\xa9\n\x80", (15, 3)),
        ("utf-8", b"abc\ndefgh\n\xc3\xa9ij\n", None),
        ("cp1252", b"abcdefgh\nij\x81", (11, 2)),  # 0x81 is not cp1252
    ],
)
def test_first_bad_byte_is_found_across_ascii_blocks(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    encoding: str,
    data: bytes,
    where: tuple[int, int] | None,
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    monkeypatch.setattr(sniff, "_BLOCK", 4)  # many blocks, most of them ASCII
    bad = sniff._first_bad_byte(path, encoding)
    assert (None if bad is None else (bad.offset, bad.line)) == where
    if bad is not None:
        assert bad.byte == data[bad.offset]

"""Arrow reads the timestamps of a format's zero-padded shape; the shape is checked on bytes.

:func:`geo311.io.timestamps._of_shape` decides which values Arrow's
``strptime`` reads (all others go to pandas).  It is checked here against a
regular expression of the same shape, written out independently, on
generated values near the shape; and :func:`_strptime` against pandas'
``to_datetime`` value by value, on one Arrow chunk and on several.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo311.io.timestamps import _fixed_shape, _of_shape, _strptime

FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M", "%d.%m.%Y")
#: The zero-padded values of each field, as a regular expression (the oracle).
FIELD_RE = {
    "%Y": "(?:1[7-9][0-9]{2}|2[01][0-9]{2}|22[0-5][0-9])",
    "%m": "(?:0[1-9]|1[0-2])",
    "%d": "(?:0[1-9]|[12][0-9]|3[01])",
    "%H": "(?:[01][0-9]|2[0-3])",
    "%I": "(?:0[1-9]|1[0-2])",
    "%M": "[0-5][0-9]",
    "%S": "[0-5][0-9]",
    "%p": "[AaPp][Mm]",
}
WIDTH = {"%Y": 4}
#: Characters a value near the shape is made of: digits, letters, separators, and
#: characters that are not ASCII (a digit of another script, a letter, a NUL).
NOISE = "0123456789AaPpMmT/:-. \u0661\u00e9\x00"


def _oracle(fmt: str) -> re.Pattern[str]:
    tokens = re.findall(r"%.|.", fmt)
    return re.compile("".join(FIELD_RE.get(t) or re.escape(t) for t in tokens))


@st.composite
def _near(draw: st.DrawFn, fmt: str) -> str:
    """A value of ``fmt``'s shape with some fields or characters changed, or none."""
    parts = []
    for token in re.findall(r"%.|.", fmt):
        if token in FIELD_RE:
            width = WIDTH.get(token, 2)
            low, high = {"%Y": (1650, 2300), "%p": (0, 0)}.get(token, (0, 99))
            if token == "%p":
                fine = st.sampled_from(["AM", "PM", "am", "pM", "AX", "MA"])
            else:
                fine = st.integers(low, high).map(lambda v, w=width: f"{v:0{w}d}")
            noise = st.text(NOISE, min_size=width - 1, max_size=width + 1)
            parts.append(draw(st.one_of(fine, fine, fine, noise)))
        else:
            parts.append(draw(st.sampled_from([token, token, token, "", "x", token * 2])))
    return "".join(parts)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_the_shape_is_the_oracles_and_the_day_its_field(fmt: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(_near(fmt), min_size=1, max_size=40))
    shape = _fixed_shape(fmt)
    assert shape is not None
    fits, days = _of_shape(pa.array(values, type=pa.large_string()), shape)
    oracle = _oracle(fmt)
    expected = [oracle.fullmatch(v) is not None for v in values]
    wrong = [v for v, f, e in zip(values, fits, expected, strict=True) if f != e]
    assert not wrong, wrong
    at = fmt.replace("%Y", "YYYY").index("%d")  # the day's offset in the value
    for value, fit, day in zip(values, fits, days, strict=True):
        assert day == (int(value[at : at + 2]) if fit else 0)


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_strptime_is_pandas_value_by_value_in_any_chunks(fmt: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.one_of(_near(fmt), st.none()), min_size=1, max_size=30))
    cut = data.draw(st.integers(0, len(values)))
    chunks = [pa.array(values[:cut], pa.large_string()), pa.array(values[cut:], pa.large_string())]
    text = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks)))
    got = _strptime(text, fmt)
    expected = pd.to_datetime(pd.Series(values, dtype="string"), format=fmt, errors="coerce")
    assert got.isna().tolist() == expected.isna().tolist(), values
    assert got.dropna().tolist() == expected.dropna().tolist(), values


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        (FORMATS[0], "10/21/2019 11:49:49 AM"),
        (FORMATS[0], "02/29/2020 12:00:00 pm"),
        (FORMATS[1], "2259-12-31T23:59:59"),
        (FORMATS[3], "01.01.1700"),
    ],
)
def test_every_one_character_change_is_judged_as_the_oracle(fmt: str, value: str) -> None:
    changed = [value[:i] + c + value[i + 1 :] for i in range(len(value)) for c in NOISE]
    changed += [value[:i] + value[i + 1 :] for i in range(len(value))]  # one character less
    shape = _fixed_shape(fmt)
    assert shape is not None
    fits, _ = _of_shape(pa.array([value, *changed], type=pa.large_string()), shape)
    oracle = _oracle(fmt)
    assert fits.tolist() == [oracle.fullmatch(v) is not None for v in [value, *changed]]
    assert fits[0]


def test_a_format_without_one_reading_has_no_shape() -> None:
    assert _fixed_shape("%Y-%m-%d %H:%M:%S %p") is None  # 24-hour clock with AM/PM
    assert _fixed_shape("%m/%d/%Y %I:%M") is None  # 12-hour clock without AM/PM
    assert _fixed_shape("%B %d, %Y") is None  # month names
    shape = _fixed_shape("%Y%m%d")
    assert shape is not None and shape.width == 8


def test_values_of_other_widths_and_missing_values_are_not_of_the_shape() -> None:
    shape = _fixed_shape("%Y-%m-%d")
    assert shape is not None
    values = pa.array(["2019-10-21", None, "2019-10-2", "", "2019-10-210", "2019-02-30"])
    fits, days = _of_shape(values.slice(0), shape)
    assert fits.tolist() == [True, False, False, False, False, True]  # 30 Feb: shape only
    assert days.tolist() == [21, 0, 0, 0, 0, 30]
    fits, _ = _of_shape(values.slice(1, 4), shape)  # an offset into the buffers
    assert fits.tolist() == [False, False, False, False]
    assert np.array_equal(_of_shape(values.slice(5), shape)[0], [True])

"""Strip text columns in Arrow exactly as Python's ``str.strip()`` does.

311 exports are mostly text; stripping and emptiness checks on Arrow arrays
run in C instead of one Python call per value.  The characters trimmed are
those of ``str.isspace()``, so every value comes out as ``value.strip()``
would give it.
"""

from __future__ import annotations

from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["arrow_strings", "arrow_text", "strip_text"]

#: The characters ``str.strip()`` removes (``str.isspace()``).
WHITESPACE: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)


def arrow_text(text: pd.Series) -> pa.Array | None:
    """Return string values as an Arrow array; None when Arrow cannot hold them.

    Examples
    --------
    >>> arrow_text(pd.Series(["a", None], dtype="string")).to_pylist()
    ['a', None]
    """
    if text.dtype == "string[pyarrow]":
        return pa.array(text.array)
    try:
        return pa.array(text.astype("string").array)
    except (pa.ArrowException, UnicodeError):  # e.g. lone surrogates
        return None


def arrow_strings(values: pd.Series) -> pd.Series:
    """Return values as Arrow-backed strings (Python-backed where Arrow cannot hold the text).

    Examples
    --------
    >>> arrow_strings(pd.Series(["a", None])).dtype.storage
    'pyarrow'
    >>> arrow_strings(pd.Series([chr(0xD800)])).dtype.storage  # a lone surrogate
    'python'
    """
    try:
        return values.astype("string[pyarrow]")
    except (pa.ArrowException, UnicodeError):
        return values.astype("string")


def strip_text(values: pd.Series) -> pd.Series:
    r"""Return ``values`` stripped as Arrow-backed strings, empty ones missing.

    Parameters
    ----------
    values : pandas.Series
        Any values; they are read as strings first (``astype("string")``).

    Returns
    -------
    pandas.Series
        On the index of ``values``; Python-backed strings when Arrow cannot
        hold the text (e.g. lone surrogates).

    Examples
    --------
    >>> strip_text(pd.Series([" a ", "\u3000", None])).tolist()
    ['a', <NA>, <NA>]
    """
    if values.dtype != "string[pyarrow]":
        values = values.astype("string")
    arr = arrow_text(values)
    if arr is None:
        text = values.astype("string").str.strip()
        return text.mask(text == "")
    trimmed = pc.utf8_trim(arr, characters=WHITESPACE)
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
    return pd.Series(pd.arrays.ArrowStringArray(trimmed), index=values.index)

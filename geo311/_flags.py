"""Helpers for the ``qa_flags`` column: '|'-separated reasons per row."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

SEP = "|"


def add_flags(flags: pd.Series, masks: Mapping[str, np.ndarray | pd.Series]) -> pd.Series:
    """Return ``flags`` with each reason appended where its mask is True.

    Parameters
    ----------
    flags : pandas.Series
        Existing flag strings ('' for none).
    masks : mapping of str to boolean array
        Reason -> rows to flag, aligned with ``flags`` by position.

    Returns
    -------
    pandas.Series
        New string series; the input is not modified.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> add_flags(pd.Series(["", "a"]), {"b": np.array([True, True])}).tolist()
    ['b', 'a|b']
    """
    values = flags.to_numpy(dtype=object, na_value="").copy()
    for reason, mask in masks.items():
        hit = np.asarray(mask, dtype=bool)
        if not hit.any():
            continue
        current = values[hit]
        values[hit] = np.where(current == "", reason, current + SEP + reason)
    return pd.Series(values, index=flags.index, dtype="string")


def count_flags(flags: pd.Series) -> dict[str, int]:
    """Return how many rows carry each reason.

    Examples
    --------
    >>> import pandas as pd
    >>> count_flags(pd.Series(["a|b", "", "b"]))
    {'b': 2, 'a': 1}
    >>> count_flags(pd.Series(["a|b", "b"], dtype="category"))
    {'b': 2, 'a': 1}
    """
    text = flags.astype("string")  # also a categorical (the canonical dtype)
    parts = text[text.fillna("") != ""].str.split(SEP).explode()
    return {str(k): int(v) for k, v in parts.value_counts().items()}

"""The compact dtypes of the canonical request frame: categoricals for repeated text.

A 311 export repeats a few hundred service types, statuses, agencies and
channels millions of times.  Held as one Python string per row they cost
~60 bytes a row each; as a :class:`pandas.Categorical` they cost one
``int8``/``int16`` code a row plus one copy of each distinct value.  Every
reader ends with :func:`compact_requests`, so the canonical frame holds the
columns of :data:`CATEGORY_COLUMNS` as categoricals with these rules, which
make frames from different files, chunks or runs agree:

* the categories are the distinct values present, as plain ``str`` (object
  dtype), sorted, unordered (so ``value_counts`` shows no zero counts on a
  fresh frame, and the same values always get the same codes);
* a missing value is a missing code (-1), never a category;
* a column without any value (e.g. ``service_code`` of a city that has none)
  keeps its string dtype.

The mostly distinct text of :data:`TEXT_COLUMNS` (ids, addresses,
descriptions, notes, and a category column without any value) is held as
Arrow-backed strings (``string[pyarrow]``): the text in one buffer and an
offset a row instead of one Python object a row.

:func:`concat_requests` concatenates frames whose categories differ (two input
files, two chunks) into categoricals over the union of the categories, where
:func:`pandas.concat` would silently fall back to object columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo311.io.text import arrow_strings

__all__ = [
    "CATEGORY_COLUMNS",
    "TEXT_COLUMNS",
    "as_categorical",
    "compact_requests",
    "concat_requests",
]

#: Columns of the canonical frame held as categoricals (when present).
CATEGORY_COLUMNS: tuple[str, ...] = (
    "service_code",
    "service_name",
    "status",
    "status_raw",
    "agency_responsible",
    "source",
    "zipcode",
    "coord_quality",
    "qa_flags",
    "input_file",
    "jurisdiction",
    "timezone",
)

#: Canonical text columns (with the category columns that hold no value) kept as
#: Arrow-backed strings: ids, addresses, descriptions and notes are mostly distinct.
TEXT_COLUMNS: tuple[str, ...] = (
    "service_request_id",
    "description",
    "status_notes",
    "address",
    *CATEGORY_COLUMNS,
)


def as_categorical(series: pd.Series, vocabulary: Sequence[str] = ()) -> pd.Series:
    """Return ``series`` as a categorical over its sorted distinct values and ``vocabulary``.

    Parameters
    ----------
    series : pandas.Series
        Text (any string dtype, object, or categorical).  Not modified.
    vocabulary : sequence of str, optional
        Categories to include even where not observed.

    Returns
    -------
    pandas.Series
        Categories are the values present and ``vocabulary``, as sorted ``str``
        (object dtype), unordered; missing values stay missing.  A series that
        already follows these rules is returned as it is.

    Examples
    --------
    >>> import pandas as pd
    >>> out = as_categorical(pd.Series(["b", "a", None, "b"]), ["c"])
    >>> out.cat.categories.tolist(), out.cat.codes.tolist()
    (['a', 'b', 'c'], [1, 0, -1, 1])
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        present = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)) > 0
        values = [str(v) for v in series.cat.categories]
        cats = sorted({v for v, hit in zip(values, present, strict=True) if hit} | set(vocabulary))
        if values == cats and series.cat.categories.dtype == object:
            return series
        # rename the categories to plain str, then sort them, dropping the unused ones
        recoded = series.cat.rename_categories(values)
        return recoded.cat.set_categories(pd.Index(cats, dtype=object))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    cats = sorted(set(labels) | set(vocabulary))
    position = {c: i for i, c in enumerate(cats)}
    remap = np.array([position[u] for u in labels] + [-1], dtype=np.int64)
    categorical = pd.Categorical.from_codes(
        remap[codes], categories=pd.Index(cats, dtype=object), validate=False
    )
    return pd.Series(categorical, index=series.index, name=series.name)


def compact_requests(requests: pd.DataFrame) -> pd.DataFrame:
    """Return ``requests`` with categoricals and Arrow-backed text (see the module docstring).

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests (any subset of the columns; others are kept as they
        are).  Not modified.

    Returns
    -------
    pandas.DataFrame
        A shallow copy whose category and text columns follow the rules of the
        module docstring; the values (and missing values) are unchanged.

    Examples
    --------
    >>> import pandas as pd
    >>> out = compact_requests(pd.DataFrame({"status": ["open", None], "source": ["web", "app"]}))
    >>> out["status"].cat.categories.tolist(), out["source"].cat.codes.tolist()
    (['open'], [1, 0])
    """
    out = requests.copy(deep=False)
    for column in CATEGORY_COLUMNS:
        # a column without any value keeps its dtype: an empty categorical has no
        # value type, and Parquet would read it back as objects
        if column in out.columns and out[column].notna().any():
            out[column] = as_categorical(out[column])
    for column in TEXT_COLUMNS:
        if column in out.columns and out[column].dtype == "string[python]":
            out[column] = arrow_strings(out[column])
    return out


def concat_requests(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate canonical frames (rows), keeping category columns categorical.

    Parameters
    ----------
    parts : sequence of pandas.DataFrame
        Frames from :func:`compact_requests` (e.g. one per file or chunk); the
        categories of a column may differ between them.

    Returns
    -------
    pandas.DataFrame
        The rows of every part in order, with a fresh ``RangeIndex``; each
        category column is a categorical over the sorted union of the parts'
        categories.
    """
    frames = list(parts)
    union: dict[str, set[str]] = {}
    for frame in frames:
        for column in CATEGORY_COLUMNS:
            if column in frame.columns and isinstance(frame[column].dtype, pd.CategoricalDtype):
                union.setdefault(column, set()).update(frame[column].cat.categories)
    if len(frames) > 1:
        aligned = []
        for part in frames:
            same = part.copy(deep=False)
            for column, cats in union.items():
                if column in same.columns:
                    same[column] = as_categorical(same[column], sorted(cats))
            aligned.append(same)
        frames = aligned
    out = pd.concat(frames, ignore_index=True)
    # a column absent from some parts (e.g. jurisdiction) is re-encoded here
    return compact_requests(out)

"""The exact reduction of per-part results: compact columns and row ledgers.

A joined part is reduced by :func:`compact` to the columns the indicators
read -- service types, channels, times, flags and the ``<layer>_*`` columns,
text as categoricals -- without the geometry, the coordinates, the ids and
the free text, which are what makes a request heavy.  :func:`combine`
concatenates the compact parts in input order and adds their join ledgers:
counts add, and the notes of a layer name the vintages used by any part, in
the layer's order, as the in-memory join writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from geo311.join.layers import Layer
from geo311.ledger import Ledger

__all__ = ["DROPPED", "combine", "compact", "concat_parts"]

#: Columns no indicator reads: the point, the free text and row references.
DROPPED = (
    "geometry",
    "lat",
    "long",
    "address",
    "zipcode",
    "description",
    "status_notes",
    "status_raw",
    "input_row",
    "service_request_id",  # repeated ids are dropped at the ingest; no table reads it
)

_USED = "vintages used: "


def compact(joined: pd.DataFrame) -> pd.DataFrame:
    """Return a joined part without geometry, coordinates, free text or raw source columns.

    Its text columns (service types, channels, area ids and names, flags)
    become categoricals: one small integer per request instead of a string.

    Parameters
    ----------
    joined : pandas.DataFrame
        Requests after the join.  Not modified.

    Returns
    -------
    pandas.DataFrame
        A plain DataFrame, same index, ``attrs`` kept; the categories are
        made common to every part by :func:`combine`.
    """
    drop = [c for c in joined.columns if c in DROPPED or str(c).startswith("raw_")]
    out = pd.DataFrame(joined.drop(columns=drop))
    text = [c for c, t in out.dtypes.items() if t == "string"]
    out = out.astype(dict.fromkeys(text, "category"))
    out.attrs = dict(joined.attrs)
    return out


def concat_parts(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate parts, each categorical column over the sorted union of its categories.

    Sorted as the strings sort, so that tables grouped by a column come out
    in the same order as from the in-memory strings.  A column categorical in
    any part stays categorical, also when some parts lack it.
    """
    union: dict[str, set[Any]] = {}
    for frame in frames:
        for column, dtype in frame.dtypes.items():
            if isinstance(dtype, pd.CategoricalDtype):
                union.setdefault(str(column), set()).update(dtype.categories)
    dtypes = {c: pd.CategoricalDtype(sorted(cats)) for c, cats in union.items()}
    out = pd.concat(
        [f.astype({c: t for c, t in dtypes.items() if c in f}) for f in frames],
        ignore_index=True,
    )
    return out.astype({c: t for c, t in dtypes.items() if out[c].dtype != t})


def combine(
    parts: Sequence[tuple[pd.DataFrame, Ledger]], layers: Mapping[str, Sequence[Layer]]
) -> tuple[pd.DataFrame, Ledger]:
    """Concatenate compact parts (in input order) and add up their join ledgers.

    Parameters
    ----------
    parts : sequence of (DataFrame, Ledger)
        Each part's compact requests and join ledger, in input order.
    layers : mapping of str to sequence of Layer
        The layers joined, each with its vintages in order.

    Returns
    -------
    (pandas.DataFrame, Ledger)
        All compact requests (index 0..n-1, ``attrs`` of the first part) and
        the join ledger of all of them.
    """
    frames = [frame for frame, _ in parts]
    requests = concat_parts(frames) if frames else pd.DataFrame()
    requests.attrs = dict(frames[0].attrs) if frames else {}
    ledger = Ledger()
    for _, part in parts:
        ledger = ledger.extend(part)
    for stage in ledger.stages:
        key = stage.stage.removeprefix("join:")
        if key == stage.stage or key not in layers:
            continue
        used = {
            name.strip()
            for note in stage.notes
            if note.startswith(_USED)
            for name in note.removeprefix(_USED).split(",")
        }
        ordered = [v.vintage for v in layers[key] if v.vintage in used]
        others = [n for n in stage.notes if not n.startswith(_USED)]
        stage.notes = [f"{_USED}{', '.join(ordered) or 'none'}", *others]
    return requests, ledger

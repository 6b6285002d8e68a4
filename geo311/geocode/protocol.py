"""The contract between :func:`geo311.geocode.core.geocode` and any geocoder.

A geocoder is anything with a ``name`` and a ``geocode_batch(frame)`` method
that takes a frame of ``address``/``zipcode`` and returns one row per input
row with :data:`GEOCODE_COLUMNS`.  :func:`check_answer` holds every answer to
that contract before it is cached or used.
"""

from __future__ import annotations

from typing import Final, Literal, Protocol, runtime_checkable

import pandas as pd

from geo311._errors import GeocodeError

__all__ = ["GEOCODE_COLUMNS", "MATCH_VALUES", "Geocoder", "check_answer", "geocoder_fingerprint"]

#: Columns every geocoder returns from ``geocode_batch``, in this order.
GEOCODE_COLUMNS: Final = ("lon", "lat", "score", "match", "matched_address", "source")

Match = Literal["exact", "fuzzy", "ambiguous", "none"]
MATCH_VALUES: Final = ("exact", "fuzzy", "ambiguous", "none")


@runtime_checkable
class Geocoder(Protocol):
    """What :func:`~geo311.geocode.core.geocode` needs from a geocoder.

    Attributes
    ----------
    name : str
        Short identifier written to ``geocode_source`` (e.g. ``"census"``,
        ``"arcgis:baltimore"``, ``"table:addresses.parquet"``).

    Notes
    -----
    Two optional attributes are honoured when present:

    ``fingerprint`` (str)
        Identifies the geocoder's version and configuration (benchmark,
        locator URL, score threshold, reference table hash).  The cache keys
        on it, so a new configuration never reuses old answers.  Defaults
        to ``name``.
    ``max_batch_size`` (int)
        The most addresses one ``geocode_batch`` call accepts (10,000 for
        the Census batch geocoder); :func:`~geo311.geocode.core.geocode` splits batches to fit.

    A geocoder never raises for an address it cannot place: it answers
    ``match="none"``.  It raises (a :class:`GeocodeError`, or the HTTP layer's
    error) only when the whole batch failed, so nothing is cached for it.
    """

    name: str

    def geocode_batch(self, addresses: pd.DataFrame) -> pd.DataFrame:
        """Geocode a batch of addresses.

        Parameters
        ----------
        addresses : pandas.DataFrame
            Columns ``address`` (normalised, non-empty) and ``zipcode``
            (five-digit string or NA), any index.

        Returns
        -------
        pandas.DataFrame
            Same index and length, columns :data:`GEOCODE_COLUMNS`: ``lon``,
            ``lat`` (WGS84 degrees, NaN unless matched), ``score`` (0-100,
            NaN when not applicable), ``match`` (``'exact'``, ``'fuzzy'``,
            ``'ambiguous'`` or ``'none'``), ``matched_address`` and
            ``source``; optionally ``reason`` explaining a non-match.
        """
        ...


def geocoder_fingerprint(geocoder: Geocoder) -> str:
    """Return the cache identity of a geocoder."""
    value = getattr(geocoder, "fingerprint", None)
    return f"{geocoder.name}|{value}" if value else str(geocoder.name)


def check_answer(answer: pd.DataFrame, batch: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check a geocoder's answer against the contract; return it aligned to ``batch``."""
    problems: list[str] = []
    missing = [c for c in GEOCODE_COLUMNS if c not in answer]
    if missing:
        problems.append(f"missing columns {missing}")
    if len(answer) != len(batch) or not answer.index.equals(batch.index):
        problems.append(f"{len(answer)} rows for {len(batch)} addresses, or a different index")
    if not problems:
        bad = ~answer["match"].isin(MATCH_VALUES)
        if bad.any():
            problems.append(
                f"match values outside {list(MATCH_VALUES)}: {set(answer['match'][bad])}"
            )
    if problems:
        msg = f"geocoder {name!r} broke the Geocoder contract: " + "; ".join(problems)
        raise GeocodeError(msg)
    return answer

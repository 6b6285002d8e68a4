"""Normalise free-text addresses into lookup keys (USPS-style abbreviations, sorted intersections).

Every geocoder is asked with these keys, and the :class:`~geo311.geocode.cache.GeocodeCache`
stores its answers under them, so "1 Main Street" and "1 MAIN ST." are one address.
"""

from __future__ import annotations

import re
from typing import Final

import pandas as pd

from geo311._errors import GeocodeError

__all__ = [
    "address_keys",
    "clean_zip",
    "normalize_address",
    "normalize_addresses",
    "split_address",
]


_DIRECTIONALS: Final = {
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
}
_DIRECTION_ABBREVIATIONS: Final = frozenset(_DIRECTIONALS.values())

# USPS Publication 28 suffixes most common in US cities (full word -> standard).
_STREET_TYPES: Final = {
    "ALLEY": "ALY",
    "AVENUE": "AVE",
    "AV": "AVE",
    "AVN": "AVE",
    "BOULEVARD": "BLVD",
    "BOUL": "BLVD",
    "CIRCLE": "CIR",
    "CIRCL": "CIR",
    "COURT": "CT",
    "CRESCENT": "CRES",
    "DRIVE": "DR",
    "DRV": "DR",
    "EXPRESSWAY": "EXPY",
    "FREEWAY": "FWY",
    "HIGHWAY": "HWY",
    "LANE": "LN",
    "PARKWAY": "PKWY",
    "PKY": "PKWY",
    "PLACE": "PL",
    "PLAZA": "PLZ",
    "ROAD": "RD",
    "SQUARE": "SQ",
    "STREET": "ST",
    "STR": "ST",
    "TERRACE": "TER",
    "TRAIL": "TRL",
    "TURNPIKE": "TPKE",
    "WAY": "WAY",
    "WALK": "WALK",
}
_STREET_TYPE_ABBREVIATIONS: Final = frozenset(_STREET_TYPES.values())
# Prefix words abbreviated in city data ("ST PAUL ST"): spelled out, so that
# "ST PAUL" and "SAINT PAUL" meet.
_PREFIX_WORDS: Final = {"ST": "SAINT", "STE": "SAINTE", "MT": "MOUNT", "FT": "FORT"}
_UNIT_WORDS: Final = frozenset(
    {"APT", "APARTMENT", "UNIT", "STE", "SUITE", "RM", "ROOM", "FL", "FLOOR", "BLDG", "LOT"}
)
_BLOCK_WORDS: Final = frozenset({"BLK", "BLOCK"})

_ZIP_RE: Final = re.compile(r"\b(\d{5})(?:-\d{4})?\s*$")
_STATE_TAIL_RE: Final = re.compile(r"\s+(?:[A-Z]{2})\s*$")
_INTERSECTION_RE: Final = re.compile(r"\s*(?:&|@|\bAND\b|\bAT\b|/)\s*")
_NUMBER_RANGE_RE: Final = re.compile(r"^(\d+)\s*-\s*\d+\b")


def _is_blank(text: object) -> bool:
    """Return True for None, NA/NaN and whitespace-only strings."""
    if text is None:
        return True
    if isinstance(text, str):
        return not text.strip()
    try:
        return bool(pd.isna(text))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _normalize_street(text: str) -> str:
    """Normalise one street phrase (no commas, upper case, punctuation removed)."""
    text = _NUMBER_RANGE_RE.sub(r"\1", text)
    tokens = text.split()
    # Unit designators: drop the designator and everything after it.
    for i, token in enumerate(tokens):
        if token.startswith("#") or (token in _UNIT_WORDS and i > 0 and i + 1 < len(tokens)):
            # "STE" before a name is "Sainte", not "suite": keep "1 STE MARIE ST".
            if token == "STE" and i + 2 < len(tokens):
                continue
            tokens = tokens[:i]
            break
    kept: list[str] = []
    for i, token in enumerate(tokens):
        after_block = token == "OF" and i > 0 and tokens[i - 1] in _BLOCK_WORDS
        if token not in _BLOCK_WORDS and not after_block:
            kept.append(token)
    tokens = kept
    if not tokens:
        return ""
    out: list[str] = []
    last = len(tokens) - 1
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i < last else None
        if token in _DIRECTIONALS:
            # A directional word is the street's name when a type follows it
            # ("E NORTH AVE") or when it stands alone after a number.
            is_name = nxt is not None and (
                nxt in _STREET_TYPES or nxt in _STREET_TYPE_ABBREVIATIONS
            )
            out.append(token if is_name else _DIRECTIONALS[token])
        elif token in _STREET_TYPES and (
            nxt is None or (i + 1 == last and nxt in _DIRECTION_ABBREVIATIONS | set(_DIRECTIONALS))
        ):
            out.append(_STREET_TYPES[token])
        elif (
            token in _PREFIX_WORDS
            and nxt is not None
            and not nxt.isdigit()
            and (not out or out[-1][0].isdigit() or out[-1] in _DIRECTION_ABBREVIATIONS)
        ):
            is_suffix = i + 1 == last and (nxt in _DIRECTIONALS or nxt in _DIRECTION_ABBREVIATIONS)
            out.append(token if is_suffix else _PREFIX_WORDS[token])
        else:
            out.append(token)
    return " ".join(out)


def split_address(text: object) -> tuple[str, str | None]:
    """Normalise an address and return it with the ZIP code found in its tail.

    Parameters
    ----------
    text : str or None
        A free-text street address or intersection, possibly followed by
        ``, city, state ZIP`` parts.

    Returns
    -------
    tuple of (str, str or None)
        The normalised address (``""`` when blank) and the five-digit ZIP
        code found after it, or None.

    Examples
    --------
    >>> split_address("1800 Blk Ramsay Street, Baltimore City, 21223")
    ('1800 RAMSAY ST', '21223')
    >>> split_address("W. Baltimore St & N. Abington Ave, BC")
    ('N ABINGTON AVE & W BALTIMORE ST', None)
    """
    if _is_blank(text):
        return "", None
    upper = str(text).upper().replace("\u00a0", " ").strip()
    head, _, tail = upper.partition(",")
    zip_code: str | None = None
    found = _ZIP_RE.search(tail) if tail else None
    if found:
        zip_code = found.group(1)
    elif not tail:
        # "1 MAIN ST BALTIMORE MD 21201" without commas: only a trailing
        # state + ZIP is recognisable without a street dictionary.
        found = _ZIP_RE.search(head)
        if found and _STATE_TAIL_RE.search(head[: found.start()]):
            zip_code = found.group(1)
            head = _STATE_TAIL_RE.sub("", head[: found.start()])
    head = head.replace(".", "").replace("'", "")
    head = re.sub(r"[^A-Z0-9&@/#\s-]", " ", head)
    head = re.sub(r"(?<=[A-Z])-(?=[A-Z])|\s-\s|-\s|\s-", " ", head)
    head = re.sub(r"\s+", " ", head).strip()
    parts = [p for p in _INTERSECTION_RE.split(head) if p.strip()]
    if len(parts) >= 2:
        streets = sorted({_normalize_street(p) for p in parts} - {""})
        return " & ".join(streets), zip_code
    return _normalize_street(head), zip_code


def normalize_address(text: object) -> str:
    """Return the canonical form of one address (case, punctuation, words, tails).

    Upper case; punctuation dropped; directionals (``NORTH`` -> ``N``) and
    street types (``STREET`` -> ``ST``, ``AVENUE`` -> ``AVE`` ...) abbreviated
    the USPS way, except where the word is the street's name (``E NORTH AVE``);
    ``ST``/``MT``/``FT`` before a name spelled out (``SAINT PAUL ST``); units
    (``APT 2``, ``#3``, ``STE 100``) and block words (``1800 BLK``) removed;
    city/state/ZIP tails after the first comma removed (see
    :func:`split_address` to keep the ZIP).  Intersections written ``A & B``,
    ``A AND B``, ``A AT B``, ``A @ B`` or ``A / B`` become ``A & B`` with the
    streets sorted, so the order does not matter.

    Parameters
    ----------
    text : str or None
        The address as given.

    Returns
    -------
    str
        The normalised address; ``""`` for a blank input.

    Examples
    --------
    >>> normalize_address("3324 Sumter Avenue, Baltimore City, 21215")
    '3324 SUMTER AVE'
    >>> normalize_address("100 North Charles Street Apt. 4B")
    '100 N CHARLES ST'
    >>> normalize_address("e. north ave.")
    'E NORTH AVE'
    >>> normalize_address("Reisterstown Rd and Liberty Heights Ave")
    'LIBERTY HEIGHTS AVE & REISTERSTOWN RD'
    >>> normalize_address(None)
    ''
    """
    return split_address(text)[0]


def normalize_addresses(addresses: pd.Series) -> pd.DataFrame:
    """Normalise a Series of addresses; each distinct value is parsed once.

    Parameters
    ----------
    addresses : pandas.Series
        Free-text addresses (NA allowed).

    Returns
    -------
    pandas.DataFrame
        Same index; ``address`` (normalised, ``""`` when blank) and ``zipcode``
        (from the address tail, NA when absent), both ``string`` dtype.

    Examples
    --------
    >>> import pandas as pd
    >>> normalize_addresses(pd.Series(["1 Main Street, X, 21201", None])).to_dict("list")
    {'address': ['1 MAIN ST', ''], 'zipcode': ['21201', None]}
    """
    values = addresses.astype(object).where(addresses.notna(), None)
    parsed = {v: split_address(v) for v in pd.unique(values.to_numpy(dtype=object))}
    pairs = [parsed[v] for v in values]
    return pd.DataFrame(
        {
            "address": pd.array([p[0] for p in pairs], dtype="string"),
            "zipcode": pd.array([p[1] for p in pairs], dtype="string"),
        },
        index=addresses.index,
    )


def clean_zip(value: object) -> str | None:
    """Return a five-digit ZIP code from a value such as ``21215``, ``'21215-1234'``."""
    if _is_blank(value):
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0", text):
        text = text[:-2]
    found = re.match(r"^(\d{5})(?:-?\d{4})?$", text)
    if found:
        return found.group(1)
    if text.isdigit() and len(text) < 5:
        return text.zfill(5)
    return None


def address_keys(addresses: pd.DataFrame) -> pd.DataFrame:
    """Return normalised ``address`` and ``zipcode`` (column first, else the tail)."""
    if "address" not in addresses:
        msg = (
            "geocoder input needs an 'address' column (and optionally 'zipcode'); "
            f"found {list(addresses.columns)}"
        )
        raise GeocodeError(msg)
    parsed = normalize_addresses(addresses["address"])
    if "zipcode" in addresses:
        given = pd.array([clean_zip(z) for z in addresses["zipcode"]], dtype="string")
        parsed["zipcode"] = pd.Series(given, index=addresses.index).fillna(parsed["zipcode"])
    return parsed

r"""Label transforms: turn the labels a city's export carries into its boundary ids or names.

A city's 311 export often labels a request's area in its own words ("Ward 3",
"CD 04", "District 7") while the boundary file's id is a bare "3".  A layer's
``label`` in the manifest may declare a ``transform`` that rewrites each
label before the join QA compares it with the assigned area (format in
``boundaries/README.md``)::

    label = { column = "Ward", match = "id", transform = { strip_prefix = "Ward" } }

The steps, each optional, in this order:

``map``
    a table of exact values (case and surrounding spaces ignored) to their
    replacement, checked first; a value found there is final, and ``""``
    means "no label" (e.g. ``"CITYWIDE" = ""``);
``strip_prefix``, ``strip_suffix``
    text (or a list of alternatives, the longest that fits wins) removed from
    the start / end, ignoring case; a label without it is kept as it is;
``regex``
    a regular expression with exactly one capture group: the label becomes
    the group's text at the first match; a label it does not match is kept
    (the QA then counts it as a mismatch, so a wrong pattern shows);
``zero_pad``
    a width: labels made only of digits get leading zeros up to it ("7" ->
    "07").  The QA already ignores the leading zeros of a number when it
    compares, so this only shapes the labels it reports.

Examples
--------
>>> import pandas as pd
>>> spec = parse_label_transform({"regex": r"(\d+)$", "zero_pad": 2}, "wards", [])
>>> spec.apply(pd.Series(["District 7", "CD 04", None])).tolist()
['07', '04', <NA>]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

__all__ = ["LabelTransform", "parse_label_transform"]

_KEYS = ("map", "strip_prefix", "strip_suffix", "regex", "zero_pad")
_MAX_PAD = 20


@dataclass(frozen=True)
class LabelTransform:
    """A checked label transform (see the module docstring for each step).

    Attributes
    ----------
    values : mapping of str to str
        ``map``: case-folded, trimmed label -> replacement (``""`` = no label).
    strip_prefix, strip_suffix : tuple of str
        Alternatives, longest first.
    regex : str or None
        A pattern with exactly one capture group.
    zero_pad : int or None
        Width to pad all-digit labels to.
    """

    values: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    strip_prefix: tuple[str, ...] = ()
    strip_suffix: tuple[str, ...] = ()
    regex: str | None = None
    zero_pad: int | None = None

    def apply(self, labels: pd.Series) -> pd.Series:
        """Return the transformed labels (a new string Series, same index; input untouched).

        Parameters
        ----------
        labels : pandas.Series
            Labels as the export spells them; missing values stay missing.

        Returns
        -------
        pandas.Series
            ``string`` dtype; a label mapped to ``""`` becomes missing.

        Examples
        --------
        >>> import pandas as pd
        >>> t = parse_label_transform(
        ...     {"strip_prefix": ["Ward", "W"], "map": {"City Hall": "1", "n/a": ""}}, "w", []
        ... )
        >>> t.apply(pd.Series(["Ward 3", "w12", "CITY HALL", "N/A", "5"])).tolist()
        ['3', '12', '1', <NA>, '5']
        """
        text = labels.astype("string").str.strip()
        key = text.str.casefold()
        mapped = key.isin(list(self.values))
        out = _strip(text, self.strip_prefix, end=False)
        out = _strip(out, self.strip_suffix, end=True)
        if self.regex is not None:
            found = out.str.extract(self.regex, expand=False).astype("string").str.strip()
            out = out.mask(found.notna() & (found != ""), found)
        if self.zero_pad is not None:
            digits = out.str.fullmatch(r"\d+").fillna(False)
            out = out.mask(digits, out.str.zfill(self.zero_pad))
        out = out.mask(mapped, key.map(dict(self.values)))
        return out.mask(out == "")

    def to_dict(self) -> dict[str, Any]:
        """Return the declared steps as a JSON-ready dictionary (for the QA report)."""
        out: dict[str, Any] = {}
        if self.values:
            out["map"] = dict(self.values)
        if self.strip_prefix:
            out["strip_prefix"] = list(self.strip_prefix)
        if self.strip_suffix:
            out["strip_suffix"] = list(self.strip_suffix)
        if self.regex is not None:
            out["regex"] = self.regex
        if self.zero_pad is not None:
            out["zero_pad"] = self.zero_pad
        return out


def _strip(text: pd.Series, affixes: tuple[str, ...], *, end: bool) -> pd.Series:
    """Remove the first (longest) of ``affixes`` that starts (or ends) each label, ignoring case.

    A label equal to an affix is kept whole (stripping it would leave nothing),
    and a shorter affix is not tried on it.
    """
    folded = text.str.casefold()
    done = pd.Series(False, index=text.index)
    out = text
    for affix in affixes:
        size = len(affix)
        fits = (
            folded.str.endswith(affix.casefold())
            if end
            else folded.str.startswith(affix.casefold())
        )
        fits = fits.fillna(False).astype(bool) & ~done
        cut = fits & (text.str.len() > size).fillna(False).astype(bool)
        kept = text.str.slice(0, -size) if end else text.str.slice(size)
        out = out.mask(cut, kept.str.strip())
        done |= fits
    return out


def _affixes(value: Any, key: str, where: str, problems: list[str]) -> tuple[str, ...]:
    """Check ``strip_prefix`` / ``strip_suffix``: a string or a list of strings."""
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(v, str) and v.strip() for v in items)
    ):
        problems.append(
            f'{where}: {key} must be non-empty text or a list of texts (e.g. "Ward"), '
            f"got {value!r}"
        )
        return ()
    return tuple(sorted({v.strip() for v in items}, key=len, reverse=True))


def _regex(value: Any, where: str, problems: list[str]) -> str | None:
    """Check ``regex``: a valid pattern with exactly one capture group."""
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: regex must be a pattern such as '(\\d+)$', got {value!r}")
        return None
    try:
        groups = re.compile(value).groups
    except re.error as exc:
        problems.append(f"{where}: regex {value!r} is not a valid regular expression ({exc})")
        return None
    if groups != 1:
        problems.append(
            f"{where}: regex {value!r} must have exactly one capture group (...), "
            f"it has {groups}; write other groups as (?:...)"
        )
        return None
    return value


def _zero_pad(value: Any, where: str, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_PAD:
        problems.append(f"{where}: zero_pad must be a width from 1 to {_MAX_PAD}, got {value!r}")
        return None
    return value


def _values(value: Any, where: str, problems: list[str]) -> dict[str, str]:
    """Check ``map``: a table of label -> replacement (text or integer)."""
    ok = isinstance(value, Mapping) and all(
        isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
        for v in value.values()
    )
    if not ok or not value:
        problems.append(
            f'{where}: map must be a table of label = replacement (e.g. {{ "City Hall" = "1" }}), '
            f"got {value!r}"
        )
        return {}
    out: dict[str, str] = {}
    for label, target in value.items():
        key = str(label).strip().casefold()
        if key in out:
            problems.append(f"{where}: map lists {label!r} twice (labels ignore case)")
        out[key] = str(target).strip()
    return out


def parse_label_transform(data: Any, where: str, problems: list[str]) -> LabelTransform | None:
    """Check a manifest's ``transform`` table; append each problem found to ``problems``.

    Parameters
    ----------
    data : object
        The TOML value of ``label.transform``.
    where : str
        Where it was declared, e.g. ``"[layers.wards] label.transform"``; it
        starts every problem line.
    problems : list of str
        Collects one line per problem.

    Returns
    -------
    LabelTransform or None
        None when ``data`` is not a valid non-empty table.
    """
    if not isinstance(data, Mapping) or not data:
        problems.append(f"{where} must be a table with some of {', '.join(_KEYS)}, got {data!r}")
        return None
    extra = sorted(set(data) - set(_KEYS))
    if extra:
        problems.append(f"{where} has unknown keys {extra}; allowed: {list(_KEYS)}")
    before = len(problems)
    spec = LabelTransform(
        values=MappingProxyType(_values(data["map"], where, problems) if "map" in data else {}),
        strip_prefix=_affixes(data["strip_prefix"], "strip_prefix", where, problems)
        if "strip_prefix" in data
        else (),
        strip_suffix=_affixes(data["strip_suffix"], "strip_suffix", where, problems)
        if "strip_suffix" in data
        else (),
        regex=_regex(data["regex"], where, problems) if "regex" in data else None,
        zero_pad=_zero_pad(data["zero_pad"], where, problems) if "zero_pad" in data else None,
    )
    return spec if len(problems) == before and not extra else None

"""Service type selection that cannot fail silently: the user's words to exact type names.

:func:`resolve_types` reads the service types present in the requests
(``service_name`` and ``service_code``) and turns what a user typed into the
exact names the scope filters on (:mod:`.scope`, ``service_types``):

- a ``types`` term matches, ignoring case and spacing, the type whose whole
  name equals it; else the types whose name without an agency prefix
  (``"SW-"``, ``"HCD-"``: up to six letters and a hyphen) equals it
  (``"recycling"`` is ``"SW-Recycling"``); else every type whose name
  contains it (``"recycling container"`` matches
  ``"SW-Trash Can/Recycling Container Complaint"``); all matches are used,
  and listed in :meth:`TypeSelection.describe`;
- a ``families`` name picks a family of the city manifest (``[families]``,
  matched ignoring case) and all of its types present in the data.

A term or family that selects nothing raises an
:class:`~geo311._errors.OptionError` with "did you mean" suggestions
(:mod:`difflib`), so a typo never gives an empty table.
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from geo311._errors import OptionError

__all__ = ["TypeSelection", "resolve_types", "service_types_present"]

log = logging.getLogger(__name__)

_COLUMNS = ("service_name", "service_code")


@dataclass(frozen=True)
class TypeSelection:
    """The service types a user asked for and the exact names they matched.

    Attributes
    ----------
    matches : dict of str to tuple of str
        Each ``types`` term (as typed) to the exact type names it matched.
    families : dict of str to tuple of str
        Each family (as named in the manifest) to its type names present in the data.
    types : tuple of str
        Every exact type name selected, sorted: what the scope filters on.
    """

    matches: Mapping[str, tuple[str, ...]]
    families: Mapping[str, tuple[str, ...]]
    types: tuple[str, ...]

    @property
    def label(self) -> str:
        """A short name of the selection: the families, then the terms, joined by " + "."""
        return " + ".join([*self.families, *self.matches])

    def describe(self) -> str:
        """Return the selection in plain words, one matched term or family per clause.

        Examples
        --------
        >>> TypeSelection({"recycl": ("SW-Recycling",)}, {}, ("SW-Recycling",)).describe()
        'service types: "recycl" matched SW-Recycling'
        """
        parts = [f'family "{k}" = {", ".join(v)}' for k, v in self.families.items()]
        parts += [f'"{k}" matched {", ".join(v)}' for k, v in self.matches.items()]
        return "service types: " + "; ".join(parts)

    def metadata(self) -> dict[str, Any]:
        """Return the selection for a table's metadata (JSON-ready)."""
        return {
            "terms": {k: list(v) for k, v in self.matches.items()},
            "families": {k: list(v) for k, v in self.families.items()},
            "service_types": list(self.types),
        }


def _key(text: str) -> str:
    """Compare names ignoring case and runs of spaces."""
    return " ".join(text.split()).casefold()


def service_types_present(requests: pd.DataFrame) -> pd.Series:
    """Return the distinct service types of the requests with their request counts.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests; ``service_name`` and ``service_code`` are read
        where present.  Not modified.

    Returns
    -------
    pandas.Series
        Request count indexed by type name (names and codes together), most
        frequent first; empty when neither column is present.
    """
    counts = []
    for column in (c for c in _COLUMNS if c in requests.columns):
        found = requests[column].value_counts(dropna=True)
        found = found[found > 0]  # a categorical column also lists its unobserved categories
        if len(found):
            counts.append(found.set_axis(found.index.astype(str)).astype("int64"))
    if not counts:
        return pd.Series(dtype="int64")
    out = pd.concat(counts)
    out = out.groupby(level=0).sum()
    return out.sort_values(ascending=False, kind="stable")


def _suggest(term: str, names: Sequence[str], *, n: int = 5) -> list[str]:
    """Return the names closest to ``term`` (case and spacing ignored), best first."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(_key(name), name)
    words = {_key(w): k for k in by_key for w in k.replace("-", " ").replace("/", " ").split()}
    close = difflib.get_close_matches(_key(term), list(by_key), n=n, cutoff=0.6)
    close += [
        words[w] for w in difflib.get_close_matches(_key(term), list(words), n=n, cutoff=0.75)
    ]
    return [by_key[k] for k in dict.fromkeys(close)][:n]


def _no_match(what: str, term: str, names: Sequence[str], *, where: str) -> OptionError:
    hints = _suggest(term, names)
    if hints:
        advice = "did you mean " + " or ".join(f'"{h}"' for h in hints) + "?"
    else:
        advice = "the most frequent are " + ", ".join(f'"{h}"' for h in names[:8])
    msg = f'{what} "{term}" matches none of the {len(names):,} {where}; {advice}'
    return OptionError(msg)


#: An agency prefix some cities put before every type name ("SW-Recycling").
_AGENCY_PREFIX = re.compile(r"^[a-z]{1,6}-\s*")


def _match(term: str, names: Sequence[str]) -> tuple[str, ...]:
    """Return the names ``term`` selects: whole name, else name after its prefix, else a part."""
    key = _key(term)
    for same in (
        lambda name: _key(name) == key,
        lambda name: _AGENCY_PREFIX.sub("", _key(name)) == key,
        lambda name: key in _key(name),
    ):
        found = sorted(n for n in names if same(n))
        if found:
            return tuple(found)
    return ()


def resolve_types(
    requests: pd.DataFrame,
    *,
    types: Sequence[str] | None = None,
    families: Sequence[str] | None = None,
    family_types: Mapping[str, Sequence[str]] | None = None,
) -> TypeSelection | None:
    """Resolve what a user typed to the exact service type names present in the requests.

    Parameters
    ----------
    requests : pandas.DataFrame
        Canonical requests (``service_name`` and/or ``service_code``).  Not modified.
    types : sequence of str, optional
        Terms matched ignoring case and spacing: an exact name, else every
        type containing the term.
    families : sequence of str, optional
        Family names of ``family_types``, matched ignoring case.
    family_types : mapping of str to sequence of str, optional
        The city's families (:attr:`geo311.join.manifest.CityManifest.families`).

    Returns
    -------
    TypeSelection or None
        None when neither ``types`` nor ``families`` is given.

    Raises
    ------
    OptionError
        A blank term; a term that matches no type present; an unknown family
        or one none of whose types is present (each with suggestions).

    Examples
    --------
    >>> frame = pd.DataFrame({"service_name": ["SW-Recycling", "SW-Mixed Refuse", "Potholes"]})
    >>> resolve_types(frame, types=["mixed refuse", "RECYCLING"]).types
    ('SW-Mixed Refuse', 'SW-Recycling')
    """
    if not types and not families:
        return None
    present = service_types_present(requests)
    names = [str(n) for n in present.index]
    matches: dict[str, tuple[str, ...]] = {}
    for term in types or ():
        if not isinstance(term, str) or not term.strip():
            msg = f"--type / types= needs a service type name or part of one, got {term!r}"
            raise OptionError(msg)
        found = _match(term, names)
        if not found:
            error = _no_match("--type", term, names, where="service types in the requests")
            raise error
        matches[term] = found
    chosen: dict[str, tuple[str, ...]] = {}
    defined = dict(family_types or {})
    for family in families or ():
        name = next((k for k in defined if _key(k) == _key(str(family))), None)
        if name is None:
            known = sorted(defined) or ["(none: add a [families] table to the city manifest)"]
            error = _no_match("--family", str(family), known, where="families of the city")
            raise error
        wanted = {_key(t) for t in defined[name]}
        found = tuple(sorted(n for n in names if _key(n) in wanted))
        if not found:
            msg = (
                f'--family "{family}" lists {", ".join(defined[name])}, none of which is among '
                f"the service types in the requests; check the names in the city manifest"
            )
            raise OptionError(msg)
        seen = {_key(n) for n in found}
        absent = [t for t in defined[name] if _key(t) not in seen]
        if absent:
            log.warning(
                "family %r: %d of its types are not in the requests: %s", name, len(absent), absent
            )
        chosen[name] = found
    selected = sorted({t for group in [*matches.values(), *chosen.values()] for t in group})
    selection = TypeSelection(matches, chosen, tuple(selected))
    log.info("selected %s", selection.describe())
    return selection

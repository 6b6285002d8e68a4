"""How an area is named on a page: a layer's ``display`` format ("Council District {id}").

The format comes from a city manifest (a user's file), so it is checked
before use: only the plain fields ``{id}`` and ``{name}`` are allowed (no
attribute or index access, conversion or format spec), and the values are
inserted as plain text, never read as a format themselves.
"""

from __future__ import annotations

import string
from typing import Any

import pandas as pd

__all__ = ["DISPLAY_FIELDS", "display_name", "display_problem"]

#: Placeholders a layer's ``display`` format may use.
DISPLAY_FIELDS = ("id", "name")


def _missing(value: Any) -> bool:
    """Whether an id or name is absent (None, NaN, pd.NA, or blank)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return True
    return not str(value).strip()


def display_problem(template: Any) -> str | None:
    """Return why ``template`` is not a valid ``display`` format, or None.

    Only ``{id}`` and ``{name}`` may appear, without conversion (``!r``) or
    format spec (``:>3``); literal braces are written ``{{`` and ``}}``.

    Examples
    --------
    >>> display_problem("Council District {id}") is None
    True
    >>> display_problem("{name.__class__}")
    "placeholder '{name.__class__}' is not allowed; use only {id} and {name}"
    """
    if not isinstance(template, str) or not template.strip():
        return 'must be a non-empty string such as "{name}" or "Ward {id}"'
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid format ({exc}); write literal braces as {{{{ and }}}}"
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        shown = "{" + field_name + (f"!{conversion}" if conversion else "")
        shown += (f":{spec}" if spec else "") + "}"
        if field_name not in DISPLAY_FIELDS or spec or conversion:
            return f"placeholder {shown!r} is not allowed; use only {{id}} and {{name}}"
    return None


def display_name(template: str, area_id: Any, area_name: Any = None) -> str:
    """Fill a checked ``display`` format with an area's id and name.

    Parameters
    ----------
    template : str
        A format for which :func:`display_problem` returns None.
    area_id : object
        The area's id.
    area_name : object, optional
        The area's name; when missing, the id stands in for it.

    Returns
    -------
    str
        The values are substituted as plain text: braces or anything else
        inside an id or name are never interpreted.

    Examples
    --------
    >>> display_name("Council District {id}", "5", "Fifth")
    'Council District 5'
    >>> display_name("{name}", "5", "{id} {{x}}")
    '{id} {{x}}'
    >>> display_name("{name}", "7", None)
    '7'
    """
    ident = "" if _missing(area_id) else str(area_id)
    name = ident if _missing(area_name) else str(area_name)
    return template.format_map({"id": ident, "name": name})

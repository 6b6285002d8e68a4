"""Escaping of text for the contexts a page puts it in: HTML and JSON data blocks.

Every string derived from input (area names and ids, service types, titles,
sources) reaches a page through one of these two functions, or through the
autoescaping Jinja environment of :mod:`geo311.site.build` that uses
:func:`escape_html` as its finaliser. Nothing derived from input is ever
compiled as template source.
"""

from __future__ import annotations

import html
import json
import re

__all__ = ["data_block", "escape_html", "json_for_script"]


def escape_html(value: object) -> str:
    """Escape text for HTML element content and quoted attribute values.

    ``& < > " '`` become character references, and so does the backtick
    (some old parsers treat it as an attribute quote).

    Examples
    --------
    >>> escape_html('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> escape_html("`${x}`")
    '&#96;${x}&#96;'
    """
    return html.escape(str(value), quote=True).replace("`", "&#96;")


_SCRIPT_UNSAFE = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "'": "\\u0027",
    "`": "\\u0060",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_SCRIPT_UNSAFE_RE = re.compile("[<>&'`\u2028\u2029]")


def json_for_script(obj: object) -> str:
    r"""Serialise ``obj`` as compact JSON that is safe inside an HTML ``<script>``.

    ``<``, ``>``, ``&``, quotes, backticks and U+2028/U+2029 are written as
    ``\\uXXXX`` escapes, so no string value can close the script element, open
    a comment, or end a JavaScript string or template literal. NaN is refused.

    Examples
    --------
    >>> json_for_script({"name": "</script><script>alert(1)</script>"})
    '{"name":"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _script_safe(text)


def _script_safe(json_text: str) -> str:
    return _SCRIPT_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group(0)], json_text)


def data_block(element_id: str, json_text: str) -> str:
    r"""Return JSON text as a ``<script type="application/json">`` element that scripts parse.

    The browser never runs the content of such an element; geo311's map code
    reads it with ``JSON.parse`` (``geo311.data(id)``). The characters that
    :func:`json_for_script` escapes are escaped here too, so the element
    cannot be closed early. ``element_id`` is made by geo311 (element names),
    never taken from input.

    Examples
    --------
    >>> data_block("d1", '["</script>"]')
    '<script type="application/json" id="d1">["\\u003c/script\\u003e"]</script>'
    """
    return (
        f'<script type="application/json" id="{escape_html(element_id)}">'
        f"{_script_safe(json_text)}</script>"
    )

"""The vendored front-end files (Leaflet and one plugin) that make geo311 maps work offline.

``geo311/site/vendor/`` holds files copied verbatim from npm tarballs by
``scripts/vendor_assets.py``, with their licences, and ``VERSIONS.json``
describing them. It is package data, not a Python package.

Folium elements name their JavaScript/CSS by CDN URL. geo311's own elements
point at the jsDelivr URL of exactly the vendored package version and file
(:func:`cdn_url`), so a map saved with plain ``folium`` still works online,
while :func:`geo311.site.maps.map_parts` swaps every such URL for the vendored file
(inlined, or a relative link) and refuses any URL it cannot swap.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import shutil
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

__all__ = [
    "asset_text",
    "cdn_url",
    "copy_assets",
    "inline_tag",
    "link_tag",
    "url_to_asset",
    "vendor_dir",
    "versions",
]

_CDN = "https://cdn.jsdelivr.net/npm/{package}@{version}/{source}"
_MIME = {".png": "image/png", ".svg": "image/svg+xml"}
_CSS_URL = re.compile(r"url\(\s*['\"]?(?P<ref>[^'\")\s]+)['\"]?\s*\)")


def vendor_dir() -> Traversable:
    """Return the ``geo311/site/vendor`` folder inside the installed package."""
    return files("geo311.site") / "vendor"


@functools.cache
def versions() -> dict[str, Any]:
    """Return the parsed ``vendor/VERSIONS.json``."""
    text = (vendor_dir() / "VERSIONS.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _package(name: str) -> dict[str, Any]:
    for entry in versions()["packages"]:
        if entry["package"] == name:
            return dict(entry)
    msg = f"{name!r} is not vendored; see scripts/vendor_assets.py"
    raise KeyError(msg)


def cdn_url(package: str, path: str) -> str:
    """Return the jsDelivr URL of a vendored file (``path`` relative to ``vendor/<package>``).

    Examples
    --------
    >>> cdn_url("leaflet", "leaflet.js")
    'https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js'
    """
    entry = _package(package)
    for item in entry["files"]:
        if item["path"] == f"{package}/{path}":
            return _CDN.format(package=package, version=entry["version"], source=item["source"])
    msg = f"{path!r} is not among the vendored files of {package}"
    raise KeyError(msg)


@functools.cache
def _url_table() -> dict[str, str]:
    table = {}
    for entry in versions()["packages"]:
        for item in entry["files"]:
            url = _CDN.format(
                package=entry["package"], version=entry["version"], source=item["source"]
            )
            table[url] = item["path"]
    return table


def url_to_asset(url: str) -> str | None:
    """Return the vendored path (``leaflet/leaflet.js``) served at ``url``, or None."""
    return _url_table().get(url)


def _vendored_paths() -> set[str]:
    return {item["path"] for entry in versions()["packages"] for item in entry["files"]}


def _resolve(base: str, ref: str) -> str:
    parts = base.split("/")[:-1]
    for piece in ref.split("/"):
        if piece == "..":
            parts = parts[:-1]
        elif piece not in {"", "."}:
            parts.append(piece)
    return "/".join(parts)


def asset_text(path: str, *, inline: bool) -> str:
    """Return a vendored JS/CSS file's text, ready to serve.

    In CSS, ``url()`` references to vendored images become data URIs when
    ``inline`` (the page has no folder next to it) and stay relative otherwise
    (:func:`copy_assets` writes the images beside the stylesheet). References
    to images that were deliberately not vendored (Leaflet's marker icons; geo311
    draws no markers) become ``none`` so nothing is ever requested.
    """
    text = (vendor_dir() / path).read_text(encoding="utf-8")
    if not path.endswith(".css"):
        return text
    vendored = _vendored_paths()

    def swap(match: re.Match[str]) -> str:
        ref = match.group("ref")
        if ref.startswith(("#", "data:")):
            return match.group(0)
        target = _resolve(path, ref)
        if target not in vendored:
            return "none"
        if not inline:
            return match.group(0)
        data = base64.b64encode((vendor_dir() / target).read_bytes()).decode("ascii")
        mime = _MIME[Path(target).suffix]
        return f'url("data:{mime};base64,{data}")'

    return _CSS_URL.sub(swap, text)


def inline_tag(path: str) -> str:
    """Return a ``<script>`` or ``<style>`` element holding a vendored file.

    The text is checked so it cannot close its element early.
    """
    text = asset_text(path, inline=True)
    tag = "script" if path.endswith(".js") else "style"
    if f"</{tag}" in text.lower():
        msg = f"vendored {path} contains '</{tag}' and cannot be inlined"
        raise ValueError(msg)
    if tag == "script":
        return f"<script>/* {path} (geo311/site/vendor, see VERSIONS.json) */\n{text}\n</script>"
    return f"<style>/* {path} (geo311/site/vendor, see VERSIONS.json) */\n{text}\n</style>"


def link_tag(path: str, prefix: str) -> str:
    """Return a ``<script src>`` or stylesheet ``<link>`` pointing at ``prefix + path``."""
    from html import escape  # noqa: PLC0415

    href = escape(prefix + path, quote=True)
    if path.endswith(".js"):
        return f'<script src="{href}"></script>'
    return f'<link rel="stylesheet" href="{href}">'


def copy_assets(dest: Path) -> list[Path]:
    """Copy every vendored file and licence under ``dest``, keeping the layout.

    Stylesheets are written as :func:`asset_text` serves them in external mode.
    Returns the written paths, sorted.
    """
    written = []
    for entry in versions()["packages"]:
        rels = [item["path"] for item in entry["files"]] + [entry["license_file"]]
        for rel in rels:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel.endswith(".css"):
                target.write_text(asset_text(rel, inline=False), encoding="utf-8")
            else:
                with (vendor_dir() / rel).open("rb") as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
            written.append(target)
    return sorted(written)

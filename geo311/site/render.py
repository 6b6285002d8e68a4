"""Rendering pages: the autoescaping Jinja environment, the site plan and page writing.

Every value reaches the page templates as context: Jinja escapes it (with
:func:`~geo311.site.escape.escape_html` as finaliser, which also escapes the
backtick); nothing derived from input is ever compiled as template source.
Only HTML that geo311 made and escaped itself (the map parts of
:mod:`geo311.site.maps`, the SVG charts of :mod:`geo311.site.charts`) is
marked safe in the templates.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from geo311.io.atomic import atomic_write
from geo311.site import maps
from geo311.site.downloads import data_paths
from geo311.site.escape import escape_html

__all__ = ["Renderer", "SitePlan", "environment", "write_page"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _jinja() -> ModuleType:
    try:
        import jinja2  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        msg = "the site needs Jinja2: pip install 'geo311[maps]'"
        raise ImportError(msg) from exc
    return jinja2


#: The characters :func:`~geo311.site.escape.escape_html` replaces.
_ESCAPED = re.compile("[&<>\"'`]")


def _finalize(value: Any) -> Any:
    """Escape text with :func:`geo311.site.escape.escape_html` (autoescape plus the backtick).

    Text without any character to escape (most cells: numbers, names) is
    returned as it is; the autoescape that follows leaves it unchanged too.
    """
    from markupsafe import Markup  # noqa: PLC0415 - a dependency of Jinja2

    if isinstance(value, str) and not isinstance(value, Markup) and _ESCAPED.search(value):
        return Markup(escape_html(value))
    return value


@functools.cache
def environment() -> Any:
    """Return the autoescaping Jinja environment of the page templates (one per process).

    The environment keeps the templates it compiled, so a process that builds
    several sites (or a site twice) compiles each template once.
    """
    jinja2 = _jinja()
    return jinja2.Environment(
        finalize=_finalize,
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


@dataclass
class SitePlan:
    """Every page and image the site will have, decided before anything is written."""

    maps: list[tuple[str, str, Path, Path | None]]  # layer, column, page, png
    combined: list[tuple[str, list[str], Path]]  # layer, its columns as switchable layers, page
    skipped: list[str]
    districts: list[tuple[str, str, Path]]  # district id, name, page
    index: Path
    manifest: Path
    dictionary: Path

    def pages(self) -> list[Path]:
        """Every page of the site."""
        return [
            self.index,
            self.dictionary,
            *(page for _, _, page, _ in self.maps),
            *(page for *_, page in self.combined),
            *(page for *_, page in self.districts),
        ]

    def outputs(self) -> list[Path]:
        """Every file the site writes (besides the vendored assets)."""
        return [
            self.manifest,
            *self.pages(),
            *(png for *_, png in self.maps if png is not None),
            *(path for page in self.pages() for path in data_paths(page)),
        ]


@dataclass(frozen=True)
class Renderer:
    """What every page is rendered with."""

    env: Any
    common: Mapping[str, Any]
    tiles: bool
    self_contained: bool

    def parts(self, m: Any) -> Any:
        """Render a map into the parts a page embeds (inline or linked assets)."""
        return maps.map_parts(
            m, assets="inline" if self.self_contained else "external", asset_prefix="assets/"
        )

    def write(self, template: str, page: Path, **context: Any) -> int:
        """Render ``template`` with ``context`` (values only) into ``page``; return its bytes."""
        html = self.env.get_template(template).render(**{**self.common, **context})
        return write_page(page, html)


def write_page(path: Path, html: str) -> int:
    """Write a page atomically; return its size in bytes."""
    data = html.encode("utf-8")
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return len(data)

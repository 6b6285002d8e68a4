"""Browser helpers shared by the browser tests: Debian's chromium through Playwright, offline.

Every request that is not a local file is blocked (the basemap tiles are the
only thing a page asks the network for), exactly as on a council office
network that blocks CDNs; every visit records console and page errors and
dialogs (a payload that ran would open one).  Screenshots go to
``build/screenshots/`` (git-ignored) for people to look at.  Locally the tests
skip when chromium is not installed; in CI (``CI`` set) a missing browser is a
failure.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "screenshots"
#: axe-core, vendored for the tests only (tests/vendor/README.md).
AXE = REPO / "tests" / "vendor" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Milliseconds a loaded page is given to let Leaflet finish drawing and any payload fire.
SETTLE_MS = 300
#: Pages open side by side in :func:`visit_all`.
AT_ONCE = 6


@dataclass
class Visit:
    """What one page did in the browser."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def offline_page(
    browser: Any, *, width: int = 1280, height: int = 900, javascript: bool = True
) -> Visit:
    """Open a page in a new context with the network blocked; record errors, dialogs, blocks.

    Navigate it with ``seen.page.goto``; close it with ``seen.page.context.close()``.
    """
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": width, "height": height}
    )
    page = context.new_page()
    seen = Visit(page)

    def route(handle: Any) -> None:
        url = handle.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            handle.continue_()
        else:
            seen.blocked.append(url)
            handle.abort()

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    context.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    page.on("dialog", on_dialog)
    return seen


def own_errors(seen: Visit) -> list[str]:
    """Console errors other than the blocked basemap tiles failing to load."""
    return [
        e
        for e in seen.console_errors
        if not ("ERR_FAILED" in e or "ERR_BLOCKED" in e or any(b in e for b in seen.blocked))
    ]


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Any, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """Run axe-core on the page as it is now; return its violations of ``impacts``, one a line.

    Two repetitions are left out to keep the run short: the map's overlay
    pane (one SVG path per area, hundreds of them, out of the Tab order; the
    areas are named in the search box and the table) and table rows after
    the 20th (every row of a table comes from the same template row, so the
    first 20 carry every style and markup the others have).
    """
    page.add_script_tag(content=_axe_source())
    result = page.evaluate(
        """() => axe.run({exclude: [['.leaflet-overlay-pane'], ['tbody > tr:nth-child(n+21)']]},
                         {resultTypes: ['violations']})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}; at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def screenshot(seen: Visit, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seen.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def tooltip_texts(page: Any) -> list[str]:
    """Hover (mouseover) every area shape in turn and read the tooltip it opens."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('path.geo311-area')).map(path => {
            path.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
            const tips = document.querySelectorAll('.geo311-tooltip');
            const text = tips.length ? tips[tips.length - 1].innerText : '';
            path.dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));
            return text;
        })"""
    )


def manifest(site: Path) -> dict[str, Any]:
    return json.loads((site / "site.json").read_text(encoding="utf-8"))


def visit_all(visit: Callable[..., Visit], paths: Sequence[Path]) -> Iterator[tuple[Path, Visit]]:
    """Visit every page, :data:`AT_ONCE` at a time: each batch loads, then settles once.

    Every page still gets at least :data:`SETTLE_MS` after its load before it
    is handed back (the batch's one wait comes after its last page loaded),
    so the checks see what :func:`visit` one page at a time would show.
    """
    for start in range(0, len(paths), AT_ONCE):
        batch = [(path, visit(path, settle=False)) for path in paths[start : start + AT_ONCE]]
        batch[-1][1].page.wait_for_timeout(SETTLE_MS)
        yield from batch

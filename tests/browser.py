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


@dataclass
class Visit:
    """What one page did in the browser."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def forget(self) -> None:
        """Empty the records, before the tab loads another page."""
        for records in (self.console_errors, self.page_errors, self.dialogs, self.blocked):
            records.clear()


def _block_network(blocked: list[str]) -> Callable[[Any], None]:
    """A route handler: local URLs load, every other request is aborted and added to ``blocked``."""

    def route(handle: Any) -> None:
        url = handle.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            handle.continue_()
        else:
            blocked.append(url)
            handle.abort()

    return route


def offline_context(
    browser: Any, *, width: int = 1280, height: int = 900, javascript: bool = True
) -> Any:
    """A new browser context in which no request leaves the machine.

    Open its pages with :func:`offline_tab`; close it with ``context.close()``.  Pages opened in one context share its
    settings (size, JavaScript) but nothing a test looks at: each records its
    own errors, dialogs and blocked requests.
    """
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": width, "height": height}
    )
    context.route("**/*", _block_network([]))  # what no page claims: popups, workers
    return context


def offline_tab(context: Any) -> Visit:
    """Open a page in ``context`` (:func:`offline_context`); record its errors, dialogs, blocks.

    Navigate it with ``seen.page.goto``; close it with ``seen.page.close()``.
    """
    page = context.new_page()
    seen = Visit(page)

    def on_console(message: Any) -> None:
        if message.type == "error":
            seen.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.route("**/*", _block_network(seen.blocked))  # the page's own requests, frames included
    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    page.on("dialog", on_dialog)
    return seen


def offline_page(
    browser: Any, *, width: int = 1280, height: int = 900, javascript: bool = True
) -> Visit:
    """Open a page in a new :func:`offline_context`; close it with ``seen.page.context.close()``."""
    context = offline_context(browser, width=width, height=height, javascript=javascript)
    return offline_tab(context)


#: True once every image (basemap tiles, an image a payload planted) has loaded or failed
#: -- the error handler of a failed one has run by then -- and a frame has been drawn since.
#: A lazy image out of view has not started loading (nor run any handler): not awaited.
SETTLED = """() => Array.from(document.images).every(
        image => image.complete || image.loading === 'lazy')
    && new Promise(done => requestAnimationFrame(() => done(true)))"""


def settle(seen: Visit) -> None:
    """Wait until the loaded page has settled (:data:`SETTLED`).

    Only with JavaScript on: without it nothing runs after the ``load``
    event, and the wait is itself a script.
    """
    seen.page.wait_for_function(SETTLED)


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


#: Screenshots show the top of a page, at most this many screen heights.
SCREENS_SHOWN = 3


def screenshot(seen: Visit, name: str) -> None:
    """Save the top :data:`SCREENS_SHOWN` screen heights of the page (all of a shorter page).

    The map, its legend and controls, the cards and the charts are at the
    top; below them run the area tables, whose rows come from one template.
    A whole 278-area map page is some 35,000 px tall, and encoding it took
    seconds per screenshot.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = seen.page.evaluate(
        """() => ({width: window.innerWidth, height: window.innerHeight,
                   page: document.documentElement.scrollHeight})"""
    )
    height = min(size["page"], SCREENS_SHOWN * size["height"])
    clip = {"x": 0, "y": 0, "width": size["width"], "height": height}
    seen.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, clip=clip)


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


def one_page_of_each_kind(paths: Sequence[Path], *, per_layer: bool = True) -> list[Path]:
    """One page per template, sorted: the index, a district page, each layer's combined and first map.

    Pages of one kind come from one template and differ only in their
    figures: what a browser test checks of the template (structure, names,
    scripts, the areas drawn) one page of each kind shows.  The demo and the
    hostile sites are still opened page by page (their text is what the
    scripts must survive).  Without ``per_layer``, one combined map and one
    indicator map for all the layers (what an audit of the markup needs).
    """
    kinds: dict[str, Path] = {}
    for path in sorted(paths):
        stem = path.stem
        if stem.startswith("district-"):
            kind = "district"
        elif stem.startswith("map-"):  # map-<layer> (combined) or map-<layer>-<indicator>
            layer, _, indicator = stem.removeprefix("map-").partition("-")
            kind = f"map:{layer if per_layer else ''}:{bool(indicator)}"
        else:
            kind = stem
        kinds.setdefault(kind, path)
    return sorted(kinds.values())


def visit_all(visit: Callable[..., Visit], paths: Sequence[Path]) -> Iterator[tuple[Path, Visit]]:
    """Visit every page in turn in one tab, each loaded and settled (:func:`settle`).

    The records are emptied before each page loads, so each page is handed
    back with what it alone did, as :func:`visit` in a new tab would show;
    one tab saves opening and closing one per page.
    """
    seen: Visit | None = None
    for path in paths:
        if seen is None:
            seen = visit(path)
        else:
            seen.forget()
            seen.page.goto(path.resolve().as_uri(), wait_until="load")
            settle(seen)
        yield path, seen

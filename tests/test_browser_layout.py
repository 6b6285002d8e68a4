"""Layout of the real sites in Chromium: axe-core, a 390 px phone, print, embedding, keyboard.

Two sites, each built once, and every test loops over their pages in one
browser:

* Baltimore, the October 2019 sample selected to the missed-pickup types
  (``--type "mixed refuse" --type recycling``): index, 14 district pages, the
  map pages of neighbourhoods and council districts, and the RecycleStat page;
  basemap tiles on (blocked here, as on an office network); the build
  test_recycle.py checks (conftest's ``missed_pickup_run``);
* Los Angeles, three days of 2020 requests by neighbourhood council (a layer
  other than council districts), no district pages, no tiles.

axe-core is vendored for the tests only (``tests/vendor``). Screenshots go to
``build/screenshots/`` for people to look at.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from browser import (
    axe_violations,
    offline_page,
    one_page_of_each_kind,
    own_errors,
    screenshot,
    settle,
)

pytest.importorskip("folium")

PHONE = 390
#: Printable width of an A4 page with the site's 10 mm side margins, in CSS px.
A4_PRINTABLE_PX = round((210 - 20) / 25.4 * 96)


@pytest.fixture(scope="module")
def sites(
    missed_pickup_run: tuple, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Baltimore: conftest's shared missed-pickup site (test_recycle.py checks its numbers)."""
    import geo311  # noqa: PLC0415

    root = tmp_path_factory.mktemp("layout")
    la = [shared_data / "los_angeles" / "records" / "myla311_2020-01-01_2020-01-03.csv.gz"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        result = geo311.run(la, city="los_angeles", layers=["neighborhood_councils"])
        geo311.write_site(result, root / "la", png=False, tiles=False, district_layer="")
    baltimore, _ = missed_pickup_run
    return {"baltimore": baltimore / "s", "los_angeles": root / "la"}


def _layout_problems(page: Any) -> list[str]:
    """What sticks out of a phone screen: the page, a table outside a scroll box, the map."""
    return page.evaluate(
        """(width) => {
            const out = [];
            const doc = document.documentElement;
            if (doc.scrollWidth > width) { out.push('page is ' + doc.scrollWidth + ' px wide'); }
            for (const table of document.querySelectorAll('main table')) {
                const box = table.closest('.geo311-table-wrap');
                if (!box || getComputedStyle(box).overflowX !== 'auto') {
                    out.push('table ' + (table.id || table.className) + ' has no scroll box');
                } else if (box.getBoundingClientRect().right > width) {
                    out.push('scroll box of ' + (table.id || table.className) + ' is too wide');
                }
            }
            for (const map of document.querySelectorAll('.geo311-map')) {
                const r = map.getBoundingClientRect();
                if (r.width <= 0 || r.height <= 0 || r.left < 0 || r.right > width) {
                    out.push('map ' + r.left + '..' + r.right);
                }
            }
            return out;
        }""",
        PHONE,
    )


def test_every_kind_of_page_passes_axe_and_every_page_fits_a_phone(
    browser: Any, sites: dict[str, Path]
) -> None:
    seen = offline_page(browser, width=PHONE, height=800)
    page = seen.page
    checked = []
    for city, site in sites.items():
        paths = sorted(site.glob("*.html"))
        audited = set(one_page_of_each_kind(paths, per_layer=False))  # a template's markup
        for path in paths:
            page.goto(path.as_uri(), wait_until="load")
            name = f"{city}/{path.name}"
            assert not _layout_problems(page), (name, _layout_problems(page))
            if path in audited:
                assert not axe_violations(page), (name, axe_violations(page))
                checked.append(name)
    assert not seen.page_errors, seen.page_errors
    assert not own_errors(seen), own_errors(seen)
    assert not seen.dialogs
    names = " ".join(checked)
    # every kind of page was checked: index, district, map, combined map, RecycleStat,
    # data dictionary
    for kind in (
        "baltimore/index",
        "baltimore/district-",
        "baltimore/recycle-",
        "baltimore/dictionary",
        "los_angeles/index",
    ):
        assert kind in names, kind
    assert "baltimore/map-council_districts.html" in names
    assert "baltimore/map-council_districts-on_time_share.html" in names
    assert "los_angeles/map-neighborhood_councils.html" in names
    page.goto((sites["baltimore"] / "map-neighborhoods.html").as_uri(), wait_until="load")
    screenshot(seen, "layout-phone-map-neighborhoods")
    page.context.close()


def test_print_keeps_the_map_and_fits_a4_and_letter(browser: Any, sites: dict[str, Path]) -> None:
    seen = offline_page(browser, width=A4_PRINTABLE_PX, height=1000)
    page = seen.page
    for path in (
        sites["baltimore"] / "map-neighborhoods-rate_per_1k.html",
        sites["baltimore"] / "district-1.html",
        sites["los_angeles"] / "map-neighborhood_councils.html",
    ):
        page.goto(path.as_uri(), wait_until="load")
        page.emulate_media(media="print")
        settle(seen)  # the print layout is drawn
        state = page.evaluate(
            """() => {
                const wrap = document.querySelector('.geo311-map-wrap');
                const r = wrap.getBoundingClientRect();
                const shown = sel => Array.from(document.querySelectorAll(sel))
                    .filter(e => getComputedStyle(e).display !== 'none' &&
                                 e.getClientRects().length > 0);
                return {display: getComputedStyle(wrap).display, width: r.width,
                        height: r.height, areas: shown('path.geo311-area').length,
                        legend: shown('.geo311-legend').length,
                        controls: shown('.leaflet-control-zoom, .geo311-switcher, ' +
                                        '.geo311-search, .geo311-embed').length,
                        scroll: document.documentElement.scrollWidth};
            }"""
        )
        assert state["display"] != "none", (path.name, state)
        assert state["width"] > 300, (path.name, state)
        assert 300 < state["height"] < 600, (path.name, state)  # fixed height, fits a page
        assert state["areas"] > 0, (path.name, state)
        assert state["legend"] == 1, (path.name, state)
        assert state["controls"] == 0, (path.name, state)
        assert state["scroll"] <= A4_PRINTABLE_PX, (path.name, state)  # nothing cut at the edge
        if path.name.startswith("district-"):  # a map, cards, charts and tables on paper
            # (the 278-neighbourhood map page takes some 7 s a PDF, the district page 0.5 s)
            for paper in ("A4", "Letter"):
                pdf = page.pdf(format=paper)
                assert pdf.startswith(b"%PDF"), (path.name, paper)
                assert len(pdf) > 10_000, (path.name, paper)
        page.emulate_media(media="screen")
    screenshot(seen, "layout-print-check")
    assert not seen.page_errors, seen.page_errors
    page.context.close()


def test_map_page_gives_an_embed_snippet_that_works_in_an_iframe(
    browser: Any, sites: dict[str, Path], tmp_path: Path
) -> None:
    site = sites["los_angeles"]
    target = site / "map-neighborhood_councils.html"
    source = target.read_text(encoding="utf-8")
    # the snippet is shown as text (escaped), in a labelled read-only text box
    shown = re.search(r'<textarea id="embed-code" readonly[^>]*>(.*?)</textarea>', source, re.S)
    assert shown is not None
    assert '<label for="embed-code">' in source
    assert "<iframe" not in shown.group(1)  # escaped, never a live frame on the page
    snippet = html.unescape(shown.group(1))
    assert snippet.startswith('<iframe src="map-neighborhood_councils.html#map" title="')
    # a page elsewhere that pastes the snippet, resolving it against the site's folder
    host = tmp_path / "host.html"
    host.write_text(
        f'<!DOCTYPE html><html lang="en"><head><base href="{site.as_uri()}/">'
        f"<title>Host</title></head><body><h1>Host page</h1>{snippet}</body></html>",
        encoding="utf-8",
    )
    seen = offline_page(browser)
    page = seen.page
    page.goto(host.as_uri(), wait_until="load")
    frame = page.frame_locator("iframe")
    frame.locator("path.geo311-area").first.wait_for()
    assert frame.locator("path.geo311-area").count() == 99
    assert frame.locator(".geo311-legend").first.is_visible()
    assert page.locator("iframe").get_attribute("title")
    assert not seen.page_errors, seen.page_errors
    assert not own_errors(seen), own_errors(seen)
    screenshot(seen, "layout-embedded-map")
    page.context.close()


def _visible_legend(page: Any) -> str:
    texts = page.evaluate(
        """() => Array.from(document.querySelectorAll('.geo311-legend'))
            .filter(e => e.offsetParent !== null).map(e => e.innerText)"""
    )
    assert len(texts) == 1, texts
    return texts[0]


def _tab_to(page: Any, selector: str, *, presses: int = 15) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    pytest.fail(f"Tab never reached {selector}")


def test_layer_switcher_works_by_keyboard(browser: Any, sites: dict[str, Path]) -> None:
    seen = offline_page(browser)
    page = seen.page
    for path in (
        sites["baltimore"] / "map-neighborhoods.html",
        sites["los_angeles"] / "map-neighborhood_councils.html",
    ):
        page.goto(path.as_uri(), wait_until="load")
        page.locator("path.geo311-area").first.wait_for()
        radios = page.locator(".geo311-switcher input[type=radio]")
        names = [
            page.locator(f"label[for='{radios.nth(i).get_attribute('id')}']").inner_text()
            for i in range(radios.count())
        ]
        assert len(names) >= 2, (path.name, names)
        first = _visible_legend(page)
        page.locator(".geo311-search input").focus()
        _tab_to(page, ".geo311-switcher input[type=radio]")
        assert page.evaluate("document.activeElement.checked")
        shown = [first]
        for _ in range(len(names) - 1):
            page.keyboard.press("ArrowDown")
            shown.append(_visible_legend(page))
        checked = page.evaluate("document.activeElement.id")
        assert checked == radios.nth(len(names) - 1).get_attribute("id")
        # each indicator brought its own legend, titled by the indicator
        assert len(set(shown)) == len(names), shown
        for name, legend in zip(names, shown, strict=True):
            assert legend.startswith(name), (name, legend)
        assert not axe_violations(page), (path.name, axe_violations(page))  # switcher open
    # Baltimore's council outlines: a checkbox, toggled with Space
    page.goto((sites["baltimore"] / "map-neighborhoods.html").as_uri(), wait_until="load")
    page.locator("path.geo311-area").first.wait_for()
    assert page.locator("path.geo311-outline").count() == 14
    page.locator(".geo311-switcher input[type=radio]").nth(1).check()
    top = "document.querySelector('.leaflet-overlay-pane svg g').lastElementChild.classList"
    assert page.evaluate(f"{top}.contains('geo311-outline')")  # drawn over the new indicator
    page.locator(".geo311-search input").focus()
    _tab_to(page, ".geo311-switcher input[type=checkbox]")
    page.keyboard.press("Space")
    assert page.locator("path.geo311-outline").count() == 0
    page.wait_for_function("() => !document.querySelector('.geo311-outline-label')")  # faded
    page.keyboard.press("Space")
    assert page.locator("path.geo311-outline").count() == 14
    assert not seen.page_errors, seen.page_errors
    assert not own_errors(seen), own_errors(seen)
    screenshot(seen, "layout-switcher")
    page.context.close()


def _label_boxes(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
            const frame = document.querySelector('.geo311-map').getBoundingClientRect();
            const labels = Array.from(document.querySelectorAll('.geo311-outline-label'));
            const shown = labels.filter(e => getComputedStyle(e).visibility !== 'hidden');
            const boxes = shown.map(e => {
                const r = e.getBoundingClientRect();
                return {name: e.innerText, left: r.left, right: r.right, top: r.top,
                        bottom: r.bottom};
            });
            return {all: labels.length, boxes: boxes,
                    frame: {left: frame.left, right: frame.right, top: frame.top,
                            bottom: frame.bottom}};
        }"""
    )


def _overlaps(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a["name"], b["name"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    ]


#: Sets ``window.geo311TestZoomed`` once the page's Leaflet map (a folium global) ends a zoom.
_ZOOMEND_FLAG = """() => {
    const map = Object.values(window).find(v => v instanceof L.Map);
    window.geo311TestZoomed = false;
    map.once('zoomend', () => { window.geo311TestZoomed = true; });
}"""


def test_area_labels_never_overlap(browser: Any, sites: dict[str, Path]) -> None:
    path = sites["baltimore"] / "map-neighborhoods-rate_per_1k.html"
    counts = {}
    for width in (1280, PHONE):
        seen = offline_page(browser, width=width, height=900)
        page = seen.page
        page.goto(path.as_uri(), wait_until="load")
        page.locator("path.geo311-area").first.wait_for()
        for zoom in ("out", "in"):
            if zoom == "in":
                # the labels are sorted again on the map's zoomend, when the animation has
                # ended; the animation starts a frame after the click, so waiting for its
                # CSS class to go could pass before it came
                page.evaluate(_ZOOMEND_FLAG)
                page.locator(".leaflet-control-zoom-in").click()
                page.wait_for_function("() => window.geo311TestZoomed === true")
            state = _label_boxes(page)
            assert state["all"] == 14
            assert not _overlaps(state["boxes"]), (width, zoom, _overlaps(state["boxes"]))
            frame = state["frame"]
            for box in state["boxes"]:
                assert frame["left"] <= box["left"] and box["right"] <= frame["right"], box
                assert frame["top"] <= box["top"] and box["bottom"] <= frame["bottom"], box
            counts[width, zoom] = len(state["boxes"])
        screenshot(seen, f"layout-labels-{width}")
        page.context.close()
    assert counts[1280, "out"] >= 7, counts  # most district names are written
    assert all(n >= 1 for n in counts.values()), counts

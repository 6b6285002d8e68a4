"""The generated site in a real browser: Debian's chromium, driven by Playwright, offline.

Every request that is not a local file is blocked (the basemap tiles are the
only thing a page asks the network for), exactly as on a council office
network that blocks CDNs.  The site is built from the synthetic demo city
with hostile area and service-type names; a payload that ran would open a
dialog, which every test listens for.  Screenshots go to ``build/screenshots/``
(git-ignored) for people to look at.

Locally the tests skip when chromium is not installed; in CI (``CI`` set)
a missing browser is a failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from browser import manifest, own_errors, screenshot, settle, tooltip_texts, visit_all

from geo311.demo import demo_layers, demo_tables, make_demo_city
from geo311.indicators.tables import write_tables
from geo311.io.readers import requests_from_frame
from geo311.join.assign import assign_areas

pytest.importorskip("folium")

PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "`${alert(1)}`",
    "</script><script>alert(1)</script>",
    "\"'><svg onload=alert(1)>",
)


def hostile_indicators(root: Path) -> Path:
    """Write the demo city's indicator folder with hostile names planted in it."""
    city = make_demo_city(n_requests=6_000)
    requests, _ = requests_from_frame(
        city.requests, schema="open311", timezone=city.timezone, as_of=city.as_of
    )
    layers = demo_layers(city)
    joined, _ = assign_areas(requests, layers)
    # a hostile service type: the most requested one gets a payload as its name
    top = joined["service_name"].value_counts().index[0]
    joined["service_name"] = joined["service_name"].astype(object).replace({top: PAYLOADS[2]})
    tables = demo_tables(city, joined, layers, keys=("neighborhoods", "council_districts"))
    for key, built in tables.items():
        ids = list(built.indicators.index[: len(PAYLOADS)])
        names = dict(zip(ids, PAYLOADS, strict=True))
        indicators = built.indicators.copy()
        indicators["area_name"] = indicators["area_name"].astype(object)
        indicators.loc[ids, "area_name"] = [names[i] for i in ids]
        areas = built.areas.copy()
        areas["area_name"] = areas["area_name"].astype(object)
        hit = areas["area_id"].isin(ids)
        areas.loc[hit, "area_name"] = areas.loc[hit, "area_id"].map(names)
        tables[key] = built._replace(indicators=indicators, areas=areas)
    out = root / "indicators"
    write_tables(tables, out)
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geo311.io.tables import read_tables  # noqa: PLC0415
    from geo311.site.build import build_site  # noqa: PLC0415

    root = tmp_path_factory.mktemp("browser")
    indicators = hostile_indicators(root)
    # tiles on: the browser blocks them
    build_site(
        read_tables(indicators), root / "site", district_layer="council_districts", png=False
    )
    return root / "site"


def test_every_page_loads_offline_without_errors_or_dialogs(site: Path, visit: Any) -> None:
    pages = sorted(site.glob("*.html"))
    assert len(pages) >= 1 + 14  # the index and one page per district at least
    hostile_service_shown = 0
    for path, seen in visit_all(visit, pages):
        if path.name.startswith("district-"):
            # the hostile service type is listed, as text, where it is among the top ten
            hostile_service_shown += PAYLOADS[2] in seen.page.locator("main").inner_text()
        assert not seen.dialogs, f"{path.name}: a payload ran: {seen.dialogs}"
        assert not seen.page_errors, f"{path.name}: {seen.page_errors}"
        assert not own_errors(seen), f"{path.name}: {own_errors(seen)}"
        external = [u for u in seen.blocked if "tile" not in u and "basemaps" not in u]
        assert not external, f"{path.name} asked the network for more than tiles: {external}"
        assert seen.page.locator("h1").count() == 1
        assert seen.page.evaluate("document.documentElement.lang") == "en"
        repeated = seen.page.evaluate(
            """() => {
                const ids = Array.from(document.querySelectorAll('[id]'), e => e.id);
                return ids.filter((id, i) => ids.indexOf(id) !== i);
            }"""
        )
        assert not repeated, f"{path.name}: repeated element ids {repeated}"
    assert hostile_service_shown >= 1


def test_neighbourhood_map_draws_every_area_with_legend_and_escaped_tooltips(
    site: Path, visit: Any
) -> None:
    table = pd.read_csv(site.parent / "indicators" / "neighborhoods.csv", dtype={"area_id": str})
    page_path = site / "map-neighborhoods-rate_per_1k.html"
    seen = visit(page_path)
    page = seen.page
    page.wait_for_selector("path.geo311-area")
    assert page.locator("path.geo311-area").count() == len(table)
    legend = page.locator(".geo311-legend").first
    assert legend.is_visible()
    assert "1,000" in legend.inner_text()  # the unit is stated
    assert (
        page.locator("path.geo311-outline").count() + page.locator(".geo311-outline").count() > 0
    )
    texts = tooltip_texts(page)
    assert len(texts) == len(table)
    assert all("Requests per 1,000 residents" in text for text in texts)
    for payload in PAYLOADS:
        assert any(payload in text for text in texts), (payload, texts)
    assert not seen.dialogs
    screenshot(seen, "map-neighborhoods-rate_per_1k")


def test_insufficient_areas_are_grey_hatched_not_black(site: Path, visit: Any) -> None:
    seen = visit(site / "map-neighborhoods-rate_per_1k.html")
    fills = seen.page.eval_on_selector_all(
        "path.geo311-area", "paths => paths.map(p => p.getAttribute('fill'))"
    )
    assert fills
    assert not [f for f in fills if f and f.lower() in {"#000", "#000000", "black"}]


def test_district_page_has_map_cards_charts_and_sortable_table(site: Path, visit: Any) -> None:
    district = sorted(site.glob("district-*.html"))[0]
    seen = visit(district)
    page = seen.page
    page.wait_for_selector("path.geo311-area")
    assert page.locator("path.geo311-area").count() >= 1
    assert page.locator(".geo311-card").count() >= 4
    charts = page.locator("figure.geo311-chart svg")
    assert charts.count() >= 3
    for i in range(charts.count()):
        assert charts.nth(i).get_attribute("role") == "img"
    assert page.locator("table#ranking-table.geo311-sortable").count() == 1
    table = page.locator("table#areas-table.geo311-sortable")
    rows = table.locator("tbody tr")
    assert rows.count() >= 1
    button = table.locator("th button").first
    button.click()
    header = table.locator("th").first
    assert header.get_attribute("aria-sort") in {"ascending", "descending"}
    first_column = [rows.nth(i).locator("th, td").first.inner_text() for i in range(rows.count())]
    assert first_column in (sorted(first_column), sorted(first_column, reverse=True))
    button.press("Enter")  # keyboard works too: the order flips
    again = [rows.nth(i).locator("th, td").first.inner_text() for i in range(rows.count())]
    assert again == first_column[::-1] or rows.count() == 1
    assert not seen.dialogs
    screenshot(seen, district.stem)


def test_district_page_reads_without_javascript(site: Path, visit: Any) -> None:
    district = sorted(site.glob("district-*.html"))[0]
    seen = visit(district, javascript=False)
    page = seen.page
    assert page.locator("figure.geo311-chart svg").first.is_visible()
    assert page.locator("table.geo311-sortable tbody tr").count() >= 1
    assert page.locator(".geo311-card").first.is_visible()
    screenshot(seen, f"{district.stem}-no-javascript")


def test_index_links_resolve(site: Path, visit: Any) -> None:
    seen = visit(site / "index.html")
    hrefs = seen.page.eval_on_selector_all(
        "a[href]", "links => links.map(a => a.getAttribute('href'))"
    )
    local = [h for h in hrefs if not h.startswith(("#", "http:", "https:", "mailto:"))]
    assert local
    for href in local:
        assert (site / href.split("#")[0]).is_file(), href
    screenshot(seen, "index")
    assert manifest(site)


def test_combined_map_switches_indicator_and_legend(site: Path, visit: Any) -> None:
    seen = visit(site / "map-neighborhoods.html")
    page = seen.page
    page.wait_for_selector("path.geo311-area")
    radios = page.locator(".geo311-switcher input[type=radio]")
    assert radios.count() >= 4  # the four indicators
    assert page.locator(".geo311-switcher input[type=checkbox]").count() == 1  # outlines
    legends = page.locator(".geo311-legend")
    shown = [
        legends.nth(i).inner_text() for i in range(legends.count()) if legends.nth(i).is_visible()
    ]
    assert len(shown) == 1
    assert "1,000 residents" in shown[0]
    labels = page.locator(".geo311-switcher label")
    days = next(i for i in range(labels.count()) if "close" in labels.nth(i).inner_text().lower())
    labels.nth(days).click()
    settle(seen)  # the switch is drawn
    shown = [
        legends.nth(i).inner_text() for i in range(legends.count()) if legends.nth(i).is_visible()
    ]
    assert len(shown) == 1
    assert "days" in shown[0], shown
    assert not seen.dialogs
    assert not own_errors(seen)
    screenshot(seen, "map-neighborhoods-combined")


def test_legend_stays_inside_its_box_on_a_phone(site: Path, visit: Any) -> None:
    seen = visit(site / "map-neighborhoods.html")
    page = seen.page
    page.set_viewport_size({"width": 390, "height": 700})
    settle(seen)  # the resized page is drawn
    boxes = page.evaluate(
        """() => Array.from(document.querySelectorAll('.geo311-legend'))
            .filter(el => el.offsetParent !== null).map(el => {
                const r = el.getBoundingClientRect();
                return {scroll: el.scrollWidth, client: el.clientWidth, left: r.left,
                        right: r.right, height: r.height, tab: el.tabIndex,
                        vw: window.innerWidth, vh: window.innerHeight};
            })"""
    )
    assert boxes
    for box in boxes:
        assert box["scroll"] <= box["client"] + 1, box  # text wraps, nothing sticks out
        assert box["left"] >= 0, box
        assert box["right"] <= box["vw"], box
        assert box["height"] <= 0.45 * box["vh"] + 1, box  # a taller legend scrolls
        assert box["tab"] == 0, box  # a scrolling region is reachable by keyboard
    assert not own_errors(seen)
    screenshot(seen, "map-neighborhoods-phone")

"""The site built from the real Baltimore samples, in a real browser, offline.

Split from ``test_browser.py`` (the synthetic demo site) so that the two run
on different workers; the helpers are in ``tests/browser.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import one_page_of_each_kind, own_errors, screenshot, tooltip_texts, visit_all

pytest.importorskip("folium")


@pytest.fixture(scope="module")
def baltimore_site(baltimore_run: tuple) -> Path:
    """The real Baltimore samples through `geo311 run` (basemap tiles on, blocked here)."""
    _, _, root = baltimore_run
    return root / "site"


def test_real_baltimore_site_renders_offline(baltimore_site: Path, visit: Any) -> None:
    expected = {"neighborhoods": 278, "council_districts": 14, "census_tracts": 199}
    pages = sorted(baltimore_site.glob("*.html"))
    assert len([p for p in pages if p.name.startswith("district-")]) == 14
    # one page of each template: the demo site's test opens every page
    opened = one_page_of_each_kind(pages)
    assert {"index.html", "district-1.html", "map-neighborhoods-on_time_share.html"} <= {
        p.name for p in opened
    }
    assert {p.name for p in opened if p.name.startswith("map-")} >= {
        f"map-{layer}.html" for layer in expected
    }
    for path, seen in visit_all(visit, opened):
        assert not seen.dialogs, path.name
        assert not seen.page_errors, f"{path.name}: {seen.page_errors}"
        assert not own_errors(seen), f"{path.name}: {own_errors(seen)}"
        layer = next((k for k in expected if path.name.startswith(f"map-{k}")), None)
        if layer is not None:
            assert seen.page.locator("path.geo311-area").count() == expected[layer], path.name
            assert seen.page.locator(".geo311-legend").first.is_visible()
        if path.name.startswith("district-"):
            assert seen.page.locator("path.geo311-area").count() >= 1
            assert seen.page.locator("figure.geo311-chart svg").count() >= 3
        if path.name in {"map-neighborhoods-rate_per_1k.html", "district-1.html", "index.html"}:
            screenshot(seen, f"baltimore-{path.stem}")


@pytest.fixture(scope="module")
def october_site(october_run: tuple) -> Path:
    """The Baltimore October 2019 sample alone: 11 of 14 district medians not reached.

    conftest's shared build, which test_site_states.py reads as text.
    """
    _, site = october_run
    return site


def test_not_reached_districts_are_hatched_apart_from_missing_data(
    october_site: Path, visit: Any
) -> None:
    seen = visit(october_site / "map-council_districts-ttc_median_days.html")
    page = seen.page
    page.wait_for_selector("path.geo311-area")
    fills = page.evaluate(
        """() => Array.from(document.querySelectorAll('path.geo311-area')).map(
            p => [p.getAttribute('class'), p.getAttribute('fill')])"""
    )
    hatched = [fill for cls, fill in fills if "geo311-not_reached" in cls]
    assert len(hatched) == 11
    assert all(fill.startswith("url(#") and "hatch-not-reached" in fill for fill in hatched)
    assert not any("geo311-insufficient" in cls for cls, _ in fills)
    tips = [t for t in tooltip_texts(page) if "Data quality\nnot reached" in t]
    assert len(tips) == 11
    assert all("Median time to close\nover 2.8 days (not reached)" in t for t in tips)
    legend = page.locator(".geo311-legend-not-reached")
    assert legend.is_visible()
    assert "over 2.8 days" in legend.inner_text()
    assert not own_errors(seen)
    screenshot(seen, "october-not-reached")

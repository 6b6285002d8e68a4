"""Hostile text in every input the site shows: it must be shown as text, never run.

The whole site of the synthetic demo city is built from tables in memory in
which area names and ids, service types, layer titles, vintages, sources,
the area label format and the site title are drawn from a corpus of payloads:
HTML tags, an attribute break, JavaScript string and template literal breaks,
Jinja template code (one that would create a canary file if it ran),
``javascript:`` URLs and Unicode line separators. The site must build; no
code may run (the canary is never created, ``{{7*4407}}`` never becomes
30849); every payload must appear literally in the pages' text; and headless
Chromium must open every page without a dialog or a page error.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geo311.demo import demo_layers, demo_tables, make_demo_city
from geo311.indicators.tables import LayerTables
from geo311.io.readers import requests_from_frame
from geo311.join.assign import assign_areas
from geo311.site.build import SiteResult, build_site

pytest.importorskip("folium")

LAYERS = ("neighborhoods", "council_districts")


def corpus(canary: Path) -> list[str]:
    """The payloads; the first would create ``canary`` if it ran as Jinja code."""
    return [
        f"{{{{ lipsum.__globals__.os.popen('touch {canary}').read() }}}}",
        "{{7*4407}}",
        "{{'x'|upper}}",
        "{% raw %}",
        "{%- for x in range(3) %}loop{% endfor %}",
        "<img src=x onerror=alert(1)>",
        '"><img src=x onerror=alert(1)>',
        "';alert(1)//",
        "${alert(1)}",
        "`${alert(1)}`",
        "</script><script>alert(1)</script>",
        "javascript:alert(1)",
        "line\u2028separator\u2029paragraph",
    ]


class _Text(HTMLParser):
    """The text of a page outside <script> and <style>, character references decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        for name, value in attrs:
            # no attribute may carry a URL or handler that runs
            assert not name.startswith("on"), (tag, name, value)
            if name in {"href", "src"} and value:
                assert not value.strip().lower().startswith("javascript:"), (tag, value)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(text: str) -> str:
    parser = _Text()
    parser.feed(text)
    return "".join(parser.parts)


def data_blocks(text: str) -> list[Any]:
    """The JSON data blocks of a page (parsed, as the page's script parses them)."""
    found = re.findall(r'<script type="application/json" id="[^"]*">(.*?)</script>', text, re.S)
    return [json.loads(block) for block in found]


def _rename_ids(tables: LayerTables, ids: dict[str, str]) -> LayerTables:
    def frame(df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        out.index = pd.Index([ids.get(str(i), str(i)) for i in out.index], name=df.index.name)
        return out

    areas = tables.areas.copy()
    areas["area_id"] = [ids.get(str(i), str(i)) for i in areas["area_id"]]
    return tables._replace(
        indicators=frame(tables.indicators),
        patterns=frame(tables.patterns),
        services=frame(tables.services),
        channels=frame(tables.channels),
        areas=areas,
    )


def hostile_tables(payloads: list[str]) -> dict[str, LayerTables]:
    """The demo city's tables with the payloads planted in every text the site shows."""
    city = make_demo_city(n_requests=3_000)
    requests, _ = requests_from_frame(
        city.requests, schema="open311", timezone=city.timezone, as_of=city.as_of
    )
    layers = demo_layers(city)
    joined, _ = assign_areas(requests, layers)
    top = joined["service_name"].value_counts().index[:4]
    hostile_services = {name: payloads[i] for i, name in enumerate(top)}
    joined["service_name"] = joined["service_name"].astype(object).replace(hostile_services)
    tables = demo_tables(city, joined, layers, keys=LAYERS)
    out = {}
    for n, (key, built) in enumerate(tables.items()):
        ids = [str(i) for i in built.indicators.index]
        names = {i: payloads[j % len(payloads)] for j, i in enumerate(ids[: len(payloads)])}
        indicators = built.indicators.copy()
        indicators["area_name"] = [
            names.get(i, old) for i, old in zip(ids, indicators["area_name"], strict=True)
        ]
        areas = built.areas.copy()
        areas["area_name"] = [
            names.get(str(i), old)
            for i, old in zip(areas["area_id"], areas["area_name"], strict=True)
        ]
        metadata = json.loads(json.dumps(built.metadata))
        metadata["vintage"] = payloads[(n + 5) % len(payloads)]
        metadata["layer_source"] = payloads[(n + 6) % len(payloads)]
        metadata.setdefault("denominators", {})["source"] = payloads[(n + 7) % len(payloads)]
        changed = built._replace(indicators=indicators, areas=areas, metadata=metadata)
        # district ids become file names, attributes and label text: make two hostile
        hostile_ids = {ids[-1]: payloads[1], ids[-2]: payloads[0]}
        out[key] = _rename_ids(changed, hostile_ids if key == "council_districts" else {})
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[SiteResult, list[str], Path]:
    root = tmp_path_factory.mktemp("adversarial")
    canary = root / "CANARY"
    payloads = corpus(canary)
    site = build_site(
        hostile_tables(payloads),
        root / "site",
        district_layer="council_districts",
        titles={"neighborhoods": payloads[2], "council_districts": payloads[1]},
        area_labels={"council_districts": "District {id}: {name} {{7*4407}}"},
        title=payloads[3],
        png=False,
        tiles=False,
    )
    return site, payloads, canary


def test_no_code_runs_and_nothing_is_evaluated(hostile) -> None:
    site, _, canary = hostile
    assert not canary.exists()
    assert not list(canary.parent.glob("CANARY*"))
    files = [p for p in site.out_dir.rglob("*") if p.is_file()]
    assert len(site.pages) == 1 + 1 + 8 + 2 + 14  # index, dictionary, maps, districts
    for path in files:
        if path.suffix == ".xlsx":  # a zip of XML parts: look inside every part
            with zipfile.ZipFile(path) as book:
                texts = [book.read(part).decode("utf-8") for part in book.namelist()]
        else:
            texts = [path.read_text(encoding="utf-8")]
        assert not any("30849" in text for text in texts), path.name
    # no file name carries markup or template code
    assert all(re.fullmatch(r"[a-z0-9_.-]+", p.name) for p in files)


def test_every_payload_is_shown_literally(hostile) -> None:
    site, payloads, _ = hostile
    texts = {p.name: p.read_text(encoding="utf-8") for p in site.pages}
    shown = "\n".join(page_text(t) for t in texts.values())
    embedded = json.dumps([data_blocks(t) for t in texts.values()], ensure_ascii=False)
    for payload in payloads:
        assert payload in shown, payload
        # the raw payload never stands in the HTML source: only escaped forms do
        for name, text in texts.items():
            if any(c in payload for c in "<>\"'`&"):
                assert payload not in text, (name, payload)
    # the neighbourhoods are named after every payload: their names reach the maps' data
    for payload in payloads:
        assert payload in embedded, payload
    # the label format's own braces are literal text, and the ids and names fill it
    district_pages = [t for n, t in texts.items() if n.startswith("district-")]
    headings = [html.unescape(re.search(r"<h1>(.*?)</h1>", t, re.S)[1]) for t in district_pages]
    assert f"District {payloads[1]}: " in "\n".join(headings)
    assert all(h.startswith("District ") and h.endswith(" {7*4407}") for h in headings)
    # the hostile service types are in the district pages' charts, as text
    charts = "\n".join(page_text(t.split('id="chart-services"')[1]) for t in district_pages)
    assert any(p in charts for p in payloads[:4])


def test_chromium_opens_every_page_without_dialog_or_error(hostile) -> None:
    site, payloads, canary = hostile
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from browser import CHROMIUM_ARGS  # noqa: PLC0415 - tests/ is on sys.path (conftest)

    dialogs: list[str] = []
    errors: list[str] = []
    inner = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(handle: Any) -> None:
            url = handle.request.url
            if url.startswith(("file:", "data:", "blob:", "about:")):
                handle.continue_()
            else:
                handle.abort()

        context.route("**/*", route)
        page = context.new_page()  # one tab loads every page in turn
        shown = {"name": ""}  # the page the tab shows, for the error messages
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: errors.append(f"{shown['name']}: {e}"))
        for path in site.pages:
            shown["name"] = path.name
            page.goto(path.resolve().as_uri(), wait_until="load")
            # open every area's tooltip: names go through the tooltip code too
            page.evaluate(
                """() => document.querySelectorAll('path.geo311-area').forEach(p => {
                    p.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
                    p.dispatchEvent(new MouseEvent('mouseout', {bubbles: true}));
                })"""
            )
            page.wait_for_timeout(100)
            inner.append(page.evaluate("() => document.body.innerText"))
        browser.close()
    assert not dialogs, dialogs
    assert not errors, errors
    assert not canary.exists()
    text = "\n".join(inner)
    assert "30849" not in text
    for payload in payloads:
        # innerText turns the line separators into line breaks; compare without them
        assert _lines(payload) in _lines(text), payload


def _lines(text: str) -> str:
    """Text with U+2028/U+2029 as plain line breaks (innerText may give either)."""
    return re.sub("[\u2028\u2029]", "\n", text)

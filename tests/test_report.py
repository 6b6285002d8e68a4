"""The static site (geo311.site.build): pages, links, membership, cards, escaping, budgets.

The site is built once per module from a small demo indicators folder (4,000
synthetic requests), once more from a hostile copy of it (area and service
names that try to break out of HTML, attributes, scripts and JS templates),
and from a hand-made tiny layout (2 districts x 4 square neighbourhoods, one
straddling the border) whose membership is known by construction.
"""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import markupsafe
import pandas as pd
import pytest
from shapely import box

from geo311._errors import InputFileError, OptionError, OutputExistsError, SchemaError
from geo311.catalogue import plain_indicators
from geo311.demo import demo_layers, demo_tables, make_demo_city
from geo311.indicators.tables import write_tables
from geo311.io.readers import requests_from_frame
from geo311.io.tables import read_tables
from geo311.io.writers import write_csv
from geo311.join.assign import assign_areas
from geo311.site import maps
from geo311.site.build import SiteResult, build_site
from geo311.site.elements import runtime_js
from geo311.site.headlines import HEADLINE_INDICATORS
from geo311.site.layer import SiteLayer, default_title, site_layer
from geo311.site.map_page import DISPARITY_TITLE
from geo311.site.membership import district_membership
from geo311.site.methods import dictionary_table
from geo311.site.text import slugify

PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "`${alert(1)}`",
    "</script><script>alert(1)</script>",
    "\"'><svg onload=alert(1)>",
)
LAYERS = ("neighborhoods", "council_districts")
MB = 1_000_000


# --------------------------------------------------------------------------- helpers


def site_of(folder: Path, out: Path, **options) -> SiteResult:
    """Build the site of an indicators folder, the council districts with one page each."""
    options.setdefault("district_layer", "council_districts")
    return build_site(read_tables(folder), out, **options)


def layer_of(folder: Path, key: str) -> SiteLayer:
    """One layer of an indicators folder, as the site reads it."""
    return site_layer(key, read_tables(folder, layers=[key])[key], title=default_title(key))


class _Page(HTMLParser):
    """Collect the tags of a page (attributes, nesting of headings), outside <script> text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[int] = []
        self.text: list[str] = []
        self._in_script = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag in {"script", "style"}:
            self._in_script += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._in_script -= 1

    def handle_data(self, data: str) -> None:
        if not self._in_script:
            self.text.append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(v in (a.get(k) or "").split() for k, v in attrs.items())
        ]


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _escaped(text: str) -> str:
    """The text as the site writes it into HTML (geo311.site.maps.escape_html: autoescape + backtick)."""
    return maps.escape_html(text)


def _table_rows(html: str, table_id: str) -> list[str]:
    """The data-area-id of every body row of one table."""
    start = html.index(f'id="{table_id}"')
    body = html[start : html.index("</table>", start)]
    return re.findall(r'<tr data-area-id="([^"]*)"', body)


def _demo_folder(root: Path, n_requests: int = 4_000) -> tuple[Path, Path]:
    city = make_demo_city(n_requests=n_requests)
    requests, ledger = requests_from_frame(
        city.requests, schema="open311", timezone=city.timezone, as_of=city.as_of
    )
    layers = demo_layers(city)
    joined, join_ledger = assign_areas(requests, layers)
    tables = demo_tables(city, joined, layers, keys=LAYERS)
    folder = root / "indicators"
    write_tables(tables, folder)
    ledger_path = ledger.extend(join_ledger).write_json(root / "requests.ledger.json")
    return folder, Path(ledger_path)


def _rewrite_csv(path: Path, change) -> None:
    frame = pd.read_csv(path, dtype={"area_id": str}, keep_default_na=False, na_values=[""])
    for column in ("area_id", "area_name", "service_type"):
        if column in frame:  # undo the formula guard so write_csv applies it once
            frame[column] = (
                frame[column].astype("string").str.replace(r"^'(?=[=+\-@])", "", regex=True)
            )
    write_csv(change(frame), path, index=False)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _demo_folder(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def site(demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    folder, ledger = demo
    out = tmp_path_factory.mktemp("site")
    return site_of(folder, out, ledger=ledger, title="Demo city 311")


@pytest.fixture(scope="module")
def hostile(demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """A copy of the demo folder with hostile area names, a hostile district id and service types."""
    folder, _ = demo
    root = tmp_path_factory.mktemp("hostile")
    bad = root / "indicators"
    shutil.copytree(folder, bad)
    hoods = layer_of(folder, "neighborhoods").indicators.index[:4].tolist()
    districts = layer_of(folder, "council_districts").indicators.index[:4].tolist()
    names = {
        "neighborhoods": dict(zip(hoods, PAYLOADS, strict=True)),
        "council_districts": dict(zip(districts, PAYLOADS, strict=True)),
    }
    # one district id is hostile too: it becomes a file name and an attribute value
    new_id = {districts[3]: PAYLOADS[3]}
    for key in LAYERS:
        ids = new_id if key == "council_districts" else {}

        def rename(frame: pd.DataFrame, key: str = key, ids: dict = ids) -> pd.DataFrame:
            out = frame.copy()
            if "area_name" in out:
                out["area_name"] = [
                    names[key].get(i, n)
                    for i, n in zip(out["area_id"], out["area_name"], strict=True)
                ]
            out["area_id"] = out["area_id"].replace(ids)
            return out

        def services(frame: pd.DataFrame, key: str = key, ids: dict = ids) -> pd.DataFrame:
            out = frame.copy()
            top = out["service_type"].value_counts().index[: len(PAYLOADS)]
            out["service_type"] = out["service_type"].replace(
                dict(zip(top, PAYLOADS, strict=True))
            )
            out["area_id"] = out["area_id"].replace(ids)
            return out

        for suffix in (".csv", ".patterns.csv", ".city.csv"):
            _rewrite_csv(bad / f"{key}{suffix}", rename)
        _rewrite_csv(bad / f"{key}.services.csv", services)
        outlines = gpd.read_file(bad / f"{key}.geojson")
        outlines["area_name"] = [
            names[key].get(i, n)
            for i, n in zip(outlines["area_id"], outlines["area_name"], strict=True)
        ]
        outlines["area_id"] = outlines["area_id"].replace(ids)
        (bad / f"{key}.geojson").unlink()
        outlines.to_file(bad / f"{key}.geojson", driver="GeoJSON")
        meta = json.loads((bad / f"{key}.json").read_text(encoding="utf-8"))
        meta["layer_source"] = PAYLOADS[2]
        meta["denominators"]["source"] = PAYLOADS[0]
        (bad / f"{key}.json").write_text(json.dumps(meta), encoding="utf-8")
    return site_of(bad, root / "site", png=False, tiles=False)


def _tiny_folder(
    demo_folder: Path,
    root: Path,
    *,
    rename: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """2 districts (west, east) x 4 neighbourhood squares; n3 straddles the border (30% west).

    ``rename`` gives areas other ids (e.g. numbers shared by both layers); ``drop``
    leaves neighbourhoods out.
    """
    rename = rename or {}
    folder = root / "indicators"
    folder.mkdir()
    crs = "EPSG:32618"  # metres: areas in the UTM zone are exact
    x0, y0 = 350_000, 4_300_000
    district_geoms = {
        "W": box(x0, y0, x0 + 2000, y0 + 2000),
        "E": box(x0 + 2000, y0, x0 + 4000, y0 + 2000),
    }
    hood_geoms = {
        "n1": box(x0, y0, x0 + 1000, y0 + 1000),
        "n2": box(x0 + 1000, y0 + 1000, x0 + 1700, y0 + 2000),
        "n3": box(x0 + 1700, y0, x0 + 2700, y0 + 1000),  # 300 m of 1000 m in W
        "n4": box(x0 + 3000, y0 + 1000, x0 + 4000, y0 + 2000),
    }
    hood_geoms = {k: v for k, v in hood_geoms.items() if k not in drop}
    for key, by_id in (("council_districts", district_geoms), ("neighborhoods", hood_geoms)):
        geoms = {rename.get(k, k): v for k, v in by_id.items()}
        src = layer_of(demo_folder, key)
        ids = list(geoms)
        old = src.indicators.index[: len(ids)].tolist()
        mapping = dict(zip(old, ids, strict=True))
        table = src.indicators.loc[old].rename(index=mapping)
        table["area_name"] = [f"Area {i}" for i in ids]
        table.index.name = "area_id"
        write_csv(table, folder / f"{key}.csv")
        write_csv(src.city.to_frame().T.rename_axis("area_id"), folder / f"{key}.city.csv")
        write_csv(pd.DataFrame({"area_id": []}), folder / f"{key}.channels.csv", index=False)
        for kind, frame in (("patterns", src.patterns), ("services", src.services)):
            keep = frame[frame["area_id"].isin([*old, "city"])].copy()
            keep["area_id"] = keep["area_id"].replace(mapping)
            write_csv(keep, folder / f"{key}.{kind}.csv", index=False)
        meta = dict(src.metadata)
        (folder / f"{key}.json").write_text(json.dumps(meta), encoding="utf-8")
        gpd.GeoDataFrame(
            {"area_id": ids, "area_name": [f"Area {i}" for i in ids]},
            geometry=list(geoms.values()),
            crs=crs,
        ).to_crs(4326).to_file(folder / f"{key}.geojson", driver="GeoJSON")
    return folder


@pytest.fixture(scope="module")
def tiny(demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_folder(demo[0], tmp_path_factory.mktemp("tiny"))


# --------------------------------------------------------------------------- structure


def test_every_page_exists_and_every_index_link_resolves(site) -> None:
    out = site.out_dir
    names = {p.name for p in site.pages}
    assert "index.html" in names
    for key in LAYERS:
        for column in HEADLINE_INDICATORS:
            assert f"map-{key}-{column}.html" in names
            assert (out / "png" / f"{key}-{column}.png").is_file()
        # one page with every indicator as a switchable layer, and all of them in its table,
        # and the disparity scores (METRICS 13) read back from <key>.disparity.csv
        combined = (out / f"map-{key}.html").read_text(encoding="utf-8")
        assert combined.count('class="geo311-legend"') == len(HEADLINE_INDICATORS) + 1
        assert DISPARITY_TITLE in combined
        for h in HEADLINE_INDICATORS.values():
            assert h.title in combined
    assert sum(n.startswith("district-") for n in names) == 14
    for page in site.pages:
        assert page.is_file()
        assert site.sizes[page] == page.stat().st_size
    links = [a["href"] for a in parse(out / "index.html").all("a") if a.get("href")]
    targets = {link for link in links if not link.startswith("#")}
    assert all(not re.match(r"[a-z]+:", t) for t in targets)  # all relative
    assert all((out / t).is_file() for t in targets), [
        t for t in targets if not (out / t).is_file()
    ]
    # every map page, district page and PNG is linked from the index
    linked = {(out / t).resolve() for t in targets}
    assert {p.resolve() for p in site.pages if p.name != "index.html"} <= linked
    assert {p.resolve() for p in site.pngs} <= linked
    for page in site.pages:
        if page.name != "index.html":
            hrefs = [a.get("href") for a in parse(page).all("a")]
            assert "index.html" in hrefs


def test_methods_box_and_data_dictionary_in_plain_words(site) -> None:
    out = site.out_dir
    shown = plain_indicators()
    page = parse(out / "dictionary.html")
    assert page.headings == [1, 2]  # the title and "The data on this page"
    table = (out / "dictionary.html").read_text(encoding="utf-8").split('id="dictionary-table"')
    assert "<caption>Indicators shown on this site</caption>" in table[1]
    # one row per indicator the site shows, plain label first, the run's thresholds stated
    rows = re.findall(r'<th scope="row">([^<]+)</th>', table[1])
    assert rows == [markupsafe.escape(s.label) for s in shown]
    assert "Fewer than 20 requests timed" in table[1]
    download = pd.read_csv(out / "data" / "dictionary.csv")
    assert download["indicator"].tolist() == [s.label for s in shown]
    boxes = [out / "index.html", *(p for p in site.pages if p.name.startswith("district-"))]
    for path in boxes:
        html = path.read_text(encoding="utf-8")
        box = html.split('id="methods"')[1].split("</section>")[0]
        assert '<a href="dictionary.html">data dictionary</a>' in box
        assert 4 <= box.count("<li>") <= 6
        assert "fewer than 20 requests are marked unstable" in box
        assert "Residents: made-up population of the demo city (2020)." in box
        for jargon in ("Nelson-Aalen", "Kaplan", "include_duplicates", "as_of", "censor"):
            assert jargon not in box and jargon not in table[1], (path.name, jargon)


def test_dictionary_states_the_thresholds_of_the_run() -> None:
    table = dictionary_table({"indicators": {"min_count": 7, "min_population": 250}})
    rules = dict(zip(table["indicator"], table["small_numbers"], strict=True))
    assert rules["Requests per 1,000 residents"].startswith("Fewer than 7 requests:")
    assert "Fewer than 250 residents" in rules["Requests per 1,000 residents"]
    assert rules["Closed on time"].startswith("Fewer than 7 requests due:")
    assert rules["Requests"].startswith("Always shown")
    assert table["meaning"].str.len().gt(40).all()


def test_manifest_lists_pages_sizes_and_displacement(site) -> None:
    manifest = json.loads((site.out_dir / "site.json").read_text(encoding="utf-8"))
    pages = {p["path"]: p["bytes"] for p in manifest["pages"]}
    assert pages == {p.relative_to(site.out_dir).as_posix(): site.sizes[p] for p in site.pages}
    assert set(manifest["max_displacement_m"]) == set(LAYERS)
    assert all(0 <= v <= 5.0 + 1e-6 for v in manifest["max_displacement_m"].values())
    assert manifest["counts"]["district_pages"] == 14
    assert manifest["counts"]["map_pages"] == 8
    assert manifest["synthetic"] is True
    assert manifest["as_of"].startswith("20")


def test_index_reports_coverage_exclusions_and_synthetic_banner(site, demo) -> None:
    html = (site.out_dir / "index.html").read_text(encoding="utf-8")
    page = parse(site.out_dir / "index.html")
    assert page.all("p", id="synthetic-banner") or 'id="synthetic-banner"' in html
    meta = json.loads((demo[0] / "neighborhoods.json").read_text(encoding="utf-8"))
    rows = meta["indicators"]["rows"]
    text = " ".join(page.text)
    assert f"{rows['counted']:,}" in text
    assert f"{rows['not_assigned_to_area']:,}" in text
    assert meta["indicators"]["timezone"] in text
    assert "Ingest and join" in text  # the ledger's stages
    assert "clean" in text
    # the ledger's examples (request ids, coordinates) never reach the page
    ledger = json.loads(demo[1].read_text(encoding="utf-8"))
    for stage in ledger["stages"]:
        for examples in stage["examples"].values():
            for example in examples:
                if len(example) > 6:
                    assert example not in html
    # citywide headline figures from the city row
    city = pd.read_csv(demo[0] / "council_districts.city.csv").iloc[0]
    assert f"{city['rate_per_1k']:,.1f}" in text
    assert f"{100 * city['on_time_share']:.1f}%" in text


def test_pages_are_accessible_html(site) -> None:
    for path in site.pages:
        html = path.read_text(encoding="utf-8")
        page = parse(path)
        assert html.startswith("<!DOCTYPE html>")
        assert page.all("html")[0].get("lang") == "en"
        assert page.all("title")
        assert page.headings.count(1) == 1
        assert page.headings[0] == 1
        assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False))
        skip = page.all("a", **{"class": "geo311-skip"})
        assert skip and skip[0]["href"] == "#main"
        assert page.all("main")[0].get("id") == "main"
        assert page.all("nav")
        if path.name not in {"index.html", "dictionary.html"}:
            assert "<noscript>" in html
            assert page.all("div", id="map")
            assert page.all("div", **{"class": "geo311-map"})  # the Leaflet container
        for button in page.all("button"):
            assert button.get("type") == "button"


def test_no_remote_scripts_or_stylesheets(site, tmp_path: Path, tiny: Path) -> None:
    external = re.compile(r"^(https?:)?//", re.I)
    for path in site.pages:
        page = parse(path)
        for attrs in page.all("script") + page.all("img") + page.all("iframe"):
            assert not external.match(attrs.get("src") or ""), (path.name, attrs)
        for attrs in page.all("link"):
            assert not external.match(attrs.get("href") or ""), (path.name, attrs)
    html = (site.out_dir / "map-neighborhoods-rate_per_1k.html").read_text(encoding="utf-8")
    urls = set(re.findall(r"https?://[^\s\"'<>)\\]+", html))
    tile_urls = {u for u in urls if "{z}" in u}
    assert tile_urls  # the one remote resource: the basemap tiles
    # no tiles, no tile URL
    result = site_of(tiny, tmp_path / "site", png=False, tiles=False)
    for path in result.pages:
        assert "{z}/{x}/{y}" not in path.read_text(encoding="utf-8")


def test_external_assets_mode_links_vendored_files(tiny: Path, tmp_path: Path) -> None:
    result = site_of(tiny, tmp_path / "site", png=False, self_contained=False, tiles=False)
    assert (tmp_path / "site" / "assets").is_dir()
    page = parse(result.out_dir / "map-neighborhoods-rate_per_1k.html")
    sources = [a.get("src") for a in page.all("script") if a.get("src")]
    assert sources
    assert all(not s.startswith(("http:", "https:", "//")) for s in sources)
    assert all((result.out_dir / s).is_file() for s in sources)


# --------------------------------------------------------------------------- districts


def test_district_pages_show_their_neighbourhoods_only(site, demo) -> None:
    folder = demo[0]
    hoods = layer_of(folder, "neighborhoods")
    districts = layer_of(folder, "council_districts")
    membership = district_membership(hoods.areas, districts.areas)
    # every neighbourhood of the demo lies in exactly one district
    assert membership["district_id"].notna().all()
    # an independent check: the district containing each neighbourhood's interior point
    points = hoods.areas.set_geometry(
        hoods.areas.to_crs(32606).representative_point().to_crs(4326)
    )
    hit = gpd.sjoin(points, districts.areas[["area_id", "geometry"]], predicate="within")
    inside = hit.set_index("area_id_left")["area_id_right"]
    unsplit = membership[~membership["split"]]
    assert (unsplit["district_id"] == inside.reindex(unsplit.index)).all()
    seen: list[str] = []
    for district_id in districts.indicators.index:
        page = site.out_dir / f"district-{slugify(district_id)}.html"
        html = page.read_text(encoding="utf-8")
        listed = _table_rows(html, "areas-table")
        expected = membership.index[membership["district_id"] == district_id]
        assert sorted(listed) == sorted(expected)
        seen += listed
        name = districts.indicators.at[district_id, "area_name"]
        assert f"<h1>{_escaped(name)}</h1>" in html
    assert sorted(seen) == sorted(hoods.indicators.index)


def test_membership_of_a_hand_made_layout() -> None:
    crs = "EPSG:32618"
    districts = gpd.GeoDataFrame(
        {"area_id": ["W", "E"]},
        geometry=[box(0, 0, 2000, 2000), box(2000, 0, 4000, 2000)],
        crs=crs,
    )
    hoods = gpd.GeoDataFrame(
        {"area_id": ["n1", "n2", "n3", "n4", "out"]},
        geometry=[
            box(0, 0, 1000, 1000),
            box(1000, 1000, 1700, 2000),
            box(1700, 0, 2700, 1000),  # 30% west, 70% east
            box(3000, 1000, 4000, 2000),
            box(9000, 9000, 9100, 9100),  # touches no district
        ],
        crs=crs,
    ).to_crs(4326)
    before = hoods.copy()
    result = district_membership(hoods, districts)
    pd.testing.assert_frame_equal(hoods, before)
    assert result["district_id"].tolist()[:4] == ["W", "W", "E", "E"]
    assert pd.isna(result.loc["out", "district_id"])
    assert result.loc["n3", "share_outside"] == pytest.approx(0.3, abs=1e-4)
    assert result.loc["n3", "split"]
    assert not result.loc[["n1", "n2", "n4"], "split"].any()
    assert result.loc[["n1", "n2", "n4"], "share_outside"].abs().max() < 1e-4


def test_tiny_site_assigns_and_reports_the_straddling_neighbourhood(
    tiny: Path, tmp_path: Path
) -> None:
    result = site_of(tiny, tmp_path / "site", png=False, tiles=False)
    west = (result.out_dir / "district-w.html").read_text(encoding="utf-8")
    east = (result.out_dir / "district-e.html").read_text(encoding="utf-8")
    assert sorted(_table_rows(west, "areas-table")) == ["n1", "n2"]
    assert sorted(_table_rows(east, "areas-table")) == ["n3", "n4"]
    assert "Area n3 is split: 30.0% of its area lies outside Area E" in east
    assert "split" not in west.split('id="notes"')[1].split("Back to the overview")[0].replace(
        "split across", ""
    )
    assert json.loads((result.out_dir / "site.json").read_text())["counts"]["split_areas"] == 1


def test_cards_show_district_and_city_values(site, demo) -> None:
    districts = layer_of(demo[0], "council_districts")
    city = districts.city
    for district_id, row in districts.indicators.iterrows():
        html = (site.out_dir / f"district-{slugify(district_id)}.html").read_text(encoding="utf-8")
        cards = re.findall(r'<li class="geo311-card" id="card-([a-z0-9_]+)"', html)
        assert cards == list(HEADLINE_INDICATORS)
        for column, h in HEADLINE_INDICATORS.items():
            card = html.split(f'id="card-{column}"')[1].split("</li>")[0]
            values = re.findall(r'data-value="([^"]*)"[^>]*>([^<]*)<', card)
            (area_raw, area_text), (city_raw, city_text) = values
            for raw, text, expected in (
                (area_raw, area_text, row[column]),
                (city_raw, city_text, city[column]),
            ):
                if pd.isna(expected):
                    assert raw == ""
                    assert text == "not available"
                    continue
                assert float(raw) == pytest.approx(float(expected), rel=1e-12)
                if h.kind == "share":
                    assert text == f"{100 * expected:.1f}%"
                elif h.kind == "ratio":
                    assert text == f"{expected:.2f}"
                else:
                    assert text == f"{expected:,.1f}"
            assert "95% CI" in card
        if row["rate_flag"] == "unstable":
            assert "unstable: fewer than 20 requests" in html


def test_district_page_has_charts_tables_and_sortable_markup(site, demo) -> None:
    districts = layer_of(demo[0], "council_districts")
    district_id = districts.indicators.index[0]
    path = site.out_dir / f"district-{slugify(district_id)}.html"
    html = path.read_text(encoding="utf-8")
    page = parse(path)
    figures = page.all("figure", **{"class": "geo311-chart"})
    assert {f.get("id") for f in figures} == {"chart-services", "chart-weekday", "chart-month"}
    for chart_id in ("chart-services", "chart-weekday", "chart-month"):
        figure = html.split(f'id="{chart_id}"')[1].split("</figure>")[0]
        assert "<svg" in figure
        assert "<table" in figure  # the text alternative
    top = districts.services[districts.services["area_id"] == district_id]
    services = html.split('id="chart-services"')[1].split("</figure>")[0]
    for name in top["service_type"]:
        assert _escaped(name) in services
    for day in ("Monday", "Sunday"):
        assert day in html.split('id="chart-weekday"')[1].split("</figure>")[0]
    # the sortable table: buttons in the header cells, aria-sort, the script inlined
    tables = page.all("table", **{"class": "geo311-sortable"})
    assert [t.get("id") for t in tables] == ["ranking-table", "areas-table"]
    head = html.split('id="areas-table"')[1].split("</thead>")[0]
    assert head.count('<button type="button" class="geo311-sort">') == head.count("<th ")
    assert 'aria-sort="ascending"' in head
    assert "table.geo311-sortable" in html  # the sorting script
    assert re.search(r'<td class="num" data-sort="[0-9.e+-]+">', html)


def test_page_sizes_within_budget(site) -> None:
    for page, size in site.sizes.items():
        if page.name.startswith("district-"):
            assert size <= 1 * MB, (page.name, size)
        if page.name.startswith("map-"):
            assert size <= 1.5 * MB, (page.name, size)


# --------------------------------------------------------------------------- safety


def test_hostile_names_are_escaped_everywhere(hostile) -> None:
    pages = {p: p.read_text(encoding="utf-8") for p in hostile.pages}
    # index, dictionary, 4 maps x 2 layers, 2 combined, 14 districts
    assert len(pages) == 1 + 1 + 8 + 2 + 14
    for path, html in pages.items():
        for payload in PAYLOADS:
            assert payload not in html, (path.name, payload)
        assert "<img" not in html
        assert "<svg onload" not in html
        assert "<script>alert" not in html
        assert "onerror=alert(1)>" not in html.replace("onerror=alert(1)&gt;", "")
    everything = "\n".join(pages.values())
    for payload in PAYLOADS:
        assert _escaped(payload) in everything
    # the hostile names reach the district pages as text (headings, tables, charts)
    district_pages = [html for p, html in pages.items() if p.name.startswith("district-")]
    assert any(f"<h1>{_escaped(PAYLOADS[0])}</h1>" in html for html in district_pages)
    services = [
        html.split('id="chart-services"')[1].split("</figure>")[0] for html in district_pages
    ]
    assert any(_escaped(p) in s or markupsafe.escape(p) in s for s in services for p in PAYLOADS)
    # the hostile district id became a safe, unique file name
    names = [p.name for p in hostile.pages]
    assert all(re.fullmatch(r"[a-z0-9_.-]+\.html", n) for n in names)
    assert "district-svg-onload-alert-1.html" in names


def test_hostile_site_links_resolve(hostile) -> None:
    index = parse(hostile.out_dir / "index.html")
    for a in index.all("a"):
        href = a.get("href") or ""
        if href and not href.startswith("#"):
            assert (hostile.out_dir / href).is_file(), href


# --------------------------------------------------------------------------- files


def test_refuses_to_overwrite_without_overwrite(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    site_of(tiny, out, png=False, tiles=False)
    before = (out / "index.html").read_bytes()
    with pytest.raises(OutputExistsError, match=r"index\.html"):
        site_of(tiny, out, png=False, tiles=False)
    assert (out / "index.html").read_bytes() == before
    site_of(tiny, out, png=False, tiles=False, overwrite=True)


def test_missing_file_names_it_and_the_command(tiny: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    (broken / "neighborhoods.services.csv").unlink()
    with pytest.raises(InputFileError, match=r"neighborhoods\.services\.csv.*geo311 indicators"):
        site_of(broken, tmp_path / "site", png=False, tiles=False)
    with pytest.raises(InputFileError, match=r"wards\.json.*geo311 indicators"):
        read_tables(tiny, layers=["wards"])
    with pytest.raises(OptionError, match=r"district_layer 'wards' is not among.*neighborhoods"):
        site_of(tiny, tmp_path / "site2", district_layer="wards", png=False)
    with pytest.raises(InputFileError, match=r"nowhere.*geo311 indicators"):
        site_of(tmp_path / "nowhere", tmp_path / "site3")


def test_indicator_without_values_is_skipped_and_said(tiny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "indicators"
    shutil.copytree(tiny, folder)
    _rewrite_csv(folder / "neighborhoods.csv", lambda f: f.assign(on_time_share=float("nan")))
    result = site_of(folder, tmp_path / "site", png=False, tiles=False)
    names = {p.name for p in result.pages}
    assert "map-neighborhoods-on_time_share.html" not in names
    assert "map-neighborhoods-rate_per_1k.html" in names
    index = (result.out_dir / "index.html").read_text(encoding="utf-8")
    assert "Share closed on time by neighborhoods: no area has a value." in index


def test_site_without_districts(tiny: Path, tmp_path: Path) -> None:
    result = site_of(
        tiny, tmp_path / "site", district_layer=None, area_layers=["neighborhoods"], png=False
    )
    names = sorted(p.name for p in result.pages)
    assert names == [
        "dictionary.html",
        "index.html",
        *sorted(f"map-neighborhoods-{c}.html" for c in HEADLINE_INDICATORS),
        "map-neighborhoods.html",  # every indicator as a switchable layer
    ]
    html = (result.out_dir / "map-neighborhoods-rate_per_1k.html").read_text(encoding="utf-8")
    assert "Thick labelled lines" not in html  # no district outlines to draw


def test_pngs_are_pngs(site) -> None:
    assert len(site.pngs) == 8
    for path in site.pngs:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- review regressions


def _section(html: str, marker: str, end: str = "</table>") -> str:
    start = html.index(marker)
    return html[start : html.index(end, start)]


def test_index_district_table_uses_the_district_layer_when_ids_overlap(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    # numeric ids shared by both layers (wards 1..50 and community areas 1..77, say)
    rename = {"W": "1", "E": "2", "n1": "1", "n2": "2", "n3": "3", "n4": "4"}
    folder = _tiny_folder(demo[0], tmp_path, rename=rename)
    result = site_of(
        folder, tmp_path / "site", area_layers=["neighborhoods"], png=False, tiles=False
    )
    districts = layer_of(folder, "council_districts").indicators
    hoods = layer_of(folder, "neighborhoods").indicators
    assert districts.loc["1", "rate_per_1k"] != hoods.loc["1", "rate_per_1k"]
    table = _section(
        (result.out_dir / "index.html").read_text(encoding="utf-8"), "districts-table"
    )
    row = table.split('data-area-id="1"')[1].split("</tr>")[0]
    assert "Area 1" in row and 'href="district-1.html"' in row
    rate = re.search(r'<td class="num" data-sort="([^"]+)"', row).group(1)
    assert float(rate) == pytest.approx(districts.loc["1", "rate_per_1k"])
    # every rate has its interval (METRICS.md reporting rules)
    low = HEADLINE_INDICATORS["rate_per_1k"].ci_low
    assert f"to {districts.loc['1', 'rate_per_1k_ci_high']:,.1f})" in row
    assert f"({districts.loc['1', low]:,.1f} to" in row


def test_district_without_neighbourhoods_says_so(demo: tuple[Path, Path], tmp_path: Path) -> None:
    folder = _tiny_folder(demo[0], tmp_path, drop=("n3", "n4"))
    result = site_of(folder, tmp_path / "site", png=False, tiles=False)
    east = (result.out_dir / "district-e.html").read_text(encoding="utf-8")
    assert "No smaller areas are assigned to this district." in east
    assert 'id="areas-table"' not in east
    assert "Map of Area E: Requests per 1,000 residents in Area E," in east
    assert "neighborhoods of Area E" not in east
    west = (result.out_dir / "district-w.html").read_text(encoding="utf-8")
    assert "Requests per 1,000 residents in the neighborhoods of Area W" in west


def test_missing_columns_give_a_site_not_a_traceback(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = _tiny_folder(demo[0], tmp_path)
    _rewrite_csv(folder / "neighborhoods.csv", lambda f: f.drop(columns=["area_name"]))
    rate_columns = ["rate_per_1k", "rate_per_1k_ci_low", "rate_per_1k_ci_high", "rate_flag"]
    _rewrite_csv(folder / "council_districts.csv", lambda f: f.drop(columns=rate_columns))
    result = site_of(folder, tmp_path / "site", png=False, tiles=False)
    west = (result.out_dir / "district-w.html").read_text(encoding="utf-8")
    assert "Area n1" in _section(west, 'id="areas-table"')  # names from the outlines
    card = west.split('id="card-rate_per_1k"')[1].split("</li>")[0]
    assert "not available" in card
    # a boundary file without ids is named, not a KeyError
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    outlines = gpd.read_file(broken / "neighborhoods.geojson").drop(columns=["area_id"])
    (broken / "neighborhoods.geojson").unlink()
    outlines.to_file(broken / "neighborhoods.geojson", driver="GeoJSON")
    with pytest.raises(SchemaError, match=r"neighborhoods\.geojson has no area_id"):
        site_of(broken, tmp_path / "site2", png=False, tiles=False)


def test_unstable_threshold_comes_from_the_indicators_metadata(
    demo: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = _tiny_folder(demo[0], tmp_path)
    for key in LAYERS:
        meta = json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
        meta["indicators"]["min_count"] = 100_000
        (folder / f"{key}.json").write_text(json.dumps(meta), encoding="utf-8")
    result = site_of(folder, tmp_path / "site", png=False, tiles=False)
    html = (result.out_dir / "map-neighborhoods-ttc_median_days.html").read_text(encoding="utf-8")
    legend = _section(html, 'class="geo311-legend"', "</div>")
    assert "unstable: fewer than 100000 requests" in legend
    assert "fewer than 20 " not in html


def test_map_legends_state_unit_and_population_year(site) -> None:
    html = (site.out_dir / "map-neighborhoods-rate_per_1k.html").read_text(encoding="utf-8")
    legend = _section(html, 'class="geo311-legend"', "</div>")
    # the population column's year, not the table's "synthetic" label
    # (wording: the source in plain words, never a file or module name)
    assert "Denominator: residents, made-up population of the demo city (2020)</p>" in legend
    for column, h in HEADLINE_INDICATORS.items():
        page = (site.out_dir / f"map-neighborhoods-{column}.html").read_text(encoding="utf-8")
        legend = _section(page, 'class="geo311-legend"', "</div>")
        # the same unit as the PNG and the page text
        assert f'<p class="geo311-legend-unit">{_escaped(h.unit)}</p>' in legend


def test_map_page_lede_gives_the_city_value_with_its_interval(site, demo) -> None:
    city = layer_of(demo[0], "neighborhoods").city
    html = (site.out_dir / "map-neighborhoods-rate_per_1k.html").read_text(encoding="utf-8")
    lede = _section(html, 'class="geo311-lede"', "</p>")
    assert (
        f"city: {city['rate_per_1k']:,.1f} ({city['rate_per_1k_ci_low']:,.1f} to "
        f"{city['rate_per_1k_ci_high']:,.1f})." in lede
    )


def test_district_map_reuses_city_classes_and_says_so(site, demo) -> None:
    districts = layer_of(demo[0], "council_districts")
    district_id = districts.indicators.index[0]
    html = (site.out_dir / f"district-{slugify(district_id)}.html").read_text(encoding="utf-8")
    legend = _section(html, 'class="geo311-legend"', "</div>")
    assert "Classes: quantiles of all neighborhoods in the city" in legend
    assert "user defined" not in legend
    city_page = (site.out_dir / "map-neighborhoods-rate_per_1k.html").read_text(encoding="utf-8")
    city_legend = _section(city_page, 'class="geo311-legend"', "</div>")
    swatches = re.compile(r'<rect width="18" height="14" fill="(#[0-9a-f]{6})"/>')
    assert swatches.findall(legend) == swatches.findall(city_legend)
    # charts scale down on narrow screens
    assert "svg.geo311-chart{max-width:100%;height:auto}" in html


def test_area_tables_list_names_in_natural_order(site) -> None:
    html = (site.out_dir / "index.html").read_text(encoding="utf-8")
    names = re.findall(r'<a href="district-[^"]+">([^<]+)</a>', _section(html, "districts-table"))
    numbers = [int(re.search(r"\d+", n).group()) for n in names]
    assert numbers == sorted(numbers) and len(numbers) == 14  # 2 before 10


def test_area_search_list_has_no_inherited_keys() -> None:
    # an area called "constructor" or "toString" must still be offered by the search box
    assert "var seen = Object.create(null);" in runtime_js()

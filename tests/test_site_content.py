"""What the district, map and overview pages show: change vs the previous period, the
ranking of all districts, and the CSV/XLSX downloads of every page.

Two real sites: Baltimore (2019 + 2018 files, no period: the session's
``baltimore_run``, with neighbourhoods and census tracts besides the council
districts) and Los Angeles (the files of 27-31 Dec 2017 and 1-4 Jan 2018,
period 1-3 Jan 2018, so the previous period, 29-31 Dec 2017, is in the data),
built once for this module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import markupsafe
import pandas as pd
import pytest

from geo311.site.downloads import COLUMNS, Section, write_downloads

pytest.importorskip("folium")

LA_FILES = ("myla311_2017-12-27_2017-12-31.csv.gz", "myla311_2018-01-01_2018-01-04.csv.gz")
LA_ZONE = "America/Los_Angeles"


@pytest.fixture(scope="module")
def los_angeles(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The LA pipeline result (period 1-3 Jan 2018) and its site."""
    from geo311.pipeline import run  # noqa: PLC0415
    from geo311.site.build import build_site  # noqa: PLC0415

    records = shared_data / "los_angeles" / "records"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        result = run(
            [records / name for name in LA_FILES],
            city="los_angeles",
            layers=["council_districts"],
            period=("2018-01-01", "2018-01-04"),
        )
    site = tmp_path_factory.mktemp("la-content") / "site"
    build_site(result.tables, site, district_layer="council_districts", png=False, tiles=False)
    return result, site


@pytest.fixture(scope="module")
def baltimore_site(baltimore_run: tuple) -> Path:
    return baltimore_run[2] / "site"


# --------------------------------------------------------------------------- helpers


def _links(html: str) -> list[str]:
    block = re.search(r'<p class="geo311-downloads" id="downloads">(.*?)</p>', html, re.S)
    assert block, "no download links"
    return re.findall(r'href="([^"]+)"', block.group(1))


def _csv(site: Path, page: Path) -> pd.DataFrame:
    links = _links(page.read_text(encoding="utf-8"))
    assert [Path(h).suffix for h in links] == [".csv", ".xlsx"]
    for href in links:
        assert (site / href).is_file(), href
    return pd.read_csv(
        site / links[0], dtype={"area_id": str}, keep_default_na=False, na_values=[""]
    )


def _value(table: pd.DataFrame, section: str, area_id: str, measure: str) -> float:
    values = table.attrs.get("lookup")
    if values is None:  # one dictionary per table: pages have hundreds of rows
        keys = zip(table["section"], table["area_id"], table["measure"], strict=True)
        values = table.attrs["lookup"] = dict(zip(keys, table["value"], strict=True))
        assert len(values) == len(table)  # one value per section, area and measure
    return float(values[(section, area_id, measure)])


def _note(table: pd.DataFrame, section: str, area_id: str, measure: str) -> str:
    notes = table.attrs.get("notes")
    if notes is None:
        keys = zip(table["section"], table["area_id"], table["measure"], strict=True)
        notes = table.attrs["notes"] = dict(zip(keys, table["note"].fillna(""), strict=True))
    return str(notes[(section, area_id, measure)])


def _same(shown: str, value: float) -> bool:
    return (shown == "" and pd.isna(value)) or (
        shown != "" and float(shown) == pytest.approx(value)
    )


def _cards(html: str) -> dict[str, tuple[str, str]]:
    """Each card's area and city data-value (area first; the overview's cards have one)."""
    out = {}
    for column, body in re.findall(
        r'<li class="geo311-card" id="card-(\w+)".*?>(.*?)</li>\n', html, re.S
    ):
        values = re.findall(r'class="geo311-value[^"]*" data-value="([^"]*)"', body)
        out[column] = (values[0], values[-1])
    return out


def _rows(html: str, table_id: str) -> list[tuple[str, str, list[str]]]:
    """Rows of a table: area id, row attributes, cell data-sort values (first cell excluded)."""
    body = re.search(rf'<table class="geo311-sortable" id="{table_id}">(.*?)</table>', html, re.S)
    assert body, table_id
    rows = re.findall(r'<tr data-area-id="([^"]*)"([^>]*)>(.*?)</tr>', body.group(1), re.S)
    return [
        (a, attrs, re.findall(r'<td class="num" data-sort="([^"]*)"', cells))
        for a, attrs, cells in rows
    ]


# --------------------------------------------------------------------------- previous period


def test_los_angeles_previous_period_equals_a_pandas_count(los_angeles: tuple) -> None:
    result, _ = los_angeles
    tables = result.tables["council_districts"]
    info = tables.metadata["previous_period"]
    assert info["covered"] and info["days"] == 3
    rows = result.requests
    local = rows["requested_datetime"].dt.tz_convert(LA_ZONE)
    start, end = (pd.Timestamp(d, tz=LA_ZONE) for d in ("2017-12-29", "2018-01-01"))
    keep = (
        (local >= start)
        & (local < end)
        & rows["council_districts_id"].notna()
        & ~rows["is_duplicate"].fillna(False).astype(bool)
        & ~rows["is_transfer"].fillna(False).astype(bool)
        & ~rows["is_proactive"].fillna(False).astype(bool)
    )
    counts = rows.loc[keep, "council_districts_id"].astype(str).value_counts()
    previous = tables.previous
    assert previous is not None
    areas = previous.drop(index="city")
    assert (
        areas["requests"].astype(int).to_dict()
        == counts.reindex(areas.index, fill_value=0).to_dict()
    )
    assert int(previous.at["city", "requests"]) == int(keep.sum()) > 1000


def test_los_angeles_cards_state_the_change_as_the_csv_has_it(los_angeles: tuple) -> None:
    _, site = los_angeles
    page = site / "district-4.html"
    html = page.read_text(encoding="utf-8")
    table = _csv(site, page)
    assert "the previous 3 days (29 Dec 2017 to 31 Dec 2017)" in html
    for area_id, label in (("4", "4"), ("city", "City")):  # no area labels given: the id
        change = _value(table, "headline", area_id, "requests_change")
        pct = _value(table, "headline", area_id, "requests_change_pct")
        now = _value(table, "headline", area_id, "requests")
        assert now - _value(table, "headline", area_id, "requests_previous") == change
        words = "more" if change > 0 else "fewer"
        line = f"Requests, {label}:</span> {abs(change):,.0f} {words} than in the previous 3 days ({pct:+.0f}%)"
        assert line in html
        median = _value(table, "headline", area_id, "ttc_median_days_change")
        days = f"{abs(median):.1f} days {'longer' if median > 0 else 'shorter'} than in the previous 3 days"
        assert f"Median, {label}:</span> {days}" in html
    # LA council districts have no population here: no rate, said so, never a change from 0
    assert "Per 1,000 residents, City:</span> not comparable: no value in either period" in html
    assert "no previous period in the data" not in html


def test_baltimore_without_a_period_says_there_is_no_previous_period(baltimore_site: Path) -> None:
    pages = sorted(baltimore_site.glob("district-*.html"))
    assert len(pages) == 14
    for page in pages:
        html = page.read_text(encoding="utf-8")
        summary = re.search(
            r'<p class="geo311-change-summary" id="change-summary">(.*?)</p>', html
        )
        assert summary and "no previous period in the data" in summary.group(1)
        assert "every request in the files" in summary.group(1)
        assert (
            html.count(
                '<span class="geo311-change-label">Change:</span> no previous period in the data'
            )
            == 3
        )
    table = _csv(baltimore_site, pages[0])
    assert not table["measure"].str.endswith("_change").any()


# --------------------------------------------------------------------------- ranking


def test_every_district_page_ranks_all_districts(baltimore_site: Path) -> None:
    indicators = pd.read_csv(
        baltimore_site / "indicators" / "council_districts.csv", dtype={"area_id": str}
    )
    indicators = indicators.set_index("area_id")
    expected = indicators["rate_per_1k"].rank(method="min", ascending=False)
    for page in sorted(baltimore_site.glob("district-*.html")):
        html = page.read_text(encoding="utf-8")
        rows = _rows(html, "ranking-table")
        assert sorted(a for a, _, _ in rows) == sorted(indicators.index)
        current = [a for a, attrs, _ in rows if 'aria-current="page"' in attrs]
        assert len(current) == 1
        assert f'href="{page.name}">' in html.split(f'data-area-id="{current[0]}"', 2)[1][:300]
        # value, rank for each of the three indicators, then the requests
        for area_id, _, sorts in rows:
            assert _same(sorts[0], indicators.at[area_id, "rate_per_1k"])
            assert float(sorts[1]) == expected[area_id]
            assert _same(sorts[2], indicators.at[area_id, "ttc_median_days"])
            assert _same(sorts[6], indicators.at[area_id, "requests"])
        # ordered by the rank of the first indicator, as the header says
        assert [float(s[1]) for _, _, s in rows] == sorted(float(s[1]) for _, _, s in rows)
        table = _csv(baltimore_site, page)
        ranks = table[(table["section"] == "ranking") & (table["measure"] == "rate_per_1k_rank")]
        assert dict(zip(ranks["area_id"], ranks["value"], strict=True)) == expected.to_dict()


# --------------------------------------------------------------------------- downloads


def _check_page(site: Path, page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    table = _csv(site, page)
    if page.name == "dictionary.html":  # the table of the page, row by row
        shown = re.findall(r'<th scope="row">([^<]+)</th>', html)
        assert [markupsafe.escape(v) for v in table["indicator"]] == shown
        return
    assert list(table.columns) == list(COLUMNS)
    cards = _cards(html)
    if page.name.startswith("district-"):
        area_id = _rows(html, "ranking-table")
        area_id = next(a for a, attrs, _ in area_id if "aria-current" in attrs)
        for column, (area, city) in cards.items():
            assert _same(area, _value(table, "headline", area_id, column)), column
            assert _same(city, _value(table, "headline", "city", column)), column
    elif page.name == "index.html":
        assert cards
        for column, (_, city) in cards.items():
            assert _same(city, _value(table, "city", "city", column)), column
    else:  # a map page: the first indicator of its table, row by row
        measure = table.loc[table["section"] == "areas", "measure"].iloc[0]
        for area_id, _, sorts in _rows(html, "areas-table"):
            value = _value(table, "areas", area_id, measure)
            if _note(table, "areas", area_id, measure).startswith("not reached"):  # "over N days"
                value = _value(table, "areas", area_id, "ttc_followup_days")
            assert _same(sorts[0], value), area_id


def test_every_page_links_its_csv_and_xlsx_with_the_figures_it_shows(
    baltimore_site: Path, los_angeles: tuple
) -> None:
    _, la_site = los_angeles
    for site in (baltimore_site, la_site):
        manifest = json.loads((site / "site.json").read_text(encoding="utf-8"))
        pages = [site / p["path"] for p in manifest["pages"]]
        assert {p.name.split("-")[0] for p in pages} >= {"index.html", "district", "map"}
        for page in pages:
            _check_page(site, page)
        assert len(manifest["downloads"]) == 2 * len(pages)
    # the non-council layers have their own map pages and downloads
    assert (baltimore_site / "data" / "map-neighborhoods-rate_per_1k.csv").is_file()
    assert (baltimore_site / "data" / "map-census_tracts.xlsx").is_file()


def test_downloads_neutralise_formulas_in_csv_and_xlsx(tmp_path: Path) -> None:
    from openpyxl import load_workbook  # noqa: PLC0415

    hostile = '=HYPERLINK("http://x","y")'
    table = pd.DataFrame({"area_name": [hostile], "requests": [-3.0]}, index=["@SUM(1)"])
    links = write_downloads([Section("-cmd", table)], tmp_path / "page.html")
    assert [link["href"] for link in links] == ["data/page.csv", "data/page.xlsx"]
    text = (tmp_path / "data" / "page.csv").read_text(encoding="utf-8")
    assert '\'-cmd,\'@SUM(1),"\'=HYPERLINK(""http://x"",""y"")",requests,-3.0,' in text
    book = load_workbook(tmp_path / "data" / "page.xlsx")
    assert book.sheetnames == ["-cmd"]  # a sheet per section, a row per area
    cells = {c.value: c for row in book["-cmd"].iter_rows(min_row=2) for c in row}
    assert cells[hostile].data_type == "s" and cells[hostile].quotePrefix
    assert cells["@SUM(1)"].quotePrefix
    assert cells[-3].data_type == "n"  # numbers stay numbers


def test_a_layer_of_many_areas_ranks_only_the_pages_own_row(baltimore_site: Path) -> None:
    from geo311.io.tables import read_tables  # noqa: PLC0415
    from geo311.site.layer import site_layer  # noqa: PLC0415
    from geo311.site.ranking import rank_areas, ranking_table  # noqa: PLC0415

    tables = read_tables(baltimore_site / "indicators", layers=["council_districts"])
    layer = site_layer("council_districts", tables["council_districts"], title="Districts")
    limits = {"min_count": 20, "min_population": 100}
    full = ranking_table(layer, current="3", links={}, limits=limits)
    one = ranking_table(layer, current="3", links={}, limits=limits, max_rows=5)
    assert len(full["rows"]) == 14
    assert [r["id"] for r in one["rows"]] == ["3"]
    assert one["rows"][0]["cells"] == next(r for r in full["rows"] if r["id"] == "3")["cells"]
    assert "among all 14 districts" in one["caption"]
    ranks = rank_areas(layer.indicators)
    assert one["rows"][0]["cells"][2]["text"] == f"{ranks.at['3', 'rate_per_1k_rank']} of 14"

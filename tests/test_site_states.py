"""The site states what the tables know: "not reached", coverage, sources, disparity, equity.

Real data: the Baltimore October 2019 sample alone (4 days of requests; 11
of its 14 council districts do not reach their median time to close) and a
Los Angeles sample (3 days, Wednesday to Friday, no population). Each site
is built once with ``geo311.run`` + ``geo311.write_site``: Baltimore's in
conftest (``october_run``, which test_browser_real.py also opens in
Chromium), Los Angeles's for this module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("folium")

JARGON = ("include_duplicates", "as_of", "Nelson-Aalen", "censored", "max_days")
#: A denominator named by its file (the boundary layers' own sources may name files).
FILE_DENOMINATOR = re.compile(r"(Population|Denominator|population:)[^.]*(tl_20|\.zip)")


def _build(
    shared_data: Path, root: Path, city: str, files: list[Path], layers: list[str] | None = None
) -> tuple[Any, Path]:
    import geo311  # noqa: PLC0415

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        result = geo311.run(files, city=city, layers=layers)
        geo311.write_site(result, root / "site", png=False, tiles=False)
    return result, root / "site"


@pytest.fixture(scope="module")
def october(october_run: tuple) -> tuple[Any, Path]:
    """The Baltimore October 2019 sample alone, run and built into a site (conftest)."""
    return october_run


@pytest.fixture(scope="module")
def los_angeles(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """Three days of Los Angeles requests (no population), run and built into a site."""
    files = [shared_data / "los_angeles" / "records" / "myla311_2020-01-01_2020-01-03.csv.gz"]
    root = tmp_path_factory.mktemp("la")
    return _build(shared_data, root, "los_angeles", files, layers=["council_districts"])


def _layers(html: str) -> dict[str, Any]:
    """The data blocks of the choropleth layers of a page, by legend title."""
    out = {}
    for block in re.findall(
        r'<script type="application/json" id="[^"]*-data">(.*?)</script>', html
    ):
        data = json.loads(block)
        if isinstance(data, dict) and "properties" in data:
            out[data["config"]["labels"][0]] = data
    return out


def _text(html: str) -> str:
    """The visible text of a page: tags, scripts, styles and SVG data removed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'")


# --------------------------------------------------------------------------- not reached


def test_not_reached_districts_have_their_own_state_on_the_map(october: tuple) -> None:
    result, site = october
    flags = result.tables["council_districts"].indicators["ttc_median_flag"]
    n_not_reached = int(flags.str.startswith("not reached").sum())
    assert n_not_reached == 11  # the indicator tables' count on this sample
    html = (site / "map-council_districts-ttc_median_days.html").read_text(encoding="utf-8")
    layer = _layers(html)["Median time to close"]
    states = [p["s"] for p in layer["properties"]]
    assert states.count("not_reached") == 11
    assert "insufficient" not in states  # before: 11 of 14 districts grey "insufficient data"
    tips = {p["t"][0] for p in layer["properties"] if p["s"] == "not_reached"}
    assert tips == {"over 2.8 days (not reached)"}  # follow-up 2.84-2.85 days, rounded down
    assert all(p["c"] == -1 for p in layer["properties"] if p["s"] == "not_reached")
    # its own legend entry and hatch, apart from "insufficient data"
    assert layer["config"]["notReached"] != layer["config"]["na"]
    assert f'id="{layer["config"]["notReached"]}"' in html
    entry = re.search(r'<li class="geo311-legend-not-reached".*?</li>', html)
    assert entry is not None
    assert "not reached within the data (over 2.8 days)" in entry.group(0)
    assert "(11 areas)" in entry.group(0)
    assert 'data-flag="insufficient"' not in html


def test_district_card_and_tables_say_over_n_days(october: tuple) -> None:
    _, site = october
    page = (site / "district-3.html").read_text(encoding="utf-8")
    card = re.search(r'<li class="geo311-card" id="card-ttc_median_days".*?</li>', page, re.S)
    assert card is not None
    text = _text(card.group(0))
    assert "Council District 3 over 2.8 days (not reached)" in text
    assert "not available" not in text.split("City")[0]
    html = (site / "map-council_districts-ttc_median_days.html").read_text(encoding="utf-8")
    row = re.search(r'<tr data-area-id="3">.*?</tr>', html, re.S)
    assert row is not None
    assert "over 2.8 days (not reached)" in row.group(0)
    assert 'data-sort="2.84' in row.group(0)  # sorts as its follow-up, after reached medians


def test_shares_beyond_follow_up_are_not_estimated_never_a_number(october: tuple) -> None:
    from geo311.site import maps  # noqa: PLC0415

    result, _ = october
    tables = result.tables["council_districts"]
    frame = tables.areas.merge(tables.indicators, left_on="area_id", right_index=True)
    assert frame["closed_within_7d_share"].isna().all()  # empty past the follow-up
    m = maps.choropleth(frame, "closed_within_7d_share", tiles=False)
    html = maps.map_parts(m).body
    layer = next(iter(_layers(html).values()))
    texts = {p["t"][0] for p in layer["properties"]}
    assert texts == {"not estimated: the data follow requests for only 2.8 days"}
    assert {p["s"] for p in layer["properties"]} == {"not_reached"}


# --------------------------------------------------------------------------- sources


def test_every_page_states_sources_and_selection_in_plain_words(october: tuple) -> None:
    _, site = october
    pages = sorted(site.glob("*.html"))
    assert len(pages) == 2 + 15 + 14  # index, dictionary, 3 layers x 5 map pages, 14 districts
    for path in pages:
        text = _text(path.read_text(encoding="utf-8"))
        assert "The data on this page" in text, path.name
        assert (
            "sr311_2019_oct_sample.csv: 3,000 rows, requests made 18 Oct 2019 to 21 Oct 2019; "
            "data as of 21 Oct 2019, 11:50 (the latest time in the file)."
        ) in text, path.name  # 15:50:11 UTC is 11:50 in Baltimore (EDT)
        assert "Dates, days and times are in America/New_York" in text
        assert "repeat reports of a problem already reported (duplicates)" in text
        assert "requests passed on to another agency (transfers) are left out" in text
        assert "Population: Census 2020 population (585,708 residents)" in text
        for word in JARGON:
            assert word not in text, (path.name, word)
        assert not FILE_DENOMINATOR.search(text), path.name
        assert "Check before comparing" not in text  # one file: no warning box


def test_warning_box_when_files_were_extracted_apart() -> None:
    from geo311.site.render import environment  # noqa: PLC0415
    from geo311.site.selection import selection_context  # noqa: PLC0415

    meta = {
        "indicators": {
            "timezone": "America/New_York",
            "sources": [
                {"file": "/x/a.csv", "rows": 500, "first_requested": "2018-01-02T06:51:11+00:00",
                 "last_requested": "2018-12-30T17:44:16+00:00",
                 "as_of": "2020-03-18T15:44:55+00:00", "as_of_source": "latest timestamp"},
            ],
            "warnings": [
                "input files were extracted at different times (more than a day apart): a.csv "
                "as of 2020-03-18 15:44:55+00:00; b.csv as of 2019-10-21 15:50:11+00:00; each "
                "file's open requests are censored at its own as-of time"
            ],
        }
    }  # fmt: skip
    context = selection_context(meta)
    assert context["sources"] == [
        "a.csv: 500 rows, requests made 2 Jan 2018 to 30 Dec 2018; data as of 18 Mar 2020, "
        "11:44 (the latest time in the file)."
    ]
    html = environment().get_template("macros.html").module.selection_box(context)
    text = _text(str(html))
    assert 'id="data-warnings"' in str(html)
    assert "Check before comparing" in text
    assert "a.csv as of 18 Mar 2020, 11:44; b.csv as of 21 Oct 2019, 11:50" in text
    assert "count as open until its extract time" in text
    assert "censored" not in text
    assert "as-of" not in text


# --------------------------------------------------------------------------- coverage


def test_weekday_chart_marks_days_not_covered_and_counts_per_covered_day(october: tuple) -> None:
    result, site = october
    patterns = result.tables["council_districts"].patterns
    mine = patterns.loc["3"]
    monday = mine[(mine["pattern"] == "day_of_week") & (mine["bucket"] == "Monday")].iloc[0]
    html = (site / "district-3.html").read_text(encoding="utf-8")
    figure = re.search(r'<figure class="geo311-chart" id="chart-weekday">.*?</figure>', html, re.S)
    assert figure is not None
    text = _text(figure.group(0))
    assert text.startswith(
        " Requests per covered day by day of the week in Council District 3 (the data do not "
        "cover every day of the week alike; no data for Tuesday, Wednesday, Thursday)"
    )
    per_day = monday["requests"] / monday["covered_days"]
    assert f"Monday {monday['covered_days']} {monday['requests']} {per_day:.1f}" in text
    assert "Tuesday 0 0 no data (not covered)" in text
    svg = figure.group(0)
    assert "Tuesday (Council District 3)" not in svg  # no bar, not even a zero-width one
    assert svg.count('class="bar-missing"') == 3


def test_month_chart_flags_partial_months_and_shows_per_covered_day() -> None:
    from geo311.site.page_charts import month_chart  # noqa: PLC0415

    rows = []
    for area, counts in (("A", (21, 4)), ("city", (63, 12))):
        for order, (month, n, days, cover) in enumerate(
            (("2025-01-01", counts[0], 21, "partial (21 of 31 days)"),
             ("2025-02-01", counts[1], 4, "partial (4 of 28 days)"))
        ):  # fmt: skip
            rows.append(
                {"area_id": area, "pattern": "month", "bucket": month, "bucket_order": order,
                 "requests": n, "share": n / sum(counts), "covered_days": days,
                 "requests_per_covered_day": n / days, "coverage": cover}
            )  # fmt: skip
    chart = month_chart(pd.DataFrame(rows), "A", area_label="Area A")
    assert chart is not None
    assert chart["caption"].startswith("Requests per covered day by month in Area A")
    table = _text(chart["table"])
    assert "Jan 2025, partial (21 of 31 days) 21 1.0" in table  # 21 requests / 21 days
    assert "Feb 2025, partial (4 of 28 days) 4 1.0" in table  # 4 / 4: the same daily rate
    assert "requests per covered day" in chart["svg"]


# --------------------------------------------------------------------------- services


def test_top_services_never_show_the_city_as_no_data(october: tuple) -> None:
    result, site = october
    services = result.tables["council_districts"].services
    city = services.loc["city"]
    mine = services.loc["3"]
    outside = sorted(set(mine["service_type"]) - set(city["service_type"]))
    assert outside  # District 3 has types outside the city's top 10
    floor = f"{100 * city['share'].min():.1f}%"
    html = (site / "district-3.html").read_text(encoding="utf-8")
    figure = re.search(
        r'<figure class="geo311-chart" id="chart-services">.*?</figure>', html, re.S
    )
    assert figure is not None
    text = _text(figure.group(0))
    assert "no data" not in text
    for name in outside:
        assert f"{name}: " in text
    assert f"(City under {floor} (not among the city's top 10))" in text


# --------------------------------------------------------------------------- disparity, equity


def test_disparity_is_a_switchable_layer_centred_on_zero(october: tuple) -> None:
    result, site = october
    disparity = result.tables["council_districts"].disparity
    html = (site / "map-council_districts.html").read_text(encoding="utf-8")
    layer = _layers(html)["Requests vs residents (disparity)"]
    by_name = {p["name"]: p for p in layer["properties"]}
    row = disparity.loc["9"]  # the largest over-share on this sample: +3.9 points
    expected = 100 * (row["request_share"] - row["population_share"])
    assert by_name["Council District 9"]["t"][0] == f"{expected:+.1f} pts"
    legend = _text(html[html.find("Requests vs residents (disparity)") :])
    assert "more requests than its share of residents" in legend
    assert "fewer requests than its share of residents" in legend
    # the class that holds 0 takes the neutral middle colour of the diverging palette
    legend_html = html[html.find("Requests vs residents (disparity)") :]
    spans = re.findall(r'data-class="(\d+)"><svg.*?</svg><span>([^<]*)</span>', legend_html)
    across = [int(i) for i, label in spans[: len(layer["config"]["colors"])] if "-" in label
              and "+" in label]  # fmt: skip
    assert len(across) == 1  # one class runs from below 0 to above it
    assert layer["config"]["colors"][across[0]] == "#f6f6f7"
    assert by_name["Council District 11"]["c"] == across[0]  # -0.08 points: near 0


def test_index_has_equity_summary_with_ranking_stated(october: tuple) -> None:
    result, site = october
    equity = result.tables["council_districts"].equity
    rate = equity[(equity["measure"] == "quantile_value") & (equity["indicator"] == "rate_per_1k")]
    text = _text((site / "index.html").read_text(encoding="utf-8"))
    assert "ranked by population (no demographic variable given)" in text
    first, last = rate.iloc[0]["value"], rate.iloc[-1]["value"]
    assert (
        f"Residents of group 1 made {first:.1f} requests per 1,000 residents, those of "
        f"group 5 {last:.1f}: {first / last:.2f} times as many"
    ) in text
    row = rate.iloc[0]  # the table row of group 1, from the equity table itself
    n_areas, people, requests = int(row["n_areas"]), int(row["population"]), int(row["requests"])
    assert f"Group 1 (lowest) {n_areas} {people:,} {requests:,} {first:.1f}" in text
    assert "over 2.8 days (not reached)" in text  # pooled quintile medians not reached


# --------------------------------------------------------------------------- legend


def test_legend_bins_never_read_alike() -> None:
    from geo311.site.classify import classify  # noqa: PLC0415

    classes = classify([0.01, 0.02, 0.03, 0.04, 0.05, 0.06], k=5, fmt="rate")
    assert not any(re.fullmatch(r"(.+) \u2013 \1", label) for label in classes.labels)
    assert classes.labels[0] == "0.01 \u2013 0.02"
    same = classify([2.0, 2.0, 2.0], k=5, fmt="rate")
    assert same.labels == ("2.0",)  # equal bounds merge into one value


def test_legend_scrolls_and_wraps_inside_its_box(october: tuple) -> None:
    from geo311.site.elements import runtime_css  # noqa: PLC0415

    css = runtime_css()
    rule = re.search(r"\.geo311-legend\{[^}]*\}", css)
    assert rule is not None
    assert "max-height:45vh" in rule.group(0)
    assert "overflow-y:auto" in rule.group(0)
    assert "overflow-wrap:anywhere" in rule.group(0)
    _, site = october
    html = (site / "map-council_districts.html").read_text(encoding="utf-8")
    assert html.count('class="geo311-legend"') == html.count('role="group" tabindex="0"')


# --------------------------------------------------------------------------- Los Angeles


def test_los_angeles_site_states_coverage_and_missing_population(los_angeles: tuple) -> None:
    result, site = los_angeles
    district = result.district_layer
    flags = result.tables[district].indicators["ttc_median_flag"]
    assert (flags == "ok").all()  # LA follows requests for months: every median is reached
    html = (site / f"map-{district}-ttc_median_days.html").read_text(encoding="utf-8")
    states = {p["s"] for p in _layers(html)["Median time to close"]["properties"]}
    assert "not_reached" not in states
    text = _text((site / "index.html").read_text(encoding="utf-8"))
    assert "myla311_2020-01-01_2020-01-03.csv.gz:" in text
    assert "Dates, days and times are in America/Los_Angeles" in text
    assert "Population: no population denominator for this layer." in text
    for word in JARGON:
        assert word not in text, word
    assert not FILE_DENOMINATOR.search(text)
    page = next(site.glob("district-*.html")).read_text(encoding="utf-8")
    # no population: rates say so, and the district map shows requests per km², coloured
    assert "Requests per 1,000 residents by city council districts: no population " in text
    for words in (text, _text(page)):
        assert "population unknown or below" not in words
        assert "no population denominator for this layer" in words
        assert not re.search(r"\b0 residents|[Pp]opulation:? 0\b", words)
    (drawn,) = _layers(page).values()
    assert drawn["config"]["labels"][0] == "Requests per km²"
    assert {p["s"] for p in drawn["properties"]} == {"ok"}
    assert {p["t"][2] for p in drawn["properties"]} == {"no population denominator for this layer"}
    weekday = _text(page[page.find('id="chart-weekday"') :][:20000])
    assert "no data for Monday, Tuesday, Saturday, Sunday" in weekday

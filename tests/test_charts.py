"""Tests for geo311.site.charts: accessible inline-SVG charts and their tables."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest

from geo311.site import _svg as palette
from geo311.site.charts import (
    BACKGROUND,
    bar_chart,
    chart_table,
    contrast_ratio,
    line_chart,
    nice_ticks,
)

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "`${alert(1)}`",
    "</script><script>alert(1)</script>",
    "\"'><svg onload=alert(1)>",
]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
SHARES = [0.18, 0.2, 0.17, 0.16, 0.15, 0.08, 0.06]
CITY = [0.17, 0.18, 0.18, 0.17, 0.16, 0.08, 0.06]


def parse(svg: str) -> ET.Element:
    """Parse the SVG (fails on malformed XML) and check the accessibility skeleton."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    cid = root.get("id")
    assert cid
    assert root.get("aria-labelledby") == f"{cid}-title {cid}-desc"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    assert title.get("id") == f"{cid}-title"
    assert desc.get("id") == f"{cid}-desc"
    return root


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in root.iter() if el.get("class") == name]


def texts(root: ET.Element, name: str) -> list[str]:
    return ["".join(el.itertext()) for el in by_class(root, name)]


def desc_text(root: ET.Element) -> str:
    desc = root.find(f"{SVG}desc")
    assert desc is not None
    return desc.text or ""


def title_text(root: ET.Element) -> str:
    title = root.find(f"{SVG}title")
    assert title is not None
    return title.text or ""


# --------------------------------------------------------------------------- ticks


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 87, [0, 20, 40, 60, 80, 100]),  # raw step 17.4 -> 20
        (0, 0.37, [0, 0.1, 0.2, 0.3, 0.4]),  # raw 0.074 -> 0.1 (0.05 gives 8 intervals)
        (0, 1234, [0, 500, 1000, 1500]),  # raw 246.8: 200 needs 7 intervals, 500 needs 3
        (0, 5, [0, 1, 2, 3, 4, 5]),  # raw exactly 1
        (0.2, 0.5, [0, 0.1, 0.2, 0.3, 0.4, 0.5]),  # the axis always starts at 0
        (-3, 7, [-5, 0, 5, 10]),  # raw 2: step 2 needs 6 intervals, 5 needs 3
        (-40, -10, [-40, -30, -20, -10, 0]),  # 0 included on the other side too
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1]),  # all zero: a unit axis, no division by zero
        (math.nan, math.nan, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (0, 1e6, [0, 200_000, 400_000, 600_000, 800_000, 1_000_000]),
    ],
)
def test_nice_ticks(low: float, high: float, expected: list[float]) -> None:
    assert nice_ticks(low, high) == expected


def test_nice_ticks_max_ticks() -> None:
    assert nice_ticks(0, 87, max_ticks=3) == [0, 50, 100]
    assert len(nice_ticks(0, 0.987654)) <= 6


def test_tick_labels_follow_value_format() -> None:
    root = parse(bar_chart(DAYS, SHARES, title="t", unit="share", value_format="{:.1%}"))
    assert texts(root, "tick") == ["0.0%", "5.0%", "10.0%", "15.0%", "20.0%"]
    root = parse(bar_chart(["a", "b"], [120, 870], title="t", unit="requests"))
    assert texts(root, "tick") == ["0", "200", "400", "600", "800", "1,000"]
    # a step finer than the format's precision gets the decimals it needs
    root = parse(bar_chart(["a", "b"], [0.5, 2], title="t", unit="requests"))
    assert texts(root, "tick") == ["0.0", "0.5", "1.0", "1.5", "2.0"]
    root = parse(bar_chart(["a"], [0.004], title="t", unit="share", value_format="{:.0%}"))
    assert texts(root, "tick") == ["0.0%", "0.1%", "0.2%", "0.3%", "0.4%"]


# --------------------------------------------------------------------------- bar chart


def test_bar_chart_structure_and_text_alternative() -> None:
    svg = bar_chart(
        DAYS,
        SHARES,
        title="Requests by day of the week",
        unit="share of requests",
        compare=CITY,
        compare_label="Baltimore",
        series_label="District 5",
        value_format="{:.1%}",
    )
    root = parse(svg)
    assert title_text(root) == "Requests by day of the week"
    assert len(by_class(root, "bar")) == 7
    assert len(by_class(root, "compare-bar")) == 7
    assert texts(root, "bar-value") == [f"{v:.1%}" for v in SHARES]  # values printed as text
    assert texts(root, "compare-bar-value") == [f"{v:.1%}" for v in CITY]
    assert [t.strip() for t in texts(root, "label")] == DAYS
    desc = desc_text(root)
    assert "Bar chart of share of requests for 7 categories, compared with Baltimore" in desc
    assert "Highest: Tue (20.0%); lowest: Sun (6.0%)." in desc
    assert "Mon: 18.0% (Baltimore 17.0%)" in desc
    legend = "".join(by_class(root, "legend")[0].itertext())
    assert "District 5" in legend
    assert "Baltimore" in legend
    # the comparison differs in more than colour: an unfilled dashed outline
    outline = by_class(root, "compare-bar")[0]
    assert outline.get("fill") == "none"
    assert outline.get("stroke-dasharray")
    # bar lengths are proportional to the values on a 0..20% axis
    widths = [float(el.get("width", "nan")) for el in by_class(root, "bar")]
    assert widths[1] == pytest.approx(max(widths))
    assert widths[0] / widths[1] == pytest.approx(0.18 / 0.2, abs=0.01)


def test_bar_chart_without_compare() -> None:
    root = parse(bar_chart(["a", "b", "c"], [3, 1, 2], title="t", unit="requests"))
    assert len(by_class(root, "bar")) == 3
    assert by_class(root, "compare-bar") == []
    assert by_class(root, "legend") == []
    assert texts(root, "bar-value") == ["3", "1", "2"]
    assert "compared" not in desc_text(root)


def test_bar_chart_callable_format_and_missing_values() -> None:
    root = parse(
        bar_chart(
            ["a", "b", "c"],
            [0.5, None, float("nan")],
            title="t",
            unit="share",
            compare=[0.25, 0.1, None],
            value_format=lambda v: f"{100 * v:.1f} pct",
        )
    )
    assert len(by_class(root, "bar")) == 1
    assert len(by_class(root, "compare-bar")) == 2
    assert texts(root, "bar-value") == ["50.0 pct"]
    assert texts(root, "bar-missing") == ["no data", "no data"]
    assert texts(root, "compare-bar-missing") == ["no data"]
    assert "b: no data (City 10.0 pct)" in desc_text(root)


@pytest.mark.parametrize("values", [[0, 0, 0], [None, None, None], [math.nan, math.inf, None]])
def test_bar_chart_all_zero_or_missing(values: list[float | None]) -> None:
    root = parse(bar_chart(["a", "b", "c"], values, title="t", unit="requests", compare=values))
    for rect in by_class(root, "bar"):
        assert float(rect.get("width", "nan")) == 0
    markup = ET.tostring(root, encoding="unicode")
    numbers = re.findall(r'\s(?:x|y|x1|x2|y1|y2|width|height)="([^"]*)"', markup)
    assert numbers
    assert all(math.isfinite(float(n)) for n in numbers)
    assert texts(root, "tick")[0] == "0.0"
    if values[0] is None:
        assert "No data." in desc_text(root)


def test_negative_values_draw_left_of_zero() -> None:
    root = parse(bar_chart(["up", "down"], [5, -3], title="t", unit="change"))
    up, down = by_class(root, "bar")
    axis = by_class(root, "axis")[0]
    zero = float(axis.get("x1", "nan"))
    assert float(up.get("x", "nan")) == pytest.approx(zero)
    assert float(down.get("x", "nan")) + float(down.get("width", "nan")) == pytest.approx(zero)


def test_long_labels_wrap() -> None:
    long = "Sanitation - Dirty Street, Alley, Lot and Property Maintenance Request"
    root = parse(bar_chart([long, "Pothole"], [10, 5], title="t", unit="requests"))
    label = by_class(root, "label")[0]
    lines = [span.text for span in label.iter(f"{SVG}tspan")]
    assert len(lines) > 1
    assert " ".join(line or "" for line in lines) == long
    # the label column never takes more than 38% of the width; bars start after it
    first_bar_x = float(by_class(root, "bar")[0].get("x", "nan"))
    assert first_bar_x <= 12 + 0.38 * 640 + 1
    # the full name stays in the tooltip and the description
    tooltip = by_class(root, "bar")[0].find(f"{SVG}title")
    assert tooltip is not None
    assert tooltip.text == f"{long} (This area): 10"
    assert f"{long}: 10" in desc_text(root)


def test_very_long_label_truncated_to_three_lines() -> None:
    label = " ".join(["word"] * 60)
    root = parse(bar_chart([label], [1], title="t", unit="requests"))
    lines = [span.text or "" for span in by_class(root, "label")[0].iter(f"{SVG}tspan")]
    assert len(lines) == 3
    assert lines[-1].endswith("\u2026")


@pytest.mark.parametrize("n", [1, 2, 7, 12, 24])
def test_bar_chart_sizes(n: int) -> None:
    labels = [f"Category {i}" for i in range(n)]
    values = [float(i * 7 % 11) for i in range(n)]
    root = parse(bar_chart(labels, values, title="t", unit="requests", compare=values[::-1]))
    assert len(by_class(root, "bar")) == n
    assert len(by_class(root, "compare-bar")) == n
    # rows do not overlap and everything fits in the declared height
    ys = [float(el.get("y", "nan")) for el in by_class(root, "bar")]
    assert ys == sorted(ys)
    assert all(b - a >= 20 for a, b in itertools.pairwise(ys))
    assert max(ys) < float(root.get("height", "0"))
    assert f"for {n} categor" in desc_text(root)


def test_height_is_a_minimum() -> None:
    root = parse(bar_chart(DAYS, SHARES, title="t", unit="u", height=900))
    assert root.get("height") == "900"
    short = parse(bar_chart(DAYS, SHARES, title="t", unit="u", height=50))
    assert float(short.get("height", "0")) > 200


def test_bar_chart_errors() -> None:
    with pytest.raises(ValueError, match="values has 2 values but there are 3 labels"):
        bar_chart(["a", "b", "c"], [1, 2], title="t", unit="u")
    with pytest.raises(ValueError, match="compare has 1 values"):
        bar_chart(["a", "b"], [1, 2], title="t", unit="u", compare=[1])
    with pytest.raises(ValueError, match="at least one label"):
        bar_chart([], [], title="t", unit="u")


# --------------------------------------------------------------------------- line chart


MONTHS = [f"{m} 2024" for m in ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]]


def test_line_chart_structure() -> None:
    series = {
        "District 5": [10, 12, 9, 14, 13, 15],
        "City": [11, 11, None, 12, float("nan"), 13],
    }
    root = parse(line_chart(MONTHS, series, title="Requests by month", unit="requests"))
    assert title_text(root) == "Requests by month"
    groups = by_class(root, "series")
    assert len(groups) == 2
    district, city = groups
    assert len([el for el in district if el.get("class") == "point"]) == 6
    assert len([el for el in city if el.get("class") == "point"]) == 4
    # the city's gaps break its line into runs: [0, 1], [3] (a lone marker), [5]
    assert len([el for el in district if el.get("class") == "line"]) == 1
    assert len([el for el in city if el.get("class") == "line"]) == 1
    # series differ in dash pattern and marker shape, not only colour
    d_line = next(el for el in district if el.get("class") == "line")
    c_line = next(el for el in city if el.get("class") == "line")
    assert d_line.get("stroke-dasharray") != c_line.get("stroke-dasharray")
    d_marker = next(el for el in district if el.get("class") == "point")
    c_marker = next(el for el in city if el.get("class") == "point")
    assert d_marker.tag != c_marker.tag
    legend = "".join(by_class(root, "legend")[0].itertext())
    assert "District 5" in legend
    assert "City" in legend
    assert sorted(texts(root, "end-value")) == ["13", "15"]
    desc = desc_text(root)
    assert "Line chart of requests over 6 periods (Jan 2024 to Jun 2024)." in desc
    assert "District 5: 10 at the start, 15 at the end; highest Jun 2024 (15)" in desc
    assert "lowest Mar 2024 (9)" in desc
    assert "City: 11 at the start, 13 at the end" in desc
    assert "2 period(s) without data" in desc
    tips = [el.findtext(f"{SVG}title") for el in city if el.get("class") == "point"]
    assert tips[0] == "City, Jan 2024: 11"


def test_line_chart_single_point() -> None:
    root = parse(line_chart(["Jan 2024"], {"A": [3], "B": [None]}, title="t", unit="u"))
    assert len(by_class(root, "point")) == 1
    assert by_class(root, "line") == []
    assert "over 1 period (Jan 2024)" in desc_text(root)
    assert "B: no data." in desc_text(root)


@pytest.mark.parametrize("values", [[0, 0, 0], [None, None, None]])
def test_line_chart_all_zero_or_missing(values: list[float | None]) -> None:
    svg = line_chart(["a", "b", "c"], {"A": values}, title="t", unit="u")
    root = parse(svg)
    assert "nan" not in svg
    assert "inf" not in svg
    if values[0] is None:
        assert by_class(root, "point") == []
        assert texts(root, "no-data") == ["no data"]
    else:
        assert len(by_class(root, "point")) == 3
        ys = {el.get("cy") for el in by_class(root, "point")}
        assert len(ys) == 1  # flat line on the zero axis


@pytest.mark.parametrize("n", [1, 2, 12, 24])
def test_line_chart_sizes(n: int) -> None:
    labels = [f"Month {i:02d}" for i in range(n)]
    series = {"Area": [float(i % 5) for i in range(n)], "City": [2.0] * n}
    root = parse(line_chart(labels, series, title="t", unit="u"))
    assert len(by_class(root, "point")) == 2 * n
    shown = texts(root, "x-label")
    assert shown[0] == labels[0]
    assert 1 <= len(shown) <= n
    # shown labels never overlap (about 7.2 px per character)
    xs = [float(el.get("x", "nan")) for el in by_class(root, "x-label")]
    assert all(b - a >= 7.2 * len(labels[0]) for a, b in itertools.pairwise(xs))


def test_line_chart_errors() -> None:
    with pytest.raises(ValueError, match="at least one series"):
        line_chart(["a"], {}, title="t", unit="u")
    with pytest.raises(ValueError, match="series 'A' has 1 values but there are 2 labels"):
        line_chart(["a", "b"], {"A": [1]}, title="t", unit="u")


# --------------------------------------------------------------------------- escaping


def test_hostile_labels_are_escaped_everywhere() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    svgs = [
        bar_chart(
            HOSTILE,
            values,
            title=HOSTILE[0],
            unit=HOSTILE[1],
            compare=values,
            compare_label=HOSTILE[2],
            series_label=HOSTILE[3],
            chart_id=HOSTILE[3],
        ),
        line_chart(
            HOSTILE,
            {HOSTILE[0]: values, HOSTILE[3]: values[::-1]},
            title=HOSTILE[2],
            unit=HOSTILE[3],
        ),
    ]
    for svg in svgs:
        root = parse(svg)  # well-formed XML despite the labels
        assert "<img" not in svg
        assert "<script" not in svg
        assert "</script" not in svg
        assert "<svg onload" not in svg
        assert "`" not in svg
        assert svg.count("<svg") == 1
        assert "&lt;img src=x onerror=alert(1)&gt;" in svg
        assert "&#96;${alert(1)}&#96;" in svg
        assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in svg
        assert "&quot;&#x27;&gt;&lt;svg onload=alert(1)&gt;" in svg
        allowed = {"svg", "title", "desc", "rect", "text", "tspan", "g", "line", "polyline"}
        allowed |= {"circle", "polygon"}
        for element in root.iter():
            assert element.tag.removeprefix(SVG) in allowed
            assert not any(name.lower().startswith("on") for name in element.attrib)
        # the parsed text gives back the labels exactly
        desc = desc_text(root)
        for label in HOSTILE:
            assert label in desc or label in ET.tostring(root, encoding="unicode", method="text")


def test_hostile_labels_in_table() -> None:
    html = chart_table(
        HOSTILE,
        {HOSTILE[0]: [1, 2, 3, 4], "Share": ["10%", HOSTILE[1], None, math.nan]},
        caption=HOSTILE[2],
        label_header=HOSTILE[3],
    )
    table = ET.fromstring(html)
    assert "<img" not in html
    assert "<script" not in html
    assert "`" not in html
    assert table.findtext("caption") == HOSTILE[2]
    assert [th.text for th in table.iter("th") if th.get("scope") == "row"] == HOSTILE
    heads = [th.text for th in table.iter("th") if th.get("scope") == "col"]
    assert heads == [HOSTILE[3], HOSTILE[0], "Share"]
    cells = [[td.text for td in tr.iter("td")] for tr in table.iter("tr")][1:]
    assert cells[1] == ["2", HOSTILE[1]]
    assert cells[2] == ["3", "no data"]
    assert cells[3] == ["4", "no data"]


def test_xml_invalid_characters_dropped() -> None:
    svg = bar_chart(["bell\x07 and null\x00", "tab\tok"], [1, 2], title="t\x0b", unit="u")
    root = parse(svg)
    assert "bell and null" in desc_text(root)


def test_no_script_style_or_external_resources() -> None:
    for svg in (
        bar_chart(DAYS, SHARES, title="t", unit="u", compare=CITY),
        line_chart(DAYS, {"A": SHARES, "B": CITY}, title="t", unit="u"),
    ):
        lowered = svg.lower()
        for token in ("<script", "style", "href", "url(", "@import", "<foreignobject"):
            assert token not in lowered


# --------------------------------------------------------------------------- table


def test_chart_table_structure() -> None:
    html = chart_table(
        DAYS,
        {"District 5": SHARES, "City": CITY},
        caption="Share of requests by day",
        value_format="{:.1%}",
        label_header="Day",
        table_id="days table",
    )
    table = ET.fromstring(html)
    assert table.tag == "table"
    assert table.get("id") == "days-table"
    assert table.findtext("caption") == "Share of requests by day"
    head = table.find("thead")
    assert head is not None
    assert [(th.get("scope"), th.text) for th in head.iter("th")] == [
        ("col", "Day"),
        ("col", "District 5"),
        ("col", "City"),
    ]
    body = table.find("tbody")
    assert body is not None
    rows = body.findall("tr")
    assert len(rows) == 7
    first = rows[0]
    assert [(th.get("scope"), th.text) for th in first.findall("th")] == [("row", "Mon")]
    assert [td.text for td in first.findall("td")] == ["18.0%", "17.0%"]


def test_chart_table_default_format_and_errors() -> None:
    table = ET.fromstring(chart_table(["a"], {"n": [1234567.4]}, caption="c"))
    assert [td.text for td in table.iter("td")] == ["1,234,567"]
    assert next(th.text for th in table.iter("th")) is None  # empty label header
    with pytest.raises(ValueError, match="column 'n' has 2 values but there are 1 labels"):
        chart_table(["a"], {"n": [1, 2]}, caption="c")


# --------------------------------------------------------------------------- ids, determinism, contrast


def test_deterministic_output_and_unique_ids() -> None:
    one = bar_chart(DAYS, SHARES, title="t", unit="u", compare=CITY)
    assert one == bar_chart(DAYS, SHARES, title="t", unit="u", compare=CITY)
    two = bar_chart(DAYS, CITY, title="t", unit="u", compare=SHARES)
    three = line_chart(DAYS, {"A": SHARES}, title="t", unit="u")
    assert three == line_chart(DAYS, {"A": SHARES}, title="t", unit="u")

    def ids(svg: str) -> set[str]:
        return {el.get("id") or "" for el in ET.fromstring(svg).iter()} - {""}

    assert ids(one).isdisjoint(ids(two))
    assert ids(one).isdisjoint(ids(three))
    assert ids(two).isdisjoint(ids(three))


def test_caller_chart_id_is_sanitised() -> None:
    root = parse(bar_chart(["a"], [1], title="t", unit="u", chart_id="weekday chart!"))
    assert root.get("id") == "weekday-chart-"
    root = parse(line_chart(["a"], {"A": [1]}, title="t", unit="u", chart_id="5-months"))
    assert root.get("id") == "chart-5-months"


def test_contrast() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676") == pytest.approx(4.54, abs=0.01)  # the WCAG AA grey
    assert contrast_ratio(palette.TEXT_COLOUR) >= 7
    assert contrast_ratio(palette.MUTED_TEXT) >= 4.5
    for colour, _, _ in palette.LINE_STYLES:
        assert contrast_ratio(colour) >= 4.5
    assert contrast_ratio(palette.BAR_COLOUR) >= 4.5
    # every text element in real output is drawn in a colour with >= 4.5:1 on the background
    for svg in (
        bar_chart(DAYS, SHARES, title="t", unit="u", compare=CITY),
        line_chart(DAYS, {"A": SHARES, "B": [None, *CITY[1:]]}, title="t", unit="u"),
    ):
        root = ET.fromstring(svg)
        background = by_class(root, "background")[0]
        assert background.get("fill") == BACKGROUND
        default = root.get("fill", "")
        for element in root.iter(f"{SVG}text"):
            assert contrast_ratio(element.get("fill", default)) >= 4.5

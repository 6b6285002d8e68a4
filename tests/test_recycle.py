"""The RecycleStat page: requests of the selected types by weekday x district, checked by pivot."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from geo311.cli import main
from geo311.site.layer import SiteLayer
from geo311.site.recycle import WEEKDAYS, recycle_page, recycle_plan, weekday_table
from geo311.site.render import Renderer, environment

pytest.importorskip("folium")

BALTIMORE_SAMPLE = ("baltimore", "sr311_2019_oct_sample.csv")
LA_SAMPLE = ("los_angeles", "records", "myla311_2018-01-01_2018-01-04.csv.gz")


# --------------------------------------------------------------------------- helpers


def _page_cells(site: Path) -> tuple[Path, dict[str, list[str]]]:
    """The RecycleStat page of a site and its cells: area id -> 7 counts ("" = no data)."""
    pages = sorted(site.glob("recycle-*.html"))
    assert len(pages) == 1, pages
    html = pages[0].read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-area-id="([^"]*)">(.*?)</tr>', html, re.S)
    cells = {aid: re.findall(r'data-count="([^"]*)"', body) for aid, body in rows}
    assert all(len(c) == len(WEEKDAYS) for c in cells.values())
    return pages[0], cells


def _pivot(kept: Path, *, layer: str, types: list[str], timezone: str) -> pd.DataFrame:
    """Counted requests of ``types`` by area and local weekday, straight from the kept rows.

    The exclusions the indicators apply by default: no creation time, no area,
    duplicates, transfers and staff-filed (proactive) requests.  (No request
    is created after the default as-of time, each file's latest timestamp.)
    """
    rows = gpd.read_parquet(kept)
    keep = (
        rows["service_name"].isin(types)
        & rows[f"{layer}_id"].notna()
        & rows["requested_datetime"].notna()
        & ~rows["is_duplicate"].fillna(False).astype(bool)
        & ~rows["is_transfer"].fillna(False).astype(bool)
        & ~rows["is_proactive"].fillna(False).astype(bool)
    )
    chosen = rows[keep]
    weekday = chosen["requested_datetime"].dt.tz_convert(timezone).dt.day_name()
    return pd.crosstab(
        chosen[f"{layer}_id"].astype(str), pd.Categorical(weekday, WEEKDAYS), dropna=False
    ).reindex(columns=list(WEEKDAYS), fill_value=0)


def _check_against_pivot(site: Path, pivot: pd.DataFrame, covered: set[str]) -> int:
    """Assert the page equals the pivot (no data exactly where uncovered); return the total."""
    _, cells = _page_cells(site)
    assert list(cells)[-1] == "city"
    for area_id, counts in cells.items():
        for day, text in zip(WEEKDAYS, counts, strict=True):
            if day not in covered:
                assert text == "", (area_id, day)  # "no data", never 0
                continue
            if area_id == "city":
                want = int(pivot[day].sum())
            else:
                want = int(pivot.at[area_id, day]) if area_id in pivot.index else 0
            assert int(text.replace(",", "")) == want, (area_id, day)
    return sum(int(t.replace(",", "")) for a, c in cells.items() if a != "city" for t in c if t)


def _covered(kept: Path, timezone: str) -> set[str]:
    """Weekdays of the local dates from the first to the last request (one input file)."""
    when = gpd.read_parquet(kept)["requested_datetime"].dropna().dt.tz_convert(timezone)
    days = pd.date_range(when.min().normalize(), when.max().normalize(), freq="D")
    return set(days.day_name())


def _run(args: list[str], shared_data: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"GEO311_DATA_DIR": str(shared_data)})
    return result.exit_code, result.output


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def baltimore_recycle(missed_pickup_run: tuple) -> tuple:
    """`geo311 run --type "mixed refuse" --type recycling` on the October 2019 sample.

    conftest's shared build (the command, tiles on, no PNGs, the joined
    requests kept): ``(root, output)``, the site in ``root / "s"``.
    """
    return missed_pickup_run


def test_baltimore_page_equals_a_pandas_pivot(baltimore_recycle: tuple) -> None:
    root, output = baltimore_recycle
    types = ["SW-Mixed Refuse", "SW-Recycling"]  # the missed-pickup types
    # the matches are listed in the output
    assert '--type "mixed refuse" matched 1: SW-Mixed Refuse' in output
    assert '--type "recycling" matched 1: SW-Recycling' in output
    kept = root / "kept.parquet"
    pivot = _pivot(kept, layer="council_districts", types=types, timezone="America/New_York")
    covered = _covered(kept, "America/New_York")
    assert len(covered) < len(WEEKDAYS)  # the sample has weekdays to mark "no data"
    total = _check_against_pivot(root / "s", pivot, covered)
    assert total == int(pivot.to_numpy().sum()) > 0
    page, cells = _page_cells(root / "s")
    assert page.name == "recycle-mixed-refuse-recycling.html"
    assert len(cells) == 14 + 1  # every council district and the city
    html = page.read_text(encoding="utf-8")
    assert ">Council District 1<" in html  # the layer's display names
    assert html.count("no data</td>") == len(cells) * (len(WEEKDAYS) - len(covered))
    assert "SW-Mixed Refuse" in html and "SW-Recycling" in html  # the selection, stated
    # seven weekday maps, the uncovered ones marked, each with every district
    panels = re.findall(
        r'<figure style="margin: 0" data-weekday="(\w+)">(.*?)</figure>', html, re.S
    )
    assert [day for day, _ in panels] == list(WEEKDAYS)
    for day, body in panels:
        assert body.count("<path ") == 14
        assert ("no data (not covered)" in body) == (day not in covered)


def test_baltimore_csv_is_exactly_the_table(baltimore_recycle: tuple) -> None:
    root, _ = baltimore_recycle
    page, cells = _page_cells(root / "s")
    html = page.read_text(encoding="utf-8")
    csv = page.with_suffix(".csv")
    assert f'href="{csv.name}"' in html
    table = pd.read_csv(csv, dtype={"area_id": str})
    assert list(table.columns) == [
        "area_id", "area", "weekday", "covered_days", "requests", "requests_per_covered_day",
    ]  # fmt: skip
    assert list(table["area_id"].drop_duplicates()) == list(cells)
    shown = [int(t.replace(",", "")) if t else None for c in cells.values() for t in c]
    in_csv = [None if pd.isna(v) else int(v) for v in table["requests"]]
    assert in_csv == shown
    covered = table["covered_days"] > 0
    assert table.loc[~covered, "requests"].isna().all()
    rate = table.loc[covered, "requests"] / table.loc[covered, "covered_days"]
    assert (rate.round(2) == table.loc[covered, "requests_per_covered_day"]).all()
    # the spreadsheet beside it holds the same table
    xlsx = page.with_suffix(".xlsx")
    assert f'href="{xlsx.name}"' in html
    sheet = pd.read_excel(xlsx, dtype={"area_id": str})
    pd.testing.assert_frame_equal(sheet, table, check_dtype=False)


def test_every_district_page_links_the_recycle_page(baltimore_recycle: tuple) -> None:
    root, _ = baltimore_recycle
    districts = sorted((root / "s").glob("district-*.html"))
    assert len(districts) == 14
    for page in districts:
        assert 'href="recycle-mixed-refuse-recycling.html"' in page.read_text(encoding="utf-8")


def test_the_selection_is_in_the_table_metadata(baltimore_recycle: tuple) -> None:
    root, _ = baltimore_recycle
    import json  # noqa: PLC0415

    meta = json.loads((root / "s" / "indicators" / "council_districts.json").read_text())
    assert meta["type_selection"]["terms"]["mixed refuse"] == ["SW-Mixed Refuse"]
    assert (
        meta["indicators"]["filters"]["service_types"] == meta["type_selection"]["service_types"]
    )


def test_a_typo_exits_2_and_names_the_type(shared_data: Path, tmp_path: Path) -> None:
    args = [
        "run", str(shared_data.joinpath(*BALTIMORE_SAMPLE)), "--city", "baltimore",
        "--type", "recyclng", "--out", str(tmp_path / "s"), "--no-png",
    ]  # fmt: skip
    code, output = _run(args, shared_data)
    assert code == 2
    assert 'did you mean "SW-Recycling"' in output
    assert not (tmp_path / "s").exists()


def test_indicators_command_takes_types_and_families(
    baltimore_recycle: tuple, shared_data: Path, tmp_path: Path
) -> None:
    root, _ = baltimore_recycle
    base = ["indicators", str(root / "kept.parquet"), "--city", "baltimore"]
    base += ["--layer", "council_districts"]
    code, output = _run(
        [*base, "--type", "MIXD refuse", "--out", str(tmp_path / "a")], shared_data
    )
    assert code == 2
    assert 'did you mean "SW-Mixed Refuse"' in output
    code, output = _run(
        [*base, "--family", "Missed Pickup", "--out", str(tmp_path / "b")], shared_data
    )
    assert code == 0, output
    assert '--family "missed pickup": SW-Mixed Refuse, SW-Recycling' in output
    patterns = pd.read_csv(
        tmp_path / "b" / "council_districts.patterns.csv", dtype={"area_id": str}
    )
    week = patterns[(patterns["pattern"] == "day_of_week") & (patterns["area_id"] == "city")]
    pivot = _pivot(
        root / "kept.parquet",
        layer="council_districts",
        types=["SW-Mixed Refuse", "SW-Recycling"],
        timezone="America/New_York",
    )
    assert week.set_index("bucket")["requests"].reindex(WEEKDAYS).tolist() == [
        int(pivot[d].sum()) for d in WEEKDAYS
    ]


def test_community_statistical_areas_as_the_district_layer(
    shared_data: Path, tmp_path: Path
) -> None:
    # 55 areas, none of them council districts: the weekday table is by the chosen layer
    kept = tmp_path / "kept.parquet"
    args = [
        "-q", "run", str(shared_data.joinpath(*BALTIMORE_SAMPLE)), "--city", "baltimore",
        "--family", "missed pickup", "--district-layer", "csas",
        "--layer", "csas", "--out", str(tmp_path / "s"), "--no-png", "--no-tiles",
        "--keep-requests", str(kept),
    ]  # fmt: skip
    code, output = _run(args, shared_data)
    assert code == 0, output
    pivot = _pivot(
        kept,
        layer="csas",
        types=["SW-Mixed Refuse", "SW-Recycling"],
        timezone="America/New_York",
    )
    total = _check_against_pivot(tmp_path / "s", pivot, _covered(kept, "America/New_York"))
    assert total == int(pivot.to_numpy().sum()) > 0
    page, cells = _page_cells(tmp_path / "s")
    assert page.name == "recycle-missed-pickup.html"
    assert len(cells) == len(list((tmp_path / "s").glob("district-*.html"))) + 1 > 50


def test_los_angeles_type_by_council_district(shared_data: Path, tmp_path: Path) -> None:
    kept = tmp_path / "kept.parquet"
    args = [
        "-q", "run", str(shared_data.joinpath(*LA_SAMPLE)), "--city", "los_angeles",
        "--type", "bulky", "--out", str(tmp_path / "s"), "--no-png", "--no-tiles",
        "--keep-requests", str(kept),
    ]  # fmt: skip
    code, output = _run(args, shared_data)
    assert code == 0, output
    assert '--type "bulky" matched 1: Bulky Items' in output
    pivot = _pivot(
        kept, layer="council_districts", types=["Bulky Items"], timezone="America/Los_Angeles"
    )
    covered = _covered(kept, "America/Los_Angeles")
    total = _check_against_pivot(tmp_path / "s", pivot, covered)
    assert total == int(pivot.to_numpy().sum()) > 1000
    _, cells = _page_cells(tmp_path / "s")
    assert len(cells) == 15 + 1


# --------------------------------------------------------------------------- small fixtures


def _layer(names: list[str]) -> SiteLayer:
    ids = [str(i + 1) for i in range(len(names))]
    indicators = pd.DataFrame({"area_name": names}, index=pd.Index(ids, name="area_id"))
    rows = []
    for area_id in [*ids, "city"]:
        for order, day in enumerate(WEEKDAYS):
            covered = 0 if day == "Tuesday" else 2
            count = 0 if day == "Tuesday" else order + (1 if area_id == "1" else 0)
            rows.append((area_id, "day_of_week", day, order, count, covered))
    patterns = pd.DataFrame(
        rows, columns=["area_id", "pattern", "bucket", "bucket_order", "requests", "covered_days"]
    )
    metadata = {
        "indicators": {"as_of": "2024-04-01T00:00:00+00:00", "timezone": "America/New_York"},
        "type_selection": {"terms": {"<b>pickup": ["=cmd|' /C calc'!A0"]}, "families": {}},
    }
    return SiteLayer(
        key="wards", title="Wards", indicators=indicators, city=pd.Series(dtype=object),
        patterns=patterns, services=pd.DataFrame(), areas=gpd.GeoDataFrame(),
        metadata=metadata, equity=pd.DataFrame(), disparity=pd.DataFrame(),
    )  # fmt: skip


def test_weekday_table_marks_uncovered_days_not_zero() -> None:
    layer = _layer(["North", "South"])
    table = weekday_table(layer)
    assert list(table["area"].drop_duplicates()) == ["North", "South", "Citywide"]
    tuesday = table[table["weekday"] == "Tuesday"]
    assert tuesday["requests"].isna().all()
    assert tuesday["requests_per_covered_day"].isna().all()
    monday = table[(table["weekday"] == "Monday") & (table["area_id"] == "1")].iloc[0]
    assert (monday["requests"], monday["requests_per_covered_day"]) == (1, 0.5)
    assert layer.patterns["requests"].eq(0).any()  # the input is not modified


def test_no_selection_no_page(tmp_path: Path) -> None:
    layer = _layer(["North"])
    plain = layer._replace(metadata={"indicators": {}})
    assert recycle_plan(plain, tmp_path) is None
    assert recycle_plan(None, tmp_path) is None


def test_names_from_data_are_escaped_and_csv_guarded(tmp_path: Path) -> None:
    names = ['<script>alert("x")</script>', '=HYPERLINK("http://x")']
    layer = _layer(names)
    display = gpd.GeoDataFrame(
        {"area_id": ["1", "2"], "area_name": names},
        geometry=[box(-76.70, 39.20, -76.60, 39.30), box(-76.60, 39.20, -76.50, 39.30)],
        crs="EPSG:4326",
    )
    plan = recycle_plan(layer, tmp_path)
    assert plan is not None
    assert plan.page.name == "recycle-b-pickup.html"
    common = {
        "site_title": "t", "synthetic": False, "as_of": "2024-04-01", "version": "0",
        "map_parts": None, "has_sortable": False, "current": "", "recycle_link": None,
    }  # fmt: skip
    render = Renderer(environment(), common, tiles=False, self_contained=True)
    assert recycle_page(render, layer, plan, display=display) > 0
    html = plan.page.read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert html.count("<svg ") == len(WEEKDAYS)
    assert "<title>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;: 1 requests" in html
    assert "<title>Tuesday: no data (not covered)</title>" in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;pickup" in html
    text = plan.csv.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    assert "\n2,=HYPERLINK" not in text.replace("\r\n", "\n")

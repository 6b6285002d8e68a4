"""build_site from tables in memory: layer choice, titles, area labels, partial outputs.

The tables are the synthetic demo city's (2,000 requests; conftest's
``demo_layer_tables``), built once and never written to disk: the site reads
nothing back.
"""

from __future__ import annotations

import logging
import re
from html import escape as html_escape
from pathlib import Path

import pandas as pd
import pytest

from geo311._errors import ConfigError, OptionError, OutputExistsError
from geo311.indicators.tables import LayerTables
from geo311.io.tables import read_tables
from geo311.site import build
from geo311.site.build import MANIFEST, build_site
from geo311.site.layer import area_label, check_label_format

pytest.importorskip("folium")

FAST = {"png": False, "tiles": False}


@pytest.fixture
def tables(demo_layer_tables: dict[str, LayerTables]) -> dict[str, LayerTables]:
    return demo_layer_tables


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "fmt",
    ["{name.__class__}", "{id!r}", "{id:>10}", "{name[0]}", "{0}", "{}", "{area}", "Ward {", "}"],
)
def test_label_formats_accept_only_plain_id_and_name(fmt: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(fmt))):
        check_label_format(fmt)


def test_label_values_are_inserted_as_text() -> None:
    assert area_label("Ward {id}", area_id="3", name="x") == "Ward 3"
    assert area_label("{{id}} {name}", area_id="3", name="{id.__class__}") == "{id} {id.__class__}"
    assert area_label("Neighborhood Council: {name}", area_id="1", name="Arleta") == (
        "Neighborhood Council: Arleta"
    )


def test_labels_and_titles_name_pages_tables_and_headings(tables, tmp_path: Path) -> None:
    before = {k: t.indicators.copy() for k, t in tables.items()}
    site = build_site(
        tables,
        tmp_path / "site",
        district_layer="council_districts",
        titles={"council_districts": "Wards", "neighborhoods": "Community areas"},
        area_labels={"council_districts": "Ward {id}"},
        **FAST,
    )
    for key, frame in before.items():  # the input is not modified
        pd.testing.assert_frame_equal(tables[key].indicators, frame)
    ids = [str(i) for i in tables["council_districts"].indicators.index]
    districts = sorted(p for p in site.pages if p.name.startswith("district-"))
    assert len(districts) == len(ids)
    for area_id in ids:
        page = (site.out_dir / f"district-{area_id}.html").read_text(encoding="utf-8")
        assert f"<title>Ward {area_id} " in page
        assert f"<h1>Ward {area_id}</h1>" in page
        assert "Community areas in Ward" in page  # the smaller areas' title
    index = (site.out_dir / "index.html").read_text(encoding="utf-8")
    assert all(f">Ward {i}</a>" in index for i in ids)
    assert "Community areas" in index and "Wards" in index
    assert "Council districts" not in index  # no title made up from the key


def test_no_district_layer_no_district_pages_and_unknown_layers_refused(
    tables, tmp_path: Path
) -> None:
    site = build_site(tables, tmp_path / "site", **FAST)
    assert not [p for p in site.pages if p.name.startswith("district-")]
    fresh = tmp_path / "fresh"
    fresh.mkdir()  # the published folder has the mode of any new folder (not 0700)
    assert site.out_dir.stat().st_mode & 0o777 == fresh.stat().st_mode & 0o777
    assert {p.name for p in site.pages} >= {"map-neighborhoods.html", "map-council_districts.html"}
    with pytest.raises(OptionError, match=r"district_layer 'wards' is not among"):
        build_site(tables, tmp_path / "s2", district_layer="wards", **FAST)
    with pytest.raises(OptionError, match=r"area_layers 'tracts' is not among"):
        build_site(tables, tmp_path / "s3", area_layers=["tracts"], **FAST)
    with pytest.raises(ConfigError, match=r"area label of layer 'neighborhoods'"):
        build_site(tables, tmp_path / "s4", area_labels={"neighborhoods": "{name.upper}"}, **FAST)
    assert not (tmp_path / "s2").exists() and not (tmp_path / "s4").exists()


# --------------------------------------------------------------------------- partial outputs


def _leftovers(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if ".partial-" in p.name]


#: Publishing does not depend on what the pages show: one layer's maps keep these builds quick.
SMALL = {**FAST, "area_layers": ["council_districts"]}


def test_a_failed_build_leaves_no_folder_that_looks_finished(
    tables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> int:
        msg = "interrupted"
        raise RuntimeError(msg)

    monkeypatch.setattr(build, "index_page", crash)
    with pytest.raises(RuntimeError, match="interrupted"):
        build_site(tables, tmp_path / "site", district_layer="council_districts", **SMALL)
    assert not (tmp_path / "site").exists()  # pages were written to the staging folder only
    assert not _leftovers(tmp_path)


def test_an_interrupted_publish_is_named_on_rerun_and_replaced_with_overwrite(
    tables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "README.md").write_text("other files share the folder\n", encoding="utf-8")
    build_site(tables, out, **SMALL)
    assert (out / MANIFEST).is_file()
    # a second build dies while moving its pages into place (as a kill would)
    moves = {"n": 0}
    original = Path.replace

    def flaky(self: Path, target: Path) -> Path:
        moves["n"] += Path(target).parent == out  # a page moving from staging into place
        if moves["n"] > 3:
            msg = "killed"
            raise OSError(msg)
        return original(self, target)

    monkeypatch.setattr(Path, "replace", flaky)
    with pytest.raises(OSError, match="killed"):
        build_site(tables, out, overwrite=True, **SMALL)
    monkeypatch.undo()
    assert not (out / MANIFEST).exists()  # the folder does not look finished
    assert (out / "index.html").exists()
    # a leftover staging folder (as after kill -9) is removed with a warning
    (tmp_path / ".site.partial-stale").mkdir()
    with pytest.raises(OutputExistsError, match=r"incomplete site .*site\.json.*--overwrite"):
        build_site(tables, out, **SMALL)
    assert not _leftovers(tmp_path)
    with caplog.at_level(logging.WARNING, logger="geo311.site.build"):
        site = build_site(tables, out, overwrite=True, **SMALL)
    assert "replacing the incomplete site" in caplog.text
    assert (out / MANIFEST).is_file() and (out / "README.md").is_file()
    assert all(p.is_file() for p in site.pages)
    # a finished site is refused as before, naming the page
    with pytest.raises(OutputExistsError, match=r"output exists: .*index\.html"):
        build_site(tables, out, **SMALL)


# --------------------------------------------------------------------------- real cities


@pytest.fixture(scope="module")
def los_angeles_tables(shared_data: Path) -> dict:
    """The tables of one real LA file with both LA layers, in memory as `geo311 run` has them.

    The pipeline of `geo311 run` without its site, which the test builds
    itself (`geo311 run` on this file, site included, is test_recycle.py's
    Los Angeles test).  The neighbourhood councils' display geometry is then
    the one test_browser_layout.py's Los Angeles site simplifies and caches
    for the run (the outlines read back from a tables folder hash apart).
    """
    from geo311.pipeline import run  # noqa: PLC0415

    records = shared_data / "los_angeles" / "records" / "myla311_2018-01-01_2018-01-04.csv.gz"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_DATA_DIR", str(shared_data))
        result = run(
            records, city="los_angeles", layers=["neighborhood_councils", "council_districts"]
        )
    return dict(result.tables)


def test_los_angeles_pages_are_named_by_the_labels(los_angeles_tables, tmp_path: Path) -> None:
    site = build_site(
        los_angeles_tables,
        tmp_path / "site",
        district_layer="council_districts",
        titles={
            "council_districts": "Council districts",
            "neighborhood_councils": "Neighborhood councils",
        },
        area_labels={
            "council_districts": "Council District {id}",
            "neighborhood_councils": "Neighborhood Council: {name}",
        },
        **FAST,
    )
    names = {p.name for p in site.pages}
    assert {"map-neighborhood_councils.html", "map-council_districts.html"} <= names
    districts = sorted(n for n in names if n.startswith("district-"))
    assert len(districts) == 15
    page = (site.out_dir / "district-5.html").read_text(encoding="utf-8")
    assert "<h1>Council District 5</h1>" in page
    assert "Neighborhood councils in Council District 5" in page
    councils = los_angeles_tables["neighborhood_councils"].areas["area_name"].dropna()
    table = (site.out_dir / "map-neighborhood_councils.html").read_text(encoding="utf-8")
    shown = re.findall(r'<th scope="row">Neighborhood Council: ([^<]+)</th>', table)
    assert len(shown) == len(los_angeles_tables["neighborhood_councils"].indicators) == 99
    assert set(shown) <= {html_escape(n) for n in councils}


def test_baltimore_gets_one_page_per_neighbourhood(baltimore_run: tuple, tmp_path: Path) -> None:
    _, _, root = baltimore_run
    tables = read_tables(
        root / "site" / "indicators", layers=["neighborhoods", "council_districts"]
    )
    # 25 of the 278 neighbourhoods keep the test quick; each gets its own page
    full = tables["neighborhoods"]
    keep = [str(i) for i in full.indicators.index[:25]]

    def some(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame.index.astype(str).isin(keep)]

    tables["neighborhoods"] = full._replace(
        indicators=some(full.indicators),
        patterns=some(full.patterns),
        services=some(full.services),
        areas=full.areas[full.areas["area_id"].astype(str).isin(keep)],
    )
    site = build_site(
        tables,
        tmp_path / "site",
        district_layer="neighborhoods",
        area_labels={"council_districts": "Council District {id}"},
        **FAST,
    )
    hoods = tables["neighborhoods"].indicators
    pages = [p for p in site.pages if p.name.startswith("district-")]
    assert len(pages) == len(hoods) == 25
    index = (site.out_dir / "index.html").read_text(encoding="utf-8")
    for name in hoods["area_name"]:
        assert f">{html_escape(str(name))}</a>" in index
    districts = (site.out_dir / "map-council_districts.html").read_text(encoding="utf-8")
    assert '<th scope="row">Council District 1</th>' in districts

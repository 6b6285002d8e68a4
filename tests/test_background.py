"""Work done by a forked child process: the site's PNGs, its layers' display geometry."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from geo311 import background
from geo311._errors import OptionError
from geo311.background import Background
from geo311.indicators.tables import LayerTables
from geo311.site import build
from geo311.site.build import build_site

pytest.importorskip("matplotlib")
forks = pytest.mark.skipif(not background.can_fork(), reason="children are forked on Linux only")


def forked(work: object, *, background: bool) -> Background:
    return Background(work, what="drawing the test", advice="try again", background=background)


def _write_pid(path: Path) -> list[Path]:
    path.write_text(str(os.getpid()), encoding="utf-8")
    return [path]


@forks
def test_the_child_draws_and_the_builder_gets_the_paths(tmp_path: Path) -> None:
    target = tmp_path / "map.png"
    with forked(lambda: _write_pid(target), background=True) as child:
        paths = child.result()
    assert paths == [target]
    assert int(target.read_text(encoding="utf-8")) != os.getpid()
    assert not multiprocessing.active_children()


def test_without_a_child_the_drawing_runs_here_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "map.png"
    here = forked(lambda: _write_pid(target), background=False)
    assert not target.exists()  # nothing drawn before the result is asked for
    assert here.result() == [target]
    assert int(target.read_text(encoding="utf-8")) == os.getpid()


@forks
def test_what_the_child_raises_is_raised_in_the_builder() -> None:
    def fail() -> list[Path]:
        msg = "column 'rate' is not in the table"
        raise OptionError(msg)

    with pytest.raises(OptionError, match="column 'rate' is not in the table"):
        forked(fail, background=True).result()


@forks
def test_a_child_that_dies_is_one_clear_error() -> None:
    def die() -> list[Path]:
        os._exit(3)

    ended = r"the process drawing the test ended without a result \(exit code 3\); try again"
    with pytest.raises(RuntimeError, match=ended):
        forked(die, background=True).result()


@forks
def test_a_child_no_longer_wanted_is_ended(tmp_path: Path) -> None:
    def slow() -> list[Path]:
        time.sleep(60)
        return _write_pid(tmp_path / "late.png")

    started = time.monotonic()
    with pytest.raises(KeyError), forked(slow, background=True):
        msg = "the pages failed"
        raise KeyError(msg)
    assert time.monotonic() - started < 30
    assert not multiprocessing.active_children()
    assert not (tmp_path / "late.png").exists()


@pytest.fixture
def tables(demo_layer_tables: dict[str, LayerTables]) -> dict[str, LayerTables]:
    return demo_layer_tables


@forks
def test_pngs_drawn_by_the_child_equal_those_drawn_here(
    tables: dict[str, LayerTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forked = build_site(tables, tmp_path / "forked", tiles=False)
    monkeypatch.setattr(build, "can_fork", lambda: False)
    here = build_site(tables, tmp_path / "here", tiles=False)
    assert len(forked.pngs) == len(here.pngs) >= 4
    for a, b in zip(forked.pngs, here.pngs, strict=True):
        assert a.relative_to(forked.out_dir) == b.relative_to(here.out_dir)
        assert a.read_bytes() == b.read_bytes()
    manifests = [json.loads((s.out_dir / "site.json").read_text("utf-8")) for s in (forked, here)]
    assert manifests[0] == manifests[1]  # paths are relative to the site: the same
    assert len(manifests[0]["pngs"]) == len(here.pngs)


@forks
def test_a_failing_png_fails_the_build_and_leaves_nothing(
    tables: dict[str, LayerTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> Path:
        msg = "the drawing failed"
        raise OptionError(msg)

    monkeypatch.setattr(build, "map_png", crash)
    with pytest.raises(OptionError, match="the drawing failed"):
        build_site(tables, tmp_path / "site", tiles=False, area_layers=["council_districts"])
    assert not (tmp_path / "site").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert not multiprocessing.active_children()

"""Work done by a forked child process: the site's PNGs, its layers' display geometry."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from pathlib import Path

import pytest

from geo311 import background
from geo311._errors import InputFileError, OptionError
from geo311.background import Background
from geo311.indicators.tables import LayerTables
from geo311.site import build, display_cache
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


@forks
def test_one_cpu_to_run_on_forks_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})  # e.g. taskset -c 0
    assert not background.can_fork()


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


def _ids_out(page: bytes) -> bytes:
    return re.sub(rb"_[0-9a-f]{32}\b", b"_ID", page)


@forks
def test_the_child_writes_pages_from_the_back_and_the_site_is_the_same(
    tables: dict[str, LayerTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers: list[int] = []
    page_writer = build.map_page

    def counted(*args: object, **kwargs: object) -> int:
        (tmp_path / f"pid-{os.getpid()}").touch()
        return page_writer(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "map_page", counted)
    forked = build_site(tables, tmp_path / "forked", tiles=False, png=False)
    writers = sorted(int(p.name.removeprefix("pid-")) for p in tmp_path.glob("pid-*"))
    assert len(writers) == 2 and os.getpid() in writers  # both wrote map pages
    monkeypatch.setattr(build, "can_fork", lambda: False)
    here = build_site(tables, tmp_path / "here", tiles=False, png=False)
    assert not forked.pngs and not here.pngs
    assert [p.relative_to(forked.out_dir) for p in forked.pages] == [
        p.relative_to(here.out_dir) for p in here.pages
    ]
    for a in forked.out_dir.rglob("*"):
        if a.is_file():  # the same bytes, but for the random ids folium gives map elements
            b = here.out_dir / a.relative_to(forked.out_dir)
            assert _ids_out(a.read_bytes()) == _ids_out(b.read_bytes()), a.name
    assert len(list(forked.out_dir.rglob("*"))) == len(list(here.out_dir.rglob("*")))


@forks
def test_a_failing_page_in_the_child_fails_the_build_and_leaves_nothing(
    tables: dict[str, LayerTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = os.getpid()
    page_writer = build.map_page

    def crash_in_child(*args: object, **kwargs: object) -> int:
        if os.getpid() != here:
            msg = "the page failed"
            raise OptionError(msg)
        return page_writer(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "map_page", crash_in_child)
    with pytest.raises(OptionError, match="the page failed"):
        build_site(tables, tmp_path / "site", tiles=False, png=False)
    assert not (tmp_path / "site").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
    assert not multiprocessing.active_children()


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


# --------------------------------------------------------------------------- display geometry


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    from geo311.demo import make_demo_city, write_demo_inputs  # noqa: PLC0415

    city = make_demo_city(seed=7, n_requests=1_500)
    return write_demo_inputs(city, tmp_path_factory.mktemp("export")), str(city.as_of)


def _run_site(paths: dict, as_of: str, out: Path) -> dict:
    from geo311.publish import run_city  # noqa: PLC0415

    run_city(  # two layers: the council districts and the neighbourhoods
        paths["raw_requests"],
        out,
        city=paths["manifest"],
        layers=["neighborhoods"],
        as_of=as_of,
        png=False,
        tiles=False,
    )
    return json.loads((out / "site.json").read_text(encoding="utf-8"))


@forks
def test_the_site_geometry_is_simplified_by_a_child_while_the_tables_are_computed(
    demo_export: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo311 import publish  # noqa: PLC0415
    from geo311.site import simplify  # noqa: PLC0415

    paths, as_of = demo_export
    searched: list[int] = []  # the parent's own searches (a forked child counts in its copy)
    search = simplify._choose
    monkeypatch.setattr(simplify, "_choose", lambda *a, **k: searched.append(1) or search(*a, **k))
    children: list[object] = []
    given: list[list] = []
    start = simplify.simplify_in_background
    monkeypatch.setattr(
        publish,
        "simplify_in_background",
        lambda frames, **k: (
            given.append(frames) or children.append(start(frames, **k)) or children[-1]
        ),
    )
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "early"))
    display_cache._SIMPLIFIED.clear()
    early = _run_site(paths, as_of, tmp_path / "early-site")
    assert len(children) == 1 and children[0] is not None
    assert not searched  # every layer came from the cache the child filled
    assert len(list((tmp_path / "early" / "display").glob("*.npz"))) == len(
        early["max_displacement_m"]
    )

    monkeypatch.setattr(background, "can_fork", lambda: False)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path / "here"))
    display_cache._SIMPLIFIED.clear()
    here = _run_site(paths, as_of, tmp_path / "here-site")
    assert children[-1] is None and searched  # no child: the site simplified the layers
    assert early == here

    # the same layers again find every one cached: no child is started
    monkeypatch.setattr(background, "can_fork", lambda: True)
    assert len(given[0]) == len(early["max_displacement_m"])
    assert simplify.simplify_in_background(given[0]) is None


@forks
def test_a_failing_child_leaves_the_geometry_to_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from geo311 import publish  # noqa: PLC0415
    from geo311.demo import demo_layers, make_demo_city  # noqa: PLC0415
    from geo311.site import simplify  # noqa: PLC0415

    layers = demo_layers(make_demo_city(n_requests=100))
    frames = [v[0].gdf[["area_id", "area_name", "geometry"]] for v in layers.values()]

    def fail(*args: object) -> None:
        os._exit(9)

    monkeypatch.setattr(simplify, "_fill_cache", fail)
    monkeypatch.setenv("GEO311_CACHE_DIR", str(tmp_path))
    display_cache._SIMPLIFIED.clear()
    child = simplify.simplify_in_background(frames)
    assert child is not None
    with caplog.at_level("DEBUG", logger="geo311.publish"):
        publish._display_ready(child)  # the run goes on: the site simplifies what is missing
    assert "not prepared ahead" in caplog.text
    assert "exit code 9" in caplog.text
    assert not list(tmp_path.glob("display/*.npz"))
    assert not multiprocessing.active_children()


class _UnpicklableError(ValueError):
    """An exception whose pickled form cannot be loaded (as tblib makes some of them)."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_refuse, ())


def _refuse() -> None:
    msg = "cannot be loaded"
    raise TypeError(msg)


@forks
def test_the_childs_error_comes_back_even_when_it_would_not_unpickle() -> None:
    def fail() -> None:
        msg = "row 12: not a date"
        raise _UnpicklableError(msg)

    with pytest.raises(_UnpicklableError, match="row 12: not a date"):
        forked(fail, background=True).result()
    with pytest.raises(InputFileError, match=r"x\.csv: broken") as caught:
        forked(lambda: _raise(InputFileError("x.csv: broken")), background=True).result()
    assert isinstance(caught.value, OSError)


def _raise(exc: BaseException) -> None:
    raise exc


def test_shared_tasks_are_each_taken_once_from_either_end() -> None:
    tasks = background.SharedTasks(5, shared=True)
    taken = [tasks.front(), tasks.back(), tasks.back(), tasks.front(), tasks.front()]
    assert taken == [0, 4, 3, 1, 2]
    assert tasks.front() is None and tasks.back() is None
    assert background.SharedTasks(0, shared=False).back() is None


@forks
def test_a_forked_child_and_this_process_share_the_tasks() -> None:
    tasks = background.SharedTasks(200, shared=True)

    def slowly(task: int) -> int:
        time.sleep(0.001)
        return -task

    with forked(lambda: tasks.take_back(slowly), background=True) as child:
        here = []
        while (task := tasks.front()) is not None:
            here.append(task)
            time.sleep(0.001)
        done = child.result()
    there = list(done)  # in the order the child took them
    assert here and there  # both took some
    assert sorted(here + there) == list(range(200))  # each once
    assert here == list(range(len(here))) and there == list(range(199, len(here) - 1, -1))
    assert all(result == -task for task, result in done.items())
    assert background.SharedTasks(3, shared=False).take_back(slowly) == {}  # not shared: none


@forks
def test_without_shared_semaphores_this_process_writes_every_page(
    tables: dict[str, LayerTables], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_semaphores(*args: object, **kwargs: object) -> None:
        msg = "[Errno 38] Function not implemented"  # as where /dev/shm is missing
        raise OSError(msg)

    monkeypatch.setattr(multiprocessing.context.BaseContext, "Lock", no_semaphores)
    assert not background.SharedTasks(3, shared=True).shared
    here = os.getpid()
    page_writer = build.map_page

    def only_here(*args: object, **kwargs: object) -> int:
        assert os.getpid() == here, "a page was written by the child"
        return page_writer(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "map_page", only_here)
    site = build_site(tables, tmp_path / "site", tiles=False, png=False)
    assert all(page.is_file() for page in site.pages)


def _large() -> dict[str, object]:
    import numpy as np  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    frame = pd.DataFrame({"x": np.arange(300_000, dtype=np.float64)})
    frame["name"] = pd.array([f"area {i % 97}" for i in range(len(frame))], dtype="string")
    return {"frame": frame, "pid": os.getpid()}


@forks
def test_a_large_result_comes_back_through_a_file_that_is_then_removed() -> None:
    child = forked(_large, background=True)
    spill = child._spill
    assert spill is not None and spill.exists()
    # the child ends without waiting for this process to read: its result is in the file
    child._process.join(timeout=60)
    assert not child._process.is_alive()
    assert spill.stat().st_size > 300_000 * 8
    got = child.result()
    assert got["pid"] != os.getpid()
    assert got["frame"].equals(_large()["frame"])
    assert not spill.exists()
    ended = forked(_large, background=True)
    spill = ended._spill
    ended.cancel()  # a result no longer wanted: its file goes too
    assert spill is not None and not spill.exists()


@forks
def test_without_room_for_the_file_the_result_comes_through_the_pipe(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spill = tmp_path / "result.pickle"

    def known_file(**_: object) -> tuple[int, str]:
        return os.open(spill, os.O_CREAT | os.O_WRONLY, 0o600), str(spill)

    def once_a_folder() -> dict[str, object]:
        deadline = time.monotonic() + 30
        while not spill.is_dir() and time.monotonic() < deadline:
            time.sleep(0.01)
        return _large()

    monkeypatch.setattr(background.tempfile, "mkstemp", known_file)
    child = forked(once_a_folder, background=True)
    spill.unlink()
    spill.mkdir()  # the child cannot write its file there
    assert child.result()["frame"].equals(_large()["frame"])
    assert spill.is_dir() and not list(spill.iterdir())

    def no_temp(**_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(background.tempfile, "mkstemp", no_temp)
    child = forked(_large, background=True)
    assert child._spill is None
    assert child.result()["frame"].equals(_large()["frame"])


@forks
def test_split_tasks_come_back_in_order_from_both_processes() -> None:
    def where(task: int) -> tuple[int, int]:
        time.sleep(0.005)  # 0.3 s in all: time for the child to start on the back
        return task, os.getpid()

    counted: list[int] = []
    done = background.split_with_child(
        60, where, what="testing", advice="none", done=counted.append
    )
    assert [task for task, _ in done] == list(range(60))
    pids = [pid for _, pid in done]
    assert pids[0] == os.getpid() and pids[-1] != os.getpid()  # the child took the back
    here = pids.count(os.getpid())
    assert counted == list(range(1, here + 1))  # told after each task done here
    kept = background.split_with_child(5, where, what="testing", advice="none", child=False)
    assert [pid for _, pid in kept] == [os.getpid()] * 5


@forks
def test_what_a_split_task_raises_in_the_child_is_raised_here() -> None:
    def fails_at_the_back(task: int) -> int:
        if task == 9:
            msg = "part 9: broken"
            raise InputFileError(msg)
        time.sleep(0.01)
        return task

    with pytest.raises(InputFileError, match="part 9: broken"):
        background.split_with_child(10, fails_at_the_back, what="testing", advice="none")

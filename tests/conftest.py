"""Shared fixtures: where the real reference data lives, and small helpers."""

from __future__ import annotations

import copyreg
import importlib.util
import io
import os
import pickle
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, TypeVar

import pytest
from browser import CHROMIUM_ARGS, Visit, offline_context, offline_tab, settle

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def shared_data_dir() -> Path:
    """Return ``$GEO311_DATA_DIR`` or ``<repo>/../shared/data``."""
    override = os.environ.get("GEO311_DATA_DIR", "").strip()
    return Path(override).resolve() if override else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real Baltimore / Los Angeles files; skipped locally when absent, required in CI."""
    path = shared_data_dir()
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"reference data not found at {path}; set GEO311_DATA_DIR")
        pytest.skip(f"reference data not found at {path}; set GEO311_DATA_DIR")
    return path


#: Fixtures whose tests are the slow ones: real data, a browser, the whole demo.
SLOW_FIXTURES = frozenset({"shared_data", "browser", "demo_site"})

#: The longest files, longest first (``--durations`` of full runs on 2 cores, the
#: shared builds counted where they are built).  The first two build different shared sites (``missed_pickup_run``;
#: ``baltimore_run`` and ``october_run``), so neither worker starts by waiting
#: for the other's build; the files that read those sites come after them.
LONGEST_FILES = (
    "test_browser_layout.py",
    "test_browser_real.py",
    "test_browser.py",
    "test_pipeline.py",
    "test_adversarial_site.py",
    "test_report.py",
    "test_demo.py",
    "test_scale.py",
    "test_bench_script.py",
    "test_recycle.py",
    "test_site_build.py",
    "test_examples.py",
    "test_population.py",
    "test_denominators_real.py",
    "test_fetch.py",
    "test_infer.py",
    "test_label_qa.py",
    "test_tables.py",
    "test_dask_scale.py",
    "test_site_states.py",
)


def _longest_files_first(items: list[pytest.Item]) -> None:
    """Put the longest files first, then the other files with a slow fixture, then the rest.

    ``--dist loadfile`` (with ``--no-loadscope-reorder``) hands whole files
    to the workers in this order: the long files start first and the many
    quick ones fill in at the end, so no worker is left alone with a long
    file while the other idles.  Each file's tests stay together, in order.
    """
    slow = {i.path for i in items if SLOW_FIXTURES & set(getattr(i, "fixturenames", ()))}
    rank = {name: n for n, name in enumerate(LONGEST_FILES)}

    def key(item: pytest.Item) -> tuple[int, int]:
        if item.path.name in rank:
            return 0, rank[item.path.name]
        return (1 if item.path in slow else 2), 0

    items.sort(key=key)  # stable: file order kept within each group


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long files first (:func:`_longest_files_first`); skip network tests unless GEO311_NETWORK=1."""
    _longest_files_first(items)
    if os.environ.get("GEO311_NETWORK", "").strip() == "1":
        return
    skip = pytest.mark.skip(reason="talks to real web services; run with GEO311_NETWORK=1")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


T = TypeVar("T")


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock``: other processes asking for it wait."""
    import fcntl  # noqa: PLC0415 - POSIX only; built_once does not share without it

    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_only(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


class _Pickler(pickle.Pickler):
    """A pickler that also takes read-only mappings (``MappingProxyType``) in metadata."""

    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[MappingProxyType] = lambda proxy: (_read_only, (dict(proxy),))


def _pickled(value: object) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]
) -> T:
    """``build(root)`` once per test run, however many xdist workers ask for it.

    Under xdist the first worker to ask builds into ``<session tmp>/<name>``,
    a folder every worker sees, and pickles what ``build`` returned beside it;
    the other workers wait for that worker and unpickle its answer, so the
    slow real-data builds run once, not once per worker.  Every consumer
    shares the files: read them, or copy them before changing anything.
    Without xdist (or without ``fcntl``) this is ``build`` in a new folder.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER") or importlib.util.find_spec("fcntl") is None:
        return build(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent
    answer = shared / f"{name}.pickle"
    with _exclusive(shared / f"{name}.lock"):
        if answer.is_file():
            value: T = pickle.loads(answer.read_bytes())
            return value
        root = shared / name
        shutil.rmtree(root, ignore_errors=True)  # what a worker that failed left
        root.mkdir()
        value = build(root)
        answer.write_bytes(_pickled(value))
        return value


@pytest.fixture(autouse=True, scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the caches geo311 fills by default (indexes, display geometry) at a test folder.

    Never the user's own cache; a test that needs an empty cache sets its own.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one cache for every worker: writes are atomic
        folder = tmp_path_factory.getbasetemp().parent / "geo311-cache"
        folder.mkdir(exist_ok=True)
    else:
        folder = tmp_path_factory.mktemp("geo311-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_CACHE_DIR", str(folder))
        yield


#: Seed and size of the demo city every test of the demo site shares.
DEMO_SEED = 2024
DEMO_REQUESTS = 5_000


@pytest.fixture(scope="session")
def demo_layer_tables() -> dict[str, Any]:
    """The demo city's tables (2,000 requests; neighbourhoods, council districts), in memory.

    Built once and never written: the tests that build sites from them read nothing back.
    """
    from geo311.demo import demo_layers, demo_tables, make_demo_city  # noqa: PLC0415
    from geo311.io.readers import requests_from_frame  # noqa: PLC0415
    from geo311.join.assign import assign_areas  # noqa: PLC0415

    city = make_demo_city(n_requests=2_000)
    requests, _ = requests_from_frame(
        city.requests, schema="open311", timezone=city.timezone, as_of=city.as_of
    )
    layers = demo_layers(city)
    joined, _ = assign_areas(requests, layers)
    return demo_tables(city, joined, layers, keys=("neighborhoods", "council_districts"))


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`geo311 demo` (seed DEMO_SEED, DEMO_REQUESTS requests), built once per run.

    The full demo (pipeline, tables, site with PNGs) is the slowest fixture
    of the demo tests; every test that reads it shares this one build
    (:func:`built_once`: read-only).  Returns what :func:`geo311.demo.write_demo`
    returns: every written file by key.
    """
    pytest.importorskip("folium")
    from geo311.demo import write_demo  # noqa: PLC0415 - needs the maps extra

    def build(root: Path) -> dict[str, Path]:
        return write_demo(root / "site", seed=DEMO_SEED, n_requests=DEMO_REQUESTS)

    return built_once(tmp_path_factory, "demo", build)


@pytest.fixture(scope="session")
def baltimore_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """`geo311 run` on the real Baltimore samples, once per run (site, inputs, root).

    The site lies in ``root / "site"`` (basemap tiles on, no PNGs) and maps
    the neighbourhoods, council districts and census tracts; the joined
    requests are kept outside it, in ``root / "work"``.  Shared by every
    worker (:func:`built_once`): read-only.
    """
    pytest.importorskip("folium")
    from geo311.publish import run_city  # noqa: PLC0415 - needs the maps extra

    inputs = [
        shared_data / "baltimore" / name
        for name in ("sr311_2019_oct_sample.csv", "sr311_2018_sample.csv")
    ]

    def build(root: Path) -> tuple:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GEO311_DATA_DIR", str(shared_data))
            result = run_city(
                inputs,
                root / "site",
                city="baltimore",
                schema="baltimore",
                layers=["neighborhoods", "council_districts", "census_tracts"],
                png=False,
                keep_requests=root / "work" / "joined.parquet",
            )
        return result, inputs, root

    return built_once(tmp_path_factory, "baltimore-run", build)


@pytest.fixture(scope="session")
def october_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Baltimore's October 2019 sample alone through ``geo311.run`` + ``geo311.write_site``.

    Four days of requests: 11 of the 14 council districts do not reach their
    median time to close.  The manifest's layers, no PNGs, no basemap tiles.
    Returns ``(result, site)``; test_site_states.py reads the pages,
    test_browser_real.py opens one in Chromium.  Shared by every worker
    (:func:`built_once`): read-only.
    """
    pytest.importorskip("folium")
    import geo311  # noqa: PLC0415

    def build(root: Path) -> tuple:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GEO311_DATA_DIR", str(shared_data))
            result = geo311.run(
                [shared_data / "baltimore" / "sr311_2019_oct_sample.csv"], city="baltimore"
            )
            geo311.write_site(result, root / "site", png=False, tiles=False)
        return result, root / "site"

    return built_once(tmp_path_factory, "october", build)


@pytest.fixture(scope="session")
def missed_pickup_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """`geo311 run` (the command) on Baltimore's October 2019 sample, missed-pickup types only.

    ``--type "mixed refuse" --type recycling`` by neighbourhood and council
    district: the site (index, 14 district pages, both layers' map pages and
    the RecycleStat page; basemap tiles on, no PNGs) lies in ``root / "s"``,
    the joined requests in ``root / "kept.parquet"``.  Returns ``(root,
    output)``, the command's output.  test_recycle.py checks its numbers,
    test_browser_layout.py its layout; shared by every worker
    (:func:`built_once`): read-only.
    """
    pytest.importorskip("folium")
    from click.testing import CliRunner  # noqa: PLC0415

    from geo311.cli import main  # noqa: PLC0415

    def build(root: Path) -> tuple:
        args = [
            "run", str(shared_data / "baltimore" / "sr311_2019_oct_sample.csv"),
            "--city", "baltimore", "--layer", "neighborhoods", "--layer", "council_districts",
            "--type", "mixed refuse", "--type", "recycling", "--out", str(root / "s"),
            "--no-png", "--keep-requests", str(root / "kept.parquet"),
        ]  # fmt: skip
        result = CliRunner().invoke(main, args, env={"GEO311_DATA_DIR": str(shared_data)})
        assert result.exit_code == 0, result.output
        return root, result.output

    return built_once(tmp_path_factory, "missed-pickup", build)


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """Directory of the small hand-written fixtures."""
    return FIXTURES


@contextmanager
def script_module(name: str) -> Iterator[ModuleType]:
    """Import ``scripts/<name>.py`` (maintainer scripts are not a package) for a test."""
    scripts = REPO / "scripts"
    spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(scripts))  # as when the script is run: its siblings import
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(scripts))
        sys.modules.pop(name, None)


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        message = "Debian's chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def visit(browser: Any) -> Iterator[Any]:
    """Open a local page with the network blocked; collect errors, dialogs and blocked URLs.

    The test's pages share one browser context (one per JavaScript setting),
    each page in its own tab, handed back settled (:func:`browser.settle`).
    """
    contexts: dict[bool, Any] = {}

    def open_page(path: Path, *, javascript: bool = True) -> Visit:
        if javascript not in contexts:
            contexts[javascript] = offline_context(browser, javascript=javascript)
        seen = offline_tab(contexts[javascript])
        seen.page.goto(path.resolve().as_uri(), wait_until="load")
        if javascript:  # without it nothing runs after the load event
            settle(seen)
        return seen

    yield open_page
    for context in contexts.values():
        context.close()

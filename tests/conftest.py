"""Shared fixtures: where the real reference data lives, and small helpers."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from browser import CHROMIUM_ARGS, Visit

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.network`` tests (real internet services) unless GEO311_NETWORK=1."""
    if os.environ.get("GEO311_NETWORK", "").strip() == "1":
        return
    skip = pytest.mark.skip(reason="talks to real web services; run with GEO311_NETWORK=1")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the caches geo311 fills by default (indexes, display geometry) at a test folder.

    Never the user's own cache; a test that needs an empty cache sets its own.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO311_CACHE_DIR", str(tmp_path_factory.mktemp("geo311-cache")))
        yield


#: Seed and size of the demo city every test of the demo site shares.
DEMO_SEED = 2024
DEMO_REQUESTS = 5_000


@pytest.fixture(scope="session")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`geo311 demo` (seed DEMO_SEED, DEMO_REQUESTS requests), built once per session.

    The full demo (pipeline, tables, site with PNGs) is the slowest fixture
    of the demo tests; every test that reads it shares this one build.  Returns what
    :func:`geo311.demo.write_demo` returns: every written file by key.
    """
    pytest.importorskip("folium")
    from geo311.demo import write_demo  # noqa: PLC0415 - needs the maps extra

    out = tmp_path_factory.mktemp("demo") / "site"
    return write_demo(out, seed=DEMO_SEED, n_requests=DEMO_REQUESTS)


@pytest.fixture(scope="session")
def baltimore_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """`geo311 run` on the real Baltimore samples, once per session (site, inputs, root).

    The site lies in ``root / "site"`` (basemap tiles on, no PNGs) and maps
    the neighbourhoods, council districts and census tracts; the joined
    requests are kept outside it, in ``root / "work"``.
    """
    pytest.importorskip("folium")
    from geo311.publish import run_city  # noqa: PLC0415 - needs the maps extra

    root = tmp_path_factory.mktemp("baltimore-run")
    inputs = [
        shared_data / "baltimore" / name
        for name in ("sr311_2019_oct_sample.csv", "sr311_2018_sample.csv")
    ]
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
    """Open a local page with the network blocked; collect errors, dialogs and blocked URLs."""
    contexts = []

    def open_page(path: Path, *, javascript: bool = True) -> Visit:
        context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        seen = Visit(page)

        def route(handle: Any) -> None:
            url = handle.request.url
            if url.startswith(("file:", "data:", "blob:", "about:")):
                handle.continue_()
            else:
                seen.blocked.append(url)
                handle.abort()

        def on_console(message: Any) -> None:
            if message.type == "error":
                seen.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")

        def on_dialog(dialog: Any) -> None:
            seen.dialogs.append(dialog.message)
            dialog.dismiss()

        context.route("**/*", route)
        page.on("console", on_console)
        page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
        page.on("dialog", on_dialog)
        page.goto(path.resolve().as_uri(), wait_until="load")
        page.wait_for_timeout(300)  # let Leaflet finish drawing and any payload fire
        return seen

    yield open_page
    for context in contexts:
        context.close()

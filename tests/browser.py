"""Browser tests: Debian's Chromium driven by Playwright, screenshots, axe-core checks.

A pytest plugin (``pytest_plugins = ["browser"]`` in conftest.py) giving a
session-wide ``browser`` and a fresh ``page`` per test, plus two helpers:
``screenshot(page, name)`` keeps numbered full-page PNGs under
``test-artifacts/screenshots/<module>.<test>/``, and
``assert_accessible(page, context_name)`` fails a test on any axe-core
violation of WCAG 2.0/2.1 A and AA or of axe's best practices. A test
chooses its page's locale with ``@pytest.mark.locale("nb-NO")``. Load it as a
plugin, not by importing the fixtures: its hooks keep a screenshot of a failed
test and keep Playwright's event loop out of the other tests' way.

Chromium comes from Debian and axe-core from npm, both installed by
``make deps``; ``playwright install`` is never used (its browser download
fails on our machines, TESTING.md). When either is missing a test fails in
CI and skips elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from servers import in_ci

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# TESTING.md: headless on a root CI machine without a GPU, a sandbox or a
# large /dev/shm, and no traffic of Chromium's own (updates, sync, QUIC).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# The same pin and directory as AXE_VERSION and NPM_DIR in the Makefile.
AXE_VERSION = "4.14.1"
AXE_DIR = Path(__file__).resolve().parent / ".npm" / "node_modules" / "axe-core"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
VIEWPORT = {"width": 1280, "height": 900}
DEFAULT_LOCALE = "en-US"
# Playwright's own default: CI runs the whole suite on 2 busy cores, where a
# page that takes more than 10 s under load is slow, not missing.
TIMEOUT_MS = 30_000

_shots: dict[Path, int] = {}
_FAILED = pytest.StashKey[bool]()
# Playwright's event loop while the session's Chromium runs (see _loop_released).
_loop: asyncio.AbstractEventLoop | None = None


def artifacts_dir() -> Path:
    """Where test artifacts go: $SENSEDESK_ARTIFACTS, else test-artifacts/ in the repository."""
    path = Path(os.environ.get("SENSEDESK_ARTIFACTS") or "test-artifacts")
    return path if path.is_absolute() else ROOT / path


def missing(what: str, install: str) -> None:
    """Fail the current test in CI, where every test must run (TESTING.md); skip it elsewhere."""
    if in_ci():
        pytest.fail(f"{what}; CI must run every test: {install}")
    pytest.skip(f"{what}: {install}")


def require(path: str | Path, what: str, install: str) -> None:
    """Fail (in CI) or skip (elsewhere) the current test unless ``path`` exists."""
    if not Path(path).exists():
        missing(f"{what} is missing ({path})", install)


def _current_test() -> str:
    # PYTEST_CURRENT_TEST is "tests/test_x.py::Class::test_y[p] (call)"; the
    # module is kept so that same-named tests in two files do not share a folder.
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "outside-a-test (call)").rsplit(" (", 1)[0]
    file, _, rest = nodeid.partition("::")
    name = f"{Path(file).stem}.{rest.replace('::', '.')}" if rest else Path(file).stem
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name).strip("_.")[:150]


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG as ``<artifacts>/screenshots/<module>.<test>/NN-<name>.png``; return its path.

    Shots are numbered in the order a test takes them. A test's folder is
    emptied at its first shot of a run, so old pictures never mix with new ones.
    """
    folder = artifacts_dir() / "screenshots" / _current_test()
    if folder not in _shots:
        shutil.rmtree(folder, ignore_errors=True)
        _shots[folder] = 0
    _shots[folder] += 1
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "page"
    path = folder / f"{_shots[folder]:02d}-{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _axe_source() -> str:
    require(AXE_DIR / "axe.min.js", f"axe-core {AXE_VERSION}", "make deps (npm installs it into tests/.npm)")
    version = json.loads((AXE_DIR / "package.json").read_text())["version"]
    if version != AXE_VERSION:
        missing(f"axe-core {AXE_VERSION} is wanted, {AXE_DIR} has {version}", "make deps")
    return (AXE_DIR / "axe.min.js").read_text()


def _report(context_name: str, url: str, violations: list, examples: int = 3) -> str:
    lines = [f"{context_name}: {len(violations)} accessibility rule(s) violated at {url}"]
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact') or 'no impact given'}): {v['help']} "
                     f"[{len(v['nodes'])} element(s)] {v.get('helpUrl', '')}".rstrip())
        for node in v["nodes"][:examples]:
            target = " ".join(" >> ".join(t) if isinstance(t, list) else t for t in node["target"])
            html = " ".join(node["html"].split())
            lines.append(f"    {target}: {html[:160]}{'…' if len(html) > 160 else ''}")
    return "\n".join(lines)


def assert_accessible(page, context_name: str) -> dict:
    """Run axe-core on the page as it is now; raise AssertionError listing every violation.

    ``context_name`` says what was checked ("login form, empty") so the report
    reads on its own. Returns axe's result (passes, incomplete…) when clean.
    """
    source = _axe_source()
    # Evaluated through the DevTools protocol rather than added as a <script>,
    # so the portal's Content-Security-Policy cannot block it.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source)
    result = page.evaluate("""async (tags) => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
        return {violations: r.violations, passes: r.passes.length, incomplete: r.incomplete.length,
                url: r.url};
    }""", AXE_TAGS)
    if result["violations"]:
        raise AssertionError(_report(context_name, result["url"], result["violations"]))
    return result


def _hand_back_loop() -> None:
    if _loop is not None and not _loop.is_closed() and asyncio._get_running_loop() is None:
        asyncio._set_running_loop(_loop)


@contextmanager
def _loop_released():
    # Playwright's sync API leaves its event loop marked as running in the
    # calling thread between calls, for as long as it is started (its
    # _greenlets.wait_for_future). With a session-wide browser every later
    # test's asyncio.run() would then fail ("cannot be called from a running
    # event loop"), e.g. in test_smtp.py. Tests that do not use the browser run
    # with the mark cleared; it is put back before Playwright is used again.
    if _loop is None or asyncio._get_running_loop() is not _loop:
        yield
        return
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        _hand_back_loop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright, launched once per session."""
    global _loop
    require(CHROMIUM, "Chromium", "apt-get install chromium fonts-liberation (make deps does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        _loop = asyncio._get_running_loop()
        yield launched
        # The last test of the session may be one that runs with the loop released.
        _hand_back_loop()
        launched.close()
    _loop = None


@pytest.fixture
def browser_locale(request) -> str:
    """The page's locale: ``@pytest.mark.locale("nb-NO")`` on the test, else en-US."""
    marker = request.node.get_closest_marker("locale")
    return marker.args[0] if marker else DEFAULT_LOCALE


@pytest.fixture
def page(browser, browser_locale, request):
    """A page in a fresh browser context (no cookies shared between tests), 1280x900.

    Screenshots the test took stay on disk; when the test failed, one more
    shot of the page as it was left is added after them.
    """
    # A test that asks for the page through request.getfixturevalue runs with the loop released.
    _hand_back_loop()
    context = browser.new_context(locale=browser_locale, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    from playwright.sync_api import Error

    try:
        if request.node.stash.get(_FAILED, False) and not opened.is_closed():
            screenshot(opened, "failed")
    except Error:
        # A crashed page cannot be pictured; the test's own failure says more.
        pass
    finally:
        context.close()


def pytest_configure(config):
    """Register the ``locale`` marker."""
    config.addinivalue_line("markers", "locale(name): the browser locale of the page fixture, e.g. nb-NO")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Run a test that does not use the browser without Playwright's loop marked as running."""
    if "browser" in getattr(item, "fixturenames", ()):
        return (yield)
    with _loop_released():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Note a failed test so that its ``page`` fixture can keep a last screenshot."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report

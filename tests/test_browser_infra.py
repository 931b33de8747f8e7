"""The browser-test plumbing itself: Chromium starts, screenshots land, axe-core passes and fails.

Two tiny static pages served by waitress stand in for the portal: one that
should satisfy axe-core and one with three known violations.
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import waitress

import browser as plugin
from browser import assert_accessible, screenshot

GOOD = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Contact the helpdesk</title></head>
<body>
<header><p>Sensedesk</p><nav aria-label="Main"><a href="/good">Home</a></nav></header>
<main>
<h1>Contact the helpdesk</h1>
<form method="post" action="/good">
<label for="subject">Subject</label>
<input id="subject" name="subject" type="text" autocomplete="off">
<button type="submit">Send</button>
</form>
</main>
<footer><p>Sensedesk test page</p></footer>
</body>
</html>
"""

# No lang attribute, an image without alt, an input without a label.
BAD = """<!doctype html>
<html>
<head><meta charset="utf-8"><title>Broken page</title></head>
<body>
<main>
<h1>Broken page</h1>
<img src="/logo.png">
<form><input type="text" name="q"></form>
</main>
</body>
</html>
"""

EXPECTED_VIOLATIONS = ("image-alt", "label", "html-has-lang")


def _app(environ, start_response):
    """Serve the two pages, and echo Accept-Language at /language."""
    path = environ["PATH_INFO"]
    if path == "/language":
        body = f"<!doctype html><title>l</title><p>{environ.get('HTTP_ACCEPT_LANGUAGE', '')}</p>"
    elif path in ("/good", "/bad"):
        body = GOOD if path == "/good" else BAD
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    # A strict policy like the portal's: axe-core must still get in.
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Security-Policy", "default-src 'self'")])
    return [body.encode()]


@pytest.fixture(scope="module")
def site():
    """The base URL of a waitress server on a free port, stopped after the module."""
    server = waitress.create_server(_app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_accessible_page_passes_and_screenshots_are_numbered(page, site):
    page.goto(f"{site}/good")
    result = assert_accessible(page, "contact form, empty")
    assert result["passes"] > 0
    first = screenshot(page, "contact form")
    page.fill("#subject", "My printer is broken")
    second = screenshot(page, "filled")

    folder = (plugin.artifacts_dir() / "screenshots"
              / "test_browser_infra.test_accessible_page_passes_and_screenshots_are_numbered")
    assert (first, second) == (folder / "01-contact-form.png", folder / "02-filled.png")
    assert _png_size(first)[0] == 1280


def test_violations_fail_with_a_readable_report(page, site):
    page.goto(f"{site}/bad")
    with pytest.raises(AssertionError) as failure:
        assert_accessible(page, "broken page")

    report = str(failure.value)
    assert report.startswith("broken page: ")
    for rule in EXPECTED_VIOLATIONS:
        assert re.search(rf"^- {rule} \((critical|serious|moderate|minor)\): ", report, re.M), report
    assert 'img: <img src="/logo.png">' in report
    assert '<input type="text" name="q">' in report


@pytest.mark.locale("nb-NO")
def test_locale_marker_sets_language_and_accept_language(page, site):
    page.goto(f"{site}/language")
    assert page.evaluate("navigator.language") == "nb-NO"
    assert page.text_content("p").startswith("nb-NO")


def test_a_test_without_the_browser_can_still_run_an_event_loop(request):
    # The session's browser, started by the tests above, must not leave its
    # event loop in the way of plain asyncio code (test_smtp.py has some).
    async def answer():
        return 42

    assert asyncio.run(answer()) == 42
    page = request.getfixturevalue("page")
    page.set_content("<main><p>still here</p></main>")
    assert page.text_content("p") == "still here"


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_axe_fails_in_ci_and_skips_elsewhere(monkeypatch, tmp_path, ci, outcome):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(plugin, "AXE_DIR", tmp_path)
    with pytest.raises(outcome, match="make deps"):
        assert_accessible(None, "no axe-core here")


def test_makefile_pins_the_axe_core_the_helpers_expect():
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert re.search(r"^AXE_VERSION := (\S+)$", makefile, re.M).group(1) == plugin.AXE_VERSION


INNER = """
def test_breaks(page):
    page.set_content("<main><h1>Broken on purpose</h1></main>")
    assert False

def test_works(page):
    page.set_content("<main><h1>Fine</h1></main>")
"""


def test_page_fixture_keeps_a_screenshot_of_a_failed_test(browser, tmp_path):
    # A separate pytest run, since a failing test is the thing under test.
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    artifacts = tmp_path / "artifacts"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent),
           "SENSEDESK_ARTIFACTS": str(artifacts)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "browser", "-p", "no:cacheprovider",
                          "test_inner.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr
    shots = sorted(p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*.png"))
    assert shots == ["screenshots/test_inner.test_breaks/01-failed.png"]

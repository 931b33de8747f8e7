"""The customer portal in real Chromium: the normal course, stored XSS, and axe-core on every page.

One course, as the issue walks it: mail in -> log in by the link from the
captured email -> the case under My requests -> reply with an attachment ->
the agent's notification arrives with the attachment -> mark as solved -> the
case under Closed. Screenshots of each page are kept under
``test-artifacts/screenshots/``; axe-core checks every page on the way. These
run on SQLite only: the HTTP tests in ``test_portal.py`` cover both stores.
"""

from __future__ import annotations

import re

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver, wait_until
from mailfactory import make_mail
from portalkit import LINK

from maild.store.models import Case

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def visit(page, url: str, name: str) -> None:
    """Open a page, keep its picture, and check it with axe-core."""
    page.goto(url)
    screenshot(page, name)
    assert_accessible(page, name)


def link_from_mail(site, address: str) -> str:
    mail = wait_until(lambda: [m for m in site.mails_to(address)
                               if LINK.search(m.get_body(("plain",)).get_content())])[-1]
    return LINK.search(mail.get_body(("plain",)).get_content()).group(1)


def test_the_normal_course_in_a_browser(site, page, tmp_path):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Printer on floor 3",
                                body="It jams on every page.\n\nKari"))
    case = Case.get()
    visit(page, site.url + "/", "home")
    page.get_by_role("link", name="Log in", exact=True).click()
    screenshot(page, "login")
    assert_accessible(page, "login")
    page.get_by_label("Email address").first.fill("kari@example.org")
    page.get_by_role("button", name="Email me a link").click()
    page.wait_for_url(re.compile(r"/login/link$"))
    screenshot(page, "link-sent")
    assert_accessible(page, "link sent")

    visit(page, link_from_mail(site, "kari@example.org"), "link-confirm")
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/requests$"))
    screenshot(page, "my-requests")
    assert_accessible(page, "my requests")
    page.get_by_role("link", name="Printer on floor 3").click()
    page.wait_for_url(re.compile(rf"/requests/{case.id}$"))
    screenshot(page, "case")
    assert_accessible(page, "case")

    attachment = tmp_path / "error-log.txt"
    attachment.write_text("paper jam at tray 2\n")
    page.get_by_label("Message").fill("It still jams. The log is attached.")
    page.get_by_label("Attachments").set_input_files(str(attachment))
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(re.compile(r"done=sent"))
    screenshot(page, "replied")
    assert_accessible(page, "case after reply")
    mail = wait_until(lambda: [m for m in site.mails_to("agent@example.test")
                               if "It still jams" in m.get_body(("plain",)).get_content()])[-1]
    assert [part.get_filename() for part in mail.iter_attachments()] == ["error-log.txt"]

    page.get_by_role("button", name="Mark as solved").click()
    page.wait_for_url(re.compile(r"done=solved"))
    screenshot(page, "solved")
    page.get_by_role("link", name="My requests").first.click()
    page.get_by_role("link", name="Closed", exact=True).click()
    page.wait_for_url(re.compile(r"status=closed"))
    assert page.get_by_role("link", name="Printer on floor 3").is_visible()
    screenshot(page, "closed")
    assert_accessible(page, "closed requests")


def test_every_other_page_is_accessible(site, page):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Access"))
    page.goto(site.url + "/login")
    page.get_by_label("Email address").first.fill("kari@example.org")
    page.get_by_role("button", name="Email me a link").click()
    page.goto(link_from_mail(site, "kari@example.org"))
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/requests$"))
    visit(page, site.url + "/new", "new-choose-department")
    visit(page, site.url + "/new/helpdesk", "new-request")
    page.get_by_role("button", name="Send request").click()  # empty: the form comes back marked
    screenshot(page, "new-request-errors")
    assert_accessible(page, "new request with errors")
    assert page.get_by_role("alert").is_visible()
    visit(page, site.url + "/requests?q=access", "search")
    visit(page, site.url + "/requests?q=nothingmatches", "search-empty")
    visit(page, site.url + "/nowhere", "not-found")
    visit(page, site.url + "/login/link/not-a-token", "link-invalid")


@pytest.mark.locale("nb-NO")
def test_norwegian_pages_are_norwegian_and_accessible(site, page):
    visit(page, site.url + "/", "home-nb")
    assert page.locator("html").get_attribute("lang") == "nb"
    assert page.get_by_role("heading", name="Hva kan vi hjelpe deg med?").is_visible()
    visit(page, site.url + "/login", "login-nb")
    page.get_by_role("button", name="English").click()
    assert page.get_by_role("heading", name="Log in", exact=True).is_visible()


XSS_HTML = """
<p>Hello</p>
<script>window.parent.__xss = 'script'; alert('script')</script>
<img src="x" onerror="window.parent.__xss='onerror'; alert('onerror')">
<a href="javascript:alert('link')" id="jslink">click me</a>
<svg onload="alert('svg')"><circle r="5"/></svg>
<svg><script>alert('svg-script')</script></svg>
<iframe src="javascript:alert('frame')"></iframe>
<math><mtext><img src=x onerror="alert('math')"></mtext></math>
<form action="javascript:alert('form')"><button>go</button></form>
<a href="data:text/html,<script>alert('data')</script>">data link</a>
"""


def open_case_as(site, page, address: str, case) -> None:
    """Log in by the link mailed to ``address``, open the case and its mail's original formatting."""
    page.goto(site.url + "/login")
    page.get_by_label("Email address").first.fill(address)
    page.get_by_role("button", name="Email me a link").click()
    page.goto(link_from_mail(site, address))
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/requests$"))
    page.goto(f"{site.url}/requests/{case.id}")
    page.get_by_text(re.compile("Show the original formatting|Vis opprinnelig formatering")).click()


def test_stored_xss_sent_as_mail_never_runs(site, page):
    deliver(site.ctx, make_mail(
        sender="kari@example.org", subject="<img src=x onerror=alert('subject')>",
        body="<script>alert('text')</script> javascript:alert('plain')", html=XSS_HTML))
    case = Case.get()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_case_as(site, page, "kari@example.org", case)
    frame = page.frame_locator("iframe[sandbox]")
    frame.get_by_text("Hello").wait_for()
    # Links in the cleaned mail: the javascript: one lost its href.
    assert frame.get_by_text("click me").get_attribute("href") is None
    frame.get_by_text("click me").click()
    page.wait_for_timeout(500)
    screenshot(page, "xss-case")
    assert dialogs == []
    assert page.evaluate("() => window.__xss") is None
    # The subject and text were shown as text, not markup.
    assert page.get_by_role("heading", level=1).inner_text().endswith("<img src=x onerror=alert('subject')>")
    assert "<script>alert('text')</script>" in page.get_by_role("main").inner_text()


def png(width: int, height: int, rgb=(200, 0, 0)) -> bytes:
    """A small, valid PNG of one colour (PNG spec: signature, IHDR, IDAT, IEND, each with its CRC)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_the_mails_own_styles_and_pictures_show_in_its_frame_and_nothing_else_loads(site, page):
    """The frame has a policy of its own: the mail's <style> applies, its cid: picture loads, scripts stay off."""
    html = ('<style>.warn{color:rgb(200, 0, 0);font-weight:bold} p{background:url(https://t.example/p.gif)}</style>'
            '<p class="warn">Red warning</p><p style="color: rgb(0, 0, 200)">Blue text</p>'
            '<img src="cid:logo@x" alt="Logo" id="logo"><script>window.parent.__ran = 1</script>')
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Styled mail", body="Red warning",
                                html=html, inline=[("logo.png", "image/png", png(2, 2), "logo@x")]))
    case = Case.get()
    requests_out = []
    page.on("request", lambda request: requests_out.append(request.url))
    open_case_as(site, page, "kari@example.org", case)
    frame = page.frame_locator("iframe[sandbox]")
    frame.get_by_text("Red warning").wait_for()
    assert frame.get_by_text("Red warning").evaluate("e => getComputedStyle(e).color") == "rgb(200, 0, 0)"
    assert frame.get_by_text("Blue text").evaluate("e => getComputedStyle(e).color") == "rgb(0, 0, 200)"
    frame.locator("#logo").evaluate("img => img.complete || new Promise(r => img.onload = r)")
    assert frame.locator("#logo").evaluate("img => img.naturalWidth") == 2
    screenshot(page, "mail-frame")
    # On a phone the frame fits the screen and the page does not scroll sideways.
    page.set_viewport_size({"width": 360, "height": 780})
    frame.get_by_text("Red warning").scroll_into_view_if_needed()
    screenshot(page, "mail-frame-360")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    assert page.evaluate("() => window.__ran") is None
    assert not [u for u in requests_out if "t.example" in u]

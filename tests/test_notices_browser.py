"""Operational notices and links in real Chromium: the banner, the notices page, axe-core on each.

SQLite only, as the other browser tests: ``test_notices.py`` covers both stores over HTTP.
"""

from __future__ import annotations

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import Client

from maild import links, notices
from maild.store.models import Case, Person

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def test_the_banner_links_and_the_notices_pages_in_a_browser(site, page):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Printer on floor 3", body="It jams."))
    case = Case.get()
    with site.ctx.db.atomic():
        notices.publish(site.ctx, title="Printers offline", text="Floor 3 is being fixed.",
                        departments=["helpdesk"], severity="outage")
        notices.publish(site.ctx, title="Slow mail", text="Delays of up to an hour.", severity="warning")
        links.save(site.ctx.config, title="Status page", url="https://status.example.org/",
                   description="Is it down for everyone?")
        Person.create(email="boss@example.test", name="Boss", role="admin")

    page.goto(site.url + "/")
    alert = page.get_by_role("alert")
    assert "Printers offline" in alert.inner_text()
    assert "Slow mail" in page.get_by_role("status").first.inner_text()
    status = page.get_by_role("link", name="Status page")
    assert status.get_attribute("rel") == "noopener noreferrer"
    screenshot(page, "home-with-notices")
    assert_accessible(page, "home with notices and links")

    page.goto(site.url + "/notices")
    screenshot(page, "notices")
    assert_accessible(page, "notices")

    # Logged in (the cookie of a client that logged in by link), the case page and the agents' pages.
    for address, paths in (("kari@example.org", ["/notices", f"/requests/{case.id}"]),
                           ("boss@example.test", ["/agent/notices", "/agent/links", f"/agent/cases/{case.id}"])):
        client = Client(site)
        client.log_in(address)
        page.context.clear_cookies()
        page.context.add_cookies([{"name": c.name, "value": c.value, "url": site.url}
                                  for c in client.http.cookies])
        for path in paths:
            page.goto(site.url + path)
            if "cases" in path or "requests" in path:
                assert "Printers offline" in page.get_by_role("alert").inner_text()
            screenshot(page, path.strip("/").replace("/", "-"))
            assert_accessible(page, path)

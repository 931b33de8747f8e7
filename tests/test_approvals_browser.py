"""Approvals in real Chromium: *My approvals* with approve, the signed link's page, the agent's panel; axe-core on each.

SQLite only, as the other browser tests: ``test_approvals.py`` covers both stores over HTTP and by mail.
"""

from __future__ import annotations

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver, wait_until
from mailfactory import make_mail
from portalkit import Client

from maild import approvals
from maild.store.models import Approval, Case

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def use_login_of(page, site, address: str) -> None:
    """Give the browser the session of a client that logged in by the mailed link."""
    client = Client(site)
    client.log_in(address)
    page.context.clear_cookies()
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": site.url} for c in client.http.cookies])


def test_my_approvals_with_approve_in_a_browser(site, page):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="New laptop", body="Mine is five years old."))
    case = Case.get()
    with site.ctx.db.atomic():
        first = approvals.ask(site.ctx, case, "boss@example.org", requested_by="agent@example.test",
                              question="Is it in the budget?")
        approvals.ask(site.ctx, Case.get_by_id(case.id), "cfo@example.org")

    # The signed link's page, as the approver's mail opens it: nothing decided yet.
    page.goto(approvals.link_url(site.ctx, first, "approve"))
    assert page.get_by_role("heading", level=1).inner_text() == "Approve this request?"
    screenshot(page, "approval-link")
    assert_accessible(page, "approval link page")
    assert Approval.get_by_id(first.id).state == "pending"

    use_login_of(page, site, "boss@example.org")
    page.goto(site.url + "/")
    page.get_by_role("link", name="My approvals").click()
    assert "Is it in the budget?" in page.inner_text("main")
    screenshot(page, "my-approvals")
    assert_accessible(page, "my approvals")
    page.get_by_label("Comment (optional)").fill("Yes, within this year's budget.")
    page.get_by_role("button", name="Approve").click()
    assert "Approved. The requester has been told." in page.get_by_role("status").inner_text()
    assert "Nothing is waiting for your approval." in page.inner_text("main")
    assert_accessible(page, "my approvals after deciding")
    approval = Approval.get_by_id(first.id)
    assert (approval.state, approval.decided_via, approval.comment) == (
        "approved", "portal", "Yes, within this year's budget.")
    assert site.wait_for_mail("cfo@example.org", "Approval needed")

    # The agent sees the approvals and may ask for more; the requester sees the decision.
    use_login_of(page, site, "agent@example.test")
    page.goto(f"{site.url}/agent/cases/{case.id}")
    panel = page.locator("#approvals")
    assert "boss@example.org" in panel.inner_text() and "cfo@example.org" in panel.inner_text()
    page.get_by_label("Approver's email address").fill("helpdesk@example.test")
    page.get_by_role("button", name="Ask for approval").click()
    assert "There is a problem" in page.inner_text("main")
    screenshot(page, "agent-case-approvals")
    assert_accessible(page, "agent case with approvals")

    use_login_of(page, site, "kari@example.org")
    page.goto(f"{site.url}/requests/{case.id}")
    assert "waits for approval" in page.inner_text("main")
    assert_accessible(page, "case waiting for approval")
    told = wait_until(lambda: [m for m in site.mails_to("kari@example.org") if b"approved by" in m.as_bytes()])
    assert "Yes, within this year's budget." in told[0].get_body(("plain",)).get_content()


@pytest.mark.locale("nb-NO")
def test_the_approval_pages_in_norwegian(site, page):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Ny PC", body="Den gamle er treg."))
    with site.ctx.db.atomic():
        approval = approvals.ask(site.ctx, Case.get(), "leder@example.org")
    page.goto(approvals.link_url(site.ctx, approval, "reject"))
    assert page.get_by_role("heading", level=1).inner_text() == "Avvise denne henvendelsen?"
    assert_accessible(page, "approval link page (nb)")
    use_login_of(page, site, "leder@example.org")
    page.goto(site.url + "/approvals")
    assert "Venter på deg" in page.inner_text("main")
    assert_accessible(page, "my approvals (nb)")

"""The agents' portal in real Chromium: queue, case page and its forms, admin page; axe-core on each.

An agent logs in by the link from the captured mail, follows "Agent" to the
queue, opens the case, replies with an attachment (which reaches the customer
by mail), adds an internal note, assigns the case to themselves, reads the
match trace and closes the case. An admin retries a dead outgoing message.
Screenshots go to ``test-artifacts/screenshots/``. SQLite only: the HTTP
tests in ``test_portal_agent.py`` cover both stores.
"""

from __future__ import annotations

import re

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver, wait_until
from mailfactory import make_mail
from portalkit import LINK

from maild import spool
from maild.store.models import Case, Outbox, Person, Spool, utcnow

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def check(page, name: str) -> None:
    """Keep a picture of the page and check it with axe-core."""
    screenshot(page, name)
    assert_accessible(page, name)


LOGIN_WORDS = {"en": ("Email address", "Email me a link", "Log in"),
               "nb": ("E-postadresse", "Send meg en lenke", "Logg inn")}


def log_in(site, page, address: str, language: str = "en") -> None:
    """Log in through the pages, by the link that arrives by mail."""
    label, ask, confirm = LOGIN_WORDS[language]

    def links():
        return [m for m in site.mails_to(address) if LINK.search(m.get_body(("plain",)).get_content())]
    before = len(links())
    page.goto(site.url + "/login")
    page.get_by_label(label).first.fill(address)
    page.get_by_role("button", name=ask).click()
    page.wait_for_url(re.compile(r"/login/link$"))
    mail = wait_until(lambda: len(links()) > before and links())[-1]
    page.goto(LINK.search(mail.get_body(("plain",)).get_content()).group(1))
    page.get_by_role("main").get_by_role("button", name=confirm).click()
    page.wait_for_url(re.compile(r"/agent$"))  # an agent starts at the queue


def test_an_agent_works_a_case_in_the_browser(site, page, tmp_path):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Printer on floor 3",
                                body="It jams on every page.\n\nKari",
                                attachments=[("photo.png", "image/png", b"\x89PNG\r\n\x1a\nxx")]))
    deliver(site.ctx, make_mail(sender="ola@example.org", subject="VPN drops", body="Every hour."))
    case = Case.get(Case.subject == "Printer on floor 3")
    log_in(site, page, "agent@example.test")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agent").click()
    page.wait_for_url(re.compile(r"/agent$"))
    assert page.get_by_role("link", name="VPN drops").is_visible()
    check(page, "queue")
    page.get_by_label("Search all cases of my departments").fill("jams")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=jams"))
    assert not page.get_by_role("link", name="VPN drops").is_visible()
    check(page, "queue-search")

    page.get_by_role("link", name="Printer on floor 3").click()
    page.wait_for_url(re.compile(rf"/agent/cases/{case.id}$"))
    page.get_by_text("How this message was matched").first.click()
    assert page.locator("code.rule", has_text="department").first.is_visible()
    check(page, "case")

    attachment = tmp_path / "driver-guide.txt"
    attachment.write_text("Install driver 4.2\n")
    reply = page.get_by_role("region", name="Reply to the customer")
    reply.get_by_label("Message", exact=True).fill("Please install the new driver; the guide is attached.")
    reply.get_by_label("Attachments", exact=True).set_input_files(str(attachment))
    reply.get_by_role("button", name="Send reply").click()
    page.wait_for_url(re.compile(r"done=replied"))
    check(page, "replied")
    mail = wait_until(lambda: [m for m in site.mails_to("kari@example.org")
                               if "install the new driver" in m.get_body(("plain",)).get_content()])[-1]
    assert [part.get_filename() for part in mail.iter_attachments()] == ["driver-guide.txt"]

    page.get_by_role("button", name="Add note").click()  # empty: the form comes back marked
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Note", exact=True).get_attribute("aria-invalid") == "true"
    check(page, "note-errors")
    page.get_by_label("Note", exact=True).fill("Kari's printer is on the old driver list.")
    page.get_by_role("button", name="Add note").click()
    page.wait_for_url(re.compile(r"done=noted"))
    note = page.locator("li.entry.internal").last
    assert note.get_by_text("Internal", exact=True).is_visible()
    assert note.get_by_text("old driver list").is_visible()

    page.get_by_label("Assign to").select_option("me")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.wait_for_url(re.compile(r"done=assigned"))
    assert Case.get_by_id(case.id).assignee.email == "agent@example.test"
    check(page, "assigned")

    page.get_by_role("button", name="Close the case").click()
    page.wait_for_url(re.compile(r"done=closed"))
    assert Case.get_by_id(case.id).status == "closed"
    assert page.get_by_role("button", name="Reopen").is_visible()
    check(page, "closed")
    # The customer never sees the note, and sees the reply.
    assert "old driver list" not in "".join(m.get_body(("plain",)).get_content()
                                            for m in site.mails_to("kari@example.org"))


def test_the_admin_page_in_the_browser(site, page):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Printer on floor 3"))
    site.wait_for_mail("kari@example.org", "Printer on floor 3")
    # The relay has it before the worker records it sent: wait for that, or it
    # would overwrite the "dead" set below.
    wait_until(lambda: Outbox.get(Outbox.recipient == "kari@example.org").state == "sent")
    with site.ctx.db.atomic():
        Person.create(email="boss@example.test", name="Boss", role="admin")
        dead = Outbox.get(Outbox.recipient == "kari@example.org")
        Outbox.update(state="dead", last_error="550 5.1.1 mailbox unavailable",
                      next_attempt_at=utcnow()).where(Outbox.id == dead.id).execute()
        values = spool.row_values(make_mail(subject="Stuck"), spool.Envelope(mail_from="ola@example.org",
                                  rcpt_tos=["hr@example.test"]), "smtp")
        values.update(state="failed", attempts=99, reason="OperationalError: disk I/O error")
        failed = Spool.create(**values)
    log_in(site, page, "boss@example.test")
    page.goto(site.url + "/agent")
    assert page.get_by_label("Department", exact=True).is_visible()  # an admin has every department to choose from
    check(page, "queue-admin")
    page.get_by_role("navigation", name="Agent pages").get_by_role("link", name="Administration").click()
    page.wait_for_url(re.compile(r"/agent/admin$"))
    check(page, "admin")
    page.get_by_role("button", name=f"Retry outgoing message {dead.id}").click()
    page.wait_for_url(re.compile(r"done=outbox"))
    check(page, "admin-retried")
    wait_until(lambda: Outbox.get_by_id(dead.id).state == "sent")
    page.get_by_role("button", name=f"Retry incoming message {failed.id}").click()
    page.wait_for_url(re.compile(r"done=spool"))
    wait_until(lambda: Spool.get_by_id(failed.id).state == "processed")
    assert Case.get(Case.subject == "Stuck").department == "hr"


@pytest.mark.locale("nb-NO")
def test_the_agent_pages_in_norwegian(site, page):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Skriveren"))
    case = Case.get()
    log_in(site, page, "agent@example.test", "nb")
    page.get_by_role("link", name="Saksbehandler").click()
    assert page.get_by_role("heading", name="Kø").is_visible()
    check(page, "queue-nb")
    page.goto(f"{site.url}/agent/cases/{case.id}")
    assert page.get_by_role("heading", name="Svar kunden").is_visible()
    check(page, "case-nb")

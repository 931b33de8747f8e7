"""All cases of a contact: a person's and an organisation's, on the agent's case page, its own page and in mail."""

from __future__ import annotations

import datetime
import re

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver, prepare
from mailfactory import make_mail
from portalkit import logged_in
from test_portal_agent_browser import log_in

from maild import cases, contacts, people
from maild.store.models import Case, Outbox, utcnow

KARI, KOLLEGA, AGENT = "kari@firma.example", "per@firma.example", "agent@example.test"


def open_case(ctx, sender, subject, to="helpdesk@example.test", name="Kari Nordmann") -> Case:
    deliver(ctx, make_mail(sender=sender, subject=subject, to=to, sender_name=name), rcpt=(to,))
    return Case.select().order_by(Case.id.desc()).first()


def test_a_persons_cases_come_open_first_then_newest_in_the_askers_departments(make_config):
    ctx = prepare(make_config())
    old_closed = open_case(ctx, KARI, "Gammel")
    older_open = open_case(ctx, KARI, "Skjerm")
    newer_open = open_case(ctx, KARI, "Mus")
    hr = open_case(ctx, KARI, "Ferie", to="hr@example.test")
    with ctx.db.atomic():
        cases.close(ctx, old_closed)
    Case.update(updated_at=utcnow() + datetime.timedelta(hours=1)).where(Case.id == old_closed.id).execute()
    kari = people.find(KARI)
    assert [c.id for c in contacts.person_cases(kari, ["helpdesk"])] == [newer_open.id, older_open.id, old_closed.id]
    assert [c.id for c in contacts.person_cases(kari, None, exclude=newer_open.id, open_only=True)] == \
        [hr.id, older_open.id]
    colleague = open_case(ctx, KOLLEGA, "Nettverk", name="Per")
    assert {c.id for c in contacts.domain_cases("firma.example", ["helpdesk"])} == \
        {old_closed.id, older_open.id, newer_open.id, colleague.id}
    assert contacts.organisation("ola@Gmail.com") == "" and contacts.organisation(KARI) == "firma.example"


def test_the_new_case_mail_names_the_requesters_other_open_cases(make_config):
    ctx = prepare(make_config())
    first = open_case(ctx, KARI, "Skjermen flimrer")
    second = open_case(ctx, KARI, "Tastaturet mangler Æ")

    def agent_mail(case):
        return bytes(Outbox.get((Outbox.case == case.id) & (Outbox.kind == "new_case")).raw).decode()
    assert "Other open cases" not in agent_mail(first)
    assert f"Other open cases of Kari Nordmann:\r\n  SD-{first.id} Skjermen flimrer" in agent_mail(second)


def test_the_case_page_and_the_contact_page(site):
    ctx = site.ctx
    for n in range(7):
        open_case(ctx, KARI, f"Sak nummer {n}")
    open_case(ctx, KOLLEGA, "Kollegaens sak", name="Per")
    hr = open_case(ctx, KARI, "Ferie", to="hr@example.test")
    last = Case.get(Case.subject == "Sak nummer 6")
    agent = logged_in(site, AGENT)
    page = agent.get(f"/agent/cases/{last.id}").text
    assert "Other cases of Kari Nordmann" in page and "All 6 other cases" in page
    assert "7 other cases from firma.example" in page and "Ferie" not in page
    listed = agent.get(f"/agent/contact?email={KARI}").text
    assert "7 cases in your departments" in listed and "Ferie" not in listed
    organisation = agent.get("/agent/contact?domain=firma.example").text
    assert "Kollegaens sak" in organisation and "8 cases" in organisation
    assert agent.get("/agent/contact?domain=gmail.com").status_code == 404
    assert agent.get("/agent/contact?email=nobody@example.org").status_code == 404
    assert logged_in(site, KARI).get(f"/agent/contact?email={KARI}").status_code == 404
    assert hr.id not in [int(n) for n in re.findall(r"/agent/cases/(\d+)", listed)]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language, width", [("en", 1280), ("nb", 360)])
def test_the_contact_pages_in_the_browser(site, page, language, width):
    for n in range(7):
        open_case(site.ctx, KARI, f"Skriveren i etasje {n} lager striper på hvert eneste ark")
    last = Case.select().order_by(Case.id.desc()).first()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(site, page, AGENT)
    if language == "nb":
        page.locator("form[action='/language'] button[value=nb]").first.click()
    page.goto(f"{site.url}/agent/cases/{last.id}")
    words = {"en": ("Other cases of Kari Nordmann", "All 6 other cases", "Cases of Kari Nordmann"),
             "nb": ("Andre saker fra Kari Nordmann", "Alle 6 andre saker", "Saker fra Kari Nordmann")}[language]
    assert words[0] in page.content()
    page.get_by_role("link", name=words[1]).click()
    page.wait_for_load_state()
    assert words[2] in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"contact-{language}-{width}")
    assert_accessible(page, f"contact-{language}-{width}")

"""Intake forms in real Chromium: HR's "New employee" over three pages, and axe-core on every page.

The person fills the form as shipped in ``config/forms``: a conditional third
page (temporary employment), a validation error corrected, back and forward
without losing answers, the summary, submit; then the case under My
requests with the answers, and the acknowledgement and HR's notification
carrying them. Screenshots of each page are kept under ``test-artifacts/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import assert_accessible, screenshot
from conftest import wait_until
from test_portal_browser import link_from_mail

from maild.store.models import Case

FORMS = str(Path(__file__).resolve().parent.parent / "config" / "forms")
pytestmark = [pytest.mark.settings(site={"forms_dir": FORMS}),
              pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)]


WORDS = {"en": ("Email address", "Email me a link", "Log in"),
         "nb": ("E-postadresse", "Send meg en lenke", "Logg inn")}


def log_in(site, page, address="kari@example.org", language="en"):
    label, ask, enter = WORDS[language]
    page.goto(site.url + "/login")
    page.get_by_label(label).first.fill(address)
    page.get_by_role("button", name=ask).click()
    page.goto(link_from_mail(site, address))
    page.get_by_role("main").get_by_role("button", name=enter).click()
    page.wait_for_url(re.compile(r"/requests$"))


def check(page, name):
    screenshot(page, name)
    assert_accessible(page, name)


def test_new_employee_over_three_pages(site, page):
    log_in(site, page)
    page.goto(site.url + "/new")
    page.get_by_role("link", name="HR").click()
    check(page, "hr-catalogue")
    page.get_by_role("link", name=re.compile("New employee")).click()
    check(page, "page-1-empty")

    page.get_by_label("Full name").fill("Ola Nordmann")
    page.get_by_label("Private email address").fill("not-an-address")
    page.get_by_label("First working day").fill("2027-01-04")
    page.get_by_label("Temporary").check()
    page.get_by_role("button", name="Next").click()
    assert page.get_by_role("alert").is_visible()  # the error, summarised at the top
    check(page, "page-1-error")
    assert page.get_by_label("Full name").input_value() == "Ola Nordmann"  # nothing lost
    page.get_by_label("Private email address").fill("ola@example.org")
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/job$"))
    check(page, "page-2")

    page.get_by_label("Position title").fill("Konsulent")
    page.get_by_label("Department or unit").fill("Lønn")
    page.get_by_label("Manager's email address").fill("leder@example.org")
    page.get_by_label("Bergen office").check()
    page.get_by_label("Laptop").check()
    page.get_by_role("button", name="Back").click()
    page.wait_for_url(re.compile(r"/person$"))
    assert page.get_by_label("Temporary").is_checked()
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/job$"))
    assert page.get_by_label("Position title").input_value() == "Konsulent"  # forward kept it
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/terms$"))  # temporary: the conditional page
    check(page, "page-3-conditional")
    page.get_by_label("Last working day").fill("2027-06-30")
    page.get_by_label("Hours per week").fill("20")
    page.get_by_role("button", name="Continue to summary").click()
    page.wait_for_url(re.compile(r"/summary$"))
    check(page, "summary")
    assert page.get_by_text("Bergen office").is_visible()
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url(re.compile(r"done=created"))
    check(page, "case")

    case = Case.get()
    assert case.department == "hr" and case.subject == "New employee: Ola Nordmann"
    assert page.get_by_text("Bergen office").is_visible()
    page.get_by_role("link", name="My requests").first.click()
    assert page.get_by_role("link", name="New employee: Ola Nordmann").is_visible()
    ack = site.wait_for_mail("kari@example.org", "New employee")
    notice = site.wait_for_mail("hr-agent@example.test", "New employee")
    # Kari wrote in English; HR's agent reads the answers in HR's Norwegian.
    for mail, office, end in ((ack, "Bergen office", "2027-06-30"), (notice, "Kontoret i Bergen", "30.06.2027")):
        text = mail.get_body(("plain",)).get_content()
        assert "Ola Nordmann" in text and office in text and end in text


@pytest.mark.locale("nb-NO")
def test_something_broken_routes_by_the_answers_in_norwegian(site, page):
    log_in(site, page, language="nb")
    page.goto(site.url + "/forms/helpdesk-something-broken")
    check(page, "broken-page-1-nb")
    page.get_by_label("En skriver").check()
    page.get_by_label("Beskriv problemet").fill("Skriveren trekker inn flere ark samtidig.")
    page.get_by_label("Ja").check()
    page.get_by_role("button", name="Neste").click()
    page.wait_for_url(re.compile(r"/details$"))
    check(page, "broken-page-2-nb")
    page.get_by_label("Hvor står skriveren, eller hva heter den?").fill("3. etasje, HP")
    page.get_by_role("button", name="Gå videre til oppsummering").click()
    check(page, "broken-summary-nb")
    page.get_by_role("button", name="Send henvendelsen").click()
    page.wait_for_url(re.compile(r"done=created"))
    case = wait_until(lambda: Case.get_or_none())
    assert (case.department, case.priority, case.tags) == ("helpdesk", "high", ["hardware"])


def test_a_pages_own_rules_apply_as_it_is_filled_in(site, page):
    """Ticking equipment shows its follow-up question at once; a costly order makes the manager required."""
    log_in(site, page)
    page.goto(site.url + "/forms/hr-new-employee")
    page.get_by_label("Full name").fill("Ola Nordmann")
    page.get_by_label("Private email address").fill("ola@example.org")
    page.get_by_label("First working day").fill("2027-01-04")
    page.get_by_label("Permanent").check()
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/job$"))
    notes = page.get_by_label("Anything else about equipment or access?")
    assert not notes.is_visible()
    page.get_by_label("Laptop").check()
    assert notes.is_visible()
    check(page, "page-2-follow-up-shown")
    page.get_by_label("Laptop").uncheck()
    assert not notes.is_visible()
    page.get_by_label("Laptop").check()
    page.get_by_label("Position title").fill("Konsulent")
    page.get_by_label("Department or unit").fill("Lønn")
    page.get_by_label("Manager's email address").fill("leder@example.org")
    page.get_by_label("Bergen office").check()
    notes.fill("A second screen, please.")
    page.get_by_role("button", name="Continue to summary").click()
    page.wait_for_url(re.compile(r"/summary$"))  # straight on: the script had shown the question
    assert page.get_by_text("A second screen, please.").is_visible()

    page.goto(site.url + "/forms/helpdesk-order-software")
    optional = page.locator("label[for=manager_email] .optional")
    assert optional.is_visible()
    page.get_by_label("Licence cost per year").select_option("over_5000")
    assert not optional.is_visible()
    page.get_by_label("Licence cost per year").select_option("free")
    assert optional.is_visible()


def test_a_file_over_the_limit_is_refused_in_the_browser(site, page):
    log_in(site, page)
    page.goto(site.url + "/forms/hr-other-question")
    assert page.get_by_text("At most 10 MB per file.").is_visible()
    chooser = page.get_by_label("Attachment")
    chooser.set_input_files({"name": "big.pdf", "mimeType": "application/pdf", "buffer": b"x" * (10 * 1024 * 1024 + 1)})
    assert page.get_by_text("big.pdf is larger than 10 MB: choose a smaller file.").is_visible()
    assert chooser.evaluate("input => input.files.length") == 0
    chooser.set_input_files({"name": "small.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 small"})
    assert page.get_by_text("big.pdf is larger").count() == 0


def test_back_after_sending_says_where_the_request_went(site, page):
    log_in(site, page)
    page.goto(site.url + "/forms/hr-other-question")
    page.get_by_label("What is it about?").fill("Pension")
    page.get_by_label("Question").fill("How is my pension paid?")
    page.get_by_role("button", name="Continue to summary").click()
    page.wait_for_url(re.compile(r"/summary$"))
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url(re.compile(r"done=created"))
    case = Case.get()
    page.go_back()
    page.wait_for_url(re.compile(r"/summary$"))
    assert page.get_by_text(f"This request has already been sent as SD-{case.id}.").is_visible()
    page.get_by_role("link", name=f"Open SD-{case.id}").click()
    page.wait_for_url(re.compile(rf"/requests/{case.id}$"))

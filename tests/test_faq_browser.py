"""The FAQ in real Chromium: search and an article, a suggestion while a request is written, axe-core on each page.

SQLite only, as the other browser tests: ``test_faq.py`` covers both stores over HTTP.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import Client

from maild import cases, deflection, faq, people
from maild.store.models import Case, FaqVisit, utcnow

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)

BODY = ("## Before you start\n\nYou need the **VPN client** from the software catalogue.\n\n"
        "## Connecting\n\n1. Open the client.\n2. Sign in with your work account.\n\n"
        "Still stuck? See [the status page](https://status.example.org/).")


def publish(ctx, title, body=BODY, **kwargs):
    with ctx.db.atomic():
        return faq.save(ctx.config, title=title, body=body, published=True, **kwargs)


def as_person(site, page, address):
    """The page logged in as ``address``, with the cookie of a client that logged in by link."""
    client = Client(site)
    client.log_in(address)
    page.context.clear_cookies()
    page.context.add_cookies([{"name": c.name, "value": c.value, "url": site.url} for c in client.http.cookies])


def check(page, name):
    screenshot(page, name)
    assert_accessible(page, name)


def test_faq_search_and_an_article(site, page):
    publish(site.ctx, "VPN from home", department="helpdesk", tags=["vpn", "remote work"])
    publish(site.ctx, "Printer toner", body="Change the cartridge.")
    publish(site.ctx, "VPN hjemmefra", body="Bruk VPN-klienten.", language="nb")
    page.goto(site.url + "/")
    check(page, "home-with-faq-search")
    page.get_by_role("search", name="FAQ").get_by_label("Search the FAQ").fill("vpn")
    page.get_by_role("search", name="FAQ").get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/faq\?q=vpn"))
    assert "2 articles match" in page.get_by_role("status").inner_text()
    links = page.get_by_role("main").get_by_role("listitem").get_by_role("link")
    assert links.all_inner_texts() == ["VPN from home", "VPN hjemmefra"]  # English first for an English reader
    check(page, "faq-search")
    page.get_by_role("link", name="VPN from home").click()
    assert page.get_by_role("heading", level=1).inner_text() == "VPN from home"
    assert page.get_by_role("heading", name="Connecting", level=2).is_visible()
    status = page.get_by_role("link", name="the status page")
    assert status.get_attribute("rel") == "noopener noreferrer"
    check(page, "faq-article")
    page.goto(site.url + "/faq?q=nothing+like+this")
    check(page, "faq-nothing-found")


@pytest.mark.locale("nb-NO")
def test_faq_pages_in_norwegian(site, page):
    vpn = publish(site.ctx, "VPN hjemmefra", body="Bruk **VPN-klienten**.", language="nb", department="hr")
    publish(site.ctx, "VPN from home", department="helpdesk")
    page.goto(site.url + "/faq")
    assert page.locator("html").get_attribute("lang") == "nb"
    links = page.get_by_role("main").get_by_role("listitem").get_by_role("link")
    assert links.all_inner_texts()[0] == "VPN hjemmefra"  # Norwegian first for a Norwegian reader
    check(page, "faq-list-nb")
    page.goto(f"{site.url}/faq/{vpn.id}")
    check(page, "faq-article-nb")
    as_person(site, page, "hr-agent@example.test")
    page.goto(site.url + "/agent/faq")
    check(page, "agent-faq-nb")
    page.goto(f"{site.url}/agent/faq/{vpn.id}")
    check(page, "agent-faq-edit-nb")


def test_a_suggestion_while_writing_a_request_is_opened_and_counted(site, page):
    vpn = publish(site.ctx, "VPN from home", department="helpdesk")
    publish(site.ctx, "Parental leave", body="Ask HR.", department="hr")
    as_person(site, page, "kari@example.org")
    # With JavaScript the form itself suggests, so the similar-questions step
    # (the server's answer for a department with articles) moves straight on.
    page.goto(site.url + "/new/helpdesk")
    page.wait_for_url(re.compile(r"/new/helpdesk/message\?request="))
    key = page.locator("input[name=request]").input_value()
    assert deflection.valid_key(key)

    page.get_by_label("Subject").press_sequentially("vpn ho")
    status = page.get_by_role("status")
    status.filter(has_text="1 article may answer your question").wait_for()
    suggestion = page.get_by_role("link", name="VPN from home")
    assert page.get_by_role("link", name="Parental leave").count() == 0  # another department's
    check(page, "suggestion-while-typing")
    assert FaqVisit.select().count() == 0
    suggestion.click()
    page.wait_for_url(re.compile(rf"/faq/{vpn.id}\?"))
    visit = FaqVisit.get()
    assert (visit.article_id, visit.department, visit.request, visit.submitted) == (vpn.id, "helpdesk", key, False)
    check(page, "article-from-a-suggestion")

    # Not answered: back to the request, the words and the key carried along.
    page.get_by_role("link", name="Continue with my request").click()
    assert page.get_by_label("Subject").input_value() == "vpn ho"
    page.get_by_label("Description").fill("The client says: certificate expired.")
    page.get_by_role("button", name="Send request").click()
    page.wait_for_url(re.compile(r"/requests/\d+\?done=created"))
    assert FaqVisit.get().submitted
    assert Case.get().subject == "vpn ho"


def test_the_similar_questions_step_with_a_match(site, page):
    publish(site.ctx, "VPN from home", department="helpdesk")
    as_person(site, page, "kari@example.org")
    # As for a person without JavaScript: the portal's only script never loads.
    page.route("**/static/suggest.js", lambda route: route.abort())
    page.goto(site.url + "/new/helpdesk/similar")
    page.get_by_label("What is it about?").fill("vpn")
    page.get_by_role("button", name="Next").click()
    page.wait_for_url(re.compile(r"/similar\?.*q=vpn"))
    assert page.get_by_role("heading", name="Similar questions").is_visible()
    check(page, "similar-step-with-a-match")
    page.get_by_role("button", name="Continue with my request").click()
    page.wait_for_url(re.compile(r"/new/helpdesk/message\?"))
    assert page.get_by_label("Subject").input_value() == "vpn"


def test_agent_faq_pages(site, page):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="VPN will not connect", body="Help!"))
    case = Case.get()
    with site.ctx.db.atomic():
        agent = people.find_or_create("agent@example.test", name="Agnes Agent")
        cases.agent_reply(site.ctx, case, agent, "Hi Kari,\n\nRestart the client.\n\nRegards,\nAgnes Agent")
    article = publish(site.ctx, "VPN from home", department="helpdesk")
    with site.ctx.db.atomic():
        deflection.record_visit(article, "helpdesk", deflection.new_key(), now=utcnow())
    as_person(site, page, "agent@example.test")
    page.goto(f"{site.url}/agent/cases/{case.id}")
    check(page, "agent-case-with-publish-as-faq")
    page.get_by_role("link", name="Publish solution as FAQ").click()
    page.wait_for_url(re.compile(r"/agent/faq/new\?entry="))
    assert page.get_by_label("Text", exact=True).input_value() == "Restart the client."
    check(page, "agent-faq-from-a-reply")
    page.get_by_role("button", name="Preview").click()
    check(page, "agent-faq-preview")
    page.get_by_label("Title").fill("")
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("alert").is_visible()
    check(page, "agent-faq-error")
    page.get_by_label("Title").fill("VPN: restart the client")
    page.get_by_label("Published").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/agent/faq/\d+\?done=saved"))
    check(page, "agent-faq-saved")
    page.goto(site.url + "/agent/faq")
    assert page.get_by_role("heading", name="Deflection").is_visible()
    check(page, "agent-faq-list")


@pytest.mark.settings(site={"forms_dir": str(Path(__file__).resolve().parent.parent / "config" / "forms")})
def test_with_javascript_the_catalogue_goes_straight_to_the_form(site, page):
    publish(site.ctx, "VPN from home", department="helpdesk")
    as_person(site, page, "kari@example.org")
    page.goto(site.url + "/new/helpdesk")
    # The server's link leads to the similar-questions step; the script points it at the form.
    link = page.get_by_role("link", name=re.compile("Something is broken"))
    assert link.get_attribute("href") == "/forms/helpdesk-something-broken"
    link.click()
    page.wait_for_url(re.compile(r"/forms/helpdesk-something-broken$"))
    assert_accessible(page, "a form that suggests")

"""Saved searches: an agent names a queue view, for themselves or their department, and finds it with its count."""

from __future__ import annotations

import re

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in
from test_portal_agent_browser import log_in

from maild import cases, saved
from maild.store.models import Case, SavedSearch

AGENT, HR_AGENT = "agent@example.test", "hr-agent@example.test"


def open_case(ctx, n, subject, to="helpdesk@example.test") -> Case:
    deliver(ctx, make_mail(sender=f"kunde{n}@example.org", subject=subject, to=to), rcpt=(to,))
    return Case.select().order_by(Case.id.desc()).get()


def test_the_saved_query_keeps_the_queues_own_parameters_only():
    assert saved.clean_query("page=3&q=skriver&tab=open&evil=1&tag=") == "tab=open&q=skriver"


def test_save_share_list_and_delete(site):
    ctx = site.ctx
    for n in range(3):
        case = open_case(ctx, n, f"Skriver {n}")
        with ctx.db.atomic():
            cases.set_details(ctx, case, tags=["skriver"])
    open_case(ctx, 9, "Noe annet")
    agent = logged_in(site, AGENT)
    view = "/agent?tab=new&tag=skriver"
    assert "Save this view" in agent.get(view).text
    done = agent.post("/agent/saved", {"name": "Skrivere", "query": "tab=new&tag=skriver", "share": ""},
                      form_page=view)
    assert done.url.endswith("/agent?tab=new&tag=skriver&done=saved") and "The search is saved." in done.text
    queue = agent.get("/agent").text
    assert re.search(r'href="/agent\?tab=new&amp;tag=skriver">Skrivere <span class="count">\(3\)</span>', queue)
    agent.post("/agent/saved", {"name": "Alt om skriver", "query": "q=skriver", "share": "helpdesk"}, form_page=view)
    bad = agent.post("/agent/saved", {"name": " ", "query": "q=x"}, form_page=view)
    assert "Give the search a name" in bad.text
    assert agent.post("/agent/saved", {"name": "Andres", "query": "q=x", "share": "hr"},
                      form_page=view).url.endswith("done=unnamed#save-search")  # not their department
    # A word search is shared, without a count; the own one is not.
    hr = logged_in(site, HR_AGENT).get("/agent").text
    assert "Skrivere" not in hr and "Alt om skriver" not in hr
    shared = SavedSearch.get(SavedSearch.name == "Alt om skriver")
    assert shared.department == "helpdesk" and shared.query == "q=skriver"
    listed = agent.get("/agent").text
    assert '>Alt om skriver</a>' in listed
    assert agent.post(f"/agent/saved/{shared.id}/delete", {}, form_page="/agent").url.endswith("done=unsaved")
    assert not SavedSearch.select().where(SavedSearch.id == shared.id).exists()
    mine = SavedSearch.get(SavedSearch.name == "Skrivere")
    assert logged_in(site, HR_AGENT).post(f"/agent/saved/{mine.id}/delete", {},
                                          form_page="/agent").status_code == 404


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language, width", [("en", 1280), ("nb", 360)])
def test_saving_a_view_in_the_browser(site, page, language, width):
    open_case(site.ctx, 1, "Skriveren lager striper")
    page.set_viewport_size({"width": width, "height": 900})
    log_in(site, page, AGENT)
    if language == "nb":
        page.locator("form[action='/language'] button[value=nb]").first.click()
    page.goto(f"{site.url}/agent?tab=new")
    words = {"en": ("Save this view", "Name", "Save", "Saved searches"),
             "nb": ("Lagre denne visningen", "Navn", "Lagre", "Lagrede søk")}[language]
    page.get_by_text(words[0]).click()
    page.get_by_label(words[1], exact=True).fill("Nye saker")
    page.locator("#save-search button[type=submit]").click()
    page.wait_for_load_state()
    assert words[3] in page.content() and "Nye saker" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"saved-{language}-{width}")
    assert_accessible(page, f"saved-{language}-{width}")

"""Personvern in the portal: the access record of agents' views and downloads, Download my data, the admin page.

HTTP against the running daemon and portal on both stores; the admin page
in Chromium with axe-core, in English and Norwegian, at 1280 and 360 px.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in, make_admin
from test_portal_agent_browser import log_in

from maild import access
from maild.store.models import AccessLog, Attachment, Case, Person

AGENT, KARI = "agent@example.test", "kari@example.org"


def kari_case(site) -> Case:
    deliver(site.ctx, make_mail(sender=KARI, subject="Skriveren", body="Den lager striper.\n",
                                attachments=[("striper.png", "image/png", b"\x89PNG\r\n\x1a\nxx")]))
    return Case.get(Case.subject == "Skriveren")


def test_an_agents_view_and_download_are_recorded_and_a_customers_are_not(site):
    case = kari_case(site)
    attachment = Attachment.get()
    customer = logged_in(site, KARI)
    assert customer.get(f"/requests/{case.id}").status_code == 200
    assert not AccessLog.select().exists()
    agent = logged_in(site, AGENT)
    assert agent.get(f"/agent/cases/{case.id}").status_code == 200
    assert agent.get(f"/agent/cases/{case.id}/files/{attachment.id}").status_code == 200
    assert [(r["agent"], r["case"], r["what"], r["detail"]) for r in access.listing(site.ctx.config, case_id=case.id)] \
        == [(AGENT, case.id, "download", "striper.png"), (AGENT, case.id, "view", "")]


def test_download_my_data_gives_the_customer_a_zip_of_their_requests(site):
    case = kari_case(site)
    response = logged_in(site, KARI).get("/account/data")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/zip"
    assert "attachment" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert [c["case"] for c in json.loads(archive.read("cases.json"))] == [case.id]
    assert "Download my data" in logged_in(site, KARI).get("/account").text


def test_the_privacy_page_is_for_admins_alone(site):
    assert logged_in(site, AGENT).get("/agent/privacy").status_code == 404
    assert logged_in(site, KARI).get("/agent/privacy").status_code == 404


def test_an_admin_looks_up_the_record_exports_and_erases_in_two_steps(site):
    case = kari_case(site)
    logged_in(site, AGENT).get(f"/agent/cases/{case.id}")
    admin = make_admin(site)
    page = admin.get(f"/agent/privacy?case={case.id}").text
    assert AGENT in page and "viewed the case" in page
    assert "A case number is digits" in admin.get("/agent/privacy?case=abc").text
    exported = admin.get(f"/agent/privacy/export?email={KARI}")
    assert exported.headers["Content-Type"] == "application/zip"
    assert [r["what"] for r in access.listing(site.ctx.config, agent="boss@example.test")] == ["export"]
    preview = admin.post("/agent/privacy/forget", {"email": KARI}, form_page="/agent/privacy")
    assert "This would be erased:" in preview.text and f"SD-{case.id}" in preview.text
    assert Person.select().where(Person.email == KARI).exists()
    done = admin.post("/agent/privacy/forget", {"email": KARI, "checked": KARI, "confirm": "yes"},
                      form_page="/agent/privacy")
    assert f"{KARI} is erased." in done.text
    assert not Person.select().where(Person.email == KARI).exists() and not Case.select().exists()


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language, width", [("en", 1280), ("nb", 360)])
def test_the_privacy_page_in_the_browser(site, page, language, width):
    case = kari_case(site)
    with site.ctx.db.atomic():
        Person.update(role="admin").where(Person.email == AGENT).execute()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(site, page, AGENT)
    if language == "nb":
        page.locator("form[action='/language'] button[value=nb]").first.click()
    page.goto(f"{site.url}/agent/cases/{case.id}")
    page.goto(f"{site.url}/agent/privacy?case={case.id}")
    words = {"en": ("viewed the case", "Show what would go", "This would be erased:"),
             "nb": ("så saken", "Vis hva som blir slettet", "Dette blir slettet:")}[language]
    assert words[0] in page.content()
    screenshot(page, f"privacy-record-{language}-{width}")
    assert_accessible(page, f"privacy-record-{language}-{width}")
    page.locator("#forget").fill(KARI)
    page.get_by_role("button", name=words[1]).click()
    page.wait_for_load_state()
    assert words[2] in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"privacy-preview-{language}-{width}")
    assert_accessible(page, f"privacy-preview-{language}-{width}")
    assert re.search(r"SD-\d+", page.content())

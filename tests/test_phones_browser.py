"""Every page of the portal on a phone: 360 px wide, no sideways scrolling, in both languages.

The pages come from the portal's own route table, so a page added tomorrow is
measured the day it is added. Each is opened as the people who see it — a
customer with a long address who is also an approver (the header then has
*My approvals*), an agent and an admin — in English and in Norwegian, with
long words in what they read. A page passes when the document is no wider
than the window (``scrollWidth <= innerWidth``); each failure keeps a
screenshot under ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from browser import screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in, make_admin

from maild import approvals, cases, casetemplates, categories, faq, links, notices, replytemplates
from maild.store.models import Attachment, Case, Entry, Person

FORMS = str(Path(__file__).resolve().parent.parent / "config" / "forms")
pytestmark = [pytest.mark.settings(site={"forms_dir": FORMS}),
              pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)]

WIDTH = 360
LONG = "kari.nordmann-johansen@helsetjenesten-i-nordre-follo.kommune.example.no"
ADMIN = "systemansvarlig.for.kundeservice@it-avdelingen.kommune.example.no"
# Pages that are not pages: files, stylesheets, machine answers, the signed mail frames.
NOT_PAGES = ("/static/", "/theme.css", "/favicon.ico", "/healthz", "/files/", "/mail/", "/inline/", "/faq/suggest",
             "/account/data", "/privacy/export", "/agent/export.")  # downloads (zip, xlsx, csv), not pages


def _world(site) -> dict:
    """A case with long words, a draft, an approval, an article, a link and a notice; ids by route parameter."""
    ctx = site.ctx
    deliver(ctx, make_mail(sender=LONG, sender_name="Kari Nordmann-Johansen Bjørnstad",
                           subject="Skriveren i tredje etasje skriver ut tomme ark " + "Lønnsslippmalfeil" * 3,
                           body="Se https://intranett.kommune.example.no/" + "a" * 120 + "\n\nKari",
                           attachments=[("skjermbilde-fra-skriverdialogen-" + "x" * 60 + ".pdf",
                                         "application/pdf", b"%PDF-1.4")]))
    case = Case.get()
    deliver(ctx, make_mail(sender="ola@example.org", subject="Ny bærbar PC", body="Gammel."))
    other = Case.get(Case.subject == "Ny bærbar PC")
    customer = logged_in(site, LONG)
    start = "/forms/helpdesk-order-software"
    first = customer.post(start, {"program": "Visio", "cost_band": "1000_5000", "users": "1",
                                  "justification": "Tegning av nettverk " * 20,
                                  "manager_email": "leder.med.en.lang.adresse@kommune.example.no",
                                  "direction": "next"}, form_page=start)
    draft = re.search(r"/forms/[^/]+/([A-Za-z0-9_-]+)/", first.url).group(1)
    with ctx.db.atomic():
        approval = approvals.ask(ctx, other, LONG, requested_by="agent@example.test",
                                 question="Kan Ola få en ny bærbar? " * 5)
        article = faq.save(ctx.config, title="Slik kobler du til skriveren", body="Trykk på knappen. " * 10,
                           department="helpdesk", published=True)
        link = links.save(ctx.config, title="Intranett", url="https://intranett.example.test/", department="helpdesk")
        template = replytemplates.save("takk-for-henvendelsen", "helpdesk", "nb",
                                       "Hei {requester.name}, takk for henvendelsen " * 5, "agent@example.test")
        notice = notices.publish(ctx, title="Skriverne er trege", departments=["helpdesk"])
        category = categories.add("helpdesk", "Maskinvare og tilbehør/Skrivere og kopimaskiner/Blekk og toner")
        cases.set_details(ctx, case, category=category)
        case_template = casetemplates.save(name="Glemt passord til lønnssystemet " * 2, department="helpdesk",
                                           subject="Glemt passord", body="Ringte " * 40, category=category.id,
                                           priority="high", request_type="access", by="agent@example.test")
        subscription = notices.subscribe(Person.get(Person.email == LONG), "helpdesk")
    return {"case_id": [case.id], "approval_id": [approval.id], "article_id": [article.id], "link_id": [link.id],
            "notice_id": [notice.id], "sub_id": [subscription.id], "draft_id": [draft],
            "form_id": ["helpdesk-order-software"], "page_id": ["order", "summary"], "slug": ["helpdesk"],
            "token": ["A" * 32], "signature": ["0123456789abcdef"], "expires": [str(int(time.time()) + 600)],
            "row_id": ["1"], "attachment_id": [Attachment.get().id], "path": ["portal.css"],
            "entry_id": [Entry.select().where(Entry.case == case).get().id], "template_id": [template.id],
            "category_id": [category.id], "case_template_id": [case_template.id]}, customer


def _urls(site, values: dict) -> list[str]:
    urls = []
    for route in site.server.app.routes:
        if route.method != "GET" or any(part in route.rule for part in NOT_PAGES):
            continue
        names = re.findall(r"<(\w+)(?::[^>]*)?>", route.rule)
        assert all(name in values for name in names), f"no value for a parameter of {route.rule}: add one"
        url = route.rule
        for name in names:
            url = re.sub(rf"<{name}(?::[^>]*)?>", str(values[name][0]), url)
        urls.append(url)
    return sorted(set(urls))


def test_every_page_fits_a_phone_in_both_languages(site, page):
    values, customer = _world(site)
    urls = _urls(site, values)
    assert len(urls) > 20
    agent, admin = logged_in(site, "agent@example.test"), make_admin(site, ADMIN)
    page.set_viewport_size({"width": WIDTH, "height": 780})
    too_wide, seen = [], 0
    for who, client in (("customer", customer), ("agent", agent), ("admin", admin)):
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "sd", "value": client.http.cookies["sd"], "url": site.url}])
        for language in ("en", "nb"):
            with site.ctx.db.atomic():
                Person.update(language=language).where(Person.email == client.address).execute()
            for url in urls:
                answer = page.goto(site.url + url)
                if answer is None or answer.status != 200 or "text/html" not in answer.headers.get("content-type", ""):
                    continue  # not theirs to see, or not a page
                seen += 1
                width = page.evaluate("() => document.documentElement.scrollWidth")
                if width > page.evaluate("() => window.innerWidth"):
                    too_wide.append(f"{who} {language} {url}: {width} px")
                    screenshot(page, f"too-wide-{who}-{language}")
    assert seen > 60, seen
    assert not too_wide, "\n".join(too_wide)

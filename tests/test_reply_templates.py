"""Reply templates: chosen by department and language, filled for the case, by #mal in mail and in the agent pages."""

from __future__ import annotations

import html
import re

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in, make_admin
from test_agentmail import agent_mail, parsed
from test_portal_agent_browser import log_in

from maild import replytemplates
from maild.store.models import Case, Entry, Outbox, Person, ReplyTemplate

AGENT, HR_AGENT, KARI = "agent@example.test", "hr-agent@example.test", "kari@example.org"
TAKK_NB = "Hei {requester.name},\n\ntakk for henvendelsen {case.number}. Se {portal.case_url}\n\nHilsen {agent.name}"


def open_case(ctx, language="") -> Case:
    deliver(ctx, make_mail(sender=KARI, subject="Skriveren", body="Skriveren virker ikke i det hele tatt.\n"))
    if language:
        Person.update(language=language).where(Person.email == KARI).execute()
    return Case.select().order_by(Case.id.desc()).get()


def test_the_departments_template_in_the_readers_language_is_chosen_and_filled(ctx):
    with ctx.db.atomic():
        replytemplates.save("takk", "", "en", "Shared thanks", "admin@example.test")
        replytemplates.save("takk", "helpdesk", "en", "Helpdesk thanks", AGENT)
        replytemplates.save("takk", "helpdesk", "nb", TAKK_NB, AGENT)
        replytemplates.save("ferie", "hr", "nb", "HR", HR_AGENT)
    assert replytemplates.find("takk", "helpdesk", "nb").body == TAKK_NB
    assert replytemplates.find("takk", "helpdesk", "en").body == "Helpdesk thanks"
    assert replytemplates.find("takk", "hr", "nb").body == "Shared thanks"
    assert replytemplates.find("ferie", "helpdesk", "nb") is None
    case = open_case(ctx)
    kari = Person.get(Person.email == KARI)
    agent = Person.get(Person.email == AGENT)
    agent.name = "Agnes Agent"
    text = replytemplates.fill(replytemplates.find("takk", "helpdesk", "nb"), case=case, requester=kari, agent=agent,
                               prefix="SD", base_url="https://hjelp.example.no/")
    assert text == (f"Hei Kari Nordmann,\n\ntakk for henvendelsen SD-{case.id}. "
                    f"Se https://hjelp.example.no/requests/{case.id}\n\nHilsen Agnes Agent")
    with pytest.raises(replytemplates.TemplateError, match="taken"):
        replytemplates.save("takk", "helpdesk", "nb", "Again", AGENT)
    with pytest.raises(replytemplates.TemplateError, match="name"):
        replytemplates.save("Takk for sist!", "helpdesk", "nb", "x", AGENT)


def test_mal_by_mail_puts_the_template_before_the_agents_own_words(ctx):
    with ctx.db.atomic():
        replytemplates.save("takk", "helpdesk", "nb", TAKK_NB, AGENT)
    case = open_case(ctx, language="nb")
    notice = parsed(Outbox.get((Outbox.case == case.id) & (Outbox.kind == "new_case")))
    raw, to = agent_mail(notice, "#mal takk\n\nVi bytter tonerkassetten i morgen.")
    row = deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    reply = Entry.get(Entry.kind == "reply")
    assert reply.body_text.startswith("Hei Kari Nordmann,\n\ntakk for henvendelsen SD-")
    assert reply.body_text.endswith("Vi bytter tonerkassetten i morgen.")
    sent = parsed(Outbox.get(Outbox.kind == "agent_reply")).get_body(("plain",)).get_content()
    assert "takk for henvendelsen" in sent and "Vi bytter tonerkassetten" in sent
    raw, to = agent_mail(notice, "#mal finnesikke\nHei igjen.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    answer = parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get())
    assert "#mal finnesikke: no such template; there are: takk" in answer.get_body(("plain",)).get_content()


def test_templates_in_the_agent_pages(site):
    case = open_case(site.ctx, language="nb")
    agent = logged_in(site, AGENT)
    assert "No templates yet." in agent.get("/agent/templates").text
    bad = agent.post("/agent/templates", {"name": "Takk!", "department": "helpdesk", "language": "nb", "body": "x"},
                     form_page="/agent/templates")
    assert bad.status_code == 400 and "A name is lowercase letters" in bad.text
    assert agent.post("/agent/templates", {"name": "x", "department": "", "language": "nb", "body": "x"},
                      form_page="/agent/templates").status_code == 404  # shared ones are the admins'
    done = agent.post("/agent/templates", {"name": "takk", "department": "helpdesk", "language": "nb",
                                           "body": TAKK_NB}, form_page="/agent/templates")
    assert "The template is saved." in done.text
    template = ReplyTemplate.get()
    page = agent.get(f"/agent/cases/{case.id}?mal={template.id}").text
    filled = re.search(r'<textarea id="reply-text"[^>]*>([^<]*)</textarea>', page).group(1)
    assert html.unescape(filled).startswith("Hei Kari Nordmann,")
    assert logged_in(site, HR_AGENT).get(f"/agent/templates/{template.id}").status_code == 404
    agent.post(f"/agent/templates/{template.id}", {"name": "takk", "department": "helpdesk", "language": "nb",
                                                  "body": "Ny tekst"}, form_page=f"/agent/templates/{template.id}")
    assert ReplyTemplate.get().body == "Ny tekst"
    admin = make_admin(site)
    assert admin.post("/agent/templates", {"name": "felles", "department": "", "language": "en", "body": "All"},
                      form_page="/agent/templates").status_code == 200
    deleted = agent.post(f"/agent/templates/{template.id}/delete", {}, form_page=f"/agent/templates/{template.id}")
    assert "The template is deleted." in deleted.text and ReplyTemplate.select().count() == 1


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language, width", [("en", 1280), ("nb", 360)])
def test_the_templates_page_in_the_browser(site, page, language, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(site, page, AGENT)
    if language == "nb":
        page.locator("form[action='/language'] button[value=nb]").first.click()
    page.goto(f"{site.url}/agent/templates")
    page.locator("#template-name").fill("takk")
    page.locator("#template-body").fill(TAKK_NB)
    page.locator("form[action='/agent/templates'] button[type=submit]").click()
    page.wait_for_load_state()
    assert {"en": "The template is saved.", "nb": "Malen er lagret."}[language] in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"templates-{language}-{width}")
    assert_accessible(page, f"templates-{language}-{width}")

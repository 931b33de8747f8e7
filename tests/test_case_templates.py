"""Case templates, and the case an agent opens for a customer: the customer is its requester and is acknowledged."""

from __future__ import annotations

import pytest
from browser import assert_accessible, screenshot
from portalkit import logged_in
from test_agentmail import parsed
from test_portal_agent_browser import log_in

from maild import casetemplates, categories, people
from maild.store.models import Case, CaseTemplate, Entry, Outbox, Person

AGENT, HR_AGENT, KARI = "agent@example.test", "hr-agent@example.test", "kari@example.org"


def test_a_template_is_checked_and_saved(ctx):
    with ctx.db.atomic():
        password = categories.add("helpdesk", "Tilgang/Passord")
        hr = categories.add("hr", "Ferie")
        template = casetemplates.save(name="  Glemt   passord ", department="helpdesk", subject="Glemt passord",
                                      body="Kunden har glemt passordet sitt.", category=password.id,
                                      priority="high", request_type="access", by=AGENT)
    assert (template.name, template.category, template.priority) == ("Glemt passord", password.id, "high")
    with pytest.raises(casetemplates.CaseTemplateError) as problem:
        casetemplates.save(name="Glemt passord", department="helpdesk", subject="", body="x" * 20001,
                           category=hr.id, priority="whenever", request_type="nope", by=AGENT)
    assert problem.value.problems == {"subject": "subject", "body": "body", "category": "category",
                                      "priority": "priority", "type": "type", "name": "taken"}
    with ctx.db.atomic():
        casetemplates.save(name="Glemt passord", department="hr", subject="Glemt passord", body="", category=None,
                           priority="normal", request_type="", by=HR_AGENT)
    assert [t.department for t in casetemplates.available(["helpdesk"])] == ["helpdesk"]


def test_a_case_opened_for_a_customer_is_theirs_and_acknowledged(ctx):
    with ctx.db.atomic():
        password = categories.add("helpdesk", "Tilgang/Passord")
        template = casetemplates.save(name="Glemt passord", department="helpdesk", subject="Glemt passord",
                                      body="Kunden har glemt passordet sitt.", category=password.id,
                                      priority="high", request_type="access", by=AGENT)
        agent = people.find_or_create(AGENT)
        kari = people.find_or_create(KARI, name="Kari Nordmann")
        case = casetemplates.open_for_customer(
            ctx, department=ctx.config.department("helpdesk"), requester=kari, subject=template.subject,
            body="Kari ringte: glemt passordet til lønnssystemet.", category=template.category,
            priority=template.priority, request_type=template.request_type, agent=agent, assign=True,
            template=template)
    case = Case.get_by_id(case.id)
    assert (case.requester_id, case.assignee_id, case.priority, case.request_type, case.category) == (
        kari.id, agent.id, "high", "access", password.id)
    first = Entry.get((Entry.case == case.id) & (Entry.kind == "message"))
    assert first.author_id == kari.id and first.public and first.body_text.startswith("Kari ringte")
    event = Entry.get((Entry.case == case.id) & (Entry.change == f"opened_for:{AGENT}"))
    assert not event.public and "from the case template Glemt passord" in event.body_text
    ack = Outbox.get((Outbox.case == case.id) & (Outbox.recipient == KARI))
    assert ack.kind == "ack" and "Glemt passord" in parsed(ack)["Subject"]
    with pytest.raises(casetemplates.CaseTemplateError):
        casetemplates.open_for_customer(ctx, department=ctx.config.department("hr"), requester=kari, subject="x",
                                        body="", category=password.id, priority="normal", request_type="",
                                        agent=agent)


def test_the_acknowledgement_is_in_the_language_the_agent_wrote_for_a_new_customer(ctx):
    texts = {"en": "The customer called: she has forgotten her password for the payroll system and cannot log in.",
             "nb": "Kunden ringte: hun har glemt passordet til lønnssystemet og kommer ikke inn i det."}
    greeting = {"en": "Thank you for writing", "nb": "Takk for henvendelsen"}
    with ctx.db.atomic():
        agent = people.find_or_create(AGENT)
        known = people.find_or_create("known@example.org")
        known.language = "nb"
        known.save()
    opened = []
    # HR writes Norwegian and helpdesk English by default: the text decides
    # for a new customer, a known customer keeps theirs.
    for dept, address, text in (("hr", "en@example.org", "en"), ("helpdesk", "nb@example.org", "nb"),
                                ("helpdesk", "known@example.org", "en")):
        with ctx.db.atomic():
            requester = people.find_or_create(address)
            opened.append(casetemplates.open_for_customer(
                ctx, department=ctx.config.department(dept), requester=requester, subject="Passord",
                body=texts[text], category=None, priority="normal", request_type="", agent=agent))
    acks = [parsed(Outbox.get((Outbox.case == c.id) & (Outbox.kind == "ack"))).get_body(("plain",)).get_content()
            for c in opened]
    assert [greeting["en"] in acks[0], greeting["nb"] in acks[1], greeting["nb"] in acks[2]] == [True] * 3


def test_the_new_case_page_opens_a_case_from_a_template(site):
    ctx = site.ctx
    agent = logged_in(site, AGENT)
    page = agent.get("/agent/case-templates").text
    assert "No case templates yet." in page
    bad = agent.post("/agent/case-templates", {"name": "", "department": "helpdesk", "subject": "", "body": "",
                                               "priority": "normal", "request_type": ""},
                     form_page="/agent/case-templates")
    assert bad.status_code == 400 and 'id="ct-name-error"' in bad.text and 'id="ct-subject-error"' in bad.text
    assert agent.post("/agent/case-templates", {"name": "x", "department": "hr", "subject": "x", "body": "",
                                                "priority": "normal", "request_type": ""},
                      form_page="/agent/case-templates").status_code == 404  # not their department
    saved = agent.post("/agent/case-templates", {"name": "Ny PC", "department": "helpdesk", "subject": "Ny PC",
                                                 "body": "Bestilling av ny PC.", "priority": "low",
                                                 "request_type": "service_request"},
                       form_page="/agent/case-templates")
    assert "The template is saved." in saved.text
    template = CaseTemplate.get()
    assert logged_in(site, HR_AGENT).get(f"/agent/case-templates/{template.id}").status_code == 404
    form = agent.get(f"/agent/new?template={template.id}").text
    assert "Bestilling av ny PC." in form and 'value="low" selected' in form
    wrong = agent.post("/agent/new", {"template": str(template.id), "email": "helpdesk@example.test",
                                      "department": "helpdesk", "subject": "Ny PC", "body": "x",
                                      "priority": "low", "request_type": ""}, form_page="/agent/new")
    assert wrong.status_code == 400 and "own address." in wrong.text
    assert Case.select().count() == 0
    opened = agent.post("/agent/new", {"template": str(template.id), "email": " Ola@Example.org ",
                                       "requester_name": "Ola Nordmann", "department": "helpdesk",
                                       "subject": "Ny PC til Ola", "body": "Ola ringte.", "priority": "low",
                                       "request_type": "service_request", "assign": "yes"}, form_page="/agent/new")
    case = Case.get()
    assert opened.url.endswith(f"/agent/cases/{case.id}?done=opened")
    assert "the customer gets the acknowledgement by email" in opened.text
    ola = Person.get(Person.email == "ola@example.org")
    assert (case.requester_id, ola.name, case.subject, case.priority) == (ola.id, "Ola Nordmann", "Ny PC til Ola",
                                                                          "low")
    assert "Opened for the customer by" in opened.text
    assert Outbox.select().where((Outbox.case == case.id) & (Outbox.recipient == "ola@example.org")
                                 & (Outbox.kind == "ack")).count() == 1
    # The customer sees it as their own request.
    assert "Ny PC til Ola" in logged_in(site, "ola@example.org").get("/requests").text
    deleted = agent.post(f"/agent/case-templates/{template.id}/delete", {},
                         form_page=f"/agent/case-templates/{template.id}")
    assert "The template is deleted." in deleted.text and CaseTemplate.select().count() == 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language, width", [("en", 1280), ("nb", 360)])
def test_the_new_case_pages_in_the_browser(site, page, language, width):
    with site.ctx.db.atomic():
        categories.add("helpdesk", "Tilgang/Passord")
    page.set_viewport_size({"width": width, "height": 900})
    log_in(site, page, AGENT)
    if language == "nb":
        page.locator("form[action='/language'] button[value=nb]").first.click()
    page.goto(f"{site.url}/agent/case-templates")
    page.locator("#ct-name").fill("Glemt passord")
    page.locator("#ct-subject").fill("Glemt passord")
    page.locator("#ct-body").fill("Kunden har glemt passordet.")
    page.locator("#ct-category").select_option(label="Tilgang/Passord")
    page.locator("form[action='/agent/case-templates'] button[type=submit]").click()
    page.wait_for_load_state()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"case-templates-{language}-{width}")
    assert_accessible(page, f"case-templates-{language}-{width}")
    page.goto(f"{site.url}/agent/new")
    page.locator("a[href^='/agent/new?template=']").first.click()
    page.wait_for_load_state()
    page.locator("form[action='/agent/new'] button[type=submit]").click()  # no address yet
    page.wait_for_load_state()
    assert page.locator("#new-email[aria-invalid=true]").count() == 1
    assert_accessible(page, f"new-case-error-{language}-{width}")
    page.locator("#new-email").fill(KARI)
    page.locator("#new-name").fill("Kari Nordmann")
    page.locator("form[action='/agent/new'] button[type=submit]").click()
    page.wait_for_load_state()
    case = Case.get()
    assert page.url.endswith(f"/agent/cases/{case.id}?done=opened") and case.category is not None
    screenshot(page, f"new-case-opened-{language}-{width}")

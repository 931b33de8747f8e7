"""Intake forms in the portal over HTTP: pages kept on the server, rules, submit, and bad submissions.

The example forms of ``config/forms`` are used as shipped. Browser tests of
the same course (Chromium, axe-core) are in ``test_portal_forms_browser.py``.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from portalkit import Client, logged_in

from maild import jobs
from maild.store.models import (Approval, Attachment, Blob, Case, Entry, FormDraft, LoginLink, Outbox, Participant,
                                Person, PortalSession, RateEvent, utcnow)

FORMS = str(Path(__file__).resolve().parent.parent / "config" / "forms")
pytestmark = pytest.mark.settings(site={"forms_dir": FORMS})

NEW_EMPLOYEE = "/forms/hr-new-employee"
PERSON = {"full_name": "Ola Nordmann", "personal_email": "ola@example.org", "start_date": "2027-01-04",
          "employment_type": "temporary"}
JOB = {"position": "Konsulent", "unit": "Lønn", "manager_email": "leder@example.org", "workplace": "bergen",
       "equipment": ["laptop", "access_card"]}


def draft_url(answer) -> str:
    return re.search(r"(/forms/[^/]+/[A-Za-z0-9_-]+)/", answer.url).group(1)


def test_the_catalogue_lists_the_departments_forms(site):
    client = logged_in(site)
    page = client.get("/new/hr").text
    assert "New employee" in page and "Other question" in page and "Order software" not in page
    assert "/new/hr/message" in page  # a free-text request is always possible
    assert client.get("/forms/no-such-form").status_code == 404


def test_new_employee_over_three_pages_with_back_and_forward(site):
    client = logged_in(site)
    first = client.post(NEW_EMPLOYEE, {**PERSON, "direction": "next"}, form_page=NEW_EMPLOYEE)
    assert first.url.endswith("/job"), first.url
    base = draft_url(first)
    # Back from page 2 keeps page 1's answers.
    back = client.post(f"{base}/job", {"position": "Konsulent", "direction": "back"}, form_page=f"{base}/job")
    assert back.url.endswith("/person") and 'value="Ola Nordmann"' in back.text
    again = client.post(f"{base}/person", {**PERSON, "direction": "next"}, form_page=f"{base}/person")
    assert 'value="Konsulent"' in again.text  # and forward keeps what page 2 had
    third = client.post(f"{base}/job", {**JOB, "direction": "next"}, form_page=f"{base}/job")
    assert third.url.endswith("/terms")  # temporary employment: the conditional page
    wrong = client.post(f"{base}/terms", {"end_date": "2027-06-30", "hours_per_week": "90", "direction": "next"},
                        form_page=f"{base}/terms")
    assert wrong.status_code == 400 and "There is a problem" in wrong.text and 'value="90"' in wrong.text
    summary = client.post(f"{base}/terms", {"end_date": "2027-06-30", "hours_per_week": "20", "direction": "next"},
                          form_page=f"{base}/terms")
    assert summary.url.endswith("/summary") and "Check your answers" in summary.text
    assert "Ola Nordmann" in summary.text and "Bergen office" in summary.text
    done = client.post(f"{base}/submit", form_page=f"{base}/summary")
    assert "/requests/" in done.url and "done=created" in done.url
    case = Case.get()
    assert case.department == "hr" and case.subject == "New employee: Ola Nordmann"
    assert case.request_type == "service_request" and "fixed-term" in case.tags
    entry = Entry.get(Entry.case == case)
    assert entry.answers["form"] == "hr-new-employee"
    assert entry.answers["answers"]["hours_per_week"] == 20 and entry.answers["answers"]["workplace"] == "bergen"
    assert "Ola Nordmann" in entry.body_text and "Bergen office" in entry.body_text
    manager = Person.get(Person.email == "leder@example.org")
    assert Participant.select().where((Participant.case == case) & (Participant.person == manager)).exists()
    # The manager the form copied is told so, once, in HR's language, with the request.
    copied = " ".join(site.wait_for_mail("leder@example.org", "New employee").get_body(("plain",)).get_content().split())
    assert "har sendt en henvendelse til HR og nevnt deg i den" in copied and "Ola Nordmann" in copied
    assert Outbox.select().where((Outbox.recipient == "leder@example.org") & (Outbox.kind == "copied")).count() == 1
    sent = FormDraft.get()  # kept without its answers, so that Back can say where it went
    assert (sent.sent_case, sent.answers, sent.files) == (case.id, {}, {})
    back = client.get(f"{base}/summary")
    assert back.status_code == 200 and back.headers["Cache-Control"] == "private, no-store"
    assert f"This request has already been sent as SD-{case.id}." in back.text
    assert f'href="/requests/{case.id}"' in back.text
    twice = client.post(f"{base}/submit", form_page=f"{base}/job")
    assert twice.status_code == 200 and "already been sent" in twice.text and Case.select().count() == 1
    ack = site.wait_for_mail("kari@example.org", "New employee")
    assert "Bergen office" in ack.get_body(("plain",)).get_content()
    notice = site.wait_for_mail("hr-agent@example.test", "New employee")
    text = notice.get_body(("plain",)).get_content()
    # The customer wrote in English; HR's agent reads Norwegian: the answers are labelled in theirs.
    assert "Konsulent" in text and "Fullt navn: Ola Nordmann" in text and "Arbeidssted: Kontoret i Bergen" in text
    assert "Full name" not in text and "Full name: Ola Nordmann" in ack.get_body(("plain",)).get_content()
    agent = logged_in(site, "hr-agent@example.test")
    agent.post("/language", {"lang": "nb", "next": "/agent"}, form_page="/agent")
    page = agent.get(f"/agent/cases/{case.id}").text
    assert "Fullt navn: Ola Nordmann" in page and "Full name" not in page
    agent.post("/language", {"lang": "en", "next": "/agent"}, form_page="/agent")
    assert "Full name: Ola Nordmann" in agent.get(f"/agent/cases/{case.id}").text


def test_permanent_employment_skips_the_conditional_page(site):
    client = logged_in(site)
    first = client.post(NEW_EMPLOYEE, {**PERSON, "employment_type": "permanent", "direction": "next"},
                        form_page=NEW_EMPLOYEE)
    base = draft_url(first)
    after = client.post(f"{base}/job", {**JOB, "direction": "next"}, form_page=f"{base}/job")
    assert after.url.endswith("/summary")
    assert client.get(f"{base}/terms").status_code == 404


def test_routing_from_the_answers(site):
    client = logged_in(site)
    start = "/forms/helpdesk-something-broken"
    first = client.post(start, {"category": "printer", "description": "It jams on every page.",
                                "stops_work": "yes", "direction": "next"}, form_page=start)
    assert first.url.endswith("/details"), first.text[:2000]
    base = draft_url(first)
    page = client.get(f"{base}/details").text
    assert "printer_location" in page and "asset_tag" not in page  # only what a printer needs
    summary = client.post(f"{base}/details", {"printer_location": "Floor 3, HP LaserJet", "direction": "next"},
                          form_page=f"{base}/details")
    assert summary.url.endswith("/summary"), summary.text[:2000]
    client.post(f"{base}/submit", form_page=f"{base}/summary")
    case = Case.get()
    assert (case.department, case.priority, case.request_type) == ("helpdesk", "high", "incident")
    assert case.tags == ["hardware"]
    assert "Floor 3, HP LaserJet" in Entry.get(Entry.case == case).body_text


def _shown(page: str) -> str:
    return re.search(r'name="shown" value="([^"]*)"', page).group(1)


def _field_hidden(page: str, field_id: str) -> bool:
    tag = re.search(r'<[^>]*data-field="%s"[^>]*>' % field_id, page).group(0)
    return " hidden" in tag


def test_an_end_before_its_start_and_a_needed_by_date_in_the_past_are_refused(site):
    client = logged_in(site)
    first = client.post(NEW_EMPLOYEE, {**PERSON, "direction": "next"}, form_page=NEW_EMPLOYEE)
    base = draft_url(first)
    client.post(f"{base}/job", {**JOB, "direction": "next"}, form_page=f"{base}/job")
    early = client.post(f"{base}/terms", {"end_date": "2027-01-03", "hours_per_week": "20", "direction": "next"},
                        form_page=f"{base}/terms")
    assert early.status_code == 400 and "The date must be 2027-01-04 or later." in early.text
    start = "/forms/helpdesk-order-software"
    past = client.post(start, {"program": "Visio", "cost_band": "free", "users": "3",
                               "justification": "Drawing network diagrams.", "needed_by": "2020-01-01",
                               "direction": "next"}, form_page=start)
    assert past.status_code == 400 and "The date cannot be in the past." in past.text


def test_fields_a_pages_own_answers_show_come_back_before_going_on(site):
    """Without the script: ticking equipment shows "Anything else about equipment?" on the same page."""
    client = logged_in(site)
    first = client.post(NEW_EMPLOYEE, {**PERSON, "direction": "next"}, form_page=NEW_EMPLOYEE)
    base = draft_url(first)
    assert _field_hidden(first.text, "equipment_notes") and "equipment_notes" not in _shown(first.text)
    # With the script, the page's rules show it at once (test_portal_forms_browser.py).
    assert 'data-rules=' in first.text and "/static/form_rules.js" in first.text
    back = client.post(f"{base}/job", {**JOB, "shown": _shown(first.text), "direction": "next"},
                       form_page=f"{base}/job")
    assert back.status_code == 200 and back.url.endswith("/job")
    assert "Your answers brought up more questions on this page" in back.text
    assert not _field_hidden(back.text, "equipment_notes") and "equipment_notes" in _shown(back.text)
    assert 'value="Konsulent"' in back.text  # the answers are kept
    assert "job" not in FormDraft.get().done
    on = client.post(f"{base}/job", {**JOB, "equipment_notes": "A second screen.", "shown": _shown(back.text),
                                     "direction": "next"}, form_page=f"{base}/job")
    assert on.url.endswith("/terms")
    assert FormDraft.get().answers["equipment_notes"] == "A second screen."
    # With nothing new to show, a page goes on at once.
    again = client.post(f"{base}/job", {**JOB, "shown": _shown(back.text), "direction": "next"},
                        form_page=f"{base}/job")
    assert again.url.endswith("/terms")


def test_a_field_a_rule_makes_required_is_not_called_optional(site):
    start = "/forms/helpdesk-order-software"
    client = logged_in(site)
    page = client.get(start).text
    label = re.search(r'<label for="manager_email">.*?</label>', page, re.S).group(0)
    assert '<span class="optional">' in label  # optional while the cost is not known
    refused = client.post(start, {"program": "Visio", "cost_band": "over_5000", "users": "3",
                                  "justification": "Drawing network diagrams.", "direction": "next",
                                  "shown": _shown(page)}, form_page=start)
    assert refused.status_code == 400
    label = re.search(r'<label for="manager_email">.*?</label>', refused.text, re.S).group(0)
    assert '<span class="optional" hidden>' in label


def order_software(client, cost_band: str, manager: str):
    """Fill the one page of "Order software" and submit it; the answer to the submit."""
    start = "/forms/helpdesk-order-software"
    summary = client.post(start, {"program": "Visio", "cost_band": cost_band, "users": "3",
                                  "justification": "Drawing network diagrams for the new office.",
                                  "manager_email": manager, "direction": "next"}, form_page=start)
    assert summary.url.endswith("/summary"), summary.text[:2000]
    return client.post(f"{draft_url(summary)}/submit", form_page=summary.url[len(client.site.url):])


def test_an_expensive_order_waits_for_its_approvals_in_order(site):
    client = logged_in(site)
    order_software(client, "over_5000", "Leder@Example.org")
    case = Case.get()
    approvals = [(a.approver, a.position, a.state, a.source) for a in Approval.select().order_by(Approval.position)]
    assert approvals == [("leder@example.org", 1, "pending", "form"), ("it-budget@example.test", 2, "pending", "form")]
    assert case.tags == ["software-order"] and case.awaiting_approval
    # The first approver is asked at once, the second only after them;
    # the agents hear of the case once it is approved (test_approvals.py).
    assert site.wait_for_mail("leder@example.org", "Approval needed")
    assert Approval.get(Approval.position == 1).asked_at is not None
    assert Approval.get(Approval.position == 2).asked_at is None
    assert [(o.kind, o.recipient) for o in Outbox.select().where(Outbox.kind != "login_link").order_by(Outbox.id)] == [
        ("ack", "kari@example.org"), ("copied", "leder@example.org"), ("approval_request", "leder@example.org")]


def test_naming_oneself_as_manager_through_a_plus_address_is_refused(site):
    """kari+boss@ reaches kari's own mailbox: she may not approve her own order."""
    refused = order_software(logged_in(site), "1000_5000", "Kari+Boss@Example.org")
    assert refused.status_code == 400
    assert "You cannot approve your own request" in refused.text
    assert Case.select().count() == 0 and Approval.select().count() == 0


def test_a_page_skipped_by_url_sends_the_person_back(site):
    client = logged_in(site)
    first = client.post(NEW_EMPLOYEE, {**PERSON, "direction": "next"}, form_page=NEW_EMPLOYEE)
    base = draft_url(first)
    assert client.get(f"{base}/terms").url.endswith("/job")
    skipped = client.post(f"{base}/terms", {"end_date": "2027-06-30", "direction": "next"},
                          form_page=f"{base}/job")
    assert skipped.status_code == 400 and "Please answer this page first" in skipped.text
    assert client.get(f"{base}/summary").url.endswith("/job")
    refused = client.post(f"{base}/submit", form_page=f"{base}/job")
    assert refused.status_code == 400
    assert Case.select().count() == 0


def test_tampered_and_bad_answers_get_the_form_back_and_store_nothing(site):
    client = logged_in(site)
    cases_before = Case.select().count()
    # A field this page does not have.
    tampered = client.post(NEW_EMPLOYEE, {**PERSON, "is_admin": "yes", "direction": "next"},
                           form_page=NEW_EMPLOYEE)
    assert tampered.status_code == 400 and "changed in a way we cannot accept" in tampered.text
    # A choice not offered.
    bad_choice = client.post(NEW_EMPLOYEE, {**PERSON, "employment_type": "ceo", "direction": "next"},
                             form_page=NEW_EMPLOYEE)
    assert bad_choice.status_code == 400 and "field-error" in bad_choice.text
    assert FormDraft.select().count() == 0
    # Required answers missing.
    first = client.post("/forms/hr-other-question", {"direction": "next"}, form_page="/forms/hr-other-question")
    assert first.status_code == 400 and first.text.count("field-error") == 2
    # An oversized file (the limit made small here; the field's own is 10 MB).
    site.ctx.config["mail"]["max_attachment_bytes"] = 1000
    big = client.post("/forms/hr-other-question", {"topic": "Pension", "question": "How is it paid?",
                                                   "direction": "next"},
                      files=[("attachment", ("payslip.pdf", b"%PDF" + b"x" * 2000, "application/pdf"))],
                      form_page="/forms/hr-other-question")
    assert big.status_code == 400 and "larger than the limit" in big.text
    assert 'value="Pension"' in big.text  # nothing typed is lost
    assert FormDraft.select().count() == 0 and Case.select().count() == cases_before


def test_another_persons_draft_is_404(site):
    kari = logged_in(site)
    first = kari.post(NEW_EMPLOYEE, {**PERSON, "direction": "next"}, form_page=NEW_EMPLOYEE)
    base = draft_url(first)
    ola = Client(site)
    ola.log_in("ola@example.org")
    assert ola.get(f"{base}/job").status_code == 404
    assert ola.get(f"{base}/summary").status_code == 404
    assert ola.post(f"{base}/submit", form_page="/requests").status_code == 404


def test_old_drafts_sessions_links_and_rate_events_are_forgotten(site):
    client = logged_in(site)
    client.post(NEW_EMPLOYEE, {**PERSON, "direction": "next"}, form_page=NEW_EMPLOYEE)
    start = "/forms/hr-other-question"
    client.post(start, {"topic": "Pension", "question": "How is it paid?", "direction": "next"},
                files=[("attachment", ("lønnsslipp.pdf", b"%PDF-1.4 never sent", "application/pdf"))],
                form_page=start)
    later = utcnow() + datetime.timedelta(days=jobs.DRAFT_DAYS + 1)
    assert FormDraft.select().count() == 2 and PortalSession.select().count() == 1
    assert Blob.select().where(Blob.data == b"%PDF-1.4 never sent").exists()
    jobs.forget_old_portal_state(site.ctx, utcnow())
    assert FormDraft.select().count() == 2 and PortalSession.select().count() == 1
    jobs.forget_old_portal_state(site.ctx, later)
    assert FormDraft.select().count() == 0 and PortalSession.select().count() == 0
    assert LoginLink.select().count() == 0 and RateEvent.select().count() == 0
    assert Approval.select().count() == 0 and Attachment.select().count() == 0
    assert Blob.select().count() == 0  # the file of the draft never sent went with it


def test_files_of_a_form_become_attachments_of_the_case(site):
    client = logged_in(site)
    start = "/forms/hr-other-question"
    summary = client.post(start, {"topic": "Pension", "question": "How is it paid?", "direction": "next"},
                          files=[("attachment", ("lønnsslipp.pdf", b"%PDF-1.4 slip", "application/pdf"))],
                          form_page=start)
    assert summary.url.endswith("/summary") and "lønnsslipp.pdf" in summary.text
    client.post(f"{draft_url(summary)}/submit", form_page=summary.url[len(site.url):])
    case = Case.get()
    attachment = Attachment.select().join(Entry).where(Entry.case == case).get()
    assert attachment.filename == "lønnsslipp.pdf" and attachment.content_type == "application/pdf"
    assert case.request_type == "question"
    notice = site.wait_for_mail("hr-agent@example.test", "Pension")
    assert [p.get_filename() for p in notice.iter_attachments()] == ["lønnsslipp.pdf"]


def test_a_file_chosen_on_a_refused_page_is_kept_shown_and_submitted(site):
    start = "/forms/hr-other-question"
    client = logged_in(site)
    refused = client.post(start, {"topic": "", "question": "Can I see my contract?", "direction": "next"},
                          files=[("attachment", ("kontrakt.pdf", b"%PDF-1.4 unique bytes 8761", "application/pdf"))],
                          form_page=start)
    assert refused.status_code == 400
    assert "Attached: kontrakt.pdf" in refused.text and 'name="remove_file"' in refused.text
    assert "Can I see my contract?" in refused.text  # what was typed comes back too
    draft = FormDraft.get()
    assert [e["name"] for e in draft.files["attachment"]] == ["kontrakt.pdf"]
    base = f"{start}/{draft.id}"
    summary = client.post(f"{base}/ask", {"topic": "Contract", "question": "Can I see my contract?",
                                          "direction": "next"}, form_page=f"{base}/ask")
    assert summary.url.endswith("/summary") and "kontrakt.pdf" in summary.text
    done = client.post(f"{base}/submit", {}, form_page=f"{base}/summary")
    assert "/requests/" in done.url
    case = Case.select().order_by(Case.id.desc()).get()
    files = [a.filename for a in Attachment.select().join(Entry).where(Entry.case == case)]
    assert files == ["kontrakt.pdf"]


def test_a_kept_file_can_be_removed_or_replaced(site):
    start = "/forms/hr-other-question"
    client = logged_in(site)
    client.post(start, {"topic": "", "question": "", "direction": "next"},
                files=[("attachment", ("first.pdf", b"%PDF-1.4 first 1", "application/pdf"))], form_page=start)
    draft = FormDraft.get()
    base = f"{start}/{draft.id}"
    # A new file on a single-file field takes the old one's place.
    client.post(f"{base}/ask", {"topic": "", "question": "", "direction": "next"},
                files=[("attachment", ("second.pdf", b"%PDF-1.4 second 2", "application/pdf"))],
                form_page=f"{base}/ask")
    assert [e["name"] for e in FormDraft.get().files["attachment"]] == ["second.pdf"]
    kept = FormDraft.get().files["attachment"][0]
    page = client.post(f"{base}/ask", {"topic": "Contract", "question": "Where is it?", "direction": "next",
                                       "remove_file": f"attachment/{kept['sha256']}"}, form_page=f"{base}/ask")
    assert page.url.endswith("/summary") and "second.pdf" not in page.text
    assert FormDraft.get().files == {} and "attachment" not in FormDraft.get().answers


def test_a_departments_own_links_show_beside_its_forms(site):
    from maild import links

    with site.ctx.db.atomic():
        links.save(site.ctx.config, title="Lønnsslipper", url="https://lonn.example.org", department="hr")
        links.save(site.ctx.config, title="Status page", url="https://status.example.org")
    client = logged_in(site)
    hr = client.get("/new/hr").text
    assert "Lønnsslipper" in hr and 'rel="noopener noreferrer"' in hr and "Status page" not in hr
    assert "Lønnsslipper" not in client.get("/new/helpdesk").text
    home = client.get("/").text
    assert "Status page" in home and "Lønnsslipper" not in home


def test_a_one_page_form_shows_no_page_counter(site):
    """"Page 1 of 1" tells nothing: only a form of two pages or more counts them, in either language."""
    client = logged_in(site)
    assert "Page 1 of" in client.get(NEW_EMPLOYEE).text
    one = client.get("/forms/helpdesk-order-software").text
    assert 'class="progress"' not in one and "Page 1 of 1" not in one
    client.post("/language", {"lang": "nb", "next": "/forms/helpdesk-order-software"}, form_page="/requests")
    one = client.get("/forms/helpdesk-order-software").text
    assert "Bestill programvare" in one and "Side 1 av" not in one
    assert "Side 1 av" in client.get(NEW_EMPLOYEE).text


def test_the_error_summary_puts_no_colon_after_a_question_mark(site):
    """A question ends in "?": the summary says "How many people need it? Enter …", not "it?: Enter"."""
    client = logged_in(site)
    start = "/forms/helpdesk-order-software"
    for language, question in (("en", "How many people need it?"), ("nb", "Hvor mange trenger det?")):
        client.post("/language", {"lang": language, "next": start}, form_page="/requests")
        refused = client.post(start, {"program": "", "cost_band": "free", "users": "",
                                      "justification": "Diagrams.", "direction": "next"}, form_page=start)
        assert refused.status_code == 400
        summary = refused.text.split('class="error-summary"', 1)[1].split("</ul>", 1)[0]
        assert f'<a href="#users">{question} ' in summary, summary
        assert "?:" not in summary and "?:" not in refused.text
        # A label without a mark of its own still gets its colon.
        assert re.search(r'<a href="#[a-z_]+">[^<?]*[^?]: ', summary), summary

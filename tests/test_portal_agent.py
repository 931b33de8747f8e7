"""The agents' portal over HTTP, against the running daemon and portal (SPEC 5, Agents).

The queue by tab and department, the case page with notes and match traces,
every form on it through to the mail it causes, search over internal notes,
the admin's Retry of failed and dead rows, and that nobody who is not an
agent of the case's department learns anything (404, never 403). Browser
tests (real Chromium, axe-core) are in ``test_portal_agent_browser.py``.
"""

from __future__ import annotations

import email
import email.policy
import re

from conftest import deliver, wait_until
from mailfactory import make_mail
from portalkit import Client, logged_in, make_admin

from maild import cases, people, spool
from maild.store.models import Attachment, Case, Entry, Membership, Outbox, Participant, Person, Spool, utcnow

AGENT, HR_AGENT, KARI = "agent@example.test", "hr-agent@example.test", "kari@example.org"


def open_case_by_mail(site, sender=KARI, subject="Printer on floor 3", body="It jams.", to="helpdesk@example.test",
                      **kwargs) -> Case:
    deliver(site.ctx, make_mail(sender=sender, subject=subject, body=body, to=to, **kwargs), rcpt=(to,))
    return Case.select().order_by(Case.id.desc()).first()


def case_rows(page: str) -> list[str]:
    """The subjects linked from a queue page, in order."""
    return re.findall(r'<a href="/agent/cases/\d+">([^<]*)</a>', page)


# --------------------------------------------------------------------------- the queue

def test_the_queue_shows_a_departments_cases_by_tab_and_mine(site):
    new = open_case_by_mail(site, subject="Brand new")
    opened = open_case_by_mail(site, subject="Being worked on")
    waiting = open_case_by_mail(site, subject="Waiting for Kari")
    elsewhere = open_case_by_mail(site, subject="Ferie", to="hr@example.test")
    closed = open_case_by_mail(site, subject="Long done")
    agent = people.find(AGENT)
    with site.ctx.db.atomic():
        cases.set_status(site.ctx, opened, "open")
        cases.assign(site.ctx, opened, agent)
        cases.set_status(site.ctx, waiting, "pending")
        cases.close(site.ctx, closed)
    client = logged_in(site, AGENT)
    assert '<a href="/agent">Agent</a>' in client.get("/requests").text
    assert case_rows(client.get("/agent").text) == ["Brand new"]  # "new" is the first tab
    assert case_rows(client.get("/agent?tab=open").text) == ["Being worked on"]
    assert case_rows(client.get("/agent?tab=pending").text) == ["Waiting for Kari"]
    mine = client.get("/agent?tab=mine").text
    assert case_rows(mine) == ["Being worked on"] and 'aria-current="page">Assigned to me' in mine
    for page in ("/agent", "/agent?tab=open", "/agent?tab=mine", "/agent?dept=hr", "/agent?tab=nonsense"):
        assert "Ferie" not in client.get(page).text and "Long done" not in client.get(page).text
    assert f"SD-{new.id}" in client.get("/agent").text
    # An admin has every department, and the selector to choose one.
    admin = make_admin(site)
    everything = admin.get("/agent").text
    assert 'id="dept"' in everything and set(case_rows(everything)) == {"Brand new", "Ferie"}
    assert case_rows(admin.get("/agent?dept=hr").text) == ["Ferie"]
    assert elsewhere.department == "hr"


def test_the_queue_is_newest_activity_first_and_paginated(site, monkeypatch):
    monkeypatch.setitem(site.ctx.config["portal"], "page_size", 2)
    for i in range(5):
        open_case_by_mail(site, subject=f"Question {i}", message_id=f"<q{i}@example.org>")
    first = Case.get(Case.subject == "Question 0")
    with site.ctx.db.atomic():
        cases.add_message(site.ctx, first, author=people.find(KARI), body_text="Any news?")
    client = logged_in(site, AGENT)
    page = client.get("/agent").text
    assert case_rows(page) == ["Question 0", "Question 4"] and "Page 1 of 3" in page
    assert case_rows(client.get("/agent?tab=new&page=3").text) == ["Question 1"]
    # A search's pages are not counted: each says which cases it shows and
    # links to the next while there is one.
    page = client.get("/agent?q=question").text
    assert case_rows(page) == ["Question 0", "Question 4"] and "Cases 1–2 that match “question”." in page
    assert '&amp;page=2" rel="next">Next</a>' in page and "<span>Page 1</span>" in page
    last = client.get("/agent?q=question&page=3").text
    assert case_rows(last) == ["Question 1"] and "Cases 5–5 that match “question”." in last
    assert 'rel="next"' not in last and '&amp;page=2" rel="prev">Previous</a>' in last
    one = client.get("/agent?q=question+4").text  # all on one page: counted
    assert "1 case matches “question 4”." in one and 'class="pages"' not in one


# --------------------------------------------------------------------------- the case page and its forms

def test_an_agents_reply_reaches_the_customer_with_its_attachments(site):
    case = open_case_by_mail(site)
    client = logged_in(site, AGENT)
    answer = client.post(f"/agent/cases/{case.id}/reply", {"text": "Try tray 2, please."},
                         files=[("files", ("guide.pdf", b"%PDF-1.4 guide", "application/pdf")),
                                ("files", ("steps ø.txt", b"1. open\n", "text/plain"))],
                         form_page=f"/agent/cases/{case.id}")
    assert answer.status_code == 200 and "Your reply has been sent to the customer." in answer.text
    mail = wait_until(lambda: [m for m in site.mails_to(KARI)
                               if "Try tray 2, please." in m.get_body(("plain",)).get_content()])[-1]
    assert sorted(part.get_filename() for part in mail.iter_attachments()) == ["guide.pdf", "steps ø.txt"]
    assert AGENT not in str(mail["From"]) and "helpdesk@example.test" in str(mail["From"])
    assert Case.get_by_id(case.id).status == "open"  # a reply takes a new case into work
    page = client.get(f"/agent/cases/{case.id}").text
    assert "Try tray 2, please." in page and "guide.pdf" in page
    guide = Attachment.get(Attachment.filename == "guide.pdf")
    download = client.get(f"/agent/cases/{case.id}/files/{guide.id}")
    assert download.content == b"%PDF-1.4 guide" and download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # The customer's page shows the reply too, from the department: the agent's address stays inside.
    customer_page = logged_in(site, KARI).get(f"/requests/{case.id}").text
    assert "Try tray 2, please." in customer_page and AGENT not in customer_page


def test_a_note_reaches_no_customer_and_is_marked_internal(site):
    case = open_case_by_mail(site, cc="Ola <ola@example.org>")
    client = logged_in(site, AGENT)
    empty = client.post(f"/agent/cases/{case.id}/note", {"text": " "}, form_page=f"/agent/cases/{case.id}")
    assert empty.status_code == 400 and "There is a problem" in empty.text
    assert 'id="note-text" name="text" rows="5"  aria-describedby="note-text-error" aria-invalid="true"' in empty.text
    answer = client.post(f"/agent/cases/{case.id}/note", {"text": "Kari is the CEO; be quick."},
                         files=[("files", ("org.txt", b"chart", "text/plain"))], form_page=f"/agent/cases/{case.id}")
    assert answer.status_code == 200 and "The internal note has been added." in answer.text
    note = Entry.get(Entry.kind == "note")
    assert not note.public and note.author.email == AGENT
    assert re.search(r"Note</span>\s*<span class=\"badge internal-badge\">Internal</span>", answer.text)
    # The customers have their acknowledgement and nothing since; no mail carries the note.
    assert [o.kind for o in Outbox.select().where(Outbox.recipient == KARI)] == ["ack"]
    assert not Outbox.select().where(Outbox.recipient == "ola@example.org").exists()
    assert not any("be quick" in str(m) for m in site.capture.messages)
    kari = logged_in(site, KARI)
    assert "be quick" not in kari.get(f"/requests/{case.id}").text
    note_file = Attachment.get(Attachment.filename == "org.txt")
    assert kari.get(f"/requests/{case.id}/files/{note_file.id}").status_code == 404
    assert client.get(f"/agent/cases/{case.id}/files/{note_file.id}").content == b"chart"


def test_close_reopen_status_assign_move_and_add_participant_change_the_case(site):
    case = open_case_by_mail(site)
    with site.ctx.db.atomic():
        second = Person.create(email="second@example.test", name="Second Agent", role="agent")
        Membership.create(person=second, department="helpdesk")
    client = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"
    token = client.csrf(path)

    def post(action, **data):
        return client.post(f"{path}/{action}", data, token=token)

    assert "The case is closed." in post("close").text
    assert Case.get_by_id(case.id).status == "closed"
    wait_until(lambda: Outbox.select().where((Outbox.kind == "closed") & (Outbox.recipient == KARI)).exists())
    assert "The case is open again." in post("reopen").text and Case.get_by_id(case.id).status == "open"
    assert post("status", status="pending").status_code == 200 and Case.get_by_id(case.id).status == "pending"
    assert post("status", status="open").status_code == 200 and Case.get_by_id(case.id).status == "open"
    assert post("status", status="closed").status_code == 400 and Case.get_by_id(case.id).status == "open"

    page = client.get(path).text
    assert '<option value="second@example.test">Second Agent &lt;second@example.test&gt;</option>' in page
    assert post("assign", to="me").status_code == 200 and Case.get_by_id(case.id).assignee.email == AGENT
    assert post("assign", to="second@example.test").status_code == 200
    assert Case.get_by_id(case.id).assignee.email == "second@example.test"
    site.wait_for_mail("second@example.test")  # the new assignee is told
    bad = post("assign", to="kari@example.org")
    assert bad.status_code == 400 and 'id="assign-to" name="to"  aria-describedby="assign-to-error"' in bad.text
    assert post("assign", to="").status_code == 200 and Case.get_by_id(case.id).assignee is None

    assert "The participant has been added." in post("participants", email="Ola@Example.org").text
    ola = people.find("ola@example.org")
    assert Participant.select().where((Participant.case == case) & (Participant.person == ola)).exists()
    for address, message in (("ola@example.org", "already takes part"), ("not an address", "Enter an email"),
                             ("helpdesk@example.test", "a department&#39;s own address")):
        answer = post("participants", email=address)
        assert answer.status_code == 400 and message in answer.text, address
    assert Participant.select().where(Participant.case == case).count() == 2

    assert post("move", department="helpdesk").status_code == 400
    assert post("move", department="nowhere").status_code == 400
    moved = post("move", department="hr")
    assert moved.url.endswith("/agent?done=moved") and "moved to another department" in moved.text
    assert Case.get_by_id(case.id).department == "hr"
    # HR's notify list is told, in HR's language, with the request to act on.
    told = " ".join(site.wait_for_mail("hr-agent@example.test", "Printer on floor 3").get_body(
        ("plain",)).get_content().split())
    assert f"Sak SD-{case.id} ble flyttet fra Helpdesk til HR av {AGENT}." in told and "It jams." in told
    assert client.get(path).status_code == 404  # no longer one of this agent's cases
    hr_page = logged_in(site, HR_AGENT).get(path).text
    # Every change is in the history the next agent reads.
    for event in ("Closed", "Marked as waiting for the customer", "Assigned to Second Agent &lt;second@example.test&gt;",
                  f"{AGENT}: Unassigned", "ola@example.org added as a participant", "Moved to HR"):
        assert event in hr_page, event


def test_an_agent_lands_on_the_queue_and_a_customer_on_my_requests(site):
    case = open_case_by_mail(site)
    agent = logged_in(site, AGENT)
    assert agent.landed == "/agent"
    assert logged_in(site, KARI).landed == "/requests"
    assert agent.get("/login").url.endswith("/agent")
    # Where a person was going is kept: a link from a mail still goes to its case.
    assert agent.get(f"/login?next=/agent/cases/{case.id}").url.endswith(f"/agent/cases/{case.id}")


def test_an_agents_reopen_says_who_reopened_it_and_how(site):
    case = open_case_by_mail(site)
    with site.ctx.db.atomic():
        second = Person.create(email="second@example.test", name="Second Agent", role="agent")
        Membership.create(person=second, department="helpdesk")
        Case.update(assignee=second).where(Case.id == case.id).execute()
        cases.close(site.ctx, Case.get_by_id(case.id))
    client = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"
    assert "The case is open again." in client.post(f"{path}/reopen", {}, form_page=path).text
    told = site.wait_for_mail("second@example.test", "Printer on floor 3")
    text = " ".join(told.get_body(("plain",)).get_content().split())
    assert f"was reopened by {AGENT} in the portal." in text and "reply from the customer" not in text
    assert f"{AGENT}: Reopened in the portal" in client.get(path).text
    # The one who reopened it is not told of it.
    assert not Outbox.select().where((Outbox.kind == "reopened") & (Outbox.recipient == AGENT)).exists()


def test_the_case_page_shows_the_match_trace_of_each_inbound_message(site):
    case = open_case_by_mail(site)
    deliver(site.ctx, make_mail(subject=f"Re: [SD#{case.id}] Printer on floor 3", body="Still jams."))
    first, reply = [Spool.get_by_id(e.spool_id) for e in
                    Entry.select().where(Entry.case == case).order_by(Entry.id)]
    page = logged_in(site, AGENT).get(f"/agent/cases/{case.id}").text
    assert page.count("How this message was matched") == 2
    rules = [step["rule"] for step in first.trace + reply.trace]
    assert "department" in rules and "subject-token" in rules
    for rule in rules:
        assert f'<code class="rule">{rule}</code>' in page, rule
    assert f"<dt>value</dt><dd>[SD#{case.id}]</dd>" in page
    assert f"Incoming message {reply.id}, received" in page


def test_where_a_message_came_from_is_said_in_words_not_its_stored_key(site):
    """The spool's source ("smtp", "imap:<account>/<folder>/…") is shown as a label in the reader's language."""
    case = open_case_by_mail(site)
    reply = deliver(site.ctx, make_mail(subject=f"Re: [SD#{case.id}] Printer on floor 3", body="Still jams."),
                    source="imap:support/INBOX/1/7")
    client = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"
    page = client.get(path).text
    assert "by SMTP." in page and "by IMAP account support." in page and "imap:support/INBOX" not in page
    client.post("/language", {"lang": "nb", "next": path}, form_page="/agent")
    page = client.get(path).text
    assert f"Innkommende melding {reply.id}, mottatt" in page and "via IMAP-kontoen support." in page


def test_unverified_mail_in_an_agents_name_is_flagged(site):
    case = open_case_by_mail(site)
    with site.ctx.db.atomic():
        cases.add_message(site.ctx, case, author=people.find(AGENT), body_text="#close please", public=False,
                          kind="note", unverified=True, notify_agents=False)
    page = logged_in(site, AGENT).get(f"/agent/cases/{case.id}").text
    assert '<span class="badge unverified-badge">Unverified</span>' in page
    assert "did not come through the signed address made for its sender" in page


def test_search_finds_words_of_internal_notes_for_agents_only(site):
    case = open_case_by_mail(site, subject="Laptop")
    other = open_case_by_mail(site, subject="Ferie", to="hr@example.test", body="zebra holiday")
    client = logged_in(site, AGENT)
    client.post(f"/agent/cases/{case.id}/note", {"text": "Serial number zebrafish-42"},
                form_page=f"/agent/cases/{case.id}")
    found = client.get("/agent?q=zebrafi").text
    assert case_rows(found) == ["Laptop"] and "1 case matches" in found
    assert case_rows(client.get("/agent?q=zebra").text) == ["Laptop"]  # HR's case is not theirs
    with site.ctx.db.atomic():
        cases.close(site.ctx, case, notify_customer=False)
    assert case_rows(client.get("/agent?q=serial").text) == ["Laptop"]  # closed cases too
    assert "Nothing found" in client.get("/agent?q=giraffe").text
    assert "Nothing found" in logged_in(site, KARI).get("/requests?q=zebrafish").text
    assert case_rows(logged_in(site, HR_AGENT).get("/agent?q=zebra").text) == ["Ferie"]
    assert other.department == "hr"


# --------------------------------------------------------------------------- who may see what

def _agent_urls(case_id: int, attachment_id: int, spool_id: int, outbox_id: int):
    gets = ["/agent", "/agent?tab=mine", f"/agent/cases/{case_id}", f"/agent/cases/{case_id}/files/{attachment_id}",
            "/agent/admin"]
    posts = {f"/agent/cases/{case_id}/reply": {"text": "x"}, f"/agent/cases/{case_id}/note": {"text": "x"},
             f"/agent/cases/{case_id}/close": {}, f"/agent/cases/{case_id}/reopen": {},
             f"/agent/cases/{case_id}/status": {"status": "pending"}, f"/agent/cases/{case_id}/assign": {"to": "me"},
             f"/agent/cases/{case_id}/move": {"department": "hr"},
             f"/agent/cases/{case_id}/participants": {"email": "eve@example.org"},
             f"/agent/admin/spool/{spool_id}/retry": {}, f"/agent/admin/outbox/{outbox_id}/retry": {}}
    return gets, posts


def _unchanged(case: Case) -> None:
    now = Case.get_by_id(case.id)
    assert (now.status, now.department, now.assignee_id) == ("new", "helpdesk", None)
    assert Entry.select().where(Entry.case == case).count() == 1


def test_a_customer_and_a_visitor_get_404_or_the_login_on_every_agent_url(site):
    case = open_case_by_mail(site, attachments=[("a.txt", "text/plain", b"mine")])
    attachment = Attachment.get()
    spool_id = Spool.get().id
    outbox_id = Outbox.get().id
    gets, posts = _agent_urls(case.id, attachment.id, spool_id, outbox_id)
    kari = logged_in(site, KARI)  # the case's own requester
    assert '<a href="/agent">' not in kari.get("/requests").text
    token = kari.csrf("/requests")
    for path in gets:
        assert kari.get(path).status_code == 404, path
    for path, data in posts.items():
        assert kari.post(path, data, token=token).status_code == 404, path
    visitor = Client(site)
    token = visitor.csrf("/login")
    for path in gets:
        answer = visitor.get(path, allow_redirects=False)
        assert answer.status_code in (302, 303) and "/login?next=" in answer.headers["Location"], path
    for path, data in posts.items():
        answer = visitor.post(path, data, token=token, allow_redirects=False)
        assert answer.status_code in (302, 303) and "/login?next=" in answer.headers["Location"], path
    # And no token is no entry, for anyone, before any of this is looked at.
    assert kari.post(f"/agent/cases/{case.id}/close", token="").status_code == 403
    _unchanged(case)
    assert Spool.get_by_id(spool_id).state == "processed"


def test_an_agent_of_another_department_gets_404_on_the_case(site):
    case = open_case_by_mail(site, attachments=[("a.txt", "text/plain", b"mine")])
    attachment = Attachment.get()
    gets, posts = _agent_urls(case.id, attachment.id, Spool.get().id, Outbox.get().id)
    hr = logged_in(site, HR_AGENT)
    assert hr.get("/agent").status_code == 200 and '<a href="/agent">Agent</a>' in hr.last.text
    assert "/agent/admin" not in hr.last.text
    token = hr.csrf("/agent")
    for path in gets[2:]:
        assert hr.get(path).status_code == 404, path
    for path, data in posts.items():
        assert hr.post(path, data, token=token).status_code == 404, path
    for case_id in ("0", "999999", "abc", "1" * 20):
        assert hr.get(f"/agent/cases/{case_id}").status_code == 404
    _unchanged(case)
    # The helpdesk's own agent sees it, but not the admin page.
    agent = logged_in(site, AGENT)
    assert agent.get(f"/agent/cases/{case.id}").status_code == 200
    assert agent.get("/agent/admin").status_code == 404
    assert agent.post(f"/agent/admin/outbox/{Outbox.get().id}/retry", form_page="/agent").status_code == 404


def test_an_agent_by_membership_counts_and_a_customer_role_member_does_not(site):
    case = open_case_by_mail(site)
    with site.ctx.db.atomic():
        member = Person.create(email="member@example.test", role="agent")
        Membership.create(person=member, department="helpdesk")
        former = Person.create(email="former@example.test", role="customer")
        Membership.create(person=former, department="helpdesk")
    assert logged_in(site, "member@example.test").get(f"/agent/cases/{case.id}").status_code == 200
    assert logged_in(site, "former@example.test").get("/agent").status_code == 404


# --------------------------------------------------------------------------- the admin lists

def test_the_admin_retries_a_failed_spool_row_and_a_dead_outbox_row(site):
    case = open_case_by_mail(site)
    site.wait_for_mail(KARI, "Printer on floor 3")
    # Recorded sent before it is marked dead below, or the worker would overwrite it.
    wait_until(lambda: Outbox.get(Outbox.recipient == KARI).state == "sent")
    raw = make_mail(subject="Stuck in the spool", body="Please process me.")
    with site.ctx.db.atomic():
        values = spool.row_values(raw, spool.Envelope(mail_from=KARI, rcpt_tos=["helpdesk@example.test"]), "smtp")
        # Past the automatic retries: only a person's Retry takes it again.
        values.update(state="failed", attempts=99, reason="OperationalError: disk I/O error",
                      error="Traceback (most recent call last):\n  ...\nOperationalError: disk I/O error")
        failed = Spool.create(**values)
        dead = Outbox.get(Outbox.recipient == KARI)
        Outbox.update(state="dead", last_error="550 5.1.1 <kari@example.org>: mailbox unavailable\nmore",
                      next_attempt_at=utcnow()).where(Outbox.id == dead.id).execute()
    admin = make_admin(site)
    assert '<a href="/agent/admin"' in admin.get("/agent").text
    page = admin.get("/agent/admin").text
    assert f"<td>{failed.id}</td>" in page and "OperationalError: disk I/O error" in page and "Traceback" not in page
    assert f"<td>{dead.id}</td>" in page and "550 5.1.1" in page and "more" not in page
    assert dead.subject and dead.subject in page

    before = len(site.mails_to(KARI))
    answer = admin.post(f"/agent/admin/outbox/{dead.id}/retry", form_page="/agent/admin")
    assert answer.status_code == 200 and "will be sent again" in answer.text
    wait_until(lambda: Outbox.get_by_id(dead.id).state == "sent")
    wait_until(lambda: len(site.mails_to(KARI)) > before)

    answer = admin.post(f"/agent/admin/spool/{failed.id}/retry", form_page="/agent/admin")
    assert answer.status_code == 200 and "will be processed again" in answer.text
    wait_until(lambda: Spool.get_by_id(failed.id).state == "processed")
    assert Case.select().where(Case.subject == "Stuck in the spool").exists()
    after = admin.get("/agent/admin").text
    assert "Every incoming message was processed." in after and "delivered or is still being tried" in after
    # Retrying a row that is no longer waiting changes nothing; an unknown row is 404.
    again = admin.post(f"/agent/admin/spool/{failed.id}/retry", form_page="/agent/admin")
    assert "nothing was changed" in again.text and Spool.get_by_id(failed.id).state == "processed"
    assert admin.post("/agent/admin/outbox/999999/retry", form_page="/agent/admin").status_code == 404
    # An admin sees every case, as an agent of every department.
    assert admin.get(f"/agent/cases/{case.id}").status_code == 200


def test_priority_type_and_tags_are_shown_and_edited_on_the_case(site):
    case = open_case_by_mail(site)
    client = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"
    saved = client.post(f"{path}/details", {"priority": "urgent", "request_type": "incident",
                                            "tags": "printer, Floor-3 printer"}, form_page=path)
    assert "The details are saved." in saved.text
    case = Case.get_by_id(case.id)
    assert (case.priority, case.request_type, case.tags) == ("urgent", "incident", ["floor-3", "printer"])
    assert '<a href="/agent?tag=printer" class="tag">printer</a>' in saved.text and "Incident" in saved.text
    # The history
    assert "Priority set to urgent. Request type set to incident. Tags set to floor-3, printer" in saved.text
    bad = client.post(f"{path}/details", {"priority": "asap", "request_type": "wish", "tags": "a+b"},
                      form_page=path)
    assert bad.status_code == 400 and bad.text.count('class="field-error"') == 3
    assert 'value="a+b"' in bad.text  # what was typed comes back
    assert Case.get_by_id(case.id).priority == "urgent"


def test_the_queue_has_a_closed_tab_a_priority_column_order_and_filters(site):
    first = open_case_by_mail(site, subject="Printer jams")
    second = open_case_by_mail(site, subject="VPN is down")
    third = open_case_by_mail(site, subject="Old laptop")
    with site.ctx.db.atomic():
        cases.set_details(site.ctx, Case.get_by_id(first.id), priority="low", tags=["printer"])
        cases.set_details(site.ctx, Case.get_by_id(second.id), priority="urgent", request_type="incident")
        cases.close(site.ctx, Case.get_by_id(third.id))
    client = logged_in(site, AGENT)

    def subjects(params):
        page = client.get("/agent", params=params).text
        return re.findall(r'<td class="subject"><a href="/agent/cases/\d+">([^<]+)</a>', page), page

    listed, page = subjects({})
    assert listed == ["VPN is down", "Printer jams"] and 'Closed <span class="count">(1)</span>' in page
    assert 'data-label="Priority"><span class="priority priority-urgent">Urgent</span>' in page
    assert subjects({"sort": "priority"})[0] == ["VPN is down", "Printer jams"]
    with site.ctx.db.atomic():
        cases.set_details(site.ctx, Case.get_by_id(first.id), priority="high")
    assert subjects({"sort": "activity"})[0][0] == "Printer jams"  # touched last
    assert subjects({"sort": "priority"})[0] == ["VPN is down", "Printer jams"]
    assert subjects({"tab": "closed"})[0] == ["Old laptop"]
    assert subjects({"tag": "printer"})[0] == ["Printer jams"]
    assert subjects({"tag": "print"})[0] == []  # whole tags only
    assert subjects({"type": "incident"})[0] == ["VPN is down"]
    filtered = subjects({"type": "incident", "tab": "new"})[1]
    assert 'href="/agent?tab=closed&amp;type=incident"' in filtered  # the tabs keep the filter


def test_the_agents_history_says_each_change_in_the_readers_language(site):
    """Events are stored in English; the agent page says those that name a change in the
    agent's language, like the customer's history, and keeps the stored text for the rest."""
    case = open_case_by_mail(site)
    agent = people.find(AGENT)
    with site.ctx.db.atomic():
        cases.set_status(site.ctx, case, "pending", by=agent)
        cases.set_status(site.ctx, case, "open", by=agent)
        cases.close(site.ctx, case, by=agent)
        # An event from before changes were named: only its English text is stored.
        cases.event(case, "Linked case SD-1 was opened from a message that named this case.", utcnow(),
                    public=False)
    client = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"
    events = re.findall(r'<li class="event">(.*?) · <time', client.get(path).text)
    assert events[-4:] == [f"{AGENT}: Marked as waiting for the customer", f"{AGENT}: Marked as open",
                           f"{AGENT}: Closed", "Linked case SD-1 was opened from a message that named this case."]
    client.post("/language", {"lang": "nb", "next": path}, form_page="/agent")
    events = re.findall(r'<li class="event">(.*?) · <time', client.get(path).text)
    assert events[-4:] == [f"{AGENT}: Markert som venter på kunden", f"{AGENT}: Markert som åpen",
                           f"{AGENT}: Lukket", "Linked case SD-1 was opened from a message that named this case."]


def test_the_agents_own_changes_are_said_in_their_language_and_never_to_the_customer(site):
    """Assignments, participants, details, withdrawn and expired approvals, an agent's mail of
    commands and a linked case: each a line in the agent's language, none in the customer's history."""
    import datetime

    from maild import approvals

    case = open_case_by_mail(site)
    agent = people.find(AGENT)
    with site.ctx.db.atomic():
        second = Person.create(email="second@example.test", name="Second Agent", role="agent")
        Membership.create(person=second, department="helpdesk")
        Person.create(email="ola@example.org", name="Ola Nordmann")
    # An agent's mail of commands only, to the reply address signed for them.
    notice = Outbox.select().where((Outbox.case == case) & (Outbox.kind == "new_case")
                                   & (Outbox.recipient == AGENT)).get()
    reply_to = str(email.message_from_bytes(bytes(notice.raw), policy=email.policy.default)["Reply-To"])
    deliver(site.ctx, make_mail(sender=AGENT, sender_name="", to=reply_to, subject="Re: Printer on floor 3",
                                body="#assign me\n#priority urgent\n"), rcpt=(reply_to,), mail_from=AGENT)
    deliver(site.ctx, make_mail(sender=AGENT, sender_name="", to=reply_to, subject="Re: Printer on floor 3",
                                body="\n"), rcpt=(reply_to,), mail_from=AGENT)
    # A stranger's mail naming the case opens a new case linked to it.
    linked = open_case_by_mail(site, sender="mallory@example.net", subject=f"Re: [SD#{case.id}] hi")
    assert linked.linked_to_id == case.id
    wait_until(lambda: Case.get_by_id(case.id).priority == "urgent")
    now = utcnow() + datetime.timedelta(minutes=1)
    step = datetime.timedelta(minutes=1)
    with site.ctx.db.atomic():
        approvals.ask(site.ctx, Case.get_by_id(case.id), "boss@example.org", requested_by=AGENT, now=now)
        approvals.withdraw(site.ctx, approvals.of_case(case)[0], by=agent, now=now + step)
        approvals.ask(site.ctx, Case.get_by_id(case.id), "cfo@example.org", requested_by=AGENT, now=now + 2 * step)
    now += datetime.timedelta(days=8)
    assert approvals.remind_and_expire(site.ctx, now) == (0, 1)
    with site.ctx.db.atomic():
        case = Case.get_by_id(case.id)
        cases.assign(site.ctx, case, second, by=agent, now=now + step)
        cases.assign(site.ctx, case, None, by=agent, now=now + 2 * step)
        cases.add_cc(site.ctx, case, people.find("ola@example.org"), by=agent, now=now + 3 * step)
        cases.set_details(site.ctx, case, priority="high", request_type="service_request", tags=["vpn", "wifi"],
                          by=agent, now=now + 4 * step)
        cases.set_details(site.ctx, case, request_type="", tags=[], by=agent, now=now + 5 * step)
        cases.close(site.ctx, case, by=agent, now=now + 6 * step)
    me = people.find(AGENT).name or AGENT
    client = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"

    def events(page):
        return re.findall(r'<li class="event">(.*?) · <time', page)

    assert events(client.get(path).text) == [
        f"{me}: Commands by email: #assign me, #priority urgent",
        f"{me}: Assigned to {AGENT}", f"{me}: Priority set to urgent",
        f"{me}: Email without text of its own: nothing was sent",
        f"Linked case SD-{linked.id} was opened from a message that named this case",
        f"{me}: Approval asked of boss@example.org", f"{me}: Approval by boss@example.org withdrawn",
        f"{me}: Approval asked of cfo@example.org",
        "Approval by cfo@example.org expired after 7 days without an answer",
        f"{me}: Assigned to Second Agent &lt;second@example.test&gt;", f"{me}: Unassigned",
        f"{me}: Ola Nordmann &lt;ola@example.org&gt; added as a participant",
        f"{me}: Priority set to high. Request type set to service request. Tags set to vpn, wifi",
        f"{me}: Request type removed. Tags removed",
        f"{me}: Closed"]
    client.post("/language", {"lang": "nb", "next": path}, form_page="/agent")
    assert events(client.get(path).text) == [
        f"{me}: Kommandoer på e-post: #assign me, #priority urgent",
        f"{me}: Tildelt {AGENT}", f"{me}: Prioritet endret til haster",
        f"{me}: E-post uten egen tekst: ingenting ble sendt",
        f"Koblet sak SD-{linked.id} ble opprettet fra en melding som viste til denne saken",
        f"{me}: Bedt om godkjenning fra boss@example.org",
        f"{me}: Godkjenning fra boss@example.org trukket tilbake",
        f"{me}: Bedt om godkjenning fra cfo@example.org",
        "Godkjenning fra cfo@example.org utløpt etter 7 dager uten svar",
        f"{me}: Tildelt Second Agent &lt;second@example.test&gt;", f"{me}: Tildeling fjernet",
        f"{me}: Ola Nordmann &lt;ola@example.org&gt; lagt til som deltaker",
        f"{me}: Prioritet endret til høy. Sakstype endret til tjenesteforespørsel. "
        "Stikkord endret til vpn, wifi",
        f"{me}: Sakstype fjernet. Stikkord fjernet",
        f"{me}: Lukket"]
    # The customer reads only what was done for them: asked approvals and the closing.
    kari = logged_in(site, KARI)
    page = kari.get(f"/requests/{case.id}").text
    assert events(page) == ["Approval asked of boss@example.org", "Approval asked of cfo@example.org", "Closed"]
    for internal in ("Commands", "#assign", "Assigned", "Unassigned", "Second Agent", "second@example.test",
                     "Priority", "urgent", "participant", "Ola", "withdrawn", "expired", "Linked", "Mail from"):
        assert internal not in page, internal
    kari.post("/language", {"lang": "nb", "next": f"/requests/{case.id}"}, form_page="/requests")
    page = kari.get(f"/requests/{case.id}").text
    assert events(page) == ["Bedt om godkjenning fra boss@example.org", "Bedt om godkjenning fra cfo@example.org",
                            "Lukket"]
    for internal in ("Kommandoer", "Tildel", "Prioritet endret", "deltaker", "trukket tilbake", "utløpt", "Koblet"):
        assert internal not in page, internal


def test_an_event_names_whole_tags_only_when_they_do_not_all_fit(site):
    case = open_case_by_mail(site)
    tags = [f"{letter * 50}-{i}" for i, letter in enumerate("abcdefgh")]
    with site.ctx.db.atomic():
        cases.set_details(site.ctx, case, priority="low", tags=tags, by=people.find(AGENT))
    event = Entry.select().where((Entry.case == case) & (Entry.kind == "event")).order_by(Entry.id.desc()).get()
    assert len(event.change) <= cases.CHANGE_MAX and event.change.endswith(",…")
    named = event.change.split("tags=", 1)[1].split(",")[:-1]
    assert named and named == tags[:len(named)]  # whole ones, in order
    assert event.body_text == f"Set priority low; tags {', '.join(sorted(tags))}."

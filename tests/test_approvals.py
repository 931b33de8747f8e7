"""Approvals (SPEC 5): asked in turn, decided by link, by reply or in the portal; forgeries decide nothing.

Domain and mail tests spool mail through the runner on both stores; the
portal tests run the daemon and the portal over HTTP, and one sends the
approver's reply over SMTP. The browser test of *My approvals* is in
``test_approvals_browser.py``.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import re
import smtplib
import threading
import time

import pytest
from conftest import deliver, wait_until
from mailfactory import make_mail
from portalkit import Client, logged_in
from test_agentmail import agent_mail

from maild import approvals, cases, jobs, people
from maild.mail.signing import approval_address, read_approval_address
from maild.store.models import Approval, Case, Entry, Outbox, Person, utcnow

BOSS = "boss@example.org"
CFO = "cfo@example.org"
AGENT = "agent@example.test"
DAY = datetime.timedelta(days=1)


def parsed(row: Outbox) -> email.message.EmailMessage:
    return email.message_from_bytes(bytes(row.raw), policy=email.policy.default)


def text_of(row: Outbox) -> str:
    """The mail's text with its lines joined, so wording can be found across line breaks."""
    return " ".join(parsed(row).get_body(("plain",)).get_content().split())


def mails(kind: str, to: str | None = None) -> list[Outbox]:
    query = Outbox.select().where(Outbox.kind == kind)
    if to:
        query = query.where(Outbox.recipient == to)
    return list(query.order_by(Outbox.id))


def new_case(ctx, subject="New laptop", body="My laptop is five years old.") -> Case:
    deliver(ctx, make_mail(sender="kari@example.org", subject=subject, body=body))
    return Case.select().order_by(Case.id.desc()).get()


def ask(ctx, case, *approvers, now=None, question="", source="agent") -> list[Approval]:
    """Ask for approvals as an agent does, or (``source="form"``) as a form's rule does."""
    by = AGENT if source == "agent" else ""
    with ctx.db.atomic():
        return [approvals.ask(ctx, Case.get_by_id(case.id), a, source=source, requested_by=by, question=question,
                              now=now)
                for a in approvers]


def reload(approval: Approval) -> Approval:
    return Approval.get_by_id(approval.id)


def decide(ctx, approval, decision, via="portal", comment="", now=None) -> bool:
    with ctx.db.atomic():
        return approvals.decide(ctx, reload(approval), decision, via=via, comment=comment, now=now)


def approver_reply(request: Outbox, first_line: str, *, sender: str = BOSS, to: str | None = None,
                   more: str = "") -> tuple[bytes, str]:
    """The approver's answer to the approval mail, quoting it as mail clients do."""
    mail = parsed(request)
    to = to or str(mail["Reply-To"])
    quoted = "\n".join("> " + line for line in parsed(request).get_body(("plain",)).get_content().splitlines())
    body = f"{first_line}\n{more}\n\nOn Tue, 3 Mar 2026 at 10:15, Helpdesk <helpdesk@example.test> wrote:\n{quoted}\n"
    raw = make_mail(sender=sender, to=to, subject="Re: " + str(mail["Subject"]), body=body,
                    in_reply_to=str(mail["Message-ID"]), references=str(mail["Message-ID"]))
    return raw, to


# --------------------------------------------------------------------------- asking

def test_the_approver_gets_signed_links_and_a_reply_address_signed_for_them(ctx):
    case = new_case(ctx)
    (approval,) = ask(ctx, case, BOSS, question="Is a new laptop in this year's budget?")
    assert Case.get_by_id(case.id).awaiting_approval
    (request,) = mails("approval_request")
    assert request.recipient == BOSS
    mail, text = parsed(request), text_of(request)
    assert str(mail["Reply-To"]) == approval_address(ctx.signer, "helpdesk@example.test", approval.id, BOSS)
    assert read_approval_address(str(mail["Reply-To"])).approval_id == approval.id
    assert approvals.link_url(ctx, approval, "approve") in text and approvals.link_url(ctx, approval, "reject") in text
    assert "Is a new laptop in this year's budget?" in text and "five years old" in text
    assert "APPROVE or REJECT alone on the first line" in text
    assert f"[SD#{case.id}]" in str(mail["Subject"])
    # Signed for no case, and References name none: an answer that misses
    # the Reply-To never threads onto the case as the approver's message.
    assert ctx.signer.read_message_id(str(mail["Message-ID"]))[0] == 0
    assert mail["References"] is None


def test_the_approval_mail_says_who_asked_the_agent_or_the_form(ctx):
    """An agent's question is the agent's, by name, about the customer's request; a form's rule asked
    for the requester who sent the form."""
    with ctx.db.atomic():
        people.find_or_create(AGENT)
        Person.update(name="Anna Agent").where(Person.email == AGENT).execute()
    case = new_case(ctx)
    ask(ctx, case, BOSS)
    text = text_of(mails("approval_request")[0])
    assert "Anna Agent in Helpdesk asks you to approve this request from Kari Nordmann" in text, text
    assert "Kari Nordmann has asked" not in text
    other = new_case(ctx, subject="Second laptop")
    ask(ctx, other, CFO, source="form")
    assert "Kari Nordmann has asked Helpdesk for the following" in text_of(mails("approval_request", CFO)[0])


def test_mail_about_a_decision_names_the_approver_as_people_are_named(ctx):
    with ctx.db.atomic():
        people.find_or_create(BOSS, name="Bo Boss")
    case = new_case(ctx)
    (approval,) = ask(ctx, case, BOSS)
    decide(ctx, approval, "approve")
    (told,) = mails("approval_decided", "kari@example.org")
    assert "approved by Bo Boss <boss@example.org>" in text_of(told)


def test_an_address_that_cannot_approve_is_refused_and_nobody_approves_their_own_request(ctx):
    case = new_case(ctx)
    for address, problem in (("helpdesk@example.test", "address"), ("not an address", "address"),
                             ("noreply@example.org", "address"), ("Kari@Example.org", "requester"),
                             # Another address of the requester's own mailbox (plus addressing).
                             ("kari+boss@example.org", "requester"), ("KARI+x+y@example.org", "requester")):
        with pytest.raises(approvals.ApprovalError) as caught, ctx.db.atomic():
            approvals.ask(ctx, case, address)
        assert caught.value.problem == problem
    assert Approval.select().count() == 0 and not Case.get_by_id(case.id).awaiting_approval


def test_the_same_mailbox_is_found_behind_plus_tags_and_gmail_dots():
    from maild.people import mailbox

    assert mailbox("Alice+Boss@Example.org") == mailbox("alice@example.org") == "alice@example.org"
    assert mailbox("j.doe+hr@googlemail.com") == mailbox("JDoe@gmail.com") == "jdoe@gmail.com"
    # Dots count elsewhere, and other people stay other people.
    assert mailbox("j.doe@example.org") != mailbox("jdoe@example.org")
    assert mailbox("alice@example.org") != mailbox("alice@example.net")


def test_approvers_are_asked_one_after_another_and_the_last_approval_hands_the_case_on(ctx):
    case = new_case(ctx)
    first, second = ask(ctx, case, BOSS, CFO)
    assert [m.recipient for m in mails("approval_request")] == [BOSS]  # the second waits for the first
    assert decide(ctx, first, "approve", comment="Fine by me.")
    assert [m.recipient for m in mails("approval_request")] == [BOSS, CFO]
    assert Case.get_by_id(case.id).awaiting_approval
    update = text_of(mails("approval_decided", "kari@example.org")[0])
    assert "approved by boss@example.org" in update and "waits for the next approval" in update
    assert "Fine by me." in update
    assert decide(ctx, second, "approve")
    case = Case.get_by_id(case.id)
    assert not case.awaiting_approval and case.status == "new"
    # The agents (nobody is assigned: the notify list) are told every approval is in.
    handed = text_of(mails("approval_decided", AGENT)[-1])
    assert "every approval is in" in handed and "five years old" in handed
    assert "every approval it needs" in text_of(mails("approval_decided", "kari@example.org")[-1])
    events = [e.body_text for e in Entry.select().where(Entry.kind == "event").order_by(Entry.id)]
    assert "Approved by boss@example.org in the portal.\n\nFine by me." in events
    assert "Approved by cfo@example.org in the portal." in events


def test_a_form_case_waits_unseen_and_gets_its_routed_assignee_once_approved(ctx):
    with ctx.db.atomic():
        kari = people.find_or_create("kari@example.org")
        ola = people.find_or_create("ola-agent@example.test")
        case, _ = cases.open_case(ctx, department=ctx.config.department("helpdesk"), requester=kari,
                                  subject="Visio", body_text="Program: Visio",
                                  answers={"form": "helpdesk-order-software", "answers": {},
                                           "after_approval": {"assignee": ola.email}},
                                  awaiting_approval=True)
        approvals.ask(ctx, case, BOSS, source="form")
    assert not mails("new_case")  # the agents hear of it once approved
    assert "needs approval before Helpdesk can handle it" in text_of(mails("ack")[0])
    (approval,) = approvals.of_case(case)
    assert decide(ctx, approval, "approve")
    case = Case.get_by_id(case.id)
    assert case.assignee.email == ola.email and not case.awaiting_approval
    handed = mails("approval_decided", ola.email)
    assert len(handed) == 1 and "every approval is in" in text_of(handed[0])


def test_a_rejection_closes_the_case_cancels_the_rest_and_tells_the_requester(ctx):
    case = new_case(ctx)
    first, second = ask(ctx, case, BOSS, CFO, source="form")
    assert decide(ctx, first, "reject", via="link", comment="Not this year.")
    assert [(a.state, a.decided_via) for a in approvals.of_case(case)] == [("rejected", "link"), ("cancelled", "")]
    case = Case.get_by_id(case.id)
    assert case.status == "closed" and not case.awaiting_approval
    told = text_of(mails("approval_decided", "kari@example.org")[0])
    assert "rejected by boss@example.org" in told and "closed" in told and "Not this year." in told
    assert not mails("closed")  # one mail says both
    assert [m.recipient for m in mails("approval_request")] == [BOSS]  # the second is never asked
    assert not decide(ctx, second, "approve")


def test_rejecting_an_approval_an_agent_asked_for_tells_the_agent_and_leaves_the_case_open(ctx):
    case = new_case(ctx)
    first, second = ask(ctx, case, BOSS, CFO)
    assert decide(ctx, first, "reject", via="link", comment="Too dear.")
    assert [a.state for a in approvals.of_case(case)] == ["rejected", "cancelled"]
    case = Case.get_by_id(case.id)
    assert case.status != "closed" and not case.awaiting_approval
    assert not mails("approval_decided", "kari@example.org") and not mails("closed")
    told = text_of(mails("approval_decided", AGENT)[0])
    assert "rejected by boss@example.org" in told and "stays open" in told and "Too dear." in told
    assert [m.recipient for m in mails("approval_request")] == [BOSS]


def test_closing_a_waiting_case_cancels_its_approvals(ctx):
    case = new_case(ctx)
    first, second = ask(ctx, case, BOSS, CFO)
    with ctx.db.atomic():
        cases.close(ctx, Case.get_by_id(case.id), now=utcnow())
    assert [a.state for a in approvals.of_case(case)] == ["cancelled", "cancelled"]
    assert not Case.get_by_id(case.id).awaiting_approval
    assert not decide(ctx, first, "approve")


def test_a_withdrawn_approval_asks_the_next_and_the_last_one_ends_the_wait(ctx):
    case = new_case(ctx)
    first, second = ask(ctx, case, "bosss@example.org", CFO)
    agent = people.find_or_create(AGENT)
    with ctx.db.atomic():
        assert approvals.withdraw(ctx, reload(first), by=agent)
        assert not approvals.withdraw(ctx, reload(first), by=agent)  # once
    assert [m.recipient for m in mails("approval_request")] == ["bosss@example.org", CFO]
    assert Case.get_by_id(case.id).awaiting_approval
    assert not decide(ctx, first, "approve")  # the mistyped address's links decide nothing now
    with ctx.db.atomic():
        approvals.withdraw(ctx, reload(second), by=agent)
    assert not Case.get_by_id(case.id).awaiting_approval
    assert [a.state for a in approvals.of_case(case)] == ["cancelled", "cancelled"]


def test_two_agents_asking_at_once_ask_one_approver_at_a_time(ctx):
    case = new_case(ctx)
    first_asked = threading.Event()

    def first():
        with ctx.db.atomic():
            approvals.ask(ctx, Case.get_by_id(case.id), BOSS, requested_by=AGENT)
            first_asked.set()
            time.sleep(1.5)  # still uncommitted while the second agent asks
        ctx.db.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_asked.wait(10)
    ask(ctx, case, CFO)  # waits for the first transaction, then sees BOSS's turn
    thread.join()
    assert [m.recipient for m in mails("approval_request")] == [BOSS]
    assert [(a.approver, a.position) for a in approvals.of_case(case)] == [(BOSS, 1), (CFO, 2)]


def test_a_decision_is_made_once(ctx):
    case = new_case(ctx)
    (approval,) = ask(ctx, case, BOSS)
    assert decide(ctx, approval, "approve")
    assert not decide(ctx, approval, "reject")
    assert reload(approval).state == "approved" and len(mails("approval_decided", "kari@example.org")) == 1


def test_the_assignee_and_the_asking_agent_are_told_of_each_decision(ctx):
    case = new_case(ctx)
    with ctx.db.atomic():
        cases.assign(ctx, Case.get_by_id(case.id), people.find_or_create("other-agent@example.test"))
    first, _ = ask(ctx, case, BOSS, CFO)
    decide(ctx, first, "approve")
    assert {m.recipient for m in mails("approval_decided")} == {"kari@example.org", "other-agent@example.test",
                                                               AGENT}


def test_an_agent_asks_by_mail_with_the_approval_command(ctx):
    case = new_case(ctx)
    notice = parsed(mails("new_case", AGENT)[0])
    raw, to = agent_mail(notice, "#approval boss@example.org\n#approval helpdesk@example.test\n#note\nOver budget?")
    assert deliver(ctx, raw, rcpt=(to,), mail_from=AGENT).state == "processed"
    (approval,) = approvals.of_case(case)
    assert (approval.approver, approval.requested_by, approval.source) == (BOSS, AGENT, "agent")
    assert [m.recipient for m in mails("approval_request")] == [BOSS]
    confirmation = text_of(mails("commands", AGENT)[0])
    assert "#approval: boss@example.org is asked to approve" in confirmation
    assert "#approval helpdesk@example.test: an email address of a person, not one of ours" in confirmation


# --------------------------------------------------------------------------- by reply

@pytest.mark.parametrize("text,decision,comment", [
    ("APPROVE", "approve", ""),
    ("approve.\nWithin budget.", "approve", "Within budget."),
    ("  Reject!  \n\nWe have spare laptops.", "reject", "We have spare laptops."),
    ("GODKJENN", "approve", ""),
    ("Avvis", "reject", ""),
    ("I approve", None, ""),
    ("Approved", None, ""),
    ("approve? no", None, ""),
    ("", None, ""),
])
def test_only_the_word_alone_on_the_first_line_decides(text, decision, comment):
    assert approvals.read_decision(text) == (decision, comment)


def test_approve_by_reply_with_a_comment(ctx):
    case = new_case(ctx)
    (approval,) = ask(ctx, case, BOSS)
    raw, to = approver_reply(mails("approval_request")[0], "APPROVE", more="Go ahead, it is in the budget.")
    row = deliver(ctx, raw, rcpt=(to,), mail_from=BOSS)
    assert row.state == "processed", row.error
    approval = reload(approval)
    assert (approval.state, approval.decided_via, approval.comment) == (
        "approved", "reply", "Go ahead, it is in the budget.")
    kept = Entry.get((Entry.kind == "note") & (Entry.author == Person.get(Person.email == BOSS)))
    assert not kept.public  # the approver's mail is for the agents only
    assert not Case.get_by_id(case.id).awaiting_approval


def test_reject_by_reply_closes_the_case(ctx):
    case = new_case(ctx)
    ask(ctx, case, BOSS, source="form")
    raw, to = approver_reply(mails("approval_request")[0], "REJECT", more="Use the spare one.")
    deliver(ctx, raw, rcpt=(to,), mail_from=BOSS)
    assert Case.get_by_id(case.id).status == "closed"
    assert "Use the spare one." in text_of(mails("approval_decided", "kari@example.org")[0])
    (confirmed,) = mails("approval_confirmed", BOSS)  # the approver hears their mail decided
    assert "Rejected: New laptop" in str(parsed(confirmed)["Subject"])
    assert "was recorded: you rejected it." in text_of(confirmed) and "Use the spare one." in text_of(confirmed)


def test_a_reply_that_is_not_a_decision_decides_nothing_and_says_so(ctx):
    case = new_case(ctx)
    (approval,) = ask(ctx, case, BOSS)
    raw, to = approver_reply(mails("approval_request")[0], "I approve, but only the cheaper model.")
    deliver(ctx, raw, rcpt=(to,), mail_from=BOSS)
    assert reload(approval).state == "pending"
    (answer,) = mails("approval_not_decided", BOSS)
    assert "the first line must be APPROVE or REJECT" in text_of(answer)
    assert approvals.link_url(ctx, approval) in text_of(answer)
    # Answering it as it says decides: it carries the approval address.
    assert str(parsed(answer)["Reply-To"]) == str(parsed(mails("approval_request")[0])["Reply-To"])
    # The question in it reaches the agents (nobody is assigned: the notify list).
    told = mails("customer_reply", AGENT)
    assert len(told) == 1 and "only the cheaper model" in text_of(told[0])
    raw, to = approver_reply(answer, "APPROVE")
    deliver(ctx, raw, rcpt=(to,), mail_from=BOSS)
    assert reload(approval).state == "approved"


def test_a_late_reply_decides_nothing(ctx):
    case = new_case(ctx)
    (approval,) = ask(ctx, case, BOSS)
    decide(ctx, approval, "approve", via="link")
    raw, to = approver_reply(mails("approval_request")[0], "REJECT")
    deliver(ctx, raw, rcpt=(to,), mail_from=BOSS)
    assert reload(approval).state == "approved" and Case.get_by_id(case.id).status != "closed"
    (late,) = mails("approval_not_decided", BOSS)
    assert "already approved" in text_of(late) and parsed(late)["Reply-To"] is None


def test_forged_replies_decide_nothing(ctx):
    case = new_case(ctx)
    (approval,) = ask(ctx, case, BOSS)
    request = mails("approval_request")[0]
    good = str(parsed(request)["Reply-To"])
    forged = re.sub(r"\.[0-9a-f]{16}@", "." + "0" * 16 + "@", good)
    # A bad signature, from the approver.
    raw, to = approver_reply(request, "APPROVE", to=forged)
    assert deliver(ctx, raw, rcpt=(to,), mail_from=BOSS).state == "processed"
    # The right address, from someone else: threaded like any stranger's mail.
    raw, to = approver_reply(request, "APPROVE", sender="mallory@example.org")
    assert deliver(ctx, raw, rcpt=(to,), mail_from="mallory@example.org").state == "processed"
    # The approver's APPROVE to the plain address, token in the subject.
    raw, _ = approver_reply(request, "APPROVE", to="helpdesk@example.test")
    assert deliver(ctx, raw, rcpt=("helpdesk@example.test",), mail_from=BOSS).state == "processed"
    # An out-of-office answer to the right address.
    ooo = make_mail(sender=BOSS, to=good, subject="Automatic reply: away", body="APPROVE",
                    headers={"Auto-Submitted": "auto-replied"})
    assert deliver(ctx, ooo, rcpt=(good,), mail_from=BOSS).state == "processed"
    assert reload(approval).state == "pending" and Case.get_by_id(case.id).awaiting_approval
    unverified = Entry.select().where((Entry.case == case) & (Entry.unverified == True))  # noqa: E712
    assert unverified.count() == 1 and not unverified.get().public
    assert unverified.get().author.email == BOSS
    assert not mails("approval_decided")
    # Mallory's mail and the plain-address one name the case by its token, from
    # people who are not on it: new linked cases, nothing added to this one.
    assert Case.select().where(Case.linked_to == case.id).count() == 2


# --------------------------------------------------------------------------- reminders and expiry

def test_a_reminder_once_after_n_days_then_expiry_tells_the_agents(ctx):
    # The defaults: remind_after_days = 2, expire_after_days = 7.
    start = datetime.datetime(2026, 11, 2, 9, 0)
    case = new_case(ctx)
    first, second = ask(ctx, case, BOSS, CFO, now=start)
    assert approvals.remind_and_expire(ctx, start + DAY) == (0, 0)
    assert approvals.remind_and_expire(ctx, start + 2 * DAY + datetime.timedelta(minutes=1)) == (1, 0)
    (reminder,) = mails("approval_reminder")
    assert reminder.recipient == BOSS and approvals.link_url(ctx, first, "approve") in text_of(reminder)
    assert str(parsed(reminder)["Reply-To"]) == str(parsed(mails("approval_request")[0])["Reply-To"])
    assert approvals.remind_and_expire(ctx, start + 3 * DAY) == (0, 0)  # once
    assert approvals.remind_and_expire(ctx, start + 7 * DAY + datetime.timedelta(minutes=1)) == (0, 1)
    assert [a.state for a in approvals.of_case(case)] == ["expired", "cancelled"]
    case = Case.get_by_id(case.id)
    assert not case.awaiting_approval and case.status == "new"
    expired = mails("approval_expired")
    assert [m.recipient for m in expired] == [AGENT]  # the notify list; the asking agent is on it
    assert "within 7 days" in text_of(expired[0])
    assert not decide(ctx, first, "approve")


def test_the_job_is_scheduled():
    assert ("approvals", approvals.remind_and_expire, 3600, True) in jobs.JOBS


# --------------------------------------------------------------------------- the portal

def approval_path(site, approval: Approval, decision: str = "") -> str:
    return approvals.link_url(site.ctx, approval, decision)[len(site.url):]


def ask_on_site(site, *approvers) -> tuple[Case, list[Approval]]:
    ctx = site.ctx
    deliver(ctx, make_mail(sender="kari@example.org", subject="New laptop", body="Five years old."))
    case = Case.get()
    return case, ask(ctx, case, *approvers)


def test_the_approver_is_told_who_hears_of_a_rejection(site):
    """A rejection of an agent's question closes nothing, and the approver's page does not say it does."""
    case, (approval,) = ask_on_site(site, BOSS)
    path = approval_path(site, approval, "reject").split("?")[0]
    done = Client(site).post(path, {"decision": "reject"}, token="")
    assert "Rejected. The agent who asked has been told." in done.text and "request is closed" not in done.text
    assert Case.get_by_id(case.id).status != "closed"


def test_a_link_shows_a_confirmation_and_only_its_post_decides(site):
    case, (approval,) = ask_on_site(site, BOSS)
    scanner = Client(site)
    path = approval_path(site, approval, "approve")
    for _ in range(3):  # scanners, previews: any number of GETs
        page = scanner.get(path)
        assert page.status_code == 200 and "Approve this request?" in page.text and "Five years old." in page.text
    assert reload(approval).state == "pending"
    assert scanner.get(approval_path(site, approval, "reject")).text.count("Reject this request?") == 1
    done = scanner.post(path.split("?")[0], {"decision": "approve", "comment": "OK"}, token="")
    assert done.status_code == 200 and "Approved. Thank you" in done.text
    approval = reload(approval)
    assert (approval.state, approval.decided_via, approval.comment) == ("approved", "link", "OK")
    again = scanner.post(path.split("?")[0], {"decision": "reject"}, token="")
    assert "already decided" in again.text and reload(approval).state == "approved"


def test_a_link_with_a_wrong_signature_or_approval_is_404(site):
    case, (approval,) = ask_on_site(site, BOSS)
    stranger = Client(site)
    good = approval_path(site, approval).split("/")[-1]
    assert stranger.get(f"/approval/{approval.id}/{'0' * 16}").status_code == 404
    assert stranger.post(f"/approval/{approval.id}/{'0' * 16}", {"decision": "approve"}, token="").status_code == 404
    assert stranger.get(f"/approval/{approval.id + 1}/{good}").status_code == 404
    assert stranger.post(f"/approval/{approval.id}/{good}", {"decision": "maybe"}, token="").status_code == 400
    assert reload(approval).state == "pending"


def test_my_approvals_lists_what_waits_and_decides_in_the_portal(site):
    case, (first, second) = ask_on_site(site, BOSS, CFO)
    boss = logged_in(site, BOSS)
    page = boss.get("/approvals")
    assert "Waiting for you" in page.text and "New laptop" in page.text and "Five years old." in page.text
    # Someone else's approval, or one not yet theirs to decide, is unknown here.
    assert boss.post(f"/approvals/{second.id}", {"decision": "approve"}, form_page="/approvals").status_code == 404
    done = boss.post(f"/approvals/{first.id}", {"decision": "approve", "comment": "Yes."}, form_page="/approvals")
    assert done.url.endswith("done=approved") and "Nothing is waiting for your approval" in done.text
    assert "Approved" in done.text  # under Decided
    assert (reload(first).state, reload(first).decided_via) == ("approved", "portal")
    cfo = logged_in(site, CFO)
    assert "New laptop" in cfo.get("/approvals").text
    kari = logged_in(site)
    assert kari.post(f"/approvals/{second.id}", {"decision": "approve"}, form_page="/approvals").status_code == 404
    assert "boss@example.org: Approved" in kari.get(f"/requests/{case.id}").text


def test_an_agent_asks_for_approval_from_the_case_page(site):
    case, _ = ask_on_site(site)
    agent = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"
    wrong = agent.post(f"{path}/approval", {"approver": "helpdesk@example.test"}, form_page=path)
    assert wrong.status_code == 400 and "Give the email address of a person" in wrong.text
    done = agent.post(f"{path}/approval", {"approver": BOSS, "question": "Budget?"}, form_page=path)
    assert done.url.endswith("done=approval#approvals") or "done=approval" in done.url
    approval = Approval.get()
    assert (approval.approver, approval.source, approval.requested_by, approval.question) == (
        BOSS, "agent", AGENT, "Budget?")
    assert site.wait_for_mail(BOSS, "Approval needed")
    assert "The approver has been asked." in done.text and BOSS in done.text
    # A known approver by name and address, the address as text (not taken for a tag).
    Person.update(name="Bo Boss").where(Person.email == BOSS).execute()
    assert f"<tr><td>Bo Boss &lt;{BOSS}&gt;</td>" in agent.get(path).text
    customer = logged_in(site)
    assert customer.post(f"{path}/approval", {"approver": BOSS}, form_page="/requests").status_code == 404
    assert customer.post(f"{path}/approvals/{approval.id}/withdraw", form_page="/requests").status_code == 404
    assert agent.post(f"{path}/approvals/{approval.id + 1}/withdraw", form_page=path).status_code == 404
    withdrawn = agent.post(f"{path}/approvals/{approval.id}/withdraw", form_page=path)
    assert "The approval has been withdrawn." in withdrawn.text and reload(approval).state == "cancelled"


def test_the_approvers_page_and_the_agents_history_name_the_agent_who_asked(site):
    """Not "Asked by: the customer" when an agent asked: the agent, by name; the customer is the requester."""
    with site.ctx.db.atomic():
        people.find_or_create(AGENT)
        Person.update(name="Anna Agent").where(Person.email == AGENT).execute()
    case, (approval,) = ask_on_site(site, BOSS)
    page = Client(site).get(approval_path(site, approval)).text
    assert "<dt>Asked by</dt><dd>Anna Agent &lt;agent@example.test&gt;</dd>" in page, page
    assert "<dt>Requester</dt><dd>Kari Nordmann &lt;kari@example.org&gt;</dd>" in page
    history = logged_in(site, AGENT).get(f"/agent/cases/{case.id}").text
    assert "Anna Agent: Approval asked of boss@example.org" in history
    form_case = Case.create(department="helpdesk", subject="Form order", status="new",
                            requester=people.find("kari@example.org"), created_at=utcnow(), updated_at=utcnow())
    with site.ctx.db.atomic():
        (by_form,) = [approvals.ask(site.ctx, form_case, CFO, source="form")]
    page = Client(site).get(approval_path(site, by_form)).text
    assert "<dt>Asked by</dt><dd>Kari Nordmann &lt;kari@example.org&gt;, through the form</dd>" in page


def test_an_approval_decided_by_a_reply_over_smtp(site):
    case, (approval,) = ask_on_site(site, BOSS)
    request = site.wait_for_mail(BOSS, "Approval needed")
    to = str(request["Reply-To"])
    body = "APPROVE\n\n> " + request.get_body(("plain",)).get_content().replace("\n", "\n> ")
    raw = make_mail(sender=BOSS, to=to, subject="Re: " + str(request["Subject"]), body=body,
                    in_reply_to=str(request["Message-ID"]))
    host, port = site.ctx.config["smtp_in"]["listen"].rsplit(":", 1)
    with smtplib.SMTP(host, int(port), timeout=10) as smtp:
        assert smtp.sendmail(BOSS, [to], raw) == {}
    approval = wait_until(lambda: (a := reload(approval)).state == "approved" and a)
    assert approval.decided_via == "reply"
    told = wait_until(lambda: [m for m in site.mails_to("kari@example.org") if b"approved by" in m.as_bytes()])
    assert "every approval it needs" in " ".join(told[0].get_body(("plain",)).get_content().split())
    assert utcnow() - approval.decided_at < datetime.timedelta(minutes=1)


# --------------------------------------------------------------------------- the upgrade

# SQLite only: the PostgreSQL store is one database migrated once for the
# whole run (TESTING.md), where 0007 runs on empty tables. The tests' SQLite
# stores come migrated too: this one is a new file.
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_upgrade_cancels_approvals_recorded_before_they_were_asked(make_config, tmp_path):
    from playhouse.migrations import Runner

    from maild.store import db as store_db

    config = make_config(database={"url": f"sqlite:///{tmp_path}/before-0007.db"})
    db = store_db.connect(config["database"]["url"])
    Runner(db, directory=store_db.MIGRATIONS_DIR).up("0006_links_notices")
    # What the previous release wrote for a form with an approver: a pending row nobody was asked for.
    # Raw SQL, not the model: the model has columns later migrations add.
    db.execute_sql(f'INSERT INTO person (email, name, role, language, created_at) VALUES ({", ".join([db.param] * 5)})',
                   ("kari@example.org", "", "customer", "", utcnow()))
    person = 1
    db.execute_sql(f'INSERT INTO "case" (department, subject, status, requester_id, priority, request_type, tags, '
                   f'created_at, updated_at, thread_topic, thread_index) VALUES ({", ".join([db.param] * 11)})',
                   ("helpdesk", "Visio", "new", person, "normal", "", "[]", utcnow(), utcnow(), "", ""))
    db.execute_sql(f'INSERT INTO approval (case_id, approver, position, state, source, requested_at, comment) '
                   f'VALUES ({", ".join([db.param] * 7)})', (1, BOSS, 1, "pending", "form", utcnow(), ""))
    assert store_db.migrate(db)[0] == "0007_approvals"
    approval = Approval.get()
    assert approval.state == "cancelled" and approval.decided_at is not None and approval.asked_at is None
    assert not Case.get().awaiting_approval
    db.close()

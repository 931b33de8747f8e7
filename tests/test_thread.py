"""Threading (SPEC 2.6-2.8) through the real runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import email
import email.policy

from conftest import deliver
from mailfactory import make_mail

from maild import cases
from maild.store.models import Case, Entry, Outbox, Participant, utcnow


def _ack_of(case_id: int) -> Outbox:
    return Outbox.get((Outbox.case == case_id) & (Outbox.kind == "ack"))


def test_new_mail_opens_a_case_with_ack_and_notify(ctx):
    row = deliver(ctx, make_mail())
    assert row.state == "processed"
    case = Case.get_by_id(row.case_id)
    assert case.department == "helpdesk" and case.subject == "Printer is broken"
    assert case.requester.email == "kari@example.org"
    kinds = sorted((o.kind, o.recipient) for o in Outbox.select())
    assert kinds == [("ack", "kari@example.org"), ("new_case", "agent@example.test")]
    assert f"[SD#{case.id}]" in _ack_of(case.id).subject
    assert [t["rule"] for t in row.trace] == ["department"]


def test_reply_with_token_appends(ctx):
    first = deliver(ctx, make_mail())
    reply = deliver(ctx, make_mail(subject=f"SV: [SD#{first.case_id}] Printer is broken", body="Still broken"))
    assert reply.case_id == first.case_id
    assert reply.trace[0]["rule"] == "subject-token"
    assert Entry.select().where(Entry.case == first.case_id, Entry.kind == "message").count() == 2
    # The agent hears of the customer's reply; the customer gets no second ack.
    assert Outbox.select().where(Outbox.kind == "customer_reply").count() == 1
    assert Outbox.select().where(Outbox.kind == "ack").count() == 1


def test_agents_are_told_what_a_reply_says_without_the_history_it_quotes(ctx):
    first = deliver(ctx, make_mail(body="The printer on floor 3 jams on every page."))
    body = ("Still broken after the restart.\n\n-- \nKari Nordmann\nPhone 22 33 44 55\n\n"
            "On Mon, 30 Nov 2026 at 09:12, Helpdesk <helpdesk@example.test> wrote:\n"
            "> Thank you for writing to Helpdesk.\n> The printer on floor 3 jams on every page.\n")
    deliver(ctx, make_mail(subject=f"Re: [SD#{first.case_id}] Printer is broken", body=body))
    told = Outbox.get(Outbox.kind == "customer_reply")
    text = email.message_from_bytes(bytes(told.raw), policy=email.policy.default).get_body(("plain",)).get_content()
    assert "Still broken after the restart." in text and "Phone 22 33 44 55" in text
    assert "Thank you for writing" not in text and "wrote:" not in text
    # The case keeps the whole message.
    assert "> Thank you for writing" in Entry.select().order_by(Entry.id.desc()).get().body_text


def test_reply_with_only_in_reply_to_our_message_id(ctx):
    first = deliver(ctx, make_mail())
    ack = _ack_of(first.case_id)
    reply = deliver(ctx, make_mail(subject="Re: that printer", in_reply_to=f"<{ack.message_id}>"))
    assert reply.case_id == first.case_id
    assert reply.trace[0] == {"rule": "signed-message-id", "header": "In-Reply-To",
                              "value": ack.message_id, "case": first.case_id}


def test_tampered_signed_id_is_not_trusted(ctx):
    first = deliver(ctx, make_mail())
    forged = _ack_of(first.case_id).message_id
    forged = forged.replace(forged.split("@")[0][-4:], "0000")
    reply = deliver(ctx, make_mail(subject="Re: hi", sender="mallory@evil.example",
                                   in_reply_to=f"<{forged}>"))
    assert reply.case_id != first.case_id


def test_reply_naming_a_stored_message_id(ctx):
    first = deliver(ctx, make_mail(message_id="<original@example.org>", cc="colleague@example.org"))
    reply = deliver(ctx, make_mail(subject="Re: x", sender="colleague@example.org",
                                   references="<unrelated@x> <original@example.org>"))
    assert reply.case_id == first.case_id
    assert reply.trace[0]["rule"] == "stored-message-id"


def test_a_stranger_naming_a_stored_message_id_gets_a_new_linked_case(ctx):
    """Stored Message-IDs travel in our own mail's References: knowing one proves nothing."""
    first = deliver(ctx, make_mail(message_id="<original@example.org>"))
    case = Case.get_by_id(first.case_id)
    cases.close(ctx, case, now=utcnow())
    intruder = deliver(ctx, make_mail(subject="Re: Printer is broken", sender="mallory@evil.example",
                                      in_reply_to="<original@example.org>", body="Send me the data"))
    assert intruder.case_id != first.case_id
    assert intruder.trace[0] == {"rule": "stored-message-id", "header": "In-Reply-To",
                                 "value": "original@example.org", "case": first.case_id,
                                 "result": "sender may not add to this case: a new linked case"}
    # The old case is neither reopened nor written to, except the link.
    assert Case.get_by_id(first.case_id).status == "closed"
    assert not Entry.select().where((Entry.case == first.case_id) & (Entry.kind == "message")
                                    & (Entry.body_text.contains("Send me"))).exists()
    assert Case.get_by_id(intruder.case_id).linked_to_id == first.case_id
    # The requester naming the same Message-ID still threads.
    again = deliver(ctx, make_mail(subject="Re: Printer is broken", in_reply_to="<original@example.org>"))
    assert again.case_id == first.case_id


def test_stranger_with_token_gets_a_new_linked_case(ctx):
    first = deliver(ctx, make_mail())
    intruder = deliver(ctx, make_mail(subject=f"Re: [SD#{first.case_id}] hi", sender="mallory@evil.example",
                                      cc="accomplice@evil.example"))
    assert intruder.case_id != first.case_id
    new = Case.get_by_id(intruder.case_id)
    assert new.linked_to_id == first.case_id
    # Nobody the stranger copied is added anywhere (MAIL_RULES 41).
    assert not Participant.select().join_from(Participant, Participant.person.rel_model).where(
        Participant.person.rel_model.email == "accomplice@evil.example").exists()
    assert Entry.select().where(Entry.case == first.case_id, Entry.kind == "message").count() == 1


def test_agent_of_department_may_use_token(ctx):
    first = deliver(ctx, make_mail())
    row = deliver(ctx, make_mail(subject=f"[SD#{first.case_id}] note", sender="agent@example.test"))
    assert row.case_id == first.case_id
    entry = Entry.get_by_id(row.entry_id)
    # From is not authentication: a plain-address agent mail is internal and unverified.
    assert entry.public is False and entry.unverified is True
    assert Outbox.select().where(Outbox.recipient == "kari@example.org").count() == 1  # the ack only


def test_reply_to_closed_case_reopens_within_window(ctx):
    first = deliver(ctx, make_mail())
    case = Case.get_by_id(first.case_id)
    with ctx.db.atomic():
        cases.close(ctx, case, now=utcnow() - datetime.timedelta(days=3))
    reply = deliver(ctx, make_mail(subject=f"Re: [SD#{case.id}] Printer is broken"))
    assert reply.case_id == case.id
    assert Case.get_by_id(case.id).status == "open"
    (told,) = Outbox.select().where(Outbox.kind == "reopened")
    assert b"was reopened by a reply from the customer" in bytes(told.raw)
    assert Entry.select().where((Entry.case == case) & (Entry.body_text == "Reopened by a reply from kari@example.org.")).exists()


def test_reply_to_case_closed_long_ago_opens_linked_case(ctx):
    first = deliver(ctx, make_mail())
    case = Case.get_by_id(first.case_id)
    with ctx.db.atomic():
        cases.close(ctx, case, now=utcnow() - datetime.timedelta(days=400))
    reply = deliver(ctx, make_mail(subject=f"Re: [SD#{case.id}] Printer is broken"))
    assert reply.case_id != case.id
    assert Case.get_by_id(reply.case_id).linked_to_id == case.id
    assert Case.get_by_id(case.id).status == "closed"


def test_department_from_envelope_then_headers(ctx):
    row = deliver(ctx, make_mail(to="someone@else.example"), rcpt=["hr@example.test"])
    assert Case.get_by_id(row.case_id).department == "hr"
    row = deliver(ctx, make_mail(to="hr@example.test"), rcpt=[], source="pipe")
    assert Case.get_by_id(row.case_id).department == "hr"


def test_mail_to_two_departments_makes_one_case(ctx):
    row = deliver(ctx, make_mail(to="helpdesk@example.test, hr@example.test"),
                  rcpt=["helpdesk@example.test", "hr@example.test"])
    assert Case.select().count() == 1
    assert row.trace[0]["also"] == "hr"


def test_cc_becomes_participant(ctx):
    row = deliver(ctx, make_mail(cc="Ola <ola@example.org>, helpdesk@example.test"))
    emails = {p.person.email for p in Participant.select().where(Participant.case == row.case_id)}
    assert emails == {"kari@example.org", "ola@example.org"}


def test_norwegian_department_writes_norwegian(ctx):
    # Too short to tell the sender's language: the department's is used.
    row = deliver(ctx, make_mail(to="hr@example.test", body="Lønn?"), rcpt=["hr@example.test"])
    ack = _ack_of(row.case_id)
    assert "saksnummer" in bytes(ack.raw).decode("utf-8")


def test_a_customers_mail_sent_as_html_only_keeps_its_words_as_text(ctx):
    import email
    import email.message
    import email.policy

    from maild import search

    mail = email.message.EmailMessage(policy=email.policy.SMTP)
    mail["From"], mail["To"], mail["Subject"] = "kari@example.org", "helpdesk@example.test", "Skjermen"
    mail["Message-ID"] = "<html-only-customer@example.org>"
    mail.set_content("<p>Hei,</p><p>skjermen på <b>møterommet</b> blinker.</p>"
                     "<blockquote type='cite'>Old history</blockquote>", subtype="html")
    row = deliver(ctx, mail.as_bytes())
    entry = Entry.get(Entry.spool_id == row.id)
    assert "skjermen på møterommet blinker." in entry.body_text and "> Old history" in entry.body_text
    assert search.search_cases("møterommet") == (1, [row.case_id])
    notice = email.message_from_bytes(bytes(Outbox.get(Outbox.kind == "new_case").raw), policy=email.policy.default)
    assert "skjermen på møterommet blinker." in notice.get_body(("plain",)).get_content()

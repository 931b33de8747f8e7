"""Agents by email (SPEC 3.4, 4): signed reply addresses, replies relayed, commands obeyed, forgeries not.

Most tests spool mail and run the runner on both stores; one goes end to end
through the running daemon over SMTP, with a capture server as the world.
"""

from __future__ import annotations

import email
import email.policy
import smtplib

from conftest import deliver, wait_until
from mailfactory import make_mail

from maild import cases
from maild.mail import commands
from maild.mail.signing import read_reply_address, reply_address, reply_verifies
from maild.store.models import Case, Entry, Outbox, Person

AGENT = "agent@example.test"


def parsed(row: Outbox) -> email.message.EmailMessage:
    return email.message_from_bytes(bytes(row.raw), policy=email.policy.default)


def new_case(ctx, subject="Printer on floor 3", body="It jams.") -> tuple[Case, email.message.EmailMessage]:
    deliver(ctx, make_mail(sender="kari@example.org", subject=subject, body=body))
    case = Case.select().order_by(Case.id.desc()).get()
    notice = Outbox.select().where((Outbox.case == case) & (Outbox.kind == "new_case")).get()
    return case, parsed(notice)


def agent_mail(notice, body: str, sender: str = AGENT, to: str | None = None) -> tuple[bytes, str]:
    """An agent's answer to a notification: to its Reply-To, quoting it as mail clients do."""
    to = to or str(notice["Reply-To"])
    quoted = "\n".join("> " + line for line in notice.get_body(("plain",)).get_content().splitlines())
    text = f"{body}\n\nOn Tue, 3 Mar 2026 at 10:15, Helpdesk <helpdesk@example.test> wrote:\n{quoted}\n"
    raw = make_mail(sender=sender, sender_name="Agnes Agent", to=to, subject="Re: " + str(notice["Subject"]),
                    body=text, in_reply_to=str(notice["Message-ID"]), references=str(notice["Message-ID"]))
    return raw, to


def test_an_agents_notification_carries_a_reply_address_signed_for_them(ctx):
    case, notice = new_case(ctx)
    reply = read_reply_address(str(notice["Reply-To"]))
    assert reply is not None and reply.base == "helpdesk@example.test" and reply.case_id == case.id
    assert reply_verifies(ctx.signer, reply, AGENT)
    assert not reply_verifies(ctx.signer, reply, "kari@example.org")
    assert str(notice["Reply-To"]) == reply_address(ctx.signer, "helpdesk@example.test", case.id, AGENT)
    ack = parsed(Outbox.get(Outbox.kind == "ack"))
    assert ack["Reply-To"] is None  # customers answer the department address


def test_an_agents_reply_reaches_the_customer_from_the_department_without_the_quote(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "Try switching it off and on again.")
    row = deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    reply = Outbox.get(Outbox.kind == "agent_reply")
    assert reply.recipient == "kari@example.org"
    mail = parsed(reply)
    assert mail["From"].addresses[0].addr_spec == "helpdesk@example.test"
    assert mail["From"].addresses[0].display_name == "Agnes Agent (Helpdesk)"
    assert f"[SD#{case.id}]" in str(mail["Subject"])
    text = mail.get_body(("plain",)).get_content()
    assert "Try switching it off and on again." in text and "wrote:" not in text and "> " not in text
    assert AGENT not in bytes(reply.raw).decode("utf-8", "replace")  # the agent's own address never leaks
    assert mail["Auto-Submitted"] is None  # a person wrote it
    assert Case.get_by_id(case.id).status == "open"
    entry = Entry.get(Entry.kind == "reply")
    assert entry.public and entry.author.email == AGENT


def test_note_reaches_no_customer(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#note\nThe fuser is worn; ordering a new one.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    note = Entry.get(Entry.kind == "note")
    assert not note.public and note.body_text == "The fuser is worn; ordering a new one."
    assert Outbox.select().where(Outbox.recipient == "kari@example.org",
                                 Outbox.kind != "ack").count() == 0
    confirmation = Outbox.get(Outbox.kind == "commands")
    assert confirmation.recipient == AGENT


def test_close_closes_and_tells_the_customer_and_confirms_to_the_agent(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#close\nThe new toner is in; closing.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert Case.get_by_id(case.id).status == "closed"
    kinds = [(o.kind, o.recipient) for o in Outbox.select().where(Outbox.kind != "new_case").order_by(Outbox.id)]
    assert kinds == [("ack", "kari@example.org"), ("agent_reply", "kari@example.org"),
                     ("closed", "kari@example.org"), ("commands", AGENT)]
    text = parsed(Outbox.get(Outbox.kind == "commands")).get_body(("plain",)).get_content()
    assert "#close: closed" in text


def test_open_by_mail_reopens_a_closed_case_and_says_it_was_the_agents_mail(ctx):
    case, notice = new_case(ctx)
    with ctx.db.atomic():
        cases.close(ctx, Case.get_by_id(case.id))
    raw, to = agent_mail(notice, "#open\nLooking at it again.")
    row = deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    assert Case.get_by_id(case.id).status == "open"
    assert Entry.select().where((Entry.case == case) & (Entry.body_text == f"Reopened by {AGENT}'s reply.")).exists()


def test_priority_and_tags_by_mail(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#note\n#priority HIGH\n#tag printer\n#tag floor-3\nNoted.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    case = Case.get_by_id(case.id)
    assert case.priority == "high" and case.tags == ["floor-3", "printer"]
    raw, to = agent_mail(notice, "#note\n#tag -printer\n#priority soon\n#tag Not_A+tag\nMore.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    case = Case.get_by_id(case.id)
    assert case.priority == "high" and case.tags == ["floor-3"]
    text = parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get()).get_body(
        ("plain",)).get_content()
    assert "#tag: printer taken off" in text and "#priority soon: one of low, normal, high, urgent" in text
    assert "#tag Not_A+tag: a tag is lowercase letters" in text


def test_commands_with_problems_are_listed_back(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#assign me\n#cc ola@example.org\n#dept nowhere\n#frobnicate\n"
                                 "#assign hr-agent@example.test\n#pending\nWe wait for your answer.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    case = Case.get_by_id(case.id)
    assert case.assignee.email == AGENT and case.status == "pending"
    assert "ola@example.org" in [p.person.email for p in case.participants]
    text = parsed(Outbox.get(Outbox.kind == "commands")).get_body(("plain",)).get_content()
    assert "#dept nowhere: no such department" in text and "#frobnicate: not a command" in text
    assert "hr-agent@example.test: not an agent" in text
    assert "We wait for your answer." in parsed(Outbox.get(Outbox.kind == "agent_reply")).get_body(
        ("plain",)).get_content()


def test_a_wrong_signature_is_kept_unverified_and_not_obeyed(ctx):
    case, notice = new_case(ctx)
    forged_to = f"helpdesk+c{case.id}.{'0' * 16}@example.test"
    raw, _ = agent_mail(notice, "#close\nClosing this.", to=forged_to)
    row = deliver(ctx, raw, rcpt=(forged_to,), mail_from=AGENT)
    assert row.state == "processed"
    assert Case.get_by_id(case.id).status == "new"
    note = Entry.get(Entry.kind == "note")
    assert note.unverified and not note.public
    assert not Outbox.select().where(Outbox.kind.in_(["agent_reply", "closed", "commands"])).exists()
    assert Outbox.get(Outbox.kind == "unverified").recipient == AGENT


def test_someone_else_answering_an_agents_reply_address_is_not_the_agent(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#close\nI close it myself.", sender="kari@example.org")
    deliver(ctx, raw, rcpt=(to,), mail_from="kari@example.org")
    # Not an agent: an ordinary message of the customer's on the case, never obeyed.
    assert Case.get_by_id(case.id).status == "new"
    message = Entry.select().where(Entry.kind == "message").order_by(Entry.id.desc()).get()
    assert message.case_id == case.id and message.author.email == "kari@example.org"
    assert not Outbox.select().where(Outbox.kind.in_(["agent_reply", "closed", "commands"])).exists()


def test_a_signed_looking_address_in_a_header_is_not_an_agents_address(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#close\nDone.")
    # Delivered to the plain address with the reply address only named in To:
    # the envelope decides, so this is From-only and not obeyed.
    deliver(ctx, raw, rcpt=("helpdesk@example.test",), mail_from=AGENT)
    assert Case.get_by_id(case.id).status == "new"
    assert Entry.select().where(Entry.unverified == True).count() == 1  # noqa: E712


def test_commands_with_only_a_signature_logo_send_nothing_to_the_customer(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#assign me")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    message.add_attachment(b"\x89PNG\r\n\x1a\nlogo", maintype="image", subtype="png", filename="image001.png")
    deliver(ctx, message.as_bytes(), rcpt=(to,), mail_from=AGENT)
    assert not Outbox.select().where(Outbox.kind == "agent_reply").exists()
    assert Case.get_by_id(case.id).assignee.email == AGENT


def test_a_mail_of_commands_only_is_an_event_naming_them_for_the_agents(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "#assign me\n#pending")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    # No text, no quote, no command: nothing to send.
    deliver(ctx, make_mail(sender=AGENT, to=to, subject="Re: " + str(notice["Subject"]), body="\n"),
            rcpt=(to,), mail_from=AGENT)
    events = Entry.select().where((Entry.case == case) & Entry.body_text.startswith("Mail from")).order_by(Entry.id)
    assert [(e.body_text, e.change, e.public) for e in events] == [
        (f"Mail from {AGENT}: #assign me, #pending.", "commands:#assign me, #pending", False),
        (f"Mail from {AGENT}: nothing to send.", "commands:", False)]


def test_an_answer_with_only_the_quote_sends_the_customer_nothing_and_tells_the_agent(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "")  # "Reply" pressed, then "Send" with nothing written
    row = deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    assert not Outbox.select().where(Outbox.kind == "agent_reply").exists()
    assert not Entry.select().where(Entry.kind.in_(("reply", "note"))).exists()
    answer = parsed(Outbox.get((Outbox.kind == "commands") & (Outbox.recipient == AGENT)))
    assert "nothing was sent to the customer" in answer.get_body(("plain",)).get_content()
    # Outlook's way: the notification under a header block, nothing above it.
    body = notice.get_body(("plain",)).get_content()
    outlook = (f"From: Helpdesk <helpdesk@example.test>\nSent: Tuesday, 3 March 2026 10:15\nTo: {AGENT}\n"
               f"Subject: {notice['Subject']}\n\n{body}")
    deliver(ctx, make_mail(sender=AGENT, to=to, subject="RE: " + str(notice["Subject"]), body=outlook),
            rcpt=(to,), mail_from=AGENT)
    assert not Outbox.select().where(Outbox.kind == "agent_reply").exists()


def test_the_department_signs_a_reply_only_when_the_agent_did_not(ctx):
    case, notice = new_case(ctx)
    raw, to = agent_mail(notice, "Try switching it off and on again.\n\nMvh\nAgnes")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    signed = parsed(Outbox.get(Outbox.kind == "agent_reply")).get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Mvh\nAgnes\n\n--" in signed and "Agnes Agent, Helpdesk" not in signed
    raw, to = agent_mail(notice, "It should work now.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    unsigned = parsed(Outbox.select().where(Outbox.kind == "agent_reply").order_by(Outbox.id.desc()).get())
    assert "It should work now.\n\nAgnes Agent, Helpdesk" in unsigned.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_an_html_only_reply_is_relayed_as_text(ctx):
    case, notice = new_case(ctx)
    message = email.message.EmailMessage(policy=email.policy.SMTP)
    message["From"], message["To"], message["Subject"] = AGENT, str(notice["Reply-To"]), "Re: printer"
    message["Message-ID"] = "<html-only@example.test>"
    message.set_content("<p>Please try <b>tray 2</b>.</p><p>Agnes</p>", subtype="html")
    deliver(ctx, message.as_bytes(), rcpt=(str(notice["Reply-To"]),), mail_from=AGENT)
    text = parsed(Outbox.get(Outbox.kind == "agent_reply")).get_body(("plain",)).get_content()
    assert "Please try tray 2." in text


def test_an_answer_to_a_note_mail_stays_a_note(ctx):
    case, notice = new_case(ctx)
    with ctx.db.atomic():
        Case.update(assignee=Person.get(Person.email == AGENT)).execute()
    raw, to = agent_mail(notice, "#note\nhr-agent@example.test thinks the customer is rude.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    hr_agent = Person.get_or_none(Person.email == "hr-agent@example.test")
    assert hr_agent is None or not Outbox.select().where(Outbox.recipient == "hr-agent@example.test").exists()
    # Another agent answers the note mail between its lines: still internal.
    note_mail = Outbox.select().where(Outbox.kind == "note").first()
    if note_mail is None:  # the author is not told of their own note: answer the author's copy instead
        note_mail = Outbox.create(case=case, kind="note", mail_from="helpdesk@example.test", recipient=AGENT,
                                  message_id="note-copy@desk.example.test", raw=b"", state="sent")
    answer = make_mail(sender=AGENT, to=to, subject="Re: note", body="> rude?\nNo, fine.",
                       in_reply_to=f"<{note_mail.message_id}>")
    deliver(ctx, answer, rcpt=(to,), mail_from=AGENT)
    assert not Outbox.select().where(Outbox.kind == "agent_reply").exists()
    assert Entry.select().where(Entry.kind == "note").count() == 2


def test_an_agents_from_to_the_plain_address_is_not_obeyed(ctx):
    case, notice = new_case(ctx)
    raw, _ = agent_mail(notice, "#close\nDone.", to="helpdesk@example.test")
    deliver(ctx, raw, rcpt=("helpdesk@example.test",), mail_from=AGENT)
    assert Case.get_by_id(case.id).status == "new"
    assert Entry.select().where(Entry.unverified == True).count() == 1  # noqa: E712
    assert not Outbox.select().where(Outbox.kind.in_(["agent_reply", "closed"])).exists()
    assert Outbox.get(Outbox.kind == "unverified").recipient == AGENT  # told how to answer instead


def test_command_parsing():
    parsed_ = commands.parse("\n#note\n\n#assign  me\n#CC ola@example.org\nHello\n#close\n")
    assert [(c.name, c.argument) for c in parsed_.commands] == [("note", ""), ("assign", "me"),
                                                                 ("cc", "ola@example.org")]
    assert parsed_.text == "Hello\n#close" and not parsed_.problems
    assert commands.parse("#assign\n#close now\n#x").problems == [
        ("needs_argument", {"line": "#assign", "name": "assign"}),
        ("no_argument", {"line": "#close now", "name": "close"}), ("not_command", {"line": "#x"})]
    assert commands.parse("Hi #close").commands == []


def test_end_to_end_through_the_daemon(daemon):
    capture = daemon.capture
    with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=10) as client:
        client.sendmail("kari@example.org", ["helpdesk@example.test"],
                        make_mail(sender="kari@example.org", subject="VPN down", body="No VPN since 9."))
        notices = capture.wait_for(2)
        notice = next(email.message_from_bytes(m.data, policy=email.policy.default) for m in notices
                      if AGENT in m.rcpt_tos)
        raw, to = agent_mail(notice, "Fixed the certificate. Try again?")
        refused = client.sendmail(AGENT, [to], raw)
        assert refused == {}
        try:
            client.sendmail(AGENT, ["helpdesk+anything@example.test"], raw)
            raise AssertionError("an unsigned +address must be refused")
        except smtplib.SMTPRecipientsRefused as exc:
            assert list(exc.recipients.values())[0][0] == 550
    answer = wait_until(lambda: [email.message_from_bytes(m.data, policy=email.policy.default)
                                 for m in capture.messages if m.rcpt_tos == ["kari@example.org"]
                                 and b"Fixed the certificate" in m.data])[0]
    assert "[SD#1]" in str(answer["Subject"]) and "wrote:" not in answer.get_body(("plain",)).get_content()
    assert Person.get(Person.email == AGENT)


def test_the_answer_to_a_command_mail_is_in_the_agents_language_line_by_line(ctx):
    # HR writes Norwegian: every line of the answer is Norwegian, none English.
    deliver(ctx, make_mail(sender="kari@example.org", to="hr@example.test", subject="Permisjon", body="Hei."),
            rcpt=("hr@example.test",))
    case = Case.select().order_by(Case.id.desc()).get()
    notice = parsed(Outbox.get((Outbox.case == case) & (Outbox.kind == "new_case")))
    raw, to = agent_mail(notice, "#pending\n#tag permisjon\n#frobnicate\n#dept nowhere\n#approval kari@example.org",
                         sender="hr-agent@example.test")
    deliver(ctx, raw, rcpt=(to,), mail_from="hr-agent@example.test")
    text = parsed(Outbox.get(Outbox.kind == "commands")).get_body(("plain",)).get_content()
    for line in ("Utført:", "#pending: satt til «Venter på kunden»", "#tag: permisjon er lagt til",
                 "Ikke forstått, derfor ikke utført:", "#frobnicate: ikke en kommando",
                 "#dept nowhere: ingen avdeling med det navnet",
                 "#approval kari@example.org: innmelderen kan ikke godkjenne sin egen henvendelse"):
        assert line in text, line
    assert "status set to" not in text and "not a command" not in text and "nothing was sent" not in text


def test_each_answer_line_is_worded_in_every_language():
    from pathlib import Path

    from maild import agentmail

    for language in ("en", "nb"):
        template = (Path(__file__).resolve().parent.parent / "templates" / "mail" / "agent" /
                    f"commands.{language}.txt").read_text()
        for code in agentmail.ENGLISH:
            assert f'code == "{code}"' in template, (language, code)

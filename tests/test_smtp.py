"""End to end over real SMTP: our aiosmtpd receiver in, a capture server out.

The daemon runs in this process (its own threads and event loop) on SQLite
and on PostgreSQL; smtplib and swaks are the clients.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import smtplib
import subprocess

import pytest
from conftest import refusing, wait_until
from mailfactory import make_mail
from servers import in_ci

from maild.intake.smtp import Handler
from maild.store.models import Case, Entry, Outbox, Spool


def send(daemon, raw: bytes, to=("helpdesk@example.test",), sender="kari@example.org"):
    """Send one message to the daemon; returns smtplib's refused-recipients dict."""
    with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=10) as client:
        return client.sendmail(sender, list(to), raw)


def processed(row_count: int):
    """A predicate: at least ``row_count`` spool rows have ended (neither new nor claimed by a runner)."""
    return lambda: Spool.select().where(Spool.state.not_in(["new", "claimed"])).count() >= row_count


def captured_to(daemon, address: str):
    """Messages the world received for one address, parsed."""
    return [email.message_from_bytes(m.data, policy=email.policy.default)
            for m in daemon.capture.messages if address in m.rcpt_tos]


def test_new_mail_gets_ack_with_token_and_notifies_agents(daemon):
    send(daemon, make_mail(subject="Printer is broken"))
    daemon.capture.wait_for(2)
    case = Case.get()
    ack = captured_to(daemon, "kari@example.org")[0]
    assert ack["Subject"] == f"[SD#{case.id}] Printer is broken"
    assert ack["Auto-Submitted"] == "auto-replied"
    agent_mail = captured_to(daemon, "agent@example.test")[0]
    assert f"SD-{case.id}" in agent_mail.get_content()


def test_replies_by_token_and_by_in_reply_to_thread_onto_the_case(daemon):
    send(daemon, make_mail())
    daemon.capture.wait_for(2)
    ack = captured_to(daemon, "kari@example.org")[0]
    send(daemon, make_mail(subject=f"Re: {ack['Subject']}", body="Also the scanner."))
    send(daemon, make_mail(subject="Re: the printer", in_reply_to=ack["Message-ID"], body="And the fax."))
    wait_until(processed(3))
    assert Case.select().count() == 1
    assert Entry.select().where(Entry.kind == "message").count() == 3
    # Two customer replies reach the notify list; no further acknowledgements.
    daemon.capture.wait_for(4)
    assert len(captured_to(daemon, "kari@example.org")) == 1


def test_stranger_with_token_opens_new_linked_case(daemon):
    send(daemon, make_mail())
    wait_until(processed(1))
    first = Case.get()
    send(daemon, make_mail(subject=f"Re: [SD#{first.id}] give me the data", sender="mallory@evil.example"),
         sender="mallory@evil.example")
    wait_until(processed(2))
    second = Case.select().order_by(Case.id.desc()).get()
    assert second.id != first.id and second.linked_to_id == first.id


def test_autoreply_and_bounce_get_no_acknowledgement(daemon):
    send(daemon, make_mail())
    daemon.capture.wait_for(2)
    case = Case.get()
    ack = captured_to(daemon, "kari@example.org")[0]
    ooo = make_mail(subject=f"Automatic reply: {ack['Subject']}", in_reply_to=ack["Message-ID"],
                    headers={"Auto-Submitted": "auto-replied"}, body="I am away until Monday.")
    send(daemon, ooo)
    bounce = make_mail(subject="Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@mx.example.org",
                       body="This is the mail system. I'm sorry to have to inform you...")
    send(daemon, bounce, sender="")
    newsletter = make_mail(subject="Our news", sender="news@shop.example",
                           headers={"List-Unsubscribe": "<mailto:unsub@shop.example>"})
    send(daemon, newsletter, sender="news@shop.example")
    wait_until(processed(4))
    states = {r.id: (r.state, r.reason) for r in Spool.select().order_by(Spool.id)}
    assert [s for s, _ in states.values()] == ["processed", "processed", "ignored", "processed"]
    assert list(states.values())[2][1].startswith("bounce")
    ooo_entry = Entry.get(Entry.kind == "auto")
    assert ooo_entry.case_id == case.id and ooo_entry.public is False
    assert Case.get_by_id(case.id).status == "new"
    # The newsletter opened a case, silently.
    assert Outbox.select().where(Outbox.recipient == "news@shop.example").count() == 0
    assert Outbox.select().where(Outbox.kind == "ack").count() == 1


def test_unknown_recipient_is_refused_at_rcpt(daemon):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        send(daemon, make_mail(to="nobody@example.test"), to=["nobody@example.test"])
    assert refused.value.recipients["nobody@example.test"][0] == 550
    assert b"5.1.1" in refused.value.recipients["nobody@example.test"][1]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as relay:
        send(daemon, make_mail(to="x@elsewhere.example"), to=["x@elsewhere.example"])
    assert b"5.7.1" in relay.value.recipients["x@elsewhere.example"][1]
    assert Spool.select().count() == 0


def test_relay_tricks_and_recipient_cap(daemon):
    handler = daemon.receiver.handler
    for address in ("@relay.example:helpdesk@example.test", "helpdesk%evil.example@example.test",
                    "helpdesk@example.test@evil.example"):
        assert handler.recipient_verdict(address).startswith("550"), address
    assert handler.recipient_verdict("HelpDesk@Example.TEST") is None
    with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=10) as client:
        client.ehlo()
        client.mail("kari@example.org")
        # Over the wire aiosmtpd drops the route before the handler sees it.
        code, text = client.docmd("RCPT TO:<@relay.example:helpdesk@example.test>")
        assert code == 550 and text.startswith(b"5.7.1"), text
        codes = [client.rcpt("helpdesk@example.test")[0] for _ in range(101)]
    assert codes[:100] == [250] * 100 and codes[100] == 452


def test_size_limit_and_ehlo(make_config, capture):
    from maild.daemon import Daemon
    from conftest import prepare

    config = make_config(smtp_in={"max_message_bytes": 20000},
                         smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(config)
    running = Daemon(config)
    running.start()
    try:
        with smtplib.SMTP(running.receiver.host, running.receiver.port, timeout=10) as client:
            code, features = client.ehlo()
            assert b"SIZE 20000" in features and b"8BITMIME" in features
            with pytest.raises(smtplib.SMTPSenderRefused) as big:
                client.sendmail("kari@example.org", ["helpdesk@example.test"], make_mail(body="x" * 30000),
                                mail_options=["SIZE=40000"])
            assert big.value.smtp_code == 552 and big.value.smtp_error.startswith(b"5.3.4"), big.value
        # Without SIZE= the limit is enforced at the end of DATA.
        with smtplib.SMTP(running.receiver.host, running.receiver.port, timeout=10) as client:
            client.ehlo()
            client.mail("kari@example.org")
            client.rcpt("helpdesk@example.test")
            code, text = client.data(make_mail(body="y" * 30000))
            assert code == 552 and text.startswith(b"5.3.4"), text
        assert Spool.select().count() == 0
    finally:
        running.stop()


def test_long_lines_and_8bit_bytes_are_stored_byte_for_byte(daemon):
    raw = (b"From: kari@example.org\r\nTo: helpdesk@example.test\r\nSubject: caf\xe9\r\n"
           b"Message-ID: <long@example.org>\r\n\r\n" + b"A" * 5000 + b"\r\n\xff\xfe raw 8-bit\r\n")
    with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=10) as client:
        client.ehlo()
        client.sendmail("kari@example.org", ["helpdesk@example.test"], raw, mail_options=["BODY=8BITMIME"])
    wait_until(processed(1))
    row = Spool.get()
    assert bytes(row.raw) == raw
    assert row.state == "processed"
    assert Case.get().subject == "café"


def test_duplicate_delivery_is_one_entry_and_one_ack(daemon):
    raw = make_mail(message_id="<once@example.org>")
    send(daemon, raw)
    send(daemon, raw)  # a client retrying after a lost 250
    # The same message with other trace headers, as a second route delivers it.
    send(daemon, b"Received: from mx2.example.org by desk; Tue, 1 Jan 2030 10:00:00 +0000\r\n" + raw)
    wait_until(processed(2))
    assert Spool.select().count() == 2
    assert [r.state for r in Spool.select().order_by(Spool.id)] == ["processed", "ignored"]
    assert Entry.select().where(Entry.kind == "message").count() == 1
    assert Outbox.select().where(Outbox.kind == "ack").count() == 1


def test_internal_error_answers_451_not_500(daemon):
    with refusing(daemon.ctx.db, "spool", "1 = 1", name="store_down"):
        with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=10) as client:
            client.ehlo()
            client.mail("kari@example.org")
            client.rcpt("helpdesk@example.test")
            code, message = client.data(make_mail())
    assert code == 451 and message.startswith(b"4.3.0")
    assert b"refused" not in message
    assert Spool.select().count() == 0


def test_every_handler_answer_is_a_string():
    # aiosmtpd turns a None answer into "500 Error: (AssertionError)" (MAIL_RULES 7).
    import asyncio
    import inspect

    for name in ("handle_RCPT", "handle_DATA", "handle_exception"):
        assert inspect.iscoroutinefunction(getattr(Handler, name))
    assert isinstance(asyncio.run(Handler.handle_exception(None, RuntimeError("x"))), str)


def test_sqlite_commits_are_durable(ctx):
    from maild.store.db import is_sqlite

    if not is_sqlite(ctx.db):
        assert ctx.db.execute_sql("SHOW synchronous_commit").fetchone()[0] == "on"
        return
    assert ctx.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    assert ctx.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ctx.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1


def test_swaks_delivers_a_case(daemon):
    if shutil.which("swaks") is None:
        if in_ci():
            pytest.fail("swaks is not installed; CI must run every test")
        pytest.skip("swaks is not installed: apt-get install swaks")
    result = subprocess.run(
        ["swaks", "--server", daemon.receiver.host, "--port", str(daemon.receiver.port),
         "--to", "hr@example.test", "--from", "ola@example.org", "--header", "Subject: Ferie",
         "--body", "Jeg vil søke om ferie."],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_until(processed(1))
    case = Case.get()
    assert case.department == "hr" and case.subject == "Ferie"
    daemon.capture.wait_for(2)

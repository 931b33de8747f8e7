"""The outbox and its worker against a real SMTP capture server (MAIL_RULES 62, 64).

Time is passed in, so retries and backoff are exact without sleeping.
"""

from __future__ import annotations

import datetime
import mailbox

from conftest import deliver, prepare
from mailfactory import make_mail

from maild import cases
from maild.outbound import outbox, sender
from maild.outbound.transport import make_transport
from maild.store.models import Case, Outbox, utcnow


def _smtp_ctx(make_config, capture):
    return prepare(make_config(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port}))


def test_case_change_and_its_mail_commit_together(ctx):
    row = deliver(ctx, make_mail())
    case = Case.get_by_id(row.case_id)
    before = Outbox.select().count()
    try:
        with ctx.db.atomic():
            cases.close(ctx, case, now=utcnow())
            assert Outbox.select().count() == before + 1
            raise RuntimeError("the change fails after the mail was queued")
    except RuntimeError:
        pass
    assert Outbox.select().count() == before
    assert Case.get_by_id(case.id).status == "new"


def test_temporary_failures_are_retried_with_the_same_message_id(make_config, capture):
    ctx = _smtp_ctx(make_config, capture)
    deliver(ctx, make_mail())
    # Both queued rows (ack and notice) meet 451 twice, then 250.
    capture.handler.data_replies = ["451 4.7.1 Try again later"] * 4
    transport = make_transport(ctx.config)
    now = utcnow()
    ack = Outbox.get(Outbox.kind == "ack")
    for _ in range(3):
        sender.drain(ctx, transport, now=now)
        now += datetime.timedelta(hours=5)  # past any backoff
    transport.close()
    ack = Outbox.get_by_id(ack.id)
    assert ack.state == "sent" and ack.attempts == 3
    kari = [m for m in capture.messages if "kari@example.org" in m.rcpt_tos]
    assert len(kari) == 1 and f"<{ack.message_id}>".encode() in kari[0].data


def test_backoff_waits_before_the_next_try(make_config, capture):
    ctx = _smtp_ctx(make_config, capture)
    deliver(ctx, make_mail())
    capture.handler.data_replies = ["421 4.3.2 Shutting down"] * 5
    transport = make_transport(ctx.config)
    now = utcnow()
    sender.drain(ctx, transport, now=now)
    tried = capture.handler.data_replies
    assert len(tried) == 3  # both rows tried once
    # Nothing is due again a second later.
    assert sender.deliver_due(ctx, transport, now=now + datetime.timedelta(seconds=1)) == 0
    assert all(r.state == "queued" and r.next_attempt_at > now for r in Outbox.select())
    transport.close()


def test_permanent_failure_is_dead_and_not_retried(make_config, capture):
    ctx = _smtp_ctx(make_config, capture)
    capture.handler.rcpt_replies["kari@example.org"] = "550 5.1.1 No such user"
    deliver(ctx, make_mail())
    transport = make_transport(ctx.config)
    sender.drain(ctx, transport, now=utcnow())
    sender.drain(ctx, transport, now=utcnow() + datetime.timedelta(days=1))
    transport.close()
    ack = Outbox.get(Outbox.kind == "ack")
    assert ack.state == "dead" and ack.attempts == 1 and "5.1.1" in ack.last_error
    # The other recipient was not held back by it.
    assert Outbox.get(Outbox.kind == "new_case").state == "sent"
    assert outbox.retry(ctx.db, ack.id, utcnow())
    assert Outbox.get_by_id(ack.id).state == "queued"


def test_too_many_temporary_failures_end_dead(make_config, capture):
    ctx = _smtp_ctx(make_config, capture)
    ctx.config["smtp_out"]["max_attempts"] = 2
    deliver(ctx, make_mail())
    capture.handler.data_replies = ["451 4.3.0 later"] * 10
    transport = make_transport(ctx.config)
    now = utcnow()
    for _ in range(3):
        sender.drain(ctx, transport, now=now)
        now += datetime.timedelta(hours=5)
    transport.close()
    assert {r.state for r in Outbox.select()} == {"dead"}


def test_relay_down_is_temporary(make_config):
    from servers import free_port

    ctx = prepare(make_config(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": free_port()}))
    deliver(ctx, make_mail())
    transport = make_transport(ctx.config)
    sender.drain(ctx, transport, now=utcnow())
    rows = list(Outbox.select())
    assert all(r.state == "queued" and r.attempts == 1 and "connection" in r.last_error for r in rows)


def test_stale_sending_claims_are_recovered(ctx):
    deliver(ctx, make_mail())
    now = utcnow()
    claimed = outbox.claim(ctx.db, now)
    assert len(claimed) == 2
    # The worker died here, after the claim. Too early to call it stale:
    assert outbox.recover_stale(ctx.db, now + datetime.timedelta(minutes=1)) == 0
    assert outbox.recover_stale(ctx.db, now + datetime.timedelta(minutes=11)) == 2
    assert {r.state for r in Outbox.select()} == {"queued"}


def test_maildir_transport_writes_readable_mail(ctx):
    deliver(ctx, make_mail())
    transport = make_transport(ctx.config)
    sender.drain(ctx, transport)
    box = mailbox.Maildir(str(ctx.var_dir / "sent"), create=False)
    subjects = sorted(m["Subject"] for m in box)
    case = Case.get()
    assert subjects == [f"[SD#{case.id}] Printer is broken"] * 2
    assert {r.state for r in Outbox.select()} == {"sent"}


def test_auto_reply_cap_per_sender_per_hour(ctx):
    for i in range(8):
        deliver(ctx, make_mail(subject=f"Problem {i}"))
    assert Case.select().count() == 8
    assert Outbox.select().where(Outbox.kind == "ack").count() == 5
    assert Outbox.select().where(Outbox.kind == "new_case").count() == 8
    # Another sender is not affected.
    deliver(ctx, make_mail(sender="ola@example.org"))
    assert Outbox.select().where(Outbox.kind == "ack", Outbox.recipient == "ola@example.org").count() == 1
    # An hour later the sender gets answers again.
    later = utcnow() + datetime.timedelta(hours=1, minutes=1)
    deliver(ctx, make_mail(subject="Problem 9"), now=later)
    assert Outbox.select().where(Outbox.kind == "ack", Outbox.recipient == "kari@example.org").count() == 6


def test_no_reply_senders_and_own_addresses_are_never_answered(ctx):
    deliver(ctx, make_mail(sender="noreply@vendor.example"), mail_from="noreply@vendor.example")
    deliver(ctx, make_mail(sender="hr@example.test"), mail_from="hr@example.test")
    deliver(ctx, make_mail(headers={"X-Auto-Response-Suppress": "DR, RN, NRN, OOF, AutoReply"}))
    assert Case.select().count() == 3
    assert Outbox.select().where(Outbox.kind == "ack").count() == 0


def test_claims_of_a_dead_process_on_this_host_are_recovered_at_once(ctx):
    import socket
    import subprocess

    deliver(ctx, make_mail())
    now = utcnow()
    outbox.claim(ctx.db, now)
    # Our own claims are live while we run, stale only when we start...
    assert outbox.recover_dead_workers(ctx.db, now) == 0
    assert outbox.recover_dead_workers(ctx.db, now, at_startup=True) == 2
    assert len(outbox.claim(ctx.db, now)) == 2
    # ...but a claim by a process that has exited is not.
    gone = subprocess.Popen(["true"])
    gone.wait()
    Outbox.update(claimed_by=f"{socket.gethostname()}:{gone.pid}").execute()
    assert outbox.recover_dead_workers(ctx.db, now) == 2
    assert {r.state for r in Outbox.select()} == {"queued"}

"""Dead recipients (MAIL_RULES 30): a permanent bounce of our mail stops notifications to that address.

Reports from the corpus are read for their failed recipients; reports built
around the mail we really sent go through the runner on both stores.
"""

from __future__ import annotations

import datetime
import zoneinfo
from pathlib import Path

import pytest
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in
from test_store import _raw_from

from maild import cases, localtime, people
from maild.mail import dsn
from maild.store.models import Case, Entry, Outbox, Person, Spool, utcnow

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
KARI = "kari@example.org"


@pytest.mark.parametrize("name, expected", [
    ("flanker/bounce/zed.eml", [("asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com", "5.1.1")]),
    ("flanker/bounce/office365.eml", [("noname@example.com", "5.1.10")]),
    ("flanker/bounce/mailbox-full.eml", [("user@aol.com", "5.2.2")]),
    ("imap_tools/multipart_report_emails/report_530.eml", [("edwin@zzzzzzz.com", "5.3.0")]),
    ("flanker/bounce/broken-mime.eml", []),
    ("flanker/bounce/gmail-invalid-address.eml", []),  # prose only, no delivery-status part
])
def test_failed_recipients_of_real_reports(name, expected):
    assert dsn.failed_recipients((CORPUS / name).read_bytes()) == expected


def test_every_recipient_of_a_report_for_several_is_read():
    found = dsn.failed_recipients((CORPUS / "imap_tools/multipart_report_emails/multi_address_bounce1.eml")
                                      .read_bytes())
    assert len(found) == 5 and {status for _, status in found} == {"5.1.1"}


def report(about: bytes, recipient: str = KARI, status: str = "5.1.1", action: str = "failed") -> bytes:
    """A delivery report (RFC 3464) from our relay, enclosing the message it is about."""
    boundary = "dsn-b0undary"
    body = (f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nDelivery to {recipient} failed.\r\n"
            f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; relay.example.test\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
            f"Diagnostic-Code: smtp; 550 {status} No such user\r\n\r\n"
            f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n").encode() + about + \
        f"\r\n--{boundary}--\r\n".encode()
    raw = make_mail(sender="MAILER-DAEMON@relay.example.test", sender_name="Mail Delivery System",
                    subject="Undelivered Mail Returned to Sender", body="x")
    head = raw.split(b"\r\n\r\n", 1)[0]
    head = b"\r\n".join(line for line in head.split(b"\r\n") if not line.lower().startswith(b"content-"))
    return head + (f"\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\""
                   f"\r\n\r\n").encode() + body


def opened_and_acknowledged(ctx) -> tuple[Case, bytes]:
    deliver(ctx, make_mail(sender=KARI, subject="Printer", body="It jams."))
    case = Case.get()
    return case, bytes(Outbox.get((Outbox.kind == "ack") & (Outbox.recipient == KARI)).raw)


def agent_answers(ctx, case) -> None:
    with ctx.db.atomic():
        cases.agent_reply(ctx, Case.get_by_id(case.id), people.find_or_create("agent@example.test"), "Try again?")


def closed_mails_to(address: str) -> int:
    return Outbox.select().where((Outbox.kind == "closed") & (Outbox.recipient == address)).count()


def test_a_permanent_bounce_stops_notifications_until_the_person_writes_again(ctx):
    case, ack = opened_and_acknowledged(ctx)
    row = deliver(ctx, report(ack), mail_from="")
    assert row.state == "processed", row.error
    assert Entry.get(Entry.kind == "bounce").case_id == case.id  # an internal note on the case
    until = Person.get(Person.email == KARI).undeliverable_until
    assert until is not None and until - utcnow() > datetime.timedelta(days=59)
    assert any(step.get("rule") == "dead-recipient" for step in Spool.get_by_id(row.id).trace)
    # An automatic notification stops; an agent's own answer still goes.
    with ctx.db.atomic():
        cases.close(ctx, Case.get_by_id(case.id))
    assert closed_mails_to(KARI) == 0
    agent_answers(ctx, case)
    assert Outbox.select().where((Outbox.kind == "agent_reply") & (Outbox.recipient == KARI)).count() == 1
    # Kari writes again: the address works, and notifications reach her again.
    deliver(ctx, make_mail(sender=KARI, subject=f"Re: [SD#{case.id}] Printer", body="Still jams."))
    assert Person.get(Person.email == KARI).undeliverable_until is None
    with ctx.db.atomic():
        cases.close(ctx, Case.get_by_id(case.id))
    assert closed_mails_to(KARI) == 1


def test_an_address_on_an_international_domain_is_stopped_in_its_ascii_form(ctx):
    deliver(ctx, _raw_from("kari@blåbær.no", "idn-bounce"))
    ack = Outbox.get(Outbox.kind == "ack")
    assert ack.recipient == "kari@xn--blbr-roah.no"
    deliver(ctx, report(bytes(ack.raw), recipient=ack.recipient), mail_from="")
    assert Person.get(Person.email == "kari@blåbær.no").undeliverable_until is not None


def test_an_agent_on_the_notify_list_is_stopped_too(ctx):
    case, _ = opened_and_acknowledged(ctx)
    notice = Outbox.get((Outbox.kind == "new_case") & (Outbox.recipient == "agent@example.test"))
    deliver(ctx, report(bytes(notice.raw), recipient="agent@example.test"), mail_from="")
    deliver(ctx, make_mail(sender="ola@example.org", subject="Scanner", body="Broken too."))
    assert Outbox.select().where((Outbox.kind == "new_case") & (Outbox.recipient == "agent@example.test")).count() == 1


@pytest.mark.parametrize("status, action", [("5.2.2", "failed"), ("4.4.1", "delayed"), ("5.7.1", "failed")])
def test_a_full_mailbox_a_delay_or_a_refusal_is_not_a_dead_address(ctx, status, action):
    _, ack = opened_and_acknowledged(ctx)
    assert deliver(ctx, report(ack, status=status, action=action), mail_from="").state == "processed"
    assert Person.get(Person.email == KARI).undeliverable_until is None


def test_a_forged_report_silences_nobody(ctx):
    original = make_mail(sender=KARI, subject="Printer", body="It jams.", message_id="<kari-1@example.org>")
    deliver(ctx, original)
    case = Case.get()
    ack = bytes(Outbox.get(Outbox.kind == "ack").raw)
    with ctx.db.atomic():
        cases.add_cc(ctx, Case.get_by_id(case.id), people.find_or_create("ola@example.org"))
    agent_answers(ctx, case)
    ola_copy = bytes(Outbox.get((Outbox.kind == "agent_reply") & (Outbox.recipient == "ola@example.org")).raw)
    # About our mail to Kari, but naming an address that mail never went to.
    deliver(ctx, report(ack, recipient="ola@example.org"), mail_from="")
    # Ola, on the case, encloses his own copy and names Kari.
    deliver(ctx, report(ola_copy, recipient=KARI), mail_from="")
    # A stranger who knows Kari's own Message-ID names Kari.
    stranger = report(b"Subject: x\r\n\r\nx\r\n", recipient=KARI).replace(
        b"\r\nSubject:", b"\r\nIn-Reply-To: <kari-1@example.org>\r\nSubject:", 1)
    deliver(ctx, stranger, mail_from="")
    # Naming Kari, but about no mail of ours: it concerns no case and is ignored.
    forged = deliver(ctx, report(make_mail(sender="helpdesk@example.test", to=KARI, subject="x")), mail_from="")
    assert forged.state == "ignored"
    assert Person.select().where(Person.undeliverable_until.is_null(False)).count() == 0


def test_suppression_can_be_turned_off(make_config):
    from conftest import prepare

    ctx = prepare(make_config(mail={"suppress_bounced_days": 0}))
    _, ack = opened_and_acknowledged(ctx)
    deliver(ctx, report(ack), mail_from="")
    assert Person.get(Person.email == KARI).undeliverable_until is None
    ctx.db.close()


def test_the_agent_sees_that_mail_to_the_requester_bounced(site):
    case, ack = opened_and_acknowledged(site.ctx)
    deliver(site.ctx, report(ack), mail_from="")
    until = Person.get(Person.email == KARI).undeliverable_until
    page = logged_in(site, "agent@example.test").get(f"/agent/cases/{case.id}").text
    shown = localtime.day(until, "en", zoneinfo.ZoneInfo("Europe/Oslo"))  # "1 Feb 2027"
    assert f"mail to this address bounced: no notifications until {shown}, or until they write again" in page


def test_a_login_by_a_mailed_link_lifts_the_stop(site):
    _, ack = opened_and_acknowledged(site.ctx)
    deliver(site.ctx, report(ack), mail_from="")
    assert Person.get(Person.email == KARI).undeliverable_until is not None
    logged_in(site, KARI)
    assert Person.get(Person.email == KARI).undeliverable_until is None


def test_a_stop_set_by_another_process_reaches_the_cached_staff(ctx):
    people.load_staff(ctx)  # as the daemon's runner does at start
    agent = ctx.staff["agent@example.test"]
    # The portal, or another daemon on the same store, sets the stop.
    Person.update(undeliverable_until=utcnow() + datetime.timedelta(days=1)).where(Person.id == agent.id).execute()
    ctx.staff_stops_read_at = float("-inf")  # the periodic re-read is due
    deliver(ctx, make_mail(sender=KARI, subject="Printer", body="It jams."))
    assert not Outbox.select().where(Outbox.kind == "new_case").exists()
    assert agent.undeliverable_until is not None

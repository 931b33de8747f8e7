"""Inbound rules as pure units: loop, bounce, autoreply, automatic (MAIL_RULES 23-34, 36).

Each rule's ``matches(ctx, delivery)`` is called on a Delivery read from raw
bytes with ``maild.mail.message.read``; the context is a real Config and a real
Signer, with no store behind them. Real bounces, complaints and helpdesk mail
from ``../shared/corpus`` check the chain against mail other systems wrote.
"""

from __future__ import annotations

import datetime
import itertools
import types

import pytest
from conftest import CORPUS

from maild import rules
from maild import config as configuration
from maild.delivery import Delivery
from maild.mail import compose, message
from maild.mail.signing import Signer
from maild.rules import automatic, autoreply, bounce, loop
from maild.spool import Envelope

DOMAIN = "desk.example.test"
INSTANCE = "5f0c2a9e1d7b4c38"
NOW = datetime.datetime(2024, 3, 1, 12, 0, 0)
_ids = itertools.count(1)


def make_ctx(instance_id: str = INSTANCE):
    """What the rules read of a Context: the config, the signer and the instance id."""
    config = configuration.parse({
        "site": {"mail_domain": DOMAIN},
        "departments": [{"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"],
                         "agents": ["agent@example.test"]}],
    }, "test")
    return types.SimpleNamespace(config=config, signer=Signer(b"k" * 32, DOMAIN), instance_id=instance_id)


CTX = make_ctx()


def mail(*headers: str, sender: str = "Kari Nordmann <kari@example.org>", message_id: str | None = None,
         content_type: str = "text/plain; charset=utf-8", body: str = "The printer is broken.\r\n") -> bytes:
    """A small raw message with the given extra header lines, CRLF line endings."""
    message_id = message_id if message_id is not None else f"<human{next(_ids)}@example.org>"
    lines = [f"From: {sender}", "To: helpdesk@example.test", "Subject: Printer",
             "Date: Fri, 01 Mar 2024 12:00:00 +0000", f"Message-ID: {message_id}", "MIME-Version: 1.0",
             f"Content-Type: {content_type}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def delivery(raw: bytes, mail_from: str = "kari@example.org", source: str = "smtp") -> Delivery:
    """A Delivery as the runner builds it, with the message read from ``raw``."""
    d = Delivery(spool_id=1, raw=raw, envelope=Envelope(mail_from=mail_from, rcpt_tos=["helpdesk@example.test"]),
                 source=source, now=NOW)
    d.msg = message.read(raw, DOMAIN)
    return d


def hits(raw: bytes, ctx=CTX, **kwargs) -> set[str]:
    """Names of every rule that matches."""
    d = delivery(raw, **kwargs)
    return {rule.NAME for rule, _ in rules.CHAIN if rule.matches(ctx, d)}


def report(report_type: str) -> bytes:
    """A multipart/report of the given type (RFC 6522) with a human-readable part."""
    boundary = "rep0rt"
    second = {"delivery-status": "message/delivery-status",
              "disposition-notification": "message/disposition-notification",
              "feedback-report": "message/feedback-report"}[report_type]
    body = (f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
            f"--{boundary}\r\nContent-Type: {second}\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
            f"--{boundary}--\r\n")
    return mail(sender="Reports <reports@example.net>", body=body,
                content_type=f'multipart/report; report-type={report_type}; boundary="{boundary}"')


def test_a_plain_human_message_matches_no_rule():
    d = delivery(mail())
    assert [rule.NAME for rule, _ in rules.CHAIN if rule.matches(CTX, d)] == []
    assert rules.decide(CTX, d) == "accept"
    assert (d.hits, d.bounce, d.autoreply, d.automatic) == ([], False, False, False)


# MAIL_RULES 24: (value, automatic, autoreply). Only "no" is human; comments
# and parameters are not part of the keyword.
AUTO_SUBMITTED = [
    ("auto-replied", True, True),
    ("auto-generated", True, False),
    ("auto-notified", True, False),
    ('auto-replied; owner-email="x@example.org"', True, True),
    ("auto-generated (failure)", True, False),
    ("AUTO-REPLIED", True, True),
    ("no", False, False),
    ("No (comment)", False, False),
    ("NO", False, False),
]


@pytest.mark.parametrize("value, is_automatic, is_autoreply", AUTO_SUBMITTED)
def test_auto_submitted(value, is_automatic, is_autoreply):
    d = delivery(mail(f"Auto-Submitted: {value}"))
    assert automatic.matches(CTX, d) is is_automatic
    assert autoreply.matches(CTX, d) is is_autoreply
    assert not bounce.matches(CTX, d)


PRECEDENCE = [f"{name}: {value}"
              for name in ("Precedence", "PRECEDENCE", "precedence", "X-Precedence")
              for value in ("bulk", "Bulk", "BULK", "junk", "Junk", "list", "LIST", "auto_reply", "Auto_Reply")]


@pytest.mark.parametrize("line", PRECEDENCE)
def test_precedence_in_every_letter_case(line):
    """MAIL_RULES 25, 28: names and values compare case-insensitively."""
    d = delivery(mail(line))
    assert automatic.matches(CTX, d)
    assert autoreply.matches(CTX, d) is line.lower().endswith("auto_reply")


@pytest.mark.parametrize("line", ["Precedence: first-class", "Precedence: normal",
                                  "X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: DR, OOF, AutoReply"])
def test_headers_that_do_not_make_mail_automatic(line):
    """MAIL_RULES 27: X-Auto-Response-Suppress asks us for silence; it is no marker."""
    assert hits(mail(line)) == set()


@pytest.mark.parametrize("line", ["X-Autoreply: yes", "x-autoreply: yes", "X-AUTOREPLY: yes", "X-AutoReply: true",
                                  "X-Autorespond: yes", "X-AUTORESPOND: 1", "X-Autoresponder: on",
                                  "X-AutoReply-From: kari@example.org", "X-Mail-Autoreply: yes",
                                  "X-Autogenerated: Reply"])
def test_vendor_autoresponder_headers(line):
    """MAIL_RULES 26: their presence means an automatic answer."""
    d = delivery(mail(line))
    assert autoreply.matches(CTX, d)
    assert rules.decide(CTX, d) == "autoreply"


@pytest.mark.parametrize("line", ["X-FC-Machinegenerated: true", "X-AMAZON-MAIL-RELAY-TYPE: notification",
                                  "Delivered-To: Autoresponder", "X-Loop: yes", "X-RT-Loop-Prevention: rt.example.org",
                                  "X-Roundup-Loop: hello"])
def test_other_machine_headers(line):
    d = delivery(mail(line))
    assert automatic.matches(CTX, d) and not autoreply.matches(CTX, d)


@pytest.mark.parametrize("line", ["List-Id: Printers <printers.lists.example.org>",
                                  "List-Unsubscribe: <mailto:leave@lists.example.org>",
                                  "LIST-UNSUBSCRIBE: <https://news.example.org/u?x=1>",
                                  "List-Post: <mailto:printers@lists.example.org>"])
def test_mailing_list_headers(line):
    """MAIL_RULES 25: newsletters often send only List-Unsubscribe."""
    d = delivery(mail(line))
    assert rules.decide(CTX, d) == "accept-silently"
    assert d.hits == ["automatic"] and d.automatic and not d.autoreply


@pytest.mark.parametrize("sender, is_automatic", [
    ("noreply@vendor.example", True),
    ("NoReply@Vendor.Example", True),
    ("no-reply@vendor.example", True),
    ("no-reply-billing@vendor.example", True),
    ("noreply.alerts@vendor.example", True),
    ("donotreply@vendor.example", True),
    ("do-not-reply@vendor.example", True),
    ("do_not_reply@apple.example", True),
    ("no_reply@email.apple.example", True),
    ("root@server.example", True),
    ("Helpdesk <helpdesk@example.test>", True),  # our own address (MAIL_RULES 31)
    ("HELPDESK@EXAMPLE.TEST", True),
    ("reply@vendor.example", False),
    ("kari.noreply@example.org", False),
    ("agent@example.test", False),  # an agent is a person, not Sensedesk
])
def test_sender_addresses(sender, is_automatic):
    d = delivery(mail(sender=sender))
    assert automatic.matches(CTX, d) is is_automatic
    assert not bounce.matches(CTX, d)


@pytest.mark.parametrize("raw, mail_from, source, expected", [
    # The envelope counts only where it was seen: SMTP (MAIL_RULES 14, 29).
    (mail(), "", "smtp", True),
    (mail(), "", "pipe", False),
    (mail(), "kari@example.org", "smtp", False),
    (mail("Return-Path: <>"), "kari@example.org", "pipe", True),
    (mail("Return-Path: <kari@example.org>"), "", "pipe", False),
    (report("delivery-status"), "reports@example.net", "pipe", True),
    (mail(content_type="message/delivery-status", body="Action: failed\r\nStatus: 5.1.1\r\n"),
     "x@example.net", "pipe", True),
    (mail(sender="MAILER-DAEMON@mx.example.net"), "x@example.net", "pipe", True),
    (mail(sender="Mail Delivery System <Mailer-Daemon@mx.example.net>"), "x@example.net", "pipe", True),
    (mail(sender="MAILER-DAEMON@mx.example.net (Mail Delivery System)"), "x@example.net", "pipe", True),
    (mail(sender="postmaster@example.net"), "x@example.net", "pipe", True),
    (mail(sender='"Postmaster" <Postmaster@example.net>'), "x@example.net", "pipe", True),
    (mail("X-Failed-Recipients: gone@example.net"), "kari@example.org", "smtp", True),
    (report("disposition-notification"), "reports@example.net", "smtp", False),
    (report("feedback-report"), "reports@example.net", "smtp", False),
], ids=["null-smtp", "null-pipe", "sender-smtp", "return-path-null", "return-path-set", "dsn", "bare-dsn",
        "mailer-daemon", "mailer-daemon-name", "mailer-daemon-comment", "postmaster", "postmaster-name",
        "x-failed-recipients", "read-receipt", "arf"])
def test_bounce(raw, mail_from, source, expected):
    assert bounce.matches(CTX, delivery(raw, mail_from=mail_from, source=source)) is expected


@pytest.mark.parametrize("report_type", ["disposition-notification", "feedback-report"])
def test_receipts_and_complaints_are_autoreplies(report_type):
    """MAIL_RULES 29: read receipts (RFC 8098) and ARF (RFC 5965) are automatic, not bounces."""
    assert rules.decide(CTX, delivery(report(report_type))) == "autoreply"


def test_our_loop_header_with_our_instance_id_is_a_loop():
    d = delivery(mail(f"{compose.LOOP_HEADER}: {INSTANCE}"))
    assert loop.matches(CTX, d)
    assert rules.decide(CTX, d) == "discard" and d.hits == ["loop"]


@pytest.mark.parametrize("line", [f"{compose.LOOP_HEADER}: 0000000000000000",
                                  f"{compose.LOOP_HEADER}: {INSTANCE}x",
                                  f"X-Loop: {INSTANCE}"])
def test_another_instance_or_header_is_no_loop(line):
    assert not loop.matches(CTX, delivery(mail(line)))


def test_loop_header_is_compared_case_insensitively_by_name():
    assert loop.matches(CTX, delivery(mail(f"{compose.LOOP_HEADER.upper()}: {INSTANCE}")))


def test_our_own_signed_message_id_is_a_loop():
    """A notification of ours forwarded straight back in (MAIL_RULES 34)."""
    ours = CTX.signer.message_id(12, 3)
    d = delivery(mail(message_id=ours, sender="kari@example.org"))
    assert loop.matches(CTX, d)
    assert rules.decide(CTX, d) == "discard"


def tamper(message_id: str) -> str:
    """The id with the last digit of its signature changed."""
    local, _, domain = message_id.partition("@")
    return local[:-1] + ("1" if local[-1] == "0" else "0") + "@" + domain


@pytest.mark.parametrize("make_id", [
    lambda: CTX.signer.message_id(12, 3).replace(DOMAIN, "other.example"),
    lambda: Signer(b"another secret", DOMAIN).message_id(12, 3),
    lambda: tamper(CTX.signer.message_id(12, 3)),
    lambda: CTX.signer.message_id(12, 3).replace("sd.12.3.", "sd.13.3."),
], ids=["other-domain", "other-secret", "tampered-signature", "other-case"])
def test_ids_that_only_look_like_ours_are_no_loop(make_id):
    assert not loop.matches(CTX, delivery(mail(message_id=make_id())))


def test_a_customer_reply_to_our_message_is_no_loop():
    """The reply has its own Message-ID; ours is only in In-Reply-To (MAIL_RULES 34b)."""
    ours = CTX.signer.message_id(12, 3)
    assert hits(mail(f"In-Reply-To: {ours}", f"References: {ours}")) == set()


@pytest.mark.parametrize("raw, mail_from, expected, flags", [
    (mail(), "kari@example.org", "accept", (False, False, False)),
    (mail("List-Id: <x.lists.example.org>"), "kari@example.org", "accept-silently", (False, False, True)),
    (mail("X-Autoreply: yes"), "kari@example.org", "autoreply", (False, True, True)),
    (mail("Auto-Submitted: auto-replied", sender="MAILER-DAEMON@mx.example.net"), "", "bounce",
     (True, False, True)),
    # A loop is dropped whole: no flag is set, nothing downstream reads them.
    (mail(f"{compose.LOOP_HEADER}: {INSTANCE}", "Auto-Submitted: auto-generated"), "", "discard",
     (False, False, False)),
])
def test_decide(raw, mail_from, expected, flags):
    d = delivery(raw, mail_from=mail_from)
    assert rules.decide(CTX, d) == expected
    assert (d.bounce, d.autoreply, d.automatic) == flags


def test_decide_records_every_hit_in_chain_order():
    d = delivery(mail("Auto-Submitted: auto-replied", sender="MAILER-DAEMON@mx.example.net"), mail_from="")
    rules.decide(CTX, d)
    assert d.hits == ["bounce", "autoreply", "automatic"]


# What each real report in the corpus is. A complaint (ARF) and a read receipt
# are automatic answers, not delivery failures.
REPORTS = {
    **{f"flanker/bounce/{p.name}": "bounce" for p in sorted((CORPUS / "flanker" / "bounce").glob("*.eml"))},
    **{f"imap_tools/multipart_report_emails/{p.name}": "bounce"
       for p in sorted((CORPUS / "imap_tools" / "multipart_report_emails").glob("*.eml"))},
    "flanker/complaints/aol.eml": "autoreply",
    "flanker/complaints/yahoo.eml": "autoreply",
    "flanker/disposition-notification.eml": "autoreply",
}


def test_the_corpus_reports_are_present():
    assert len(REPORTS) == 17


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_corpus_reports(name):
    # As fetched by IMAP or the pipe: the envelope is not known, only the headers.
    d = delivery((CORPUS / name).read_bytes(), mail_from="relay@example.net", source="pipe")
    assert rules.decide(CTX, d) == REPORTS[name]


HELPDESK_MAIL = sorted((CORPUS / "django_helpdesk").glob("*.eml"))


@pytest.mark.parametrize("path", HELPDESK_MAIL, ids=[p.name for p in HELPDESK_MAIL])
def test_helpdesk_shaped_corpus_mail_matches_no_rule(path):
    assert hits(path.read_bytes(), mail_from="customer@example.org") == set()


def test_helpdesk_corpus_is_present():
    assert len(HELPDESK_MAIL) == 6


def outgoing(auto_submitted: str, instance_id: str) -> bytes:
    """Mail as another Sensedesk installation sends it (From is not our address)."""
    return compose.build(compose.Outgoing(
        from_name="Vendor Support", from_address="support@vendor.example", to_name="Kari",
        to_address="kari@example.org", subject="[SD#7] Printer", body="We are on it.\n",
        message_id=Signer(b"vendor secret", "vendor.example").message_id(7, 1),
        in_reply_to="<human1@example.org>", references=["<human1@example.org>"],
        auto_submitted=auto_submitted), instance_id)


@pytest.mark.parametrize("auto_submitted, expected", [
    ("auto-replied", {"autoreply", "automatic"}),
    ("auto-generated", {"automatic"}),
    ("", set()),  # a human agent's reply must look human (MAIL_RULES 36)
])
def test_our_outbound_mail_through_the_classifier(auto_submitted, expected):
    assert hits(outgoing(auto_submitted, "1111222233334444"), mail_from="support@vendor.example") == expected


@pytest.mark.parametrize("auto_submitted", ["auto-replied", "auto-generated", ""])
def test_our_outbound_mail_coming_back_is_a_loop(auto_submitted):
    d = delivery(outgoing(auto_submitted, INSTANCE), mail_from="support@vendor.example")
    assert rules.decide(CTX, d) == "discard"

"""Inbound rule: delivery status reports and bounces (MAIL_RULES 29).

Layers, envelope first: a null reverse-path (RFC 5321 4.5.5), a
``multipart/report; report-type=delivery-status`` (RFC 3464, RFC 6522) or a
bare ``message/delivery-status``, a From of MAILER-DAEMON or postmaster, an
``X-Failed-Recipients`` header (Exim). A bounce never opens a case and is
never answered.
"""

import re

NAME = "bounce"
DESCRIPTION = "a delivery failure report"

_DAEMON = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


def matches(ctx, delivery) -> bool:
    """Whether the message reports a delivery failure or delay."""
    msg, envelope = delivery.msg, delivery.envelope
    # The envelope only counts where we saw it: the pipe and IMAP carry none,
    # their equivalent is Return-Path (RFC 5321 4.4).
    if delivery.source == "smtp" and not envelope.mail_from:
        return True
    if msg.header("return-path").strip() == "<>":
        return True
    if msg.content_type == "multipart/report" and msg.report_type == "delivery-status":
        return True
    # Some MTAs send the delivery-status part alone, without its multipart/report
    # wrapper (flanker bounce/delayed-broken.eml); it is a DSN all the same.
    if msg.content_type == "message/delivery-status":
        return True
    if _DAEMON.match(msg.from_address or ""):
        return True
    return msg.has_header("x-failed-recipients")

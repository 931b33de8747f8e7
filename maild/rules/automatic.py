"""Inbound rule: machine-sent mail that must never get an automatic answer.

``Auto-Submitted`` other than ``no`` (compared case-insensitively without
parameters or comments, RFC 3834 5; ``No (comment)`` is human), ``Precedence``
of bulk, junk or list, mailing-list headers (RFC 2369, RFC 2919: newsletters
often send only ``List-Unsubscribe``), other systems' loop headers, no-reply
senders and our own addresses (MAIL_RULES 24-28, 31). Such mail still opens or
updates a case like any other (a monitoring alert is a real request).
"""

import re

NAME = "automatic"
DESCRIPTION = "machine-sent mail: processed, never answered automatically"

_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")
_FOREIGN_LOOPS = ("x-loop", "x-rt-loop-prevention", "x-roundup-loop")
# Zammad's send_no_auto_response_reg_exp default (db/seeds/settings.rb),
# widened to the underscore spellings big senders use (do_not_reply@,
# no_reply@), which the default misses.
NO_REPLY = re.compile(r"^(mailer-daemon|postmaster|abuse|root|no[-_]?reply[^@]*|"
                      r"do[-_]?not[-_]?reply[^@]*)@", re.IGNORECASE)


def auto_submitted(value: str) -> bool:
    """RFC 3834 5: any Auto-Submitted value but ``no`` means automatic."""
    keyword = re.sub(r"\([^)]*\)", "", value.split(";", 1)[0]).strip().lower()
    return bool(keyword) and keyword != "no"


def matches(ctx, delivery) -> bool:
    """Whether the message was sent by a machine."""
    msg = delivery.msg
    if any(auto_submitted(v) for v in msg.headers.get("auto-submitted", [])):
        return True
    for name in ("precedence", "x-precedence"):
        if msg.header(name).strip().lower() in ("bulk", "junk", "list", "auto_reply"):
            return True
    if any(msg.has_header(h) for h in _LIST_HEADERS + _FOREIGN_LOOPS):
        return True
    if msg.header("x-fc-machinegenerated").strip().lower() == "true":
        return True
    if msg.header("x-amazon-mail-relay-type").strip().lower() == "notification":
        return True
    if any(v.strip().lower() == "autoresponder" for v in msg.headers.get("delivered-to", [])):
        return True
    sender = msg.from_address
    return bool(sender) and (bool(NO_REPLY.match(sender)) or sender in ctx.config.own_addresses())

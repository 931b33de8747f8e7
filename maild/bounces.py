"""Dead recipients: a permanent bounce of our mail stops notifications to that address (MAIL_RULES 30).

A delivery report (RFC 3464) holds a ``message/delivery-status`` part: one
block about the message, then one per recipient with ``Final-Recipient``,
``Action`` and ``Status``. A recipient whose ``Action`` is ``failed`` with a
status saying the address does not exist (5.1.1 bad mailbox, 5.1.2 bad
domain, 5.1.10 null MX, RFC 3463 and RFC 7505) is not mailed for
``[mail] suppress_bounced_days``, as Zammad does (60 days, only for 5.1.1);
a full mailbox or a refused message is not a dead address.

Anyone can send a report, so one counts only when the runner threaded it to
a case through our signed Message-ID in it, and only for addresses that
case's outbox really mailed: a forged report silences nobody. The person's
own next mail proves the address works again and lifts the stop.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import logging

from maild.store.models import Outbox, Person

log = logging.getLogger(__name__)

DEAD_STATUSES = ("5.1.1", "5.1.2", "5.1.10")
# Reports are small; a huge one is not read whole for this.
MAX_REPORT_BYTES = 2_000_000


def failed_recipients(raw: bytes) -> list[tuple[str, str]]:
    """(address, status) for every recipient a delivery report says failed; [] if it is not one.

    Parsed with the standard library, which splits a ``message/delivery-status``
    part into its header blocks; anything it cannot read yields nothing.
    """
    try:
        report = email.message_from_bytes(raw[:MAX_REPORT_BYTES], policy=email.policy.compat32)
        found = []
        for part in report.walk():
            if part.get_content_type() != "message/delivery-status":
                continue
            blocks = part.get_payload()
            # The first block is about the message; each later one a recipient.
            for block in blocks[1:] if isinstance(blocks, list) else []:
                action = str(block.get("Action", "")).strip().lower()
                status = str(block.get("Status", "")).strip().split(" ")[0]
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                kind, _, address = recipient.partition(";")
                if action == "failed" and kind.strip().lower() == "rfc822" and "@" in address:
                    found.append((address.strip().strip("<>").lower(), status))
        return found
    except (ValueError, TypeError, LookupError, IndexError, AttributeError):
        # A report too broken to read is kept as a note all the same; it just stops nobody.
        return []


def suppress_dead_recipients(ctx, case, raw: bytes, now) -> list[str]:
    """Stop notifications to the addresses a report about ``case`` says do not exist; returns them."""
    days = ctx.config["mail"]["suppress_bounced_days"]
    if days <= 0:
        return []
    dead = sorted({address for address, status in failed_recipients(raw) if status in DEAD_STATUSES})
    mailed = {r for (r,) in Outbox.select(Outbox.recipient).where(
        (Outbox.case == case) & Outbox.recipient.in_(dead)).tuples()} if dead else set()
    stopped = [a for a in dead if a in mailed]
    if stopped:
        until = now + datetime.timedelta(days=days)
        Person.update(undeliverable_until=until).where(Person.email.in_(stopped)).execute()
        log.info("case %s: no notifications to %s until %s (permanent bounce)", case.id, ", ".join(stopped),
                 until.date())
    return stopped


def deliverable(person: Person, now) -> bool:
    """Whether notifications may go to the person now (no recent permanent bounce)."""
    until = getattr(person, "undeliverable_until", None)
    return until is None or until <= now


def wrote_again(person: Person) -> None:
    """The person's own mail arrived: their address works, so a stop after a bounce ends."""
    if person.undeliverable_until is not None:
        Person.update(undeliverable_until=None).where(Person.id == person.id).execute()
        person.undeliverable_until = None

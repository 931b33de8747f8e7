"""Tell the admins, once, when something keeps failing (SPEC 2.11).

The admins are the addresses in ``[site] admins`` and every person whose role
is ``admin``. A failing part calls in here when its count of consecutive
failures reaches the configured threshold, so a streak gives one mail, not
one per attempt; the count starts again after a success.
"""

from __future__ import annotations

from maild.mail.compose import Outgoing
from maild.notify import render, site_sender
from maild.outbound import outbox
from maild.store.models import Person, utcnow


def admin_addresses(ctx) -> list[str]:
    """Everyone who is told of failures, lowercased, without repeats."""
    addresses = [a.lower() for a in ctx.config["site"]["admins"]]
    addresses += [p.email for p in Person.select(Person.email).where(Person.role == "admin")]
    own = ctx.config.own_addresses()
    return [a for a in dict.fromkeys(addresses) if a and a not in own]


def imap_failing(ctx, account: dict, failures: int, error: str) -> int:
    """Queue one mail to each admin about an IMAP account that keeps failing; returns how many."""
    sender = site_sender(ctx, account["department"])
    now = utcnow()
    queued = 0
    with ctx.db.atomic():
        for address in admin_addresses(ctx):
            subject, body = render(ctx, "admin", "imap_failing", ctx.config["site"]["language"],
                                   account=account["name"], host=account["host"],
                                   folder=account["folder"], failures=failures, error=error)
            outbox.enqueue(ctx, Outgoing(
                from_name=ctx.config["site"]["name"], from_address=sender, to_name="",
                to_address=address, subject=subject, body=body,
                message_id=ctx.signer.message_id(0, 0)), kind="alert", now=now)
            queued += 1
    ctx.outbox_wakeup.set()
    return queued

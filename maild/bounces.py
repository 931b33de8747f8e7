"""Dead recipients: a permanent bounce of our mail stops notifications to that address (MAIL_RULES 30).

A delivery report (RFC 3464, read by ``maild.mail.dsn``) names each
recipient with an ``Action`` and a ``Status``. A recipient whose ``Action``
is ``failed`` with a status saying the address does not exist (5.1.1 bad
mailbox, 5.1.2 bad domain, 5.1.10 null MX, RFC 3463 and RFC 7505) is not mailed for
``[mail] suppress_bounced_days``, as Zammad does (60 days, only for 5.1.1);
a full mailbox or a refused message is not a dead address.

Anyone can send a report, so an address is stopped only when the report
quotes the signed Message-ID of our mail *to that address*: each outgoing
message has its own (per recipient, with a nonce and an HMAC), which only
its recipient's side of the mail ever saw. A participant naming someone
else, or a stranger who knows a case's other Message-IDs, stops nobody.
Only automatic notifications stop: an agent's own answer still goes out.
The person's own next mail, or a login by a mailed link, proves the address
works again and lifts the stop.
"""

from __future__ import annotations

import datetime
import logging
import re
import time

from maild.mail import dsn
from maild.store.models import Outbox, Person

log = logging.getLogger(__name__)

DEAD_STATUSES = ("5.1.1", "5.1.2", "5.1.10")
# How stale the runner's cached staff may be about stops other processes set.
STAFF_REFRESH_SECONDS = 10.0


def suppress_dead_recipients(ctx, raw: bytes, now) -> list[str]:
    """Stop notifications to the addresses a report says do not exist, where it quotes our mail to them.

    Returns the addresses stopped.
    """
    days = ctx.config["mail"]["suppress_bounced_days"]
    if days <= 0:
        return []
    dead = {address for address, status in dsn.failed_recipients(raw) if status in DEAD_STATUSES}
    if not dead:
        return []
    # Our signed Message-IDs quoted anywhere in the report (headers, the
    # enclosed message or its headers); the case's own reference names no
    # person (0) and proves nothing about a recipient.
    text = raw[:dsn.MAX_REPORT_BYTES].decode("latin-1")
    domain = re.escape(ctx.signer.mail_domain)
    quoted = {}
    for found in re.findall(r"<(sd\.\d+\.\d+\.[0-9a-f]+\.[0-9a-f]+@%s)>" % domain, text, re.IGNORECASE):
        key = ctx.signer.read_message_id(found)
        if key and key[1]:
            quoted[found.lower()] = key[1]
    if not quoted:
        return []
    stopped, people = [], set()
    rows = Outbox.select(Outbox.message_id, Outbox.recipient).where(Outbox.message_id.in_(list(quoted))).tuples()
    for message_id, recipient in rows:
        # Outbox recipients are in ASCII form (an IDN domain as xn--), as reports name them.
        if recipient.lower() in dead:
            stopped.append(recipient.lower())
            people.add(quoted[message_id.lower()])
    if people:
        until = now + datetime.timedelta(days=days)
        Person.update(undeliverable_until=until).where(Person.id.in_(sorted(people))).execute()
        _cached(ctx, people, until)
        log.info("no notifications to %s until %s (permanent bounce)", ", ".join(sorted(stopped)), until.date())
    return sorted(set(stopped))


def deliverable(person: Person, now) -> bool:
    """Whether notifications may go to the person now (no recent permanent bounce)."""
    until = getattr(person, "undeliverable_until", None)
    return until is None or until <= now


def refresh_staff(ctx) -> None:
    """Re-read the bounce stops of the runner's cached staff, at most every STAFF_REFRESH_SECONDS.

    This process keeps its cache right as it sets and lifts stops; the
    re-read catches what other processes did (the portal, another daemon on
    the same PostgreSQL store) without a query on every new case.
    """
    clock = time.monotonic()
    if not ctx.staff or clock - ctx.staff_stops_read_at < STAFF_REFRESH_SECONDS:
        return
    ctx.staff_stops_read_at = clock
    ids = [p.id for p in ctx.staff.values()]
    stops = dict(Person.select(Person.id, Person.undeliverable_until).where(Person.id.in_(ids)).tuples())
    for person in ctx.staff.values():
        person.undeliverable_until = stops.get(person.id)


def _cached(ctx, person_ids, until) -> None:
    """Keep the cached staff in step with a stop set or lifted by this process."""
    for person in ctx.staff.values():
        if person.id in person_ids:
            person.undeliverable_until = until


def wrote_again(ctx, person: Person) -> None:
    """The person's own mail arrived (or a mailed link was used): their address works, so a stop ends."""
    if person.undeliverable_until is not None:
        Person.update(undeliverable_until=None).where(Person.id == person.id).execute()
        person.undeliverable_until = None
        _cached(ctx, {person.id}, None)

"""Forwarding a case to an outside party (a supplier), whose answers come back as internal entries.

The party gets the case's subject and first message, the agent's own words
and the files chosen, from the department's address, with a ``Reply-To``
signed for that forward (``signing.forward_address``). What comes back to
that address, or from the party's address by any other thread (our
Message-IDs, the subject token), is an internal entry of kind ``party``:
never public, never sent to the customer. The agent who forwarded the case
and the assignee are told. A case is forwarded from the case page or by
``#forward ADDRESS`` in an agent's mail, whose text is then the agent's
words to the party and not a reply to the customer.

The customer's address is not sent to the party: the agent decides what the
party needs and writes it.
"""

from __future__ import annotations

import re

from maild import cases, language, notify, people
from maild.mail import signing
from maild.store import statements
from maild.store.models import Attachment, Blob, Case, Entry, Forward, Person, utcnow

ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
NOTE_MAX = 20000
# What cannot be forwarded, as the answers say it (agentmail, the case page).
PROBLEMS = {"address": "not an address to forward to",
            "own": "one of our own addresses",
            "long": "the text is too long"}


class ForwardError(Exception):
    """A forward that cannot be sent; ``problem`` is a key of ``PROBLEMS``."""

    def __init__(self, problem: str):
        super().__init__(PROBLEMS[problem])
        self.problem = problem


def first_message(case: Case) -> Entry | None:
    """The case's first message: what the party is asked about."""
    return (Entry.select().where((Entry.case == case) & (Entry.kind == "message"))
            .order_by(Entry.created_at, Entry.id).first())


def files(case: Case, attachment_ids) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of these attachments of the case, in the order they came."""
    wanted = sorted({int(i) for i in attachment_ids})
    if not wanted:
        return []
    rows = (Attachment.select(Attachment, Blob).join(Blob).switch(Attachment).join(Entry)
            .where((Entry.case == case) & Attachment.id.in_(wanted)).order_by(Attachment.id))
    return [(a.filename, a.content_type, bytes(a.blob.data)) for a in rows]


def forward(ctx, case: Case, address: str, *, agent: Person, note: str = "", name: str = "",
            attachments=(), now=None) -> Forward:
    """Send the case to an outside party and record it; raises ForwardError.

    ``attachments`` are (filename, content type, bytes) to send with it.
    Forwarding to the same party again reuses its signed address.
    """
    now = now or utcnow()
    address = address.strip().strip("<>").lower()
    note = (note or "").strip()
    if not ADDRESS.match(address) or len(address) > 250:
        raise ForwardError("address")
    if address in ctx.config.own_addresses() or signing.signed_base(address) is not None:
        raise ForwardError("own")
    if len(note) > NOTE_MAX:
        raise ForwardError("long")
    found = Forward.get_or_none((Forward.case == case) & (Forward.address == address))
    if found is None:
        found = Forward.create(case=case, address=address, name=name.strip()[:200], agent=agent.email,
                               created_at=now, last_sent_at=now)
    else:
        found.agent, found.last_sent_at = agent.email, now
        found.name = name.strip()[:200] or found.name
        found.save()
    party = people.find_or_create(address, name=name.strip(), now=now)
    # A party never heard from gets the mail in the language of the agent's
    # text to them; without one (or too short to tell), the department's.
    language.learn(ctx.config, party, "", note)
    cases.event(case, f"Forwarded to {address} by {agent.email}." + (f"\n\n{note}" if note else ""), now,
                author=agent, public=False, change=f"forwarded:{address}")
    first = first_message(case)
    notify.forwarded(ctx, case, party, found, agent=agent, note=note, text=first.body_text if first else "",
                     files=list(attachments), now=now)
    return found


def party_of(case: Case, person: Person) -> Forward | None:
    """The forward of this case to this person, when they are an outside party of it and not a participant."""
    if people.is_participant(case, person):
        return None  # a customer's reply, the usual case: no query
    # Asked of every other reply, so written once (maild/store/statements.py);
    # (case, address) is unique, so there is one at most.
    found = statements.instances(Forward, statements.query(
        "forward-to-party",
        lambda: Forward.select().where((Forward.case == case.id) & (Forward.address == person.email)),
        [case.id, person.email]))
    return found[0] if found else None


def party_answer(ctx, delivery, common: dict) -> Entry:
    """Record an outside party's answer as an internal entry and tell the agents."""
    case, forward = delivery.case, delivery.forward
    entry = cases.add_message(ctx, case, author=delivery.person, subject=delivery.msg.subject, public=False,
                              kind="party", notify_agents=False, **common)
    notify.party_answered(ctx, case, entry, forward, now=delivery.now)
    return entry

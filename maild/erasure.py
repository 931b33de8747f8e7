"""Erasing a person at their request (GDPR art. 17): ``sensedesk person forget EMAIL`` and the admin page.

In one transaction:

* the cases they asked for are deleted, as retention deletes cases
  (``maild/purge.py``), leaving only a count;
* on other people's cases their messages keep their place, with the text
  replaced by "[removed at the request of the person]" and their
  attachments gone; the other people's messages stay as they were;
* mail about those cases that was sent or given up, mail to their address,
  and the raw messages they sent go;
* their name, address, sessions, login links, drafts, subscriptions,
  memberships, bounce stop and rate-limit events go, with the person;
* agents' internal notes that name them are not rewritten (an agent's
  record of a case is the department's): they are listed for an agent to
  review.

``dry_run`` does all of it and rolls back: what it reports is exactly what
would go.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy

from maild import purge, search
from maild.store.models import (AccessLog, Approval, Article, Attachment, Case, Entry, FormDraft, Forward,
                                InboundMessage, LoginLink, Membership, NoticeSubscription, Outbox, Participant, Person,
                                PortalSession, RateEvent, Spool)

REMOVED = {"en": "[removed at the request of the person]", "nb": "[fjernet etter ønske fra personen]"}
REMOVED_ADDRESS = "[removed]"


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


@dataclasses.dataclass
class Erasure:
    """What erasing a person removed (or, in a dry run, would remove)."""

    email: str
    found: bool = False
    cases_deleted: list[int] = dataclasses.field(default_factory=list)
    messages_replaced: int = 0
    cases_touched: list[int] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    # (case id, entry id, the note's first line): internal notes naming the person.
    notes_to_review: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)


def forget(ctx, email: str, dry_run: bool = False) -> Erasure:
    """Erase the person with this address; see the module's docstring."""
    result = Erasure(email.strip().lower())
    try:
        with ctx.db.atomic():
            _forget(ctx, result)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return result


def _count(result: Erasure, kind: str, n: int) -> None:
    result.counts[kind] = result.counts.get(kind, 0) + n


def _forget(ctx, result: Erasure) -> None:
    email = result.email
    person = Person.get_or_none(Person.email == email)
    # Mail to the address and raw mail from it, whether or not a person row is left.
    _count(result, "outbox", Outbox.delete().where(Outbox.recipient == email).execute())
    spool_ids = {s.id for s in Spool.select(Spool.id).where(Spool.mail_from == email)}
    _count(result, "login_links", LoginLink.delete().where(LoginLink.email == email).execute())
    _count(result, "rate_events", RateEvent.delete().where(RateEvent.key.contains(email)).execute())
    Approval.update(approver=REMOVED_ADDRESS).where(Approval.approver == email).execute()
    # An outside party forgotten: their forwards go, and with them the signed addresses they answer to.
    Forward.delete().where(Forward.address == email).execute()
    AccessLog.update(agent=REMOVED_ADDRESS).where(AccessLog.agent == email).execute()
    if person is None:
        _drop_spool(ctx.db, spool_ids, result)
        return
    result.found = True
    result.cases_deleted = [c.id for c in Case.select(Case.id).where(Case.requester == person).order_by(Case.id)]
    own = list(Entry.select().where((Entry.author == person) & Entry.case.not_in(result.cases_deleted or [0])))
    spool_ids |= {e.spool_id for e in own if e.spool_id}
    removed_texts = [e.body_text for e in own] + [person.name]
    blobs = set()
    language = ctx.config["site"]["language"]
    for entry in own:
        blobs |= {a.blob_id for a in Attachment.select(Attachment.blob).where(Attachment.entry == entry.id)}
        _count(result, "attachments", Attachment.delete().where(Attachment.entry == entry.id).execute())
        entry.body_text, entry.body_html, entry.subject = REMOVED[language], "", ""
        entry.answers, entry.author = None, None
        entry.save()
        search.index_entry(entry)
        InboundMessage.delete().where(InboundMessage.entry == entry.id).execute()
    result.messages_replaced = len(own)
    touched = {e.case_id for e in own} | {p.case_id for p in Participant.select(Participant.case)
                                          .where(Participant.person == person)}
    touched -= set(result.cases_deleted)
    result.cases_touched = sorted(touched)
    # Mail already sent (or given up) about those cases told of their words;
    # mail still waiting to go that names them goes too (the rest is others' due).
    if touched:
        _count(result, "outbox", Outbox.delete().where(Outbox.case.in_(sorted(touched))
                                                       & Outbox.state.in_(["sent", "dead"])).execute())
        needles = [email] + ([person.name.strip()] if len(person.name.strip()) >= 3 else [])
        waiting = [o.id for o in Outbox.select(Outbox.id, Outbox.raw).where(Outbox.case.in_(sorted(touched)))
                   if _names(bytes(o.raw), needles)]
        if waiting:
            _count(result, "outbox", Outbox.delete().where(Outbox.id.in_(waiting)).execute())
    result.notes_to_review = _notes_naming(person, sorted(touched))
    Participant.delete().where(Participant.person == person).execute()
    Case.update(assignee=None).where(Case.assignee == person).execute()
    Entry.update(author=None).where(Entry.author == person).execute()
    Article.update(author=None).where(Article.author == person).execute()
    for kind, n in purge.delete_cases(ctx.db, result.cases_deleted, "erasure").items():
        _count(result, kind, n)
    for draft in FormDraft.select().where(FormDraft.person == person):
        blobs |= {f["sha256"] for files in (draft.files or {}).values() for f in files}
    _count(result, "form_drafts", FormDraft.delete().where(FormDraft.person == person).execute())
    _count(result, "sessions", PortalSession.delete().where(PortalSession.person == person).execute())
    NoticeSubscription.delete().where(NoticeSubscription.person == person).execute()
    Membership.delete().where(Membership.person == person).execute()
    _drop_spool(ctx.db, spool_ids, result)
    person.delete_instance()
    _count(result, "blobs", purge.delete_unused_blobs(blobs))
    search.forget_words(ctx.db, removed_texts)
    search.compact(ctx.db)


def _names(raw: bytes, needles: list[str]) -> bool:
    """Whether a message's headers or text, decoded (quoted-printable may wrap an address), hold any needle."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    texts = [str(value) for value in message.values()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                texts.append(part.get_content())
            except (LookupError, ValueError):  # a charset Python does not know: its bytes, as they are
                texts.append(part.get_payload(decode=True).decode("latin-1"))
    text = "\n".join(texts).casefold()
    return any(needle.casefold() in text for needle in needles)


def _drop_spool(db, spool_ids: set[int], result: Erasure) -> None:
    """Delete raw messages the person sent (their exactly-once keys with them)."""
    if not spool_ids:
        return
    ids = sorted(spool_ids)
    InboundMessage.delete().where(InboundMessage.spool_id.in_(ids)).execute()
    _count(result, "spool", Spool.delete().where(Spool.id.in_(ids)).execute())


def _notes_naming(person: Person, case_ids: list[int]) -> list[tuple[int, int, str]]:
    """Internal notes on these cases whose text holds the person's address or name."""
    if not case_ids:
        return []
    named = Entry.body_text.contains(person.email)
    if len(person.name.strip()) >= 3:
        named |= Entry.body_text.contains(person.name.strip())
    notes = (Entry.select(Entry.id, Entry.case, Entry.body_text)
             .where(Entry.case.in_(case_ids) & (Entry.public == False) & named)  # noqa: E712 (SQL)
             .order_by(Entry.case, Entry.id))
    return [(n.case_id, n.id, (n.body_text.strip().splitlines() or [""])[0][:120]) for n in notes]


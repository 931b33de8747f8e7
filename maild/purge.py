"""Deleting cases for good, with everything that hangs on them, leaving a count behind.

Used by retention (``maild/retention.py``) and by erasure of a person
(``maild/erasure.py``). A case goes with its entries, attachments (a blob
when its last use goes, and no form draft holds it), participants, message
references, approvals, outbox rows, search documents, spool rows, exactly-once
keys and the form drafts that opened it; links and FAQ articles that named it
forget it. What stays is a ``CaseTally`` row per case: department, when it
was opened and closed, how many messages it had, so reports still add up.
Words of the deleted text that no document holds any more leave the search
word list too. Everything happens in the caller's transaction.
"""

from __future__ import annotations

from maild import search
from maild.store.models import (Approval, Article, Attachment, Blob, Case, CaseTally, Entry, FormDraft,
                                Forward, InboundMessage, MessageRef, Outbox, Participant, Spool, utcnow)

# Cases deleted per statement: the IN lists stay short on both stores.
CHUNK = 200


def delete_cases(db, case_ids: list[int], reason: str) -> dict[str, int]:
    """Delete these cases and what hangs on them; returns counts per kind of row removed."""
    counts: dict[str, int] = {}
    for start in range(0, len(case_ids), CHUNK):
        for kind, n in _delete_chunk(db, case_ids[start:start + CHUNK], reason).items():
            counts[kind] = counts.get(kind, 0) + n
    return counts


def _delete_chunk(db, ids: list[int], reason: str) -> dict[str, int]:
    cases = list(Case.select(Case.id, Case.department, Case.created_at, Case.closed_at, Case.subject)
                 .where(Case.id.in_(ids)))
    if not cases:
        return {}
    ids = [c.id for c in cases]
    entries = list(Entry.select(Entry.id, Entry.kind, Entry.case, Entry.body_text, Entry.spool_id)
                   .where(Entry.case.in_(ids)))
    entry_ids = [e.id for e in entries]
    messages: dict[int, int] = {}
    for entry in entries:
        if entry.kind in ("message", "reply"):
            messages[entry.case_id] = messages.get(entry.case_id, 0) + 1
    now = utcnow()
    CaseTally.insert_many([{"department": c.department, "opened_at": c.created_at, "closed_at": c.closed_at,
                            "messages": messages.get(c.id, 0), "deleted_at": now, "reason": reason}
                           for c in cases]).execute()
    blobs = {a.blob_id for a in Attachment.select(Attachment.blob).where(Attachment.entry.in_(entry_ids))} \
        if entry_ids else set()
    counts = {"cases": len(ids), "entries": len(entry_ids)}
    counts["attachments"] = (Attachment.delete().where(Attachment.entry.in_(entry_ids)).execute()
                             if entry_ids else 0)
    spool_ids = [s.id for s in Spool.select(Spool.id).where(Spool.case_id.in_(ids))]
    if entry_ids:
        InboundMessage.delete().where(InboundMessage.entry.in_(entry_ids)).execute()
    if spool_ids:
        InboundMessage.delete().where(InboundMessage.spool_id.in_(spool_ids)).execute()
    search.forget_cases(db, ids)
    counts["outbox"] = Outbox.delete().where(Outbox.case.in_(ids)).execute()
    counts["approvals"] = Approval.delete().where(Approval.case.in_(ids)).execute()
    MessageRef.delete().where(MessageRef.case.in_(ids)).execute()
    Participant.delete().where(Participant.case.in_(ids)).execute()
    Forward.delete().where(Forward.case.in_(ids)).execute()
    Entry.delete().where(Entry.case.in_(ids)).execute()
    Case.update(linked_to=None).where(Case.linked_to.in_(ids)).execute()
    Article.update(source_case=None).where(Article.source_case.in_(ids)).execute()
    counts["form_drafts"] = FormDraft.delete().where(FormDraft.sent_case.in_(ids)).execute()
    counts["spool"] = Spool.delete().where(Spool.id.in_(spool_ids)).execute() if spool_ids else 0
    Case.delete().where(Case.id.in_(ids)).execute()
    counts["blobs"] = delete_unused_blobs(blobs)
    search.forget_words(db, [c.subject for c in cases] + [e.body_text for e in entries])
    return counts


def delete_unused_blobs(candidates) -> int:
    """Delete those of these blobs that no attachment and no form draft uses any more; returns how many."""
    gone = 0
    for sha in sorted(candidates):
        if Attachment.select().where(Attachment.blob == sha).exists():
            continue
        # A draft's files are a JSON list of {"sha256": …}: a draft being
        # filled in may hold the same file as a deleted case.
        if FormDraft.select().where(FormDraft.files.contains(sha)).exists():
            continue
        gone += Blob.delete().where(Blob.sha256 == sha).execute()
    return gone

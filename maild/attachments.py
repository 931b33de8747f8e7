"""Attachments: content stored once by SHA-256, named per entry.

The content lives in the database (table ``blob``), so an entry and its files
commit in one transaction and a backup of the store is a backup of everything.
A part over ``[mail] max_attachment_bytes`` is not stored as a file; the entry
records that it was left out, and the raw message in the spool keeps it
(MAIL_RULES 9: never drop silently).
"""

from __future__ import annotations

import hashlib

from maild.store.models import Attachment, Blob, Entry


def store(ctx, entry: Entry, parts) -> list[tuple[str, str, bytes]]:
    """Store each part as an attachment of the entry; returns (name, type, bytes) of each stored."""
    limit = ctx.config["mail"]["max_attachment_bytes"]
    made, skipped = [], []
    for part in parts:
        if len(part.data) > limit:
            skipped.append(f"{part.filename} ({len(part.data)} bytes)")
            continue
        digest = hashlib.sha256(part.data).hexdigest()
        Blob.insert(sha256=digest, size=len(part.data), data=part.data).on_conflict_ignore().execute()
        Attachment.create(entry=entry, blob=digest, filename=part.filename, content_type=part.content_type,
                          content_id=part.content_id, inline=part.inline)
        made.append((part.filename, part.content_type, part.data))
    if skipped:
        entry.defects = list(entry.defects or []) + [
            f"attachment over the size limit, kept only in the raw message: {name}" for name in skipped]
        entry.save(only=[Entry.defects])
    return made


def for_entry(entry: Entry) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) of each attachment of an entry, for mail."""
    rows = (Attachment.select(Attachment, Blob).join(Blob)
            .where(Attachment.entry == entry).order_by(Attachment.id))
    return [(a.filename, a.content_type, bytes(a.blob.data)) for a in rows]

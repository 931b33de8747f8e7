"""A case's entries as the portal shows them, to customers and agents alike.

Each entry becomes a small dict for the templates: its new text split from
the quoted part, a signed, short-lived URL of its mail HTML cleaned into a
document for a sandboxed frame (served with a policy of its own, so the
mail's styles apply and nothing runs; ``cid:`` pictures from signed URLs
too, because a sandboxed frame sends no cookie; MAIL_RULES 68-69), and its
attachments without the pictures already shown inline.
"""

from __future__ import annotations

from maild import notify
from maild.store.models import Attachment, Entry, Person
from portal import render

# How long a signed URL of an inline picture stays valid.
INLINE_SECONDS = 3600


def files_by_entry(entries: list[Entry]) -> dict[int, list[Attachment]]:
    """The attachments of these entries, by entry id, in the order they were stored (one query)."""
    files: dict[int, list[Attachment]] = {}
    if entries:
        for a in (Attachment.select().where(Attachment.entry.in_([e.id for e in entries]))
                  .order_by(Attachment.id)):
            files.setdefault(a.entry_id, []).append(a)
    return files


def load_authors(entries: list[Entry]) -> None:
    """Set each entry's ``author`` from one query for them all.

    Reading ``entry.author`` unloaded costs a query per entry: with 100,000
    cases a case page of five messages spent more on those than on the rest
    of its queries together (bench/portal.py).
    """
    ids = sorted({e.author_id for e in entries if e.author_id})
    people = {p.id: p for p in Person.select().where(Person.id.in_(ids))} if ids else {}
    for entry in entries:
        entry.author = people.get(entry.author_id)


# The changes that name a person by their address (maild.cases.event): "<kind>:<address>".
PERSON_CHANGES = ("assigned", "participant", "approval_asked", "approved", "rejected", "approval_withdrawn")


def named_people(entries: list[Entry]) -> dict[str, Person]:
    """The people known by the addresses the entries' changes name, by address (one query).

    The history names them as "Name <address>" where the name is known,
    like every other person on the page.
    """
    addresses = set()
    for entry in entries:
        kind, _, value = (entry.change or "").partition(":")
        if kind in PERSON_CHANGES and value:
            addresses.add(value)
    if not addresses:
        return {}
    return {p.email: p for p in Person.select().where(Person.email.in_(sorted(addresses)))}


def signed_path(ctx, purpose: str, key: int, now: int) -> str:
    """A short-lived signed portal path for one thing: "/mail/<entry>/…" or "/inline/<attachment>/…"."""
    expires = now + INLINE_SECONDS
    return f"/{purpose}/{key}/{expires}/{ctx.signer.sign(purpose, key, expires)}"


def mail_document(ctx, entry: Entry, files: list[Attachment], now: int, language: str) -> str:
    """The entry's mail HTML, cleaned, as the whole document its frame shows."""
    by_cid = {a.content_id.strip("<>"): a for a in files if a.content_id}

    def cid_url(cid: str):
        attachment = by_cid.get(cid.strip("<>"))
        if attachment is None or not render.is_inline_image(attachment.content_type):
            return None
        return signed_path(ctx, "inline", attachment.id, now)

    return render.html_document(render.clean_html(entry.body_html, cid_url), language)


def entry_view(ctx, entry: Entry, files: list[Attachment], now: int, language: str) -> dict:
    """What a page needs of one entry: text, quoted text, the URL of its HTML, author, files."""
    # A form's answers with their labels in the reader's language.
    new_text, quoted = render.split_quoted(notify.entry_text(ctx, entry, language))
    html_url = signed_path(ctx, "mail", entry.id, now) if entry.body_html else ""
    author = entry.author
    # A reply is always the department's, also from an agent who is one only by
    # configuration (role customer): the customer sees the department, never
    # the agent's own address (SPEC 4).
    # Only replies: a message, even from an agent's address, is what a sender
    # wrote, and may be forged (SPEC 4).
    staff = entry.kind == "reply"
    return {"entry": entry, "text": new_text, "quoted": quoted, "html_url": html_url, "staff": staff,
            "author": author, "files": [a for a in files if not (a.inline and a.content_id)]}

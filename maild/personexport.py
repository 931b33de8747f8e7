"""A person's own data (GDPR art. 15 and 20): a zip of JSON and their files.

*Download my data* in the portal's settings, and ``sensedesk person export
EMAIL > file.zip`` for a request that comes by mail, give the same archive:

* ``profile.json`` -- address, name, role, language, time zone, since when;
* ``cases.json`` -- every case where they are the requester or a
  participant, with the entries they can see there (what the customer's
  case page shows: never an internal note), and the files of those entries
  under ``files/<case>/<entry>/``;
* ``approvals.json`` -- approvals they were asked for, and their answers;
* ``subscriptions.json`` -- the departments whose notices they get by mail.

The archive is written to a file object (a temporary file, or standard
output) as it is built, so a person with many cases costs no memory.
"""

from __future__ import annotations

import json
import re
import zipfile

from maild.store.models import Approval, Attachment, Case, Entry, NoticeSubscription, Participant, Person

_UNSAFE = re.compile(r"[^\w.\- ]+")


def _when(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def _filename(name: str) -> str:
    """A file name safe inside the archive: no directories, nothing a shell or Windows minds."""
    return _UNSAFE.sub("_", name or "file").strip(" .")[:120] or "file"


def write(person: Person, out) -> dict[str, int]:
    """Write ``person``'s archive to the binary file object ``out``; returns how many cases and files."""
    case_ids = sorted({p.case_id for p in Participant.select(Participant.case).where(Participant.person == person)}
                      | {c.id for c in Case.select(Case.id).where(Case.requester == person)})
    cases, files = [], 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("profile.json", _json({
            "email": person.email, "name": person.name, "role": person.role, "language": person.language,
            "timezone": person.timezone, "created_at": _when(person.created_at)}))
        for case in Case.select().where(Case.id.in_(case_ids or [0])).order_by(Case.id):
            entries = []
            for entry in (Entry.select().where((Entry.case == case.id) & (Entry.public == True))  # noqa: E712
                          .order_by(Entry.created_at, Entry.id)):
                attached = []
                for attachment in Attachment.select().where(Attachment.entry == entry.id).order_by(Attachment.id):
                    path = f"files/{case.id}/{entry.id}/{attachment.id}-{_filename(attachment.filename)}"
                    archive.writestr(path, bytes(attachment.blob.data))
                    attached.append({"filename": attachment.filename, "content_type": attachment.content_type,
                                     "file": path})
                    files += 1
                author = entry.author
                entries.append({
                    "at": _when(entry.created_at), "kind": entry.kind, "subject": entry.subject,
                    "from": ("you" if author and author.id == person.id else
                             (author.name or "staff") if author and author.role != "customer" else
                             (author.name or author.email) if author else ""),
                    "text": entry.body_text, "form_answers": entry.answers, "attachments": attached})
            cases.append({
                "case": case.id, "subject": case.subject, "department": case.department, "status": case.status,
                "your_role": "requester" if case.requester_id == person.id else "participant",
                "opened_at": _when(case.created_at), "closed_at": _when(case.closed_at), "entries": entries})
        archive.writestr("cases.json", _json(cases))
        archive.writestr("approvals.json", _json([
            {"case": a.case_id, "asked_at": _when(a.asked_at), "state": a.state, "question": a.question,
             "decided_at": _when(a.decided_at), "decided_via": a.decided_via, "comment": a.comment}
            for a in Approval.select().where(Approval.approver == person.email).order_by(Approval.id)]))
        archive.writestr("subscriptions.json", _json([
            {"department": s.department or "all", "since": _when(s.created_at)}
            for s in NoticeSubscription.select().where(NoticeSubscription.person == person)]))
    return {"cases": len(cases), "files": files}


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)

"""Every real-world message in ../shared/corpus over SMTP: kept, named, never a crash.

Each message is accepted (or refused with a policy 5xx), stored byte for byte,
and ends ``processed`` or ``ignored`` naming a rule; nothing escapes the
runner and the daemon keeps serving (SPEC 2.10, corpus/README.md).
"""

from __future__ import annotations

import re
import smtplib

from conftest import CORPUS, wait_until
from mailfactory import make_mail

from maild.store.models import Attachment, Case, Entry, Outbox, Spool

FILES = sorted(p for p in CORPUS.rglob("*.eml"))


def _as_smtp_sends(raw: bytes) -> bytes:
    """What an MTA hands on: CRLF line endings (RFC 5321 2.3.8), ending in CRLF."""
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def test_corpus_is_present():
    assert len(FILES) > 150, f"expected the shared corpus at {CORPUS}"


def test_every_corpus_message_ends_in_a_named_state(daemon):
    sent = {}
    with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=30) as client:
        for path in FILES:
            raw = _as_smtp_sends(path.read_bytes())
            try:
                client.sendmail("tester@example.org", ["helpdesk@example.test"], raw)
            except smtplib.SMTPResponseException as exc:
                # Only a policy refusal is acceptable, never a temporary or internal error.
                assert 500 <= exc.smtp_code < 600 and exc.smtp_code != 500, (path, exc)
                client.rset()
                continue
            sent[path] = raw
    assert len(sent) == len(FILES)
    wait_until(lambda: Spool.select().where(Spool.state.in_(["new", "claimed"])).count() == 0
               and Spool.select().count() >= len({r for r in sent.values()}), timeout=120)
    rows = list(Spool.select())
    failed = [(r.id, r.reason) for r in rows if r.state == "failed"]
    assert failed == []
    assert {r.state for r in rows} <= {"processed", "ignored"}
    for row in rows:
        if row.state == "ignored":
            assert row.reason.split(":")[0] in {"bounce", "autoreply", "duplicate", "loop"}, row.reason
        else:
            assert row.case_id and row.entry_id
    stored = {bytes(r.raw) for r in rows}
    assert [p.name for p, raw in sent.items() if raw not in stored] == []
    assert not Outbox.select().where(Outbox.state == "dead", ~Outbox.last_error.contains("not ASCII")).exists()
    # Mail whose MIME could not be read keeps the raw message as an attachment.
    for entry in Entry.select().where(Entry.kind == "message"):
        if any(d.startswith("mime:") for d in entry.defects):
            assert Attachment.select().where(Attachment.entry == entry,
                                             Attachment.filename == "original-message.eml").exists()
    # The daemon is still up and working.
    with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=10) as client:
        client.sendmail("kari@example.org", ["helpdesk@example.test"], make_mail(subject="after the corpus"))
    wait_until(lambda: Case.select().where(Case.subject == "after the corpus").exists(), timeout=20)

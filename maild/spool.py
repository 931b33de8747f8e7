"""The spool: every inbound message's raw bytes and envelope, committed first.

``accept`` is the only way mail enters Sensedesk (SMTP, IMAP and the pipe all
call it) and returns only after the commit, so whoever acknowledges the
message (SMTP ``250``, IMAP ``\\Seen``, ``ingest`` exit 0) does so after the
bytes are durable (MAIL_RULES 1, 2). An identical redelivery (same bytes, e.g.
an SMTP client retrying after a lost ``250``) is the same row.

``SpoolWriter`` is the group-commit path for the SMTP receiver: one thread
commits every message that is waiting in one transaction, one fsync for many,
then releases each waiting ``250`` (DESIGN.md, "Where the speed comes from").
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import queue
import threading
from concurrent.futures import Future

from peewee import Database

from maild.message import extract_ids
from maild.store.models import Spool, utcnow

log = logging.getLogger(__name__)

STATES = ("new", "processed", "ignored", "failed")


@dataclasses.dataclass
class Envelope:
    """Who sent a message to whom, as the transport saw it (MAIL_RULES 1, 14)."""

    mail_from: str = ""  # "" is the null reverse-path <>
    rcpt_tos: list[str] = dataclasses.field(default_factory=list)
    peer: str = ""
    helo: str = ""


def _message_id(raw: bytes) -> str:
    """The Message-ID from the header block alone, cheaply, for listing."""
    head = raw[:65536]
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = head.find(sep)
        if index >= 0:
            head = head[:index]
            break
    text = head.decode("latin-1")
    lower = text.lower()
    start = lower.find("\nmessage-id:")
    if start < 0 and not lower.startswith("message-id:"):
        return ""
    start = 0 if start < 0 else start + 1
    value = text[start:].split(":", 1)[1]
    # Unfold: the value may continue on indented lines.
    lines = value.replace("\r\n", "\n").split("\n")
    value = lines[0] + "".join(" " + l for l in lines[1:3] if l[:1] in (" ", "\t"))
    ids = extract_ids(value)
    return ids[0][:250] if ids else ""


def row_values(raw: bytes, envelope: Envelope, source: str, now=None) -> dict:
    """The column values of a new spool row for these bytes."""
    return dict(
        received_at=now or utcnow(),
        source=source,
        mail_from="" if envelope.mail_from in ("<>", None) else envelope.mail_from[:250],
        rcpt_tos=[r.lower() for r in envelope.rcpt_tos],
        peer=envelope.peer[:250],
        helo=envelope.helo[:250],
        raw=raw,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        message_id=_message_id(raw),
        state="new",
    )


def _insert(values: list[dict]) -> list[int]:
    """Insert rows, ignoring identical redeliveries; return each one's spool id."""
    Spool.insert_many(values).on_conflict_ignore().execute()
    digests = [v["raw_sha256"] for v in values]
    found = dict(Spool.select(Spool.raw_sha256, Spool.id).where(Spool.raw_sha256.in_(digests)).tuples())
    return [found[d] for d in digests]


def accept(db: Database, raw: bytes, envelope: Envelope, source: str, now=None) -> int:
    """Commit one message to the spool and return its row id (existing if a redelivery)."""
    with db.atomic():
        return _insert([row_values(raw, envelope, source, now)])[0]


class SpoolWriter:
    """One thread that commits waiting messages in groups and resolves their futures."""

    def __init__(self, db: Database, on_commit=None, max_batch: int = 200, waiting=None):
        self.db = db
        self.on_commit = on_commit  # called after each commit, e.g. to wake the runner
        # Set while a commit waits for the store, so the runner yields it (runner.run_batch).
        self.waiting = waiting if waiting is not None else threading.Event()
        self.max_batch = max_batch
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._stopping = False

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, raw: bytes, envelope: Envelope, source: str) -> Future:
        """Queue a message; the future resolves to its spool id after the commit."""
        future: Future = Future()
        self._queue.put((row_values(raw, envelope, source), future))
        return future

    def stop(self) -> None:
        """Commit what is queued, then stop the thread."""
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            self._commit(batch)
        self.db.close()

    def _commit(self, batch) -> None:
        # A loop boundary: a failed commit fails every message of this group
        # (each SMTP client gets 451 and retries); the writer goes on.
        self.waiting.set()
        try:
            with self.db.atomic():
                self.waiting.clear()
                ids = _insert([values for values, _ in batch])
        except Exception as exc:
            self.waiting.clear()
            log.error("spool commit of %d message(s) failed: %s", len(batch), exc)
            try:
                self.db.close()
            except Exception:
                log.debug("closing the spool connection failed", exc_info=True)
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), spool_id in zip(batch, ids, strict=True):
            future.set_result(spool_id)
        if self.on_commit:
            self.on_commit()

"""The spool: every inbound message's raw bytes and envelope, committed first.

``accept`` is the only way mail enters Sensedesk (SMTP, IMAP and the pipe all
call it) and returns only after the commit, so whoever acknowledges the
message (SMTP ``250``, IMAP ``\\Seen``, ``ingest`` exit 0) does so after the
bytes are durable (MAIL_RULES 1, 2). An identical redelivery (same bytes, e.g.
an SMTP client retrying after a lost ``250``) is the same row.

``SpoolWriter`` is the group-commit path for the SMTP receiver: one thread
commits every message that is waiting in one transaction, one fsync for many,
then releases each waiting ``250`` (docs/architecture.md, "Where the speed comes from").
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import queue
import threading
from concurrent.futures import Future, InvalidStateError

from peewee import Database

from maild.mail.message import extract_ids
from maild.mail.subject import clean_header_text
from maild.store import statements
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


def _text(value: str, limit: int = 250) -> str:
    """Client-supplied text made storable: PostgreSQL refuses NUL in text, and
    no control character belongs in an address, a HELO name or a Message-ID."""
    return clean_header_text(value or "")[:limit]


def row_values(raw: bytes, envelope: Envelope, source: str, now=None) -> dict:
    """The column values of a new spool row for these bytes."""
    return dict(
        received_at=now or utcnow(),
        source=_text(source),
        mail_from="" if envelope.mail_from in ("<>", None) else _text(envelope.mail_from),
        rcpt_tos=[_text(r).lower() for r in envelope.rcpt_tos],
        peer=_text(envelope.peer),
        helo=_text(envelope.helo),
        raw=raw,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        message_id=_text(_message_id(raw)),
        state="new",
    )


def _insert(values: list[dict]) -> list[int]:
    """Insert rows, ignoring identical redeliveries; return each one's spool id.

    One statement a row, its SQL written once (maild/store/statements.py),
    whose RETURNING gives the new id; only a redelivery is looked up. Built
    by peewee for each group, the INSERT and the SELECT after it cost about
    0.15 ms of CPU a message before any of it reached the store.
    """
    ids = []
    for row in values:
        spool_id = statements.insert(Spool, row, ignore_conflict=True)
        if spool_id is None:  # the same bytes again: the row that holds them
            spool_id = statements.query(
                "spool-by-digest", lambda: Spool.select(Spool.id).where(Spool.raw_sha256 == ""),
                [row["raw_sha256"]]).fetchone()[0]
        ids.append(spool_id)
    return ids


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
        self._queue.put(None)
        self._thread.join(timeout=30)

    def is_alive(self) -> bool:
        """Whether the writer thread is running."""
        return self._thread.is_alive()

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
            try:  # loop boundary: whatever happens to one group, the writer goes on
                self._commit(batch)
            except Exception:
                log.exception("spool writer: a group of %d message(s) failed", len(batch))
        self.db.close()

    def _commit(self, batch) -> None:
        try:
            ids = self._insert(batch)
        except Exception as exc:
            if len(batch) == 1:
                _resolve(batch[0][1], exception=exc)
                return
            # One message may be what the store refuses: commit the group one
            # by one, so only that message gets 451 (and its sender retries).
            log.warning("spool commit of %d messages failed (%s); committing them one by one", len(batch), exc)
            for item in batch:
                self._commit([item])
            return
        for (_, future), spool_id in zip(batch, ids, strict=True):
            _resolve(future, result=spool_id)
        if self.on_commit:
            self.on_commit()

    def _insert(self, batch) -> list[int]:
        self.waiting.set()
        try:
            with self.db.atomic():
                self.waiting.clear()
                return _insert([values for values, _ in batch])
        except Exception:
            self.waiting.clear()
            self.db.close()  # a broken connection is opened afresh next time
            raise


def _resolve(future: Future, result=None, exception=None) -> None:
    """Settle a waiting SMTP session's future, unless its client already gave up.

    A client that disconnects while waiting cancels the future; its message is
    committed all the same, and its retry is the same spool row.
    """
    if future.cancelled():
        return
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass  # cancelled between the check and now

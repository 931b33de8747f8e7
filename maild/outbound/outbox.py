"""The outbox: durable outbound mail, one row per recipient.

``enqueue`` runs inside the caller's transaction, so a case change and the mail
it causes commit together or not at all (docs/architecture.md, promise 2). The worker
``claim``s due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
daemons can share one store), sends them, and marks each ``sent``, back to
``queued`` with a backoff (4xx, connection errors), or ``dead`` (5xx, or too
many attempts). The Message-ID is fixed in the row's bytes, so every retry is
the same message (MAIL_RULES 37, 62). A ``sending`` claim older than
``STALE_AFTER`` belongs to a worker that died and is put back in the queue.
"""

from __future__ import annotations

import datetime
import random

from peewee import fn

from maild import claimer
from maild.mail import compose
from maild.store import statements
from maild.store.db import is_sqlite
from maild.store.models import Outbox, utcnow

STATES = ("queued", "sending", "sent", "dead")
STALE_AFTER = datetime.timedelta(minutes=10)
# RFC 5321 4.5.4.1: retry for days, not minutes; first retries come quickly
# because most 4xx are greylisting.
BACKOFF_FIRST = 60
BACKOFF_MAX = 4 * 3600


def enqueue(ctx, out: compose.Outgoing, *, kind: str, case=None, automatic: bool = True,
            now=None) -> int:
    """Render ``out`` and queue it; call inside the transaction of the change. Returns the row id."""
    now = now or utcnow()
    mail_from = ctx.config["smtp_out"]["envelope_from"] or out.from_address
    raw = compose.build(out, ctx.instance_id, now=now.replace(tzinfo=datetime.timezone.utc))
    return statements.insert(Outbox, dict(
        created_at=now, case=case, kind=kind, automatic=automatic, mail_from=mail_from,
        recipient=_recipient(out.to_address), subject=compose.clean_header_text(out.subject)[:250],
        message_id=out.message_id.strip("<>"), raw=raw, state="queued", next_attempt_at=now))


def _recipient(address: str) -> str:
    """How a recipient is kept: the form SMTP carries (IDNA domain), lowercased."""
    return compose.ascii_address(address) or address.lower()


def automatic_sent_since(recipient: str, since: datetime.datetime) -> int:
    """How many automatic messages were queued for a recipient since a time."""
    recipient = _recipient(recipient)
    cursor = statements.query(
        "outbox-automatic-since",
        lambda: (Outbox.select(fn.COUNT(Outbox.id))
                 .where((Outbox.recipient == recipient) & (Outbox.created_at >= since)
                        & (Outbox.automatic == True))),  # noqa: E712 (peewee expression)
        [recipient, since, True])
    return cursor.fetchone()[0]


def acknowledged(case, recipient: str) -> bool:
    """Whether an acknowledgement of a case was queued for a recipient."""
    return (Outbox.select().where((Outbox.case == case) & (Outbox.kind == "ack")
                                  & (Outbox.recipient == _recipient(recipient))).exists())


def worker_id() -> str:
    """This process as a claimer of rows: ``host:pid``."""
    return claimer.me()


def claim(db, now: datetime.datetime, limit: int = 50) -> list[Outbox]:
    """Take up to ``limit`` due rows into ``sending`` for this process and return them."""
    with db.atomic():
        query = (Outbox.select()
                 .where((Outbox.state == "queued") & (Outbox.next_attempt_at <= now))
                 .order_by(Outbox.id).limit(limit))
        if not is_sqlite(db):
            query = query.for_update(skip_locked=True)
        rows = list(query)
        if rows:
            (Outbox.update(state="sending", claimed_at=now, claimed_by=worker_id(),
                           attempts=Outbox.attempts + 1)
             .where(Outbox.id.in_([r.id for r in rows])).execute())
            for row in rows:
                row.state, row.claimed_at, row.attempts = "sending", now, row.attempts + 1
    return rows


def mark_sent(db, rows: list[Outbox], now: datetime.datetime) -> None:
    """Record that these rows were accepted by the relay (or written)."""
    if rows:
        with db.atomic():
            (Outbox.update(state="sent", sent_at=now, last_error="")
             .where(Outbox.id.in_([r.id for r in rows])).execute())


def backoff(attempts: int, rng=random.random) -> datetime.timedelta:
    """Delay before the next try: exponential with +/-20% jitter."""
    base = min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)
    return datetime.timedelta(seconds=base * (0.8 + 0.4 * rng()))


def mark_failed(db, row: Outbox, error: str, permanent: bool, now: datetime.datetime,
                max_attempts: int, rng=random.random) -> str:
    """Record a failed try: ``dead`` if permanent or out of attempts, else ``queued`` later."""
    dead = permanent or row.attempts >= max_attempts
    state = "dead" if dead else "queued"
    with db.atomic():
        (Outbox.update(state=state, last_error=error[:2000],
                       next_attempt_at=now if dead else now + backoff(row.attempts, rng))
         .where(Outbox.id == row.id).execute())
    return state


def recover_stale(db, now: datetime.datetime) -> int:
    """Put ``sending`` rows whose worker died back in the queue; returns how many."""
    stale = (Outbox.state == "sending") & (Outbox.claimed_at < now - STALE_AFTER)
    if not Outbox.select().where(stale).exists():
        return 0  # the usual case: no write transaction (on SQLite, the store's one lock) for nothing
    with db.atomic():
        return Outbox.update(state="queued", next_attempt_at=now).where(stale).execute()


def recover_dead_workers(db, now: datetime.datetime, at_startup: bool = False) -> int:
    """Re-queue ``sending`` rows claimed on this host by a process that is gone.

    Precise where the time-based ``recover_stale`` must be patient: a daemon
    restarted after ``kill -9`` resends at once what its previous life had
    claimed. At start-up a claim under our own pid is stale too (the pid was
    reused); later it is our worker's, in flight. Claims from other hosts are
    left to ``recover_stale``.
    """
    dead = claimer.gone((c for (c,) in Outbox.select(Outbox.claimed_by).where(Outbox.state == "sending")
                         .distinct().tuples()), at_startup)
    if not dead:
        return 0
    with db.atomic():
        return (Outbox.update(state="queued", next_attempt_at=now)
                .where((Outbox.state == "sending") & Outbox.claimed_by.in_(sorted(dead))).execute())


def retry(db, row_id: int, now: datetime.datetime) -> bool:
    """Queue a dead (or waiting) row again now; False if there is no such row."""
    with db.atomic():
        # Never a row being sent right now: it would go out twice.
        return bool(Outbox.update(state="queued", next_attempt_at=now, attempts=0)
                    .where((Outbox.id == row_id) & Outbox.state.in_(["queued", "dead"])).execute())

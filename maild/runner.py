"""The runner: takes spool rows through the rules and the pipeline.

A batch of rows is claimed and processed in one transaction, each row inside
its own savepoint, so a row's case, entries, outbox rows and its final state
commit together (DESIGN.md, promises 2 and 3) with one fsync per batch. A crash
before the commit leaves the rows ``new``: they are processed again on
restart, exactly once, because nothing of the first attempt was committed.

Each row ends ``processed`` (with its case and entry), ``ignored`` (naming the
rule) or ``failed`` (with the traceback). A failed row is retried
automatically up to ``[mail] spool_max_attempts`` times with a growing delay,
then waits for ``sensedesk spool retry``. The row is the loop boundary: no
exception from one message escapes to stop the others.
"""

from __future__ import annotations

import datetime
import logging
import traceback

from maild import message, pipeline, rules
from maild.delivery import Delivery, Discard
from maild.spool import Envelope
from maild.store.db import is_sqlite
from maild.store.models import Spool, utcnow

log = logging.getLogger(__name__)

BATCH = 25
RETRY_DELAYS = (10, 60, 300)  # seconds before automatic retries 1, 2, 3


def _finish(row: Spool, delivery: Delivery, state: str, reason: str, now) -> None:
    (Spool.update(state=state, reason=reason[:2000], hits=delivery.hits, trace=delivery.trace,
                  case_id=getattr(delivery.case, "id", None), entry_id=getattr(delivery.entry, "id", None),
                  processed_at=now, error="", next_attempt_at=None)
     .where(Spool.id == row.id).execute())


def process_row(ctx, row: Spool, now: datetime.datetime) -> str:
    """Decide and act on one spool row; returns the state it ended in."""
    envelope = Envelope(row.mail_from, list(row.rcpt_tos or []), row.peer, row.helo)
    delivery = Delivery(spool_id=row.id, raw=bytes(row.raw), envelope=envelope, source=row.source, now=now)
    delivery.msg = message.read(delivery.raw, ctx.signer.mail_domain)
    action = rules.decide(ctx, delivery)
    try:
        if action == "discard":
            rule = rules.CHAIN[[r.NAME for r, _ in rules.CHAIN].index(delivery.hits[0])][0]
            raise Discard(rule.NAME, rule.DESCRIPTION)
        pipeline.run(ctx, delivery)
    except Discard as exc:
        log.info("spool %s <%s> ignored: %s", row.id, delivery.msg.message_id, exc)
        _finish(row, delivery, "ignored", f"{exc.rule}: {exc.reason}", now)
        return "ignored"
    _finish(row, delivery, "processed", "", now)
    return "processed"


def _due(ctx, now):
    max_attempts = ctx.config["mail"]["spool_max_attempts"]
    due = (Spool.state == "new") | ((Spool.state == "failed") & (Spool.attempts <= max_attempts)
                                    & (Spool.next_attempt_at <= now))
    return due


def run_batch(ctx, now: datetime.datetime | None = None, limit: int = BATCH) -> int:
    """Process up to ``limit`` due rows in one transaction; returns how many were taken."""
    now = now or utcnow()
    db = ctx.db
    with db.atomic():
        query = Spool.select().where(_due(ctx, now)).order_by(Spool.id).limit(limit)
        if not is_sqlite(db):
            query = query.for_update(skip_locked=True)
        rows = list(query)
        for row in rows:
            try:
                with db.atomic():
                    process_row(ctx, row, now)
            except Exception as exc:  # loop boundary: one message never stops the others
                attempts = row.attempts + 1
                log.error("spool %s <%s> failed (attempt %d): %s", row.id, row.message_id, attempts, exc,
                          exc_info=True)
                delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
                (Spool.update(state="failed", attempts=attempts, error=traceback.format_exc()[-20000:],
                              reason=f"{type(exc).__name__}: {exc}"[:2000],
                              next_attempt_at=now + datetime.timedelta(seconds=delay))
                 .where(Spool.id == row.id).execute())
    if rows:
        ctx.outbox_wakeup.set()
    return len(rows)


def drain(ctx, now=None) -> int:
    """Process every due row now; returns how many rows were taken in all."""
    total = 0
    while True:
        taken = run_batch(ctx, now)
        total += taken
        if taken == 0:
            return total


def retry(db, row_id: int | None = None, failed: bool = False) -> int:
    """Put a row (or every failed row) back to ``new`` with its attempts reset."""
    query = Spool.update(state="new", attempts=0, next_attempt_at=None)
    if failed:
        query = query.where(Spool.state == "failed")
    else:
        query = query.where((Spool.id == row_id) & (Spool.state != "new"))
    with db.atomic():
        return query.execute()

"""The runner: takes spool rows through the rules and the pipeline.

Rows are read and their rules run outside any transaction; then one
transaction per small batch claims each row, runs the pipeline and records
its end state, so a row's case, entries, outbox rows and final state commit
together (docs/architecture.md, promises 2 and 3). A crash before the commit leaves the
rows ``new``: they are processed again on restart, exactly once, because
nothing of the first attempt was committed.

Several daemons may share one PostgreSQL store. There a runner first claims
its batch in a short committed transaction of its own (state ``claimed``,
``claimed_by`` this process, ``FOR UPDATE SKIP LOCKED`` so that two runners
never wait for each other or take the same row), and only then reads the
messages: before this, two runners read and parsed the same head rows, and
split batches between them. The batch's transaction then processes only
rows still claimed by this runner. A claim left by a runner that died is
handed back (``recover_claims``): at once when it ran on this host, after
``CLAIM_STALE`` when it ran on another; the row counts it as an attempt, so a
message that kills its runner every time ends ``failed``. SQLite has one
daemon, and its rows are claimed in the transaction that processes them,
without another commit.

A reply waits for its original (causal order): a row whose In-Reply-To or
References names the Message-ID of a row not yet processed -- one another
runner holds, or one that failed and will be tried again -- is put back for
``CAUSAL_STEP`` and taken again, for up to ``CAUSAL_WAIT`` after it arrived;
then it goes on, and threads as well as it can. Without this a reply taken
by one runner while another still held its original opened a case of its
own, with an acknowledgement of its own.

Each message is read in a worker process within a time and a memory budget
(``maild/mail/worker.py``): a message over it fails, named so, and waits for
``sensedesk spool retry``, while the mail behind it goes on.

Each row ends ``processed`` (with its case and entry), ``ignored`` (naming the
rule) or ``failed`` (with the traceback). A failed row is retried
automatically up to ``[mail] spool_max_attempts`` times with a growing delay,
then waits for ``sensedesk spool retry``. The row is the loop boundary: no
exception from one message escapes to stop the others.
"""

from __future__ import annotations

import datetime
import logging
import time
import traceback

from maild import claimer, pipeline, rules
from maild.delivery import Delivery, Discard
from maild.mail import worker
from maild.spool import Envelope
from maild.store import statements
from maild.store.db import is_sqlite
from maild.store.models import Spool, utcnow

log = logging.getLogger(__name__)

BATCH = 20
RETRY_DELAYS = (10, 60, 300)  # seconds before automatic retries 1, 2, 3
# PostgreSQL's deadlock_detected and serialization_failure: the row is taken again at once.
CONFLICT_CODES = ("40P01", "40001")
INTAKE_YIELD = 0.05  # seconds the runner waits at most for a waiting intake commit
# A batch gives way to a waiting intake commit once it has held the lock this
# long: short enough for a quick 250, long enough to share one fsync.
INTAKE_AFTER = 0.005
# A claim held this long belongs to a runner that died on another host (or
# hangs): a batch takes seconds, at most its rows' parse budgets.
CLAIM_STALE = datetime.timedelta(minutes=10)
# How long a reply waits for its original at most, and how often it looks again.
CAUSAL_WAIT = datetime.timedelta(seconds=60)
CAUSAL_STEP = datetime.timedelta(seconds=1)


def _finish(row: Spool, delivery: Delivery, state: str, reason: str, now) -> None:
    statements.update(Spool, row.id, dict(
        state=state, reason=reason[:2000], hits=delivery.hits, trace=delivery.trace,
        case_id=getattr(delivery.case, "id", None), entry_id=getattr(delivery.entry, "id", None),
        processed_at=now, error="", next_attempt_at=None))


def prepare(ctx, row: Spool, now: datetime.datetime) -> tuple[Delivery, str]:
    """Read the message and run the rules: pure work, done before any lock is taken."""
    envelope = Envelope(row.mail_from, list(row.rcpt_tos or []), row.peer, row.helo)
    delivery = Delivery(spool_id=row.id, raw=bytes(row.raw), envelope=envelope, source=row.source, now=now)
    budget = ctx.config["mail"]
    delivery.msg = worker.read(delivery.raw, ctx.signer.mail_domain,
                               seconds=row.parse_seconds or budget["parse_seconds"],
                               megabytes=row.parse_megabytes or budget["parse_megabytes"])
    return delivery, rules.decide(ctx, delivery)


def act(ctx, row: Spool, delivery: Delivery, action: str, now: datetime.datetime) -> str:
    """Run the pipeline and record the row's end state; inside the row's transaction."""
    try:
        if action == "discard":
            rule = next(r for r, _ in rules.CHAIN if r.NAME == delivery.hits[0])
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
    # A new row may be held back a moment (a reply waiting for its original).
    fresh = (Spool.state == "new") & (Spool.next_attempt_at.is_null() | (Spool.next_attempt_at <= now))
    return fresh | ((Spool.state == "failed") & (Spool.attempts <= max_attempts) & (Spool.next_attempt_at <= now))


def _due_params(ctx, now) -> list:
    """The values of ``_due``'s expressions, in order (for cached statements)."""
    return ["new", now, "failed", ctx.config["mail"]["spool_max_attempts"], now]


def _due_rows(ctx, now, limit: int) -> list[Spool]:
    cursor = statements.query(
        "spool-due", lambda: Spool.select().where(_due(ctx, now)).order_by(Spool.id).limit(limit),
        _due_params(ctx, now) + [limit])
    return statements.instances(Spool, cursor)


def _take(ctx, now, limit: int) -> list[Spool]:
    """The next due rows, oldest first; on PostgreSQL claimed for this runner, and committed, first."""
    if is_sqlite(ctx.db):
        return _due_rows(ctx, now, limit)
    # Rows this runner claimed before are taken again: a batch that stopped
    # on an error (the store went away mid-way) left them claimed, and no
    # batch of ours is in flight while we take the next.
    ours = (Spool.state == "claimed") & (Spool.claimed_by == claimer.me())
    due = (Spool.select(Spool.id).where(_due(ctx, now) | ours).order_by(Spool.id).limit(limit)
           .for_update(skip_locked=True))
    with ctx.db.atomic():
        rows = list(Spool.update(state="claimed", claimed_by=claimer.me(), claimed_at=now)
                    .where(Spool.id.in_(due)).returning(Spool).execute())
    return sorted(rows, key=lambda row: row.id)


def _claim(ctx, ids: list[int], now) -> set[int]:
    """Inside a transaction: which of these rows are still ours to process (and locked for it)."""
    if not is_sqlite(ctx.db):
        # Still claimed by this runner: not handed back meanwhile as stale.
        cursor = statements.query(
            f"spool-claimed-{len(ids)}",
            lambda: Spool.select(Spool.id).where(Spool.id.in_(ids) & (Spool.state == "claimed")
                                                 & (Spool.claimed_by == claimer.me())).for_update(),
            list(ids) + ["claimed", claimer.me()])
        return {i for (i,) in cursor.fetchall()}
    cursor = statements.query(f"spool-claim-{len(ids)}",
                              lambda: Spool.select(Spool.id).where(Spool.id.in_(ids) & _due(ctx, now)),
                              list(ids) + _due_params(ctx, now))
    return {i for (i,) in cursor.fetchall()}


def _ours(ctx):
    """The states a row of this runner's batch may be in: due, or (PostgreSQL) claimed by it."""
    return Spool.state.in_(["new", "failed"]) | ((Spool.state == "claimed") & (Spool.claimed_by == claimer.me()))


def recover_claims(db, now: datetime.datetime, at_startup: bool = False) -> int:
    """Hand back rows claimed by a runner that is gone; returns how many.

    A claimer on this host whose process is gone (or, ``at_startup``, this
    process's own name, its pid reused) is gone at once; any claim older than
    ``CLAIM_STALE`` is too. Each such row counts the attempt and is due again
    now: ``failed``, so that a message that stops its runner every time is
    not taken forever (``[mail] spool_max_attempts``).
    """
    claimed = Spool.state == "claimed"
    claimers = [c for (c,) in Spool.select(Spool.claimed_by).where(claimed).distinct().tuples()]
    if not claimers:
        return 0  # the usual case, and always on SQLite: no write transaction for nothing
    dead = claimer.gone(claimers, at_startup)
    lost = Spool.claimed_at < now - CLAIM_STALE
    if dead:
        lost = lost | Spool.claimed_by.in_(dead)
    with db.atomic():
        return (Spool.update(state="failed", attempts=Spool.attempts + 1, next_attempt_at=now,
                             reason="claimed by a runner that stopped before finishing it")
                .where(claimed & lost).execute())


def _waiting_for(ctx, batch: list, now) -> set[int]:
    """The rows of this batch whose original is not processed yet, and which may still wait for it.

    Rows of the same batch before it do not count: they are processed first,
    in the same transaction.
    """
    waiting: dict[str, list] = {}
    for row, delivery, _ in batch:
        if row.received_at and row.received_at < now - CAUSAL_WAIT:
            continue
        # A message naming itself (some clients do) waits for no copy of itself.
        for ref in (set(delivery.msg.in_reply_to) | set(delivery.msg.references)) - {delivery.msg.message_id}:
            waiting.setdefault(ref.strip("<>"), []).append(row.id)
    if not waiting:
        return set()
    max_attempts = ctx.config["mail"]["spool_max_attempts"]
    pending = (Spool.state.in_(["new", "claimed"])
               | ((Spool.state == "failed") & (Spool.attempts <= max_attempts)))
    held = set()
    for spool_id, message_id in (Spool.select(Spool.id, Spool.message_id)
                                 .where(Spool.message_id.in_(sorted(waiting)) & pending).tuples()):
        held.update(i for i in waiting[message_id] if i < spool_id or not _in_batch(batch, spool_id))
    return held


def _in_batch(batch: list, spool_id: int) -> bool:
    return any(row.id == spool_id for row, _, _ in batch)


def _hold(ctx, rows: list[Spool], now) -> None:
    """Put rows back as ``new``, due again after ``CAUSAL_STEP``."""
    with ctx.db.atomic():
        (Spool.update(state="new", claimed_by="", claimed_at=None, next_attempt_at=now + CAUSAL_STEP)
         .where(Spool.id.in_([r.id for r in rows]) & _ours(ctx)).execute())


def _conflict(exc: Exception) -> bool:
    """Whether PostgreSQL ended the row's work for a deadlock or a serialization conflict.

    Runners sharing a store may update the same cases in a different order
    within their batches; PostgreSQL then aborts one side (SQLSTATE 40P01,
    40001). Nothing is wrong with the message: it is taken again at once.
    peewee raises its own error type with the driver's error as its first
    argument and as the context.
    """
    for cause in (exc, exc.args[0] if exc.args else None, exc.__context__):
        if getattr(cause, "pgcode", None) in CONFLICT_CODES:
            return True
    return False


def _fail(ctx, row: Spool, exc: Exception, error: str, now) -> None:
    attempts = row.attempts + 1
    if _conflict(exc) and attempts <= ctx.config["mail"]["spool_max_attempts"]:
        log.warning("spool %s <%s>: %s; taken again", row.id, row.message_id,
                    (str(exc).splitlines() or ["conflict"])[0])
        with ctx.db.atomic():
            (Spool.update(state="new", attempts=attempts, claimed_by="", claimed_at=None, next_attempt_at=None,
                          reason=f"taken again after a conflict with another runner ({type(exc).__name__})")
             .where((Spool.id == row.id) & _ours(ctx) & (Spool.attempts == row.attempts))
             .execute())
        return
    if isinstance(exc, worker.OverBudget):
        # It would be over the same budget again: it waits for `spool retry`,
        # which may give it a larger one.
        attempts = max(attempts, ctx.config["mail"]["spool_max_attempts"] + 1)
        log.error("spool %s <%s> failed: %s; `sensedesk spool retry %s` with --parse-seconds or "
                  "--parse-megabytes takes it again", row.id, row.message_id, exc, row.id)
    else:
        log.error("spool %s <%s> failed (attempt %d):\n%s", row.id, row.message_id, attempts, error)
    delay = RETRY_DELAYS[min(attempts - 1, len(RETRY_DELAYS) - 1)]
    with ctx.db.atomic():
        # Only if nobody processed the row meanwhile (another runner sharing the store).
        (Spool.update(state="failed", attempts=attempts, error=error[-20000:],
                      reason=f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"[:2000],
                      next_attempt_at=now + datetime.timedelta(seconds=delay))
         .where((Spool.id == row.id) & _ours(ctx) & (Spool.attempts == row.attempts))
         .execute())


def _wait_cleared(event, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while event.is_set() and time.monotonic() < deadline:
        time.sleep(0.0005)


def run_batch(ctx, now: datetime.datetime | None = None, limit: int = BATCH) -> int:
    """Process up to ``limit`` due rows, oldest first; returns how many were due.

    The messages are read and their rules run first, outside any transaction;
    then one transaction takes them all, each row in a savepoint of its own, so
    a batch costs one commit (one fsync) and holds the store's write lock only
    for the database work, never for parsing. When the SMTP receiver is
    waiting to commit (``ctx.intake_waiting``), the batch commits early and
    lets it: a 250 never waits behind a whole batch.
    """
    now = now or utcnow()
    rows = _take(ctx, now, limit)
    prepared, failed = [], []
    for row in rows:
        try:  # loop boundary: one message never stops the others
            prepared.append((row, *prepare(ctx, row, now)))
        except Exception as exc:
            failed.append((row, exc, traceback.format_exc()))
    held = _waiting_for(ctx, prepared, now)
    if held:
        log.info("spool %s: waiting for the message(s) they answer", ", ".join(map(str, sorted(held))))
        _hold(ctx, [row for row, _, _ in prepared if row.id in held], now)
        prepared = [item for item in prepared if item[0].id not in held]
    done, pending = 0, prepared
    while pending:
        with ctx.db.atomic():
            began = time.monotonic()
            ours = _claim(ctx, [row.id for row, _, _ in pending], now)
            while pending:
                row, delivery, action = pending.pop(0)
                if row.id not in ours:
                    continue
                try:  # loop boundary, as above; the savepoint undoes this row alone
                    with ctx.db.atomic():
                        act(ctx, row, delivery, action, now)
                        done += 1
                except Exception as exc:
                    failed.append((row, exc, traceback.format_exc()))
                if ctx.intake_waiting.is_set() and time.monotonic() - began >= INTAKE_AFTER:
                    break  # commit now: the SMTP receiver waits for the lock to answer 250
        if pending:
            # Let the waiting intake commit before taking the lock again.
            _wait_cleared(ctx.intake_waiting, INTAKE_YIELD)
    for row, exc, error in failed:
        _fail(ctx, row, exc, error, now)
    if done:
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


def retry(db, row_id: int | None = None, failed: bool = False, parse_seconds: int | None = None,
          parse_megabytes: int | None = None) -> int:
    """Put a failed or ignored row (or every failed row) back to ``new``, attempts reset.

    ``parse_seconds`` and ``parse_megabytes``, when given, are the budget
    for reading the message this time and after, in place of ``[mail]``'s.
    A processed row is never processed again: its case and mail exist.
    """
    changes = {"state": "new", "attempts": 0, "next_attempt_at": None}
    if parse_seconds is not None:
        changes["parse_seconds"] = parse_seconds
    if parse_megabytes is not None:
        changes["parse_megabytes"] = parse_megabytes
    query = Spool.update(**changes)
    if failed:
        query = query.where(Spool.state == "failed")
    else:
        query = query.where((Spool.id == row_id) & Spool.state.in_(["failed", "ignored"]))
    with db.atomic():
        return query.execute()

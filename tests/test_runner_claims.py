"""Runners sharing a store: claims before reading, claims of a runner that died, and replies after originals.

On PostgreSQL several daemons may share one store; each runner here is a
process of its own (its claims carry its pid), as each daemon's is.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import signal
import socket
import threading
import time

import psycopg2
import pytest
from conftest import deliver, refusing, wait_until
from mailfactory import make_mail

from maild import context, people, runner, spool
from maild.mail import worker
from maild.store import db as store
from maild.store.models import Case, Entry, Outbox, Spool, utcnow

_MP = multiprocessing.get_context("spawn")
postgresql_only = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


def _spool(ctx, raw, sender="kari@example.org"):
    return spool.accept(ctx.db, raw, spool.Envelope(sender, ["helpdesk@example.test"]), "smtp")


def _runner(config, limit: int, start, idle: float) -> None:
    """A runner process: drain the spool in batches of ``limit`` until it has been empty for ``idle`` s.

    It begins at ``start``, a barrier the test and every runner pass once
    ready (store open, parse worker started): a runner still starting while
    the others drained the spool would take no part.
    """
    ctx = context.build(config)
    people.load_staff(ctx)
    worker.warm(config["mail"]["parse_megabytes"])
    start.wait(60)
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle:
            if runner.run_batch(ctx, limit=limit):
                quiet_since = time.monotonic()
            else:
                time.sleep(0.02)
    finally:
        worker.stop_all()
        store.shutdown(ctx.db)


def _burst(ctx, threads: int) -> list[tuple[str, int]]:
    """Originals, each followed closely by two replies that name it by Message-ID alone (no [SD#N])."""
    rows = []
    for n in range(threads):
        sender = f"customer{n}@example.org"
        original = f"<original-{n}@example.org>"
        rows.append(("original", _spool(ctx, make_mail(subject=f"Thread {n}", sender=sender,
                                                       message_id=original), sender)))
        for k in range(2):
            rows.append(("reply", _spool(ctx, make_mail(subject=f"Re: Thread {n}", sender=sender,
                                                        body=f"More about thread {n}, part {k}.\n",
                                                        in_reply_to=original, references=original), sender)))
    return rows


@postgresql_only
@pytest.mark.parametrize("runners", [2, 3])
def test_runners_sharing_a_store_take_each_row_once_and_thread_every_reply(ctx, runners):
    threads = 24
    _burst(ctx, threads)
    start = _MP.Barrier(runners + 1)
    procs = [_MP.Process(target=_runner, args=(ctx.config, 2, start, 2.0)) for _ in range(runners)]
    for proc in procs:
        proc.start()
    start.wait(60)
    for proc in procs:
        proc.join(120)
    assert all(proc.exitcode == 0 for proc in procs), [proc.exitcode for proc in procs]
    rows = list(Spool.select())
    assert {r.state for r in rows} == {"processed"}, [(r.id, r.state, r.reason) for r in rows if r.state != "processed"]
    # Every runner took part, and each row was claimed and processed by one of them.
    assert len({r.claimed_by for r in rows}) == runners
    assert {r.claimed_by.rpartition(":")[2] for r in rows} == {str(p.pid) for p in procs}
    # One case a thread, every reply on it, one acknowledgement each.
    assert Case.select().count() == threads
    for case in Case.select():
        assert Entry.select().where((Entry.case == case) & (Entry.kind == "message")).count() == 3, case.subject
    assert Outbox.select().where(Outbox.kind == "ack").count() == threads


@postgresql_only
def test_a_runner_killed_mid_batch_leaves_claims_that_are_taken_back(ctx):
    # The store holds the runner inside its batch's transaction long enough to kill it there.
    ids = [_spool(ctx, make_mail(subject=f"Slow {i}", sender=f"slow{i}@example.org"), f"slow{i}@example.org")
           for i in range(4)]
    ctx.db.execute_sql("CREATE FUNCTION hold_entry() RETURNS trigger AS $$ BEGIN PERFORM pg_sleep(30); "
                       "RETURN NEW; END $$ LANGUAGE plpgsql")
    ctx.db.execute_sql('CREATE TRIGGER hold_entry BEFORE INSERT ON "entry" FOR EACH ROW EXECUTE FUNCTION hold_entry()')
    start = _MP.Barrier(2)
    proc = _MP.Process(target=_runner, args=(ctx.config, 20, start, 60.0))
    proc.start()
    try:
        start.wait(60)
        wait_until(lambda: Spool.select().where(Spool.state == "claimed").count() == 4, timeout=30)
        time.sleep(0.5)  # inside the pipeline, waiting on the trigger
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    finally:
        if proc.is_alive():
            proc.kill()
    ctx.db.execute_sql('DROP TRIGGER hold_entry ON "entry"')
    ctx.db.execute_sql("DROP FUNCTION hold_entry()")
    # Nothing of the batch was committed; the claims name a process that is gone.
    claimed = list(Spool.select().where(Spool.id.in_(ids)))
    assert {r.state for r in claimed} == {"claimed"} and Case.select().count() == 0
    assert {r.claimed_by for r in claimed} == {f"{socket.gethostname()}:{proc.pid}"}
    assert runner.recover_claims(ctx.db, utcnow()) == 4
    back = list(Spool.select().where(Spool.id.in_(ids)))
    assert {(r.state, r.attempts) for r in back} == {("failed", 1)}
    assert "stopped before finishing" in back[0].reason
    runner.drain(ctx)
    assert {r.state for r in Spool.select()} == {"processed"}
    assert Case.select().count() == 4 and Outbox.select().where(Outbox.kind == "ack").count() == 4


@postgresql_only
def test_claims_of_another_host_are_taken_back_only_when_stale(ctx):
    now = utcnow()
    fresh, old, alive = (_spool(ctx, make_mail(subject=s, sender=f"{s}@example.org"), f"{s}@example.org")
                         for s in ("fresh", "old", "alive"))
    Spool.update(state="claimed", claimed_by="elsewhere:123", claimed_at=now).where(Spool.id == fresh).execute()
    Spool.update(state="claimed", claimed_by="elsewhere:124",
                 claimed_at=now - runner.CLAIM_STALE - datetime.timedelta(seconds=1)).where(Spool.id == old).execute()
    # Our own process, alive: its claim is work in flight, not stale.
    Spool.update(state="claimed", claimed_by=f"{socket.gethostname()}:{os.getpid()}",
                 claimed_at=now).where(Spool.id == alive).execute()
    assert runner.recover_claims(ctx.db, now) == 1
    assert Spool.get_by_id(old).state == "failed" and Spool.get_by_id(fresh).state == "claimed"
    assert Spool.get_by_id(alive).state == "claimed"
    # At start-up our own name is a previous life's (its pid reused).
    assert runner.recover_claims(ctx.db, now, at_startup=True) == 1
    assert Spool.get_by_id(alive).state == "failed"
    # A row claimed by someone else is never processed here, even when due by every other measure.
    runner.drain(ctx, now=now + datetime.timedelta(hours=1))
    assert Spool.get_by_id(fresh).state == "claimed" and Spool.get_by_id(old).state == "processed"


def test_a_reply_taken_before_its_original_waits_for_it(ctx):
    original = "<first@example.org>"
    reply_id = _spool(ctx, make_mail(subject="Re: Scanner", body="Also the scanner.\n", in_reply_to=original,
                                     references=original))
    original_id = _spool(ctx, make_mail(subject="Scanner", message_id=original))
    now = utcnow()
    assert runner.run_batch(ctx, now=now, limit=1) == 1  # the reply alone: it waits
    row = Spool.get_by_id(reply_id)
    assert row.state == "new" and row.next_attempt_at == now + runner.CAUSAL_STEP
    assert runner.run_batch(ctx, now=now, limit=1) == 1  # the original
    assert Spool.get_by_id(original_id).state == "processed"
    assert runner.drain(ctx, now=now) == 0  # not due yet
    runner.drain(ctx, now=now + runner.CAUSAL_STEP)
    reply = Spool.get_by_id(reply_id)
    assert reply.state == "processed" and reply.case_id == Spool.get_by_id(original_id).case_id
    assert Case.select().count() == 1 and Outbox.select().where(Outbox.kind == "ack").count() == 1


def test_a_reply_and_its_original_in_one_batch_need_no_wait(ctx):
    original = "<together@example.org>"
    first = _spool(ctx, make_mail(subject="Monitor", message_id=original))
    second = _spool(ctx, make_mail(subject="Re: Monitor", body="Flickers too.\n", in_reply_to=original))
    runner.run_batch(ctx)
    assert Spool.get_by_id(first).state == Spool.get_by_id(second).state == "processed"
    assert Spool.get_by_id(second).case_id == Spool.get_by_id(first).case_id


def test_a_reply_waits_for_a_failed_original_only_so_long(ctx):
    original = "<broken@example.org>"
    with refusing(ctx.db, "entry", "NEW.subject = 'poison'", name="poison"):
        original_id = _spool(ctx, make_mail(subject="poison", message_id=original))
        now = utcnow()
        runner.drain(ctx, now=now)
        assert Spool.get_by_id(original_id).state == "failed"  # to be tried again
        reply_id = _spool(ctx, make_mail(subject="Re: poison", body="Any news?\n", in_reply_to=original))
        runner.drain(ctx, now=now)
        assert Spool.get_by_id(reply_id).state == "new"
        # Past the wait it goes on, as a case of its own rather than never.
        Spool.update(received_at=now - runner.CAUSAL_WAIT).where(Spool.id == reply_id).execute()
        runner.drain(ctx, now=now + runner.CAUSAL_STEP)
    assert Spool.get_by_id(reply_id).state == "processed"
    assert Spool.get_by_id(reply_id).case_id is not None


def test_a_referenced_message_already_processed_or_ignored_holds_nothing(ctx):
    first = deliver(ctx, make_mail(subject="Keyboard", message_id="<kb@example.org>"))
    reply = deliver(ctx, make_mail(subject="Re: Keyboard", body="Still broken.\n", in_reply_to="<kb@example.org>"))
    assert reply.state == "processed" and reply.case_id == first.case_id


def test_a_message_naming_itself_waits_for_no_copy_of_itself(ctx):
    # Two copies of one message (relayed twice, other bytes, same Message-ID),
    # whose References names its own Message-ID, as some clients write.
    own = "<self@example.org>"
    first, second = (_spool(ctx, make_mail(subject="Dock", message_id=own, references=own, body=body))
                     for body in ("The dock is dead.\n", "The dock is dead.\n\n"))
    runner.run_batch(ctx, limit=1)
    assert Spool.get_by_id(first).state == "processed"
    runner.run_batch(ctx, limit=1)
    assert Spool.get_by_id(second).state != "new"  # nor the second for the first


@postgresql_only
def test_a_batch_stopped_by_an_error_after_its_claim_is_taken_again_by_its_runner(ctx, monkeypatch):
    ids = [_spool(ctx, make_mail(subject=f"Blip {i}", sender=f"blip{i}@example.org"), f"blip{i}@example.org")
           for i in range(3)]

    def store_gone(*args):
        raise OSError("the store went away")
    monkeypatch.setattr(runner, "_waiting_for", store_gone)
    with pytest.raises(OSError):
        runner.run_batch(ctx)
    assert {r.state for r in Spool.select()} == {"claimed"}
    monkeypatch.undo()
    # Not ten minutes later (CLAIM_STALE): at its next batch.
    runner.drain(ctx)
    assert [Spool.get_by_id(i).state for i in ids] == ["processed"] * 3
    assert Case.select().count() == 3 and Outbox.select().where(Outbox.kind == "ack").count() == 3


@postgresql_only
def test_a_row_that_loses_a_deadlock_to_another_runner_is_taken_again_at_once(ctx, caplog):
    original = "<deadlock-original@example.org>"
    _spool(ctx, make_mail(subject="Printer", sender="kari@example.org", message_id=original))
    runner.drain(ctx)
    case = Case.get()
    reply = _spool(ctx, make_mail(subject="Re: Printer", sender="kari@example.org", body="Still broken.\n",
                                  in_reply_to=original, references=original))
    # Another runner's batch, as PostgreSQL sees it: it holds the case and
    # then wants the spool row this runner has claimed. It waits ten times
    # longer than this runner before looking for a deadlock, so this runner
    # is the one PostgreSQL aborts.
    params = ctx.db.connect_params
    other = psycopg2.connect(dbname=ctx.db.database, **params)
    other.autocommit = False
    cur = other.cursor()
    cur.execute("SET deadlock_timeout = '10s'")
    cur.execute('UPDATE "case" SET updated_at = updated_at WHERE id = %s', (case.id,))
    blocked = []

    def wants_the_row():
        time.sleep(0.5)  # the runner has claimed the row and waits for the case by now
        cur.execute("UPDATE spool SET attempts = attempts WHERE id = %s", (reply,))
        blocked.append(True)
        other.rollback()

    thread = threading.Thread(target=wants_the_row)
    thread.start()
    with caplog.at_level("WARNING", logger="maild.runner"):
        runner.run_batch(ctx)
    thread.join(30)
    other.close()
    assert blocked == [True]
    row = Spool.get_by_id(reply)
    assert (row.state, row.attempts, row.next_attempt_at) == ("new", 1, None), row.reason
    assert "deadlock" in caplog.text and "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    runner.drain(ctx)
    row = Spool.get_by_id(reply)
    assert row.state == "processed" and row.case_id == case.id
    assert Entry.select().where(Entry.case == case.id).count() == 2

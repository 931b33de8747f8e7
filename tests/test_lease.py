"""Leases: one daemon of several sharing a store does a job, or polls an account, at a time."""

from __future__ import annotations

import datetime
import socket
import subprocess
import sys
import threading

import pytest
from conftest import prepare

from maild import claimer, lease
from maild.daemon import Daemon
from maild.store import db as store
from maild.store.models import Lease, utcnow

SECOND = datetime.timedelta(seconds=1)


def test_a_lease_is_held_renewed_lapses_and_is_given_up(ctx):
    now = utcnow()
    assert lease.holder("job:report", now) == ""
    assert lease.take(ctx.db, "job:report", "a:1", 60, now)
    assert not lease.take(ctx.db, "job:report", "b:2", 60, now + 30 * SECOND)  # held
    assert lease.take(ctx.db, "job:report", "a:1", 60, now + 30 * SECOND)  # renewed by its holder
    assert not lease.take(ctx.db, "job:report", "b:2", 60, now + 80 * SECOND)  # renewed: still held
    assert lease.take(ctx.db, "job:report", "b:2", 60, now + 91 * SECOND)  # lapsed: taken over
    assert lease.holder("job:report", now + 91 * SECOND) == "b:2"
    lease.give_up(ctx.db, "job:report", "a:1")  # not a's to give
    assert lease.holder("job:report", now + 92 * SECOND) == "b:2"
    lease.give_up(ctx.db, "job:report", "b:2")
    assert lease.take(ctx.db, "job:report", "a:1", 60, now + 93 * SECOND)
    assert Lease.select().count() == 1


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_of_two_daemons_asking_at_once_one_gets_the_lease(ctx):
    # The first holds its transaction open after taking the lease; the
    # second's take waits on the row, then finds it held.
    now = utcnow()
    lease.take(ctx.db, "job:report", "old:0", 1, now - 10 * SECOND)  # lapsed
    other = store.open_database(ctx.config["database"]["url"])
    first_took, release, results = threading.Event(), threading.Event(), {}

    def first():
        with other.bind_ctx([Lease]):
            with other.atomic():
                results["first"] = lease.take(other, "job:report", "first:1", 60, now)
                first_took.set()
                release.wait(10)
    thread = threading.Thread(target=first)
    thread.start()
    first_took.wait(10)
    second = threading.Thread(target=lambda: results.setdefault("second", lease.take(
        ctx.db, "job:report", "second:2", 60, now)))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the first's row lock
    release.set()
    thread.join(10)
    second.join(10)
    other.close()
    assert results == {"first": True, "second": False}
    assert lease.holder("job:report", now) == "first:1"


def test_a_job_run_once_across_daemons_is_skipped_while_another_holds_it(make_config):
    config = make_config()
    store.shutdown(prepare(config).db)
    daemon = Daemon(config)
    try:
        runs = []
        daemon._job(lambda ctx, now: runs.append(now), "job:daily-report", 300)
        assert len(runs) == 1 and lease.holder("job:daily-report", utcnow()) == claimer.me()
        daemon._job(lambda ctx, now: runs.append(now), "job:daily-report", 300)  # ours: renewed, run
        assert len(runs) == 2
        Lease.update(holder="elsewhere:9").where(Lease.name == "job:daily-report").execute()
        daemon._job(lambda ctx, now: runs.append(now), "job:daily-report", 300)
        assert len(runs) == 2  # another daemon's turn
        daemon._job(lambda ctx, now: runs.append(now))  # a job of every daemon: no lease
        assert len(runs) == 3
    finally:
        store.shutdown(daemon.ctx.db)


def test_a_lease_of_a_process_gone_on_this_host_is_taken_at_once(ctx):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    now = utcnow()
    assert lease.take(ctx.db, "imap:desk", f"{socket.gethostname()}:{gone.pid}", 90, now)
    assert lease.take(ctx.db, "imap:desk", "new:1", 90, now + SECOND)
    # Another host's holder cannot be asked: its lease is waited out.
    assert lease.take(ctx.db, "imap:other", "elsewhere:1", 90, now)
    assert not lease.take(ctx.db, "imap:other", "new:1", 90, now + SECOND)

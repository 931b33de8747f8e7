"""The store's own mechanisms: the SQLite writer lock, cached statements, the spool writer."""

from __future__ import annotations

import fcntl
import os
import socket
import smtplib
import threading
import time

import peewee
import pytest
from playhouse.pool import PooledPostgresqlDatabase

from conftest import deliver, refusing, wait_until
from mailfactory import make_mail

from maild import spool
from maild.store import statements
from maild.store.db import is_sqlite
from maild.store.models import Case, Outbox, Participant, Person, Spool


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_writer_threads_do_not_leak_lock_files(ctx):
    def write():
        with ctx.db.atomic():
            Person.insert(email=f"t{threading.get_ident()}@example.org").on_conflict_ignore().execute()
        ctx.db.close()

    before = _open_fds()
    threads = [threading.Thread(target=write) for _ in range(30)]
    for t in threads:
        t.start()
        t.join()
    assert _open_fds() - before < 5


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_close_refused_inside_a_transaction_keeps_its_writer_lock(ctx):
    """peewee refuses to close a connection whose transaction is open; the
    transaction goes on, so the writers' queue (the flock) must stay held by it."""
    lock_path = ctx.db._lock_path

    def lock_is_free() -> bool:
        with open(lock_path, "rb") as file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            return True

    with ctx.db.atomic():
        Person.insert(email="lock@example.org").execute()
        assert not lock_is_free()
        with pytest.raises(peewee.OperationalError):
            ctx.db.close()
        assert not lock_is_free()
    assert lock_is_free()
    assert Person.select().where(Person.email == "lock@example.org").count() == 1


def test_cached_insert_ignores_conflicts_on_both_stores(ctx):
    row = deliver(ctx, make_mail())
    case = Case.get_by_id(row.case_id)
    person = case.requester
    assert statements.insert(Participant, {"case": case, "person": person, "role": "cc"},
                             ignore_conflict=True) is None
    assert Participant.select().where(Participant.case == case).count() == 1


def test_nul_and_control_characters_never_reach_a_text_column(ctx):
    raw = (b"From: kari@example.org\r\nTo: helpdesk@example.test\r\nSubject: nul\r\n"
           b"Message-ID: <a\x00b@example.org>\r\n\r\nbody \x00 with a NUL\r\n")
    spool_id = spool.accept(ctx.db, raw, spool.Envelope("kari@example.org", ["helpdesk@example.test"],
                                                        helo="evil\x00helo"), "smtp")
    row = Spool.get_by_id(spool_id)
    assert "\x00" not in row.helo and "\x00" not in row.message_id
    assert bytes(row.raw) == raw
    from maild import runner

    runner.drain(ctx)
    assert Spool.get_by_id(spool_id).state == "processed"


def test_one_refused_message_does_not_fail_its_group(ctx):
    with refusing(ctx.db, "spool", "NEW.helo = 'refused'"):
        writer = spool.SpoolWriter(ctx.db)
        # Queued before the writer starts, so they are one group.
        good = writer.submit(make_mail(), spool.Envelope("a@example.org", ["helpdesk@example.test"]), "smtp")
        bad = writer.submit(make_mail(), spool.Envelope("b@example.org", ["helpdesk@example.test"],
                                                        helo="refused"), "smtp")
        writer.start()
        assert good.result(timeout=10) > 0
        assert bad.exception(timeout=10) is not None
        writer.stop()
    assert Spool.select().count() == 1


def _hold_spool_lock(ctx, url_path: str | None):
    """Another connection that blocks spool inserts until released."""
    if is_sqlite(ctx.db):
        import sqlite3

        other = sqlite3.connect(url_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
    else:
        import psycopg2

        db = ctx.db
        other = psycopg2.connect(**db.connect_params, dbname=db.database)
        other.cursor().execute("BEGIN; LOCK TABLE spool IN SHARE ROW EXCLUSIVE MODE")
    return other


def test_a_client_that_leaves_while_waiting_for_250_stops_nothing(daemon):
    ctx = daemon.ctx
    other = _hold_spool_lock(ctx, getattr(ctx.db, "database", None))
    try:
        client = socket.create_connection((daemon.receiver.host, daemon.receiver.port), timeout=10)
        client.recv(1024)
        for line in (b"EHLO impatient.example\r\n", b"MAIL FROM:<kari@example.org>\r\n",
                     b"RCPT TO:<helpdesk@example.test>\r\n", b"DATA\r\n"):
            client.sendall(line)
            time.sleep(0.05)
            client.recv(4096)
        client.sendall(make_mail(subject="impatient") + b".\r\n")
        time.sleep(0.2)
        client.close()  # gone before the commit could answer 250
        time.sleep(0.2)
    finally:
        other.rollback() if hasattr(other, "rollback") else None
        other.close()
    # The writer lives on: the next sender gets its 250, both messages are kept.
    with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=15) as later:
        later.sendmail("ola@example.org", ["helpdesk@example.test"], make_mail(subject="patient"))
    wait_until(lambda: Case.select().count() == 2, timeout=15)
    assert daemon.writer.is_alive()


def _raw_from(sender: str, message_id: str) -> bytes:
    # RFC 6532 mail: a UTF-8 address, raw in the header.
    return (f"From: {sender}\r\nTo: helpdesk@example.test\r\nSubject: idn\r\n"
            f"Message-ID: <{message_id}@example.org>\r\n\r\nhello\r\n").encode("utf-8")


def test_international_domains_are_written_as_idna(ctx):
    deliver(ctx, _raw_from("kari@bücher.example", "idn1"))
    ack = Outbox.get(Outbox.kind == "ack")
    assert ack.recipient == "kari@xn--bcher-kva.example"
    assert b"kari@xn--bcher-kva.example" in bytes(ack.raw)
    # A domain that cannot be written in ASCII still opens its case, unanswered.
    row = deliver(ctx, _raw_from("kari@" + "ø" * 70 + ".example", "idn2"))
    assert row.state == "processed"
    assert Outbox.select().where(Outbox.kind == "ack").count() == 1


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_kept_postgresql_connections_the_server_dropped_are_replaced(site):
    """The portal keeps its connections between requests; a dropped one never fails a page."""
    from portalkit import logged_in

    client = logged_in(site, "kari@example.org")
    for _ in range(3):
        assert client.get("/requests").status_code == 200
    db = site.ctx.db
    assert isinstance(db, PooledPostgresqlDatabase) and db._connections  # kept, not closed
    kept = len(db._connections)
    # What a restart or an administrator does to every other connection.
    with db.connection_context():
        db.execute_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    answers = [client.get("/requests").status_code for _ in range(kept + 3)]
    assert answers == [200] * (kept + 3)

"""IMAP intake against a real Dovecot (TESTING.md), on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import email
import io
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import base_settings, merge, prepare, wait_until
from imapclient import IMAPClient, SEEN
from mailfactory import make_mail
from servers import DOVECOT, DovecotServer, TcpProxy, in_ci
from test_cli import toml
from test_crash import _children, _kill_all, _running, _start, _stop

from maild import cli, lease, runner
from maild.intake import imap
from maild.store.models import Case, ImapMailbox, Outbox, Person, Spool, utcnow

USER, PASSWORD = "desk@test.local", "secret"


@pytest.fixture
def dovecot():
    """A Dovecot with one user, for this test only."""
    if not Path(DOVECOT).exists():
        if in_ci():
            pytest.fail("Dovecot is not installed; CI must run every test")
        pytest.skip("Dovecot is not installed: apt-get install dovecot-imapd")
    server = DovecotServer({USER: PASSWORD})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def account_config(make_config, dovecot, monkeypatch):
    monkeypatch.setenv("SENSEDESK_TEST_IMAP_PASSWORD", PASSWORD)

    def make(account=None, **overrides):
        account = {"name": "desk", "host": "127.0.0.1", "port": dovecot.port, "ssl": False,
                   "username": USER, "password_env": "SENSEDESK_TEST_IMAP_PASSWORD",
                   "department": "hr", "poll_seconds": 1, **(account or {})}
        return make_config(imap=[account], **overrides)
    return make


def mailbox(dovecot) -> IMAPClient:
    """Another mail client on the same mailbox: a person, or the world delivering."""
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=10)
    client.login(USER, PASSWORD)
    return client


def poll(ctx) -> int:
    client = imap.connect(ctx.config.imap[0])
    try:
        return imap.poll(ctx, ctx.config.imap[0], client)
    finally:
        client.logout()


def test_messages_become_cases_and_are_marked_seen_after_commit(account_config, dovecot):
    ctx = prepare(account_config())
    world = mailbox(dovecot)
    for i in range(3):
        world.append("INBOX", make_mail(subject=f"Ferie {i}", sender=f"ansatt{i}@example.org"))
    assert poll(ctx) == 3
    runner.drain(ctx)
    assert Case.select().where(Case.department == "hr").count() == 3
    assert Outbox.select().where(Outbox.kind == "ack").count() == 3
    world.select_folder("INBOX")
    assert all(SEEN in f[b"FLAGS"] for f in world.fetch(world.search(), ["FLAGS"]).values())
    assert all(r.source.startswith("imap:desk/INBOX/") for r in Spool.select())
    # Nothing new: nothing taken again.
    assert poll(ctx) == 0
    world.logout()


def test_a_message_already_read_by_a_person_is_still_taken(account_config, dovecot):
    ctx = prepare(account_config())
    world = mailbox(dovecot)
    world.append("INBOX", make_mail(subject="Read already"), flags=[SEEN])
    assert poll(ctx) == 1
    world.logout()


def test_crash_between_commit_and_flag_takes_each_message_once(account_config, dovecot):
    ctx = prepare(account_config())
    world = mailbox(dovecot)
    world.append("INBOX", make_mail(subject="One"))
    world.append("INBOX", make_mail(subject="Two"))
    # The spool commit and the cursor step happened, then the process died
    # before \\Seen was set: the next poll fetches nothing, and flags them.
    assert poll(ctx) == 2
    world.select_folder("INBOX")
    world.remove_flags([1, 2], [SEEN])
    assert poll(ctx) == 0
    assert all(SEEN in f[b"FLAGS"] for f in world.fetch(world.search(), ["FLAGS"]).values())
    assert Spool.select().count() == 2
    world.logout()


def test_a_new_uidvalidity_rescans_without_duplicates(account_config, dovecot):
    ctx = prepare(account_config())
    world = mailbox(dovecot)
    messages = [make_mail(subject=f"Message {i}") for i in range(3)]
    for raw in messages:
        world.append("INBOX", raw)
    assert poll(ctx) == 3
    runner.drain(ctx)
    # The folder is recreated with the same messages: a new UIDVALIDITY.
    world.select_folder("INBOX")
    world.add_flags([1, 2, 3], [b"\\Deleted"])
    world.expunge()
    world.close_folder()
    ctx_account = dict(ctx.config.imap[0])
    world.create_folder("Rebuilt")
    for raw in messages:
        world.append("Rebuilt", raw)
    old = ImapMailbox.get()
    ImapMailbox.update(folder="Rebuilt").execute()  # the cursor as it stood for the old folder
    ctx.config.imap[0]["folder"] = "Rebuilt"
    assert ctx_account["folder"] == "INBOX"
    assert poll(ctx) == 3  # rescanned...
    assert ImapMailbox.get().uidvalidity != old.uidvalidity
    runner.drain(ctx)
    assert Spool.select().count() == 3  # ...and the same bytes are the same spool rows
    assert Case.select().count() == 3
    assert Outbox.select().where(Outbox.kind == "ack").count() == 3
    world.logout()


def test_move_to_a_folder_after_commit(account_config, dovecot):
    ctx = prepare(account_config({"move_to": "Done"}))
    world = mailbox(dovecot)
    world.create_folder("Done")
    world.append("INBOX", make_mail(subject="Move me"))
    assert poll(ctx) == 1
    assert world.select_folder("INBOX")[b"EXISTS"] == 0
    assert world.select_folder("Done")[b"EXISTS"] == 1
    world.logout()


def test_wrong_password_is_recorded_and_smtp_keeps_working(account_config, dovecot, capture, monkeypatch):
    import smtplib

    from maild.daemon import Daemon

    monkeypatch.setenv("SENSEDESK_TEST_IMAP_PASSWORD", "wrong")
    config = account_config(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(config)
    daemon = Daemon(config)
    daemon.start()
    try:
        wait_until(lambda: ImapMailbox.select().where(ImapMailbox.failures >= 1).exists(), timeout=15)
        status = ImapMailbox.get()
        assert "AUTHENTICATIONFAILED" in status.last_error or "LoginError" in status.last_error
        with smtplib.SMTP(daemon.receiver.host, daemon.receiver.port, timeout=10) as client:
            client.sendmail("kari@example.org", ["helpdesk@example.test"], make_mail())
        capture.wait_for(2)
    finally:
        daemon.stop()


@contextlib.contextmanager
def running(config):
    """The daemon, in this process, for the length of a block."""
    from maild.daemon import Daemon

    daemon = Daemon(config)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def watching() -> bool:
    """Whether the poller has caught up once (and so waits in IDLE now or soon)."""
    return ImapMailbox.select().where(ImapMailbox.last_success.is_null(False)).exists()


def test_mail_appended_as_the_daemon_starts_is_taken(account_config, dovecot, capture):
    # poll_seconds is long: only the first catch-up and IDLE can find this mail.
    config = account_config({"poll_seconds": 600},
                            smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(config)
    world = mailbox(dovecot)
    with running(config):
        world.append("INBOX", make_mail(subject="Via IMAP", sender="ola@example.org"))
        wait_until(lambda: Case.select().where(Case.subject == "Via IMAP").exists(), timeout=10)
        capture.wait_for(2)
        # The poll that took it is recorded once its catch-up ends, maybe just after the case.
        wait_until(watching, timeout=10)
    world.logout()


def test_a_message_delivered_during_a_poll_is_taken_before_idle(account_config, dovecot, monkeypatch):
    # The world delivers right after the poll's SEARCH, within Dovecot's 5 s
    # of not looking again: no command told of it, and in IDLE Dovecot would
    # find it only at its next look, 30 s on. The catch-up's NOOP finds it.
    ctx = prepare(account_config({"poll_seconds": 600}))
    world = mailbox(dovecot)
    world.append("INBOX", make_mail(subject="First", message_id="<first@example.org>"))
    real_poll, delivered = imap.poll, []

    def poll_then_deliver(*args):
        taken = real_poll(*args)
        if not delivered:
            world.append("INBOX", make_mail(subject="Second", message_id="<second@example.org>"))
            delivered.append(True)
        return taken
    monkeypatch.setattr(imap, "poll", poll_then_deliver)
    client = imap.connect(ctx.config.imap[0])
    try:
        imap.Poller(ctx, ctx.config.imap[0], threading.Event())._catch_up(client)
    finally:
        client.logout()
    world.logout()
    assert {s.message_id for s in Spool.select()} == {"first@example.org", "second@example.org"}


def test_idle_makes_a_case_within_three_seconds(account_config, dovecot, capture):
    config = account_config({"poll_seconds": 600},
                            smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(config)
    world = mailbox(dovecot)
    with running(config):
        wait_until(watching, timeout=10)
        for i in range(3):  # each wake-up goes back to IDLE
            time.sleep(0.5)
            started = time.monotonic()
            world.append("INBOX", make_mail(subject=f"Idle {i}", sender=f"ola{i}@example.org"))
            wait_until(lambda: Case.select().where(Case.subject == f"Idle {i}").exists(), timeout=10)
            assert time.monotonic() - started < 3
    world.logout()


def test_a_connection_cut_during_idle_reconnects_and_catches_up(account_config, dovecot, capture):
    proxy = TcpProxy(dovecot.port)
    config = account_config({"port": proxy.port, "poll_seconds": 600},
                            smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(config)
    world = mailbox(dovecot)
    try:
        with running(config):
            wait_until(watching, timeout=10)
            time.sleep(0.5)
            proxy.cut()
            world.append("INBOX", make_mail(subject="After the cut"))
            wait_until(lambda: Case.select().where(Case.subject == "After the cut").exists(), timeout=15)
            assert proxy.connections >= 2
            assert ImapMailbox.get().last_error  # the cut was recorded...
            wait_until(lambda: ImapMailbox.get().failures == 0)  # ...and the reconnect worked
    finally:
        proxy.close()
    world.logout()


def test_admins_get_one_mail_when_an_account_keeps_failing(account_config, dovecot, capture, monkeypatch):
    monkeypatch.setenv("SENSEDESK_TEST_IMAP_PASSWORD", "wrong")
    config = account_config({"alert_after": 2}, site={"admins": ["Boss@Example.org"]},
                            smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(config)
    Person.create(email="admin@example.org", role="admin")
    with running(config):
        wait_until(lambda: ImapMailbox.select().where(ImapMailbox.failures >= 3).exists(), timeout=20)
        capture.wait_for(2)
    alerts = list(Outbox.select().where(Outbox.kind == "alert"))
    assert sorted(a.recipient for a in alerts) == ["admin@example.org", "boss@example.org"]
    text = email.message_from_bytes(bytes(alerts[0].raw)).get_payload(decode=True).decode()
    assert "desk" in text and "2 times in a row" in text and "AUTHENTICATIONFAILED" in text


def test_kill_9_between_spool_commit_and_flag_takes_each_message_once(
        account_config, dovecot, capture, tmp_path):
    proxy = TcpProxy(dovecot.port)
    config = account_config({"port": proxy.port, "poll_seconds": 600},
                            smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    prepare(config)
    path = tmp_path / "imap.toml"
    path.write_text(toml(merge(base_settings(tmp_path, config["database"]["url"]),
                               {"imap": [dict(config.imap[0])], "smtp_in": {"listen": ""},
                                "smtp_out": dict(config["smtp_out"])})))
    world = mailbox(dovecot)
    for i in range(3):
        world.append("INBOX", make_mail(subject=f"Crash {i}", sender=f"ola{i}@example.org"))
    # The first life commits the three messages, then stalls setting \Seen...
    proxy.hold(b"STORE")
    proc = _start(path)
    try:
        wait_until(lambda: proxy.held.is_set() and Spool.select().count() == 3, timeout=20)
        children = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # ...and dies there.
        proc.wait()
        wait_until(lambda: not any(_running(pid) for pid in children), timeout=10)
    finally:
        _kill_all([proc.pid, *_children(proc.pid)])
    world.select_folder("INBOX")
    assert not any(SEEN in f[b"FLAGS"] for f in world.fetch(world.search(), ["FLAGS"]).values())
    proxy.hold(None)
    proc = _start(path)
    try:
        def settled():
            return (Spool.select().where(Spool.state.in_(["new", "claimed"])).count() == 0
                    and Outbox.select().where(Outbox.state.in_(["queued", "sending"])).count() == 0
                    and all(SEEN in f[b"FLAGS"] for f in world.fetch(world.search(), ["FLAGS"]).values()))
        wait_until(settled, timeout=30, interval=0.2)
    finally:
        _stop(proc)
        proxy.close()
    assert Spool.select().count() == 3
    assert Case.select().count() == 3
    assert sorted(c.subject for c in Case.select()) == ["Crash 0", "Crash 1", "Crash 2"]
    assert Outbox.select().where(Outbox.kind == "ack").count() == 3
    world.logout()


def test_check_reports_each_account(account_config, dovecot, tmp_path):
    from maild import checks

    config = account_config()
    prepare(config)
    assert checks.run(config) == 0
    os.environ["SENSEDESK_TEST_IMAP_PASSWORD"] = "wrong"  # monkeypatch restores it
    assert checks.run(config) == 1


def test_imap_commands_report_status_and_test_a_login(account_config, dovecot, monkeypatch):
    config = account_config()
    ctx = prepare(config)
    poll(ctx)
    imap.record(config.imap[0], utcnow())  # as the poller does after each poll
    out = io.StringIO()
    path = Path(ctx.var_dir).parent / "imap.toml"
    document = merge(base_settings(Path(ctx.var_dir).parent, config["database"]["url"]),
                     {"imap": [dict(config.imap[0])]})
    path.write_text(toml(document))
    with contextlib.redirect_stdout(out):
        assert cli.main(["--config", str(path), "imap", "status", "--json"]) == 0
        assert cli.main(["--config", str(path), "imap", "test", "desk"]) == 0
        monkeypatch.setenv("SENSEDESK_TEST_IMAP_PASSWORD", "wrong")
        assert cli.main(["--config", str(path), "imap", "test", "desk"]) == 1
    lines = out.getvalue().splitlines()
    status = json.loads(lines[0])
    assert status["account"] == "desk" and status["failures"] == 0 and status["last_success"]
    assert "logged in; INBOX holds 0 message(s)" in lines[1]
    assert "desk:" in lines[2] and "logged in" not in lines[2]



def test_one_daemon_at_a_time_polls_an_account_and_another_takes_over(account_config, dovecot, monkeypatch):
    # Two daemons sharing a store, as two pollers with holders of their own,
    # each through a proxy that counts its connections to the server.
    monkeypatch.setattr(imap.Poller, "LEASE_SECONDS", 1.5)
    monkeypatch.setattr(imap.Poller, "LEASE_RENEW", 0.3)
    config = account_config({"poll_seconds": 600})
    ctx = prepare(config)
    proxies = [TcpProxy(dovecot.port), TcpProxy(dovecot.port)]
    stops = [threading.Event(), threading.Event()]
    pollers = [imap.Poller(ctx, {**config.imap[0], "port": proxy.port}, stop, holder=name)
               for proxy, stop, name in zip(proxies, stops, ("first:1", "second:2"))]
    world = mailbox(dovecot)

    def spooled(message_id):
        return Spool.select().where(Spool.message_id == message_id).exists()
    try:
        pollers[0].start()
        wait_until(lambda: lease.holder("imap:desk", utcnow()) == "first:1", timeout=10)
        pollers[1].start()
        world.append("INBOX", make_mail(subject="One", message_id="<one@example.org>"))
        wait_until(lambda: spooled("one@example.org"), timeout=10)
        time.sleep(1.0)  # three of the second's looks at the lease
        assert proxies[1].connections == 0 and lease.holder("imap:desk", utcnow()) == "first:1"
        # The first stops and gives the lease up: the second takes the account over.
        stops[0].set()
        pollers[0].thread.join(15)
        wait_until(lambda: lease.holder("imap:desk", utcnow()) == "second:2", timeout=10)
        world.append("INBOX", make_mail(subject="Two", message_id="<two@example.org>"))
        wait_until(lambda: spooled("two@example.org"), timeout=10)
        assert proxies[1].connections >= 1
        # A holder that died gives nothing up: its lease lapses, then another takes it.
        stops[1].set()
        pollers[1].thread.join(15)
        assert lease.take(ctx.db, "imap:desk", "ghost:3", 1.5, utcnow())
        third = imap.Poller(ctx, config.imap[0], stops[0].__class__(), holder="third:4")
        started = time.monotonic()
        third.start()
        wait_until(lambda: lease.holder("imap:desk", utcnow()) == "third:4", timeout=10)
        assert time.monotonic() - started > 1.0
        third.stopping.set()
        third.thread.join(15)
    finally:
        for stop in stops:
            stop.set()
        for proxy in proxies:
            proxy.close()
        world.logout()
    assert Spool.select().count() == 2  # each message taken once

"""Crash test: ``kill -9`` the daemon while a client sends 500 messages.

After a restart, every message that got ``250`` is processed exactly once and
acknowledged exactly once (docs/architecture.md, the three promises; MAIL_RULES 2, 3, 62).
The daemon is a real ``sensedesk maild`` process; the world is a capture server.
"""

from __future__ import annotations

import email
import os
import signal
import smtplib
import subprocess
import sys
import threading
from pathlib import Path

from conftest import wait_until
from mailfactory import make_mail
from servers import free_port
from test_cli import ROOT, config_file  # noqa: F401 (config_file is a fixture)

from maild.store import db as store
from maild.store.models import Case, Entry, InboundMessage, Outbox, Spool

MESSAGES = 500
CONNECTIONS = 4


def _start(config: Path) -> subprocess.Popen:
    # The log goes to a file: a pipe nobody reads would fill and stall the daemon.
    log = open(config.with_suffix(".log"), "ab")
    return subprocess.Popen([sys.executable, "-m", "maild.cli", "--config", str(config), "maild"],
                            cwd=ROOT, stdout=log, stderr=log)


def _children(pid: int) -> list[int]:
    """Pids of a process's children (the runner)."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _kill_all(pids: list[int]) -> None:
    """Leave nothing running behind a failed test."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the daemon and wait; leave none of its processes behind whatever happens."""
    children = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        _kill_all([proc.pid, *children])


def _wait_for_port(port: int, proc: subprocess.Popen, config: Path) -> None:
    def listening():
        assert proc.poll() is None, config.with_suffix(".log").read_text()[-3000:]
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=1).quit()
            return True
        except OSError:
            return False
    wait_until(listening, timeout=30, interval=0.05)


def _sender(port: int, batch: list[tuple[str, bytes]], accepted: list, lock: threading.Lock) -> None:
    """Send messages over one connection until done or the daemon dies."""
    try:
        client = smtplib.SMTP("127.0.0.1", port, timeout=10)
        for message_id, raw in batch:
            sender = email.message_from_bytes(raw)["X-Test-Sender"]
            client.sendmail(sender, ["helpdesk@example.test"], raw)
            with lock:
                accepted.append(message_id)
    except (smtplib.SMTPException, OSError):
        return  # the daemon was killed: anything not answered 250 is the client's to retry


def test_kill_9_while_receiving_loses_and_doubles_nothing(config_file, capture, tmp_path):
    port = free_port()
    config = config_file(smtp_in={"listen": f"127.0.0.1:{port}"},
                         smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    subprocess.run([sys.executable, "-m", "maild.cli", "--config", str(config), "init"], cwd=ROOT, check=True,
                   capture_output=True)
    messages = []
    for i in range(MESSAGES):
        # A sender each, so the per-sender cap on automatic answers never applies.
        sender = f"customer{i}@example.org"
        message_id = f"crash{i}@example.org"
        raw = make_mail(subject=f"Problem {i}", sender=sender, message_id=f"<{message_id}>",
                        headers={"X-Test-Sender": sender}, body=f"Problem number {i}.\n" * 20)
        messages.append((message_id, raw))

    proc = _start(config)
    _wait_for_port(port, proc, config)
    accepted, lock = [], threading.Lock()
    threads = [threading.Thread(target=_sender, args=(port, messages[i::CONNECTIONS], accepted, lock))
               for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    # Kill it in full flight: some mail accepted, some processed, some being sent.
    try:
        wait_until(lambda: len(accepted) >= MESSAGES // 3, timeout=60, interval=0.005)
        children = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for t in threads:
            t.join()
        # The runner process notices that the daemon is gone and stops by itself.
        wait_until(lambda: not any(_running(pid) for pid in children), timeout=10)
    finally:
        _kill_all([proc.pid, *_children(proc.pid)])
    acknowledged_by_smtp = set(accepted)
    assert 0 < len(acknowledged_by_smtp) < MESSAGES

    db = store.connect(_url(config))
    left = {"new spool rows": Spool.select().where(Spool.state == "new").count(),
            "unsent outbox rows": Outbox.select().where(Outbox.state != "sent").count()}
    print(f"killed after {len(acknowledged_by_smtp)} accepted; left: {left}")
    db.close()
    proc = _start(config)
    try:
        _wait_for_port(port, proc, config)

        def settled():
            return (Spool.select().where(Spool.state.in_(["new", "claimed"])).count() == 0
                    and Outbox.select().where(Outbox.state.in_(["queued", "sending"])).count() == 0)
        wait_until(settled, timeout=120, interval=0.2)
    finally:
        _stop(proc)

    assert Spool.select().where(Spool.state == "failed").count() == 0
    for message_id in acknowledged_by_smtp:
        inbound = list(InboundMessage.select().where(InboundMessage.message_id == message_id))
        assert len(inbound) == 1, message_id
        entries = list(Entry.select().where(Entry.message_id == message_id))
        assert len(entries) == 1, message_id
        case = entries[0].case
        acks = list(Outbox.select().where((Outbox.case == case) & (Outbox.kind == "ack")))
        assert len(acks) == 1 and acks[0].state == "sent", message_id
    # Nothing was opened twice, and every ack reached the world at least once
    # (a kill between the relay's 250 and "sent" resends the same Message-ID).
    assert Case.select().count() == Entry.select().where(Entry.kind == "message").count()
    delivered = {email.message_from_bytes(m.data)["Message-ID"].strip("<>") for m in capture.messages}
    for ack in Outbox.select().where(Outbox.kind == "ack"):
        assert ack.message_id in delivered
    db.close()


def _url(config: Path) -> str:
    import tomllib

    return tomllib.loads(config.read_text())["database"]["url"]

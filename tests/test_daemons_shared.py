"""Three ``sensedesk maild`` processes on one PostgreSQL store, one of them killed mid-burst.

Threads of an original and two replies (which name it by Message-ID alone)
are sent through all three daemons' SMTP ports at once, the replies of a
thread through other daemons than its original. One daemon is killed with
its runner (``kill -9``, as a machine that fails) in full flight. The two
left take back what it had claimed and finish: one case a thread, every
reply on its case, one acknowledgement each, nothing lost or doubled.
"""

from __future__ import annotations

import email
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading

import pytest
from conftest import base_settings, merge, wait_until
from mailfactory import make_mail
from servers import free_port
from test_cli import ROOT, toml
from test_crash import _children, _kill_all, _start, _stop, _wait_for_port

from maild.store import db as store
from maild.store.models import Case, Entry, InboundMessage, Outbox, Spool

THREADS = 40
DAEMONS = 3


def _messages() -> list[list[tuple[str, bytes]]]:
    """For each thread: its original, then two replies naming it by Message-ID (no [SD#N] in the subject)."""
    threads = []
    for n in range(THREADS):
        sender = f"customer{n}@example.org"
        original = f"original{n}@example.org"
        thread = [(original, make_mail(subject=f"Problem {n}", sender=sender, message_id=f"<{original}>",
                                       headers={"X-Test-Sender": sender}))]
        for k in range(2):
            reply = f"reply{n}-{k}@example.org"
            thread.append((reply, make_mail(subject=f"Re: Problem {n}", sender=sender, message_id=f"<{reply}>",
                                            in_reply_to=f"<{original}>", references=f"<{original}>",
                                            headers={"X-Test-Sender": sender}, body=f"More on {n}, {k}.\n")))
        threads.append(thread)
    return threads


def _send(ports: list[int], threads: list[tuple[int, list]], accepted: set, lock: threading.Lock) -> None:
    """Send each thread's messages in order, each through its own daemon: a reply only once its original has its 250.

    A message a daemon did not take (it was killed) goes to the next one, as
    a sending server tries the next MX; a daemon that is gone takes nothing more.
    """
    clients: dict[int, smtplib.SMTP | None] = {}
    for n, thread in threads:
        for k, (message_id, raw) in enumerate(thread):
            for turn in range(len(ports)):
                port = ports[(n + k + turn) % len(ports)]
                try:
                    if port not in clients:
                        clients[port] = smtplib.SMTP("127.0.0.1", port, timeout=10)
                    client = clients[port]
                    if client is None:
                        continue
                    client.sendmail(email.message_from_bytes(raw)["X-Test-Sender"], ["helpdesk@example.test"], raw)
                except (smtplib.SMTPException, OSError):
                    clients[port] = None
                    continue
                with lock:
                    accepted.add(message_id)
                break
    for client in clients.values():
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass  # the killed daemon's connection, never used after the kill


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_three_daemons_share_a_store_and_two_finish_what_a_killed_one_left(store_url, capture, tmp_path):
    ports = [free_port() for _ in range(DAEMONS)]
    configs = []
    # The third daemon's connections carry a name, and the store makes its
    # runner slow (each entry waits), so that it is killed holding claims.
    victim_url = f"{store_url}?application_name=sensedesk-victim"
    for i, port in enumerate(ports):
        settings = merge(base_settings(tmp_path / f"d{i}", victim_url if i == 2 else store_url),
                         {"smtp_in": {"listen": f"127.0.0.1:{port}"},
                          "smtp_out": {"transport": "smtp", "host": "127.0.0.1", "port": capture.port}})
        path = tmp_path / f"daemon{i}.toml"
        path.write_text(toml(settings))
        configs.append(path)
    subprocess.run([sys.executable, "-m", "maild.cli", "--config", str(configs[0]), "init"], cwd=ROOT,
                   check=True, capture_output=True)
    db = store.connect(store_url)
    db.execute_sql("CREATE FUNCTION slow_victim() RETURNS trigger AS $$ BEGIN "
                   "IF current_setting('application_name') = 'sensedesk-victim' THEN PERFORM pg_sleep(0.3); END IF; "
                   "RETURN NEW; END $$ LANGUAGE plpgsql")
    db.execute_sql('CREATE TRIGGER slow_victim BEFORE INSERT ON "entry" FOR EACH ROW EXECUTE FUNCTION slow_victim()')
    procs = [_start(config) for config in configs]
    try:
        for port, proc, config in zip(ports, procs, configs):
            _wait_for_port(port, proc, config)
        runners = [set(_children(proc.pid)) for proc in procs]
        # Six senders, each with its share of the threads, send a thread's
        # original and its replies through different daemons.
        numbered = list(enumerate(_messages()))
        accepted, lock = set(), threading.Lock()
        senders = [threading.Thread(target=_send, args=(ports, numbered[i::6], accepted, lock)) for i in range(6)]
        for sender in senders:
            sender.start()
        victim = procs[2]
        family = [victim.pid, *_children(victim.pid)]
        claims = Spool.select().where((Spool.state == "claimed") & Spool.claimed_by.in_(
            [f"{socket.gethostname()}:{pid}" for pid in runners[2]]))
        wait_until(lambda: len(accepted) >= THREADS and claims.count() > 0, timeout=60, interval=0.005)
        for pid in family:
            os.kill(pid, signal.SIGKILL)
        victim.wait()
        for sender in senders:
            sender.join(60)

        def settled():
            return (Spool.select().where(Spool.state.in_(["new", "claimed"])).count() == 0
                    and Outbox.select().where(Outbox.state.in_(["queued", "sending"])).count() == 0)
        wait_until(settled, timeout=90, interval=0.2)
    finally:
        for proc in procs[:2]:
            _stop(proc)
        _kill_all([p.pid for p in procs])
        db.execute_sql('DROP TRIGGER slow_victim ON "entry"')
        db.execute_sql("DROP FUNCTION slow_victim()")

    # Every message got its 250 from a daemon, and is on the case of its thread, once.
    assert len(accepted) == THREADS * 3
    assert Spool.select().where(Spool.state == "failed").count() == 0
    by_thread: dict[int, set] = {}
    for message_id in accepted:
        assert InboundMessage.select().where(InboundMessage.message_id == message_id).count() == 1, message_id
        entries = list(Entry.select().where(Entry.message_id == message_id))
        assert len(entries) == 1, message_id
        n = int(message_id.split("-")[0].removeprefix("original").removeprefix("reply").split("@")[0])
        by_thread.setdefault(n, set()).add(entries[0].case_id)
    stray = {n: cases for n, cases in by_thread.items() if len(cases) > 1}
    assert not stray, f"threads split over cases: {stray}"
    assert Case.select().count() == THREADS
    acks = list(Outbox.select().where(Outbox.kind == "ack"))
    assert len(acks) == THREADS and {a.state for a in acks} == {"sent"}
    taken_back = Spool.select().where(Spool.attempts > 0).count()
    print(f"{len(accepted)} accepted; {taken_back} row(s) taken back from the killed daemon's runner")
    assert taken_back > 0
    # The runners of the two daemons left both took their share.
    claimers = {int(r.claimed_by.rpartition(":")[2]) for r in Spool.select()}
    assert all(runners[i] & claimers for i in (0, 1)), (runners, claimers)
    db.close()

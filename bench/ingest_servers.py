"""The SMTP side of bench/ingest.py: client, sink, capture server, and watching processes.

Everything listens on 127.0.0.1. aiosmtpd's ``Controller`` needs a free port
chosen beforehand and an explicit hostname (TESTING.md).
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sqlite3
import sys
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller


class BenchError(Exception):
    """A check failed: the run was not correct, so its figures mean nothing."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SinkHandler:
    """The bare sink: accept and forget."""

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


class DurableSinkHandler:
    """The durable floor: each message committed to SQLite (WAL, ``synchronous=FULL``) before its 250.

    The simplest server that keeps the first promise: one INSERT and one
    COMMIT (an fsync) per message, on the event loop, no batching.
    """

    def __init__(self, path: str):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, mail_from TEXT, "
                        "rcpt_tos TEXT, raw BLOB)")

    async def handle_DATA(self, server, session, envelope):
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO spool (mail_from, rcpt_tos, raw) VALUES (?, ?, ?)",
                        (envelope.mail_from, ",".join(envelope.rcpt_tos), envelope.original_content))
        self.db.execute("COMMIT")
        return "250 OK"


def serve_sink(port: int, durable_path: str | None = None) -> int:
    """Child-process mode: run the bare sink (or the durable one on ``durable_path``) until stdin closes."""
    handler = DurableSinkHandler(durable_path) if durable_path else SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()
    return 0


class CaptureHandler:
    """The relay: counts outbound messages (to agents and to others) and notes when the last expected one came."""

    def __init__(self, agents):
        self.agents = frozenset(a.lower() for a in agents)
        self.lock = threading.Lock()
        self.expected = None
        self.done = threading.Event()
        self.done_at = None
        self.count = 0
        self.kinds = {"ack": 0, "agent": 0}

    def arm(self, expected: int) -> None:
        with self.lock:
            self.expected, self.count, self.done_at = expected, 0, None
            self.kinds = {"ack": 0, "agent": 0}
            self.done.clear()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            for rcpt in envelope.rcpt_tos:
                self.kinds["agent" if rcpt.lower() in self.agents else "ack"] += 1
            if self.expected is not None and self.count == self.expected:
                self.done_at = time.perf_counter()
                self.done.set()
        return "250 OK"


def send_all(port, streams, timeout: float):
    """Send every stream on its own persistent connection; returns (t0, t_last_250, errors).

    ``port`` may be a list: stream i then goes to ``port[i % len(port)]`` (several daemons).
    """
    ports = port if isinstance(port, list) else [port]
    errors: list[str] = []
    ends: list[float] = []
    barrier = threading.Barrier(len(streams) + 1)
    lock = threading.Lock()

    def client(stream, port):
        try:
            barrier.wait()
            smtp = smtplib.SMTP("127.0.0.1", port, timeout=timeout)
            try:
                smtp.ehlo("client.example.org")
                for mail_from, rcpt, raw, _ in stream:
                    smtp.sendmail(mail_from, [rcpt], raw)
                end = time.perf_counter()
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
            with lock:
                ends.append(end)
        except (smtplib.SMTPException, OSError, threading.BrokenBarrierError) as exc:  # reported; the run fails
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(s, ports[i % len(ports)]), daemon=True)
               for i, s in enumerate(streams)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(timeout)
    if any(t.is_alive() for t in threads):
        errors.append(f"a client connection did not finish within {timeout:.0f} s")
    elif len(ends) + len(errors) != len(streams):
        errors.append("a client thread ended without finishing its messages")
    return t0, (max(ends) if ends else float("nan")), errors


def wait_for_smtp(port: int, proc: subprocess.Popen | None, timeout: float, log: Path | None = None) -> None:
    """Wait until an SMTP server on the port greets us."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"the daemon exited with status {proc.returncode} before listening"
                             + (f"; log:\n{tail(log)}" if log else ""))
        try:
            smtp = smtplib.SMTP("127.0.0.1", port, timeout=2)
            smtp.quit()
            return
        except (OSError, smtplib.SMTPException):
            if time.monotonic() > deadline:
                raise BenchError(f"nothing answered SMTP on port {port} within {timeout:.0f} s"
                                 + (f"; log:\n{tail(log)}" if log else ""))
            time.sleep(0.05)


def tail(path: Path | None, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except (OSError, AttributeError):
        return "(no log)"


def stop_daemon(proc: subprocess.Popen, timeout: float = 30) -> list[str]:
    """SIGTERM the daemon and wait; then make sure nothing of its process group is left.

    The daemon was started in a session of its own, so its process group is
    exactly the daemon and whatever it started (a runner process, say).
    Returns what went wrong, as warnings: the figures stand, the daemon is at fault.
    """
    problems = []
    if proc.poll() is None:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            problems.append(f"the daemon did not stop within {timeout:.0f} s of SIGTERM; killed")
            _kill_group(proc.pid)
            proc.wait(timeout=10)
        else:
            if time.monotonic() - started > 5:
                problems.append(f"the daemon took {time.monotonic() - started:.1f} s to stop after SIGTERM")
            if proc.returncode not in (0, -signal.SIGTERM):
                problems.append(f"the daemon exited with status {proc.returncode} after SIGTERM")
    elif proc.returncode:
        problems.append(f"the daemon had exited with status {proc.returncode}")
    deadline = time.monotonic() + 10
    while _group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _group_members(proc.pid)
    if left:
        problems.append("processes of the daemon were still running 10 s after it exited; killed: "
                        + "; ".join(left))
        _kill_group(proc.pid)
    return problems


def _group_members(pgid: int) -> list[str]:
    """Command lines of the live (not zombie) processes in a process group."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.append(f"{pid} " + f.read().replace(b"\0", b" ").decode(errors="replace")[:100].strip())
        except (OSError, IndexError, ValueError):
            continue
    return found


def _kill_group(pgid: int) -> None:
    """SIGKILL what is left of the process group."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def cpu_of_command(name: str) -> float:
    """CPU time (user + system) of every process whose command is ``name`` (a local PostgreSQL server: "postgres")."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                head, _, rest = f.read().rpartition(")")
        except OSError:
            continue
        if head.partition("(")[2] == name:
            fields = rest.split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wait_settled(pgids: list[int], quiet: float = 0.5, limit: float = 30.0) -> None:
    """Wait until the process groups use under 2 % of a CPU for ``quiet`` seconds (their start is done)."""
    end = time.monotonic() + limit
    before = sum(cpu_seconds(pgid=p) for p in pgids)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = sum(cpu_seconds(pgid=p) for p in pgids)
        if now - before < 0.02 * quiet:
            return
        before = now


def cpu_seconds(pid: int | None = None, pgid: int | None = None) -> float:
    """CPU time (user + system, all threads) of a process, or of every process in a group."""
    tick = os.sysconf("SC_CLK_TCK")
    paths = [f"/proc/{pid}/stat"] if pid is not None else \
        [f"/proc/{p}/stat" for p in os.listdir("/proc") if p.isdigit()]
    total = 0.0
    for path in paths:
        try:
            with open(path) as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if pgid is None or int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total

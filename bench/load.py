"""Load and soak: N concurrent senders for T seconds against a running daemon, then a reconciliation.

What it does
------------
``sensedesk maild`` runs as its own process on a fresh store (a new SQLite
file, or a new database on the PostgreSQL server named by ``--database``),
relaying to a capture server in this process. N sender threads (default 50)
each keep one SMTP connection open and send for T seconds (default 120):
new requests from addresses never seen before (70 %) and replies from the
sender of one of its own earlier requests, naming it in ``In-Reply-To``
(30 %). Each ``250`` is recorded with its spool id.

The baseline, measured in the same run first: the same senders for
``--baseline-seconds`` against a bare aiosmtpd sink in its own process, whose
``handle_DATA`` answers ``250`` and does nothing else.

When the time is up the senders stop, and the daemon is given until the
spool is processed and the outbox sent (the drain time). Then, from the
store and the capture server:

* every ``250`` has exactly one spool row, and there are no others;
* every spool row is ``processed``;
* every new request opened exactly one case, with its Message-ID on the
  first entry; every reply is one entry on its request's case;
* every new request got exactly one acknowledgement (outbox row ``sent``,
  one message at the capture server), and no reply got one.

Any difference fails the run with the details. The figures: accepted
messages per second, the time from the DATA command to the ``250`` (median
and 99th percentile), the drain time, and the resident memory of each of
the daemon's processes at the start and at the end.

    python bench/load.py                       # 50 senders x 120 s on SQLite
    python bench/load.py --seconds 600 --database postgresql://postgres@127.0.0.1:5433/sensedesk

Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import email.utils
import os
import random
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this file
from ingest import SENSEDESK, PgDatabases, sensedesk, write_config  # noqa: E402
from ingest_mail import AGENTS, DEPARTMENTS, DOMAINS, FIRST, LAST, PARAGRAPHS, REPLY_LINES, SUBJECTS, WORDS  # noqa: E402
from ingest_mail import _mail  # noqa: E402
from ingest_servers import BenchError, free_port, stop_daemon, tail, wait_for_smtp  # noqa: E402

REPLY_SHARE = 0.30


class Capture:
    """The relay: counts every outbound message by recipient."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_recipient: dict[str, int] = {}
        self.total = 0

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.total += 1
            for rcpt in envelope.rcpt_tos:
                key = rcpt.lower()
                self.by_recipient[key] = self.by_recipient.get(key, 0) + 1
        return "250 OK"


class Sender(threading.Thread):
    """One client: one SMTP connection, new requests and replies until the deadline."""

    def __init__(self, number: int, port: int, deadline: float, seed: int):
        super().__init__(name=f"sender-{number}", daemon=True)
        self.number, self.port, self.deadline = number, port, deadline
        self.rng = random.Random(seed * 1000 + number)
        self.sent: list[dict] = []  # one per 250: kind, message_id, sender, original, spool id
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.serial = 0

    def _next(self) -> tuple[dict, bytes]:
        rng, date = self.rng, email.utils.formatdate(localtime=False)
        self.serial += 1
        mid = f"<load.{self.number}.{self.serial}.{rng.getrandbits(40):010x}@client.example.org>"
        originals = [s for s in self.sent if s["kind"] == "new"]
        if originals and rng.random() < REPLY_SHARE:
            original = rng.choice(originals)
            body = f"{rng.choice(REPLY_LINES)}\n\n{original['name']}\n"
            raw = _mail(original["name"], original["sender"], original["to"], "Re: " + original["subject"],
                        body, mid, date, in_reply_to=original["message_id"])
            return {"kind": "reply", "message_id": mid, "sender": original["sender"], "to": original["to"],
                    "original": original["message_id"], "name": original["name"]}, raw
        dept = rng.choices(DEPARTMENTS, weights=[d[5] for d in DEPARTMENTS])[0]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        # Never seen before: an address's automatic answers are capped per hour.
        sender = f"{first}.{last}.{self.number}.{self.serial}@{rng.choice(DOMAINS)}".lower()
        subject = rng.choice(SUBJECTS[dept[0]]).format(n=rng.randint(1, 12), w=rng.choice(WORDS))
        body = "Hi,\n\n" + "\n\n".join(rng.sample(PARAGRAPHS, 3)) + f"\n\nBest regards,\n{first} {last}\n"
        raw = _mail(f"{first} {last}", sender, dept[2], subject, body, mid, date)
        return {"kind": "new", "message_id": mid, "sender": sender, "to": dept[2], "subject": subject,
                "name": f"{first} {last}"}, raw

    def run(self) -> None:
        try:
            smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=60)
            smtp.ehlo("client.example.org")
            while time.monotonic() < self.deadline:
                info, raw = self._next()
                smtp.mail(info["sender"])
                smtp.rcpt(info["to"])
                started = time.perf_counter()
                code, text = smtp.data(raw)
                self.latencies.append(time.perf_counter() - started)
                if code != 250:
                    self.errors.append(f"{code} {text!r}")
                    continue
                words = text.decode(errors="replace").split()
                info["spool"] = int(words[-1]) if words and words[-1].isdigit() else None
                self.sent.append(info)
            smtp.quit()
        except (smtplib.SMTPException, OSError) as exc:  # reported; the run fails
            self.errors.append(f"{type(exc).__name__}: {exc}")


def drive(port: int, senders: int, seconds: float, seed: int) -> tuple[list[Sender], float]:
    """Run the senders against a port for ``seconds``; returns them and the seconds they took."""
    deadline = time.monotonic() + seconds
    threads = [Sender(k, port, deadline, seed) for k in range(senders)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return threads, time.monotonic() - started


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def daemon_pids(pgid: int) -> dict[str, int]:
    """The daemon's processes by role: its main process and the runner (spawned by multiprocessing)."""
    found = {"main": pgid}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            if int(fields[2]) != pgid or int(pid) == pgid or fields[0] == "Z":
                continue
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        role = "runner" if b"spawn_main" in cmdline else "helper"
        found[role if role not in found else f"{role}-{pid}"] = int(pid)
    return found


def baseline(senders: int, seconds: float, seed: int) -> dict:
    """The same senders against a bare aiosmtpd sink in its own process."""
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(Path(__file__).resolve().parent / "ingest.py"),
                             "--serve-sink", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if sink.stdout.readline().strip() != "ready":
            raise BenchError("the bare sink did not start")
        threads, took = drive(port, senders, seconds, seed)
    finally:
        sink.stdin.close()
        sink.wait(timeout=30)
    errors = [e for t in threads for e in t.errors]
    if errors:
        raise BenchError("sending to the bare sink failed: " + "; ".join(errors[:3]))
    return summary(threads, took)


def summary(threads: list[Sender], took: float) -> dict:
    latencies = sorted(x for t in threads for x in t.latencies)
    accepted = sum(len(t.sent) for t in threads)
    return {"accepted": accepted, "rate": accepted / took,
            "p50_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else float("nan")}


def wait_drained(url: str, accepted: int, expected: int, capture: Capture, proc, log: Path, timeout: float) -> float:
    """Seconds from now until every spool row is processed and every expected mail reached the relay."""
    from maild.store import db as store
    from maild.store.models import Outbox, Spool

    db = store.connect(url)
    started = time.monotonic()
    try:
        while True:
            pending = Spool.select().where(Spool.state.in_(("new", "claimed"))).count()
            unsent = Outbox.select().where(Outbox.state.in_(("queued", "sending"))).count()
            rows = Spool.select().count()
            if rows >= accepted and not pending and not unsent and capture.total >= expected:
                return time.monotonic() - started
            if proc.poll() is not None:
                raise BenchError(f"the daemon exited with status {proc.returncode}; log:\n{tail(log)}")
            if time.monotonic() - started > timeout:
                raise BenchError(f"not drained after {timeout:.0f} s: {pending} spool rows waiting, "
                                 f"{unsent} outbox rows unsent; log:\n{tail(log)}")
            time.sleep(0.5)
    finally:
        db.close()


def reconcile(url: str, sent: list[dict], capture: Capture) -> dict:
    """Check every acknowledged message against the store and the relay; BenchError listing what differs."""
    from maild.store import db as store
    from maild.store.models import Case, Entry, Outbox, Spool

    db = store.connect(url)
    problems: list[str] = []
    try:
        spool = {row.id: row for row in Spool.select(Spool.id, Spool.state, Spool.message_id, Spool.case_id)}
        ids = [s["spool"] for s in sent]
        if None in ids:
            problems.append(f"{ids.count(None)} 250 answers named no spool id")
        if len(set(ids)) != len(ids):
            problems.append(f"{len(ids) - len(set(ids))} spool ids were answered twice")
        extra = set(spool) - set(ids)
        if extra:
            problems.append(f"{len(extra)} spool rows were never answered 250 (e.g. {sorted(extra)[:5]})")
        missing = [i for i in ids if i not in spool]
        if missing:
            problems.append(f"{len(missing)} 250 answers have no spool row (e.g. {missing[:5]})")
        not_processed = [i for i, r in spool.items() if r.state != "processed"]
        if not_processed:
            problems.append(f"{len(not_processed)} spool rows did not end processed (e.g. {not_processed[:5]})")
        entries: dict[str, list[int]] = {}
        for message_id, case_id in Entry.select(Entry.message_id, Entry.case).where(Entry.kind == "message").tuples():
            entries.setdefault(message_id, []).append(case_id)
        first_entry = {}
        for case_id, message_id in (Entry.select(Entry.case, Entry.message_id)
                                    .where(Entry.kind == "message").order_by(Entry.id).tuples()):
            first_entry.setdefault(case_id, message_id)
        case_of = {}
        for s in sent:
            mid = s["message_id"].strip("<>")
            found = entries.get(mid, [])
            if len(found) != 1:
                problems.append(f"{s['kind']} {mid}: {len(found)} entries")
                continue
            case_of[mid] = found[0]
        news = [s for s in sent if s["kind"] == "new"]
        for s in news:
            mid = s["message_id"].strip("<>")
            if mid in case_of and first_entry.get(case_of[mid]) != mid:
                problems.append(f"new {mid} is not the first entry of its case {case_of[mid]}")
        for s in (s for s in sent if s["kind"] == "reply"):
            mid, original = s["message_id"].strip("<>"), s["original"].strip("<>")
            if mid in case_of and case_of[mid] != case_of.get(original):
                problems.append(f"reply {mid} is on case {case_of[mid]}, its request on {case_of.get(original)}")
        cases = Case.select().count()
        if cases != len(news):
            problems.append(f"{cases} cases for {len(news)} new requests")
        acks: dict[str, int] = {}
        for recipient, state in Outbox.select(Outbox.recipient, Outbox.state).where(Outbox.kind == "ack").tuples():
            acks[recipient.lower()] = acks.get(recipient.lower(), 0) + 1
            if state != "sent":
                problems.append(f"the acknowledgement to {recipient} is {state}")
        for s in news:
            if acks.get(s["sender"], 0) != 1 or capture.by_recipient.get(s["sender"], 0) != 1:
                problems.append(f"{s['sender']}: {acks.get(s['sender'], 0)} acknowledgement rows, "
                                f"{capture.by_recipient.get(s['sender'], 0)} messages at the relay")
        customers_mailed = sum(n for r, n in capture.by_recipient.items() if r not in AGENTS)
        if customers_mailed != len(news):
            problems.append(f"{customers_mailed} messages to customers at the relay for {len(news)} requests")
    finally:
        db.close()
    if problems:
        raise BenchError(f"{len(problems)} difference(s):\n  " + "\n  ".join(problems[:40]))
    return {"cases": len(news), "replies": len(sent) - len(news)}


def load_run(args, workdir: Path, url: str) -> dict:
    """The daemon run: send for the time given, drain, reconcile; the figures."""
    capture = Capture()
    relay_port = free_port()
    relay = Controller(capture, hostname="127.0.0.1", port=relay_port)
    relay.start()
    port = free_port()
    config = workdir / "sensedesk.toml"
    write_config(config, workdir / "var", url, port, relay_port)
    # One client address sends from every sender: let the per-client cap admit them all.
    text = config.read_text().replace(f'listen = "127.0.0.1:{port}"\n',
                                      f'listen = "127.0.0.1:{port}"\nmax_sessions = {args.senders + 50}\n'
                                      f'max_sessions_per_client = {args.senders + 10}\n')
    config.write_text(text)
    sensedesk(config, "init")
    log = workdir / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(SENSEDESK + ["--config", str(config), "maild"], cwd=workdir, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_smtp(port, proc, 60, log)
        time.sleep(1.0)  # the runner process is up too
        pids = daemon_pids(proc.pid)
        rss_start = {role: rss_kib(pid) for role, pid in pids.items()}
        threads, took = drive(port, args.senders, args.seconds, args.seed)
        errors = [e for t in threads for e in t.errors]
        if errors:
            raise BenchError(f"{len(errors)} sending errors, e.g. " + "; ".join(errors[:3]) + f"\nlog:\n{tail(log)}")
        sent = [s for t in threads for s in t.sent]
        news = sum(1 for s in sent if s["kind"] == "new")
        # Per request an acknowledgement and the agents' notice; per reply the agents' notice.
        expected = 2 * news + (len(sent) - news)
        drain = wait_drained(url, len(sent), expected, capture, proc, log, timeout=max(600.0, args.seconds * 5))
        time.sleep(1.0)  # anything extra would arrive now, and fail the checks
        rss_end = {role: rss_kib(pid) for role, pid in pids.items()}
    finally:
        warnings = stop_daemon(proc)
        relay.stop()
    checked = reconcile(url, sent, capture)
    error_lines = sum(1 for line in log.read_text(errors="replace").splitlines()
                      if " ERROR " in line or "Traceback" in line)
    return {**summary(threads, took), **checked, "drain_s": drain, "rss_start": rss_start, "rss_end": rss_end,
            "warnings": warnings, "error_lines": error_lines}


def main(argv=None) -> int:
    """Run the baseline and the load; 0 when the reconciliation found nothing wrong, 1 otherwise."""
    parser = argparse.ArgumentParser(description="N concurrent senders for T seconds against the daemon, "
                                                 "then a reconciliation of every 250")
    parser.add_argument("--senders", type=int, default=50, help="concurrent SMTP connections (default 50)")
    parser.add_argument("--seconds", type=float, default=120, help="seconds of sending (default 120)")
    parser.add_argument("--baseline-seconds", type=float, default=20,
                        help="seconds against the bare sink first (default 20)")
    parser.add_argument("--database", default="", help="postgresql:// URL of a server to create a fresh "
                                                       "database on (default: a new SQLite file)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (config, daemon log)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sdload"))
    pg = PgDatabases(args.database) if args.database else None
    store = "PostgreSQL" if pg else "SQLite (WAL, synchronous=FULL)"
    print(f"Sensedesk load: {args.senders} senders x {args.seconds:.0f} s on {store}; baseline "
          f"{args.baseline_seconds:.0f} s against a bare aiosmtpd sink; load average at start "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    try:
        base = baseline(args.senders, args.baseline_seconds, args.seed)
        url = pg.create(1) if pg else f"sqlite:///{workdir}/sensedesk.db"
        run = load_run(args, workdir, url)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if pg:
            pg.drop_all()
        if not args.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{'':32}{'bare sink':>12}{'daemon':>12}")
    print(f"{'accepted':32}{base['accepted']:>12}{run['accepted']:>12}  messages")
    print(f"{'accept rate':32}{base['rate']:>12.0f}{run['rate']:>12.0f}  msg/s")
    print(f"{'DATA to 250, median':32}{base['p50_ms']:>12.1f}{run['p50_ms']:>12.1f}  ms")
    print(f"{'DATA to 250, 99th percentile':32}{base['p99_ms']:>12.1f}{run['p99_ms']:>12.1f}  ms")
    print(f"{'ratio daemon / sink':32}{'':>12}{run['rate'] / base['rate']:>12.2f}")
    print(f"\ndrain after the last 250: {run['drain_s']:.1f} s")
    print(f"reconciled: {run['accepted']} messages, {run['cases']} cases, {run['replies']} replies; every 250 "
          f"one spool row, processed, one case or entry, one acknowledgement per request; nothing lost or doubled")
    for role in run["rss_start"]:
        print(f"memory of the {role} process: {run['rss_start'][role] / 1024:.0f} MiB at the start, "
              f"{run['rss_end'][role] / 1024:.0f} MiB at the end")
    if run["error_lines"]:
        print(f"note: the daemon logged {run['error_lines']} error line(s)")
    for warning in run["warnings"]:
        print(f"note: {warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

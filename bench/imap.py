"""IMAP drain benchmark: a mailbox with N waiting messages -> processed cases -> outbound mail.

What it measures
----------------
The same N messages as ``bench/ingest.py`` (default 2,000: 70 % new mails
from distinct senders, 30 % replies threaded by In-Reply-To), R times
(default 3), two ways on the same machine in the same run:

* **SMTP end to end** -- exactly the daemon phase of ``bench/ingest.py``:
  the messages sent over 4 SMTP connections to ``sensedesk maild``, timed
  until the last expected outbound message reaches the capture server. This
  is the baseline.
* **IMAP drain** -- the messages are appended, in order, to the INBOX of a
  local Dovecot (started for the run as the tests start it, TESTING.md)
  before the daemon starts; the clock starts when ``sensedesk maild`` is
  launched with one ``[[imap]]`` account on that INBOX (department
  ``helpdesk``) and stops when the last expected outbound message arrives.
  The daemon's start-up (about half a second) is inside this time.

Both phases use a fresh store per run (SQLite in WAL mode with
``synchronous=FULL``, or a fresh database on ``--database``) and the same
capture server as relay. Each run is checked as ``bench/ingest.py`` checks
its runs (every spool row processed, replies on their cases, one case per new
mail, every outbox row sent, exactly the expected messages captured), and for
IMAP also that every message in the mailbox ends ``\\Seen``. A failed check
fails the benchmark: a fast wrong answer is not a result.

How to read the output
----------------------
One line per run, then a table with one column per run and the median, the
figure to quote: messages per second and seconds for all N, for each path,
and the ratio IMAP / SMTP. Other work on this 2-core machine skews every
figure; the load average at the start is printed.

Usage::

    .venv/bin/python bench/imap.py                      # 2,000 messages, 3 runs, SQLite
    .venv/bin/python bench/imap.py --messages 500 --runs 1
    .venv/bin/python bench/imap.py --database postgresql://postgres@127.0.0.1:5432/postgres

It needs ``/usr/sbin/dovecot`` (``make deps`` installs it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from imapclient import IMAPClient, SEEN

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # ingest.py and its helpers
sys.path.insert(0, str(HERE.parent / "tests"))  # the Dovecot the tests start
import ingest  # noqa: E402
from ingest_mail import AGENTS, build_streams  # noqa: E402
from ingest_servers import BenchError, CaptureHandler, cpu_seconds, free_port, stop_daemon, tail  # noqa: E402
from servers import DOVECOT, DovecotServer  # noqa: E402

USER, PASSWORD = "helpdesk@example.test", "bench-secret"
PASSWORD_ENV = "SENSEDESK_BENCH_IMAP_PASSWORD"


def fill_mailbox(port: int, messages: list[bytes]) -> None:
    """Empty the INBOX, then append the messages in order."""
    client = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=60)
    client.login(USER, PASSWORD)
    client.select_folder("INBOX")
    old = client.search()
    if old:
        client.delete_messages(old)
        client.expunge()
    for raw in messages:
        client.append("INBOX", raw)
    client.logout()


def unseen_left(port: int) -> int:
    """How many messages of the INBOX are not marked \\Seen."""
    client = IMAPClient("127.0.0.1", port=port, ssl=False, timeout=60)
    client.login(USER, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    flags = client.fetch(client.search(), ["FLAGS"])
    client.logout()
    return sum(1 for f in flags.values() if SEEN not in f[b"FLAGS"])


def run_imap(run: int, workdir: Path, url: str, stream, expected: dict, capture_port: int,
             capture: CaptureHandler, timeout: float, imap_port: int) -> dict:
    """One drain: msg/s, seconds, CPU per message; the run is checked before it counts."""
    total = len(stream)
    rundir = workdir / f"imap{run}"
    rundir.mkdir()
    config = rundir / "sensedesk.toml"
    ingest.write_config(config, rundir / "var", url, free_port(), capture_port)
    with open(config, "a") as f:
        f.write(f'\n[[imap]]\nname = "bench"\nhost = "127.0.0.1"\nport = {imap_port}\nssl = false\n'
                f'username = "{USER}"\npassword_env = "{PASSWORD_ENV}"\ndepartment = "helpdesk"\n')
    ingest.sensedesk(config, "init")
    fill_mailbox(imap_port, [raw for _, _, raw, _ in stream])
    capture.arm(expected["total"])
    log = rundir / "daemon.log"
    env = dict(os.environ, **{PASSWORD_ENV: PASSWORD})
    with open(log, "wb") as log_file:
        t0 = time.perf_counter()
        proc = subprocess.Popen(ingest.SENSEDESK + ["--config", str(config), "maild"], cwd=rundir, env=env,
                                stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        last_count, last_change = -1, time.perf_counter()
        while not capture.done.wait(0.5):
            now = time.perf_counter()
            if capture.count != last_count:
                last_count, last_change = capture.count, now
            if now - t0 > timeout or now - last_change > ingest.STALL or proc.poll() is not None:
                raise BenchError(f"only {capture.count} of {expected['total']} outbound messages arrived; "
                                 f"daemon log:\n{tail(log)}")
        t_done = capture.done_at
        server, main = cpu_seconds(pgid=proc.pid), cpu_seconds(proc.pid)
        time.sleep(0.3)  # anything extra would arrive now, and fail the check below
    finally:
        warnings = stop_daemon(proc)
    ingest.verify(config, [stream], capture, expected)
    left = unseen_left(imap_port)
    if left:
        raise BenchError(f"{left} message(s) in the mailbox not marked \\Seen after the drain")
    return {"rate": total / (t_done - t0), "seconds": t_done - t0, "server_ms": 1000 * server / total,
            "main_ms": 1000 * main / total, "warnings": warnings}


def main(argv=None) -> int:
    """Run the benchmark; 0 when every run was correct, 1 when a check failed."""
    parser = argparse.ArgumentParser(description="IMAP drain beside SMTP end to end (see the module docstring).")
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are reported (default 3)")
    parser.add_argument("--database", default="", help="postgresql:// URL of a server to create a fresh "
                        "database on per run (default: a fresh SQLite file per run)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per phase (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, daemon logs)")
    args = parser.parse_args(argv)
    if args.messages < 10 or args.runs < 1:
        parser.error("need --messages >= 10 and --runs >= 1")
    if not Path(DOVECOT).exists():
        parser.error(f"{DOVECOT} is missing: run make deps")

    streams = build_streams(args.messages, 4, ingest.REPLY_SHARE)
    # For IMAP the four SMTP streams are laid end to end: each reply still
    # follows the mail it answers.
    stream = [m for s in streams for m in s]
    news = sum(1 for m in stream if m[3][0] == "new")
    expected = {"ack": news, "new_case": news, "customer_reply": args.messages - news,
                "total": 2 * news + args.messages - news}
    print(f"Sensedesk IMAP drain benchmark: {args.messages} messages ({news} new, {args.messages - news} "
          f"replies), {args.runs} run(s); store: {'PostgreSQL' if args.database else 'SQLite FULL'}")
    print(f"{ingest.code_state()}; load average at start {os.getloadavg()[0]:.2f}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="sdbenchimap", dir="/tmp"))
    capture = CaptureHandler(AGENTS)
    capture_port = free_port()
    controller = Controller(capture, hostname="127.0.0.1", port=capture_port)
    dovecot = DovecotServer({USER: PASSWORD})
    pg = ingest.PgDatabases(args.database) if args.database else None
    smtp, imap, status = [], [], 0
    try:
        controller.start()
        dovecot.start()
        for run in range(1, args.runs + 1):
            url = pg.create(run) if pg else f"sqlite:///{workdir}/run{run}/sensedesk.db"
            smtp.append(ingest.run_daemon(run, workdir, url, streams, expected, capture_port, capture,
                                          args.timeout))
            url = pg.create(100 + run) if pg else f"sqlite:///{workdir}/imap{run}/sensedesk.db"
            imap.append(run_imap(run, workdir, url, stream, expected, capture_port, capture, args.timeout,
                                 dovecot.port))
            print(f"  run {run}: SMTP end to end {smtp[-1]['rate']:.0f}/s, IMAP drain {imap[-1]['rate']:.0f}/s "
                  f"({imap[-1]['seconds']:.1f} s; checked: all processed, threaded, sent, \\Seen)", flush=True)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    finally:
        controller.stop()
        dovecot.stop()
        if pg:
            pg.drop_all()
        if args.keep or status:
            print(f"temp dir kept: {workdir}", file=sys.stderr if status else sys.stdout)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if status:
        return status
    report(smtp, imap, args.messages)
    return 0


def report(smtp: list[dict], imap: list[dict], total: int) -> None:
    """The table: one column per run, then the median."""
    def row(label, values, unit, digits=0):
        cells = "".join(f"{v:>9.{digits}f}" for v in values)
        return f"{label:<36}{cells}{statistics.median(values):>9.{digits}f}  {unit}"

    print()
    print(f"{'':<36}" + "".join(f"{'run ' + str(i):>9}" for i in range(1, len(smtp) + 1)) + f"{'median':>9}")
    print(row("SMTP end to end", [r["rate"] for r in smtp], "msg/s"))
    print(row(f"SMTP end to end, all {total}", [total / r["rate"] for r in smtp], "s", 1))
    print(row("IMAP drain", [r["rate"] for r in imap], "msg/s"))
    print(row(f"IMAP drain, all {total}", [r["seconds"] for r in imap], "s", 1))
    print(row("IMAP / SMTP", [i["rate"] / s["rate"] for i, s in zip(imap, smtp)], "", 2))
    print(row("CPU per message: daemon, IMAP", [r["server_ms"] for r in imap], "ms", 2))
    print(row("  its main process (poller)", [r["main_ms"] for r in imap], "ms", 2))
    for run, r in enumerate(smtp + imap, 1):
        for warning in r["warnings"]:
            print(f"warning: {warning}")


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end ingest benchmark: SMTP in -> spool -> runner -> outbox -> SMTP out.

What it measures
----------------
N messages (default 2,000: 70 % new mails from distinct senders, 30 % replies,
1.1-2 KB each) are sent over SMTP on C persistent ``smtplib`` connections in
parallel (default 4, one thread each), R times (default 3), to:

* **a bare aiosmtpd sink** -- an aiosmtpd ``Controller`` whose ``handle_DATA``
  returns ``250 OK`` and does nothing else; its time runs from the first
  connection to the last ``250``. It is measured twice per run. *In the bench
  process* it shares the interpreter lock with the client threads, as the
  capture server does in the daemon phase; this is the sink the ratio aim is
  judged against. *In its own process* it is what aiosmtpd alone can take on
  this machine; that second ratio is printed for information.
* **the durable floor** -- the sink in its own process, committing each
  message to a SQLite file (WAL, ``synchronous=FULL``) before its ``250``:
  one INSERT and one COMMIT per message, no batching. It is the simplest
  server that keeps the first promise, and what end to end is judged against.
* **the Sensedesk daemon** -- ``sensedesk maild`` as a separate process (with
  whatever processes it starts), on a fresh store per run: a new SQLite file
  (WAL, ``synchronous=FULL``: full durability), or a new database on the
  PostgreSQL server named by ``--database``. Its relay
  (``[smtp_out] transport = "smtp"``) is a capture server: an aiosmtpd
  ``Controller`` in the bench process. The **end-to-end** time runs from the
  first SMTP connection until the last expected outbound message reaches the
  capture server, which happens only once every inbound message is processed:
  per new mail an acknowledgement to its sender and a ``new_case`` notice to
  the department's notify list, per reply a ``customer_reply`` notice
  (``maild/notify.py``: one agent on each notify list, nobody assigned, the
  authors are customers, so nobody is left out). **SMTP accept only** is the
  time from the first connection to the daemon's last ``250``. The clock
  starts once the daemon is idle after its start (it loads its parse worker
  and language model first), as a daemon in service is.
  With ``--dkim`` the daemon signs every outbound message with DKIM (a fresh
  2048-bit RSA key per run, made by openssl), to show what signing costs.

A reply comes from the sender of an earlier new mail, with
``Subject: Re: ...`` and that mail's Message-ID in ``In-Reply-To`` and
``References`` (threading rule 2, stored Message-IDs). It travels on the same
connection as the mail it answers, after that mail's ``250``, so it is always
spooled, and processed, after it.

After each daemon run the daemon is stopped with SIGTERM and the store is
checked with ``sensedesk spool list --json`` and ``sensedesk outbox list
--json``: every spool row ``processed``, every reply on the case of the mail
it answers, one case per new mail, every outbox row ``sent``, and exactly the
expected messages at the capture server. Any difference fails the benchmark
with the details: a fast wrong answer is not a result.

How to read the output
----------------------
The header names the maild that ran (its directory and git commit, marked
when it has uncommitted changes) and the load average at the start: other
work on this 2-core machine skews every figure, so compare runs made under the
same conditions. Then one line per run as it finishes, and a table: one column
per run, then the median, the figure to quote.

* Rates are messages per second, counting the N inbound messages only.
* ``CPU per message`` is the CPU time (user + system, all threads) spent while
  sending and processing, divided by N: for the daemon in all, split into its
  main process and its other processes (a runner process, if it has one), and
  for the bench process (client threads and capture server). On two cores the
  sum of the daemon's and the bench's figures bounds the end-to-end rate at
  about 2000 / (sum in ms) messages per second, however well the work overlaps.
  A PostgreSQL server's CPU is printed apart when it runs on this machine
  (every process named ``postgres``, so nothing else should use one).
  With ``--daemons N`` each daemon's figure is printed too: flat per
  message from one daemon to three is what shows that they share the
  work rather than repeat it (two cores cannot show more throughput).
* ``mail-parser, one read`` is the CPU of reading each message once with
  mail-parser (in the bench process, between the phases), and ``floor + one
  read`` adds the floor's: the least any daemon built on
  aiosmtpd and mail-parser can spend on a message, before it threads,
  records or answers it. The daemon's CPU is printed as a multiple of it.
* ``ratio`` is the end-to-end median over the median of the sink in the bench
  process. The aims are printed with MET / NOT MET: at least 250
  messages/s end to end, a ratio of at least 0.25 to the sink and of at
  least 0.5 to the durable floor, and at most 1.5 ms of daemon CPU per
  message.
* Warnings after the table (a daemon slow to stop on SIGTERM, processes left
  behind, errors in its log) do not change the figures but are faults of the
  daemon worth fixing.

Usage::

    .venv/bin/python bench/ingest.py                     # 2,000 messages, 3 runs, SQLite
    .venv/bin/python bench/ingest.py --messages 500 --runs 1
    .venv/bin/python bench/ingest.py --database postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/ingest.py --database postgresql://… --daemons 3   # three daemons, one store
    .venv/bin/python bench/ingest.py --keep             # keep the temp dir: configs, daemon logs
    .venv/bin/python bench/ingest.py --runs 1 --attach \\
        ".venv/bin/py-spy record --subprocesses --threads -o /tmp/daemon.svg --pid {pid}"
    PYTHONPATH=/tmp/other-checkout .venv/bin/python bench/ingest.py   # measure another tree

With a ``postgresql://`` URL a fresh database ``<name>_bench_<pid>_<run>`` is
created on that server for each run (the role needs CREATEDB) and dropped
afterwards. Everything listens on 127.0.0.1 on free ports and lives in a
temporary directory (removed unless ``--keep`` or a failure). Each daemon
phase is bounded by ``--timeout`` (default 300 s) and given up sooner when no
outbound message arrives for 30 s; the daemon gets 30 s to stop after SIGTERM,
then its process group is killed. Exit status: 0 when every run was correct,
whether or not the aims were met; 1 when a check failed.

The test mail is built by ``ingest_mail.py``; the SMTP client, the sink, the
capture server and the process handling are in ``ingest_servers.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the two helper modules beside this file
from ingest_mail import AGENTS, DEPARTMENTS, build_streams
from ingest_servers import (
    BenchError,
    CaptureHandler,
    SinkHandler,
    cpu_of_command,
    cpu_seconds,
    free_port,
    send_all,
    serve_sink,
    stop_daemon,
    tail,
    wait_for_smtp,
    wait_settled,
)

BIN = Path(sys.executable).parent
DEFAULT_SENSEDESK = str(BIN / "sensedesk") if (BIN / "sensedesk").exists() else shutil.which("sensedesk") or "sensedesk"
SENSEDESK = [DEFAULT_SENSEDESK]  # the command, as a list; --sensedesk replaces it

AIM_RATE = 250.0
AIM_RATIO = 0.25
AIM_DURABLE_RATIO = 0.5
AIM_CPU_MS = 1.5
REPLY_SHARE = 0.30
STALL = 30.0  # seconds without a new outbound message before a daemon run is given up


# --------------------------------------------------------------------------- the two phases

def read_cost(streams) -> float:
    """CPU ms per message of reading every message once with mail-parser, in this thread.

    Together with the durable floor, it is the least any daemon built on
    aiosmtpd and mail-parser spends on a message before doing anything with
    it: printed beside the daemon's figure so the CPU aim can be read against it.
    """
    import mailparser

    raws = [m[2] for stream in streams for m in stream]
    start = time.thread_time()
    for raw in raws:
        mailparser.parse_from_bytes(raw)
    return (time.thread_time() - start) * 1000 / len(raws)


def run_sink(streams, total: int, timeout: float, in_process: bool = False, durable: Path | None = None) -> dict:
    """One sink run: messages per second from the first connection to the last 250, and CPU per message.

    With ``durable`` (a path for its SQLite file) the sink in its own process
    commits each message there before its 250: the durable floor.
    """
    port = free_port()
    if in_process:
        controller = Controller(SinkHandler(), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            bench0 = time.process_time()
            t0, t_end, errors = send_all(port, streams, timeout)
            bench = time.process_time() - bench0
        finally:
            controller.stop()
        if errors:
            raise BenchError("sending to the sink failed: " + "; ".join(errors[:3]))
        # Server and client share this process: all of its CPU is counted as the server's.
        return {"rate": total / (t_end - t0), "server_ms": 1000 * bench / total, "bench_ms": 0.0}
    proc = subprocess.Popen([sys.executable, __file__, "--serve-sink", str(port)]
                            + (["--durable-file", str(durable)] if durable else []),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise BenchError("the sink did not start")
        server0, bench0 = cpu_seconds(proc.pid), time.process_time()
        t0, t_end, errors = send_all(port, streams, timeout)
        server, bench = cpu_seconds(proc.pid) - server0, time.process_time() - bench0
        if errors:
            raise BenchError("sending to the sink failed: " + "; ".join(errors[:3]))
        return {"rate": total / (t_end - t0), "server_ms": 1000 * server / total, "bench_ms": 1000 * bench / total}
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def write_config(path: Path, var_dir: Path, url: str, smtp_port: int, relay_port: int,
                 dkim_key: Path | None = None) -> None:
    """The daemon's configuration: two departments, SMTP in on a free port, the capture server as relay.

    With ``dkim_key`` every outbound message is signed with it (``--dkim``).
    """
    dkim = f'dkim_selector = "bench"\ndkim_key_file = "{dkim_key}"\n' if dkim_key else ""
    depts = "".join(
        f'\n[[departments]]\nslug = "{slug}"\nname = "{name}"\naddresses = ["{address}"]\n'
        f'agents = ["{agent}"]\nnotify = ["{agent}"]\nreopen_days = 14\nlanguage = "{lang}"\n'
        for slug, name, address, agent, lang, _ in DEPARTMENTS)
    path.write_text(f"""# written by bench/ingest.py
[site]
name = "Sensedesk bench"
mail_domain = "example.test"
var_dir = "{var_dir}"

[database]
url = "{url}"

[smtp_in]
listen = "127.0.0.1:{smtp_port}"

[smtp_out]
transport = "smtp"
host = "127.0.0.1"
port = {relay_port}
timeout_seconds = 30
{dkim}{depts}""")


def sensedesk(config: Path, *args: str, timeout: float = 120) -> str:
    """Run a sensedesk subcommand on this configuration; its standard output, or BenchError."""
    done = subprocess.run(SENSEDESK + ["--config", str(config), *args], check=False, capture_output=True,
                          text=True, timeout=timeout, cwd=config.parent)
    if done.returncode != 0:
        raise BenchError(f"sensedesk {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def code_state() -> str:
    """Which maild the daemon will run: its directory, and the git commit (with a mark if changed)."""
    python = SENSEDESK[0] if SENSEDESK[0].endswith(("python", "python3")) else sys.executable
    try:
        where = subprocess.run([python, "-c", "import maild, os; print(os.path.dirname(maild.__file__))"],
                               check=False, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "maild: (unknown)"
    if not where:
        return "maild: (not importable)"
    try:
        top = Path(where).parent
        rev = subprocess.run(["git", "-C", str(top), "rev-parse", "--short", "HEAD"], check=False,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(top), "status", "--porcelain", "maild", "templates"],
                               check=False, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = dirty = ""
    return f"maild: {where}" + (f" (git {rev}{', with uncommitted changes' if dirty else ''})" if rev else "")


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def verify(config: Path, streams, capture: CaptureHandler, expected: dict) -> None:
    """Every spool row processed, replies on their cases, every outbox row sent, nothing extra."""
    total = sum(len(s) for s in streams)
    spool = json_lines(sensedesk(config, "spool", "list", "--json", "--limit", str(total * 2 + 100)))
    problems = []
    if len(spool) != total:
        problems.append(f"{len(spool)} spool rows, expected {total}")
    states: dict[str, int] = {}
    for row in spool:
        states[row["state"]] = states.get(row["state"], 0) + 1
    if states.get("processed", 0) != len(spool):
        bad = [r for r in spool if r["state"] != "processed"][:3]
        problems.append(f"spool states {states}; e.g. {bad}")
    case_of = {r["message_id"]: r["case"] for r in spool}
    misthreaded = 0
    for stream in streams:
        for _, _, _, (kind, mid, other) in stream:
            if kind == "reply" and case_of.get(mid.strip("<>")) != case_of.get(other.strip("<>")):
                misthreaded += 1
    if misthreaded:
        problems.append(f"{misthreaded} replies not threaded onto the case of the mail they answer")
    new_cases = {r["case"] for r in spool if r["state"] == "processed"}
    if len(new_cases) != expected["ack"]:
        problems.append(f"{len(new_cases)} cases, expected {expected['ack']}")
    outbox = json_lines(sensedesk(config, "outbox", "list", "--json", "--limit", str(total * 4 + 100)))
    kinds: dict[str, int] = {}
    for row in outbox:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    want = {"ack": expected["ack"], "new_case": expected["new_case"], "customer_reply": expected["customer_reply"]}
    if kinds != want:
        problems.append(f"outbox kinds {kinds}, expected {want}")
    unsent = [r for r in outbox if r["state"] != "sent"]
    if unsent:
        problems.append(f"{len(unsent)} outbox rows not sent, e.g. {unsent[:2]}")
    with capture.lock:
        got, got_kinds = capture.count, dict(capture.kinds)
    if got != expected["total"] or got_kinds != {"ack": expected["ack"],
                                                 "agent": expected["new_case"] + expected["customer_reply"]}:
        problems.append(f"capture server got {got} {got_kinds}, expected {expected['total']}")
    if problems:
        raise BenchError("the daemon run was not correct:\n  " + "\n  ".join(problems))


class PgDatabases:
    """Fresh databases on the PostgreSQL server of a URL, one per run."""

    def __init__(self, url: str):
        import psycopg2  # noqa: F401 (fail early if the driver is missing)

        self.parts = urlsplit(url)
        self.base = (self.parts.path.lstrip("/") or "sensedesk")
        self.made: list[str] = []

    def _admin(self):
        import psycopg2

        p = self.parts
        conn = psycopg2.connect(host=p.hostname or "127.0.0.1", port=p.port or 5432,
                                user=unquote(p.username or "") or None,
                                password=unquote(p.password or "") or None, dbname="postgres")
        conn.autocommit = True
        return conn

    def create(self, run: int) -> str:
        name = f"{self.base}_bench_{os.getpid()}_{run}"
        conn = self._admin()
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        self.made.append(name)
        return urlunsplit(self.parts._replace(path="/" + name))

    def drop_all(self) -> None:
        import psycopg2

        for name in self.made:
            try:
                conn = self._admin()
                with conn.cursor() as cur:
                    cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.close()
            except (OSError, psycopg2.Error) as exc:
                print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)


def run_daemon(run: int, workdir: Path, url: str, streams, expected: dict, capture_port: int,
               capture: CaptureHandler, timeout: float, attach: str = "", dkim: bool = False,
               daemons: int = 1) -> dict:
    """One daemon run: end-to-end and accept-only msg/s, CPU per message, error lines in the log, warnings.

    With ``daemons`` > 1 that many daemons share the store (PostgreSQL), the
    client connections spread over their SMTP ports in turn.
    """
    total = sum(len(s) for s in streams)
    rundir = workdir / f"run{run}"
    rundir.mkdir()
    dkim_key = None
    if dkim:
        dkim_key = rundir / "dkim.pem"
        subprocess.run(["openssl", "genrsa", "-out", str(dkim_key), "2048"], check=True, capture_output=True)
    configs, ports = [], []
    for n in range(daemons):
        home = rundir if daemons == 1 else rundir / f"daemon{n + 1}"
        home.mkdir(exist_ok=True)
        ports.append(free_port())
        configs.append(home / "sensedesk.toml")
        write_config(configs[-1], home / "var", url, ports[-1], capture_port, dkim_key)
    config = configs[0]
    sensedesk(config, "init")
    logs = [c.parent / "daemon.log" for c in configs]
    capture.arm(expected["total"])
    procs = []
    for c, log in zip(configs, logs):
        with open(log, "wb") as log_file:
            procs.append(subprocess.Popen(SENSEDESK + ["--config", str(c), "maild"], cwd=c.parent,
                                          stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True))
    profiler = None
    stop_warnings: list[str] = []
    try:
        for port, proc, log in zip(ports, procs, logs):
            wait_for_smtp(port, proc, 60, log)
        # The runner loads its parse worker and language model at start; the
        # clock starts once that is done, as it is for a daemon in service.
        wait_settled([p.pid for p in procs])
        (rundir / "daemon.pid").write_text(str(procs[0].pid))
        if attach:
            profiler = subprocess.Popen(attach.replace("{pid}", str(procs[0].pid)), shell=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # let it attach before the clock starts
        servers0 = [cpu_seconds(pgid=p.pid) for p in procs]
        mains0 = [cpu_seconds(p.pid) for p in procs]
        postgres0, bench0 = cpu_of_command("postgres"), time.process_time()
        t0, t_accepted, errors = send_all(ports, streams, timeout)
        if errors:
            raise BenchError("sending to the daemon failed: " + "; ".join(errors[:3]) + f"\nlog:\n{tail(logs[0])}")
        # Wait for the last expected message; give up after the time limit, or
        # sooner when nothing has arrived for STALL seconds (a stuck daemon).
        last_count, last_change = -1, time.perf_counter()
        while not capture.done.wait(0.5):
            now = time.perf_counter()
            if capture.count != last_count:
                last_count, last_change = capture.count, now
            exited = any(p.poll() is not None for p in procs)
            if now - t0 > timeout or now - last_change > STALL or exited:
                why = ("a daemon exited" if exited else
                       f"nothing arrived for {STALL:.0f} s" if now - last_change > STALL else
                       f"the time limit of {timeout:.0f} s passed")
                raise BenchError(f"only {capture.count} of {expected['total']} outbound messages arrived "
                                 f"({why}); daemon log:\n{tail(logs[0])}")
        t_done = capture.done_at
        servers = [cpu_seconds(pgid=p.pid) - s0 for p, s0 in zip(procs, servers0)]
        mains = [cpu_seconds(p.pid) - m0 for p, m0 in zip(procs, mains0)]
        postgres = cpu_of_command("postgres") - postgres0
        bench = time.process_time() - bench0
        time.sleep(0.3)  # anything extra would arrive now, and fail the check below
    finally:
        for proc in procs:
            stop_warnings += stop_daemon(proc)
        if profiler is not None:
            try:
                profiler.wait(timeout=60)  # it writes its output once the daemon is gone
            except subprocess.TimeoutExpired:
                profiler.kill()
    verify(config, streams, capture, expected)
    error_lines = sum(1 for log in logs for line in log.read_text(errors="replace").splitlines()
                      if " ERROR " in line or "Traceback" in line)
    return {"rate": total / (t_done - t0), "accept": total / (t_accepted - t0), "errors": error_lines,
            "warnings": stop_warnings, "server_ms": 1000 * sum(servers) / total, "bench_ms": 1000 * bench / total,
            "main_ms": 1000 * sum(mains) / total, "each_ms": [1000 * s / total for s in servers],
            "postgres_ms": 1000 * postgres / total if url.startswith("postgres") else None}


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    """Run the benchmark; 0 when every run was correct, 1 when a check failed."""
    parser = argparse.ArgumentParser(description="End-to-end ingest benchmark beside a bare aiosmtpd sink "
                                     "(see the module docstring for how to read the output).")
    parser.add_argument("--messages", type=int, default=2000, help="messages per run (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="runs; medians are reported (default 3)")
    parser.add_argument("--database", default="", help="postgresql:// URL of a server to create a fresh "
                        "database on per run (default: a fresh SQLite file per run in the temp dir)")
    parser.add_argument("--connections", type=int, default=4, help="parallel SMTP connections (default 4)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per phase (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (configs, daemon logs)")
    parser.add_argument("--dkim", action="store_true", help="sign every outbound message with DKIM "
                        "(a fresh 2048-bit RSA key per run)")
    parser.add_argument("--attach", default="", help="a profiler command started against the daemon once it "
                        "listens, {pid} replaced by its pid, e.g. 'py-spy record --subprocesses --threads "
                        "-o prof.svg --pid {pid}' (it ends with the daemon; figures taken so are not comparable)")
    parser.add_argument("--sensedesk", default="", help="the sensedesk command to benchmark (default: "
                        f"{DEFAULT_SENSEDESK}), e.g. another checkout's")
    parser.add_argument("--daemons", type=int, default=1, help="daemons sharing the store, the connections "
                        "spread over them (more than one needs --database; default 1)")
    parser.add_argument("--serve-sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--durable-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sink:
        return serve_sink(args.serve_sink, args.durable_file)
    if args.messages < 10 or args.runs < 1 or args.connections < 1:
        parser.error("need --messages >= 10, --runs >= 1, --connections >= 1")
    if args.database and not args.database.startswith(("postgresql://", "postgres://")):
        parser.error("--database takes a postgresql:// URL (SQLite is the default)")
    if args.daemons < 1 or (args.daemons > 1 and not args.database):
        parser.error("--daemons above 1 needs --database: SQLite is one daemon's store")

    if args.sensedesk:
        SENSEDESK[:] = args.sensedesk.split()
    try:
        streams = build_streams(args.messages, args.connections, REPLY_SHARE)
    except ValueError as exc:
        parser.error(f"{exc}: give more --messages or fewer --connections")
    news = sum(1 for s in streams for m in s if m[3][0] == "new")
    replies = args.messages - news
    expected = {"ack": news, "new_case": news, "customer_reply": replies, "total": 2 * news + replies}
    sizes = [len(m[2]) for s in streams for m in s]
    store = "PostgreSQL (fresh database per run)" if args.database else \
        "SQLite, WAL + synchronous=FULL (fresh file per run)"
    print(f"Sensedesk ingest benchmark: {args.messages} messages ({news} new, {replies} replies; "
          f"{min(sizes)}-{max(sizes)} bytes, mean {statistics.mean(sizes):.0f}), "
          f"{args.connections} connections, {args.runs} run(s)")
    if args.dkim:
        store += "; every outbound message signed with DKIM (RSA 2048)"
    if args.daemons > 1:
        store += f"; {args.daemons} daemons sharing it"
    print(f"store: {store}; {os.cpu_count()} CPUs; expected outbound per run: {expected['total']} "
          f"({news} acks + {news} new_case + {replies} customer_reply)")
    print(f"{code_state()}; load average at start {os.getloadavg()[0]:.2f} "
          "(other work on this machine skews every figure)", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="sdbench", dir="/tmp"))
    capture = CaptureHandler(AGENTS)
    capture_port = free_port()
    controller = Controller(capture, hostname="127.0.0.1", port=capture_port)
    pg = PgDatabases(args.database) if args.database else None
    sinks, daemons = [], []
    status = 0
    try:
        controller.start()
        for run in range(1, args.runs + 1):
            sinks.append({"shared": run_sink(streams, args.messages, args.timeout, in_process=True),
                          "own": run_sink(streams, args.messages, args.timeout, in_process=False),
                          "durable": run_sink(streams, args.messages, args.timeout,
                                              durable=workdir / f"durable{run}.db"),
                          "read_ms": read_cost(streams)})
            url = pg.create(run) if pg else f"sqlite:///{workdir}/run{run}/sensedesk.db"
            daemons.append(run_daemon(run, workdir, url, streams, expected, capture_port, capture,
                                      args.timeout, args.attach, args.dkim, args.daemons))
            sink = sinks[-1]
            print(f"  run {run}: sink {sink['shared']['rate']:.0f}/s (own process {sink['own']['rate']:.0f}/s), "
                  f"daemon accept {daemons[-1]['accept']:.0f}/s, "
                  f"end to end {daemons[-1]['rate']:.0f}/s (checked: all processed, threaded, sent)", flush=True)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    finally:
        controller.stop()
        if pg:
            pg.drop_all()
        if args.keep or status:
            print(f"temp dir kept: {workdir}", file=sys.stderr if status else sys.stdout)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if status:
        return status
    report(sinks, daemons)
    return 0


def report(sinks: list[dict], daemons: list[dict]) -> None:
    """The table: one column per run, then the median; the aims."""
    def row(label, values, unit, digits=0):
        cells = "".join(f"{v:>9.{digits}f}" for v in values)
        return f"{label:<40}{cells}{statistics.median(values):>9.{digits}f}  {unit}"

    median = statistics.median
    print()
    print(f"{'':<40}" + "".join(f"{'run ' + str(i):>9}" for i in range(1, len(sinks) + 1)) + f"{'median':>9}")
    print(row("bare aiosmtpd sink (in the bench process)", [r["shared"]["rate"] for r in sinks], "msg/s"))
    print(row("bare aiosmtpd sink (in its own process)", [r["own"]["rate"] for r in sinks], "msg/s"))
    print(row("durable floor (own process, SQLite commit)", [r["durable"]["rate"] for r in sinks], "msg/s"))
    print(row("daemon, SMTP accept only", [r["accept"] for r in daemons], "msg/s"))
    print(row("daemon, end to end", [r["rate"] for r in daemons], "msg/s"))
    print(row("CPU per message: sink, own process", [r["own"]["server_ms"] for r in sinks], "ms", 2))
    print(row("CPU per message: durable floor", [r["durable"]["server_ms"] for r in sinks], "ms", 2))
    print(row("CPU per message: mail-parser, one read", [r["read_ms"] for r in sinks], "ms", 2))
    print(row("  floor + one read: least possible", [r["durable"]["server_ms"] + r["read_ms"] for r in sinks],
              "ms", 2))
    print(row("CPU per message: daemon, in all", [r["server_ms"] for r in daemons], "ms", 2))
    if any(r["server_ms"] - r["main_ms"] > 0.05 for r in daemons):
        print(row("  its main process", [r["main_ms"] for r in daemons], "ms", 2))
        print(row("  its other processes (the runner)", [r["server_ms"] - r["main_ms"] for r in daemons], "ms", 2))
    if len(daemons[0]["each_ms"]) > 1:
        for n in range(len(daemons[0]["each_ms"])):
            print(row(f"  daemon {n + 1}", [r["each_ms"][n] for r in daemons], "ms", 2))
    if daemons[0]["postgres_ms"] is not None:
        print(row("CPU per message: PostgreSQL server (local)", [r["postgres_ms"] for r in daemons], "ms", 2))
    print(row("CPU per message: bench (client, capture)", [r["bench_ms"] for r in daemons], "ms", 2))
    e2e = median(r["rate"] for r in daemons)
    shared, own = median(r["shared"]["rate"] for r in sinks), median(r["own"]["rate"] for r in sinks)
    ratio = e2e / shared
    print()
    print(f"end to end: {e2e:.0f} msg/s  (aim >= {AIM_RATE:.0f}: {'MET' if e2e >= AIM_RATE else 'NOT MET'})")
    print(f"ratio end to end / sink: {ratio:.2f}  (aim >= {AIM_RATIO:.2f}: "
          f"{'MET' if ratio >= AIM_RATIO else 'NOT MET'}); against the sink in its own process: {e2e / own:.2f}")
    durable = median(r["durable"]["rate"] for r in sinks)
    print(f"ratio end to end / durable floor: {e2e / durable:.2f}  (aim >= {AIM_DURABLE_RATIO:.2f}: "
          f"{'MET' if e2e / durable >= AIM_DURABLE_RATIO else 'NOT MET'})")
    cpu = median(r["server_ms"] for r in daemons)
    least = median(r["durable"]["server_ms"] + r["read_ms"] for r in sinks)
    verdict = "MET" if cpu <= AIM_CPU_MS else "NOT MET"
    print(f"daemon CPU per message: {cpu:.2f} ms  (aim <= {AIM_CPU_MS:.1f}: {verdict}); "
          f"{cpu / least:.1f} x the durable floor plus one mail-parser read ({least:.2f} ms)")
    errors = [r["errors"] for r in daemons]
    if any(errors):
        print(f"note: the daemon logged errors (lines per run: {errors}); see its log with --keep")
    for run, r in enumerate(daemons, 1):
        for warning in r["warnings"]:
            print(f"warning: run {run}: {warning}")


if __name__ == "__main__":
    sys.exit(main())

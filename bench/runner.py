"""The runner alone: how much CPU processing a spooled message costs, without SMTP.

What it measures
----------------
The same test mail as ``bench/ingest.py`` (70 % new requests from distinct
senders, 30 % replies; ``ingest_mail.py``) is committed to the spool of a
fresh SQLite store, as the SMTP receiver would. Then ``runner.drain`` takes
it all in this process, with its parse worker warm: reading each message,
threading it, recording it, and writing the acknowledgements and notices to
the outbox (nothing is sent: the outbox is the end here). The figure is the
CPU of this process and of its parse worker while draining, per message.

It is measured beside a baseline taken in the same run: reading each message
once with mail-parser in this process, the least the runner could spend.
There is no second process competing for the two cores and no network, so
the figure moves far less from run to run than ``bench/ingest.py``'s: use it
to weigh a change to the runner, and ``bench/ingest.py`` for the whole daemon.

Each run is checked: every spool row processed, one case per new mail, every
reply on its case, and an acknowledgement and a notice for each new mail and
a notice for each reply in the outbox. A wrong answer fails the bench.

Usage::

    .venv/bin/python bench/runner.py                      # 1,000 messages, 5 runs
    .venv/bin/python bench/runner.py --messages 2000 --runs 3
    PYTHONPATH=/tmp/other-checkout .venv/bin/python bench/runner.py   # measure another tree

Exit status: 0 when every run was correct, 1 when a check failed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this file
from ingest import code_state, read_cost, write_config
from ingest_mail import build_streams

from maild import config as configuration
from maild import context, language, people, runner, spool
from maild.doorbell import Doorbell, SharedFlag
from maild.mail import worker
from maild.store import db as store
from maild.store.models import Case, Entry, Outbox, Spool


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the parse worker, once stopped)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _check(streams) -> None:
    """Every row processed, one case per new mail, each reply on its case, the outbox as expected."""
    mails = [m for stream in streams for m in stream]
    news = [m for m in mails if m[3][0] == "new"]
    left = Spool.select().where(Spool.state != "processed").count()
    if left:
        raise SystemExit(f"FAILED: {left} spool row(s) not processed")
    if Case.select().count() != len(news):
        raise SystemExit(f"FAILED: {Case.select().count()} cases for {len(news)} new mails")
    case_of = {e.message_id: e.case_id for e in Entry.select(Entry.message_id, Entry.case)}
    for _, _, _, (kind, message_id, original) in mails:
        if kind == "reply" and case_of.get(message_id.strip("<>")) != case_of.get(original.strip("<>")):
            raise SystemExit(f"FAILED: reply {message_id} is not on the case of {original}")
    expected = 2 * len(news) + (len(mails) - len(news))
    if Outbox.select().count() != expected:
        raise SystemExit(f"FAILED: {Outbox.select().count()} outbox rows, expected {expected}")


def run_once(streams, workdir: Path) -> float:
    """Spool every message into a fresh store, drain it; the CPU ms per message of the drain."""
    config_path = workdir / "sensedesk.toml"
    # Ports are written but never used: nothing listens, and the outbox is not sent.
    write_config(config_path, workdir / "var", f"sqlite:///{workdir}/sensedesk.db", 2525, 2526)
    config_path.write_text(config_path.read_text().replace('transport = "smtp"', 'transport = "maildir"'))
    config = configuration.load(str(config_path))
    db = store.connect(config["database"]["url"])
    store.migrate(db)
    context.ensure_settings(db)
    db.close()
    ctx = context.build(config)
    people.load_staff(ctx)
    ctx.spool_wakeup, ctx.outbox_wakeup = Doorbell(), Doorbell()
    ctx.intake_waiting = SharedFlag()
    total = 0
    for stream in streams:
        for mail_from, rcpt, raw, _ in stream:
            spool.accept(ctx.db, raw, spool.Envelope(mail_from=mail_from, rcpt_tos=[rcpt]), "smtp")
            total += 1
    language.warm()
    # A child's CPU is counted once it has ended, and over its whole life:
    # the parse worker's start is measured alone first, and taken off.
    start = _cpu()
    worker.warm(config["mail"]["parse_megabytes"])
    worker.stop_all()
    worker_start = _cpu() - start
    worker.warm(config["mail"]["parse_megabytes"])
    start = _cpu()
    runner.drain(ctx)
    worker.stop_all()
    spent = _cpu() - start - worker_start
    _check(streams)
    store.shutdown(ctx.db)
    ctx.spool_wakeup.close()
    ctx.outbox_wakeup.close()
    return spent * 1000 / total


def main(argv=None) -> int:
    """Run the benchmark; 0 when every run was correct."""
    parser = argparse.ArgumentParser(description="The runner alone, on a spool of test mail (see the docstring).")
    parser.add_argument("--messages", type=int, default=1000, help="messages per run (default 1000)")
    parser.add_argument("--runs", type=int, default=5, help="runs; medians are reported (default 5)")
    args = parser.parse_args(argv)
    if args.messages < 10 or args.runs < 1:
        parser.error("need --messages >= 10 and --runs >= 1")
    streams = build_streams(args.messages, 1)
    print(f"Sensedesk runner benchmark: {args.messages} messages spooled and drained in this process, "
          f"{args.runs} run(s), SQLite")
    print(f"{code_state()}", flush=True)
    drained, read = [], []
    for run in range(1, args.runs + 1):
        workdir = Path(tempfile.mkdtemp(prefix="sdrunner", dir="/tmp"))
        try:
            read.append(read_cost(streams))
            drained.append(run_once(streams, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"  run {run}: runner {drained[-1]:.2f} ms, one mail-parser read {read[-1]:.2f} ms "
              f"(checked: all processed, threaded, queued)", flush=True)
        time.sleep(0.5)
    print()
    print(f"runner and parse worker, CPU per message: {statistics.median(drained):.2f} ms (median; "
          f"{min(drained):.2f}-{max(drained):.2f})")
    print(f"baseline, one mail-parser read of each:   {statistics.median(read):.2f} ms; "
          f"ratio {statistics.median(drained) / statistics.median(read):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

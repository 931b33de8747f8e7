"""The daemon: SMTP receiver, spool writer, runner, outbox worker and scheduler.

Intake never waits for processing. The SMTP receiver, the spool writer, the
outbox worker and the scheduler are threads of the main process; the runner,
which parses and threads every message and is the most CPU-hungry part, is a
process of its own so that the two do not share one interpreter lock
(docs/architecture.md, "Where the speed comes from"). The two ring each other's doorbell
(maild/doorbell.py) when there is work and otherwise look once a second. The
runner process stops with the daemon, and by itself if the daemon dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler

from maild import claimer, context, health, jobs, language, lease, people, runner
from maild.config import Config
from maild.doorbell import Doorbell, SharedFlag
from maild.intake.imap import Poller
from maild.intake.smtp import Receiver
from maild.mail import worker
from maild.outbound import outbox, sender
from maild.outbound.transport import make_transport
from maild.spool import SpoolWriter
from maild.store import db as store
from maild.store.models import utcnow

log = logging.getLogger(__name__)

IDLE_WAIT = 1.0
ERROR_PAUSE = 2.0
WATCH_SECONDS = 0.2  # how often serve_forever looks at its parts
# Open files the daemon asks for: every SMTP session and portal request is one.
FILE_LIMIT = 65536
# "spawn": the runner starts clean, with no copy of the parent's store
# connections or threads (forking those is unsafe).
_MP = multiprocessing.get_context("spawn")


def _raise_file_limit() -> None:
    """Lift the soft limit on open files towards the hard one.

    systemd starts services with a soft limit of 1024; the SMTP session caps
    keep the daemon below it by default, but a site that raises them should
    not meet EMFILE first.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FILE_LIMIT if hard == resource.RLIM_INFINITY else min(hard, FILE_LIMIT)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def work_loop(ctx, wakeup, stopping, work, alive=lambda: True) -> None:
    """Run ``work`` until it finds nothing, then wait for ``wakeup`` (or a second); repeat.

    The loop boundary of the runner and the outbox worker: a store outage
    pauses the loop, it never ends it.
    """
    while not stopping.is_set() and alive():
        wakeup.wait(IDLE_WAIT)
        wakeup.clear()
        try:
            while work() and not stopping.is_set():
                pass
        except Exception:
            log.exception("%s: error, pausing", threading.current_thread().name)
            ctx.db.close()
            time.sleep(ERROR_PAUSE)
    ctx.db.close()


def runner_process(config: Config, spool_wakeup, outbox_wakeup, intake_waiting, parent: int) -> None:
    """Entry point of the runner process: process the spool until SIGTERM or the daemon is gone."""
    # The daemon decides when to stop; a terminal's Ctrl-C reaches the whole
    # process group, and the runner must finish its row, not die mid-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # systemd sends SIGTERM to every process of the unit; finish the batch, then stop.
    terminated = []
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s runner %(name)s: %(message)s")
    ctx = context.build(config)
    people.load_staff(ctx)
    ctx.spool_wakeup, ctx.outbox_wakeup, ctx.intake_waiting = spool_wakeup, outbox_wakeup, intake_waiting
    threading.current_thread().name = "runner"
    # Rows a previous life of this runner claimed (killed, or the machine
    # restarted) are taken again at once.
    recovered = runner.recover_claims(ctx.db, utcnow(), at_startup=True)
    if recovered:
        log.warning("took back %d spool row(s) claimed by a runner that is gone", recovered)
    # The parse worker and the language model take about a second to load:
    # paid now, not by whichever mail comes first. The model loads beside
    # the work loop, so the runner takes mail at once (a message that needs
    # the model meanwhile waits for that one load).
    try:
        worker.warm(config["mail"]["parse_megabytes"])
    except worker.WorkerDied as exc:  # each message will try again, and fail by name if it must
        log.error("%s", exc)
    threading.Thread(target=language.warm, name="language-model", daemon=True).start()
    try:
        work_loop(ctx, spool_wakeup, threading.Event(), lambda: runner.run_batch(ctx) and not terminated,
                  alive=lambda: not terminated and os.getppid() == parent)
    finally:
        worker.stop_all()


class Daemon:
    """Everything ``sensedesk maild`` runs, started and stopped together."""

    def __init__(self, config: Config):
        self.config = config
        self.ctx = context.build(config)
        # Shared with the runner process.
        self.ctx.spool_wakeup, self.ctx.outbox_wakeup = Doorbell(_MP), Doorbell(_MP)
        self.ctx.intake_waiting = SharedFlag(_MP)
        self.stopping = threading.Event()
        self.writer = SpoolWriter(self.ctx.db, on_commit=self.ctx.spool_wakeup.set,
                                  waiting=self.ctx.intake_waiting)
        self.receiver = Receiver(config, self.writer) if config["smtp_in"]["listen"] else None
        self.runner = _MP.Process(target=runner_process, name="sensedesk-runner", daemon=True,
                                  args=(config, self.ctx.spool_wakeup, self.ctx.outbox_wakeup,
                                        self.ctx.intake_waiting, os.getpid()))
        self.sender = threading.Thread(target=self._run_sender, name="outbox", daemon=True)
        self.pollers = [Poller(self.ctx, account, self.stopping) for account in config.imap]
        # Parts the composition root adds (the portal in `sensedesk run`): start(), stop(),
        # is_alive() and a name.
        self.extras: list = []
        self.name = health.own_name()
        self.started_at = utcnow()
        # The portal's /healthz asks this, when the portal runs inside the daemon.
        self.ctx.health = self.down
        self.scheduler = BackgroundScheduler(timezone="UTC")
        for name, function, seconds, once in jobs.JOBS:
            self.scheduler.add_job(self._job, "interval", seconds=seconds, id=name,
                                   args=(function, f"job:{name}" if once else "", seconds),
                                   max_instances=1, coalesce=True)

    def _job(self, function, lease_name: str = "", seconds: float = 0) -> None:
        """Run one job now; one with a lease only if this daemon holds it (for its interval)."""
        try:  # loop boundary: one job's failure is logged, the scheduler goes on
            now = utcnow()
            if lease_name and not lease.take(self.ctx.db, lease_name, claimer.me(), seconds, now):
                return  # another daemon sharing the store runs it
            function(self.ctx, now)
        except Exception:
            log.exception("job %s failed", function.__name__)
            # The scheduler's threads live long: drop a connection that may be
            # dead, so the next run opens a fresh one.
            self.ctx.db.close()

    def start(self) -> None:
        """Start every part; returns once SMTP is listening."""
        _raise_file_limit()
        self.started_at = utcnow()
        removed = health.forget_stale_of_host(self.name.rpartition(":")[0], self.started_at)
        if removed:
            log.info("cleared %d health report(s) of earlier runs that did not stop cleanly", removed)
        # A claim left by a previous life of this daemon (killed, or the machine
        # restarted) is sent again at once, with the same Message-ID.
        recovered = outbox.recover_dead_workers(self.ctx.db, utcnow(), at_startup=True)
        if recovered:
            log.warning("re-queued %d outbox row(s) left sending by a process that is gone", recovered)
        self.runner.start()
        self.writer.start()
        self.sender.start()
        for poller in self.pollers:
            poller.start()
        self.scheduler.start()
        if self.receiver:
            self.receiver.start()
            log.info("SMTP listening on %s:%s", self.receiver.host, self.receiver.port)
        for extra in self.extras:
            extra.start()
        self.ctx.spool_wakeup.set()

    def stop(self) -> None:
        """Stop accepting mail, finish the current work, and stop every part."""
        self.ctx.health = None
        for extra in self.extras:
            extra.stop()
        if self.receiver:
            self.receiver.stop()
        self.writer.stop()
        self.stopping.set()
        if self.runner.is_alive():
            self.runner.terminate()  # SIGTERM: it finishes its batch, then stops
        # Rung after the signal: a runner waiting for mail wakes and sees it
        # now, not when its wait runs out (IDLE_WAIT).
        self.ctx.spool_wakeup.set()
        self.ctx.outbox_wakeup.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.sender.join(timeout=30)
        for poller in self.pollers:
            poller.thread.join(timeout=30)
        self.runner.join(timeout=30)
        if self.runner.is_alive():
            log.error("the runner did not stop in time; killing it")
            self.runner.kill()
            self.runner.join(timeout=5)
        try:  # a clean stop leaves no report behind; a failed one only looks stale
            health.forget(self.name)
        except Exception:
            log.exception("could not clear the health report")
        # Everyone who waits on them has stopped: their pipes can go.
        self.ctx.spool_wakeup.close()
        self.ctx.outbox_wakeup.close()
        store.shutdown(self.ctx.db)

    def _run_sender(self) -> None:
        transport = make_transport(self.config)
        try:
            work_loop(self.ctx, self.ctx.outbox_wakeup, self.stopping,
                      lambda: sender.deliver_due(self.ctx, transport))
        finally:
            transport.close()

    def parts(self) -> dict[str, bool]:
        """Every part that must run while the daemon does, and whether it runs."""
        parts = {"spool writer": self.writer.is_alive(), "runner": self.runner.is_alive(),
                 "outbox": self.sender.is_alive(),
                 # APScheduler keeps no public handle on its thread.
                 "scheduler": bool(self.scheduler.running and self.scheduler._thread
                                   and self.scheduler._thread.is_alive())}
        if self.receiver:
            parts["smtp"] = self.receiver.is_alive()
        for poller in self.pollers:
            parts[poller.thread.name] = poller.thread.is_alive()
        for extra in self.extras:
            parts[extra.name] = extra.is_alive()
        return parts

    def down(self) -> list[str]:
        """The parts that have stopped; [] while all run."""
        return health.down(self.parts())

    def _beat(self, now) -> None:
        try:  # loop boundary: a store outage must not stop the daemon's watch
            health.report(self.name, self.parts(), now, self.started_at)
        except Exception:
            log.exception("could not write the health report")
            self.ctx.db.close()

    def serve_forever(self) -> None:
        """Start, then run until SIGTERM or SIGINT, or until a part stops (then exit 1)."""
        # The handler only flips a flag: setting the shared event from inside a
        # signal handler could deadlock on the event's own lock.
        requested = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: requested.append(True))
        self.start()
        next_beat = 0.0
        try:
            while not requested:
                time.sleep(WATCH_SECONDS)
                stopped = self.down()
                if stopped:
                    # A part that stopped never comes back by itself (waitress's
                    # loop, aiosmtpd's thread, the runner): stop all, and let the
                    # service manager restart the daemon (Restart=on-failure).
                    log.error("stopped: %s; stopping the daemon", ", ".join(stopped))
                    raise SystemExit(1)
                if time.monotonic() >= next_beat:
                    self._beat(utcnow())
                    next_beat = time.monotonic() + health.BEAT_SECONDS
        finally:
            self.stop()

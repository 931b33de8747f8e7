"""The daemon: SMTP receiver, spool writer, runner, outbox worker and scheduler.

Each part runs in its own thread with its own store connection. Intake never
waits for processing: the runner and the outbox worker are woken by events
when there is work and otherwise look once a second (DESIGN.md, speed).
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler

from maild import context, jobs, outbox, runner, sender
from maild.config import Config
from maild.intake.smtp import Receiver
from maild.spool import SpoolWriter
from maild.store.models import utcnow
from maild.transport import make_transport

log = logging.getLogger(__name__)

IDLE_WAIT = 1.0
ERROR_PAUSE = 2.0


class Daemon:
    """Everything ``sensedesk maild`` runs, started and stopped together."""

    def __init__(self, config: Config):
        self.config = config
        self.ctx = context.build(config)
        self.stopping = threading.Event()
        self.writer = SpoolWriter(self.ctx.db, on_commit=self.ctx.spool_wakeup.set)
        self.receiver = Receiver(config, self.writer) if config["smtp_in"]["listen"] else None
        self.threads = [threading.Thread(target=self._run_runner, name="runner", daemon=True),
                        threading.Thread(target=self._run_sender, name="outbox", daemon=True)]
        self.scheduler = BackgroundScheduler(timezone="UTC")
        for name, function, seconds in jobs.JOBS:
            self.scheduler.add_job(self._job, "interval", seconds=seconds, id=name, args=(function,),
                                   max_instances=1, coalesce=True)

    def _job(self, function) -> None:
        try:  # loop boundary: one job's failure is logged, the scheduler goes on
            function(self.ctx, utcnow())
        except Exception:
            log.exception("job %s failed", function.__name__)

    def start(self) -> None:
        """Start every part; returns once SMTP is listening."""
        # A claim left by a previous life of this daemon (killed, or the machine
        # restarted) is sent again at once, with the same Message-ID.
        recovered = outbox.recover_dead_workers(self.ctx.db, utcnow(), at_startup=True)
        if recovered:
            log.warning("re-queued %d outbox row(s) left sending by a process that is gone", recovered)
        self.writer.start()
        for thread in self.threads:
            thread.start()
        self.scheduler.start()
        if self.receiver:
            self.receiver.start()
            log.info("SMTP listening on %s:%s", self.receiver.host, self.receiver.port)
        self.ctx.spool_wakeup.set()

    def stop(self) -> None:
        """Stop accepting mail, finish the current work, and stop every part."""
        if self.receiver:
            self.receiver.stop()
        self.writer.stop()
        self.stopping.set()
        self.ctx.spool_wakeup.set()
        self.ctx.outbox_wakeup.set()
        self.scheduler.shutdown(wait=False)
        for thread in self.threads:
            thread.join(timeout=30)

    def _loop(self, wakeup: threading.Event, work) -> None:
        while not self.stopping.is_set():
            wakeup.wait(IDLE_WAIT)
            wakeup.clear()
            try:  # loop boundary: a store outage pauses the loop, never ends it
                while work() and not self.stopping.is_set():
                    pass
            except Exception:
                log.exception("%s: error, pausing", threading.current_thread().name)
                self.ctx.db.close()
                time.sleep(ERROR_PAUSE)
        self.ctx.db.close()

    def _run_runner(self) -> None:
        self._loop(self.ctx.spool_wakeup, lambda: runner.run_batch(self.ctx))

    def _run_sender(self) -> None:
        transport = make_transport(self.config)
        try:
            self._loop(self.ctx.outbox_wakeup, lambda: sender.deliver_due(self.ctx, transport))
        finally:
            transport.close()

    def serve_forever(self) -> None:
        """Start, then run until SIGTERM or SIGINT."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        self.start()
        try:
            while not self.stopping.wait(1.0):
                pass
        finally:
            self.stop()

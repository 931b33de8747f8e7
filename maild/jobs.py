"""The scheduler's job table: each job a plain function ``(ctx, now)``.

APScheduler runs them in its own threads; time comes in as ``now`` so tests
call a job directly with any time they like.
"""

from __future__ import annotations

import logging

from maild import outbox

log = logging.getLogger(__name__)


def recover_outbox(ctx, now) -> None:
    """Return ``sending`` claims of a worker that died to the queue."""
    recovered = outbox.recover_dead_workers(ctx.db, now) + outbox.recover_stale(ctx.db, now)
    if recovered:
        log.warning("recovered %d stale outbox claim(s)", recovered)
        ctx.outbox_wakeup.set()


def wake_runner(ctx, now) -> None:
    """Wake the runner so failed rows due for an automatic retry are taken."""
    ctx.spool_wakeup.set()


# (name, function, interval in seconds)
JOBS = (
    ("outbox-recover", recover_outbox, 60),
    ("spool-retry", wake_runner, 10),
)

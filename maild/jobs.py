"""The scheduler's job table: each job a plain function ``(ctx, now)``.

APScheduler runs them in its own threads; time comes in as ``now`` so tests
call a job directly with any time they like.
"""

from __future__ import annotations

import datetime
import logging

from maild import approvals, purge, reports, retention, runner
from maild.outbound import outbox
from maild.store.models import FormDraft, LoginLink, PortalSession, RateEvent

log = logging.getLogger(__name__)


def recover_outbox(ctx, now) -> None:
    """Return ``sending`` claims of a worker that died to the queue."""
    recovered = outbox.recover_dead_workers(ctx.db, now) + outbox.recover_stale(ctx.db, now)
    if recovered:
        log.warning("recovered %d stale outbox claim(s)", recovered)
        ctx.outbox_wakeup.set()


def recover_spool(ctx, now) -> None:
    """Hand back spool rows claimed by a runner that died (PostgreSQL; several daemons may share it)."""
    recovered = runner.recover_claims(ctx.db, now)
    if recovered:
        log.warning("recovered %d spool row(s) claimed by a runner that is gone", recovered)
        ctx.spool_wakeup.set()


def wake_runner(ctx, now) -> None:
    """Wake the runner so failed rows due for an automatic retry are taken."""
    ctx.spool_wakeup.set()


def forget_old_portal_state(ctx, now) -> None:
    """Delete form drafts untouched for DRAFT_DAYS (and their files), expired sessions, links and rate events."""
    old = FormDraft.updated_at < now - datetime.timedelta(days=DRAFT_DAYS)
    with ctx.db.atomic():
        files = {f["sha256"] for draft in FormDraft.select(FormDraft.files).where(old)
                 for field in (draft.files or {}).values() for f in field}
        drafts = FormDraft.delete().where(old).execute()
        # A file uploaded to a form never sent has no case to keep it.
        purge.delete_unused_blobs(files)
    sessions = PortalSession.delete().where(PortalSession.last_seen_at < now - datetime.timedelta(days=30)).execute()
    links = LoginLink.delete().where(LoginLink.expires_at < now - datetime.timedelta(days=1)).execute()
    events = RateEvent.delete().where(RateEvent.at < now - datetime.timedelta(days=1)).execute()
    if drafts or sessions or links or events:
        log.info("forgot %d form draft(s), %d session(s), %d login link(s), %d rate event(s)",
                 drafts, sessions, links, events)


DRAFT_DAYS = 30

# (name, function, interval in seconds, once): a job "once" runs on one daemon
# of several sharing a store at a time, under a lease (maild/lease.py); the
# others look after their own process: waking their runner, taking back
# claims of their host's processes that died (and any stale claim).
JOBS = (
    # Every 10 s: a daemon killed with its runner (its machine, say) hands
    # its rows on this host to the daemons still running within seconds.
    ("outbox-recover", recover_outbox, 10, False),
    ("spool-recover", recover_spool, 10, False),
    ("spool-retry", wake_runner, 10, False),
    ("portal-forget", forget_old_portal_state, 3600, True),
    ("close-waiting", reports.close_waiting, 3600, True),
    ("daily-report", reports.daily_report, 300, True),
    ("approvals", approvals.remind_and_expire, 3600, True),
    ("retention", retention.daily, 3600, True),
)

"""Retention: how long what the helpdesk stores is kept, applied by a daily job.

* A department's closed cases are deleted ``retention_days_closed`` days
  after they were closed (``[[departments]]``; 0, the default, keeps them),
  with everything that hangs on them (``maild/purge.py``). A count per case
  stays for the reports.
* The raw bytes of a message that was processed or ignored are dropped
  ``[mail] spool_raw_days`` after (90; 0 keeps them): the case keeps what was
  read from it. A ``failed`` row keeps its bytes until it is retried or
  dropped by hand (``sensedesk spool``).
* The record of who looked at what is kept ``[portal] access_log_days`` (365).

Each run logs what it removed, as counts only. The job runs once a day on
one daemon (a lease, ``maild/jobs.py``); ``sensedesk retention run`` runs it
now. Nothing here is on the way of incoming mail.
"""

from __future__ import annotations

import datetime
import logging

from peewee import fn

from maild import purge
from maild.store.models import AccessLog, Case, Setting, Spool

log = logging.getLogger(__name__)

# Cases deleted per transaction: a long run never holds the store for long.
BATCH = 500
# The job looks every hour and runs when this long has passed since its last run.
EVERY = datetime.timedelta(hours=23)
_LAST_RUN = "retention:last_run"


def daily(ctx, now: datetime.datetime) -> None:
    """The scheduled job: ``run`` once a day (the time of the last run is kept in the store)."""
    last = Setting.get_or_none(Setting.key == _LAST_RUN)
    if last is not None and now - datetime.datetime.fromisoformat(last.value) < EVERY:
        return
    run(ctx, now)
    Setting.insert(key=_LAST_RUN, value=now.isoformat()).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: now.isoformat()}).execute()


def run(ctx, now: datetime.datetime) -> dict[str, int]:
    """Apply every retention limit as of ``now``; returns counts of what went."""
    counts: dict[str, int] = {}
    for dept in ctx.config.departments:
        if dept.retention_days_closed <= 0:
            continue
        cutoff = now - datetime.timedelta(days=dept.retention_days_closed)
        while True:
            with ctx.db.atomic():
                ids = [c.id for c in Case.select(Case.id)
                       .where((Case.department == dept.slug) & (Case.status == "closed") & (Case.closed_at < cutoff))
                       .order_by(Case.id).limit(BATCH)]
                if not ids:
                    break
                for kind, n in purge.delete_cases(ctx.db, ids, "retention").items():
                    counts[kind] = counts.get(kind, 0) + n
    raw_days = ctx.config["mail"]["spool_raw_days"]
    if raw_days > 0:
        with ctx.db.atomic():
            counts["spool_raw"] = (Spool.update(raw=b"")
                                   .where(Spool.state.in_(["processed", "ignored"])
                                          & (Spool.processed_at < now - datetime.timedelta(days=raw_days))
                                          & (fn.LENGTH(Spool.raw) > 0))
                                   .execute())
    with ctx.db.atomic():
        counts["access_log"] = (AccessLog.delete()
                                .where(AccessLog.at < now - datetime.timedelta(
                                    days=ctx.config["portal"]["access_log_days"]))
                                .execute())
    removed = {k: v for k, v in counts.items() if v}
    if removed:
        log.info("retention: removed %s", ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in removed.items()))
    return counts

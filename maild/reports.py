"""Scheduled work on cases: closing cases that waited too long, and the daily report by email.

Both are jobs of the scheduler (``jobs.JOBS``), plain functions of
``(ctx, now)`` so tests run them with a fixed clock. The daily report goes to
each department's notify list once a day at ``[site] report_hour`` in
``[site] timezone``; a row in the settings table remembers the day it was
sent, so a restart or a second daemon never sends it twice.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo

from peewee import IntegrityError

from maild import bounces, cases, categories, notify, people
from maild.mail.compose import Outgoing
from maild.outbound import outbox
from maild.store.models import Case, Setting, utcnow

log = logging.getLogger(__name__)

OLDEST = 10  # open cases listed in the report
TOP_TAGS = 10  # tags counted in the report, the most used first


def close_waiting(ctx, now=None) -> int:
    """Close pending cases with no activity for the department's close_pending_after_days."""
    now = now or utcnow()
    closed = 0
    for dept in ctx.config.departments:
        if dept.close_pending_after_days <= 0:
            continue
        limit = now - datetime.timedelta(days=dept.close_pending_after_days)
        # A case waiting for an approval waits for the approver, not the customer.
        waiting = Case.select().where((Case.department == dept.slug) & (Case.status == "pending")
                                      & (Case.updated_at < limit) & (Case.awaiting_approval == False))  # noqa: E712
        for case in waiting:
            with ctx.db.atomic():
                cases.close(ctx, case, now=now, notify_customer=False)
                notify.closed_unanswered(ctx, case, days=dept.close_pending_after_days, now=now)
            closed += 1
    if closed:
        log.info("closed %d case(s) that waited for an answer too long", closed)
        ctx.outbox_wakeup.set()
    return closed


def _local_day(ctx, now: datetime.datetime) -> tuple[datetime.date, int, datetime.datetime]:
    """Today's date and hour in the site's time zone, and when today began, in UTC (naive)."""
    zone = zoneinfo.ZoneInfo(ctx.config["site"]["timezone"])
    local = now.replace(tzinfo=datetime.timezone.utc).astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.date(), local.hour, midnight.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def figures(slug: str, since: datetime.datetime) -> dict:
    """The report's figures for a department: counts, open cases by category and tag, the oldest open cases."""
    of_dept = Case.select().where(Case.department == slug)
    open_cases = of_dept.where(Case.status.in_(("new", "open")))
    tags: dict[str, int] = {}
    for (found,) in open_cases.select(Case.tags).tuples():
        for tag in found or []:
            tags[tag] = tags.get(tag, 0) + 1
    return {
        "by_category": categories.counts(open_cases),
        "by_tag": sorted(tags.items(), key=lambda t: (-t[1], t[0]))[:TOP_TAGS],
        "new_today": of_dept.where(Case.created_at >= since).count(),
        "open": of_dept.where(Case.status.in_(("new", "open"))).count(),
        "pending": of_dept.where(Case.status == "pending").count(),
        "closed_today": of_dept.where((Case.status == "closed") & (Case.closed_at >= since)).count(),
        "oldest": list(of_dept.where(Case.status.in_(("new", "open"))).order_by(Case.created_at, Case.id)
                       .limit(OLDEST)),
    }


def daily_report(ctx, now=None) -> int:
    """At report_hour, mail each department's notify list its report once; returns mails queued."""
    now = now or utcnow()
    today, hour, since = _local_day(ctx, now)
    if hour < ctx.config["site"]["report_hour"]:
        return 0
    queued = 0
    base_url = ctx.config["site"]["base_url"].rstrip("/")
    prefix = ctx.config["site"]["token_prefix"]
    for dept in ctx.config.departments:
        if not dept.daily_report or not dept.notify:
            continue
        with ctx.db.atomic():
            try:
                # The day's mark and the mails commit together: once, whatever restarts.
                with ctx.db.atomic():
                    Setting.create(key=f"report:{dept.slug}:{today.isoformat()}", value=now.isoformat())
            except IntegrityError:
                continue
            values = figures(dept.slug, since)
            for address in dept.notify:
                person = people.find_or_create(address, now=now)
                if not notify.may_mail(ctx, address) or not bounces.deliverable(person, now):
                    continue
                language = person.language or ctx.config.language(dept)
                subject, body = notify.render(ctx, "agent", "daily_report", language, reader=person,
                                              department=dept.name,
                                              day=today, base_url=base_url, prefix=prefix, now=now, **values)
                outbox.enqueue(ctx, Outgoing(
                    from_name=dept.name, from_address=dept.address, to_name=person.name, to_address=address,
                    subject=subject, body=body, message_id=ctx.signer.message_id(0, person.id)),
                    kind="report", now=now)
                queued += 1
    if queued:
        ctx.outbox_wakeup.set()
    return queued

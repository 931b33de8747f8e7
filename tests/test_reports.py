"""Scheduled work with a fixed clock: the daily report, closing cases that waited, and closed_reply."""

from __future__ import annotations

import datetime
import email
import email.policy

from conftest import base_settings, deliver, merge, prepare
from mailfactory import make_mail

from maild import cases, config as configuration, people, reports
from maild.store.models import Case, Entry, Outbox

# 06:30 UTC on 3 March 2026 is 07:30 in Oslo (CET): the report hour has come.
MORNING = datetime.datetime(2026, 3, 3, 6, 30)
YESTERDAY = MORNING - datetime.timedelta(days=1)


def departments(**changes) -> list[dict]:
    return [
        {"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"],
         "agents": ["agent@example.test"], "notify": ["agent@example.test"], **changes},
        {"slug": "hr", "name": "HR", "addresses": ["hr@example.test"], "agents": ["hr-agent@example.test"],
         "notify": ["hr-agent@example.test"], "language": "nb", "daily_report": False},
    ]


def make(tmp_path, store_url, **changes):
    document = merge(base_settings(tmp_path, store_url), {"departments": departments(**changes)})
    return prepare(configuration.parse(document, "test"))


def opened(ctx, subject, when, status="new", closed_at=None) -> Case:
    dept = ctx.config.department("helpdesk")
    with ctx.db.atomic():
        case, _ = cases.open_case(ctx, department=dept, requester=people.find_or_create("kari@example.org"),
                                  subject=subject, body_text="…", now=when, acknowledge=False)
    Case.update(status=status, closed_at=closed_at, updated_at=closed_at or when).where(Case.id == case.id).execute()
    return Case.get_by_id(case.id)


def test_the_daily_report(tmp_path, store_url):
    ctx = make(tmp_path, store_url)
    oldest = opened(ctx, "Printer jams", MORNING - datetime.timedelta(days=9))
    opened(ctx, "VPN slow", MORNING - datetime.timedelta(days=2), status="open")
    opened(ctx, "Waiting on Kari", MORNING - datetime.timedelta(days=4), status="pending")
    opened(ctx, "Solved today", MORNING - datetime.timedelta(days=3), status="closed",
           closed_at=MORNING - datetime.timedelta(hours=1))
    opened(ctx, "Solved last week", MORNING - datetime.timedelta(days=10), status="closed",
           closed_at=MORNING - datetime.timedelta(days=6))
    today = opened(ctx, "Came in this morning", MORNING - datetime.timedelta(minutes=40))
    Outbox.delete().execute()  # the new-case notices; only the report matters here

    assert reports.daily_report(ctx, MORNING - datetime.timedelta(hours=2)) == 0  # 05:30 in Oslo: too early
    assert reports.daily_report(ctx, MORNING) == 1  # helpdesk only: HR has daily_report = false
    assert reports.daily_report(ctx, MORNING + datetime.timedelta(hours=3)) == 0  # once a day
    row = Outbox.get(Outbox.kind == "report")
    assert row.recipient == "agent@example.test"
    mail = email.message_from_bytes(bytes(row.raw), policy=email.policy.default)
    assert str(mail["Subject"]) == "Daily report for Helpdesk, 3 Mar 2026"
    text = mail.get_body(("plain",)).get_content()
    assert "New today:     1" in text
    assert "Open:          3" in text  # new or open: the printer, the VPN, this morning's
    assert "Waiting for the customer: 1" in text
    assert "Closed today:  1" in text
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("SD-")]
    assert lines[0].startswith(f"SD-{oldest.id}  22 Feb 2026  Printer jams")
    assert lines[-1].startswith(f"SD-{today.id}  3 Mar 2026")
    assert f"http://127.0.0.1:8080/agent/cases/{oldest.id}" in text
    assert reports.daily_report(ctx, MORNING + datetime.timedelta(days=1)) == 1  # the next day


def test_pending_cases_without_an_answer_are_closed_with_a_notice(tmp_path, store_url):
    ctx = make(tmp_path, store_url, close_pending_after_days=3)
    waiting = opened(ctx, "Waiting", YESTERDAY - datetime.timedelta(days=3), status="pending")
    recent = opened(ctx, "Recent", YESTERDAY, status="pending")
    assert reports.close_waiting(ctx, MORNING) == 1
    assert Case.get_by_id(waiting.id).status == "closed" and Case.get_by_id(recent.id).status == "pending"
    notice = Outbox.get((Outbox.case == waiting.id) & (Outbox.kind == "closed"))
    text = email.message_from_bytes(bytes(notice.raw), policy=email.policy.default).get_body(
        ("plain",)).get_content()
    assert "for 3 days" in text
    assert reports.close_waiting(ctx, MORNING) == 0


def test_closing_waiting_cases_is_off_by_default(tmp_path, store_url):
    ctx = make(tmp_path, store_url)
    opened(ctx, "Waiting", YESTERDAY - datetime.timedelta(days=300), status="pending")
    assert reports.close_waiting(ctx, MORNING) == 0


def test_closed_reply_attach_keeps_the_case_closed(tmp_path, store_url):
    ctx = make(tmp_path, store_url, closed_reply="attach")
    deliver(ctx, make_mail(subject="Printer", message_id="<first@example.org>"))
    case = Case.get()
    with ctx.db.atomic():
        cases.close(ctx, case, now=None)
    deliver(ctx, make_mail(subject="Re: Printer", body="Thank you!", in_reply_to="<first@example.org>"))
    assert Case.get_by_id(case.id).status == "closed"
    assert Entry.select().where((Entry.case == case) & (Entry.kind == "message")).count() == 2
    assert Case.select().count() == 1

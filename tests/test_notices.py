"""Operational notices and published links (SPEC 5): the domain, the command, the portal over HTTP.

Publishing, updating and resolving a notice mails each subscriber once per
change, through the outbox, with a signed unsubscribe link and a
``List-Unsubscribe`` header; the banner shows on the home page and on the
case pages of the notice's departments only; an acknowledgement of a new case
carries the department's active notices. Browser tests are in
``test_notices_browser.py``.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import json
import re

import pytest
import requests
from conftest import deliver
from mailfactory import make_mail
from portalkit import Client, logged_in, make_admin
from test_cli import (
    config_file,  # noqa: F401 (fixture)
    run,
)

from maild import links, notices, people
from maild.store.models import (
    Case,
    Link,
    Notice,
    NoticeSubscription,
    Outbox,
    Person,
    utcnow,
)

HOUR = datetime.timedelta(hours=1)


def subscribe(address: str, *departments: str) -> Person:
    person = people.find_or_create(address)
    for slug in departments:
        notices.subscribe(person, slug)
    return person


def notice_mail(kind: str) -> dict[str, list[email.message.EmailMessage]]:
    """Queued notice mail of one kind, parsed, by recipient."""
    found: dict = {}
    for row in Outbox.select().where(Outbox.kind == kind).order_by(Outbox.id):
        found.setdefault(row.recipient, []).append(
            email.message_from_bytes(bytes(row.raw), policy=email.policy.default))
    return found


# --------------------------------------------------------------------------- the domain

def test_active_means_started_not_ended_not_resolved_and_for_the_department(ctx):
    now = utcnow()
    with ctx.db.atomic():
        current = notices.publish(ctx, title="Mail slow", departments=["helpdesk"], now=now)
        everyone = notices.publish(ctx, title="VPN down", severity="outage", now=now)
        notices.publish(ctx, title="Later", starts_at=now + HOUR, now=now)
        ended = notices.publish(ctx, title="Ended", starts_at=now - 2 * HOUR, ends_at=now - HOUR, now=now)
        gone = notices.resolve(ctx, notices.publish(ctx, title="Fixed", now=now), now=now)
    assert {n.title for n in notices.active(now=now)} == {"Mail slow", "VPN down"}
    assert {n.title for n in notices.active("helpdesk", now=now)} == {"Mail slow", "VPN down"}
    assert [n.title for n in notices.active("hr", now=now)] == ["VPN down"]
    assert notices.is_active(current, now) and notices.is_active(everyone, now)
    assert not notices.is_active(ended, now) and not notices.is_active(gone, now)
    assert [n.title for n in notices.active(now=now + 2 * HOUR)] == ["Later", "VPN down", "Mail slow"]


def test_a_notice_is_checked_before_it_is_saved(ctx):
    for kwargs, field in (({"title": ""}, "title"), ({"title": "x", "severity": "panic"}, "severity"),
                          ({"title": "x", "departments": ["nope"]}, "departments"),
                          ({"title": "x", "ends_at": utcnow() - HOUR}, "ends_at")):
        with pytest.raises(notices.NoticeError) as caught:
            notices.publish(ctx, **kwargs)
        assert caught.value.field == field
    assert Notice.select().count() == 0


def test_each_change_mails_each_subscriber_of_its_departments_once(ctx):
    with ctx.db.atomic():
        both = subscribe("ola@example.org", "", "helpdesk")  # subscribed twice: mailed once
        subscribe("kari@example.org", "helpdesk")
        subscribe("hr-only@example.org", "hr")
        notice = notices.publish(ctx, title="Printers offline", text="All of floor 3.",
                                 departments=["helpdesk"], severity="warning")
    published = notice_mail("notice_published")
    assert sorted(published) == ["kari@example.org", "ola@example.org"]
    assert all(len(mails) == 1 for mails in published.values())
    mail = published["ola@example.org"][0]
    assert mail["From"].addresses[0].addr_spec == "helpdesk@example.test"
    assert "Printers offline" in str(mail["Subject"]) and "All of floor 3." in mail.get_content()
    assert mail["Auto-Submitted"] == "auto-generated"
    sub_id = NoticeSubscription.get((NoticeSubscription.person == both)
                                    & (NoticeSubscription.department == "")).id
    url = notices.unsubscribe_url(ctx, sub_id)
    assert mail["List-Unsubscribe"] == f"<{url}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in mail.get_content()

    with ctx.db.atomic():
        notices.update(ctx, notice, text="Floors 3 and 4.", ends_at=utcnow() + HOUR)
        notices.update(ctx, notice, text="Floors 3 and 4.")  # no change: nobody is mailed
    updated = notice_mail("notice_updated")
    assert sorted(updated) == ["kari@example.org", "ola@example.org"]
    assert all(len(mails) == 1 for mails in updated.values())
    assert "Floors 3 and 4." in updated["kari@example.org"][0].get_content()

    with ctx.db.atomic():
        notices.resolve(ctx, notice)
        notices.resolve(ctx, notice)  # twice: one mail
    resolved = notice_mail("notice_resolved")
    assert sorted(resolved) == ["kari@example.org", "ola@example.org"]
    assert all(len(mails) == 1 for mails in resolved.values())
    assert not notices.active()


def test_a_title_is_one_line_wherever_it_goes(ctx):
    with ctx.db.atomic():
        subscribe("ola@example.org", "")
        notice = notices.publish(ctx, title="Printers\r\nBcc: x@example.org\u2028offline", text="Floor 3.")
    assert notice.title == "Printers Bcc: x@example.org offline"
    mail = notice_mail("notice_published")["ola@example.org"][0]
    assert str(mail["Subject"]).endswith("Printers Bcc: x@example.org offline") and mail["Bcc"] is None
    assert "Floor 3." in mail.get_content()
    with ctx.db.atomic():
        notices.update(ctx, notice, title="Printers\nback")
    assert Notice.get_by_id(notice.id).title == "Printers back"


def test_a_notice_for_all_reaches_every_subscriber_in_their_language(ctx):
    with ctx.db.atomic():
        subscribe("kari@example.org", "hr")
        person = subscribe("ola@example.org", "helpdesk")
        person.language = "nb"
        person.save()
        notices.publish(ctx, title="Nettverksbrudd", severity="outage")
    mails = notice_mail("notice_published")
    assert sorted(mails) == ["kari@example.org", "ola@example.org"]
    assert str(mails["ola@example.org"][0]["Subject"]).startswith("Driftsavbrudd:")
    # HR writes Norwegian (the test configuration), and Kari's subscription is HR's.
    assert mails["kari@example.org"][0]["From"].addresses[0].addr_spec == "hr@example.test"


def test_an_acknowledgement_carries_the_departments_active_notice(ctx):
    with ctx.db.atomic():
        notices.publish(ctx, title="Printers offline", text="Floor 3 is being fixed.", departments=["helpdesk"])
    deliver(ctx, make_mail(sender="kari@example.org", subject="Printer broken", body="It jams."))
    ack = Outbox.get(Outbox.kind == "ack")
    body = email.message_from_bytes(bytes(ack.raw), policy=email.policy.default).get_content()
    assert "Known problem: Printers offline — Floor 3 is being fixed." in body
    deliver(ctx, make_mail(sender="ola@example.org", subject="Ferie", body="Hei."), rcpt=("hr@example.test",))
    hr_ack = Outbox.select().where(Outbox.kind == "ack").order_by(Outbox.id.desc()).first()
    hr_body = email.message_from_bytes(bytes(hr_ack.raw), policy=email.policy.default).get_content()
    assert "Printers offline" not in hr_body and "Kjent problem" not in hr_body


def test_links_take_only_http_and_https(ctx):
    for url in ("javascript:alert(1)", "data:text/html,x", "ftp://example.org/", "https://", "//evil.example",
                'https://example.org/"onmouseover', " "):
        with pytest.raises(links.LinkError):
            links.save(ctx.config, title="Bad", url=url)
    good = links.save(ctx.config, title="Status", url="https://status.example.org/", position=2)
    links.save(ctx.config, title="HR handbook", url="http://hr.example.org/", department="hr", position=1)
    assert [l.title for l in links.for_department("")] == ["Status"]
    assert [l.title for l in links.for_department("hr")] == ["HR handbook", "Status"]
    assert Link.get_by_id(good.id).url == "https://status.example.org/"


# --------------------------------------------------------------------------- the command

def test_notice_commands(config_file):  # noqa: F811 (fixture)
    config = config_file()
    assert run(config, "init").returncode == 0
    added = run(config, "notice", "add", "--title", "Mail slow", "--text", "Delays of an hour.",
                "--severity", "warning", "--dept", "helpdesk", "--ends", "2099-01-01T12:00")
    assert added.returncode == 0, added.stderr
    assert added.stdout.decode().strip() == "notice 1: published"
    listed = [json.loads(line) for line in run(config, "notice", "list", "--json").stdout.decode().splitlines()]
    assert listed[0]["title"] == "Mail slow" and listed[0]["active"] is True
    # Typed in [site] timezone (Europe/Oslo), printed as ISO 8601 with the offset.
    assert listed[0]["departments"] == "helpdesk" and listed[0]["ends_at"] == "2099-01-01T12:00:00+01:00"
    # 02:30 on the night clocks go forward does not exist: read with the offset before it (RFC 5545 3.3.5).
    assert run(config, "notice", "update", "1", "--ends", "2027-03-28T02:30").returncode == 0
    listed = [json.loads(line) for line in run(config, "notice", "list", "--json").stdout.decode().splitlines()]
    assert listed[0]["ends_at"] == "2027-03-28T03:30:00+02:00"
    assert run(config, "notice", "update", "1", "--ends", "2099-01-01T12:00Z").returncode == 0
    listed = [json.loads(line) for line in run(config, "notice", "list", "--json").stdout.decode().splitlines()]
    assert listed[0]["ends_at"] == "2099-01-01T13:00:00+01:00"
    updated = run(config, "notice", "update", "1", "--title", "Mail very slow", "--severity", "outage")
    assert updated.returncode == 0 and b"notice 1: updated" in updated.stdout
    assert run(config, "notice", "resolve", "1").returncode == 0
    listed = json.loads(run(config, "notice", "list", "--json").stdout.decode().splitlines()[0])
    assert listed["title"] == "Mail very slow" and listed["severity"] == "outage" and listed["active"] is False
    assert b"Mail very slow" in run(config, "notice", "list").stdout
    bad = run(config, "notice", "add", "--title", "x", "--dept", "nope")
    assert bad.returncode == 2 and b"departments" in bad.stderr
    assert run(config, "notice", "add", "--title", "x", "--ends", "soon").returncode == 2
    assert run(config, "notice", "resolve", "99").returncode == 1


# --------------------------------------------------------------------------- the portal

def test_the_banner_shows_on_home_and_on_the_case_pages_of_its_department_only(site):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Printer", body="It jams."))
    helpdesk_case = Case.get()
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Ferie", body="Hei."), rcpt=("hr@example.test",))
    hr_case = Case.select().order_by(Case.id.desc()).first()
    with site.ctx.db.atomic():
        notices.publish(site.ctx, title="Printers offline", text="Floor 3.", departments=["helpdesk"],
                        severity="outage")
        notices.publish(site.ctx, title="Planned upgrade", departments=["hr"], starts_at=utcnow() + HOUR)
    visitor = Client(site)
    home = visitor.get("/").text
    assert 'role="alert"' in home and "Printers offline" in home and "Planned upgrade" not in home
    kari = logged_in(site, "kari@example.org")
    assert "Printers offline" in kari.get(f"/requests/{helpdesk_case.id}").text
    assert "Printers offline" not in kari.get(f"/requests/{hr_case.id}").text
    agent = logged_in(site, "agent@example.test")
    assert "Printers offline" in agent.get(f"/agent/cases/{helpdesk_case.id}").text


def test_subscribe_and_unsubscribe_in_the_portal_and_by_the_signed_link(site):
    visitor = Client(site)
    assert "/login?next=/notices" in visitor.get("/notices").text
    kari = logged_in(site, "kari@example.org")
    answer = kari.post("/notices/subscription", {"department": "helpdesk", "action": "subscribe"},
                       form_page="/notices")
    assert answer.status_code == 200 and answer.url.endswith("/notices?done=subscribed")
    assert "Subscribed: Helpdesk" in answer.text
    assert kari.post("/notices/subscription", {"department": "nope"}, form_page="/notices").status_code == 400
    sub = NoticeSubscription.get()
    with site.ctx.db.atomic():
        notices.publish(site.ctx, title="Mail slow", departments=["helpdesk"])
    site.ctx.outbox_wakeup.set()
    mail = site.wait_for_mail("kari@example.org", "Mail slow")
    url = mail["List-Unsubscribe"].strip("<>")
    assert url in mail.get_content()
    path = url[len(site.url):]

    # Without logging in: the GET asks and changes nothing; a bad signature is 404.
    stranger = Client(site)
    for _ in range(2):
        page = stranger.get(path)
        assert page.status_code == 200 and "kari@example.org" in page.text
    assert NoticeSubscription.select().count() == 1
    assert stranger.get(f"/unsubscribe/{sub.id}/{'0' * 16}").status_code == 404
    assert stranger.post(f"/unsubscribe/{sub.id}/{'0' * 16}", form_page=path).status_code == 404
    assert NoticeSubscription.select().count() == 1
    done = stranger.post(path, form_page=path)
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert NoticeSubscription.select().count() == 0
    # A mail client's one-click POST (RFC 8058) has no cookie and no token: it works, twice.
    assert requests.post(site.url + path, data={"List-Unsubscribe": "One-Click"}, timeout=10).status_code == 200

    kari.post("/notices/subscription", {"department": "", "action": "subscribe"}, form_page="/notices")
    assert NoticeSubscription.get().department == ""
    answer = kari.post("/notices/subscription", {"department": "", "action": "unsubscribe"}, form_page="/notices")
    assert answer.url.endswith("done=unsubscribed") and NoticeSubscription.select().count() == 0


def test_agents_publish_update_and_resolve_notices_of_their_departments(site):
    with site.ctx.db.atomic():
        subscribe("kari@example.org", "helpdesk")
    agent = logged_in(site, "agent@example.test")
    assert "Publish a notice" in agent.get("/agent/notices").text
    # An agent may not publish for all departments, nor for one they are not in.
    assert agent.post("/agent/notices", {"title": "All"}).status_code == 400
    assert agent.post("/agent/notices", {"title": "HR", "departments": "hr"}).status_code == 400
    assert agent.post("/agent/notices", {"title": "Bad end", "departments": "helpdesk",
                                         "ends_at": "tomorrow"}).status_code == 400
    answer = agent.post("/agent/notices", {"title": "Printers offline", "text": "Floor 3.", "severity": "warning",
                                           "departments": "helpdesk", "ends_at": "2099-01-01T10:00"})
    assert answer.status_code == 200 and answer.url.endswith("done=published")
    notice = Notice.get()
    # Typed in Oslo time (CET in January): stored in UTC.
    assert notice.departments == ["helpdesk"] and notice.ends_at == datetime.datetime(2099, 1, 1, 9, 0)
    answer = agent.post(f"/agent/notices/{notice.id}", {"title": "Printers still offline", "text": "Floor 3.",
                                                        "severity": "outage", "ends_at": ""},
                        form_page="/agent/notices")
    assert answer.url.endswith("done=updated")
    notice = Notice.get()
    assert notice.title == "Printers still offline" and notice.ends_at is None
    assert agent.post(f"/agent/notices/{notice.id}/resolve", form_page="/agent/notices").url.endswith(
        "done=resolved")
    assert Notice.get().resolved_at is not None
    kinds = [r.kind for r in Outbox.select().where(Outbox.recipient == "kari@example.org").order_by(Outbox.id)]
    assert kinds == ["notice_published", "notice_updated", "notice_resolved"]

    # HR's agent does not see or touch the helpdesk's notice; an admin may do anything.
    with site.ctx.db.atomic():
        other = notices.publish(site.ctx, title="Helpdesk only", departments=["helpdesk"])
    hr = logged_in(site, "hr-agent@example.test")
    assert "Helpdesk only" not in hr.get("/agent/notices").text
    assert hr.post(f"/agent/notices/{other.id}/resolve", form_page="/agent/notices").status_code == 404
    admin = make_admin(site)
    assert admin.post("/agent/notices", {"title": "Everyone", "severity": "info"}).url.endswith("done=published")
    assert Notice.select().where(Notice.title == "Everyone").get().departments == []


def test_the_admin_edits_links_shown_on_the_home_page(site):
    admin = make_admin(site)
    assert admin.get("/agent/links").status_code == 200
    refused = admin.post("/agent/links", {"title": "Evil", "url": "javascript:alert(1)"})
    assert refused.status_code == 400 and "http://" in refused.text
    assert Link.select().count() == 0
    answer = admin.post("/agent/links", {"title": "Status page", "url": "https://status.example.org/",
                                         "description": "Is it down for everyone?", "position": "1"})
    assert answer.url.endswith("done=saved")
    admin.post("/agent/links", {"title": "HR handbook", "url": "https://hr.example.org/", "department": "hr"})
    home = Client(site).get("/").text
    assert re.search(r'<a href="https://status.example.org/" rel="noopener noreferrer">Status page</a>', home)
    assert "Is it down for everyone?" in home and "HR handbook" not in home
    link = Link.get(Link.title == "Status page")
    assert admin.post(f"/agent/links/{link.id}", {"title": "Status", "url": "ftp://x"},
                      form_page="/agent/links").status_code == 400
    admin.post(f"/agent/links/{link.id}", {"title": "Status", "url": "https://status.example.org/x"},
               form_page="/agent/links")
    assert Link.get_by_id(link.id).title == "Status"
    assert admin.post(f"/agent/links/{link.id}/delete", form_page="/agent/links").url.endswith("done=deleted")
    assert not Link.select().where(Link.id == link.id).exists()
    assert admin.post("/agent/links/99999/delete", form_page="/agent/links").status_code == 404


def test_customers_get_404_on_the_agent_pages_and_agents_on_the_links_page(site):
    kari = logged_in(site, "kari@example.org")
    token = kari.csrf("/notices")
    for path in ("/agent/links", "/agent/notices"):
        assert kari.get(path).status_code == 404, path
        assert kari.post(path, {"title": "x", "url": "https://example.org/"}, token=token).status_code == 404
    assert Link.select().count() == 0 and Notice.select().count() == 0
    agent = logged_in(site, "agent@example.test")
    assert agent.get("/agent/links").status_code == 404
    assert '/agent/links"' not in agent.get("/agent").text
    assert Client(site).get("/agent/notices").url.startswith(site.url + "/login")

"""Local time: the store's UTC shown in the reader's zone and language, typed times read in it.

Oslo's clocks go forward at 02:00 on 28 March 2027 (02:30 does not exist that
night) and back at 03:00 on 31 October 2027 (02:30 happens twice).
"""

from __future__ import annotations

import datetime
import email
import email.policy
import zoneinfo

from portalkit import logged_in

from maild import localtime, notices, people
from maild.store.models import Notice, Outbox, Person

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")


def test_times_read_in_a_zone_and_language():
    winter = datetime.datetime(2026, 12, 2, 15, 0)  # naive UTC, as stored
    assert localtime.moment(winter, "nb", OSLO) == "2. des. 2026 kl. 16:00"
    assert localtime.moment(winter, "en", OSLO) == "2 Dec 2026 at 16:00"
    assert localtime.moment(datetime.datetime(2027, 7, 1, 10, 0), "nb", OSLO) == "1. juli 2027 kl. 12:00"
    assert localtime.day(datetime.datetime(2026, 12, 31, 23, 30), "nb", OSLO) == "1. jan. 2027"
    assert localtime.iso(winter, OSLO) == "2026-12-02T16:00:00+01:00"
    assert localtime.iso(winter) == "2026-12-02T15:00:00+00:00"


def test_typed_times_across_clock_changes():
    # The skipped hour takes the offset before the change (RFC 5545 3.3.5): 03:30 summer time.
    assert localtime.parse("2027-03-28T02:30", OSLO) == datetime.datetime(2027, 3, 28, 1, 30)
    assert localtime.parse("2027-03-28T01:59", OSLO) == datetime.datetime(2027, 3, 28, 0, 59)
    assert localtime.parse("2027-03-28T03:00", OSLO) == datetime.datetime(2027, 3, 28, 1, 0)
    # The repeated hour: its first time.
    assert localtime.parse("2027-10-31T02:30", OSLO) == datetime.datetime(2027, 10, 31, 0, 30)
    assert localtime.parse("2027-10-31T02:30+01:00", OSLO) == datetime.datetime(2027, 10, 31, 1, 30)
    assert localtime.parse("", OSLO) is None
    assert localtime.input_value(datetime.datetime(2027, 3, 28, 1, 30), OSLO) == "2027-03-28T03:30"


def test_a_notice_typed_in_oslo_time_is_shown_and_mailed_in_each_readers_zone(site):
    with site.ctx.db.atomic():
        kari = people.find_or_create("kari@example.org")
        kari.language = "nb"
        kari.save()
        notices.subscribe(kari, "helpdesk")
        john = people.find_or_create("john@example.org")
        john.language, john.timezone = "en", "America/New_York"
        john.save()
        notices.subscribe(john, "helpdesk")
    agent = logged_in(site, "agent@example.test")
    agent.post("/language", {"lang": "nb", "next": "/agent/notices"}, form_page="/agent/notices")
    page = agent.get("/agent/notices").text
    assert "Slutter (valgfritt)" in page and "Dato og klokkeslett i Europe/Oslo." in page and "UTC" not in page
    answer = agent.post("/agent/notices", {"title": "Skrivere nede", "text": "Tredje etasje.", "severity": "outage",
                                           "departments": "helpdesk", "ends_at": "2027-03-28T02:30"})
    assert answer.url.endswith("done=published")
    assert Notice.get().ends_at == datetime.datetime(2027, 3, 28, 1, 30)
    page = agent.get("/agent/notices").text
    assert "28. mars 2027 kl. 03:30" in page and 'value="2027-03-28T03:30"' in page
    # Severity and departments by name, not their keys ("outage · helpdesk").
    assert "Driftsavbrudd · Helpdesk" in page and "outage · helpdesk" not in page

    mails = {row.recipient: email.message_from_bytes(bytes(row.raw), policy=email.policy.default)
             for row in Outbox.select().where(Outbox.kind == "notice_published")}
    assert "Ventes å vare til 28. mars 2027 kl. 03:30." in mails["kari@example.org"].get_content()
    # New York is on summer time already (since 14 March): 01:30 UTC is 21:30 the day before.
    assert "Expected to last until 27 Mar 2027 at 21:30." in mails["john@example.org"].get_content()


def test_a_person_chooses_their_language_and_time_zone(site):
    kari = logged_in(site, "kari@example.org")
    page = kari.get("/account").text
    assert "Europe/Oslo" in page and 'value="America/New_York"' not in page and ">America/New_York<" in page
    bad = kari.post("/account", {"lang": "nb", "timezone": "Mars/Olympus_Mons"})
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text and "Choose a time zone" in bad.text
    saved = kari.post("/account", {"lang": "nb", "timezone": "America/New_York"}, form_page="/account")
    assert saved.url.endswith("/account?done=saved") and "Innstillingene dine er lagret." in saved.text
    person = Person.get(Person.email == "kari@example.org")
    assert (person.language, person.timezone) == ("nb", "America/New_York")
    assert "<option selected>America/New_York</option>" in saved.text
    back = kari.post("/account", {"lang": "en", "timezone": ""}, form_page="/account")
    assert "Your settings are saved." in back.text
    assert Person.get_by_id(person.id).timezone == ""

"""Mail in the customer's language: their choice, else the language of their first message, else the department's."""

from __future__ import annotations

import email
import email.policy

from conftest import deliver
from mailfactory import make_mail

from maild import language, people
from maild.store.models import Outbox, Person

NORWEGIAN = ("Hei!\n\nSkriveren i tredje etasje skriver bare ut tomme ark, og jeg har prøvd å bytte toner. "
             "Kan noen komme og se på den i dag?\n\nMvh\nKari")
ENGLISH = ("Hello,\n\nThe printer on the third floor only prints blank pages. I have already tried a new "
           "toner cartridge. Could someone have a look today?\n\nThanks,\nJohn")
DANISH = "Hej,\n\nJeg har brug for hjælp med min computer, den vil ikke starte efter opdateringen i går.\n\nHilsen\nSøren"
SWEDISH = "Hej!\n\nJag kan inte logga in på datorn sedan i morse. Kan ni hjälpa mig så snart som möjligt?\n\nMvh\nAnna"


def ack_of(address: str) -> email.message.EmailMessage:
    row = Outbox.select().where((Outbox.recipient == address) & (Outbox.kind == "ack")).order_by(Outbox.id.desc()).get()
    return email.message_from_bytes(bytes(row.raw), policy=email.policy.default)


def greeting(address: str) -> str:
    return ack_of(address).get_content().split(",")[0].split()[0]


def test_detect_tells_norwegian_and_english_and_nothing_else():
    assert language.detect(NORWEGIAN) == "nb"
    assert language.detect("Eg treng hjelp med skrivaren, han skriv berre ut tomme ark.") == "nb"  # nynorsk
    assert language.detect(ENGLISH) == "en"
    assert language.detect(DANISH) is None and language.detect(SWEDISH) is None
    assert language.detect("Takk!") is None and language.detect("OK https://example.org/a/long/path") is None


def test_the_first_message_decides_the_language_of_the_acknowledgement(ctx):
    # The helpdesk writes the site's language (English in the tests); Kari writes Norwegian.
    deliver(ctx, make_mail(sender="kari@example.org", subject="Skriveren skriver tomme ark", body=NORWEGIAN))
    assert greeting("kari@example.org") == "Hei"
    assert Person.get(Person.email == "kari@example.org").language == "nb"
    # HR writes Norwegian; John writes English.
    deliver(ctx, make_mail(sender="john@example.org", subject="Printer prints blank pages", body=ENGLISH),
            rcpt=("hr@example.test",), mail_from="john@example.org")
    assert greeting("john@example.org") == "Hello"
    # Once known, it is kept: John's next, Norwegian, request is answered in English.
    deliver(ctx, make_mail(sender="john@example.org", subject="Ny PC", body=NORWEGIAN), mail_from="john@example.org")
    assert greeting("john@example.org") == "Hello"


def test_too_little_or_another_language_leaves_it_to_the_department(ctx):
    deliver(ctx, make_mail(sender="ola@example.org", subject="PC", body="Takk!"), rcpt=("hr@example.test",),
            mail_from="ola@example.org")
    assert greeting("ola@example.org") == "Hei" and Person.get(Person.email == "ola@example.org").language == ""
    deliver(ctx, make_mail(sender="soren@example.org", subject="Computer", body=DANISH), mail_from="soren@example.org")
    assert greeting("soren@example.org") == "Hello"  # the helpdesk's language, not Norwegian
    assert Person.get(Person.email == "soren@example.org").language == ""
    # Ola's second message says more: now it is known.
    deliver(ctx, make_mail(sender="ola@example.org", subject="Skriveren", body=NORWEGIAN), mail_from="ola@example.org")
    assert Person.get(Person.email == "ola@example.org").language == "nb"


def test_a_choice_made_in_the_portal_wins_and_staff_are_left_alone(ctx):
    with ctx.db.atomic():
        kari = people.find_or_create("kari@example.org")
        kari.language = "en"
        kari.save()
    deliver(ctx, make_mail(sender="kari@example.org", subject="Skriveren", body=NORWEGIAN))
    assert greeting("kari@example.org") == "Hello"
    assert Person.get(Person.email == "kari@example.org").language == "en"
    # An agent writing to another department's address is not given a language by their mail.
    deliver(ctx, make_mail(sender="agent@example.test", subject="Lønn", body=NORWEGIAN), rcpt=("hr@example.test",),
            mail_from="agent@example.test")
    assert Person.get(Person.email == "agent@example.test").language == ""


def test_a_request_in_the_portal_is_acknowledged_in_the_language_it_was_written_in(site):
    from portalkit import logged_in

    kari = logged_in(site, "kari@example.org")  # English pages: no choice made
    assert Person.get(Person.email == "kari@example.org").language == ""
    kari.post("/new/helpdesk/message", {"subject": "Skriveren", "description": NORWEGIAN},
              form_page="/new/helpdesk/message")
    assert site.wait_for_mail("kari@example.org", "Skriveren").get_content().startswith("Hei")
    assert Person.get(Person.email == "kari@example.org").language == "nb"
    # Too short to tell: the pages it was written on tell it.
    ola = logged_in(site, "ola@example.org")
    ola.post("/language", {"lang": "nb", "next": "/"}, form_page="/")
    with site.ctx.db.atomic():
        Person.update(language="").where(Person.email == "ola@example.org").execute()
    ola.post("/new/hr/message", {"subject": "PC", "description": "PC?"}, form_page="/new/hr/message")
    assert Person.get(Person.email == "ola@example.org").language == "nb"

"""What part of a reply is new: replies as real clients write them (MAIL_RULES 59–61).

Agents answer customers by replying to Sensedesk's notification mail, so the
quoted part below is that notification, quoted the way each client quotes:
Outlook puts a From:/Sent: block above it and no "> ", Gmail, Apple Mail,
Thunderbird and iOS prefix "> " under their attribution line. Header dates
are written in each client's own format for its language. ``expected`` is the
exact text ``reply_text`` must relay to the customer. Trailing spaces that
matter (the "-- " delimiter, Outlook's "From: … " line, Apple's "> ") are
written ``\x20`` so that no editor trims them away.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

from maild.mail import quotes
from maild.mail.quotes import REPLY_LANGUAGES, reply_text, split_quoted


def quoted(text: str, blank: str = ">") -> str:
    """Text quoted with "> "; Gmail and Thunderbird write ">" on a blank line, Apple Mail "> "."""
    return "\n".join(f"> {line}" if line else blank for line in text.split("\n"))


# The agent notifications (templates/mail/agent/customer_reply.*.txt) as sent.
NOTICE_EN = """\
New message on SD-12 (Support)
From: Ola Nordmann <ola@example.net>

The printer on floor 2 prints only blank pages since Monday.

--
Reply to answer the customer. Commands on the first lines: #note, #close,
#pending, #assign ADDRESS|me, #dept SLUG, #cc ADDRESS.
Support · Sensedesk"""

NOTICE_NB = """\
Ny melding i SD-12 (Kundeservice)
Fra: Ola Nordmann <ola@example.net>

Skriveren i 2. etasje skriver bare blanke sider siden mandag.

--
Svar for å svare kunden. Kommandoer på de første linjene: #note, #close,
#pending, #assign ADRESSE|me, #dept AVDELING, #cc ADRESSE.
Kundeservice · Sensedesk"""

# Swedish, Danish and German desks get the English notification with their
# customers' own words in it.
NOTICE_SV = NOTICE_EN.replace("Ola Nordmann <ola@example.net>", "Sven Larsson <sven@example.se>").replace(
    "The printer on floor 2 prints only blank pages since Monday.",
    "Skrivaren på plan 2 skriver bara ut tomma sidor sedan i måndags.")
NOTICE_DA = NOTICE_EN.replace("Ola Nordmann <ola@example.net>", "Lars Nielsen <lars@example.dk>").replace(
    "The printer on floor 2 prints only blank pages since Monday.",
    "Printeren på 2. sal udskriver kun blanke sider siden mandag.")
NOTICE_DE = NOTICE_EN.replace("Ola Nordmann <ola@example.net>", "Jonas Weber <jonas@example.de>").replace(
    "The printer on floor 2 prints only blank pages since Monday.",
    "Der Drucker im 2. Stock druckt seit Montag nur leere Seiten.")

SUBJECT = "[SD#12] Printer prints blank pages"

CASES = [
    # --- English -------------------------------------------------------------
    ("en-outlook-desktop", f"""\
Hi Ola,

I have restarted the print server. Please try again and let me know.

Kind regards
Kari Hansen
IT Support

From: Support <support@example.com>\x20
Sent: Tuesday, March 3, 2026 10:15 AM
To: Kari Hansen <kari@example.com>
Subject: {SUBJECT}

{NOTICE_EN}
""", "Hi Ola,\n\nI have restarted the print server. Please try again and let me know.\n\n"
     "Kind regards\nKari Hansen\nIT Support"),
    ("en-outlook-web", f"""\
Hi Ola, the driver is updated now.

Kari
________________________________
From: Support <support@example.com>
Sent: Tuesday, March 3, 2026 10:15
To: Kari Hansen <kari@example.com>
Subject: {SUBJECT}

{NOTICE_EN}
""", "Hi Ola, the driver is updated now.\n\nKari"),
    ("en-outlook-original-message", f"""\
Ola, which model is it? The label is on the back.

-----Original Message-----
From: Support [mailto:support@example.com]\x20
Sent: Tuesday, March 03, 2026 10:15 AM
To: Kari Hansen
Subject: {SUBJECT}

{NOTICE_EN}
""", "Ola, which model is it? The label is on the back."),
    ("en-outlook-ios", f"""\
On my way to floor 2 now.

Get Outlook for iOS<https://aka.ms/o0ukef>
________________________________
From: Support <support@example.com>
Sent: Tuesday, March 3, 2026 10:15:12 AM
To: Kari Hansen <kari@example.com>
Subject: {SUBJECT}

{NOTICE_EN}
""", "On my way to floor 2 now."),
    ("en-gmail-signature", f"""\
Hi Ola,

the toner cartridge was empty. A new one is in the cupboard next to it.

--\x20
Kari Hansen
IT Support, ACME AS | +47 22 22 22 22

On Tue, Mar 3, 2026 at 10:15 AM Support <support@example.com>
wrote:

{quoted(NOTICE_EN)}
""", "Hi Ola,\n\nthe toner cartridge was empty. A new one is in the cupboard next to it."),
    ("en-apple-mail", f"""\
Replaced the fuser unit, it prints again.

Kari

On 3 Mar 2026, at 10:15, Support <support@example.com> wrote:

{quoted(NOTICE_EN, "> ")}
""", "Replaced the fuser unit, it prints again.\n\nKari"),
    ("en-iphone", f"""\
I'll look at it after lunch.

Sent from my iPhone

> On 3 Mar 2026, at 10:15, Support <support@example.com> wrote:
>\x20
{quoted(NOTICE_EN, "> ")}
""", "I'll look at it after lunch."),
    ("en-android-gmail", f"""\
Can you send a photo of the error on the display?

On Tue, 3 Mar 2026, 10:15 Support, <support@example.com> wrote:

{quoted(NOTICE_EN)}
""", "Can you send a photo of the error on the display?"),
    ("en-thunderbird-bottom-post", f"""\
On 03/03/2026 10:15, Support wrote:
{quoted(NOTICE_EN)}

Ola, please pull out the paper tray and push it back in.

--
Kari Hansen
""", "Ola, please pull out the paper tray and push it back in."),
    # Interleaved: the agent answers between the quoted lines; all of it is relayed.
    ("en-thunderbird-inline", """\
On 03/03/2026 10:15, Support wrote:
> New message on SD-12 (Support)
> From: Ola Nordmann <ola@example.net>
>
> The printer on floor 2 prints only blank pages since Monday.

Is it the HP next to the kitchen?

> Also, the scanner says "out of memory".

That one needs a restart; I'll do it tonight.

--\x20
Kari
""", """\
On 03/03/2026 10:15, Support wrote:
> New message on SD-12 (Support)
> From: Ola Nordmann <ola@example.net>
>
> The printer on floor 2 prints only blank pages since Monday.

Is it the HP next to the kitchen?

> Also, the scanner says "out of memory".

That one needs a restart; I'll do it tonight."""),
    ("en-no-quote", """\
Hi Ola,

we are ordering a new printer for floor 2. It arrives on Friday.

Best regards,
Kari Hansen
IT Support
""", "Hi Ola,\n\nwe are ordering a new printer for floor 2. It arrives on Friday.\n\n"
     "Best regards,\nKari Hansen\nIT Support"),
    ("en-command-close", f"""\
#close
Fixed: the paper size was set to A3. Closing the case.

On Tue, Mar 3, 2026 at 10:15 AM Support <support@example.com> wrote:

{quoted(NOTICE_EN)}
""", "#close\nFixed: the paper size was set to A3. Closing the case."),
    # mutt and other plain-text clients without an attribution line.
    ("en-gt-quote-only", f"""\
{quoted(NOTICE_EN)}

Thanks Ola, I am on it.
""", "Thanks Ola, I am on it."),
    ("en-samsung-footer", f"""\
Yes, the new toner is in the cupboard.

Sent from my Galaxy

-------- Original message --------
From: Support <support@example.com>
Date: 03/03/2026 10:15 (GMT+01:00)
To: Kari Hansen <kari@example.com>
Subject: {SUBJECT}

{NOTICE_EN}
""", "Yes, the new toner is in the cupboard."),
    # --- Norwegian (Bokmål) --------------------------------------------------
    ("nb-outlook-desktop", f"""\
Hei Ola,

jeg har startet utskriftsserveren på nytt. Prøv igjen.

Med vennlig hilsen
Kari Hansen
IT-avdelingen

Fra: Kundeservice <support@example.com>\x20
Sendt: tirsdag 3. mars 2026 10:15
Til: Kari Hansen <kari@example.com>
Emne: [SD#12] Skriveren skriver blanke sider

{NOTICE_NB}
""", "Hei Ola,\n\njeg har startet utskriftsserveren på nytt. Prøv igjen.\n\n"
     "Med vennlig hilsen\nKari Hansen\nIT-avdelingen"),
    ("nb-outlook-web", f"""\
Hei, driveren er oppdatert nå.

Mvh Kari
________________________________
Fra: Kundeservice <support@example.com>
Sendt: tirsdag 3. mars 2026 10:15
Til: Kari Hansen <kari@example.com>
Emne: [SD#12] Skriveren skriver blanke sider

{NOTICE_NB}
""", "Hei, driveren er oppdatert nå.\n\nMvh Kari"),
    ("nb-outlook-opprinnelig-melding", f"""\
Hvilken modell er det? Merkelappen står på baksiden.

-----Opprinnelig melding-----
Fra: Kundeservice [mailto:support@example.com]\x20
Sendt: 3. mars 2026 10:15
Til: Kari Hansen
Emne: [SD#12] Skriveren skriver blanke sider

{NOTICE_NB}
""", "Hvilken modell er det? Merkelappen står på baksiden."),
    ("nb-gmail", f"""\
Hei Ola,

tonerkassetten var tom. Det ligger en ny i skapet.

Med vennlig hilsen
Kari

tir. 3. mar. 2026 kl. 10:15 skrev Kundeservice <support@example.com>:

{quoted(NOTICE_NB)}
""", "Hei Ola,\n\ntonerkassetten var tom. Det ligger en ny i skapet.\n\nMed vennlig hilsen\nKari"),
    ("nb-gmail-wrapped", f"""\
Jeg ser på den i ettermiddag.

tir. 3. mar. 2026 kl. 10:15 skrev Kundeservice IT-avdelingen Sensedesk <
support@example.com>:

{quoted(NOTICE_NB)}
""", "Jeg ser på den i ettermiddag."),
    ("nb-iphone", f"""\
Kommer innom etter lunsj.

Sendt fra min iPhone

> 3. mar. 2026 kl. 10:15 skrev Kundeservice <support@example.com>:
>\x20
{quoted(NOTICE_NB, "> ")}
""", "Kommer innom etter lunsj."),
    ("nb-apple-mail", f"""\
Byttet fikseringsenheten, den skriver igjen.

3. mar. 2026 kl. 10:15 skrev Kundeservice <support@example.com>:

{quoted(NOTICE_NB, "> ")}
""", "Byttet fikseringsenheten, den skriver igjen."),
    ("nb-thunderbird", f"""\
Ola, trekk ut papirskuffen og skyv den inn igjen.

Den 03.03.2026 10:15, skrev Kundeservice:
{quoted(NOTICE_NB)}
""", "Ola, trekk ut papirskuffen og skyv den inn igjen."),
    # Inline answers under a greeting: a cut at the attribution would lose them.
    ("nb-thunderbird-inline-greeting", """\
Hei Ola,

svar under.

Den 03.03.2026 10:15, skrev Kundeservice:
> Skriveren i 2. etasje skriver bare blanke sider siden mandag.
Har du prøvd en annen skuff?
> Kundeservice · Sensedesk
""", """\
Hei Ola,

svar under.

Den 03.03.2026 10:15, skrev Kundeservice:
> Skriveren i 2. etasje skriver bare blanke sider siden mandag.
Har du prøvd en annen skuff?
> Kundeservice · Sensedesk"""),
    # The agent's own sentence reads like a Danish attribution; the real quote is below.
    ("nb-outlook-own-skrev-sentence", f"""\
Hei Ola,

Den nye skriveren skrev ut dette:
Side 1 av 3 – tom.

Kari

Fra: Kundeservice <support@example.com>
Sendt: tirsdag 3. mars 2026 10:15
Til: Kari Hansen <kari@example.com>
Emne: [SD#12] Skriveren skriver blanke sider

{NOTICE_NB}
""", "Hei Ola,\n\nDen nye skriveren skrev ut dette:\nSide 1 av 3 – tom.\n\nKari"),
    ("nb-command-pending", f"""\
#pending

Hei Ola, kan du sende et bilde av feilmeldingen?

Sendt fra Outlook for iOS<https://aka.ms/o0ukef>
________________________________
Fra: Kundeservice <support@example.com>
Sendt: tirsdag, mars 3, 2026 10:15 AM
Til: Kari Hansen <kari@example.com>
Emne: [SD#12] Skriveren skriver blanke sider

{NOTICE_NB}
""", "#pending\n\nHei Ola, kan du sende et bilde av feilmeldingen?"),
    ("nb-android-gmail-crlf", f"""\
Ja, den er bestilt.

--\x20
Kari Hansen, IT

tir. 3. mar. 2026, 10:15 skrev Kundeservice <support@example.com>:

{quoted(NOTICE_NB)}
""".replace("\n", "\r\n"), "Ja, den er bestilt."),
    # --- Swedish -------------------------------------------------------------
    ("sv-outlook-desktop", f"""\
Hej Sven,

jag har startat om utskriftsservern. Försök igen.

Med vänliga hälsningar
Karin Svensson
IT-avdelningen

Från: Support <support@example.com>\x20
Skickat: den 3 mars 2026 10:15
Till: Karin Svensson <karin@example.se>
Ämne: {SUBJECT}

{NOTICE_SV}
""", "Hej Sven,\n\njag har startat om utskriftsservern. Försök igen.\n\n"
     "Med vänliga hälsningar\nKarin Svensson\nIT-avdelningen"),
    ("sv-outlook-web", f"""\
Hej, drivrutinen är uppdaterad nu.

/Karin
________________________________
Från: Support <support@example.com>
Skickat: tisdag, 3 mars 2026 10:15
Till: Karin Svensson <karin@example.se>
Ämne: {SUBJECT}

{NOTICE_SV}
""", "Hej, drivrutinen är uppdaterad nu.\n\n/Karin"),
    ("sv-outlook-ursprungligt-meddelande", f"""\
Vilken modell är det? Etiketten sitter på baksidan.

-----Ursprungligt meddelande-----
Från: Support [mailto:support@example.com]\x20
Skickat: den 3 mars 2026 10:15
Till: Karin Svensson
Ämne: {SUBJECT}

{NOTICE_SV}
""", "Vilken modell är det? Etiketten sitter på baksidan."),
    ("sv-gmail", f"""\
Hej Sven,

tonerkassetten var tom. Det finns en ny i skåpet.

Hälsningar
Karin

Den tis 3 mars 2026 kl 10:15 skrev Support <support@example.com>:

{quoted(NOTICE_SV)}
""", "Hej Sven,\n\ntonerkassetten var tom. Det finns en ny i skåpet.\n\nHälsningar\nKarin"),
    ("sv-apple-mail", f"""\
Bytte fixeringsenheten, den skriver ut igen.

Den 3 mars 2026 kl. 10:15 skrev Support <support@example.com>:

{quoted(NOTICE_SV, "> ")}
""", "Bytte fixeringsenheten, den skriver ut igen."),
    ("sv-iphone", f"""\
Jag tittar på den efter lunch.

Skickat från min iPhone

> 3 mars 2026 kl. 10:15 skrev Support <support@example.com>:
>\x20
{quoted(NOTICE_SV, "> ")}
""", "Jag tittar på den efter lunch."),
    ("sv-thunderbird", f"""\
Sven, dra ut papperslådan och skjut in den igen.

Den 2026-03-03 kl. 10:15, skrev Support:
{quoted(NOTICE_SV)}
""", "Sven, dra ut papperslådan och skjut in den igen."),
    # Gmail for Android in Swedish runs the time into the name and ends in "skrev:".
    ("sv-android-gmail", f"""\
Kan du skicka en bild på felmeddelandet?

Den tis 3 mars 2026 10:15Support <support@example.com> skrev:

{quoted(NOTICE_SV)}
""", "Kan du skicka en bild på felmeddelandet?"),
    ("sv-gmail-signature-wrapped", f"""\
#assign me
Jag tar det här.

--\x20
Karin Svensson
IT-avdelningen, ACME AB

Den tis 3 mars 2026 kl 10:15 skrev Support IT-avdelningen Sensedesk Stockholm <
support@example.com>:

{quoted(NOTICE_SV)}
""", "#assign me\nJag tar det här."),
    # --- Danish --------------------------------------------------------------
    ("da-outlook-desktop", f"""\
Hej Lars,

jeg har genstartet printserveren. Prøv igen.

Med venlig hilsen
Mette Jensen
IT-afdelingen

Fra: Support <support@example.com>\x20
Sendt: 3. marts 2026 10:15
Til: Mette Jensen <mette@example.dk>
Emne: {SUBJECT}

{NOTICE_DA}
""", "Hej Lars,\n\njeg har genstartet printserveren. Prøv igen.\n\n"
     "Med venlig hilsen\nMette Jensen\nIT-afdelingen"),
    ("da-outlook-web", f"""\
Hej, driveren er opdateret nu.

Mvh Mette
________________________________
Fra: Support <support@example.com>
Sendt: tirsdag den 3. marts 2026 10:15
Til: Mette Jensen <mette@example.dk>
Emne: {SUBJECT}

{NOTICE_DA}
""", "Hej, driveren er opdateret nu.\n\nMvh Mette"),
    ("da-outlook-oprindelig-meddelelse", f"""\
Hvilken model er det? Mærkaten sidder på bagsiden.

-----Oprindelig meddelelse-----
Fra: Support [mailto:support@example.com]\x20
Sendt: 3. marts 2026 10:15
Til: Mette Jensen
Emne: {SUBJECT}

{NOTICE_DA}
""", "Hvilken model er det? Mærkaten sidder på bagsiden."),
    ("da-gmail", f"""\
Hej Lars,

tonerpatronen var tom. Der ligger en ny i skabet.

Venlig hilsen
Mette

tir. 3. mar. 2026 kl. 10.15 skrev Support <support@example.com>:

{quoted(NOTICE_DA)}
""", "Hej Lars,\n\ntonerpatronen var tom. Der ligger en ny i skabet.\n\nVenlig hilsen\nMette"),
    ("da-apple-mail", f"""\
Skiftede fikseringsenheden, den printer igen.

Den 3. mar. 2026 kl. 10.15 skrev Support <support@example.com>:

{quoted(NOTICE_DA, "> ")}
""", "Skiftede fikseringsenheden, den printer igen."),
    ("da-iphone", f"""\
Jeg kigger på den efter frokost.

Sendt fra min iPhone

> Den 3. mar. 2026 kl. 10.15 skrev Support <support@example.com>:
>\x20
{quoted(NOTICE_DA, "> ")}
""", "Jeg kigger på den efter frokost."),
    ("da-thunderbird", f"""\
Lars, træk papirbakken ud og skub den ind igen.

Den 03.03.2026 kl. 10.15 skrev Support:
{quoted(NOTICE_DA)}
""", "Lars, træk papirbakken ud og skub den ind igen."),
    ("da-android-gmail", f"""\
Kan du sende et billede af fejlmeddelelsen?

tir. 3. mar. 2026 10.15 skrev Support <support@example.com>:

{quoted(NOTICE_DA)}
""", "Kan du sende et billede af fejlmeddelelsen?"),
    ("da-outlook-android", f"""\
#close
Den er ordnet.

Hent Outlook til Android<https://aka.ms/ghei36>
________________________________
Fra: Support <support@example.com>
Sendt: Tuesday, March 3, 2026 10:15:12 AM
Til: Mette Jensen <mette@example.dk>
Emne: {SUBJECT}

{NOTICE_DA}
""", "#close\nDen er ordnet."),
    # --- German --------------------------------------------------------------
    ("de-outlook-desktop", f"""\
Hallo Jonas,

ich habe den Druckserver neu gestartet. Bitte versuche es noch einmal.

Mit freundlichen Grüßen
Anna Becker
IT-Abteilung

Von: Support <support@example.com>\x20
Gesendet: Dienstag, 3. März 2026 10:15
An: Anna Becker <anna@example.de>
Betreff: {SUBJECT}

{NOTICE_DE}
""", "Hallo Jonas,\n\nich habe den Druckserver neu gestartet. Bitte versuche es noch einmal.\n\n"
     "Mit freundlichen Grüßen\nAnna Becker\nIT-Abteilung"),
    ("de-outlook-web", f"""\
Hallo, der Treiber ist jetzt aktualisiert.

Gruß Anna
________________________________
Von: Support <support@example.com>
Gesendet: Dienstag, 3. März 2026 10:15
An: Anna Becker <anna@example.de>
Betreff: {SUBJECT}

{NOTICE_DE}
""", "Hallo, der Treiber ist jetzt aktualisiert.\n\nGruß Anna"),
    ("de-outlook-ursprungliche-nachricht", f"""\
Welches Modell ist es? Das Etikett ist auf der Rückseite.

-----Ursprüngliche Nachricht-----
Von: Support [mailto:support@example.com]\x20
Gesendet: Dienstag, 3. März 2026 10:15
An: Anna Becker
Betreff: {SUBJECT}

{NOTICE_DE}
""", "Welches Modell ist es? Das Etikett ist auf der Rückseite."),
    ("de-gmail-wrapped", f"""\
Hallo Jonas,

die Tonerkartusche war leer. Eine neue liegt im Schrank.

Viele Grüße
Anna

Am Di., 3. März 2026 um 10:15 Uhr schrieb Support IT-Abteilung Sensedesk <
support@example.com>:

{quoted(NOTICE_DE)}
""", "Hallo Jonas,\n\ndie Tonerkartusche war leer. Eine neue liegt im Schrank.\n\nViele Grüße\nAnna"),
    ("de-apple-mail", f"""\
Fixiereinheit getauscht, er druckt wieder.

Am 03.03.2026 um 10:15 schrieb Support <support@example.com>:

{quoted(NOTICE_DE, "> ")}
""", "Fixiereinheit getauscht, er druckt wieder."),
    ("de-iphone", f"""\
Ich schaue nach dem Mittagessen vorbei.

Von meinem iPhone gesendet

> Am 03.03.2026 um 10:15 schrieb Support <support@example.com>:
>\x20
{quoted(NOTICE_DE, "> ")}
""", "Ich schaue nach dem Mittagessen vorbei."),
    ("de-thunderbird", f"""\
Jonas, bitte das Papierfach herausziehen und wieder einschieben.

Am 03.03.26 um 10:15 schrieb Support:
{quoted(NOTICE_DE)}
""", "Jonas, bitte das Papierfach herausziehen und wieder einschieben."),
    # Gmail for Android in German puts the name first: "… schrieb am <date>, <time>:".
    ("de-android-gmail", f"""\
Kannst du ein Foto der Fehlermeldung schicken?

Support <support@example.com> schrieb am Di., 3. März 2026, 10:15:

{quoted(NOTICE_DE)}
""", "Kannst du ein Foto der Fehlermeldung schicken?"),
    ("de-no-quote-own-schrieb-sentence", """\
Hallo Jonas,

Am Montag schrieb mir der Hersteller Folgendes:
Das Ersatzteil kommt nächste Woche.

Viele Grüße
Anna
""", "Hallo Jonas,\n\nAm Montag schrieb mir der Hersteller Folgendes:\n"
     "Das Ersatzteil kommt nächste Woche.\n\nViele Grüße\nAnna"),
    ("de-outlook-ios-crlf", f"""\
#pending
Bitte schick mir die Seriennummer.

Gesendet von Outlook für iOS<https://aka.ms/o0ukef>
________________________________
Von: Support <support@example.com>
Gesendet: Tuesday, March 3, 2026 10:15:12 AM
An: Anna Becker <anna@example.de>
Betreff: {SUBJECT}

{NOTICE_DE}
""".replace("\n", "\r\n"), "#pending\nBitte schick mir die Seriennummer."),
    ("de-thunderbird-inline", """\
Am 03.03.26 um 10:15 schrieb Support:
> Der Drucker im 2. Stock druckt seit Montag nur leere Seiten.

Welcher Drucker genau, der neben der Küche?

> --
> Reply to answer the customer.

--
Anna Becker
""", """\
Am 03.03.26 um 10:15 schrieb Support:
> Der Drucker im 2. Stock druckt seit Montag nur leere Seiten.

Welcher Drucker genau, der neben der Küche?

> --
> Reply to answer the customer."""),
]


@pytest.mark.parametrize("name, text, expected", CASES, ids=[name for name, _, _ in CASES])
def test_reply_text(name, text, expected):
    assert reply_text(text) == expected


def test_share_stripped_correctly(capsys):
    """The probe as a number: every reply in the table must come out right."""
    wrong = [name for name, text, expected in CASES if reply_text(text) != expected]
    with capsys.disabled():
        print(f"\nquote removal: {len(CASES) - len(wrong)}/{len(CASES)} correct")
    assert not wrong


def test_the_table_covers_every_language_and_client():
    """At least five replies per language; every client shape agents use."""
    languages = [name.split("-")[0] for name, _, _ in CASES]
    for language in ("en", "nb", "sv", "da", "de"):
        assert languages.count(language) >= 5, language
    names = " ".join(name for name, _, _ in CASES)
    for shape in ("outlook-desktop", "outlook-web", "gmail", "apple-mail", "thunderbird", "iphone",
                  "android-gmail", "inline", "no-quote", "command", "gt-quote-only", "crlf", "signature"):
        assert shape in names, shape
    assert len(CASES) >= 36


@pytest.mark.parametrize("name, text, expected", CASES, ids=[name for name, _, _ in CASES])
def test_each_language_needs_only_its_own_patterns(name, text, expected):
    """A desk configured for one language (plus English) gets the same result."""
    assert reply_text(text, languages=(name.split("-")[0],)) == expected


@pytest.mark.parametrize("name, text", [(name, text) for name, text, _ in CASES],
                         ids=[name for name, _, _ in CASES])
def test_split_loses_nothing(name, text):
    """new + quoted hold the whole input, whitespace at the cut aside (MAIL_RULES 59)."""
    new, quoted_part = split_quoted(text, REPLY_LANGUAGES)
    whole = "".join(text.split())
    assert "".join((new + quoted_part).split()) == whole or "".join((quoted_part + new).split()) == whole


@pytest.mark.parametrize("language, header", [
    ("de", "Support <support@example.com> schrieb am Di., 3. März 2026, 10:15:"),
    ("sv", "Den tis 3 mars 2026 10:15Support <support@example.com> skrev:"),
])
def test_android_gmail_attributions_on_top_are_bottom_posts(language, header):
    """Our own patterns find these anywhere, for their language only."""
    text = f"{header}\n> Which floor?\n\nFloor 2.\n"
    assert split_quoted(text, (language,)) == ("Floor 2.", f"{header}\n> Which floor?")
    assert split_quoted(text, ("en",)) == (text, "")


@pytest.mark.parametrize("footer", [
    "Sent from my iPhone", "Sent from my iPad", "Sent from my Samsung Galaxy smartphone.",
    "Sent from Outlook for iOS", "Sent from Outlook for Android", "Get Outlook for iOS",
    "Get Outlook for Android<https://aka.ms/ghei36>", "Sent from Mail for Windows",
    "Sendt fra min iPhone", "Sendt fra Outlook for iOS<https://aka.ms/o0ukef>", "Hent Outlook til iOS",
    "Skickat från min iPhone", "Von meinem iPhone gesendet", "Von meinem iPad gesendet",
    "Gesendet von Outlook für iOS", "Outlook für iOS beziehen<https://aka.ms/o0ukef>",
])
def test_mobile_footers_on_the_last_line_go(footer):
    assert reply_text(f"Done, the printer works.\n\n{footer}\n\n\n") == "Done, the printer works."
    assert reply_text(f"Done, the printer works.\r\n{footer}\r\n") == "Done, the printer works."


@pytest.mark.parametrize("text", [
    "Done.\n\nSent from my laptop at home",
    "Done.\n\nSent from my iPhone, so I keep it short.",
    "Sent from my iPhone\nand one more thing: the key is at the desk.",
    "Done.\n\nMed vennlig hilsen\nKari Nordmann",
    "Done.\n\n/Karin",
    "Done.\n\nMit freundlichen Grüßen\nAnna Becker\nIT-Abteilung",
])
def test_greetings_names_and_sentences_stay(text):
    """Only a device footer on the last line is cut; a name or greeting is never guessed away."""
    assert reply_text(text) == text


@pytest.mark.parametrize("text, expected", [
    ("-- \nKari Hansen\n", "-- \nKari Hansen"),
    ("Sent from my iPhone\n\n> On 3 Mar 2026, at 10:15, Support <support@example.com> wrote:\n> Hi\n",
     "Sent from my iPhone"),
    ("> Which floor?\n> Which model?\n", "> Which floor?\n> Which model?"),
    ("Done.\n--\nKari\n-- \nACME AS\n", "Done."),
    ("", ""),
    (" \r\n\r\n", ""),
], ids=["only-a-signature", "only-a-footer", "all-quoted", "first-delimiter", "empty", "blank"])
def test_a_cut_never_leaves_nothing(text, expected):
    """What was not quoted history comes back: a cut that would leave nothing is not made."""
    assert reply_text(text) == expected


@pytest.mark.parametrize("line", ["On ", "Am ", "Den ", "tir. 3. mar. ", "Von: x\nAn: ",
                                  "Kari schrieb am ", "Den tis 10:15 "])
def test_near_miss_chains_finish_quickly(line):
    """1 MB of lines each language's patterns backtrack on (MAIL_RULES 61, talon #168)."""
    text = (line + "x " * 5000 + "\n") * 100
    start = time.perf_counter()
    assert reply_text(text) == text.rstrip()
    assert time.perf_counter() - start < 3


def test_many_false_attributions_stay_cheap():
    """Headers rejected as interleaved are counted, so the search stays bounded."""
    text = "answer\nDen 3. mar. 2026 kl. 10:15 skrev Kari:\n> q\n" * 20_000
    start = time.perf_counter()
    new, quoted_part = split_quoted(text, REPLY_LANGUAGES)
    assert time.perf_counter() - start < 3
    assert "".join((new + quoted_part).split()) == "".join(text.split())


def test_the_portal_folds_with_the_same_function():
    """portal.render re-exports it; maild.mail.quotes itself never imports the portal."""
    from portal import render

    assert render.split_quoted is split_quoted
    tree = ast.parse(Path(quotes.__file__).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "portal"]


@pytest.mark.parametrize("text, name, expected", [
    ("Try again.\n\nMvh\nOla", "Ola Nordmann", True),
    ("Try again.\n\nOla", "Ola Nordmann", True),
    ("Try again.\nBest regards,\nAgnes Agent", "Agnes Agent", True),
    ("Fixed.\n\nMed vennlig hilsen\nOla Nordmann, IT", "", True),
    ("Fixed.\nThanks, Ola", "", True),
    ("Try again.", "Ola Nordmann", False),
    ("Ola will fix it tomorrow.", "Ola Nordmann", False),
    ("Thanks for your patience while we look at it.", "Ola Nordmann", False),
    ("", "", False),
])
def test_a_reply_with_its_own_sign_off_is_recognised(text, name, expected):
    assert quotes.signed_off(text, name) is expected


def test_only_quoted_tells_a_reply_with_nothing_of_its_writers_own():
    attribution = "On Tue, 3 Mar 2026 at 10:15, Helpdesk <helpdesk@example.test> wrote:\n> It jams.\n"
    assert quotes.only_quoted("\n" + attribution)
    assert quotes.only_quoted("> It jams.\n> Still.\n")
    assert quotes.only_quoted("-----Original Message-----\nFrom: Helpdesk\nSent: today\n\nIt jams.\n")
    assert not quotes.only_quoted("Try tray 2.\n\n" + attribution)
    assert not quotes.only_quoted(attribution + "\nTry tray 2.\n")  # a bottom-post's answer
    assert not quotes.only_quoted("Kari skrev:\nat skriveren er tom.\n")  # a sentence, not a header
    assert not quotes.only_quoted("") and not quotes.only_quoted("\n\n")


def test_without_history_cuts_the_quote_and_keeps_the_signature():
    attribution = "On Tue, 3 Mar 2026 at 10:15, Helpdesk <helpdesk@example.test> wrote:\n> It jams.\n"
    text = "Still jams.\n\n-- \nKari, 22 33 44 55\nSent from my iPhone\n\n" + attribution
    assert quotes.without_history(text) == "Still jams.\n\n-- \nKari, 22 33 44 55\nSent from my iPhone"
    assert quotes.reply_text(text) == "Still jams."
    html = ('<div dir="ltr">Still jams.</div><div class="gmail_quote"><div class="gmail_attr">'
            'On Tue, 3 Mar 2026 Helpdesk wrote:</div><blockquote>It jams.</blockquote></div>')
    assert quotes.without_history("Still jams.\n\nOn Tue … wrote:\n> It jams.", html=html) == "Still jams."
    assert quotes.without_history("> It jams.\n> Still.") == "> It jams.\n> Still."  # never empty

"""Reply headers: attribution lines, header blocks and separators as each client writes them.

Each line below is written the way the named client writes it in that
language (dates in its own format, wrapped where it wraps). The header must
be found on its first line and span exactly its own lines; sentences that
only look like one must not be found.
"""

from __future__ import annotations

import time

import pytest

from maild.mail import replyheaders

ALL = ("en", "nb", "da", "sv", "de")

ATTRIBUTIONS = [
    # --- English ---------------------------------------------------------------
    ("gmail", "On Mon, Mar 2, 2026 at 9:12 AM Kari Nordmann <kari@example.org> wrote:"),
    ("gmail-wrapped-in-address", "On Mon, Mar 2, 2026 at 9:12 AM Kari Nordmann Solberg-Haugen <\n"
                                 "kari.solberg-haugen@example.org> wrote:"),
    ("gmail-wrapped-before-wrote", "On Mon, Mar 2, 2026 at 9:12 AM Kari Nordmann <kari@example.org>\nwrote:"),
    ("apple-mail", "> On 2 Mar 2026, at 09:12, Kari Nordmann <kari@example.org> wrote:"),
    ("apple-mail-three-lines", "On Mar 2, 2026,\nat 09:12,\nKari Nordmann <kari@example.org> wrote:"),
    ("thunderbird", "On 02/03/2026 09:12, Kari Nordmann wrote:"),
    ("outlook-ios", 'On Mon, Mar 2, 2026 at 9:12 AM -0800, "Kari" <kari@example.org<mailto:kari@example.org>> wrote:'),
    ("github-no-space", "On Mon, Mar 2, 2026 at 9:12 AM, Kari Nordmann\n<notifications@example.org>wrote:"),
    ("no-colon", "On Mon, 2 Mar 2026 09:12:43 +0100 Kari <kari@example.org> wrote"),
    ("yahoo", "On Monday, March 2, 2026, 09:12:00 AM GMT+1, Kari Nordmann <kari@example.org> wrote:"),
    ("polymail", "On Mon, Mar 2, 2026 at 9:12 AM Kari Nordmann\n\n<\nmailto:Kari Nordmann <kari@example.org>\n> wrote:"),
    ("eudora", "At 3/2/2026 09:12 AM, you wrote:"),
    ("name-only", "Kari Nordmann <kari@example.org> wrote:"),
    ("lotus-notes", "Kari Nordmann/ACME wrote on 03/02/2026 09:12:04 AM:"),
    ("horde", "Quoting Kari Nordmann <kari@example.org>:"),
    ("zoho-framed", "---- On Mon, 02 Mar 2026 09:12:36 +0100 Kari <kari@example.org> wrote ----"),
    ("android-framed", "---- Kari Nordmann wrote ----"),
    ("gmail-date-only", "2013/1/3 Kari Nordmann <kari@example.org>"),
    ("gmail-iso-gmt-wrapped", "2026-03-02 9:12 GMT+01:00 Kari Nordmann <\nkari@example.org>:"),
    ("yandex", '02.03.2026, 09:12, "Kari Nordmann" <kari@example.org>:'),
    ("mail-ru", "Monday, 2 March 2026, 9:12 +01:00 from kari@example.org <kari@example.org>:"),
    # --- Norwegian and Danish ------------------------------------------------------
    ("nb-gmail", "man. 2. mar. 2026 kl. 09:12 skrev Kari Nordmann <kari@example.org>:"),
    ("nb-gmail-wrapped-after-address", "man. 2. mar. 2026 kl. 09:12 skrev Kari Nordmann <kari@example.org\n>:"),
    ("nb-gmail-wrapped-in-address", "man. 2. mar. 2026 kl. 09:12 skrev Kari Nordmann Solberg <\n"
                                    "kari.solberg@example.org>:"),
    ("nb-apple-mail", "> 2. mar. 2026 kl. 09:12 skrev Kari Nordmann <kari@example.org>:"),
    ("nb-thunderbird", "Den 02.03.2026 09:12, skrev Kari Nordmann:"),
    ("nb-airmail", "På 2 mars 2026 på 09:12:18, Kari Nordmann (kari@example.org) skrev:"),
    ("da-gmail", "Den man. 2. mar. 2026 kl. 09.12 skrev Lars Nielsen <lars@example.dk>:"),
    ("da-horde", "Citerer Lars Nielsen <lars@example.dk>:"),
    # --- Swedish ------------------------------------------------------------------
    ("sv-gmail", "Den mån 2 mars 2026 kl 09:12 skrev Sven Larsson <sven@example.se>:"),
    ("sv-gmail-wrapped", "Den mån 2 mars 2026 kl 09:12 skrev Sven Larsson <\nsven@example.se>:"),
    ("sv-apple-mail", "> 2 mars 2026 kl. 09:12 skrev Sven Larsson <sven@example.se>:"),
    ("sv-thunderbird", "Den 2026-03-02 kl. 09:12, skrev Sven Larsson:"),
    ("sv-android", "Den mån 2 mars 2026 09:12Sven Larsson <sven@example.se> skrev:"),
    # --- German -------------------------------------------------------------------
    ("de-gmail", "Am Mo., 2. März 2026 um 09:12 Uhr schrieb Jonas Weber <jonas@example.de>:"),
    ("de-gmail-wrapped", "Am Mo., 2. März 2026 um 09:12 Uhr schrieb Jonas Weber <\njonas@example.de>:"),
    ("de-apple-mail", "> Am 02.03.2026 um 09:12 schrieb Jonas Weber <jonas@example.de>:"),
    ("de-thunderbird", "Am 02.03.26 um 09:12 schrieb Jonas Weber:"),
    ("de-weekday-first", "Mo., 2. März 2026 um 09:12 Uhr schrieb Jonas Weber <jonas@example.de>:"),
    ("de-android", "Jonas Weber <jonas@example.de> schrieb am Mo., 2. März 2026, 09:12:"),
    ("de-android-wrapped", "Jonas Weber <jonas@example.de> schrieb am Mo., 2. März\n2026, 09:12:"),
    ("de-k9", "Jonas Weber <jonas@example.de> schrieb:"),
    ("de-yahoo", "Am Montag, 2. März 2026, 09:12:00 MEZ hat Jonas Weber <jonas@example.de> Folgendes geschrieben:"),
    ("de-lotus-notes", "Jonas Weber <jonas@example.de> hat am 02.03.2026 09:12 geschrieben:"),
    ("de-horde", "Zitat von Jonas Weber <jonas@example.de>:"),
]


@pytest.mark.parametrize("text", [text for _, text in ATTRIBUTIONS], ids=[name for name, _ in ATTRIBUTIONS])
def test_attributions_are_found_on_all_their_lines(text):
    lines = text.split("\n") + ["> Is the printer on?"]
    found = next(replyheaders.find(lines, ALL))
    assert (found.kind, found.start, found.end, found.column) == ("attribution", 0, len(lines) - 1, 0)


BLOCKS = [
    ("outlook", "From: Kari Nordmann <kari@example.org>\nSent: Monday, March 2, 2026 9:12 AM\n"
                "To: Support <support@example.com>\nSubject: RE: [SD#12] Printer"),
    ("outlook-internal", "From: Kari Nordmann\nSent: Monday, March 2, 2026 9:12 AM\nTo: Support\nCc: Ola\n"
                         "Subject: Printer"),
    ("outlook-bold-indented", "  *From:* kari@example.org [mailto:\n  kari@example.org]\n"
                              "  *Sent:* Monday, March 2, 2026 9:12 AM\n  *To:* support@example.com\n  *Subject:* Hello"),
    ("outlook-wrapped-from", "From: Human Resources\n<a-really-long-automated-address+1234@example.org>\n"
                             "Sent: Monday, March 2, 2026 9:12 AM\nTo: Kari <kari@example.org>\nSubject: Hi"),
    ("outlook-mac-reply-to", "From: Kari <kari@example.org>\nReply-To: Kari <kari+x@example.org>\n"
                             "Date: Monday, 2 March 2026 at 09:12\nTo: Support <support@example.com>\nSubject: Hi"),
    ("date-first", "Date: Mon, 2 Mar 2026 09:12:02 +0100\nTo: support@example.com"),
    ("nb-outlook", "Fra: Kari Nordmann <kari@example.org>\nSendt: mandag 2. mars 2026 09:12\n"
                   "Til: Kundeservice <kundeservice@example.no>\nEmne: SV: [SD#12] Skriveren"),
    ("nb-outlook-mac", "Fra: Kari Nordmann <kari@example.org>\nDato: mandag 2. mars 2026 kl. 09:12\n"
                       "Til: Kundeservice <kundeservice@example.no>\nEmne: Skriveren"),
    ("da-outlook", "Fra: Lars Nielsen <lars@example.dk>\nSendt: 2. marts 2026 09:12\nTil: Support\nEmne: Printer"),
    ("sv-outlook", "Från: Sven Larsson <sven@example.se>\nSkickat: den 2 mars 2026 09:12\nTill: Support\n"
                   "Ämne: SV: Skrivaren"),
    ("de-outlook", "Von: Jonas Weber <jonas@example.de>\nGesendet: Montag, 2. März 2026 09:12\nAn: Support\n"
                   "Betreff: AW: Drucker"),
    ("de-outlook-bold", "*Von:* Jonas Weber [mailto:jonas@example.de]\n*Gesendet:* Montag, 2. März 2026 09:12\n"
                        "*An:* Support\n*Betreff:* Drucker"),
]


@pytest.mark.parametrize("text", [text for _, text in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_header_blocks_are_found_with_all_their_fields(text):
    lines = text.split("\n") + ["", "The printer is broken."]
    found = next(replyheaders.find(lines, ALL))
    assert (found.kind, found.start, found.end) == ("block", 0, len(lines) - 2)


@pytest.mark.parametrize("line", [
    "-----Original Message-----", "----- Original Message -----", "-----original message-----",
    "*-------- Original Message --------*", "-------- Original-Nachricht --------",
    "-----Ursprüngliche Nachricht-----", "-----Opprinnelig melding-----", "-------- Original melding --------",
    "-------- Oprindelig besked --------", "-----Oprindelig meddelelse-----", "-----Ursprungligt meddelande-----",
    "-------- Originalmeddelande --------", "---------- Forwarded message ---------",
    "-------- Weitergeleitete Nachricht --------", "---------- Videresendt melding ----------",
    "---------- Vidarebefordrat meddelande ---------", "Begin forwarded message:",
    "Anfang der weitergeleiteten Nachricht:", "> Begin forwarded message:",
])
def test_separators_are_found_in_any_language(line):
    found = next(replyheaders.find([line, "Text"], ("en",)))
    assert (found.kind, found.start, found.end) == ("separator", 0, 1)


@pytest.mark.parametrize("text", [
    "Den nye skriveren skrev ut dette:",
    "On Monday the printer wrote nothing.",
    "On my way.\nKari wrote a note.",
    "I wrote to Kari yesterday at 10:15 about it.",
    "Fra: Oslo\nTil: Bergen",
    "To: all staff\nSubject: the party",
    "2026-03-02 09:12 backup for kari@example.org failed",
    "2026-03-02 Kari Nordmann",
    "Sie schrieb am Montag:",
    "On 2 March we sent the following to kari@example.org:",
    "Here is what was sent:",
    "Den 3. mars kl. 10:15 skrev jeg til leverandøren:",
    "Am Montag um 10:15 schrieb ich an den Hersteller:",
    "Han skrev at det virket.",
    "Take the printer on floor 2; as the manual says: restart it.",
    "-- ",
    "Sent from my iPhone",
])
def test_sentences_are_not_headers(text):
    found = [h for h in replyheaders.find(text.split("\n"), ALL) if h.kind != "attribution" or h.dated]
    assert found == []


def test_an_attribution_after_the_answer_on_its_line_starts_at_its_column():
    """HTML mail turned into text leaves "reply --- On … wrote:" on one line (talon)."""
    line = "I agree --- On Mon, Mar 2, 2026 at 9:12 AM, kari@example.org wrote:"
    found = next(replyheaders.find([line, "> Hi"], ("en",)))
    assert (found.kind, line[:found.column].rstrip()) == ("attribution", "I agree")


def test_field_names_are_found_only_for_their_languages():
    """A German Outlook block under an English and Norwegian desk is text (MAIL_RULES 60)."""
    lines = BLOCKS[-2][1].split("\n")
    assert list(replyheaders.find(lines, ("en", "nb"))) == []
    assert next(replyheaders.find(lines, ("de",))).kind == "block"


def test_other_languages_use_the_library_patterns():
    """mail-parser-reply's patterns serve languages we have no table for (here French)."""
    lines = ["Le lun. 2 mars 2026 à 09:12, Kari <kari@example.org> a écrit :", "> Bonjour"]
    assert list(replyheaders.find(lines, ("en",))) == []
    assert next(replyheaders.find(lines, ("fr",))).kind == "attribution"


def test_long_near_miss_lines_are_cheap():
    """Every line is cut before it is matched (MAIL_RULES 61)."""
    lines = [("On 2. " + "skrev wrote schrieb " * 500) for _ in range(2000)]
    start = time.perf_counter()
    list(replyheaders.find(lines, ALL))
    assert time.perf_counter() - start < 3

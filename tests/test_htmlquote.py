"""HTML replies: cut where the client marked the quote, then made text (tests/data/html_replies).

Each fixture is an HTML part as the named client writes it when an agent
replies to our notification. Where it marks the quote, ``reply_text`` cuts
there, whatever the language; where it does not, or where the writer's text
follows the quote, the text rules decide on the plain-text part.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mailfactory import make_mail

from maild.mail import htmlquote
from maild.mail.message import read
from maild.mail.quotes import reply_text

DATA = Path(__file__).parent / "data" / "html_replies"


def fixture(name: str) -> str:
    return (DATA / f"{name}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name, new", [
    ("gmail-nb", "Hei Ola,\n\nJeg har startet utskriftsserveren på nytt. Prøv igjen, og se veiledningen "
                 "<https://help.example.no/skriver>.\n\nHilsen Kari"),
    ("outlook-web", "Hi Ola, the driver is updated now.\n\nKari"),
    ("outlook-ios-nb", "På vei til 2. etasje nå.\n\nHent Outlook for iOS <https://aka.ms/o0ukef>"),
    ("apple-mail-sv", "Nu fungerar det, tack.\n\nSven"),
    ("ios-mail", "Yes, tomorrow works.\n\nSent from my iPhone"),
    ("thunderbird-de", "Welcher Drucker genau, der neben der Küche?\n\n--\nAnna Becker\nIT-Abteilung"),
    ("roundcube-da", "Printeren virker igen. Tak for hjælpen.\n\nLars\n\nDen 2026-03-03 10:15, skrev Support:"),
    ("yahoo-de", "Danke, es geht wieder.\n\nAnna"),
    ("finnish-outlook-web", "Tulostin toimii taas."),
])
def test_the_text_above_a_marked_quote(name, new):
    assert htmlquote.new_text(fixture(name)) == new


@pytest.mark.parametrize("name", [
    "outlook-desktop-nb",  # Word HTML marks nothing: the text rules read its Fra: block
    "apple-mail-inline",  # answers between quotes
    "gmail-signature-below",  # the writer's signature follows the quote
    "gmail-forward",  # a wrapper around the whole message is not emptied (MAIL_RULES 59)
])
def test_no_cut_where_the_structure_does_not_say_it_safely(name):
    assert htmlquote.new_text(fixture(name)) is None


# The plain-text parts the same clients send with those HTML parts.
TEXT_PARTS = {
    "finnish-outlook-web": "Tulostin toimii taas.\n\n________________________________\n"
                           "Lähettäjä: Support <support@example.com>\nLähetetty: tiistai 3. maaliskuuta 2026 10.15\n"
                           "Vastaanottaja: Aino Virtanen <aino@example.fi>\nAihe: [SD#12] Printer prints blank pages\n\n"
                           "New message on SD-12 (Support)\nThe printer on floor 2 prints only blank pages since Monday.\n",
    "outlook-desktop-nb": "Hei Ola,\n\nJeg har byttet tonerkassetten.\n\nMed vennlig hilsen\nKari Nordmann\n\n"
                          "Fra: Kundeservice <kundeservice@example.no>\nSendt: tirsdag 3. mars 2026 10:15\n"
                          "Til: Kari Nordmann <kari@example.no>\nEmne: [SD#12] Skriveren\n\n"
                          "Ny melding i SD-12 (Kundeservice)\n",
    "apple-mail-inline": "Hi,\n\n> On 3 Mar 2026, at 10:15, Support <support@example.com> wrote:\n"
                         "> Which floor is the printer on?\n\nFloor 2.\n\n> Which model?\n\nHP 4250.\n",
    "gmail-signature-below": "The driver is updated now.\n\nOn Tue, Mar 3, 2026 at 10:15 AM Support "
                             "<support@example.com> wrote:\n\n> New message on SD-12 (Support)\n> From: Ola Nordmann "
                             "<ola@example.net>\n>\n> The printer on floor 2 prints only blank pages since Monday.\n>\n\n"
                             "-- \nKari Hansen\nIT Support\n",
    "ios-mail": "Yes, tomorrow works.\n\nSent from my iPhone\n\n> On 3 Mar 2026, at 10:15, Support "
                "<support@example.com> wrote:\n>\n> New message on SD-12 (Support)\n> Can we come tomorrow?\n",
}


@pytest.mark.parametrize("name, relayed", [
    # The marker cuts what no rule of ours reads: Finnish Outlook fields.
    ("finnish-outlook-web", "Tulostin toimii taas."),
    # No marker, or no safe one: the plain text and its rules.
    ("outlook-desktop-nb", "Hei Ola,\n\nJeg har byttet tonerkassetten.\n\nMed vennlig hilsen\nKari Nordmann"),
    ("apple-mail-inline", TEXT_PARTS["apple-mail-inline"].strip()),
    ("gmail-signature-below", "The driver is updated now."),
    ("ios-mail", "Yes, tomorrow works."),
])
def test_a_reply_is_relayed_from_its_html_marker_or_else_its_text(name, relayed):
    text, html = TEXT_PARTS[name], fixture(name)
    assert reply_text(text, html=html) == relayed
    # The same through a whole message as the daemon reads it.
    msg = read(make_mail(body=text, html=html), "desk.example.test")
    assert reply_text(msg.text, html=msg.html) == relayed


def test_without_its_html_the_finnish_reply_keeps_the_history():
    """What the marker adds: the text rules alone know no Finnish field names."""
    assert "Lähettäjä" in reply_text(TEXT_PARTS["finnish-outlook-web"])


@pytest.mark.parametrize("name, relayed", [
    ("gmail-nb", "Hei Ola,\n\nJeg har startet utskriftsserveren på nytt. Prøv igjen, og se veiledningen "
                 "<https://help.example.no/skriver>.\n\nHilsen Kari"),
    ("outlook-ios-nb", "På vei til 2. etasje nå."),
    ("thunderbird-de", "Welcher Drucker genau, der neben der Küche?"),
    ("roundcube-da", "Printeren virker igen. Tak for hjælpen.\n\nLars"),
    ("yahoo-de", "Danke, es geht wieder.\n\nAnna"),
    ("outlook-desktop-nb", "Hei Ola,\n\nJeg har byttet tonerkassetten.\n\nMed vennlig hilsen\nKari Nordmann"),
    ("apple-mail-inline", "Hi,\n\n> On 3 Mar 2026, at 10:15, Support <support@example.com> wrote:\n"
                          "> Which floor is the printer on?\n\nFloor 2.\n\n> Which model?\n\nHP 4250."),
    ("gmail-forward", "---------- Forwarded message ---------\nFrom: Billing <billing@example.com>\n"
                      "Date: Tue, Mar 3, 2026 at 10:15 AM\nSubject: Invoice 4711\nTo: <ola@example.net>\n\n"
                      "Your invoice is attached."),
])
def test_mail_sent_as_html_only(name, relayed):
    """No text part: the marker cuts; without one the HTML's text, its quotes marked "> ", meets the text rules."""
    assert reply_text("", html=fixture(name)) == relayed


@pytest.mark.parametrize("markup, text", [
    ("<p>One</p><p>Two</p>", "One\n\nTwo"),
    ('<p class="MsoNormal">One<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
     '<p class="MsoNormal">Two</p>', "One\n\nTwo"),
    ("<div>One</div><div><br></div><div>Two</div>", "One\n\nTwo"),
    ("One<br>Two<br><br>Three", "One\nTwo\n\nThree"),
    ("<style>p {color: red}</style><p>Only   this\n text</p>", "Only this text"),
    ("<ul><li>tray 1</li><li>tray 2</li></ul>", "- tray 1\n- tray 2"),
    ('See <a href="https://example.com/kb/12">the guide</a>.', "See the guide <https://example.com/kb/12>."),
    ('See <a href="https://example.com/kb/12">https://example.com/kb/12</a>.', "See https://example.com/kb/12."),
    ('<a href="mailto:kari@example.org">Kari</a>', "Kari"),
    ("<pre>a  b\n  c</pre>", "a  b\n  c"),
    ("<div>Hi</div><blockquote>Quoted<br>twice<blockquote>deeper</blockquote></blockquote><div>Me</div>",
     "Hi\n> Quoted\n> twice\n> > deeper\nMe"),
    ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
])
def test_html_is_made_text_as_clients_write_their_text_parts(markup, text):
    assert htmlquote.text_of(markup) == text


def test_a_writers_own_blockquote_is_not_a_marker():
    """Only a client's marks count: a quote the writer made in the editor stays (MAIL_RULES 59)."""
    markup = "<div>The manual says:</div><blockquote>Restart the printer.</blockquote><div>I did.</div>"
    assert htmlquote.new_text(markup) is None
    assert reply_text("", html=markup) == "The manual says:\n> Restart the printer.\nI did."


def test_a_writers_own_quote_above_the_marked_one_is_kept():
    markup = ('<div dir="ltr">Please do as the manual says:<blockquote>Restart the printer.</blockquote></div>'
              '<div class="gmail_quote">On Tue, Mar 3, 2026 at 10:15 AM Support wrote:<blockquote>Hi</blockquote></div>')
    assert reply_text("", html=markup) == "Please do as the manual says:\n> Restart the printer."


def test_broken_markup_is_read():
    markup = '<div>Fixed<p>really<div class="gmail_quote">On Tue, Kari wrote:<blockquote>old'
    assert htmlquote.new_text(markup) == "Fixed\nreally"


def test_large_html_is_cheap():
    markup = "<div>" + "<span>word</span> " * 200_000 + "</div>" + '<div class="gmail_quote">x</div>'
    start = time.perf_counter()
    htmlquote.new_text(markup)
    assert time.perf_counter() - start < 5

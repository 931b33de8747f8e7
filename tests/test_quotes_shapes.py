"""Where history starts in the shapes real replies take (replies README R1–R7).

The replies in tests/test_quotes.py are agents answering our notification;
these are the shapes the replies corpus showed the rules missing: text under
a quote, a footer with history under it, an attribution on the answer's own
line, a link that breaks a quote. Each test names the client that writes it.
"""

from __future__ import annotations

import pytest

from maild.mail.quotes import REPLY_LANGUAGES, reply_text, split_quoted

GMAIL_HEADER = "On Mon, Mar 2, 2026 at 9:12 AM Support <support@example.com> wrote:"
QUOTE = "> The printer on floor 2 prints only blank pages.\n>\n> Support"


def test_a_sign_off_under_the_quote_is_kept_and_the_quote_goes():
    """Thunderbird users who write under the quote: both sides are theirs (talon's reading, R5)."""
    text = f"The driver is updated.\n\n{GMAIL_HEADER}\n{QUOTE}\n\nRegards, Kari\n"
    assert reply_text(text) == "The driver is updated.\n\nRegards, Kari"
    new, quoted = split_quoted(text, REPLY_LANGUAGES)
    assert (new, quoted) == ("The driver is updated.\n\nRegards, Kari", f"{GMAIL_HEADER}\n{QUOTE}")


@pytest.mark.parametrize("under", [
    # K-9 Mail and others put the signature under the quote.
    "--\nDiese Nachricht wurde von meinem Android-Mobiltelefon mit K-9 Mail gesendet.",
    "-- \nKari Nordmann\nIT Support",
    # An older message quoted without marks: an Outlook block in Norwegian.
    "Fra: Ola Nordmann <ola@example.net>\nSendt: 1. mars 2026 08:00\nTil: Support\nEmne: Skriver\n\nHei",
    # A forward's separator.
    "-------- Original-Nachricht --------\nBetreff: Drucker",
    # A device footer.
    "Sent from my iPhone",
])
def test_history_or_a_signature_under_the_quote_goes_with_it(under):
    text = f"The driver is updated.\n\n{GMAIL_HEADER}\n{QUOTE}\n\n{under}\n"
    assert reply_text(text) == "The driver is updated."


def test_answers_between_quotes_keep_everything():
    text = f"Hi,\n{GMAIL_HEADER}\n> Which floor?\n\nFloor 2.\n\n> Which model?\n\nHP 4250.\n"
    assert reply_text(text) == text.strip()


def test_a_quote_broken_by_a_long_link_is_one_quote():
    """Sparrow breaks a long link inside the quote without repeating ">" (talon's link case)."""
    text = (f"Blah\n\n{GMAIL_HEADER}\n> View ticket (http://example.com/action\n_nonce=3dd518)\n>\n"
            "> Reply above this line\n")
    assert reply_text(text) == "Blah"


@pytest.mark.parametrize("footer", [
    "Sent from my iPhone", "Sent from my Wiko RIDGE FAB 4G", "Sent from Outlook Mobile<https://aka.ms/ghei36>",
    "Sent from TypeApp<http://www.typeapp.com/r?b=2621>", "Gesendet mit der mobilen Mail App",
    "Gesendet von Outlook für Android<https://aka.ms/AAb9ysg>", "Sendt fra min Samsung Galaxy-smarttelefon.",
    "Skickat från Outlook för iOS", "Sent from Yahoo Mail on Android", "Sent from Mail for Windows 10",
])
def test_a_device_footer_ends_what_the_writer_wrote(footer):
    """History the app put under its footer goes even without a header (crisp, R3)."""
    text = f"Printer works again.\n\n{footer}\n\nHi, is the printer on floor 2 working?\nSupport\n"
    assert reply_text(text) == "Printer works again."


@pytest.mark.parametrize("text", [
    "Printer works again.\n\nSent from my iPhone\nand I will check it tomorrow.",
    "Sent from my iPhone\n\nand I will check it tomorrow.",
    "Printer works again.\n\nSent from my desk, which is much easier than my phone.\n\nKari",
])
def test_text_right_under_a_footer_or_a_footer_on_top_stays(text):
    assert reply_text(text) == text


@pytest.mark.parametrize("text, expected", [
    ("I agree --- On Mon, Mar 2, 2026 at 9:12 AM, support@example.com wrote:\n> Hi\n", "I agree"),
    ("reply On Mon, Mar 2, 2026 at 9:12 AM, support@example.com wrote:\n> Hi\n", "reply"),
    ("Yes\nsee below--- On Mon, Mar 2, 2026 at 9:12 AM, support@example.com wrote:\n> Hi\n", "Yes\nsee below"),
])
def test_an_attribution_on_the_answers_line_keeps_the_answer(text, expected):
    """HTML mail turned into text by another system leaves both on one line (talon)."""
    assert reply_text(text) == expected


@pytest.mark.parametrize("header", [
    "Den 2. mar. 2026 kl. 09:12 skrev Support <support@example.com>:",
    "2013/1/3 Support <support@example.com>",
    "2026-03-02 9:12 GMT+01:00 Support <\nsupport@example.com>:",
    "On Mon, 2 Mar 2026 09:12:43 +0100 Support <support@example.com> wrote",
])
def test_a_dated_attribution_without_marks_starts_history(header):
    """Clients that quote without "> " (Outlook mobile, Gmail's old format): all below is history (R1)."""
    text = f"Floor 2.\n\n{header}\n\nWhich floor is the printer on?\n\nSupport\n"
    assert reply_text(text) == "Floor 2."


def test_an_undated_attribution_without_marks_is_a_sentence():
    text = "Floor 2.\n\nKari wrote:\n\nthe printer works again.\n"
    assert reply_text(text) == text.strip()


@pytest.mark.parametrize("text", [
    f"Floor 2.\n\n{GMAIL_HEADER}\n{QUOTE}\n",
    f"Floor 2.\n\n{GMAIL_HEADER}\n{QUOTE}\n\nKari\n",
    "Floor 2.\n\nFrom: Support <support@example.com>\nSent: Monday, March 2, 2026 9:12\nTo: Kari\n\nWhich?\n",
    "Floor 2.\n\nSent from my iPhone\n\nWhich floor?\n",
])
def test_new_and_quoted_hold_the_whole_text(text):
    """Presentation only: the portal shows both, nothing is dropped (MAIL_RULES 59)."""
    new, quoted = split_quoted(text, REPLY_LANGUAGES)
    assert sorted("".join((new + quoted).split())) == sorted("".join(text.split()))
    assert quoted

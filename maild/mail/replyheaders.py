"""Where a plain-text reply's quoted history starts: attribution lines, header blocks, separators.

A mail client marks the message it quotes in one of three ways, worded in its
user's language:

- an attribution line: "On Tue, Mar 3, 2026 at 10:15 AM Kari <kari@example.org>
  wrote:" (Gmail, Apple Mail, Thunderbird), "Den 3. mars 2026 kl. 10:15 skrev
  Kari:", "Am 03.03.26 um 10:15 schrieb Kari:". Clients wrap it where the
  line grows long, often inside the address (Gmail's "… skrev Kari <" /
  "kari@example.org>:"), so it is matched on up to four lines joined;
- a header block: "From: / Sent: / To: / Subject:" (Outlook), "Fra: / Sendt: /
  Til: / Emne:", "Von: / Gesendet: / An: / Betreff:", bold or indented;
- a separator line: "-----Original Message-----", "-------- Original-Nachricht
  --------", Apple Mail's "Begin forwarded message:".

``find`` yields each one, top down. The words are tables per language (ours
for the languages Sensedesk reads, mail-parser-reply's for the others,
MAIL_RULES 60); separators name themselves and are taken in any language.
Every pattern is anchored and bounded, and each line is cut short before it
is matched, so a long near-miss line stays cheap (MAIL_RULES 61, talon #168).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Iterator

from mailparser_reply.constants import MAIL_LANGUAGES

# A line is matched on at most this many characters; no header is longer.
LINE_CHARS = 200
# An attribution wraps over at most this many lines; Polymail's runs to four
# with a blank line inside: "On … John Smith" / "" / "<" / "mailto:…" / "> wrote:".
_WRAP_LINES = 4
_WRAP_SPAN = 6


@dataclasses.dataclass(frozen=True)
class Words:
    """One language's words for reply headers, as regular-expression alternatives."""

    # The verb that ends an attribution: "… Kari wrote:", "… Kari skrev:".
    wrote: str
    # Words a dated attribution starts with, before its date: "On", "Den", "Am",
    # and the weekday abbreviations Gmail and Apple Mail begin with in
    # Scandinavian ("tir. 3. mar. 2026 kl. 10:15 skrev …").
    openers: str
    # Horde's attribution word, before the name: "Quoting", "Zitat von".
    quoting: str
    # Header block fields: who sent it, when, to whom, about what, and the rest.
    sender: str
    when: str
    others: str
    # Verbs the name follows in a dated attribution: "Den … skrev Kari:",
    # "Am … schrieb Kari:" (English puts the name first).
    naming: str = ""
    # Verbs taken only at the end of a dated attribution (English "sent":
    # "Kari sent:" alone is a sentence).
    dated_only: str = ""


# Norwegian and Danish share these words (Bokmål, Nynorsk and Danish Outlook
# all write Fra/Sendt/Til/Emne; Gmail writes "skrev"); Nynorsk adds "skreiv".
_SCANDINAVIAN_DAYS = r"man|tir|ons|tor|fre|lør|søn|mandag|tirsdag|onsdag|torsdag|fredag|lørdag|søndag"
_DANISH = Words(
    wrote=r"skrev|skreiv",
    # Airmail writes "På 14 september 2015 på 02:23:18, Kari (kari@example.org) skrev:".
    # Apple Mail starts with the date: "3. mar. 2026 kl. 10:15 skrev Kari <…>:".
    openers=rf"den|på|\d{{1,2}}|{_SCANDINAVIAN_DAYS}",
    quoting=r"siterer|citerer",
    sender=r"fra",
    when=r"sendt|dato",
    others=r"til|emne|kopi|cc|bcc|svar til|vedhæftet|vedlegg",
    naming=r"skrev|skreiv",
)

LANGUAGES: dict[str, Words] = {
    "en": Words(
        # "writes" is the Usenet form ("Kari <kari@example.org> writes:").
        wrote=r"wrote|writes",
        # Eudora writes "At 6/16/2016 08:32 PM, you wrote:".
        openers=r"on|at",
        quoting=r"quoting",
        sender=r"from",
        when=r"sent|date",
        # Outlook for Mac puts Reply-To in the block (discourse email_headers_3).
        others=r"to|subject|cc|bcc|reply-to|organization|importance|attachments",
        # talon's "On 11-Apr-2011, at 6:54 PM, Roman <romant@example.com> sent:".
        dated_only=r"sent",
    ),
    "de": Words(
        wrote=r"schrieb|geschrieben",
        # Gmail and Outlook for Android also begin with the weekday or the date
        # ("So., 29. Apr. 2012 um 21:50 Uhr schrieb …").
        openers=r"am|\d{1,2}|(?:mo|di|mi|do|fr|sa|so)\.|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag",
        quoting=r"zitat von",
        sender=r"von",
        when=r"gesendet|datum",
        others=r"an|betreff|cc|kopie|bcc|antwort an|organisation|wichtigkeit|anlagen",
        naming=r"schrieb",
    ),
    "da": _DANISH,
    "nb": _DANISH,
    "sv": Words(
        wrote=r"skrev",
        openers=r"den|på|\d{1,2}|mån|tis|ons|tors|fre|lör|sön|måndag|tisdag|onsdag|torsdag|fredag|lördag|söndag",
        quoting=r"citerar",
        sender=r"från",
        when=r"skickat|datum",
        others=r"till|ämne|kopia|cc|bcc|svara till|bifogat",
        naming=r"skrev",
    ),
}
LANGUAGE_ALIASES = {"nn": "nb", "no": "nb"}

# Separators name the quoted message, so they are taken whatever the
# languages asked for. Outlook: "-----Original Message-----", "-----Opprinnelig
# melding-----", "-----Ursprüngliche Nachricht-----", "-----Oprindelig
# meddelelse-----", "-----Ursprungligt meddelande-----"; Thunderbird, GMX and
# Web.de: "-------- Original-Nachricht --------" ("-------- Original Message
# --------", sometimes bold); Samsung Email and other Android clients:
# "-------- Oprindelig besked --------", "-------- Original melding --------",
# "-------- Originalmeddelande --------"; Gmail and Thunderbird forwards:
# "---------- Forwarded message ---------" and their translations. "Reply
# Message" and "Antwort Nachricht" are in talon's list of separators.
_SEPARATOR_NAMES = (
    r"original message|reply message|forwarded message|message d'origine"
    r"|original-nachricht|originalnachricht|ursprüngliche nachricht|antwort nachricht|weitergeleitete nachricht"
    r"|oprindelig meddelelse|oprindelig besked|original meddelelse|videresendt meddelelse|videresendt besked"
    r"|opprinnelig melding|original melding|opprinnelig e-post|videresendt melding|videresendt e-post"
    r"|ursprungligt meddelande|originalmeddelande|vidarebefordrat meddelande|vidarebefordrat mejl")
_SEPARATOR = re.compile(rf"^[*_]*-{{2,}} ?(?:{_SEPARATOR_NAMES}) ?-{{2,}}[*_]*$", re.IGNORECASE)
# Apple Mail heads a forward with a line of its own, in the user's language.
_FORWARD_LINE = re.compile(
    r"^(?:begin forwarded message|anfang der weitergeleiteten (?:nachricht|e-mail)"
    r"|start på videresendt (?:besked|meddelelse)|videresendt melding|vidarebefordrat mejl"
    r"|début du message réexpédié)\s?:$", re.IGNORECASE)

# Evidence that a line dates or addresses a message: a time of day ("10:15",
# Danish "10.15") or an address.
_TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# Quote marks at the start of a line (RFC 3676 §4.5), nested or spaced.
_MARKS = re.compile(r"^(?:[ \t]*>)+[ \t]?")
# An address in brackets, and what the client put with it ("<mailto:…>").
_BRACKETED = re.compile(r"<[^<>]{0,200}>|\[[^\[\]]{0,200}\]|\([^()]{0,200}\)")
# A name before "wrote" is a name, not a sentence: at most this many words.
_NAME_WORDS = 10


@dataclasses.dataclass(frozen=True)
class Header:
    """A reply header found: lines [start, end), its kind, and where on its first line it starts.

    ``kind`` is "attribution", "block" or "separator". ``dated`` says whether
    an attribution names a time or an address: one without is only taken
    with a "> " quote under it. ``column`` is not 0 for an attribution that
    begins after the answer on the same line ("reply --- On … wrote:").
    """

    start: int
    end: int
    kind: str
    dated: bool = True
    column: int = 0


def unquoted(line: str) -> str:
    """A line without its quote marks and surrounding whitespace, cut to LINE_CHARS."""
    return _MARKS.sub("", line[:LINE_CHARS * 2]).strip()[:LINE_CHARS]


def is_separator(line: str) -> bool:
    """Whether a line (quote marks aside) is a named separator or Apple's forward line."""
    line = unquoted(line)
    return bool(_SEPARATOR.match(line) or _FORWARD_LINE.match(line))


def codes(languages: Iterable[str]) -> tuple[str, ...]:
    """The language codes we have words for, English always among them."""
    found = []
    for code in [*languages, "en"]:
        code = code.lower().strip()
        code = LANGUAGE_ALIASES.get(code, code)
        if (code in LANGUAGES or code in MAIL_LANGUAGES) and code not in found:
            found.append(code)
    return tuple(found)


@functools.lru_cache(maxsize=16)
def _patterns(languages: tuple[str, ...]) -> dict[str, re.Pattern]:
    """The compiled patterns for a set of language codes."""
    ours = [LANGUAGES[code] for code in languages if code in LANGUAGES]
    wrote = "|".join(w.wrote for w in ours)
    final = "|".join([wrote, *(w.dated_only for w in ours if w.dated_only)])
    naming = "|".join(w.naming for w in ours if w.naming)
    # A name after the verb ("skrev Kari <kari@example.org>:") has no colon in it.
    named_after = rf"|(?:{naming})\s(?P<name>[^:]{{1,150}}):" if naming else ""
    quoting = "|".join(w.quoting for w in ours)
    openers = "|".join(w.openers for w in ours)
    fields = {
        "sender": "|".join(w.sender for w in ours),
        "when": "|".join(w.when for w in ours),
        "others": "|".join(w.others for w in ours),
    }
    flags = re.IGNORECASE
    # Library attributions for languages without a table of ours; its pattern
    # allows quote marks and wants the whole line, which a joined window is.
    library = [MAIL_LANGUAGES[code]["wrote_header"] for code in languages
               if code not in LANGUAGES and "wrote_header" in MAIL_LANGUAGES[code]]
    return {
        # "On <date>, Kari <kari@example.org> wrote:", "Den <date> skrev Kari:",
        # "Am <date> schrieb Kari:"; the colon may be missing after a verb
        # that ends the line (crisp: "On … John Doe <john@doe.com> wrote").
        "dated": re.compile(
            rf"^(?:{openers})[\s,.]\s?\S.{{0,250}}?[\s,>](?:(?:{final})(?::|\s?$){named_after})", flags),
        # "Kari <kari@example.org> wrote:", "Kari schrieb:", and Gmail for
        # Android's German "Kari <kari@example.org> schrieb am Di., 3. März
        # 2026, 10:15:" (the name first, the date after the verb).
        # Lotus Notes puts the date after the verb too ("Kari/ACME wrote on
        # 03/02/2026 09:12 AM:"), in German before it ("Kari <kari@example.org>
        # hat am 02.03.2026 09:12 geschrieben:").
        "named": re.compile(
            rf"^(?P<name>\S.{{0,150}}?)\s(?:hat\sam\s.{{1,100}}?\s)?(?:{wrote})(?:\s(?:am|den|on)\s.{{1,100}})?:$",
            flags),
        # Horde and IMP: "Quoting Kari <kari@example.org>:", "Zitat von Kari
        # <kari@example.org>:", "Citerar Kari …:", "Siterer Kari …:".
        "quoting": re.compile(rf"^(?:{quoting})\s\S.{{0,150}}:$", flags),
        # Zoho and Android's mail app frame it: "---- On … Kari wrote ----",
        # "---- Kari wrote ----", "------On 12/29/1987 17:32 PM, Kari wrote-----".
        "framed": re.compile(rf"^-{{2,}} ?(?:\S.{{0,250}}?\s)?(?:{wrote}) ?-{{2,}}$", flags),
        # The same dated attribution after the answer on its line, as HTML
        # mail turned into text leaves it: "reply --- On … wrote:" (talon).
        "inline": re.compile(
            rf"(?:\s|-{{2,}}\s?)((?:{openers})\s\S.{{0,200}}?\s(?:{wrote}):)$", flags),
        "opener": re.compile(rf"^(?:{openers})[\s,.]", flags),
        "verb_ends": re.compile(rf"\s(?:{wrote})(?:\s(?:am|den|on)\s.*)?$", flags),
        "fields": re.compile(
            rf"^\**\s*(?:(?P<sender>{fields['sender']})|(?P<when>{fields['when']})|(?P<other>{fields['others']}))"
            r"\s?\**\s?:(?:\s|\*|$)", flags),
        "library": re.compile("|".join(f"(?:{p})" for p in library), re.MULTILINE) if library else None,
        "library_blocks": [re.compile(MAIL_LANGUAGES[code]["from_header"]) for code in languages
                           if code not in LANGUAGES and "from_header" in MAIL_LANGUAGES[code]],
    }


# Gmail's attribution in some locales is the date alone before the name:
# "2013/1/3 Kari <kari@example.org>" and "2016-10-24 15:36 GMT+02:00 Kari
# <kari@example.org>:" (discourse, talon). Yandex and Mail.ru write a date or
# time first and end with the address: "30.09.2017, 18.30, "Kari"
# <kari@example.org>:", "Wednesday, 17 November 2021, 3:32 PM +0300 from
# kari@example.org <kari@example.org>:". These carry no words, so they are
# taken in any language, and only with the address in brackets or Gmail's
# GMT offset: "2026-03-03 10:15 backup for kari@example.org" is a log line.
_GMAIL_DATE = re.compile(
    r"^\d{4}[/-]\d{1,2}[/-]\d{1,2}(?: \d{1,2}:\d{2}(?::\d{2})?)?(?P<gmt> GMT[+-]\d{1,2}(?::?\d{2})?)?"
    r" [^<>]{1,100}?(?P<address> ?<\s?[^<>\s]{1,100}@[^<>]{1,100}>)?:?$")
_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_DATE_FIRST = re.compile(
    rf"^(?:\d|{_WEEKDAY}\b).{{0,200}}(?:<[^<>\s]+@[^<>\s]+>|\([^()\s]+@[^()\s]+\))\s?:$", re.IGNORECASE)


def find(lines: list[str], languages: Iterable[str]) -> Iterator[Header]:
    """Every reply header in these lines, top down (a header's own lines are not searched again)."""
    patterns = _patterns(codes(languages))
    stripped = [unquoted(line) for line in lines]
    number = 0
    while number < len(lines):
        found = _header_at(stripped, number, patterns)
        if found:
            yield found
            number = found.end
        else:
            number += 1


def _header_at(stripped: list[str], number: int, patterns: dict) -> Header | None:
    """The header that starts on this line, if one does."""
    line = stripped[number]
    if not line:
        return None
    if _SEPARATOR.match(line) or _FORWARD_LINE.match(line):
        return Header(number, number + 1, "separator")
    end = _block_end(stripped, number, patterns)
    if end:
        return Header(number, end, "block")
    return _attribution(stripped, number, patterns)


def _attribution(stripped: list[str], number: int, patterns: dict) -> Header | None:
    """An attribution on this line and up to three wrapped lines under it."""
    if patterns["framed"].match(stripped[number]):
        return Header(number, number + 1, "attribution")
    window: list[str] = []
    end = number
    while end < min(number + _WRAP_SPAN, len(stripped)) and len(window) < _WRAP_LINES:
        if not stripped[end]:
            # Polymail leaves a blank line before the address it wraps:
            # "On … John Smith" / "" / "<" / "mailto:…". No other blank is taken.
            if end + 1 < len(stripped) and stripped[end + 1].startswith("<"):
                end += 1
                continue
            break
        window.append(stripped[end])
        joined = " ".join(window)
        if _is_attribution(joined, window, patterns):
            dated = bool(_TIME.search(joined) or _ADDRESS.search(joined))
            return Header(number, end + 1, "attribution", dated=dated)
        if not _may_wrap(window, patterns):
            break
        end += 1
    return _inline(stripped[number], number, patterns)


def _is_attribution(joined: str, window: list[str], patterns: dict) -> bool:
    """Whether lines joined are an attribution in one of its forms."""
    dated = patterns["dated"].match(joined)
    if dated and re.search(r"\d", window[0]) and _names_someone(dated.groupdict().get("name")):
        return True
    named = patterns["named"].match(joined)
    if named and _is_name(named.group("name")) and (
            len(window) == 1 or _opens_address(window[0]) or patterns["verb_ends"].search(window[0])):
        return True
    if patterns["quoting"].match(joined) and _ADDRESS.search(joined):
        return True
    gmail = _GMAIL_DATE.match(joined)
    if gmail and (gmail.group("gmt") or gmail.group("address")):
        return True
    if _DATE_FIRST.match(joined) and _TIME.search(joined):
        return True
    return bool(patterns["library"] and patterns["library"].match(joined))


def _names_someone(words: str | None) -> bool:
    """Whether the words after "skrev"/"schrieb" name the writer: an address, or a capital or quoted name.

    "Den 3. mars kl. 10:15 skrev jeg til leverandøren:" is the writer's own
    sentence; "… skrev Kari Nordmann <kari@example.org>:" names someone.
    """
    return words is None or "@" in words or words[0].isupper() or words[0] in "\"'<"


def _is_name(text: str) -> bool:
    """Whether the words before "wrote" name someone: a few words, no digits but in an address.

    "reply On Wed, Apr 4, 2012 at 3:59 PM, bob@example.com wrote:" is an
    answer with a dated attribution after it on the same line, not a name.
    """
    words = _BRACKETED.sub(" ", _ADDRESS.sub(" ", text))
    return len(text.split()) <= _NAME_WORDS and not re.search(r"\d", words)


def _may_wrap(window: list[str], patterns: dict) -> bool:
    """Whether the lines so far may be the start of an attribution the client wrapped.

    A dated one starts with its opener and a digit on its first line ("On Nov
    21, 2014," / "at 10:18," / "Kari <kari@example.org> wrote:"); a named one
    wraps inside the address ("… schrieb Kari <" / "kari@example.org>:") or
    after its verb ("Kari <kari@example.org> schrieb am Di., 16. Aug. 2016" /
    "um 12:52 Uhr:"); Gmail's date-first one inside the address too. A line
    that ends a sentence ends the attribution's chances.
    """
    first, last = window[0], window[-1]
    if re.search(r"[^\W\d_]{3}[.!?]$", last):
        return False
    if patterns["opener"].match(first) and re.search(r"\d", first):
        return True
    if patterns["verb_ends"].search(first) or _opens_address(last):
        return True
    return bool(re.match(r"\d{4}[/-]\d{1,2}[/-]\d{1,2}\b", first))


def _opens_address(line: str) -> bool:
    """Whether a line ends inside an address the client wrapped ("Kari <" or "<kari@example")."""
    return line.rfind("<") > line.rfind(">")


def _inline(line: str, number: int, patterns: dict) -> Header | None:
    """A dated attribution that starts after the answer on the same line (HTML turned into text)."""
    match = patterns["inline"].search(line) if " " in line else None
    if not match or not _TIME.search(match.group(1)):
        return None
    return Header(number, number + 1, "attribution", column=match.start())


def _block_end(stripped: list[str], number: int, patterns: dict) -> int | None:
    """The line after a header block starting on this line, or None.

    A block is at least two different fields, each on its own line, one of
    them the date, or the sender with an address: "Fra: Oslo" / "Til: Bergen"
    is a journey, not a header. A field's value
    the client wrapped ("From: Human Resources" / "<hr@example.com>", or
    indented "[mailto:" / "bob@example.com]") is taken with it, as is one
    blank line between fields.
    """
    fields = patterns["fields"]
    if not fields.match(stripped[number]):
        return _library_block(stripped, number, patterns)
    seen: set[str] = set()
    dated = False
    line = end = number
    while line < min(number + 16, len(stripped)):
        match = fields.match(stripped[line])
        if match:
            name = match.group(match.lastgroup).lower()
            if name in seen:
                break
            seen.add(name)
            value = stripped[line][match.end():]
            line += 1
            # A wrapped value: up to two lines that carry it on.
            for _ in range(2):
                if line < len(stripped) and stripped[line] and not fields.match(stripped[line]) \
                        and _continues(stripped[line - 1], stripped[line]):
                    value += " " + stripped[line]
                    line += 1
            end = line
            dated = dated or match.lastgroup == "when" or (match.lastgroup == "sender" and bool(_ADDRESS.search(value)))
        elif not stripped[line] and line == end and line + 1 < len(stripped) and fields.match(stripped[line + 1]):
            line += 1
        else:
            break
    if len(seen) >= 2 and dated:
        return end
    return None


def _continues(previous: str, line: str) -> bool:
    """Whether a line carries on the field value above it (a wrapped address)."""
    return (_opens_address(previous) or previous.rfind("[") > previous.rfind("]")
            or previous.endswith((",", ";")) or line.startswith(("<", "[", "(")) or bool(_ADDRESS.fullmatch(line)))


def _library_block(stripped: list[str], number: int, patterns: dict) -> int | None:
    """A header block in a language we have no table for, by mail-parser-reply's pattern."""
    for pattern in patterns["library_blocks"]:
        match = pattern.match("\n".join(stripped[number:number + 8]))
        if match:
            return number + match.group(0).rstrip("\n").count("\n") + 1
    return None

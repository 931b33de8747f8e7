"""What part of a reply is new: the quoted history and the signature cut off.

Two callers, one concept. The portal folds quoted history for display
(``split_quoted``; presentation only, the full text stays stored, MAIL_RULES
59). The mail daemon relays an agent's reply to the customer and must send
only what the agent wrote (``reply_text``): no quoted notification, no
signature, no "Sent from my iPhone"; and it adds the agent's name and
department only when the reply has no sign-off of its own (``signed_off``).

Reply headers come from mail-parser-reply (MAIL_RULES 60) with our own
patterns where it falls short; the search is bounded in time (MAIL_RULES 61).
Everything is cut on the original text, so new + quoted is the whole input.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable

from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES

from maild.mail import footers

# mail-parser-reply has no Norwegian; its Danish patterns (Fra/Sendt/Til/Emne,
# "… skrev …:", weekday abbreviations man/tir/ons/tor/fre/lør/søn) are the
# same words in Bokmål and Nynorsk (MAIL_RULES 60, observed there).
_LANGUAGE_ALIASES = {"nb": "da", "nn": "da", "no": "da"}

# The library's "On … wrote:" pattern backtracks quadratically on a long line
# that starts with "On " (10 KB took 2 s here; talon #168 is the same bug). The
# header search therefore sees at most this much text, each line cut short;
# an attribution is never that long, and a miss only means nothing is folded
# (MAIL_RULES 61).
_SEARCH_CHARS = 64_000
_SEARCH_LINE = 200

# Separator lines the library does not know: it has English "-----Original
# Message-----" only, and Danish "Oprindelig meddelelse" only in front of a
# Fra: block. Outlook writes "-----Opprinnelig melding-----" in Norwegian,
# "-----Ursprungligt meddelande-----" in Swedish and "-----Ursprüngliche
# Nachricht-----" in German; a forwarded message (Gmail's "---------- Forwarded
# message ---------" and its translations) is history too. A plain rule of
# underscores (Outlook's line above "From:") is only taken when it sits right
# above a found header.
_SEPARATOR_NAMES = (r"(?:original message|opprinnelig melding|oprindelig meddelelse"
                    r"|ursprungligt meddelande|ursprüngliche nachricht"
                    r"|forwarded message|videresendt melding|videresendt e-post"
                    r"|videresendt meddelelse|vidarebefordrat meddelande|weitergeleitete nachricht)")
_NAMED_SEPARATOR = re.compile(rf"^(?:>\s?)*-{{2,}}\s*{_SEPARATOR_NAMES}\s*-{{2,}}$", re.IGNORECASE)
_RULE = re.compile(rf"^(?:>\s?)*(?:[_=-]{{5,}}|-{{2,}}\s*{_SEPARATOR_NAMES}\s*-{{2,}})$", re.IGNORECASE)

# Attributions the library misses, by its language code. Both are Gmail for
# Android's, worded unlike Gmail on the web: in German the name comes first
# ("Kari <kari@example.org> schrieb am Di., 3. März 2026, 10:15:"), in Swedish
# the time runs into the name and the line ends in "skrev:" ("Den tis 3 mars
# 2026 10:15Kari <kari@example.org> skrev:"). A time of day is required, so a
# sentence like "Sie schrieb am Montag:" is not taken for one. The repeats are
# bounded: the lines searched are at most _SEARCH_LINE long (MAIL_RULES 61).
_MORE_HEADERS = {
    "de": r"^(?:> ?)*[^\n]{1,150}\sschrieb am\s[^\n]{0,60}\d{1,2}:\d{2}:$",
    "sv": r"^(?:> ?)*Den\s[^\n]{0,80}\d{1,2}[:.]\d{2}[^\n]{0,150}\sskrev:$",
}

# RFC 3676 §4.3: the signature separator is "-- " alone on a line. Clients
# and people that trim trailing spaces (Outlook, format=fixed editors) leave
# "--", which is taken too.
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]?$")

# A field line that starts an Outlook header block ("From: …", "*Von:* …",
# "Ämne: …"), as opposed to an attribution ("On … wrote:").
_FIELD = re.compile(r"^(?:>\s?)*[* ]*[^\W\d_][\w-]{0,30}:")
# A time of day: every dated attribution has one ("10:15", Danish "10.15").
_TIME = re.compile(r"\b\d{1,2}[:.]\d{2}\b")
# Headers found under text that are checked before the search gives up
# (MAIL_RULES 61: a chain of near-miss attributions must stay cheap).
_MAX_HEADERS = 50

# Words of an attribution above a trailing "> " block that the library's
# patterns missed, such as Gmail's Norwegian one wrapped inside the address:
# "… skrev Kari Nordmann <" / "kari@example.org>:" (Danish wants one line).
_ATTRIBUTION_WORD = re.compile(r"\b(?:wrote|skrev|schrieb|écrit|escribió)\b", re.IGNORECASE)


def split_quoted(text: str, languages: Iterable[str] = ("en", "nb")) -> tuple[str, str]:
    """(new text, quoted history) of a plain-text body; (text, "") when nothing is quoted.

    The quoted part starts at the first reply header found by mail-parser-reply
    ("On … wrote:", "Den … skrev …:", a From:/Fra: block, "-----Original
    Message-----"), at a separator it misses, or at a trailing block of "> "
    lines. A bottom-post (a leading quote, then the answer) returns the answer
    as new text. Interleaved answers (also under a greeting), or a split that
    would leave no new text, return the whole text unfolded. A sentence that
    merely looks like an attribution, with no "> " quote and no time of day,
    is not a header. The split is made on the original text: new + quoted hold
    every character of the input except whitespace at the cut.
    """
    if not text or not text.strip():
        return text, ""
    lines = text.split("\n")
    quoted = [_is_quoted(line) for line in lines]
    found = [span for span in (_find_header(lines, quoted, languages), _find_named_separator(lines)) if span]
    if found:
        start, end = min(found)
        if any(line.strip() for line in lines[:start]):
            return _top_post(text, lines, _extend_up(lines, start))
        # A header on top: a bottom-post when its quote is followed by an
        # answer. A From: block's match may run into the first quoted line.
        begin = start + 1
        while begin < end and not quoted[begin]:
            begin += 1
        return _bottom_post(text, lines, quoted, begin)
    first = next(i for i, line in enumerate(lines) if line.strip())
    if quoted[first]:
        return _bottom_post(text, lines, quoted, first)
    return _trailing_quote(text, lines, quoted)


def _is_quoted(line: str) -> bool:
    """Whether a line belongs to a "> " quote (RFC 3676 §4.5 quote marks)."""
    return line.lstrip().startswith(">")


def _languages(languages: Iterable[str]) -> tuple[str, ...]:
    """Library language codes for ours; unknown ones are ignored, English always kept."""
    codes = []
    for code in languages:
        code = _LANGUAGE_ALIASES.get(code.lower().strip(), code.lower().strip())
        if code in MAIL_LANGUAGES and code not in codes:
            codes.append(code)
    return tuple(codes)


@functools.lru_cache(maxsize=16)
def _header_regex(languages: tuple[str, ...]) -> re.Pattern:
    """mail-parser-reply's reply-header pattern for these languages, with ours added."""
    library = EmailMessage(text="", languages=list(languages)).HEADER_REGEX
    ours = [_MORE_HEADERS[code] for code in languages if code in _MORE_HEADERS]
    if not ours:
        return library
    return re.compile("|".join([library.pattern, *ours]), library.flags)


def _find_header(lines: list[str], quoted: list[bool], languages: Iterable[str]) -> tuple[int, int] | None:
    """(first line, line after) of the first reply header the library finds, or None.

    The library's own read() returns pieces of a rewritten text (every line
    stripped, underscore rules deleted) that cannot be mapped back onto the
    original, so we run its pattern over stripped lines, one for one with ours,
    and turn the match into line numbers; the cut is then made in the original.
    A header under text must read as the start of history (_reads_as_history);
    else the search goes on to the next one.
    """
    prepared, size = [], 0
    for line in lines:
        if size > _SEARCH_CHARS:
            break
        line = line.strip()[:_SEARCH_LINE]
        prepared.append(line)
        size += len(line) + 1
    joined = "\n".join(prepared)
    matches = _header_regex(_languages(languages)).finditer(joined)
    for match in itertools.islice(matches, _MAX_HEADERS):
        span = match.group(0)
        start = joined.count("\n", 0, match.start() + len(span) - len(span.lstrip()))
        end = joined.count("\n", 0, match.start() + len(span.rstrip())) + 1
        if not any(line.strip() for line in lines[:start]) or _reads_as_history(lines, quoted, start, end):
            return start, end
    return None


def _reads_as_history(lines: list[str], quoted: list[bool], start: int, end: int) -> bool:
    """Whether a header found under some text starts the quoted history.

    An Outlook block or a separator has the history unquoted under it and is
    taken as found. An attribution ("On … wrote:") must have a "> " block under
    it running to the end or to a signature delimiter: text after the block is
    an inline answer, which a cut at the attribution would lose. With no "> "
    block (a client that quotes without marks) it must name a time of day:
    "Den nye skriveren skrev ut dette:" is the writer's own sentence.
    """
    first = lines[start].strip()
    if _FIELD.match(first) or _RULE.match(first):
        return True
    number = end
    while number < len(lines) and not lines[number].strip():
        number += 1
    if number == len(lines) or not quoted[number]:
        return bool(_TIME.search(" ".join(lines[start:end])))
    while number < len(lines) and (quoted[number] or not lines[number].strip()):
        number += 1
    return number == len(lines) or bool(_SIGNATURE_DELIMITER.match(lines[number].rstrip("\r")))


def _find_named_separator(lines: list[str]) -> tuple[int, int] | None:
    """The first "-----Opprinnelig melding-----"-style line, as (line, line after)."""
    for number, line in enumerate(lines):
        if _NAMED_SEPARATOR.match(line.strip()):
            return number, number + 1
    return None


def _extend_up(lines: list[str], start: int) -> int:
    """Move a quote's start up over blank lines and separator rules right above it."""
    top = start
    while top > 0 and (not lines[top - 1].strip() or _RULE.match(lines[top - 1].strip())):
        top -= 1
    while not lines[top].strip():
        top += 1
    return top


def _offset(lines: list[str], number: int) -> int:
    """Character offset of a line in the text the lines were split from."""
    return sum(len(line) + 1 for line in lines[:number])


def _top_post(text: str, lines: list[str], start: int) -> tuple[str, str]:
    """Split before line `start`: the answer above, the history below."""
    cut = _offset(lines, start)
    new = text[:cut].rstrip()
    if not new.strip():
        return text, ""
    return new, text[cut:]


def _bottom_post(text: str, lines: list[str], quoted: list[bool], start: int) -> tuple[str, str]:
    """A leading quote (and its header) followed by the answer; else no split.

    `start` is the first line after the header, or the first quoted line.
    Only one block of "> " lines may follow; more quotes after the answer mean
    the answer is interleaved and makes no sense without them.
    """
    number = start
    while number < len(lines) and not lines[number].strip():
        number += 1
    if number == len(lines) or not quoted[number]:
        # A header with no "> " block under it: a forward or an Outlook block
        # with nothing above it — all of it is the message.
        return text, ""
    end = number
    while end < len(lines) and (quoted[end] or not lines[end].strip()):
        end += 1
    if any(quoted[end:]) or not any(line.strip() for line in lines[end:]):
        return text, ""
    cut = _offset(lines, end)
    return text[cut:].rstrip(), text[:cut].rstrip()


def _trailing_quote(text: str, lines: list[str], quoted: list[bool]) -> tuple[str, str]:
    """A "> " block running to the end under an answer: a top-post with no known header.

    The one or two lines above the block (Gmail leaves a blank line between)
    are taken with it when they end in ":" and read like an attribution in a
    language or a wrapping the library misses. Other "> " lines above the
    block mean the answers are interleaved: then nothing is split.
    """
    last = max((i for i, flag in enumerate(quoted) if flag), default=None)
    if last is None or any(line.strip() for line in lines[last + 1:]):
        return text, ""
    start = last
    while start > 0 and (quoted[start - 1] or not lines[start - 1].strip()):
        start -= 1
    while not lines[start].strip():
        start += 1
    if any(quoted[:start]):
        # Quotes further up with answers between them: an interleaved reply.
        return text, ""
    above = start
    if above > 0 and not lines[above - 1].strip():
        above -= 1
    for size in (1, 2):
        attribution = lines[max(above - size, 0):above]
        joined = " ".join(line.strip() for line in attribution)
        if (len(attribution) == size and all(line.strip() for line in attribution)
                and joined.endswith(":") and _ATTRIBUTION_WORD.search(joined)):
            start = above - size
            break
    return _top_post(text, lines, start)


# --- The text to relay ------------------------------------------------------

# Agents answer from whatever client and language they use, not the language
# of the case, so the relay looks for every header we have patterns for.
REPLY_LANGUAGES = ("en", "nb", "da", "sv", "de")

def reply_text(text: str, languages: Iterable[str] = REPLY_LANGUAGES) -> str:
    """The new text of a reply as it should be relayed: no quoted history, no signature.

    The new part is ``split_quoted``'s (an interleaved reply keeps its quotes:
    an agent's inline answers make no sense without them). From it the
    signature is cut at the first "-- " line (RFC 3676 §4.3), then mobile
    footers ("Sent from my iPhone", "Von meinem iPhone gesendet") on their own
    line at the end (``footers``). Greetings and names stay: telling "Med vennlig hilsen /
    Kari" from the message is guesswork. Line ends come back as "\\n",
    blank lines at either end trimmed. A cut that would leave nothing is not
    made, so text that was not quoted never comes back empty.
    """
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    new, _ = split_quoted(text, languages)
    lines = _trimmed(new.split("\n"))
    lines = _without_signature(lines)
    lines = _without_footers(lines)
    return "\n".join(lines).rstrip()


def _trimmed(lines: list[str]) -> list[str]:
    """Lines without the blank ones at the start and the end."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _without_signature(lines: list[str]) -> list[str]:
    """Lines above the first signature delimiter that has text above it.

    Only unquoted lines count: "> -- " is the signature of the quoted mail,
    part of the history an inline reply keeps.
    """
    for number, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line) and any(above.strip() for above in lines[:number]):
            return _trimmed(lines[:number])
    return lines


def _without_footers(lines: list[str]) -> list[str]:
    """Lines without mobile footers at the end, as long as some text is left."""
    while len(lines) > 1:
        if not footers.is_footer(lines[-1]):
            break
        lines = _trimmed(lines[:-1])
    return lines


# Closings that end a letter, in the languages replies come in: "Regards",
# "Best wishes", "Thanks", "Mvh", "Med vennlig hilsen", "Hilsen", "Takk".
_CLOSING = re.compile(
    r"^(?:(?:best|kind|warm|many)\s+)?(?:regards|wishes|thanks)\b|^(?:thank you|cheers|sincerely|yours)\b"
    r"|^(?:med\s+)?(?:vennlig|venlig|beste)\s+hilsen\b|^(?:hilsen|mvh|vh|takk|tusen takk|hälsningar)\b"
    r"|^med vänliga hälsningar\b|^(?:viele|liebe|beste)\s+grüße\b|^mfg\b",
    re.IGNORECASE)
_SIGN_OFF_LINES = 3
_CLOSING_WORDS = 4


def signed_off(text: str, name: str = "") -> bool:
    """Whether a reply ends with a sign-off of its own: a closing or the writer's name in its last lines.

    The customer then reads no second signature under the agent's own
    "Mvh Ola" (the department's is added only without one).
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()][-_SIGN_OFF_LINES:]
    names = {name.strip().lower(), (name.split() or [""])[0].lower()} - {""}
    for line in lines:
        words = line.strip(" ,.!-\u2013").lower()
        # A closing is a short line of its own: "Thanks, Ola", not "Thanks for waiting, it works now".
        if (_CLOSING.match(words) and len(words.split()) <= _CLOSING_WORDS) or words.split(",")[0].strip() in names:
            return True
    return False

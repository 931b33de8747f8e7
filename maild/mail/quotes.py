"""What part of a reply is new: the quoted history and the signature cut off.

Two callers, one concept. The portal folds quoted history for display
(``split_quoted``; presentation only, the full text stays stored, MAIL_RULES
59). The mail daemon relays an agent's reply to the customer and must send
only what the agent wrote (``reply_text``): no quoted notification, no
signature, no "Sent from my iPhone"; and it adds the agent's name and
department only when the reply has no sign-off of its own (``signed_off``).

Where the history starts is found by ``replyheaders`` (attributions, header
blocks and separators in each language), under a "> " quote, or under a
device footer (``footers``). Mail whose HTML part marks its quote (Gmail's
``gmail_quote``, Outlook's ``divRplyFwdMsg``) is cut there first
(``htmlquote``). Everything is cut on the original text; the search is
bounded in time (MAIL_RULES 61).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from maild.mail import footers, htmlquote, replyheaders

# The header search sees at most this much text (each line is cut to
# replyheaders.LINE_CHARS): an attribution is never further down than a
# long answer, and a miss only means nothing is folded (MAIL_RULES 61).
_SEARCH_CHARS = 64_000

# RFC 3676 §4.3: the signature separator is "-- " alone on a line. Clients
# and people that trim trailing spaces (Outlook, format=fixed editors) leave
# "--", which is taken too.
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]?$")

# A rule line Outlook draws above its header block ("____…") or a client
# above a separator: it goes with the history under it.
_RULE = re.compile(r"^(?:>\s?)*(?:[_=-]{5,}|[*_]*-{2,}[^-]{0,40}-{2,}[*_]*)$")

# Headers rejected as not starting history (an interleaved reply's
# attributions, sentences) before the search gives up (MAIL_RULES 61: a chain
# of near-miss attributions must stay cheap).
_MAX_HEADERS = 50

# Words of an attribution above a trailing "> " block that no pattern took:
# a language we have no table for, or a wrapping we do not know.
_ATTRIBUTION_WORD = re.compile(r"\b(?:wrote|skrev|schrieb|écrit|escribió|schreef|scritto)\b", re.IGNORECASE)


def split_quoted(text: str, languages: Iterable[str] = ("en", "nb")) -> tuple[str, str]:
    """(new text, quoted history) of a plain-text body; (text, "") when nothing is quoted.

    History starts at the first reply header under the answer ("On … wrote:",
    "Den … skrev …:", a From:/Fra: block, "-----Original Message-----"), at a
    "> " block under it, or after a device footer with more text under it
    ("Sent from my iPhone" ends what the writer wrote). An attribution needs a
    "> " block under it, or a time or an address: "Den nye skriveren skrev ut
    dette:" is the writer's own sentence. Text after an attribution's "> "
    block is the writer's too (a sign-off under the quote), and is kept with
    the answer, unless it is a signature or holds more history. A bottom-post
    (a leading quote, then the answer) returns the answer. Interleaved answers,
    or a split that would leave no new text, return the whole text unfolded.
    Pieces are cut from the original text: new and quoted together hold
    every character of the input but whitespace at the cuts.
    """
    if not text or not text.strip():
        return text, ""
    lines = text.split("\n")
    quoted = [_is_quoted(line) for line in lines]
    cut = _find_cut(lines, quoted, languages)
    if cut is None:
        return text, ""
    kind, start, end = cut
    if kind == "bottom":
        answer = _offset(lines, end)
        return text[answer:].rstrip(), text[:answer].rstrip()
    begin = _offset(lines, start[0]) + start[1]
    new = text[:begin].rstrip()
    if not new.strip():
        return text, ""
    if end is None:
        return new, text[begin:]
    # The quote block goes; what the writer put under it stays.
    after = _offset(lines, end)
    return f"{new}\n\n{text[after:].strip(chr(10)).rstrip()}", text[begin:after].rstrip()


def _is_quoted(line: str) -> bool:
    """Whether a line belongs to a "> " quote (RFC 3676 §4.5 quote marks)."""
    return line.lstrip().startswith(">")


def _searched(lines: list[str]) -> list[str]:
    """The lines the header search sees: the first _SEARCH_CHARS characters' worth."""
    size = 0
    for number, line in enumerate(lines):
        size += min(len(line), replyheaders.LINE_CHARS) + 1
        if size > _SEARCH_CHARS:
            return lines[:number]
    return lines


def _find_cut(lines: list[str], quoted: list[bool], languages: Iterable[str]):
    """Where to cut, as ("top", (line, column), end line or None), ("bottom", _, answer line) or None.

    Walks down the lines: the first header, quote or footer under some text
    decides; one on top decides whether the reply is a bottom-post.
    """
    headers = itertools.islice(replyheaders.find(_searched(lines), languages), _MAX_HEADERS)
    header = next(headers, None)
    answered = False
    number = 0
    while number < len(lines):
        while header is not None and header.start < number:
            header = next(headers, None)
        if not lines[number].strip():
            number += 1
            continue
        here = header if header is not None and header.start == number else None
        if not answered and not (here and here.column):
            if here or quoted[number]:
                return _bottom_post(lines, quoted, here.end if here else number)
            answered = True
            number += 1
            continue
        if here:
            cut = _at_header(lines, quoted, here, languages)
            if cut:
                return cut
            answered = True
            number = here.end
            continue
        if quoted[number]:
            return _at_quote(lines, quoted, number)
        following = _next_text(lines, number + 1)
        if following > number + 1 and following < len(lines) and footers.is_footer(lines[number]):
            # A device footer ends what the writer wrote: the text under it,
            # after a blank line, is history even with no header (crisp,
            # EdgeTier; replies R3). "Sent from my iPhone" / "and one more
            # thing" straight under it is the writer's sentence.
            return "top", (following, 0), None
        number += 1
    return None


def _at_header(lines: list[str], quoted: list[bool], header: replyheaders.Header, languages: Iterable[str]):
    """The cut a header under the answer makes, or None when it does not start history."""
    if header.kind != "attribution":
        # An Outlook block or a separator has the history unquoted under it.
        return "top", (_extend_up(lines, header.start), 0), None
    start = (header.start, header.column) if header.column else (_extend_up(lines, header.start), 0)
    below = _next_text(lines, header.end)
    if below == len(lines):
        return ("top", start, None) if header.dated else None
    if not quoted[below]:
        # A client that quotes without marks: all below is history, if the
        # line is dated (replies R1); else it is the writer's sentence.
        return ("top", start, None) if header.dated else None
    end = _quote_end(lines, quoted, below)
    rest = _next_text(lines, end)
    if rest == len(lines) or _ends_the_answer(lines[rest]):
        return "top", start, None
    if any(quoted[rest:]):
        # Answers between quotes: an inline reply makes no sense without them.
        return None
    if _holds_history(lines[rest:], languages):
        # Under the quote, older history without marks (a Fra:/Til: block, an
        # attribution): everything from the first header down is history.
        return "top", start, None
    return "top", start, end


def _at_quote(lines: list[str], quoted: list[bool], start: int):
    """The cut a "> " block with no header of its own makes under the answer, or None.

    Lines above the block (Gmail leaves a blank line between) are taken with
    it when they end in ":" and read like an attribution no pattern knew.
    Text under the block means the answers are interleaved: nothing is cut.
    """
    end = _quote_end(lines, quoted, start)
    rest = _next_text(lines, end)
    if rest < len(lines) and not _ends_the_answer(lines[rest]):
        return None
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
    return "top", (_extend_up(lines, start), 0), None


def _ends_the_answer(line: str) -> bool:
    """Whether a line under a quote block starts what is not the writer's answer: a signature, a footer, a separator."""
    line = line.rstrip("\r")
    return bool(_SIGNATURE_DELIMITER.match(line)) or footers.is_footer(line) or replyheaders.is_separator(line)


def _holds_history(lines: list[str], languages: Iterable[str]) -> bool:
    """Whether unquoted lines hold a reply header: an older message quoted without marks."""
    found = next(replyheaders.find(_searched(lines), languages), None)
    return found is not None and (found.kind != "attribution" or found.dated)


def _quote_end(lines: list[str], quoted: list[bool], start: int) -> int:
    """The line after a "> " block (blank lines inside it included, trailing ones not).

    A line the client broke inside the quote without repeating the mark (a
    long link: "> View ticket (http://example.com/a" / "_nonce=3dd518)" / ">")
    stays in the block (talon's RE_PARENTHESIS_LINK case).
    """
    end = start
    while end < len(lines):
        if quoted[end] or not lines[end].strip() or (
                quoted[end - 1] and end + 1 < len(lines) and quoted[end + 1] and _broken_piece(lines[end])):
            end += 1
            continue
        break
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _broken_piece(line: str) -> bool:
    """Whether a line is a piece of a longer one: a link, or one word with no space."""
    line = line.strip()
    return "://" in line or " " not in line


def _next_text(lines: list[str], number: int) -> int:
    """The first line at or after `number` that is not blank (len(lines) if none)."""
    while number < len(lines) and not lines[number].strip():
        number += 1
    return number


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


def _bottom_post(lines: list[str], quoted: list[bool], start: int):
    """A leading quote (and its header) followed by the answer, or None.

    `start` is the first line after the header, or the first quoted line.
    Only one block of "> " lines may follow; more quotes after the answer mean
    the answer is interleaved and makes no sense without them. A header with
    no "> " block under it (a forward, an Outlook block with nothing above
    it) is all of the message.
    """
    number = _next_text(lines, start)
    if number == len(lines) or not quoted[number]:
        return None
    end = number
    while end < len(lines) and (quoted[end] or not lines[end].strip()):
        end += 1
    if any(quoted[end:]) or not any(line.strip() for line in lines[end:]):
        return None
    return "bottom", None, end


# --- The text to relay ------------------------------------------------------

# Agents answer from whatever client and language they use, not the language
# of the case, so the relay looks for every header we have patterns for.
REPLY_LANGUAGES = ("en", "nb", "da", "sv", "de")

# An attribution above an HTML quote is looked for in this many last lines
# (it wraps over at most four).
_WRAPPED_ATTRIBUTION = 4


def reply_text(text: str, languages: Iterable[str] = REPLY_LANGUAGES, html: str = "") -> str:
    """The new text of a reply as it should be relayed: no quoted history, no signature.

    Given the message's HTML part, a quote its client marked there (Gmail's
    ``gmail_quote``, Outlook's ``divRplyFwdMsg``, ``blockquote type=cite``) is
    cut first and the text made from what is above it (``htmlquote``); with no
    marker the plain text is read, or for mail sent as HTML only the HTML's
    text. The new part is ``split_quoted``'s (an interleaved reply keeps its quotes:
    an agent's inline answers make no sense without them). From it the
    signature is cut at the first "-- " line (RFC 3676 §4.3), then mobile
    footers ("Sent from my iPhone", "Von meinem iPhone gesendet") on their own
    line at the end (``footers``). Greetings and names stay: telling "Med vennlig hilsen /
    Kari" from the message is guesswork. Line ends come back as "\\n",
    blank lines at either end trimmed. A cut that would leave nothing is not
    made, so text that was not quoted never comes back empty.
    """
    lines = without_history(text, languages, html).split("\n")
    lines = _without_signature(lines)
    lines = _without_footers(lines)
    return "\n".join(lines).rstrip()


def without_history(text: str, languages: Iterable[str] = REPLY_LANGUAGES, html: str = "") -> str:
    """A reply's text without the quoted history, its signature kept: for mail
    that tells people who have the history already what a reply says (an
    agent told of a customer's answer), where ``reply_text`` also cuts what a
    customer must not be sent. Found as ``reply_text`` finds it; a cut that
    would leave nothing is not made."""
    marked = htmlquote.new_text(html) if html else None
    if marked is not None:
        # The client said where its quote starts: what is above is the
        # writer's, a blockquote of their own included.
        new = _without_trailing_attribution(marked, languages)
    else:
        if html and not (text or "").strip():
            text = htmlquote.text_of(html)
        text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
        new, _ = split_quoted(text, languages)
    return "\n".join(_trimmed(new.split("\n"))).rstrip()


def only_quoted(text: str, languages: Iterable[str] = REPLY_LANGUAGES, html: str = "") -> bool:
    """Whether a reply holds only quoted history and nothing its writer wrote above it.

    ``split_quoted`` keeps such a text whole (MAIL_RULES 59a: a customer's
    forward loses nothing); an agent's mail like that was sent by mistake,
    and its quote must not reach the customer as the department's reply.
    """
    marked = htmlquote.new_text(html) if html else None
    if marked is not None:
        return False  # htmlquote finds a marker only under text of the writer's own
    if html and not (text or "").strip():
        text = htmlquote.text_of(html)
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    quoted = [_is_quoted(line) for line in lines]
    first = _next_text(lines, 0)
    if first == len(lines):
        return False
    header = next(iter(replyheaders.find(_searched(lines), languages)), None)
    # A dated attribution, an Outlook block or a separator on the first line,
    # or a "> " quote: history from the top. No answer under it (a
    # bottom-post) leaves nothing of the writer's.
    on_top = quoted[first] or (header is not None and header.start == first and not header.column
                               and (header.kind != "attribution" or header.dated))
    return on_top and _find_cut(lines, quoted, languages) is None


def _without_trailing_attribution(text: str, languages: Iterable[str]) -> str:
    """Text above an HTML quote without the attribution that ends it.

    Roundcube and Apple Mail write "On … wrote:" above the blockquote, not in
    it: the marker says a quote follows, so the attribution goes even when it
    names no time ("Kari wrote:"). Never all of the text.
    """
    lines = _trimmed(text.split("\n"))
    tail = max(len(lines) - _WRAPPED_ATTRIBUTION, 0)
    for header in replyheaders.find(lines[tail:], languages):
        if header.kind == "attribution" and tail + header.end == len(lines):
            above = "\n".join(lines)[:_offset(lines, tail + header.start) + header.column].rstrip()
            if above.strip():
                return above
    return "\n".join(lines)


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
    end = len(lines)
    while end > 1 and (not lines[end - 1].strip() or footers.is_footer(lines[end - 1])):
        end -= 1
    kept = _trimmed(lines[:end])
    return kept if kept else lines


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

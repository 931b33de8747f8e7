"""The new part of an HTML reply: cut where the client marked its quote, then made text.

Most replies carry an HTML part in which the client marks the quoted message
by structure, not by words: Gmail wraps it in ``<div class="gmail_quote">``,
Apple Mail, iOS and Thunderbird in ``<blockquote type="cite">`` (Thunderbird
puts its attribution in ``<div class="moz-cite-prefix">`` above), Yahoo in
``<div class="yahoo_quoted">``; Outlook (web, mobile, new Outlook) starts it
with ``<div id="appendonsend">`` / ``<div id="divRplyFwdMsg">`` and lets it run
to the end. A marker is exact in every language, so it is used before the
text rules when there is one.

Parsed with the standard library's ``html.parser``: none of our dependencies
offers an HTML tree (nh3 sanitises and exposes none), and a tokenizer that
follows open elements is all that finding a marker and making text takes.
"""

from __future__ import annotations

import collections
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

# Markers by attribute: (attribute, value, how far the quote runs). A class
# is one of the element's class names, or its end for Yahoo, which prefixes
# its classes ("ydp64ad1fbcyahoo_quoted"). A "container" holds the quote;
# text after it is the writer's again (an inline answer, a bottom-post, a
# signature under the quote), so the cut is made only when there is none. A
# "start" begins history that runs to the end of the message.
_MARKERS = (
    # Gmail on the web and its apps; newer Gmail adds "gmail_quote_container".
    ("class", "gmail_quote", "container"),
    ("class", "gmail_quote_container", "container"),
    # Apple Mail, iOS Mail, Thunderbird and Roundcube quote in a cite blockquote.
    ("type", "cite", "container"),
    # Thunderbird's attribution line above its blockquote, and its forwards.
    ("class", "moz-cite-prefix", "container"),
    ("class", "moz-forward-container", "container"),
    # Yahoo Mail: <div id="yahoo_quoted_1234" class="yahoo_quoted">, prefixed or not.
    ("class", "yahoo_quoted", "container"),
    # Proton Mail.
    ("class", "protonmail_quote", "container"),
    # Outlook on the web, Outlook for iOS and Android, new Outlook for Windows:
    # an empty "appendonsend" div, a rule, then "divRplyFwdMsg" with the
    # From:/Sent: block, and the quoted message after it.
    ("id", "appendonsend", "start"),
    ("id", "divRplyFwdMsg", "start"),
    # The new Outlook for Mac.
    ("id", "mail-editor-reference-message-container", "start"),
    # Outlook for Mac (2011-2016).
    ("id", "OLK_SRC_BODY_SECTION", "start"),
    # Zimbra's rule above its header block.
    ("id", "zwchr", "start"),
)

# Elements that end a line. A <p> ends a paragraph, but Outlook's MsoNormal
# (margin 0, one per line) only a line.
_LINE_ELEMENTS = {"div", "p", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "dl", "dt",
                  "dd", "blockquote", "pre", "address", "center", "section", "article", "header", "footer", "hr"}
_HIDDEN = {"style", "script", "head", "title", "template", "noscript"}
_VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr", "source", "embed", "param", "track"}
# A reply's HTML is read up to this size; past it, the text rules decide.
# Elements are followed this deep: mail nests a few dozen; unclosed tags in
# broken markup could pile up, and each end tag looks through the pile.
_MAX_HTML = 2_000_000
_MAX_DEPTH = 400


def _marker(attributes: dict[str, str]) -> str:
    """The kind of quote marker an element's attributes make it, or ""."""
    classes = attributes.get("class", "").split()
    for attribute, value, kind in _MARKERS:
        if attribute == "class":
            if value in classes or value == "yahoo_quoted" and any(name.endswith(value) for name in classes):
                return kind
        elif attributes.get(attribute, "") == value:
            return kind
    return ""


class _Reader(HTMLParser):
    """An HTML document read into text ("> " before lines in blockquotes), noting the first quote marker.

    ``cut`` is how many pieces of ``out`` come before the first marker,
    ``kind`` that marker's kind, ``after`` whether the writer's text follows
    a container marker once it is closed.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.tail = "\n\n"  # the last two characters written
        self.open: list[tuple[str, bool, bool]] = []  # (tag, is a marker, ends a paragraph)
        self.names: collections.Counter[str] = collections.Counter()  # open elements by tag
        self.markers = 0  # open marker elements
        self.cut: int | None = None
        self.kind = ""
        self.after = False
        self.hidden = 0
        self.pre = 0
        self.quotes = 0
        self.links: list[tuple[str, int]] = []

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        marker = _marker(attributes)
        if tag in _LINE_ELEMENTS:
            self._newline()
        if marker and self.cut is None:
            self.cut, self.kind = len(self.out), marker
        if tag == "br":
            self._newline(force=True)
        elif tag == "li":
            self._write("- ")
        elif tag == "td" or tag == "th":
            self._write(" ")
        elif tag == "a":
            self.links.append((attributes.get("href", ""), len(self.out)))
        if tag in _VOID or len(self.open) >= _MAX_DEPTH:
            return
        paragraph = tag == "p" and "MsoNormal" not in attributes.get("class", "")
        self.open.append((tag, bool(marker), paragraph))
        self.names[tag] += 1
        self.markers += bool(marker)
        self.hidden += tag in _HIDDEN
        self.pre += tag == "pre"
        self.quotes += tag == "blockquote"

    def handle_endtag(self, tag):
        if tag == "a" and self.links:
            self._link(*self.links.pop())
        if not self.names[tag]:
            return
        while self.open:
            name, marker, paragraph = self.open.pop()
            self.names[name] -= 1
            self.markers -= marker
            self.hidden -= name in _HIDDEN
            self.pre -= name == "pre"
            self.quotes -= name == "blockquote"
            if name == tag:
                break
        if tag in _LINE_ELEMENTS:
            self._newline(blank=paragraph)

    def handle_data(self, data):
        if self.hidden:
            return
        if self.cut is not None and self.kind == "container" and not self.markers and data.strip():
            self.after = True
        if self.pre:
            for number, line in enumerate(data.replace("\u00a0", " ").split("\n")):
                if number:
                    self._newline(force=True)
                self._write(line)
        elif "\u00a0" in data and not data.strip():
            # Outlook's empty line is a paragraph holding only &nbsp;: it is
            # kept (and trimmed as a line end) so the paragraph leaves its line.
            self._write("\u00a0")
        else:
            self._write(re.sub(r"\s+", " ", data.replace("\u00a0", " ")))

    def _link(self, href: str, start: int) -> None:
        """A link's address after its words, as clients write text parts ("the guide <https://…>")."""
        if urlsplit(href).scheme in ("http", "https") and href.rstrip("/") not in "".join(self.out[start:]):
            self._write(f" <{href}>")

    def _write(self, text: str) -> None:
        if self.tail.endswith("\n"):
            # HTML drops spaces at a line's start, but not in <pre>.
            text = text if self.pre else text.lstrip(" ")
            if not text:
                return
            text = "> " * self.quotes + text
        self.out.append(text)
        self.tail = (self.tail + text)[-2:]

    def _newline(self, blank: bool = False, force: bool = False) -> None:
        """End the line (a <br> always does; a block only if text is on it), or leave a blank line."""
        if force or not self.tail.endswith("\n"):
            self.out.append("\n")
            self.tail = (self.tail + "\n")[-2:]
        if blank and self.tail != "\n\n":
            self.out.append("\n")
            self.tail = "\n\n"


def _text(pieces: list[str]) -> str:
    """Pieces joined into text: no spaces at line ends, at most one blank line in a row."""
    lines = [line.rstrip() for line in "".join(pieces).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _read(markup: str) -> _Reader:
    reader = _Reader()
    reader.feed(markup[:_MAX_HTML])
    reader.close()
    return reader


def new_text(markup: str) -> str | None:
    """The text above the quote a client marked in this HTML, or None.

    None when there is no marker, when nothing is above it (a bottom-post, a
    bare forward: a wrapper around the whole message is not emptied, MAIL_RULES
    59), or when the writer's text follows a quote that ends (answers between
    quotes, a signature under the quote): then the text rules decide.
    """
    if not markup:
        return None
    reader = _read(markup)
    if reader.cut is None or (reader.kind == "container" and reader.after):
        return None
    text = _text(reader.out[:reader.cut])
    return text if text.strip() else None


def text_of(markup: str) -> str:
    """The whole text of an HTML part, lines in blockquotes marked "> " (for mail sent as HTML only)."""
    return _text(_read(markup).out) if markup else ""

"""Rendering stored mail for the customer portal: quotes, HTML, attachment names.

Pure functions, no web framework. Everything a message carries is hostile
input: its HTML is sanitised with nh3 and shown only in a sandboxed iframe
(MAIL_RULES 68, 69), its attachment names become safe header values
(MAIL_RULES 55, 70), and quote folding is presentation only — the full text
stays stored and shown one click away (MAIL_RULES 59).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from html import escape
from urllib.parse import quote, unquote, urlsplit

import nh3
from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES

# --- Quotes -----------------------------------------------------------------

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
# Fra: block. Outlook in Norwegian writes "-----Opprinnelig melding-----", and
# a forwarded message is history too. A plain rule of underscores (Outlook's
# line above "From:") is only taken when it sits right above a found header.
_SEPARATOR_NAMES = (r"(?:original message|opprinnelig melding|oprindelig meddelelse"
                    r"|forwarded message|videresendt melding|videresendt e-post)")
_NAMED_SEPARATOR = re.compile(rf"^(?:>\s?)*-{{2,}}\s*{_SEPARATOR_NAMES}\s*-{{2,}}$", re.IGNORECASE)
_RULE = re.compile(rf"^(?:>\s?)*(?:[_=-]{{5,}}|-{{2,}}\s*{_SEPARATOR_NAMES}\s*-{{2,}})$", re.IGNORECASE)

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
    as new text. Interleaved answers, or a split that would leave no new text,
    return the whole text unfolded. The split is made on the original text:
    new + quoted hold every character of the input except whitespace at the cut.
    """
    if not text or not text.strip():
        return text, ""
    lines = text.split("\n")
    quoted = [_is_quoted(line) for line in lines]
    found = [span for span in (_find_header(lines, languages), _find_named_separator(lines)) if span]
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
    """mail-parser-reply's compiled reply-header pattern for these languages."""
    return EmailMessage(text="", languages=list(languages)).HEADER_REGEX


def _find_header(lines: list[str], languages: Iterable[str]) -> tuple[int, int] | None:
    """(first line, line after) of the first reply header the library finds, or None.

    The library's own read() returns pieces of a rewritten text (every line
    stripped, underscore rules deleted) that cannot be mapped back onto the
    original, so we run its pattern over stripped lines, one for one with ours,
    and turn the match into line numbers; the cut is then made in the original.
    """
    prepared, size = [], 0
    for line in lines:
        if size > _SEARCH_CHARS:
            break
        line = line.strip()[:_SEARCH_LINE]
        prepared.append(line)
        size += len(line) + 1
    joined = "\n".join(prepared)
    match = _header_regex(_languages(languages)).search(joined)
    if match is None:
        return None
    span = match.group(0)
    start = match.start() + len(span) - len(span.lstrip())
    end = match.start() + len(span.rstrip())
    return joined.count("\n", 0, start), joined.count("\n", 0, end) + 1


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
    language or a wrapping the library misses.
    """
    last = max((i for i, flag in enumerate(quoted) if flag), default=None)
    if last is None or any(line.strip() for line in lines[last + 1:]):
        return text, ""
    start = last
    while start > 0 and (quoted[start - 1] or not lines[start - 1].strip()):
        start -= 1
    while not lines[start].strip():
        start += 1
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


# --- HTML -------------------------------------------------------------------

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}

# Removed with everything inside them. Any other tag not allowed above (font,
# center, html, body …) is dropped but its text is kept.
_CLEAN_CONTENT_TAGS = {
    "script", "style", "svg", "math", "form", "input", "textarea", "select", "button",
    "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
    "noscript", "noembed", "noframes", "template", "title", "audio", "video", "canvas",
}

# No style (CSS can fetch URLs and once ran script via expression()), no
# class or id, no URL-bearing attributes beyond a/href and img/src, which the
# filter below checks.
_ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "table": {"border", "cellpadding", "cellspacing", "width", "align", "summary"},
    "td": {"colspan", "rowspan", "align", "valign", "width", "height"},
    "th": {"colspan", "rowspan", "align", "valign", "width", "height", "scope"},
    "tr": {"align", "valign"},
    "col": {"span", "width", "align", "valign"},
    "colgroup": {"span", "width", "align", "valign"},
    "ol": {"start", "type", "reversed"},
    "ul": {"type"},
    "li": {"value"},
    "p": {"align"},
    "div": {"align"},
    **{f"h{level}": {"align"} for level in range(1, 7)},
}

# nh3 checks schemes before calling the attribute filter and not after it, so
# "cid" must pass here for the filter to see it, and the filter must check
# whatever it returns itself (observed with nh3 0.3.8).
_URL_SCHEMES = {"http", "https", "mailto", "cid"}
_LINK_SCHEMES = {"http", "https", "mailto"}

# The WHATWG URL parser drops these before reading a scheme, so
# "java\tscript:" is javascript: to a browser.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_TRIM = "".join(chr(code) for code in range(0x21))


def clean_html(html: str, cid_url: Callable[[str], str | None]) -> str:
    """Mail HTML made safe to show in a sandboxed iframe (nh3, MAIL_RULES 68).

    Only formatting tags survive; scripts, styles, forms, frames, SVG and
    MathML go with their content. Links keep http, https and mailto targets
    and open in a new window without a referrer. ``<img src="cid:X">`` becomes
    ``cid_url(X)`` (RFC 2392), or loses its source when that returns None;
    every other image source is removed, because remote images are tracking
    pixels. An image without a source shows its alt text.
    """
    if not html:
        return ""

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return _image_source(value, cid_url)
        if tag == "a" and attribute == "href":
            return _link_target(value)
        return value

    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_CLEAN_CONTENT_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=attribute_filter,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=_URL_SCHEMES,
    )


def _normalized_url(value: str) -> str:
    """A URL as a browser reads it: tabs and newlines gone, C0 and space trimmed."""
    return _URL_IGNORED.sub("", value).strip(_URL_TRIM)


def _link_target(value: str) -> str | None:
    """An href worth keeping: absolute http(s) or mailto, nothing relative.

    A relative link in mail has no meaningful base; in the portal it would
    point at the portal itself.
    """
    url = _normalized_url(value)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in _LINK_SCHEMES and (parts.netloc if scheme != "mailto" else parts.path):
        return url
    return None


def _image_source(value: str, cid_url: Callable[[str], str | None]) -> str | None:
    """The portal URL of a ``cid:`` image; None for every other source."""
    url = _normalized_url(value)
    if url[:4].lower() != "cid:":
        return None
    # RFC 2392 §2: the Content-ID without its angle brackets, %-encoded.
    content_id = unquote(url[4:]).strip().strip("<>").strip()
    target = cid_url(content_id) if content_id else None
    if not target:
        return None
    # nh3 does not re-check what the filter returns: allow only a path on the
    # portal (not "//host", nor "/\\host", which browsers read the same way)
    # or an absolute http(s) URL.
    try:
        parts = urlsplit(_normalized_url(target))
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return target
    if not parts.scheme and not parts.netloc and re.match(r"/(?![/\\])", target):
        return target
    return None


# A constant without '"', '&' or '<', so it goes into the attribute as it is.
_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'none'"

_STYLESHEET = (
    "body{margin:0;padding:12px;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,"
    "sans-serif;color:#1a1a1a;background:#fff;overflow-wrap:anywhere}"
    "img{max-width:100%;height:auto}"
    "pre{white-space:pre-wrap}"
    "table{border-collapse:collapse;max-width:100%}"
    "td,th{vertical-align:top}"
    "blockquote{margin:0 0 0 .5em;padding-left:.75em;border-left:3px solid #ccc;color:#555}"
    "a{color:#0645ad}"
)

_LANG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


def html_document(fragment: str, lang: str) -> str:
    """The whole document for the iframe's srcdoc around a clean_html() fragment.

    Its Content-Security-Policy is a second wall behind the sanitiser: no
    script, no frames, no remote fetch; images only from the portal itself.
    ``<base target="_blank">`` makes every link leave the iframe.
    """
    # BCP 47 (RFC 5646) tags only; anything else is "undetermined".
    lang = lang if lang and _LANG.fullmatch(lang) else "und"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(lang)}">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<base target="_blank">\n'
        f"<style>{_STYLESHEET}</style>\n"
        "</head>\n"
        f"<body>\n{fragment}\n</body>\n"
        "</html>\n"
    )


# --- Attachments ------------------------------------------------------------

# Windows opens a device, not a file, for these names with any extension.
_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                   *(f"COM{n}" for n in range(10)), *(f"LPT{n}" for n in range(10))}
# Controls (C0, C1, DEL), format characters such as bidi overrides and
# zero-width joiners, and line or paragraph separators.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
# Not allowed in Windows file names; ":" also makes "C:evil.exe" drive-relative.
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*]')
# Most file systems allow 255 bytes; leave room for a browser's " (1)".
_MAX_NAME_BYTES = 200
_MAX_EXTENSION = 16


def download_filename(name: str) -> str:
    """A file name safe to offer for download: no path, no controls, not reserved.

    Directory parts (``/`` and ``\\``), control and bidi-format characters
    (U+202E can make "exe" read "txt"), leading dots (hidden files), trailing
    dots and spaces (Windows drops them) and Windows' reserved device names are
    removed; the name is cut to 200 UTF-8 bytes keeping its extension. An
    empty result is "attachment". MAIL_RULES 55; RFC 6266 §4.3.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = "".join(" " if char in "\t\n\r\v\f" else char for char in name
                   if char in "\t\n\r\v\f" or unicodedata.category(char) not in _INVISIBLE)
    parts = [part for part in re.split(r"[\\/]", name) if part.strip(" .")]
    name = parts[-1] if parts else ""
    name = _WINDOWS_FORBIDDEN.sub("_", name)
    name = re.sub(r"\s+", " ", name).lstrip(" .").rstrip(" .")
    if name.split(".", 1)[0].rstrip(" ").upper() in _RESERVED_NAMES:
        name = "_" + name
    name = _shorten(name)
    return name or "attachment"


def _shorten(name: str) -> str:
    """Cut a name to the byte limit, keeping a short extension."""
    if len(name.encode("utf-8")) <= _MAX_NAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION or " " in extension:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    room = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(" .")
    return stem + suffix


# Letters NFKD does not take apart; the Nordic ones matter most to us.
_ASCII_LETTERS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss",
                                "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "œ": "oe",
                                "Œ": "OE", "þ": "th", "Þ": "Th"})
# RFC 5987 §3.2.1 attr-char beyond letters and digits; all else is %-encoded.
_ATTR_CHARS = "!#$&+-.^_`|~"


def content_disposition(name: str, inline: bool = False) -> str:
    """A Content-Disposition value (RFC 6266) for an attachment's name.

    ``filename="…"`` carries an ASCII version for old clients, with quotes,
    backslashes and "%" replaced (RFC 6266 §4.3: some agents %-decode it);
    ``filename*=UTF-8''…`` (RFC 8187, formerly 5987) carries the real name when
    that differs.
    """
    safe = download_filename(name)
    fallback = unicodedata.normalize("NFKD", safe.translate(_ASCII_LETTERS))
    fallback = "".join(char for char in fallback if unicodedata.category(char) != "Mn")
    fallback = re.sub(r'[^\x20-\x7e]|["\\%]', "_", fallback)
    value = f'{"inline" if inline else "attachment"}; filename="{fallback}"'
    if fallback != safe:
        value += "; filename*=UTF-8''" + quote(safe, safe=_ATTR_CHARS, encoding="utf-8")
    return value


# SVG is an XML document that can carry script; everything else is a download.
_INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def is_inline_image(content_type: str) -> bool:
    """Whether an attachment may be shown inline as an image (PNG, JPEG, GIF, WebP only)."""
    return (content_type or "").split(";", 1)[0].strip().lower() in _INLINE_IMAGE_TYPES

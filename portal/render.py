"""Rendering stored mail for the customer portal: quotes, HTML, attachment names.

Pure functions, no web framework. Everything a message carries is hostile
input: its HTML is sanitised with nh3 and shown only in a sandboxed iframe
(MAIL_RULES 68, 69), its attachment names become safe header values
(MAIL_RULES 55, 70), and quote folding is presentation only — the full text
stays stored and shown one click away (MAIL_RULES 59).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from html import escape
from urllib.parse import quote, unquote, urlsplit

import nh3

# Quote folding is the same cut the mail daemon makes on agents' replies; it
# lives with the daemon (which must not import the portal) and is re-exported
# here for the views.
from maild.mail import urls
from maild.mail.quotes import split_quoted

__all__ = ["FRAME_CSP", "clean_html", "content_disposition", "download_filename", "html_document",
           "is_inline_image", "safe_css", "split_quoted"]

# --- HTML -------------------------------------------------------------------

_TAGS = {
    "style", "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
    "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong", "sub",
    "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
}

# Removed with everything inside them. Any other tag not allowed above (font,
# center, html, body …) is dropped but its text is kept. <style> stays: the
# frame's own policy (FRAME_CSP) lets its rules apply and nothing load.
_CLEAN_CONTENT_TAGS = {
    "script", "svg", "math", "form", "input", "textarea", "select", "button",
    "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
    "noscript", "noembed", "noframes", "template", "title", "audio", "video", "canvas",
}

# Styles, with what could fetch or run taken out of them (safe_css), and class
# and id for the mail's own <style> rules; no URL-bearing attributes beyond
# a/href and img/src, which the filter below checks.
_ATTRIBUTES = {
    "*": {"title", "lang", "dir", "style", "class", "id"},
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
_URL_SCHEMES = urls.LINK_SCHEMES | {"cid"}


# What CSS may not keep, even behind the frame's policy: anything that
# fetches (url(), image-set(), @import, @font-face), old script hooks
# (expression(), behavior, -moz-binding), and backslash escapes, which could
# spell any of these ("\\75 rl(" is url().
_CSS_FETCH = re.compile(r"(?:url|image-set|image|cross-fade|element|expression)\s*\(|@import|@font-face|"
                        r"behavior\s*:|-moz-binding|javascript:|vbscript:|\\", re.IGNORECASE)
_CSS_BLOCK = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.IGNORECASE | re.DOTALL)


def safe_css(css: str) -> str:
    """CSS from a mail with everything that could fetch or run taken out.

    A style attribute is a list of declarations; a declaration holding a
    forbidden word goes. A style sheet is read as plain rules: statements
    before a selector (``@import …;``) go, at-rules go with their blocks
    (``@media`` included, so a mail shows its desktop layout), and each
    remaining rule keeps its harmless declarations. What is left only
    changes how the mail looks.
    """
    css = css.replace("<", "")
    if "{" not in css:
        return ";".join(d for d in css.split(";") if d.strip() and not _CSS_FETCH.search(d)).strip()
    rules = []
    for piece in css.split("}"):
        selector, brace, body = piece.partition("{")
        selector = selector.rpartition(";")[2].strip()
        if not brace or not selector or "@" in selector or "{" in body or _CSS_FETCH.search(selector):
            continue
        kept = [d.strip() for d in body.split(";") if d.strip() and not _CSS_FETCH.search(d)]
        rules.append(f"{selector}{{{';'.join(kept)}}}")
    return "\n".join(rules)


def clean_html(html: str, cid_url: Callable[[str], str | None]) -> str:
    """Mail HTML made safe to show in a sandboxed iframe (nh3, MAIL_RULES 68).

    Only formatting tags and the mail's styles survive (its CSS through
    ``safe_css``); scripts, forms, frames, SVG and MathML go with their content. Links keep http, https and mailto targets
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
            return urls.link_target(value)
        if attribute == "style":
            return safe_css(value) or None
        return value

    cleaned = nh3.clean(
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
    # nh3 keeps a <style> element's text as it was: it goes through safe_css here.
    return _CSS_BLOCK.sub(lambda m: "<style>" + safe_css(m.group(2)) + "</style>", cleaned)


def _image_source(value: str, cid_url: Callable[[str], str | None]) -> str | None:
    """The portal URL of a ``cid:`` image; None for every other source."""
    url = urls.normalized(value)
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
        parts = urlsplit(urls.normalized(target))
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return target
    if not parts.scheme and not parts.netloc and re.match(r"/(?![/\\])", target):
        return target
    return None


# The frame's own policy, sent as a header with the frame's document and
# repeated in it: nothing runs (sandbox, no script-src) and nothing is fetched
# but the portal's own pictures; the mail's inline styles apply. A constant
# without '"', '&' or '<', so it goes into the meta attribute as it is.
_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'"
FRAME_CSP = _CSP + "; frame-ancestors 'self'; sandbox"

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
    """The whole document for the mail's frame around a clean_html() fragment.

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

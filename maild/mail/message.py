"""Reading an inbound message: mail-parser first, every access guarded.

Python 3.11's email package raises on real mail: ``IndexError`` on Microsoft
Message-IDs like ``<[…]@microsoft.com>`` (gh-105802), ``LookupError`` on
unknown charsets, ``TypeError`` when compat32 hands back ``Header`` objects
(MAIL_RULES 49-53). So identifiers are taken from the raw header text with a
tolerant regex, header values are decoded leniently, and if mail-parser gives
up entirely the message is still read, more plainly, by the stdlib compat32
parser. ``read()`` never raises for any input; what was broken is recorded in
``defects``. Files carried inside other files or inside the text — a
winmail.dat's (``tnef``), uuencoded ones (``uuencode``) — become parts of
their own, named and limited like any attachment (MAIL_RULES 54-56).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import email
import email.header
import email.parser
import email.policy
import email.utils
import hashlib
import logging
import mimetypes
import re
import time

import mailparser

from maild.mail import tnef, uuencode
from maild.mail.subject import clean_header_text

log = logging.getLogger(__name__)

# No control characters either: PostgreSQL refuses NUL in text, and an id is text.
_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,900})>")
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+$")
# Raw 8-bit header bytes as compat32 hands them over: surrogate escapes.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
# A folded header line's break (RFC 5322 2.2.3).
_FOLD = re.compile(r"\r?\n[ \t]")
# Aliases Python does not know; "unknown" charsets are decoded by fallback.
CHARSET_ALIASES = {"ks_c_5601-1987": "cp949", "x-unknown": None, "unknown-8bit": None,
                   "ansi_x3.110-1983": None}
MAX_PARTS = 500
MAX_FILENAME = 150
# Each winmail.dat is opened in a process of its own, all of one message's
# within tnef.TIMEOUT_SECONDS (maild/mail/tnef.py); a mail has one, and a
# hostile one must not have a thousand started.
MAX_TNEF = 3


@dataclasses.dataclass
class Part:
    """An attachment or inline part, decoded to bytes."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False


@dataclasses.dataclass
class Message:
    """What Sensedesk needs of an inbound message; all fields are safe strings."""

    message_id: str  # without angle brackets; synthetic when missing
    synthetic_id: bool
    in_reply_to: list[str]
    references: list[str]
    from_address: str  # lowercased; "" when there is none or it is ambiguous
    from_name: str
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    reply_to: list[tuple[str, str]]
    delivered_to: list[str]
    subject: str
    date: datetime.datetime | None
    text: str
    html: str
    parts: list[Part]
    headers: dict[str, list[str]]  # lowercased name -> decoded values
    content_type: str
    report_type: str
    defects: list[str]
    body_sha256: str
    # Parts whose files are now parts of their own (a winmail.dat): kept for
    # the record beside them, never sent on with an agent's reply.
    originals: list[Part] = dataclasses.field(default_factory=list)

    def header(self, name: str) -> str:
        """The first value of a header (case-insensitive name), or ""."""
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    def has_header(self, name: str) -> bool:
        """Whether the header is present at all (case-insensitive)."""
        return name.lower() in self.headers


def normalize_id(value: str) -> str:
    """A Message-ID compared the way we store it: no brackets, no whitespace."""
    return value.strip().strip("<>").strip()


def extract_ids(value: str) -> list[str]:
    """Every ``<id>`` in a header value, normalised, in order, without repeats."""
    seen, out = set(), []
    for found in _ID.findall(value or ""):
        found = normalize_id(found)
        if found and found not in seen:
            seen.add(found)
            out.append(found)
    return out


def decode_words(value) -> str:
    """Decode RFC 2047 encoded words leniently; never raise (MAIL_RULES 51)."""
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        value = str(value)
    if not isinstance(value, str):
        value = str(value)
    if "=?" not in value:
        return value
    try:
        pieces = email.header.decode_header(value)
    except Exception:  # the stdlib raises a variety of errors on junk
        return value
    out = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset)[0])
    # decode_header keeps whitespace between encoded words as separate chunks
    return "".join(out)


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Bytes to text: declared charset, then utf-8, cp1252, latin-1 (MAIL_RULES 50).

    Returns the text and whether a fallback was needed.
    """
    charset = (charset or "").strip().strip('"').lower()
    charset = CHARSET_ALIASES.get(charset, charset)
    for candidate in ([charset] if charset else []) + ["utf-8", "cp1252"]:
        try:
            return data.decode(candidate), candidate != charset
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1", errors="replace"), True


# The ISO-2022 charsets are 7-bit: their text is ASCII with ESC sequences that
# name the character set (RFC 1468, RFC 1557). Korean first: iso2022_jp_2
# would "decode" Korean without an error, keeping its SO/SI bytes.
_ISO2022 = ("iso2022_kr", "iso2022_jp_2", "iso2022_jp_ext")


def decode_iso2022(text: str) -> str:
    """Text still in an ISO-2022 encoding, decoded; anything else unchanged.

    mail-parser 4.8.0 returns a part sent as ``7bit`` (or without a
    Content-Transfer-Encoding) as it stands, without applying its charset, so
    ISO-2022-JP mail (imap_tools ``japanese_iso_2022.eml``) arrives as escape
    sequences. The sequences say which charset it is; text that merely
    contains ESC (terminal colours in a cron mail) fails every codec and is
    kept as it was.
    """
    if "\x1b" not in text:
        return text
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        return text
    for codec in _ISO2022:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return text


def _raw_headers(raw: bytes, parsed_message=None) -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
    """Headers by lowercased name: decoded values, undecoded (unfolded) values, defects.

    ``parsed_message`` is the message mail-parser already read from these
    bytes (``email.message_from_bytes``, compat32), whose top-level headers
    are exactly what a header-only compat32 parse of ``raw`` gives: read
    there rather than parsing the bytes a second time (issue 17, "parse
    once"). Without it, the headers are parsed from ``raw``.

    Address headers are parsed from the undecoded value: an encoded display
    name may contain a comma ("=?UTF-8?B?Rm9vLCBCYXI=?=" is "Foo, Bar").
    """
    defects = []
    try:
        # Headers only: the body is mail-parser's to read.
        msg = parsed_message if parsed_message is not None else \
            email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        items = msg.raw_items() if hasattr(msg, "raw_items") else msg.items()
    except Exception:  # compat32 almost never raises; if it does, read nothing
        return {}, {}, ["headers: unreadable"]
    headers: dict[str, list[str]] = {}
    undecoded: dict[str, list[str]] = {}
    for name, value in items:
        try:
            text = value if isinstance(value, str) else str(value)
            # Raw 8-bit header bytes arrive as surrogate escapes: redo as utf-8/cp1252.
            # (A regular expression, not a test of each character in Python:
            # this runs for every header of every message.)
            if not text.isascii() and _ESCAPED_BYTE.search(text):
                text = decode_bytes(text.encode("ascii", "surrogateescape"), None)[0]
            text = _FOLD.sub(" ", text)
            decoded = decode_words(text)
        except Exception:
            defects.append(f"header {name}: undecodable")
            continue
        key = str(name).lower().strip()
        headers.setdefault(key, []).append(decoded)
        undecoded.setdefault(key, []).append(text)
    return headers, undecoded, defects


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    """(name, address) pairs from header values; invalid entries dropped."""
    out = []
    try:
        pairs = email.utils.getaddresses([v.replace("\n", " ").replace("\r", " ") for v in values])
    except Exception:
        return out
    for name, address in pairs:
        address = address.strip().lower()
        if _ADDRESS.match(address):
            out.append((clean_header_text(decode_words(name)), address))
    return out


def _sender(values: list[str], defects: list[str]) -> tuple[str, str]:
    """The one From address, or "" when there is none or more than one (MAIL_RULES 45)."""
    if not values:
        return "", ""
    # RFC 5322 3.6 allows one From. Two that differ are a spoofing trick: a
    # DMARC check may read one while a mail client shows the other.
    if len({v.strip().lower() for v in values}) > 1:
        defects.append("from: more than one From header")
        return "", ""
    raw = values[0]
    pairs = _addresses([raw])
    try:
        all_pairs = email.utils.getaddresses([raw])
    except Exception:
        all_pairs = pairs
    if len(pairs) != 1 or len([p for p in all_pairs if p[1]]) != 1:
        defects.append("from: not exactly one address")
        return "", pairs[0][0] if pairs else ""
    return pairs[0][1], pairs[0][0]


# Bidirectional controls make "invoice\u202efdp.exe" show as "invoiceexe.pdf".
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_filename(name: str, fallback: str) -> str:
    """An attachment name safe to show and to send (MAIL_RULES 55)."""
    name = clean_header_text(_BIDI.sub("", decode_words(name or "")))
    name = re.split(r"[\\/]", name)[-1]
    name = name.lstrip(". ").strip()
    name = re.sub(r'[<>:"|?*]', "_", name)
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:12] if dot else ""
        name = (stem if dot else name)[: MAX_FILENAME - len(ext) - 1] + ("." + ext if ext else "")
    return name or fallback


def _parts(parsed, defects: list[str]) -> list[Part]:
    out = []
    for i, item in enumerate(parsed.attachments or []):
        if i >= MAX_PARTS:
            defects.append(f"parts: more than {MAX_PARTS}, the rest kept only in the raw message")
            break
        payload = item.get("payload") or ""
        try:
            if item.get("binary"):
                data = base64.b64decode(payload)
            else:
                data = payload.encode(item.get("charset") or "utf-8", errors="replace")
        except (binascii.Error, ValueError, LookupError):
            defects.append(f"attachment {i + 1}: undecodable payload, kept as text")
            data = payload.encode("utf-8", errors="replace")
        content_type = (item.get("mail_content_type") or "application/octet-stream").lower()
        ext = "eml" if content_type == "message/rfc822" else "bin"
        disposition = (item.get("content-disposition") or "").lower()
        content_id = normalize_id(item.get("content-id") or "")
        out.append(Part(
            filename=safe_filename(item.get("filename") or "", f"attachment-{i + 1}.{ext}"),
            content_type=clean_header_text(content_type)[:100],
            data=data,
            content_id=clean_header_text(content_id)[:200],
            inline=disposition.startswith("inline") or bool(content_id and "attachment" not in disposition),
        ))
    return out


# An attachment that is one uuencoded file: "begin", its octal mode, a space.
_UU_FILE = re.compile(rb"\s*begin [0-7]{3,4} ")
# A picture an HTML body shows from its own parts: src="cid:…" (RFC 2392).
_CID = re.compile(r"cid:([^\"'\s<>()]+)", re.IGNORECASE)


def _found_part(name: str, data: bytes, number: int, content_type: str = "", content_id: str = "",
                shown: frozenset[str] = frozenset()) -> Part:
    """A file found inside a winmail.dat or a text, named and typed like any attachment.

    ``shown`` holds the Content-IDs the HTML body shows (lowercased): such a
    file is an inline picture, not an attachment of its own.
    """
    content_type = (content_type or mimetypes.guess_type(name)[0] or "application/octet-stream").lower()
    content_id = clean_header_text(normalize_id(content_id))[:200]
    return Part(filename=safe_filename(name, f"attachment-{number}.bin"),
                content_type=clean_header_text(content_type)[:100], data=data, content_id=content_id,
                inline=content_id.lower() in shown)


def _uuencoded_text(parsed, text: str) -> str:
    """The text with each uuencoded text part as it was sent, not as mail-parser decoded it.

    A text part with ``Content-Transfer-Encoding: x-uuencode`` and no file
    name is decoded by mail-parser and its file's bytes taken for text; put
    back, the block is cut out and kept as a file like any inline one.
    """
    message = getattr(parsed, "message", None)
    if message is None or not text:
        return text
    try:
        for part in message.walk():
            if (part.is_multipart() or part.get_content_type() != "text/plain"
                    or str(part.get("content-transfer-encoding", "")).strip().lower()
                    not in uuencode.TRANSFER_ENCODINGS
                    or part.get_filename() or part.get_content_disposition() == "attachment"):
                continue
            sent = part.get_payload(decode=False)
            decoded = part.get_payload(decode=True) or b""
            if not isinstance(sent, str) or not decoded:
                continue
            # mail-parser's reading: the declared charset, else UTF-8, else UTF-8 with replacements.
            for charset, errors in ((part.get_content_charset("utf-8"), "strict"), ("utf-8", "strict"),
                                    ("utf-8", "replace")):
                try:
                    as_text = decoded.decode(charset, errors)
                except (LookupError, UnicodeDecodeError):
                    continue
                if as_text in text:
                    text = text.replace(as_text, sent, 1)
                    break
    except Exception:  # the stdlib raises a variety of errors on junk; the text stays as read
        return text
    return text


def _unpacked(parsed, text: str, html: str, parts: list[Part], defects: list[str]):
    """Files carried inside a winmail.dat or inside the text, as parts of their own (MAIL_RULES 54).

    Returns the text (without its uuencode blocks), the HTML, the parts with
    each opened winmail.dat replaced by its files, and those winmail.dat parts.
    A winmail.dat's body becomes the text (and HTML) of a mail that has none.
    One that cannot be opened stays the plain attachment it was.
    """
    text, found = uuencode.extract(_uuencoded_text(parsed, text))
    out, originals, opened, deadline = [], [], 0, None
    for part in parts:
        if _UU_FILE.match(part.data):
            # An x-uuencode attachment the stdlib left encoded: it gives up on
            # the empty line a mail program makes of the space-only line before "end".
            rest, inside = uuencode.extract(part.data.decode("latin-1"))
            if len(inside) == 1 and not rest.strip():
                part = dataclasses.replace(part, data=inside[0][1])
        if not tnef.is_tnef(part.content_type, part.filename):
            out.append(part)
            continue
        opened += 1
        deadline = deadline or time.monotonic() + tnef.TIMEOUT_SECONDS
        left = deadline - time.monotonic()
        if opened > MAX_TNEF or left <= 0:
            why = (f"more than {MAX_TNEF} in one message" if opened > MAX_TNEF
                   else f"the message's {tnef.TIMEOUT_SECONDS} s for opening them are used up")
            defects.append(f"tnef: {part.filename} kept as it came: {why}")
            out.append(part)
            continue
        try:
            contents = tnef.read(part.data, timeout=left)
        except tnef.Unreadable as exc:
            defects.append(f"tnef: {part.filename} kept as it came: {exc}")
            out.append(part)
            continue
        defects.extend(contents.defects)
        if not (contents.files or contents.text.strip() or contents.html.strip()):
            defects.append(f"tnef: {part.filename} holds no files and no body, kept as it came")
            out.append(part)
            continue
        originals.append(part)
        if not (text.strip() or html.strip()):
            text, html = contents.text, contents.html
        shown = frozenset(cid.lower() for cid in _CID.findall(html))
        out.extend(_found_part(f.name, f.data, len(out) + 1, f.content_type, f.content_id, shown)
                   for f in contents.files)
    out.extend(_found_part(name, data, len(out) + 1) for name, data in found)
    if len(out) > MAX_PARTS:
        if not any(d.startswith("parts: more than") for d in defects):
            defects.append(f"parts: more than {MAX_PARTS}, the rest kept only in the raw message")
        out = out[:MAX_PARTS]
    return text, html, out, originals


def _content_type(headers: dict[str, list[str]]) -> tuple[str, str]:
    value = (headers.get("content-type") or [""])[0]
    main = value.split(";", 1)[0].strip().lower()
    match = re.search(r"report-type\s*=\s*\"?([\w-]+)", value, re.IGNORECASE)
    return main, (match.group(1).lower() if match else "")


def _date(headers: dict[str, list[str]], defects: list[str]) -> datetime.datetime | None:
    value = (headers.get("date") or [""])[0]
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        defects.append("date: unreadable")
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def body_digest(raw: bytes) -> str:
    """SHA-256 of the body after the header block: equal for two copies of one mail.

    An IMAP and an SMTP copy of the same message differ in their trace headers
    (Received, Delivered-To), never in the body.
    """
    for sep in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(sep)
        if index >= 0:
            return hashlib.sha256(raw[index + len(sep):].replace(b"\r\n", b"\n")).hexdigest()
    return hashlib.sha256(b"").hexdigest()


def _stdlib_text(raw: bytes, defects: list[str]) -> str:
    """Plain text when mail-parser failed: every text/plain part, leniently decoded."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        texts = []
        for part in msg.walk():
            if part.get_content_maintype() == "text" and part.get_content_subtype() == "plain":
                payload = part.get_payload(decode=True) or b""
                texts.append(decode_bytes(payload, part.get_content_charset())[0])
        return "\n".join(texts)
    except Exception:
        defects.append("body: unreadable")
        return ""


# The first boundary line of a multipart body ("--" and up to 70 characters, RFC 2046 5.1.1).
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,70})[ \t]*\r?$", re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _broken_multipart_text(raw: bytes, defects: list[str]) -> str:
    """The text of a message whose multipart structure is broken, so no part was found (SPEC 2.10).

    A multipart body without its start boundary, or a multipart header
    without a boundary, yields no parts at all: its words would be lost.
    When boundary lines are there, the parts are read by them; otherwise the
    body is the text, as written.
    """
    end = _HEADER_END.search(raw)
    body = raw[end.end():] if end else b""
    if not body.strip():
        return ""
    boundary = _BOUNDARY_LINE.search(body)
    if boundary:
        rebuilt = b'Content-Type: multipart/mixed; boundary="' + boundary.group(1) + b'"\r\n\r\n' + body
        text = _stdlib_text(rebuilt, defects)
        if text.strip():
            defects.append("mime: broken multipart read by its boundary lines")
            return text
    charset = email.message_from_bytes(raw[:end.end()] if end else raw,
                                       policy=email.policy.compat32).get_content_charset()
    defects.append("mime: broken multipart kept as plain text")
    return decode_bytes(body, charset)[0].replace("\r\n", "\n")


def read(raw: bytes, mail_domain: str) -> Message:
    """Read raw message bytes into a Message. Never raises."""
    parsed, failure = None, None
    try:
        parsed = mailparser.parse_from_bytes(raw)
    except Exception as exc:  # mail-parser raises many kinds on broken MIME
        failure = exc
        log.info("mail-parser failed (%s); falling back to stdlib", type(exc).__name__)
    headers, undecoded, defects = _raw_headers(raw, getattr(parsed, "message", None))
    if failure is not None:
        defects.append(f"mime: {type(failure).__name__}: parsed plainly instead")

    ids = extract_ids((headers.get("message-id") or [""])[0])
    message_id, synthetic = (ids[0], False) if ids else ("", True)
    if synthetic:
        # Deterministic for the same bytes, so a redelivery de-duplicates (MAIL_RULES 4).
        message_id = f"sd-gen-{hashlib.sha256(raw).hexdigest()[:40]}@{mail_domain}"

    from_address, from_name = _sender(undecoded.get("from", []), defects)
    text, html, parts = "", "", []
    if parsed is not None:
        try:
            text = "\n".join(decode_iso2022(t) for t in (parsed.text_plain or []) if isinstance(t, str))
            html = "\n".join(decode_iso2022(t) for t in (parsed.text_html or []) if isinstance(t, str))
            parts = _parts(parsed, defects)
            defects.extend(sorted(str(d) for d in (parsed.defects_categories or [])))
        except Exception as exc:
            defects.append(f"mime: {type(exc).__name__} reading parts")
            text = text or _stdlib_text(raw, defects)
    else:
        text = _stdlib_text(raw, defects)
    if not (text or html or parts) and any("Boundary" in d or "Multipart" in d for d in defects):
        text = _broken_multipart_text(raw, defects)
    text, html, parts, originals = _unpacked(parsed, text, html, parts, defects)
    content_type, report_type = _content_type(headers)
    return Message(
        message_id=message_id[:900],
        synthetic_id=synthetic,
        in_reply_to=extract_ids(" ".join(headers.get("in-reply-to", []))),
        references=extract_ids(" ".join(headers.get("references", []))),
        from_address=from_address,
        from_name=from_name,
        to=_addresses(undecoded.get("to", [])),
        cc=_addresses(undecoded.get("cc", [])),
        reply_to=_addresses(undecoded.get("reply-to", [])),
        delivered_to=[a for _, a in _addresses(undecoded.get("delivered-to", []) + undecoded.get("x-original-to", []))],
        subject=clean_header_text((headers.get("subject") or [""])[0])[:1000],
        date=_date(headers, defects),
        text=text.replace("\x00", ""),
        html=html.replace("\x00", ""),
        parts=parts,
        headers=headers,
        content_type=content_type,
        report_type=report_type,
        defects=defects,
        body_sha256=body_digest(raw),
        originals=originals,
    )

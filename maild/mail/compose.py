"""Building one outbound message: safe headers, threading, automatic markers.

Every header value that may come from input (subjects, display names, ids,
filenames) passes through ``header_text`` first: Python 3.11.7 has
CVE-2024-6923, where an encoded newline in a subject reused in an
``EmailMessage`` emits a real header line (MAIL_RULES 63). Non-ASCII values
are written as RFC 2047 encoded words, attachment names as RFC 2231.
"""

from __future__ import annotations

import dataclasses
import email.charset
import email.policy
import email.quoprimime
import email.utils
import re
from email import encoders
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from maild.mail.message import decode_words
from maild.mail.subject import clean_header_text

LOOP_HEADER = "X-Sensedesk-Loop"
# RFC 5322 3.6.4 keeps References short enough for a 998-octet line; RT keeps
# the first 4 and the last 6 (SendEmail.pm SetReferencesHeaders).
REFERENCES_HEAD, REFERENCES_TAIL = 4, 6
# The start of an RFC 2047 encoded word, "=?charset?Q?" or "=?charset?B?".
_ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?")
# Line ends as email.generator splits a payload (its NLCRE).
_NEWLINE = re.compile(r"\r\n|\r|\n")
# Encoded words inside encoded words are decoded this many levels deep at most.
MAX_ENCODING_DEPTH = 8
# UTF-8 with quoted-printable bodies and headers: readable in a maildir, 7-bit
# safe through any relay.
_UTF8 = email.charset.Charset("utf-8")
_UTF8.header_encoding = email.charset.QP
_UTF8.body_encoding = email.charset.QP
class _Policy(email.policy.Compat32):
    """compat32 that writes a short plain-ASCII header line as it is.

    compat32 runs every header through ``Header.encode`` to fold it, a fifth
    of a whole notification's cost, though nearly all of ours fit on one line
    already. Our values are one line by construction (``header_text``); long
    or non-ASCII ones still take the full path.
    """

    def _fold(self, name, value, sanitize):
        if isinstance(value, str) and value.isascii() and len(name) + 2 + len(value) <= self.max_line_length:
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_POLICY = _Policy(linesep="\r\n", max_line_length=78)


@dataclasses.dataclass
class Outgoing:
    """Everything one outbound message says, before it becomes bytes."""

    from_name: str
    from_address: str
    to_name: str
    to_address: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str = ""
    references: list[str] = dataclasses.field(default_factory=list)
    # "auto-replied" (acknowledgements), "auto-generated" (notices) or "" (a person wrote it)
    auto_submitted: str = "auto-generated"
    reply_to: str = ""
    thread_topic: str = ""
    thread_index: str = ""
    attachments: list[tuple[str, str, bytes]] = dataclasses.field(default_factory=list)
    # An https URL that unsubscribes with one POST (RFC 2369, RFC 8058); "" for none.
    list_unsubscribe: str = ""


def cap_references(ids: list[str]) -> list[str]:
    """Keep the first 4 and last 6 ids when there are more than 10 (MAIL_RULES 38)."""
    seen, unique = set(), []
    for i in ids:
        if i and i not in seen:
            seen.add(i)
            unique.append(i)
    if len(unique) <= REFERENCES_HEAD + REFERENCES_TAIL:
        return unique
    return unique[:REFERENCES_HEAD] + unique[-REFERENCES_TAIL:]


def header_text(value: str) -> str:
    """Input text made safe to write into a header: one line, nothing left to decode.

    Control characters become a space. That alone is not enough on Python
    3.11.7: the header registry decodes RFC 2047 encoded words in the value it
    is given (CVE-2024-6923), so text that still holds one, such as a subject
    or a display name encoded twice by its sender and decoded once by us, or
    ``=?UTF-8?Q?=0A?=`` inside a Message-ID, would get its line break back and
    write a header of the sender's choosing. Encoded words are therefore
    decoded here, as deep as they nest, and anything that still looks like
    one is broken up ("= ?") so that no parser decodes it again.
    """
    text = clean_header_text(value)
    for _ in range(MAX_ENCODING_DEPTH):
        if not _ENCODED_WORD.search(text):
            return text
        decoded = clean_header_text(decode_words(text))
        if decoded == text:
            break
        text = decoded
    return _ENCODED_WORD.sub(lambda m: "= " + m.group(0)[1:], text)


def _header(value: str) -> str | Header:
    """A header value for compat32: ASCII as is, anything else RFC 2047-encoded."""
    return value if value.isascii() else Header(value, _UTF8, header_name="Subject")


def ascii_address(address: str) -> str | None:
    """The address as SMTP can carry it without SMTPUTF8: an ASCII local part and
    the domain in its IDNA form; None when that is impossible (RFC 5890, RFC 6531)."""
    local, _, domain = header_text(address).rpartition("@")
    if not local or not domain or not local.isascii():
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return f"{local}@{domain}".lower()


def _address(name: str, address: str) -> str:
    """``Name <local@domain>``, the address as ``ascii_address`` writes it."""
    return email.utils.formataddr((header_text(name)[:120], ascii_address(address) or address), charset=_UTF8)


def _bracket(message_id: str) -> str:
    message_id = header_text(message_id).strip("<>")
    return f"<{message_id}>"


def _attachment(filename: str, content_type: str, data: bytes) -> MIMEBase:
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    if maintype in ("message", "multipart") or not subtype:
        # A stored part is bytes; re-attach it opaquely rather than re-parse it.
        maintype, subtype = "application", "octet-stream"
    part = MIMEBase(maintype, subtype)
    part.set_payload(data)
    encoders.encode_base64(part)
    name = header_text(filename)[:150] or "attachment"
    # RFC 2231 for names that are not ASCII.
    part.add_header("Content-Disposition", "attachment",
                    filename=name if name.isascii() else ("utf-8", "", name))
    return part


def _headers(out: Outgoing, instance_id: str, now=None) -> list[tuple[str, object]]:
    """The headers people and programs read, in order; the MIME headers come after them."""
    headers: list[tuple[str, object]] = [
        ("From", _address(out.from_name, out.from_address)),
        ("To", _address(out.to_name, out.to_address)),
        ("Subject", _header(header_text(out.subject)[:250])),
        ("Date", email.utils.format_datetime(now, usegmt=True) if now else email.utils.formatdate(usegmt=True)),
        ("Message-ID", _bracket(out.message_id)),
    ]
    if out.in_reply_to:
        headers.append(("In-Reply-To", _bracket(out.in_reply_to)))
    references = cap_references([_bracket(r) for r in out.references])
    if references:
        headers.append(("References", " ".join(references)))
    if out.reply_to:
        headers.append(("Reply-To", _header(header_text(out.reply_to))))
    if out.auto_submitted:
        # RFC 3834 3.1.7 and 5; X-Auto-Response-Suppress asks Exchange not to
        # answer with out-of-office or receipts ([MS-OXCMAIL] 2.1.3.2.20).
        headers += [("Auto-Submitted", out.auto_submitted), ("X-Auto-Response-Suppress", "All"),
                    ("Precedence", "bulk")]
    if out.thread_topic:
        headers.append(("Thread-Topic", _header(header_text(out.thread_topic)[:250])))
    if out.thread_index:
        headers.append(("Thread-Index", _header(header_text(out.thread_index)[:250])))
    if out.list_unsubscribe:
        # RFC 8058: the POST header tells mail clients they may unsubscribe with
        # one POST; a GET of the URL (a scanner following it) changes nothing.
        headers += [("List-Unsubscribe", _bracket(out.list_unsubscribe)),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    headers.append((LOOP_HEADER, instance_id))
    return headers


_TEXT_MIME = [("Content-Type", 'text/plain; charset="utf-8"'), ("Content-Transfer-Encoding", "quoted-printable"),
              ("MIME-Version", "1.0")]


def build(out: Outgoing, instance_id: str, now=None) -> bytes:
    """The message as CRLF bytes, ready for SMTP or a maildir.

    A message of text alone (every notification, most replies) is written
    here directly: its headers folded by the same policy, its body
    quoted-printable UTF-8 by the same encoder, byte for byte what
    ``email.mime`` writes (``tests/test_compose.py`` compares them), in about
    40 µs instead of 100 µs for a notification. A message with attachments is built with the
    ``email.mime`` classes (``_build_mime``).
    """
    headers = _headers(out, instance_id, now)
    if out.attachments:
        return _build_mime(out, headers)
    payload = email.quoprimime.body_encode(out.body.encode("utf-8", "surrogateescape").decode("latin-1"))
    head = b"".join(_POLICY.fold_binary(name, value) for name, value in headers + _TEXT_MIME)
    # As email.generator writes a text part: every line ending CRLF, none added.
    return head + b"\r\n" + "\r\n".join(_NEWLINE.split(payload)).encode("ascii")


def _build_mime(out: Outgoing, headers: list[tuple[str, object]]) -> bytes:
    """The message built with the compat32 ``email.mime`` classes, which write header values as given
    (no header registry to re-decode them) and are about four times faster than ``EmailMessage`` with
    ``policy.SMTP``."""
    body = MIMEText(out.body, "plain", _UTF8)
    if out.attachments:
        msg = MIMEMultipart("mixed")
        msg.attach(body)
        for filename, content_type, data in out.attachments:
            msg.attach(_attachment(filename, content_type, data))
    else:
        msg = body
    # MIME headers go last, after the ones people read.
    mime = [(name, msg[name]) for name in ("Content-Type", "Content-Transfer-Encoding", "MIME-Version")
            if name in msg]
    for name, _ in mime:
        del msg[name]
    for name, value in headers + mime:
        msg[name] = value
    return msg.as_bytes(policy=_POLICY)

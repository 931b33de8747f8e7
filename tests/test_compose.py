"""Outbound mail: the headers compose.build writes, header injection, and signed keys (MAIL_RULES 35-38, 63).

Output bytes are read back with the stdlib parser and with maild.mail.message, the
way a recipient's mail system and our own intake would read them.
"""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import re

import pytest

from maild.mail import compose
from maild.mail.compose import Outgoing, build, cap_references
from maild.mail.message import decode_words, read
from maild.mail.signing import Signer

DOMAIN = "desk.example.test"
INSTANCE = "5f0c2a9e1d7b4c38"
NOW = datetime.datetime(2024, 3, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
SIGNER = Signer(b"k" * 32, DOMAIN)
OUR_ID = SIGNER.message_id(7, 3, nonce="0123456789abcdef")


def outgoing(**changes) -> Outgoing:
    """An acknowledgement of case 7 to Kari, with ``changes`` applied."""
    values = dict(from_name="Helpdesk", from_address="helpdesk@example.test", to_name="Kari Nordmann",
                  to_address="kari@example.org", subject="[SD#7] Printer", body="We have your request.\n",
                  message_id=OUR_ID, in_reply_to="<human1@example.org>",
                  references=[SIGNER.case_reference(7), "<human1@example.org>"], auto_submitted="auto-replied")
    values.update(changes)
    return Outgoing(**values)


def header_block(raw: bytes) -> bytes:
    """The bytes before the first empty line."""
    return raw.split(b"\r\n\r\n", 1)[0]


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """(name, value) of every top-level header, unfolded, in order."""
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [(name, re.sub(r"\r\n[ \t]", " ", value).strip()) for name, value in parsed.items()]


def assert_well_formed(raw: bytes) -> None:
    """Every header line is a field or a fold; no bare CR or LF anywhere in the block."""
    for line in header_block(raw).split(b"\r\n"):
        assert b"\r" not in line and b"\n" not in line, line
        assert re.match(rb"^[!-9;-~]+:( |$)|^[ \t]", line), line


def test_acknowledgement_header_snapshot():
    raw = build(outgoing(), INSTANCE, now=NOW)
    assert_well_formed(raw)
    headers = header_lines(raw)
    assert headers == [
        ("From", "Helpdesk <helpdesk@example.test>"),
        ("To", "Kari Nordmann <kari@example.org>"),
        ("Subject", "[SD#7] Printer"),
        ("Date", "Fri, 01 Mar 2024 12:00:00 GMT"),
        ("Message-ID", OUR_ID),
        ("In-Reply-To", "<human1@example.org>"),
        ("References", f"{SIGNER.case_reference(7)} <human1@example.org>"),
        ("Auto-Submitted", "auto-replied"),  # RFC 3834 5, MAIL_RULES 35
        ("X-Auto-Response-Suppress", "All"),
        ("Precedence", "bulk"),
        (compose.LOOP_HEADER, INSTANCE),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
        ("MIME-Version", "1.0"),
    ]
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names)), "every header exactly once"


def test_notification_is_auto_generated():
    headers = dict(header_lines(build(outgoing(auto_submitted="auto-generated"), INSTANCE, now=NOW)))
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers["Precedence"] == "bulk" and headers["X-Auto-Response-Suppress"] == "All"


def test_human_reply_has_no_automatic_markers():
    """MAIL_RULES 36: an agent's reply must look human, and still be ours and threaded."""
    raw = build(outgoing(auto_submitted=""), INSTANCE, now=NOW)
    assert_well_formed(raw)
    headers = dict(header_lines(raw))
    for name in ("Auto-Submitted", "X-Auto-Response-Suppress", "Precedence"):
        assert name not in headers
    assert headers[compose.LOOP_HEADER] == INSTANCE
    assert headers["Message-ID"] == OUR_ID and headers["In-Reply-To"] == "<human1@example.org>"
    assert "References" in headers


def test_outbound_reads_back_with_our_reader():
    msg = read(build(outgoing(), INSTANCE, now=NOW), DOMAIN)
    assert (msg.message_id, msg.synthetic_id) == (OUR_ID.strip("<>"), False)
    assert msg.in_reply_to == ["human1@example.org"]
    assert msg.references == [SIGNER.case_reference(7).strip("<>"), "human1@example.org"]
    assert msg.from_address == "helpdesk@example.test" and msg.subject == "[SD#7] Printer"
    assert msg.text.replace("\r\n", "\n") == "We have your request.\n"


INJECTED_SUBJECTS = [
    # CVE-2024-6923: the encoded newline, decoded, then reused (MAIL_RULES 63).
    read(b"From: kari@example.org\r\nSubject: ok =?UTF-8?Q?=0A?=Bcc: victim@example.net\r\n\r\nx\r\n",
         DOMAIN).subject,
    decode_words("ok =?UTF-8?Q?=0A?=Bcc: victim@example.net"),
    "ok\r\nBcc: victim@example.net",
    "ok\nBcc: victim@example.net",
    "ok\rBcc: victim@example.net",
    "ok\u2028Bcc: victim@example.net",
]


@pytest.mark.parametrize("subject", INJECTED_SUBJECTS, ids=range(len(INJECTED_SUBJECTS)))
def test_subject_never_injects_a_header(subject):
    raw = build(outgoing(subject=subject), INSTANCE, now=NOW)
    assert_no_bcc(raw)
    assert dict(header_lines(raw))["Subject"] == "ok Bcc: victim@example.net"


# Encoded words still in a value: the header registry would decode them again.
ENCODED_NEWLINE = "=?UTF-8?Q?ok=0ABcc:_victim@example.net?="
TWICE_ENCODED = read(b"From: kari@example.org\r\nSubject: =?UTF-8?B?"
                     + base64.b64encode(b"ok =?UTF-8?Q?=0A?=Bcc: victim@example.net")
                     + b"?=\r\n\r\nx\r\n", DOMAIN).subject
FIELD_VALUES = ["Kari\r\nBcc: victim@example.net", ENCODED_NEWLINE, TWICE_ENCODED,
                "=?UTF-8?B?" + base64.b64encode(ENCODED_NEWLINE.encode()).decode() + "?="]


def test_a_twice_encoded_subject_is_read_as_an_encoded_word():
    """What the inbound side hands on: decoded once, the inner word is literal text."""
    assert TWICE_ENCODED == "ok =?UTF-8?Q?=0A?=Bcc: victim@example.net"


@pytest.mark.parametrize("subject", [ENCODED_NEWLINE, TWICE_ENCODED], ids=["encoded", "twice-encoded"])
def test_subject_with_an_encoded_newline_stays_one_line(subject):
    raw = build(outgoing(subject=subject), INSTANCE, now=NOW)
    assert_no_bcc(raw)
    assert "\n" not in email.message_from_bytes(raw, policy=email.policy.default)["Subject"]


@pytest.mark.parametrize("field", ["from_name", "to_name", "thread_topic", "thread_index", "reply_to"])
@pytest.mark.parametrize("value", FIELD_VALUES, ids=range(len(FIELD_VALUES)))
def test_other_fields_never_inject_a_header(field, value):
    if field == "reply_to":
        value = "x@example.org " + value
    assert_no_bcc(build(outgoing(**{field: value}), INSTANCE, now=NOW))


@pytest.mark.parametrize("message_id", ["<=?UTF-8?Q?=0A?=Bcc:victim@example.net>",
                                        "=?UTF-8?Q?x=0D=0ABcc:_victim@example.net?=@example.org"])
def test_threading_ids_never_inject_a_header(message_id):
    """An inbound Message-ID is the sender's text; ours echoes it in In-Reply-To."""
    raw = build(outgoing(in_reply_to=message_id, references=[SIGNER.case_reference(7), message_id]),
                INSTANCE, now=NOW)
    assert_no_bcc(raw)


def test_encoded_words_nested_deeper_than_we_decode_are_broken_up():
    deep = "ok =?UTF-8?Q?=0A?=Bcc: victim@example.net"
    for _ in range(compose.MAX_ENCODING_DEPTH + 2):
        deep = "=?UTF-8?B?" + base64.b64encode(deep.encode()).decode() + "?="
    assert compose.header_text(deep).startswith("= ?UTF-8?B?")
    assert_no_bcc(build(outgoing(subject=deep), INSTANCE, now=NOW))


def test_header_text_leaves_ordinary_text_alone():
    for text in ("[SD#7] Printer", "Grüße aus Tromsø", "x=? y", "What is 2+2=?"):
        assert compose.header_text(text) == text
    assert compose.header_text("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=") == "Grüße"
    assert compose.header_text("=?bogus?Q?x?=") == "x"  # an unknown charset falls back, as inbound


def assert_no_bcc(raw: bytes) -> None:
    """No Bcc header, as a recipient's parser and as the bytes on the wire see it."""
    assert_well_formed(raw)
    assert email.message_from_bytes(raw).get_all("Bcc") is None
    assert email.message_from_bytes(raw, policy=email.policy.default).get_all("Bcc") is None
    assert not re.search(rb"(?im)^bcc:", header_block(raw))


def test_cap_references_keeps_first_four_and_last_six():
    ids = [f"<r{i}@example.org>" for i in range(30)]
    assert cap_references(ids) == ids[:4] + ids[-6:]


@pytest.mark.parametrize("ids, expected", [
    ([], []),
    (["<a@x>"], ["<a@x>"]),
    ([f"<r{i}@x>" for i in range(10)], [f"<r{i}@x>" for i in range(10)]),
    (["<a@x>", "", "<a@x>", "<b@x>"], ["<a@x>", "<b@x>"]),
])
def test_cap_references_short_lists(ids, expected):
    assert cap_references(ids) == expected


def test_long_thread_gives_ten_references_led_by_the_case():
    """MAIL_RULES 38: starts with the pseudo-reference, ends with the parent."""
    refs = [SIGNER.case_reference(7)] + [f"<r{i}@example.org>" for i in range(29)]
    raw = build(outgoing(references=refs, in_reply_to="<r28@example.org>"), INSTANCE, now=NOW)
    assert_well_formed(raw)
    ids = dict(header_lines(raw))["References"].split()
    assert len(ids) == 10 and ids[0] == SIGNER.case_reference(7) and ids[-1] == "<r28@example.org>"


ATTACHMENTS = [
    ("report.pdf", "application/pdf", bytes(range(256)) * 8),
    ("Møtereferat æøå.txt", "text/plain", "Hei på deg\r\n".encode("utf-8")),
    ("forwarded.eml", "message/rfc822", b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"),
    ("no-type", "", b"\x00\x01\x02"),
]


def test_attachments_survive_a_round_trip():
    msg = read(build(outgoing(attachments=ATTACHMENTS), INSTANCE, now=NOW), DOMAIN)
    assert [(p.filename, p.data) for p in msg.parts] == [(name, data) for name, _, data in ATTACHMENTS]
    assert [p.content_type for p in msg.parts][:2] == ["application/pdf", "text/plain"]


def test_attachment_filename_with_line_break_stays_one_header():
    for name in ("a\r\nBcc: victim@example.net.txt", "=?UTF-8?Q?a=0ABcc:_victim@example.net?=.txt"):
        raw = build(outgoing(attachments=[(name, "text/plain", b"x")]), INSTANCE, now=NOW)
        assert_no_bcc(raw)
        assert not re.search(rb"(?im)^bcc:", raw)


# Signed keys (maild.mail.signing, MAIL_RULES 37)

def test_signed_message_id_round_trips():
    mid = SIGNER.message_id(1234, 56)
    assert mid.startswith("<sd.1234.56.") and mid.endswith(f"@{DOMAIN}>")
    assert SIGNER.read_message_id(mid) == (1234, 56)
    assert SIGNER.read_message_id(mid.strip("<>")) == (1234, 56)
    assert SIGNER.read_message_id(mid.upper()) == (1234, 56)  # ids may come back in another case
    assert SIGNER.message_id(1234, 56) != mid  # a fresh nonce each time


def tamper(mid: str) -> str:
    """The id with the last digit of its signature changed."""
    local, _, domain = mid.partition("@")
    return local[:-1] + ("1" if local[-1] == "0" else "0") + "@" + domain


@pytest.mark.parametrize("make", [
    lambda mid: tamper(mid),
    lambda mid: mid.replace("sd.1234.56.", "sd.1235.56."),  # another case
    lambda mid: mid.replace("sd.1234.56.", "sd.1234.57."),  # another recipient
    lambda mid: mid.replace(f"@{DOMAIN}", "@other.example"),
    lambda mid: Signer(b"k" * 32, "other.example").message_id(1234, 56),
    lambda mid: Signer(b"another secret", DOMAIN).message_id(1234, 56),
    lambda mid: "<human1@example.org>",
    lambda mid: "",
], ids=["tampered", "other-case", "other-person", "other-domain", "signed-for-other-domain", "other-secret",
        "foreign", "empty"])
def test_forged_message_ids_fail(make):
    assert SIGNER.read_message_id(make(SIGNER.message_id(1234, 56))) is None


def test_case_reference_verifies_and_is_stable():
    ref = SIGNER.case_reference(42)
    assert ref == SIGNER.case_reference(42)
    assert SIGNER.read_message_id(ref) == (42, 0)
    assert SIGNER.read_message_id(tamper(ref)) is None


def test_a_text_message_is_written_byte_for_byte_as_email_mime_writes_it():
    # build() writes a message without attachments itself; email.mime
    # (_build_mime) stays the reference, over names, subjects and bodies of
    # every kind: non-ASCII, long, "=" and trailing spaces, bare CR, emoji.
    import random

    rng = random.Random(7)
    pieces = ["Kari", " Nordmann", "Ærlig Øystein", "Åse", " ", "=", "=?utf-8?q?x?=", "\t", "\r", "\n", "\r\n",
              "From ", "a" * 90, "é" * 50, "€", "😀", ".", "-- ", "[SD#7] ", "Re: "]

    def text(most):
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, most)))
    now = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.timezone.utc)
    for _ in range(400):
        out = Outgoing(from_name=text(3), from_address="helpdesk@example.test", to_name=text(3),
                       to_address=rng.choice(["kari@example.org", "kari@bø.example"]), subject=text(12),
                       body=text(60), message_id=f"sd.{rng.randint(1, 99)}@desk.example.test",
                       in_reply_to=rng.choice(["", "<a@b>"]), references=[f"r{i}@x" for i in range(rng.randint(0, 14))],
                       auto_submitted=rng.choice(["", "auto-replied", "auto-generated"]),
                       reply_to=rng.choice(["", "reply+abc@desk.example.test"]), thread_topic=text(4),
                       thread_index=rng.choice(["", "AdkA"]),
                       list_unsubscribe=rng.choice(["", "https://desk.example.test/unsubscribe/1"]))
        assert build(out, "inst-1", now=now) == compose._build_mime(out, compose._headers(out, "inst-1", now)), out

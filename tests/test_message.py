"""Reading inbound mail with maild.mail.message: never a crash, every field safe (MAIL_RULES 4, 45, 49-55).

Pure units on small raw messages and on every file of ``../shared/corpus``.
"""

from __future__ import annotations

import unicodedata

import pytest
from conftest import CORPUS
from mailfactory import make_mail

from maild.mail import message
from maild.mail.message import read, safe_filename

DOMAIN = "desk.example.test"
FILES = sorted(CORPUS.rglob("*.eml"))


def raw(*headers: str, body: bytes = b"Hello.\r\n") -> bytes:
    """A raw message from header lines (str, or bytes for 8-bit headers)."""
    lines = [h.encode("utf-8") if isinstance(h, str) else h for h in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def test_corpus_is_present():
    assert len(FILES) > 150, f"expected the shared corpus at {CORPUS}"


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_read_never_raises_on_the_corpus(path):
    msg = read(path.read_bytes(), DOMAIN)
    assert msg.message_id and "\n" not in msg.message_id
    assert "\n" not in msg.subject and "\r" not in msg.subject
    assert "\x00" not in msg.text
    for part in msg.parts:
        assert part.filename and "/" not in part.filename and "\\" not in part.filename


@pytest.mark.parametrize("junk", [b"", b"\x00\xff\xfe", b"From: \r\n\r\n", b"no headers at all",
                                  b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" * 50])
def test_read_never_raises_on_junk(junk):
    assert read(junk, DOMAIN).synthetic_id


@pytest.mark.parametrize("header, expected", [
    # Python 3.11's policy.default raises IndexError on these (MAIL_RULES 49).
    ("Message-ID: <[abc]@microsoft.com>", "[abc]@microsoft.com"),
    ("Message-ID: <[dd32a1b0=@microsoft.com]>", "[dd32a1b0=@microsoft.com]"),
    ("Message-ID:   <plain@example.org>  ", "plain@example.org"),
    ("Message-ID: <a@x> <b@x>", "a@x"),
])
def test_message_id_kept_verbatim(header, expected):
    msg = read(raw("From: kari@example.org", header), DOMAIN)
    assert (msg.message_id, msg.synthetic_id) == (expected, False)


@pytest.mark.parametrize("header", ["Message-ID: <>", "Message-ID: < >", "Message-ID:", "Message-ID: no-brackets",
                                    None])
def test_unusable_message_id_gets_a_deterministic_synthetic_one(header):
    headers = ["From: kari@example.org", "Subject: x"] + ([header] if header else [])
    first = read(raw(*headers), DOMAIN)
    again = read(raw(*headers), DOMAIN)
    other = read(raw(*headers, body=b"Something else.\r\n"), DOMAIN)
    assert first.synthetic_id
    assert first.message_id.startswith("sd-gen-") and first.message_id.endswith("@" + DOMAIN)
    assert again.message_id == first.message_id  # a redelivery de-duplicates (MAIL_RULES 4)
    assert other.message_id != first.message_id


def test_unknown_charset_still_gives_text():
    msg = read((CORPUS / "imap_tools/plain_emails/raw_email10.eml").read_bytes(), DOMAIN)
    assert "Envoyé par le service de messagerie texte de Bell Mobilité" in msg.text
    assert msg.defects  # the fallback is recorded (MAIL_RULES 50)


@pytest.mark.parametrize("name, expected", [
    ("ks_c_5601-1987.eml", "스티해"),
    ("japanese_iso_2022.eml", "すみません。"),
    ("japanese_shift_jis.eml", "このメールはテスト用のメールです。"),
    ("japanese.eml", "かきくえこ"),
])
def test_multi_charset_bodies_decode(name, expected):
    msg = read((CORPUS / "imap_tools/multi_charset" / name).read_bytes(), DOMAIN)
    assert expected in msg.text
    assert "\x1b" not in msg.text  # no undecoded ISO-2022 escape sequences


@pytest.mark.parametrize("text", ["안녕하세요", "すみません。ｶﾀｶﾅ"])
def test_decode_iso2022(text):
    codec = "iso2022_kr" if text == "안녕하세요" else "iso2022_jp_ext"
    assert message.decode_iso2022(text.encode(codec).decode("ascii")) == text


def test_decode_iso2022_leaves_terminal_colours_alone():
    assert message.decode_iso2022("\x1b[31mERROR\x1b[0m disk full") == "\x1b[31mERROR\x1b[0m disk full"


def test_iso_2022_jp_html_part_decodes():
    body = "<p>すみません。</p>".encode("iso-2022-jp")
    msg = read(raw("From: kari@example.org", "Content-Type: text/html; charset=iso-2022-jp",
                   "Content-Transfer-Encoding: 7bit", body=body + b"\r\n"), DOMAIN)
    assert "すみません。" in msg.html


@pytest.mark.parametrize("subject, expected", [
    ("=?utf-8?Q?a?= =?utf-8?Q?b?=", "ab"),  # RFC 2047 6.2: whitespace between words is dropped
    ("=?utf-8?Q?a?==?utf-8?Q?b?=", "ab"),
    (b"caf\xe9", "café"),  # raw Latin-1 (MAIL_RULES 51)
    ("caf\u00e9".encode("utf-8"), "café"),  # raw UTF-8 (RFC 6532)
    ("=?UTF-8?Q?ok=0ABcc:_x?=", "ok Bcc: x"),
    ("=?ISO-8859-1?Q?Gr=FC=DFe?=", "Grüße"),
    ("=?utf-8?B?bm90IGJhc2U2NA?=", "not base64"),
    ("=?x-unknown?Q?hi?=", "hi"),
    ("Printer\r\n  on floor 2", "Printer on floor 2"),
])
def test_subject_decoding(subject, expected):
    line = (b"Subject: " + subject) if isinstance(subject, bytes) else "Subject: " + subject
    msg = read(raw("From: kari@example.org", line), DOMAIN)
    assert msg.subject == expected


def test_encoded_newline_in_subject_gives_one_line():
    msg = read(raw("From: kari@example.org", "Subject: =?UTF-8?Q?ok=0ABcc:_x?="), DOMAIN)
    assert "\n" not in msg.subject and "\r" not in msg.subject
    assert msg.subject == "ok Bcc: x"


@pytest.mark.parametrize("header, expected", [
    ("From: Kari <Kari@Example.ORG>", ("kari@example.org", "Kari")),
    ('From: "bob@example.org" <alice@example.org>', ("alice@example.org", "bob@example.org")),
    ("From: =?UTF-8?B?Rm9vLCBCYXI=?= <foo.bar@example.com>", ("foo.bar@example.com", "Foo, Bar")),
    ("From: alice@example.org, bob@example.org", ("", None)),
    ("From: undisclosed-recipients:;", ("", None)),
    ("From: =?utf-8?B?Ym9iQGV4YW1wbGUub3Jn?=", ("", None)),
])
def test_sender(header, expected):
    msg = read(raw(header, "Subject: x"), DOMAIN)
    assert msg.from_address == expected[0]
    if expected[1] is not None:
        assert msg.from_name == expected[1]


def test_smuggled_second_address_never_authorises():
    """MAIL_RULES 45: 3.11.7's getaddresses returns alice, '' and bob here."""
    msg = read(raw("From: alice@example.org)<bob@example.org>", "Subject: x"), DOMAIN)
    assert msg.from_address in ("", "alice@example.org")
    assert "bob" not in msg.from_address


def test_two_different_from_headers_are_ambiguous():
    msg = read(raw("From: Alice <alice@example.org>", "From: Bob <bob@example.org>", "Subject: x"), DOMAIN)
    assert msg.from_address == ""


def test_a_repeated_identical_from_header_is_one_sender():
    msg = read(raw("From: Alice <alice@example.org>", "From: Alice <alice@example.org>"), DOMAIN)
    assert msg.from_address == "alice@example.org"


def test_encoded_comma_in_display_name_is_one_address():
    msg = read(raw("From: kari@example.org", "To: =?UTF-8?B?Rm9vLCBCYXI=?= <foo.bar@example.com>",
                   "Cc: =?UTF-8?B?Rm9vLCBCYXI=?= <foo.bar@example.com>, Ola <ola@example.org>"), DOMAIN)
    assert msg.to == [("Foo, Bar", "foo.bar@example.com")]
    assert msg.cc == [("Foo, Bar", "foo.bar@example.com"), ("Ola", "ola@example.org")]


BIDI_CONTROLS = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
HOSTILE_NAMES = [
    "../../etc/passwd",
    "C:\\x\\evil.exe",
    "=?utf-8?B?Li4vLi4vZXZpbA==?=",  # ../../evil, RFC 2047 encoded
    "a" * 300,
    "b" * 290 + ".pdf",
    "..",
    "...",
    ".htaccess",
    "a\x00b\r\nc.txt",
    "invoice\u202efdp.exe",  # right-to-left override: shows as "invoiceexe.pdf"
    "/",
    "",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_attachment_filenames_become_safe(name):
    safe = safe_filename(name, "attachment-1.bin")
    assert safe and len(safe) <= message.MAX_FILENAME
    assert "/" not in safe and "\\" not in safe and ".." not in safe and not safe.startswith(".")
    assert not any(unicodedata.category(ch) == "Cc" or unicodedata.bidirectional(ch) in BIDI_CONTROLS
                   for ch in safe)


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\x\\evil.exe", "evil.exe"),
    ("=?utf-8?B?Li4vLi4vZXZpbA==?=", "evil"),
    ("report.pdf", "report.pdf"),
    ("Møtereferat 2024.docx", "Møtereferat 2024.docx"),
    ("..", "attachment-1.bin"),
])
def test_safe_filename_keeps_what_it_can(name, expected):
    assert safe_filename(name, "attachment-1.bin") == expected


def test_long_filename_keeps_its_extension():
    assert safe_filename("b" * 290 + ".pdf", "x").endswith(".pdf")


def test_hostile_filename_in_a_real_message():
    mail = make_mail(attachments=[("../../etc/passwd", "text/plain", b"root:x:0:0\n"),
                                  ("C:\\x\\evil.exe", "application/octet-stream", b"MZ")])
    names = [p.filename for p in read(mail, DOMAIN).parts]
    assert names == ["passwd", "evil.exe"]


def test_encoded_hostile_filename_in_a_real_message():
    body = (b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
            b"--b\r\nContent-Type: application/octet-stream\r\n"
            b'Content-Disposition: attachment; filename="=?utf-8?B?Li4vLi4vZXZpbA==?="\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nTVo=\r\n--b--\r\n")
    msg = read(raw("From: kari@example.org", "MIME-Version: 1.0",
                   'Content-Type: multipart/mixed; boundary="b"', body=body), DOMAIN)
    assert [(p.filename, p.data) for p in msg.parts] == [("evil", b"MZ")]


@pytest.mark.parametrize("headers, in_reply_to, references", [
    (["In-Reply-To: <a@x>", "References: <r1@x> <r2@x>"], ["a@x"], ["r1@x", "r2@x"]),
    (["In-Reply-To: <a@x> (Kari's message of Monday)"], ["a@x"], []),
    (["References: <r1@x>\r\n\t<r2@x>\r\n <r1@x>"], [], ["r1@x", "r2@x"]),  # folded, repeated
    (["References: garbage <r1@x> more <> garbage < r2@x >"], [], ["r1@x"]),
    (["References: <r1@x>", "References: <r2@x>"], [], ["r1@x", "r2@x"]),
    (["In-Reply-To:"], [], []),
    ([], [], []),
])
def test_threading_ids(headers, in_reply_to, references):
    msg = read(raw("From: kari@example.org", *headers), DOMAIN)
    assert (msg.in_reply_to, msg.references) == (in_reply_to, references)


def test_body_digest_ignores_trace_headers():
    """An IMAP and an SMTP copy of one message differ only in Received."""
    mail = make_mail(message_id="<same@example.org>")
    copy = b"Received: from mx.example.org by imap.example.test; Fri, 1 Mar 2024 12:00:00 +0000\r\n" + mail
    assert read(copy, DOMAIN).body_sha256 == read(mail, DOMAIN).body_sha256
    assert message.body_digest(mail.replace(b"\r\n", b"\n")) == message.body_digest(mail)
    other = mail.replace(b"floor 2", b"floor 3")
    assert message.body_digest(other) != message.body_digest(mail)


def test_header_lookup_is_case_insensitive():
    msg = read(raw("From: kari@example.org", "PRECEDENCE: Bulk", "x-autoreply: yes"), DOMAIN)
    assert msg.header("Precedence") == "Bulk" and msg.has_header("X-AutoReply")
    assert msg.header("X-Missing") == "" and not msg.has_header("X-Missing")



def test_headers_are_read_once_with_the_body_and_still_read_when_the_body_cannot_be():
    """Headers come from mail-parser's own parse of the message (issue 17,
    "parse once"); a mail it refuses (here a multipart nested deeper than the
    parser recurses) keeps its headers, read from the bytes alone."""
    deep = 1200
    nested = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i) for i in range(deep))
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(deep)))
    headers = ("From: Kari Nordmann <kari@example.org>", "Subject: Dyp melding", "Message-ID: <deep@example.org>",
               "MIME-Version: 1.0")
    refused = read(raw(*headers, body=b"").rstrip(b"\r\n") + b"\r\n" + nested
                   + b"Content-Type: text/plain\r\n\r\nhello\r\n" + closing, DOMAIN)
    assert any("parsed plainly instead" in d for d in refused.defects), refused.defects
    simple = read(raw(*headers, "Content-Type: text/plain; charset=utf-8"), DOMAIN)
    for msg in (refused, simple):
        assert (msg.subject, msg.from_address, msg.from_name, msg.message_id) == \
            ("Dyp melding", "kari@example.org", "Kari Nordmann", "deep@example.org")


BROKEN = [
    # Declared multipart, but the body has no boundary line at all.
    (raw("From: a@example.org", "Subject: broken", "MIME-Version: 1.0",
         'Content-Type: multipart/mixed; boundary="XYZ"', body=b"The printer is broken.\r\nPlease help.\r\n"),
     "The printer is broken.\nPlease help.", "kept as plain text"),
    # Boundary lines in the body, but none named in the header.
    (raw("From: a@example.org", "Subject: broken", "MIME-Version: 1.0", "Content-Type: multipart/mixed",
         body=b"--XYZ\r\nContent-Type: text/plain\r\n\r\nThe printer is broken.\r\n--XYZ--\r\n"),
     "The printer is broken.", "read by its boundary lines"),
    # The header names one boundary and the body uses another.
    (raw("From: a@example.org", "Subject: broken", "MIME-Version: 1.0",
         'Content-Type: multipart/alternative; boundary="XYZ"',
         body=b"--ABC\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSkriveren er \xc3\xb8delagt.\r\n--ABC--\r\n"),
     "Skriveren er ødelagt.", "read by its boundary lines"),
]


@pytest.mark.parametrize("mail, text, how", BROKEN)
def test_a_broken_multipart_structure_keeps_its_text(mail, text, how):
    """SPEC 2.10: a malformed mail becomes a case with what it says, never an empty entry."""
    read_back = read(mail, DOMAIN)
    assert read_back.text.strip() == text
    assert any(how in d for d in read_back.defects), read_back.defects


def test_a_broken_multipart_mail_opens_a_case_with_its_text(ctx):
    from conftest import deliver

    from maild.store.models import Entry

    row = deliver(ctx, BROKEN[0][0])
    assert row.state == "processed"
    assert "The printer is broken." in Entry.get(Entry.case == row.case_id).body_text

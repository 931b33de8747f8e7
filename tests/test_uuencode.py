"""uuencoded files (MAIL_RULES 54): decoded into attachments, cut out of the text.

Inline blocks in a text, text parts sent with ``Content-Transfer-Encoding:
x-uuencode``, and the imap_tools corpus message with such an attachment,
end to end through the runner on both stores.
"""

from __future__ import annotations

import binascii

import pytest
from conftest import CORPUS, deliver
from mailfactory import make_mail

from maild import attachments
from maild.mail import message, uuencode
from maild.store.models import Entry

DOMAIN = "desk.example.test"
FILE = bytes(range(256)) * 3


def encoded(data: bytes, name: str = "report.bin", zero_line: str = "`") -> str:
    """``uuencode``'s output: the begin line, 45 bytes a line, the zero-length line, end."""
    lines = "".join(binascii.b2a_uu(data[i:i + 45], backtick=True).decode() for i in range(0, len(data), 45))
    return f"begin 644 {name}\n{lines}{zero_line}\nend\n"


def raw(*headers: str, body: str) -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def test_an_inline_block_becomes_a_file_and_leaves_the_text():
    text = "Hello,\n\nthe log is attached.\n\n" + encoded(FILE) + "\nRegards, Kari\n"
    rest, files = uuencode.extract(text)
    assert files == [("report.bin", FILE)]
    assert rest == "Hello,\n\nthe log is attached.\n\n\nRegards, Kari\n"


@pytest.mark.parametrize("zero_line", ["`", " ", ""])
def test_the_zero_length_line_may_be_a_backquote_a_space_or_stripped(zero_line):
    assert uuencode.extract(encoded(b"abc" * 40, zero_line=zero_line))[1] == [("report.bin", b"abc" * 40)]


def test_several_blocks_in_order_and_crlf_lines():
    text = (encoded(b"first", "a.txt") + "between\n" + encoded(b"second", "b c.txt")).replace("\n", "\r\n")
    rest, files = uuencode.extract(text)
    assert files == [("a.txt", b"first"), ("b c.txt", b"second")]
    assert rest == "between\r\n"


@pytest.mark.parametrize("text", [
    "We begin 644 tests tomorrow.\n",
    "begin 644 the migration on Monday\nand tell me how it went.\nend\n",  # prose between
    "begin 644 file.bin\n" + encoded(b"data").split("\n", 1)[1].replace("end\n", ""),  # never ended
    "begin 999 file.bin\n#86)C\nend\n",  # not an octal mode
    "",
])
def test_what_is_not_a_whole_block_stays_text(text):
    assert uuencode.extract(text) == (text, [])


def test_an_unclosed_block_does_not_swallow_the_next():
    text = "begin 644 broken.bin\n" + encoded(b"kept", "kept.bin")
    rest, files = uuencode.extract(text)
    assert files == [("kept.bin", b"kept")] and rest == "begin 644 broken.bin\n"


def test_an_inline_block_in_a_mail_becomes_an_attachment():
    mail = make_mail(body="See the file.\n\n(UUEncoded file named: Naz_Head.jpg follows)\n\n"
                          + encoded(FILE, "Naz_Head.jpg") + "\nKari\n")
    msg = message.read(mail, DOMAIN)
    assert [(p.filename, p.content_type, p.data) for p in msg.parts] == [("Naz_Head.jpg", "image/jpeg", FILE)]
    assert "begin 644" not in msg.text and "Naz_Head.jpg follows" in msg.text and "Kari" in msg.text


def test_a_hostile_name_in_a_begin_line_is_made_safe():
    msg = message.read(make_mail(body=encoded(b"x", "../../etc/passwd")), DOMAIN)
    assert [p.filename for p in msg.parts] == ["passwd"]


def test_a_text_part_sent_as_x_uuencode_becomes_an_attachment():
    data = "Rapport for mars: alt i orden.\n".encode() * 5
    single = raw("From: kari@example.org", "To: helpdesk@example.test", "Subject: Rapport",
                 "Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: x-uuencode",
                 body=encoded(data, "rapport.txt"))
    msg = message.read(single, DOMAIN)
    assert [(p.filename, p.data) for p in msg.parts] == [("rapport.txt", data)]
    assert msg.text.strip() == ""
    multipart = raw("From: kari@example.org", "To: helpdesk@example.test", "Subject: Rapport", "MIME-Version: 1.0",
                    'Content-Type: multipart/mixed; boundary="b"',
                    body="--b\nContent-Type: text/plain\n\nHei, se vedlegg.\n--b\nContent-Type: text/plain\n"
                         "Content-Transfer-Encoding: x-uuencode\n\n" + encoded(data, "rapport.txt") + "--b--\n")
    msg = message.read(multipart, DOMAIN)
    assert [(p.filename, p.data) for p in msg.parts] == [("rapport.txt", data)]
    assert msg.text.strip() == "Hei, se vedlegg." and "Rapport for mars" not in msg.text


def test_an_x_uuencode_attachment_without_its_zero_length_line_is_decoded():
    """The stdlib leaves such a part encoded: it stops at the empty line a mail program made of " "."""
    body = ("--b\nContent-Type: text/plain\n\nSee attached.\n--b\n"
            "Content-Type: application/octet-stream; name=data.bin\n"
            "Content-Disposition: attachment; filename=data.bin\nContent-Transfer-Encoding: x-uuencode\n\n"
            + encoded(FILE, "data.bin", zero_line="") + "--b--\n")
    msg = message.read(raw("From: kari@example.org", "MIME-Version: 1.0",
                           'Content-Type: multipart/mixed; boundary="b"', body=body), DOMAIN)
    assert [(p.filename, p.data) for p in msg.parts] == [("data.bin", FILE)]


def test_the_corpus_x_uuencode_mail_becomes_a_case_with_its_attachment(ctx):
    path = CORPUS / "imap_tools" / "error_emails" / "content_transfer_encoding_x_uuencode.eml"
    row = deliver(ctx, path.read_bytes())
    assert row.state == "processed", row.error
    entry = Entry.get(Entry.case == row.case_id)
    assert "Attached are the comments of the Public Generating Pool." in entry.body_text
    # The sender's software sent the file empty: its name and type are what is left of it.
    assert attachments.for_entry(entry) == [("PGP_Cmts_on_12-14-01_Pkg.doc", "application/msword", b"")]


def test_an_inline_uuencoded_mail_becomes_a_case_with_the_file(ctx):
    row = deliver(ctx, make_mail(subject="Naz", body="The picture:\n\n" + encoded(FILE, "Naz_Head.jpg") + "\nMaxime\n"))
    assert row.state == "processed", row.error
    entry = Entry.get(Entry.case == row.case_id)
    assert attachments.for_entry(entry) == [("Naz_Head.jpg", "image/jpeg", FILE)]
    assert "begin 644" not in entry.body_text and "Maxime" in entry.body_text

"""Outlook's winmail.dat (MAIL_RULES 54): its files become the entry's, its body the text of a mail with none.

Real streams from tnefparse's own tests (``tests/data/tnef/``, LGPL-3.0, see
its README); small hand-made ones for names and for what a hostile stream
does to the reader. End to end through the runner on both stores.
"""

from __future__ import annotations

import email
import email.policy
import struct
from pathlib import Path

import pytest
from conftest import deliver
from mailfactory import make_mail

from maild import attachments
from maild.mail import message, tnef
from maild.store.models import Case, Entry, Outbox

DATA = Path(__file__).parent / "data" / "tnef"
DOMAIN = "desk.example.test"
AGENT = "agent@example.test"

# What each example holds: its files in order, and whether it has a body
# (as tnefparse 1.4.0's tests/test_decoding.py lists them).
EXAMPLES = {
    "IPM-DistList.tnef": (["Untitled Attachment"], True),
    "MAPI_ATTACH_DATA_OBJ.tnef": (["VIA_Nytt_1402.doc", "VIA_Nytt_1402.pdf", "VIA_Nytt_14021.htm"], True),
    "MAPI_OBJECT.tnef": (["Untitled_Attachment"], True),
    "bad_checksum.tnef": (["image001.png"], True),
    "body.tnef": ([], True),
    "data-before-name.tnef": (["AUTOEXEC.BAT", "CONFIG.SYS", "boot.ini"], True),
    "duplicate_filename.tnef": (["file_abcdefgh.txt", "file_abcdefgh.txt", "VIA_Nytt_14021.htm"], True),
    "garbage-at-end.tnef": ([], False),
    "long-filename.tnef": (["allproductsmar2000.dat"], True),
    "missing-filenames.tnef": (["generpts.src", "TechlibDEC99.doc", "TechlibDEC99-JAN00.doc", "TechlibNOV99.doc"],
                               True),
    "multi-name-property.tnef": ([], False),
    "multi-value-attribute.tnef": (["208225__5_seconds__Voice_Mail.mp3"], True),
    "one-file.tnef": (["AUTHORS"], False),
    "rtf.tnef": ([], True),
    "triples.tnef": ([], True),
    "two-files.tnef": (["AUTHORS", "README"], False),
    "umlaut.tnef": (["TBZ PARIV GmbH.jpg", "image003.jpg", "UmlautAnhang-äüö.txt"], True),
    "unicode-mapi-attr-name.tnef": (["spaconsole2.cfg", "image001.png", "image002.png", "image003.png"], True),
    "unicode-mapi-attr.tnef": (["example.dat"], True),
}


def stream(name: str) -> bytes:
    return (DATA / name).read_bytes()


def tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    """One TNEF object ([MS-OXTNEF] 2.1.3.3): level, id, type, length, data, checksum."""
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def made_stream(*files: tuple[bytes, bytes]) -> bytes:
    """A minimal stream of (title, data) attachments: the objects Outlook writes for each file."""
    out = struct.pack("<IH", 0x223E9F78, 1)
    for title, data in files:
        out += tnef_object(2, 0x9002, 6, b"\x00" * 14)  # attRenddata starts an attachment
        out += tnef_object(2, 0x8010, 1, title + b"\x00")  # attAttachTitle
        out += tnef_object(2, 0x800F, 6, data)  # attAttachData
    return out


def winmail_mail(data: bytes, body: str = "See the attached files.\n", **kwargs) -> bytes:
    """A mail as Outlook sends one to a non-Outlook address: some text and a winmail.dat."""
    return make_mail(body=body, attachments=[("winmail.dat", "application/ms-tnef", data)], **kwargs)


def test_every_example_is_here():
    assert sorted(p.name for p in DATA.glob("*.tnef")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_lists_its_files(name):
    files, has_body = EXAMPLES[name]
    contents = tnef.read(stream(name))
    assert [f.name for f in contents.files] == files
    assert bool((contents.text + contents.html).strip()) == has_body


def test_the_files_keep_their_bytes_type_and_content_id():
    image = tnef.read(stream("bad_checksum.tnef")).files[0]
    assert image.data.startswith(b"\x89PNG") and len(image.data) == 1533127
    assert (image.content_type, image.content_id) == ("image/png", "image001.png@01D4870B.7E1607B0")
    authors, readme = tnef.read(stream("two-files.tnef")).files
    assert b"Authors of tnef" in authors.data and len(authors.data) == 244 and len(readme.data) == 893


def test_bodies_become_text_and_html():
    assert "Come support second harvest" in tnef.read(stream("bad_checksum.tnef")).text
    assert "<html" in tnef.read(stream("body.tnef")).html.lower()
    # Compressed RTF, unpacked and read as text: plain RTF and RTF that wraps HTML.
    assert "QARun 4.7" in tnef.read(stream("long-filename.tnef")).text
    assert "TEST äöü" in tnef.read(stream("umlaut.tnef")).text
    assert "{\\rtf" not in tnef.read(stream("rtf.tnef")).text
    # A body in the stream's code page (Cyrillic, cp1251), without its NUL.
    assert tnef.read(stream("triples.tnef")).text.strip() == "Sample description"


def test_a_damaged_example_is_read_and_says_so():
    assert any("checksum" in d for d in tnef.read(stream("bad_checksum.tnef")).defects)
    assert any("not TNEF objects" in d for d in tnef.read(stream("garbage-at-end.tnef")).defects)


@pytest.mark.parametrize("data, why", [
    (b"", "signature"),
    (b"PK\x03\x04 a zip file named winmail.dat", "signature"),
    (stream("two-files.tnef")[:5], "unpack"),
])
def test_what_is_no_stream_is_unreadable(data, why):
    with pytest.raises(tnef.Unreadable, match=why):
        tnef.read(data)


@pytest.mark.parametrize("cut", [6, 20, 200, 1000, 3000])
def test_a_truncated_stream_is_read_or_refused_never_an_error(cut):
    try:
        contents = tnef.read(stream("two-files.tnef")[:cut])
    except tnef.Unreadable:
        return
    assert all(f.name or f.data for f in contents.files)


def test_a_stream_that_would_keep_the_reader_busy_is_given_up():
    """tnefparse 1.4.0 loops over a count it reads: four billion properties in a 21-byte file."""
    endless = struct.pack("<IH", 0x223E9F78, 1) + tnef_object(1, 0x9003, 6, struct.pack("<I", 0xFFFFFFFF))
    with pytest.raises(tnef.Unreadable, match="longer than"):
        tnef.read(endless, timeout=1)


@pytest.mark.parametrize("content_type, filename, expected", [
    ("application/ms-tnef", "winmail.dat", True),
    ("application/vnd.ms-tnef", "", True),
    ("application/octet-stream", "WINMAIL.DAT", True),
    ("application/octet-stream", "report.dat", False),
])
def test_what_counts_as_a_winmail_dat(content_type, filename, expected):
    assert tnef.is_tnef(content_type, filename) is expected


def test_a_mail_with_a_winmail_dat_has_its_files_as_parts():
    msg = message.read(winmail_mail(stream("two-files.tnef")), DOMAIN)
    assert [(p.filename, p.content_type) for p in msg.parts] == [
        ("AUTHORS", "application/octet-stream"), ("README", "application/octet-stream")]
    assert [p.filename for p in msg.originals] == ["winmail.dat"]
    assert msg.originals[0].data == stream("two-files.tnef")
    assert msg.text.strip() == "See the attached files."  # the mail's own text wins


def test_the_winmail_body_is_the_text_of_a_mail_without_one():
    msg = message.read(winmail_mail(stream("long-filename.tnef"), body=""), DOMAIN)
    assert "QARun 4.7" in msg.text
    assert [p.filename for p in msg.parts] == ["allproductsmar2000.dat"]
    html_only = message.read(winmail_mail(stream("body.tnef"), body=""), DOMAIN)
    assert "<html" in html_only.html.lower() and not html_only.parts


def test_pictures_the_winmail_html_shows_are_inline():
    msg = message.read(winmail_mail(stream("unicode-mapi-attr-name.tnef"), body=""), DOMAIN)
    assert [(p.filename, p.inline) for p in msg.parts] == [
        ("spaconsole2.cfg", False), ("image001.png", True), ("image002.png", True), ("image003.png", True)]
    assert msg.parts[1].content_id == "image001.png@01CF8C82.F4A2A290"


def test_names_inside_a_winmail_dat_are_made_safe():
    data = made_stream((b"../../etc/passwd", b"root:x:0:0\n"), (b"C:\\x\\evil.exe", b"MZ"),
                       (b".hidden\x07", b"x"), (b"", b"no name"))
    msg = message.read(winmail_mail(data), DOMAIN)
    assert [(p.filename, p.data) for p in msg.parts] == [
        ("passwd", b"root:x:0:0\n"), ("evil.exe", b"MZ"), ("hidden", b"x"), ("attachment-4.bin", b"no name")]


@pytest.mark.parametrize("data", [stream("garbage-at-end.tnef"), stream("two-files.tnef")[:6] + b"\xff" * 40,
                                  b"not TNEF at all"])
def test_a_winmail_dat_that_gives_nothing_stays_a_plain_attachment(data):
    msg = message.read(winmail_mail(data), DOMAIN)
    assert [(p.filename, p.data) for p in msg.parts] == [("winmail.dat", data)]
    assert msg.originals == []
    assert any(d.startswith("tnef: winmail.dat") for d in msg.defects), msg.defects


def test_only_a_few_winmail_dats_are_opened_in_one_mail():
    many = [("winmail.dat", "application/ms-tnef", stream("one-file.tnef"))] * (message.MAX_TNEF + 2)
    msg = message.read(make_mail(attachments=many), DOMAIN)
    assert [p.filename for p in msg.parts].count("AUTHORS") == message.MAX_TNEF
    assert [p.filename for p in msg.parts].count("winmail.dat") == 2
    assert any("more than" in d for d in msg.defects)


def stored(entry) -> list[tuple[str, str, int]]:
    return [(name, content_type, len(data)) for name, content_type, data in attachments.for_entry(entry)]


def test_a_winmail_mail_becomes_a_case_with_its_files_and_the_original(ctx):
    data = stream("missing-filenames.tnef")
    row = deliver(ctx, winmail_mail(data, body="", subject="Date problem"))
    assert row.state == "processed", row.error
    entry = Entry.get(Entry.case == row.case_id)
    assert "Sue has encountered a Date problem" in entry.body_text
    assert [(name, size) for name, _, size in stored(entry)] == [
        ("generpts.src", 61210), ("TechlibDEC99.doc", 33792), ("TechlibDEC99-JAN00.doc", 34304),
        ("TechlibNOV99.doc", 33792), ("winmail.dat", len(data))]
    # Typed by their names, as the stream does not say.
    assert {t for name, t, _ in stored(entry) if name.endswith((".doc", ".dat"))} == {
        "application/msword", "application/ms-tnef"}


@pytest.mark.parametrize("name", ["bad_checksum.tnef", "garbage-at-end.tnef"])
def test_damaged_examples_become_cases(ctx, name):
    row = deliver(ctx, winmail_mail(stream(name), subject=name))
    assert row.state == "processed", row.error
    entry = Entry.get(Entry.case == row.case_id)
    names = [n for n, _, _ in stored(entry)]
    assert "winmail.dat" in names
    assert names[:-1] == EXAMPLES[name][0]
    assert any(d.startswith("tnef:") for d in entry.defects)


def test_a_corrupt_winmail_dat_is_kept_and_the_mail_still_becomes_a_case(ctx):
    data = stream("two-files.tnef")[:6] + bytes(range(256)) * 4
    row = deliver(ctx, winmail_mail(data, subject="corrupt"))
    assert row.state == "processed", row.error
    entry = Entry.get(Entry.case == row.case_id)
    assert stored(entry) == [("winmail.dat", "application/ms-tnef", len(data))]
    assert entry.body_text.strip() == "See the attached files."


def test_a_winmail_dat_that_would_keep_the_reader_busy_is_kept_and_the_mail_becomes_a_case(ctx):
    """Read by the parse worker: the stream's time is taken from the message's, never all of it."""
    endless = struct.pack("<IH", 0x223E9F78, 1) + tnef_object(1, 0x9003, 6, struct.pack("<I", 0xFFFFFFFF))
    row = deliver(ctx, winmail_mail(endless, subject="endless"))
    assert row.state == "processed", row.error
    entry = Entry.get(Entry.case == row.case_id)
    assert stored(entry) == [("winmail.dat", "application/ms-tnef", len(endless))]
    assert any("longer than" in d for d in entry.defects), entry.defects


def test_files_from_a_winmail_dat_meet_the_size_limit(make_config):
    from conftest import prepare

    from maild.store import db as store

    ctx = prepare(make_config(mail={"max_attachment_bytes": 70_000}))
    try:
        row = deliver(ctx, winmail_mail(stream("MAPI_ATTACH_DATA_OBJ.tnef")))
        entry = Entry.get(Entry.case == row.case_id)
        assert [n for n, _, _ in stored(entry)] == ["VIA_Nytt_1402.doc", "VIA_Nytt_14021.htm"]
        assert sorted(d for d in entry.defects if "size limit" in d) == [
            "attachment over the size limit, kept only in the raw message: VIA_Nytt_1402.pdf (213685 bytes)",
            "attachment over the size limit, kept only in the raw message: winmail.dat (348479 bytes)"]
    finally:
        store.shutdown(ctx.db)


def test_an_agents_winmail_reply_sends_the_files_not_the_winmail_dat(ctx):
    deliver(ctx, make_mail(subject="Need the manual"))
    case = Case.select().get()
    notice = email.message_from_bytes(bytes(Outbox.get((Outbox.case == case) & (Outbox.kind == "new_case")).raw),
                                      policy=email.policy.default)
    reply_to = str(notice["Reply-To"])
    raw = winmail_mail(stream("two-files.tnef"), body="Here you are.\n", sender=AGENT, to=reply_to,
                       subject="Re: " + str(notice["Subject"]), in_reply_to=str(notice["Message-ID"]))
    row = deliver(ctx, raw, rcpt=(reply_to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    sent = email.message_from_bytes(bytes(Outbox.get(Outbox.kind == "agent_reply").raw), policy=email.policy.default)
    assert sorted(p.get_filename() for p in sent.iter_attachments()) == ["AUTHORS", "README"]

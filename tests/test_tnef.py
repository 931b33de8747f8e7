"""Outlook's winmail.dat (MAIL_RULES 54): the reader lists its files and reads its body.

Real streams from tnefparse's own tests (``tests/data/tnef/``, LGPL-3.0, see
its README); small hand-made ones for what a hostile stream does to the reader.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from maild.mail import tnef

DATA = Path(__file__).parent / "data" / "tnef"

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

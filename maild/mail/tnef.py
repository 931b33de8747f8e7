"""Outlook's winmail.dat (TNEF, ``application/ms-tnef``) opened into its files and its body.

Outlook and Exchange send "rich text" mail as a TNEF stream in a part named
winmail.dat: the files the person attached and the body (plain, HTML or
compressed RTF) are inside it, and other mail programs show nothing but a
file nobody can open (MAIL_RULES 54; osTicket PR #555).

tnefparse (LGPL-3.0, used as a library) reads the stream; compressed_rtf
unpacks the RTF body, which striprtf turns into text. They run in a child
process with limits on time, CPU and memory, because tnefparse 1.4.0 loops on
counts it reads from the file: a 21-byte winmail.dat claiming four billion
properties keeps it busy for minutes, and one claiming four billion short
values fills the memory. Whatever goes wrong there (a wrong signature, a
truncated stream, a limit) raises ``Unreadable`` here, and the caller keeps
the winmail.dat as the plain attachment it was (SPEC 2.10).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

# Every TNEF stream starts with 0x223E9F78, little-endian ([MS-OXTNEF] 2.1.3.1).
SIGNATURE = b"\x78\x9f\x3e\x22"
CONTENT_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
# For all the winmail.dat of one message. One of 24 MB opens in about 0.6 s;
# a hostile one would loop for minutes. Well inside [mail] parse_seconds
# (10 by default, maild/mail/worker.py), so a hostile one is kept as it came
# instead of failing the whole message.
TIMEOUT_SECONDS = 4
MEMORY_BYTES = 1 << 30
# The directory holding this maild package: the child imports this very copy,
# not whichever one its interpreter would find first.
_ROOT = str(Path(__file__).resolve().parent.parent.parent)
# MAPI properties of an attachment ([MS-OXPROPS]): its MIME type and Content-ID.
_ATTACH_MIME_TAG = 0x370E
_ATTACH_CONTENT_ID = 0x3712


class Unreadable(Exception):
    """The stream could not be opened; the message says why."""


@dataclasses.dataclass
class File:
    """One file found in the stream, named as the sender named it (not yet made safe)."""

    name: str
    data: bytes
    content_type: str = ""
    content_id: str = ""


@dataclasses.dataclass
class Contents:
    """What a winmail.dat holds: its files, its body as text and as HTML, and what was odd."""

    files: list[File]
    text: str = ""
    html: str = ""
    defects: list[str] = dataclasses.field(default_factory=list)


def is_tnef(content_type: str, filename: str) -> bool:
    """Whether a part is meant as a TNEF stream: by its type, or by the name Outlook gives it."""
    # Some gateways relabel it application/octet-stream; the name survives.
    return content_type.lower() in CONTENT_TYPES or filename.strip().lower() == "winmail.dat"


def read(data: bytes, *, timeout: float = TIMEOUT_SECONDS) -> Contents:
    """Open a TNEF stream; raises ``Unreadable`` for anything that is not one, or is broken."""
    if not data.startswith(SIGNATURE):
        raise Unreadable("not a TNEF stream (wrong signature)")
    command = [sys.executable, "-I", "-c",
               "import sys; sys.path.insert(0, sys.argv[1]); from maild.mail import tnef; tnef.child()", _ROOT,
               str(math.ceil(timeout))]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise Unreadable(f"took longer than {timeout:g} s to open") from None
    except OSError as exc:
        raise Unreadable(f"could not start the reader: {exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Unreadable(lines[-1][:300] if lines else f"the reader stopped (status {done.returncode})")
    try:
        found = json.loads(done.stdout)
        files = [File(_clean(f["name"]), base64.b64decode(f["data"]), _clean(f["type"]), _clean(f["cid"]))
                 for f in found["files"]]
        return Contents(files=files, text=_clean(found["text"]), html=_clean(found["html"]),
                        defects=[_clean(d) for d in found["defects"]])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Unreadable(f"unexpected answer from the reader: {type(exc).__name__}") from None


def _clean(value: str) -> str:
    """Text safe to store: JSON can carry a lone surrogate, which PostgreSQL refuses."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _text(value, codepage: str) -> str:
    """A body tnefparse gives as str or as bytes in the stream's code page (or UTF-8), as text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\x00", "")
    for charset in ("utf-8", codepage):
        try:
            return value.decode(charset).replace("\x00", "")
        except (LookupError, UnicodeDecodeError):
            continue
    return value.decode("cp1252", "replace").replace("\x00", "")


def _attribute(attachment, tag: int) -> str:
    values = [a.data for a in attachment.mapi_attrs if a.name == tag]
    return values[0] if values and isinstance(values[0], str) else ""


def _contents(data: bytes) -> dict:
    """The child's work: the stream's files and body, as JSON-ready values."""
    from striprtf.striprtf import rtf_to_text
    from tnefparse import TNEF

    stream = TNEF(data)
    codepage = stream.codepage or "cp1252"
    defects = []
    broken = sum(1 for o in stream.objects if not o.good_checksum)
    if broken:
        defects.append(f"tnef: {broken} object(s) with a wrong checksum, read as they are")
    # The signature and key take 6 bytes; tnefparse stops quietly where objects stop fitting.
    unread = len(data) - 6 - sum(o.length for o in stream.objects)
    if unread > 0:
        defects.append(f"tnef: the last {unread} bytes are not TNEF objects, left unread")
    files = []
    for attachment in stream.attachments:
        try:
            name = attachment.long_filename()
        except (UnicodeDecodeError, AttributeError):  # a title in a code page it does not say
            name = ""
        if not name and not attachment.data:
            continue  # a stream cut off inside an attachment's first attribute: nothing to keep
        files.append({"name": name if isinstance(name, str) else "",
                      "data": base64.b64encode(attachment.data or b"").decode("ascii"),
                      "type": _attribute(attachment, _ATTACH_MIME_TAG),
                      "cid": _attribute(attachment, _ATTACH_CONTENT_ID)})
    text = _text(stream.body, codepage)
    if not text.strip() and stream.has_body():
        try:
            rtf = stream.rtfbody or b""
        except Exception as exc:  # compressed_rtf raises bare Exception on a bad CRC
            rtf = b""
            defects.append(f"tnef: RTF body unreadable ({exc})")
        # Without compressed_rtf tnefparse hands back the still-compressed bytes.
        if rtf.startswith(b"{\\rtf"):
            text = rtf_to_text(rtf.decode("latin-1"), encoding=codepage, errors="replace")
    return {"files": files, "text": text, "html": _text(stream.htmlbody, codepage), "defects": defects}


def child() -> None:
    """Run in the child process: a TNEF stream on stdin, its contents as JSON on stdout.

    ``sys.argv[2]`` is the parent's timeout in seconds: the child's CPU
    time is limited to a little more, so it ends by itself even when its
    parent was killed first (the parse worker, over its own budget).
    """
    import logging
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(MEMORY_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    seconds = int(sys.argv[2]) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard == resource.RLIM_INFINITY or hard > seconds:
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    # tnefparse logs a line for each property it skips: four billion of them, on bad input.
    logging.disable(logging.CRITICAL)
    data = sys.stdin.buffer.read()
    try:
        found = _contents(data)
    except MemoryError:
        sys.stderr.write(f"needed more than {MEMORY_BYTES >> 20} MB to open\n")
        sys.exit(2)
    except Exception as exc:  # the child is the boundary: any failure means "unreadable"
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.exit(1)
    json.dump(found, sys.stdout)

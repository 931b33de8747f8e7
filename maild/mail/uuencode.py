"""uuencoded files in a message's text: decoded into files, cut out of the text (MAIL_RULES 54).

Before MIME, and in Lotus Notes and list servers long after it, a file
travelled inside the text itself::

    begin 644 Naz_Head.jpg
    M_]C_X``02D9)1@`!`@(```````#__@`>04-$(%-Y<W1E;7,@1&EG:71A;"!)
    `
    end

Read as text, that is lines of noise and a lost file (RT's
``notes-uuencoded``). A block counts only when it is whole — the begin
line, lines that decode, and ``end`` — so a sentence that happens to start
with "begin 644" stays text. The scan is line by line and never looks past
the next begin line, so its cost is linear in the text whatever it holds.
"""

from __future__ import annotations

import binascii
import re

# "begin", the file's Unix mode in octal, its name (POSIX uuencode).
_BEGIN = re.compile(r"^begin[ \t]+([0-7]{3,4})[ \t]+(\S.*?)[ \t]*$")
# Names of the transfer encoding as mail programs write it (the stdlib knows the same four).
TRANSFER_ENCODINGS = ("x-uuencode", "uuencode", "uue", "x-uue")


def _decode_line(line: str) -> bytes | None:
    """One data line, or None when it is not uuencode."""
    # The zero-length line before "end" is a space or a backquote; mail
    # programs strip the space, and a2b_uu would read "" as 32 zero bytes.
    if not line.strip():
        return b""
    try:
        return binascii.a2b_uu(line)
    except (binascii.Error, ValueError):
        pass
    # Some encoders add padding beyond what the length character says
    # (the stdlib's workaround, after Fredrik Lundh): keep what it counts.
    count = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
    try:
        return binascii.a2b_uu(line[:count])
    except (binascii.Error, ValueError):
        return None


def _block(lines: list[str], start: int) -> tuple[int, bytes] | None:
    """(index of the ``end`` line, data) of a whole block whose begin line is ``start``."""
    chunks = []
    for index in range(start + 1, len(lines)):
        line = lines[index].rstrip("\r")
        if line.strip() == "end":
            return index, b"".join(chunks)
        if _BEGIN.match(line):
            return None  # another block starts: this one was never closed
        data = _decode_line(line)
        if data is None:
            return None
        chunks.append(data)
    return None


def extract(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The text without its whole uuencode blocks, and each block's (name, data) in order."""
    if "begin" not in text:
        return text, []
    lines = text.split("\n")
    kept, files, index = [], [], 0
    while index < len(lines):
        begin = _BEGIN.match(lines[index].rstrip("\r"))
        found = _block(lines, index) if begin else None
        if found is None:
            kept.append(lines[index])
            index += 1
            continue
        end, data = found
        files.append((begin.group(2), data))
        index = end + 1
    return "\n".join(kept) if files else text, files

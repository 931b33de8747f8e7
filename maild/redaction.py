"""Personal details taken out of a reply before it becomes a FAQ article: names, addresses, phone numbers.

An agent's answer to one customer is often the answer for everyone, but it
greets that customer by name, may repeat their address or phone number, and
ends with the agent's sign-off. ``redact`` removes what can be found by rule:
the greeting line, the sign-off and everything under it, every email address
but the department's own, phone numbers, and the names it is given (whole and
by part). What it removed is replaced by a bracketed placeholder, so the agent
sees where, and listed in ``removed``; finding every detail is not
promised, which is why an agent checks the draft before publishing it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

# Placeholders in the article's language (maild never uses the portal's catalogue).
PLACEHOLDERS = {
    "en": {"name": "[name]", "email": "[email address]", "phone": "[phone number]"},
    "nb": {"name": "[navn]", "email": "[e-postadresse]", "phone": "[telefonnummer]"},
}

# Greetings that open a reply, English and Norwegian, followed by anything
# short (the name) on the same line: "Hi Kari,", "Hei igjen Ola!".
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|hei|hallo|heisann|hei hei|kjære"
    r"|god (?:morgen|dag|ettermiddag|kveld))\b.{0,60}$", re.IGNORECASE)
# Sign-offs that close one: the line and everything under it go.
_SIGN_OFF = re.compile(
    r"^\s*(?:best regards|kind regards|warm regards|regards|best wishes|best|cheers|thanks|thank you|many thanks"
    r"|med vennlig hilsen|vennlig hilsen|beste hilsen|mvh|hilsen|takk|tusen takk)\b[\s,.!]*$", re.IGNORECASE)
# A sign-off is only looked for among the last lines: "Thanks" higher up is part of the answer.
_SIGN_OFF_LINES = 6

# Not RFC 5322 in full: what people write in running text.
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Eight to fifteen digits (E.164 allows 15; Norwegian numbers have 8) in
# groups split by spaces, dots or dashes, optionally after "+" or "00". Not
# inside a word ("KB5034441") and not a date ("2026-03-01") or a version
# ("10.0.19045"): those are not phone numbers and must stay.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d(?:[ .-]?\d){7,14}(?!\w)")
_DATE_OR_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$|^\d+(?:\.\d+){2,}$")


@dataclasses.dataclass(frozen=True)
class Redacted:
    """A text with personal details removed, and what kinds were found (greeting, sign-off, name, email, phone)."""

    text: str
    removed: tuple[str, ...]


def redact(text: str, *, names: Iterable[str] = (), keep_addresses: Iterable[str] = (),
           language: str = "en") -> Redacted:
    """``text`` without its greeting, sign-off, addresses (but ``keep_addresses``), phone numbers and ``names``."""
    marks = PLACEHOLDERS.get(language, PLACEHOLDERS["en"])
    removed: list[str] = []
    lines = (text or "").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and _GREETING.match(lines[first]):
        del lines[first]
        removed.append("greeting")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for i in reversed(filled[-_SIGN_OFF_LINES:]):
        if _SIGN_OFF.match(lines[i]) and i != filled[0]:
            del lines[i:]
            removed.append("sign-off")
            break
    text = "\n".join(lines).strip("\n")

    keep = {a.lower() for a in keep_addresses}

    def address(match: re.Match) -> str:
        if match.group().lower() in keep:
            return match.group()
        removed.append("email")
        return marks["email"]

    def phone(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        if _DATE_OR_VERSION.match(match.group().strip()) or not 8 <= len(digits) <= 15:
            return match.group()
        removed.append("phone")
        return marks["phone"]

    # Addresses before names, so "kari.nordmann@…" goes whole, not as "[name]@…".
    text = _EMAIL.sub(address, text)
    text = _PHONE.sub(phone, text)
    pattern = _names_pattern(names)
    if pattern is not None:
        text, count = pattern.subn(marks["name"], text)
        if count:
            removed.append("name")
    return Redacted(text=text, removed=tuple(dict.fromkeys(removed)))


def _names_pattern(names: Iterable[str]) -> re.Pattern | None:
    """One pattern for the names, whole or by part, longest first so "Kari Nordmann" goes as one."""
    words: set[str] = set()
    for name in names:
        name = " ".join((name or "").split())
        if not name:
            continue
        words.add(name)
        # Parts of two letters or more: "Kari", "Nordmann"; initials would
        # take every "A" and "I" in the text.
        words.update(part for part in re.split(r"[\s,]+", name) if len(part) >= 2 and part[0].isalpha())
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    # Whole words only, as written: "Per" the name, not "per" the preposition.
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")

"""Subjects: the case token ``[SD#N]``, reply prefixes, and clean header text.

The token is searched anywhere (list tags and ``[EXTERNAL]`` come first in real
subjects, MAIL_RULES 43); reply and forward prefixes of many languages are
stripped until nothing changes (MAIL_RULES 44), so ``Re: [SD#1] Re: [SD#1]``
never grows (MAIL_RULES 39).
"""

from __future__ import annotations

import re

MAX_SUBJECT = 110
# Subjects longer than this are not searched for a token (ReDoS and cost bound).
MAX_SEARCH = 4096

# Reply/forward prefixes, MAIL_RULES 44. Each may carry [n] or ^n and a
# full-width colon. "VS" is a forward in Norwegian but a reply in Finnish:
# we only strip, never infer which.
_PREFIXES = ("re|fw|fwd|aw|wg|sv|vs|vb|vl|antw|doorst|tr|r|i|rv|res|enc|odp|pd|"
             "ynt|i̇lt|ilt|απ|σχετ|πρθ|回复|转发|答复|轉寄|回覆")
_PREFIX = re.compile(r"\s*(?:%s)\s*(?:\[\d+\]|\^\d+)?\s*[:：]\s*" % _PREFIXES, re.IGNORECASE)

# Control characters, DEL, and the Unicode line/paragraph separators: never
# allowed in a header value we write (CVE-2024-6923, MAIL_RULES 51, 63).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def clean_header_text(value: str) -> str:
    """A header value safe to write: control characters become one space."""
    return re.sub(r"\s{2,}", " ", _CONTROL.sub(" ", value or "")).strip()


def token_pattern(prefix: str) -> re.Pattern:
    """The compiled token regex for a configured prefix (escaped: it is config)."""
    return re.compile(r"\[%s\s?#\s?(\d{1,9})\]" % re.escape(prefix), re.IGNORECASE)


def find_tokens(subject: str, prefix: str) -> list[int]:
    """Case numbers named by tokens in a subject, in order of appearance."""
    return [int(n) for n in token_pattern(prefix).findall((subject or "")[:MAX_SEARCH])]


def _skip_leading(text: str, patterns: tuple[re.Pattern, ...]) -> int:
    """Where the text starts after any run of leading matches of ``patterns``.

    One pass from left to right: removing a prefix and searching the rest
    again would copy the subject once per prefix, quadratic in its length.
    """
    pos = 0
    while True:
        for pattern in patterns:
            match = pattern.match(text, pos)
            if match and match.end() > pos:
                pos = match.end()
                break
        else:
            return pos


def strip_prefixes(subject: str) -> str:
    """The subject without any leading reply/forward prefixes."""
    subject = subject or ""
    return subject[_skip_leading(subject, (_PREFIX,)):].strip()


def base_subject(subject: str, prefix: str) -> str:
    """The subject with prefixes and our tokens removed: what a case is called."""
    text = clean_header_text(subject)
    pattern = token_pattern(prefix)
    # Reply prefixes and our tokens, mixed, at the start: "SV: [SD#1] Re: x".
    leading_token = re.compile(r"\s*" + pattern.pattern, re.IGNORECASE)
    text = text[_skip_leading(text, (_PREFIX, leading_token)):]
    text = pattern.sub(" ", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def truncate(text: str, limit: int = MAX_SUBJECT) -> str:
    """Shorten to ``limit`` characters, marking the cut with ``[...]``."""
    return text if len(text) <= limit else text[: limit - 6].rstrip() + " [...]"


def case_subject(case_id: int, subject: str, prefix: str) -> str:
    """The outbound subject: ``[SD#N] clean subject``, one line, bounded."""
    clean = truncate(base_subject(subject, prefix)) or "(no subject)"
    return f"[{prefix}#{case_id}] {clean}"

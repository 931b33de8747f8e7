"""Subjects: the case token, reply prefixes in many languages, safe header text (MAIL_RULES 39, 43, 44)."""

from __future__ import annotations

import time

import pytest

from maild.mail import subject
from maild.mail.subject import base_subject, case_subject, clean_header_text, find_tokens, strip_prefixes


def fastest(func, *args, runs: int = 5) -> float:
    """The best of a few timings, in seconds: a loaded machine slows one run, not all."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        func(*args)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("text, base, outbound", [
    ("SV: AW: RE: [SD#1234] Re: Printer", "Printer", "[SD#1234] Printer"),  # MAIL_RULES 39
    ("SV: VS: AW: Re[3]: RE：[SD#7] Printer", "Printer", "[SD#1234] Printer"),  # MAIL_RULES 44
    ("Re: [SD#1] Re: [SD#1] Printer", "Printer", "[SD#1234] Printer"),  # never grows
    ("Re: [SD#1234] Re: [SD#1234]", "", "[SD#1234] (no subject)"),
    ("Q3: results", "Q3: results", "[SD#1234] Q3: results"),  # not a prefix
    ("Invoice: 123", "Invoice: 123", "[SD#1234] Invoice: 123"),
    ("Re^2: Fwd: Printer", "Printer", "[SD#1234] Printer"),
    ("Re : Printer", "Printer", "[SD#1234] Printer"),
    ("RE:RE:RE: Printer", "Printer", "[SD#1234] Printer"),
    ("Antw: Doorst: Printer", "Printer", "[SD#1234] Printer"),
    ("TR: RV: RES: ENC: Odp: PD: Printer", "Printer", "[SD#1234] Printer"),
    ("R: I: Stampante", "Stampante", "[SD#1234] Stampante"),
    ("YNT: İLT: Yazıcı", "Yazıcı", "[SD#1234] Yazıcı"),
    ("ΑΠ: ΣΧΕΤ: Εκτυπωτής", "Εκτυπωτής", "[SD#1234] Εκτυπωτής"),
    ("回复: 转发: 打印机", "打印机", "[SD#1234] 打印机"),
    ("Printer [SD#99] on floor 2", "Printer on floor 2", "[SD#1234] Printer on floor 2"),
    ("[EXTERNAL] RE: [customers] [SD#1234] x", "[EXTERNAL] RE: [customers] x",
     "[SD#1234] [EXTERNAL] RE: [customers] x"),
    ("", "", "[SD#1234] (no subject)"),
])
def test_base_and_case_subject(text, base, outbound):
    assert base_subject(text, "SD") == base
    assert case_subject(1234, text, "SD") == outbound


@pytest.mark.parametrize("text", ["Q3: results", "Re: Q3: results", "SV: Q3: results"])
def test_q3_is_not_a_prefix(text):
    """Zammad's ^(..(\\[\\d+\\])?:\\s)+ would strip "Q3: " (MAIL_RULES 44)."""
    assert strip_prefixes(text) == "Q3: results"


@pytest.mark.parametrize("text, expected", [
    ("[EXTERNAL] RE: [customers] [SD#1234] x", [1234]),  # MAIL_RULES 43
    ("Re: [SD#1234] Printer", [1234]),
    ("re: [sd#12] printer", [12]),
    ("[SD #12] [SD# 13] [SD 14]", [12, 13]),
    ("Two: [SD#1] and [SD#2]", [1, 2]),
    ("[SD#1234567890] too long", []),
    ("SD#12 without brackets", []),
    ("[XSD#12] another prefix", []),
    ("", []),
])
def test_find_tokens(text, expected):
    assert find_tokens(text, "SD") == expected


@pytest.mark.parametrize("text", [
    "Re: " + "[x" * 5000 + " [SD#12] y",
    "[SD#" * 2600,
    "[SD #" * 2600,
    "[SD#" + "1" * 10240,
    "Re: " * 2600,
    "[SD#1] " * 1500,
    "Re: [SD#1] " * 950,
    "a" * 10240,
])
def test_a_10_kb_subject_is_cheap(text):
    """MAIL_RULES 43: a 10 KB subject takes under 5 ms; naming the case too."""
    assert len(text) >= 10000
    assert fastest(find_tokens, text, "SD") < 0.005
    assert fastest(case_subject, 1, text, "SD") < 0.005


def test_long_subject_is_truncated_with_a_marker():
    outbound = case_subject(7, "x" * 500, "SD")
    assert outbound.startswith("[SD#7] x") and outbound.endswith(" [...]")
    assert len(outbound) <= len("[SD#7] ") + subject.MAX_SUBJECT


def test_short_subject_is_not_truncated():
    text = "y" * subject.MAX_SUBJECT
    assert case_subject(7, text, "SD") == "[SD#7] " + text


@pytest.mark.parametrize("text", ["Printer\r\nBcc: victim@example.net", "Printer\nbroken", "Printer\rbroken",
                                  "Printer\x00broken", "Printer\u2028broken", "Printer\u0085broken"])
def test_line_breaks_and_controls_are_removed(text):
    for out in (clean_header_text(text), base_subject(text, "SD"), case_subject(1, text, "SD")):
        assert not any(ch in out for ch in "\r\n\x00\u2028\u0085")
    assert case_subject(1, "Printer\r\n broken", "SD") == "[SD#1] Printer broken"


@pytest.mark.parametrize("prefix, text, expected", [
    ("A-B", "Re: [A-B#5] x", [5]),
    ("A-B", "Re: [AB#5] x", []),
    ("A.B", "Re: [A.B#5] x", [5]),
    ("A.B", "Re: [AxB#5] x", []),  # "." is escaped, not "any character"
    ("A+B", "Re: [AAB#5] x", []),
    ("SD", "Re: [A-B#5] x", []),
])
def test_configured_prefix_is_escaped(prefix, text, expected):
    assert find_tokens(text, prefix) == expected


def test_outbound_subject_with_configured_prefix():
    assert case_subject(5, "SV: [A-B#5] Re: Printer", "A-B") == "[A-B#5] Printer"

"""Quote and signature removal on real replies: ../shared/corpus/replies (its README sets the rules R1–R9).

Every case's input goes through ``reply_text`` and is compared with its
expected text and the accepted alternatives, normalised as the corpus README
says. Two numbers: the share kept exactly in the goal languages (English,
Norwegian, Swedish, Danish, German and language-free headers) must stay at or
above 95 %; and no case, in any language, may lose words the replier wrote,
the worse error (relaying too much shows the customer our history; losing
words changes what the agent said).
"""

from __future__ import annotations

import collections
import json
import re
import unicodedata

import pytest
from conftest import CORPUS

from maild.mail.message import read
from maild.mail.quotes import reply_text

REPLIES = CORPUS / "replies"
GOAL_LANGUAGES = {"en", "nb", "sv", "da", "de", "neutral"}
GOAL_SHARE = 0.95
_RULE_LINE = re.compile(r"^\s*(?:-{3,}|_{3,}|={3,})\s*$")


def _cases() -> list[dict]:
    manifest = REPLIES / "MANIFEST.json"
    return json.loads(manifest.read_text(encoding="utf-8"))["cases"] if manifest.exists() else []


CASES = _cases()


def normalised(text: str) -> str:
    """The corpus README's comparison: LF line ends, no format characters, no trailing
    blank or bare rule lines, every run of whitespace one space."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    lines = text.split("\n")
    while lines and (not lines[-1].strip() or _RULE_LINE.match(lines[-1])):
        lines.pop()
    return " ".join(" ".join(lines).split())


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", normalised(text).lower())


def keeps_every_word(got: str, expected: str) -> bool:
    """Whether every word of the expected text is in what was kept, in order."""
    kept = iter(_words(got))
    return all(word in kept for word in _words(expected))


def _read(case: dict) -> tuple[str, list[str]]:
    folder = REPLIES / case["id"]
    text = (folder / case["files"]["input"]).read_text(encoding="utf-8")
    return text, [(folder / name).read_text(encoding="utf-8") for name in case["files"]["expected"]]


def test_the_corpus_is_present():
    assert len(CASES) >= 200, f"expected the replies corpus at {REPLIES}"


def test_goal_languages_are_kept_exactly(capsys):
    """The score over the goal languages, printed per language; at least 95 % exact."""
    score = collections.defaultdict(lambda: [0, 0])
    wrong = []
    for case in CASES:
        text, expected = _read(case)
        got = normalised(reply_text(text))
        exact = any(got == normalised(reading) for reading in expected)
        score[case["language"]][0] += exact
        score[case["language"]][1] += 1
        if not exact and case["language"] in GOAL_LANGUAGES:
            wrong.append(case["id"])
    kept = sum(score[language][0] for language in GOAL_LANGUAGES)
    total = sum(score[language][1] for language in GOAL_LANGUAGES)
    with capsys.disabled():
        print(f"\nreplies corpus, goal languages: {kept}/{total} = {kept / total:.1%} kept exactly")
        print("  " + ", ".join(f"{language} {right}/{count}" for language, (right, count) in sorted(score.items())))
        if wrong:
            print("  not exact: " + ", ".join(wrong))
    assert kept / total >= GOAL_SHARE


def test_nothing_the_replier_wrote_is_lost(capsys):
    """In every language: each word of an accepted reading is in the relayed text."""
    lost = []
    for case in CASES:
        text, expected = _read(case)
        got = reply_text(text)
        if not any(keeps_every_word(got, reading) for reading in expected):
            lost.append(case["id"])
    with capsys.disabled():
        print(f"\nreplies corpus: replier's words lost in {len(lost)} of {len(CASES)} cases")
    assert lost == []


def test_whole_messages_are_kept_exactly_through_their_html_too():
    """The cases kept as whole messages, read as the daemon reads them and relayed with their HTML part."""
    messages = [case for case in CASES if "message" in case["files"]]
    assert len(messages) >= 10
    for case in messages:
        msg = read((REPLIES / case["id"] / "message.eml").read_bytes(), "desk.example.test")
        _, expected = _read(case)
        got = normalised(reply_text(msg.text, html=msg.html))
        assert any(got == normalised(reading) for reading in expected), case["id"]


@pytest.mark.parametrize("got, expected, result", [
    ("Thanks!\n\nOn Tue Kari wrote:\n> hi", "Thanks!", True),
    ("Thanks", "Thanks!\n\nKari", False),
    ("Kari\nThanks", "Thanks\nKari", False),
])
def test_a_loss_is_a_missing_word(got, expected, result):
    """Relaying too much is not a loss; a word of the expected text missing, or out of order, is."""
    assert keeps_every_word(got, expected) is result

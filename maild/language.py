"""The language a person writes, told from the text of their first message.

Mail to a person is written in, in order: their own choice in the portal;
else the language of the first message of theirs we could tell, kept on
the person (``Person.language``); else their department's ``language``;
else ``[site] language`` (``maild/notify.py``).

The detector is py3langid, the maintained fork of langid.py (Lui and
Baldwin, 2012): a naive Bayes model over byte n-grams of 97 languages,
pure Python and NumPy, under 0.1 ms for a short mail. It chooses among all
its languages, not just ours: a Danish, Swedish or Russian message must not
be taken for Norwegian and keep the customer from their department's
language. Norwegian in either written form ("no", "nn", whose
probabilities are added) is answered in bokmål, as the portal does. A
short or mixed text whose probability for one of ours is below
``MIN_CONFIDENCE`` tells nothing, and the next message may. Accuracy and
cost are measured by ``bench/language.py``.
"""

from __future__ import annotations

import logging
import re
import threading

from maild.store import statements

log = logging.getLogger(__name__)

# Languages we write, from what the detector may answer.
_OURS = {"en": "en", "no": "nb", "nn": "nb"}
_LANGUAGES = ("en", "nb")
# Below this probability the guess is not kept: on the labelled messages of
# bench/language.py 0.6-0.7 get every one right; 0.8 loses short bokmål
# messages whose probability is shared with Danish and nynorsk.
MIN_CONFIDENCE = 0.7
# Fewer letters than this say too little ("Takk!", "OK").
MIN_LETTERS = 12
# The start of a message is enough to tell its language, and bounds the
# cost: the detector's time grows with the text (about 0.1 ms for 200
# characters, 0.3 ms for 2,000), and the runner pays it for every new customer.
MAX_CHARS = 600
# Quote removal reads no further than this: a reply's own words come first.
MAX_READ = 4000
_LETTER = re.compile(r"[^\W\d_]")
_URL = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")


_model = None
_loading = threading.Lock()


def _identifier():
    """The model, loaded once per process (about 0.6 s); a second caller waits for the first one's load."""
    global _model
    if _model is None:
        with _loading:
            if _model is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _model


def warm() -> None:
    """Load the model now, not on the first new customer's mail (the runner does so in a thread at start)."""
    _identifier()


def detect(text: str) -> str | None:
    """"en" or "nb" when the text is confidently one of them; None otherwise."""
    text = _URL.sub(" ", (text or "")[:MAX_CHARS])
    if len(_LETTER.findall(text)) < MIN_LETTERS:
        return None
    ours: dict[str, float] = {}
    for found, probability in _identifier().rank(text):
        if found in _OURS:
            ours[_OURS[found]] = ours.get(_OURS[found], 0.0) + probability
    best = max(ours, key=ours.get)
    return best if ours[best] >= MIN_CONFIDENCE else None


def message_text(subject: str, body: str) -> str:
    """What of a message is most likely the sender's own words: the subject and the start of the body, without "> " lines.

    Full quote removal (``maild/mail/quotes.py``) would cost twice the
    detection itself on every new customer's first message, and is not
    needed: a new message and a top-posted reply start with the sender's
    words, and the history under a bottom-posted one is our own mail, in the
    department's language, which is what an undetected sender gets anyway.
    """
    subject = re.sub(r"^\s*((re|sv|fw|fwd|vs|aw|wg)\s*:\s*)+", "", subject or "", flags=re.I)
    own = [line for line in (body or "")[:MAX_READ].splitlines() if not line.lstrip().startswith(">")]
    return subject + "\n" + "\n".join(own)


def learn_in_portal(config, person, subject: str, body: str, portal_language: str) -> str | None:
    """As ``learn``, for a request written in the portal: when its text tells
    nothing (a form's short answers), the language of the pages it was
    written on is theirs."""
    found = learn(config, person, subject, body)
    if found is None and not person.language and person.role == "customer" and portal_language in _LANGUAGES \
            and not any(person.email in dept.agents for dept in config.departments):
        person.language = portal_language
        person.save(only=[type(person).language])
        found = portal_language
    return found


def learn(config, person, subject: str, body: str) -> str | None:
    """Keep on a customer without a language the one their message is written in; returns it, or None.

    Staff (by role, or agents named in the configuration) are left alone:
    their mail is in their choice or their department's language. Saved in
    the caller's transaction.
    """
    if person.language or person.role != "customer":
        return None
    found = detect(message_text(subject, body))
    if found and any(person.email in dept.agents for dept in config.departments):
        return None
    if found:
        person.language = found
        # Once for every new customer: the UPDATE's SQL is written once (maild/store/statements.py).
        statements.update(type(person), person.id, {"language": found})
        log.debug("person %s writes %s", person.id, found)
    return found

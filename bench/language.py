"""How well and how fast ``maild/language.py`` tells a customer's language.

What it measures
----------------
* **Accuracy** on the replies of the shared corpus (``corpus/replies``, whose
  MANIFEST names the language of each reply's header): each reply's input
  goes through ``language.message_text`` (the start of its own words, as the
  runner reads it) and ``language.detect``. For each header language the table
  counts the answers "en", "nb" and none (too short, or not confidently ours).
  The header's language is not always the text's (many fixtures wrap English
  text in a foreign client's header, and the corpus's "Norwegian" replies are
  "Lorem" and "Thanx"), so a second set follows: helpdesk messages written
  for this bench in Norwegian (bokmål and nynorsk), English, Danish and
  Swedish, each labelled with the answer it must get.
* **Cost** per message: the median time of ``detect`` on each corpus text,
  beside the baseline of the same run, ``quotes.reply_text`` on the same
  texts (work the runner already does for every reply), and the one-off
  load of the model.

Usage::

    .venv/bin/python bench/language.py
    .venv/bin/python bench/language.py --corpus ../shared/corpus/replies
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from maild import language  # noqa: E402
from maild.mail import quotes  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "replies"

# (expected answer, text): what a helpdesk hears. None: not ours, must not be taken for ours.
LABELLED = [
    ("nb", "Hei!\n\nSkriveren i tredje etasje skriver bare ut tomme ark. Kan noen se på den?\n\nMvh\nKari"),
    ("nb", "Jeg får ikke logget inn på VPN hjemmefra etter at passordet ble byttet i går."),
    ("nb", "Hei, jeg søker om foreldrepermisjon fra 1. mars til 30. september. Hva må jeg fylle ut?"),
    ("nb", "Kan dere bestille en ny bærbar PC til Ola, som begynner hos oss på mandag?"),
    ("nb", "Takk for hjelpen, nå virker det igjen. Dere kan lukke saken."),
    ("nb", "Lønnsslippen for november mangler i portalen. Kan dere sjekke det?"),
    ("nb", "Skjermen flimrer når jeg kobler til dokkingstasjonen på kontoret."),
    ("nb", "Jeg har glemt passordet mitt til e-posten og trenger å få det tilbakestilt."),
    ("nb", "Eg treng hjelp med skrivaren, han skriv berre ut tomme ark."),  # nynorsk
    ("nb", "Kor lenge varer det før eg får svar på søknaden om permisjon?"),  # nynorsk
    ("en", "Hi, the printer on the third floor only prints blank pages. Could someone look at it?"),
    ("en", "I cannot log in to the VPN from home since my password was changed yesterday."),
    ("en", "Please order a new laptop for Ola, who starts with us on Monday."),
    ("en", "Thanks for the help, it works again. You can close the case."),
    ("en", "My payslip for November is missing from the portal. Could you check?"),
    (None, "Hej, jeg har brug for hjælp med min computer, den vil ikke starte efter opdateringen."),
    (None, "Hej! Jag kan inte logga in på datorn sedan i morse. Kan ni hjälpa mig?"),
    (None, "Hallo, mein Drucker druckt nur leere Seiten. Können Sie mir helfen?"),
    (None, "Takk!"),
    (None, "OK"),
]


def corpus_texts(directory: Path) -> list[tuple[str, str]]:
    """(header language, the reply's own text) for every case of the corpus."""
    manifest = json.loads((directory / "MANIFEST.json").read_text(encoding="utf-8"))
    out = []
    for case in manifest["cases"]:
        name = case["files"]["input"]
        raw = (directory / case["id"] / name).read_text(encoding="utf-8", errors="replace")
        out.append((case["language"], raw))
    return out


def main() -> int:
    """Print the accuracy tables and the cost per message."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()

    t0 = time.perf_counter()
    language.detect("Loading the model once.")
    load_ms = 1000 * (time.perf_counter() - t0)

    texts = corpus_texts(args.corpus)
    table = collections.defaultdict(collections.Counter)
    detect_us, baseline_us = [], []
    for header_language, raw in texts:
        own = language.message_text("", raw)
        t0 = time.perf_counter()
        found = language.detect(own)
        detect_us.append(1e6 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        quotes.reply_text(raw)
        baseline_us.append(1e6 * (time.perf_counter() - t0))
        table[header_language][found or "none"] += 1

    print(f"corpus: {len(texts)} replies from {args.corpus.name}/; answers by the language of each reply's header")
    print(f"{'header':>8} {'cases':>6} {'en':>5} {'nb':>5} {'none':>5}")
    for lang in sorted(table, key=lambda k: -sum(table[k].values())):
        row = table[lang]
        print(f"{lang:>8} {sum(row.values()):>6} {row['en']:>5} {row['nb']:>5} {row['none']:>5}")

    right = collections.Counter()
    wrong = []
    for expected, text in LABELLED:
        found = language.detect(text)
        key = expected or "other"
        right[key, found == expected] += 1
        if found != expected:
            wrong.append(f"  expected {expected}, got {found}: {text[:60]!r}")
    print("\nlabelled helpdesk messages: right / all")
    for key in ("nb", "en", "other"):
        total = right[key, True] + right[key, False]
        print(f"{key:>8} {right[key, True]:>3} / {total}")
    print("\n".join(wrong) if wrong else "  all right")

    print(f"\ncost per message (median over {len(texts)} corpus texts):")
    print(f"  detect            {statistics.median(detect_us):8.0f} µs  (p95 "
          f"{sorted(detect_us)[int(0.95 * len(detect_us))]:.0f} µs)")
    print(f"  baseline: quotes.reply_text on the same texts {statistics.median(baseline_us):8.0f} µs")
    print(f"  ratio detect / baseline: {statistics.median(detect_us) / statistics.median(baseline_us):.2f}")
    print(f"  model load, once per process: {load_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

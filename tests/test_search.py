"""Full-text search over cases (maild/search.py), on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import datetime
import importlib.util
import json
import random

import peewee
import pytest
from conftest import deliver
from mailfactory import make_mail

from maild import cases, faq, faqsearch, people, search, wordlist
from maild.store import db as store
from maild.store.models import Case, Entry

T0 = datetime.datetime(2026, 3, 1, 9, 0)


def _open(ctx, subject, body="", *, who="kari@example.org", department="helpdesk", minutes=0, copied=()):
    """Open a case as the runner would; ``minutes`` after T0 is its updated_at."""
    now = T0 + datetime.timedelta(minutes=minutes)
    with ctx.db.atomic():
        requester = people.find_or_create(who, now=now)
        cc = [people.find_or_create(a, now=now) for a in copied]
        case, _ = cases.open_case(ctx, department=ctx.config.department(department), requester=requester,
                                  subject=subject, body_text=body, now=now, copied=cc, acknowledge=False)
    return case


def _add(ctx, case, body, *, public=True, kind="message", who="kari@example.org", minutes=None):
    now = case.updated_at + datetime.timedelta(minutes=1) if minutes is None else \
        T0 + datetime.timedelta(minutes=minutes)
    with ctx.db.atomic():
        author = people.find_or_create(who, now=now)
        return cases.add_message(ctx, case, author=author, body_text=body, public=public, kind=kind,
                                 now=now, notify_agents=False)


def _ids(text, **kwargs):
    return search.search_cases(text, **kwargs)[1]


# ------------------------------------------------------------------ what matches


def test_subject_and_body_match(ctx):
    printer = _open(ctx, "Printer is broken", "The paper jams on floor 2.")
    vpn = _open(ctx, "VPN", "Cannot connect from home.", minutes=1)
    assert search.search_cases("printer") == (1, [printer.id])
    assert search.search_cases("jams") == (1, [printer.id])
    assert search.search_cases("HOME") == (1, [vpn.id])
    assert search.search_cases("toner") == (0, [])


def test_words_are_prefixes_and_all_must_match_somewhere_in_the_case(ctx):
    case = _open(ctx, "Printer is broken", "The paper jams.")
    _add(ctx, case, "Now the toner is empty as well.")
    office = _open(ctx, "Printers for the new office", "Please order two.", minutes=5)
    assert set(_ids("print")) == {case.id, office.id}
    # The words may come from different documents of one case: subject and a reply.
    assert _ids("print ton") == [case.id]
    assert _ids("printer order") == [office.id]
    assert _ids("printer toner order") == []


def test_norwegian_letters(ctx):
    case = _open(ctx, "Blåbærsyltetøy på kjøkkenet", "Ærlig talt, øl og ÅPNE dører.")
    assert _ids("blåbær") == [case.id]
    assert _ids("BLÅBÆRSYLTETØY") == [case.id]
    assert _ids("kjøk ærlig øl") == [case.id]
    assert _ids("åpne dør") == [case.id]
    # å, æ and ø are letters of their own, not a, ae and o with marks.
    assert _ids("bla") == []
    assert _ids("kjok") == []
    # A decomposed å (a + combining ring, as some mail clients send) is the same letter.
    assert _ids("bla\u030abær") == [case.id]


def test_words_are_split_on_anything_but_letters_and_digits(ctx):
    case = _open(ctx, "E-post fra kari@example.org", "Se SD-1234 og vpn_client.exe (v2.5).")
    for text in ("e post", "kari example", "sd 1234", "vpn client exe", "v2 5", "1234"):
        assert _ids(text) == [case.id], text


def test_compatibility_forms_match_alike_on_both_stores(ctx):
    # NFKC before either engine sees the text: PostgreSQL's parser drops "²"
    # and "½", FTS5 keeps them; both see "2" and "1 2".
    case = _open(ctx, "Kontor på 20 m² ﬁnnes", "½ time, del Ⅻ, 中文 og １２３")
    for text in ("m2", "m²", "½", "1 2", "fin", "ﬁnnes", "xii", "Ⅻ", "中文", "123", "１２３"):
        assert _ids(text) == [case.id], text


# ------------------------------------------------------------------ who sees what


def test_person_sees_only_their_cases(ctx):
    karis = _open(ctx, "Printer is broken", who="kari@example.org")
    olas = _open(ctx, "Printer is broken too", who="ola@example.org", minutes=1)
    copied = _open(ctx, "Printer on floor 3", who="per@example.org", copied=["kari@example.org"], minutes=2)
    kari = people.find("kari@example.org")
    ola = people.find("ola@example.org")
    total, ids = search.search_cases("printer", person=kari)
    assert total == 2 and set(ids) == {copied.id, karis.id}
    assert search.search_cases("printer", person=ola.id) == (1, [olas.id])
    assert search.search_cases("floor", person=ola) == (0, [])
    # Admins: no restriction.
    assert search.search_cases("printer")[0] == 3


def test_departments_limit_the_cases(ctx):
    helpdesk = _open(ctx, "Laptop is slow", department="helpdesk")
    hr = _open(ctx, "Laptop for the new hire", department="hr", minutes=1)
    assert _ids("laptop", departments=["helpdesk"]) == [helpdesk.id]
    assert _ids("laptop", departments=("hr",)) == [hr.id]
    assert set(_ids("laptop", departments=["hr", "helpdesk"])) == {helpdesk.id, hr.id}
    assert search.search_cases("laptop", departments=[]) == (0, [])
    assert search.search_cases("laptop", departments=["sales"]) == (0, [])
    kari = people.find("kari@example.org")
    assert _ids("laptop", person=kari, departments=["hr"]) == [hr.id]


def test_internal_notes_never_match_a_customer_search(ctx):
    case = _open(ctx, "Printer is broken", "It jams.")
    _add(ctx, case, "Customer is grumpy; replace the fuser.", public=False, kind="note",
         who="agent@example.test")
    kari = people.find("kari@example.org")
    for kwargs in ({}, {"person": kari}, {"departments": ["helpdesk"]}):
        assert search.search_cases("grumpy", **kwargs) == (0, [])
        # Not even as the missing half of a match: "printer" alone would find the case.
        assert search.search_cases("printer grumpy", **kwargs) == (0, [])
        assert search.search_cases("grumpy", public_only=False, **kwargs) == (1, [case.id])
        assert search.search_cases("printer fuser", public_only=False, **kwargs) == (1, [case.id])


# ------------------------------------------------------------------ any text is a search


HOSTILE = [
    '"', '""', '"printer', 'printer"', "'", "*", "printer*", "*printer", "-", "-printer", "printer -toner",
    "NEAR(", "NEAR(printer broken)", "NEAR", "AND OR", "AND", "OR NOT", "printer AND", "NOT printer",
    "^", "^printer", "(", ")", "((printer", "printer)", "{printer}", "[x]", "col:printer", "words:printer",
    "printer:*", "!printer", "printer & | ! <->", "\\", "%", "_", "a_b", "'; DROP TABLE entry; --",
    "\x00", "\u200b", "🙂 printer 🙂", "–—…", " \t\n ", "", "+", "::", "@@", "$$",
    "printer " * 5000, "x" * 100_000, "æ" * 300, " ".join(f"w{i}" for i in range(1000)),
]


@pytest.mark.parametrize("public_only", [True, False])
def test_hostile_text_never_raises(ctx, public_only):
    case = _open(ctx, "Printer is broken", "Toner and paper.")
    kari = people.find("kari@example.org")
    for text in HOSTILE:
        for kwargs in ({}, {"person": kari}, {"departments": ["helpdesk", "hr"]}):
            total, ids = search.search_cases(text, public_only=public_only, **kwargs)
            assert total == len(ids) and set(ids) <= {case.id}, text
    # Operators are only words, or nothing: these still find the case.
    for text in ('"printer', "printer*", "-printer", "printer AND", "(printer)",
                 "printer:*", "🙂 printer 🙂", "printer " * 5000):
        assert _ids(text) == [case.id], text
    for text in ("", "   ", "*", '"', "^", "-", "()", "\x00"):
        assert search.search_cases(text) == (0, [])


def test_random_text_never_raises(ctx):
    pieces = ["printer", "x", "1e5", "0x1f", "1.5e-3", "½", "²", "Ⅻ", "١٢٣", "ǅ", "ß", "İ", "ﬁ", "中文", "🙂",
              "æøå", "ÆØÅ", '"', "'", "*", "-", "^", ":", "(", ")", "&", "|", "!", "<->", "\\", "%s", "?", "{", "}",
              "NEAR", "AND", "OR", "NOT", " ", "\t", "\u0301", "\ufeff", "\U0001d7d8", "a\u0308"]
    _open(ctx, "Printer 1e5 ½ ² Ⅻ ١٢٣ ǅ ß İ ﬁ 中文 æøå x", "0x1f 1.5e-3")
    rnd = random.Random(7)
    for _ in range(150):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 12)))
        total, ids = search.search_cases(text, public_only=rnd.random() < 0.5)
        assert total == len(ids) <= 1, text


def test_query_words():
    assert search.query_words("NEAR(Printer* -toner) \"AND\"") == ["near", "printer", "toner", "and"]
    assert search.query_words("a a A b") == ["a", "b"]
    assert len(search.query_words(" ".join(f"w{i}" for i in range(100)))) == search.MAX_TERMS
    assert search.query_words("x" * 500) == ["x" * search.MAX_WORD]
    assert search.words("Straße ÅSE") == ["strasse", "åse"]
    assert search.document("--") == ""


# ------------------------------------------------------------------ order and pages


def test_newest_activity_first(ctx):
    # Cases are listed as My requests and the queue are: a subject hit does
    # not outrank a newer case's body hit.
    in_body = _open(ctx, "Something else", "The scanner is noisy.", minutes=30)
    in_subject = _open(ctx, "Scanner", "It is noisy.", minutes=0)
    assert _ids("scanner") == [in_body.id, in_subject.id]
    same = [_open(ctx, "Keyboard", "", minutes=m) for m in (10, 50, 20)]
    assert _ids("keyboard") == [same[1].id, same[2].id, same[0].id]
    _add(ctx, same[0], "Some other words", minutes=90)
    assert _ids("keyboard") == [same[0].id, same[1].id, same[2].id]


def test_pages_and_total(ctx):
    opened = [_open(ctx, f"Monitor number {i}", "", minutes=i) for i in range(7)]
    newest_first = [c.id for c in reversed(opened)]
    assert search.search_cases("monitor", limit=3) == (7, newest_first[:3])
    assert search.search_cases("monitor", limit=3, offset=3) == (7, newest_first[3:6])
    assert search.search_cases("monitor", limit=3, offset=6) == (7, newest_first[6:])
    # Past the end, the total is still right.
    assert search.search_cases("monitor", limit=3, offset=9) == (7, [])
    assert search.search_cases("monitor", limit=0) == (7, [])
    assert search.search_cases("monitor number 4") == (1, [opened[4].id])


def test_an_agents_pages_say_whether_more_follow_in_the_order_of_the_counted_search(ctx):
    # Two tiers: "skriver" as a word (or a word's start), then only inside
    # longer words; newest first within each. The pages walk both.
    words = [_open(ctx, f"Skriver {i}", "", minutes=i) for i in range(5)]
    parts = [_open(ctx, f"Fargeskriver {i}", "", minutes=10 + i) for i in range(4)]
    _open(ctx, "Skriver hos HR", "", department="hr", minutes=3)
    note = _open(ctx, "Tastatur", "", minutes=30)
    _add(ctx, note, "Intern: skriveren er byttet.", public=False, kind="note", who="agent@example.test")
    expected = ([note.id] + [c.id for c in reversed(words)] + [c.id for c in reversed(parts)])
    assert _ids("skriver", departments=["helpdesk"], public_only=False) == expected
    pages = []
    for offset in range(0, 12, 3):
        pages.append(search.search_page("skriver", departments=["helpdesk"], limit=3, offset=offset))
    assert pages == [(expected[0:3], True), (expected[3:6], True), (expected[6:9], True), (expected[9:], False)]
    # A page ending where the words end, a page past the end, no page.
    assert search.search_page("skriver", departments=["helpdesk"], limit=6) == (expected[:6], True)
    assert search.search_page("skriver", departments=["helpdesk"], limit=10) == (expected, False)
    assert search.search_page("skriver", departments=["helpdesk"], limit=3, offset=20) == ([], False)
    assert search.search_page("skriver", departments=["helpdesk"], limit=0) == ([], False)
    # Notes count only when asked to; nothing outside the departments.
    assert search.search_page("skriver", departments=["helpdesk"], public_only=True)[0] == expected[1:]
    assert search.search_page("skriver", departments=[])[0] == []
    assert len(search.search_page("skriver")[0]) == len(expected) + 1
    # Two words, one of them only inside a longer word in some cases.
    assert search.search_page("skriver 3", departments=["helpdesk"]) == ([words[3].id, parts[3].id], False)


# ------------------------------------------------------------------ keeping the index


def test_the_runner_indexes_new_mail_and_replies(ctx):
    first = deliver(ctx, make_mail(subject="Printer is broken", body="It jams every morning.\n"))
    deliver(ctx, make_mail(subject=f"Re: [SD#{first.case_id}] Printer is broken", body="Toner is low too.\n"))
    assert search.search_cases("jams toner") == (1, [first.case_id])


def test_empty_text_is_not_indexed_and_subjects_are_reindexed(ctx):
    case = _open(ctx, "Old words", "")
    entry = _add(ctx, case, "  -- \n")
    search.index_entry(entry)  # a second call, and of nothing: still a no-op
    assert _count_docs(ctx) == 1  # the subject only
    Case.update(subject="New title").where(Case.id == case.id).execute()
    case.subject = "New title"
    search.index_case(case)
    assert _ids("old") == [] and _ids("new title") == [case.id]
    entry.body_text = "Corrected text"
    search.index_entry(entry)  # re-indexing an entry replaces its words
    assert _ids("corrected") == [case.id] and _count_docs(ctx) == 2


def test_a_huge_body_is_indexed_up_to_its_limit_without_error(ctx):
    # Distinct two-letter CJK words: the most lexemes per byte PostgreSQL's
    # 1 MB tsvector limit could meet; past it the message itself would fail.
    rnd = random.Random(3)
    body = " ".join(chr(0x4E00 + rnd.randrange(20000)) + chr(0x4E00 + rnd.randrange(20000))
                    for _ in range(400_000))
    first, beyond = body.split(" ", 1)[0], body[search.MAX_TEXT + 10:].split(" ")[1]
    case = _open(ctx, "Huge", body + " finalword")
    assert _ids(first) == [case.id]
    assert _ids("finalword") == []
    assert beyond not in search.document(body)


def _count_docs(ctx) -> int:
    return ctx.db.execute_sql(f"SELECT count(*) FROM {search.TABLE}").fetchone()[0]


def _migration(name="0003_search"):
    spec = importlib.util.spec_from_file_location(f"m{name[:4]}", f"{store.MIGRATIONS_DIR}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _roll_back(ctx, *names):
    """Undo migrations, newest first, as if the store had never had them."""
    for name in names:
        _migration(name).down(None, ctx.db)
        ctx.db.execute_sql(f"DELETE FROM schema_migration WHERE name = '{name}'")


def test_migration_backfills_the_cases_already_stored(ctx):
    old = _open(ctx, "Printer is broken", "It jams.")
    _add(ctx, old, "Internal: fuser.", public=False, kind="note", who="agent@example.test")
    other = _open(ctx, "Scanner", "", minutes=5)
    cases.event(old, "Closed.", T0)
    # The store as it was before 0003 (so before 0013, which builds on it):
    # no index, and more entries written by code that did not index.
    _roll_back(ctx, "0016_word_list", "0013_compound_search", "0003_search")
    try:
        Entry.create(case=other, kind="message", body_text="Blåbær on the glass", created_at=T0)
        Entry.create(case=other, kind="message", body_text="", created_at=T0)
    finally:
        # migrate() as `sensedesk init` runs it; always, so the shared
        # PostgreSQL database keeps its table for the tests after this one.
        applied = store.migrate(ctx.db)
    assert applied == ["0003_search", "0013_compound_search", "0016_word_list"]
    assert _ids("printer jams") == [old.id]
    assert _ids("blåbær scanner") == [other.id]
    assert _ids("fuser") == [] and _ids("fuser", public_only=False) == [old.id]
    assert _ids("closed") == []  # events are not indexed
    assert _count_docs(ctx) == 5
    # Running the backfill again over a full index changes nothing.
    _migration().backfill(ctx.db)
    assert _count_docs(ctx) == 5 and _ids("printer") == [old.id]


def test_a_deleted_case_takes_its_words_along(ctx):
    gone = _open(ctx, "Printer is broken", "It jams.")
    _add(ctx, gone, "Fuser.", public=False, kind="note", who="agent@example.test")
    kept = _open(ctx, "Printer on floor 3", "It jams too.", minutes=1)
    with ctx.db.atomic():
        gone.delete_instance(recursive=True)
    assert _count_docs(ctx) == 2
    assert search.search_cases("printer jams") == (1, [kept.id])


# ------------------------------------------------------------------ parts of compound words


def _article(ctx, title, body="", **kwargs):
    with ctx.db.atomic():
        return faq.save(ctx.config, title=title, body=body, **{"published": True, **kwargs})


def _searches(ctx):
    """A customer's search, an agent's and an admin's, each as a function of the text to its case ids."""
    kari = people.find("kari@example.org")
    return {
        "customer": lambda text: _ids(text, person=kari),
        "agent": lambda text: _ids(text, departments=["helpdesk", "hr"], public_only=False),
        "agent's page": lambda text: search.search_page(text, departments=["helpdesk", "hr"], limit=50)[0],
        "admin": lambda text: _ids(text, public_only=False),
    }


def test_a_part_of_a_compound_word_finds_it(ctx):
    leave = _open(ctx, "Søknad om foreldrepermisjon", "Fra mai til august.", department="hr")
    printer = _open(ctx, "Ny fargeskriver", "Den står i andre etasje.", minutes=1)
    for who, search_as in _searches(ctx).items():
        assert search_as("permisjon") == [leave.id], who
        assert search_as("skriver") == [printer.id], who
        assert search_as("PERMISJON foreldre") == [leave.id], who  # a part and a start, any order
        assert search_as("tasje farge") == [printer.id], who  # inside any word, not only compounds
        assert search_as("skriver permisjon") == [], who  # every word must still match
    leave_article = _article(ctx, "Foreldrepermisjon", "Søk i portalen.", language="nb")
    printer_article = _article(ctx, "Skrivere", "Fargeskriveren skriver ut i farger.")
    assert faqsearch.search_articles("permisjon") == (1, [leave_article.id])
    assert faqsearch.search_articles("Skriver")[0] == 1
    assert faqsearch.search_articles("riveren ut") == (1, [printer_article.id])


def test_words_found_as_words_rank_before_parts_of_compounds(ctx):
    # The compound is in a subject, which counts double, and is the newest
    # case: on score and time alone it would come first.
    compound = _open(ctx, "Fargeskriver virker ikke", "Tomt for papir.", minutes=50)
    start = _open(ctx, "Utskrift", "Skriveren har ikke papir.", minutes=0)
    whole = _open(ctx, "Hjelp", "Hvilken skriver skal jeg bruke? Papir finnes.", minutes=10)
    for who, search_as in _searches(ctx).items():
        found = search_as("skriver")
        assert set(found[:2]) == {start.id, whole.id} and found[2] == compound.id, who
    # Two words: "toner" as the whole subject scores far above both words
    # deep in a long reply, yet the case holding both as words comes first.
    strong = _open(ctx, "Toner", "Laserskriveren.", minutes=90)
    weak = _open(ctx, "Spørsmål", "Vi lurer på mye: " + "hvor, når og hvordan, " * 30 + "og om skriver og toner.",
                 minutes=0)
    for who, search_as in _searches(ctx).items():
        assert search_as("skriver toner") == [weak.id, strong.id], who
    # Articles: the reader's language first, then words before parts.
    part = _article(ctx, "Foreldrepermisjon", "Slik søker du.", language="nb")
    word = _article(ctx, "Lønn", "Permisjon uten lønn søkes i portalen.", language="nb")
    english = _article(ctx, "Parental leave", "Apply for permisjon in the portal.", language="en")
    assert faqsearch.search_articles("permisjon", language="nb")[1] == [word.id, part.id, english.id]
    assert faqsearch.search_articles("permisjon", language="en")[1] == [english.id, word.id, part.id]
    strong = _article(ctx, "Toner", "Laserskriveren er tom.")
    weak = _article(ctx, "Spørsmål",
                    "Vi lurer på mye: " + "hvor, når og hvordan, " * 30 + "og om skriver og toner.")
    assert faqsearch.search_articles("skriver toner")[1] == [weak.id, strong.id]


def test_words_too_short_for_a_trigram_stay_prefixes(ctx):
    cable = _open(ctx, "Skjermkabel", "")
    tv = _open(ctx, "TV i møterommet", "", minutes=1)
    assert _ids("tv") == [tv.id]
    assert _ids("ka") == [] and _ids("ab") == []  # inside a word: too short to look for there
    assert _ids("abe") == [cable.id]  # three letters: a trigram
    assert _ids("kabel sk") == [cable.id]  # a part, and a short word as the start of one
    assert _ids("kabel ka") == []
    _article(ctx, "Skjermkabel", "Koble til i porten merket HDMI.")
    assert faqsearch.search_articles("ka") == (0, []) and faqsearch.search_articles("abe")[0] == 1


def _listed(ctx, *found) -> list[str]:
    """Which of these words the word list holds, each as often as it holds it."""
    mark = "?" if store.is_sqlite(ctx.db) else "%s"
    sql = f"SELECT word FROM {wordlist.WORD_TABLE} WHERE word IN ({', '.join([mark] * len(found))}) ORDER BY word"
    return [row[0] for row in ctx.db.execute_sql(sql, list(found)).fetchall()]


def test_parts_of_compounds_keep_to_a_customers_own_cases_and_public_entries(ctx):
    karis = _open(ctx, "Fargeskriver", "", who="kari@example.org")
    olas = _open(ctx, "Laserskriver", "", who="ola@example.org", minutes=1)
    note = _add(ctx, karis, "Hun har foreldrepermisjon fra mai.", public=False, kind="note",
                who="agent@example.test")
    kari, ola = people.find("kari@example.org"), people.find("ola@example.org")
    assert search.search_cases("skriver", person=kari) == (1, [karis.id])
    assert search.search_cases("skriver", person=ola) == (1, [olas.id])
    for kwargs in ({}, {"person": kari}, {"departments": ["helpdesk"]}):
        assert search.search_cases("permisjon", **kwargs) == (0, [])
        assert search.search_cases("skriver permisjon", **kwargs) == (0, [])  # not even as half a match
        assert search.search_cases("permisjon", public_only=False, **kwargs) == (1, [karis.id])
    assert search.search_cases("permisjon", person=ola, public_only=False) == (0, [])
    # A note made public is found as public, once; hidden again, it is not.
    note.public = True
    search.index_entry(note)
    assert search.search_cases("permisjon", person=kari) == (1, [karis.id])
    note.public = False
    search.index_entry(note)
    assert search.search_cases("permisjon", person=kari) == (0, [])
    # Each word once in the list, however often it was indexed; short words never.
    assert _listed(ctx, "foreldrepermisjon", "fargeskriver", "hun", "har", "fra", "mai") == \
        ["fargeskriver", "foreldrepermisjon", "fra", "har", "hun", "mai"]
    assert _listed(ctx, "i", "om") == []


def test_a_deleted_case_or_article_is_not_found_by_its_words_or_parts(ctx):
    gone = _open(ctx, "Fargeskriver", "Foreldrepermisjon.")
    _add(ctx, gone, "Laserskriveren også.", public=False, kind="note", who="agent@example.test")
    kept = _open(ctx, "Laserskriver", "", minutes=1)
    with ctx.db.atomic():
        gone.delete_instance(recursive=True)
    assert _ids("skriver", public_only=False) == [kept.id]
    assert _ids("permisjon", public_only=False) == [] and _ids("farge", public_only=False) == []
    article = _article(ctx, "Foreldrepermisjon", "Søk i portalen.")
    assert faqsearch.search_articles("permisjon", published_only=False) == (1, [article.id])
    with ctx.db.atomic():
        faq.delete(article)
    assert faqsearch.search_articles("permisjon", published_only=False) == (0, [])


def test_a_part_in_many_words_looks_up_the_shortest(ctx, monkeypatch):
    monkeypatch.setattr(wordlist, "MAX_PARTS", 3)
    # Longest first, so the list's order is not the order written.
    for n, first in enumerate(["mellomstor", "stor", "liten", "blå", "rød"]):
        _open(ctx, f"{first}skriverne {first}skriveren {first}skriver", "", minutes=n)
    # Each word that starts with a shorter one is found through it.
    assert wordlist.parts(ctx.db, "skriver") == ["blåskriver", "rødskriver", "storskriver"]
    assert wordlist.parts(ctx.db, "skriv") == ["blåskriver", "rødskriver", "storskriver"]
    assert wordlist.parts(ctx.db, "sk") == []  # too short for a trigram
    assert wordlist.parts(ctx.db, "blåskriver") == []  # only words that hold it after their start
    assert len(_ids("skriver")) == 3


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgresql_adds_a_new_word_in_two_transactions_without_waiting(ctx):
    # Two daemons may index the same new word at once: the list has no
    # unique constraint, so neither waits for the other's commit.
    other = store.connect(ctx.config["database"]["url"])
    try:
        with ctx.db.atomic():
            wordlist.remember_words(ctx.db, "regnbueskriver")
            with other.atomic():
                other.execute_sql("SET LOCAL lock_timeout = '2s'")
                wordlist.remember_words(other, "regnbueskriver")
        assert _listed(ctx, "regnbueskriver") == ["regnbueskriver"] * 2
        assert wordlist.parts(ctx.db, "skriver") == ["regnbueskriver"]  # looked up once
    finally:
        store.shutdown(other)


def test_the_word_list_migration_fills_the_list_from_the_word_indexes(ctx):
    case = _open(ctx, "Fargeskriver", "Foreldrepermisjon fra mai.")
    _add(ctx, case, "Laserskriveren står i kjelleren.", public=False, kind="note", who="agent@example.test")
    other = _open(ctx, "Skjermkabel", "", minutes=1)
    article = _article(ctx, "Hjemmekontor", "Bruk bedriftsnettet.", tags=["fjernarbeid"])
    # The store as it was before 0013: cases and articles with only their word index.
    _roll_back(ctx, "0016_word_list", "0013_compound_search")
    assert store.migrate(ctx.db) == ["0013_compound_search", "0016_word_list"]
    assert _ids("skriver") == [case.id] and _ids("permisjon") == [case.id] and _ids("kabel") == [other.id]
    assert _ids("kjeller") == [] and _ids("kjeller", public_only=False) == [case.id]
    for text in ("kontor", "nettet", "arbeid"):
        assert faqsearch.search_articles(text) == (1, [article.id]), text
    assert _listed(ctx, "fargeskriver", "kjelleren", "skjermkabel", "hjemmekontor", "fjernarbeid", "i") == \
        ["fargeskriver", "fjernarbeid", "hjemmekontor", "kjelleren", "skjermkabel"]
    # Filling it again over a full list adds nothing.
    assert _migration("0016_word_list").backfill(ctx.db) == 0
    assert _listed(ctx, "fargeskriver") == ["fargeskriver"]


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgresql_uses_a_pg_trgm_made_beforehand_in_another_schema(ctx):
    # As an administrator may have made it for a database owner who may not.
    _roll_back(ctx, "0016_word_list", "0013_compound_search")
    try:
        ctx.db.execute_sql("DROP EXTENSION pg_trgm")
        ctx.db.execute_sql("CREATE SCHEMA trgm")
        ctx.db.execute_sql("CREATE EXTENSION pg_trgm SCHEMA trgm")
        assert store.migrate(ctx.db) == ["0013_compound_search", "0016_word_list"]
        case = _open(ctx, "Fargeskriver", "")
        assert _ids("skriver") == [case.id]
        # The search's substring test is one the index serves.
        with ctx.db.atomic():
            # A few rows: a scan of the B-tree (unordered) would win; the
            # list of a real store is 100,000 words and more.
            for kind in ("seqscan", "indexscan", "indexonlyscan"):
                ctx.db.execute_sql(f"SET LOCAL enable_{kind} = off")
            plan = ctx.db.execute_sql(f"EXPLAIN SELECT word FROM {wordlist.WORD_TABLE} "
                                      f"WHERE word LIKE '%%skriver%%'").fetchall()
        assert "search_word_grams" in " ".join(row[0] for row in plan)
    finally:
        # The extension where a fresh store makes it, for the tests after this one.
        _roll_back(ctx, "0016_word_list", "0013_compound_search")
        ctx.db.execute_sql("DROP EXTENSION IF EXISTS pg_trgm")
        ctx.db.execute_sql("DROP SCHEMA IF EXISTS trgm")
        store.migrate(ctx.db)


# ------------------------------------------------------------------ words the runner knows are listed


def _lookups(ctx, *texts) -> list[list[str]]:
    """Remember ``texts`` in one transaction each; for each, the words its word-list statements sent to the store."""
    sent = []
    execute_sql = ctx.db.execute_sql

    def watched(sql, params=None, *args, **kwargs):
        if sql.startswith(("INSERT OR IGNORE INTO " + wordlist.WORD_TABLE, "INSERT INTO " + wordlist.WORD_TABLE)):
            words = params[0]
            sent[-1].extend(json.loads(words) if isinstance(words, str) else words)
        return execute_sql(sql, params, *args, **kwargs)

    ctx.db.execute_sql = watched
    try:
        for text in texts:
            sent.append([])
            with ctx.db.atomic():
                wordlist.remember_words(ctx.db, text)
    finally:
        del ctx.db.execute_sql
    return [sorted(words) for words in sent]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_words_known_to_be_listed_are_not_looked_up_again(ctx):
    added, found, known = _lookups(ctx, "blekkpatron fargeskriver", "blekkpatron fargeskriver",
                                   "fargeskriver blekkpatron")
    assert added == ["blekkpatron", "fargeskriver"]  # not listed: added
    assert found == ["blekkpatron", "fargeskriver"]  # found listed, in a committed transaction
    assert known == []  # known now: no statement at all
    assert _lookups(ctx, "fargeskriver tonerkassett") == [["tonerkassett"]]  # only the new word is asked for
    assert _listed(ctx, "blekkpatron") == ["blekkpatron"]


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_word_another_daemon_forgets_while_a_transaction_runs_is_added_again(ctx):
    """On PostgreSQL another daemon's retention or erasure may take a word off
    the list after this transaction began: the transaction must not take it
    as listed (a cache of listed words would), or the document it indexes
    would hold a word the list lacks."""
    _lookups(ctx, "kaffetrakter", "kaffetrakter")
    other = store.open_database(ctx.config["database"]["url"])
    try:
        with ctx.db.atomic():
            wordlist.remember_words(ctx.db, "espressomaskin")  # the transaction has looked at the list
            with other.atomic():
                assert search.forget_words(other, ["kaffetrakter"]) == 1
            wordlist.remember_words(ctx.db, "kaffetrakter")
    finally:
        store.shutdown(other)
    assert _listed(ctx, "kaffetrakter") == ["kaffetrakter"]
    assert wordlist.parts(ctx.db, "trakter") == ["kaffetrakter"]


class _Undone(Exception):
    pass


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("undone", ["transaction", "savepoint"])
def test_a_word_added_by_a_transaction_or_savepoint_that_rolled_back_is_added_again(ctx, undone):
    """A word found listed only because this transaction added it is not known:
    the savepoint that added it (the runner's for each message) may roll back."""
    try:
        with ctx.db.atomic():
            if undone == "savepoint":
                with pytest.raises(_Undone), ctx.db.atomic():
                    wordlist.remember_words(ctx.db, "sjakkbrett")
                    with ctx.db.atomic():
                        wordlist.remember_words(ctx.db, "sjakkbrett")  # found, as its own savepoint added it
                    raise _Undone
            else:
                wordlist.remember_words(ctx.db, "sjakkbrett")
                wordlist.remember_words(ctx.db, "sjakkbrett")
                raise _Undone
    except _Undone:
        pass
    assert _listed(ctx, "sjakkbrett") == []
    _lookups(ctx, "sjakkbrett", "sjakkbrett")
    assert _listed(ctx, "sjakkbrett") == ["sjakkbrett"]
    assert wordlist.parts(ctx.db, "brett") == ["sjakkbrett"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_word_taken_off_the_list_by_another_process_is_added_again(ctx):
    """Erasure or retention (the command line, the portal) takes words off the
    list while the runner knows them: its next transaction sees that and asks again."""
    _lookups(ctx, "kaffetrakter", "kaffetrakter")
    assert _lookups(ctx, "kaffetrakter") == [[]]  # known
    other = store.open_database(ctx.config["database"]["url"])
    try:
        with other.atomic():
            assert search.forget_words(other, ["kaffetrakter"]) == 1
    finally:
        store.shutdown(other)
    assert _listed(ctx, "kaffetrakter") == []
    assert _lookups(ctx, "kaffetrakter") == [["kaffetrakter"]]
    assert _listed(ctx, "kaffetrakter") == ["kaffetrakter"]
    assert wordlist.parts(ctx.db, "trakter") == ["kaffetrakter"]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_close_refused_inside_a_transaction_leaves_it_as_it_was(ctx):
    """The store refuses to close while a transaction is open; what the
    transaction added to the word list is still its own, and still undone
    with its savepoint."""
    with ctx.db.atomic():
        with pytest.raises(_Undone), ctx.db.atomic():
            wordlist.remember_words(ctx.db, "vaffeljern")
            with pytest.raises(peewee.OperationalError):
                ctx.db.close()
            wordlist.remember_words(ctx.db, "vaffeljern")  # found, as this savepoint added it
            raise _Undone
    assert _listed(ctx, "vaffeljern") == []
    _lookups(ctx, "vaffeljern")
    assert _listed(ctx, "vaffeljern") == ["vaffeljern"]

"""Full-text search over cases: words, and parts of compound words, on SQLite and PostgreSQL.

Cases: one table, ``search_doc``, holds one document per case subject and one per
entry body, each tied to its case and to its entry's ``public`` flag:

* PostgreSQL: ``(id, case_id, public, document tsvector)``, a GIN index on
  ``document`` and a B-tree on ``case_id``, which is a foreign key to ``case``
  (ON DELETE CASCADE). ``id`` is the entry id, or minus the case id for the
  subject. Only the tsvector is kept: the text lives in ``entry``.
* SQLite: an FTS5 table with one column, ``words``, whose rowid carries the
  rest: ``case_id << 33 | entry_id << 1 | public`` (entry_id 0 for the
  subject). Case and visibility are then read from each hit's rowid, not
  from FTS5's content table: with 30,000 cases (135,000 documents) a search
  matching most of them took 0.2 s instead of 0.4 s, a customer's 24 ms
  instead of 97 ms. A trigger drops a deleted case's documents, as the
  foreign key does on PostgreSQL.

Both stores are fed the same words: Python splits the text into runs of
letters and digits (NFKC, so "ﬁ", "²" and a decomposed "å" are "fi", "2"
and "å"; case-folded) and hands them over joined by spaces.
The FTS5 ``unicode61`` tokenizer (without diacritic folding) and PostgreSQL's
``simple`` configuration then each see one token per word, so "blåbær",
"Æ" or "e-post" behave alike on both, no dictionary stems Norwegian as
English, and a query word can never be read as query syntax: it only ever
reaches the engine as a quoted FTS5 string, a ``word:*`` tsquery operand or
a ``%word%`` LIKE pattern (a word has no ``%``, ``_`` or ``\\``).

Parts of compound words ("skriver" finding "fargeskriver") are found
through the word list, ``search_word`` (``maild/wordlist.py``): a query
word of ``wordlist.MIN_PART`` or more characters is looked up there first,
and the longer words that hold it other than at their start are then
looked up in the word index, as word starts, beside the query word itself.

A case matches when every query word occurs in one of its documents the
searcher may see -- as a word start, or as part of a longer word -- not
necessarily all in the same one, so "printer toner" finds a case whose
subject says printer and whose reply says toner. Cases holding every query
word as a word (or a word's start) come first, then those where a word was
found only inside a longer one -- so a case about a "skriver" comes before
one about a "fargeskriver" -- each group by the latest activity, newest
first, as the customer's list and the agents' queue are
(SPEC: "newest activity first"; RT, Zammad and FreeScout list search
results the same way). Cases are not ranked by bm25/ts_rank: ranking every
match of a common word (7,500 cases for "printer" at 100,000) cost an
agent's search 14 of its 25 ms. A customer's search is confined to their
own cases inside the index query (Roundup searches everything, then
filters; docs/architecture.md, speed), and an internal note never counts
for ``public_only``, so its words cannot even reveal that a case matches.

Events ("Closed.", "Reopened by a reply.") are our own words, not indexed.

FAQ articles are searched with the same words and word list
(``maild/faqsearch.py``).

Speed (bench/portal.py: 100,000 cases, 500,000 messages, medians over HTTP
on a 2-core machine, a static file 2.2-2.6 ms in the same run), with the
trigram index of every document and bm25 ranking before, and the word list
and newest-first after: on SQLite an agent's search for "printer" (7,500
matching cases) 55 -> 22-24 ms (with the queue's tab counts, which the search
page does not show, no longer made), a customer's over their 500 cases 17
-> 8 ms; on PostgreSQL a customer's 15 -> 10-19 ms (with the plan PostgreSQL
picks), and an agent's 69 -> 45 ms while still counted, 9 ms as
``search_page`` pages it (its query 1-3 ms for common words; over 150 words
picked at random from the word list, median 2.9 ms, 95th percentile 7 ms,
at most 38 ms for a word common only in old cases). Indexing: ingest
(bench/ingest.py, SQLite) went from 165 to 187 messages a second, the
runner's CPU from 4.9 to 4.3 ms a message.
"""

from __future__ import annotations

import re
import unicodedata

from maild import wordlist
from maild.store.db import is_sqlite
from maild.store.models import database

TABLE = "search_doc"

# Query words beyond this many are ignored: each costs an index lookup, and
# a pasted paragraph should not turn into a hundred-way intersection.
MAX_TERMS = 8
# Longer runs (base64, hashes) are cut here, in documents and queries alike.
MAX_WORD = 80
# Characters of one text that are indexed. PostgreSQL refuses a tsvector over
# 1 MB with an error, which would fail the message; the start of a long mail
# is what people remember of it.
MAX_TEXT = 100_000
# SQLite rowid layout (see above): 30 bits of case id, 32 of entry id, 1 of public.
CASE_SHIFT = 33
MAX_CASE_ID = (1 << 30) - 1
MAX_ENTRY_ID = (1 << 32) - 1

_WORD = re.compile(r"[^\W_]+")

_SQLITE_REPLACE = f"INSERT OR REPLACE INTO {TABLE} (rowid, words) VALUES (?, ?)"
_SQLITE_DELETE = f"DELETE FROM {TABLE} WHERE rowid = ?"
_PG_UPSERT = (f"INSERT INTO {TABLE} (id, case_id, public, document) VALUES (%s, %s, %s, to_tsvector('simple', %s)) "
              "ON CONFLICT (id) DO UPDATE SET case_id = EXCLUDED.case_id, public = EXCLUDED.public, "
              "document = EXCLUDED.document")
_PG_DELETE = f"DELETE FROM {TABLE} WHERE id = %s"
_SQL: dict = {}


def words(text: str) -> list[str]:
    """The words of ``text`` as the index holds them: letters and digits, NFKC, case-folded, cut short."""
    text = unicodedata.normalize("NFKC", text[:MAX_TEXT]).casefold()
    return [w[:MAX_WORD] for w in _WORD.findall(text)]


def document(text: str) -> str:
    """The text handed to the index for ``text``: its words joined by spaces ("" when it has none)."""
    return " ".join(words(text))


def query_words(text: str) -> list[str]:
    """The distinct words of a search, in the order typed, at most ``MAX_TERMS`` of them."""
    out: list[str] = []
    text = unicodedata.normalize("NFKC", text[:MAX_TEXT]).casefold()
    for match in _WORD.finditer(text):
        word = match.group()[:MAX_WORD]
        if word not in out:
            out.append(word)
            if len(out) == MAX_TERMS:
                break
    return out


def sqlite_rowid(case_id: int, entry_id: int, public: bool) -> int:
    """The FTS5 rowid of a document: an entry's (``entry_id`` > 0) or a case subject's (``entry_id`` 0)."""
    if not (0 < case_id <= MAX_CASE_ID and 0 <= entry_id <= MAX_ENTRY_ID):
        raise ValueError(f"case {case_id}, entry {entry_id}: beyond the search index's rowid layout")
    return case_id << CASE_SHIFT | entry_id << 1 | bool(public)


def _db():
    return getattr(database, "obj", None) or database


def index_entry(entry) -> None:
    """Index an entry's body text with its ``public`` flag; a no-op when the text has no words.

    Called in the transaction that creates the entry, so the entry and its
    document commit (or roll back) together. Calling it again re-indexes the
    entry, also after its ``public`` flag changed.
    """
    text = document(entry.body_text or "")
    if not text:
        return
    db = _db()
    if is_sqlite(db):
        rowid = sqlite_rowid(entry.case_id, entry.id, entry.public)
        # The same entry under the other visibility: gone, so a note made
        # public, or a message hidden, is never found twice or by the wrong people.
        db.execute_sql(_SQLITE_DELETE, [rowid ^ 1])
        db.execute_sql(_SQLITE_REPLACE, [rowid, text])
    else:
        db.execute_sql(_PG_UPSERT, [entry.id, entry.case_id, bool(entry.public), text])
    wordlist.remember_words(db, text)


def index_case(case) -> None:
    """(Re)index a case's subject, which everyone on the case may see."""
    text = document(case.subject or "")
    db = _db()
    if is_sqlite(db):
        rowid = sqlite_rowid(case.id, 0, True)
        db.execute_sql(_SQLITE_REPLACE if text else _SQLITE_DELETE, [rowid, text] if text else [rowid])
    elif text:
        db.execute_sql(_PG_UPSERT, [-case.id, case.id, True, text])
    else:
        db.execute_sql(_PG_DELETE, [-case.id])
    wordlist.remember_words(db, text)


def forget_cases(db, case_ids: list[int]) -> None:
    """Delete the documents of these cases (in the caller's transaction; their cases are being deleted)."""
    if not case_ids:
        return
    if is_sqlite(db):
        for case_id in case_ids:
            db.execute_sql(f"DELETE FROM {TABLE} WHERE rowid >= ? AND rowid < ?",
                           [case_id << CASE_SHIFT, (case_id + 1) << CASE_SHIFT])
    else:
        db.execute_sql(f"DELETE FROM {TABLE} WHERE case_id = ANY(%s)", [list(case_ids)])


def forget_words(db, texts: list[str]) -> int:
    """Take off the word list the words of these (deleted) texts that no document holds any more; returns how many.

    The word list is kept for finding parts of compounds; a name or an
    address of a deleted case must not outlive it there.
    """
    unheld = []
    for word in wordlist.list_words(document(" ".join(t or "" for t in texts))):
        if is_sqlite(db):
            match = [f'"{word}"']
            held = any(db.execute_sql(f"SELECT 1 FROM {table} WHERE {table} MATCH ? LIMIT 1", match).fetchone()
                       for table in (TABLE, "faq_doc"))
        else:
            held = any(db.execute_sql(f"SELECT 1 FROM {table} WHERE document @@ to_tsquery('simple', %s) LIMIT 1",
                                      [word]).fetchone() for table in (TABLE, "faq_doc"))
        if not held:
            unheld.append(word)
    return wordlist.unlist(db, unheld)


def compact(db) -> None:
    """Rewrite SQLite's full-text indexes so that deleted documents leave no bytes behind.

    FTS5 marks a deleted document and drops its words only when it next
    merges the segments holding them; an erasure must not wait for that.
    ``optimize`` merges everything now: its cost grows with the index (seconds
    for hundreds of thousands of messages), so only erasure asks for it.
    PostgreSQL deletes the rows themselves (VACUUM reclaims the space).
    """
    if is_sqlite(db):
        for table in (TABLE, wordlist.WORD_GRAMS):
            db.execute_sql(f"INSERT INTO {table} ({table}) VALUES ('optimize')")


def _match(sqlite: bool, starts: list[str]) -> str:
    """One lookup in the word index for words starting with any of ``starts``: an FTS5 MATCH or a tsquery."""
    # Each is letters and digits only, so nothing in it can close the quotes
    # or act as an operator.
    if sqlite:
        return " OR ".join(f'"{s}"*' for s in starts)
    return " | ".join(f"{s}:*" for s in starts)


def _term_sql(sqlite: bool, index: int, whole: bool, person: bool, public_only: bool) -> tuple[str, list[str]]:
    """One lookup of query word ``index``: (case_id, word number, whole) per document, and its parameters' names.

    ``whole`` is 1 for the lookup of the word as a word start, 0 for that of
    the longer words holding it (``parts``). The names are looked up in
    ``_term_values`` in the order the SQL needs them.
    """
    match = "match" if whole else "parts"
    if sqlite:
        sql = (f"SELECT rowid >> {CASE_SHIFT} AS case_id, {index} AS term, {int(whole)} AS whole "
               f"FROM {TABLE} WHERE {TABLE} MATCH ?")
        names = [match]
        if public_only:
            sql += " AND rowid & 1 = 1"
        if person:
            # An expression of the rowid, not a constraint FTS5 is offered:
            # seeking each of the person's documents costs more than walking
            # the word's doclist once and dropping the others' hits.
            sql += f" AND rowid >> {CASE_SHIFT} IN (SELECT case_id FROM participant WHERE person_id = ?)"
            names.append("person")
        return sql, names
    sql = (f"SELECT case_id, {index} AS term, {int(whole)} AS whole FROM {TABLE} "
           f"WHERE document @@ to_tsquery('simple', %s)")
    names = [match]
    if public_only:
        sql += " AND public"
    if person:
        # Inline, so the planner may start from the person's few cases
        # (B-tree on case_id) rather than from the GIN index.
        sql += " AND case_id IN (SELECT case_id FROM participant WHERE person_id = %s)"
        names.append("person")
    return sql, names


def _term_values(sqlite: bool, term: str, found_parts: list[str], person_id) -> dict:
    """A query word as each lookup takes it (see ``_term_sql``)."""
    return {"match": _match(sqlite, [term]), "parts": _match(sqlite, found_parts),
            "either": _match(sqlite, [term] + found_parts), "person": person_id}


def _lookups(shape: tuple[bool, ...]):
    """(word number, whole) of each lookup of a query whose words have parts (True) or not."""
    for index, has_parts in enumerate(shape):
        yield index, True
        if has_parts:
            yield index, False


def _search_sql(sqlite: bool, shape: tuple[bool, ...], person: bool, departments: int | None, public_only: bool,
                count: bool) -> tuple[str, list[tuple[int, str]]]:
    """The whole search for one shape of query (which words have parts to look up), built once and cached."""
    key = (sqlite, shape, person, departments, public_only, count)
    cached = _SQL.get(key)
    if cached is not None:
        return cached
    mark = "?" if sqlite else "%s"
    lookups = [(index, _term_sql(sqlite, index, whole, person, public_only)) for index, whole in _lookups(shape)]
    hits = " UNION ALL ".join(sql for _, (sql, _) in lookups)
    names = [(index, name) for index, (_, term_names) in lookups for name in term_names]
    # A case matches when each word has a hit in it; ``whole`` is 1 when
    # every word was found as a word. Without parts every hit is one, and one
    # word needs no count: 7,500 cases for "printer" at 100,000 took 2-3 ms
    # less so.
    if not any(shape):
        matched = "SELECT DISTINCT case_id, 1 AS whole FROM hits" if len(shape) == 1 else \
            f"SELECT case_id, 1 AS whole FROM hits GROUP BY case_id HAVING count(DISTINCT term) = {len(shape)}"
    elif len(shape) == 1:
        matched = "SELECT case_id, max(whole) AS whole FROM hits GROUP BY case_id"
    else:
        matched = (f"SELECT case_id, min(whole) AS whole FROM (SELECT case_id, term, max(whole) AS whole "
                   f"FROM hits GROUP BY case_id, term) AS best GROUP BY case_id HAVING count(*) = {len(shape)}")
    head = f"WITH hits AS ({hits}), matched AS ({matched})"
    where = ""
    if departments is not None:
        where = f" WHERE c.department IN ({', '.join([mark] * departments)})"
    if count:
        sql = f'{head} SELECT count(*) FROM matched m JOIN "case" c ON c.id = m.case_id{where}'
    else:
        sql = (f'{head} SELECT m.case_id, count(*) OVER () FROM matched m JOIN "case" c ON c.id = m.case_id'
               f"{where} ORDER BY m.whole DESC, c.updated_at DESC, c.id DESC LIMIT {mark} OFFSET {mark}")
    _SQL[key] = (sql, names)
    return sql, names


def in_order(model, ids: list[int]) -> list:
    """The rows of a search page (cases or articles), in the page's order; one query."""
    found = {row.id: row for row in model.select().where(model.id.in_(ids))} if ids else {}
    return [found[i] for i in ids if i in found]


def _query(db, text: str, departments) -> tuple[list[str], list[list[str]], tuple[str, ...] | None]:
    """The query words, the longer words holding each, and the departments as a tuple.

    No words when an empty scope can match nothing.
    """
    departments = tuple(departments) if departments is not None else None
    if departments == ():
        return [], [], departments
    terms = query_words(text or "")
    return terms, [wordlist.parts(db, term) for term in terms], departments


def _params(sqlite: bool, terms: list[str], found_parts: list[list[str]], names: list[tuple[int, str]],
            person_id=None) -> list:
    """The parameters of the words' part of a search, in the order its SQL names them."""
    values = [_term_values(sqlite, term, more, person_id) for term, more in zip(terms, found_parts)]
    return [values[i][name] for i, name in names]


def _tier_sql(shape: tuple[bool, ...], departments: int | None, public_only: bool, words_only: bool,
              walk: bool) -> tuple[str, list[tuple[int, str]]]:
    """PostgreSQL: one tier of ``search_page`` one way, built once and cached, and its parameters' names.

    ``words_only``: the cases holding every query word as a word; else those
    holding each word as a word or inside a longer one, but not all as words.
    ``walk``: among the departments' newest cases, as many as a parameter
    says; else among the cases the word index names (for the words, or for
    the parts of the second tier, one of which each of its cases holds).
    Names are (word number, value) as ``_term_values`` has them, or (-1,
    "budget" | "parts" | "departments" | "limit").
    """
    key = ("tier", shape, departments, public_only, words_only, walk)
    cached = _SQL.get(key)
    if cached is not None:
        return cached
    public = " AND d.public" if public_only else ""
    has = f"EXISTS (SELECT 1 FROM {TABLE} d WHERE d.case_id = c.id AND d.document @@ to_tsquery('simple', %s){public})"
    named = f"SELECT d.case_id FROM {TABLE} d WHERE d.document @@ to_tsquery('simple', %s){public}"
    in_departments = f"department IN ({', '.join(['%s'] * departments)})" if departments is not None else ""
    head, conditions, names = "", [], []
    if walk:
        where = f" WHERE {in_departments}" if in_departments else ""
        source = f'(SELECT id, updated_at FROM "case"{where} ORDER BY updated_at DESC, id DESC LIMIT %s) AS c'
        names += ([(-1, "departments")] if in_departments else []) + [(-1, "budget")]
    else:
        # Materialized, so that PostgreSQL looks up the few cases it names
        # rather than walk the department's cases for them.
        if words_only:
            head = f"WITH named AS MATERIALIZED ({' INTERSECT '.join([named] * len(shape))}) "
            names += [(index, "match") for index in range(len(shape))]
        else:
            head = f"WITH named AS MATERIALIZED ({named}) "
            names.append((-1, "parts"))
        source = '"case" c'
        conditions.append("c.id IN (SELECT case_id FROM named)")
        if in_departments:
            conditions.append("c." + in_departments)
            names.append((-1, "departments"))
    if walk or not words_only:
        for index, has_parts in enumerate(shape):
            conditions.append(has)
            names.append((index, "either" if has_parts and not words_only else "match"))
    if not words_only:
        conditions.append("(" + " OR ".join(f"NOT {has}" for has_parts in shape if has_parts) + ")")
        names += [(index, "match") for index, has_parts in enumerate(shape) if has_parts]
    sql = (f"{head}SELECT c.id FROM {source} WHERE {' AND '.join(conditions)} "
           "ORDER BY c.updated_at DESC, c.id DESC LIMIT %s")
    _SQL[key] = (sql, names + [(-1, "limit")])
    return sql, names + [(-1, "limit")]


# A page's walk looks at this many of the newest cases for each case it
# needs, before asking the word index: past that the words are rare (under
# 2 % of the cases), and the index names their few cases faster.
WALK_PER_CASE = 100


def search_page(text: str, *, departments=None, public_only: bool = False, limit: int = 20,
                offset: int = 0) -> tuple[list[int], bool]:
    """One page of the cases matching ``text`` in ``departments``, and whether more follow: the agents' search.

    The same cases in the same order as ``search_cases`` without a person,
    but without the number of them all. On PostgreSQL counting is what
    costs: each matching document's row is read for its case (11,000 rows
    for "printer" at 100,000 cases, 10-12 ms) and joined with the
    department's cases (~10 ms), over the page's 25 ms alone. A page is
    found instead in tiers -- the cases holding every word as a word, then
    the others -- each one of two ways. First a walk over the departments'
    newest cases, asking of each whether it holds the words (an index
    lookup of its documents), which stops at the page's end: 1-2 ms for a
    common word. When the words are rarer than one case in
    ``WALK_PER_CASE`` and the walk runs out, the word index names the cases
    instead, few for a rare word (PostgreSQL's own choice between the two
    walked up to 75,000 cases for a word in 300). On SQLite the search query
    answers it, as the customer's search: the count costs nothing there.
    """
    db = _db()
    terms, found_parts, departments = _query(db, text, departments)
    limit, offset = max(int(limit), 0), max(int(offset), 0)
    if not terms or limit == 0:
        return [], False
    if is_sqlite(db):
        _, ids = _search(db, terms, found_parts, departments, None, public_only, limit + 1, offset)
        return ids[:limit], len(ids) > limit
    shape = tuple(bool(more) for more in found_parts)
    n_departments = len(departments) if departments is not None else None
    values = [_term_values(False, term, more, None) for term, more in zip(terms, found_parts)]
    # The page's cases and all before it, and one more to tell whether more follow.
    wanted = offset + limit + 1
    ids: list[int] = []
    for words_only in (True, False) if any(shape) else (True,):
        need = wanted - len(ids)
        given = {"budget": WALK_PER_CASE * wanted, "departments": departments, "limit": need,
                 "parts": _match(False, [part for more in found_parts for part in more])}
        found: list[int] = []
        for walk in (True, False):
            sql, names = _tier_sql(shape, n_departments, public_only, words_only, walk)
            params: list = []
            for index, name in names:
                value = given[name] if index < 0 else values[index][name]
                params += list(value) if name == "departments" else [value]
            found = [row[0] for row in db.execute_sql(sql, params).fetchall()]
            if len(found) == need:
                break
        ids += found
        if len(ids) == wanted:
            break
    return ids[offset:offset + limit], len(ids) == wanted


def search_cases(text: str, *, person=None, departments=None, public_only: bool = True, limit: int = 20,
                 offset: int = 0) -> tuple[int, list[int]]:
    """Search cases for the words of ``text``; return (number of matching cases, one page of case ids).

    Every word must occur in the case's subject or in the body of one of its
    entries: as the start of a word, or, for a word of ``wordlist.MIN_PART`` or more
    characters, inside a longer one (a part of a compound). ``person`` (a
    Person or its id) keeps only cases they take part in (requester or
    copied); ``departments`` (slugs) only cases in those departments; None
    for either is no restriction. ``public_only`` leaves internal notes out
    of the match; agents pass False. The page has the cases holding every
    word as a word first, then those where a word was found only inside a
    longer one; each group most recently updated first. Any text is a valid
    search: what is not a letter or digit only separates words.
    """
    db = _db()
    terms, found_parts, departments = _query(db, text, departments)
    if not terms:
        return 0, []
    return _search(db, terms, found_parts, departments, getattr(person, "id", person), public_only,
                   max(int(limit), 0), max(int(offset), 0))


def _search(db, terms: list[str], found_parts: list[list[str]], departments: tuple[str, ...] | None, person_id,
            public_only: bool, limit: int, offset: int) -> tuple[int, list[int]]:
    """``search_cases`` once its words and their parts are known."""
    sqlite = is_sqlite(db)
    shape = tuple(bool(more) for more in found_parts)
    n_departments = len(departments) if departments is not None else None
    sql, names = _search_sql(sqlite, shape, person_id is not None, n_departments, public_only, count=False)
    params = _params(sqlite, terms, found_parts, names, person_id) + list(departments or ())
    rows = db.execute_sql(sql, params + [limit, offset]).fetchall()
    if rows:
        return rows[0][1], [r[0] for r in rows]
    if offset == 0 and limit > 0:
        return 0, []
    # An empty page past the end carries no total with it: count apart.
    sql, _ = _search_sql(sqlite, shape, person_id is not None, n_departments, public_only, count=True)
    return db.execute_sql(sql, params).fetchone()[0], []

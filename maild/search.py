"""Full-text search over cases and FAQ articles: words, and parts of compound words, on SQLite and PostgreSQL.

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

Parts of compound words. Norwegian, Danish, Swedish and German write a
compound as one word, and a word index finds it by its first part only: a
search for "permisjon" must also find "foreldrepermisjon", "skriver" must
find "fargeskriver". So a query word of ``MIN_GRAM`` (3) or more characters
is looked up as a substring too, through a trigram index beside the word
index (a shorter one cannot make a trigram and stays a prefix):

* SQLite: a second FTS5 table, ``search_gram``, with the ``trigram``
  tokenizer (case-sensitive: the words are case-folded already) and the
  same rowid layout, so case and visibility come from the rowid and a
  customer's search is confined the same way. It holds each document's
  distinct words of three characters or more (``grams``): a query word has
  no space, so it only ever matches inside one word, and repeats and short
  words would only make the index larger. A trigger drops a deleted case's
  rows, as for ``search_doc``.
* PostgreSQL: the ``pg_trgm`` extension, a column ``grams`` on
  ``search_doc`` that PostgreSQL generates from the tsvector --
  ``strip(document)::text``, its distinct words in quotes, without the
  positions, whose digits a query word could match -- and a GIN
  ``gin_trgm_ops`` index on it. Nothing to keep in step when an entry is
  indexed, and the rows go with their case by the foreign key. Stored
  rather than an index on the expression: recomputed at each recheck, the
  words took twice the time. Every word a ``word:*`` prefix query finds
  contains the query word, so ``LIKE '%word%'`` finds a superset of the
  word index's hits, and whether a hit is a word hit is decided on the same
  row (``document @@ word:*``) without a second index scan. A customer's
  search tests ``strpos(grams, word)`` on their own documents instead:
  PostgreSQL guesses a substring the rarer the longer it is (pg_trgm gives
  LIKE no estimate), so with LIKE it started from the trigram index and
  read every document with a common part. pg_trgm is a trusted extension:
  the owner of the database may create it, and where it exists already, in
  any schema, it is used as it is. In a database whose LC_CTYPE is ``C``
  pg_trgm sees only ASCII letters: searches stay right, but those with
  æ, ø or å read more rows.

The word index stays (rather than trigrams alone): a word of one or two
characters can only be found through it, and it tells a hit on a word or
its start from a hit inside a compound, which the ranking needs. A word is
one doclist to it, where a trigram search intersects one per trigram.

A case matches when every query word occurs in one of its documents the
searcher may see -- as a word prefix, or (three characters or more) inside
a word -- not necessarily all in the same one, so "printer toner" finds a
case whose subject says printer and whose reply says toner. Each word is one
index lookup (on SQLite two: words and trigrams). Cases are ordered by how many query words they hold as
words (or word starts) -- so a case about a "skriver" comes before one about
a "fargeskriver" -- then by score, the sum over the words of their best
document's rank (bm25 on SQLite, ts_rank on PostgreSQL; a hit only inside a
compound counts ``COMPOUND_SCORE``; a subject counts double), then by the
latest activity. A customer's search is confined to their own cases inside
the index query (Roundup searches everything, then filters;
docs/architecture.md, speed), and an internal note never counts for
``public_only``, so its words cannot even reveal that a case matches.

Events ("Closed.", "Reopened by a reply.") are our own words, not indexed.

FAQ articles: a second table, ``faq_doc``, holds one document per article,
drafts too, with the same words: an FTS5 table with the columns ``title``
(with the tags) and ``body`` whose rowid is the article id (a trigger drops a deleted
article's row), or on PostgreSQL ``(article_id, document)`` with the title
weighted above the body, a foreign key to ``article`` (ON DELETE CASCADE),
a GIN index, and ``grams`` with its trigram index as for cases (the title
is the tsvector's words of weight A). On SQLite ``faq_gram`` is its
trigram twin (columns ``title`` and ``body``). An article matches when every
query word occurs in its title or body, as for cases; whether it is
published, its department and its language are read from ``article`` in the
same query, so a draft is found only by those who ask for drafts.

Speed with 100,000 cases and 300,000 entries of Norwegian and English text
(medians over fourteen searches -- words, parts of compounds, two words,
short and missing words -- on a 2-core machine), before and after parts of
compounds: on SQLite a customer's search over their 500 cases 2.4 -> 11 ms,
an agent's over all cases 17 -> 44 ms, the FAQ (2,000 articles) 0.1 -> 0.7
ms; on PostgreSQL 2.3 -> 2.8 ms, 24 -> 65 ms and 0.4 -> 1.9 ms. An agent
pays mostly for the larger result: "kontor" matches 35,600 cases instead of
14,500, each of them ranked. Indexing an entry costs about twice as much
(SQLite 31 -> 77 us, PostgreSQL 200 -> 370 us, inside a transaction), and
the store grows: that SQLite file from 0.48 to 1.26 GB, that PostgreSQL
database from 560 to 920 MB.
"""

from __future__ import annotations

import re
import unicodedata

from maild.store.db import is_sqlite
from maild.store.models import database

TABLE = "search_doc"
GRAM_TABLE = "search_gram"  # SQLite only

# Query words beyond this many are ignored: each costs an index lookup, and
# a pasted paragraph should not turn into a hundred-way intersection.
MAX_TERMS = 8
# Longer runs (base64, hashes) are cut here, in documents and queries alike.
MAX_WORD = 80
# Characters of one text that are indexed. PostgreSQL refuses a tsvector over
# 1 MB with an error, which would fail the message; the start of a long mail
# is what people remember of it.
MAX_TEXT = 100_000
SUBJECT_WEIGHT = 2.0
# A query word this long or longer is also found inside words (one trigram).
MIN_GRAM = 3
# What a hit only inside a compound scores (a subject's double): enough to
# order such hits, small beside a word's rank. Cases holding more query words
# as words come first whatever the scores (bm25 can be near 0 for a word in
# most documents).
COMPOUND_SCORE = 1e-3
# PostgreSQL's column of a document's words for the trigram index, generated
# from the tsvector: its words in quotes ('a' 'b'), without positions.
PG_GRAMS = "grams"

# SQLite rowid layout (see above): 30 bits of case id, 32 of entry id, 1 of public.
CASE_SHIFT = 33
ENTRY_MASK = (1 << CASE_SHIFT) - 2
MAX_CASE_ID = (1 << 30) - 1
MAX_ENTRY_ID = (1 << 32) - 1

_WORD = re.compile(r"[^\W_]+")

_SQLITE_REPLACE = f"INSERT OR REPLACE INTO {TABLE} (rowid, words) VALUES (?, ?)"
_SQLITE_DELETE = f"DELETE FROM {TABLE} WHERE rowid = ?"
_GRAM_REPLACE = f"INSERT OR REPLACE INTO {GRAM_TABLE} (rowid, words) VALUES (?, ?)"
_GRAM_DELETE = f"DELETE FROM {GRAM_TABLE} WHERE rowid = ?"
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


def grams(doc: str) -> str:
    """What SQLite's trigram index holds of a ``document``: its distinct words of ``MIN_GRAM`` or more characters."""
    return " ".join(dict.fromkeys(w for w in doc.split(" ") if len(w) >= MIN_GRAM))


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


def _sqlite_write(db, rowid: int, text: str) -> None:
    """Write one document to both SQLite indexes under ``rowid``; "" drops it from the trigram index."""
    db.execute_sql(_SQLITE_REPLACE, [rowid, text])
    gram = grams(text)
    db.execute_sql(_GRAM_REPLACE if gram else _GRAM_DELETE, [rowid, gram] if gram else [rowid])


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
        db.execute_sql(_GRAM_DELETE, [rowid ^ 1])
        _sqlite_write(db, rowid, text)
    else:
        db.execute_sql(_PG_UPSERT, [entry.id, entry.case_id, bool(entry.public), text])


def index_case(case) -> None:
    """(Re)index a case's subject, which everyone on the case may see."""
    text = document(case.subject or "")
    db = _db()
    if is_sqlite(db):
        rowid = sqlite_rowid(case.id, 0, True)
        if text:
            _sqlite_write(db, rowid, text)
        else:
            db.execute_sql(_SQLITE_DELETE, [rowid])
            db.execute_sql(_GRAM_DELETE, [rowid])
    elif text:
        db.execute_sql(_PG_UPSERT, [-case.id, case.id, True, text])
    else:
        db.execute_sql(_PG_DELETE, [-case.id])


def _term_sql(sqlite: bool, index: int, long: bool, person: bool, public_only: bool) -> tuple[str, list[str]]:
    """One query word's hits, (case_id, word number, whole, score) per document, and its parameters' names.

    ``whole`` is 1 for a hit on a word or a word's start, 0 for one only
    inside a word (``long`` words only). The names are looked up in
    ``_term_values`` in the order the SQL needs them.
    """
    weight = f"(CASE WHEN rowid & {ENTRY_MASK} = 0 THEN {SUBJECT_WEIGHT} ELSE 1.0 END)" if sqlite else \
        f"(CASE WHEN id < 0 THEN {SUBJECT_WEIGHT} ELSE 1.0 END)"
    if sqlite:
        scope, names = "", []
        if public_only:
            scope += " AND rowid & 1 = 1"
        if person:
            # An expression of the rowid, not a constraint FTS5 is offered:
            # seeking each of the person's documents costs more than walking
            # the word's doclist once and dropping the others' hits.
            scope += f" AND rowid >> {CASE_SHIFT} IN (SELECT case_id FROM participant WHERE person_id = ?)"
            names = ["person"]
        sql = (f"SELECT rowid >> {CASE_SHIFT} AS case_id, {index} AS term, 1 AS whole, "
               f"-bm25({TABLE}) * {weight} AS score FROM {TABLE} WHERE {TABLE} MATCH ?{scope}")
        if not long:
            return sql, ["prefix", *names]
        # The trigram twin finds the word anywhere in a word; its whole-word
        # hits are the word index's too, and keep the word index's score.
        sql += (f" UNION ALL SELECT rowid >> {CASE_SHIFT}, {index}, 0, {COMPOUND_SCORE} * {weight} "
                f"FROM {GRAM_TABLE} WHERE {GRAM_TABLE} MATCH ?{scope}")
        return sql, ["prefix", *names, "phrase", *names]
    if long:
        # The trigram index finds the rows; the tsvector, already at hand
        # in each row, says whether the word is there as a word.
        sql = (f"SELECT case_id, {index} AS term, (document @@ q)::int AS whole, "
               f"(CASE WHEN document @@ q THEN ts_rank(document, q, 1) ELSE {COMPOUND_SCORE} END) * {weight} "
               f"AS score FROM {TABLE}, to_tsquery('simple', %s) AS q WHERE ")
        if person:
            # strpos(), which no index serves, rather than LIKE: PostgreSQL
            # guesses a substring the rarer the longer it is (pg_trgm gives
            # no estimate), so with LIKE it started from the trigram index
            # and read every document holding a common part ("tilgang":
            # 9,000 documents, 50-100 ms) instead of the person's own few.
            sql += f"strpos({PG_GRAMS}, %s) > 0"
            names = ["tsquery", "word"]
        else:
            sql += f"{PG_GRAMS} LIKE %s"
            names = ["tsquery", "pattern"]
    else:
        sql = (f"SELECT case_id, {index} AS term, 1 AS whole, ts_rank(document, q, 1) * {weight} AS score "
               f"FROM {TABLE}, to_tsquery('simple', %s) AS q WHERE document @@ q")
        names = ["tsquery"]
    if public_only:
        sql += " AND public"
    if person:
        # Inline, so the planner may start from the person's few cases
        # (B-tree on case_id) rather than from the GIN index.
        sql += " AND case_id IN (SELECT case_id FROM participant WHERE person_id = %s)"
        names.append("person")
    return sql, names


def _term_values(term: str, person_id) -> dict:
    """A query word as each index and clause takes it (see ``_term_sql``)."""
    # A quoted FTS5 string, a tsquery operand, a LIKE pattern: the word is
    # letters and digits only, so nothing in it can close the quotes or act
    # as an operator or a wildcard.
    return {"prefix": f'"{term}"*', "phrase": f'"{term}"', "tsquery": f"{term}:*", "pattern": f"%{term}%",
            "word": term, "person": person_id}


def _ranked(terms: int, key: str) -> str:
    """The CTEs from ``hits`` (a row per document and word) to ``matched``: the ``key``s with every word, scored."""
    # A case (an article) matches when each word has a hit in it; per word
    # its best hit counts, and whether it was found as a word at all.
    return (f"best AS (SELECT {key}, term, max(whole) AS whole, max(score) AS score FROM hits "
            f"GROUP BY {key}, term), "
            f"matched AS (SELECT {key}, sum(whole) AS whole, sum(score) AS score FROM best GROUP BY {key} "
            f"HAVING count(*) = {terms})")


def _search_sql(sqlite: bool, shape: tuple[bool, ...], person: bool, departments: int | None, public_only: bool,
                count: bool) -> tuple[str, list[str]]:
    """The whole search for one shape of query (which words are long enough for trigrams), built once and cached."""
    key = (sqlite, shape, person, departments, public_only, count)
    cached = _SQL.get(key)
    if cached is not None:
        return cached
    mark = "?" if sqlite else "%s"
    parts = [_term_sql(sqlite, i, long, person, public_only) for i, long in enumerate(shape)]
    hits = " UNION ALL ".join(sql for sql, _ in parts)
    names = [(i, name) for i, (_, term_names) in enumerate(parts) for name in term_names]
    # MATERIALIZED keeps SQLite from flattening the FTS5 scan into the
    # aggregate, where bm25() cannot run ("unable to use function bm25").
    head = f"WITH hits AS MATERIALIZED ({hits}), {_ranked(len(shape), 'case_id')}"
    where = ""
    if departments is not None:
        where = f" WHERE c.department IN ({', '.join([mark] * departments)})"
    if count:
        sql = f'{head} SELECT count(*) FROM matched m JOIN "case" c ON c.id = m.case_id{where}'
    else:
        sql = (f'{head} SELECT m.case_id, count(*) OVER () FROM matched m JOIN "case" c ON c.id = m.case_id'
               f"{where} ORDER BY m.whole DESC, m.score DESC, c.updated_at DESC, c.id DESC "
               f"LIMIT {mark} OFFSET {mark}")
    _SQL[key] = (sql, names)
    return sql, names


def in_order(model, ids: list[int]) -> list:
    """The rows of a search page (cases or articles), in the page's order; one query."""
    found = {row.id: row for row in model.select().where(model.id.in_(ids))} if ids else {}
    return [found[i] for i in ids if i in found]


def _query(text: str, departments) -> tuple[list[str], tuple[str, ...] | None]:
    """The query words, and the departments as a tuple; no words when an empty scope can match nothing."""
    departments = tuple(departments) if departments is not None else None
    if departments == ():
        return [], departments
    return query_words(text or ""), departments


def _params(terms: list[str], names: list[tuple[int, str]], person_id=None) -> list:
    """The parameters of the words' part of a search, in the order its SQL names them."""
    values = [_term_values(term, person_id) for term in terms]
    return [values[i][name] for i, name in names]


def search_cases(text: str, *, person=None, departments=None, public_only: bool = True, limit: int = 20,
                 offset: int = 0) -> tuple[int, list[int]]:
    """Search cases for the words of ``text``; return (number of matching cases, one page of case ids).

    Every word must occur in the case's subject or in the body of one of its
    entries: as the start of a word, or, for a word of ``MIN_GRAM`` or more
    characters, anywhere inside one (a part of a compound). ``person`` (a
    Person or its id) keeps only cases they take part in (requester or
    copied); ``departments`` (slugs) only cases in those departments; None
    for either is no restriction. ``public_only`` leaves internal notes out
    of the match; agents pass False. The page has the cases holding the most
    words as words first, then the best match, then the most recently
    updated. Any text is a valid search: what is not a letter or digit only
    separates words.
    """
    terms, departments = _query(text, departments)
    if not terms:
        return 0, []
    db = _db()
    sqlite = is_sqlite(db)
    person_id = getattr(person, "id", person)
    shape = tuple(len(term) >= MIN_GRAM for term in terms)
    n_departments = len(departments) if departments is not None else None
    sql, names = _search_sql(sqlite, shape, person_id is not None, n_departments, public_only, count=False)
    params = _params(terms, names, person_id) + list(departments or ())
    limit, offset = max(int(limit), 0), max(int(offset), 0)
    rows = db.execute_sql(sql, params + [limit, offset]).fetchall()
    if rows:
        return rows[0][1], [r[0] for r in rows]
    if offset == 0 and limit > 0:
        return 0, []
    # An empty page past the end carries no total with it: count apart.
    sql, _ = _search_sql(sqlite, shape, person_id is not None, n_departments, public_only, count=True)
    return db.execute_sql(sql, params).fetchone()[0], []


# --------------------------------------------------------------------------- FAQ articles

FAQ_TABLE = "faq_doc"
FAQ_GRAM_TABLE = "faq_gram"  # SQLite only
TITLE_WEIGHT = 2.0

_FAQ_SQLITE_REPLACE = f"INSERT OR REPLACE INTO {FAQ_TABLE} (rowid, title, body) VALUES (?, ?, ?)"
_FAQ_SQLITE_DELETE = f"DELETE FROM {FAQ_TABLE} WHERE rowid = ?"
_FAQ_GRAM_REPLACE = f"INSERT OR REPLACE INTO {FAQ_GRAM_TABLE} (rowid, title, body) VALUES (?, ?, ?)"
_FAQ_GRAM_DELETE = f"DELETE FROM {FAQ_GRAM_TABLE} WHERE rowid = ?"
_FAQ_PG_UPSERT = (f"INSERT INTO {FAQ_TABLE} (article_id, document) VALUES (%s, "
                  "setweight(to_tsvector('simple', %s), 'A') || setweight(to_tsvector('simple', %s), 'B')) "
                  "ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document")
_FAQ_PG_DELETE = f"DELETE FROM {FAQ_TABLE} WHERE article_id = %s"


def index_article(article_id: int, title: str, body_text: str, tags=()) -> None:
    """(Re)index an article's title with its tags, and its body as plain text, in the transaction that saves it."""
    title, body = document(" ".join([title or "", *tags])), document(body_text or "")
    db = _db()
    if not (title or body):
        unindex_article(article_id)
    elif is_sqlite(db):
        db.execute_sql(_FAQ_SQLITE_REPLACE, [article_id, title, body])
        title_grams, body_grams = grams(title), grams(body)
        if title_grams or body_grams:
            db.execute_sql(_FAQ_GRAM_REPLACE, [article_id, title_grams, body_grams])
        else:
            db.execute_sql(_FAQ_GRAM_DELETE, [article_id])
    else:
        db.execute_sql(_FAQ_PG_UPSERT, [article_id, title, body])


def unindex_article(article_id: int) -> None:
    """Drop an article's document (deleting the article drops it too)."""
    db = _db()
    if is_sqlite(db):
        db.execute_sql(_FAQ_SQLITE_DELETE, [article_id])
        db.execute_sql(_FAQ_GRAM_DELETE, [article_id])
    else:
        db.execute_sql(_FAQ_PG_DELETE, [article_id])


def _article_term_sql(sqlite: bool, index: int, long: bool) -> tuple[str, list[str]]:
    """One query word's hits among the articles, (id, word number, whole, score), and its parameters' names."""
    if sqlite:
        sql = (f"SELECT rowid AS id, {index} AS term, 1 AS whole, -bm25({FAQ_TABLE}, {TITLE_WEIGHT}, 1.0) AS score "
               f"FROM {FAQ_TABLE} WHERE {FAQ_TABLE} MATCH ?")
        if not long:
            return sql, ["prefix"]
        sql += (f" UNION ALL SELECT rowid, {index}, 0, {COMPOUND_SCORE} * "
                f"(CASE WHEN instr(title, ?) > 0 THEN {TITLE_WEIGHT} ELSE 1.0 END) "
                f"FROM {FAQ_GRAM_TABLE} WHERE {FAQ_GRAM_TABLE} MATCH ?")
        return sql, ["prefix", "word", "phrase"]
    if not long:
        return (f"SELECT article_id AS id, {index} AS term, 1 AS whole, ts_rank(document, q) AS score "
                f"FROM {FAQ_TABLE}, to_tsquery('simple', %s) AS q WHERE document @@ q"), ["tsquery"]
    # The title is the tsvector's words of weight A.
    return (f"SELECT article_id AS id, {index} AS term, (document @@ q)::int AS whole, "
            f"CASE WHEN document @@ q THEN ts_rank(document, q) ELSE {COMPOUND_SCORE} * "
            f"(CASE WHEN strip(ts_filter(document, '{{a}}'))::text LIKE %s THEN {TITLE_WEIGHT} ELSE 1.0 END) "
            f"END AS score FROM {FAQ_TABLE}, to_tsquery('simple', %s) AS q WHERE {PG_GRAMS} LIKE %s"), \
        ["pattern", "tsquery", "pattern"]


def _article_sql(sqlite: bool, shape: tuple[bool, ...], departments: int | None, published_only: bool,
                 count: bool) -> tuple[str, list[str]]:
    """The article search for one shape of query, built once and cached."""
    key = ("faq", sqlite, shape, departments, published_only, count)
    cached = _SQL.get(key)
    if cached is not None:
        return cached
    mark = "?" if sqlite else "%s"
    parts = [_article_term_sql(sqlite, i, long) for i, long in enumerate(shape)]
    hits = " UNION ALL ".join(sql for sql, _ in parts)
    names = [(i, name) for i, (_, term_names) in enumerate(parts) for name in term_names]
    # MATERIALIZED for the same reason as in _search_sql: bm25() must run in the FTS5 scan.
    head = f"WITH hits AS MATERIALIZED ({hits}), {_ranked(len(shape), 'id')} "
    source = "FROM matched m JOIN article a ON a.id = m.id"
    conditions = []
    if published_only:
        conditions.append("a.published")
    if departments is not None:
        conditions.append(f"a.department IN ({', '.join([mark] * departments)})")
    if conditions:
        source += " WHERE " + " AND ".join(conditions)
    if count:
        sql = f"{head}SELECT count(*) {source}"
    else:
        # The asker's language first, then the most words found as words, the best match, the newest.
        sql = (f"{head}SELECT a.id, count(*) OVER () {source} "
               f"ORDER BY CASE WHEN a.language = {mark} THEN 0 ELSE 1 END, m.whole DESC, m.score DESC, a.id DESC "
               f"LIMIT {mark} OFFSET {mark}")
    _SQL[key] = (sql, names)
    return sql, names


def search_articles(text: str, *, language: str | None = None, departments=None, published_only: bool = True,
                    limit: int = 20, offset: int = 0) -> tuple[int, list[int]]:
    """Search FAQ articles for the words of ``text``; return (number of matches, one page of article ids).

    Every word must occur in the title or the body, as the start of a word
    or (``MIN_GRAM`` characters or more) inside one, as in ``search_cases``.
    ``departments`` (slugs; "" is the articles for all departments) keeps
    only articles of those; None is no restriction. ``published_only`` leaves
    drafts out; agents pass False. Articles in ``language`` come first, then
    those holding the most words as words, then the best match (a title word
    counts double), then the newest.
    """
    terms, departments = _query(text, departments)
    if not terms:
        return 0, []
    db = _db()
    sqlite = is_sqlite(db)
    shape = tuple(len(term) >= MIN_GRAM for term in terms)
    n_departments = len(departments) if departments is not None else None
    sql, names = _article_sql(sqlite, shape, n_departments, published_only, count=False)
    params = _params(terms, names) + list(departments or ())
    limit, offset = max(int(limit), 0), max(int(offset), 0)
    rows = db.execute_sql(sql, params + [language or "", limit, offset]).fetchall()
    if rows:
        return rows[0][1], [r[0] for r in rows]
    if offset == 0 and limit > 0:
        return 0, []
    sql, _ = _article_sql(sqlite, shape, n_departments, published_only, count=True)
    return db.execute_sql(sql, params).fetchone()[0], []

"""Full-text search over cases and FAQ articles: FTS5 on SQLite, tsvector + GIN on PostgreSQL.

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
reaches the engine as a quoted FTS5 string or a ``word:*`` tsquery operand.

A case matches when every query word, as a prefix, occurs in one of its
documents the searcher may see -- not necessarily all in the same one, so
"printer toner" finds a case whose subject says printer and whose reply says
toner. Each word is one index lookup; a case's score is the sum over the
words of its best document's rank (bm25 on SQLite, ts_rank on PostgreSQL; a
subject counts double). A customer's search is confined to their own cases
inside the index query (Roundup searches everything, then filters;
docs/architecture.md, speed), and an internal note never counts for
``public_only``, so its words cannot even reveal that a case matches.

Events ("Closed.", "Reopened by a reply.") are our own words, not indexed.

FAQ articles: a second table, ``faq_doc``, holds one document per article,
drafts too, with the same words: an FTS5 table with the columns ``title``
(with the tags) and ``body`` whose rowid is the article id (a trigger drops a deleted
article's row), or on PostgreSQL ``(article_id, document)`` with the title
weighted above the body, a foreign key to ``article`` (ON DELETE CASCADE)
and a GIN index. An article matches when every query word, as a prefix,
occurs in its title or body; whether it is published, its department and
its language are read from ``article`` in the same query, so a draft is
found only by those who ask for drafts.
"""

from __future__ import annotations

import re
import unicodedata

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
SUBJECT_WEIGHT = 2.0

# SQLite rowid layout (see above): 30 bits of case id, 32 of entry id, 1 of public.
CASE_SHIFT = 33
ENTRY_MASK = (1 << CASE_SHIFT) - 2
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


def index_case(case) -> None:
    """(Re)index a case's subject, which everyone on the case may see."""
    text = document(case.subject or "")
    db = _db()
    sqlite = is_sqlite(db)
    doc_id = sqlite_rowid(case.id, 0, True) if sqlite else -case.id
    if text:
        params = [doc_id, text] if sqlite else [doc_id, case.id, True, text]
        db.execute_sql(_SQLITE_REPLACE if sqlite else _PG_UPSERT, params)
    else:
        db.execute_sql(_SQLITE_DELETE if sqlite else _PG_DELETE, [doc_id])


def _term_sql(sqlite: bool, index: int, person: bool, public_only: bool) -> str:
    """One query word's hits: (case_id, word number, rank) for each document it is in."""
    if sqlite:
        sql = (f"SELECT rowid >> {CASE_SHIFT} AS case_id, {index} AS term, -bm25({TABLE}) * "
               f"(CASE WHEN rowid & {ENTRY_MASK} = 0 THEN {SUBJECT_WEIGHT} ELSE 1.0 END) AS score "
               f"FROM {TABLE} WHERE {TABLE} MATCH ?")
        if public_only:
            sql += " AND rowid & 1 = 1"
        if person:
            # An expression of the rowid, not a constraint FTS5 is offered:
            # seeking each of the person's documents costs more than walking
            # the word's doclist once and dropping the others' hits.
            sql += f" AND rowid >> {CASE_SHIFT} IN (SELECT case_id FROM participant WHERE person_id = ?)"
        return sql
    sql = (f"SELECT case_id, {index} AS term, ts_rank(document, to_tsquery('simple', %s), 1) * "
           f"(CASE WHEN id < 0 THEN {SUBJECT_WEIGHT} ELSE 1.0 END) AS score "
           f"FROM {TABLE} WHERE document @@ to_tsquery('simple', %s)")
    if public_only:
        sql += " AND public"
    if person:
        # Inline, so the planner may start from the person's few cases
        # (B-tree on case_id) rather than from the GIN index.
        sql += " AND case_id IN (SELECT case_id FROM participant WHERE person_id = %s)"
    return sql


def _search_sql(sqlite: bool, terms: int, person: bool, departments: int | None, public_only: bool,
                count: bool) -> str:
    """The whole search for one shape of query, built once and cached."""
    key = (sqlite, terms, person, departments, public_only, count)
    sql = _SQL.get(key)
    if sql is not None:
        return sql
    mark = "?" if sqlite else "%s"
    hits = " UNION ALL ".join(_term_sql(sqlite, i, person, public_only) for i in range(terms))
    # MATERIALIZED keeps SQLite from flattening the FTS5 scan into the
    # aggregate, where bm25() cannot run ("unable to use function bm25").
    # A case matches when each word has a hit in it; its best hit per word counts.
    head = (f"WITH hits AS MATERIALIZED ({hits}), "
            "best AS (SELECT case_id, term, max(score) AS score FROM hits GROUP BY case_id, term), "
            "matched AS (SELECT case_id, sum(score) AS score FROM best GROUP BY case_id "
            f"HAVING count(*) = {terms})")
    where = ""
    if departments is not None:
        where = f" WHERE c.department IN ({', '.join([mark] * departments)})"
    if count:
        sql = f'{head} SELECT count(*) FROM matched m JOIN "case" c ON c.id = m.case_id{where}'
    else:
        sql = (f'{head} SELECT m.case_id, count(*) OVER () FROM matched m JOIN "case" c ON c.id = m.case_id'
               f"{where} ORDER BY m.score DESC, c.updated_at DESC, c.id DESC LIMIT {mark} OFFSET {mark}")
    _SQL[key] = sql
    return sql


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


def search_cases(text: str, *, person=None, departments=None, public_only: bool = True, limit: int = 20,
                 offset: int = 0) -> tuple[int, list[int]]:
    """Search cases for the words of ``text``; return (number of matching cases, one page of case ids).

    Each word is a prefix, and every word must occur in the case's subject or
    in the body of one of its entries. ``person`` (a Person or its id) keeps
    only cases they take part in (requester or copied); ``departments`` (slugs)
    only cases in those departments; None for either is no restriction.
    ``public_only`` leaves internal notes out of the match; agents pass False.
    The page is best match first, then most recently updated. Any text is a
    valid search: what is not a letter or digit only separates words.
    """
    terms, departments = _query(text, departments)
    if not terms:
        return 0, []
    db = _db()
    sqlite = is_sqlite(db)
    person_id = getattr(person, "id", person)
    scoped = person_id is not None
    params: list = []
    for term in terms:
        if sqlite:
            # A quoted FTS5 string: the word is letters and digits only, so
            # nothing in it can close the quotes or act as an operator.
            params.append(f'"{term}"*')
        else:
            params += [f"{term}:*", f"{term}:*"]
        if scoped:
            params.append(person_id)
    n_departments = None
    if departments is not None:
        params += departments
        n_departments = len(departments)
    limit, offset = max(int(limit), 0), max(int(offset), 0)
    sql = _search_sql(sqlite, len(terms), scoped, n_departments, public_only, count=False)
    rows = db.execute_sql(sql, params + [limit, offset]).fetchall()
    if rows:
        return rows[0][1], [r[0] for r in rows]
    if offset == 0 and limit > 0:
        return 0, []
    # An empty page past the end carries no total with it: count apart.
    sql = _search_sql(sqlite, len(terms), scoped, n_departments, public_only, count=True)
    return db.execute_sql(sql, params).fetchone()[0], []


# --------------------------------------------------------------------------- FAQ articles

FAQ_TABLE = "faq_doc"
TITLE_WEIGHT = 2.0

_FAQ_SQLITE_REPLACE = f"INSERT OR REPLACE INTO {FAQ_TABLE} (rowid, title, body) VALUES (?, ?, ?)"
_FAQ_SQLITE_DELETE = f"DELETE FROM {FAQ_TABLE} WHERE rowid = ?"
_FAQ_PG_UPSERT = (f"INSERT INTO {FAQ_TABLE} (article_id, document) VALUES (%s, "
                  "setweight(to_tsvector('simple', %s), 'A') || setweight(to_tsvector('simple', %s), 'B')) "
                  "ON CONFLICT (article_id) DO UPDATE SET document = EXCLUDED.document")
_FAQ_PG_DELETE = f"DELETE FROM {FAQ_TABLE} WHERE article_id = %s"


def index_article(article_id: int, title: str, body_text: str, tags=()) -> None:
    """(Re)index an article's title with its tags, and its body as plain text, in the transaction that saves it."""
    title, body = document(" ".join([title or "", *tags])), document(body_text or "")
    db = _db()
    sqlite = is_sqlite(db)
    if not (title or body):
        unindex_article(article_id)
    elif sqlite:
        db.execute_sql(_FAQ_SQLITE_REPLACE, [article_id, title, body])
    else:
        db.execute_sql(_FAQ_PG_UPSERT, [article_id, title, body])


def unindex_article(article_id: int) -> None:
    """Drop an article's document (deleting the article drops it too)."""
    db = _db()
    db.execute_sql(_FAQ_SQLITE_DELETE if is_sqlite(db) else _FAQ_PG_DELETE, [article_id])


def _article_sql(sqlite: bool, departments: int | None, published_only: bool, count: bool) -> str:
    """The article search for one shape of query, built once and cached."""
    key = ("faq", sqlite, departments, published_only, count)
    sql = _SQL.get(key)
    if sql is not None:
        return sql
    mark = "?" if sqlite else "%s"
    if sqlite:
        # MATERIALIZED for the same reason as in _search_sql: bm25() must run in the FTS5 scan.
        head = (f"WITH hits AS MATERIALIZED (SELECT rowid AS id, -bm25({FAQ_TABLE}, {TITLE_WEIGHT}, 1.0) AS score "
                f"FROM {FAQ_TABLE} WHERE {FAQ_TABLE} MATCH ?) ")
        source = "FROM hits h JOIN article a ON a.id = h.id"
        score = "h.score"
    else:
        head = ""
        source = (f"FROM {FAQ_TABLE} d JOIN article a ON a.id = d.article_id "
                  "WHERE d.document @@ to_tsquery('simple', %s)")
        score = "ts_rank(d.document, to_tsquery('simple', %s))"
    conditions = []
    if published_only:
        conditions.append("a.published")
    if departments is not None:
        conditions.append(f"a.department IN ({', '.join([mark] * departments)})")
    if conditions:
        source += (" AND " if not sqlite else " WHERE ") + " AND ".join(conditions)
    if count:
        sql = f"{head}SELECT count(*) {source}"
    else:
        # The asker's language first, then the best match, then the newest.
        sql = (f"{head}SELECT a.id, count(*) OVER () {source} "
               f"ORDER BY CASE WHEN a.language = {mark} THEN 0 ELSE 1 END, {score} DESC, a.id DESC "
               f"LIMIT {mark} OFFSET {mark}")
    _SQL[key] = sql
    return sql


def search_articles(text: str, *, language: str | None = None, departments=None, published_only: bool = True,
                    limit: int = 20, offset: int = 0) -> tuple[int, list[int]]:
    """Search FAQ articles for the words of ``text``; return (number of matches, one page of article ids).

    Each word is a prefix and every word must occur in the title or the body.
    ``departments`` (slugs; "" is the articles for all departments) keeps
    only articles of those; None is no restriction. ``published_only`` leaves
    drafts out; agents pass False. Articles in ``language`` come first, then
    the best match (a title word counts double), then the newest.
    """
    terms, departments = _query(text, departments)
    if not terms:
        return 0, []
    db = _db()
    sqlite = is_sqlite(db)
    # Quoted FTS5 strings written side by side (each must match), or tsquery
    # prefixes joined by AND: as in search_cases, a word is letters and digits only.
    match = " ".join(f'"{term}"*' for term in terms) if sqlite else " & ".join(f"{term}:*" for term in terms)
    scope = [match] + list(departments or ())
    n_departments = len(departments) if departments is not None else None
    limit, offset = max(int(limit), 0), max(int(offset), 0)
    ranked = [language or ""] + ([] if sqlite else [match])
    sql = _article_sql(sqlite, n_departments, published_only, count=False)
    rows = db.execute_sql(sql, scope + ranked + [limit, offset]).fetchall()
    if rows:
        return rows[0][1], [r[0] for r in rows]
    if offset == 0 and limit > 0:
        return 0, []
    sql = _article_sql(sqlite, n_departments, published_only, count=True)
    return db.execute_sql(sql, scope).fetchone()[0], []

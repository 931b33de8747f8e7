"""Full-text search over FAQ articles, with the words of ``maild/search.py`` and the list of ``maild/wordlist.py``.

A table of its own, ``faq_doc``, holds one document per article,
drafts too, with the same words: an FTS5 table with the columns ``title``
(with the tags) and ``body`` whose rowid is the article id (a trigger drops a deleted
article's row), or on PostgreSQL ``(article_id, document)`` with the title
weighted above the body, a foreign key to ``article`` (ON DELETE CASCADE),
and a GIN index. Their words join the same word list. An article matches
when every query word occurs in its title or body, as for cases; whether
it is published, its department and its language are read from ``article``
in the same query, so a draft is found only by those who ask for drafts.
Articles are few and have no activity to order by, so they are ranked:
the asker's language first, then words found as words, then bm25 (SQLite)
or ts_rank (PostgreSQL), a title word counting double.
"""

from __future__ import annotations

from maild.search import _SQL, _db, _lookups, _params, _query, document
from maild.wordlist import remember_words
from maild.store.db import is_sqlite

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
    if not (title or body):
        unindex_article(article_id)
        return
    if is_sqlite(db):
        db.execute_sql(_FAQ_SQLITE_REPLACE, [article_id, title, body])
    else:
        db.execute_sql(_FAQ_PG_UPSERT, [article_id, title, body])
    remember_words(db, title, body)


def unindex_article(article_id: int) -> None:
    """Drop an article's document (deleting the article drops it too)."""
    db = _db()
    db.execute_sql(_FAQ_SQLITE_DELETE if is_sqlite(db) else _FAQ_PG_DELETE, [article_id])


def _article_term_sql(sqlite: bool, index: int, whole: bool) -> tuple[str, list[str]]:
    """One lookup of query word ``index`` among the articles, (id, word number, whole, score), and its parameter."""
    match = "match" if whole else "parts"
    if sqlite:
        return (f"SELECT rowid AS id, {index} AS term, {int(whole)} AS whole, "
                f"-bm25({FAQ_TABLE}, {TITLE_WEIGHT}, 1.0) AS score FROM {FAQ_TABLE} WHERE {FAQ_TABLE} MATCH ?"), \
            [match]
    # The title is the tsvector's words of weight A, which ts_rank weighs 1.0 against the body's (B) 0.4.
    return (f"SELECT article_id AS id, {index} AS term, {int(whole)} AS whole, ts_rank(document, q) AS score "
            f"FROM {FAQ_TABLE}, to_tsquery('simple', %s) AS q WHERE document @@ q"), [match]


def _article_sql(sqlite: bool, shape: tuple[bool, ...], departments: int | None, published_only: bool,
                 count: bool) -> tuple[str, list[tuple[int, str]]]:
    """The article search for one shape of query, built once and cached."""
    key = ("faq", sqlite, shape, departments, published_only, count)
    cached = _SQL.get(key)
    if cached is not None:
        return cached
    mark = "?" if sqlite else "%s"
    lookups = [(index, _article_term_sql(sqlite, index, whole)) for index, whole in _lookups(shape)]
    hits = " UNION ALL ".join(sql for _, (sql, _) in lookups)
    names = [(index, name) for index, (_, term_names) in lookups for name in term_names]
    # An article matches when each word has a hit in it; per word its best
    # hit counts, and whether it was found as a word at all. MATERIALIZED
    # keeps SQLite from flattening the FTS5 scan into the aggregate, where
    # bm25() cannot run ("unable to use function bm25").
    head = (f"WITH hits AS MATERIALIZED ({hits}), "
            f"best AS (SELECT id, term, max(whole) AS whole, max(score) AS score FROM hits GROUP BY id, term), "
            f"matched AS (SELECT id, sum(whole) AS whole, sum(score) AS score FROM best GROUP BY id "
            f"HAVING count(*) = {len(shape)}) ")
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
    or (``MIN_PART`` characters or more) inside a longer one, as in
    ``search_cases``. ``departments`` (slugs; "" is the articles for all
    departments) keeps only articles of those; None is no restriction.
    ``published_only`` leaves drafts out; agents pass False. Articles in
    ``language`` come first, then those holding the most words as words,
    then the best match (a title word counts double), then the newest.
    """
    db = _db()
    terms, found_parts, departments = _query(db, text, departments)
    if not terms:
        return 0, []
    sqlite = is_sqlite(db)
    shape = tuple(bool(more) for more in found_parts)
    n_departments = len(departments) if departments is not None else None
    sql, names = _article_sql(sqlite, shape, n_departments, published_only, count=False)
    params = _params(sqlite, terms, found_parts, names) + list(departments or ())
    limit, offset = max(int(limit), 0), max(int(offset), 0)
    rows = db.execute_sql(sql, params + [language or "", limit, offset]).fetchall()
    if rows:
        return rows[0][1], [r[0] for r in rows]
    if offset == 0 and limit > 0:
        return 0, []
    sql, _ = _article_sql(sqlite, shape, n_departments, published_only, count=True)
    return db.execute_sql(sql, params).fetchone()[0], []

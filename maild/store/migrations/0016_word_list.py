"""Parts of compound words through a list of the words the store has seen, instead of trigrams of every document.

0013 found parts of compounds through a second index over every document's
words, cut into trigrams. It doubled the time to index an entry and the
size of the store, and a search for a common word read its documents twice
(maild/wordlist.py says why the word list is better). This drops those
indexes and makes the word list, filled from the word indexes themselves:

* SQLite: ``search_word`` (id, word UNIQUE), an FTS5 ``trigram`` table over
  it as external content (``search_word_gram``), and a trigger that adds
  each new word to it. The words come from ``fts5vocab`` over ``search_doc``
  and ``faq_doc``: the terms those indexes hold.
* PostgreSQL: ``search_word`` (word, without a unique constraint, see
  maild/wordlist.py), a B-tree for the lookups that add words and a GIN
  ``gin_trgm_ops`` index for those that find them. The words come from
  ``ts_stat`` over both tables' tsvectors. The ``pg_trgm`` extension stays
  (0013 made it, or found it, in whatever schema).

Words of three characters or more, as ``wordlist.list_words`` takes them.
"""
from maild.store.db import is_sqlite

MIN_PART = 3


def backfill(db):
    """Add every word of three or more characters the word indexes hold that the list lacks; returns the count."""
    before = db.execute_sql("SELECT count(*) FROM search_word").fetchone()[0]
    if is_sqlite(db):
        for source in ("search_doc", "faq_doc"):
            db.execute_sql(f"CREATE VIRTUAL TABLE temp.vocabulary USING fts5vocab(main, {source}, row)")
            try:
                db.execute_sql(f"INSERT OR IGNORE INTO search_word (word) SELECT term FROM temp.vocabulary "
                               f"WHERE length(term) >= {MIN_PART} ORDER BY term")
            finally:
                db.execute_sql("DROP TABLE temp.vocabulary")
    else:
        for source in ("search_doc", "faq_doc"):
            db.execute_sql(f"INSERT INTO search_word (word) SELECT v.word FROM ts_stat('SELECT document FROM {source}') "
                           f"AS v WHERE length(v.word) >= {MIN_PART} "
                           f"AND NOT EXISTS (SELECT 1 FROM search_word s WHERE s.word = v.word)")
    return db.execute_sql("SELECT count(*) FROM search_word").fetchone()[0] - before


def up(migrator, db):
    """Drop 0013's trigram indexes, make the word list and fill it."""
    if is_sqlite(db):
        db.execute_sql("DROP TRIGGER search_gram_case_deleted")
        db.execute_sql("DROP TRIGGER faq_gram_article_deleted")
        db.execute_sql("DROP TABLE search_gram")
        db.execute_sql("DROP TABLE faq_gram")
        db.execute_sql("CREATE TABLE search_word (id INTEGER PRIMARY KEY, word TEXT NOT NULL UNIQUE)")
        # Case-sensitive: the words are case-folded before they get here.
        db.execute_sql("CREATE VIRTUAL TABLE search_word_gram USING fts5(word, content = 'search_word', "
                       "content_rowid = 'id', tokenize = 'trigram case_sensitive 1')")
        db.execute_sql("CREATE TRIGGER search_word_added AFTER INSERT ON search_word BEGIN "
                       "INSERT INTO search_word_gram (rowid, word) VALUES (new.id, new.word); END")
        backfill(db)
        return
    schema = db.execute_sql("SELECT quote_ident(n.nspname) FROM pg_extension e "
                            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'").fetchone()[0]
    for table in ("search_doc", "faq_doc"):
        db.execute_sql(f"ALTER TABLE {table} DROP COLUMN grams")  # its index goes with it
    db.execute_sql("CREATE TABLE search_word (word TEXT NOT NULL)")
    backfill(db)
    # Built once after the backfill rather than row by row.
    db.execute_sql("CREATE INDEX search_word_word ON search_word (word)")
    db.execute_sql(f"CREATE INDEX search_word_grams ON search_word USING GIN (word {schema}.gin_trgm_ops)")
    db.execute_sql("ANALYZE search_word")


def down(migrator, db):
    """Drop the word list and make 0013's trigram indexes again, filled."""
    if is_sqlite(db):
        db.execute_sql("DROP TRIGGER search_word_added")
        db.execute_sql("DROP TABLE search_word_gram")
    db.execute_sql("DROP TABLE search_word")
    _compound_search().up(migrator, db)


def _compound_search():
    """Migration 0013, whose ``up`` makes the trigram indexes again."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("0013_compound_search.py")
    spec = importlib.util.spec_from_file_location("compound_search", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

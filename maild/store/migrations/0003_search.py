"""The full-text index of cases (maild/search.py), and its backfill from the cases already stored.

SQLite gets an FTS5 virtual table, PostgreSQL a table with a tsvector column
and a GIN index; see maild/search.py for why one document per subject and
per entry. The table is written here as it was when added (frozen), but the
words come from ``search.document``: the index must hold exactly the words
the live code would have written, and a later change to them needs a
migration that re-indexes anyway.
"""
from maild.search import document, sqlite_rowid
from maild.store.db import is_sqlite

BATCH = 1000


def create(db):
    """Create the index table (without the GIN index on PostgreSQL: ``create_indexes`` adds it)."""
    if is_sqlite(db):
        # unicode61 without diacritic folding: "å" is a letter of its own in
        # Norwegian, and search.words() already gives one token per word.
        # The rowid carries case, entry and visibility (search.sqlite_rowid).
        db.execute_sql("CREATE VIRTUAL TABLE search_doc USING fts5("
                       "words, tokenize = 'unicode61 remove_diacritics 0')")
        # What ON DELETE CASCADE does on PostgreSQL: a deleted case's words go
        # with it, and never come back under a later case given its id.
        db.execute_sql('CREATE TRIGGER search_doc_case_deleted AFTER DELETE ON "case" BEGIN '
                       "DELETE FROM search_doc WHERE rowid >= old.id << 33 AND rowid < (old.id + 1) << 33; END")
    else:
        db.execute_sql('CREATE TABLE search_doc ('
                       'id BIGINT PRIMARY KEY, '
                       'case_id INTEGER NOT NULL REFERENCES "case" (id) ON DELETE CASCADE, '
                       'public BOOLEAN NOT NULL, '
                       'document TSVECTOR NOT NULL)')


def create_indexes(db):
    """PostgreSQL's indexes, built once after the backfill rather than row by row."""
    if not is_sqlite(db):
        db.execute_sql("CREATE INDEX search_doc_document ON search_doc USING GIN (document)")
        db.execute_sql("CREATE INDEX search_doc_case_id ON search_doc (case_id)")


def backfill(db):
    """Index every case's subject and every entry's body except events; returns the documents written."""
    sqlite = is_sqlite(db)
    if sqlite:
        insert = "INSERT OR REPLACE INTO search_doc (rowid, words) VALUES (?, ?)"
        mark = "?"
    else:
        insert = ("INSERT INTO search_doc (id, case_id, public, document) "
                  "VALUES (%s, %s, %s, to_tsvector('simple', %s)) ON CONFLICT (id) DO NOTHING")
        mark = "%s"
    # (id, case id, entry id or 0 for a subject, public, text)
    sources = (
        f'SELECT id, id, 0, 1, subject FROM "case" WHERE id > {mark} ORDER BY id LIMIT {BATCH}',
        (f"SELECT id, case_id, id, public, body_text FROM entry WHERE id > {mark} AND kind <> 'event' "
         f"ORDER BY id LIMIT {BATCH}"),
    )
    written = 0
    for select in sources:
        last = 0
        # Keyset pages, so a large store is never read into memory at once.
        while True:
            rows = db.execute_sql(select, [last]).fetchall()
            if not rows:
                break
            last = rows[-1][0]
            docs = []
            for _, case_id, entry_id, public, text in rows:
                text = document(text or "")
                if not text:
                    continue
                if sqlite:
                    docs.append((sqlite_rowid(case_id, entry_id, public), text))
                else:
                    docs.append((entry_id or -case_id, case_id, bool(public), text))
            if docs:
                db.cursor().executemany(insert, docs)
                written += len(docs)
    return written


def up(migrator, db):
    """Create the index, fill it from the store, then index it."""
    create(db)
    backfill(db)
    create_indexes(db)


def down(migrator, db):
    """Drop the index (and on SQLite its trigger)."""
    if is_sqlite(db):
        db.execute_sql("DROP TRIGGER search_doc_case_deleted")
    db.execute_sql("DROP TABLE search_doc")

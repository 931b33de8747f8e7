"""The word list: every distinct word a case or article document has held, for finding parts of compounds.

Norwegian, Danish, Swedish and German write a
compound as one word, and a word index finds it by its first part only: a
search for "permisjon" must also find "foreldrepermisjon", "skriver" must
find "fargeskriver". So the store keeps a word list, ``search_word``: every
distinct word of ``MIN_PART`` (3) or more characters that any case or
article document has held, each once, with a trigram index on it (SQLite:
an FTS5 table with the ``trigram`` tokenizer over the list; PostgreSQL:
``pg_trgm``'s GIN index). A query word of ``MIN_PART`` or more characters
is looked up in the list first, and the longer words that hold it other
than at their start ("fargeskriver", "laserskriveren") are then looked up
in the word index, as word starts, beside the query word itself. A
shorter query word cannot make a trigram and stays a word start.

The word list replaced a trigram index over every document (which held
each document's words again): it is small (one row per distinct word, not
per document), so an entry's indexing adds one statement that mostly finds
its words there already, and the word index alone answers every search,
where a trigram search over all documents read ~11,000 documents for
"printer" at 100,000 cases beside the word index's same 11,000. A word of
the list no document holds any more (its case was deleted) costs one empty
lookup when searched for. When a part occurs in more than ``MAX_PARTS``
words, the shortest are looked up (a longer word starting with one of them
is found through it). On PostgreSQL the list has no unique constraint: two
transactions that meet the same new word would otherwise wait for each
other, and one pair might deadlock; a word added twice is looked up once.

Documents and searches are in ``maild/search.py`` (cases) and
``maild/faqsearch.py`` (articles); this module keeps the list, which both
feed and read.
"""

from __future__ import annotations

import json
import secrets
import threading
import weakref

from maild.store.db import is_sqlite
from maild.store.models import Setting

WORD_TABLE = "search_word"
WORD_GRAMS = "search_word_gram"  # SQLite only: the trigram index of the word list

# A query word this long or longer is also looked for inside longer words (one trigram).
MIN_PART = 3
# Longer words holding a query word that are looked up, at most: the
# shortest. Each is one more term of the word-index lookup.
MAX_PARTS = 64

# One statement per document; the store looks each word up itself. A trigger
# adds a new word to SQLite's trigram index.
_SQLITE_REMEMBER = f"INSERT OR IGNORE INTO {WORD_TABLE} (word) SELECT value FROM json_each(?)"
# The same, naming the words it added: the others were listed already.
_SQLITE_REMEMBER_NEW = _SQLITE_REMEMBER + " RETURNING word"
# Changed whenever words leave the list (``unlist``): what a process knows of the list is then stale.
WORDS_FORGOTTEN = "search_words_forgotten"
_FORGOTTEN = "SELECT value FROM setting WHERE key = ?"
_PG_REMEMBER = (f"INSERT INTO {WORD_TABLE} (word) SELECT w FROM unnest(%s::text[]) AS w "
                f"WHERE NOT EXISTS (SELECT 1 FROM {WORD_TABLE} s WHERE s.word = w)")
# The longer words holding a query word other than at their start, shortest first.
_SQLITE_PARTS = (f"SELECT word FROM {WORD_GRAMS} WHERE {WORD_GRAMS} MATCH ? AND substr(word, 1, ?) <> ? "
                 "ORDER BY length(word), word LIMIT ?")
_PG_PARTS = (f"SELECT word FROM (SELECT DISTINCT word FROM {WORD_TABLE} WHERE word LIKE %s AND left(word, %s) <> %s) "
             "AS w ORDER BY length(word), word LIMIT %s")


def list_words(doc: str) -> list[str]:
    """What the word list takes of a ``document``: its distinct words of ``MIN_PART`` or more characters, sorted."""
    return sorted({w for w in doc.split(" ") if len(w) >= MIN_PART})


class KnownWords:
    """Words a SQLite store's word list is known to hold, kept by the process that writes to it.

    Looking every word of a document up in the list was the runner's
    costliest statement (0.24 ms a document, two documents for each new
    case), though nearly all of a message's words are listed already. Only
    the words not known here are sent to the store.

    A word becomes known when a statement finds it listed, once that
    statement's transaction commits; and only if this transaction did not
    add it itself, since the savepoint that added it may yet roll back (the
    runner's savepoint for each message). On SQLite no other writer commits
    while a transaction runs, so a word found listed and not added by us was
    committed before. A word leaves the list only through ``unlist``,
    which changes the ``WORDS_FORGOTTEN`` setting: the first lookup of each
    transaction reads it, and a new value empties what is known. PostgreSQL,
    with writers side by side, always asks the store: another daemon may
    forget words while a transaction runs, so known words there need every
    lookup to read the setting (``tests/test_search.py`` holds the case),
    and so built they changed the server's CPU per message by -1 % at the
    median of five before/after pairs of bench/ingest.py (one daemon, 0.90
    to 1.01), which is within its noise.
    """

    LIMIT = 200_000  # about 20 MB of words; past it, start again

    def __init__(self):
        self.words: set[str] = set()
        self.forgotten: str | None = None
        self._lock = threading.Lock()
        self._transaction = threading.local()  # .seen: found listed; .added: added by this transaction

    def unknown(self, db, found: list[str]) -> list[str]:
        """Those of ``found`` not known to be listed; the first call of a transaction checks for forgotten words."""
        state = self._transaction
        if getattr(state, "seen", None) is None:
            row = db.execute_sql(_FORGOTTEN, [WORDS_FORGOTTEN]).fetchone()
            with self._lock:
                if self.forgotten != (row[0] if row else ""):
                    self.words, self.forgotten = set(), row[0] if row else ""
            state.seen, state.added, state.forgotten = [], set(), self.forgotten
            db.at_transaction_end(self._ended)
        with self._lock:
            return [w for w in found if w not in self.words]

    def looked_up(self, words: list[str], added: set[str]) -> None:
        """``words`` were looked up in the list and ``added`` to it by this transaction; the rest were listed."""
        state = self._transaction
        state.added |= added
        state.seen.extend(w for w in words if w not in state.added)

    def forget(self) -> None:
        """Know nothing (this process is taking words off the list)."""
        with self._lock:
            self.words, self.forgotten = set(), None
        if getattr(self._transaction, "seen", None) is not None:
            self._transaction.seen = []

    def _ended(self, committed: bool) -> None:
        state = self._transaction
        seen, forgotten, state.seen, state.added = state.seen, getattr(state, "forgotten", None), None, set()
        if committed and seen:
            with self._lock:
                if forgotten != self.forgotten:
                    return  # words left the list since this transaction looked (another thread's)
                if len(self.words) + len(seen) > self.LIMIT:
                    self.words = set()
                self.words.update(seen)


_KNOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_KNOWN_LOCK = threading.Lock()


def _known_words(db) -> KnownWords | None:
    """This store's known words, or None where they cannot be kept (PostgreSQL, an in-memory store)."""
    if not hasattr(db, "at_transaction_end"):
        return None
    with _KNOWN_LOCK:
        known = _KNOWN.get(db)
        if known is None:
            known = _KNOWN[db] = KnownWords()
        return known


def remember_words(db, *docs: str) -> None:
    """Add the words of these documents that the word list lacks (in the caller's transaction)."""
    found = list_words(" ".join(docs))
    if not found:
        return
    if not is_sqlite(db):
        db.execute_sql(_PG_REMEMBER, [found])
        return
    known = _known_words(db) if db.in_transaction() else None
    if known is None:
        db.execute_sql(_SQLITE_REMEMBER, [json.dumps(found, ensure_ascii=False)])
        return
    missing = known.unknown(db, found)
    if missing:
        added = {row[0] for row in db.execute_sql(_SQLITE_REMEMBER_NEW, [json.dumps(missing, ensure_ascii=False)])}
        known.looked_up(missing, added)


def unlist(db, words: list[str]) -> int:
    """Take these words off the list (no document holds them any more); returns how many were listed."""
    gone = 0
    for word in words:
        if is_sqlite(db):
            row = db.execute_sql(f"SELECT id FROM {WORD_TABLE} WHERE word = ?", [word]).fetchone()
            if row:
                # The trigram index holds the list as external content: told of the delete by hand.
                db.execute_sql(f"INSERT INTO {WORD_GRAMS} ({WORD_GRAMS}, rowid, word) VALUES ('delete', ?, ?)",
                               [row[0], word])
                db.execute_sql(f"DELETE FROM {WORD_TABLE} WHERE id = ?", [row[0]])
                gone += 1
        else:
            gone += db.execute_sql(f"DELETE FROM {WORD_TABLE} WHERE word = %s", [word]).rowcount
    if gone:
        # Every process's known words are stale now (see KnownWords), this one's at once.
        token = secrets.token_hex(8)
        db.execute(Setting.insert(key=WORDS_FORGOTTEN, value=token).on_conflict(
            conflict_target=[Setting.key], update={Setting.value: token}))
        known = _known_words(db)
        if known is not None:
            known.forget()
    return gone


def parts(db, term: str) -> list[str]:
    """The listed words holding ``term`` other than at their start, shortest first, at most ``MAX_PARTS``.

    A word that starts with a shorter one of them is left out: looked up as a
    word start, the shorter one finds it too.
    """
    if len(term) < MIN_PART:
        return []
    if is_sqlite(db):
        rows = db.execute_sql(_SQLITE_PARTS, [f'"{term}"', len(term), term, 4 * MAX_PARTS]).fetchall()
    else:
        rows = db.execute_sql(_PG_PARTS, [f"%{term}%", len(term), term, 4 * MAX_PARTS]).fetchall()
    kept: list[str] = []
    for (word,) in rows:
        if not any(word.startswith(k) for k in kept):
            kept.append(word)
            if len(kept) == MAX_PARTS:
                break
    return kept

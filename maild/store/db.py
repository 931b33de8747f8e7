"""Opening the store: connect(url) for SQLite or PostgreSQL, and migrations.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is on disk before
the SMTP receiver answers ``250`` (RFC 5321 6.1; WAL with NORMAL "might roll
back following a power loss", MAIL_RULES 2). Write transactions begin
IMMEDIATE so two writers queue on the busy timeout instead of failing with
SQLITE_BUSY on a lock upgrade.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from peewee import Database, InterfaceError, OperationalError, SqliteDatabase
from playhouse import db_url
from playhouse.migrations import Runner
from playhouse.pool import PooledDatabase

from maild.store.models import database

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("synchronous", "full"),
    ("foreign_keys", 1),
    ("busy_timeout", 30000),
)

MIGRATIONS_DIR = str(Path(__file__).with_name("migrations"))

# PostgreSQL connections kept per process: more than the portal's threads and
# the daemon's together; a connection idle longer than POOL_STALE_SECONDS is
# closed rather than reused; a thread waits POOL_WAIT_SECONDS for a free one.
POOL_MAX, POOL_STALE_SECONDS, POOL_WAIT_SECONDS = 32, 300, 30

# Errors that mean "the store is not reachable now", as opposed to a bug.
UNAVAILABLE = (OperationalError, InterfaceError)


class QueuedSqliteDatabase(SqliteDatabase):
    """SQLite whose write transactions queue on an flock before BEGIN IMMEDIATE.

    SQLite's own busy handler polls with sleeps growing to 100 ms, so a writer
    that finds the database locked often sleeps long after it was released,
    while the holder takes the lock again at once: with the runner writing
    continuously, the SMTP receiver's commits (and so its 250s) starved. A
    blocking ``flock`` on ``<database>.lock`` wakes the next writer as soon as
    the lock is released, across threads and processes. Other programs that
    open the file without the lock still work, through SQLite's own locking.
    """

    def __init__(self, database, *args, **kwargs):
        self._lock_path = f"{database}.lock"
        self._lock_files = threading.local()
        self._at_end = threading.local()
        super().__init__(database, *args, **kwargs)

    def at_transaction_end(self, callback) -> None:
        """Call ``callback(committed)`` when this thread's current transaction ends: True once it committed, False
        if it rolled back (or the connection closed first).

        Only the outer transaction counts: a savepoint rolled back inside a
        transaction that then commits does not undo what the callback is told,
        so a caller records only what holds whichever savepoints fail
        (``maild/search.py``, the known words of the word list).
        """
        callbacks = getattr(self._at_end, "callbacks", None)
        if callbacks is None:
            callbacks = self._at_end.callbacks = []
        callbacks.append(callback)

    def _transaction_ended(self, committed: bool) -> None:
        callbacks, self._at_end.callbacks = getattr(self._at_end, "callbacks", None) or [], []
        for callback in callbacks:
            callback(committed)

    def _lock_file(self) -> int:
        file = getattr(self._lock_files, "file", None)
        if file is None:
            # One descriptor per thread: flock locks belong to an open file
            # description, so two threads of one process exclude each other too.
            # A file object, not a bare number: when a thread ends without
            # close() (a server's worker), its descriptor is closed with it.
            file = self._lock_files.file = os.fdopen(
                os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+b", buffering=0)
        return file.fileno()

    def begin(self, lock_type=None):
        fd = self._lock_file()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            super().begin(lock_type)
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise

    def _unlock(self) -> None:
        file = getattr(self._lock_files, "file", None)
        if file is not None:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    def commit(self):
        committed = False
        try:
            super().commit()
            committed = True
        finally:
            # Told before the lock is released: no other transaction has
            # begun yet, so none can have changed what the callback records.
            try:
                self._transaction_ended(committed)
            finally:
                self._unlock()

    def rollback(self):
        try:
            super().rollback()
        finally:
            try:
                self._transaction_ended(False)
            finally:
                self._unlock()

    def close(self):
        """Close this thread's connection and its lock file descriptor."""
        # Refused (raises) while a transaction is open: the transaction goes
        # on, and its writer lock stays held with it.
        closed = super().close()
        # Closed: nothing is left of a transaction.
        self._transaction_ended(False)
        file = getattr(self._lock_files, "file", None)
        if file is not None:
            self._lock_files.file = None
            file.close()
        return closed


def open_database(url: str) -> Database:
    """A peewee Database for a configuration URL, not yet bound to the models."""
    if url.startswith("sqlite:"):
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
        if not path or path == ":memory:":
            return db_url.connect(url, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return QueuedSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        # Pooled: the portal opens and closes the store around every request,
        # and a new PostgreSQL connection (a server process, its caches) cost
        # 5-15 ms of each page (bench/portal.py); close() now hands it back.
        # One kept too long may have been dropped by the server (a restart,
        # pg_terminate_backend): peewee's pool asks each one "SELECT 1" as it
        # is taken out, one round trip, and opens a new one instead.
        url = "postgresql+pool://" + url[len("postgresql://"):]
        return db_url.connect(url, unquote_password=True, max_connections=POOL_MAX,
                              stale_timeout=POOL_STALE_SECONDS, timeout=POOL_WAIT_SECONDS)
    return db_url.connect(url, unquote_password=True)


def connect(url: str) -> Database:
    """Open the store at ``url`` and bind the models to it."""
    db = open_database(url)
    database.initialize(db)
    return db


def is_sqlite(db: Database) -> bool:
    """Whether this database is SQLite (as opposed to PostgreSQL)."""
    return isinstance(db, SqliteDatabase)


def migrate(db: Database) -> list[str]:
    """Create or migrate the schema; idempotent. Returns the migrations applied."""
    return Runner(db, directory=MIGRATIONS_DIR).up()


def pending_migrations(db: Database) -> list[str]:
    """Names of migrations not yet applied (empty when the schema is current)."""
    return [m.name for m in Runner(db, directory=MIGRATIONS_DIR).status() if not m.applied]


def close(db: Database) -> None:
    """Close this thread's connection, if any."""
    if not db.is_closed():
        db.close()


def shutdown(db: Database) -> None:
    """Done with the store: close this thread's connection and every one a pool keeps idle."""
    close(db)
    if isinstance(db, PooledDatabase):
        db.close_idle()


__all__ = ["connect", "open_database", "migrate", "pending_migrations", "is_sqlite",
           "UNAVAILABLE", "close", "shutdown"]

"""Opening the store: connect(url) for SQLite or PostgreSQL, and migrations.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is on disk before
the SMTP receiver answers ``250`` (RFC 5321 6.1; WAL with NORMAL "might roll
back following a power loss", MAIL_RULES 2). Write transactions begin
IMMEDIATE so two writers queue on the busy timeout instead of failing with
SQLITE_BUSY on a lock upgrade.
"""

from __future__ import annotations

from pathlib import Path

from peewee import Database, OperationalError, InterfaceError
from playhouse import db_url
from playhouse.migrations import Runner

from maild.store.models import database

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("synchronous", "full"),
    ("foreign_keys", 1),
    ("busy_timeout", 30000),
)

MIGRATIONS_DIR = str(Path(__file__).with_name("migrations"))

# Errors that mean "the store is not reachable now", as opposed to a bug.
UNAVAILABLE = (OperationalError, InterfaceError)


def open_database(url: str) -> Database:
    """A peewee Database for a configuration URL, not yet bound to the models."""
    if url.startswith("sqlite:"):
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url[len("sqlite://"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return db_url.connect(url, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return db_url.connect(url, unquote_password=True)


def connect(url: str) -> Database:
    """Open the store at ``url`` and bind the models to it."""
    db = open_database(url)
    database.initialize(db)
    return db


def is_sqlite(db: Database) -> bool:
    """Whether this database is SQLite (as opposed to PostgreSQL)."""
    return db.__class__.__name__.startswith("Sqlite")


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


__all__ = ["connect", "open_database", "migrate", "pending_migrations", "is_sqlite",
           "UNAVAILABLE", "close"]

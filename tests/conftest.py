"""Fixtures: a fresh store per test on SQLite and on PostgreSQL, configs, capture SMTP.

Tests that take the ``ctx`` fixture run twice, once per store. In CI
(``CI=true``) a missing PostgreSQL is a failure, not a skip (TESTING.md).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
pytest_plugins = ["browser", "portalkit"]  # Chromium and axe-core; the running portal (site)

from servers import PG_BIN, CaptureServer, PostgresCluster, free_port, in_ci  # noqa: E402

from maild import config as configuration  # noqa: E402
from maild import context, runner, spool  # noqa: E402
from maild.store import db as store  # noqa: E402
from maild.store.models import database  # noqa: E402

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def base_settings(tmp_path: Path, url: str) -> dict:
    """A configuration document with two departments, rooted in tmp_path."""
    return {
        "site": {"mail_domain": "desk.example.test", "var_dir": str(tmp_path / "var"),
                 "base_url": "http://127.0.0.1:8080", "forms_dir": str(tmp_path / "forms")},
        "database": {"url": url},
        "smtp_in": {"listen": f"127.0.0.1:{free_port()}"},
        "smtp_out": {"transport": "maildir"},
        "departments": [
            {"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"],
             "agents": ["agent@example.test"], "notify": ["agent@example.test"]},
            {"slug": "hr", "name": "HR", "addresses": ["hr@example.test"],
             "agents": ["hr-agent@example.test"], "notify": ["hr-agent@example.test"], "language": "nb"},
        ],
    }


def merge(base: dict, overrides: dict) -> dict:
    """A copy of ``base`` with the tables of ``overrides`` merged in."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the whole session (or $SENSEDESK_TEST_PG)."""
    if os.environ.get("SENSEDESK_TEST_PG"):
        yield None
        return
    if not Path(PG_BIN, "postgres").exists():
        if in_ci():
            pytest.fail(f"PostgreSQL is not installed ({PG_BIN}); CI must run every test")
        pytest.skip("PostgreSQL 15 is not installed: apt-get install postgresql-15")
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def pg_url(pg_cluster):
    """One migrated PostgreSQL database for the session; tests empty it before use."""
    url = os.environ.get("SENSEDESK_TEST_PG") or pg_cluster.create_database("sensedesk_test")
    db = store.connect(url)
    store.migrate(db)
    store.shutdown(db)
    return url


_PG_STORES: dict[str, tuple[list[str], bool]] = {}


def _empty_postgres(url: str) -> None:
    """Empty every table but the migrations' record, and restart the ids.

    First every table is locked, as TRUNCATE would lock it: a transaction
    of an earlier test's process still ending (a runner stopping) is waited
    for, and none can start, so nothing of it reaches this test's rows. Then
    the tables holding rows -- a handful in most tests -- are emptied by
    DELETE with foreign keys unchecked, and the sequences that moved on are
    restarted. ~20 ms; a TRUNCATE took 150-250 ms, ~6 ms for each table in
    the closure of foreign keys it must take in (most of the store's, for
    a row in "case"), and is kept for a user who is not a superuser.
    """
    db = store.connect(url)
    if url not in _PG_STORES:
        _PG_STORES[url] = ([f'"{name}"' for (name,) in db.execute_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migration' ORDER BY table_name").fetchall()],
            db.execute_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0])
    tables, superuser = _PG_STORES[url]
    if not superuser:
        # Foreign keys can be left unchecked by a superuser only (the test
        # cluster's is one; $SENSEDESK_TEST_PG may name another user).
        db.execute_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    else:
        with db.atomic():
            db.execute_sql(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
            db.execute_sql("SET LOCAL session_replication_role = replica")  # foreign keys unchecked
            filled = [table for (table,) in db.execute_sql(" UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})" for t in tables)).fetchall()]
            for table in filled:
                db.execute_sql(f"DELETE FROM {table}")
            db.execute_sql("SELECT setval(quote_ident(sequencename)::regclass, start_value, false) "
                           "FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL "
                           "AND sequencename <> 'schema_migration_id_seq'")
    store.shutdown(db)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file for the session, copied for each test (migrating costs ~70 ms a test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "sensedesk.db"
    db = store.connect(f"sqlite:///{path}")
    store.migrate(db)
    store.shutdown(db)  # the last connection's close checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """The URL of an empty, migrated store: SQLite and PostgreSQL in turn."""
    if request.param == "sqlite":
        shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "sensedesk.db")
        return f"sqlite:///{tmp_path}/sensedesk.db"
    url = request.getfixturevalue("pg_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def make_config(tmp_path, store_url):
    """Build a validated Config for this test's store, with overrides."""
    def make(**overrides):
        return configuration.parse(merge(base_settings(tmp_path, store_url), overrides), "test")
    return make


def prepare(config) -> context.Context:
    """What ``sensedesk init`` does, then a Context."""
    db = store.connect(config["database"]["url"])
    store.migrate(db)
    context.ensure_settings(db)
    return context.build(config)


@pytest.fixture
def ctx(make_config):
    """A Context on a fresh store with the default test configuration."""
    c = prepare(make_config())
    yield c
    store.shutdown(c.db)


@pytest.fixture
def capture():
    """A running SMTP capture server."""
    server = CaptureServer()
    server.start()
    yield server
    server.stop()


def deliver(ctx, raw: bytes, rcpt=("helpdesk@example.test",), mail_from="kari@example.org",
            source="smtp", now=None):
    """Spool a message and run the runner until the spool is empty; returns the spool row."""
    from maild.store.models import Spool

    spool_id = spool.accept(ctx.db, raw, spool.Envelope(mail_from=mail_from, rcpt_tos=list(rcpt)), source)
    runner.drain(ctx, now=now)
    # With a daemon running (the ``site`` fixture) its runner may hold the row
    # claimed while this drain finds nothing due: wait for the row's end state.
    deadline = time.monotonic() + 30
    while (row := Spool.get_by_id(spool_id)).state == "claimed" and time.monotonic() < deadline:
        time.sleep(0.01)
        runner.drain(ctx, now=now)
    return row


@pytest.fixture(autouse=True)
def _close_store():
    yield
    try:
        database.obj and store.shutdown(database.obj)
    except Exception:  # the proxy may be uninitialised in pure unit tests
        pass


@pytest.fixture
def daemon(make_config, capture):
    """The mail daemon running in this process, sending to the capture server."""
    from maild.daemon import Daemon

    config = make_config(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port})
    store.shutdown(prepare(config).db)
    running = Daemon(config)
    running.start()
    running.capture = capture
    yield running
    running.stop()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll ``predicate`` until it returns something true; fail after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class refusing:
    """A trigger that makes the store refuse some inserts, as a broken disk or database would.

    ``when`` is an SQL condition on ``NEW`` (the same text on SQLite and
    PostgreSQL), e.g. ``NEW.subject = 'poison'``; ``"1 = 1"`` refuses every row.
    Used as a context manager; the trigger is gone afterwards.
    """

    def __init__(self, db, table: str, when: str, name: str = "refuse"):
        self.db, self.table, self.when, self.name = db, table, when, name

    def __enter__(self):
        from maild.store.db import is_sqlite

        if is_sqlite(self.db):
            self.db.execute_sql(f"CREATE TRIGGER {self.name} BEFORE INSERT ON {self.table} WHEN {self.when} "
                                f"BEGIN SELECT RAISE(ABORT, 'refused by {self.name}'); END")
        else:
            self.db.execute_sql(f"CREATE FUNCTION {self.name}() RETURNS trigger AS $$ BEGIN "
                                f"IF {self.when} THEN RAISE EXCEPTION 'refused by {self.name}'; END IF; "
                                f"RETURN NEW; END $$ LANGUAGE plpgsql")
            self.db.execute_sql(f"CREATE TRIGGER {self.name} BEFORE INSERT ON {self.table} "
                                f"FOR EACH ROW EXECUTE FUNCTION {self.name}()")
        return self

    def __exit__(self, *exc):
        from maild.store.db import is_sqlite

        if is_sqlite(self.db):
            self.db.execute_sql(f"DROP TRIGGER {self.name}")
        else:
            self.db.execute_sql(f"DROP TRIGGER {self.name} ON {self.table}")
            self.db.execute_sql(f"DROP FUNCTION {self.name}()")

"""Approvals asked in turn: when each was asked, reminded and decided, and a case that waits for them."""

import datetime


def up(migrator, db):
    # Plain ADD COLUMN with a default, on both stores (see 0005): the "case"
    # table is never rebuilt, so the search trigger on it stays.
    db.execute_sql('ALTER TABLE "case" ADD COLUMN "awaiting_approval" BOOLEAN NOT NULL DEFAULT FALSE')
    for column, kind in (('requested_by', "VARCHAR(255) NOT NULL DEFAULT ''"),
                         ('question', "TEXT NOT NULL DEFAULT ''"),
                         ('asked_at', 'TIMESTAMP'),
                         ('reminded_at', 'TIMESTAMP'),
                         ('decided_via', "VARCHAR(255) NOT NULL DEFAULT ''")):
        db.execute_sql(f'ALTER TABLE "approval" ADD COLUMN "{column}" {kind}')
    db.execute_sql('CREATE INDEX "approval_state" ON "approval" ("state")')
    # Approvals recorded by forms before this flow existed were never asked,
    # and their cases never waited: asking them now, months later, would
    # surprise everyone, and they would stand before any approval an agent
    # asks for. They are cancelled, with the time of this upgrade.
    # (Times are naive UTC, as everywhere in the store.)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    db.execute_sql(f"UPDATE \"approval\" SET \"state\" = 'cancelled', \"decided_at\" = {db.param} "
                   "WHERE \"state\" = 'pending' AND \"asked_at\" IS NULL", (now,))


def down(migrator, db):
    db.execute_sql('DROP INDEX "approval_state"')
    for column in ('requested_by', 'question', 'asked_at', 'reminded_at', 'decided_via'):
        db.execute_sql(f'ALTER TABLE "approval" DROP COLUMN "{column}"')
    db.execute_sql('ALTER TABLE "case" DROP COLUMN "awaiting_approval"')

"""A person may read times in a zone of their own (IANA name; empty: [site] timezone)."""


def up(migrator, db):
    # Plain ADD COLUMN with a default, on both stores (see 0005).
    db.execute_sql('ALTER TABLE "person" ADD COLUMN "timezone" VARCHAR(255) NOT NULL DEFAULT \'\'')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "person" DROP COLUMN "timezone"')

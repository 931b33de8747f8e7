"""A spool row may carry a larger budget for reading its message, given by `sensedesk spool retry`."""


def up(migrator, db):
    # Nullable columns: NULL is "the configured budget" (maild/mail/worker.py).
    db.execute_sql('ALTER TABLE "spool" ADD COLUMN "parse_seconds" INTEGER')
    db.execute_sql('ALTER TABLE "spool" ADD COLUMN "parse_megabytes" INTEGER')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "spool" DROP COLUMN "parse_seconds"')
    db.execute_sql('ALTER TABLE "spool" DROP COLUMN "parse_megabytes"')

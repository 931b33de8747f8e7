"""A person whose address bounced permanently is not mailed for a while (MAIL_RULES 30)."""


def up(migrator, db):
    # Plain ADD COLUMN, nullable, on both stores (see 0005).
    db.execute_sql('ALTER TABLE "person" ADD COLUMN "undeliverable_until" TIMESTAMP')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "person" DROP COLUMN "undeliverable_until"')

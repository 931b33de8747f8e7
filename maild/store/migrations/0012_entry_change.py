"""An event entry names the change it records ("closed", "moved:hr" …), so the customer's history can say it in their language."""


def up(migrator, db):
    # Plain ADD COLUMN with a default, on both stores (see 0005).
    db.execute_sql('ALTER TABLE "entry" ADD COLUMN "change" VARCHAR(255) NOT NULL DEFAULT \'\'')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "entry" DROP COLUMN "change"')

"""A spool row names the runner that claimed it, and when: several daemons may share a PostgreSQL store.

On PostgreSQL a runner claims its rows (state ``claimed``) in a committed
transaction of their own before it reads them, so that no two runners read
and thread the same message, and a claim left by a runner that died is
found by its claimer (``host:pid``) or its age and handed back
(maild/runner.py). ``next_attempt_at`` now also holds back a ``new`` row:
a reply whose original is still being processed waits for it.
"""


def up(migrator, db):
    db.execute_sql("ALTER TABLE \"spool\" ADD COLUMN \"claimed_by\" VARCHAR(255) NOT NULL DEFAULT ''")
    db.execute_sql('ALTER TABLE "spool" ADD COLUMN "claimed_at" TIMESTAMP')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "spool" DROP COLUMN "claimed_by"')
    db.execute_sql('ALTER TABLE "spool" DROP COLUMN "claimed_at"')

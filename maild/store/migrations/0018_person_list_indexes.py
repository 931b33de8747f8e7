"""A customer's list of cases: indexes its count and page can use alone.

My requests joins a person's cases (``participant``) with the cases of the
tab's statuses. With single-column indexes PostgreSQL hashed the person's
500 cases and read the row of every active case of every customer (5,000 at
100,000 cases) to check its id, and read the person's participant rows from
the table: 4-5 ms for the count and again for the page (bench/portal.py).
With (status, updated_at, id) both read the index alone (1.3 ms each), and
with (person_id, case_id) the person's cases come from the index alone.
Each replaces the single-column index it begins with.
"""


def up(migrator, db):
    db.execute_sql('CREATE INDEX "case_status_updated_at_id" ON "case" ("status", "updated_at", "id")')
    db.execute_sql('CREATE INDEX "participant_person_id_case_id" ON "participant" ("person_id", "case_id")')
    db.execute_sql('DROP INDEX "case_status"')
    db.execute_sql('DROP INDEX "participant_person_id"')


def down(migrator, db):
    db.execute_sql('CREATE INDEX "case_status" ON "case" ("status")')
    db.execute_sql('CREATE INDEX "participant_person_id" ON "participant" ("person_id")')
    db.execute_sql('DROP INDEX "case_status_updated_at_id"')
    db.execute_sql('DROP INDEX "participant_person_id_case_id"')

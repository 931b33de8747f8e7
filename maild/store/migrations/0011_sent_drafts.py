"""A form draft that was sent keeps the number of the case it opened, so the browser's Back can say so."""


def up(migrator, db):
    # Plain ADD COLUMN, nullable, on both stores (see 0005).
    db.execute_sql('ALTER TABLE "form_draft" ADD COLUMN "sent_case" INTEGER')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "form_draft" DROP COLUMN "sent_case"')

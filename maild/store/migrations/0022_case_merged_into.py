"""A case merged into another names it: mail that finds the merged case's number lands on the other (maild/merge.py)."""


def up(migrator, db):
    db.execute_sql('ALTER TABLE "case" ADD COLUMN "merged_into" INTEGER')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "case" DROP COLUMN "merged_into"')

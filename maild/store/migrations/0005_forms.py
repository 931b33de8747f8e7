"""Intake forms: case request type and tags, an entry's answers, drafts and approvals (frozen copies)."""
from peewee import *


def up(migrator, db):
    class Person(Model):
        class Meta:
            database = db
            table_name = 'person'

    class Case(Model):
        class Meta:
            database = db
            table_name = 'case'

    class FormDraft(Model):
        id = CharField(primary_key=True)
        person = ForeignKeyField(Person, on_delete='CASCADE')
        form_id = CharField()
        answers = TextField(default='{}')
        files = TextField(default='{}')
        done = TextField(default='[]')
        created_at = DateTimeField()
        updated_at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = 'form_draft'

    class Approval(Model):
        case = ForeignKeyField(Case, on_delete='CASCADE', index=True)
        approver = CharField()
        position = IntegerField(default=1)
        state = CharField(default='pending')
        source = CharField(default='form')
        requested_at = DateTimeField()
        decided_at = DateTimeField(null=True)
        comment = TextField(default='')

        class Meta:
            database = db
            table_name = 'approval'

    # Plain ADD COLUMN with a default, on both stores: peewee's SQLite migrator
    # makes a column NOT NULL by rebuilding the table, which would drop the
    # table's triggers (the search index's, 0003).
    db.execute_sql('ALTER TABLE "case" ADD COLUMN "request_type" VARCHAR(255) NOT NULL DEFAULT \'\'')
    db.execute_sql('ALTER TABLE "case" ADD COLUMN "tags" TEXT NOT NULL DEFAULT \'[]\'')
    db.execute_sql('ALTER TABLE "entry" ADD COLUMN "answers" TEXT')
    db.create_tables([FormDraft, Approval])


def down(migrator, db):
    db.execute_sql('DROP TABLE approval')
    db.execute_sql('DROP TABLE form_draft')
    for table, column in (('entry', 'answers'), ('case', 'tags'), ('case', 'request_type')):
        db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "{column}"')

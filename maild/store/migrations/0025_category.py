"""Categories: one tree per department, and a case's place in it (a frozen copy of the model)."""
from peewee import *
import datetime


def up(migrator, db):
    class Category(Model):
        department = CharField()
        path = CharField(max_length=255)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            table_name = 'category'
            indexes = ((('department', 'path'), True),)

    db.create_tables([Category])
    db.execute_sql('ALTER TABLE "case" ADD COLUMN "category" INTEGER')


def down(migrator, db):
    db.execute_sql('ALTER TABLE "case" DROP COLUMN "category"')
    db.execute_sql('DROP TABLE category')

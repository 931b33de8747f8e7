"""Saved searches: an agent's named queue view, their own or shared with a department (a frozen copy of the model)."""
from peewee import *
import datetime


def up(migrator, db):
    class Person(Model):
        class Meta:
            database = db
            table_name = 'person'

    class SavedSearch(Model):
        name = CharField(max_length=80)
        owner = ForeignKeyField(Person, on_delete='CASCADE', index=True)
        department = CharField(default='')
        query = CharField(max_length=1000)
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            table_name = 'saved_search'

    db.create_tables([SavedSearch])


def down(migrator, db):
    db.execute_sql('DROP TABLE saved_search')

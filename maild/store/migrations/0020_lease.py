"""Leases: work that one daemon of several sharing a store does at a time (a frozen copy of the model)."""
from peewee import *


def up(migrator, db):
    class Lease(Model):
        name = CharField(max_length=300, primary_key=True)
        holder = CharField(max_length=300, default='')
        until = DateTimeField()

        class Meta:
            database = db
            table_name = 'lease'

    db.create_tables([Lease])


def down(migrator, db):
    db.execute_sql('DROP TABLE lease')

"""Each running daemon's report on its parts, for `sensedesk check` (a frozen copy of the model)."""
from peewee import *


def up(migrator, db):
    class Heartbeat(Model):
        name = CharField(max_length=300, unique=True)
        started_at = DateTimeField()
        beat_at = DateTimeField()
        parts = TextField(default='{}')

        class Meta:
            database = db
            table_name = 'heartbeat'

    db.create_tables([Heartbeat])


def down(migrator, db):
    db.execute_sql('DROP TABLE heartbeat')

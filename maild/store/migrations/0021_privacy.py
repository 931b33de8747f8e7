"""Personvern: counts left by deleted cases, and the record of who looked at what (a frozen copy of the models)."""
from peewee import *
import datetime


def up(migrator, db):
    class CaseTally(Model):
        department = CharField(index=True)
        opened_at = DateTimeField()
        closed_at = DateTimeField(null=True)
        messages = IntegerField(default=0)
        deleted_at = DateTimeField(default=datetime.datetime.utcnow)
        reason = CharField(default='retention')

        class Meta:
            database = db
            table_name = 'case_tally'

    class AccessLog(Model):
        at = DateTimeField(default=datetime.datetime.utcnow, index=True)
        agent = CharField()
        case_id = IntegerField(null=True, index=True)
        what = CharField()
        detail = CharField(default='', max_length=255)

        class Meta:
            database = db
            table_name = 'access_log'
            indexes = ((('agent', 'at'), False),)

    db.create_tables([CaseTally, AccessLog])


def down(migrator, db):
    db.execute_sql('DROP TABLE access_log')
    db.execute_sql('DROP TABLE case_tally')

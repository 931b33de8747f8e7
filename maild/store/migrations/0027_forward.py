"""Cases forwarded to outside parties, one row per case and party (a frozen copy of the model)."""
from peewee import *
import datetime


def up(migrator, db):
    class Case(Model):
        class Meta:
            database = db
            table_name = 'case'

    class Forward(Model):
        case = ForeignKeyField(Case, on_delete='CASCADE', index=True)
        address = CharField()
        name = CharField(default='')
        agent = CharField(default='')
        created_at = DateTimeField(default=datetime.datetime.utcnow)
        last_sent_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            table_name = 'forward'
            indexes = ((('case', 'address'), True),)

    db.create_tables([Forward])


def down(migrator, db):
    db.execute_sql('DROP TABLE forward')

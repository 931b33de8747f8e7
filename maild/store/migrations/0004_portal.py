"""Portal sessions, one-time login links and rate-limit events (frozen copies of the models)."""
from peewee import *


def up(migrator, db):
    class Person(Model):
        class Meta:
            database = db
            table_name = 'person'

    class PortalSession(Model):
        id_hash = CharField(primary_key=True)
        person = ForeignKeyField(Person, on_delete='CASCADE')
        created_at = DateTimeField()
        last_seen_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'portal_session'

    class LoginLink(Model):
        token_hash = CharField(unique=True)
        email = CharField(index=True)
        created_at = DateTimeField()
        expires_at = DateTimeField()
        used_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = 'login_link'

    class RateEvent(Model):
        key = CharField(index=True)
        at = DateTimeField(index=True)

        class Meta:
            database = db
            table_name = 'rate_event'
    db.create_tables([PortalSession, LoginLink, RateEvent])


def down(migrator, db):
    for table in ('rate_event', 'login_link', 'portal_session'):
        db.execute_sql(f'DROP TABLE {table}')

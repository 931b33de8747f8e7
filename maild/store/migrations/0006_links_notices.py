"""Published links, operational notices and their subscriptions (frozen copies of the models)."""
from peewee import *


def up(migrator, db):
    class Person(Model):
        class Meta:
            database = db
            table_name = 'person'

    class Link(Model):
        title = CharField(max_length=200)
        url = CharField(max_length=2000)
        description = TextField(default='')
        department = CharField(default='')
        position = IntegerField(default=0)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'link'

    class Notice(Model):
        title = CharField(max_length=200)
        text = TextField(default='')
        severity = CharField(default='info')
        departments = TextField(default='[]')
        starts_at = DateTimeField()
        ends_at = DateTimeField(null=True)
        resolved_at = DateTimeField(null=True, index=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'notice'

    class NoticeSubscription(Model):
        person = ForeignKeyField(Person, on_delete='CASCADE')
        department = CharField(default='')
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'notice_subscription'
            indexes = ((('person', 'department'), True),)

    db.create_tables([Link, Notice, NoticeSubscription])


def down(migrator, db):
    for table in ('notice_subscription', 'notice', 'link'):
        db.execute_sql(f'DROP TABLE {table}')

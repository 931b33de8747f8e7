"""Case templates: the case an agent opens for a customer, ready-made per department (a frozen copy of the model)."""
from peewee import *
import datetime


def up(migrator, db):
    class CaseTemplate(Model):
        name = CharField(max_length=80)
        department = CharField()
        subject = CharField(max_length=255, default='')
        body = TextField(default='')
        category = IntegerField(null=True)
        priority = CharField(default='normal')
        request_type = CharField(default='')
        updated_at = DateTimeField(default=datetime.datetime.utcnow)
        updated_by = CharField(default='')

        class Meta:
            database = db
            table_name = 'case_template'
            indexes = ((('department', 'name'), True),)

    db.create_tables([CaseTemplate])


def down(migrator, db):
    db.execute_sql('DROP TABLE case_template')

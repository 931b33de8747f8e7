"""Reply templates (maler): a department's or shared stock answers, in English or Norwegian (a frozen copy of the model)."""
from peewee import *
import datetime


def up(migrator, db):
    class ReplyTemplate(Model):
        name = CharField(max_length=40)
        department = CharField(default='')
        language = CharField(default='en')
        body = TextField(default='')
        updated_at = DateTimeField(default=datetime.datetime.utcnow)
        updated_by = CharField(default='')

        class Meta:
            database = db
            table_name = 'reply_template'
            indexes = ((('name', 'department', 'language'), True),)

    db.create_tables([ReplyTemplate])


def down(migrator, db):
    db.execute_sql('DROP TABLE reply_template')

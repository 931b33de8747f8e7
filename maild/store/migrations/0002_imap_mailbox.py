"""The IMAP cursor and status table (frozen copy of the model as it was added)."""
from peewee import *


def up(migrator, db):
    class ImapMailbox(Model):
        account = CharField()
        folder = CharField()
        uidvalidity = BigIntegerField(default=0)
        last_uid = BigIntegerField(default=0)
        last_success = DateTimeField(null=True)
        last_error = TextField(default='')
        failures = IntegerField(default=0)

        class Meta:
            database = db
            table_name = 'imap_mailbox'
            indexes = ((('account', 'folder'), True),)
    db.create_tables([ImapMailbox])


def down(migrator, db):
    db.execute_sql('DROP TABLE imap_mailbox')

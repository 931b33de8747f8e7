"""Initial schema of the Sensedesk store (generated from the models, then frozen)."""
from peewee import *
from maild.store.models import JSONField


def up(migrator, db):
    class Person(Model):
        email = CharField(unique=True)
        name = CharField(default='')
        role = CharField(default='customer')
        password_hash = CharField(null=True)
        language = CharField(default='')
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'person'
    db.create_tables([Person])

    class Case(Model):
        department = CharField(index=True)
        subject = CharField()
        status = CharField(index=True, default='new')
        requester = ForeignKeyField(Person)
        assignee = ForeignKeyField(Person, null=True)
        linked_to = ForeignKeyField('self', null=True)
        priority = CharField(default='normal')
        created_at = DateTimeField()
        updated_at = DateTimeField(index=True)
        closed_at = DateTimeField(null=True)
        thread_topic = CharField(default='')
        thread_index = CharField(default='')
        class Meta:
            database = db
            table_name = 'case'
    db.create_tables([Case])

    class Entry(Model):
        case = ForeignKeyField(Case, on_delete='CASCADE')
        kind = CharField()
        public = BooleanField(default=True)
        author = ForeignKeyField(Person, null=True)
        subject = CharField(default='')
        body_text = TextField(default='')
        body_html = TextField(default='')
        message_id = CharField(index=True, default='')
        spool_id = IntegerField(null=True)
        unverified = BooleanField(default=False)
        automatic = BooleanField(default=False)
        defects = JSONField(default=list)
        created_at = DateTimeField()
        class Meta:
            database = db
            table_name = 'entry'
    db.create_tables([Entry])

    class Blob(Model):
        sha256 = CharField(primary_key=True)
        size = IntegerField()
        data = BlobField()
        class Meta:
            database = db
            table_name = 'blob'
    db.create_tables([Blob])

    class Attachment(Model):
        entry = ForeignKeyField(Entry, on_delete='CASCADE')
        blob = ForeignKeyField(Blob)
        filename = CharField()
        content_type = CharField(default='application/octet-stream')
        content_id = CharField(default='')
        inline = BooleanField(default=False)
        class Meta:
            database = db
            table_name = 'attachment'
    db.create_tables([Attachment])

    class InboundMessage(Model):
        message_id = CharField()
        body_sha256 = CharField()
        spool_id = IntegerField()
        entry = ForeignKeyField(Entry, null=True, on_delete='SET NULL')
        class Meta:
            database = db
            table_name = 'inbound_message'
            indexes = ((('message_id', 'body_sha256'), True),)
    db.create_tables([InboundMessage])

    class Membership(Model):
        person = ForeignKeyField(Person, on_delete='CASCADE')
        department = CharField()
        class Meta:
            database = db
            table_name = 'membership'
            indexes = ((('person', 'department'), True),)
    db.create_tables([Membership])

    class MessageRef(Model):
        message_id = CharField(index=True)
        case = ForeignKeyField(Case, on_delete='CASCADE')
        outbound = BooleanField(default=False)
        class Meta:
            database = db
            table_name = 'message_ref'
    db.create_tables([MessageRef])

    class Outbox(Model):
        created_at = DateTimeField()
        case = ForeignKeyField(Case, null=True, on_delete='SET NULL')
        kind = CharField()
        automatic = BooleanField(default=True)
        mail_from = CharField()
        recipient = CharField()
        subject = CharField(default='')
        message_id = CharField(unique=True)
        raw = BlobField()
        state = CharField(index=True, default='queued')
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField(index=True)
        claimed_at = DateTimeField(null=True)
        claimed_by = CharField(default='')
        sent_at = DateTimeField(null=True)
        last_error = TextField(default='')
        class Meta:
            database = db
            table_name = 'outbox'
            indexes = ((('recipient', 'created_at'), False),)
    db.create_tables([Outbox])

    class Participant(Model):
        case = ForeignKeyField(Case, on_delete='CASCADE')
        person = ForeignKeyField(Person)
        role = CharField(default='cc')
        class Meta:
            database = db
            table_name = 'participant'
            indexes = ((('case', 'person'), True),)
    db.create_tables([Participant])

    class Setting(Model):
        key = CharField(primary_key=True)
        value = TextField()
        class Meta:
            database = db
            table_name = 'setting'
    db.create_tables([Setting])

    class Spool(Model):
        received_at = DateTimeField(index=True)
        source = CharField()
        mail_from = CharField(default='')
        rcpt_tos = JSONField(default=list)
        peer = CharField(default='')
        helo = CharField(default='')
        raw = BlobField()
        raw_sha256 = CharField(unique=True)
        message_id = CharField(index=True, default='')
        state = CharField(index=True, default='new')
        attempts = IntegerField(default=0)
        next_attempt_at = DateTimeField(null=True)
        reason = TextField(default='')
        hits = JSONField(default=list)
        trace = JSONField(default=list)
        error = TextField(default='')
        case_id = IntegerField(index=True, null=True)
        entry_id = IntegerField(null=True)
        processed_at = DateTimeField(null=True)
        class Meta:
            database = db
            table_name = 'spool'
    db.create_tables([Spool])


def down(migrator, db):
    migrator.migrate(migrator.drop_table('spool'))
    migrator.migrate(migrator.drop_table('setting'))
    migrator.migrate(migrator.drop_table('participant'))
    migrator.migrate(migrator.drop_table('outbox'))
    migrator.migrate(migrator.drop_table('message_ref'))
    migrator.migrate(migrator.drop_table('membership'))
    migrator.migrate(migrator.drop_table('inbound_message'))
    migrator.migrate(migrator.drop_table('attachment'))
    migrator.migrate(migrator.drop_table('blob'))
    migrator.migrate(migrator.drop_table('entry'))
    migrator.migrate(migrator.drop_table('case'))
    migrator.migrate(migrator.drop_table('person'))

"""The store's tables, as peewee models bound to one DatabaseProxy.

Times are naive UTC datetimes. Everything the daemon receives or sends has a
row here: the spool holds raw inbound bytes, the outbox the rendered outbound
bytes, so a crash anywhere loses nothing (docs/architecture.md, the three promises).
"""

from __future__ import annotations

import datetime
import json

from peewee import (BigIntegerField, BlobField, BooleanField, CharField, DatabaseProxy, DateTimeField,
                    ForeignKeyField, IntegerField, Model, TextField, AutoField)

database = DatabaseProxy()


def utcnow() -> datetime.datetime:
    """The current time as a naive UTC datetime, the store's convention."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


# A case's priority, most urgent last; and the kinds of request a form may set
# and an agent may choose ("" when none was said).
PRIORITIES = ("low", "normal", "high", "urgent")
REQUEST_TYPES = ("incident", "service_request", "question", "change", "access")


class JSONField(TextField):
    """A JSON document kept as text, so SQLite and PostgreSQL store it alike."""

    def db_value(self, value):
        """Python value to stored text."""
        return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)

    def python_value(self, value):
        """Stored text to Python value."""
        return None if value is None else json.loads(value)


class BaseModel(Model):
    """Every model lives in the one store behind ``database``."""

    class Meta:
        database = database
        legacy_table_names = False


class Setting(BaseModel):
    """Values the store keeps for itself: the signing secret, the instance id, reports sent."""

    key = CharField(primary_key=True)
    value = TextField()


class Person(BaseModel):
    """Anyone with an email address: customer, agent or admin."""

    email = CharField(unique=True)  # lowercased
    name = CharField(default="")
    role = CharField(default="customer")  # customer | agent | admin
    password_hash = CharField(null=True)
    # "en" or "nb": their choice in the portal, else the language of their first message.
    language = CharField(default="")
    # An IANA zone they read times in; "" for [site] timezone.
    timezone = CharField(default="")
    created_at = DateTimeField(default=utcnow)
    # Set when mail to the address bounced permanently (MAIL_RULES 30): no
    # notification goes to it until then, or until the person writes again.
    undeliverable_until = DateTimeField(null=True)


class Membership(BaseModel):
    """An agent's membership of a department (by slug)."""

    person = ForeignKeyField(Person, backref="memberships", on_delete="CASCADE")
    department = CharField()

    class Meta:
        indexes = ((("person", "department"), True),)


class Spool(BaseModel):
    """One raw inbound message exactly as received, and what became of it."""

    id = AutoField()
    received_at = DateTimeField(default=utcnow, index=True)
    source = CharField()  # smtp | pipe | imap:<account>/<folder>/<uidvalidity>/<uid>
    mail_from = CharField(default="")  # "" for the null reverse-path <>
    rcpt_tos = JSONField(default=list)
    peer = CharField(default="")
    helo = CharField(default="")
    raw = BlobField()
    raw_sha256 = CharField(unique=True)  # an identical redelivery is one row
    message_id = CharField(default="", index=True)  # normalised, without <>
    state = CharField(default="new", index=True)  # new | claimed | processed | ignored | failed
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    reason = TextField(default="")  # the rule that ignored it, or the error
    hits = JSONField(default=list)  # names of the rules that matched
    trace = JSONField(default=list)  # how threading decided
    error = TextField(default="")  # traceback of the last failure
    case_id = IntegerField(null=True, index=True)
    entry_id = IntegerField(null=True)
    processed_at = DateTimeField(null=True)
    # A larger budget for reading this message, given by `spool retry`; None: [mail] parse_*.
    parse_seconds = IntegerField(null=True)
    parse_megabytes = IntegerField(null=True)
    # The runner that took the row (``host:pid``) and when; PostgreSQL only (maild/runner.py).
    claimed_by = CharField(default="")
    claimed_at = DateTimeField(null=True)


class Case(BaseModel):
    """One request, numbered; the number is the id, shown as SD-N."""

    id = AutoField()
    department = CharField()  # indexed first in (department, status, updated_at)
    subject = CharField(max_length=255)
    status = CharField(default="new")  # new | open | pending | closed; first in (status, updated_at, id)
    requester = ForeignKeyField(Person, backref="requested", index=True)
    assignee = ForeignKeyField(Person, null=True, backref="assigned", index=False)  # first in (assignee, status, …)
    linked_to = ForeignKeyField("self", null=True, backref="links")
    priority = CharField(default="normal")  # PRIORITIES
    request_type = CharField(default="")  # incident | service_request | question | … (from a form)
    tags = JSONField(default=list)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow, index=True)
    closed_at = DateTimeField(null=True)
    thread_topic = CharField(default="", max_length=255)
    thread_index = CharField(default="", max_length=255)
    # True while approvals are asked and none refused: the case waits (SPEC 5, Approvals).
    awaiting_approval = BooleanField(default=False)
    # The case this one was merged into (maild/merge.py): its number threads there.
    merged_into = IntegerField(null=True)
    # The id of its Category in its department's tree (maild/categories.py); None: none chosen.
    category = IntegerField(null=True)

    class Meta:
        # The agents' queue: each tab's count from the index alone, its page in order (migration 0015);
        # a customer's list by status, the same (migration 0018).
        indexes = ((("department", "status", "updated_at"), False), (("assignee", "status", "department"), False),
                   (("status", "updated_at", "id"), False))


class Participant(BaseModel):
    """A person on a case: the requester and everyone copied."""

    case = ForeignKeyField(Case, backref="participants", on_delete="CASCADE")
    person = ForeignKeyField(Person, backref="participations", index=False)  # first in (person, case)
    role = CharField(default="cc")  # requester | cc

    class Meta:
        # (person, case): a person's cases from the index alone (My requests, migration 0018).
        indexes = ((("case", "person"), True), (("person", "case"), False))


class Entry(BaseModel):
    """One item of a case's history: a message, a reply, a note or an event."""

    case = ForeignKeyField(Case, backref="entries", on_delete="CASCADE", index=True)
    kind = CharField()  # message | reply | note | event | bounce | auto
    public = BooleanField(default=True)
    author = ForeignKeyField(Person, null=True, backref="entries")
    subject = CharField(default="", max_length=255)
    body_text = TextField(default="")
    body_html = TextField(default="")
    message_id = CharField(default="", index=True)
    spool_id = IntegerField(null=True)
    unverified = BooleanField(default=False)
    automatic = BooleanField(default=False)
    defects = JSONField(default=list)
    answers = JSONField(null=True)  # an intake form's answers, as submitted: {"form": id, "answers": {...}}
    created_at = DateTimeField(default=utcnow)
    # An event's change, for each history to say in its reader's language (cases.event):
    # "closed", "reopened:<how>", "solved", "status:pending", "moved:hr", "approval_asked:<address>",
    # "approved:<address>", "rejected:<address>" (the customer's history too); "assigned:<address>",
    # "set:priority=high", "commands:#close" … (the agents' only); "" for events from before.
    change = CharField(default="", max_length=255)


class InboundMessage(BaseModel):
    """Exactly-once key of processed inbound mail: Message-ID and body digest.

    A second delivery of the same message (SMTP retry, IMAP and SMTP both) hits
    the unique index and is ignored as a duplicate; a different message reusing
    a Message-ID has another body digest and is kept (MAIL_RULES 3, 4).
    """

    message_id = CharField()
    body_sha256 = CharField()
    spool_id = IntegerField()
    entry = ForeignKeyField(Entry, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("message_id", "body_sha256"), True),)


class MessageRef(BaseModel):
    """A Message-ID known to belong to a case, inbound or outbound (threading rule 2)."""

    message_id = CharField(index=True)
    case = ForeignKeyField(Case, on_delete="CASCADE")
    outbound = BooleanField(default=False)


class Blob(BaseModel):
    """Attachment content, stored once by SHA-256."""

    sha256 = CharField(primary_key=True)
    size = IntegerField()
    data = BlobField()


class Attachment(BaseModel):
    """A file on an entry: a name and type pointing at shared content."""

    entry = ForeignKeyField(Entry, backref="attachments", on_delete="CASCADE", index=True)
    blob = ForeignKeyField(Blob, backref="uses")
    filename = CharField(max_length=255)
    content_type = CharField(default="application/octet-stream")
    content_id = CharField(default="")
    inline = BooleanField(default=False)


class Outbox(BaseModel):
    """One outbound message to one recipient, rendered, with its fixed Message-ID."""

    id = AutoField()
    created_at = DateTimeField(default=utcnow)
    case = ForeignKeyField(Case, null=True, on_delete="SET NULL")
    kind = CharField()  # ack | new_case | customer_reply | …
    automatic = BooleanField(default=True)
    mail_from = CharField()  # envelope sender
    recipient = CharField()  # one envelope recipient, lowercased
    subject = CharField(default="", max_length=255)
    message_id = CharField(unique=True)
    raw = BlobField()
    state = CharField(default="queued", index=True)  # queued | sending | sent | dead
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow, index=True)
    claimed_at = DateTimeField(null=True)
    claimed_by = CharField(default="")  # host:pid of the worker sending it
    sent_at = DateTimeField(null=True)
    last_error = TextField(default="")

    class Meta:
        indexes = ((("recipient", "created_at"), False),)


class ImapMailbox(BaseModel):
    """Where fetching one IMAP account's folder has got to, and how it is going.

    The cursor is (UIDVALIDITY, last UID), never the \\Seen flag: a person
    reading the mailbox changes nothing (MAIL_RULES 16, 17).
    """

    account = CharField()
    folder = CharField()
    uidvalidity = BigIntegerField(default=0)
    last_uid = BigIntegerField(default=0)
    last_success = DateTimeField(null=True)
    last_error = TextField(default="")
    failures = IntegerField(default=0)

    class Meta:
        indexes = ((("account", "folder"), True),)


class PortalSession(BaseModel):
    """A logged-in browser. The cookie holds a random id; the store keeps only its SHA-256."""

    id_hash = CharField(primary_key=True)
    person = ForeignKeyField(Person, backref="sessions", on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)


class LoginLink(BaseModel):
    """A one-time login link sent by email: its SHA-256, the address it proves, when it ends."""

    token_hash = CharField(unique=True)
    email = CharField(index=True)  # lowercased
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class RateEvent(BaseModel):
    """One counted attempt (a login, a link request, a reply) under a key, for rate limits."""

    key = CharField(index=True)
    at = DateTimeField(default=utcnow, index=True)



class FormDraft(BaseModel):
    """An intake form being filled in the portal: answers and files kept between its pages."""

    id = CharField(primary_key=True)  # random, in the page URLs
    person = ForeignKeyField(Person, backref="drafts", on_delete="CASCADE")
    form_id = CharField()
    answers = JSONField(default=dict)
    files = JSONField(default=dict)  # field id -> [{"name", "type", "sha256", "size"}], content in Blob
    done = JSONField(default=list)  # ids of the pages validated so far
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow, index=True)
    # Once sent: the case it opened (answers and files are then cleared), so
    # that the browser's Back says where the request went instead of 404.
    sent_case = IntegerField(null=True)


class Approval(BaseModel):
    """A person asked to approve a case, in sequence (SPEC 5, Approvals).

    The approver at the lowest ``position`` still pending is the one asked
    (``asked_at`` set, mail sent); the next is asked when they approve.
    """

    case = ForeignKeyField(Case, backref="approvals", on_delete="CASCADE", index=True)
    approver = CharField()  # an address, lowercased
    position = IntegerField(default=1)  # the order approvers are asked in
    # pending | approved | rejected | expired | cancelled (a rejection before them)
    state = CharField(default="pending", index=True)
    source = CharField(default="form")  # form | agent
    requested_by = CharField(default="")  # the agent's address, for source "agent"
    question = TextField(default="")  # what the agent asks, shown to the approver
    requested_at = DateTimeField(default=utcnow)
    asked_at = DateTimeField(null=True)  # when the approval mail went out
    reminded_at = DateTimeField(null=True)
    decided_at = DateTimeField(null=True)
    decided_via = CharField(default="")  # link | reply | portal
    comment = TextField(default="")


class Link(BaseModel):
    """A published link on the portal's home page, for all departments ("") or one (SPEC 5, Links)."""

    title = CharField(max_length=200)
    url = CharField(max_length=2000)  # http or https only (links.save checks)
    description = TextField(default="")
    department = CharField(default="")  # a slug, or "" for all
    position = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)


class Notice(BaseModel):
    """An operational notice: a banner while active, and mail to its subscribers (SPEC 5)."""

    title = CharField(max_length=200)
    text = TextField(default="")
    severity = CharField(default="info")  # info | warning | outage
    departments = JSONField(default=list)  # slugs; [] for all
    starts_at = DateTimeField(default=utcnow)
    ends_at = DateTimeField(null=True)
    # Indexed: "active" asks for the unresolved ones on every new case's acknowledgement.
    resolved_at = DateTimeField(null=True, index=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class NoticeSubscription(BaseModel):
    """A person who wants notices of a department ("" for all) by mail."""

    person = ForeignKeyField(Person, backref="notice_subscriptions", on_delete="CASCADE")
    department = CharField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("person", "department"), True),)


class Article(BaseModel):
    """A FAQ article: Markdown shown sanitised, for one department or all, searchable (SPEC 5, FAQ).

    Only a published article is shown to customers; drafts are the agents'.
    """

    title = CharField(max_length=200)
    body = TextField(default="")  # Markdown (maild.faq.render_markdown)
    department = CharField(default="", index=True)  # a slug, or "" for all
    tags = JSONField(default=list)
    language = CharField(default="en")  # en | nb
    published = BooleanField(default=False, index=True)
    published_at = DateTimeField(null=True)
    # The case whose solution it was written from, kept when that case is deleted.
    source_case = ForeignKeyField(Case, null=True, on_delete="SET NULL", backref="articles")
    author = ForeignKeyField(Person, null=True, on_delete="SET NULL", backref="articles")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class FaqVisit(BaseModel):
    """A suggested article opened while a new request was being written, for deflection (maild.deflection).

    ``request`` identifies the attempt (a form draft's id, or the plain
    form's random key); it is marked ``submitted`` when that request is sent.
    No person is kept: the figures are per department.
    """

    # Kept when the article is deleted: the request was still deflected (or not).
    article = ForeignKeyField(Article, null=True, on_delete="SET NULL", backref="visits")
    department = CharField()
    request = CharField()  # indexed first in the unique (request, article) index
    opened_at = DateTimeField(default=utcnow, index=True)
    submitted = BooleanField(default=False)

    class Meta:
        indexes = ((("request", "article"), True),)


class Heartbeat(BaseModel):
    """A running daemon's word on its parts, renewed every few seconds (maild.health).

    ``name`` is "host:pid"; ``parts`` maps each part ("smtp", "runner",
    "portal" …) to whether it is running. A daemon that stops cleanly deletes
    its row; one that died leaves it behind, growing stale.
    """

    name = CharField(max_length=300, unique=True)
    started_at = DateTimeField(default=utcnow)
    beat_at = DateTimeField(default=utcnow)
    parts = JSONField(default=dict)


class Lease(BaseModel):
    """Work one daemon of several sharing a store does at a time: a scheduled job, an IMAP account (maild.lease).

    ``holder`` is the daemon ("host:pid") that holds it until ``until``; then
    any daemon may take it.
    """

    name = CharField(max_length=300, primary_key=True)
    holder = CharField(max_length=300, default="")
    until = DateTimeField()


class CaseTally(BaseModel):
    """What is left of a deleted case (retention or erasure): counts for reports, no person, no text."""

    department = CharField(index=True)
    opened_at = DateTimeField()
    closed_at = DateTimeField(null=True)
    messages = IntegerField(default=0)  # entries that were messages or replies
    deleted_at = DateTimeField(default=utcnow)
    reason = CharField(default="retention")  # retention | erasure


class AccessLog(BaseModel):
    """An agent's look at a case or a person's data: a page, a file, an export (kept [portal] access_log_days)."""

    at = DateTimeField(default=utcnow, index=True)
    agent = CharField()  # the address, kept when the person is gone
    case_id = IntegerField(null=True, index=True)
    what = CharField()  # view | download | export
    detail = CharField(default="", max_length=255)  # a file's name, an export's subject

    class Meta:
        indexes = ((("agent", "at"), False),)


class SavedSearch(BaseModel):
    """An agent's named queue view (tab, department, words, tag, type, order), their own or shared (maild.saved)."""

    name = CharField(max_length=80)
    owner = ForeignKeyField(Person, backref="saved_searches", on_delete="CASCADE", index=True)
    department = CharField(default="")  # "": the owner's alone; a slug: shared with that department's agents
    query = CharField(max_length=1000)  # the queue's query string
    created_at = DateTimeField(default=utcnow)


class ReplyTemplate(BaseModel):
    """A stock answer (mal) of a department ("" for all), in one language, with placeholders (maild.replytemplates)."""

    name = CharField(max_length=40)  # lowercase letters, digits, - and _: what #mal NAME names
    department = CharField(default="")
    language = CharField(default="en")  # en | nb
    body = TextField(default="")
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(default="")  # the agent's address

    class Meta:
        indexes = ((("name", "department", "language"), True),)


class Category(BaseModel):
    """A node of a department's category tree; ``path`` names it from the root, "Maskinvare/Skriver"."""

    department = CharField()
    path = CharField(max_length=255)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("department", "path"), True),)


class CaseTemplate(BaseModel):
    """A ready-made case of a department, which an agent opens for a customer (maild.casetemplates)."""

    name = CharField(max_length=80)
    department = CharField()
    subject = CharField(max_length=255, default="")
    body = TextField(default="")
    category = IntegerField(null=True)  # a Category of the department
    priority = CharField(default="normal")  # PRIORITIES
    request_type = CharField(default="")  # REQUEST_TYPES, or ""
    updated_at = DateTimeField(default=utcnow)
    updated_by = CharField(default="")  # the agent's address

    class Meta:
        indexes = ((("department", "name"), True),)


class Forward(BaseModel):
    """A case forwarded to an outside party (a supplier); their answers come back to its signed address."""

    case = ForeignKeyField(Case, backref="forwards", on_delete="CASCADE", index=True)
    address = CharField()  # the party's address, lowercased
    name = CharField(default="")  # the party's name, as the agent gave it
    agent = CharField(default="")  # the address of the agent who forwarded it last
    created_at = DateTimeField(default=utcnow)
    last_sent_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("case", "address"), True),)


ALL_MODELS = (Setting, Person, Membership, Spool, Case, Participant, Entry, InboundMessage, MessageRef, Blob,
              Attachment, Outbox, ImapMailbox, PortalSession, LoginLink, RateEvent, FormDraft, Approval,
              Link, Notice, NoticeSubscription, Article, FaqVisit, Heartbeat, Lease, CaseTally, AccessLog, SavedSearch,
              ReplyTemplate, Category, CaseTemplate, Forward)

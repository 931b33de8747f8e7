"""Domain operations on cases: open, add a message, reopen, close.

These are the only writers of cases and entries; mail intake and the portal
both call them, inside the caller's transaction, and each one queues the mail
it causes through ``notify`` in that same transaction (docs/architecture.md, promise 2).
"""

from __future__ import annotations

import datetime
import re

from maild import attachments, notices, notify, people, search
from maild.mail.subject import base_subject, clean_header_text
from maild.store import models, statements
from maild.store.models import Approval, Case, Entry, MessageRef, Participant, Person, utcnow

STATUSES = ("new", "open", "pending", "closed")


def _subject(ctx, subject: str) -> str:
    clean = base_subject(subject, ctx.config["site"]["token_prefix"])
    return clean[:250] or "(no subject)"


def add_participant(case: Case, person: Person, role: str = "cc") -> None:
    """Put a person on the case (idempotent)."""
    statements.insert(Participant, {"case": case, "person": person, "role": role}, ignore_conflict=True)


def remember_message_id(case: Case, message_id: str) -> None:
    """Record an inbound Message-ID as belonging to the case, for threading replies to it.

    Our own Message-IDs need no record: they are signed (threading rule 1).
    """
    if message_id:
        statements.insert(MessageRef, {"message_id": message_id[:250], "case": case})


def open_case(ctx, *, department, requester: Person, subject: str, body_text: str = "",
              body_html: str = "", message_id: str = "", spool_id=None, now=None,
              linked_to: Case | None = None, copied=(), automatic: bool = False,
              acknowledge: bool = True, defects=(), thread_topic: str = "",
              thread_index: str = "", parts=(), answers: dict | None = None, priority: str = "normal",
              request_type: str = "", tags=(), assignee: Person | None = None,
              awaiting_approval: bool = False, by_mail: bool = True) -> tuple[Case, Entry]:
    """Open a case with its first entry; queue the acknowledgement and the notify-list mail.

    ``answers`` (an intake form's, kept as submitted), ``priority``,
    ``request_type``, ``tags`` and ``assignee`` come from a form and its rules.
    A case ``awaiting_approval`` says so in its acknowledgement and reaches
    the agents only once approved (``approvals``). A request made in the
    portal (not ``by_mail``) is acknowledged whatever the cap on automatic
    answers, which is there for mail loops.
    """
    now = now or utcnow()
    case = statements.create(Case, department=department.slug, subject=_subject(ctx, subject), status="new",
                       requester=requester, linked_to=linked_to, created_at=now, updated_at=now,
                       thread_topic=thread_topic[:250], thread_index=thread_index[:250], priority=priority,
                       request_type=request_type, tags=list(tags), assignee=assignee,
                       awaiting_approval=awaiting_approval)
    add_participant(case, requester, "requester")
    for person in copied:
        if person.id != requester.id:
            add_participant(case, person)
    entry = statements.create(Entry, case=case, kind="message", public=True, author=requester,
                         subject=clean_header_text(subject)[:250], body_text=body_text, body_html=body_html,
                         message_id=message_id[:250], spool_id=spool_id, automatic=automatic,
                         defects=list(defects), answers=answers, created_at=now)
    search.index_case(case)
    search.index_entry(entry)
    remember_message_id(case, message_id)
    files = attachments.store(ctx, entry, parts)
    if linked_to is not None:
        event(linked_to, f"Linked case {ctx.config['site']['token_prefix']}-{case.id} was opened "
                         f"from a message that named this case.", now, public=False, change=f"linked:{case.id}")
    # SPEC 5: while a notice is active for the department, the acknowledgement
    # says the problem is known (one indexed query, only when there is one to send).
    known = notices.active(case.department, now) if acknowledge else []
    notify.case_opened(ctx, case, entry, acknowledge=acknowledge, now=now, files=files,
                       tell_agents=not awaiting_approval, known=known, by_mail=by_mail)
    if not by_mail:
        # A mail's Cc read the mail itself; people a form copied hear of it here, once.
        for person in copied:
            if person.id != requester.id:
                notify.copied(ctx, case, entry, person, now=now)
    return case, entry


def add_message(ctx, case: Case, *, author: Person, subject: str = "", body_text: str = "",
                body_html: str = "", message_id: str = "", spool_id=None, now=None,
                public: bool = True, kind: str = "message", automatic: bool = False,
                unverified: bool = False, defects=(), parts=(), notify_agents: bool = True) -> Entry:
    """Add an inbound message to a case's history; tell the agents of a customer's reply."""
    now = now or utcnow()
    entry = statements.create(Entry, case=case, kind=kind, public=public, author=author,
                              subject=clean_header_text(subject)[:250], body_text=body_text, body_html=body_html,
                              message_id=message_id[:250], spool_id=spool_id, automatic=automatic,
                              unverified=unverified, defects=list(defects), created_at=now)
    search.index_entry(entry)
    remember_message_id(case, message_id)
    changes = {"updated_at": now}
    # A customer's answer to a case waiting for them puts it back in the agents' court.
    if public and kind == "message" and case.status == "pending":
        changes["status"] = "open"
        case.status = "open"
    statements.update(Case, case.id, changes)
    case.updated_at = now
    files = attachments.store(ctx, entry, parts)
    if notify_agents:
        notify.customer_replied(ctx, case, entry, now=now, files=files)
    return entry


# The kinds of change a customer's history shows (``event``); the others are for the agents only.
CUSTOMER_CHANGES = ("closed", "reopened", "solved", "status", "moved", "approval_asked", "approved", "rejected")
CHANGE_MAX = 255  # Entry.change


def event(case: Case, text: str, now, author: Person | None = None, public: bool = True,
          change: str = "") -> Entry:
    """Record a status or assignment change as an entry.

    ``text`` is the English sentence stored with it: the agents' history
    shows it where no ``change`` is named (the events recorded before
    changes were named). ``change`` names the change as "<kind>" or
    "<kind>:<value>", so that each history says it as a line in its
    reader's language (templates/portal/_change.html).

    The customer sees these (``CUSTOMER_CHANGES``): "closed",
    "reopened:<how>" (a key of ``REOPENED``), "solved", "status:<status>",
    "moved:<slug>", "approval_asked:<address>", "approved:<address>",
    "rejected:<address>".

    Only the agents see these: "assigned:<address>", "unassigned",
    "participant:<address>", "set:<field>=<value>;…" (``set_details``:
    fields "priority", "type" and "tags", in that order and only those
    changed; tags comma-separated; an empty value is none),
    "approval_withdrawn:<approver>", "approval_expired:<days>:<approver>",
    "commands:<commands>" (an agent's mail that only gave commands, as
    given, comma-separated; empty: the mail had nothing to send),
    "linked:<case id>" (a case opened from a message that named this one).
    """
    return Entry.create(case=case, kind="event", public=public, author=author, body_text=text,
                        created_at=now, change=change[:CHANGE_MAX])


def listed(items, room: int, sep: str = ",") -> str:
    """The items joined by ``sep``, as many whole ones as fit in ``room`` characters, "…" for the rest.

    A change names what was set in full or says that more was left out:
    a change cut off in the middle of a tag or an address would name
    another one.
    """
    items = list(items)
    text = sep.join(items)
    if len(text) <= room:
        return text
    kept: list[str] = []
    for item in items:
        if len(sep.join([*kept, item, "…"])) > room:
            break
        kept.append(item)
    return sep.join([*kept, "…"])


# How a case was reopened: the entry it gets, and the agents' mail says the same.
REOPENED = {"customer_mail": "Reopened by a reply from {who}.",
            "customer_portal": "Reopened by {who} in the portal.",
            "agent_mail": "Reopened by {who}'s reply.",
            "agent_portal": "Reopened by {who} in the portal."}


def reopen(ctx, case: Case, *, by: Person | None = None, now=None, how: str = "customer_mail") -> None:
    """Reopen a closed case and tell the assignee (else the notify list) who did it and how (``REOPENED``)."""
    now = now or utcnow()
    Case.update(status="open", closed_at=None, updated_at=now).where(Case.id == case.id).execute()
    case.status, case.closed_at, case.updated_at = "open", None, now
    # The change names how, so the agents' history can say it in their language (the customer's says "reopened").
    event(case, REOPENED[how].format(who=by.email if by else "someone"), now, author=by, change=f"reopened:{how}")
    notify.case_reopened(ctx, case, by=by, how=how, now=now)


def _closing(case: Case, now) -> None:
    """Mark the case closed; approvals still pending are cancelled, since nothing waits for them now."""
    Case.update(status="closed", closed_at=now, updated_at=now).where(Case.id == case.id).execute()
    case.status, case.closed_at = "closed", now
    stop_waiting(case, now)


def stop_waiting(case: Case, now) -> None:
    """The case waits for no approval any more: those still pending are cancelled."""
    Approval.update(state="cancelled", decided_at=now).where(
        (Approval.case == case.id) & (Approval.state == "pending")).execute()
    Case.update(awaiting_approval=False, updated_at=now).where(Case.id == case.id).execute()
    case.awaiting_approval, case.updated_at = False, now


def close(ctx, case: Case, *, by: Person | None = None, now=None, notify_customer: bool = True) -> None:
    """Close a case and tell the requester and participants; closing a closed case does nothing."""
    if case.status == "closed":
        return
    now = now or utcnow()
    _closing(case, now)
    event(case, "Closed.", now, author=by, change="closed")
    if notify_customer:
        notify.case_closed(ctx, case, now=now)


# --------------------------------------------------------------------------- for customers

class CaseClosed(Exception):
    """The case was closed longer ago than its department's reopen window."""


def customer_cases(person: Person):
    """A query of the cases where the person is requester or participant (SPEC 5)."""
    return Case.select().where(Case.id.in_(
        Participant.select(Participant.case).where(Participant.person == person)))


def visible_case(person: Person, case_id: int) -> Case | None:
    """The case if the person is on it, else None (the portal answers 404; MAIL_RULES 71)."""
    return customer_cases(person).where(Case.id == case_id).first()


def public_entries(case: Case):
    """What a customer sees of a case's history, oldest first: public messages and replies, and the
    events whose change is one of theirs (``CUSTOMER_CHANGES``: closed, moved, waiting …), whoever
    made them. Assignments, participants, details, withdrawn or expired approvals and agents'
    commands are the agents' own business."""
    said = (Entry.public == True) & Entry.kind.in_(("message", "reply"))  # noqa: E712
    theirs = Entry.change.in_(CUSTOMER_CHANGES)
    for kind in CUSTOMER_CHANGES:
        theirs = theirs | Entry.change.startswith(kind + ":")
    return (Entry.select().where((Entry.case == case) & (said | ((Entry.kind == "event") & theirs)))
            .order_by(Entry.created_at, Entry.id))


def reopen_allowed(ctx, case: Case, now=None) -> bool:
    """Whether a customer's new message may reopen this case (within the department's window)."""
    if case.status != "closed":
        return True
    dept = ctx.config.department(case.department)
    window = datetime.timedelta(days=dept.reopen_days if dept else 14)
    return case.closed_at is not None and (now or utcnow()) - case.closed_at <= window


def customer_message(ctx, case: Case, person: Person, body_text: str, parts=(), now=None) -> Entry:
    """A customer's message from the portal: added, reopening the case if closed; agents told.

    Raises CaseClosed past the reopen window: the portal then offers a new request.
    """
    now = now or utcnow()
    if not reopen_allowed(ctx, case, now):
        raise CaseClosed(case.id)
    dept = ctx.config.department(case.department)
    # The department may keep closed cases closed and only attach (closed_reply).
    reopening = case.status == "closed" and not (dept is not None and dept.closed_reply == "attach")
    entry = add_message(ctx, case, author=person, body_text=body_text, parts=parts, now=now,
                        notify_agents=not reopening)
    if reopening:
        reopen(ctx, case, by=person, now=now, how="customer_portal")
        notify.customer_replied(ctx, case, entry, now=now)
    return entry


def mark_solved(ctx, case: Case, person: Person, now=None) -> None:
    """The requester or a participant says the case is solved: close it; confirm it to them, tell
    the others on the case and the assignee (else the notify list)."""
    now = now or utcnow()
    if case.status == "closed":
        return
    _closing(case, now)
    event(case, "Marked as solved by the customer.", now, author=person, change="solved")
    notify.case_closed(ctx, case, now=now, solved_by=person)
    notify.case_solved(ctx, case, person, now=now)


# --------------------------------------------------------------------------- for agents (SPEC 3.4, 4)

def agent_reply(ctx, case: Case, agent: Person, body_text: str, *, parts=(), message_id: str = "",
                spool_id=None, now=None) -> Entry:
    """An agent's public answer: recorded, and sent to the requester and participants."""
    now = now or utcnow()
    entry = statements.create(Entry, case=case, kind="reply", public=True, author=agent,
                              body_text=body_text, message_id=message_id[:250], spool_id=spool_id,
                              created_at=now)
    search.index_entry(entry)
    remember_message_id(case, message_id)
    changes = {"updated_at": now}
    if case.status == "new":
        changes["status"] = case.status = "open"
    statements.update(Case, case.id, changes)
    case.updated_at = now
    files = attachments.store(ctx, entry, parts)
    notify.agent_replied(ctx, case, entry, now=now, files=files)
    return entry


def add_note(ctx, case: Case, author: Person, body_text: str, *, parts=(), message_id: str = "",
             spool_id=None, now=None) -> Entry:
    """An internal note: for agents only, never sent to a customer by any path."""
    now = now or utcnow()
    entry = statements.create(Entry, case=case, kind="note", public=False, author=author,
                              body_text=body_text, message_id=message_id[:250], spool_id=spool_id,
                              created_at=now)
    search.index_entry(entry)
    remember_message_id(case, message_id)
    files = attachments.store(ctx, entry, parts)
    notify.note_added(ctx, case, entry, now=now, files=files)
    return entry


def set_status(ctx, case: Case, status: str, *, by: Person | None = None, now=None,
               how: str = "agent_portal") -> None:
    """Set a case open or pending (a closed one is reopened, ``how`` as ``REOPENED`` says)."""
    if status not in ("open", "pending"):
        raise ValueError(f"status must be open or pending, not {status!r}")
    now = now or utcnow()
    if case.status == "closed":
        reopen(ctx, case, by=by, now=now, how=how)
    Case.update(status=status, updated_at=now).where(Case.id == case.id).execute()
    case.status, case.updated_at = status, now
    event(case, f"Status set to {status}.", now, author=by, public=False, change=f"status:{status}")


PRIORITIES, REQUEST_TYPES = models.PRIORITIES, models.REQUEST_TYPES
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")


def set_details(ctx, case: Case, *, priority: str | None = None, request_type: str | None = None,
                tags=None, category: models.Category | bool | None = None, by: Person | None = None,
                now=None) -> list[str]:
    """Change a case's priority, request type, tags or category (None: unchanged); one internal event says what.

    ``category`` is a Category of the case's department, or False for none.
    Returns what changed, as the event says it. Values are checked by the
    caller (``PRIORITIES``, ``REQUEST_TYPES``, ``TAG``, ``categories.find``);
    a wrong one here is a programming error.
    """
    now = now or utcnow()
    changes, said, code = {}, [], []
    if priority is not None and priority != case.priority:
        if priority not in PRIORITIES:
            raise ValueError(f"priority {priority!r}")
        changes["priority"] = priority
        said.append(f"priority {priority}")
        code.append(f"priority={priority}")
    if request_type is not None and request_type != case.request_type:
        if request_type and request_type not in REQUEST_TYPES:
            raise ValueError(f"request type {request_type!r}")
        changes["request_type"] = request_type
        said.append(f"request type {request_type or 'none'}")
        code.append(f"type={request_type}")
    if category is not None and (category.id if category else None) != case.category:
        if category and category.department != case.department:
            raise ValueError(f"category {category.path!r} of {category.department}")
        changes["category"] = category.id if category else None
        said.append(f"category {category.path if category else 'none'}")
        code.append(f"category={category.path if category else ''}")
    if tags is not None:
        tags = sorted(set(tags))
        if any(not TAG.match(t) for t in tags):
            raise ValueError(f"tags {tags!r}")
        if tags != sorted(case.tags or []):
            changes["tags"] = tags
            said.append(f"tags {', '.join(tags) or 'none'}")
            code.append("tags=" + listed(tags, CHANGE_MAX - len("set:" + ";".join(code) + ";tags=")))
    if not changes:
        return []
    Case.update(updated_at=now, **changes).where(Case.id == case.id).execute()
    for field, value in changes.items():
        setattr(case, field, value)
    case.updated_at = now
    event(case, "Set " + "; ".join(said) + ".", now, author=by, public=False, change="set:" + ";".join(code))
    return said


def assign(ctx, case: Case, agent: Person | None, *, by: Person | None = None, now=None) -> None:
    """Give the case to an agent (None: to nobody); the new assignee is told."""
    now = now or utcnow()
    Case.update(assignee=agent, updated_at=now).where(Case.id == case.id).execute()
    case.assignee, case.updated_at = agent, now
    event(case, f"Assigned to {agent.email}." if agent else "Unassigned.", now, author=by, public=False,
          change=f"assigned:{agent.email}" if agent else "unassigned")
    if agent is not None:
        notify.assigned(ctx, case, agent, by, now=now)


def move(ctx, case: Case, department, *, by: Person | None = None, now=None) -> None:
    """Move the case to another department (an internal event records it) and tell its notify list."""
    now = now or utcnow()
    old = case.department
    # Each department has its own category tree (maild/categories.py).
    changes = {"department": department.slug, "updated_at": now, "category": None}
    if case.assignee_id and not people.is_agent_of(ctx.config, case.assignee, department):
        # The old department's agent would go on getting mail the portal no longer shows them.
        changes["assignee"] = None
    Case.update(**changes).where(Case.id == case.id).execute()
    case.department, case.updated_at, case.category = department.slug, now, None
    if "assignee" in changes:
        case.assignee = None
    event(case, f"Moved from {old} to {department.slug}.", now, author=by, public=False,
          change=f"moved:{department.slug}")
    notify.case_moved(ctx, case, ctx.config.department(old), by=by, now=now)


def add_cc(ctx, case: Case, person: Person, *, by: Person | None = None, now=None) -> None:
    """Copy a person on the case: they get its public mail from now on."""
    if people.is_participant(case, person):
        return
    add_participant(case, person)
    event(case, f"{person.email} added as a participant.", now or utcnow(), author=by, public=False,
          change=f"participant:{person.email}")

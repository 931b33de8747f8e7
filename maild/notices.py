"""Operational notices: a banner while active, and one mail per change to each subscriber (SPEC 5).

A notice is active from ``starts_at`` until ``ends_at`` or until it is
resolved. Publishing, updating and resolving it mails every person subscribed
to one of its departments (or to all) exactly once, through the outbox in the
same transaction, with a signed unsubscribe link that works without logging
in and a ``List-Unsubscribe`` header (RFC 2369, RFC 8058).
"""

from __future__ import annotations


from maild import bounces, notify
from maild.mail.compose import Outgoing
from maild.mail.subject import clean_header_text
from maild.outbound import outbox
from maild.store import statements
from maild.store.models import Notice, NoticeSubscription, Person, utcnow

SEVERITIES = ("info", "warning", "outage")
TITLE_MAX, TEXT_MAX = 200, 5000


class NoticeError(ValueError):
    """A notice that may not be saved; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _check(ctx, title: str, text: str, severity: str, departments: list[str], starts_at, ends_at) -> None:
    if not title.strip() or len(title) > TITLE_MAX:
        raise NoticeError("title", "a title of 1 to 200 characters")
    if len(text) > TEXT_MAX:
        raise NoticeError("text", "at most 5000 characters")
    if severity not in SEVERITIES:
        raise NoticeError("severity", "one of " + ", ".join(SEVERITIES))
    for slug in departments:
        if ctx.config.department(slug) is None:
            raise NoticeError("departments", f"no such department: {slug}")
    if ends_at is not None and ends_at <= starts_at:
        raise NoticeError("ends_at", "the end comes after the start")


# --------------------------------------------------------------------------- reading

def _active_query(now):
    # One query on the indexed resolved_at; departments are a JSON list, so
    # which department a notice concerns is decided in Python over the few
    # unresolved notices there are at any time.
    return (Notice.select().where(Notice.resolved_at.is_null() & (Notice.starts_at <= now)
                                  & (Notice.ends_at.is_null() | (Notice.ends_at > now)))
            .order_by(Notice.starts_at.desc(), Notice.id.desc()))


def is_active(notice: Notice, now=None) -> bool:
    """Whether a notice is started, not ended and not resolved."""
    now = now or utcnow()
    return notice.resolved_at is None and notice.starts_at <= now and (notice.ends_at is None or notice.ends_at > now)


def concerns(notice: Notice, department: str) -> bool:
    """Whether a notice is for a department (a notice for all concerns every one)."""
    return not notice.departments or department in notice.departments


def active(department: str | None = None, now=None) -> list[Notice]:
    """Active notices, newest first: all of them, or those concerning one department."""
    now = now or utcnow()
    # Asked for every new case (its acknowledgement names them): the SQL is
    # built once (maild/store/statements.py), 0.3 ms less a new case.
    rows = statements.instances(Notice, statements.query("notices-active", lambda: _active_query(now), [now, now]))
    return rows if department is None else [n for n in rows if concerns(n, department)]


# --------------------------------------------------------------------------- subscriptions

def subscribe(person: Person, department: str = "") -> NoticeSubscription:
    """Subscribe a person to a department's notices ("" for all); subscribing twice is one row."""
    row = NoticeSubscription.get_or_none((NoticeSubscription.person == person)
                                         & (NoticeSubscription.department == department))
    return row or NoticeSubscription.create(person=person, department=department, created_at=utcnow())


def unsubscribe(person: Person, department: str = "") -> int:
    """End a person's subscription to a department's notices; returns how many rows went."""
    return NoticeSubscription.delete().where((NoticeSubscription.person == person)
                                             & (NoticeSubscription.department == department)).execute()


def unsubscribe_signature(ctx, subscription_id: int) -> str:
    """The signature of a subscription's unsubscribe link."""
    return ctx.signer.sign("unsub", subscription_id)


def unsubscribe_url(ctx, subscription_id: int) -> str:
    """The signed link that ends a subscription without logging in."""
    base = ctx.config["site"]["base_url"].rstrip("/")
    return f"{base}/unsubscribe/{subscription_id}/{unsubscribe_signature(ctx, subscription_id)}"


def signed_subscription(ctx, subscription_id: int, signature: str) -> NoticeSubscription | None:
    """The subscription an unsubscribe link names, if its signature is ours."""
    if not ctx.signer.verify(signature, "unsub", subscription_id):
        return None
    return NoticeSubscription.get_or_none(NoticeSubscription.id == subscription_id)


def subscriptions_of(person: Person) -> set[str]:
    """The departments ("" for all) a person is subscribed to."""
    return {s.department for s in NoticeSubscription.select(NoticeSubscription.department)
            .where(NoticeSubscription.person == person)}


def _subscribers(notice: Notice) -> list[NoticeSubscription]:
    """One subscription per person concerned: a person subscribed twice is mailed once."""
    query = NoticeSubscription.select(NoticeSubscription, Person).join(Person)
    if notice.departments:
        query = query.where(NoticeSubscription.department.in_([""] + list(notice.departments)))
    chosen: dict[int, NoticeSubscription] = {}
    for sub in query.order_by(NoticeSubscription.id):
        chosen.setdefault(sub.person_id, sub)
    return list(chosen.values())


def _mail(ctx, notice: Notice, event: str, now) -> int:
    """Queue one mail about a change to each subscriber; returns how many."""
    count = 0
    names = [ctx.config.department(s).name for s in notice.departments if ctx.config.department(s)]
    for sub in _subscribers(notice):
        person = sub.person
        if not notify.may_mail(ctx, person.email) or not bounces.deliverable(person, now):
            continue
        slug = notice.departments[0] if notice.departments else sub.department
        dept = ctx.config.department(slug) if slug else None
        link = unsubscribe_url(ctx, sub.id)
        subject, body = notify.render(
            ctx, "customer", f"notice_{event}", person.language or ctx.config.language(dept), reader=person,
            notice=notice, person=person, departments=names, unsubscribe=link,
            base_url=ctx.config["site"]["base_url"].rstrip("/"))
        outbox.enqueue(ctx, Outgoing(
            from_name=dept.name if dept else ctx.config["site"]["name"], from_address=notify.site_sender(ctx, slug),
            to_name=person.name, to_address=person.email, subject=subject, body=body,
            message_id=ctx.signer.message_id(0, person.id), list_unsubscribe=link),
            kind=f"notice_{event}", automatic=True, now=now)
        count += 1
    return count


# --------------------------------------------------------------------------- changes

def publish(ctx, *, title: str, text: str = "", severity: str = "info", departments=(), starts_at=None,
            ends_at=None, now=None) -> Notice:
    """Create a notice and mail its subscribers; call inside a transaction."""
    now = now or utcnow()
    departments = sorted(set(departments))
    starts_at = starts_at or now
    title = clean_header_text(title)  # one line: it becomes a mail's subject
    _check(ctx, title, text, severity, departments, starts_at, ends_at)
    notice = Notice.create(title=title, text=text.strip(), severity=severity, departments=departments,
                           starts_at=starts_at, ends_at=ends_at, created_at=now, updated_at=now)
    _mail(ctx, notice, "published", now)
    return notice


_UNSET = object()


def update(ctx, notice: Notice, *, title: str | None = None, text: str | None = None,
           severity: str | None = None, ends_at=_UNSET, now=None) -> Notice:
    """Change a notice and mail its subscribers once; a change to nothing mails nobody."""
    now = now or utcnow()
    new = {"title": notice.title if title is None else clean_header_text(title),
           "text": notice.text if text is None else text.strip(),
           "severity": notice.severity if severity is None else severity,
           "ends_at": notice.ends_at if ends_at is _UNSET else ends_at}
    _check(ctx, new["title"], new["text"], new["severity"], notice.departments, notice.starts_at, new["ends_at"])
    if all(getattr(notice, k) == v for k, v in new.items()):
        return notice
    for key, value in new.items():
        setattr(notice, key, value)
    notice.updated_at = now
    notice.save()
    _mail(ctx, notice, "updated", now)
    return notice


def resolve(ctx, notice: Notice, *, now=None) -> Notice:
    """Mark a notice resolved (no longer active) and mail its subscribers; resolving twice mails once."""
    if notice.resolved_at is not None:
        return notice
    now = now or utcnow()
    notice.resolved_at = notice.updated_at = now
    notice.save()
    _mail(ctx, notice, "resolved", now)
    return notice



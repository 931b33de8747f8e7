"""People: finding or creating a person by address, roles and department membership.

Addresses are compared lowercased (SPEC 1). Creation is race-free: read, and
if missing insert inside a savepoint; when two runners meet a new sender at
once, the unique index decides and the loser reads the winner's row
(``get_or_create`` is not race-free, MAIL_RULES 3).
"""

from __future__ import annotations

from peewee import IntegrityError

from maild.config import Config, Department
from maild.store import statements
from maild.store.models import Membership, Participant, Person, utcnow

ROLES = ("customer", "agent", "admin")
# A sender we cannot name: cases still open for it, and nothing is ever mailed
# to a .invalid address (RFC 2606).
UNKNOWN_SENDER = "unknown-sender@sensedesk.invalid"


def find_or_create(email: str, name: str = "", now=None) -> Person:
    """The person with this address, created (as a customer) if new."""
    email = email.strip().lower()
    found = statements.select_by(Person, "email", email, limit=1)
    person = found[0] if found else None
    if person is None:
        try:
            with Person._meta.database.atomic():
                return statements.create(Person, email=email, name=name[:200], created_at=now or utcnow())
        except IntegrityError:
            # Another runner created the same person between our read and our
            # insert: the unique index decided, and we read the winner.
            return Person.get(Person.email == email)
    if name and not person.name:
        person.name = name[:200]
        person.save(only=[Person.name])
    return person


# Google ignores dots in the local part, and googlemail.com is gmail.com.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def mailbox(email: str) -> str:
    """The mailbox an address delivers to, for telling whether two addresses are one person's.

    A ``+tag`` in the local part reaches the same mailbox at nearly every
    provider (Gmail, Microsoft 365, Fastmail), and Gmail ignores dots: so
    ``alice+boss@example.org`` is ``alice@example.org``. Used to compare, never
    to store or to send.
    """
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _DOTLESS:
        local, domain = local.replace(".", ""), _DOTLESS[domain]
    return f"{local}@{domain}"


def find(email: str) -> Person | None:
    """The person with this address, or None."""
    return Person.get_or_none(Person.email == email.strip().lower())


def is_agent_of(config: Config, person: Person, department: Department) -> bool:
    """Whether the person is an agent of the department (configuration or store)."""
    if person.email in department.agents:
        return True
    if person.role not in ("agent", "admin"):
        return False
    return Membership.select().where((Membership.person == person)
                                     & (Membership.department == department.slug)).exists()


def is_participant(case, person: Person) -> bool:
    """Whether the person is the requester or copied on the case."""
    if case.requester_id == person.id:
        return True
    # Asked for every message from someone other than the requester: written once.
    cursor = statements.query(
        "participant-of-case",
        lambda: Participant.select(Participant.id).where(
            (Participant.case == case.id) & (Participant.person == person.id)).limit(1),
        [case.id, person.id, 1])
    return cursor.fetchone() is not None


def add_user(email: str, name: str = "", role: str = "customer", departments=(),
             password_hash: str | None = None) -> Person:
    """Create or update a person with a role, memberships and optionally a password."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    person = find_or_create(email, name)
    person.role = role
    if name:
        person.name = name
    if password_hash:
        person.password_hash = password_hash
    person.save()
    for slug in departments:
        Membership.insert(person=person, department=slug).on_conflict_ignore().execute()
    return person


def load_staff(ctx) -> None:
    """Make sure every configured agent and notify address is a person; keep them at hand.

    Called once when a long-running process starts, in a transaction of its
    own, so the cached rows are committed and the hot path of every new case
    needs no query to find whom to tell. Persons are never deleted.
    """
    addresses = sorted({a for d in ctx.config.departments for a in d.agents + d.notify})
    with ctx.db.atomic():
        for address in addresses:
            Person.insert(email=address).on_conflict_ignore().execute()
    ctx.staff = {p.email: p for p in Person.select().where(Person.email.in_(addresses))} if addresses else {}

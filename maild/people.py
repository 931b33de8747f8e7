"""People: finding or creating a person by address, roles and department membership.

Addresses are compared lowercased (SPEC 1). Creation is race-free: insert
with ON CONFLICT DO NOTHING, then read, so two runners meeting a new sender
at once make one person (``get_or_create`` is not race-free, MAIL_RULES 3).
"""

from __future__ import annotations

from maild.config import Config, Department
from maild.store.models import Membership, Participant, Person, utcnow

ROLES = ("customer", "agent", "admin")
# A sender we cannot name: cases still open for it, and nothing is ever mailed
# to a .invalid address (RFC 2606).
UNKNOWN_SENDER = "unknown-sender@sensedesk.invalid"


def find_or_create(email: str, name: str = "", now=None) -> Person:
    """The person with this address, created (as a customer) if new."""
    email = email.strip().lower()
    person = Person.get_or_none(Person.email == email)
    if person is None:
        # Another runner may create the same person between the read and the
        # insert: the unique index decides, and we read the winner.
        Person.insert(email=email, name=name[:200], created_at=now or utcnow()).on_conflict_ignore().execute()
        return Person.get(Person.email == email)
    if name and not person.name:
        person.name = name[:200]
        person.save(only=[Person.name])
    return person


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
    return Participant.select().where((Participant.case == case) & (Participant.person == person)).exists()


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

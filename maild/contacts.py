"""All cases of a contact: a person's, and an organisation's by the domain of its people's addresses.

An agent on a case wants to know what else this customer has asked, and what
else their organisation has (the manual's *Alle saker knyttet til
kontakt*). Open cases come first, then the rest, each newest activity
first; only cases in the departments the agent serves are listed. A domain
of a public mail service (gmail.com, outlook.com, online.no …) names no
organisation, so it gets no list. The same lists serve the agent's case
page, the contact page, and the new-case mail to agents ("other open cases
of this requester").
"""

from __future__ import annotations

from peewee import fn

from maild.store.models import Case, Participant, Person

# Domains of public mail services: their users share no organisation.
PUBLIC_MAIL = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.no", "live.com", "live.no", "msn.com",
    "yahoo.com", "yahoo.no", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.com", "gmx.de", "gmx.net",
    "proton.me", "protonmail.com", "online.no", "mail.com", "yandex.com", "zoho.com",
})


def organisation(email: str) -> str:
    """The organisation an address belongs to, as its domain; "" for a public mail service."""
    domain = email.rpartition("@")[2].strip().lower()
    return "" if not domain or domain in PUBLIC_MAIL else domain


def _ordered(query):
    # Open before closed (False sorts first), then the newest activity.
    return query.order_by((Case.status == "closed"), Case.updated_at.desc(), Case.id.desc())


def person_cases(person: Person, departments, *, exclude: int | None = None, open_only: bool = False):
    """A query of the cases where ``person`` is requester or participant, in ``departments`` (None: all)."""
    query = Case.select().where(Case.id.in_(Participant.select(Participant.case)
                                            .where(Participant.person == person)))
    return _narrowed(query, departments, exclude, open_only)


def domain_cases(domain: str, departments, *, exclude: int | None = None):
    """A query of the cases whose requester's address is at ``domain``, in ``departments`` (None: all)."""
    query = (Case.select().join(Person, on=(Case.requester == Person.id))
             .where(fn.LOWER(Person.email).endswith("@" + domain.lower())))
    return _narrowed(query, departments, exclude, False)


def _narrowed(query, departments, exclude, open_only):
    if departments is not None:
        query = query.where(Case.department.in_(list(departments) or [""]))
    if exclude is not None:
        query = query.where(Case.id != exclude)
    if open_only:
        query = query.where(Case.status != "closed")
    return _ordered(query)

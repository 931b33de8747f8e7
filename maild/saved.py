"""Saved searches: an agent names a queue view to come back to, for themselves or for their department.

The manual's *Lagrede søk*. A saved search is the queue's own query string
(tab, department, search words, tag, request type, order), so it opens
exactly the view that was saved, and a view that a later version of the
queue reads differently still opens something sensible (``QueueView.of``
checks each value). An agent sees their own and those shared with a
department they serve; the owner or an admin may delete one.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from maild.store.models import Person, SavedSearch

NAME_MAX = 80
# The queue's parameters a saved search keeps; anything else in the query string is dropped.
KEYS = ("tab", "dept", "q", "sort", "tag", "type", "category")


class SavedSearchError(Exception):
    """The search cannot be saved; ``problem`` names why ("name", "department")."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def clean_query(query: str) -> str:
    """The queue parameters of a query string, in a fixed order, without empty ones or a page."""
    values = dict(parse_qsl(query))
    return urlencode([(key, values[key]) for key in KEYS if values.get(key)])


def save(owner: Person, name: str, query: str, department: str = "", *, departments=()) -> SavedSearch:
    """Save a view under ``name``; ``department`` shares it with one of the owner's ``departments``."""
    name = " ".join(name.split())
    if not name or len(name) > NAME_MAX:
        raise SavedSearchError("name")
    if department and department not in departments:
        raise SavedSearchError("department")
    return SavedSearch.create(name=name, owner=owner, department=department, query=clean_query(query))


def visible(person: Person, departments) -> list[SavedSearch]:
    """The person's own saved searches and those shared with their departments, by name."""
    shared = SavedSearch.department.in_(list(departments) or [""]) & (SavedSearch.department != "")
    return list(SavedSearch.select().where((SavedSearch.owner == person) | shared)
                .order_by(SavedSearch.name, SavedSearch.id))


def delete(search: SavedSearch, person: Person, is_admin: bool) -> bool:
    """Delete it when the person owns it (or is an admin); whether it was deleted."""
    if search.owner_id != person.id and not is_admin:
        return False
    return search.delete_instance() > 0

"""Categories: one tree per department, edited by admins; a case sits in one category of its department.

A category is named by its path from the root, its parts joined by "/":
``Maskinvare/Skriver``. Adding a category adds its missing parents;
renaming one renames its subtree; deleting one deletes its subtree and
leaves its cases without a category. A case holds its category's id, so a
rename never touches cases. Agents set it on the case page (``cases.set_details``)
and by ``#category PATH`` in a mail, where PATH is a whole path or the
last part of exactly one (``find``); the queue filters by a category and
its subtree (``subtree_ids``); the daily report counts the open cases per
category (``counts``). Moving a case to another department takes its
category off (``cases.move``): the trees are the departments' own.
"""

from __future__ import annotations

import re

from peewee import fn

from maild.store.models import Case, Category, utcnow

PART_MAX = 60
DEPTH_MAX = 4
# ";" and "=" separate a history event's details (cases.set_details); "#" starts a mail command.
_BAD = re.compile(r"[;=#\x00-\x1f\x7f]")


class CategoryError(Exception):
    """A category cannot be saved; ``problem`` is "name" (not a path) or "taken" (one exists)."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def clean_path(text: str) -> str:
    """A path as stored: parts trimmed, inner spaces single, joined by "/"; raises CategoryError("name")."""
    parts = [" ".join(part.split()) for part in (text or "").split("/")]
    if (not parts or len(parts) > DEPTH_MAX or any(not p or len(p) > PART_MAX or _BAD.search(p) for p in parts)):
        raise CategoryError("name")
    return "/".join(parts)


def tree(department: str) -> list[Category]:
    """A department's categories, each after its parent, siblings in alphabetical order."""
    found = list(Category.select().where(Category.department == department))
    return sorted(found, key=lambda c: [p.casefold() for p in c.path.split("/")])


def _existing(department: str, path: str) -> Category | None:
    """The category of this path, letter case aside."""
    return Category.get_or_none((Category.department == department) & (fn.LOWER(Category.path) == path.lower()))


def add(department: str, text: str) -> Category:
    """Add a category (and its missing parents) to a department's tree; raises CategoryError."""
    path = clean_path(text)
    if _existing(department, path) is not None:
        raise CategoryError("taken")
    parts = path.split("/")
    _add_parents(department, parts[:-1])
    return Category.create(department=department, path=path, created_at=utcnow())


def _add_parents(department: str, parts: list[str]) -> None:
    for depth in range(1, len(parts) + 1):
        parent = "/".join(parts[:depth])
        if _existing(department, parent) is None:
            Category.create(department=department, path=parent, created_at=utcnow())


def subtree(category: Category) -> list[Category]:
    """The category and every category under it."""
    prefix = category.path.lower() + "/"
    return [c for c in Category.select().where(Category.department == category.department)
            if c.id == category.id or c.path.lower().startswith(prefix)]


def subtree_ids(category_id: int) -> list[int]:
    """The ids of a category and of every category under it; [] when there is no such category."""
    category = Category.get_or_none(Category.id == category_id)
    return [c.id for c in subtree(category)] if category is not None else []


def rename(category: Category, text: str) -> Category:
    """Give a category a new path (its subtree follows); raises CategoryError."""
    path = clean_path(text)
    clash = _existing(category.department, path)
    if clash is not None and clash.id != category.id:
        raise CategoryError("taken")
    if path.lower().startswith(category.path.lower() + "/"):
        raise CategoryError("name")  # under itself
    old = category.path
    _add_parents(category.department, path.split("/")[:-1])
    for node in subtree(category):
        node.path = path + node.path[len(old):]
        node.save()
    category.path = path
    return category


def delete(category: Category) -> int:
    """Delete a category and its subtree; their cases keep no category. Returns how many cases lost theirs."""
    ids = [c.id for c in subtree(category)]
    emptied = Case.update(category=None).where(Case.category.in_(ids)).execute()
    Category.delete().where(Category.id.in_(ids)).execute()
    return emptied


def find(department: str, text: str) -> Category | None:
    """The category ``text`` names in a department: a whole path, else the last part of exactly one."""
    try:
        path = clean_path(text)
    except CategoryError:
        return None
    found = _existing(department, path)
    if found is not None or "/" in path:
        return found
    ends = [c for c in Category.select().where(Category.department == department)
            if c.path.rsplit("/", 1)[-1].lower() == path.lower()]
    return ends[0] if len(ends) == 1 else None


def path_of(category_id: int | None) -> str:
    """The path of a case's category; "" for none (or one deleted meanwhile)."""
    if not category_id:
        return ""
    found = Category.get_or_none(Category.id == category_id)
    return found.path if found is not None else ""


def paths(category_ids) -> dict[int, str]:
    """The paths of these categories, by id."""
    wanted = sorted({i for i in category_ids if i})
    if not wanted:
        return {}
    return dict(Category.select(Category.id, Category.path).where(Category.id.in_(wanted)).tuples())


def counts(cases) -> list[tuple[str, int]]:
    """How many of ``cases`` (a query of one department's cases, unordered) sit in each category, most first.

    The path "" counts the cases without one, listed last when any have one.
    """
    tally = dict(cases.select(Case.category, fn.COUNT(Case.id)).where(Case.category.is_null(False))
                 .group_by(Case.category).tuples())
    named = paths(tally)
    uncategorised = cases.where(Case.category.is_null()).count()
    rows = sorted(((named[i], n) for i, n in tally.items() if i in named), key=lambda r: (-r[1], r[0].casefold()))
    return rows + ([("", uncategorised)] if uncategorised and rows else [])

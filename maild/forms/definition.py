"""Intake forms as data: a form, its pages and fields, the conditions on answers, routes and approval rules.

Frozen dataclasses that ``maild.forms.loader`` builds from ``config/forms/*.toml``
and that ``maild.forms.answers`` and ``maild.forms.submission`` read. Texts
are tables ``{"en": …, "nb": …}`` holding both languages. Nothing here reads
files, the web or the store.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

# An address as a form may name it (a route's participant, an approver) or take it as an answer.
EMAIL = re.compile(r"^[^@\s<>,;:\"()\[\]]+@[^@\s<>,;:\"()\[\]]+\.[^@\s<>,;:\"()\[\]]+$")
# "{field_id}" in a subject template, filled from the answer.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclasses.dataclass(frozen=True)
class Condition:
    """A rule on earlier answers, written in TOML as an inline table.

    ``op`` is one of:
    - ``equals``: the answer to ``field`` is ``value`` (multichoice: contains
      it; yesno: ``value`` is a bool; number: compared as numbers);
    - ``in``: the answer is one of ``value``, a tuple (multichoice: shares one);
    - ``answered``: ``value`` (a bool) says whether ``field`` has an answer;
    - ``not`` (one term), ``and``, ``or``: over ``terms``.
    An unanswered field equals nothing and is in nothing.
    """

    op: str
    field: str = ""
    value: Any = None
    terms: tuple[Condition, ...] = ()


@dataclasses.dataclass(frozen=True)
class Option:
    """One answer offered by a choice or multichoice field."""

    value: str
    label: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Field:
    """One question (or, with type "help", a piece of text shown on the page).

    ``min``/``max`` bound numbers; dates are bounded by ``min_date``/``max_date``
    ("YYYY-MM-DD", "today", or "field:<id>" for the answer to an earlier date
    field, such as an end date that may not come before its start). ``widget`` is "radio" or "select" for choice fields and ""
    for every other type. ``help``, ``message`` and ``text`` are {} when not
    given. ``max_bytes`` is None when the field has no limit of its own.
    """

    id: str
    type: str
    label: dict[str, str] = dataclasses.field(default_factory=dict)
    help: dict[str, str] = dataclasses.field(default_factory=dict)
    required: bool = False
    required_when: Condition | None = None
    show_when: Condition | None = None
    options: tuple[Option, ...] = ()
    widget: str = ""
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    message: dict[str, str] = dataclasses.field(default_factory=dict)
    multiple: bool = False
    max_bytes: int | None = None
    text: dict[str, str] = dataclasses.field(default_factory=dict)
    min_date: str | None = None
    max_date: str | None = None


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a form: its fields in order, shown when ``show_when`` holds."""

    id: str
    title: dict[str, str]
    fields: tuple[Field, ...]
    show_when: Condition | None = None


@dataclasses.dataclass(frozen=True)
class Route:
    """A routing rule: when ``when`` holds (or always), set what it names.

    ``participants`` are addresses or "field:<id>" naming an email/person field.
    """

    when: Condition | None
    department: str | None = None
    priority: str | None = None
    request_type: str | None = None
    assignee: str | None = None
    tags: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ApprovalRule:
    """When ``when`` holds (or always), ``approver`` (an address or "field:<id>") must approve."""

    when: Condition | None
    approver: str


@dataclasses.dataclass(frozen=True)
class Form:
    """An intake form as loaded from ``path``.

    ``subject`` is a text table of templates such as "New employee: {full_name}"
    naming answer ids; {} means the title is the subject.
    """

    id: str
    path: str
    department: str
    title: dict[str, str]
    description: dict[str, str]
    request_type: str
    pages: tuple[Page, ...]
    routes: tuple[Route, ...] = ()
    approvals: tuple[ApprovalRule, ...] = ()
    subject: dict[str, str] = dataclasses.field(default_factory=dict)
    # The first page's field whose words suggest FAQ articles; "" for none.
    faq_field: str = ""

    def field(self, field_id: str) -> Field | None:
        """The field with this id, on whichever page, or None."""
        return next((f for page in self.pages for f in page.fields if f.id == field_id), None)

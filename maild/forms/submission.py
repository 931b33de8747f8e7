"""What a submitted intake form becomes: its routing, its subject and its answers as text.

Pure, like ``maild.forms.answers``: the portal calls these when a form is
submitted, and the case and its mails carry what they return.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from maild.forms.answers import clean, display, evaluate, localised, walk
from maild.forms.definition import EMAIL, PLACEHOLDER, Form

SUBJECT_MAX = 150


@dataclasses.dataclass(frozen=True)
class Routing:
    """Where a submitted form goes: addresses resolved, lowercased, without duplicates."""

    department: str
    priority: str
    request_type: str
    assignee: str | None
    tags: tuple[str, ...]
    participants: tuple[str, ...]
    approvers: tuple[str, ...]


def _extend(items: list[str], new) -> None:
    for item in new:
        if item not in items:
            items.append(item)


def _addresses(references, answers: Mapping[str, Any]) -> list[str]:
    """Addresses named directly, or read from an email/person field ("field:<id>")."""
    out = []
    for reference in references:
        if reference.startswith("field:"):
            value = answers.get(reference[len("field:"):])
            if isinstance(value, str) and EMAIL.match(value):
                out.append(value.lower())
        else:
            out.append(reference.lower())
    return out


def route(form: Form, answers: Mapping[str, Any]) -> Routing:
    """Where the submitted form goes: every matching route applied in order.

    Scalar values of a later route win; tags and participants accumulate.
    Approvers come from every matching approval rule.
    """
    answers = clean(form, answers)
    department, request_type, priority, assignee = form.department, form.request_type, "normal", None
    tags: list[str] = []
    participants: list[str] = []
    approvers: list[str] = []
    for rule in form.routes:
        if rule.when is not None and not evaluate(rule.when, answers):
            continue
        department = rule.department or department
        priority = rule.priority or priority
        request_type = rule.request_type or request_type
        assignee = rule.assignee or assignee
        _extend(tags, rule.tags)
        _extend(participants, _addresses(rule.participants, answers))
    for rule in form.approvals:
        if rule.when is None or evaluate(rule.when, answers):
            _extend(approvers, _addresses((rule.approver,), answers))
    return Routing(department, priority, request_type, assignee, tuple(tags), tuple(participants),
                   tuple(approvers))


def answers_text(form: Form, answers: Mapping[str, Any], language: str) -> str:
    """The answers as plain text for the case's first entry and its mails.

    Per visible page with answers: its title, then one "Label: value" line per
    answered field; a value of several lines follows its label, indented.
    """
    shown, effective = walk(form, answers)
    blocks = []
    for page, fields in shown:
        lines = []
        for field in fields:
            if field.id not in effective:
                continue
            label = localised(field.label, language) or field.id
            value = display(field, effective[field.id], language)
            if "\n" in value:
                lines.append(f"{label}:")
                lines.extend(f"  {line}".rstrip() for line in value.split("\n"))
            else:
                lines.append(f"{label}: {value}")
        if lines:
            blocks.append("\n".join([localised(page.title, language), *lines]))
    return "\n\n".join(blocks)


def stored_answers_text(forms_by_id: Mapping[str, Form], stored: Mapping[str, Any] | None,
                        language: str) -> str | None:
    """An entry's stored form answers ({"form": id, "answers": …}) as text in ``language``.

    A case opened by a form is written in the customer's language; each reader
    (an agent, a mail to the agents) reads its labels in theirs. None when the
    entry has no answers or its form is no longer installed: the stored text
    is then what there is.
    """
    if not stored or not isinstance(stored.get("answers"), Mapping):
        return None
    form = forms_by_id.get(stored.get("form", ""))
    return answers_text(form, stored["answers"], language) if form is not None else None


def subject(form: Form, answers: Mapping[str, Any], language: str) -> str:
    """The case's subject: the form's template filled from the answers, or its title.

    Answers come from people, so line breaks are folded (a subject is one
    header line) and the length is capped.
    """
    title = localised(form.title, language)
    template = localised(form.subject, language)
    if not template:
        return title
    fields = {field.id: field for page in form.pages for field in page.fields}
    effective = clean(form, answers)

    def fill(match: re.Match) -> str:
        name = match.group(1).strip()
        return display(fields[name], effective[name], language) if name in effective else ""

    text = " ".join(PLACEHOLDER.sub(fill, template).split()).rstrip(" :,-–")
    if len(text) > SUBJECT_MAX:
        text = text[:SUBJECT_MAX - 1].rstrip() + "…"
    return text or title

"""Reply templates (maler): stock answers an agent puts into a reply, in the portal or with ``#mal NAME`` by mail.

A template belongs to a department, or to all ("" department), and is
written once per language (en, nb). Its text may name the case it goes
into: ``{requester.name}``, ``{case.number}``, ``{agent.name}`` and
``{portal.case_url}``; nothing else in braces is touched, so a template may
hold braces of its own. The template used for a case is the one of the
case's department before a shared one, in the language the requester reads
(``notify.reader_language``), else in the other language. Agents of a
department edit its templates at ``/agent/templates``; shared ones are
edited by admins.
"""

from __future__ import annotations

import re

from maild.store.models import ReplyTemplate, utcnow

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
BODY_MAX = 20000
PLACEHOLDERS = ("requester.name", "case.number", "agent.name", "portal.case_url")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + r")\}")


class TemplateError(Exception):
    """A template cannot be saved; ``problem`` names the field ("name", "body", "taken")."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def find(name: str, department: str, language: str) -> ReplyTemplate | None:
    """The template called ``name`` for a case of ``department`` read in ``language`` (see the docstring)."""
    found = list(ReplyTemplate.select().where((ReplyTemplate.name == name.lower())
                                              & ReplyTemplate.department.in_([department, ""])))
    found.sort(key=lambda t: (t.department != department, t.language != language))
    return found[0] if found else None


def available(departments, language: str = "") -> list[ReplyTemplate]:
    """The templates of these departments and the shared ones, by name (one language first when given)."""
    found = list(ReplyTemplate.select().where(ReplyTemplate.department.in_(list(departments) + [""]))
                 .order_by(ReplyTemplate.name, ReplyTemplate.department, ReplyTemplate.language))
    return sorted(found, key=lambda t: (t.name, t.language != language)) if language else found


def fill(template: ReplyTemplate, *, case, requester, agent, prefix: str, base_url: str) -> str:
    """The template's text with its placeholders filled for this case."""
    values = {"requester.name": (requester.name or requester.email) if requester else "",
              "case.number": f"{prefix}-{case.id}", "agent.name": (agent.name or agent.email) if agent else "",
              "portal.case_url": f"{base_url.rstrip('/')}/requests/{case.id}"}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template.body).strip()


def save(name: str, department: str, language: str, body: str, by: str,
         template: ReplyTemplate | None = None) -> ReplyTemplate:
    """Create a template, or change ``template``; raises TemplateError."""
    name = name.strip().lower()
    if not NAME.match(name):
        raise TemplateError("name")
    body = body.strip()
    if not body or len(body) > BODY_MAX:
        raise TemplateError("body")
    if language not in ("en", "nb"):
        language = "en"
    clash = ReplyTemplate.get_or_none((ReplyTemplate.name == name) & (ReplyTemplate.department == department)
                                      & (ReplyTemplate.language == language))
    if clash is not None and (template is None or clash.id != template.id):
        raise TemplateError("taken")
    if template is None:
        return ReplyTemplate.create(name=name, department=department, language=language, body=body,
                                    updated_by=by, updated_at=utcnow())
    template.name, template.department, template.language, template.body = name, department, language, body
    template.updated_by, template.updated_at = by, utcnow()
    template.save()
    return template

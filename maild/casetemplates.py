"""Case templates, and the case an agent opens for a customer: the telephone call written down.

A case template is a department's ready-made case: subject, text,
category, priority and request type, under a name for the agents' list
("Glemt passord"). At ``/agent/new`` an agent opens a case for a customer,
from a template or from nothing, changing what the call needs.
``open_for_customer`` makes it the customer's own request: they are its
requester, the first message is theirs, and they get the acknowledgement
by mail at once (a request made in the portal is never held back by the
cap on automatic answers); an internal event names the agent who wrote it.
Agents of a department write its templates, at ``/agent/case-templates``.
"""

from __future__ import annotations

from maild import cases, language, people
from maild.store.models import PRIORITIES, REQUEST_TYPES, CaseTemplate, Category, Person, utcnow

NAME_MAX = 80
SUBJECT_MAX = 250
BODY_MAX = 20000


class CaseTemplateError(Exception):
    """What cannot be saved or opened: ``problems`` maps a field to its problem's code."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(", ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def check(department: str, subject: str, body: str, category: int | None, priority: str,
          request_type: str) -> dict[str, str]:
    """What is wrong with a case's fields, by field ("subject", "body", "category", "priority", "type")."""
    problems = {}
    if not subject.strip() or len(subject.strip()) > SUBJECT_MAX:
        problems["subject"] = "subject"
    if len(body) > BODY_MAX:
        problems["body"] = "body"
    if category and not Category.select().where((Category.id == category)
                                                & (Category.department == department)).exists():
        problems["category"] = "category"
    if priority not in PRIORITIES:
        problems["priority"] = "priority"
    if request_type and request_type not in REQUEST_TYPES:
        problems["type"] = "type"
    return problems


def available(departments) -> list[CaseTemplate]:
    """The templates of these departments, by name."""
    return list(CaseTemplate.select().where(CaseTemplate.department.in_(list(departments)))
                .order_by(CaseTemplate.name, CaseTemplate.department))


def save(*, name: str, department: str, subject: str, body: str, category: int | None, priority: str,
         request_type: str, by: str, template: CaseTemplate | None = None) -> CaseTemplate:
    """Create a template, or change ``template``; raises CaseTemplateError."""
    name, subject, body = " ".join(name.split()), subject.strip(), body.strip()
    problems = check(department, subject, body, category, priority, request_type)
    if not name or len(name) > NAME_MAX:
        problems["name"] = "name"
    else:
        clash = CaseTemplate.get_or_none((CaseTemplate.department == department) & (CaseTemplate.name == name))
        if clash is not None and (template is None or clash.id != template.id):
            problems["name"] = "taken"
    if problems:
        raise CaseTemplateError(problems)
    values = dict(name=name, department=department, subject=subject, body=body, category=category or None,
                  priority=priority, request_type=request_type, updated_by=by, updated_at=utcnow())
    if template is None:
        return CaseTemplate.create(**values)
    for field, value in values.items():
        setattr(template, field, value)
    template.save()
    return template


def open_for_customer(ctx, *, department, requester: Person, subject: str, body: str, category: int | None,
                      priority: str, request_type: str, agent: Person, assign: bool = False,
                      template: CaseTemplate | None = None, now=None):
    """Open a case as the customer's request, written by an agent; the customer is acknowledged.

    Raises CaseTemplateError when a field is wrong; the caller's transaction
    holds the case, its event and its mail together.
    """
    now = now or utcnow()
    subject, body = subject.strip(), body.strip()
    problems = check(department.slug, subject, body, category, priority, request_type)
    if problems:
        raise CaseTemplateError(problems)
    # The acknowledgement quotes the text the agent wrote for the customer:
    # a customer whose language is not known yet gets it in the text's
    # language, as they would for mail they wrote themselves.
    language.learn(ctx.config, requester, subject, body)
    case, _ = cases.open_case(ctx, department=department, requester=requester, subject=subject, body_text=body,
                              priority=priority, request_type=request_type, now=now, by_mail=False,
                              assignee=agent if assign and people.is_agent_of(ctx.config, agent, department)
                              else None)
    if category:
        cases.set_details(ctx, case, category=Category.get_by_id(category), by=agent, now=now)
    how = f" from the case template {template.name}" if template is not None else ""
    cases.event(case, f"Opened by {agent.email} for {requester.email}{how}.", now, author=agent, public=False,
                change=f"opened_for:{agent.email}")
    return case

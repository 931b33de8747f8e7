"""A case an agent opens for a customer (``/agent/new``), and the case templates it may start from.

The telephone call written down: the agent names the customer, picks a
case template of their departments or starts from nothing, changes what
the call needs and opens it; the customer is its requester and gets the
acknowledgement (``casetemplates.open_for_customer``). Agents of a
department write its case templates at ``/agent/case-templates``.
"""

from __future__ import annotations

import bottle

from maild import casetemplates, categories, people
from maild.store.models import PRIORITIES, REQUEST_TYPES, CaseTemplate
from portal.views.account import ADDRESS
from portal.views.agent import require_agent
from portal.web import parse_id, redirect, route_id

# The fields of a case, as the forms name them (the field ids add a prefix).
CASE_FIELDS = ("department", "subject", "body", "category", "priority", "request_type")


def install(app, web) -> None:
    """Add /agent/new and /agent/case-templates with their forms."""
    ctx = web.ctx

    def mine(departments):
        return [d for d in ctx.config.departments if d.slug in departments]

    def messages() -> dict[str, str]:
        # Literal strings, for the catalog to find.
        return {"subject": web.gettext("Write a subject of at most 250 characters."),
                "body": web.gettext("The text is too long."),
                "category": web.gettext("Choose one of the department's categories."),
                "priority": web.gettext("Choose one of the priorities."),
                "type": web.gettext("Choose one of the request types."),
                "name": web.gettext("Give the template a name of at most 80 characters."),
                "taken": web.gettext("The department has a template of that name already."),
                "email": web.gettext("Enter an email address, like name@example.org."),
                "own": web.gettext("This is a department's own address."),
                "department": web.gettext("Choose one of the departments.")}

    def field_errors(prefix: str, problems: dict[str, str]) -> dict[str, str]:
        said = messages()
        return {f"{prefix}-{field}": said[code] for field, code in problems.items()}

    def render(name: str, departments, status=200, errors=None, values=None, **more):
        return web.render(name, status=status, errors=errors or {}, values=values or {},
                          departments=mine(departments), priorities=PRIORITIES, request_types=REQUEST_TYPES,
                          category_trees=[(d, categories.tree(d.slug)) for d in mine(departments)],
                          templates=casetemplates.available(departments),
                          names={d.slug: d.name for d in ctx.config.departments},
                          done=bottle.request.query.get("done", ""), **more)

    def posted() -> dict[str, str]:
        forms = bottle.request.forms
        return {key: forms.getunicode(key, "") for key in (*CASE_FIELDS, "name", "email", "requester_name",
                                                           "assign", "template")}

    # ------------------------------------------------------------------ a new case for a customer

    @app.get("/agent/new")
    def new_case():
        person, departments = require_agent(web)
        chosen = None
        if bottle.request.query.get("template"):
            chosen = CaseTemplate.get_or_none((CaseTemplate.id == (parse_id(bottle.request.query.template) or 0))
                                              & CaseTemplate.department.in_(departments))
        values = {"assign": "yes"}
        if chosen is not None:
            values.update(department=chosen.department, subject=chosen.subject, body=chosen.body,
                          category=str(chosen.category or ""), priority=chosen.priority,
                          request_type=chosen.request_type, template=str(chosen.id))
        return render("agent_new_case.html", departments, values=values, chosen=chosen)

    @app.post("/agent/new")
    def open_new():
        person, departments = require_agent(web)
        values = posted()
        address = values["email"].strip().lower()
        dept = ctx.config.department(values["department"]) if values["department"] in departments else None
        problems = {}
        if not ADDRESS.match(address) or len(address) > 250:
            problems["email"] = "email"
        elif address in ctx.config.own_addresses():
            problems["email"] = "own"
        if dept is None:
            problems["department"] = "department"
        chosen = CaseTemplate.get_or_none((CaseTemplate.id == (parse_id(values["template"]) or 0))
                                          & CaseTemplate.department.in_(departments))
        category = parse_id(values["category"]) if values["category"] else None
        if values["category"] and not category:
            problems["category"] = "category"
        if not problems:
            try:
                with ctx.db.atomic():
                    requester = people.find_or_create(address, name=values["requester_name"].strip())
                    case = casetemplates.open_for_customer(
                        ctx, department=dept, requester=requester, subject=values["subject"], body=values["body"],
                        category=category, priority=values["priority"], request_type=values["request_type"],
                        agent=person, assign=values["assign"] == "yes", template=chosen)
            except casetemplates.CaseTemplateError as error:
                problems = error.problems
        if problems:
            values["email"] = address
            return render("agent_new_case.html", departments, status=400, values=values, chosen=chosen,
                          errors=field_errors("new", problems))
        ctx.outbox_wakeup.set()
        redirect(f"/agent/cases/{case.id}?done=opened", 303)

    # ------------------------------------------------------------------ case templates

    def template_or_404(template_id, departments) -> CaseTemplate:
        found = CaseTemplate.get_or_none(CaseTemplate.id == route_id(template_id))
        if found is None or found.department not in departments:
            bottle.abort(404)
        return found

    @app.get("/agent/case-templates")
    def listing():
        _, departments = require_agent(web)
        return render("agent_case_templates.html", departments, values={"priority": "normal"}, editing=None,
                      paths={t.id: categories.path_of(t.category) for t in casetemplates.available(departments)})

    @app.get("/agent/case-templates/<case_template_id>")
    def edit(case_template_id):
        _, departments = require_agent(web)
        found = template_or_404(case_template_id, departments)
        values = {"name": found.name, "department": found.department, "subject": found.subject, "body": found.body,
                  "category": str(found.category or ""), "priority": found.priority,
                  "request_type": found.request_type}
        return render("agent_case_templates.html", departments, values=values, editing=found, paths={})

    @app.post("/agent/case-templates")
    @app.post("/agent/case-templates/<case_template_id>")
    def save(case_template_id=None):
        person, departments = require_agent(web)
        found = template_or_404(case_template_id, departments) if case_template_id else None
        values = posted()
        if values["department"] not in departments:
            bottle.abort(404)
        category = parse_id(values["category"]) if values["category"] else None
        try:
            if values["category"] and not category:
                raise casetemplates.CaseTemplateError({"category": "category"})
            with ctx.db.atomic():
                casetemplates.save(name=values["name"], department=values["department"], subject=values["subject"],
                                   body=values["body"], category=category, priority=values["priority"],
                                   request_type=values["request_type"], by=person.email, template=found)
        except casetemplates.CaseTemplateError as error:
            return render("agent_case_templates.html", departments, status=400, values=values, editing=found,
                          paths={}, errors=field_errors("ct", error.problems))
        redirect("/agent/case-templates?done=saved", 303)

    @app.post("/agent/case-templates/<case_template_id>/delete")
    def delete(case_template_id):
        _, departments = require_agent(web)
        template_or_404(case_template_id, departments).delete_instance()
        redirect("/agent/case-templates?done=deleted", 303)

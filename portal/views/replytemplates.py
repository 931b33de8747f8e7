"""Reply templates in the agent pages: the list, a form to write or change one, and deleting one.

Agents edit their departments' templates; shared ones (for all
departments) are edited by admins. The case page puts a template into the
reply box (``agent.case_page`` with ``?mal=ID``); by mail ``#mal NAME``
does the same (``maild/agentmail.py``).
"""

from __future__ import annotations

import bottle

from maild import replytemplates
from maild.store.models import ReplyTemplate
from portal.views.agent import require_agent
from portal.web import is_admin, redirect, route_id


def install(app, web) -> None:
    """Add /agent/templates and its forms."""
    ctx = web.ctx

    def editable(person, departments) -> list[tuple[str, str]]:
        """(slug, name) of the departments whose templates the person may write; "" is all, for admins."""
        own = [(d.slug, d.name) for d in ctx.config.departments if d.slug in departments]
        return ([("", web.gettext("All departments"))] if is_admin(person) else []) + own

    def page(person, departments, status=200, errors=None, values=None, editing=None):
        return web.render("agent_templates.html", status=status, errors=errors or {}, values=values or {},
                          templates=replytemplates.available(departments), editing=editing,
                          places=editable(person, departments), placeholders=replytemplates.PLACEHOLDERS,
                          names={d.slug: d.name for d in ctx.config.departments},
                          done=bottle.request.query.get("done", ""))

    def template_or_404(template_id, person, departments) -> ReplyTemplate:
        found = ReplyTemplate.get_or_none(ReplyTemplate.id == route_id(template_id))
        if found is None or found.department not in [slug for slug, _ in editable(person, departments)]:
            bottle.abort(404)
        return found

    @app.get("/agent/templates")
    def templates():
        person, departments = require_agent(web)
        return page(person, departments)

    @app.get("/agent/templates/<template_id>")
    def edit(template_id):
        person, departments = require_agent(web)
        found = template_or_404(template_id, person, departments)
        return page(person, departments, editing=found,
                    values={"name": found.name, "department": found.department, "language": found.language,
                            "body": found.body})

    @app.post("/agent/templates")
    @app.post("/agent/templates/<template_id>")
    def save(template_id=None):
        person, departments = require_agent(web)
        found = template_or_404(template_id, person, departments) if template_id else None
        forms = bottle.request.forms
        values = {key: forms.getunicode(key, "") for key in ("name", "department", "language", "body")}
        if values["department"] not in [slug for slug, _ in editable(person, departments)]:
            bottle.abort(404)
        try:
            with ctx.db.atomic():
                replytemplates.save(values["name"], values["department"], values["language"], values["body"],
                                    person.email, template=found)
        except replytemplates.TemplateError as error:
            messages = {"name": web.gettext("A name is lowercase letters, digits, - and _, like takk-for-sist."),
                        "body": web.gettext("Write the template's text."),
                        "taken": web.gettext("There is a template of that name, place and language already.")}
            field = "name" if error.problem in ("name", "taken") else "body"
            return page(person, departments, status=400, errors={f"template-{field}": messages[error.problem]},
                        values=values, editing=found)
        redirect("/agent/templates?done=saved", 303)

    @app.post("/agent/templates/<template_id>/delete")
    def delete(template_id):
        person, departments = require_agent(web)
        template_or_404(template_id, person, departments).delete_instance()
        redirect("/agent/templates?done=deleted", 303)

"""The admin's page of published links: add, change and delete (SPEC 5, Links).

Only admins see it; for anyone else it is 404, like every agent URL. The
domain (``maild.links``) refuses any URL that is not http or https.
"""

from __future__ import annotations

import bottle

from maild import links
from maild.store.models import Link
from portal.views.agent_admin import require_admin
from portal.web import parse_id, redirect, route_id


def install(app, web) -> None:
    """Add /agent/links and its add, change and delete routes."""
    ctx = web.ctx

    def page(status=200, errors=None, values=None, editing=None):
        return web.render("agent_links.html", status=status, links=links.all_links(), errors=errors or {},
                          values=values or {}, editing=editing, done=bottle.request.query.get("done", ""),
                          labels={"title": web.gettext("Title"), "url": web.gettext("Address (URL)"),
                                  "description": web.gettext("Description"),
                                  "department": web.gettext("Department")})

    def error_text(exc: links.LinkError) -> str:
        return {"title": web.gettext("Write a title of at most 200 characters."),
                "url": web.gettext("Give an address starting with http:// or https://."),
                "description": web.gettext("The description is too long (at most 1000 characters)."),
                "department": web.gettext("Choose a department.")}.get(exc.field, str(exc))

    def save(link):
        forms = bottle.request.forms
        values = {"title": forms.getunicode("title", ""), "url": forms.getunicode("url", ""),
                  "description": forms.getunicode("description", ""),
                  "department": forms.getunicode("department", ""), "position": forms.getunicode("position", "0")}
        # A place in the list: a few ASCII digits, anything else puts it first.
        position = parse_id(values["position"].strip()[:6]) or 0
        try:
            with ctx.db.atomic():
                links.save(ctx.config, title=values["title"], url=values["url"], description=values["description"],
                           department=values["department"], position=position, link=link)
        except links.LinkError as exc:
            return page(status=400, errors={exc.field: error_text(exc)}, values=values,
                        editing=link.id if link else None)
        redirect("/agent/links?done=saved", 303)

    @app.get("/agent/links")
    def links_page():
        require_admin()
        return page()

    @app.post("/agent/links")
    def add_link():
        require_admin()
        return save(None)

    def link_or_404(link_id) -> Link:
        link = Link.get_or_none(Link.id == route_id(link_id))
        if link is None:
            bottle.abort(404)
        return link

    @app.post("/agent/links/<link_id>")
    def change_link(link_id):
        require_admin()
        return save(link_or_404(link_id))

    @app.post("/agent/links/<link_id>/delete")
    def delete_link(link_id):
        require_admin()
        link = link_or_404(link_id)
        with ctx.db.atomic():
            link.delete_instance()
        redirect("/agent/links?done=deleted", 303)

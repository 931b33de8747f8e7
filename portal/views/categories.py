"""The departments' category trees in the agent pages: listed, added to, renamed and deleted by admins.

Agents choose a case's category on the case page (``agent_actions``), by
``#category PATH`` in a mail (``maild/agentmail.py``), and filter the queue by
one (``agent.QueueView``); here only an admin changes the trees.
"""

from __future__ import annotations

import bottle

from maild import categories
from maild.store.models import Case, Category
from portal.views.agent_admin import require_admin
from portal.web import redirect, route_id


def install(app, web) -> None:
    """Add /agent/categories and its forms."""
    ctx = web.ctx

    def page(status=200, errors=None, values=None, editing=None):
        trees = [(d, categories.tree(d.slug)) for d in ctx.config.departments]
        used = {} if editing is None else {
            "cases": Case.select().where(Case.category.in_([c.id for c in categories.subtree(editing)])).count(),
            "below": len(categories.subtree(editing)) - 1}
        return web.render("agent_categories.html", status=status, errors=errors or {}, values=values or {},
                          trees=trees, editing=editing, used=used, part_max=categories.PART_MAX,
                          depth_max=categories.DEPTH_MAX, done=bottle.request.query.get("done", ""))

    def category_or_404(category_id) -> Category:
        found = Category.get_or_none(Category.id == route_id(category_id))
        if found is None or ctx.config.department(found.department) is None:
            bottle.abort(404)
        return found

    def problem(error: categories.CategoryError) -> str:
        if error.problem == "taken":
            return web.gettext("The department has a category of that name already.")
        return web.gettext("Name it by its path, parts separated by /, like Maskinvare/Skriver: at most "
                           "%(depth)d parts of at most %(length)d characters, without ; = or #.") % {
                               "depth": categories.DEPTH_MAX, "length": categories.PART_MAX}

    @app.get("/agent/categories")
    def listing():
        require_admin()
        return page()

    @app.get("/agent/categories/<category_id>")
    def edit(category_id):
        require_admin()
        found = category_or_404(category_id)
        return page(editing=found, values={"rename-path": found.path})

    @app.post("/agent/categories")
    def add():
        require_admin()
        forms = bottle.request.forms
        values = {"category-department": forms.get("department", ""), "category-path": forms.getunicode("path", "")}
        dept = ctx.config.department(values["category-department"])
        if dept is None:
            return page(status=400, values=values,
                        errors={"category-department": web.gettext("Choose one of the departments.")})
        try:
            with ctx.db.atomic():
                categories.add(dept.slug, values["category-path"])
        except categories.CategoryError as error:
            return page(status=400, values=values, errors={"category-path": problem(error)})
        redirect("/agent/categories?done=added", 303)

    @app.post("/agent/categories/<category_id>")
    def rename(category_id):
        require_admin()
        found = category_or_404(category_id)
        text = bottle.request.forms.getunicode("path", "")
        try:
            with ctx.db.atomic():
                categories.rename(found, text)
        except categories.CategoryError as error:
            return page(status=400, values={"rename-path": text}, editing=found,
                        errors={"rename-path": problem(error)})
        redirect("/agent/categories?done=renamed", 303)

    @app.post("/agent/categories/<category_id>/delete")
    def delete(category_id):
        require_admin()
        found = category_or_404(category_id)
        with ctx.db.atomic():
            categories.delete(found)
        redirect("/agent/categories?done=deleted", 303)

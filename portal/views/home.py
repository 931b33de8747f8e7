"""The home page, a new request to a department, the theme stylesheet and static files.

A department with intake forms shows them as a catalogue; beside them, and
for a department without forms, is the plain form every helpdesk starts
with: subject, description and attachments. Both open the case through the
same domain operation as mail, so the acknowledgement and the department's
notification go out alike.
"""

from __future__ import annotations

from pathlib import Path

import bottle

from maild import cases, forms, links, notices
from maild.store.models import utcnow
from portal import auth, uploads
from portal.web import require_login

STATIC = Path(__file__).resolve().parent.parent / "static"
SUBJECT_MAX, TEXT_MAX = 200, 20000


def install(app, web) -> None:
    """Add the home, new-request, theme and static routes."""
    ctx = web.ctx

    @app.get("/")
    def home():
        return web.render("home.html", banners=notices.active(), links=links.for_department(""))

    @app.get("/static/<path:path>")
    def static(path):
        response = bottle.static_file(path, root=str(STATIC))
        response.set_header("Cache-Control", "public, max-age=3600")
        return response

    @app.get("/theme.css")
    def theme():
        # Values were checked by the configuration (colours, font): safe in CSS.
        bottle.response.content_type = "text/css; charset=utf-8"
        bottle.response.set_header("Cache-Control", "public, max-age=300")
        t = ctx.config["portal.theme"]
        return (f":root {{ --primary: {t['colour_primary']}; --background: {t['colour_background']}; "
                f"--text: {t['colour_text']}; --font: {t['font']}; }}\n")

    def department_or_404(slug):
        dept = ctx.config.department(slug)
        if dept is None:
            bottle.abort(404)
        return dept

    @app.get("/new")
    def choose_department():
        return web.render("new_department.html")

    @app.get("/new/<slug>")
    def department_catalogue(slug):
        dept = department_or_404(slug)
        offered = forms.forms_of(web.forms, dept.slug)
        if not offered:
            require_login()
            return web.render("new_request.html", dept=dept, values={}, errors={})
        # The department's own links beside its forms (the home page has everyone's).
        own = [link for link in links.for_department(dept.slug) if link.department == dept.slug]
        return web.render("new_catalogue.html", dept=dept, offered=offered, links=own)

    @app.get("/new/<slug>/message")
    def new_request_form(slug):
        require_login()
        return web.render("new_request.html", dept=department_or_404(slug), values={}, errors={})

    @app.post("/new/<slug>/message")
    def new_request(slug):
        person = require_login()
        dept = department_or_404(slug)
        forms = bottle.request.forms
        values = {"subject": forms.getunicode("subject", "").strip(),
                  "description": forms.getunicode("description", "").strip()}
        errors = {}
        if not values["subject"]:
            errors["subject"] = web.gettext("Write a short subject.")
        elif len(values["subject"]) > SUBJECT_MAX:
            errors["subject"] = web.gettext("The subject is too long (at most 200 characters).")
        if not values["description"]:
            errors["description"] = web.gettext("Describe what you need.")
        elif len(values["description"]) > TEXT_MAX:
            errors["description"] = web.gettext("The description is too long.")
        parts, upload_error = uploads.read(ctx.config, bottle.request.files.getall("files"))
        if upload_error:
            errors["files"] = uploads.describe(upload_error, web.gettext)
        if errors:
            return web.render("new_request.html", status=400, dept=dept, values=values, errors=errors)
        now = utcnow()
        with ctx.db.atomic():
            if auth.over_limit("request", str(person.id), now):
                errors["form"] = web.gettext("You have sent many requests in a short time. Try again later.")
                return web.render("new_request.html", status=429, dept=dept, values=values, errors=errors)
            case, _ = cases.open_case(ctx, department=dept, requester=person, subject=values["subject"],
                                      body_text=values["description"], parts=parts, now=now)
        ctx.outbox_wakeup.set()
        bottle.redirect(f"/requests/{case.id}?done=created", 303)

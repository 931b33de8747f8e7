"""The home page, a new request to a department, the theme stylesheet and static files.

A department with intake forms shows them as a catalogue; beside them, and
for a department without forms, is the plain form every helpdesk starts
with: subject, description and attachments. Both open the case through the
same domain operation as mail, so the acknowledgement and the department's
notification go out alike. Where the department has published FAQ articles,
starting a request passes the similar-questions step first
(``portal.views.faq``); the plain form carries the attempt's key, so
suggestions opened for it are not counted as deflection once it is sent.
"""

from __future__ import annotations

from pathlib import Path

import bottle

from maild import cases, deflection, faq, forms, language, links, notices
from maild.store.models import utcnow
from portal import auth, uploads
from portal.views.faq import start_url
from portal.web import current, redirect, require_login

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

    @app.get("/favicon.ico")
    def favicon():
        # Browsers ask for it on every site whatever the page links to.
        response = bottle.static_file("favicon.ico", root=str(STATIC), mimetype="image/x-icon")
        response.set_header("Cache-Control", "public, max-age=86400")
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
        asks = faq.has_published(dept.slug)
        if not offered:
            require_login()
            if asks:
                redirect(start_url(dept, None, asks), 303)
            return plain_form(dept)
        # The department's own links beside its forms (the home page has everyone's).
        own = [link for link in links.for_department(dept.slug) if link.department == dept.slug]
        starts = {form.id: start_url(dept, form, asks) for form in offered}
        return web.render("new_catalogue.html", dept=dept, offered=offered, links=own, starts=starts,
                          message_start=start_url(dept, None, asks))

    def plain_form(dept, status=200, values=None, errors=None):
        query = bottle.request.query
        # What the similar-questions step carried in, or nothing; the key starts the attempt.
        values = values or {"subject": query.getunicode("subject", "").strip()[:SUBJECT_MAX],
                            "request": deflection.key_or_new(query.get("request", ""))}
        return web.render("new_request.html", status=status, dept=dept, values=values, errors=errors or {})

    @app.get("/new/<slug>/message")
    def new_request_form(slug):
        require_login()
        return plain_form(department_or_404(slug))

    @app.post("/new/<slug>/message")
    def new_request(slug):
        person = require_login()
        dept = department_or_404(slug)
        forms = bottle.request.forms
        values = {"subject": forms.getunicode("subject", "").strip(),
                  "description": forms.getunicode("description", "").strip(),
                  "request": deflection.key_or_new(forms.get("request", ""))}
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
            return plain_form(dept, status=400, values=values, errors=errors)
        now = utcnow()
        with ctx.db.atomic():
            if auth.over_limit("request", str(person.id), now):
                errors["form"] = web.gettext("You have sent many requests in a short time. Try again later.")
                return plain_form(dept, status=429, values=values, errors=errors)
            # Before the acknowledgement is written: in the language they wrote.
            language.learn_in_portal(ctx.config, person, values["subject"], values["description"],
                                     current().language)
            case, _ = cases.open_case(ctx, department=dept, requester=person, subject=values["subject"],
                                      body_text=values["description"], parts=parts, now=now,
                                      by_mail=False)
            deflection.mark_submitted(values["request"])
        ctx.outbox_wakeup.set()
        redirect(f"/requests/{case.id}?done=created", 303)

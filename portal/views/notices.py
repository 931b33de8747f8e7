"""Operational notices in the portal: the customers' page and subscriptions, the signed unsubscribe
link, and the agents' page that publishes, updates and resolves them (SPEC 5).

An agent may manage a notice only when it concerns nothing but departments
they are an agent of; a notice for all departments needs an admin (or an
agent of every department). Anyone else gets 404, as for every agent URL.
"""

from __future__ import annotations

import bottle

from maild import localtime, notices
from maild.store.models import Notice, utcnow
from portal.views.agent import require_agent
from portal.web import current, is_admin, redirect, require_login, route_id

# Resolved and ended notices shown to agents, newest first.
RECENT = 20


def may_manage(person, departments: tuple[str, ...], notice_departments) -> bool:
    """Whether an agent may publish or change a notice for these departments ([] is all)."""
    if is_admin(person):
        return True
    wanted = list(notice_departments) or None
    if wanted is None:
        return False
    return all(slug in departments for slug in wanted)


def install(app, web) -> None:
    """Add /notices, the subscription forms, /unsubscribe and /agent/notices."""
    ctx = web.ctx

    def labels():
        return {"title": web.gettext("Title"), "text": web.gettext("Text"),
                "severity": web.gettext("Severity"), "departments": web.gettext("Departments"),
                "ends_at": web.gettext("Ends")}

    def error_text(exc: notices.NoticeError) -> str:
        messages = {"title": web.gettext("Write a title of at most 200 characters."),
                    "text": web.gettext("The text is too long (at most 5000 characters)."),
                    "severity": web.gettext("Choose a severity."),
                    "departments": web.gettext("Choose departments you work in."),
                    "ends_at": web.gettext("The end must be a date and time after the start.")}
        return messages.get(exc.field, str(exc))

    # ------------------------------------------------------------------ customers

    @app.get("/notices")
    def notices_page():
        person = current().person
        subscribed = notices.subscriptions_of(person) if person else set()
        return web.render("notices.html", notices=notices.active(), subscribed=subscribed,
                          done=bottle.request.query.get("done", ""))

    @app.post("/notices/subscription")
    def subscription():
        person = require_login()
        slug = bottle.request.forms.getunicode("department", "")
        if slug and ctx.config.department(slug) is None:
            bottle.abort(400)
        with ctx.db.atomic():
            if bottle.request.forms.get("action") == "unsubscribe":
                notices.unsubscribe(person, slug)
                done = "unsubscribed"
            else:
                notices.subscribe(person, slug)
                done = "subscribed"
        redirect(f"/notices?done={done}", 303)

    def signed_or_404(sub_id, signature):
        sub_id = route_id(sub_id)
        if not ctx.signer.verify(signature, "unsub", sub_id):
            bottle.abort(404)
        return sub_id

    @app.get("/unsubscribe/<sub_id>/<signature>")
    def unsubscribe_confirm(sub_id, signature):
        # A GET changes nothing: mail scanners open every link (RFC 8058 3.2).
        sub_id = signed_or_404(sub_id, signature)
        sub = notices.NoticeSubscription.get_or_none(notices.NoticeSubscription.id == sub_id)
        dept = ctx.config.department(sub.department) if sub and sub.department else None
        return web.render("unsubscribe.html", sub=sub, dept=dept, sub_id=sub_id, signature=signature, done=False)

    @app.post("/unsubscribe/<sub_id>/<signature>")
    def unsubscribe(sub_id, signature):
        sub_id = signed_or_404(sub_id, signature)
        with ctx.db.atomic():
            # Already gone is no error: a mail client may send the one-click POST twice.
            notices.NoticeSubscription.delete().where(notices.NoticeSubscription.id == sub_id).execute()
        return web.render("unsubscribe.html", sub=None, dept=None, sub_id=sub_id, signature=signature, done=True)

    # ------------------------------------------------------------------ agents

    def agent_page(person, departments, status=200, errors=None, values=None, editing=None):
        now = utcnow()
        rows = list(Notice.select().order_by(Notice.id.desc()).limit(RECENT + 50))
        mine = [n for n in rows if may_manage(person, departments, n.departments)]
        live = [n for n in mine if notices.is_active(n, now) or (n.resolved_at is None and n.starts_at > now)]
        past = [n for n in mine if n not in live][:RECENT]
        choices = [d for d in ctx.config.departments if is_admin(person) or d.slug in departments]
        return web.render("agent_notices.html", status=status, live=live, past=past, choices=choices,
                          may_all=may_manage(person, departments, []), errors=errors or {},
                          values=values or {}, editing=editing, labels=labels(),
                          done=bottle.request.query.get("done", ""))

    @app.get("/agent/notices")
    def agent_notices():
        person, departments = require_agent(web)
        return agent_page(person, departments)

    def read_form():
        forms = bottle.request.forms
        values = {"title": forms.getunicode("title", "").strip(), "text": forms.getunicode("text", "").strip(),
                  "severity": forms.getunicode("severity", "info"), "ends_at": forms.getunicode("ends_at", ""),
                  "departments": [s for s in forms.getall("departments") if s]}
        try:
            ends = localtime.parse(values["ends_at"], current().zone)
        except ValueError:
            raise notices.NoticeError("ends_at", "not a date and time")
        return values, ends

    @app.post("/agent/notices")
    def publish():
        person, departments = require_agent(web)
        values = {}
        try:
            values, ends = read_form()
            if not may_manage(person, departments, values["departments"]):
                raise notices.NoticeError("departments", "not yours")
            with ctx.db.atomic():
                notices.publish(ctx, title=values["title"], text=values["text"], severity=values["severity"],
                                departments=values["departments"], ends_at=ends)
        except notices.NoticeError as exc:
            return agent_page(person, departments, status=400, errors={exc.field: error_text(exc)}, values=values)
        ctx.outbox_wakeup.set()
        redirect("/agent/notices?done=published", 303)

    def notice_or_404(person, departments, notice_id) -> Notice:
        notice = Notice.get_or_none(Notice.id == route_id(notice_id))
        if notice is None or not may_manage(person, departments, notice.departments):
            bottle.abort(404)
        return notice

    @app.post("/agent/notices/<notice_id>")
    def update(notice_id):
        person, departments = require_agent(web)
        notice = notice_or_404(person, departments, notice_id)
        values = {}
        try:
            values, ends = read_form()
            with ctx.db.atomic():
                notices.update(ctx, notice, title=values["title"], text=values["text"],
                               severity=values["severity"], ends_at=ends)
        except notices.NoticeError as exc:
            return agent_page(person, departments, status=400, errors={exc.field: error_text(exc)},
                              values=values, editing=notice.id)
        ctx.outbox_wakeup.set()
        redirect("/agent/notices?done=updated", 303)

    @app.post("/agent/notices/<notice_id>/resolve")
    def resolve(notice_id):
        person, departments = require_agent(web)
        notice = notice_or_404(person, departments, notice_id)
        with ctx.db.atomic():
            notices.resolve(ctx, notice)
        ctx.outbox_wakeup.set()
        redirect("/agent/notices?done=resolved", 303)

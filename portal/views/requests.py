"""My requests, one case, replying, marking as solved, and the case's files.

Every query is scoped to the logged-in person through ``cases.visible_case``;
anything else (another person's case, entry or file, an internal note) is
404, never 403, so ids reveal nothing (MAIL_RULES 71). Mail HTML is shown
cleaned, in a sandboxed iframe without scripts or same-origin; its ``cid:``
images come from signed, short-lived URLs, because a sandboxed frame sends no
cookies (MAIL_RULES 68-70).
"""

from __future__ import annotations

import time

import bottle

from maild import approvals, cases, merge, notices, search
from maild.outbound import outbox
from maild.store.models import Attachment, Case, Entry, Person, utcnow
from portal import auth, downloads, history, render, uploads
from portal.web import current, page_number, redirect, require_login, route_id

ACTIVE, CLOSED = ("new", "open", "pending"), ("closed",)


def install(app, web) -> None:
    """Add the My requests, case, reply, solve and file routes."""
    ctx = web.ctx

    @app.get("/requests")
    def my_requests():
        person = require_login()
        size = ctx.config["portal"]["page_size"]
        tab = bottle.request.query.get("status", "active")
        tab = tab if tab in ("active", "closed") else "active"
        text = bottle.request.query.getunicode("q", "").strip()[:200]
        page = page_number()
        if text:
            total, ids = search.search_cases(text, person=person, public_only=True, limit=size,
                                             offset=(page - 1) * size)
            rows = search.in_order(Case, ids)
        else:
            query = cases.customer_cases(person).where(
                Case.status.in_(ACTIVE if tab == "active" else CLOSED))
            total = query.count()
            # The page's ids first, then their rows: the ids come from the
            # (status, updated_at, id) index alone, where the whole rows of
            # every case of the tab's statuses were read to keep 20 of them
            # (PostgreSQL, 100,000 cases: 1.3 ms instead of 4; migration 0018).
            ids = [c.id for c in query.select(Case.id)
                   .order_by(Case.updated_at.desc(), Case.id.desc()).paginate(page, size)]
            rows = search.in_order(Case, ids)
        pages = max(1, (total + size - 1) // size)
        return web.render("requests.html", rows=rows, tab=tab, q=text, page=page, pages=pages, total=total)

    def case_or_404(case_id) -> tuple[Person, Case]:
        person = require_login()
        case = cases.visible_case(person, route_id(case_id))
        if case is None:
            bottle.abort(404)
        return person, case

    @app.get("/requests/<case_id>")
    def show_case(case_id):
        person = require_login()
        number = route_id(case_id)
        case = cases.visible_case(person, number)
        if case is None:
            # A request merged into another: its link (in older mail) leads there, when that is theirs.
            holder = merge.resolve(Case.get_or_none(Case.id == number))
            if holder is not None and holder.id != number and cases.visible_case(person, holder.id):
                redirect(f"/requests/{holder.id}", 303)
            bottle.abort(404)
        return _case_page(person, case)

    def _case_page(person, case, status=200, errors=None, reply=""):
        entries = list(cases.public_entries(case))
        history.load_authors(entries)
        files = history.files_by_entry(entries)
        now, language = int(time.time()), current().language
        views = [history.entry_view(ctx, e, files.get(e.id, []), now, language) for e in entries]
        dept = ctx.config.department(case.department)
        done = bottle.request.query.get("done", "")
        # The page claims a confirmation only when one is in the outbox (it may
        # not be: the address may be stopped after bounces).
        acknowledged = done == "created" and outbox.acknowledged(case, person.email)
        asked = approvals.of_case(case)
        return web.render("case.html", status=status, case=case, entries=views, errors=errors or {},
                          reply=reply, dept=dept, banners=notices.active(case.department),
                          may_reply=cases.reopen_allowed(ctx, case), approvals=asked,
                          names=approvals.approver_names(asked), done=done, acknowledged=acknowledged)

    @app.post("/requests/<case_id>/reply")
    def reply(case_id):
        person, case = case_or_404(case_id)
        text = bottle.request.forms.getunicode("text", "").strip()
        errors = {}
        parts, problem = uploads.read(ctx.config, bottle.request.files.getall("files"))
        if problem:
            errors["files"] = uploads.describe(problem, web.gettext)
        if not text and not parts and not problem:
            errors["text"] = web.gettext("Write a message or attach a file.")
        elif len(text) > 20000:
            errors["text"] = web.gettext("The message is too long.")
        if errors:
            return _case_page(person, case, 400, errors, text)
        now = utcnow()
        with ctx.db.atomic():
            if auth.over_limit("reply", str(person.id), now):
                errors["form"] = web.gettext("You have sent many messages in a short time. Try again later.")
                return _case_page(person, case, 429, errors, text)
            try:
                cases.customer_message(ctx, case, person, text, parts, now)
            except cases.CaseClosed:
                errors["form"] = web.gettext("This request was closed some time ago. Please start a new request.")
                return _case_page(person, case, 400, errors, text)
        ctx.outbox_wakeup.set()
        redirect(f"/requests/{case.id}?done=sent#reply", 303)

    @app.post("/requests/<case_id>/solve")
    def solve(case_id):
        person, case = case_or_404(case_id)
        with ctx.db.atomic():
            cases.mark_solved(ctx, case, person)
        ctx.outbox_wakeup.set()
        redirect(f"/requests/{case.id}?done=solved", 303)

    @app.get("/requests/<case_id>/files/<attachment_id>")
    def download(case_id, attachment_id):
        _, case = case_or_404(case_id)
        attachment = (Attachment.select().join(Entry)
                      .where((Attachment.id == route_id(attachment_id)) & (Entry.case == case)
                             & (Entry.public == True) & Entry.kind.in_(("message", "reply")))  # noqa: E712
                      .first())
        if attachment is None:
            bottle.abort(404)
        return downloads.serve(attachment, inline=False)

    def signed_key(purpose: str, key: str, expires: str, signature: str) -> int:
        """The id a signed, unexpired URL of history.signed_path names; 404 for anything else."""
        key_id, expires = route_id(key), route_id(expires)
        if expires < time.time() or not ctx.signer.verify(signature, purpose, key_id, expires):
            bottle.abort(404)
        return key_id

    @app.get("/mail/<entry_id>/<expires>/<signature>")
    def mail_frame(entry_id, expires, signature):
        """A message's HTML for its sandboxed frame, by a signed URL (a sandboxed frame sends no cookie)."""
        entry = Entry.get_or_none(Entry.id == signed_key("mail", entry_id, expires, signature))
        if entry is None or not entry.body_html:
            bottle.abort(404)
        files = list(Attachment.select().where(Attachment.entry == entry).order_by(Attachment.id))
        response = bottle.response
        response.content_type = "text/html; charset=utf-8"
        response.set_header("Content-Security-Policy", render.FRAME_CSP)
        response.set_header("X-Frame-Options", "SAMEORIGIN")
        response.set_header("Referrer-Policy", "no-referrer")
        response.set_header("Cache-Control", "private, no-store")
        return history.mail_document(ctx, entry, files, int(time.time()), current().language)

    @app.get("/inline/<attachment_id>/<expires>/<signature>")
    def inline_image(attachment_id, expires, signature):
        attachment = Attachment.get_or_none(Attachment.id == signed_key("inline", attachment_id, expires, signature))
        if attachment is None or not render.is_inline_image(attachment.content_type):
            bottle.abort(404)
        return downloads.serve(attachment, inline=True)

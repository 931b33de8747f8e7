"""The admin's lists: incoming mail that failed, outgoing mail that died, each with Retry.

Retry calls the very functions ``sensedesk spool retry`` and ``sensedesk
outbox retry`` call (``runner.retry``, ``outbox.retry``), then rings the
worker's doorbell so the row is taken at once. Only a person with the admin
role sees these pages; for anyone else they are 404, like every agent URL.
"""

from __future__ import annotations

import bottle

from maild import runner
from maild.outbound import outbox
from maild.store.models import Outbox, Spool, utcnow
from portal.web import is_admin, redirect, require_login, route_id

# Rows shown per list, newest first; the command line lists them all.
LIMIT = 100


def first_line(text: str) -> str:
    """The first non-empty line of a text, for a table cell."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


def _why(row: Spool) -> str:
    # ``reason`` is "Type: message" of the last failure; the traceback's own
    # first line ("Traceback (most recent call last):") says nothing, its last does.
    if row.reason:
        return first_line(row.reason)
    lines = [line for line in (row.error or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def require_admin():
    """The logged-in admin; 404 for anyone else (login first)."""
    person = require_login()
    if not is_admin(person):
        bottle.abort(404)
    return person


def install(app, web) -> None:
    """Add the admin page and its two Retry routes."""
    ctx = web.ctx

    @app.get("/agent/admin")
    def admin_page():
        require_admin()
        failed = (Spool.select(Spool.id, Spool.received_at, Spool.source, Spool.mail_from, Spool.attempts,
                               Spool.reason, Spool.error)
                  .where(Spool.state == "failed").order_by(Spool.id.desc()).limit(LIMIT))
        dead = (Outbox.select(Outbox.id, Outbox.created_at, Outbox.recipient, Outbox.subject, Outbox.attempts,
                              Outbox.last_error, Outbox.case)
                .where(Outbox.state == "dead").order_by(Outbox.id.desc()).limit(LIMIT))
        spool_rows = [{"row": row, "why": _why(row)} for row in failed]
        outbox_rows = [{"row": row, "why": first_line(row.last_error)} for row in dead]
        return web.render("agent_admin.html", spool_rows=spool_rows, outbox_rows=outbox_rows,
                          spool_total=Spool.select().where(Spool.state == "failed").count(),
                          outbox_total=Outbox.select().where(Outbox.state == "dead").count(),
                          limit=LIMIT, done=bottle.request.query.get("done", ""))

    @app.post("/agent/admin/spool/<row_id>/retry")
    def retry_spool(row_id):
        require_admin()
        row_id = route_id(row_id)
        if not Spool.select(Spool.id).where(Spool.id == row_id).exists():
            bottle.abort(404)
        if runner.retry(ctx.db, row_id):
            ctx.spool_wakeup.set()
            redirect("/agent/admin?done=spool", 303)
        # Retried meanwhile by someone else, or processed: nothing to do, and no error.
        redirect("/agent/admin?done=unchanged", 303)

    @app.post("/agent/admin/outbox/<row_id>/retry")
    def retry_outbox(row_id):
        require_admin()
        row_id = route_id(row_id)
        if not Outbox.select(Outbox.id).where(Outbox.id == row_id).exists():
            bottle.abort(404)
        if outbox.retry(ctx.db, row_id, utcnow()):
            ctx.outbox_wakeup.set()
            redirect("/agent/admin?done=outbox", 303)
        redirect("/agent/admin?done=unchanged", 303)

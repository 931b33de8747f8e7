"""``/healthz``: whether this Sensedesk is well, for a load balancer or a monitor.

No login, no session, and no detail beyond "ok" (200) or "not ok" (503):
the store must answer, and inside ``sensedesk run`` every part of the daemon
must be running. Which part is down is told by ``sensedesk check``.
"""

from __future__ import annotations

import logging

import bottle

log = logging.getLogger(__name__)


def install(app, web) -> None:
    """Add the health route."""
    ctx = web.ctx

    @app.get("/healthz")
    def healthz():
        bottle.response.content_type = "text/plain; charset=utf-8"
        bottle.response.set_header("Cache-Control", "no-store")
        try:  # a request is a loop boundary: any failure of the store is "not ok"
            ctx.db.execute_sql("SELECT 1")
            stopped = ctx.health() if ctx.health else []
        except Exception:
            log.exception("health check: the store does not answer")
            stopped = ["store"]
        if stopped:
            bottle.response.status = 503
            return "not ok"
        return "ok"

"""``create_app(config)``: the customer portal as a Bottle application, and serving it.

The portal is a thin face over maild's domain operations (``maild.cases``):
it never writes cases or entries around them, so a reply in the portal sends
the same mail as a reply by email. Pages are rendered on the server with
Jinja2 (autoescaped) and work without JavaScript. ``serve`` runs it under
waitress, inside ``sensedesk run`` or alone with ``sensedesk portal``.
"""

from __future__ import annotations

import logging
import threading

import bottle

from maild import context, forms
from maild.config import Config
from portal import views
from portal.web import Web, max_body_bytes

log = logging.getLogger(__name__)

# Bodies above this are spooled to a temporary file (by waitress, then by Bottle), not kept in memory.
MEMORY_BODY_BYTES = 1024 * 1024
bottle.BaseRequest.MEMFILE_MAX = MEMORY_BODY_BYTES

def create_app(config: Config, ctx: context.Context | None = None) -> bottle.Bottle:
    """The portal application for a configuration (and, inside the daemon, its context)."""
    ctx = ctx or context.build(config)
    web = Web(ctx)
    # A bad form stops the start with one line naming file and field (forms.FormError).
    web.forms = ctx.forms = forms.load_forms(config["site"]["forms_dir"], config)
    app = bottle.Bottle()
    app.config["sensedesk.web"] = web
    app.add_hook("before_request", web.before)
    app.add_hook("after_request", web.after)
    views.install(app, web)

    def error_page(status: int):
        def handler(error):
            try:
                return web.render("error.html", status=status, code=status)
            except Exception:  # loop boundary: an error page must not fail in turn
                log.exception("error page %s failed", status)
                return f"{status}"
        return handler

    for status in (400, 403, 404, 405, 413, 429, 500):
        app.error(status)(error_page(status))
    return app


class PortalServer:
    """The portal under waitress in a thread of the daemon; ``stop`` closes it."""

    def __init__(self, app: bottle.Bottle, config: Config, threads: int = 4):
        import waitress

        self.app = app
        host, _, port = config["portal"]["listen"].rpartition(":")
        trusted_proxy = config["portal"]["trusted_proxy"]
        # Behind a reverse proxy every peer is the proxy: trusting its
        # X-Forwarded-For (and only its) gives each client its own rate limit.
        proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"}} \
            if trusted_proxy else {}
        self.server = waitress.create_server(
            app, host=host.strip("[]"), port=int(port), threads=threads, ident="Sensedesk",
            clear_untrusted_proxy_headers=True,
            # select() cannot watch a descriptor above 1023: with a thousand
            # SMTP connections open, the portal's next socket would end its
            # loop with "filedescriptor out of range". poll() has no such limit.
            asyncore_use_poll=True,
            # waitress reads a whole body before the application sees it; past
            # this it answers 413 at once instead of filling the disk.
            max_request_body_size=max_body_bytes(config),
            # Bodies larger than this go to a temporary file, not memory.
            inbuf_overflow=MEMORY_BODY_BYTES,
            **proxy)
        self.host, self.port = self.server.effective_host, self.server.effective_port
        self.thread = threading.Thread(target=self._run, name="portal", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except OSError:
            pass  # closed by stop()

    name = "portal"

    def start(self) -> None:
        """Start answering."""
        self.thread.start()

    def is_alive(self) -> bool:
        """Whether waitress's loop still runs."""
        return self.thread.is_alive()

    def stop(self) -> None:
        """Stop answering: close the listening socket and every open connection."""
        from waitress import wasyncore

        channels = getattr(self.server, "_map", None)
        trigger = getattr(self.server, "trigger", None)
        if channels is not None and trigger is not None and self.thread.is_alive():
            # waitress's loop looks at its sockets only when poll() returns,
            # up to asyncore_loop_timeout (1 s) later, and runs while any
            # connection is open (a browser keeps its own open): closing them
            # all inside the loop, through its trigger, ends it at once.
            try:
                trigger.pull_trigger(lambda: wasyncore.close_all(channels))
            except OSError:  # the trigger is closed: the loop has ended
                pass
            else:
                self.thread.join(timeout=10)
        self.server.close()  # after close_all, this closes nothing twice
        self.thread.join(timeout=10)

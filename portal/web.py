"""What every request needs: the store, who is asking, their language, CSRF, pages and errors.

``Web`` is built once by ``create_app``; its hooks open the store's connection
for the request, read the session cookie, choose the language, check the CSRF
token and origin of every POST, and add the security headers (CSP, nosniff,
no framing) to every answer (MAIL_RULES 69, 72).
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
import secrets
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote, urlsplit

import bottle
import jinja2

from maild import localtime, people
from maild.config import Config
from maild.context import TEMPLATES_DIR, Context
from maild.store.models import Person
from portal import auth, i18n

# Pages: scripts and styles from our origin only; images also as data: (the
# logo may be one); no plugins, no framing by others (MAIL_RULES 69).
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

# A host (and port) as a CSP source may name it: nothing that could end the directive.
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::[0-9]{1,5})?$")

# Pages for machines (a monitor's health check): no session, no cookie.
SESSIONLESS = frozenset({"/healthz", "/favicon.ico"})

# POSTs whose URL carries an HMAC over what they change: no CSRF token needed.
SIGNED_POSTS = ("/unsubscribe/", "/approval/")


@dataclasses.dataclass
class State:
    """Who is asking, in which language, with which cookie value."""

    sid: str
    person: Person | None
    language: str
    new_cookie: bool = False
    # [site] base_url without its trailing slash: where redirects point.
    base_url: str = ""
    # Slugs of the departments the person is an agent of; None until first asked
    # (Web.agent_departments), so pages that never ask cost no query.
    agent_of: tuple[str, ...] | None = None
    # The zone the person reads times in (theirs, else [site] timezone).
    zone: zoneinfo.ZoneInfo | None = None


# What a multipart form adds around its files: boundaries, part headers, the text fields.
FORM_OVERHEAD_BYTES = 1024 * 1024


def max_body_bytes(config: Config) -> int:
    """The largest request body the portal reads: twice the largest upload and a form.

    The files' own limits ([mail] max_attachment_bytes each, [smtp_in]
    max_message_bytes together) are checked by the form that reads them, so a
    file somewhat over the limit comes back as that form's error with
    everything typed kept; a body past this is refused at once (413).
    """
    return 2 * config["smtp_in"]["max_message_bytes"] + FORM_OVERHEAD_BYTES


class Web:
    """The portal's shared parts: store, templates per language, cookie settings."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.config = ctx.config
        self.secret = ctx.signer.secret
        self.base_url = self.config["site"]["base_url"].rstrip("/")
        base = urlsplit(self.base_url)
        self.base_origin = f"{base.scheme}://{base.netloc}".lower()
        self.secure = base.scheme == "https"
        # The __Host- prefix pins the cookie to this host and path /, Secure only (RFC 6265bis 4.1.3.2).
        self.cookie = "__Host-sd" if self.secure else "sd"
        self.forms: dict = {}  # intake forms by id, set by create_app
        # A logo on another host is the one image the pages may load from elsewhere.
        logo = urlsplit(self.config["portal.theme"]["logo_url"])
        self.csp = CSP.replace("img-src 'self' data:", f"img-src 'self' data: https://{logo.netloc}") \
            if logo.scheme == "https" and _HOST.match(logo.netloc) else CSP
        self.translations = {language: i18n.load(language) for language in i18n.LANGUAGES}
        self.envs = {language: self._environment(language) for language in i18n.LANGUAGES}

    def _environment(self, language: str) -> jinja2.Environment:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(TEMPLATES_DIR) / "portal")),
                                 autoescape=True, extensions=["jinja2.ext.i18n"],
                                 trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_translations(self.translations[language], newstyle=True)
        env.filters["size"] = lambda size: i18n.file_size(size, language)
        # Stored times in the asker's zone and language ("2. des. 2026 kl. 16:00").
        env.filters["moment"] = lambda value: localtime.moment(value, language, current().zone)
        env.filters["day"] = lambda value: localtime.day(value, language, current().zone)
        env.filters["input_time"] = lambda value: localtime.input_value(value, current().zone)
        env.globals["reader_zone"] = lambda: current().zone.key
        env.globals.update(theme=self.config["portal.theme"], site=self.config["site"],
                           departments=self.config.departments, language=language,
                           prefix=self.config["site"]["token_prefix"],
                           upload_limit=self.config["mail"]["max_attachment_bytes"])
        return env

    # ------------------------------------------------------------------ hooks

    def before(self) -> None:
        """Open the store, read the session, choose the language, guard POSTs."""
        request = bottle.request
        self.ctx.db.connect(reuse_if_open=True)
        if request.path in SESSIONLESS:
            return
        sid = request.get_cookie(self.cookie) or ""
        person = auth.session_person(sid) if sid else None
        new_cookie = not sid
        if new_cookie:
            sid = auth.new_token()
        language = i18n.choose(person.language if person else "", request.get_cookie("lang") or "",
                               request.headers.get("Accept-Language", ""), self.config["site"]["language"])
        request.environ["sd.state"] = State(sid=sid, person=person, language=language, new_cookie=new_cookie,
                                            base_url=self.base_url, zone=localtime.zone(self.config, person))
        if new_cookie:
            # Set now, not after the route: a redirect or an error raised by the
            # route carries the headers set so far and no later ones.
            self.set_cookie(sid, persistent=False)
        if request.method == "POST":
            self._guard_post(sid, new_cookie)

    def _guard_post(self, sid: str, new_cookie: bool) -> None:
        request = bottle.request
        origin = request.headers.get("Origin")
        if origin and origin.lower() not in (self.base_origin, self._own_origin()):
            bottle.abort(403, "cross-site request")
        length = request.content_length or 0
        if length > max_body_bytes(self.config):
            bottle.abort(413, "too large")
        if request.path.startswith(SIGNED_POSTS):
            # The signed URL itself is the permission, and a mail client's
            # one-click POST (RFC 8058) carries neither cookie nor token.
            return
        token = request.forms.get("csrf", "")
        if new_cookie or not auth.csrf_ok(self.secret, sid, token):
            bottle.abort(403, "missing or wrong CSRF token")

    def _own_origin(self) -> str:
        parts = bottle.request.urlparts
        return f"{parts.scheme}://{parts.netloc}".lower()

    def after(self) -> None:
        """Security headers on every answer; close the store."""
        response = bottle.response
        response.set_header("X-Content-Type-Options", "nosniff")
        if "Referrer-Policy" not in response.headers:
            response.set_header("Referrer-Policy", "same-origin")
        # A mail's own frame (render.FRAME_CSP) may be framed by the portal's pages.
        if "X-Frame-Options" not in response.headers:
            response.set_header("X-Frame-Options", "DENY")
        if "Content-Security-Policy" not in response.headers:
            response.set_header("Content-Security-Policy", self.csp)
        state = bottle.request.environ.get("sd.state")
        if state is not None and state.person is not None and "Cache-Control" not in response.headers:
            # A logged-in person's pages are theirs alone: kept by no cache, and
            # Back asks again, so a form already sent says so instead of showing it.
            response.set_header("Cache-Control", "private, no-store")
        if not self.ctx.db.is_closed():
            self.ctx.db.close()

    def set_cookie(self, sid: str, persistent: bool) -> None:
        """Send the session cookie: HttpOnly, SameSite=Lax, Secure over https (MAIL_RULES 72)."""
        options = {"path": "/", "httponly": True, "samesite": "lax", "secure": self.secure}
        if persistent:
            options["max_age"] = int(auth.SESSION_MAX.total_seconds())
        bottle.response.set_cookie(self.cookie, sid, **options)

    # ------------------------------------------------------------------ pages

    def render(self, name: str, status: int = 200, **values) -> str:
        """A page from templates/portal in the asker's language."""
        state = current()
        bottle.response.status = status
        template = self.envs[state.language].get_template(name)
        return template.render(me=state.person, csrf=auth.csrf_token(self.secret, state.sid),
                               path=bottle.request.fullpath, query=bottle.request.query_string,
                               is_agent=bool(self.agent_departments()), is_admin=is_admin(state.person),
                               **values)

    def agent_departments(self) -> tuple[str, ...]:
        """The departments the asker is an agent of (all for an admin), worked out once per request."""
        state = current()
        if state.agent_of is None:
            state.agent_of = staff_departments(self.config, state.person)
        return state.agent_of

    def gettext(self, text: str) -> str:
        """A string of the code (not of a template) in the asker's language."""
        return self.translations[current().language].gettext(text)


def current() -> State:
    """The state of the request being answered."""
    return bottle.request.environ["sd.state"]


def is_admin(person: Person | None) -> bool:
    """Whether the person is an administrator: every department, and the admin lists."""
    return person is not None and person.role == "admin"


def staff_departments(config: Config, person: Person | None) -> tuple[str, ...]:
    """Slugs of the departments whose agent pages the person may use (SPEC 5, Agents).

    An admin has them all; anyone else those ``people.is_agent_of`` allows,
    which costs no query for a customer and one small one per department for
    a person with the agent role.
    """
    if person is None:
        return ()
    if is_admin(person):
        return tuple(d.slug for d in config.departments)
    return tuple(d.slug for d in config.departments if people.is_agent_of(config, person, d))


def redirect(path: str, code: int = 303) -> NoReturn:
    """Answer with a redirect to a path of the portal, under ``[site] base_url``.

    Bottle's own ``redirect`` joins the path to the request's URL, which it
    builds from the ``Host`` header: a client choosing that header would
    choose where the portal sends people. The headers set so far (a new
    session cookie) go with the redirect, as with Bottle's.
    """
    response = bottle.response.copy(cls=bottle.HTTPResponse)
    response.status = code
    response.body = ""
    response.set_header("Location", current().base_url + path)
    raise response


def require_login() -> Person:
    """The logged-in person, or a redirect to the login page that comes back here."""
    person = current().person
    if person is None:
        redirect("/login?next=" + quote(bottle.request.fullpath))
    return person


def safe_next(value: str, default: str = "/requests") -> str:
    """A local path to go to after login; anything else (//evil, https://…) gives the default."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value \
            and all(31 < ord(c) < 127 for c in value):
        return value
    return default


# ASCII digits only: str.isdigit() and int() also take "²" and Arabic-Indic digits.
_ID = re.compile(r"^[0-9]{1,12}$")
# Far beyond any real list, and inside SQLite's 64-bit OFFSET (page * page_size).
MAX_PAGE = 100_000


def parse_id(value: str) -> int | None:
    """An id written in ASCII digits (at most 12), or None."""
    return int(value) if _ID.match(value or "") else None


def route_id(value: str) -> int:
    """A route's numeric id, or 404 for anything that is not a sane integer."""
    number = parse_id(value)
    if number is None:
        bottle.abort(404)
    return number


def page_number() -> int:
    """The ``page`` of the query string, 1 when missing; 404 when it is not a page number."""
    value = bottle.request.query.get("page", "")
    if not value:
        return 1
    number = parse_id(value)
    if number is None or not 1 <= number <= MAX_PAGE:
        bottle.abort(404)
    return number


def random_id() -> str:
    """A short random id for form elements."""
    return secrets.token_hex(4)

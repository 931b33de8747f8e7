"""Logging in (password, or a one-time link by email), logging out, the language switch and one's settings.

Asking for a link gives the same page whether or not the address is known,
allowed or over its limit, so the page tells nobody who has an account; only
too many requests from one address of the network get 429 (MAIL_RULES 73,
74). The link's GET shows a confirmation page; only its POST logs in.
"""

from __future__ import annotations

import re
import tempfile

import bottle

from maild import bounces, localtime, notify, people, personexport
from maild.store.models import Person, utcnow
from portal import auth, downloads
from portal.web import current, redirect, require_login, safe_next, staff_departments

# What the portal takes as an email address: one @, a dot in the domain, nothing that
# could end an address in a header. Also used for the participants agents add.
ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def may_sign_up(config, email: str) -> bool:
    """Whether an address without a person in the store may log in by link ([portal] signup)."""
    policy = config["portal"]["signup"]
    if policy == "open":
        return True
    if policy == "domains":
        domain = email.rpartition("@")[2].lower()
        return domain in {d.lower().lstrip("@") for d in config["portal"]["signup_domains"]}
    return False


def _client_ip() -> str:
    # REMOTE_ADDR as waitress sets it: the peer, or, behind the proxy named in
    # [portal] trusted_proxy, the client that proxy saw. Bottle's remote_addr
    # would read X-Forwarded-For from anyone, who could pick their own limit.
    return bottle.request.environ.get("REMOTE_ADDR") or "unknown"


def install(app, web) -> None:
    """Add the login, link, logout, language and settings routes."""
    ctx = web.ctx

    def login_page(status=200, **values):
        next_path = safe_next(bottle.request.params.get("next", ""), "")
        return web.render("login.html", status=status, next=next_path, **values)

    def home(person: Person) -> str:
        # An agent starts at the queue, a customer at their own requests.
        return "/agent" if staff_departments(ctx.config, person) else "/requests"

    def log_in(person: Person, next_path: str):
        """Start a session and go to ``next_path``, or to the person's home when none was asked for."""
        # A new id at login: a cookie planted before it is worth nothing after (MAIL_RULES 72).
        sid = auth.start_session(person)
        state = current()
        auth.end_session(state.sid)
        state.sid, state.new_cookie = sid, False
        web.set_cookie(sid, persistent=True)
        lang = bottle.request.get_cookie("lang")
        if lang in ("en", "nb") and not person.language:
            Person.update(language=lang).where(Person.id == person.id).execute()
        redirect(next_path or home(person), 303)

    @app.get("/login")
    def login_form():
        if current().person is not None:
            redirect(safe_next(bottle.request.params.get("next", ""), "") or home(current().person))
        return login_page()

    @app.post("/login")
    def login_with_password():
        email = bottle.request.forms.getunicode("email", "").strip().lower()
        password = bottle.request.forms.getunicode("password", "")
        next_path = safe_next(bottle.request.forms.getunicode("next", ""), "")
        errors = {}
        if not ADDRESS.match(email):
            errors["email"] = web.gettext("Enter your email address, like name@example.org.")
        if not password:
            errors["password"] = web.gettext("Enter your password.")
        if errors:
            return login_page(400, errors=errors, email=email)
        with ctx.db.atomic():
            limited = auth.over_limit("login-ip", _client_ip()) | auth.over_limit("login-email", email)
        if limited:
            return login_page(429, email=email, errors={
                "form": web.gettext("Too many attempts. Wait a few minutes, or ask for a login link.")})
        person = people.find(email)
        if not auth.check_password(person, password):
            return login_page(400, email=email, errors={"form": web.gettext("Wrong email address or password.")})
        log_in(person, next_path)

    @app.post("/login/link")
    def ask_for_link():
        email = bottle.request.forms.getunicode("email", "").strip().lower()
        if not ADDRESS.match(email) or len(email) > 250:
            return login_page(400, link_email=email, errors={
                "link_email": web.gettext("Enter your email address, like name@example.org.")})
        now = utcnow()
        with ctx.db.atomic():
            if auth.over_limit("link-ip", _client_ip(), now):
                return web.render("link_sent.html", status=429, throttled=True)
            over = auth.over_limit("link-email", email, now)
            person = people.find(email)
            if not over and (person is not None or may_sign_up(ctx.config, email)):
                token = auth.create_link(email, now)
                link = ctx.config["site"]["base_url"].rstrip("/") + "/login/link/" + token
                language = (person.language if person and person.language else current().language)
                notify.login_link(ctx, email, link, language, now=now)
        ctx.outbox_wakeup.set()
        return web.render("link_sent.html", email=email)

    @app.get("/login/link/<token>")
    def confirm_link(token):
        # A GET never uses the link: mail scanners open every link they see.
        email = auth.link_email(token)
        if email is None:
            return web.render("link_invalid.html", status=400)
        return web.render("link_confirm.html", token=token, email=email)

    @app.post("/login/link/<token>")
    def use_link(token):
        with ctx.db.atomic():
            email = auth.use_link(token)
            if email is None:
                return web.render("link_invalid.html", status=400)
            person = people.find_or_create(email)
            # The link arrived: the address works, whatever an old bounce said.
            bounces.wrote_again(ctx, person)
        log_in(person, "")

    @app.post("/logout")
    def log_out():
        state = current()
        auth.end_session(state.sid)
        state.sid = auth.new_token()
        web.set_cookie(state.sid, persistent=False)
        redirect("/", 303)

    def settings_page(person: Person, status: int = 200, errors=None, **values):
        return web.render("account.html", status=status, zones=localtime.zone_names(),
                          site_zone=ctx.config["site"]["timezone"], errors=errors or {}, **values)

    @app.get("/account")
    def settings():
        return settings_page(require_login(), saved=bottle.request.query.get("done") == "saved")

    @app.post("/account")
    def save_settings():
        person = require_login()
        forms = bottle.request.forms
        lang, zone = forms.get("lang", ""), forms.getunicode("timezone", "")
        errors = {}
        if lang not in ("en", "nb"):
            errors["lang"] = web.gettext("Choose English or Norwegian.")
        if zone and not localtime.valid_zone(zone):
            errors["timezone"] = web.gettext("Choose a time zone from the list.")
        if errors:
            return settings_page(person, status=400, errors=errors)
        Person.update(language=lang, timezone=zone).where(Person.id == person.id).execute()
        bottle.response.set_cookie("lang", lang, path="/", max_age=365 * 86400, samesite="lax",
                                   secure=web.secure, httponly=True)
        redirect("/account?done=saved", 303)

    @app.get("/account/data")
    def download_my_data():
        """The person's own data as a zip (maild/personexport.py): built in a temporary file, then sent."""
        person = require_login()
        archive = tempfile.TemporaryFile()
        personexport.write(person, archive)
        return downloads.send_file(archive, "application/zip", f"sensedesk-{person.email}-{utcnow():%Y-%m-%d}.zip")

    @app.post("/language")
    def choose_language():
        lang = bottle.request.forms.get("lang", "")
        if lang not in ("en", "nb"):
            bottle.abort(400, "unknown language")
        person = current().person
        if person is not None:
            Person.update(language=lang).where(Person.id == person.id).execute()
        bottle.response.set_cookie("lang", lang, path="/", max_age=365 * 86400, samesite="lax",
                                   secure=web.secure, httponly=True)
        redirect(safe_next(bottle.request.forms.getunicode("next", ""), "/"), 303)

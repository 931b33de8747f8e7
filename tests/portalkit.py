"""The portal as the world sees it: the daemon and the portal running, and a client that logs in.

``site`` starts what ``sensedesk run`` starts (the mail daemon, sending to a
capture server, and the portal under waitress on a free port) in this
process. ``Client`` is a person with a browser's cookie jar: it reads the
CSRF token from each form it submits, and logs in by the link it finds in
the mail the capture server received.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re

import pytest
import requests
from argon2 import PasswordHasher
from conftest import prepare, wait_until
from servers import free_port

from maild.daemon import Daemon
from maild.store import db as store
from portal import auth
from portal.app import PortalServer, create_app

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
LINK = re.compile(r"(http://[^\s]+/login/link/[A-Za-z0-9_-]+)")


@dataclasses.dataclass
class Site:
    """A running daemon and portal."""

    daemon: Daemon
    server: PortalServer
    url: str
    capture: object

    @property
    def ctx(self):
        """The daemon's context (store, config)."""
        return self.daemon.ctx

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        """Every message the capture server got for an address, parsed."""
        return [email.message_from_bytes(m.data, policy=email.policy.default)
                for m in self.capture.messages if address.lower() in [r.lower() for r in m.rcpt_tos]]

    def wait_for_mail(self, address: str, subject_part: str = "", timeout: float = 10.0):
        """The newest message to an address whose subject contains ``subject_part``."""
        def found():
            mails = [m for m in self.mails_to(address) if subject_part in str(m["Subject"])]
            return mails[-1] if mails else None
        return wait_until(found, timeout=timeout)


@pytest.fixture
def site(make_config, capture, monkeypatch, request):
    """The daemon and the portal, as ``sensedesk run`` starts them.

    ``@pytest.mark.settings(section={...})`` on a test adds configuration.
    """
    # Argon2's defaults cost ~120 ms a hash: cheap parameters in tests only (TESTING.md).
    monkeypatch.setattr(auth, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(auth, "_DUMMY_HASH", None)
    port = free_port()
    marker = request.node.get_closest_marker("settings")
    extra = marker.kwargs if marker else {}
    others = {name: values for name, values in extra.items() if name not in ("portal", "site")}
    config = make_config(smtp_out={"transport": "smtp", "host": "127.0.0.1", "port": capture.port},
                         portal={"listen": f"127.0.0.1:{port}", **extra.get("portal", {})},
                         site={"base_url": f"http://127.0.0.1:{port}", "mail_domain": "desk.example.test",
                               **extra.get("site", {})}, **others)
    store.shutdown(prepare(config).db)
    daemon = Daemon(config)
    server = PortalServer(create_app(config, daemon.ctx), config)
    daemon.extras.append(server)
    daemon.start()
    yield Site(daemon=daemon, server=server, url=f"http://127.0.0.1:{port}", capture=capture)
    daemon.stop()


class Client:
    """One browser: a cookie jar, forms with their CSRF token, no JavaScript."""

    def __init__(self, site: Site):
        self.site = site
        self.http = requests.Session()
        self.last = None
        self.landed = ""  # where the last login went
        self.address = ""  # who logged in

    def get(self, path: str, **kwargs) -> requests.Response:
        """GET a path of the portal (redirects followed unless told)."""
        self.last = self.http.get(self.site.url + path, timeout=15, **kwargs)
        return self.last

    def csrf(self, path: str = "/login") -> str:
        """The CSRF token of the forms on a page."""
        match = CSRF.search(self.get(path).text)
        assert match, f"no form with a CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, data=None, files=None, token: str | None = None, form_page: str | None = None,
             **kwargs) -> requests.Response:
        """POST a form as a browser would, with the token of the page the form is on."""
        data = dict(data or {})
        if token is None:
            token = self.csrf(form_page or path)
        if token:
            data["csrf"] = token
        self.last = self.http.post(self.site.url + path, data=data, files=files, timeout=30, **kwargs)
        return self.last

    def login_link(self, address: str) -> str:
        """Ask for a login link and return the one that arrives by mail."""
        def links():
            return [m for m in self.site.mails_to(address) if LINK.search(m.get_body(("plain",)).get_content())]
        before = len(links())
        answer = self.post("/login/link", {"email": address}, form_page="/login")
        assert answer.status_code == 200, answer.text[:500]
        wait_until(lambda: len(links()) > before, timeout=10)
        return LINK.search(links()[-1].get_body(("plain",)).get_content()).group(1)

    def log_in(self, address: str) -> None:
        """Log in by the link mailed to the address: GET the confirmation, POST it."""
        self.address = address.lower()
        link = self.login_link(address)
        path = link[len(self.site.url):]
        page = self.get(path)
        assert page.status_code == 200 and address.lower() in page.text
        answer = self.post(path, token=CSRF.search(page.text).group(1))
        # Agents and admins start at the queue, everyone else at My requests.
        assert answer.status_code == 200 and answer.url.endswith(("/requests", "/agent")), answer.url
        self.landed = answer.url[len(self.site.url):]


def logged_in(site: Site, address: str = "kari@example.org") -> Client:
    """A browser logged in by the link mailed to ``address``."""
    client = Client(site)
    client.log_in(address)
    return client


def make_admin(site: Site, address: str = "boss@example.test") -> Client:
    """A person with the admin role, logged in."""
    from maild.store.models import Person

    with site.ctx.db.atomic():
        Person.create(email=address, name="Boss", role="admin")
    return logged_in(site, address)


def pytest_configure(config):
    """Register the marker the ``site`` fixture reads."""
    config.addinivalue_line("markers", "settings(**sections): configuration the site fixture adds")

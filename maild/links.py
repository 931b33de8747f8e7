"""Published links: the portal home page's list of useful addresses (SPEC 5, Links).

Only ``http`` and ``https`` URLs are kept: a ``javascript:`` or ``data:`` URL
in a link an admin pastes would run in every visitor's page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from maild.mail.subject import clean_header_text
from maild.store.models import Link, utcnow

TITLE_MAX, URL_MAX, DESCRIPTION_MAX = 200, 2000, 1000


class LinkError(ValueError):
    """A link that may not be saved; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def valid_url(url: str) -> bool:
    """Whether a URL is an absolute http(s) URL with a host and nothing that could break out."""
    url = url.strip()
    if not url or len(url) > URL_MAX or any(ord(c) < 33 or c in '<>"' for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def check(config, title: str, url: str, description: str, department: str) -> None:
    """Raise LinkError for the first field that may not be saved."""
    if not title.strip() or len(title) > TITLE_MAX:
        raise LinkError("title", "a title of 1 to 200 characters")
    if not valid_url(url):
        raise LinkError("url", "an http or https address")
    if len(description) > DESCRIPTION_MAX:
        raise LinkError("description", "at most 1000 characters")
    if department and config.department(department) is None:
        raise LinkError("department", "no such department")


def save(config, *, title: str, url: str, description: str = "", department: str = "", position: int = 0,
         link: Link | None = None, now=None) -> Link:
    """Add a link, or change ``link``; raises LinkError and saves nothing when a field is wrong."""
    title = clean_header_text(title)  # one line, as every title and subject is stored
    check(config, title, url, description, department)
    link = link or Link(created_at=now or utcnow())
    link.title, link.url, link.description = title, url.strip(), description.strip()
    link.department, link.position = department, position
    link.save()
    return link


def for_department(department: str = "") -> list[Link]:
    """Links for everyone, and those of ``department`` when one is given, in their order."""
    wanted = [""] + ([department] if department else [])
    return list(Link.select().where(Link.department.in_(wanted)).order_by(Link.position, Link.id))


def all_links() -> list[Link]:
    """Every link, in order, for the admin's page."""
    return list(Link.select().order_by(Link.position, Link.id))

"""Which URLs a page may link to, read the way a browser reads them.

Mail HTML shown in the portal (portal/render.py) and FAQ articles
(maild/faq.py) keep a link only if it goes somewhere safe: an absolute
http(s) URL with a host, or a mailto with an address. Articles may also link
to a page of the portal itself ("/faq/3"); mail may not, since a relative
link in mail has no meaningful base.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

LINK_SCHEMES = {"http", "https", "mailto"}

# The WHATWG URL parser drops these before reading a scheme, so
# "java\tscript:" is javascript: to a browser.
_IGNORED = re.compile(r"[\t\n\r]")
_TRIM = "".join(chr(code) for code in range(0x21))
# "//host" and "/\host" lead away from the site, as browsers read them.
_LOCAL_PATH = re.compile(r"/(?![/\\])")


def normalized(value: str) -> str:
    """A URL as a browser reads it: tabs and newlines gone, C0 controls and spaces trimmed."""
    return _IGNORED.sub("", value).strip(_TRIM)


def link_target(value: str, *, local_paths: bool = False) -> str | None:
    """The URL to keep in an href, or None: absolute http(s) or mailto, and with ``local_paths`` a path here."""
    url = normalized(value)
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme in LINK_SCHEMES and (parts.netloc if scheme != "mailto" else parts.path):
        return url
    if local_paths and not scheme and not parts.netloc and _LOCAL_PATH.match(url):
        return url
    return None

"""Extract the portal's strings (templates and code) into the message catalogue.

``python -m portal.catalog`` adds new strings to
``portal/locale/nb/LC_MESSAGES/messages.po`` (untranslated, for a translator
to fill) and reports strings no longer used; the test suite fails while any
string lacks its Norwegian text.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "portal" / "locale" / "nb" / "LC_MESSAGES" / "messages.po"
METHODS = [("**.py", "python"), ("**.html", "jinja2.ext:babel_extract")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2)}


def extract() -> dict:
    """Every message id used in the portal's code and templates -> where it is used."""
    found: dict = {}
    for directory in (ROOT / "portal", ROOT / "templates" / "portal"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
                str(directory), METHODS, keywords=KEYWORDS,
                options_map={"**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                         "lstrip_blocks": "true"}}):
            found.setdefault(message, []).append((f"{directory.name}/{filename}", lineno))
    return found


def read() -> Catalog:
    """The Norwegian catalogue as it is on disk."""
    with open(PO, "rb") as f:
        return read_po(f, locale="nb")


HEADER = """# Norwegian (bokmål) text of the Sensedesk portal.
# New strings: python -m portal.catalog, then translate the empty msgstr.
#
msgid ""
msgstr ""
"Project-Id-Version: Sensedesk\\n"
"Language: nb\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"
"MIME-Version: 1.0\\n"
"Content-Type: text/plain; charset=utf-8\\n"
"Content-Transfer-Encoding: 8bit\\n"

"""


def write(catalog: Catalog) -> None:
    """Write the catalogue sorted, without locations, under a fixed header (no dates to churn)."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, sort_output=True, no_location=True, omit_header=True)
    PO.parent.mkdir(parents=True, exist_ok=True)
    PO.write_bytes(HEADER.encode("utf-8") + buffer.getvalue().lstrip(b"\n"))


def update() -> tuple[list, list]:
    """Add missing strings to the catalogue; returns (added, unused) message ids."""
    catalog = read() if PO.exists() else Catalog(locale="nb", project="Sensedesk", fuzzy=False)
    used = extract()
    added = []
    for message, locations in used.items():
        key = message[0] if isinstance(message, tuple) else message
        if key not in catalog:
            catalog.add(message, string=("", "") if isinstance(message, tuple) else "", locations=locations)
            added.append(key)
    keys = {m[0] if isinstance(m, tuple) else m for m in used}
    unused = [m.id for m in catalog if m.id and (m.id[0] if isinstance(m.id, tuple) else m.id) not in keys]
    write(catalog)
    return added, unused


if __name__ == "__main__":
    new, stale = update()
    print(f"{len(new)} string(s) added to {PO.relative_to(ROOT)}; {len(stale)} no longer used")
    for message in stale:
        print(f"  unused: {message!r}")
    sys.exit(0)

"""The portal's languages: English (the source strings) and Norwegian bokmål.

Strings are marked ``_()`` in templates and code and translated from the
message catalogue ``portal/locale/nb/LC_MESSAGES/messages.po``, which Babel
reads at start-up (no compiled ``.mo`` to keep in step). A person's language
is, in order: their choice stored on their person, the ``lang`` cookie, the
browser's ``Accept-Language``, then ``[site] language``.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.numbers import format_decimal
from babel.messages.pofile import read_po

LANGUAGES = ("en", "nb")
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# Norwegian in any written form is served bokmål: nynorsk readers read it too.
_ALIASES = {"nb": "nb", "no": "nb", "nn": "nb", "en": "en"}


def load(language: str) -> gettext.NullTranslations:
    """The translations of a language (English: the strings as written)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return gettext.NullTranslations()
    with open(path, "rb") as po:
        catalog = read_po(po, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def file_size(size: int, language: str) -> str:
    """A size limit as people read it: "25 MB", "1,5 MB" in Norwegian, "512 kB" below a megabyte."""
    locale = "nb_NO" if language == "nb" else "en_GB"
    if size >= 1024 * 1024:
        return f"{format_decimal(size / (1024 * 1024), format='#,##0.#', locale=locale)} MB"
    return f"{format_decimal(size / 1024, format='#,##0.#', locale=locale)} kB"


def from_accept_language(header: str) -> str | None:
    """The first language of ours in an Accept-Language header (RFC 9110 12.5.4), by weight."""
    choices = []
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in _ALIASES and weight > 0:
            choices.append((-weight, position, _ALIASES[primary]))
    return min(choices)[2] if choices else None


def choose(person_language: str, cookie: str, accept_language: str, default: str) -> str:
    """The language to answer in."""
    for candidate in (person_language, cookie):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(accept_language) or (default if default in LANGUAGES else "en")

"""Times as people read and type them: the store's UTC in a person's zone and language.

The store keeps naive UTC (``maild/store/models.py``). Everything a person
reads -- pages, mail -- shows the time in their own zone when they chose
one, else ``[site] timezone``, formatted by Babel (CLDR) for their language:
"2. des. 2026 kl. 16:00", "2 Dec 2026 at 16:00". What people type (a
notice's end) is read in the same zone. Machines (``--json``, the CLI) get
ISO 8601 with the offset.

A typed local time that does not exist (the hour skipped when clocks go
forward) or exists twice (the hour repeated when they go back) is read as
RFC 5545 3.3.5 reads it: with the offset in force before the change. That is
what ``zoneinfo`` does with ``fold=0``: 2027-03-28 02:30 in Oslo is 01:30
UTC (03:30 summer time); 2027-10-31 02:30 is the first of the two, 00:30 UTC.
"""

from __future__ import annotations

import datetime
import zoneinfo

from babel.dates import format_date, format_time

# Babel's locales for our languages: Norwegian bokmål, and British English
# for its 24-hour clock and day-month order, which a Norwegian site expects.
_LOCALES = {"nb": "nb_NO", "en": "en_GB"}
# CLDR's "atTime" joining pattern ({1} 'kl'. {0}, {1} 'at' {0}), which
# Babel's locale data does not carry.
_AT_TIME = {"nb": "{date} kl. {time}", "en": "{date} at {time}"}
# What <input type="datetime-local"> sends and shows (HTML, "local date and time").
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


def zone(config, person=None) -> zoneinfo.ZoneInfo:
    """The zone a person reads times in: their own choice, else ``[site] timezone``."""
    name = getattr(person, "timezone", "") or ""
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass  # a zone dropped from the system's database since it was chosen
    return zoneinfo.ZoneInfo(config["site"]["timezone"])


def valid_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone name this system knows."""
    return name in zone_names()


def zone_names() -> list[str]:
    """The IANA zone names a person may choose, sorted (legacy aliases left out)."""
    return sorted(n for n in zoneinfo.available_timezones() if "/" in n and not n.startswith(("Etc/", "SystemV/")))


def _locale(language: str) -> str:
    return _LOCALES.get(language, _LOCALES["en"])


def local(value: datetime.datetime, where: zoneinfo.ZoneInfo) -> datetime.datetime:
    """A stored (naive UTC) or aware time as an aware time in ``where``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(where)


def moment(value: datetime.datetime | None, language: str, where: zoneinfo.ZoneInfo) -> str:
    """A date and time to read: "2. des. 2026 kl. 16:00" / "2 Dec 2026 at 16:00"; "" for None."""
    if value is None:
        return ""
    value = local(value, where)
    language = language if language in _AT_TIME else "en"
    return _AT_TIME[language].format(date=format_date(value, "medium", locale=_locale(language)),
                                     time=format_time(value, "HH:mm", locale=_locale(language)))


def day(value: datetime.date | datetime.datetime | None, language: str,
        where: zoneinfo.ZoneInfo | None = None) -> str:
    """A date to read: "2. des. 2026" / "2 Dec 2026"; a stored time is first put in ``where``."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = local(value, where or datetime.UTC).date()
    return format_date(value, "medium", locale=_locale(language))


def iso(value: datetime.datetime | None, where: zoneinfo.ZoneInfo | None = None) -> str | None:
    """ISO 8601 with its offset, for machines: "2026-12-02T16:00:00+01:00" (UTC when no zone is given)."""
    if value is None:
        return None
    return local(value, where or datetime.UTC).isoformat(timespec="seconds")


def input_value(value: datetime.datetime | None, where: zoneinfo.ZoneInfo) -> str:
    """A stored time as a ``datetime-local`` field shows it, in ``where``; "" for None."""
    return local(value, where).strftime(INPUT_FORMAT) if value else ""


def parse(text: str, where: zoneinfo.ZoneInfo) -> datetime.datetime | None:
    """A typed date and time as the store's naive UTC; "" is None; raises ValueError when unreadable.

    Without an offset the time is read in ``where`` (RFC 5545 3.3.5 for times
    skipped or repeated by a clock change, see above); with one, as given.
    """
    text = (text or "").strip()
    if not text:
        return None
    value = datetime.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=where)  # fold=0: the offset before a change
    return value.astimezone(datetime.UTC).replace(tzinfo=None)

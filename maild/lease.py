"""Leases: work that one daemon of several sharing a store does at a time.

Several daemons may share a PostgreSQL store (behind the same MX records,
or one standing by). Some work must still be done by one of them at a time:
a scheduled job such as the daily report, which would otherwise go out once
from each, and the polling of an IMAP account, which two clients moving the
same messages would trip over. Each such piece of work has a lease, a row
``(name, holder, until)``: a daemon holds it until ``until`` and renews it
while it works; when it stops renewing (it died, or lost the store), the
lease lapses and any other daemon takes it -- at once, when the holder ran
on the same host and its process is gone. Taking is one conditional
UPDATE -- free, lapsed, or already ours -- so of two daemons asking at once
the store lets exactly one through (the second UPDATE waits for the first's
row lock and then finds the row held). The same on SQLite, where there is
one daemon and the lease is always free.
"""

from __future__ import annotations

import datetime

from maild import claimer
from maild.store.models import Lease

# "Nobody": a lease given up lapses at once.
NEVER = datetime.datetime(1970, 1, 1)


def take(db, name: str, holder: str, seconds: float, now: datetime.datetime) -> bool:
    """Hold the lease ``name`` for ``seconds`` from ``now`` if it is free, lapsed or ``holder``'s own.

    True when ``holder`` holds it now (taken or renewed); False when another
    holder has it.
    """
    until = now + datetime.timedelta(seconds=seconds)
    with db.atomic():
        Lease.insert(name=name, holder="", until=NEVER).on_conflict_ignore().execute()
        free = (Lease.holder == holder) | (Lease.until < now)
        taken = Lease.update(holder=holder, until=until).where((Lease.name == name) & free).execute()
        if not taken:
            # A holder on this host whose process is gone (a daemon killed and
            # started again) need not be waited for.
            current = Lease.get(Lease.name == name).holder
            if claimer.gone([current]):
                taken = (Lease.update(holder=holder, until=until)
                         .where((Lease.name == name) & (Lease.holder == current)).execute())
    return taken == 1


def give_up(db, name: str, holder: str) -> None:
    """Let the lease go now, if ``holder`` has it: another daemon may take it at once."""
    with db.atomic():
        Lease.update(until=NEVER).where((Lease.name == name) & (Lease.holder == holder)).execute()


def holder(name: str, now: datetime.datetime) -> str:
    """Who holds the lease now ("" when nobody does)."""
    row = Lease.get_or_none(Lease.name == name)
    return row.holder if row is not None and row.until >= now else ""

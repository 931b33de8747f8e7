"""Health: which parts of each running daemon are alive, as the daemon itself reports them.

Every part of the daemon (the SMTP receiver, the spool writer, the runner
process, the outbox worker, the scheduler, each IMAP poller, the portal) is a
thread or a process that must run as long as the daemon does. The daemon
looks at them several times a second and exits non-zero when one has
stopped, so the service manager restarts it; between looks it writes what it
saw into the store every ``BEAT_SECONDS``, where ``sensedesk check`` reads it
from another process. A report older than ``STALE_AFTER`` is from a daemon
that died without clearing it.
"""

from __future__ import annotations

import datetime
import os
import socket

from maild.store.models import Heartbeat

BEAT_SECONDS = 10
STALE_AFTER = datetime.timedelta(seconds=3 * BEAT_SECONDS)


def own_name() -> str:
    """This process's name in the reports: "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def report(name: str, parts: dict[str, bool], now: datetime.datetime, started_at: datetime.datetime) -> None:
    """Write a daemon's parts as seen now (one row per daemon, replaced each time)."""
    # Only this daemon writes its own row, so update-else-insert cannot race.
    updated = Heartbeat.update(beat_at=now, parts=parts).where(Heartbeat.name == name).execute()
    if not updated:
        Heartbeat.create(name=name, started_at=started_at, beat_at=now, parts=parts)


def forget(name: str) -> None:
    """A daemon stopping cleanly takes its report away."""
    Heartbeat.delete().where(Heartbeat.name == name).execute()


def forget_stale_of_host(host: str, now: datetime.datetime) -> int:
    """Reports of earlier lives of a daemon on this host that died without clearing them."""
    return Heartbeat.delete().where(Heartbeat.name.startswith(f"{host}:")
                                    & (Heartbeat.beat_at < now - STALE_AFTER)).execute()


def reports() -> list[Heartbeat]:
    """Every daemon's latest report, oldest daemon first."""
    return list(Heartbeat.select().order_by(Heartbeat.started_at, Heartbeat.id))


def down(parts: dict[str, bool]) -> list[str]:
    """The names of the parts that are not running, in name order."""
    return sorted(name for name, running in parts.items() if not running)

"""Who claims a row of a queue (the spool, the outbox): ``host:pid``, and whether that process is gone.

Several daemons may share one PostgreSQL store, each with its runner and
outbox worker. A row one of them takes is marked with its claimer before the
work starts, so that a claim left by a process that died can be found and
handed back: at once when the claimer ran on this host and its pid is gone,
else after a time the queue chooses (another host's process cannot be asked).
"""

from __future__ import annotations

import os
import socket


def me() -> str:
    """This process as a claimer of rows: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def gone(claimers, at_startup: bool = False) -> list[str]:
    """The claimers among these that ran on this host and have stopped, sorted.

    At start-up a claim under our own name is gone too: its pid was reused
    from a process that died. Later it is our own work, in flight. Claimers
    of other hosts are never named here.
    """
    host, own = socket.gethostname(), me()
    dead = set()
    for claimer in claimers:
        if not claimer:
            continue
        claim_host, _, pid = claimer.rpartition(":")
        if claimer == own:
            if at_startup:
                dead.add(claimer)
        elif claim_host == host and pid.isdigit() and not _alive(int(pid)):
            dead.add(claimer)
    return sorted(dead)

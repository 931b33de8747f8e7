"""Who looked at what: every agent's view of a case page, download of a file, and export of a person's data.

A data protection officer asks "who read this case?" and "what did this
agent look at?"; ``sensedesk access list --case N | --agent EMAIL`` and the
admin page answer from this record. It is written outside the request's
other work (one INSERT), kept ``[portal] access_log_days`` (365) and
trimmed by the retention job (``maild/retention.py``). An agent's address
is kept as text, so the record outlives the agent's account.
"""

from __future__ import annotations

from maild import localtime
from maild.store.models import AccessLog, utcnow

VIEW, DOWNLOAD, EXPORT = "view", "download", "export"
# Rows one listing shows at most, newest first.
LIMIT = 1000


def record(agent: str, what: str, case_id: int | None = None, detail: str = "") -> None:
    """Note that ``agent`` (an address) did ``what`` to a case (or, for an export, to ``detail``)."""
    AccessLog.create(at=utcnow(), agent=agent.lower(), case_id=case_id, what=what, detail=detail[:255])


def listing(config, case_id: int | None = None, agent: str = "", limit: int = LIMIT) -> list[dict]:
    """The record for one case or one agent (or all), newest first, times in the site's zone."""
    query = AccessLog.select()
    if case_id is not None:
        query = query.where(AccessLog.case_id == case_id)
    if agent:
        query = query.where(AccessLog.agent == agent.strip().lower())
    zone = localtime.zone(config)
    return [{"at": localtime.iso(row.at, zone), "agent": row.agent, "case": row.case_id, "what": row.what,
             "detail": row.detail}
            for row in query.order_by(AccessLog.at.desc(), AccessLog.id.desc()).limit(limit)]

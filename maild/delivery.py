"""The Delivery: one spool row on its way through the rules and the pipeline.

Rules read it; handlers fill it in. A handler stops the pipeline by raising
``Discard(rule, reason)``, which ends the row ``ignored`` with that reason
(Mailman 3's shape, docs/architecture.md, "Decide, then act").
"""

from __future__ import annotations

import dataclasses
import datetime

from maild.config import Department
from maild.mail.message import Message
from maild.spool import Envelope


class Discard(Exception):
    """Stop processing: the spool row ends ``ignored`` naming ``rule``."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


@dataclasses.dataclass
class Delivery:
    """Everything known about one inbound message while it is processed."""

    spool_id: int
    raw: bytes
    envelope: Envelope
    source: str
    now: datetime.datetime
    msg: Message | None = None
    hits: list[str] = dataclasses.field(default_factory=list)
    bounce: bool = False  # a delivery report: never opens a case
    autoreply: bool = False  # an out-of-office or similar answer to us
    automatic: bool = False  # never gets an automatic answer
    department: Department | None = None
    other_departments: list[str] = dataclasses.field(default_factory=list)
    person: object = None  # models.Person
    case: object = None  # models.Case
    entry: object = None  # models.Entry
    action: str = ""  # new | append | reopen | note | agent | unverified | approval | party
    reply_address: str = ""  # the signed reply address the mail came to, if any
    approval: object = None  # models.Approval, for mail to its signed approval address
    forward: object = None  # models.Forward, for an outside party's answer (maild/forwarding.py)
    linked_to: object = None  # the old case a new one links to
    trace: list[dict] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def record(self, rule: str, **details) -> None:
        """Add a step to the match trace kept on the spool row."""
        self.trace.append({"rule": rule, **{k: v for k, v in details.items() if v not in (None, "")}})

"""Deflection: how often a suggested FAQ article was opened and the request then not sent, per department.

A new request is an *attempt* with a random key from the moment it starts: a
form draft's id for an intake form (the first page carries it before the
draft exists), a key carried as a hidden field for the plain form. Opening
a suggested article records a ``FaqVisit`` under that key, once per article;
sending the request marks the key's visits ``submitted``. An attempt whose
visits are all older than ``GRACE`` and none submitted counts as deflected:
the person read an answer and did not need to write. Only the key, the
department and the times are kept, never who it was.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import secrets

from peewee import Case as When
from peewee import fn

from maild.store.models import Article, FaqVisit, FormDraft, utcnow

# How long after opening a suggestion a request may still be sent before the
# attempt counts as given up: people read, then come back to the form.
GRACE = datetime.timedelta(hours=1)
# The period the agents' page reports on.
PERIOD = datetime.timedelta(days=30)

# secrets.token_urlsafe(16), as form drafts' ids are.
_KEY = re.compile(r"^[A-Za-z0-9_-]{22}$")


def new_key() -> str:
    """A fresh attempt key."""
    return secrets.token_urlsafe(16)


def valid_key(value: str | None) -> bool:
    """Whether a value sent back by a browser is shaped like an attempt key."""
    return bool(_KEY.match(value or ""))


def key_or_new(value: str | None) -> str:
    """The attempt key a page carried, or a fresh one when it carried none (or rubbish)."""
    return value if valid_key(value) else new_key()


def draft_id(value: str | None) -> str:
    """The id for a new form draft: the key its first page carried, unless a draft has it already.

    So the suggestions opened on the first page count for the draft; a page
    sent twice (the browser's Back) starts a draft of its own.
    """
    if valid_key(value) and not FormDraft.select().where(FormDraft.id == value).exists():
        return value
    return new_key()


def record_visit(article: Article, department: str, key: str, now=None) -> bool:
    """Note that a suggested article was opened for an attempt; False when the key is not one."""
    if not valid_key(key) or not department:
        return False
    FaqVisit.insert(article=article, department=department, request=key,
                    opened_at=now or utcnow()).on_conflict_ignore().execute()
    return True


def mark_submitted(key: str) -> int:
    """The attempt's request was sent: its visits are no deflection. Returns the visits marked."""
    return FaqVisit.update(submitted=True).where(FaqVisit.request == key).execute()


@dataclasses.dataclass(frozen=True)
class Figures:
    """One department's attempts with an opened suggestion, and how they ended."""

    department: str
    opened: int  # attempts in which a suggestion was opened
    submitted: int  # of those, sent anyway
    deflected: int  # of those, not sent within GRACE

    @property
    def rate(self) -> int:
        """Deflected attempts as a whole percentage of those decided (sent, or past GRACE)."""
        decided = self.submitted + self.deflected
        return round(100 * self.deflected / decided) if decided else 0


def figures(departments=None, now=None, period: datetime.timedelta = PERIOD) -> list[Figures]:
    """Deflection per department over the last ``period``, by query; only ``departments`` when given."""
    now = now or utcnow()
    since, cutoff = now - period, now - GRACE
    sent = fn.MAX(When(None, [(FaqVisit.submitted == True, 1)], 0))  # noqa: E712
    attempts = (FaqVisit.select(FaqVisit.department, FaqVisit.request, sent.alias("sent"),
                                fn.MAX(FaqVisit.opened_at).alias("last"))
                .where(FaqVisit.opened_at >= since))
    if departments is not None:
        attempts = attempts.where(FaqVisit.department.in_(list(departments)))
    attempts = attempts.group_by(FaqVisit.department, FaqVisit.request).alias("attempts")
    deflected = When(None, [((attempts.c.sent == 0) & (attempts.c.last < cutoff), 1)], 0)
    rows = (FaqVisit.select(attempts.c.department, fn.COUNT(1), fn.SUM(attempts.c.sent), fn.SUM(deflected))
            .from_(attempts).group_by(attempts.c.department).order_by(attempts.c.department).tuples())
    return [Figures(department=d, opened=n, submitted=int(s or 0), deflected=int(x or 0)) for d, n, s, x in rows]


def opened_counts(article_ids, now=None, period: datetime.timedelta = PERIOD) -> dict[int, int]:
    """How often each of these articles was opened from a suggestion over the last ``period``."""
    if not article_ids:
        return {}
    since = (now or utcnow()) - period
    rows = (FaqVisit.select(FaqVisit.article, fn.COUNT(FaqVisit.id))
            .where(FaqVisit.article.in_(list(article_ids)) & (FaqVisit.opened_at >= since))
            .group_by(FaqVisit.article).tuples())
    return dict(rows)


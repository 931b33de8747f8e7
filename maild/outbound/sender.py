"""The outbox worker: sends due outbox rows through the transport.

A row is claimed (``sending``) and committed before it is sent, and marked
``sent`` after the relay accepted it; a crash between the two leaves it
``sending``, and recovery sends it again with the same Message-ID, so mail is
delivered at least once and recipients' clients collapse the copy
(MAIL_RULES 62). Each row is a loop boundary.
"""

from __future__ import annotations

import logging

from maild.outbound import outbox
from maild.outbound.transport import DeliveryError
from maild.store.models import utcnow

log = logging.getLogger(__name__)


def deliver_due(ctx, transport, now=None, limit: int = 50) -> int:
    """Send up to ``limit`` due rows; returns how many were tried."""
    now = now or utcnow()
    rows = outbox.claim(ctx.db, now, limit)
    sent = []
    max_attempts = ctx.config["smtp_out"]["max_attempts"]
    try:
        for row in rows:
            try:
                transport.send(row.mail_from, row.recipient, bytes(row.raw))
                sent.append(row)
            except DeliveryError as exc:
                state = outbox.mark_failed(ctx.db, row, str(exc), exc.permanent, now, max_attempts)
                log.warning("outbox %s to %s: %s (%s)", row.id, row.recipient, exc, state)
            except Exception as exc:  # loop boundary: a bug in one row never stops the queue
                log.exception("outbox %s to %s failed unexpectedly", row.id, row.recipient)
                # The connection may be mid-transaction: start the next row afresh.
                transport.close()
                outbox.mark_failed(ctx.db, row, f"{type(exc).__name__}: {exc}", False, now, max_attempts)
    finally:
        # What went out is recorded even if the store failed midway through.
        outbox.mark_sent(ctx.db, sent, utcnow())
    return len(rows)


def drain(ctx, transport, now=None) -> int:
    """Send every due row now; returns how many were tried."""
    total = 0
    while True:
        tried = deliver_due(ctx, transport, now)
        total += tried
        if tried == 0:
            return total

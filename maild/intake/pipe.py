"""Pipe intake: ``sensedesk ingest`` reads one message from standard input.

For MTAs that deliver to a program (Postfix ``pipe``, a ``.forward``). The
exit code is the MTA's contract (sysexits.h, SPEC 2.5): 0 only once the
message is committed to the spool; 75 (EX_TEMPFAIL) when the store is not
available, so the MTA keeps the message and tries again (RT rt-mailgate does
the same).
"""

from __future__ import annotations

import logging

from maild import context, runner, spool
from maild.outbound import sender
from maild.outbound.transport import make_transport
from maild.store.db import UNAVAILABLE

log = logging.getLogger(__name__)

EX_OK = 0
EX_DATAERR = 65
EX_TEMPFAIL = 75
EX_CONFIG = 78


def ingest(config, raw: bytes, to: list[str], mail_from: str = "", process: bool = True) -> int:
    """Spool one message, then process it and send what it caused; returns an exit code."""
    if not raw.strip():
        log.error("ingest: standard input was empty")
        return EX_DATAERR
    try:
        ctx = context.build(config)
        spool_id = spool.accept(ctx.db, raw, spool.Envelope(mail_from=mail_from, rcpt_tos=to), "pipe")
    except context.StoreNotReady as exc:
        log.error("ingest: %s", exc)
        return EX_TEMPFAIL
    except (*UNAVAILABLE, OSError) as exc:
        log.error("ingest: the store is not available: %s", exc)
        return EX_TEMPFAIL
    log.info("ingest: spooled as row %s", spool_id)
    if process:
        # The message is safe from here on: a failure below leaves it for the
        # daemon (or ``spool retry``), and the exit code stays 0.
        try:
            runner.drain(ctx)
            transport = make_transport(config)
            try:
                sender.drain(ctx, transport)
            finally:
                transport.close()
        except Exception:  # loop boundary: the commit is done, processing can wait
            log.exception("ingest: processing deferred to the daemon")
    return EX_OK

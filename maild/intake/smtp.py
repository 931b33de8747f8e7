"""SMTP intake: an aiosmtpd receiver that answers 250 only after the spool commit.

- ``RCPT TO`` a department address is accepted; another address on one of our
  domains gets ``550 5.1.1``, any other domain ``550 5.7.1`` (never a relay),
  source routes and the ``%`` hack are refused, and past
  ``[smtp_in] max_recipients`` the answer is ``452 4.5.3`` (MAIL_RULES 8).
- Over ``max_message_bytes`` aiosmtpd answers ``552`` (on ``SIZE=`` or at the
  end of DATA), and we also check in DATA.
- ``handle_DATA`` hands the raw bytes to the group-commit ``SpoolWriter`` and
  awaits its commit off the event loop; only then ``250``.
- Any internal error is ``451 4.3.0``, never aiosmtpd's default ``500 Error:
  (Exception) …``, a permanent bounce that leaks internals (MAIL_RULES 7).
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from maild.config import Config
from maild.mail.signing import signed_base
from maild.spool import Envelope, SpoolWriter

log = logging.getLogger(__name__)

TEMPFAIL = "451 4.3.0 Temporary local problem, please try again later"
_PLAIN_ADDRESS = re.compile(r"^[^@\s%!:<>]+@[a-z0-9.-]+$")


class Handler:
    """aiosmtpd handler: recipient policy and durable DATA."""

    def __init__(self, config: Config, writer: SpoolWriter):
        self.config = config
        self.writer = writer
        self.addresses = config.own_addresses()
        self.domains = {a.rpartition("@")[2] for a in self.addresses}
        self.max_recipients = config["smtp_in"]["max_recipients"]
        self.max_bytes = config["smtp_in"]["max_message_bytes"]

    def recipient_verdict(self, address: str) -> str | None:
        """None if we accept mail for ``address``, else the SMTP reply refusing it."""
        address = (address or "").strip().lower()
        if not _PLAIN_ADDRESS.match(address):
            # Source routes (<@a:b@c>), the % hack and bang paths: relay tricks.
            return "550 5.7.1 Relaying denied"
        # _PLAIN_ADDRESS admits ASCII domains only: SMTPUTF8 is off, and our
        # own domains are configured in their ASCII (IDNA) form.
        local, _, domain = address.rpartition("@")
        if domain not in self.domains:
            return "550 5.7.1 Relaying denied"
        if f"{local}@{domain}" not in self.addresses:
            # A signed reply address (an agent's helpdesk+c12.<sig>@…, an
            # approver's helpdesk+a7.<sig>@…) is taken whatever its signature:
            # a bad one is kept as an unverified note and decides nothing.
            if signed_base(address) not in self.addresses:
                return "550 5.1.1 No such mailbox here"
        return None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """Accept department addresses; refuse everything else at RCPT time."""
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return "452 4.5.3 Too many recipients"
        verdict = self.recipient_verdict(address)
        if verdict:
            return verdict
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        """Commit the message to the spool, then answer 250."""
        raw = envelope.original_content or b""
        if len(raw) > self.max_bytes:
            return "552 5.3.4 Message too big"
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer or "")
        mail_from = envelope.mail_from or ""
        details = Envelope(mail_from="" if mail_from == "<>" else mail_from,
                           rcpt_tos=list(envelope.rcpt_tos), peer=peer, helo=session.host_name or "")
        try:
            spool_id = await asyncio.wrap_future(self.writer.submit(raw, details, "smtp"))
        except Exception:  # the store failed: the client keeps the message and retries
            log.exception("could not commit a message from %s to the spool", peer)
            return TEMPFAIL
        return f"250 2.0.0 Queued as {spool_id}"

    async def handle_exception(self, error):
        """Whatever broke, answer with a temporary failure and no internals."""
        log.error("SMTP session error: %r", error)
        return TEMPFAIL


class Receiver:
    """The SMTP receiver: an aiosmtpd Controller on ``[smtp_in] listen``."""

    def __init__(self, config: Config, writer: SpoolWriter):
        settings = config["smtp_in"]
        host, _, port = settings["listen"].rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.handler = Handler(config, writer)
        # RFC 5321 says 1000 octets a line, but real senders exceed it and
        # aiosmtpd's "500 Line too long" is a permanent bounce (MAIL_RULES 10).
        smtp_class = type("SensedeskSMTP", (SMTP,), {"line_length_limit": settings["line_length_limit"]})
        self._smtp_class = smtp_class
        self.controller = _Controller(
            smtp_class, self.handler, hostname=self.host, port=self.port,
            data_size_limit=settings["max_message_bytes"], enable_SMTPUTF8=False,
            decode_data=False, timeout=settings["timeout_seconds"], ident="Sensedesk")

    def start(self) -> None:
        """Start listening (in aiosmtpd's own thread and event loop)."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()


class _Controller(Controller):
    """aiosmtpd's Controller, building our SMTP subclass."""

    def __init__(self, smtp_class, handler, **kwargs):
        self._smtp_class = smtp_class
        super().__init__(handler, **kwargs)

    def factory(self):
        return self._smtp_class(self.handler, **self.SMTP_kwargs)

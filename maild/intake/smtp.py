"""SMTP intake: an aiosmtpd receiver that answers 250 only after the spool commit.

- ``RCPT TO`` a department address is accepted; another address on one of our
  domains gets ``550 5.1.1``, any other domain ``550 5.7.1`` (never a relay),
  source routes and the ``%`` hack are refused, and past
  ``[smtp_in] max_recipients`` the answer is ``452 4.5.3`` (MAIL_RULES 8).
- Over ``max_message_bytes`` the answer is ``552 5.3.4`` (on ``SIZE=`` or at
  the end of DATA; aiosmtpd's own refusals lack the enhanced code).
- One host cannot hold every socket: past ``[smtp_in] max_sessions`` open
  sessions, or ``max_sessions_per_client`` from one address, a new connection
  gets ``421 4.7.0`` and is closed; a session idle for
  ``command_timeout_seconds`` outside DATA is closed.
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
TOO_MANY_SESSIONS = b"421 4.7.0 Too many connections, please try again later\r\n"
TOO_BIG = "552 5.3.4 Message too big"
# "RCPT TO:<@relay.example:user@host>": a source route (RFC 5321 4.1.1.3).
# aiosmtpd drops the route and hands on the mailbox, so it is caught here.
_SOURCE_ROUTE = re.compile(r"^\s*TO:\s*<\s*@", re.IGNORECASE)
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
            return TOO_BIG
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
        self.sessions = SessionLimits(settings["max_sessions"], settings["max_sessions_per_client"])
        self.controller = _Controller(
            self.handler, hostname=self.host, port=self.port,
            data_size_limit=settings["max_message_bytes"], enable_SMTPUTF8=False,
            decode_data=False, timeout=settings["timeout_seconds"], ident="Sensedesk",
            sessions=self.sessions, command_timeout=settings["command_timeout_seconds"],
            line_length_limit=settings["line_length_limit"])

    def start(self) -> None:
        """Start listening (in aiosmtpd's own thread and event loop)."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening (a loop that already ended has closed its socket itself)."""
        if self.is_alive():
            self.controller.stop()

    def is_alive(self) -> bool:
        """Whether the receiver's thread (aiosmtpd's event loop) still runs."""
        thread = self.controller._thread  # aiosmtpd keeps no public handle on it
        return thread is not None and thread.is_alive()


class SessionLimits:
    """Open SMTP sessions, in all and per client address; past either cap a new one is refused.

    Used from the receiver's event loop only, so it needs no lock.
    """

    def __init__(self, total: int, per_client: int):
        self.total, self.per_client = total, per_client
        self.open: dict[str, int] = {}
        self.count = 0

    def admit(self, address: str) -> bool:
        """Count a new session from ``address``; False (and nothing counted) past a cap."""
        if self.count >= self.total or self.open.get(address, 0) >= self.per_client:
            return False
        self.open[address] = self.open.get(address, 0) + 1
        self.count += 1
        return True

    def release(self, address: str) -> None:
        """A session from ``address`` ended."""
        self.count -= 1
        left = self.open[address] - 1
        if left:
            self.open[address] = left
        else:
            del self.open[address]


class SensedeskSMTP(SMTP):
    """aiosmtpd's SMTP session with our limits on sessions, idle time, routes and size answers."""

    def __init__(self, handler, *, sessions: SessionLimits, command_timeout: float, line_length_limit: int,
                 **kwargs):
        # RFC 5321 says 1000 octets a line, but real senders exceed it and
        # aiosmtpd's "500 Line too long" is a permanent bounce (MAIL_RULES 10).
        # Set before aiosmtpd's __init__, which sizes its reader by it.
        self.line_length_limit = line_length_limit
        super().__init__(handler, **kwargs)
        self.sessions = sessions
        self.command_timeout = command_timeout
        self.client = None  # the address counted in ``sessions``, once admitted

    def connection_made(self, transport) -> None:
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) else str(peer or "")
        if not self.sessions.admit(address):
            # Refused before aiosmtpd sets the session up: nothing to undo.
            log.info("refusing an SMTP connection from %s: too many sessions", address)
            transport.write(TOO_MANY_SESSIONS)
            transport.close()
            return
        self.client = address
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        if self.client is None:
            return
        self.sessions.release(self.client)
        self.client = None
        super().connection_lost(error)

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd restarts this timer after each command it reads; outside
        # DATA an idle client gets the short one (a slow-loris holds a session).
        super()._reset_timeout(duration or self.command_timeout)

    async def smtp_DATA(self, arg) -> None:
        # The message itself may take [smtp_in] timeout_seconds.
        self._reset_timeout(self._timeout_duration)
        await super().smtp_DATA(arg)

    async def smtp_RCPT(self, arg) -> None:
        if arg and _SOURCE_ROUTE.match(arg):
            await self.push("550 5.7.1 Source routes are not accepted")
            return
        await super().smtp_RCPT(arg)

    async def push(self, status: str) -> None:
        # aiosmtpd's refusals of an over-size message ("552 Error: Too much mail
        # data", and on SIZE= "552 Error: message size exceeds …") carry no
        # enhanced status code (RFC 3463); SPEC promises 552 5.3.4.
        if status.startswith("552 Error"):
            status = TOO_BIG
        await super().push(status)


class _Controller(Controller):
    """aiosmtpd's Controller, building our SMTP subclass with its limits."""

    def __init__(self, handler, *, sessions: SessionLimits, command_timeout: float, line_length_limit: int,
                 **kwargs):
        self._ours = {"sessions": sessions, "command_timeout": command_timeout,
                      "line_length_limit": line_length_limit}
        super().__init__(handler, **kwargs)

    def factory(self):
        return SensedeskSMTP(self.handler, **self._ours, **self.SMTP_kwargs)

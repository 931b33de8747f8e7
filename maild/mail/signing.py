"""Signed keys: Sensedesk's own Message-IDs, the per-case pseudo-reference and reply addresses.

Our Message-IDs look like ``<sd.{case}.{person}.{nonce}.{sig}@{mail_domain}>``
where ``sig`` is an HMAC-SHA256 (truncated to 16 hex digits) of the case, the
recipient person and the nonce under the site secret (MAIL_RULES 37; osTicket
and FreeScout sign theirs the same way since GHSA-6r38-6mcf-2ww3). A reply
that names one in In-Reply-To/References proves it answers our mail to that
person about that case; a tampered id fails the HMAC and is not trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets

SIG_HEX = 16

# A signed reply address: local part "+c" case "." signature (SPEC 4), or
# "+a" approval "." signature for an approver's answer (SPEC 5, Approvals).
_REPLY = re.compile(r"^([^@+\s]+)\+([caf])(\d{1,12})\.([0-9a-f]{%d})@([^@\s]+)$" % SIG_HEX)

_OUR_ID = re.compile(r"^sd\.(\d{1,12})\.(\d{1,12})\.([0-9a-f]{8,32})\.([0-9a-f]{%d})@(.+)$" % SIG_HEX)


@dataclasses.dataclass(frozen=True)
class Signer:
    """Makes and checks the signed keys of one installation."""

    secret: bytes
    mail_domain: str

    def sign(self, *parts: object) -> str:
        """The truncated HMAC of the parts joined by dots."""
        message = ".".join(str(p) for p in parts).encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:SIG_HEX]

    def verify(self, signature: str, *parts: object) -> bool:
        """Whether ``signature`` is ours for these parts (constant time)."""
        return hmac.compare_digest(self.sign(*parts), signature)

    def message_id(self, case_id: int, person_id: int, nonce: str | None = None) -> str:
        """A new signed Message-ID (with angle brackets) for mail about a case."""
        nonce = nonce or secrets.token_hex(8)
        sig = self.sign("mid", case_id, person_id, nonce)
        return f"<sd.{case_id}.{person_id}.{nonce}.{sig}@{self.mail_domain}>"

    def case_reference(self, case_id: int) -> str:
        """The stable pseudo-reference that heads References on every mail of a case."""
        return f"<sd.{case_id}.0.{'0' * 8}.{self.sign('mid', case_id, 0, '0' * 8)}@{self.mail_domain}>"

    def read_message_id(self, message_id: str) -> tuple[int, int] | None:
        """(case, person) if ``message_id`` is one of ours and its HMAC verifies."""
        match = _OUR_ID.match(message_id.strip("<> \t").lower())
        if not match or match.group(5) != self.mail_domain.lower():
            return None
        case_id, person_id, nonce, sig = match.group(1, 2, 3, 4)
        if not self.verify(sig, "mid", int(case_id), int(person_id), nonce):
            return None
        return int(case_id), int(person_id)


@dataclasses.dataclass(frozen=True)
class ReplyAddress:
    """What a signed reply address says: the department address, the case and the signature."""

    base: str
    case_id: int
    signature: str


@dataclasses.dataclass(frozen=True)
class ApprovalAddress:
    """What a signed approval reply address says: the department address, the approval and the signature."""

    base: str
    approval_id: int
    signature: str


def reply_address(signer: Signer, base: str, case_id: int, agent_email: str) -> str:
    """The per-agent, per-case address an agent's notification is answered to.

    ``helpdesk+c12.<sig>@example.test``: the signature is an HMAC of the case
    and the agent's address, so a reply proves it answers that agent's mail
    about that case when it also comes From that agent (RT's and osTicket's
    reply keys, GHSA-6r38-6mcf-2ww3).
    """
    return _signed_address(signer, "c", "reply", base, case_id, agent_email)


def _signed_address(signer: Signer, tag: str, purpose: str, base: str, key: int, email: str) -> str:
    """``local+<tag><key>.<sig>@domain``, the signature over purpose, key and the sender-to-be's address."""
    local, _, domain = base.partition("@")
    return f"{local}+{tag}{key}.{signer.sign(purpose, key, email.strip().lower())}@{domain}"


def _read(address: str, tag: str) -> tuple[str, int, str] | None:
    """(department address, key, signature) of a signed address with this tag, or None."""
    match = _REPLY.match((address or "").strip().lower())
    if not match or match.group(2) != tag:
        return None
    local, _, key, signature, domain = match.groups()
    return f"{local}@{domain}", int(key), signature


def read_reply_address(address: str) -> ReplyAddress | None:
    """The parts of an address shaped like an agent's signed reply address, or None (not yet verified)."""
    parts = _read(address, "c")
    return ReplyAddress(*parts) if parts else None


def signed_base(address: str) -> str | None:
    """The department address behind any signed reply address (agent's or approver's), or None."""
    match = _REPLY.match((address or "").strip().lower())
    return f"{match.group(1)}@{match.group(5)}" if match else None


def approval_address(signer: Signer, base: str, approval_id: int, approver_email: str) -> str:
    """The address an approver answers ``APPROVE`` or ``REJECT`` to: ``helpdesk+a7.<sig>@example.test``.

    Signed for the approval and the approver's address, like an agent's reply
    address: a decision by mail counts only from that approver to that address.
    """
    return _signed_address(signer, "a", "approval-reply", base, approval_id, approver_email)


def read_approval_address(address: str) -> ApprovalAddress | None:
    """The parts of an address shaped like an approval reply address, or None (not yet verified)."""
    parts = _read(address, "a")
    return ApprovalAddress(*parts) if parts else None


def approval_address_verifies(signer: Signer, reply: ApprovalAddress, sender_email: str) -> bool:
    """Whether the approval address was made for this sender about its approval."""
    return signer.verify(reply.signature, "approval-reply", reply.approval_id, sender_email.strip().lower())


def forward_address(signer: Signer, base: str, forward_id: int) -> str:
    """The Reply-To of a case forwarded to an outside party: ``helpdesk+f3.<sig>@example.test``.

    Signed for the forward alone, not for a sender: a supplier's ticket
    system often answers from another address than the one written to, and
    whatever comes here stays an internal entry (maild/forwarding.py).
    """
    return _signed_address(signer, "f", "forward", base, forward_id, "")


def read_forward_address(address: str, signer: Signer) -> int | None:
    """The forward a signed forward address names, when its signature holds; else None."""
    parts = _read(address, "f")
    if parts is None or not signer.verify(parts[2], "forward", parts[1], ""):
        return None
    return parts[1]


def reply_verifies(signer: Signer, reply: ReplyAddress, sender_email: str) -> bool:
    """Whether the reply address was made for this sender about its case."""
    return signer.verify(reply.signature, "reply", reply.case_id, sender_email.strip().lower())


def new_secret() -> str:
    """A fresh random signing secret (256 bits, hex)."""
    return secrets.token_hex(32)

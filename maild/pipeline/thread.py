"""Handler: which case a message belongs to (SPEC 2.6-2.8), first match wins.

1. A signed key: a Message-ID Sensedesk generated, named in In-Reply-To or
   References; its HMAC proves the sender holds our mail about that case.
2. In-Reply-To/References naming a Message-ID stored for a case, when the
   sender may add to it.
3. A token ``[SD#N]`` in the subject, when the sender may add to case N — a
   participant or an agent of its department. Tokens are guessable and stored
   Message-IDs are no secret, so a stranger's token or stored Message-ID
   opens a new case linked to N, never an append (MAIL_RULES 41).
4. Otherwise a new case in the department whose address received the mail:
   envelope recipient, then To, Cc, Delivered-To.

Before all of these, mail to a signed reply address goes to the case it
names: an agent's answer (SPEC 4), or an approver's decision (SPEC 5).

A closed case is reopened by a reply within the department's reopen window;
later, the reply opens a new linked case (SPEC 2.8). Every decision is added
to the match trace kept on the spool row. Thread-Index is never used to find a
case (MAIL_RULES 48).
"""

from __future__ import annotations

import re

from maild import cases, forwarding, merge, people
from maild.delivery import Discard
from maild.mail.signing import (approval_address_verifies, read_approval_address, read_forward_address,
                                read_reply_address, reply_verifies, signed_base)
from maild.mail.subject import find_tokens
from maild.store import statements
from maild.store.models import Approval, Case, Forward, MessageRef


def _case(number: int) -> Case | None:
    found = statements.select_by(Case, "id", number, limit=1)
    case = found[0] if found else None
    # A merged case's number threads to the case that holds its messages now.
    return merge.resolve(case) if case is not None and case.merged_into else case


def _signed(ctx, delivery) -> Case | None:
    msg = delivery.msg
    for header, ids in (("In-Reply-To", msg.in_reply_to), ("References", list(reversed(msg.references)))):
        for message_id in ids:
            key = ctx.signer.read_message_id(message_id)
            if key is None:
                continue
            case = _case(key[0])
            if case is not None:
                delivery.record("signed-message-id", header=header, value=message_id, case=case.id)
                return case
    return None


def _stored(ctx, delivery) -> Case | None:
    msg = delivery.msg
    for header, ids in (("In-Reply-To", msg.in_reply_to), ("References", list(reversed(msg.references)))):
        ids = [i[:250] for i in ids if i != msg.message_id]
        if not ids:
            continue
        # The SQL is written once per number of ids (maild/store/statements.py): a reply's path.
        found = statements.instances(MessageRef, statements.query(
            f"thread-stored-{len(ids)}", lambda: (MessageRef.select().where(MessageRef.message_id.in_(ids))
                                                 .order_by(MessageRef.id.desc()).limit(1)), ids + [1]))
        ref = found[0] if found else None
        case = _case(ref.case_id) if ref is not None else None
        if case is None:
            continue
        # Stored Message-IDs are no secret: they travel in the References of
        # our own mail and in forwarded copies, and some clients make
        # predictable ones. Like a subject token, one lets only those who
        # may add to the case add to it; anyone else opens a new linked case.
        if not may_add(ctx, case, delivery.person):
            delivery.record("stored-message-id", header=header, value=ref.message_id, case=case.id,
                            result="sender may not add to this case: a new linked case")
            delivery.linked_to = case
            return None
        delivery.record("stored-message-id", header=header, value=ref.message_id, case=case.id)
        return case
    return None


def _enclosed(ctx, delivery) -> Case | None:
    """A bounce encloses the mail we sent: find our signed Message-ID in it."""
    text = delivery.raw[:1_000_000].decode("latin-1")
    domain = re.escape(ctx.signer.mail_domain)
    for found in re.findall(r"<(sd\.\d+\.\d+\.[0-9a-f]+\.[0-9a-f]+@%s)>" % domain, text, re.IGNORECASE):
        key = ctx.signer.read_message_id(found)
        if key and (case := _case(key[0])) is not None:
            delivery.record("enclosed-message-id", value=found, case=case.id)
            return case
    return None


def may_add(ctx, case: Case, person) -> bool:
    """SPEC 2.7: a participant or an agent of the case's department may add by email.

    So may an outside party the case was forwarded to; what they add stays
    internal (``process``, maild/forwarding.py).
    """
    if people.is_participant(case, person) or Forward.select().where(
            (Forward.case == case) & (Forward.address == person.email)).exists():
        return True
    dept = ctx.config.department(case.department)
    return dept is not None and people.is_agent_of(ctx.config, person, dept)


def _token(ctx, delivery) -> Case | None:
    prefix = ctx.config["site"]["token_prefix"]
    for number in find_tokens(delivery.msg.subject, prefix):
        case = _case(number)
        if case is None:
            delivery.record("subject-token", value=f"[{prefix}#{number}]", result="no such case")
            continue
        if may_add(ctx, case, delivery.person):
            delivery.record("subject-token", header="Subject", value=f"[{prefix}#{number}]", case=case.id)
            return case
        delivery.record("subject-token", header="Subject", value=f"[{prefix}#{number}]",
                        result="sender may not add to this case: a new linked case")
        delivery.linked_to = case
        return None
    return None


def _department(ctx, delivery):
    """The department whose address received the mail; the others are recorded.

    Mail fetched by IMAP has no envelope: the mailbox it was in stands for it,
    as the department its account is configured for.
    """
    msg = delivery.msg
    imap_dept = _imap_department(ctx, delivery.source)
    if imap_dept is not None:
        delivery.record("department", header="mailbox", value=delivery.source.rsplit("/", 2)[0],
                        department=imap_dept.slug)
        return imap_dept, []
    candidates = [("envelope", a) for a in delivery.envelope.rcpt_tos]
    candidates += [("To", a) for _, a in msg.to] + [("Cc", a) for _, a in msg.cc]
    candidates += [("Delivered-To", a) for a in msg.delivered_to]
    found, others = None, []
    for where, address in candidates:
        dept = ctx.config.department_for_address(address)
        if dept is None:
            continue
        if found is None:
            found = (where, address, dept)
        elif dept.slug != found[2].slug and dept.slug not in others:
            others.append(dept.slug)
    if found is None:
        if not ctx.config.departments:
            raise RuntimeError("no department is configured")
        dept = ctx.config.departments[0]
        delivery.record("department", result="no department address found: the first department",
                        department=dept.slug)
        return dept, []
    where, address, dept = found
    delivery.record("department", header=where, value=address, department=dept.slug,
                    also=", ".join(others) or None)
    return dept, others


def _imap_department(ctx, source: str):
    if not source.startswith("imap:"):
        return None
    account = source[len("imap:"):].split("/", 1)[0]
    for imap in ctx.config.imap:
        if imap["name"] == account:
            return ctx.config.department(imap["department"])
    return None


def _follow_up(ctx, delivery, case: Case) -> None:
    """Append to the matched case, reopen it, or open a new linked case."""
    delivery.case = case
    if case.status != "closed":
        delivery.action = "append"
        return
    if delivery.automatic:
        # Automatic mail never reopens a case (MAIL_RULES 23).
        delivery.action = "append"
        return
    dept = ctx.config.department(case.department)
    if cases.reopen_allowed(ctx, case, delivery.now):
        if dept is not None and dept.closed_reply == "attach":
            delivery.action = "append"
            delivery.record("closed-case", result="within the reopen window; attached without reopening "
                                                  "(closed_reply = attach)", case=case.id)
            return
        delivery.action = "reopen"
        delivery.record("closed-case", result="reopened within the reopen window", case=case.id)
        return
    delivery.record("closed-case", result="closed longer than the reopen window: a new linked case",
                    case=case.id)
    delivery.case, delivery.linked_to = None, case
    delivery.department, delivery.other_departments = dept or _department(ctx, delivery)[0], []
    delivery.action = "new"


def _candidates(delivery) -> list[str]:
    # The envelope says where mail was delivered; headers are anyone's to
    # write. Only IMAP mail, which has no envelope, is read from its headers.
    msg = delivery.msg
    return list(delivery.envelope.rcpt_tos) or ([a for _, a in msg.to + msg.cc] + list(msg.delivered_to))


def _reply_address(ctx, delivery) -> bool:
    """An agent's answer to a signed reply address: decide ``agent`` or ``unverified`` (SPEC 4).

    The address names the case; it verifies only when its signature was made
    for the sender's address, and the sender is an agent of the case's
    department. Anything else that came to such an address is kept for the
    agents as an unverified note: never relayed, never obeyed.
    """
    for address in _candidates(delivery):
        reply = read_reply_address(address)
        if reply is None or ctx.config.department_for_address(reply.base) is None:
            continue
        case = _case(reply.case_id)
        if case is None:
            continue
        dept = ctx.config.department(case.department)
        is_agent = dept is not None and people.is_agent_of(ctx.config, delivery.person, dept)
        verified = is_agent and reply_verifies(ctx.signer, reply, delivery.person.email)
        if not is_agent:
            # Not an agent's mail at all (a forwarded notification answered by
            # a customer): threaded like any other mail, never obeyed.
            delivery.record("reply-address", value=address.lower(), result="not from an agent: threaded as usual")
            return False
        delivery.case, delivery.reply_address = case, address.lower()
        delivery.action = "agent" if verified and not (delivery.bounce or delivery.autoreply) else \
            ("note" if delivery.bounce or delivery.autoreply else "unverified")
        delivery.record("reply-address", value=address.lower(), case=case.id,
                        result="verified: an agent's answer" if delivery.action == "agent" else
                        "not verified: kept for the agents only" if delivery.action == "unverified" else
                        "an automatic answer: kept as a note")
        return True
    return False


def _approval_address(ctx, delivery) -> bool:
    """An approver's answer to a signed approval address: decide ``approval`` or ``unverified`` (SPEC 5).

    It is the approver's only when the sender is the approver and the
    signature was made for them; their mail with a wrong signature is kept
    for the agents as an unverified note and decides nothing. Anyone else's
    mail there is threaded as usual (a forwarded approval mail answered),
    so counting up approval ids files nothing on other people's cases. An
    automatic answer (out of office) is a note: it never decides.
    """
    for address in _candidates(delivery):
        reply = read_approval_address(address)
        if reply is None or ctx.config.department_for_address(reply.base) is None:
            continue
        approval = Approval.get_or_none(Approval.id == reply.approval_id)
        if approval is None:
            continue
        sender = delivery.person.email
        if sender != approval.approver:
            delivery.record("approval-address", value=address.lower(), result="not from the approver: threaded as usual")
            return False
        verified = approval_address_verifies(ctx.signer, reply, sender)
        delivery.case, delivery.approval, delivery.reply_address = approval.case, approval, address.lower()
        if delivery.bounce or delivery.autoreply:
            delivery.action, result = "note", "an automatic answer: kept as a note"
        elif verified:
            delivery.action, result = "approval", "verified: the approver's answer"
        else:
            delivery.action, result = "unverified", "not verified: kept for the agents only, decides nothing"
        delivery.record("approval-address", value=address.lower(), case=approval.case_id, result=result)
        return True
    return False


def _forward_address(ctx, delivery) -> bool:
    """An outside party's answer to a case's signed forward address: ``party`` (maild/forwarding.py).

    The address is signed for the forward, not for a sender (a supplier's
    ticket system answers from its own address): whoever writes to it, the
    mail stays an internal entry. An automatic answer is a note.
    """
    for address in _candidates(delivery):
        forward_id = read_forward_address(address, ctx.signer)
        if forward_id is None or ctx.config.department_for_address(signed_base(address)) is None:
            continue
        forward = Forward.get_or_none(Forward.id == forward_id)
        case = _case(forward.case_id) if forward is not None else None
        if case is None:
            continue
        delivery.case, delivery.forward, delivery.reply_address = case, forward, address.lower()
        automatic = delivery.bounce or delivery.autoreply
        delivery.action = "note" if automatic else "party"
        delivery.record("forward-address", value=address.lower(), case=case.id,
                        result="an automatic answer: kept as a note" if automatic else
                        f"the answer of {forward.address}, to whom the case was forwarded: an internal entry")
        return True
    return False


def process(ctx, delivery) -> None:
    """Decide the case and the action (new, append, reopen, agent …) for the delivery."""
    if _reply_address(ctx, delivery) or _approval_address(ctx, delivery) or _forward_address(ctx, delivery):
        return
    case = _signed(ctx, delivery) or _stored(ctx, delivery)
    if case is None and delivery.bounce:
        case = _enclosed(ctx, delivery)
    if case is None and not delivery.bounce:
        case = _token(ctx, delivery)
    if case is not None:
        if delivery.bounce or delivery.autoreply:
            delivery.case, delivery.action = case, "note"
            return
        party = forwarding.party_of(case, delivery.person)
        if party is not None:
            # The party wrote to the department's address, not to the forward's:
            # still theirs, and still never the customer's to read.
            delivery.case, delivery.forward, delivery.action = case, party, "party"
            delivery.record("outside-party", value=delivery.person.email, case=case.id,
                            result="the case was forwarded to the sender: an internal entry")
            return
        _follow_up(ctx, delivery, case)
        return
    if delivery.bounce:
        raise Discard("bounce", "a delivery report that concerns no case")
    if delivery.autoreply:
        raise Discard("autoreply", "an automatic answer that concerns no case")
    delivery.department, delivery.other_departments = _department(ctx, delivery)
    delivery.action = "new"

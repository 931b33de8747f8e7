"""Handler: write the message into the store through the case operations.

``new`` opens a case (acknowledged unless the mail is automatic or asks for no
answer), ``append`` adds to one, ``reopen`` adds and reopens, ``note`` keeps a
bounce or out-of-office reply as an internal entry without touching the case.
``agent`` is an agent's verified answer through their signed reply address
(``agentmail``); ``approval`` an approver's through their signed approval
address (``approvals``); ``unverified`` is anything else that came to such an
address. A message from an agent's address to a case they are not a
participant of, sent to the plain department address, is likewise kept as an
internal entry marked unverified, never relayed and never obeyed: From is
not authentication (SPEC 4).
The exactly-once key is written here, in the same transaction.
"""

from __future__ import annotations

from maild import agentmail, approvals, bounces, cases, forwarding, language, notify, people
from maild.mail import htmlquote
from maild.mail.message import Part
from maild.store import statements
from maild.store.models import InboundMessage

_PARSE_FAILURES = ("mime:", "body: unreadable", "headers: unreadable")


def _suppress_reason(delivery) -> str:
    """Why this message must not be acknowledged, or "" (MAIL_RULES 27)."""
    tokens = {t.strip().lower() for t in delivery.msg.header("x-auto-response-suppress").split(",")}
    if tokens & {"all", "autoreply"}:
        return "the sender asked for no automatic answer (X-Auto-Response-Suppress)"
    return ""


def _parts(delivery) -> list[Part]:
    """The message's parts, any winmail.dat they came out of, and the raw message if unreadable.

    The winmail.dat is kept beside its files (MAIL_RULES 54: keep the
    original as well); like the raw message, it is recorded, never relayed:
    an agent's reply takes ``msg.parts`` alone.
    """
    parts = list(delivery.msg.parts) + list(delivery.msg.originals)
    if any(d.startswith(_PARSE_FAILURES) for d in delivery.msg.defects):
        parts.append(Part("original-message.eml", "message/rfc822", delivery.raw))
    return parts


def _copied(ctx, delivery) -> list:
    """To and Cc addresses that are neither ours nor the sender (mail received with Cc)."""
    own = ctx.config.own_addresses()
    seen, out = {delivery.person.email}, []
    for name, address in delivery.msg.to + delivery.msg.cc:
        if address not in own and address not in seen and not address.endswith(".invalid"):
            seen.add(address)
            out.append(people.find_or_create(address, name, now=delivery.now))
    return out


def process(ctx, delivery) -> None:
    """Open, append, reopen or note, as the thread handler decided."""
    msg, now = delivery.msg, delivery.now
    # Mail sent as HTML only keeps its words as text too: for search, for the
    # language it is written in, for the agents' notification and the
    # portal's folded quotes ("> " marks where the client put blockquotes).
    text = msg.text if msg.text.strip() or not msg.html else htmlquote.text_of(msg.html)
    common = dict(body_text=text, body_html=msg.html, message_id=msg.message_id,
                  spool_id=delivery.spool_id, now=now, defects=msg.defects + delivery.notes,
                  parts=_parts(delivery))
    if delivery.action in ("new", "append", "reopen") and not delivery.automatic and not delivery.bounce:
        # Before anything is mailed to them: the acknowledgement is in their language.
        language.learn(ctx.config, delivery.person, msg.subject, text)
    if delivery.action == "new":
        reason = _suppress_reason(delivery)
        # A stranger naming someone else's case gets a case of their own, and
        # nobody they copied is added to it (MAIL_RULES 41).
        copied = _copied(ctx, delivery) if delivery.linked_to is None else []
        case, entry = cases.open_case(
            ctx, department=delivery.department, requester=delivery.person, subject=msg.subject,
            linked_to=delivery.linked_to, copied=copied, automatic=delivery.automatic,
            acknowledge=not delivery.automatic and not reason,
            thread_topic=msg.header("thread-topic"), thread_index=msg.header("thread-index"), **common)
        if reason:
            delivery.record("acknowledgement", result=reason)
    elif delivery.action == "agent":
        # The message's own parts only: the raw original kept for unreadable
        # mail carries the agent's address and signed reply address.
        case, entry = delivery.case, agentmail.process(ctx, delivery, list(msg.parts))
    elif delivery.action == "party":
        case, entry = delivery.case, forwarding.party_answer(ctx, delivery, common)
    elif delivery.action == "approval":
        case, entry = delivery.case, approvals.from_reply(ctx, delivery, common)
    elif delivery.action == "unverified":
        # Came to a signed reply address without a signature made for this
        # sender, or from someone who is not the department's agent: kept for
        # the agents, never relayed, never obeyed (SPEC 4).
        case = delivery.case
        entry = cases.add_message(ctx, case, author=delivery.person, subject=msg.subject, public=False,
                                  kind="note", unverified=True, notify_agents=False, **common)
        dept = ctx.config.department(case.department)
        if dept is not None and people.is_agent_of(ctx.config, delivery.person, dept):
            notify.unverified(ctx, case, delivery.person, now=now)
    else:
        case = delivery.case
        if delivery.action == "note":
            entry = cases.add_message(ctx, case, author=delivery.person, subject=msg.subject,
                                      public=False, kind="bounce" if delivery.bounce else "auto",
                                      automatic=True, notify_agents=False, **common)
            if delivery.bounce:
                stopped = bounces.suppress_dead_recipients(ctx, delivery.raw, now)
                if stopped:
                    delivery.record("dead-recipient", value=", ".join(stopped),
                                    result="permanent failure: no notifications to it for a while")
        else:
            dept = ctx.config.department(case.department)
            # Only the requester's own mail passes: an agent who is copied on a
            # case is still an agent, and From is not authentication (SPEC 4).
            claims_agent = (dept is not None and people.is_agent_of(ctx.config, delivery.person, dept)
                            and case.requester_id != delivery.person.id)
            if claims_agent:
                # From is not authentication: an agent answers through a signed
                # reply address; this is kept for the agents only.
                entry = cases.add_message(ctx, case, author=delivery.person, subject=msg.subject,
                                          public=False, kind="note", unverified=True,
                                          notify_agents=False, **common)
                if not delivery.automatic:
                    notify.unverified(ctx, case, delivery.person, now=now)  # how to answer instead
            else:
                entry = cases.add_message(ctx, case, author=delivery.person, subject=msg.subject,
                                          automatic=delivery.automatic, **common)
            if delivery.action == "reopen" and not claims_agent:
                cases.reopen(ctx, case, by=delivery.person, now=now)
    delivery.case, delivery.entry = case, entry
    statements.insert(InboundMessage, {"message_id": msg.message_id[:250], "body_sha256": msg.body_sha256,
                                       "spool_id": delivery.spool_id, "entry": entry})

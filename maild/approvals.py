"""Approvals: a named person approves or rejects a case before it goes on (SPEC 5, Approvals).

A form rule or an agent asks; approvers are asked one at a time, in the order
they were asked for (``position``). The one whose turn it is gets a mail with
signed one-click links (a GET shows a confirmation page and only its POST
decides: mail scanners follow links) and a Reply-To of their signed approval
address, where a reply whose first line is ``APPROVE`` or ``REJECT`` decides.
They may also decide under *My approvals* in the portal. Every way ends in
``decide``, whose conditional UPDATE makes the first decision the only one.

While an approval is pending the case waits (``awaiting_approval``). The last
approval continues it: a form's case gets the assignee its routing named, and
the agents are told of it as of a new case. A rejection of a form's
approval closes the case, cancels the approvals still to come and tells the
requester why; a rejection of an approval an agent asked for tells the
agents and leaves the case open, no longer waiting. Every
decision is an entry (who, when, how, comment); the requester and the
assignee are told. A job reminds an approver once after ``[approvals]
remind_after_days`` and gives up after ``expire_after_days``, telling the
agents. Every function here runs inside the caller's transaction, so a
change and its mail commit together (docs/architecture.md, promise 2).
"""

from __future__ import annotations

import datetime
import logging
import re

from maild import cases, notify, people
from maild.mail import quotes, signing
from maild.store.db import is_sqlite
from maild.store.models import Approval, Case, Entry, Person, utcnow

log = logging.getLogger(__name__)

DECISIONS = {"approve": "approved", "reject": "rejected"}
VIAS = {"link": "by the link in the approval email", "reply": "by email reply", "portal": "in the portal"}
COMMENT_MAX = 5000
QUESTION_MAX = 2000
# The whole first line of a reply, in any case, with trailing punctuation:
# anything else is not a decision (SPEC 5). The Norwegian words are the ones
# the Norwegian approval mail offers.
_FIRST_LINE = re.compile(r"^\s*(approve|reject|godkjenn|avvis)\s*[.!]*\s*$", re.IGNORECASE)
_WORDS = {"approve": "approve", "reject": "reject", "godkjenn": "approve", "avvis": "reject"}
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


class ApprovalError(ValueError):
    """An approval that may not be asked for; ``problem`` says why, as a key of PROBLEMS."""

    def __init__(self, problem: str):
        super().__init__(PROBLEMS[problem])
        self.problem = problem


# --------------------------------------------------------------------------- links

def link_signature(ctx, approval: Approval) -> str:
    """The signature of an approval's one-click links: the approval and its approver."""
    return ctx.signer.sign("approval", approval.id, approval.approver)


def link_url(ctx, approval: Approval, decision: str = "") -> str:
    """The signed page where the approver decides without logging in; ``decision`` preselects."""
    base = ctx.config["site"]["base_url"].rstrip("/")
    url = f"{base}/approval/{approval.id}/{link_signature(ctx, approval)}"
    return f"{url}?decision={decision}" if decision else url


def signed_approval(ctx, approval_id: int, signature: str) -> Approval | None:
    """The approval a link names, if its signature is ours."""
    approval = Approval.get_or_none(Approval.id == approval_id)
    if approval is None or not ctx.signer.verify(signature, "approval", approval.id, approval.approver):
        return None
    return approval


# --------------------------------------------------------------------------- reading

def current(case: Case) -> Approval | None:
    """The pending approval whose turn it is (the lowest position), or None."""
    return (Approval.select().where((Approval.case == case) & (Approval.state == "pending"))
            .order_by(Approval.position, Approval.id).first())


def of_case(case: Case) -> list[Approval]:
    """Every approval of a case, in the order they are asked."""
    return list(Approval.select().where(Approval.case == case).order_by(Approval.position, Approval.id))


def approver_names(rows) -> dict:
    """The people known by the approvers' addresses of these approvals, by address (one query).

    Pages show an approver as "Name <address>" when their name is known,
    as other people are shown, and by the bare address otherwise.
    """
    addresses = sorted({a.approver for a in rows})
    if not addresses:
        return {}
    return {p.email: p for p in Person.select().where(Person.email.in_(addresses))}


def asked_of(email: str, *, pending: bool):
    """The approvals asked of an address: those waiting for them, or those already decided."""
    query = Approval.select(Approval, Case).join(Case).where(
        (Approval.approver == email.strip().lower()) & Approval.asked_at.is_null(False))
    if pending:
        return query.where(Approval.state == "pending").order_by(Approval.asked_at, Approval.id)
    return query.where(Approval.state != "pending").order_by(Approval.decided_at.desc(), Approval.id.desc())


def request_entry(case: Case) -> Entry | None:
    """The case's first message: what the approver is asked about."""
    return Entry.select().where(Entry.case == case).order_by(Entry.id).first()


def read_decision(text: str) -> tuple[str | None, str]:
    """(``approve``/``reject`` or None, comment) from a reply's new text.

    The first non-blank line must be the word alone; the lines after it are
    the comment. ``text`` is the reply with its quote and signature removed.
    """
    lines = (text or "").strip().split("\n")
    match = _FIRST_LINE.match(lines[0]) if lines else None
    if not match:
        return None, ""
    return _WORDS[match.group(1).lower()], "\n".join(lines[1:]).strip()[:COMMENT_MAX]


# --------------------------------------------------------------------------- changes

PROBLEMS = {"address": "an email address of a person, not one of ours",
            "requester": "the requester cannot approve their own request",
            "question": f"a question of at most {QUESTION_MAX} characters",
            "closed": "the case is closed"}


def approver_problem(ctx, address: str, requester: str) -> str:
    """Why an address cannot be asked to approve, as a key of PROBLEMS ("" if it can).

    It must be a person's and not ours, and not the requester's: nobody
    approves their own request (a form's "manager" field may name anyone),
    not even through another address of the same mailbox (``alice+boss@``).
    """
    address = (address or "").strip().lower()
    if not _ADDRESS.match(address) or not notify.may_mail(ctx, address):
        return "address"
    if people.mailbox(address) == people.mailbox(requester):
        return "requester"
    return ""


def ask(ctx, case: Case, approver: str, *, source: str = "agent", requested_by: str = "", question: str = "",
        now=None) -> Approval:
    """Ask a person to approve the case, after anyone already asked; the case waits.

    The approver is mailed at once if nobody else's approval is pending
    before theirs. Raises ApprovalError for an address that cannot be asked.
    """
    now = now or utcnow()
    approver = (approver or "").strip().lower()
    problem = approver_problem(ctx, approver, case.requester.email)
    if problem:
        raise ApprovalError(problem)
    if len(question) > QUESTION_MAX:
        raise ApprovalError("question")
    case = _locked(ctx, case.id)
    if case.status == "closed":
        raise ApprovalError("closed")
    last = Approval.select(Approval.position).where(Approval.case == case).order_by(Approval.position.desc()).first()
    approval = Approval.create(case=case, approver=approver, position=(last.position + 1) if last else 1,
                               source=source, requested_by=requested_by, question=question.strip(),
                               requested_at=now)
    if not case.awaiting_approval:
        Case.update(awaiting_approval=True, updated_at=now).where(Case.id == case.id).execute()
        case.awaiting_approval = True
    who = f" by {requested_by}" if requested_by else " by the form"
    # The agent who asked is the event's author, so the agents' history names them.
    cases.event(case, f"Approval by {approver} requested{who}.", now, public=False,
                author=people.find(requested_by) if requested_by else None,
                change=f"approval_asked:{approver}")
    _ask_next(ctx, case, now)
    return approval


def _locked(ctx, case_id: int) -> Case:
    """The case as stored now, its row locked until the transaction ends (PostgreSQL).

    Asking, deciding and withdrawing each read which approval's turn it is
    and act on it: two at once (two agents asking, or a decision while an
    agent asks) must run one after the other, or an approver could be asked
    twice or left unasked. SQLite's IMMEDIATE transactions already run one
    writer at a time.
    """
    if not is_sqlite(ctx.db):
        return Case.select().where(Case.id == case_id).for_update().get()
    return Case.get_by_id(case_id)


def _ask_next(ctx, case: Case, now) -> None:
    """Mail the approver whose turn it is, unless they were already asked."""
    turn = current(case)
    if turn is None or turn.asked_at is not None:
        return
    Approval.update(asked_at=now).where(Approval.id == turn.id).execute()
    turn.asked_at = now
    _mail_request(ctx, turn, now, reminder=False)


def _mail_request(ctx, approval: Approval, now, *, reminder: bool) -> None:
    case = approval.case
    dept = ctx.config.department(case.department)
    reply_to = signing.approval_address(ctx.signer, dept.address, approval.id, approval.approver) if dept else ""
    notify.approval_asked(ctx, case, approval, people.find_or_create(approval.approver, now=now),
                          request_entry(case), reminder=reminder, reply_to=reply_to,
                          approve_url=link_url(ctx, approval, "approve"),
                          reject_url=link_url(ctx, approval, "reject"), now=now)


def decide(ctx, approval: Approval, decision: str, *, via: str, comment: str = "", now=None) -> bool:
    """Record the approver's decision and move the case on; False if it was not theirs to make now.

    Only a pending approval whose turn has come can be decided, and only
    once: two clicks, or a click and a reply, decide once.
    """
    if decision not in DECISIONS or via not in VIAS:
        raise ValueError(f"decision {decision!r} via {via!r}")
    now = now or utcnow()
    comment = (comment or "").strip()[:COMMENT_MAX]
    state = DECISIONS[decision]
    case = _locked(ctx, approval.case_id)
    changed = (Approval.update(state=state, decided_at=now, decided_via=via, comment=comment)
               .where((Approval.id == approval.id) & (Approval.state == "pending")
                      & Approval.asked_at.is_null(False)).execute())
    if changed != 1:
        return False
    approval.state, approval.decided_at, approval.decided_via, approval.comment = state, now, via, comment
    approver = people.find_or_create(approval.approver, now=now)
    text = f"{state.capitalize()} by {approval.approver} {VIAS[via]}."
    cases.event(case, text + (f"\n\n{comment}" if comment else ""), now, author=approver, public=True,
                change=f"{state}:{approval.approver}")
    final = False
    if decision == "approve":
        if current(case) is not None:
            _ask_next(ctx, case, now)
        else:
            final = True
            _carry_on(ctx, case, now)
    elif approval.source == "form":
        # The form's rule put the request on hold for this approval: closing
        # cancels the approvals still to come, and the requester's mail about
        # the rejection says it is closed.
        cases.close(ctx, case, by=approver, now=now, notify_customer=False)
    else:
        # An agent's question: the answer is theirs to act on. The case stays
        # as it was, only no longer waiting; the approvals after this one are
        # cancelled, as they would approve what was just rejected.
        cases.stop_waiting(case, now)
    notify.approval_decided(ctx, case, approval, request_entry(case), final=final, now=now,
                            tell_requester=decision == "approve" or approval.source == "form")
    return True


def withdraw(ctx, approval: Approval, *, by, now=None) -> bool:
    """An agent takes back a pending approval (a mistyped address, a question settled); False if not pending.

    The next approver is asked; with nobody left to ask, the case stops
    waiting and stays with the agents, who withdrew it. The approver, if
    already asked, is not mailed again: their links now say it is closed.
    """
    now = now or utcnow()
    case = _locked(ctx, approval.case_id)
    if not Approval.update(state="cancelled", decided_at=now).where(
            (Approval.id == approval.id) & (Approval.state == "pending")).execute():
        return False
    cases.event(case, f"Approval by {approval.approver} withdrawn by {by.email}.", now, author=by, public=False,
                change=f"approval_withdrawn:{approval.approver}")
    if current(case) is not None:
        _ask_next(ctx, case, now)
    else:
        Case.update(awaiting_approval=False, updated_at=now).where(Case.id == case.id).execute()
    return True


def _carry_on(ctx, case: Case, now) -> None:
    """Every approval given: the case stops waiting and gets the assignee its form's routing named."""
    changes = {"awaiting_approval": False, "updated_at": now}
    first = request_entry(case)
    route = ((first.answers or {}).get("after_approval") or {}) if first is not None else {}
    assignee = people.find(route["assignee"]) if route.get("assignee") else None
    if assignee is not None and case.assignee_id is None:
        changes["assignee"] = assignee
        cases.event(case, f"Assigned to {assignee.email}.", now, public=False, change=f"assigned:{assignee.email}")
    Case.update(**changes).where(Case.id == case.id).execute()
    case.awaiting_approval, case.updated_at = False, now
    if "assignee" in changes:
        case.assignee = assignee


def from_reply(ctx, delivery, common: dict) -> Entry:
    """An approver's verified mail to their approval address: kept for the agents, and maybe a decision.

    The mail is an internal entry either way. Its first line decides when it
    is ``APPROVE`` or ``REJECT`` (the rest is the comment); otherwise, or
    when the approval is no longer theirs to decide, the approver is told
    how to decide instead; a decision is confirmed to them.
    """
    approval, msg = delivery.approval, delivery.msg
    case = approval.case
    decision, comment = read_decision(quotes.reply_text(msg.text, html=msg.html))
    # A mail that decides nothing may ask something ("only the cheaper
    # model?"): the agents (assignee, else the notify list) see it.
    entry = cases.add_message(ctx, case, author=delivery.person, subject=msg.subject, public=False,
                              kind="note", notify_agents=decision is None, **common)
    if decision is None:
        delivery.record("approval", result="not a decision: the first line is not APPROVE or REJECT")
        _not_decided(ctx, case, approval, delivery, "unclear")
    elif decide(ctx, approval, decision, via="reply", comment=comment, now=delivery.now):
        delivery.record("approval", result=DECISIONS[decision], value=str(approval.id))
        # A mail decided: the approver hears that it did (an automatic answer, so capped).
        if not notify.over_auto_reply_cap(ctx, delivery.person.email, delivery.now):
            notify.approval_confirmed(ctx, case, approval, delivery.person, url=link_url(ctx, approval),
                                      now=delivery.now)
    else:
        delivery.record("approval", result=f"{decision} came too late: the approval is {approval.state}")
        _not_decided(ctx, case, approval, delivery, "closed")
    return entry


def _not_decided(ctx, case: Case, approval: Approval, delivery, reason: str) -> None:
    """Tell the approver their mail decided nothing; while it is theirs to decide, a reply to this may."""
    if notify.over_auto_reply_cap(ctx, delivery.person.email, delivery.now):
        # A robot that answers every mail would otherwise loop through the approval address.
        delivery.record("approval", result="no answer: the sender's automatic answers this hour are used up")
        return
    dept = ctx.config.department(case.department)
    reply_to = signing.approval_address(ctx.signer, dept.address, approval.id, approval.approver) \
        if dept is not None and approval.state == "pending" else ""
    notify.approval_not_decided(ctx, case, approval, delivery.person, reason=reason, url=link_url(ctx, approval),
                                reply_to=reply_to, now=delivery.now)


# --------------------------------------------------------------------------- the job

def remind_and_expire(ctx, now=None) -> tuple[int, int]:
    """Remind approvers once after remind_after_days; give up after expire_after_days. Returns the counts."""
    now = now or utcnow()
    settings = ctx.config["approvals"]
    reminded = expired = 0
    if settings["expire_after_days"] > 0:
        limit = now - datetime.timedelta(days=settings["expire_after_days"])
        for approval in Approval.select().where((Approval.state == "pending") & (Approval.asked_at <= limit)):
            with ctx.db.atomic():
                expired += _expire(ctx, approval, settings["expire_after_days"], now)
    if settings["remind_after_days"] > 0:
        limit = now - datetime.timedelta(days=settings["remind_after_days"])
        due = Approval.select().where((Approval.state == "pending") & (Approval.asked_at <= limit)
                                      & Approval.reminded_at.is_null())
        for approval in due:
            with ctx.db.atomic():
                # Conditional, so two schedulers (or a retried job) remind once.
                if Approval.update(reminded_at=now).where((Approval.id == approval.id)
                                                          & Approval.reminded_at.is_null()
                                                          & (Approval.state == "pending")).execute():
                    _mail_request(ctx, approval, now, reminder=True)
                    reminded += 1
    if reminded or expired:
        log.info("approvals: %d reminder(s) sent, %d expired", reminded, expired)
        ctx.outbox_wakeup.set()
    return reminded, expired


def _expire(ctx, approval: Approval, days: int, now) -> int:
    """Give up on an approval nobody decided: the agents are told, and the case no longer waits."""
    if not Approval.update(state="expired", decided_at=now).where(
            (Approval.id == approval.id) & (Approval.state == "pending")).execute():
        return 0
    case = approval.case
    # Those after it in the sequence would wait for ever: the agents ask again.
    Approval.update(state="cancelled", decided_at=now).where(
        (Approval.case == case) & (Approval.state == "pending")).execute()
    Case.update(awaiting_approval=False, updated_at=now).where(Case.id == case.id).execute()
    case.awaiting_approval = False
    cases.event(case, f"Approval by {approval.approver} expired after {days} days without an answer.", now,
                public=False, change=f"approval_expired:{days}:{approval.approver}")
    notify.approval_expired(ctx, case, approval, days=days, now=now)
    return 1


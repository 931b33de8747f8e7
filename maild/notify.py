"""Who is told of what (SPEC 3.4), rendered from ``templates/mail`` into the outbox.

Each function runs inside the transaction of the change it reports. Wording
lives in ``templates/mail/<audience>/<event>.<lang>.txt``; the first line of a
template is the subject, the rest the body. Recipients never include our own
addresses, ``.invalid`` addresses or no-reply senders (MAIL_RULES 31, 67), nor
the person who caused the change, nor, for a while, an address that bounced
permanently (MAIL_RULES 30, ``bounces``).
"""

from __future__ import annotations

import datetime
import logging
import re

import jinja2

from maild import attachments, bounces, contacts, forms, localtime, people
from maild.context import BODY, SUBJECT
from maild.mail import quotes, signing
from maild.mail.compose import Outgoing, ascii_address
from maild.mail.subject import case_subject, clean_header_text
from maild.outbound import outbox
from maild.rules.automatic import NO_REPLY
from maild.store import statements
from maild.store.models import Case, Entry, MessageRef, Participant, Person

log = logging.getLogger(__name__)

# How many of a case's Message-IDs go into References (before capping).
REFERENCE_HISTORY = 8


def may_mail(ctx, address: str) -> bool:
    """Whether mail may go to an address: a real person's, not ours, not a no-reply one."""
    address = (address or "").lower()
    # A non-ASCII local part needs SMTPUTF8 (RFC 6531) end to end, which we do not use.
    return bool(address) and ascii_address(address) is not None and not address.endswith(".invalid") \
        and not NO_REPLY.match(address) and address not in ctx.config.own_addresses()


def installed_forms(ctx) -> dict:
    """The intake forms by id, read once per process; none when they cannot be read.

    The portal loads them at start and refuses to start on a bad one
    (``sensedesk check`` names it); here they only relabel answers, so a bad
    form means the stored text is mailed instead.
    """
    if ctx.forms is None:
        try:
            ctx.forms = forms.load_forms(ctx.config["site"]["forms_dir"], ctx.config)
        except forms.FormError as exc:
            log.warning("forms not read, answers are mailed as submitted: %s", exc)
            ctx.forms = {}
    return ctx.forms


def entry_text(ctx, entry: Entry, language: str) -> str:
    """An entry's text for a reader: a form's answers labelled in their language, else the stored text."""
    if entry.answers:
        text = forms.stored_answers_text(installed_forms(ctx), entry.answers, language)
        if text is not None:
            return text
    return entry.body_text or ""


def render(ctx, audience: str, event: str, language: str, *, reader: Person | None = None,
           **values) -> tuple[str, str]:
    """(subject, body) of a mail template in a language, falling back to English.

    The first line of the template is the subject, rendered apart from the
    body and folded to one line: whatever the values hold, the body starts
    where the template says. Templates show times with ``when(t)`` and dates
    with ``on(d)``, in the ``reader``'s zone (else ``[site] timezone``) and
    the language of the mail.
    """
    env = ctx.mail_templates
    name = f"{audience}/{event}.{language}.txt"
    try:
        subject = env.get_template(name + SUBJECT)
    except jinja2.TemplateNotFound:  # a language without this template
        name = f"{audience}/{event}.en.txt"
        subject = env.get_template(name + SUBJECT)
    where = localtime.zone(ctx.config, reader)
    values = {"site": ctx.config["site"]["name"],
              "when": lambda value: localtime.moment(value, language, where),
              "on": lambda value: localtime.day(value, language, where), **values}
    if values.get("entry") is not None:
        values.setdefault("entry_text", entry_text(ctx, values["entry"], language))
    body = env.get_template(name + BODY).render(**values)
    return clean_header_text(subject.render(**values)), body.lstrip("\n")


def _references(ctx, case: Case, in_reply_to: str) -> list[str]:
    cursor = statements.query(
        "notify-references", lambda: (MessageRef.select(MessageRef.message_id).where(MessageRef.case == 0)
                                      .order_by(MessageRef.id.desc()).limit(REFERENCE_HISTORY)),
        [case.id, REFERENCE_HISTORY])
    ids = [r for (r,) in cursor.fetchall()]
    ids.reverse()
    refs = [ctx.signer.case_reference(case.id)] + ids
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    return refs


def _send(ctx, case: Case, person: Person, *, audience: str, event: str, kind: str, now,
          auto_submitted: str, in_reply_to: str = "", references=None, files=(), from_name: str = "",
          reply_to: str = "", message_id: str = "", **values) -> None:
    """Render one template for one person about a case and queue it.

    Mail to agents carries a Reply-To of their signed reply address for the
    case, so that answering it is how an agent replies and gives commands;
    other mail may name its own (an approver's signed approval address).
    """
    # Automatic notifications stop for an address that bounced for good; a
    # person's own answer (an agent's reply) still goes (MAIL_RULES 30).
    if auto_submitted and not bounces.deliverable(person, now):
        log.info("case %s: %s not mailed (%s): the address bounced permanently", case.id, person.email, event)
        return
    dept = ctx.config.department(case.department)
    language = person.language or ctx.config.language(dept)
    prefix = ctx.config["site"]["token_prefix"]
    base_url = ctx.config["site"]["base_url"].rstrip("/")
    # Where the reader sees the case: the agent page, else the customer's (SPEC 3.4).
    case_url = f"{base_url}/agent/cases/{case.id}" if audience == "agent" else f"{base_url}/requests/{case.id}"
    subject_line, body = render(
        ctx, audience, event, language, reader=person, case=case, person=person,
        department=dept.name if dept else case.department,
        number=f"{prefix}-{case.id}", base_url=base_url, case_url=case_url, **values)
    if audience == "agent" and dept is not None:
        reply_to = signing.reply_address(ctx.signer, dept.address, case.id, person.email)
    out = Outgoing(
        from_name=from_name or (dept.name if dept else ctx.config["site"]["name"]), reply_to=reply_to,
        from_address=dept.address if dept else next(iter(ctx.config.own_addresses()), ""),
        to_name=person.name, to_address=person.email,
        subject=case_subject(case.id, subject_line, prefix),
        body=body, message_id=message_id or ctx.signer.message_id(case.id, person.id),
        in_reply_to=in_reply_to,
        references=references if references is not None else _references(ctx, case, in_reply_to),
        auto_submitted=auto_submitted, thread_topic=case.thread_topic, thread_index=case.thread_index,
        attachments=list(files))
    outbox.enqueue(ctx, out, kind=kind, case=case, automatic=bool(auto_submitted), now=now)


def _notify_list(ctx, case: Case) -> list[Person]:
    """The people of the case's department's notify list."""
    dept = ctx.config.department(case.department)
    bounces.refresh_staff(ctx)
    return [ctx.staff.get(a) or people.find_or_create(a) for a in (dept.notify if dept else ())]


def _agents_to_tell(ctx, case: Case, exclude: Person | None) -> list[Person]:
    """The assignee, else the department's notify list."""
    people_ = [case.assignee] if case.assignee_id else _notify_list(ctx, case)
    return [p for p in people_ if may_mail(ctx, p.email) and (exclude is None or p.id != exclude.id)]


def _customers(ctx, case: Case, exclude: Person | None = None) -> list[Person]:
    """Requester and participants, each once."""
    rows = (Person.select().join(Participant, on=(Participant.person == Person.id))
            .where(Participant.case == case).order_by(Participant.id))
    return [p for p in rows if may_mail(ctx, p.email) and (exclude is None or p.id != exclude.id)]


def over_auto_reply_cap(ctx, address: str, now) -> bool:
    """Whether the sender already had their automatic answers this hour (MAIL_RULES 32)."""
    limit = ctx.config["mail"]["auto_replies_per_hour"]
    return outbox.automatic_sent_since(address, now - datetime.timedelta(hours=1)) >= limit


def case_opened(ctx, case: Case, entry: Entry, *, acknowledge: bool, now, files=None,
                tell_agents: bool = True, known=(), by_mail: bool = True) -> list[str]:
    """Acknowledge to the requester; tell the notify list. Returns notes on what was held back.

    ``files`` are the entry's attachments as (name, type, bytes), when the
    caller has them at hand; otherwise they are read from the store. A case
    that waits for approval reaches the agents when approved (``tell_agents``).
    ``known`` are the operational notices active for the case's department,
    which the acknowledgement names (SPEC 5: the problem is known).
    The hourly cap on automatic answers guards against mail loops, so it
    holds back only the acknowledgement of a request that came ``by_mail``;
    a person's own request in the portal is always acknowledged.
    """
    notes = []
    requester = case.requester
    # A new case's history is its first message: no need to ask the store.
    references = [ctx.signer.case_reference(case.id)] + ([entry.message_id] if entry.message_id else [])
    if acknowledge and may_mail(ctx, requester.email):
        if by_mail and over_auto_reply_cap(ctx, requester.email, now):
            notes.append("acknowledgement held back: the sender's automatic answers this hour are used up")
            log.warning("auto-reply cap reached for %s; case %s not acknowledged", requester.email, case.id)
        else:
            _send(ctx, case, requester, audience="customer", event="ack", kind="ack", now=now,
                  auto_submitted="auto-replied", in_reply_to=entry.message_id, references=references,
                  entry=entry, known=list(known))
    if not tell_agents:
        return notes
    files = attachments.for_entry(entry) if files is None else files
    agents = _agents_to_tell(ctx, case, exclude=requester)
    other_open = _other_open_cases(ctx, case, requester) if agents else []
    for agent in agents:
        _send(ctx, case, agent, audience="agent", event="new_case", kind="new_case", now=now,
              auto_submitted="auto-generated", in_reply_to=entry.message_id, references=references,
              entry=entry, requester=requester, files=files, other_open=other_open)
    return notes


# Other open cases of the requester named in the new-case mail to agents, at most.
OTHER_OPEN_SHOWN = 5


def _other_open_cases(ctx, case: Case, requester: Person) -> list[str]:
    """"SD-12 Subject" of the requester's other open cases in the case's department (maild/contacts.py).

    A person who came with this very case (created with the same batch's
    time, or later) has none: no query then. A new customer's mail is most
    mail, and this is on its way.
    """
    if requester.created_at >= case.created_at:
        return []
    prefix = ctx.config["site"]["token_prefix"]
    found = contacts.person_cases(requester, [case.department], exclude=case.id, open_only=True)
    return [f"{prefix}-{c.id} {c.subject}" for c in found.limit(OTHER_OPEN_SHOWN)]


def copied(ctx, case: Case, entry: Entry, person: Person, *, now) -> None:
    """Tell a person a form's rule copied on a new case that they are on it, and what it asks."""
    if may_mail(ctx, person.email):
        _send(ctx, case, person, audience="customer", event="copied", kind="copied", now=now,
              auto_submitted="auto-generated", entry=entry, requester=case.requester)


def customer_replied(ctx, case: Case, entry: Entry, *, now, files=None) -> None:
    """Tell the assignee, else the notify list, of a customer's message."""
    files = attachments.for_entry(entry) if files is None else files
    agents = _agents_to_tell(ctx, case, exclude=entry.author)
    references = _references(ctx, case, entry.message_id) if agents else []
    words = _own_words(entry) if agents else ""
    for agent in agents:
        _send(ctx, case, agent, audience="agent", event="customer_reply", kind="customer_reply",
              now=now, auto_submitted="auto-generated", in_reply_to=entry.message_id, entry=entry,
              entry_text=words, author=entry.author, files=files, references=references)


def _own_words(entry: Entry) -> str:
    """What a reply says, for agents who have the case's history: the history
    it quotes is cut, the signature kept (the case page shows it all)."""
    return quotes.without_history(entry.body_text or "", html=entry.body_html or "")


def case_reopened(ctx, case: Case, *, by: Person | None, how: str, now) -> None:
    """Tell the assignee (else the notify list), but not the one who did it, who reopened the case and how."""
    for agent in _agents_to_tell(ctx, case, exclude=by):
        _send(ctx, case, agent, audience="agent", event="reopened", kind="reopened", now=now,
              auto_submitted="auto-generated", by=by, how=how)


def case_closed(ctx, case: Case, *, now, exclude: Person | None = None, solved_by: Person | None = None) -> None:
    """Tell the requester and participants (but ``exclude``) that the case is closed.

    When a customer marked it ``solved_by`` themselves, their mail confirms
    it and the others' says who did.
    """
    for person in _customers(ctx, case, exclude=exclude):
        _send(ctx, case, person, audience="customer", event="closed", kind="closed", now=now,
              auto_submitted="auto-generated", solved_by=solved_by)


def case_merged(ctx, source: Case, target: Case, *, now) -> None:
    """Tell the merged case's requester, once, which case holds their request now (maild/merge.py)."""
    requester = Person.get_by_id(source.requester_id)
    if may_mail(ctx, requester.email):
        prefix = ctx.config["site"]["token_prefix"]
        # About the case that stays: its token threads the answer there.
        _send(ctx, target, requester, audience="customer", event="merged", kind="merged", now=now,
              auto_submitted="auto-generated", merged_number=f"{prefix}-{source.id}", merged_subject=source.subject)


def case_moved(ctx, case: Case, old, *, by: Person | None, now) -> None:
    """Tell the new department's notify list (and an assignee kept) of a case moved to it, with its request."""
    agents = ([case.assignee] if case.assignee_id else []) + _notify_list(ctx, case)
    first = Entry.select().where((Entry.case == case) & (Entry.kind == "message")).order_by(Entry.id).first()
    seen = {by.id} if by is not None else set()
    for agent in agents:
        if agent.id in seen or not may_mail(ctx, agent.email):
            continue
        seen.add(agent.id)
        _send(ctx, case, agent, audience="agent", event="moved", kind="moved", now=now,
              auto_submitted="auto-generated", entry=first, requester=case.requester, by=by,
              old_department=old.name if old else "")


def case_solved(ctx, case: Case, person: Person, *, now) -> None:
    """Tell the assignee (else the notify list) that a customer marked the case as solved."""
    for agent in _agents_to_tell(ctx, case, exclude=person):
        _send(ctx, case, agent, audience="agent", event="solved", kind="solved", now=now,
              auto_submitted="auto-generated", solved_by=person)


def site_sender(ctx, department: str = "") -> str:
    """The address mail that is not about a case comes from: a department's, else the first one's."""
    dept = ctx.config.department(department) if department else None
    if dept is None and ctx.config.departments:
        dept = ctx.config.departments[0]
    return dept.address if dept else ""


def login_link(ctx, address: str, link: str, language: str, *, now) -> None:
    """Mail a one-time portal login link to an address (it proves the address; MAIL_RULES 73)."""
    if not may_mail(ctx, address):
        return
    subject, body = render(ctx, "customer", "login_link", language, link=link, minutes=15,
                           base_url=ctx.config["site"]["base_url"].rstrip("/"))
    outbox.enqueue(ctx, Outgoing(
        from_name=ctx.config["site"]["name"], from_address=site_sender(ctx), to_name="",
        to_address=address, subject=subject, body=body, message_id=ctx.signer.message_id(0, 0)),
        kind="login_link", automatic=False, now=now)


# --------------------------------------------------------------------------- agents' mail (SPEC 4)

def agent_replied(ctx, case: Case, entry: Entry, *, now, files=None) -> None:
    """Send an agent's public reply to the requester and participants, from the department."""
    files = attachments.for_entry(entry) if files is None else files
    dept = ctx.config.department(case.department)
    agent = entry.author
    # The agent's name with the department's address: nothing of the agent's
    # own address reaches the customer (SPEC 4).
    name = f"{agent.name} ({dept.name})" if agent.name and dept else (dept.name if dept else "")
    references = _references(ctx, case, "")
    for person in _customers(ctx, case, exclude=agent):
        _send(ctx, case, person, audience="customer", event="agent_reply", kind="agent_reply", now=now,
              auto_submitted="", entry=entry, agent=agent, files=files, from_name=name,
              references=references, sign_off=not quotes.signed_off(entry.body_text, agent.name or ""))


def note_added(ctx, case: Case, entry: Entry, *, now, files=None) -> None:
    """Tell the assignee and the agents named in an internal note; never a customer."""
    dept = ctx.config.department(case.department)
    files = attachments.for_entry(entry) if files is None else files
    named = {a.lower() for a in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", entry.body_text or "")}
    agents = [case.assignee] if case.assignee_id else []
    for address in sorted(named):
        person = people.find(address)
        if person is not None and dept is not None and people.is_agent_of(ctx.config, person, dept):
            agents.append(person)
    seen = set()
    for agent in agents:
        if agent.id in seen or agent.id == entry.author_id or not may_mail(ctx, agent.email):
            continue
        seen.add(agent.id)
        _send(ctx, case, agent, audience="agent", event="note", kind="note", now=now,
              auto_submitted="auto-generated", entry=entry, author=entry.author, files=files)


def forwarded(ctx, case: Case, party: Person, forward, *, agent: Person, note: str, text: str, files, now) -> None:
    """Send a case to an outside party, answerable only to its signed forward address (maild/forwarding.py)."""
    dept = ctx.config.department(case.department)
    base = dept.address if dept else next(iter(ctx.config.own_addresses()), "")
    _send(ctx, case, party, audience="party", event="forward", kind="forward", now=now, auto_submitted="",
          files=files, from_name=f"{agent.name or agent.email} ({dept.name if dept else case.department})",
          reply_to=signing.forward_address(ctx.signer, base, forward.id), references=[], note=note, text=text,
          agent=agent)


def party_answered(ctx, case: Case, entry: Entry, forward, *, now) -> None:
    """Tell the agent who forwarded the case, and the assignee, that the outside party answered."""
    files, words = attachments.for_entry(entry), _own_words(entry)
    told = set()
    for person in (people.find(forward.agent) if forward.agent else None, case.assignee if case.assignee_id else None):
        if person is None or person.id in told or not may_mail(ctx, person.email):
            continue
        told.add(person.id)
        _send(ctx, case, person, audience="agent", event="party_answer", kind="party_answer", now=now,
              auto_submitted="auto-generated", entry=entry, entry_text=words, author=entry.author,
              forward=forward, files=files)


def command_result(ctx, case: Case, agent: Person, done: list[str], problems: list[str], *, now) -> None:
    """Answer an agent's command mail: what was done, and what was not understood."""
    if may_mail(ctx, agent.email):
        _send(ctx, case, agent, audience="agent", event="commands", kind="commands", now=now,
              auto_submitted="auto-replied", done=done, problems=problems)


def unverified(ctx, case: Case, agent: Person, *, now) -> None:
    """Tell an agent that mail in their name was kept as a note and not obeyed (SPEC 4)."""
    if may_mail(ctx, agent.email):
        _send(ctx, case, agent, audience="agent", event="unverified", kind="unverified", now=now,
              auto_submitted="auto-replied")


def assigned(ctx, case: Case, agent: Person, by: Person | None, *, now) -> None:
    """Tell an agent a case was given to them (not when they took it themselves)."""
    if (by is None or by.id != agent.id) and may_mail(ctx, agent.email):
        _send(ctx, case, agent, audience="agent", event="assigned", kind="assigned", now=now,
              auto_submitted="auto-generated", by=by)


def closed_unanswered(ctx, case: Case, *, days: int, now) -> None:
    """Tell the requester and participants a case waiting for them was closed after ``days`` days."""
    for person in _customers(ctx, case):
        _send(ctx, case, person, audience="customer", event="closed_unanswered", kind="closed", now=now,
              auto_submitted="auto-generated", days=days)


# --------------------------------------------------------------------------- approvals (SPEC 5)

def approval_asked(ctx, case: Case, approval, approver: Person, entry: Entry | None, *, reminder: bool,
                   reply_to: str, approve_url: str, reject_url: str, now) -> None:
    """Ask an approver to decide (or remind them), with the signed links and a signed Reply-To.

    The Message-ID is signed for no case, and References name none: an
    answer that misses the signed Reply-To must not thread onto the case as
    if the approver were one of its people; it decides nothing either way.
    """
    if not may_mail(ctx, approver.email):
        return
    event = "approval_reminder" if reminder else "approval_request"
    # The mail says who asked: the agent, by name; without one, a form's rule asked for the requester.
    asker = people.find(approval.requested_by) if approval.requested_by else None
    _send(ctx, case, approver, audience="approver", event=event, kind=event, now=now,
          auto_submitted="auto-generated", references=[], reply_to=reply_to, approval=approval, entry=entry,
          requester=case.requester, asker=asker, approve_url=approve_url, reject_url=reject_url,
          message_id=ctx.signer.message_id(0, approver.id))


def _approver(approval) -> str:
    """The approver as mail names people: "Name <address>" when their name is known, else the address."""
    person = people.find(approval.approver)
    return f"{person.name} <{approval.approver}>" if person is not None and person.name else approval.approver


def _approval_agents(ctx, case: Case, approval, *, everyone: bool) -> list[Person]:
    """The assignee (or, with ``everyone``, the notify list when nobody is), and the agent who asked."""
    agents = _agents_to_tell(ctx, case, exclude=None) if everyone else \
        ([case.assignee] if case.assignee_id and may_mail(ctx, case.assignee.email) else [])
    asker = people.find(approval.requested_by) if approval.requested_by else None
    if asker is not None and may_mail(ctx, asker.email) and all(a.id != asker.id for a in agents):
        agents.append(asker)
    return agents


def approval_decided(ctx, case: Case, approval, entry: Entry | None, *, final: bool, now,
                     tell_requester: bool = True) -> None:
    """Tell the requester (unless not ``tell_requester``) and the agents of a decision.

    The last approval hands the case to the agents as a new one (the
    assignee, else the notify list): they were not told while it waited.
    """
    for person in [case.requester] if tell_requester and may_mail(ctx, case.requester.email) else []:
        _send(ctx, case, person, audience="customer", event="approval_decided", kind="approval_decided",
              now=now, auto_submitted="auto-generated", approval=approval, final=final,
              approver=_approver(approval))
    for agent in _approval_agents(ctx, case, approval, everyone=final):
        _send(ctx, case, agent, audience="agent", event="approval_decided", kind="approval_decided", now=now,
              auto_submitted="auto-generated", approval=approval, final=final, entry=entry,
              requester=case.requester, approver=_approver(approval))


def approval_expired(ctx, case: Case, approval, *, days: int, now) -> None:
    """Tell the assignee (else the notify list) and the agent who asked that nobody decided."""
    for agent in _approval_agents(ctx, case, approval, everyone=True):
        _send(ctx, case, agent, audience="agent", event="approval_expired", kind="approval_expired", now=now,
              auto_submitted="auto-generated", approval=approval, days=days, approver=_approver(approval))


def approval_confirmed(ctx, case: Case, approval, approver: Person, *, url: str, now) -> None:
    """Confirm to an approver that their mail decided the approval."""
    if may_mail(ctx, approver.email):
        _send(ctx, case, approver, audience="approver", event="approval_confirmed", kind="approval_confirmed",
              now=now, auto_submitted="auto-replied", references=[], approval=approval, url=url,
              message_id=ctx.signer.message_id(0, approver.id))


def approval_not_decided(ctx, case: Case, approval, approver: Person, *, reason: str, url: str,
                         reply_to: str, now) -> None:
    """Tell an approver their mail decided nothing: ``unclear`` first line, or the approval is ``closed``.

    ``reply_to`` is their approval address while the approval is still
    theirs to decide, so that answering this mail as it says decides.
    """
    if may_mail(ctx, approver.email):
        _send(ctx, case, approver, audience="approver", event="approval_not_decided", kind="approval_not_decided",
              now=now, auto_submitted="auto-replied", references=[], reply_to=reply_to, approval=approval,
              reason=reason, url=url, message_id=ctx.signer.message_id(0, approver.id))

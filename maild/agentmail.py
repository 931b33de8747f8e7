"""An agent's verified mail to a case: the reply relayed, the commands obeyed, the agent answered.

The thread handler decided the mail came through the agent's own signed
reply address (SPEC 4). Here the quoted history and the signature are cut
off (``quotes.reply_text``), the leading command lines are read
(``commands``), the text becomes a public reply or, with ``#note``, an
internal note, and every command is carried out through the case
operations. An agent who gave commands always gets a short answer saying
what was done and what was not understood.
"""

from __future__ import annotations

from maild import approvals, attachments, cases, categories, forwarding, merge, notify, people, replytemplates
from maild.mail import commands, quotes
from maild.store.models import Case, Entry, Outbox, Person


def _answers_a_note(msg) -> bool:
    """Whether the mail answers one of our internal mails (a note, a party's answer), so it is a note too."""
    ids = [i.strip("<>") for i in [*msg.in_reply_to, *msg.references] if i]
    return bool(ids) and Outbox.select().where(Outbox.message_id.in_(ids[-20:])
                                               & Outbox.kind.in_(["note", "party_answer"])).exists()


def process(ctx, delivery, parts) -> Entry:
    """Record and obey an agent's mail; returns the entry it made."""
    msg, case, agent, now = delivery.msg, delivery.case, delivery.person, delivery.now
    # Only a quote (the notification answered with nothing written above it)
    # is no text: relayed, the customer would get their own history back.
    own = "" if quotes.only_quoted(msg.text, html=msg.html) else quotes.reply_text(msg.text, html=msg.html)
    parsed = commands.parse(own)
    inserted, done, problems = _templates(ctx, case, agent, parsed)
    text = "\n\n".join([*inserted, parsed.text.strip()]).strip() if inserted else parsed.text
    common = dict(parts=parts, message_id=msg.message_id, spool_id=delivery.spool_id, now=now)
    # An answer to a note mail stays internal: its quote may hold the note,
    # and quotes written between the lines are not cut off.
    # With #forward the text is the agent's words to the outside party, kept as a note.
    as_note = parsed.has("note") or parsed.has("forward") or _answers_a_note(msg)
    has_text = bool(text.strip())
    relayed = False
    if as_note and (has_text or parts):
        entry = cases.add_note(ctx, case, agent, text, **common)
    elif has_text or (parts and not parsed.commands):
        # Files alone are sent on; with commands and no text they are a
        # signature's logo more often than not, and stay internal.
        if case.status == "closed" and not parsed.has("close"):
            cases.reopen(ctx, case, by=agent, now=now, how="agent_mail")
        entry = cases.agent_reply(ctx, case, agent, text, **common)
        relayed = True
    elif parts:
        entry = cases.add_note(ctx, case, agent, "", **common)
    else:
        given = [f"#{c.name} {c.argument}".strip() for c in parsed.commands]
        entry = cases.event(case, f"Mail from {agent.email}: {', '.join(given) or 'nothing to send'}.", now,
                            author=agent, public=False,
                            change="commands:" + cases.listed(given, cases.CHANGE_MAX - len("commands:"), ", "))
    problems = list(parsed.problems) + problems
    for command in parsed.commands:
        if command.name == "forward":
            _forward(ctx, case, agent, command.argument, text, entry, now, done, problems)
        elif command.name not in ("note", "mal"):
            _obey(ctx, case, agent, command, now, done, problems)
    if not relayed and not as_note and not parsed.commands and not problems:
        problems.append(("nothing_sent", {}))
    if parsed.commands or problems:
        notify.command_result(ctx, case, agent, done, problems, now=now)
    delivery.record("agent-mail", commands=[f"#{c.name} {c.argument}".strip() for c in parsed.commands],
                    problems=[english(p) for p in problems], entry=entry.kind)
    return entry


# What a command mail did, or could not do, as the trace records it; the
# answer mail says each code in the agent's language
# (templates/mail/agent/commands.*.txt, which know the same codes).
ENGLISH = {
    "closed_already": "#close: the case was closed already",
    "closed": "#close: closed; the requester and participants were told",
    "status": "#{status}: status set to {status}",
    "assigned": "#assign: assigned to {address}",
    "moved": "#dept: moved to {department}",
    "copied": "#cc: {address} added",
    "priority": "#priority: set to {level}",
    "tagged": "#tag: {tag} added",
    "untagged": "#tag: {tag} taken off",
    "approval_asked": "#approval: {address} is asked to approve; the case waits for the decision",
    "merged": "#merge: merged into {number}; the requester was told",
    "forwarded": "#forward: sent to {address}; their answers come back as internal entries",
    **{f"forward_{key}": f"#forward {{argument}}: {text}" for key, text in forwarding.PROBLEMS.items()},
    "categorised": "#category: set to {path}",
    "uncategorised": "#category: the case has no category now",
    "no_category": "#category {argument}: no such category in this department; there are: {known}",
    "template": "#mal {name}: the template was put before the text",
    "no_template": "#mal {argument}: no such template; there are: {known}",
    **{f"merge_{key}": f"#merge {{argument}}: {text}" for key, text in merge.PROBLEMS.items()},
    "not_command": "{line}: not a command",
    "needs_argument": "{line}: #{name} needs an argument",
    "no_argument": "{line}: #{name} takes no argument",
    "not_agent": "#assign {argument}: not an agent of this case's department",
    "no_department": "#dept {argument}: no such department",
    "not_copyable": "#cc {argument}: not an address that can be copied",
    "no_priority": "#priority {argument}: one of {levels}",
    "bad_tag": "#tag {argument}: a tag is lowercase letters, digits, - and _",
    **{f"approval_{key}": f"#approval {{argument}}: {text}" for key, text in approvals.PROBLEMS.items()},
    "nothing_sent": "nothing was sent to the customer: the mail had no text of its own",
}


def english(said: tuple[str, dict]) -> str:
    """One line of a command mail's answer, in English (for the trace)."""
    code, values = said
    return ENGLISH[code].format(**values)


def _obey(ctx, case, agent: Person, command: commands.Command, now, done: list, problems: list) -> None:
    name, argument = command.name, command.argument
    if name == "close":
        if case.status == "closed":
            done.append(("closed_already", {}))
        else:
            cases.close(ctx, case, by=agent, now=now)
            done.append(("closed", {}))
    elif name in ("open", "pending"):
        cases.set_status(ctx, case, name, by=agent, now=now, how="agent_mail")
        done.append(("status", {"status": name}))
    elif name == "assign":
        target = agent if argument.lower() == "me" else people.find(argument)
        dept = ctx.config.department(case.department)
        if target is None or dept is None or not people.is_agent_of(ctx.config, target, dept):
            problems.append(("not_agent", {"argument": argument}))
            return
        cases.assign(ctx, case, target, by=agent, now=now)
        done.append(("assigned", {"address": target.email}))
    elif name == "dept":
        dept = ctx.config.department(argument.lower())
        if dept is None:
            problems.append(("no_department", {"argument": argument}))
            return
        cases.move(ctx, case, dept, by=agent, now=now)
        done.append(("moved", {"department": dept.name}))
    elif name == "cc":
        address = argument.strip("<>").lower()
        if "@" not in address or address in ctx.config.own_addresses():
            problems.append(("not_copyable", {"argument": argument}))
            return
        cases.add_cc(ctx, case, people.find_or_create(address, now=now), by=agent, now=now)
        done.append(("copied", {"address": address}))
    elif name == "priority":
        level = argument.lower()
        if level not in cases.PRIORITIES:
            problems.append(("no_priority", {"argument": argument, "levels": ", ".join(cases.PRIORITIES)}))
            return
        cases.set_details(ctx, case, priority=level, by=agent, now=now)
        done.append(("priority", {"level": level}))
    elif name == "tag":
        tag = argument.lower()
        remove = tag.startswith("-")
        tag = tag.lstrip("-")
        if not cases.TAG.match(tag):
            problems.append(("bad_tag", {"argument": argument}))
            return
        tags = set(case.tags or [])
        tags = tags - {tag} if remove else tags | {tag}
        cases.set_details(ctx, case, tags=tags, by=agent, now=now)
        done.append(("untagged" if remove else "tagged", {"tag": tag}))
    elif name == "category":
        _categorise(ctx, case, agent, argument, now, done, problems)
    elif name == "merge":
        _merge(ctx, case, agent, argument, now, done, problems)
    elif name == "approval":
        address = argument.strip("<>").lower()
        try:
            approvals.ask(ctx, case, address, requested_by=agent.email, now=now)
        except approvals.ApprovalError as problem:
            problems.append(("approval_" + problem.problem, {"argument": argument}))
            return
        done.append(("approval_asked", {"address": address}))


def _templates(ctx, case, agent: Person, parsed) -> tuple[list[str], list, list]:
    """The texts of the #mal templates asked for, filled for the case; what was done and what was not."""
    inserted, done, problems = [], [], []
    if not parsed.has("mal"):
        return inserted, done, problems
    dept = ctx.config.department(case.department)
    requester = Person.get_by_id(case.requester_id)
    language = requester.language or ctx.config.language(dept)
    for command in parsed.commands:
        if command.name != "mal":
            continue
        template = replytemplates.find(command.argument, case.department, language)
        if template is None:
            known = sorted({t.name for t in replytemplates.available([case.department])})
            problems.append(("no_template", {"argument": command.argument, "known": ", ".join(known) or "none"}))
            continue
        inserted.append(replytemplates.fill(template, case=case, requester=requester, agent=agent,
                                            prefix=ctx.config["site"]["token_prefix"],
                                            base_url=ctx.config["site"]["base_url"]))
        done.append(("template", {"name": template.name}))
    return inserted, done, problems


def _categorise(ctx, case, agent: Person, argument: str, now, done: list, problems: list) -> None:
    """#category PATH: the case into a category of its department's tree; #category - out of any."""
    if argument.strip() == "-":
        cases.set_details(ctx, case, category=False, by=agent, now=now)
        done.append(("uncategorised", {}))
        return
    found = categories.find(case.department, argument)
    if found is None:
        known = [c.path for c in categories.tree(case.department)]
        problems.append(("no_category", {"argument": argument, "known": ", ".join(known) or "none"}))
        return
    cases.set_details(ctx, case, category=found, by=agent, now=now)
    done.append(("categorised", {"path": found.path}))


def _forward(ctx, case, agent: Person, argument: str, text: str, entry, now, done: list, problems: list) -> None:
    """#forward ADDRESS: the case to an outside party, with the mail's text and files and the first message's files."""
    first = forwarding.first_message(case)
    files = attachments.for_entry(first) if first is not None else []
    if entry.kind == "note":
        files += attachments.for_entry(entry)
    try:
        forwarding.forward(ctx, case, argument, agent=agent, note=text, attachments=files, now=now)
    except forwarding.ForwardError as problem:
        problems.append(("forward_" + problem.problem, {"argument": argument}))
        return
    done.append(("forwarded", {"address": argument.strip("<>").lower()}))


def _merge(ctx, case, agent: Person, argument: str, now, done: list, problems: list) -> None:
    """#merge NUMBER: this case into that one, when it is a case of the agent's departments."""
    prefix = ctx.config["site"]["token_prefix"]
    number = argument.upper().removeprefix(prefix.upper() + "-").removeprefix("#")
    target = Case.get_or_none(Case.id == int(number)) if number.isdigit() else None
    dept = ctx.config.department(target.department) if target is not None else None
    try:
        if target is None:
            raise merge.MergeError("missing")
        if dept is None or not people.is_agent_of(ctx.config, agent, dept):
            raise merge.MergeError("department")
        merge.merge(ctx, case, target, by=agent, now=now)
    except merge.MergeError as problem:
        problems.append(("merge_" + problem.problem, {"argument": argument}))
        return
    done.append(("merged", {"number": f"{prefix}-{target.id}"}))

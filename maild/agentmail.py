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

from maild import cases, commands, notify, people, quotes
from maild.store.models import Entry, Person


def process(ctx, delivery, parts) -> Entry:
    """Record and obey an agent's mail; returns the entry it made."""
    msg, case, agent, now = delivery.msg, delivery.case, delivery.person, delivery.now
    parsed = commands.parse(quotes.reply_text(msg.text))
    common = dict(parts=parts, message_id=msg.message_id, spool_id=delivery.spool_id, now=now)
    if parsed.has("note"):
        entry = cases.add_note(ctx, case, agent, parsed.text, **common)
    elif parsed.text.strip() or parts:
        if case.status == "closed" and not parsed.has("close"):
            cases.reopen(ctx, case, by=agent, now=now, reason=f"Reopened by {agent.email}'s reply.")
        entry = cases.agent_reply(ctx, case, agent, parsed.text, **common)
    else:
        # Commands alone (or nothing): the mail is recorded as an internal event.
        given = ", ".join(f"#{c.name} {c.argument}".strip() for c in parsed.commands) or "nothing to send"
        entry = cases.event(case, f"Mail from {agent.email}: {given}.", now, author=agent, public=False)
    done, problems = [], list(parsed.problems)
    for command in parsed.commands:
        if command.name != "note":
            _obey(ctx, case, agent, command, now, done, problems)
    if parsed.commands or parsed.problems:
        notify.command_result(ctx, case, agent, done, problems, now=now)
    delivery.record("agent-mail", commands=[f"#{c.name} {c.argument}".strip() for c in parsed.commands],
                    problems=problems, entry=entry.kind)
    return entry


def _obey(ctx, case, agent: Person, command: commands.Command, now, done: list, problems: list) -> None:
    name, argument = command.name, command.argument
    if name == "close":
        if case.status == "closed":
            done.append("#close: the case was closed already")
        else:
            cases.close(ctx, case, by=agent, now=now)
            done.append("#close: closed; the requester and participants were told")
    elif name in ("open", "pending"):
        cases.set_status(ctx, case, name, by=agent, now=now)
        done.append(f"#{name}: status set to {name}")
    elif name == "assign":
        target = agent if argument.lower() == "me" else people.find(argument)
        dept = ctx.config.department(case.department)
        if target is None or dept is None or not people.is_agent_of(ctx.config, target, dept):
            problems.append(f"#assign {argument}: not an agent of this case's department")
            return
        cases.assign(ctx, case, target, by=agent, now=now)
        done.append(f"#assign: assigned to {target.email}")
    elif name == "dept":
        dept = ctx.config.department(argument.lower())
        if dept is None:
            problems.append(f"#dept {argument}: no such department")
            return
        cases.move(ctx, case, dept, by=agent, now=now)
        done.append(f"#dept: moved to {dept.slug}")
    elif name == "cc":
        address = argument.strip("<>").lower()
        if "@" not in address or address in ctx.config.own_addresses():
            problems.append(f"#cc {argument}: not an address that can be copied")
            return
        cases.add_cc(ctx, case, people.find_or_create(address, now=now), by=agent, now=now)
        done.append(f"#cc: {address} added")

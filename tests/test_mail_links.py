"""Every mail about a case links to where it can be read: the customer's case page, or the agent's."""

from __future__ import annotations

import email
import email.policy

from conftest import deliver
from mailfactory import make_mail

from maild import cases, people
from maild.store.models import Case, Outbox

BASE = "http://127.0.0.1:8080"


def mails(kind: str) -> dict[str, str]:
    """The text of the newest mail of a kind, by recipient."""
    found = {}
    for row in Outbox.select().where(Outbox.kind == kind).order_by(Outbox.id):
        found[row.recipient] = email.message_from_bytes(bytes(row.raw), policy=email.policy.default).get_content()
    return found


def test_customer_mail_links_the_case_page_and_agent_mail_the_agent_page(ctx):
    deliver(ctx, make_mail(sender="kari@example.org", subject="Printer", body="It jams."))
    case = Case.get()
    customer_page, agent_page = f"{BASE}/requests/{case.id}", f"{BASE}/agent/cases/{case.id}"
    assert customer_page in mails("ack")["kari@example.org"]
    assert agent_page in mails("new_case")["agent@example.test"]
    deliver(ctx, make_mail(sender="kari@example.org", subject=f"Re: [SD#{case.id}] Printer", body="Still jams."))
    assert agent_page in mails("customer_reply")["agent@example.test"]
    agent = people.find_or_create("agent@example.test")
    with ctx.db.atomic():
        cases.agent_reply(ctx, case, agent, "Try the other tray.")
        cases.assign(ctx, case, agent, by=people.find_or_create("hr-agent@example.test"))
        cases.add_note(ctx, case, people.find_or_create("hr-agent@example.test"), "Fuser is old.")  # to the assignee
        cases.close(ctx, case, by=agent)
    text = mails("agent_reply")["kari@example.org"]
    assert f"Case SD-{case.id}: {customer_page}" in text
    assert customer_page in mails("closed")["kari@example.org"]
    assert agent_page in mails("note")["agent@example.test"]
    assert agent_page in mails("assigned")["agent@example.test"]
    with ctx.db.atomic():
        cases.reopen(ctx, case, by=people.find_or_create("kari@example.org"), how="customer_portal")
    assert agent_page in mails("reopened")["agent@example.test"]

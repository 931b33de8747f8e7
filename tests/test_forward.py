"""Forwarding a case to an outside party: their mail has a signed Reply-To, their answers are internal entries."""

from __future__ import annotations

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in
from test_agentmail import agent_mail, parsed
from test_portal_agent_browser import log_in

from maild import forwarding, people
from maild.store.models import Attachment, Case, Entry, Forward, Outbox

AGENT, KARI, SUPPLIER = "agent@example.test", "kari@example.org", "support@leverandor.example.com"
PDF = ("feilmelding.pdf", "application/pdf", b"%PDF-1.4 feil")


def open_case(ctx) -> Case:
    deliver(ctx, make_mail(sender=KARI, subject="Skriveren", body="Skriveren skriver tomme ark.\n",
                           attachments=[PDF]))
    return Case.select().order_by(Case.id.desc()).get()


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_a_forward_sends_the_case_with_a_signed_reply_to_and_the_answer_stays_internal(ctx):
    case = open_case(ctx)
    files = forwarding.files(case, [a.id for a in Attachment.select()])
    with ctx.db.atomic():
        agent = people.find_or_create(AGENT, name="Agnes Agent")
        with pytest.raises(forwarding.ForwardError, match="own"):
            forwarding.forward(ctx, case, "helpdesk@example.test", agent=agent)
        with pytest.raises(forwarding.ForwardError, match="address"):
            forwarding.forward(ctx, case, "not an address", agent=agent)
        forward = forwarding.forward(ctx, case, f"<{SUPPLIER.upper()}>", agent=agent, name="Leverandør AS",
                                     note="Kan dere se på denne skriveren?", attachments=files)
    assert (forward.address, forward.name, forward.agent) == (SUPPLIER, "Leverandør AS", AGENT)
    sent = parsed(Outbox.get((Outbox.kind == "forward") & (Outbox.recipient == SUPPLIER)))
    reply_to = sent["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith(f"helpdesk+f{forward.id}.") and reply_to.endswith("@example.test")
    assert sent["From"].addresses[0].addr_spec == "helpdesk@example.test"
    assert "Agnes Agent" in str(sent["From"])
    body = text_of(sent)
    assert body.startswith("Kan dere se på denne skriveren?") and "Skriveren skriver tomme ark." in body
    assert KARI not in body and KARI not in str(sent)  # the customer's address stays here
    assert [p.get_filename() for p in sent.iter_attachments()] == ["feilmelding.pdf"]
    event = Entry.get((Entry.case == case.id) & (Entry.change == f"forwarded:{SUPPLIER}"))
    assert not event.public and "Kan dere se" in event.body_text
    to_customer = Outbox.select().where(Outbox.recipient == KARI).count()

    # The party answers to the signed address: an internal entry, and the agent is told.
    row = deliver(ctx, make_mail(sender=SUPPLIER, sender_name="Leverandør Support", to=reply_to,
                                 subject=f"Re: {sent['Subject']}",
                                 body="Bytt fikseringsenheten.\n\n> Skriveren skriver tomme ark.\n"),
                  rcpt=(reply_to,), mail_from=SUPPLIER)
    assert row.state == "processed", row.error
    answer = Entry.get(Entry.kind == "party")
    assert (answer.case_id, answer.public) == (case.id, False) and answer.body_text.startswith("Bytt")
    told = parsed(Outbox.get((Outbox.kind == "party_answer") & (Outbox.recipient == AGENT)))
    assert "Bytt fikseringsenheten." in text_of(told) and "Leverandør AS answered" in text_of(told)
    assert "tomme ark" not in text_of(told)  # the agent has what they quote
    assert Outbox.select().where(Outbox.recipient == KARI).count() == to_customer  # never the customer's
    assert Case.get_by_id(case.id).status == "new"

    # Their ticket system answers from another address: still theirs, still internal.
    deliver(ctx, make_mail(sender="noreply@leverandor.example.com", to=reply_to, subject="Sak 4711 oppdatert",
                           body="Deler er bestilt."), rcpt=(reply_to,), mail_from="noreply@leverandor.example.com")
    assert Entry.select().where((Entry.kind == "party") & (Entry.case == case.id)).count() == 2
    # And to the department's address, naming the case: internal too, not a new case.
    deliver(ctx, make_mail(sender=SUPPLIER, subject=f"Re: [SD#{case.id}] Skriveren", body="Levert."),
            mail_from=SUPPLIER)
    assert Entry.select().where((Entry.kind == "party") & (Entry.case == case.id)).count() == 3
    assert Case.select().count() == 1


def test_a_new_party_gets_the_forward_in_the_language_of_the_agents_text(ctx):
    deliver(ctx, make_mail(sender=KARI, to="hr@example.test", subject="Feriepenger",
                           body="Jeg har ikke fått feriepengene mine for i år, kan dere sjekke det?\n"),
            rcpt=("hr@example.test",))
    case = Case.select().order_by(Case.id.desc()).get()
    with ctx.db.atomic():
        agent = people.find_or_create("hr-agent@example.test", name="Hanne HR")
        forwarding.forward(ctx, case, "payroll@bureau.example.com", agent=agent,
                           note="Could you check why this employee's holiday pay was not paid out this year?")
        forwarding.forward(ctx, case, "lonn@byraa.example.com", agent=agent, note="Se på denne.")
    english = text_of(parsed(Outbox.get(Outbox.recipient == "payroll@bureau.example.com")))
    norwegian = text_of(parsed(Outbox.get(Outbox.recipient == "lonn@byraa.example.com")))
    # HR writes Norwegian: a text too short to tell leaves the department's language.
    assert "Hanne HR of HR sends you case" in english and "Hanne HR i HR sender deg sak" in norwegian


def test_forward_by_mail_sends_the_agents_text_and_not_a_reply(ctx):
    case = open_case(ctx)
    notice = parsed(Outbox.get((Outbox.case == case.id) & (Outbox.kind == "new_case")))
    raw, to = agent_mail(notice, f"#forward {SUPPLIER}\n\nHei, kan dere hjelpe med denne?\n\nAgnes")
    row = deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    sent = parsed(Outbox.get(Outbox.kind == "forward"))
    assert text_of(sent).startswith("Hei, kan dere hjelpe med denne?")
    assert [p.get_filename() for p in sent.iter_attachments()] == ["feilmelding.pdf"]
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0  # nothing to the customer
    assert Entry.get(Entry.kind == "note").body_text.startswith("Hei, kan dere hjelpe")
    answer = text_of(parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get()))
    assert f"#forward: sent to {SUPPLIER}; their answers come back as internal entries" in answer
    raw, to = agent_mail(notice, "#forward helpdesk@example.test\n\nTil oss selv?")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    answer = text_of(parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get()))
    assert "#forward helpdesk@example.test: one of our own addresses" in answer
    assert Forward.select().count() == 1
    # An agent's answer to the party-answer mail stays internal, as an answer to a note mail does.
    reply_to = sent["Reply-To"].addresses[0].addr_spec
    deliver(ctx, make_mail(sender=SUPPLIER, to=reply_to, subject="Re: x", body="Vi ser på det."),
            rcpt=(reply_to,), mail_from=SUPPLIER)
    told = parsed(Outbox.get(Outbox.kind == "party_answer"))
    raw, to = agent_mail(told, "Takk, da venter vi.")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert Outbox.select().where(Outbox.kind == "agent_reply").count() == 0
    assert Entry.select().where(Entry.kind == "note").count() == 3  # each #forward text, and this answer


def test_forward_in_the_agent_pages(site):
    case = open_case(site.ctx)
    agent = logged_in(site, AGENT)
    path = f"/agent/cases/{case.id}"
    page = agent.get(path).text
    pdf = Attachment.get()
    assert 'id="forward-email"' in page and f'id="forward-file-{pdf.id}"' in page
    bad = agent.post(f"{path}/forward", {"email": "hr@example.test", "text": "x"}, form_page=path)
    assert bad.status_code == 400 and 'id="forward-email-error"' in bad.text and Forward.select().count() == 0
    done = agent.post(f"{path}/forward", {"email": SUPPLIER, "name": "Leverandør AS", "text": "Se vedlegg.",
                                          "file": str(pdf.id)}, form_page=path)
    assert "The case is forwarded" in done.text and f"Leverandør AS &lt;{SUPPLIER}&gt;" in done.text
    sent = parsed(Outbox.get(Outbox.kind == "forward"))
    assert [p.get_filename() for p in sent.iter_attachments()] == ["feilmelding.pdf"]
    none = agent.post(f"{path}/forward", {"email": SUPPLIER, "text": "Uten vedlegg."}, form_page=path)
    assert none.status_code == 200
    again = parsed(Outbox.select().where(Outbox.kind == "forward").order_by(Outbox.id.desc()).get())
    assert list(again.iter_attachments()) == [] and Forward.select().count() == 1
    # The customer's page shows nothing of it.
    assert SUPPLIER not in logged_in(site, KARI).get(f"/requests/{case.id}").text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language, width", [("en", 1280), ("nb", 360)])
def test_the_forward_form_and_a_partys_answer_in_the_browser(site, page, language, width):
    case = open_case(site.ctx)
    with site.ctx.db.atomic():
        forward = forwarding.forward(site.ctx, case, SUPPLIER, agent=people.find_or_create(AGENT), note="Hei")
    reply_to = parsed(Outbox.get(Outbox.kind == "forward"))["Reply-To"].addresses[0].addr_spec
    deliver(site.ctx, make_mail(sender=SUPPLIER, to=reply_to, subject="Re: Skriveren", body="Bytt tromme."),
            rcpt=(reply_to,), mail_from=SUPPLIER)
    assert forward.id
    page.set_viewport_size({"width": width, "height": 900})
    log_in(site, page, AGENT)
    if language == "nb":
        page.locator("form[action='/language'] button[value=nb]").first.click()
    page.goto(f"{site.url}/agent/cases/{case.id}")
    assert {"en": "Answer from an outside party", "nb": "Svar fra en ekstern part"}[language] in page.content()
    page.locator("#forward-email").fill("annen@leverandor.example.com")
    page.locator(f"#forward-file-{Attachment.get().id}").check()
    page.locator(f"form[action='/agent/cases/{case.id}/forward'] button[type=submit]").click()
    page.wait_for_load_state()
    assert Forward.select().count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"forward-{language}-{width}")
    assert_accessible(page, f"forward-{language}-{width}")

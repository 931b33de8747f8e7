"""Merging a duplicate case: by the domain function, by #merge in an agent's mail, and in the agent's page."""

from __future__ import annotations

import email
import email.policy

import pytest
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in
from test_agentmail import agent_mail, parsed

from maild import merge, search
from maild.store.models import Attachment, Case, Entry, MessageRef, Outbox, Participant

AGENT, KARI, OLA = "agent@example.test", "kari@example.org", "ola@example.org"


def open_case(ctx, sender, subject, body, name, message_id=None, **kwargs) -> Case:
    deliver(ctx, make_mail(sender=sender, sender_name=name, subject=subject, body=body, message_id=message_id,
                           **kwargs))
    return Case.select().order_by(Case.id.desc()).get()


def two_cases(ctx):
    source = open_case(ctx, KARI, "Skriveren virker ikke", "Skriveren lager gulstriper.\n", "Kari Nordmann",
                       message_id="<first@example.org>", attachments=[("bilde.png", "image/png", b"PNG")])
    target = open_case(ctx, OLA, "Skriveren i 3. etasje", "Samme skriver, samme feil.\n", "Ola Hansen")
    return source, target


def test_a_merge_moves_everything_and_tells_the_requester_once(ctx):
    source, target = two_cases(ctx)
    with ctx.db.atomic():
        merge.merge(ctx, source, target)
    source, target = Case.get_by_id(source.id), Case.get_by_id(target.id)
    assert (source.status, source.merged_into) == ("closed", target.id)
    texts = [e.body_text for e in Entry.select().where(Entry.case == target.id).order_by(Entry.id)]
    assert any("gulstriper" in t for t in texts) and any("Samme skriver" in t for t in texts)
    assert Attachment.select().join(Entry).where(Entry.case == target.id).count() == 1
    assert {p.person.email for p in Participant.select().where(Participant.case == target.id)} == {KARI, OLA}
    assert not Participant.select().where(Participant.case == source.id).exists()
    assert MessageRef.get(MessageRef.message_id == "first@example.org").case_id == target.id
    assert search.search_cases("gulstriper", departments=["helpdesk"], public_only=False)[1] == [target.id]
    told = list(Outbox.select().where(Outbox.kind == "merged"))
    assert [o.recipient for o in told] == [KARI]
    mail = parsed(told[0])
    assert f"[SD#{target.id}]" in str(mail["Subject"])
    assert f"SD-{source.id}" in mail.get_body(("plain",)).get_content()
    with pytest.raises(merge.MergeError):
        merge.merge(ctx, Case.get_by_id(source.id), target)  # merged already
    with pytest.raises(merge.MergeError):
        merge.merge(ctx, target, target)


def test_mail_to_the_merged_number_lands_on_the_case_that_holds_it(ctx):
    source, target = two_cases(ctx)
    with ctx.db.atomic():
        merge.merge(ctx, source, target)
    by_token = deliver(ctx, make_mail(sender=KARI, subject=f"Re: [SD#{source.id}] Skriveren virker ikke",
                                      body="Fortsatt striper.\n"))
    assert by_token.case_id == target.id
    by_reference = deliver(ctx, make_mail(sender=KARI, subject="Re: Skriveren virker ikke", body="Og nå?\n",
                                          in_reply_to="<first@example.org>", references="<first@example.org>"))
    assert by_reference.case_id == target.id
    assert Case.select().count() == 2


def test_merge_by_mail_and_its_answer(ctx):
    source, target = two_cases(ctx)
    notice = parsed(Outbox.get((Outbox.case == source.id) & (Outbox.kind == "new_case")))
    raw, to = agent_mail(notice, f"#merge SD-{target.id}")
    row = deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    assert Case.get_by_id(source.id).merged_into == target.id
    answer = parsed(Outbox.get(Outbox.kind == "commands"))
    assert f"#merge: merged into SD-{target.id}; the requester was told" in answer.get_body(("plain",)).get_content()
    other = open_case(ctx, "per@example.org", "Noe annet", "Annet.\n", "Per")
    notice = parsed(Outbox.get((Outbox.case == other.id) & (Outbox.kind == "new_case")))
    raw, to = agent_mail(notice, f"#merge {source.id}\n#merge 9999\n#merge {other.id}")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    text = parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get()) \
        .get_body(("plain",)).get_content()
    assert f"#merge {source.id}: that case was merged into another one" in text
    assert "#merge 9999: no such case" in text and f"#merge {other.id}: a case cannot be merged into itself" in text
    assert Case.get_by_id(other.id).merged_into is None


def test_merge_in_the_agents_page(site):
    source, target = two_cases(site.ctx)
    agent = logged_in(site, AGENT)
    wrong = agent.post(f"/agent/cases/{source.id}/merge", {"target": str(source.id)},
                       form_page=f"/agent/cases/{source.id}")
    assert wrong.status_code == 400 and "A case cannot be merged into itself." in wrong.text
    done = agent.post(f"/agent/cases/{source.id}/merge", {"target": f"SD-{target.id}"},
                      form_page=f"/agent/cases/{source.id}")
    assert done.url.endswith(f"/agent/cases/{target.id}?done=merged")
    assert "The duplicate has been merged into this case" in done.text
    assert f"Case SD-{source.id} was merged into this case" in done.text
    stub = agent.get(f"/agent/cases/{source.id}").text
    assert f"Merged into SD-{target.id}." in stub and 'id="merge-into"' not in stub
    kari = logged_in(site, KARI)
    followed = kari.get(f"/requests/{source.id}")
    assert followed.url.endswith(f"/requests/{target.id}") and "Skriveren lager gulstriper" in followed.text
    mail = email.message_from_bytes(bytes(Outbox.get(Outbox.kind == "merged").raw), policy=email.policy.default)
    assert mail["To"].addresses[0].addr_spec == KARI

"""Nobody reaches what is not theirs: every route of the portal, read from its route table, tried by intruders.

Kari (a customer of Helpdesk) has a case with a message, HTML, a file and an
inline picture, an approval asked of her manager, a form half filled, and a
notice subscription; Helpdesk has a draft FAQ article, a link, a notice and a
dead outbox row. Every route the application has — so a route added
tomorrow is covered the day it is added — is then called with the ids of
those things and their neighbours (±1), by GET and by POST with a valid
CSRF token of the caller's own session, as four intruders: nobody logged
in, another customer with a case of his own, a logged-in person with no
case, and an agent of another department (HR).

Nothing they get back may carry Kari's or Helpdesk's private words, and
afterwards nothing of Kari's or Helpdesk's may have changed.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import deliver
from mailfactory import make_mail
from portalkit import Client, logged_in

from maild import approvals, cases, casetemplates, categories, faq, links, notices, replytemplates, saved
from maild.store.models import (Approval, Article, Attachment, Case, CaseTemplate, Category, Entry, FormDraft, Link, Notice,
                                NoticeSubscription, Outbox, Participant, Person, ReplyTemplate, SavedSearch)

FORMS = str(Path(__file__).resolve().parent.parent / "config" / "forms")
pytestmark = [pytest.mark.settings(site={"forms_dir": FORMS}),
              pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)]

# Words only Kari, Helpdesk's agents or the admins may ever see.
SECRETS = ("Secret printer A7", "Kari body B8", "secret-C9.pdf", "Draft article D1", "Justification E2",
           "Question F3", "kari@example.org")
FORM = "helpdesk-order-software"
# A value for every field any form of the portal takes, so that a request gets past validation
# to the access check it must fail.
FIELDS = {"text": "Intruder text", "body": "Intruder body", "title": "Intruder title", "subject": "Intruder",
          "description": "Intruder", "status": "closed", "department": "hr", "email": "mallory@example.org",
          "address": "mallory@example.org", "approver": "mallory@example.org", "assignee": "hr-agent@example.test",
          "comment": "Intruder", "decision": "approve", "question": "Intruder", "url": "https://evil.example/",
          "severity": "outage", "lang": "en", "next": "/requests", "direction": "next", "published": "yes",
          "tags": "x", "language": "en", "password": "x", "program": "Visio", "cost_band": "over_5000",
          "users": "3", "justification": "Intruder", "manager_email": "mallory@example.org", "position": "1"}


def _victim(site) -> dict:
    """Everything of Kari's and Helpdesk's that the intruders go for; returns ids by route parameter."""
    ctx = site.ctx
    deliver(ctx, make_mail(subject="Secret printer A7", body="Kari body B8", html="<p>Kari body B8</p>",
                           attachments=[("secret-C9.pdf", "application/pdf", b"%PDF-1.4 secret")],
                           inline=[("logo.png", "image/png", b"\x89PNG\r\n\x1a\nxx", "logo@x")]))
    case = Case.get(Case.subject == "Secret printer A7")
    kari = logged_in(site, "kari@example.org")
    start = f"/forms/{FORM}"
    first = kari.post(start, {"program": "Visio", "cost_band": "1000_5000", "users": "1",
                              "justification": "Justification E2", "manager_email": "boss@example.org",
                              "direction": "next"}, form_page=start)
    draft = re.search(r"/forms/[^/]+/([A-Za-z0-9_-]+)/", first.url).group(1)
    with ctx.db.atomic():
        approval = approvals.ask(ctx, case, "boss@example.org", question="Question F3")
        article = faq.save(ctx.config, title="Draft article D1", body="Not yet.", department="helpdesk")
        link = links.save(ctx.config, title="Helpdesk wiki", url="https://wiki.example.test/",
                          department="helpdesk")
        notice = notices.publish(ctx, title="Printers slow", departments=["helpdesk"])
        subscription = notices.subscribe(Person.get(Person.email == "kari@example.org"), "helpdesk")
        dead = Outbox.select().order_by(Outbox.id).first()
        Outbox.update(state="dead").where(Outbox.id == dead.id).execute()
        agent = Person.get(Person.email == "agent@example.test")
        search = saved.save(agent, "Helpdesk's printers", "q=printer", "helpdesk", departments=("helpdesk",))
        template = replytemplates.save("takk", "helpdesk", "en", "Helpdesk's thanks", agent.email)
        category = categories.add("helpdesk", "Maskinvare/Skriver")
        cases.set_details(ctx, case, category=category)
        case_template = casetemplates.save(name="Helpdesk's call", department="helpdesk", subject="Call G4",
                                           body="", category=None, priority="normal", request_type="", by=agent.email)
    files = [a.id for a in Attachment.select().order_by(Attachment.id)]
    return {"case_id": [case.id], "attachment_id": files, "approval_id": [approval.id],
            "article_id": [article.id], "link_id": [link.id], "notice_id": [notice.id],
            "sub_id": [subscription.id], "row_id": [dead.id], "draft_id": [draft],
            "form_id": [FORM], "page_id": ["order", "summary"], "slug": ["helpdesk"], "path": ["style.css"],
            "token": ["A" * 32], "signature": ["0123456789abcdef"], "expires": [str(int(time.time()) + 600)],
            "entry_id": [e.id for e in Entry.select().where(Entry.case == case)],
            "search_id": [search.id], "template_id": [template.id], "fmt": ["csv", "xlsx"],
            "category_id": [category.id], "case_template_id": [case_template.id]}


INTRUDERS = ("ola@example.org", "per@example.org", "hr-agent@example.test")


def _state() -> dict:
    """What the intruders must not change (what they do to their own things is theirs)."""
    case = Case.get(Case.subject == "Secret printer A7")
    kari = Person.get(Person.email == "kari@example.org")
    return {
        "case": (case.status, case.department, case.assignee_id, case.priority, case.awaiting_approval,
                 case.category),
        "categories": sorted((c.id, c.department, c.path) for c in Category.select()),
        "case templates": sorted((t.id, t.name, t.department, t.subject) for t in CaseTemplate.select()
                                 .where(CaseTemplate.department == "helpdesk")),
        "entries": sorted((e.id, e.kind, e.public, e.body_text) for e in Entry.select().where(Entry.case == case)),
        "participants": sorted(p.person_id for p in Participant.select().where(Participant.case == case)),
        "approvals": sorted((a.id, a.approver, a.state) for a in Approval.select()),
        "articles": sorted((a.id, a.title, a.published) for a in Article.select()),
        "links": sorted((x.id, x.title, x.url) for x in Link.select()),
        "notices": sorted((n.id, n.title, n.severity, n.resolved_at) for n in Notice.select()),
        "subscriptions": sorted((s.id, s.department) for s in NoticeSubscription.select().where(
            NoticeSubscription.person == kari)),
        "drafts": sorted((d.id, str(d.answers), str(d.done)) for d in FormDraft.select().where(
            FormDraft.person == kari)),
        "dead": sorted(o.id for o in Outbox.select().where(Outbox.state == "dead")),
        "people": sorted((p.email, p.role, p.language) for p in Person.select() if p.email not in INTRUDERS),
        # What intruders save of their own is theirs; Helpdesk's and the shared ones are not.
        "saved searches": sorted((x.id, x.name, x.department, x.query) for x in SavedSearch.select()
                                 .join(Person).where(Person.email.not_in(INTRUDERS))),
        "templates": sorted((t.id, t.name, t.department, t.body) for t in ReplyTemplate.select()
                            .where(ReplyTemplate.department.in_(["helpdesk", ""]))),
    }


def _urls(rule: str, values: dict) -> list[str]:
    """The rule with every wildcard filled: the victim's ids, and their neighbours for numeric ones."""
    names = re.findall(r"<(\w+)(?::[^>]*)?>", rule)
    urls = [rule]
    for name in names:
        assert name in values, f"the access sweep has no value for <{name}> of {rule}: add one to _victim"
        choices = []
        for value in values[name]:
            choices.append(str(value))
            if isinstance(value, int):
                choices += [str(value - 1), str(value + 1)]
        pattern = re.compile(r"<%s(?::[^>]*)?>" % name)
        urls = [pattern.sub(choice, url, count=1) for url in urls for choice in dict.fromkeys(choices)]
    return urls


def _intruders(site) -> dict[str, Client]:
    deliver(site.ctx, make_mail(sender="ola@example.org", subject="Ola's own case"))
    with site.ctx.db.atomic():
        Person.create(email="per@example.org", name="Per")
    return {"nobody": Client(site), "another customer": logged_in(site, "ola@example.org"),
            "a person with no case": logged_in(site, "per@example.org"),
            "an agent of HR": logged_in(site, "hr-agent@example.test")}


def test_every_route_keeps_what_is_not_theirs_from_every_intruder(site):
    values = _victim(site)
    intruders = _intruders(site)
    before = _state()
    routes = [(r.method, r.rule) for r in site.server.app.routes]
    # Logging out ends the intruder's own session: last.
    routes.sort(key=lambda route: route[1] == "/logout")
    assert len(routes) > 50
    leaks, tried = [], 0
    for who, client in intruders.items():
        token = client.csrf("/login" if who == "nobody" else "/requests")
        for method, rule in routes:
            for url in _urls(rule, values):
                if method == "GET":
                    answer = client.get(url, allow_redirects=False)
                else:
                    answer = client.post(url, dict(FIELDS), token=token, allow_redirects=False)
                tried += 1
                assert answer.status_code < 500, f"{who}: {method} {url} gave {answer.status_code}"
                found = [s for s in SECRETS if s in answer.text or s.encode() in answer.content]
                if found:
                    leaks.append(f"{who}: {method} {url} ({answer.status_code}) shows {found}")
    assert not leaks, "\n".join(leaks)
    assert tried > 400
    after = _state()
    for key in before:
        assert after[key] == before[key], f"an intruder changed {key}: {before[key]} -> {after[key]}"

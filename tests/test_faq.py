"""The FAQ (SPEC 5): articles, their Markdown made safe, search, a draft from a case, suggestions, deflection.

Units run on both stores through ``ctx``; the portal over HTTP through
``site``. Browser tests (Chromium, axe-core, suggestions while typing) are in
``test_faq_browser.py``.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import deliver
from mailfactory import make_mail
from portalkit import Client, logged_in, make_admin

from maild import cases, deflection, faq, faqsearch, forms, people, redaction
from maild.store.models import Article, Case, Entry, FaqVisit, FormDraft, Person, utcnow

FORMS = str(Path(__file__).resolve().parent.parent / "config" / "forms")
HOUR = datetime.timedelta(hours=1)


def article(ctx, title="VPN from home", body="Start the VPN client, then log in.", **kwargs) -> Article:
    with ctx.db.atomic():
        return faq.save(ctx.config, title=title, body=body, **{"published": True, **kwargs})


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --------------------------------------------------------------------------- Markdown

def test_markdown_is_rendered_without_raw_html_scripts_or_remote_images(ctx):
    html = faq.render_markdown(
        "# Title\n\n### Steps\n\n1. **Open** the [portal](https://portal.example.org/)\n"
        "2. Mail [us](mailto:help@example.test) or read [this](/faq/3)\n\n"
        "<script>alert(1)</script> <img src=x onerror=alert(2)> <b onclick=x>raw</b>\n\n"
        "[evil](javascript:alert(3)) [data](data:text/html,hi) [away](//evil.example/x)\n\n"
        "![a pixel](https://tracker.example/p.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    # Raw HTML is text, never markup.
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "onerror" not in html.replace("onerror=alert(2)&gt;", "")
    assert "<b " not in html and "&lt;b onclick=x&gt;" in html
    # Links: http(s), mailto and portal paths, each with rel; nothing else is a link.
    assert '<a href="https://portal.example.org/" rel="noopener noreferrer">portal</a>' in html
    assert '<a href="mailto:help@example.test" rel="noopener noreferrer">us</a>' in html
    assert '<a href="/faq/3" rel="noopener noreferrer">this</a>' in html
    assert "javascript:" not in re.sub(r"\[evil\]\(javascript:alert\(3\)\)", "", html)
    assert 'href="data:' not in html and 'href="//evil' not in html
    # A remote image becomes a link to it: the CSP blocks it, and it would tell its host who reads.
    assert '<a href="https://tracker.example/p.png" rel="noopener noreferrer">a pixel</a>' in html
    # Headings begin at h2 under the page's title and never skip a level.
    assert "<h2>Title</h2>" in html and "<h3>Steps</h3>" in html and "<h1>" not in html
    assert "<table>" in html and "<td>1</td>" in html and "<strong>Open</strong>" in html


def test_plain_text_and_summary_are_what_a_reader_sees(ctx):
    body = "## Fix\n\nRun **gpupdate** & restart.\n\n" + "word " * 100
    assert faq.plain_text(body).startswith("Fix\nRun gpupdate & restart.")
    a = article(ctx, body=body)
    summary = faq.summary(a, 40)
    assert summary.startswith("Run gpupdate & restart. word") and summary.endswith(" …") and len(summary) <= 42


# --------------------------------------------------------------------------- saving

def test_an_article_is_checked_before_it_is_saved(ctx):
    for kwargs, field in (({"title": " "}, "title"), ({"title": "x" * 201}, "title"), ({"body": ""}, "body"),
                          ({"department": "nope"}, "department"), ({"language": "de"}, "language"),
                          ({"tags": [f"t{i}" for i in range(11)]}, "tags"), ({"tags": "x" * 41}, "tags")):
        with pytest.raises(faq.ArticleError) as caught:
            article(ctx, **kwargs)
        assert caught.value.field == field, kwargs
    assert Article.select().count() == 0
    assert faq.parse_tags(" VPN, remote  work,vpn,, ") == ["vpn", "remote work"]


def test_publishing_sets_and_clears_the_time(ctx):
    draft = article(ctx, published=False)
    assert draft.published_at is None and faq.published_article(draft.id) is None
    now = utcnow()
    with ctx.db.atomic():
        faq.save(ctx.config, title=draft.title, body=draft.body, published=True, article=draft, now=now)
    assert faq.published_article(draft.id).published_at == now
    with ctx.db.atomic():
        faq.save(ctx.config, title=draft.title, body=draft.body, department=draft.department, published=False,
                 article=draft)
    assert Article.get_by_id(draft.id).published_at is None and not faq.has_published("helpdesk")


# --------------------------------------------------------------------------- search

def test_search_finds_words_as_prefixes_in_title_or_body_with_norwegian_letters(ctx):
    vpn = article(ctx, title="VPN på hjemmekontoret", body="Bruk **blåbær**-klienten. Æ og ø virker.",
                  language="nb", department="helpdesk", tags=["remote work"])
    toner = article(ctx, title="Printer toner", body="Change the toner cartridge; see the VPN note.")
    hr = article(ctx, title="Ferie", body="Søk ferie i portalen.", department="hr", language="nb")
    draft = article(ctx, title="VPN draft", body="Not ready.", published=False)
    assert faqsearch.search_articles("blåbær") == (1, [vpn.id])
    assert faqsearch.search_articles("remote") == (1, [vpn.id])  # a tag
    assert faqsearch.search_articles("HJEMME blå") == (1, [vpn.id])  # prefixes, every word, any column
    assert faqsearch.search_articles("æ ø") == (1, [vpn.id])
    assert faqsearch.search_articles("ferie søk") == (1, [hr.id])
    assert faqsearch.search_articles("blaber") == (0, [])  # å is a letter of its own
    # A title word counts more than a body word; the asker's language comes first.
    assert faqsearch.search_articles("vpn")[1] == [vpn.id, toner.id]
    assert faqsearch.search_articles("vpn", language="en")[1] == [toner.id, vpn.id]
    # Drafts only for those who ask; departments scope with "" for all departments.
    assert faqsearch.search_articles("vpn", published_only=False)[0] == 3
    assert draft.id in faqsearch.search_articles("draft", published_only=False)[1]
    assert faqsearch.search_articles("ferie", departments=("", "helpdesk")) == (0, [])
    assert faqsearch.search_articles("ferie", departments=("", "hr")) == (1, [hr.id])
    assert faqsearch.search_articles("toner", departments=()) == (0, [])
    assert faqsearch.search_articles("vpn", limit=1, offset=5) == (2, [])  # past the end: the total still
    assert faqsearch.search_articles('" OR * NEAR(') == (0, [])  # never query syntax
    with ctx.db.atomic():
        faq.save(ctx.config, title="Toner", body="Only toner now.", published=True, article=toner)
        faq.delete(vpn)
    assert faqsearch.search_articles("vpn") == (0, [])


# --------------------------------------------------------------------------- a draft from a case

def test_redaction_takes_out_greeting_sign_off_names_addresses_and_phone_numbers():
    text = ("Hi Kari,\n\nCall us on +47 912 34 567 or 22 33 44 55, or write to kari.nordmann@example.org or "
            "helpdesk@example.test. Kari's laptop runs 10.0.19045 since 2026-03-01 (KB5034441).\n"
            "Per month it costs 100 kr; Ola Nordmann knows.\n\nBest regards,\nAgnes\nHelpdesk")
    done = redaction.redact(text, names=["Kari Nordmann", "Ola Nordmann", "Agnes"],
                            keep_addresses=["helpdesk@example.test"])
    assert done.text.startswith("Call us on [phone number] or [phone number], or write to [email address] or "
                                "helpdesk@example.test. [name]'s laptop runs 10.0.19045 since 2026-03-01 (KB5034441).")
    assert "Per month it costs 100 kr; [name] knows." in done.text
    assert "Best regards" not in done.text and "Agnes" not in done.text
    assert set(done.removed) == {"greeting", "sign-off", "phone", "email", "name"}
    nb = redaction.redact("Hei Ola!\n\nRing 91234567.\n\nMed vennlig hilsen\nHelpdesk", names=["Ola"],
                          language="nb")
    assert nb.text == "Ring [telefonnummer]."
    # "Thanks" high up is part of the answer; a text that is all greeting is kept.
    assert "Thanks for waiting" in redaction.redact("Thanks for waiting.\nIt works now.\nMore.").text
    assert redaction.redact("Hello").text == ""


def test_a_draft_from_a_reply_leaves_the_customers_personal_details_out(ctx):
    deliver(ctx, make_mail(subject="VPN will not connect", sender="kari@example.org",
                           cc="Ola Hansen <ola@example.org>", body="My number is 912 34 567."))
    case = Case.get()
    with ctx.db.atomic():
        Person.update(name="Ola Hansen").where(Person.email == "ola@example.org").execute()
        agent = people.find_or_create("agent@example.test", name="Agnes Agent")
        entry = cases.agent_reply(ctx, case, agent, "Hi Kari,\n\nRestart the VPN client and sign in again. "
                                                    "Ola Hansen saw the same; I called 912 34 567 and "
                                                    "kari@example.org got the guide.\n\nBest regards,\n"
                                                    "Agnes Agent\n\n> My number is 912 34 567.")
    draft = faq.draft_from_entry(ctx.config, entry)
    assert draft.title == "VPN will not connect" and draft.department == "helpdesk" and draft.source_case == case
    assert draft.body == ("Restart the VPN client and sign in again. [name] saw the same; I called [phone number] "
                          "and [email address] got the guide.")
    for detail in ("Kari", "Ola", "Hansen", "912", "kari@example.org", "Agnes", "Best regards", ">"):
        assert detail not in draft.body, detail
    assert set(draft.removed) == {"greeting", "sign-off", "name", "phone", "email"}


# --------------------------------------------------------------------------- deflection

def test_deflection_counts_opened_suggestions_whose_request_was_not_sent(ctx):
    now = utcnow()
    vpn, printer = article(ctx), article(ctx, title="Printer")
    keys = [deflection.new_key() for _ in range(4)]
    with ctx.db.atomic():
        for _ in range(2):  # opened twice: one visit
            deflection.record_visit(vpn, "helpdesk", keys[0], now=now - 3 * HOUR)
        deflection.record_visit(printer, "helpdesk", keys[0], now=now - 2 * HOUR)
        deflection.record_visit(vpn, "helpdesk", keys[1], now=now - 2 * HOUR)  # sent anyway
        deflection.record_visit(vpn, "helpdesk", keys[2], now=now - 10 * datetime.timedelta(minutes=1))  # too soon
        deflection.record_visit(vpn, "hr", keys[3], now=now - 2 * HOUR)
        deflection.record_visit(vpn, "hr", keys[3][::-1], now=now - 40 * 24 * HOUR)  # before the period
        assert not deflection.record_visit(vpn, "hr", "not-a-key", now=now)
        assert deflection.mark_submitted(keys[1]) == 1
    assert FaqVisit.select().count() == 6
    by_dept = {f.department: f for f in deflection.figures(now=now)}
    assert by_dept["helpdesk"] == deflection.Figures("helpdesk", opened=3, submitted=1, deflected=1)
    assert by_dept["helpdesk"].rate == 50
    assert by_dept["hr"] == deflection.Figures("hr", opened=1, submitted=0, deflected=1)
    assert [f.department for f in deflection.figures(["hr"], now=now)] == ["hr"]
    assert deflection.opened_counts([vpn.id, printer.id], now=now) == {vpn.id: 4, printer.id: 1}
    # Deleting an article keeps what its visits tell.
    with ctx.db.atomic():
        faq.delete(printer)
    assert {f.department: f.opened for f in deflection.figures(now=now)}["helpdesk"] == 3


def test_a_form_draft_takes_its_first_pages_key_unless_it_is_taken(ctx):
    key = deflection.new_key()
    assert deflection.draft_id(key) == key and deflection.valid_key(key)
    with ctx.db.atomic():
        FormDraft.create(id=key, person=people.find_or_create("kari@example.org"), form_id="x")
    assert deflection.draft_id(key) != key and deflection.valid_key(deflection.draft_id(key))
    assert deflection.valid_key(deflection.draft_id("../../etc")) and deflection.key_or_new(None) != ""


def test_a_forms_suggesting_field_is_a_text_field_of_its_first_page(ctx):
    shipped = forms.load_forms(FORMS, ctx.config)
    assert shipped["hr-other-question"].faq_field == "topic"
    assert shipped["helpdesk-something-broken"].faq_field == "description"
    assert shipped["hr-new-employee"].faq_field == ""
    data = {"id": "f", "department": "hr", "request_type": "question", "title": {"en": "F"},
            "pages": [{"id": "p", "title": {"en": "P"}, "fields": [
                {"id": "kind", "type": "choice", "label": {"en": "K"},
                 "options": [{"value": "a", "label": {"en": "A"}}]}]}]}
    assert forms.parse_form(data, ctx.config).faq_field == ""
    with pytest.raises(forms.FormError, match="faq_field"):
        forms.parse_form({**data, "faq_field": "kind"}, ctx.config)


# --------------------------------------------------------------------------- the portal: customers

def test_customers_see_published_articles_their_search_and_one_article(site):
    ctx = site.ctx
    vpn = article(ctx, title="VPN på hjemmekontoret", body="Start **klienten**.\n\n<script>alert(1)</script>",
                  language="nb", tags=["vpn"])
    article(ctx, title="Printer toner", body="Change the cartridge.", department="helpdesk")
    draft = article(ctx, title="Secret draft", body="Not ready.", published=False)
    visitor = Client(site)
    home = visitor.get("/").text
    assert 'action="/faq"' in home and 'id="faq-q"' in home
    listing = visitor.get("/faq").text
    assert "VPN på hjemmekontoret" in listing and "Printer toner" in listing and "Secret draft" not in listing
    found = visitor.get("/faq", params={"q": "hjemme"}).text
    assert "1 article matches" in found and "VPN på hjemmekontoret" in found and "Printer" not in found
    assert "Nothing found" in visitor.get("/faq", params={"q": "draft"}).text
    page = visitor.get(f"/faq/{vpn.id}")
    assert page.status_code == 200 and "<strong>klienten</strong>" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert 'lang="nb"' in page.text and "All departments" in page.text and "/faq?q=vpn" in page.text
    for path in (f"/faq/{draft.id}", "/faq/99999", "/faq/x1"):
        assert visitor.get(path).status_code == 404, path
    # Agents too: the customers' URL shows customers' articles only.
    assert logged_in(site, "agent@example.test").get(f"/faq/{draft.id}").status_code == 404


def test_suggestions_are_published_articles_of_the_department_and_for_all(site):
    ctx = site.ctx
    mine = article(ctx, title="Printer jams", department="helpdesk")
    everyone = article(ctx, title="Printer drivers for all")
    article(ctx, title="Printer in HR", department="hr")
    article(ctx, title="Printer draft", published=False)
    key = deflection.new_key()
    answer = Client(site).get("/faq/suggest", params={"q": "printer", "department": "helpdesk", "request": key})
    assert answer.headers["Content-Type"].startswith("application/json")
    data = answer.json()
    assert data["heading"] == "2 articles may answer your question:"
    assert sorted(a["title"] for a in data["articles"]) == ["Printer drivers for all", "Printer jams"]
    urls = {a["title"]: a["url"] for a in data["articles"]}
    assert query_of(urls["Printer jams"]) == {"request": key, "department": "helpdesk", "text": "printer"}
    assert urls["Printer jams"].startswith(f"/faq/{mine.id}?") and f"/faq/{everyone.id}?" in urls[everyone.title]
    for params in ({"q": "printer", "department": "nope", "request": key},
                   {"q": "printer", "department": "helpdesk", "request": "short"},
                   {"q": "", "department": "helpdesk", "request": key}):
        assert Client(site).get("/faq/suggest", params=params).json() == {"heading": "", "articles": []}


def test_the_similar_questions_step_comes_before_the_plain_form_and_counts_what_is_opened(site):
    ctx = site.ctx
    kari = logged_in(site)
    # No published article: straight to the form, as before.
    assert 'action="/new/helpdesk/message"' in kari.get("/new/helpdesk").text
    vpn = article(ctx, title="VPN from home", department="helpdesk")
    step = kari.get("/new/helpdesk")
    assert step.url.endswith("/new/helpdesk/similar") and "What is it about?" in step.text
    key = re.search(r'name="request" value="([A-Za-z0-9_-]{22})"', step.text).group(1)
    skip = re.search(r'<a href="([^"]+)"[^>]*>Skip to the form</a>', step.text).group(1).replace("&amp;", "&")
    assert query_of(skip) == {"request": key}
    # No match: on to the form with the words as its subject.
    none = kari.get("/new/helpdesk/similar", params={"q": "parking permit", "request": key})
    assert none.url.split("?")[0].endswith("/new/helpdesk/message") and 'value="parking permit"' in none.text
    # A match: the article, counted when opened, and a way on with the words.
    shown = kari.get("/new/helpdesk/similar", params={"q": "vpn home", "request": key})
    assert shown.status_code == 200 and "Similar questions" in shown.text and "VPN from home" in shown.text
    link = re.search(r'<a href="(/faq/\d+\?[^"]+)">VPN from home</a>', shown.text).group(1).replace("&amp;", "&")
    assert FaqVisit.select().count() == 0
    opened = kari.get(link)
    assert opened.status_code == 200 and "Continue with my request" in opened.text
    visit = FaqVisit.get()
    assert (visit.article_id, visit.department, visit.request, visit.submitted) == (vpn.id, "helpdesk", key, False)
    resume = re.search(r'<a href="([^"]+)">Continue with my request</a>', opened.text).group(1).replace("&amp;", "&")
    form = kari.get(resume)
    assert 'value="vpn home"' in form.text and f'name="request" value="{key}"' in form.text
    sent = kari.post("/new/helpdesk/message", {"subject": "vpn home", "description": "Still broken.",
                                               "request": key}, form_page=resume)
    assert "done=created" in sent.url and FaqVisit.get().submitted
    # A visitor who is not logged in reads the article without being counted.
    Client(site).get(link)
    assert FaqVisit.select().count() == 1
    assert kari.get("/new/nope/similar").status_code == 404
    assert kari.get("/new/helpdesk/similar", params={"form": "nope"}).status_code == 404


def test_the_plain_form_keeps_its_key_through_a_mistake(site):
    kari = logged_in(site)
    key = deflection.new_key()
    wrong = kari.post("/new/helpdesk/message", {"subject": "", "description": "x", "request": key},
                      form_page="/new/helpdesk/message")
    assert wrong.status_code == 400 and f'name="request" value="{key}"' in wrong.text
    assert 'data-suggest="subject"' in wrong.text and "/static/suggest.js" in wrong.text
    assert Client(site).get("/static/suggest.js").status_code == 200


@pytest.mark.settings(site={"forms_dir": FORMS})
def test_an_intake_forms_step_carries_the_words_and_its_key_becomes_the_drafts_id(site):
    ctx = site.ctx
    article(ctx, title="Parental leave", body="Apply in the HR system.", department="hr")
    kari = logged_in(site)
    catalogue = kari.get("/new/hr").text
    assert 'href="/new/hr/similar?form=hr-other-question"' in catalogue
    assert 'href="/forms/hr-new-employee"' in catalogue  # a name suggests nothing: no step
    assert 'href="/new/hr/similar"' in catalogue
    assert kari.get("/new/hr/similar", params={"form": "hr-new-employee"}).status_code == 404
    assert kari.get("/new/hr/similar", params={"form": "helpdesk-order-software"}).status_code == 404
    shown = kari.get("/new/hr/similar", params={"form": "hr-other-question", "q": "parental"})
    key = re.search(r'name="request" value="([A-Za-z0-9_-]{22})"', shown.text).group(1)
    link = re.search(r'<a href="(/faq/\d+\?[^"]+)">Parental leave</a>', shown.text).group(1).replace("&amp;", "&")
    assert query_of(link)["form"] == "hr-other-question"
    opened = kari.get(link)
    resume = re.search(r'<a href="([^"]+)">Continue with my request</a>', opened.text).group(1).replace("&amp;", "&")
    assert resume.startswith("/forms/hr-other-question?") and query_of(resume) == {"request": key,
                                                                                   "topic": "parental"}
    first = kari.get(resume)
    assert 'value="parental"' in first.text and 'data-suggest="topic"' in first.text
    assert f'name="request" value="{key}"' in first.text
    page = kari.post("/forms/hr-other-question", {"topic": "Parental leave", "question": "How long?",
                                                  "request": key, "direction": "next"}, form_page=resume)
    assert f"/forms/hr-other-question/{key}/summary" in page.url
    done = kari.post(f"/forms/hr-other-question/{key}/submit", form_page=f"/forms/hr-other-question/{key}/summary")
    assert "done=created" in done.url and FaqVisit.get().submitted


# --------------------------------------------------------------------------- the portal: agents

def test_customers_get_404_and_agents_edit_their_departments_and_all(site):
    ctx = site.ctx
    helpdesk = article(ctx, title="Helpdesk only", department="helpdesk")
    everyone = article(ctx, title="For everyone")
    kari = logged_in(site)
    token = kari.csrf("/faq")
    for path in ("/agent/faq", "/agent/faq/new", f"/agent/faq/{helpdesk.id}"):
        assert kari.get(path).status_code == 404, path
    for path in ("/agent/faq/new", f"/agent/faq/{helpdesk.id}", f"/agent/faq/{helpdesk.id}/delete"):
        assert kari.post(path, {"title": "x", "body": "y"}, token=token).status_code == 404, path
    assert Client(site).get("/agent/faq").url.startswith(site.url + "/login")
    hr = logged_in(site, "hr-agent@example.test")
    listing = hr.get("/agent/faq").text
    assert "For everyone" in listing and "Helpdesk only" not in listing
    assert hr.get(f"/agent/faq/{helpdesk.id}").status_code == 404
    assert hr.post(f"/agent/faq/{helpdesk.id}", {"title": "Mine", "body": "x"},
                   form_page=f"/agent/faq/{everyone.id}").status_code == 404
    assert hr.post(f"/agent/faq/{helpdesk.id}/delete", form_page=f"/agent/faq/{everyone.id}").status_code == 404
    refused = hr.post("/agent/faq/new", {"title": "Move it", "body": "x", "department": "helpdesk",
                                         "language": "en"})
    assert refused.status_code == 400 and "Choose a department you work in" in refused.text
    changed = hr.post(f"/agent/faq/{everyone.id}", {"title": "For all of you", "body": "Text.", "department": "",
                                                    "language": "nb", "published": "yes"})
    assert changed.url.endswith(f"/agent/faq/{everyone.id}?done=saved") and "saved and published" in changed.text
    assert Article.get_by_id(everyone.id).title == "For all of you"
    assert Article.get_by_id(helpdesk.id).title == "Helpdesk only"
    admin = make_admin(site)
    assert admin.get(f"/agent/faq/{helpdesk.id}").status_code == 200


def test_an_agent_writes_previews_publishes_and_deletes_an_article(site):
    agent = logged_in(site, "agent@example.test")
    wrong = agent.post("/agent/faq/new", {"title": "", "body": "", "department": "nope", "language": "en"})
    assert wrong.status_code == 400 and "There is a problem" in wrong.text
    assert 'id="title"' in wrong.text and 'aria-invalid="true"' in wrong.text
    for values, field in (({"title": "x", "body": ""}, "body"), ({"title": "x", "body": "y", "language": "de"},
                                                                  "language"),
                          ({"title": "x", "body": "y", "tags": ",".join(f"t{i}" for i in range(11))}, "tags")):
        answer = agent.post("/agent/faq/new", {"language": "en", **values}, form_page="/agent/faq/new")
        assert answer.status_code == 400 and f'id="{field}-error"' in answer.text, field
    preview = agent.post("/agent/faq/new", {"title": "VPN", "body": "Use **the client**.", "language": "en",
                                            "action": "preview"})
    assert preview.status_code == 200 and "<strong>the client</strong>" in preview.text
    assert 'value="VPN"' in preview.text and Article.select().count() == 0
    saved = agent.post("/agent/faq/new", {"title": "VPN", "body": "Use **the client**.", "department": "helpdesk",
                                          "tags": "VPN, remote", "language": "en"})
    a = Article.get()
    assert saved.url.endswith(f"/agent/faq/{a.id}?done=saved") and "saved as a draft" in saved.text
    assert (a.department, a.tags, a.published, a.author.email) == ("helpdesk", ["vpn", "remote"], False,
                                                                   "agent@example.test")
    assert Client(site).get(f"/faq/{a.id}").status_code == 404
    listing = agent.get("/agent/faq").text
    assert "VPN" in listing and "Draft" in listing
    assert "1 article matches" in agent.get("/agent/faq", params={"q": "client"}).text  # drafts are searched
    agent.post(f"/agent/faq/{a.id}", {"title": "VPN", "body": "Use the client.", "department": "helpdesk",
                                      "language": "en", "published": "yes"})
    assert Client(site).get(f"/faq/{a.id}").status_code == 200
    deleted = agent.post(f"/agent/faq/{a.id}/delete", form_page=f"/agent/faq/{a.id}")
    assert deleted.url.endswith("/agent/faq?done=deleted") and Article.select().count() == 0
    assert faqsearch.search_articles("client", published_only=False) == (0, [])


def test_publish_solution_as_faq_from_a_reply_on_a_case(site):
    ctx = site.ctx
    deliver(ctx, make_mail(subject="Printer offline", body="Call me on 912 34 567."))
    case = Case.get()
    agent = logged_in(site, "agent@example.test")
    agent.post(f"/agent/cases/{case.id}/reply", {"text": "Hi Kari,\n\nTurn the printer off and on; Kari Nordmann "
                                                          "(kari@example.org, 912 34 567) can then print.\n\n"
                                                          "Regards,\nAgent"}, form_page=f"/agent/cases/{case.id}")
    reply = Entry.get((Entry.case == case) & (Entry.kind == "reply"))
    message = Entry.get((Entry.case == case) & (Entry.kind == "message"))
    page = agent.get(f"/agent/cases/{case.id}").text
    assert f'href="/agent/faq/new?entry={reply.id}"' in page and f"entry={message.id}" not in page
    form = agent.get(f"/agent/faq/new?entry={reply.id}")
    assert form.status_code == 200 and f"Filled from a reply on SD-{case.id}" in form.text
    assert 'value="Printer offline"' in form.text
    body = re.search(r'<textarea id="body"[^>]*>([^<]*)</textarea>', form.text).group(1)
    assert body == "Turn the printer off and on; [name] ([email address], [phone number]) can then print."
    assert "names of the people on the case" in form.text
    saved = agent.post("/agent/faq/new", {"title": "Printer offline", "body": body, "department": "helpdesk",
                                          "language": "en", "published": "yes", "source_case": str(case.id)},
                       form_page=f"/agent/faq/new?entry={reply.id}")
    assert "done=saved" in saved.url
    a = Article.get()
    assert a.source_case_id == case.id and a.published and a.published_at is not None
    # Not from another department's case, nor from a customer's message.
    hr = logged_in(site, "hr-agent@example.test")
    assert hr.get(f"/agent/faq/new?entry={reply.id}").status_code == 404
    assert agent.get(f"/agent/faq/new?entry={message.id}").status_code == 404
    # A source case the agent may not see is not kept.
    hr.post("/agent/faq/new", {"title": "HR", "body": "x", "language": "nb", "department": "hr",
                               "source_case": str(case.id)})
    assert Article.get(Article.title == "HR").source_case_id is None


def test_the_agents_list_shows_deflection_per_department(site):
    ctx = site.ctx
    vpn = article(ctx, title="VPN from home", department="helpdesk")
    now = utcnow()
    with ctx.db.atomic():
        deflection.record_visit(vpn, "helpdesk", deflection.new_key(), now=now - 2 * HOUR)
        deflection.record_visit(vpn, "hr", deflection.new_key(), now=now - 2 * HOUR)
    agent = logged_in(site, "agent@example.test")
    page = agent.get("/agent/faq").text
    section = page[page.index('id="deflection-title"'):]
    assert re.search(r"<td>Helpdesk</td><td>1</td><td>0</td>\s*<td>1</td><td>100 %</td>", section)
    assert "<td>HR</td>" not in section  # not the agent's department
    assert re.search(rf'/agent/faq/{vpn.id}">VPN from home</a>.*?<td>2</td></tr>', page, re.DOTALL)

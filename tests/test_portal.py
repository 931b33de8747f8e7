"""The customer portal over HTTP, against the running daemon and portal (SPEC 5; MAIL_RULES 68-74).

Login by link and by password, sessions and CSRF, My requests and search, a
case's page, replies with attachments, marking as solved, and that nobody
sees what is not theirs. Browser tests (real Chromium) are in
``test_portal_browser.py``.
"""

from __future__ import annotations

import datetime
import re

import pytest
from conftest import deliver, wait_until
from mailfactory import make_mail
from portalkit import Client, logged_in

from maild import approvals, cases
from maild.store.models import Attachment, Case, Entry, LoginLink, Outbox, Person, PortalSession, RateEvent, utcnow
from portal import auth


def open_case_by_mail(site, sender="kari@example.org", subject="Printer on floor 3", body="It jams.",
                      **kwargs) -> Case:
    deliver(site.ctx, make_mail(sender=sender, subject=subject, body=body, **kwargs))
    return Case.select().order_by(Case.id.desc()).first()


# --------------------------------------------------------------------------- logging in

def test_someone_who_emailed_logs_in_by_link_and_finds_their_case(site):
    case = open_case_by_mail(site)
    kari = Client(site)
    assert kari.get("/requests").url.startswith(site.url + "/login")
    kari.log_in("kari@example.org")
    page = kari.get("/requests")
    assert "Printer on floor 3" in page.text and f"SD-{case.id}" in page.text
    assert "It jams." in kari.get(f"/requests/{case.id}").text


def test_a_link_is_used_only_by_the_post_and_only_once(site):
    kari = Client(site)
    link = kari.login_link("kari@example.org")
    path = link[len(site.url):]
    # A mail scanner opens the link twice: nothing is used up.
    for _ in range(2):
        assert "kari@example.org" in kari.get(path).text
    assert LoginLink.get().used_at is None
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', kari.last.text).group(1)
    assert kari.post(path, token=token).url.endswith("/requests")
    again = Client(site)
    assert again.get(path).status_code == 400
    assert again.post(path, form_page="/login").status_code == 400
    assert again.get("/requests").url.startswith(site.url + "/login")


def test_an_expired_or_replaced_link_fails(site):
    with site.ctx.db.atomic():
        old = auth.create_link("kari@example.org", now=utcnow() - datetime.timedelta(minutes=16))
    client = Client(site)
    assert client.get(f"/login/link/{old}").status_code == 400
    with site.ctx.db.atomic():
        first = auth.create_link("kari@example.org")
        second = auth.create_link("kari@example.org")  # a newer link ends the older one
    assert client.get(f"/login/link/{first}").status_code == 400
    assert client.get(f"/login/link/{second}").status_code == 200
    assert LoginLink.select().where(LoginLink.token_hash == second).count() == 0  # only hashes are kept


def test_the_answer_is_the_same_whether_or_not_the_address_may_log_in(site, monkeypatch):
    monkeypatch.setitem(site.ctx.config["portal"], "signup", "known")
    open_case_by_mail(site, sender="known@example.org")
    client = Client(site)
    known = client.post("/login/link", {"email": "known@example.org"}, form_page="/login")
    unknown = client.post("/login/link", {"email": "stranger@example.org"}, form_page="/login")
    strip = lambda text: re.sub(r'value="[0-9a-f]+"', "", text).replace("known@", "").replace("stranger@", "")
    assert known.status_code == unknown.status_code == 200
    assert strip(known.text) == strip(unknown.text)
    site.wait_for_mail("known@example.org", "login link")
    assert not site.mails_to("stranger@example.org")
    assert Outbox.select().where(Outbox.recipient == "stranger@example.org").count() == 0


def test_signup_by_domain(site, monkeypatch):
    monkeypatch.setitem(site.ctx.config["portal"], "signup", "domains")
    monkeypatch.setitem(site.ctx.config["portal"], "signup_domains", ["staff.example.org"])
    client = Client(site)
    client.log_in("new.person@staff.example.org")  # a first login creates the person
    assert Person.get(Person.email == "new.person@staff.example.org").role == "customer"
    client.post("/login/link", {"email": "someone@elsewhere.example"}, form_page="/login")
    assert LoginLink.select().where(LoginLink.email == "someone@elsewhere.example").count() == 0


def test_link_requests_are_rate_limited_per_address_and_per_network(site):
    client = Client(site)
    token = client.csrf("/login")
    for _ in range(6):
        answer = client.post("/login/link", {"email": "kari@example.org"}, token=token)
        assert answer.status_code == 200  # the sixth looks the same...
    assert LoginLink.select().where(LoginLink.email == "kari@example.org").count() == 5  # ...but sends nothing
    codes = [client.post("/login/link", {"email": f"p{i}@example.org"}, token=token).status_code
             for i in range(20)]
    assert codes.count(429) >= 5 and codes[:14] == [200] * 14, (codes, [(r.key, r.at) for r in RateEvent.select()])


def test_password_login_rotates_the_session_and_logout_ends_it(site):
    with site.ctx.db.atomic():
        Person.create(email="ola@example.org", password_hash=auth.hash_password("correct horse"))
    client = Client(site)
    client.get("/login")
    before = client.http.cookies.get("sd")
    wrong = client.post("/login", {"email": "ola@example.org", "password": "nope"}, form_page="/login")
    assert wrong.status_code == 400 and "Wrong email address or password" in wrong.text
    ok = client.post("/login", {"email": "ola@example.org", "password": "correct horse", "next": "/requests"},
                     form_page="/login")
    assert ok.url.endswith("/requests")
    after = client.http.cookies.get("sd")
    assert after and after != before  # rotated at login (MAIL_RULES 72)
    assert PortalSession.select().count() == 1
    client.post("/logout", form_page="/requests")
    assert PortalSession.select().count() == 0
    replay = Client(site)
    replay.http.cookies.set("sd", after)
    assert replay.get("/requests").url.startswith(site.url + "/login")


def test_login_next_goes_only_to_our_own_pages(site):
    with site.ctx.db.atomic():
        Person.create(email="ola@example.org", password_hash=auth.hash_password("correct horse"))
    client = Client(site)
    answer = client.post("/login", {"email": "ola@example.org", "password": "correct horse",
                                    "next": "//evil.example/steal"}, form_page="/login")
    assert answer.url == site.url + "/requests"


def test_cookie_flags(site):
    answer = Client(site).get("/login")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Path=/" in cookie


# --------------------------------------------------------------------------- forms need their token

def test_a_post_without_csrf_token_or_from_another_site_is_refused(site):
    case = open_case_by_mail(site)
    kari = Client(site)
    kari.log_in("kari@example.org")
    for path in ("/logout", f"/requests/{case.id}/reply", f"/requests/{case.id}/solve", "/login/link",
                 "/language", "/new/helpdesk/message"):
        assert kari.post(path, {"text": "x", "email": "kari@example.org"}, token="").status_code == 403, path
        assert kari.post(path, {"text": "x"}, token="0" * 64).status_code == 403, path
    token = kari.csrf("/requests")
    forged = kari.post(f"/requests/{case.id}/solve", token=token, headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    assert Case.get_by_id(case.id).status != "closed"


# --------------------------------------------------------------------------- nobody sees what is not theirs

def test_another_customers_cases_entries_and_files_are_404(site):
    mine = open_case_by_mail(site, sender="kari@example.org", subject="Mine",
                             attachments=[("a.txt", "text/plain", b"mine")])
    theirs = open_case_by_mail(site, sender="ola@example.org", subject="Theirs",
                               attachments=[("b.txt", "text/plain", b"theirs")])
    with site.ctx.db.atomic():
        note = cases.add_message(site.ctx, mine, author=Person.get(Person.email == "kari@example.org"),
                                 body_text="SECRET INTERNAL NOTE", public=False, kind="note",
                                 notify_agents=False, parts=[_part("note.txt", b"internal")])
    kari = Client(site)
    kari.log_in("kari@example.org")
    token = kari.csrf("/requests")
    their_file = Attachment.select().join(Entry).where(Entry.case == theirs).get()
    note_file = Attachment.get(Attachment.entry == note)
    for case_id in (theirs.id, theirs.id + 1, 0, 999999):
        assert kari.get(f"/requests/{case_id}").status_code == 404
        assert kari.post(f"/requests/{case_id}/reply", {"text": "hi"}, token=token).status_code == 404
        assert kari.post(f"/requests/{case_id}/solve", token=token).status_code == 404
        for attachment_id in (their_file.id, their_file.id - 1, their_file.id + 1):
            assert kari.get(f"/requests/{case_id}/files/{attachment_id}").status_code == 404
    # Her own case, but a file of another case or of an internal note: 404 too.
    for attachment_id in (their_file.id, note_file.id, note_file.id + 1):
        assert kari.get(f"/requests/{mine.id}/files/{attachment_id}").status_code == 404
    assert kari.get(f"/requests/{mine.id}/files/abc").status_code == 404
    assert kari.get(f"/inline/{their_file.id}/9999999999/0123456789abcdef").status_code == 404
    page = kari.get(f"/requests/{mine.id}").text
    assert "Mine" in page and "SECRET INTERNAL NOTE" not in page and "note.txt" not in page
    assert "Theirs" not in kari.get("/requests").text
    assert Case.get_by_id(theirs.id).status != "closed"


def _part(name, data, content_type="text/plain"):
    from maild.mail.message import Part

    return Part(filename=name, content_type=content_type, data=data)


# --------------------------------------------------------------------------- a case

def test_reply_with_attachments_reaches_the_agent_with_them(site):
    case = open_case_by_mail(site)
    kari = Client(site)
    kari.log_in("kari@example.org")
    answer = kari.post(f"/requests/{case.id}/reply", {"text": "Here are the logs."},
                       files=[("files", ("log.txt", b"line 1\n", "text/plain")),
                              ("files", ("Skjermbilde ø.png", b"\x89PNG\r\n\x1a\n", "image/png"))],
                       form_page=f"/requests/{case.id}")
    assert answer.status_code == 200 and "Your message has been sent" in answer.text
    mail = wait_until(lambda: [m for m in site.mails_to("agent@example.test")
                               if "Here are the logs." in m.get_body(("plain",)).get_content()])[-1]
    names = sorted(part.get_filename() for part in mail.iter_attachments())
    assert names == ["Skjermbilde ø.png", "log.txt"]
    page = kari.get(f"/requests/{case.id}").text
    assert "Here are the logs." in page and "log.txt" in page


def test_an_empty_reply_gets_the_form_back(site):
    case = open_case_by_mail(site)
    kari = Client(site)
    kari.log_in("kari@example.org")
    answer = kari.post(f"/requests/{case.id}/reply", {"text": "  "}, form_page=f"/requests/{case.id}")
    assert answer.status_code == 400
    assert "There is a problem" in answer.text and 'aria-invalid="true"' in answer.text
    assert Entry.select().where(Entry.case == case).count() == 1


def test_mark_as_solved_closes_the_case_and_tells_the_others(site):
    case = open_case_by_mail(site, cc="Ola <ola@example.org>")
    kari = Client(site)
    kari.log_in("kari@example.org")
    kari.post(f"/requests/{case.id}/solve", form_page=f"/requests/{case.id}")
    assert Case.get_by_id(case.id).status == "closed"
    assert f"SD-{case.id}" in kari.get("/requests?status=closed").text
    assert f"SD-{case.id}" not in kari.get("/requests?status=active").text
    def said(address, words):
        """The first mail to an address whose text says ``words``, waited for."""
        def found():
            texts = [" ".join(m.get_body(("plain",)).get_content().split()) for m in site.mails_to(address)]
            return next((t for t in texts if words in t), None)
        return wait_until(found)

    assert said("ola@example.org", f"Kari Nordmann marked case SD-{case.id} as solved")  # the others: who did it
    assert said("kari@example.org", f"You marked case SD-{case.id} as solved")  # the one who did: confirmed
    # The agents hear of it too (nobody is assigned: the notify list).
    assert said("agent@example.test", "was marked as solved by the customer kari@example.org")
    closed = sorted(o.recipient for o in Outbox.select().where(Outbox.kind == "closed"))
    assert closed == ["kari@example.org", "ola@example.org"]


def test_downloads_are_attachments_never_rendered(site):
    case = open_case_by_mail(site, attachments=[("evil.html", "text/html", b"<script>alert(1)</script>"),
                                                 ("r\u00e9sum\u00e9 \"q\".pdf", "application/pdf", b"%PDF-1.4")])
    kari = Client(site)
    kari.log_in("kari@example.org")
    html_file, pdf = list(Attachment.select().order_by(Attachment.id))
    answer = kari.get(f"/requests/{case.id}/files/{html_file.id}")
    assert answer.headers["Content-Type"].startswith("application/octet-stream")
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in answer.headers["Cache-Control"]
    answer = kari.get(f"/requests/{case.id}/files/{pdf.id}")
    assert answer.headers["Content-Type"] == "application/pdf"
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9" in answer.headers["Content-Disposition"]
    assert "\r" not in answer.headers["Content-Disposition"]


def test_html_mail_is_cleaned_into_a_sandboxed_frame(site):
    html = ('<p>Hello <b>there</b></p><script>alert(1)</script><img src="https://tracker.example/p.gif">'
            '<a href="javascript:alert(2)">x</a><img src="cid:logo@x">')
    case = open_case_by_mail(site, html=html, body="Hello there",
                             inline=[("logo.png", "image/png", b"\x89PNG\r\n\x1a\nxx", "logo@x")])
    kari = Client(site)
    kari.log_in("kari@example.org")
    page = kari.get(f"/requests/{case.id}").text
    frame = re.search(r'<iframe sandbox="" src="(/mail/\d+/\d+/[0-9a-f]+)"', page)
    assert frame, page
    # A sandboxed frame sends no cookie: the signed URL alone shows the mail.
    document = Client(site).get(frame.group(1))
    assert document.status_code == 200 and document.headers["Content-Type"].startswith("text/html")
    policy = document.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "style-src 'unsafe-inline'" in policy and "script-src" not in policy
    assert "frame-ancestors 'self'" in policy and document.headers["X-Frame-Options"] == "SAMEORIGIN"
    srcdoc = document.text
    assert "script" not in srcdoc.lower() and "javascript" not in srcdoc.lower()
    assert "tracker.example" not in srcdoc
    for broken in (frame.group(1)[:-1] + ("0" if frame.group(1)[-1] != "0" else "1"),
                   re.sub(r"/mail/\d+/", "/mail/999/", frame.group(1))):
        assert kari.get(broken).status_code == 404
    inline = re.search(r"/inline/\d+/\d+/[0-9a-f]+", srcdoc)
    assert inline
    image = Client(site).get(inline.group(0))  # a sandboxed frame sends no cookie
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    url = inline.group(0)
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert kari.get(tampered).status_code == 404


def test_security_headers_on_pages_and_errors(site):
    client = Client(site)
    for path in ("/", "/login", "/requests/1", "/nowhere"):
        answer = client.get(path)
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], path
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
    assert client.get("/nowhere").status_code == 404


# --------------------------------------------------------------------------- My requests

def test_my_requests_lists_newest_first_and_pages(site, monkeypatch):
    monkeypatch.setitem(site.ctx.config["portal"], "page_size", 2)
    for i in range(5):
        open_case_by_mail(site, subject=f"Question {i}", message_id=f"<q{i}@example.org>")
    kari = Client(site)
    kari.log_in("kari@example.org")
    first = kari.get("/requests").text
    assert first.index("Question 4") < first.index("Question 3") and "Question 2" not in first
    assert "Page 1 of 3" in first
    assert "Question 0" in kari.get("/requests?status=active&page=3").text


def test_search_finds_words_in_messages_of_my_cases_only(site):
    open_case_by_mail(site, subject="Laptop", body="The docking station blinks orange.")
    open_case_by_mail(site, sender="ola@example.org", subject="Other", body="orange screen here too")
    kari = Client(site)
    kari.log_in("kari@example.org")
    page = kari.get("/requests?q=orang").text
    assert "Laptop" in page and "Other" not in page
    assert "Nothing found" in kari.get("/requests?q=purple").text
    assert kari.get('/requests?q="NEAR(*^').status_code == 200


# --------------------------------------------------------------------------- new request

def test_new_request_validates_then_opens_a_case_with_an_acknowledgement(site):
    kari = Client(site)
    kari.log_in("kari@example.org")
    bad = kari.post("/new/hr/message", {"subject": "", "description": ""}, form_page="/new/hr")
    assert bad.status_code == 400 and bad.text.count("field-error") == 2
    good = kari.post("/new/hr/message", {"subject": "Ferie", "description": "Jeg vil ta ferie i juli."},
                     files=[("files", ("søknad.pdf", b"%PDF-1.4", "application/pdf"))], form_page="/new/hr/message")
    assert good.status_code == 200
    case = Case.get(Case.subject == "Ferie")
    assert case.department == "hr" and good.url.endswith(f"/requests/{case.id}?done=created")
    site.wait_for_mail("kari@example.org", "Ferie")
    site.wait_for_mail("hr-agent@example.test", "Ferie")
    assert Attachment.get().filename == "søknad.pdf"
    assert kari.get("/new/nowhere").status_code == 404


def test_every_request_made_in_the_portal_is_acknowledged_whatever_the_mail_cap(site):
    """An HR officer registering six people once hit the 5-an-hour cap meant for mail loops,
    and the page still said a confirmation was sent."""
    kari = logged_in(site)
    for n in range(6):
        page = kari.post("/new/hr/message", {"subject": f"Ny ansatt {n}", "description": "Starter mandag."},
                         form_page="/new/hr/message")
        assert page.status_code == 200 and "We have sent you a confirmation by email." in page.text
    acks = Outbox.select().where((Outbox.kind == "ack") & (Outbox.recipient == "kari@example.org"))
    assert acks.count() == 6
    # Mail-borne requests still meet the cap (MAIL_RULES 32): six are already this hour.
    before = Outbox.select().where(Outbox.kind == "ack").count()
    open_case_by_mail(site, subject="Printer igjen")
    assert Outbox.select().where(Outbox.kind == "ack").count() == before


def test_the_page_claims_no_confirmation_that_was_not_queued(site):
    # An address we never write to (a no-reply one) can still have a password login.
    with site.ctx.db.atomic():
        Person.create(email="noreply@example.org", password_hash=auth.hash_password("correct horse"))
    client = Client(site)
    client.post("/login", {"email": "noreply@example.org", "password": "correct horse"}, form_page="/login")
    page = client.post("/new/hr/message", {"subject": "Ferie", "description": "Juli."}, form_page="/new/hr/message")
    assert page.status_code == 200 and "Your request has been received." in page.text
    assert "confirmation" not in page.text
    assert not Outbox.select().where(Outbox.kind == "ack").exists()


def test_a_subject_with_line_breaks_cannot_forge_the_top_of_the_agents_mail(site):
    """A crafted POST's subject lines once landed above the template's "New case … / From: …" block."""
    kari = logged_in(site)
    forged = "Printer\r\nNew case SD-999 in Payroll\u2028From: CEO <ceo@example.test>\x85Approved"
    answer = kari.post("/new/helpdesk/message", {"subject": forged, "description": "It jams."},
                       form_page="/new/helpdesk/message")
    assert answer.status_code == 200
    case = Case.get()
    entry = Entry.get(Entry.case == case)
    one_line = "Printer New case SD-999 in Payroll From: CEO <ceo@example.test> Approved"
    assert case.subject == entry.subject == one_line
    mail = site.wait_for_mail("agent@example.test", "Printer")
    assert "\n" not in str(mail["Subject"]) and one_line in str(mail["Subject"])
    body = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert body.startswith(f"New case SD-{case.id} in Helpdesk\nFrom: "), body[:300]
    assert "From: CEO" not in body


# --------------------------------------------------------------------------- languages

def test_language_from_the_browser_then_the_persons_choice(site):
    client = Client(site)
    assert "Logg inn" in client.get("/login", headers={"Accept-Language": "nb-NO,nb;q=0.9,en;q=0.5"}).text
    assert "Log in" in client.get("/login", headers={"Accept-Language": "en-GB"}).text
    client.log_in("kari@example.org")
    client.post("/language", {"lang": "nb", "next": "/requests"}, form_page="/requests")
    assert Person.get(Person.email == "kari@example.org").language == "nb"
    assert "Mine henvendelser" in client.get("/requests", headers={"Accept-Language": "en"}).text


# --------------------------------------------------------------------------- theme, and the commands that serve it

def test_the_theme_comes_from_configuration(site, monkeypatch):
    theme = site.ctx.config["portal.theme"]
    for key, value in {"colour_primary": "#aa3300", "site_name": "IT-hjelp", "intro": "We answer within a day.",
                       "logo_url": "/static/logo.png"}.items():
        monkeypatch.setitem(theme, key, value)
    client = Client(site)
    css = client.get("/theme.css")
    assert css.headers["Content-Type"].startswith("text/css") and "--primary: #aa3300" in css.text
    home = client.get("/", headers={"Accept-Language": "en"}).text
    assert "IT-hjelp" in home and "We answer within a day." in home and 'src="/static/logo.png"' in home
    assert client.get("/static/portal.css").status_code == 200
    assert client.get("/static/../auth.py").status_code in (403, 404)


def test_a_forged_forwarded_for_does_not_escape_the_rate_limit(site):
    client = Client(site)
    token = client.csrf("/login")
    codes = [client.post("/login/link", {"email": f"q{i}@example.org"}, token=token,
                         headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(22)]
    assert 429 in codes  # every request still counts against the one real peer


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_site_has_an_icon(site):
    answer = Client(site).get("/favicon.ico")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/x-icon"
    assert answer.content[:4] == b"\x00\x00\x01\x00" and "Set-Cookie" not in answer.headers
    assert '<link rel="icon" href="/favicon.ico">' in Client(site).get("/").text


@pytest.mark.settings(portal={"theme": {"logo_url": "https://cdn.example.org/logo.png"}})
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_logo_on_another_host_is_allowed_by_the_pages_policy(site):
    answer = Client(site).get("/")
    assert "img-src 'self' data: https://cdn.example.org;" in answer.headers["Content-Security-Policy"]
    assert '<img src="https://cdn.example.org/logo.png"' in answer.text


def test_the_customers_history_shows_what_happened_to_the_case_as_quiet_lines(site):
    deliver(site.ctx, make_mail(sender="kari@example.org", subject="Printer on floor 3", body="It jams."))
    case = Case.get()
    agent = Person.get(Person.email == "agent@example.test")
    with site.ctx.db.atomic():
        cases.set_status(site.ctx, Case.get_by_id(case.id), "pending", by=agent)
        approvals.ask(site.ctx, Case.get_by_id(case.id), "boss@example.org", requested_by=agent.email)
    with site.ctx.db.atomic():
        approval = approvals.of_case(case)[0]
        approvals.decide(site.ctx, approval, "approve", via="link")
        cases.move(site.ctx, Case.get_by_id(case.id), site.ctx.config.department("hr"), by=agent)
        cases.assign(site.ctx, Case.get_by_id(case.id), agent, by=agent)  # internal: not shown
        cases.close(site.ctx, Case.get_by_id(case.id), by=agent)
    kari = logged_in(site)
    page = kari.get(f"/requests/{case.id}").text
    lines = re.findall(r'<li class="event">(.*?) · <time', page)
    assert lines == ["Waiting for an answer from you", "Approval asked of boss@example.org",
                     "Approved by boss@example.org", "Moved to HR", "Closed"]
    assert "agent@example.test" not in page
    kari.post("/language", {"lang": "nb", "next": f"/requests/{case.id}"}, form_page="/requests")
    page = kari.get(f"/requests/{case.id}").text
    assert re.findall(r'<li class="event">(.*?) · <time', page) == [
        "Venter på svar fra deg", "Bedt om godkjenning fra boss@example.org", "Godkjent av boss@example.org",
        "Flyttet til HR", "Lukket"]

"""Intake forms in the portal: a department's catalogue, pages kept on the server, a summary, submit.

Answers live in a ``FormDraft`` between pages, so back and forward lose
nothing and no JavaScript is needed; a page is shown only when every visible
page before it was answered (a page skipped by URL sends the person back).
Every rule is evaluated here on the server by ``maild.forms``: a field hidden
by a rule is ignored even when a tampered page submits it. A field that a
rule on the same page may show is sent hidden, and ``static/form_rules.js``
shows it as the page is filled in; without the script the page comes back
with the fields its answers showed (the hidden ``shown`` input says what was
on screen) instead of going on past them. Files accepted on a refused page
are kept in the draft and listed with a box to remove them. Submitting opens
the case through ``cases.open_case``, as mail does, with the answers kept as
JSON on the first entry and as readable text in it and in the mails.
"""

from __future__ import annotations

import datetime
import hashlib
import mimetypes

import bottle

from maild import approvals, cases, deflection, forms, people
from maild.language import learn_in_portal
from maild.mail.message import Part
from maild.store.models import Blob, Case, FormDraft, utcnow
from portal import auth
from portal.render import download_filename
from portal.web import current, redirect, require_login

MAX_FILES_PER_FIELD = 10
# Form parts that are not answers: the token, which way the person goes, and
# the first page's attempt key (FAQ suggestions, maild.deflection).
_CONTROL = forms.RESERVED_IDS


def script_rules(form, page, answers, states) -> dict | None:
    """What ``static/form_rules.js`` needs to show a page's fields as it is filled in; None without rules.

    ``states`` are the page's fields as ``forms.page_fields`` lists them. The
    conditions are ``maild.forms.Condition`` as data, with the answers of
    earlier pages they may read; the server decides again on every page sent.
    """
    fields = [f for f, _shown, _required in states]
    if not any(f.show_when or f.required_when for f in fields):
        return None

    def condition(c):
        if c is None:
            return None
        value = list(c.value) if isinstance(c.value, tuple) else c.value
        return {"op": c.op, "field": c.field, "value": value, "terms": [condition(t) for t in c.terms]}

    return {"earlier": forms.earlier_answers(form, page, answers),
            "fields": [{"id": f.id, "type": f.type, "show": condition(f.show_when), "require": condition(f.required_when)}
                       for f in fields]}


def install(app, web) -> None:
    """Add the catalogue, page, summary and submit routes."""
    ctx = web.ctx

    def site_today() -> datetime.date:
        # "today" in a form's date bounds is the asker's day (their zone, else
        # [site] timezone), not the server's (UTC).
        return datetime.datetime.now(current().zone).date()

    def form_or_404(form_id: str) -> forms.Form:
        form = web.forms.get(form_id)
        if form is None or ctx.config.department(form.department) is None:
            bottle.abort(404)
        return form

    def draft_or_404(form: forms.Form, draft_id: str, person) -> FormDraft:
        draft = FormDraft.get_or_none((FormDraft.id == draft_id) & (FormDraft.person == person)
                                      & (FormDraft.form_id == form.id))
        if draft is None:
            bottle.abort(404)
        return draft

    def already_sent(form, draft):
        """The page a sent draft's URLs show: where the request went, never a second case."""
        case = Case.get_or_none(Case.id == draft.sent_case)
        return web.render("form_sent.html", form=form, case=case)

    def page_or_404(form, page_id: str):
        for page in form.pages:
            if page.id == page_id:
                return page
        bottle.abort(404)

    def first_unanswered(form, draft, before=None):
        """The first visible page (before ``before``) not yet answered, or None."""
        for page in forms.visible_pages(form, draft.answers):
            if before is not None and page.id == before.id:
                return None
            if page.id not in draft.done:
                return page
        return None

    def neighbour(form, answers, page, step: int):
        pages = forms.visible_pages(form, answers)
        ids = [p.id for p in pages]
        if page.id not in ids:
            return pages[0] if step < 0 else None
        index = ids.index(page.id) + step
        return pages[index] if 0 <= index < len(pages) else None

    def show_page(form, page, draft, status=200, errors=None, raw=None, notice="", answers=None, revealed=()):
        """A form page; ``answers`` (the draft's by default) decide which fields show."""
        answers = dict(answers if answers is not None else (draft.answers if draft else {}))
        pages = forms.visible_pages(form, answers)
        number = next((i for i, p in enumerate(pages, 1) if p.id == page.id), 1)
        action = f"/forms/{form.id}/{draft.id}/{page.id}" if draft else f"/forms/{form.id}"
        # The attempt's key for FAQ suggestions: the draft's id once there is a draft.
        key = draft.id if draft else deflection.key_or_new(bottle.request.params.get("request"))
        # Every field is on the page, those hidden by a rule with ``hidden``:
        # the script shows them as soon as an answer above calls for them.
        states = forms.page_fields(form, page, answers)
        return web.render("form_page.html", status=status, form=form, page=page, number=number,
                          count=len(pages), states=states, answers=answers, raw=raw or {},
                          errors=errors or {}, action=action, notice=notice, revealed=revealed,
                          shown=" ".join(f.id for f, visible, _ in states if visible),
                          rules=script_rules(form, page, answers, states), files=(draft.files if draft else {}),
                          first=number == 1, request_key=key)

    @app.get("/forms/<form_id>")
    def start(form_id):
        require_login()
        form = form_or_404(form_id)
        # Words carried in from the similar-questions step (portal.views.faq) fill the suggesting field.
        carried = bottle.request.query.getunicode(form.faq_field, "").strip() if form.faq_field else ""
        return show_page(form, forms.visible_pages(form, {})[0], None,
                         raw={form.faq_field: [carried]} if carried else None)

    @app.post("/forms/<form_id>")
    def start_and_save(form_id):
        person = require_login()
        form = form_or_404(form_id)
        now = utcnow()
        # The key the first page carried becomes the draft's id (maild.deflection).
        draft = FormDraft(id=deflection.draft_id(bottle.request.forms.get("request")), person=person,
                          form_id=form.id, answers={}, files={}, done=[], created_at=now, updated_at=now)
        page = forms.visible_pages(form, {})[0]
        return save_page(form, page, draft, new=True)

    @app.get("/forms/<form_id>/<draft_id>/<page_id>")
    def page_view(form_id, draft_id, page_id):
        person = require_login()
        form = form_or_404(form_id)
        draft = draft_or_404(form, draft_id, person)
        if draft.sent_case is not None:
            return already_sent(form, draft)
        if page_id == "summary":
            return summary(form, draft)
        page = page_or_404(form, page_id)
        missing = first_unanswered(form, draft, before=page)
        if missing is not None:
            redirect(f"/forms/{form.id}/{draft.id}/{missing.id}", 303)
        if page not in forms.visible_pages(form, draft.answers):
            bottle.abort(404)
        return show_page(form, page, draft)

    @app.post("/forms/<form_id>/<draft_id>/<page_id>")
    def page_post(form_id, draft_id, page_id):
        person = require_login()
        form = form_or_404(form_id)
        draft = draft_or_404(form, draft_id, person)
        if draft.sent_case is not None:
            return already_sent(form, draft)
        if page_id == "submit":
            return submit(form, draft, person)
        page = page_or_404(form, page_id)
        missing = first_unanswered(form, draft, before=page)
        if missing is not None or page not in forms.visible_pages(form, draft.answers):
            missing = missing or first_unanswered(form, draft) or forms.visible_pages(form, draft.answers)[0]
            return show_page(form, missing, draft, status=400,
                             notice=web.gettext("Please answer this page first."))
        return save_page(form, page, draft)

    def save_page(form, page, draft, new=False):
        language = current().language
        request = bottle.request
        try:
            submitted = request.forms.decode()  # Bottle keeps WSGI's latin-1 strings until asked
        except UnicodeError:
            bottle.abort(400, "form values are not UTF-8")
        data = {name: submitted.getall(name) for name in submitted.keys() if name not in _CONTROL}
        going_back = request.forms.get("direction") == "back"
        known = {f.id for f in page.fields}
        if set(data) - known:
            # Names no field of this page has: the page was tampered with.
            return show_page(form, page, None if new else draft, status=400, raw=data,
                             notice=web.gettext("The form was changed in a way we cannot accept. "
                                                "Please check your answers."))
        answers, errors = forms.parse_page(form, page, data, language, draft.answers, today=site_today())
        removed = set(submitted.getall("remove_file"))
        stored_files = {k: [e for e in v if f"{k}/{e['sha256']}" not in removed]
                        for k, v in draft.files.items()}
        uploads, file_errors = read_files(page, {**draft.answers, **answers}, language)
        errors.update(file_errors)
        for field in page.fields:
            if uploads.get(field.id):
                kept = stored_files.get(field.id, []) if field.multiple else []
                fresh = [e for e in uploads[field.id] if e["sha256"] not in {k["sha256"] for k in kept}]
                if len(kept) + len(fresh) > MAX_FILES_PER_FIELD:
                    errors[field.id] = web.gettext("Too many files.")
                    fresh = fresh[:MAX_FILES_PER_FIELD - len(kept)]
                stored_files[field.id] = kept + [{k: v for k, v in e.items() if k != "data"} for e in fresh]
        merged = {k: v for k, v in draft.answers.items() if k not in known}
        merged.update({k: v for k, v in answers.items() if k not in errors})
        for field_id, entries in stored_files.items():
            if field_id in known and entries:
                merged[field_id] = [e["name"] for e in entries]
        # Without the script, fields a rule shows for this page's own answers
        # were hidden when it was sent ("shown" lists what was on screen): the
        # page comes back with them instead of going on past them.
        revealed = []
        if "shown" in submitted:
            on_screen = set(submitted.get("shown", "").split())
            revealed = [f.id for f, visible, _ in forms.page_fields(form, page, merged)
                        if visible and f.id not in on_screen]
        errors = {k: v for k, v in errors.items() if k not in revealed}
        refused = bool(errors or revealed) and not going_back
        draft.answers = forms.clean(form, merged)
        draft.files = {k: v for k, v in stored_files.items() if v and k in draft.answers}
        draft.done = [p for p in draft.done if p != page.id] + ([] if errors or revealed else [page.id])
        draft.updated_at = utcnow()
        notice = web.gettext("Your answers brought up more questions on this page. "
                             "Please look at them before you go on.") if revealed and not errors else ""
        if refused and new and not draft.files:
            # Nothing to keep yet: no draft is made for a first page sent back.
            return show_page(form, page, None, status=400 if errors else 200, errors=errors, raw=data,
                             answers=merged, notice=notice, revealed=revealed)
        with ctx.db.atomic():
            # Files accepted are kept even when the page is refused, so that
            # the person need not choose them again.
            for entries in uploads.values():
                for e in entries or ():
                    Blob.insert(sha256=e["sha256"], size=e["size"], data=e["data"]).on_conflict_ignore().execute()
            draft.save(force_insert=new)
        if refused:
            return show_page(form, page, draft, status=400 if errors else 200, errors=errors, raw=data,
                             answers=merged, notice=notice, revealed=revealed)
        target = neighbour(form, draft.answers, page, -1 if going_back else 1)
        if going_back and target is None:
            target = page
        where = target.id if target is not None else "summary"
        redirect(f"/forms/{form.id}/{draft.id}/{where}", 303)

    def read_files(page, answers, language):
        """Uploads of the page's visible file fields: field id -> entries with their bytes (None: none sent).

        A field with a file refused has an error and no entries; the other
        fields' files are accepted.
        """
        found, errors = {}, {}
        for field in forms.visible_fields(page, answers):
            if field.type != "file":
                continue
            uploads = [u for u in bottle.request.files.getall(field.id) if (u.raw_filename or "").strip()]
            if not uploads:
                found[field.id] = None
                continue
            if len(uploads) > (MAX_FILES_PER_FIELD if field.multiple else 1):
                errors[field.id] = web.gettext("Too many files.")
                continue
            entries = []
            for upload in uploads:
                limit = min(field.max_bytes or ctx.config["mail"]["max_attachment_bytes"],
                            ctx.config["mail"]["max_attachment_bytes"])
                data = upload.file.read(limit + 1)
                name = download_filename(upload.raw_filename)
                problem = forms.check_file(field, name, len(data), language) if len(data) <= limit else \
                    web.gettext("The file is larger than the limit.")
                if problem:
                    errors[field.id] = problem
                    break
                entries.append({"name": name, "type": mimetypes.guess_type(name)[0] or "application/octet-stream",
                                "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "data": data})
            if field.id not in errors:
                found[field.id] = entries
        return found, errors

    def summary(form, draft, status=200, errors=None):
        missing = first_unanswered(form, draft)
        if missing is not None:
            redirect(f"/forms/{form.id}/{draft.id}/{missing.id}", 303)
        language = current().language
        sections = []
        for page in forms.visible_pages(form, draft.answers):
            rows = [(forms.localised(f.label, language),
                     forms.display(f, draft.answers[f.id], language) if f.id in draft.answers else "")
                    for f in forms.visible_fields(page, draft.answers) if f.type != "help"]
            sections.append((page, rows))
        return web.render("form_summary.html", status=status, form=form, draft=draft, sections=sections,
                          errors=errors or {})

    def submit(form, draft, person):
        language = current().language
        missing = first_unanswered(form, draft)
        if missing is not None:
            return show_page(form, missing, draft, status=400,
                             notice=web.gettext("Please answer this page first."))
        answers = forms.clean(form, draft.answers)
        errors = forms.validate(form, answers, language, today=site_today())
        if errors:
            return summary(form, draft, status=400, errors=errors)
        routing = forms.route(form, answers)
        for approver in routing.approvers:
            problem = approvals.approver_problem(ctx, approver, person.email)
            if problem == "requester":
                return summary(form, draft, status=400, errors={"form": web.gettext(
                    "You cannot approve your own request: give the address of someone else.")})
            if problem:
                return summary(form, draft, status=400, errors={"form": web.gettext(
                    "%(address)s cannot approve requests: give the address of a person.") % {"address": approver}})
        dept = ctx.config.department(routing.department) or ctx.config.department(form.department)
        parts = [Part(filename=e["name"], content_type=e["type"],
                      data=bytes(Blob.get(Blob.sha256 == e["sha256"]).data))
                 for entries in draft.files.values() for e in entries]
        now = utcnow()
        with ctx.db.atomic():
            if auth.over_limit("request", str(person.id), now):
                return summary(form, draft, status=429, errors={
                    "form": web.gettext("You have sent many requests in a short time. Try again later.")})
            # Before the acknowledgement is written: in the language they wrote.
            learn_in_portal(ctx.config, person, "", forms.answers_text(form, answers, language), language)
            copied = [people.find_or_create(a) for a in routing.participants if a != person.email]
            # With approvers, the case waits: the assignee the routing names
            # gets it once every approval is in (approvals._carry_on).
            waits = bool(routing.approvers)
            assignee = people.find(routing.assignee) if routing.assignee and not waits else None
            stored = {"form": form.id, "answers": answers}
            if waits and routing.assignee:
                stored["after_approval"] = {"assignee": routing.assignee}
            case, _ = cases.open_case(
                ctx, department=dept, requester=person, subject=forms.subject(form, answers, language),
                body_text=forms.answers_text(form, answers, language), parts=parts, now=now,
                answers=stored, priority=routing.priority, request_type=routing.request_type,
                tags=routing.tags, assignee=assignee, copied=copied, awaiting_approval=waits,
                by_mail=False)
            for approver in routing.approvers:
                approvals.ask(ctx, case, approver, source="form", now=now)
            deflection.mark_submitted(draft.id)
            draft.sent_case, draft.answers, draft.files, draft.updated_at = case.id, {}, {}, now
            draft.save()
        ctx.outbox_wakeup.set()
        redirect(f"/requests/{case.id}?done=created", 303)

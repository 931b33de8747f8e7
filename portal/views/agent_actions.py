"""What an agent does to a case from its page: reply, note, close, reopen, status, assign, move, copy.

Each form posts to its own route and calls one domain operation of
``maild.cases`` inside one transaction, so a change and the mail it causes
commit together, exactly as when the agent does the same by email (SPEC 4).
A form with a mistake comes back with what was typed and its fields marked;
otherwise the agent is sent back to the case (POST, redirect, GET). The case
must be in one of the agent's departments (``agent.agent_case``: else 404).
Agents are not rate limited: they are staff, and every action is recorded.
"""

from __future__ import annotations

import bottle

from maild import cases, forwarding, merge, people
from maild.store.models import Case, Category, Person
from portal import uploads
from portal.views.account import ADDRESS
from portal.views.agent import agent_case, case_page, department_agents
from portal.web import is_admin, parse_id, redirect

TEXT_MAX = 20000
MAX_TAGS = 20


def install(app, web) -> None:
    """Add the routes of the case page's forms."""
    ctx = web.ctx

    def done(case, what: str, anchor: str = ""):
        ctx.outbox_wakeup.set()
        redirect(f"/agent/cases/{case.id}?done={what}{anchor}", 303)

    def written(form: str) -> tuple[str, list, dict]:
        """The text and files of the reply or note form, and what is wrong with them."""
        text = bottle.request.forms.getunicode("text", "").strip()
        errors = {}
        parts, problem = uploads.read(ctx.config, bottle.request.files.getall("files"))
        if problem:
            errors[f"{form}-files"] = uploads.describe(problem, web.gettext)
        if not text and not parts and not problem:
            errors[f"{form}-text"] = web.gettext("Write a message or attach a file.")
        elif len(text) > TEXT_MAX:
            errors[f"{form}-text"] = web.gettext("The message is too long.")
        return text, parts, errors

    @app.post("/agent/cases/<case_id>/reply")
    def reply(case_id):
        person, case = agent_case(web, case_id)
        text, parts, errors = written("reply")
        if errors:
            return case_page(web, person, case, status=400, errors={"reply": errors}, values={"reply-text": text})
        with ctx.db.atomic():
            cases.agent_reply(ctx, case, person, text, parts=parts)
        done(case, "replied", "#history-end")

    @app.post("/agent/cases/<case_id>/note")
    def note(case_id):
        person, case = agent_case(web, case_id)
        text, parts, errors = written("note")
        if errors:
            return case_page(web, person, case, status=400, errors={"note": errors}, values={"note-text": text})
        with ctx.db.atomic():
            cases.add_note(ctx, case, person, text, parts=parts)
        done(case, "noted", "#history-end")

    @app.post("/agent/cases/<case_id>/close")
    def close(case_id):
        person, case = agent_case(web, case_id)
        # A second click (or a stale page) changes nothing and mails nobody again.
        if case.status != "closed":
            with ctx.db.atomic():
                cases.close(ctx, case, by=person)
        done(case, "closed")

    @app.post("/agent/cases/<case_id>/reopen")
    def reopen(case_id):
        person, case = agent_case(web, case_id)
        if case.status == "closed":
            with ctx.db.atomic():
                cases.reopen(ctx, case, by=person, how="agent_portal")
        done(case, "reopened")

    @app.post("/agent/cases/<case_id>/status")
    def set_status(case_id):
        person, case = agent_case(web, case_id)
        status = bottle.request.forms.get("status", "")
        if status not in ("open", "pending"):
            return case_page(web, person, case, status=400, errors={"manage": {
                "status-form": web.gettext("Choose open or pending.")}})
        if status != case.status:
            with ctx.db.atomic():
                cases.set_status(ctx, case, status, by=person)
        done(case, status)

    @app.post("/agent/cases/<case_id>/assign")
    def assign(case_id):
        person, case = agent_case(web, case_id)
        chosen = bottle.request.forms.getunicode("to", "").strip().lower()
        allowed = {address for address, _ in department_agents(ctx.config, ctx.config.department(case.department))}
        if case.assignee_id:
            # Keeping the present assignee is always possible, even one from before a move.
            current_assignee = Person.get_or_none(Person.id == case.assignee_id)
            if current_assignee is not None:
                allowed.add(current_assignee.email)
        if chosen not in allowed | {"", "me"}:
            return case_page(web, person, case, status=400, errors={"manage": {
                "assign-to": web.gettext("Choose one of the department's agents.")}})
        with ctx.db.atomic():
            agent = None
            if chosen == "me":
                agent = person
            elif chosen:
                agent = people.find_or_create(chosen)
            if (agent.id if agent else None) != case.assignee_id:
                cases.assign(ctx, case, agent, by=person)
        done(case, "assigned")

    @app.post("/agent/cases/<case_id>/move")
    def move(case_id):
        person, case = agent_case(web, case_id)
        target = ctx.config.department(bottle.request.forms.get("department", ""))
        if target is None or target.slug == case.department:
            return case_page(web, person, case, status=400, errors={"manage": {
                "move-to": web.gettext("Choose another department.")}})
        with ctx.db.atomic():
            cases.move(ctx, case, target, by=person)
        if not is_admin(person) and target.slug not in web.agent_departments():
            # The case has left the agent's departments: its page would now be 404.
            ctx.outbox_wakeup.set()
            redirect("/agent?done=moved", 303)
        done(case, "moved")

    @app.post("/agent/cases/<case_id>/merge")
    def merge_into(case_id):
        person, case = agent_case(web, case_id)
        typed = bottle.request.forms.getunicode("target", "").strip()
        number = typed.upper().removeprefix(ctx.config["site"]["token_prefix"].upper() + "-").removeprefix("#")
        target = Case.get_or_none(Case.id == parse_id(number)) if parse_id(number) else None
        if target is not None and not (is_admin(person) or target.department in web.agent_departments()):
            target = None  # another department's case: as if there were none (404, never 403)
        problem = None
        try:
            if target is None:
                raise merge.MergeError("missing")
            with ctx.db.atomic():
                merge.merge(ctx, case, target, by=person)
        except merge.MergeError as error:
            problem = error.problem
        if problem:
            messages = {"same": web.gettext("A case cannot be merged into itself."),
                        "missing": web.gettext("Enter the number of a case of your departments."),
                        "merged": web.gettext("That case was merged into another one; merge into that one.")}
            return case_page(web, person, case, status=400, errors={"manage": {"merge-into": messages[problem]}},
                             values={"merge-into": typed})
        ctx.outbox_wakeup.set()
        redirect(f"/agent/cases/{target.id}?done=merged", 303)

    @app.post("/agent/cases/<case_id>/details")
    def details(case_id):
        person, case = agent_case(web, case_id)
        data = bottle.request.forms
        priority = data.get("priority", "")
        request_type = data.get("request_type", "")
        words = data.getunicode("tags", "").replace(",", " ").lower().split()
        errors = {}
        if priority not in cases.PRIORITIES:
            errors["details-priority"] = web.gettext("Choose one of the priorities.")
        if request_type and request_type not in cases.REQUEST_TYPES:
            errors["details-type"] = web.gettext("Choose one of the request types.")
        bad = [w for w in words if not cases.TAG.match(w)]
        if bad or len(words) > MAX_TAGS:
            errors["details-tags"] = web.gettext(
                "Tags are lowercase letters, digits, - and _, at most %(count)d of them.") % {"count": MAX_TAGS}
        # The field is there only when the department has categories; without it the category stays.
        chosen = data.get("category")
        category = None if chosen is None else False
        if chosen:
            category = Category.get_or_none((Category.id == (parse_id(chosen) or 0))
                                            & (Category.department == case.department))
            if category is None:
                errors["details-category"] = web.gettext("Choose one of the department's categories.")
        if errors:
            return case_page(web, person, case, status=400, errors={"manage": errors}, values={
                "details-priority": priority, "details-type": request_type,
                "details-tags": data.getunicode("tags", ""), "details-category": chosen or ""})
        with ctx.db.atomic():
            cases.set_details(ctx, case, priority=priority, request_type=request_type, tags=words,
                              category=category, by=person)
        done(case, "details")

    @app.post("/agent/cases/<case_id>/forward")
    def forward(case_id):
        person, case = agent_case(web, case_id)
        forms = bottle.request.forms
        chosen = [parse_id(v) for v in forms.getall("file")]
        values = {"forward-email": forms.getunicode("email", ""), "forward-name": forms.getunicode("name", ""),
                  "forward-text": forms.getunicode("text", ""), "forward-files": [str(i) for i in chosen if i]}
        try:
            with ctx.db.atomic():
                forwarding.forward(ctx, case, values["forward-email"], agent=person, note=values["forward-text"],
                                   name=values["forward-name"],
                                   attachments=forwarding.files(case, [i for i in chosen if i]))
        except forwarding.ForwardError as error:
            messages = {"address": web.gettext("Enter an email address, like name@example.org."),
                        "own": web.gettext("This is a department's own address."),
                        "long": web.gettext("The text is too long.")}
            field = "forward-text" if error.problem == "long" else "forward-email"
            return case_page(web, person, case, status=400, errors={"manage": {field: messages[error.problem]}},
                             values=values)
        done(case, "forwarded")

    @app.post("/agent/cases/<case_id>/participants")
    def add_participant(case_id):
        person, case = agent_case(web, case_id)
        address = bottle.request.forms.getunicode("email", "").strip().lower()
        problem = ""
        if not ADDRESS.match(address) or len(address) > 250:
            problem = web.gettext("Enter an email address, like name@example.org.")
        elif ctx.config.department_for_address(address) is not None:
            # Our own address on the copy list would mail the department to itself, in a loop.
            problem = web.gettext("This is a department's own address.")
        else:
            known = people.find(address)
            if known is not None and people.is_participant(case, known):
                problem = web.gettext("This person already takes part in the case.")
        if problem:
            return case_page(web, person, case, status=400, errors={"manage": {"cc-email": problem}},
                             values={"cc-email": address})
        with ctx.db.atomic():
            cases.add_cc(ctx, case, people.find_or_create(address), by=person)
        done(case, "participant")

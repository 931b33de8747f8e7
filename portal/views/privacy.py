"""Personvern for admins: who looked at a case or what an agent looked at, a person's data, erasing a person.

The same functions as ``sensedesk access list``, ``person export`` and
``person forget`` (``maild/access.py``, ``maild/personexport.py``,
``maild/erasure.py``). Erasing asks twice: the first answer is a dry run
that shows what would go, the second does it. Only admins see these pages;
for anyone else they are 404.
"""

from __future__ import annotations

import tempfile

import bottle

from maild import access, erasure, personexport
from maild.store.models import Person, utcnow
from portal import downloads
from portal.views.account import ADDRESS
from portal.views.agent_admin import require_admin
from portal.web import parse_id


def install(app, web) -> None:
    """Add the Personvern page, its export and its two-step erasure."""
    ctx = web.ctx

    def page(status=200, errors=None, rows=None, **values):
        # ``rows`` is None until a lookup was asked for: nothing to say about it yet.
        return web.render("agent_privacy.html", status=status, errors=errors or {}, rows=rows, **values)

    @app.get("/agent/privacy")
    def privacy_page():
        require_admin()
        query = bottle.request.query
        case_text, agent = query.getunicode("case", "").strip().removeprefix("SD-"), query.getunicode("agent", "")
        errors, rows, asked = {}, None, bool(case_text or agent)
        if case_text and parse_id(case_text) is None:
            errors["case"] = web.gettext("A case number is digits, like 1234.")
        elif asked:
            rows = access.listing(ctx.config, case_id=parse_id(case_text) if case_text else None,
                                  agent=agent.strip())
        return page(status=400 if errors else 200, errors=errors, rows=rows, case=case_text, agent=agent)

    @app.get("/agent/privacy/export")
    def export():
        admin = require_admin()
        email = bottle.request.query.getunicode("email", "").strip().lower()
        person = Person.get_or_none(Person.email == email)
        if person is None:
            return page(status=404, errors={"export": web.gettext("Nobody has that address.")}, export_email=email)
        archive = tempfile.TemporaryFile()
        personexport.write(person, archive)
        access.record(admin.email, access.EXPORT, detail=email)
        return downloads.send_file(archive, "application/zip", f"sensedesk-{email}-{utcnow():%Y-%m-%d}.zip")

    @app.post("/agent/privacy/forget")
    def forget():
        require_admin()
        forms = bottle.request.forms
        email = forms.getunicode("email", "").strip().lower()
        if not ADDRESS.match(email):
            return page(status=400, errors={"forget": web.gettext("Enter an email address, like name@example.org.")},
                        forget_email=email)
        confirmed = forms.get("confirm") == "yes" and forms.getunicode("checked", "") == email
        result = erasure.forget(ctx, email, dry_run=not confirmed)
        return page(result=result, done=confirmed, forget_email=email)

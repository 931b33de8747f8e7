"""The agents' pages: the queue of their departments, search, and a case with all its history.

Who may use them is decided once per request by ``Web.agent_departments``: an
agent of at least one department (configured ``agents`` or a membership),
and an admin for every department. Anyone else gets 404 on every agent URL,
never 403, and so does an agent asking for a case of another department: the
pages reveal neither that they exist nor which case numbers are taken
(MAIL_RULES 71). The forms that change a case are in ``agent_actions``, the
admin lists in ``agent_admin``; they all find the case through ``agent_case``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import urllib.parse

import bottle
from peewee import SQL, NodeList
from peewee import Case as SqlCase

from maild import access, approvals, caseexport, cases, categories, contacts, notices, replytemplates, saved, search
from maild.store.models import (PRIORITIES, REQUEST_TYPES, Attachment, Case, Entry, Membership, Participant, Person,
                                Category, Forward, SavedSearch, Spool, utcnow)
from portal import downloads, history
from portal.web import current, is_admin, page_number, parse_id, redirect, require_login, route_id

ACTIVE = ("new", "open", "pending")
TABS = ("new", "open", "pending", "mine", "closed")
SORTS = ("activity", "priority")
# Most urgent first when the queue is sorted by priority.
_PRIORITY_RANK = SqlCase(Case.priority, [(p, i) for i, p in enumerate(reversed(PRIORITIES))], len(PRIORITIES))


def _tagged(tag: str):
    """Cases carrying ``tag``: its JSON string inside the stored list (``_`` escaped, a LIKE wildcard)."""
    pattern = '%"' + tag.replace("_", "\\_") + '"%'
    return NodeList((Case.tags, SQL("LIKE"), pattern, SQL("ESCAPE '\\'")))


def require_agent(web) -> tuple[Person, tuple[str, ...]]:
    """The logged-in agent and their departments; 404 for anyone else (login first)."""
    person = require_login()
    departments = web.agent_departments()
    if not departments:
        bottle.abort(404)
    return person, departments


def agent_case(web, case_id: str) -> tuple[Person, Case]:
    """The agent and the case, if it is in one of their departments (an admin: any); else 404."""
    person, departments = require_agent(web)
    case = Case.get_or_none(Case.id == route_id(case_id))
    if case is None or not (is_admin(person) or case.department in departments):
        bottle.abort(404)
    return person, case


def person_label(person: Person | None, address: str = "") -> str:
    """How a person is named in the agent pages: "Name <address>", or the address alone."""
    if person is None:
        return address
    return f"{person.name} <{person.email}>" if person.name else person.email


def department_agents(config, dept) -> list[tuple[str, str]]:
    """(address, label) of everyone a case of the department may be assigned to, by address.

    The same people ``people.is_agent_of`` accepts: the configured agents (a
    person row may not exist yet for one who never wrote) and members with
    the agent or admin role.
    """
    if dept is None:
        return []
    configured = set(dept.agents)
    known = {p.email: p for p in Person.select().where(Person.email.in_(sorted(configured)))} if configured else {}
    members = (Person.select().join(Membership, on=(Membership.person == Person.id))
               .where((Membership.department == dept.slug) & Person.role.in_(("agent", "admin"))))
    known.update({p.email: p for p in members})
    return [(address, person_label(known.get(address), address)) for address in sorted(configured | set(known))]


def _trace_steps(row: Spool) -> list[dict]:
    """The trace of a spool row as (rule, [(key, value)…]) dicts for the template."""
    steps = []
    for step in row.trace or []:
        if isinstance(step, dict):
            details = [(str(k), str(v)) for k, v in step.items() if k != "rule"]
            steps.append({"rule": str(step.get("rule", "")), "details": details})
    return steps


def case_page(web, person: Person, case: Case, *, status: int = 200, errors: dict | None = None,
              values: dict | None = None) -> str:
    """The agent's page of a case: details, every entry, match traces, and the forms.

    ``errors`` maps a form ("reply", "note", "manage") to its fields' messages;
    ``values`` keeps what was typed, so a form comes back as it was sent.
    """
    ctx = web.ctx
    entries = list(Entry.select().where(Entry.case == case).order_by(Entry.created_at, Entry.id))
    history.load_authors(entries)
    files = history.files_by_entry(entries)
    spool_ids = sorted({e.spool_id for e in entries if e.spool_id})
    # Only the columns shown: a spool row also holds the raw message.
    spool = {row.id: row for row in Spool.select(Spool.id, Spool.source, Spool.received_at, Spool.hits,
                                                  Spool.trace).where(Spool.id.in_(spool_ids))} if spool_ids else {}
    now, language = int(time.time()), current().language
    views = []
    for entry in entries:
        view = history.entry_view(ctx, entry, files.get(entry.id, []), now, language)
        row = spool.get(entry.spool_id)
        view.update(internal=not entry.public, spool=row, trace=_trace_steps(row) if row else [])
        views.append(view)
    participants = list(Participant.select(Participant, Person).join(Person)
                        .where(Participant.case == case).order_by(Participant.id))
    dept = ctx.config.department(case.department)
    assignee = Person.get_or_none(Person.id == case.assignee_id) if case.assignee_id else None
    agents = [(a, label) for a, label in department_agents(ctx.config, dept) if a != person.email]
    if assignee is not None and assignee.id != person.id and assignee.email not in {a for a, _ in agents}:
        agents.append((assignee.email, person_label(assignee)))  # moved from a department it belonged to
    others = [d for d in ctx.config.departments if d.slug != case.department]
    asked = approvals.of_case(case)
    contact = contact_summary(web, case)
    requester = contact["person"]
    reader = requester.language or ctx.config.language(dept)
    offered = replytemplates.available([case.department], reader)
    chosen = next((t for t in offered if str(t.id) == bottle.request.query.get("mal", "")), None)
    if chosen is not None and values is None:
        # The template put into the reply box, filled for this case, to be changed before it is sent.
        values = {"reply-text": replytemplates.fill(chosen, case=case, requester=requester, agent=person,
                                                    prefix=ctx.config["site"]["token_prefix"],
                                                    base_url=ctx.config["site"]["base_url"])}
    return web.render("agent_case.html", status=status, case=case, entries=views, dept=dept, contact=contact,
                      offered=offered, chosen=chosen,
                      assignee=assignee, participants=participants, agents=agents, others=others,
                      errors=errors or {}, values=values or {}, done=bottle.request.query.get("done", ""),
                      banners=notices.active(case.department), approvals=asked,
                      names={**history.named_people(entries), **approvals.approver_names(asked)}, now=utcnow(),
                      priorities=PRIORITIES, request_types=REQUEST_TYPES,
                      category_tree=categories.tree(case.department), category_path=categories.path_of(case.category),
                      case_files=[a for e in entries for a in files.get(e.id, [])],
                      forwards=list(Forward.select().where(Forward.case == case).order_by(Forward.id)))


@dataclasses.dataclass
class QueueView:
    """What the queue shows, from its query string: tab, department, search words, sort, tag, request type."""

    tab: str
    dept: str
    slugs: tuple[str, ...]
    text: str
    sort: str
    tag: str
    kind: str
    category: int = 0  # a Category of one of the departments, with its subtree; 0: any

    @classmethod
    def of(cls, query, departments: tuple[str, ...]) -> "QueueView":
        """The view a query string asks for, each value checked (anything else: the default)."""
        tab = query.get("tab", "new")
        dept = query.get("dept", "")
        dept = dept if dept in departments else ""
        sort = query.get("sort", "activity")
        tag = query.getunicode("tag", "").strip().lower()
        kind = query.get("type", "")
        slugs = (dept,) if dept else departments
        category = parse_id(query.get("category", "")) or 0
        if category and not Category.select().where((Category.id == category)
                                                    & Category.department.in_(slugs)).exists():
            category = 0
        return cls(tab=tab if tab in TABS else "new", dept=dept, slugs=slugs,
                   text=query.getunicode("q", "").strip()[:200], sort=sort if sort in SORTS else "activity",
                   tag=tag if cases.TAG.match(tag) else "", kind=kind if kind in REQUEST_TYPES else "",
                   category=category)

    def in_tab(self, person: Person, name: str):
        """A query of the cases of one tab, with the department, tag and type chosen."""
        scope = Case.select().where(Case.department.in_(self.slugs))
        if self.tag:
            scope = scope.where(_tagged(self.tag))
        if self.kind:
            scope = scope.where(Case.request_type == self.kind)
        if self.category:
            scope = scope.where(Case.category.in_(categories.subtree_ids(self.category)))
        if name == "mine":
            return scope.where((Case.assignee == person) & Case.status.in_(ACTIVE))
        return scope.where(Case.status == name)

    def order(self) -> list:
        """The queue's order: newest activity first, most urgent first when sorted by priority."""
        order = [Case.updated_at.desc(), Case.id.desc()]
        if self.sort == "priority":
            order.insert(0, _PRIORITY_RANK)
        return order

    def case_ids(self, person: Person, limit: int) -> list[int]:
        """Every case of the view (its search, or its tab), in the order shown, at most ``limit``."""
        if self.text:
            return search.search_page(self.text, departments=self.slugs, public_only=False, limit=limit)[0]
        scope = self.in_tab(person, self.tab).select(Case.id)
        return [c.id for c in scope.order_by(*self.order()).limit(limit)]


# Other cases of the requester shown on a case page; the contact page lists them all.
CONTACT_SHOWN = 5


def contact_summary(web, case: Case) -> dict:
    """The requester's other cases (the first few, and how many) and their organisation's count."""
    departments = web.agent_departments()
    requester = Person.get_by_id(case.requester_id)
    others = contacts.person_cases(requester, departments, exclude=case.id)
    organisation = contacts.organisation(requester.email)
    return {"person": requester, "shown": list(others.limit(CONTACT_SHOWN)), "count": others.count(),
            "organisation": organisation,
            "organisation_count": (contacts.domain_cases(organisation, departments, exclude=case.id).count()
                                   if organisation else 0)}


def install(app, web) -> None:
    """Add the queue, the agent's case page, a contact's cases and the agent's file downloads."""
    ctx = web.ctx

    @app.get("/agent")
    def queue():
        person, departments = require_agent(web)
        query = bottle.request.query
        size = ctx.config["portal"]["page_size"]
        view = QueueView.of(query, departments)
        tab, dept, slugs, text, sort, tag, kind = (view.tab, view.dept, view.slugs, view.text, view.sort,
                                                    view.tag, view.kind)
        page = page_number()

        def in_tab(name):
            return view.in_tab(person, name)

        # The tabs and their counts are not shown beside search results.
        counts = {} if text else {name: in_tab(name).count() for name in TABS}
        more = False
        if text:
            # Internal notes count for agents: they wrote them to be found again.
            # No total: a page says whether more follow (search.search_page).
            ids, more = search.search_page(text, departments=slugs, public_only=False, limit=size,
                                           offset=(page - 1) * size)
            rows = search.in_order(Case, ids)
            total = (page - 1) * size + len(ids)
        else:
            total = counts[tab]
            rows = list(in_tab(tab).order_by(*view.order()).paginate(page, size))
        wanted = {c.requester_id for c in rows} | {c.assignee_id for c in rows if c.assignee_id}
        people = {p.id: p for p in Person.select().where(Person.id.in_(sorted(wanted)))} if wanted else {}
        names = {d.slug: d.name for d in ctx.config.departments}
        asked = {"tab": tab, "dept": dept, "q": text, "sort": sort if sort != "activity" else "", "tag": tag,
                 "type": kind, "category": view.category or ""}
        export_query = urllib.parse.urlencode({k: v for k, v in asked.items() if v})
        return web.render("agent_queue.html", rows=rows, people=people, tab=tab, counts=counts, q=text,
                          export_query=export_query, saved_searches=saved_views(person, departments),
                          is_admin_here=is_admin(person),
                          page=page, pages=max(1, (total + size - 1) // size), total=total, dept=dept, more=more,
                          first=(page - 1) * size + 1,
                          mine=[d for d in ctx.config.departments if d.slug in departments], names=names,
                          done=query.get("done", ""), sort=sort, tag=tag, kind=kind, known_tags=known_tags(),
                          category=view.category, category_trees=[(d, categories.tree(d.slug)) for d in
                                                                  ctx.config.departments if d.slug in slugs],
                          request_types=REQUEST_TYPES)

    def saved_views(person, departments) -> list[dict]:
        """The saved searches the agent sees, each with its link and (not for words) its count."""
        views = []
        for found in saved.visible(person, departments):
            view = QueueView.of(bottle.FormsDict(urllib.parse.parse_qsl(found.query, encoding="latin-1")),
                                departments)
            # A search by words has no total (search.search_page): its count would cost what the search does.
            count = None if view.text else view.in_tab(person, view.tab).count()
            views.append({"search": found, "count": count, "mine": found.owner_id == person.id})
        return views

    @app.post("/agent/saved")
    def save_search():
        person, departments = require_agent(web)
        forms = bottle.request.forms
        query = saved.clean_query(forms.getunicode("query", ""))
        try:
            with ctx.db.atomic():
                saved.save(person, forms.getunicode("name", ""), query, forms.get("share", ""),
                           departments=departments)
        except saved.SavedSearchError:
            redirect(f"/agent?{query}&done=unnamed#save-search" if query else "/agent?done=unnamed#save-search", 303)
        redirect(f"/agent?{query}&done=saved" if query else "/agent?done=saved", 303)

    @app.post("/agent/saved/<search_id>/delete")
    def delete_search(search_id):
        person, _ = require_agent(web)
        found = SavedSearch.get_or_none(SavedSearch.id == route_id(search_id))
        if found is None or not saved.delete(found, person, is_admin(person)):
            bottle.abort(404)
        redirect("/agent?done=unsaved", 303)

    def known_tags() -> list[str]:
        """The tags the forms' rules set: offered while typing a tag to filter by."""
        return sorted({t for form in web.forms.values() for route in form.routes for t in route.tags})

    @app.get("/agent/cases/<case_id>")
    def show_case(case_id):
        person, case = agent_case(web, case_id)
        access.record(person.email, access.VIEW, case.id)
        return case_page(web, person, case)

    @app.get("/agent/export.<fmt:re:csv|xlsx>")
    def export(fmt):
        """The queue view (or search) of the query string as a spreadsheet, every case of it, not one page."""
        person, departments = require_agent(web)
        view = QueueView.of(bottle.request.query, departments)
        ids = view.case_ids(person, caseexport.MAX_ROWS)
        labels = {"status": {s: web.gettext(s.title()) for s in ("new", "open", "pending", "closed")},
                  "priority": {p: web.gettext(p.title()) for p in PRIORITIES},
                  "type": {"incident": web.gettext("Incident"), "service_request": web.gettext("Service request"),
                           "question": web.gettext("Question"), "change": web.gettext("Change"),
                           "access": web.gettext("Access")}}
        found = caseexport.rows(ctx.config, ids, lambda kind, value: labels[kind].get(value, value))
        # Literal strings, for the catalog to find; in caseexport.COLUMNS' order.
        headers = [web.gettext("Number"), web.gettext("Subject"), web.gettext("Department"), web.gettext("Status"),
                   web.gettext("Priority"), web.gettext("Request type"), web.gettext("Category"),
                   web.gettext("Requester"),
                   web.gettext("Requester's address"), web.gettext("Assigned to"), web.gettext("Tags"),
                   web.gettext("Opened"), web.gettext("Last activity"), web.gettext("Closed"),
                   web.gettext("Messages")]
        out = tempfile.TemporaryFile()
        if fmt == "xlsx":
            caseexport.write_xlsx(headers, found, out, title=web.gettext("Cases"))
            content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            caseexport.write_csv(headers, found, out)
            content_type = "text/csv; charset=utf-8"
        access.record(person.email, access.EXPORT, detail=f"{len(ids)} case(s): {bottle.request.query_string}")
        return downloads.send_file(out, content_type,
                                   f"sensedesk-{view.text and 'search' or view.tab}-{utcnow():%Y-%m-%d}.{fmt}")

    @app.get("/agent/contact")
    def contact_cases():
        """Every case of one person (``email``) or one organisation (``domain``) in the agent's departments."""
        _, departments = require_agent(web)
        query = bottle.request.query
        email, domain = query.getunicode("email", "").strip().lower(), query.getunicode("domain", "").strip().lower()
        person = Person.get_or_none(Person.email == email) if email else None
        if person is not None:
            found, title = contacts.person_cases(person, departments), person.name or person.email
        elif domain and contacts.organisation("x@" + domain):
            found, title = contacts.domain_cases(domain, departments), domain
        else:
            bottle.abort(404)
        size = ctx.config["portal"]["page_size"]
        page = page_number()
        total = found.count()
        return web.render("agent_contact.html", title=title, email=email if person else "",
                          domain=domain if person is None else contacts.organisation(person.email),
                          cases=list(found.paginate(page, size)), total=total, page=page,
                          pages=max(1, -(-total // size)),
                          names={d.slug: d.name for d in ctx.config.departments})

    @app.get("/agent/cases/<case_id>/files/<attachment_id>")
    def download(case_id, attachment_id):
        # Any file of the case, internal notes' too; served as safely as a customer's.
        person, case = agent_case(web, case_id)
        attachment = (Attachment.select().join(Entry)
                      .where((Attachment.id == route_id(attachment_id)) & (Entry.case == case)).first())
        if attachment is None:
            bottle.abort(404)
        access.record(person.email, access.DOWNLOAD, case.id, attachment.filename)
        return downloads.serve(attachment, inline=False)

"""The agents' FAQ pages: the list with deflection figures, writing and changing articles, and
*publish solution as FAQ* from a reply on a case (SPEC 5, FAQ).

An agent may write and change the articles of their departments and those
for all departments; an admin every article. Anyone else gets 404, as for
every agent URL, and so does an agent asking for an article of another
department. An article from a case starts as a draft filled from the chosen
reply by ``faq.draft_from_entry``, with the personal details it found taken
out, for the agent to check before saving.
"""

from __future__ import annotations

import bottle
from peewee import Case as When

from maild import deflection, faq, faqsearch, search
from maild.store.models import Article, Case, Entry
from portal.views.agent import require_agent
from portal.web import current, is_admin, page_number, parse_id, redirect, route_id

QUERY_MAX = 200


def may_edit(person, departments: tuple[str, ...], article_department: str) -> bool:
    """Whether an agent may write or change an article of a department ("" is all departments)."""
    return is_admin(person) or article_department == "" or article_department in departments


def install(app, web) -> None:
    """Add /agent/faq and its new, change, preview and delete routes."""
    ctx = web.ctx

    def labels():
        return {"title": web.gettext("Title"), "body": web.gettext("Text"),
                "department": web.gettext("Department"), "tags": web.gettext("Tags"),
                "language": web.gettext("Language")}

    def error_text(exc: faq.ArticleError) -> str:
        return {"title": web.gettext("Write a title of at most 200 characters."),
                "body": web.gettext("Write the article's text (at most 50,000 characters)."),
                "department": web.gettext("Choose a department you work in, or all departments."),
                "language": web.gettext("Choose English or Norwegian."),
                "tags": web.gettext("At most 10 tags, each of at most 40 characters.")}.get(exc.field, str(exc))

    def scope(person, departments):
        """The articles an agent may see in the list: their departments' and all departments'."""
        query = Article.select()
        if not is_admin(person):
            query = query.where(Article.department.in_(("",) + departments))
        return query

    @app.get("/agent/faq")
    def faq_list():
        person, departments = require_agent(web)
        query = bottle.request.query
        size = ctx.config["portal"]["page_size"]
        text = query.getunicode("q", "").strip()[:QUERY_MAX]
        page = page_number()
        if text:
            wanted = None if is_admin(person) else ("",) + departments
            total, ids = faqsearch.search_articles(text, language=current().language, departments=wanted,
                                                published_only=False, limit=size, offset=(page - 1) * size)
            rows = search.in_order(Article, ids)
        else:
            total = scope(person, departments).count()
            # Drafts first: they wait for someone; then the most recently changed.
            rows = list(scope(person, departments)
                        .order_by(When(None, [(Article.published == False, 0)], 1),  # noqa: E712
                                  Article.updated_at.desc(), Article.id.desc()).paginate(page, size))
        pages = max(1, (total + size - 1) // size)
        names = {d.slug: d.name for d in ctx.config.departments}
        figures = [f for f in deflection.figures(departments) if f.department in names]
        return web.render("agent_faq.html", rows=rows, q=text, total=total, page=page, pages=pages, names=names,
                          figures=figures, opened=deflection.opened_counts([a.id for a in rows]),
                          period_days=deflection.PERIOD.days, done=query.get("done", ""))

    def choices(person, departments):
        return [d for d in ctx.config.departments if is_admin(person) or d.slug in departments]

    def form_page(person, departments, values, article=None, status=200, errors=None, preview="", draft=None):
        return web.render("agent_faq_form.html", status=status, article=article, values=values,
                          choices=choices(person, departments), errors=errors or {}, labels=labels(),
                          preview=preview, draft=draft, done=bottle.request.query.get("done", ""))

    def values_of(article: Article) -> dict:
        return {"title": article.title, "body": article.body, "department": article.department,
                "tags": ", ".join(article.tags or []), "language": article.language,
                "published": bool(article.published), "source_case": article.source_case_id or ""}

    def source_entry(person, departments, entry_id: str) -> Entry:
        """A public agent's reply on a case the agent may see; 404 for anything else."""
        entry = Entry.get_or_none(Entry.id == route_id(entry_id))
        if entry is None or entry.kind != "reply" or not entry.public:
            bottle.abort(404)
        case = Case.get_by_id(entry.case_id)
        if not (is_admin(person) or case.department in departments):
            bottle.abort(404)
        return entry

    @app.get("/agent/faq/new")
    def new_article():
        person, departments = require_agent(web)
        entry_id = bottle.request.query.get("entry", "")
        if not entry_id:
            values = {"language": current().language, "department": departments[0] if len(departments) == 1 else ""}
            return form_page(person, departments, values)
        draft = faq.draft_from_entry(ctx.config, source_entry(person, departments, entry_id))
        values = {"title": draft.title, "body": draft.body, "department": draft.department,
                  "tags": ", ".join(draft.tags), "language": draft.language, "published": False,
                  "source_case": draft.source_case.id}
        return form_page(person, departments, values, draft=draft)

    def read_form() -> dict:
        forms = bottle.request.forms
        return {"title": forms.getunicode("title", ""), "body": forms.getunicode("body", ""),
                "department": forms.getunicode("department", ""), "tags": forms.getunicode("tags", ""),
                "language": forms.getunicode("language", ""), "published": forms.get("published") == "yes",
                "source_case": forms.get("source_case", "")}

    def source_case(person, departments, value: str):
        """The case a new article was written from, if the agent may see it (else none is kept)."""
        case_id = parse_id(value)
        if case_id is None:
            return None
        case = Case.get_or_none(Case.id == case_id)
        if case is None or not (is_admin(person) or case.department in departments):
            return None
        return case

    def save(person, departments, article):
        values = read_form()
        if bottle.request.forms.get("action") == "preview":
            return form_page(person, departments, values, article=article,
                             preview=faq.render_markdown(values["body"]))
        try:
            if not may_edit(person, departments, values["department"]):
                raise faq.ArticleError("department", "not yours")
            with ctx.db.atomic():
                article = faq.save(ctx.config, title=values["title"], body=values["body"],
                                   department=values["department"], tags=values["tags"],
                                   language=values["language"], published=values["published"], article=article,
                                   author=person,
                                   source_case=source_case(person, departments, values["source_case"]))
        except faq.ArticleError as exc:
            return form_page(person, departments, values, article=article, status=400,
                             errors={exc.field: error_text(exc)})
        redirect(f"/agent/faq/{article.id}?done=saved", 303)

    @app.post("/agent/faq/new")
    def add_article():
        person, departments = require_agent(web)
        return save(person, departments, None)

    def article_or_404(person, departments, article_id) -> Article:
        article = Article.get_or_none(Article.id == route_id(article_id))
        if article is None or not may_edit(person, departments, article.department):
            bottle.abort(404)
        return article

    @app.get("/agent/faq/<article_id>")
    def edit_article(article_id):
        person, departments = require_agent(web)
        article = article_or_404(person, departments, article_id)
        return form_page(person, departments, values_of(article), article=article,
                         preview=faq.render_markdown(article.body))

    @app.post("/agent/faq/<article_id>")
    def change_article(article_id):
        person, departments = require_agent(web)
        return save(person, departments, article_or_404(person, departments, article_id))

    @app.post("/agent/faq/<article_id>/delete")
    def delete_article(article_id):
        person, departments = require_agent(web)
        article = article_or_404(person, departments, article_id)
        with ctx.db.atomic():
            faq.delete(article)
        redirect("/agent/faq?done=deleted", 303)

"""The FAQ for customers: the list and its search, an article, and suggestions while a request is written.

Only published articles are shown here; a draft's URL is 404 like an
unknown one. Suggestions come two ways (SPEC 5, FAQ). With JavaScript,
``/static/suggest.js`` asks ``/faq/suggest`` as the person types the subject
of the plain form or the suggesting field of an intake form's first page
(``Form.faq_field``). Without it, the *similar questions* step
(``/new/<slug>/similar``) comes before the form whenever the department has
published articles: it asks what the request is about, shows the matching
articles, and carries the words on into the form; with no match it goes
straight there. The server cannot tell whether a browser runs scripts, so
links lead to the step and the script skips it (``data-direct``,
``data-forward``). Either way each article link carries the attempt's key, so
opening it is counted for deflection (``maild.deflection``).
"""

from __future__ import annotations

from urllib.parse import urlencode

import bottle
from peewee import Case as When

from maild import deflection, faq, faqsearch, search
from maild.store.models import Article
from portal.web import current, page_number, redirect, require_login, route_id

QUERY_MAX = 200
SUGGESTIONS = 5


def form_url(dept, form, key: str, text: str = "") -> str:
    """The request form itself (plain or intake), carrying the attempt's key and the words typed so far."""
    base, field = (f"/forms/{form.id}", form.faq_field) if form else (f"/new/{dept.slug}/message", "subject")
    params = {"request": key}
    if text and field:
        params[field] = text
    return f"{base}?{urlencode(params)}"


def start_url(dept, form, asks: bool) -> str:
    """Where starting a request goes: the similar-questions step when ``asks`` and the form suggests, else the form."""
    if asks and (form is None or form.faq_field):
        return f"/new/{dept.slug}/similar" + (f"?{urlencode({'form': form.id})}" if form else "")
    return f"/forms/{form.id}" if form else f"/new/{dept.slug}/message"


def article_url(article_id: int, dept, form, key: str, text: str = "") -> str:
    """An article opened from a suggestion: the attempt rides along, to be counted and continued."""
    params = {"request": key, "department": dept.slug}
    if form:
        params["form"] = form.id
    if text:
        params["text"] = text[:QUERY_MAX]
    return f"/faq/{article_id}?{urlencode(params)}"


def install(app, web) -> None:
    """Add /faq, /faq/<id>, /faq/suggest and the similar-questions step."""
    ctx = web.ctx

    def attempt_target(query):
        """The department and form (None: the plain form) a suggestion was made for; (None, None) if none."""
        dept = ctx.config.department(query.get("department", ""))
        form = web.forms.get(query.get("form", "")) if query.get("form") else None
        if dept is None or (form is not None and form.department != dept.slug):
            return None, None
        return dept, form

    def suggestions(text: str, dept, form, key: str) -> list[tuple[Article, str]]:
        """(article, link) of the best published articles of a department and for all that match the words."""
        _, ids = faqsearch.search_articles(text, language=current().language, departments=("", dept.slug),
                                        limit=SUGGESTIONS)
        return [(a, article_url(a.id, dept, form, key, text)) for a in search.in_order(Article, ids)]

    def department_names() -> dict[str, str]:
        return {d.slug: d.name for d in ctx.config.departments}

    @app.get("/faq")
    def faq_list():
        query = bottle.request.query
        size = ctx.config["portal"]["page_size"]
        text = query.getunicode("q", "").strip()[:QUERY_MAX]
        page = page_number()
        language = current().language
        if text:
            total, ids = faqsearch.search_articles(text, language=language, limit=size, offset=(page - 1) * size)
            rows = search.in_order(Article, ids)
        else:
            published = Article.select().where(Article.published == True)  # noqa: E712
            total = published.count()
            # The asker's language first (SPEC 5: Norwegian and English), then the newest.
            rows = list(published.order_by(When(None, [(Article.language == language, 0)], 1),
                                           Article.published_at.desc(), Article.id.desc()).paginate(page, size))
        pages = max(1, (total + size - 1) // size)
        return web.render("faq.html", rows=rows, q=text, total=total, page=page, pages=pages,
                          summaries={a.id: faq.summary(a) for a in rows}, names=department_names())

    @app.get("/faq/suggest")
    def suggest():
        query = bottle.request.query
        dept, form = attempt_target(query)
        text = query.getunicode("q", "").strip()[:QUERY_MAX]
        key = query.get("request", "")
        bottle.response.set_header("Cache-Control", "no-store")
        if dept is None or not deflection.valid_key(key) or not text:
            return {"heading": "", "articles": []}
        found = suggestions(text, dept, form, key)
        translations = web.translations[current().language]
        heading = translations.ngettext("%(num)d article may answer your question:",
                                        "%(num)d articles may answer your question:", len(found))
        heading %= {"num": len(found)}
        return {"heading": heading if found else "",
                "articles": [{"title": a.title, "url": url, "summary": faq.summary(a, 120)} for a, url in found]}

    @app.get("/faq/<article_id>")
    def article_page(article_id):
        article = faq.published_article(route_id(article_id))
        if article is None:
            bottle.abort(404)
        query = bottle.request.query
        dept, form = attempt_target(query)
        key = query.get("request", "")
        resume = ""
        if dept is not None and deflection.valid_key(key):
            resume = form_url(dept, form, key, query.getunicode("text", "").strip()[:QUERY_MAX])
            # Counted only for a logged-in person: the request forms need one,
            # and a crawler following a shared link is no deflection.
            if current().person is not None:
                with ctx.db.atomic():
                    deflection.record_visit(article, dept.slug, key)
        dept_name = department_names().get(article.department, "")
        return web.render("faq_article.html", article=article, body=faq.render_markdown(article.body),
                          dept_name=dept_name, resume=resume)

    @app.get("/new/<slug>/similar")
    def similar(slug):
        require_login()
        dept = ctx.config.department(slug)
        if dept is None:
            bottle.abort(404)
        query = bottle.request.query
        form = None
        if query.get("form"):
            form = web.forms.get(query.get("form"))
            if form is None or form.department != dept.slug or not form.faq_field:
                bottle.abort(404)
        key = deflection.key_or_new(query.get("request", ""))
        text = query.getunicode("q", "").strip()[:QUERY_MAX]
        found = []
        if text:
            found = suggestions(text, dept, form, key)
            if not found:
                redirect(form_url(dept, form, key, text), 303)
        field = form.faq_field if form else "subject"
        action = f"/forms/{form.id}" if form else f"/new/{dept.slug}/message"
        return web.render("faq_similar.html", dept=dept, form=form, key=key, q=text, found=found,
                          skip=form_url(dept, form, key), action=action, field=field)

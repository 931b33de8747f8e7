"""FAQ articles: saving, publishing, Markdown made safe HTML, and a draft from a case's reply (SPEC 5, FAQ).

An article is written in Markdown (CommonMark with tables and strikethrough,
by markdown-it-py) with raw HTML turned off: ``<script>`` in an article is
shown as text. What the parser makes is then sanitised with nh3 as mail HTML
is (portal/render.py), as a second wall: only formatting tags, links to
http, https and mailto addresses or to a path on the portal, each with
``rel="noopener noreferrer"``. Images become links to the picture: the
portal's Content-Security-Policy blocks remote images, and a remote image
would tell its host who reads the article.

Every save (re)indexes the article for ``faqsearch.search_articles`` in the
caller's transaction; drafts are indexed too, for the agents, and the search
leaves them out for everyone else.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable

import nh3
from markdown_it import MarkdownIt

from maild import faqsearch, redaction
from maild.mail import quotes, subject, urls
from maild.store.models import Article, Case, Entry, Participant, Person, utcnow

LANGUAGES = ("en", "nb")
TITLE_MAX, BODY_MAX, TAGS_MAX, TAG_MAX = 200, 50_000, 10, 40
SUMMARY_CHARS = 200


class ArticleError(ValueError):
    """An article that may not be saved; ``field`` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


# --------------------------------------------------------------------------- saving

def parse_tags(text: str | Iterable[str]) -> list[str]:
    """Tags from "vpn, Remote work" (or a list): trimmed, lower-cased, each once, in order."""
    items = text.split(",") if isinstance(text, str) else list(text)
    tags: list[str] = []
    for item in items:
        tag = " ".join(str(item).split()).lower()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def check(config, title: str, body: str, department: str, language: str, tags: list[str]) -> None:
    """Raise ArticleError for the first field that may not be saved."""
    if not title.strip() or len(title) > TITLE_MAX:
        raise ArticleError("title", "a title of 1 to 200 characters")
    if not body.strip() or len(body) > BODY_MAX:
        raise ArticleError("body", "a text of 1 to 50,000 characters")
    if department and config.department(department) is None:
        raise ArticleError("department", "no such department")
    if language not in LANGUAGES:
        raise ArticleError("language", "en or nb")
    if len(tags) > TAGS_MAX or any(len(tag) > TAG_MAX for tag in tags):
        raise ArticleError("tags", "at most 10 tags of at most 40 characters")


def save(config, *, title: str, body: str, department: str = "", tags: str | Iterable[str] = (),
         language: str = "en", published: bool = False, article: Article | None = None, author=None,
         source_case=None, now=None) -> Article:
    """Add an article, or change ``article``; raises ArticleError and saves nothing when a field is wrong.

    ``published_at`` is set when an article is first published and cleared
    when it goes back to draft. Call inside a transaction: the index is
    written with the row.
    """
    now = now or utcnow()
    tags = parse_tags(tags)
    title = subject.clean_header_text(title)  # one line, as every title and subject is stored
    check(config, title, body, department, language, tags)
    article = article or Article(created_at=now, author=author, source_case=source_case)
    article.title, article.body = title, body.strip()
    article.department, article.tags, article.language = department, tags, language
    if published and not article.published:
        article.published_at = now
    elif not published:
        article.published_at = None
    article.published = bool(published)
    article.updated_at = now
    article.save()
    faqsearch.index_article(article.id, article.title, plain_text(article.body), article.tags)
    return article


def delete(article: Article) -> None:
    """Delete an article; its index entry goes with it (a trigger, or the foreign key)."""
    article.delete_instance()


def published_article(article_id: int) -> Article | None:
    """A published article by id; None for a draft or an unknown id."""
    return Article.get_or_none((Article.id == article_id) & (Article.published == True))  # noqa: E712


def has_published(department: str) -> bool:
    """Whether a department (with the articles for all) has any published article to suggest."""
    return Article.select().where((Article.published == True)  # noqa: E712
                                  & Article.department.in_(["", department])).exists()


# --------------------------------------------------------------------------- Markdown

_TAGS = {"a", "p", "br", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre", "blockquote", "ul", "ol",
         "li", "hr", "table", "thead", "tbody", "tr", "th", "td", "s", "del"}
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


def _image_as_link(self, tokens, idx, options, env) -> str:
    """An image written in an article, shown as a link to it (see the module's docstring)."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = token.attrGet("src") or ""
    return f'<a href="{html.escape(src)}">{html.escape(alt or src)}</a>'


def _headings_under_title(state) -> None:
    """Article headings start at h2 (the title is the page's h1) and never skip a level (WCAG 1.3.1)."""
    opened = [t for t in state.tokens if t.type == "heading_open"]
    if not opened:
        return
    base = min(int(t.tag[1]) for t in opened)
    previous = 1
    level_of: dict[int, int] = {}
    for token in opened:
        level = min(int(token.tag[1]) - base + 2, previous + 1, 6)
        level_of[id(token)] = previous = level
    current = None
    for token in state.tokens:
        if token.type == "heading_open":
            current = level_of[id(token)]
            token.tag = f"h{current}"
        elif token.type == "heading_close":
            token.tag = f"h{current}"


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
_MARKDOWN.add_render_rule("image", _image_as_link)
_MARKDOWN.core.ruler.push("headings_under_title", _headings_under_title)


def _link_target(tag: str, attribute: str, value: str) -> str | None:
    """An href worth keeping: absolute http(s), mailto, or a path on the portal ("/faq/3")."""
    if tag != "a" or attribute != "href":
        return value
    return urls.link_target(value, local_paths=True)


def render_markdown(text: str) -> str:
    """An article's Markdown as HTML safe to put in a page."""
    return nh3.clean(_MARKDOWN.render(text or ""), tags=_TAGS, attributes=_ATTRIBUTES,
                     attribute_filter=_link_target, url_schemes=urls.LINK_SCHEMES, strip_comments=True,
                     link_rel="noopener noreferrer")


def plain_text(text: str) -> str:
    """An article's Markdown as the words a reader sees, for the index and summaries."""
    return html.unescape(nh3.clean(_MARKDOWN.render(text or ""), tags=set()))


# Characters of the Markdown source a summary is made from (several times SUMMARY_CHARS).
SUMMARY_SOURCE = 3000


def summary(article: Article, length: int = SUMMARY_CHARS) -> str:
    """The start of an article's text on one line without its headings, cut at a word near ``length`` characters."""
    parts, in_heading = [], False
    # Only the start is read: a summary is asked for each suggestion while
    # someone types, and parsing a 40 KB article whole took ~40 ms.
    for token in _MARKDOWN.parse((article.body or "")[:SUMMARY_SOURCE]):
        if token.type in ("heading_open", "heading_close"):
            in_heading = token.type == "heading_open"
        elif token.type == "inline" and not in_heading:
            parts.append(_MARKDOWN.renderer.renderInlineAsText(token.children or [], _MARKDOWN.options, {}))
    text = " ".join(" ".join(parts).split())
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0].rstrip(".,;:") + " …"


# --------------------------------------------------------------------------- from a case

@dataclasses.dataclass
class Draft:
    """A new article's fields filled from a reply, and what personal details were removed from it."""

    title: str
    body: str
    department: str
    language: str
    tags: list[str]
    source_case: Case
    removed: tuple[str, ...]


def draft_from_entry(config, entry: Entry) -> Draft:
    """A draft article from an agent's reply: its case's subject and the reply's new text.

    Quoted history and signature go first (``quotes.reply_text``), then the
    greeting, sign-off, addresses, phone numbers and the names of everyone on
    the case and of the agent (``redaction.redact``). The draft is for the
    agent to check and save; nothing is stored here.
    """
    case = Case.get_by_id(entry.case_id)
    people = list(Person.select().join(Participant).where(Participant.case == case))
    author = Person.get_or_none(Person.id == entry.author_id) if entry.author_id else None
    names = [p.name for p in people + ([author] if author else []) if p.name]
    requester = next((p for p in people if p.id == case.requester_id), None)
    dept = config.department(case.department)
    language = requester.language if requester and requester.language in LANGUAGES else config.language(dept)
    language = language if language in LANGUAGES else "en"
    kept = config.own_addresses()
    body = redaction.redact(quotes.reply_text(entry.body_text or ""), names=names, keep_addresses=kept,
                            language=language)
    title = redaction.redact(subject.base_subject(case.subject, config["site"]["token_prefix"]), names=names,
                             keep_addresses=kept, language=language)
    removed = tuple(dict.fromkeys(title.removed + body.removed))
    return Draft(title=title.text[:TITLE_MAX], body=body.text, department=case.department if dept else "",
                 language=language, tags=list(case.tags or []), source_case=case, removed=removed)

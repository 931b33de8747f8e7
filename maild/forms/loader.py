"""Intake forms read from ``config/forms/*.toml`` and validated strictly.

A form belongs to a department and has one or more pages of fields. Pages and
fields may be shown only when an earlier answer says so; routes and approval
rules act on the answers when the form is submitted (SPEC 5, New request).
Nothing here touches the web or the store.

This module reads and checks definitions into the dataclasses of
``maild.forms.definition``; the rules that run on answers are in
``maild.forms.answers`` and ``maild.forms.submission``. Callers import the
package, ``maild.forms``, which gathers the public names of all three.

The format, in brief (``config/forms/*.toml`` are full examples)::

    id, department, request_type, title, description?, subject?, faq_field?
    [[pages]]         id, title, show_when?, fields
    [[pages.fields]]  id, type, label, help?, required?, required_when?, show_when?
                      text/textarea: min_length?, max_length?, pattern?, message?
                      number: min?, max?, message?    date: min_date?, max_date?, message?
                      (a date's bound: YYYY-MM-DD, "today", or "field:<id>" of an earlier date)
                      choice: options, widget?        multichoice: options
                      file: multiple?, max_bytes?     help: text (label optional)
    [[routes]]        when?, department?, priority?, request_type?, assignee?, tags?, participants?
    [[approvals]]     when?, approver

Texts are tables ``{ en = "…", nb = "…" }``: ``en`` is required, ``nb`` falls
back to it, and loaded tables always hold both. ``subject`` may also be one
string for both languages; ``{field_id}`` in it is replaced by the answer.
``faq_field`` names the text or textarea field of the first page whose words
suggest FAQ articles while it is typed; without it the first such field is
taken, and ``faq_field = ""`` suggests nothing (a name or an address would
find nothing worth reading).
Options are ``{ value = "…", label = { … } }``. Participants and approvers
are addresses or ``"field:<id>"`` naming an email or person field.
Conditions are inline tables: ``{ field = "x", equals = v }``, ``{ field =
"x", in = [v, …] }``, ``{ field = "x", answered = true }``, ``{ not = c }``,
``{ and = [c, …] }``, ``{ or = [c, …] }``; they may only name fields asked
before them (a page's: fields of earlier pages).

Definitions are checked when loaded, as configuration is: a problem raises
``FormError``, one line ``<file>: <where>: <problem>``. Places are written
``pages[1].fields.start_date.type`` (pages, routes, approvals and options
counted from 1, fields named by id). Relative directories are taken from the
working directory, as ``[site] var_dir`` is.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from pathlib import Path
from typing import Any, NoReturn

from maild.forms.definition import (EMAIL, PLACEHOLDER, ApprovalRule, Condition, Field, Form, Option, Page,
                                    Route)
from maild.store.models import PRIORITIES, REQUEST_TYPES

FIELD_TYPES = ("text", "textarea", "email", "phone", "number", "date", "choice", "multichoice",
               "yesno", "file", "person", "help")
LANGUAGES = ("en", "nb")
WIDGETS = ("radio", "select")
DEFAULT_MAX_LENGTH = {"text": 200, "textarea": 10000}

_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Names the portal's form pages send beside the answers (portal/views/forms.py _CONTROL):
# the token, the way, the first page's key, the fields shown, and kept files to remove.
RESERVED_IDS = frozenset({"csrf", "direction", "request", "shown", "remove_file"})
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
_OPTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")

_COMMON_KEYS = {"id", "type", "label", "help", "required", "required_when", "show_when"}
_TYPE_KEYS = {
    "text": {"min_length", "max_length", "pattern", "message"},
    "textarea": {"min_length", "max_length", "pattern", "message"},
    "email": set(), "phone": set(), "person": set(), "yesno": set(),
    "number": {"min", "max", "message"},
    "date": {"min_date", "max_date", "message"},
    "choice": {"options", "widget"},
    "multichoice": {"options"},
    "file": {"multiple", "max_bytes"},
}
_HELP_KEYS = {"id", "type", "label", "text", "show_when"}
_FORM_KEYS = {"id", "department", "request_type", "title", "description", "subject", "pages",
              "routes", "approvals", "faq_field"}


class FormError(Exception):
    """A problem in a form definition; ``str()`` is one line: "<file>: <where>: <problem>"."""

    def __init__(self, file: str, where: str = "", problem: str = ""):
        self.file, self.where, self.problem = str(file), where, problem
        # TOML strings may hold line breaks; the message stays one line for `sensedesk check`.
        text = f"{file}: {where}: {problem}" if where or problem else str(file)
        super().__init__(text.replace("\r", "\\r").replace("\n", "\\n"))


class _Reader:
    """Turns one parsed TOML document into a Form, failing at the first problem."""

    def __init__(self, path: str, config):
        self.path, self.config = path, config
        self.fields: dict[str, Field] = {}  # every field read so far, in form order
        self.planned: set[str] = set()  # every field id in the file, for clearer messages

    def fail(self, where: str, problem: str) -> NoReturn:
        raise FormError(self.path, where, problem)

    def table(self, where: str, data: Any, allowed: set[str], applies: str = "") -> dict:
        if not isinstance(data, dict):
            self.fail(where, "expected a table")
        for key in data:
            if key not in allowed:
                other = key in _COMMON_KEYS | {"text"} or any(key in keys for keys in _TYPE_KEYS.values())
                self.fail(f"{where}.{key}" if where else key,
                          f"does not apply to {applies}" if applies and other else "unknown key")
        return data

    def string(self, where: str, value: Any, pattern: re.Pattern | None = None, what: str = "") -> str:
        if value is None:
            self.fail(where, "required")
        if not isinstance(value, str):
            self.fail(where, f"expected a string, got {value!r}")
        if pattern and not pattern.match(value):
            self.fail(where, f"{what or 'lowercase letters, digits and _'} only, got {value!r}")
        return value

    def choice(self, where: str, value: Any, choices: tuple[str, ...], what: str) -> str:
        if self.string(where, value) not in choices:
            self.fail(where, f"unknown {what} {value!r} (one of {', '.join(choices)})")
        return value

    def boolean(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.fail(where, f"expected true or false, got {value!r}")
        return value

    def integer(self, where: str, value: Any, least: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            self.fail(where, f"expected a whole number of at least {least}, got {value!r}")
        return value

    def number(self, where: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(where, f"expected a number, got {value!r}")
        return float(value)

    def date(self, where: str, value: Any) -> str:
        try:
            datetime.date.fromisoformat(self.string(where, value))
        except ValueError:
            self.fail(where, f"expected a date as YYYY-MM-DD, got {value!r}")
        return value

    def date_bound(self, where: str, value: Any, earlier: dict[str, Field]) -> str:
        """A date's bound: YYYY-MM-DD, "today", or "field:<id>" naming a date field asked before."""
        value = self.string(where, value).strip()
        if value == "today":
            return value
        if value.startswith("field:"):
            field = earlier.get(value[len("field:"):])
            if field is None or field.type != "date":
                self.fail(where, f"{value!r} names no date field asked before this one")
            return value
        return self.date(where, value)

    def text(self, where: str, value: Any, required: bool = True) -> dict[str, str]:
        """A text table {en = …, nb = …}: en required, nb falling back to en."""
        if value is None and not required:
            return {}
        if value is None:
            self.fail(where, "required")
        self.table(where, value, set(LANGUAGES))
        for language, words in value.items():
            self.string(f"{where}.{language}", words)
        if not value.get("en", "").strip():
            self.fail(f"{where}.en", "required")
        return {"en": value["en"], "nb": value.get("nb") or value["en"]}

    def items(self, where: str, value: Any) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, "expected an array")
        return value

    def form(self, data: dict) -> Form:
        self.table("", data, _FORM_KEYS)
        form_id = self.string("id", data.get("id"), _SLUG, "lowercase letters, digits, - and _")
        department = self.string("department", data.get("department"))
        if self.config.department(department) is None:
            self.fail("department", f"no department {department!r} in the configuration")
        pages_data = self.items("pages", data.get("pages"))
        if not pages_data:
            self.fail("pages", "a form needs at least one page")
        self.planned = {f.get("id") for p in pages_data if isinstance(p, dict)
                        for f in (p.get("fields") if isinstance(p.get("fields"), list) else [])
                        if isinstance(f, dict)}
        pages: list[Page] = []
        for i, page in enumerate(pages_data, 1):
            pages.append(self.page(f"pages[{i}]", page, {p.id for p in pages}))
        routes = tuple(self.route(f"routes[{i}]", r)
                       for i, r in enumerate(self.items("routes", data.get("routes")), 1))
        approvals = tuple(self.approval(f"approvals[{i}]", a)
                          for i, a in enumerate(self.items("approvals", data.get("approvals")), 1))
        return Form(id=form_id, path=self.path, department=department,
                    title=self.text("title", data.get("title")),
                    description=self.text("description", data.get("description"), required=False),
                    request_type=self.choice("request_type", data.get("request_type"), REQUEST_TYPES,
                                             "request type"),
                    pages=tuple(pages), routes=routes, approvals=approvals,
                    subject=self.subject("subject", data.get("subject")),
                    faq_field=self.faq_field("faq_field", data.get("faq_field"), pages[0]))

    def page(self, where: str, data: Any, earlier_pages: set[str]) -> Page:
        self.table(where, data, {"id", "title", "fields", "show_when"})
        page_id = self.string(f"{where}.id", data.get("id"), _ID)
        if page_id in earlier_pages:
            self.fail(f"{where}.id", f"{page_id!r} is used by an earlier page")
        # A page's condition reads only earlier pages: it decides whether the page is asked at all.
        show_when = self.condition(f"{where}.show_when", data.get("show_when"), dict(self.fields), "page")
        title = self.text(f"{where}.title", data.get("title"))
        fields = tuple(self.field(f"{where}.fields", i, f)
                       for i, f in enumerate(self.items(f"{where}.fields", data.get("fields")), 1))
        if not any(f.type != "help" for f in fields):
            self.fail(f"{where}.fields", "a page needs at least one question")
        return Page(page_id, title, fields, show_when)

    def field(self, where: str, index: int, data: Any) -> Field:
        if not isinstance(data, dict):
            self.fail(f"{where}[{index}]", "expected a table")
        field_id = self.string(f"{where}[{index}].id", data.get("id"), _ID)
        where = f"{where}.{field_id}"
        if field_id in self.fields:
            self.fail(f"{where}.id", f"{field_id!r} is used by an earlier field of this form")
        if field_id in RESERVED_IDS:
            self.fail(f"{where}.id", f"{field_id!r} is a name the portal's form pages use themselves")
        kind = self.string(f"{where}.type", data.get("type"))
        if kind not in FIELD_TYPES:
            self.fail(f"{where}.type", f"unknown type {kind!r}")
        allowed = _HELP_KEYS if kind == "help" else _COMMON_KEYS | _TYPE_KEYS[kind]
        self.table(where, data, allowed, f"a {kind} field")
        earlier = dict(self.fields)
        f: dict[str, Any] = {"id": field_id, "type": kind,
                             "show_when": self.condition(f"{where}.show_when", data.get("show_when"), earlier),
                             "label": self.text(f"{where}.label", data.get("label"), required=kind != "help"),
                             "help": self.text(f"{where}.help", data.get("help"), required=False),
                             "message": self.text(f"{where}.message", data.get("message"), required=False)}
        if kind == "help":
            f["text"] = self.text(f"{where}.text", data.get("text"))
        f["required"] = self.boolean(f"{where}.required", data.get("required", False))
        f["required_when"] = self.condition(f"{where}.required_when", data.get("required_when"), earlier)
        if f["required"] and f["required_when"] is not None:
            self.fail(f"{where}.required_when", "has no effect with required = true")
        if kind in ("choice", "multichoice"):
            f["options"] = self.options(f"{where}.options", data.get("options"), kind)
            if kind == "choice":
                default = "radio" if len(f["options"]) <= 6 else "select"
                f["widget"] = self.choice(f"{where}.widget", data.get("widget", default), WIDGETS, "widget")
        if kind == "number":
            for key in ("min", "max"):
                f[key] = self.number(f"{where}.{key}", data[key]) if key in data else None
            if f["min"] is not None and f["max"] is not None and f["min"] > f["max"]:
                self.fail(f"{where}.min", f"greater than max ({data['min']} > {data['max']})")
        if kind == "date":
            for key in ("min_date", "max_date"):
                f[key] = self.date_bound(f"{where}.{key}", data[key], earlier) if key in data else None
            literal = [f[k] for k in ("min_date", "max_date") if f[k] and f[k][0].isdigit()]
            if len(literal) == 2 and f["min_date"] > f["max_date"]:
                self.fail(f"{where}.min_date", f"later than max_date ({f['min_date']} > {f['max_date']})")
        if kind in DEFAULT_MAX_LENGTH:
            self.lengths(where, data, f, kind)
        if kind == "file":
            f["multiple"] = self.boolean(f"{where}.multiple", data.get("multiple", False))
            if "max_bytes" in data:
                f["max_bytes"] = self.integer(f"{where}.max_bytes", data["max_bytes"], least=1)
        field = Field(**f)
        self.fields[field_id] = field
        return field

    def lengths(self, where: str, data: dict, f: dict, kind: str) -> None:
        if "min_length" in data:
            f["min_length"] = self.integer(f"{where}.min_length", data["min_length"])
        f["max_length"] = self.integer(f"{where}.max_length", data.get("max_length", DEFAULT_MAX_LENGTH[kind]), 1)
        if f.get("min_length") is not None and f["min_length"] > f["max_length"]:
            self.fail(f"{where}.min_length", f"greater than max_length ({f['min_length']} > {f['max_length']})")
        if "pattern" in data:
            f["pattern"] = self.string(f"{where}.pattern", data["pattern"])
            try:
                re.compile(f["pattern"])
            except re.error as exc:
                self.fail(f"{where}.pattern", f"not a valid regular expression: {exc}")

    def options(self, where: str, value: Any, kind: str) -> tuple[Option, ...]:
        if value is None:
            self.fail(where, f"required for a {kind} field")
        options: list[Option] = []
        for i, item in enumerate(self.items(where, value), 1):
            here = f"{where}[{i}]"
            self.table(here, item, {"value", "label"})
            option_value = self.string(f"{here}.value", item.get("value"), _OPTION, "letters, digits, _ . -")
            if option_value in [o.value for o in options]:
                self.fail(f"{here}.value", f"{option_value!r} is offered twice")
            options.append(Option(option_value, self.text(f"{here}.label", item.get("label"))))
        if not options:
            self.fail(where, f"a {kind} field needs at least one option")
        return tuple(options)

    def condition(self, where: str, data: Any, available: dict[str, Field],
                  scope: str = "field") -> Condition | None:
        """A condition naming only fields in ``available`` (those asked before it), or None."""
        if data is None:
            return None
        if not isinstance(data, dict):
            self.fail(where, "expected a condition table such as { field = \"x\", equals = \"y\" }")
        if "field" not in data:
            ops = [op for op in ("not", "and", "or") if op in data]
            self.table(where, data, {"not", "and", "or", "field"})
            if len(ops) != 1:
                self.fail(where, "expected field, not, and or or: one of them")
            op = ops[0]
            if op == "not":
                return Condition("not", terms=(self.condition(f"{where}.not", data["not"], available, scope),))
            terms = self.items(f"{where}.{op}", data[op])
            if not terms:
                self.fail(f"{where}.{op}", "needs at least one condition")
            return Condition(op, terms=tuple(self.condition(f"{where}.{op}[{i}]", t, available, scope)
                                             for i, t in enumerate(terms, 1)))
        self.table(where, data, {"field", "equals", "in", "answered"})
        name = self.string(f"{where}.field", data["field"])
        field = available.get(name)
        if field is None and name in self.planned:
            earlier = "on an earlier page" if scope == "page" else "before this point"
            self.fail(f"{where}.field", f"field {name!r} is not asked {earlier}")
        if field is None:
            self.fail(f"{where}.field", f"no field {name!r} in this form")
        if field.type == "help":
            self.fail(f"{where}.field", f"field {name!r} is help text and has no answer")
        ops = [op for op in ("equals", "in", "answered") if op in data]
        if len(ops) != 1:
            self.fail(where, "expected one of equals, in or answered")
        op = ops[0]
        if op == "answered":
            return Condition("answered", name, self.boolean(f"{where}.answered", data["answered"]))
        if field.type == "file":
            self.fail(f"{where}.{op}", f"field {name!r} holds files: only answered applies")
        if op == "equals":
            return Condition("equals", name, self.value(f"{where}.equals", data["equals"], field))
        values = self.items(f"{where}.in", data["in"])
        if not values:
            self.fail(f"{where}.in", "needs at least one value")
        return Condition("in", name, tuple(self.value(f"{where}.in[{i}]", v, field)
                                           for i, v in enumerate(values, 1)))

    def value(self, where: str, value: Any, field: Field) -> Any:
        """A value a condition compares with ``field``'s answer, of the type that answer has."""
        if field.type == "yesno":
            return self.boolean(where, value)
        if field.type == "number":
            self.number(where, value)
            return value
        if field.type == "date":
            return self.date(where, value)
        self.string(where, value)
        if field.options and value not in [o.value for o in field.options]:
            self.fail(where, f"{value!r} is not an option of field {field.id!r}")
        return value

    def reference(self, where: str, value: Any) -> str:
        """An address, or "field:<id>" naming an email or person field."""
        value = self.string(where, value).strip()
        if value.startswith("field:"):
            field = self.fields.get(value[len("field:"):])
            if field is None:
                self.fail(where, f"no field {value[len('field:'):]!r} in this form")
            if field.type not in ("email", "person"):
                self.fail(where, f"field {field.id!r} is a {field.type} field, not email or person")
            return value
        if not EMAIL.match(value):
            self.fail(where, f"expected an address or field:<id>, got {value!r}")
        return value.lower()

    def route(self, where: str, data: Any) -> Route:
        keys = {"when", "department", "priority", "request_type", "assignee", "tags", "participants"}
        self.table(where, data, keys)
        if not set(data) - {"when"}:
            self.fail(where, "sets nothing")
        department = data.get("department")
        known = department is None or self.config.department(self.string(f"{where}.department", department))
        if not known:
            self.fail(f"{where}.department", f"no department {department!r} in the configuration")
        assignee = data.get("assignee")
        if assignee is not None and (self.reference(f"{where}.assignee", assignee).startswith("field:")):
            self.fail(f"{where}.assignee", "expected an agent's address")
        tags = self.items(f"{where}.tags", data.get("tags"))
        return Route(
            when=self.condition(f"{where}.when", data.get("when"), self.fields),
            department=department,
            priority=None if "priority" not in data else self.choice(
                f"{where}.priority", data["priority"], PRIORITIES, "priority"),
            request_type=None if "request_type" not in data else self.choice(
                f"{where}.request_type", data["request_type"], REQUEST_TYPES, "request type"),
            assignee=assignee.strip().lower() if assignee else None,
            tags=tuple(self.string(f"{where}.tags[{i}]", t, _SLUG, "lowercase letters, digits, - and _")
                       for i, t in enumerate(tags, 1)),
            participants=tuple(self.reference(f"{where}.participants[{i}]", p)
                               for i, p in enumerate(self.items(f"{where}.participants",
                                                                data.get("participants")), 1)))

    def approval(self, where: str, data: Any) -> ApprovalRule:
        self.table(where, data, {"when", "approver"})
        return ApprovalRule(self.condition(f"{where}.when", data.get("when"), self.fields),
                            self.reference(f"{where}.approver", data.get("approver")))

    def subject(self, where: str, value: Any) -> dict[str, str]:
        """Subject templates; a plain string serves both languages."""
        raw = value
        if isinstance(value, str):
            value = {"en": value}
        templates = self.text(where, value, required=False)
        for language, template in templates.items():
            for name in PLACEHOLDER.findall(template):
                field = self.fields.get(name.strip())
                if field is None or field.type in ("help", "file"):
                    self.fail(f"{where}.{language}" if isinstance(raw, dict) else where,
                              f"{{{name}}} names no answerable field of this form")
        return templates

    def faq_field(self, where: str, value: Any, first: Page) -> str:
        """The field whose words suggest FAQ articles: a text or textarea field always on the first page."""
        candidates = [f.id for f in first.fields if f.type in ("text", "textarea") and f.show_when is None]
        if value is None:
            return candidates[0] if candidates else ""
        if self.string(where, value) and value not in candidates:
            self.fail(where, f"{value!r} is no text or textarea field shown on the first page")
        return value


def parse_form(data: dict, config, path: str = "<memory>") -> Form:
    """Check a parsed TOML document against the configuration's departments: a Form."""
    return _Reader(path, config).form(data)


def load_form(path: str | Path, config) -> Form:
    """Read and check one form file."""
    path = str(path)
    try:
        data = tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise FormError(path, "file", f"cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FormError(path, "file", f"not valid TOML: {exc}") from None
    return parse_form(data, config, path)


def check_forms(directory: str | Path, config) -> tuple[dict[str, Form], list[FormError]]:
    """Every form of ``directory`` that loads, and the first problem of each one that does not.

    Files are read in name order; a missing directory holds no forms.
    """
    forms: dict[str, Form] = {}
    problems: list[FormError] = []
    directory = Path(directory)
    if not directory.is_dir():
        return forms, problems
    for path in sorted(directory.glob("*.toml")):
        try:
            form = load_form(path, config)
        except FormError as exc:
            problems.append(exc)
            continue
        if form.id in forms:
            problems.append(FormError(form.path, "id", f"{form.id!r} is also the id of {forms[form.id].path}"))
            continue
        forms[form.id] = form
    return forms, problems


def load_forms(directory: str | Path, config) -> dict[str, Form]:
    """The forms of ``directory`` by id, in file-name order; FormError on the first problem."""
    forms, problems = check_forms(directory, config)
    if problems:
        raise problems[0]
    return forms


def forms_of(forms: dict[str, Form], department: str) -> list[Form]:
    """The forms of one department, in file-name order."""
    return [form for form in forms.values() if form.department == department]

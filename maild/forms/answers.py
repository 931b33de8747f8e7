"""Intake-form answers: which pages and fields show, answers parsed and checked, answers as read.

Everything here is pure: the portal passes what a person submitted and gets
back typed answers and messages in the person's language. What a submitted
form becomes (routing, subject, text) is ``maild.forms.submission``.

Answers are a dict of field id -> typed value: ``str`` for text, textarea,
email, phone, person, choice and date ("YYYY-MM-DD"); ``int`` or ``float`` for
number; ``bool`` for yesno; ``list[str]`` for multichoice (option values, in
the options' order) and for file fields (file names, stored by the portal).
An unanswered field has no key.

Conditions may only name fields asked before them (the loader checks it), so
a single walk through the pages in order decides every visibility: ``walk``
carries the answers of the fields seen so far, and an answer kept for a field
that is now hidden never reaches a condition.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from typing import Any

from maild.forms.definition import EMAIL, Condition, Field, Form, Page

MAX_FILES = 10  # files per file field with multiple = true; the portal's own limit too

_PHONE = re.compile(r"^\(?\+?[0-9 ()./-]{4,30}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NB_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_NUMBER = re.compile(r"^[+-]?\d{1,15}(?:[.,]\d{1,10})?$")
# C0 controls other than tab and newline: PostgreSQL refuses NUL in text, and
# none of them belongs in a mail body or a subject.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_YES, _NO = ("yes", "ja", "true", "1", "on"), ("no", "nei", "false", "0", "off")

MESSAGES = {
    "required": ("Please fill in this field.", "Dette feltet må fylles ut."),
    "choice": ("Please choose one of the options.", "Velg ett av alternativene."),
    "one_line": ("Please write this on one line.", "Skriv dette på én linje."),
    "too_short": ("Please write at least {n} characters.", "Skriv minst {n} tegn."),
    "too_long": ("Please write at most {n} characters.", "Skriv høyst {n} tegn."),
    "pattern": ("This does not have the expected form.", "Dette har ikke riktig format."),
    "email": ("Please give a valid email address.", "Oppgi en gyldig e-postadresse."),
    "phone": ("Please give a valid phone number.", "Oppgi et gyldig telefonnummer."),
    "number": ("Please give a number.", "Oppgi et tall."),
    "range": ("Please give a number from {min} to {max}.", "Oppgi et tall fra {min} til {max}."),
    "min": ("Please give a number of at least {min}.", "Oppgi et tall som er minst {min}."),
    "max": ("Please give a number of at most {max}.", "Oppgi et tall som er høyst {max}."),
    "date": ("Please give a valid date (YYYY-MM-DD).", "Oppgi en gyldig dato (DD.MM.ÅÅÅÅ)."),
    "date_min": ("The date must be {min} or later.", "Datoen kan ikke være før {min}."),
    "date_max": ("The date must be {max} or earlier.", "Datoen kan ikke være etter {max}."),
    "date_past": ("The date cannot be in the past.", "Datoen kan ikke være tilbake i tid."),
    "date_future": ("The date cannot be in the future.", "Datoen kan ikke være fram i tid."),
    "yesno": ("Please answer yes or no.", "Svar ja eller nei."),
    "files": ("Attach at most {n} file(s) here.", "Legg ved høyst {n} fil(er) her."),
    "file_size": ("{name} is too large: at most {limit} per file.",
                  "{name} er for stor: høyst {limit} per fil."),
    "invalid": ("This answer is not valid.", "Dette svaret er ikke gyldig."),
}
YES_NO = {"en": ("Yes", "No"), "nb": ("Ja", "Nei")}


def _lang(language: str) -> str:
    return "nb" if language == "nb" else "en"


def _say(key: str, language: str, **values) -> str:
    return MESSAGES[key][_lang(language) == "nb"].format(**values)


def localised(text: dict, language: str) -> str:
    """A text table's words in ``language``, falling back to English; "" when there are none."""
    return text.get(_lang(language)) or text.get("en", "")


def _answered(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != ()


def _same(answer: Any, wanted: Any) -> bool:
    # True == 1 in Python; a yes/no answer must never match the number 1.
    if isinstance(answer, bool) or isinstance(wanted, bool):
        return isinstance(answer, bool) and isinstance(wanted, bool) and answer is wanted
    return answer == wanted


def evaluate(condition: Condition, answers: Mapping[str, Any]) -> bool:
    """Whether ``condition`` holds for ``answers``."""
    op = condition.op
    if op == "and":
        return all(evaluate(term, answers) for term in condition.terms)
    if op == "or":
        return any(evaluate(term, answers) for term in condition.terms)
    if op == "not":
        return not evaluate(condition.terms[0], answers)
    answer = answers.get(condition.field)
    if op == "answered":
        return _answered(answer) is condition.value
    if not _answered(answer):
        return False
    wanted = (condition.value,) if op == "equals" else condition.value
    if isinstance(answer, list):
        return any(_same(item, w) for item in answer for w in wanted)
    return any(_same(answer, w) for w in wanted)


def _shows(thing, answers: Mapping[str, Any]) -> bool:
    return thing.show_when is None or evaluate(thing.show_when, answers)


def walk(form: Form, answers: Mapping[str, Any], stop: Page | None = None):
    """The visible pages with their visible fields, and the answers those fields hold.

    Stops before ``stop`` when it is given: the answers then are what the
    pages before it contribute.
    """
    effective: dict[str, Any] = {}
    shown = []
    for page in form.pages:
        if stop is not None and page.id == stop.id:
            break
        if not _shows(page, effective):
            continue
        fields = []
        for field in page.fields:
            if not _shows(field, effective):
                continue
            fields.append(field)
            if field.type != "help" and _answered(answers.get(field.id)):
                effective[field.id] = answers[field.id]
        shown.append((page, fields))
    return shown, effective


def visible_pages(form: Form, answers: Mapping[str, Any]) -> list[Page]:
    """The pages shown for these answers, in order."""
    return [page for page, _fields in walk(form, answers)[0]]


def visible_fields(page: Page, answers: Mapping[str, Any]) -> list[Field]:
    """The fields of ``page`` shown for these answers, in order.

    Answers to other pages are taken as given: pass ``clean(form, answers)``
    so that an answer kept for a field now hidden cannot show anything.
    """
    own = {field.id for field in page.fields}
    effective = {k: v for k, v in answers.items() if k not in own}
    fields = []
    for field in page.fields:
        if _shows(field, effective):
            fields.append(field)
            if field.type != "help" and _answered(answers.get(field.id)):
                effective[field.id] = answers[field.id]
    return fields


def _named(condition: Condition | None) -> set[str]:
    if condition is None:
        return set()
    return {condition.field} if condition.field else set().union(*(_named(t) for t in condition.terms))


def page_fields(form: Form, page: Page, answers: Mapping[str, Any]) -> list[tuple[Field, bool, bool]]:
    """The fields of ``page`` that show, or may show as it is filled in, as (field, shown, required).

    As ``visible_fields``, a field reads the answers of earlier pages and of
    the shown fields above it. A hidden field is listed only when its rule
    names a field of this page: one hidden by an earlier page's answer cannot
    appear here. ``required`` counts ``required_when``, so a field a rule
    makes required is not called optional.
    """
    own = {field.id for field in page.fields}
    effective = walk(form, answers, stop=page)[1]
    states = []
    for field in page.fields:
        shown = _shows(field, effective)
        if shown or _named(field.show_when) & own:
            states.append((field, shown, shown and field.type != "help" and _required(field, effective)))
        if shown and field.type != "help" and _answered(answers.get(field.id)):
            effective[field.id] = answers[field.id]
    return states


def earlier_answers(form: Form, page: Page, answers: Mapping[str, Any]) -> dict:
    """The answers of the shown fields of the pages before ``page``: what its conditions read from there."""
    return walk(form, answers, stop=page)[1]


def _required(field: Field, answers: Mapping[str, Any]) -> bool:
    return field.required or (field.required_when is not None and evaluate(field.required_when, answers))


def _number_text(value: float, language: str) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text.replace(".", ",") if _lang(language) == "nb" else text


def _date_text(value: str, language: str) -> str:
    if _lang(language) == "nb" and _ISO_DATE.match(value):
        return f"{value[8:10]}.{value[5:7]}.{value[0:4]}"
    return value


def _valid_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return bool(_ISO_DATE.match(text))


def _range_problem(field: Field, value: float, language: str) -> str | None:
    low, high = field.min, field.max
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    if field.message:
        return localised(field.message, language)
    key = "range" if low is not None and high is not None else ("min" if low is not None else "max")
    shown = {k: _number_text(v, language) for k, v in (("min", low), ("max", high)) if v is not None}
    return _say(key, language, **shown)


def _date_bound(bound: str | None, answers: Mapping[str, Any], today: datetime.date | None) -> str | None:
    """A date field's bound as YYYY-MM-DD: itself, today's date, or the earlier field's answer (None if unanswered)."""
    if not bound:
        return None
    if bound == "today":
        return (today or datetime.date.today()).isoformat()
    if bound.startswith("field:"):
        other = answers.get(bound[len("field:"):])
        return other if isinstance(other, str) and _valid_date(other) else None
    return bound


def _problem(field: Field, value: Any, language: str, answers: Mapping[str, Any] | None = None,
             today: datetime.date | None = None) -> str | None:
    """Why a typed answer is not acceptable for ``field``, or None.

    ``answers`` (the others given so far) and ``today`` (the site's date)
    settle date bounds that name a field or "today".
    """
    kind = field.type
    custom = localised(field.message, language) if field.message else ""
    if kind in ("text", "textarea"):
        if not isinstance(value, str):
            return _say("invalid", language)
        if kind == "text" and "\n" in value:
            return _say("one_line", language)
        if field.min_length is not None and len(value) < field.min_length:
            return _say("too_short", language, n=field.min_length)
        if field.max_length is not None and len(value) > field.max_length:
            return _say("too_long", language, n=field.max_length)
        if field.pattern and not re.fullmatch(field.pattern, value):
            return custom or _say("pattern", language)
    elif kind in ("email", "person"):
        if not isinstance(value, str) or len(value) > 254 or not EMAIL.match(value):
            return _say("email", language)
    elif kind == "phone":
        digits = sum(c.isdigit() for c in value) if isinstance(value, str) else 0
        # E.164 numbers have at most 15 digits; Norwegian ones 8 after +47.
        if not isinstance(value, str) or not _PHONE.match(value) or not 5 <= digits <= 15:
            return _say("phone", language)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return _say("number", language)
        return _range_problem(field, value, language)
    elif kind == "date":
        if not isinstance(value, str) or not _valid_date(value):
            return _say("date", language)
        low, high = (_date_bound(b, answers or {}, today) for b in (field.min_date, field.max_date))
        if low and value < low:
            return custom or (_say("date_past", language) if field.min_date == "today"
                              else _say("date_min", language, min=_date_text(low, language)))
        if high and value > high:
            return custom or (_say("date_future", language) if field.max_date == "today"
                              else _say("date_max", language, max=_date_text(high, language)))
    elif kind == "choice":
        if value not in [option.value for option in field.options]:
            return _say("choice", language)
    elif kind == "multichoice":
        offered = [option.value for option in field.options]
        if not isinstance(value, list) or len(set(value)) != len(value) or any(v not in offered for v in value):
            return _say("choice", language)
    elif kind == "yesno":
        if not isinstance(value, bool):
            return _say("yesno", language)
    elif kind == "file":
        limit = MAX_FILES if field.multiple else 1
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            return _say("invalid", language)
        if len(value) > limit:
            return _say("files", language, n=limit)
    return None


def _to_number(text: str) -> int | float:
    # People write "1 000" and, in Norwegian, "37,5".
    text = text.replace(" ", "").replace("\u00a0", "")
    if not _NUMBER.match(text):
        raise ValueError(text)
    text = text.replace(",", ".")
    return float(text) if "." in text else int(text)


def _to_date(text: str) -> str:
    # A date input sends ISO; without one (old browsers) people type 31.12.2025.
    match = _NB_DATE.match(text)
    if match:
        day, month, year = (int(g) for g in match.groups())
        return datetime.date(year, month, day).isoformat()
    if not _valid_date(text):
        raise ValueError(text)
    return text


def _to_yesno(text: str) -> bool:
    word = text.lower()
    if word not in _YES + _NO:
        raise ValueError(text)
    return word in _YES


_CONVERT = {
    "text": lambda t: " ".join(t.split()),
    "email": str.lower, "person": str.lower,
    "phone": lambda t: " ".join(t.split()),
    "number": _to_number, "date": _to_date, "yesno": _to_yesno,
}
_CONVERT_ERROR = {"number": "number", "date": "date", "yesno": "yesno"}


def _parse(field: Field, raw: list[str], language: str, answers: Mapping[str, Any],
           today: datetime.date | None) -> tuple[Any, str | None]:
    """(typed value or None when empty, error or None) for one field's submitted strings."""
    if field.type == "multichoice":
        chosen = {v.strip() for v in raw if v.strip()}
        if not chosen:
            return None, None
        offered = [option.value for option in field.options]
        if not chosen <= set(offered):
            return None, _say("choice", language)
        value: Any = [v for v in offered if v in chosen]
    else:
        # One value is expected; a second one can only come from a tampered form.
        text = _CONTROLS.sub("", raw[0] if raw else "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if not text:
            return None, None
        try:
            value = _CONVERT.get(field.type, str)(text)
        except ValueError:
            return None, _say(_CONVERT_ERROR[field.type], language)
    problem = _problem(field, value, language, answers, today)
    return (None, problem) if problem else (value, None)


def parse_page(form: Form, page: Page, data: Mapping[str, list[str]], language: str,
               answers: Mapping[str, Any] | None = None,
               today: datetime.date | None = None) -> tuple[dict, dict[str, str]]:
    """(typed answers, errors by field id) for one submitted page.

    ``data`` maps field ids to the submitted strings; ``answers`` are the
    answers given so far, which conditions on earlier pages read. Only the
    page's visible fields are read, in order, so a field may depend on one
    above it; anything submitted for a hidden field is ignored. Empty optional
    fields are left out. File fields are the portal's: their earlier answer is
    kept for the conditions below them, and never checked here. ``today`` is
    the site's date, for bounds that say "today" (the machine's when not given).
    """
    answers = answers or {}
    effective = walk(form, answers, stop=page)[1]
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in page.fields:
        if not _shows(field, effective) or field.type == "help":
            continue
        if field.type == "file":
            if _answered(answers.get(field.id)):
                effective[field.id] = answers[field.id]
            continue
        raw = data.get(field.id) or []
        value, error = _parse(field, [raw] if isinstance(raw, str) else list(raw), language, effective, today)
        if error:
            errors[field.id] = error
        elif value is None:
            if _required(field, effective):
                errors[field.id] = _say("required", language)
        else:
            parsed[field.id] = effective[field.id] = value
    return parsed, errors


def check_file(field: Field, filename: str, size: int, language: str) -> str | None:
    """Why an uploaded file does not fit ``field`` (over its max_bytes), or None."""
    if field.max_bytes is not None and size > field.max_bytes:
        return _say("file_size", language, name=filename or "?", limit=_size_text(field.max_bytes, language))
    return None


def _size_text(size: int, language: str) -> str:
    if size >= 1024 * 1024:
        return f"{_number_text(round(size / (1024 * 1024), 1), language)} MB"
    return f"{_number_text(round(size / 1024, 1), language)} kB"


def validate(form: Form, answers: Mapping[str, Any], language: str,
             today: datetime.date | None = None) -> dict[str, str]:
    """Errors keyed "<page_id>.<field_id>" for a final submit; empty when all is well.

    Every visible field of every visible page is checked again: required
    ones (``required_when`` included) must be answered, and every answer must
    still be valid, since answers may have been kept from an earlier visit.
    """
    shown, effective = walk(form, answers)
    errors = {}
    for page, fields in shown:
        for field in fields:
            if field.type == "help":
                continue
            key = f"{page.id}.{field.id}"
            if field.id not in effective:
                if _required(field, effective):
                    errors[key] = _say("required", language)
                continue
            problem = _problem(field, effective[field.id], language, effective, today)
            if problem:
                errors[key] = problem
    return errors


def clean(form: Form, answers: Mapping[str, Any]) -> dict:
    """Only the answers of visible fields of visible pages.

    A changed earlier answer can hide later pages or fields; their answers are
    dropped here so that they are neither stored nor routed on.
    """
    return walk(form, answers)[1]


def display(field: Field, value: Any, language: str) -> str:
    """An answer as a person reads it: choices by their label, Yes/No or Ja/Nei, files by name."""
    labels = {option.value: localised(option.label, language) for option in field.options}
    if field.type == "choice":
        return labels.get(value, str(value))
    if field.type == "multichoice":
        return ", ".join(labels.get(v, str(v)) for v in value)
    if field.type == "yesno":
        return YES_NO[_lang(language)][0 if value else 1]
    if field.type == "number":
        return _number_text(value, language)
    if field.type == "date":
        return _date_text(value, language)
    if field.type == "file":
        return ", ".join(value)
    return str(value)

"""Intake forms (SPEC 5, New request): definitions, conditions, answers, routing and readable text."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import tomllib
from pathlib import Path

import pytest

from maild import checks, forms
from maild import config as configuration
from maild.forms import Condition, FormError, evaluate

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "sensedesk.example.toml"
FORMS_DIR = ROOT / "config" / "forms"

CONFIG = configuration.parse({"departments": [
    {"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"]},
    {"slug": "hr", "name": "HR", "addresses": ["hr@example.test"], "language": "nb"},
]})


def text(en: str, nb: str | None = None) -> dict:
    return {"en": en, "nb": nb} if nb else {"en": en}


def option(value: str, en: str, nb: str | None = None) -> dict:
    return {"value": value, "label": text(en, nb)}


def document() -> dict:
    """A small form with every field type and rule: a fresh copy for each test to change."""
    return {
        "id": "test-form", "department": "helpdesk", "request_type": "incident",
        "title": text("Report", "Melding"), "subject": {"en": "Problem: {category}", "nb": "Problem: {category}"},
        "pages": [
            {"id": "first", "title": text("First", "Første"), "fields": [
                {"id": "intro", "type": "help", "text": text("Read this.", "Les dette.")},
                {"id": "category", "type": "choice", "label": text("Category", "Kategori"), "required": True,
                 "options": [option("printer", "Printer", "Skriver"), option("network", "Network", "Nettverk"),
                             option("other", "Other", "Annet")]},
                {"id": "printer_name", "type": "text", "label": text("Printer name", "Skrivernavn"),
                 "required": True, "show_when": {"field": "category", "equals": "printer"}},
                {"id": "urgent", "type": "yesno", "label": text("Urgent?", "Haster det?")},
                {"id": "manager", "type": "person", "label": text("Manager", "Leder"),
                 "required_when": {"field": "urgent", "equals": True}},
                {"id": "extras", "type": "multichoice", "label": text("Extras", "Tillegg"),
                 "options": [option("a", "A"), option("b", "B"), option("c", "C")]},
                {"id": "count", "type": "number", "label": text("Count", "Antall"), "min": 1, "max": 40},
                {"id": "code", "type": "text", "label": text("Code"), "pattern": "[A-Z]{2}-[0-9]{4}",
                 "message": text("A code looks like AB-1234.", "En kode ser slik ut: AB-1234.")},
                {"id": "day", "type": "date", "label": text("Day", "Dag"),
                 "min_date": "2025-01-01", "max_date": "2030-12-31"},
                {"id": "contact", "type": "email", "label": text("Email", "E-post")},
                {"id": "mobile", "type": "phone", "label": text("Mobile", "Mobil")},
                {"id": "files", "type": "file", "label": text("Files", "Filer"), "multiple": True,
                 "max_bytes": 1000},
            ]},
            {"id": "network", "title": text("Network", "Nettverk"),
             "show_when": {"field": "category", "equals": "network"},
             "fields": [{"id": "place", "type": "text", "label": text("Where", "Hvor"), "required": True}]},
            {"id": "last", "title": text("Last", "Siste"), "fields": [
                {"id": "notes", "type": "textarea", "label": text("Notes", "Notater"), "max_length": 50},
                {"id": "one_file", "type": "file", "label": text("One file", "Én fil")}]},
        ],
        "routes": [
            {"when": {"field": "urgent", "equals": True}, "priority": "high", "tags": ["urgent"]},
            {"when": {"field": "category", "equals": "network"}, "priority": "urgent", "department": "hr",
             "tags": ["network", "urgent"], "participants": ["field:contact", "Boss@Example.test"]},
            {"tags": ["form"], "participants": ["boss@example.test", "field:manager"], "request_type": "change",
             "assignee": "Agent@Example.test"},
        ],
        "approvals": [
            {"when": {"field": "extras", "equals": "c"}, "approver": "field:manager"},
            {"approver": "Finance@Example.test"},
        ],
    }


def make(doc: dict | None = None) -> forms.Form:
    return forms.parse_form(doc or document(), CONFIG, "test.toml")


FORM = make()


def page(form: forms.Form, page_id: str) -> forms.Page:
    return next(p for p in form.pages if p.id == page_id)


def ids(items) -> list[str]:
    return [item.id for item in items]


# --- conditions ---------------------------------------------------------------

ANSWERS = {"category": "printer", "urgent": True, "no": False, "extras": ["a", "c"], "count": 3}
IS_PRINTER = Condition("equals", "category", "printer")
IS_NETWORK = Condition("equals", "category", "network")


@pytest.mark.parametrize("condition, expected", [
    (IS_PRINTER, True),
    (IS_NETWORK, False),
    (Condition("equals", "missing", "x"), False),
    (Condition("equals", "urgent", True), True),
    (Condition("equals", "no", False), True),
    (Condition("equals", "urgent", 1), False),  # a yes is never the number 1
    (Condition("equals", "count", 3), True),
    (Condition("equals", "count", 3.0), True),
    (Condition("equals", "extras", "c"), True),  # multichoice: contains
    (Condition("equals", "extras", "b"), False),
    (Condition("in", "category", ("network", "printer")), True),
    (Condition("in", "category", ("network",)), False),
    (Condition("in", "extras", ("b", "c")), True),
    (Condition("in", "extras", ("b",)), False),
    (Condition("in", "missing", ("x",)), False),
    (Condition("answered", "category", True), True),
    (Condition("answered", "no", True), True),  # "no" is an answer
    (Condition("answered", "missing", True), False),
    (Condition("answered", "missing", False), True),
    (Condition("not", terms=(IS_PRINTER,)), False),
    (Condition("not", terms=(Condition("equals", "missing", "x"),)), True),
    (Condition("and", terms=(IS_PRINTER, Condition("equals", "urgent", True))), True),
    (Condition("and", terms=(IS_PRINTER, IS_NETWORK)), False),
    (Condition("or", terms=(IS_NETWORK, IS_PRINTER)), True),
    (Condition("or", terms=(IS_NETWORK, Condition("equals", "urgent", False))), False),
    (Condition("or", terms=(Condition("and", terms=(IS_NETWORK, IS_PRINTER)),
                            Condition("not", terms=(Condition("in", "extras", ("b",)),)))), True),
    (Condition("not", terms=(Condition("or", terms=(IS_PRINTER, IS_NETWORK)),)), False),
])
def test_evaluate(condition, expected):
    assert evaluate(condition, ANSWERS) is expected


def test_conditions_are_read_from_toml_tables():
    doc = document()
    doc["pages"][0]["fields"][4]["required_when"] = {"not": {"and": [
        {"field": "urgent", "equals": True}, {"or": [{"field": "category", "in": ["printer", "other"]},
                                                     {"field": "category", "answered": False}]}]}}
    field = make(doc).field("manager")
    assert field.required_when == Condition("not", terms=(Condition("and", terms=(
        Condition("equals", "urgent", True),
        Condition("or", terms=(Condition("in", "category", ("printer", "other")),
                               Condition("answered", "category", False))))),))
    assert evaluate(field.required_when, {"urgent": True, "category": "network"})
    assert not evaluate(field.required_when, {"urgent": True, "category": "other"})


# --- visibility ---------------------------------------------------------------

def test_pages_are_shown_by_earlier_answers():
    assert ids(forms.visible_pages(FORM, {})) == ["first", "last"]
    assert ids(forms.visible_pages(FORM, {"category": "network"})) == ["first", "network", "last"]
    assert ids(forms.visible_pages(FORM, {"category": "printer"})) == ["first", "last"]


def test_fields_are_shown_by_answers_above_them():
    first = page(FORM, "first")
    assert "printer_name" not in ids(forms.visible_fields(first, {}))
    assert "printer_name" in ids(forms.visible_fields(first, {"category": "printer"}))
    assert ids(forms.visible_fields(first, {"category": "other"}))[:3] == ["intro", "category", "urgent"]


def test_a_stale_answer_on_a_hidden_field_shows_nothing():
    doc = document()
    doc["pages"][1]["fields"].append({"id": "cable", "type": "yesno", "label": text("Cable?")})
    doc["pages"][2]["show_when"] = {"field": "cable", "equals": True}
    form = make(doc)
    # "cable" was answered while the network page was shown; the category changed since.
    assert ids(forms.visible_pages(form, {"category": "network", "cable": True})) == ["first", "network", "last"]
    assert ids(forms.visible_pages(form, {"category": "other", "cable": True})) == ["first"]


# --- parse_page -----------------------------------------------------------------

def parse(data: dict, language: str = "en", page_id: str = "first", answers: dict | None = None):
    values = {k: v if isinstance(v, list) else [v] for k, v in data.items()}
    return forms.parse_page(FORM, page(FORM, page_id), values, language, answers)


def test_parse_page_types_the_answers():
    answers, errors = parse({"category": "printer", "printer_name": "  HP   4th floor ", "urgent": "yes",
                             "manager": "Kari@Example.TEST ", "extras": ["c", "a", "c"], "count": "37,5",
                             "code": "AB-1234", "day": "01.03.2026", "contact": "per@example.test",
                             "mobile": "+47 912 34 567", "files": "ignored.png", "intro": "x"})
    assert errors == {}
    assert answers == {"category": "printer", "printer_name": "HP 4th floor", "urgent": True,
                       "manager": "kari@example.test", "extras": ["a", "c"], "count": 37.5, "code": "AB-1234",
                       "day": "2026-03-01", "contact": "per@example.test", "mobile": "+47 912 34 567"}
    answers, errors = parse({"category": "other", "urgent": "nei", "count": "12", "day": "2026-03-01"})
    assert errors == {} and answers == {"category": "other", "urgent": False, "count": 12, "day": "2026-03-01"}
    assert type(answers["count"]) is int


def test_empty_optional_fields_are_left_out():
    answers, errors = parse({"category": "other", "urgent": "", "extras": [], "count": " ", "notes": ""})
    assert (answers, errors) == ({"category": "other"}, {})


def test_textarea_keeps_its_lines_and_loses_control_characters():
    answers, errors = parse({"notes": "line one\r\nline\x00 two\n"}, page_id="last")
    assert errors == {} and answers == {"notes": "line one\nline two"}


@pytest.mark.parametrize("language, required, number", [
    ("en", "Please fill in this field.", "Please give a number."),
    ("nb", "Dette feltet må fylles ut.", "Oppgi et tall."),
])
def test_errors_are_in_the_asked_language(language, required, number):
    answers, errors = parse({"category": "printer", "count": "many"}, language)
    assert errors == {"printer_name": required, "count": number}
    assert answers == {"category": "printer"}


def test_a_field_hidden_by_the_answer_above_it_is_ignored_even_when_sent():
    answers, errors = parse({"category": "other", "printer_name": "tampered"})
    assert errors == {} and "printer_name" not in answers
    # Fields of another page, or no field at all, are not read either.
    answers, errors = parse({"category": "other", "place": "x", "nonsense": "y"})
    assert answers == {"category": "other"}


def test_hidden_page_depends_on_the_answers_given_so_far():
    network = page(FORM, "network")
    assert forms.parse_page(FORM, network, {"place": ["Oslo"]}, "en", {"category": "network"}) == (
        {"place": "Oslo"}, {})
    # The page's required field is demanded.
    assert forms.parse_page(FORM, network, {}, "en", {"category": "network"})[1] == {
        "place": "Please fill in this field."}


@pytest.mark.parametrize("field, value", [
    ("category", "scanner"), ("extras", ["a", "z"]), ("urgent", "maybe"),
])
def test_an_answer_not_offered_is_an_error(field, value):
    answers, errors = parse({"category": "other", field: value})
    assert field in errors and field not in answers


@pytest.mark.parametrize("value, en, nb", [
    ("0", "Please give a number from 1 to 40.", "Oppgi et tall fra 1 til 40."),
    ("41", "Please give a number from 1 to 40.", "Oppgi et tall fra 1 til 40."),
    ("40,5", "Please give a number from 1 to 40.", "Oppgi et tall fra 1 til 40."),
    ("1e5", "Please give a number.", "Oppgi et tall."),
    ("nan", "Please give a number.", "Oppgi et tall."),
])
def test_number_range(value, en, nb):
    assert parse({"count": value})[1]["count"] == en
    assert parse({"count": value}, "nb")[1]["count"] == nb


def test_number_bound_on_one_side_and_in_norwegian_decimals():
    doc = document()
    doc["pages"][0]["fields"][6].update({"min": 0.5})
    del doc["pages"][0]["fields"][6]["max"]
    form = make(doc)
    errors = forms.parse_page(form, form.pages[0], {"count": ["0,25"]}, "nb")[1]
    assert errors == {"count": "Oppgi et tall som er minst 0,5.", "category": "Dette feltet må fylles ut."}


@pytest.mark.parametrize("value, ok", [("AB-1234", True), ("ab-1234", False), ("XAB-1234", False),
                                       ("AB-12345", False)])
def test_pattern_matches_the_whole_answer_and_says_the_forms_message(value, ok):
    assert ("code" not in parse({"code": value})[1]) is ok
    if not ok:
        assert parse({"code": value})[1]["code"] == "A code looks like AB-1234."
        assert parse({"code": value}, "nb")[1]["code"] == "En kode ser slik ut: AB-1234."


@pytest.mark.parametrize("value, en", [
    ("2026-02-30", "Please give a valid date (YYYY-MM-DD)."),
    ("31.02.2026", "Please give a valid date (YYYY-MM-DD)."),
    ("tomorrow", "Please give a valid date (YYYY-MM-DD)."),
    ("20260301", "Please give a valid date (YYYY-MM-DD)."),
    ("2024-12-31", "The date must be 2025-01-01 or later."),
    ("2031-01-01", "The date must be 2030-12-31 or earlier."),
])
def test_date_validity(value, en):
    assert parse({"day": value})[1]["day"] == en


def test_date_bounds_in_norwegian():
    assert parse({"day": "2024-12-31"}, "nb")[1]["day"] == "Datoen kan ikke være før 01.01.2025."


def test_a_date_may_be_bound_by_today_or_by_an_earlier_date():
    doc = document()
    fields = doc["pages"][0]["fields"]
    fields.insert(fields.index(field_of(doc, "day")) + 1, {"id": "until", "type": "date", "label": text("Until"),
                                                            "min_date": "field:day", "max_date": "2030-06-30"})
    fields.append({"id": "needed", "type": "date", "label": text("Needed by"), "min_date": "today"})
    form = make(doc)
    first = page(form, "first")
    today = datetime.date(2026, 12, 3)

    def errors(data, language="en"):
        return forms.parse_page(form, first, {k: [v] for k, v in data.items()}, language, today=today)[1]

    assert errors({"day": "2027-01-04", "until": "2027-01-03"})["until"] == "The date must be 2027-01-04 or later."
    assert errors({"day": "2027-01-04", "until": "2027-01-03"}, "nb")["until"] == "Datoen kan ikke være før 04.01.2027."
    assert "until" not in errors({"day": "2027-01-04", "until": "2027-01-04"})
    assert "until" not in errors({"until": "2026-01-01"})  # no start given: nothing to compare with
    assert errors({"needed": "2026-12-02"})["needed"] == "The date cannot be in the past."
    assert errors({"needed": "2026-12-02"}, "nb")["needed"] == "Datoen kan ikke være tilbake i tid."
    assert "needed" not in errors({"needed": "2026-12-03"})
    # Checked again on submit, with the answers kept.
    answers = {"category": "other", "day": "2027-01-04", "until": "2027-01-01", "needed": "2020-01-01"}
    assert set(forms.validate(form, answers, "en", today=today)) >= {"first.until", "first.needed"}


@pytest.mark.parametrize("field, value, ok", [
    ("contact", "per@example.no", True),
    ("contact", "Per.Hansen+desk@mail.example.no", True),
    ("contact", "per", False),
    ("contact", "per@example", False),
    ("contact", "per@@example.no", False),
    ("contact", "per hansen@example.no", False),
    ("manager", "kari@example.no, ola@example.no", False),
    ("mobile", "+47 912 34 567", True),
    ("mobile", "22 12 34 56", True),
    ("mobile", "(+47) 22-12-34-56", True),
    ("mobile", "1234", False),
    ("mobile", "call me", False),
    ("mobile", "+47 1234 5678 9012 3456", False),
])
def test_email_and_phone(field, value, ok):
    errors = parse({"category": "other", field: value})[1]
    assert (field not in errors) is ok
    if not ok:
        assert errors[field] in ("Please give a valid email address.", "Please give a valid phone number.")


def test_text_length():
    doc = document()
    doc["pages"][0]["fields"][2].update({"min_length": 3, "max_length": 5})
    form = make(doc)
    errors = forms.parse_page(form, form.pages[0], {"category": ["printer"], "printer_name": ["ab"]}, "en")[1]
    assert errors == {"printer_name": "Please write at least 3 characters."}
    errors = forms.parse_page(form, form.pages[0], {"category": ["printer"], "printer_name": ["abcdef"]}, "nb")[1]
    assert errors == {"printer_name": "Skriv høyst 5 tegn."}
    # Without max_length a text field still has one: 200 characters.
    assert FORM.field("code").max_length == 200 and FORM.field("notes").max_length == 50


def test_required_when():
    assert parse({"category": "other", "urgent": "yes"})[1] == {"manager": "Please fill in this field."}
    assert parse({"category": "other", "urgent": "no"})[1] == {}
    assert parse({"category": "other"})[1] == {}


# --- files --------------------------------------------------------------------

def test_check_file():
    files = FORM.field("files")
    assert forms.check_file(files, "shot.png", 1000, "en") is None
    assert forms.check_file(files, "shot.png", 1001, "en") == "shot.png is too large: at most 1 kB per file."
    assert forms.check_file(files, "bilde.png", 1001, "nb") == "bilde.png er for stor: høyst 1 kB per fil."
    assert forms.check_file(FORM.field("one_file"), "huge.iso", 10**12, "en") is None  # no limit of its own
    ten = dataclasses.replace(files, max_bytes=10 * 1024 * 1024)
    assert forms.check_file(ten, "a.pdf", 11 * 1024 * 1024, "en") == "a.pdf is too large: at most 10 MB per file."


# --- validate and clean -------------------------------------------------------

def test_validate_demands_only_visible_required_fields():
    assert forms.validate(FORM, {"category": "other"}, "en") == {}
    assert forms.validate(FORM, {}, "nb") == {"first.category": "Dette feltet må fylles ut."}
    assert forms.validate(FORM, {"category": "printer"}, "en") == {
        "first.printer_name": "Please fill in this field."}
    assert forms.validate(FORM, {"category": "network"}, "en") == {"network.place": "Please fill in this field."}
    assert forms.validate(FORM, {"category": "other", "urgent": True}, "en") == {
        "first.manager": "Please fill in this field."}


def test_validate_checks_kept_answers_again():
    answers = {"category": "scanner", "count": 99, "urgent": "yes", "extras": ["a", "a"], "day": "2026-02-30",
               "files": [f"{i}.png" for i in range(11)], "one_file": ["a.png", "b.png"], "notes": "x" * 51,
               "contact": "nobody"}
    errors = forms.validate(FORM, answers, "en")
    assert set(errors) == {"first.category", "first.count", "first.urgent", "first.extras", "first.day",
                           "first.files", "first.contact", "last.one_file", "last.notes"}
    assert errors["first.files"] == "Attach at most 10 file(s) here."
    ok = {"category": "other", "files": [f"{i}.png" for i in range(10)], "one_file": ["a.png"]}
    assert forms.validate(FORM, ok, "en") == {}


def test_clean_drops_answers_hidden_by_a_changed_earlier_answer():
    answers = {"category": "network", "place": "Oslo", "printer_name": "HP", "notes": "n", "intro": "x",
               "unknown": 1, "urgent": False}
    assert forms.clean(FORM, answers) == {"category": "network", "place": "Oslo", "notes": "n", "urgent": False}
    answers["category"] = "printer"
    assert forms.clean(FORM, answers) == {"category": "printer", "printer_name": "HP", "notes": "n",
                                          "urgent": False}


# --- routing ------------------------------------------------------------------

def test_route_defaults_and_unconditional_rules():
    routing = forms.route(FORM, {"category": "other"})
    assert routing == forms.Routing(department="helpdesk", priority="normal", request_type="change",
                                    assignee="agent@example.test", tags=("form",),
                                    participants=("boss@example.test",), approvers=("finance@example.test",))


def test_route_later_wins_and_lists_accumulate():
    answers = {"category": "network", "urgent": True, "contact": "Per@Example.test",
               "manager": "kari@example.test", "extras": ["c"], "place": "Oslo"}
    routing = forms.route(FORM, answers)
    assert routing.priority == "urgent" and routing.department == "hr"
    assert routing.tags == ("urgent", "network", "form")
    assert routing.participants == ("per@example.test", "boss@example.test", "kari@example.test")
    assert routing.approvers == ("kari@example.test", "finance@example.test")
    assert forms.route(FORM, {"category": "printer", "urgent": True}).priority == "high"


def test_route_reads_only_visible_answers():
    doc = document()
    doc["routes"].append({"when": {"field": "place", "answered": True}, "priority": "low"})
    form = make(doc)
    assert forms.route(form, {"category": "network", "place": "Oslo"}).priority == "low"
    assert forms.route(form, {"category": "other", "place": "Oslo"}).priority == "normal"


def test_a_form_without_routes():
    doc = document()
    del doc["routes"], doc["approvals"]
    assert forms.route(make(doc), {}) == forms.Routing("helpdesk", "normal", "incident", None, (), (), ())


# --- readable text and subject ------------------------------------------------

FULL = {"category": "printer", "printer_name": "HP 4th floor", "urgent": True, "manager": "kari@example.test",
        "extras": ["a", "c"], "count": 37.5, "day": "2026-03-01", "files": ["a.png", "b.txt"],
        "notes": "line one\n\nline three", "place": "hidden, so left out"}


def test_answers_text_in_english():
    assert forms.answers_text(FORM, FULL, "en") == (
        "First\n"
        "Category: Printer\n"
        "Printer name: HP 4th floor\n"
        "Urgent?: Yes\n"
        "Manager: kari@example.test\n"
        "Extras: A, C\n"
        "Count: 37.5\n"
        "Day: 2026-03-01\n"
        "Files: a.png, b.txt\n"
        "\n"
        "Last\n"
        "Notes:\n"
        "  line one\n"
        "\n"
        "  line three")


def test_answers_text_in_norwegian():
    text_nb = forms.answers_text(FORM, dict(FULL, urgent=False), "nb")
    assert text_nb.startswith("Første\nKategori: Skriver\nSkrivernavn: HP 4th floor\nHaster det?: Nei\n")
    assert "Antall: 37,5\nDag: 01.03.2026\nFiler: a.png, b.txt\n\nSiste\nNotater:\n" in text_nb
    # Labels without Norwegian fall back to English.
    assert "Tillegg: A, C" in text_nb


def test_subject():
    assert forms.subject(FORM, {"category": "printer"}, "en") == "Problem: Printer"
    assert forms.subject(FORM, {"category": "printer"}, "nb") == "Problem: Skriver"
    assert forms.subject(FORM, {}, "en") == "Problem"
    doc = document()
    del doc["subject"]
    assert forms.subject(make(doc), FULL, "nb") == "Melding"
    doc["subject"] = "Notes: {notes}"  # a plain string serves both languages
    form = make(doc)
    assert forms.subject(form, {"category": "other", "notes": "two\nlines"}, "nb") == "Notes: two lines"
    long = forms.subject(form, {"category": "other", "notes": "word " * 100}, "en")
    assert len(long) == 150 and long.endswith("…")


# --- definitions: one-line errors naming the file and the place ---------------

def field_of(doc: dict, field_id: str) -> dict:
    return next(f for p in doc["pages"] for f in p["fields"] if f["id"] == field_id)


def change(path: str, value):
    """A change to document(): set (or, with value DELETE, remove) the key at a dotted path."""
    def apply(doc):
        *parents, last = path.split(".")
        target = doc
        for part in parents:
            target = field_of(doc, part[1:]) if part.startswith("@") else \
                target[int(part)] if part.isdigit() else target[part]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return apply


DELETE = object()
F = "pages.0.fields"

BAD = {
    "unknown-form-key": (change("colour", "red"), "colour", "unknown key"),
    "no-id": (change("id", DELETE), "id", "required"),
    "bad-id": (change("id", "Test Form"), "id", "got 'Test Form'"),
    "unknown-department": (change("department", "finance"), "department", "no department 'finance'"),
    "unknown-request-type": (change("request_type", "wish"), "request_type", "unknown request type 'wish'"),
    "no-title": (change("title", DELETE), "title", "required"),
    "title-not-a-table": (change("title", "Report"), "title", "expected a table"),
    "no-pages": (change("pages", []), "pages", "at least one page"),
    "page-unknown-key": (change("pages.1.colour", 1), "pages[2].colour", "unknown key"),
    "page-id-twice": (change("pages.1.id", "first"), "pages[2].id", "earlier page"),
    "page-only-help": (change("pages.2.fields", [{"id": "h", "type": "help", "text": text("x")}]),
                       "pages[3].fields", "at least one question"),
    "field-not-a-table": (change("pages.2.fields", ["notes"]), "pages[3].fields[1]", "expected a table"),
    "field-no-id": (change(f"{F}.1.id", DELETE), "pages[1].fields[2].id", "required"),
    "field-unknown-key": (change("@category.colour", "red"), "pages[1].fields.category.colour", "unknown key"),
    "field-id-twice": (change("pages.1.fields.0.id", "category"), "pages[2].fields.category.id", "earlier field"),
    "field-id-reserved": (change("pages.1.fields.0.id", "request"), "pages[2].fields.request.id",
                          "the portal's form pages use"),
    "unknown-type": (change("@day.type", "dat"), "pages[1].fields.day.type", "unknown type 'dat'"),
    "no-label": (change("@category.label", DELETE), "pages[1].fields.category.label", "required"),
    "no-english": (change("@category.label", {"nb": "Kategori"}), "pages[1].fields.category.label.en", "required"),
    "empty-english": (change("@category.label", {"en": " "}), "pages[1].fields.category.label.en", "required"),
    "unknown-language": (change("@category.label", {"en": "C", "de": "K"}), "pages[1].fields.category.label.de",
                         "unknown key"),
    "label-not-text": (change("@category.label", {"en": 5}), "pages[1].fields.category.label.en",
                       "expected a string"),
    "bad-pattern": (change("@code.pattern", "[A-Z"), "pages[1].fields.code.pattern",
                    "not a valid regular expression"),
    "choice-without-options": (change("@category.options", DELETE), "pages[1].fields.category.options",
                               "required for a choice field"),
    "choice-empty-options": (change("@extras.options", []), "pages[1].fields.extras.options", "at least one option"),
    "option-twice": (change("@extras.options", [option("a", "A"), option("a", "B")]),
                     "pages[1].fields.extras.options[2].value", "offered twice"),
    "option-without-label": (change("@extras.options", [{"value": "a"}]), "pages[1].fields.extras.options[1].label",
                             "required"),
    "options-on-a-number": (change("@count.options", [option("a", "A")]), "pages[1].fields.count.options",
                            "does not apply to a number field"),
    "pattern-on-a-date": (change("@day.pattern", "x"), "pages[1].fields.day.pattern", "does not apply to a date"),
    "unknown-widget": (change("@category.widget", "slider"), "pages[1].fields.category.widget", "unknown widget"),
    "min-over-max": (change("@count.min", 50), "pages[1].fields.count.min", "greater than max"),
    "min-not-a-number": (change("@count.min", "1"), "pages[1].fields.count.min", "expected a number"),
    "min-length-over-max": (change("@notes.min_length", 60), "pages[3].fields.notes.min_length",
                            "greater than max_length"),
    "min-date-after-max": (change("@day.min_date", "2031-01-01"), "pages[1].fields.day.min_date", "later than"),
    "bad-min-date": (change("@day.min_date", "1.1.2025"), "pages[1].fields.day.min_date", "YYYY-MM-DD"),
    "min-date-unknown-field": (change("@day.min_date", "field:start"), "pages[1].fields.day.min_date",
                               "names no date field asked before"),
    "min-date-not-a-date-field": (change("@day.max_date", "field:code"), "pages[1].fields.day.max_date",
                                  "names no date field asked before"),
    "max-bytes-zero": (change("@files.max_bytes", 0), "pages[1].fields.files.max_bytes", "at least 1"),
    "required-not-bool": (change("@category.required", "yes"), "pages[1].fields.category.required",
                          "expected true or false"),
    "help-required": (change("@intro.required", True), "pages[1].fields.intro.required",
                      "does not apply to a help field"),
    "help-without-text": (change("@intro.text", DELETE), "pages[1].fields.intro.text", "required"),
    "required-and-required-when": (change("@manager.required", True), "pages[1].fields.manager.required_when",
                                   "no effect"),
    "condition-unknown-field": (change("@printer_name.show_when", {"field": "nope", "equals": "x"}),
                                "pages[1].fields.printer_name.show_when.field", "no field 'nope'"),
    "condition-on-a-later-field": (change("@printer_name.show_when", {"field": "urgent", "equals": True}),
                                   "pages[1].fields.printer_name.show_when.field", "not asked before this point"),
    "condition-on-itself": (change("@printer_name.show_when", {"field": "printer_name", "answered": True}),
                            "pages[1].fields.printer_name.show_when.field", "not asked before this point"),
    "page-condition-on-its-own-field": (change("pages.1.show_when", {"field": "place", "answered": True}),
                                        "pages[2].show_when.field", "not asked on an earlier page"),
    "condition-on-help": (change("@printer_name.show_when", {"field": "intro", "answered": True}),
                          "pages[1].fields.printer_name.show_when.field", "help text"),
    "condition-not-an-option": (change("@printer_name.show_when", {"field": "category", "equals": "scanner"}),
                                "pages[1].fields.printer_name.show_when.equals", "not an option"),
    "condition-yesno-not-bool": (change("@manager.required_when", {"field": "urgent", "equals": "yes"}),
                                 "pages[1].fields.manager.required_when.equals", "expected true or false"),
    "condition-in-empty": (change("@printer_name.show_when", {"field": "category", "in": []}),
                           "pages[1].fields.printer_name.show_when.in", "at least one value"),
    "condition-two-tests": (change("@printer_name.show_when", {"field": "category", "equals": "printer",
                                                               "answered": True}),
                            "pages[1].fields.printer_name.show_when", "one of equals, in or answered"),
    "condition-unknown-operator": (change("@printer_name.show_when", {"xor": []}),
                                   "pages[1].fields.printer_name.show_when.xor", "unknown key"),
    "condition-not-a-table": (change("@printer_name.show_when", "category == printer"),
                              "pages[1].fields.printer_name.show_when", "expected a condition table"),
    "condition-nested": (change("routes.0.when", {"or": [{"field": "urgent", "equals": True},
                                                         {"not": {"field": "nope", "answered": True}}]}),
                         "routes[1].when.or[2].not.field", "no field 'nope'"),
    "condition-file-equals": (change("routes.0.when", {"field": "files", "equals": "a.png"}),
                              "routes[1].when.equals", "only answered applies"),
    "route-unknown-key": (change("routes.0.colour", 1), "routes[1].colour", "unknown key"),
    "route-sets-nothing": (change("routes", [{"when": {"field": "urgent", "equals": True}}]), "routes[1]",
                           "sets nothing"),
    "route-unknown-priority": (change("routes.0.priority", "asap"), "routes[1].priority", "unknown priority 'asap'"),
    "route-unknown-request-type": (change("routes.2.request_type", "wish"), "routes[3].request_type",
                                   "unknown request type"),
    "route-unknown-department": (change("routes.1.department", "finance"), "routes[2].department",
                                 "no department 'finance'"),
    "route-bad-tag": (change("routes.0.tags", ["Very urgent"]), "routes[1].tags[1]", "got 'Very urgent'"),
    "route-bad-participant": (change("routes.2.participants", ["boss"]), "routes[3].participants[1]",
                              "expected an address or field:<id>"),
    "participant-unknown-field": (change("routes.2.participants", ["field:boss"]), "routes[3].participants[1]",
                                  "no field 'boss'"),
    "participant-not-an-address-field": (change("routes.2.participants", ["field:category"]),
                                         "routes[3].participants[1]", "is a choice field"),
    "assignee-from-a-field": (change("routes.2.assignee", "field:manager"), "routes[3].assignee",
                              "an agent's address"),
    "approver-unknown-field": (change("approvals.0.approver", "field:nobody"), "approvals[1].approver",
                               "no field 'nobody'"),
    "approver-missing": (change("approvals.1.approver", DELETE), "approvals[2].approver", "required"),
    "approval-unknown-key": (change("approvals.1.priority", "high"), "approvals[2].priority", "unknown key"),
    "subject-unknown-placeholder": (change("subject", {"en": "About {categroy}"}), "subject.en",
                                    "{categroy} names no answerable field"),
    "subject-placeholder-of-help": (change("subject", "About {intro}"), "subject", "{intro}"),
    "routes-not-an-array": (change("routes", {"priority": "high"}), "routes", "expected an array"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_definition_is_one_line_naming_file_and_place(name):
    mutate, where, problem = BAD[name]
    doc = copy.deepcopy(document())
    mutate(doc)
    with pytest.raises(FormError) as caught:
        make(doc)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"test.toml: {where}: "), message
    assert problem in message, message


def test_line_breaks_in_a_definition_stay_on_one_line():
    doc = document()
    doc["id"] = "two\nlines"
    with pytest.raises(FormError) as caught:
        make(doc)
    assert "\n" not in str(caught.value) and caught.value.where == "id"


def write(directory: Path, name: str, doc_text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(doc_text, encoding="utf-8")
    return path


SMALL = """
id = "{id}"
department = "hr"
request_type = "question"
title = {{ en = "Question", nb = "Spørsmål" }}
[[pages]]
id = "ask"
title = {{ en = "Ask" }}
  [[pages.fields]]
  id = "question"
  type = "textarea"
  label = {{ en = "Question", nb = "Spørsmål" }}
  required = true
"""


def test_load_forms_reads_every_file_in_name_order(tmp_path):
    write(tmp_path, "b.toml", SMALL.format(id="second"))
    write(tmp_path, "a.toml", SMALL.format(id="first"))
    write(tmp_path, "notes.txt", "not a form")
    loaded = forms.load_forms(tmp_path, CONFIG)
    assert list(loaded) == ["first", "second"]
    assert loaded["first"].path == str(tmp_path / "a.toml")
    assert loaded["first"].pages[0].title == {"en": "Ask", "nb": "Ask"}  # nb falls back to en
    assert [f.id for f in forms.forms_of(loaded, "hr")] == ["first", "second"]
    assert forms.forms_of(loaded, "helpdesk") == []
    assert forms.load_forms(tmp_path / "missing", CONFIG) == {}


def test_load_forms_refuses_an_id_twice_and_bad_toml(tmp_path):
    write(tmp_path, "a.toml", SMALL.format(id="same"))
    write(tmp_path, "b.toml", SMALL.format(id="same"))
    with pytest.raises(FormError, match=r"b\.toml: id: 'same' is also the id of .*a\.toml$"):
        forms.load_forms(tmp_path, CONFIG)
    write(tmp_path, "b.toml", "id = \n")
    with pytest.raises(FormError) as caught:
        forms.load_forms(tmp_path, CONFIG)
    assert str(caught.value).startswith(f"{tmp_path / 'b.toml'}: file: not valid TOML")
    (tmp_path / "b.toml").write_bytes(b"id = '\xff'")
    with pytest.raises(FormError, match="not valid TOML"):
        forms.load_forms(tmp_path, CONFIG)


def test_sensedesk_check_reports_each_broken_form(tmp_path, capsys):
    write(tmp_path, "a.toml", SMALL.format(id="good"))
    write(tmp_path, "b.toml", SMALL.format(id="bad").replace('type = "textarea"', 'type = "essay"'))
    write(tmp_path, "c.toml", SMALL.format(id="also-bad").replace('"hr"', '"finance"'))
    config = configuration.parse({"site": {"forms_dir": str(tmp_path)}, "departments": [
        {"slug": "hr", "name": "HR", "addresses": ["hr@example.test"]}]})
    assert checks._check_forms(config) is False
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"FAIL forms: {tmp_path / 'b.toml'}: pages[1].fields.question.type: unknown type 'essay'",
                     f"FAIL forms: {tmp_path / 'c.toml'}: department: no department 'finance' in the configuration"]
    (tmp_path / "b.toml").unlink()
    (tmp_path / "c.toml").unlink()
    assert checks._check_forms(config) is True
    assert capsys.readouterr().out == f"ok   forms: {tmp_path}: 1 form(s): hr 1\n"


# --- the shipped example forms ------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return forms.load_forms(FORMS_DIR, configuration.load(EXAMPLE))


def test_the_example_forms_load_against_the_example_configuration(shipped):
    assert list(shipped) == ["helpdesk-order-software", "helpdesk-something-broken", "hr-new-employee",
                             "hr-other-question"]
    assert configuration.load(EXAMPLE)["site"]["forms_dir"] == "config/forms"
    assert {f.department for f in shipped.values()} == {"helpdesk", "hr"}
    assert shipped["hr-other-question"].request_type == "question"


def test_the_example_forms_speak_english_and_norwegian():
    def tables(node):
        if isinstance(node, dict):
            if "en" in node:
                yield node
            for value in node.values():
                yield from tables(value)
        elif isinstance(node, list):
            for value in node:
                yield from tables(value)

    for path in sorted(FORMS_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        found = list(tables(data))
        assert found, path
        for table in found:
            assert table.get("nb"), (path.name, table)


def test_new_employee_asks_page_three_only_for_temporary_and_hourly(shipped):
    form = shipped["hr-new-employee"]
    assert len(form.pages) == 3
    for kind, shown in (("permanent", False), ("temporary", True), ("hourly", True), ("intern", False)):
        assert (len(forms.visible_pages(form, {"employment_type": kind})) == 3) is shown, kind
    terms = form.pages[2]
    answers = {"employment_type": "temporary"}
    assert forms.parse_page(form, terms, {}, "nb", answers)[1] == {
        "end_date": "Dette feltet må fylles ut.", "hours_per_week": "Dette feltet må fylles ut."}
    assert forms.parse_page(form, terms, {"end_date": ["2026-12-31"], "hours_per_week": ["41"]}, "en",
                            {"employment_type": "hourly"})[1] == {
        "hours_per_week": "Please give a number from 1 to 40."}
    person = {"full_name": "Kari Nordmann", "personal_email": "kari@example.no", "start_date": "2026-08-01",
              "employment_type": "intern", "position": "Trainee", "unit": "Økonomi",
              "manager_email": "Leder@Example.no", "workplace": "bergen", "equipment": ["laptop", "access_card"],
              "end_date": "2026-12-31"}
    assert forms.validate(form, person, "nb") == {}
    assert "end_date" not in forms.clean(form, person)
    routing = forms.route(form, person)
    assert routing.department == "hr" and routing.tags == ("intern",)
    assert routing.participants == ("leder@example.no",)
    assert forms.subject(form, person, "nb") == "Ny ansatt: Kari Nordmann"
    text_nb = forms.answers_text(form, person, "nb")
    assert "Ansettelsesform: Praktikant" in text_nb and "Utstyr som trengs: Bærbar PC, Adgangskort" in text_nb
    assert "Periode og timer" not in text_nb


def test_something_broken_asks_for_what_the_category_needs(shipped):
    form = shipped["helpdesk-something-broken"]
    details = form.pages[1]
    shown = {kind: ids(forms.visible_fields(details, {"category": kind}))
             for kind in ("computer", "printer", "network", "software", "phone", "other")}
    assert shown["printer"] == ["printer_location", "printer_error", "screenshots"]
    assert shown["software"] == ["program", "program_version", "screenshots"]
    assert shown["other"] == ["screenshots"]
    assert ids(forms.visible_fields(details, {"category": "network", "connection": "vpn"})) == [
        "connection", "screenshots"]
    assert forms.route(form, {"category": "printer", "stops_work": True}).priority == "high"
    assert forms.route(form, {"category": "network", "stops_work": True}).priority == "urgent"
    assert forms.route(form, {"category": "other", "stops_work": False}).priority == "normal"
    assert form.field("screenshots").multiple and form.field("screenshots").max_bytes == 10 * 1024 * 1024
    assert forms.parse_page(form, details, {"asset_tag": ["12345"]}, "nb", {"category": "computer"})[1] == {
        "asset_tag": "Et utstyrsnummer ser slik ut: PC-10234."}


def test_software_order_asks_the_manager_above_the_threshold(shipped):
    form = shipped["helpdesk-order-software"]
    cheap = {"program": "Notepad++", "cost_band": "free", "users": 1, "justification": "Editing"}
    assert forms.validate(form, cheap, "en") == {}
    routing = forms.route(form, cheap)
    assert routing.request_type == "service_request" and routing.tags == ("software-order",)
    assert routing.approvers == ()
    dear = dict(cheap, cost_band="over_5000")
    assert forms.validate(form, dear, "en") == {"order.manager_email": "Please fill in this field."}
    dear["manager_email"] = "sjef@example.no"
    assert forms.route(form, dear).approvers == ("sjef@example.no", "it-budget@example.test")
    assert forms.route(form, dict(dear, cost_band="1000_5000")).approvers == ("sjef@example.no",)

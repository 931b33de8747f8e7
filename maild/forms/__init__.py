"""Intake forms (SPEC 5, New request): definitions, the answers given to them, and what a submission becomes.

- ``definition``: the form, its pages, fields, conditions, routes and approval
  rules, as frozen dataclasses;
- ``loader``: ``config/forms/*.toml`` read and checked into those;
- ``answers``: which pages and fields show, answers parsed and checked;
- ``submission``: the routing, the subject and the text of a submitted form.

Each imports only the ones listed before it. Callers use this package's
names (``forms.load_forms``, ``forms.route`` …) and need not know which
module holds what.
"""

from maild.forms.answers import (MAX_FILES, check_file, clean, display, earlier_answers, evaluate, localised,
                                 page_fields, parse_page, validate, visible_fields, visible_pages)
from maild.forms.definition import ApprovalRule, Condition, Field, Form, Option, Page, Route
from maild.forms.loader import RESERVED_IDS, FormError, check_forms, forms_of, load_form, load_forms, parse_form
from maild.forms.submission import Routing, answers_text, route, stored_answers_text, subject

__all__ = [
    "MAX_FILES", "RESERVED_IDS", "ApprovalRule", "Condition", "Field", "Form", "FormError", "Option", "Page",
    "Route", "Routing", "answers_text", "check_file", "check_forms", "clean", "display", "earlier_answers",
    "evaluate", "forms_of", "load_form", "load_forms", "localised", "page_fields", "parse_form", "parse_page", "route", "stored_answers_text", "subject",
    "validate", "visible_fields", "visible_pages",
]

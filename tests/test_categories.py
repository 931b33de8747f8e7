"""Categories: a tree per department edited by admins, set on a case by form and by #category, filtered, reported."""

from __future__ import annotations

import datetime

import pytest
from browser import assert_accessible, screenshot
from conftest import deliver
from mailfactory import make_mail
from portalkit import logged_in, make_admin
from test_agentmail import agent_mail, parsed
from test_portal_agent_browser import log_in

from maild import categories, cases, people, reports
from maild.store.models import Case, Category, Entry, Outbox, Person

AGENT, HR_AGENT, KARI = "agent@example.test", "hr-agent@example.test", "kari@example.org"


def open_case(ctx, subject="Skriveren", to="helpdesk@example.test") -> Case:
    deliver(ctx, make_mail(sender=KARI, subject=subject, to=to, body="Skriveren virker ikke.\n"), rcpt=(to,))
    return Case.select().order_by(Case.id.desc()).get()


def paths(department="helpdesk") -> list[str]:
    return [c.path for c in categories.tree(department)]


def test_a_tree_is_added_to_renamed_and_deleted(ctx):
    with ctx.db.atomic():
        printer = categories.add("helpdesk", " Maskinvare /  Skriver ")
        categories.add("helpdesk", "Maskinvare/PC")
        categories.add("helpdesk", "Programvare")
        categories.add("hr", "Maskinvare")
    assert printer.path == "Maskinvare/Skriver"
    assert paths() == ["Maskinvare", "Maskinvare/PC", "Maskinvare/Skriver", "Programvare"]
    for bad in ("", "A//B", "A/B/C/D/E", "x" * 61, "Skriver; PC", "a=b", "#tag"):
        with pytest.raises(categories.CategoryError, match="name"):
            categories.add("helpdesk", bad)
    with pytest.raises(categories.CategoryError, match="taken"):
        categories.add("helpdesk", "maskinvare/skriver")
    hardware = Category.get(path="Maskinvare", department="helpdesk")
    case = open_case(ctx)
    with ctx.db.atomic():
        cases.set_details(ctx, case, category=printer)
        categories.rename(hardware, "Utstyr/Maskinvare")
    assert paths() == ["Programvare", "Utstyr", "Utstyr/Maskinvare", "Utstyr/Maskinvare/PC",
                       "Utstyr/Maskinvare/Skriver"]
    assert categories.path_of(Case.get_by_id(case.id).category) == "Utstyr/Maskinvare/Skriver"
    with pytest.raises(categories.CategoryError, match="name"):
        categories.rename(hardware, "Utstyr/Maskinvare/PC/Under")  # under itself
    with pytest.raises(categories.CategoryError, match="taken"):
        categories.rename(hardware, "programvare")
    assert sorted(categories.subtree_ids(hardware.id)) == sorted(
        c.id for c in Category.select().where(Category.path.startswith("Utstyr/Maskinvare")))
    with ctx.db.atomic():
        assert categories.delete(hardware) == 1
    assert paths() == ["Programvare", "Utstyr"] and Case.get_by_id(case.id).category is None
    assert paths("hr") == ["Maskinvare"]


def test_find_takes_a_whole_path_or_the_last_part_of_just_one(ctx):
    with ctx.db.atomic():
        for path in ("Maskinvare/Skriver", "Maskinvare/PC", "Programvare/PC", "Tilgang"):
            categories.add("helpdesk", path)
    assert categories.find("helpdesk", "maskinvare / skriver").path == "Maskinvare/Skriver"
    assert categories.find("helpdesk", "skriver").path == "Maskinvare/Skriver"
    assert categories.find("helpdesk", "PC") is None  # two end so
    assert categories.find("helpdesk", "Programvare/PC").path == "Programvare/PC"
    assert categories.find("hr", "Tilgang") is None
    assert categories.find("helpdesk", "Nope/Tilgang") is None


def test_the_case_details_record_the_category_and_a_move_takes_it_off(ctx):
    case = open_case(ctx)
    with ctx.db.atomic():
        printer = categories.add("helpdesk", "Maskinvare/Skriver")
        other = categories.add("hr", "Ferie")
        assert cases.set_details(ctx, case, category=printer) == ["category Maskinvare/Skriver"]
        assert cases.set_details(ctx, case, category=printer) == []
    event = Entry.select().where(Entry.kind == "event").order_by(Entry.id.desc()).get()
    assert event.change == "set:category=Maskinvare/Skriver" and not event.public
    with pytest.raises(ValueError):
        cases.set_details(ctx, case, category=other)
    with ctx.db.atomic():
        cases.move(ctx, case, ctx.config.department("hr"))
    assert Case.get_by_id(case.id).category is None and case.category is None


def test_category_by_mail_sets_clears_and_lists_the_known_ones(ctx):
    with ctx.db.atomic():
        categories.add("helpdesk", "Maskinvare/Skriver og kopi")
        categories.add("helpdesk", "Programvare")
    case = open_case(ctx)
    notice = parsed(Outbox.get((Outbox.case == case.id) & (Outbox.kind == "new_case")))
    raw, to = agent_mail(notice, "#category Maskinvare/Skriver og kopi\n#tag skriver\n\nVi ser på det.")
    row = deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert row.state == "processed", row.error
    case = Case.get_by_id(case.id)
    assert categories.path_of(case.category) == "Maskinvare/Skriver og kopi" and case.tags == ["skriver"]
    answer = parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get())
    assert "#category: set to Maskinvare/Skriver og kopi" in answer.get_body(("plain",)).get_content()
    assert Entry.get(Entry.kind == "reply").body_text == "Vi ser på det."
    raw, to = agent_mail(notice, "#category Nettverk\n")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    answer = parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get())
    assert ("#category Nettverk: no such category in this department; there are: Maskinvare, "
            "Maskinvare/Skriver og kopi, Programvare") in answer.get_body(("plain",)).get_content()
    raw, to = agent_mail(notice, "#category -\n")
    deliver(ctx, raw, rcpt=(to,), mail_from=AGENT)
    assert Case.get_by_id(case.id).category is None
    answer = parsed(Outbox.select().where(Outbox.kind == "commands").order_by(Outbox.id.desc()).get())
    assert "#category: the case has no category now" in answer.get_body(("plain",)).get_content()


def test_the_daily_report_counts_open_cases_by_category_and_tag(ctx):
    with ctx.db.atomic():
        printer = categories.add("helpdesk", "Maskinvare/Skriver")
    first, second, third = open_case(ctx, "En"), open_case(ctx, "To"), open_case(ctx, "Tre")
    with ctx.db.atomic():
        cases.set_details(ctx, first, category=printer, tags=["vpn", "skriver"])
        cases.set_details(ctx, second, category=printer, tags=["vpn"])
        cases.set_details(ctx, third, tags=[])
    assert reports.figures("helpdesk", datetime.datetime(2000, 1, 1))["by_category"] == [
        ("Maskinvare/Skriver", 2), ("", 1)]
    assert reports.daily_report(ctx, now=datetime.datetime(2026, 3, 3, 12, 0)) == 2  # helpdesk's and HR's
    mail = Outbox.get((Outbox.kind == "report") & (Outbox.recipient == AGENT))
    body = parsed(mail).get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Open cases by category:" in body
    assert [line.split() for line in body.splitlines() if line.startswith("  Maskinvare/Skriver ")] == [
        ["Maskinvare/Skriver", "2"]]
    assert "(no category)" in body and "Tags on open cases:" in body
    tag_lines = body.split("Tags on open cases:")[1].splitlines()
    assert [line.split() for line in tag_lines[1:3]] == [["vpn", "2"], ["skriver", "1"]]
    assert "\n\nTags on open cases:\n  vpn " in body and "\n\nOpen cases by category:\n  Maskinvare" in body


def test_categories_in_the_agent_pages(site):
    ctx = site.ctx
    case = open_case(ctx)
    other = open_case(ctx, "Annen sak")
    agent = logged_in(site, AGENT)
    assert agent.get("/agent/categories").status_code == 404  # admins only
    assert 'id="details-category"' not in agent.get(f"/agent/cases/{case.id}").text  # no tree, no field
    admin = make_admin(site)
    added = admin.post("/agent/categories", {"department": "helpdesk", "path": "Maskinvare/Skriver"},
                       form_page="/agent/categories")
    assert "The category is added." in added.text
    bad = admin.post("/agent/categories", {"department": "helpdesk", "path": "A;B"}, form_page="/agent/categories")
    assert bad.status_code == 400 and 'aria-invalid="true"' in bad.text
    printer = Category.get(path="Maskinvare/Skriver")
    hardware = Category.get(path="Maskinvare")
    page = agent.get(f"/agent/cases/{case.id}").text
    assert 'id="details-category"' in page and f'<option value="{printer.id}">Maskinvare/Skriver</option>' in page
    saved = agent.post(f"/agent/cases/{case.id}/details",
                       {"priority": "normal", "request_type": "", "tags": "", "category": str(printer.id)},
                       form_page=f"/agent/cases/{case.id}")
    assert "The details are saved." in saved.text and Case.get_by_id(case.id).category == printer.id
    assert "Category set to Maskinvare/Skriver" in saved.text
    wrong = agent.post(f"/agent/cases/{case.id}/details",
                       {"priority": "normal", "request_type": "", "tags": "", "category": "99999"},
                       form_page=f"/agent/cases/{case.id}")
    assert wrong.status_code == 400 and Case.get_by_id(case.id).category == printer.id
    # The queue filters by a category and what is under it.
    queue = agent.get(f"/agent?category={hardware.id}").text
    assert f'/agent/cases/{case.id}"' in queue and f'/agent/cases/{other.id}"' not in queue
    assert f'/agent/cases/{other.id}"' in agent.get("/agent").text
    assert agent.get(f"/agent?category={hardware.id}&dept=hr").status_code == 200
    renamed = admin.post(f"/agent/categories/{hardware.id}", {"path": "Utstyr"},
                         form_page=f"/agent/categories/{hardware.id}")
    assert "The category is renamed." in renamed.text
    assert "Utstyr/Skriver" in agent.get(f"/agent/cases/{case.id}").text
    editing = admin.get(f"/agent/categories/{hardware.id}").text
    assert "1 case is in this category or under it" in editing
    admin.post(f"/agent/categories/{hardware.id}/delete", {}, form_page=f"/agent/categories/{hardware.id}")
    assert Category.select().count() == 0 and Case.get_by_id(case.id).category is None


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language, width", [("en", 1280), ("nb", 360)])
def test_the_categories_page_in_the_browser(site, page, language, width):
    people.add_user("admin@example.test", "Ada Admin", "admin", ["helpdesk", "hr"], None)
    with site.ctx.db.atomic():
        categories.add("helpdesk", "Maskinvare/Skriver")
    case = open_case(site.ctx)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(site, page, "admin@example.test")
    if language == "nb":
        page.locator("form[action='/language'] button[value=nb]").first.click()
    page.goto(f"{site.url}/agent/categories")
    page.locator("#category-department").select_option("hr")
    page.locator("#category-path").fill("Ferie/Søknad")
    page.locator("form[action='/agent/categories'] button[type=submit]").click()
    page.wait_for_load_state()
    assert {"en": "The category is added.", "nb": "Kategorien er lagt til."}[language] in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"categories-{language}-{width}")
    assert_accessible(page, f"categories-{language}-{width}")
    page.goto(f"{site.url}/agent/cases/{case.id}")
    page.locator("#details-category").select_option(label="Maskinvare/Skriver")
    page.locator(f"form[action='/agent/cases/{case.id}/details'] button[type=submit]").click()
    page.wait_for_load_state()
    assert Person.get(Person.email == "admin@example.test") and Case.get_by_id(case.id).category is not None
    assert_accessible(page, f"case-category-{language}-{width}")

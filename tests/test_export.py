"""Exporting a queue view or a search as .xlsx and .csv: typed columns, every case of the view, in the agent's language."""

from __future__ import annotations

import csv
import datetime
import io

import openpyxl
import pytest
from conftest import deliver, prepare
from mailfactory import make_mail
from portalkit import logged_in

from maild import caseexport, cases, categories, people
from maild.store.models import AccessLog, Case

AGENT = "agent@example.test"


def open_case(ctx, n, to="helpdesk@example.test", subject=None) -> Case:
    deliver(ctx, make_mail(sender=f"kunde{n}@example.org", sender_name=f"Kunde {n}", to=to,
                           subject=subject or f"Sak {n}"), rcpt=(to,))
    return Case.select().order_by(Case.id.desc()).first()


def label(kind, value):
    return f"{kind}:{value}"


def test_rows_are_typed_and_in_the_sites_time(make_config):
    ctx = prepare(make_config(site={"timezone": "Europe/Oslo"}))
    case = open_case(ctx, 1)
    printer = categories.add("helpdesk", "Maskinvare/Skriver")
    with ctx.db.atomic():
        cases.set_details(ctx, case, priority="high", request_type="incident", tags=["skriver"], category=printer)
        cases.assign(ctx, case, people.add_user(AGENT, "Agnes", "agent", ["helpdesk"], None))
        cases.close(ctx, case)
    Case.update(created_at=datetime.datetime(2026, 7, 1, 10, 30)).where(Case.id == case.id).execute()
    (row,) = caseexport.rows(ctx.config, [case.id], label)
    assert row[:11] == (case.id, "Sak 1", "Helpdesk", "status:closed", "priority:high", "type:incident",
                        "Maskinvare/Skriver", "Kunde 1", "kunde1@example.org", "Agnes", "skriver")
    assert row[11] == datetime.datetime(2026, 7, 1, 12, 30)  # summer time in Oslo
    assert isinstance(row[12], datetime.datetime) and isinstance(row[13], datetime.datetime)
    assert row[14] == 1


def test_the_workbook_has_a_frozen_bold_header_an_auto_filter_and_typed_cells(make_config, tmp_path):
    ctx = prepare(make_config())
    ids = [open_case(ctx, n).id for n in range(3)]
    headers = [name for _, name in caseexport.COLUMNS]
    path = tmp_path / "cases.xlsx"
    with open(path, "wb") as out:
        assert caseexport.write_xlsx(headers, caseexport.rows(ctx.config, ids, label), out) == 3
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]] == headers and all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:O4"
    assert [sheet.cell(row=r, column=1).value for r in (2, 3, 4)] == ids
    opened = sheet.cell(row=2, column=12)
    assert isinstance(opened.value, datetime.datetime) and opened.number_format == caseexport.DATE_FORMAT
    assert sheet.cell(row=2, column=15).value == 1 and sheet.cell(row=2, column=15).data_type == "n"


def test_the_csv_is_utf8_with_a_byte_order_mark(make_config):
    ctx = prepare(make_config())
    case = open_case(ctx, 1, subject="Æøå, «sitat» og komma")
    out = io.BytesIO()
    caseexport.write_csv(["Nummer", "Emne"] + ["x"] * 13, caseexport.rows(ctx.config, [case.id], label), out)
    data = out.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][:2] == ["Nummer", "Emne"] and table[1][:2] == [str(case.id), "Æøå, «sitat» og komma"]
    assert len(table) == 2


def test_the_portal_exports_every_case_of_the_view_not_one_page(site):
    ctx = site.ctx
    size = ctx.config["portal"]["page_size"]
    ids = [open_case(ctx, n).id for n in range(size + 3)]
    open_case(ctx, 99, to="hr@example.test", subject="Ferie")
    agent = logged_in(site, AGENT)
    queue = agent.get("/agent").text
    assert 'href="/agent/export.xlsx?tab=new"' in queue and 'href="/agent/export.csv?tab=new"' in queue
    response = agent.get("/agent/export.xlsx?tab=new")
    assert response.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    numbers = [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(numbers) == ids  # every case of the tab, none of HR's
    assert sheet.cell(row=1, column=1).value == "Number"
    found = agent.get("/agent/export.csv?q=Sak+1").content.decode("utf-8-sig")
    assert "Sak 1" in found and "Ferie" not in found
    assert AccessLog.select().where((AccessLog.what == "export") & (AccessLog.agent == AGENT)).count() == 2
    assert logged_in(site, "kunde1@example.org").get("/agent/export.csv").status_code == 404


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_export_speaks_the_agents_language(site):
    open_case(site.ctx, 1)
    agent = logged_in(site, AGENT)
    agent.post("/language", {"lang": "nb"}, form_page="/agent")
    sheet = openpyxl.load_workbook(io.BytesIO(agent.get("/agent/export.xlsx").content)).active
    assert [c.value for c in sheet[1]][:4] == ["Nummer", "Emne", "Avdeling", "Status"]
    assert sheet.cell(row=2, column=4).value == "Ny" and sheet.title == "Saker"

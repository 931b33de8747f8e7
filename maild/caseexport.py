"""A list of cases (a queue view or a search) as a spreadsheet: ``.xlsx`` or ``.csv``, one row per case.

The manual's *Eksporter til Excel*. Columns are typed: the case number and
the number of messages are numbers, times are dates in the site's time zone
(Excel knows no zones), the rest text. The ``.xlsx`` has a bold header row,
frozen, with an auto-filter over the whole table; the ``.csv`` is RFC 4180
with a byte-order mark, so Excel reads it as UTF-8.

Rows are read in chunks of ``CHUNK`` cases by id and written as they come
into a file: openpyxl's write-only workbook keeps only the current row in
memory, the CSV is written a few hundred rows at a time, and the portal
sends the file as it is read. So 100,000 cases cost about the memory of a
thousand (``bench/export.py`` measures it). At most ``MAX_ROWS`` cases go
into one export.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Callable, Iterator

from peewee import fn

from maild import categories, localtime
from maild.store.models import Case, Entry, Person

CHUNK = 1000
MAX_ROWS = 100_000
# (key, header in English); the caller translates the headers.
COLUMNS = (("number", "Number"), ("subject", "Subject"), ("department", "Department"), ("status", "Status"),
           ("priority", "Priority"), ("type", "Request type"), ("category", "Category"), ("requester", "Requester"),
           ("address", "Requester's address"), ("assignee", "Assigned to"), ("tags", "Tags"),
           ("opened", "Opened"), ("activity", "Last activity"), ("closed", "Closed"), ("messages", "Messages"))
DATE_FORMAT = "yyyy-mm-dd hh:mm"


def rows(config, case_ids: list[int], label: Callable[[str, str], str]) -> Iterator[tuple]:
    """One tuple per case, in the order of ``case_ids``; ``label(kind, value)`` names a status, priority or type."""
    zone = localtime.zone(config)
    names = {d.slug: d.name for d in config.departments}
    for start in range(0, len(case_ids), CHUNK):
        chunk = case_ids[start:start + CHUNK]
        found = {c.id: c for c in Case.select().where(Case.id.in_(chunk))}
        wanted = {c.requester_id for c in found.values()} | {c.assignee_id for c in found.values() if c.assignee_id}
        people = {p.id: p for p in Person.select(Person.id, Person.name, Person.email).where(Person.id.in_(wanted))}
        messages = dict(Entry.select(Entry.case, fn.COUNT(Entry.id))
                        .where(Entry.case.in_(chunk) & Entry.kind.in_(["message", "reply"]))
                        .group_by(Entry.case).tuples())
        named = categories.paths(c.category for c in found.values())
        for case_id in chunk:
            case = found.get(case_id)
            if case is None:  # deleted meanwhile
                continue
            requester, assignee = people.get(case.requester_id), people.get(case.assignee_id)
            yield (case.id, case.subject, names.get(case.department, case.department), label("status", case.status),
                   label("priority", case.priority), label("type", case.request_type) if case.request_type else "",
                   named.get(case.category, ""),
                   requester.name if requester else "", requester.email if requester else "",
                   (assignee.name or assignee.email) if assignee else "", ", ".join(case.tags or []),
                   _local(case.created_at, zone), _local(case.updated_at, zone), _local(case.closed_at, zone),
                   messages.get(case.id, 0))


def _local(value: datetime.datetime | None, zone) -> datetime.datetime | None:
    """A stored UTC time as the site's wall-clock time, without a zone (a spreadsheet has none)."""
    if value is None:
        return None
    return value.replace(tzinfo=datetime.timezone.utc).astimezone(zone).replace(tzinfo=None, microsecond=0)


def write_csv(headers: list[str], found: Iterator[tuple], out) -> None:
    """Write the CSV to the binary file ``out``."""
    for chunk in csv_chunks(headers, found):
        out.write(chunk)


def _dated(sheet, value: datetime.datetime, cell_type):
    cell = cell_type(sheet, value=value)
    cell.number_format = DATE_FORMAT
    return cell


def csv_chunks(headers: list[str], found: Iterator[tuple], rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The CSV, UTF-8 with a byte-order mark, as byte chunks of a few hundred rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(headers)
    for n, row in enumerate(found, 1):
        writer.writerow([value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime.datetime) else
                         "" if value is None else value for value in row])
        if n % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(headers: list[str], found: Iterator[tuple], out, title: str = "Cases") -> int:
    """Write the workbook to the binary file ``out``; returns the number of rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    count = 0
    for row in found:
        # Plain values are written as they are; only a date needs a cell of its own, for its format.
        sheet.append([_dated(sheet, value, WriteOnlyCell) if isinstance(value, datetime.datetime) else value
                      for value in row])
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{count + 1}"
    workbook.save(out)
    return count

"""Personvern: retention, erasing a person, a person's own data, and who looked at what, on both stores."""

from __future__ import annotations

import datetime
import io
import json
import zipfile

from conftest import deliver, prepare
from mailfactory import make_mail
from test_cli import config_file, run  # noqa: F401 (config_file is a fixture)

from maild import access, cases, erasure, people, personexport, retention, search
from maild.store.db import is_sqlite
from maild.store.models import (AccessLog, Blob, Case, CaseTally, Entry, Outbox, Participant, Person,
                                Spool, utcnow)

KARI, OLA, AGENT = "kari@example.org", "ola@example.org", "agent@example.test"
SHARED = b"%PDF-1.4 the same invoice, sent twice"


def _tables(db) -> list[str]:
    if is_sqlite(db):
        return [r[0] for r in db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [r[0] for r in db.execute_sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]


def counts(db) -> dict[str, int]:
    """Rows in every table of the store."""
    return {t: db.execute_sql(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _tables(db)}


def holding(db, needle: str) -> list[str]:
    """The tables where ``needle`` occurs in any value, text or bytes: a dump of the store, searched."""
    found = []
    for table in _tables(db):
        for row in db.execute_sql(f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, memoryview):
                    value = bytes(value)
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                if needle.lower() in text.lower():
                    found.append(table)
                    break
            else:
                continue
            break
    return found


def found_by(ctx, word: str) -> int:
    """How many cases an agent's search for ``word`` finds."""
    return search.search_cases(word, departments=["helpdesk", "hr"], public_only=False)[0]


def open_case(ctx, sender, subject, body="Hei.\n", to="helpdesk@example.test", **kwargs) -> Case:
    deliver(ctx, make_mail(sender=sender, subject=subject, body=body, to=to, **kwargs), rcpt=(to,))
    return Case.select().order_by(Case.id.desc()).first()


def close(ctx, case, when):
    with ctx.db.atomic():
        cases.close(ctx, case)
    Case.update(closed_at=when, updated_at=when).where(Case.id == case.id).execute()


# --------------------------------------------------------------------------- retention

def test_retention_removes_exactly_the_old_closed_cases_and_keeps_a_count(make_config):
    ctx = prepare(make_config(departments=[
        {"slug": "helpdesk", "name": "Helpdesk", "addresses": ["helpdesk@example.test"], "retention_days_closed": 30},
        {"slug": "hr", "name": "HR", "addresses": ["hr@example.test"]}]))
    now = utcnow()
    old = open_case(ctx, KARI, "Gammel skriver", body="Zyxwvutsen er ødelagt.\n",
                    attachments=[("faktura.pdf", "application/pdf", SHARED),
                                 ("eget.txt", "text/plain", b"only on the old case")])
    kept = open_case(ctx, OLA, "Ny skriver", attachments=[("faktura.pdf", "application/pdf", SHARED)])
    still_open = open_case(ctx, OLA, "Fremdeles åpen")
    hr_old = open_case(ctx, KARI, "Ferie", to="hr@example.test")
    close(ctx, old, now - datetime.timedelta(days=40))
    close(ctx, kept, now - datetime.timedelta(days=10))
    close(ctx, hr_old, now - datetime.timedelta(days=400))  # hr keeps its cases
    AccessLog.create(at=now - datetime.timedelta(days=400), agent=AGENT, case_id=kept.id, what="view")
    AccessLog.create(at=now - datetime.timedelta(days=2), agent=AGENT, case_id=kept.id, what="view")
    old_messages = Entry.select().where((Entry.case == old.id) & Entry.kind.in_(["message", "reply"])).count()
    old_outbox = Outbox.select().where(Outbox.case == old.id).count()
    assert old_outbox and found_by(ctx, "zyxwvutsen")
    before = counts(ctx.db)

    found = retention.run(ctx, now)
    after = counts(ctx.db)

    assert [c.id for c in Case.select().order_by(Case.id)] == [kept.id, still_open.id, hr_old.id]
    tally = CaseTally.get()
    assert (tally.department, tally.messages, tally.reason) == ("helpdesk", old_messages, "retention")
    assert tally.closed_at == now - datetime.timedelta(days=40)
    # The shared file stays with the kept case; the old case's own file goes.
    assert Blob.select().where(Blob.data == SHARED).count() == 1
    assert not Blob.select().where(Blob.data == b"only on the old case").exists()
    assert found["cases"] == 1 and found["outbox"] == old_outbox and found["blobs"] == 1
    changed = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    old_entries = before["entry"] - after["entry"]
    expected = {"case": -1, "case_tally": 1, "entry": -old_entries, "attachment": -2, "blob": -1,
                "outbox": -old_outbox, "participant": -1, "spool": -1, "access_log": -1,
                # The mark that words left the word list (maild/wordlist.py, KnownWords).
                "setting": 1}
    for table, change in expected.items():
        assert changed.pop(table) == change, table
    # What else changed is the search index of the old case (and its words), nothing of anyone else's.
    assert all(t.startswith(("search", "message_ref", "inbound_message")) for t in changed), changed
    assert changed.get("message_ref", -1) < 0
    assert not found_by(ctx, "zyxwvutsen")
    assert not ctx.db.execute_sql("SELECT 1 FROM search_word WHERE word = 'zyxwvutsen'").fetchone()
    # Run again: nothing more goes.
    assert not any(retention.run(ctx, now).values())


def test_raw_mail_goes_after_spool_raw_days_but_a_failed_message_keeps_its_bytes(make_config):
    ctx = prepare(make_config(mail={"spool_raw_days": 90}))
    now = utcnow()
    open_case(ctx, KARI, "Gammel")
    open_case(ctx, OLA, "Ny")
    first, second = Spool.select().order_by(Spool.id)
    Spool.update(processed_at=now - datetime.timedelta(days=91)).where(Spool.id == first.id).execute()
    failed = Spool.create(source="smtp", raw=b"From: x@example.org\r\n\r\nbroken", raw_sha256="f" * 64,
                          state="failed", processed_at=now - datetime.timedelta(days=200))
    assert retention.run(ctx, now)["spool_raw"] == 1
    assert bytes(Spool.get_by_id(first.id).raw) == b"" and Spool.get_by_id(first.id).state == "processed"
    assert bytes(Spool.get_by_id(second.id).raw) and bytes(Spool.get_by_id(failed.id).raw)
    # The case keeps what was read from the message.
    assert "Gammel" in [c.subject for c in Case.select()]


def test_the_daily_job_runs_once_a_day(make_config):
    ctx = prepare(make_config(mail={"spool_raw_days": 1}))
    now = utcnow()
    open_case(ctx, KARI, "Gammel")
    Spool.update(processed_at=now - datetime.timedelta(days=2)).execute()
    retention.daily(ctx, now)
    open_case(ctx, OLA, "Ny")
    Spool.update(processed_at=now - datetime.timedelta(days=2)).execute()
    retention.daily(ctx, now + datetime.timedelta(hours=1))
    assert [bool(bytes(s.raw)) for s in Spool.select().order_by(Spool.id)] == [False, True]
    retention.daily(ctx, now + datetime.timedelta(hours=24))
    assert [bool(bytes(s.raw)) for s in Spool.select().order_by(Spool.id)] == [False, False]


# --------------------------------------------------------------------------- erasure

def _kari_and_others(ctx):
    """Kari's own case, and Ola's case where Kari is copied and answered, with an agent's note naming her."""
    own = open_case(ctx, KARI, "Kari sin skriver", body="Qwertyplutt virker ikke.\n",
                    attachments=[("kari.txt", "text/plain", b"Kari's own file")])
    theirs = open_case(ctx, OLA, "Felles prosjekt", body="Ola skriver om prosjektet.\n", cc=KARI,
                       sender_name="Ola Hansen")
    deliver(ctx, make_mail(sender=KARI, subject=f"Re: [SD#{theirs.id}] Felles prosjekt",
                           body="Kari svarer: Blåbærsyltetøy hos Kari Nordmann.\n"))
    with ctx.db.atomic():
        agent = people.add_user(AGENT, "Agnes", "agent", ["helpdesk"], None)
    with ctx.db.atomic():
        cases.add_note(ctx, theirs, agent, f"Ringte {KARI} om prosjektet.")
    return own, theirs


def test_forgetting_a_person_leaves_no_trace_of_their_address(make_config):
    ctx = prepare(make_config())
    own, theirs = _kari_and_others(ctx)
    assert holding(ctx.db, KARI)
    ola_entries = [e.body_text for e in Entry.select().where(Entry.case == theirs.id).order_by(Entry.id)
                   if "Ola skriver" in e.body_text]

    result = erasure.forget(ctx, KARI)

    assert result.found and result.cases_deleted == [own.id] and result.cases_touched == [theirs.id]
    assert result.messages_replaced == 1
    # The agent's note is listed for review, not rewritten; everything else of hers is gone.
    assert [(c, line) for c, _, line in result.notes_to_review] == [(theirs.id, f"Ringte {KARI} om prosjektet.")]
    assert holding(ctx.db, KARI) == ["entry"]  # the note, only
    note = Entry.get((Entry.case == theirs.id) & (Entry.kind == "note"))
    note.delete_instance()
    assert holding(ctx.db, KARI) == [] and holding(ctx.db, "Nordmann") == []
    assert not Person.select().where(Person.email == KARI).exists()
    assert not Case.select().where(Case.id == own.id).exists() and CaseTally.get().reason == "erasure"
    # Ola's case keeps Ola's words; Kari's answer keeps its place without its text.
    texts = [e.body_text for e in Entry.select().where(Entry.case == theirs.id).order_by(Entry.id)]
    assert [t for t in texts if "Ola skriver" in t] == ola_entries
    assert erasure.REMOVED["en"] in texts and not any("Blåbærsyltetøy" in t for t in texts)
    for word in ("qwertyplutt", "blåbærsyltetøy", "nordmann"):
        assert not found_by(ctx, word), word
        assert not ctx.db.execute_sql(f"SELECT 1 FROM search_word WHERE word = '{word}'").fetchone(), word
    assert not Blob.select().where(Blob.data == b"Kari's own file").exists()
    assert [p.person.email for p in Participant.select().where(Participant.case == theirs.id)] == [OLA]


def test_a_dry_run_says_what_would_go_and_changes_nothing(make_config):
    ctx = prepare(make_config())
    _kari_and_others(ctx)
    before = counts(ctx.db)
    dry = erasure.forget(ctx, KARI, dry_run=True)
    assert counts(ctx.db) == before and Person.select().where(Person.email == KARI).exists()
    real = erasure.forget(ctx, KARI)
    assert (dry.cases_deleted, dry.messages_replaced, dry.counts, dry.notes_to_review) == \
        (real.cases_deleted, real.messages_replaced, real.counts, real.notes_to_review)


def test_person_forget_and_export_on_the_command_line(config_file):
    config = config_file()
    assert run(config, "init").returncode == 0
    assert run(config, "ingest", "--to", "helpdesk@example.test",
               stdin=make_mail(sender=KARI, subject="Skjermen", attachments=[("bilde.png", "image/png", b"PNG")])
               ).returncode == 0
    exported = run(config, "person", "export", KARI)
    assert exported.returncode == 0, exported.stderr
    archive = zipfile.ZipFile(io.BytesIO(exported.stdout))
    assert json.loads(archive.read("profile.json"))["email"] == KARI
    assert [c["subject"] for c in json.loads(archive.read("cases.json"))] == ["Skjermen"]
    assert any(name.endswith("bilde.png") for name in archive.namelist())
    listed = run(config, "access", "list", "--agent", "[command line]", "--json")
    assert [json.loads(line)["what"] for line in listed.stdout.decode().splitlines()] == ["export"]
    dry = run(config, "person", "forget", KARI, "--dry-run")
    assert dry.returncode == 0 and b"would remove the person, 1 case(s)" in dry.stdout, dry.stdout
    real = run(config, "person", "forget", KARI)
    assert real.returncode == 0 and b"removed the person, 1 case(s)" in real.stdout, real.stdout
    again = run(config, "person", "forget", KARI)
    assert b"no person with this address" in again.stdout
    assert run(config, "person", "export", KARI).returncode == 1


# --------------------------------------------------------------------------- a person's own data

def test_the_export_holds_the_persons_messages_and_not_a_word_of_internal_notes(make_config):
    ctx = prepare(make_config())
    _, theirs = _kari_and_others(ctx)
    person = people.find(KARI)
    out = io.BytesIO()
    found = personexport.write(person, out)
    archive = zipfile.ZipFile(out)
    cases_json = json.loads(archive.read("cases.json"))
    assert found == {"cases": 2, "files": 1}
    assert {c["subject"] for c in cases_json} == {"Kari sin skriver", "Felles prosjekt"}
    shared = next(c for c in cases_json if c["case"] == theirs.id)
    assert shared["your_role"] == "participant"
    texts = " ".join(e["text"] for c in cases_json for e in c["entries"])
    assert "Blåbærsyltetøy" in texts and "Qwertyplutt" in texts and "Ringte" not in texts
    assert archive.read(next(n for n in archive.namelist() if n.endswith("kari.txt"))) == b"Kari's own file"


# --------------------------------------------------------------------------- who looked

def test_views_downloads_and_exports_are_recorded_and_listed(make_config):
    ctx = prepare(make_config())
    access.record(AGENT, access.VIEW, 7)
    access.record(AGENT, access.DOWNLOAD, 7, "faktura.pdf")
    access.record("hr-agent@example.test", access.VIEW, 8)
    assert [(r["what"], r["detail"]) for r in access.listing(ctx.config, case_id=7)] == \
        [("download", "faktura.pdf"), ("view", "")]
    assert [r["case"] for r in access.listing(ctx.config, agent="HR-Agent@example.test")] == [8]

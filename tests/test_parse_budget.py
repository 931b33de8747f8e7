"""No mail can stall the runner (MAIL_RULES 5): messages are read in a worker process within a budget."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from conftest import prepare
from mailfactory import make_mail

from maild import runner, spool
from maild.mail import message, worker
from maild.store import db as store
from maild.store.models import Case, Spool

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def _slow_mail() -> bytes:
    """A Subject of 100,000 encoded words: read in the runner itself it takes seconds, growing faster than its size."""
    return (b"From: Kari <kari@example.org>\r\nTo: helpdesk@example.test\r\nMessage-ID: <slow@example.org>\r\n"
            b"Subject:" + b" =?utf-8?q?a?=\r\n" * 100_000 + b"\r\nHei\r\n")


def _big_mail(megabytes: int) -> bytes:
    """A mail with one base64 attachment of about ``megabytes``: reading it needs several times that."""
    line = b"QUFB" * 19 + b"\r\n"
    return (b"From: kari@example.org\r\nTo: helpdesk@example.test\r\nSubject: Logs\r\nMessage-ID: <big@example.org>\r\n"
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe logs.\r\n"
            b"--b\r\nContent-Type: application/octet-stream; name=logs.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + line * (megabytes * 1024 * 1024 // 78) + b"--b--\r\n")


def _spool(ctx, raw: bytes) -> int:
    return spool.accept(ctx.db, raw, spool.Envelope("kari@example.org", ["helpdesk@example.test"]), "smtp")


def test_the_worker_reads_a_message_as_the_runner_itself_would():
    paths = sorted((CORPUS / "flanker").glob("*.eml"))[:12] + sorted((CORPUS / "imap_tools").rglob("*.eml"))[:12]
    assert len(paths) == 24
    for path in paths:
        raw = path.read_bytes()
        assert dataclasses.asdict(worker.read(raw, "example.test", seconds=30, megabytes=512)) == \
            dataclasses.asdict(message.read(raw, "example.test")), path.name


def test_a_slow_mail_fails_named_and_the_mail_behind_it_waits_no_longer_than_the_budget(make_config):
    ctx = prepare(make_config(mail={"parse_seconds": 1}))
    try:
        first = _spool(ctx, make_mail(subject="Skriveren", sender="a@example.org"))
        slow = _spool(ctx, _slow_mail())
        last = _spool(ctx, make_mail(subject="Nettverket", sender="b@example.org"))
        worker.read(b"Subject: warm\r\n\r\n", "example.test", seconds=30, megabytes=512)  # a started worker
        started = time.monotonic()
        runner.drain(ctx)
        took = time.monotonic() - started
        rows = {row.id: row for row in Spool.select()}
        assert (rows[first].state, rows[slow].state, rows[last].state) == ("processed", "failed", "processed")
        assert rows[slow].reason == ("OverBudget: reading the message took longer than 1 s ([mail] parse_seconds)")
        assert Case.select().count() == 2
        # The budget, a new worker's start for the mail behind it, and the two good mails.
        assert took < 1 + worker.START_SECONDS / 10, took
        # Over its budget it would be so again: it waits for an operator, not for automatic retries.
        assert rows[slow].attempts > ctx.config["mail"]["spool_max_attempts"]
        assert runner.drain(ctx) == 0
    finally:
        store.shutdown(ctx.db)


def test_a_mail_over_the_memory_budget_fails_named_and_a_retry_may_give_it_more(make_config):
    ctx = prepare(make_config(mail={"parse_megabytes": 16}))
    try:
        big = _spool(ctx, _big_mail(10))
        runner.drain(ctx)
        row = Spool.get_by_id(big)
        assert row.state == "failed"
        assert row.reason == "OverBudget: reading the message needed more than 16 MB ([mail] parse_megabytes)"
        # The next mail goes through a fresh worker.
        _spool(ctx, make_mail(subject="Skriveren"))
        runner.drain(ctx)
        assert Case.select().count() == 1
        assert runner.retry(ctx.db, big, parse_megabytes=400) == 1
        runner.drain(ctx)
        row = Spool.get_by_id(big)
        assert (row.state, row.parse_megabytes, row.parse_seconds) == ("processed", 400, None)
        assert Case.get_by_id(row.case_id).subject == "Logs"
    finally:
        store.shutdown(ctx.db)


def test_a_worker_that_died_is_started_again_for_the_next_mail(ctx):
    first = _spool(ctx, make_mail(subject="Før"))
    runner.drain(ctx)
    worker._worker.proc.kill()
    worker._worker.proc.wait()  # dead, as a worker found at the next message is (not dying meanwhile)
    second = _spool(ctx, make_mail(subject="Etter", sender="b@example.org"))
    runner.drain(ctx)
    assert [Spool.get_by_id(i).state for i in (first, second)] == ["processed", "processed"]


def test_a_warmed_worker_is_running_before_the_first_mail_and_reads_it_in_the_same_process():
    worker.stop_all()
    worker.warm(512)
    proc = worker._worker.proc
    assert proc is not None and proc.poll() is None
    raw = make_mail(subject="Først")
    assert worker.read(raw, "example.test", seconds=30, megabytes=512).subject == "Først"
    assert worker._worker.proc is proc


@pytest.mark.parametrize("key", ["parse_seconds", "parse_megabytes"])
def test_a_budget_under_one_is_refused_naming_the_key(make_config, key):
    from maild.config import ConfigError

    with pytest.raises(ConfigError, match=rf"^\[mail\]\.{key}: must be at least 1$"):
        make_config(mail={key: 0})

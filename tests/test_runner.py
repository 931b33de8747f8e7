"""The runner's promises: every row ends in a named state; a failure is kept, retried, never a stop.

A message that cannot be stored is made real here by a trigger in the store
that refuses its entry, as a full disk or a broken database would.
"""

from __future__ import annotations

import datetime

import pytest
from conftest import deliver, refusing
from mailfactory import make_mail

from maild import runner, spool
from maild.store.models import Case, Outbox, Spool, utcnow


@pytest.fixture
def poison(ctx):
    """Make the store refuse entries whose subject is 'poison'."""
    with refusing(ctx.db, "entry", "NEW.subject = 'poison'", name="poison"):
        yield


def _spool(ctx, raw):
    return spool.accept(ctx.db, raw, spool.Envelope("kari@example.org", ["helpdesk@example.test"]), "smtp")


def test_a_failing_message_never_stops_the_others(ctx, poison):
    ids = [_spool(ctx, make_mail(subject=s, sender=f"c{i}@example.org"))
           for i, s in enumerate(["good one", "poison", "good two"])]
    runner.drain(ctx)
    states = {r.id: r for r in Spool.select()}
    assert [states[i].state for i in ids] == ["processed", "failed", "processed"]
    bad = states[ids[1]]
    assert "refused by poison" in bad.reason and "Traceback" in bad.error and bad.attempts == 1
    # Nothing of the failed message was kept half-done: no case, no mail.
    assert Case.select().count() == 2
    assert Outbox.select().where(Outbox.recipient == "c1@example.org").count() == 0


def test_failed_rows_are_retried_three_times_then_wait_for_an_operator(ctx, poison):
    spool_id = _spool(ctx, make_mail(subject="poison"))
    now = utcnow()
    runner.drain(ctx, now=now)
    # Not again before its delay...
    runner.drain(ctx, now=now + datetime.timedelta(seconds=1))
    assert Spool.get_by_id(spool_id).attempts == 1
    for _ in range(5):
        now += datetime.timedelta(hours=1)
        runner.drain(ctx, now=now)
    row = Spool.get_by_id(spool_id)
    assert row.state == "failed" and row.attempts == 4  # the first try and 3 retries
    assert runner.retry(ctx.db, failed=True) == 1
    assert Spool.get_by_id(spool_id).state == "new"


def test_operator_retry_after_the_cause_is_fixed(ctx):
    # Without the trigger the same message goes through on retry.
    spool_id = _spool(ctx, make_mail(subject="poison"))
    Spool.update(state="failed", attempts=4, reason="was broken").where(Spool.id == spool_id).execute()
    runner.drain(ctx)
    assert Spool.get_by_id(spool_id).state == "failed"
    runner.retry(ctx.db, spool_id)
    runner.drain(ctx)
    row = Spool.get_by_id(spool_id)
    assert row.state == "processed" and row.case_id and row.error == ""


def test_ignored_rows_name_their_rule(ctx):
    ours = deliver(ctx, make_mail())
    ack = Outbox.get(Outbox.kind == "ack")
    looped = deliver(ctx, bytes(ack.raw))  # our own acknowledgement, forwarded back to us
    assert looped.state == "ignored" and looped.reason.startswith("loop:")
    assert looped.hits[0] == "loop"
    assert ours.state == "processed"
    assert Case.select().count() == 1

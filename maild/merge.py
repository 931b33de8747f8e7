"""Merging a duplicate case into another: one request, one case.

A customer who writes twice about the same thing, or two colleagues who
report the same outage, open two cases. An agent merges the duplicate
(``source``) into the case that stays (``target``), in the portal or with
``#merge N`` by mail, through ``merge``:

* every entry moves, with its attachments, in the order it happened; so do
  the Message-IDs the duplicate was known by, its approvals and its spool
  rows; its search documents are written again under the target;
* its participants join the target (as copied, unless already on it);
* the duplicate stays as a closed stub that names the target
  (``Case.merged_into``). Mail that finds its number, by the subject token,
  a signed Message-ID or a signed reply address, lands on the target
  (``resolve``), and its pages send the reader there;
* the duplicate's requester is told once, by mail, which case now holds
  their request; the target's history says what was merged.
"""

from __future__ import annotations

from maild import cases, notify, search
from maild.store.models import Approval, Case, Entry, Forward, MessageRef, Participant, Spool, utcnow

# Merges followed from a number to the case that holds it, at most (a chain A -> B -> C).
MAX_HOPS = 10


class MergeError(Exception):
    """The merge cannot be done; ``problem`` names why, for each language's message."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


PROBLEMS = {"same": "a case cannot be merged into itself", "missing": "no such case",
            "merged": "that case was merged into another one", "department": "not a case of your departments"}


def resolve(case: Case | None) -> Case | None:
    """The case that holds ``case``'s messages now: itself, or the case it was merged into."""
    for _ in range(MAX_HOPS):
        if case is None or not case.merged_into:
            return case
        case = Case.get_or_none(Case.id == case.merged_into)
    return case


def merge(ctx, source: Case, target: Case, *, by=None, now=None) -> None:
    """Merge ``source`` into ``target`` (see the module's docstring); raises MergeError."""
    now = now or utcnow()
    if source.id == target.id:
        raise MergeError("same")
    if source.merged_into or target.merged_into:
        raise MergeError("merged")
    moved = list(Entry.select().where(Entry.case == source.id))
    Entry.update(case=target.id).where(Entry.case == source.id).execute()
    MessageRef.update(case=target.id).where(MessageRef.case == source.id).execute()
    Approval.update(case=target.id).where(Approval.case == source.id).execute()
    Spool.update(case_id=target.id).where(Spool.case_id == source.id).execute()
    search.forget_cases(ctx.db, [source.id])
    for entry in moved:
        entry.case_id = target.id
        search.index_entry(entry)
    on_target = {p.person_id for p in Participant.select(Participant.person).where(Participant.case == target.id)}
    for participant in Participant.select().where(Participant.case == source.id):
        if participant.person_id not in on_target:
            cases.add_participant(target, participant.person)
    Participant.delete().where(Participant.case == source.id).execute()
    # An outside party's signed address keeps working: its forward moves along (once per party).
    forwarded = {f.address for f in Forward.select(Forward.address).where(Forward.case == target.id)}
    Forward.delete().where((Forward.case == source.id) & Forward.address.in_(sorted(forwarded) or [""])).execute()
    Forward.update(case=target.id).where(Forward.case == source.id).execute()
    prefix = ctx.config["site"]["token_prefix"]
    cases.event(target, f"{prefix}-{source.id} merged into this case.", now, author=by, public=False,
                change=f"merged:{source.id}")
    cases.event(source, f"Merged into {prefix}-{target.id}.", now, author=by, public=False,
                change=f"merged_into:{target.id}")
    Case.update(status="closed", closed_at=source.closed_at or now, updated_at=now, merged_into=target.id,
                awaiting_approval=False).where(Case.id == source.id).execute()
    Case.update(updated_at=now).where(Case.id == target.id).execute()
    notify.case_merged(ctx, source, target, now=now)

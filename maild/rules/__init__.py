"""Inbound rules: predicates that look at a delivery and decide, never act.

Each rule module has ``NAME``, ``DESCRIPTION`` and ``matches(ctx, delivery)``.
The chain is a table of (rule, action) rows read in order; every rule that
matches is recorded on the spool row (``hits``), and the first matching row's
action decides (Mailman 3 ``core/chains.py``):

- ``discard``: the row ends ``ignored`` naming the rule; no case is touched.
- ``bounce``: a delivery report; it may only become an internal entry on the
  case it concerns, never a new case, never an answer.
- ``autoreply``: an automatic answer (out of office); an internal entry on the
  case it concerns, no state change, no answer.
- ``accept-silently``: processed like any mail, but no automatic answer.
"""

from __future__ import annotations

from maild.rules import autoreply, automatic, bounce, loop

CHAIN = (
    (loop, "discard"),
    (bounce, "bounce"),
    (autoreply, "autoreply"),
    (automatic, "accept-silently"),
)


def decide(ctx, delivery) -> str:
    """Run the chain; record every hit on the delivery; return the first action or "accept"."""
    action = "accept"
    for rule, rule_action in CHAIN:
        if rule.matches(ctx, delivery):
            delivery.hits.append(rule.NAME)
            if action == "accept":
                action = rule_action
    if action == "bounce":
        delivery.bounce = delivery.automatic = True
    elif action == "autoreply":
        delivery.autoreply = delivery.automatic = True
    elif action == "accept-silently":
        delivery.automatic = True
    return action

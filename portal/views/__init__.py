"""The portal's pages, one module per area; ``install`` adds all their routes to an app."""

from __future__ import annotations

from portal.views import (account, agent, agent_actions, agent_admin, agent_faq, approvals, categories, faq, forms,
                          health, home, links, newcase, notices, privacy, replytemplates, requests)


def install(app, web) -> None:
    """Add every route of the portal to ``app``."""
    for module in (health, home, account, requests, forms, approvals, agent, agent_actions, agent_admin, notices, links,
                   faq, agent_faq, privacy, replytemplates, categories, newcase):
        module.install(app, web)

"""Approvals in the portal: *My approvals*, the signed one-click page, and an agent asking for one.

An approver decides under *My approvals* when logged in with the address
they were asked at, or on the page their mail's signed links open, without
logging in. That page's GET only shows what is asked and a form: mail
scanners and link previews open every link, so only its POST decides
(SPEC 5). Its POST needs no CSRF token, because the signed URL itself is the
permission (``web.SIGNED_POSTS``). Every way ends in ``approvals.decide``.
"""

from __future__ import annotations

import bottle

from maild import approvals, people
from maild.store.models import Approval, Case
from portal.views.agent import agent_case, case_page
from portal.web import redirect, require_login, route_id

RECENT = 20


def _decide(ctx, approval: Approval, via: str) -> tuple[str, bool]:
    """Decide as the posted form says (400 for anything but approve or reject); (decision, whether it counted)."""
    forms = bottle.request.forms
    decision = forms.get("decision", "")
    if decision not in approvals.DECISIONS:
        bottle.abort(400, "decision must be approve or reject")
    with ctx.db.atomic():
        decided = approvals.decide(ctx, approval, decision, via=via, comment=forms.getunicode("comment", ""))
    ctx.outbox_wakeup.set()
    return decision, decided


def install(app, web) -> None:
    """Add /approvals, /approval/<id>/<signature>, and the agent's forms to ask for and withdraw one."""
    ctx = web.ctx

    def view(approval: Approval) -> dict:
        """What an approver sees of the case they are asked about: never more than the request."""
        case = approval.case
        dept = ctx.config.department(case.department)
        first = approvals.request_entry(case)
        before = [a for a in approvals.of_case(case) if a.position < approval.position and a.state == "approved"]
        # Who asked: the agent who did, else (a form's rule) the requester who sent the form.
        asker = people.find(approval.requested_by) if approval.requested_by else None
        return {"approval": approval, "case": case, "department": dept.name if dept else case.department,
                "requester": case.requester, "asker": asker, "request": first.body_text if first else "",
                "before": before, "names": approvals.approver_names(before)}

    @app.get("/approvals")
    def mine():
        person = require_login()
        pending = [view(a) for a in approvals.asked_of(person.email, pending=True)]
        decided = list(approvals.asked_of(person.email, pending=False).limit(RECENT))
        return web.render("approvals.html", pending=pending, decided=decided,
                          done=bottle.request.query.get("done", ""))

    @app.post("/approvals/<approval_id>")
    def decide_in_portal(approval_id):
        person = require_login()
        approval = Approval.get_or_none(Approval.id == route_id(approval_id))
        # Someone else's approval is as unknown as a missing one.
        if approval is None or approval.approver != person.email or approval.asked_at is None:
            bottle.abort(404)
        decision, decided = _decide(ctx, approval, "portal")
        redirect(f"/approvals?done={_outcome(approval, decision, decided)}", 303)

    def signed_or_404(approval_id: str, signature: str) -> Approval:
        approval = approvals.signed_approval(ctx, route_id(approval_id), signature)
        if approval is None or approval.asked_at is None:
            bottle.abort(404)
        return approval

    @app.get("/approval/<approval_id>/<signature>")
    def confirm(approval_id, signature):
        # A GET decides nothing: mail scanners open every link.
        approval = signed_or_404(approval_id, signature)
        chosen = bottle.request.query.get("decision", "")
        return web.render("approval.html", chosen=chosen if chosen in approvals.DECISIONS else "",
                          signature=signature, done="", v=view(approval))

    @app.post("/approval/<approval_id>/<signature>")
    def decide_by_link(approval_id, signature):
        approval = signed_or_404(approval_id, signature)
        decision, decided = _decide(ctx, approval, "link")
        approval = Approval.get_by_id(approval.id)  # as decided, by this POST or an earlier one
        return web.render("approval.html", chosen="", signature=signature,
                          done=_outcome(approval, decision, decided), v=view(approval))

    @app.post("/agent/cases/<case_id>/approvals/<approval_id>/withdraw")
    def withdraw(case_id, approval_id):
        person, case = agent_case(web, case_id)
        approval = Approval.get_or_none((Approval.id == route_id(approval_id)) & (Approval.case == case.id))
        if approval is None:
            bottle.abort(404)
        with ctx.db.atomic():
            approvals.withdraw(ctx, approval, by=person)
        ctx.outbox_wakeup.set()
        redirect(f"/agent/cases/{case.id}?done=withdrawn#approvals", 303)

    @app.post("/agent/cases/<case_id>/approval")
    def ask(case_id):
        person, case = agent_case(web, case_id)
        forms = bottle.request.forms
        address = forms.getunicode("approver", "").strip().lower()
        question = forms.getunicode("question", "").strip()
        try:
            with ctx.db.atomic():
                approvals.ask(ctx, Case.get_by_id(case.id), address, source="agent", requested_by=person.email,
                              question=question)
        except approvals.ApprovalError as error:
            message = {"address": web.gettext("Give the email address of a person, not one of ours."),
                       "requester": web.gettext("The requester cannot approve their own request."),
                       "question": web.gettext("The question is too long."),
                       "closed": web.gettext("A closed case cannot wait for approval: reopen it first.")}
            field = "approval-question" if error.problem == "question" else "approval-approver"
            return case_page(web, person, case, status=400,
                             errors={"approval": {field: message[error.problem]}},
                             values={"approval-approver": address, "approval-question": question})
        ctx.outbox_wakeup.set()
        redirect(f"/agent/cases/{case.id}?done=approval#approvals", 303)


def _outcome(approval: Approval, decision: str, decided: bool) -> str:
    """What the approver's page says: approved; rejected (a form's request, now closed); rejected for
    the agent who asked (the case stays open); or late, when it was already decided."""
    if not decided:
        return "late"
    if decision == "reject" and approval.source != "form":
        return "rejected_for_agent"
    return approvals.DECISIONS[decision]

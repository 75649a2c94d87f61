"""Trainee approval (SPEC §5): a trainee's reply, close or consultation is held as a draft until
approved.

The supervisor (or their deputy while absent; after an unanswered reminder, the pool's manager)
gets the draft with the customer's message and a signed reply address that names the draft. A
reply with ``#approve`` sends the draft, or the reply's own text when they edited it;
``#reject <why>`` sends it back to the trainee. ``mailgate approval approve|reject`` do the same.
A decision is a conditional update (``state = 'pending'``), so approving twice, or from two
processes at once, sends once.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailgate.clock import iso
from mailgate.domain import deadlines
from mailgate.domain.effects import Effect, NotifyStaff, RecordEvent, RelayReply, SendTemplate
from mailgate.domain.states import Event
from mailgate.errors import NotFound
from mailgate.mail.parse import ParsedMail
from mailgate.mail.quotes import trim_reply
from mailgate.services import assignment, consultations
from mailgate.services.assignment import Refused
from mailgate.services.context import Context
from mailgate.services.effects import apply_effects
from mailgate.storage import repos
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Draft, Staff, Ticket

_APPROVE: Final = re.compile(r"^\s*#approve\s*$", re.IGNORECASE | re.MULTILINE)
_REJECT: Final = re.compile(r"^\s*#reject\b[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


def approver_of(session: Session, draft: Draft, now: datetime) -> Staff | None:
    """The supervisor, or whoever stands in for them while they are absent."""
    supervisor = staff_repo.by_id(session, draft.supervisor_id)
    return staff_repo.deputy_chain(session, supervisor, now) if supervisor is not None else None


def may_decide(session: Session, ctx: Context, draft: Draft, staff: Staff, now: datetime) -> bool:
    """The supervisor, their deputy, and, once escalated, the pool's manager."""
    approver = approver_of(session, draft, now)
    if staff.id == draft.supervisor_id or (approver is not None and approver.id == staff.id):
        return True
    ticket = repos.get_ticket(session, draft.ticket_id)
    manager = ctx.config.pool(ticket.pool).manager.lower() if ticket else ""
    return draft.reminders >= 2 and bool(manager) and manager in staff_repo.addresses(session, staff.id)


def hold(session: Session, ctx: Context, ticket: Ticket, trainee: Staff, text: str, source: int | None,
         close_after: bool, now: datetime, consult: str = "") -> list[Effect]:
    """Keep a trainee's reply (or, with ``consult``, their question to a department) as a draft;
    the case waits for approval; the approver is asked."""
    if trainee.supervisor_id is None:
        raise Refused("you are a trainee without a supervisor: ask an admin (mailgate user edit)")
    draft = Draft(ticket_id=ticket.id, trainee_id=trainee.id, supervisor_id=trainee.supervisor_id, text=text,
                  action="consult" if consult else "reply", consult=consult[:500],
                  source_message=source, close_after=close_after, state="pending", created_at=now,
                  remind_at=deadlines.next_reminder(now, 0, ctx.config.gateway.approval_reminder),
                  reminders=0, decided_by="", reason="")
    session.add(draft)
    session.flush()
    repos.add_message(session, ticket_id=ticket.id, kind="draft", disposition=f"draft:{draft.id}",
                      message_id="", from_addr=trainee.email, to_addrs=[ticket.requester],
                      subject=ticket.subject[:2000], text=_shown(draft), at=now)
    ticket.updated_at = now
    assignment.move(session, ticket, Event.APPROVAL_REQUESTED)
    approver = approver_of(session, draft, now)
    effects: list[Effect] = [RecordEvent(ticket.id, "draft_held", f"#{draft.id} by {trainee.email}")]
    if approver is not None:
        effects.append(_request(session, ticket, draft, approver.id, trainee, "approval_request"))
    return effects


def _shown(draft: Draft) -> str:
    if draft.action == "consult":
        return f"#consult {draft.consult}\n\n{draft.text}".strip()
    return draft.text or "(no text: the trainee closes the case)"


def _request(session: Session, ticket: Ticket, draft: Draft, to: int, trainee: Staff | None,
             template: str) -> NotifyStaff:
    latest = repos.latest_customer_message(session, ticket.id)
    return NotifyStaff(template, to, ticket.id, {
        "draft_id": draft.id, "draft": _shown(draft),
        "trainee": (trainee.name or trainee.email) if trainee else "?", "close_after": draft.close_after,
        "customer_text": latest.text if latest else ""}, draft_id=draft.id)


def receive(session: Session, ctx: Context, draft: Draft, staff: Staff, mail: ParsedMail,
            now: datetime) -> list[Effect]:
    """The approver's answer by mail: ``#approve`` (with an edited text, or not) or ``#reject``."""
    if not may_decide(session, ctx, draft, staff, now):
        raise Refused(f"only the trainee's supervisor (or their deputy) may decide draft #{draft.id}")
    text = trim_reply(mail.text, staff.name)
    rejected = _REJECT.search(text)
    if rejected:
        return decide(session, ctx, draft, False, staff.email, now, reason=rejected[1].strip())
    if not _APPROVE.search(text):
        raise Refused(f"draft #{draft.id}: reply with #approve (optionally with your edited text) "
                      "or #reject <reason>")
    edited = _APPROVE.sub("", text).strip()
    return decide(session, ctx, draft, True, staff.email, now, text=edited or None)


def decide(session: Session, ctx: Context, draft: Draft, approve: bool, by: str, now: datetime,
           text: str | None = None, reason: str = "") -> list[Effect]:
    """Approve (send) or reject (back to the trainee) a pending draft, exactly once."""
    session.flush()
    won = session.connection().execute(
        update(Draft).where(Draft.id == draft.id, Draft.state == "pending")
        .values(state="approved" if approve else "rejected", decided_at=now, decided_by=by[:254],
                reason=reason[:2000], remind_at=None, text=text if text is not None else Draft.text)
    ).rowcount
    if not won:
        session.refresh(draft)
        raise Refused(f"draft #{draft.id} was already {draft.state} by {draft.decided_by}")
    session.refresh(draft)
    ticket = repos.get_ticket(session, draft.ticket_id)
    assert ticket is not None
    ticket.updated_at = now
    if not approve:
        assignment.move(session, ticket, Event.REJECTED)
        return [RecordEvent(ticket.id, "draft_rejected", f"#{draft.id} by {by}: {reason[:200]}"),
                NotifyStaff("draft_rejected", draft.trainee_id, ticket.id,
                            {"draft_id": draft.id, "reason": reason or "(no reason given)", "by": by,
                             "draft": _shown(draft)})]
    effects: list[Effect] = [RecordEvent(ticket.id, "draft_approved",
                                         f"#{draft.id} by {by}{' (edited)' if text else ''}")]
    if draft.action == "consult":
        trainee = staff_repo.by_id(session, draft.trainee_id)
        assert trainee is not None
        return effects + consultations.consult(session, ctx, ticket, trainee, draft.consult, draft.text, now)
    if draft.text.strip():
        assignment.move(session, ticket, Event.APPROVED)
        assignment.set_due(ticket, deadlines.operator_answered(now, assignment.spans(ctx, ticket.pool)))
        effects.append(RelayReply(ticket.id, draft.trainee_id, draft.text,
                                  source_message=draft.source_message))
    else:
        assignment.move(session, ticket, Event.APPROVED)
    if draft.close_after:
        assignment.move(session, ticket, Event.CLOSED)
        effects.append(RecordEvent(ticket.id, "closed", f"by {by} (approved)"))
        if not draft.text.strip() and ticket.requester:
            effects.append(SendTemplate("case_closed", (ticket.requester,), ticket.id))
    return effects


def remind(session: Session, ctx: Context, draft: Draft, now: datetime) -> list[Effect]:
    """The first time a draft falls due the approver is reminded; the second, the manager is asked."""
    ticket = repos.get_ticket(session, draft.ticket_id)
    if ticket is None or draft.state != "pending":
        draft.remind_at = None
        return []
    trainee = staff_repo.by_id(session, draft.trainee_id)
    draft.reminders += 1
    draft.remind_at = deadlines.next_reminder(draft.created_at, draft.reminders,
                                              ctx.config.gateway.approval_reminder)
    if draft.reminders == 1:
        approver = approver_of(session, draft, now)
        if approver is None:
            return []
        return [RecordEvent(ticket.id, "approval_reminder", f"#{draft.id} to {approver.email}"),
                _request(session, ticket, draft, approver.id, trainee, "approval_reminder")]
    manager_address = ctx.config.pool(ticket.pool).manager
    manager = staff_repo.by_address(session, manager_address) if manager_address else None
    if manager is None:
        return [RecordEvent(ticket.id, "approval_escalation_failed", f"#{draft.id}: pool has no manager")]
    return [RecordEvent(ticket.id, "approval_escalated", f"#{draft.id} to {manager.email}"),
            _request(session, ticket, draft, manager.id, trainee, "approval_request")]


def pending_for(session: Session, ticket_id: int, draft_id: int) -> Draft | None:
    draft = session.get(Draft, draft_id)
    return draft if draft is not None and draft.ticket_id == ticket_id else None


async def list_drafts(ctx: Context, all_states: bool = False) -> list[dict[str, Any]]:
    def work(session: Session) -> list[dict[str, Any]]:
        query = select(Draft).order_by(Draft.id)
        if not all_states:
            query = query.where(Draft.state == "pending")
        rows = []
        for d in session.scalars(query):
            trainee, supervisor = staff_repo.by_id(session, d.trainee_id), staff_repo.by_id(session,
                                                                                            d.supervisor_id)
            rows.append({"id": d.id, "ticket_id": d.ticket_id, "tag": ctx.tag(d.ticket_id), "state": d.state,
                         "trainee": trainee.email if trainee else None,
                         "supervisor": supervisor.email if supervisor else None,
                         "created_at": iso(d.created_at), "reminders": d.reminders, "text": d.text,
                         "close_after": d.close_after, "decided_by": d.decided_by or None,
                         "reason": d.reason or None})
        return rows

    return await ctx.db.run(work)


async def decide_by_admin(ctx: Context, draft_id: int, approve: bool, reason: str = "") -> int:
    """``approval approve|reject``: the same decision from the CLI; returns mails queued."""
    now = ctx.clock.now()

    def work(session: Session) -> int:
        draft = session.get(Draft, draft_id)
        if draft is None:
            raise NotFound(f"no draft {draft_id}")
        effects = decide(session, ctx, draft, approve, "admin", now, reason=reason)
        return apply_effects(session, ctx, effects, now)

    return await ctx.db.run(work)

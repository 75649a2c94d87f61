"""Trainee approval (SPEC §5): a trainee's reply, close or consultation is held as a draft until
approved.

The supervisor (or their deputy while absent; after an unanswered reminder, the pool's manager)
gets the draft with the customer's message and a signed reply address that names the draft. A
reply with ``#approve`` sends the draft, or the reply's own text when they edited it;
``#reject <why>`` sends it back to the trainee (``domain.commands.read_verdict``). ``mailgate
approval approve|reject`` do the same. A decision is a conditional update (``state =
'pending'``), so approving twice, or from two processes at once, sends once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases import consultations, lifecycle, people
from mailgate.cases.context import Context
from mailgate.domain import authority, deadlines
from mailgate.domain.commands import read_verdict
from mailgate.domain.effects import Effect, NotifyStaff, RecordEvent, RelayReply
from mailgate.domain.kinds import DraftAction, DraftState, MessageKind
from mailgate.domain.states import Category, Event
from mailgate.errors import Refused
from mailgate.mail.parse import ParsedMail
from mailgate.mail.quotes import trim_reply
from mailgate.storage import cases, messages
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Draft, Staff, Ticket


def approver_of(session: Session, draft: Draft, now: datetime) -> Staff | None:
    """The supervisor, or whoever stands in for them while they are absent."""
    supervisor = staff_repo.by_id(session, draft.supervisor_id)
    return people.stand_in(session, supervisor, now) if supervisor is not None else None


def may_decide(session: Session, ctx: Context, draft: Draft, staff: Staff, now: datetime) -> bool:
    """The supervisor, their deputy, and, once escalated, the pool's manager."""
    approver = approver_of(session, draft, now)
    ticket = cases.get(session, draft.ticket_id)
    view = authority.DraftView(draft.supervisor_id, approver.id if approver else None, draft.reminders)
    return authority.may_decide(view, staff.id, ticket is not None
                                and people.is_pool_manager(session, ctx, ticket.pool, staff))


def hold(session: Session, ctx: Context, ticket: Ticket, trainee: Staff, text: str, source: int | None,
         close_after: bool, now: datetime, consult: str = "") -> list[Effect]:
    """Keep a trainee's reply (or, with ``consult``, their question to a department) as a draft;
    the case waits for approval; the approver is asked."""
    if trainee.supervisor_id is None:
        raise Refused("you are a trainee without a supervisor: ask an admin (mailgate user edit)")
    draft = Draft(ticket_id=ticket.id, trainee_id=trainee.id, supervisor_id=trainee.supervisor_id, text=text,
                  action=DraftAction.CONSULT if consult else DraftAction.REPLY, consult=consult[:500],
                  source_message=source, close_after=close_after, state=DraftState.PENDING, created_at=now,
                  remind_at=deadlines.next_reminder(now, 0, ctx.config.gateway.approval_reminder),
                  reminders=0, decided_by="", reason="")
    session.add(draft)
    session.flush()
    messages.add(session, ticket_id=ticket.id, kind=MessageKind.DRAFT, disposition=f"draft:{draft.id}",
                 message_id="", from_addr=trainee.email, to_addrs=[ticket.requester],
                 subject=ticket.subject[:2000], text=_shown(draft), at=now, author=trainee.email)
    ticket.updated_at = now
    lifecycle.move(session, ticket, Event.APPROVAL_REQUESTED)
    approver = approver_of(session, draft, now)
    effects: list[Effect] = [RecordEvent(ticket.id, "draft_held", f"#{draft.id} by {trainee.email}")]
    if approver is not None:
        effects.append(_request(session, ticket, draft, approver.id, trainee, "approval_request"))
    return effects


def _shown(draft: Draft) -> str:
    if draft.action == DraftAction.CONSULT:
        return f"#consult {draft.consult}\n\n{draft.text}".strip()
    return draft.text or "(no text: the trainee closes the case)"


def _request(session: Session, ticket: Ticket, draft: Draft, to: int, trainee: Staff | None,
             template: str) -> NotifyStaff:
    latest = messages.latest_from_customer(session, ticket.id)
    return NotifyStaff(template, to, ticket.id, {
        "draft_id": draft.id, "draft": _shown(draft),
        "trainee": (trainee.name or trainee.email) if trainee else "?", "close_after": draft.close_after,
        "customer_text": latest.text if latest else ""}, draft_id=draft.id)


def receive(session: Session, ctx: Context, draft: Draft, staff: Staff, mail: ParsedMail,
            now: datetime) -> list[Effect]:
    """The approver's answer by mail: ``#approve`` (with an edited text, or not) or ``#reject``."""
    if not may_decide(session, ctx, draft, staff, now):
        raise Refused(f"only the trainee's supervisor (or their deputy) may decide draft #{draft.id}")
    verdict = read_verdict(trim_reply(mail.text))
    if verdict is None:
        raise Refused(f"draft #{draft.id}: reply with #approve (optionally with your edited text) "
                      "or #reject <reason>")
    return decide(session, ctx, draft, verdict.approve, staff.email, now, text=verdict.text,
                  reason=verdict.reason)


def decide(session: Session, ctx: Context, draft: Draft, approve: bool, by: str, now: datetime,
           text: str | None = None, reason: str = "") -> list[Effect]:
    """Approve (send) or reject (back to the trainee) a pending draft, exactly once."""
    won = cases.decide_draft(session, draft.id, approve, by, now, text, reason)
    session.refresh(draft)
    if not won:
        raise Refused(f"draft #{draft.id} was already {draft.state} by {draft.decided_by}")
    ticket = cases.get(session, draft.ticket_id)
    assert ticket is not None
    ticket.updated_at = now
    if not approve:
        lifecycle.move(session, ticket, Event.REJECTED)
        return [RecordEvent(ticket.id, "draft_rejected", f"#{draft.id} by {by}: {reason[:200]}"),
                NotifyStaff("draft_rejected", draft.trainee_id, ticket.id,
                            {"draft_id": draft.id, "reason": reason or "(no reason given)", "by": by,
                             "draft": _shown(draft)})]
    effects: list[Effect] = [RecordEvent(ticket.id, "draft_approved",
                                         f"#{draft.id} by {by}{' (edited)' if text else ''}")]
    if draft.action == DraftAction.CONSULT:
        trainee = people.need(session, draft.trainee_id)
        return effects + consultations.consult(session, ctx, ticket, trainee, draft.consult, draft.text, now)
    lifecycle.move(session, ticket, Event.APPROVED)
    answered = bool(draft.text.strip())
    if answered:
        lifecycle.set_due(ticket, deadlines.operator_answered(now, lifecycle.spans(ctx, ticket.pool)))
        effects.append(RelayReply(ticket.id, draft.trainee_id, draft.text,
                                  source_message=draft.source_message))
    if draft.close_after and cases.category_of(session, ticket) is not Category.CLOSED:
        effects += lifecycle.close(session, ctx, ticket, now, f"by {by} (approved)", answered_now=answered)
    return effects


def remind(session: Session, ctx: Context, draft: Draft, now: datetime) -> list[Effect]:
    """The first time a draft falls due the approver is reminded; the second, the manager is asked."""
    ticket = cases.get(session, draft.ticket_id)
    if ticket is None or draft.state != DraftState.PENDING:
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
    manager = people.pool_manager(session, ctx, ticket.pool)
    if manager is None:
        return [RecordEvent(ticket.id, "approval_escalation_failed", f"#{draft.id}: pool has no manager")]
    return [RecordEvent(ticket.id, "approval_escalated", f"#{draft.id} to {manager.email}"),
            _request(session, ticket, draft, manager.id, trainee, "approval_request")]


def pending_for(session: Session, ticket_id: int, draft_id: int) -> Draft | None:
    draft = cases.draft(session, draft_id)
    return draft if draft is not None and draft.ticket_id == ticket_id else None

"""What the reports count (SPEC §11 "Reports"), read for a period ``[since, until)``.

Each query returns plain tuples with the grouping keys (owner, pool, department) beside the
facts; ``services.reports`` adds them up. Everything is ordinary SQL that runs the same on SQLite
and PostgreSQL; percentiles are taken over the returned durations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from mailgate.storage.models import CaseClose, Consultation, MailMessage, Staff, Ticket


@dataclass(frozen=True, slots=True)
class Facts:
    received: list[tuple[str, str, datetime]]                        # owner, pool, at per customer mail
    closes: list[tuple[str, str, bool, bool, float]]                 # owner, pool, on_time, consulted, s
    consultations: list[tuple[str, str, str, bool | None, str]]      # owner, pool, dept, on_time, amount
    feedback: list[tuple[str, str]]                                  # (owner, pool) per case with feedback
    first_responses: list[tuple[str, str, float]]                    # owner, pool, seconds
    open_at_end: list[tuple[str, str, bool, int, str, datetime]]     # owner, pool, overdue, id, subject,
                                                                     # created
    leads: list[tuple[str, str, str]]                                # owner, pool, stage


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _on_time(due: datetime, answered: datetime | None, until: datetime) -> bool | None:
    """Answered before its deadline: True; answered late, or unanswered and past due: False;
    unanswered and not yet due at ``until``: None (neither)."""
    if answered is not None and answered < until:
        return answered < due
    return False if due < until else None


def facts(session: Session, since: datetime, until: datetime, resolve_within: dict[str, float],
          pool: str | None = None) -> Facts:
    """Everything the report adds up, for cases of ``pool`` (all pools when None)."""
    owner = func.coalesce(Staff.email, "")
    in_pool = [Ticket.pool == pool] if pool else []
    received = session.execute(
        select(owner, Ticket.pool, MailMessage.at).select_from(MailMessage)
        .join(Ticket, Ticket.id == MailMessage.ticket_id).outerjoin(Staff, Staff.id == Ticket.owner_id)
        .where(MailMessage.kind.in_(("inbound", "feedback")), MailMessage.disposition == "personal",
               MailMessage.at >= since, MailMessage.at < until, *in_pool)).all()
    closes = session.execute(
        select(CaseClose.owner, CaseClose.pool, CaseClose.on_time, CaseClose.consulted, CaseClose.at,
               Ticket.created_at).join(Ticket, Ticket.id == CaseClose.ticket_id)
        .where(CaseClose.at >= since, CaseClose.at < until,
               *([CaseClose.pool == pool] if pool else []))).all()
    consultations = session.execute(
        select(owner, Ticket.pool, Consultation.department, Consultation.due_at, Consultation.answered_at,
               Consultation.amount).join(Ticket, Ticket.id == Consultation.ticket_id)
        .outerjoin(Staff, Staff.id == Ticket.owner_id)
        .where(Consultation.asked_at >= since, Consultation.asked_at < until, *in_pool)).all()
    with_feedback = select(MailMessage.ticket_id).where(
        MailMessage.kind == "feedback", MailMessage.at >= since, MailMessage.at < until)
    feedback = session.execute(
        select(owner, Ticket.pool).select_from(Ticket).outerjoin(Staff, Staff.id == Ticket.owner_id)
        .where(Ticket.id.in_(with_feedback), *in_pool)).all()
    answer = aliased(MailMessage)
    first = (select(func.min(answer.at)).where(answer.ticket_id == Ticket.id, answer.kind == "outbound",
                                                answer.disposition == "reply").scalar_subquery())
    responses = session.execute(
        select(owner, Ticket.pool, Ticket.created_at, first).select_from(Ticket)
        .outerjoin(Staff, Staff.id == Ticket.owner_id)
        .where(Ticket.created_at >= since, Ticket.created_at < until, *in_pool)).all()
    late_consultation = select(Consultation.ticket_id).where(
        Consultation.asked_at < until, Consultation.due_at < until,
        or_(Consultation.answered_at.is_(None), Consultation.answered_at >= until))
    still_open = session.execute(
        select(owner, Ticket.pool, Ticket.created_at, Ticket.reply_due_at, Ticket.id.in_(late_consultation),
               Ticket.id, Ticket.subject)
        .select_from(Ticket).outerjoin(Staff, Staff.id == Ticket.owner_id)
        .where(Ticket.created_at < until, or_(Ticket.closed_at.is_(None), Ticket.closed_at >= until),
               *in_pool)).all()
    leads = session.execute(
        select(owner, Ticket.pool, func.coalesce(Ticket.stage, "new")).select_from(Ticket)
        .outerjoin(Staff, Staff.id == Ticket.owner_id)
        .where(and_(Ticket.type == "lead", Ticket.created_at >= since, Ticket.created_at < until),
               *in_pool)).all()
    return Facts(
        received=[(o, p, at) for o, p, at in received],
        closes=[(o, p, bool(t), bool(c), _seconds(at, created)) for o, p, t, c, at, created in closes],
        consultations=[(o, p, d, _on_time(due, answered, until), amount)
                       for o, p, d, due, answered, amount in consultations],
        feedback=[(o, p) for o, p in feedback],
        first_responses=[(o, p, _seconds(at, created)) for o, p, created, at in responses
                         if at is not None and at < until],
        open_at_end=[(o, p, bool(late) or _seconds(until, created) > resolve_within.get(p, 5 * 86400)
                      or (due is not None and due < until), case_id, subject, created)
                     for o, p, created, due, late, case_id, subject in still_open],
        leads=[(o, p, s) for o, p, s in leads],
    )

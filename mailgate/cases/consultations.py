"""Consultations (SPEC §6): ask a department about a case by email, with a deadline.

``#consult finance [due=3d] [amount=120.50] <question>`` (read by ``domain.consulting``) mails
the department from a signed address of its own (the token carries the consultation's id). The
department's answer, whether it keeps that address, only the thread headers, or only the subject
tag, and whoever at the department's domain sends it, is stored as internal mail, forwarded to
the owner, and returns the case to ``in progress`` once no other consultation is open. Past the
deadline the department and the owner are reminded once (``consultation_overdue``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailgate.cases import lifecycle, people
from mailgate.cases.context import Context
from mailgate.clock import human, iso
from mailgate.domain.consulting import read_consult
from mailgate.domain.effects import Effect, MailDepartment, NotifyStaff, RecordEvent
from mailgate.domain.kinds import ConsultationState, MessageKind
from mailgate.domain.states import Event
from mailgate.mail.parse import ParsedMail
from mailgate.mail.quotes import trim_reply
from mailgate.storage import cases, messages
from mailgate.storage.models import Consultation, Staff, Ticket


def deadlines(ctx: Context) -> dict[str, timedelta]:
    """Each configured department's name and default deadline."""
    return {d.name: d.deadline for d in ctx.config.departments}


def consult(session: Session, ctx: Context, ticket: Ticket, staff: Staff, arg: str, body: str,
            now: datetime) -> list[Effect]:
    """Open a consultation and mail the department; the case goes under consultation."""
    request = read_consult(arg, body, deadlines(ctx))
    dept = next(d for d in ctx.config.departments if d.name == request.department)
    row = Consultation(ticket_id=ticket.id, department=dept.name, address=dept.address.lower(),
                       asked_by=staff.id, question=request.question[:20000], amount=request.amount,
                       currency=request.currency,
                       state=ConsultationState.OPEN, asked_at=now, due_at=now + request.due, answered_by="")
    session.add(row)
    session.flush()
    ticket.updated_at = now
    lifecycle.move(session, ticket, Event.CONSULTED)
    amount = f"{request.amount} {request.currency}".strip()
    return [RecordEvent(ticket.id, "consulted", f"{dept.name} by {staff.email}, due {iso(row.due_at)}"
                        + (f", amount {amount}" if request.amount else "")),
            MailDepartment(row.id, "consultation_request")]


def receive(session: Session, ctx: Context, consultation: Consultation, mail: ParsedMail, sender: str,
            inbound_id: int, now: datetime) -> list[Effect]:
    """A department's answer: internal on the case, to the owner, back to in progress."""
    ticket = cases.get(session, consultation.ticket_id)
    assert ticket is not None
    text = trim_reply(mail.text)
    messages.add_received(session, ticket.id, mail, inbound_id=inbound_id, kind=MessageKind.CONSULTATION,
                          disposition=f"{messages.STAFF_SIDE}answer", from_addr=sender, text=text, at=now)
    first_answer = consultation.state == ConsultationState.OPEN
    consultation.state = ConsultationState.ANSWERED
    consultation.answered_at = consultation.answered_at or now
    consultation.answered_by = sender[:254]
    ticket.updated_at = now
    if not cases.open_consultations(session, ticket.id):
        lifecycle.move(session, ticket, Event.ANSWER_RECEIVED)
    effects: list[Effect] = [RecordEvent(
        ticket.id, "consultation_answered" if first_answer else "consultation_followup",
        f"{consultation.department} ({sender})")]
    reader = people.reader_of(session, ticket, now)
    if reader is not None:
        effects.append(NotifyStaff("consultation_answered", reader.id, ticket.id, {
            "department": consultation.department, "answered_by": sender, "question": consultation.question,
            "answer": text, "amount": f"{consultation.amount} {consultation.currency}".strip()}))
    return effects


def overdue(session: Session, ctx: Context, consultation: Consultation, now: datetime) -> list[Effect]:
    """Past the deadline: remind the department and tell the owner, once."""
    consultation.overdue_notified_at = now
    ticket = cases.get(session, consultation.ticket_id)
    if ticket is None or cases.category_of(session, ticket).resolved:
        return []
    effects: list[Effect] = [
        RecordEvent(ticket.id, "consultation_overdue", consultation.department),
        MailDepartment(consultation.id, "consultation_overdue")]
    if ticket.owner_id is not None:
        effects.append(NotifyStaff("consultation_overdue", ticket.owner_id, ticket.id, {
            "audience": "owner", "department": consultation.department, "question": consultation.question,
            "due": human(consultation.due_at, ctx.tz),
            "amount": f"{consultation.amount} {consultation.currency}".strip()}))
    return effects

"""Consultations (SPEC §6): ask a department about a case by email, with a deadline.

``#consult finance [due=3d] [amount=120.50] <question>`` mails the department from a signed
address of its own (the token carries the consultation's id). The department's answer, whether
it keeps that address, only the thread headers, or only the subject tag, and whoever at the
department's domain sends it, is stored as internal mail, forwarded to the owner, and returns the
case to ``in progress`` once no other consultation is open. Past the deadline the department and
the owner are reminded once (``consultation_overdue``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.clock import iso
from mailgate.config import DepartmentConfig, parse_duration
from mailgate.domain.effects import Effect, MailDepartment, NotifyStaff, RecordEvent
from mailgate.domain.states import Category, Event
from mailgate.mail.parse import ParsedMail
from mailgate.mail.quotes import trim_reply
from mailgate.services import assignment
from mailgate.services.assignment import Refused
from mailgate.services.context import Context
from mailgate.storage import repos
from mailgate.storage.models import Consultation, Staff, Ticket

_OPTION: Final = re.compile(r"^(due|amount)=(\S+)$", re.IGNORECASE)
_AMOUNT: Final = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


def department(ctx: Context, name: str) -> DepartmentConfig:
    found = next((d for d in ctx.config.departments if d.name == name.lower()), None)
    if found is None:
        known = ", ".join(d.name for d in ctx.config.departments) or "none configured"
        raise Refused(f"#consult {name}: no such department (departments: {known})")
    return found


def consult(session: Session, ctx: Context, ticket: Ticket, staff: Staff, arg: str, body: str,
            now: datetime) -> list[Effect]:
    """Open a consultation and mail the department; the case goes under consultation."""
    words = arg.split()
    if not words:
        raise Refused("#consult needs a department")
    dept = department(ctx, words[0])
    due, amount, rest = dept.deadline, "", words[1:]
    while rest and (option := _OPTION.match(rest[0])):
        key, value = option[1].lower(), option[2]
        if key == "due":
            try:
                due = parse_duration(value)
            except ValueError as exc:
                raise Refused(f"#consult due={value}: {exc}") from None
        elif not _AMOUNT.match(value):
            raise Refused(f"#consult amount={value}: a sum like 120.50")
        else:
            amount = value
        rest = rest[1:]
    question = "\n\n".join(t for t in (" ".join(rest), body) if t.strip())
    if not question.strip():
        raise Refused("#consult needs a question (after the department, or as the reply's text)")
    row = Consultation(ticket_id=ticket.id, department=dept.name, address=dept.address.lower(),
                       asked_by=staff.id, question=question[:20000], amount=amount, state="open",
                       asked_at=now, due_at=now + due, answered_by="")
    session.add(row)
    session.flush()
    ticket.updated_at = now
    assignment.move(session, ticket, Event.CONSULTED)
    return [RecordEvent(ticket.id, "consulted", f"{dept.name} by {staff.email}, due {iso(row.due_at)}"
                        + (f", amount {amount}" if amount else "")),
            MailDepartment(row.id, "consultation_request")]


def by_department_address(session: Session, ticket_id: int, sender: str) -> Consultation | None:
    """The case's newest consultation (open ones first) with the department at exactly ``sender``.

    Used when a department's answer lost the signed address and threads only by its headers or
    the subject tag: then only the department's own address counts, not its whole domain (a
    customer may share the domain).
    """
    return session.scalars(
        select(Consultation).where(Consultation.ticket_id == ticket_id, Consultation.address == sender)
        .order_by(Consultation.state.desc(), Consultation.id.desc()).limit(1)).first()


def receive(session: Session, ctx: Context, consultation: Consultation, mail: ParsedMail, sender: str,
            inbound_id: int, now: datetime) -> list[Effect]:
    """A department's answer: internal on the case, to the owner, back to in progress."""
    ticket = repos.get_ticket(session, consultation.ticket_id)
    assert ticket is not None
    text = trim_reply(mail.text)
    repos.add_received(session, ticket.id, mail, inbound_id=inbound_id, kind="consultation",
                       disposition=f"{repos.STAFF_SIDE}answer", from_addr=sender, text=text, at=now)
    first_answer = consultation.state == "open"
    consultation.state = "answered"
    consultation.answered_at = consultation.answered_at or now
    consultation.answered_by = sender[:254]
    ticket.updated_at = now
    if not repos.open_consultations(session, ticket.id):
        assignment.move(session, ticket, Event.ANSWER_RECEIVED)
    effects: list[Effect] = [RecordEvent(
        ticket.id, "consultation_answered" if first_answer else "consultation_followup",
        f"{consultation.department} ({sender})")]
    reader = assignment.reader_of(session, ticket, now)
    if reader is not None:
        effects.append(NotifyStaff("consultation_answered", reader.id, ticket.id, {
            "department": consultation.department, "answered_by": sender, "question": consultation.question,
            "answer": text, "amount": consultation.amount}))
    return effects


def overdue_effects(session: Session, ctx: Context, consultation: Consultation) -> list[Effect]:
    """Past the deadline: remind the department and tell the owner, once."""
    ticket = repos.get_ticket(session, consultation.ticket_id)
    if ticket is None or Category(repos.status_of(session, ticket).category).resolved:
        return []
    effects: list[Effect] = [
        RecordEvent(ticket.id, "consultation_overdue", consultation.department),
        MailDepartment(consultation.id, "consultation_overdue")]
    if ticket.owner_id is not None:
        effects.append(NotifyStaff("consultation_overdue", ticket.owner_id, ticket.id, {
            "audience": "owner", "department": consultation.department, "question": consultation.question,
            "due": iso(consultation.due_at) or "", "amount": consultation.amount}))
    return effects


async def list_consultations(ctx: Context, overdue: bool = False) -> list[dict[str, Any]]:
    now = ctx.clock.now()

    def work(session: Session) -> list[dict[str, Any]]:
        query = select(Consultation).order_by(Consultation.id)
        if overdue:
            query = query.where(Consultation.state == "open", Consultation.due_at <= now)
        return [{
            "id": c.id, "ticket_id": c.ticket_id, "tag": ctx.tag(c.ticket_id), "department": c.department,
            "address": c.address, "state": c.state, "amount": c.amount or None, "question": c.question,
            "asked_at": iso(c.asked_at), "due_at": iso(c.due_at), "answered_at": iso(c.answered_at),
            "answered_by": c.answered_by or None, "overdue": c.state == "open" and c.due_at <= now,
        } for c in session.scalars(query)]

    return await ctx.db.run(work)

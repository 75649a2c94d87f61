"""The case aggregate: cases, their statuses, participants, links, consultations and drafts.

Query functions; they never commit (the caller's unit of work does). Hot-path statements are
constant Core statements run on the session's connection with bound parameters: compiled once,
cached, and free of ORM flush bookkeeping (measured: that was over half of a message's database
time). The messages of a case are in ``storage.messages``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from mailgate.domain.intake import Parties
from mailgate.domain.kinds import CaseType, ConsultationState, DraftState, ParticipantRole
from mailgate.domain.states import Category
from mailgate.errors import Vanished
from mailgate.storage.models import (
    CaseClose,
    Consultation,
    Draft,
    Participant,
    Staff,
    Status,
    Ticket,
    TicketLink,
)

# --- statuses --------------------------------------------------------------------------------

_STATUSES: Final = "mailgate.statuses"       # the unit of work's statuses, read once
_HELD: Final = "mailgate.held"               # cases this unit of work keeps loaded


def status_for(session: Session, category: Category) -> Status:
    """The first status (by position) of ``category``."""
    status = next((s for s in statuses(session) if s.category == category.value), None)
    if status is None:
        raise Vanished(f"no status of category {category}")
    return status


def status_named(session: Session, name: str) -> Status | None:
    """A status by name, case-insensitively."""
    return session.scalar(select(Status).where(func.lower(Status.name) == name.strip().lower()))


def statuses(session: Session) -> Sequence[Status]:
    """Every status by position, read once per unit of work (``forget_statuses`` after a change)."""
    known: Sequence[Status] | None = session.info.get(_STATUSES)
    if known is None:
        known = session.info[_STATUSES] = session.scalars(
            select(Status).order_by(Status.position, Status.id)).all()
    return known


def forget_statuses(session: Session) -> None:
    """After a status was added or changed in this unit of work."""
    session.info.pop(_STATUSES, None)


def status_of(session: Session, ticket: Ticket) -> Status:
    status = session.get(Status, ticket.status_id)
    assert status is not None
    return status


def category_of(session: Session, ticket: Ticket) -> Category:
    return Category(status_of(session, ticket).category)


# --- cases -----------------------------------------------------------------------------------

_CASE_STATE = (select(Ticket, Status.category)
               .join(Status, Ticket.status_id == Status.id).where(Ticket.id == bindparam("ticket")))


def case_state(session: Session, ticket_id: int) -> tuple[int, str, int | None, datetime | None] | None:
    """(id, status category, owner id, closed at) of a case, in one query that also loads the
    case into the session (a later ``get`` of it costs no second query)."""
    row = session.execute(_CASE_STATE, {"ticket": ticket_id}).first()
    if row is None:
        return None
    ticket, category = row
    session.info.setdefault(_HELD, []).append(ticket)    # the identity map holds it only weakly
    return ticket.id, category, ticket.owner_id, ticket.closed_at


def get(session: Session, ticket_id: int) -> Ticket | None:
    """The case (the session's copy, if it holds one)."""
    return session.get(Ticket, ticket_id)


def add(session: Session, ticket: Ticket, cc: Sequence[str]) -> Ticket:
    """Insert a new case with its requester and cc addresses as participants."""
    session.add(ticket)
    session.flush()
    rows = [{"ticket_id": ticket.id, "address": ticket.requester, "role": ParticipantRole.REQUESTER}]
    rows += [{"ticket_id": ticket.id, "address": a, "role": ParticipantRole.CC}
             for a in dict.fromkeys(cc) if a != ticket.requester]
    session.connection().execute(insert(Participant), rows)
    return ticket


def record_close(session: Session, ticket: Ticket, now: datetime, on_time: bool) -> None:
    """One close of the case, for the reports: its owner and pool now, on time, consulted."""
    owner = session.scalar(select(Staff.email).where(Staff.id == ticket.owner_id)) if ticket.owner_id else ""
    consulted = session.scalar(select(func.count()).select_from(Consultation)
                               .where(Consultation.ticket_id == ticket.id)) or 0
    session.add(CaseClose(ticket_id=ticket.id, at=now, owner=owner or "", pool=ticket.pool, on_time=on_time,
                          consulted=consulted > 0))


def count(session: Session) -> int:
    """How many cases there are."""
    return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


def touch(session: Session, ticket: Ticket, now: datetime, status: Category | None = None,
          reopened: bool = False, customer_at: datetime | None = None) -> None:
    """Mark a case updated: move it to the first status of ``status``; clear closed_at if
    reopened; ``customer_at``: the customer's latest mail (``domain.folders``). The changes go
    out with the session's next flush, as one UPDATE with whatever else changed on the case."""
    ticket.updated_at = now
    if status is not None:
        ticket.status_id = status_for(session, status).id
    if reopened:
        ticket.closed_at = None
    if customer_at is not None:
        ticket.customer_at = customer_at


def set_requester(session: Session, ticket: Ticket, address: str) -> None:
    """Make ``address`` the case's requester (and its requester participant)."""
    ticket.requester = address
    session.execute(delete(Participant).where(
        Participant.ticket_id == ticket.id,
        or_(Participant.role == ParticipantRole.REQUESTER, Participant.address == address)))
    session.add(Participant(ticket_id=ticket.id, address=address, role=ParticipantRole.REQUESTER))
    session.flush()


def link(session: Session, newer: int, older: int) -> None:
    session.add(TicketLink(ticket_id=newer, other_id=older, kind="follows"))
    session.add(TicketLink(ticket_id=older, other_id=newer, kind="followed_by"))


_PARTICIPANTS = select(Participant.address).where(Participant.ticket_id == bindparam("ticket"))


def parties(session: Session, ticket_id: int) -> Parties | None:
    """The case's requester, cc addresses, owner and consulted departments; None: no such case."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    cc = frozenset(session.connection().execute(_PARTICIPANTS, {"ticket": ticket_id}).scalars())
    departments = frozenset(session.scalars(select(Consultation.address).where(
        Consultation.ticket_id == ticket_id)))
    owner = session.get(Staff, ticket.owner_id) if ticket.owner_id is not None else None
    return Parties(ticket.requester, cc, owner.email if owner else None, departments)


_CC = (select(Participant.address).where(Participant.ticket_id == bindparam("ticket"),
                                         Participant.role == ParticipantRole.CC).order_by(Participant.id))


def cc_of(session: Session, ticket_id: int) -> list[str]:
    return list(session.connection().execute(_CC, {"ticket": ticket_id}).scalars())


def unclaimed(session: Session, pools: Sequence[tuple[str, int]], leads: bool, limit: int = 5) -> list[int]:
    """Oldest unowned new cases of ``pools`` ((name, priority)), higher priority pools first."""
    found: list[int] = []
    for priority in sorted({p for _, p in pools}, reverse=True):
        names = [name for name, p in pools if p == priority]
        query = (select(Ticket.id).join(Status, Ticket.status_id == Status.id)
                 .where(Ticket.owner_id.is_(None), Status.category == Category.NEW.value,
                        Ticket.pool.in_(names))
                 .order_by(Ticket.created_at, Ticket.id).limit(limit))
        if not leads:
            query = query.where(Ticket.type != CaseType.LEAD)
        found += session.scalars(query)
    return found


def open_cases_of(session: Session, staff_id: int) -> list[int]:
    """The unresolved cases a staff member owns."""
    return list(session.scalars(
        select(Ticket.id).join(Status, Ticket.status_id == Status.id)
        .where(Ticket.owner_id == staff_id,
               Status.category.not_in([Category.CLOSED.value, Category.EXPIRED.value]))))


def claim(session: Session, ticket_id: int, staff_id: int, now: datetime) -> bool:
    """Take an unowned case for ``staff_id``: a conditional update, so of several concurrent
    claims (from several processes too) exactly one wins. The caller refreshes its copy."""
    session.flush()
    return bool(session.connection().execute(
        update(Ticket).where(Ticket.id == ticket_id, Ticket.owner_id.is_(None))
        .values(owner_id=staff_id, assigned_at=now, acked=True, rollover_at=None, updated_at=now)).rowcount)


# --- consultations and drafts ------------------------------------------------------------------

def open_consultations(session: Session, ticket_id: int) -> list[int]:
    return list(session.scalars(select(Consultation.id).where(
        Consultation.ticket_id == ticket_id, Consultation.state == ConsultationState.OPEN)))


def consultation(session: Session, consultation_id: int) -> Consultation | None:
    return session.get(Consultation, consultation_id)


def draft(session: Session, draft_id: int) -> Draft | None:
    return session.get(Draft, draft_id)


def decide_draft(session: Session, draft_id: int, approve: bool, by: str, now: datetime,
                 text: str | None, reason: str) -> bool:
    """Decide a pending draft: a conditional update, so it is decided once however often (and
    from however many processes) it is asked. ``text`` replaces the draft's text when given."""
    session.flush()
    return bool(session.connection().execute(
        update(Draft).where(Draft.id == draft_id, Draft.state == DraftState.PENDING)
        .values(state=DraftState.APPROVED if approve else DraftState.REJECTED, decided_at=now,
                decided_by=by[:254], reason=reason[:2000], remind_at=None,
                text=text if text is not None else Draft.text)).rowcount)

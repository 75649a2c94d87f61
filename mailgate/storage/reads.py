"""The read model: every listing, the digest and (later) reports read through these queries.

Each returns frozen rows, never ORM objects, so what a use case shows cannot change the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Integer, Select, column, func, or_, select, text
from sqlalchemy.orm import Session, aliased

from mailgate.domain.folders import ALL, CaseFacts, coarse, folder_of
from mailgate.domain.kinds import ConsultationState, DraftState, InboundState, ParticipantRole
from mailgate.domain.states import Category
from mailgate.storage.models import (
    AttachmentRow,
    Consultation,
    Draft,
    Inbound,
    MailMessage,
    Outbox,
    Participant,
    Staff,
    Status,
    Ticket,
    TicketLink,
)

UNRESOLVED = (Category.CLOSED.value, Category.EXPIRED.value)


# --- cases -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case as ``ticket list`` shows it (SPEC §8)."""

    id: int
    type: str
    subject: str
    status: str
    status_category: str
    priority: str
    pool: str
    owner: str | None
    requester: str
    mailbox: str
    site: str
    channel: str
    category: str | None
    created_at: datetime
    updated_at: datetime
    folder: str
    stage: str | None = None           # leads only


@dataclass(frozen=True, slots=True)
class CaseFilter:
    unresolved: bool = False
    pool: str | None = None
    owner: str | None = None
    status: str | None = None
    search: str | None = None
    folder: str | None = None


def _cases() -> Select[Ticket, Status, str]:
    return (select(Ticket, Status, Staff.email).join(Status, Ticket.status_id == Status.id)
            .outerjoin(Staff, Ticket.owner_id == Staff.id))


def _case_row(ticket: Ticket, status: Status, owner: str | None) -> CaseRow:
    folder = folder_of(CaseFacts(Category(status.category), ticket.owner_id is not None, ticket.acked,
                                 ticket.answered_at, ticket.customer_at))
    return CaseRow(ticket.id, ticket.type, ticket.subject, status.name, status.category, ticket.priority,
                   ticket.pool, owner, ticket.requester, ticket.mailbox, ticket.site, ticket.channel,
                   ticket.category, ticket.created_at, ticket.updated_at, folder.value, ticket.stage)


def case_rows(session: Session, flt: CaseFilter) -> list[CaseRow]:
    query = _cases().order_by(Ticket.id)
    if flt.folder and flt.folder != ALL:
        query = query.where(Status.category.in_(coarse(flt.folder)))
    if flt.unresolved:
        query = query.where(Status.category.not_in(UNRESOLVED))
    if flt.pool:
        query = query.where(Ticket.pool == flt.pool)
    if flt.owner:
        query = query.where(Staff.email == flt.owner.lower())
    if flt.status:
        query = query.where(or_(Status.name == flt.status, Status.category == flt.status))
    if flt.search:
        query = query.where(_matching(session, flt.search))
    found = [_case_row(t, st, owner) for t, st, owner in session.execute(query).all()]
    if flt.folder and flt.folder != ALL:
        found = [row for row in found if row.folder == flt.folder]
    return found


_CASE_NUMBER: Final = re.compile(r"\s*(?:[A-Za-z0-9]{0,16}#)?(\d{1,12})\s*")
_WORD: Final = re.compile(r"\w+", re.UNICODE)


def _matching(session: Session, search: str) -> ColumnElement[bool]:
    """The case whose number is ``search`` (1042, MG#1042: that case alone), else the cases whose
    subject or requester contains it, or one of whose messages has every word of it (as a word
    or a word's beginning), found through the full-text index of migration 0009, never by reading
    every body."""
    number = _CASE_NUMBER.fullmatch(search)
    if number:
        return Ticket.id == int(number[1])
    like = f"%{search.strip()}%"
    found: list[ColumnElement[bool]] = [Ticket.subject.ilike(like), Ticket.requester.ilike(like)]
    words = _WORD.findall(search.lower())[:10]
    if words:
        if session.get_bind().dialect.name == "sqlite":
            query = " ".join('"' + w.replace('"', "") + '"*' for w in words)
            texts = text("SELECT m.ticket_id FROM message_fts f JOIN message m ON m.id = f.rowid "
                         "WHERE message_fts MATCH :q").bindparams(q=query)
        else:
            query = " & ".join(f"{w}:*" for w in words)
            texts = text("SELECT ticket_id FROM message WHERE to_tsvector('simple', text) @@ "
                         "to_tsquery('simple', :q)").bindparams(q=query)
        found.append(Ticket.id.in_(texts.columns(column("ticket_id", Integer))))
    return or_(*found)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    kind: str
    from_addr: str
    to: tuple[str, ...]
    subject: str
    message_id: str
    at: datetime
    text: str
    disposition: str
    attachments: tuple[AttachmentInfo, ...]


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case as ``ticket show`` shows it."""

    case: CaseRow
    fields: dict[str, Any]
    cc: tuple[str, ...]
    links: tuple[tuple[int, str], ...]          # (other case, kind)
    quoted_tag: int | None
    deadlines: dict[str, datetime]
    answers: dict[str, Any]
    messages: tuple[MessageRow, ...]


def case_detail(session: Session, ticket_id: int) -> CaseDetail | None:
    row = session.execute(_cases().where(Ticket.id == ticket_id)).first()
    if row is None:
        return None
    ticket, status, owner = row
    cc = session.scalars(select(Participant.address).where(
        Participant.ticket_id == ticket_id, Participant.role == ParticipantRole.CC).order_by(Participant.id))
    links = session.scalars(select(TicketLink).where(TicketLink.ticket_id == ticket_id))
    deadlines = {key: value for key, value in (
        ("reply_due_at", ticket.reply_due_at), ("customer_due_at", ticket.customer_due_at),
        ("rollover_at", ticket.rollover_at)) if value is not None}
    return CaseDetail(_case_row(ticket, status, owner), dict(ticket.fields or {}), tuple(cc),
                      tuple((link.other_id, link.kind) for link in links), ticket.quoted_tag, deadlines,
                      dict(ticket.answers or {}), tuple(_messages(session, ticket_id)))


def _messages(session: Session, ticket_id: int) -> list[MessageRow]:
    messages = session.scalars(
        select(MailMessage).where(MailMessage.ticket_id == ticket_id).order_by(MailMessage.id)).all()
    atts = session.scalars(select(AttachmentRow).where(
        AttachmentRow.message_id.in_([m.id for m in messages])).order_by(AttachmentRow.id)).all()
    by_message: dict[int, list[AttachmentInfo]] = {}
    for a in atts:
        by_message.setdefault(a.message_id, []).append(AttachmentInfo(a.filename, a.content_type, a.size,
                                                                      a.sha256))
    return [MessageRow(m.id, m.kind, m.from_addr, tuple(m.to_addrs), m.subject, m.message_id, m.at, m.text,
                       m.disposition, tuple(by_message.get(m.id, ()))) for m in messages]


# --- the manager's digest ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DigestCase:
    id: int
    status: str
    owner: str | None
    subject: str
    due: datetime | None            # the nearest reply or customer deadline
    created_at: datetime | None = None
    mailbox: str = ""


@dataclass(frozen=True, slots=True)
class OverdueConsultation:
    ticket_id: int
    department: str
    due_at: datetime


def unresolved_in_pool(session: Session, pool: str) -> list[DigestCase]:
    rows = session.execute(
        select(Ticket, Status.name, Staff.email).join(Status, Ticket.status_id == Status.id)
        .outerjoin(Staff, Ticket.owner_id == Staff.id)
        .where(Ticket.pool == pool, Status.category.not_in(UNRESOLVED)).order_by(Ticket.id)).all()
    return [DigestCase(t.id, name, owner, t.subject,
                       min((d for d in (t.reply_due_at, t.customer_due_at) if d is not None), default=None),
                       t.created_at, t.mailbox)
            for t, name, owner in rows]


def overdue_consultations(session: Session, pool: str | None, now: datetime) -> list[OverdueConsultation]:
    query = (select(Consultation).join(Ticket, Ticket.id == Consultation.ticket_id)
             .where(Consultation.state == ConsultationState.OPEN, Consultation.due_at <= now)
             .order_by(Consultation.id))
    if pool is not None:
        query = query.where(Ticket.pool == pool)
    return [OverdueConsultation(c.ticket_id, c.department, c.due_at) for c in session.scalars(query)]


def received_per_mailbox(session: Session) -> dict[str, tuple[int, datetime]]:
    """Messages stored per mailbox name: (how many, the newest's arrival)."""
    rows = session.execute(select(Inbound.mailbox, func.count(), func.max(Inbound.received_at))
                           .group_by(Inbound.mailbox)).all()
    return {name: (int(count), latest) for name, count, latest in rows if name}


# --- consultations, drafts, quarantine, outbox ---------------------------------------------------

@dataclass(frozen=True, slots=True)
class ConsultationRow:
    id: int
    ticket_id: int
    department: str
    address: str
    state: str
    amount: str
    question: str
    asked_at: datetime
    due_at: datetime
    answered_at: datetime | None
    answered_by: str


def consultation_rows(session: Session, overdue_at: datetime | None = None) -> list[ConsultationRow]:
    query = select(Consultation).order_by(Consultation.id)
    if overdue_at is not None:
        query = query.where(Consultation.state == ConsultationState.OPEN, Consultation.due_at <= overdue_at)
    return [ConsultationRow(c.id, c.ticket_id, c.department, c.address, c.state, c.amount, c.question,
                            c.asked_at, c.due_at, c.answered_at, c.answered_by)
            for c in session.scalars(query)]


@dataclass(frozen=True, slots=True)
class DraftRow:
    id: int
    ticket_id: int
    state: str
    trainee: str | None
    supervisor: str | None
    created_at: datetime
    reminders: int
    text: str
    close_after: bool
    decided_by: str
    reason: str


def draft_rows(session: Session, all_states: bool = False) -> list[DraftRow]:
    trainee, supervisor = aliased(Staff), aliased(Staff)
    query = (select(Draft, trainee.email, supervisor.email)
             .outerjoin(trainee, trainee.id == Draft.trainee_id)
             .outerjoin(supervisor, supervisor.id == Draft.supervisor_id).order_by(Draft.id))
    if not all_states:
        query = query.where(Draft.state == DraftState.PENDING)
    return [DraftRow(d.id, d.ticket_id, d.state, t, s, d.created_at, d.reminders, d.text, d.close_after,
                     d.decided_by, d.reason) for d, t, s in session.execute(query).all()]


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    id: int
    reason: str
    received_at: datetime
    source: str
    size: int
    sha256: str
    mail_from: str
    rcpt_to: tuple[str, ...]


def quarantine_row(row: Inbound) -> QuarantineRow:
    return QuarantineRow(row.id, row.reason, row.received_at, row.source, row.size, row.sha256,
                         row.mail_from, tuple(row.rcpt_to))


def quarantine_rows(session: Session) -> list[QuarantineRow]:
    query = select(Inbound).where(Inbound.state == InboundState.QUARANTINED).order_by(Inbound.id)
    return [quarantine_row(r) for r in session.scalars(query)]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    ticket_id: int | None
    to: tuple[str, ...]
    subject: str
    message_id: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str


def outbox_rows(session: Session, state: str | None = None) -> Sequence[OutboxRow]:
    query = select(Outbox.id, Outbox.ticket_id, Outbox.rcpt_to, Outbox.subject, Outbox.message_id,
                   Outbox.state, Outbox.attempts, Outbox.next_attempt_at,
                   Outbox.last_error).order_by(Outbox.id)
    if state:
        query = query.where(Outbox.state == state)
    return [OutboxRow(r[0], r[1], tuple(r[2]), *r[3:]) for r in session.execute(query).all()]


# --- quick stats (SPEC §11 "stats") ----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Stats:
    leads_by_stage: dict[str, int]          # leads created since, by their current stage
    unresolved: int
    overdue: int
    open_by_pool: dict[str, int]
    open_by_status: dict[str, int]


def quick_stats(session: Session, since: datetime, now: datetime) -> Stats:
    """Leads created since ``since`` by stage; over cases not closed: the count, the overdue ones
    (expired, or past a reply, customer or consultation deadline), by pool and by status."""
    leads = dict(session.execute(
        select(Ticket.stage, func.count()).where(Ticket.type == "lead", Ticket.created_at >= since)
        .group_by(Ticket.stage)).all())
    open_case = Status.category != Category.CLOSED.value
    base = (select(func.count()).select_from(Ticket).join(Status, Ticket.status_id == Status.id)
            .where(open_case))
    late_consultation = select(Consultation.ticket_id).where(
        Consultation.state == ConsultationState.OPEN, Consultation.due_at < now)
    overdue = base.where(or_(Status.category == Category.EXPIRED.value, Ticket.reply_due_at < now,
                             Ticket.customer_due_at < now, Ticket.id.in_(late_consultation)))
    by_pool = select(Ticket.pool, func.count()).join(Status, Ticket.status_id == Status.id).where(
        open_case).group_by(Ticket.pool).order_by(Ticket.pool)
    by_status = select(Status.name, func.count()).join(Ticket, Ticket.status_id == Status.id).where(
        open_case).group_by(Status.name, Status.position).order_by(Status.position)
    return Stats({str(k or "new"): int(v) for k, v in leads.items()}, int(session.scalar(base) or 0),
                 int(session.scalar(overdue) or 0),
                 {p: int(n) for p, n in session.execute(by_pool)},
                 {s: int(n) for s, n in session.execute(by_status)})


# --- "my cases" by mail (SPEC §4 "+status") --------------------------------------------------

@dataclass(frozen=True, slots=True)
class MyCase:
    id: int
    subject: str
    status: str
    latest_answer: str


def my_cases(session: Session, address: str, closed_since: datetime, limit: int = 20) -> list[MyCase]:
    """``address``'s open cases and those closed since ``closed_since``, newest first."""
    answer = aliased(MailMessage)
    latest = (select(answer.text).where(answer.ticket_id == Ticket.id, answer.kind == "outbound",
                                        answer.disposition == "reply")
              .order_by(answer.id.desc()).limit(1).scalar_subquery())
    rows = session.execute(
        select(Ticket.id, Ticket.subject, Status.name, latest).join(Status, Ticket.status_id == Status.id)
        .where(func.lower(Ticket.requester) == address.lower(),
               or_(Status.category.not_in(UNRESOLVED), Ticket.closed_at >= closed_since))
        .order_by(Ticket.id.desc()).limit(limit))
    return [MyCase(i, subject, status, text or "") for i, subject, status, text in rows]

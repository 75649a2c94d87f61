"""Query functions per aggregate. They never commit: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailgate.domain.states import Category
from mailgate.storage.models import (
    AttachmentRow,
    AutoResponse,
    Blob,
    Inbound,
    MailMessage,
    Participant,
    Staff,
    Status,
    Ticket,
    TicketEvent,
    TicketLink,
)


def _insert(session: Session, table: type[Any]) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- inbound queue -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewInbound:
    source: str
    source_key: str | None
    digest: str
    sha256: str
    mail_from: str
    rcpt_to: list[str]
    mailbox: str
    peer: str
    raw: bytes
    received_at: datetime


def insert_inbound(session: Session, row: NewInbound) -> tuple[int, bool]:
    """Store a received message once; return (id, created). A copy already stored is not added."""
    stmt = _insert(session, Inbound).values(
        source=row.source, source_key=row.source_key, digest=row.digest, sha256=row.sha256,
        mail_from=row.mail_from, rcpt_to=row.rcpt_to, mailbox=row.mailbox, peer=row.peer,
        size=len(row.raw), raw=row.raw, received_at=row.received_at, state="pending", reason="",
    ).on_conflict_do_nothing().returning(Inbound.id)
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True
    existing = session.scalar(
        select(Inbound.id).where(or_(Inbound.digest == row.digest, Inbound.source_key == row.source_key))
    )
    return int(existing or 0), False


def pending_inbound_ids(session: Session, limit: int) -> list[int]:
    rows = session.scalars(
        select(Inbound.id).where(Inbound.state == "pending").order_by(Inbound.id).limit(limit)
    )
    return list(rows)


def get_inbound(session: Session, inbound_id: int) -> Inbound | None:
    return session.get(Inbound, inbound_id)


def finish_inbound(
    session: Session, inbound_id: int, state: str, now: datetime,
    reason: str = "", ticket_id: int | None = None,
) -> bool:
    """Move a pending row to ``state``; False if another worker got there first."""
    result = session.execute(
        update(Inbound)
        .where(Inbound.id == inbound_id, Inbound.state == "pending")
        .values(state=state, reason=reason, ticket_id=ticket_id, processed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def set_inbound_ticket(session: Session, inbound_id: int, ticket_id: int) -> None:
    session.execute(
        update(Inbound).where(Inbound.id == inbound_id).values(ticket_id=ticket_id)
        .execution_options(synchronize_session=False)
    )


def quarantined(session: Session) -> Sequence[Inbound]:
    return session.scalars(
        select(Inbound).where(Inbound.state == "quarantined").order_by(Inbound.id)
    ).all()


# --- threading -------------------------------------------------------------------------------

class SqlThreadLookup:
    """The ``matching.ThreadLookup`` port over the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def case_for_message_ids(self, ids: Sequence[str]) -> int | None:
        rows = self.session.execute(
            select(MailMessage.message_id, MailMessage.ticket_id).where(MailMessage.message_id.in_(ids))
        ).all()
        by_id = {mid: tid for mid, tid in rows}
        return next((by_id[i] for i in ids if i in by_id), None)

    def participants(self, case_id: int) -> frozenset[str] | None:
        ticket = self.session.get(Ticket, case_id)
        if ticket is None:
            return None
        addresses = set(self.session.scalars(
            select(Participant.address).where(Participant.ticket_id == case_id)
        ))
        addresses.add(ticket.requester)
        if ticket.owner_id is not None:
            owner = self.session.get(Staff, ticket.owner_id)
            if owner is not None:
                addresses.add(owner.email)
        return frozenset(addresses)


# --- statuses --------------------------------------------------------------------------------

def status_for(session: Session, category: Category) -> Status:
    """The first status (by position) of ``category``."""
    status = session.scalar(
        select(Status).where(Status.category == category.value).order_by(Status.position).limit(1)
    )
    if status is None:
        raise LookupError(f"no status of category {category}")
    return status


def status_of(session: Session, ticket: Ticket) -> Status:
    status = session.get(Status, ticket.status_id)
    assert status is not None
    return status


# --- tickets ---------------------------------------------------------------------------------

def get_ticket(session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


def add_ticket(session: Session, ticket: Ticket, cc: Sequence[str]) -> Ticket:
    session.add(ticket)
    session.flush()
    session.add(Participant(ticket_id=ticket.id, address=ticket.requester, role="requester"))
    for addr in dict.fromkeys(cc):
        if addr != ticket.requester:
            session.add(Participant(ticket_id=ticket.id, address=addr, role="cc"))
    return ticket


def link_tickets(session: Session, newer: int, older: int) -> None:
    session.add(TicketLink(ticket_id=newer, other_id=older, kind="follows"))
    session.add(TicketLink(ticket_id=older, other_id=newer, kind="followed_by"))


def add_event(session: Session, ticket_id: int, at: datetime, kind: str, detail: str = "") -> None:
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=kind, detail=detail[:2000]))


def add_message(session: Session, message: MailMessage) -> MailMessage:
    session.add(message)
    session.flush()
    return message


def add_attachment(
    session: Session, message_id: int, filename: str, content_type: str, data: bytes,
    sha256: str, content_id: str = "", inline: bool = False,
) -> None:
    """Store an attachment; its bytes go in the content-addressed blob table once."""
    session.execute(_insert(session, Blob).values(sha256=sha256, data=data).on_conflict_do_nothing())
    session.add(AttachmentRow(
        message_id=message_id, filename=filename, content_type=content_type, size=len(data),
        sha256=sha256, content_id=content_id, inline=inline,
    ))


def thread_ids(session: Session, ticket_id: int, limit: int = 10) -> list[str]:
    """The newest ``limit`` Message-IDs on a case, oldest first (for References)."""
    rows = session.scalars(
        select(MailMessage.message_id).where(MailMessage.ticket_id == ticket_id)
        .order_by(MailMessage.id.desc()).limit(limit)
    )
    return list(reversed(list(rows)))


# --- auto-responses --------------------------------------------------------------------------

def auto_response_counts(session: Session, sender: str, ticket_id: int, now: datetime) -> tuple[bool, int]:
    """Return (already answered on this case, answers in the last 24 hours) for ``sender``."""
    on_case = session.scalar(select(func.count()).select_from(AutoResponse).where(
        AutoResponse.sender == sender, AutoResponse.ticket_id == ticket_id))
    today = session.scalar(select(func.count()).select_from(AutoResponse).where(
        AutoResponse.sender == sender, AutoResponse.at > now - timedelta(days=1)))
    return bool(on_case), int(today or 0)


def record_auto_response(session: Session, sender: str, ticket_id: int, now: datetime) -> None:
    session.add(AutoResponse(sender=sender, ticket_id=ticket_id, at=now))

"""Query functions per aggregate. They never commit: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

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


def _insert(session: AsyncSession, table: type[object]):  # type: ignore[no-untyped-def]
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


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


async def insert_inbound(session: AsyncSession, row: NewInbound) -> tuple[int, bool]:
    """Store a received message once; return (id, created). A copy already stored is not added."""
    stmt = _insert(session, Inbound).values(
        source=row.source, source_key=row.source_key, digest=row.digest, sha256=row.sha256,
        mail_from=row.mail_from, rcpt_to=row.rcpt_to, mailbox=row.mailbox, peer=row.peer,
        size=len(row.raw), raw=row.raw, received_at=row.received_at, state="pending", reason="",
    ).on_conflict_do_nothing().returning(Inbound.id)
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True
    existing = await session.scalar(
        select(Inbound.id).where(or_(Inbound.digest == row.digest, Inbound.source_key == row.source_key))
    )
    return int(existing or 0), False


async def pending_inbound_ids(session: AsyncSession, limit: int) -> list[int]:
    rows = await session.scalars(
        select(Inbound.id).where(Inbound.state == "pending").order_by(Inbound.id).limit(limit)
    )
    return list(rows)


async def get_inbound(session: AsyncSession, inbound_id: int) -> Inbound | None:
    return await session.get(Inbound, inbound_id)


async def finish_inbound(
    session: AsyncSession, inbound_id: int, state: str, now: datetime,
    reason: str = "", ticket_id: int | None = None,
) -> bool:
    """Move a pending row to ``state``; False if another worker got there first."""
    result = await session.execute(
        update(Inbound)
        .where(Inbound.id == inbound_id, Inbound.state == "pending")
        .values(state=state, reason=reason, ticket_id=ticket_id, processed_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def quarantined(session: AsyncSession) -> Sequence[Inbound]:
    rows = await session.scalars(
        select(Inbound).where(Inbound.state == "quarantined").order_by(Inbound.id)
    )
    return rows.all()


# --- threading -------------------------------------------------------------------------------

class SqlThreadLookup:
    """The ``matching.ThreadLookup`` port over the database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def case_for_message_ids(self, ids: Sequence[str]) -> int | None:
        rows = (await self.session.execute(
            select(MailMessage.message_id, MailMessage.ticket_id).where(MailMessage.message_id.in_(ids))
        )).all()
        by_id = {mid: tid for mid, tid in rows}
        return next((by_id[i] for i in ids if i in by_id), None)

    async def participants(self, case_id: int) -> frozenset[str] | None:
        ticket = await self.session.get(Ticket, case_id)
        if ticket is None:
            return None
        addresses = set(await self.session.scalars(
            select(Participant.address).where(Participant.ticket_id == case_id)
        ))
        addresses.add(ticket.requester)
        if ticket.owner_id is not None:
            owner = await self.session.get(Staff, ticket.owner_id)
            if owner is not None:
                addresses.add(owner.email)
        return frozenset(addresses)


# --- statuses --------------------------------------------------------------------------------

async def status_for(session: AsyncSession, category: Category) -> Status:
    """The first status (by position) of ``category``."""
    status = await session.scalar(
        select(Status).where(Status.category == category.value).order_by(Status.position).limit(1)
    )
    if status is None:
        raise LookupError(f"no status of category {category}")
    return status


async def status_by_name(session: AsyncSession, name: str) -> Status | None:
    return await session.scalar(select(Status).where(func.lower(Status.name) == name.lower()))


async def statuses(session: AsyncSession) -> dict[int, Status]:
    return {s.id: s for s in await session.scalars(select(Status))}


# --- tickets ---------------------------------------------------------------------------------

async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def add_ticket(session: AsyncSession, ticket: Ticket, cc: Sequence[str]) -> Ticket:
    session.add(ticket)
    await session.flush()
    session.add(Participant(ticket_id=ticket.id, address=ticket.requester, role="requester"))
    for addr in dict.fromkeys(cc):
        if addr != ticket.requester:
            session.add(Participant(ticket_id=ticket.id, address=addr, role="cc"))
    return ticket


async def link_tickets(session: AsyncSession, newer: int, older: int) -> None:
    session.add(TicketLink(ticket_id=newer, other_id=older, kind="follows"))
    session.add(TicketLink(ticket_id=older, other_id=newer, kind="followed_by"))


async def add_event(session: AsyncSession, ticket_id: int, at: datetime, kind: str, detail: str = "") -> None:
    session.add(TicketEvent(ticket_id=ticket_id, at=at, kind=kind, detail=detail[:2000]))


async def add_message(session: AsyncSession, message: MailMessage) -> MailMessage:
    session.add(message)
    await session.flush()
    return message


async def add_attachment(
    session: AsyncSession, message_id: int, filename: str, content_type: str, data: bytes,
    sha256: str, content_id: str = "", inline: bool = False,
) -> None:
    """Store an attachment; its bytes go in the content-addressed blob table once."""
    await session.execute(_insert(session, Blob).values(sha256=sha256, data=data).on_conflict_do_nothing())
    session.add(AttachmentRow(
        message_id=message_id, filename=filename, content_type=content_type, size=len(data),
        sha256=sha256, content_id=content_id, inline=inline,
    ))


# --- auto-responses --------------------------------------------------------------------------

async def auto_response_counts(
    session: AsyncSession, sender: str, ticket_id: int, now: datetime
) -> tuple[bool, int]:
    """Return (already answered on this case, answers in the last 24 hours) for ``sender``."""
    on_case = await session.scalar(select(func.count()).select_from(AutoResponse).where(
        AutoResponse.sender == sender, AutoResponse.ticket_id == ticket_id))
    today = await session.scalar(select(func.count()).select_from(AutoResponse).where(
        AutoResponse.sender == sender, AutoResponse.at > now - timedelta(days=1)))
    return bool(on_case), int(today or 0)


async def record_auto_response(session: AsyncSession, sender: str, ticket_id: int, now: datetime) -> None:
    session.add(AutoResponse(sender=sender, ticket_id=ticket_id, at=now))


async def thread_ids(session: AsyncSession, ticket_id: int, limit: int = 10) -> list[str]:
    """The newest ``limit`` Message-IDs on a case, oldest first (for References)."""
    rows = await session.scalars(
        select(MailMessage.message_id).where(MailMessage.ticket_id == ticket_id)
        .order_by(MailMessage.id.desc()).limit(limit)
    )
    return list(reversed(list(rows)))


async def finish_inbound_ticket(session: AsyncSession, inbound_id: int, ticket_id: int) -> None:
    await session.execute(
        update(Inbound).where(Inbound.id == inbound_id).values(ticket_id=ticket_id)
        .execution_options(synchronize_session=False)
    )

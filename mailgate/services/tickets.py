"""Case use cases for the CLI: list, show, close, assign, edit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailgate.clock import iso
from mailgate.domain.commands import PRIORITIES
from mailgate.domain.effects import Effect, RecordEvent, SendTemplate
from mailgate.domain.states import Category, Event, next_category
from mailgate.errors import NotFound, UsageError
from mailgate.mail.headers import one_line
from mailgate.services import assignment, operators
from mailgate.services.context import Context
from mailgate.services.effects import apply_effects
from mailgate.storage import repos
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import (
    AttachmentRow,
    MailMessage,
    Participant,
    Staff,
    Status,
    Ticket,
    TicketLink,
)


@dataclass(frozen=True, slots=True)
class TicketFilter:
    unresolved: bool = False
    pool: str | None = None
    owner: str | None = None
    status: str | None = None
    search: str | None = None


def _summary(ctx: Context, t: Ticket, status: Status, owner: str | None) -> dict[str, Any]:
    return {
        "id": t.id, "tag": ctx.tag(t.id), "type": t.type, "subject": t.subject,
        "status": status.name, "status_category": status.category, "priority": t.priority,
        "pool": t.pool, "owner": owner, "requester": t.requester, "mailbox": t.mailbox,
        "site": t.site, "channel": t.channel, "category": t.category,
        "created_at": iso(t.created_at), "updated_at": iso(t.updated_at),
    }


def _base_query() -> Any:
    return (select(Ticket, Status, Staff.email).join(Status, Ticket.status_id == Status.id)
            .outerjoin(Staff, Ticket.owner_id == Staff.id))


async def list_tickets(ctx: Context, flt: TicketFilter) -> list[dict[str, Any]]:
    query = _base_query().order_by(Ticket.id)
    if flt.unresolved:
        query = query.where(Status.category.not_in([Category.CLOSED.value, Category.EXPIRED.value]))
    if flt.pool:
        query = query.where(Ticket.pool == flt.pool)
    if flt.owner:
        query = query.where(Staff.email == flt.owner.lower())
    if flt.status:
        query = query.where(or_(Status.name == flt.status, Status.category == flt.status))
    if flt.search:
        like = f"%{flt.search}%"
        text_match = select(MailMessage.ticket_id).where(MailMessage.text.ilike(like))
        query = query.where(or_(Ticket.subject.ilike(like), Ticket.requester.ilike(like),
                                Ticket.id.in_(text_match)))
    rows = await ctx.db.run(lambda s: s.execute(query).all())
    return [_summary(ctx, t, st, owner) for t, st, owner in rows]


async def show_ticket(ctx: Context, ticket_id: int) -> dict[str, Any]:
    result = await ctx.db.run(lambda s: _show(s, ctx, ticket_id))
    if result is None:
        raise NotFound(f"no case {ticket_id}")
    return result


def _show(session: Session, ctx: Context, ticket_id: int) -> dict[str, Any] | None:
    row = session.execute(_base_query().where(Ticket.id == ticket_id)).first()
    if row is None:
        return None
    ticket, status, owner = row
    result = _summary(ctx, ticket, status, owner)
    result["fields"] = dict(ticket.fields or {})
    result["cc"] = list(session.scalars(select(Participant.address).where(
        Participant.ticket_id == ticket_id, Participant.role == "cc").order_by(Participant.id)))
    links = session.scalars(select(TicketLink).where(TicketLink.ticket_id == ticket_id))
    result["links"] = [{"id": link.other_id, "kind": link.kind} for link in links]
    result["quoted_tag"] = ticket.quoted_tag
    result["deadlines"] = {key: iso(value) for key, value in (
        ("reply_due_at", ticket.reply_due_at), ("customer_due_at", ticket.customer_due_at),
        ("rollover_at", ticket.rollover_at)) if value is not None}
    result["answers"] = dict(ticket.answers or {})
    result["messages"] = _messages(session, ticket_id)
    return result


def _messages(session: Session, ticket_id: int) -> list[dict[str, Any]]:
    messages = session.scalars(
        select(MailMessage).where(MailMessage.ticket_id == ticket_id).order_by(MailMessage.id)).all()
    atts = session.scalars(select(AttachmentRow).where(
        AttachmentRow.message_id.in_([m.id for m in messages])).order_by(AttachmentRow.id)).all()
    by_message: dict[int, list[dict[str, Any]]] = {}
    for a in atts:
        by_message.setdefault(a.message_id, []).append(
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "sha256": a.sha256})
    return [{
        "id": m.id, "kind": m.kind, "from": m.from_addr, "to": list(m.to_addrs),
        "subject": m.subject, "message_id": m.message_id, "at": iso(m.at), "text": m.text,
        "disposition": m.disposition, "attachments": by_message.get(m.id, []),
    } for m in messages]


async def close_ticket(ctx: Context, ticket_id: int, notify: bool = True) -> int:
    """Close a case and tell the requester; return the number of mails queued."""
    now = ctx.clock.now()
    return await ctx.db.run(lambda s: _close(s, ctx, ticket_id, notify, now))


def _close(session: Session, ctx: Context, ticket_id: int, notify: bool, now: datetime) -> int:
    ticket = _need(session, ticket_id)
    current = Category(repos.status_of(session, ticket).category)
    if current is Category.CLOSED:
        raise UsageError(f"case {ticket_id} is already closed")
    ticket.updated_at = now
    assignment.set_status(ticket, repos.status_for(session, next_category(current, Event.CLOSED)))
    effects: list[Effect] = [RecordEvent(ticket_id, "closed", "by admin")]
    if notify and ticket.requester:
        effects.append(SendTemplate("case_closed", (ticket.requester,), ticket_id))
    return apply_effects(session, ctx, effects, now)


async def assign_ticket(ctx: Context, ticket_id: int, user: str) -> int:
    """``ticket assign``: give a case to a staff member (forwarded to them); return mails queued."""
    now = ctx.clock.now()

    def work(session: Session) -> int:
        ticket = _need(session, ticket_id)
        target = staff_repo.by_name(session, user)
        if target is None:
            raise NotFound(f"no staff member {user!r} (use the address or a unique local part)")
        effects = assignment.assign(session, ctx, ticket, target, now, by="admin")
        return apply_effects(session, ctx, effects, now)

    return await ctx.db.run(work)


@dataclass(frozen=True, slots=True)
class TicketEdit:
    subject: str | None = None
    category: str | None = None
    priority: str | None = None
    status: str | None = None
    fields: tuple[str, ...] = ()       # "name=value"


async def edit_ticket(ctx: Context, ticket_id: int, edit: TicketEdit) -> dict[str, Any]:
    """``ticket edit``: change subject, category, priority, status or custom fields."""
    now = ctx.clock.now()

    await ctx.db.run(lambda session: _edit(session, ctx, ticket_id, edit, now))
    return await show_ticket(ctx, ticket_id)


def _edit(session: Session, ctx: Context, ticket_id: int, edit: TicketEdit, now: datetime) -> None:
    ticket = _need(session, ticket_id)
    effects: list[Effect] = []
    if edit.subject is not None:
        if not edit.subject.strip():
            raise UsageError("the subject cannot be empty")
        ticket.subject = one_line(edit.subject)[:1000]
        effects.append(RecordEvent(ticket.id, "subject", ticket.subject[:200]))
    if edit.category is not None:
        ticket.category = edit.category[:100] or None
        effects.append(RecordEvent(ticket.id, "category", edit.category[:100]))
    if edit.priority is not None:
        if edit.priority not in PRIORITIES:
            raise UsageError(f"priority must be {' or '.join(PRIORITIES)}")
        ticket.priority = edit.priority
        effects.append(RecordEvent(ticket.id, "priority", edit.priority))
    if edit.status is not None:
        effects.append(_set_status(session, ticket, edit.status, now))
    for item in edit.fields:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set takes FIELD=VALUE, not {item!r}")
        effects.append(operators.set_field(ctx, ticket, name.strip(), value.strip(), by="admin"))
    ticket.updated_at = now
    apply_effects(session, ctx, effects, now)


def _set_status(session: Session, ticket: Ticket, name: str, now: datetime) -> RecordEvent:
    status = repos.status_named(session, name)
    if status is None:
        raise UsageError(f"no status {name!r}")
    ticket.updated_at = now
    assignment.set_status(ticket, status)
    return RecordEvent(ticket.id, "status", status.name)



def _need(session: Session, ticket_id: int) -> Ticket:
    ticket = repos.get_ticket(session, ticket_id)
    if ticket is None:
        raise NotFound(f"no case {ticket_id}")
    return ticket

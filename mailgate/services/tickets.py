"""Case use cases for the CLI: list, show, close, assign, edit."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailgate.cases import assignment, commands, leads, lifecycle
from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.effects import Effect, RecordEvent
from mailgate.domain.kinds import Priority
from mailgate.domain.leads import Stage
from mailgate.domain.states import Category
from mailgate.errors import NotFound, UsageError
from mailgate.mail.addresses import is_valid
from mailgate.mail.headers import one_line
from mailgate.services import units
from mailgate.storage import cases, reads
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Ticket

TicketFilter = reads.CaseFilter


def _summary(ctx: Context, row: reads.CaseRow) -> dict[str, Any]:
    data = asdict(row)
    return {"id": row.id, "tag": ctx.tag(row.id),
            **{k: v for k, v in data.items() if k not in ("id", "created_at", "updated_at")},
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


async def list_tickets(ctx: Context, flt: TicketFilter) -> list[dict[str, Any]]:
    """The cases ``flt`` selects; an unknown pool, status or owner is an error naming the valid ones."""

    def work(session: Session) -> list[reads.CaseRow]:
        _check_filter(session, ctx, flt)
        return reads.case_rows(session, flt)

    return [_summary(ctx, row) for row in await ctx.db.run(work)]


def _check_filter(session: Session, ctx: Context, flt: TicketFilter) -> None:
    pools = [p.name for p in ctx.config.pools]
    if flt.pool and flt.pool not in pools:
        raise UsageError(f"no pool {flt.pool!r} (pools: {', '.join(pools)})")
    statuses = [s.name for s in cases.statuses(session)]
    if flt.status and flt.status.lower() not in {*(s.lower() for s in statuses), *Category}:
        raise UsageError(f"no status {flt.status!r} (statuses: {', '.join(statuses)}; "
                         f"or a category: {', '.join(Category)})")
    if flt.owner and staff_repo.by_email(session, flt.owner) is None:
        known = ", ".join(s.email for s in staff_repo.all_staff(session)) or "nobody registered"
        raise UsageError(f"no staff member {flt.owner!r} (staff: {known})")


async def show_ticket(ctx: Context, ticket_id: int) -> dict[str, Any]:
    detail = await ctx.db.run(lambda s: reads.case_detail(s, ticket_id))
    if detail is None:
        raise NotFound(f"no case {ticket_id}")
    result = _summary(ctx, detail.case)
    result["fields"] = detail.fields
    result["cc"] = list(detail.cc)
    result["links"] = [{"id": other, "kind": kind} for other, kind in detail.links]
    result["quoted_tag"] = detail.quoted_tag
    result["deadlines"] = {key: iso(value) for key, value in detail.deadlines.items()}
    result["answers"] = detail.answers
    result["offers"] = await ctx.db.run(lambda s: leads.offers_of(s, ticket_id))
    result["messages"] = [{
        "id": m.id, "kind": m.kind, "from": m.from_addr, "to": list(m.to), "subject": m.subject,
        "message_id": m.message_id, "at": iso(m.at), "text": m.text, "disposition": m.disposition,
        "attachments": [asdict(a) for a in m.attachments],
    } for m in detail.messages]
    return result


def _set_requester(session: Session, ticket: Ticket, address: str) -> list[Effect]:
    address = address.strip().lower()
    if not is_valid(address):
        raise UsageError(f"not an e-mail address: {address!r}")
    cases.set_requester(session, ticket, address)
    return [RecordEvent(ticket.id, "requester", f"{address} by admin")]


def _need(session: Session, ticket_id: int) -> Ticket:
    ticket = cases.get(session, ticket_id)
    if ticket is None:
        raise NotFound(f"no case {ticket_id}")
    return ticket


async def close_ticket(ctx: Context, ticket_id: int, notify: bool = True) -> int:
    """Close a case and tell the requester; return the number of mails queued."""
    return await units.run(ctx, lambda s, now: lifecycle.close(s, ctx, _need(s, ticket_id), now, "by admin",
                                                               notify=notify))


async def assign_ticket(ctx: Context, ticket_id: int, user: str) -> int:
    """``ticket assign``: give a case to a staff member (forwarded to them); return mails queued."""

    def work(session: Session, now: datetime) -> list[Effect]:
        ticket = _need(session, ticket_id)
        target = staff_repo.by_name(session, user)
        if target is None:
            raise NotFound(f"no staff member {user!r} (use the address or a unique local part)")
        return assignment.assign(session, ctx, ticket, target, now, by="admin")

    return await units.run(ctx, work)


@dataclass(frozen=True, slots=True)
class TicketEdit:
    subject: str | None = None
    requester: str | None = None       # decides a case whose sender could not be verified
    category: str | None = None
    priority: str | None = None
    status: str | None = None
    stage: str | None = None           # a lead's next stage: qualified | converted
    fields: tuple[str, ...] = ()       # "name=value"


async def edit_ticket(ctx: Context, ticket_id: int, edit: TicketEdit) -> dict[str, Any]:
    """``ticket edit``: change subject, category, priority, status or custom fields."""
    await units.run(ctx, lambda session, now: _edit(session, ctx, _need(session, ticket_id), edit, now))
    return await show_ticket(ctx, ticket_id)


def _edit_sorting(session: Session, ctx: Context, ticket: Ticket, edit: TicketEdit,
                  now: datetime) -> list[Effect]:
    """``--stage`` and ``--category``: where a case stands and what it is about."""
    effects: list[Effect] = []
    if edit.stage is not None:
        if edit.stage not in (Stage.QUALIFIED, Stage.CONVERTED):
            raise UsageError(f"--stage takes qualified or converted, not {edit.stage!r}")
        effects += leads.move(session, ctx, ticket, Stage(edit.stage), "admin", now)
    if edit.category is not None:
        ticket.category = commands.known_category(session, edit.category) if edit.category.strip() else None
        effects.append(RecordEvent(ticket.id, "category", ticket.category or "(none)"))
    return effects


def _edit(session: Session, ctx: Context, ticket: Ticket, edit: TicketEdit, now: datetime) -> list[Effect]:
    effects: list[Effect] = []
    if edit.subject is not None:
        if not edit.subject.strip():
            raise UsageError("the subject cannot be empty")
        ticket.subject = one_line(edit.subject)[:1000]
        effects.append(RecordEvent(ticket.id, "subject", ticket.subject[:200]))
    if edit.requester is not None:
        effects += _set_requester(session, ticket, edit.requester)
    effects += _edit_sorting(session, ctx, ticket, edit, now)
    if edit.priority is not None:
        if edit.priority not in tuple(Priority):
            raise UsageError(f"priority must be {' or '.join(Priority)}")
        ticket.priority = edit.priority
        effects.append(RecordEvent(ticket.id, "priority", edit.priority))
    if edit.status is not None:
        status = lifecycle.status_named(session, edit.status)
        ticket.updated_at = now
        lifecycle.set_status(ticket, status)
        effects.append(RecordEvent(ticket.id, "status", status.name))
    for item in edit.fields:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set takes FIELD=VALUE, not {item!r}")
        effects.append(commands.set_field(ctx, ticket, name.strip(), value.strip(), by="admin"))
    ticket.updated_at = now
    return effects

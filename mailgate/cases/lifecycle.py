"""A case's status and deadlines as actions change them, and closing it (SPEC §3, §7).

Statuses move only through ``domain.states.TRANSITIONS``; deadline columns are set from
``domain.deadlines``. ``close`` is the one way a case closes, whoever closes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.domain import deadlines
from mailgate.domain.closing import tells_customer
from mailgate.domain.effects import Effect, RecordEvent, SendTemplate
from mailgate.domain.states import TRANSITIONS, Category, Event
from mailgate.errors import Refused
from mailgate.storage import cases, messages
from mailgate.storage.models import Status, Ticket


def spans(ctx: Context, pool: str) -> deadlines.Spans:
    cfg = ctx.config.pool(pool)
    return deadlines.Spans(cfg.rollover_after, cfg.reply_deadline, cfg.customer_deadline)


def set_due(ticket: Ticket, due: deadlines.Due) -> None:
    ticket.rollover_at, ticket.reply_due_at, ticket.customer_due_at = (
        due.rollover_at, due.reply_due_at, due.customer_due_at)


def move(session: Session, ticket: Ticket, event: Event) -> None:
    """Apply ``event`` to the case's status where the transition table allows it."""
    current = cases.category_of(session, ticket)
    target = TRANSITIONS.get((current, event))
    if target is not None and target is not current:
        set_status(ticket, cases.status_for(session, target))


def set_status(ticket: Ticket, status: Status) -> None:
    """Put the case in ``status``; a resolved case has nothing due and a closing time."""
    ticket.status_id = status.id
    if Category(status.category).resolved:
        ticket.closed_at = ticket.updated_at
        ticket.close_requested = False
        set_due(ticket, deadlines.RESOLVED)
    else:
        ticket.closed_at = None


def status_named(session: Session, name: str) -> Status:
    """The status called ``name`` (case-insensitive).

    Raises:
        Refused: there is none; the message lists the statuses there are.
    """
    status = cases.status_named(session, name)
    if status is None:
        names = ", ".join(s.name for s in cases.statuses(session))
        raise Refused(f"no such status {name!r} (statuses: {names})")
    return status


def close(session: Session, ctx: Context, ticket: Ticket, now: datetime, detail: str,
          answered_now: bool = False, notify: bool = True) -> list[Effect]:
    """Close the case; the requester gets ``case_closed`` unless an answer went with the close.

    Raises:
        Refused: the case is closed already.
    """
    if cases.category_of(session, ticket) is Category.CLOSED:
        raise Refused(f"{ctx.tag(ticket.id)} is already closed")
    ticket.updated_at = now
    move(session, ticket, Event.CLOSED)
    effects: list[Effect] = [RecordEvent(ticket.id, "closed", detail)]
    if notify and tells_customer(answered_now, bool(ticket.requester)):
        answer = messages.latest_answer(session, ticket.id)       # the resolution, if any
        effects.append(SendTemplate("case_closed", (ticket.requester,), ticket.id,
                                    context={"resolution": answer.text.strip() if answer else ""}))
    return effects

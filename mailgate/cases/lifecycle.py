"""A case's status and deadlines as actions change them, and closing it (SPEC §3, §7).

Statuses move only through ``domain.states.TRANSITIONS``; deadline columns are set from
``domain.deadlines``. ``close`` is the one way a case closes, whoever closes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.domain import deadlines
from mailgate.domain.closing import tells_customer
from mailgate.domain.effects import Effect, RecordEvent, SendTemplate
from mailgate.domain.kinds import MessageKind
from mailgate.domain.states import TRANSITIONS, Category, Event
from mailgate.errors import Refused
from mailgate.signing import sign, verify
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


RATING: Final = "rate"


def rating_links(ctx: Context, case_id: int, now: datetime) -> dict[str, str]:
    """The one-click rating links of ``case_closed`` (``[web]`` only; valid for the reopen window)."""
    web = ctx.config.web
    if web is None:
        return {"rate_good": "", "rate_bad": ""}
    token = sign(ctx.secret, RATING, {"c": case_id}, now + ctx.config.gateway.reopen_window)
    base = f"{web.public_url.rstrip('/')}/rate/{token}"
    return {"rate_good": f"{base}/good", "rate_bad": f"{base}/bad"}


def rate(session: Session, ctx: Context, token: str, verdict: str, now: datetime) -> tuple[int, list[Effect]]:
    """A click on a rating link: kept on the case as feedback; the case stays as it is.

    Raises:
        LinkError: the link was altered or is past the reopen window.
    """
    payload = verify(ctx.secret, RATING, token, now)
    case_id = int(payload.get("c", 0))
    ticket = cases.get(session, case_id)
    if ticket is None:
        raise Refused(f"no case {case_id}")
    messages.add(session, ticket_id=case_id, kind=MessageKind.FEEDBACK, disposition="rating", inbound_id=None,
                 outbox_id=None, message_id="", from_addr=ticket.requester, to_addrs=[], subject="",
                 text=f"Rating: {verdict}", at=now, author="")
    return case_id, [RecordEvent(case_id, "rating", verdict)]


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
    pool = next((p for p in ctx.config.pools if p.name == ticket.pool), None)
    within = pool.resolve_within if pool else timedelta(days=5)
    cases.record_close(session, ticket, now, on_time=now - ticket.created_at <= within)
    effects: list[Effect] = [RecordEvent(ticket.id, "closed", detail)]
    if notify and tells_customer(answered_now, bool(ticket.requester)):
        answer = messages.latest_answer(session, ticket.id)       # the resolution, if any
        effects.append(SendTemplate("case_closed", (ticket.requester,), ticket.id, context={
            "resolution": answer.text.strip() if answer else "", **rating_links(ctx, ticket.id, now)}))
    return effects

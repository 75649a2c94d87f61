"""Who owns a case: routing new cases by pool mode, claims, assignment, release (SPEC §5).

Each owner change forwards the case to the new owner. A claim is a conditional update
(``owner_id IS NULL``), so of two claims, even from two processes at once, exactly one wins.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases import lifecycle, people
from mailgate.cases.context import Context
from mailgate.domain import authority, deadlines, routing
from mailgate.domain.effects import Effect, ForwardCase, MailAdmin, NotifyStaff, RecordEvent
from mailgate.domain.kinds import ForwardRole
from mailgate.domain.states import Category, Event
from mailgate.errors import Refused
from mailgate.storage import cases
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Staff, Ticket

log = logging.getLogger(__name__)


def members(session: Session, pool: str, now: datetime, busy: int | None = None) -> list[routing.Member]:
    """The pool's members as routing sees them; absent ones (and ``busy``) are unavailable."""
    return [routing.Member(sid, (until is None or until <= now) and sid != busy, roles)
            for sid, roles, until in staff_repo.routing_view(session, pool)]


def _take(session: Session, ticket: Ticket, staff: Staff, now: datetime) -> None:
    ticket.owner_id = staff.id
    ticket.assigned_at = now
    ticket.acked = False
    ticket.rollover_at = None
    ticket.updated_at = now
    lifecycle.move(session, ticket, Event.CLAIMED)


def _nobody(ticket: Ticket, pool: str) -> list[Effect]:
    return [RecordEvent(ticket.id, "unassigned", f"pool {pool}: nobody available")]


def route_new_case(session: Session, ctx: Context, ticket: Ticket, now: datetime) -> list[Effect]:
    """Give an unowned case to its pool as the pool's mode says.

    A case nobody can take (an empty pool, a lead and no sales member, everyone absent, no
    registered manager) is announced once to the pool's manager, else to the admin, and tried
    again by the timer sweep until someone can take it (``unrouted_at``).
    """
    effects = _route(session, ctx, ticket, now)
    if any(isinstance(e, ForwardCase) for e in effects):
        ticket.unrouted_at = None
    elif ticket.unrouted_at is None:
        ticket.unrouted_at = now
        why = next((e.detail for e in effects if isinstance(e, RecordEvent)), "nobody can take it")
        effects += _nobody_can_take(session, ctx, ticket, why)
    return effects


def _nobody_can_take(session: Session, ctx: Context, ticket: Ticket, why: str) -> list[Effect]:
    log.warning("case_unroutable case=%s why=%s", ticket.id, why)
    manager = people.pool_manager(session, ctx, ticket.pool)
    if manager is not None:
        return [NotifyStaff("case_unrouted", manager.id, ticket.id, {"why": why})]
    return [MailAdmin("admin_unrouted", ticket.id, {"why": why})]


def retry_unrouted(session: Session, ctx: Context, ticket: Ticket, now: datetime) -> list[Effect]:
    """The sweep: a case nobody could take, tried again (a member joined, came back, got sales)."""
    if ticket.owner_id is not None or cases.category_of(session, ticket) is not Category.NEW:
        ticket.unrouted_at = None
        return []
    effects = _route(session, ctx, ticket, now)
    if not any(isinstance(e, ForwardCase) for e in effects):
        return []                   # still nobody: the first notice stands, nothing new to say
    ticket.unrouted_at = None
    return effects


def _route(session: Session, ctx: Context, ticket: Ticket, now: datetime) -> list[Effect]:
    pool = ctx.config.pool(ticket.pool)
    mode = routing.Mode(pool.mode)
    if mode is routing.Mode.MANAGER:
        manager = people.pool_manager(session, ctx, pool.name)
        if manager is None:
            who = pool.manager or "(none)"
            return [RecordEvent(ticket.id, "dispatch_failed",
                                f"pool {pool.name}: manager {who} is not a registered user")]
        return [ForwardCase(ticket.id, manager.id, ForwardRole.DISPATCH)]
    team = members(session, pool.name, now)
    listeners = routing.announce_to(team, ticket.type)
    if not listeners:
        return _nobody(ticket, pool.name)
    if mode is routing.Mode.PULL:
        return [RecordEvent(ticket.id, "announced", f"to {len(listeners)} member(s)"),
                *(ForwardCase(ticket.id, sid, ForwardRole.ANNOUNCE) for sid in listeners)]
    chosen_id = routing.next_in_turn(team, staff_repo.last_assigned(session, pool.name), ticket.type)
    chosen = staff_repo.by_id(session, chosen_id) if chosen_id is not None else None
    if chosen is None:
        return _nobody(ticket, pool.name)
    staff_repo.record_assigned(session, pool.name, chosen.id)
    _take(session, ticket, chosen, now)
    ticket.rollover_at = deadlines.given_in_turn(now, lifecycle.spans(ctx, ticket.pool))
    return [RecordEvent(ticket.id, "assigned", f"{chosen.email} (round robin)"),
            ForwardCase(ticket.id, chosen.id, ForwardRole.OWNER, "The case was given to you in turn.")]


def on_customer_reply(session: Session, ctx: Context, ticket: Ticket, now: datetime) -> list[Effect]:
    """A customer wrote again: to the owner (or the absent owner's deputy), else to the pool."""
    if ticket.owner_id is None:
        return route_new_case(session, ctx, ticket, now)
    owner = staff_repo.by_id(session, ticket.owner_id)
    reader = people.reader_of(session, ticket, now)
    if owner is None or reader is None:
        return []
    intro = "The customer wrote again."
    if reader.id != owner.id:
        intro += f" You receive this as deputy of {owner.name or owner.email}, who is absent."
    return [ForwardCase(ticket.id, reader.id, ForwardRole.OWNER, intro)]


def _check_owner(ctx: Context, ticket: Ticket, staff: Staff) -> None:
    if not staff.active:
        raise Refused(f"{staff.email} is not an active staff member")
    if not authority.may_own(staff.role_set, ticket.type):
        raise Refused(f"{ctx.tag(ticket.id)} is a sales lead: only staff with the sales role may own it")


def claim(session: Session, ctx: Context, ticket: Ticket, staff: Staff, now: datetime) -> list[Effect]:
    """Take an unowned case; exactly one of several concurrent claims wins."""
    if ticket.owner_id == staff.id:
        return []
    _check_owner(ctx, ticket, staff)
    if ticket.pool not in {p for p, _ in staff_repo.memberships(session, staff.id)} \
            and not authority.may_dispatch(staff.role_set, False):
        raise Refused(f"you do not work pool {ticket.pool}")
    won = cases.claim(session, ticket.id, staff.id, now)
    session.refresh(ticket)
    if not won:
        holder = staff_repo.by_id(session, ticket.owner_id) if ticket.owner_id else None
        raise Refused(f"{ctx.tag(ticket.id)} is already taken by "
                      f"{(holder.name or holder.email) if holder else 'someone else'}")
    lifecycle.move(session, ticket, Event.CLAIMED)
    effects: list[Effect] = [RecordEvent(ticket.id, "claimed", staff.email),
                             ForwardCase(ticket.id, staff.id, ForwardRole.OWNER, "You claimed this case.")]
    if routing.Mode(ctx.config.pool(ticket.pool).mode) is routing.Mode.PULL:
        for member in routing.announce_to(members(session, ticket.pool, now), ticket.type):
            if member != staff.id:
                effects.append(NotifyStaff("case_taken", member, ticket.id,
                                           {"taker": staff.name or staff.email}))
    return effects


def assign(session: Session, ctx: Context, ticket: Ticket, target: Staff, now: datetime,
           by: str) -> list[Effect]:
    """Give the case to ``target`` (forwarded to them; the previous owner is told)."""
    _check_owner(ctx, ticket, target)
    if ticket.owner_id == target.id:
        raise Refused(f"{ctx.tag(ticket.id)} is already {target.email}'s")
    if target.absent(now):
        raise Refused(f"{target.email} is absent until {target.absent_until:%Y-%m-%d}")
    previous = ticket.owner_id
    _take(session, ticket, target, now)
    effects: list[Effect] = [RecordEvent(ticket.id, "assigned", f"{target.email} by {by}"),
                             ForwardCase(ticket.id, target.id, ForwardRole.OWNER,
                                         f"Assigned to you by {by}.")]
    if previous is not None and previous != target.id:
        effects.append(NotifyStaff("case_reassigned", previous, ticket.id,
                                   {"new_owner": target.name or target.email, "by": by}))
    return effects


def assign_by(session: Session, ctx: Context, ticket: Ticket, actor: Staff, name: str,
              now: datetime) -> list[Effect]:
    """``#assign USER`` from ``actor``: the owner, their stand-in, a manager or a supervisor."""
    if not authority.may_assign(people.acts_for(session, ticket, actor, now), actor.role_set,
                                people.is_pool_manager(session, ctx, ticket.pool, actor)):
        raise Refused(f"only the owner, a manager or a supervisor may assign {ctx.tag(ticket.id)}")
    target = staff_repo.by_name(session, name)
    if target is None:
        raise Refused(f"#assign {name}: no such staff member (use the address or a unique name)")
    return assign(session, ctx, ticket, target, now, by=actor.email)


def release(session: Session, ticket: Ticket, staff: Staff, now: datetime) -> list[Effect]:
    """Give the case back to its pool (unowned, status new)."""
    ticket.owner_id = None
    ticket.assigned_at = None
    ticket.updated_at = now
    lifecycle.move(session, ticket, Event.RELEASED)
    return [RecordEvent(ticket.id, "released", staff.email)]


def next_case(session: Session, ctx: Context, staff: Staff, now: datetime) -> list[Effect]:
    """``+next``: claim the oldest unclaimed case of the sender's pools, highest priority first."""
    pools = staff_repo.memberships(session, staff.id)
    for candidate in cases.unclaimed(session, pools, authority.Role.SALES in staff.role_set):
        ticket = cases.get(session, candidate)
        if ticket is None:
            continue
        try:
            return claim(session, ctx, ticket, staff, now)
        except Refused:
            continue        # taken in the meantime: try the next one
    return [NotifyStaff("next_empty", staff.id, 0, {"pools": ", ".join(p for p, _ in pools) or "none"})]


def rollover(session: Session, ctx: Context, ticket: Ticket, now: datetime) -> list[Effect]:
    """Round robin: an unacknowledged case moves to the next available member (SPEC §7)."""
    if ticket.owner_id is None or ticket.acked:
        ticket.rollover_at = None
        return []
    team = members(session, ticket.pool, now, busy=ticket.owner_id)
    next_id = routing.next_in_turn(team, ticket.owner_id, ticket.type)
    target = staff_repo.by_id(session, next_id) if next_id is not None else None
    spans = lifecycle.spans(ctx, ticket.pool)
    if target is None:
        ticket.rollover_at = deadlines.given_in_turn(now, spans)
        return [RecordEvent(ticket.id, "rollover_skipped", "no other member available")]
    previous = staff_repo.by_id(session, ticket.owner_id)
    effects = assign(session, ctx, ticket, target, now,
                     by=f"rollover (not acknowledged within {spans.rollover_after})")
    staff_repo.record_assigned(session, ticket.pool, target.id)
    ticket.rollover_at = deadlines.given_in_turn(now, spans)
    who = previous.email if previous else "?"
    return [RecordEvent(ticket.id, "rolled_over", f"{who} -> {target.email}"), *effects]

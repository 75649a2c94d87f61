"""The deadline sweep (SPEC §7): act on what has fallen due, from database columns only.

Each kind of deadline is one query for due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
of several processes only one takes a given row) and, per row, one unit of work that acts and
moves or clears the deadline in the same transaction. Running the sweep twice does nothing the
second time; a daemon that was down catches up on its first sweep, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from mailgate.cases import approvals, assignment, consultations, lifecycle, people
from mailgate.cases.context import Context
from mailgate.cases.mailing import signed
from mailgate.domain import deadlines
from mailgate.domain.effects import Effect, NotifyStaff, RecordEvent, SendTemplate
from mailgate.domain.states import Category
from mailgate.mail.tokens import Purpose
from mailgate.services import units
from mailgate.services.reports import mail_scheduled
from mailgate.storage import cases, due, reads
from mailgate.storage import staff as staff_repo
from mailgate.storage.due import Deadline
from mailgate.storage.models import Status, Ticket

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepReport:
    rolled_over: int = 0
    expired: int = 0
    consultations_overdue: int = 0
    approval_reminders: int = 0
    routed: int = 0             # cases nobody could take before that now have someone
    digests: int = 0
    reports: int = 0

    @property
    def total(self) -> int:
        return (self.rolled_over + self.expired + self.consultations_overdue + self.approval_reminders
                + self.routed + self.digests + self.reports)


async def sweep(ctx: Context) -> SweepReport:
    """One pass over every kind of deadline; safe to run at any time, from any process."""
    now = ctx.clock.now()
    report = SweepReport(
        rolled_over=await _each(ctx, Deadline.ROLLOVER, _rollover, now),
        expired=await _each(ctx, Deadline.REPLY, _expire_unanswered, now)
        + await _each(ctx, Deadline.CUSTOMER, _expire_awaiting_customer, now),
        consultations_overdue=await _each(ctx, Deadline.CONSULTATION, _consultation_overdue, now),
        approval_reminders=await _each(ctx, Deadline.APPROVAL, _approval_reminder, now),
        routed=await _each(ctx, Deadline.UNROUTED, _retry_unrouted, now),
        digests=await _digests(ctx, now),
        reports=await mail_scheduled(ctx, now),
    )
    if report.total:
        log.info("timers_swept rolled_over=%s expired=%s consultations_overdue=%s reminders=%s routed=%s "
                 "digests=%s", report.rolled_over, report.expired, report.consultations_overdue,
                 report.approval_reminders, report.routed, report.digests)
    return report


Action = Callable[[Session, Context, int, datetime], list[Effect] | None]


async def _each(ctx: Context, deadline: Deadline, act: Action, now: datetime) -> int:
    """Act on each due row in its own unit of work; the row is re-checked under its lock."""
    ids = await ctx.db.run(lambda s: due.due_ids(s, deadline, now))
    done = 0
    for row_id in ids:
        def work(session: Session, row_id: int = row_id) -> bool:
            if not due.lock_due(session, deadline, row_id, now):
                return False                        # another process has it, or it is done
            effects = act(session, ctx, row_id, now)
            if effects is None:
                return False
            units.carry_out(session, ctx, effects, now)
            return True
        done += bool(await ctx.db.run(work))
    return done


# --- the deadlines ------------------------------------------------------------------------------

def _rollover(session: Session, ctx: Context, ticket_id: int, now: datetime) -> list[Effect] | None:
    ticket = cases.get(session, ticket_id)
    return assignment.rollover(session, ctx, ticket, now) if ticket is not None else []


def _retry_unrouted(session: Session, ctx: Context, ticket_id: int, now: datetime) -> list[Effect] | None:
    ticket = cases.get(session, ticket_id)
    if ticket is None:
        return None
    effects = assignment.retry_unrouted(session, ctx, ticket, now)
    return effects or None          # not counted: nothing changed


def _expired_status(session: Session, name: str) -> Status:
    return cases.status_named(session, name) or cases.status_for(session, Category.EXPIRED)


def _expire(session: Session, ticket: Ticket, status: str, why: str, now: datetime) -> list[Effect]:
    ticket.updated_at = now
    lifecycle.set_status(ticket, _expired_status(session, status))
    return [RecordEvent(ticket.id, "expired", why)]


def _expire_unanswered(session: Session, ctx: Context, ticket_id: int, now: datetime) -> list[Effect] | None:
    ticket = cases.get(session, ticket_id)
    if ticket is None:
        return None
    effects = _expire(session, ticket, deadlines.EXPIRED_UNANSWERED, "no answer by the reply deadline", now)
    if ticket.owner_id is not None:
        effects.append(NotifyStaff("case_expired_notice", ticket.owner_id, ticket.id,
                                   {"why": "nobody answered the customer by the reply deadline"}))
    return effects


def _expire_awaiting_customer(session: Session, ctx: Context, ticket_id: int,
                              now: datetime) -> list[Effect] | None:
    ticket = cases.get(session, ticket_id)
    if ticket is None:
        return None
    effects = _expire(session, ticket, deadlines.EXPIRED_AWAITING_CUSTOMER,
                      "the customer did not reply in time", now)
    if ticket.requester:
        effects.append(SendTemplate("case_expired", (ticket.requester,), ticket.id))
    return effects


def _consultation_overdue(session: Session, ctx: Context, row_id: int, now: datetime) -> list[Effect] | None:
    consultation = cases.consultation(session, row_id)
    return consultations.overdue(session, ctx, consultation, now) if consultation is not None else None


def _approval_reminder(session: Session, ctx: Context, row_id: int, now: datetime) -> list[Effect] | None:
    draft = cases.draft(session, row_id)
    return approvals.remind(session, ctx, draft, now) if draft is not None else None


# --- daily digest ------------------------------------------------------------------------------

async def _digests(ctx: Context, now: datetime) -> int:
    if now.hour < ctx.config.gateway.digest_hour:
        return 0
    sent = 0
    for pool in ctx.config.pools:
        if pool.manager:
            sent += await ctx.db.run(partial(_digest, ctx=ctx, pool=pool.name, now=now))
    return sent


def _digest(session: Session, ctx: Context, pool: str, now: datetime) -> int:
    manager = people.pool_manager(session, ctx, pool)
    if manager is None:
        return 0
    today = now.date().isoformat()
    staff_repo.last_assigned(session, pool)           # makes sure the pool's state row exists
    if not due.claim_digest(session, pool, today):
        return 0                                      # sent today already (here or elsewhere)
    lines = _digest_lines(session, ctx, pool, now, manager.id)
    if not lines:
        return 0                                      # nothing open: no mail today
    units.carry_out(session, ctx, [NotifyStaff("manager_digest", manager.id, 0, {
        "pool": pool, "lines": lines, "count": sum(1 for line in lines if not line.startswith(" ")),
        "day": today})], now)
    return 1


def _digest_lines(session: Session, ctx: Context, pool: str, now: datetime,
                  manager_id: int) -> Sequence[str]:
    """One line per unresolved case, flagged as the reports flag it (past a reply or customer
    deadline, or past the pool's ``resolve_within``), each with a signed address under it: a
    mail there is the manager's reply on that case (``#assign bob``, ``#priority urgent``…)."""
    lines = []
    within = next((p.resolve_within for p in ctx.config.pools if p.name == pool), None)
    for case in reads.unresolved_in_pool(session, pool):
        late = (case.due is not None and case.due <= now) or (
            within is not None and case.created_at is not None and now - case.created_at > within)
        overdue = " (!) OVERDUE" if late else ""
        lines.append(f"{ctx.tag(case.id)} {case.status:<22} {case.owner or '(unassigned)':<28}"
                     f" {case.subject[:50]}{overdue}")
        box = ctx.mailbox_for([], case.mailbox)
        address, _ = signed(ctx, box, case.id, manager_id, Purpose.NOTICE)
        lines.append(f"    act on it: mailto:{address}?subject={ctx.tag(case.id)}")
    lines += [f"{ctx.tag(c.ticket_id)} consultation with {c.department} overdue since "
              f"{c.due_at:%Y-%m-%d %H:%M}" for c in reads.overdue_consultations(session, pool, now)]
    return lines

"""The inbound pipeline: one committed unit of work per stored message.

parse → classify → match → decide → persist case and message → effects (outbox) → commit.
A message that cannot be parsed, or that the rules refuse, is quarantined with its raw bytes;
an unexpected error quarantines the message too, so one bad message never blocks the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.domain import bounces, deadlines
from mailgate.domain.autoresponse import AutoResponseFacts, should_auto_respond
from mailgate.domain.effects import Effect, RecordEvent, SendTemplate
from mailgate.domain.intake import Action, CaseView, Decision, decide
from mailgate.domain.states import Category, next_category
from mailgate.errors import ParseError
from mailgate.mail.classify import Disposition, classify
from mailgate.mail.normalize import canonical_subject
from mailgate.mail.parse import ParsedMail, parse
from mailgate.matching import TicketMatch, match
from mailgate.services import assignment, consultations, operators
from mailgate.services.context import Context
from mailgate.services.effects import apply_effects
from mailgate.storage import repos
from mailgate.storage.models import Inbound, Ticket

log = logging.getLogger(__name__)
PARSE_TIMEOUT = 30.0
MAX_CC = 50


@dataclass(frozen=True, slots=True)
class Outcome:
    inbound_id: int
    state: str                 # done | quarantined | skipped
    ticket_id: int | None = None
    reason: str = ""
    queued: int = 0            # outbound mails queued


@dataclass(frozen=True, slots=True)
class Received:
    """How a stored message arrived: what the rules need besides its content."""

    id: int
    source: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    mailbox: str
    received_at: datetime

    @classmethod
    def of(cls, row: Inbound) -> Received:
        return cls(row.id, row.source, row.mail_from, tuple(row.rcpt_to), row.mailbox, row.received_at)


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything learnt about a message before anything is written."""

    mail: ParsedMail
    disposition: Disposition
    match: TicketMatch
    case: CaseView | None
    decision: Decision


async def parse_bounded(raw: bytes, ctx: Context) -> ParsedMail:
    """Parse off the event loop with a wall-clock limit (RELIABILITY invariant 7)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(parse, raw, ctx.limits), PARSE_TIMEOUT)
    except TimeoutError:
        raise ParseError(f"parsing took longer than {PARSE_TIMEOUT:.0f}s") from None


def analyse(session: Session, ctx: Context, mail: ParsedMail, rcpts: Sequence[str],
            now: datetime) -> Analysis:
    """Classify, match and decide, reading but not writing (also used by ``route --explain``)."""
    disposition = classify(mail, ctx.loop_marker, ctx.own_addresses)
    found = match(mail, rcpts, repos.SqlThreadLookup(session), ctx.match)
    case = _case_view(session, found.case_id)
    if found.case_id is not None and case is None:
        found = TicketMatch(None, "none", quoted_tag=found.case_id)
    decision = decide(disposition.value, case, now, ctx.config.gateway.reopen_window)
    return Analysis(mail, disposition, found, case, decision)


def _case_view(session: Session, case_id: int | None) -> CaseView | None:
    state = repos.case_state(session, case_id) if case_id is not None else None
    if state is None:
        return None
    ticket_id, category, owner_id, closed_at = state
    return CaseView(ticket_id, Category(category), owner_id is not None, closed_at)


async def process_inbound(ctx: Context, inbound_id: int) -> Outcome:
    """Run one stored message through the pipeline; safe to call twice for the same row."""
    row = await ctx.db.run(lambda s: repos.get_inbound(s, inbound_id, with_raw=True))
    if row is None or row.state != "pending":
        return Outcome(inbound_id, "skipped")
    try:
        mail = await parse_bounded(row.raw, ctx)
    except ParseError as exc:
        return await quarantine(ctx, inbound_id, str(exc))
    now = ctx.clock.now()
    try:
        outcome = await ctx.db.run(lambda s: _persist_pending(s, ctx, inbound_id, mail, now))
    except _AlreadyDone:
        return Outcome(inbound_id, "skipped")
    except Exception as exc:  # one bad message must never stop the queue
        log.exception("process_failed inbound=%s", inbound_id)
        return await quarantine(ctx, inbound_id, f"processing error: {type(exc).__name__}: {exc}"[:500])
    log.info("inbound_processed id=%s state=%s case=%s reason=%s",
             inbound_id, outcome.state, outcome.ticket_id, outcome.reason)
    return outcome


async def quarantine(ctx: Context, inbound_id: int, reason: str) -> Outcome:
    now = ctx.clock.now()
    done = await ctx.db.run(lambda s: repos.finish_inbound(s, inbound_id, "quarantined", now, reason))
    log.warning("inbound_quarantined id=%s reason=%s", inbound_id, reason.split(":")[0])
    return Outcome(inbound_id, "quarantined" if done else "skipped", reason=reason)


class _AlreadyDone(Exception):
    """Another worker finished this row first: roll back everything this one wrote."""


def _persist_pending(session: Session, ctx: Context, inbound_id: int, mail: ParsedMail,
                     now: datetime) -> Outcome:
    pending = repos.pending_inbound(session, inbound_id)
    if pending is None:
        return Outcome(inbound_id, "skipped")
    return persist(session, ctx, Received.of(pending), mail, now)


def persist(session: Session, ctx: Context, row: Received, mail: ParsedMail, now: datetime) -> Outcome:
    """Turn a stored, parsed message into case changes and outbound mail, in the caller's unit of work."""
    staff_outcome = _from_staff(session, ctx, row, mail, now)
    if staff_outcome is not None:
        return staff_outcome
    facts = analyse(session, ctx, mail, row.rcpt_to, now)
    token = facts.match.token
    if token is not None and token.staff_id and facts.disposition is Disposition.PERSONAL:
        handled = operators.handle(session, ctx, operators.StaffMail(row.id, mail, token, row.received_at),
                                   now)
        return _finish_staff(session, row, handled, now)
    if facts.match.reason == "forged":
        why = "sent to a reply address whose signature does not verify"
        held = operators.hold_if_staff(session, ctx, row.id, mail, now, why)
        return _finish_staff(session, row, held or operators.Handled("quarantined", None, f"held: {why}", 0),
                             now)
    if facts.disposition is Disposition.PERSONAL:
        held = operators.hold_if_staff(session, ctx, row.id, mail, now)
        if held is not None:
            return _finish_staff(session, row, held, now)
        answer = _department_by_thread(session, ctx, row, facts, now)
        if answer is not None:
            return _finish_staff(session, row, answer, now)
    scored = _score_bounce(session, ctx, facts, now) if facts.disposition is Disposition.BOUNCE else []
    if facts.decision.action is Action.QUARANTINE:
        repos.finish_inbound(session, row.id, "quarantined", now, facts.decision.reason)
        return Outcome(row.id, "quarantined", reason=facts.decision.reason)
    ticket_id, effects = _apply(session, ctx, row, facts, now)
    effects += [RecordEvent(ticket_id, "bounce", line) for line in scored]
    queued = apply_effects(session, ctx, effects, now)
    # The conditional update is the claim: if another worker got there first, undo it all.
    if not repos.finish_inbound(session, row.id, "done", now, ticket_id=ticket_id):
        raise _AlreadyDone
    reason = f"{facts.decision.action}/{facts.match.reason}/{facts.disposition}"
    return Outcome(row.id, "done", ticket_id, reason, queued)


def _department_by_thread(session: Session, ctx: Context, row: Received, facts: Analysis,
                          now: datetime) -> operators.Handled | None:
    """A consulted department's answer that kept only the thread headers or the subject tag."""
    sender = operators.sender_of(facts.mail)
    if facts.case is None or not sender:
        return None
    consultation = consultations.by_department_address(session, facts.case.id, sender)
    if consultation is None:
        return None
    return operators.department_answer(session, ctx, consultation, facts.mail, sender, row.id, now)


def _score_bounce(session: Session, ctx: Context, facts: Analysis, now: datetime) -> list[str]:
    """Count what a bounce reports against each failed address; one history line per address."""
    mail = facts.mail
    report = mail.bounce
    failed = bounces.failures(report.actions if report else (), report.statuses if report else (),
                              report.recipients if report else (),
                              [a.strip() for a in mail.header("x-failed-recipients").split(",")])
    lines = []
    for failure in failed[:20]:
        health = repos.record_bounce(session, failure.address, failure.severity is bounces.Severity.HARD,
                                     failure.status, now, ctx.config.gateway.bounce_threshold)
        lines.append(f"{failure.address} {failure.status} {failure.severity} "
                     f"({health.hard_bounces} hard){' - suppressed' if health.suppressed else ''}")
        log.info("bounce_scored address=%s severity=%s hard=%s suppressed=%s",
                 failure.address, failure.severity, health.hard_bounces, health.suppressed)
    return lines


def _from_staff(session: Session, ctx: Context, row: Received, mail: ParsedMail,
                now: datetime) -> Outcome | None:
    """``+next`` or ``+cmd`` from a staff member; None when the message is not one."""
    word = operators.command_address(ctx, row.rcpt_to)
    if not word:
        return None
    handle = operators.handle_next if word == operators.NEXT else operators.handle_cmd
    handled = handle(session, ctx, mail, now)
    return _finish_staff(session, row, handled, now) if handled is not None else None


def _finish_staff(session: Session, row: Received, handled: operators.Handled, now: datetime) -> Outcome:
    if not repos.finish_inbound(session, row.id, handled.state, now,
                                reason=handled.reason if handled.state == "quarantined" else "",
                                ticket_id=handled.ticket_id):
        raise _AlreadyDone
    return Outcome(row.id, handled.state, handled.ticket_id, handled.reason, handled.queued)


def _apply(session: Session, ctx: Context, row: Received, facts: Analysis,
           now: datetime) -> tuple[int, list[Effect]]:
    """Write the case side of the decision; return the case id and the effects to carry out."""
    action = facts.decision.action
    if action in (Action.NEW_CASE, Action.NEW_LINKED):
        ticket = _open_case(session, ctx, row, facts.mail, facts.match, now)
        effects: list[Effect] = [RecordEvent(ticket.id, "opened", f"inbound {row.id}")]
        if action is Action.NEW_LINKED and facts.case is not None:
            repos.link_tickets(session, ticket.id, facts.case.id)
            effects.append(RecordEvent(ticket.id, "linked", f"follows case {facts.case.id}"))
        _store_message(session, ticket.id, row, facts)
        effects += _auto_response(session, ctx, row, facts, ticket, now)
        effects += assignment.route_new_case(session, ctx, ticket, now)
        return ticket.id, effects
    case = facts.case
    assert case is not None
    _store_message(session, case.id, row, facts)
    target = None
    if action is Action.APPEND and facts.decision.event is not None:
        target = next_category(case.category, facts.decision.event)
    repos.touch_ticket(session, case.id, now, status=target if target is not case.category else None,
                       reopened=action is Action.APPEND and case.category.resolved)
    effects = [RecordEvent(case.id, facts.decision.reason, f"inbound {row.id}")]
    if action is Action.APPEND:
        current = repos.get_ticket(session, case.id, fresh=True)
        if current is not None:
            assignment.set_due(current, deadlines.customer_wrote(
                now, assignment.spans(ctx, current.pool), current.rollover_at))
            effects += assignment.on_customer_reply(session, ctx, current, now)
    return case.id, effects


def _open_case(session: Session, ctx: Context, row: Received, mail: ParsedMail,
               found: TicketMatch, now: datetime) -> Ticket:
    box = ctx.mailbox_for(row.rcpt_to, row.mailbox)
    requester = mail.sender.addr if mail.sender else ""
    requester_name = mail.sender.name[:200] if mail.sender and mail.sender_trusted else ""
    cc = [a.addr for a in (*mail.to, *mail.cc) if not ctx.is_supervised(a.addr)]
    ticket = Ticket(
        type="lead" if box.kind == "sales" else "support",
        subject=canonical_subject(mail.subject, ctx.match.tag)[:1000],
        status_id=repos.status_id_of(Category.NEW),
        priority="normal", pool=box.pool, requester=requester, requester_name=requester_name,
        mailbox=box.name, site=box.site,
        channel="web" if row.source == "web" else "email", quoted_tag=found.quoted_tag,
        fields={}, answers={}, created_at=now, updated_at=now,
        reply_due_at=now + ctx.config.pool(box.pool).reply_deadline,
    )
    return repos.add_ticket(session, ticket, cc[:MAX_CC])


def _store_message(session: Session, ticket_id: int, row: Received, facts: Analysis) -> None:
    mail = facts.mail
    if facts.disposition is Disposition.PERSONAL and mail.sender is not None and mail.sender_trusted:
        repos.clear_health(session, mail.sender.addr)     # it writes to us, so it works
    repos.add_received(session, ticket_id, mail, inbound_id=row.id, kind="inbound",
                       disposition=facts.disposition.value,
                       from_addr=mail.sender.addr if mail.sender else "", text=mail.text, at=row.received_at)


def _auto_response(session: Session, ctx: Context, row: Received, facts: Analysis,
                   ticket: Ticket, now: datetime) -> list[Effect]:
    mail = facts.mail
    sender = mail.sender.addr if mail.sender else ""
    answered, today = repos.auto_responses(session, sender, ticket.id, now)
    ok, why = should_auto_respond(AutoResponseFacts(
        disposition=facts.disposition.value, sender_trusted=mail.sender_trusted and bool(sender),
        null_return_path=(row.source in ("smtp", "lmtp") and not row.mail_from)
        or mail.header("return-path").strip() == "<>",
        new_case=True, already_answered_case=answered, sent_today=today,
        daily_limit=ctx.config.gateway.autoresponse_daily_limit,
    ))
    if not ok:
        if today >= ctx.config.gateway.autoresponse_daily_limit:     # RELIABILITY rows 27, 33
            ctx.alerts.fire("sender_storm", sender, f"auto-responses capped at {today} in 24h", now)
        return [RecordEvent(ticket.id, "auto_response_skipped", why)]
    return [SendTemplate("auto_response", (sender,), ticket.id, auto=True,
                         in_reply_to=mail.message_id, references=(*mail.references, mail.message_id))]

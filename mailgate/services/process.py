"""The inbound pipeline: one committed unit of work per stored message.

parse → analyse (classify, match, decide, who sent it) → the first route of ``cases.routes``
that takes it → its effects (outbox rows) → finish the inbound row → commit. A message that
cannot be parsed is quarantined with its raw bytes; an unexpected error quarantines the message
too, so one bad message never blocks the next.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.cases.effects import apply_effects
from mailgate.cases.inbound import Received, analyse
from mailgate.cases.routes import route_for
from mailgate.domain.kinds import InboundState
from mailgate.errors import AlreadyHandled, ParseError
from mailgate.mail.parse import ParsedMail, parse
from mailgate.storage import inbound, outbox
from mailgate.storage.db import failure_reason, transient

log = logging.getLogger(__name__)
PARSE_TIMEOUT = 30.0
SKIPPED = "skipped"
RETRY = "retry"                #: the database failed under it: still pending, tried again later
#: A row the database keeps failing under (while the queue behind it moves) is quarantined after
#: this many tries, so that nothing is retried for ever.
TRANSIENT_TRIES: Final = 20


@dataclass(frozen=True, slots=True)
class Outcome:
    inbound_id: int
    state: str                 # done | quarantined | skipped | retry
    ticket_id: int | None = None
    reason: str = ""
    queued: int = 0            # outbound mails queued
    route: str = ""            # the route that took the message
    handed: tuple[outbox.Queued, ...] = ()   # of those, the ones leased to this process's senders


async def parse_bounded(raw: bytes, ctx: Context) -> ParsedMail:
    """Parse off the event loop with a wall-clock limit (RELIABILITY invariant 7)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(parse, raw, ctx.limits), PARSE_TIMEOUT)
    except TimeoutError:
        raise ParseError(f"parsing took longer than {PARSE_TIMEOUT:.0f}s") from None


async def process_inbound(ctx: Context, inbound_id: int, tries: int = 1) -> Outcome:
    """Run one stored message through the pipeline; safe to call twice for the same row.

    If the database fails under it (a terminated backend, a lost connection: RELIABILITY row 70)
    the transaction is rolled back and the row stays pending (``RETRY``); a message whose own
    content makes the database refuse it is quarantined, as is one that failed ``tries`` =
    ``TRANSIENT_TRIES`` times.
    """
    row = await ctx.db.run(lambda s: inbound.get(s, inbound_id))
    if row is None or row.state != InboundState.PENDING:
        return Outcome(inbound_id, SKIPPED)
    try:
        mail = await parse_bounded(await ctx.db.run(lambda s: inbound.raw_of(s, inbound_id)), ctx)
    except ParseError as exc:
        return await quarantine(ctx, inbound_id, str(exc))
    now = ctx.clock.now()
    try:
        outcome = await ctx.db.run(lambda s: _persist_pending(s, ctx, inbound_id, mail, now))
    except AlreadyHandled:
        return Outcome(inbound_id, SKIPPED)
    except Exception as exc:  # one bad message must never stop the queue
        if transient(exc) and tries < TRANSIENT_TRIES:
            log.warning("process_retry inbound=%s try=%s error=%s", inbound_id, tries, failure_reason(exc))
            return Outcome(inbound_id, RETRY, reason=failure_reason(exc))
        log.exception("process_failed inbound=%s", inbound_id)
        return await quarantine(ctx, inbound_id, f"processing error: {failure_reason(exc)}")
    log.info("inbound_processed id=%s state=%s case=%s route=%s reason=%s",
             inbound_id, outcome.state, outcome.ticket_id, outcome.route, outcome.reason)
    return outcome


async def quarantine(ctx: Context, inbound_id: int, reason: str) -> Outcome:
    now = ctx.clock.now()
    done = await ctx.db.run(lambda s: inbound.finish(s, inbound_id, InboundState.QUARANTINED, now, reason))
    log.warning("inbound_quarantined id=%s reason=%s", inbound_id, reason.split(":")[0])
    return Outcome(inbound_id, InboundState.QUARANTINED if done else SKIPPED, reason=reason)


def _persist_pending(session: Session, ctx: Context, inbound_id: int, mail: ParsedMail,
                     now: datetime) -> Outcome:
    pending = inbound.pending(session, inbound_id)
    if pending is None:
        return Outcome(inbound_id, SKIPPED)
    return persist(session, ctx, Received.of(pending), mail, now)


def persist(session: Session, ctx: Context, row: Received, mail: ParsedMail, now: datetime) -> Outcome:
    """Turn a stored, parsed message into case changes and outbound mail, in the caller's unit of work.

    Raises:
        AlreadyHandled: another worker finished the row first (the caller rolls back).
    """
    message = analyse(session, ctx, row, mail, now)
    route = route_for(message)
    handled = route.handler(session, ctx, message, now)
    queued = apply_effects(session, ctx, handled.effects, now)
    # The conditional update is the claim: if another worker got there first, undo it all.
    reason = handled.reason if handled.state is InboundState.QUARANTINED else ""
    if not inbound.finish(session, row.id, handled.state, now, reason=reason, ticket_id=handled.case_id):
        raise AlreadyHandled(f"inbound {row.id}")
    return Outcome(row.id, handled.state, handled.case_id, handled.reason, queued, route.name)

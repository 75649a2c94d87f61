"""Drain the outbox: claim due rows, hand them to the transport, record each outcome at once."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.errors import PermanentDeliveryError, TransientDeliveryError
from mailgate.faults import checkpoint
from mailgate.outbound.sender import MailSession, MailTransport
from mailgate.storage import mailstate, messages, outbox
from mailgate.storage.models import Outbox

log = logging.getLogger(__name__)


async def drain_outbox(ctx: Context, transport: MailTransport, batch: int = 50) -> int:
    """Send every due row over one transport session; return how many were sent.

    Failures are recorded on their rows, never raised.
    """
    rows = await _claim(ctx, batch)
    if not rows:
        return 0
    sent = 0
    try:
        async with transport.session() as session:
            while rows:
                sent += await _send_one(ctx, session, rows[0])
                del rows[0]
                if not rows:
                    rows = await _claim(ctx, batch)
    except TransientDeliveryError as exc:
        # The relay could not be reached at all: what is still claimed goes back with backoff.
        await _retry_all(ctx, rows, str(exc))
    return sent


async def _claim(ctx: Context, batch: int) -> list[Outbox]:
    return await ctx.db.run(partial(outbox.claim_due, now=ctx.clock.now(), limit=batch))


ALERT_AFTER_ATTEMPTS = 3       # 30 s + 60 s + 120 s of backoff: the relay has been down for minutes


async def _retry_all(ctx: Context, rows: list[Outbox], error: str) -> None:
    log.warning("outbox_relay_unavailable rows=%s error=%s", len(rows), error)
    left = [(r.id, r.attempts) for r in rows]
    now = ctx.clock.now()
    if any(attempts + 1 >= ALERT_AFTER_ATTEMPTS for _, attempts in left):     # RELIABILITY row 57
        ctx.alerts.fire("relay_unavailable", "smtp_out", f"{len(left)} mail(s) waiting: {error[:200]}", now)

    def retry(s: Session) -> None:
        for row_id, attempts in left:
            outbox.mark_retry(s, row_id, attempts, now, error)

    await ctx.db.run(retry)


def _failed(session: Session, ctx: Context, row: Outbox, error: str, now: datetime) -> None:
    """A permanent refusal: the row fails, the case says so, and a relay 5xx counts as a hard bounce."""
    outbox.mark_failed(session, row.id, error)
    status = error.split(" ", 1)[0]
    if status.isdigit() and status.startswith("5"):
        for rcpt in row.rcpt_to:
            mailstate.record_bounce(session, rcpt.lower(), True, status, now,
                                    ctx.config.gateway.bounce_threshold)
    if row.ticket_id is not None:
        messages.add_events(session, [(row.ticket_id, now, "delivery_failed",
                                    f"to {', '.join(row.rcpt_to)[:300]}: {error[:300]}")])


async def _send_one(ctx: Context, session: MailSession, row: Outbox) -> int:
    now = ctx.clock.now()
    try:
        await session.send(row.mail_from, row.rcpt_to, row.raw)
    except PermanentDeliveryError as exc:
        error = str(exc)
        await ctx.db.run(lambda s: _failed(s, ctx, row, error, now))
        log.warning("outbox_failed id=%s error=%s", row.id, error[:120])
        return 0
    except TransientDeliveryError as exc:
        error = str(exc)
        await ctx.db.run(lambda s: outbox.mark_retry(s, row.id, row.attempts, now, error))
        log.info("outbox_retry id=%s attempt=%s error=%s", row.id, row.attempts + 1, error[:120])
        return 0
    checkpoint("after_relay_250_before_mark_sent")
    await ctx.db.run(lambda s: outbox.mark_sent(s, row.id, now))
    log.info("outbox_sent id=%s message_id=%s", row.id, row.message_id)
    return 1

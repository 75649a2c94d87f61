"""Drain the outbox: claim due rows, hand them to the transport, record each outcome at once."""

from __future__ import annotations

import logging

from mailgate.errors import PermanentDeliveryError, TransientDeliveryError
from mailgate.outbound import outbox
from mailgate.outbound.sender import MailSession, MailTransport
from mailgate.services.context import Context
from mailgate.storage.models import Outbox

log = logging.getLogger(__name__)


async def drain_outbox(ctx: Context, transport: MailTransport, batch: int = 50) -> int:
    """Send every due row; return how many were sent. Failures are recorded, never raised."""
    sent = 0
    while True:
        async with ctx.db.unit_of_work() as session:
            rows = await outbox.claim_due(session, ctx.clock.now(), batch)
        if not rows:
            return sent
        sent += await _send_batch(ctx, transport, rows)


async def _send_batch(ctx: Context, transport: MailTransport, rows: list[Outbox]) -> int:
    done: set[int] = set()
    sent = 0
    try:
        async with transport.session() as session:
            for row in rows:
                sent += await _send_one(ctx, session, row)
                done.add(row.id)
    except TransientDeliveryError as exc:
        # The relay could not be reached at all: the whole batch goes back with backoff.
        log.warning("outbox_relay_unavailable error=%s", exc)
        async with ctx.db.unit_of_work() as db:
            for row in rows:
                if row.id not in done:
                    await outbox.mark_retry(db, row, ctx.clock.now(), str(exc))
    return sent


async def _send_one(ctx: Context, session: MailSession, row: Outbox) -> int:
    try:
        await session.send(row.mail_from, row.rcpt_to, row.raw)
    except PermanentDeliveryError as exc:
        async with ctx.db.unit_of_work() as db:
            await outbox.mark_failed(db, row.id, str(exc))
        log.warning("outbox_failed id=%s error=%s", row.id, str(exc)[:120])
        return 0
    except TransientDeliveryError as exc:
        async with ctx.db.unit_of_work() as db:
            await outbox.mark_retry(db, row, ctx.clock.now(), str(exc))
        log.info("outbox_retry id=%s attempt=%s error=%s", row.id, row.attempts + 1, str(exc)[:120])
        return 0
    async with ctx.db.unit_of_work() as db:
        await outbox.mark_sent(db, row.id, ctx.clock.now())
    log.info("outbox_sent id=%s message_id=%s", row.id, row.message_id)
    return 1

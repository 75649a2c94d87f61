"""The receivers' fast path: store a message and process it in one unit of work.

The raw bytes and the case they become commit together, so a receiver's 250 costs one
transaction. If processing fails for any reason, the message is stored on its own through the
inbox (the processor then retries it and quarantines it with the error); only a message that
could not be stored at all is refused with a temporary error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.errors import ParseError
from mailgate.intake.inbox import Inbox, RawMessage, Receipt
from mailgate.mail.parse import ParsedMail
from mailgate.services.context import Context
from mailgate.services.process import Outcome, Received, parse_bounded, persist
from mailgate.storage import repos

log = logging.getLogger(__name__)


class Ingest:
    """``accept()`` for receivers: durable and processed, or durable and queued, or refused."""

    def __init__(self, ctx: Context, inbox: Inbox, on_queued: Callable[[], None] = lambda: None) -> None:
        self.ctx = ctx
        self.inbox = inbox
        self.on_queued = on_queued

    async def accept(self, message: RawMessage) -> Receipt:
        if message.quarantine:          # the receiver already knows: store it straight there
            return await self.inbox.accept(message)
        started = time.perf_counter()
        mail: ParsedMail | str
        try:
            mail = await parse_bounded(message.data, self.ctx)
        except ParseError as exc:
            mail = str(exc)
        row = self.inbox.row_for(message)
        now = row.received_at
        try:
            async with asyncio.timeout(self.inbox.timeout):
                receipt, outcome = await self.ctx.db.run(
                    lambda s: _store_and_process(s, self.ctx, row, mail, now))
        except Exception:  # anything failed: store the bytes alone (or refuse with 451)
            log.exception("ingest_failed source=%s; storing for retry", message.source)
            return await self.inbox.accept(message)
        log.info("intake_stored id=%s source=%s size=%s duplicate=%s state=%s case=%s ms=%.2f",
                 receipt.inbound_id, message.source, len(message.data), not receipt.created,
                 outcome.state if outcome else "-", outcome.ticket_id if outcome else "-",
                 (time.perf_counter() - started) * 1000)
        if outcome is not None and outcome.queued:
            self.on_queued()
        return receipt


def _store_and_process(session: Session, ctx: Context, row: repos.NewInbound, mail: ParsedMail | str,
                       now: datetime) -> tuple[Receipt, Outcome | None]:
    inbound_id, created, state = repos.insert_inbound(session, row)
    if not created:
        return Receipt(inbound_id, False, quarantined=state == "quarantined"), None
    if isinstance(mail, str):
        repos.finish_inbound(session, inbound_id, "quarantined", now, mail)
        return Receipt(inbound_id, True, quarantined=True), Outcome(inbound_id, "quarantined", reason=mail)
    received = Received(inbound_id, row.source, row.mail_from, tuple(row.rcpt_to), row.mailbox, now)
    outcome = persist(session, ctx, received, mail, now)
    return Receipt(inbound_id, True, quarantined=outcome.state == "quarantined"), outcome

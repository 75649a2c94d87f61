"""The receivers' fast path: store a message and process it in one unit of work.

The raw bytes and the case they become commit together, so a receiver's 250 costs one
transaction (on SQLite, messages that arrive while the writer is busy share one: ``GroupCommit``).
If processing fails for any reason, the message is stored on its own through the inbox (the
processor then retries it and quarantines it with the error); only a message that could not be
stored at all is refused with a temporary error.

A small message (up to ``PARSE_IN_UNIT`` bytes) is parsed inside its unit of work, on the
database thread, after its row is inserted: one hand-off between threads instead of two, and a
copy that is already stored is never parsed. Its parse is bounded by its size and the parser's
hard caps (a crafted 64 kB message took at most 0.07 s); a larger one is parsed first, on a
thread of its own, under the parse time limit.

In a daemon, the mail a message causes (an auto-response, a forward, a relayed answer) is queued
leased to the daemon's own senders and handed to them after the commit (``Handoff``): they need
no claim transaction to find it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Final, Protocol

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.cases.inbound import Received
from mailgate.domain.kinds import InboundState
from mailgate.errors import ParseError
from mailgate.intake.inbox import Inbox, RawMessage, Receipt
from mailgate.mail.parse import ParsedMail, parse
from mailgate.services.process import Outcome, parse_bounded, persist
from mailgate.storage import inbound, outbox
from mailgate.storage.db import GroupCommit
from mailgate.wakeups import NoWakeup, Wakeup

log = logging.getLogger(__name__)
PARSE_IN_UNIT: Final = 64 * 1024


class Handoff(Protocol):
    """This process's senders, taking the mail a unit of work queued leased to them."""

    def lease_owner(self) -> int | None:
        """The number to lease fresh mail under (None: queue it for any sender to claim)."""

    def hand_over(self, queued: Sequence[outbox.Queued]) -> None:
        """Take rows leased to ``lease_owner()`` by a unit of work that has committed."""


class Ingest:
    """``accept()`` for receivers: durable and processed, or durable and queued, or refused."""

    def __init__(self, ctx: Context, inbox: Inbox, outbox_ready: Wakeup | None = None,
                 handoff: Handoff | None = None) -> None:
        self.ctx = ctx
        self.inbox = inbox
        self.outbox_ready = outbox_ready or NoWakeup()
        self.handoff = handoff
        # Messages received at once (several SMTP sessions, web forms) commit together.
        self.commits = GroupCommit(ctx.db)

    async def accept(self, message: RawMessage) -> Receipt:
        if message.quarantine:          # the receiver already knows: store it straight there
            return await self.inbox.accept(message)
        started = time.perf_counter()
        mail: ParsedMail | str | None = None           # None: parsed in the unit of work
        if len(message.data) > PARSE_IN_UNIT:
            try:
                mail = await parse_bounded(message.data, self.ctx)
            except ParseError as exc:
                mail = str(exc)
        row = self.inbox.row_for(message)
        now = row.received_at
        owner = self.handoff.lease_owner() if self.handoff is not None else None
        try:
            async with asyncio.timeout(self.inbox.timeout):
                receipt, outcome = await self.commits.run(
                    lambda s: _store_and_process(s, self.ctx, row, mail, now, owner))
        except Exception:  # anything failed: store the bytes alone (or refuse with 451)
            log.exception("ingest_failed source=%s; storing for retry", message.source)
            return await self.inbox.accept(message)
        log.info("intake_stored id=%s source=%s size=%s duplicate=%s state=%s case=%s ms=%.2f",
                 receipt.inbound_id, message.source, len(message.data), not receipt.created,
                 outcome.state if outcome else "-", outcome.ticket_id if outcome else "-",
                 (time.perf_counter() - started) * 1000)
        if outcome is not None:
            if outcome.handed and self.handoff is not None:
                self.handoff.hand_over(outcome.handed)
            if outcome.queued > len(outcome.handed):
                self.outbox_ready.notify()      # some of it waits for a claim
            elif outcome.handed:
                self.outbox_ready.wake()        # all of it is in the senders' hands: no claim
        return receipt


def _store_and_process(session: Session, ctx: Context, row: inbound.NewInbound,
                       mail: ParsedMail | str | None, now: datetime,
                       owner: int | None = None) -> tuple[Receipt, Outcome | None]:
    inbound_id, created, state = inbound.insert_inbound(session, row)
    if not created:
        return Receipt(inbound_id, False, quarantined=state is InboundState.QUARANTINED), None
    if mail is None:
        try:
            mail = parse(row.raw, ctx.limits)
        except ParseError as exc:
            mail = str(exc)
    if isinstance(mail, str):
        inbound.finish(session, inbound_id, InboundState.QUARANTINED, now, mail)
        return (Receipt(inbound_id, True, quarantined=True),
                Outcome(inbound_id, InboundState.QUARANTINED, reason=mail))
    received = Received(inbound_id, row.source, row.mail_from, tuple(row.rcpt_to), row.mailbox, now,
                        peer=row.peer)
    with outbox.leased_to(session, owner, now) as queued:
        outcome = persist(session, ctx, received, mail, now)
    if queued:
        outcome = replace(outcome, handed=tuple(queued))
    return Receipt(inbound_id, True, quarantined=outcome.state == InboundState.QUARANTINED), outcome

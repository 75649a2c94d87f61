"""Drain the outbox: claim due rows, hand them to the transport, record each outcome at once.

Several workers send at once, each on a connection of its own, and every message has a deadline
(three times the relay's command timeout): one slow destination or message holds up only its own
worker; a message past its deadline is retried later on a new connection (RELIABILITY row 61).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Final

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.errors import PermanentDeliveryError, TransientDeliveryError
from mailgate.faults import checkpoint
from mailgate.outbound.sender import MailSession, MailTransport
from mailgate.storage import mailstate, messages, outbox
from mailgate.storage.db import DB_ERRORS
from mailgate.storage.models import Outbox

log = logging.getLogger(__name__)
WORKERS: Final = 4


class _Broken(Exception):
    """The session is in an unknown state (a message ran past its deadline): open a new one."""


class Drain:
    """The rows claimed so far, shared by the workers; more are claimed when they run out.

    The daemon keeps one for its lifetime and runs ``WORKERS`` workers on it, each woken when mail
    is queued: a worker held up by a slow destination leaves the rows behind to the others.
    """

    def __init__(self, ctx: Context, batch: int = 10, owner: Callable[[], int | None] | None = None) -> None:
        self.ctx = ctx
        self.batch = batch
        number = outbox.holder_number()
        # The number its leases carry: on PostgreSQL the daemon's, whose liveness lock tells the
        # others it is alive (storage/notify.py); on SQLite one of its own.
        self.owner = owner or (lambda: number)
        self.rows: deque[Outbox] = deque()
        self.raws: dict[int, bytes] = {}     # the bytes of small claimed rows, read with the claim
        self.held: set[int] = set()          # claimed and not yet finished: their leases are kept
        self.claiming = asyncio.Lock()
        self.sent = 0
        self.down = False
        self.dry_since = -math.inf           # when the last claim that came back short began
        self.running = False                 # its workers run: fresh mail may be handed to it

    async def next(self, woke: float) -> Outbox | None:
        """The next claimed row, claiming more when none are left, but not for a worker whose
        notice (``woke``, monotonic) came before a claim that came back short began: nothing
        else was due then, and what is queued since notifies the workers again. (Every worker
        wakes on each notice; without this each of them claimed, and the one that sent the mail
        once more: five write transactions for one auto-response, four of them empty.)"""
        async with self.claiming:
            if not self.rows and not self.down and woke > self.dry_since:
                started = time.monotonic()
                claimed, raws = await _claim(self.ctx, self.batch, self.owner(), sorted(self.held))
                if len(claimed) < self.batch:
                    self.dry_since = started
                fresh = [r for r in claimed if r.id not in self.held]
                self.raws.update((r.id, raws[r.id]) for r in fresh if r.id in raws)
                self.held.update(r.id for r in fresh)
                self.rows.extend(fresh)
            return self.rows.popleft() if self.rows else None

    def lease_owner(self) -> int | None:
        """The number fresh mail may be queued leased under (``Ingest``): this drain's, while its
        workers run; None otherwise (a CLI process has no senders: its mail waits for a claim)."""
        return self.owner() if self.running else None

    def hand_over(self, queued: Sequence[outbox.Queued]) -> None:
        """Take rows a committed unit of work queued leased to ``lease_owner()`` (``Ingest``), with
        their bytes: the workers send them without a claim (the caller wakes them)."""
        for item in queued:
            if item.row.id not in self.held:       # a claim may have found it first
                self.held.add(item.row.id)
                self.raws[item.row.id] = item.raw
                self.rows.append(item.row)

    def finished(self, *rows: Outbox | None) -> None:
        for row in rows:
            if row is not None:
                self.held.discard(row.id)
                self.raws.pop(row.id, None)

    async def keep_leases(self, stop: asyncio.Event) -> None:
        """Renew the leases of the rows in hand every ``LEASE / 3`` until ``stop``: a message may
        take longer than a lease, but a process that dies holds nothing for long."""
        every = outbox.LEASE.total_seconds() / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every):
                    await stop.wait()
            if self.held:
                ids, now = sorted(self.held), self.ctx.clock.now()
                try:
                    await self.ctx.db.run(partial(outbox.renew_leases, ids=ids, now=now))
                except DB_ERRORS:
                    log.warning("outbox_lease_renewal_failed rows=%s", len(ids))


async def deliver(drain: Drain, transport: MailTransport, woke: float | None = None) -> int:
    """One worker: send rows on one connection (a new one after a message broke it) until none
    are due; return how many it sent. ``woke``: when the notice that woke it came (now)."""
    woke = time.monotonic() if woke is None else woke
    if not drain.rows:
        drain.down = False                    # a new pass: the relay may be back
    sent = 0
    row = await drain.next(woke)
    while row is not None:
        try:
            async with transport.session() as session:
                while row is not None:
                    try:
                        done = await _send_one(drain.ctx, session, row, drain.raws.pop(row.id, None))
                    finally:
                        drain.finished(row)          # its outcome is recorded, or its lease lapses
                    sent += done
                    drain.sent += done
                    row = await drain.next(woke)
        except _Broken:
            row = await drain.next(woke)
        except TransientDeliveryError as exc:
            # The relay could not be reached: this row and those still claimed go back with backoff.
            drain.down = True
            left = [r for r in (row, *drain.rows) if r is not None]
            drain.rows.clear()
            try:
                await _retry_all(drain.ctx, left, str(exc))
            finally:
                drain.finished(*left)        # recorded, or (the database failed) their leases lapse
            return sent
    return sent


def _deadline(ctx: Context) -> float:
    """How long one message may take: three times the relay's command timeout."""
    smtp_out = ctx.config.smtp_out
    return 3 * (smtp_out.timeout.total_seconds() if smtp_out else 30.0)


async def _claim(ctx: Context, batch: int, owner: int | None,
                 held: list[int]) -> tuple[list[Outbox], dict[int, bytes]]:
    """Lease due rows, and read the bytes of the small ones in the same transaction."""
    now = ctx.clock.now()

    def work(session: Session) -> tuple[list[Outbox], dict[int, bytes]]:
        rows = outbox.claim_due(session, now, batch, owner=owner, held=held)
        return rows, outbox.small_raws(session, [r.id for r in rows])

    return await ctx.db.run(work)


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


async def _send_one(ctx: Context, session: MailSession, row: Outbox, raw: bytes | None) -> int:
    now = ctx.clock.now()
    if raw is None:
        raw = await ctx.db.run(lambda s: outbox.raw_of(s, row.id))
    try:
        async with asyncio.timeout(_deadline(ctx)):
            await session.send(row.mail_from, row.rcpt_to, raw)
    except TimeoutError:
        error = f"no answer within {_deadline(ctx):.0f}s"
        await ctx.db.run(lambda s: outbox.mark_retry(s, row.id, row.attempts, now, error))
        log.warning("outbox_retry id=%s attempt=%s error=%s", row.id, row.attempts + 1, error)
        raise _Broken from None
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

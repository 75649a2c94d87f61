"""IMAP intake: supervise a mailbox without losing or duplicating a message.

Per connection (``intake/imap.py``): LOGIN → SELECT (UIDVALIDITY) → UID SEARCH above the durable
cursor → UID FETCH ``BODY.PEEK[]`` in size-bounded batches → accept each message (committed) →
only then MOVE it to the processed or quarantine folder → advance the cursor. A crash anywhere
re-fetches at most the messages not yet moved, and the inbound table's unique source key
(mailbox, UIDVALIDITY, UID) plus the content digest make the re-fetch a no-op. Then IDLE or a poll
interval. Any error: log out, back off with jitter (minutes after a refused login), reconnect.
With several processes on PostgreSQL, one polls each mailbox (an advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from functools import partial

from mailgate.clock import Clock
from mailgate.config import ImapConfig, MailboxConfig
from mailgate.errors import ImapAuthError, ImapError, IntakeError
from mailgate.faults import checkpoint
from mailgate.intake.imap import BATCH_BYTES, ImapConnection, search_criteria
from mailgate.intake.inbox import Acceptor, RawMessage
from mailgate.storage import mailstate
from mailgate.storage.db import Database
from mailgate.storage.locks import ExclusiveLock

log = logging.getLogger(__name__)
STANDBY_WAIT_SECONDS = 2.0      # a standby's wait on the mailbox lock, between looks at a stop


@dataclass
class Backoff:
    """Capped exponential backoff with ±20 % jitter."""

    first: float
    cap: float
    current: float = 0.0

    def next(self) -> float:
        self.current = self.first if not self.current else min(self.current * 2, self.cap)
        return self.current * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.current = 0.0


class MailboxPoller:
    """Supervises one ``[[mailbox]]`` with ``[mailbox.imap]`` until ``stop`` is set."""

    def __init__(self, box: MailboxConfig, acceptor: Acceptor, db: Database, clock: Clock,
                 max_size: int) -> None:
        assert box.imap is not None
        self.box = box
        self.cfg: ImapConfig = box.imap
        self.acceptor = acceptor
        self.db = db
        self.clock = clock
        self.max_size = max_size
        self.errors = Backoff(1.0, 300.0)
        self.auth_errors = Backoff(60.0, 900.0)
        self.stop = asyncio.Event()
        self.lock = ExclusiveLock(db, f"mailbox:{box.name}")

    async def run(self, stop: asyncio.Event) -> None:
        self.stop = stop
        try:
            while not stop.is_set():
                if not await self._standby_until_ours(stop):
                    break
                try:
                    await self._connected(stop)
                except ImapAuthError as exc:
                    await self._failed(stop, exc, self.auth_errors, logging.ERROR)
                except (ImapError, IntakeError) as exc:
                    await self._failed(stop, exc, self.errors, logging.WARNING)
                finally:
                    await self.lock.release()
        finally:
            await self.lock.dispose()

    async def _standby_until_ours(self, stop: asyncio.Event) -> bool:
        """With several processes (PostgreSQL), one polls a mailbox; the others wait on its lock
        (a few seconds at a time, so that a stop is seen) and take over the moment it is free."""
        waiting = False
        while not await self.lock.try_acquire():
            if not waiting:
                log.info("imap_standby mailbox=%s: another process polls it", self.box.name)
                waiting = True
            began = asyncio.get_running_loop().time()
            if await self.lock.wait_acquire(STANDBY_WAIT_SECONDS):
                break
            left = STANDBY_WAIT_SECONDS - (asyncio.get_running_loop().time() - began)
            if left > 0:                   # it failed at once (the database is away): not a busy loop
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await stop.wait()
            if stop.is_set():
                return False
        if waiting:
            log.info("imap_taking_over mailbox=%s", self.box.name)
        return True

    async def _failed(self, stop: asyncio.Event, exc: Exception, backoff: Backoff, level: int) -> None:
        delay = backoff.next()
        log.log(level, "imap_error mailbox=%s retry_in=%.0fs error=%s", self.box.name, delay, exc)
        await self._state(connected=False, last_error=str(exc)[:500])
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await stop.wait()

    async def _connected(self, stop: asyncio.Event) -> None:
        conn = await ImapConnection.open(self.cfg)
        try:
            for folder in (self.cfg.processed_folder, self.cfg.quarantine_folder):
                await conn.ensure_folder(folder)
            validity, uidnext = await conn.select(self.cfg.folder)
            await self._check_validity(validity)
            log.info("imap_connected mailbox=%s uidvalidity=%s", self.box.name, validity)
            self.auth_errors.reset()
            while not stop.is_set():
                if not await self.lock.still_held():
                    raise ImapError("lost the mailbox lock (database connection): handing over")
                taken = await self.poll_once(conn, validity, uidnext)
                self.errors.reset()
                if not taken and not stop.is_set():
                    await self._wait(conn, stop)
        finally:
            await conn.close()
            await self._state(connected=False)

    async def _wait(self, conn: ImapConnection, stop: asyncio.Event) -> None:
        if self.cfg.idle and "IDLE" in conn.capabilities:
            await conn.wait_for_mail(self.cfg.idle_refresh.total_seconds(), stop)
        else:
            await conn.wait_for_mail(self.cfg.poll_interval.total_seconds(), stop)

    async def _check_validity(self, validity: int) -> None:
        changed = await self.db.run(partial(mailstate.check_uidvalidity, name=self.box.name,
                                            validity=validity, now=self.clock.now()))
        if changed:
            log.warning("imap_uidvalidity_changed mailbox=%s uidvalidity=%s: rescanning",
                        self.box.name, validity)

    async def _cursor(self) -> int | None:
        return await self.db.run(partial(mailstate.imap_cursor, name=self.box.name, now=self.clock.now()))

    async def poll_once(self, conn: ImapConnection, validity: int, uidnext: int = 0) -> int:
        """Take every new message once; return how many were taken."""
        last = await self._cursor()
        found = await conn.search(search_criteria(self.cfg.start, last))
        # Servers answer "UID n:*" with the highest UID even when it is not above n: filter.
        uids = [u for u in found if last is None or u > last]
        await self._state(last_poll_at=self.clock.now(), backlog=len(uids))
        taken = 0
        sizes = await conn.sizes(uids) if uids else {}
        too_big = [u for u in uids if sizes.get(u, 0) > self.max_size]
        if too_big:
            taken += await self._take(conn, validity, too_big, oversized=True)
        for batch in self._batches([u for u in uids if u not in too_big], sizes):
            taken += await self._take(conn, validity, batch)
        if last is None and uidnext and taken == len(uids):
            # First start with a policy: whatever the policy skipped is old mail; start above it
            # (only once everything the policy chose was taken: a stop mid-way retries it).
            await self._state(last_uid=max(uidnext - 1, await self._cursor() or 0))
        return taken

    def _batches(self, uids: list[int], sizes: dict[int, int]) -> list[list[int]]:
        """Split into UID FETCH batches bounded in count and bytes (bounded memory)."""
        if not uids:
            return []
        batches: list[list[int]] = [[]]
        total = 0
        for uid in uids:
            size = sizes.get(uid, 0)
            if batches[-1] and (len(batches[-1]) >= self.cfg.batch or total + size > BATCH_BYTES):
                batches.append([])
                total = 0
            batches[-1].append(uid)
            total += size
        return batches

    async def _take(self, conn: ImapConnection, validity: int, uids: list[int],
                    oversized: bool = False) -> int:
        # An oversized message is not downloaded: its header goes to mailgate's quarantine and
        # the message itself (all its bytes) to the quarantine folder on the server.
        fetched = await conn.fetch(uids, "BODY.PEEK[HEADER]" if oversized else "BODY.PEEK[]")
        checkpoint("imap_after_fetch")
        processed: list[int] = []
        quarantined: list[int] = []
        reason = (f"over max_message_size: left whole in IMAP folder {self.cfg.quarantine_folder}"
                  if oversized else "")
        for uid, data in fetched:
            if self.stop.is_set():    # finish the message in hand, leave the rest for next time
                break
            receipt = await self.acceptor.accept(RawMessage(
                data=data, source="imap", rcpt_to=(self.box.address,), mailbox=self.box.name,
                source_key=f"imap:{self.box.name}:{validity}:{uid}", peer=self.cfg.host,
                quarantine=reason,
            ))
            (quarantined if receipt.quarantined else processed).append(uid)
        checkpoint("imap_after_commit_before_move")
        if processed:
            await conn.move(processed, self.cfg.processed_folder)
        if quarantined:
            await conn.move(quarantined, self.cfg.quarantine_folder)
        done = processed + quarantined
        if done:
            await self._advance(max(done), len(done))
        return len(done)

    async def _advance(self, last_uid: int, count: int) -> None:
        await self.db.run(partial(mailstate.advance_cursor, name=self.box.name, last_uid=last_uid,
                                  count=count, now=self.clock.now()))

    async def _state(self, **values: object) -> None:
        now = self.clock.now()
        await self.db.run(lambda s: mailstate.update_mailbox_state(s, self.box.name, now, **values))


"""Composition root: builds every service from the config and runs the daemon's lifecycle.

Runtime: one process, one event loop. The SMTP/LMTP server and one IMAP poller per IMAP mailbox
hand each message to the ingest, which stores and processes it in one transaction; a message
stored alone (when processing failed, or released from quarantine) is taken by the processor.
The outbox drainer sends what they caused. The processor and the drainer are woken through the
``Wakeup`` port after a commit (``wakeups.LocalWakeup`` on SQLite, which one process owns;
``storage.notify`` on PostgreSQL, whose ``LISTEN/NOTIFY`` also wakes the other daemons on the
database), and also poll the database (cheap indexed queries), so rows written by a process that
sent no notification (the CLI) are picked up too.
Stop order: intake (SMTP closes, pollers finish the message in hand and log out) → the message in
hand → a bounded outbox drain → database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from mailgate.cases.context import Context
from mailgate.clock import Clock, SystemClock
from mailgate.config import Config
from mailgate.intake.inbox import Inbox
from mailgate.intake.poller import MailboxPoller
from mailgate.intake.smtp import IntakeHandler, Recipients, start_server
from mailgate.outbound.render import Renderer
from mailgate.outbound.sender import MaildirTransport, MailTransport, SmtpTransport
from mailgate.scheduler import Scheduler
from mailgate.services.alerting import mail_alerts
from mailgate.services.blocklist import Blocklist
from mailgate.services.delivery import WORKERS, Drain, deliver
from mailgate.services.ingest import Ingest
from mailgate.services.process import RETRY, process_inbound
from mailgate.storage import inbound, migrate, outbox
from mailgate.storage.db import DB_ERRORS, Database
from mailgate.storage.locks import SqliteOwner
from mailgate.wakeups import LocalWakeup

if TYPE_CHECKING:
    from mailgate.storage.notify import PgWakeups, SharedWakeup
    from mailgate.web.server import WebPages

log = logging.getLogger(__name__)
INBOUND_POLL_SECONDS = 5.0
OUTBOX_POLL_SECONDS = 1.0
DRAIN_ON_STOP_SECONDS = 10.0
ALERT_POLL_SECONDS = 5.0
DATABASE_ALERT_AFTER = timedelta(minutes=1)


def build_transport(config: Config) -> MailTransport:
    if config.smtp_out is None:
        return MaildirTransport(config.resolve(config.gateway.outbox_maildir))
    return SmtpTransport(config.smtp_out)


@dataclass
class App:
    """The wired daemon; ``run()`` serves until ``stop()`` (or SIGTERM/SIGINT)."""

    ctx: Context
    transport: MailTransport
    inbox: Inbox
    ingest: Ingest
    scheduler: Scheduler
    inbound_ready: LocalWakeup | SharedWakeup
    outbox_ready: LocalWakeup | SharedWakeup
    drain: Drain
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    smtp_server: asyncio.Server | None = None
    web: WebPages | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    _database_down_since: datetime | None = None
    _tries: dict[int, int] = field(default_factory=dict)    # inbound rows the database failed under
    wakeups: PgWakeups | None = None                          # LISTEN/NOTIFY, on PostgreSQL

    @classmethod
    def build(cls, config: Config, clock: Clock | None = None,
              transport: MailTransport | None = None) -> App:
        db = Database(config.database_url)
        ctx = Context(config=config, db=db, clock=clock or SystemClock(),
                      renderer=Renderer(config.resolve(config.gateway.templates)))
        hub: PgWakeups | None = None
        inbound_ready: LocalWakeup | SharedWakeup
        outbox_ready: LocalWakeup | SharedWakeup
        if db.is_sqlite:                    # one process owns a SQLite database: wake it alone
            inbound_ready, outbox_ready = LocalWakeup(), LocalWakeup()
        else:
            from mailgate.storage import notify  # psycopg (~20 MB resident) only on PostgreSQL

            hub = notify.PgWakeups(config.database_url)
            inbound_ready, outbox_ready = hub.channel(notify.INBOUND), hub.channel(notify.OUTBOX)
        inbox = Inbox(db, ctx.clock, inbound_ready)
        # The daemon's senders; on PostgreSQL their leases carry the daemon's liveness number.
        drain = Drain(ctx) if hub is None else Drain(ctx, owner=hub.lease_owner)
        return cls(ctx=ctx, transport=transport or build_transport(config), inbox=inbox,
                   ingest=Ingest(ctx, inbox, outbox_ready, handoff=drain),
                   scheduler=Scheduler(ctx, outbox_ready), inbound_ready=inbound_ready,
                   outbox_ready=outbox_ready, drain=drain, wakeups=hub)

    @property
    def smtp_port(self) -> int:
        assert self.smtp_server is not None
        return int(self.smtp_server.sockets[0].getsockname()[1])

    async def start_intake(self) -> None:
        cfg = self.ctx.config
        if not cfg.smtp_in.enabled:
            return
        recipients = Recipients(((m.address, m.name) for m in cfg.mailboxes),
                                cfg.gateway.subaddress_delimiter)
        handler = IntakeHandler(self.ingest, recipients, cfg.smtp_in.protocol, Blocklist(self.ctx))
        self.smtp_server = await start_server(handler, cfg.smtp_in.host, cfg.smtp_in.port,
                                              cfg.gateway.max_message_size, cfg.message_id_domain)

    async def run(self, install_signals: bool = False) -> None:
        """Migrate, serve until stopped, shut down gracefully."""
        owner = SqliteOwner(self.ctx.db)
        owner.acquire()
        try:
            await self._run(install_signals)
        finally:
            owner.release()

    async def _run(self, install_signals: bool) -> None:
        await asyncio.to_thread(migrate.upgrade, self.ctx.config.database_url, True)
        if self.ctx.db.is_sqlite:
            # One process owns a SQLite database, so a lease left behind is from a sender that
            # died mid-send (lost 250): resend now rather than when the lease runs out.
            released = await self.ctx.db.run(outbox.release_leases)
            if released:
                log.warning("outbox_leases_released rows=%s", released)
        if install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.stop)
        await self.start_intake()
        if self.ctx.config.web is not None:
            from mailgate.web.server import WebPages  # aiohttp (~8 MB) only when [web] is set

            self.web = WebPages(self.ctx, self.ingest)
            await self.web.start()
        self.scheduler.start()
        self.inbound_ready.notify()
        self.outbox_ready.notify()
        log.info("mailgate_started smtp=%s", self.ctx.config.smtp_in.listen)
        self.started.set()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._processor())
                tasks.create_task(self._drainer())
                tasks.create_task(self._alerter())
                if self.wakeups is not None:
                    tasks.create_task(self.wakeups.run(self.stopping))
                for poller in self.pollers():
                    tasks.create_task(poller.run(self.stopping))
        finally:
            if self.web is not None:
                await self.web.stop()
            await self.scheduler.stop()
            await self.transport.close()
            await self.ctx.db.dispose()
            log.info("mailgate_stopped")

    def pollers(self) -> list[MailboxPoller]:
        """One IMAP poller per mailbox with an ``[mailbox.imap]`` table."""
        cfg = self.ctx.config
        return [MailboxPoller(box, self.ingest, self.ctx.db, self.ctx.clock, cfg.gateway.max_message_size)
                for box in cfg.mailboxes if box.imap is not None]

    def stop(self) -> None:
        """Begin a graceful stop: intake closes first, so nothing new is acknowledged."""
        if self.stopping.is_set():
            return
        log.info("mailgate_stopping")
        if self.smtp_server is not None:
            self.smtp_server.close()
        self.stopping.set()
        self.inbound_ready.notify()
        self.outbox_ready.notify()

    async def process_pending(self) -> int:
        """Process every pending inbound row (stored alone, or released); return how many."""
        handled, after = 0, 0
        while not self.stopping.is_set():
            ids = await self.ctx.db.run(partial(inbound.pending_ids, limit=100, after=after))
            if not ids:
                return handled
            for inbound_id in ids:
                tries = self._tries.get(inbound_id, 0) + 1
                outcome = await process_inbound(self.ctx, inbound_id, tries)
                after = inbound_id       # a row left pending waits for the next pass, not the rest
                if outcome.state == RETRY:
                    self._tries[inbound_id] = tries
                else:
                    self._tries.pop(inbound_id, None)
                    handled += 1
                if outcome.queued:
                    self.outbox_ready.notify()
                if self.stopping.is_set():
                    break
        return handled

    async def _processor(self) -> None:
        while not self.stopping.is_set():
            await self.inbound_ready.wait(INBOUND_POLL_SECONDS)
            await self._guarded("processor", self.process_pending())

    async def _drainer(self) -> None:
        """``WORKERS`` senders share what is claimed, and what the ingest hands them; at stop, what
        is due goes out for a while."""
        drain = self.drain
        leases_done = asyncio.Event()
        leases = asyncio.create_task(drain.keep_leases(leases_done))
        drain.running = True
        try:
            async with asyncio.TaskGroup() as workers:
                for _ in range(WORKERS):
                    workers.create_task(self._deliverer(drain))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_ON_STOP_SECONDS):
                    await asyncio.gather(*(self._guarded("outbox", deliver(drain, self.transport))
                                           for _ in range(WORKERS)))
        finally:
            drain.running = False
            leases_done.set()
            await leases

    async def _deliverer(self, drain: Drain) -> None:
        while not self.stopping.is_set():
            notified = await self.outbox_ready.wait(OUTBOX_POLL_SECONDS)
            # Woken by a notice: a claim begun after it has seen the mail it announced.
            woke = self.outbox_ready.notified_at if notified else time.monotonic()
            await self._guarded("outbox", deliver(drain, self.transport, woke))

    async def _alerter(self) -> None:
        """Mail the admin what ``ctx.alerts`` raised (outbox, or straight to the relay)."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ALERT_POLL_SECONDS):
                    await self.stopping.wait()
            await self._guarded("alerts", mail_alerts(self.ctx, self.transport))
            self.outbox_ready.notify()

    async def _guarded(self, name: str, work: Awaitable[int]) -> None:
        try:
            await work
        except DB_ERRORS as exc:
            log.exception("%s_sweep_failed", name)
            self._database_failed(exc)
            await asyncio.sleep(1.0)
        except Exception:
            log.exception("%s_sweep_failed", name)
            await asyncio.sleep(1.0)
        else:
            self._database_down_since = None

    def _database_failed(self, exc: Exception) -> None:
        """A database that stays down for a minute is an alert (mailed without the outbox)."""
        now = self.ctx.clock.now()
        since = self._database_down_since = self._database_down_since or now
        if now - since >= DATABASE_ALERT_AFTER:
            self.ctx.alerts.fire("database_unavailable", "database",
                                 f"failing since {since:%H:%M:%S} UTC: {type(exc).__name__}", now)


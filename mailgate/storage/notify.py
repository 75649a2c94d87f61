"""Wake-ups across processes on one PostgreSQL database: ``LISTEN/NOTIFY`` behind the ``Wakeup`` port.

Every daemon on the database listens on one channel per kind of work (``mailgate_inbound``,
``mailgate_outbox``). ``notify()`` wakes this process's consumer at once, as ``LocalWakeup`` does,
and sends a ``NOTIFY`` that wakes every other process's; whichever is free claims the work
(``SKIP LOCKED`` and conditional claims decide who). ``notify()`` is called after the commit of
the work it announces, so a listener never wakes before the rows are visible.

The listening connection also holds this process's liveness lock: an outbox row it leased is
free to the others the moment that connection (or the process) dies, instead of when the lease
runs out. A notification carries the sender's token, so a process does not wake itself twice. The
listening connection reconnects with backoff; while it is down, the consumers' polling (every
second for the outbox, every few seconds for stored messages) is the fallback, so a lost
notification only delays work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Final

import psycopg
from psycopg import sql

from mailgate.storage.outbox import LIVENESS_CLASS, holder_number
from mailgate.wakeups import LocalWakeup

log = logging.getLogger(__name__)
INBOUND: Final = "mailgate_inbound"
OUTBOX: Final = "mailgate_outbox"
RECONNECT_MAX_SECONDS: Final = 30.0
TICK: Final = 0.5           # how often the connections' loops look whether the daemon is stopping


def libpq_url(url: str) -> str:
    """The configured SQLAlchemy URL as libpq takes it (``postgresql+psycopg://`` → ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql") else url


class SharedWakeup:
    """One channel: a ``LocalWakeup`` for this process, a ``NOTIFY`` for the others."""

    def __init__(self, hub: PgWakeups, channel: str) -> None:
        self.hub = hub
        self.channel = channel
        self.local = LocalWakeup()

    def notify(self) -> None:
        self.local.notify()
        self.hub.publish(self.channel)

    def wake(self) -> None:
        self.local.wake()               # the work is this process's own: the others are not told

    def is_set(self) -> bool:
        return self.local.is_set()

    @property
    def notified_at(self) -> float:
        return self.local.notified_at

    async def wait(self, seconds: float) -> bool:
        return await self.local.wait(seconds)


class PgWakeups:
    """The listening and the notifying connection of one process, and its channels."""

    def __init__(self, url: str) -> None:
        self.url = libpq_url(url)
        self.token = uuid.uuid4().hex
        self.number = holder_number()            # this process, as an outbox lease holder
        self.channels: dict[str, SharedWakeup] = {}
        self._outgoing: set[str] = set()
        self._send = asyncio.Event()
        self.listening = asyncio.Event()          # set while LISTEN is in force (tests wait on it)
        self.received = 0

    def channel(self, name: str) -> SharedWakeup:
        if name not in self.channels:
            self.channels[name] = SharedWakeup(self, name)
        return self.channels[name]

    def lease_owner(self) -> int | None:
        """The number to lease outbox rows under: this process's, while its liveness lock holds."""
        return self.number if self.listening.is_set() else None

    def publish(self, channel: str) -> None:
        """Queue one ``NOTIFY`` on ``channel`` (coalesced: many calls before it goes out are one)."""
        self._outgoing.add(channel)
        self._send.set()

    async def flush(self, seconds: float = 3.0) -> None:
        """Send what was announced, once, on a connection of its own: a one-shot command (the
        CLI) wakes the daemons this way instead of leaving its work to their polling."""
        if not self._outgoing:
            return
        channels, self._outgoing = self._outgoing, set()
        try:
            async with asyncio.timeout(seconds):
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await self._send_all(conn, channels)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            log.warning("wakeup_not_sent error=%s", type(exc).__name__)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen and notify until ``stop``; a lost connection is reopened with backoff."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._forever(self._listen, stop))
            tasks.create_task(self._forever(self._notify, stop))

    async def _forever(self, work: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
                       stop: asyncio.Event) -> None:
        """Run ``work`` until ``stop``, again after a lost connection. ``work`` ends by itself
        within ``TICK`` of ``stop`` and closes its connection; it is cancelled only if it does
        not (a connection attempt that hangs)."""
        delay = 0.5
        while not stop.is_set():
            running = asyncio.create_task(work(stop))
            waiting = asyncio.create_task(stop.wait())
            await asyncio.wait({waiting, running}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if not running.done():
                done, _ = await asyncio.wait({running}, timeout=2 * TICK)
                if not done:
                    running.cancel()
            try:
                await running
                delay = 0.5
            except asyncio.CancelledError:
                if not stop.is_set():
                    raise
            except (psycopg.Error, OSError) as exc:
                self.listening.clear()
                if stop.is_set():
                    return
                log.warning("wakeup_connection_lost error=%s retry_in=%.0fs", type(exc).__name__, delay)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await stop.wait()
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
        self.listening.clear()

    async def _listen(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                         connect_timeout=10) as conn:
            # Alive while this connection is: other daemons take over this one's outbox leases
            # as soon as the server drops the lock (storage/outbox.py ``_HOLDER_GONE``).
            await conn.execute("SELECT pg_advisory_lock(%s, %s)", (LIVENESS_CLASS, self.number))
            for name in self.channels:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(name)))
            self.listening.set()
            # Work may have been announced while we were not listening: look once.
            for wakeup in self.channels.values():
                wakeup.local.notify()
            while not stop.is_set():
                async for note in conn.notifies(timeout=TICK):
                    if note.payload != self.token and note.channel in self.channels:
                        self.received += 1
                        self.channels[note.channel].local.notify()

    async def _notify(self, stop: asyncio.Event) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                         connect_timeout=10) as conn:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK):
                        await self._send.wait()
                if not self._send.is_set():
                    continue
                self._send.clear()
                channels, self._outgoing = self._outgoing, set()
                try:
                    await self._send_all(conn, channels)
                except BaseException:
                    self._outgoing |= channels            # sent again on the next connection
                    self._send.set()
                    raise

    async def _send_all(self, conn: psycopg.AsyncConnection[Any], channels: set[str]) -> None:
        for name in sorted(channels):
            await conn.execute("SELECT pg_notify(%s, %s)", (name, self.token))

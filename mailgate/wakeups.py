"""Wake-ups between the stages of the daemon: "there is work" without polling for it.

The ``Wakeup`` port is what a producer (the inbox after storing a message, a unit of work that
queued outbound mail, the timer sweep) calls, and what a consumer (the inbound processor, the
outbox drainer) waits on. ``LocalWakeup`` serves one process (SQLite); ``storage/notify.py``
serves several over PostgreSQL ``LISTEN/NOTIFY``. Consumers still poll the database now and
then, so a lost wake-up only delays work.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Protocol


class Wakeup(Protocol):
    """A named kind of work that may be waiting."""

    def notify(self) -> None:
        """Say there is work (cheap, never blocks; safe to call from the event loop only)."""
        ...

    async def wait(self, seconds: float) -> bool:
        """Wait until notified or ``seconds`` pass; True when notified. Clears the signal."""
        ...

    def wake(self) -> None:
        """Wake this process's consumers for work already in their hands, announcing nothing
        new: ``notified_at`` stays, so no read of the database follows for it."""
        ...


class LocalWakeup:
    """In-process wake-ups: an ``asyncio.Event`` in the daemon's loop. ``notified_at`` is when the
    last notice came (``time.monotonic()``): work queued before it is visible to a reader that
    starts after it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.notified_at = -math.inf

    def notify(self) -> None:
        self.notified_at = time.monotonic()
        self._event.set()

    def wake(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, seconds: float) -> bool:
        notified = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
                notified = True
        self._event.clear()
        return notified


class NoWakeup:
    """For one-shot commands (the CLI): nobody listens."""

    def notify(self) -> None:
        return None

    def wake(self) -> None:
        return None

    async def wait(self, seconds: float) -> bool:
        await asyncio.sleep(seconds)
        return False

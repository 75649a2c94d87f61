"""APScheduler wiring: one interval job, the deadline sweep (services/timers.py).

Deadlines are database columns, so the job holds no state: it runs once at start-up (catching up
on whatever fell due while the daemon was down) and then every ``timer_interval``; ``coalesce``
and ``max_instances=1`` keep a slow sweep from piling up. On stop it waits for a sweep in flight.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailgate.cases.context import Context
from mailgate.services import timers
from mailgate.wakeups import NoWakeup, Wakeup

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, ctx: Context, outbox_ready: Wakeup | None = None) -> None:
        self.ctx = ctx
        self.outbox_ready = outbox_ready or NoWakeup()
        self._busy = asyncio.Lock()
        self._stopped = False
        self._scheduler: AsyncIOScheduler | None = None

    def start(self) -> None:
        """Start in the running event loop (APScheduler binds to a loop when it is created)."""
        self._scheduler = AsyncIOScheduler(timezone=UTC, event_loop=asyncio.get_running_loop())
        self._scheduler.add_job(self.sweep_now, "interval", id="deadline_sweep",
                                seconds=self.ctx.config.gateway.timer_interval.total_seconds(),
                                next_run_time=datetime.now(UTC), coalesce=True, max_instances=1,
                                misfire_grace_time=None)
        self._scheduler.start()

    async def sweep_now(self) -> timers.SweepReport | None:
        async with self._busy:
            if self._stopped:           # a run APScheduler fired just before shutdown
                return None
            try:
                report = await timers.sweep(self.ctx)
            except Exception:
                log.exception("timers_sweep_failed")
                return None
        if report.total:
            self.outbox_ready.notify()
        return report

    async def stop(self) -> None:
        self._stopped = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        async with self._busy:          # let a sweep in flight finish its unit of work
            pass

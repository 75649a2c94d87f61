"""APScheduler 3 wiring: thin interval jobs that wake the services; no per-case jobs, ever.

Deadlines live in the database (STYLE C7); a job only asks what is due now.
"""

from __future__ import annotations

from collections.abc import Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler


class Scheduler:
    def __init__(self, every_seconds: float, *wakers: Callable[[], None]) -> None:
        self._scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        for waker in wakers:
            self._scheduler.add_job(waker, "interval", seconds=every_seconds)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

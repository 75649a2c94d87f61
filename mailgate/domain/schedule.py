"""The periods of scheduled reports (SPEC §2 ``[[report]]``), free of I/O: the whole day, week
(Monday to Monday) or month that has just ended, in the gateway's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def last_period(every: str, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[start, end)``, as UTC instants, of the last whole ``every`` period in ``tz`` ended at or
    before ``now``."""
    today = now.astimezone(tz).date()
    if every == "daily":
        end = today
        start = end - timedelta(days=1)
    elif every == "weekly":
        end = today - timedelta(days=today.weekday())
        start = end - timedelta(days=7)
    elif every == "monthly":
        end = today.replace(day=1)
        start = (end - timedelta(days=1)).replace(day=1)
    else:
        raise ValueError(f"every: daily, weekly or monthly, not {every!r}")
    return _midnight(start, tz), _midnight(end, tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """Midnight of ``day`` in ``tz``, as a UTC instant (so that differences are real durations)."""
    return datetime.combine(day, time.min, tz).astimezone(UTC)

"""Time as an injected dependency: every clock returns aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, as the JSON listings print times."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def human(value: datetime | None, zone: tzinfo) -> str:
    """A date people read: "Mon 23 Nov 2026, 10:02 CET" in ``zone`` ('' for None)."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname() or ''}".rstrip()

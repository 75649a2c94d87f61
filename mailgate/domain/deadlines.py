"""Deadlines (SPEC §7): when each falls due after the event that sets it. Pure arithmetic on the
pool's configured spans; the timer sweep (services/timers.py) acts on the stored results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Spans:
    """A pool's deadline spans."""

    rollover_after: timedelta
    reply_deadline: timedelta
    customer_deadline: timedelta


@dataclass(frozen=True, slots=True)
class Due:
    """The case's deadline columns after an event (None: nothing due)."""

    rollover_at: datetime | None
    reply_due_at: datetime | None
    customer_due_at: datetime | None


def customer_wrote(now: datetime, spans: Spans, rollover_at: datetime | None) -> Due:
    """A new case or a customer's reply: an answer is due; the customer owes nothing."""
    return Due(rollover_at, now + spans.reply_deadline, None)


def operator_answered(now: datetime, spans: Spans) -> Due:
    """The ball is in the customer's court; nobody needs to acknowledge anything."""
    return Due(None, None, now + spans.customer_deadline)


def given_in_turn(now: datetime, spans: Spans) -> datetime:
    """Round robin: the new owner must ``#ack`` or act by then, or the case moves on."""
    return now + spans.rollover_after


RESOLVED = Due(None, None, None)

#: The default names of the two expired statuses (SPEC §3); admins may rename them.
EXPIRED_UNANSWERED = "expired unanswered"
EXPIRED_AWAITING_CUSTOMER = "expired awaiting customer"


def next_reminder(created_at: datetime, reminders: int, every: timedelta) -> datetime | None:
    """A held draft reminds its approver once, then escalates once, then waits quietly."""
    return created_at + every * (reminders + 1) if reminders < 2 else None

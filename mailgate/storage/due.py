"""What has fallen due: the deadline queries of the timer sweep (SPEC §7).

Each deadline is a column; ``due_ids`` finds the rows whose deadline has passed, and
``lock_due`` takes one of them for a unit of work, re-checked, with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so of several processes only one acts on a given row. The daily digest is claimed per
pool and day with a conditional update.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from mailgate.domain.kinds import ConsultationState, DraftState
from mailgate.storage.db import insert_once
from mailgate.storage.models import Consultation, Draft, PoolState, ReportState, Ticket

BATCH: Final = 100


class Deadline(StrEnum):
    ROLLOVER = "rollover"                    # round robin: not acknowledged in time
    REPLY = "reply"                          # no operator answer in time
    CUSTOMER = "customer"                    # the customer did not reply in time
    CONSULTATION = "consultation"            # a department did not answer in time (notified once)
    APPROVAL = "approval"                    # a held draft waits for its approver
    UNROUTED = "unrouted"                    # nobody could take a new case: try again


def _query(deadline: Deadline, now: datetime) -> Select[Any]:
    model, column, extra = _COLUMNS[deadline]
    return select(model.id).where(column.is_not(None), column <= now, *extra).order_by(column)


_COLUMNS: Final[dict[Deadline, tuple[Any, Any, tuple[Any, ...]]]] = {
    Deadline.ROLLOVER: (Ticket, Ticket.rollover_at, ()),
    Deadline.REPLY: (Ticket, Ticket.reply_due_at, ()),
    Deadline.CUSTOMER: (Ticket, Ticket.customer_due_at, ()),
    Deadline.CONSULTATION: (Consultation, Consultation.due_at, (
        Consultation.state == ConsultationState.OPEN, Consultation.overdue_notified_at.is_(None))),
    Deadline.APPROVAL: (Draft, Draft.remind_at, (Draft.state == DraftState.PENDING,)),
    Deadline.UNROUTED: (Ticket, Ticket.unrouted_at, (Ticket.owner_id.is_(None),)),
}


def due_ids(session: Session, deadline: Deadline, now: datetime, limit: int = BATCH) -> list[int]:
    """Up to ``limit`` rows whose ``deadline`` has passed, the longest overdue first."""
    return list(session.scalars(_query(deadline, now).limit(limit)))


def lock_due(session: Session, deadline: Deadline, row_id: int, now: datetime) -> bool:
    """Take the row for this unit of work if it is still due and no other process holds it."""
    model = _COLUMNS[deadline][0]
    query = _query(deadline, now).where(model.id == row_id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first() is not None


def claim_digest(session: Session, pool: str, day: str) -> bool:
    """Whether this unit of work sends the pool's digest for ``day`` (once, here or elsewhere).

    The pool's state row must exist (``staff.last_assigned`` makes sure of it). Only a later day
    than the last digest's counts (ISO dates compare as strings), so a clock set back a day does
    not send a day's digest twice (RELIABILITY row 72).
    """
    return bool(session.connection().execute(
        update(PoolState).where(PoolState.name == pool, PoolState.digest_on < day)
        .values(digest_on=day)).rowcount)


def report_first_seen(session: Session, name: str, now: datetime) -> tuple[datetime, datetime | None]:
    """When the scheduled report ``name`` was first seen (recorded now if never), and the start
    of the last period it mailed."""
    session.connection().execute(insert_once(session, ReportState),
                                 {"name": name, "first_seen_at": now, "last_start": None})
    row = session.execute(select(ReportState.first_seen_at, ReportState.last_start)
                          .where(ReportState.name == name)).one()
    return row[0], row[1]


def claim_report(session: Session, name: str, start: datetime) -> bool:
    """Whether this unit of work mails the report's period starting at ``start`` (once, anywhere)."""
    return bool(session.connection().execute(
        update(ReportState).where(ReportState.name == name,
                                  or_(ReportState.last_start.is_(None), ReportState.last_start < start))
        .values(last_start=start)).rowcount)

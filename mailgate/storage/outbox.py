"""The transactional outbox: enqueue in the caller's session; claim due rows; record the outcome.

Rows are claimed with a lease (and ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so several senders
never send one row at once, and a sender that dies mid-send hands the row on when the lease ends.
A unit of work run by a daemon (``leased_to``) queues its small mail already leased to that
daemon's own senders, who are handed the rows and their bytes after the commit: no claim
transaction for mail that is sent where it was made.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from mailgate.domain.kinds import OutboxState
from mailgate.storage.db import get_bytes, put_bytes
from mailgate.storage.models import Outbox, OutboxRaw

MAX_ATTEMPTS: Final = 12
#: How long a claimed row stays a sender's without word from it. A live sender renews its leases
#: every ``LEASE / 3`` (``renew_leases``), however long a message takes; a dead one's rows are
#: taken over by another process once this has passed (RELIABILITY row 67).
LEASE: Final = timedelta(seconds=15)


def backoff(attempts: int) -> timedelta:
    """Delay before retry number ``attempts``: 30 s doubling to 1 h, with ±10 % jitter."""
    base = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * random.uniform(0.9, 1.1))


_ENQUEUE = insert(Outbox).returning(Outbox.id)
_LEASED_TO: Final = "mailgate.outbox.leased_to"      # session.info: (owner, until, rows queued)


@dataclass(frozen=True, slots=True)
class Queued:
    """A row queued in a unit of work, leased to this process's senders, with its bytes."""

    row: Outbox          # not attached to any session: the values it was inserted with
    raw: bytes


@contextmanager
def leased_to(session: Session, owner: int | None, now: datetime) -> Iterator[list[Queued]]:
    """Within the block, mail queued in ``session`` (up to ``PREFETCH`` bytes) is leased to
    ``owner`` (this process's senders) as it is inserted, and listed in the list yielded: hand
    it to them after the commit, and only then. ``owner`` None: queue as usual."""
    queued: list[Queued] = []
    if owner is not None:
        session.info[_LEASED_TO] = (owner, now + LEASE, queued)
    try:
        yield queued
    finally:
        session.info.pop(_LEASED_TO, None)


def enqueue(
    session: Session, *, ticket_id: int | None, mail_from: str, rcpt_to: Sequence[str],
    subject: str, message_id: str, raw: bytes, now: datetime,
) -> int:
    """Queue a finished message in the caller's transaction; return the row id."""
    owner, until, queued = session.info.get(_LEASED_TO) or (None, None, None)
    if len(raw) > PREFETCH:
        owner = until = queued = None           # large mail is read when it is sent, as claimed mail
    values = {
        "ticket_id": ticket_id, "mail_from": mail_from, "rcpt_to": list(rcpt_to), "subject": subject,
        "message_id": message_id, "state": OutboxState.PENDING, "attempts": 0, "next_attempt_at": now,
        "created_at": now, "last_error": "", "lease_until": until, "lease_owner": owner,
    }
    row_id = int(session.connection().execute(_ENQUEUE, values).scalar_one())
    put_bytes(session, OutboxRaw, row_id, raw)
    if queued is not None:
        queued.append(Queued(Outbox(id=row_id, **values), raw))
    return row_id


def raw_of(session: Session, row_id: int) -> bytes:
    """The bytes of a queued message (read when it is sent, one message at a time)."""
    return get_bytes(session, OutboxRaw, row_id)


#: Queued mail up to this size comes with its claim, one transaction fewer per mail; larger mail
#: is read when it is sent (``raw_of``), so a batch never holds more than ten times this.
PREFETCH: Final = 256 << 10
_SMALL_RAWS = select(OutboxRaw.id, OutboxRaw.raw).where(
    OutboxRaw.id.in_(bindparam("ids", expanding=True)), func.length(OutboxRaw.raw) <= PREFETCH)


def small_raws(session: Session, ids: Sequence[int]) -> dict[int, bytes]:
    """The bytes of those of ``ids`` no larger than ``PREFETCH``."""
    if not ids:
        return {}
    return {int(i): bytes(raw) for i, raw in session.connection().execute(_SMALL_RAWS, {"ids": list(ids)})}


# A row never tried is due at once, whatever the clock says: set back, it would otherwise hold
# back every mail queued before the jump (RELIABILITY row 72). Retries wait for their time.
# A lease this sender holds but has not in hand is free to it: the claim that took it was
# committed, but its answer was lost (a backend terminated at COMMIT: RELIABILITY row 70).
_MINE_NOT_IN_HAND = and_(Outbox.lease_owner == bindparam("owner"),
                         Outbox.id.not_in(bindparam("held", expanding=True)))
_DUE = (select(Outbox.id)
        .where(Outbox.state == OutboxState.PENDING,
               or_(Outbox.attempts == 0, Outbox.next_attempt_at <= bindparam("now")),
               or_(Outbox.lease_until.is_(None), Outbox.lease_until < bindparam("now"), _MINE_NOT_IN_HAND))
        .order_by(Outbox.next_attempt_at, Outbox.id).limit(bindparam("limit")))
#: PostgreSQL: a lease whose holder is dead is free at once. A daemon holds the advisory lock
#: (LIVENESS_CLASS, its number) on its listening connection (storage/notify.py), which the server
#: drops the moment that process or its connection dies; so a row leased by a number nobody holds
#: is taken over without waiting for ``lease_until``.
LIVENESS_CLASS: Final = 1296516935


def holder_number() -> int:
    """A fresh number for a sender's leases (and, on PostgreSQL, its liveness lock)."""
    return secrets.randbelow(2**31 - 2) + 1


_HOLDER_GONE = text(
    "outbox.lease_owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_locks l "
    f"WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.classid = {LIVENESS_CLASS}::oid "
    "AND l.objid = outbox.lease_owner::oid AND l.granted)")
_DUE_LOCKED = (select(Outbox.id)
               .where(Outbox.state == OutboxState.PENDING,
                      or_(Outbox.attempts == 0, Outbox.next_attempt_at <= bindparam("now")),
                      or_(Outbox.lease_until.is_(None), Outbox.lease_until < bindparam("now"),
                          _MINE_NOT_IN_HAND, _HOLDER_GONE))
               .order_by(Outbox.next_attempt_at, Outbox.id).limit(bindparam("limit"))
               .with_for_update(skip_locked=True))
_LEASE = (update(Outbox).where(Outbox.id.in_(bindparam("ids", expanding=True)))
          .values(lease_until=bindparam("until"), lease_owner=bindparam("owner")))
_LEASED = select(Outbox).where(Outbox.id.in_(bindparam("ids", expanding=True))).order_by(Outbox.id)
_SENT = (update(Outbox).where(Outbox.id == bindparam("row"))
         .values(state=OutboxState.SENT, sent_at=bindparam("at"), lease_until=None,
                 attempts=Outbox.attempts + 1, last_error=""))
_RETRY = (update(Outbox).where(Outbox.id == bindparam("row"))
          .values(state=bindparam("new_state"), attempts=bindparam("new_attempts"), lease_until=None,
                  last_error=bindparam("error"), next_attempt_at=bindparam("next_at")))
_FAILED = (update(Outbox).where(Outbox.id == bindparam("row"))
           .values(state=OutboxState.FAILED, lease_until=None, attempts=Outbox.attempts + 1,
                   last_error=bindparam("error")))


def claim_due(session: Session, now: datetime, limit: int, owner: int | None = None,
              held: Sequence[int] = ()) -> list[Outbox]:
    """Lease up to ``limit`` due rows to this sender: ``owner`` is its number (on PostgreSQL, only
    while it holds its liveness lock), ``held`` the rows it has in hand."""
    conn = session.connection()
    locked = session.get_bind().dialect.name == "postgresql"
    ids = list(conn.execute(_DUE_LOCKED if locked else _DUE,
                            {"now": now, "limit": limit, "owner": owner, "held": list(held)}).scalars())
    if not ids:
        return []
    conn.execute(_LEASE, {"ids": ids, "until": now + LEASE, "owner": owner})
    return list(session.scalars(_LEASED, {"ids": ids}))


_RENEW = (update(Outbox).where(Outbox.id.in_(bindparam("ids", expanding=True)),
                               Outbox.state == OutboxState.PENDING, Outbox.lease_until.is_not(None))
          .values(lease_until=bindparam("until")))


def renew_leases(session: Session, ids: Sequence[int], now: datetime) -> None:
    """Keep the rows this sender still holds its own for another ``LEASE``."""
    session.connection().execute(_RENEW, {"ids": list(ids), "until": now + LEASE})


def mark_sent(session: Session, row_id: int, now: datetime) -> None:
    session.connection().execute(_SENT, {"row": row_id, "at": now})


def mark_retry(session: Session, row_id: int, attempts_before: int, now: datetime, error: str) -> None:
    attempts = attempts_before + 1
    session.connection().execute(_RETRY, {
        "row": row_id, "new_state": OutboxState.FAILED if attempts >= MAX_ATTEMPTS else OutboxState.PENDING,
        "new_attempts": attempts, "error": error[:1000], "next_at": now + backoff(attempts)})


def mark_failed(session: Session, row_id: int, error: str) -> None:
    session.connection().execute(_FAILED, {"row": row_id, "error": error[:1000]})


def release_leases(session: Session) -> int:
    """Forget every lease (at start-up of the only sender: SQLite is single-process)."""
    result = session.connection().execute(
        update(Outbox).where(Outbox.state == OutboxState.PENDING, Outbox.lease_until.is_not(None))
        .values(lease_until=None))
    return int(result.rowcount)


def retry_now(session: Session, row_id: int | None, now: datetime) -> int:
    """Make failed (or all pending) rows due now; return how many."""
    stmt = update(Outbox).where(Outbox.state != OutboxState.SENT)
    if row_id is not None:
        stmt = stmt.where(Outbox.id == row_id)
    result = session.connection().execute(
        stmt.values(state=OutboxState.PENDING, next_attempt_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)

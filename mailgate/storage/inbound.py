"""The inbound queue and the quarantine: every message received, raw bytes kept.

A row is ``pending`` until a unit of work moves it to ``done`` or ``quarantined`` with a
conditional update, so of two workers only one finishes it. Query functions; they never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from mailgate.domain.kinds import InboundState
from mailgate.errors import Vanished
from mailgate.storage.db import get_bytes, insert_once, put_bytes
from mailgate.storage.models import Inbound, InboundRaw


@dataclass(frozen=True, slots=True)
class NewInbound:
    source: str
    source_key: str | None
    digest: str
    sha256: str
    mail_from: str
    rcpt_to: list[str]
    mailbox: str
    peer: str
    raw: bytes
    received_at: datetime
    state: InboundState = InboundState.PENDING
    reason: str = ""


def insert_inbound(session: Session, row: NewInbound) -> tuple[int, bool, InboundState]:
    """Store a received message once; return (id, created, state).

    A copy already stored is not added: its id and its current state come back instead, so a
    re-fetched IMAP message goes where the first copy went (processed or quarantine folder).
    """
    new_id = session.connection().execute(insert_once(session, Inbound, returning=True), {
        "source": row.source, "source_key": row.source_key, "digest": row.digest, "sha256": row.sha256,
        "mail_from": row.mail_from, "rcpt_to": row.rcpt_to, "mailbox": row.mailbox, "peer": row.peer,
        "size": len(row.raw), "received_at": row.received_at, "state": row.state, "reason": row.reason,
    }).scalar_one_or_none()
    if new_id is not None:
        put_bytes(session, InboundRaw, int(new_id), row.raw)
        return int(new_id), True, row.state
    existing = session.execute(
        select(Inbound.id, Inbound.state)
        .where(or_(Inbound.digest == row.digest, Inbound.source_key == row.source_key)).limit(1)
    ).first()
    if existing is None:
        raise Vanished("inbound insert conflicted, but no row matches")
    return int(existing[0]), False, InboundState(existing[1])


def pending_ids(session: Session, limit: int, after: int = 0) -> list[int]:
    """The first ``limit`` pending rows above ``after``, oldest first."""
    rows = session.scalars(
        select(Inbound.id).where(Inbound.state == InboundState.PENDING, Inbound.id > after)
        .order_by(Inbound.id).limit(limit))
    return list(rows)


def get(session: Session, inbound_id: int) -> Inbound | None:
    """The inbound row (its bytes are ``raw_of``)."""
    return session.get(Inbound, inbound_id)


def raw_of(session: Session, inbound_id: int) -> bytes:
    """The exact bytes of a received message."""
    return get_bytes(session, InboundRaw, inbound_id)


_PENDING = select(Inbound).where(Inbound.id == bindparam("id"), Inbound.state == InboundState.PENDING)
_FINISH = (update(Inbound).where(Inbound.id == bindparam("row_id"), Inbound.state == InboundState.PENDING)
           .values(state=bindparam("new_state"), reason=bindparam("new_reason"),
                   ticket_id=bindparam("new_ticket"), processed_at=bindparam("at")))


def pending(session: Session, inbound_id: int) -> Inbound | None:
    """The row if it is still pending (without its raw bytes), else None."""
    return session.scalar(_PENDING, {"id": inbound_id})


def finish(session: Session, inbound_id: int, state: InboundState, now: datetime,
           reason: str = "", ticket_id: int | None = None) -> bool:
    """Move a pending row to ``state``; False if another worker got there first."""
    result = session.connection().execute(_FINISH, {
        "row_id": inbound_id, "new_state": state, "new_reason": reason, "new_ticket": ticket_id, "at": now})
    return bool(result.rowcount)


def quarantined(session: Session) -> Sequence[Inbound]:
    return session.scalars(
        select(Inbound).where(Inbound.state == InboundState.QUARANTINED).order_by(Inbound.id)).all()


#: The reason a released row carries until it is processed again: an admin has looked at it.
RELEASED: Final = "released by an admin"


def release(session: Session, inbound_id: int) -> None:
    """Put a quarantined row back in the queue, marked as looked at by an admin."""
    session.execute(update(Inbound).where(Inbound.id == inbound_id)
                    .values(state=InboundState.PENDING, reason=RELEASED, processed_at=None))


def remove(session: Session, inbound_id: int) -> None:
    session.execute(delete(Inbound).where(Inbound.id == inbound_id))

"""The blocklist's rows: entries, and a hit counted each time one catches a sender."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mailgate.domain.blocklist import Entry, Kind
from mailgate.storage.db import insert_once
from mailgate.storage.models import Block

_ENTRIES = select(Block.value, Block.kind).order_by(Block.id)


def entries(session: Session) -> list[Entry]:
    """Every entry (hot path: every message), by a plain Core query."""
    return [Entry(value, Kind(kind)) for value, kind in session.connection().execute(_ENTRIES)]


def rows(session: Session) -> Sequence[Block]:
    return session.scalars(select(Block).order_by(Block.id)).all()


def add(session: Session, item: Entry, reason: str, now: datetime) -> bool:
    """Add ``item``; False if it is there already."""
    result = session.connection().execute(insert_once(session, Block), {
        "value": item.value, "kind": item.kind, "reason": reason, "created_at": now, "hits": 0})
    return bool(result.rowcount)


def remove(session: Session, value: str) -> bool:
    return bool(session.connection().execute(delete(Block).where(Block.value == value)).rowcount)


def hit(session: Session, value: str) -> None:
    session.execute(update(Block).where(Block.value == value).values(hits=Block.hits + 1))

"""Rows the web pages need: submissions per client IP and form (the rate limit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailgate.storage.models import WebHit, WebPending


def hits(session: Session, form: str, ip: str, since: datetime) -> int:
    query = select(func.count()).select_from(WebHit).where(WebHit.form == form, WebHit.ip == ip,
                                                           WebHit.at >= since)
    return int(session.scalar(query) or 0)


def add_hit(session: Session, form: str, ip: str, at: datetime) -> None:
    session.add(WebHit(form=form, ip=ip[:64], at=at))


def add_pending(session: Session, nonce: str, form: str, email: str, raw: bytes, fields: dict[str, str],
                now: datetime) -> None:
    session.add(WebPending(nonce=nonce, form=form, email=email, raw=raw, fields=fields, created_at=now))
    session.flush()


def pending(session: Session, nonce: str) -> WebPending | None:
    return session.get(WebPending, nonce)


def spend_pending(session: Session, nonce: str, ticket_id: int | None, now: datetime) -> bool:
    """Mark it used (with the case it opened); False if it was used already."""
    result = session.connection().execute(
        update(WebPending).where(WebPending.nonce == nonce, WebPending.used_at.is_(None))
        .values(used_at=now, ticket_id=ticket_id))
    return bool(result.rowcount)

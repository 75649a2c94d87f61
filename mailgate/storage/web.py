"""Rows the web pages need: submissions per client IP and form (the rate limit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.storage.models import WebHit


def hits(session: Session, form: str, ip: str, since: datetime) -> int:
    query = select(func.count()).select_from(WebHit).where(WebHit.form == form, WebHit.ip == ip,
                                                           WebHit.at >= since)
    return int(session.scalar(query) or 0)


def add_hit(session: Session, form: str, ip: str, at: datetime) -> None:
    session.add(WebHit(form=form, ip=ip[:64], at=at))

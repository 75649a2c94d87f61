"""Tables of the web side: customer accounts, signed-link nonces, offers, rate-limit hits and
submissions waiting for confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailgate.storage.models.base import Base


class Customer(Base):
    """A registered customer (SPEC §11): invited until they activate with their link."""

    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16), default="invited")   # invited | active | disabled
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    password_hash: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]


class LinkNonce(Base):
    """One signed link's nonce: the link works once, while ``used_at`` is empty."""

    __tablename__ = "link_nonce"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class Offer(Base):
    """A numbered offer mailed to a lead (``#offer AMOUNT TEXT``)."""

    __tablename__ = "offer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    no: Mapped[int] = mapped_column(Integer)
    amount: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(254), default="")
    at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("ticket_id", "no"),)


class WebHit(Base):
    """One accepted web form submission, by client IP: the rate limit counts these (shared by
    every process on the database)."""

    __tablename__ = "web_hit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    form: Mapped[str] = mapped_column(String(40))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    __table_args__ = (Index("ix_web_hit", "form", "ip", "at"),)


class WebPending(Base):
    """A ``customers_only`` form submission waiting for its confirmation link to be followed."""

    __tablename__ = "web_pending"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    form: Mapped[str] = mapped_column(String(40))
    email: Mapped[str] = mapped_column(String(254))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    ticket_id: Mapped[int | None] = mapped_column(Integer)

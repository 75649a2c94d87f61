"""Customer rows, their link nonces, and what they have with us (cases, mail sent to them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, cast, func, select, update
from sqlalchemy.orm import Session

from mailgate.storage.models import Customer, LinkNonce, Outbox, Ticket


def by_email(session: Session, email: str) -> Customer | None:
    return session.scalar(select(Customer).where(Customer.email == email.strip().lower()))


def by_id(session: Session, customer_id: int) -> Customer | None:
    return session.get(Customer, customer_id)


def all_customers(session: Session) -> Sequence[Customer]:
    return session.scalars(select(Customer).order_by(Customer.id)).all()


def add(session: Session, email: str, name: str, fields: dict[str, str], now: datetime) -> Customer:
    customer = Customer(email=email.strip().lower(), name=name, fields=fields, state="invited",
                        password_hash="", created_at=now)
    session.add(customer)
    session.flush()
    return customer


def add_nonce(session: Session, nonce: str, purpose: str, customer_id: int, now: datetime) -> None:
    session.add(LinkNonce(nonce=nonce, purpose=purpose, customer_id=customer_id, created_at=now))
    session.flush()


def spend_nonce(session: Session, nonce: str, purpose: str, customer_id: int, now: datetime) -> bool:
    """Mark the nonce used; False if it is unknown, of another purpose or customer, or spent."""
    result = session.connection().execute(
        update(LinkNonce).where(LinkNonce.nonce == nonce, LinkNonce.purpose == purpose,
                                LinkNonce.customer_id == customer_id, LinkNonce.used_at.is_(None))
        .values(used_at=now))
    return bool(result.rowcount)


def nonce_open(session: Session, nonce: str, purpose: str, customer_id: int) -> bool:
    """Whether the nonce exists for that purpose and customer, unspent."""
    found = session.get(LinkNonce, nonce)
    return found is not None and found.purpose == purpose and found.customer_id == customer_id \
        and found.used_at is None


def case_ids(session: Session, email: str) -> list[int]:
    return list(session.scalars(select(Ticket.id).where(func.lower(Ticket.requester) == email.lower())
                                .order_by(Ticket.id)))


def mails_to(session: Session, email: str) -> Sequence[Outbox]:
    """Every mail mailgate queued to ``email`` (rcpt_to is a JSON list: matched as its text)."""
    quoted = email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    listed = cast(Outbox.rcpt_to, String).like(f'%"{quoted}"%', escape="\\")
    return session.scalars(select(Outbox).where(listed)
                           .order_by(Outbox.id)).all()

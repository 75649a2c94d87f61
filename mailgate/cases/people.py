"""Staff as the case operations need them: who acts for whom now, who manages a pool, who sent
a mail. The decisions themselves are ``domain.authority``'s; this module loads their views."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.domain import authority
from mailgate.errors import Vanished
from mailgate.mail.parse import ParsedMail
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Staff, Ticket


def sender_of(mail: ParsedMail) -> str:
    """The From address if it can be trusted (one unambiguous address), else ''."""
    return mail.sender.addr if mail.sender is not None and mail.sender_trusted else ""


def staff_sender(session: Session, mail: ParsedMail) -> Staff | None:
    """The active staff member a mail is from, by a trusted From; None for anyone else."""
    sender = sender_of(mail)
    return staff_repo.by_address(session, sender) if sender else None


def need(session: Session, staff_id: int) -> Staff:
    staff = staff_repo.by_id(session, staff_id)
    if staff is None:
        raise Vanished(f"staff member {staff_id} vanished")
    return staff


def stand_in(session: Session, staff: Staff, now: datetime) -> Staff:
    """Whoever acts for ``staff`` now: their deputy while they are absent, else themselves."""
    return staff_repo.stand_in_for(session, staff, now)


def reader_of(session: Session, ticket: Ticket, now: datetime) -> Staff | None:
    """Who reads news about the case now: the owner, or the absent owner's stand-in."""
    owner = staff_repo.by_id(session, ticket.owner_id) if ticket.owner_id is not None else None
    return stand_in(session, owner, now) if owner is not None else None


def acts_for(session: Session, ticket: Ticket, staff: Staff, now: datetime) -> bool:
    """The owner, or whoever stands in for the absent owner."""
    reader = reader_of(session, ticket, now)
    return authority.may_act_for(ticket.owner_id, reader.id if reader else None, staff.id)


def pool_manager(session: Session, ctx: Context, pool: str) -> Staff | None:
    """The registered staff member the pool's ``manager`` address names, if any."""
    address = ctx.config.pool(pool).manager
    return staff_repo.by_address(session, address) if address else None


def is_pool_manager(session: Session, ctx: Context, pool: str, staff: Staff) -> bool:
    """Whether ``staff`` is the pool's manager (by registered address or alias)."""
    address = ctx.config.pool(pool).manager.lower()
    return bool(address) and address in staff_repo.addresses(session, staff.id)

"""What mailgate remembers about addresses and mailboxes outside any case: auto-responses sent
per sender (the RFC 3834 caps), each IMAP mailbox's cursor and health, and bounce counts per
address. Query functions; they never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session

from mailgate.domain import bounces
from mailgate.storage.models import AddressHealth, AutoResponse, MailboxState

_INSERT_AUTO_RESPONSE = insert(AutoResponse)

# --- auto-responses --------------------------------------------------------------------------

_AUTO_RESPONSES = select(AutoResponse.ticket_id, AutoResponse.at).where(
    AutoResponse.sender == bindparam("sender"),
    or_(AutoResponse.ticket_id == bindparam("ticket"), AutoResponse.at > bindparam("since")))


def auto_responses(session: Session, sender: str, ticket_id: int | None,
                   now: datetime) -> tuple[bool, int]:
    """Return (already answered on this case, answers in the last 24 hours) for ``sender``."""
    rows = session.connection().execute(_AUTO_RESPONSES, {
        "sender": sender, "ticket": ticket_id, "since": now - timedelta(days=1)}).all()
    on_case = any(t == ticket_id for t, _ in rows)
    today = sum(1 for _, at in rows if at > now - timedelta(days=1))
    return on_case, today


def record_auto_response(session: Session, sender: str, ticket_id: int | None, now: datetime) -> None:
    session.connection().execute(_INSERT_AUTO_RESPONSE, {"sender": sender, "ticket_id": ticket_id, "at": now})


# --- IMAP cursors ----------------------------------------------------------------------------

def mailbox_state(session: Session, name: str, now: datetime) -> MailboxState:
    """The mailbox's state row, created on first use."""
    state = session.get(MailboxState, name)
    if state is None:
        state = MailboxState(name=name, uidvalidity=None, last_uid=0, connected=False, last_error="",
                             backlog=0, ingested=0, updated_at=now)
        session.add(state)
        session.flush()
    return state


def update_mailbox_state(session: Session, name: str, now: datetime, **values: Any) -> None:
    state = mailbox_state(session, name, now)
    for key, value in values.items():
        setattr(state, key, value)
    state.updated_at = now


def check_uidvalidity(session: Session, name: str, validity: int, now: datetime) -> bool:
    """Record the folder's UIDVALIDITY; on a change, reset the cursor (full rescan). Changed?"""
    state = mailbox_state(session, name, now)
    changed = state.uidvalidity not in (None, validity)
    if changed:
        state.last_uid = 0
    state.uidvalidity = validity
    state.connected = True
    state.last_error = ""
    state.updated_at = now
    return changed


def imap_cursor(session: Session, name: str, now: datetime) -> int | None:
    """The last UID taken; None before the first message (the start policy applies)."""
    state = mailbox_state(session, name, now)
    if state.last_uid:
        return state.last_uid
    return None if state.ingested == 0 else 0


def advance_cursor(session: Session, name: str, last_uid: int, count: int, now: datetime) -> None:
    state = mailbox_state(session, name, now)
    state.last_uid = max(state.last_uid, last_uid)
    state.ingested += count
    state.backlog = max(state.backlog - count, 0)
    state.updated_at = now


def mailbox_states(session: Session) -> Sequence[MailboxState]:
    return session.scalars(select(MailboxState).order_by(MailboxState.name)).all()


# --- address health (bounces) -----------------------------------------------------------------

_CLEAR_HEALTH = delete(AddressHealth).where(AddressHealth.address == bindparam("addr"))
_SUPPRESSED = select(AddressHealth.address).where(
    AddressHealth.suppressed.is_(True), AddressHealth.address.in_(bindparam("addrs", expanding=True)))


def record_bounce(session: Session, address: str, hard: bool, status: str, now: datetime,
                  threshold: int) -> AddressHealth:
    """Count a bounce for ``address``; suppress it once its hard bounces reach ``threshold``."""
    health = session.get(AddressHealth, address, with_for_update=True)
    if health is None:
        health = AddressHealth(address=address, hard_bounces=0, soft_bounces=0, last_status="",
                               last_bounce_at=now, suppressed=False)
        session.add(health)
    if hard:
        health.hard_bounces += 1
    else:
        health.soft_bounces += 1
    health.last_status = status[:100]
    health.last_bounce_at = now
    health.suppressed = bounces.suppressed(health.hard_bounces, threshold)
    session.flush()
    return health


def suppressed_among(session: Session, addresses: Sequence[str]) -> set[str]:
    """Which of ``addresses`` mailgate no longer mails (too many hard bounces)."""
    if not addresses:
        return set()
    return set(session.connection().execute(_SUPPRESSED, {"addrs": list(addresses)}).scalars())


def clear_health(session: Session, address: str) -> None:
    """The address wrote to us: it works, forget its bounces."""
    session.connection().execute(_CLEAR_HEALTH, {"addr": address})

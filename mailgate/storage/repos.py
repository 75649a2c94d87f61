"""Query functions per aggregate. They never commit: the caller's unit of work does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, undefer

from mailgate.domain import bounces
from mailgate.domain.states import Category
from mailgate.mail.parse import ParsedMail
from mailgate.storage.models import (
    AddressHealth,
    AttachmentRow,
    AutoResponse,
    Blob,
    Consultation,
    Inbound,
    MailboxState,
    MailMessage,
    Participant,
    Staff,
    Status,
    Ticket,
    TicketEvent,
    TicketLink,
)


def _insert_once(session: Session, table: type[Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING`` for this dialect, built once per dialect."""
    dialect = session.get_bind().dialect.name
    key = (dialect, table.__name__)
    if key not in _INSERT_ONCE:
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).on_conflict_do_nothing()
        _INSERT_ONCE[key] = stmt.returning(table.id) if table is Inbound else stmt
    return _INSERT_ONCE[key]


_INSERT_ONCE: dict[tuple[str, str], Any] = {}


# --- inbound queue -------------------------------------------------------------------------

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
    state: str = "pending"
    reason: str = ""


def insert_inbound(session: Session, row: NewInbound) -> tuple[int, bool, str]:
    """Store a received message once; return (id, created, state).

    A copy already stored is not added: its id and its current state come back instead, so a
    re-fetched IMAP message goes where the first copy went (processed or quarantine folder).
    """
    new_id = session.connection().execute(_insert_once(session, Inbound), {
        "source": row.source, "source_key": row.source_key, "digest": row.digest, "sha256": row.sha256,
        "mail_from": row.mail_from, "rcpt_to": row.rcpt_to, "mailbox": row.mailbox, "peer": row.peer,
        "size": len(row.raw), "raw": row.raw, "received_at": row.received_at, "state": row.state,
        "reason": row.reason,
    }).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True, row.state
    existing = session.execute(
        select(Inbound.id, Inbound.state)
        .where(or_(Inbound.digest == row.digest, Inbound.source_key == row.source_key)).limit(1)
    ).first()
    if existing is None:
        raise LookupError("inbound insert conflicted, but no row matches")
    return int(existing[0]), False, str(existing[1])


def pending_inbound_ids(session: Session, limit: int) -> list[int]:
    rows = session.scalars(
        select(Inbound.id).where(Inbound.state == "pending").order_by(Inbound.id).limit(limit)
    )
    return list(rows)


def get_inbound(session: Session, inbound_id: int, with_raw: bool = False) -> Inbound | None:
    """The inbound row; its raw bytes (up to the size limit) are read only ``with_raw``."""
    options = [undefer(Inbound.raw)] if with_raw else []
    return session.get(Inbound, inbound_id, options=options)


_PENDING = select(Inbound).where(Inbound.id == bindparam("id"), Inbound.state == "pending")
_FINISH = (update(Inbound).where(Inbound.id == bindparam("row_id"), Inbound.state == "pending")
           .values(state=bindparam("new_state"), reason=bindparam("new_reason"),
                   ticket_id=bindparam("new_ticket"), processed_at=bindparam("at")))


def pending_inbound(session: Session, inbound_id: int) -> Inbound | None:
    """The row if it is still pending (without its raw bytes), else None."""
    return session.scalar(_PENDING, {"id": inbound_id})


def finish_inbound(
    session: Session, inbound_id: int, state: str, now: datetime,
    reason: str = "", ticket_id: int | None = None,
) -> bool:
    """Move a pending row to ``state``; False if another worker got there first."""
    result = session.connection().execute(_FINISH, {
        "row_id": inbound_id, "new_state": state, "new_reason": reason, "new_ticket": ticket_id, "at": now})
    return bool(result.rowcount)




def quarantined(session: Session) -> Sequence[Inbound]:
    return session.scalars(
        select(Inbound).where(Inbound.state == "quarantined").order_by(Inbound.id)
    ).all()


# --- threading -------------------------------------------------------------------------------

_BY_MESSAGE_IDS = select(MailMessage.message_id, MailMessage.ticket_id).where(
    MailMessage.message_id.in_(bindparam("ids", expanding=True)))
_PARTICIPANTS = select(Participant.address).where(Participant.ticket_id == bindparam("ticket"))


class SqlThreadLookup:
    """The ``matching.ThreadLookup`` port over the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def case_for_message_ids(self, ids: Sequence[str]) -> int | None:
        rows = self.session.connection().execute(_BY_MESSAGE_IDS, {"ids": list(ids)}).all()
        by_id = {mid: tid for mid, tid in rows}
        return next((by_id[i] for i in ids if i in by_id), None)

    def participants(self, case_id: int) -> frozenset[str] | None:
        ticket = self.session.get(Ticket, case_id)
        if ticket is None:
            return None
        addresses = set(self.session.connection().execute(_PARTICIPANTS, {"ticket": case_id}).scalars())
        addresses.add(ticket.requester)
        addresses.update(self.session.scalars(select(Consultation.address).where(
            Consultation.ticket_id == case_id)))
        if ticket.owner_id is not None:
            owner = self.session.get(Staff, ticket.owner_id)
            if owner is not None:
                addresses.add(owner.email)
        return frozenset(addresses)


# --- statuses --------------------------------------------------------------------------------

def status_id_of(category: Category) -> Any:
    """A scalar subquery for the first status of ``category``: no extra round trip."""
    return _STATUS_OF[category]


_STATUS_OF: dict[Category, Any] = {
    c: select(Status.id).where(Status.category == c.value).order_by(Status.position).limit(1)
    .scalar_subquery() for c in Category
}


def status_for(session: Session, category: Category) -> Status:
    """The first status (by position) of ``category``."""
    status = session.scalar(
        select(Status).where(Status.category == category.value).order_by(Status.position).limit(1)
    )
    if status is None:
        raise LookupError(f"no status of category {category}")
    return status


def status_named(session: Session, name: str) -> Status | None:
    """A status by name, case-insensitively."""
    return session.scalar(select(Status).where(func.lower(Status.name) == name.strip().lower()))


def statuses(session: Session) -> Sequence[Status]:
    return session.scalars(select(Status).order_by(Status.position, Status.id)).all()


def status_of(session: Session, ticket: Ticket) -> Status:
    status = session.get(Status, ticket.status_id)
    assert status is not None
    return status


# --- tickets ---------------------------------------------------------------------------------

_CASE_STATE = (select(Ticket.id, Status.category, Ticket.owner_id, Ticket.closed_at)
               .join(Status, Ticket.status_id == Status.id).where(Ticket.id == bindparam("ticket")))


def case_state(session: Session, ticket_id: int) -> tuple[int, str, int | None, datetime | None] | None:
    """(id, status category, owner id, closed at) of a case, in one cheap query."""
    row = session.connection().execute(_CASE_STATE, {"ticket": ticket_id}).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def get_ticket(session: Session, ticket_id: int, fresh: bool = False) -> Ticket | None:
    """The case; ``fresh`` re-reads it even if this session holds a copy (after Core updates)."""
    return session.get(Ticket, ticket_id, populate_existing=fresh)


def add_ticket(session: Session, ticket: Ticket, cc: Sequence[str]) -> Ticket:
    session.add(ticket)
    session.flush()
    rows = [{"ticket_id": ticket.id, "address": ticket.requester, "role": "requester"}]
    rows += [{"ticket_id": ticket.id, "address": a, "role": "cc"}
             for a in dict.fromkeys(cc) if a != ticket.requester]
    session.connection().execute(insert(Participant), rows)
    return ticket


_TOUCH = update(Ticket).where(Ticket.id == bindparam("ticket")).values(updated_at=bindparam("at"))
_REOPEN = update(Ticket).where(Ticket.id == bindparam("ticket")).values(closed_at=None)
_SET_STATUS = {c: update(Ticket).where(Ticket.id == bindparam("ticket")).values(status_id=_STATUS_OF[c])
               for c in Category}


def touch_ticket(session: Session, ticket_id: int, now: datetime, status: Category | None = None,
                 reopened: bool = False) -> None:
    """Mark a case updated; move it to the first status of ``status``; clear closed_at if reopened."""
    conn = session.connection()
    conn.execute(_TOUCH, {"ticket": ticket_id, "at": now})
    if status is not None:
        conn.execute(_SET_STATUS[status], {"ticket": ticket_id})
    if reopened:
        conn.execute(_REOPEN, {"ticket": ticket_id})


def link_tickets(session: Session, newer: int, older: int) -> None:
    session.add(TicketLink(ticket_id=newer, other_id=older, kind="follows"))
    session.add(TicketLink(ticket_id=older, other_id=newer, kind="followed_by"))


# Hot-path statements are constant Core statements run on the session's connection with
# parameters: compiled once, cached, and free of ORM flush and ORM execution bookkeeping
# (measured: those were over half of a message's database time).
_INSERT_EVENT = insert(TicketEvent)
_INSERT_MESSAGE = insert(MailMessage).returning(MailMessage.id)
_INSERT_ATTACHMENT = insert(AttachmentRow)
_INSERT_AUTO_RESPONSE = insert(AutoResponse)


def add_events(session: Session, rows: Sequence[tuple[int, datetime, str, str]]) -> None:
    """Write case-history lines: (ticket id, time, kind, detail)."""
    for ticket_id, at, kind, detail in rows:
        session.connection().execute(_INSERT_EVENT,
                        {"ticket_id": ticket_id, "at": at, "kind": kind, "detail": detail[:2000]})


def add_message(session: Session, **values: Any) -> int:
    """Insert a case message; return its id."""
    return int(session.connection().execute(_INSERT_MESSAGE, values).scalar_one())


def add_attachment(
    session: Session, message_id: int, filename: str, content_type: str, data: bytes,
    sha256: str, content_id: str = "", inline: bool = False,
) -> None:
    """Store an attachment; its bytes go in the content-addressed blob table once."""
    session.connection().execute(_insert_once(session, Blob), {"sha256": sha256, "data": data})
    session.connection().execute(_INSERT_ATTACHMENT, {
        "message_id": message_id, "filename": filename, "content_type": content_type,
        "size": len(data), "sha256": sha256, "content_id": content_id, "inline": inline,
    })


#: Dispositions of mail between mailgate and staff: never named in what the customer receives.
STAFF_SIDE = "staff:"


def add_received(session: Session, ticket_id: int, mail: ParsedMail, *, inbound_id: int, kind: str,
                 disposition: str, from_addr: str, text: str, at: datetime) -> int:
    """Keep a received mail on a case with its attachments; return the case message's id."""
    message_id = add_message(
        session, ticket_id=ticket_id, kind=kind, disposition=disposition, inbound_id=inbound_id,
        message_id=mail.message_id[:300], from_addr=from_addr, to_addrs=[a.addr for a in mail.to][:100],
        subject=mail.subject[:2000], text=text, at=at)
    for att in mail.attachments:
        add_attachment(session, message_id, att.filename, att.content_type, att.data, att.sha256,
                       att.content_id, att.inline)
    return message_id


def thread_ids(session: Session, ticket_id: int, limit: int = 10) -> list[str]:
    """The newest ``limit`` customer-side Message-IDs on a case, oldest first (for References)."""
    rows = session.scalars(
        select(MailMessage.message_id)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.kind.in_(("inbound", "outbound")),
               MailMessage.disposition.not_like(f"{STAFF_SIDE}%"), MailMessage.message_id != "")
        .order_by(MailMessage.id.desc()).limit(limit)
    )
    return list(reversed(list(rows)))


def latest_customer_message(session: Session, ticket_id: int) -> MailMessage | None:
    """The newest message the customer (or anyone outside the staff) sent on the case."""
    return session.scalar(
        select(MailMessage)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.kind == "inbound",
               MailMessage.disposition.not_like(f"{STAFF_SIDE}%"))
        .order_by(MailMessage.id.desc()).limit(1))


def first_message_id(session: Session, ticket_id: int) -> str:
    """The Message-ID of the message that opened the case ('' if none)."""
    return session.scalar(select(MailMessage.message_id).where(MailMessage.ticket_id == ticket_id)
                          .order_by(MailMessage.id).limit(1)) or ""


def recent_messages(session: Session, ticket_id: int, limit: int = 6) -> list[MailMessage]:
    """The newest ``limit`` messages on a case, oldest first (the forward's history lines)."""
    rows = session.scalars(select(MailMessage).where(MailMessage.ticket_id == ticket_id)
                           .order_by(MailMessage.id.desc()).limit(limit)).all()
    return list(reversed(rows))


def attachments_of(session: Session, message_id: int) -> list[tuple[AttachmentRow, bytes]]:
    """A message's attachments with their bytes."""
    rows = session.execute(select(AttachmentRow, Blob.data).join(Blob, Blob.sha256 == AttachmentRow.sha256)
                           .where(AttachmentRow.message_id == message_id).order_by(AttachmentRow.id)).all()
    return [(row, data) for row, data in rows]


def copy_attachments(session: Session, source: int, target: int, inline: bool = False) -> None:
    """Give message ``target`` the attachments of message ``source`` (same blobs)."""
    for row, _ in attachments_of(session, source):
        if row.inline and not inline:
            continue
        session.connection().execute(_INSERT_ATTACHMENT, {
            "message_id": target, "filename": row.filename, "content_type": row.content_type,
            "size": row.size, "sha256": row.sha256, "content_id": row.content_id, "inline": row.inline})


def unclaimed_cases(session: Session, pools: Sequence[tuple[str, int]], leads: bool,
                    limit: int = 5) -> list[int]:
    """Oldest unowned new cases of ``pools`` ((name, priority)), higher priority pools first."""
    found: list[int] = []
    for priority in sorted({p for _, p in pools}, reverse=True):
        names = [name for name, p in pools if p == priority]
        query = (select(Ticket.id).join(Status, Ticket.status_id == Status.id)
                 .where(Ticket.owner_id.is_(None), Status.category == Category.NEW.value,
                        Ticket.pool.in_(names))
                 .order_by(Ticket.created_at, Ticket.id).limit(limit))
        if not leads:
            query = query.where(Ticket.type != "lead")
        found += session.scalars(query)
    return found


def open_consultations(session: Session, ticket_id: int) -> list[int]:
    return list(session.scalars(select(Consultation.id).where(
        Consultation.ticket_id == ticket_id, Consultation.state == "open")))


def cc_of(session: Session, ticket_id: int) -> list[str]:
    return list(session.scalars(select(Participant.address).where(
        Participant.ticket_id == ticket_id, Participant.role == "cc").order_by(Participant.id)))


# --- auto-responses --------------------------------------------------------------------------

_AUTO_RESPONSES = select(AutoResponse.ticket_id, AutoResponse.at).where(
    AutoResponse.sender == bindparam("sender"),
    or_(AutoResponse.ticket_id == bindparam("ticket"), AutoResponse.at > bindparam("since")))


def auto_responses(session: Session, sender: str, ticket_id: int, now: datetime) -> tuple[bool, int]:
    """Return (already answered on this case, answers in the last 24 hours) for ``sender``."""
    rows = session.connection().execute(_AUTO_RESPONSES, {
        "sender": sender, "ticket": ticket_id, "since": now - timedelta(days=1)}).all()
    on_case = any(t == ticket_id for t, _ in rows)
    today = sum(1 for _, at in rows if at > now - timedelta(days=1))
    return on_case, today


def record_auto_response(session: Session, sender: str, ticket_id: int, now: datetime) -> None:
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

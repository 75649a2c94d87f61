"""The messages of a case: mail in and out, notes, consultation mail, drafts, their attachments,
and the case history; plus the ``matching.ThreadLookup`` port over them.

Attachment bytes are content-addressed (``blob`` by sha256), stored once however often they
arrive. Query functions; they never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Select, bindparam, insert, literal_column, select
from sqlalchemy.orm import Session

from mailgate.domain.intake import Parties
from mailgate.domain.kinds import MessageKind
from mailgate.mail.parse import ParsedMail
from mailgate.storage import cases
from mailgate.storage.db import (
    LARGE,
    PG_SLICE,
    append_slices,
    insert_once,
    placeholder,
    read_blob,
    read_slices,
    write_blob,
)
from mailgate.storage.models import AttachmentRow, Blob, MailMessage, TicketEvent

#: Dispositions of mail between mailgate and staff: never named in what the customer receives.
STAFF_SIDE: Final = "staff:"
#: Message kinds the customer side of a case sees (and threads on).
CUSTOMER_SIDE_KINDS: Final = (MessageKind.INBOUND, MessageKind.OUTBOUND, MessageKind.FEEDBACK)

_INSERT_EVENT = insert(TicketEvent)
_INSERT_MESSAGE = insert(MailMessage).returning(MailMessage.id)
_INSERT_ATTACHMENT = insert(AttachmentRow)
_BLOB_ROWID: Final[Select[Any]] = (select(literal_column("rowid")).select_from(Blob)
                                   .where(Blob.sha256 == bindparam("sha")))


def add_events(session: Session, rows: Sequence[tuple[int, datetime, str, str]]) -> None:
    """Write case-history lines: (ticket id, time, kind, detail), in one statement."""
    if rows:
        session.connection().execute(_INSERT_EVENT, [
            {"ticket_id": ticket_id, "at": at, "kind": kind, "detail": detail[:2000]}
            for ticket_id, at, kind, detail in rows])


def add(session: Session, **values: Any) -> int:
    """Insert a case message; return its id."""
    return int(session.connection().execute(_INSERT_MESSAGE, values).scalar_one())


def add_attachment(session: Session, message_id: int, filename: str, content_type: str, data: bytes,
                   sha256: str, content_id: str = "", inline: bool = False) -> None:
    """Store an attachment; its bytes go in the content-addressed blob table once."""
    if len(data) > LARGE:       # read back in this unit of work (a forward) from memory, not the table
        session.info.setdefault(_WRITTEN, {})[sha256] = data
    sqlite = session.get_bind().dialect.name == "sqlite"
    if len(data) > LARGE and sqlite:
        added = session.connection().execute(insert_once(session, Blob).values(data=placeholder(data)),
                                             {"sha256": sha256}).rowcount
        if added:
            rowid = session.connection().execute(_BLOB_ROWID, {"sha": sha256}).scalar_one()
            write_blob(session, "blob", "data", int(rowid), data)
    elif len(data) > LARGE:
        added = session.connection().execute(insert_once(session, Blob),
                                             {"sha256": sha256, "data": data[:PG_SLICE]}).rowcount
        if added:
            append_slices(session, Blob.data, Blob.sha256 == sha256, data, PG_SLICE)
    else:
        session.connection().execute(insert_once(session, Blob), {"sha256": sha256, "data": data})
    session.connection().execute(_INSERT_ATTACHMENT, {
        "message_id": message_id, "filename": filename, "content_type": content_type,
        "size": len(data), "sha256": sha256, "content_id": content_id, "inline": inline,
    })


def add_received(session: Session, ticket_id: int, mail: ParsedMail, *, inbound_id: int, kind: MessageKind,
                 disposition: str, from_addr: str, text: str, at: datetime) -> int:
    """Keep a received mail on a case with its attachments; return the case message's id."""
    message_id = add(
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
        .where(MailMessage.ticket_id == ticket_id, MailMessage.kind.in_(CUSTOMER_SIDE_KINDS),
               MailMessage.disposition.not_like(f"{STAFF_SIDE}%"), MailMessage.message_id != "")
        .order_by(MailMessage.id.desc()).limit(limit))
    return list(reversed(list(rows)))


def latest_from_customer(session: Session, ticket_id: int, first: bool = False) -> MailMessage | None:
    """The newest (or, with ``first``, the first) message the customer (or anyone outside the
    staff) sent on the case."""
    return session.scalar(
        select(MailMessage)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.kind == MessageKind.INBOUND,
               MailMessage.disposition.not_like(f"{STAFF_SIDE}%"))
        .order_by(MailMessage.id if first else MailMessage.id.desc()).limit(1))


def is_public(kind: str, disposition: str) -> bool:
    """Whether the customer may see this message of their case (``/account/case/<id>``): what they
    wrote and what we sent them, never notes, drafts, consultations or staff-side mail."""
    return (kind in (MessageKind.INBOUND, MessageKind.OUTBOUND, MessageKind.FEEDBACK)
            and not disposition.startswith(STAFF_SIDE))


def latest_answer(session: Session, ticket_id: int) -> MailMessage | None:
    """The newest answer sent to the customer on the case (its resolution when it is closed)."""
    return session.scalar(
        select(MailMessage)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.kind == MessageKind.OUTBOUND,
               MailMessage.disposition == "reply")
        .order_by(MailMessage.id.desc()).limit(1))


def all_of(session: Session, ticket_id: int) -> list[MailMessage]:
    """Every message of a case, oldest first."""
    return list(session.scalars(select(MailMessage).where(MailMessage.ticket_id == ticket_id)
                                .order_by(MailMessage.id)))


def first_message_id(session: Session, ticket_id: int) -> str:
    """The Message-ID of the message that opened the case ('' if none)."""
    return session.scalar(select(MailMessage.message_id).where(MailMessage.ticket_id == ticket_id)
                          .order_by(MailMessage.id).limit(1)) or ""


def recent(session: Session, ticket_id: int, limit: int = 6) -> list[MailMessage]:
    """The newest ``limit`` messages on a case, oldest first (the forward's history lines)."""
    rows = session.scalars(select(MailMessage).where(MailMessage.ticket_id == ticket_id)
                           .order_by(MailMessage.id.desc()).limit(limit)).all()
    return list(reversed(rows))


_WRITTEN: Final = "mailgate.written_blobs"


def attachments_of(session: Session, message_id: int) -> list[tuple[AttachmentRow, bytes]]:
    """A message's attachments with their bytes: a large one stored in this unit of work is taken
    from memory, and on SQLite one is read straight into one copy (``db.read_blob``)."""
    written: dict[str, bytes] = session.info.get(_WRITTEN, {})
    if written:
        mine = session.scalars(select(AttachmentRow).where(AttachmentRow.message_id == message_id)
                               .order_by(AttachmentRow.id)).all()
        if all(row.sha256 in written for row in mine if row.size > LARGE):
            return [(row, written[row.sha256] if row.sha256 in written else _blob(session, row.sha256))
                    for row in mine]
    if session.get_bind().dialect.name != "sqlite":
        rows = session.scalars(select(AttachmentRow).where(AttachmentRow.message_id == message_id)
                               .order_by(AttachmentRow.id)).all()
        return [(row, read_slices(session, Blob.data, Blob.sha256 == row.sha256, row.size)) for row in rows]
    found = []
    for row, rowid in session.execute(_ATTACHMENT_ROWIDS, {"message": message_id}).all():
        data = (read_blob(session, "blob", "data", int(rowid)) if row.size > LARGE
                else bytes(session.connection().execute(_BLOB_DATA, {"rowid": rowid}).scalar_one()))
        found.append((row, data))
    return found


def _blob(session: Session, sha256: str) -> bytes:
    return bytes(session.scalar(select(Blob.data).where(Blob.sha256 == sha256)) or b"")


_ATTACHMENT_ROWIDS: Final[Select[AttachmentRow, Any]] = (
    select(AttachmentRow, literal_column("blob.rowid")).join(Blob, Blob.sha256 == AttachmentRow.sha256)
    .where(AttachmentRow.message_id == bindparam("message")).order_by(AttachmentRow.id))
_BLOB_DATA: Final = select(Blob.data).where(literal_column("blob.rowid") == bindparam("rowid"))


_ATTACHMENTS_OF = (select(AttachmentRow.filename, AttachmentRow.content_type, AttachmentRow.size,
                          AttachmentRow.sha256, AttachmentRow.content_id, AttachmentRow.inline)
                   .where(AttachmentRow.message_id == bindparam("source")).order_by(AttachmentRow.id))


def copy_attachments(session: Session, source: int, target: int, inline: bool = False) -> None:
    """Give message ``target`` the attachments of message ``source`` (same blobs, not read), by
    one constant Core query (hot path: every relayed answer; an ORM query here also flushed the
    session before it)."""
    rows = [{"message_id": target, **row._asdict()} for row in session.connection().execute(
        _ATTACHMENTS_OF, {"source": source}) if inline or not row.inline]
    if rows:
        session.connection().execute(_INSERT_ATTACHMENT, rows)


_BY_MESSAGE_IDS = select(MailMessage.message_id, MailMessage.ticket_id).where(
    MailMessage.message_id.in_(bindparam("ids", expanding=True)))


class SqlThreadLookup:
    """The ``matching.ThreadLookup`` port over the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def case_for_message_ids(self, ids: Sequence[str]) -> int | None:
        rows = self.session.connection().execute(_BY_MESSAGE_IDS, {"ids": list(ids)}).all()
        by_id = {mid: tid for mid, tid in rows}
        return next((by_id[i] for i in ids if i in by_id), None)

    def parties(self, case_id: int) -> Parties | None:
        return cases.parties(self.session, case_id)

"""Tables of mail in and out: inbound rows and their bytes, case messages and attachments, the
outbox, auto-responses, mailbox and address state, and the blocklist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailgate.domain.kinds import InboundState, OutboxState
from mailgate.storage.models.base import Base


class Inbound(Base):
    """Every message received, raw bytes kept: the intake queue and the quarantine."""

    __tablename__ = "inbound"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))       # smtp | lmtp | imap | cli | import
    source_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    mail_from: Mapped[str] = mapped_column(String(300), default="")
    rcpt_to: Mapped[list[str]] = mapped_column(default=list)
    mailbox: Mapped[str] = mapped_column(String(100), default="")
    peer: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=InboundState.PENDING)
    reason: Mapped[str] = mapped_column(Text, default="")
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    processed_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_inbound_state", "state", "id"),)


class MailMessage(Base):
    """A message on a case: inbound, outbound, note, consultation or draft."""

    __tablename__ = "message"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str] = mapped_column(String(32), default="personal")
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound.id"))
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[str] = mapped_column(String(300))
    from_addr: Mapped[str] = mapped_column(String(300), default="")
    to_addrs: Mapped[list[str]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(254), default="", server_default="")  # staff who wrote it
    __table_args__ = (Index("ix_message_mid", "message_id"), Index("ix_message_ticket", "ticket_id"))


class Blob(Base):
    """Attachment bytes, content-addressed: stored once however often they arrive."""

    __tablename__ = "blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AttachmentRow(Base):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(ForeignKey("blob.sha256"))
    content_id: Mapped[str] = mapped_column(String(300), default="")
    inline: Mapped[bool] = mapped_column(default=False)


class Outbox(Base):
    """Outbound mail, written in the transaction of the change that causes it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(Integer)
    mail_from: Mapped[str] = mapped_column(String(300))     # envelope sender; '' is <>
    rcpt_to: Mapped[list[str]] = mapped_column()
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    # PostgreSQL: the holder's process number, whose advisory lock says it is alive (storage/notify.py)
    lease_owner: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)


class InboundRaw(Base):
    """A received message's exact bytes, apart from its row so that changing the row's state
    never rewrites them; written once (SQLite: in place, storage/db.py ``write_blob``)."""

    __tablename__ = "inbound_raw"
    id: Mapped[int] = mapped_column(ForeignKey("inbound.id", ondelete="CASCADE"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class OutboxRaw(Base):
    """An outgoing message's bytes, apart from its row (see ``InboundRaw``)."""

    __tablename__ = "outbox_raw"
    id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class AutoResponse(Base):
    """One row per automatic response sent: the per-case and per-day caps count these."""

    __tablename__ = "auto_response"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(254))
    # None: an answer to "+status", about no one case
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    __table_args__ = (Index("ix_auto_response_sender", "sender", "at"),)


class MailboxState(Base):
    """Each IMAP-supervised mailbox's durable cursor and what ``mailbox list`` shows about it."""

    __tablename__ = "mailbox_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    connected: Mapped[bool] = mapped_column(default=False)
    last_poll_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    backlog: Mapped[int] = mapped_column(Integer, default=0)
    ingested: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class AddressHealth(Base):
    """Bounce counts per address; ``suppressed`` addresses get no more mail until they write."""

    __tablename__ = "address_health"
    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    hard_bounces: Mapped[int] = mapped_column(Integer, default=0)
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[str] = mapped_column(String(100), default="")
    last_bounce_at: Mapped[datetime]
    suppressed: Mapped[bool] = mapped_column(default=False)


class Block(Base):
    """A blocklist entry (``domain.blocklist``): an address, ``@domain`` or IP/CIDR, with its hits."""

    __tablename__ = "block"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(16))          # a domain.blocklist.Kind value
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer, default=0)

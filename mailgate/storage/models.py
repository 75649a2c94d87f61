"""The database schema as SQLAlchemy 2 declarative models (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mailgate.domain.kinds import (
    CaseType,
    Channel,
    ConsultationState,
    DraftAction,
    DraftState,
    InboundState,
    OutboxState,
    Priority,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Status(Base):
    __tablename__ = "status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    category: Mapped[str] = mapped_column(String(32))  # a domain.states.Category value
    position: Mapped[int] = mapped_column(Integer, default=0)


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    roles: Mapped[str] = mapped_column(String(200), default="operator")  # comma-separated
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    trainee: Mapped[bool] = mapped_column(default=False)
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    absent_until: Mapped[datetime | None]
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    footer_text: Mapped[str] = mapped_column(Text, default="")
    footer_image: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    footer_image_name: Mapped[str] = mapped_column(String(255), default="")
    receipts: Mapped[bool] = mapped_column(default=True, server_default=true())   # one-line command receipts

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)

    def absent(self, now: datetime) -> bool:
        return self.absent_until is not None and self.absent_until > now


class StaffAlias(Base):
    """Another address a staff member writes from; replies from it are theirs."""

    __tablename__ = "staff_alias"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)


class PoolMember(Base):
    """A staff member working a pool; higher ``priority`` pools are served first by *next*."""

    __tablename__ = "pool_member"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pool: Mapped[str] = mapped_column(String(100))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=1)
    __table_args__ = (UniqueConstraint("pool", "staff_id"),)


class PoolState(Base):
    """Per-pool state: whom round-robin gave the last case to; when the last digest went out."""

    __tablename__ = "pool_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_staff_id: Mapped[int | None] = mapped_column(Integer)
    digest_on: Mapped[str] = mapped_column(String(10), default="")    # YYYY-MM-DD of the last digest


class Ticket(Base):
    __tablename__ = "ticket"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(16), default=CaseType.SUPPORT)
    subject: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    status_id: Mapped[int] = mapped_column(ForeignKey("status.id"))
    priority: Mapped[str] = mapped_column(String(16), default=Priority.NORMAL)
    pool: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    requester: Mapped[str] = mapped_column(String(254))
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    assigned_at: Mapped[datetime | None]
    acked: Mapped[bool] = mapped_column(default=False)
    # Deadlines the timer sweep acts on (None: nothing due); see services/timers.py.
    rollover_at: Mapped[datetime | None]        # round robin: unacknowledged until then
    reply_due_at: Mapped[datetime | None]       # no operator answer by then: expired unanswered
    customer_due_at: Mapped[datetime | None]    # answered, customer silent: expired awaiting customer
    close_requested: Mapped[bool] = mapped_column(default=False)   # #close waits for answers
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)  # questionnaire
    mailbox: Mapped[str] = mapped_column(String(100))
    site: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(16), default=Channel.EMAIL)
    quoted_tag: Mapped[int | None] = mapped_column(Integer)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    unrouted_at: Mapped[datetime | None]        # nobody could take it: the sweep tries again
    answered_at: Mapped[datetime | None]        # the last answer sent to the customer (folders)
    customer_at: Mapped[datetime | None]        # the customer's last mail (folders)
    stage: Mapped[str | None] = mapped_column(String(16))   # leads: a domain.leads.Stage value
    __table_args__ = (Index("ix_ticket_status", "status_id"), Index("ix_ticket_requester", "requester"),
                      Index("ix_ticket_rollover", "rollover_at"), Index("ix_ticket_unrouted", "unrouted_at"),
                      Index("ix_ticket_reply_due", "reply_due_at"),
                      Index("ix_ticket_customer_due", "customer_due_at"))


class Participant(Base):
    __tablename__ = "participant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16))  # requester | cc
    __table_args__ = (UniqueConstraint("ticket_id", "address"),)


class TicketLink(Base):
    __tablename__ = "ticket_link"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # follows | followed_by


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


class TicketEvent(Base):
    __tablename__ = "ticket_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")


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


class Consultation(Base):
    """A question to a department about a case, with its own signed address and deadline."""

    __tablename__ = "consultation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    department: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(254))
    asked_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    question: Mapped[str] = mapped_column(Text)
    amount: Mapped[str] = mapped_column(String(40), default="")       # a decimal string: "120.50"
    currency: Mapped[str] = mapped_column(String(8), default="", server_default="")   # "EUR", or ''
    state: Mapped[str] = mapped_column(String(16), default=ConsultationState.OPEN)
    asked_at: Mapped[datetime]
    due_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answered_by: Mapped[str] = mapped_column(String(254), default="")
    overdue_notified_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_consultation_due", "state", "due_at"),)


class Draft(Base):
    """A trainee's reply held for the supervisor's approval."""

    __tablename__ = "draft"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    action: Mapped[str] = mapped_column(String(16), default=DraftAction.REPLY)
    consult: Mapped[str] = mapped_column(String(500), default="")      # for consult: "finance due=3d …"
    text: Mapped[str] = mapped_column(Text)                             # the reply, or the question
    source_message: Mapped[int | None] = mapped_column(Integer)   # the trainee's stored mail (attachments)
    close_after: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default=DraftState.PENDING)
    created_at: Mapped[datetime]
    remind_at: Mapped[datetime | None]
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str] = mapped_column(String(254), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (Index("ix_draft_due", "state", "remind_at"),)


class Block(Base):
    """A blocklist entry (``domain.blocklist``): an address, ``@domain`` or IP/CIDR, with its hits."""

    __tablename__ = "block"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(16))          # a domain.blocklist.Kind value
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer, default=0)


class CaseCategory(Base):
    """An admin-defined case category (SPEC §11): subject keywords that pick it, and its pool."""

    __tablename__ = "category"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    keywords: Mapped[list[str]] = mapped_column(default=list)
    pool: Mapped[str] = mapped_column(String(100), default="")


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


class CaseClose(Base):
    """One close of a case, as the reports count it (SPEC §11 "Reports"): who owned it, whether it
    was on time (within its pool's ``resolve_within`` of creation) and whether it was consulted."""

    __tablename__ = "case_close"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    owner: Mapped[str] = mapped_column(String(254), default="")
    pool: Mapped[str] = mapped_column(String(100), default="")
    on_time: Mapped[bool] = mapped_column(default=True)
    consulted: Mapped[bool] = mapped_column(default=False)
    __table_args__ = (Index("ix_case_close_at", "at"),)


class ReportState(Base):
    """A scheduled report: when mailgate first saw it (no back-fill before that) and the start of
    the last period it mailed; claiming a period is a conditional update (one process sends)."""

    __tablename__ = "report_state"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    first_seen_at: Mapped[datetime]
    last_start: Mapped[datetime | None]

"""Tables of cases and the people who work them: statuses, staff and pools, cases, their
participants, links and history, consultations, drafts, categories and close records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from mailgate.domain.kinds import CaseType, Channel, ConsultationState, DraftAction, DraftState, Priority
from mailgate.storage.models.base import Base


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


class TicketEvent(Base):
    __tablename__ = "ticket_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")


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


class CaseCategory(Base):
    """An admin-defined case category (SPEC §11): subject keywords that pick it, and its pool."""

    __tablename__ = "category"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    keywords: Mapped[list[str]] = mapped_column(default=list)
    pool: Mapped[str] = mapped_column(String(100), default="")


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

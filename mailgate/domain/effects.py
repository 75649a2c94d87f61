"""Effects: what a rule wants to happen, interpreted by the services layer in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mailgate.domain.kinds import ForwardRole


@dataclass(frozen=True, slots=True)
class SendTemplate:
    """Send the mail rendered from ``template`` about ``case_id`` to ``to``.

    ``auto`` marks an RFC 3834 automatic response (null return path, ``Auto-Submitted``).
    """

    template: str
    to: tuple[str, ...]
    case_id: int
    auto: bool = False
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """Write a line to the case history."""

    case_id: int
    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ForwardCase:
    """Send the case to a staff member with a signed reply address.

    ``role``: ``owner`` (it is theirs: reply relays to the customer), ``dispatch`` (to the pool's
    manager, who answers ``#assign``), ``announce`` (pull mode: the first ``#claim`` wins).
    """

    case_id: int
    staff_id: int
    role: ForwardRole = ForwardRole.OWNER
    intro: str = ""


@dataclass(frozen=True, slots=True)
class RelayReply:
    """Send a staff member's reply text to the customer and cc, from the mailbox address."""

    case_id: int
    staff_id: int
    text: str
    source_message: int | None = None     # the stored staff mail whose attachments go along
    inbound_id: int | None = None


@dataclass(frozen=True, slots=True)
class NotifyStaff:
    """Mail a staff member a notice from ``template`` (``case_id`` 0: about no case)."""

    template: str
    staff_id: int
    case_id: int = 0
    context: Mapping[str, object] = field(default_factory=dict)
    draft_id: int = 0           # an approval request: the reply address names this draft
    in_reply_to: str = ""       # the staff member's own mail this answers (it threads under it)


@dataclass(frozen=True, slots=True)
class MailDepartment:
    """Mail a consultation's department (the question, or the overdue reminder) from its own
    signed address."""

    consultation_id: int
    template: str


@dataclass(frozen=True, slots=True)
class MailAdmin:
    """Mail ``[gateway] admin_address`` (nothing when it is not set) from ``template``."""

    template: str
    case_id: int = 0
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WelcomeCustomer:
    """Mail ``customer_welcome`` with a fresh single-use activation link to a customer, summing up
    what they submitted (the case they came with, when there is one)."""

    customer_id: int
    case_id: int = 0


@dataclass(frozen=True, slots=True)
class AnswerSender:
    """An automatic answer about no one case (``+status``): ``template`` to ``to`` from ``mailbox``,
    threaded under their mail, as an RFC 3834 auto-reply (null return path, ``auto-replied``)."""

    template: str
    to: str
    mailbox: str
    in_reply_to: str = ""
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MailReport:
    """A scheduled report to its recipients: a plain-text summary, the report attached."""

    to: tuple[str, ...]
    subject: str
    text: str
    filename: str
    content_type: str
    data: bytes


Effect = (SendTemplate | RecordEvent | ForwardCase | RelayReply | NotifyStaff | MailDepartment | MailAdmin
          | WelcomeCustomer | AnswerSender | MailReport)

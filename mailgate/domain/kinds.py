"""The closed vocabularies of mailgate's rows: every state and kind a column may hold.

Each is a ``StrEnum``, so a member compares equal to (and is stored as) its plain string value:
the columns stay ``VARCHAR`` and the schema does not change, while code names each value once.
Case statuses are admin-defined and live in ``states.Category``; these are fixed.
"""

from __future__ import annotations

from enum import StrEnum


class CaseType(StrEnum):
    SUPPORT = "support"
    LEAD = "lead"


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Channel(StrEnum):
    """How a case reached mailgate."""

    EMAIL = "email"
    PHONE = "phone"
    WEB = "web"


class MailboxKind(StrEnum):
    SUPPORT = "support"
    SALES = "sales"          # sales mailboxes open leads

    @property
    def case_type(self) -> CaseType:
        return CaseType.LEAD if self is MailboxKind.SALES else CaseType.SUPPORT


class MessageKind(StrEnum):
    """What a message on a case is (SPEC §8 ``messages[].kind``)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    NOTE = "note"
    CONSULTATION = "consultation"
    DRAFT = "draft"
    FEEDBACK = "feedback"     # thanks or a rating after the close: kept, and the case stays closed


class InboundState(StrEnum):
    """A received message: waiting, part of a case (or acted on), or kept aside."""

    PENDING = "pending"
    DONE = "done"
    QUARANTINED = "quarantined"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class DraftState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class DraftAction(StrEnum):
    """What a held draft does when approved."""

    REPLY = "reply"          # relay the text to the customer (and close, if asked)
    CONSULT = "consult"      # mail the department


class ConsultationState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class ParticipantRole(StrEnum):
    REQUESTER = "requester"
    CC = "cc"


class ForwardRole(StrEnum):
    """Why a case is forwarded to a staff member."""

    OWNER = "owner"          # it is theirs: a reply relays to the customer
    DISPATCH = "dispatch"    # to the pool's manager, who answers #assign
    ANNOUNCE = "announce"    # pull mode: the first #claim wins

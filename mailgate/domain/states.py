"""Case statuses: the fixed categories that drive behaviour, and their one transition table.

Admins may add and rename statuses, but each belongs to one of these categories; rules speak only
in categories (SPEC §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from mailgate.errors import TransitionError


class Category(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    AWAITING_APPROVAL = "awaiting_approval"
    UNDER_CONSULTATION = "under_consultation"
    WAITING_CUSTOMER = "waiting_customer"
    EXPIRED = "expired"
    CLOSED = "closed"

    @property
    def resolved(self) -> bool:
        return self in (Category.CLOSED, Category.EXPIRED)


class Event(StrEnum):
    CUSTOMER_REPLIED = "customer_replied"
    CUSTOMER_REPLIED_UNOWNED = "customer_replied_unowned"
    CLAIMED = "claimed"
    RELEASED = "released"
    OPERATOR_REPLIED = "operator_replied"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CONSULTED = "consulted"
    ANSWER_RECEIVED = "answer_received"
    EXPIRED = "expired"
    CLOSED = "closed"


#: (status name, category) in display order: the defaults a new installation starts with.
DEFAULT_STATUSES: Final = (
    ("received", Category.NEW),
    ("in progress", Category.IN_PROGRESS),
    ("awaiting approval", Category.AWAITING_APPROVAL),
    ("under consultation", Category.UNDER_CONSULTATION),
    ("waiting for customer", Category.WAITING_CUSTOMER),
    ("expired unanswered", Category.EXPIRED),
    ("expired awaiting customer", Category.EXPIRED),
    ("closed", Category.CLOSED),
)

_ALL_OPEN: Final = (
    Category.NEW, Category.IN_PROGRESS, Category.AWAITING_APPROVAL,
    Category.UNDER_CONSULTATION, Category.WAITING_CUSTOMER,
)


def _table() -> dict[tuple[Category, Event], Category]:
    table: dict[tuple[Category, Event], Category] = {}
    for cat in (*_ALL_OPEN, Category.EXPIRED, Category.CLOSED):
        table[cat, Event.CLOSED] = Category.CLOSED
        table[cat, Event.CUSTOMER_REPLIED] = Category.IN_PROGRESS
        table[cat, Event.CUSTOMER_REPLIED_UNOWNED] = Category.NEW
    for cat in _ALL_OPEN:
        table[cat, Event.EXPIRED] = Category.EXPIRED
        table[cat, Event.CONSULTED] = Category.UNDER_CONSULTATION
    # A customer writing again on a case that is still new keeps it new; held or referred
    # cases stay where they are until the hold or referral resolves.
    for cat in (Category.NEW, Category.AWAITING_APPROVAL, Category.UNDER_CONSULTATION):
        table[cat, Event.CUSTOMER_REPLIED_UNOWNED] = cat
        table[cat, Event.CUSTOMER_REPLIED] = cat if cat is not Category.NEW else Category.IN_PROGRESS
    table.update({
        (Category.NEW, Event.CLAIMED): Category.IN_PROGRESS,
        (Category.IN_PROGRESS, Event.CLAIMED): Category.IN_PROGRESS,
        (Category.WAITING_CUSTOMER, Event.CLAIMED): Category.WAITING_CUSTOMER,
        (Category.IN_PROGRESS, Event.RELEASED): Category.NEW,
        (Category.WAITING_CUSTOMER, Event.RELEASED): Category.NEW,
        (Category.NEW, Event.OPERATOR_REPLIED): Category.WAITING_CUSTOMER,
        (Category.IN_PROGRESS, Event.OPERATOR_REPLIED): Category.WAITING_CUSTOMER,
        (Category.WAITING_CUSTOMER, Event.OPERATOR_REPLIED): Category.WAITING_CUSTOMER,
        (Category.UNDER_CONSULTATION, Event.OPERATOR_REPLIED): Category.WAITING_CUSTOMER,
        (Category.NEW, Event.APPROVAL_REQUESTED): Category.AWAITING_APPROVAL,
        (Category.IN_PROGRESS, Event.APPROVAL_REQUESTED): Category.AWAITING_APPROVAL,
        (Category.WAITING_CUSTOMER, Event.APPROVAL_REQUESTED): Category.AWAITING_APPROVAL,
        (Category.AWAITING_APPROVAL, Event.APPROVED): Category.WAITING_CUSTOMER,
        (Category.AWAITING_APPROVAL, Event.REJECTED): Category.IN_PROGRESS,
        (Category.UNDER_CONSULTATION, Event.ANSWER_RECEIVED): Category.IN_PROGRESS,
    })
    return table


TRANSITIONS: Final[Mapping[tuple[Category, Event], Category]] = _table()


def next_category(current: Category, event: Event) -> Category:
    """Return the category a case moves to when ``event`` happens in ``current``.

    Raises:
        TransitionError: the event is not allowed in that category.
    """
    try:
        return TRANSITIONS[current, event]
    except KeyError:
        raise TransitionError(f"{event} is not allowed when a case is {current}") from None

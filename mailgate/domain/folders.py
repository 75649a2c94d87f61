"""The agent's folders (SPEC §11 "Folders", seed "Issue Tracker"): where a case sits, from facts.

``new``: nobody owns it yet, or its owner has neither acknowledged nor answered it.
``open``: acknowledged or answered, and nothing from the customer since the last answer.
``waiting``: the customer wrote after the last answer: the ball is with the operator.
``expired-unanswered`` / ``expired-customer``: a deadline passed, waiting for us / for them.
``closed``. ``all`` is every case (a filter, never a case's folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mailgate.domain.states import Category


class Folder(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    EXPIRED_UNANSWERED = "expired-unanswered"
    EXPIRED_CUSTOMER = "expired-customer"
    CLOSED = "closed"


ALL = "all"
FILTERS = (*(f.value for f in Folder), ALL)


@dataclass(frozen=True, slots=True)
class CaseFacts:
    category: Category
    owned: bool
    acked: bool
    answered_at: datetime | None      # the last answer sent to the customer
    customer_at: datetime | None      # the customer's last mail


def folder_of(case: CaseFacts) -> Folder:
    """The one folder a case is in."""
    customer_after_answer = case.answered_at is not None and (
        case.customer_at is not None and case.customer_at > case.answered_at)
    if case.category is Category.CLOSED:
        return Folder.CLOSED
    if case.category is Category.EXPIRED:
        if case.answered_at is None or customer_after_answer:
            return Folder.EXPIRED_UNANSWERED
        return Folder.EXPIRED_CUSTOMER
    if not case.owned or (not case.acked and case.answered_at is None):
        return Folder.NEW
    return Folder.WAITING if customer_after_answer else Folder.OPEN


def coarse(folder: str) -> tuple[Category, ...]:
    """The status categories a folder's cases can be in (a database prefilter)."""
    if folder == Folder.CLOSED:
        return (Category.CLOSED,)
    if folder in (Folder.EXPIRED_UNANSWERED, Folder.EXPIRED_CUSTOMER):
        return (Category.EXPIRED,)
    if folder == ALL:
        return tuple(Category)
    return tuple(c for c in Category if not c.resolved)

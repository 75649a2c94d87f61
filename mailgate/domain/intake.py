"""What to do with a classified, matched inbound message: new case, append, reopen, or quarantine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mailgate.domain.states import Category, Event


class Action(StrEnum):
    NEW_CASE = "new_case"            # open a case
    APPEND = "append"                # add to the case, update its status
    RECORD = "record"                # add to the case, leave its status alone (auto mail, bounces)
    NEW_LINKED = "new_linked"        # reply to a long-closed case: new case linking the old one
    QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class CaseView:
    """What the rules need to know about the matched case."""

    id: int
    category: Category
    has_owner: bool
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Parties:
    """Who is part of a case's conversation."""

    requester: str
    cc: frozenset[str] = frozenset()
    owner: str | None = None                   # the owner's registered address
    departments: frozenset[str] = frozenset()  # addresses of departments consulted on the case


def may_thread_by_tag(parties: Parties, sender: str) -> bool:
    """SPEC §3: the subject tag threads only mail from the requester, a cc address, the owner or
    a department consulted on the case; anyone else quoting the tag opens a new case."""
    return bool(sender) and (sender in (parties.requester, parties.owner) or sender in parties.cc
                             or sender in parties.departments)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    event: Event | None = None


def decide(
    kind: str, case: CaseView | None, now: datetime, reopen_window: timedelta
) -> Decision:
    """Decide what an inbound message of disposition ``kind`` does to ``case`` (None: no match).

    Bounces, loops and auto-replies never open cases (SPEC §2): matched, they are recorded on the
    case without changing it; unmatched, they go to quarantine with the reason.
    """
    if kind == "loop":
        return Decision(Action.QUARANTINE, "loop: mail from this gateway")
    if kind in ("bounce", "auto_reply"):
        if case is None:
            return Decision(Action.QUARANTINE, f"{kind.replace('_', '-')}: refers to no known case")
        return Decision(Action.RECORD, kind)
    if case is None:
        return Decision(Action.NEW_CASE, "new conversation")
    if kind == "auto_generated":
        return Decision(Action.RECORD, kind)
    event = Event.CUSTOMER_REPLIED if case.has_owner else Event.CUSTOMER_REPLIED_UNOWNED
    if case.category.resolved:
        closed_at = case.closed_at
        if closed_at is not None and now - closed_at > reopen_window:
            return Decision(Action.NEW_LINKED, "reply after the reopen window")
        return Decision(Action.APPEND, "reopened", event)
    return Decision(Action.APPEND, "reply", event)

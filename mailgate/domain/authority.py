"""Who may do what on a case (SPEC §5): owner, deputy, manager, supervisor, approver.

Pure: the case operations load small ``Person`` views and ask these functions. A stand-in is
found by following deputies of absent people; ``lookup`` gives the next person by id (the
database in production, a dict in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from mailgate.domain.kinds import CaseType


class Role(StrEnum):
    """Roles a staff member may have (SPEC §5)."""

    OPERATOR = "operator"
    SALES = "sales"              # may own sales leads
    SUPERVISOR = "supervisor"
    MANAGER = "manager"


ROLES: Final = tuple(r.value for r in Role)
#: Roles that may hand out cases they do not own.
DISPATCHERS: Final = frozenset({Role.MANAGER, Role.SUPERVISOR})


@dataclass(frozen=True, slots=True)
class Person:
    """A staff member as the rules see them."""

    id: int
    roles: frozenset[str] = frozenset({Role.OPERATOR})
    absent_until: datetime | None = None
    deputy_id: int | None = None
    active: bool = True

    def absent(self, now: datetime) -> bool:
        return self.absent_until is not None and self.absent_until > now


def stand_in(person: Person, lookup: Callable[[int], Person | None], now: datetime) -> Person:
    """Who acts for ``person`` now: their deputy (or the deputy's, while absent too), else them.

    A deputy who is gone (removed, unknown) ends the chain, and so does a loop.
    """
    seen = {person.id}
    current = person
    while current.absent(now) and current.deputy_id is not None and current.deputy_id not in seen:
        deputy = lookup(current.deputy_id)
        if deputy is None or not deputy.active:
            break
        seen.add(deputy.id)
        current = deputy
    return current


def may_own(roles: frozenset[str], case_type: str) -> bool:
    """Sales leads only ever go to staff with the ``sales`` role; other cases to anyone."""
    return case_type != CaseType.LEAD or Role.SALES in roles


def may_act_for(owner_id: int | None, owner_stand_in_id: int | None, actor_id: int) -> bool:
    """The owner, or whoever stands in for the absent owner; nobody on an unowned case."""
    return owner_id is not None and actor_id in (owner_id, owner_stand_in_id)


def may_dispatch(roles: frozenset[str], is_pool_manager: bool) -> bool:
    """Who may ``#assign`` (or claim outside their pools) a case they do not own."""
    return is_pool_manager or bool(roles & DISPATCHERS)


def may_assign(acts_for_case: bool, roles: frozenset[str], is_pool_manager: bool) -> bool:
    """``#assign``: the owner (or their stand-in), managers, supervisors and the pool's manager."""
    return acts_for_case or may_dispatch(roles, is_pool_manager)


@dataclass(frozen=True, slots=True)
class DraftView:
    """A held draft as the approval rule sees it."""

    supervisor_id: int
    approver_id: int | None      # the supervisor's stand-in now
    reminders: int               # 2 and more: escalated to the pool's manager


ESCALATED_AFTER: Final = 2


def may_decide(draft: DraftView, actor_id: int, is_pool_manager: bool) -> bool:
    """The supervisor, their stand-in, and, once the draft was escalated, the pool's manager."""
    if actor_id in (draft.supervisor_id, draft.approver_id):
        return True
    return draft.reminders >= ESCALATED_AFTER and is_pool_manager

"""Who gets a case: pool modes, round-robin turn order, and who may own which case (SPEC §5).

Pure: the services layer reads members from the database and asks these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    MANAGER = "manager"          # new cases go to the manager, who assigns them
    ROUND_ROBIN = "round_robin"  # the next available member in turn gets each new case
    PULL = "pull"                # announced to all members; the first #claim wins


@dataclass(frozen=True, slots=True)
class Member:
    """A pool member as routing sees them."""

    staff_id: int
    available: bool             # active and not absent
    roles: frozenset[str]


def may_own(roles: frozenset[str], case_type: str) -> bool:
    """Sales leads only ever go to staff with the ``sales`` role; other cases to anyone."""
    return case_type != "lead" or "sales" in roles


def may_dispatch(roles: frozenset[str], is_pool_manager: bool) -> bool:
    """Who may ``#assign`` a case they do not own: managers, supervisors, the pool's manager."""
    return is_pool_manager or bool(roles & {"manager", "supervisor"})


def next_in_turn(members: Sequence[Member], last_staff_id: int | None, case_type: str) -> int | None:
    """Round-robin: the first eligible member after the last one served, wrapping; None if nobody."""
    eligible = [m.staff_id for m in sorted(members, key=lambda m: m.staff_id)
                if m.available and may_own(m.roles, case_type)]
    if not eligible:
        return None
    if last_staff_id is None:
        return eligible[0]
    return next((sid for sid in eligible if sid > last_staff_id), eligible[0])


def announce_to(members: Sequence[Member], case_type: str) -> list[int]:
    """Pull mode: every available member who may own the case hears of it."""
    return [m.staff_id for m in members if m.available and may_own(m.roles, case_type)]

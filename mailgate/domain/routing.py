"""Who gets a new case: pool modes and round-robin turn order (SPEC §5).

Pure: the case operations read members from the database and ask these functions; who may own
which case is ``authority.may_own``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from mailgate.domain.authority import may_own


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

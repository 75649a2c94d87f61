"""Bounce scoring (RELIABILITY rows 29, 30, 59): which failures count, and when to stop sending.

Pure. A permanent failure (DSN status 5.x.x, or a relay's 5xx) is a hard bounce; a delay or
temporary failure (4.x.x, ``Action: delayed``) is soft and never suppresses. After ``threshold``
hard bounces mailgate stops mailing that address until it writes to us again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    HARD = "hard"
    SOFT = "soft"


@dataclass(frozen=True, slots=True)
class Failure:
    address: str
    severity: Severity
    status: str


def severity(action: str, status: str) -> Severity | None:
    """How a DSN recipient block counts; None for success reports (delivered, relayed, expanded)."""
    action = action.lower()
    if action in ("delivered", "relayed", "expanded"):
        return None
    if action == "delayed" or status.startswith("4"):
        return Severity.SOFT
    if action == "failed" or status.startswith("5"):
        return Severity.HARD
    return None


def failures(actions: Sequence[str], statuses: Sequence[str], recipients: Sequence[str],
             failed_header: Sequence[str] = ()) -> list[Failure]:
    """The failed recipients a bounce reports (DSN blocks, else ``X-Failed-Recipients``)."""
    found: list[Failure] = []
    for i, address in enumerate(recipients):
        action = actions[i] if i < len(actions) else (actions[-1] if actions else "failed")
        status = statuses[i] if i < len(statuses) else (statuses[-1] if statuses else "5.0.0")
        kind = severity(action, status)
        if kind is not None and "@" in address:
            found.append(Failure(address.strip().strip("<>").lower(), kind, status))
    if not found:
        found = [Failure(a.strip().strip("<>").lower(), Severity.HARD, "5.0.0")
                 for a in failed_header if "@" in a]
    return found


def suppressed(hard_bounces: int, threshold: int) -> bool:
    return threshold > 0 and hard_bounces >= threshold

"""Effects: what a rule wants to happen, interpreted by the services layer in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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


Effect = SendTemplate | RecordEvent

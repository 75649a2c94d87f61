"""RFC 3834 auto-response policy: when mailgate may answer a customer automatically."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AutoResponseFacts:
    disposition: str          # mail.classify.Disposition value
    sender_trusted: bool
    null_return_path: bool    # envelope sender or Return-Path was <>
    new_case: bool
    already_answered_case: bool   # this sender already got one on this case
    sent_today: int               # auto-responses to this sender in the last 24 hours
    daily_limit: int
    imported: bool = False        # loaded with ``mailgate import``: history, not mail arriving now


def should_auto_respond(facts: AutoResponseFacts) -> tuple[bool, str]:
    """Return (respond?, why) per RFC 3834 §2 and our per-sender caps."""
    if facts.disposition != "personal":
        return False, f"no auto-response to {facts.disposition} mail"
    if not facts.sender_trusted:
        return False, "sender address is ambiguous or invalid"
    if facts.null_return_path:
        return False, "null return path"
    if facts.imported:
        return False, "imported mail is history: nobody is waiting for an answer"
    if not facts.new_case:
        return False, "not a new case"
    if facts.already_answered_case:
        return False, "already answered on this case"
    if facts.sent_today >= facts.daily_limit:
        return False, "daily auto-response limit reached for this sender"
    return True, "new case"

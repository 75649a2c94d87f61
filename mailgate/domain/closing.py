"""Closing a case (SPEC §5): close it, ask the questionnaire first, or wait for an approval.

Pure: the case operations gather the facts and carry out the step this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class CloseStep(StrEnum):
    CLOSE = "close"      # close now
    ASK = "ask"          # questionnaire answers are missing: ask, close when the last one arrives
    HOLD = "hold"        # a trainee's close: held as a draft for the supervisor
    WAIT = "wait"        # a trainee's draft already carries the close: it closes when approved


def close_step(missing_answers: Sequence[str], trainee: bool, draft_carries_close: bool) -> CloseStep:
    """What ``#close`` (or the last ``#answer`` of a waiting close) does now.

    ``draft_carries_close``: for a trainee, the reply's text was just held as a draft that will
    close the case on approval, or the case already awaits approval of such a draft.
    """
    if missing_answers:
        return CloseStep.ASK
    if trainee:
        return CloseStep.WAIT if draft_carries_close else CloseStep.HOLD
    return CloseStep.CLOSE


def tells_customer(answered_now: bool, has_requester: bool) -> bool:
    """The customer gets the ``case_closed`` notice unless an answer reached them with the close."""
    return has_requester and not answered_now

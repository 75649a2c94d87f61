"""Bounces (RELIABILITY rows 29, 30, 59): count each failed address, then record the bounce on
the case it refers to, or quarantine it. A route handler for ``routes.ROUTES``."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases import incoming
from mailgate.cases.context import Context
from mailgate.cases.inbound import Analysis, Handled
from mailgate.domain import bounces
from mailgate.domain.effects import RecordEvent
from mailgate.domain.intake import Action
from mailgate.domain.kinds import InboundState
from mailgate.storage import mailstate

log = logging.getLogger(__name__)
MAX_SCORED = 20


def bounce(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """Score the bounce's failed addresses; keep it on its case, else in the quarantine."""
    lines = score(session, ctx, msg, now)
    if msg.decision.action is Action.QUARANTINE:
        return Handled(InboundState.QUARANTINED, None, msg.decision.reason)
    case_id, effects = incoming.write(session, ctx, msg, now)
    effects += [RecordEvent(case_id, "bounce", line) for line in lines]
    reason = f"{msg.decision.action}/{msg.match.reason}/{msg.disposition}"
    return Handled(InboundState.DONE, case_id, reason, tuple(effects))


def score(session: Session, ctx: Context, msg: Analysis, now: datetime) -> list[str]:
    """Count what a bounce reports against each failed address; one history line per address."""
    mail = msg.mail
    report = mail.bounce
    failed = bounces.failures(report.actions if report else (), report.statuses if report else (),
                              report.recipients if report else (),
                              [a.strip() for a in mail.header("x-failed-recipients").split(",")])
    lines = []
    for failure in failed[:MAX_SCORED]:
        health = mailstate.record_bounce(session, failure.address, failure.severity is bounces.Severity.HARD,
                                         failure.status, now, ctx.config.gateway.bounce_threshold)
        lines.append(f"{failure.address} {failure.status} {failure.severity} "
                     f"({health.hard_bounces} hard){' - suppressed' if health.suppressed else ''}")
        log.info("bounce_scored address=%s severity=%s hard=%s suppressed=%s",
                 failure.address, failure.severity, health.hard_bounces, health.suppressed)
    return lines


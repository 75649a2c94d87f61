"""The route table: who handles each received message, in one ordered, declarative list.

Every stored message is analysed once (``inbound.analyse``), then offered to the routes in order;
the first whose predicate holds takes it, and its handler returns what became of the message
and the effects to carry out. ``route --explain`` prints the route that took a message and the
condition of each route before it that did not hold. A new way in (the blocklist for IMAP and
imports, ``+status``, web submissions) is one more row and one more handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from mailgate.cases import bounces, incoming, my_cases, staffmail
from mailgate.cases.context import Context
from mailgate.cases.inbound import Analysis, Handled
from mailgate.domain.commands import Subaddress
from mailgate.domain.intake import Action
from mailgate.mail.classify import Disposition
from mailgate.mail.normalize import strip_prefixes
from mailgate.mail.tokens import Purpose

Handler = Callable[[Session, Context, Analysis, datetime], Handled]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    when: str                              # the predicate in words, for route --explain
    test: Callable[[Analysis], bool]
    handler: Handler


def _token(msg: Analysis, *purposes: Purpose) -> bool:
    return msg.personal and msg.token is not None and msg.token.purpose in purposes


ROUTES: Final = (
    Route("blocked", "from a sender, domain or client on the blocklist",
          lambda m: bool(m.blocked), incoming.blocked),
    Route("staff_next", "sent to +next by a staff member",
          lambda m: m.command is Subaddress.NEXT and m.staff_id is not None, staffmail.next_case),
    Route("staff_cmd", "sent to +cmd by a staff member",
          lambda m: m.command is Subaddress.CMD and m.staff_id is not None, staffmail.absence),
    Route("my_cases", "sent to +status, or personal mail on no case with the subject 'status'",
          lambda m: m.command is Subaddress.STATUS or (
              m.personal and m.case is None and strip_prefixes(m.mail.subject).strip().lower() == "status"),
          my_cases.answer),
    Route("department_reply", "personal mail to a consultation's signed address",
          lambda m: _token(m, Purpose.CONSULTATION), staffmail.department_reply),
    Route("approval_reply", "personal mail to an approval request's signed address",
          lambda m: _token(m, Purpose.APPROVAL), staffmail.approval_reply),
    Route("staff_reply", "personal mail to a staff member's signed reply address",
          lambda m: _token(m, Purpose.REPLY, Purpose.NOTICE, Purpose.CUSTOMER), staffmail.reply),
    Route("forged_token", "sent to a reply address whose signature does not verify",
          lambda m: m.match.reason == "forged", staffmail.forged),
    Route("staff_without_token", "personal mail from a staff address without a valid token",
          lambda m: m.personal and m.staff_id is not None, staffmail.without_token),
    Route("department_by_thread", "personal mail on a case from a department consulted on it",
          lambda m: m.consulted is not None, staffmail.department_by_thread),
    Route("bounce", "a delivery status notification or bounce",
          lambda m: m.disposition is Disposition.BOUNCE, bounces.bounce),
    Route("unwanted", "a loop, or automatic mail that refers to no case",
          lambda m: m.decision.action is Action.QUARANTINE, incoming.unwanted),
    Route("customer", "anything else: the customer side of a case",
          lambda m: True, incoming.customer),
)


def route_for(msg: Analysis) -> Route:
    """The first route whose predicate holds (the last one always does)."""
    return next(route for route in ROUTES if route.test(msg))


def passed_over(msg: Analysis) -> list[Route]:
    """The routes before the one that takes ``msg``: their conditions did not hold."""
    taken = route_for(msg)
    return list(ROUTES[:ROUTES.index(taken)])

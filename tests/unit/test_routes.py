"""cases.routes: which route takes a message, for every kind of message the table names."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mailgate.cases.inbound import Analysis, Received
from mailgate.cases.routes import ROUTES, passed_over, route_for
from mailgate.domain.commands import Subaddress
from mailgate.domain.intake import Action, CaseView, Decision
from mailgate.domain.states import Category
from mailgate.mail.classify import Disposition
from mailgate.mail.parse import parse
from mailgate.mail.tokens import Purpose, Token
from mailgate.matching import TicketMatch

NOW = datetime(2026, 11, 23, tzinfo=UTC)
MAIL = parse(b"From: a@customer.example\r\nTo: support@example.com\r\nSubject: hi\r\n\r\nHello\r\n")
CASE = CaseView(7, Category.IN_PROGRESS, True, None)

BASE = Analysis(
    row=Received(1, "smtp", "a@customer.example", ("support@example.com",), "support", NOW),
    mail=MAIL, disposition=Disposition.PERSONAL, match=TicketMatch(None, "none"), case=None,
    decision=Decision(Action.NEW_CASE, "new conversation"), sender="a@customer.example", staff_id=None,
    command=None, consulted=None)


def token(purpose: Purpose, staff_id: int = 3) -> TicketMatch:
    return TicketMatch(7, "token", Token(7, staff_id, purpose))


@pytest.mark.parametrize(("changes", "route"), [
    ({}, "customer"),
    ({"command": Subaddress.NEXT, "staff_id": 3}, "staff_next"),
    ({"command": Subaddress.NEXT}, "customer"),                       # +next from a stranger
    ({"command": Subaddress.CMD, "staff_id": 3}, "staff_cmd"),
    ({"match": token(Purpose.REPLY), "case": CASE}, "staff_reply"),
    ({"match": token(Purpose.NOTICE), "case": CASE}, "staff_reply"),
    ({"match": token(Purpose.APPROVAL), "case": CASE}, "approval_reply"),
    ({"match": token(Purpose.CONSULTATION), "case": CASE}, "department_reply"),
    ({"match": token(Purpose.CUSTOMER, staff_id=0), "case": CASE,
      "decision": Decision(Action.APPEND, "reply")}, "customer"),     # a customer's reply to us
    ({"match": token(Purpose.REPLY), "case": CASE, "disposition": Disposition.AUTO_REPLY,
      "decision": Decision(Action.RECORD, "auto_reply")}, "customer"),   # an operator's out-of-office
    ({"match": TicketMatch(None, "forged")}, "forged_token"),
    ({"match": TicketMatch(None, "forged"), "disposition": Disposition.BOUNCE}, "forged_token"),
    ({"staff_id": 3}, "staff_without_token"),
    ({"staff_id": 3, "disposition": Disposition.AUTO_GENERATED}, "customer"),
    ({"case": CASE, "consulted": 4, "decision": Decision(Action.APPEND, "reply")}, "department_by_thread"),
    ({"disposition": Disposition.BOUNCE, "decision": Decision(Action.QUARANTINE, "bounce: no case")},
     "bounce"),
    ({"disposition": Disposition.LOOP, "decision": Decision(Action.QUARANTINE, "loop")}, "unwanted"),
    ({"blocked": "@customer.example"}, "blocked"),
    ({"command": Subaddress.STATUS}, "my_cases"),
    ({"command": Subaddress.STATUS, "disposition": Disposition.AUTO_REPLY}, "my_cases"),  # answered: no
    ({"mail": replace(MAIL, subject="Re: STATUS ")}, "my_cases"),
    ({"mail": replace(MAIL, subject="status"), "case": CASE}, "customer"),    # on a case: a reply
    ({"blocked": "@customer.example", "match": token(Purpose.REPLY), "case": CASE}, "blocked"),  # first
    ({"disposition": Disposition.AUTO_REPLY,
      "decision": Decision(Action.QUARANTINE, "auto-reply: refers to no known case")}, "unwanted"),
])
def test_route_taken(changes: dict[str, object], route: str) -> None:
    msg = replace(BASE, **changes)  # type: ignore[arg-type]
    assert route_for(msg).name == route
    skipped = [r.name for r in passed_over(msg)]
    assert skipped == [r.name for r in ROUTES[:len(skipped)]]
    assert route not in skipped


def test_route_names_are_unique_and_the_last_takes_everything() -> None:
    names = [r.name for r in ROUTES]
    assert len(names) == len(set(names))
    assert ROUTES[-1].test(BASE) and ROUTES[-1].name == "customer"
    assert all(r.when for r in ROUTES)

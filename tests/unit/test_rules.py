"""domain: who may act (authority), routing turns, deadlines, closing, consultation requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailgate.domain import deadlines, routing
from mailgate.domain.authority import (
    DraftView,
    Person,
    may_act_for,
    may_assign,
    may_decide,
    may_dispatch,
    may_own,
    stand_in,
)
from mailgate.domain.closing import CloseStep, close_step, tells_customer
from mailgate.domain.consulting import ConsultRequest, read_consult
from mailgate.domain.intake import Parties, may_thread_by_tag
from mailgate.errors import Refused

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)


def people(*persons: Person) -> dict[int, Person]:
    return {p.id: p for p in persons}


@pytest.mark.parametrize(("team", "expected"), [
    (people(Person(1)), 1),                                                  # present: themselves
    (people(Person(1, absent_until=LATER)), 1),                              # absent, no deputy
    (people(Person(1, absent_until=LATER, deputy_id=2), Person(2)), 2),
    (people(Person(1, absent_until=NOW, deputy_id=2), Person(2)), 1),        # absence ended
    (people(Person(1, absent_until=LATER, deputy_id=2), Person(2, absent_until=LATER, deputy_id=3),
            Person(3)), 3),                                                  # the deputy's deputy
    (people(Person(1, absent_until=LATER, deputy_id=2), Person(2, active=False)), 1),   # removed
    (people(Person(1, absent_until=LATER, deputy_id=9)), 1),                 # unknown deputy
    (people(Person(1, absent_until=LATER, deputy_id=2), Person(2, absent_until=LATER, deputy_id=1)),
     2),                                                                     # a loop ends
])
def test_stand_in(team: dict[int, Person], expected: int) -> None:
    assert stand_in(team[1], team.get, NOW).id == expected


@pytest.mark.parametrize(("owner", "stand_in_id", "actor", "allowed"), [
    (None, None, 1, False),
    (1, 1, 1, True),
    (1, 2, 2, True),          # the absent owner's deputy
    (1, 2, 1, True),          # the owner stays allowed while away
    (1, 1, 3, False),
])
def test_may_act_for(owner: int | None, stand_in_id: int | None, actor: int, allowed: bool) -> None:
    assert may_act_for(owner, stand_in_id, actor) is allowed


@pytest.mark.parametrize(("acts_for", "roles", "pool_manager", "allowed"), [
    (True, frozenset({"operator"}), False, True),
    (False, frozenset({"operator"}), False, False),
    (False, frozenset({"supervisor"}), False, True),
    (False, frozenset({"manager"}), False, True),
    (False, frozenset({"operator", "sales"}), True, True),
])
def test_may_assign(acts_for: bool, roles: frozenset[str], pool_manager: bool, allowed: bool) -> None:
    assert may_assign(acts_for, roles, pool_manager) is allowed


@pytest.mark.parametrize(("roles", "pool_manager", "allowed"), [
    (frozenset({"operator"}), False, False),
    (frozenset({"operator", "sales"}), False, False),
    (frozenset({"supervisor"}), False, True),
    (frozenset({"manager"}), False, True),
    (frozenset({"operator"}), True, True),
])
def test_may_dispatch(roles: frozenset[str], pool_manager: bool, allowed: bool) -> None:
    assert may_dispatch(roles, pool_manager) is allowed


@pytest.mark.parametrize(("roles", "case_type", "allowed"), [
    (frozenset({"operator"}), "support", True),
    (frozenset({"operator"}), "lead", False),
    (frozenset({"sales"}), "lead", True),
    (frozenset({"manager"}), "lead", False),
])
def test_only_sales_staff_own_leads(roles: frozenset[str], case_type: str, allowed: bool) -> None:
    assert may_own(roles, case_type) is allowed


@pytest.mark.parametrize(("draft", "actor", "pool_manager", "allowed"), [
    (DraftView(5, 5, 0), 5, False, True),          # the supervisor
    (DraftView(5, 6, 0), 6, False, True),          # the supervisor's deputy
    (DraftView(5, 6, 0), 5, False, True),          # the supervisor while away
    (DraftView(5, 5, 1), 7, True, False),          # the manager before escalation
    (DraftView(5, 5, 2), 7, True, True),           # ... and after it
    (DraftView(5, 5, 2), 8, False, False),         # anyone else
])
def test_may_decide(draft: DraftView, actor: int, pool_manager: bool, allowed: bool) -> None:
    assert may_decide(draft, actor, pool_manager) is allowed


def member(sid: int, available: bool = True, roles: tuple[str, ...] = ("operator",)) -> routing.Member:
    return routing.Member(sid, available, frozenset(roles))


@pytest.mark.parametrize(("team", "last", "case_type", "chosen"), [
    ([member(1), member(2), member(3)], None, "support", 1),
    ([member(1), member(2), member(3)], 1, "support", 2),
    ([member(1), member(2), member(3)], 3, "support", 1),                # wraps
    ([member(3), member(1), member(2)], 1, "support", 2),                # by id, not by list order
    ([member(1), member(2, available=False), member(3)], 1, "support", 3),
    ([member(1), member(2), member(3, roles=("sales",))], 1, "lead", 3),
    ([member(1), member(2)], None, "lead", None),                        # no sales member
    ([member(1, available=False)], None, "support", None),
    ([], None, "support", None),
])
def test_round_robin_turn(team: list[routing.Member], last: int | None, case_type: str,
                          chosen: int | None) -> None:
    assert routing.next_in_turn(team, last, case_type) == chosen


def test_pull_mode_announces_to_every_available_owner() -> None:
    team = [member(1), member(2, available=False), member(3, roles=("sales",))]
    assert routing.announce_to(team, "support") == [1, 3]
    assert routing.announce_to(team, "lead") == [3]


SPANS = deadlines.Spans(timedelta(hours=4), timedelta(days=30), timedelta(days=14))


def test_deadlines_after_each_event() -> None:
    rollover = NOW + timedelta(hours=1)
    assert deadlines.customer_wrote(NOW, SPANS, rollover) == deadlines.Due(rollover, NOW + timedelta(days=30),
                                                                         None)
    assert deadlines.operator_answered(NOW, SPANS) == deadlines.Due(None, None, NOW + timedelta(days=14))
    assert deadlines.given_in_turn(NOW, SPANS) == NOW + timedelta(hours=4)
    assert deadlines.Due(None, None, None) == deadlines.RESOLVED


@pytest.mark.parametrize(("reminders", "due"), [
    (0, NOW + timedelta(hours=4)),
    (1, NOW + timedelta(hours=8)),
    (2, None),
    (3, None),
])
def test_approval_reminder_then_escalation_then_quiet(reminders: int, due: datetime | None) -> None:
    assert deadlines.next_reminder(NOW, reminders, timedelta(hours=4)) == due


@pytest.mark.parametrize(("missing", "trainee", "carried", "step"), [
    ((), False, False, CloseStep.CLOSE),
    (("product",), False, False, CloseStep.ASK),
    (("product",), True, True, CloseStep.ASK),        # questions first, for trainees too
    ((), True, False, CloseStep.HOLD),
    ((), True, True, CloseStep.WAIT),
])
def test_close_step(missing: tuple[str, ...], trainee: bool, carried: bool, step: CloseStep) -> None:
    assert close_step(missing, trainee, carried) is step


@pytest.mark.parametrize(("answered", "requester", "told"), [
    (False, True, True), (True, True, False), (False, False, False)])
def test_close_notice(answered: bool, requester: bool, told: bool) -> None:
    assert tells_customer(answered, requester) is told


DEPARTMENTS = {"finance": timedelta(days=2), "legal": timedelta(days=5)}


@pytest.mark.parametrize(("arg", "body", "wanted"), [
    ("finance", "Refund?", ConsultRequest("finance", timedelta(days=2), "", "Refund?")),
    ("Finance due=3d Refund 12?", "", ConsultRequest("finance", timedelta(days=3), "", "Refund 12?")),
    ("legal amount=120.50 due=90s check", "details",
     ConsultRequest("legal", timedelta(seconds=90), "120.50", "check\n\ndetails")),
    ("finance amount=7", "Invoice", ConsultRequest("finance", timedelta(days=2), "7", "Invoice")),
    ("finance amount=89.00EUR x", "", ConsultRequest("finance", timedelta(days=2), "89.00", "x", "EUR")),
    ("finance amount=usd12 x", "", ConsultRequest("finance", timedelta(days=2), "12", "x", "USD")),
])
def test_consult_request(arg: str, body: str, wanted: ConsultRequest) -> None:
    assert read_consult(arg, body, DEPARTMENTS) == wanted


@pytest.mark.parametrize(("arg", "body", "why"), [
    ("", "x", "#consult needs a department"),
    ("hr question", "", "#consult hr: no such department (departments: finance, legal)"),
    ("finance due=soon x", "", "#consult due=soon: not a duration"),
    ("finance amount=12,50 x", "", "#consult amount=12,50: a sum like 120.50"),
    ("finance amount=EUR12USD x", "", "#consult amount=EUR12USD: a sum like 120.50"),
    ("finance", "  ", "#consult needs a question"),
])
def test_consult_refusals(arg: str, body: str, why: str) -> None:
    with pytest.raises(Refused) as refused:
        read_consult(arg, body, DEPARTMENTS)
    assert str(refused.value).startswith(why)


PARTIES = Parties("carol@customer.example", frozenset({"dan@customer.example"}), "bob@example.com",
                  frozenset({"finance@example.com"}))


@pytest.mark.parametrize(("sender", "threads"), [
    ("carol@customer.example", True),      # the requester
    ("dan@customer.example", True),        # a cc address
    ("bob@example.com", True),             # the owner
    ("finance@example.com", True),         # a department consulted on the case
    ("mallory@evil.example", False),
    ("", False),
])
def test_who_may_thread_by_the_subject_tag(sender: str, threads: bool) -> None:
    assert may_thread_by_tag(PARTIES, sender) is threads
    alone = Parties("carol@customer.example")
    assert may_thread_by_tag(alone, sender) is (sender == "carol@customer.example")

"""Case operations run on a real database, without SMTP: the route table over stored mail, claims,
the close that asks the questionnaire, consultations, and the one close."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.cases import assignment, commands, consultations, lifecycle
from mailgate.cases.inbound import Received
from mailgate.domain.commands import read_commands
from mailgate.domain.effects import MailDepartment, NotifyStaff, RecordEvent, SendTemplate
from mailgate.domain.states import Category
from mailgate.errors import Refused
from mailgate.mail.parse import parse
from mailgate.services import staff
from mailgate.services.process import Outcome, persist
from mailgate.storage import cases, inbound
from mailgate.storage.models import Consultation, Outbox, Staff, Ticket
from tests.conftest import Casework

CUSTOMER = b"From: Carol <carol@customer.example>\r\nTo: support@example.com\r\n" \
           b"Message-ID: <c1@customer.example>\r\nSubject: Printer broken\r\n\r\nIt is on fire.\r\n"


@pytest.fixture
async def desk(casework: Casework) -> Casework:
    """Two operators in the support pool and one customer mail routed (case 1)."""
    for email, name in (("bob@example.com", "Bob"), ("amy@example.com", "Amy")):
        await staff.add_user(casework.ctx, email, staff.StaffEdit(name=name, pools=("support",)))
    return casework


async def route_mail(desk: Casework, raw: bytes = CUSTOMER, rcpt: str = "support@example.com") -> Outcome:
    """Store ``raw`` as received and run it through the route table, in one unit of work."""

    def work(session: Session, now: datetime) -> Outcome:
        row_id, _, _ = inbound.insert_inbound(session, inbound.NewInbound(
            source="test", source_key=None, digest=hashlib.sha256(raw).hexdigest(), sha256="0" * 64,
            mail_from="", rcpt_to=[rcpt], mailbox="support", peer="", raw=raw, received_at=now))
        row = Received(row_id, "test", "", (rcpt,), "support", now)
        return persist(session, desk.ctx, row, parse(raw), now)

    return await desk.run(work)


def ticket_and(session: Session, name: str) -> tuple[Ticket, Staff]:
    ticket = cases.get(session, 1)
    member = session.scalar(select(Staff).where(Staff.name == name))
    assert ticket is not None and member is not None
    return ticket, member


async def test_a_customer_mail_takes_the_customer_route_and_goes_round_robin(desk: Casework) -> None:
    outcome = await route_mail(desk)
    assert (outcome.route, outcome.state, outcome.ticket_id) == ("customer", "done", 1)
    assert outcome.queued == 2                              # the auto-response and the forward
    owner = await desk.run(lambda s, now: ticket_and(s, "Bob")[0].owner_id)
    queued = await desk.run(lambda s, now: s.scalar(select(func.count()).select_from(Outbox)))
    assert owner is not None and queued == 2


async def test_a_claim_on_an_owned_case_is_refused_with_the_owner_named(desk: Casework) -> None:
    await route_mail(desk)

    def the_other_claims(session: Session, now: datetime) -> None:
        ticket = cases.get(session, 1)
        assert ticket is not None
        owner = session.get(Staff, ticket.owner_id)
        claimer = session.scalar(select(Staff).where(Staff.id != ticket.owner_id))
        assert owner is not None and claimer is not None
        with pytest.raises(Refused, match=f"already taken by {owner.name}"):
            assignment.claim(session, desk.ctx, ticket, claimer, now)
        assert assignment.claim(session, desk.ctx, ticket, owner, now) == []     # the owner: nothing to do

    await desk.run(the_other_claims)


async def test_close_asks_the_questionnaire_then_closes_once(desk: Casework) -> None:
    await route_mail(desk)

    def close_without_answer(session: Session, now: datetime) -> list[object]:
        ticket, _ = ticket_and(session, "Bob")
        owner = session.get(Staff, ticket.owner_id)
        assert owner is not None
        return list(commands.carry_out(session, desk.ctx, ticket, owner, read_commands("#close"), 0, 0,
                                       "Re: Printer broken", now))

    asked = await desk.run(close_without_answer)
    assert [type(e) for e in asked] == [RecordEvent, NotifyStaff]
    assert isinstance(asked[1], NotifyStaff) and asked[1].template == "questionnaire"
    waiting = await desk.run(lambda s, now: ticket_and(s, "Bob")[0].close_requested)
    assert waiting

    def answer(session: Session, now: datetime) -> list[object]:
        ticket, _ = ticket_and(session, "Bob")
        owner = session.get(Staff, ticket.owner_id)
        assert owner is not None
        return list(commands.carry_out(session, desk.ctx, ticket, owner,
                                       read_commands("#answer product=Other"), 0, 0, "Re: x", now))

    closed = await desk.run(answer)
    assert any(isinstance(e, SendTemplate) and e.template == "case_closed" for e in closed)
    category = await desk.run(lambda s, now: cases.category_of(s, ticket_and(s, "Bob")[0]))
    assert category is Category.CLOSED

    def close_again(session: Session, now: datetime) -> None:
        with pytest.raises(Refused, match="already closed"):
            lifecycle.close(session, desk.ctx, ticket_and(session, "Bob")[0], now, "by admin")

    await desk.run(close_again)


async def test_consult_opens_a_consultation_and_mails_the_department(desk: Casework) -> None:
    await route_mail(desk)

    def consult(session: Session, now: datetime) -> list[object]:
        ticket, bob = ticket_and(session, "Bob")
        return list(consultations.consult(session, desk.ctx, ticket, bob, "finance amount=12,50 x", "", now))

    with pytest.raises(Refused, match=r"a sum like 120\.50"):
        await desk.run(consult)

    def consult_ok(session: Session, now: datetime) -> list[object]:
        ticket, bob = ticket_and(session, "Bob")
        return list(consultations.consult(session, desk.ctx, ticket, bob, "finance due=3d Refund?", "", now))

    effects = await desk.run(consult_ok)
    assert any(isinstance(e, MailDepartment) for e in effects)
    row = await desk.run(lambda s, now: s.scalar(select(Consultation)))
    assert row is not None and row.department == "finance" and row.question == "Refund?"
    category = await desk.run(lambda s, now: cases.category_of(s, ticket_and(s, "Bob")[0]))
    assert category is Category.UNDER_CONSULTATION


async def test_assign_by_a_plain_operator_is_refused(desk: Casework) -> None:
    await route_mail(desk)

    def assign(session: Session, now: datetime) -> list[object]:
        ticket = cases.get(session, 1)
        assert ticket is not None
        other = session.scalar(select(Staff).where(Staff.id != ticket.owner_id))
        assert other is not None
        return list(assignment.assign_by(session, desk.ctx, ticket, other, other.email, now))

    with pytest.raises(Refused, match="only the owner, a manager or a supervisor"):
        await desk.run(assign)
    forwards = await desk.run(lambda s, now: s.scalar(select(func.count()).select_from(Outbox)))
    assert forwards == 2                    # only the auto-response and the first forward

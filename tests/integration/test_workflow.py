"""Holds, referrals and deadlines end to end over SMTP with the relay sink: trainee approval,
consultations, the questionnaire on close, and the timer sweep moved by a frozen clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from mailgate.app import App
from mailgate.services import approvals, consultations, staff, tickets, timers
from mailgate.storage.models import TicketEvent
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import add_staff, body_of, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

CUSTOMER = "carol@customer.example"
DEPARTMENTS = """
[[department]]
name = "finance"
address = "finance@example.com"
deadline = "2d"

[[department]]
name = "legal"
address = "legal@lawyers.example"

[[question]]
name = "product"
prompt = "Which product did the case concern?"
choices = ["Router X", "Router Y", "Other"]

[[question]]
name = "partner"
prompt = "Which partner sold it?"
"""
QUESTIONNAIRE = 'mode = "round_robin"\nquestionnaire = ["product", "partner"]\nmanager = "mia@example.com"'


async def events(app: App, case_id: int, kind: str) -> list[str]:
    rows = await app.ctx.db.run(lambda s: s.scalars(select(TicketEvent.detail).where(
        TicketEvent.ticket_id == case_id, TicketEvent.kind == kind).order_by(TicketEvent.id)).all())
    return list(rows)


async def open_case(app: App, sink: SmtpSink, owner: str) -> None:
    await send(app, mail())
    await settle(app)
    assert inbox(sink, owner), f"no forward to {owner}"


# --- trainee approval ---------------------------------------------------------------------------

async def test_trainee_reply_is_held_then_edited_and_approved_by_the_supervisor(
        app: App, sink: SmtpSink) -> None:
    await add_staff(app, "sue@example.com", "Sue Supervisor", pools=(), roles=("supervisor",))
    await add_staff(app, "tim@example.com", "Tim Trainee", trainee=True, supervisor="sue@example.com")
    await open_case(app, sink, "tim@example.com")
    [forward] = inbox(sink, "tim@example.com")
    before = len(inbox(sink, CUSTOMER))

    await send_as_staff(app, client_reply(forward, "Tim <tim@example.com>", "Turn it off and on again lol"))
    await settle(app)
    assert len(inbox(sink, CUSTOMER)) == before                     # held, not sent
    assert (await tickets.show_ticket(app.ctx, 1))["status"] == "awaiting approval"
    [request] = inbox(sink, "sue@example.com")
    assert request["Subject"] == "[MG#1] Approve draft #1: Printer broken"
    assert "Turn it off and on again lol" in body_of(request)
    assert "My printer is on fire." in body_of(request)              # the customer's message too
    assert request["Reply-To"].addresses[0].addr_spec.startswith("support+c1s1a.")

    edited = "Please switch the printer off and unplug it; a technician is on the way.\n#approve"
    await send_as_staff(app, client_reply(request, "Sue <sue@example.com>", edited))
    await settle(app)
    sent = inbox(sink, CUSTOMER)[-1]
    assert body_of(sent).startswith("Please switch the printer off and unplug it; a technician is on")
    assert "lol" not in body_of(sent) and "#approve" not in body_of(sent)
    assert (await tickets.show_ticket(app.ctx, 1))["status"] == "waiting for customer"
    assert (await approvals.list_drafts(app.ctx, all_states=True))[0]["state"] == "approved"

    # Approving again (a second copy of the mail, or the CLI) sends nothing more.
    await send_as_staff(app, client_reply(request, "Sue <sue@example.com>", "#approve"))
    await settle(app)
    assert len(inbox(sink, CUSTOMER)) == before + 1
    assert "already approved" in body_of(inbox(sink, "sue@example.com")[-1])


async def test_rejected_draft_goes_back_to_the_trainee_and_cli_approval(app: App, sink: SmtpSink) -> None:
    await add_staff(app, "sue@example.com", "Sue", pools=(), roles=("supervisor",))
    await add_staff(app, "tim@example.com", "Tim", trainee=True, supervisor="sue@example.com")
    await open_case(app, sink, "tim@example.com")
    [forward] = inbox(sink, "tim@example.com")
    await send_as_staff(app, client_reply(forward, "Tim <tim@example.com>", "Buy a new one."))
    await settle(app)
    [request] = inbox(sink, "sue@example.com")
    await send_as_staff(app, client_reply(request, "Sue <sue@example.com>", "#reject Too short, explain why"))
    await settle(app)
    rejection = inbox(sink, "tim@example.com")[-1]
    assert "sent back" in rejection["Subject"] and "Too short, explain why" in body_of(rejection)
    assert (await tickets.show_ticket(app.ctx, 1))["status"] == "in progress"
    assert [m for m in inbox(sink, CUSTOMER) if "Buy a new one" in body_of(m)] == []

    # Tim tries again; this time the admin approves from the CLI.
    await send_as_staff(app, client_reply(rejection, "Tim <tim@example.com>",
                                          "The fuse is gone; a technician will replace it."))
    await settle(app)
    [pending] = await approvals.list_drafts(app.ctx)
    await approvals.decide_by_admin(app.ctx, pending["id"], True)
    await settle(app)
    assert "The fuse is gone" in body_of(inbox(sink, CUSTOMER)[-1])


async def test_unanswered_approval_reminds_then_escalates_to_the_manager(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    pool = 'mode = "round_robin"\nmanager = "mia@example.com"'
    async with running(make_app(support_pool=pool)) as app:
        await add_staff(app, "mia@example.com", "Mia", pools=(), roles=("manager",))
        await add_staff(app, "sue@example.com", "Sue", pools=(), roles=("supervisor",))
        await add_staff(app, "tim@example.com", "Tim", trainee=True, supervisor="sue@example.com")
        await open_case(app, sink, "tim@example.com")
        await send_as_staff(app, client_reply(inbox(sink, "tim@example.com")[0], "Tim <tim@example.com>",
                                              "Here is the answer."))
        await settle(app)
        clock.advance(hours=4, minutes=1)
        assert (await timers.sweep(app.ctx)).approval_reminders == 1
        assert (await timers.sweep(app.ctx)).approval_reminders == 0     # once
        await settle(app)
        assert inbox(sink, "sue@example.com")[-1]["Subject"].startswith("[MG#1] Reminder: approve draft #1")
        clock.advance(hours=4)
        assert (await timers.sweep(app.ctx)).approval_reminders == 1
        await settle(app)
        [to_mia] = [m for m in inbox(sink, "mia@example.com") if "Approve draft" in m["Subject"]]
        await send_as_staff(app, client_reply(to_mia, "Mia <mia@example.com>", "#approve"))
        await settle(app)
        assert "Here is the answer." in body_of(inbox(sink, CUSTOMER)[-1])


# --- consultations ------------------------------------------------------------------------------

async def test_consultation_answer_threads_back_internal_and_overdue_fires_once(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    async with running(make_app(extra=DEPARTMENTS)) as app:
        await add_staff(app, "bob@example.com", "Bob")
        await open_case(app, sink, "bob@example.com")
        [forward] = inbox(sink, "bob@example.com")
        before = len(inbox(sink, CUSTOMER))
        await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>",
                                              "#consult finance amount=120.50\nIs the refund approved?"))
        await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>",
                                              "#consult legal due=1d Can we refuse the claim?"))
        await settle(app)
        assert (await tickets.show_ticket(app.ctx, 1))["status"] == "under consultation"
        [ask_finance] = inbox(sink, "finance@example.com")
        assert ask_finance["Subject"] == "[MG#1] Question for finance: Printer broken"
        assert "Is the refund approved?" in body_of(ask_finance) and "120.50" in body_of(ask_finance)
        assert ask_finance["Reply-To"].addresses[0].addr_spec.startswith("support+c1s1d.")
        listed = await consultations.list_consultations(app.ctx)
        assert [(c["department"], c["state"], c["amount"]) for c in listed] == [
            ("finance", "open", "120.50"), ("legal", "open", None)]
        assert len(inbox(sink, CUSTOMER)) == before                 # questions never reach the customer

        # Anna at finance answers from her own address; her client dropped References.
        answer = client_reply(ask_finance, "Anna <anna@example.com>", "Yes, refund approved.")
        del answer["References"], answer["In-Reply-To"]
        await send_as_staff(app, answer)
        await settle(app)
        shown = await tickets.show_ticket(app.ctx, 1)
        assert shown["status"] == "under consultation"             # legal is still open
        [internal] = [m for m in shown["messages"] if m["disposition"] == "staff:answer"]
        assert internal["kind"] == "consultation"
        assert (internal["from"], internal["text"]) == ("anna@example.com", "Yes, refund approved.")
        told = inbox(sink, "bob@example.com")[-1]
        assert "finance answered" in told["Subject"] and "Yes, refund approved." in body_of(told)
        assert len(inbox(sink, CUSTOMER)) == before
        listed = await consultations.list_consultations(app.ctx)
        assert (listed[0]["state"], listed[0]["answered_by"]) == ("answered", "anna@example.com")

        # Legal is late: one reminder to legal and one to Bob, however often the sweep runs.
        clock.advance(days=1, minutes=1)
        assert [c["department"] for c in await consultations.list_consultations(app.ctx, overdue=True)] == [
            "legal"]
        assert (await timers.sweep(app.ctx)).consultations_overdue == 1
        assert (await timers.sweep(app.ctx)).consultations_overdue == 0
        await settle(app)
        assert [m["Subject"] for m in inbox(sink, "legal@lawyers.example")][-1].startswith("[MG#1] Overdue")
        assert inbox(sink, "bob@example.com")[-1]["Subject"].startswith("[MG#1] Overdue")

        # Legal answers by the subject tag only: still internal, and the case is back in progress.
        await send(app, mail(sender="Legal <legal@lawyers.example>", subject="Re: [MG#1] Printer broken",
                             body="You may refuse it.\n"), mail_from="legal@lawyers.example")
        await settle(app)
        shown = await tickets.show_ticket(app.ctx, 1)
        assert shown["status"] == "in progress"
        assert [m["text"] for m in shown["messages"] if m["disposition"] == "staff:answer"][-1] == (
            "You may refuse it.")


# --- questionnaire on close ---------------------------------------------------------------------

async def test_close_asks_the_questionnaire_and_closes_once_answered(
        make_app: Callable[..., App], sink: SmtpSink) -> None:
    async with running(make_app(extra=DEPARTMENTS, support_pool=QUESTIONNAIRE)) as app:
        await add_staff(app, "bob@example.com", "Bob")
        await open_case(app, sink, "bob@example.com")
        [forward] = inbox(sink, "bob@example.com")
        await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "#close"))
        await settle(app)
        asked = inbox(sink, "bob@example.com")[-1]
        assert asked["Subject"] == "[MG#1] Before closing: Printer broken"
        assert "#answer product=" in body_of(asked) and "Router X | Router Y | Other" in body_of(asked)
        assert (await tickets.show_ticket(app.ctx, 1))["status"] != "closed"

        await send_as_staff(app, client_reply(asked, "Bob <bob@example.com>", "#answer product=Router Z"))
        await settle(app)
        refusal = body_of(inbox(sink, "bob@example.com")[-1])
        assert "product must be one of Router X, Router Y, Other" in refusal
        await send_as_staff(app, client_reply(asked, "Bob <bob@example.com>",
                                              "#answer product=Router X\n#answer partner=ACME Ltd"))
        await settle(app)
        shown = await tickets.show_ticket(app.ctx, 1)
        assert shown["status"] == "closed"
        assert shown["answers"] == {"product": "Router X", "partner": "ACME Ltd"}
        assert inbox(sink, CUSTOMER)[-1]["Subject"] == "[MG#1] Printer broken"
        assert "is now closed" in body_of(inbox(sink, CUSTOMER)[-1])


# --- timers -------------------------------------------------------------------------------------

async def test_unacknowledged_round_robin_case_rolls_over_and_ack_stops_it(
        app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    await add_staff(app, "ann@example.com", "Ann")
    await add_staff(app, "bob@example.com", "Bob")
    await open_case(app, sink, "ann@example.com")
    await send(app, mail(subject="Second", sender="dan@customer.example"), mail_from="dan@customer.example")
    await settle(app)
    [to_bob] = inbox(sink, "bob@example.com")                        # MG#2 went to Bob in turn
    await send_as_staff(app, client_reply(to_bob, "Bob <bob@example.com>", "#ack"))
    await settle(app)

    clock.advance(hours=4, minutes=1)
    assert (await timers.sweep(app.ctx)).rolled_over == 1           # only Ann's MG#1
    assert (await timers.sweep(app.ctx)).rolled_over == 0
    await settle(app)
    owners = {c["id"]: c["owner"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter())}
    assert owners == {1: "bob@example.com", 2: "bob@example.com"}
    rolled = [m for m in inbox(sink, "bob@example.com") if m["Subject"] == "[MG#1] Printer broken"]
    assert len(rolled) == 1 and "rollover" in body_of(rolled[0])
    assert any("Now with Bob" in m["Subject"] for m in inbox(sink, "ann@example.com"))


async def test_reply_and_customer_deadlines_expire_the_case(
        app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    await open_case(app, sink, "bob@example.com")                    # MG#1: nobody answers
    await send(app, mail(subject="Other", sender="dan@customer.example"), mail_from="dan@customer.example")
    await settle(app)
    to_bob = [m for m in inbox(sink, "bob@example.com") if m["Subject"] == "[MG#2] Other"]
    await send_as_staff(app, client_reply(to_bob[0], "Bob <bob@example.com>", "Here you go."))
    await settle(app)                                                # MG#2: answered, customer silent

    clock.advance(days=14, minutes=1)
    assert (await timers.sweep(app.ctx)).expired == 1
    await settle(app)
    assert (await tickets.show_ticket(app.ctx, 2))["status"] == "expired awaiting customer"
    assert "not heard back" in body_of(inbox(sink, "dan@customer.example")[-1])
    clock.advance(days=16)
    assert (await timers.sweep(app.ctx)).expired == 1
    assert (await tickets.show_ticket(app.ctx, 1))["status"] == "expired unanswered"
    assert (await timers.sweep(app.ctx)).expired == 0


async def test_a_deadline_that_passed_while_the_daemon_was_down_fires_once_on_restart(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    async with running(make_app()) as app:
        await send(app, mail())
        await settle(app)
    clock.advance(days=31)
    async with running(make_app()) as app:
        await settle(app)
        for _ in range(100):                                         # the start-up sweep
            if await events(app, 1, "expired"):
                break
            await settle(app, 0.1)
        assert (await tickets.show_ticket(app.ctx, 1))["status"] == "expired unanswered"
        assert (await timers.sweep(app.ctx)).expired == 0
    async with running(make_app()) as app:
        await settle(app)
        assert await events(app, 1, "expired") == ["no answer by the reply deadline"]


async def test_daily_digest_to_the_pool_manager_once_a_day(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    async with running(make_app(support_pool='mode = "manager"\nmanager = "mia@example.com"')) as app:
        await add_staff(app, "mia@example.com", "Mia", pools=(), roles=("manager",))
        await send(app, mail())
        await settle(app)
        clock.advance(days=1)
        assert (await timers.sweep(app.ctx)).digests == 1
        assert (await timers.sweep(app.ctx)).digests == 0
        await settle(app)
        today = clock.now().date().isoformat()     # (the start-up sweep may have sent yesterday's)
        [digest] = [m for m in inbox(sink, "mia@example.com")
                    if m["Subject"].startswith("Pool support") and today in m["Subject"]]
        assert "MG#1" in body_of(digest) and "(unassigned)" in body_of(digest)
        assert digest["Subject"].startswith("Pool support: 1 open item(s)")
        act = re.search(r"act on it: mailto:(support\+c1s\S+@example\.com)\?subject=MG#1", body_of(digest))
        assert act, body_of(digest)
        # Mia acts on the case from the digest: a mail to that address is her reply on MG#1.
        await add_staff(app, "bob@example.com", "Bob")
        order = mail(sender="Mia <mia@example.com>", to=act[1], subject="Re: MG#1", body="#assign bob\n")
        await send(app, order, mail_from="mia@example.com", rcpts=[act[1]])
        await settle(app)
        assert (await tickets.show_ticket(app.ctx, 1))["owner"] == "bob@example.com"



@pytest.mark.reliability(72)
async def test_clock_jumps_and_a_dst_change_fire_each_deadline_and_digest_once(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    # Budapest leaves summer time at 01:00 UTC on 25 October 2026: that day has 25 hours there.
    clock.current = datetime(2026, 10, 24, 5, 0, tzinfo=UTC)
    pool = 'mode = "manager"\nmanager = "mia@example.com"'
    async with running(make_app(support_pool=pool, gateway_extra='timezone = "Europe/Budapest"')) as app:
        await add_staff(app, "mia@example.com", "Mia", pools=(), roles=("manager",))
        await send(app, mail())
        await settle(app)

        def digests() -> list[str]:
            return [m["Subject"] for m in inbox(sink, "mia@example.com") if m["Subject"].startswith("Pool")]

        for _ in range(3 * 24):                           # hourly sweeps over three days and the change
            clock.advance(hours=1)
            await timers.sweep(app.ctx)
        await settle(app)
        assert len(digests()) == 3 and sorted(d[-10:] for d in digests()) == [
            "2026-10-24", "2026-10-25", "2026-10-26"], digests()
        # The 27th's digest at 08:00; then the clock is set back three hours (a bad NTP step),
        # then to the 26th after 07:00 (by hand), and runs on.
        for step in (+3, -3, -21, +1, +1):
            clock.advance(hours=step)
            await timers.sweep(app.ctx)
        await settle(app)
        assert sorted(d[-10:] for d in digests())[-2:] == ["2026-10-26", "2026-10-27"]
        assert len(digests()) == 4         # only the 27th is new, and it is sent though the clock
                                           # went back past the time it was queued
        # A deadline fires once after a jump forward, and not again after a jump back.
        clock.advance(days=31)
        assert (await timers.sweep(app.ctx)).expired == 1
        await settle(app)
        mails = len(sink.received)
        clock.advance(days=-10)
        assert (await timers.sweep(app.ctx)).expired == 0
        clock.advance(days=11)
        assert (await timers.sweep(app.ctx)).expired == 0
        await settle(app)
        assert await events(app, 1, "expired") == ["no answer by the reply deadline"]
        assert (await tickets.show_ticket(app.ctx, 1))["status"] == "expired unanswered"
        assert len(sink.received) == mails                # nothing said twice


async def test_an_absent_supervisors_approvals_go_to_the_deputy(
        app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    await add_staff(app, "sue@example.com", "Sue", pools=(), roles=("supervisor",))
    await add_staff(app, "dex@example.com", "Dex", pools=(), roles=("supervisor",))
    await add_staff(app, "tim@example.com", "Tim", trainee=True, supervisor="sue@example.com")
    await staff.set_absent(app.ctx, "sue@example.com", clock.now().replace(year=2027), "dex@example.com")
    await open_case(app, sink, "tim@example.com")
    await send_as_staff(app, client_reply(inbox(sink, "tim@example.com")[0], "Tim <tim@example.com>",
                                          "The part ships tomorrow."))
    await settle(app)
    assert inbox(sink, "sue@example.com") == []
    [request] = inbox(sink, "dex@example.com")
    await send_as_staff(app, client_reply(request, "Dex <dex@example.com>", "#approve"))
    await settle(app)
    assert "The part ships tomorrow." in body_of(inbox(sink, CUSTOMER)[-1])


async def test_a_trainees_consultation_waits_for_approval_too(
        make_app: Callable[..., App], sink: SmtpSink) -> None:
    async with running(make_app(extra=DEPARTMENTS)) as app:
        await add_staff(app, "sue@example.com", "Sue", pools=(), roles=("supervisor",))
        await add_staff(app, "tim@example.com", "Tim", trainee=True, supervisor="sue@example.com")
        await open_case(app, sink, "tim@example.com")
        await send_as_staff(app, client_reply(inbox(sink, "tim@example.com")[0], "Tim <tim@example.com>",
                                              "#consult finance due=1d\nMay we refund 50 EUR?"))
        await settle(app)
        assert inbox(sink, "finance@example.com") == []               # held: outbound mail a trainee causes
        [request] = inbox(sink, "sue@example.com")
        assert "#consult finance due=1d" in body_of(request) and "May we refund 50 EUR?" in body_of(request)
        await send_as_staff(app, client_reply(request, "Sue <sue@example.com>", "#approve"))
        await settle(app)
        [asked] = inbox(sink, "finance@example.com")
        assert "May we refund 50 EUR?" in body_of(asked)
        assert (await tickets.show_ticket(app.ctx, 1))["status"] == "under consultation"
        [listed] = await consultations.list_consultations(app.ctx)
        assert listed["department"] == "finance"

"""Whole exchanges over SMTP: customer mail → case → auto-response at the relay → threaded replies."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailgate.app import App
from mailgate.services import tickets
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.mailer import mail, send, text_of


async def _cases(app: App) -> list[dict[str, object]]:
    return await tickets.list_tickets(app.ctx, tickets.TicketFilter())


async def test_new_mail_opens_case_and_auto_response_reaches_relay(app: App, sink: SmtpSink) -> None:
    original = mail(subject="Printer broken")
    await send(app, original)
    await settle(app)

    cases = await _cases(app)
    assert [(c["tag"], c["subject"], c["status"], c["requester"]) for c in cases] == [
        ("MG#1", "Printer broken", "received", "carol@customer.example")]
    [received] = sink.received
    assert received.mail_from in ("", "<>")              # RFC 3834 §3.3: null return path
    assert received.rcpt_tos == ["carol@customer.example"]
    reply = received.message
    assert reply["Subject"] == "[MG#1] Printer broken"
    assert reply["From"] == "Example Support <support@example.com>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in reply["References"]
    assert "MG#1" in text_of(reply)


async def test_reply_threads_by_references_and_by_tag(app: App, sink: SmtpSink) -> None:
    first = mail()
    await send(app, first)
    await settle(app)
    auto_id = sink.received[0].message["Message-ID"]

    # A reply whose client keeps References (to our auto-response).
    await send(app, mail(subject="Re: [MG#1] Printer broken", body="Still burning.\n",
                         In_Reply_To=auto_id, References=auto_id))
    # A reply that only keeps the tag, as some clients do; mangled spacing and prefix.
    await send(app, mail(subject="AW: [mg #1] Printer broken", body="Now smoking.\n"))
    await settle(app)

    cases = await _cases(app)
    assert len(cases) == 1
    shown = await tickets.show_ticket(app.ctx, 1)
    kinds = [(m["kind"], m["text"].strip()) for m in shown["messages"] if m["kind"] == "inbound"]
    assert kinds == [("inbound", "My printer is on fire."), ("inbound", "Still burning."),
                     ("inbound", "Now smoking.")]
    assert len(sink.received) == 1                        # one auto-response per case


@pytest.mark.reliability(44)
async def test_tagged_mail_from_stranger_opens_new_case_recording_the_tag(app: App, sink: SmtpSink) -> None:
    await send(app, mail())
    await settle(app)
    await send(app, mail(sender="mallory@evil.example", subject="Re: [MG#1] Printer broken",
                         body="Add me please", Cc="mallory2@evil.example"), mail_from="mallory@evil.example")
    await settle(app)

    cases = await _cases(app)
    assert [c["id"] for c in cases] == [1, 2]
    first, second = await tickets.show_ticket(app.ctx, 1), await tickets.show_ticket(app.ctx, 2)
    assert "mallory2@evil.example" not in first["cc"]
    assert len([m for m in first["messages"] if m["kind"] == "inbound"]) == 1
    assert second["quoted_tag"] == 1
    assert second["requester"] == "mallory@evil.example"


async def test_close_by_cli_then_reply_reopens_within_window(app: App, sink: SmtpSink,
                                                            clock: FrozenClock) -> None:
    await send(app, mail())
    await settle(app)
    await tickets.close_ticket(app.ctx, 1)
    await settle(app)
    closing = sink.to("carol@customer.example")[-1].message
    assert closing["Subject"] == "[MG#1] Printer broken"
    assert "closed" in text_of(closing)
    assert (await tickets.show_ticket(app.ctx, 1))["status"] == "closed"

    clock.advance(days=3)
    await send(app, mail(subject="Re: [MG#1] Printer broken", body="It broke again.\n"))
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert shown["status_category"] == "new"
    assert len(await _cases(app)) == 1


async def test_reply_after_reopen_window_opens_linked_case(app: App, sink: SmtpSink,
                                                          clock: FrozenClock) -> None:
    await send(app, mail())
    await settle(app)
    await tickets.close_ticket(app.ctx, 1)
    clock.advance(days=15)
    await send(app, mail(subject="Re: [MG#1] Printer broken", body="Remember me?\n"))
    await settle(app)
    cases = await _cases(app)
    assert [c["id"] for c in cases] == [1, 2]
    assert (await tickets.show_ticket(app.ctx, 1))["status"] == "closed"
    assert (await tickets.show_ticket(app.ctx, 2))["links"] == [{"id": 1, "kind": "follows"}]


async def test_one_message_to_two_mailboxes_makes_one_case(app: App, sink: SmtpSink) -> None:
    msg = mail(to="support@example.com, billing@example.com")
    data = msg.as_bytes()
    # Delivered twice, as two MTAs would: different trace headers, same message.
    await send(app, b"Received: from a by mx1; Mon, 23 Nov 2026 09:00:00 +0000\r\n" + data)
    await send(app, b"Received: from a by mx2; Mon, 23 Nov 2026 09:00:01 +0000\r\n" + data,
               rcpts=["billing@example.com"])
    await send(app, data, rcpts=["support@example.com", "billing@example.com"])
    await settle(app)
    assert len(await _cases(app)) == 1
    assert len(sink.received) == 1


async def test_auto_responses_are_capped_per_sender_per_day(app: App, sink: SmtpSink) -> None:
    for i in range(5):
        await send(app, mail(subject=f"Question {i}"))
    await settle(app)
    assert len(await _cases(app)) == 5
    assert len(sink.to("carol@customer.example")) == 3   # autoresponse_daily_limit in the test config


async def test_restart_keeps_cases_and_sends_what_was_queued(make_app: Callable[..., App],
                                                            sink: SmtpSink) -> None:
    first = make_app()
    async with running(first):
        await send(first, mail())
        await settle(first)
    second = make_app()
    async with running(second):
        await send(second, mail(subject="Second question"))
        await settle(second)
        assert [c["id"] for c in await _cases(second)] == [1, 2]
    assert len(sink.received) == 2

"""Loop, bounce and storm protection through the running daemon (RELIABILITY rows 25-33, 59)."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from mailgate.app import App
from mailgate.services import quarantine, tickets
from mailgate.storage.models import AddressHealth, Inbound, TicketEvent
from tests.conftest import settle
from tests.fakes import SmtpSink
from tests.mailer import mail, send


async def _open_case(app: App, sink: SmtpSink) -> EmailMessage:
    await send(app, mail())
    await settle(app)
    return sink.received[0].message


async def _inbound_states(app: App) -> list[tuple[str, str]]:
    rows = await app.ctx.db.run(
        lambda s: s.execute(select(Inbound.state, Inbound.reason).order_by(Inbound.id)).all())
    return [(state, reason) for state, reason in rows]


@pytest.mark.reliability(25)
async def test_out_of_office_answering_our_auto_response_is_recorded_without_reply(
        app: App, sink: SmtpSink) -> None:
    ours = await _open_case(app, sink)
    ooo = mail(subject=f"Automatic reply: {ours['Subject']}", body="I am away until Monday.\n",
               Auto_Submitted="auto-replied", In_Reply_To=ours["Message-ID"])
    await send(app, ooo)
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert [m["disposition"] for m in shown["messages"] if m["kind"] == "inbound"] == [
        "personal", "auto_reply"]
    assert shown["status"] == "received"
    assert len(sink.received) == 1


@pytest.mark.reliability(26)
async def test_vacation_reply_without_rfc3834_headers_is_recognised(app: App, sink: SmtpSink) -> None:
    ours = await _open_case(app, sink)
    await send(app, mail(subject=f"Out of Office: {ours['Subject']}", body="Back soon\n",
                         References=ours["Message-ID"]))
    await settle(app)
    assert len(sink.received) == 1
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1


async def test_unmatched_auto_reply_is_quarantined_not_a_case(app: App, sink: SmtpSink) -> None:
    await send(app, mail(subject="Auto: on leave", Auto_Submitted="auto-replied"))
    await settle(app)
    assert await tickets.list_tickets(app.ctx, tickets.TicketFilter()) == []
    [entry] = await quarantine.list_quarantine(app.ctx)
    assert entry["reason"].startswith("auto-reply")
    assert sink.received == []


@pytest.mark.reliability(28)
async def test_mail_from_our_own_address_is_quarantined(app: App, sink: SmtpSink) -> None:
    await send(app, mail(sender="Example Support <support@example.com>"), mail_from="support@example.com")
    await settle(app)
    assert await tickets.list_tickets(app.ctx, tickets.TicketFilter()) == []
    assert (await _inbound_states(app))[0][1].startswith("loop")
    assert sink.received == []


@pytest.mark.reliability(27)
async def test_our_auto_response_fed_back_in_is_a_loop(app: App, sink: SmtpSink) -> None:
    await _open_case(app, sink)
    await send(app, sink.received[0].data, mail_from="")
    await settle(app)
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1
    assert (await _inbound_states(app))[-1] == ("quarantined", "loop: mail from this gateway")
    assert len(sink.received) == 1


def _dsn(original: EmailMessage, status: str, action: str, n: int = 1) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        "To: support@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{n}@mx.customer.example>\r\nAuto-Submitted: auto-replied\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n"
        f"Final-Recipient: rfc822; carol@customer.example\r\nAction: {action}\r\nStatus: {status}\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original['Message-ID']}\r\nSubject: {original['Subject']}\r\n\r\n--B--\r\n"
    ).encode()


@pytest.mark.reliability(29, 30)
async def test_bounce_of_our_mail_is_stored_on_the_case_never_answered(app: App, sink: SmtpSink) -> None:
    ours = await _open_case(app, sink)
    await send(app, _dsn(ours, "5.1.1", "failed"), mail_from="")
    await send(app, _dsn(ours, "4.4.7", "delayed").replace(b"dsn-1", b"dsn-2"), mail_from="")
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert [m["disposition"] for m in shown["messages"] if m["kind"] == "inbound"] == [
        "personal", "bounce", "bounce"]
    assert len(sink.received) == 1
    assert shown["status"] == "received"


async def test_bounce_referring_to_nothing_is_quarantined(app: App, sink: SmtpSink) -> None:
    stranger = mail(message_id="<unknown@elsewhere.example>")
    await send(app, _dsn(stranger, "5.1.1", "failed"), mail_from="")
    await settle(app)
    assert await tickets.list_tickets(app.ctx, tickets.TicketFilter()) == []
    [entry] = await quarantine.list_quarantine(app.ctx)
    assert entry["reason"].startswith("bounce")


@pytest.mark.reliability(32)
async def test_newsletter_makes_a_case_without_auto_response(app: App, sink: SmtpSink) -> None:
    await send(app, mail(sender="news@shop.example", subject="Our November deals", Precedence="bulk",
                         List_Id="<deals.shop.example>", List_Unsubscribe="<mailto:u@shop.example>"),
               mail_from="bounces@shop.example")
    await settle(app)
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1
    assert sink.received == []


@pytest.mark.reliability(31)
async def test_null_return_path_is_never_answered(app: App, sink: SmtpSink) -> None:
    await send(app, mail(subject="Hello from a robot"), mail_from="")
    await settle(app)
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1
    assert sink.received == []


@pytest.mark.reliability(33)
async def test_a_storm_from_one_sender_is_all_stored_and_answered_at_most_the_cap(
        app: App, sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mailgate.alert")
    for i in range(60):
        await send(app, mail(subject=f"Spam {i}", body=f"number {i}\n"))
    await settle(app, seconds=60)
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 60
    assert len(sink.received) == 3
    alerts = [r.getMessage() for r in caplog.records if r.name == "mailgate.alert"]
    assert alerts == ["alert kind=sender_storm key=carol@customer.example auto-responses capped at 3 in 24h"]


@pytest.mark.reliability(41)
async def test_forged_mailgate_control_headers_have_no_effect(app: App, sink: SmtpSink) -> None:
    await send(app, mail(X_Mailgate_Loop="guess", X_Mailgate_Queue="vip", X_Mailgate_Approved="yes"))
    await settle(app)
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1
    assert len(sink.received) == 1


async def _health(app: App) -> list[tuple[str, int, int, bool]]:
    rows = await app.ctx.db.run(lambda s: s.execute(select(
        AddressHealth.address, AddressHealth.hard_bounces, AddressHealth.soft_bounces,
        AddressHealth.suppressed)).all())
    return [(a, h, soft, sup) for a, h, soft, sup in rows]


@pytest.mark.reliability(29, 30)
async def test_hard_bounces_suppress_an_address_until_it_writes_again(app: App, sink: SmtpSink) -> None:
    ours = await _open_case(app, sink)
    for n in range(1, 4):     # threshold 3; the delayed ones only count as soft
        await send(app, _dsn(ours, "4.4.7", "delayed", n=10 + n), mail_from="")
        await send(app, _dsn(ours, "5.1.1", "failed", n=n), mail_from="")
        await settle(app)
        assert await _health(app) == [("carol@customer.example", n, n, n == 3)]

    await tickets.close_ticket(app.ctx, 1)             # would mail carol "case closed"
    await settle(app)
    assert len(sink.received) == 1                     # suppressed: not mailed
    history = await app.ctx.db.run(lambda s: s.scalars(
        select(TicketEvent.detail).where(TicketEvent.kind.in_(["bounce", "not_sent"]))).all())
    assert history[-1] == "carol@customer.example: address bounces"
    assert "carol@customer.example 5.1.1 hard (3 hard) - suppressed" in history

    await send(app, mail(subject="New question"))      # carol writes again: the address works
    await settle(app)
    assert await _health(app) == []
    assert sink.received[-1].message["Subject"] == "[MG#2] New question"


@pytest.mark.reliability(59)
async def test_relay_550_fails_the_row_notes_the_case_and_counts_a_hard_bounce(
        app: App, sink: SmtpSink) -> None:
    sink.rcpt_replies = ["550 5.1.1 no such user"]
    await send(app, mail())
    await settle(app)
    assert await _health(app) == [("carol@customer.example", 1, 0, False)]
    history = await app.ctx.db.run(lambda s: s.scalars(
        select(TicketEvent.detail).where(TicketEvent.kind == "delivery_failed")).all())
    assert history == ["to carol@customer.example: 550 5.1.1 no such user"]

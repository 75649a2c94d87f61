"""What an outside attack run found (issue 12), each reproduced against the running daemon:
an ambiguous From never becomes a recipient; a large attachment costs bounded memory; one slow
relay reply does not hold up other mail; a NUL byte is an ordinary case on every database; and
no message body reaches the log."""

from __future__ import annotations

import asyncio
import email.policy
import os
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from mailgate.app import App
from mailgate.services import quarantine, staff, tickets
from mailgate.storage import inbound, migrate
from tests.conftest import BACKEND, SECRET, running, settle, write_config
from tests.fakes import SmtpSink
from tests.integration.test_operators import add_staff, client_reply, inbox, send_as_staff
from tests.mailer import mail, send, text_of
from tests.processes import Daemon

ATTACHMENT = 24_000_000


def big_mail() -> bytes:
    """A 33 MB message: a short text and a 24 MB attachment (base64 in the message)."""
    msg = EmailMessage()
    msg["From"] = "Carol <carol@customer.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = "The scan you asked for"
    msg.set_content("Here is the scan.\n")
    msg.add_attachment(os.urandom(ATTACHMENT), maintype="application", subtype="octet-stream",
                       filename="scan.bin")
    return msg.as_bytes(policy=email.policy.SMTP)


async def test_a_24_mb_attachment_costs_at_most_about_two_copies_of_the_message(
        tmp_path: Path, database_url: str, sink: SmtpSink) -> None:
    config = write_config(tmp_path, database_url, sink.port, max_size="40MB")
    await asyncio.to_thread(migrate.upgrade, config.database_url)
    setup = App.build(config)
    try:
        await staff.add_user(setup.ctx, "bob@example.com", staff.StaffEdit(name="Bob", pools=("support",)))
    finally:
        await setup.ctx.db.dispose()
    daemon = Daemon(tmp_path / "daemon", config.path.read_text(), SECRET)
    try:
        await daemon.ready()
        await asyncio.sleep(1.0)                     # start-up done: the sweep, the first polls
        idle = daemon.peak_rss_mb()
        data = big_mail()
        await daemon.send(data, "carol@customer.example", "support@example.com")
        for _ in range(600):                         # the auto-response and the forward to Bob
            if len(sink.received) >= 2:
                break
            await asyncio.sleep(0.1)
        forward = next(r.message for r in sink.received if "bob@example.com" in r.rcpt_tos)
        [attached] = list(forward.iter_attachments())
        assert len(attached.get_content()) == ATTACHMENT     # the whole file reached Bob
        growth = daemon.peak_rss_mb() - idle
    finally:
        daemon.stop()
    print(f"peak RSS growth for a {len(data) / 1e6:.1f} MB message ({BACKEND}): {growth:.0f} MB")
    # About two copies of the message beyond idle (measured: 90 MB on SQLite, 97 on PostgreSQL;
    # before: 460 and 559).
    assert growth <= 100, growth


def ambiguous(kind: str) -> bytes:
    """A mail whose From a lenient parser reads as alice, sent by attacker@evil.example."""
    froms = {
        "angle": "From: alice@customer.example<attacker@evil.example>\r\n",
        "comment": "From: alice@customer.example (<attacker@evil.example>)\r\n",
        "two": "From: alice@customer.example\r\nFrom: attacker@evil.example\r\n",
    }[kind]
    return (f"{froms}To: support@example.com\r\nCc: mallory@evil.example\r\n"
            f"Subject: Refund to my new account\r\nMessage-ID: <{kind}@evil.example>\r\n\r\n"
            "Please send my refund to IBAN X.\r\n").encode()


@pytest.mark.parametrize("kind", ["angle", "comment", "two"])
async def test_an_ambiguous_from_never_becomes_a_recipient(app: App, sink: SmtpSink, kind: str) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    await send(app, ambiguous(kind), mail_from="attacker@evil.example")
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert (shown["requester"], shown["cc"]) == ("", [])
    assert shown["messages"][0]["from"].startswith("unverified: ")
    assert sink.to("alice@customer.example") == sink.to("attacker@evil.example") == []   # no auto-response
    assert sink.to("mallory@evil.example") == []
    [forward] = inbox(sink, "bob@example.com")
    assert "WARNING: the sender could not be verified" in text_of(forward)
    assert "mailgate ticket edit 1 --requester ADDRESS" in text_of(forward)

    # Bob answers anyway: nothing is relayed, and he is told why and what an admin can do.
    await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "Done, refund sent."))
    await settle(app)
    assert sink.to("alice@customer.example") == sink.to("attacker@evil.example") == []
    assert "its sender could not be verified" in text_of(inbox(sink, "bob@example.com")[-1])

    # An admin who checked decides who the requester is; then Bob's answer goes out.
    await tickets.edit_ticket(app.ctx, 1, tickets.TicketEdit(requester="alice@customer.example"))
    await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "Your refund is on its way."))
    await settle(app)
    [answer] = sink.to("alice@customer.example")
    assert "Your refund is on its way." in text_of(answer.message)


@pytest.mark.reliability(61)
async def test_one_slow_destination_does_not_hold_up_the_others(
        make_app: Callable[..., App], sink: SmtpSink) -> None:
    sink.slow = {"slow@customer.example": 12.0}        # a tarpit: RCPT answered after 12 s
    async with running(make_app(relay_timeout="30s")) as app:
        loop = asyncio.get_running_loop()
        await send(app, mail(sender="Slow <slow@customer.example>", subject="First"),
                   mail_from="slow@customer.example")
        started = loop.time()
        others = [f"c{n}@customer.example" for n in range(3)]
        for n, address in enumerate(others):
            await send(app, mail(sender=address, subject=f"Question {n}"), mail_from=address)
        arrived: dict[str, float] = {}
        while len(arrived) < 4 and loop.time() - started < 30:
            for address in (*others, "slow@customer.example"):
                if address not in arrived and sink.to(address):
                    arrived[address] = loop.time() - started
            app.outbox_ready.notify()
            await asyncio.sleep(0.05)
        print("arrival after the slow one was handed over (s):", {a: round(t, 2) for a, t in arrived.items()})
        assert all(arrived[a] < 2.0 for a in others), arrived             # the others were not held up
        assert arrived["slow@customer.example"] > 11                       # the tarpit really tarpitted


async def test_a_nul_byte_in_a_body_is_an_ordinary_case(app: App, sink: SmtpSink) -> None:
    raw = (b"From: Carol <carol@customer.example>\r\nTo: support@example.com\r\nSubject: Odd\x00 bytes\r\n"
           b"Message-ID: <nul@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
           b"Line one\x00line two.\r\n")
    await send(app, raw)
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert shown["messages"][0]["text"] == "Line one\ufffdline two." and shown["subject"] == "Odd bytes"
    assert len(sink.to("carol@customer.example")) == 1                 # the auto-response went out
    assert await quarantine.list_quarantine(app.ctx) == []
    stored = await app.ctx.db.run(lambda s: inbound.raw_of(s, 1))
    assert stored == raw                                                # the raw bytes stay exact


async def test_a_database_error_keeps_bodies_out_of_the_log_and_the_quarantine(
        app: App, sink: SmtpSink, caplog: pytest.LogCaptureFixture) -> None:
    marker = "BODY-MARKER-7f3a9c"
    await app.ctx.db.run(lambda s: s.execute(text("ALTER TABLE message RENAME TO message_gone")))
    try:
        await send(app, mail(subject=f"Subject {marker}", body=f"Secret text {marker}\n",
                             sender=f"Carol {marker} <carol@customer.example>"))
        await settle(app)
    finally:
        await app.ctx.db.run(lambda s: s.execute(text("ALTER TABLE message_gone RENAME TO message")))
    [held] = await quarantine.list_quarantine(app.ctx)
    assert held["reason"].startswith("processing error: ") and marker not in held["reason"]
    assert "INSERT" not in held["reason"] and len(held["reason"]) < 300
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "process_failed" in logged or "ingest_failed" in logged       # the failure was logged...
    assert marker not in logged                                         # ...without the message in it

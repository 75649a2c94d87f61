"""The built-in SMTP/LMTP receiver: who may send to what, size limits, durability, smuggling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiosmtplib
import pytest
from sqlalchemy import func, select, text

from mailgate.app import App
from mailgate.intake.inbox import RawMessage, Receipt
from mailgate.intake.smtp import IntakeHandler, Recipients, start_server
from mailgate.mail.parse import parse
from mailgate.services import ingest
from mailgate.storage import inbound
from mailgate.storage.models import Inbound, Ticket
from tests.conftest import running, settle
from tests.fakes import SmtpSink
from tests.mailer import mail, send


async def _count(app: App, model: type[object]) -> int:
    return int(await app.ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(model))) or 0)


async def test_unknown_recipient_is_refused_at_rcpt(app: App) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as info:
        await send(app, mail(to="nobody@example.com"), rcpts=["nobody@example.com"])
    assert info.value.recipients[0].code == 550
    assert await _count(app, Inbound) == 0


async def test_subaddress_of_a_supervised_mailbox_is_accepted(app: App) -> None:
    await send(app, mail(to="support+orders@example.com"), rcpts=["support+orders@example.com"])
    await settle(app)
    assert await _count(app, Ticket) == 1


@pytest.mark.reliability(13)
async def test_oversized_message_gets_552_and_is_not_stored(make_app: Callable[..., App]) -> None:
    async with running(make_app(max_size="10KB")) as app:
        big = mail(body="x" * 70 + "\n" * 1 + ("y" * 70 + "\n") * 300)
        with pytest.raises(aiosmtplib.SMTPResponseException) as info:
            await send(app, big)
        assert info.value.code == 552
        assert await _count(app, Inbound) == 0


@pytest.mark.reliability(62)
async def test_database_failure_answers_451_never_250(app: App, sink: SmtpSink) -> None:
    # Make the inbound table unwritable: rename it behind the daemon's back.
    await app.ctx.db.run(lambda s: s.execute(text("ALTER TABLE inbound RENAME TO inbound_gone")))
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await send(app, mail())
    assert info.value.code == 451
    await app.ctx.db.run(lambda s: s.execute(text("ALTER TABLE inbound_gone RENAME TO inbound")))
    # The client retries, as MTAs do, and now it is stored.
    await send(app, mail(message_id="<retry@customer.example>"))
    await settle(app)
    assert await _count(app, Ticket) == 1


async def test_redelivery_of_the_same_message_creates_nothing_new(app: App, sink: SmtpSink,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[bytes] = []
    monkeypatch.setattr(ingest, "parse", lambda raw, limits: parsed.append(raw) or parse(raw, limits))
    msg = mail()
    for _ in range(3):
        await send(app, msg)
    await settle(app)
    assert len(parsed) == 1                 # the copies already stored were not parsed again
    assert await _count(app, Inbound) == 1
    assert await _count(app, Ticket) == 1
    assert len(sink.received) == 1


async def test_long_lines_are_accepted_not_bounced(app: App) -> None:
    await send(app, mail(body="word " * 1000 + "\n"))
    await settle(app)
    assert await _count(app, Ticket) == 1


async def _reply(reader: asyncio.StreamReader) -> bytes:
    """Read one whole (possibly multi-line) SMTP reply; b'' if none comes within 2 s."""
    try:
        while (line := await asyncio.wait_for(reader.readline(), 2))[3:4] == b"-":
            pass
    except TimeoutError:
        return b""
    return line


async def _raw_session(port: int, script: list[bytes]) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = [await _reply(reader)]
    for chunk in script:
        writer.write(chunk)
        await writer.drain()
        replies.append(await _reply(reader))
    writer.write(b"QUIT\r\n")
    await _reply(reader)
    writer.close()
    return replies


@pytest.mark.reliability(23)
async def test_bare_lf_dot_does_not_smuggle_a_second_message(app: App) -> None:
    # RELIABILITY row 23: '<LF>.<LF>' / '<LF>.<CR><LF>' must not end DATA.
    smuggled = (b"From: carol@customer.example\r\nTo: support@example.com\r\nSubject: one\r\n\r\n"
                b"first\n.\r\nMAIL FROM:<mallory@evil.example>\r\nRCPT TO:<support@example.com>\r\n"
                b"DATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\n")
    replies = await _raw_session(app.smtp_port, [
        b"EHLO x\r\n", b"MAIL FROM:<carol@customer.example>\r\n", b"RCPT TO:<support@example.com>\r\n",
        b"DATA\r\n", smuggled])
    assert replies[-1].startswith(b"250")
    await settle(app)
    subjects = await app.ctx.db.run(lambda s: list(s.scalars(select(Ticket.subject))))
    assert subjects == ["one"]


async def test_stuffed_dots_and_long_lines_arrive_as_the_sender_wrote_them(app: App) -> None:
    # aiosmtplib dot-stuffs; the receiver reads DATA up to each '.<CRLF>' and must unstuff
    # every line start, also where a line of the message ends with a dot.
    body = "Thanks.\n.hidden dot line\n..two dots\n.\nend.\n" + "z" * 5000 + ".\n"
    msg = mail(body=body, message_id="<dots@customer.example>")
    await send(app, msg)
    await settle(app)
    raw = await app.ctx.db.run(lambda s: inbound.raw_of(s, 1))
    assert raw == msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert b"\r\n.hidden dot line\r\n..two dots\r\n.\r\nend.\r\n" in raw


async def test_a_mail_from_that_trips_the_header_parser_is_malformed_not_a_retry(app: App) -> None:
    replies = await _raw_session(app.smtp_port, [b"EHLO x\r\n", b"MAIL FROM:<0@[>\r\n",
                                                 b"MAIL FROM:<carol@customer.example> SIZE=10\r\n"])
    assert replies[2].startswith(b"553 5.1.3")
    assert replies[3].startswith(b"250")


async def test_lmtp_answers_once_per_recipient(make_app: Callable[..., App]) -> None:
    async with running(make_app(protocol="lmtp")) as app:
        msg = mail(to="support@example.com, billing@example.com").as_bytes()
        reader, writer = await asyncio.open_connection("127.0.0.1", app.smtp_port)
        await reader.readline()
        writer.write(b"LHLO client\r\n")
        while not (await reader.readline()).startswith(b"250 "):
            pass
        for cmd in (b"MAIL FROM:<carol@customer.example>\r\n", b"RCPT TO:<support@example.com>\r\n",
                    b"RCPT TO:<billing@example.com>\r\n", b"DATA\r\n"):
            writer.write(cmd)
            assert (await reader.readline())[:1] in (b"2", b"3")
        writer.write(msg.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + b"\r\n.\r\n")
        replies = [await asyncio.wait_for(reader.readline(), 5) for _ in range(2)]
        writer.write(b"QUIT\r\n")
        writer.close()
        assert [r[:3] for r in replies] == [b"250", b"250"]
        await settle(app)
        assert await _count(app, Ticket) == 1


class _Broken:
    """An acceptor with a bug of ours: it raises something that is not an IntakeError."""

    async def accept(self, message: RawMessage) -> Receipt:
        raise RuntimeError("a bug, not a storage failure")


async def test_an_unexpected_error_in_the_handler_answers_451_not_500() -> None:
    handler = IntakeHandler(_Broken(), Recipients([("support@example.com", "support")], "+"), "smtp")
    server = await start_server(handler, "127.0.0.1", 0, 1_000_000)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(aiosmtplib.SMTPDataError) as info:
            await aiosmtplib.send(mail(), hostname="127.0.0.1", port=port, start_tls=False)
        assert info.value.code == 451
        assert info.value.message.startswith("4.3.0")
    finally:
        server.close()
        await server.wait_closed()

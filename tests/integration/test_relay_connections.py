"""Relay connections kept between sessions (``SmtpTransport``), against a real aiosmtpd relay
that counts its connections and the commands it gets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailgate.config.model import SmtpOutConfig
from mailgate.errors import PermanentDeliveryError
from mailgate.outbound import sender
from mailgate.outbound.sender import SmtpTransport

MAIL = b"From: support@example.com\r\nTo: carol@customer.example\r\nSubject: hi\r\n\r\nHello\r\n"


@dataclass
class Relay:
    """What the relay saw: connections opened and still open, commands, mail taken."""

    opened: int = 0
    open: set[SMTP] = field(default_factory=set)
    commands: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.extend(envelope.rcpt_tos)
        return "250 OK"

    async def handle_NOOP(self, server: SMTP, session: Session, envelope: Envelope, arg: str) -> str:
        self.commands.append("NOOP")
        return "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.commands.append("QUIT")
        return "221 Bye"


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Relay, SmtpTransport]]:
    seen = Relay()
    loop = asyncio.get_running_loop()

    class Counted(SMTP):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            seen.opened += 1
            seen.open.add(self)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            seen.open.discard(self)
            super().connection_lost(exc)

    server = await loop.create_server(lambda: Counted(seen, loop=loop), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = SmtpTransport(SmtpOutConfig(host="127.0.0.1", port=port, starttls=False,
                                            timeout=timedelta(seconds=5)))
    try:
        yield seen, transport
    finally:
        await transport.close()
        server.close()
        await server.wait_closed()


async def _send(transport: SmtpTransport, *rcpts: str) -> None:
    async with transport.session() as session:
        for rcpt in rcpts:
            await session.send("support@example.com", [rcpt], MAIL)


async def _until(condition: Callable[[], bool]) -> None:
    """Wait up to 5 s for what the relay sees to change (it hears of a close a moment later)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the relay did not see it within 5 s")


async def test_a_connection_is_kept_for_the_next_session_and_closed_when_idle(
        relay: tuple[Relay, SmtpTransport], monkeypatch: pytest.MonkeyPatch) -> None:
    seen, transport = relay
    monkeypatch.setattr(sender, "KEEP_IDLE", 0.3)
    await _send(transport, "a@customer.example")
    await _send(transport, "b@customer.example")                # a session of its own, as each auto-response
    assert seen.received == ["a@customer.example", "b@customer.example"]
    assert seen.opened == 1 and seen.commands == ["NOOP"]     # checked, not connected again
    await _until(lambda: not seen.open)                        # idle for KEEP_IDLE: closed politely
    assert seen.commands == ["NOOP", "QUIT"]
    await _send(transport, "c@customer.example")
    assert seen.opened == 2 and seen.received[-1] == "c@customer.example"
    await transport.close()                                    # the daemon stops: nothing left open
    await _until(lambda: not seen.open)
    assert seen.commands[-1] == "QUIT"


async def test_a_kept_connection_the_relay_closed_is_replaced_without_a_failure(
        relay: tuple[Relay, SmtpTransport]) -> None:
    seen, transport = relay
    await _send(transport, "a@customer.example")
    for server in list(seen.open):                             # the relay drops idle clients
        assert server.transport is not None
        server.transport.close()
    await _until(lambda: not seen.open)
    await _send(transport, "b@customer.example")              # no error, no retry: sent at once
    assert seen.received == ["a@customer.example", "b@customer.example"] and seen.opened == 2


async def test_a_session_in_which_a_mail_failed_does_not_keep_its_connection(
        relay: tuple[Relay, SmtpTransport]) -> None:
    seen, transport = relay
    seen.refuse.add("gone@customer.example")
    async with transport.session() as session:
        await session.send("support@example.com", ["a@customer.example"], MAIL)
        with pytest.raises(PermanentDeliveryError):
            await session.send("support@example.com", ["gone@customer.example"], MAIL)
    await _until(lambda: not seen.open)
    assert seen.commands == ["QUIT"]
    await _send(transport, "b@customer.example")
    assert seen.opened == 2 and seen.received == ["a@customer.example", "b@customer.example"]

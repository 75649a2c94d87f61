"""Test doubles that are real protocol peers: a relay sink (aiosmtpd) and a movable clock."""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session


class FrozenClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpSink:
    """An SMTP relay that records what it gets and fails on demand."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)   # scripted RCPT replies, used in order
    data_replies: list[str] = field(default_factory=list)   # scripted DATA replies
    drop_next_data: int = 0                                  # close the connection instead of 250
    slow: dict[str, float] = field(default_factory=dict)     # recipients answered after N seconds
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.slow:                             # a tarpit: this destination is slow
            await asyncio.sleep(self.slow[address])
        if self.rcpt_replies:
            reply = self.rcpt_replies.pop(0)
            if not reply.startswith("250"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop_next_data:
            self.drop_next_data -= 1
            # The lost-250 case: the message was taken, the reply never arrives.
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                          bytes(envelope.original_content or b"")))
            server.transport.close()
            return "250 OK"
        if self.data_replies:
            reply = self.data_replies.pop(0)
            if not reply.startswith("250"):
                return reply
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos),
                                      bytes(envelope.original_content or b"")))
        self.arrived.set()
        return "250 OK"

    def to(self, addr: str) -> list[Received]:
        return [r for r in self.received if addr in r.rcpt_tos]

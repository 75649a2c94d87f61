"""The built-in SMTP and LMTP receivers (aiosmtpd), running in mailgate's own event loop.

RCPT is accepted only for supervised addresses (and their ``+`` subaddresses); the size limit is
enforced with 552; DATA is answered 250 only after the message is committed, 451 if it could not
be. LMTP answers once per recipient (RFC 2033 §4.2).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterable
from typing import Any, Final, Protocol

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from mailgate.errors import IntakeError
from mailgate.faults import checkpoint
from mailgate.intake.inbox import Acceptor, RawMessage
from mailgate.mail.addresses import is_valid, split_subaddress

log = logging.getLogger(__name__)

QUEUED: Final = "250 2.0.0 Message accepted for delivery"
TEMPFAIL: Final = "451 4.3.0 Temporary failure, please try again later"
NO_SUCH_USER: Final = "550 5.1.1 No such mailbox here"
BLOCKED: Final = "550 5.7.1 Sender blocked"
BAD_ADDRESS: Final = "553 5.1.3 Bad recipient address syntax"
#: Lines up to 64 KiB are accepted: real mail (and IMAP-fetched copies of it) exceeds RFC 5321's
#: 1,000 octets, and a 500 here would bounce a customer's mail for a cosmetic reason.
LINE_LIMIT: Final = 65536


class SenderPolicy(Protocol):
    """Decides whether a sender may submit mail at all (the blocklist plugs in here)."""

    async def allowed(self, mail_from: str, peer_ip: str) -> bool: ...


class AllowAll:
    async def allowed(self, mail_from: str, peer_ip: str) -> bool:
        return True


class Recipients:
    """Which envelope recipients are ours: supervised addresses and their subaddresses."""

    def __init__(self, addresses: Iterable[tuple[str, str]], delimiter: str) -> None:
        self.by_address = {addr.lower(): name for addr, name in addresses}
        self.delimiter = delimiter

    def mailbox_for(self, rcpt: str) -> str | None:
        return self.by_address.get(split_subaddress(rcpt, self.delimiter)[0])


class _OneBuffer:
    """DATA read into one growing buffer instead of a list of per-line bytearrays.

    aiosmtpd keeps every line of a message as its own ``bytearray`` and joins them at the end:
    for a 39 MB message that is 39 MB of lines, about 30 MB of object overhead, then the 39 MB
    joined copy. Here the lines go into one ``BytesIO`` whose ``getvalue()`` hands its buffer
    over without a copy. The protocol is aiosmtpd's: ``354``, ``.`` alone ends the data, leading
    dots are unstuffed (RFC 5321 §4.5.2), and an over-long line (500) or too much data (552) is
    answered only after the data is read, which is discarded at once.
    """

    async def smtp_DATA(self: Any, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            data, refusal = await _read_data(self._reader, self.data_size_limit, self.line_length_limit)
        except asyncio.CancelledError:      # the connection was reset during DATA
            log.info("smtp_connection_lost during=DATA")
            self._writer.close()
            raise
        if refusal:
            await self.push(refusal)
            self._set_post_data_state()
            return
        self.envelope.content = self.envelope.original_content = data
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)


async def _read_data(reader: asyncio.StreamReader, size_limit: int | None,
                     line_limit: int) -> tuple[bytes, str]:
    """The message bytes up to the lone ``.``, or a refusal once the data has been read."""
    buffer = io.BytesIO()
    size, refusal, in_line = 0, "", False
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as exc:
            refusal = refusal or "500 Line too long (see RFC5321 4.5.3.1.6)"
            line = await reader.read(exc.consumed)
        if not in_line and line == b".\r\n":
            break
        size += len(line)
        if not refusal and size_limit and size > size_limit:
            refusal = "552 Error: Too much mail data"
        if refusal:
            buffer = io.BytesIO()              # discard at once; keep reading to the end
        elif in_line or not line.startswith(b"."):
            buffer.write(line)
        else:
            buffer.write(memoryview(line)[1:])
        in_line = not line.endswith(b"\r\n")
        if in_line and len(line) > line_limit:
            refusal = refusal or "500 Line too long (see RFC5321 4.5.3.1.6)"
    return buffer.getvalue(), refusal


class MailgateSMTP(_OneBuffer, SMTP):
    line_length_limit = LINE_LIMIT


class MailgateLMTP(_OneBuffer, LMTP):
    line_length_limit = LINE_LIMIT


class IntakeHandler:
    """aiosmtpd handler: checks recipients, stores DATA through the acceptor, answers."""

    def __init__(self, acceptor: Acceptor, recipients: Recipients, protocol: str,
                 policy: SenderPolicy | None = None) -> None:
        self.acceptor = acceptor
        self.recipients = recipients
        self.protocol = protocol
        self.policy = policy or AllowAll()

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        peer_ip = str(session.peer[0]) if session.peer else ""
        if not await self.policy.allowed(address, peer_ip):
            log.info("smtp_blocked sender=%s peer=%s", address, peer_ip)
            return BLOCKED
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if not is_valid(address.lower()):
            return BAD_ADDRESS
        if self.recipients.mailbox_for(address) is None:
            return NO_SUCH_USER
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        rcpts = tuple(envelope.rcpt_tos)
        mail_from = "" if envelope.mail_from in ("<>", None) else str(envelope.mail_from)
        message = RawMessage(
            data=bytes(envelope.original_content or b""), source=self.protocol,
            mail_from=mail_from, rcpt_to=rcpts, peer=_peer(session),
            mailbox=self.recipients.mailbox_for(rcpts[0]) or "",
        )
        checkpoint("in_smtp_data")
        try:
            await self.acceptor.accept(message)
            status = QUEUED
        except IntakeError:
            status = TEMPFAIL
        checkpoint("after_commit_before_250")
        if self.protocol == "lmtp":
            # RFC 2033 §4.2: one reply per successful RCPT, in order.
            return "\r\n".join(status for _ in rcpts)
        return status


    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd calls this for an error in a handler or the protocol: our own bug must never
        reach a sender as a permanent ``500``, which would bounce their mail; ``451`` asks for a
        retry (and the message is not acknowledged)."""
        log.error("smtp_handler_error error=%s", type(error).__name__, exc_info=error)
        return TEMPFAIL


def _peer(session: Session) -> str:
    peer: Any = session.peer
    if isinstance(peer, tuple) and peer:
        return f"{peer[0]}:{peer[1]}" if len(peer) > 1 else str(peer[0])
    return str(peer or "")


async def start_server(handler: IntakeHandler, host: str, port: int, max_size: int,
                       hostname: str = "mailgate") -> asyncio.Server:
    """Listen on ``host:port`` (port 0: any free port) in the running loop."""
    cls = MailgateLMTP if handler.protocol == "lmtp" else MailgateSMTP
    loop = asyncio.get_running_loop()

    def factory() -> SMTP:
        return cls(handler, data_size_limit=max_size, enable_SMTPUTF8=True, hostname=hostname,
                   timeout=300, loop=loop)

    server = await loop.create_server(factory, host, port)
    log.info("smtp_listening protocol=%s address=%s:%s", handler.protocol, host,
             server.sockets[0].getsockname()[1])
    return server

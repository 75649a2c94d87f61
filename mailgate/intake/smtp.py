"""The built-in SMTP and LMTP receivers (aiosmtpd), running in mailgate's own event loop.

RCPT is accepted only for supervised addresses (and their ``+`` subaddresses); the size limit is
enforced with 552; DATA is answered 250 only after the message is committed, 451 if it could not
be. LMTP answers once per recipient (RFC 2033 §4.2).
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterable
from email._header_value_parser import get_addr_spec, get_angle_addr
from email.errors import HeaderParseError
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
    """DATA read in blocks into one buffer, and MAIL/RCPT addresses read without the header parser.

    aiosmtpd reads DATA a line at a time, keeps every line as its own ``bytearray`` and joins
    them at the end: for a 39 MB message that is 39 MB of lines, about 30 MB of object overhead,
    then the 39 MB joined copy; and for a message of a few hundred lines, a few hundred awaits.
    Here DATA is read up to each ``.<CRLF>`` (``_read_data``) into one ``BytesIO`` whose
    ``getvalue()`` hands its buffer over without a copy. The protocol is aiosmtpd's: ``354``,
    ``.`` alone on a line ends the data, leading dots are unstuffed (RFC 5321 §4.5.2), and an
    over-long line (500) or too much data (552) is answered only after the data is read, which is
    discarded at once.
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

    def _getaddr(self: Any, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's reading of ``<address> parameters``, with a plain ``<local@domain>`` taken
        by one regular expression: aiosmtpd runs the RFC 5322 header parser on every MAIL and
        RCPT and defines a ``Protocol`` class each time (5 % of a message's time on the event
        loop). Anything else (quoted local parts, comments, no angle brackets, 8-bit) goes the
        library's own way, and both ways give the same answer (tests/unit/test_smtp_reader.py)."""
        found = _PLAIN_PATH.match(arg)
        address, rest = _library_getaddr(arg) if found is None else (found.group(1), found.group(2) or "")
        if address and self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest


#: ``<dot-atom@dot-atom>`` (RFC 5322 atext, ASCII) and, after it, nothing or parameters after
#: white space: exactly what the header parser would take, with nothing it would treat otherwise.
_ATOM: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH: Final = re.compile(
    rf"<({_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*)>(?:[ \t]+([!-'*-~][ -'*-~]*))?\Z")


def _library_getaddr(arg: str) -> tuple[str | None, str | None]:
    """``aiosmtpd.smtp.SMTP._getaddr`` as the library has it (but for the local part's limit,
    checked by the caller), without its per-call class, and with an address the header parser
    trips over (``<0@[>`` raises ``AttributeError`` inside it, which aiosmtpd would answer 451,
    asking for a retry) taken as malformed (553)."""
    if not arg:
        return "", ""
    try:
        address: Any
        if arg.lstrip().startswith("<"):
            address, rest = get_angle_addr(arg)
        else:
            address, rest = get_addr_spec(arg)
        return str(address.addr_spec), rest
    except (HeaderParseError, AttributeError, IndexError, ValueError):
        return None, None


#: What ends the data at the start of a line.
_END: Final = b".\r\n"


async def _read_data(reader: asyncio.StreamReader, size_limit: int | None,
                     line_limit: int) -> tuple[bytes, str]:
    """The message bytes up to the lone ``.``, or a refusal once the data has been read.

    Read up to each ``.<CRLF>`` the stream holds (one await for most messages, instead of one a
    line); a stretch without one longer than the reader's limit comes in pieces of what the
    reader has.
    """
    data = _Data(size_limit, line_limit)
    while True:
        try:
            piece = await reader.readuntil(_END)
        except asyncio.LimitOverrunError as exc:
            piece = await reader.read(exc.consumed)
        if data.take(piece):
            return data.result()


class _Data:
    """DATA as it comes, piece by piece: where it ends, its dots unstuffed, and its limits.

    ``.<CRLF>`` ends the data only at the start of a line: right after a CRLF, or as the first
    bytes of the data (a bare LF before it does not count: RELIABILITY row 23). A CR at the end
    of a piece waits for the next one, so that a CRLF is never split between pieces: where lines
    start (the dots to unstuff) and how long they are depend on it.
    """

    def __init__(self, size_limit: int | None, line_limit: int) -> None:
        self.size_limit = size_limit
        self.line_limit = line_limit
        self.buffer = io.BytesIO()
        self.size = 0
        self.refusal = ""
        self.at_line_start = True
        self.run = 0                 # bytes of the unfinished line so far
        self.carry = b""             # a CR held back from the last piece

    def take(self, piece: bytes) -> bool:
        """Add ``piece``; True when it ended the data."""
        data = self.carry + piece
        done = data.endswith(b"\r\n" + _END) or (data == _END and self.at_line_start)
        if done:
            data = data[:-len(_END)]
        self.size += len(piece) - (len(_END) if done else 0)
        self.carry = b"\r" if not done and data.endswith(b"\r") else b""
        if self.carry:
            data = data[:-1]
        self._check(data)
        if self.refusal:
            self.buffer = io.BytesIO()        # discard at once; keep reading to the end
        else:
            if self.at_line_start and data.startswith(b"."):
                data = data[1:]
            self.buffer.write(data.replace(b"\r\n.", b"\r\n"))
        if data:
            self.at_line_start = data.endswith(b"\r\n")
        return done

    def _check(self, data: bytes) -> None:
        if self.refusal:
            return
        if self.size_limit and self.size > self.size_limit:
            self.refusal = "552 Error: Too much mail data"
            return
        self.run = _longest_line(data, self.run, self.line_limit)
        if self.run > self.line_limit:
            self.refusal = "500 Line too long (see RFC5321 4.5.3.1.6)"

    def result(self) -> tuple[bytes, str]:
        return (b"" if self.refusal else self.buffer.getvalue()), self.refusal


def _longest_line(data: bytes, run: int, limit: int) -> int:
    """The length of the unfinished line after ``data``, or more than ``limit`` if a line in it
    (counting the ``run`` bytes of it before ``data``) is longer than ``limit``."""
    first = data.find(b"\r\n")
    if first < 0:
        return run + len(data)
    if run + first > limit:
        return run + first
    last = data.rfind(b"\r\n")
    if last - first > limit and max(map(len, data[first + 2:last].split(b"\r\n"))) > limit:
        return limit + 1
    return len(data) - last - 2


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

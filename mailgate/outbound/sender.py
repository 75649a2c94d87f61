"""Transports that hand finished mail on: an SMTP relay (aiosmtplib) or a local Maildir."""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import ssl
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Final, Protocol

import aiosmtplib

from mailgate.config import SmtpOutConfig
from mailgate.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError


class MailTransport(Protocol):
    """Delivers finished messages; raises Transient/PermanentDeliveryError."""

    def session(self) -> contextlib.AbstractAsyncContextManager[MailSession]: ...


class MailSession(Protocol):
    async def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None: ...


def delivery_error(exc: Exception) -> DeliveryError:
    """Map an aiosmtplib/network error onto retryable or permanent."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        permanent = bool(codes) and all(500 <= c < 600 for c in codes)
        kind: type[DeliveryError] = PermanentDeliveryError if permanent else TransientDeliveryError
        return kind("; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500])
    code = getattr(exc, "code", None)
    if isinstance(code, int) and 500 <= code < 600:
        return PermanentDeliveryError(f"{code} {getattr(exc, 'message', exc)}"[:500])
    return TransientDeliveryError(f"{type(exc).__name__}: {exc}"[:500])


#: Messages larger than this are sent a chunk at a time (``_SmtpSession._stream``).
STREAM_OVER: Final = 1 << 20
_CHUNK: Final = 256 * 1024


class _SmtpSession:
    def __init__(self, client: aiosmtplib.SMTP, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None:
        try:
            if len(raw) > STREAM_OVER:
                await self._stream(mail_from, rcpt_to, raw)
            else:
                await self.client.sendmail(mail_from, list(rcpt_to), raw)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise delivery_error(exc) from exc
        except ValueError as exc:  # aiosmtplib refuses an address outright: retrying cannot help
            raise PermanentDeliveryError(str(exc)) from exc
        # Recipients refused while others took it: the mail went out; don't resend.

    async def _stream(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None:
        """MAIL, RCPT, then DATA written a chunk at a time, waiting while the socket is full.

        aiosmtplib's ``sendmail`` copies a message three times (line endings, the final dot, the
        transport's buffer); a composed message already has CRLF line endings, so here only
        leading dots are doubled, a chunk at a time.
        """
        client = self.client
        await client.mail(mail_from)
        refused = []
        for rcpt in rcpt_to:
            try:
                await client.rcpt(rcpt)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(rcpt_to):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        reply = await client.execute_command(b"DATA")
        if reply.code != 354:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        protocol = client.protocol
        assert protocol is not None
        view = memoryview(raw)
        start = 0
        while start < len(raw):
            line_end = raw.find(b"\r\n", min(start + _CHUNK, len(raw)))
            end = len(raw) if line_end < 0 else line_end + 2
            chunk = bytes(view[start:end]).replace(b"\r\n.", b"\r\n..")
            protocol.write(b"." + chunk if chunk.startswith(b".") else chunk)
            await protocol._drain_helper()        # aiosmtplib's FlowControlMixin: wait while paused
            start = end
        protocol._response_pending = True         # the reply to the final dot is expected now
        protocol.write(b"\r\n.\r\n" if not raw.endswith(b"\r\n") else b".\r\n")
        reply = await protocol.read_response(timeout=self.timeout)
        if reply.code != 250:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)


class SmtpTransport:
    """One connection per drain batch, reused for every message in it."""

    def __init__(self, config: SmtpOutConfig) -> None:
        self.config = config
        self._tls: ssl.SSLContext | None = None

    def _tls_context(self) -> ssl.SSLContext | None:
        # Loading the CA store costs milliseconds: once per transport, and only if TLS is used.
        if self._tls is None and (self.config.tls or self.config.starttls):
            self._tls = ssl.create_default_context()
        return self._tls

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[MailSession]:
        cfg = self.config
        client = aiosmtplib.SMTP(
            hostname=cfg.host, port=cfg.port, use_tls=cfg.tls, start_tls=cfg.starttls and not cfg.tls,
            timeout=cfg.timeout.total_seconds(), tls_context=self._tls_context(),
        )
        try:
            await client.connect()
            if cfg.username:
                await client.login(cfg.username, cfg.password)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise delivery_error(exc) from exc
        try:
            yield _SmtpSession(client, cfg.timeout.total_seconds())
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                await client.quit()


class _MaildirSession:
    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box

    async def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None:
        envelope = (f"X-Mailgate-Envelope-From: <{mail_from}>\r\n"
                    f"X-Mailgate-Envelope-To: {', '.join(rcpt_to)}\r\n").encode()
        try:
            await asyncio.to_thread(self.box.add, envelope + raw)
        except OSError as exc:
            raise TransientDeliveryError(f"maildir: {exc}") from exc


class MaildirTransport:
    """Delivers to a local Maildir (development and tests without a relay)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[MailSession]:
        for sub in ("tmp", "new", "cur"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        yield _MaildirSession(mailbox.Maildir(str(self.folder), create=True))

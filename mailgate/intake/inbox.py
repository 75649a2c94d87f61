"""The single door for every receiver: store the raw message durably, once, then acknowledge.

A message is a row in ``inbound`` before any receiver says 250 or sets a flag. Copies of one
message (re-delivery, or one message sent to several supervised addresses) share a content digest
and are stored once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from mailgate.clock import Clock
from mailgate.domain.kinds import InboundState
from mailgate.mail.headers import one_line
from mailgate.mail.parse import content_digest
from mailgate.storage import inbound
from mailgate.storage.db import DB_ERRORS, Database, storage_failure
from mailgate.wakeups import NoWakeup, Wakeup

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message as a receiver got it."""

    data: bytes
    source: str                       # smtp | lmtp | imap | cli | import | phone | web
    mail_from: str = ""
    rcpt_to: tuple[str, ...] = ()
    peer: str = ""
    mailbox: str = ""
    source_key: str | None = None     # e.g. imap:<mailbox>:<uidvalidity>:<uid>
    quarantine: str = ""              # a reason to store the message straight into quarantine


@dataclass(frozen=True, slots=True)
class Receipt:
    inbound_id: int
    created: bool
    quarantined: bool = False    # stored, but in quarantine (IMAP moves it to its quarantine folder)


class Acceptor(Protocol):
    """Stores a message durably (and may process it); raises IntakeError when it cannot."""

    async def accept(self, message: RawMessage) -> Receipt: ...


class Inbox:
    """Stores raw messages and wakes the processor (``inbound_ready``) after each commit."""

    def __init__(self, db: Database, clock: Clock, inbound_ready: Wakeup | None = None,
                 timeout: float = 30.0) -> None:
        self.db = db
        self.clock = clock
        self.inbound_ready = inbound_ready or NoWakeup()
        self.timeout = timeout

    def row_for(self, message: RawMessage) -> inbound.NewInbound:
        """The inbound row for ``message``: digests, bounded envelope fields, initial state."""
        return inbound.NewInbound(
            source=message.source, source_key=message.source_key,
            digest=content_digest(message.data), sha256=hashlib.sha256(message.data).hexdigest(),
            mail_from=one_line(message.mail_from)[:300], rcpt_to=[one_line(r) for r in message.rcpt_to][:100],
            mailbox=message.mailbox, peer=one_line(message.peer)[:100], raw=message.data,
            received_at=self.clock.now(),
            state=InboundState.QUARANTINED if message.quarantine else InboundState.PENDING,
            reason=message.quarantine,
        )

    async def accept(self, message: RawMessage) -> Receipt:
        """Store ``message`` and commit; only then may the caller acknowledge it.

        Raises:
            IntakeError: the message could not be stored; the sender must retry.
        """
        row = self.row_for(message)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                inbound_id, created, state = await self.db.run(lambda s: inbound.insert_inbound(s, row))
        except (*DB_ERRORS, TimeoutError) as exc:
            log.error("intake_failed source=%s error=%s", message.source, type(exc).__name__)
            raise storage_failure(exc) from exc
        log.info("intake_stored id=%s source=%s size=%s duplicate=%s ms=%.2f", inbound_id,
                 message.source, len(message.data), not created, (time.perf_counter() - started) * 1000)
        if created and not message.quarantine:
            self.inbound_ready.notify()
        return Receipt(inbound_id, created, quarantined=state is InboundState.QUARANTINED)

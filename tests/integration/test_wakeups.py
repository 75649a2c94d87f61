"""Wake-ups across processes on PostgreSQL (``LISTEN/NOTIFY`` behind the ``Wakeup`` port).

The daemon under test polls only every 30 s here, so anything it does within a second or two of
another process's commit was started by that process's ``NOTIFY``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from mailgate import app as app_module
from mailgate.app import App
from mailgate.intake.inbox import RawMessage
from mailgate.storage.models import Ticket
from tests.conftest import BACKEND, running
from tests.fakes import SmtpSink
from tests.mailer import mail

pytestmark = pytest.mark.skipif(BACKEND != "postgresql",
                                reason="LISTEN/NOTIFY is PostgreSQL's (runs in its pass of scripts/test.sh)")
BOUND = 2.0      # seconds; the polling it replaces is 30 s here, and the bench measures the real figure


@pytest.fixture
def slow_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INBOUND_POLL_SECONDS", "OUTBOX_POLL_SECONDS", "ALERT_POLL_SECONDS"):
        monkeypatch.setattr(app_module, name, 30.0)


async def _arrived(sink: SmtpSink, n: int, seconds: float = 10) -> float:
    deadline = time.perf_counter() + seconds
    while len(sink.received) < n:
        assert time.perf_counter() < deadline, f"{len(sink.received)} of {n} mails arrived"
        await asyncio.sleep(0.002)
    return time.perf_counter()


async def _quiet(daemon: App) -> None:
    """Let the daemon finish its start-up passes (each one starts with a wake-up of its own)."""
    await asyncio.wait_for(daemon.wakeups.listening.wait(), 10)  # type: ignore[union-attr]
    await asyncio.sleep(0.5)


async def _from_another_process(make_app: Callable[..., App], msg: bytes, store_only: bool = False) -> float:
    """A second process on the database takes ``msg`` (processed, or ``store_only``: stored alone,
    as a process does when processing failed under it), sends its notifications and goes away;
    return when it committed."""
    other = make_app()
    raw = RawMessage(data=msg, source="smtp", mail_from="carol@customer.example",
                     rcpt_to=("support@example.com",), mailbox="support")
    try:
        await (other.inbox.accept(raw) if store_only else other.ingest.accept(raw))
        committed = time.perf_counter()
        await other.wakeups.flush()              # type: ignore[union-attr]
    finally:
        await other.ctx.db.dispose()
    return committed


async def test_mail_queued_by_another_process_is_sent_by_the_listening_daemon(
        make_app: Callable[..., App], sink: SmtpSink, slow_polling: None) -> None:
    async with running(make_app()) as daemon:
        await _quiet(daemon)
        original = mail(subject="Printer on fire")
        committed = await _from_another_process(make_app, original.as_bytes())
        took = await _arrived(sink, 1) - committed
        print(f"\nqueued by one process -> sent by the other: {took * 1000:.0f} ms")
        assert took < BOUND
        [sent] = sink.received
        assert sent.rcpt_tos == ["carol@customer.example"]
        reply = sent.message
        assert "[MG#1]" in reply["Subject"] and "Printer on fire" in reply["Subject"]
        assert reply["In-Reply-To"] == original["Message-ID"]
        assert reply["From"].addresses[0].addr_spec == "support@example.com"
        assert "MG#1" in reply.get_body(("plain",)).get_content()      # type: ignore[union-attr]
        assert daemon.wakeups.received >= 1                             # type: ignore[union-attr]


async def test_message_stored_alone_by_another_process_is_processed_at_once(
        make_app: Callable[..., App], sink: SmtpSink, slow_polling: None) -> None:
    async with running(make_app()) as daemon:
        await _quiet(daemon)
        committed = await _from_another_process(make_app, mail(subject="Stored alone").as_bytes(),
                                                store_only=True)
        took = await _arrived(sink, 1) - committed
        print(f"\nstored by one process -> case and auto-response by the other: {took * 1000:.0f} ms")
        assert took < BOUND
        assert await daemon.ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(Ticket))) == 1
        assert "[MG#1] Stored alone" in sink.received[0].message["Subject"]


async def test_listening_comes_back_after_its_backend_is_terminated(
        make_app: Callable[..., App], sink: SmtpSink, slow_polling: None, database_url: str) -> None:
    import psycopg

    from tests.conftest import PG_ADMIN

    async with running(make_app()) as daemon:
        hub = daemon.wakeups
        assert hub is not None
        await _quiet(daemon)
        name = database_url.rsplit("/", 1)[1]
        async with await psycopg.AsyncConnection.connect(PG_ADMIN, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = %s AND query LIKE 'LISTEN%%'", (name,))
        for _ in range(200):                     # lost, then listening again on a new connection
            if not hub.listening.is_set():
                break
            await asyncio.sleep(0.01)
        await asyncio.wait_for(hub.listening.wait(), 10)
        await asyncio.sleep(0.5)
        committed = await _from_another_process(make_app, mail(subject="After the cut").as_bytes())
        assert await _arrived(sink, 1) - committed < BOUND
        assert "After the cut" in sink.received[0].message["Subject"]

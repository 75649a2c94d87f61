"""IMAP intake against a real Dovecot: ingest, move, quarantine, IDLE latency, UIDVALIDITY reset,
crash points, wrong password (RELIABILITY rows 45-48, 52, 54)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from mailgate.app import App
from mailgate.services import mailboxes, quarantine, tickets
from tests import dovecot
from tests.conftest import running
from tests.mailer import mail

pytestmark = pytest.mark.skipif(not dovecot.available(), reason="dovecot is not installed")


@pytest.fixture(scope="module")
def server() -> Iterator[dovecot.Dovecot]:
    instance = dovecot.Dovecot()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def user(server: dovecot.Dovecot) -> str:
    return server.add_user(f"u{uuid.uuid4().hex[:10]}")


@pytest.fixture
def imap_app(make_app: Callable[..., App], server: dovecot.Dovecot, user: str) -> Callable[[], App]:
    return lambda: make_app(imap={"support": (server.port, user)})


def raw(subject: str, body: str = "Hello\n") -> bytes:
    return mail(subject=subject, body=body).as_bytes()


async def until(check: Callable[[], object], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def case_count(app: App) -> int:
    return len(await tickets.list_tickets(app.ctx, tickets.TicketFilter()))


async def test_messages_become_cases_and_are_moved(imap_app: Callable[[], App], server: dovecot.Dovecot,
                                                  user: str) -> None:
    server.append(user, [raw("First"), raw("Second"), b"\r\n\r\n"])
    async with running(imap_app()) as app:
        await until(lambda: server.count(user, "INBOX") == 0)
        assert await case_count(app) == 2
        [entry] = await quarantine.list_quarantine(app.ctx)
        assert entry["source"] == "imap" and entry["reason"] == "empty message"
        [state] = [m for m in await mailboxes.list_mailboxes(app.ctx) if m["name"] == "support"]
        assert state["connected"] is True and state["ingested"] == 3 and state["uidvalidity"]
    assert server.count(user, "mailgate.processed") == 2
    assert server.count(user, "mailgate.quarantine") == 1


async def test_mail_appended_during_idle_is_a_case_within_a_second(
        imap_app: Callable[[], App], server: dovecot.Dovecot, user: str) -> None:
    async with running(imap_app()) as app:
        await until(lambda: _connected(app))
        await asyncio.sleep(0.2)              # the poller is now in IDLE
        latencies = []
        for i in range(5):
            started = time.monotonic()
            await asyncio.to_thread(server.append, user, [raw(f"Idle {i}")])
            await until(lambda i=i: _cases_at_least(app, i + 1), seconds=5)
            latencies.append(time.monotonic() - started)
        assert max(latencies) < 1.0, latencies


async def _connected(app: App) -> bool:
    return any(m["connected"] for m in await mailboxes.list_mailboxes(app.ctx))


async def _cases_at_least(app: App, n: int) -> bool:
    return await case_count(app) >= n


async def test_uidvalidity_change_rescans_without_duplicates(
        imap_app: Callable[[], App], server: dovecot.Dovecot, user: str) -> None:
    first = [raw("One"), raw("Two")]
    server.append(user, first)
    async with running(imap_app()) as app:
        await until(lambda: server.count(user, "INBOX") == 0)
        assert await case_count(app) == 2
    # The same messages come back (a restore) and the server resets UIDVALIDITY.
    server.append(user, first)
    server.doveadm("mailbox", "update", "-u", user, "--uid-validity", "42", "INBOX")
    async with running(imap_app()) as app:
        await until(lambda: server.count(user, "INBOX") == 0)
        assert await case_count(app) == 2
        [state] = [m for m in await mailboxes.list_mailboxes(app.ctx) if m["name"] == "support"]
        assert state["uidvalidity"] == 42


async def test_wrong_password_backs_off_without_a_login_storm(
        make_app: Callable[..., App], server: dovecot.Dovecot) -> None:
    stranger = server.add_user(f"u{uuid.uuid4().hex[:10]}", password="something-else")
    app = make_app(imap={"support": (server.port, stranger)})
    async with running(app):
        await until(lambda: _last_error(app), seconds=10)
        await asyncio.sleep(3.0)             # Dovecot answers a failed login after 2 s
        assert "login refused" in await _last_error(app)
    log = await asyncio.to_thread(server.log.read_text)
    assert log.count(f"user=<{stranger}>") == 1   # backoff: the next try is a minute away


async def _last_error(app: App) -> str:
    [state] = [m for m in await mailboxes.list_mailboxes(app.ctx) if m["name"] == "support"]
    assert state["connected"] is False
    return str(state["last_error"])

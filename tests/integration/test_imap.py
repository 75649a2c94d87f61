"""IMAP intake against a real Dovecot: ingest, move, quarantine, IDLE latency, UIDVALIDITY reset,
crash points, wrong password (RELIABILITY rows 45-48, 52, 54)."""

from __future__ import annotations

import asyncio
import resource
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from mailgate.app import App
from mailgate.services import mailboxes, quarantine, tickets
from mailgate.storage.models import Inbound
from tests import dovecot
from tests.conftest import BACKEND, running, settle
from tests.fakes import SmtpSink
from tests.faultproxy import FaultProxy
from tests.mailer import mail

pytestmark = pytest.mark.skipif(not dovecot.available(), reason="dovecot is not installed")


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


@pytest.mark.reliability(48)
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


@pytest.mark.reliability(54)
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


async def test_one_message_in_two_supervised_mailboxes_makes_one_case(
        make_app: Callable[..., App], server: dovecot.Dovecot) -> None:
    support, billing = (server.add_user(f"u{uuid.uuid4().hex[:10]}") for _ in range(2))
    shared = mail(subject="Sent to both", to="support@example.com, billing@example.com").as_bytes()
    server.append(support, [b"Delivered-To: support@example.com\r\n" + shared])
    server.append(billing, [b"Delivered-To: billing@example.com\r\n" + shared])
    app = make_app(imap={"support": (server.port, support), "billing": (server.port, billing)})
    async with running(app):
        await until(lambda: server.count(support, "INBOX") == 0 and server.count(billing, "INBOX") == 0)
        assert await case_count(app) == 1
    assert server.count(support, "mailgate.processed") == server.count(billing, "mailgate.processed") == 1


@pytest.mark.reliability(13)
async def test_oversized_message_is_left_whole_in_the_quarantine_folder(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str) -> None:
    big = mail(subject="Huge", body=("x" * 76 + "\n") * 2000).as_bytes()     # ~150 KB
    server.append(user, [big, raw("Small")])
    app = make_app(imap={"support": (server.port, user)}, max_size="100KB")
    async with running(app):
        await until(lambda: server.count(user, "INBOX") == 0)
        assert await case_count(app) == 1
        [entry] = await quarantine.list_quarantine(app.ctx)
        assert entry["reason"].startswith("over max_message_size")
        _, header = await quarantine.show_quarantine(app.ctx, entry["id"])
        assert b"Subject: Huge" in header
    assert server.count(user, "mailgate.quarantine") == 1
    client = server.client(user)
    try:
        client.select("mailgate.quarantine")
        _, data = client.fetch("1", "(RFC822.SIZE)")
        crlf = big.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # as APPEND stores it
        assert f"RFC822.SIZE {len(crlf)}" in data[0].decode()    # every byte still on the server
    finally:
        client.logout()


@pytest.mark.slow
async def test_two_thousand_messages_across_three_mailboxes_counted_exactly(
        make_app: Callable[..., App], server: dovecot.Dovecot) -> None:
    users = {name: server.add_user(f"u{uuid.uuid4().hex[:10]}") for name in ("support", "billing", "sales")}
    appended = {}
    for i, (name, user) in enumerate(users.items()):
        batch = [mail(subject=f"{name} {n}", sender=f"c{n % 50}@customer.example",
                      body=f"message {n} for {name}\n").as_bytes() for n in range(667 if i < 2 else 666)]
        for n in range(0, len(batch), 100):                          # some that break a limit
            batch[n] = (f"Subject: bad {name} {n}\r\nContent-Type: text/plain; ".encode()
                        + b"a=b;" * 300 + b"\r\n\r\nbody\r\n")
        await asyncio.to_thread(server.append, user, batch)
        appended[user] = len(batch)
    assert sum(appended.values()) == 2000
    app = make_app(imap={name: (server.port, user) for name, user in users.items()})
    async with running(app):
        await until(lambda: all(server.count(u, "INBOX") == 0 for u in users.values()), seconds=240)
        cases = await case_count(app)
        quarantined = len(await quarantine.list_quarantine(app.ctx))
    moved = {u: server.count(u, "mailgate.processed") + server.count(u, "mailgate.quarantine")
             for u in users.values()}
    assert moved == appended                                  # every one moved, none twice
    assert quarantined == sum(len(range(0, n, 100)) for n in appended.values())
    assert cases + quarantined == 2000


QUICK = '  idle_refresh = "1s"\n  timeout = "2s"\n'


@pytest.mark.reliability(49)
async def test_half_open_connection_is_detected_and_mail_still_arrives(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str) -> None:
    # RELIABILITY row 49: the link goes silent while IDLEing; mail sent meanwhile is ingested.
    proxy = FaultProxy(server.port)
    await proxy.start()
    try:
        app = make_app(imap={"support": (proxy.port, user)}, imap_extra=QUICK)
        async with running(app):
            await until(lambda: _connected(app))
            await asyncio.sleep(0.3)
            proxy.blackhole()
            await asyncio.to_thread(server.append, user, [raw("Sent during the outage")])
            await until(lambda: _cases_at_least(app, 1), seconds=15)
        assert len(proxy.links) >= 2                          # it reconnected
    finally:
        await proxy.stop()


@pytest.mark.reliability(51)
async def test_connection_cut_inside_a_fetch_literal_ingests_each_message_once(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str) -> None:
    # RELIABILITY row 51: EOF in the middle of a FETCH literal; nothing partial is stored.
    server.append(user, [raw(f"Cut {i}", body="long line of text\n" * 400) for i in range(3)])
    proxy = FaultProxy(server.port)
    await proxy.start()
    proxy.cut_next_after = 4000        # past login and search, inside the first message's literal
    try:
        app = make_app(imap={"support": (proxy.port, user)}, imap_extra=QUICK)
        async with running(app):
            await until(lambda: server.count(user, "INBOX") == 0, seconds=20)
            shown = [await tickets.show_ticket(app.ctx, c["id"])
                     for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter())]
        assert sorted(s["subject"] for s in shown) == ["Cut 0", "Cut 1", "Cut 2"]
        assert all(s["messages"][0]["text"].count("long line of text") == 400 for s in shown)
        assert len(proxy.links) >= 2
    finally:
        await proxy.stop()


async def inbound_rows(app: App) -> int:
    return int(await app.ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(Inbound))))


async def subjects(app: App) -> list[str]:
    return sorted(c["subject"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter()))


@pytest.mark.reliability(45)
async def test_connection_cut_after_the_commit_before_the_move_refetches_and_makes_no_duplicate(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str, sink: SmtpSink) -> None:
    # Committed, then the link dies as the client sends its UID MOVE: the server still has the
    # messages in INBOX. After reconnecting they are fetched again, found stored, and moved.
    server.append(user, [raw(f"Moved late {i}") for i in range(3)])
    proxy = FaultProxy(server.port)
    await proxy.start()
    cut = proxy.on_command(rb"UID (MOVE|COPY|STORE) ", cut=True)
    try:
        app = make_app(imap={"support": (proxy.port, user)}, imap_extra=QUICK)
        async with running(app):
            await until(lambda: server.count(user, "INBOX") == 0, seconds=20)
            await settle(app)
            assert await subjects(app) == ["Moved late 0", "Moved late 1", "Moved late 2"]
            assert await inbound_rows(app) == 3
        assert cut.hits == 1 and len(proxy.links) >= 2
        assert server.count(user, "mailgate.processed") == 3
        assert len(sink.to("carol@customer.example")) == 3        # one auto-response per case
    finally:
        await proxy.stop()


@pytest.mark.reliability(52)
async def test_message_expunged_between_search_and_fetch_skips_no_other(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str) -> None:
    server.append(user, [raw(f"Listed {i}") for i in range(1, 4)])
    proxy = FaultProxy(server.port)
    await proxy.start()

    async def expunge_the_second() -> None:       # another client deletes UID 2 meanwhile
        await asyncio.to_thread(server.doveadm, "expunge", "-u", user, "mailbox", "INBOX", "uid", "2")

    gone = proxy.on_command(rb"BODY\.PEEK\[\]", action=expunge_the_second)
    try:
        app = make_app(imap={"support": (proxy.port, user)}, imap_extra=QUICK)
        async with running(app):
            await until(lambda: server.count(user, "mailgate.processed") == 2, seconds=20)
            await asyncio.to_thread(server.append, user, [raw("Listed 4")])
            await until(lambda: server.count(user, "mailgate.processed") == 3, seconds=20)
            assert await subjects(app) == ["Listed 1", "Listed 3", "Listed 4"]
            assert await quarantine.list_quarantine(app.ctx) == []
        assert gone.hits == 1 and server.count(user, "INBOX") == 0
    finally:
        await proxy.stop()


@pytest.mark.reliability(55)
async def test_doveadm_kick_while_a_batch_is_in_hand_takes_each_message_once(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str, sink: SmtpSink) -> None:
    server.append(user, [raw(f"Kicked {i}") for i in range(6)])
    proxy = FaultProxy(server.port)
    await proxy.start()
    moves = 0

    async def kick_before_the_second_move() -> None:   # batch 2 is committed, not yet moved
        nonlocal moves
        moves += 1
        if moves == 2:
            await asyncio.to_thread(server.doveadm, "kick", user)

    proxy.on_command(rb"UID MOVE ", action=kick_before_the_second_move, times=20)
    try:
        # A 30 s command timeout: the lost connection must be noticed when it closes, not then.
        app = make_app(imap={"support": (proxy.port, user)},
                       imap_extra='  idle_refresh = "1s"\n  timeout = "30s"\n  batch = 2\n')
        async with running(app):
            started = time.monotonic()
            await until(lambda: server.count(user, "mailgate.processed") == 6, seconds=30)
            assert time.monotonic() - started < 10
            await settle(app)
            assert await subjects(app) == [f"Kicked {i}" for i in range(6)]
            assert await inbound_rows(app) == 6
        assert moves >= 4 and len(proxy.links) >= 2 and server.count(user, "INBOX") == 0
        assert "Killed with signal 15" in server.log.read_text()     # the kick did hit a session
    finally:
        await proxy.stop()


class ByeOnIdle:
    """A scripted IMAP server that answers IDLE with '* BYE' (RELIABILITY row 50, aioimaplib #110)."""

    def __init__(self) -> None:
        self.sessions = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._converse(reader, writer)
        finally:
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        writer.write(b"* OK [CAPABILITY IMAP4rev1 IDLE MOVE UIDPLUS] ready\r\n")
        answers = {
            b"LOGIN": b"OK [CAPABILITY IMAP4rev1 IDLE MOVE UIDPLUS] logged in",
            b"LIST": b'OK list done', b"CREATE": b"OK created",
            b"SELECT": b"OK [READ-WRITE] selected", b"UID": b"OK searched", b"LOGOUT": b"OK bye",
        }
        while line := await reader.readline():
            tag, command = line.split()[0], line.split()[1].upper()
            if command == b"CAPABILITY":
                writer.write(b"* CAPABILITY IMAP4rev1 IDLE MOVE UIDPLUS\r\n")
            if command == b"LIST":
                writer.write(b'* LIST (\\Noselect) "/" ""\r\n')
            if command == b"SELECT":
                writer.write(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n")
            if command == b"UID":
                writer.write(b"* SEARCH\r\n")
            if command == b"IDLE":
                writer.write(b"+ idling\r\n* BYE server shutting down\r\n")
                await writer.drain()
                return
            writer.write(tag + b" " + answers.get(command, b"OK") + b"\r\n")
            await writer.drain()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.mark.reliability(50)
async def test_bye_during_idle_reconnects_instead_of_hanging(make_app: Callable[..., App]) -> None:
    fake = ByeOnIdle()
    port = await fake.start()
    try:
        app = make_app(imap={"support": (port, "anyone")}, imap_extra=QUICK)
        async with running(app):
            started = time.monotonic()
            await until(lambda: fake.sessions >= 3, seconds=15)   # reconnects, with backoff
            assert time.monotonic() - started > 1.5                # backoff, not a tight loop
    finally:
        await fake.stop()


async def test_first_start_policy_unseen_leaves_old_read_mail_alone(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str) -> None:
    server.append(user, [raw("Old and read 1"), raw("Old and read 2")], flags="(\\Seen)")
    server.append(user, [raw("Unread")])
    app = make_app(imap={"support": (server.port, user)}, imap_extra='  start = "unseen"\n')
    async with running(app):
        await until(lambda: server.count(user, "INBOX") == 2)
        await asyncio.to_thread(server.append, user, [raw("New after start")])
        await until(lambda: server.count(user, "mailgate.processed") == 2)
        subjects = sorted(c["subject"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter()))
    assert subjects == ["New after start", "Unread"]
    assert server.count(user, "INBOX") == 2                   # the read ones were left alone


@pytest.mark.slow
@pytest.mark.reliability(56)
async def test_first_start_on_a_hundred_thousand_old_messages_takes_only_the_new_ones(
        make_app: Callable[..., App], server: dovecot.Dovecot, user: str) -> None:
    await asyncio.to_thread(server.fill_maildir, user, 100_000)
    server.append(user, [raw(f"New {i}") for i in range(3)])
    assert server.count(user, "INBOX") == 100_003              # Dovecot has indexed them all
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    app = make_app(imap={"support": (server.port, user)}, imap_extra='  start = "unseen"\n')
    async with running(app):
        started = time.monotonic()
        await until(lambda: server.count(user, "mailgate.processed") == 3, seconds=60)
        taken = time.monotonic() - started
        await asyncio.to_thread(server.append, user, [raw("After the start")])
        await until(lambda: server.count(user, "mailgate.processed") == 4, seconds=20)
        assert await subjects(app) == ["After the start", "New 0", "New 1", "New 2"]
        assert await inbound_rows(app) == 4
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"\n100,000 old + 3 new: new ones taken in {taken:.1f} s; peak RSS grew {grown_mb:.0f} MB")
    assert grown_mb < 100                                     # the UIDs of the old mail are never listed
    assert server.count(user, "INBOX") == 100_000             # the old mail is left where it was


@pytest.fixture(scope="module")
def tls_server() -> Iterator[dovecot.Dovecot]:
    instance = dovecot.Dovecot(tls=True)
    instance.start()
    yield instance
    instance.stop()


@pytest.mark.reliability(53)
@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_tls_and_starttls_with_a_verified_certificate(
        make_app: Callable[..., App], tls_server: dovecot.Dovecot, mode: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.cert))
    user = tls_server.add_user(f"u{uuid.uuid4().hex[:10]}")
    tls_server.append(user, [raw("Over TLS")])
    port, extra = ((tls_server.port, "  starttls = true\n") if mode == "starttls"
                   else (tls_server.tls_port, "  tls = true\n"))
    async with running(make_app(imap={"support": (port, user)}, imap_extra=extra)) as app:
        await until(lambda: tls_server.count(user, "INBOX") == 0)
        assert await case_count(app) == 1
    assert tls_server.count(user, "mailgate.processed") == 1


@pytest.mark.reliability(53)
async def test_starttls_refuses_a_certificate_it_cannot_verify(
        make_app: Callable[..., App], tls_server: dovecot.Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
    user = tls_server.add_user(f"u{uuid.uuid4().hex[:10]}")
    tls_server.append(user, [raw("Must not be read")])
    async with running(make_app(imap={"support": (tls_server.port, user)},
                                imap_extra="  starttls = true\n")) as app:
        async def failed() -> bool:
            [state] = [m for m in await mailboxes.list_mailboxes(app.ctx) if m["name"] == "support"]
            return "CERTIFICATE_VERIFY_FAILED" in str(state["last_error"])
        await until(failed)
        assert await case_count(app) == 0
    assert tls_server.count(user, "INBOX") == 1


@pytest.mark.skipif(BACKEND != "postgresql", reason="needs PostgreSQL: the mailbox lock is a "
                    "PostgreSQL advisory lock (runs in the PostgreSQL pass of scripts/test.sh)")
@pytest.mark.reliability(66)
async def test_two_daemons_on_one_mailbox_one_polls_the_other_takes_over(
        imap_app: Callable[[], App], make_app: Callable[..., App], server: dovecot.Dovecot,
        user: str) -> None:
    def advisory_locks(session: Session) -> int:
        # The mailbox locks (one bigint key: objsubid 1), not the daemons' liveness locks (two keys).
        return int(session.scalar(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")) or 0)

    first = running(imap_app())
    app_a = await first.__aenter__()
    server.append(user, [raw("One")])
    await until(lambda: server.count(user, "INBOX") == 0)
    # B would look for new mail only every 30 s: it must take over on the lock, not on its timer.
    slow = make_app(imap={"support": (server.port, user)}, imap_extra='  poll_interval = "30s"\n')
    async with running(slow) as app_b:
        await asyncio.sleep(1.5)                       # B has tried and is standing by
        server.append(user, [raw("Two")])
        await until(lambda: server.count(user, "INBOX") == 0)
        assert await app_b.ctx.db.run(advisory_locks) == 1
        await first.__aexit__(None, None, None)         # A stops: B takes the mailbox over
        stopped = time.monotonic()
        server.append(user, [raw("Three")])
        await until(lambda: server.count(user, "INBOX") == 0, seconds=15)
        took = time.monotonic() - stopped
        print(f"\nmailbox taken over and the next message made a case {took:.2f} s after the holder stopped")
        assert took < 5, took
        subjects = sorted(c["subject"] for c in await tickets.list_tickets(app_b.ctx, tickets.TicketFilter()))
        assert subjects == ["One", "Three", "Two"]
        assert await app_b.ctx.db.run(advisory_locks) == 1
    assert app_a is not app_b
    assert server.count(user, "mailgate.processed") == 3

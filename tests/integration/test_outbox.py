"""The outbox against a scripted relay: retry on 4xx, give up on 5xx, survive a lost 250."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from mailgate.app import App
from mailgate.intake.inbox import Inbox, RawMessage
from mailgate.outbound.sender import MaildirTransport
from mailgate.services import outgoing, process
from mailgate.services.delivery import WORKERS, Drain, deliver
from mailgate.services.ingest import Ingest
from mailgate.storage import outbox
from mailgate.storage.models import Outbox
from mailgate.wakeups import LocalWakeup
from tests.conftest import Casework, running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.mailer import mail, send
from tests.processes import free_port


async def _rows(app: App) -> list[dict[str, object]]:
    return await outgoing.outbox_rows(app.ctx, None)


@pytest.mark.reliability(58)
async def test_451_then_250_is_retried_and_sent_once(app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    sink.rcpt_replies = ["451 4.3.0 try later"]
    await send(app, mail())
    await settle(app)
    [row] = await _rows(app)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert "451" in str(row["last_error"])
    assert sink.received == []

    clock.advance(minutes=2)
    await settle(app)
    [row] = await _rows(app)
    assert (row["state"], row["attempts"]) == ("sent", 2)
    assert len(sink.received) == 1
    assert sink.received[0].message["Message-ID"].strip("<>") == row["message_id"]


@pytest.mark.reliability(59)
async def test_550_fails_permanently_without_retry(app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    sink.rcpt_replies = ["550 5.1.1 no such user"]
    await send(app, mail())
    await settle(app)
    clock.advance(hours=2)
    await settle(app)
    [row] = await _rows(app)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert "550" in str(row["last_error"])
    assert sink.received == []


@pytest.mark.reliability(60)
async def test_lost_250_resends_with_the_same_message_id(app: App, sink: SmtpSink,
                                                         clock: FrozenClock) -> None:
    sink.drop_next_data = 1
    await send(app, mail())
    await settle(app)
    [row] = await _rows(app)
    assert row["state"] == "pending"
    clock.advance(minutes=2)
    await settle(app)
    [row] = await _rows(app)
    assert row["state"] == "sent"
    # At-least-once: the relay holds two copies with one Message-ID, which the recipient dedupes.
    ids = {r.message["Message-ID"] for r in sink.received}
    assert len(sink.received) == 2 and len(ids) == 1


async def test_relay_down_keeps_mail_pending_then_sends_all(make_app: Callable[..., App], sink: SmtpSink,
                                                           clock: FrozenClock) -> None:
    real_port = sink.port
    sink.port = 1  # nothing listens there: connection refused
    app = make_app()
    sink.port = real_port
    async with running(app):
        for i in range(3):
            await send(app, mail(subject=f"Question {i}", sender=f"c{i}@customer.example"),
                       mail_from=f"c{i}@customer.example")
        await settle(app)
        rows = await _rows(app)
        assert [r["state"] for r in rows] == ["pending"] * 3
        assert all("Connect" in str(r["last_error"]) or "refused" in str(r["last_error"]).lower()
                   for r in rows)
    # Relay fixed (config now points at the sink): every queued mail goes out exactly once.
    fixed = make_app()
    async with running(fixed):
        clock.advance(minutes=5)
        await settle(fixed)
        assert [r["state"] for r in await _rows(fixed)] == ["sent"] * 3
    assert sorted(r.rcpt_tos[0] for r in sink.received) == [
        "c0@customer.example", "c1@customer.example", "c2@customer.example"]


@pytest.mark.reliability(42)
async def test_crlf_in_customer_subject_never_reaches_outbound_headers(app: App, sink: SmtpSink) -> None:
    raw = (b"From: carol@customer.example\r\nTo: support@example.com\r\n"
           b"Subject: A =?UTF-8?Q?=0D=0A?=Bcc: x@evil.example\r\n"
           b"Message-ID: <inj@customer.example>\r\n\r\nhi\r\n")
    await send(app, raw)
    await settle(app)
    [received] = sink.received
    assert received.rcpt_tos == ["carol@customer.example"]
    assert received.message["Bcc"] is None
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))
    assert all(len(line) <= 998 for line in received.data.split(b"\r\n"))


async def test_relay_down_for_minutes_alerts_the_admin_once(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mailgate.alert")
    real_port = sink.port
    sink.port = 1  # nothing listens there: connection refused
    app = make_app()
    sink.port = real_port
    async with running(app):
        await send(app, mail())
        await settle(app)
        for _ in range(5):                   # five more retries within the hour: one alert
            clock.advance(minutes=10)
            await settle(app)
        [row] = await _rows(app)
        assert (row["state"], row["attempts"]) == ("pending", 6)
    alerts = [r.getMessage() for r in caplog.records if r.name == "mailgate.alert"]
    assert len(alerts) == 1 and alerts[0].startswith("alert kind=relay_unavailable key=smtp_out")


@pytest.mark.reliability(57)
async def test_relay_down_for_an_hour_backs_off_to_the_cap_alerts_hourly_and_sends_each_once(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="mailgate.alert")
    port = free_port()
    sink.port = port                       # the relay's address; nothing listens there yet

    def alerts() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "mailgate.alert"]

    async with running(make_app()) as app:
        for i in range(3):
            await send(app, mail(subject=f"Question {i}", sender=f"c{i}@customer.example"),
                       mail_from=f"c{i}@customer.example")
        await settle(app)
        delays: dict[object, list[float]] = {}
        seen: dict[object, int] = {}
        alerted_at: list[int] = []
        minutes = 0
        while minutes < 120 and (not seen or min(seen.values()) < 8):   # down for over an hour
            for row in await _rows(app):
                assert row["state"] == "pending"                    # never given up, never lost
                if seen.get(row["id"]) != row["attempts"]:
                    seen[row["id"]] = int(str(row["attempts"]))
                    due = datetime.fromisoformat(str(row["next_attempt_at"])) - clock.now()
                    delays.setdefault(row["id"], []).append(due.total_seconds())
            alerted_at += [minutes] * (len(alerts()) - len(alerted_at))
            clock.advance(minutes=1)
            minutes += 1
            await settle(app)
        assert minutes >= 60 and sink.received == []
        for row_delays in delays.values():    # 30 s doubling to the 1 h cap, each ±10 % jitter
            for n, delay in enumerate(row_delays, start=1):
                nominal = min(30 * 2 ** (n - 1), 3600)
                assert 0.9 * nominal <= delay <= 1.1 * nominal, (n, delay)
            assert len(row_delays) >= 8                               # the cap was reached
        flat = [d for row_delays in delays.values() for d in row_delays]
        assert len({round(d, 3) for d in flat}) > len(flat) // 2       # jittered, not in lockstep
        # The admin hears after a few minutes of failures, then at most once an hour.
        assert alerted_at and 2 <= alerted_at[0] <= 6, alerted_at
        assert all(b - a >= 60 for a, b in itertools.pairwise(alerted_at)), alerted_at
        assert all(a.startswith("alert kind=relay_unavailable key=smtp_out") for a in alerts())

        # The relay comes back: every mail goes out once at its next attempt, nothing twice.
        relay = await asyncio.get_running_loop().create_server(lambda: SMTP(sink), "127.0.0.1", port)
        async with relay:
            clock.advance(hours=1, minutes=10)
            await settle(app)
            assert [r["state"] for r in await _rows(app)] == ["sent"] * 3
            relay.close()
    assert sorted(r.rcpt_tos[0] for r in sink.received) == [
        "c0@customer.example", "c1@customer.example", "c2@customer.example"]
    assert len({r.message["Message-ID"] for r in sink.received}) == 3


async def test_a_lease_whose_claim_answer_was_lost_is_taken_back_by_its_own_sender(
        casework: Casework) -> None:
    """A claim committed whose answer never came (a backend cut at COMMIT): the rows carry this
    sender's number but are not in its hand; its next claim takes them back, another sender's
    claim does not (the lease is live), and rows in hand are never claimed twice."""
    def queue(s: Session, now: datetime) -> list[int]:
        return [outbox.enqueue(s, ticket_id=None, mail_from="support@example.com",
                               rcpt_to=[f"c{i}@x.example"], subject=f"n{i}",
                               message_id=f"<lost-{i}@example.com>", raw=b"Subject: n\r\n\r\nx\r\n", now=now)
                for i in range(3)]

    ids = await casework.run(queue)
    postgresql = not casework.ctx.db.is_sqlite
    alive = create_engine(casework.ctx.db.url, poolclass=NullPool).connect() if postgresql else None
    if alive is not None:                             # sender 7 is alive while this connection is
        alive.execute(text("SELECT pg_advisory_lock(:c, 7)"), {"c": outbox.LIVENESS_CLASS})
    try:
        first = await casework.run(lambda s, now: outbox.claim_due(s, now, 10, owner=7))
        assert sorted(r.id for r in first) == ids                          # answer "lost": nothing in hand
        assert await casework.run(lambda s, now: outbox.claim_due(s, now, 10, owner=8)) == []
        again = await casework.run(lambda s, now: outbox.claim_due(s, now, 10, owner=7, held=ids[:1]))
        assert sorted(r.id for r in again) == ids[1:]                      # never the row in hand
    finally:
        if alive is not None:
            alive.close()
    if postgresql:                                     # sender 7 died: its rows are free to sender 8 at once
        taken = await casework.run(lambda s, now: outbox.claim_due(s, now, 10, owner=8))
        assert sorted(r.id for r in taken) == ids


def _count_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The rows each claim of the outbox takes, in order, from now on."""
    claims: list[int] = []
    claim_due = outbox.claim_due

    def counted(session: Session, now: datetime, limit: int, owner: int | None = None,
                held: Sequence[int] = ()) -> list[Outbox]:
        rows = claim_due(session, now, limit, owner, held)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "claim_due", counted)
    return claims


async def test_workers_woken_together_claim_once_and_a_later_wake_claims_again(
        casework: Casework, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every worker wakes on each notice; only the first claims, and the one that sent the mail
    does not claim again in the same pass (they did: five write transactions for one mail)."""
    ctx = casework.ctx
    ingest = Ingest(ctx, Inbox(ctx.db, ctx.clock))
    claims = _count_claims(monkeypatch)
    drain, transport = Drain(ctx), MaildirTransport(tmp_path / "sent")

    async def customer_writes(subject: str) -> None:
        await ingest.accept(RawMessage(data=mail(subject=subject).as_bytes(), source="smtp",
                                       mail_from="carol@customer.example",
                                       rcpt_to=("support@example.com",), mailbox="support"))

    await customer_writes("Printer broken")                 # a new case: its auto-response queued
    notice = time.monotonic()                               # all the workers woken by one notice
    assert sum(await asyncio.gather(*(deliver(drain, transport, notice) for _ in range(WORKERS)))) == 1
    assert claims == [1]

    await customer_writes("Scanner broken too")             # queued after that claim: a new wake
    assert await deliver(drain, transport) == 1
    assert claims == [1, 1]
    sent = sorted((tmp_path / "sent" / "new").iterdir())
    subjects = [message_from_bytes(path.read_bytes())["Subject"] for path in sent]
    assert len(subjects) == 2 and all(s.startswith("[MG#") for s in subjects)
    assert {s.split("] ", 1)[1] for s in subjects} == {"Printer broken", "Scanner broken too"}


async def test_mail_a_message_causes_is_handed_to_the_senders_without_a_claim(
        casework: Casework, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A daemon's unit of work queues the auto-response leased to its own senders and hands them
    the row and its bytes after the commit: sent with no claim transaction. A process whose
    senders do not run (the CLI) queues it for a claim, as before."""
    ctx = casework.ctx
    drain, transport, ready = Drain(ctx), MaildirTransport(tmp_path / "sent"), LocalWakeup()
    ingest = Ingest(ctx, Inbox(ctx.db, ctx.clock), ready, handoff=drain)
    claims = _count_claims(monkeypatch)

    async def leases() -> list[tuple[int | None, bool]]:
        rows = await ctx.db.run(lambda s: s.execute(text(
            "SELECT lease_owner, lease_until IS NOT NULL FROM outbox ORDER BY id")).all())
        return [(owner, bool(leased)) for owner, leased in rows]

    drain.running = True
    ready.notify()                                           # the daemon's start: one pass, one claim
    assert await ready.wait(0) and await deliver(drain, transport, ready.notified_at) == 0
    assert claims == [0]
    started = ready.notified_at
    await ingest.accept(RawMessage(data=mail(subject="Printer broken").as_bytes(), source="smtp",
                                   mail_from="carol@customer.example", rcpt_to=("support@example.com",),
                                   mailbox="support"))
    assert await leases() == [(drain.owner(), True)]        # leased to this drain as it was queued
    assert [row.id for row in drain.rows] == [1] and drain.held == {1}
    assert await ready.wait(0) and ready.notified_at == started     # woken, but no new notice
    assert await deliver(drain, transport, ready.notified_at) == 1
    assert claims == [0]                                     # sent without a claim
    [state] = await ctx.db.run(lambda s: s.scalars(text("SELECT state FROM outbox")).all())
    assert state == "sent" and not drain.held

    drain.running = False                                    # no senders here: a claim finds it
    await ingest.accept(RawMessage(data=mail(subject="Scanner broken").as_bytes(), source="smtp",
                                   mail_from="dave@customer.example", rcpt_to=("support@example.com",),
                                   mailbox="support"))
    assert (await leases())[1] == (None, False) and not drain.rows
    assert await ready.wait(0) and ready.notified_at > started      # a notice: there is mail to claim
    assert await deliver(drain, transport, ready.notified_at) == 1
    assert claims == [0, 1]
    sent = sorted((tmp_path / "sent" / "new").iterdir())
    subjects = [message_from_bytes(path.read_bytes())["Subject"] for path in sent]
    assert sorted(s.split("] ", 1)[1] for s in subjects) == ["Printer broken", "Scanner broken"]


async def test_mail_of_a_unit_of_work_that_rolled_back_is_never_handed_over(
        casework: Casework, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-over comes only after the commit: a unit of work that fails after queueing its
    auto-response hands nothing (the message is stored alone for the processor instead)."""
    ctx = casework.ctx
    drain = Drain(ctx)
    drain.running = True
    ingest = Ingest(ctx, Inbox(ctx.db, ctx.clock), handoff=drain)
    monkeypatch.setattr(process.inbound, "finish", lambda *args, **kwargs: False)   # lost the race
    receipt = await ingest.accept(RawMessage(data=mail().as_bytes(), source="smtp",
                                             mail_from="carol@customer.example",
                                             rcpt_to=("support@example.com",), mailbox="support"))
    assert receipt.created and not drain.rows and not drain.held
    queued = await ctx.db.run(lambda s: s.scalar(text("SELECT count(*) FROM outbox")))
    assert queued == 0

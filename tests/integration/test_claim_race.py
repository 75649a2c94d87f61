"""Races between mailgate processes sharing one PostgreSQL database: two operators #claim the same
case at once (exactly one wins, gets one forward, the other is told who has it); the same draft is
approved from two processes at once (sent once); two timer sweeps run at once (each deadline acted
on once)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import subprocess
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailgate.app import App
from mailgate.intake.inbox import RawMessage
from mailgate.services import approvals, outgoing, staff, timers
from mailgate.storage import outbox
from mailgate.storage.models import Staff, Ticket, TicketEvent
from tests.conftest import BACKEND, SECRET, write_config
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import body_of, client_reply, inbox
from tests.mailer import mail
from tests.processes import MAILGATE, Daemon, clean_env

pytestmark = pytest.mark.skipif(BACKEND != "postgresql",
                                reason="needs PostgreSQL: two daemons share one database "
                                       "(runs in the PostgreSQL pass of scripts/test.sh)")
ROUNDS = 6


async def _wait(predicate: Callable[[], bool], seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.reliability(65)
async def test_concurrent_claims_from_two_processes_have_one_winner(
        tmp_path: Path, database_url: str, sink: SmtpSink) -> None:
    config = write_config(tmp_path, database_url, sink.port, support_pool='mode = "pull"')
    text = (tmp_path / "mailgate.toml").read_text()
    admin = App.build(config)
    for address, name in (("sam@example.com", "Sam"), ("sue@example.com", "Sue")):
        await staff.add_user(admin.ctx, address, staff.StaffEdit(name=name, pools=("support",)))
    a, b = Daemon(tmp_path / "a", text, SECRET), Daemon(tmp_path / "b", text, SECRET)
    try:
        await asyncio.gather(a.ready(), b.ready())
        for n in range(1, ROUNDS + 1):
            await a.send(mail(subject=f"Case {n}").as_bytes(), "carol@customer.example",
                         "support@example.com")
            subject = f"[MG#{n}] Case {n}"

            def announced(who: str, subject: str = subject) -> list[EmailMessage]:
                return [m for m in inbox(sink, who) if m["Subject"] == subject]

            await _wait(lambda: len(announced("sam@example.com")) == len(announced("sue@example.com")) == 1)
            [to_sam], [to_sue] = announced("sam@example.com"), announced("sue@example.com")
            claims = [(a, client_reply(to_sam, "Sam <sam@example.com>", "#claim"), "sam@example.com"),
                      (b, client_reply(to_sue, "Sue <sue@example.com>", "#claim"), "sue@example.com")]
            await asyncio.gather(*(d.send(m.as_bytes(), who, m["To"].addresses[0].addr_spec)
                                   for d, m, who in claims))

            def decided(n: int = n) -> bool:
                claimed = [m for m in sink.received if f"[MG#{n}]" in m.message["Subject"]
                           and "You claimed this case" in body_of(m.message)]
                refused = [m for m in sink.received if f"[MG#{n}]" in m.message["Subject"]
                           and "Not done" in m.message["Subject"]]
                return len(claimed) + len(refused) >= 2

            await _wait(decided)
            await asyncio.sleep(0.3)      # anything extra would arrive now
            about = [m.message for m in sink.received if f"[MG#{n}]" in m.message["Subject"]]
            claimed = [m for m in about if "You claimed this case" in body_of(m)]
            refused = [m for m in about if "Not done" in m["Subject"]]
            assert len(claimed) == 1 and len(refused) == 1, [m["Subject"] for m in about]
            winner = str(claimed[0]["To"])
            loser = str(refused[0]["To"])
            assert {winner, loser} == {"sam@example.com", "sue@example.com"}
            assert "already taken by" in body_of(refused[0])

            def owner(session: Session, n: int = n) -> str | None:
                return session.scalar(select(Staff.email).join(Ticket, Ticket.owner_id == Staff.id)
                                      .where(Ticket.id == n))

            assert await admin.ctx.db.run(owner) == winner
    finally:
        a.stop()
        b.stop()
        await admin.ctx.db.dispose()


@pytest.mark.reliability(68)
async def test_the_same_draft_approved_from_two_processes_at_once_is_sent_once(
        tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path, database_url, None)
    (tmp_path / ".env").write_text(f"MAILGATE_SECRET={SECRET}\n")
    admin = App.build(config)
    try:
        await staff.add_user(admin.ctx, "sue@example.com", staff.StaffEdit(name="Sue", roles=("supervisor",)))
        await staff.add_user(admin.ctx, "tim@example.com", staff.StaffEdit(
            name="Tim", pools=("support",), trainee=True, supervisor="sue@example.com"))
        await admin.ingest.accept(RawMessage(data=mail().as_bytes(), source="cli",
                                             rcpt_to=("support@example.com",), mailbox="support"))
        rows = await outgoing.outbox_rows(admin.ctx, None)
        [forward_row] = [r for r in rows if r["to"] == ["tim@example.com"]]
        raw = await admin.ctx.db.run(lambda s: outbox.raw_of(s, forward_row["id"]))
        forward = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(forward, EmailMessage)
        reply = client_reply(forward, "Tim <tim@example.com>", "Please restart the printer.")
        to = reply["To"].addresses[0].addr_spec
        await admin.ingest.accept(RawMessage(data=reply.as_bytes(), source="cli", rcpt_to=(to,),
                                             mailbox="support"))
        [draft] = await approvals.list_drafts(admin.ctx)

        command = [*MAILGATE, "--config", str(tmp_path / "mailgate.toml"), "approval", "approve",
                   str(draft["id"])]
        procs = [await asyncio.create_subprocess_exec(*command, env=clean_env(), stdout=subprocess.PIPE,
                                                      stderr=subprocess.PIPE) for _ in range(2)]
        outputs = await asyncio.gather(*(p.communicate() for p in procs))
        results = [(p.returncode, err.decode()) for p, (_, err) in zip(procs, outputs, strict=True)]
        assert sorted(code for code, _ in results) == [0, 1], results
        assert any("already approved" in err for _, err in results)
        rows = await outgoing.outbox_rows(admin.ctx, None)
        to_carol = [r for r in rows if r["to"] == ["carol@customer.example"]]
        assert len([r for r in to_carol if r["subject"].endswith("[MG#1] Printer broken")]) == 2  # and reply
        [decided] = await approvals.list_drafts(admin.ctx, all_states=True)
        assert decided["state"] == "approved"
    finally:
        await admin.ctx.db.dispose()


@pytest.mark.reliability(69)
async def test_two_processes_sweeping_at_once_act_on_each_deadline_once(
        tmp_path: Path, database_url: str, clock: FrozenClock) -> None:
    config = write_config(tmp_path, database_url, None)
    first, second = App.build(config, clock=clock), App.build(config, clock=clock)
    try:
        for n in range(12):
            await first.ingest.accept(RawMessage(data=mail(subject=f"Case {n}").as_bytes(), source="cli",
                                                 rcpt_to=("support@example.com",), mailbox="support"))
        clock.advance(days=31)
        reports = await asyncio.gather(timers.sweep(first.ctx), timers.sweep(second.ctx))
        assert sum(r.expired for r in reports) == 12           # each case once, whoever took it

        def expiries(session: Session) -> list[int]:
            return list(session.scalars(select(TicketEvent.ticket_id).where(TicketEvent.kind == "expired")
                                        .order_by(TicketEvent.ticket_id)))

        assert await first.ctx.db.run(expiries) == list(range(1, 13))
        assert sum(r.expired for r in await asyncio.gather(timers.sweep(first.ctx),
                                                            timers.sweep(second.ctx))) == 0
    finally:
        await first.ctx.db.dispose()
        await second.ctx.db.dispose()


@pytest.mark.reliability(67)
async def test_a_sender_killed_mid_send_hands_its_row_over_at_once(
        tmp_path: Path, database_url: str, sink: SmtpSink) -> None:
    config = write_config(tmp_path, database_url, sink.port)
    text = (tmp_path / "mailgate.toml").read_text()
    admin = App.build(config)
    sink.slow["carol@customer.example"] = 3.0     # the relay is slow: a is mid-send when b starts
    a = Daemon(tmp_path / "a", text, SECRET, fault="after_relay_250_before_mark_sent")
    b: Daemon | None = None
    try:
        await a.ready()
        await a.send(mail().as_bytes(), "carol@customer.example", "support@example.com")
        b = Daemon(tmp_path / "b", text, SECRET)
        await b.ready()
        await _wait(lambda: a.proc.poll() is not None)     # the relay said 250; a died before marking
        assert a.proc.returncode == 137 and len(sink.received) == 1
        died = time.monotonic()
        del sink.slow["carol@customer.example"]
        await _wait(lambda: len(sink.received) == 2, seconds=60)
        handed_over = time.monotonic() - died
        [row] = await outgoing.outbox_rows(admin.ctx, None)
        assert (row["state"], row["attempts"]) == ("sent", 1)              # marked once, by b
        assert len({r.message["Message-ID"] for r in sink.received}) == 1  # the copy dedupes
        # The server dropped a's liveness lock with its connections: b need not wait for the lease.
        assert handed_over < outbox.LEASE.total_seconds() / 3, handed_over
        print(f"\nrow handed over {handed_over:.1f} s after the sender died (lease "
              f"{outbox.LEASE.total_seconds():.0f} s)")
        await asyncio.sleep(outbox.LEASE.total_seconds() / 3 + 1)          # and never sent again
        assert len(sink.received) == 2
    finally:
        if a.proc.poll() is None:
            a.stop()
        if b is not None:
            b.stop()
        await admin.ctx.db.dispose()

"""Group commit: messages received at once share one transaction, each acknowledged after it.

``GroupCommit`` (storage/db.py) runs the units of work that arrive while another transaction is
in flight together, each in a savepoint of its own; the receivers' fast path (``Ingest``) goes
through it, so several SMTP sessions at once cost fewer commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.utils import make_msgid

import aiosmtplib
import psycopg
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from mailgate.app import App
from mailgate.services import blocklist
from mailgate.storage.db import GroupCommit
from mailgate.storage.models import Block, Ticket
from tests.conftest import Casework, settle
from tests.fakes import SmtpSink
from tests.mailer import html_of, mail, text_of


async def test_work_arriving_together_commits_together_and_a_failure_stays_its_own(
        casework: Casework) -> None:
    db, now = casework.ctx.db, casework.ctx.clock.now()
    commits = GroupCommit(db, slots=1)          # one transaction in flight at a time

    def block(value: str, fails: bool = False) -> Callable[[Session], str]:
        def work(session: Session) -> str:
            session.connection().execute(insert(Block), {"value": value, "kind": "address", "reason": "",
                                                          "created_at": now, "hits": 0})
            if fails:                          # after its insert: the savepoint must undo it
                raise RuntimeError(f"{value} failed")
            return value
        return work

    values = [f"sender{i}@spam.example" for i in range(10)]
    results = await asyncio.gather(*(commits.run(block(v, fails=i == 4)) for i, v in enumerate(values)),
                                   return_exceptions=True)

    assert isinstance(results[4], RuntimeError) and str(results[4]) == "sender4@spam.example failed"
    kept = [v for i, v in enumerate(values) if i != 4]
    assert [r for i, r in enumerate(results) if i != 4] == kept
    stored = await db.run(lambda s: sorted(s.scalars(select(Block.value))))
    assert stored == sorted(kept)
    # The first ran alone; the nine that arrived meanwhile shared the next transaction.
    assert (commits.batches, commits.units) == (2, 10)


async def test_a_failed_transaction_fails_every_unit_of_work_in_it(casework: Casework) -> None:
    db, now = casework.ctx.db, casework.ctx.clock.now()
    commits = GroupCommit(db)
    row = {"value": "same@spam.example", "kind": "address", "reason": "", "created_at": now, "hits": 0}

    def twice(session: Session) -> None:       # a duplicate key: the database refuses it
        session.connection().execute(insert(Block), [row, row])

    results = await asyncio.gather(commits.run(twice), commits.run(twice), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    assert await db.run(lambda s: s.scalar(select(func.count()).select_from(Block))) == 0


@asynccontextmanager
async def _writes_held(url: str) -> AsyncIterator[None]:
    """Hold off every write to ``inbound`` from another connection until the block ends."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
        pg.execute("LOCK TABLE inbound IN SHARE MODE")
        yield
        pg.rollback()


def _arrived(app: App) -> int:
    """How many units of work are waiting, or in a transaction that has not finished."""
    return len(app.ingest.commits.waiting) + app.ingest.commits.running


async def test_smtp_sessions_at_once_share_commits_and_each_gets_its_case(
        app: App, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    customers = [f"customer{i}@example.org" for i in range(8)]
    ids = [make_msgid(domain="example.org") for _ in customers]

    async def deliver(sender: str, message_id: str) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port, start_tls=False)
        async with client:
            await client.sendmail(sender, ["support@example.com"], mail(
                sender=sender, subject=f"Order from {sender}", message_id=message_id).as_bytes())

    # A first message, so that the sessions' MAIL FROM finds the blocklist read (kept here for
    # the whole test, however slow the machine) and meets no database: only their DATA waits
    # behind the held writes.
    monkeypatch.setattr(blocklist, "FRESH_SECONDS", 3600.0)
    await deliver("first@example.org", make_msgid(domain="example.org"))
    await settle(app)
    async with _writes_held(app.ctx.config.database_url):
        sending = asyncio.gather(*(deliver(c, m) for c, m in zip(customers, ids, strict=True)))
        for _ in range(200):         # until all have arrived: held up, or waiting behind it
            if _arrived(app) == len(customers):
                break
            await asyncio.sleep(0.05)
        assert _arrived(app) == len(customers)
    await asyncio.wait_for(sending, 30)      # every session got its 250 (or sendmail raised)
    await settle(app)

    commits = app.ingest.commits
    if app.ctx.db.is_sqlite:          # the first; the one held up; the seven that waited
        assert (commits.batches, commits.units) == (3, 9)
    else:                             # PostgreSQL groups its commits itself: each alone
        assert (commits.batches, commits.units) == (9, 9)
    cases = await app.ctx.db.run(lambda s: s.execute(select(Ticket.id, Ticket.requester)).all())
    assert sorted(r for _, r in cases) == sorted([*customers, "first@example.org"])
    # Each customer got one auto-response, about their own case, threaded on their message.
    answers = {r.rcpt_tos[0]: r.message for r in sink.received}
    assert len(sink.received) == 9 and sorted(answers) == sorted([*customers, "first@example.org"])
    by_requester = {requester: case_id for case_id, requester in cases}
    for customer, message_id in zip(customers, ids, strict=True):
        answer, tag = answers[customer], f"MG#{by_requester[customer]}"
        assert f"[{tag}]" in str(answer["Subject"])
        assert f"opened case {tag} for it" in " ".join(text_of(answer).split())
        assert tag in html_of(answer)
        assert f"Order from {customer}" in str(answer["Subject"])
        assert answer["In-Reply-To"] == message_id
        assert answer["Auto-Submitted"] == "auto-replied"
        assert answer["From"].addresses[0].addr_spec == "support@example.com"

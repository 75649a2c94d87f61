"""Generated-data figures for ``scripts/bench.py``: ``ticket list --search`` over many cases, and
``report --by operator`` over many cases and messages (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench import PG_ADMIN, Databases, Target, free_port, write_config
from sqlalchemy import create_engine
from sqlalchemy.orm import Session as OrmSession

T = TypeVar("T")

#: A vocabulary of 5,000 words: each appears in about 2 % of the generated cases.
WORDS = [f"{stem}{n}" for stem in ("printer", "invoice", "parcel", "router", "licence") for n in range(1000)]


def search_figures(n: int, url: str) -> dict[str, float]:
    """``ticket list --search`` on ``n`` cases of two messages each: median ms per query kind,
    next to a plain ``ILIKE '%word%'`` scan of every body (what the full-text index avoids)."""
    import random
    import statistics
    from datetime import UTC, datetime

    from sqlalchemy import func, insert, select

    from mailgate.storage import migrate, reads
    from mailgate.storage.models import MailMessage, Ticket

    migrate.upgrade(url)
    engine = create_engine(url)
    rng = random.Random(7)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as conn:
        for start in range(1, n + 1, 5000):
            ids = range(start, min(start + 5000, n + 1))
            conn.execute(insert(Ticket), [{
                "id": i, "type": "support", "subject": f"{rng.choice(WORDS)} question {i}", "status_id": 1,
                "priority": "normal", "pool": "support", "requester": f"customer{i}@example.org",
                "requester_name": "", "acked": False, "close_requested": False, "answers": {},
                "mailbox": "support", "site": "", "channel": "email", "fields": {},
                "created_at": now, "updated_at": now} for i in ids])
            conn.execute(insert(MailMessage), [{
                "ticket_id": i, "kind": "inbound", "disposition": "personal", "message_id": f"<{i}.{k}@b>",
                "from_addr": f"customer{i}@example.org", "to_addrs": [], "subject": "", "at": now,
                "author": "", "text": " ".join(rng.choice(WORDS) for _ in range(60))
                + (f" zebra{i}" if i % 1000 == 0 else "")} for i in ids for k in (1, 2)])

    def timed(work: object) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            with OrmSession(engine) as session:
                work(session)  # type: ignore[operator]
            runs.append((time.perf_counter() - started) * 1000)
        return statistics.median(runs)

    with OrmSession(engine) as session:
        common = len(reads.case_rows(session, reads.CaseFilter(search="router42")))
    result = {
        "rare": timed(lambda s: reads.case_rows(s, reads.CaseFilter(search="zebra5000"))),
        "common": timed(lambda s: reads.case_rows(s, reads.CaseFilter(search="router42"))),
        "common_n": common,
        "two": timed(lambda s: reads.case_rows(s, reads.CaseFilter(search="router42 parcel7"))),
        "requester": timed(lambda s: reads.case_rows(s, reads.CaseFilter(search="customer777@"))),
        "number": timed(lambda s: reads.case_rows(s, reads.CaseFilter(search=f"MG#{n // 2}"))),
        "scan": timed(lambda s: s.scalar(select(func.count()).where(MailMessage.text.ilike("%zebra5000%")))),
    }
    engine.dispose()
    return result


def report_seconds(n: int, url: str, folder: Path) -> float:
    """``report --by operator`` over 30 days of ``n`` cases with five messages each, a close for
    half of them and a consultation for one in ten: the median of three runs, in seconds."""
    import random
    import statistics
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert

    from mailgate.app import App
    from mailgate.config import load_config
    from mailgate.services import reports
    from mailgate.storage import migrate
    from mailgate.storage.models import CaseClose, Consultation, MailMessage, Staff, Ticket

    migrate.upgrade(url)
    config = write_config(folder, free_port(), free_port())
    config.write_text(config.read_text().replace(f"sqlite:///{folder}/mailgate.db", url))
    engine = create_engine(url)
    rng = random.Random(11)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(Staff), [{
            "id": i, "email": f"op{i}@example.com", "name": f"Op {i}", "roles": "operator", "active": True,
            "trainee": False, "receipts": True, "footer_text": "", "created_at": start}
            for i in range(1, 21)])
        for first in range(1, n + 1, 5000):
            ids = range(first, min(first + 5000, n + 1))
            made = {i: start + timedelta(seconds=rng.randrange(30 * 86400)) for i in ids}
            conn.execute(insert(Ticket), [{
                "id": i, "type": "support", "subject": f"Question {i}", "status_id": 1, "priority": "normal",
                "pool": "support", "owner_id": 1 + i % 20, "requester": f"c{i}@example.org",
                "requester_name": "",
                "acked": True, "close_requested": False, "answers": {}, "mailbox": "support", "site": "",
                "channel": "email", "fields": {}, "created_at": made[i], "updated_at": made[i]} for i in ids])
            conn.execute(insert(MailMessage), [{
                "ticket_id": i, "kind": "inbound" if k % 2 == 0 else "outbound",
                "disposition": "personal" if k % 2 == 0 else "reply", "message_id": f"<{i}.{k}@b>",
                "from_addr": "", "to_addrs": [], "subject": "", "text": "hello", "author": "",
                "at": made[i] + timedelta(hours=k)} for i in ids for k in range(5)])
            conn.execute(insert(CaseClose), [{
                "ticket_id": i, "at": made[i] + timedelta(days=rng.randrange(1, 8)),
                "owner": f"op{1 + i % 20}@example.com", "pool": "support", "on_time": rng.random() < 0.7,
                "consulted": i % 10 == 0} for i in ids if i % 2 == 0])
            conn.execute(insert(Consultation), [{
                "ticket_id": i, "department": "finance", "address": "finance@example.com", "question": "?",
                "amount": "10.00", "currency": "", "state": "answered", "asked_at": made[i],
                "due_at": made[i] + timedelta(days=2),
                "answered_at": made[i] + timedelta(days=rng.randrange(1, 4)),
                "answered_by": "f@example.com"} for i in ids if i % 10 == 0])
    engine.dispose()
    app = App.build(load_config(config))

    async def once() -> float:
        began = time.perf_counter()
        await reports.report(app.ctx, "2026-11-01", "2026-12-01", by="operator", tz="UTC")
        return time.perf_counter() - began

    async def runs() -> list[float]:
        try:
            return [await once() for _ in range(3)]
        finally:
            await app.ctx.db.dispose()

    return statistics.median(asyncio.run(runs()))


def on_both(figures: Callable[[str], T], folder: Path, tag: str) -> list[tuple[str, T]]:
    """``figures(url)`` on a SQLite file, then on a fresh PostgreSQL database (dropped after)
    when a server answers."""
    rows = [("SQLite", figures(f"sqlite:///{folder}/{tag}.db"))]
    if not Databases.postgresql_up():
        print(f"(PostgreSQL {tag} figures skipped: no server at {PG_ADMIN})")
        return rows
    dbs = Databases(folder)
    try:
        rows.append(("PostgreSQL", figures(dbs.fresh(Target("pg1", "PostgreSQL", 1), tag))))
    finally:
        dbs.close()
    return rows


def report_rows(n: int, folder: Path) -> list[tuple[str, float]]:
    return on_both(lambda url: report_seconds(n, url, folder), folder, "report")


def search_rows(n: int, folder: Path) -> list[tuple[str, dict[str, float]]]:
    return on_both(lambda url: search_figures(n, url), folder, "search")


def print_report(n: int, folder: Path) -> None:
    for name, seconds in report_rows(n, folder):
        print(f"report --by operator over 30 days, {n} cases, {5 * n} messages, {name}: {seconds:.2f} s")


def print_search(n: int, folder: Path) -> None:
    for name, f in search_rows(n, folder):
        print(f"ticket list --search, {n} cases, {name}: a word in one case {f['rare']:.1f} ms, "
              f"a word in {f['common_n']:.0f} cases {f['common']:.1f} ms, two such words "
              f"{f['two']:.1f} ms, requester {f['requester']:.1f} ms, MG#n {f['number']:.1f} ms "
              f"(an ILIKE scan of every body: {f['scan']:.1f} ms)")


#!/usr/bin/env python3
"""Benchmark: SMTP intake → committed cases, next to the stdlib parse + ORM floor of the same run.

Runs ``mailgate run`` as a subprocess on a temporary SQLite database, sends the 2,000-message
corpus of ../shared/bench/corpus.py over one reused SMTP connection (closed loop), and waits until
every message is a committed case (or quarantined) with its auto-response enqueued. Prints msg/s,
receive-to-commit latency (DATA received → commit, from the daemon's own log), client round trip,
and the daemon's peak RSS. A benchmark, not a test: it asserts nothing about speed.

    .venv/bin/python scripts/bench.py [-n 2000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import importlib.util
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import ForeignKey, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm import Session as OrmSession

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import dovecot  # noqa: E402  (the test suite's Dovecot harness, reused)

SHARED = Path(os.environ.get("MAILGATE_SHARED", ROOT.parent / "shared"))


def load_corpus(n: int) -> list[bytes]:
    spec = importlib.util.spec_from_file_location("corpus", SHARED / "bench" / "corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.load(n))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- the floor: stdlib parse (policy=default) + SQLAlchemy ORM commit, as in the baselines ----

def floor_parse(msgs: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in msgs:
        m = email.message_from_bytes(raw, policy=email.policy.default)
        for h in ("from", "to", "subject", "message-id", "in-reply-to", "references"):
            m.get(h)
        body = m.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        if body is not None:
            body.get_content()
        for att in m.iter_attachments():  # type: ignore[attr-defined]
            att.get_content()
    return len(msgs) / (time.perf_counter() - started)


class _Base(DeclarativeBase):
    pass


class _Ticket(_Base):
    __tablename__ = "ticket"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(500))


class _Message(_Base):
    __tablename__ = "message"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    body: Mapped[str] = mapped_column(Text)


def floor_orm(msgs: list[bytes], folder: Path) -> float:
    engine = create_engine(f"sqlite:///{folder}/floor.db")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    _Base.metadata.create_all(engine)
    started = time.perf_counter()
    for i, raw in enumerate(msgs):
        with OrmSession(engine) as session, session.begin():
            ticket = _Ticket(subject=f"subject {i}")
            session.add(ticket)
            session.flush()
            session.add(_Message(ticket_id=ticket.id, body=raw[:2000].decode("latin-1")))
    engine.dispose()
    return len(msgs) / (time.perf_counter() - started)


# --- mailgate -----------------------------------------------------------------------------------

class Sink:
    """The relay the daemon hands auto-responses to."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, port: int, sink_port: int) -> Path:
    (folder / ".env").write_text("MAILGATE_SECRET=bench-secret-0123456789abcdef\n")
    path = folder / "mailgate.toml"
    path.write_text(f"""
[gateway]
name = "Bench Support"
database = "sqlite:///{folder}/mailgate.db"
secret_env = "MAILGATE_SECRET"
templates = "{ROOT / 'templates'}"
autoresponse_daily_limit = 100000

[smtp_in]
listen = "127.0.0.1:{port}"

[smtp_out]
host = "127.0.0.1"
port = {sink_port}
starttls = false

[[mailbox]]
name = "support"
address = "support@example.com"
pool = "support"

[[pool]]
name = "support"
mode = "round_robin"
""")
    return path


def pending(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        left = conn.execute("select count(*) from inbound where state = 'pending'").fetchone()[0]
        cases = conn.execute("select count(*) from ticket").fetchone()[0]
        queued = conn.execute("select count(*) from outbox").fetchone()[0]
    return int(left), int(cases), int(queued)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_mailgate(msgs: list[bytes], folder: Path) -> dict[str, float]:
    sink = Sink()
    loop = asyncio.get_running_loop()
    relay = await loop.create_server(lambda: SMTP(sink, loop=loop), "127.0.0.1", 0)
    port = free_port()
    config = write_config(folder, port, relay.sockets[0].getsockname()[1])
    proc = spawn(config, folder / "daemon.log")
    try:
        await wait_port(port, proc)
        rtts: list[float] = []
        recipients = ["support@example.com"]
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await client.connect()
        started = time.perf_counter()
        for raw in msgs:
            sent = time.perf_counter()
            await client.sendmail("customer@bench.example", recipients, raw)
            rtts.append((time.perf_counter() - sent) * 1000)
        sent_all = time.perf_counter()
        await client.quit()
        state = await processed(folder / "mailgate.db")
        done = time.perf_counter()
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        relay.close()
    log = (folder / "daemon.log").read_text()
    latencies = [float(m) for m in re.findall(r"intake_stored .* ms=([\d.]+)", log)]
    return {
        "msgs": len(msgs), "send_s": sent_all - started, "total_s": done - started,
        "rate": len(msgs) / (done - started), "cases": state[1], "queued": state[2],
        "commit_p50": pct(latencies, 50), "commit_p99": pct(latencies, 99),
        "rtt_p50": pct(rtts, 50), "rtt_p99": pct(rtts, 99), "rss": rss, "stored": len(latencies),
    }


async def run_web(folder: Path, total: int = 1000, clients: int = 20) -> dict[str, float]:
    """Web form → committed case: ``clients`` concurrent browsers (each its own cookies), each
    opening the form and sending it until ``total`` submissions are done. The POST's answer comes
    after the commit, so its latency is submission-to-case."""
    import aiohttp

    sink = Sink()
    loop = asyncio.get_running_loop()
    relay = await loop.create_server(lambda: SMTP(sink, loop=loop), "127.0.0.1", 0)
    port, web_port = free_port(), free_port()
    config = write_config(folder, port, relay.sockets[0].getsockname()[1])
    config.write_text(config.read_text() + f"""
[web]
listen = "127.0.0.1:{web_port}"
public_url = "http://127.0.0.1:{web_port}"
rate_limit = "1000000/h"

[[web.form]]
name = "contact"
mailbox = "support"
""")
    proc = spawn(config, folder / "daemon.log")
    latencies: list[float] = []
    left = list(range(total))
    try:
        await wait_port(web_port, proc)
        base = f"http://127.0.0.1:{web_port}/form/contact"

        async def browser() -> None:
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                async with http.get(base) as page:
                    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
                assert token
                while left:
                    n = left.pop()
                    data = {"csrf_token": token[1], "name": f"Client {n}", "email": f"c{n}@bench.example",
                            "subject": f"Question {n}", "message": "Hello,\nplease call me back.",
                            "website": ""}
                    sent = time.perf_counter()
                    async with http.post(base, data=data) as done:
                        assert done.status == 200, done.status
                        await done.read()
                    latencies.append((time.perf_counter() - sent) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(browser() for _ in range(clients)))
        elapsed = time.perf_counter() - started
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 60)      # the relay sink lives in this loop: keep it going
        relay.close()
    return {"rate": total / elapsed, "p50": pct(latencies, 50), "p99": pct(latencies, 99), "rss": rss,
            "total": total, "clients": clients}


def spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    with log.open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "mailgate", "--config", str(config), "run"],
                                stderr=stderr, env=env)


async def processed(db: Path) -> tuple[int, int, int]:
    """Wait until no stored message is left unprocessed; return (left, cases, queued)."""
    for _ in range(60_000):
        if not (state := pending(db))[0]:
            return state
        await asyncio.sleep(0.01)
    raise SystemExit("mailgate did not finish processing")


async def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit("mailgate exited during start-up")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("mailgate did not start")


# --- IMAP ------------------------------------------------------------------------------------

def imap_config(folder: Path, imap_port: int, user: str) -> Path:
    config = write_config(folder, free_port(), free_port())
    text = config.read_text().replace("[smtp_out]\n", "").replace('starttls = false\n', "")
    text = re.sub(r'host = "127.0.0.1"\nport = \d+\n\n', "", text)
    text = text.replace('pool = "support"\n', 'pool = "support"\n'
                        f'  [mailbox.imap]\n  host = "127.0.0.1"\n  port = {imap_port}\n  tls = false\n'
                        f'  username = "{user}"\n  password_env = "MAILGATE_IMAP_PW"\n', 1)
    config.write_text(text)
    with (folder / ".env").open("a") as env:
        env.write(f"MAILGATE_IMAP_PW={dovecot.PASSWORD}\n")
    return config


def run_imap(msgs: list[bytes], folder: Path) -> dict[str, float]:
    """Append the corpus to a Dovecot INBOX, start mailgate, time it to the last committed case;
    then append one message at a time while it IDLEs and time each to its case."""
    server = dovecot.Dovecot()
    server.start()
    try:
        user = server.add_user("bench")
        server.append(user, msgs)
        config = imap_config(folder, server.port, user)
        db = folder / "mailgate.db"
        started = time.perf_counter()
        proc = spawn(config, folder / "daemon.log")
        try:
            state = processed_all(server, user, db)
            done = time.perf_counter()
            idle = [idle_latency(server, user, db, i) for i in range(50)]
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        server.stop()
    return {"rate": len(msgs) / (done - started), "cases": state[1], "rss": rss,
            "idle_p50": pct(idle, 50), "idle_p99": pct(idle, 99)}


def processed_all(server: dovecot.Dovecot, user: str, db: Path) -> tuple[int, int, int]:
    """Wait until the INBOX is empty (every message moved after its commit); return the state."""
    for _ in range(12_000):
        if db.exists() and server.count(user, "INBOX") == 0:
            with contextlib.suppress(sqlite3.OperationalError):
                return pending(db)
        time.sleep(0.05)
    raise SystemExit("mailgate did not finish")


def idle_latency(server: dovecot.Dovecot, user: str, db: Path, i: int) -> float:
    before = pending(db)[1]
    started = time.perf_counter()
    server.append(user, [f"From: idle{i}@bench.example\r\nSubject: idle {i}\r\n\r\nhi\r\n".encode()])
    while pending(db)[1] <= before:
        time.sleep(0.002)
    return (time.perf_counter() - started) * 1000


#: A vocabulary of 5,000 words: each appears in about 2 % of the generated cases.
WORDS = [f"{stem}{n}" for stem in ("printer", "invoice", "parcel", "router", "licence") for n in range(1000)]


def import_figures(msgs: list[bytes], n: int, folder: Path) -> dict[str, float]:
    """``mailgate import`` of an mbox of ``n`` messages (the corpus repeated, each copy with a
    Message-ID of its own): msg/s and the importing process's peak RSS."""
    import mailbox

    box_path = folder / "import.mbox"
    box = mailbox.mbox(box_path)
    for i in range(n):
        box.add(f"Message-ID: <bench-import-{i}@bench.example>\r\n".encode() + msgs[i % len(msgs)])
    box.flush()
    box.close()
    config = write_config(folder, free_port(), free_port())
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "mailgate", "--config", str(config), "import",
                             str(box_path), "--json"], cwd=folder, stdout=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:                   # this process's own peak (VmHWM), not its children's
        with contextlib.suppress(OSError, AssertionError):
            peak = max(peak, peak_rss_mb(proc.pid))
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    assert proc.stdout is not None and proc.returncode == 0, proc.returncode
    summary = json.loads(proc.stdout.read())
    return {"rate": n / elapsed, "rss": peak, "cases": summary["cases"], "stored": summary["stored"],
            "seconds": elapsed}


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


def report_rows(n: int, folder: Path) -> list[tuple[str, float]]:
    rows = [("SQLite", report_seconds(n, f"sqlite:///{folder}/report.db", folder))]
    admin = os.environ.get("MAILGATE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
    try:
        import psycopg
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP DATABASE IF EXISTS mailgate_bench_report")
            conn.execute("CREATE DATABASE mailgate_bench_report")
    except Exception as exc:
        print(f"(PostgreSQL report figures skipped: {type(exc).__name__})")
        return rows
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        rows.append(("PostgreSQL", report_seconds(n, f"{base}/mailgate_bench_report", folder)))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS mailgate_bench_report WITH (FORCE)")
    return rows


def search_rows(n: int, folder: Path) -> list[tuple[str, dict[str, float]]]:
    rows = [("SQLite", search_figures(n, f"sqlite:///{folder}/search.db"))]
    admin = os.environ.get("MAILGATE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
    try:
        import psycopg
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP DATABASE IF EXISTS mailgate_bench_search")
            conn.execute("CREATE DATABASE mailgate_bench_search")
    except Exception as exc:  # no server: SQLite only
        print(f"(PostgreSQL search figures skipped: {type(exc).__name__})")
        return rows
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        rows.append(("PostgreSQL", search_figures(n, f"{base}/mailgate_bench_search")))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS mailgate_bench_search WITH (FORCE)")
    return rows


def run_only(args: argparse.Namespace) -> bool:
    """One of the ``--…-only`` rows by itself; True if one was asked for."""
    only = {
        "report_only": lambda tmp: print_report(args.report or 100_000, tmp),
        "web_only": lambda tmp: print_web(args.web or 1000, tmp),
        "import_only": lambda tmp: print_import(load_corpus(2000), args.import_n or 20_000, tmp),
        "search_only": lambda tmp: print_search(args.search or 100_000, tmp),
    }
    for flag, run in only.items():
        if getattr(args, flag):
            with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
                run(Path(tmp))
            return True
    return False


def print_report(n: int, folder: Path) -> None:
    for name, seconds in report_rows(n, folder):
        print(f"report --by operator over 30 days, {n} cases, {5 * n} messages, {name}: {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--imap", action="store_true", help="also measure IMAP ingest (needs dovecot)")
    parser.add_argument("--search", type=int, default=0, metavar="N",
                        help="also time ticket list --search on N generated cases (SQLite, PostgreSQL)")
    parser.add_argument("--search-only", action="store_true", help="only the --search figures")
    parser.add_argument("--import", dest="import_n", type=int, default=0, metavar="N",
                        help="also time mailgate import of an mbox of N messages (SQLite)")
    parser.add_argument("--import-only", action="store_true", help="only the --import figures")
    parser.add_argument("--web", type=int, default=0, metavar="N",
                        help="also time N web form submissions by 20 concurrent clients (SQLite)")
    parser.add_argument("--web-only", action="store_true", help="only the --web figures")
    parser.add_argument("--report", type=int, default=0, metavar="N",
                        help="also time report --by operator on N cases, 5N messages")
    parser.add_argument("--report-only", action="store_true", help="only the --report figures")
    args = parser.parse_args()
    if run_only(args):
        return
    msgs = load_corpus(2000)[: args.n]
    folder = Path(tempfile.mkdtemp(prefix="mailgate-bench-"))
    try:
        parse_rate = floor_parse(msgs)
        orm_rate = floor_orm(msgs, folder)
        floor = 1 / (1 / parse_rate + 1 / orm_rate)
        r = asyncio.run(run_mailgate(msgs, folder))
        imap_folder = folder / "imap"
        imap_folder.mkdir()
        i = run_imap(msgs, imap_folder) if args.imap else None
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    mb = sum(map(len, msgs)) / 1e6
    print(f"corpus: {len(msgs)} messages, {mb:.2f} MB (../shared/bench/corpus.py)")
    print(f"floor  stdlib parse (policy=default)        {parse_rate:8.0f} msg/s")
    print(f"floor  SQLAlchemy ORM commit (ticket+msg)   {orm_rate:8.0f} msg/s")
    print(f"floor  parse + ORM                          {floor:8.0f} msg/s")
    print(f"mailgate SMTP intake -> committed case      {r['rate']:8.0f} msg/s "
          f"({r['rate'] / floor:.2f} of floor; {r['cases']:.0f} cases, {r['queued']:.0f} outbound queued)")
    print(f"mailgate receive->commit latency            p50 {r['commit_p50']:.2f} ms  "
          f"p99 {r['commit_p99']:.2f} ms  ({r['stored']:.0f} samples)")
    print(f"client round trip (aiosmtplib, reused conn) p50 {r['rtt_p50']:.2f} ms  p99 {r['rtt_p99']:.2f} ms")
    print(f"mailgate peak RSS                           {r['rss']:.1f} MB")
    if i is not None:
        print(f"mailgate IMAP ingest -> committed case      {i['rate']:8.0f} msg/s "
              f"({i['rate'] / floor:.2f} of floor; {i['cases']:.0f} cases), peak RSS {i['rss']:.1f} MB")
        print(f"IMAP append during IDLE -> case             p50 {i['idle_p50']:.0f} ms  "
              f"p99 {i['idle_p99']:.0f} ms  (50 samples)")
    if args.search:
        with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
            print_search(args.search, Path(tmp))
    if args.import_n:
        with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
            print_import(msgs, args.import_n, Path(tmp))
    if args.web:
        with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
            print_web(args.web, Path(tmp))
    if args.report:
        with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
            print_report(args.report, Path(tmp))


def print_web(n: int, folder: Path) -> None:
    f = asyncio.run(run_web(folder, n))
    print(f"web form -> committed case, {f['clients']:.0f} clients  {f['rate']:8.0f} submissions/s  "
          f"p50 {f['p50']:.1f} ms  p99 {f['p99']:.1f} ms  ({f['total']:.0f} submissions), "
          f"peak RSS {f['rss']:.1f} MB")


def print_import(msgs: list[bytes], n: int, folder: Path) -> None:
    f = import_figures(msgs, n, folder)
    print(f"mailgate import of an mbox, {n} messages   {f['rate']:8.0f} msg/s ({f['seconds']:.0f} s; "
          f"{f['stored']:.0f} stored, {f['cases']:.0f} cases), peak RSS {f['rss']:.1f} MB")


def print_search(n: int, folder: Path) -> None:
    for name, f in search_rows(n, folder):
        print(f"ticket list --search, {n} cases, {name}: a word in one case {f['rare']:.1f} ms, "
              f"a word in {f['common_n']:.0f} cases {f['common']:.1f} ms, two such words "
              f"{f['two']:.1f} ms, requester {f['requester']:.1f} ms, MG#n {f['number']:.1f} ms "
              f"(an ILIKE scan of every body: {f['scan']:.1f} ms)")


if __name__ == "__main__":
    main()
